// Optimizer kernels: adam_update, sgd_update, lr_schedule (REFERENCE §3 and §6,
// README.md), and the mixed-precision step kernels all_finite and loss_scale_update
// (REFERENCE §5). f32/f16/bf16 tensors update in f32 arithmetic, f64 in f64; bias
// corrections, step sizes and schedules are computed in double. The element loops
// (OptimizerLoops.cpp) are vectorised per instruction set and run on the thread pool;
// 16-bit values convert inside the loop.
#include "CpuCommon.h"
#include "OptimizerLoops.h"

#include "ds/runtime/CpuIsa.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace ds::rt {
double lrScheduleValue(const LrScheduleAttrs &a, int64_t applied) {
  using Kind = LrScheduleKind;
  double lr = a.lr;
  if (a.schedule == Kind::Constant)
    return lr;
  double minLr = a.warmup_min_lr;
  double maxLr = a.warmup_max_lr;
  int64_t N = lrWarmupSteps(a);
  bool logWarmup = a.warmup_type == WarmupType::Log;
  int64_t T = a.total_num_steps;
  double i = double(applied) - 1; // step k runs with f(k - 1)
  auto warmupGamma = [&](double it) {
    return logWarmup ? std::log(it + 1) / std::log(double(N)) : it / double(N);
  };
  if (a.schedule == Kind::WarmupLR || a.schedule == Kind::WarmupDecayLR) {
    if (i < 0)
      return minLr;
    double gamma;
    if (i < double(N))
      gamma = warmupGamma(i);
    else if (a.schedule == Kind::WarmupLR)
      gamma = 1;
    else
      gamma = std::max(0.0, (double(T) - i) / lrDecaySteps(a));
    return minLr + (maxLr - minLr) * gamma;
  }
  // WarmupCosineLR
  double r0 = a.warmup_min_ratio;
  double rc = a.cos_min_ratio;
  double ratio;
  if (i < 0)
    ratio = 0;
  else if (i < double(N))
    ratio = r0 + (1 - r0) * warmupGamma(i);
  else {
    double q = std::min(1.0, (i - double(N) + 1) / lrDecaySteps(a));
    ratio = std::max(0.0, rc + (1 - rc) * (1 + std::cos(M_PI * q)) / 2);
  }
  return lr * ratio;
}
} // namespace ds::rt

