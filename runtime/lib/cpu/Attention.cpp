// attention and attention_grad (and their packed forms, q, k, v and dq, dk, dv as parts
// of one [B, T, 3, H, D] buffer): tiled online-softmax (flash-style) kernels over
// single-threaded GEMM tiles (Gemm.h).
//
// No [T, S] matrix exists: each task holds one kRows x kCols score tile. The forward pass
// runs over (batch, row tile) tasks and keeps the running row max m and sum l; the
// backward pass recomputes p = exp(score - lse) per tile from the forward's log-sum-exp
// and runs over batch entries (one task owns its dk, dv and dq rows, so no reduction
// races).
#include "CpuCommon.h"
#include "Gemm.h"
#include "../AttentionRows.h"

#include <array>
#include <cmath>
#include <limits>

namespace ds::rt::cpu {
namespace {

constexpr int64_t kRows = 64, kCols = 64;

using Rows = AttentionRows;


/// Sizes of one call: `batch` [T, D] query problems over `batch / group` [S, D] / [S, Dv]
/// key-value problems (grouped-query attention: query entry b reads key entry b / group),
/// and the rows of q (and dq), k (dk), v (dv) and out (g).
struct Dims {
  int64_t batch, group, t, s, d, dv;
  std::vector<int64_t> batchDims; ///< [batch..., H]: the scores' leading dims
  Rows q, k, v, o;
};

Dims getDims(const Tensor &q, const Tensor &k, const Tensor &v, const Tensor &o,
             AttentionLayout layout) {
  int64_t r = q.rank();
  Dims n;
  // The logical [batch..., H, L, W] dims: bshd swaps the middle two of [B, L, H, W].
  auto dimOf = [&](const Tensor &x, int64_t i) {
    if (layout == AttentionLayout::Bshd && (i == 1 || i == 2))
      return x.dim(3 - i);
    return x.dim(i);
  };
  n.t = dimOf(q, r - 2), n.d = q.dim(r - 1), n.s = dimOf(k, r - 2), n.dv = v.dim(r - 1);
  n.batch = 1;
  for (int64_t i = 0; i + 2 < r; ++i) {
    n.batch *= dimOf(q, i);
    n.batchDims.push_back(dimOf(q, i));
  }
  int64_t kvHeads = dimOf(k, r - 3);
  n.group = kvHeads > 0 ? std::max<int64_t>(1, dimOf(q, r - 3) / kvHeads) : 1;
  n.q = attentionRowsOf(q, layout), n.k = attentionRowsOf(k, layout);
  n.v = attentionRowsOf(v, layout);
  n.o = attentionRowsOf(o, layout);
  return n;
}

/// The mask operand broadcast to [batch..., T, S]: element offsets per batch entry and
/// the row and column strides (0 on broadcast dims).
template <typename T> struct MaskView {
  const uint8_t *keep = nullptr; ///< i1 mask: true attends
  const T *bias = nullptr;       ///< float mask: added to the scores
  std::vector<int64_t> batchOffset;
  int64_t rowStride = 0, colStride = 0;
  bool causal = false;

  /// Whether every score of the tile is masked (causal, or a boolean mask false
  /// throughout): such a tile adds nothing to the output or the gradients and is skipped.
  /// A byte scan of the mask tile costs far less than the products and exponentials it
  /// saves (nanoGPT's causal mask is a boolean buffer, so half of its tiles go).
  bool tileMasked(int64_t b, int64_t i0, int64_t br, int64_t j0, int64_t bc) const {
    if (causal && j0 > i0 + br - 1)
      return true;
    if (!keep)
      return false;
    int64_t base = batchOffset[size_t(b)];
    for (int64_t i = 0; i < br; ++i) {
      const uint8_t *row = keep + base + (i0 + i) * rowStride + j0 * colStride;
      uint8_t any = 0; // a whole row at a time (vectorises), not a branch per element
      for (int64_t j = 0; j < bc; ++j)
        any |= row[j * colStride];
      if (any)
        return false;
    }
    return true;
  }

  /// Whether the scores causal masks are exactly -inf after apply() (a float mask added
  /// to them could make them NaN, which e^x propagates): then their e^x is 0 without
  /// computing.
  bool causalScoresNegInf() const { return causal && !bias; }

  /// Applies causal and mask to the tile of rows [i0, i0 + br) and cols [j0, j0 + bc).
  void apply(T *tile, int64_t b, int64_t i0, int64_t br, int64_t j0, int64_t bc) const {
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int64_t i = 0; i < br; ++i) {
      T *row = tile + i * bc;
      if (causal)
        for (int64_t j = std::max<int64_t>(0, i0 + i + 1 - j0); j < bc; ++j)
          row[j] = ninf;
      if (keep || bias) {
        int64_t off = batchOffset[size_t(b)] + (i0 + i) * rowStride + j0 * colStride;
        if (keep) { // a select, not a branch per element (vectorises)
          const uint8_t *k = keep + off;
          for (int64_t j = 0; j < bc; ++j)
            row[j] = k[j * colStride] ? row[j] : ninf;
        } else {
          for (int64_t j = 0; j < bc; ++j)
            row[j] += bias[off + j * colStride];
        }
      }
    }
  }
};

template <typename T>
MaskView<T> getMask(const Tensor *mask, const T *floatMask, const Dims &n, bool causal) {
  MaskView<T> view;
  view.causal = causal;
  if (!mask)
    return view;
  std::vector<int64_t> scores = n.batchDims;
  scores.push_back(n.t);
  scores.push_back(n.s);
  std::vector<int64_t> st = broadcastStrides(*mask->shape, scores);
  size_t r = scores.size();
  view.rowStride = st[r - 2];
  view.colStride = st[r - 1];
  view.batchOffset.resize(size_t(n.batch));
  for (int64_t b = 0; b < n.batch; ++b) {
    int64_t rem = b, off = 0;
    for (int64_t d = int64_t(r) - 3; d >= 0; --d) {
      off += (rem % scores[size_t(d)]) * st[size_t(d)];
      rem /= scores[size_t(d)];
    }
    view.batchOffset[size_t(b)] = off;
  }
  if (mask->dtype == ds::plan::I1)
    view.keep = mask->as<uint8_t>();
  else
    view.bias = floatMask;
  return view;
}

/// One past the last key a causal row tile ending at `rowEnd` sees.
int64_t keyEnd(bool causal, int64_t rowEnd, int64_t s) {
  return causal ? std::min(s, rowEnd) : s;
}

/// This thread's scratch buffer `slot` of at least n elements, kept between calls
/// (grow-only, not zeroed): the tile loops allocate nothing per call.
template <typename T> T *scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[3];
  std::vector<T> &b = buffers[slot];
  if (int64_t(b.size()) < n)
    b.resize(size_t(n));
  return b.data();
}

