// Tests that the gemm kernels ds-fuse-gemm writes compute what the kernels they replace
// computed: a transposed operand read through trans_b/trans_a gives the same bits as a
// transpose kernel and a matmul; a bias or an accumulation folded into c (in place: c is the
// output's bytes) equals the matmul and the add up to the one rounding it saves (f32, bf16);
// and the plan check lets gemm write over c, never over a or b. In place, the CPU kernel
// computes the bits of a gemm and an add.
#include "KernelTestUtil.h"

#include "ds/runtime/KernelCatalogue.h"

#include <cmath>

namespace ds::rt::test {
namespace {

using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;

std::mt19937 &rng() {
  static std::mt19937 r(20261202);
  return r;
}

HostTensor transposed(HostTensor &x) {
  HostTensor t(x.dtype, {x.shape[1], x.shape[0]});
  runKernel(Ins("transpose").ints("perm", {1, 0}), {&x}, {&t});
  return t;
}

// Sums of up to 300 products of values in [-1, 1): f32 to 1e-4, 16-bit results to 1e-2.
double tolerance(DType dt) { return dt == F32 ? 1e-4 : 1e-2; }

// The sizes of GPT-2's products, scaled down: M rows (batch x tokens), K in, N out, large
// enough for parallelGemm's blocks.
constexpr int64_t M = 300, K = 72, N = 136;

TEST(GemmFold, TransposedWeightIsTheSameBits) {
  for (DType dt : {F32, BF16, F16}) {
    HostTensor x = randomTensor(dt, {M, K}, rng()), w = randomTensor(dt, {N, K}, rng());
    HostTensor wt = transposed(w), unfused(dt, {M, N}), fused(dt, {M, N});
    runKernel(Ins("matmul"), {&x, &wt}, {&unfused});
    runKernel(Ins("gemm").i("trans_b", 1), {&x, &w}, {&fused});
    EXPECT_EQ(unfused.bytes, fused.bytes) << dtypeName(dt);
  }
}

TEST(GemmFold, TransposedResultIsTheSameBits) {
  // transpose(gemm(x, g, trans_a)) = gemm(g, x, trans_a): the weight gradient's layout.
  for (DType dt : {F32, BF16}) {
    HostTensor x = randomTensor(dt, {M, K}, rng()), g = randomTensor(dt, {M, N}, rng());
    HostTensor xg(dt, {K, N}), fused(dt, {N, K});
    runKernel(Ins("gemm").i("trans_a", 1), {&x, &g}, {&xg});
    HostTensor unfused = transposed(xg);
    runKernel(Ins("gemm").i("trans_a", 1), {&g, &x}, {&fused});
    // The library may order the contraction differently for the swapped product: compare
    // against the exact sum at the dtype's tolerance, and the two within it.
    std::vector<double> want(size_t(N * K), 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t m = 0; m < M; ++m)
          want[size_t(n * K + k)] += g.get(m * N + n) * x.get(m * K + k);
    expectNear(fused, want, tolerance(dt), tolerance(dt), "gemm^T " + dtypeName(dt));
    expectNear(unfused, want, tolerance(dt), tolerance(dt), "transpose " + dtypeName(dt));
  }
}

TEST(GemmFold, BiasAndResidualInC) {
  for (DType dt : {F32, BF16})
    for (bool residual : {false, true}) {
      HostTensor x = randomTensor(dt, {M, K}, rng()), w = randomTensor(dt, {N, K}, rng());
      HostTensor c = randomTensor(dt, residual ? std::vector<int64_t>{M, N}
                                               : std::vector<int64_t>{N},
                                  rng());
      HostTensor wt = transposed(w), y(dt, {M, N}), unfused(dt, {M, N}), fused(dt, {M, N});
      runKernel(Ins("matmul"), {&x, &wt}, {&y});
      runKernel(Ins("add"), {&y, &c}, {&unfused});
      runKernel(Ins("gemm").i("trans_b", 1), {&x, &w, &c}, {&fused});
      std::vector<double> want;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = c.get(residual ? i * N + j : j);
          for (int64_t k = 0; k < K; ++k)
            s += x.get(i * K + k) * w.get(j * K + k);
          want.push_back(s);
        }
      std::string what = dtypeName(dt) + (residual ? " residual" : " bias");
      expectNear(fused, want, tolerance(dt), tolerance(dt), "fused " + what);
      expectNear(unfused, want, 2 * tolerance(dt), 2 * tolerance(dt), "unfused " + what);
      if (dt == F32) // one rounding less, within one f32 rounding of the unfused sum
        for (int64_t i = 0; i < M * N; ++i)
          ASSERT_NEAR(fused.get(i), unfused.get(i), 1e-6 * (1 + std::fabs(unfused.get(i))));
    }
}

TEST(GemmFold, AccumulatesInPlace) {
  for (DType dt : {F32, BF16}) {
    HostTensor x = randomTensor(dt, {M, K}, rng()), g = randomTensor(dt, {M, N}, rng());
    HostTensor acc = randomTensor(dt, {N, K}, rng()), before = acc;
    // Unfused: acc + transpose(x^T g).
    HostTensor xg(dt, {K, N}), unfused(dt, {N, K});
    runKernel(Ins("gemm").i("trans_a", 1), {&x, &g}, {&xg});
    HostTensor t = transposed(xg);
    runKernel(Ins("add"), {&before, &t}, {&unfused});
    // Fused: acc = g^T x + acc, the output being c's bytes.
    runKernel(Ins("gemm").i("trans_a", 1), {&g, &x, &acc}, {&acc});
    std::vector<double> want(size_t(N * K));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        double s = before.get(n * K + k);
        for (int64_t m = 0; m < M; ++m)
          s += g.get(m * N + n) * x.get(m * K + k);
        want[size_t(n * K + k)] = s;
      }
    expectNear(acc, want, tolerance(dt), tolerance(dt), "in place " + dtypeName(dt));
    // The CPU kernel rounds the product to the dtype and adds it as the add kernel does:
    // the bits of gemm then add (host adds of offloaded gradients compute those).
    HostTensor gx(dt, {N, K}), sum(dt, {N, K});
    runKernel(Ins("gemm").i("trans_a", 1), {&g, &x}, {&gx});
    runKernel(Ins("add"), {&before, &gx}, {&sum});
    EXPECT_EQ(acc.bytes, sum.bytes) << dtypeName(dt);
    expectNear(unfused, want, 2 * tolerance(dt), 2 * tolerance(dt), "unfused " + dtypeName(dt));
  }
}

