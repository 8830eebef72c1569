// The CPU kernels' one GEMM entry point (matmul, gemm, attention tiles, convolutions).
#pragma once

#include <cstdint>

namespace ds::rt::cpu {

/// Row-major C[M,N] = alpha op(A) op(B) + beta C, op(X) = Xᵀ when the flag is set, on the
/// calling thread: the BLAS library runs single-threaded, so the runtime's pool is the one
/// set of worker threads (a BLAS pool of its own spun in sched_yield beside it, competing for
/// the same cores). M, N or K == 0 and beta == 0 follow BLAS semantics (C is not read when
/// beta == 0); leading dimensions are those of the stored (untransposed) matrices.
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *a,
          int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

/// Products below this many multiply-adds run on the calling thread in parallelGemm (a pool
/// wake-up costs about as much as a few microseconds of GEMM).
constexpr int64_t kParallelGemmMacs = int64_t(1) << 20;

/// The same product split across the thread pool: blocks of C's rows (or of its columns
/// when C is wider than tall), one single-threaded gemm per block; the blocks depend on the
/// sizes only, so results do not depend on the thread count. Small products run on the
/// calling thread. Not to be called from inside a parallelFor task (use gemm there).
void parallelGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc);
void parallelGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                  const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                  double *c, int64_t ldc);

} // namespace ds::rt::cpu