namespace ds::rt::cpu {
namespace {

int64_t scalarI64(const Tensor &t) { return t.as<int64_t>()[0]; }
float scalarF32(const Tensor &t) { return t.as<float>()[0]; }

/// The element loops of the instruction set cpuIsa() names (AVX-512, AVX2, SSE2, scalar:
/// the same arithmetic, bitwise, so the choice only changes the speed).
const OptimizerLoops &optimizerLoops() {
  std::string isa = cpuIsa();
#if defined(DS_HAVE_X86_OPTIMIZER_LOOPS)
  if (isa == "avx512")
    return avx512::optimizerLoops();
  if (isa == "avx2")
    return avx2::optimizerLoops();
  if (isa == "sse2")
    return sse2::optimizerLoops();
#endif
  return scalar::optimizerLoops();
}

/// The element type of an optimizer call (its check makes every operand the same).
ElemKind elemKind(const Tensor &t) {
  switch (t.dtype) {
  case ds::plan::F32:
    return ElemKind::F32;
  case ds::plan::F16:
    return ElemKind::F16;
  case ds::plan::BF16:
    return ElemKind::BF16;
  case ds::plan::F64:
    return ElemKind::F64;
  default:
    fail("internal error: optimizer kernel on ", dtypeName(t.dtype), " tensors");
  }
}

/// Operands p, g, state1, state2 -> p', state1', state2' (nState = 1 for SGD, 2 for
/// Adam).
OptimizerOperands optimizerOperands(KernelCall &c, int nState) {
  OptimizerOperands o{c.in[0].data,  c.in[1].data,  c.in[2].data, nullptr,
                      c.out[0].data, c.out[1].data, nullptr};
  if (nState == 2) {
    o.v = c.in[3].data;
    o.nv = c.out[2].data;
  }
  return o;
}

/// The optional trailing `finite` operand (f32 scalar): a step is applied iff it is present
/// and nonzero (NaN counts as not finite), or absent.
bool stepApplies(const KernelCall &c, size_t arityWithout) {
  if (c.in.size() <= arityWithout)
    return true;
  float f = scalarF32(c.in[arityWithout]);
  return f == f && f != 0;
}

/// A skipped step: out[k] = in[inputOf[k]] bit for bit (nothing to do when aliased).
void passThrough(KernelCall &c, std::initializer_list<size_t> inputOf) {
  size_t k = 0;
  for (size_t i : inputOf) {
    const Tensor &src = c.in[i], &dst = c.out[k++];
    if (src.data != dst.data)
      std::memmove(dst.data, src.data, size_t(src.numel) * dtypeSize(src.dtype));
  }
}

/// The hyper-parameters adam_update and lamb_update share, with the bias corrections of
/// step t (1 when bias_correction is off), in double.
struct MomentsStep {
  double b1, b2, eps, wd, lr, bc1 = 1, bc2 = 1;
  int64_t t;
  template <typename Attrs>
  MomentsStep(const KernelCall &c, const Attrs &a)
      : MomentsStep(a, scalarF32(c.in[4]), scalarI64(c.in[5])) {}
  template <typename Attrs>
  MomentsStep(const Attrs &a, float lrValue, int64_t step)
      : b1(a.beta1), b2(a.beta2), eps(a.eps), wd(a.weight_decay), lr(lrValue), t(step) {
    if (t < 1)
      fail("step ", t, " must be >= 1 (the step counter is 1-based)");
    if (a.bias_correction) {
      bc1 = 1 - std::pow(b1, double(t));
      bc2 = 1 - std::pow(b2, double(t));
    }
  }
};

} // namespace

// DeepSpeed FusedAdam semantics. Adam mode (adam_w_mode = 0) is FusedAdam's formula verbatim:
//   g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr*((m/bc1)/(sqrt(v/bc2)+eps)).
// AdamW mode (the default) is evaluated in torch.optim.AdamW's form, which equals FusedAdam's
// `p -= lr*((m/bc1)/(sqrt(v/bc2)+eps) + wd*p)` in exact arithmetic but rounds like torch, so
// that trajectories match the torch references:
//   p *= 1 - lr*wd; m += (1-b1)*(g-m); v = b2*v + (1-b2)*g^2;
//   p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps).
void runAdamUpdate(KernelCall &c) {
  if (!stepApplies(c, 6)) // overflow: p, m, v unchanged
    return passThrough(c, {0, 2, 3});
  const auto &attrs = c.attrs<AdamUpdateAttrs>();
  MomentsStep h(c, attrs);
  AdamCoeffs k{h.b1, h.b2, h.eps, h.wd, h.lr, h.bc1, h.bc2};
  const OptimizerLoops &loops = optimizerLoops();
  auto loop = attrs.adam_w_mode ? loops.adamW : loops.adam;
  ElemKind kind = elemKind(c.in[0]);
  OptimizerOperands o = optimizerOperands(c, 2);
  parallelFor(c.in[0].numel, kGrain,
              [&](int64_t b, int64_t e) { loop(kind, o, k, b, e); });
}

// multi_adam_update: runAdamUpdate on `count` parameters in one call (operand layout in
// KernelCatalogue.def), each gradient read in its 16-bit or f32 storage and multiplied by
// the grad scales in order (f32 products, as the mul kernels did), the new master also
// written rounded to the gradient's dtype (the working copy, as the cast kernel did) and
// the gradient zeroed (as the copy of a zero constant did): per element the arithmetic of
// the kernels it replaces, bit for bit. A skipped step (finite 0 or NaN) leaves master and
// moments and still writes the working copy and the zeros, as those kernels did. The
// threads split the concatenated elements of all parameters by size (kGrain), never by
// thread count.
void runMultiAdamUpdate(KernelCall &c) {
  const auto &attrs = c.attrs<MultiAdamUpdateAttrs>();
  size_t n = size_t(attrs.count);
  size_t firstScale = 2 + (attrs.finite ? 1 : 0);
  size_t first = firstScale + size_t(attrs.grad_scales);
  size_t outsEach = 3 + (attrs.working_copy ? 1 : 0) + (attrs.zero_grads ? 1 : 0);
  bool apply = !attrs.finite || stepApplies(c, 2);
  std::vector<float> scales;
  for (size_t k = firstScale; k < first; ++k)
    scales.push_back(scalarF32(c.in[k]));
  AdamCoeffs k{};
  if (apply) {
    MomentsStep h(attrs, scalarF32(c.in[0]), scalarI64(c.in[1]));
    k = AdamCoeffs{h.b1, h.b2, h.eps, h.wd, h.lr, h.bc1, h.bc2};
  }
  ElemKind kind = elemKind(c.in[first + 1]);
  std::vector<AdamGroupOperands> ops(n);
  std::vector<int64_t> offsets(n + 1, 0); // element offsets of the parameters
  for (size_t i = 0; i < n; ++i) {
    const Tensor *in = &c.in[first + 4 * i];
    Tensor *out = &c.out[outsEach * i];
    AdamGroupOperands &o = ops[i];
    o = {in[0].as<float>(), in[2].as<float>(), in[3].as<float>(), in[1].data,
         out[0].as<float>(), out[1].as<float>(), out[2].as<float>(),
         attrs.working_copy ? out[3].data : nullptr,
         attrs.zero_grads ? out[outsEach - 1].data : nullptr};
    offsets[i + 1] = offsets[i] + in[0].numel;
    if (!apply) // p, m, v pass through bit for bit (nothing to do in place)
      for (int j = 0; j < 3; ++j)
        if (in[j == 0 ? 0 : j + 1].data != out[j].data)
          std::memmove(out[j].data, in[j == 0 ? 0 : j + 1].data,
                       size_t(in[0].numel) * sizeof(float));
  }
  AdamGroupStep step{attrs.adam_w_mode, apply, scales.data(), int(scales.size())};
  const OptimizerLoops &loops = optimizerLoops();
  parallelFor(offsets[n], kGrain, [&](int64_t b, int64_t e) {
    size_t i = size_t(std::upper_bound(offsets.begin(), offsets.end(), b) - offsets.begin()) - 1;
    for (; i < n && offsets[i] < e; ++i) {
      int64_t lo = std::max(b, offsets[i]) - offsets[i];
      int64_t hi = std::min(e, offsets[i + 1]) - offsets[i];
      if (lo < hi)
        loops.adamGroup(kind, step, ops[i], k, lo, hi);
    }
  });
}

// grad_norm_sq: g0..gn (f32, f16, bf16, f64) -> f32 scalar. What the per-gradient chain it
// replaces computed: per gradient, f32(g)^2 rounded to f32, summed in f64 in index order
// and rounded to f32 (reduce_sum over all axes), then those sums added in f32 in operand
// order. The gradients are summed in parallel, each on one thread, so the result does not
// depend on the thread count.
void runMultiAdd(KernelCall &c) {
  for (size_t i = 0; i < c.out.size(); ++i)
    accumulate(c.in[2 * i], c.in[2 * i + 1], c.out[i]);
}

void runGradNormSq(KernelCall &c) {
  size_t n = c.in.size();
  std::vector<float> sums(n);
  parallelFor(int64_t(n), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const Tensor &g = c.in[size_t(i)];
      double a = 0;
      auto add = [&](float x) {
        float sq = x * x;
        a += double(sq);
      };
      switch (g.dtype) {
      case ds::plan::F32:
        for (int64_t k = 0; k < g.numel; ++k)
          add(g.as<float>()[k]);
        break;
      case ds::plan::F16:
        for (int64_t k = 0; k < g.numel; ++k)
          add(halfToFloat(g.as<uint16_t>()[k]));
        break;
      case ds::plan::BF16:
        for (int64_t k = 0; k < g.numel; ++k)
          add(bf16ToFloat(g.as<uint16_t>()[k]));
        break;
      case ds::plan::F64: // cast to f32 first, as the chain did
        for (int64_t k = 0; k < g.numel; ++k)
          add(float(g.as<double>()[k]));
        break;
      default:
        fail("internal error: grad_norm_sq of a ", dtypeName(g.dtype), " tensor");
      }
      sums[size_t(i)] = float(a);
    }
  });
  float total = sums[0];
  for (size_t i = 1; i < n; ++i)
    total = total + sums[i];
  c.out[0].as<float>()[0] = total;
}

