// Kernels that move or create data: reshape, transpose, gather, slice, split, concat, expand,
// trilu, constant, copy, fill, assert_close, and gather_grad / slice_grad.
#include "CpuCommon.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ds::rt::cpu {
namespace {

template <size_t S> struct Elem { using type = uint8_t; };
template <> struct Elem<2> { using type = uint16_t; };
template <> struct Elem<4> { using type = uint32_t; };
template <> struct Elem<8> { using type = uint64_t; };

// Calls fn.template operator()<E>() with E an unsigned integer of the dtype's size.
template <typename Fn> void bySize(DType t, Fn fn) {
  switch (dtypeSize(t)) {
  case 1: fn(uint8_t()); break;
  case 2: fn(uint16_t()); break;
  case 4: fn(uint32_t()); break;
  default: fn(uint64_t()); break;
  }
}

/// stridedCopy when the output's last dim is strided in the input and another output dim j
/// is the input's contiguous one (a transpose of the two): kTile x kTile tiles of (j, last)
/// go through a buffer, read as kTile runs of the input and written as kTile runs of the
/// output, so that every cache line is touched once per tile. (Walking the tile element by
/// element touches kTile lines at one stride, often a multiple of 4 KiB: they compete for
/// one L1 set.) False when the layout is not that.
template <typename E>
bool tiledTransposeCopy(const E *in, int64_t base, const std::vector<int64_t> &inStrides,
                        E *out, const std::vector<int64_t> &outShape) {
  constexpr int64_t kTile = 16;
  size_t rank = outShape.size();
  if (rank < 2 || inStrides[rank - 1] == 1 || outShape[rank - 1] < kTile)
    return false;
  int64_t j = -1;
  for (size_t d = 0; d + 1 < rank; ++d)
    if (inStrides[d] == 1 && outShape[d] > 1)
      j = int64_t(d);
  if (j < 0 || outShape[size_t(j)] < kTile)
    return false;
  std::vector<int64_t> outStrides = contiguousStrides(outShape);
  std::vector<int64_t> dims, inSt, outSt; // the other dims
  for (size_t d = 0; d + 1 < rank; ++d)
    if (int64_t(d) != j) {
      dims.push_back(outShape[d]);
      inSt.push_back(inStrides[d]);
      outSt.push_back(outStrides[d]);
    }
  int64_t nJ = outShape[size_t(j)], nL = outShape[rank - 1];
  int64_t sL = inStrides[rank - 1], oJ = outStrides[size_t(j)];
  int64_t tilesJ = (nJ + kTile - 1) / kTile, tilesL = (nL + kTile - 1) / kTile;
  int64_t outer = 1;
  for (int64_t d : dims)
    outer *= d;
  parallelFor(outer * tilesJ * tilesL, std::max<int64_t>(1, kGrain / (kTile * kTile)),
              [&](int64_t s, int64_t e) {
                E buf[kTile][kTile]; // [l][j]
                for (int64_t t = s; t < e; ++t) {
                  int64_t o = t / (tilesJ * tilesL), rem = t % (tilesJ * tilesL);
                  int64_t j0 = rem / tilesL * kTile, l0 = rem % tilesL * kTile;
                  int64_t inOff = base, outOff = 0;
                  for (size_t d = dims.size(); d-- > 0;) {
                    int64_t idx = o % dims[d];
                    o /= dims[d];
                    inOff += idx * inSt[d];
                    outOff += idx * outSt[d];
                  }
                  int64_t nj = std::min(kTile, nJ - j0), nl = std::min(kTile, nL - l0);
                  for (int64_t l = 0; l < nl; ++l) { // input runs: contiguous in j
                    const E *p = in + inOff + (l0 + l) * sL + j0;
                    for (int64_t jj = 0; jj < nj; ++jj)
                      buf[l][jj] = p[jj];
                  }
                  for (int64_t jj = 0; jj < nj; ++jj) { // output runs: contiguous in l
                    E *q = out + outOff + (j0 + jj) * oJ + l0;
                    for (int64_t l = 0; l < nl; ++l)
                      q[l] = buf[l][jj];
                  }
                }
              });
  return true;
}

// out (contiguous, shape `out`) [k] = in[base + sum idx_d * inStrides_d].
template <typename E>
void stridedCopy(const E *in, int64_t base, const std::vector<int64_t> &inStrides, E *out,
                 const std::vector<int64_t> &outShape) {
  if (outShape.empty()) {
    out[0] = in[base];
    return;
  }
  if (tiledTransposeCopy(in, base, inStrides, out, outShape))
    return;
  std::vector<int64_t> st[2] = {inStrides, contiguousStrides(outShape)};
  forEachRow<2>(outShape, st, [&](const int64_t *off, int64_t inner, const int64_t *is) {
    const E *p = in + base + off[0];
    E *q = out + off[1];
    if (is[0] == 1)
      std::memcpy(q, p, size_t(inner) * sizeof(E));
    else
      for (int64_t i = 0; i < inner; ++i)
        q[i] = p[i * is[0]];
  });
}

void writeDouble(const Tensor &t, int64_t i, double v) {
  switch (t.dtype) {
  case ds::plan::F32: t.as<float>()[i] = float(v); break;
  case ds::plan::F64: t.as<double>()[i] = v; break;
  case ds::plan::F16: t.as<uint16_t>()[i] = floatToHalf(float(v)); break;
  case ds::plan::BF16: t.as<uint16_t>()[i] = floatToBf16(float(v)); break;
  case ds::plan::I32: t.as<int32_t>()[i] = int32_t(std::trunc(v)); break;
  case ds::plan::I64: t.as<int64_t>()[i] = int64_t(std::trunc(v)); break;
  default: t.as<uint8_t>()[i] = v != 0; break;
  }
}
void writeInt(const Tensor &t, int64_t i, int64_t v) {
  switch (t.dtype) {
  case ds::plan::I32: t.as<int32_t>()[i] = int32_t(v); break;
  case ds::plan::I64: t.as<int64_t>()[i] = v; break;
  case ds::plan::I1: t.as<uint8_t>()[i] = v != 0; break;
  default: writeDouble(t, i, double(v)); break;
  }
}

} // namespace

