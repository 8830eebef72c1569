// Tests that fused_elementwise computes the unfused kernels' bits: random programs over f32,
// bf16 and f16 with broadcast inputs, each run fused and op by op through the unfused CPU
// kernels; and that the load-time check names what is wrong with a bad program.
#include "KernelTestUtil.h"
#include "RandomFusedProgram.h"

#include "ds/runtime/FusedProgram.h"

#include <algorithm>
#include <map>

namespace ds::rt::test {
namespace {

using fused::Instruction;
using fused::Op;

const std::vector<int64_t> kShape = {8, 33, 129}; // > one tile, > one thread's grain

/// Runs instruction `ins` through its unfused kernel on full-shape operands.
HostTensor runUnfused(const Instruction &ins, const std::vector<HostTensor *> &operands) {
  HostTensor r(ins.dtype, kShape);
  switch (ins.op) {
  case Op::Const:
    runKernel(Ins("fill").f("value", fused::constValue(uint32_t(ins.a))), {}, {&r});
    break;
  case Op::Gelu: runKernel(Ins("gelu"), operands, {&r}); break;
  case Op::GeluTanh: runKernel(Ins("gelu").s("approximate", "tanh"), operands, {&r}); break;
  case Op::GeluGrad: runKernel(Ins("gelu_grad"), operands, {&r}); break;
  case Op::GeluGradTanh:
    runKernel(Ins("gelu_grad").s("approximate", "tanh"), operands, {&r});
    break;
  default: runKernel(Ins(fused::opName(ins.op)), operands, {&r});
  }
  return r;
}

void expectFusedEqualsUnfused(DType t, int cases) {
  std::mt19937 rng(1234 + int(t));
  for (int n = 0; n < cases; ++n) {
    Case c = randomCase(t, rng, kShape);
    std::vector<HostTensor *> ins;
    for (HostTensor &in : c.inputs)
      ins.push_back(&in);
    HostTensor fusedOut(t, kShape);
    runKernel(Ins("fused_elementwise").ints("program", fused::encodeProgram(c.program)), ins,
              {&fusedOut});

    // Unfused: the inputs expanded to the full shape (bits unchanged), then one kernel each.
    std::vector<HostTensor> regs;
    regs.reserve(c.inputs.size() + c.program.size());
    for (HostTensor &in : c.inputs) {
      HostTensor full(in.dtype, kShape);
      runKernel(Ins("expand"), {&in}, {&full});
      regs.push_back(std::move(full));
    }
    for (const Instruction &ins : c.program) {
      std::vector<HostTensor *> operands;
      if (ins.op != Op::Const) {
        int32_t ops[3] = {ins.a, ins.b, ins.c};
        for (int j = 0; j < fused::opArity(ins.op); ++j)
          operands.push_back(&regs[size_t(ops[j])]);
      }
      regs.push_back(runUnfused(ins, operands));
    }
    const HostTensor &want = regs.back();
    ASSERT_EQ(std::memcmp(fusedOut.bytes.data(), want.bytes.data(), size_t(want.type.bytes)), 0)
        << dtypeName(t) << " case " << n << ":\n"
        << fused::describeProgram(c.program, int(c.inputs.size()));
  }
}

TEST(FusedElementwise, RandomProgramsF32Bitwise) { expectFusedEqualsUnfused(ds::plan::F32, 60); }
TEST(FusedElementwise, RandomProgramsBf16Bitwise) { expectFusedEqualsUnfused(ds::plan::BF16, 60); }
TEST(FusedElementwise, RandomProgramsF16Bitwise) { expectFusedEqualsUnfused(ds::plan::F16, 60); }

// Tests that the output may be one of the inputs (the kernel runs in place).
TEST(FusedElementwise, InPlace) {
  std::mt19937 rng(7);
  HostTensor x = randomTensor(ds::plan::F32, kShape, rng), b = randomTensor(ds::plan::F32, {129}, rng);
  HostTensor want(ds::plan::F32, kShape), tmp(ds::plan::F32, kShape);
  runKernel(Ins("mul"), {&x, &b}, {&tmp});
  runKernel(Ins("add"), {&tmp, &x}, {&want});
  std::vector<Instruction> p = {{Op::Mul, ds::plan::F32, 0, 1, 0},
                                {Op::Add, ds::plan::F32, 2, 0, 0}};
  runKernel(Ins("fused_elementwise").ints("program", fused::encodeProgram(p)), {&x, &b}, {&x});
  EXPECT_EQ(std::memcmp(x.bytes.data(), want.bytes.data(), size_t(want.type.bytes)), 0);
}

// Tests that the load-time check rejects bad programs with a message naming the problem.
TEST(FusedElementwise, CheckRejectsBadPrograms) {
  HostTensor a(ds::plan::F32, {4}), h(ds::plan::BF16, {4}), r(ds::plan::F32, {4}),
      wide(ds::plan::F32, {5});
  auto check = [&](std::vector<int64_t> program, std::vector<HostTensor *> in,
                   HostTensor *out) {
    return checkKernel(Ins("fused_elementwise").ints("program", program), in, {out});
  };
  EXPECT_EQ(check({Op::Neg, ds::plan::F32, 0, 0, 0}, {&a}, &r), "");
  EXPECT_NE(check({99, ds::plan::F32, 0, 0, 0}, {&a}, &r).find("unknown opcode"),
            std::string::npos);
  EXPECT_NE(check({Op::Add, ds::plan::F32, 0, 3, 0}, {&a}, &r).find("not yet written"),
            std::string::npos);
  EXPECT_NE(check({Op::Add, ds::plan::F32, 0, 1, 0}, {&a, &h}, &r).find("result's dtype"),
            std::string::npos);
  EXPECT_NE(check({Op::Neg, ds::plan::F32, 0, 0}, {&a}, &r).find("multiple of 5"),
            std::string::npos);
  EXPECT_NE(check({Op::Neg, ds::plan::BF16, 1, 0, 0}, {&a, &h}, &r).find("yields bf16"),
            std::string::npos);
  EXPECT_NE(check({Op::Neg, ds::plan::F32, 0, 0, 0}, {&wide}, &r).find("does not broadcast"),
            std::string::npos);
  EXPECT_NE(check({Op::Neg, ds::plan::I64, 0, 0, 0}, {&a}, &r).find("result dtype"),
            std::string::npos);
}

} // namespace
} // namespace ds::rt::test
