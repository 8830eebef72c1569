// GEMM through OpenBLAS, single-threaded per call; parallelGemm splits C over the pool.
#include "Gemm.h"

#include "ds/runtime/ThreadPool.h"

#include <algorithm>
#include <cblas.h>
#include <mutex>

namespace ds::rt::cpu {
namespace {

/// OpenBLAS keeps its own worker threads, which busy-wait (sched_yield) between calls and
/// compete with the pool's threads for the same cores: every call runs on one thread.
void singleThreadedBlas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

void blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              int(M), int(N), int(K), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *a,
          int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              int(M), int(N), int(K), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

template <typename T>
void gemmTyped(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *a,
               int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc) {
  if (M <= 0 || N <= 0)
    return;
  if (K <= 0 || alpha == T(0)) { // BLAS rejects lda < 1 when K == 0; C = beta C
    for (int64_t i = 0; i < M; ++i) {
      T *row = c + i * ldc;
      if (beta == T(0))
        std::fill(row, row + N, T(0));
      else if (beta != T(1))
        std::transform(row, row + N, row, [&](T v) { return beta * v; });
    }
    return;
  }
  singleThreadedBlas();
  blas(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// Blocks are at least this many rows (columns) of C, a multiple of the BLAS micro-tiles (each
/// block packs its own panels), and at most kMaxBlocks of them.
constexpr int64_t kMinBlock = 128, kMaxBlocks = 4;

template <typename T>
void parallelGemmTyped(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha,
                       const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c,
                       int64_t ldc) {
  // The blocks depend on the sizes only, never on the thread count: a block's rounding may
  // differ from the whole product's (BLAS picks kernels by size), and results must not
  // change with --threads or the ranks per node.
  bool byRows = M >= N;
  int64_t extent = byRows ? M : N;
  int64_t parts = std::min(kMaxBlocks, extent / kMinBlock);
  if (parts <= 1 || M * N * std::max<int64_t>(K, 1) < kParallelGemmMacs) {
    gemmTyped(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  int64_t per = ((extent + parts - 1) / parts + 15) / 16 * 16;
  parallelFor(parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      int64_t lo = p * per, hi = std::min(extent, lo + per);
      if (lo >= hi)
        continue;
      if (byRows) // rows of op(A) and C
        gemmTyped(ta, tb, hi - lo, N, K, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb,
                  beta, c + lo * ldc, ldc);
      else // columns of op(B) and C
        gemmTyped(ta, tb, M, hi - lo, K, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb,
                  beta, c + lo, ldc);
    }
  });
}

} // namespace

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  gemmTyped(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *a,
          int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc) {
  gemmTyped(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}
void parallelGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc) {
  parallelGemmTyped(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}
void parallelGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                  const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                  double *c, int64_t ldc) {
  parallelGemmTyped(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

} // namespace ds::rt::cpu
