// Error checks, scratch, indexers and the kernel table of the CUDA backend.
#include "CudaCommon.cuh"

#include <array>
#include <cstring>
#include <map>
#include <mutex>

namespace ds::rt::cuda {

void checkCuda(cudaError_t e, const char *expr) {
  if (e != cudaSuccess)
    fail(expr, ": CUDA error ", int(e), " (", cudaGetErrorName(e), ": ", cudaGetErrorString(e),
         ")");
}

void *scratch(KernelCall &c, size_t bytes) {
  DeviceContext &d = dev(c);
  if (bytes > d.scratchBytes)
    fail("needs ", bytes, " bytes of device scratch, the stream has ", d.scratchBytes,
         " (set DS_CUDA_SCRATCH_MB)");
  return d.scratch;
}

void *uploadDescriptors(KernelCall &c, const void *data, size_t bytes, size_t scratchBytes) {
  struct Pinned {
    void *host = nullptr;
    size_t bytes = 0;
  };
  static std::mutex mutex;
  static std::map<const void *, Pinned> cache;
  void *host;
  {
    std::lock_guard<std::mutex> lock(mutex);
    Pinned &e = cache[&c.ins];
    if (!e.host || e.bytes != bytes) {
      if (e.host)
        DS_CUDA(cudaFreeHost(e.host));
      DS_CUDA(cudaHostAlloc(&e.host, bytes, cudaHostAllocPortable));
      e.bytes = bytes;
    }
    if (std::memcmp(e.host, data, bytes) != 0)
      std::memcpy(e.host, data, bytes);
    host = e.host;
  }
  void *dev = scratch(c, std::max(bytes, scratchBytes));
  DS_CUDA(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, stream(c)));
  return dev;
}

std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

Indexer stridedIndexer(const std::vector<int64_t> &dims, const std::vector<int64_t> &strides) {
  // Drop unit dims, then merge a dim into the one before it when the operand walks both
  // contiguously (stride[d-1] == stride[d] * dims[d], which includes two broadcast dims):
  // the linear-index -> offset mapping is unchanged and each element needs fewer divisions.
  std::vector<int64_t> d, st;
  int64_t total = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    total *= dims[i] > 0 ? dims[i] : 1;
    if (dims[i] == 1)
      continue;
    if (!d.empty() && st.back() == strides[i] * dims[i]) {
      d.back() *= dims[i];
      st.back() = strides[i];
      continue;
    }
    d.push_back(dims[i] > 0 ? dims[i] : 1);
    st.push_back(strides[i]);
  }
  if (d.size() > size_t(kMaxDims))
    fail("rank ", d.size(), " (after merging dims) exceeds the CUDA backend's limit of ",
         kMaxDims, " dims");
  Indexer ix;
  ix.rank = int(d.size());
  ix.small = total < (int64_t(1) << 31);
  for (size_t i = 0; i < d.size(); ++i) {
    ix.dims[i] = d[i];
    ix.strides[i] = st[i];
  }
  return ix;
}

Indexer broadcastIndexer(const std::vector<int64_t> &in, const std::vector<int64_t> &out) {
  std::vector<int64_t> st(out.size(), 0);
  std::vector<int64_t> inSt = rowMajorStrides(in);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    st[lead + i] = in[i] == 1 ? 0 : inSt[i];
  return stridedIndexer(out, st);
}

namespace {
const std::array<RunFn, kKernelCount> &cudaKernels() {
  static const std::array<RunFn, kKernelCount> table = [] {
    std::array<RunFn, kKernelCount> t{};
    // Built like the CPU table (cpu/CpuKernels.cpp). A kernel marked Cuda whose cuda::<run>
    // is missing leaves an undefined symbol: the plugin fails to load (plugin-loads.test).
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  if constexpr ((catalogue_backends::Backends & kBackendCuda) != 0)                              \
    t[size_t(KernelId::Id)] = run;
#include "ds/runtime/KernelCatalogue.def"
    return t;
  }();
  return table;
}
} // namespace

RunFn findCudaKernel(KernelId id) { return cudaKernels()[size_t(id)]; }

RunFn findCudaKernel(const std::string &name) {
  const KernelInfo *k = findKernelInfo(name);
  return k ? findCudaKernel(k->id) : nullptr;
}

} // namespace ds::rt::cuda
