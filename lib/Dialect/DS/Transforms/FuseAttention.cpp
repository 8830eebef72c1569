// Fuses the attention subgraphs of ONNX exports (matmul, scale, mask, softmax, matmul)
// into ds.attention.
#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"
#include "ScalarConstants.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

#define DEBUG_TYPE "ds-fuse-attention"

namespace mlir::ds {
#define GEN_PASS_DEF_FUSEATTENTIONPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
RankedTensorType tensorOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Fill values that make a score's probability exactly 0 in the unfused softmax too.
bool isMaskFill(double v) { return v <= -1e30; }

/// True when no differentiable path leads from a parameter or a function argument to `v`:
/// the mask is a constant of the model, so dropping its gradient loses nothing.
bool isConstantOfModel(Value v) {
  SmallVector<Value> work{v};
  llvm::SmallPtrSet<Value, 16> seen;
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (!seen.insert(x).second)
      continue;
    Operation *def = x.getDefiningOp();
    if (!def || isa<ParamRefOp>(def))
      return false;
    for (unsigned i = 0; i < def->getNumOperands(); ++i)
      if (isDifferentiableOperand(def, i))
        work.push_back(def->getOperand(i));
  }
  return true;
}

/// One mask found on the scores: a boolean `keep` (true attends) or an additive float.
struct Mask {
  Value value;
  bool negate = false; ///< the condition marks the masked positions (keep = !value)
  bool additive = false;
  /// The scores' type where the mask applies: it differs from the softmax's in the
  /// leading dims when a reshape lies between (OPT: [B*H, T, S] viewed as [B, H, T, S]
  /// for the mask).
  RankedTensorType scoresType;
};

/// What the walk from a softmax back to the q kᵀ matmul found.
struct AttentionMatch {
  MatMulOp scores;
  Value query, keyT;
  double scale = 1;
  SmallVector<Mask> masks;
};

/// Peels scalar Mul/Div constants off `v`, multiplying them into `scale`.
Value peelScale(Value v, double &scale) {
  while (Operation *def = v.getDefiningOp()) {
    if (auto mul = dyn_cast<MulOp>(def)) {
      if (auto c = evaluateScalar(mul.getRhs());
          c && tensorOf(mul.getLhs()) == tensorOf(mul.getResult())) {
        scale *= *c, v = mul.getLhs();
        continue;
      }
      if (auto c = evaluateScalar(mul.getLhs());
          c && tensorOf(mul.getRhs()) == tensorOf(mul.getResult())) {
        scale *= *c, v = mul.getRhs();
        continue;
      }
    } else if (auto div = dyn_cast<DivOp>(def)) {
      if (auto c = evaluateScalar(div.getRhs());
          c && *c != 0 && tensorOf(div.getLhs()) == tensorOf(div.getResult())) {
        scale /= *c, v = div.getLhs();
        continue;
      }
    }
    break;
  }
  return v;
}

/// The input of a reshape that only regroups leading dims (the last two, [T, S], kept),
/// else null.
Value getLeadingDimsReshapeInput(Value v) {
  auto reshape = v.getDefiningOp<ReshapeOp>();
  if (!reshape)
    return {};
  auto in = tensorOf(reshape.getInput()), out = tensorOf(v);
  if (in.getRank() < 2 || out.getRank() < 2 ||
      in.getShape().take_back(2) != out.getShape().take_back(2) ||
      in.getNumElements() != out.getNumElements())
    return {};
  return reshape.getInput();
}

/// Peels scales and leading-dims reshapes off `v`.
Value peelScaleAndReshapes(Value v, double &scale) {
  v = peelScale(v, scale);
  while (Value in = getLeadingDimsReshapeInput(v))
    v = peelScale(in, scale);
  return v;
}

/// Whether every element of `v` is a finite float constant.
bool isFiniteConstant(Value v) {
  auto constant = v.getDefiningOp<ConstantOp>();
  if (!constant)
    return false;
  auto dense = dyn_cast<DenseFPElementsAttr>(constant.getValue());
  if (!dense)
    return false;
  auto values = dense.tryGetValues<APFloat>();
  return succeeded(values) &&
         llvm::all_of(*values, [](const APFloat &f) { return f.isFinite(); });
}

