// Optimizer kernels: adam_update, sgd_update, lr_schedule (REFERENCE §3 and §6, README.md).
// f32/f16/bf16 tensors update in f32 arithmetic, f64 in f64; bias corrections, step sizes
// and schedules are computed in double.
#include "CpuCommon.h"

#include <cmath>

namespace ds::rt::cpu {
namespace {

int64_t scalarI64(const Tensor &t) { return t.as<int64_t>()[0]; }
float scalarF32(const Tensor &t) { return t.as<float>()[0]; }

/// Calls body(p, g, s1, s2 | nullptr, np, ns1, ns2 | nullptr) with T = double for f64 and
/// float otherwise (f16/bf16 staged). `nState` is 1 (SGD) or 2 (Adam).
template <typename Body> void optimizerCall(KernelCall &c, int nState, Body body) {
  int nIn = 2 + nState;
  if (c.in[0].dtype == ds::plan::F64) {
    const double *in[4] = {nullptr, nullptr, nullptr, nullptr};
    double *out[3] = {nullptr, nullptr, nullptr};
    for (int i = 0; i < nIn; ++i)
      in[i] = c.in[size_t(i)].as<double>();
    for (int i = 0; i < 1 + nState; ++i)
      out[i] = c.out[size_t(i)].as<double>();
    body(in, out);
    return;
  }
  std::vector<float> tin[4], tout[3];
  const float *in[4] = {nullptr, nullptr, nullptr, nullptr};
  float *out[3] = {nullptr, nullptr, nullptr};
  for (int i = 0; i < nIn; ++i)
    in[i] = asF32(c.in[size_t(i)], tin[i]);
  for (int i = 0; i < 1 + nState; ++i)
    out[i] = outF32(c.out[size_t(i)], tout[i]);
  body(in, out);
  for (int i = 0; i < 1 + nState; ++i)
    storeF32(out[i], c.out[size_t(i)]);
}

} // namespace

// DeepSpeed FusedAdam semantics. Adam mode (adam_w_mode = 0) is FusedAdam's formula verbatim:
//   g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr*((m/bc1)/(sqrt(v/bc2)+eps)).
// AdamW mode (the default) is evaluated in torch.optim.AdamW's form, which equals FusedAdam's
// `p -= lr*((m/bc1)/(sqrt(v/bc2)+eps) + wd*p)` in exact arithmetic but rounds like torch, so
// that trajectories match the torch references:
//   p *= 1 - lr*wd; m += (1-b1)*(g-m); v = b2*v + (1-b2)*g^2;
//   p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps).
void runAdamUpdate(KernelCall &c) {
  double b1 = attrFloat(c.ins, "beta1"), b2 = attrFloat(c.ins, "beta2");
  double eps = attrFloat(c.ins, "eps"), wd = attrFloat(c.ins, "weight_decay");
  bool adamW = attrInt(c.ins, "adam_w_mode") != 0;
  bool biasCorrection = attrInt(c.ins, "bias_correction") != 0;
  double lr = scalarF32(c.in[4]);
  int64_t t = scalarI64(c.in[5]);
  if (t < 1)
    fail("step ", t, " must be >= 1 (the step counter is 1-based)");
  double bc1 = 1, bc2 = 1;
  if (biasCorrection) {
    bc1 = 1 - std::pow(b1, double(t));
    bc2 = 1 - std::pow(b2, double(t));
  }
  int64_t n = c.in[0].numel;
  optimizerCall(c, 2, [&](auto in, auto out) {
    using T = std::remove_const_t<std::remove_pointer_t<std::remove_reference_t<decltype(in[0])>>>;
    const T *p = in[0], *g = in[1], *m = in[2], *v = in[3];
    T *np = out[0], *nm = out[1], *nv = out[2];
    const T B1 = T(b1), B2 = T(b2), EPS = T(eps), WD = T(wd), LR = T(lr);
    const T omb1 = T(1) - B1, omb2 = T(1) - B2;
    if (adamW) {
      const T decay = T(1.0 - lr * wd);
      const T stepSize = T(lr / bc1);
      const T bc2Sqrt = T(std::sqrt(bc2));
      parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          T gi = g[i], mi = m[i], vi = v[i], pi = p[i];
          if (wd != 0)
            pi = pi * decay;
          mi = mi + omb1 * (gi - mi);
          vi = B2 * vi + omb2 * gi * gi;
          T denom = std::sqrt(vi) / bc2Sqrt + EPS;
          np[i] = pi - stepSize * (mi / denom);
          nm[i] = mi;
          nv[i] = vi;
        }
      });
    } else {
      const T BC1 = T(bc1), BC2 = T(bc2);
      parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          T gi = g[i], mi = m[i], vi = v[i], pi = p[i];
          gi = gi + WD * pi;
          mi = B1 * mi + omb1 * gi;
          vi = B2 * vi + omb2 * gi * gi;
          T update = (mi / BC1) / (std::sqrt(vi / BC2) + EPS);
          np[i] = pi - LR * update;
          nm[i] = mi;
          nv[i] = vi;
        }
      });
    }
  });
}