void runReshape(KernelCall &c) {
  if (c.in[0].data != c.out[0].data)
    std::memmove(c.out[0].data, c.in[0].data, size_t(c.in[0].numel) * dtypeSize(c.in[0].dtype));
}

void runTranspose(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const auto &perm = c.attrs<TransposeAttrs>().perm;
  std::vector<int64_t> xs = contiguousStrides(*x.shape), st(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    st[i] = xs[size_t(perm[i])];
  if (r.numel == 0)
    return;
  bySize(x.dtype, [&](auto e) {
    using E = decltype(e);
    stridedCopy(x.as<E>(), 0, st, r.as<E>(), *r.shape);
  });
}

void runExpand(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  if (r.numel == 0)
    return;
  bySize(x.dtype, [&](auto e) {
    using E = decltype(e);
    stridedCopy(x.as<E>(), 0, broadcastStrides(*x.shape, *r.shape), r.as<E>(), *r.shape);
  });
}

void runSlice(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  if (r.numel == 0)
    return;
  const auto &attrs = c.attrs<SliceAttrs>();
  const auto &starts = attrs.starts;
  auto steps = attrs.steps.value_or(std::vector<int64_t>(starts.size(), 1));
  std::vector<int64_t> xs = contiguousStrides(*x.shape), st(xs.size());
  int64_t base = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    base += starts[i] * xs[i];
    st[i] = xs[i] * steps[i];
  }
  bySize(x.dtype, [&](auto e) {
    using E = decltype(e);
    stridedCopy(x.as<E>(), base, st, r.as<E>(), *r.shape);
  });
}

void runGather(KernelCall &c) {
  const Tensor &d = c.in[0], &idx = c.in[1], &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  int64_t outer, dim, inner;
  splitAt(*d.shape, axis, outer, dim, inner);
  int64_t n = idx.numel;
  std::vector<int64_t> picked(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    int64_t v = idx.dtype == ds::plan::I64 ? idx.as<int64_t>()[j] : idx.as<int32_t>()[j];
    if (v < -dim || v >= dim)
      fail("index ", v, " at position ", j, " is outside [", -dim, ", ", dim, ")");
    picked[size_t(j)] = v < 0 ? v + dim : v;
  }
  size_t es = dtypeSize(d.dtype), row = size_t(inner) * es;
  const char *src = static_cast<const char *>(d.data);
  char *dst = static_cast<char *>(r.data);
  parallelFor(outer * n, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)),
              [&](int64_t s, int64_t e) {
                for (int64_t k = s; k < e; ++k) {
                  int64_t o = k / n, j = k % n;
                  std::memcpy(dst + size_t(k) * row,
                              src + (size_t(o * dim + picked[size_t(j)])) * row, row);
                }
              });
}

