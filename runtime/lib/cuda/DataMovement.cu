// CUDA data-movement kernels: reshape, squeeze, unsqueeze, transpose, gather, gather_grad,
// slice, slice_grad, split, concat, expand, trilu, constant, copy, fill and the assert_close
// check. Semantics follow lib/cpu/DataMovement.cpp.
//
// Pure data movement works on element bits: it dispatches on the element size (1, 2, 4 or 8
// bytes), so every dtype (f32 f64 f16 bf16 i64 i32 i1) is supported. All copies are written as
// "gather" (loop over the contiguous output, read through an Indexer) or "scatter" (loop over
// the contiguous input, write through an Indexer) grid-stride loops; the iteration space is
// simplified first (size-1 dims dropped, adjacent dims merged), and a copy that turns out to be
// contiguous becomes a cudaMemcpyAsync.
//
// Differences from the CPU (which throws on out-of-range gather indices): a kernel cannot
// throw, so gather writes zeros for the result rows of out-of-range indices, and gather_grad
// ignores the gradient rows of out-of-range indices. Nothing is ever read or written out of
// bounds.
#include "CudaCommon.cuh"

#include <cub/device/device_radix_sort.cuh>

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>

namespace ds::rt::cuda {
namespace {

/// True when the indexer maps linear index k to offset k (contiguous operand).
bool isContiguous(const Indexer &ix) {
  return ix.rank == 0 || (ix.rank == 1 && ix.strides[0] == 1);
}

template <typename E>
__global__ void gatherCopyKernel(const E *__restrict__ in, int64_t base, Indexer ix,
                                 E *__restrict__ out, int64_t n) {
  DS_GRID_STRIDE(k, n) { out[k] = in[base + ix.offset(k)]; }
}

template <typename E>
__global__ void scatterCopyKernel(const E *__restrict__ in, E *__restrict__ out, int64_t base,
                                  Indexer ix, int64_t n) {
  DS_GRID_STRIDE(k, n) { out[base + ix.offset(k)] = in[k]; }
}

/// out (contiguous, `dims`-shaped, n = prod(dims) > 0 elements)[k] =
/// in[base + sum_d idx_d(k) * strides_d]. Elements of dtype `dt`.
void gatherCopy(KernelCall &c, DType dt, const void *in, int64_t base,
                const std::vector<int64_t> &dims, const std::vector<int64_t> &strides,
                void *out) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  if (n <= 0)
    return;
  Indexer ix = stridedIndexer(dims, strides);
  size_t es = dtypeSize(dt);
  if (isContiguous(ix)) {
    DS_CUDA(cudaMemcpyAsync(out, static_cast<const char *>(in) + size_t(base) * es,
                            size_t(n) * es, cudaMemcpyDeviceToDevice, stream(c)));
    return;
  }
  DS_DISPATCH_BY_SIZE(dt, E, {
    gatherCopyKernel<E><<<gridFor(n), kThreads, 0, stream(c)>>>(static_cast<const E *>(in),
                                                                 base, ix, static_cast<E *>(out),
                                                                 n);
    DS_CUDA_LAUNCH();
  });
}

/// out[base + sum_d idx_d(k) * strides_d] = in (contiguous, `dims`-shaped)[k].
void scatterCopy(KernelCall &c, DType dt, const void *in, const std::vector<int64_t> &dims,
                 void *out, int64_t base, const std::vector<int64_t> &strides) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  if (n <= 0)
    return;
  Indexer ix = stridedIndexer(dims, strides);
  size_t es = dtypeSize(dt);
  if (isContiguous(ix)) {
    DS_CUDA(cudaMemcpyAsync(static_cast<char *>(out) + size_t(base) * es, in, size_t(n) * es,
                            cudaMemcpyDeviceToDevice, stream(c)));
    return;
  }
  DS_DISPATCH_BY_SIZE(dt, E, {
    scatterCopyKernel<E><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const E *>(in), static_cast<E *>(out), base, ix, n);
    DS_CUDA_LAUNCH();
  });
}

// ---------------------------------------------------------------- reshape / squeeze / unsqueeze

} // namespace

void runReshape(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  if (x.data == r.data || x.numel == 0)
    return; // in place: the bytes already are the result
  DS_CUDA(cudaMemcpyAsync(r.data, x.data, bytesOf(x), cudaMemcpyDeviceToDevice, stream(c)));
}

