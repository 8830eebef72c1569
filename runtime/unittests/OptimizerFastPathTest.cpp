// The CPU optimizer kernels' vectorised, threaded loops on every instruction set against
// a plain scalar reference, bit for bit: vector tails, dtypes, thread counts, aliasing,
// skips.
#include "KernelTestUtil.h"

#include "ds/runtime/CpuIsa.h"
#include "ds/runtime/ThreadPool.h"

#include <cmath>
#include <cstring>
#include <functional>

using namespace ds::rt;
using namespace ds::rt::test;
using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::F64;
using ds::plan::I64;

namespace {

std::mt19937 &testRng() {
  static std::mt19937 r(20261201);
  return r;
}

// ---- element access as the kernels see it: f16/bf16 widened to f32, results rounded
// (RNE)

template <typename T> T load(const HostTensor &t, int64_t i);
template <> float load<float>(const HostTensor &t, int64_t i) {
  const char *p = t.bytes.data();
  switch (t.dtype) {
  case F16:
    return halfToFloat(reinterpret_cast<const uint16_t *>(p)[i]);
  case BF16:
    return bf16ToFloat(reinterpret_cast<const uint16_t *>(p)[i]);
  default:
    return reinterpret_cast<const float *>(p)[i];
  }
}
template <> double load<double>(const HostTensor &t, int64_t i) {
  return reinterpret_cast<const double *>(t.bytes.data())[i];
}
template <typename T> void store(HostTensor &t, int64_t i, T x);
template <> void store<float>(HostTensor &t, int64_t i, float x) {
  char *p = t.bytes.data();
  switch (t.dtype) {
  case F16:
    reinterpret_cast<uint16_t *>(p)[i] = floatToHalf(x);
    break;
  case BF16:
    reinterpret_cast<uint16_t *>(p)[i] = floatToBf16(x);
    break;
  default:
    reinterpret_cast<float *>(p)[i] = x;
  }
}
template <> void store<double>(HostTensor &t, int64_t i, double x) {
  reinterpret_cast<double *>(t.bytes.data())[i] = x;
}

/// Random values in [lo, hi) with, every ~50 elements, a special value: +-0, +-inf, NaN,
/// subnormals of the dtype, values near the dtype's overflow.
HostTensor values(DType dt, int64_t n, double lo, double hi, bool specials) {
  HostTensor t(dt, {n});
  std::uniform_real_distribution<double> u(lo, hi);
  std::uniform_int_distribution<int> pick(0, 49);
  double big = dt == F16 ? 65000.0 : dt == BF16 ? 3e38 : dt == F32 ? 3.4e38 : 1e308;
  double tiny = dt == F16 ? 3e-6 : dt == BF16 || dt == F32 ? 5e-39 : 1e-310;
  const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, tiny, -tiny, big, -big};
  for (int64_t i = 0; i < n; ++i) {
    int s = pick(testRng());
    t.set(i, specials && s < 9 ? special[s] : u(testRng()));
  }
  return t;
}

/// Bitwise comparison; unless anyNaN is false a NaN matches any NaN (which NaN two NaN
/// operands give depends on the operand order the compiler picks, scalar or vector).
void expectSameBits(const HostTensor &got, const HostTensor &want,
                    const std::string &what, bool anyNaN = true) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  size_t es = dtypeSize(got.dtype);
  if (std::memcmp(got.bytes.data(), want.bytes.data(), size_t(got.numel()) * es) == 0)
    return;
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (std::memcmp(got.bytes.data() + i * es, want.bytes.data() + i * es, es) == 0)
      continue;
    if (anyNaN && std::isnan(got.get(i)) && std::isnan(want.get(i)))
      continue;
    FAIL() << what << ": element " << i << " of " << got.numel() << " is " << got.get(i)
           << ", the scalar reference gives " << want.get(i);
  }
}

HostTensor scalarF32(double v) { return fromValues(F32, {}, {v}); }
HostTensor scalarI64(int64_t v) { return fromValues(I64, {}, {double(v)}); }

// ---- the scalar references: the formulas of Optimizer.cpp, one element at a time