/// Walks from the softmax input through masks, then scales, to the scores matmul.
std::optional<AttentionMatch> matchScores(Value x) {
  AttentionMatch m;
  RankedTensorType scoresType = tensorOf(x);
  // A Max with a mask fill (OPT's clamp of the masked scores at finfo.min) changes only
  // scores below the fill: with finite masks and scores far smaller than the fill (its
  // spacing there exceeds 1e22), none.
  bool clamped = false;
  while (true) {
    Operation *def = x.getDefiningOp();
    if (Value in = getLeadingDimsReshapeInput(x)) {
      x = in;
      scoresType = tensorOf(x);
      continue;
    }
    if (auto max = dyn_cast_or_null<MaxOp>(def)) {
      auto fill = getSplatFloat(max.getRhs());
      if (!fill || !isMaskFill(*fill) || !std::isfinite(*fill) ||
          tensorOf(max.getLhs()) != scoresType)
        return std::nullopt;
      clamped = true;
      x = max.getLhs();
      continue;
    }
    if (auto where = dyn_cast_or_null<WhereOp>(def)) {
      Value t = where.getOnTrue(), f = where.getOnFalse();
      if (auto fill = getSplatFloat(t);
          fill && isMaskFill(*fill) && tensorOf(f) == scoresType) {
        m.masks.push_back({where.getCondition(), /*negate=*/true, false, scoresType});
        x = f;
        continue;
      }
      if (auto fill = getSplatFloat(f);
          fill && isMaskFill(*fill) && tensorOf(t) == scoresType) {
        m.masks.push_back({where.getCondition(), /*negate=*/false, false, scoresType});
        x = t;
        continue;
      }
      return std::nullopt;
    }
    if (auto add = dyn_cast_or_null<AddOp>(def)) {
      Value a = add.getLhs(), b = add.getRhs();
      // The scores operand has the full shape and leads to a matmul; the mask is a
      // constant of the model.
      auto leadsToScores = [&](Value s) {
        double ignored = 1;
        Value base = peelScaleAndReshapes(s, ignored);
        return tensorOf(s) == scoresType &&
               (base.getDefiningOp<MatMulOp>() || base.getDefiningOp<WhereOp>() ||
                base.getDefiningOp<AddOp>());
      };
      if (leadsToScores(a) && isConstantOfModel(b)) {
        m.masks.push_back({b, false, /*additive=*/true, scoresType});
        x = a;
        continue;
      }
      if (leadsToScores(b) && isConstantOfModel(a)) {
        m.masks.push_back({a, false, /*additive=*/true, scoresType});
        x = b;
        continue;
      }
      return std::nullopt;
    }
    break;
  }
  if (clamped && !llvm::all_of(m.masks, [](const Mask &mask) {
        return mask.additive && isFiniteConstant(mask.value);
      }))
    return std::nullopt;
  x = peelScaleAndReshapes(x, m.scale);
  m.scores = x.getDefiningOp<MatMulOp>();
  if (!m.scores)
    return std::nullopt;
  m.query = peelScale(m.scores.getLhs(), m.scale);
  m.keyT = peelScale(m.scores.getRhs(), m.scale);
  return m;
}

/// The value before reshapes and unsqueezes that only add leading unit dims, and before
/// multiplications by exactly 1 (torch.baddbmm's beta).
Value stripLeadingUnitDims(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (auto mul = dyn_cast<MulOp>(def)) {
      auto one = evaluateScalar(mul.getRhs());
      if (!one || *one != 1 || mul.getLhs().getType() != v.getType())
        break;
      v = mul.getLhs();
      continue;
    }
    if (!isa<ReshapeOp, UnsqueezeOp>(def))
      break;
    Value in = def->getOperand(0);
    auto it = tensorOf(in), ot = tensorOf(v);
    if (it.getRank() < 2 || it.getNumElements() != ot.getNumElements() ||
        it.getShape().take_back(2) != ot.getShape().take_back(2))
      break;
    v = in;
  }
  return v;
}