namespace {

// ---------------------------------------------------------------- transpose / expand / slice

} // namespace

void runTranspose(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const auto &perm = c.attrs<TransposeAttrs>().perm;
  std::vector<int64_t> xs = rowMajorStrides(*x.shape), st(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    st[i] = xs[size_t(perm[i])];
  if (r.numel == 0)
    return;
  gatherCopy(c, x.dtype, x.data, 0, *r.shape, st, r.data);
}

void runExpand(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  if (r.numel == 0)
    return;
  const auto &in = *x.shape, &out = *r.shape;
  std::vector<int64_t> st(out.size(), 0), cs = rowMajorStrides(in);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    st[lead + i] = in[i] == 1 ? 0 : cs[i];
  gatherCopy(c, x.dtype, x.data, 0, out, st, r.data);
}

void runSlice(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  if (r.numel == 0)
    return;
  const auto &attrs = c.attrs<SliceAttrs>();
  const auto &starts = attrs.starts;
  auto steps = attrs.steps.value_or(std::vector<int64_t>(starts.size(), 1));
  std::vector<int64_t> xs = rowMajorStrides(*x.shape), st(xs.size());
  int64_t base = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    base += starts[i] * xs[i];
    st[i] = xs[i] * steps[i];
  }
  gatherCopy(c, x.dtype, x.data, base, *r.shape, st, r.data);
}

/// dx = zeros of the slice input's shape, with g at the sliced positions.
void runSliceGrad(KernelCall &c) {
  const Tensor &g = c.in[0], &r = c.out[0];
  const auto &attrs = c.attrs<SliceAttrs>();
  const auto &starts = attrs.starts;
  auto steps = attrs.steps.value_or(std::vector<int64_t>(r.shape->size(), 1));
  if (r.numel == 0)
    return;
  DS_CUDA(cudaMemsetAsync(r.data, 0, bytesOf(r), stream(c)));
  if (g.numel == 0)
    return;
  std::vector<int64_t> rs = rowMajorStrides(*r.shape), st(rs.size());
  int64_t base = 0;
  for (size_t i = 0; i < rs.size(); ++i) {
    base += starts[i] * rs[i];
    st[i] = rs[i] * steps[i];
  }
  // A slice is injective: every g element has its own destination.
  scatterCopy(c, g.dtype, g.data, *g.shape, r.data, base, st);
}

namespace {

// ---------------------------------------------------------------- split / concat

} // namespace

namespace {

// ---------------------------------------------------------------- split / concat pieces
// A split's outputs or a concat's inputs are pieces [outer, cols_k] of the whole [outer,
// wholeCols], at column `start_k`. Up to kPiecewiseMax non-empty pieces are copied one each
// (a cudaMemcpyAsync when contiguous); more take one launch over every piece, its
// descriptor table uploaded first (uploadDescriptors): a ZeRO bucket of many gradients or
// parameter shards is two launches, not one per tensor (lib/Target/KernelCost.cpp counts
// the same).
constexpr size_t kPiecewiseMax = 2;

struct PieceDesc {
  void *piece;
  int64_t first; // the piece's first element in the sequence of all pieces
  int64_t cols;  // elements per row of the piece
  int64_t start; // the piece's first column in the whole
};

/// Every element e < total of all pieces, in one grid: its piece by binary search over the
/// descriptors' `first`, then whole[o, start + a] <-> piece[o, a]. Split reads the whole
/// (Gather), concat writes it.
template <typename E, bool Gather>
__global__ void piecesKernel(const PieceDesc *__restrict__ d, int count, E *whole,
                             int64_t wholeCols, int64_t total) {
  DS_GRID_STRIDE(e, total) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) / 2;
      if (d[mid].first <= e)
        lo = mid;
      else
        hi = mid - 1;
    }
    const PieceDesc &p = d[lo];
    int64_t i = e - p.first, o = i / p.cols, a = i - o * p.cols;
    int64_t w = o * wholeCols + p.start + a;
    E *piece = static_cast<E *>(p.piece);
    if (Gather)
      piece[i] = whole[w];
    else
      whole[w] = piece[i];
  }
}