void runSplit(KernelCall &c) {
  const Tensor &x = c.in[0];
  const auto &attrs = c.attrs<SplitAttrs>();
  int64_t axis = attrs.axis;
  const auto &sizes = attrs.sizes;
  int64_t outer, dim, inner;
  splitAt(*x.shape, axis, outer, dim, inner);
  size_t es = dtypeSize(x.dtype);
  const char *src = static_cast<const char *>(x.data);
  int64_t start = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    char *dst = static_cast<char *>(c.out[k].data);
    size_t chunk = size_t(sizes[k] * inner) * es;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + size_t(o) * chunk, src + (size_t(o * dim + start) * size_t(inner)) * es,
                  chunk);
    start += sizes[k];
  }
}

void runConcat(KernelCall &c) {
  const Tensor &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  int64_t outer, dim, inner;
  splitAt(*r.shape, axis, outer, dim, inner);
  size_t es = dtypeSize(r.dtype);
  char *dst = static_cast<char *>(r.data);
  int64_t start = 0;
  for (const Tensor &x : c.in) {
    int64_t xd = x.dim(axis);
    size_t chunk = size_t(xd * inner) * es;
    const char *src = static_cast<const char *>(x.data);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + (size_t(o * dim + start) * size_t(inner)) * es, src + size_t(o) * chunk,
                  chunk);
    start += xd;
  }
}

void runTrilu(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const auto &attrs = c.attrs<TriluAttrs>();
  bool upper = attrs.upper;
  int64_t k = attrs.k;
  int64_t R = x.dim(x.rank() - 2), C = x.dim(x.rank() - 1);
  int64_t batch = (R != 0 && C != 0) ? x.numel / (R * C) : 0;
  size_t es = dtypeSize(x.dtype);
  const char *src = static_cast<const char *>(x.data);
  char *dst = static_cast<char *>(r.data);
  parallelFor(batch * R, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)),
              [&](int64_t s, int64_t e) {
                for (int64_t bi = s; bi < e; ++bi) {
                  int64_t i = bi % R;
                  size_t rowOff = size_t(bi * C) * es;
                  for (int64_t j = 0; j < C; ++j) {
                    bool keep = upper ? (j - i >= k) : (j - i <= k);
                    size_t off = rowOff + size_t(j) * es;
                    if (keep) {
                      if (src != dst)
                        std::memcpy(dst + off, src + off, es);
                    } else {
                      std::memset(dst + off, 0, es);
                    }
                  }
                }
              });
}

void runConstant(KernelCall &c) {
  const Tensor &r = c.out[0];
  const ConstantValue &a = c.attrs<ConstantAttrs>().value;
  switch (a.kind) {
  case ConstantValue::Kind::Raw:
    std::memcpy(r.data, a.raw.data(), a.raw.size());
    break;
  case ConstantValue::Kind::Ints:
  case ConstantValue::Kind::Int: {
    const auto &v = a.ints;
    for (int64_t i = 0; i < r.numel; ++i)
      writeInt(r, i, v.size() == 1 ? v[0] : v[size_t(i)]);
    break;
  }
  case ConstantValue::Kind::Floats:
  case ConstantValue::Kind::Float: {
    const auto &v = a.floats;
    for (int64_t i = 0; i < r.numel; ++i)
      writeDouble(r, i, v.size() == 1 ? v[0] : v[size_t(i)]);
    break;
  }
  }
}

void runCopy(KernelCall &c) {
  const Tensor &s = c.in[0], &d = c.out[0];
  size_t es = dtypeSize(s.dtype);
  const auto &attrs = c.attrs<CopyAttrs>();
  int64_t count = attrs.count.value_or(s.numel);
  int64_t so = attrs.src_offset + c.ctx.rank * attrs.src_rank_stride;
  int64_t dO = attrs.dst_offset + c.ctx.rank * attrs.dst_rank_stride;
  for (int64_t row = 0; row < attrs.rows; ++row)
    std::memmove(static_cast<char *>(d.data) + size_t(dO + row * attrs.dst_row_stride) * es,
                 static_cast<const char *>(s.data) + size_t(so + row * attrs.src_row_stride) * es,
                 size_t(count) * es);
}

