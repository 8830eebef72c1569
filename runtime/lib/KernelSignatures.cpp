// Load-time shape and dtype rules of every kernel (arity and attributes come from the catalogue).
#include "ds/runtime/Kernels.h"
#include "KernelSignaturesConvolution.h"
#include "ds/runtime/FusedProgram.h"
#include "ds/runtime/GemmBiasGrad.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace ds::rt {

std::vector<int64_t> broadcastShapes(const std::vector<int64_t> &a,
                                     const std::vector<int64_t> &b) {
  size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      fail("shapes ", shapeString(a), " and ", shapeString(b), " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---------------------------------------------------------------- checks
namespace {

using T = const TensorType *;

std::string countRange(int min, int max) {
  if (max < 0)
    return "at least " + std::to_string(min);
  return min == max ? std::to_string(min) : std::to_string(min) + ".." + std::to_string(max);
}

/// Operand counts from the catalogue's roles.
void checkArity(const KernelInfo &k, const CheckContext &c) {
  int ni = int(c.in.size()), no = int(c.out.size());
  if (ni < k.minInputs || (k.maxInputs >= 0 && ni > k.maxInputs))
    fail("takes ", countRange(k.minInputs, k.maxInputs), " inputs, got ", ni);
  if (no < k.minOutputs || (k.maxOutputs >= 0 && no > k.maxOutputs))
    fail("produces ", countRange(k.minOutputs, k.maxOutputs), " outputs, got ", no);
}

std::string desc(T t) { return dtypeName(t->dtype) + shapeString(t->shape); }

void sameDtype(T a, T b, const char *what) {
  if (a->dtype != b->dtype)
    fail(what, " must have the same element type, got ", dtypeName(a->dtype), " and ",
         dtypeName(b->dtype));
}
void expectShape(T t, const std::vector<int64_t> &shape, const char *what) {
  if (t->shape != shape)
    fail(what, " has shape ", shapeString(t->shape), ", expected ", shapeString(shape));
}
void floatOnly(T t, const char *what) {
  if (!isFloat(t->dtype))
    fail(what, " must be floating point, got ", dtypeName(t->dtype));
}
void numericOnly(T t, const char *what) {
  if (!isFloat(t->dtype) && !isInteger(t->dtype))
    fail(what, " must be floating point or integer, got ", dtypeName(t->dtype));
}
int64_t checkAxis(int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    fail("attribute 'axis' = ", axis, " out of range for rank ", rank);
  return axis;
}

void checkBinary(const CheckContext &c) {
  sameDtype(c.in[0], c.in[1], "operands");
  sameDtype(c.in[0], c.out[0], "operands and result");
  numericOnly(c.in[0], "operands");
  expectShape(c.out[0], broadcastShapes(c.in[0]->shape, c.in[1]->shape), "result");
}
void checkCompare(const CheckContext &c) {
  sameDtype(c.in[0], c.in[1], "operands");
  if (c.out[0]->dtype != ds::plan::I1)
    fail("result must be i1, got ", dtypeName(c.out[0]->dtype));
  expectShape(c.out[0], broadcastShapes(c.in[0]->shape, c.in[1]->shape), "result");
}
void checkWhere(const CheckContext &c) {
  if (c.in[0]->dtype != ds::plan::I1)
    fail("condition must be i1, got ", dtypeName(c.in[0]->dtype));
  sameDtype(c.in[1], c.in[2], "x and y");
  sameDtype(c.in[1], c.out[0], "x and result");
  expectShape(c.out[0],
              broadcastShapes(c.in[0]->shape, broadcastShapes(c.in[1]->shape, c.in[2]->shape)),
              "result");
}
void checkUnaryAny(const CheckContext &c) {
  sameDtype(c.in[0], c.out[0], "operand and result");
  expectShape(c.out[0], c.in[0]->shape, "result");
}
void checkUnaryNumeric(const CheckContext &c) {
  checkUnaryAny(c);
  numericOnly(c.in[0], "operand");
}
void checkUnaryFloat(const CheckContext &c) {
  checkUnaryAny(c);
  floatOnly(c.in[0], "operand");
}
void checkCast(const CheckContext &c) {
  expectShape(c.out[0], c.in[0]->shape, "result");
}

void checkMatmul(const CheckContext &c) {
  T a = c.in[0], b = c.in[1];
  sameDtype(a, b, "operands");
  sameDtype(a, c.out[0], "operands and result");
  floatOnly(a, "operands");
  if (a->rank() == 0 || b->rank() == 0)
    fail("operands must have rank >= 1, got ", desc(a), " and ", desc(b));
  std::vector<int64_t> as = a->shape, bs = b->shape;
  bool dropM = as.size() == 1, dropN = bs.size() == 1;
  if (dropM)
    as.insert(as.begin(), 1);
  if (dropN)
    bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), K2 = bs[bs.size() - 2], N = bs.back();
  if (K != K2)
    fail("contraction dims differ: ", desc(a), " x ", desc(b));
  std::vector<int64_t> batch = broadcastShapes(std::vector<int64_t>(as.begin(), as.end() - 2),
                                               std::vector<int64_t>(bs.begin(), bs.end() - 2));
  if (!dropM)
    batch.push_back(M);
  if (!dropN)
    batch.push_back(N);
  expectShape(c.out[0], batch, "result");
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
    fail("matrix dims exceed the BLAS int range");
}

void checkGemm(const CheckContext &c) {
  T a = c.in[0], b = c.in[1];
  sameDtype(a, b, "a and b");
  sameDtype(a, c.out[0], "operands and result");
  floatOnly(a, "operands");
  if (a->rank() != 2 || b->rank() != 2)
    fail("a and b must be 2-D, got ", desc(a), " and ", desc(b));
  const auto &attrs = c.attrs<GemmAttrs>();
  bool ta = attrs.trans_a, tb = attrs.trans_b;
  int64_t M = ta ? a->shape[1] : a->shape[0], K = ta ? a->shape[0] : a->shape[1];
  int64_t K2 = tb ? b->shape[1] : b->shape[0], N = tb ? b->shape[0] : b->shape[1];
  if (K != K2)
    fail("contraction dims differ: op(a) is ", M, "x", K, ", op(b) is ", K2, "x", N);
  expectShape(c.out[0], {M, N}, "result");
  if (c.in.size() == 3) {
    sameDtype(a, c.in[2], "a and c");
    if (c.in[2]->rank() > 2 || broadcastShapes(c.in[2]->shape, {M, N}) != std::vector<int64_t>{M, N})
      fail("c of shape ", shapeString(c.in[2]->shape), " does not broadcast to [", M, ",", N, "]");
  }
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
    fail("matrix dims exceed the BLAS int range");
  bool hasDb = c.out.size() == 2;
  if (hasDb != (attrs.bias_grad != GemmBiasGrad::None))
    fail(hasDb ? "a db output needs attribute 'bias_grad' a or b"
               : "attribute 'bias_grad' needs the db output");
  if (hasDb) {
    sameDtype(a, c.out[1], "operands and db");
    expectShape(c.out[1], {attrs.bias_grad == GemmBiasGrad::A ? M : N}, "db");
  }
}

void checkSoftmax(const CheckContext &c) {
  checkUnaryFloat(c);
  checkAxis(c.attrs<AxisAttrs>().axis, c.in[0]->rank());
}

void checkLayerNorm(const CheckContext &c) {
  T x = c.in[0];
  floatOnly(x, "x");
  const auto &attrs = c.attrs<LayerNormAttrs>();
  int64_t axis = checkAxis(attrs.axis, x->rank());
  if (!(attrs.epsilon >= 0))
    fail("attribute 'epsilon' must be >= 0");
  std::vector<int64_t> normShape(x->shape.begin() + axis, x->shape.end());
  for (size_t i = 1; i < c.in.size(); ++i) {
    sameDtype(x, c.in[i], i == 1 ? "x and scale" : "x and bias");
    if (c.in[i]->rank() > int64_t(normShape.size()) ||
        broadcastShapes(c.in[i]->shape, normShape) != normShape)
      fail(i == 1 ? "scale" : "bias", " of shape ", shapeString(c.in[i]->shape),
           " does not broadcast to ", shapeString(normShape));
  }
  sameDtype(x, c.out[0], "x and y");
  expectShape(c.out[0], x->shape, "y");
  std::vector<int64_t> statShape(x->shape.begin(), x->shape.begin() + axis);
  statShape.resize(x->shape.size(), 1);
  for (size_t i = 1; i < c.out.size(); ++i) {
    floatOnly(c.out[i], i == 1 ? "mean" : "inv_std_dev");
    expectShape(c.out[i], statShape, i == 1 ? "mean" : "inv_std_dev");
  }
}

/// q [..., T, D], k [..., S, D], v [..., S, Dv] of one float type, the mask (float of
/// that type or i1) broadcast to [..., T, S], out [..., T, Dv] and lse [..., T] f32 (f64
/// for f64); `scale` positive and finite, `dropout` 0.
void checkAttentionOperands(T q, T k, T v, T mask, T out, T lse, AttentionLayout layout,
                            double scale, double dropout) {
  // Layout bshd: q, k, v and out are rank 4 with the heads after the sequence; checked as
  // the [B, H, T, D] tensors they hold.
  TensorType lq, lk, lv, lo;
  if (layout == AttentionLayout::Bshd) {
    auto logical = [](T x, const char *what, TensorType &to) {
      if (x->rank() != 4)
        fail("layout bshd needs ", what, " of rank 4 ([B, T, H, D]), got ", desc(x));
      to = *x;
      std::swap(to.shape[1], to.shape[2]);
      return &to;
    };
    q = logical(q, "q", lq), k = logical(k, "k", lk), v = logical(v, "v", lv);
    out = logical(out, "out", lo);
  }
  floatOnly(q, "q");
  sameDtype(q, k, "q and k");
  sameDtype(q, v, "q and v");
  sameDtype(q, out, "q and out");
  int64_t r = q->rank();
  if (r < 3)
    fail("q must have rank >= 3 ([batch..., T, D]), got ", desc(q));
  if (k->rank() != r || v->rank() != r)
    fail("q, k and v must have the same rank, got ", desc(q), ", ", desc(k), ", ",
         desc(v));
  std::vector<int64_t> batch(q->shape.begin(), q->shape.end() - 2);
  auto batchOf = [](T t) {
    return std::vector<int64_t>(t->shape.begin(), t->shape.end() - 2);
  };
  // Grouped-query attention: k's and v's last batch dim (heads) may divide q's.
  std::vector<int64_t> kvBatch = batchOf(k);
  int64_t qHeads = batch.back(), kvHeads = kvBatch.back();
  if (batchOf(v) != kvBatch ||
      !std::equal(batch.begin(), batch.end() - 1, kvBatch.begin(), kvBatch.end() - 1) ||
      kvHeads <= 0 || qHeads % kvHeads != 0)
    fail("k and v must have q's batch dims, the last (heads) dividing q's, got ", desc(q),
         ", ", desc(k), ", ", desc(v));
  int64_t t = q->shape[size_t(r - 2)], d = q->shape[size_t(r - 1)];
  int64_t s = k->shape[size_t(r - 2)];
  if (k->shape[size_t(r - 1)] != d)
    fail("k's head dim ", k->shape[size_t(r - 1)], " differs from q's ", d);
  if (v->shape[size_t(r - 2)] != s)
    fail("v's length ", v->shape[size_t(r - 2)], " differs from k's ", s);
  if (mask) {
    if (mask->dtype != ds::plan::I1)
      sameDtype(q, mask, "q and a float mask");
    std::vector<int64_t> scores = batch;
    scores.push_back(t);
    scores.push_back(s);
    if (mask->rank() > r || broadcastShapes(mask->shape, scores) != scores)
      fail("mask of shape ", shapeString(mask->shape), " does not broadcast to ",
           shapeString(scores));
  }
  std::vector<int64_t> outShape = batch;
  outShape.push_back(t);
  outShape.push_back(v->shape[size_t(r - 1)]);
  expectShape(out, outShape, "out");
  DType lseType = q->dtype == ds::plan::F64 ? ds::plan::F64 : ds::plan::F32;
  if (lse->dtype != lseType)
    fail("lse must be ", dtypeName(lseType), " (f32, or f64 for f64 operands), got ",
         dtypeName(lse->dtype));
  expectShape(lse, std::vector<int64_t>(q->shape.begin(), q->shape.end() - 1), "lse");
  if (!(scale > 0) || !std::isfinite(scale))
    fail("attribute 'scale' must be positive and finite, got ", scale);
  if (dropout != 0)
    fail("attribute 'dropout' must be 0: the attention kernels have no dropout "
         "(ds-fuse-attention leaves dropout > 0 unfused)");
}

void checkAttention(const CheckContext &c) {
  const auto &a = c.attrs<AttentionAttrs>();
  checkAttentionOperands(c.in[0], c.in[1], c.in[2], c.in.size() > 3 ? c.in[3] : nullptr,
                         c.out[0], c.out[1], a.layout, a.scale, a.dropout);
}

void checkAttentionGrad(const CheckContext &c) {
  const auto &a = c.attrs<AttentionAttrs>();
  checkAttentionOperands(c.in[1], c.in[2], c.in[3], c.in.size() > 6 ? c.in[6] : nullptr,
                         c.in[4], c.in[5], a.layout, a.scale, a.dropout);
  sameDtype(c.in[0], c.in[4], "g and out");
  expectShape(c.in[0], c.in[4]->shape, "g");
  for (int i = 0; i < 3; ++i) {
    sameDtype(c.out[size_t(i)], c.in[size_t(i + 1)],
              i == 0   ? "dq and q"
              : i == 1 ? "dk and k"
                       : "dv and v");
    expectShape(c.out[size_t(i)], c.in[size_t(i + 1)]->shape,
                i == 0   ? "dq"
                : i == 1 ? "dk"
                         : "dv");
  }
}

/// One of the three [B, T, H, D] parts that a packed qkv [B, T, 3, H, D] holds.
TensorType packedPart(T qkv, const char *what) {
  if (qkv->rank() != 5 || qkv->shape[2] != 3)
    fail(what, " must be [B, T, 3, H, D] (q, k, v packed per row), got ", desc(qkv));
  TensorType part = *qkv;
  part.shape.erase(part.shape.begin() + 2);
  part.numel /= 3;
  part.bytes /= 3;
  return part;
}

/// packed_attention: attention in layout bshd over the parts of qkv.
void checkPackedAttention(const CheckContext &c) {
  TensorType part = packedPart(c.in[0], "qkv");
  const auto &a = c.attrs<PackedAttentionAttrs>();
  checkAttentionOperands(&part, &part, &part, c.in.size() > 1 ? c.in[1] : nullptr,
                         c.out[0], c.out[1], AttentionLayout::Bshd, a.scale, 0);
}

/// packed_attention_grad (g, qkv, out, lse, mask?) -> dqkv of qkv's type.
void checkPackedAttentionGrad(const CheckContext &c) {
  TensorType part = packedPart(c.in[1], "qkv");
  const auto &a = c.attrs<PackedAttentionAttrs>();
  checkAttentionOperands(&part, &part, &part, c.in.size() > 4 ? c.in[4] : nullptr,
                         c.in[2], c.in[3], AttentionLayout::Bshd, a.scale, 0);
  sameDtype(c.in[0], c.in[2], "g and out");
  expectShape(c.in[0], c.in[2]->shape, "g");
  sameDtype(c.out[0], c.in[1], "dqkv and qkv");
  expectShape(c.out[0], c.in[1]->shape, "dqkv");
}

void checkReshape(const CheckContext &c) {
  sameDtype(c.in[0], c.out[0], "operand and result");
  if (c.in[0]->numel != c.out[0]->numel)
    fail("element count changes from ", desc(c.in[0]), " to ", desc(c.out[0]));
}

void checkTranspose(const CheckContext &c) {
  sameDtype(c.in[0], c.out[0], "operand and result");
  int64_t r = c.in[0]->rank();
  const auto &perm = c.attrs<TransposeAttrs>().perm;
  if (int64_t(perm.size()) != r)
    fail("attribute 'perm' has ", perm.size(), " entries for rank ", r);
  std::vector<bool> seen(static_cast<size_t>(r), false);
  std::vector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= r || seen[size_t(p)])
      fail("attribute 'perm' is not a permutation of 0..", r - 1);
    seen[size_t(p)] = true;
    shape.push_back(c.in[0]->shape[size_t(p)]);
  }
  expectShape(c.out[0], shape, "result");
}