struct AdamCfg {
  bool adamW = true, bc = true;
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01, lr = 1e-3;
  int64_t t = 3;
};

template <typename T>
void refAdam(const AdamCfg &c, const HostTensor &p, const HostTensor &g,
             const HostTensor &m, const HostTensor &v, HostTensor &np, HostTensor &nm,
             HostTensor &nv) {
  double b1 = float(c.b1), b2 = float(c.b2), eps = float(c.eps), wd = float(c.wd);
  double lr = float(c.lr);
  double bc1 = c.bc ? 1 - std::pow(b1, double(c.t)) : 1;
  double bc2 = c.bc ? 1 - std::pow(b2, double(c.t)) : 1;
  const T B1 = T(b1), B2 = T(b2), EPS = T(eps), WD = T(wd), LR = T(lr);
  const T omb1 = T(1) - B1, omb2 = T(1) - B2;
  for (int64_t i = 0; i < p.numel(); ++i) {
    T pi = load<T>(p, i), gi = load<T>(g, i), mi = load<T>(m, i), vi = load<T>(v, i);
    if (c.adamW) {
      if (wd != 0)
        pi = pi * T(1.0 - lr * wd);
      mi = mi + omb1 * (gi - mi);
      vi = B2 * vi + omb2 * gi * gi;
      T denom = std::sqrt(vi) / T(std::sqrt(bc2)) + EPS;
      pi = pi - T(lr / bc1) * (mi / denom);
    } else {
      gi = gi + WD * pi;
      mi = B1 * mi + omb1 * gi;
      vi = B2 * vi + omb2 * gi * gi;
      T update = (mi / T(bc1)) / (std::sqrt(vi / T(bc2)) + EPS);
      pi = pi - LR * update;
    }
    store<T>(np, i, pi);
    store<T>(nm, i, mi);
    store<T>(nv, i, vi);
  }
}

struct SgdCfg {
  double mu = 0.9, damp = 0.1, wd = 0.01, lr = 0.05;
  bool nesterov = false;
  int64_t t = 2;
};

template <typename T>
void refSgd(const SgdCfg &c, const HostTensor &p, const HostTensor &g,
            const HostTensor &b, HostTensor &np, HostTensor &nb) {
  double mu = float(c.mu), damp = float(c.damp), wd = float(c.wd), lr = float(c.lr);
  const T MU = T(mu), OMD = T(1.0 - damp), WD = T(wd), LR = T(lr);
  for (int64_t i = 0; i < p.numel(); ++i) {
    T pi = load<T>(p, i), gi = load<T>(g, i), bi = load<T>(b, i);
    if (wd != 0)
      gi = gi + WD * pi;
    if (mu != 0) {
      bi = c.t == 1 ? gi : MU * bi + OMD * gi;
      gi = c.nesterov ? gi + MU * bi : bi;
    }
    store<T>(np, i, pi - LR * gi);
    store<T>(nb, i, bi);
  }
}

struct LambCfg {
  bool bc = true;
  double b1 = 0.9, b2 = 0.999, eps = 1e-6, wd = 0.01, lr = 1e-2, lo = 0.01, hi = 10;
  int64_t t = 2;
};

