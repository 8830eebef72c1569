// GEMM through oneDNN's sgemm or OpenBLAS, single-threaded per call; parallelGemm splits C
// over the pool.
#include "Gemm.h"

#include "ds/runtime/CpuIsa.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <cblas.h>
#include <cstdlib>
#include <mutex>
#if defined(DS_HAVE_ONEDNN)
#include <dnnl.h>
#include <omp.h>
#endif

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

/// The f32 library: 0 OpenBLAS, 1 oneDNN, -1 not chosen yet (read on every call: an atomic,
/// not the mutex that guards the choice).
std::atomic<int> gLibrary{-1};
std::mutex gLibraryMutex;
constexpr const char *kLibraryNames[] = {"openblas", "onednn"};

void checkLibrary(const std::string &name, const std::string &origin) {
  for (const std::string &s : supportedGemmLibraries())
    if (s == name)
      return;
  std::string ok;
  for (const std::string &s : supportedGemmLibraries())
    ok += (ok.empty() ? "" : ", ") + s;
  fail(origin, "GEMM library '", name, "' is not available in this build (", ok, ")");
}

int library() {
  int l = gLibrary.load(std::memory_order_relaxed);
  if (l >= 0)
    return l;
  gemmLibrary(); // chooses
  return gLibrary.load();
}

#if defined(DS_HAVE_ONEDNN)
/// oneDNN runs its sgemm on an OpenMP team of omp_get_max_threads() threads, a per-thread
/// setting: every calling thread (the pool's and the main thread) asks for one, as with
/// OpenBLAS above (no second set of spinning workers beside the pool's).
void singleThreadedOneDnn() {
  thread_local bool once = [] {
    omp_set_num_threads(1);
    return true;
  }();
  (void)once;
}

void onednn(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
            int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  singleThreadedOneDnn();
  dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, a, lda, b,
                                ldb, beta, c, ldc);
  if (st != dnnl_success)
    fail("gemm: oneDNN's sgemm failed (status ", int(st), ") on ", M, "x", N, "x", K);
}
#endif

/// With oneDNN chosen, products of fewer multiply-adds stay on OpenBLAS: below about 1 Mi
/// oneDNN's sgemm was 15-40% slower here (64^3, 100^3, 32x64x64: attention's tiles), from
/// 128^3 up 5-13% faster (ds-bench-gemm, AMD Zen 4). Every row block parallelGemm cuts is
/// at least kMinBlockMacs (above this), so a split product's blocks run on the library the
/// whole product would.
constexpr int64_t kMinOneDnnMacs = int64_t(2) << 20;

