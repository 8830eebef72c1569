// ZeRO stages 0-3: partitions gradients, optimizer state and parameters over ranks.
#include "ds/Dialect/DS/IR/DSLoweringAttrs.h"
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringMap.h"

#include <deque>

#define DEBUG_TYPE "ds-zero"

namespace mlir::ds {
#define GEN_PASS_DEF_PARTITIONFORZEROPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
constexpr llvm::StringLiteral kGrid = "world";

/// A trainable parameter and how it is split: n elements, shards of p, padded to W*p.
struct Partition {
  ParameterOp param;
  StateOp grad;
  SmallVector<StateOp> optimizerStates;
  StateOp master;         // fp32 master weights of a 16-bit parameter (mixed precision)
  bool ownMaster = false; // set with `master`: it came with the training step
  bool shardedStorage; // stage 3 above the persistence threshold
  int64_t n, p, padded;

  RankedTensorType fullType() { return param.getTensorType(); }
  RankedTensorType shardType() { return shardOf(fullType().getElementType()); }
  RankedTensorType shardOf(Type element) {
    return RankedTensorType::get({p}, element);
  }
};

class ZeroPartitioner {
public:
  ZeroPartitioner(ModuleOp module, int64_t stage, int64_t world,
                  int64_t persistenceThreshold, int64_t bucketSize,
                  int64_t prefetchBucketSize, bool contiguousGradients)
      : module(module), b(module.getContext()), stage(stage), world(world),
        threshold(persistenceThreshold), bucketSize(bucketSize),
        prefetchBucketSize(prefetchBucketSize),
        contiguousGradients(contiguousGradients) {}

  LogicalResult run() {
    microStep = dsrt::findProgram(module, dsrt::ProgramRole::micro_step);
    applyStep = dsrt::findProgram(module, dsrt::ProgramRole::apply_step);
    if (!microStep || !applyStep)
      return module.emitError("--ds-zero needs the micro_step and apply_step "
                              "programs of --ds-build-train-step");
    collectPartitions();
    b.setInsertionPointToStart(module.getBody());
    shard::GridOp::create(b, module.getLoc(), b.getStringAttr(kGrid),
                          b.getDenseI64ArrayAttr({world}));
    if (stage >= 2)
      partitionAccumulation();
    if (stage == 3 && failed(gatherParameters()))
      return failure();
    partitionStep();
    if (stage >= 1)
      buildInit();
    return success();
  }

private:
  void collectPartitions() {
    SymbolTable symbols(module);
    llvm::DenseMap<Operation *, size_t> partOf; // parameter -> index in parts
    for (auto state : module.getOps<StateOp>()) {
      if (!state.getOf())
        continue;
      auto param = symbols.lookup<ParameterOp>(state.getOfAttr().getValue());
      auto [found, added] = partOf.try_emplace(param, parts.size());
      auto it = parts.begin() + found->second;
      if (added) {
        int64_t n = param.getTensorType().getNumElements();
        int64_t p = (n + world - 1) / world;
        Partition part;
        part.param = param;
        part.shardedStorage = stage == 3 && n > threshold;
        part.n = n;
        part.p = p;
        part.padded = p * world;
        parts.push_back(part);
        it = std::prev(parts.end());
      }
      if (state.getKind() == StateKind::grad) {
        it->grad = state;
      } else if (state.getKind() == StateKind::master) {
        it->master = state;
        it->ownMaster = true;
      } else {
        it->optimizerStates.push_back(state);
      }
    }
    // Every symbol of a partition (parameter, gradient, master, optimizer states) to it.
    for (auto [i, p] : llvm::enumerate(parts)) {
      partBySymbol[p.param.getSymName()] = i;
      if (p.grad)
        partBySymbol[p.grad.getSymName()] = i;
      if (p.master)
        partBySymbol[p.master.getSymName()] = i;
      for (StateOp state : p.optimizerStates)
        partBySymbol[state.getSymName()] = i;
    }
  }

  /// Flattens `v` and pads it with zeros to W*p elements.
  Value flattenPad(Location loc, Value v, Partition &part) {
    auto type = cast<RankedTensorType>(v.getType());
    Value flat = ReshapeOp::create(b, loc, type.clone({part.n}), v);
    if (part.padded == part.n)
      return flat;
    auto padType = type.clone({part.padded - part.n});
    Value zeros = ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(padType, b.getFloatAttr(type.getElementType(), 0.0)));
    return ConcatOp::create(b, loc, ValueRange{flat, zeros}, b.getI64IntegerAttr(0));
  }

