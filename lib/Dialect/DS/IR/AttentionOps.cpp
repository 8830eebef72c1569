// Verifiers of ds.attention and ds.attention_grad: shapes of q, k, v, the mask and the
// LSE.
#include "ds/Dialect/DS/IR/DSOps.h"

#include "mlir/Dialect/Traits.h"

using namespace mlir;
using namespace mlir::ds;

namespace {
RankedTensorType tensorOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Checks q [batch..., H, T, D], k [batch..., Hkv, S, D], v [batch..., Hkv, S, Dv] (Hkv
/// divides H: grouped-query attention, query head h reads key head h / (H / Hkv)), the
/// optional mask
/// (float of q's type, or i1, broadcast to [batch..., T, S]), the scale and dropout, and
/// that `out` is [batch..., T, Dv] of q's type and `lse` [batch..., T] f32 (f64 for f64).
LogicalResult verifyAttention(Operation *op, Value q, Value k, Value v, Value mask,
                              Type out, Type lse, float scale, float dropout) {
  auto qt = tensorOf(q), kt = tensorOf(k), vt = tensorOf(v);
  int64_t rank = qt.getRank();
  if (rank < 3)
    return op->emitOpError("query must have rank >= 3 ([batch..., T, D]), got ") << qt;
  if (kt.getRank() != rank || vt.getRank() != rank)
    return op->emitOpError("query, key and value must have the same rank, got ")
           << qt << ", " << kt << ", " << vt;
  if (kt.getElementType() != qt.getElementType() ||
      vt.getElementType() != qt.getElementType())
    return op->emitOpError("query, key and value must have the same element type");
  ArrayRef<int64_t> batch = qt.getShape().drop_back(2);
  ArrayRef<int64_t> kvBatch = kt.getShape().drop_back(2);
  // Grouped-query attention: the last batch dim (the heads) of k and v may divide q's.
  int64_t qHeads = batch.back(), kvHeads = kvBatch.back();
  if (vt.getShape().drop_back(2) != kvBatch || kvBatch.drop_back() != batch.drop_back() ||
      kvHeads <= 0 || qHeads % kvHeads != 0)
    return op->emitOpError("key and value must have the query's batch dims, the last "
                           "(heads) dividing the query's, got ")
           << qt << ", " << kt << ", " << vt;
  int64_t t = qt.getDimSize(rank - 2), d = qt.getDimSize(rank - 1);
  int64_t s = kt.getDimSize(rank - 2);
  if (kt.getDimSize(rank - 1) != d)
    return op->emitOpError("key head dim ")
           << kt.getDimSize(rank - 1) << " differs from the query's " << d;
  if (vt.getDimSize(rank - 2) != s)
    return op->emitOpError("value length ")
           << vt.getDimSize(rank - 2) << " differs from the key length " << s;
  if (mask) {
    auto mt = tensorOf(mask);
    Type me = mt.getElementType();
    if (!me.isInteger(1) && me != qt.getElementType())
      return op->emitOpError("mask must be i1 or the query's element type, got ") << mt;
    SmallVector<int64_t> scores(batch);
    scores.append({t, s});
    SmallVector<int64_t> joint;
    if (mt.getRank() > rank ||
        !OpTrait::util::getBroadcastedShape(mt.getShape(), scores, joint) ||
        ArrayRef<int64_t>(joint) != ArrayRef<int64_t>(scores))
      return op->emitOpError("mask ") << mt << " does not broadcast to the scores' shape "
                                      << RankedTensorType::get(scores, me);
  }
  if (!(scale > 0) || !std::isfinite(scale))
    return op->emitOpError("scale must be positive and finite, got ") << scale;
  if (!(dropout >= 0 && dropout < 1))
    return op->emitOpError("dropout must be in [0, 1), got ") << dropout;
  SmallVector<int64_t> outShape(batch);
  outShape.append({t, vt.getDimSize(rank - 1)});
  auto expectOut = RankedTensorType::get(outShape, qt.getElementType());
  if (out != expectOut)
    return op->emitOpError("output must be ") << expectOut << ", got " << out;
  auto expectLse = RankedTensorType::get(qt.getShape().drop_back(),
                                         getAttentionLseElementType(qt.getElementType()));
  if (lse != expectLse)
    return op->emitOpError("lse must be ") << expectLse << ", got " << lse;
  return success();
}
} // namespace

Type mlir::ds::getAttentionLseElementType(Type queryElementType) {
  if (queryElementType.isF64())
    return queryElementType;
  return Float32Type::get(queryElementType.getContext());
}

LogicalResult AttentionOp::verify() {
  return verifyAttention(*this, getQuery(), getKey(), getValue(), getMask(),
                         getOutput().getType(), getLse().getType(),
                         getScale().convertToFloat(), getDropout().convertToFloat());
}

LogicalResult AttentionGradOp::verify() {
  if (failed(verifyAttention(*this, getQuery(), getKey(), getValue(), getMask(),
                             getOutput().getType(), getLse().getType(),
                             getScale().convertToFloat(), getDropout().convertToFloat())))
    return failure();
  if (getGrad().getType() != getOutput().getType())
    return emitOpError("grad must have the output type ") << getOutput().getType();
  if (getQueryGrad().getType() != getQuery().getType() ||
      getKeyGrad().getType() != getKey().getType() ||
      getValueGrad().getType() != getValue().getType())
    return emitOpError("query, key and value gradients must have their operands' types");
  return success();
}