/// Rows whose reductions run side by side in the row loops below. A row's max and sum are
/// sequential chains (the order fixes the sum's bits), each one add or compare per cycle
/// of latency: kChains independent rows keep the core busy instead.
constexpr int64_t kChains = 8;

/// acc[r] = step(acc[r], r, j) for j in [0, n) in order, for every r in [0, rows):
/// kChains rows at a time, their accumulators in registers.
template <typename T, typename Step>
void foldRows(int64_t rows, int64_t n, T *acc, Step step) {
  int64_t r0 = 0;
  for (; r0 + kChains <= rows; r0 += kChains) {
    T a[kChains];
    for (int64_t r = 0; r < kChains; ++r)
      a[r] = acc[r0 + r];
    for (int64_t j = 0; j < n; ++j)
      for (int64_t r = 0; r < kChains; ++r)
        a[r] = step(a[r], r0 + r, j);
    for (int64_t r = 0; r < kChains; ++r)
      acc[r0 + r] = a[r];
  }
  for (; r0 < rows; ++r0) {
    T a = acc[r0];
    for (int64_t j = 0; j < n; ++j)
      a = step(a, r0, j);
    acc[r0] = a;
  }
}

/// Keys [0, visible) of tile row i (rows [i0, i0 + br), keys [j0, j0 + bc)) can be
/// unmasked; causal masks the rest.
int64_t visibleKeys(bool causal, int64_t i0, int64_t i, int64_t j0, int64_t bc) {
  return causal ? std::clamp<int64_t>(i0 + i + 1 - j0, 0, bc) : bc;
}

