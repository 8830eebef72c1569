// Tests that softmax_cross_entropy_loss_with_grad (ds-fuse-loss-grad) has the bits of
// softmax_cross_entropy_loss and softmax_cross_entropy_loss_grad on random inputs (f32,
// bf16 and f16 scores under an f32 loss, f64; every reduction; with and without
// ignore_index, class weights and a spatial dim; i64 and i32 labels; odd sizes, and rows
// long and many enough for the thread pool), also with dscores written over the scores (in
// place), and that its checks and errors are the two kernels'.
#include "KernelTestUtil.h"

#include <string>

namespace ds::rt::test {
namespace {

using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::F64;
using ds::plan::I32;
using ds::plan::I64;

std::mt19937 &rng() {
  static std::mt19937 r(20261203);
  return r;
}

/// Labels in [0, C), about one in five replaced by -100 when `ignore` is set.
HostTensor randomLabels(DType dt, const std::vector<int64_t> &shape, int64_t C,
                        bool ignore) {
  HostTensor t(dt, shape);
  std::uniform_int_distribution<int64_t> label(0, C - 1), fifth(0, 4);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, double(ignore && fifth(rng()) == 0 ? -100 : label(rng())));
  return t;
}

struct Case {
  std::vector<int64_t> scores; // [N, C, d...]
  DType dtype;                 // the scores'; the loss and g are f32 over bf16/f16
};

TEST(LossWithGrad, BitsOfTheLossAndItsGradient) {
  const Case cases[] = {
      {{7, 13}, F32},     {{7, 13}, BF16},   {{5, 9}, F16},       {{6, 11}, F64},
      {{3, 5, 7}, F32},   {{3, 5, 7}, BF16}, {{2, 4, 3, 5}, F32}, {{33, 2049}, F32},
      {{33, 2049}, BF16}, {{300, 130}, F32}, // parallel rows
  };
  for (const Case &cs : cases)
    for (const char *red : {"mean", "sum", "none"})
      for (bool ignore : {false, true})
        for (bool weights : {false, true})
          for (DType labelType : {I64, I32}) {
            std::vector<int64_t> lshape = cs.scores;
            int64_t C = lshape[1];
            lshape.erase(lshape.begin() + 1);
            bool none = std::string(red) == "none";
            DType lossType = cs.dtype == BF16 || cs.dtype == F16 ? F32 : cs.dtype;
            std::vector<int64_t> perPosition = none ? lshape : std::vector<int64_t>{};
            HostTensor s = randomTensor(cs.dtype, cs.scores, rng(), -8, 8);
            HostTensor y = randomLabels(labelType, lshape, C, ignore);
            HostTensor w = randomTensor(cs.dtype, {C}, rng(), 0.1, 2);
            // A seed like the loss scale; per position (none) with some zeros, whose rows
            // the gradient zeroes while the loss still counts them.
            HostTensor g = randomTensor(lossType, perPosition, rng(), 0.5, 4);
            if (none)
              for (int64_t i = 0; i < g.numel(); i += 3)
                g.set(i, 0);
            Ins ins = Ins("x").s("reduction", red);
            if (ignore)
              ins.i("ignore_index", -100);
            auto named = [&](const char *kernel) {
              Ins k = ins;
              k.ins.set_kernel(kernel);
              return k;
            };
            std::vector<HostTensor *> lossIns{&s, &y}, gradIns{&g, &s, &y};
            if (weights) {
              lossIns.push_back(&w);
              gradIns.push_back(&w);
            }
            HostTensor wantLoss(lossType, perPosition), wantDs(cs.dtype, cs.scores);
            runKernel(named("softmax_cross_entropy_loss"), lossIns, {&wantLoss});
            runKernel(named("softmax_cross_entropy_loss_grad"), gradIns, {&wantDs});
            HostTensor loss(lossType, perPosition), ds(cs.dtype, cs.scores);
            runKernel(named("softmax_cross_entropy_loss_with_grad"), gradIns,
                      {&loss, &ds});
            std::string what = dtypeName(cs.dtype) + shapeString(cs.scores) + " " + red +
                               (ignore ? " ignore_index" : "") +
                               (weights ? " weights" : "") + " labels " +
                               dtypeName(labelType);
            EXPECT_EQ(loss.bytes, wantLoss.bytes) << what;
            EXPECT_EQ(ds.bytes, wantDs.bytes) << what;
            // In place (ds-fuse-loss-grad writes dscores over dying logits): the same
            // bits with dscores the scores' own bytes.
            HostTensor over = s, lossOver(lossType, perPosition);
            std::vector<HostTensor *> overIns = gradIns;
            overIns[1] = &over;
            runKernel(named("softmax_cross_entropy_loss_with_grad"), overIns,
                      {&lossOver, &over});
            EXPECT_EQ(lossOver.bytes, wantLoss.bytes) << what << " in place";
            EXPECT_EQ(over.bytes, wantDs.bytes) << what << " in place";
          }
}

TEST(LossWithGrad, LabelOutOfRangeIsTheLossError) {
  HostTensor s = randomTensor(F32, {4, 6}, rng()), g = fromValues(F32, {}, {1});
  HostTensor y = fromValues(I64, {4}, {1, 6, 0, 2}), loss(F32, {}), ds(F32, {4, 6});
  std::string want;
  try {
    runKernel(Ins("softmax_cross_entropy_loss"), {&s, &y}, {&loss});
  } catch (const Error &e) {
    want = e.what();
  }
  EXPECT_NE(want.find("label 6 at sample 1 is outside [0, 6)"), std::string::npos)
      << want;
  try {
    runKernel(Ins("softmax_cross_entropy_loss_with_grad"), {&g, &s, &y}, {&loss, &ds});
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()), want);
  }
}

TEST(LossWithGrad, Checks) {
  HostTensor g = fromValues(F32, {}, {1}), s(BF16, {4, 6}), y(I64, {4}), loss(F32, {});
  HostTensor ds(BF16, {4, 6}), gNone(F32, {4}), lossNone(F32, {4}), ds32(F32, {4, 6});
  Ins k("softmax_cross_entropy_loss_with_grad");
  EXPECT_EQ(checkKernel(k, {&g, &s, &y}, {&loss, &ds}), "");
  EXPECT_EQ(
      checkKernel(Ins(k).s("reduction", "none"), {&gNone, &s, &y}, {&lossNone, &ds}), "");
  EXPECT_NE(checkKernel(k, {&g, &s, &y}, {&loss, &ds32}).find("dscores"),
            std::string::npos);
  EXPECT_NE(checkKernel(k, {&gNone, &s, &y}, {&loss, &ds}).find("grad has shape"),
            std::string::npos);
  HostTensor loss16(BF16, {});
  EXPECT_NE(checkKernel(k, {&g, &s, &y}, {&loss16, &ds}).find("grad and loss"),
            std::string::npos);
}

} // namespace
} // namespace ds::rt::test
