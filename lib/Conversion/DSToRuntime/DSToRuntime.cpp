// Lowers ds ops on tensors to dsrt kernel calls on buffers.
#include "ds/Conversion/Passes.h"
#include "ds/Conversion/RuntimeKernelAttrs.h"
#include "ds/Dialect/DS/IR/DSLoweringAttrs.h"
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

#include "ds/runtime/KernelCatalogue.h"

#define DEBUG_TYPE "ds-convert-to-runtime"

namespace mlir::ds {
#define GEN_PASS_DEF_CONVERTDSTORUNTIMEPASS
#include "ds/Conversion/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
MemRefType toMemRef(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return MemRefType::get(tensor.getShape(), tensor.getElementType());
}

/// The plan's string of a `ds` enum attribute (the runtime reads these as strings), or
/// null for other attributes.
StringAttr getEnumString(Attribute attr) {
  MLIRContext *ctx = attr.getContext();
  return llvm::TypeSwitch<Attribute, StringAttr>(attr)
      .Case([&](GeluApproximationAttr a) {
        return StringAttr::get(ctx, stringifyGeluApproximation(a.getValue()));
      })
      .Case([&](LossReductionAttr a) {
        return StringAttr::get(ctx, stringifyLossReduction(a.getValue()));
      })
      .Case([&](LrScheduleAttr a) {
        return StringAttr::get(ctx, stringifyLrSchedule(a.getValue()));
      })
      .Default([](Attribute) { return StringAttr(); });
}

/// The op's attributes with every defaulted one spelled out, so the plan is explicit.
DictionaryAttr getKernelAttrs(Operation *op) {
  Builder b(op->getContext());
  NamedAttrList attrs(op->getAttrDictionary());
  auto setBool = [&](StringRef name, bool v) { attrs.set(name, b.getBoolAttr(v)); };
  llvm::TypeSwitch<Operation *>(op)
      .Case<GatherOp>([&](auto g) { attrs.set("axis", b.getI64IntegerAttr(g.getAxis())); })
      .Case<GemmOp>([&](GemmOp g) {
        attrs.set("alpha", g.getAlphaAttr() ? g.getAlphaAttr() : b.getF32FloatAttr(1));
        attrs.set("beta", g.getBetaAttr() ? g.getBetaAttr() : b.getF32FloatAttr(1));
        setBool("trans_a", g.getTransA());
        setBool("trans_b", g.getTransB());
      })
      .Case<LayerNormOp>([&](LayerNormOp l) {
        attrs.set("epsilon", b.getF32FloatAttr(l.getEpsilon().convertToFloat()));
      })
      .Case<GeluOp>([&](GeluOp g) {
        attrs.set("approximate",
                  GeluApproximationAttr::get(b.getContext(), g.getApproximate()));
      })
      .Case<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(
          [&](auto r) { setBool("keepdims", r.getKeepdims()); })
      .Case<DropoutOp>([&](DropoutOp d) {
        attrs.set("seed", b.getI64IntegerAttr(d.getSeed()));
      })
      .Case<SoftmaxCrossEntropyLossOp, NllLossOp>([&](auto l) {
        attrs.set("reduction",
                  LossReductionAttr::get(b.getContext(), l.getReduction()));
      })
      .Case<TriluOp>([&](TriluOp t) { attrs.set("k", b.getI64IntegerAttr(t.getK())); });
  for (NamedAttribute a : NamedAttrList(attrs))
    if (StringAttr str = getEnumString(a.getValue()))
      attrs.set(a.getName(), str);
  return attrs.getDictionary(op->getContext());
}

/// Sets every attribute the catalogue gives a default and `attrs` lacks.
void addCatalogueDefaults(const ::ds::rt::KernelInfo &info, NamedAttrList &attrs,
                          Builder &b) {
  for (const ::ds::rt::AttrInfo &a : info.attrs) {
    if (!a.hasDefault || attrs.get(a.name))
      continue;
    switch (a.kind) {
    case ::ds::rt::AttrKind::Int:
      attrs.set(a.name, b.getI64IntegerAttr(a.defaultInt));
      break;
    case ::ds::rt::AttrKind::Float:
      attrs.set(a.name, b.getF64FloatAttr(a.defaultFloat));
      break;
    case ::ds::rt::AttrKind::Bool:
      attrs.set(a.name, b.getBoolAttr(a.defaultInt != 0));
      break;
    case ::ds::rt::AttrKind::String:
      if (a.defaultString)
        attrs.set(a.name, b.getStringAttr(a.defaultString));
      break;
    case ::ds::rt::AttrKind::Ints:
    case ::ds::rt::AttrKind::Value:
      break;
    }
  }
}

/// The runtime's name of a shard reduction, or failure for those it lacks.
FailureOr<StringRef> getReductionName(shard::ReductionKind kind) {
  switch (kind) {
  case shard::ReductionKind::Sum:
    return StringRef("sum");
  case shard::ReductionKind::Max:
    return StringRef("max");
  case shard::ReductionKind::Min:
    return StringRef("min");
  case shard::ReductionKind::Average:
    return StringRef("avg");
  default:
    return failure();
  }
}

/// Kernel name and attributes of a shard collective on the world's 1-D grid. Records the
/// grid size as the module's world size; fails on grids the runtime cannot run.
LogicalResult getCollective(Operation *op, SymbolTableCollection &symbols,
                            std::optional<int64_t> &worldSize,
                            StringRef &kernel, NamedAttrList &attrs) {
  Builder b(op->getContext());
  auto gridName = op->getAttrOfType<FlatSymbolRefAttr>("grid");
  auto grid = symbols.lookupNearestSymbolFrom<shard::GridOp>(op, gridName);
  if (!grid)
    return op->emitError("unknown grid ") << gridName;
  if (grid.getRank() != 1 || ShapedType::isDynamic(grid.getShape()[0]))
    return op->emitError("collectives need a 1-D grid of static size (the world), "
                         "got @")
           << grid.getSymName();
  int64_t size = grid.getShape()[0];
  if (worldSize && *worldSize != size)
    return op->emitError("grid @") << grid.getSymName() << " has " << size
                                   << " ranks, but another grid has "
                                   << *worldSize;
  worldSize = size;
  auto setReduction = [&](shard::ReductionKind kind) -> LogicalResult {
    auto name = getReductionName(kind);
    if (failed(name))
      return op->emitError("reduction '")
             << shard::stringifyReductionKind(kind)
             << "' has no runtime kernel (sum, max, min, average do)";
    attrs.set("reduction", b.getStringAttr(*name));
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](shard::AllGatherOp g) {
        kernel = "all_gather";
        attrs.set("axis", b.getI64IntegerAttr(g.getGatherAxis().getSExtValue()));
        return success();
      })
      .Case([&](shard::ReduceScatterOp r) {
        kernel = "reduce_scatter";
        attrs.set("axis", b.getI64IntegerAttr(r.getScatterAxis().getSExtValue()));
        return setReduction(r.getReduction());
      })
      .Case([&](shard::AllReduceOp r) {
        kernel = "all_reduce";
        return setReduction(r.getReduction());
      })
      .Case([&](shard::BroadcastOp r) -> LogicalResult {
        kernel = "broadcast";
        if (!r.getRootDynamic().empty() || r.getRoot().size() != 1)
          return op->emitError("broadcast needs one static root rank");
        attrs.set("root", b.getI64IntegerAttr(r.getRoot()[0]));
        return success();
      })
      .Default([&](Operation *) {
        return op->emitError("cannot lower '")
               << op->getName() << "' to runtime kernels";
      });
}