/// tile[i, j] = e^tile[i, j] over the br x bc tile; with skipCausal, most keys causal
/// masks are skipped (their scores must be -inf: e^-inf is 0, written directly). A row's
/// exponentials run to a multiple of 16 keys: the vector loop's whole iterations, no
/// scalar tail.
template <typename T>
void expTile(const ExpLoop &expLoop, T *tile, bool skipCausal, int64_t i0, int64_t br,
             int64_t j0, int64_t bc) {
  if (visibleKeys(skipCausal, i0, 0, j0, bc) == bc) { // nothing to skip
    expLoop(tile, tile, br * bc);
    return;
  }
  for (int64_t i = 0; i < br; ++i) {
    T *row = tile + i * bc;
    int64_t n = std::min(bc, (visibleKeys(skipCausal, i0, i, j0, bc) + 15) / 16 * 16);
    expLoop(row, row, n);
    std::fill(row + n, row + bc, T(0));
  }
}

template <typename T>
void attentionForward(const T *q, const T *k, const T *v, const MaskView<T> &mask,
                      T scale, const Dims &n, T *out, T *lse) {
  int64_t rowTiles = (n.t + kRows - 1) / kRows;
  const ExpLoop expLoop;
  parallelFor(n.batch * rowTiles, 1, [&](int64_t begin, int64_t end) {
    T *tile = scratch<T>(0, kRows * kCols), *acc = scratch<T>(1, kRows * n.dv);
    // Per row: running max m and sum l, the tile's max mx, the rescale alpha, the sum.
    T *rowState = scratch<T>(2, 5 * kRows);
    T *m = rowState, *l = m + kRows, *mx = l + kRows, *alpha = mx + kRows,
      *sum = alpha + kRows;
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int64_t task = begin; task < end; ++task) {
      int64_t b = task / rowTiles, i0 = (task % rowTiles) * kRows;
      int64_t br = std::min(kRows, n.t - i0);
      int64_t kvb = b / n.group;
      const T *qb = q + n.q.at(b, i0), *kb = k + n.k.at(kvb, 0), *vb = v + n.v.at(kvb, 0);
      const int64_t ldq = n.q.rowStride, ldk = n.k.rowStride, ldv = n.v.rowStride;
      std::fill(m, m + br, ninf);
      std::fill(l, l + br, T(0));
      std::fill(acc, acc + br * n.dv, T(0));
      int64_t jEnd = keyEnd(mask.causal, i0 + br, n.s);
      for (int64_t j0 = 0; j0 < jEnd; j0 += kCols) {
        int64_t bc = std::min(kCols, jEnd - j0);
        if (mask.tileMasked(b, i0, br, j0, bc))
          continue;
        T *st = tile;
        if (n.d > 0)
          gemm(false, true, br, bc, n.d, scale, qb, ldq, kb + j0 * ldk, ldk, T(0), st,
               bc);
        else
          std::fill(st, st + br * bc, T(0));
        mask.apply(st, b, i0, br, j0, bc);
        // The online-softmax update, one pass per step over the tile: row maxima, the
        // rescales e^(m - mx), e^(score - mx), row sums.
        std::copy(m, m + br, mx);
        foldRows(br, bc, mx,
                 [&](T a, int64_t i, int64_t j) { return std::max(a, st[i * bc + j]); });
        for (int64_t i = 0; i < br; ++i) {
          T *row = st + i * bc;
          if (mx[i] == ninf) { // every key so far masked: nothing to add
            alpha[i] = T(0);
            std::fill(row, row + bc, ninf); // e^-inf = 0 below
            continue;
          }
          alpha[i] = m[i] - mx[i];
          for (int64_t j = 0; j < bc; ++j)
            row[j] -= mx[i];
        }
        expLoop(alpha, alpha, br);
        expTile(expLoop, st, mask.causalScoresNegInf(), i0, br, j0, bc);
        std::fill(sum, sum + br, T(0));
        foldRows(br, bc, sum,
                 [&](T a, int64_t i, int64_t j) { return a + st[i * bc + j]; });
        for (int64_t i = 0; i < br; ++i) {
          if (mx[i] == ninf)
            continue;
          l[i] = l[i] * alpha[i] + sum[i];
          m[i] = mx[i];
          if (alpha[i] != T(1))
            for (int64_t d = 0; d < n.dv; ++d)
              acc[i * n.dv + d] *= alpha[i];
        }
        if (n.dv > 0)
          gemm(false, false, br, n.dv, bc, T(1), st, bc, vb + j0 * ldv, ldv, T(1), acc,
               n.dv);
      }
      for (int64_t i = 0; i < br; ++i) {
        T li = l[i];
        T inv = li > 0 ? T(1) / li : T(0);
        T *o = out + n.o.at(b, i0 + i);
        for (int64_t d = 0; d < n.dv; ++d)
          o[d] = acc[i * n.dv + d] * inv;
        lse[b * n.t + i0 + i] = li > 0 ? m[i] + std::log(li) : ninf;
      }
    }
  });
}

