// Import of ONNX models into the `ds` dialect.
#ifndef DS_IMPORT_ONNX_H
#define DS_IMPORT_ONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>

namespace llvm {
class MemoryBuffer;
} // namespace llvm

namespace mlir::ds {

struct ImportOptions {
  /// Static shapes for graph inputs (`--input-shape NAME=DxD`); they override the
  /// model's dims, dynamic or not.
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
  /// Fills the leading dim of every input whose leading dim is dynamic and not set by
  /// `inputShapes` (the micro-batch from a DeepSpeed config).
  std::optional<int64_t> batchSize;
  /// Name of the loss output; empty picks the one float scalar output.
  std::string lossName;
  /// Inference mode: no loss, dropout is the identity, every parameter frozen.
  bool inference = false;
  /// Also freeze parameters whose name matches this regex (`--freeze`).
  std::string freeze;
};

/// Imports the ONNX model in `buffer` (binary protobuf, or protobuf text format when
/// `path` ends in .onnxtxt, .textproto or .pbtxt). `path` names the model file in
/// errors and in the module's `ds.model_file`, and locates external data. On failure
/// emits one error naming the file (and the node) and returns null.
OwningOpRef<ModuleOp> importOnnx(MLIRContext *context,
                                 const llvm::MemoryBuffer &buffer,
                                 llvm::StringRef path,
                                 const ImportOptions &options);

/// Reads `path` and imports it; a missing or unreadable file is an error too.
OwningOpRef<ModuleOp> importOnnxFile(MLIRContext *context, llvm::StringRef path,
                                     const ImportOptions &options);

/// Whether `path` names an ONNX model by its extension (.onnx or a text format).
bool isOnnxPath(llvm::StringRef path);

/// Registers the import options as command-line flags (`--input-shape`, `--loss`,
/// `--mode`, `--freeze`); call before parsing the command line.
void registerImportCLOptions();
/// The options as parsed from the command line; errors (a malformed `--input-shape`)
/// are reported on stderr and give std::nullopt.
std::optional<ImportOptions> getImportOptionsFromCL();

/// Registers the `--import-onnx` translation for ds-translate.
void registerONNXImportTranslation();

} // namespace mlir::ds

#endif // DS_IMPORT_ONNX_H
