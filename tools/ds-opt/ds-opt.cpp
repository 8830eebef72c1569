// ds-opt: the user's compiler for ONNX models and an mlir-opt-style driver for .mlir files.
#include "ds/Config/DeepSpeedConfig.h"
#include "ds/Conversion/Passes.h"
#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Dialect/DS/IR/DSInterfaces.h"
#include "ds/Dialect/DS/Transforms/Passes.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"
#include "ds/Import/ONNX.h"
#include "ds/Target/Plan.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory compilerCategory("ds-opt compiler options (ONNX input)");
static cl::opt<int> zeroStage("zero-stage", cl::desc("ZeRO stage 0-3"),
                              cl::init(-1), cl::cat(compilerCategory));
static cl::opt<int> worldSize("world-size",
                              cl::desc("Number of data-parallel ranks"),
                              cl::init(0), cl::cat(compilerCategory));
enum class EmitStage { Import, Train, Runtime };
static cl::opt<EmitStage> emitStage(
    "emit", cl::desc("What to print as MLIR when the output is not a .dsplan"),
    cl::values(clEnumValN(EmitStage::Import, "import", "the imported program"),
               clEnumValN(EmitStage::Train, "train",
                          "the training step (default; the imported program with "
                          "--mode=inference)"),
               clEnumValN(EmitStage::Runtime, "runtime",
                          "runtime kernels after memory planning")),
    cl::init(EmitStage::Train), cl::cat(compilerCategory));
static cl::opt<std::string> configPath(
    "config", cl::desc("DeepSpeed ds_config.json (flags override it)"),
    cl::value_desc("file"), cl::init(""), cl::cat(compilerCategory));

/// The train-step pass options a DeepSpeed config asks for.
static ds::BuildTrainStepPassOptions
getTrainStepOptions(const ds::DeepSpeedConfig &c) {
  ds::BuildTrainStepPassOptions o;
  o.optimizer = c.optimizer;
  o.lr = c.lr;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  o.weightDecay = c.weightDecay;
  o.adamWMode = c.adamWMode;
  o.biasCorrection = c.biasCorrection;
  o.momentum = c.momentum;
  o.dampening = c.dampening;
  o.nesterov = c.nesterov;
  o.gradientClipping = c.gradientClipping;
  o.accumulation = c.accumulationSteps.value_or(1);
  o.scheduler = c.scheduler;
  o.warmupMinLr = c.warmupMinLr;
  o.warmupMaxLr = c.warmupMaxLr;
  o.warmupNumSteps = c.warmupNumSteps;
  o.warmupType = c.warmupType;
  o.totalNumSteps = c.totalNumSteps;
  o.warmupMinRatio = c.warmupMinRatio;
  o.cosMinRatio = c.cosMinRatio;
  return o;
}

static LogicalResult printModule(ModuleOp module, StringRef outputPath) {
  std::string error;
  auto output = openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "ds-opt: " << error << "\n";
    return failure();
  }
  module.print(output->os());
  output->os() << "\n";
  output->keep();
  return success();
}