/// Whether `op`'s (first) result is its input, element for element, with no other result
/// read: a slice that keeps every element, a dropout of ratio 0 whose mask nothing reads
/// (its gradient is the identity). Lowered to a view, like a reshape.
bool keepsInputBytes(Operation &op) {
  if (auto slice = dyn_cast<SliceOp>(op))
    // (The input may already be a buffer: compare shapes.)
    return cast<ShapedType>(slice.getResult().getType()).getShape() ==
               cast<ShapedType>(slice.getInput().getType()).getShape() &&
           llvm::all_of(slice.getSteps(), [](int64_t s) { return s > 0; });
  if (auto dropout = dyn_cast<DropoutOp>(op))
    return dropout.getRatio().isZero() && dropout.getMask().use_empty();
  return false;
}

/// Expands ds.grad_norm_sq into the ops whose kernels compute it: per gradient
/// (cast to f32), mul, reduce_sum over all axes, and a chain of adds (the grad_norm_sq
/// kernel computes the same bits in one launch; this is the multi-tensor-grad-norm=false
/// path, kept for comparisons).
void expandGradNormSq(Block &body) {
  for (auto normSq : llvm::make_early_inc_range(body.getOps<GradNormSqOp>())) {
    OpBuilder b(normSq);
    Location loc = normSq.getLoc();
    Value sum;
    for (Value g : normSq.getGrads()) {
      auto type = cast<RankedTensorType>(g.getType());
      if (!type.getElementType().isF32())
        g = CastOp::create(b, loc, type.clone(b.getF32Type()), g);
      Value sq = ReduceSumOp::create(b, loc, MulOp::create(b, loc, g, g),
                                     b.getDenseI64ArrayAttr({}), b.getBoolAttr(false));
      sum = sum ? AddOp::create(b, loc, sum, sq).getResult() : sq;
    }
    normSq.getResult().replaceAllUsesWith(sum);
    normSq.erase();
  }
}

