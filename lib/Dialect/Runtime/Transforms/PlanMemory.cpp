// Static memory planning: arena offsets by liveness, one region per memory space.
#include "ds/Dialect/Runtime/IR/ByteSize.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/MathExtras.h"

#include <array>

#define DEBUG_TYPE "ds-plan-memory"

namespace mlir::dsrt {
#define GEN_PASS_DEF_PLANMEMORYPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
/// A transient buffer and the instruction range [start, end] it is alive in.
struct LiveBuffer {
  Value value;
  int64_t size;
  int64_t start, end;
  MemorySpace space = MemorySpace::device;
  int64_t offset = -1;
};

/// "argument 0 ('x') of @micro_step", "%alloc of @micro_step": a buffer, for messages.
std::string describe(func::FuncOp func, Value v) {
  std::string out;
  llvm::raw_string_ostream os(out);
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    os << "argument " << arg.getArgNumber();
    if (DictionaryAttr attrs = func.getArgAttrDict(arg.getArgNumber()))
      for (NamedAttribute a : attrs)
        if (auto name = dyn_cast<StringAttr>(a.getValue()))
          os << " ('" << name.getValue() << "')";
  } else {
    OpPrintingFlags flags;
    v.printAsOperand(os, flags);
  }
  os << " of @" << func.getSymName();
  return out;
}

bool isTransient(Value v) {
  return isa<BlockArgument>(v) || v.getDefiningOp<AllocOp>();
}

/// Places buffers largest first, each at the lowest aligned offset that overlaps no
/// placed buffer alive at the same time. Returns the arena size it needs. The caller has
/// checked that the aligned sizes of all buffers add up without overflow, so no offset or
/// end computed here (each at most that sum) overflows.
int64_t placeBuffers(MutableArrayRef<LiveBuffer> buffers, int64_t alignment) {
  SmallVector<LiveBuffer *> order;
  for (LiveBuffer &b : buffers)
    order.push_back(&b);
  llvm::stable_sort(order, [](LiveBuffer *a, LiveBuffer *b) {
    if (a->size != b->size)
      return a->size > b->size;
    return a->start < b->start;
  });
  int64_t arena = 0;
  SmallVector<LiveBuffer *> placed;
  for (LiveBuffer *buf : order) {
    SmallVector<std::pair<int64_t, int64_t>> busy;
    for (LiveBuffer *other : placed)
      if (other->start <= buf->end && buf->start <= other->end && other->size > 0)
        busy.push_back({other->offset, other->offset + other->size});
    llvm::sort(busy);
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + buf->size <= lo)
        break;
      offset = std::max(offset, (int64_t)llvm::alignTo(hi, alignment));
    }
    buf->offset = offset;
    arena = std::max(arena, offset + buf->size);
    placed.push_back(buf);
  }
  return arena;
}