/// Whether `v` is a top-left crop (slices starting at 0 with step 1, leading unit dims
/// added or removed, float casts) of a parameter that the importer found to be ones on
/// and below the diagonal and zeros above (GPT-2's `attn.bias` buffer): the crop holds
/// the same pattern, 1 where key j <= query i.
bool isLowerTriangularOnesCrop(Value v) {
  while (true) {
    v = stripLeadingUnitDims(v);
    if (auto slice = v.getDefiningOp<SliceOp>()) {
      if (!llvm::all_of(slice.getStarts(), [](int64_t x) { return x == 0; }) ||
          !llvm::all_of(slice.getSteps(), [](int64_t x) { return x == 1; }))
        return false;
      v = slice.getInput();
      continue;
    }
    if (auto cast = v.getDefiningOp<CastOp>();
        cast && isa<FloatType>(tensorOf(cast.getInput()).getElementType())) {
      v = cast.getInput();
      continue;
    }
    break;
  }
  auto ref = v.getDefiningOp<ParamRefOp>();
  if (!ref)
    return false;
  auto param = SymbolTable::lookupNearestSymbolFrom<ParameterOp>(ref, ref.getNameAttr());
  return param && param->hasAttr(kLowerTriangularOnesAttr);
}

/// Whether a boolean mask computed from a lower-triangular-ones buffer X is the causal
/// pattern: `X == 0` marks the masked positions (where(X == 0, fill, scores)), a cast of
/// X to i1 the attended ones (where(bool(X), scores, fill)).
bool isCausalFromBuffer(const Mask &mask) {
  Value cond = stripLeadingUnitDims(mask.value);
  if (auto eq = cond.getDefiningOp<EqualOp>()) {
    for (auto [x, zero] :
         {std::pair{eq.getLhs(), eq.getRhs()}, {eq.getRhs(), eq.getLhs()}})
      if (auto z = getSplatFloat(zero); z && *z == 0 && isLowerTriangularOnesCrop(x))
        return mask.negate;
    return false;
  }
  if (auto cast = cond.getDefiningOp<CastOp>())
    return !mask.negate && isLowerTriangularOnesCrop(cast.getInput());
  return false;
}

/// Whether the mask is a constant equal to the causal (lower-triangular, top-left
/// aligned) pattern over its last two dims, which must be [T, S].
bool isCausalConstant(const Mask &mask, int64_t t, int64_t s) {
  {
    auto mt = tensorOf(mask.value);
    if (!mask.additive && mt.getRank() >= 2 && mt.getDimSize(mt.getRank() - 2) == t &&
        mt.getDimSize(mt.getRank() - 1) == s && mt.getNumElements() == t * s &&
        isCausalFromBuffer(mask))
      return true;
  }
  Value value = stripLeadingUnitDims(mask.value);
  if (auto trilu = value.getDefiningOp<TriluOp>()) {
    // torch.triu(full((T, S), -inf), diagonal=1) (nn.Transformer's square subsequent
    // mask).
    auto fill = getSplatFloat(trilu.getInput());
    auto tt = tensorOf(value);
    return mask.additive && fill && isMaskFill(*fill) && trilu.getUpper() &&
           trilu.getK() == 1 && tt.getRank() == 2 && tt.getDimSize(0) == t &&
           tt.getDimSize(1) == s;
  }
  auto constant = value.getDefiningOp<ConstantOp>();
  if (!constant)
    return false;
  auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
  auto type = tensorOf(value);
  if (!dense || type.getRank() < 2 || type.getDimSize(type.getRank() - 2) != t ||
      type.getDimSize(type.getRank() - 1) != s)
    return false;
  int64_t n = type.getNumElements();
  if (n != t * s) // leading dims of 1 only: one [T, S] pattern
    return false;
  if (mask.additive) {
    auto values = dense.tryGetValues<APFloat>();
    if (failed(values))
      return false;
    int64_t idx = 0;
    for (APFloat v : *values) {
      int64_t i = idx / s, j = idx % s;
      double d = v.convertToDouble();
      if (j <= i ? d != 0 : !isMaskFill(d))
        return false;
      ++idx;
    }
    return true;
  }
  auto values = dense.tryGetValues<bool>();
  if (failed(values))
    return false;
  int64_t idx = 0;
  for (bool v : *values) {
    int64_t i = idx / s, j = idx % s;
    if ((v != mask.negate) != (j <= i))
      return false;
    ++idx;
  }
  return true;
}

