// ds-bench-attention: milliseconds of the CPU packed_attention and packed_attention_grad
// kernels (f32) on one shape, through the executor's entry (findCpuKernel), and a hash of
// the outputs' bits (so that two builds can be compared for identical results). Prints
// `key value` lines. Not a test.
#include "../common/KernelBench.h"
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

int64_t number(const char *text) { return bench::number(text, kUsage); }

bench::KernelCase attentionCase(const std::string &kernel, bool causal, double scale) {
  bench::KernelCase c(kernel, kernel);
  (*c.ins.mutable_attrs())["scale"].set_f(scale);
  (*c.ins.mutable_attrs())["causal"].set_i(causal);
  return c;
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
    double scale = 1 / std::sqrt(double(d));
    bench::KernelCase fwd = attentionCase("packed_attention", causal, scale);
    size_t qkv = fwd.add(qkvShape), out = fwd.add(outShape), lse = fwd.add(lseShape);
    fwd.in = {qkv};
    fwd.out = {out, lse};
    bench::KernelCase bwd = attentionCase("packed_attention_grad", causal, scale);
    size_t g = bwd.add(outShape), bqkv = bwd.add(qkvShape), bout = bwd.add(outShape),
           blse = bwd.add(lseShape), dqkv = bwd.add(qkvShape);
    bwd.in = {g, bqkv, bout, blse};
    bwd.out = {dqkv};
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (std::vector<float> *x : {&fwd.bufs[qkv].f, &bwd.bufs[g].f})
      for (float &v : *x)
        v = normal(rng);
    fwd.prepare();
    bwd.prepare();
    double fwdMs = fwd.millis(iters);
    bwd.bufs[bqkv].f = fwd.bufs[qkv].f; // the gradient of the forward just timed
    bwd.bufs[bout].f = fwd.bufs[out].f;
    bwd.bufs[blse].f = fwd.bufs[lse].f;
    double bwdMs = bwd.millis(iters);
    std::printf("threads %d\nforward_ms %.4f\nbackward_ms %.4f\nhash %016" PRIx64 "\n",
                numThreads(), fwdMs, bwdMs,
                bench::hashFloats(fwd.bufs[out].f) ^ (bench::hashFloats(fwd.bufs[lse].f) * 3) ^
                    (bench::hashFloats(bwd.bufs[dqkv].f) * 7));
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-bench-attention: %s\n", e.what());
    return 1;
  }
}
