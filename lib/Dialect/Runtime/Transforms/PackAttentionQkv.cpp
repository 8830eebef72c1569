// Attention kernels read q, k and v where the fused qkv projection wrote them (no split)
// and their gradients write one packed dqkv for the projection's gemms (no concat).
#include "BufferAccesses.h"

#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "ds-pack-attention-qkv"

namespace mlir::dsrt {
#define GEN_PASS_DEF_PACKATTENTIONQKVPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {

/// `k` is kernel `name` on the compute stream with these operand counts.
bool isKernel(KernelOp k, StringRef name, ArrayRef<size_t> inputs, size_t outputs) {
  return k && k.getKernel() == name && k.getStream() == Stream::compute &&
         llvm::is_contained(inputs, k.getInputs().size()) &&
         k.getOutputs().size() == outputs;
}

/// Whether `k`'s attributes are layout bshd without dropout (what the packed kernels
/// run).
bool isBshdWithoutDropout(KernelOp k) {
  DictionaryAttr attrs = k.getAttrs();
  auto layout = dyn_cast_or_null<StringAttr>(attrs.get("layout"));
  if (!layout || layout.getValue() != "bshd")
    return false;
  Attribute dropout = attrs.get("dropout");
  if (!dropout)
    return true;
  auto f = dyn_cast<FloatAttr>(dropout);
  return f && f.getValueAsDouble() == 0;
}

/// The packed kernels' attributes: scale and causal of `k` (layout and dropout dropped).
DictionaryAttr packedAttrs(KernelOp k) {
  NamedAttrList attrs;
  for (StringRef name : {"scale", "causal"})
    if (Attribute a = k.getAttrs().get(name))
      attrs.set(name, a);
  return attrs.getDictionary(k.getContext());
}

/// The last dim of a memref type.
int64_t lastDim(Value v) { return memrefOf(v).getShape().back(); }

/// Whether `k` has exactly one `axis` attribute equal to the last dim of `v`'s rank.
bool alongLastAxis(KernelOp k, Value v) {
  auto axis = dyn_cast_or_null<IntegerAttr>(k.getAttrs().get("axis"));
  return axis && axis.getInt() == memrefOf(v).getRank() - 1;
}

/// One forward attention kernel and the attention_grad kernels that read its lse.
struct Group {
  KernelOp forward;
  SmallVector<KernelOp> grads;
};

/// A grad's dq, dk, dv joined by one concat into `packed` (a device transient only the
/// concat writes), which the packed grad writes instead.
struct PackedGrad {
  KernelOp grad, concat;
  Value packed;
};

class Packer {
public:
  int64_t forwards = 0, grads = 0;

  void run(Block &block) {
    SmallVector<KernelOp> attention;
    for (Operation &op : block)
      if (auto k = dyn_cast<KernelOp>(op); k && k.getKernel() == "attention")
        attention.push_back(k);
    for (KernelOp f : attention)
      pack(f);
  }

private:
  /// The kernels reading `f`'s lse as attention_grad (same q, k, v and out), or nullopt
  /// when one of them is not one the packed grad runs.
  std::optional<Group> groupOf(KernelOp f) {
    Group g{f, {}};
    Value lse = f.getOutputs()[1];
    for (Operation *user : lse.getUsers()) {
      auto k = dyn_cast<KernelOp>(user);
      if (!k || k.getKernel() != "attention_grad")
        continue;
      if (!isKernel(k, "attention_grad", {6, 7}, 3) || !isBshdWithoutDropout(k) ||
          k.getInputs()[5] != lse || k.getInputs()[4] != f.getOutputs()[0] ||
          k->getBlock() != f->getBlock() || !f->isBeforeInBlock(k))
        return std::nullopt;
      for (int i = 0; i < 3; ++i)
        if (k.getInputs()[i + 1] != f.getInputs()[i])
          return std::nullopt;
      if (!llvm::is_contained(g.grads, k))
        g.grads.push_back(k);
    }
    return g;
  }

  /// The split whose three equal parts along the last axis are q, k and v of `g`, in that
  /// order, read (through views) only as q, k, v by the group's kernels; null otherwise.
  KernelOp splitOf(Group &g) {
    KernelOp split;
    auto q = memrefOf(g.forward.getInputs()[0]);
    for (int i = 0; i < 3; ++i) {
      Value operand = g.forward.getInputs()[i];
      // q, k and v alike: [B, S, H, D] of one element type.
      if (memrefOf(operand) != q || q.getRank() != 4)
        return {};
      std::optional<Accesses> acc = transientAccesses(operand);
      if (!acc || acc->writers.size() != 1)
        return {};
      KernelOp s = acc->writers[0];
      if (!isKernel(s, "split", {1}, 3) || (split && s != split) ||
          getAliasRoot(s.getOutputs()[i]) != getAliasRoot(operand))
        return {};
      split = s;
      Value root = getAliasRoot(operand);
      for (KernelOp r : acc->readers) {
        if (r != g.forward && !llvm::is_contained(g.grads, r))
          return {};
        if (r->getBlock() != s->getBlock() || !s->isBeforeInBlock(r))
          return {};
        // Only as q, k, v: operand i of the forward, i + 1 of a grad.
        unsigned expected = r == g.forward ? i : i + 1;
        for (OpOperand &use : r->getOpOperands())
          if (getAliasRoot(use.get()) == root && use.getOperandNumber() != expected)
            return {};
      }
    }
    Value x = split.getInputs()[0];
    if (rootsOf(split.getOutputs()).size() != 3)
      return {};
    int64_t n = q.getShape()[2] * q.getShape()[3];
    auto sizes = dyn_cast_or_null<DenseI64ArrayAttr>(split.getAttrs().get("sizes"));
    if (!alongLastAxis(split, x) || !sizes ||
        sizes.asArrayRef() != ArrayRef<int64_t>{n, n, n} || lastDim(x) != 3 * n ||
        memrefOf(x).getElementType() != q.getElementType() || !onDevice(x, split))
      return {};
    return split;
  }