void checkGather(const CheckContext &c) {
  T d = c.in[0], idx = c.in[1];
  if (!isInteger(idx->dtype))
    fail("indices must be i64 or i32, got ", dtypeName(idx->dtype));
  sameDtype(d, c.out[0], "data and result");
  int64_t axis = checkAxis(c.attrs<AxisAttrs>().axis, d->rank());
  std::vector<int64_t> shape(d->shape.begin(), d->shape.begin() + axis);
  shape.insert(shape.end(), idx->shape.begin(), idx->shape.end());
  shape.insert(shape.end(), d->shape.begin() + axis + 1, d->shape.end());
  expectShape(c.out[0], shape, "result");
  if (idx->numel > 0 && d->shape[size_t(axis)] == 0)
    fail("gathering from an empty axis");
}

// The result shape of slicing `x` with the instruction's starts/ends/steps; checks that every
// read index lies inside x.
std::vector<int64_t> sliceShape(const CheckContext &c, const std::vector<int64_t> &x) {
  const auto &attrs = c.attrs<SliceAttrs>();
  const auto &starts = attrs.starts, &ends = attrs.ends;
  auto steps = attrs.steps.value_or(std::vector<int64_t>(x.size(), 1));
  size_t r = x.size();
  if (starts.size() != r || ends.size() != r || steps.size() != r)
    fail("attributes 'starts', 'ends', 'steps' need one entry per dim (", r, ")");
  std::vector<int64_t> shape(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t s = starts[i], e = ends[i], st = steps[i], d = x[i];
    if (st == 0)
      fail("step 0 in dim ", i);
    if (s < -1 || s > d || e < -1 || e > d)
      fail("dim ", i, ": start ", s, " / end ", e, " are not normalized to [-1, ", d, "]");
    int64_t n = st > 0 ? (e > s ? (e - s + st - 1) / st : 0)
                       : (s > e ? (s - e + (-st) - 1) / (-st) : 0);
    if (n > 0) {
      int64_t last = s + (n - 1) * st;
      if (s < 0 || s >= d || last < 0 || last >= d)
        fail("dim ", i, ": slice ", s, ":", e, ":", st, " reads outside [0, ", d, ")");
    }
    shape[i] = n;
  }
  return shape;
}

