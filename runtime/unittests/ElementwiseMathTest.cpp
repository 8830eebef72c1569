// Tests the f32 math of the CPU elementwise kernels (lib/cpu/ElementwiseLoops.cpp)
// through the kernels themselves, on every instruction set this processor runs: exp, erf
// and tanh within 1 ulp of libm's double result rounded to f32 over a sweep of every
// 4099th float and the special values (+-0, +-inf, NaN, subnormals, the overflow and
// saturation edges); sigmoid, gelu and gelu_grad against their formulas in double; every
// instruction set bitwise equal to the scalar build; the kernels in place equal to out of
// place; reduce_sum's f64 column sums of f32 rows equal on every instruction set; the
// erf-form gelu loops, which evaluate erf's polynomials per run of blocks, bitwise equal to
// the formula over the erf and exp kernels element by element. Built with
// -ffp-contract=off: the f32 formulas here round as the loops' do.
#include "KernelTestUtil.h"

#include "../lib/cpu/GeluFormulas.h"

#include "ds/runtime/CpuIsa.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

namespace ds::rt::test {
namespace {

using ds::plan::F32;

float fromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t bitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

/// Distance in representable floats (0 for two NaNs; +0 and -0 are 0 apart).
int64_t ulpDistance(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  auto ordered = [](float f) {
    int64_t i = int32_t(bitsOf(f));
    return i < 0 ? int64_t(INT32_MIN) - i : i;
  };
  return std::llabs(ordered(a) - ordered(b));
}

/// The special values and edges, then every 4099th bit pattern (both signs, all
/// exponents).
std::vector<float> sweepInputs() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {
      0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
      -std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
      -std::numeric_limits<float>::denorm_min(), fromBits(0x007fffff),
      fromBits(0x807fffff), std::numeric_limits<float>::min(),
      std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
      // exp: the last finite result, the first infinite, the subnormal
      // results, the last nonzero
      88.72283f, 88.72284f, -87.33654f, -87.33655f, -100.0f, -103.972f, -103.973f,
      -104.0f, -160.0f, -161.0f, 160.0f, 161.0f,
      // erf: the polynomial boundaries and saturation; tanh: its series
      // boundary and saturation
      1.0f, std::nextafter(1.0f, 0.0f), 0.5f, std::nextafter(0.5f, 0.0f), 3.92f, 4.0f,
      4.0001f, 9.0f, 9.1f, 10.0f, 10.5f, 1e-20f, -1e-20f};
  for (uint64_t b = 0; b < (uint64_t(1) << 32); b += 4099)
    v.push_back(fromBits(uint32_t(b)));
  return v;
}

HostTensor runUnary(const std::string &op, const std::vector<float> &xs) {
  HostTensor x(F32, {int64_t(xs.size())}), r(F32, {int64_t(xs.size())});
  std::memcpy(x.bytes.data(), xs.data(), xs.size() * 4);
  runKernel(Ins(op), {&x}, {&r});
  return r;
}

const std::vector<std::pair<std::string, std::function<double(double)>>> kMath = {
    {"exp", [](double v) { return std::exp(v); }},
    {"erf", [](double v) { return std::erf(v); }},
    {"tanh", [](double v) { return std::tanh(v); }},
};

// Tests that exp, erf and tanh are within 1 ulp of libm's double result rounded to f32 on
// every instruction set, with NaN for NaN and the sign of zero kept.
TEST(ElementwiseMath, WithinOneUlpOfLibm) {
  IsaScope scope;
  std::vector<float> xs = sweepInputs();
  for (const std::string &isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    for (const auto &[op, ref] : kMath) {
      HostTensor r = runUnary(op, xs);
      int64_t worst = 0, atOne = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        float got = r.as<float>()[i], want = float(ref(double(xs[i])));
        int64_t d = ulpDistance(got, want);
        ASSERT_LE(d, 1) << isa << " " << op << "(" << std::hexfloat << xs[i]
                        << ") = " << got << ", libm " << want;
        if (want == 0.0f && got == 0.0f)
          ASSERT_EQ(std::signbit(got), std::signbit(want))
              << isa << " " << op << "(" << std::hexfloat << xs[i] << ")";
        worst = std::max(worst, d);
        atOne += d == 1;
      }
      // Rounded from double within 1e-10: a result 1 ulp away is the rare near-halfway
      // case.
      EXPECT_LT(atOne, int64_t(xs.size() / 1000)) << isa << " " << op;
    }
  }
}