// torch.optim.SGD: g += wd*p; with momentum mu != 0: buf = g on step 1 (t == 1), else
// buf = mu*buf + (1-dampening)*g; g = g + mu*buf (nesterov) or buf; p -= lr*g.
// With mu == 0 the buffer is passed through unchanged.
void runSgdUpdate(KernelCall &c) {
  double mu = attrFloat(c.ins, "momentum"), damp = attrFloat(c.ins, "dampening");
  double wd = attrFloat(c.ins, "weight_decay");
  bool nesterov = attrInt(c.ins, "nesterov") != 0;
  double lr = scalarF32(c.in[3]);
  int64_t t = scalarI64(c.in[4]);
  if (t < 1)
    fail("step ", t, " must be >= 1 (the step counter is 1-based)");
  bool first = t == 1;
  int64_t n = c.in[0].numel;
  optimizerCall(c, 1, [&](auto in, auto out) {
    using T = std::remove_const_t<std::remove_pointer_t<std::remove_reference_t<decltype(in[0])>>>;
    const T *p = in[0], *g = in[1], *buf = in[2];
    T *np = out[0], *nb = out[1];
    const T MU = T(mu), OMD = T(1.0 - damp), WD = T(wd), LR = T(lr);
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T pi = p[i], gi = g[i], bi = buf[i];
        if (wd != 0)
          gi = gi + WD * pi;
        if (mu != 0) {
          bi = first ? gi : MU * bi + OMD * gi;
          gi = nesterov ? gi + MU * bi : bi;
        }
        np[i] = pi - LR * gi;
        nb[i] = bi;
      }
    });
  });
}

static double lrScheduleValue(const Instruction &ins, int64_t applied) {
  std::string sched = attrString(ins, "schedule", "");
  double lr = attrFloat(ins, "lr");
  if (sched == "constant")
    return lr;
  double minLr = attrFloat(ins, "warmup_min_lr", 0.0);
  double maxLr = attrFloat(ins, "warmup_max_lr", 0.001);
  int64_t N = std::max<int64_t>(2, attrInt(ins, "warmup_num_steps", 1000));
  bool logWarmup = attrString(ins, "warmup_type", "log") == "log";
  int64_t T = attrInt(ins, "total_num_steps", 0);
  double i = double(applied) - 1; // step k runs with f(k - 1)
  auto warmupGamma = [&](double it) {
    return logWarmup ? std::log(it + 1) / std::log(double(N)) : it / double(N);
  };
  if (sched == "WarmupLR" || sched == "WarmupDecayLR") {
    if (i < 0)
      return minLr;
    double gamma;
    if (i < double(N))
      gamma = warmupGamma(i);
    else if (sched == "WarmupLR")
      gamma = 1;
    else
      gamma = std::max(0.0, (double(T) - i) / std::max(1.0, double(T - N)));
    return minLr + (maxLr - minLr) * gamma;
  }
  if (sched == "WarmupCosineLR") {
    double r0 = attrFloat(ins, "warmup_min_ratio", 0.0);
    double rc = attrFloat(ins, "cos_min_ratio", 0.0001);
    double ratio;
    if (i < 0)
      ratio = 0;
    else if (i < double(N))
      ratio = r0 + (1 - r0) * warmupGamma(i);
    else {
      double q = std::min(1.0, (i - double(N) + 1) / std::max(1.0, double(T - N)));
      ratio = std::max(0.0, rc + (1 - rc) * (1 + std::cos(M_PI * q)) / 2);
    }
    return lr * ratio;
  }
  fail("unknown schedule '", sched, "'");
}

// lr_schedule: applied (i64 scalar k) -> lr (f32 scalar) = f(k - 1), see lrScheduleValue.
void runLrSchedule(KernelCall &c) {
  int64_t k = scalarI64(c.in[0]);
  if (k < 0)
    fail("applied step count ", k, " is negative");
  c.out[0].as<float>()[0] = float(lrScheduleValue(c.ins, k));
}

} // namespace ds::rt::cpu
