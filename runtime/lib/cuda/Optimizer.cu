// Optimizer kernels of the CUDA backend: adam_update, lamb_update, sgd_update, lr_schedule,
// all_finite and loss_scale_update. Semantics and arithmetic order are those of the CPU kernels
// (runtime/lib/cpu/Optimizer.cpp, README "Optimizers" / "Mixed precision").
//
// Graph-capture safety: everything that changes from step to step (the learning rate, the step
// counter, the `finite` flag, the loss scale and its counters) is read inside the kernels from
// device memory; only instruction attributes are read on the host and passed by value. A step
// that is skipped (finite = 0 or NaN) writes outputs = inputs bit for bit, decided on the device.
//
// Rounding: every floating operation that the CPU rounds individually is written with the
// round-to-nearest intrinsics (__fadd_rn, __dmul_rn, ...), which the compiler never contracts
// into FMAs, so the element updates round exactly like the CPU's (x86-64 SSE, no FMA). Scalars
// derived from the step and the learning rate are computed in double, as on the CPU; only the
// device pow/log/cos may differ from glibc's by an ulp of double.
#include "CudaCommon.cuh"
#include "ds/runtime/GemmBiasGrad.h"

#include <algorithm>
#include <vector>
#include <cmath>
#include <string>

namespace ds::rt::cuda {
namespace {

// ---- non-contracted IEEE arithmetic (float for f32/f16/bf16 buffers, double for f64)

/// The optional `finite` operand: the step applies iff it is absent, or present and nonzero
/// (NaN counts as not finite).
__device__ __forceinline__ bool finiteOk(const float *finite) {
  if (finite == nullptr)
    return true;
  float f = *finite;
  return f == f && f != 0.0f;
}

/// Bias correction 1 - beta^t in double (1 when bias correction is off).
__device__ __forceinline__ double biasCorr(double beta, int64_t t, int on) {
  return on ? subR(1.0, pow(beta, double(t))) : 1.0;
}

const float *optionalFinite(const KernelCall &c, size_t index) {
  return c.in.size() > index ? c.in[index].as<const float>() : nullptr;
}

/// Hyper-parameters from attributes, converted on the host exactly as the CPU does
/// (`const T B1 = T(b1)`, `const T omb1 = T(1) - B1`, ...), A = the arithmetic type.
template <typename A> struct MomentsParams {
  A B1, B2, EPS, WD, omb1, omb2;
  double b1, b2, wd;
  int biasCorrection;
  int wdNonzero;
};
template <typename A, typename Attrs> MomentsParams<A> momentsParams(const Attrs &attrs) {
  MomentsParams<A> h;
  h.b1 = attrs.beta1;
  h.b2 = attrs.beta2;
  h.wd = attrs.weight_decay;
  double eps = attrs.eps;
  h.B1 = A(h.b1);
  h.B2 = A(h.b2);
  h.EPS = A(eps);
  h.WD = A(h.wd);
  h.omb1 = A(1) - h.B1;
  h.omb2 = A(1) - h.B2;
  h.biasCorrection = attrs.bias_correction ? 1 : 0;
  h.wdNonzero = h.wd != 0 ? 1 : 0;
  return h;
}

/// Per-step scalars, computed once per block by thread 0 (double, cast to A by each thread).
struct StepConsts {
  int apply; // 0: skipped step (not finite, or step counter < 1), outputs = inputs
  int first; // sgd: t == 1
  double k0, k1, k2;
};

// ============================================================ adam_update
// AdamW (adam_w_mode != 0): k0 = 1 - lr*wd (decay), k1 = lr/bc1 (step size), k2 = sqrt(bc2).
// Adam: k0 = lr, k1 = bc1, k2 = bc2.
template <typename A>
__device__ StepConsts adamConsts(const MomentsParams<A> &h, bool adamW, const float *lrp,
                                 const int64_t *tp, const float *finite) {
  StepConsts s{};
  int64_t t = *tp;
  s.apply = (finiteOk(finite) && t >= 1) ? 1 : 0;
  s.first = 0;
  if (!s.apply)
    return s;
  double lr = double(*lrp);
  double bc1 = biasCorr(h.b1, t, h.biasCorrection);
  double bc2 = biasCorr(h.b2, t, h.biasCorrection);
  if (adamW) {
    s.k0 = subR(1.0, mulR(lr, h.wd));
    s.k1 = divR(lr, bc1);
    s.k2 = sqrtR(bc2);
  } else {
    s.k0 = lr;
    s.k1 = bc1;
    s.k2 = bc2;
  }
  return s;
}

/// One element of AdamW (the CPU's adamWStep): updates mi, vi, returns the new parameter.
template <typename A>
__device__ __forceinline__ A adamWElem(A pi, A gi, A &mi, A &vi, const MomentsParams<A> &h,
                                       A decay, A stepSize, A bc2Sqrt) {
  if (h.wdNonzero)
    pi = mulR(pi, decay);
  mi = addR(mi, mulR(h.omb1, subR(gi, mi)));
  vi = addR(mulR(h.B2, vi), mulR(mulR(h.omb2, gi), gi));
  A denom = addR(divR(sqrtR(vi), bc2Sqrt), h.EPS);
  return subR(pi, mulR(stepSize, divR(mi, denom)));
}

/// One element of Adam (FusedAdam's Adam mode, the CPU's adamStep).
template <typename A>
__device__ __forceinline__ A adamElem(A pi, A gi, A &mi, A &vi, const MomentsParams<A> &h, A LR,
                                      A BC1, A BC2) {
  gi = addR(gi, mulR(h.WD, pi));
  mi = addR(mulR(h.B1, mi), mulR(h.omb1, gi));
  vi = addR(mulR(h.B2, vi), mulR(mulR(h.omb2, gi), gi));
  A update = divR(divR(mi, BC1), addR(sqrtR(divR(vi, BC2)), h.EPS));
  return subR(pi, mulR(LR, update));
}

template <typename T, bool AdamW>
__global__ void adamKernel(int64_t n, const T *p, const T *g, const T *m, const T *v, T *np,
                           T *nm, T *nv, const float *lrp, const int64_t *tp,
                           const float *finite, MomentsParams<typename Acc<T>::type> h) {
  using A = typename Acc<T>::type;
  __shared__ StepConsts sc;
  if (threadIdx.x == 0)
    sc = adamConsts(h, AdamW, lrp, tp, finite);
  __syncthreads();
  if (!sc.apply) { // skipped step: bit-for-bit pass-through (nothing to do when in place)
    DS_GRID_STRIDE(i, n) {
      if (np != p)
        np[i] = p[i];
      if (nm != m)
        nm[i] = m[i];
      if (nv != v)
        nv[i] = v[i];
    }
    return;
  }
  if (AdamW) {
    const A decay = A(sc.k0), stepSize = A(sc.k1), bc2Sqrt = A(sc.k2);
    DS_GRID_STRIDE(i, n) {
      A gi = ld(g, i), mi = ld(m, i), vi = ld(v, i), pi = ld(p, i);
      A pn = adamWElem(pi, gi, mi, vi, h, decay, stepSize, bc2Sqrt);
      st(np, i, pn);
      st(nm, i, mi);
      st(nv, i, vi);
    }
  } else {
    const A LR = A(sc.k0), BC1 = A(sc.k1), BC2 = A(sc.k2);
    DS_GRID_STRIDE(i, n) {
      A gi = ld(g, i), mi = ld(m, i), vi = ld(v, i), pi = ld(p, i);
      A pn = adamElem(pi, gi, mi, vi, h, LR, BC1, BC2);
      st(np, i, pn);
      st(nm, i, mi);
      st(nv, i, vi);
    }
  }
}

template <typename T> void launchAdam(KernelCall &c, bool adamW) {
  using A = typename Acc<T>::type;
  MomentsParams<A> h = momentsParams<A>(c.attrs<AdamUpdateAttrs>());
  int64_t n = c.in[0].numel;
  const T *p = c.in[0].as<const T>(), *g = c.in[1].as<const T>(), *m = c.in[2].as<const T>(),
          *v = c.in[3].as<const T>();
  T *np = c.out[0].as<T>(), *nm = c.out[1].as<T>(), *nv = c.out[2].as<T>();
  const float *lrp = c.in[4].as<const float>();
  const int64_t *tp = c.in[5].as<const int64_t>();
  const float *finite = optionalFinite(c, 6);
  if (adamW)
    adamKernel<T, true><<<gridFor(n), kThreads, 0, stream(c)>>>(n, p, g, m, v, np, nm, nv, lrp,
                                                                tp, finite, h);
  else
    adamKernel<T, false><<<gridFor(n), kThreads, 0, stream(c)>>>(n, p, g, m, v, np, nm, nv,
                                                                 lrp, tp, finite, h);
  DS_CUDA_LAUNCH();
}

} // namespace

void runAdamUpdate(KernelCall &c) {
  bool adamW = c.attrs<AdamUpdateAttrs>().adam_w_mode;
  DS_DISPATCH_FLOAT(c.in[0].dtype, T, launchAdam<T>(c, adamW));
}

namespace {

// ============================================================ multi_adam_update
// One launch over a device array of per-parameter descriptors (uploaded from a pinned host
// copy kept per instruction, into this call's scratch); each grid-stride element finds its
// parameter by binary search over the element offsets. Per element: runAdamUpdate's
// arithmetic on the f32 master after g = ld(grad) times each grad scale (mulR, in order),
// then the working copy and the zeroed gradient, as the CPU's runMultiAdamUpdate.
struct AdamGroupDesc {
  const float *p, *m, *v;
  const void *g;
  float *np, *nm, *nv;
  void *w, *gz;
  int64_t offset; // of the parameter's first element in the concatenation
};
constexpr int kMaxGradScales = 4;
struct AdamGroupArgs {
  const float *lrp;
  const int64_t *tp;
  const float *finite;
  const float *scales[kMaxGradScales];
  int nScales, count;
  int64_t total;
};

template <typename G, bool AdamW>
__global__ void multiAdamKernel(const AdamGroupDesc *d, AdamGroupArgs a, MomentsParams<float> h) {
  __shared__ StepConsts sc;
  __shared__ float scales[kMaxGradScales];
  if (threadIdx.x == 0) {
    sc = adamConsts(h, AdamW, a.lrp, a.tp, a.finite);
    for (int k = 0; k < a.nScales; ++k)
      scales[k] = *a.scales[k];
  }
  __syncthreads();
  const float k0 = float(sc.k0), k1 = float(sc.k1), k2 = float(sc.k2);
  DS_GRID_STRIDE(e, a.total) {
    int lo = 0, hi = a.count - 1; // the last parameter whose offset <= e
    while (lo < hi) {
      int mid = (lo + hi + 1) / 2;
      if (d[mid].offset <= e)
        lo = mid;
      else
        hi = mid - 1;
    }
    const AdamGroupDesc &x = d[lo];
    int64_t i = e - x.offset;
    float pi = x.p[i];
    if (sc.apply) {
      float gi = ld(static_cast<const G *>(x.g), i);
      for (int k = 0; k < a.nScales; ++k)
        gi = mulR(gi, scales[k]);
      float mi = x.m[i], vi = x.v[i];
      pi = AdamW ? adamWElem(pi, gi, mi, vi, h, k0, k1, k2) : adamElem(pi, gi, mi, vi, h, k0, k1, k2);
      x.np[i] = pi;
      x.nm[i] = mi;
      x.nv[i] = vi;
    } else {
      if (x.np != x.p)
        x.np[i] = pi;
      if (x.nm != x.m)
        x.nm[i] = x.m[i];
      if (x.nv != x.v)
        x.nv[i] = x.v[i];
    }
    if (x.w)
      st(static_cast<G *>(x.w), i, pi);
    if (x.gz)
      st(static_cast<G *>(x.gz), i, 0.0f);
  }
}

template <typename G> void launchMultiAdam(KernelCall &c) {
  const auto &attrs = c.attrs<MultiAdamUpdateAttrs>();
  size_t n = size_t(attrs.count);
  size_t firstScale = 2 + (attrs.finite ? 1 : 0);
  size_t first = firstScale + size_t(attrs.grad_scales);
  size_t outsEach = 3 + (attrs.working_copy ? 1 : 0) + (attrs.zero_grads ? 1 : 0);
  if (attrs.grad_scales > kMaxGradScales)
    fail("multi_adam_update takes at most ", kMaxGradScales, " grad scales on CUDA, got ",
         attrs.grad_scales);
  AdamGroupArgs a{};
  a.lrp = c.in[0].as<const float>();
  a.tp = c.in[1].as<const int64_t>();
  a.finite = attrs.finite ? c.in[2].as<const float>() : nullptr;
  a.nScales = int(attrs.grad_scales);
  for (int k = 0; k < a.nScales; ++k)
    a.scales[k] = c.in[firstScale + size_t(k)].as<const float>();
  a.count = int(n);
  std::vector<AdamGroupDesc> d(n);
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const Tensor *in = &c.in[first + 4 * i];
    Tensor *out = &c.out[outsEach * i];
    d[i] = {in[0].as<const float>(), in[2].as<const float>(), in[3].as<const float>(), in[1].data,
            out[0].as<float>(), out[1].as<float>(), out[2].as<float>(),
            attrs.working_copy ? out[3].data : nullptr,
            attrs.zero_grads ? out[outsEach - 1].data : nullptr, total};
    total += in[0].numel;
  }
  a.total = total;
  auto *dev = static_cast<const AdamGroupDesc *>(
      uploadDescriptors(c, d.data(), d.size() * sizeof(AdamGroupDesc), 0));
  MomentsParams<float> h = momentsParams<float>(attrs);
  if (attrs.adam_w_mode)
    multiAdamKernel<G, true><<<gridFor(total), kThreads, 0, stream(c)>>>(dev, a, h);
  else
    multiAdamKernel<G, false><<<gridFor(total), kThreads, 0, stream(c)>>>(dev, a, h);
  DS_CUDA_LAUNCH();
}

// ============================================================ grad_norm_sq
// Two launches: (1) each block sums f32(g)^2 (rounded to f32) in double over its slice of one
// gradient (blocks given to the gradients in proportion to their size) into scratch;
// (2) one thread adds each gradient's block sums in block order (double), rounds them to f32
// and adds those in operand order in f32. Deterministic; the f64 summation order differs
// from the CPU's index order, as reduce_sum's does.
struct NormDesc {
  const void *g;
  int64_t n;
  int dtype; // 0 f32, 1 f16, 2 bf16, 3 f64 (rounded to f32 first)
  int firstBlock, blocks;
};
constexpr int64_t kNormBlockElems = 1 << 16;

/// The tensor this block's slice belongs to (its index into `d`) and the slice [begin, end).
__device__ int blockSlice(const NormDesc *d, int count, int64_t &begin, int64_t &end) {
  int lo = 0, hi = count - 1; // the tensor whose blocks include this one
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (d[mid].firstBlock <= int(blockIdx.x))
      lo = mid;
    else
      hi = mid - 1;
  }
  const NormDesc &x = d[lo];
  int64_t per = (x.n + x.blocks - 1) / x.blocks;
  begin = per * (int64_t(blockIdx.x) - x.firstBlock);
  end = begin + per < x.n ? begin + per : x.n;
  return lo;
}

