// ONNX bytes + DeepSpeed config -> plan bytes, in process (ds_opt.initialize).
#include "ds/Pipelines/CompileOnnx.h"
#include "ds/Config/DeepSpeedConfig.h"
#include "ds/Config/TrainingJob.h"
#include "ds/Import/ONNX.h"
#include "ds/InitAllDialects.h"
#include "ds/Pipelines/Pipelines.h"
#include "ds/Target/MemoryReport.h"
#include "ds/Target/Plan.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace {

llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

} // namespace

llvm::Expected<std::string>
mlir::ds::compileOnnxToPlan(const OnnxCompileRequest &request) {
  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Errors become the message (as ds-opt prints them after "error: "; several joined by
  // "; "); warnings go to stderr as ds-opt's do.
  std::string diagnostics;
  llvm::raw_string_ostream diagOs(diagnostics);
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    if (diag.getSeverity() == DiagnosticSeverity::Note ||
        diag.getSeverity() == DiagnosticSeverity::Remark)
      return success();
    bool error = diag.getSeverity() == DiagnosticSeverity::Error;
    llvm::raw_ostream &os = error ? static_cast<llvm::raw_ostream &>(diagOs) : llvm::errs();
    if (error && !diagnostics.empty())
      os << "; ";
    if (!error)
      os << "ds_opt: warning: ";
    if (!isa<UnknownLoc>(diag.getLocation()))
      os << diag.getLocation() << ": ";
    os << diag.str();
    if (!error)
      os << "\n";
    return success();
  });
  auto failWith = [&](llvm::StringRef what) {
    return makeError(diagnostics.empty() ? what : llvm::StringRef(diagnostics));
  };

  auto parsed = parseDeepSpeedConfig(request.configText, request.configName);
  if (!parsed)
    return parsed.takeError();
  DeepSpeedConfig config = std::move(*parsed);
  for (const std::string &w : config.warnings)
    llvm::errs() << "ds_opt: warning: " << w << "\n";

  JobRequest job;
  job.worldSize = request.worldSize;
  job.worldFromLauncher = true;
  job.zeroStage = request.zeroStage;
  auto resolved = resolveTrainingJob(config, request.configName, job);
  if (!resolved)
    return resolved.takeError();
  int world = resolved->world, stage = resolved->stage;
  ImportOptions options;
  options.lossName = request.lossName;
  options.freeze = request.freeze;
  if (config.microBatchSize)
    options.batchSize = config.microBatchSize;

  auto buffer = llvm::MemoryBuffer::getMemBuffer(request.onnxBytes, request.onnxPath,
                                                 /*RequiresNullTerminator=*/false);
  OwningOpRef<ModuleOp> module = importOnnx(&context, *buffer, request.onnxPath, options);
  if (!module)
    return failWith(request.onnxPath + ": import failed");

  auto compile = [&](ModuleOp m, const DeepSpeedConfig &c) {
    TrainingPipelineOptions training =
        c.getTrainingPipelineOptions(stage, world, options.freeze);
    training.fuseAttention = request.fuseAttention;
    training.fuseGelu = request.fuseGelu;
    LoweringPipelineOptions lowering;
    lowering.transfers = c.getTransferOptions();
    lowering.bucketCollectives = c.getBucketCollectivesOptions();
    PassManager pm(&context);
    buildTrainingPipeline(pm, training);
    buildLoweringPipeline(pm, lowering);
    return pm.run(m);
  };
  if (failed(compileChoosingGradientCopyIn(*module, config, stage, /*inference=*/false,
                                           compile)))
    return failWith(request.onnxPath + ": compilation failed");

  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  if (failed(exportPlan(*module, os, "ds_opt.initialize " + request.onnxPath)))
    return failWith(request.onnxPath + ": plan export failed");
  os.flush();
  return bytes;
}

LogicalResult mlir::ds::compileChoosingGradientCopyIn(
    ModuleOp module, const DeepSpeedConfig &config, int stage, bool inference,
    llvm::function_ref<LogicalResult(ModuleOp, const DeepSpeedConfig &)> compile) {
  bool both = !inference && stage >= 2 && !config.contiguousGradients;
  OwningOpRef<ModuleOp> contiguous;
  if (both)
    contiguous = cast<ModuleOp>(module->clone());
  if (failed(compile(module, config)))
    return failure();
  if (!both)
    return success();
  DeepSpeedConfig copyIn = config;
  copyIn.zero.contiguousGradients = true;
  if (failed(compile(*contiguous, copyIn)))
    return failure();
  FailureOr<MemoryBreakdown> concat = computeMemoryBreakdown(module);
  FailureOr<MemoryBreakdown> copied = computeMemoryBreakdown(*contiguous);
  if (failed(concat) || failed(copied))
    return failure();
  if (copied->total() >= concat->total())
    return success();
  module->setAttrs(contiguous.get()->getAttrDictionary());
  module.getBody()->getOperations().clear();
  module.getBody()->getOperations().splice(module.getBody()->end(),
                                           contiguous->getBody()->getOperations());
  return success();
}
