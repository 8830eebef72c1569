// The CPU kernels' one GEMM entry point (matmul, gemm, attention tiles, convolutions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

/// The libraries this build can run the f32 products on, best first: "onednn" (oneDNN's
/// sgemm, whose kernels dispatch on the processor's instruction sets; where the build found
/// Debian's libdnnl-dev) and "openblas" (always; also every f64 product).
std::vector<std::string> supportedGemmLibraries();

/// The f32 library: DS_CPU_GEMM=onednn|openblas when set (one this build lacks is an Error
/// naming it), else oneDNN on processors with AVX-512 and OpenBLAS otherwise (the measured
/// faster one per processor class, results/cpu-step.md). Both libraries compute a row block
/// of C with the bits of the whole product (parallelGemm below relies on it).
std::string gemmLibrary();

/// Forces `library` for the rest of the process (tests, benchmarks); throws ds::rt::Error
/// when this build lacks it. Not while another thread runs a product.
void setGemmLibrary(const std::string &library);

/// How many blocks parallelGemm splits this product into: for most products one (at one
/// thread) or two per thread (Gemm.cpp's kBlocksPerThread), as long as every block keeps
/// Gemm.cpp's minimum multiply-adds (1: one library call on the
/// calling thread); for wide products with few rows, a count set by the sizes alone.
int64_t parallelGemmBlocks(int64_t M, int64_t N, int64_t K);

/// The same product split across the thread pool into parallelGemmBlocks blocks, each one
/// single-threaded gemm. Results never depend on the thread count. Blocks of C's rows
/// compute one library call's bits, so that one thread makes one call and pays
/// for no split (every block packs all of op(B) again): OpenBLAS cuts the contraction into
/// chunks chosen from K alone and tiles C's rows (the column-major library's columns) from
/// each call's first row; blocks starting on a multiple of every kernel's tile width keep
/// each element in the same tile, hence the same accumulation order, and every block stays
/// above the small-matrix kernels (up to 100^3 multiply-adds) and sgemm_direct (below
/// 28 x 512^2). Blocks of C's columns do change bits (Haswell's sgemm and SkylakeX's dgemm
/// kernels tile the library's rows from panels whose sizes depend on the extent), so the
/// wide products with too few rows to balance row blocks (Gemm.cpp) take column blocks set
/// by the sizes alone. GemmSplitTest holds row splits to one cblas call, and column splits
/// to the same bits at every thread count.
/// Not to be called from inside a parallelFor task (use gemm there).
void parallelGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc);
void parallelGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                  const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                  double *c, int64_t ldc);

} // namespace ds::rt::cpu
