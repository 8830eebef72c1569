// Reverse-mode gradient rules of the forward `ds` ops, attached as external models.
#include "GradientBuilder.h"
#include "ds/Dialect/DS/IR/DSInterfaces.h"
#include "ds/Dialect/DS/IR/DSOps.h"

#include "mlir/IR/DialectRegistry.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ds;

namespace {
using Grads = SmallVectorImpl<Value>;

/// Adapts a `static LogicalResult rule(Op, GradientBuilder &, ArrayRef<Value> resultGrads,
/// ArrayRef<bool> needed, Grads &operandGrads)` to the interface.
template <typename OpTy, auto Rule>
struct GradientModel
    : GradientOpInterface::ExternalModel<GradientModel<OpTy, Rule>, OpTy> {
  LogicalResult buildGradients(Operation *op, OpBuilder &b,
                               ArrayRef<Value> resultGrads, ArrayRef<bool> needed,
                               Grads &operandGrads) const {
    GradientBuilder g(b, op->getLoc());
    operandGrads.assign(op->getNumOperands(), Value());
    return Rule(cast<OpTy>(op), g, resultGrads, needed, operandGrads);
  }
};

RankedTensorType typeOf(Value v) { return GradientBuilder::typeOf(v); }
Type elementOf(Value v) { return typeOf(v).getElementType(); }

//===-- elementwise --------------------------------------------------------===//

LogicalResult addGrad(AddOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  if (need[0])
    out[0] = g.unbroadcast(rg[0], typeOf(op.getLhs()));
  if (need[1])
    out[1] = g.unbroadcast(rg[0], typeOf(op.getRhs()));
  return success();
}

LogicalResult subGrad(SubOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  if (need[0])
    out[0] = g.unbroadcast(rg[0], typeOf(op.getLhs()));
  if (need[1])
    out[1] = g.unbroadcast(g.neg(rg[0]), typeOf(op.getRhs()));
  return success();
}

LogicalResult mulGrad(MulOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  if (need[0])
    out[0] = g.unbroadcast(g.mul(rg[0], op.getRhs()), typeOf(op.getLhs()));
  if (need[1])
    out[1] = g.unbroadcast(g.mul(rg[0], op.getLhs()), typeOf(op.getRhs()));
  return success();
}

LogicalResult divGrad(DivOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  if (need[0])
    out[0] = g.unbroadcast(g.div(rg[0], op.getRhs()), typeOf(op.getLhs()));
  if (need[1]) // d(a/b)/db = -(a/b)/b
    out[1] = g.unbroadcast(g.neg(g.div(g.mul(rg[0], op.getResult()), op.getRhs())),
                           typeOf(op.getRhs()));
  return success();
}

LogicalResult powGrad(PowOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  Value a = op.getLhs(), e = op.getRhs();
  if (need[0]) { // e * a^(e-1)
    Value em1 = g.sub(e, g.scalar(1.0, elementOf(e)));
    Value d = g.mul(e, PowOp::create(g.b, g.loc, a, em1));
    out[0] = g.unbroadcast(g.mul(rg[0], d), typeOf(a));
  }
  if (need[1]) // a^e * log(a)
    out[1] = g.unbroadcast(
        g.mul(rg[0], g.mul(op.getResult(), LogOp::create(g.b, g.loc, a))),
        typeOf(e));
  return success();
}

/// max and min (torch.maximum, torch.minimum): the gradient goes to the selected operand,
/// half to each on ties. `Wins` is GreaterOp for max, LessOp for min.
template <typename OpTy, typename Wins>
LogicalResult selectGrad(OpTy op, GradientBuilder &g, ArrayRef<Value> rg,
                         ArrayRef<bool> need, Grads &out) {
  Value a = op.getLhs(), b = op.getRhs();
  Type elem = elementOf(rg[0]);
  Value tie = g.scale(g.cast(EqualOp::create(g.b, g.loc, a, b), elem), 0.5);
  if (need[0]) {
    Value share = g.add(g.cast(Wins::create(g.b, g.loc, a, b), elem), tie);
    out[0] = g.unbroadcast(g.mul(rg[0], share), typeOf(a));
  }
  if (need[1]) {
    Value share = g.add(g.cast(Wins::create(g.b, g.loc, b, a), elem), tie);
    out[1] = g.unbroadcast(g.mul(rg[0], share), typeOf(b));
  }
  return success();
}

LogicalResult whereGrad(WhereOp op, GradientBuilder &g, ArrayRef<Value> rg,
                        ArrayRef<bool> need, Grads &out) {
  Value zero = g.scalar(0.0, elementOf(rg[0]));
  Value c = op.getCondition();
  if (need[1])
    out[1] = g.unbroadcast(WhereOp::create(g.b, g.loc, c, rg[0], zero),
                           typeOf(op.getOnTrue()));
  if (need[2])
    out[2] = g.unbroadcast(WhereOp::create(g.b, g.loc, c, zero, rg[0]),
                           typeOf(op.getOnFalse()));
  return success();
}

template <typename OpTy>
LogicalResult identityGrad(OpTy op, GradientBuilder &g, ArrayRef<Value> rg,
                           ArrayRef<bool> need, Grads &out) {
  out[0] = rg[0];
  return success();
}

LogicalResult negGrad(NegOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  out[0] = g.neg(rg[0]);
  return success();
}

LogicalResult sqrtGrad(SqrtOp op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  out[0] = g.div(g.scale(rg[0], 0.5), op.getResult());
  return success();
}

LogicalResult expGrad(ExpOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  out[0] = g.mul(rg[0], op.getResult());
  return success();
}

LogicalResult logGrad(LogOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  out[0] = g.div(rg[0], op.getInput());
  return success();
}

LogicalResult tanhGrad(TanhOp op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  Value y = op.getResult();
  out[0] = g.mul(rg[0], g.sub(g.scalar(1.0, elementOf(y)), g.mul(y, y)));
  return success();
}

LogicalResult sinGrad(SinOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  out[0] = g.mul(rg[0], g.cos(op.getInput()));
  return success();
}

LogicalResult cosGrad(CosOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  out[0] = g.neg(g.mul(rg[0], g.sin(op.getInput())));
  return success();
}

LogicalResult absGrad(AbsOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  // sign(x), 0 at 0 (torch.abs).
  Value x = op.getInput();
  Type elem = elementOf(x);
  Value zero = g.scalar(0.0, elem);
  Value positive = g.cast(GreaterOp::create(g.b, g.loc, x, zero), elem);
  Value negative = g.cast(LessOp::create(g.b, g.loc, x, zero), elem);
  out[0] = g.mul(rg[0], g.sub(positive, negative));
  return success();
}

LogicalResult reciprocalGrad(ReciprocalOp op, GradientBuilder &g, ArrayRef<Value> rg,
                             ArrayRef<bool> need, Grads &out) {
  // d(1/x)/dx = -1/x^2 = -r^2.
  Value r = op.getResult();
  out[0] = g.neg(g.mul(rg[0], g.mul(r, r)));
  return success();
}

LogicalResult erfGrad(ErfOp op, GradientBuilder &g, ArrayRef<Value> rg,
                      ArrayRef<bool> need, Grads &out) {
  Value x = op.getInput();
  Value e = ExpOp::create(g.b, g.loc, g.neg(g.mul(x, x)));
  out[0] = g.mul(rg[0], g.scale(e, 2.0 / std::sqrt(M_PI)));
  return success();
}

LogicalResult reluGrad(ReluOp op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  Value x = op.getInput();
  Value zero = g.scalar(0.0, elementOf(x));
  Value positive = GreaterOp::create(g.b, g.loc, x, zero);
  out[0] = WhereOp::create(g.b, g.loc, positive, rg[0], zero);
  return success();
}

LogicalResult sigmoidGrad(SigmoidOp op, GradientBuilder &g, ArrayRef<Value> rg,
                          ArrayRef<bool> need, Grads &out) {
  Value y = op.getResult();
  out[0] = g.mul(rg[0], g.mul(y, g.sub(g.scalar(1.0, elementOf(y)), y)));
  return success();
}

LogicalResult geluGrad(GeluOp op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  out[0] = GeluGradOp::create(g.b, g.loc, typeOf(op.getInput()), rg[0],
                              op.getInput(), op.getApproximateAttr());
  return success();
}

LogicalResult castGrad(CastOp op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  out[0] = g.cast(rg[0], elementOf(op.getInput()));
  return success();
}

LogicalResult dropoutGrad(DropoutOp op, GradientBuilder &g, ArrayRef<Value> rg,
                          ArrayRef<bool> need, Grads &out) {
  if (!rg[0])
    return success();
  double keep = 1.0 - op.getRatio().convertToDouble();
  if (keep == 1.0) { // nothing dropped: the identity (rg * 1 / 1, the same bits)
    out[0] = rg[0];
    return success();
  }
  Value mask = g.cast(op.getMask(), elementOf(rg[0]));
  out[0] = g.scale(g.mul(rg[0], mask), 1.0 / keep);
  return success();
}

//===-- linear algebra and normalization -----------------------------------===//

/// Transposes the last two dims.
Value transposeLast2(GradientBuilder &g, Value x) {
  int64_t rank = typeOf(x).getRank();
  SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(perm[rank - 1], perm[rank - 2]);
  return TransposeOp::create(g.b, g.loc, x, g.b.getDenseI64ArrayAttr(perm));
}

LogicalResult matmulGrad(MatMulOp op, GradientBuilder &g, ArrayRef<Value> rg,
                         ArrayRef<bool> need, Grads &out) {
  // Promote 1-D operands as numpy does, so both are at least 2-D.
  auto at = typeOf(op.getLhs()), bt = typeOf(op.getRhs());
  SmallVector<int64_t> as(at.getShape()), bs(bt.getShape());
  if (as.size() == 1)
    as.insert(as.begin(), 1);
  if (bs.size() == 1)
    bs.push_back(1);
  Value a = g.reshape(op.getLhs(), as), b = g.reshape(op.getRhs(), bs);
  auto batch = broadcastShapes(ArrayRef<int64_t>(as).drop_back(2),
                               ArrayRef<int64_t>(bs).drop_back(2));
  if (failed(batch))
    return op.emitError("matmul batch dims do not broadcast");
  SmallVector<int64_t> gs = *batch;
  gs.push_back(as[as.size() - 2]);
  gs.push_back(bs.back());
  Value grad = g.reshape(rg[0], gs);
  if (bs.size() == 2 && isa<FloatType>(at.getElementType())) {
    // b is one matrix shared by every batch (a Linear layer): fold the batch into the rows, so
    // each gradient is one GEMM with the transpose in the GEMM (no transposed copies, and the
    // sum over the batch of db happens inside the GEMM's K loop, as PyTorch's Linear does).
    int64_t rows = 1;
    for (int64_t d : ArrayRef<int64_t>(as).drop_back())
      rows *= d;
    int64_t k = as.back(), n = bs.back();
    Value g2 = g.reshape(rg[0], {rows, n});
    FloatAttr one = g.b.getF32FloatAttr(1.0f);
    UnitAttr unit = g.b.getUnitAttr();
    if (need[0]) {
      Value da = GemmOp::create(g.b, g.loc, g2, b, Value(), one, one, UnitAttr(), unit);
      out[0] = g.reshape(da, at.getShape());
    }
    if (need[1]) {
      Value a2 = g.reshape(a, {rows, k});
      Value db = GemmOp::create(g.b, g.loc, a2, g2, Value(), one, one, unit, UnitAttr());
      out[1] = g.reshape(db, bt.getShape());
    }
    return success();
  }
  if (need[0]) {
    Value da = MatMulOp::create(g.b, g.loc, grad, transposeLast2(g, b));
    da = g.unbroadcast(da, at.clone(as));
    out[0] = g.reshape(da, at.getShape());
  }
  if (need[1]) {
    Value db = MatMulOp::create(g.b, g.loc, transposeLast2(g, a), grad);
    db = g.unbroadcast(db, bt.clone(bs));
    out[1] = g.reshape(db, bt.getShape());
  }
  return success();
}

LogicalResult gemmGrad(GemmOp op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  bool ta = op.getTransA(), tb = op.getTransB();
  FloatAttr alpha = g.b.getF32FloatAttr(op.getAlpha().convertToFloat());
  FloatAttr one = g.b.getF32FloatAttr(1.0f);
  UnitAttr unit = g.b.getUnitAttr();
  auto flag = [&](bool v) { return v ? unit : UnitAttr(); };
  Value a = op.getA(), b = op.getB(), grad = rg[0];
  if (need[0]) {
    // d op(A) = alpha * G * op(B)^T; A = op(A)^T when trans_a.
    out[0] = ta ? GemmOp::create(g.b, g.loc, b, grad, Value(), alpha, one,
                                 flag(tb), unit)
                : GemmOp::create(g.b, g.loc, grad, b, Value(), alpha, one,
                                 UnitAttr(), flag(!tb));
  }
  if (need[1]) {
    // d op(B) = alpha * op(A)^T * G; B = op(B)^T when trans_b.
    out[1] = tb ? GemmOp::create(g.b, g.loc, grad, a, Value(), alpha, one, unit,
                                 flag(ta))
                : GemmOp::create(g.b, g.loc, a, grad, Value(), alpha, one,
                                 flag(!ta), UnitAttr());
  }
  if (op.getC() && need[2])
    out[2] = g.unbroadcast(g.scale(grad, op.getBeta().convertToDouble()),
                           typeOf(op.getC()));
  return success();
}

LogicalResult softmaxGrad(SoftmaxOp op, GradientBuilder &g, ArrayRef<Value> rg,
                          ArrayRef<bool> need, Grads &out) {
  out[0] = SoftmaxGradOp::create(g.b, g.loc, typeOf(op.getResult()), rg[0],
                                 op.getResult(), op.getAxisAttr());
  return success();
}

LogicalResult logSoftmaxGrad(LogSoftmaxOp op, GradientBuilder &g,
                             ArrayRef<Value> rg, ArrayRef<bool> need, Grads &out) {
  out[0] = LogSoftmaxGradOp::create(g.b, g.loc, typeOf(op.getResult()), rg[0],
                                    op.getResult(), op.getAxisAttr());
  return success();
}

LogicalResult layerNormGrad(LayerNormOp op, GradientBuilder &g, ArrayRef<Value> rg,
                            ArrayRef<bool> need, Grads &out) {
  auto x = typeOf(op.getInput());
  SmallVector<int64_t> norm(x.getShape().drop_front(op.getAxis()));
  auto normType = x.clone(norm);
  // The kernel takes the scale at the normalized shape.
  Value scale = g.expand(g.reshape(op.getScale(), [&] {
    SmallVector<int64_t> s(norm.size() - typeOf(op.getScale()).getRank(), 1);
    llvm::append_range(s, typeOf(op.getScale()).getShape());
    return s;
  }()), norm);
  auto grads = LayerNormGradOp::create(g.b, g.loc, x, normType, normType, rg[0],
                                       op.getInput(), scale, op.getAxisAttr(),
                                       op.getEpsilonAttr());
  out[0] = grads.getInputGrad();
  if (need[1])
    out[1] = g.unbroadcast(grads.getScaleGrad(), typeOf(op.getScale()));
  if (op.getBias() && need[2])
    out[2] = g.unbroadcast(grads.getBiasGrad(), typeOf(op.getBias()));
  return success();
}

//===-- shape and data movement --------------------------------------------===//

template <typename OpTy>
LogicalResult reshapeLikeGrad(OpTy op, GradientBuilder &g, ArrayRef<Value> rg,
                              ArrayRef<bool> need, Grads &out) {
  out[0] = g.reshape(rg[0], typeOf(op.getInput()).getShape());
  return success();
}

LogicalResult transposeGrad(TransposeOp op, GradientBuilder &g, ArrayRef<Value> rg,
                            ArrayRef<bool> need, Grads &out) {
  ArrayRef<int64_t> perm = op.getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  out[0] = TransposeOp::create(g.b, g.loc, rg[0], g.b.getDenseI64ArrayAttr(inverse));
  return success();
}

LogicalResult expandGrad(ExpandOp op, GradientBuilder &g, ArrayRef<Value> rg,
                         ArrayRef<bool> need, Grads &out) {
  out[0] = g.unbroadcast(rg[0], typeOf(op.getInput()));
  return success();
}

LogicalResult gatherGrad(GatherOp op, GradientBuilder &g, ArrayRef<Value> rg,
                         ArrayRef<bool> need, Grads &out) {
  out[0] = GatherGradOp::create(g.b, g.loc, typeOf(op.getData()), rg[0],
                                op.getIndices(), g.b.getI64IntegerAttr(op.getAxis()));
  return success();
}

LogicalResult sliceGrad(SliceOp op, GradientBuilder &g, ArrayRef<Value> rg,
                        ArrayRef<bool> need, Grads &out) {
  out[0] = SliceGradOp::create(g.b, g.loc, typeOf(op.getInput()), rg[0],
                               op.getStartsAttr(), op.getEndsAttr(),
                               op.getStepsAttr());
  return success();
}

LogicalResult splitGrad(SplitOp op, GradientBuilder &g, ArrayRef<Value> rg,
                        ArrayRef<bool> need, Grads &out) {
  SmallVector<Value> pieces;
  for (auto [result, grad] : llvm::zip(op.getResults(), rg))
    pieces.push_back(grad ? grad : g.zeros(typeOf(result)));
  out[0] = pieces.size() == 1
               ? pieces[0]
               : ConcatOp::create(g.b, g.loc, pieces, op.getAxisAttr()).getResult();
  return success();
}

LogicalResult concatGrad(ConcatOp op, GradientBuilder &g, ArrayRef<Value> rg,
                         ArrayRef<bool> need, Grads &out) {
  auto rt = typeOf(op.getResult());
  int64_t axis = op.getAxis(), offset = 0;
  for (auto [i, input] : llvm::enumerate(op.getInputs())) {
    int64_t size = typeOf(input).getDimSize(axis);
    if (need[i]) {
      SmallVector<int64_t> starts(rt.getRank(), 0), ends(rt.getShape()),
          steps(rt.getRank(), 1);
      starts[axis] = offset;
      ends[axis] = offset + size;
      out[i] = SliceOp::create(g.b, g.loc, rg[0], g.b.getDenseI64ArrayAttr(starts),
                               g.b.getDenseI64ArrayAttr(ends),
                               g.b.getDenseI64ArrayAttr(steps));
    }
    offset += size;
  }
  return success();
}

LogicalResult triluGrad(TriluOp op, GradientBuilder &g, ArrayRef<Value> rg,
                        ArrayRef<bool> need, Grads &out) {
  out[0] = TriluOp::create(g.b, g.loc, rg[0], op.getUpperAttr(), op.getKAttr());
  return success();
}

/// dq, dk, dv from q, k, v, the output and its per-row log-sum-exp: the [T, S]
/// probabilities are recomputed in the backward kernel rather than kept.
LogicalResult attentionGrad(AttentionOp op, GradientBuilder &g, ArrayRef<Value> rg,
                            ArrayRef<bool> need, Grads &out) {
  if (!rg[0])
    return success(); // only the LSE is used: it has no path to the loss here
  if (rg[1])
    return op.emitError("the gradient through attention's log-sum-exp is not supported");
  auto grads = AttentionGradOp::create(
      g.b, g.loc, typeOf(op.getQuery()), typeOf(op.getKey()), typeOf(op.getValue()),
      rg[0], op.getQuery(), op.getKey(), op.getValue(), op.getOutput(), op.getLse(),
      op.getMask(), op.getScaleAttr(), op.getCausalAttr(), op.getDropoutAttr());
  for (unsigned i = 0; i < 3; ++i)
    if (need[i])
      out[i] = grads->getResult(i);
  return success();
}

//===-- reductions ---------------------------------------------------------===//

/// The reduced gradient with the reduced dims restored as 1s, broadcast to the input.
Value spreadReduced(GradientBuilder &g, Value grad, RankedTensorType input,
                    ArrayRef<int64_t> axes) {
  SmallVector<int64_t> kept;
  for (int64_t i = 0; i < input.getRank(); ++i)
    kept.push_back(axes.empty() || llvm::is_contained(axes, i) ? 1
                                                               : input.getDimSize(i));
  return g.expand(g.reshape(grad, kept), input.getShape());
}

int64_t reducedCount(RankedTensorType input, ArrayRef<int64_t> axes) {
  int64_t n = 1;
  for (int64_t i = 0; i < input.getRank(); ++i)
    if (axes.empty() || llvm::is_contained(axes, i))
      n *= input.getDimSize(i);
  return n;
}

LogicalResult reduceSumGrad(ReduceSumOp op, GradientBuilder &g, ArrayRef<Value> rg,
                            ArrayRef<bool> need, Grads &out) {
  out[0] = spreadReduced(g, rg[0], typeOf(op.getInput()), op.getAxes());
  return success();
}

LogicalResult reduceMeanGrad(ReduceMeanOp op, GradientBuilder &g,
                             ArrayRef<Value> rg, ArrayRef<bool> need, Grads &out) {
  auto in = typeOf(op.getInput());
  out[0] = g.scale(spreadReduced(g, rg[0], in, op.getAxes()),
                   1.0 / double(reducedCount(in, op.getAxes())));
  return success();
}

LogicalResult reduceMaxGrad(ReduceMaxOp op, GradientBuilder &g, ArrayRef<Value> rg,
                            ArrayRef<bool> need, Grads &out) {
  // Ties share the gradient evenly, as torch.amax does.
  auto in = typeOf(op.getInput());
  Value maxima = spreadReduced(g, op.getResult(), in, op.getAxes());
  Value hit = g.cast(EqualOp::create(g.b, g.loc, op.getInput(), maxima),
                     in.getElementType());
  Value count = spreadReduced(
      g, g.reduceSum(hit, op.getAxes(), op.getKeepdims()), in, op.getAxes());
  out[0] = g.div(g.mul(spreadReduced(g, rg[0], in, op.getAxes()), hit), count);
  return success();
}

//===-- losses -------------------------------------------------------------===//

template <typename OpTy, typename GradOpTy>
LogicalResult lossGrad(OpTy op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  out[0] = GradOpTy::create(g.b, g.loc, typeOf(op.getInput()), rg[0],
                            op.getInput(), op.getTarget(), op.getWeights(),
                            op.getReductionAttr(), op.getIgnoreIndexAttr());
  return success();
}

//===-- convolution, batch normalization and pooling ----------------------===//

LogicalResult convGrad(ConvOp op, GradientBuilder &g, ArrayRef<Value> rg,
                       ArrayRef<bool> need, Grads &out) {
  if (need[0])
    out[0] = ConvGradInputOp::create(g.b, g.loc, typeOf(op.getInput()), rg[0],
                                     op.getWeight(), op.getStridesAttr(), op.getPadsAttr(),
                                     op.getDilationsAttr(), op.getGroupAttr());
  if (need[1])
    out[1] = ConvGradFilterOp::create(g.b, g.loc, typeOf(op.getWeight()), rg[0],
                                      op.getInput(), op.getStridesAttr(), op.getPadsAttr(),
                                      op.getDilationsAttr(), op.getGroupAttr());
  if (op.getBias() && need[2]) {
    SmallVector<int64_t> axes{0};
    for (int64_t i = 2; i < typeOf(rg[0]).getRank(); ++i)
      axes.push_back(i);
    out[2] = g.reduceSum(rg[0], axes, /*keepdims=*/false);
  }
  return success();
}

LogicalResult batchNormGrad(BatchNormOp op, GradientBuilder &g, ArrayRef<Value> rg,
                            ArrayRef<bool> need, Grads &out) {
  // The batch statistics feed only the running statistics, which are not differentiated.
  if (rg[1] || rg[2])
    return op.emitOpError("a gradient flows into the batch mean or variance; only the "
                          "normalized result is differentiable");
  auto c = typeOf(op.getScale());
  auto grads = BatchNormGradOp::create(g.b, g.loc, typeOf(op.getInput()), c, c, rg[0],
                                       op.getInput(), op.getScale(), op.getMean(),
                                       op.getVariance(), op.getEpsilonAttr());
  out[0] = grads.getInputGrad();
  if (need[1])
    out[1] = grads.getScaleGrad();
  if (need[2])
    out[2] = grads.getBiasGrad();
  return success();
}

LogicalResult maxPoolGrad(MaxPoolOp op, GradientBuilder &g, ArrayRef<Value> rg,
                          ArrayRef<bool> need, Grads &out) {
  out[0] = MaxPoolGradOp::create(g.b, g.loc, typeOf(op.getInput()), rg[0], op.getInput(),
                                 op.getKernelShapeAttr(), op.getStridesAttr(),
                                 op.getPadsAttr(), op.getDilationsAttr(),
                                 op.getCeilModeAttr());
  return success();
}

LogicalResult avgPoolGrad(AvgPoolOp op, GradientBuilder &g, ArrayRef<Value> rg,
                          ArrayRef<bool> need, Grads &out) {
  out[0] = AvgPoolGradOp::create(g.b, g.loc, typeOf(op.getInput()), rg[0],
                                 op.getKernelShapeAttr(), op.getStridesAttr(),
                                 op.getPadsAttr(), op.getDilationsAttr(),
                                 op.getCeilModeAttr(), op.getCountIncludePadAttr());
  return success();
}

template <typename OpTy, auto Rule>
void attach(MLIRContext *ctx) {
  OpTy::template attachInterface<GradientModel<OpTy, Rule>>(*ctx);
}
} // namespace