/// Whether `v` stays alive anyway: a parameter or state, a constant, or a scalar.
bool isCheapToKeep(Value v) {
  Operation *def = v.getDefiningOp();
  if (def && isa<ParamRefOp, StateRefOp, ConstantOp>(def))
    return true;
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && type.getNumElements() <= 1;
}

/// The order of a block's ops, numbered once and extended as a rewrite reaches further
/// ops (lowerCopyIn, sinkToFirstUse): Operation::isBeforeInBlock renumbers the whole block
/// whenever an inserted or moved op finds no gap between its neighbours, which made these
/// rewrites quadratic (most of a 66B plan's lowering time). An op inserted or moved into
/// the numbered part takes the midpoint of its neighbours; when the doubles run out of
/// room, the numbered part is renumbered.
struct BlockOrder {
  explicit BlockOrder(Block &body) : body(body) {}
  /// Numbers the ops after the last numbered one, up to and including `stop`.
  void extendTo(Operation *stop) {
    Operation *op = last ? last->getNextNode() : &body.front();
    for (; op; op = op->getNextNode()) {
      position[op] = next++;
      last = op;
      if (op == stop)
        return;
    }
  }
  bool before(Operation *a, Operation *b) const { return position.at(a) < position.at(b); }
  bool contains(Operation *op) const { return position.contains(op); }
  /// `op` was inserted or moved next to numbered ops: between its neighbours.
  void place(Operation *op) {
    if (tryPlace(op))
      return;
    Operation *stop = last == op ? op->getPrevNode() : last;
    last = nullptr;
    next = 0;
    position.clear();
    extendTo(stop);
    if (!tryPlace(op))
      llvm_unreachable("an op placed with room between renumbered neighbours");
  }
  /// `op`, numbered, is about to be erased.
  void forget(Operation *op) {
    if (op == last)
      last = op->getPrevNode();
    position.erase(op);
  }

private:
  bool tryPlace(Operation *op) {
    Operation *prev = op->getPrevNode(), *after = op->getNextNode();
    auto hi = after ? position.find(after) : position.end();
    if (!prev) {
      position[op] = hi == position.end() ? 0 : hi->second - 1;
      return true;
    }
    double lo = position.at(prev);
    double mid = hi == position.end() ? lo + 1 : lo + (hi->second - lo) / 2;
    if (!(mid > lo) || (hi != position.end() && !(mid < hi->second)))
      return false;
    position[op] = mid;
    return true;
  }
  Block &body;
  llvm::DenseMap<Operation *, double> position;
  Operation *last = nullptr;
  double next = 0;
};

