// NaN and +-Inf through each CPU kernel family, against what PyTorch returns for the same input.
#include "KernelTestUtil.h"

#include <cmath>
#include <limits>

using namespace ds::rt;
using namespace ds::rt::test;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::F64;

namespace {

const double kNan = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

/// Same value: both NaN, the same infinity, or finite and within tol (relative to 1 + |want|).
void expectSame(const HostTensor &got, const std::vector<double> &want, const std::string &what,
                double tol = 1e-6) {
  ASSERT_EQ(got.numel(), int64_t(want.size())) << what;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.get(i), w = want[size_t(i)];
    bool same = std::isnan(w)   ? std::isnan(g)
                : std::isinf(w) ? g == w
                                : std::isfinite(g) && std::fabs(g - w) <= tol * (1 + std::fabs(w));
    EXPECT_TRUE(same) << what << ": element " << i << " got " << g << " want " << w;
  }
}

// Inputs of the unary cases: NaN, +inf, -inf, -0, 1.
const std::vector<double> kX = {kNan, kInf, -kInf, -0.0, 1.0};

// torch.<op>(torch.tensor([nan, inf, -inf, -0., 1.])), float32.
struct UnaryCase {
  const char *op;
  std::vector<double> want;
};
const std::vector<UnaryCase> kUnary = {
    {"relu", {kNan, kInf, 0, 0, 1}},
    {"neg", {kNan, -kInf, kInf, 0, -1}},
    {"sqrt", {kNan, kInf, kNan, 0, 1}},
    {"exp", {kNan, kInf, 0, 1, std::exp(1.0)}},
    {"log", {kNan, kInf, kNan, -kInf, 0}},
    {"tanh", {kNan, 1, -1, 0, std::tanh(1.0)}},
    {"erf", {kNan, 1, -1, 0, std::erf(1.0)}},
    {"sigmoid", {kNan, 1, 0, 0.5, 1 / (1 + std::exp(-1.0))}},
    {"identity", {kNan, kInf, -kInf, 0, 1}},
    // torch.nn.functional.gelu: x * 0.5 * (1 + erf(x / sqrt 2)); -inf * 0 is NaN.
    {"gelu", {kNan, kInf, kNan, 0, 0.5 * (1 + std::erf(M_SQRT1_2))}},
};

} // namespace

TEST(NonFiniteKernels, Unary) {
  for (auto dt : {F32, F64, F16})
    for (const UnaryCase &c : kUnary) {
      HostTensor x = fromValues(dt, {5}, kX), r(dt, {5});
      runKernel(Ins(c.op), {&x}, {&r});
      expectSame(r, c.want, std::string(c.op) + " " + dtypeName(dt), dt == F16 ? 2e-3 : 1e-6);
    }
  // gelu(approximate="tanh"): 0.5 x (1 + tanh(...)); -inf gives -inf * 0 = NaN as well.
  HostTensor x = fromValues(F32, {5}, kX), r(F32, {5});
  runKernel(Ins("gelu").s("approximate", "tanh"), {&x}, {&r});
  double k = std::sqrt(2 / M_PI);
  expectSame(r, {kNan, kInf, kNan, 0, 0.5 * (1 + std::tanh(k * (1 + 0.044715)))}, "gelu tanh",
             1e-6);
}

TEST(NonFiniteKernels, Binary) {
  // a + b, a * b, a / b elementwise as torch: inf - inf, 0 * inf and 0 / 0 are NaN.
  HostTensor a = fromValues(F32, {4}, {kNan, kInf, kInf, 0}),
             b = fromValues(F32, {4}, {1, -kInf, 2, 0}), r(F32, {4});
  runKernel(Ins("add"), {&a, &b}, {&r});
  expectSame(r, {kNan, kNan, kInf, 0}, "add");
  runKernel(Ins("mul"), {&a, &b}, {&r});
  expectSame(r, {kNan, -kInf, kInf, 0}, "mul");
  runKernel(Ins("div"), {&a, &b}, {&r});
  expectSame(r, {kNan, kNan, kInf, kNan}, "div");
}

