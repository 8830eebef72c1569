// What the CPU kernel benchmarks (ds-bench-conv, -attention, -gemm, -kernels) share: one
// kernel instruction over buffers of its own, checked like a plan's and called through the
// executor's entry (findCpuKernel), timed best-of-N, and an FNV-1a hash of output bits (so
// that two builds can be compared for identical results). Not a test.
#pragma once

#include "ds/runtime/Kernels.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace ds::rt::bench {

/// A non-negative integer argument; fails naming it and the tool's usage.
inline int64_t number(const char *text, const char *usage) {
  char *end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end || v < 0)
    fail("'", text, "' is not a non-negative integer (", usage, ")");
  return v;
}

/// FNV-1a over the bytes of the floats' bits, continuing from `h`.
inline uint64_t hashFloats(const std::vector<float> &v,
                           uint64_t h = 1469598103934665603ull) {
  for (float x : v) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    for (int b = 0; b < 4; ++b)
      h = (h ^ ((u >> (8 * b)) & 0xff)) * 1099511628211ull;
  }
  return h;
}

inline void normalFill(std::vector<float> &v, float stddev, float mean, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, stddev);
  for (float &x : v)
    x = normal(rng);
}

/// A buffer of the case: f32 (or i64, e.g. a step counter) with a shape.
struct Buf {
  std::vector<int64_t> shape;
  std::vector<float> f;
  std::vector<int64_t> i;
  bool isInt = false;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// One kernel instruction over the case's buffers (an output may name an input's buffer:
/// in place). Set the kernel's attributes on `ins`, add the buffers, list `in` and `out`,
/// then prepare().
struct KernelCase {
  std::string name, kernel;
  std::vector<Buf> bufs;
  std::vector<size_t> in, out;
  Instruction ins;
  KernelAttrs attrs;
  RunFn run = nullptr;
  std::function<void(KernelCase &)> fill; // (re)initialises bufs; may be empty

  KernelCase(std::string name, std::string kernel)
      : name(std::move(name)), kernel(std::move(kernel)) {}

  size_t add(std::vector<int64_t> shape) {
    Buf b;
    b.shape = std::move(shape);
    b.f.resize(size_t(b.numel()));
    bufs.push_back(std::move(b));
    return bufs.size() - 1;
  }

  /// Checks the instruction against the kernel's signature, as a plan's load does.
  void prepare() {
    ins.set_kernel(kernel);
    std::vector<TensorType> types(bufs.size());
    for (size_t k = 0; k < bufs.size(); ++k) {
      types[k].dtype = bufs[k].isInt ? ds::plan::I64 : ds::plan::F32;
      types[k].shape = bufs[k].shape;
      types[k].numel = bufs[k].numel();
      types[k].bytes = uint64_t(types[k].numel) * (bufs[k].isInt ? 8 : 4);
    }
    CheckContext check{ins, {}, {}};
    for (size_t k : in)
      check.in.push_back(&types[k]);
    for (size_t k : out)
      check.out.push_back(&types[k]);
    attrs = checkInstruction(*findKernelSignature(kernel), check);
    run = findCpuKernel(kernel);
  }

  Tensor tensor(size_t k) {
    Buf &b = bufs[k];
    return Tensor{b.isInt ? ds::plan::I64 : ds::plan::F32, &b.shape, b.numel(),
                  b.isInt ? static_cast<void *>(b.i.data()) : b.f.data()};
  }

  void once() {
    ExecContext ctx;
    KernelCall call{ins, {}, {}, ctx, attrs};
    for (size_t k : in)
      call.in.push_back(tensor(k));
    for (size_t k : out)
      call.out.push_back(tensor(k));
    run(call);
  }

  /// Milliseconds of one call.
  double timeOnce() {
    auto t0 = std::chrono::steady_clock::now();
    once();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
        .count();
  }

  /// The best of `iters` timed calls after fill and one warm-up call.
  double millis(int iters) {
    if (fill)
      fill(*this);
    once();
    double best = 1e30;
    for (int it = 0; it < iters; ++it)
      best = std::min(best, timeOnce());
    return best;
  }

  /// The hash of the outputs after one call from freshly filled inputs.
  uint64_t hash() {
    if (fill)
      fill(*this);
    once();
    uint64_t h = 1469598103934665603ull;
    for (size_t k : out)
      h = hashFloats(bufs[k].f, h);
    return h;
  }
};

} // namespace ds::rt::bench