void mlir::ds::registerGradientInterfaces(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, DSDialect *) {
    attach<AddOp, addGrad>(ctx);
    attach<SubOp, subGrad>(ctx);
    attach<MulOp, mulGrad>(ctx);
    attach<DivOp, divGrad>(ctx);
    attach<PowOp, powGrad>(ctx);
    attach<WhereOp, whereGrad>(ctx);
    attach<NegOp, negGrad>(ctx);
    attach<SqrtOp, sqrtGrad>(ctx);
    attach<ExpOp, expGrad>(ctx);
    attach<LogOp, logGrad>(ctx);
    attach<TanhOp, tanhGrad>(ctx);
    attach<SinOp, sinGrad>(ctx);
    attach<CosOp, cosGrad>(ctx);
    attach<ErfOp, erfGrad>(ctx);
    attach<AbsOp, absGrad>(ctx);
    attach<ReciprocalOp, reciprocalGrad>(ctx);
    attach<MaxOp, selectGrad<MaxOp, GreaterOp>>(ctx);
    attach<MinOp, selectGrad<MinOp, LessOp>>(ctx);
    attach<ReluOp, reluGrad>(ctx);
    attach<SigmoidOp, sigmoidGrad>(ctx);
    attach<IdentityOp, identityGrad<IdentityOp>>(ctx);
    attach<GeluOp, geluGrad>(ctx);
    attach<CastOp, castGrad>(ctx);
    attach<DropoutOp, dropoutGrad>(ctx);
    attach<MatMulOp, matmulGrad>(ctx);
    attach<GemmOp, gemmGrad>(ctx);
    attach<SoftmaxOp, softmaxGrad>(ctx);
    attach<LogSoftmaxOp, logSoftmaxGrad>(ctx);
    attach<LayerNormOp, layerNormGrad>(ctx);
    attach<AttentionOp, attentionGrad>(ctx);
    attach<ReshapeOp, reshapeLikeGrad<ReshapeOp>>(ctx);
    attach<SqueezeOp, reshapeLikeGrad<SqueezeOp>>(ctx);
    attach<UnsqueezeOp, reshapeLikeGrad<UnsqueezeOp>>(ctx);
    attach<TransposeOp, transposeGrad>(ctx);
    attach<ExpandOp, expandGrad>(ctx);
    attach<GatherOp, gatherGrad>(ctx);
    attach<SliceOp, sliceGrad>(ctx);
    attach<SplitOp, splitGrad>(ctx);
    attach<ConcatOp, concatGrad>(ctx);
    attach<TriluOp, triluGrad>(ctx);
    attach<ReduceSumOp, reduceSumGrad>(ctx);
    attach<ReduceMeanOp, reduceMeanGrad>(ctx);
    attach<ReduceMaxOp, reduceMaxGrad>(ctx);
    attach<SoftmaxCrossEntropyLossOp,
           lossGrad<SoftmaxCrossEntropyLossOp, SoftmaxCrossEntropyLossGradOp>>(ctx);
    attach<NllLossOp, lossGrad<NllLossOp, NllLossGradOp>>(ctx);
    attach<ConvOp, convGrad>(ctx);
    attach<BatchNormOp, batchNormGrad>(ctx);
    attach<MaxPoolOp, maxPoolGrad>(ctx);
    attach<AvgPoolOp, avgPoolGrad>(ctx);
  });
}