// DeepSpeed FusedLamb semantics (REFERENCE §3), the whole buffer being one tensor:
//   m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; u = m/(sqrt(v)+eps) + wd*p;
//   r = |p|/|u| clamped to [min_coeff, max_coeff] (1 if either norm is 0);
//   p -= lr*(sqrt(bc2)/bc1)*r*u. Norms in double.
// Three passes: the moments (threads), both norms (one thread: the double sums are added
// in index order, so the result does not depend on the thread count), the update
// (threads). u is recomputed from the stored moments in passes 2 and 3 (f32 scratch
// moments for f16/bf16 tensors, converted into the results at the end).
void runLambUpdate(KernelCall &c) {
  if (!stepApplies(c, 6)) // overflow: p, m, v unchanged
    return passThrough(c, {0, 2, 3});
  const auto &attrs = c.attrs<LambUpdateAttrs>();
  MomentsStep h(c, attrs);
  AdamCoeffs k{h.b1, h.b2, h.eps, h.wd, h.lr, h.bc1, h.bc2};
  double minCoeff = attrs.min_coeff;
  double maxCoeff = attrs.max_coeff;
  int64_t n = c.in[0].numel;
  const OptimizerLoops &loops = optimizerLoops();
  ElemKind kind = elemKind(c.in[0]);
  OptimizerOperands o = optimizerOperands(c, 2);
  std::vector<float> mScratch, vScratch;
  bool scratch = kind == ElemKind::F16 || kind == ElemKind::BF16;
  if (scratch) {
    mScratch.resize(size_t(n));
    vScratch.resize(size_t(n));
    o.nm = mScratch.data();
    o.nv = vScratch.data();
  }
  parallelFor(n, kGrain,
              [&](int64_t b, int64_t e) { loops.lambMoments(kind, o, k, b, e); });
  double pNorm2 = 0, uNorm2 = 0;
  loops.lambNorms(kind, o, k, 0, n, pNorm2, uNorm2);
  double r = 1.0;
  if (pNorm2 > 0 && uNorm2 > 0)
    r = std::min(std::max(std::sqrt(pNorm2) / std::sqrt(uNorm2), minCoeff), maxCoeff);
  double scale = h.lr * std::sqrt(h.bc2) / h.bc1 * r;
  parallelFor(n, kGrain,
              [&](int64_t b, int64_t e) { loops.lambApply(kind, o, k, scale, b, e); });
  if (scratch) {
    storeF32(mScratch.data(), c.out[1]);
    storeF32(vScratch.data(), c.out[2]);
  }
}