/// k from kᵀ: the transpose's input when kᵀ is a transpose of it, else a new transpose.
Value getKey(OpBuilder &b, Location loc, Value keyT) {
  auto type = tensorOf(keyT);
  int64_t r = type.getRank();
  SmallVector<int64_t> swapLast;
  for (int64_t i = 0; i < r; ++i)
    swapLast.push_back(i < r - 2 ? i : (i == r - 2 ? r - 1 : r - 2));
  Value source = keyT;
  SmallVector<int64_t> perm = swapLast;
  if (auto tr = keyT.getDefiningOp<TransposeOp>()) {
    // k = transpose(x, p) followed by the last-two swap: one transpose of x.
    ArrayRef<int64_t> p = tr.getPerm();
    source = tr.getInput();
    for (int64_t i = 0; i < r; ++i)
      perm[i] = p[swapLast[i]];
  }
  if (llvm::equal(perm, llvm::seq<int64_t>(0, r)))
    return source;
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < r; ++i)
    shape.push_back(tensorOf(source).getDimSize(perm[i]));
  return TransposeOp::create(b, loc, type.clone(shape), source,
                             b.getDenseI64ArrayAttr(perm));
}

/// For heads repeated for grouped-query attention (Llama's repeat_kv: x[:, :, None]
/// expanded to [.., Hkv, n, S, D] and reshaped to [.., Hkv * n, S, D]), the source
/// [.., Hkv, 1, S, D] and n; else null.
std::pair<Value, int64_t> getRepeatedHeads(Value x) {
  auto reshape = x.getDefiningOp<ReshapeOp>();
  if (!reshape)
    return {};
  auto expand = reshape.getInput().getDefiningOp<ExpandOp>();
  if (!expand)
    return {};
  auto out = tensorOf(x), rep = tensorOf(expand.getResult());
  auto src = tensorOf(expand.getInput());
  int64_t r = out.getRank();
  if (r < 3 || rep.getRank() != r + 1 || src.getRank() != r + 1)
    return {};
  ArrayRef<int64_t> o = out.getShape(), e = rep.getShape(), i = src.getShape();
  // [.., Hkv, n, S, D] -> [.., Hkv * n, S, D], from [.., Hkv, 1, S, D].
  if (o.take_front(r - 3) != e.take_front(r - 3) || o.take_back(2) != e.take_back(2) ||
      e[r - 3] * e[r - 2] != o[r - 3] || i[r - 2] != 1 ||
      i.take_front(r - 2) != e.take_front(r - 2) || i.take_back(2) != e.take_back(2))
    return {};
  return {expand.getInput(), e[r - 2]};
}

/// Erases `root` if dead, then whatever became dead above it (the unfused ops).
void eraseDeadChain(Operation *root) {
  SmallVector<Operation *> work{root};
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    if (!op->use_empty() || !(isMemoryEffectFree(op) || isa<DropoutOp>(op)))
      continue;
    llvm::SetVector<Operation *> defs;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        defs.insert(def);
    op->erase();
    work.append(defs.begin(), defs.end());
  }
}

struct FuseAttentionPass : public ds::impl::FuseAttentionPassBase<FuseAttentionPass> {
  using Base::Base;

