// CUDA attention and attention_grad (and their packed forms, q, k, v and dq, dk, dv as
// parts of one [B, T, 3, H, D] buffer): the fallback kernels of our own (online softmax,
// one block per query row or key row), for every float type; no [T, S] matrix is stored.
//
// Semantics follow the CPU kernels (lib/cpu/Attention.cpp): f16/bf16 compute in f32, f64
// in f64; lse is Acc<T> (f32, or f64 for f64); masked scores are -inf; a fully masked row
// gives out = 0, lse = -inf and zero gradients. The forward keeps a running max and sum
// per row (each thread owns a slice of the output row); the backward recomputes p =
// exp(score - lse): one kernel per query row for dq, one per key row for dk and dv, so
// nothing is accumulated across blocks (no atomics, deterministic). Dot products are
// fixed-order block reductions. cuDNN's fused SDPA (CudnnAttention.cpp) replaces these
// for f16/bf16 where cuDNN supports the instruction: the executor builds its graph at
// load and hands it over in DeviceContext::cudnnAttention.
#include "BlockReduce.cuh"
#include "CudnnAttention.h"
#include "../AttentionRows.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ds::rt::cuda {
namespace {

constexpr int kMaxBatchDims = 6;

/// The mask broadcast to [batch..., T, S]: element strides per batch dim, row and column.
struct MaskDesc {
  const void *data = nullptr;
  int kind = 0; // 0 none, 1 i1 (true attends), 2 additive float of the operands' type
  int batchDims = 0;
  int64_t dims[kMaxBatchDims] = {}, strides[kMaxBatchDims] = {};
  int64_t rowStride = 0, colStride = 0;
  bool causal = false;
};

/// The masked score: -inf where causal or the boolean mask hides key j from row i.
template <typename T, typename A>
__device__ __forceinline__ A maskScore(const MaskDesc &m, int64_t b, int64_t i, int64_t j,
                                       A s) {
  if (m.causal && j > i)
    return -std::numeric_limits<A>::infinity();
  if (m.kind == 0)
    return s;
  int64_t off = i * m.rowStride + j * m.colStride, rem = b;
  for (int d = m.batchDims - 1; d >= 0; --d) {
    off += (rem % m.dims[d]) * m.strides[d];
    rem /= m.dims[d];
  }
  if (m.kind == 1)
    return static_cast<const uint8_t *>(m.data)[off]
               ? s
               : -std::numeric_limits<A>::infinity();
  return s + ld(static_cast<const T *>(m.data), off);
}

using Rows = AttentionRows;

/// The rows of q (and dq), k (dk), v (dv) and out (g).
struct Layouts {
  Rows q, k, v, o;
};

template <typename A> __device__ __forceinline__ A expA(A v);
template <> __device__ __forceinline__ float expA(float v) { return expf(v); }
template <> __device__ __forceinline__ double expA(double v) { return ::exp(v); }

/// Sum over the block of a[x] * b[x] for x in [0, n).
template <typename T, typename A>
__device__ A blockDot(const T *a, const T *b, int64_t n) {
  A sum = A(0);
  for (int64_t x = threadIdx.x; x < n; x += blockDim.x)
    sum += ld(a, x) * ld(b, x);
  return blockReduce(sum, SumOp(), A(0));
}

template <typename T>
__global__ void attentionKernel(const T *__restrict__ q, const T *__restrict__ k,
                                const T *__restrict__ v, MaskDesc mask, Layouts w,
                                float scale, int64_t batch, int64_t group, int64_t t,
                                int64_t s, int64_t d, int64_t dv, T *__restrict__ out,
                                typename Acc<T>::type *__restrict__ lse) {
  using A = typename Acc<T>::type;
  extern __shared__ unsigned char shared[];
  A *acc = reinterpret_cast<A *>(shared);
  const A ninf = -std::numeric_limits<A>::infinity();
  for (int64_t row = blockIdx.x; row < batch * t; row += gridDim.x) {
    int64_t b = row / t, i = row % t;
    const T *qi = q + w.q.at(b, i), *kb = k + w.k.at(b / group, 0),
            *vb = v + w.v.at(b / group, 0);
    for (int64_t x = threadIdx.x; x < dv; x += blockDim.x)
      acc[x] = A(0);
    A m = ninf, l = A(0);
    int64_t jEnd = mask.causal ? min(s, i + 1) : s;
    for (int64_t j = 0; j < jEnd; ++j) {
      A score = blockDot<T, A>(qi, kb + j * w.k.rowStride, d) * A(scale);
      score = maskScore<T, A>(mask, b, i, j, score);
      if (score == ninf)
        continue;
      A mx = max(m, score);
      A alpha = expA(m - mx), p = expA(score - mx);
      l = l * alpha + p;
      m = mx;
      for (int64_t x = threadIdx.x; x < dv; x += blockDim.x)
        acc[x] = acc[x] * alpha + p * ld(vb + j * w.v.rowStride, x);
    }
    A inv = l > A(0) ? A(1) / l : A(0);
    for (int64_t x = threadIdx.x; x < dv; x += blockDim.x)
      st(out + w.o.at(b, i), x, acc[x] * inv);
    if (threadIdx.x == 0)
      lse[row] = l > A(0) ? A(m + log(l)) : ninf;
    __syncthreads(); // acc is reused by the next row
  }
}

/// dq of one query row per block.
template <typename T>
__global__ void attentionGradQueryKernel(const T *__restrict__ g, const T *__restrict__ q,
                                         const T *__restrict__ k, const T *__restrict__ v,
                                         const T *__restrict__ o,
                                         const typename Acc<T>::type *__restrict__ lse,
                                         MaskDesc mask, Layouts w, float scale,
                                         int64_t batch, int64_t group, int64_t t, int64_t s,
                                         int64_t d, int64_t dv, T *__restrict__ dq) {
  using A = typename Acc<T>::type;
  extern __shared__ unsigned char shared[];
  A *acc = reinterpret_cast<A *>(shared);
  const A ninf = -std::numeric_limits<A>::infinity();
  for (int64_t row = blockIdx.x; row < batch * t; row += gridDim.x) {
    int64_t b = row / t, i = row % t;
    const T *qi = q + w.q.at(b, i), *gi = g + w.o.at(b, i),
            *kb = k + w.k.at(b / group, 0), *vb = v + w.v.at(b / group, 0);
    const int64_t ldk = w.k.rowStride, ldv = w.v.rowStride;
    for (int64_t x = threadIdx.x; x < d; x += blockDim.x)
      acc[x] = A(0);
    A li = A(lse[row]);
    A rowDot = blockDot<T, A>(gi, o + w.o.at(b, i), dv);
    int64_t jEnd = li == ninf ? 0 : (mask.causal ? min(s, i + 1) : s);
    for (int64_t j = 0; j < jEnd; ++j) {
      A score =
          maskScore<T, A>(mask, b, i, j, blockDot<T, A>(qi, kb + j * ldk, d) * A(scale));
      A dp = blockDot<T, A>(gi, vb + j * ldv, dv);
      if (score == ninf)
        continue;
      A ds = expA(score - li) * (dp - rowDot) * A(scale);
      for (int64_t x = threadIdx.x; x < d; x += blockDim.x)
        acc[x] += ds * ld(kb + j * ldk, x);
    }
    for (int64_t x = threadIdx.x; x < d; x += blockDim.x)
      st(dq + w.q.at(b, i), x, acc[x]);
    __syncthreads();
  }
}

/// dk and dv of one key row per block (summed over the query heads of its group).
template <typename T>
__global__ void
attentionGradKeyKernel(const T *__restrict__ g, const T *__restrict__ q,
                       const T *__restrict__ k, const T *__restrict__ v,
                       const T *__restrict__ o,
                       const typename Acc<T>::type *__restrict__ lse, MaskDesc mask,
                       Layouts w, float scale, int64_t batch, int64_t group, int64_t t, int64_t s,
                       int64_t d, int64_t dv, T *__restrict__ dk, T *__restrict__ dvOut) {
  using A = typename Acc<T>::type;
  extern __shared__ unsigned char shared[];
  A *accK = reinterpret_cast<A *>(shared), *accV = accK + d;
  const A ninf = -std::numeric_limits<A>::infinity();
  for (int64_t col = blockIdx.x; col < batch / group * s; col += gridDim.x) {
    int64_t kvb = col / s, j = col % s;
    const T *kj = k + w.k.at(kvb, j), *vj = v + w.v.at(kvb, j);
    for (int64_t x = threadIdx.x; x < d; x += blockDim.x)
      accK[x] = A(0);
    for (int64_t x = threadIdx.x; x < dv; x += blockDim.x)
      accV[x] = A(0);
    // Every query row of every query head that reads this key head.
    for (int64_t bi = kvb * group * t + (mask.causal ? j : 0); bi < (kvb + 1) * group * t;
         ++bi) {
      int64_t b = bi / t, i = bi % t, row = bi;
      if (mask.causal && i < j)
        continue;
      const T *qi = q + w.q.at(b, i), *gi = g + w.o.at(b, i);
      A li = A(lse[row]);
      A score = maskScore<T, A>(mask, b, i, j, blockDot<T, A>(qi, kj, d) * A(scale));
      A dp = blockDot<T, A>(gi, vj, dv);
      A rowDot = blockDot<T, A>(gi, o + w.o.at(b, i), dv);
      if (score == ninf || li == ninf)
        continue;
      A p = expA(score - li);
      A ds = p * (dp - rowDot) * A(scale);
      for (int64_t x = threadIdx.x; x < d; x += blockDim.x)
        accK[x] += ds * ld(qi, x);
      for (int64_t x = threadIdx.x; x < dv; x += blockDim.x)
        accV[x] += p * ld(gi, x);
    }
    for (int64_t x = threadIdx.x; x < d; x += blockDim.x)
      st(dk + w.k.at(kvb, j), x, accK[x]);
    for (int64_t x = threadIdx.x; x < dv; x += blockDim.x)
      st(dvOut + w.v.at(kvb, j), x, accV[x]);
    __syncthreads();
  }
}


/// `batch` query entries over `batch / group` key-value entries (grouped-query attention:
/// query entry b reads key entry b / group), in the logical [batch..., H, L, W] dims.
struct Dims {
  int64_t batch = 1, group = 1, t, s, d, dv;
  std::vector<int64_t> batchDims; ///< [batch..., H]: the scores' leading dims
  Layouts w;
};

Dims getDims(const Tensor &q, const Tensor &k, const Tensor &v, const Tensor &o,
             AttentionLayout layout) {
  int64_t r = q.rank();
  Dims n;
  // bshd's [B, L, H, W] holds the logical [B, H, L, W].
  auto dimOf = [&](const Tensor &x, int64_t i) {
    if (layout == AttentionLayout::Bshd && (i == 1 || i == 2))
      return x.dim(3 - i);
    return x.dim(i);
  };
  for (int64_t i = 0; i + 2 < r; ++i) {
    n.batch *= dimOf(q, i);
    n.batchDims.push_back(dimOf(q, i));
  }
  n.t = dimOf(q, r - 2), n.d = q.dim(r - 1), n.s = dimOf(k, r - 2), n.dv = v.dim(r - 1);
  if (dimOf(k, r - 3) > 0)
    n.group = std::max<int64_t>(1, dimOf(q, r - 3) / dimOf(k, r - 3));
  n.w.q = attentionRowsOf(q, layout), n.w.k = attentionRowsOf(k, layout);
  n.w.v = attentionRowsOf(v, layout);
  n.w.o = attentionRowsOf(o, layout);
  return n;
}

/// packed_attention's sizes: qkv [B, T, 3, H, D] holds q, k and v (bshd rows, 3 H D
/// apart), out [B, T, H, D].
Dims getPackedDims(const Tensor &qkv, const Tensor &o) {
  Dims n;
  n.batchDims = {qkv.dim(0), qkv.dim(3)};
  n.batch = qkv.dim(0) * qkv.dim(3);
  n.t = n.s = qkv.dim(1), n.d = n.dv = qkv.dim(4);
  n.w.q = n.w.k = n.w.v = packedAttentionRowsOf(*qkv.shape);
  n.w.o = attentionRowsOf(o, AttentionLayout::Bshd);
  return n;
}

MaskDesc getMask(const Tensor *mask, const Dims &n, bool causal) {
  MaskDesc m;
  m.causal = causal;
  if (!mask)
    return m;
  int64_t r = int64_t(n.batchDims.size()) + 2;
  if (r - 2 > kMaxBatchDims)
    fail("attention with a mask supports at most ", kMaxBatchDims, " batch dims, got ",
         r - 2);
  // Strides of the mask viewed in the scores' shape [batch..., T, S] (0 where broadcast).
  std::vector<int64_t> scores = n.batchDims;
  scores.push_back(n.t);
  scores.push_back(n.s);
  const std::vector<int64_t> &ms = *mask->shape;
  std::vector<int64_t> st(scores.size(), 0);
  int64_t stride = 1;
  for (int64_t i = int64_t(ms.size()) - 1; i >= 0; --i) {
    size_t o = size_t(i + int64_t(scores.size()) - int64_t(ms.size()));
    st[o] = ms[size_t(i)] == 1 ? 0 : stride;
    stride *= ms[size_t(i)];
  }
  m.data = mask->data;
  m.kind = mask->dtype == ds::plan::I1 ? 1 : 2;
  m.batchDims = int(r - 2);
  for (int i = 0; i < m.batchDims; ++i)
    m.dims[i] = scores[size_t(i)], m.strides[i] = st[size_t(i)];
  m.rowStride = st[size_t(r - 2)];
  m.colStride = st[size_t(r - 1)];
  return m;
}

size_t accBytes(ds::plan::DType dtype, int64_t n) {
  return size_t(n) * (dtype == ds::plan::F64 ? sizeof(double) : sizeof(float));
}

void checkShared(size_t bytes) {
  if (bytes > 48 * 1024)
    fail("attention head dims need ", bytes, " bytes of shared memory (at most 48 KiB)");
}

/// q, k, v (or dq, dk, dv) as byte pointers: three tensors, or one packed tensor's parts.
struct Parts {
  char *p[3];
};
Parts separate(const Tensor &a, const Tensor &b, const Tensor &c) {
  return Parts{{a.as<char>(), b.as<char>(), c.as<char>()}};
}
Parts packed(const Tensor &qkv) {
  Parts x;
  for (int i = 0; i < 3; ++i)
    x.p[i] =
        qkv.as<char>() + packedPartOffset(*qkv.shape, i) * int64_t(dtypeSize(qkv.dtype));
  return x;
}

void forward(KernelCall &c, DType dtype, Parts in, const Tensor *maskOperand,
             const Dims &n, bool causal, double scale) {
  if (n.batch * n.t == 0)
    return;
  MaskDesc mask = getMask(maskOperand, n, causal);
  size_t shared = accBytes(dtype, n.dv);
  checkShared(shared);
  DS_DISPATCH_FLOAT(dtype, T, {
    attentionKernel<T>
        <<<rowGrid(n.batch * n.t), rowThreads(std::max(n.d, n.dv)), shared, stream(c)>>>(
            reinterpret_cast<const T *>(in.p[0]), reinterpret_cast<const T *>(in.p[1]),
            reinterpret_cast<const T *>(in.p[2]), mask, n.w, float(scale), n.batch,
            n.group, n.t, n.s, n.d, n.dv, c.out[0].as<T>(),
            c.out[1].as<typename Acc<T>::type>());
    DS_CUDA_LAUNCH();
  });
}

void backward(KernelCall &c, const Tensor &g, Parts in, const Tensor &o,
              const Tensor &lse, Parts grads, const Tensor *maskOperand, const Dims &n,
              bool causal, double scale) {
  MaskDesc mask = getMask(maskOperand, n, causal);
  size_t sharedQ = accBytes(g.dtype, n.d), sharedK = accBytes(g.dtype, n.d + n.dv);
  checkShared(sharedK);
  int threads = rowThreads(std::max(n.d, n.dv));
  DS_DISPATCH_FLOAT(g.dtype, T, {
    using A = typename Acc<T>::type;
    auto ptr = [](const Parts &x, int i) { return reinterpret_cast<T *>(x.p[i]); };
    if (n.batch * n.t > 0) {
      attentionGradQueryKernel<T>
          <<<rowGrid(n.batch * n.t), threads, sharedQ, stream(c)>>>(
              g.as<const T>(), ptr(in, 0), ptr(in, 1), ptr(in, 2), o.as<const T>(),
              lse.as<const A>(), mask, n.w, float(scale), n.batch, n.group, n.t, n.s, n.d,
              n.dv, ptr(grads, 0));
      DS_CUDA_LAUNCH();
    }
    if (n.batch / n.group * n.s > 0) {
      attentionGradKeyKernel<T>
          <<<rowGrid(n.batch / n.group * n.s), threads, sharedK, stream(c)>>>(
              g.as<const T>(), ptr(in, 0), ptr(in, 1), ptr(in, 2), o.as<const T>(),
              lse.as<const A>(), mask, n.w, float(scale), n.batch, n.group, n.t, n.s, n.d,
              n.dv, ptr(grads, 1), ptr(grads, 2));
      DS_CUDA_LAUNCH();
    }
  });
}

} // namespace

