// Folds the kernels around a GEMM into the gemm kernel: transposes of its operands and of
// its result into the trans_a/trans_b flags, a bias or residual add and a gradient
// accumulation into its c operand.
#include "BufferAccesses.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <optional>

#define DEBUG_TYPE "ds-fuse-gemm"

namespace mlir::dsrt {
#define GEN_PASS_DEF_FUSEGEMMPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {

bool isOutputOf(KernelOp k, Value v) { return llvm::is_contained(k.getOutputs(), v); }

bool isTranspose2D(KernelOp k) {
  if (k.getKernel() != "transpose" || k.getInputs().size() != 1 || k.getOutputs().size() != 1 ||
      memrefOf(k.getInputs()[0]).getRank() != 2)
    return false;
  auto perm = dyn_cast_or_null<DenseI64ArrayAttr>(k.getAttrs().get("perm"));
  return perm && perm.asArrayRef() == ArrayRef<int64_t>{1, 0};
}

bool isFloat(Value v) { return isa<FloatType>(memrefOf(v).getElementType()); }

bool boolAttr(KernelOp k, StringRef name) {
  auto a = dyn_cast_or_null<BoolAttr>(k.getAttrs().get(name));
  return a && a.getValue();
}

double floatAttr(KernelOp k, StringRef name, double dflt) {
  if (auto a = dyn_cast_or_null<FloatAttr>(k.getAttrs().get(name)))
    return a.getValueAsDouble();
  return dflt;
}

/// The parts of a gemm kernel (the lowering spells out every attribute).
struct Gemm {
  Value a, b, c;
  bool transA = false, transB = false;
  double alpha = 1, beta = 1;
  Value out;

  static std::optional<Gemm> of(KernelOp k) {
    if (k.getKernel() != "gemm" || k.getStream() != Stream::compute ||
        k.getOutputs().size() != 1 || k.getInputs().size() < 2)
      return std::nullopt;
    Gemm g;
    g.a = k.getInputs()[0];
    g.b = k.getInputs()[1];
    if (k.getInputs().size() == 3)
      g.c = k.getInputs()[2];
    g.transA = boolAttr(k, "trans_a");
    g.transB = boolAttr(k, "trans_b");
    g.alpha = floatAttr(k, "alpha", 1.0);
    g.beta = floatAttr(k, "beta", 1.0);
    g.out = k.getOutputs()[0];
    return g;
  }

  int64_t rows() const { return memrefOf(out).getDimSize(0); }
  int64_t cols() const { return memrefOf(out).getDimSize(1); }

  /// The kernel, before `at`; `at`'s location.
  KernelOp build(Operation *at) const {
    OpBuilder b(at);
    auto f32 = [&](double v) { return b.getF32FloatAttr(float(v)); };
    auto attrs = b.getDictionaryAttr({b.getNamedAttr("alpha", f32(alpha)),
                                      b.getNamedAttr("beta", f32(beta)),
                                      b.getNamedAttr("trans_a", b.getBoolAttr(transA)),
                                      b.getNamedAttr("trans_b", b.getBoolAttr(transB))});
    SmallVector<Value> ins{a, this->b};
    if (c)
      ins.push_back(c);
    return KernelOp::create(b, at->getLoc(), b.getStringAttr("gemm"), ins, ValueRange{out},
                            attrs, Stream::compute);
  }
};

class GemmFuser {
public:
  GemmFuser(Block &block, const FuseGemmPassOptions &options)
      : block(block), options(options) {}

  void run() {
    if (options.matmuls)
      forEachKernel([&](KernelOp k) { return matmulToGemm(k); });
    if (options.transposes) {
      forEachKernel([&](KernelOp k) { return foldOperandTransposes(k); });
      forEachKernel([&](KernelOp k) { return foldResultTranspose(k); });
    }
    if (options.adds)
      forEachKernel([&](KernelOp k) { return foldAdd(k); });
  }

  int64_t matmuls = 0, transposes = 0, adds = 0;

private:
  Block &block;
  const FuseGemmPassOptions &options;

  template <typename Fn> void forEachKernel(Fn fn) {
    SmallVector<KernelOp> kernels;
    for (Operation &op : block)
      if (auto k = dyn_cast<KernelOp>(op))
        kernels.push_back(k);
    llvm::SmallPtrSet<Operation *, 16> erased;
    for (KernelOp k : kernels)
      if (!erased.contains(k))
        for (Operation *e : fn(k))
          erased.insert(e);
  }