// Tests that every instruction set computes the scalar build's bits for each math kernel,
// gelu_grad included, and that in place (output = input) equals out of place.
TEST(ElementwiseMath, EveryIsaBitwiseEqual) {
  IsaScope scope;
  std::vector<float> xs = sweepInputs();
  for (int i = 0; i < 100000; ++i) // the range that matters for activations
    xs.push_back(float(-12.0 + 24.0 * i / 100000.0));
  const int64_t n = int64_t(xs.size());
  std::vector<float> gs(xs.size());
  for (size_t i = 0; i < gs.size(); ++i)
    gs[i] = float(std::sin(double(i))) * 3.0f;
  struct Run {
    Ins ins;
    bool grad;
  };
  std::vector<std::pair<std::string, Run>> runs = {
      {"exp", {Ins("exp"), false}},
      {"erf", {Ins("erf"), false}},
      {"tanh", {Ins("tanh"), false}},
      {"sigmoid", {Ins("sigmoid"), false}},
      {"gelu", {Ins("gelu"), false}},
      {"gelu tanh", {Ins("gelu").s("approximate", "tanh"), false}},
      {"gelu_grad", {Ins("gelu_grad"), true}},
      {"gelu_grad tanh", {Ins("gelu_grad").s("approximate", "tanh"), true}},
  };
  for (auto &[name, run] : runs) {
    std::vector<uint8_t> reference;
    for (const std::string &isa : supportedCpuIsas()) {
      setCpuIsa(isa);
      HostTensor x(F32, {n}), g(F32, {n}), r(F32, {n});
      std::memcpy(x.bytes.data(), xs.data(), size_t(n) * 4);
      std::memcpy(g.bytes.data(), gs.data(), size_t(n) * 4);
      if (run.grad)
        runKernel(run.ins, {&g, &x}, {&r});
      else
        runKernel(run.ins, {&x}, {&r});
      std::vector<uint8_t> bytes(r.bytes.begin(), r.bytes.begin() + n * 4);
      if (reference.empty())
        reference = bytes;
      else
        ASSERT_EQ(std::memcmp(bytes.data(), reference.data(), bytes.size()), 0)
            << name << ": " << isa << " differs from " << supportedCpuIsas().front();
      // In place: the output is x, the (last) input.
      if (run.grad)
        runKernel(run.ins, {&g, &x}, {&x});
      else
        runKernel(run.ins, {&x}, {&x});
      ASSERT_EQ(std::memcmp(x.bytes.data(), reference.data(), size_t(n) * 4), 0)
          << name << " in place, " << isa;
    }
  }
}

/// Inputs in blocks of 16 elements (the gelu loops' block) of each kind the loops tell
/// apart, in varied orders: every erf argument below 1 (S), none (L; B: none, but all
/// below 2, C: below 1.5, where the series is near the fit but not equal), a mix (M),
/// arguments at 1 (E: |x| around sqrt 2), NaN and infinities among small values (N); then
/// a tail of 7, no whole block.
std::vector<float> geluBlockInputs() {
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> small(-1.41f, 1.41f), large(1.42f, 7.0f),
      above(1.42f, 2.8f), near(1.42f, 2.12f);
  std::bernoulli_distribution coin;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v;
  for (const char *p = "SSSSMSSLLLLLSMMSSSSSSESNSSLSSBSSSMMMMSLSSCSSSSNLLEMSBBSSCCS"; *p; ++p)
    for (int k = 0; k < 16; ++k) {
      float x = small(gen);
      if (*p == 'B' || *p == 'C')
        x = (coin(gen) ? 1.0f : -1.0f) * (*p == 'B' ? above(gen) : near(gen));
      else if (*p == 'L' || (*p == 'M' && coin(gen)))
        x = coin(gen) ? large(gen) : -large(gen);
      else if (*p == 'E')
        x = (k % 2 ? -1.0f : 1.0f) * fromBits(bitsOf(1.41421356f) - 4 + uint32_t(k / 2));
      else if (*p == 'N' && k % 5 == 2)
        x = k == 2 ? std::numeric_limits<float>::quiet_NaN() : k == 7 ? inf : -inf;
      v.push_back(x);
    }
  for (float x : {0.5f, -3.0f, 1.0f, 2.5f, -0.25f, 1.5f, 0.0f})
    v.push_back(x);
  return v;
}

/// GeluFormulas' Math over the erf and exp kernels: first recording each argument (the
/// formulas' own), then replaying the kernels' results for them in the same order.
struct KernelMath {
  static inline std::vector<float> erfArgs, expArgs, erfs, exps;
  static inline size_t nextErf = 0, nextExp = 0;
  static inline bool replay = false;
  static float erf(float a) { return replay ? erfs[nextErf++] : (erfArgs.push_back(a), 0.0f); }
  static float exp(float a) { return replay ? exps[nextExp++] : (expArgs.push_back(a), 0.0f); }
  static float tanh(float) { return 0.0f; }
};