  /// Fuses the attention whose softmax is `softmax`; false when it does not match.
  bool fuse(SoftmaxOp softmax) {
    auto probsType = tensorOf(softmax.getResult());
    int64_t rank = probsType.getRank();
    if (rank < 3 || int64_t(softmax.getAxis()) != rank - 1 || !softmax->hasOneUse())
      return false;
    // softmax -> [dropout ratio 0] -> matmul with v.
    Operation *user = *softmax->getUsers().begin();
    Value probs = softmax.getResult();
    if (auto dropout = dyn_cast<DropoutOp>(user)) {
      if (dropout.getRatio().convertToFloat() != 0 || !dropout.getMask().use_empty() ||
          !dropout.getResult().hasOneUse())
        return false;
      probs = dropout.getResult();
      user = *dropout.getResult().getUsers().begin();
    }
    auto pv = dyn_cast<MatMulOp>(user);
    if (!pv || pv.getLhs() != probs)
      return false;
    Value v = pv.getRhs();
    auto vt = tensorOf(v);
    if (vt.getRank() != rank ||
        vt.getShape().drop_back(2) != probsType.getShape().drop_back(2))
      return false;

    std::optional<AttentionMatch> m = matchScores(softmax.getInput());
    if (!m || !(m->scale > 0))
      return false;
    auto qt = tensorOf(m->query), kTt = tensorOf(m->keyT);
    int64_t t = probsType.getDimSize(rank - 2), s = probsType.getDimSize(rank - 1);
    if (qt.getRank() != rank || kTt.getRank() != rank ||
        qt.getShape().drop_back(2) != probsType.getShape().drop_back(2) ||
        kTt.getShape().drop_back(2) != probsType.getShape().drop_back(2) ||
        qt.getElementType() != probsType.getElementType() ||
        vt.getElementType() != probsType.getElementType())
      return false;

    bool causal = false;
    SmallVector<Mask> masks;
    for (const Mask &mask : m->masks) {
      bool atProbs = mask.scoresType.getShape() == probsType.getShape();
      if (!causal && atProbs && isCausalConstant(mask, t, s))
        causal = true;
      else
        masks.push_back(mask);
    }
    if (masks.size() > 1)
      return false;
    if (!masks.empty()) {
      auto mt = tensorOf(masks[0].value);
      // A mask applied before a reshape of the scores is broadcast to their shape there,
      // then reshaped as they are.
      if (masks[0].scoresType.getShape() != probsType.getShape())
        mt = mt.clone(probsType.getShape());
      SmallVector<int64_t> joint;
      if (mt.getRank() > rank ||
          !OpTrait::util::getBroadcastedShape(mt.getShape(), probsType.getShape(),
                                              joint) ||
          ArrayRef<int64_t>(joint) != probsType.getShape() ||
          (masks[0].additive && mt.getElementType() != qt.getElementType()))
        return false;
    }

    OpBuilder b(pv);
    Location loc = pv.getLoc();
    Value maskValue;
    if (!masks.empty()) {
      maskValue = masks[0].value;
      RankedTensorType at = masks[0].scoresType;
      if (at.getShape() != probsType.getShape()) {
        auto mt = tensorOf(maskValue);
        if (mt.getShape() != at.getShape())
          maskValue = ExpandOp::create(b, loc, mt.clone(at.getShape()), maskValue);
        maskValue = ReshapeOp::create(b, loc, mt.clone(probsType.getShape()), maskValue);
      }
      if (masks[0].negate) {
        auto i1 = b.getI1Type();
        Value no = ConstantOp::create(
            b, loc,
            DenseElementsAttr::get(RankedTensorType::get({}, i1), b.getBoolAttr(false)));
        maskValue = EqualOp::create(b, loc, maskValue, no);
      }
    }
    Value key = getKey(b, loc, m->keyT);
    // Grouped-query heads: read k and v before their repetition (the kernel maps query
    // head h to key head h / n), so neither the repeated copies nor their gradients
    // exist.
    auto [keySource, keyRepeat] = getRepeatedHeads(key);
    auto [valueSource, valueRepeat] = getRepeatedHeads(v);
    if (keySource && valueSource && keyRepeat == valueRepeat) {
      auto unrepeat = [&](Value source) {
        auto st = tensorOf(source);
        SmallVector<int64_t> shape(st.getShape());
        shape.erase(shape.end() - 3); // the unit dim before [S, D]
        return ReshapeOp::create(b, loc, st.clone(shape), source).getResult();
      };
      key = unrepeat(keySource);
      v = unrepeat(valueSource);
      ++numGroupedQuery;
    }
    auto lseType = RankedTensorType::get(qt.getShape().drop_back(),
                                         getAttentionLseElementType(qt.getElementType()));
    auto attention = AttentionOp::create(
        b, loc, tensorOf(pv.getResult()), lseType, m->query, key, v, maskValue,
        b.getF32FloatAttr(float(m->scale)), b.getBoolAttr(causal), b.getF32FloatAttr(0));
    pv.getResult().replaceAllUsesWith(attention.getOutput());
    eraseDeadChain(pv);
    ++numFused;
    if (causal)
      ++numCausal;
    return true;
  }

  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      SmallVector<SoftmaxOp> softmaxes;
      func.walk([&](SoftmaxOp op) { softmaxes.push_back(op); });
      for (SoftmaxOp op : softmaxes)
        (void)fuse(op);
    });
  }
};
} // namespace
