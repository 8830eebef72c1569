// Builds the micro-step (forward, backward, accumulate) and optimizer-step programs.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cmath>

#define DEBUG_TYPE "ds-build-train-step"

namespace mlir::ds {
#define GEN_PASS_DEF_BUILDTRAINSTEPPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
struct TrainedParameter {
  ParameterOp param;
  Value grad;            // in the forward function
  StateOp accumulator;   // kind grad
  SmallVector<StateOp> optimizerStates;
  StateOp master;        // fp32 master weights of a 16-bit parameter
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
    int64_t lossIndex = forward->getAttrOfType<IntegerAttr>(kLossIndexAttr).getInt();
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      auto gradOf = forward.getResultAttrOfType<FlatSymbolRefAttr>(i, kGradOfAttr);
      if (!gradOf) {
        // The micro-step returns the loss only: nothing reads the model's other outputs
        // in training (ds-run and the Python engine read the loss; --mode=inference
        // returns them all), and GPT-2's fp32 copy of its logits alone is 1.6 GB a step.
        if (int64_t(i) != lossIndex)
          continue;
        outputs.push_back(v);
        outputAttrs.push_back(forward.getResultAttrDict(i));
        continue;
      }
      auto param = module.lookupSymbol<ParameterOp>(gradOf);
      TrainedParameter t{param, v, {}, {}, {}};
      t.accumulator = makeState(b, param, StateKind::grad, param.getTensorType());
      // Optimizer math is fp32; 16-bit parameters get an fp32 master copy.
      auto f32Type = param.getTensorType().clone(b.getF32Type());
      if (!param.getTensorType().getElementType().isF32())
        t.master = makeState(b, param, StateKind::master, f32Type);
      if (optimizer == "adam" || optimizer == "lamb") {
        t.optimizerStates.push_back(makeState(b, param, StateKind::exp_avg, f32Type));
        t.optimizerStates.push_back(makeState(b, param, StateKind::exp_avg_sq, f32Type));
      } else {
        t.optimizerStates.push_back(makeState(b, param, StateKind::momentum_buffer, f32Type));
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
    auto step = StateOp::create(b, module.getLoc(), "step", stepType,
                                StateKind::step, FlatSymbolRefAttr());

    // Micro-step: accumulate grad / G and return the original outputs.
    forward.setSymName("micro_step");
    dsrt::setProgramRole(forward, dsrt::ProgramRole::micro_step);
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
    forward->setAttr(kLossIndexAttr, b.getI64IntegerAttr(0));

    StateOp lossScale, counters;
    for (auto state : module.getOps<StateOp>())
      if (state.getKind() == StateKind::loss_scale)
        lossScale = state;
    if (lossScale) {
      b.setInsertionPointAfter(lossScale);
      counters = StateOp::create(b, module.getLoc(), "loss_scale_counters",
                                 RankedTensorType::get({3}, b.getI64Type()),
                                 StateKind::loss_scale_counters,
                                 FlatSymbolRefAttr());
    }
    buildApplyStep(module, trained, step, lossScale, counters);
    buildInit(module, trained, lossScale, counters);
    module->setAttr(kAccumulationAttr, b.getI64IntegerAttr(accumulation));
  }

