// The adds that accumulate the pieces of a split into whole globals, one per piece,
// become one add per run of pieces over a span of those globals.
#include "BufferAccesses.h"

#include "ds/Dialect/Runtime/IR/ByteSize.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseSet.h"

#define DEBUG_TYPE "ds-bucket-accumulation"

namespace mlir::dsrt {
#define GEN_PASS_DEF_BUCKETACCUMULATIONPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
/// Output `index` of a split, which one add accumulates into a whole global in place.
struct Member {
  unsigned index;
  KernelOp add;
  GlobalOp global;
  int64_t bytes;
  bool pieceFirst; // the add's first input is the piece (else the global)
};

/// Whether `v` is the whole buffer of a global (a dsrt.param of its type).
GlobalOp wholeGlobal(Value v, SymbolTable &symbols) {
  return wholeGlobalOf(v, symbols, /*throughViews=*/false);
}

struct BucketAccumulationPass
    : dsrt::impl::BucketAccumulationPassBase<BucketAccumulationPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // A global is in one span at most (ours or another pass's): its place is fixed.
    SymbolTable symbols(module);
    FailureOr<llvm::DenseSet<Operation *>> inSpans =
        globalsInSpans(module, symbols, alignment);
    if (failed(inSpans))
      return signalPassFailure();
    spanned = std::move(*inSpans); // one pass instance may run on several modules
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || !getProgramRole(func))
        continue;
      SmallVector<KernelOp> splits;
      for (auto k : func.getBody().front().getOps<KernelOp>())
        if (k.getKernel() == "split")
          splits.push_back(k);
      for (KernelOp split : splits)
        bucketSplit(split, symbols);
    }
  }

  /// The member output `index` of `split` would be, or nullopt.
  std::optional<Member> asMember(KernelOp split, unsigned index, SymbolTable &symbols) {
    Value piece = split.getOutputs()[index];
    std::optional<Accesses> acc = transientAccesses(piece);
    if (!acc || getAliasRoot(piece) != piece || acc->writers.size() != 1 ||
        acc->readers.size() != 1)
      return std::nullopt;
    KernelOp add = acc->readers[0];
    if (add.getKernel() != "add" || add.getStream() != split.getStream() ||
        add.getInputs().size() != 2 || add.getOutputs().size() != 1 ||
        add->getBlock() != split->getBlock() || !split->isBeforeInBlock(add))
      return std::nullopt;
    Value out = add.getOutputs()[0];
    for (int side = 0; side < 2; ++side) {
      Value p = add.getInputs()[side], other = add.getInputs()[1 - side];
      if (getAliasRoot(p) != piece)
        continue;
      // In place and whole, no broadcast: global += piece, element for element.
      GlobalOp global = wholeGlobal(other, symbols);
      if (!global || wholeGlobal(out, symbols) != global ||
          memrefOf(p) != memrefOf(out) || global.getSpace() == MemorySpace::nvme ||
          spanned.contains(global))
        return std::nullopt;
      // The span's add runs where the split is: nothing between may see the global.
      if (!untouchedBetween(split, add, out))
        return std::nullopt;
      std::optional<int64_t> bytes = getCheckedByteSize(global.getMemRefType());
      if (!bytes)
        return std::nullopt;
      return Member{index, add, global, *bytes, side == 0};
    }
    return std::nullopt;
  }

  /// Whether `next` may follow `run` (not empty) in one span.
  bool fits(ArrayRef<Member> run, Member next) {
    Member first = run.front(), last = run.back();
    return next.index == last.index + 1 && next.pieceFirst == first.pieceFirst &&
           next.add.getAttrs() == first.add.getAttrs() &&
           next.global.getSpace() == first.global.getSpace() &&
           last.bytes % alignment == 0 &&
           llvm::none_of(run, [&](Member m) { return m.global == next.global; });
  }

  void bucketSplit(KernelOp split, SymbolTable &symbols) {
    Value x = split.getInputs().size() == 1 ? split.getInputs()[0] : Value();
    auto axisAttr = dyn_cast_or_null<IntegerAttr>(split.getAttrs().get("axis"));
    auto sizesAttr = dyn_cast_or_null<DenseI64ArrayAttr>(split.getAttrs().get("sizes"));
    if (!x || !axisAttr || !sizesAttr ||
        sizesAttr.size() != int64_t(split.getOutputs().size()))
      return;
    ArrayRef<int64_t> shape = memrefOf(x).getShape();
    int64_t axis = axisAttr.getInt();
    if (axis < 0)
      axis += int64_t(shape.size());
    // Each piece must be one contiguous range of x: no dim before the axis but 1s.
    if (axis < 0 || axis >= int64_t(shape.size()) ||
        llvm::any_of(shape.take_front(axis), [](int64_t d) { return d != 1; }))
      return;

    SmallVector<SmallVector<Member>> runs;
    SmallVector<Member> open;
    auto close = [&] {
      if (open.size() > 1)
        runs.push_back(open);
      open.clear();
    };
    for (unsigned i = 0, e = split.getOutputs().size(); i < e; ++i) {
      std::optional<Member> m = asMember(split, i, symbols);
      if (!m) {
        close();
        continue;
      }
      if (!open.empty() && !fits(open, *m))
        close();
      open.push_back(*m);
    }
    close();
    if (runs.empty())
      return;
    rewrite(split, x, axis, sizesAttr.asArrayRef(), runs);
  }

  /// One add per run over a span of its globals, at the split's place; the split keeps
  /// the other pieces and one piece per run (none when a single run takes them all).
  void rewrite(KernelOp split, Value x, int64_t axis, ArrayRef<int64_t> sizes,
               MutableArrayRef<SmallVector<Member>> runs) {
    OpBuilder b(split);
    Location loc = split.getLoc();
    Type elem = memrefOf(x).getElementType();
    SmallVector<Value> outs, runPieces;
    SmallVector<int64_t> widths;
    size_t next = 0; // the next run
    for (unsigned i = 0, e = split.getOutputs().size(); i < e;) {
      if (next < runs.size() && runs[next].front().index == i) {
        int64_t width = 0;
        for (Member &m : runs[next])
          width += sizes[m.index];
        SmallVector<int64_t> shape(memrefOf(x).getShape());
        shape[axis] = width;
        outs.push_back(
            AllocOp::create(b, loc, MemRefType::get(shape, elem), IntegerAttr(),
                            MemorySpaceAttr::get(b.getContext(), MemorySpace::device)));
        runPieces.push_back(outs.back());
        widths.push_back(width);
        i += runs[next++].size();
        continue;
      }
      outs.push_back(split.getOutputs()[i]);
      widths.push_back(sizes[i]);
      ++i;
    }
    if (outs.size() == 1) {
      // One run takes the whole of x: no split at all.
      runPieces.front().getDefiningOp()->erase();
      runPieces.front() = x;
    } else {
      NamedAttrList attrs(split.getAttrs());
      attrs.set("sizes", b.getDenseI64ArrayAttr(widths));
      KernelOp::create(b, loc, split.getKernelAttr(), split.getInputs(), outs,
                       attrs.getDictionary(b.getContext()), split.getStreamAttr());
    }

    for (auto [run, piece] : llvm::zip(runs, runPieces)) {
      Member &first = run.front();
      SmallVector<Attribute> names;
      int64_t total = 0;
      for (Member &m : run) {
        names.push_back(FlatSymbolRefAttr::get(m.global.getSymNameAttr()));
        total += m.global.getMemRefType().getNumElements();
      }
      Value span =
          SpanOp::create(b, loc, MemRefType::get({total}, elem), b.getArrayAttr(names));
      Value flat = reshaped(piece, {total}, split);
      SmallVector<Value> ins{span, flat};
      if (first.pieceFirst)
        std::swap(ins[0], ins[1]);
      KernelOp::create(b, loc, first.add.getKernelAttr(), ins, ValueRange{span},
                       first.add.getAttrs(), first.add.getStreamAttr());
      for (Member &m : run) {
        SmallVector<Value> operands(m.add->getOperands());
        m.add.erase();
        for (Value v : operands)
          if (v.use_empty() && v.getDefiningOp<ParamOp>())
            v.getDefiningOp()->erase();
      }
      // The globals one after another, in the run's order, from the first one's place.
      for (size_t i = 1; i < run.size(); ++i)
        run[i].global->moveAfter(run[i - 1].global);
      for (Member &m : run)
        spanned.insert(m.global.getOperation());
      ++numSpans;
      numFolded += run.size();
    }
    SmallVector<Value> old(split.getOutputs());
    split.erase();
    for (Value v : old)
      eraseIfDead(v);
  }

  llvm::DenseSet<Operation *> spanned; // globals already in a span
};
} // namespace