/// The pieces (data, cols, start) of a whole [outer, wholeCols] of dtype `dt`, copied from
/// the whole (split) or into it (concat) in one launch.
template <bool Gather>
void copyPieces(KernelCall &c, DType dt, void *whole, int64_t outer, int64_t wholeCols,
                std::vector<PieceDesc> pieces) {
  int64_t total = 0;
  for (PieceDesc &p : pieces) {
    p.first = total;
    total += outer * p.cols;
  }
  auto *d = static_cast<const PieceDesc *>(
      uploadDescriptors(c, pieces.data(), pieces.size() * sizeof(PieceDesc), 0));
  DS_DISPATCH_BY_SIZE(dt, E, {
    piecesKernel<E, Gather><<<gridFor(total), kThreads, 0, stream(c)>>>(
        d, int(pieces.size()), static_cast<E *>(whole), wholeCols, total);
    DS_CUDA_LAUNCH();
  });
}

} // namespace

void runSplit(KernelCall &c) {
  const Tensor &x = c.in[0];
  const auto &attrs = c.attrs<SplitAttrs>();
  int64_t axis = attrs.axis;
  const auto &sizes = attrs.sizes;
  int64_t outer, dim, inner;
  splitAt(*x.shape, axis, outer, dim, inner);
  std::vector<PieceDesc> pieces;
  int64_t start = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    if (c.out[k].numel > 0)
      pieces.push_back({c.out[k].data, 0, sizes[k] * inner, start * inner});
    start += sizes[k];
  }
  if (pieces.size() > kPiecewiseMax)
    return copyPieces<true>(c, x.dtype, x.data, outer, dim * inner, std::move(pieces));
  // out[k][o, a] = x[o, start*inner + a], a < sizes[k]*inner
  for (const PieceDesc &p : pieces)
    gatherCopy(c, x.dtype, x.data, p.start, {outer, p.cols}, {dim * inner, 1}, p.piece);
}

void runConcat(KernelCall &c) {
  const Tensor &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  int64_t outer, dim, inner;
  splitAt(*r.shape, axis, outer, dim, inner);
  std::vector<PieceDesc> pieces;
  int64_t start = 0;
  for (const Tensor &x : c.in) {
    int64_t xd = x.dim(axis);
    if (x.numel > 0)
      pieces.push_back({x.data, 0, xd * inner, start * inner});
    start += xd;
  }
  if (pieces.size() > kPiecewiseMax)
    return copyPieces<false>(c, r.dtype, r.data, outer, dim * inner, std::move(pieces));
  // r[o, start*inner + a] = x[o, a], a < xd*inner
  for (const PieceDesc &p : pieces)
    scatterCopy(c, r.dtype, p.piece, {outer, p.cols}, r.data, p.start, {dim * inner, 1});
}

namespace {

// ---------------------------------------------------------------- trilu

template <typename E>
__global__ void triluKernel(const E *x, E *y, int64_t R, int64_t C, int64_t k, bool upper,
                            int64_t n) {
  // x may equal y (in place): every thread reads and writes only its own element.
  DS_GRID_STRIDE(t, n) {
    int64_t j = t % C;
    int64_t i = (t / C) % R;
    bool keep = upper ? (j - i >= k) : (j - i <= k);
    y[t] = keep ? x[t] : E(0);
  }
}

} // namespace

void runTrilu(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const auto &attrs = c.attrs<TriluAttrs>();
  bool upper = attrs.upper;
  int64_t k = attrs.k;
  int64_t R = x.dim(x.rank() - 2), C = x.dim(x.rank() - 1);
  int64_t n = r.numel;
  if (n == 0 || R == 0 || C == 0)
    return;
  DS_DISPATCH_BY_SIZE(x.dtype, E, {
    triluKernel<E><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const E *>(x.data), static_cast<E *>(r.data), R, C, k, upper, n);
    DS_CUDA_LAUNCH();
  });
}

namespace {

// ---------------------------------------------------------------- gather

template <typename E, typename I>
__global__ void gatherKernel(const E *__restrict__ d, const I *__restrict__ idx,
                             E *__restrict__ out, int64_t nIdx, int64_t dim, int64_t inner,
                             int64_t total) {
  // out[o, j, i] = d[o, idx[j], i]; out-of-range indices give zeros (the CPU throws).
  DS_GRID_STRIDE(t, total) {
    int64_t i = t % inner;
    int64_t rest = t / inner;
    int64_t j = rest % nIdx;
    int64_t o = rest / nIdx;
    int64_t v = int64_t(idx[j]);
    if (v < 0)
      v += dim;
    out[t] = (v >= 0 && v < dim) ? d[(o * dim + v) * inner + i] : E(0);
  }
}

} // namespace