/// Moves side-effect-free ops whose operands stay alive anyway (constants, parameters,
/// optimizer state, scalars) right before their first user, so that their results
/// are not alive longer than needed: constants would otherwise live from the top of
/// the program, where canonicalization hoists them, and a clipped gradient from the
/// clipping to its optimizer update. Never across a write of persistent state, since
/// reads of it become reads of the buffer itself.
void sinkToFirstUse(Block &body) {
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);
  BlockOrder order(body);
  order.extendTo(&body.back());
  for (Operation *op : llvm::reverse(ops)) {
    // Collectives stay where they are: they should start as early as they can.
    if (!isa<DSDialect>(op->getDialect()) || !isPure(op) || op->getNumResults() == 0 ||
        !llvm::all_of(op->getOperands(), isCheapToKeep))
      continue;
    Operation *first = nullptr;
    for (Operation *user : op->getUsers()) {
      Operation *top = body.findAncestorOpInBlock(*user);
      if (top && (!first || order.before(top, first)))
        first = top;
    }
    if (!first || first == op->getNextNode())
      continue;
    bool readsState = llvm::any_of(op->getOperands(), [](Value v) {
      return v.getDefiningOp<ParamRefOp>() || v.getDefiningOp<StateRefOp>();
    });
    bool crossesWrite = false;
    for (Operation *it = op->getNextNode(); readsState && it != first;
         it = it->getNextNode())
      crossesWrite |= isa<AssignOp>(it);
    if (!crossesWrite) {
      op->moveBefore(first);
      order.place(op);
    }
  }
}

/// Casts a widened output at the return: a cast to a wider float type (mixed
/// precision's fp32 copy of a 16-bit output, such as the logits) that the program
/// returns is made right before the return (moved there, or cloned there when something
/// earlier also reads it, like the loss), so the wide copy is not alive from the
/// forward pass to the end of the program; the narrow input stays alive instead, which
/// costs less.
void castOutputsAtReturn(Block &body) {
  auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
  if (!ret)
    return;
  OpBuilder b(ret);
  for (OpOperand &operand : ret->getOpOperands()) {
    auto widen = operand.get().getDefiningOp<CastOp>();
    if (!widen || widen->getBlock() != &body || widen->getNextNode() == ret)
      continue;
    auto in = cast<RankedTensorType>(widen.getInput().getType());
    auto out = cast<RankedTensorType>(widen.getType());
    if (!isa<FloatType>(in.getElementType()) || !isa<FloatType>(out.getElementType()) ||
        in.getElementTypeBitWidth() >= out.getElementTypeBitWidth())
      continue;
    if (llvm::all_of(widen->getUsers(), [&](Operation *user) { return user == ret; }))
      widen->moveBefore(ret);
    else
      operand.set(b.clone(*widen)->getResult(0));
  }
}

