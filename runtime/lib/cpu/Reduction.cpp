// reduce_sum, reduce_mean, reduce_max (f16/bf16 reduce in f32; sums accumulate in f64/i64).
#include "CpuCommon.h"

#include <limits>
#include <set>

namespace ds::rt::cpu {
namespace {

enum class Red { Sum, Mean, Max };

template <typename T> using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;

/// max as torch.max/amax: a NaN anywhere wins (std::max drops a NaN second operand);
/// otherwise std::max's choice, so non-NaN results are unchanged bit for bit.
template <typename V> inline V maxNan(V a, V b) { return a < b || b != b ? b : a; }

template <typename T>
void reduceTyped(const T *x, const std::vector<int64_t> &shape, const std::set<int64_t> &axes,
                 Red red, T *r) {
  size_t rank = shape.size();
  std::vector<bool> isRed(rank);
  for (size_t i = 0; i < rank; ++i)
    isRed[i] = axes.empty() || axes.count(int64_t(i));
  int64_t total = 1, redCount = 1;
  for (size_t i = 0; i < rank; ++i) {
    total *= shape[i];
    if (isRed[i])
      redCount *= shape[i];
  }
  int64_t outCount = redCount ? total / redCount : [&] {
    int64_t n = 1;
    for (size_t i = 0; i < rank; ++i)
      if (!isRed[i])
        n *= shape[i];
    return n;
  }();
  auto init = [&]() -> Acc<T> {
    // Max starts at -inf for floating types, so an all--inf slice reduces to -inf (torch),
    // not to the lowest finite value.
    if constexpr (std::numeric_limits<T>::has_infinity)
      return red == Red::Max ? -std::numeric_limits<Acc<T>>::infinity() : Acc<T>(0);
    else
      return red == Red::Max ? Acc<T>(std::numeric_limits<T>::lowest()) : Acc<T>(0);
  };
  auto finish = [&](Acc<T> a) -> T {
    if (red == Red::Mean)
      return T(redCount ? double(a) / double(redCount) : std::numeric_limits<double>::quiet_NaN());
    return T(a);
  };
  // Reduced dims forming one contiguous block: view as [outer, red, inner].
  int first = -1, last = -1;
  for (size_t i = 0; i < rank; ++i)
    if (isRed[i] && shape[i] != 1) {
      if (first < 0)
        first = int(i);
      last = int(i);
    }
  bool block = true;
  for (int i = first; first >= 0 && i <= last; ++i)
    if (!isRed[size_t(i)] && shape[size_t(i)] != 1)
      block = false;
  if (block) {
    int64_t outer = 1, inner = 1, rc = redCount;
    for (int i = 0; i < (first < 0 ? int(rank) : first); ++i)
      outer *= shape[size_t(i)];
    for (size_t i = size_t(last + 1); first >= 0 && i < rank; ++i)
      inner *= shape[i];
    if (first < 0) { // nothing (of size > 1) reduced: copy through finish()
      parallelFor(outCount, kGrain, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i)
          r[i] = red == Red::Max ? x[i] : finish(Acc<T>(x[i]));
      });
      return;
    }
    if (inner == 1) {
      parallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(rc, 1)),
                  [&](int64_t s, int64_t e) {
                    for (int64_t o = s; o < e; ++o) {
                      const T *p = x + o * rc;
                      Acc<T> a = init();
                      if (red == Red::Max)
                        for (int64_t k = 0; k < rc; ++k)
                          a = maxNan(a, Acc<T>(p[k]));
                      else
                        for (int64_t k = 0; k < rc; ++k)
                          a += Acc<T>(p[k]);
                      r[o] = finish(a);
                    }
                  });
      return;
    }
    parallelFor(outer * inner, std::max<int64_t>(1, kGrain / std::max<int64_t>(rc, 1)),
                [&](int64_t s, int64_t e) {
                  std::vector<Acc<T>> acc;
                  int64_t idx = s;
                  while (idx < e) { // one run of consecutive inner positions of one outer
                    int64_t o = idx / inner, i0 = idx % inner;
                    int64_t n = std::min(inner - i0, e - idx);
                    acc.assign(size_t(n), init());
                    for (int64_t k = 0; k < rc; ++k) {
                      const T *p = x + (o * rc + k) * inner + i0;
                      if (red == Red::Max)
                        for (int64_t i = 0; i < n; ++i)
                          acc[size_t(i)] = maxNan(acc[size_t(i)], Acc<T>(p[i]));
                      else if constexpr (std::is_same_v<T, float>) // this CPU's vectors
                        elementwiseLoops().accumulateRow(acc.data(), p, n);
                      else
                        for (int64_t i = 0; i < n; ++i)
                          acc[size_t(i)] += Acc<T>(p[i]);
                    }
                    for (int64_t i = 0; i < n; ++i)
                      r[o * inner + i0 + i] = finish(acc[size_t(i)]);
                    idx += n;
                  }
                });
    return;
  }
  // General case: for every output element, walk the reduced sub-space.
  std::vector<int64_t> keptDims, keptStrides, redDims, redStrides;
  std::vector<int64_t> st = contiguousStrides(shape);
  for (size_t i = 0; i < rank; ++i) {
    (isRed[i] ? redDims : keptDims).push_back(shape[i]);
    (isRed[i] ? redStrides : keptStrides).push_back(st[i]);
  }
  parallelFor(outCount, std::max<int64_t>(1, kGrain / std::max<int64_t>(redCount, 1)),
              [&](int64_t s, int64_t e) {
                for (int64_t o = s; o < e; ++o) {
                  int64_t base = 0, rem = o;
                  for (size_t d = keptDims.size(); d-- > 0;) {
                    base += (rem % keptDims[d]) * keptStrides[d];
                    rem /= keptDims[d];
                  }
                  Acc<T> a = init();
                  for (int64_t k = 0; k < redCount; ++k) {
                    int64_t off = base, rk = k;
                    for (size_t d = redDims.size(); d-- > 0;) {
                      off += (rk % redDims[d]) * redStrides[d];
                      rk /= redDims[d];
                    }
                    if (red == Red::Max)
                      a = maxNan(a, Acc<T>(x[off]));
                    else
                      a += Acc<T>(x[off]);
                  }
                  r[o] = finish(a);
                }
              });
}

