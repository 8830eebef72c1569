// The multi-tensor optimizer kernels (multi_adam_update, grad_norm_sq) against the
// per-parameter kernel chains they replace, bit for bit, on random inputs: every
// instruction set, several thread counts, f32/bf16/f16 gradients, with and without loss
// scale and clipping scales, skipped steps.
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
  static std::mt19937 r(20261202);
  return r;
}

HostTensor scalarF32(double v) { return fromValues(F32, {}, {v}); }
HostTensor scalarI64(int64_t v) { return fromValues(I64, {}, {double(v)}); }

void expectSameBits(const HostTensor &got, const HostTensor &want, const std::string &what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  size_t es = dtypeSize(got.dtype);
  for (int64_t i = 0; i < got.numel(); ++i)
    if (std::memcmp(got.bytes.data() + i * es, want.bytes.data() + i * es, es) != 0 &&
        !(std::isnan(got.get(i)) && std::isnan(want.get(i))))
      FAIL() << what << ": element " << i << " of " << got.numel() << " is " << got.get(i)
             << ", the per-parameter kernels give " << want.get(i);
}

/// Runs body(isa, threads) for every instruction set of this machine and 1 and 3 threads.
void forEachIsaAndThreads(const std::function<void(const std::string &, int)> &body) {
  std::string isa0 = cpuIsa();
  int threads0 = numThreads();
  setNumThreads(3);
  for (const std::string &isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    for (int t : {1, 3}) {
      setNumThreads(t);
      body(isa, t);
      if (::testing::Test::HasFatalFailure())
        break;
    }
  }
  setCpuIsa(isa0);
  setNumThreads(threads0);
}

/// One parameter's state: f32 master (or parameter) and moments, the gradient in the
/// group's dtype, and the working copy.
struct Param {
  HostTensor p, g, m, v, w;
  Param(DType kind, std::vector<int64_t> shape)
      : p(randomTensor(F32, shape, testRng(), -1, 1)),
        g(randomTensor(kind, shape, testRng(), -400, 400)),
        m(randomTensor(F32, shape, testRng(), -0.1, 0.1)),
        v(randomTensor(F32, shape, testRng(), 0, 0.01)), w(kind, shape) {}
};

struct Case {
  DType kind;
  bool adamW;
  std::vector<double> scales; // multiplied into each gradient in order
  int finite;                 // -1 absent, else its value
  bool zero;
};

Ins adamIns(const std::string &kernel, bool adamW) {
  Ins k(kernel);
  k.f("beta1", 0.9).f("beta2", 0.999).f("eps", 1e-8).f("weight_decay", 0.01);
  k.i("adam_w_mode", adamW).i("bias_correction", 1);
  return k;
}

/// What the per-parameter kernels of the plan compute: cast, mul per scale, adam_update,
/// cast to the working copy, the gradient zeroed.
void perParameter(const Case &c, Param &x, HostTensor &lr, HostTensor &t, HostTensor &fin,
                  std::vector<HostTensor> &scales) {
  HostTensor g(F32, x.g.shape);
  if (c.kind == F32)
    g = x.g;
  else
    runKernel(Ins("cast"), {&x.g}, {&g});
  for (HostTensor &s : scales) {
    HostTensor r(F32, g.shape);
    runKernel(Ins("mul"), {&g, &s}, {&r});
    g = r;
  }
  std::vector<HostTensor *> in{&x.p, &g, &x.m, &x.v, &lr, &t};
  if (c.finite >= 0)
    in.push_back(&fin);
  runKernel(adamIns("adam_update", c.adamW), in, {&x.p, &x.m, &x.v});
  if (c.kind != F32)
    runKernel(Ins("cast"), {&x.p}, {&x.w});
  if (c.zero)
    std::memset(x.g.bytes.data(), 0, size_t(x.g.type.bytes));
}

void checkCase(const Case &c) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {37}, {3, 300}, {70001}, {5}};
  HostTensor lr = scalarF32(1e-3), t = scalarI64(3), fin = scalarF32(c.finite);
  std::vector<HostTensor> scales;
  for (double s : c.scales)
    scales.push_back(scalarF32(s));
  std::vector<Param> start;
  for (const auto &s : shapes)
    start.emplace_back(c.kind, s);
  std::vector<Param> want = start;
  for (Param &x : want)
    perParameter(c, x, lr, t, fin, scales);

  Ins k = adamIns("multi_adam_update", c.adamW);
  k.i("count", int64_t(shapes.size())).i("finite", c.finite >= 0);
  k.i("grad_scales", int64_t(scales.size())).i("working_copy", c.kind != F32);
  k.i("zero_grads", c.zero);
  std::string what = std::string(dtypeName(c.kind)) + (c.adamW ? " adamw" : " adam") +
                     " scales " + std::to_string(c.scales.size()) + " finite " +
                     std::to_string(c.finite) + (c.zero ? " zeroing" : "");
  forEachIsaAndThreads([&](const std::string &isa, int threads) {
    std::vector<Param> got = start;
    std::vector<HostTensor *> in{&lr, &t}, out;
    if (c.finite >= 0)
      in.push_back(&fin);
    for (HostTensor &s : scales)
      in.push_back(&s);
    for (Param &x : got) { // in place, as the plan runs it
      in.insert(in.end(), {&x.p, &x.g, &x.m, &x.v});
      out.insert(out.end(), {&x.p, &x.m, &x.v});
      if (c.kind != F32)
        out.push_back(&x.w);
      if (c.zero)
        out.push_back(&x.g);
    }
    runKernel(k, in, out);
    std::string where = what + " " + isa + " threads " + std::to_string(threads);
    for (size_t i = 0; i < got.size(); ++i) {
      std::string at = where + " param " + std::to_string(i);
      expectSameBits(got[i].p, want[i].p, at + " master");
      expectSameBits(got[i].m, want[i].m, at + " exp_avg");
      expectSameBits(got[i].v, want[i].v, at + " exp_avg_sq");
      expectSameBits(got[i].g, want[i].g, at + " grad");
      if (c.kind != F32)
        expectSameBits(got[i].w, want[i].w, at + " working copy");
    }
  });
}