struct PlanMemoryPass : dsrt::impl::PlanMemoryPassBase<PlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder b(module.getContext());
    if (alignment <= 0 || !llvm::isPowerOf2_64(alignment)) {
      module.emitError("alignment must be a power of two, got ")
          << static_cast<int64_t>(alignment);
      return signalPassFailure();
    }

    // Globals are laid out one after another in the region of their memory space.
    // Every byte count is overflow-checked: an overflow is an error naming the global.
    std::array<int64_t, 3> regionBytes = {0, 0, 0};
    for (auto global : module.getOps<GlobalOp>()) {
      int64_t &end = regionBytes[static_cast<size_t>(global.getSpace())];
      std::optional<int64_t> bytes = getCheckedByteSize(global.getMemRefType());
      if (!bytes) {
        global.emitError("global @")
            << global.getSymName() << " of type " << global.getMemRefType()
            << " has more bytes than a 64-bit count holds";
        return signalPassFailure();
      }
      // NVMe state is read and written with O_DIRECT: its offsets are I/O-aligned.
      int64_t align = global.getSpace() == MemorySpace::nvme
                          ? std::max<int64_t>(alignment, ioAlignment)
                          : alignment;
      std::optional<int64_t> offset = checkedAlignTo(end, align);
      std::optional<int64_t> next = offset ? checkedAddBytes(*offset, *bytes) : std::nullopt;
      if (!next) {
        global.emitError("global @")
            << global.getSymName() << " (" << *bytes
            << " bytes) overflows the 64-bit size of its memory region";
        return signalPassFailure();
      }
      global.setOffset(*offset);
      end = *next;
    }

    // A span's globals must have come out back to back (--ds-bucket-collectives).
    WalkResult gaps = module.walk([&](SpanOp span) {
      int64_t end = -1;
      for (Attribute a : span.getGlobals().getValue()) {
        auto global = SymbolTable::lookupNearestSymbolFrom<GlobalOp>(
            module, cast<FlatSymbolRefAttr>(a).getAttr());
        if (end >= 0 && global && global.getOffset() && int64_t(*global.getOffset()) != end) {
          span.emitError("global @")
              << global.getSymName() << " is placed at byte " << *global.getOffset()
              << ", not right after the span's previous global (byte " << end
              << "): its size is not a multiple of the alignment ("
              << static_cast<int64_t>(alignment) << ")";
          return WalkResult::interrupt();
        }
        if (global && global.getOffset())
          end = *global.getOffset() + *getCheckedByteSize(global.getMemRefType());
      }
      return WalkResult::advance();
    });
    if (gaps.wasInterrupted())
      return signalPassFailure();

    if (ioAlignment <= 0 || !llvm::isPowerOf2_64(ioAlignment)) {
      module.emitError("io-alignment must be a power of two, got ")
          << static_cast<int64_t>(ioAlignment);
      return signalPassFailure();
    }
    // Host transients (offload) follow the host globals in the host region.
    std::optional<int64_t> hostBase = checkedAlignTo(
        regionBytes[static_cast<size_t>(MemorySpace::host)],
        std::max<int64_t>(alignment, ioAlignment));
    if (!hostBase) {
      module.emitError("the host region overflows 64 bits");
      return signalPassFailure();
    }
    int64_t arena = 0, peak = 0, hostArena = 0;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || !getProgramRole(func))
        continue;
      if (failed(planFunction(func, *hostBase, arena, hostArena, peak)))
        return signalPassFailure();
    }
    if (hostArena > 0) {
      std::optional<int64_t> end = checkedAddBytes(*hostBase, hostArena);
      if (!end) {
        module.emitError("the host region overflows 64 bits");
        return signalPassFailure();
      }
      regionBytes[static_cast<size_t>(MemorySpace::host)] = *end;
    }
    module->setAttr(kAlignmentAttr, b.getI64IntegerAttr(alignment));
    module->setAttr(kArenaBytesAttr, b.getI64IntegerAttr(arena));
    for (MemorySpace space :
         {MemorySpace::device, MemorySpace::host, MemorySpace::nvme})
      module->setAttr(getRegionBytesAttrName(space),
                      b.getI64IntegerAttr(regionBytes[static_cast<size_t>(space)]));
    module->setAttr(kPeakBytesAttr, b.getI64IntegerAttr(peak));
    arenaBytes = arena;
  }

  LogicalResult planFunction(func::FuncOp func, int64_t hostBase, int64_t &arena,
                             int64_t &hostArena, int64_t &peak) {
    Block &body = func.getBody().front();
    llvm::DenseMap<Operation *, int64_t> index;
    int64_t n = 0;
    for (Operation &op : body)
      index[&op] = n++;

    SmallVector<LiveBuffer> buffers;
    llvm::DenseMap<Value, size_t> slot;
    auto addBuffer = [&](Value v, int64_t start) -> LogicalResult {
      auto type = dyn_cast<MemRefType>(v.getType());
      if (!type || !type.hasStaticShape())
        return func.emitError("buffer of @")
               << func.getSymName() << " is not a static memref: " << v.getType();
      // The buffer lives while it or any view of it is used.
      int64_t end = start;
      SmallVector<Value> aliases{v};
      while (!aliases.empty()) {
        Value a = aliases.pop_back_val();
        for (Operation *user : a.getUsers()) {
          Operation *top = body.findAncestorOpInBlock(*user);
          if (auto view = dyn_cast<ViewOp>(top)) {
            aliases.push_back(view.getResult());
            continue;
          }
          end = std::max(end, isa<func::ReturnOp>(top) ? n : index.lookup(top));
        }
      }
      std::optional<int64_t> bytes = getCheckedByteSize(type);
      if (!bytes)
        return emitError(v.getLoc(), "buffer ")
               << describe(func, v) << " of type " << type
               << " has more bytes than a 64-bit count holds";
      slot[v] = buffers.size();
      MemorySpace space = MemorySpace::device;
      if (auto alloc = v.getDefiningOp<AllocOp>())
        space = alloc.getSpace();
      buffers.push_back({v, *bytes, start, end, space});
      return success();
    };
    for (BlockArgument arg : body.getArguments())
      if (failed(addBuffer(arg, 0)))
        return failure();
    for (Operation &op : body)
      if (auto alloc = dyn_cast<AllocOp>(op))
        if (failed(addBuffer(alloc.getBuffer(), index[&op])))
          return failure();

    // The aligned sizes must add up in 64 bits; placeBuffers relies on it.
    int64_t total = 0;
    for (LiveBuffer &buf : buffers) {
      std::optional<int64_t> aligned = checkedAlignTo(buf.size, alignment);
      std::optional<int64_t> sum = aligned ? checkedAddBytes(total, *aligned) : std::nullopt;
      if (!sum)
        return emitError(buf.value.getLoc(), "buffer ")
               << describe(func, buf.value) << " of type " << buf.value.getType() << " ("
               << buf.size << " bytes) overflows the 64-bit size of the arena";
      total = *sum;
    }
    // One arena per memory space: the device's, and the host's (offload).
    SmallVector<LiveBuffer> device, host;
    for (LiveBuffer &buf : buffers)
      (buf.space == MemorySpace::host ? host : device).push_back(buf);
    arena = std::max(arena, placeBuffers(device, alignment));
    hostArena = std::max(hostArena, placeBuffers(host, std::max<int64_t>(
                                                           alignment, ioAlignment)));
    for (LiveBuffer &buf : host)
      buf.offset += hostBase;
    buffers.clear();
    llvm::append_range(buffers, device);
    llvm::append_range(buffers, host);
    for (auto [i, buf] : llvm::enumerate(buffers))
      slot[buf.value] = i;
    numBuffers += buffers.size();
    for (LiveBuffer &buf : buffers)
      transientBytes += buf.size;

    Builder b(func.getContext());
    for (LiveBuffer &buf : buffers) {
      if (auto arg = dyn_cast<BlockArgument>(buf.value))
        func.setArgAttr(arg.getArgNumber(), kOffsetAttr,
                        b.getI64IntegerAttr(buf.offset));
      else
        buf.value.getDefiningOp<AllocOp>().setOffset(buf.offset);
    }
    // The runtime measures the same: the end of every arena buffer an instruction touches.
    for (auto kernel : body.getOps<KernelOp>())
      for (Value v : kernel->getOperands())
        if (Value root = getAliasRoot(v); isTransient(root)) {
          LiveBuffer &buf = buffers[slot.lookup(root)];
          if (buf.space == MemorySpace::device)
            peak = std::max(peak, buf.offset + buf.size);
        }
    return success();
  }
};
} // namespace