/// One single-threaded call of the chosen library (f64: OpenBLAS, oneDNN has no dgemm).
void libraryGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
#if defined(DS_HAVE_ONEDNN)
  if (library() == 1 && M * N * K >= kMinOneDnnMacs) {
    onednn(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  singleThreadedBlas();
  blas(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}
void libraryGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                 const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                 double *c, int64_t ldc) {
  singleThreadedBlas();
  blas(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
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
  libraryGemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// A split's blocks start on multiples of kBlockRows rows, a multiple of the column tiles of
/// OpenBLAS's x86 kernels (24, 12, 8; C's rows are the column-major library's columns;
/// checked with OPENBLAS_CORETYPE Cooperlake, SkylakeX, Haswell, Zen, Sandybridge, Nehalem,
/// Prescott: 12 is not enough for Nehalem), and are at least kMinBlockMacs multiply-adds:
/// 8 Mi, above the library's small-matrix and direct paths (Gemm.h) and about 0.2 ms on one
/// core, enough to repay a wake-up and the packing.
constexpr int64_t kBlockRows = 24, kMinBlockMacs = int64_t(8) << 20;
static_assert(kMinBlockMacs >= kMinOneDnnMacs, "a row block must run on its product's library");
/// With more than one thread, up to this many row blocks per thread, taken by whichever
/// thread is free: a thread held up (a vCPU stalled, another process on its core) leaves its
/// second block to the others, for one more packing of op(B) per thread. scripts/bench-gemm.sh
/// --threads 2 --tokens 1024 on a 2-vCPU VM, four alternating runs: sums of the products'
/// median times 55.8-64.0 ms against 53.9-73.8 ms with one block per thread, minima within 5%.
constexpr int64_t kBlocksPerThread = 2;

/// The first row of block p of `parts` (p == parts: M): p M / parts to the nearest multiple
/// of kBlockRows.
int64_t blockStart(int64_t M, int64_t parts, int64_t p) {
  if (p == parts)
    return M;
  return (p * M / parts + kBlockRows / 2) / kBlockRows * kBlockRows;
}

/// Products wider than tall with fewer rows than kColumnSplitRows (a convolution's output
/// channels by its pixels) split C's columns instead: rows cut on multiples of kBlockRows
/// would balance poorly. Column blocks change the library's rounding (Gemm.h), so they
/// depend on the sizes alone, never on the thread count: at most kMaxColumnBlocks of at
/// least kMinColumnBlock columns, edges on multiples of 16, for products of at least
/// kMinColumnSplitMacs; each packs op(A), small here, again.
constexpr int64_t kColumnSplitRows = 192, kMinColumnBlock = 128, kMaxColumnBlocks = 4;
constexpr int64_t kMinColumnSplitMacs = int64_t(1) << 20;

bool splitsColumns(int64_t M, int64_t N) { return M < kColumnSplitRows && N > M; }

int64_t columnBlockWidth(int64_t N, int64_t parts) {
  return ((N + parts - 1) / parts + 15) / 16 * 16;
}

template <typename T>
void parallelGemmTyped(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha,
                       const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c,
                       int64_t ldc) {
  int64_t parts = parallelGemmBlocks(M, N, K);
  if (parts <= 1) {
    gemmTyped(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  bool byColumns = splitsColumns(M, N);
  int64_t width = byColumns ? columnBlockWidth(N, parts) : 0;
  parallelFor(parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      if (byColumns) { // columns of op(B) and C
        int64_t lo = p * width, hi = std::min(N, lo + width);
        if (lo < hi)
          gemmTyped(ta, tb, M, hi - lo, K, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb,
                    beta, c + lo, ldc);
        continue;
      }
      int64_t lo = blockStart(M, parts, p), hi = blockStart(M, parts, p + 1);
      gemmTyped(ta, tb, hi - lo, N, K, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb, beta,
                c + lo * ldc, ldc);
    }
  });
}

} // namespace

std::vector<std::string> supportedGemmLibraries() {
#if defined(DS_HAVE_ONEDNN)
  return {"onednn", "openblas"};
#else
  return {"openblas"};
#endif
}

std::string gemmLibrary() {
  int l = gLibrary.load();
  if (l >= 0)
    return kLibraryNames[l];
  std::lock_guard<std::mutex> lock(gLibraryMutex);
  l = gLibrary.load();
  if (l < 0) {
    std::string name;
    const char *env = std::getenv("DS_CPU_GEMM");
    if (env && *env) {
      checkLibrary(env, "DS_CPU_GEMM: ");
      name = env;
    } else {
      // By measurement (results/cpu-step.md): oneDNN's AVX-512 kernels beat OpenBLAS's on
      // the AVX-512 processors measured (Intel: 10-60%, AMD Zen 4: 6% over a GPT step's
      // products); on AVX2-only Zen 3 OpenBLAS was 1.16x faster.
      std::vector<std::string> isas = supportedCpuIsas();
      bool avx512 = !isas.empty() && isas.front() == "avx512";
      name = avx512 ? supportedGemmLibraries().front() : "openblas";
    }
    l = name == "onednn" ? 1 : 0;
    gLibrary.store(l);
  }
  return kLibraryNames[l];
}

void setGemmLibrary(const std::string &name) {
  checkLibrary(name, "");
  std::lock_guard<std::mutex> lock(gLibraryMutex);
  gLibrary.store(name == "onednn" ? 1 : 0);
}

int64_t parallelGemmBlocks(int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0 || K <= 0)
    return 1;
  if (splitsColumns(M, N)) {
    int64_t parts = std::min(kMaxColumnBlocks, N / kMinColumnBlock);
    return parts > 1 && M * N * K >= kMinColumnSplitMacs ? parts : 1;
  }
  int64_t threads = numThreads();
  int64_t most = threads > 1 ? kBlocksPerThread * threads : 1;
  for (int64_t parts = std::min<int64_t>(most, M / kBlockRows); parts > 1; --parts) {
    int64_t rows = M;
    for (int64_t p = 0; p < parts; ++p)
      rows = std::min(rows, blockStart(M, parts, p + 1) - blockStart(M, parts, p));
    if (rows * N * K >= kMinBlockMacs)
      return parts;
  }
  return 1;
}

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