void runGather(KernelCall &c) {
  const Tensor &d = c.in[0], &idx = c.in[1], &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  int64_t outer, dim, inner;
  splitAt(*d.shape, axis, outer, dim, inner);
  int64_t n = idx.numel, total = r.numel;
  if (total == 0 || n == 0 || inner == 0)
    return;
  DS_DISPATCH_BY_SIZE(d.dtype, E, {
    const E *src = static_cast<const E *>(d.data);
    E *dst = static_cast<E *>(r.data);
    if (idx.dtype == ds::plan::I64)
      gatherKernel<E, int64_t><<<gridFor(total), kThreads, 0, stream(c)>>>(
          src, idx.as<const int64_t>(), dst, n, dim, inner, total);
    else if (idx.dtype == ds::plan::I32)
      gatherKernel<E, int32_t><<<gridFor(total), kThreads, 0, stream(c)>>>(
          src, idx.as<const int32_t>(), dst, n, dim, inner, total);
    else
      fail("indices must be i64 or i32, got ", dtypeName(idx.dtype));
    DS_CUDA_LAUNCH();
  });
}

namespace {

// ---------------------------------------------------------------- gather_grad
//
// dd = zeros; dd[o, idx[j], :] += g[o, j, :] for j in order (the CPU's order). Deterministic and
// bit-exact with the CPU: the index positions are sorted by key (row * n + j) (keys are unique,
// so the sorted order is fully determined: grouped by row, increasing j inside a group); then
// one thread per (outer, group, column) sums its group's gradient rows in increasing j in the
// accumulation type (f32, f64 for f64; f16/bf16 are summed in f32 and rounded once, like the
// CPU's staging), starting from 0, and stores the sum. Rows no index hits stay zero.
// Out-of-range indices get the key row = dim and sort last; their rows are ignored.

template <typename I>
__global__ void gatherGradKeysKernel(const I *__restrict__ idx, uint64_t *__restrict__ keys,
                                     int64_t n, int64_t dim) {
  DS_GRID_STRIDE(j, n) {
    int64_t v = int64_t(idx[j]);
    if (v < 0)
      v += dim;
    int64_t row = (v >= 0 && v < dim) ? v : dim;
    keys[j] = uint64_t(row) * uint64_t(n) + uint64_t(j);
  }
}

template <typename T>
__global__ void gatherGradSumKernel(const T *__restrict__ g, const uint64_t *__restrict__ keys,
                                    T *__restrict__ out, int64_t n, int64_t dim, int64_t inner,
                                    int64_t total) {
  using A = typename Acc<T>::type;
  const uint64_t un = uint64_t(n);
  // total = outer * n * inner: t = (o, p, i) with p a position in the sorted keys.
  DS_GRID_STRIDE(t, total) {
    int64_t i = t % inner;
    int64_t rest = t / inner;
    int64_t p = rest % n;
    int64_t o = rest / n;
    int64_t row = int64_t(keys[p] / un);
    if (row >= dim)
      continue; // out-of-range index (sorted last): ignored
    if (p > 0 && int64_t(keys[p - 1] / un) == row)
      continue; // not the first position of its row's group
    A acc = A(0);
    for (int64_t q = p; q < n; ++q) {
      uint64_t kq = keys[q];
      if (int64_t(kq / un) != row)
        break;
      int64_t j = int64_t(kq % un);
      acc += ld(g, (o * n + j) * inner + i);
    }
    st(out, (o * dim + row) * inner + i, acc);
  }
}

size_t alignUp(size_t v) { return (v + 255) / 256 * 256; }

} // namespace

