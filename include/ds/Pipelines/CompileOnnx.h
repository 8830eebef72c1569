// In-process compilation of an ONNX training graph into a plan: what ds_opt.initialize calls
// (the same import, pipelines and plan export as ds-opt MODEL.onnx --config ... -o x.dsplan).
#ifndef DS_PIPELINES_COMPILEONNX_H
#define DS_PIPELINES_COMPILEONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>

namespace mlir::ds {

struct OnnxCompileRequest {
  /// The model (binary ONNX) and the path naming it in errors and in the plan's model_file
  /// (where ds-run and the runtime read the parameters).
  std::string onnxBytes;
  std::string onnxPath;
  /// The DeepSpeed config as JSON text, and the name errors give it.
  std::string configText;
  std::string configName;
  /// The launcher's ranks: the world size the plan is compiled for. A config whose batch
  /// keys imply another world size is an error.
  int worldSize = 1;
  /// Overrides the config's zero_optimization.stage.
  std::optional<int> zeroStage;
  /// Name of the loss output (empty: the one float scalar output).
  std::string lossName;
  /// Parameters whose name matches are frozen.
  std::string freeze;
  /// Rewrite attention subgraphs into ds.attention.
  bool fuseAttention = true;
  /// Rewrite GELUs written out as elementwise ops into ds.gelu.
  bool fuseGelu = true;
};

/// Imports, runs the training and lowering pipelines and serializes the plan (the bytes of a
/// .dsplan file). Errors (the importer's, the config's, the passes') come back as one
/// message, as ds-opt prints them.
llvm::Expected<std::string> compileOnnxToPlan(const OnnxCompileRequest &request);

struct DeepSpeedConfig;

/// Compiles the imported `module` into a plan with `compile` (the training and lowering
/// pipelines for that config). For training at ZeRO stages 2-3 with
/// zero_optimization.contiguous_gradients unset, compiles it twice, without and with each
/// gradient copied into its reduce bucket as it completes, and keeps the plan with the
/// lower device total (a tie keeps the one without): the copy-in saves the bucket's second
/// copy when it fills and costs the whole bucket over its fill span, so which is lower
/// depends on the bucket against the activations. ds-opt and compileOnnxToPlan both use it.
LogicalResult compileChoosingGradientCopyIn(
    ModuleOp module, const DeepSpeedConfig &config, int stage, bool inference,
    llvm::function_ref<LogicalResult(ModuleOp, const DeepSpeedConfig &)> compile);

} // namespace mlir::ds

#endif // DS_PIPELINES_COMPILEONNX_H
