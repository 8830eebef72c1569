// Error checks, scratch, indexers and the kernel table of the CUDA backend.
#include "CudaCommon.cuh"

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
  if (dims.size() > size_t(kMaxDims))
    fail("rank ", dims.size(), " exceeds the CUDA backend's limit of ", kMaxDims, " dims");
  Indexer ix;
  ix.rank = int(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    ix.dims[i] = dims[i] > 0 ? dims[i] : 1;
    ix.strides[i] = strides[i];
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

RunFn findCudaKernel(const std::string &name) {
  static const KernelTable table = [] {
    KernelTable t;
    registerElementwise(t);
    registerNormalization(t);
    registerDataMovement(t);
    registerOptimizer(t);
    registerLinalg(t);
    registerCollectives(t);
    return t;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

} // namespace ds::rt::cuda
