// The layer_norm and layer_norm_grad loops (LayerNormLoops.h), compiled once per instruction
// set with the elementwise loops (DS_ELEMENTWISE_LOOPS_AVX512, _AVX2, _SSE2 or _SCALAR;
// -O3 -ffp-contract=off): IEEE operations in the source's order, f64 sums in rowSum's fixed
// order (RowSum.h), nothing contracted into fused multiply-adds, so every build computes the
// same bits. Like ElementwiseLoops.cpp: everything in this build's namespace, and no header
// with inline library code.
#include "LayerNormLoops.h"
#include "ElementwiseLoops.h"
#include "RowSum.h"

#include <cstdint>

namespace ds::rt::cpu::DS_LOOPS_NS {
namespace {

/// Rows per group of the row loops: their sums advance side by side (rowSums).
constexpr int kRows = 4;

/// 8 consecutive elements of T as a vector (floats: 8 lanes of f32 arithmetic), and
/// widened to the 8 doubles of rowSums; T itself for the tails.
template <typename T> struct Lanes8;
template <> struct Lanes8<float> {
  typedef float V __attribute__((vector_size(32)));
};
template <> struct Lanes8<double> {
  typedef RowSumVec V;
};
template <typename T> inline typename Lanes8<T>::V load8(const T *p) {
  typename Lanes8<T>::V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline double widen(float x) { return double(x); }
inline double widen(double x) { return x; }
inline RowSumVec widen(Lanes8<float>::V v) { return __builtin_convertvector(v, RowSumVec); }
inline RowSumVec widen(RowSumVec v) { return v; }

/// rowSums<R> of term(load(row r, i)...) over rows: `term` is written once, generic over
/// a T or 8 lanes of T, and called with both.
template <int R, typename T, typename Term>
void sumRows(int64_t norm, Term term, double (&out)[R]) {
  rowSums<R>(
      norm, [&](int r, int64_t i) { return term(r, i, [](const T *p) { return load8(p); }); },
      [&](int r, int64_t i) { return term(r, i, [](const T *p) { return *p; }); }, out);
}

/// The mean and 1/sqrt(variance + eps) of the R rows from px (`norm` apart): two passes,
/// sums in f64.
template <int R, typename T>
void rowStats(const T *px, int64_t norm, double eps, T (&mu)[R], T (&inv)[R]) {
  double sum[R], sq[R];
  sumRows<R, T>(
      norm, [&](int r, int64_t i, auto load) { return widen(load(px + r * norm + i)); }, sum);
  for (int r = 0; r < R; ++r)
    mu[r] = T(norm ? sum[r] / double(norm) : 0);
  sumRows<R, T>(
      norm,
      [&](int r, int64_t i, auto load) {
        auto d = widen(load(px + r * norm + i) - mu[r]);
        return d * d;
      },
      sq);
  for (int r = 0; r < R; ++r)
    inv[r] = T(1.0 / __builtin_sqrt((norm ? sq[r] / double(norm) : 0) + eps));
}

/// Rows [o, o + R) of layer_norm.
template <int R, typename T> void forwardRows(const LayerNormRows<T> &a, int64_t o) {
  const int64_t norm = a.norm;
  const T *sc = a.scale, *bi = a.bias;
  T mu[R], inv[R];
  rowStats<R>(a.x + o * norm, norm, a.eps, mu, inv);
  for (int r = 0; r < R; ++r) {
    const T *px = a.x + (o + r) * norm;
    T *py = a.y + (o + r) * norm;
    const T m = mu[r], s = inv[r];
    if (bi) {
      DS_ELEMENT_LOOP
      for (int64_t i = 0; i < norm; ++i)
        py[i] = (px[i] - m) * s * sc[i] + bi[i];
    } else { // + 0 as with a zero bias: -0 becomes +0
      DS_ELEMENT_LOOP
      for (int64_t i = 0; i < norm; ++i)
        py[i] = (px[i] - m) * s * sc[i] + T(0);
    }
    if (a.mean)
      a.mean[o + r] = m;
    if (a.invStd)
      a.invStd[o + r] = s;
  }
}

template <typename T> void forward(const LayerNormRows<T> &a, int64_t begin, int64_t end) {
  int64_t o = begin;
  for (; o + kRows <= end; o += kRows)
    forwardRows<kRows>(a, o);
  for (; o < end; ++o)
    forwardRows<1>(a, o);
}

/// Rows [o, o + R) of layer_norm_grad's dx.
template <int R, typename T> void gradRowsOf(const LayerNormGradRows<T> &a, int64_t o) {
  const int64_t norm = a.norm;
  const T *scale = a.scale;
  const T *px = a.x + o * norm, *pg = a.g + o * norm;
  T mu[R], is[R];
  rowStats<R>(px, norm, a.eps, mu, is);
  // Sums of g*scale (sums[r]) and of g*scale*xhat (sums[R + r]) of each row.
  double sums[2 * R];
  sumRows<2 * R, T>(
      norm,
      [&](int j, int64_t i, auto load) {
        int r = j < R ? j : j - R;
        auto gh = load(pg + r * norm + i) * load(scale + i);
        auto xh = (load(px + r * norm + i) - mu[r]) * is[r];
        return j < R ? widen(gh) : widen(gh) * widen(xh);
      },
      sums);
  for (int r = 0; r < R; ++r) {
    const T *rx = px + r * norm, *rg = pg + r * norm;
    T *pd = a.dx + (o + r) * norm;
    const T m = mu[r], s = is[r];
    T mg = T(norm ? sums[r] / double(norm) : 0), mgx = T(norm ? sums[R + r] / double(norm) : 0);
    if (const T *pa = a.dxAcc ? a.dxAcc + (o + r) * norm : nullptr) {
      DS_ELEMENT_LOOP
      for (int64_t i = 0; i < norm; ++i) {
        T xh = (rx[i] - m) * s;
        T v = s * (rg[i] * scale[i] - mg - xh * mgx);
        pd[i] = pa[i] + v;
      }
    } else {
      DS_ELEMENT_LOOP
      for (int64_t i = 0; i < norm; ++i) {
        T xh = (rx[i] - m) * s;
        pd[i] = s * (rg[i] * scale[i] - mg - xh * mgx);
      }
    }
    a.mean[o + r] = m;
    a.invStd[o + r] = s;
  }
}

template <typename T> void gradRows(const LayerNormGradRows<T> &a, int64_t begin, int64_t end) {
  int64_t o = begin;
  for (; o + kRows <= end; o += kRows)
    gradRowsOf<kRows>(a, o);
  for (; o < end; ++o)
    gradRowsOf<1>(a, o);
}

/// Adds, for every row in order, g and g*xhat of columns [c0, c0 + n) to db and ds.
/// N > 0: n is N (a whole block, the sums held in registers).
template <int64_t N, typename T>
void columnSums(const LayerNormGradRows<T> &a, int64_t c0, int64_t n, double *ds, double *db) {
  if constexpr (N > 0)
    n = N;
  for (int64_t o = 0; o < a.outer; ++o) {
    const T *pg = a.g + o * a.norm + c0, *px = a.x + o * a.norm + c0;
    T mu = a.mean[o], is = a.invStd[o];
    for (int64_t i = 0; i < n; ++i) {
      T xh = (px[i] - mu) * is;
      ds[i] += double(pg[i]) * double(xh);
      db[i] += double(pg[i]);
    }
  }
}

template <typename T>
void gradColumns(const LayerNormGradRows<T> &a, int64_t begin, int64_t end) {
  constexpr int64_t kC = kLayerNormColumnBlock;
  for (int64_t blk = begin; blk < end; ++blk) {
    int64_t c0 = blk * kC, n = a.norm - c0 < kC ? a.norm - c0 : kC;
    double ds[kC] = {}, db[kC] = {};
    if (n == kC)
      columnSums<kC>(a, c0, n, ds, db);
    else
      columnSums<0>(a, c0, n, ds, db);
    for (int64_t i = 0; i < n; ++i) {
      T s = T(ds[i]), b = T(db[i]);
      a.dscale[c0 + i] = a.dscaleAcc ? a.dscaleAcc[c0 + i] + s : s;
      a.dbias[c0 + i] = a.dbiasAcc ? a.dbiasAcc[c0 + i] + b : b;
    }
  }
}

} // namespace

const LayerNormLoops &layerNormLoops() {
#define DS_STR2(x) #x
#define DS_STR(x) DS_STR2(x)
  static const LayerNormLoops loops = {
      DS_STR(DS_LOOPS_NS),
      {forward<float>, gradRows<float>, gradColumns<float>},
      {forward<double>, gradRows<double>, gradColumns<double>},
  };
  return loops;
}

} // namespace ds::rt::cpu::DS_LOOPS_NS