// The in-place product goes to a scratch buffer kept between calls (no allocation per step):
// accumulations of other sizes and dtypes one after another, larger, smaller, larger again,
// each with a beta other than 1 between them, still compute gemm-then-add's bits.
TEST(GemmFold, InPlaceScratchAcrossSizes) {
  struct Case { DType dt; int64_t m, k, n; double beta; };
  for (Case cs : {Case{F32, M, K, N, 1}, Case{BF16, 7, 5, 3, 1}, Case{F32, 9, 4, 11, 0.5},
                  Case{F32, 2 * M, K, N, 1}, Case{F16, 33, 17, 65, 1}}) {
    HostTensor g = randomTensor(cs.dt, {cs.m, cs.n}, rng()),
               x = randomTensor(cs.dt, {cs.m, cs.k}, rng());
    HostTensor acc = randomTensor(cs.dt, {cs.n, cs.k}, rng()), before = acc;
    runKernel(Ins("gemm").i("trans_a", 1).f("beta", cs.beta), {&g, &x, &acc}, {&acc});
    HostTensor gx(cs.dt, {cs.n, cs.k}), scaled = before, sum(cs.dt, {cs.n, cs.k});
    runKernel(Ins("gemm").i("trans_a", 1), {&g, &x}, {&gx});
    if (cs.beta == 1) {
      runKernel(Ins("add"), {&before, &gx}, {&sum});
      EXPECT_EQ(acc.bytes, sum.bytes) << dtypeName(cs.dt) << " " << cs.m;
    } else {
      for (int64_t i = 0; i < cs.n * cs.k; ++i)
        ASSERT_NEAR(acc.get(i), cs.beta * before.get(i) + gx.get(i), 1e-5) << i;
    }
  }
}

TEST(GemmFold, InPlaceOnlyOverC) {
  EXPECT_TRUE(mayShareOutputBytes(KernelId::Gemm, true, 2));
  EXPECT_FALSE(mayShareOutputBytes(KernelId::Gemm, true, 0));
  EXPECT_FALSE(mayShareOutputBytes(KernelId::Gemm, true, 1));
  EXPECT_TRUE(findKernelSignature("gemm")->inPlace);
  EXPECT_TRUE(mayShareOutputBytes(KernelId::Add, true, 0));
  EXPECT_FALSE(mayShareOutputBytes(KernelId::Transpose, false, 0));
}

} // namespace
} // namespace ds::rt::test
