// Runs kernels on offloaded state on the host and moves bytes between device, host and NVMe.
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#define DEBUG_TYPE "ds-insert-transfers"

namespace mlir::dsrt {
#define GEN_PASS_DEF_INSERTTRANSFERSPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
constexpr StringLiteral kSwapIn = "swap_in", kSwapOut = "swap_out", kCopy = "copy";

bool isSwap(KernelOp k) { return k.getKernel() == kSwapIn || k.getKernel() == kSwapOut; }

/// A whole-buffer copy (no range attributes): the plain `dst = src`.
bool isWholeCopy(KernelOp k) { return k.getKernel() == kCopy && k.getAttrs().empty(); }

/// The kernels reading or writing `root` or any view of it.
SmallVector<KernelOp> getKernelUsers(Value root) {
  SmallVector<KernelOp> users;
  SmallVector<Value> worklist{root};
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    for (Operation *user : v.getUsers()) {
      if (auto view = dyn_cast<ViewOp>(user))
        worklist.push_back(view.getResult());
      else if (auto kernel = dyn_cast<KernelOp>(user))
        if (!llvm::is_contained(users, kernel))
          users.push_back(kernel);
    }
  }
  return users;
}

/// The same bytes as `base` (the buffer `like`'s root was replaced by) in `like`'s type.
Value viewAs(OpBuilder &b, Location loc, Value base, Value like) {
  if (base.getType() == like.getType())
    return base;
  return ViewOp::create(b, loc, like.getType(), base);
}

class ProgramRewriter {
public:
  ProgramRewriter(func::FuncOp func, SymbolTableCollection &symbols,
                  InsertTransfersPassOptions options)
      : func(func), symbols(symbols), options(options) {}

  LogicalResult run() {
    Block &body = func.getBody().front();
    swapInNvmeReads(body);
    if (failed(placeKernels(body)))
      return failure();
    swapOutNvmeWrites(body);
    readAhead(body);
    prefetchGatherInputs(body);
    return success();
  }

  int64_t hostKernels = 0, copies = 0, swaps = 0, prefetched = 0;

private:
  func::FuncOp func;
  SymbolTableCollection &symbols;
  InsertTransfersPassOptions options;
  /// Copies already made of a transient (written once, so a copy stays valid).
  llvm::DenseMap<Value, Value> hostCopies, deviceCopies;
  /// Kernels that read NVMe state (now through swap-ins): they run on the host.
  llvm::DenseSet<Operation *> readsNvme;

  GlobalOp getGlobal(Value v) {
    auto param = getAliasRoot(v).getDefiningOp<ParamOp>();
    if (!param)
      return {};
    return symbols.lookupNearestSymbolFrom<GlobalOp>(param, param.getNameAttr());
  }

  MemorySpace getSpace(Value v) {
    if (GlobalOp global = getGlobal(v))
      return global.getSpace();
    if (auto alloc = getAliasRoot(v).getDefiningOp<AllocOp>())
      return alloc.getSpace();
    return MemorySpace::device; // program arguments
  }

  /// Host memory or NVMe: not reachable by device kernels.
  bool isOffloaded(Value v) { return getSpace(v) != MemorySpace::device; }

  AllocOp createAlloc(OpBuilder &b, Location loc, Type type, MemorySpace space) {
    return AllocOp::create(b, loc, cast<MemRefType>(type), IntegerAttr(),
                           MemorySpaceAttr::get(b.getContext(), space));
  }

  KernelOp createKernel(OpBuilder &b, Location loc, StringRef name, Value in, Value out,
                        Stream stream) {
    return KernelOp::create(b, loc, b.getStringAttr(name), ValueRange{in}, ValueRange{out},
                            b.getDictionaryAttr({}),
                            StreamAttr::get(b.getContext(), stream));
  }