void runGatherGrad(KernelCall &c) {
  const Tensor &g = c.in[0], &idx = c.in[1], &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  int64_t outer, dim, inner;
  splitAt(*r.shape, axis, outer, dim, inner);
  int64_t n = idx.numel;
  if (r.numel == 0)
    return;
  if (idx.dtype != ds::plan::I64 && idx.dtype != ds::plan::I32)
    fail("indices must be i64 or i32, got ", dtypeName(idx.dtype));
  cudaStream_t s = stream(c);
  DS_CUDA(cudaMemsetAsync(r.data, 0, bytesOf(r), s)); // all-zero bits are +0 for every float
  if (n == 0 || g.numel == 0)
    return;

  // Sort keys row * n + j, row in [0, dim] (dim = out of range): the largest is dim*n + n-1.
  uint64_t maxKey = uint64_t(dim) * uint64_t(n) + uint64_t(n - 1);
  int endBit = 1;
  while (endBit < 64 && (maxKey >> endBit) != 0)
    ++endBit;
  size_t tempBytes = 0;
  DS_CUDA(cub::DeviceRadixSort::SortKeys(nullptr, tempBytes, static_cast<const uint64_t *>(nullptr),
                                         static_cast<uint64_t *>(nullptr), n, 0, endBit, s));
  size_t keyBytes = alignUp(size_t(n) * sizeof(uint64_t));
  char *base = static_cast<char *>(scratch(c, 2 * keyBytes + alignUp(tempBytes)));
  auto *keysIn = reinterpret_cast<uint64_t *>(base);
  auto *keysOut = reinterpret_cast<uint64_t *>(base + keyBytes);
  void *temp = base + 2 * keyBytes;

  if (idx.dtype == ds::plan::I64)
    gatherGradKeysKernel<int64_t><<<gridFor(n), kThreads, 0, s>>>(idx.as<const int64_t>(),
                                                                   keysIn, n, dim);
  else
    gatherGradKeysKernel<int32_t><<<gridFor(n), kThreads, 0, s>>>(idx.as<const int32_t>(),
                                                                   keysIn, n, dim);
  DS_CUDA_LAUNCH();
  DS_CUDA(cub::DeviceRadixSort::SortKeys(temp, tempBytes, static_cast<const uint64_t *>(keysIn),
                                         keysOut, n, 0, endBit, s));

  int64_t total = outer * n * inner;
  DS_DISPATCH_FLOAT(r.dtype, T, {
    gatherGradSumKernel<T><<<gridFor(total), kThreads, 0, s>>>(
        static_cast<const T *>(g.data), keysOut, static_cast<T *>(r.data), n, dim, inner, total);
    DS_CUDA_LAUNCH();
  });
}

#undef DS_BY_SIZE

// ================================================================ data-creating kernels and assert_close
// (were in Elementwise.cu: the same family file as the CPU, lib/cpu/DataMovement.cpp)

namespace {

// ---------------------------------------------------------------- constant / fill

/// The CPU's writeDouble for one element: its bytes in the low dtypeSize(t) bytes.
uint64_t encodeDouble(DType t, double v) {
  uint64_t bits = 0;
  switch (t) {
  case ds::plan::F32: {
    float f = float(v);
    std::memcpy(&bits, &f, 4);
    break;
  }
  case ds::plan::F64: std::memcpy(&bits, &v, 8); break;
  case ds::plan::F16: bits = floatToHalf(float(v)); break;
  case ds::plan::BF16: bits = floatToBf16(float(v)); break;
  case ds::plan::I32: {
    int32_t x = int32_t(std::trunc(v));
    std::memcpy(&bits, &x, 4);
    break;
  }
  case ds::plan::I64: {
    int64_t x = int64_t(std::trunc(v));
    std::memcpy(&bits, &x, 8);
    break;
  }
  default: bits = v != 0; break;
  }
  return bits;
}
/// The CPU's writeInt for one element.
uint64_t encodeInt(DType t, int64_t v) {
  uint64_t bits = 0;
  switch (t) {
  case ds::plan::I32: {
    int32_t x = int32_t(v);
    std::memcpy(&bits, &x, 4);
    break;
  }
  case ds::plan::I64: std::memcpy(&bits, &v, 8); break;
  case ds::plan::I1: bits = v != 0; break;
  default: bits = encodeDouble(t, double(v)); break;
  }
  return bits;
}

template <typename E> __global__ void fillKernel(E *p, E v, int64_t n) {
  DS_GRID_STRIDE(i, n) { p[i] = v; }
}

/// Sets every element of r (numel > 0) to the element bytes `bits`.
void fillBits(KernelCall &c, const Tensor &r, uint64_t bits) {
  int64_t n = r.numel;
  if (n == 0)
    return;
  DS_DISPATCH_BY_SIZE(r.dtype, E, {
    E v;
    std::memcpy(&v, &bits, sizeof(E)); // little endian: the low bytes
    fillKernel<E><<<gridFor(n), kThreads, 0, stream(c)>>>(static_cast<E *>(r.data), v, n);
    DS_CUDA_LAUNCH();
  });
}

/// Pinned host copies of multi-element constants. They are never freed or changed once made:
/// a captured CUDA graph may replay the copy from them at any later time. Keyed by the
/// instruction and validated by content (a later plan may reuse the instruction's address;
/// the stale copy is then left allocated, as a graph might still reference it).
struct ConstHost {
  void *host = nullptr;
  size_t bytes = 0;
};
std::mutex &constMutex() {
  static std::mutex *m = new std::mutex; // never destroyed: usable until process exit
  return *m;
}
std::map<const Instruction *, ConstHost> &constCache() {
  static auto *m = new std::map<const Instruction *, ConstHost>;
  return *m;
}

} // namespace