template <typename T>
void refLamb(const LambCfg &c, const HostTensor &p, const HostTensor &g,
             const HostTensor &m, const HostTensor &v, HostTensor &np, HostTensor &nm,
             HostTensor &nv) {
  double b1 = float(c.b1), b2 = float(c.b2), eps = float(c.eps), wd = float(c.wd);
  double lr = float(c.lr), lo = float(c.lo), hi = float(c.hi);
  double bc1 = c.bc ? 1 - std::pow(b1, double(c.t)) : 1;
  double bc2 = c.bc ? 1 - std::pow(b2, double(c.t)) : 1;
  const T B1 = T(b1), B2 = T(b2), EPS = T(eps), WD = T(wd);
  int64_t n = p.numel();
  std::vector<T> u(static_cast<size_t>(n)), pv(static_cast<size_t>(n));
  double pNorm2 = 0, uNorm2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    T pi = load<T>(p, i), gi = load<T>(g, i);
    T mi = B1 * load<T>(m, i) + (T(1) - B1) * gi;
    T vi = B2 * load<T>(v, i) + (T(1) - B2) * gi * gi;
    T ui = mi / (std::sqrt(vi) + EPS) + WD * pi;
    u[size_t(i)] = ui;
    pv[size_t(i)] = pi;
    store<T>(nm, i, mi);
    store<T>(nv, i, vi);
    pNorm2 += double(pi) * double(pi);
    uNorm2 += double(ui) * double(ui);
  }
  double r = 1.0;
  if (pNorm2 > 0 && uNorm2 > 0)
    r = std::min(std::max(std::sqrt(pNorm2) / std::sqrt(uNorm2), lo), hi);
  const T scale = T(lr * std::sqrt(bc2) / bc1 * r);
  for (int64_t i = 0; i < n; ++i)
    store<T>(np, i, pv[size_t(i)] - scale * u[size_t(i)]);
}

// ---- instructions

Ins adamIns(const AdamCfg &c) {
  Ins ins("adam_update");
  ins.f("beta1", float(c.b1)).f("beta2", float(c.b2)).f("eps", float(c.eps));
  ins.f("weight_decay", float(c.wd)).i("adam_w_mode", c.adamW).i("bias_correction", c.bc);
  return ins;
}
Ins sgdIns(const SgdCfg &c) {
  Ins ins("sgd_update");
  ins.f("momentum", float(c.mu)).f("dampening", float(c.damp));
  ins.f("weight_decay", float(c.wd)).i("nesterov", c.nesterov);
  return ins;
}
Ins lambIns(const LambCfg &c) {
  Ins ins("lamb_update");
  ins.f("beta1", float(c.b1)).f("beta2", float(c.b2)).f("eps", float(c.eps));
  ins.f("weight_decay", float(c.wd))
      .f("min_coeff", float(c.lo))
      .f("max_coeff", float(c.hi));
  ins.i("bias_correction", c.bc);
  return ins;
}

/// Runs `body(isa, threads)` for every instruction set this machine runs and the thread
/// counts; restores the defaults afterwards. The pool is first sized for the most
/// threads.
void forEachIsaAndThreads(const std::vector<int> &threads,
                          const std::function<void(const std::string &, int)> &body) {
  std::string isa0 = cpuIsa();
  int threads0 = numThreads();
  for (const std::string &isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    for (int t : threads) {
      setNumThreads(t);
      body(isa, t);
      if (::testing::Test::HasFatalFailure())
        break;
    }
  }
  setCpuIsa(isa0);
  setNumThreads(threads0);
}

std::string where(const std::string &isa, int threads, DType dt, int64_t n) {
  return isa + " threads " + std::to_string(threads) + " " + dtypeName(dt) + " n " +
         std::to_string(n);
}

/// One Adam/Lamb-shaped call (p, g, m, v -> p', m', v') on every instruction set and
/// thread count, out of place and in place, against the reference `ref` (which reads the
/// inputs, sets lr and step, and writes the three expected results; run once).
template <typename Ref>
void checkMomentsKernel(const Ins &ins, DType dt, int64_t n, bool specials, Ref ref,
                        const std::vector<int> &threads, const std::string &what) {
  HostTensor p = values(dt, n, -2, 2, specials), g = values(dt, n, -2, 2, specials);
  HostTensor m = values(dt, n, -1, 1, specials), v = values(dt, n, 0, 1, specials);
  HostTensor lr = scalarF32(0), t = scalarI64(0);
  HostTensor wp(dt, {n}), wm(dt, {n}), wv(dt, {n});
  ref(p, g, m, v, wp, wm, wv, lr, t);
  forEachIsaAndThreads(threads, [&](const std::string &isa, int nt) {
    std::string at = what + " " + where(isa, nt, dt, n);
    HostTensor np(dt, {n}), nm(dt, {n}), nv(dt, {n});
    runKernel(ins, {&p, &g, &m, &v, &lr, &t}, {&np, &nm, &nv});
    expectSameBits(np, wp, at + " param");
    expectSameBits(nm, wm, at + " exp_avg");
    expectSameBits(nv, wv, at + " exp_avg_sq");
    // In place, as the plans run it: the results overwrite param and the moments.
    HostTensor ip = p, im = m, iv = v;
    runKernel(ins, {&ip, &g, &im, &iv, &lr, &t}, {&ip, &im, &iv});
    expectSameBits(ip, wp, at + " in place param");
    expectSameBits(im, wm, at + " in place exp_avg");
    expectSameBits(iv, wv, at + " in place exp_avg_sq");
  });
}