  /// Every read of an NVMe global becomes a swap-in of the whole global into a host
  /// transient right before the reading kernel.
  void swapInNvmeReads(Block &body) {
    for (auto kernel : llvm::make_early_inc_range(body.getOps<KernelOp>())) {
      if (isSwap(kernel))
        continue;
      for (OpOperand &use : kernel.getInputsMutable()) {
        if (getSpace(use.get()) != MemorySpace::nvme)
          continue;
        OpBuilder b(kernel);
        Value root = getAliasRoot(use.get());
        AllocOp staged = createAlloc(b, kernel.getLoc(), root.getType(), MemorySpace::host);
        createKernel(b, kernel.getLoc(), kSwapIn, root, staged, Stream::io);
        use.set(viewAs(b, kernel.getLoc(), staged, use.get()));
        readsNvme.insert(kernel);
        ++swaps;
      }
    }
  }

  /// A host copy of device buffer `v` for `user`: a transient that only a copy kernel
  /// writes and only `user` reads is produced on the host directly; otherwise a
  /// device-to-host copy right before `user` (one per transient per program).
  Value toHost(Value v, KernelOp user) {
    if (Value cached = hostCopies.lookup(v))
      return cached;
    Value root = getAliasRoot(v);
    if (auto alloc = root.getDefiningOp<AllocOp>()) {
      SmallVector<KernelOp> users = getKernelUsers(root);
      auto isProducingCopy = [&](KernelOp k) {
        return k != user && k.getKernel() == kCopy &&
               llvm::is_contained(k.getOutputs(), root);
      };
      if (users.size() == 2 && llvm::is_contained(users, user) &&
          llvm::any_of(users, isProducingCopy)) {
        alloc.setSpace(MemorySpace::host);
        return v;
      }
    }
    OpBuilder b(user);
    AllocOp host = createAlloc(b, user.getLoc(), v.getType(), MemorySpace::host);
    createKernel(b, user.getLoc(), kCopy, v, host, Stream::copy);
    ++copies;
    if (!getGlobal(v))
      hostCopies[v] = host;
    return host;
  }

  /// A device copy of host buffer `v` right before `user` (one per transient).
  Value toDevice(Value v, KernelOp user) {
    if (Value cached = deviceCopies.lookup(v))
      return cached;
    OpBuilder b(user);
    AllocOp device = createAlloc(b, user.getLoc(), v.getType(), MemorySpace::device);
    createKernel(b, user.getLoc(), kCopy, v, device, Stream::copy);
    ++copies;
    if (!getGlobal(v))
      deviceCopies[v] = device;
    return device;
  }

  /// Decides for every kernel whether it runs on the host, and copies its operands to
  /// where it runs.
  LogicalResult placeKernels(Block &body) {
    for (auto kernel : llvm::make_early_inc_range(body.getOps<KernelOp>())) {
      if (isSwap(kernel))
        continue;
      if (kernel.getKernel() == kCopy) {
        // A copy is itself the transfer; between two host buffers it runs on the host.
        if (isOffloaded(kernel.getInputs()[0]) && isOffloaded(kernel.getOutputs()[0]))
          kernel.setStream(Stream::host);
        continue;
      }
      bool touchesOffloadedGlobal = readsNvme.contains(kernel),
           anyHostInput = false, bigInputsOnHost = true;
      for (Value v : kernel->getOperands())
        touchesOffloadedGlobal |= getGlobal(v) && isOffloaded(v);
      for (Value v : kernel.getInputs()) {
        bool offloaded = isOffloaded(v);
        anyHostInput |= offloaded;
        if (!offloaded && cast<MemRefType>(v.getType()).getNumElements() > 1)
          bigInputsOnHost = false;
      }
      bool collective = kernel.getStream() == Stream::comm;
      if (collective || !(touchesOffloadedGlobal || (anyHostInput && bigInputsOnHost))) {
        for (OpOperand &use : kernel.getInputsMutable())
          if (isOffloaded(use.get()))
            use.set(toDevice(use.get(), kernel));
        for (Value out : kernel.getOutputs())
          if (isOffloaded(out))
            return kernel.emitError("a collective cannot write host memory or NVMe; "
                                    "offload expects its output in a device buffer");
        continue;
      }
      kernel.setStream(Stream::host);
      ++hostKernels;
      for (OpOperand &use : kernel.getInputsMutable())
        if (!isOffloaded(use.get()))
          use.set(toHost(use.get(), kernel));
      for (OpOperand &use : kernel.getOutputsMutable()) {
        Value out = use.get();
        if (isOffloaded(out))
          continue;
        if (auto alloc = getAliasRoot(out).getDefiningOp<AllocOp>()) {
          alloc.setSpace(MemorySpace::host);
          continue;
        }
        // A device global written by a host kernel: through a host transient.
        OpBuilder b(kernel);
        AllocOp host = createAlloc(b, kernel.getLoc(), out.getType(), MemorySpace::host);
        use.set(host);
        b.setInsertionPointAfter(kernel);
        createKernel(b, kernel.getLoc(), kCopy, host, out, Stream::copy);
        ++copies;
      }
    }
    return success();
  }