void checkSlice(const CheckContext &c) {
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  expectShape(c.out[0], sliceShape(c, x->shape), "result");
}

void checkSplit(const CheckContext &c) {
  T x = c.in[0];
  const auto &attrs = c.attrs<SplitAttrs>();
  int64_t axis = checkAxis(attrs.axis, x->rank());
  const auto &sizes = attrs.sizes;
  if (sizes.size() != c.out.size())
    fail("attribute 'sizes' has ", sizes.size(), " entries for ", c.out.size(), " outputs");
  int64_t total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0)
      fail("negative split size");
    total += sizes[i];
    sameDtype(x, c.out[i], "operand and results");
    auto shape = x->shape;
    shape[size_t(axis)] = sizes[i];
    expectShape(c.out[i], shape, "a result");
  }
  if (total != x->shape[size_t(axis)])
    fail("split sizes sum to ", total, ", dim ", axis, " is ", x->shape[size_t(axis)]);
}

void checkConcat(const CheckContext &c) {
  T x0 = c.in[0];
  int64_t axis = checkAxis(c.attrs<AxisAttrs>().axis, x0->rank());
  auto shape = x0->shape;
  shape[size_t(axis)] = 0;
  for (T x : c.in) {
    sameDtype(x0, x, "inputs");
    if (x->rank() != x0->rank())
      fail("inputs have different ranks");
    for (size_t i = 0; i < shape.size(); ++i)
      if (int64_t(i) != axis && x->shape[i] != x0->shape[i])
        fail("inputs ", desc(x0), " and ", desc(x), " differ outside axis ", axis);
    shape[size_t(axis)] += x->shape[size_t(axis)];
  }
  sameDtype(x0, c.out[0], "inputs and result");
  expectShape(c.out[0], shape, "result");
}

