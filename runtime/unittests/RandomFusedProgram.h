// Random fused_elementwise programs for the tests of the interpreter and of generated
// code: inputs of one dtype in four broadcast shapes (full, row, scalar, column) and an
// i1 mask.
#pragma once

#include "KernelTestUtil.h"

#include "ds/runtime/FusedProgram.h"

#include <algorithm>
#include <random>
#include <vector>

namespace ds::rt::test {

using fused::Instruction;
using fused::Op;

inline std::vector<Op> allOps() {
  std::vector<Op> ops;
  for (int op = 0; op < fused::kNumOps; ++op)
    ops.push_back(Op(op));
  return ops;
}

/// Random inputs for a rank-3 `shape` and a program of 10-17 instructions drawn from
/// `ops`.
struct Case {
  std::vector<HostTensor> inputs;
  std::vector<Instruction> program;
};

inline Case randomCase(DType t, std::mt19937 &rng, const std::vector<int64_t> &shape,
                       const std::vector<Op> &ops = allOps()) {
  Case c;
  c.inputs.push_back(randomTensor(t, shape, rng));
  c.inputs.push_back(randomTensor(t, {shape[2]}, rng, 0.25, 3));      // a row (bias)
  c.inputs.push_back(randomTensor(t, {}, rng, 0.5, 1.5));             // a scalar
  c.inputs.push_back(randomTensor(t, {shape[0], 1, 1}, rng, -1, 1));  // a column
  c.inputs.push_back(randomTensor(ds::plan::I1, {shape[1], 1}, rng)); // a mask
  std::vector<DType> regs;
  for (const HostTensor &in : c.inputs)
    regs.push_back(in.dtype);
  auto pick = [&](DType want) {
    std::vector<int32_t> ok;
    for (size_t i = 0; i < regs.size(); ++i)
      if (regs[i] == want)
        ok.push_back(int32_t(i));
    // Prefer recent registers, so that chains form.
    std::uniform_int_distribution<size_t> u(ok.size() > 4 ? ok.size() - 4 : 0,
                                            ok.size() - 1);
    return ok[u(rng)];
  };
  std::uniform_int_distribution<size_t> opDist(0, ops.size() - 1);
  const float consts[] = {0.5f, 3.0f, -1.25f, 2.0f};
  int n = 10 + int(rng() % 8);
  for (int k = 0; k < n; ++k) {
    Instruction ins;
    ins.op = ops[opDist(rng)];
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
    case Op::Const:
      ins.a = int32_t(uint32_t(fused::constBits(consts[rng() % 4])));
      break;
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

} // namespace ds::rt::test