template <typename T>
void attentionBackward(const T *g, const T *q, const T *k, const T *v, const T *out,
                       const T *lse, const MaskView<T> &mask, T scale, const Dims &n,
                       T *dq, T *dk, T *dv) {
  // One task per key-value entry: it owns dk and dv, and the dq of its query group.
  const ExpLoop expLoop;
  parallelFor(n.batch / n.group, 1, [&](int64_t begin, int64_t end) {
    T *p = scratch<T>(0, kRows * kCols), *dp = scratch<T>(1, kRows * kCols),
      *rowDot = scratch<T>(2, n.t);
    const T ninf = -std::numeric_limits<T>::infinity();
    for (int64_t kvb = begin; kvb < end; ++kvb) {
      // dk, dv, dq have the layouts of k, v, q.
      const int64_t ldq = n.q.rowStride, ldk = n.k.rowStride, ldv = n.v.rowStride,
                    ldo = n.o.rowStride;
      const T *kb = k + n.k.at(kvb, 0), *vb = v + n.v.at(kvb, 0);
      T *dkb = dk + n.k.at(kvb, 0), *dvb = dv + n.v.at(kvb, 0);
      for (int64_t j = 0; j < n.s; ++j) {
        std::fill(dkb + j * ldk, dkb + j * ldk + n.d, T(0));
        std::fill(dvb + j * ldv, dvb + j * ldv + n.dv, T(0));
      }
      for (int64_t b = kvb * n.group; b < (kvb + 1) * n.group; ++b) {
        const T *gb = g + n.o.at(b, 0), *ob = out + n.o.at(b, 0), *lb = lse + b * n.t;
        const T *qb = q + n.q.at(b, 0);
        T *dqb = dq + n.q.at(b, 0);
        for (int64_t i = 0; i < n.t; ++i)
          std::fill(dqb + i * ldq, dqb + i * ldq + n.d, T(0));
        // rowsum(g * out) = rowsum(p * (g vᵀ))
        std::fill(rowDot, rowDot + n.t, T(0));
        foldRows(n.t, n.dv, rowDot, [&](T a, int64_t i, int64_t d) {
          return a + gb[i * ldo + d] * ob[i * ldo + d];
        });
        for (int64_t j0 = 0; j0 < n.s; j0 += kCols) {
          int64_t bc = std::min(kCols, n.s - j0);
          // Causal: rows before j0 see none of these keys.
          int64_t iStart = mask.causal ? (std::min(j0, n.t) / kRows) * kRows : 0;
          for (int64_t i0 = iStart; i0 < n.t; i0 += kRows) {
            int64_t br = std::min(kRows, n.t - i0);
            if (mask.tileMasked(b, i0, br, j0, bc))
              continue;
            T *pt = p, *dpt = dp;
            if (n.d > 0)
              gemm(false, true, br, bc, n.d, scale, qb + i0 * ldq, ldq, kb + j0 * ldk,
                   ldk, T(0), pt, bc);
            else
              std::fill(pt, pt + br * bc, T(0));
            mask.apply(pt, b, i0, br, j0, bc);
            for (int64_t i = 0; i < br; ++i) { // e^-inf = 0 below
              T l = lb[i0 + i], *row = pt + i * bc;
              if (l == ninf) {
                std::fill(row, row + bc, ninf);
                continue;
              }
              if (l == l) // -inf - l is -inf already (and vectorises without a select)
                for (int64_t j = 0; j < bc; ++j)
                  row[j] -= l;
              else
                for (int64_t j = 0; j < bc; ++j)
                  row[j] = row[j] == ninf ? ninf : row[j] - l;
            }
            expTile(expLoop, pt, mask.causalScoresNegInf(), i0, br, j0, bc);
            if (n.dv > 0) {
              gemm(true, false, bc, n.dv, br, T(1), pt, bc, gb + i0 * ldo, ldo, T(1),
                   dvb + j0 * ldv, ldv);
              gemm(false, true, br, bc, n.dv, T(1), gb + i0 * ldo, ldo, vb + j0 * ldv,
                   ldv, T(0), dpt, bc);
            } else {
              std::fill(dpt, dpt + br * bc, T(0));
            }
            for (int64_t i = 0; i < br; ++i)
              for (int64_t j = 0; j < bc; ++j)
                dpt[i * bc + j] = pt[i * bc + j] * (dpt[i * bc + j] - rowDot[i0 + i]);
            if (n.d > 0) {
              gemm(false, false, br, n.d, bc, scale, dpt, bc, kb + j0 * ldk, ldk, T(1),
                   dqb + i0 * ldq, ldq);
              gemm(true, false, bc, n.d, br, scale, dpt, bc, qb + i0 * ldq, ldq, T(1),
                   dkb + j0 * ldk, ldk);
            }
          }
        }
      }
    }
  });
}

