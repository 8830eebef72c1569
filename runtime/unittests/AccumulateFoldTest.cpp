// Tests that the accumulating kernels ds-fold-accumulation writes (reduce_sum with acc,
// layer_norm_grad with dx_acc, or dx_acc, dscale_acc and dbias_acc) compute the bits of
// the kernel followed by the add it replaces, into another buffer and in place, in f32,
// bf16 and f16; that the plan check lets them write over their accs only; and that bad
// accs are clear errors.
#include "KernelTestUtil.h"

#include "ds/runtime/KernelCatalogue.h"

namespace ds::rt::test {
namespace {

using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::I64;

std::mt19937 &rng() {
  static std::mt19937 r(20261203);
  return r;
}

TEST(AccumulateFold, ReduceSumAccIsReduceThenAdd) {
  struct Case {
    std::vector<int64_t> shape, axes, result;
    int64_t keep;
  };
  // A bias gradient ([B, T, C] over B and T, kept), a 2-D column sum large enough for the
  // threaded blocks, a row sum, and a reduction over a size-1 dim only.
  std::vector<Case> cases{{{4, 33, 24}, {0, 1}, {1, 1, 24}, 1},
                          {{700, 72}, {0}, {72}, 0},
                          {{6, 50}, {1}, {6, 1}, 1},
                          {{1, 9}, {0}, {9}, 0}};
  for (const Case &cs : cases)
    for (DType dt : {F32, BF16, F16})
      for (bool inPlace : {false, true}) {
        HostTensor x = randomTensor(dt, cs.shape, rng());
        HostTensor acc = randomTensor(dt, cs.result, rng()), before = acc;
        Ins red = Ins("reduce_sum").ints("axes", cs.axes).i("keepdims", cs.keep);
        HostTensor sum(dt, cs.result), unfused(dt, cs.result);
        runKernel(red, {&x}, {&sum});
        runKernel(Ins("add"), {&before, &sum}, {&unfused});
        HostTensor fused(dt, cs.result);
        if (inPlace)
          runKernel(red, {&x, &acc}, {&acc});
        else
          runKernel(red, {&x, &acc}, {&fused});
        EXPECT_EQ((inPlace ? acc : fused).bytes, unfused.bytes)
            << dtypeName(dt) << " rank " << cs.shape.size()
            << (inPlace ? " in place" : "");
        if (!inPlace)
          EXPECT_EQ(acc.bytes, before.bytes) << "acc is only read";
      }
}

TEST(AccumulateFold, LayerNormGradAccsAreGradThenAdd) {
  // dx_acc alone (ZeRO-2/3: the parameter gradients go to buckets), then all three.
  for (DType dt : {F32, BF16, F16})
    for (bool params : {false, true})
      for (bool inPlace : {false, true}) {
        std::vector<int64_t> shape{2, 30, 40}, ns{40};
        HostTensor g = randomTensor(dt, shape, rng()),
                   x = randomTensor(dt, shape, rng(), -3, 3);
        HostTensor s = randomTensor(dt, ns, rng(), 0.5, 1.5),
                   res = randomTensor(dt, shape, rng());
        HostTensor accS = randomTensor(dt, ns, rng()), accB = randomTensor(dt, ns, rng());
        HostTensor beforeS = accS, beforeB = accB, beforeRes = res;
        Ins ln = Ins("layer_norm_grad").i("axis", 2).f("epsilon", 1e-5);
        HostTensor dx(dt, shape), ds(dt, ns), db(dt, ns), wantDx(dt, shape),
            wantS(dt, ns), wantB(dt, ns);
        runKernel(ln, {&g, &x, &s}, {&dx, &ds, &db});
        runKernel(Ins("add"), {&beforeRes, &dx}, {&wantDx});
        runKernel(Ins("add"), {&beforeS, &ds}, {&wantS});
        runKernel(Ins("add"), {&beforeB, &db}, {&wantB});
        HostTensor out(dt, shape), outS(dt, ns), outB(dt, ns);
        HostTensor *dxOut = inPlace ? &res : &out;
        if (params)
          runKernel(ln, {&g, &x, &s, &res, &accS, &accB},
                    {dxOut, inPlace ? &accS : &outS, inPlace ? &accB : &outB});
        else
          runKernel(ln, {&g, &x, &s, &res}, {dxOut, &outS, &outB});
        std::string what = dtypeName(dt) + (params ? " all accs" : " dx_acc") +
                           (inPlace ? " in place" : "");
        EXPECT_EQ(dxOut->bytes, wantDx.bytes) << what;
        if (params) {
          EXPECT_EQ((inPlace ? accS : outS).bytes, wantS.bytes) << what;
          EXPECT_EQ((inPlace ? accB : outB).bytes, wantB.bytes) << what;
        } else {
          EXPECT_EQ(outS.bytes, ds.bytes) << what;
          EXPECT_EQ(outB.bytes, db.bytes) << what;
        }
        if (!inPlace)
          EXPECT_EQ(res.bytes, beforeRes.bytes) << what << ": dx_acc is only read";
      }
}

TEST(AccumulateFold, InPlaceOnlyOverAccs) {
  EXPECT_FALSE(mayShareOutputBytes(KernelId::ReduceSum, true, 0));
  EXPECT_TRUE(mayShareOutputBytes(KernelId::ReduceSum, true, 1));
  for (size_t i = 0; i < 3; ++i)
    EXPECT_FALSE(mayShareOutputBytes(KernelId::LayerNormGrad, true, i)) << i;
  EXPECT_TRUE(mayShareOutputBytes(KernelId::LayerNormGrad, true, 3));
  EXPECT_TRUE(mayShareOutputBytes(KernelId::LayerNormGrad, true, 4));
  EXPECT_TRUE(mayShareOutputBytes(KernelId::LayerNormGrad, true, 5));
  EXPECT_TRUE(findKernelSignature("reduce_sum")->inPlace);
  EXPECT_FALSE(findKernelSignature("reduce_mean")->inPlace);
}

TEST(AccumulateFold, BadAccsAreErrors) {
  HostTensor x(F32, {4, 6}), r(F32, {6}), wrong(F32, {4}), half(BF16, {6});
  Ins red = Ins("reduce_sum").ints("axes", {0}).i("keepdims", 0);
  EXPECT_NE(checkKernel(red, {&x, &wrong}, {&r}).find("acc has shape"), std::string::npos)
      << checkKernel(red, {&x, &wrong}, {&r});
  EXPECT_NE(checkKernel(red, {&x, &half}, {&r}), "");
  HostTensor xi(I64, {4, 6}), ri(I64, {6});
  EXPECT_NE(checkKernel(red, {&xi, &ri}, {&ri}), "");
  EXPECT_NE(
      checkKernel(Ins("reduce_mean").ints("axes", {0}).i("keepdims", 0), {&x, &r}, {&r}),
      "");
  HostTensor g(F32, {4, 6}), s(F32, {6}), dx(F32, {4, 6}), ds(F32, {6}), db(F32, {6});
  Ins ln = Ins("layer_norm_grad").i("axis", 1);
  EXPECT_NE(checkKernel(ln, {&g, &x, &s, &ds}, {&dx, &ds, &db}).find("dx_acc"),
            std::string::npos);
  EXPECT_EQ(checkKernel(ln, {&g, &x, &s, &g}, {&dx, &ds, &db}), "");
  EXPECT_NE(checkKernel(ln, {&g, &x, &s, &g, &ds}, {&dx, &ds, &db}).find("together"),
            std::string::npos);
  EXPECT_NE(
      checkKernel(ln, {&g, &x, &s, &g, &ds, &wrong}, {&dx, &ds, &db}).find("dbias_acc"),
      std::string::npos);
  EXPECT_EQ(checkKernel(ln, {&g, &x, &s, &g, &ds, &db}, {&dx, &ds, &db}), "");
}

} // namespace
} // namespace ds::rt::test