/// Lowers a ds.concat marked kCopyInAttr: the result buffer is written by one strided
/// copy per operand, each right after the operand's buffer is complete (its writer and
/// the view the concat reads), and allocated right before the first of them. An operand
/// used only by the concat dies at its copy instead of at the concat. The bytes are the
/// concat's: each operand's rows land in its column block of the result.
void lowerCopyIn(ConcatOp concat, Block &body, BlockOrder &order) {
  OpBuilder b(concat);
  Location loc = concat.getLoc();
  auto type = cast<RankedTensorType>(concat.getType());
  int64_t axis = concat.getAxis();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= type.getDimSize(d);
  for (int64_t d = axis + 1; d < type.getRank(); ++d)
    inner *= type.getDimSize(d);
  int64_t rowWidth = type.getDimSize(axis) * inner;

  order.extendTo(concat);
  auto before = [&](Operation *a, Operation *b) { return order.before(a, b); };

  // Where each copy goes: after the latest op that defines or writes the operand's bytes.
  auto readyPoint = [&](Value v) -> Operation * {
    Value root = dsrt::getAliasRoot(v);
    Operation *last = root.getDefiningOp();
    SmallVector<Value> aliases{root};
    while (!aliases.empty()) {
      Value a = aliases.pop_back_val();
      for (OpOperand &use : a.getUses()) {
        Operation *user = use.getOwner();
        if (auto view = dyn_cast<dsrt::ViewOp>(user)) {
          aliases.push_back(view.getResult());
          continue;
        }
        auto kernel = dyn_cast<dsrt::KernelOp>(user);
        if (!kernel || user->getBlock() != &body || !order.contains(user))
          continue;
        auto [begin, length] = kernel.getODSOperandIndexAndLength(1); // the outputs
        bool isOutput = use.getOperandNumber() >= begin &&
                        use.getOperandNumber() < begin + length;
        if (isOutput && (!last || !order.contains(last) || before(last, user)))
          last = user;
      }
    }
    // A definition outside the block (a function argument's) is ready at the start.
    return last && order.contains(last) ? last : nullptr;
  };

  SmallVector<Operation *> points;
  for (Value in : concat.getInputs())
    points.push_back(readyPoint(in));
  // The result buffer is allocated right before the earliest copy.
  Operation *first = nullptr;
  for (Operation *p : points) {
    Operation *at = p ? p->getNextNode() : &body.front();
    if (!first || before(at, first))
      first = at;
  }
  b.setInsertionPoint(first);
  Value result = dsrt::AllocOp::create(b, loc, toMemRef(type), IntegerAttr());
  Operation *alloc = result.getDefiningOp();
  order.place(alloc);

  int64_t column = 0;
  for (auto [in, point] : llvm::zip(concat.getInputs(), points)) {
    int64_t width = cast<RankedTensorType>(in.getType()).getDimSize(axis) * inner;
    // After the point and after the alloc (which follows the earliest point).
    Operation *at = point && before(alloc, point) ? point : alloc;
    // The views the concat reads may have been made where the bucket is laid out (ZeRO
    // makes them at its end); they write nothing, so those after the copy's place move
    // up to it, root first, and the copy reads the operand as soon as it is complete.
    SmallVector<Operation *> views;
    Value v = in;
    while (Operation *def = v.getDefiningOp()) {
      auto view = dyn_cast<dsrt::ViewOp>(def);
      if (!view)
        break;
      views.push_back(def);
      v = view.getSource();
    }
    for (Operation *view : llvm::reverse(views))
      if (order.contains(view) && before(at, view)) {
        view->moveAfter(at);
        order.place(view);
        at = view;
      }
    b.setInsertionPointAfter(at);
    NamedAttrList attrs;
    attrs.set("count", b.getI64IntegerAttr(width));
    attrs.set("dst_offset", b.getI64IntegerAttr(column));
    attrs.set("rows", b.getI64IntegerAttr(outer));
    attrs.set("src_row_stride", b.getI64IntegerAttr(width));
    attrs.set("dst_row_stride", b.getI64IntegerAttr(rowWidth));
    const ::ds::rt::KernelInfo *info = ::ds::rt::findKernelInfo("copy");
    addCatalogueDefaults(*info, attrs, b);
    auto copy = dsrt::KernelOp::create(
        b, loc, b.getStringAttr("copy"), ValueRange{in}, ValueRange{result},
        attrs.getDictionary(b.getContext()),
        dsrt::StreamAttr::get(b.getContext(), dsrt::Stream::copy));
    order.place(copy);
    column += width;
  }
  concat.getResult().replaceAllUsesWith(result);
  order.forget(concat);
  concat.erase();
}