/// One descriptor per input tensor of `c` (f32, f16, bf16, f64; `what` names the kernel in
/// the error for another dtype), blocks given in proportion to their sizes; the total block
/// count in `blocks`.
std::vector<NormDesc> normDescs(const KernelCall &c, const char *what, int &blocks) {
  std::vector<NormDesc> d(c.in.size());
  blocks = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor &g = c.in[i];
    int dt;
    switch (g.dtype) {
    case ds::plan::F32: dt = 0; break;
    case ds::plan::F16: dt = 1; break;
    case ds::plan::BF16: dt = 2; break;
    case ds::plan::F64: dt = 3; break;
    default: fail(what, ": unsupported dtype ", dtypeName(g.dtype));
    }
    int b = int(std::max<int64_t>(1, (g.numel + kNormBlockElems - 1) / kNormBlockElems));
    d[i] = {g.data, g.numel, dt, blocks, b};
    blocks += b;
  }
  return d;
}

__global__ void normPartsKernel(const NormDesc *d, int count, double *parts) {
  int64_t begin, end;
  const NormDesc &x = d[blockSlice(d, count, begin, end)];
  double acc = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float v = x.dtype == 0   ? static_cast<const float *>(x.g)[i]
              : x.dtype == 1 ? ld(static_cast<const __half *>(x.g), i)
              : x.dtype == 2 ? ld(static_cast<const __nv_bfloat16 *>(x.g), i)
                             : __double2float_rn(static_cast<const double *>(x.g)[i]);
    acc = addR(acc, double(mulR(v, v)));
  }
  __shared__ double sh[kThreads];
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s)
      sh[threadIdx.x] = addR(sh[threadIdx.x], sh[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0)
    parts[blockIdx.x] = sh[0];
}