  FlatSymbolRefAttr grid() { return FlatSymbolRefAttr::get(b.getContext(), kGrid); }
  DenseI16ArrayAttr axes() { return b.getDenseI16ArrayAttr({0}); }

  /// This rank's shard of the average over ranks of a full-size tensor: the sum divided
  /// by W in the collective (in f32 for 16-bit gradients, before rounding to their dtype:
  /// an fp16 sum that would overflow before the division does not; the same bits as a
  /// sum times 1/W otherwise, for a power-of-two W).
  Value reduceScatterMean(Location loc, Value full, Partition &part) {
    Value flat = flattenPad(loc, full, part);
    return shard::ReduceScatterOp::create(
        b, loc, part.shardType(), grid(), axes(), flat,
        shard::ReductionKindAttr::get(b.getContext(), shard::ReductionKind::Average),
        b.getIndexAttr(0));
  }

  /// The whole tensor from every rank's shard.
  Value allGather(Location loc, Value shard, Partition &part) {
    auto elem = part.fullType().getElementType();
    Value flat = shard::AllGatherOp::create(
        b, loc, RankedTensorType::get({part.padded}, elem), grid(), axes(), shard,
        b.getIndexAttr(0));
    if (part.padded != part.n)
      flat = SliceOp::create(b, loc, flat, b.getDenseI64ArrayAttr({0}),
                             b.getDenseI64ArrayAttr({part.n}),
                             b.getDenseI64ArrayAttr({1}));
    return ReshapeOp::create(b, loc, part.fullType(), flat);
  }

  /// Stages 2-3: each micro-step reduce-scatters its gradients into shard
  /// accumulators, in buckets of at most `bucketSize` elements (a larger gradient is a
  /// bucket of its own) taken in the order the gradients complete: like DeepSpeed's IPG
  /// bucket, a bucket is closed before the next gradient would overflow it. A bucket is
  /// one collective over the gradients' shards laid out rank-major ([W, p_1 + p_2 +
  /// ...]), so rank r receives shard r of each. With `contiguousGradients` the concat
  /// that lays out a bucket of several gradients is marked kCopyInAttr: each gradient
  /// is copied into the bucket as soon as it is complete (DeepSpeed's contiguous IPG
  /// buffer).
  void partitionAccumulation() {
    struct Pending {
      Partition *part;
      AssignOp assign;
      AddOp add;
      StateRefOp acc;
    };
    SmallVector<Pending> pending;
    for (auto assign : microStep.getOps<AssignOp>()) {
      auto it = llvm::find_if(parts, [&](Partition &p) {
        return p.grad.getSymName() == assign.getTarget();
      });
      if (it == parts.end())
        continue;
      auto add = assign.getValue().getDefiningOp<AddOp>();
      pending.push_back({&*it, assign, add, add.getLhs().getDefiningOp<StateRefOp>()});
    }
    SmallVector<SmallVector<Pending>> buckets;
    int64_t filled = 0;
    for (Pending &p : pending) {
      if (buckets.empty() || (filled > 0 && filled + p.part->n > bucketSize)) {
        buckets.emplace_back();
        filled = 0;
      }
      buckets.back().push_back(p);
      filled += p.part->n;
    }
    for (auto &bucket : buckets) {
      // Every gradient of the bucket is complete before the last one's accumulation.
      b.setInsertionPoint(bucket.back().add);
      Location loc = bucket.back().add.getLoc();
      SmallVector<Value> rows;
      SmallVector<int64_t> widths;
      int64_t total = 0;
      for (Pending &p : bucket) {
        Value flat = flattenPad(loc, p.add.getRhs(), *p.part);
        rows.push_back(ReshapeOp::create(
            b, loc, RankedTensorType::get({world, p.part->p}, elementOf(flat)), flat));
        widths.push_back(p.part->p);
        total += p.part->p;
      }
      Type elem = elementOf(rows.front());
      Value matrix = rows.front();
      if (rows.size() > 1) {
        auto concat = ConcatOp::create(b, loc, rows, b.getI64IntegerAttr(1));
        if (contiguousGradients)
          concat->setAttr(kCopyInAttr, b.getUnitAttr());
        matrix = concat;
      }
      // The average over ranks (see reduceScatterMean).
      Value mine = shard::ReduceScatterOp::create(
          b, loc, RankedTensorType::get({1, total}, elem), grid(), axes(), matrix,
          shard::ReductionKindAttr::get(b.getContext(), shard::ReductionKind::Average),
          b.getIndexAttr(0));
      SmallVector<Value> pieces{mine};
      if (bucket.size() > 1) {
        SmallVector<Type> types;
        for (int64_t w : widths)
          types.push_back(RankedTensorType::get({1, w}, elem));
        auto split = SplitOp::create(b, loc, types, mine, b.getI64IntegerAttr(1),
                                     b.getDenseI64ArrayAttr(widths));
        pieces.assign(split.getResults().begin(), split.getResults().end());
      }
      for (auto [p, piece] : llvm::zip(bucket, pieces)) {
        p.part->grad.setType(p.part->shardType());
        p.acc.getResult().setType(p.part->shardType());
        Value local = ReshapeOp::create(b, loc, p.part->shardType(), piece);
        Value sum = AddOp::create(b, loc, p.acc, local);
        p.assign.getValueMutable().assign(sum);
        p.assign->moveAfter(sum.getDefiningOp());
        b.setInsertionPointAfter(p.assign);
        p.add.erase();
      }
    }
  }