/// packed_attention's sizes: qkv [B, T, 3, H, D] holds q, k and v (bshd rows, 3 H D
/// apart), out [B, T, H, D].
Dims getPackedDims(const Tensor &qkv, const Tensor &o) {
  Dims n;
  n.batchDims = {qkv.dim(0), qkv.dim(3)};
  n.batch = qkv.dim(0) * qkv.dim(3), n.group = 1;
  n.t = n.s = qkv.dim(1), n.d = n.dv = qkv.dim(4);
  n.q = n.k = n.v = packedAttentionRowsOf(*qkv.shape);
  n.o = attentionRowsOf(o, AttentionLayout::Bshd);
  return n;
}

/// The float mask operand as T (f16/bf16 staged to f32), or null for none or i1.
template <typename T> const T *floatMaskOf(const Tensor *mask, std::vector<float> &tmp) {
  if (!mask || mask->dtype == ds::plan::I1)
    return nullptr;
  if constexpr (std::is_same_v<T, double>)
    return mask->as<double>();
  else
    return asF32(*mask, tmp);
}

/// Where q, k and v (and dq, dk, dv) are: three tensors, or the same packed tensor three
/// times with the parts' element offsets.
struct Operands {
  const Tensor *x[3];
  int64_t offset[3] = {0, 0, 0};
};

Operands separate(const Tensor &a, const Tensor &b, const Tensor &c) {
  return Operands{{&a, &b, &c}};
}
Operands packed(const Tensor &qkv) {
  Operands o{{&qkv, &qkv, &qkv}};
  for (int p = 0; p < 3; ++p)
    o.offset[p] = packedPartOffset(*qkv.shape, p);
  return o;
}

/// Operand i's elements as T (f64 operands).
template <typename T> T *partOf(const Operands &x, int i) {
  return x.x[i]->as<T>() + x.offset[i];
}

/// The three operands as f32 (f16/bf16 staged once per distinct tensor).
std::array<const float *, 3> partsAsF32(const Operands &in,
                                        std::vector<float> (&tmp)[3]) {
  std::array<const float *, 3> p{};
  for (int i = 0; i < 3; ++i) {
    const float *base =
        i > 0 && in.x[i] == in.x[0] ? p[0] - in.offset[0] : asF32(*in.x[i], tmp[i]);
    p[size_t(i)] = base + in.offset[i];
  }
  return p;
}