void checkSqueeze(const CheckContext &c) {
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  auto axes = c.attrs<SqueezeAttrs>().axes.value_or(std::vector<int64_t>{});
  std::set<int64_t> ax(axes.begin(), axes.end());
  if (ax.size() != axes.size())
    fail("attribute 'axes' has duplicates");
  std::vector<int64_t> shape;
  for (int64_t a : ax)
    if (a < 0 || a >= x->rank() || x->shape[size_t(a)] != 1)
      fail("cannot squeeze axis ", a, " of shape ", shapeString(x->shape));
  for (int64_t i = 0; i < x->rank(); ++i) {
    bool drop = axes.empty() ? x->shape[size_t(i)] == 1 : ax.count(i) > 0;
    if (!drop)
      shape.push_back(x->shape[size_t(i)]);
  }
  expectShape(c.out[0], shape, "result");
}

void checkUnsqueeze(const CheckContext &c) {
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  const auto &axes = c.attrs<UnsqueezeAttrs>().axes;
  std::set<int64_t> ax(axes.begin(), axes.end());
  int64_t r = x->rank() + int64_t(axes.size());
  if (ax.size() != axes.size())
    fail("attribute 'axes' has duplicates");
  std::vector<int64_t> shape;
  size_t k = 0;
  for (int64_t a : ax)
    if (a < 0 || a >= r)
      fail("axis ", a, " out of range for result rank ", r);
  for (int64_t i = 0; i < r; ++i)
    shape.push_back(ax.count(i) ? 1 : x->shape[k++]);
  expectShape(c.out[0], shape, "result");
}

void checkExpand(const CheckContext &c) {
  sameDtype(c.in[0], c.out[0], "operand and result");
  if (c.in[0]->rank() > c.out[0]->rank() ||
      broadcastShapes(c.in[0]->shape, c.out[0]->shape) != c.out[0]->shape)
    fail(shapeString(c.in[0]->shape), " does not broadcast to ", shapeString(c.out[0]->shape));
}

void checkReduce(const CheckContext &c) {
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  if (c.ins.kernel() == "reduce_mean")
    floatOnly(x, "operand");
  else
    numericOnly(x, "operand");
  if (c.in.size() == 2) { // reduce_sum's acc: r = acc + the sum
    floatOnly(x, "operand (accumulating reduce_sum)");
    sameDtype(c.in[1], c.out[0], "acc and result");
  }
  const auto &attrs = c.attrs<ReduceAttrs>();
  auto axes = attrs.axes.value_or(std::vector<int64_t>{});
  bool keep = attrs.keepdims;
  std::set<int64_t> ax(axes.begin(), axes.end());
  if (ax.size() != axes.size())
    fail("attribute 'axes' has duplicates");
  for (int64_t a : ax)
    if (a < 0 || a >= x->rank())
      fail("axis ", a, " out of range for rank ", x->rank());
  std::vector<int64_t> shape;
  for (int64_t i = 0; i < x->rank(); ++i) {
    bool red = axes.empty() || ax.count(i);
    if (red && c.ins.kernel() == "reduce_max" && x->shape[size_t(i)] == 0)
      fail("reduce_max over an empty axis");
    if (!red)
      shape.push_back(x->shape[size_t(i)]);
    else if (keep)
      shape.push_back(1);
  }
  expectShape(c.out[0], shape, "result");
  if (c.in.size() == 2)
    expectShape(c.in[1], shape, "acc");
}

