// In-place all-reduces of whole globals grouped into buckets over spans of those globals,
// and small all-gathers of transients into globals grouped into one gather per bucket.
#include "BufferAccesses.h"

#include "ds/Dialect/Runtime/IR/ByteSize.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseSet.h"

#define DEBUG_TYPE "ds-bucket-collectives"

namespace mlir::dsrt {
#define GEN_PASS_DEF_BUCKETCOLLECTIVESPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
/// An all_reduce that reduces a whole global in place.
struct Member {
  KernelOp kernel;
  GlobalOp global;
  int64_t numel, bytes;
};

struct BucketCollectivesPass
    : dsrt::impl::BucketCollectivesPassBase<BucketCollectivesPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (bucketSize < 1) {
      module.emitError("bucket-size must be at least 1, got ")
          << static_cast<int64_t>(bucketSize);
      return signalPassFailure();
    }
    SymbolTable symbols(module);
    // Globals in a span already (--ds-bucket-accumulation) keep their place.
    FailureOr<llvm::DenseSet<Operation *>> inSpans =
        globalsInSpans(module, symbols, alignment);
    if (failed(inSpans))
      return signalPassFailure();
    bucketed = std::move(*inSpans); // one pass instance may run on several modules
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && getProgramRole(func))
        bucketProgram(func, symbols);
  }

  /// The member `op` would be, or nullopt.
  std::optional<Member> asMember(Operation &op, SymbolTable &symbols) {
    auto kernel = dyn_cast<KernelOp>(op);
    if (!kernel || kernel.getKernel() != "all_reduce" ||
        kernel.getStream() != Stream::comm || kernel.getInputs().size() != 1 ||
        kernel.getOutputs().size() != 1)
      return std::nullopt;
    auto in = kernel.getInputs()[0].getDefiningOp<ParamOp>();
    auto out = kernel.getOutputs()[0].getDefiningOp<ParamOp>();
    if (!in || !out || in.getName() != out.getName())
      return std::nullopt;
    auto global = symbols.lookup<GlobalOp>(in.getName());
    // NVMe globals are aligned to the I/O size: never back to back.
    if (!global || global.getSpace() == MemorySpace::nvme)
      return std::nullopt;
    std::optional<int64_t> bytes = getCheckedByteSize(global.getMemRefType());
    if (!bytes)
      return std::nullopt;
    return Member{kernel, global, global.getMemRefType().getNumElements(), *bytes};
  }

  /// Whether `next` may join `bucket` (not empty).
  bool fits(ArrayRef<Member> bucket, Member next, int64_t total) {
    Member first = bucket.front(), last = bucket.back();
    return next.kernel.getAttrs() == first.kernel.getAttrs() &&
           next.global.getMemRefType().getElementType() ==
               first.global.getMemRefType().getElementType() &&
           next.global.getSpace() == first.global.getSpace() &&
           total + next.numel <= bucketSize && last.bytes % alignment == 0 &&
           // Reduced at the first's place: nothing in between may see it unreduced.
           untouchedBetween(first.kernel, next.kernel, next.kernel.getInputs()[0]);
  }

  void bucketProgram(func::FuncOp func, SymbolTable &symbols) {
    SmallVector<SmallVector<Member>> buckets;
    SmallVector<Member> open;
    int64_t total = 0;
    auto close = [&] {
      if (open.size() > 1)
        buckets.push_back(open);
      open.clear();
      total = 0;
    };
    for (Operation &op : func.getBody().front()) {
      std::optional<Member> m = asMember(op, symbols);
      if (!m || bucketed.contains(m->global.getOperation()))
        continue;
      if (!open.empty() && !fits(open, *m, total))
        close();
      if (llvm::any_of(open, [&](const Member &o) { return o.global == m->global; }))
        close();
      open.push_back(*m);
      total += m->numel;
    }
    close();
    for (SmallVector<Member> &bucket : buckets)
      rewrite(bucket);
    bucketGathers(func);
  }

  /// An all_gather along axis 0 of a 1-D device transient into the whole of a global
  /// (through views): the gather of an updated shard into its parameter.
  static bool isShardGather(KernelOp k) {
    if (k.getKernel() != "all_gather" || k.getStream() != Stream::comm ||
        k.getInputs().size() != 1 || k.getOutputs().size() != 1)
      return false;
    auto axis = dyn_cast_or_null<IntegerAttr>(k.getAttrs().get("axis"));
    MemRefType in = memrefOf(k.getInputs()[0]), out = memrefOf(k.getOutputs()[0]);
    auto alloc = getAliasRoot(k.getInputs()[0]).getDefiningOp<AllocOp>();
    return axis && axis.getInt() == 0 && k.getAttrs().size() == 1 && in.getRank() == 1 &&
           out.getRank() == 1 && in.getNumElements() > 0 &&
           out.getNumElements() % in.getNumElements() == 0 && alloc &&
           alloc.getSpace() == MemorySpace::device &&
           getAliasRoot(k.getOutputs()[0]).getDefiningOp<ParamOp>();
  }

  /// Runs of consecutive shard gathers (no other kernel between them) of one element type
  /// and world size, of at most `gather-bucket-size` gathered elements in all, become one
  /// concat of the shards, one all_gather and one split into the globals.
  void bucketGathers(func::FuncOp func) {
    if (gatherBucketSize <= 0)
      return;
    SmallVector<SmallVector<KernelOp>> buckets;
    SmallVector<KernelOp> open;
    int64_t total = 0;
    auto close = [&] {
      if (open.size() > 1)
        buckets.push_back(open);
      open.clear();
      total = 0;
    };
    for (Operation &op : func.getBody().front()) {
      auto k = dyn_cast<KernelOp>(op);
      if (!k)
        continue;
      if (!isShardGather(k)) {
        close();
        continue;
      }
      int64_t n = memrefOf(k.getOutputs()[0]).getNumElements();
      if (!open.empty()) {
        KernelOp first = open.front();
        MemRefType a = memrefOf(first.getInputs()[0]), b = memrefOf(k.getInputs()[0]);
        int64_t world = memrefOf(first.getOutputs()[0]).getNumElements() / a.getNumElements();
        auto sameGlobal = [&](KernelOp o) {
          return getAliasKey(o.getOutputs()[0]) == getAliasKey(k.getOutputs()[0]);
        };
        if (a.getElementType() != b.getElementType() ||
            n != world * b.getNumElements() || total + n > gatherBucketSize ||
            llvm::any_of(open, sameGlobal))
          close();
      }
      if (n > gatherBucketSize)
        continue;
      open.push_back(k);
      total += n;
    }
    close();
    for (SmallVector<KernelOp> &bucket : buckets)
      rewriteGathers(bucket);
  }

  /// The bucket's shards laid out rank-major: every rank contributes [p_1 + p_2 + ...],
  /// so column block i of the gathered [W, total] rows holds global i's shards in rank
  /// order, which is global i's whole buffer seen as [W, p_i].
  void rewriteGathers(MutableArrayRef<KernelOp> bucket) {
    KernelOp last = bucket.back();
    OpBuilder b(last);
    Location loc = last.getLoc();
    MemRefType first = memrefOf(bucket.front().getInputs()[0]);
    Type elem = first.getElementType();
    int64_t world = memrefOf(bucket.front().getOutputs()[0]).getNumElements() /
                    first.getNumElements();
    SmallVector<Value> shards, wholes;
    SmallVector<int64_t> widths;
    int64_t total = 0;
    for (KernelOp k : bucket) {
      shards.push_back(k.getInputs()[0]);
      widths.push_back(memrefOf(k.getInputs()[0]).getNumElements());
      total += widths.back();
    }
    Value mine = AllocOp::create(b, loc, MemRefType::get({total}, elem), IntegerAttr(),
                                 MemorySpace::device);
    DictionaryAttr axis0 = last.getAttrs();
    KernelOp::create(b, loc, b.getStringAttr("concat"), shards, ValueRange{mine},
                     axis0, StreamAttr::get(b.getContext(), Stream::compute));
    Value all = AllocOp::create(b, loc, MemRefType::get({world * total}, elem),
                                IntegerAttr(), MemorySpace::device);
    KernelOp::create(b, loc, last.getKernelAttr(), ValueRange{mine}, ValueRange{all},
                     last.getAttrs(), last.getStreamAttr());
    Value rows = ViewOp::create(b, loc, MemRefType::get({world, total}, elem), all);
    for (auto [k, w] : llvm::zip(bucket, widths))
      wholes.push_back(ViewOp::create(b, loc, MemRefType::get({world, w}, elem),
                                      k.getOutputs()[0]));
    NamedAttrList split;
    split.set("axis", b.getI64IntegerAttr(1));
    split.set("sizes", b.getDenseI64ArrayAttr(widths));
    KernelOp::create(b, loc, b.getStringAttr("split"), ValueRange{rows}, wholes,
                     split.getDictionary(b.getContext()),
                     StreamAttr::get(b.getContext(), Stream::compute));
    for (KernelOp k : bucket)
      k.erase();
    ++numGatherBuckets;
    numGathersBucketed += bucket.size();
  }

  void rewrite(MutableArrayRef<Member> bucket) {
    KernelOp first = bucket.front().kernel;
    OpBuilder b(first);
    SmallVector<Attribute> names;
    int64_t total = 0;
    for (Member &m : bucket) {
      names.push_back(FlatSymbolRefAttr::get(m.global.getSymNameAttr()));
      total += m.numel;
    }
    Type elem = bucket.front().global.getMemRefType().getElementType();
    Value span = SpanOp::create(b, first.getLoc(), MemRefType::get({total}, elem),
                                b.getArrayAttr(names));
    KernelOp::create(b, first.getLoc(), first.getKernelAttr(), ValueRange{span},
                     ValueRange{span}, first.getAttrs(), first.getStreamAttr());
    for (Member &m : bucket) {
      SmallVector<Value> buffers(m.kernel->getOperands());
      m.kernel.erase();
      for (Value v : buffers)
        if (v.use_empty())
          v.getDefiningOp()->erase();
    }
    // The globals one after another, in the bucket's order, from the first one's place.
    for (size_t i = 1; i < bucket.size(); ++i)
      bucket[i].global->moveAfter(bucket[i - 1].global);
    for (Member &m : bucket)
      bucketed.insert(m.global.getOperation());
    ++numBuckets;
    numBucketed += bucket.size();
  }

  llvm::DenseSet<Operation *> bucketed; // globals already in a bucket (of any program)
};
} // namespace
