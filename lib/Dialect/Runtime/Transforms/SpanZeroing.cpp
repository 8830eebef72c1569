// The kernels that zero whole globals lying back to back in a span (the gradient
// accumulators after the optimizer step, one zeroing each) become one fill of the span.
#include "BufferAccesses.h"

#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

#define DEBUG_TYPE "ds-span-zeroing"

namespace mlir::dsrt {
#define GEN_PASS_DEF_SPANZEROINGPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
/// Whether the operand `v` reads or writes bytes of the global `name`: a buffer of it (a
/// dsrt.param, through views) or a span that lists it.
bool touches(Value v, StringAttr name) {
  Value root = getAliasRoot(v);
  if (auto param = root.getDefiningOp<ParamOp>())
    return param.getNameAttr().getAttr() == name;
  if (auto span = root.getDefiningOp<SpanOp>())
    return llvm::any_of(span.getGlobals(), [&](Attribute a) {
      return cast<FlatSymbolRefAttr>(a).getAttr() == name;
    });
  return false;
}

struct SpanZeroingPass : dsrt::impl::SpanZeroingPassBase<SpanZeroingPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    // The spans' global lists, each once: their globals are back to back.
    SmallVector<SmallVector<StringAttr>> spans;
    llvm::DenseSet<Attribute> seen;
    module.walk([&](SpanOp span) {
      if (!seen.insert(span.getGlobals()).second)
        return;
      SmallVector<StringAttr> names;
      for (Attribute a : span.getGlobals())
        names.push_back(cast<FlatSymbolRefAttr>(a).getAttr());
      spans.push_back(std::move(names));
    });
    if (spans.empty())
      return;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && getProgramRole(func))
        zeroSpans(func, spans, symbols);
  }

  void zeroSpans(func::FuncOp func, ArrayRef<SmallVector<StringAttr>> spans,
                 SymbolTable &symbols) {
    Block &block = func.getBody().front();
    // Each global's zeroing: the one kernel that writes zeros into all of it (a whole
    // device global); a global zeroed twice is left alone.
    llvm::DenseMap<StringAttr, KernelOp> zeroing;
    llvm::DenseSet<StringAttr> ambiguous;
    for (auto k : block.getOps<KernelOp>()) {
      if (k.getOutputs().size() != 1 || !writesZeros(k))
        continue;
      GlobalOp g = wholeGlobalOf(k.getOutputs()[0], symbols, /*throughViews=*/false);
      if (!g || g.getSpace() != MemorySpace::device)
        continue;
      StringAttr name = g.getSymNameAttr();
      if (!zeroing.try_emplace(name, k).second)
        ambiguous.insert(name);
    }
    // The run's fill goes where its first zeroing is: each global is zeroed earlier than
    // before, so nothing between that place and its own zeroing may touch it (after its
    // zeroing it holds zeros either way).
    auto untouchedUntil = [&](Operation *from, KernelOp k, StringAttr name) {
      for (Operation *op = from; op && op != k.getOperation(); op = op->getNextNode())
        if (auto other = dyn_cast<KernelOp>(op))
          if (llvm::any_of(other->getOperands(), [&](Value v) { return touches(v, name); }))
            return false;
      return true;
    };
    for (ArrayRef<StringAttr> span : spans) {
      SmallVector<std::pair<StringAttr, KernelOp>> run;
      Operation *first = nullptr;
      auto flush = [&] {
        if (run.size() > 1) {
          SmallVector<KernelOp> kernels;
          for (auto &[name, k] : run)
            kernels.push_back(k);
          fillRun(kernels, first, symbols);
        }
        run.clear();
        first = nullptr;
      };
      for (StringAttr name : span) {
        auto it = zeroing.find(name);
        if (it == zeroing.end() || ambiguous.contains(name)) {
          flush();
          continue;
        }
        KernelOp k = it->second;
        Operation *newFirst =
            !first || k->isBeforeInBlock(first) ? k.getOperation() : first;
        bool fits = (run.empty() || memrefOf(run.front().second.getOutputs()[0])
                                            .getElementType() ==
                                        memrefOf(k.getOutputs()[0]).getElementType()) &&
                    untouchedUntil(newFirst, k, name) &&
                    llvm::all_of(run, [&](auto &m) {
                      return untouchedUntil(newFirst, m.second, m.first);
                    });
        if (!fits) {
          flush();
          if (!untouchedUntil(k.getOperation(), k, name))
            continue;
          newFirst = k.getOperation();
        }
        run.push_back({name, k});
        first = newFirst;
      }
      flush();
    }
  }

  /// One fill of zeros over the globals `run` zeroes (back to back, in span order), where
  /// `first`, the earliest of the run's kernels, was; the run's kernels and what only they
  /// used go.
  void fillRun(SmallVector<KernelOp> run, Operation *first, SymbolTable &symbols) {
    SmallVector<Attribute> globals;
    int64_t numel = 0;
    for (KernelOp k : run) {
      GlobalOp g = wholeGlobalOf(k.getOutputs()[0], symbols, /*throughViews=*/false);
      globals.push_back(FlatSymbolRefAttr::get(g.getSymNameAttr()));
      numel += g.getMemRefType().getNumElements();
    }
    Type elem = memrefOf(KernelOp(run.front()).getOutputs()[0]).getElementType();
    OpBuilder b(first);
    Location loc = first->getLoc();
    Value span = SpanOp::create(b, loc, MemRefType::get({numel}, elem),
                                b.getArrayAttr(globals));
    KernelOp::create(b, loc, b.getStringAttr("fill"), ValueRange{}, ValueRange{span},
                     b.getDictionaryAttr({b.getNamedAttr("value", b.getF32FloatAttr(0.0f))}),
                     Stream::compute);
    // What the run's kernels used (and the buffers under it), collected before any of
    // them goes.
    llvm::SetVector<Operation *> defs;
    for (KernelOp k : run)
      for (Value v : k->getOperands())
        for (Value w : {v, getAliasRoot(v)})
          if (Operation *def = w.getDefiningOp())
            defs.insert(def);
    for (KernelOp k : run)
      k.erase();
    // A transient of zeros that only the run copied from: its writers go too.
    for (Operation *def : defs)
      if (auto alloc = dyn_cast<AllocOp>(def))
        if (std::optional<Accesses> acc = transientAccesses(alloc.getResult());
            acc && acc->readers.empty())
          if (llvm::all_of(acc->writers,
                           [](KernelOp w) { return w.getOutputs().size() == 1; }))
            for (KernelOp w : acc->writers)
              w.erase();
    // Then the buffers nothing uses any more (views before what they view).
    SmallVector<Operation *> pending(defs.begin(), defs.end());
    for (bool erased = true; erased;) {
      erased = false;
      for (Operation *&def : pending)
        if (def && isa<ParamOp, AllocOp, ViewOp>(def) && def->use_empty()) {
          def->erase();
          def = nullptr;
          erased = true;
        }
    }
    ++numFills;
    numZeroings += run.size();
  }
};
} // namespace
