// ds-translate: translations into and out of the `ds` dialect (--import-onnx).
#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Import/ONNX.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "llvm/Support/InitLLVM.h"

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  mlir::ds::registerImportCLOptions();
  mlir::ds::registerONNXImportTranslation();
  return mlir::failed(mlir::mlirTranslateMain(argc, argv, "ds-translate"));
}
