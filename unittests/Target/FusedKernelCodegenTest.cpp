// Tests that the generated code of fused_elementwise computes what the interpreter
// computes (and the interpreter, FusedElementwiseTest, the unfused kernels' bits): the
// kernel body that ds-generate-fused-kernels lowers to PTX, built here as a host function
// over the same element emitter, JIT-compiled with MLIR's ExecutionEngine and run on
// random programs over f32, bf16 and f16 with row, column, scalar and mask broadcasts.
#include "KernelTestUtil.h"
#include "RandomFusedProgram.h"

#include "ds/Target/FusedKernelCodegen.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/TargetSelect.h"

#include <cmath>

namespace ds::rt::test {
namespace {

const std::vector<int64_t> kShape = {4, 9, 67};

/// A memref<N x T> descriptor (the C interface's StridedMemRefType<T, 1>).
struct Descriptor {
  void *allocated, *aligned;
  int64_t offset, size, stride;
};

/// Runs the generated host function of `program` over `inputs` into `out`.
void runGenerated(const std::vector<Instruction> &program,
                  std::vector<HostTensor> &inputs, HostTensor &out) {
  mlir::MLIRContext ctx;
  ds::loadFusedCodegenDialects(ctx);
  mlir::OpBuilder b(&ctx);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(b, b.getUnknownLoc());
  ds::FusedKernelSignature sig;
  sig.program = program;
  for (HostTensor &in : inputs) {
    sig.inputDtypes.push_back(in.dtype);
    sig.inputShapes.push_back(in.shape);
  }
  sig.outputDtype = out.dtype;
  sig.outputShape = out.shape;
  ds::buildFusedHostFunction(b, *module, "fused", sig);

  // Host lowering: bf16 conversions expanded to integer code (round to nearest even, as
  // the GPU's cvt.rn), math functions through libm, the rest through the LLVM
  // conversions.
  mlir::PassManager pm(&ctx);
  pm.addPass(mlir::createSCFToControlFlowPass());
  mlir::arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(mlir::arith::createArithExpandOpsPass(expand));
  pm.addPass(mlir::createConvertMathToLibmPass());
  pm.addPass(mlir::createConvertToLLVMPass());
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
  ASSERT_TRUE(mlir::succeeded(pm.run(*module)));

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto engine = mlir::ExecutionEngine::create(*module);
  ASSERT_TRUE(bool(engine)) << llvm::toString(engine.takeError());
  std::vector<Descriptor> descriptors;
  for (HostTensor &in : inputs)
    descriptors.push_back({in.bytes.data(), in.bytes.data(), 0, in.numel(), 1});
  descriptors.push_back({out.bytes.data(), out.bytes.data(), 0, out.numel(), 1});
  std::vector<Descriptor *> pointers;
  for (Descriptor &d : descriptors)
    pointers.push_back(&d);
  llvm::SmallVector<void *> args;
  for (Descriptor *&p : pointers)
    args.push_back(&p);
  llvm::Error e = (*engine)->invokePacked("_mlir_ciface_fused", args);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
}

/// Runs `c` generated and interpreted; every element must be equal (NaN matching NaN),
/// or, with `tolerance` > 0, within tolerance * max(1, |interpreted|).
void expectGeneratedMatches(DType t, const Case &c, double tolerance,
                            const std::string &what) {
  std::vector<HostTensor> inputs = c.inputs;
  std::vector<HostTensor *> ins;
  for (HostTensor &in : inputs)
    ins.push_back(&in);
  HostTensor interpreted(t, kShape), generated(t, kShape);
  runKernel(Ins("fused_elementwise").ints("program", fused::encodeProgram(c.program)),
            ins, {&interpreted});
  runGenerated(c.program, inputs, generated);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < interpreted.numel(); ++i) {
    double want = interpreted.get(i), got = generated.get(i);
    bool ok = (std::isnan(want) && std::isnan(got)) || want == got ||
              (tolerance > 0 &&
               std::fabs(got - want) <= tolerance * std::max(1.0, std::fabs(want)));
    if (!ok && bad++ == 0)
      first = i;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << interpreted.numel()
                    << " elements differ; first at " << first << ": interpreted "
                    << (first >= 0 ? interpreted.get(first) : 0.0) << ", generated "
                    << (first >= 0 ? generated.get(first) : 0.0) << "\n"
                    << fused::describeProgram(c.program, int(c.inputs.size()));
}

/// Ops whose result both sides round correctly (IEEE arithmetic, comparisons, selects,
/// casts): the generated code must give the interpreter's bits.
const std::vector<Op> kExactOps = {
    Op::Add,      Op::Sub,  Op::Mul,     Op::Div,        Op::Max,  Op::Min,
    Op::Equal,    Op::Less, Op::Greater, Op::Where,      Op::Neg,  Op::Relu,
    Op::Identity, Op::Sqrt, Op::Abs,     Op::Reciprocal, Op::Cast, Op::Const};

void expectExactPrograms(DType t, int cases) {
  std::mt19937 rng(4321 + int(t));
  for (int n = 0; n < cases; ++n)
    expectGeneratedMatches(t, randomCase(t, rng, kShape, kExactOps), 0,
                           dtypeName(t) + " case " + std::to_string(n));
}

TEST(FusedKernelCodegen, ExactProgramsF32Bitwise) {
  expectExactPrograms(ds::plan::F32, 12);
}
TEST(FusedKernelCodegen, ExactProgramsBf16Bitwise) {
  expectExactPrograms(ds::plan::BF16, 12);
}
TEST(FusedKernelCodegen, ExactProgramsF16Bitwise) {
  expectExactPrograms(ds::plan::F16, 12);
}

/// The math functions: libm here, libdevice on the GPU, the interpreter's own loops on
/// the CPU; each op alone (on a full input and a broadcast row), within a few units in
/// the last place of the dtype.
void expectMathOps(DType t, double tolerance) {
  std::mt19937 rng(99 + int(t));
  for (Op op : {Op::Pow, Op::Exp, Op::Log, Op::Tanh, Op::Sin, Op::Cos, Op::Erf,
                Op::Sigmoid, Op::Gelu, Op::GeluTanh, Op::GeluGrad, Op::GeluGradTanh}) {
    Case c;
    c.inputs.push_back(
        randomTensor(t, kShape, rng, op == Op::Pow || op == Op::Log ? 0.1 : -3, 3));
    c.inputs.push_back(randomTensor(t, {kShape[2]}, rng, -2, 2));
    c.program = {{op, t, 0, fused::opArity(op) > 1 ? 1 : 0, 0}};
    expectGeneratedMatches(t, c, tolerance, dtypeName(t) + " " + fused::opName(op));
  }
}

TEST(FusedKernelCodegen, MathOpsF32) { expectMathOps(ds::plan::F32, 1e-5); }
TEST(FusedKernelCodegen, MathOpsBf16) { expectMathOps(ds::plan::BF16, 1.6e-2); }
TEST(FusedKernelCodegen, MathOpsF16) { expectMathOps(ds::plan::F16, 2e-3); }

} // namespace
} // namespace ds::rt::test