void runFill(KernelCall &c) {
  const Tensor &r = c.out[0];
  double v = c.attrs<FillAttrs>().value;
  if (r.numel == 0)
    return;
  writeDouble(r, 0, v);
  size_t es = dtypeSize(r.dtype);
  char *p = static_cast<char *>(r.data);
  parallelFor(r.numel - 1, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s + 1; i <= e; ++i)
      std::memcpy(p + size_t(i) * es, p, es);
  });
}

void runAssertClose(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1];
  const auto &attrs = c.attrs<AssertCloseAttrs>();
  double rtol = attrs.rtol, atol = attrs.atol;
  std::vector<float> ta, tb;
  for (int64_t i = 0; i < a.numel; ++i) {
    double x, y;
    switch (a.dtype) {
    case ds::plan::F32: x = a.as<float>()[i]; y = b.as<float>()[i]; break;
    case ds::plan::F64: x = a.as<double>()[i]; y = b.as<double>()[i]; break;
    case ds::plan::F16:
      x = halfToFloat(a.as<uint16_t>()[i]);
      y = halfToFloat(b.as<uint16_t>()[i]);
      break;
    case ds::plan::BF16:
      x = bf16ToFloat(a.as<uint16_t>()[i]);
      y = bf16ToFloat(b.as<uint16_t>()[i]);
      break;
    case ds::plan::I32: x = a.as<int32_t>()[i]; y = b.as<int32_t>()[i]; break;
    case ds::plan::I64: x = double(a.as<int64_t>()[i]); y = double(b.as<int64_t>()[i]); break;
    default: x = a.as<uint8_t>()[i]; y = b.as<uint8_t>()[i]; break;
    }
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y)) && !(std::isnan(x) && std::isnan(y)))
      fail("assert_close failed at element ", i, ": ", x, " vs expected ", y);
  }
}

// ================================================================ gradients (docs/ops.md "Backward ops")

void runGatherGrad(KernelCall &c) {
  const Tensor &idx = c.in[1], &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  int64_t outer, dim, inner;
  splitAt(*r.shape, axis, outer, dim, inner);
  int64_t n = idx.numel;
  std::vector<int64_t> picked(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    int64_t v = indexAt(idx, j);
    if (v < -dim || v >= dim)
      fail("index ", v, " at position ", j, " is outside [", -dim, ", ", dim, ")");
    picked[size_t(j)] = v < 0 ? v + dim : v;
  }
  floatCall(c, [&](auto &in, auto &out) {
    auto *g = in[0];
    auto *dd = out[0];
    std::fill(dd, dd + r.numel, 0);
    // Each outer slice writes only its own rows: safe to split over outer.
    parallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n * inner, 1)),
                [&](int64_t b, int64_t e) {
                  for (int64_t o = b; o < e; ++o)
                    for (int64_t j = 0; j < n; ++j) {
                      auto *dst = dd + (o * dim + picked[size_t(j)]) * inner;
                      auto *src = g + (o * n + j) * inner;
                      for (int64_t i = 0; i < inner; ++i)
                        dst[i] += src[i];
                    }
                });
  });
}

void runSliceGrad(KernelCall &c) {
  const Tensor &g = c.in[0], &r = c.out[0];
  const auto &attrs = c.attrs<SliceAttrs>();
  const auto &starts = attrs.starts;
  auto steps = attrs.steps.value_or(std::vector<int64_t>(r.shape->size(), 1));
  size_t es = dtypeSize(r.dtype);
  std::memset(r.data, 0, size_t(r.numel) * es);
  if (g.numel == 0)
    return;
  const auto &gs = *g.shape;
  std::vector<int64_t> rstr = contiguousStrides(*r.shape);
  size_t rank = gs.size();
  if (rank == 0) {
    std::memcpy(r.data, g.data, es);
    return;
  }
  int64_t inner = gs.back(), rows = g.numel / inner;
  int64_t innerStep = steps.back() * rstr.back();
  const char *src = static_cast<const char *>(g.data);
  char *dst = static_cast<char *>(r.data);
  parallelFor(rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, off = starts.back() * rstr.back();
      for (int64_t d = int64_t(rank) - 2; d >= 0; --d) {
        int64_t i = rem % gs[size_t(d)];
        rem /= gs[size_t(d)];
        off += (starts[size_t(d)] + i * steps[size_t(d)]) * rstr[size_t(d)];
      }
      const char *s = src + size_t(row * inner) * es;
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(dst + size_t(off + i * innerStep) * es, s + size_t(i) * es, es);
    }
  });
}

} // namespace ds::rt::cpu
