// libFuzzer target: arbitrary bytes through the ONNX importer's binary protobuf path.
#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Import/ONNX.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *ctx = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    ctx->loadDialect<mlir::ds::DSDialect, mlir::func::FuncDialect>();
    ctx->printOpOnDiagnostic(false);
    return ctx;
  }();
  // Errors are the expected outcome for most inputs; crashes and leaks are the bugs.
  mlir::ScopedDiagnosticHandler silence(
      context, [](mlir::Diagnostic &) { return mlir::success(); });
  auto buffer = llvm::MemoryBuffer::getMemBuffer(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.onnx",
      /*RequiresNullTerminator=*/false);
  mlir::ds::ImportOptions options;
  options.batchSize = 2;
  (void)mlir::ds::importOnnx(context, *buffer, "fuzz.onnx", options);
  return 0;
}
