// Load-time shape and dtype rules of the normalization, attention and loss kernels and
// their gradients.
#include "KernelSignaturesNormalization.h"
#include "KernelSignatureRules.h"

#include <algorithm>
#include <cmath>

namespace ds::rt {
namespace {
using namespace rules;

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

} // namespace

void checkSoftmax(const CheckContext &c) {
  floatOnly(c.in[0], "operand");
  sameDtype(c.in[0], c.out[0], "operand and result");
  expectShape(c.out[0], c.in[0]->shape, "result");
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


void checkSoftmaxGrad(const CheckContext &c) {
  allFloatSame({c.in[0], c.in[1], c.out[0]}, "grad, output and result");
  expectShape(c.in[1], c.in[0]->shape, "output");
  expectShape(c.out[0], c.in[0]->shape, "result");
  checkAxis(c.attrs<AxisAttrs>().axis, c.in[0]->rank());
}

void checkLayerNormGrad(const CheckContext &c) {
  T g = c.in[0], x = c.in[1], s = c.in[2];
  allFloatSame({g, x, s, c.out[0], c.out[1], c.out[2]}, "operands and results");
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
    allFloatSame({x, c.in[3]}, "operands and dx_acc");
    expectShape(c.in[3], x->shape, "dx_acc");
  }
  if (c.in.size() == 5)
    fail("takes dscale_acc and dbias_acc together (after dx_acc) or neither");
  if (c.in.size() == 6) {
    allFloatSame({x, c.in[4], c.in[5]}, "operands and accs");
    expectShape(c.in[4], normShape, "dscale_acc");
    expectShape(c.in[5], normShape, "dbias_acc");
  }
}

void checkLossGrad(const CheckContext &c) {
  T g = c.in[0], s = c.in[1], l = c.in[2];
  allFloatSame({s, c.out[0]}, "scores and result");
  lossScoresDtype(s, g, "scores and grad");
  auto [lshape, red] = checkLossOperands(c, s, l, 3);
  expectShape(g, red == LossReduction::None ? lshape : std::vector<int64_t>{}, "grad");
  expectShape(c.out[0], s->shape, "result");
}

void checkLossWithGrad(const CheckContext &c) {
  T g = c.in[0], s = c.in[1], l = c.in[2];
  floatOnly(s, "scores");
  auto [lshape, red] = checkLossOperands(c, s, l, 3);
  lossScoresDtype(s, g, "scores and grad");
  lossScoresDtype(s, c.out[0], "scores and loss");
  sameDtype(g, c.out[0], "grad and loss");
  std::vector<int64_t> perPosition = red == LossReduction::None ? lshape : std::vector<int64_t>{};
  expectShape(g, perPosition, "grad");
  expectShape(c.out[0], perPosition, "loss");
  sameDtype(s, c.out[1], "scores and dscores");
  expectShape(c.out[1], s->shape, "dscores");
}

} // namespace ds::rt
