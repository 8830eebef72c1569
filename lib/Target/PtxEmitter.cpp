// Lowers a gpu.module of generated kernels to PTX: convert-gpu-to-nvvm (bare-pointer
// parameters), translation to LLVM IR, libdevice linked for the math functions, LLVM's O3
// and the NVPTX backend's assembly printer.
#include "ds/Target/FusedKernelCodegen.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IRReader/IRReader.h"
#include "llvm/Linker/Linker.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm/Transforms/IPO/Internalize.h"

#include <mutex>

extern "C" {
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTarget();
void LLVMInitializeNVPTXTargetMC();
void LLVMInitializeNVPTXAsmPrinter();
}

using namespace mlir;

namespace ds {

void loadFusedCodegenDialects(MLIRContext &ctx) {
  DialectRegistry registry;
  registry.insert<arith::ArithDialect, cf::ControlFlowDialect, func::FuncDialect,
                  gpu::GPUDialect, LLVM::LLVMDialect, math::MathDialect,
                  memref::MemRefDialect, NVVM::NVVMDialect, scf::SCFDialect>();
  registry.insert<ub::UBDialect>();
  // The patterns convert-gpu-to-nvvm (and the host lowering) take from each dialect.
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  ctx.appendDialectRegistry(registry);
  ctx.loadAllAvailableDialects();
}

namespace {

const char *kTriple = "nvptx64-nvidia-cuda";

std::unique_ptr<llvm::TargetMachine> nvptxTargetMachine(StringRef chip,
                                                        std::string &error) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  llvm::Triple triple(kTriple);
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  // FPOpFusion::Standard: no FMA contraction, as the interpreter's _rn intrinsics.
  llvm::TargetOptions options;
  return std::unique_ptr<llvm::TargetMachine>(
      target->createTargetMachine(triple, chip, "", options, std::nullopt, std::nullopt,
                                  llvm::CodeGenOptLevel::Aggressive));
}

} // namespace

FailureOr<std::string> emitPtx(gpu::GPUModuleOp module, const PtxOptions &options) {
  // 1. gpu -> NVVM + LLVM dialects.
  PassManager pm(module->getContext(), gpu::GPUModuleOp::getOperationName());
  pm.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.useBarePtrCallConv = true;
  pm.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  pm.addPass(createReconcileUnrealizedCastsPass());
  if (failed(pm.run(module)))
    return module.emitError("generated fused kernels: lowering to NVVM failed");

  // 2. LLVM IR, libdevice linked in.
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, module.getName());
  if (!llvmModule)
    return module.emitError("generated fused kernels: translation to LLVM IR failed");
  std::string error;
  std::unique_ptr<llvm::TargetMachine> tm = nvptxTargetMachine(options.chip, error);
  if (!tm)
    return module.emitError("generated fused kernels: no NVPTX target in this LLVM: ")
           << error;
  llvmModule->setTargetTriple(llvm::Triple(kTriple));
  llvmModule->setDataLayout(tm->createDataLayout());
  // sqrt as LLVM's intrinsic (sqrt.rn.f32, the interpreter's correctly rounded sqrtf):
  // libdevice's __nv_sqrtf would pick sqrt.approx, __CUDA_PREC_SQRT being unset.
  if (llvm::Function *sqrtf = llvmModule->getFunction("__nv_sqrtf")) {
    for (llvm::User *u : llvm::make_early_inc_range(sqrtf->users())) {
      auto *call = cast<llvm::CallInst>(u);
      llvm::IRBuilder<> ir(call);
      call->replaceAllUsesWith(
          ir.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, call->getArgOperand(0)));
      call->eraseFromParent();
    }
    sqrtf->eraseFromParent();
  }
  bool needsLibdevice = llvm::any_of(*llvmModule, [](const llvm::Function &f) {
    return f.isDeclaration() && f.getName().starts_with("__nv_");
  });
  if (needsLibdevice) {
    llvm::SMDiagnostic diag;
    std::unique_ptr<llvm::Module> libdevice =
        llvm::parseIRFile(options.libdevice, diag, llvmContext);
    if (!libdevice)
      return module.emitError("generated fused kernels: cannot read libdevice '")
             << options.libdevice << "' (" << diag.getMessage()
             << "); pass its path with --ds-generate-fused-kernels=\"libdevice=...\"";
    libdevice->setTargetTriple(llvm::Triple(kTriple));
    libdevice->setDataLayout(tm->createDataLayout());
    if (llvm::Linker::linkModules(*llvmModule, std::move(libdevice),
                                  llvm::Linker::Flags::LinkOnlyNeeded))
      return module.emitError("generated fused kernels: linking libdevice failed");
  }
  // Precise division and square root, denormals kept (NVVMReflect reads this).
  llvmModule->addModuleFlag(llvm::Module::Override, "nvvm-reflect-ftz", uint32_t(0));
  // Everything but the kernels is internal, so that O3 inlines and drops it.
  llvm::internalizeModule(*llvmModule, [](const llvm::GlobalValue &g) {
    auto *f = dyn_cast<llvm::Function>(&g);
    return f && f->getCallingConv() == llvm::CallingConv::PTX_Kernel;
  });

  // 3. O3 and the NVPTX backend.
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(*llvmModule, mam);
  }
  std::string ptx;
  {
    llvm::raw_string_ostream os(ptx);
    llvm::buffer_ostream bos(os);
    llvm::legacy::PassManager codegen;
    if (tm->addPassesToEmitFile(codegen, bos, nullptr,
                                llvm::CodeGenFileType::AssemblyFile))
      return module.emitError(
          "generated fused kernels: the NVPTX backend cannot emit PTX");
    codegen.run(*llvmModule);
  }
  return ptx;
}

} // namespace ds