/// out and lse (c.out[0], c.out[1]) from q, k, v.
void forward(KernelCall &c, const Operands &in, const Tensor *mask, const Dims &n,
             bool causal, double scale) {
  std::vector<float> tm;
  if (in.x[0]->dtype == ds::plan::F64) {
    auto view = getMask<double>(mask, floatMaskOf<double>(mask, tm), n, causal);
    attentionForward(partOf<const double>(in, 0), partOf<const double>(in, 1),
                     partOf<const double>(in, 2), view, scale, n, c.out[0].as<double>(),
                     c.out[1].as<double>());
    return;
  }
  std::vector<float> tin[3], to;
  auto view = getMask<float>(mask, floatMaskOf<float>(mask, tm), n, causal);
  float *out = outF32(c.out[0], to);
  std::array<const float *, 3> x = partsAsF32(in, tin);
  attentionForward(x[0], x[1], x[2], view, float(scale), n, out, c.out[1].as<float>());
  storeF32(out, c.out[0]);
}

/// dq, dk, dv (`grads`) from g, q, k, v (`in`), out and lse.
void backward(const Tensor &g, const Operands &in, const Tensor &o, const Tensor &lse,
              const Operands &grads, const Tensor *mask, const Dims &n, bool causal,
              double scale) {
  std::vector<float> tm;
  if (g.dtype == ds::plan::F64) {
    auto view = getMask<double>(mask, floatMaskOf<double>(mask, tm), n, causal);
    attentionBackward(
        g.as<double>(), partOf<const double>(in, 0), partOf<const double>(in, 1),
        partOf<const double>(in, 2), o.as<double>(), lse.as<double>(), view, scale, n,
        partOf<double>(grads, 0), partOf<double>(grads, 1), partOf<double>(grads, 2));
    return;
  }
  std::vector<float> tg, to, tin[3], tout[3];
  auto view = getMask<float>(mask, floatMaskOf<float>(mask, tm), n, causal);
  std::array<float *, 3> d{}; // f32 destinations, one per distinct tensor
  for (int i = 0; i < 3; ++i) {
    float *base = i > 0 && grads.x[i] == grads.x[0] ? d[0] - grads.offset[0]
                                                    : outF32(*grads.x[i], tout[i]);
    d[size_t(i)] = base + grads.offset[i];
  }
  std::array<const float *, 3> x = partsAsF32(in, tin);
  attentionBackward(asF32(g, tg), x[0], x[1], x[2], asF32(o, to), lse.as<float>(), view,
                    float(scale), n, d[0], d[1], d[2]);
  for (int i = 0; i < 3; ++i)
    if (i == 0 || grads.x[i] != grads.x[0])
      storeF32(d[size_t(i)] - grads.offset[i], *grads.x[i]);
}

} // namespace

void runAttention(KernelCall &c) {
  const Tensor &q = c.in[0], &k = c.in[1], &v = c.in[2];
  const auto &attrs = c.attrs<AttentionAttrs>();
  forward(c, separate(q, k, v), c.in.size() > 3 ? &c.in[3] : nullptr,
          getDims(q, k, v, c.out[0], attrs.layout), attrs.causal, attrs.scale);
}

void runAttentionGrad(KernelCall &c) {
  const Tensor &q = c.in[1], &k = c.in[2], &v = c.in[3];
  const auto &attrs = c.attrs<AttentionAttrs>();
  backward(c.in[0], separate(q, k, v), c.in[4], c.in[5],
           separate(c.out[0], c.out[1], c.out[2]), c.in.size() > 6 ? &c.in[6] : nullptr,
           getDims(q, k, v, c.in[4], attrs.layout), attrs.causal, attrs.scale);
}

void runPackedAttention(KernelCall &c) {
  const auto &attrs = c.attrs<PackedAttentionAttrs>();
  forward(c, packed(c.in[0]), c.in.size() > 1 ? &c.in[1] : nullptr,
          getPackedDims(c.in[0], c.out[0]), attrs.causal, attrs.scale);
}

void runPackedAttentionGrad(KernelCall &c) {
  const auto &attrs = c.attrs<PackedAttentionAttrs>();
  backward(c.in[0], packed(c.in[1]), c.in[2], c.in[3], packed(c.out[0]),
           c.in.size() > 4 ? &c.in[4] : nullptr, getPackedDims(c.in[1], c.in[2]),
           attrs.causal, attrs.scale);
}

} // namespace ds::rt::cpu
