// In-place all-reduces of whole globals grouped into buckets over spans of those globals.
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
    if (alignment <= 0 || !llvm::isPowerOf2_64(alignment)) {
      module.emitError("alignment must be a power of two, got ")
          << static_cast<int64_t>(alignment);
      return signalPassFailure();
    }
    if (bucketSize < 1) {
      module.emitError("bucket-size must be at least 1, got ")
          << static_cast<int64_t>(bucketSize);
      return signalPassFailure();
    }
    bucketed.clear(); // one pass instance may run on several modules
    SymbolTable symbols(module);
    // Globals in a span already (--ds-bucket-accumulation) keep their place.
    module.walk([&](SpanOp span) {
      for (Attribute a : span.getGlobals())
        if (auto global = symbols.lookup<GlobalOp>(cast<FlatSymbolRefAttr>(a).getValue()))
          bucketed.insert(global.getOperation());
    });
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
