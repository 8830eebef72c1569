// ds-bench-gemm: milliseconds of the CPU gemm kernel (f32, through the executor's entry,
// findCpuKernel; on the library gemmLibrary() chose, printed) on one shape beside one raw
// single-threaded OpenBLAS cblas_sgemm call on the same
// operands, timed in alternation so that a loaded machine slows both alike (medians and
// minima). Prints `key value` lines. Not a test.
#include "../../lib/cpu/Gemm.h"
#include "../common/KernelBench.h"
#include "ds/runtime/ThreadPool.h"

#include <algorithm>
#include <cblas.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

const char *kUsage =
    "usage: ds-bench-gemm M N K [--ta] [--tb] [--bias | --acc] [--db] [--iters I] "
    "[--threads T]\n"
    "  r[M,N] = op(a) op(b) (+ a bias row [N] with --bias, + r itself with --acc: the "
    "weight\n  gradient's in-place accumulation; --db: also the bias gradient over op(a)'s "
    "k); the\n  median and minimum of I alternating rounds (default 20) of the kernel and of "
    "one\n  cblas_sgemm";

/// A positive integer argument.
int64_t number(const char *text) {
  int64_t v = bench::number(text, kUsage);
  if (v == 0)
    fail("'", text, "' is not a positive integer (", kUsage, ")");
  return v;
}

struct Options {
  int64_t m = 0, n = 0, k = 0;
  bool ta = false, tb = false, bias = false, acc = false, db = false;
  int iters = 20;
};

/// The gemm instruction with its buffers, checked like a plan's, beside one BLAS call.
struct Bench {
  Options o;
  bench::KernelCase kc{"gemm", "gemm"};
  size_t a = 0, b = 0, r = 0;

  explicit Bench(const Options &opt) : o(opt) {
    auto &attrs = *kc.ins.mutable_attrs();
    attrs["trans_a"].set_i(o.ta);
    attrs["trans_b"].set_i(o.tb);
    if (o.db)
      attrs["bias_grad"].set_s("a");
    a = kc.add(o.ta ? std::vector<int64_t>{o.k, o.m} : std::vector{o.m, o.k});
    b = kc.add(o.tb ? std::vector<int64_t>{o.n, o.k} : std::vector{o.k, o.n});
    kc.in = {a, b};
    if (o.bias)
      kc.in.push_back(kc.add({o.n}));
    r = kc.add({o.m, o.n});
    if (o.acc) // c is r's bytes, as ds-fuse-gemm's in-place accumulation plans it
      kc.in.push_back(r);
    kc.out = {r};
    if (o.db)
      kc.out.push_back(kc.add({o.m}));
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (bench::Buf &buf : kc.bufs)
      for (float &x : buf.f)
        x = normal(rng);
    kc.prepare();
  }

  double kernelMillis() { return kc.timeOnce(); }

  /// One single-threaded OpenBLAS call (whichever library the kernel runs on): r =
  /// op(a) op(b) (beta 0), or r += op(a) op(b) (beta 1) with --bias or --acc.
  double blasMillis() {
    auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, o.ta ? CblasTrans : CblasNoTrans,
                o.tb ? CblasTrans : CblasNoTrans, int(o.m), int(o.n), int(o.k), 1.0f,
                kc.bufs[a].f.data(), int(kc.bufs[a].shape[1]), kc.bufs[b].f.data(),
                int(kc.bufs[b].shape[1]), o.bias || o.acc ? 1.0f : 0.0f, kc.bufs[r].f.data(),
                int(o.n));
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
        .count();
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

} // namespace

int main(int argc, char **argv) {
  try {
    Options o;
    std::vector<int64_t> dims;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::puts(kUsage);
        return 0;
      }
      if (a == "--ta" || a == "--tb" || a == "--bias" || a == "--acc" || a == "--db") {
        (a == "--ta" ? o.ta : a == "--tb" ? o.tb : a == "--bias" ? o.bias
                                            : a == "--acc"  ? o.acc
                                                            : o.db) = true;
        continue;
      }
      if (a == "--iters" || a == "--threads") {
        if (i + 1 >= argc)
          fail(a, ": missing value");
        int64_t n = number(argv[++i]);
        if (a == "--iters")
          o.iters = int(n);
        else
          setNumThreads(int(n));
        continue;
      }
      dims.push_back(number(argv[i]));
    }
    if (dims.size() != 3)
      fail("expected M N K (", kUsage, ")");
    if (o.bias && o.acc)
      fail("--bias and --acc exclude each other (", kUsage, ")");
    o.m = dims[0], o.n = dims[1], o.k = dims[2];
    openblas_set_num_threads(1); // the kernel sets it only when it runs on OpenBLAS
    Bench b(o);
    b.kernelMillis(); // warm-up (pages, the pool, the library's buffers)
    b.blasMillis();
    std::vector<double> kernel, blas;
    for (int it = 0; it < o.iters; ++it) {
      kernel.push_back(b.kernelMillis());
      blas.push_back(b.blasMillis());
    }
    double km = median(kernel), bm = median(blas);
    double kmin = *std::min_element(kernel.begin(), kernel.end());
    double bmin = *std::min_element(blas.begin(), blas.end());
    std::printf("library %s\n", cpu::gemmLibrary().c_str());
    std::printf("threads %d\nkernel_ms %.4f\nblas_ms %.4f\nratio %.4f\nkernel_min_ms %.4f\n"
                "blas_min_ms %.4f\nmin_ratio %.4f\n",
                numThreads(), km, bm, km / bm, kmin, bmin, kmin / bmin);
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-bench-gemm: %s\n", e.what());
    return 1;
  }
}