/// Compiles an ONNX model: import, then the training and partitioning pipeline.
static LogicalResult compileOnnx(MLIRContext &context, StringRef inputPath,
                                 StringRef outputPath) {
  std::optional<ds::ImportOptions> options = ds::getImportOptionsFromCL();
  if (!options)
    return failure();
  if (worldSize.getNumOccurrences() && worldSize < 1) {
    llvm::errs() << "ds-opt: --world-size must be at least 1, got " << worldSize
                 << "\n";
    return failure();
  }
  ds::DeepSpeedConfig config;
  if (!configPath.empty()) {
    auto parsed = ds::readDeepSpeedConfig(configPath);
    if (!parsed) {
      llvm::errs() << "ds-opt: " << llvm::toString(parsed.takeError()) << "\n";
      return failure();
    }
    config = std::move(*parsed);
    if (!config.ignoredKeys.empty()) {
      llvm::errs() << "ds-opt: note: " << configPath << ": accepted, but ignored:";
      for (const std::string &k : config.ignoredKeys)
        llvm::errs() << "\n  " << k;
      llvm::errs() << "\n";
    }
  }
  int world = worldSize.getNumOccurrences() ? int(worldSize) : 1;
  int stage = zeroStage != -1 ? int(zeroStage) : config.zeroStage;
  if (!options->inference) {
    if (config.fp16 || config.bf16) {
      llvm::errs() << "ds-opt: " << configPath << ": '"
                   << (config.fp16 ? "fp16" : "bf16")
                   << "': mixed-precision training is not implemented yet\n";
      return failure();
    }
    if (config.trainBatchSize || config.microBatchSize) {
      if (llvm::Error e = config.resolveBatch(world)) {
        llvm::errs() << "ds-opt: " << configPath << ": " << llvm::toString(std::move(e))
                     << "\n";
        return failure();
      }
      if (!options->batchSize)
        options->batchSize = config.microBatchSize;
    }
  }
  if (stage < 0 || stage > 3) {
    llvm::errs() << "ds-opt: --zero-stage must be 0, 1, 2 or 3, got " << stage
                 << "\n";
    return failure();
  }

  OwningOpRef<ModuleOp> module = ds::importOnnxFile(&context, inputPath, *options);
  if (!module)
    return failure();

  if (!options->inference && config.microBatchSize) {
    // A static batch dim must agree with the config's micro-batch.
    for (auto func : module->getOps<func::FuncOp>())
      for (BlockArgument arg : func.getArguments()) {
        auto type = dyn_cast<RankedTensorType>(arg.getType());
        auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                      ds::kInputNameAttr);
        if (type && type.getRank() > 0 &&
            type.getDimSize(0) != *config.microBatchSize) {
          llvm::errs() << "ds-opt: " << inputPath << ": input '"
                       << (name ? name.getValue() : StringRef("?"))
                       << "' has batch dim " << type.getDimSize(0) << ", but "
                       << configPath << " gives a micro-batch of "
                       << *config.microBatchSize
                       << " per rank: export the model with a dynamic batch axis "
                          "or make the config agree\n";
          return failure();
        }
      }
  }

  bool toPlan = outputPath.ends_with(".dsplan");
  if (!toPlan && emitStage == EmitStage::Import)
    return printModule(*module, outputPath);

  if (!options->inference) {
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return failure();
    pm.addPass(ds::createAutodiffPass());
    pm.addPass(ds::createBuildTrainStepPass(getTrainStepOptions(config)));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    // After CSE: the stage-3 backward re-gathers must stay separate from the forward
    // gathers, or the parameters would stay gathered across the whole step.
    ds::ZeroPassOptions zero;
    zero.stage = stage;
    zero.worldSize = world;
    zero.paramPersistenceThreshold = config.paramPersistenceThreshold;
    pm.addPass(ds::createZeroPass(zero));
    if (failed(pm.run(*module)))
      return failure();
  }

  if (!toPlan && emitStage == EmitStage::Train)
    return printModule(*module, outputPath);

  {
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return failure();
    pm.addPass(createCanonicalizerPass());
    if (options->inference)
      pm.addPass(createCSEPass());
    pm.addPass(ds::createConvertDSToRuntimePass());
    pm.addPass(dsrt::createPlanMemoryPass());
    if (failed(pm.run(*module)))
      return failure();
  }
  if (!toPlan)
    return printModule(*module, outputPath);
  std::string producer =
      "ds-opt " + std::string(options->inference ? "--mode=inference " : "") +
      inputPath.str();
  return ds::writePlanFile(*module, outputPath, producer);
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  DialectRegistry registry;
  registry.insert<ds::DSDialect, dsrt::RuntimeDialect, func::FuncDialect,
                  shard::ShardDialect, tensor::TensorDialect,
                  arith::ArithDialect>();
  ds::registerGradientInterfaces(registry);
  ds::registerDSPasses();
  ds::registerConversionPasses();
  dsrt::registerRuntimePasses();
  registerTransformsPasses();
  ds::registerImportCLOptions();

  auto [inputPath, outputPath] = registerAndParseCLIOptions(
      argc, argv,
      "ds-opt: compile an ONNX training graph for ZeRO, or run passes on MLIR\n",
      registry);

  if (ds::isOnnxPath(inputPath)) {
    MLIRContext context(registry);
    context.loadAllAvailableDialects();
    return failed(compileOnnx(context, inputPath, outputPath)) ? 1 : 0;
  }
  return asMainReturnCode(MlirOptMain(argc, argv, inputPath, outputPath, registry));
}
