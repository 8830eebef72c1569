// In-process compilation of an ONNX training graph into a plan: what ds_opt.initialize calls
// (the same import, pipelines and plan export as ds-opt MODEL.onnx --config ... -o x.dsplan).
#ifndef DS_PIPELINES_COMPILEONNX_H
#define DS_PIPELINES_COMPILEONNX_H

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
};

/// Imports, runs the training and lowering pipelines and serializes the plan (the bytes of a
/// .dsplan file). Errors (the importer's, the config's, the passes') come back as one
/// message, as ds-opt prints them.
llvm::Expected<std::string> compileOnnxToPlan(const OnnxCompileRequest &request);

} // namespace mlir::ds

#endif // DS_PIPELINES_COMPILEONNX_H
