// ds-bench-optimizer: params/s of the CPU adam_update kernel (AdamW, f32 param, grad and
// moments, in place as the plans run it) through the executor's entry (findCpuKernel),
// and the memory bandwidth of the same machine, threads and buffer sizes (STREAM-like
// copy and triad, and an in-place update with adam_update's traffic: 4 arrays read, 3
// written). Prints `key value` lines for scripts/bench-cpu-adam.sh. Not a test.
#include "ds/runtime/CpuIsa.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/Kernels.h"
#include "ds/runtime/ThreadPool.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

const char *kUsage = "usage: ds-bench-optimizer [--params N] [--threads T] [--iters K] "
                     "[--isa avx512|avx2|sse2|scalar]\n"
                     "  N parameters (default 67108864 = 2^26), T threads (default: all "
                     "hardware threads),\n"
                     "  K timed rounds after a warm-up round, every loop once per round "
                     "(default 10); prints\n"
                     "  the best round of each.";

struct Options {
  int64_t params = int64_t(1) << 26;
  int threads = 0;
  int iters = 10;
  std::string isa;
};

int64_t parsePositive(const char *flag, const char *text) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (errno || end == text || *end || v <= 0)
    fail(flag, ": '", text, "' is not a positive integer");
  return v;
}

Options parse(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::puts(kUsage);
      std::exit(0);
    }
    if (i + 1 >= argc)
      fail(a, ": missing value (", kUsage, ")");
    const char *v = argv[++i];
    if (a == "--params")
      o.params = parsePositive("--params", v);
    else if (a == "--threads")
      o.threads = int(std::min<int64_t>(parsePositive("--threads", v), 256));
    else if (a == "--iters")
      o.iters = int(std::min<int64_t>(parsePositive("--iters", v), 100000));
    else if (a == "--isa")
      o.isa = v;
    else
      fail("unknown option '", a, "'\n", kUsage);
  }
  return o;
}

/// A 64-byte aligned f32 array, first touched by the pool's threads (pages land where the
/// threads run, as in STREAM).
struct Array {
  float *data = nullptr;
  int64_t n = 0;
  explicit Array(int64_t count) : n(count) {
    size_t bytes = (size_t(count) * sizeof(float) + 63) / 64 * 64;
    data = static_cast<float *>(std::aligned_alloc(64, bytes));
    if (!data)
      fail("cannot allocate ", bytes, " bytes");
  }
  ~Array() { std::free(data); }
  Array(const Array &) = delete;
  Array &operator=(const Array &) = delete;
  void fill(float base, float step) {
    float *d = data;
    parallelFor(n, 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        d[i] = base + step * float(i % 1000);
    });
  }
};

Tensor tensorOf(ds::plan::DType dt, const std::vector<int64_t> *shape, int64_t n,
                void *data) {
  return Tensor{dt, shape, n, data};
}

/// adam_update (AdamW, weight decay 0.01) as the executor runs it: the load-time check,
/// the decoded attributes, findCpuKernel, the results written over param and the moments.
class AdamWStep {
public:
  explicit AdamWStep(int64_t n) : n_(n), p_(n), g_(n), m_(n), v_(n), shape_{n} {
    p_.fill(0.5f, 1e-4f);
    g_.fill(-1e-2f, 2e-5f);
    m_.fill(0, 0);
    v_.fill(0, 0);
    ins_.set_kernel("adam_update");
    auto &attrs = *ins_.mutable_attrs();
    attrs["beta1"].set_f(0.9);
    attrs["beta2"].set_f(0.999);
    attrs["eps"].set_f(1e-8);
    attrs["weight_decay"].set_f(0.01);
    attrs["adam_w_mode"].set_i(1);
    attrs["bias_correction"].set_i(1);
    TensorType big, lrType, stepType;
    big.dtype = ds::plan::F32;
    big.shape = shape_;
    big.numel = n;
    big.bytes = uint64_t(n) * 4;
    lrType.dtype = ds::plan::F32;
    lrType.numel = 1;
    lrType.bytes = 4;
    stepType.dtype = ds::plan::I64;
    stepType.numel = 1;
    stepType.bytes = 8;
    CheckContext check{
        ins_, {&big, &big, &big, &big, &lrType, &stepType}, {&big, &big, &big}};
    attrs_ = checkInstruction(*findKernelSignature("adam_update"), check);
    run_ = findCpuKernel("adam_update");
    if (!run_)
      fail("adam_update has no CPU kernel");
  }
  void operator()() {
    KernelCall call{ins_, {}, {}, ctx_, attrs_};
    for (float *d : {p_.data, g_.data, m_.data, v_.data})
      call.in.push_back(tensorOf(ds::plan::F32, &shape_, n_, d));
    call.in.push_back(tensorOf(ds::plan::F32, &scalar_, 1, &lr_));
    call.in.push_back(tensorOf(ds::plan::I64, &scalar_, 1, &step_));
    for (float *d : {p_.data, m_.data, v_.data})
      call.out.push_back(tensorOf(ds::plan::F32, &shape_, n_, d));
    run_(call);
    ++step_;
  }

private:
  int64_t n_;
  Array p_, g_, m_, v_;
  std::vector<int64_t> shape_, scalar_;
  float lr_ = 1e-3f;
  int64_t step_ = 1;
  Instruction ins_;
  KernelAttrs attrs_;
  RunFn run_ = nullptr;
  ExecContext ctx_;
};

