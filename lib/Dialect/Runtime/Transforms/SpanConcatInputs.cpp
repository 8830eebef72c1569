// A concat's consecutive inputs that are whole globals are read as one span of those
// globals, laid out back to back; a concat of one span is no copy at all.
#include "BufferAccesses.h"

#include "ds/Dialect/Runtime/IR/ByteSize.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#define DEBUG_TYPE "ds-span-concat-inputs"

namespace mlir::dsrt {
#define GEN_PASS_DEF_SPANCONCATINPUTSPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
GlobalOp wholeGlobal(Value v, SymbolTable &symbols) {
  return wholeGlobalOf(v, symbols, /*throughViews=*/true);
}

struct SpanConcatInputsPass : dsrt::impl::SpanConcatInputsPassBase<SpanConcatInputsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    next.clear(); // one pass instance may run on several modules
    previous.clear();
    SymbolTable symbols(module);
    // A global in a span already keeps its place.
    FailureOr<llvm::DenseSet<Operation *>> inSpans =
        globalsInSpans(module, symbols, alignment);
    if (failed(inSpans))
      return signalPassFailure();
    spanned = std::move(*inSpans);
    SmallVector<KernelOp> concats;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && getProgramRole(func))
        for (auto k : func.getBody().front().getOps<KernelOp>())
          if (k.getKernel() == "concat" && contiguousInputs(k))
            concats.push_back(k);
    // Which global follows which, from the concats in program order: an adjacency joins
    // when it agrees with those taken before (one place per global).
    for (KernelOp concat : concats) {
      auto inputs = concat.getInputs();
      for (size_t i = 0; i + 1 < inputs.size(); ++i)
        tryLink(wholeGlobal(inputs[i], symbols), wholeGlobal(inputs[i + 1], symbols));
    }
    // The globals one after another along each chain, from its first one's place.
    for (auto global : llvm::to_vector(module.getOps<GlobalOp>())) {
      if (previous.count(global))
        continue;
      for (GlobalOp g = global; next.count(g); g = next[g])
        next[g]->moveAfter(g);
    }
    for (KernelOp concat : concats)
      rewrite(concat, symbols);
  }

  /// Whether each input of `concat` is one contiguous range of its output, in order (no
  /// dim before the axis but 1s), all in device memory.
  static bool contiguousInputs(KernelOp concat) {
    if (concat.getOutputs().size() != 1 || concat.getInputs().size() < 2 ||
        concat.getStream() != Stream::compute)
      return false;
    auto axisAttr = dyn_cast_or_null<IntegerAttr>(concat.getAttrs().get("axis"));
    ArrayRef<int64_t> shape = memrefOf(concat.getOutputs()[0]).getShape();
    if (!axisAttr)
      return false;
    int64_t axis = axisAttr.getInt();
    if (axis < 0)
      axis += int64_t(shape.size());
    return axis >= 0 && axis < int64_t(shape.size()) &&
           llvm::all_of(shape.take_front(axis), [](int64_t d) { return d == 1; });
  }

  /// Records that `b` follows `a` when both are device globals, in no other span, `a`
  /// fills whole alignment units, and neither has another neighbour on that side.
  void tryLink(GlobalOp a, GlobalOp b) {
    if (!a || !b || a == b || a.getSpace() != MemorySpace::device ||
        b.getSpace() != MemorySpace::device || spanned.contains(a) || spanned.contains(b))
      return;
    if (next.lookup(a) == b)
      return;
    std::optional<int64_t> bytes = getCheckedByteSize(a.getMemRefType());
    if (next.count(a) || previous.count(b) || !bytes || *bytes % alignment != 0)
      return;
    for (GlobalOp g = b; g; g = next.lookup(g)) // no cycle
      if (g == a)
        return;
    next[a] = b;
    previous[b] = a;
  }

  /// The concat reads each run of linked globals as one span; a concat of a single span
  /// is replaced by the span where its result's readers see the same bytes.
  void rewrite(KernelOp concat, SymbolTable &symbols) {
    SmallVector<SmallVector<Value>> runs;
    for (Value in : concat.getInputs()) {
      GlobalOp g = wholeGlobal(in, symbols);
      if (!runs.empty() && g) {
        GlobalOp last = wholeGlobal(runs.back().back(), symbols);
        if (last && next.lookup(last) == g) {
          runs.back().push_back(in);
          continue;
        }
      }
      runs.push_back({in});
    }
    if (runs.size() == concat.getInputs().size())
      return;
    OpBuilder b(concat);
    Location loc = concat.getLoc();
    Value out = concat.getOutputs()[0];
    MemRefType outType = memrefOf(out);
    int64_t axis = cast<IntegerAttr>(concat.getAttrs().get("axis")).getInt();
    if (axis < 0)
      axis += outType.getRank();
    auto spanOf = [&](ArrayRef<Value> run) {
      SmallVector<Attribute> names;
      int64_t total = 0;
      for (Value v : run) {
        names.push_back(getAliasRoot(v).getDefiningOp<ParamOp>().getNameAttr());
        total += memrefOf(v).getNumElements();
      }
      return SpanOp::create(b, loc, MemRefType::get({total}, outType.getElementType()),
                            b.getArrayAttr(names))
          .getResult();
    };
    if (runs.size() == 1 && replaceBySpan(concat)) {
      Value span = spanOf(runs.front());
      Value view = reshaped(span, outType.getShape(), concat);
      out.replaceAllUsesExcept(view, concat);
      eraseConcat(concat);
      eraseIfDead(out);
      ++numSpans;
      ++numReplaced;
      return;
    }
    SmallVector<Value> ins;
    for (ArrayRef<Value> run : runs) {
      if (run.size() == 1) {
        ins.push_back(run.front());
        continue;
      }
      SmallVector<int64_t> shape(memrefOf(run.front()).getShape());
      shape[axis] = 0;
      for (Value v : run)
        shape[axis] += memrefOf(v).getShape()[axis];
      ins.push_back(reshaped(spanOf(run), shape, concat));
      ++numSpans;
    }
    KernelOp::create(b, loc, concat.getKernelAttr(), ins, concat.getOutputs(),
                     concat.getAttrs(), concat.getStreamAttr());
    eraseConcat(concat);
  }

  /// Erases `concat` and the global buffers (and views of them) only it read.
  static void eraseConcat(KernelOp concat) {
    SmallVector<Value> inputs(concat.getInputs());
    concat.erase();
    for (Value v : inputs) {
      while (v && v.use_empty()) {
        Operation *def = v.getDefiningOp();
        auto view = dyn_cast_or_null<ViewOp>(def);
        v = view ? view.getSource() : Value();
        if (view || isa_and_nonnull<ParamOp>(def))
          def->erase();
      }
    }
  }

  /// Whether the readers of `concat`'s result may read its inputs' globals in place: the
  /// result is a device transient that only the concat writes, and no kernel writes the
  /// globals between the concat and a reader.
  static bool replaceBySpan(KernelOp concat) {
    std::optional<Accesses> acc = transientAccesses(concat.getOutputs()[0]);
    if (!acc || acc->writers.size() != 1 || acc->writers[0] != concat ||
        getAliasRoot(concat.getOutputs()[0]) != concat.getOutputs()[0])
      return false;
    return llvm::all_of(acc->readers, [&](KernelOp reader) {
      return reader->getBlock() == concat->getBlock() &&
             concat->isBeforeInBlock(reader) &&
             unwrittenBetween(concat, reader, concat.getInputs());
    });
  }

  llvm::DenseMap<GlobalOp, GlobalOp> next, previous; // the layout's adjacencies
  llvm::DenseSet<Operation *> spanned;               // globals in a span already
};
} // namespace
