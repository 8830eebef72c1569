// ds-opt: the user's compiler for ONNX models and an mlir-opt-style driver for .mlir files.
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

/// Compiles an ONNX model: import, then the training and partitioning pipeline.
static LogicalResult compileOnnx(MLIRContext &context, StringRef inputPath,
                                 StringRef outputPath) {
  std::optional<ds::ImportOptions> options = ds::getImportOptionsFromCL();
  if (!options)
    return failure();
  if (zeroStage != -1 && (zeroStage < 0 || zeroStage > 3)) {
    llvm::errs() << "ds-opt: --zero-stage must be 0, 1, 2 or 3, got "
                 << zeroStage << "\n";
    return failure();
  }
  if (worldSize.getNumOccurrences() && worldSize < 1) {
    llvm::errs() << "ds-opt: --world-size must be at least 1, got " << worldSize
                 << "\n";
    return failure();
  }
  OwningOpRef<ModuleOp> module = ds::importOnnxFile(&context, inputPath, *options);
  if (!module)
    return failure();
  if (zeroStage != -1 || worldSize.getNumOccurrences())
    llvm::errs() << "ds-opt: note: ZeRO partitioning is not implemented yet; "
                    "compiling the unpartitioned program\n";

  if (outputPath.ends_with(".dsplan")) {
    if (!options->inference) {
      llvm::errs() << "ds-opt: " << inputPath
                   << ": training plans need the autodiff and optimizer passes, "
                      "which do not exist yet; compile with --mode=inference\n";
      return failure();
    }
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return failure();
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    pm.addPass(ds::createConvertDSToRuntimePass());
    pm.addPass(dsrt::createPlanMemoryPass());
    if (failed(pm.run(*module)))
      return failure();
    std::string producer = "ds-opt --mode=inference " + inputPath.str();
    return ds::writePlanFile(*module, outputPath, producer);
  }

  std::string error;
  auto output = openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "ds-opt: " << error << "\n";
    return failure();
  }
  module->print(output->os());
  output->os() << "\n";
  output->keep();
  return success();
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