  /// Every write of an NVMe global becomes a swap-out from a host buffer: a whole copy
  /// from the host is replaced by the swap-out itself.
  void swapOutNvmeWrites(Block &body) {
    for (auto kernel : llvm::make_early_inc_range(body.getOps<KernelOp>())) {
      if (isSwap(kernel))
        continue;
      for (OpOperand &use : kernel.getOutputsMutable()) {
        if (getSpace(use.get()) != MemorySpace::nvme)
          continue;
        Value root = getAliasRoot(use.get());
        OpBuilder b(kernel);
        Value src = kernel.getInputs().empty() ? Value() : kernel.getInputs()[0];
        if (isWholeCopy(kernel) && getSpace(src) == MemorySpace::host) {
          createKernel(b, kernel.getLoc(), kSwapOut, viewAs(b, kernel.getLoc(), src, root),
                       root, Stream::io);
          kernel.erase();
          ++swaps;
          break;
        }
        AllocOp staged = createAlloc(b, kernel.getLoc(), root.getType(), MemorySpace::host);
        use.set(viewAs(b, kernel.getLoc(), staged, use.get()));
        b.setInsertionPointAfter(kernel);
        createKernel(b, kernel.getLoc(), kSwapOut, staged, root, Stream::io);
        ++swaps;
      }
    }
  }

  /// An offloaded parameter shard (stage 3) crosses to the device one all-gather ahead of
  /// its own: the host-to-device copy (and, for NVMe, the swap-in before it) moves before
  /// the previous all-gather, which ZeRO-3 issues per prefetch bucket, so the copy
  /// overlaps the gather before it instead of delaying its own.
  void prefetchGatherInputs(Block &body) {
    SmallVector<KernelOp> gathers;
    for (auto kernel : body.getOps<KernelOp>())
      if (kernel.getKernel() == "all_gather")
        gathers.push_back(kernel);
    for (size_t i = 1; i < gathers.size(); ++i) {
      Operation *target = gathers[i - 1];
      Value staged = getAliasRoot(gathers[i].getInputs()[0]);
      auto alloc = staged.getDefiningOp<AllocOp>();
      if (!alloc)
        continue;
      // The chain that fills it: copy <- [swap_in <- nvme global] or <- host global.
      SmallVector<Operation *> chain;
      KernelOp copy;
      for (KernelOp user : getKernelUsers(staged))
        if (user.getKernel() == kCopy && user.getOutputs()[0] == staged)
          copy = user;
      if (!copy || !target->isBeforeInBlock(copy) || !isOffloaded(copy.getInputs()[0]))
        continue;
      Value src = getAliasRoot(copy.getInputs()[0]);
      if (auto srcAlloc = src.getDefiningOp<AllocOp>()) {
        KernelOp swapIn;
        for (KernelOp user : getKernelUsers(src))
          if (user.getKernel() == kSwapIn && user.getOutputs()[0] == src)
            swapIn = user;
        // A host transient other than a swap-in's (a host step's result) stays put.
        if (!swapIn || getKernelUsers(src).size() != 2)
          continue;
        chain.push_back(swapIn.getInputs()[0].getDefiningOp());
        chain.push_back(srcAlloc);
        chain.push_back(swapIn);
      } else if (auto param = src.getDefiningOp<ParamOp>()) {
        chain.push_back(param);
      } else {
        continue;
      }
      if (copy.getInputs()[0].getDefiningOp<ViewOp>())
        continue; // keep it simple: shards are read whole
      chain.push_back(alloc);
      chain.push_back(copy);
      for (Operation *op : chain)
        if (op && op->getBlock() == target->getBlock() && target->isBeforeInBlock(op))
          op->moveBefore(target);
      ++prefetched;
    }
  }