LogicalResult convertFunction(func::FuncOp func, dsrt::ProgramRole defaultRole,
                              bool multiTensorGradNorm, SymbolTableCollection &symbols,
                              std::optional<int64_t> &worldSize) {
  if (func.isExternal())
    return success();
  Block &body = func.getBody().front();
  for (BlockArgument arg : body.getArguments()) {
    if (!isa<RankedTensorType>(arg.getType()))
      return func.emitError("argument #")
             << arg.getArgNumber() << " of @" << func.getSymName()
             << " is not a ranked tensor: " << arg.getType();
    arg.setType(toMemRef(arg.getType()));
  }

  if (!multiTensorGradNorm)
    expandGradNormSq(body);
  sinkToFirstUse(body);
  castOutputsAtReturn(body);

  OpBuilder b(func.getContext());
  BlockOrder order(body);
  for (Operation &op : llvm::make_early_inc_range(body)) {
    b.setInsertionPoint(&op);
    if (isa<ParamRefOp, StateRefOp>(op)) {
      auto name = op.getAttrOfType<FlatSymbolRefAttr>("name");
      Value buffer = dsrt::ParamOp::create(
          b, op.getLoc(), toMemRef(op.getResult(0).getType()), name);
      op.getResult(0).replaceAllUsesWith(buffer);
      op.erase();
      continue;
    }
    if (auto assign = dyn_cast<AssignOp>(op)) {
      // Writes go into the persistent buffer; reads of it earlier in the program
      // have already happened (programs read state first and assign last).
      Value target = dsrt::ParamOp::create(b, op.getLoc(),
                                           toMemRef(assign.getValue().getType()),
                                           assign.getTargetAttr());
      dsrt::KernelOp::create(b, op.getLoc(), b.getStringAttr("copy"),
                             ValueRange{assign.getValue()}, ValueRange{target},
                             b.getDictionaryAttr({}),
                             dsrt::StreamAttr::get(b.getContext(), dsrt::Stream::copy));
      op.erase();
      continue;
    }
    if (isa<func::ReturnOp>(op))
      continue;
    if (auto concat = dyn_cast<ConcatOp>(op); concat && concat->hasAttr(kCopyInAttr)) {
      lowerCopyIn(concat, body, order);
      continue;
    }
    if (isa<ReshapeOp, SqueezeOp, UnsqueezeOp, IdentityOp>(op) || keepsInputBytes(op)) {
      // Same bytes, another shape: a view, not a copy.
      Value view = dsrt::ViewOp::create(b, op.getLoc(),
                                        toMemRef(op.getResult(0).getType()),
                                        op.getOperand(0));
      op.getResult(0).replaceAllUsesWith(view);
      op.erase();
      continue;
    }
    StringRef kernel = op.getName().stripDialect();
    NamedAttrList attrs;
    if (isa<shard::ShardDialect>(op.getDialect())) {
      if (failed(getCollective(&op, symbols, worldSize, kernel, attrs)))
        return failure();
    } else if (auto slice = dyn_cast<RankSliceOp>(op)) {
      // Rank r copies elements [r*p, r*p + p) of the padded input.
      int64_t p = slice.getResult().getType().getDimSize(0);
      kernel = "copy";
      attrs.set("count", b.getI64IntegerAttr(p));
      attrs.set("src_rank_stride", b.getI64IntegerAttr(p));
    } else if (isa<DSDialect>(op.getDialect())) {
      attrs = NamedAttrList(getKernelAttrs(&op));
    } else {
      return op.emitError("cannot lower '")
             << op.getName() << "' to runtime kernels";
    }
    SmallVector<Value> outputs;
    for (Value result : op.getResults()) {
      if (!isa<RankedTensorType>(result.getType()))
        return op.emitError("result is not a ranked tensor: ")
               << result.getType();
      outputs.push_back(dsrt::AllocOp::create(b, op.getLoc(),
                                              toMemRef(result.getType()),
                                              IntegerAttr()));
    }
    const ::ds::rt::KernelInfo *info = ::ds::rt::findKernelInfo(kernel.str());
    if (!info)
      return op.emitError("'") << op.getName() << "' has no runtime kernel '" << kernel
                               << "' in the kernel catalogue";
    // The stream class and every defaulted attribute come from the catalogue, so the plan
    // spells out what the runtime will use.
    auto stream = static_cast<dsrt::Stream>(info->stream);
    addCatalogueDefaults(*info, attrs, b);
    dsrt::KernelOp::create(b, op.getLoc(), b.getStringAttr(kernel),
                           op.getOperands(), outputs,
                           attrs.getDictionary(op.getContext()),
                           dsrt::StreamAttr::get(b.getContext(), stream));
    for (auto [result, buffer] : llvm::zip(op.getResults(), outputs))
      result.replaceAllUsesWith(buffer);
    op.erase();
  }

  auto ret = cast<func::ReturnOp>(body.getTerminator());
  func.setFunctionType(FunctionType::get(func.getContext(),
                                         body.getArgumentTypes(),
                                         ret.getOperandTypes()));
  if (!dsrt::getProgramRole(func))
    dsrt::setProgramRole(func, defaultRole);
  return success();
}

