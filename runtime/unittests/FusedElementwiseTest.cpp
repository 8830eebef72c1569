// Tests that fused_elementwise computes the unfused kernels' bits: random programs over f32,
// bf16 and f16 with broadcast inputs, each run fused and op by op through the unfused CPU
// kernels; and that the load-time check names what is wrong with a bad program.
#include "KernelTestUtil.h"

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

/// A random program over inputs of dtype t (four broadcast shapes) and one i1 condition.
struct Case {
  std::vector<HostTensor> inputs;
  std::vector<Instruction> program;
};

Case randomCase(DType t, std::mt19937 &rng) {
  Case c;
  c.inputs.push_back(randomTensor(t, kShape, rng));
  c.inputs.push_back(randomTensor(t, {129}, rng, 0.25, 3));   // a row (bias)
  c.inputs.push_back(randomTensor(t, {}, rng, 0.5, 1.5));     // a scalar
  c.inputs.push_back(randomTensor(t, {8, 1, 1}, rng, -1, 1)); // a column
  c.inputs.push_back(randomTensor(ds::plan::I1, {33, 1}, rng));
  std::vector<DType> regs;
  for (const HostTensor &in : c.inputs)
    regs.push_back(in.dtype);
  auto pick = [&](DType want) {
    std::vector<int32_t> ok;
    for (size_t i = 0; i < regs.size(); ++i)
      if (regs[i] == want)
        ok.push_back(int32_t(i));
    // Prefer recent registers, so that chains form.
    std::uniform_int_distribution<size_t> u(ok.size() > 4 ? ok.size() - 4 : 0, ok.size() - 1);
    return ok[u(rng)];
  };
  std::uniform_int_distribution<int> opDist(0, fused::kNumOps - 1);
  const float consts[] = {0.5f, 3.0f, -1.25f, 2.0f};
  int n = 10 + int(rng() % 8);
  for (int k = 0; k < n; ++k) {
    Instruction ins;
    ins.op = Op(opDist(rng));
    ins.dtype = t;
    switch (ins.op) {
    case Op::Equal:
    case Op::Less:
    case Op::Greater: {
      // equal also compares two i1 registers (a mask against a constant).
      DType operands = ins.op == Op::Equal && rng() % 3 == 0 ? ds::plan::I1 : t;
      ins.dtype = ds::plan::I1;
      ins.a = pick(operands);
      ins.b = pick(operands);
      break;
    }
    case Op::Where:
      ins.a = pick(ds::plan::I1);
      ins.b = pick(t);
      ins.c = pick(t);
      break;
    case Op::Cast: { // to f32 and back, or through another 16-bit type
      DType from = t, to = t == ds::plan::F32 ? ds::plan::BF16 : ds::plan::F32;
      if (rng() % 3 == 0 && std::count(regs.begin(), regs.end(), to))
        std::swap(from, to);
      ins.a = pick(from);
      ins.dtype = to;
      break;
    }
    case Op::Const: ins.a = int32_t(uint32_t(fused::constBits(consts[rng() % 4]))); break;
    default:
      ins.a = pick(t);
      if (fused::opArity(ins.op) > 1)
        ins.b = pick(t);
    }
    regs.push_back(ins.dtype);
    c.program.push_back(ins);
  }
  // The output: the last t register.
  Instruction last{Op::Identity, t, pick(t), 0, 0};
  c.program.push_back(last);
  return c;
}

void expectFusedEqualsUnfused(DType t, int cases) {
  std::mt19937 rng(1234 + int(t));
  for (int n = 0; n < cases; ++n) {
    Case c = randomCase(t, rng);
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
