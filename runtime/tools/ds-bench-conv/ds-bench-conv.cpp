// ds-bench-conv: milliseconds of the CPU conv, conv_grad_input and conv_grad_filter
// kernels (f32) on one shape, through the executor's entry (findCpuKernel). Prints `key
// value` lines for scripts/bench-conv.sh. Not a test.
#include "../common/KernelBench.h"
#include "ds/runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

const char *kUsage =
    "usage: ds-bench-conv N C H W M K STRIDE PAD [--iters I] [--threads T]\n"
    "  x [N,C,H,W], w [M,C,K,K], stride and symmetric pad; the best of I timed rounds "
    "(default 10)";

int64_t number(const char *text) { return bench::number(text, kUsage); }

/// One convolution kernel (stride and symmetric pad, no dilation, one group) over operands
/// drawn from one normal stream.
bench::KernelCase convCase(const std::string &kernel,
                           const std::vector<std::vector<int64_t>> &in,
                           const std::vector<int64_t> &out, int64_t stride, int64_t pad) {
  bench::KernelCase c(kernel, kernel);
  auto ints = [&](const char *k, std::vector<int64_t> v) {
    auto *l = (*c.ins.mutable_attrs())[k].mutable_ints();
    for (int64_t x : v)
      l->add_values(x);
  };
  ints("strides", {stride, stride});
  ints("pads", {pad, pad, pad, pad});
  ints("dilations", {1, 1});
  (*c.ins.mutable_attrs())["group"].set_i(1);
  for (const auto &s : in)
    c.in.push_back(c.add(s));
  c.out = {c.add(out)};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (bench::Buf &b : c.bufs)
    for (float &x : b.f)
      x = normal(rng);
  c.prepare();
  return c;
}
} // namespace

int main(int argc, char **argv) {
  try {
    std::vector<int64_t> v;
    int iters = 10;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::puts(kUsage);
        return 0;
      }
      if (a == "--iters" || a == "--threads") {
        if (i + 1 >= argc)
          fail(a, ": missing value");
        int64_t n = number(argv[++i]);
        if (a == "--iters")
          iters = int(std::max<int64_t>(1, n));
        else
          setNumThreads(int(std::max<int64_t>(1, n)));
        continue;
      }
      v.push_back(number(argv[i]));
    }
    if (v.size() != 8)
      fail("expected 8 numbers (", kUsage, ")");
    int64_t n = v[0], c = v[1], h = v[2], w = v[3], m = v[4], k = v[5], s = v[6],
            p = v[7];
    int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    std::vector<int64_t> xs{n, c, h, w}, ws{m, c, k, k}, ys{n, m, oh, ow};
    double fwd = convCase("conv", {xs, ws}, ys, s, p).millis(iters);
    double bwdData = convCase("conv_grad_input", {ys, ws}, xs, s, p).millis(iters);
    double bwdFilter = convCase("conv_grad_filter", {ys, xs}, ws, s, p).millis(iters);
    std::printf("threads %d\nforward_ms %.4f\nbackward_input_ms %.4f\nbackward_filter_ms "
                "%.4f\ntotal_ms %.4f\n",
                numThreads(), fwd, bwdData, bwdFilter, fwd + bwdData + bwdFilter);
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-bench-conv: %s\n", e.what());
    return 1;
  }
}