// Tests that the erf-form gelu and gelu_grad kernels (which evaluate only the series part
// of erf for runs of blocks whose arguments are all below 1) compute, on every
// instruction set and in place, the bits of their formulas over the erf and exp kernels
// (branch-free: both erf polynomials for every element) element by element (NaN for NaN:
// EveryIsaBitwiseEqual compares the NaNs' bits between instruction sets).
TEST(ElementwiseMath, GeluErfRunsEqualElementwise) {
  IsaScope scope;
  std::vector<float> xs = geluBlockInputs();
  const int64_t n = int64_t(xs.size());
  std::vector<float> gs(xs.size());
  for (size_t i = 0; i < gs.size(); ++i)
    gs[i] = float(std::cos(double(i))) * 2.0f;
  for (const std::string &isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    KernelMath::erfArgs.clear();
    KernelMath::expArgs.clear();
    KernelMath::replay = false;
    for (float x : xs) {
      cpu::geluErf<KernelMath>(x);
      cpu::geluErfDeriv<KernelMath>(x);
    }
    HostTensor erfs = runUnary("erf", KernelMath::erfArgs);
    HostTensor exps = runUnary("exp", KernelMath::expArgs);
    KernelMath::erfs.assign(erfs.as<float>(), erfs.as<float>() + erfs.numel());
    KernelMath::exps.assign(exps.as<float>(), exps.as<float>() + exps.numel());
    KernelMath::nextErf = KernelMath::nextExp = 0;
    KernelMath::replay = true;
    std::vector<float> wantGelu, wantGrad;
    for (size_t i = 0; i < xs.size(); ++i) {
      wantGelu.push_back(cpu::geluErf<KernelMath>(xs[i]));
      wantGrad.push_back(gs[i] * cpu::geluErfDeriv<KernelMath>(xs[i]));
    }
    for (bool grad : {false, true})
      for (bool inPlace : {false, true}) {
        HostTensor x(F32, {n}), g(F32, {n}), r(F32, {n});
        std::memcpy(x.bytes.data(), xs.data(), size_t(n) * 4);
        std::memcpy(g.bytes.data(), gs.data(), size_t(n) * 4);
        HostTensor &out = inPlace ? x : r;
        if (grad)
          runKernel(Ins("gelu_grad"), {&g, &x}, {&out});
        else
          runKernel(Ins("gelu"), {&x}, {&out});
        const std::vector<float> &want = grad ? wantGrad : wantGelu;
        for (int64_t i = 0; i < n; ++i) {
          float got = out.as<float>()[i], w = want[size_t(i)];
          if (std::isnan(w)) { // NaN's sign follows operand order, which compilers choose
            ASSERT_TRUE(std::isnan(got)) << isa << " at " << i;
            continue;
          }
          ASSERT_EQ(bitsOf(got), bitsOf(w))
              << isa << (grad ? " gelu_grad" : " gelu") << (inPlace ? " in place" : "")
              << " at " << i << ": x = " << std::hexfloat << xs[size_t(i)];
        }
      }
  }
}

// Tests sigmoid, gelu and gelu_grad (erf and tanh forms) against their formulas evaluated
// in double: the f32 formulas over 1-ulp functions stay within a few ulp (relative 1e-6,
// or 1e-6 absolute near zeros of the result).
TEST(ElementwiseMath, FormulasMatchDouble) {
  const double k = std::sqrt(2 / M_PI), a = 0.044715;
  auto gelu = [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); };
  auto geluTanh = [&](double x) {
    return 0.5 * x * (1 + std::tanh(k * (x + a * x * x * x)));
  };
  auto geluGrad = [](double x) {
    return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
           x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
  };
  auto geluTanhGrad = [&](double x) {
    double t = std::tanh(k * (x + a * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * a * x * x);
  };
  std::vector<float> xs;
  for (int i = 0; i <= 40000; ++i)
    xs.push_back(float(-20.0 + 40.0 * i / 40000.0));
  const int64_t n = int64_t(xs.size());
  HostTensor x(F32, {n}), g(F32, {n}), r(F32, {n});
  std::memcpy(x.bytes.data(), xs.data(), size_t(n) * 4);
  for (int64_t i = 0; i < n; ++i)
    g.as<float>()[i] = 1.0f;
  auto check = [&](const std::string &what, const std::function<double(double)> &f) {
    for (int64_t i = 0; i < n; ++i) {
      double want = f(double(xs[size_t(i)])), got = r.get(i);
      ASSERT_NEAR(got, want, 1e-6 * std::max(1.0, std::fabs(want)))
          << what << "(" << xs[size_t(i)] << ")";
    }
  };
  runKernel(Ins("sigmoid"), {&x}, {&r});
  check("sigmoid", [](double v) { return 1 / (1 + std::exp(-v)); });
  runKernel(Ins("gelu"), {&x}, {&r});
  check("gelu", gelu);
  runKernel(Ins("gelu").s("approximate", "tanh"), {&x}, {&r});
  check("gelu tanh", geluTanh);
  runKernel(Ins("gelu_grad"), {&g, &x}, {&r});
  check("gelu_grad", geluGrad);
  runKernel(Ins("gelu_grad").s("approximate", "tanh"), {&g, &x}, {&r});
  check("gelu_grad tanh", geluTanhGrad);
}