__global__ void normFinalKernel(const NormDesc *d, int count, const double *parts, float *out) {
  float total = 0;
  for (int i = 0; i < count; ++i) {
    double a = 0;
    for (int b = 0; b < d[i].blocks; ++b)
      a = addR(a, parts[d[i].firstBlock + b]);
    total = i == 0 ? float(a) : addR(total, float(a));
  }
  *out = total;
}

// ============================================================ multi_add
// One launch for up to kMaxMultiAddTensors accumulations, the pointer table passed by value
// (no upload); each grid-stride element finds its pair by binary search over the offsets.
// The add kernel's arithmetic: f16/bf16 through f32, rounded once.
struct MultiAddArgs {
  const void *acc[kMaxMultiAddTensors], *x[kMaxMultiAddTensors];
  void *r[kMaxMultiAddTensors];
  int64_t offset[kMaxMultiAddTensors + 1];
  int count;
};
static_assert(sizeof(MultiAddArgs) <= 4000, "multi_add's table must fit the kernel parameters");

template <typename T> __global__ void multiAddKernel(MultiAddArgs a) {
  DS_GRID_STRIDE(e, a.offset[a.count]) {
    int lo = 0, hi = a.count - 1; // the last pair whose offset <= e
    while (lo < hi) {
      int mid = (lo + hi + 1) / 2;
      if (a.offset[mid] <= e)
        lo = mid;
      else
        hi = mid - 1;
    }
    int64_t i = e - a.offset[lo];
    st(static_cast<T *>(a.r[lo]), i,
       addR(ld(static_cast<const T *>(a.acc[lo]), i), ld(static_cast<const T *>(a.x[lo]), i)));
  }
}

} // namespace

