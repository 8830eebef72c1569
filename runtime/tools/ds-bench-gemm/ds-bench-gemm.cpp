// ds-bench-gemm: milliseconds of the CPU gemm kernel (f32, through the executor's entry,
// findCpuKernel) on one shape beside one raw single-threaded cblas_sgemm call on the same
// operands, timed in alternation so that a loaded machine slows both alike (medians and
// minima). Prints `key value` lines. Not a test.
#include "ds/runtime/Kernels.h"
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

int64_t number(const char *text) {
  char *end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end || v <= 0)
    fail("'", text, "' is not a positive integer (", kUsage, ")");
  return v;
}

struct Options {
  int64_t m = 0, n = 0, k = 0;
  bool ta = false, tb = false, bias = false, acc = false, db = false;
  int iters = 20;
};

/// The gemm instruction with its buffers, checked like a plan's.
struct Bench {
  Options o;
  Instruction ins;
  std::vector<TensorType> types;
  std::vector<std::vector<float>> data;
  std::vector<std::vector<int64_t>> shapes;
  KernelAttrs attrs;
  RunFn run = nullptr;
  size_t numIn = 0;

  explicit Bench(const Options &opt) : o(opt) {
    ins.set_kernel("gemm");
    (*ins.mutable_attrs())["trans_a"].set_i(o.ta);
    (*ins.mutable_attrs())["trans_b"].set_i(o.tb);
    if (o.db)
      (*ins.mutable_attrs())["bias_grad"].set_s("a");
    std::vector<int64_t> as = o.ta ? std::vector<int64_t>{o.k, o.m} : std::vector{o.m, o.k};
    std::vector<int64_t> bs = o.tb ? std::vector<int64_t>{o.n, o.k} : std::vector{o.k, o.n};
    shapes = {as, bs};
    if (o.bias)
      shapes.push_back({o.n});
    if (o.acc)
      shapes.push_back({o.m, o.n});
    numIn = shapes.size();
    shapes.push_back({o.m, o.n});
    if (o.db)
      shapes.push_back({o.m});
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (const auto &s : shapes) {
      TensorType t;
      t.dtype = ds::plan::F32;
      t.shape = s;
      t.numel = 1;
      for (int64_t d : s)
        t.numel *= d;
      t.bytes = uint64_t(t.numel) * 4;
      types.push_back(t);
      std::vector<float> v(size_t(t.numel));
      for (float &x : v)
        x = normal(rng);
      data.push_back(std::move(v));
    }
    CheckContext check{ins, {}, {}};
    for (size_t i = 0; i < types.size(); ++i)
      (i < numIn ? check.in : check.out).push_back(&types[i]);
    attrs = checkInstruction(*findKernelSignature("gemm"), check);
    run = findCpuKernel("gemm");
  }

  double kernelMillis() {
    ExecContext ctx;
    KernelCall call{ins, {}, {}, ctx, attrs};
    for (size_t i = 0; i < types.size(); ++i) {
      // --acc: c is r's bytes, as ds-fuse-gemm's in-place accumulation plans it.
      size_t buf = o.acc && i == numIn ? numIn - 1 : i;
      (i < numIn ? call.in : call.out)
          .push_back(Tensor{ds::plan::F32, &shapes[i], types[i].numel, data[buf].data()});
    }
    auto t0 = std::chrono::steady_clock::now();
    run(call);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
        .count();
  }

  /// One single-threaded library call (the kernel set the library to one thread): r =
  /// op(a) op(b) (beta 0), or r += op(a) op(b) (beta 1) with --bias or --acc.
  double blasMillis() {
    float *r = data[numIn].data();
    auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, o.ta ? CblasTrans : CblasNoTrans,
                o.tb ? CblasTrans : CblasNoTrans, int(o.m), int(o.n), int(o.k), 1.0f,
                data[0].data(), int(shapes[0][1]), data[1].data(), int(shapes[1][1]),
                o.bias || o.acc ? 1.0f : 0.0f, r, int(o.n));
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
    Bench b(o);
    b.kernelMillis(); // warm-up (pages, the pool, the library's buffers); BLAS on 1 thread
    b.blasMillis();
    std::vector<double> kernel, blas;
    for (int it = 0; it < o.iters; ++it) {
      kernel.push_back(b.kernelMillis());
      blas.push_back(b.blasMillis());
    }
    double km = median(kernel), bm = median(blas);
    double kmin = *std::min_element(kernel.begin(), kernel.end());
    double bmin = *std::min_element(blas.begin(), blas.end());
    std::printf("threads %d\nkernel_ms %.4f\nblas_ms %.4f\nratio %.4f\nkernel_min_ms %.4f\n"
                "blas_min_ms %.4f\nmin_ratio %.4f\n",
                numThreads(), km, bm, km / bm, kmin, bmin, kmin / bmin);
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-bench-gemm: %s\n", e.what());
    return 1;
  }
}