  static Type elementOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getElementType();
  }

  /// Ops that only re-view a parameter (a transposed weight, a reshaped bias): the
  /// backward pass recomputes them from its own gather instead of keeping the forward
  /// copies alive across the whole step.
  static bool isViewOp(Operation *op) {
    return op->getNumOperands() == 1 && op->getNumResults() == 1 &&
           isa<TransposeOp, ReshapeOp, CastOp, SqueezeOp, UnsqueezeOp, ExpandOp,
               IdentityOp, SliceOp>(op);
  }

  /// Where a stage-3 parameter must be whole: the uses one gather serves.
  struct GatherEvent {
    Partition *part;
    ParamRefOp ref;
    Operation *first;              // the earliest use, in the original order
    SmallVector<OpOperand *> uses; // operands to point at the gathered tensor
    // Backward events recompute these views of the parameter from their own gather.
    SmallVector<Operation *> views;
    SmallVector<OpOperand *> viewUses;
    GatherEvent *forward = nullptr; // the forward event of the same parameter
    Value whole;                    // the gathered tensor, once materialized
  };

  /// Stage 3: parameters are stored as shards and gathered around their uses: once
  /// before the forward pass needs them and again before the backward pass does. The
  /// gathers are grouped in buckets of at least `prefetchBucketSize` elements, each
  /// issued before the first use of its first parameter (prefetching the rest).
  LogicalResult gatherParameters() {
    Block &body = microStep.getBody().front();
    // A bucket's gather may come before a later parameter's read: read them all first
    // (reading a persistent shard costs nothing).
    SmallVector<Operation *> refs;
    for (auto ref : body.getOps<ParamRefOp>())
      refs.push_back(ref);
    for (Operation *ref : llvm::reverse(refs))
      ref->moveBefore(&body, body.begin());
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    int64_t lossIndex = microStep->getAttrOfType<IntegerAttr>(kLossIndexAttr).getInt();
    Operation *lossOp = ret.getOperand(lossIndex).getDefiningOp();
    llvm::DenseMap<Operation *, int64_t> order;
    int64_t i = 0;
    for (Operation &op : body)
      order[&op] = i++;
    int64_t boundary = lossOp ? order[lossOp] : -1;
    auto isBackward = [&](Operation *op) { return order.lookup(op) > boundary; };
    auto firstOf = [&](ArrayRef<OpOperand *> uses) {
      Operation *first = uses.front()->getOwner();
      for (OpOperand *use : uses)
        if (order[use->getOwner()] < order[first])
          first = use->getOwner();
      return first;
    };

    llvm::StringMap<SmallVector<ParamRefOp, 1>> refsByName;
    for (Operation *op : refs) {
      auto ref = cast<ParamRefOp>(op);
      refsByName[ref.getName()].push_back(ref);
    }
    std::deque<GatherEvent> events; // stable addresses
    for (Partition &part : parts) {
      if (!part.shardedStorage)
        continue;
      part.param.setShardSizeAttr(b.getI64IntegerAttr(part.p));
      for (ParamRefOp ref : refsByName.lookup(part.param.getSymName())) {
        // The forward views of the parameter (views of views), in program order.
        SmallVector<Operation *> views;
        llvm::SmallPtrSet<Operation *, 8> seen;
        SmallVector<Value> work{ref.getResult()};
        while (!work.empty()) {
          Value v = work.pop_back_val();
          for (Operation *user : v.getUsers())
            if (user->getBlock() == &body && !isBackward(user) && isViewOp(user) &&
                user->getOperand(0) == v && seen.insert(user).second) {
              views.push_back(user);
              work.push_back(user->getResult(0));
            }
        }
        llvm::sort(views, [&](Operation *x, Operation *y) { return order[x] < order[y]; });
        llvm::SetVector<Value> derived;
        derived.insert(ref.getResult());
        for (Operation *view : views)
          derived.insert(view->getResult(0));
        GatherEvent fwd{&part, ref, nullptr, {}, {}, {}, nullptr, {}};
        GatherEvent bwd{&part, ref, nullptr, {}, {}, {}, nullptr, {}};
        for (Operation *view : views)
          if (view->getOperand(0) == ref.getResult())
            fwd.uses.push_back(&view->getOpOperand(0));
        for (Value v : derived)
          for (OpOperand &use : v.getUses()) {
            if (llvm::is_contained(views, use.getOwner()))
              continue;
            if (isBackward(use.getOwner())) {
              (v == ref.getResult() ? bwd.uses : bwd.viewUses).push_back(&use);
            } else if (v == ref.getResult()) {
              fwd.uses.push_back(&use);
            }
          }
        bwd.views = views;
        if (!fwd.uses.empty()) {
          fwd.first = firstOf(fwd.uses);
          events.push_back(fwd);
        }
        GatherEvent *fwdEvent = fwd.first ? &events.back() : nullptr;
        if (!bwd.uses.empty() || !bwd.viewUses.empty()) {
          SmallVector<OpOperand *> all(bwd.uses);
          llvm::append_range(all, bwd.viewUses);
          bwd.first = firstOf(all);
          bwd.forward = fwdEvent;
          events.push_back(bwd);
        }
      }
    }

    SmallVector<GatherEvent *> sorted;
    for (GatherEvent &e : events)
      sorted.push_back(&e);
    llvm::stable_sort(sorted, [&](GatherEvent *x, GatherEvent *y) {
      return order[x->first] < order[y->first];
    });
    SmallVector<SmallVector<GatherEvent *>> buckets;
    int64_t filled = 0;
    for (GatherEvent *e : sorted) {
      // A bucket never spans the forward/backward boundary.
      if (buckets.empty() || filled >= prefetchBucketSize ||
          isBackward(e->first) != isBackward(buckets.back().front()->first)) {
        buckets.emplace_back();
        filled = 0;
      }
      buckets.back().push_back(e);
      filled += e->part->n;
    }

    // Each bucket lays out its shards in the order of the forward pass's first uses, the
    // backward buckets too (whose uses come in about the reverse order): a backward bucket
    // then lists its parameters in the order a forward bucket of the same parameters does,
    // which lets --ds-span-concat-inputs read runs of them in place, without a copy.
    auto layoutKey = [&](GatherEvent *e) {
      GatherEvent *fwd = e->forward ? e->forward : isBackward(e->first) ? nullptr : e;
      return std::make_pair(fwd ? 0 : 1, order[fwd ? fwd->first : e->first]);
    };
    for (auto &bucket : buckets) {
      b.setInsertionPoint(bucket.front()->first);
      Location loc = bucket.front()->ref.getLoc();
      llvm::stable_sort(bucket, [&](GatherEvent *x, GatherEvent *y) {
        return layoutKey(x) < layoutKey(y);
      });
      SmallVector<Value> shards;
      int64_t total = 0;
      for (GatherEvent *e : bucket) {
        shards.push_back(e->ref.getResult());
        total += e->part->p;
      }
      for (GatherEvent *e : bucket)
        e->ref.getResult().setType(e->part->shardType());
      if (bucket.size() == 1) {
        bucket.front()->whole =
            allGather(loc, bucket.front()->ref.getResult(), *bucket.front()->part);
      } else {
        // Rank-major: every rank contributes [p_1 + p_2 + ...]; row r of the gathered
        // [W, total] matrix is rank r's, so column block i holds tensor i's shards.
        Type elem = bucket.front()->part->fullType().getElementType();
        Value mine = ConcatOp::create(b, loc, shards, b.getI64IntegerAttr(0));
        Value all = shard::AllGatherOp::create(
            b, loc, RankedTensorType::get({world * total}, elem), grid(), axes(), mine,
            b.getIndexAttr(0));
        Value matrix = ReshapeOp::create(
            b, loc, RankedTensorType::get({world, total}, elem), all);
        SmallVector<Type> types;
        SmallVector<int64_t> widths;
        for (GatherEvent *e : bucket) {
          types.push_back(RankedTensorType::get({world, e->part->p}, elem));
          widths.push_back(e->part->p);
        }
        auto split = SplitOp::create(b, loc, types, matrix, b.getI64IntegerAttr(1),
                                     b.getDenseI64ArrayAttr(widths));
        for (auto [e, piece] : llvm::zip(bucket, split.getResults()))
          e->whole = unpad(loc, piece, *e->part);
      }
      for (GatherEvent *e : bucket) {
        for (OpOperand *use : e->uses)
          use->set(e->whole);
        if (e->viewUses.empty())
          continue;
        // Backward uses of forward views: recompute them from this gather.
        IRMapping mapping;
        mapping.map(e->ref.getResult(), e->whole);
        if (e->forward)
          mapping.map(e->forward->whole, e->whole);
        llvm::SmallPtrSet<Value, 8> needed;
        for (OpOperand *use : e->viewUses)
          needed.insert(use->get());
        for (Operation *view : llvm::reverse(e->views))
          if (needed.contains(view->getResult(0)))
            needed.insert(view->getOperand(0));
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(e->first);
        for (Operation *view : e->views)
          if (needed.contains(view->getResult(0)))
            b.clone(*view, mapping);
        for (OpOperand *use : e->viewUses)
          use->set(mapping.lookup(use->get()));
      }
    }
    return success();
  }

  /// The whole tensor from the [W, p] matrix of its shards.
  Value unpad(Location loc, Value matrix, Partition &part) {
    auto elem = part.fullType().getElementType();
    Value flat = ReshapeOp::create(b, loc, RankedTensorType::get({part.padded}, elem),
                                   matrix);
    if (part.padded != part.n)
      flat = SliceOp::create(b, loc, flat, b.getDenseI64ArrayAttr({0}),
                             b.getDenseI64ArrayAttr({part.n}),
                             b.getDenseI64ArrayAttr({1}));
    return ReshapeOp::create(b, loc, part.fullType(), flat);
  }

  /// The optimizer step on shards: reduce gradients, update the rank's shard, gather.
  void partitionStep() {
    Block &body = applyStep.getBody().front();
    b.setInsertionPointToStart(module.getBody());
    for (Partition &part : parts) {
      if (stage >= 1 && part.ownMaster)
        part.master.setType(part.shardOf(part.master.getTensorType().getElementType()));
      if (stage >= 1)
        for (StateOp s : part.optimizerStates)
          s.setType(part.shardOf(s.getTensorType().getElementType()));
    }

    // Ops this loop inserts after the one it visits, which it then visits too.
    DenseSet<Operation *> created;
    llvm::StringMap<Value> reducedGrads; // stages 0-1: each gradient's average, once
    for (Operation &op : llvm::make_early_inc_range(body)) {
      if (created.contains(&op))
        continue;
      if (auto ref = dyn_cast<StateRefOp>(op)) {
        Partition *part = lookup(ref.getName());
        if (!part)
          continue;
        if (ref.getName() == part->grad.getSymName()) {
          b.setInsertionPointAfter(ref);
          Value g;
          if (stage <= 1 && world > 1 && reducedGrads.count(ref.getName())) {
            // The accumulator holds the average already (below): its first read.
            ref.getResult().replaceAllUsesWith(reducedGrads[ref.getName()]);
            continue;
          }
          if (stage <= 1 && world > 1) {
            // The average goes back into the accumulator, which the step zeroes after
            // the update anyway: the lowering reduces in place (no transient as large as
            // the gradient), and ds-bucket-collectives makes the in-place all-reduces one
            // per bucket. The all-reduce averages (the sum over ranks divided by W, in
            // f32 for 16-bit gradients, as the reduce-scatter path does), so at stage 0
            // the update reads the gradient global as at world 1 and the multi-tensor
            // optimizer step takes it, instead of a per-parameter multiply into a
            // transient that the clipping norm and the update both read. At stage 1 each
            // rank then takes its shard of the
            // average (DeepSpeed's bucketed all-reduce of ZeRO-1/2,
            // use_multi_rank_bucket_allreduce).
            Location loc = ref.getLoc();
            Value avg = shard::AllReduceOp::create(
                b, loc, ref.getType(), grid(), axes(), ref,
                shard::ReductionKindAttr::get(b.getContext(),
                                              shard::ReductionKind::Average));
            created.insert(AssignOp::create(b, loc, ref.getName(), avg));
            auto reduced = StateRefOp::create(b, loc, ref.getType(), ref.getName());
            created.insert(reduced);
            g = reduced;
            if (stage == 1)
              g = RankSliceOp::create(b, loc, part->shardType(),
                                      flattenPad(loc, reduced, *part));
            reducedGrads[ref.getName()] = g;
          } else if (stage == 0) {
            g = shard::AllReduceOp::create(
                b, ref.getLoc(), ref.getType(), grid(), axes(), ref,
                shard::ReductionKindAttr::get(b.getContext(), shard::ReductionKind::Sum));
          } else if (stage == 1) {
            g = reduceScatterMean(ref.getLoc(), ref, *part);
          } else {
            ref.getResult().setType(part->shardType());
            continue;
          }
          ref.getResult().replaceUsesWithIf(g, [&](OpOperand &use) {
            return use.getOwner() != g.getDefiningOp() &&
                   !isa<shard::AllReduceOp, ReshapeOp>(use.getOwner());
          });
          continue;
        }
        if (stage >= 1)
          ref.getResult().setType(part->shardOf(
              cast<RankedTensorType>(ref.getType()).getElementType()));
        continue;
      }
      if (auto check = dyn_cast<AllFiniteOp>(op)) {
        refreshResultTypes(&op);
        if (stage >= 1) {
          // Every rank checked only its shards: all ranks skip if any overflowed.
          b.setInsertionPointAfter(check);
          Value all = shard::AllReduceOp::create(
              b, check.getLoc(), check.getType(), grid(), axes(), check,
              shard::ReductionKindAttr::get(b.getContext(), shard::ReductionKind::Min));
          check.getResult().replaceAllUsesExcept(all, all.getDefiningOp());
        }
        continue;
      }
      if (auto update = dyn_cast<LossScaleUpdateOp>(op)) {
        update.setZero(stage >= 1); // ZeRO's scaler has hysteresis
        continue;
      }
      if (auto ref = dyn_cast<ParamRefOp>(op)) {
        Partition *part = lookup(ref.getName());
        if (!part || stage == 0)
          continue;
        if (part->shardedStorage) {
          ref.getResult().setType(part->shardType());
        } else {
          // An fp32 parameter is its own master: the rank updates its slice of it (no
          // separate master copy), and the whole parameter is gathered back.
          SmallVector<OpOperand *> uses;
          for (OpOperand &use : ref.getResult().getUses())
            uses.push_back(&use);
          b.setInsertionPointAfter(ref);
          Value mine = RankSliceOp::create(b, ref.getLoc(), part->shardType(),
                                           flattenPad(ref.getLoc(), ref, *part));
          for (OpOperand *use : uses)
            use->set(mine);
        }
        continue;
      }
      if (auto normSq = dyn_cast<GradNormSqOp>(op); normSq && stage >= 1) {
        // Each rank summed the squares of its shards: sum over the ranks.
        b.setInsertionPointAfter(normSq);
        Value local = normSq.getResult();
        Value total = shard::AllReduceOp::create(
            b, op.getLoc(), local.getType(), grid(), axes(), local,
            shard::ReductionKindAttr::get(b.getContext(), shard::ReductionKind::Sum));
        local.replaceAllUsesExcept(total, total.getDefiningOp());
        continue;
      }
      if (auto assign = dyn_cast<AssignOp>(op)) {
        Partition *part = lookup(assign.getTarget());
        if (!part || stage == 0)
          continue;
        b.setInsertionPoint(assign);
        if (assign.getTarget() == part->grad.getSymName()) {
          // Zeroing the accumulator: at its (possibly shard) type.
          auto type = part->grad.getTensorType();
          assign.getValueMutable().assign(ConstantOp::create(
              b, assign.getLoc(),
              DenseElementsAttr::get(type,
                                     b.getFloatAttr(type.getElementType(), 0.0))));
          continue;
        }
        if (assign.getTarget() == part->param.getSymName() && !part->shardedStorage) {
          // The whole parameter is gathered from the updated shards.
          assign.getValueMutable().assign(
              allGather(assign.getLoc(), assign.getValue(), *part));
        }
        continue;
      }
      refreshResultTypes(&op);
    }
  }

  /// Recomputes result types after operands changed from whole tensors to shards.
  void refreshResultTypes(Operation *op) {
    if (auto c = dyn_cast<CastOp>(op)) {
      auto in = cast<RankedTensorType>(c.getInput().getType());
      c.getResult().setType(in.clone(c.getType().getElementType()));
      return;
    }
    if (auto adam = dyn_cast<AdamUpdateOp>(op)) {
      for (Value r : adam->getResults())
        r.setType(adam.getParam().getType());
      return;
    }
    if (auto lamb = dyn_cast<LambUpdateOp>(op)) {
      for (Value r : lamb->getResults())
        r.setType(lamb.getParam().getType());
      return;
    }
    if (auto sgd = dyn_cast<SgdUpdateOp>(op)) {
      for (Value r : sgd->getResults())
        r.setType(sgd.getParam().getType());
      return;
    }
    auto infer = dyn_cast<InferTypeOpInterface>(op);
    if (!infer)
      return;
    SmallVector<Type> types;
    if (failed(infer.inferReturnTypes(op->getContext(), op->getLoc(),
                                      op->getOperands(), op->getRawDictionaryAttrs(),
                                      op->getPropertiesStorage(), op->getRegions(),
                                      types)))
      return;
    for (auto [r, t] : llvm::zip(op->getResults(), types))
      r.setType(t);
  }

  /// Stages 1-3 with mixed precision: the init program of the training step seeds whole
  /// fp32 masters from the loaded parameters; each rank keeps only its shard.
  void buildInit() {
    func::FuncOp init = dsrt::findProgram(module, dsrt::ProgramRole::init);
    Location loc = module.getLoc();
    if (init) {
      Block &body = init.getBody().front();
      for (Operation &op : llvm::make_early_inc_range(body)) {
        if (auto ref = dyn_cast<ParamRefOp>(op)) {
          Partition *part = lookup(ref.getName());
          if (part && part->shardedStorage)
            ref.getResult().setType(part->shardType());
          continue;
        }
        if (auto assign = dyn_cast<AssignOp>(op)) {
          Partition *part = lookup(assign.getTarget());
          if (!part || !part->master ||
              assign.getTarget() != part->master.getSymName())
            continue;
          Value v = assign.getValue();
          if (v.getType() != part->master.getType()) {
            b.setInsertionPoint(assign);
            auto elem = cast<RankedTensorType>(v.getType()).getElementType();
            assign.getValueMutable().assign(RankSliceOp::create(
                b, loc, part->shardOf(elem), flattenPad(loc, v, *part)));
          }
          continue;
        }
        refreshResultTypes(&op);
      }
    }
  }

  Partition *lookup(StringRef symbol) {
    auto it = partBySymbol.find(symbol);
    return it == partBySymbol.end() ? nullptr : &parts[it->second];
  }

  ModuleOp module;
  OpBuilder b;
  int64_t stage, world, threshold, bucketSize, prefetchBucketSize;
  bool contiguousGradients;
  func::FuncOp microStep, applyStep;
  SmallVector<Partition> parts;
  llvm::StringMap<size_t> partBySymbol; // lookup()'s index, built with parts
};

struct PartitionForZeroPass
    : ds::impl::PartitionForZeroPassBase<PartitionForZeroPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (stage < 0 || stage > 3) {
      module.emitError("ZeRO stage must be 0, 1, 2 or 3, got ")
          << static_cast<int64_t>(stage);
      return signalPassFailure();
    }
    if (worldSize < 1) {
      module.emitError("world size must be at least 1, got ")
          << static_cast<int64_t>(worldSize);
      return signalPassFailure();
    }
    if (failed(ZeroPartitioner(module, stage, worldSize, paramPersistenceThreshold,
                               reduceBucketSize, prefetchBucketSize,
                               contiguousGradients)
                   .run()))
      signalPassFailure();
  }
};
} // namespace
