// ds-translate: translations into and out of the project's dialects.
#include "ds/Import/ONNX.h"
#include "ds/Target/Plan.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  // An ONNX input must be a regular file: the translation driver reads its input whole, so
  // a link to /dev/zero would be read until memory runs out, and a FIFO would block.
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef a = argv[i];
    if (a.starts_with("-") || !mlir::ds::isOnnxPath(a) || llvm::StringRef(argv[i - 1]) == "-o")
      continue;
    llvm::sys::fs::file_status status;
    if (!llvm::sys::fs::status(a, status) &&
        status.type() != llvm::sys::fs::file_type::regular_file) {
      llvm::errs() << "error: " << a
                   << ": cannot read the model: not a regular file (a directory, device or "
                      "pipe); pass the .onnx file itself\n";
      return 1;
    }
  }
  mlir::ds::registerImportCLOptions();
  mlir::ds::registerONNXImportTranslation();
  mlir::ds::registerPlanExportTranslation();
  return mlir::failed(mlir::mlirTranslateMain(argc, argv, "ds-translate"));
}
