// ds-bench-attention: milliseconds of the CPU packed_attention and packed_attention_grad
// kernels (f32) on one shape, through the executor's entry (findCpuKernel), and a hash of
// the outputs' bits (so that two builds can be compared for identical results). Prints
// `key value` lines. Not a test.
#include "ds/runtime/Kernels.h"
#include "ds/runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

const char *kUsage =
    "usage: ds-bench-attention B T H D [--causal 0|1] [--iters I] [--threads N]\n"
    "  qkv [B,T,3,H,D] f32, causal by default; the best of I timed rounds (default 10)";

int64_t number(const char *text) {
  char *end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end || v < 0)
    fail("'", text, "' is not a non-negative integer (", kUsage, ")");
  return v;
}

/// One kernel instruction over caller-owned f32 buffers, checked like a plan's.
struct Bench {
  Instruction ins;
  std::vector<TensorType> types;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<float *> data;
  KernelAttrs attrs;
  RunFn run = nullptr;
  size_t numIn = 0;

  Bench(const std::string &kernel, bool causal, double scale,
        const std::vector<std::pair<std::vector<int64_t>, float *>> &in,
        const std::vector<std::pair<std::vector<int64_t>, float *>> &out) {
    ins.set_kernel(kernel);
    (*ins.mutable_attrs())["scale"].set_f(scale);
    (*ins.mutable_attrs())["causal"].set_i(causal);
    numIn = in.size();
    for (const auto *side : {&in, &out})
      for (const auto &[shape, ptr] : *side) {
        TensorType t;
        t.dtype = ds::plan::F32;
        t.shape = shape;
        t.numel = 1;
        for (int64_t d : shape)
          t.numel *= d;
        t.bytes = uint64_t(t.numel) * 4;
        types.push_back(t);
        shapes.push_back(shape);
        data.push_back(ptr);
      }
    CheckContext check{ins, {}, {}};
    for (size_t i = 0; i < types.size(); ++i)
      (i < numIn ? check.in : check.out).push_back(&types[i]);
    attrs = checkInstruction(*findKernelSignature(kernel), check);
    run = findCpuKernel(kernel);
  }

  void once() {
    ExecContext ctx;
    KernelCall call{ins, {}, {}, ctx, attrs};
    for (size_t i = 0; i < types.size(); ++i)
      (i < numIn ? call.in : call.out)
          .push_back(Tensor{ds::plan::F32, &shapes[i], types[i].numel, data[i]});
    run(call);
  }

  double millis(int iters) {
    once(); // warm-up
    double best = 1e30;
    for (int it = 0; it < iters; ++it) {
      auto t0 = std::chrono::steady_clock::now();
      once();
      auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    return best;
  }
};

/// FNV-1a over the bits of the floats.
uint64_t hashBits(const std::vector<float> &v) {
  uint64_t h = 1469598103934665603ull;
  for (float x : v) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    for (int b = 0; b < 4; ++b)
      h = (h ^ ((u >> (8 * b)) & 0xff)) * 1099511628211ull;
  }
  return h;
}
} // namespace

int main(int argc, char **argv) {
  try {
    std::vector<int64_t> v;
    int iters = 10;
    bool causal = true;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::puts(kUsage);
        return 0;
      }
      if (a == "--iters" || a == "--threads" || a == "--causal") {
        if (i + 1 >= argc)
          fail(a, ": missing value");
        int64_t n = number(argv[++i]);
        if (a == "--iters")
          iters = int(std::max<int64_t>(1, n));
        else if (a == "--causal")
          causal = n != 0;
        else
          setNumThreads(int(std::max<int64_t>(1, n)));
        continue;
      }
      v.push_back(number(argv[i]));
    }
    if (v.size() != 4)
      fail("expected 4 numbers (", kUsage, ")");
    int64_t b = v[0], t = v[1], h = v[2], d = v[3];
    std::vector<int64_t> qkvShape{b, t, 3, h, d}, outShape{b, t, h, d}, lseShape{b, h, t};
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    std::vector<float> qkv(size_t(b * t * 3 * h * d)), g(size_t(b * t * h * d));
    for (float &x : qkv)
      x = normal(rng);
    for (float &x : g)
      x = normal(rng);
    std::vector<float> out(g.size()), lse(size_t(b * h * t)), dqkv(qkv.size());
    double scale = 1 / std::sqrt(double(d));
    Bench fwd("packed_attention", causal, scale, {{qkvShape, qkv.data()}},
              {{outShape, out.data()}, {lseShape, lse.data()}});
    Bench bwd("packed_attention_grad", causal, scale,
              {{outShape, g.data()},
               {qkvShape, qkv.data()},
               {outShape, out.data()},
               {lseShape, lse.data()}},
              {{qkvShape, dqkv.data()}});
    double fwdMs = fwd.millis(iters), bwdMs = bwd.millis(iters);
    std::printf("threads %d\nforward_ms %.4f\nbackward_ms %.4f\nhash %016" PRIx64 "\n",
                numThreads(), fwdMs, bwdMs,
                hashBits(out) ^ (hashBits(lse) * 3) ^ (hashBits(dqkv) * 7));
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-bench-attention: %s\n", e.what());
    return 1;
  }
}
