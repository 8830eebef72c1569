// CUDA conv, conv_grad_input and conv_grad_filter through cuDNN (NCHW; 1-D as height 1).
#include "../KernelSignaturesConvolution.h"
#include "CudaCommon.cuh"

#include <cudnn.h>

// cuDNN 9 marks its legacy convolution API deprecated; it is the one without graph setup.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace ds::rt::cuda {

void *createCudnnHandle() {
  cudnnHandle_t h = nullptr;
  cudnnStatus_t s = cudnnCreate(&h);
  if (s != CUDNN_STATUS_SUCCESS)
    fail("cannot create a cuDNN handle: ", cudnnGetErrorString(s));
  return h;
}

void destroyCudnnHandle(void *h) {
  if (h)
    cudnnDestroy(static_cast<cudnnHandle_t>(h));
}

namespace {

void checkCudnn(cudnnStatus_t s, const char *what) {
  if (s != CUDNN_STATUS_SUCCESS)
    fail(what, ": ", cudnnGetErrorString(s));
}
#define DS_CUDNN(x) checkCudnn((x), #x)

cudnnDataType_t dataType(DType dt) {
  switch (dt) {
  case ds::plan::F32:
    return CUDNN_DATA_FLOAT;
  case ds::plan::F64:
    return CUDNN_DATA_DOUBLE;
  case ds::plan::F16:
    return CUDNN_DATA_HALF;
  case ds::plan::BF16:
    return CUDNN_DATA_BFLOAT16;
  default:
    fail("conv: unsupported dtype ", dtypeName(dt));
  }
}

/// The descriptors of one convolution x [N,C,H,W] * w [M,C/g,KH,KW] -> y [N,M,OH,OW].
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool f64 = false;
  ConvDescriptors(KernelCall &c, DType dt, const std::vector<int64_t> &xs,
                  const std::vector<int64_t> &ws, const std::vector<int64_t> &ys) {
    const auto &a = c.attrs<ConvAttrs>();
    std::vector<WindowDim> dims = convWindow(a, xs, ws);
    for (const WindowDim &d : dims)
      if (d.padBegin != d.padEnd)
        fail("conv on CUDA (cuDNN) needs equal begin and end pads, got ", d.padBegin,
             " and ", d.padEnd);
    bool twoD = dims.size() == 2;
    WindowDim dh = twoD ? dims[0] : WindowDim(), dw = dims.back();
    auto hw = [&](const std::vector<int64_t> &s, int64_t &h, int64_t &w) {
      h = twoD ? s[2] : 1;
      w = s.back();
    };
    int64_t h, w, kh, kw, oh, ow;
    hw(xs, h, w);
    hw(ws, kh, kw);
    hw(ys, oh, ow);
    cudnnDataType_t t = dataType(dt);
    f64 = dt == ds::plan::F64;
    DS_CUDNN(cudnnCreateTensorDescriptor(&x));
    DS_CUDNN(cudnnCreateTensorDescriptor(&y));
    DS_CUDNN(cudnnCreateTensorDescriptor(&bias));
    DS_CUDNN(cudnnCreateFilterDescriptor(&this->w));
    DS_CUDNN(cudnnCreateConvolutionDescriptor(&conv));
    DS_CUDNN(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, int(xs[0]), int(xs[1]),
                                        int(h), int(w)));
    DS_CUDNN(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, int(ys[0]), int(ys[1]),
                                        int(oh), int(ow)));
    DS_CUDNN(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, t, 1, int(ys[1]), 1, 1));
    DS_CUDNN(cudnnSetFilter4dDescriptor(this->w, t, CUDNN_TENSOR_NCHW, int(ws[0]),
                                        int(ws[1]), int(kh), int(kw)));
    DS_CUDNN(cudnnSetConvolution2dDescriptor(
        conv, int(dh.padBegin), int(dw.padBegin), int(dh.stride), int(dw.stride),
        int(dh.dilation), int(dw.dilation), CUDNN_CROSS_CORRELATION,
        f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT));
    DS_CUDNN(cudnnSetConvolutionGroupCount(conv, int(a.group)));
    // f32 stays f32 (no TF32) unless --tf32; 16-bit storage may use tensor cores.
    cudnnMathType_t math = dt == ds::plan::F16 || dt == ds::plan::BF16
                               ? CUDNN_TENSOR_OP_MATH
                           : dev(c).allowTf32 && dt == ds::plan::F32 ? CUDNN_DEFAULT_MATH
                                                                     : CUDNN_FMA_MATH;
    DS_CUDNN(cudnnSetConvolutionMathType(conv, math));
  }
  ~ConvDescriptors() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  /// alpha / beta as cuDNN reads them: double for f64 data, else float.
  const void *scalar(int which) const {
    static const float f[2] = {0.0f, 1.0f};
    static const double d[2] = {0.0, 1.0};
    return f64 ? static_cast<const void *>(&d[which])
               : static_cast<const void *>(&f[which]);
  }
};