void checkDropout(const CheckContext &c) {
  checkUnaryFloat(CheckContext{c.ins, c.in, {c.out[0]}, c.worldSize, c.kernelAttrs});
  double ratio = c.attrs<DropoutAttrs>().ratio;
  if (!(ratio >= 0 && ratio < 1))
    fail("attribute 'ratio' must be in [0, 1), got ", ratio);
  if (c.out.size() == 2) {
    if (c.out[1]->dtype != ds::plan::I1)
      fail("mask must be i1, got ", dtypeName(c.out[1]->dtype));
    expectShape(c.out[1], c.in[0]->shape, "mask");
  }
}

/// The checks a loss and its gradient share: labels shaped like the scores without the
/// class dim, optional class weights at `weightsIndex`, the reduction. Returns the labels'
/// shape and the reduction.
std::pair<std::vector<int64_t>, LossReduction> checkLossOperands(const CheckContext &c, T s,
                                                               T l, size_t weightsIndex) {
  if (s->rank() < 2)
    fail("scores must be [N,C,d...], got ", desc(s));
  if (!isInteger(l->dtype))
    fail("labels must be i64 or i32, got ", dtypeName(l->dtype));
  std::vector<int64_t> lshape = s->shape;
  lshape.erase(lshape.begin() + 1);
  expectShape(l, lshape, "labels");
  if (c.in.size() > weightsIndex) {
    sameDtype(s, c.in[weightsIndex], "scores and weights");
    expectShape(c.in[weightsIndex], {s->shape[1]}, "weights");
  }
  return {lshape, c.attrs<LossAttrs>().reduction};
}

/// A loss (or its incoming gradient) `u` over scores `s`: of the scores' type, or f32 over
/// bf16/f16 scores (mixed precision reads the 16-bit logits directly; the kernels compute in
/// f32 either way).
void lossScoresDtype(T s, T u, const char *what) {
  bool widened = u->dtype == ds::plan::F32 &&
                 (s->dtype == ds::plan::BF16 || s->dtype == ds::plan::F16);
  if (!widened && s->dtype != u->dtype)
    fail(what, " must have the scores' element type (or f32 over bf16/f16 scores), got ",
         dtypeName(s->dtype), " and ", dtypeName(u->dtype));
}

void checkLoss(const CheckContext &c) {
  T s = c.in[0], l = c.in[1];
  floatOnly(s, "scores");
  auto [lshape, red] = checkLossOperands(c, s, l, 2);
  lossScoresDtype(s, c.out[0], "scores and loss");
  expectShape(c.out[0], red == LossReduction::None ? lshape : std::vector<int64_t>{}, "loss");
  if (c.out.size() == 2) { // softmax_cross_entropy_loss's log_prob (nll_loss has 1 result)
    sameDtype(s, c.out[1], "scores and log_prob");
    expectShape(c.out[1], s->shape, "log_prob");
  }
}

void checkTrilu(const CheckContext &c) {
  checkUnaryAny(c);
  if (c.in[0]->rank() < 2)
    fail("operand must have rank >= 2, got ", desc(c.in[0]));
}

void checkConstant(const CheckContext &c) {
  const ConstantValue &v = c.attrs<ConstantAttrs>().value;
  T r = c.out[0];
  using Kind = ConstantValue::Kind;
  if (v.kind == Kind::Raw && v.raw.size() != r->bytes)
    fail("attribute 'value' holds ", v.raw.size(), " bytes, the result needs ", r->bytes);
  size_t n = v.kind == Kind::Ints ? v.ints.size() : v.floats.size();
  if ((v.kind == Kind::Ints || v.kind == Kind::Floats) && n != 1 && int64_t(n) != r->numel)
    fail("attribute 'value' has ", n, " values for ", r->numel, " elements");
}

// ---- runtime kernels

/// Whether the plan spells any of copy's range attributes (then `count` is required).
bool hasCopyRangeAttr(const Instruction &ins) {
  for (const AttrInfo &a : kernelInfo(KernelId::Copy).attrs)
    if (ins.attrs().count(a.name))
      return true;
  return false;
}

void checkSwap(const CheckContext &c) {
  T s = c.in[0], d = c.out[0];
  sameDtype(s, d, "source and destination");
  if (s->numel != d->numel)
    fail("swaps ", desc(s), " and ", desc(d), ": element counts differ");
}

void checkCopy(const CheckContext &c) {
  T s = c.in[0], d = c.out[0];
  sameDtype(s, d, "source and destination");
  const auto &attrs = c.attrs<CopyAttrs>();
  if (!hasCopyRangeAttr(c.ins)) { // whole buffer
    if (s->numel != d->numel)
      fail("copies ", desc(s), " into ", desc(d), ": element counts differ");
    return;
  }
  if (!attrs.count)
    fail("missing attribute 'count'");
  int64_t count = *attrs.count;
  int64_t so = attrs.src_offset, dO = attrs.dst_offset;
  int64_t ss = attrs.src_rank_stride, ds_ = attrs.dst_rank_stride;
  int64_t rows = attrs.rows, sr = attrs.src_row_stride, dr = attrs.dst_row_stride;
  if (count < 0 || so < 0 || dO < 0 || ss < 0 || ds_ < 0 || sr < 0 || dr < 0)
    fail("count, offsets, rank strides and row strides must be >= 0");
  if (rows < 1)
    fail("rows must be >= 1, got ", rows);
  // Rows never overlap (in the destination their order would matter).
  if (rows > 1 && (dr < count || sr < count))
    fail("row strides ", sr, " / ", dr, " must be at least count ", count,
         " when rows > 1: rows would overlap");
  // The largest offset any rank uses must stay in bounds; use 128-bit-safe arithmetic.
  auto end = [&](int64_t off, int64_t stride, int64_t rowStride, int64_t numel,
                 const char *what) {
    __int128 e = __int128(off) + __int128(stride) * (c.worldSize - 1) +
                 __int128(rowStride) * (rows - 1) + count;
    if (e > numel)
      fail("the ", what, " range ends at element ", int64_t(std::min<__int128>(e, INT64_MAX)),
           " on the last rank, past its ", numel, " elements");
  };
  end(so, ss, sr, s->numel, "source");
  end(dO, ds_, dr, d->numel, "destination");
}