void runMultiAdd(KernelCall &c) {
  size_t n = c.out.size();
  if (n == 0)
    return;
  if (int64_t(n) > kMaxMultiAddTensors)
    fail("multi_add of ", n, " tensors: at most ", kMaxMultiAddTensors, " per launch");
  MultiAddArgs a{};
  a.count = int(n);
  for (size_t i = 0; i < n; ++i) {
    a.acc[i] = c.in[2 * i].data;
    a.x[i] = c.in[2 * i + 1].data;
    a.r[i] = c.out[i].data;
    a.offset[i + 1] = a.offset[i] + c.out[i].numel;
  }
  if (a.offset[n] == 0)
    return;
  DS_DISPATCH_FLOAT(c.out[0].dtype, T,
    multiAddKernel<T><<<gridFor(a.offset[n]), kThreads, 0, stream(c)>>>(a));
  DS_CUDA_LAUNCH();
}

void runMultiAdamUpdate(KernelCall &c) {
  const auto &attrs = c.attrs<MultiAdamUpdateAttrs>();
  size_t first = 2 + (attrs.finite ? 1 : 0) + size_t(attrs.grad_scales);
  switch (c.in[first + 1].dtype) {
  case ds::plan::F32:
    return launchMultiAdam<float>(c);
  case ds::plan::F16:
    return launchMultiAdam<__half>(c);
  case ds::plan::BF16:
    return launchMultiAdam<__nv_bfloat16>(c);
  default:
    fail("internal error: multi_adam_update of ", dtypeName(c.in[first + 1].dtype), " grads");
  }
}

