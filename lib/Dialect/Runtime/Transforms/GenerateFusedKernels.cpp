// Gives every fused_elementwise kernel generated GPU code: one PTX module per plan, built
// from the programs through upstream gpu -> NVVM -> PTX (ds/Target/FusedKernelCodegen.h).
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"
#include "RegisterDtype.h"
#include "ds/Target/FusedKernelCodegen.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cstdlib>

#include "ds/runtime/Error.h"

#define DEBUG_TYPE "ds-generate-fused-kernels"

namespace mlir::dsrt {
#define GEN_PASS_DEF_GENERATEFUSEDKERNELSPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;
namespace fused = ::ds::rt::fused;

namespace {

/// The signature of a fused_elementwise kernel, or failure (with an error on it).
FailureOr<ds::FusedKernelSignature> signatureOf(KernelOp k) {
  ds::FusedKernelSignature sig;
  auto typeOf = [&](Value v, ::ds::plan::DType &dtype,
                    std::vector<int64_t> &shape) -> LogicalResult {
    auto t = cast<MemRefType>(v.getType());
    auto d = registerDtype(t.getElementType());
    if (!d || !t.hasStaticShape())
      return k.emitError("fused_elementwise operand of type ")
             << t << " has no generated code (static f32/bf16/f16/i1 only)";
    dtype = *d;
    shape.assign(t.getShape().begin(), t.getShape().end());
    return success();
  };
  for (Value v : k.getInputs()) {
    sig.inputDtypes.emplace_back();
    sig.inputShapes.emplace_back();
    if (failed(typeOf(v, sig.inputDtypes.back(), sig.inputShapes.back())))
      return failure();
  }
  if (k.getOutputs().size() != 1 ||
      failed(typeOf(k.getOutputs()[0], sig.outputDtype, sig.outputShape)))
    return failure();
  auto program = dyn_cast_or_null<DenseI64ArrayAttr>(k.getAttrs().get("program"));
  if (!program)
    return k.emitError("fused_elementwise without a `program` attribute");
  try {
    sig.program = fused::decodeProgram(
        std::vector<int64_t>(program.asArrayRef().begin(), program.asArrayRef().end()),
        sig.inputDtypes, sig.outputDtype);
  } catch (const ::ds::rt::Error &e) {
    return k.emitError(e.what());
  }
  return sig;
}

/// A key equal for kernels that compute the same thing on the same shapes.
std::string signatureKey(const ds::FusedKernelSignature &sig) {
  std::string key;
  llvm::raw_string_ostream os(key);
  for (const fused::Instruction &i : sig.program)
    os << int(i.op) << ',' << int(i.dtype) << ',' << i.a << ',' << i.b << ',' << i.c
       << ';';
  for (size_t k = 0; k < sig.inputDtypes.size(); ++k) {
    os << '|' << int(sig.inputDtypes[k]) << ':';
    for (int64_t d : sig.inputShapes[k])
      os << d << 'x';
  }
  os << "->" << int(sig.outputDtype) << ':';
  for (int64_t d : sig.outputShape)
    os << d << 'x';
  return key;
}

/// `path` when it exists; else libdevice under $CUDA_HOME or $CUDA_PATH when one has it;
/// else `path` (whose absence emitPtx reports).
std::string resolveLibdevice(const std::string &path) {
  if (llvm::sys::fs::exists(path))
    return path;
  for (const char *var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *root = std::getenv(var)) {
      std::string candidate = std::string(root) + "/nvvm/libdevice/libdevice.10.bc";
      if (llvm::sys::fs::exists(candidate))
        return candidate;
    }
  return path;
}

struct GenerateFusedKernelsPass
    : dsrt::impl::GenerateFusedKernelsPassBase<GenerateFusedKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<KernelOp> kernels;
    module.walk([&](KernelOp k) {
      if (k.getKernel() == "fused_elementwise")
        kernels.push_back(k);
    });
    if (kernels.empty())
      return;
    // The kernels are built and lowered in a context of their own: the GPU, NVVM and LLVM
    // dialects stay out of the plan's.
    MLIRContext ctx(MLIRContext::Threading::DISABLED);
    ds::loadFusedCodegenDialects(ctx);
    OpBuilder b(&ctx);
    Location loc = UnknownLoc::get(&ctx);
    OwningOpRef<ModuleOp> container = ModuleOp::create(b, loc);
    (*container)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), b.getUnitAttr());
    b.setInsertionPointToEnd(container->getBody());
    auto gpuModule = gpu::GPUModuleOp::create(b, loc, "ds_fused");
    llvm::StringMap<std::string> entries;
    for (KernelOp k : kernels) {
      FailureOr<ds::FusedKernelSignature> sig = signatureOf(k);
      if (failed(sig))
        return signalPassFailure();
      std::string key = signatureKey(*sig);
      auto [it, added] =
          entries.try_emplace(key, "fused_" + std::to_string(entries.size()));
      if (added) {
        ds::buildFusedGpuKernel(b, gpuModule, it->second, *sig);
        ++numEntries;
      }
      k->setAttr("dsrt.generated_entry", StringAttr::get(&getContext(), it->second));
      ++numKernels;
    }
    ds::PtxOptions options;
    options.chip = chip;
    options.libdevice = resolveLibdevice(libdevice);
    // Errors on the scratch module go to this pass's diagnostics (at the module's
    // location, without printing the module).
    FailureOr<std::string> ptx = [&] {
      ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
        if (d.getSeverity() == DiagnosticSeverity::Error)
          emitError(module.getLoc()) << d.str();
        return success();
      });
      return ds::emitPtx(gpuModule, options);
    }();
    if (failed(ptx))
      return signalPassFailure();
    if (!ptxFile.empty()) {
      std::string error;
      std::unique_ptr<llvm::ToolOutputFile> file = openOutputFile(ptxFile, &error);
      if (!file) {
        module.emitError("cannot write the PTX to '") << ptxFile << "': " << error;
        return signalPassFailure();
      }
      file->os() << *ptx;
      file->keep();
    }
    module->setAttr("dsrt.generated_ptx", StringAttr::get(&getContext(), *ptx));
    module->setAttr("dsrt.generated_chip", StringAttr::get(&getContext(), chip));
  }
};

} // namespace
