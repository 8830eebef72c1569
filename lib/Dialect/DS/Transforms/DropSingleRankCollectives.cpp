// Removes all-reduce, all-gather and reduce-scatter over grid axes that hold one rank.
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
  }
};
} // namespace
