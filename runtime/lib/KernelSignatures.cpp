// Load-time shape and dtype rules of every kernel (arity and attributes come from the catalogue).
#include "ds/runtime/Kernels.h"
#include "KernelSignatureRules.h"
#include "KernelSignaturesConvolution.h"
#include "KernelSignaturesNormalization.h"
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

using namespace rules;

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

void numericOnly(T t, const char *what) {
  if (!isFloat(t->dtype) && !isInteger(t->dtype))
    fail(what, " must be floating point or integer, got ", dtypeName(t->dtype));
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

void checkGeluGrad(const CheckContext &c) {
  allFloatSame({c.in[0], c.in[1], c.out[0]}, "grad, input and result");
  expectShape(c.in[1], c.in[0]->shape, "input");
  expectShape(c.out[0], c.in[0]->shape, "result");
}

void checkGatherGrad(const CheckContext &c) {
  T g = c.in[0], idx = c.in[1], r = c.out[0];
  allFloatSame({g, r}, "grad and result");
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
  allFloatSame({c.in[0], c.out[0]}, "grad and result");
  expectShape(c.in[0], sliceShape(c, c.out[0]->shape), "grad");
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
  allFloatSame({p, c.in[1], c.in[2], c.in[3], c.out[0], c.out[1], c.out[2]},
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
  allFloatSame({p, c.in[1], c.in[2], c.out[0], c.out[1]},
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