  LogicalResult checkOptions(ModuleOp module) {
    if (optimizer != "adam" && optimizer != "lamb" && optimizer != "sgd")
      return module.emitError("unknown optimizer '") << std::string(optimizer)
                                                     << "' (adam, lamb or sgd)";
    if (!symbolizeLrSchedule(scheduler))
      return module.emitError("unknown scheduler '")
             << std::string(scheduler)
             << "' (constant, WarmupLR, WarmupDecayLR or WarmupCosineLR)";
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

  StateOp makeState(OpBuilder &b, ParameterOp param, StateKind kind,
                    RankedTensorType type) {
    std::string name = (param.getSymName() + "." + stringifyStateKind(kind)).str();
    return StateOp::create(b, param.getLoc(), name, type, kind,
                           FlatSymbolRefAttr::get(param.getSymNameAttr()));
  }

  /// Seeds the fp32 masters from the loaded 16-bit parameters and the loss scaler
  /// (DeepSpeed builds its fp32 masters from the half-precision model too).
  void buildInit(ModuleOp module, MutableArrayRef<TrainedParameter> trained,
                 StateOp lossScale, StateOp counters) {
    bool anyMaster = llvm::any_of(trained, [](auto &t) { return bool(t.master); });
    if (!anyMaster && !lossScale)
      return;
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();
    auto fn = func::FuncOp::create(b, loc, "init", b.getFunctionType({}, {}));
    dsrt::setProgramRole(fn, dsrt::ProgramRole::init);
    b.setInsertionPointToStart(fn.addEntryBlock());
    for (TrainedParameter &t : trained) {
      if (!t.master)
        continue;
      Value p = ParamRefOp::create(b, loc, t.param.getTensorType(), t.param.getSymName());
      AssignOp::create(b, loc, t.master.getSymName(),
                       CastOp::create(b, loc, t.master.getTensorType(), p));
    }
    if (lossScale) {
      double s0 = lossScale_ > 0 ? double(lossScale_) : std::ldexp(1.0, initialScalePower);
      auto f32 = RankedTensorType::get({}, b.getF32Type());
      AssignOp::create(b, loc, lossScale.getSymName(),
                       ConstantOp::create(b, loc, DenseElementsAttr::get(
                                                      f32, b.getF32FloatAttr(s0))));
      auto c = RankedTensorType::get({3}, b.getI64Type());
      AssignOp::create(
          b, loc, counters.getSymName(),
          ConstantOp::create(b, loc,
                             DenseElementsAttr::get(
                                 c, ArrayRef<int64_t>{0, -1, int64_t(hysteresis)})));
    }
    func::ReturnOp::create(b, loc);
  }

  void buildApplyStep(ModuleOp module, MutableArrayRef<TrainedParameter> trained,
                      StateOp step, StateOp lossScale, StateOp counters) {
    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();
    auto fn = func::FuncOp::create(b, loc, "apply_step",
                                   b.getFunctionType({}, {}));
    dsrt::setProgramRole(fn, dsrt::ProgramRole::apply_step);
    b.setInsertionPointToStart(fn.addEntryBlock());
    auto f32 = RankedTensorType::get({}, b.getF32Type());

    auto i64 = RankedTensorType::get({}, b.getI64Type());
    Value applied = StateRefOp::create(b, loc, i64, step.getSymName());
    Value t = AddOp::create(
        b, loc, applied,
        ConstantOp::create(b, loc, DenseElementsAttr::get(i64, int64_t(1))));
    double maxLr = warmupMaxLr < 0 ? lr : warmupMaxLr;
    Value rate = LrScheduleOp::create(
        b, loc, applied,
        LrScheduleAttr::get(b.getContext(), *symbolizeLrSchedule(scheduler)),
        b.getF32FloatAttr(lr),
        b.getF32FloatAttr(warmupMinLr), b.getF32FloatAttr(maxLr),
        b.getI64IntegerAttr(warmupNumSteps), b.getStringAttr(warmupType),
        b.getI64IntegerAttr(totalNumSteps), b.getF32FloatAttr(warmupMinRatio),
        b.getF32FloatAttr(cosMinRatio));

    // The overflow check and the clipping norm read the accumulated gradients as
    // they are (16-bit ones included: the reductions accumulate in f32); each
    // gradient is cast to f32, unscaled and clipped only right before its own
    // update, so at most one parameter's f32 copy is alive at a time rather than
    // all of them (for a 6.7B model at 8 ranks that was 3.1 GiB of the arena).
    bool mixed = llvm::any_of(trained, [](auto &t) { return bool(t.master); });
    SmallVector<Value> raw;
    for (TrainedParameter &p : trained)
      raw.push_back(StateRefOp::create(b, loc, p.param.getTensorType(),
                                       p.accumulator.getSymName()));
    Value scale, inverse, finite;
    if (lossScale) {
      scale = StateRefOp::create(b, loc, f32, lossScale.getSymName());
      inverse = DivOp::create(b, loc, scalar(b, loc, 1.0, f32), scale);
    }
    Value nextStep = t;
    if (mixed) {
      // Finite before unscaling is finite after it (1/scale <= 1 for scales >= 1;
      // DeepSpeed checks the scaled gradients too).
      finite = AllFiniteOp::create(b, loc, f32, raw);
      // The step counter (and so the scheduler) only advances on applied steps.
      Value ok = GreaterOp::create(b, loc, finite, scalar(b, loc, 0.0, f32));
      nextStep = WhereOp::create(b, loc, ok, t, applied);
    }

    Value coef;
    if (gradientClipping > 0) {
      // Global L2 norm in f32 over every gradient (partitioning sums it over ranks).
      // Unscaling after the sum: sum((g/s)^2) = sum(g^2)/s^2 exactly for the
      // power-of-two scales of the dynamic scaler.
      Value sumsq = GradNormSqOp::create(b, loc, f32, raw);
      if (inverse)
        sumsq = MulOp::create(b, loc, MulOp::create(b, loc, sumsq, inverse), inverse);
      Value norm = SqrtOp::create(b, loc, sumsq);
      coef = DivOp::create(
          b, loc, scalar(b, loc, gradientClipping, f32),
          AddOp::create(b, loc, norm, scalar(b, loc, 1e-6, f32)));
      Value one = scalar(b, loc, 1.0, f32);
      coef = WhereOp::create(b, loc, LessOp::create(b, loc, coef, one), coef, one);
    }
    // The f32 gradient of one parameter, built where its update is (program order
    // is the update order, and no CSE can merge these casts into one early cast:
    // each is of its own gradient and only here).
    auto unscaledGradient = [&](TrainedParameter &p, Value g) {
      if (!p.param.getTensorType().getElementType().isF32())
        g = CastOp::create(b, loc, p.param.getTensorType().clone(b.getF32Type()), g);
      if (inverse)
        g = MulOp::create(b, loc, g, inverse);
      if (coef)
        g = MulOp::create(b, loc, g, coef);
      return g;
    };
    for (auto [p, rawGrad] : llvm::zip(trained, raw)) {
      auto type = p.param.getTensorType();
      Value g = unscaledGradient(p, rawGrad);
      Value param =
          p.master
              ? StateRefOp::create(b, loc, p.master.getTensorType(), p.master.getSymName())
                    .getResult()
              : ParamRefOp::create(b, loc, type, p.param.getSymName()).getResult();
      SmallVector<Value> states;
      for (StateOp s : p.optimizerStates)
        states.push_back(StateRefOp::create(b, loc, s.getTensorType(), s.getSymName()));
      SmallVector<Value> updated;
      if (optimizer == "adam") {
        auto u = AdamUpdateOp::create(
            b, loc, param, g, states[0], states[1], rate, t, finite,
            b.getF32FloatAttr(beta1), b.getF32FloatAttr(beta2),
            b.getF32FloatAttr(eps), b.getF32FloatAttr(weightDecay),
            b.getBoolAttr(adamWMode), b.getBoolAttr(biasCorrection));
        updated = {u.getNewParam(), u.getNewExpAvg(), u.getNewExpAvgSq()};
      } else if (optimizer == "lamb") {
        auto u = LambUpdateOp::create(
            b, loc, param, g, states[0], states[1], rate, t, finite,
            b.getF32FloatAttr(beta1), b.getF32FloatAttr(beta2),
            b.getF32FloatAttr(eps), b.getF32FloatAttr(weightDecay),
            b.getBoolAttr(biasCorrection), b.getF32FloatAttr(minCoeff),
            b.getF32FloatAttr(maxCoeff));
        updated = {u.getNewParam(), u.getNewExpAvg(), u.getNewExpAvgSq()};
      } else {
        auto u = SgdUpdateOp::create(
            b, loc, param, g, states[0], rate, t, finite, b.getF32FloatAttr(momentum),
            b.getF32FloatAttr(dampening), b.getF32FloatAttr(weightDecay),
            b.getBoolAttr(nesterov));
        updated = {u.getNewParam(), u.getNewMomentumBuffer()};
      }
      if (p.master) {
        AssignOp::create(b, loc, p.master.getSymName(), updated[0]);
        AssignOp::create(b, loc, p.param.getSymName(),
                         CastOp::create(b, loc, type, updated[0]));
      } else {
        AssignOp::create(b, loc, p.param.getSymName(), updated[0]);
      }
      for (auto [s, v] : llvm::zip(p.optimizerStates, ArrayRef(updated).drop_front()))
        AssignOp::create(b, loc, s.getSymName(), v);
      AssignOp::create(
          b, loc, p.accumulator.getSymName(),
          ConstantOp::create(
              b, loc,
              DenseElementsAttr::get(type, b.getFloatAttr(type.getElementType(), 0.0))));
    }
    AssignOp::create(b, loc, step.getSymName(), nextStep);
    if (lossScale) {
      auto c = RankedTensorType::get({3}, b.getI64Type());
      Value count = StateRefOp::create(b, loc, c, counters.getSymName());
      auto update = LossScaleUpdateOp::create(
          b, loc, finite, scale, count, b.getBoolAttr(lossScale_ <= 0),
          b.getF32FloatAttr(2.0f), b.getI64IntegerAttr(lossScaleWindow),
          b.getI64IntegerAttr(hysteresis), b.getBoolAttr(consecutiveHysteresis),
          b.getF32FloatAttr(minLossScale), b.getBoolAttr(false));
      AssignOp::create(b, loc, lossScale.getSymName(), update.getNewScale());
      AssignOp::create(b, loc, counters.getSymName(), update.getNewCounters());
    }
    func::ReturnOp::create(b, loc);
  }
};
} // namespace
