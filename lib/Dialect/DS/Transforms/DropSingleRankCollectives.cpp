// Removes all-reduce, all-gather and reduce-scatter over grid axes that hold one rank.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/SymbolTable.h"

#define DEBUG_TYPE "ds-drop-single-rank-collectives"

namespace mlir::ds {
#define GEN_PASS_DEF_DROPSINGLERANKCOLLECTIVESPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;

namespace {
/// Ranks along `axes` of the collective's grid, or nullopt when the grid is not found or
/// a size is dynamic.
std::optional<int64_t> ranksAlong(Operation *op, SymbolTableCollection &symbols,
                                  FlatSymbolRefAttr gridName, ArrayRef<int16_t> axes) {
  auto grid = symbols.lookupNearestSymbolFrom<shard::GridOp>(op, gridName);
  if (!grid)
    return std::nullopt;
  ArrayRef<int64_t> shape = grid.getShape();
  int64_t ranks = 1;
  for (int16_t axis : axes) {
    if (axis < 0 || axis >= int64_t(shape.size()) || ShapedType::isDynamic(shape[axis]))
      return std::nullopt;
    ranks *= shape[axis];
  }
  return ranks;
}

/// Whether `t` has extent 1 in every dim but `axis`.
bool isFlatAlong(RankedTensorType t, int64_t axis) {
  for (int64_t d = 0; d < t.getRank(); ++d)
    if (d != axis && t.getDimSize(d) != 1)
      return false;
  return true;
}

/// The pieces that `split` takes apart again when its input is their concatenation, flat
/// (as ZeRO's buckets are: 1-D, or [1, N] pieces, with reshapes that add or drop unit dims
/// in between), or an empty list.
SmallVector<Value> concatenatedPieces(ds::SplitOp split) {
  Value v = split.getInput();
  while (auto reshape = v.getDefiningOp<ds::ReshapeOp>())
    v = reshape.getInput();
  auto concat = v.getDefiningOp<ds::ConcatOp>();
  if (!concat || !isFlatAlong(cast<RankedTensorType>(concat.getType()), concat.getAxis()) ||
      !isFlatAlong(cast<RankedTensorType>(split.getInput().getType()), split.getAxis()))
    return {};
  ArrayRef<int64_t> sizes = split.getSizes();
  if (sizes.size() != concat.getInputs().size())
    return {};
  for (auto [piece, size] : llvm::zip(concat.getInputs(), sizes))
    if (cast<RankedTensorType>(piece.getType()).getDimSize(concat.getAxis()) != size)
      return {};
  return SmallVector<Value>(concat.getInputs());
}

struct DropSingleRankCollectivesPass
    : ds::impl::DropSingleRankCollectivesPassBase<DropSingleRankCollectivesPass> {
  using Base::Base;

  void runOnOperation() override {
    SymbolTableCollection symbols;
    SmallVector<Operation *> dropped;
    getOperation().walk([&](Operation *op) {
      Value input, result;
      FlatSymbolRefAttr gridName;
      ArrayRef<int16_t> axes;
      if (auto r = dyn_cast<shard::AllReduceOp>(op)) {
        input = r.getInput(), result = r.getResult();
        gridName = r.getGridAttr(), axes = r.getGridAxes();
      } else if (auto g = dyn_cast<shard::AllGatherOp>(op)) {
        input = g.getInput(), result = g.getResult();
        gridName = g.getGridAttr(), axes = g.getGridAxes();
      } else if (auto s = dyn_cast<shard::ReduceScatterOp>(op)) {
        input = s.getInput(), result = s.getResult();
        gridName = s.getGridAttr(), axes = s.getGridAxes();
      } else {
        return;
      }
      if (input.getType() != result.getType() ||
          ranksAlong(op, symbols, gridName, axes) != std::optional<int64_t>(1))
        return;
      result.replaceAllUsesWith(input);
      dropped.push_back(op);
    });
    for (Operation *op : dropped)
      op->erase();
    numDropped += dropped.size();
    // What the dropped collectives leave of ZeRO's flat buckets: parameters or gradients
    // concatenated only to be split again (two copies of the bucket a step). Each piece
    // is read in place instead; canonicalization then erases the dead concat.
    if (dropped.empty())
      return;
    SmallVector<ds::SplitOp> splits;
    getOperation().walk([&](ds::SplitOp op) { splits.push_back(op); });
    for (ds::SplitOp split : splits) {
      SmallVector<Value> pieces = concatenatedPieces(split);
      if (pieces.empty())
        continue;
      OpBuilder b(split);
      for (auto [piece, result] : llvm::zip(pieces, split.getResults()))
        result.replaceAllUsesWith(
            piece.getType() == result.getType()
                ? piece
                : ds::ReshapeOp::create(b, split.getLoc(), result.getType(), piece).getResult());
      split.erase();
      ++numBucketsUnsplit;
    }
  }
};
} // namespace