const std::vector<int64_t> kTails = {1,  2,  3,  4,  5,  7,  8,  9,
                                     15, 16, 17, 31, 33, 63, 65, 100};
const std::vector<DType> kDtypes = {F32, F16, BF16, F64};

template <typename Cfg> auto adamRef(const Cfg &c, DType dt) {
  return [c, dt](const HostTensor &p, const HostTensor &g, const HostTensor &m,
                 const HostTensor &v, HostTensor &np, HostTensor &nm, HostTensor &nv,
                 HostTensor &lr, HostTensor &t) {
    lr.set(0, c.lr);
    t.set(0, double(c.t));
    if (dt == F64)
      refAdam<double>(c, p, g, m, v, np, nm, nv);
    else
      refAdam<float>(c, p, g, m, v, np, nm, nv);
  };
}

template <typename Cfg> auto lambRef(const Cfg &c, DType dt) {
  return [c, dt](const HostTensor &p, const HostTensor &g, const HostTensor &m,
                 const HostTensor &v, HostTensor &np, HostTensor &nm, HostTensor &nv,
                 HostTensor &lr, HostTensor &t) {
    lr.set(0, c.lr);
    t.set(0, double(c.t));
    if (dt == F64)
      refLamb<double>(c, p, g, m, v, np, nm, nv);
    else
      refLamb<float>(c, p, g, m, v, np, nm, nv);
  };
}

std::vector<AdamCfg> adamConfigs() {
  std::vector<AdamCfg> out;
  for (bool adamW : {true, false})
    for (bool bc : {true, false})
      for (double wd : {0.0, 0.01}) {
        AdamCfg c;
        c.adamW = adamW;
        c.bc = bc;
        c.wd = wd;
        c.t = bc ? 7 : 1;
        out.push_back(c);
      }
  return out;
}

std::string adamName(const AdamCfg &c) {
  return std::string(c.adamW ? "adamw" : "adam") + (c.bc ? " bc" : " no-bc") + " wd " +
         std::to_string(c.wd);
}

} // namespace

TEST(OptimizerFastPath, IsaSelection) {
  std::vector<std::string> isas = supportedCpuIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.back(), "scalar");
  std::string isa0 = cpuIsa();
  for (const std::string &isa : isas) {
    setCpuIsa(isa);
    EXPECT_EQ(cpuIsa(), isa);
  }
  setCpuIsa(isa0);
  try {
    setCpuIsa("avx1024");
    FAIL() << "an unknown instruction set was accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("'avx1024' is not available"), std::string::npos)
        << e.what();
  }
}

TEST(OptimizerFastPath, AdamEveryTailDtypeAndMode) {
  for (const AdamCfg &c : adamConfigs())
    for (DType dt : kDtypes)
      for (int64_t n : kTails)
        checkMomentsKernel(adamIns(c), dt, n, true, adamRef(c, dt), {1, 2}, adamName(c));
}

TEST(OptimizerFastPath, AdamLargeAcrossThreadCounts) {
  // 1000003 elements: many chunks per thread, a tail in the last chunk, every chunk
  // boundary at an arbitrary alignment.
  AdamCfg w;
  AdamCfg a;
  a.adamW = false;
  for (DType dt : kDtypes)
    for (const AdamCfg &c : {w, a})
      checkMomentsKernel(adamIns(c), dt, 1000003, true, adamRef(c, dt), {1, 2, 3, 8},
                         adamName(c));
}