// Tests that the f32 arithmetic kernels compute each element's IEEE result, bit for bit,
// whichever path their operand shapes take (same shape, a bias row, a scalar, a column:
// the vector loops or the scalar broadcast loop), out of place and in place.
TEST(ElementwiseMath, BinaryF32EveryBroadcastPath) {
  const std::vector<int64_t> shape = {3, 37, 70}; // > one 1024-element chunk, no multiple
  std::mt19937 gen(7);
  const std::vector<std::pair<std::string, std::function<float(float, float)>>> ops = {
      {"add", [](float x, float y) { return x + y; }},
      {"sub", [](float x, float y) { return x - y; }},
      {"mul", [](float x, float y) { return x * y; }},
      {"div", [](float x, float y) { return x / y; }},
      {"max", [](float x, float y) { return x != x   ? x
                                            : y != y ? y
                                                     : (x > y ? x : y); }},
      {"min", [](float x, float y) { return x != x   ? x
                                            : y != y ? y
                                                     : (x < y ? x : y); }},
  };
  for (const std::vector<int64_t> &bshape :
       {shape, std::vector<int64_t>{70}, std::vector<int64_t>{},
        std::vector<int64_t>{37, 1}})
    for (const auto &[op, f] : ops)
      for (bool inPlace : {false, true}) {
        HostTensor a = randomTensor(F32, shape, gen, -3, 3),
                   b = randomTensor(F32, bshape, gen, -3, 3);
        a.as<float>()[5] = std::numeric_limits<float>::quiet_NaN();
        HostTensor want(F32, shape), r(F32, shape);
        std::vector<int64_t> bst(shape.size(), 0); // b's strides in the result shape
        for (size_t d = 0, k = shape.size() - bshape.size(), st = 1; d < bshape.size();
             ++d) {
          size_t bd = bshape.size() - 1 - d;
          bst[k + bd] = bshape[bd] == 1 ? 0 : int64_t(st);
          st *= size_t(bshape[bd]);
        }
        for (int64_t i = 0; i < want.numel(); ++i) {
          int64_t rem = i, off = 0;
          for (size_t d = shape.size(); d-- > 0;) {
            off += (rem % shape[d]) * bst[d];
            rem /= shape[d];
          }
          want.as<float>()[i] = f(a.as<float>()[i], b.as<float>()[off]);
        }
        HostTensor &out = inPlace ? a : r;
        runKernel(Ins(op), {&a, &b}, {&out});
        ASSERT_EQ(
            std::memcmp(out.bytes.data(), want.bytes.data(), size_t(want.numel()) * 4), 0)
            << op << " with b of rank " << bshape.size() << (inPlace ? ", in place" : "");
      }
}

// Tests that reduce_sum and reduce_mean over a tensor's leading dim (column sums of f32 rows
// in f64, ElementwiseLoops' accumulateRow: a gemm's db) give the index-order f64 sums'
// bits on every instruction set, over values of many magnitudes.
TEST(ElementwiseMath, ColumnSumsEveryIsaBitwiseEqual) {
  IsaScope scope;
  const int64_t rows = 37, cols = 1003;
  HostTensor x(F32, {rows, cols});
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, std::sin(double(i)) * std::pow(2.0, double(i % 41) - 20));
  for (bool mean : {false, true}) {
    std::vector<float> want(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < rows; ++i)
        acc += double(x.as<float>()[i * cols + j]);
      want[size_t(j)] = float(mean ? acc / double(rows) : acc);
    }
    for (const std::string &isa : supportedCpuIsas()) {
      setCpuIsa(isa);
      HostTensor r(F32, {cols});
      runKernel(Ins(mean ? "reduce_mean" : "reduce_sum").ints("axes", {0}).i("keepdims", 0),
                {&x}, {&r});
      EXPECT_EQ(std::memcmp(r.bytes.data(), want.data(), want.size() * 4), 0)
          << (mean ? "reduce_mean " : "reduce_sum ") << isa;
    }
  }
}

} // namespace
} // namespace ds::rt::test
