// Tests that gemm's bias gradient (db, ds-fuse-bias-grad) has the bits of the reduce_sum it
// replaces on random inputs (f32, bf16, f16; db over op(a) or op(b), transposed or not; a
// [B, T, C] output gradient summed over B and T against the gemm's [B*T, C] view), leaves
// the product's bits alone, that multi_add has the bits of one add per pair, and that bad
// operands are clear errors.
#include "KernelTestUtil.h"

#include "ds/runtime/GemmBiasGrad.h"
#include "ds/runtime/KernelCatalogue.h"

namespace ds::rt::test {
namespace {

using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;

std::mt19937 &rng() {
  static std::mt19937 r(20261203);
  return r;
}

/// `t`'s bytes seen with another shape (a dsrt.view).
HostTensor viewed(const HostTensor &t, std::vector<int64_t> shape) {
  HostTensor v(t.dtype, std::move(shape));
  v.bytes = t.bytes;
  return v;
}

TEST(GemmBiasGrad, DbIsReduceSumOfTheContraction) {
  // M x N results with K rows of reduction: small, and K large enough for the pool's
  // parallel blocks of the reduction and of the product.
  struct Size {
    int64_t m, n, k;
  };
  for (Size sz : {Size{5, 3, 8}, Size{24, 40, 700}, Size{130, 70, 1030}})
    for (DType dt : {F32, BF16, F16})
      for (bool reducesA : {true, false})
        for (bool transposed : {false, true})
          for (bool accumulate : {false, true}) {
            // The reduced operand as ds-fuse-bias-grad meets it: [K, *] (op() reads it as
            // dyT for a, dy for b), or its transpose [*, K].
            bool ta = reducesA ? !transposed : false, tb = reducesA ? false : transposed;
            std::vector<int64_t> as = ta ? std::vector<int64_t>{sz.k, sz.m}
                                         : std::vector<int64_t>{sz.m, sz.k};
            std::vector<int64_t> bs = tb ? std::vector<int64_t>{sz.n, sz.k}
                                         : std::vector<int64_t>{sz.k, sz.n};
            HostTensor a = randomTensor(dt, as, rng()), b = randomTensor(dt, bs, rng());
            HostTensor c = randomTensor(dt, {sz.m, sz.n}, rng()), c0 = c;
            int64_t len = reducesA ? sz.m : sz.n;
            Ins gemm = Ins("gemm").i("trans_a", ta).i("trans_b", tb);
            // Reference: the product alone, and reduce_sum over the operand's k dim.
            HostTensor want(dt, {sz.m, sz.n}), wantDb(dt, {len});
            if (accumulate) {
              want = c0;
              runKernel(gemm, {&a, &b, &want}, {&want});
            } else {
              runKernel(gemm, {&a, &b}, {&want});
            }
            const HostTensor &x = reducesA ? a : b;
            bool kIsDim0 = reducesA ? ta : !tb;
            runKernel(Ins("reduce_sum").ints("axes", {kIsDim0 ? 0 : 1}).i("keepdims", 0),
                      {const_cast<HostTensor *>(&x)}, {&wantDb});
            HostTensor r(dt, {sz.m, sz.n}), db(dt, {len});
            Ins fused = Ins("gemm").i("trans_a", ta).i("trans_b", tb).s("bias_grad",
                                                                         reducesA ? "a" : "b");
            if (accumulate)
              runKernel(fused, {&a, &b, &c}, {&c, &db});
            else
              runKernel(fused, {&a, &b}, {&r, &db});
            std::string what = dtypeName(dt) + (reducesA ? " db of a" : " db of b") +
                               (transposed ? " transposed" : "") +
                               (accumulate ? " accumulating" : "") + " K " +
                               std::to_string(sz.k);
            EXPECT_EQ(db.bytes, wantDb.bytes) << what;
            EXPECT_EQ((accumulate ? c : r).bytes, want.bytes) << what;
          }
}

TEST(GemmBiasGrad, ThreeDimensionalOutputGradient) {
  // GPT-2's c_proj: dy [B, T, C] summed over B and T by reduce_sum, the weight gradient's
  // gemm reading it as [B*T, C] with trans_a.
  for (DType dt : {F32, BF16}) {
    HostTensor dy3 = randomTensor(dt, {4, 300, 48}, rng()), x = randomTensor(dt, {1200, 20}, rng());
    HostTensor g = randomTensor(dt, {48}, rng()), gw = randomTensor(dt, {48, 20}, rng());
    HostTensor wantG = g, wantW = gw;
    runKernel(Ins("reduce_sum").ints("axes", {0, 1}).i("keepdims", 0), {&dy3, &wantG},
              {&wantG});
    HostTensor dy = viewed(dy3, {1200, 48});
    runKernel(Ins("gemm").i("trans_a", 1), {&dy, &x, &wantW}, {&wantW});
    HostTensor db(dt, {48});
    runKernel(Ins("gemm").i("trans_a", 1).s("bias_grad", "a"), {&dy, &x, &gw}, {&gw, &db});
    runKernel(Ins("multi_add"), {&g, &db}, {&g});
    EXPECT_EQ(g.bytes, wantG.bytes) << dtypeName(dt);
    EXPECT_EQ(gw.bytes, wantW.bytes) << dtypeName(dt);
  }
}

TEST(GemmBiasGrad, MultiAddIsOneAddPerPair) {
  for (DType dt : {F32, BF16, F16}) {
    std::vector<std::vector<int64_t>> shapes{{7}, {40000}, {3, 5}};
    std::vector<HostTensor> acc, x, want, out;
    for (const auto &s : shapes) {
      acc.push_back(randomTensor(dt, s, rng()));
      x.push_back(randomTensor(dt, s, rng()));
      want.emplace_back(dt, s);
      runKernel(Ins("add"), {&acc.back(), &x.back()}, {&want.back()});
      out.emplace_back(dt, s);
    }
    // Pair 0 and 2 in place, pair 1 into another buffer.
    std::vector<HostTensor> before = acc;
    runKernel(Ins("multi_add"), {&acc[0], &x[0], &acc[1], &x[1], &acc[2], &x[2]},
              {&acc[0], &out[1], &acc[2]});
    EXPECT_EQ(acc[0].bytes, want[0].bytes) << dtypeName(dt);
    EXPECT_EQ(out[1].bytes, want[1].bytes) << dtypeName(dt);
    EXPECT_EQ(acc[1].bytes, before[1].bytes) << dtypeName(dt) << ": acc 1 is only read";
    EXPECT_EQ(acc[2].bytes, want[2].bytes) << dtypeName(dt);
  }
}

TEST(GemmBiasGrad, InPlaceOnlyOverAccs) {
  EXPECT_TRUE(mayShareOutputBytes(KernelId::MultiAdd, true, 0));
  EXPECT_FALSE(mayShareOutputBytes(KernelId::MultiAdd, true, 1));
  EXPECT_TRUE(mayShareOutputBytes(KernelId::MultiAdd, true, 2));
  EXPECT_FALSE(mayShareOutputBytes(KernelId::MultiAdd, true, 3));
}

TEST(GemmBiasGrad, EpilogueLayouts) {
  // The layouts NVIDIA's users run through BGRADA/BGRADB: the reduced operand [K, *].
  EXPECT_TRUE(gemmBiasGradInEpilogue(true, true, false, true, 1.0));
  EXPECT_TRUE(gemmBiasGradInEpilogue(false, false, false, true, 1.0));
  EXPECT_FALSE(gemmBiasGradInEpilogue(true, false, false, true, 1.0));
  EXPECT_FALSE(gemmBiasGradInEpilogue(false, false, true, true, 1.0));
  EXPECT_FALSE(gemmBiasGradInEpilogue(true, true, false, false, 1.0)) << "f32: fallback";
  EXPECT_FALSE(gemmBiasGradInEpilogue(true, true, false, true, 0.5)) << "alpha: fallback";
}

TEST(GemmBiasGrad, BadOperandsAreErrors) {
  HostTensor a(F32, {8, 3}), b(F32, {8, 5}), r(F32, {3, 5}), db(F32, {3}), dbWrong(F32, {5}),
      dbHalf(BF16, {3});
  Ins gemm = Ins("gemm").i("trans_a", 1);
  auto has = [](const std::string &err, const char *what) {
    return err.find(what) != std::string::npos;
  };
  std::string e = checkKernel(Ins("gemm").i("trans_a", 1).s("bias_grad", "a"), {&a, &b},
                              {&r, &dbWrong});
  EXPECT_TRUE(has(e, "db")) << e;
  e = checkKernel(gemm, {&a, &b}, {&r, &db});
  EXPECT_TRUE(has(e, "bias_grad")) << e;
  e = checkKernel(Ins("gemm").i("trans_a", 1).s("bias_grad", "a"), {&a, &b}, {&r});
  EXPECT_TRUE(has(e, "db")) << e;
  e = checkKernel(Ins("gemm").i("trans_a", 1).s("bias_grad", "a"), {&a, &b}, {&r, &dbHalf});
  EXPECT_NE(e, "");
  e = checkKernel(Ins("gemm").i("trans_a", 1).s("bias_grad", "c"), {&a, &b}, {&r, &db});
  EXPECT_NE(e, "");
  HostTensor x(F32, {3}), y(F32, {4}), h(BF16, {3});
  EXPECT_NE(checkKernel(Ins("multi_add"), {&x, &x, &x}, {&x}), "");
  EXPECT_NE(checkKernel(Ins("multi_add"), {&x, &y}, {&x}), "");
  EXPECT_NE(checkKernel(Ins("multi_add"), {&x, &x, &h, &h}, {&x, &h}), "");
  std::vector<HostTensor> many(size_t(2 * kMaxMultiAddTensors + 2), HostTensor(F32, {3}));
  std::vector<HostTensor *> ins, outs;
  for (size_t i = 0; i < many.size(); ++i)
    (i % 2 ? outs : ins).push_back(&many[i]);
  ins.insert(ins.end(), outs.begin(), outs.end());
  e = checkKernel(Ins("multi_add"), ins, outs);
  EXPECT_TRUE(has(e, "at most")) << e;
}

} // namespace
} // namespace ds::rt::test