dsrt::MemorySpaceAttr convertSpace(MLIRContext *ctx, MemorySpace space) {
  dsrt::MemorySpace result = dsrt::MemorySpace::device;
  switch (space) {
  case MemorySpace::device:
    result = dsrt::MemorySpace::device;
    break;
  case MemorySpace::host:
    result = dsrt::MemorySpace::host;
    break;
  case MemorySpace::nvme:
    result = dsrt::MemorySpace::nvme;
    break;
  }
  return dsrt::MemorySpaceAttr::get(ctx, result);
}

/// Replaces every ds.parameter and ds.state by a dsrt.global of the same name, in
/// place (so memory planning sees them in the same order). Records the dynamic loss
/// scale on the module.
void convertModuleState(ModuleOp module) {
  OpBuilder b(module.getContext());
  for (Operation &op : llvm::make_early_inc_range(module.getOps())) {
    b.setInsertionPoint(&op);
    if (auto param = dyn_cast<ParameterOp>(op)) {
      IntegerAttr shardOf;
      if (param.getShardSize())
        shardOf = b.getI64IntegerAttr(param.getTensorType().getNumElements());
      dsrt::GlobalOp::create(b, param.getLoc(), param.getSymNameAttr(),
                             TypeAttr::get(toMemRef(param.getStorageType())),
                             param.getSourceAttr(),
                             param.getFrozen() ? UnitAttr() : b.getUnitAttr(),
                             shardOf, convertSpace(b.getContext(), param.getSpace()),
                             IntegerAttr());
      param.erase();
    } else if (auto state = dyn_cast<StateOp>(op)) {
      auto global = dsrt::GlobalOp::create(
          b, state.getLoc(), state.getSymNameAttr(),
          TypeAttr::get(toMemRef(state.getType())), StringAttr(), UnitAttr(),
          IntegerAttr(), convertSpace(b.getContext(), state.getSpace()),
          IntegerAttr());
      // The memory report tells gradients from optimizer states by it.
      global->setAttr(kStateKindAttr, state.getKindAttr());
      if (state.getKind() == StateKind::loss_scale)
        module->setAttr(dsrt::kLossScaleAttr,
                        FlatSymbolRefAttr::get(state.getSymNameAttr()));
      state.erase();
    }
  }
}

struct ConvertDSToRuntimePass
    : mlir::ds::impl::ConvertDSToRuntimePassBase<ConvertDSToRuntimePass> {
  using Base::Base;

  void runOnOperation() override {
    std::optional<dsrt::ProgramRole> defaultRole = dsrt::symbolizeProgramRole(role);
    if (!defaultRole) {
      getOperation().emitError("unknown program role '")
          << std::string(role) << "' (inference, micro_step, apply_step, init)";
      return signalPassFailure();
    }
    ModuleOp module = getOperation();
    SymbolTableCollection symbols;
    std::optional<int64_t> worldSize;
    for (auto func : module.getOps<func::FuncOp>())
      if (failed(convertFunction(func, *defaultRole, multiTensorGradNorm, symbols, worldSize)))
        return signalPassFailure();
    convertModuleState(module);
    if (worldSize)
      module->setAttr(dsrt::kWorldSizeAttr,
                      IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                       *worldSize));
  }
};
} // namespace

DictionaryAttr mlir::ds::getRuntimeKernelAttrs(Operation *op,
                                               const ::ds::rt::KernelInfo &info) {
  Builder b(op->getContext());
  NamedAttrList attrs(getKernelAttrs(op));
  addCatalogueDefaults(info, attrs, b);
  return attrs.getDictionary(op->getContext());
}