  /// matmul(a, b) with a 2-D b and an a of rank >= 2 (the batch folded into the rows) is
  /// the gemm op(a) b over views; the same product, the same library call.
  SmallVector<Operation *> matmulToGemm(KernelOp k) {
    if (k.getKernel() != "matmul" || k.getStream() != Stream::compute ||
        k.getInputs().size() != 2 || k.getOutputs().size() != 1)
      return {};
    Value a = k.getInputs()[0], b = k.getInputs()[1], r = k.getOutputs()[0];
    MemRefType at = memrefOf(a), bt = memrefOf(b), rt = memrefOf(r);
    if (bt.getRank() != 2 || at.getRank() < 2 || !isFloat(a) ||
        at.getElementType() != rt.getElementType() || bt.getElementType() != rt.getElementType())
      return {};
    int64_t k0 = at.getShape().back(), n = bt.getDimSize(1);
    int64_t m = at.getNumElements() / std::max<int64_t>(k0, 1);
    if (k0 != bt.getDimSize(0) || rt.getNumElements() != m * n || k0 == 0)
      return {};
    Gemm g;
    g.a = reshaped(a, {m, k0}, k);
    g.b = b;
    g.out = reshaped(r, {m, n}, k);
    g.build(k);
    k.erase();
    ++matmuls;
    return {k};
  }

  /// gemm(transpose(s), ...) reads s with the flag flipped; the transpose goes when the
  /// gemms were its only readers.
  SmallVector<Operation *> foldOperandTransposes(KernelOp k) {
    std::optional<Gemm> g = Gemm::of(k);
    if (!g || g->a == g->b)
      return {};
    bool changed = false;
    SmallVector<Value> dropped;
    for (auto [operand, flag] : {std::pair{&g->a, &g->transA}, std::pair{&g->b, &g->transB}}) {
      std::optional<Accesses> acc = transientAccesses(*operand);
      if (!acc || acc->writers.size() != 1 || !acc->views.empty())
        continue;
      KernelOp t = acc->writers[0];
      if (!isTranspose2D(t) || t->getBlock() != &block || !t->isBeforeInBlock(k) ||
          !isOutputOf(t, *operand))
        continue;
      Value source = t.getInputs()[0];
      if (!unwrittenBetween(t, k, source))
        continue;
      dropped.push_back(*operand);
      *operand = source;
      *flag = !*flag;
      changed = true;
    }
    if (!changed)
      return {};
    g->build(k);
    k.erase();
    SmallVector<Operation *> erased{k};
    for (Value v : dropped) {
      std::optional<Accesses> acc = transientAccesses(v);
      if (acc && acc->readers.empty() && acc->writers.size() == 1) {
        erased.push_back(acc->writers[0]);
        acc->writers[0].erase();
        eraseIfDead(v);
      }
      ++transposes;
    }
    return erased;
  }

  /// transpose(gemm(a, b)) is gemm(b, a) with both flags flipped: (op(a) op(b))^T =
  /// op(b)^T op(a)^T.
  SmallVector<Operation *> foldResultTranspose(KernelOp t) {
    if (!isTranspose2D(t))
      return {};
    Value x = t.getInputs()[0];
    std::optional<Accesses> acc = transientAccesses(x);
    if (!acc || acc->writers.size() != 1 || !acc->views.empty())
      return {};
    KernelOp k = acc->writers[0];
    std::optional<Gemm> g = Gemm::of(k);
    if (!g || g->c || g->out != x || !isPrivateIntermediate(x, k, t) ||
        !unwrittenBetween(k, t, ValueRange{g->a, g->b}))
      return {};
    Gemm swapped = *g;
    swapped.a = g->b;
    swapped.b = g->a;
    swapped.transA = !g->transB;
    swapped.transB = !g->transA;
    swapped.out = t.getOutputs()[0];
    AliasKey out = getAliasKey(swapped.out);
    if (out == getAliasKey(swapped.a) || out == getAliasKey(swapped.b))
      return {};
    swapped.build(t);
    t.erase();
    k.erase();
    eraseIfDead(x);
    ++transposes;
    return {t, k};
  }