void checkFill(const CheckContext &c) {}

void checkReduction(CollectiveReduction r, DType dt) {
  using R = CollectiveReduction;
  if (dt == ds::plan::I1 && r != R::Max && r != R::Min)
    fail("i1 buffers only reduce with max or min");
  if (r == R::Avg && !isFloat(dt))
    fail("avg needs a floating element type, got ", dtypeName(dt));
}

void checkAllGather(const CheckContext &c) {
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  int64_t axis = checkAxis(c.attrs<AxisAttrs>().axis, x->rank());
  auto shape = x->shape;
  shape[size_t(axis)] *= c.worldSize;
  expectShape(c.out[0], shape, "result");
  if (x->numel > INT32_MAX)
    fail("operand of ", x->numel, " elements exceeds the MPI count limit");
}

void checkReduceScatter(const CheckContext &c) {
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  const auto &attrs = c.attrs<ReduceScatterAttrs>();
  int64_t axis = checkAxis(attrs.axis, x->rank());
  checkReduction(attrs.reduction, x->dtype);
  if (x->shape[size_t(axis)] % c.worldSize != 0)
    fail("dim ", axis, " of ", shapeString(x->shape), " is not divisible by the world size ",
         c.worldSize);
  auto shape = x->shape;
  shape[size_t(axis)] /= c.worldSize;
  expectShape(c.out[0], shape, "result");
  if (c.out[0]->numel > INT32_MAX)
    fail("result of ", c.out[0]->numel, " elements exceeds the MPI count limit");
}

void checkAllReduce(const CheckContext &c) {
  checkUnaryAny(c);
  checkReduction(c.attrs<AllReduceAttrs>().reduction, c.in[0]->dtype);
}

void checkBroadcast(const CheckContext &c) {
  checkUnaryAny(c);
  int64_t root = c.attrs<BroadcastAttrs>().root;
  if (root < 0 || root >= c.worldSize)
    fail("attribute 'root' = ", root, " is not a rank of the world of ", c.worldSize);
}

void checkBarrier(const CheckContext &c) {}

void checkAssertClose(const CheckContext &c) {
  sameDtype(c.in[0], c.in[1], "operands");
  expectShape(c.in[1], c.in[0]->shape, "second operand");
}

// ---- backward ops (docs/ops.md "Backward ops")

void allFloatSame(const CheckContext &c, std::initializer_list<T> ts, const char *what) {
  T first = *ts.begin();
  floatOnly(first, what);
  for (T t : ts)
    sameDtype(first, t, what);
}

void checkSoftmaxGrad(const CheckContext &c) {
  allFloatSame(c, {c.in[0], c.in[1], c.out[0]}, "grad, output and result");
  expectShape(c.in[1], c.in[0]->shape, "output");
  expectShape(c.out[0], c.in[0]->shape, "result");
  checkAxis(c.attrs<AxisAttrs>().axis, c.in[0]->rank());
}

void checkGeluGrad(const CheckContext &c) {
  allFloatSame(c, {c.in[0], c.in[1], c.out[0]}, "grad, input and result");
  expectShape(c.in[1], c.in[0]->shape, "input");
  expectShape(c.out[0], c.in[0]->shape, "result");
}

void checkLayerNormGrad(const CheckContext &c) {
  T g = c.in[0], x = c.in[1], s = c.in[2];
  allFloatSame(c, {g, x, s, c.out[0], c.out[1], c.out[2]}, "operands and results");
  const auto &attrs = c.attrs<LayerNormAttrs>();
  int64_t axis = checkAxis(attrs.axis, x->rank());
  if (!(attrs.epsilon >= 0))
    fail("attribute 'epsilon' must be >= 0");
  std::vector<int64_t> normShape(x->shape.begin() + axis, x->shape.end());
  expectShape(g, x->shape, "grad");
  expectShape(s, normShape, "scale");
  expectShape(c.out[0], x->shape, "input grad");
  expectShape(c.out[1], normShape, "scale grad");
  expectShape(c.out[2], normShape, "bias grad");
  if (c.in.size() >= 4) {
    allFloatSame(c, {x, c.in[3]}, "operands and dx_acc");
    expectShape(c.in[3], x->shape, "dx_acc");
  }
  if (c.in.size() == 5)
    fail("takes dscale_acc and dbias_acc together (after dx_acc) or neither");
  if (c.in.size() == 6) {
    allFloatSame(c, {x, c.in[4], c.in[5]}, "operands and accs");
    expectShape(c.in[4], normShape, "dscale_acc");
    expectShape(c.in[5], normShape, "dbias_acc");
  }
}

void checkGatherGrad(const CheckContext &c) {
  T g = c.in[0], idx = c.in[1], r = c.out[0];
  allFloatSame(c, {g, r}, "grad and result");
  if (!isInteger(idx->dtype))
    fail("indices must be i64 or i32, got ", dtypeName(idx->dtype));
  if (r->rank() == 0)
    fail("result (the gathered data's shape) must have rank >= 1");
  int64_t axis = checkAxis(c.attrs<AxisAttrs>().axis, r->rank());
  std::vector<int64_t> shape(r->shape.begin(), r->shape.begin() + axis);
  shape.insert(shape.end(), idx->shape.begin(), idx->shape.end());
  shape.insert(shape.end(), r->shape.begin() + axis + 1, r->shape.end());
  expectShape(g, shape, "grad");
  if (idx->numel > 0 && r->shape[size_t(axis)] == 0)
    fail("scattering into an empty axis");
}