// torch.optim.SGD: g += wd*p; with momentum mu != 0: buf = g on step 1 (t == 1), else
// buf = mu*buf + (1-dampening)*g; g = g + mu*buf (nesterov) or buf; p -= lr*g.
// With mu == 0 the buffer is passed through unchanged.
void runSgdUpdate(KernelCall &c) {
  if (!stepApplies(c, 5)) // overflow: p, buf unchanged
    return passThrough(c, {0, 2});
  const auto &attrs = c.attrs<SgdUpdateAttrs>();
  double mu = attrs.momentum, damp = attrs.dampening;
  double wd = attrs.weight_decay;
  bool nesterov = attrs.nesterov;
  double lr = scalarF32(c.in[3]);
  int64_t t = scalarI64(c.in[4]);
  if (t < 1)
    fail("step ", t, " must be >= 1 (the step counter is 1-based)");
  SgdCoeffs k{mu, damp, wd, lr, t == 1, nesterov};
  const OptimizerLoops &loops = optimizerLoops();
  ElemKind kind = elemKind(c.in[0]);
  OptimizerOperands o = optimizerOperands(c, 1);
  parallelFor(c.in[0].numel, kGrain,
              [&](int64_t b, int64_t e) { loops.sgd(kind, o, k, b, e); });
}


// lr_schedule: applied (i64 scalar k) -> lr (f32 scalar) = f(k - 1), see lrScheduleValue.
void runLrSchedule(KernelCall &c) {
  int64_t k = scalarI64(c.in[0]);
  if (k < 0)
    fail("applied step count ", k, " is negative");
  c.out[0].as<float>()[0] = float(lrScheduleValue(c.attrs<LrScheduleAttrs>(), k));
}

