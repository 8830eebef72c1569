// Tests that the CPU gemm and matmul kernels compute one single-threaded library call's bits at
// every thread count: products large enough for parallelGemm to split into blocks of rows,
// on awkward shapes (rows and columns off the kernels' tiles, odd widths, contractions of
// several library chunks), with transposes, alpha and beta, a bias row, an in-place
// accumulation, f32 and f64; and that the wide products split into column blocks compute
// the same bits at every thread count; on every GEMM library this build has (oneDNN, OpenBLAS).
#include "../lib/cpu/Gemm.h" // parallelGemmBlocks: that the cases split
#include "KernelTestUtil.h"
#include "ds/runtime/CpuIsa.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/ThreadPool.h"

#include <cstdlib>

namespace ds::rt::test {
namespace {

using ds::plan::F32;
using ds::plan::F64;

std::mt19937 &rng() {
  static std::mt19937 r(20261203);
  return r;
}

struct Shape {
  int64_t m, n, k;
  bool ta, tb;
};

// Split at 2 to 4 threads (OneCallAtEveryThreadCount holds that), tall and wide, every
// transpose pair, k of two to four library chunks.
const Shape kShapes[] = {{700, 77, 1000, false, false},
                         {517, 301, 650, true, false},
                         {301, 517, 1290, false, true},
                         {250, 1000, 450, true, true}};

// Kept whole at every thread count: halves would take OpenBLAS's sgemm_direct (no
// transposes, below 28 x 512^2 multiply-adds) or its small-matrix kernels (up to 100^3),
// which round otherwise than the whole product's blocked path.
const Shape kWholeShapes[] = {{480, 64, 256, false, false}, {240, 50, 100, false, true}};

std::vector<int64_t> aShape(const Shape &s) {
  return s.ta ? std::vector<int64_t>{s.k, s.m} : std::vector<int64_t>{s.m, s.k};
}
std::vector<int64_t> bShape(const Shape &s) {
  return s.tb ? std::vector<int64_t>{s.n, s.k} : std::vector<int64_t>{s.k, s.n};
}

/// c = alpha op(a) op(b) + beta c in one call of the library gemmLibrary() names, on this
/// thread.
void oneCall(const Shape &s, double alpha, HostTensor &a, HostTensor &b, double beta,
             HostTensor &c) {
  int64_t lda = a.shape[1], ldb = b.shape[1];
  if (a.dtype == F64)
    cpu::gemm(s.ta, s.tb, s.m, s.n, s.k, alpha, a.as<double>(), lda, b.as<double>(), ldb, beta,
              c.as<double>(), s.n);
  else
    cpu::gemm(s.ta, s.tb, s.m, s.n, s.k, float(alpha), a.as<float>(), lda, b.as<float>(), ldb,
              float(beta), c.as<float>(), s.n);
}

Ins gemmIns(const Shape &s) { return Ins("gemm").i("trans_a", s.ta).i("trans_b", s.tb); }

std::string name(const Shape &s, int threads) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
         (s.ta ? " ta" : "") + (s.tb ? " tb" : "") + ", " + std::to_string(threads) +
         " threads";
}

/// Runs body(threads) at 1 to 4 threads, then restores the thread count.
template <typename Body> void forThreadCounts(Body body) {
  int threads0 = numThreads();
  for (int t = 1; t <= 4; ++t) {
    setNumThreads(t);
    body(t);
  }
  setNumThreads(threads0);
}

/// Runs body(library) on every GEMM library this build has, then restores the library.
template <typename Body> void forLibraries(Body body) {
  std::string library0 = cpu::gemmLibrary();
  for (const std::string &library : cpu::supportedGemmLibraries()) {
    cpu::setGemmLibrary(library);
    SCOPED_TRACE(library);
    body(library);
  }
  cpu::setGemmLibrary(library0);
}

/// body(threads) at 1 to 4 threads on every library.
template <typename Body> void atThreadCounts(Body body) {
  forLibraries([&](const std::string &) { forThreadCounts(body); });
}

// Tests that the shapes split from 2 threads on (so that every case here tests a split) and
// that the plain product is one call's bits.
TEST(GemmSplit, OneCallAtEveryThreadCount) {
  atThreadCounts([](int t) {
    for (const Shape &s : kShapes) {
      int64_t blocks = cpu::parallelGemmBlocks(s.m, s.n, s.k);
      if (t == 1)
        EXPECT_EQ(blocks, 1) << name(s, t);
      else
        EXPECT_GT(blocks, 1) << name(s, t);
      HostTensor a = randomTensor(F32, aShape(s), rng()), b = randomTensor(F32, bShape(s), rng());
      HostTensor got(F32, {s.m, s.n}), want(F32, {s.m, s.n});
      runKernel(gemmIns(s), {&a, &b}, {&got});
      oneCall(s, 1, a, b, 0, want);
      EXPECT_EQ(got.bytes, want.bytes) << name(s, t);
    }
    for (const Shape &s : kWholeShapes) {
      EXPECT_EQ(cpu::parallelGemmBlocks(s.m, s.n, s.k), 1) << name(s, t);
      HostTensor a = randomTensor(F32, aShape(s), rng()), b = randomTensor(F32, bShape(s), rng());
      HostTensor got(F32, {s.m, s.n}), want(F32, {s.m, s.n});
      runKernel(gemmIns(s), {&a, &b}, {&got});
      oneCall(s, 1, a, b, 0, want);
      EXPECT_EQ(got.bytes, want.bytes) << name(s, t);
    }
  });
}

// Tests alpha and beta with a full c, and a bias row broadcast over the rows (beta 1), in
// f32 and f64.
TEST(GemmSplit, AlphaBetaAndBiasRow) {
  atThreadCounts([](int t) {
    for (DType dt : {F32, F64})
      for (const Shape &s : kShapes) {
        HostTensor a = randomTensor(dt, aShape(s), rng()), b = randomTensor(dt, bShape(s), rng());
        HostTensor c = randomTensor(dt, {s.m, s.n}, rng()), bias = randomTensor(dt, {s.n}, rng());
        HostTensor got(dt, {s.m, s.n}), want = c;
        runKernel(gemmIns(s).f("alpha", 0.75).f("beta", -0.5), {&a, &b, &c}, {&got});
        oneCall(s, 0.75, a, b, -0.5, want);
        EXPECT_EQ(got.bytes, want.bytes) << "alpha, beta, " << dtypeName(dt) << " " << name(s, t);
        HostTensor withBias(dt, {s.m, s.n}), wantBias(dt, {s.m, s.n});
        size_t row = size_t(s.n) * dtypeSize(dt);
        for (int64_t i = 0; i < s.m; ++i)
          std::memcpy(wantBias.bytes.data() + size_t(i) * row, bias.bytes.data(), row);
        runKernel(gemmIns(s), {&a, &b, &bias}, {&withBias});
        oneCall(s, 1, a, b, 1, wantBias);
        EXPECT_EQ(withBias.bytes, wantBias.bytes) << "bias, " << dtypeName(dt) << " " << name(s, t);
      }
  });
}

// Tests the in-place accumulation (c is the output's bytes, beta 1): the product from zero,
// then added to c as the add kernel adds.
TEST(GemmSplit, InPlaceAccumulation) {
  atThreadCounts([](int t) {
    for (const Shape &s : kShapes) {
      HostTensor a = randomTensor(F32, aShape(s), rng()), b = randomTensor(F32, bShape(s), rng());
      HostTensor acc = randomTensor(F32, {s.m, s.n}, rng()), product(F32, {s.m, s.n});
      oneCall(s, 1, a, b, 0, product);
      std::vector<float> want(size_t(s.m * s.n));
      for (size_t i = 0; i < want.size(); ++i)
        want[i] = acc.as<float>()[i] + product.as<float>()[i];
      runKernel(gemmIns(s), {&a, &b, &acc}, {&acc}); // c and r: the same bytes
      EXPECT_EQ(std::memcmp(acc.as<float>(), want.data(), want.size() * sizeof(float)), 0)
          << name(s, t);
    }
  });
}

// Tests that wide products with few rows (a convolution's channels by its pixels) split
// into the same column blocks, hence the same bits, at every thread count, close to one call.
TEST(GemmSplit, ColumnBlocksIgnoreThreadCount) {
  forLibraries([](const std::string &library) {
    for (DType dt : {F32, F64})
      for (const Shape &s :
           {Shape{64, 2000, 300, false, true}, Shape{150, 900, 77, true, false}}) {
        HostTensor a = randomTensor(dt, aShape(s), rng()),
                   b = randomTensor(dt, bShape(s), rng());
        HostTensor one(dt, {s.m, s.n});
        oneCall(s, 1, a, b, 0, one);
        std::vector<double> want(size_t(s.m * s.n));
        for (size_t i = 0; i < want.size(); ++i)
          want[i] = one.get(int64_t(i));
        std::vector<HostTensor> got;
        forThreadCounts([&](int t) {
          EXPECT_GT(cpu::parallelGemmBlocks(s.m, s.n, s.k), 1) << name(s, t);
          got.emplace_back(dt, std::vector<int64_t>{s.m, s.n});
          runKernel(gemmIns(s), {&a, &b}, {&got.back()});
          expectNear(got.back(), want, 1e-5, 1e-3, name(s, t)); // sums of up to 300 products
          EXPECT_EQ(got.back().bytes, got.front().bytes)
              << library << " " << dtypeName(dt) << " " << name(s, t);
        });
      }
  });
}

// Tests the library choice: oneDNN where the build has it and the processor has AVX-512
// (unless DS_CPU_GEMM asks otherwise), OpenBLAS always available, an unknown name an Error.
TEST(GemmSplit, LibraryChoice) {
  std::vector<std::string> all = cpu::supportedGemmLibraries();
  EXPECT_EQ(all.back(), "openblas");
  const char *env = std::getenv("DS_CPU_GEMM");
  if (!env || !*env) {
    std::vector<std::string> isas = supportedCpuIsas();
    bool avx512 = isas.front() == "avx512";
    EXPECT_EQ(cpu::gemmLibrary(), avx512 ? all.front() : "openblas");
  }
  EXPECT_THROW(cpu::setGemmLibrary("mkl"), Error);
  // The choice changes the bits of a large product only through the library's own rounding:
  // both are close to the double-precision product.
  Shape s{300, 500, 700, false, true};
  HostTensor a = randomTensor(F32, aShape(s), rng()), b = randomTensor(F32, bShape(s), rng());
  forLibraries([&](const std::string &library) {
    EXPECT_EQ(cpu::gemmLibrary(), library);
    HostTensor got(F32, {s.m, s.n});
    runKernel(gemmIns(s), {&a, &b}, {&got});
    std::vector<double> want(size_t(s.m * s.n));
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < s.k; ++k)
          acc += double(a.as<float>()[i * s.k + k]) * double(b.as<float>()[j * s.k + k]);
        want[size_t(i * s.n + j)] = acc;
      }
    expectNear(got, want, 1e-4, 1e-4, library);
  });
}