TEST(OptimizerFastPath, LambEveryTailDtypeAndThreads) {
  // Finite values: one NaN or inf would make every element's result NaN.
  for (bool bc : {true, false})
    for (double wd : {0.0, 0.01})
      for (DType dt : kDtypes)
        for (int64_t n : kTails) {
          LambCfg c;
          c.bc = bc;
          c.wd = wd;
          checkMomentsKernel(lambIns(c), dt, n, false, lambRef(c, dt), {1, 2}, "lamb");
        }
  LambCfg c;
  for (DType dt : kDtypes)
    checkMomentsKernel(lambIns(c), dt, 1000003, false, lambRef(c, dt), {1, 2, 3, 8},
                       "lamb");
}

TEST(OptimizerFastPath, SgdEveryTailDtypeAndMode) {
  std::vector<SgdCfg> cfgs;
  for (double mu : {0.0, 0.9})
    for (double wd : {0.0, 0.01})
      for (int64_t t : {1, 2}) {
        SgdCfg c;
        c.mu = mu;
        c.wd = wd;
        c.t = t;
        cfgs.push_back(c);
      }
  SgdCfg nesterov;
  nesterov.nesterov = true;
  nesterov.damp = 0;
  cfgs.push_back(nesterov);
  for (const SgdCfg &c : cfgs)
    for (DType dt : kDtypes) {
      std::vector<int64_t> sizes = kTails;
      if (c.wd != 0 || c.nesterov) // the large size for every mode with weight decay
        sizes.push_back(1000003);
      for (int64_t n : sizes) {
        std::string what = "sgd mu " + std::to_string(c.mu) + " wd " +
                           std::to_string(c.wd) + " t " + std::to_string(c.t) +
                           (c.nesterov ? " nesterov" : "");
        HostTensor p = values(dt, n, -2, 2, true), g = values(dt, n, -2, 2, true);
        HostTensor b = values(dt, n, -1, 1, true);
        HostTensor lr = scalarF32(c.lr), t = scalarI64(c.t);
        HostTensor wp(dt, {n}), wb(dt, {n});
        if (dt == F64)
          refSgd<double>(c, p, g, b, wp, wb);
        else
          refSgd<float>(c, p, g, b, wp, wb);
        std::vector<int> threads =
            n > 1000 ? std::vector<int>{1, 2, 3} : std::vector<int>{1};
        forEachIsaAndThreads(threads, [&](const std::string &isa, int nt) {
          std::string at = what + " " + where(isa, nt, dt, n);
          HostTensor np(dt, {n}), nb(dt, {n});
          runKernel(sgdIns(c), {&p, &g, &b, &lr, &t}, {&np, &nb});
          expectSameBits(np, wp, at + " param");
          expectSameBits(nb, wb, at + " buffer");
          HostTensor ip = p, ib = b;
          runKernel(sgdIns(c), {&ip, &g, &ib, &lr, &t}, {&ip, &ib});
          expectSameBits(ip, wp, at + " in place param");
          expectSameBits(ib, wb, at + " in place buffer");
        });
      }
    }
}

TEST(OptimizerFastPath, EverySixteenBitValueConverts) {
  // Every f16 and bf16 bit pattern as param and as momentum buffer (NaN payloads and
  // signs, subnormals, infinities) through an SGD step without momentum: p' = p - lr*g
  // with finite g, and the buffer converted through f32 and back. At most one NaN meets
  // each operation, so NaN results are exact too: the vector conversions against
  // DType.h's, bit for bit.
  for (DType dt : {F16, BF16}) {
    int64_t n = 65536;
    HostTensor p(dt, {n});
    for (int64_t i = 0; i < n; ++i)
      p.as<uint16_t>()[i] = uint16_t(i);
    HostTensor g = values(dt, n, -1e-3, 1e-3, false), b = p;
    for (double lr : {0.0, 0.37}) {
      SgdCfg c;
      c.mu = 0;
      c.wd = 0;
      c.lr = lr;
      HostTensor lrT = scalarF32(lr), t = scalarI64(1);
      HostTensor wp(dt, {n}), wb(dt, {n});
      refSgd<float>(c, p, g, b, wp, wb);
      forEachIsaAndThreads({1, 2}, [&](const std::string &isa, int threads) {
        HostTensor np(dt, {n}), nb(dt, {n});
        runKernel(sgdIns(c), {&p, &g, &b, &lrT, &t}, {&np, &nb});
        std::string what = "lr " + std::to_string(lr) + " " + where(isa, threads, dt, n);
        expectSameBits(np, wp, what + " param", false);
        expectSameBits(nb, wb, what + " buffer passed through", false);
      });
    }
  }
}