// all_finite: x0..xn (any float types and shapes) -> f32 scalar 1 if every element is finite,
// else 0. Exponent-bit tests, so NaN payloads and signaling NaNs count too.
void runAllFinite(KernelCall &c) {
  std::atomic<bool> ok{true};
  for (const Tensor &t : c.in) {
    if (!ok.load(std::memory_order_relaxed))
      break;
    parallelFor(t.numel, kGrain, [&](int64_t b, int64_t e) {
      if (!ok.load(std::memory_order_relaxed))
        return;
      bool good = true;
      switch (t.dtype) {
      case ds::plan::F32: {
        const uint32_t *p = t.as<uint32_t>();
        for (int64_t i = b; i < e; ++i)
          good &= (p[i] & 0x7f800000u) != 0x7f800000u;
        break;
      }
      case ds::plan::F64: {
        const uint64_t *p = t.as<uint64_t>();
        for (int64_t i = b; i < e; ++i)
          good &= (p[i] & 0x7ff0000000000000ull) != 0x7ff0000000000000ull;
        break;
      }
      default: {
        const uint16_t *p = t.as<uint16_t>();
        uint16_t mask = t.dtype == ds::plan::F16 ? 0x7c00 : 0x7f80;
        for (int64_t i = b; i < e; ++i)
          good &= (p[i] & mask) != mask;
      }
      }
      if (!good)
        ok.store(false, std::memory_order_relaxed);
    });
  }
  c.out[0].as<float>()[0] = ok.load() ? 1.0f : 0.0f;
}

// loss_scale_update: finite f32[], scale f32[], counters i64[3] = {it, last, hy}
//   -> new_scale f32[], new_counters i64[3]. DeepSpeed's update (REFERENCE §5):
// zero = 1 (ZeRO 1-3 DynamicLossScaler): overflow: if h == 1 or hy == 1, raise at min else
//   S = max(S/f, min); otherwise hy -= 1; then last = it. Clean: consecutive ? hy = h;
//   k = it - last - 1; if k > 0 and k % w == 0: S *= f and (not consecutive) hy = h.
// zero = 0 (stage-0 FP16_Optimizer): overflow: S = max(S/f, min), last = it; clean: the same
//   doubling rule; hy is never read or changed.
// dynamic = 0: S unchanged (last = it on overflow). Always it += 1 afterwards.
// The counters start as {0, -1, hysteresis} (the INIT program writes them).
void runLossScaleUpdate(KernelCall &c) {
  const auto &attrs = c.attrs<LossScaleUpdateAttrs>();
  bool dynamic = attrs.dynamic;
  double factor = attrs.scale_factor;
  int64_t window = attrs.scale_window;
  int64_t h = attrs.hysteresis;
  bool consecutive = attrs.consecutive_hysteresis;
  double minScale = attrs.min_scale;
  bool zero = attrs.zero;

  float f = scalarF32(c.in[0]);
  bool overflow = !(f == f && f != 0);
  double S = double(scalarF32(c.in[1]));
  const int64_t *ctr = c.in[2].as<int64_t>();
  int64_t it = ctr[0], last = ctr[1], hy = ctr[2];
  if (it < 0 || last < -1 || last >= it)
    fail("loss-scale counters {iteration ", it, ", last_overflow_iteration ", last,
         ", hysteresis_left ", hy, "} are not valid (INIT must write {0, -1, hysteresis})");
  if (dynamic && zero && (hy < 1 || hy > h))
    fail("loss-scale counter hysteresis_left ", hy, " is outside [1, ", h,
         "] (INIT must write {0, -1, hysteresis})");
  if (!(S > 0) || std::isinf(S))
    fail("loss scale ", S, " is not a positive finite number");

  if (dynamic) {
    if (overflow) {
      if (!zero || h == 1 || hy == 1) {
        if (zero && float(S) == float(minScale))
          fail("loss scale is already at min_loss_scale (", S,
               ") and the gradients overflowed again");
        S = std::max(S / factor, minScale);
      } else {
        hy -= 1;
      }
      last = it;
    } else {
      if (zero && consecutive)
        hy = h;
      int64_t k = it - last - 1;
      if (k > 0 && k % window == 0) {
        if (zero && !consecutive)
          hy = h;
        S *= factor;
      }
    }
  } else if (overflow) {
    last = it;
  }
  it += 1;

  c.out[0].as<float>()[0] = float(S);
  int64_t *out = c.out[1].as<int64_t>();
  out[0] = it;
  out[1] = last;
  out[2] = hy;
}

} // namespace ds::rt::cpu