  /// The concat that joins `grad`'s dq, dk, dv (in that order, each read by it alone)
  /// along the last axis into a device transient that only it writes, which the packed
  /// grad can write before the concat's place; nullopt otherwise.
  std::optional<PackedGrad> concatOf(KernelOp grad, int64_t n) {
    KernelOp concat;
    for (int i = 0; i < 3; ++i) {
      std::optional<Accesses> acc = transientAccesses(grad.getOutputs()[i]);
      if (!acc || acc->writers.size() != 1 || acc->writers[0] != grad ||
          acc->readers.size() != 1)
        return std::nullopt;
      KernelOp c = acc->readers[0];
      if (!isKernel(c, "concat", {3}, 1) || (concat && c != concat) ||
          getAliasRoot(c.getInputs()[i]) != getAliasRoot(grad.getOutputs()[i]))
        return std::nullopt;
      concat = c;
    }
    Value packed = concat.getOutputs()[0];
    if (rootsOf(grad.getOutputs()).size() != 3 || !alongLastAxis(concat, packed) ||
        lastDim(packed) != 3 * n || lastDim(concat.getInputs()[0]) != n ||
        concat->getBlock() != grad->getBlock() || !grad->isBeforeInBlock(concat))
      return std::nullopt;
    std::optional<Accesses> acc = transientAccesses(packed);
    if (!acc || acc->writers.size() != 1 || acc->writers[0] != concat ||
        !untouchedBetween(grad, concat, packed))
      return std::nullopt;
    return PackedGrad{grad, concat, packed};
  }

  void pack(KernelOp f) {
    if (!isKernel(f, "attention", {3, 4}, 2) || !isBshdWithoutDropout(f))
      return;
    std::optional<Group> g = groupOf(f);
    if (!g)
      return;
    KernelOp split = splitOf(*g);
    if (!split)
      return;
    Value x = split.getInputs()[0];
    // x is read in place of q, k, v until the group's last kernel.
    Operation *last = f;
    for (KernelOp k : g->grads)
      if (last->isBeforeInBlock(k))
        last = k;
    if (!unwrittenBetween(split, last, ValueRange{x}))
      return;
    auto q = memrefOf(f.getInputs()[0]);
    int64_t n = q.getShape()[2] * q.getShape()[3];
    SmallVector<PackedGrad> packedGrads;
    for (KernelOp grad : g->grads) {
      std::optional<PackedGrad> p = concatOf(grad, n);
      if (!p || getAliasKey(p->packed) == getAliasKey(x))
        return;
      packedGrads.push_back(*p);
    }

    // Every condition held: rewrite. qkv [B, S, 3, H, D] is a view of x.
    ArrayRef<int64_t> s = q.getShape();
    SmallVector<int64_t> packedShape{s[0], s[1], 3, s[2], s[3]};
    Value qkv = reshaped(x, packedShape, f);
    OpBuilder b(f);
    SmallVector<Value> ins{qkv};
    if (f.getInputs().size() > 3)
      ins.push_back(f.getInputs()[3]);
    KernelOp::create(b, f.getLoc(), b.getStringAttr("packed_attention"), ins,
                     f.getOutputs(), packedAttrs(f), Stream::compute);
    for (PackedGrad &p : packedGrads) {
      KernelOp grad = p.grad;
      Value root = getAliasRoot(p.packed);
      hoistBefore(root, grad);
      Value dqkv = reshaped(root, packedShape, grad);
      b.setInsertionPoint(grad);
      SmallVector<Value> gradIns{grad.getInputs()[0], qkv, grad.getInputs()[4],
                                 grad.getInputs()[5]};
      if (grad.getInputs().size() > 6)
        gradIns.push_back(grad.getInputs()[6]);
      KernelOp::create(b, grad.getLoc(), b.getStringAttr("packed_attention_grad"),
                       gradIns, ValueRange{dqkv}, packedAttrs(grad), Stream::compute);
      SmallVector<Value> partials = rootsOf(grad.getOutputs());
      p.concat.erase();
      grad.erase();
      for (Value v : partials)
        eraseIfDead(v);
      ++grads;
    }
    f.erase();
    SmallVector<Value> parts = rootsOf(split.getOutputs());
    split.erase();
    for (Value v : parts)
      eraseIfDead(v);
    ++forwards;
  }

  /// The distinct alias roots of `values` (each erased once, with its views).
  static SmallVector<Value> rootsOf(ValueRange values) {
    SmallVector<Value> roots;
    for (Value v : values)
      if (!llvm::is_contained(roots, getAliasRoot(v)))
        roots.push_back(getAliasRoot(v));
    return roots;
  }
};

struct PackAttentionQkvPass
    : public dsrt::impl::PackAttentionQkvPassBase<PackAttentionQkvPass> {
  using Base::Base;
  void runOnOperation() override {
    Packer packer;
    getOperation().walk([&](func::FuncOp func) {
      for (Block &block : func.getBody())
        packer.run(block);
    });
    numForwards += packer.forwards;
    numGrads += packer.grads;
  }
};
} // namespace