void runGradNormSq(KernelCall &c) {
  size_t n = c.in.size();
  int blocks = 0;
  std::vector<NormDesc> d = normDescs(c, "grad_norm_sq", blocks);
  // Scratch: the descriptors, then (256-byte aligned) one double per block.
  size_t descBytes = (n * sizeof(NormDesc) + 255) / 256 * 256;
  auto *dev = static_cast<const NormDesc *>(uploadDescriptors(
      c, d.data(), n * sizeof(NormDesc), descBytes + size_t(blocks) * sizeof(double)));
  double *parts = reinterpret_cast<double *>(
      reinterpret_cast<char *>(const_cast<NormDesc *>(dev)) + descBytes);
  normPartsKernel<<<unsigned(blocks), kThreads, 0, stream(c)>>>(dev, int(n), parts);
  DS_CUDA_LAUNCH();
  normFinalKernel<<<1, 1, 0, stream(c)>>>(dev, int(n), parts, c.out[0].as<float>());
  DS_CUDA_LAUNCH();
}

namespace {

// ============================================================ lamb_update
// Three launches: (1) per-block partial sums of |p|^2 and |u|^2 in double into scratch (writes
// no operand), (2) one block sums the partials in a fixed order and computes the skip decision
// and the step scale lr*sqrt(bc2)/bc1*r, (3) the update, recomputing m', v', u from the
// untouched inputs with the same rounded operations as (1), so u is bit-identical to the one
// normed (this also keeps f16/bf16 moments exact: u uses the unrounded f32 m', v' as on the
// CPU) and any exact in-place aliasing is safe.
constexpr int kLambMaxParts = 1024;
constexpr size_t kLambPartsOffset = 256; // LambStep at offset 0, partials from here
constexpr size_t kLambScratchBytes = kLambPartsOffset + size_t(kLambMaxParts) * 2 * sizeof(double);

struct LambStep {
  double scale;
  int apply;
};

template <typename A>
__device__ __forceinline__ A lambDirection(const MomentsParams<A> &h, A pi, A gi, A &mi,
                                           A &vi) {
  mi = addR(mulR(h.B1, mi), mulR(h.omb1, gi));
  vi = addR(mulR(h.B2, vi), mulR(mulR(h.omb2, gi), gi));
  return addR(divR(mi, addR(sqrtR(vi), h.EPS)), mulR(h.WD, pi));
}

/// Deterministic sum of (a, b) over a block of kThreads threads (fixed tree); all threads get
/// the result. Every thread of the block must call it.
__device__ void blockSum2(double &a, double &b) {
  __shared__ double sa[kThreads], sb[kThreads];
  int tid = int(threadIdx.x);
  sa[tid] = a;
  sb[tid] = b;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (tid < s) {
      sa[tid] = addR(sa[tid], sa[tid + s]);
      sb[tid] = addR(sb[tid], sb[tid + s]);
    }
    __syncthreads();
  }
  a = sa[0];
  b = sb[0];
  __syncthreads();
}

template <typename T>
__global__ void lambNormsKernel(int64_t n, const T *p, const T *g, const T *m, const T *v,
                                MomentsParams<typename Acc<T>::type> h, double *partials) {
  using A = typename Acc<T>::type;
  double pSum = 0, uSum = 0;
  DS_GRID_STRIDE(i, n) {
    A pi = ld(p, i), gi = ld(g, i), mi = ld(m, i), vi = ld(v, i);
    A ui = lambDirection(h, pi, gi, mi, vi);
    double pd = double(pi), ud = double(ui);
    pSum = addR(pSum, mulR(pd, pd));
    uSum = addR(uSum, mulR(ud, ud));
  }
  blockSum2(pSum, uSum);
  if (threadIdx.x == 0) {
    partials[2 * blockIdx.x] = pSum;
    partials[2 * blockIdx.x + 1] = uSum;
  }
}

struct LambHost {
  double b1, b2, minCoeff, maxCoeff;
  int biasCorrection;
};