void checkSliceGrad(const CheckContext &c) {
  allFloatSame(c, {c.in[0], c.out[0]}, "grad and result");
  expectShape(c.in[0], sliceShape(c, c.out[0]->shape), "grad");
}

void checkLossGrad(const CheckContext &c) {
  T g = c.in[0], s = c.in[1], l = c.in[2];
  allFloatSame(c, {s, c.out[0]}, "scores and result");
  lossScoresDtype(s, g, "scores and grad");
  auto [lshape, red] = checkLossOperands(c, s, l, 3);
  expectShape(g, red == LossReduction::None ? lshape : std::vector<int64_t>{}, "grad");
  expectShape(c.out[0], s->shape, "result");
}

// ---- optimizer ops

void scalarOf(T t, DType dt, const char *what) {
  if (t->dtype != dt || t->rank() != 0)
    fail(what, " must be a ", dtypeName(dt), " scalar, got ", desc(t));
}

// The optional trailing `finite` operand of the optimizer kernels: an f32 scalar.
void optionalFinite(const CheckContext &c, size_t index) {
  if (c.in.size() > index)
    scalarOf(c.in[index], ds::plan::F32, "finite");
}

/// What adam_update and lamb_update share: (p, g, m, v, lr, t, [finite]) -> (p', m', v').
template <typename A> void checkMomentsUpdate(const CheckContext &c) {
  const A &attrs = c.attrs<A>();
  optionalFinite(c, 6);
  T p = c.in[0];
  allFloatSame(c, {p, c.in[1], c.in[2], c.in[3], c.out[0], c.out[1], c.out[2]},
               "param, grad, moments and results");
  const char *names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
  for (size_t i = 1; i < 4; ++i)
    expectShape(c.in[i], p->shape, names[i]);
  for (size_t i = 0; i < 3; ++i)
    expectShape(c.out[i], p->shape, "a result");
  scalarOf(c.in[4], ds::plan::F32, "lr");
  scalarOf(c.in[5], ds::plan::I64, "step");
  for (auto [b, v] : {std::pair{"beta1", attrs.beta1}, std::pair{"beta2", attrs.beta2}})
    if (!(v >= 0 && v < 1))
      fail("attribute '", b, "' must be in [0, 1), got ", v);
  if (!(attrs.eps >= 0))
    fail("attribute 'eps' must be >= 0");
  if (!(attrs.weight_decay >= 0))
    fail("attribute 'weight_decay' must be >= 0");
}

void checkAdamUpdate(const CheckContext &c) { checkMomentsUpdate<AdamUpdateAttrs>(c); }

/// The operand layout of multi_adam_update (KernelCatalogue.def): lr, step, [finite],
/// grad_scales scalars, then (param, grad, exp_avg, exp_avg_sq) per parameter; outputs
/// (param', exp_avg', exp_avg_sq', [working copy], [zeroed grad]) per parameter.
void checkMultiAdamUpdate(const CheckContext &c) {
  const auto &a = c.attrs<MultiAdamUpdateAttrs>();
  if (a.count < 1)
    fail("attribute 'count' must be >= 1, got ", a.count);
  if (a.grad_scales < 0)
    fail("attribute 'grad_scales' must be >= 0, got ", a.grad_scales);
  size_t scalars = 2 + (a.finite ? 1 : 0) + size_t(a.grad_scales);
  size_t outsEach = 3 + (a.working_copy ? 1 : 0) + (a.zero_grads ? 1 : 0);
  size_t n = size_t(a.count);
  if (c.in.size() != scalars + 4 * n || c.out.size() != outsEach * n)
    fail("count ", a.count, " with these attributes needs ", scalars + 4 * n, " inputs and ",
         outsEach * n, " outputs, got ", c.in.size(), " and ", c.out.size());
  scalarOf(c.in[0], ds::plan::F32, "lr");
  scalarOf(c.in[1], ds::plan::I64, "step");
  for (size_t i = 2; i < scalars; ++i)
    scalarOf(c.in[i], ds::plan::F32, i == 2 && a.finite ? "finite" : "a grad scale");
  DType gradType = c.in[scalars + 1]->dtype;
  if (gradType != ds::plan::F32 && gradType != ds::plan::F16 && gradType != ds::plan::BF16)
    fail("grads must be f32, f16 or bf16, got ", dtypeName(gradType));
  if (a.working_copy == (gradType == ds::plan::F32))
    fail(a.working_copy ? "an f32 group has no working copy"
                        : "a 16-bit group needs its working copy");
  for (size_t i = 0; i < n; ++i) {
    T p = c.in[scalars + 4 * i];
    const char *names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
    for (size_t k = 0; k < 4; ++k) {
      T t = c.in[scalars + 4 * i + k];
      DType want = k == 1 ? gradType : ds::plan::F32;
      if (t->dtype != want)
        fail(names[k], " #", i, " must be ", dtypeName(want), ", got ", desc(t));
      expectShape(t, p->shape, names[k]);
    }
    for (size_t k = 0; k < outsEach; ++k) {
      T t = c.out[outsEach * i + k];
      DType want = k < 3 ? ds::plan::F32 : gradType;
      if (t->dtype != want)
        fail("result ", outsEach * i + k, " must be ", dtypeName(want), ", got ", desc(t));
      expectShape(t, p->shape, "a result");
    }
  }
  for (auto [b, v] : {std::pair{"beta1", a.beta1}, std::pair{"beta2", a.beta2}})
    if (!(v >= 0 && v < 1))
      fail("attribute '", b, "' must be in [0, 1), got ", v);
  if (!(a.eps >= 0))
    fail("attribute 'eps' must be >= 0");
  if (!(a.weight_decay >= 0))
    fail("attribute 'weight_decay' must be >= 0");
}

