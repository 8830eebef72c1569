// Activation recomputation: clones forward ops into the backward pass so that saved
// intermediates die in the forward pass.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"

#define DEBUG_TYPE "ds-recompute"

namespace mlir::ds {
#define GEN_PASS_DEF_RECOMPUTEACTIVATIONSPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
int64_t bytesOf(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape())
    return 0;
  int64_t width = type.getElementType().getIntOrFloatBitWidth();
  return type.getNumElements() * std::max<int64_t>(1, width / 8);
}

/// What recomputing `op` costs: 2MNK for products, 4 B H T S D for attention, one per
/// result element for everything else.
double flopsOf(Operation *op) {
  auto shapeOf = [](Value v) { return cast<RankedTensorType>(v.getType()).getShape(); };
  if (isa<MatMulOp, GemmOp>(op)) {
    ArrayRef<int64_t> a = shapeOf(op->getOperand(0));
    bool transA = op->hasAttr("trans_a");
    double k = double(transA ? a[a.size() - 2] : a.back());
    return 2.0 * k *
           double(cast<RankedTensorType>(op->getResult(0).getType()).getNumElements());
  }
  if (auto attention = dyn_cast<AttentionOp>(op)) {
    ArrayRef<int64_t> k = shapeOf(attention.getKey());
    auto q = cast<RankedTensorType>(attention.getQuery().getType());
    return 4.0 * double(q.getNumElements()) * double(k[k.size() - 2]);
  }
  double n = 0;
  for (Value r : op->getResults())
    if (auto t = dyn_cast<RankedTensorType>(r.getType()))
      n += double(t.getNumElements());
  return n;
}

/// Ops the backward pass may run again: pure ones, and dropout, whose mask comes from
/// its seed and the program run, so a clone in the same run draws the same mask.
bool isRecomputable(Operation *op) {
  return op->getNumRegions() == 0 && !isa<ParamRefOp, StateRefOp, ConstantOp>(op) &&
         (isa<DropoutOp>(op) || isMemoryEffectFree(op));
}

class FunctionRecomputer {
public:
  FunctionRecomputer(func::FuncOp func, StringRef mode, int64_t keepBytes)
      : func(func), mode(mode), keepBytes(keepBytes) {}

  int64_t numCheckpoints = 0, numKept = 0, numRecomputedOps = 0;

  void run() {
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    int64_t lossIndex = func->getAttrOfType<IntegerAttr>(kLossIndexAttr).getInt();
    Operation *lossOp = ret.getOperand(lossIndex).getDefiningOp();
    if (!lossOp)
      return;
    bool backward = false;
    for (Operation &op : body) {
      if (&op == ret.getOperation())
        break;
      (backward ? backwardOps : forwardOps).push_back(&op);
      if (&op == lossOp)
        backward = true;
    }
    forwardSet.insert(forwardOps.begin(), forwardOps.end());
    // Values that depend on an input (activations), as opposed to parameters and
    // constants.
    for (BlockArgument arg : body.getArguments())
      dynamic.insert(arg);
    for (Operation *op : forwardOps)
      if (llvm::any_of(op->getOperands(), [&](Value v) { return dynamic.contains(v); }))
        for (Value r : op->getResults())
          dynamic.insert(r);
    // Saved: activations of the forward pass the backward pass reads.
    llvm::SetVector<Value> saved;
    for (Operation *op : backwardOps)
      for (Value v : op->getOperands())
        if (dynamic.contains(v) && v.getDefiningOp() &&
            forwardSet.contains(v.getDefiningOp()))
          saved.insert(v);

    findCheckpoints();
    for (Value v : ret.getOperands())
      checkpoints.insert(v);
    keepWhereRecomputeCostsMore(saved.getArrayRef());
    for (Value v : saved)
      if (checkpoints.contains(v) || !isRecomputable(v.getDefiningOp()))
        ++numCheckpoints;
    if (mode == "auto")
      keepGreedily(saved.getArrayRef());

    for (Operation *op : backwardOps)
      for (OpOperand &use : op->getOpOperands())
        if (needsRecompute(use.get()))
          use.set(materialize(use.get(), op));
  }

private:
  bool needsRecompute(Value v) const {
    Operation *def = v.getDefiningOp();
    return def && dynamic.contains(v) && !checkpoints.contains(v) &&
           forwardSet.contains(def) && isRecomputable(def);
  }