void runAttention(KernelCall &c) {
  if (const CudnnAttention *a = dev(c).cudnnAttention)
    return runCudnnAttention(*a, c, stream(c));
  const Tensor &q = c.in[0], &k = c.in[1], &v = c.in[2];
  const auto &attrs = c.attrs<AttentionAttrs>();
  forward(c, q.dtype, separate(q, k, v), c.in.size() > 3 ? &c.in[3] : nullptr,
          getDims(q, k, v, c.out[0], attrs.layout), attrs.causal, attrs.scale);
}

void runAttentionGrad(KernelCall &c) {
  if (const CudnnAttention *a = dev(c).cudnnAttention)
    return runCudnnAttention(*a, c, stream(c));
  const Tensor &q = c.in[1], &k = c.in[2], &v = c.in[3];
  const auto &attrs = c.attrs<AttentionAttrs>();
  backward(c, c.in[0], separate(q, k, v), c.in[4], c.in[5],
           separate(c.out[0], c.out[1], c.out[2]), c.in.size() > 6 ? &c.in[6] : nullptr,
           getDims(q, k, v, c.in[4], attrs.layout), attrs.causal, attrs.scale);
}

void runPackedAttention(KernelCall &c) {
  if (const CudnnAttention *a = dev(c).cudnnAttention)
    return runCudnnAttention(*a, c, stream(c));
  const auto &attrs = c.attrs<PackedAttentionAttrs>();
  forward(c, c.in[0].dtype, packed(c.in[0]), c.in.size() > 1 ? &c.in[1] : nullptr,
          getPackedDims(c.in[0], c.out[0]), attrs.causal, attrs.scale);
}

void runPackedAttentionGrad(KernelCall &c) {
  if (const CudnnAttention *a = dev(c).cudnnAttention)
    return runCudnnAttention(*a, c, stream(c));
  const auto &attrs = c.attrs<PackedAttentionAttrs>();
  backward(c, c.in[0], packed(c.in[1]), c.in[2], c.in[3], packed(c.out[0]),
           c.in.size() > 4 ? &c.in[4] : nullptr, getPackedDims(c.in[1], c.in[2]),
           attrs.causal, attrs.scale);
}

} // namespace ds::rt::cuda