cudnnHandle_t handleOf(KernelCall &c) {
  auto h = static_cast<cudnnHandle_t>(dev(c).cudnn);
  if (!h)
    fail("conv: this stream has no cuDNN handle");
  DS_CUDNN(cudnnSetStream(h, stream(c)));
  return h;
}

/// The first deterministic algorithm of cuDNN's heuristic ranking whose workspace fits
/// the stream's scratch (no benchmarking, nothing allocated: safe inside graph capture).
template <typename Perf, typename Get>
Perf pickAlgorithm(KernelCall &c, const char *what, Get get) {
  Perf perf[16];
  int n = 0;
  DS_CUDNN(get(perf, &n));
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS &&
        perf[i].determinism == CUDNN_DETERMINISTIC &&
        perf[i].memory <= dev(c).scratchBytes)
      return perf[i];
  fail(what, ": cuDNN offers no deterministic algorithm within ", dev(c).scratchBytes,
       " bytes of scratch");
}

void *workspace(KernelCall &c, size_t bytes) {
  return bytes ? scratch(c, bytes) : nullptr;
}
} // namespace

void runConv(KernelCall &c) {
  const Tensor &x = c.in[0], &w = c.in[1], &y = c.out[0];
  ConvDescriptors d(c, x.dtype, *x.shape, *w.shape, *y.shape);
  cudnnHandle_t h = handleOf(c);
  auto perf =
      pickAlgorithm<cudnnConvolutionFwdAlgoPerf_t>(c, "conv", [&](auto *p, int *n) {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, 16, n, p);
      });
  DS_CUDNN(cudnnConvolutionForward(h, d.scalar(1), d.x, x.data, d.w, w.data, d.conv,
                                   perf.algo, workspace(c, perf.memory), perf.memory,
                                   d.scalar(0), d.y, y.data));
  if (c.in.size() == 3)
    DS_CUDNN(
        cudnnAddTensor(h, d.scalar(1), d.bias, c.in[2].data, d.scalar(1), d.y, y.data));
}

void runConvGradInput(KernelCall &c) {
  const Tensor &g = c.in[0], &w = c.in[1], &dx = c.out[0];
  ConvDescriptors d(c, g.dtype, *dx.shape, *w.shape, *g.shape);
  cudnnHandle_t h = handleOf(c);
  auto perf = pickAlgorithm<cudnnConvolutionBwdDataAlgoPerf_t>(
      c, "conv_grad_input", [&](auto *p, int *n) {
        return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, 16,
                                                           n, p);
      });
  DS_CUDNN(cudnnConvolutionBackwardData(h, d.scalar(1), d.w, w.data, d.y, g.data, d.conv,
                                        perf.algo, workspace(c, perf.memory), perf.memory,
                                        d.scalar(0), d.x, dx.data));
}

void runConvGradFilter(KernelCall &c) {
  const Tensor &g = c.in[0], &x = c.in[1], &dw = c.out[0];
  ConvDescriptors d(c, g.dtype, *x.shape, *dw.shape, *g.shape);
  cudnnHandle_t h = handleOf(c);
  auto perf = pickAlgorithm<cudnnConvolutionBwdFilterAlgoPerf_t>(
      c, "conv_grad_filter", [&](auto *p, int *n) {
        return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, 16,
                                                             n, p);
      });
  DS_CUDNN(cudnnConvolutionBackwardFilter(h, d.scalar(1), d.x, x.data, d.y, g.data,
                                          d.conv, perf.algo, workspace(c, perf.memory),
                                          perf.memory, d.scalar(0), d.w, dw.data));
}

} // namespace ds::rt::cuda
