// The collective kernels on the device communicator (NCCL or host-staged), with the
// piece-major packing the CPU's allGatherAxis/reduceScatterAxis do for axes other than the
// outermost non-unit one.
#include "CudaCommon.cuh"
#include "DeviceComm.h"

namespace ds::rt::cuda {
namespace {

int64_t prod(const std::vector<int64_t> &s, size_t b, size_t e) {
  int64_t n = 1;
  for (size_t i = b; i < e; ++i)
    n *= s[i];
  return n;
}

// Element-size-generic copies between [o][w][d*inner] (natural) and [w][o][d*inner]
// (piece-major) layouts; rowElems = d * inner.
template <typename E>
__global__ void pieceMajorKernel(const E *src, E *dst, int64_t outer, int64_t W,
                                 int64_t rowElems, bool toPieceMajor) {
  int64_t n = outer * W * rowElems;
  DS_GRID_STRIDE(i, n) {
    int64_t e = i % rowElems;
    int64_t t = i / rowElems;
    int64_t o = t % outer, w = t / outer; // i enumerates the piece-major layout
    int64_t natural = (o * W + w) * rowElems + e;
    if (toPieceMajor)
      dst[i] = src[natural];
    else
      dst[natural] = src[i];
  }
}

void pieceMajor(const void *src, void *dst, int64_t outer, int64_t W, int64_t rowElems,
                size_t es, bool toPM, cudaStream_t s) {
  int64_t n = outer * W * rowElems;
  if (n == 0)
    return;
  switch (es) {
  case 1: pieceMajorKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<const uint8_t *>(src), static_cast<uint8_t *>(dst), outer, W, rowElems, toPM); break;
  case 2: pieceMajorKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<const uint16_t *>(src), static_cast<uint16_t *>(dst), outer, W, rowElems, toPM); break;
  case 4: pieceMajorKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<const uint32_t *>(src), static_cast<uint32_t *>(dst), outer, W, rowElems, toPM); break;
  default: pieceMajorKernel<<<gridFor(n), kThreads, 0, s>>>(static_cast<const uint64_t *>(src), static_cast<uint64_t *>(dst), outer, W, rowElems, toPM); break;
  }
  DS_CUDA_LAUNCH();
}

} // namespace

void runCollective(KernelCall &c) {
  DeviceContext &d = dev(c);
  if (!d.comm)
    fail("no device communicator");
  DeviceComm &comm = *d.comm;
  cudaStream_t s = d.stream;
  const std::string &k = c.ins.kernel();
  if (k == "barrier") {
    comm.barrier(s);
    return;
  }
  const Tensor &x = c.in[0], &r = c.out[0];
  size_t es = dtypeSize(x.dtype);
  int W = comm.size();
  if (k == "all_gather") {
    int64_t axis = c.attrs<AxisAttrs>().axis;
    const auto &os = *r.shape;
    int64_t outer = prod(os, 0, size_t(axis));
    if (outer == 1 || W == 1) {
      comm.allGather(x.data, r.data, x.numel, x.dtype, s);
      return;
    }
    void *tmp = scratch(c, size_t(r.numel) * es);
    comm.allGather(x.data, tmp, x.numel, x.dtype, s);
    pieceMajor(tmp, r.data, outer, W, os[size_t(axis)] / W * prod(os, size_t(axis) + 1, os.size()),
               es, false, s);
  } else if (k == "reduce_scatter") {
    const auto &attrs = c.attrs<ReduceScatterAttrs>();
    int64_t axis = attrs.axis;
    ReduceOp op = parseReduceOp(enumName(attrs.reduction));
    const auto &is = *x.shape;
    int64_t outer = prod(is, 0, size_t(axis));
    if (outer == 1 || W == 1) {
      comm.reduceScatter(x.data, r.data, r.numel, x.dtype, op, s);
      return;
    }
    void *tmp = scratch(c, size_t(x.numel) * es);
    pieceMajor(x.data, tmp, outer, W, is[size_t(axis)] / W * prod(is, size_t(axis) + 1, is.size()),
               es, true, s);
    comm.reduceScatter(tmp, r.data, r.numel, x.dtype, op, s);
  } else if (k == "all_reduce") {
    comm.allReduce(x.data, r.data, x.numel, x.dtype,
                   parseReduceOp(enumName(c.attrs<AllReduceAttrs>().reduction)), s);
  } else { // broadcast
    if (x.data != r.data && x.numel)
      DS_CUDA(cudaMemcpyAsync(r.data, x.data, size_t(x.numel) * es, cudaMemcpyDeviceToDevice, s));
    comm.broadcast(r.data, r.numel, r.dtype, int(c.attrs<BroadcastAttrs>().root), s);
  }
}

namespace {

__global__ void incrementKernel(uint64_t *p) { ++*p; }

} // namespace

void enqueueIncrement(uint64_t *counter, cudaStream_t s) {
  incrementKernel<<<1, 1, 0, s>>>(counter);
  DS_CUDA_LAUNCH();
}

} // namespace ds::rt::cuda