struct Bandwidth {
  double copy, triad, update; // bytes per second
};

// The bandwidth loops, vectorised for the best instruction set the processor has (so that
// the bound they give is not limited by the loops themselves).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DS_BEST_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DS_BEST_ISA_CLONES
#endif

DS_BEST_ISA_CLONES void triadLoop(float *__restrict x, const float *__restrict y,
                                  const float *__restrict z, float s, int64_t lo,
                                  int64_t hi) {
  for (int64_t i = lo; i < hi; ++i)
    x[i] = y[i] + s * z[i];
}

DS_BEST_ISA_CLONES void updateLoop(float *__restrict x, const float *__restrict y,
                                   float *__restrict z, float *__restrict w, float s,
                                   int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) {
    float yi = y[i];
    x[i] += s * yi;
    z[i] += s * yi;
    w[i] += s * yi;
  }
}

/// STREAM-style loops over four more arrays of the same total size as p, g, m, v, split
/// across the same threads. Bytes counted as STREAM does (no write-allocate): copy 16 per
/// element (two copies), triad 12, update 28 (A, C, D += s*B: adam_update's reads and
/// writes, in place, so no write-allocate traffic goes uncounted).
class BandwidthLoops {
public:
  explicit BandwidthLoops(int64_t n) : n_(n), a_(n), b_(n), c_(n), d_(n) {
    a_.fill(1, 1e-3f);
    b_.fill(2, 1e-3f);
    c_.fill(3, 1e-3f);
    d_.fill(4, 1e-3f);
  }
  void copy() {
    float *A = a_.data, *B = b_.data, *C = c_.data, *D = d_.data;
    parallelFor(n_, kGrain, [&](int64_t lo, int64_t hi) {
      std::memcpy(B + lo, A + lo, size_t(hi - lo) * 4);
      std::memcpy(D + lo, C + lo, size_t(hi - lo) * 4);
    });
  }
  void triad() {
    parallelFor(n_, kGrain, [&](int64_t lo, int64_t hi) {
      triadLoop(a_.data, b_.data, c_.data, kScale, lo, hi);
    });
  }
  void update() {
    parallelFor(n_, kGrain, [&](int64_t lo, int64_t hi) {
      updateLoop(a_.data, b_.data, c_.data, d_.data, kScale, lo, hi);
    });
  }

private:
  static constexpr int64_t kGrain = 1 << 15;
  static constexpr float kScale = 1e-7f;
  int64_t n_;
  Array a_, b_, c_, d_;
};

} // namespace

int main(int argc, char **argv) {
  try {
    Options o = parse(argc, argv);
    if (o.threads > 0)
      setNumThreads(o.threads);
    if (!o.isa.empty())
      setCpuIsa(o.isa);
    AdamWStep adam(o.params);
    BandwidthLoops bw(o.params);
    // Interleaved rounds (every loop once per round, best round kept), so that a machine
    // whose load changes over the run slows all of them alike; the percentage of the
    // bound is also given as the median over rounds of the ratio within one round.
    struct Timed {
      const char *name;
      double bytesPerElement;
      std::function<void()> run;
      double best = 1e300;
    };
    std::vector<Timed> loops = {{"adamw", 28, [&] { adam(); }},
                                {"copy", 16, [&] { bw.copy(); }},
                                {"triad", 12, [&] { bw.triad(); }},
                                {"update", 28, [&] { bw.update(); }}};
    double n = double(o.params);
    std::vector<double>
        roundPercent; // per round: adamw rate / (that round's bandwidth / 28)
    for (int round = -1; round < o.iters; ++round) { // round -1: warm-up
      double roundBandwidth = 0, roundAdam = 0;
      for (Timed &l : loops) {
        auto t0 = std::chrono::steady_clock::now();
        l.run();
        double t =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (round < 0)
          continue;
        l.best = std::min(l.best, t);
        if (&l == &loops[0])
          roundAdam = n / t;
        else
          roundBandwidth = std::max(roundBandwidth, l.bytesPerElement * n / t);
      }
      if (round >= 0)
        roundPercent.push_back(100 * roundAdam / (roundBandwidth / 28));
    }
    std::sort(roundPercent.begin(), roundPercent.end());
    std::printf("isa %s\nthreads %d\nparams %lld\niters %d\n", cpuIsa().c_str(),
                numThreads(), (long long)o.params, o.iters);
    double adamRate = n / loops[0].best, bandwidth = 0;
    std::printf("adamw_seconds %.6f\nadamw_params_per_s %.6e\n", loops[0].best, adamRate);
    for (size_t k = 1; k < loops.size(); ++k) {
      double bytesPerS = loops[k].bytesPerElement * n / loops[k].best;
      std::printf("bw_%s_bytes_per_s %.6e\n", loops[k].name, bytesPerS);
      bandwidth = std::max(bandwidth, bytesPerS);
    }
    std::printf("bw_bytes_per_s %.6e\nbound_params_per_s %.6e\n", bandwidth,
                bandwidth / 28);
    std::printf("percent_of_bound %.1f\n", 100 * adamRate / (bandwidth / 28));
    std::printf("percent_of_bound_median_round %.1f\n",
                roundPercent[roundPercent.size() / 2]);
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-bench-optimizer: %s\n", e.what());
    return 1;
  }
}