// Tests matmul's batched products (b one matrix per batch entry), split one at a time.
TEST(GemmSplit, BatchedMatmul) {
  const Shape s = kShapes[0];
  atThreadCounts([&](int t) {
    HostTensor a = randomTensor(F32, {2, s.m, s.k}, rng());
    HostTensor b = randomTensor(F32, {2, s.k, s.n}, rng());
    HostTensor got(F32, {2, s.m, s.n});
    runKernel(Ins("matmul"), {&a, &b}, {&got});
    for (int64_t i = 0; i < 2; ++i) {
      HostTensor ai(F32, {s.m, s.k}), bi(F32, {s.k, s.n}), want(F32, {s.m, s.n});
      std::memcpy(ai.bytes.data(), a.as<float>() + i * s.m * s.k, size_t(s.m * s.k) * 4);
      std::memcpy(bi.bytes.data(), b.as<float>() + i * s.k * s.n, size_t(s.k * s.n) * 4);
      oneCall(s, 1, ai, bi, 0, want);
      EXPECT_EQ(std::memcmp(got.as<float>() + i * s.m * s.n, want.as<float>(),
                            size_t(s.m * s.n) * 4),
                0)
          << "batch " << i << " " << name(s, t);
    }
  });
}

} // namespace
} // namespace ds::rt::test