  /// The recomputed `v`, cloned (with what it needs) right before `user`.
  Value materialize(Value v, Operation *user) {
    if (Value done = recomputed.lookupOrNull(v))
      return done;
    Operation *def = v.getDefiningOp();
    for (Value operand : def->getOperands())
      if (needsRecompute(operand))
        materialize(operand, user);
    OpBuilder b(user);
    b.clone(*def, recomputed);
    ++numRecomputedOps;
    return recomputed.lookup(v);
  }

  /// The block boundaries: the residual stream, or else the activation inputs of the
  /// parameter products.
  void findCheckpoints() {
    // chainLength[add] = length of the longest residual chain ending in it.
    llvm::DenseMap<Operation *, int64_t> chainLength;
    llvm::DenseMap<Operation *, Operation *> previous;
    Operation *longest = nullptr;
    for (Operation *op : forwardOps) {
      auto add = dyn_cast<AddOp>(op);
      if (!add || add.getLhs().getType() != add.getType() ||
          add.getRhs().getType() != add.getType() || !dynamic.contains(add.getResult()))
        continue;
      chainLength[op] = 1;
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp())
          if (chainLength.count(def) && chainLength[def] + 1 > chainLength[op]) {
            chainLength[op] = chainLength[def] + 1;
            previous[op] = def;
          }
      if (!longest || chainLength[op] > chainLength[longest])
        longest = op;
    }
    if (longest && chainLength[longest] >= 2) {
      SmallVector<Operation *> chain;
      for (Operation *op = longest; op; op = previous.lookup(op))
        chain.push_back(op);
      std::reverse(chain.begin(), chain.end());
      Operation *head = chain.front();
      // A block is `period` adds (a transformer layer: attention, then MLP); only the
      // block outputs (and the last add) are kept.
      int64_t period = blockPeriod(chain);
      for (size_t i = 0; i < chain.size(); ++i)
        if ((i + 1) % period == 0 || i + 1 == chain.size())
          checkpoints.insert(chain[i]->getResult(0));
      // The stream's input: the operand of the first add that the block also reads.
      for (Value operand : head->getOperands())
        if (llvm::count_if(operand.getUsers(), [&](Operation *user) {
              return forwardSet.contains(user);
            }) > 1)
          checkpoints.insert(operand);
      return;
    }
    for (Operation *op : forwardOps) {
      if (!isa<MatMulOp, GemmOp>(op))
        continue;
      Value a = op->getOperand(0), w = op->getOperand(1);
      if (dynamic.contains(a) && !dynamic.contains(w))
        checkpoints.insert(a);
      else if (dynamic.contains(w) && !dynamic.contains(a))
        checkpoints.insert(w);
    }
  }

  /// The smallest p such that the ops between residual adds i-1 and i (their names, in
  /// order) repeat every p adds: 2 for a transformer whose layer adds attention and then
  /// an MLP to the stream; 1 when every add closes the same kind of segment.
  int64_t blockPeriod(ArrayRef<Operation *> chain) {
    llvm::DenseMap<Operation *, int64_t> position;
    for (auto [i, op] : llvm::enumerate(forwardOps))
      position[op] = int64_t(i);
    SmallVector<std::string> segments;
    for (size_t i = 1; i < chain.size(); ++i) {
      std::string names;
      for (int64_t k = position[chain[i - 1]] + 1; k < position[chain[i]]; ++k) {
        Operation *op = forwardOps[k];
        if (llvm::any_of(op->getResults(), [&](Value r) { return dynamic.contains(r); }))
          names += op->getName().getStringRef().str() + ";";
      }
      segments.push_back(names);
    }
    int64_t n = int64_t(segments.size());
    for (int64_t p = 1; p <= n / 2; ++p) {
      bool repeats = true;
      for (int64_t i = 0; i + p < n && repeats; ++i)
        repeats = segments[i] == segments[i + p];
      if (repeats)
        return p;
    }
    return 1;
  }

  /// The parameters (ds.param_ref ops) a non-activation value is computed from. `visited`
  /// holds the ops already walked: the non-activation graph is a DAG with much sharing
  /// (a 6.7B GPT's took minutes walked as a tree).
  void collectParameters(Value v, llvm::SmallPtrSetImpl<Operation *> &params,
                         llvm::DenseSet<Operation *> &visited) const {
    Operation *def = v.getDefiningOp();
    if (!def || dynamic.contains(v) || !visited.insert(def).second)
      return;
    if (isa<ParamRefOp>(def)) {
      params.insert(def);
      return;
    }
    for (Value operand : def->getOperands())
      collectParameters(operand, params, visited);
  }

  /// The parameters that recomputing `v` (and what it needs) reads.
  void recomputeParameters(Value v, llvm::SmallPtrSetImpl<Operation *> &params,
                           llvm::DenseSet<Value> &seen,
                           llvm::DenseSet<Operation *> &visited) const {
    if (!seen.insert(v).second)
      return;
    for (Value operand : v.getDefiningOp()->getOperands()) {
      if (needsRecompute(operand))
        recomputeParameters(operand, params, seen, visited);
      else
        collectParameters(operand, params, visited);
    }
  }

  /// Keeps a saved value when recomputing it would read more bytes of parameters that
  /// the backward pass does not read anyway than the value itself has: under ZeRO-3
  /// those parameters would be gathered again only for the recomputation (an MLP's
  /// first weight, whose input needs no gradient), which raises the peak rather than
  /// lowering it. A block's weights and norms are read by its backward pass, and the
  /// bytes of a bias are far below those of the activation it is added to.
  void keepWhereRecomputeCostsMore(ArrayRef<Value> saved) {
    llvm::SmallPtrSet<Operation *, 16> backwardParams;
    llvm::DenseSet<Operation *> backwardVisited;
    for (Operation *op : backwardOps)
      for (Value operand : op->getOperands())
        collectParameters(operand, backwardParams, backwardVisited);
    // In forward order, so that a value kept here is a checkpoint for the later ones.
    SmallVector<Value> ordered(saved.begin(), saved.end());
    llvm::stable_sort(ordered, [](Value x, Value y) {
      return x.getDefiningOp()->isBeforeInBlock(y.getDefiningOp());
    });
    for (Value v : ordered) {
      if (!needsRecompute(v))
        continue;
      llvm::SmallPtrSet<Operation *, 16> params;
      llvm::DenseSet<Value> seen;
      llvm::DenseSet<Operation *> visited;
      recomputeParameters(v, params, seen, visited);
      int64_t extra = 0;
      for (Operation *param : params)
        if (!backwardParams.contains(param))
          extra += bytesOf(param->getResult(0));
      if (extra >= bytesOf(v))
        checkpoints.insert(v); // counted with the checkpoints

    }
  }

  /// mode=auto: keeps the saved values that save the most recompute FLOPs per byte
  /// while they fit in keepBytes.
  void keepGreedily(ArrayRef<Value> saved) {
    struct Candidate {
      Value value;
      double flopsPerByte;
      int64_t bytes;
    };
    SmallVector<Candidate> candidates;
    for (Value v : saved)
      if (needsRecompute(v) && bytesOf(v) > 0)
        candidates.push_back(
            {v, flopsOf(v.getDefiningOp()) / double(bytesOf(v)), bytesOf(v)});
    llvm::stable_sort(candidates, [](const Candidate &x, const Candidate &y) {
      return x.flopsPerByte > y.flopsPerByte;
    });
    int64_t left = keepBytes;
    for (const Candidate &c : candidates)
      if (c.bytes <= left) {
        left -= c.bytes;
        checkpoints.insert(c.value);
        ++numKept;
      }
  }

  func::FuncOp func;
  StringRef mode;
  int64_t keepBytes;
  SmallVector<Operation *> forwardOps, backwardOps;
  llvm::DenseSet<Operation *> forwardSet;
  llvm::DenseSet<Value> dynamic, checkpoints;
  IRMapping recomputed;
};

struct RecomputeActivationsPass
    : ds::impl::RecomputeActivationsPassBase<RecomputeActivationsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (mode != "none" && mode != "layer" && mode != "auto") {
      getOperation().emitError()
          << "ds-recompute: mode must be none, layer or auto, got '" << mode << "'";
      return signalPassFailure();
    }
    if (keepBytes < 0) {
      getOperation().emitError()
          << "ds-recompute: keep-bytes must be >= 0, got " << keepBytes;
      return signalPassFailure();
    }
    if (mode == "none")
      return;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func->hasAttr(kLossIndexAttr))
        continue;
      FunctionRecomputer recomputer(func, mode, keepBytes);
      recomputer.run();
      numCheckpoints += recomputer.numCheckpoints;
      numKept += recomputer.numKept;
      numRecomputedOps += recomputer.numRecomputedOps;
    }
  }
};
} // namespace