void reduceInto(const Tensor &x, const std::vector<int64_t> &axesV, Red red, const Tensor &r) {
  std::set<int64_t> axes(axesV.begin(), axesV.end());
  switch (x.dtype) {
  case ds::plan::F32: reduceTyped(x.as<float>(), *x.shape, axes, red, r.as<float>()); break;
  case ds::plan::F64: reduceTyped(x.as<double>(), *x.shape, axes, red, r.as<double>()); break;
  case ds::plan::I32: reduceTyped(x.as<int32_t>(), *x.shape, axes, red, r.as<int32_t>()); break;
  case ds::plan::I64: reduceTyped(x.as<int64_t>(), *x.shape, axes, red, r.as<int64_t>()); break;
  default: {
    std::vector<float> tx, tr;
    const float *px = asF32(x, tx);
    float *pr = outF32(r, tr);
    reduceTyped(px, *x.shape, axes, red, pr);
    storeF32(pr, r);
  }
  }
}

} // namespace

void runReduce(KernelCall &c) {
  if (c.in.size() == 2) // reduce_sum's acc
    return runAccumulating(c, 1, {0}, runReduce);
  const std::string &k = c.ins.kernel();
  Red red = k == "reduce_sum" ? Red::Sum : k == "reduce_mean" ? Red::Mean : Red::Max;
  reduceInto(c.in[0], c.attrs<ReduceAttrs>().axes.value_or(std::vector<int64_t>{}), red,
             c.out[0]);
}

void sumOverAxes(const Tensor &x, const std::vector<int64_t> &axes, const Tensor &r) {
  reduceInto(x, axes, Red::Sum, r);
}

} // namespace ds::rt::cpu
