// Load-time checks of every kernel: arity, dtypes, shapes and attributes (see README.md).
#include "ds/runtime/Kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

namespace ds::rt {

// ---------------------------------------------------------------- attributes
namespace {
const ds::plan::Attribute *findAttr(const Instruction &ins, const std::string &name) {
  auto it = ins.attrs().find(name);
  return it == ins.attrs().end() ? nullptr : &it->second;
}
} // namespace

bool hasAttr(const Instruction &ins, const std::string &name) {
  return findAttr(ins, name) != nullptr;
}

int64_t attrInt(const Instruction &ins, const std::string &name) {
  const auto *a = findAttr(ins, name);
  if (!a)
    fail("missing attribute '", name, "'");
  if (a->value_case() != ds::plan::Attribute::kI)
    fail("attribute '", name, "' must be an int64");
  return a->i();
}
int64_t attrInt(const Instruction &ins, const std::string &name, int64_t dflt) {
  return hasAttr(ins, name) ? attrInt(ins, name) : dflt;
}
double attrFloat(const Instruction &ins, const std::string &name) {
  const auto *a = findAttr(ins, name);
  if (!a)
    fail("missing attribute '", name, "'");
  if (a->value_case() == ds::plan::Attribute::kF)
    return a->f();
  if (a->value_case() == ds::plan::Attribute::kI)
    return double(a->i());
  fail("attribute '", name, "' must be a float");
}
double attrFloat(const Instruction &ins, const std::string &name, double dflt) {
  return hasAttr(ins, name) ? attrFloat(ins, name) : dflt;
}
std::string attrString(const Instruction &ins, const std::string &name,
                       const std::string &dflt) {
  const auto *a = findAttr(ins, name);
  if (!a)
    return dflt;
  if (a->value_case() != ds::plan::Attribute::kS)
    fail("attribute '", name, "' must be a string");
  return a->s();
}
std::vector<int64_t> attrInts(const Instruction &ins, const std::string &name) {
  const auto *a = findAttr(ins, name);
  if (!a)
    fail("missing attribute '", name, "'");
  // An empty list may arrive with no value set (a writer that never touched the oneof).
  if (a->value_case() == ds::plan::Attribute::VALUE_NOT_SET)
    return {};
  if (a->value_case() != ds::plan::Attribute::kInts)
    fail("attribute '", name, "' must be an int64 list");
  return {a->ints().values().begin(), a->ints().values().end()};
}
std::vector<int64_t> attrInts(const Instruction &ins, const std::string &name,
                              const std::vector<int64_t> &dflt) {
  return hasAttr(ins, name) ? attrInts(ins, name) : dflt;
}

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

void arity(const CheckContext &c, size_t minIn, size_t maxIn, size_t minOut, size_t maxOut) {
  size_t ni = c.in.size(), no = c.out.size();
  if (ni < minIn || ni > maxIn)
    fail("takes ", minIn == maxIn ? std::to_string(minIn)
                                  : std::to_string(minIn) + ".." + std::to_string(maxIn),
         " inputs, got ", ni);
  if (no < minOut || no > maxOut)
    fail("produces ", minOut == maxOut ? std::to_string(minOut)
                                       : std::to_string(minOut) + ".." + std::to_string(maxOut),
         " outputs, got ", no);
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
int64_t axisAttr(const CheckContext &c, const char *name, int64_t rank) {
  int64_t axis = attrInt(c.ins, name);
  if (axis < 0 || axis >= rank)
    fail("attribute '", name, "' = ", axis, " out of range for rank ", rank);
  return axis;
}
void boolAttr(const CheckContext &c, const char *name) {
  int64_t v = attrInt(c.ins, name, 0);
  if (v != 0 && v != 1)
    fail("attribute '", name, "' must be 0 or 1, got ", v);
}

void checkBinary(const CheckContext &c) {
  arity(c, 2, 2, 1, 1);
  sameDtype(c.in[0], c.in[1], "operands");
  sameDtype(c.in[0], c.out[0], "operands and result");
  numericOnly(c.in[0], "operands");
  expectShape(c.out[0], broadcastShapes(c.in[0]->shape, c.in[1]->shape), "result");
}
void checkCompare(const CheckContext &c) {
  arity(c, 2, 2, 1, 1);
  sameDtype(c.in[0], c.in[1], "operands");
  if (c.out[0]->dtype != ds::plan::I1)
    fail("result must be i1, got ", dtypeName(c.out[0]->dtype));
  expectShape(c.out[0], broadcastShapes(c.in[0]->shape, c.in[1]->shape), "result");
}
void checkWhere(const CheckContext &c) {
  arity(c, 3, 3, 1, 1);
  if (c.in[0]->dtype != ds::plan::I1)
    fail("condition must be i1, got ", dtypeName(c.in[0]->dtype));
  sameDtype(c.in[1], c.in[2], "x and y");
  sameDtype(c.in[1], c.out[0], "x and result");
  expectShape(c.out[0],
              broadcastShapes(c.in[0]->shape, broadcastShapes(c.in[1]->shape, c.in[2]->shape)),
              "result");
}
void checkUnaryAny(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
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
void checkGelu(const CheckContext &c) {
  checkUnaryFloat(c);
  std::string a = attrString(c.ins, "approximate", "none");
  if (a != "none" && a != "tanh")
    fail("attribute 'approximate' must be \"none\" or \"tanh\", got \"", a, "\"");
}
void checkCast(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  expectShape(c.out[0], c.in[0]->shape, "result");
}

void checkMatmul(const CheckContext &c) {
  arity(c, 2, 2, 1, 1);
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
  arity(c, 2, 3, 1, 1);
  T a = c.in[0], b = c.in[1];
  sameDtype(a, b, "a and b");
  sameDtype(a, c.out[0], "operands and result");
  floatOnly(a, "operands");
  if (a->rank() != 2 || b->rank() != 2)
    fail("a and b must be 2-D, got ", desc(a), " and ", desc(b));
  attrFloat(c.ins, "alpha", 1.0);
  attrFloat(c.ins, "beta", 1.0);
  boolAttr(c, "trans_a");
  boolAttr(c, "trans_b");
  bool ta = attrInt(c.ins, "trans_a", 0), tb = attrInt(c.ins, "trans_b", 0);
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
}

void checkSoftmax(const CheckContext &c) {
  checkUnaryFloat(c);
  axisAttr(c, "axis", c.in[0]->rank());
}

void checkLayerNorm(const CheckContext &c) {
  arity(c, 2, 3, 1, 3);
  T x = c.in[0];
  floatOnly(x, "x");
  int64_t axis = axisAttr(c, "axis", x->rank());
  double eps = attrFloat(c.ins, "epsilon", 1e-5);
  if (!(eps >= 0))
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

void checkReshape(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  sameDtype(c.in[0], c.out[0], "operand and result");
  if (c.in[0]->numel != c.out[0]->numel)
    fail("element count changes from ", desc(c.in[0]), " to ", desc(c.out[0]));
}

void checkTranspose(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  sameDtype(c.in[0], c.out[0], "operand and result");
  int64_t r = c.in[0]->rank();
  auto perm = attrInts(c.ins, "perm");
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
  arity(c, 2, 2, 1, 1);
  T d = c.in[0], idx = c.in[1];
  if (!isInteger(idx->dtype))
    fail("indices must be i64 or i32, got ", dtypeName(idx->dtype));
  sameDtype(d, c.out[0], "data and result");
  int64_t axis = axisAttr(c, "axis", d->rank());
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
  auto starts = attrInts(c.ins, "starts"), ends = attrInts(c.ins, "ends");
  auto steps = attrInts(c.ins, "steps", std::vector<int64_t>(x.size(), 1));
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
  arity(c, 1, 1, 1, 1);
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  expectShape(c.out[0], sliceShape(c, x->shape), "result");
}

void checkSplit(const CheckContext &c) {
  if (c.in.size() != 1 || c.out.empty())
    fail("takes 1 input and at least 1 output");
  T x = c.in[0];
  int64_t axis = axisAttr(c, "axis", x->rank());
  auto sizes = attrInts(c.ins, "sizes");
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
  if (c.in.empty() || c.out.size() != 1)
    fail("takes at least 1 input and 1 output");
  T x0 = c.in[0];
  int64_t axis = axisAttr(c, "axis", x0->rank());
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
  arity(c, 1, 1, 1, 1);
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  auto axes = attrInts(c.ins, "axes", {});
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
  arity(c, 1, 1, 1, 1);
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  auto axes = attrInts(c.ins, "axes");
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
  arity(c, 1, 1, 1, 1);
  sameDtype(c.in[0], c.out[0], "operand and result");
  if (c.in[0]->rank() > c.out[0]->rank() ||
      broadcastShapes(c.in[0]->shape, c.out[0]->shape) != c.out[0]->shape)
    fail(shapeString(c.in[0]->shape), " does not broadcast to ", shapeString(c.out[0]->shape));
}

void checkReduce(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  if (c.ins.kernel() == "reduce_mean")
    floatOnly(x, "operand");
  else
    numericOnly(x, "operand");
  auto axes = attrInts(c.ins, "axes", {});
  boolAttr(c, "keepdims");
  bool keep = attrInt(c.ins, "keepdims", 1);
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
}

void checkDropout(const CheckContext &c) {
  arity(c, 1, 1, 1, 2);
  checkUnaryFloat(CheckContext{c.ins, c.in, {c.out[0]}, c.worldSize});
  double ratio = attrFloat(c.ins, "ratio", 0.5);
  if (!(ratio >= 0 && ratio < 1))
    fail("attribute 'ratio' must be in [0, 1), got ", ratio);
  attrInt(c.ins, "seed", 0);
  attrInt(c.ins, "counter", 0);
  boolAttr(c, "training");
  if (c.out.size() == 2) {
    if (c.out[1]->dtype != ds::plan::I1)
      fail("mask must be i1, got ", dtypeName(c.out[1]->dtype));
    expectShape(c.out[1], c.in[0]->shape, "mask");
  }
}

/// The checks a loss and its gradient share: labels shaped like the scores without the
/// class dim, optional class weights at `weightsIndex`, the reduction. Returns the labels'
/// shape and the reduction.
std::pair<std::vector<int64_t>, std::string> checkLossOperands(const CheckContext &c, T s,
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
  std::string red = attrString(c.ins, "reduction", "mean");
  if (red != "mean" && red != "sum" && red != "none")
    fail("attribute 'reduction' must be \"mean\", \"sum\" or \"none\", got \"", red, "\"");
  attrInt(c.ins, "ignore_index", 0);
  return {lshape, red};
}

void checkLoss(const CheckContext &c) {
  arity(c, 2, 3, 1, 2);
  T s = c.in[0], l = c.in[1];
  floatOnly(s, "scores");
  auto [lshape, red] = checkLossOperands(c, s, l, 2);
  sameDtype(s, c.out[0], "scores and loss");
  expectShape(c.out[0], red == "none" ? lshape : std::vector<int64_t>{}, "loss");
  if (c.out.size() == 2) {
    if (c.ins.kernel() != "softmax_cross_entropy_loss")
      fail("produces 1 output");
    sameDtype(s, c.out[1], "scores and log_prob");
    expectShape(c.out[1], s->shape, "log_prob");
  }
}

void checkTrilu(const CheckContext &c) {
  checkUnaryAny(c);
  if (c.in[0]->rank() < 2)
    fail("operand must have rank >= 2, got ", desc(c.in[0]));
  boolAttr(c, "upper");
  attrInt(c.ins, "k", 0);
  if (hasAttr(c.ins, "upper"))
    attrInt(c.ins, "upper");
}

void checkConstant(const CheckContext &c) {
  arity(c, 0, 0, 1, 1);
  auto it = c.ins.attrs().find("value");
  if (it == c.ins.attrs().end())
    fail("missing attribute 'value'");
  const auto &a = it->second;
  T r = c.out[0];
  switch (a.value_case()) {
  case ds::plan::Attribute::kRaw:
    if (a.raw().size() != r->bytes)
      fail("attribute 'value' holds ", a.raw().size(), " bytes, the result needs ", r->bytes);
    break;
  case ds::plan::Attribute::kInts:
    if (a.ints().values_size() != 1 && a.ints().values_size() != r->numel)
      fail("attribute 'value' has ", a.ints().values_size(), " values for ", r->numel,
           " elements");
    break;
  case ds::plan::Attribute::kFloats:
    if (a.floats().values_size() != 1 && a.floats().values_size() != r->numel)
      fail("attribute 'value' has ", a.floats().values_size(), " values for ", r->numel,
           " elements");
    break;
  case ds::plan::Attribute::kI:
  case ds::plan::Attribute::kF:
    break;
  default:
    fail("attribute 'value' must be raw bytes, a number or a list of numbers");
  }
}

// ---- runtime kernels

void checkCopy(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  T s = c.in[0], d = c.out[0];
  sameDtype(s, d, "source and destination");
  if (!hasAttr(c.ins, "count") && !hasAttr(c.ins, "src_offset") &&
      !hasAttr(c.ins, "dst_offset") && !hasAttr(c.ins, "src_rank_stride") &&
      !hasAttr(c.ins, "dst_rank_stride")) {
    if (s->numel != d->numel)
      fail("copies ", desc(s), " into ", desc(d), ": element counts differ");
    return;
  }
  int64_t count = attrInt(c.ins, "count");
  int64_t so = attrInt(c.ins, "src_offset", 0), dO = attrInt(c.ins, "dst_offset", 0);
  int64_t ss = attrInt(c.ins, "src_rank_stride", 0), ds_ = attrInt(c.ins, "dst_rank_stride", 0);
  if (count < 0 || so < 0 || dO < 0 || ss < 0 || ds_ < 0)
    fail("count, offsets and rank strides must be >= 0");
  // The largest offset any rank uses must stay in bounds; use 128-bit-safe arithmetic.
  auto end = [&](int64_t off, int64_t stride, int64_t numel, const char *what) {
    __int128 e = __int128(off) + __int128(stride) * (c.worldSize - 1) + count;
    if (e > numel)
      fail("the ", what, " range ends at element ", int64_t(std::min<__int128>(e, INT64_MAX)),
           " on the last rank, past its ", numel, " elements");
  };
  end(so, ss, s->numel, "source");
  end(dO, ds_, d->numel, "destination");
}

void checkFill(const CheckContext &c) {
  arity(c, 0, 0, 1, 1);
  attrFloat(c.ins, "value");
}

void checkReduction(const CheckContext &c, DType dt) {
  std::string r = attrString(c.ins, "reduction", "sum");
  if (r != "sum" && r != "max" && r != "min" && r != "avg")
    fail("attribute 'reduction' must be \"sum\", \"max\", \"min\" or \"avg\", got \"", r, "\"");
  if (dt == ds::plan::I1 && r != "max" && r != "min")
    fail("i1 buffers only reduce with max or min");
  if (r == "avg" && !isFloat(dt))
    fail("avg needs a floating element type, got ", dtypeName(dt));
}

void checkAllGather(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  int64_t axis = axisAttr(c, "axis", x->rank());
  auto shape = x->shape;
  shape[size_t(axis)] *= c.worldSize;
  expectShape(c.out[0], shape, "result");
  if (x->numel > INT32_MAX)
    fail("operand of ", x->numel, " elements exceeds the MPI count limit");
}

void checkReduceScatter(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  T x = c.in[0];
  sameDtype(x, c.out[0], "operand and result");
  int64_t axis = axisAttr(c, "axis", x->rank());
  checkReduction(c, x->dtype);
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
  checkReduction(c, c.in[0]->dtype);
}

void checkBroadcast(const CheckContext &c) {
  checkUnaryAny(c);
  int64_t root = attrInt(c.ins, "root", 0);
  if (root < 0 || root >= c.worldSize)
    fail("attribute 'root' = ", root, " is not a rank of the world of ", c.worldSize);
}

void checkBarrier(const CheckContext &c) { arity(c, 0, 0, 0, 0); }

void checkAssertClose(const CheckContext &c) {
  arity(c, 2, 2, 0, 0);
  sameDtype(c.in[0], c.in[1], "operands");
  expectShape(c.in[1], c.in[0]->shape, "second operand");
  attrFloat(c.ins, "rtol", 1e-5);
  attrFloat(c.ins, "atol", 1e-6);
}

// ---- backward ops (docs/ops.md "Backward ops")

void allFloatSame(const CheckContext &c, std::initializer_list<T> ts, const char *what) {
  T first = *ts.begin();
  floatOnly(first, what);
  for (T t : ts)
    sameDtype(first, t, what);
}

void checkSoftmaxGrad(const CheckContext &c) {
  arity(c, 2, 2, 1, 1);
  allFloatSame(c, {c.in[0], c.in[1], c.out[0]}, "grad, output and result");
  expectShape(c.in[1], c.in[0]->shape, "output");
  expectShape(c.out[0], c.in[0]->shape, "result");
  axisAttr(c, "axis", c.in[0]->rank());
}

void checkGeluGrad(const CheckContext &c) {
  arity(c, 2, 2, 1, 1);
  allFloatSame(c, {c.in[0], c.in[1], c.out[0]}, "grad, input and result");
  expectShape(c.in[1], c.in[0]->shape, "input");
  expectShape(c.out[0], c.in[0]->shape, "result");
  std::string a = attrString(c.ins, "approximate", "none");
  if (a != "none" && a != "tanh")
    fail("attribute 'approximate' must be \"none\" or \"tanh\", got \"", a, "\"");
}

void checkLayerNormGrad(const CheckContext &c) {
  arity(c, 3, 3, 3, 3);
  T g = c.in[0], x = c.in[1], s = c.in[2];
  allFloatSame(c, {g, x, s, c.out[0], c.out[1], c.out[2]}, "operands and results");
  int64_t axis = axisAttr(c, "axis", x->rank());
  double eps = attrFloat(c.ins, "epsilon", 1e-5);
  if (!(eps >= 0))
    fail("attribute 'epsilon' must be >= 0");
  std::vector<int64_t> normShape(x->shape.begin() + axis, x->shape.end());
  expectShape(g, x->shape, "grad");
  expectShape(s, normShape, "scale");
  expectShape(c.out[0], x->shape, "input grad");
  expectShape(c.out[1], normShape, "scale grad");
  expectShape(c.out[2], normShape, "bias grad");
}

void checkGatherGrad(const CheckContext &c) {
  arity(c, 2, 2, 1, 1);
  T g = c.in[0], idx = c.in[1], r = c.out[0];
  allFloatSame(c, {g, r}, "grad and result");
  if (!isInteger(idx->dtype))
    fail("indices must be i64 or i32, got ", dtypeName(idx->dtype));
  if (r->rank() == 0)
    fail("result (the gathered data's shape) must have rank >= 1");
  int64_t axis = axisAttr(c, "axis", r->rank());
  std::vector<int64_t> shape(r->shape.begin(), r->shape.begin() + axis);
  shape.insert(shape.end(), idx->shape.begin(), idx->shape.end());
  shape.insert(shape.end(), r->shape.begin() + axis + 1, r->shape.end());
  expectShape(g, shape, "grad");
  if (idx->numel > 0 && r->shape[size_t(axis)] == 0)
    fail("scattering into an empty axis");
}

void checkSliceGrad(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  allFloatSame(c, {c.in[0], c.out[0]}, "grad and result");
  expectShape(c.in[0], sliceShape(c, c.out[0]->shape), "grad");
}

void checkLossGrad(const CheckContext &c) {
  arity(c, 3, 4, 1, 1);
  T g = c.in[0], s = c.in[1], l = c.in[2];
  allFloatSame(c, {g, s, c.out[0]}, "grad, scores and result");
  auto [lshape, red] = checkLossOperands(c, s, l, 3);
  expectShape(g, red == "none" ? lshape : std::vector<int64_t>{}, "grad");
  expectShape(c.out[0], s->shape, "result");
}

// ---- optimizer ops

void scalarOf(T t, DType dt, const char *what) {
  if (t->dtype != dt || t->rank() != 0)
    fail(what, " must be a ", dtypeName(dt), " scalar, got ", desc(t));
}
void requiredBool(const CheckContext &c, const char *name) {
  attrInt(c.ins, name);
  boolAttr(c, name);
}

// The optional trailing `finite` operand of the optimizer kernels: an f32 scalar.
void optionalFinite(const CheckContext &c, size_t index) {
  if (c.in.size() > index)
    scalarOf(c.in[index], ds::plan::F32, "finite");
}

/// What adam_update and lamb_update share: (p, g, m, v, lr, t, [finite]) -> (p', m', v').
void checkMomentsUpdate(const CheckContext &c) {
  arity(c, 6, 7, 3, 3);
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
  for (const char *b : {"beta1", "beta2"}) {
    double v = attrFloat(c.ins, b);
    if (!(v >= 0 && v < 1))
      fail("attribute '", b, "' must be in [0, 1), got ", v);
  }
  if (!(attrFloat(c.ins, "eps") >= 0))
    fail("attribute 'eps' must be >= 0");
  if (!(attrFloat(c.ins, "weight_decay") >= 0))
    fail("attribute 'weight_decay' must be >= 0");
  requiredBool(c, "bias_correction");
}

void checkAdamUpdate(const CheckContext &c) {
  checkMomentsUpdate(c);
  requiredBool(c, "adam_w_mode");
}

void checkLambUpdate(const CheckContext &c) {
  checkMomentsUpdate(c);
  double lo = attrFloat(c.ins, "min_coeff", 0.01), hi = attrFloat(c.ins, "max_coeff", 10.0);
  if (!(lo > 0 && lo <= hi))
    fail("attributes 'min_coeff' and 'max_coeff' need 0 < min_coeff <= max_coeff, got ", lo,
         " and ", hi);
}

void checkSgdUpdate(const CheckContext &c) {
  arity(c, 5, 6, 2, 2);
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
  double mu = attrFloat(c.ins, "momentum"), damp = attrFloat(c.ins, "dampening");
  if (!(mu >= 0))
    fail("attribute 'momentum' must be >= 0, got ", mu);
  if (!(attrFloat(c.ins, "weight_decay") >= 0))
    fail("attribute 'weight_decay' must be >= 0");
  requiredBool(c, "nesterov");
  if (attrInt(c.ins, "nesterov") && (mu <= 0 || damp != 0))
    fail("nesterov momentum needs momentum > 0 and dampening 0 (as torch.optim.SGD)");
}

void checkLrSchedule(const CheckContext &c) {
  arity(c, 1, 1, 1, 1);
  scalarOf(c.in[0], ds::plan::I64, "applied");
  scalarOf(c.out[0], ds::plan::F32, "result");
  std::string s = attrString(c.ins, "schedule", "");
  if (s != "constant" && s != "WarmupLR" && s != "WarmupDecayLR" && s != "WarmupCosineLR")
    fail("attribute 'schedule' must be \"constant\", \"WarmupLR\", \"WarmupDecayLR\" or "
         "\"WarmupCosineLR\", got \"", s, "\"");
  attrFloat(c.ins, "lr");
  attrFloat(c.ins, "warmup_min_lr", 0.0);
  attrFloat(c.ins, "warmup_max_lr", 0.001);
  attrFloat(c.ins, "warmup_min_ratio", 0.0);
  attrFloat(c.ins, "cos_min_ratio", 0.0001);
  if (attrInt(c.ins, "warmup_num_steps", 1000) < 0)
    fail("attribute 'warmup_num_steps' must be >= 0");
  std::string wt = attrString(c.ins, "warmup_type", "log");
  if (wt != "log" && wt != "linear")
    fail("attribute 'warmup_type' must be \"log\" or \"linear\", got \"", wt, "\"");
  int64_t total = attrInt(c.ins, "total_num_steps", 0);
  if ((s == "WarmupDecayLR" || s == "WarmupCosineLR") && total <= 0)
    fail(s, " needs attribute 'total_num_steps' > 0");
}

// ---- mixed precision (REFERENCE §5)

void checkAllFinite(const CheckContext &c) {
  if (c.in.empty() || c.out.size() != 1)
    fail("takes at least 1 input and produces 1 output");
  for (T t : c.in)
    floatOnly(t, "inputs");
  scalarOf(c.out[0], ds::plan::F32, "result");
}

void checkLossScaleUpdate(const CheckContext &c) {
  arity(c, 3, 3, 2, 2);
  scalarOf(c.in[0], ds::plan::F32, "finite");
  scalarOf(c.in[1], ds::plan::F32, "scale");
  if (c.in[2]->dtype != ds::plan::I64 || c.in[2]->shape != std::vector<int64_t>{3})
    fail("counters must be i64[3], got ", desc(c.in[2]));
  scalarOf(c.out[0], ds::plan::F32, "new_scale");
  if (c.out[1]->dtype != ds::plan::I64 || c.out[1]->shape != std::vector<int64_t>{3})
    fail("new_counters must be i64[3], got ", desc(c.out[1]));
  for (const char *b : {"dynamic", "consecutive_hysteresis", "zero"})
    boolAttr(c, b);
  double f = attrFloat(c.ins, "scale_factor", 2.0);
  if (!(f > 0) || std::isinf(f))
    fail("attribute 'scale_factor' must be a positive finite number, got ", f);
  if (attrInt(c.ins, "scale_window", 1000) < 1)
    fail("attribute 'scale_window' must be >= 1");
  if (attrInt(c.ins, "hysteresis", 2) < 1)
    fail("attribute 'hysteresis' must be >= 1");
  double m = attrFloat(c.ins, "min_scale", 1.0);
  if (!(m >= 0) || std::isinf(m))
    fail("attribute 'min_scale' must be a finite number >= 0, got ", m);
}

const std::map<std::string, KernelSignature> &table() {
  static const std::map<std::string, KernelSignature> t = [] {
    std::map<std::string, KernelSignature> m;
    auto add = [&](const char *n, CheckFn f, bool inPlace) { m[n] = {n, f, inPlace}; };
    for (const char *n : {"add", "sub", "mul", "div", "pow"})
      add(n, checkBinary, true);
    for (const char *n : {"equal", "less", "greater"})
      add(n, checkCompare, false);
    add("where", checkWhere, true);
    for (const char *n : {"sqrt", "exp", "log", "tanh", "erf", "sigmoid"})
      add(n, checkUnaryFloat, true);
    add("neg", checkUnaryNumeric, true);
    add("relu", checkUnaryNumeric, true);
    add("identity", checkUnaryAny, true);
    add("gelu", checkGelu, true);
    add("cast", checkCast, false);
    add("matmul", checkMatmul, false);
    add("gemm", checkGemm, false);
    add("softmax", checkSoftmax, false);
    add("log_softmax", checkSoftmax, false);
    add("layer_norm", checkLayerNorm, false);
    add("reshape", checkReshape, true);
    add("transpose", checkTranspose, false);
    add("gather", checkGather, false);
    add("slice", checkSlice, false);
    add("split", checkSplit, false);
    add("concat", checkConcat, false);
    add("squeeze", checkSqueeze, true);
    add("unsqueeze", checkUnsqueeze, true);
    add("expand", checkExpand, false);
    add("reduce_sum", checkReduce, false);
    add("reduce_mean", checkReduce, false);
    add("reduce_max", checkReduce, false);
    add("dropout", checkDropout, true);
    add("softmax_cross_entropy_loss", checkLoss, false);
    add("nll_loss", checkLoss, false);
    add("trilu", checkTrilu, true);
    add("constant", checkConstant, false);
    add("copy", checkCopy, false);
    add("fill", checkFill, false);
    add("all_gather", checkAllGather, false);
    add("reduce_scatter", checkReduceScatter, false);
    add("all_reduce", checkAllReduce, true);
    add("broadcast", checkBroadcast, true);
    add("barrier", checkBarrier, false);
    add("assert_close", checkAssertClose, false);
    add("softmax_grad", checkSoftmaxGrad, false);
    add("log_softmax_grad", checkSoftmaxGrad, false);
    add("gelu_grad", checkGeluGrad, true);
    add("layer_norm_grad", checkLayerNormGrad, false);
    add("gather_grad", checkGatherGrad, false);
    add("slice_grad", checkSliceGrad, false);
    add("softmax_cross_entropy_loss_grad", checkLossGrad, false);
    add("nll_loss_grad", checkLossGrad, false);
    // Elementwise: every element's inputs are read before its outputs are written.
    add("adam_update", checkAdamUpdate, true);
    add("lamb_update", checkLambUpdate, true);
    add("sgd_update", checkSgdUpdate, true);
    add("lr_schedule", checkLrSchedule, false);
    add("all_finite", checkAllFinite, false);
    // Reads all of its inputs before writing: new_scale/new_counters may be scale/counters.
    add("loss_scale_update", checkLossScaleUpdate, true);
    return m;
  }();
  return t;
}

} // namespace

const KernelSignature *findKernelSignature(const std::string &name) {
  auto it = table().find(name);
  return it == table().end() ? nullptr : &it->second;
}

std::vector<std::string> kernelNames() {
  std::vector<std::string> names;
  for (const auto &kv : table())
    names.push_back(kv.first);
  return names;
}

} // namespace ds::rt
