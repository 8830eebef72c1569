// Builds the micro-step (forward, backward, accumulate) and optimizer-step programs.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#define DEBUG_TYPE "ds-build-train-step"

namespace mlir::ds {
#define GEN_PASS_DEF_BUILDTRAINSTEPPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
constexpr llvm::StringLiteral kRoleAttr = "dsrt.role";

struct TrainedParameter {
  ParameterOp param;
  Value grad;            // in the forward function
  StateOp accumulator;   // kind "grad"
  SmallVector<StateOp> optimizerStates;
};

struct BuildTrainStepPass
    : ds::impl::BuildTrainStepPassBase<BuildTrainStepPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkOptions(module)))
      return signalPassFailure();
    func::FuncOp forward;
    for (auto func : module.getOps<func::FuncOp>())
      if (func->hasAttr(kLossIndexAttr)) {
        if (forward) {
          func.emitError("only one function may have a loss; @")
              << forward.getSymName() << " has one too";
          return signalPassFailure();
        }
        forward = func;
      }
    if (!forward) {
      module.emitError("no function has a loss (ds.loss) to train");
      return signalPassFailure();
    }

    OpBuilder b(module.getBodyRegion());
    b.setInsertionPoint(forward);
    auto ret = cast<func::ReturnOp>(forward.getBody().back().getTerminator());
    SmallVector<TrainedParameter> trained;
    SmallVector<Value> outputs;
    SmallVector<DictionaryAttr> outputAttrs;
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      auto gradOf = forward.getResultAttrOfType<FlatSymbolRefAttr>(i, "ds.grad");
      if (!gradOf) {
        outputs.push_back(v);
        outputAttrs.push_back(forward.getResultAttrDict(i));
        continue;
      }
      auto param = module.lookupSymbol<ParameterOp>(gradOf);
      TrainedParameter t{param, v, {}, {}};
      t.accumulator = makeState(b, param, "grad", param.getTensorType());
      if (optimizer == "adam") {
        t.optimizerStates.push_back(makeState(b, param, "exp_avg", param.getTensorType()));
        t.optimizerStates.push_back(
            makeState(b, param, "exp_avg_sq", param.getTensorType()));
      } else {
        t.optimizerStates.push_back(
            makeState(b, param, "momentum_buffer", param.getTensorType()));
      }
      trained.push_back(t);
    }
    if (trained.empty()) {
      forward.emitError("@") << forward.getSymName()
                             << " returns no parameter gradients: run --ds-autodiff "
                                "first, and check that some parameter is trainable";
      return signalPassFailure();
    }
    auto stepType = RankedTensorType::get({}, b.getI64Type());
    auto step = StateOp::create(b, module.getLoc(), "step", stepType, "step",
                                FlatSymbolRefAttr());

    // Micro-step: accumulate grad / G and return the original outputs.
    forward.setSymName("micro_step");
    forward->setAttr(kRoleAttr, b.getStringAttr("micro_step"));
    Location loc = forward.getLoc();
    for (TrainedParameter &t : trained) {
      // Accumulate as soon as the gradient is complete, so that it (and, once
      // partitioned, its reduction) does not wait for the whole backward pass.
      if (Operation *def = t.grad.getDefiningOp())
        b.setInsertionPointAfter(def);
      else
        b.setInsertionPointToStart(&forward.getBody().front());
      auto type = t.param.getTensorType();
      Value acc = StateRefOp::create(b, loc, type, t.accumulator.getSymName());
      Value g = t.grad;
      if (accumulation > 1)
        g = MulOp::create(b, loc, g, scalar(b, loc, 1.0 / accumulation, type));
      AssignOp::create(b, loc, t.accumulator.getSymName(),
                       AddOp::create(b, loc, acc, g));
    }
    b.setInsertionPoint(ret);
    func::ReturnOp::create(b, ret.getLoc(), outputs);
    ret.erase();
    forward.setFunctionType(FunctionType::get(
        &getContext(), forward.getArgumentTypes(), ValueRange(outputs).getTypes()));
    forward.setAllResultAttrs(outputAttrs);

    buildApplyStep(module, trained, step);
    module->setAttr(kAccumulationAttr, b.getI64IntegerAttr(accumulation));
  }

  LogicalResult checkOptions(ModuleOp module) {
    if (optimizer != "adam" && optimizer != "sgd")
      return module.emitError("unknown optimizer '") << std::string(optimizer)
                                                     << "' (adam or sgd)";
    if (accumulation < 1)
      return module.emitError("gradient_accumulation_steps must be >= 1, got ")
             << static_cast<int64_t>(accumulation);
    if (gradientClipping < 0)
      return module.emitError("gradient_clipping must be >= 0, got ")
             << static_cast<double>(gradientClipping);
    return success();
  }

  static Value scalar(OpBuilder &b, Location loc, double v, RankedTensorType like) {
    auto t = RankedTensorType::get({}, like.getElementType());
    return ConstantOp::create(
        b, loc, DenseElementsAttr::get(t, b.getFloatAttr(like.getElementType(), v)));
  }

  StateOp makeState(OpBuilder &b, ParameterOp param, StringRef kind,
                    RankedTensorType type) {
    std::string name = (param.getSymName() + "." + kind).str();
    return StateOp::create(b, param.getLoc(), name, type, kind,
                           FlatSymbolRefAttr::get(param.getSymNameAttr()));
  }

  void buildApplyStep(ModuleOp module, MutableArrayRef<TrainedParameter> trained,
                      StateOp step) {
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();
    auto fn = func::FuncOp::create(b, loc, "apply_step",
                                   b.getFunctionType({}, {}));
    fn->setAttr(kRoleAttr, b.getStringAttr("apply_step"));
    b.setInsertionPointToStart(fn.addEntryBlock());

    auto i64 = RankedTensorType::get({}, b.getI64Type());
    auto f32 = RankedTensorType::get({}, b.getF32Type());
    Value applied = StateRefOp::create(b, loc, i64, step.getSymName());
    Value t = AddOp::create(
        b, loc, applied,
        ConstantOp::create(b, loc, DenseElementsAttr::get(i64, int64_t(1))));
    double maxLr = warmupMaxLr < 0 ? lr : warmupMaxLr;
    Value rate = LrScheduleOp::create(
        b, loc, applied, b.getStringAttr(scheduler), b.getF32FloatAttr(lr),
        b.getF32FloatAttr(warmupMinLr), b.getF32FloatAttr(maxLr),
        b.getI64IntegerAttr(warmupNumSteps), b.getStringAttr(warmupType),
        b.getI64IntegerAttr(totalNumSteps), b.getF32FloatAttr(warmupMinRatio),
        b.getF32FloatAttr(cosMinRatio));

    SmallVector<Value> grads;
    for (TrainedParameter &p : trained)
      grads.push_back(StateRefOp::create(b, loc, p.param.getTensorType(),
                                         p.accumulator.getSymName()));

    if (gradientClipping > 0) {
      // Global L2 norm in f32 over every gradient.
      Value sumsq;
      for (Value g : grads) {
        Value g32 = g;
        auto gt = cast<RankedTensorType>(g.getType());
        if (!gt.getElementType().isF32())
          g32 = CastOp::create(b, loc, gt.clone(b.getF32Type()), g);
        Value sq = ReduceSumOp::create(b, loc, MulOp::create(b, loc, g32, g32),
                                       b.getDenseI64ArrayAttr({}),
                                       b.getBoolAttr(false));
        sumsq = sumsq ? AddOp::create(b, loc, sumsq, sq).getResult() : sq;
      }
      // Marked so that partitioning can sum the squares over ranks before the root.
      sumsq.getDefiningOp()->setAttr(kGradNormSqAttr, b.getUnitAttr());
      Value norm = SqrtOp::create(b, loc, sumsq);
      Value coef = DivOp::create(
          b, loc, scalar(b, loc, gradientClipping, f32),
          AddOp::create(b, loc, norm, scalar(b, loc, 1e-6, f32)));
      Value one = scalar(b, loc, 1.0, f32);
      coef = WhereOp::create(b, loc, LessOp::create(b, loc, coef, one), coef, one);
      for (Value &g : grads) {
        auto gt = cast<RankedTensorType>(g.getType());
        Value c = coef;
        if (!gt.getElementType().isF32())
          c = CastOp::create(b, loc, f32.clone(gt.getElementType()), coef);
        g = MulOp::create(b, loc, g, c);
      }
    }

    for (auto [p, g] : llvm::zip(trained, grads)) {
      auto type = p.param.getTensorType();
      Value param = ParamRefOp::create(b, loc, type, p.param.getSymName());
      SmallVector<Value> states;
      for (StateOp s : p.optimizerStates)
        states.push_back(StateRefOp::create(b, loc, type, s.getSymName()));
      SmallVector<Value> updated;
      if (optimizer == "adam") {
        auto u = AdamUpdateOp::create(
            b, loc, param, g, states[0], states[1], rate, t,
            b.getF32FloatAttr(beta1), b.getF32FloatAttr(beta2),
            b.getF32FloatAttr(eps), b.getF32FloatAttr(weightDecay),
            b.getBoolAttr(adamWMode), b.getBoolAttr(biasCorrection));
        updated = {u.getNewParam(), u.getNewExpAvg(), u.getNewExpAvgSq()};
      } else {
        auto u = SgdUpdateOp::create(
            b, loc, param, g, states[0], rate, t, b.getF32FloatAttr(momentum),
            b.getF32FloatAttr(dampening), b.getF32FloatAttr(weightDecay),
            b.getBoolAttr(nesterov));
        updated = {u.getNewParam(), u.getNewMomentumBuffer()};
      }
      AssignOp::create(b, loc, p.param.getSymName(), updated[0]);
      for (auto [s, v] : llvm::zip(p.optimizerStates, ArrayRef(updated).drop_front()))
        AssignOp::create(b, loc, s.getSymName(), v);
      AssignOp::create(
          b, loc, p.accumulator.getSymName(),
          ConstantOp::create(
              b, loc,
              DenseElementsAttr::get(type, b.getFloatAttr(type.getElementType(), 0.0))));
    }
    AssignOp::create(b, loc, step.getSymName(), t);
    func::ReturnOp::create(b, loc);
  }
};
} // namespace