TEST(OptimizerFastPath, RandomF32BitPatternsRoundToSixteenBits) {
  // Random 16-bit patterns (every exponent, NaN, inf, subnormals) as param, grad and
  // momentum buffer, with small and large learning rates: the f32 results overflow to inf
  // and underflow to subnormals and zero when they are rounded back.
  for (DType dt : {F16, BF16}) {
    int64_t n = 4099;
    HostTensor p(dt, {n}), g(dt, {n}), b(dt, {n});
    std::uniform_int_distribution<int> bits(0, 0xffff);
    for (int64_t i = 0; i < n; ++i) {
      p.as<uint16_t>()[i] = uint16_t(bits(testRng()));
      g.as<uint16_t>()[i] = uint16_t(bits(testRng()));
      b.as<uint16_t>()[i] = uint16_t(bits(testRng()));
    }
    for (double lr : {1.0, 1e-3, 1e3}) {
      SgdCfg c;
      c.lr = lr;
      c.t = 2;
      HostTensor lrT = scalarF32(lr), t = scalarI64(2);
      HostTensor wp(dt, {n}), wb(dt, {n});
      refSgd<float>(c, p, g, b, wp, wb);
      forEachIsaAndThreads({1}, [&](const std::string &isa, int threads) {
        HostTensor np(dt, {n}), nb(dt, {n});
        runKernel(sgdIns(c), {&p, &g, &b, &lrT, &t}, {&np, &nb});
        std::string what = "lr " + std::to_string(lr) + " " + where(isa, threads, dt, n);
        expectSameBits(np, wp, what + " param");
        expectSameBits(nb, wb, what + " buffer");
      });
    }
  }
}

TEST(OptimizerFastPath, SkippedStepsLeaveStateBitwise) {
  // finite = 0 or NaN: results are the inputs bit for bit, out of place and in place.
  for (DType dt : kDtypes)
    for (double fin : {0.0, double(NAN)}) {
      int64_t n = 100003;
      HostTensor p = values(dt, n, -2, 2, true), g = values(dt, n, -2, 2, true);
      HostTensor m = values(dt, n, -1, 1, true), v = values(dt, n, 0, 1, true);
      HostTensor lr = scalarF32(1e-3), t = scalarI64(4), f = scalarF32(fin);
      forEachIsaAndThreads({1, 2}, [&](const std::string &isa, int threads) {
        std::string what =
            "finite " + std::to_string(fin) + " " + where(isa, threads, dt, n);
        HostTensor np(dt, {n}), nm(dt, {n}), nv(dt, {n});
        runKernel(adamIns(AdamCfg()), {&p, &g, &m, &v, &lr, &t, &f}, {&np, &nm, &nv});
        expectSameBits(np, p, what + " adam param");
        expectSameBits(nm, m, what + " adam exp_avg");
        expectSameBits(nv, v, what + " adam exp_avg_sq");
        HostTensor ip = p, im = m, iv = v;
        runKernel(lambIns(LambCfg()), {&ip, &g, &im, &iv, &lr, &t, &f}, {&ip, &im, &iv});
        expectSameBits(ip, p, what + " lamb in place param");
        expectSameBits(im, m, what + " lamb in place exp_avg");
        expectSameBits(iv, v, what + " lamb in place exp_avg_sq");
        HostTensor q(dt, {n}), b(dt, {n});
        runKernel(sgdIns(SgdCfg()), {&p, &g, &m, &lr, &t, &f}, {&q, &b});
        expectSameBits(q, p, what + " sgd param");
        expectSameBits(b, m, what + " sgd buffer");
      });
    }
}