__global__ void lambFinalizeKernel(int nParts, const double *partials, const float *lrp,
                                   const int64_t *tp, const float *finite, LambHost h,
                                   LambStep *out) {
  double pSum = 0, uSum = 0;
  for (int j = int(threadIdx.x); j < nParts; j += kThreads) {
    pSum = addR(pSum, partials[2 * j]);
    uSum = addR(uSum, partials[2 * j + 1]);
  }
  blockSum2(pSum, uSum);
  if (threadIdx.x != 0)
    return;
  int64_t t = *tp;
  LambStep s;
  s.apply = (finiteOk(finite) && t >= 1) ? 1 : 0;
  s.scale = 0;
  if (s.apply) {
    double r = 1.0;
    if (pSum > 0 && uSum > 0) {
      double q = divR(sqrtR(pSum), sqrtR(uSum));
      q = (q < h.minCoeff) ? h.minCoeff : q; // std::max(q, minCoeff)
      q = (h.maxCoeff < q) ? h.maxCoeff : q; // std::min(q, maxCoeff)
      r = q;
    }
    double lr = double(*lrp);
    double bc1 = biasCorr(h.b1, t, h.biasCorrection);
    double bc2 = biasCorr(h.b2, t, h.biasCorrection);
    s.scale = mulR(divR(mulR(lr, sqrtR(bc2)), bc1), r);
  }
  *out = s;
}

template <typename T>
__global__ void lambApplyKernel(int64_t n, const T *p, const T *g, const T *m, const T *v,
                                T *np, T *nm, T *nv, MomentsParams<typename Acc<T>::type> h,
                                const LambStep *step) {
  using A = typename Acc<T>::type;
  const int apply = step->apply;
  if (!apply) {
    DS_GRID_STRIDE(i, n) {
      if (np != p)
        np[i] = p[i];
      if (nm != m)
        nm[i] = m[i];
      if (nv != v)
        nv[i] = v[i];
    }
    return;
  }
  const A scale = A(step->scale);
  DS_GRID_STRIDE(i, n) {
    A pi = ld(p, i), gi = ld(g, i), mi = ld(m, i), vi = ld(v, i);
    A ui = lambDirection(h, pi, gi, mi, vi);
    A pn = subR(pi, mulR(scale, ui));
    st(np, i, pn);
    st(nm, i, mi);
    st(nv, i, vi);
  }
}

template <typename T> void launchLamb(KernelCall &c) {
  using A = typename Acc<T>::type;
  const auto &attrs = c.attrs<LambUpdateAttrs>();
  MomentsParams<A> h = momentsParams<A>(attrs);
  LambHost lh;
  lh.b1 = h.b1;
  lh.b2 = h.b2;
  lh.minCoeff = attrs.min_coeff;
  lh.maxCoeff = attrs.max_coeff;
  lh.biasCorrection = h.biasCorrection;
  int64_t n = c.in[0].numel;
  const T *p = c.in[0].as<const T>(), *g = c.in[1].as<const T>(), *m = c.in[2].as<const T>(),
          *v = c.in[3].as<const T>();
  T *np = c.out[0].as<T>(), *nm = c.out[1].as<T>(), *nv = c.out[2].as<T>();
  const float *lrp = c.in[4].as<const float>();
  const int64_t *tp = c.in[5].as<const int64_t>();
  const float *finite = optionalFinite(c, 6);

  char *s = static_cast<char *>(scratch(c, kLambScratchBytes));
  LambStep *step = reinterpret_cast<LambStep *>(s);
  double *partials = reinterpret_cast<double *>(s + kLambPartsOffset);
  unsigned nParts = std::min(gridFor(n), unsigned(kLambMaxParts)); // depends on n only
  cudaStream_t st = stream(c);
  lambNormsKernel<T><<<nParts, kThreads, 0, st>>>(n, p, g, m, v, h, partials);
  DS_CUDA_LAUNCH();
  lambFinalizeKernel<<<1, kThreads, 0, st>>>(int(nParts), partials, lrp, tp, finite, lh, step);
  DS_CUDA_LAUNCH();
  lambApplyKernel<T><<<gridFor(n), kThreads, 0, st>>>(n, p, g, m, v, np, nm, nv, h, step);
  DS_CUDA_LAUNCH();
}

} // namespace

void runLambUpdate(KernelCall &c) {
  DS_DISPATCH_FLOAT(c.in[0].dtype, T, launchLamb<T>(c));
}