void runConstant(KernelCall &c) {
  const Tensor &r = c.out[0];
  const ConstantValue &a = c.attrs<ConstantAttrs>().value;
  using Kind = ConstantValue::Kind;
  if (r.numel == 0)
    return;
  switch (a.kind) {
  case Kind::Int:
  case Kind::Ints:
    if (a.ints.size() == 1) {
      fillBits(c, r, encodeInt(r.dtype, a.ints[0]));
      return;
    }
    if (int64_t(a.ints.size()) != r.numel)
      fail("attribute 'value' has ", a.ints.size(), " values for ", r.numel, " elements");
    break;
  case Kind::Float:
  case Kind::Floats:
    if (a.floats.size() == 1) {
      fillBits(c, r, encodeDouble(r.dtype, a.floats[0]));
      return;
    }
    if (int64_t(a.floats.size()) != r.numel)
      fail("attribute 'value' has ", a.floats.size(), " values for ", r.numel, " elements");
    break;
  case Kind::Raw:
    if (a.raw.size() != bytesOf(r))
      fail("attribute 'value' holds ", a.raw.size(), " bytes, the result needs ", bytesOf(r));
    break;
  }
  // Raw bytes or one value per element: the result's bytes, built on the host like the CPU's
  // writeInt / writeDouble, copied from a persistent pinned buffer.
  size_t bytes = bytesOf(r), es = dtypeSize(r.dtype);
  std::string built;
  const char *src = nullptr;
  if (a.kind == Kind::Raw) {
    src = a.raw.data();
  } else {
    built.resize(bytes);
    for (int64_t i = 0; i < r.numel; ++i) {
      uint64_t bits = a.kind == Kind::Ints ? encodeInt(r.dtype, a.ints[size_t(i)])
                                           : encodeDouble(r.dtype, a.floats[size_t(i)]);
      std::memcpy(&built[size_t(i) * es], &bits, es); // little endian: the low bytes
    }
    src = built.data();
  }
  void *host = nullptr;
  {
    std::lock_guard<std::mutex> lock(constMutex());
    ConstHost &e = constCache()[&c.ins];
    if (e.host && e.bytes == bytes && std::memcmp(e.host, src, bytes) == 0) {
      host = e.host;
    } else {
      DS_CUDA(cudaHostAlloc(&host, bytes, cudaHostAllocPortable));
      std::memcpy(host, src, bytes);
      e.host = host;
      e.bytes = bytes;
    }
  }
  DS_CUDA(cudaMemcpyAsync(r.data, host, bytes, cudaMemcpyHostToDevice, stream(c)));
}

void runFill(KernelCall &c) {
  const Tensor &r = c.out[0];
  double v = c.attrs<FillAttrs>().value;
  if (r.numel == 0)
    return;
  fillBits(c, r, encodeDouble(r.dtype, v));
}

namespace {

// ---------------------------------------------------------------- copy

} // namespace

