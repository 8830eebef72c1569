// ds-bench-kernels: milliseconds per call of the CPU kernels outside GEMM and attention at
// the shapes of issue #18's benchmark GPT (micro-batch 4 x 128 tokens, d 256, MLP 1024, as
// scripts/bench-zero-cpu.sh's plans call them), through the executor's entry
// (findCpuKernel), and a hash of each kernel's output bits (so that two builds can be
// compared for identical results). Prints `name ms hash` lines. Not a test.
#include "../common/KernelBench.h"
#include "ds/runtime/ThreadPool.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

const char *kUsage =
    "usage: ds-bench-kernels [--iters I] [--threads N] [--gelu-std S] [CASE...]\n"
    "  cases: gelu gelu_wide gelu_grad gelu_grad_wide layer_norm layer_norm_grad add\n"
    "  multi_adam_update (default: all); the best of I timed calls (default 50) after one\n"
    "  warm-up call. Gelu inputs: normal, standard deviation S (default 0.5; 0.34 leaves\n"
    "  the share of 16-element blocks with an |x| >= sqrt 2 (erf's second polynomial) that\n"
    "  bench-zero-cpu's GPT has, 0.05%), *_wide: 3.";

using bench::normalFill;
using Case = bench::KernelCase;
int64_t number(const char *text) { return bench::number(text, kUsage); }

/// A NaN and infinities among the values, so that the hashes compare their results too.
void specials(std::vector<float> &v) {
  v[100] = std::numeric_limits<float>::quiet_NaN();
  v[1000] = std::numeric_limits<float>::infinity();
  v[5000] = -std::numeric_limits<float>::infinity();
}

Case unaryGelu(const std::string &name, float stddev) {
  Case c(name, "gelu");
  c.in = {c.add({4, 128, 1024})};
  c.out = {c.add({4, 128, 1024})};
  (*c.ins.mutable_attrs())["approximate"].set_s("none");
  c.fill = [stddev](Case &k) {
    normalFill(k.bufs[0].f, stddev, 0, 1);
    specials(k.bufs[0].f);
  };
  return c;
}

Case geluGrad(const std::string &name, float stddev) {
  Case c(name, "gelu_grad");
  c.in = {c.add({4, 128, 1024}), c.add({4, 128, 1024})};
  c.out = {c.add({4, 128, 1024})};
  (*c.ins.mutable_attrs())["approximate"].set_s("none");
  c.fill = [stddev](Case &k) {
    normalFill(k.bufs[0].f, 0.01f, 0, 2);
    normalFill(k.bufs[1].f, stddev, 0, 3);
    specials(k.bufs[1].f);
  };
  return c;
}

void layerNormAttrs(Case &c) {
  (*c.ins.mutable_attrs())["axis"].set_i(2);
  (*c.ins.mutable_attrs())["epsilon"].set_f(1e-5);
}

