// Code generation for fused_elementwise kernels: the fused program
// (ds/runtime/FusedProgram.h) built as arith/math IR, for the GPU (a gpu.func lowered gpu
// -> NVVM -> PTX) and for the host (a func.func the unit tests JIT-compile to check the
// generated computation).
#pragma once

#include "ds/runtime/FusedProgram.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>
#include <vector>

namespace mlir::gpu {
class GPUModuleOp;
} // namespace mlir::gpu

namespace ds {

/// What one generated kernel computes: the program, its inputs (dtype and shape, each
/// broadcast to the output's shape, numpy rules) and its output.
struct FusedKernelSignature {
  std::vector<::ds::rt::fused::Instruction> program;
  std::vector<::ds::plan::DType> inputDtypes;
  std::vector<std::vector<int64_t>> inputShapes;
  ::ds::plan::DType outputDtype;
  std::vector<int64_t> outputShape;
};

/// The memref type an operand of `dtype` and `numel` elements has in generated code: 1-D,
/// static, i8 for i1 (the plan stores one byte per bool).
mlir::MemRefType generatedOperandType(mlir::MLIRContext *ctx, ::ds::plan::DType dtype,
                                      int64_t numel);

/// Appends to `module` (a gpu.module) a kernel `name` whose parameters are the inputs
/// then the output, each a flat memref (bare pointers after lowering); one thread per
/// element in a grid-stride loop, any launch shape.
void buildFusedGpuKernel(mlir::OpBuilder &b, mlir::gpu::GPUModuleOp module,
                         llvm::StringRef name, const FusedKernelSignature &sig);

/// Appends to `module` a host function `name` with the same parameters and body (an
/// scf.for over the elements), with a C interface (`_mlir_ciface_<name>`).
void buildFusedHostFunction(mlir::OpBuilder &b, mlir::ModuleOp module,
                            llvm::StringRef name, const FusedKernelSignature &sig);

struct PtxOptions {
  /// The SM the PTX is compiled for (the driver JITs it to newer ones).
  std::string chip = "sm_90";
  /// libdevice, for the math functions (__nv_expf, ...).
  std::string libdevice = "/usr/local/cuda/nvvm/libdevice/libdevice.10.bc";
};

/// Lowers `module` (gpu.module of kernels built above, inside a builtin module) through
/// convert-gpu-to-nvvm to LLVM IR, links libdevice, optimizes and emits PTX text with
/// LLVM's NVPTX backend. Errors are emitted on the gpu.module.
mlir::FailureOr<std::string> emitPtx(mlir::gpu::GPUModuleOp module,
                                     const PtxOptions &options);

/// Registers what the lowering needs (dialects and their LLVM IR translations) in `ctx`.
void loadFusedCodegenDialects(mlir::MLIRContext &ctx);

} // namespace ds