void runCopy(KernelCall &c) {
  const Tensor &s = c.in[0], &d = c.out[0];
  size_t es = dtypeSize(s.dtype);
  const auto &attrs = c.attrs<CopyAttrs>();
  int64_t count = attrs.count.value_or(s.numel);
  int64_t so = attrs.src_offset + c.ctx.rank * attrs.src_rank_stride;
  int64_t dO = attrs.dst_offset + c.ctx.rank * attrs.dst_rank_stride;
  if (count <= 0)
    return;
  size_t bytes = size_t(count) * es;
  char *dst = static_cast<char *>(d.data) + size_t(dO) * es;
  const char *src = static_cast<const char *>(s.data) + size_t(so) * es;
  if (attrs.rows > 1) { // distinct buffers (the kernel's contract)
    size_t dpitch = size_t(attrs.dst_row_stride) * es, spitch = size_t(attrs.src_row_stride) * es;
    constexpr size_t kMaxPitch = (size_t(1) << 31) - 1; // cudaDevAttrMaxPitch
    if (dpitch <= kMaxPitch && spitch <= kMaxPitch) {
      DS_CUDA(cudaMemcpy2DAsync(dst, dpitch, src, spitch, bytes, size_t(attrs.rows),
                                cudaMemcpyDefault, stream(c)));
      return;
    }
    for (int64_t row = 0; row < attrs.rows; ++row)
      DS_CUDA(cudaMemcpyAsync(dst + size_t(row) * dpitch, src + size_t(row) * spitch, bytes,
                              cudaMemcpyDefault, stream(c)));
    return;
  }
  if (dst == src)
    return;
  // cudaMemcpyDefault: either side may be the pinned host region (offload's device-to-host
  // and host-to-device copies on the copy stream); unified addressing tells which.
  if (src < dst + bytes && dst < src + bytes) { // overlapping (memmove): stage in scratch
    void *tmp = scratch(c, bytes);
    DS_CUDA(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDefault, stream(c)));
    DS_CUDA(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDefault, stream(c)));
    return;
  }
  DS_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream(c)));
}

// ---------------------------------------------------------------- assert_close

/// Copies both operands to the host (this kernel synchronizes its stream, so a program holding
/// it is never captured into a graph) and runs the CPU's comparison.
void runAssertClose(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1];
  const auto &attrs = c.attrs<AssertCloseAttrs>();
  double rtol = attrs.rtol, atol = attrs.atol;
  if (a.numel == 0)
    return;
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  DS_CUDA(cudaStreamIsCapturing(stream(c), &cs));
  if (cs != cudaStreamCaptureStatusNone)
    fail("assert_close synchronizes and cannot run inside a CUDA graph capture");
  size_t bytes = bytesOf(a);
  std::vector<unsigned char> ha(bytes), hb(bytes);
  DS_CUDA(cudaMemcpyAsync(ha.data(), a.data, bytes, cudaMemcpyDeviceToHost, stream(c)));
  DS_CUDA(cudaMemcpyAsync(hb.data(), b.data, bytes, cudaMemcpyDeviceToHost, stream(c)));
  DS_CUDA(cudaStreamSynchronize(stream(c)));
  auto get = [&](const std::vector<unsigned char> &h, int64_t i) -> double {
    const unsigned char *p = h.data();
    switch (a.dtype) {
    case ds::plan::F32: {
      float v;
      std::memcpy(&v, p + size_t(i) * 4, 4);
      return v;
    }
    case ds::plan::F64: {
      double v;
      std::memcpy(&v, p + size_t(i) * 8, 8);
      return v;
    }
    case ds::plan::F16:
    case ds::plan::BF16: {
      uint16_t v;
      std::memcpy(&v, p + size_t(i) * 2, 2);
      return a.dtype == ds::plan::F16 ? halfToFloat(v) : bf16ToFloat(v);
    }
    case ds::plan::I32: {
      int32_t v;
      std::memcpy(&v, p + size_t(i) * 4, 4);
      return v;
    }
    case ds::plan::I64: {
      int64_t v;
      std::memcpy(&v, p + size_t(i) * 8, 8);
      return double(v);
    }
    default: return p[i];
    }
  };
  for (int64_t i = 0; i < a.numel; ++i) {
    double x = get(ha, i), y = get(hb, i);
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y)) && !(std::isnan(x) && std::isnan(y)))
      fail("assert_close failed at element ", i, ": ", x, " vs expected ", y);
  }
}

} // namespace ds::rt::cuda