std::vector<Case> allCases(float geluStd) {
  std::vector<Case> cases;
  cases.push_back(unaryGelu("gelu", geluStd));
  cases.push_back(unaryGelu("gelu_wide", 3.0f));
  cases.push_back(geluGrad("gelu_grad", geluStd));
  cases.push_back(geluGrad("gelu_grad_wide", 3.0f));
  {
    Case c("layer_norm", "layer_norm");
    c.in = {c.add({4, 128, 256}), c.add({256}), c.add({256})};
    c.out = {c.add({4, 128, 256})};
    layerNormAttrs(c);
    c.fill = [](Case &k) {
      normalFill(k.bufs[0].f, 1.0f, 0.1f, 4);
      normalFill(k.bufs[1].f, 0.1f, 1.0f, 5);
      normalFill(k.bufs[2].f, 0.1f, 0.0f, 6);
    };
    cases.push_back(std::move(c));
  }
  {
    // As the plans run it: dx, dscale and dbias accumulated into their accs, in place.
    Case c("layer_norm_grad", "layer_norm_grad");
    size_t g = c.add({4, 128, 256}), x = c.add({4, 128, 256}), s = c.add({256});
    size_t dx = c.add({4, 128, 256}), ds = c.add({256}), db = c.add({256});
    c.in = {g, x, s, dx, ds, db};
    c.out = {dx, ds, db};
    layerNormAttrs(c);
    c.fill = [](Case &k) {
      normalFill(k.bufs[0].f, 0.01f, 0, 7);
      normalFill(k.bufs[1].f, 1.0f, 0.1f, 8);
      normalFill(k.bufs[2].f, 0.1f, 1.0f, 9);
      normalFill(k.bufs[3].f, 0.01f, 0, 10);
      normalFill(k.bufs[4].f, 0.01f, 0, 11);
      normalFill(k.bufs[5].f, 0.01f, 0, 12);
    };
    cases.push_back(std::move(c));
  }
  {
    Case c("add", "add");
    c.in = {c.add({4, 128, 256}), c.add({4, 128, 256})};
    c.out = {c.add({4, 128, 256})};
    c.fill = [](Case &k) {
      normalFill(k.bufs[0].f, 1, 0, 13);
      normalFill(k.bufs[1].f, 1, 0, 14);
    };
    cases.push_back(std::move(c));
  }
  {
    // The GPT's 52 parameters (3.72M elements), AdamW with one grad scale and the
    // gradients zeroed, in place, as bench-zero-cpu's stage-0 plan runs it.
    Case c("multi_adam_update", "multi_adam_update");
    std::vector<std::vector<int64_t>> params{{2048, 256}, {128, 256}};
    for (int layer = 0; layer < 4; ++layer)
      for (std::vector<int64_t> s : std::vector<std::vector<int64_t>>{{256},
                                                                      {256},
                                                                      {768, 256},
                                                                      {768},
                                                                      {256, 256},
                                                                      {256},
                                                                      {256},
                                                                      {256},
                                                                      {1024, 256},
                                                                      {1024},
                                                                      {256, 1024},
                                                                      {256}})
        params.push_back(s);
    params.push_back({256});
    params.push_back({256});
    size_t lr = c.add({}), step = c.add({}), scale = c.add({});
    c.bufs[step].isInt = true;
    c.bufs[step].i = {3};
    c.in = {lr, step, scale};
    std::vector<size_t> pgmv;
    for (const auto &s : params)
      for (int k = 0; k < 4; ++k) {
        c.in.push_back(c.add(s));
        pgmv.push_back(c.in.back());
      }
    for (size_t p = 0; p < params.size(); ++p)
      for (int k : {0, 2, 3, 1}) // np = p, nm = m, nv = v, zeroed grad = g
        c.out.push_back(pgmv[4 * p + size_t(k)]);
    auto &a = *c.ins.mutable_attrs();
    a["beta1"].set_f(0.9);
    a["beta2"].set_f(0.95);
    a["eps"].set_f(1e-8);
    a["weight_decay"].set_f(0.1);
    a["adam_w_mode"].set_i(1);
    a["bias_correction"].set_i(1);
    a["count"].set_i(int64_t(params.size()));
    a["grad_scales"].set_i(1);
    a["zero_grads"].set_i(1);
    c.fill = [pgmv, lr, scale](Case &k) {
      k.bufs[lr].f = {6e-4f};
      k.bufs[scale].f = {0.5f};
      for (size_t j = 0; j < pgmv.size(); ++j) {
        auto &v = k.bufs[pgmv[j]].f;
        normalFill(v, j % 4 == 3 ? 1e-4f : 0.02f, 0, unsigned(100 + j));
        if (j % 4 == 3)
          for (float &x : v)
            x = x * x;
      }
    };
    cases.push_back(std::move(c));
  }
  return cases;
}

} // namespace

int main(int argc, char **argv) {
  try {
    int iters = 50;
    float geluStd = 0.5f;
    std::vector<std::string> wanted;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::puts(kUsage);
        return 0;
      }
      if (a == "--gelu-std") {
        char *end = nullptr;
        geluStd = i + 1 < argc ? std::strtof(argv[++i], &end) : 0.0f;
        if (!end || *end || !(geluStd > 0))
          fail("--gelu-std: a positive number (", kUsage, ")");
        continue;
      }
      if (a == "--iters" || a == "--threads") {
        if (i + 1 >= argc)
          fail(a, ": missing value");
        int64_t n = std::max<int64_t>(1, number(argv[++i]));
        if (a == "--iters")
          iters = int(n);
        else
          setNumThreads(int(n));
        continue;
      }
      wanted.push_back(a);
    }
    std::vector<Case> cases = allCases(geluStd);
    for (const std::string &w : wanted)
      if (std::none_of(cases.begin(), cases.end(), [&](const Case &c) { return c.name == w; }))
        fail("unknown case '", w, "' (", kUsage, ")");
    std::printf("threads %d\n", numThreads());
    for (Case &c : cases) {
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), c.name) == wanted.end())
        continue;
      c.prepare();
      uint64_t h = c.hash();
      double ms = c.millis(iters);
      std::printf("%-18s %8.4f ms  %016" PRIx64 "\n", c.name.c_str(), ms, h);
    }
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-bench-kernels: %s\n", e.what());
    return 1;
  }
}
