// Merges frozen parameters with identical data (per-layer mask buffers) into one.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "llvm/ADT/DenseMap.h"

#define DEBUG_TYPE "ds-merge-identical-buffers"

namespace mlir::ds {
#define GEN_PASS_DEF_MERGEIDENTICALBUFFERSPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
struct MergeIdenticalBuffersPass
    : ds::impl::MergeIdenticalBuffersPassBase<MergeIdenticalBuffersPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // (content key, type, space) -> the first frozen parameter holding that data.
    llvm::DenseMap<std::tuple<StringAttr, Type, int64_t>, ParameterOp> first;
    llvm::DenseMap<StringAttr, StringAttr> replacement;
    SmallVector<ParameterOp> copies;
    for (auto param : module.getOps<ParameterOp>()) {
      auto key = param->getAttrOfType<StringAttr>(kContentKeyAttr);
      if (!param.getFrozen() || !key || param.getShardSize())
        continue;
      auto [it, inserted] =
          first.try_emplace({key, param.getType(), int64_t(param.getSpace())}, param);
      if (inserted)
        continue;
      replacement[param.getSymNameAttr()] = it->second.getSymNameAttr();
      copies.push_back(param);
    }
    // The keys have served: the program after this pass reads as before the importer
    // set them.
    for (auto param : module.getOps<ParameterOp>())
      param->removeAttr(kContentKeyAttr);
    if (copies.empty())
      return;
    module.walk([&](ParamRefOp ref) {
      if (StringAttr to = replacement.lookup(ref.getNameAttr().getAttr()))
        ref.setNameAttr(FlatSymbolRefAttr::get(to));
    });
    for (ParameterOp copy : copies)
      copy.erase();
    numMerged += copies.size();
  }
};
} // namespace