// Tests that multi_adam_update equals the per-parameter chain bit for bit for 16-bit and
// f32 gradients, AdamW and Adam, with the unscale and clip multiplies and without.
TEST(MultiTensorOptimizer, AdamMatchesPerParameterKernels) {
  for (DType kind : {BF16, F16, F32})
    for (bool adamW : {true, false})
      for (auto scales : {std::vector<double>{}, std::vector<double>{1.0 / 1024},
                          std::vector<double>{1.0 / 65536, 0.37}})
        checkCase({kind, adamW, scales, -1, true});
}

// Tests that finite = 1 applies the step and finite = 0 skips it (master and moments
// unchanged) while still writing the working copy and zeroing the gradient, and that a
// group without zeroing leaves the gradient alone.
TEST(MultiTensorOptimizer, AdamFiniteAndZeroing) {
  for (DType kind : {BF16, F16})
    for (int finite : {1, 0}) {
      checkCase({kind, true, {1.0 / 128}, finite, true});
      checkCase({kind, true, {1.0 / 128}, finite, false});
    }
  checkCase({F32, true, {}, 0, false});
}

// Tests that the load-time check names what is wrong with a group's operands.
TEST(MultiTensorOptimizer, AdamCheck) {
  Param x(BF16, {4});
  HostTensor lr = scalarF32(1e-3), t = scalarI64(1);
  Ins k = adamIns("multi_adam_update", true);
  k.i("count", 1).i("working_copy", 1);
  EXPECT_EQ(checkKernel(k, {&lr, &t, &x.p, &x.g, &x.m, &x.v}, {&x.p, &x.m, &x.v, &x.w}), "");
  EXPECT_NE(checkKernel(k, {&lr, &t, &x.p, &x.g, &x.m, &x.v}, {&x.p, &x.m, &x.v})
                .find("needs 6 inputs and 4 outputs"),
            std::string::npos);
  HostTensor wrong(F16, {4});
  EXPECT_NE(checkKernel(k, {&lr, &t, &x.p, &x.g, &x.m, &x.v}, {&x.p, &x.m, &x.v, &wrong})
                .find("must be bf16"),
            std::string::npos);
  Ins noCopy = adamIns("multi_adam_update", true);
  noCopy.i("count", 1);
  EXPECT_NE(checkKernel(noCopy, {&lr, &t, &x.p, &x.g, &x.m, &x.v}, {&x.p, &x.m, &x.v})
                .find("needs its working copy"),
            std::string::npos);
}

// Tests that grad_norm_sq equals the chain it replaces (cast to f32, mul, reduce_sum over
// all axes, adds in operand order) bit for bit, for every float dtype and thread count.
TEST(MultiTensorOptimizer, GradNormMatchesPerGradientKernels) {
  for (DType dt : {BF16, F16, F32, F64}) {
    std::vector<HostTensor> grads;
    for (const std::vector<int64_t> &s :
         std::vector<std::vector<int64_t>>{{}, {1000}, {7, 13}, {70001}, {3}})
      grads.push_back(randomTensor(dt, s, testRng(), -30, 30));
    HostTensor want(F32, {});
    for (size_t i = 0; i < grads.size(); ++i) {
      HostTensor g(F32, grads[i].shape);
      if (dt == F32)
        g = grads[i];
      else
        runKernel(Ins("cast"), {&grads[i]}, {&g});
      HostTensor sq(F32, g.shape), sum(F32, {});
      runKernel(Ins("mul"), {&g, &g}, {&sq});
      runKernel(Ins("reduce_sum").i("keepdims", 0), {&sq}, {&sum});
      if (i == 0) {
        want = sum;
      } else {
        HostTensor r(F32, {});
        runKernel(Ins("add"), {&want, &sum}, {&r});
        want = r;
      }
    }
    forEachIsaAndThreads([&](const std::string &isa, int threads) {
      HostTensor got(F32, {});
      std::vector<HostTensor *> in;
      for (HostTensor &g : grads)
        in.push_back(&g);
      runKernel(Ins("grad_norm_sq"), in, {&got});
      expectSameBits(got, want,
                     std::string(dtypeName(dt)) + " " + isa + " threads " +
                         std::to_string(threads));
    });
  }
}

} // namespace
