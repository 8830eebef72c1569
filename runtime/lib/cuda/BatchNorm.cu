// CUDA batch_norm (training-mode batch statistics) and batch_norm_grad: one block per
// channel, deterministic block sums in f64.
#include "BlockReduce.cuh"

namespace ds::rt::cuda {
namespace {

/// Element k of channel ch: x is [n, c, inner].
__device__ __forceinline__ int64_t channelIndex(int64_t k, int64_t ch, int64_t c,
                                                int64_t inner) {
  return ((k / inner) * c + ch) * inner + k % inner;
}

template <typename T>
__global__ void batchNormKernel(const T *x, const T *scale, const T *bias, T *y,
                                T *meanOut, T *varOut, int64_t n, int64_t c,
                                int64_t inner, double eps) {
  int64_t ch = blockIdx.x, count = n * inner;
  double sum = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x)
    sum += double(ld(x, channelIndex(k, ch, c, inner)));
  double mean = count ? blockReduce(sum, SumOp(), 0.0) / double(count) : 0.0;
  double sq = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    double d = double(ld(x, channelIndex(k, ch, c, inner))) - mean;
    sq += d * d;
  }
  double var = count ? blockReduce(sq, SumOp(), 0.0) / double(count) : 0.0;
  double a = double(ld(scale, ch)) / sqrt(var + eps), b = double(ld(bias, ch)) - mean * a;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    int64_t e = channelIndex(k, ch, c, inner);
    st(y, e, double(ld(x, e)) * a + b);
  }
  if (threadIdx.x == 0) {
    st(meanOut, ch, mean);
    st(varOut, ch, var);
  }
}

template <typename T>
__global__ void batchNormGradKernel(const T *g, const T *x, const T *scale,
                                    const T *meanIn, const T *varIn, T *dx, T *dscale,
                                    T *dbias, int64_t n, int64_t c, int64_t inner,
                                    double eps) {
  int64_t ch = blockIdx.x, count = n * inner;
  double mean = double(ld(meanIn, ch)), r = 1.0 / sqrt(double(ld(varIn, ch)) + eps);
  double sg = 0, sgx = 0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    int64_t e = channelIndex(k, ch, c, inner);
    double gv = double(ld(g, e));
    sg += gv;
    sgx += gv * (double(ld(x, e)) - mean) * r;
  }
  sg = blockReduce(sg, SumOp(), 0.0);
  sgx = blockReduce(sgx, SumOp(), 0.0);
  double cnt = double(count), a = double(ld(scale, ch)) * r;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    int64_t e = channelIndex(k, ch, c, inner);
    double xhat = (double(ld(x, e)) - mean) * r;
    st(dx, e, a * (double(ld(g, e)) - sg / cnt - xhat * sgx / cnt));
  }
  if (threadIdx.x == 0) {
    st(dbias, ch, sg);
    st(dscale, ch, sgx);
  }
}

void channels(const std::vector<int64_t> &x, int64_t &n, int64_t &c, int64_t &inner) {
  n = x[0];
  c = x[1];
  inner = 1;
  for (size_t i = 2; i < x.size(); ++i)
    inner *= x[i];
}
} // namespace

void runBatchNorm(KernelCall &c) {
  int64_t n, ch, inner;
  channels(*c.in[0].shape, n, ch, inner);
  if (ch == 0)
    return;
  double eps = c.attrs<BatchNormAttrs>().epsilon;
  DS_DISPATCH_FLOAT(c.in[0].dtype, T, {
    batchNormKernel<T><<<unsigned(ch), rowThreads(n * inner), 0, stream(c)>>>(
        c.in[0].as<T>(), c.in[1].as<T>(), c.in[2].as<T>(), c.out[0].as<T>(),
        c.out[1].as<T>(), c.out[2].as<T>(), n, ch, inner, eps);
  });
  DS_CUDA_LAUNCH();
}

void runBatchNormGrad(KernelCall &c) {
  int64_t n, ch, inner;
  channels(*c.in[1].shape, n, ch, inner);
  if (ch == 0)
    return;
  double eps = c.attrs<BatchNormAttrs>().epsilon;
  DS_DISPATCH_FLOAT(c.in[1].dtype, T, {
    batchNormGradKernel<T><<<unsigned(ch), rowThreads(n * inner), 0, stream(c)>>>(
        c.in[0].as<T>(), c.in[1].as<T>(), c.in[2].as<T>(), c.in[3].as<T>(),
        c.in[4].as<T>(), c.out[0].as<T>(), c.out[1].as<T>(), c.out[2].as<T>(), n, ch,
        inner, eps);
  });
  DS_CUDA_LAUNCH();
}

} // namespace ds::rt::cuda