  /// Issues each swap-in as many sub-groups before the host update that reads it as
  /// the staging buffers allow.
  void readAhead(Block &body) {
    // The host kernels that read swapped-in state, in order, grouped into sub-groups.
    llvm::DenseMap<Operation *, KernelOp> consumerOf;
    SmallVector<KernelOp> swapIns;
    for (auto kernel : body.getOps<KernelOp>()) {
      if (kernel.getKernel() != kSwapIn)
        continue;
      SmallVector<KernelOp> users = getKernelUsers(kernel.getOutputs()[0]);
      for (KernelOp user : users)
        if (user != kernel && user.getStream() == Stream::host) {
          consumerOf[kernel] = user;
          swapIns.push_back(kernel);
          break;
        }
    }
    llvm::DenseMap<Operation *, int64_t> groupOf;
    SmallVector<KernelOp> groupStart;
    int64_t filled = 0;
    for (auto kernel : body.getOps<KernelOp>()) {
      bool isUpdate = llvm::any_of(
          swapIns, [&](KernelOp s) { return consumerOf.lookup(s) == kernel; });
      if (!isUpdate)
        continue;
      if (groupStart.empty() || filled >= options.subGroupSize) {
        groupStart.push_back(kernel);
        filled = 0;
      }
      groupOf[kernel] = int64_t(groupStart.size()) - 1;
      filled += cast<MemRefType>(kernel.getOutputs()[0].getType()).getNumElements();
    }
    // k swapped tensors per update: bufferCount / k sub-groups in flight.
    int64_t perUpdate = 1;
    llvm::DenseMap<Operation *, int64_t> swapsOf;
    for (KernelOp swapIn : swapIns)
      perUpdate = std::max(perUpdate, ++swapsOf[consumerOf.lookup(swapIn)]);
    int64_t distance = options.bufferCount / perUpdate - 1;
    if (distance <= 0)
      return;
    for (KernelOp swapIn : swapIns) {
      int64_t group = groupOf.lookup(consumerOf.lookup(swapIn));
      Operation *target = groupStart[size_t(std::max<int64_t>(0, group - distance))];
      if (!target->isBeforeInBlock(swapIn))
        continue;
      // Not before an earlier swap-out of the same global (none in an optimizer step).
      Value root = swapIn.getInputs()[0];
      for (Operation *it = target; it != swapIn; it = it->getNextNode())
        if (auto k = dyn_cast<KernelOp>(it);
            k && k.getKernel() == kSwapOut && k.getOutputs()[0] == root)
          target = k->getNextNode();
      Operation *alloc = swapIn.getOutputs()[0].getDefiningOp();
      Operation *param = root.getDefiningOp();
      if (param->getBlock() == target->getBlock() && target->isBeforeInBlock(param))
        param->moveBefore(target);
      alloc->moveBefore(target);
      swapIn->moveBefore(target);
    }
  }
};

struct InsertTransfersPass : dsrt::impl::InsertTransfersPassBase<InsertTransfersPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (subGroupSize < 1 || bufferCount < 1) {
      module.emitError("sub-group-size and buffer-count must be >= 1");
      return signalPassFailure();
    }
    SymbolTableCollection symbols;
    InsertTransfersPassOptions opts{bufferCount, subGroupSize};
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      ProgramRewriter rewriter(func, symbols, opts);
      if (failed(rewriter.run()))
        return signalPassFailure();
      numHostKernels += rewriter.hostKernels;
      numCopies += rewriter.copies;
      numSwaps += rewriter.swaps;
      numPrefetched += rewriter.prefetched;
    }
  }
};
} // namespace