namespace {

// ============================================================ sgd_update
template <typename A> struct SgdParams {
  A MU, OMD, WD;
  int wdNonzero, muNonzero, nesterov;
};

template <typename T>
__global__ void sgdKernel(int64_t n, const T *p, const T *g, const T *buf, T *np, T *nb,
                          const float *lrp, const int64_t *tp, const float *finite,
                          SgdParams<typename Acc<T>::type> h) {
  using A = typename Acc<T>::type;
  __shared__ StepConsts sc;
  if (threadIdx.x == 0) {
    StepConsts s{};
    int64_t t = *tp;
    s.apply = (finiteOk(finite) && t >= 1) ? 1 : 0;
    s.first = t == 1 ? 1 : 0;
    s.k0 = double(*lrp);
    sc = s;
  }
  __syncthreads();
  if (!sc.apply) {
    DS_GRID_STRIDE(i, n) {
      if (np != p)
        np[i] = p[i];
      if (nb != buf)
        nb[i] = buf[i];
    }
    return;
  }
  const A LR = A(sc.k0);
  const bool first = sc.first != 0;
  DS_GRID_STRIDE(i, n) {
    A pi = ld(p, i), gi = ld(g, i), bi = ld(buf, i);
    if (h.wdNonzero)
      gi = addR(gi, mulR(h.WD, pi));
    if (h.muNonzero) {
      bi = first ? gi : addR(mulR(h.MU, bi), mulR(h.OMD, gi));
      gi = h.nesterov ? addR(gi, mulR(h.MU, bi)) : bi;
    }
    A pn = subR(pi, mulR(LR, gi));
    st(np, i, pn);
    st(nb, i, bi);
  }
}

template <typename T> void launchSgd(KernelCall &c) {
  using A = typename Acc<T>::type;
  const auto &attrs = c.attrs<SgdUpdateAttrs>();
  double mu = attrs.momentum, damp = attrs.dampening;
  double wd = attrs.weight_decay;
  SgdParams<A> h;
  h.MU = A(mu);
  h.OMD = A(1.0 - damp);
  h.WD = A(wd);
  h.wdNonzero = wd != 0 ? 1 : 0;
  h.muNonzero = mu != 0 ? 1 : 0;
  h.nesterov = attrs.nesterov ? 1 : 0;
  int64_t n = c.in[0].numel;
  const T *p = c.in[0].as<const T>(), *g = c.in[1].as<const T>(), *b = c.in[2].as<const T>();
  T *np = c.out[0].as<T>(), *nb = c.out[1].as<T>();
  sgdKernel<T><<<gridFor(n), kThreads, 0, stream(c)>>>(
      n, p, g, b, np, nb, c.in[3].as<const float>(), c.in[4].as<const int64_t>(),
      optionalFinite(c, 5), h);
  DS_CUDA_LAUNCH();
}

} // namespace

void runSgdUpdate(KernelCall &c) {
  DS_DISPATCH_FLOAT(c.in[0].dtype, T, launchSgd<T>(c));
}

namespace {

// ============================================================ lr_schedule
enum SchedKind : int { kConstant = 0, kWarmup = 1, kWarmupDecay = 2, kWarmupCosine = 3 };

struct SchedParams {
  int kind;
  int logWarmup;
  double lr, minLr, maxLr, r0, rc;
  double N;        // double(max(2, warmup_num_steps))
  double logN;     // std::log(N), on the host as the CPU computes it
  double T;        // double(total_num_steps)
  double decayDen; // std::max(1.0, double(T - N)) (integer difference, as on the CPU)
};

__device__ double warmupGamma(const SchedParams &s, double it) {
  return s.logWarmup ? divR(log(addR(it, 1.0)), s.logN) : divR(it, s.N);
}

__global__ void lrScheduleKernel(const int64_t *kp, float *out, SchedParams s) {
  if (s.kind == kConstant) {
    *out = float(s.lr);
    return;
  }
  double i = subR(double(*kp), 1.0); // step k runs with f(k - 1)
  double result;
  if (s.kind == kWarmup || s.kind == kWarmupDecay) {
    if (i < 0) {
      result = s.minLr;
    } else {
      double gamma;
      if (i < s.N) {
        gamma = warmupGamma(s, i);
      } else if (s.kind == kWarmup) {
        gamma = 1;
      } else {
        double d = divR(subR(s.T, i), s.decayDen);
        gamma = (0.0 < d) ? d : 0.0; // std::max(0.0, d)
      }
      result = addR(s.minLr, mulR(subR(s.maxLr, s.minLr), gamma));
    }
  } else { // WarmupCosineLR
    double ratio;
    if (i < 0) {
      ratio = 0;
    } else if (i < s.N) {
      ratio = addR(s.r0, mulR(subR(1.0, s.r0), warmupGamma(s, i)));
    } else {
      double q = divR(addR(subR(i, s.N), 1.0), s.decayDen);
      q = (q < 1.0) ? q : 1.0; // std::min(1.0, q)
      double cosTerm = addR(1.0, cos(mulR(M_PI, q)));
      double x = addR(s.rc, divR(mulR(subR(1.0, s.rc), cosTerm), 2.0));
      ratio = (0.0 < x) ? x : 0.0; // std::max(0.0, x)
    }
    result = mulR(s.lr, ratio);
  }
  *out = float(result);
}

} // namespace

void runLrSchedule(KernelCall &c) {
  const auto &attrs = c.attrs<LrScheduleAttrs>();
  SchedParams s{};
  s.lr = attrs.lr;
  switch (attrs.schedule) {
  case LrScheduleKind::Constant: s.kind = kConstant; break;
  case LrScheduleKind::WarmupLR: s.kind = kWarmup; break;
  case LrScheduleKind::WarmupDecayLR: s.kind = kWarmupDecay; break;
  case LrScheduleKind::WarmupCosineLR: s.kind = kWarmupCosine; break;
  }
  if (s.kind != kConstant) {
    s.minLr = attrs.warmup_min_lr;
    s.maxLr = attrs.warmup_max_lr;
    int64_t N = lrWarmupSteps(attrs);
    s.logWarmup = attrs.warmup_type == WarmupType::Log ? 1 : 0;
    s.N = double(N);
    s.logN = std::log(double(N));
    s.T = double(attrs.total_num_steps);
    s.decayDen = lrDecaySteps(attrs);
    if (s.kind == kWarmupCosine) {
      s.r0 = attrs.warmup_min_ratio;
      s.rc = attrs.cos_min_ratio;
    }
  }
  lrScheduleKernel<<<1, 1, 0, stream(c)>>>(c.in[0].as<const int64_t>(), c.out[0].as<float>(),
                                           s);
  DS_CUDA_LAUNCH();
}

