// ds-translate: translations into and out of the project's dialects.
#include "ds/Import/ONNX.h"
#include "ds/Target/Plan.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "llvm/Support/InitLLVM.h"

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  mlir::ds::registerImportCLOptions();
  mlir::ds::registerONNXImportTranslation();
  mlir::ds::registerPlanExportTranslation();
  return mlir::failed(mlir::mlirTranslateMain(argc, argv, "ds-translate"));
}