void checkMultiAdd(const CheckContext &c) {
  size_t n = c.out.size();
  if (c.in.size() != 2 * n)
    fail("multi_add takes an acc and an addend per result: ", 2 * n, " inputs for ", n,
         " results, got ", c.in.size());
  if (int64_t(n) > kMaxMultiAddTensors)
    fail("multi_add takes at most ", kMaxMultiAddTensors, " results, got ", n);
  for (size_t i = 0; i < n; ++i) {
    T acc = c.in[2 * i], x = c.in[2 * i + 1], r = c.out[i];
    floatOnly(r, "results");
    sameDtype(r, c.out[0], "the results (one dtype per launch)");
    sameDtype(r, acc, "result and acc");
    sameDtype(r, x, "result and addend");
    expectShape(acc, r->shape, "acc");
    expectShape(x, r->shape, "addend");
  }
}

void checkGradNormSq(const CheckContext &c) {
  for (T t : c.in)
    floatOnly(t, "grads");
  scalarOf(c.out[0], ds::plan::F32, "result");
}

void checkLambUpdate(const CheckContext &c) {
  checkMomentsUpdate<LambUpdateAttrs>(c);
  const auto &attrs = c.attrs<LambUpdateAttrs>();
  double lo = attrs.min_coeff, hi = attrs.max_coeff;
  if (!(lo > 0 && lo <= hi))
    fail("attributes 'min_coeff' and 'max_coeff' need 0 < min_coeff <= max_coeff, got ", lo,
         " and ", hi);
}

void checkSgdUpdate(const CheckContext &c) {
  optionalFinite(c, 5);
  T p = c.in[0];
  allFloatSame(c, {p, c.in[1], c.in[2], c.out[0], c.out[1]},
               "param, grad, momentum buffer and results");
  expectShape(c.in[1], p->shape, "grad");
  expectShape(c.in[2], p->shape, "momentum_buffer");
  expectShape(c.out[0], p->shape, "new_param");
  expectShape(c.out[1], p->shape, "new_momentum_buffer");
  scalarOf(c.in[3], ds::plan::F32, "lr");
  scalarOf(c.in[4], ds::plan::I64, "step");
  const auto &attrs = c.attrs<SgdUpdateAttrs>();
  double mu = attrs.momentum, damp = attrs.dampening;
  if (!(mu >= 0))
    fail("attribute 'momentum' must be >= 0, got ", mu);
  if (!(attrs.weight_decay >= 0))
    fail("attribute 'weight_decay' must be >= 0");
  if (attrs.nesterov && (mu <= 0 || damp != 0))
    fail("nesterov momentum needs momentum > 0 and dampening 0 (as torch.optim.SGD)");
}

void checkLrSchedule(const CheckContext &c) {
  scalarOf(c.in[0], ds::plan::I64, "applied");
  scalarOf(c.out[0], ds::plan::F32, "result");
  const auto &attrs = c.attrs<LrScheduleAttrs>();
  if (attrs.warmup_num_steps < 0)
    fail("attribute 'warmup_num_steps' must be >= 0");
  if ((attrs.schedule == LrScheduleKind::WarmupDecayLR ||
       attrs.schedule == LrScheduleKind::WarmupCosineLR) &&
      attrs.total_num_steps <= 0)
    fail(enumName(attrs.schedule), " needs attribute 'total_num_steps' > 0");
}

// ---- mixed precision (REFERENCE §5)

void checkAllFinite(const CheckContext &c) {
  for (T t : c.in)
    floatOnly(t, "inputs");
  scalarOf(c.out[0], ds::plan::F32, "result");
}

void checkLossScaleUpdate(const CheckContext &c) {
  scalarOf(c.in[0], ds::plan::F32, "finite");
  scalarOf(c.in[1], ds::plan::F32, "scale");
  if (c.in[2]->dtype != ds::plan::I64 || c.in[2]->shape != std::vector<int64_t>{3})
    fail("counters must be i64[3], got ", desc(c.in[2]));
  scalarOf(c.out[0], ds::plan::F32, "new_scale");
  if (c.out[1]->dtype != ds::plan::I64 || c.out[1]->shape != std::vector<int64_t>{3})
    fail("new_counters must be i64[3], got ", desc(c.out[1]));
  const auto &attrs = c.attrs<LossScaleUpdateAttrs>();
  double f = attrs.scale_factor;
  if (!(f > 0) || std::isinf(f))
    fail("attribute 'scale_factor' must be a positive finite number, got ", f);
  if (attrs.scale_window < 1)
    fail("attribute 'scale_window' must be >= 1");
  if (attrs.hysteresis < 1)
    fail("attribute 'hysteresis' must be >= 1");
  double m = attrs.min_scale;
  if (!(m >= 0) || std::isinf(m))
    fail("attribute 'min_scale' must be a finite number >= 0, got ", m);
}

/// The signatures in catalogue order (indexable by KernelId).
const std::vector<KernelSignature> &signatures() {
  static const std::vector<KernelSignature> t = {
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  {name, KernelId::Id, check, inPlace},
#include "ds/runtime/KernelCatalogue.def"
  };
  return t;
}

} // namespace

const KernelSignature *findKernelSignature(const std::string &name) {
  const KernelInfo *k = findKernelInfo(name);
  return k ? &signatures()[size_t(k->id)] : nullptr;
}

std::vector<std::string> kernelNames() {
  std::vector<std::string> names;
  for (const KernelInfo &k : kernelCatalogue())
    names.push_back(k.name);
  return names;
}

KernelAttrs checkInstruction(const KernelSignature &sig, CheckContext &c) {
  checkArity(kernelInfo(sig.id), c);
  KernelAttrs attrs = decodeKernelAttrs(sig.id, c.ins);
  c.kernelAttrs = &attrs;
  sig.check(c);
  c.kernelAttrs = nullptr;
  return attrs;
}

} // namespace ds::rt