namespace {

// ============================================================ all_finite
// Three stream-ordered operations whatever the number of inputs: the descriptors (those of
// grad_norm_sq) are uploaded, out = 1, then one launch over every input's slices writes 0
// where a slice holds an element whose exponent bits are all ones (Inf or any NaN); the only
// concurrent writes are of the same value 0.
__global__ void setOneKernel(float *out) { *out = 1.0f; }

template <typename U> __device__ bool nonFinite(const void *p, int64_t i, U mask) {
  return (static_cast<const U *>(p)[i] & mask) == mask;
}

__global__ void nonFiniteKernel(const NormDesc *d, int count, float *out) {
  int64_t begin, end;
  const NormDesc &x = d[blockSlice(d, count, begin, end)];
  int bad = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    bad |= x.dtype == 0   ? nonFinite<uint32_t>(x.g, i, 0x7f800000u)
           : x.dtype == 3 ? nonFinite<uint64_t>(x.g, i, 0x7ff0000000000000ull)
           : x.dtype == 1 ? nonFinite<uint16_t>(x.g, i, uint16_t(0x7c00))
                          : nonFinite<uint16_t>(x.g, i, uint16_t(0x7f80));
  if (__syncthreads_or(bad) && threadIdx.x == 0)
    *out = 0.0f;
}

} // namespace

void runAllFinite(KernelCall &c) {
  float *out = c.out[0].as<float>();
  cudaStream_t st = stream(c);
  int blocks = 0;
  std::vector<NormDesc> d = normDescs(c, "all_finite", blocks);
  const NormDesc *dev = nullptr;
  if (!d.empty())
    dev = static_cast<const NormDesc *>(
        uploadDescriptors(c, d.data(), d.size() * sizeof(NormDesc), 0));
  setOneKernel<<<1, 1, 0, st>>>(out);
  DS_CUDA_LAUNCH();
  if (d.empty())
    return;
  nonFiniteKernel<<<unsigned(blocks), kThreads, 0, st>>>(dev, int(d.size()), out);
  DS_CUDA_LAUNCH();
}

namespace {

// ============================================================ loss_scale_update
struct LossScaleParams {
  int dynamic, consecutive, zero;
  double factor, minScale;
  int64_t window, h;
};

// One thread: reads every input before writing, so new_scale/new_counters may alias
// scale/counters.
__global__ void lossScaleKernel(const float *finite, const float *scale, const int64_t *ctr,
                                float *newScale, int64_t *newCtr, LossScaleParams q) {
  float f = *finite;
  bool overflow = !(f == f && f != 0.0f);
  double S = double(*scale);
  int64_t it = ctr[0], last = ctr[1], hy = ctr[2];
  if (q.dynamic) {
    if (overflow) {
      if (!q.zero || q.h == 1 || hy == 1) {
        // (The CPU raises an error here when zero = 1 and S is already min_scale; a device
        // kernel cannot, so S stays at max(S/f, min) = min.)
        double d = divR(S, q.factor);
        S = (d < q.minScale) ? q.minScale : d; // std::max(S / factor, minScale)
      } else {
        hy -= 1;
      }
      last = it;
    } else {
      if (q.zero && q.consecutive)
        hy = q.h;
      int64_t k = it - last - 1;
      if (k > 0 && k % q.window == 0) {
        if (q.zero && !q.consecutive)
          hy = q.h;
        S = mulR(S, q.factor);
      }
    }
  } else if (overflow) {
    last = it;
  }
  it += 1;
  *newScale = float(S);
  newCtr[0] = it;
  newCtr[1] = last;
  newCtr[2] = hy;
}

} // namespace

void runLossScaleUpdate(KernelCall &c) {
  const auto &attrs = c.attrs<LossScaleUpdateAttrs>();
  LossScaleParams q;
  q.dynamic = attrs.dynamic ? 1 : 0;
  q.factor = attrs.scale_factor;
  q.window = attrs.scale_window;
  q.h = attrs.hysteresis;
  q.consecutive = attrs.consecutive_hysteresis ? 1 : 0;
  q.minScale = attrs.min_scale;
  q.zero = attrs.zero ? 1 : 0;
  if (q.window < 1)
    fail("attribute 'scale_window' must be >= 1");
  lossScaleKernel<<<1, 1, 0, stream(c)>>>(c.in[0].as<const float>(), c.in[1].as<const float>(),
                                          c.in[2].as<const int64_t>(), c.out[0].as<float>(),
                                          c.out[1].as<int64_t>(), q);
  DS_CUDA_LAUNCH();
}

} // namespace ds::rt::cuda