TEST(NonFiniteKernels, Reduce) {
  // Rows: NaN last (std::max alone would drop it), NaN first, all -inf, +inf, inf - inf.
  std::vector<double> x = {1, 2, kNan, kNan, 2, 1, -kInf, -kInf, -kInf,
                           1, kInf, 3, kInf, -kInf, 0};
  for (auto dt : {F32, F64, F16}) {
    HostTensor t = fromValues(dt, {5, 3}, x), r(dt, {5});
    std::string d = dtypeName(dt);
    runKernel(Ins("reduce_max").ints("axes", {1}).i("keepdims", 0), {&t}, {&r});
    expectSame(r, {kNan, kNan, -kInf, kInf, kInf}, "reduce_max " + d); // torch.amax
    runKernel(Ins("reduce_sum").ints("axes", {1}).i("keepdims", 0), {&t}, {&r});
    expectSame(r, {kNan, kNan, -kInf, kInf, kNan}, "reduce_sum " + d);
    runKernel(Ins("reduce_mean").ints("axes", {1}).i("keepdims", 0), {&t}, {&r});
    expectSame(r, {kNan, kNan, -kInf, kInf, kNan}, "reduce_mean " + d);
    // Over axis 0 (strided inner path) and over everything (one accumulator).
    HostTensor c(dt, {3}), all(dt, {});
    runKernel(Ins("reduce_max").ints("axes", {0}).i("keepdims", 0), {&t}, {&c});
    expectSame(c, {kNan, kInf, kNan}, "reduce_max axis 0 " + d);
    runKernel(Ins("reduce_max").ints("axes", {}).i("keepdims", 0), {&t}, {&all});
    expectSame(all, {kNan}, "reduce_max all " + d);
  }
}

TEST(NonFiniteKernels, Softmax) {
  // torch.softmax / log_softmax over rows: a NaN or +inf makes the row NaN; an all--inf row
  // is NaN; -inf beside finite values has probability 0 (log -inf).
  std::vector<double> x = {1, kNan, 2, kInf, 1, 0, -kInf, -kInf, -kInf, -kInf, 0, 0};
  for (auto dt : {F32, F64}) {
    HostTensor t = fromValues(dt, {4, 3}, x), s(dt, {4, 3}), l(dt, {4, 3});
    runKernel(Ins("softmax").i("axis", 1), {&t}, {&s});
    runKernel(Ins("log_softmax").i("axis", 1), {&t}, {&l});
    expectSame(s, {kNan, kNan, kNan, kNan, kNan, kNan, kNan, kNan, kNan, 0, 0.5, 0.5},
               std::string("softmax ") + dtypeName(dt));
    expectSame(l,
               {kNan, kNan, kNan, kNan, kNan, kNan, kNan, kNan, kNan, -kInf, -std::log(2.0),
                -std::log(2.0)},
               std::string("log_softmax ") + dtypeName(dt));
  }
}

TEST(NonFiniteKernels, CrossEntropy) {
  // torch.nn.functional.cross_entropy(logits, labels, reduction="none"): a NaN or +inf logit
  // makes its sample's loss NaN; a -inf logit of another class is probability 0 (finite loss);
  // a -inf logit of the label class is an infinite loss. Mean over samples then is NaN.
  HostTensor s = fromValues(F32, {4, 3}, {0, kNan, 0, kInf, 0, 0, -kInf, 0, 0, -kInf, 0, 0});
  HostTensor lab = fromValues(ds::plan::I64, {4}, {0, 1, 1, 0});
  HostTensor none(F32, {4}), mean(F32, {});
  runKernel(Ins("softmax_cross_entropy_loss").s("reduction", "none"), {&s, &lab}, {&none});
  expectSame(none, {kNan, kNan, std::log(2.0), kInf}, "cross_entropy none");
  runKernel(Ins("softmax_cross_entropy_loss"), {&s, &lab}, {&mean});
  expectSame(mean, {kNan}, "cross_entropy mean");
}