  /// add(gemm(a, b), c) (either order) with c broadcast along the rows (a bias) or of the
  /// result's shape (a residual, or the gradient the product accumulates into, then
  /// written in place) is gemm(a, b, c) with beta 1.
  SmallVector<Operation *> foldAdd(KernelOp add) {
    if (add.getKernel() != "add" || add.getStream() != Stream::compute ||
        add.getInputs().size() != 2 || add.getOutputs().size() != 1)
      return {};
    Value out = add.getOutputs()[0];
    MemRefType ot = memrefOf(out);
    for (int side = 0; side < 2; ++side) {
      Value product = add.getInputs()[side], other = add.getInputs()[1 - side];
      if (memrefOf(product) != ot || memrefOf(other).getElementType() != ot.getElementType() ||
          getAliasKey(product) == getAliasKey(other))
        continue;
      std::optional<Accesses> acc = transientAccesses(product);
      if (!acc || acc->writers.size() != 1 || acc->readers.size() != 1)
        continue;
      KernelOp k = acc->writers[0];
      std::optional<Gemm> g = Gemm::of(k);
      if (!g || g->c || k->getBlock() != &block || !k->isBeforeInBlock(add) ||
          getAliasKey(g->out) != getAliasKey(product))
        continue;
      int64_t m = g->rows(), n = g->cols();
      if (!onDevice(other, add) || !onDevice(out, add))
        continue;
      // c must be a global's bytes (a bias, the gradient accumulated into): a transient c
      // (a ZeRO-3 gathered bias, a residual) would be kept alive until the product, which
      // raised a stage-3 arena by 45% (test/Zero/memory-stage3.test's model).
      if (!getAliasRoot(other).getDefiningOp<ParamOp>() && !isa<BlockArgument>(getAliasRoot(other)))
        continue;
      if (!isBias(memrefOf(other), ot, n))
        continue;
      // The fused gemm runs where the product was computed when c is ready there and
      // nothing touches the add's result in between (the buffers then live as before,
      // minus the product); else where the add was, if a and b are still there.
      Operation *at = add;
      if (unwrittenBetween(k, add, ValueRange{other}) && untouchedBetween(k, add, out) &&
          definableBefore(other, k) && definableBefore(out, k))
        at = k;
      else if (!unwrittenBetween(k, add, ValueRange{g->a, g->b}))
        continue;
      // The result may be c's bytes (accumulation), never a's or b's.
      AliasKey outKey = getAliasKey(out);
      if (outKey == getAliasKey(g->a) || outKey == getAliasKey(g->b))
        continue;
      if (outKey == getAliasKey(other) && !(memrefOf(other) == ot && sameBytes(other, out)))
        continue;
      if (at == k.getOperation()) {
        hoistBefore(other, k);
        hoistBefore(out, k);
      }
      Gemm fused = *g;
      fused.c = reshaped(other, memrefOf(other) == ot ? SmallVector<int64_t>{m, n}
                                                      : SmallVector<int64_t>{n},
                         at);
      fused.beta = 1.0;
      fused.out = reshaped(out, {m, n}, at);
      fused.build(at);
      add.erase();
      k.erase();
      eraseIfDead(product);
      ++adds;
      return {add, k};
    }
    return {};
  }

  /// Whether a `t` added to a product of shape `out` ([m, n] as a matrix) can be gemm's c:
  /// a whole matrix (viewed as [m, n]) or a row of n (every other dim 1, viewed as [n]).
  static bool isBias(MemRefType t, MemRefType out, int64_t n) {
    if (t == out)
      return true;
    return t.getRank() > 0 && t.getRank() <= out.getRank() && t.getShape().back() == n &&
           llvm::all_of(t.getShape().drop_back(), [](int64_t d) { return d == 1; });
  }
};

struct FuseGemmPass : dsrt::impl::FuseGemmPassBase<FuseGemmPass> {
  using Base::Base;

  void runOnOperation() override {
    FuseGemmPassOptions opts{matmuls, transposes, adds};
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      for (Block &block : func.getBody()) {
        GemmFuser fuser(block, opts);
        fuser.run();
        numMatmuls += fuser.matmuls;
        numTransposes += fuser.transposes;
        numAdds += fuser.adds;
      }
    }
  }
};
} // namespace
