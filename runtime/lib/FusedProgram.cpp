// The fused_elementwise program: decoding, validation and the kernel's load-time check.
#include "ds/runtime/FusedProgram.h"
#include "ds/runtime/Kernels.h"

#include <cstring>
#include <sstream>

namespace ds::rt {
namespace fused {

const char *opName(int op) {
  switch (op) {
#define DS_FUSED_NAME(E, s, n)                                                                 \
  case E:                                                                                      \
    return s;
    DS_FUSED_OPS(DS_FUSED_NAME)
#undef DS_FUSED_NAME
  default: return "invalid";
  }
}

int opArity(Op op) {
  switch (op) {
#define DS_FUSED_ARITY(E, s, n)                                                                \
  case E:                                                                                      \
    return n;
    DS_FUSED_OPS(DS_FUSED_ARITY)
#undef DS_FUSED_ARITY
  default: return 0;
  }
}

int64_t constBits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return int64_t(bits);
}
float constValue(int64_t bits) {
  uint32_t b = uint32_t(bits);
  float v;
  std::memcpy(&v, &b, 4);
  return v;
}

namespace {
bool isFloat16or32(DType t) {
  return t == ds::plan::F32 || t == ds::plan::BF16 || t == ds::plan::F16;
}
} // namespace

std::vector<Instruction> decodeProgram(const std::vector<int64_t> &program,
                                       const std::vector<DType> &inputs, DType output) {
  if (inputs.size() > size_t(kMaxInputs))
    fail("fused_elementwise: ", inputs.size(), " inputs, at most ", kMaxInputs);
  if (program.empty() || program.size() % kFields != 0)
    fail("fused_elementwise: program has ", program.size(), " integers, expected a positive "
         "multiple of ", kFields);
  size_t count = program.size() / kFields;
  if (count > size_t(kMaxInstructions))
    fail("fused_elementwise: ", count, " instructions, at most ", kMaxInstructions);
  std::vector<DType> regs(inputs);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!isRegisterDtype(inputs[i]))
      fail("fused_elementwise: input ", i, " is ", dtypeName(inputs[i]),
           "; inputs must be f32, bf16, f16 or i1");
  std::vector<Instruction> out;
  for (size_t k = 0; k < count; ++k) {
    const int64_t *f = &program[k * kFields];
    auto where = [&] { return "fused_elementwise: instruction " + std::to_string(k) + " ("; };
    if (f[0] < 0 || f[0] >= kNumOps)
      fail(where(), "opcode ", f[0], "): unknown opcode");
    Instruction ins;
    ins.op = Op(f[0]);
    const char *name = opName(ins.op);
    if (f[1] < 0 || f[1] > 64 || !isRegisterDtype(DType(f[1])))
      fail(where(), name, "): result dtype ", dtypeName(int(f[1])),
           " is not f32, bf16, f16 or i1");
    ins.dtype = DType(f[1]);
    int arity = opArity(ins.op);
    int32_t *ops[3] = {&ins.a, &ins.b, &ins.c};
    std::vector<DType> od;
    if (ins.op == Const) {
      if (f[2] < 0 || f[2] > int64_t(UINT32_MAX) || f[3] != 0 || f[4] != 0)
        fail(where(), name, "): operand a must be an f32 bit pattern, b and c 0");
      if (!isFloat16or32(ins.dtype))
        fail(where(), name, "): a constant must be f32, bf16 or f16");
      ins.a = int32_t(uint32_t(f[2]));
    } else {
      for (int j = 0; j < 3; ++j) {
        int64_t r = f[2 + j];
        if (j >= arity) {
          if (r != 0)
            fail(where(), name, "): operand ", j, " must be 0 (the op takes ", arity, ")");
          continue;
        }
        if (r < 0 || r >= int64_t(regs.size()))
          fail(where(), name, "): operand ", j, " reads register ", r,
               ", which is not yet written (", regs.size(), " registers so far)");
        *ops[j] = int32_t(r);
        od.push_back(regs[size_t(r)]);
      }
    }
    DType t = ins.dtype;
    auto typeError = [&](const char *rule) {
      std::string got;
      for (DType d : od)
        got += (got.empty() ? "" : ", ") + dtypeName(d);
      fail(where(), name, "): ", rule, "; operands ", got, ", result ", dtypeName(t));
    };
    switch (ins.op) {
    case Equal: // also of two i1 operands (a mask compared with a constant)
      if (t != ds::plan::I1 || od[0] != od[1] ||
          !(isFloat16or32(od[0]) || od[0] == ds::plan::I1))
        typeError("compares two operands of one float dtype (or two i1) into i1");
      break;
    case Less:
    case Greater:
      if (t != ds::plan::I1 || od[0] != od[1] || !isFloat16or32(od[0]))
        typeError("compares two operands of one float dtype into i1");
      break;
    case Where:
      if (od[0] != ds::plan::I1 || od[1] != t || od[2] != t)
        typeError("takes an i1 condition and two operands of the result's dtype");
      break;
    case Cast:
      break; // between any register dtypes
    case Const:
      break;
    default:
      if (!isFloat16or32(t))
        typeError("computes in f32, bf16 or f16");
      for (DType d : od)
        if (d != t)
          typeError("takes operands of the result's dtype");
    }
    regs.push_back(t);
    out.push_back(ins);
  }
  if (out.back().dtype != output)
    fail("fused_elementwise: the last instruction yields ", dtypeName(out.back().dtype),
         ", the output is ", dtypeName(output));
  return out;
}

std::vector<int64_t> encodeProgram(const std::vector<Instruction> &program) {
  std::vector<int64_t> out;
  for (const Instruction &i : program) {
    out.push_back(i.op);
    out.push_back(i.dtype);
    out.push_back(i.op == Const ? int64_t(uint32_t(i.a)) : i.a);
    out.push_back(i.b);
    out.push_back(i.c);
  }
  return out;
}

std::string describeProgram(const std::vector<Instruction> &program, int numInputs) {
  std::ostringstream os;
  for (size_t k = 0; k < program.size(); ++k) {
    const Instruction &i = program[k];
    os << "r" << numInputs + int(k) << " = " << opName(i.op) << "." << dtypeName(i.dtype);
    if (i.op == Const) {
      os << " " << constValue(uint32_t(i.a));
    } else {
      int32_t ops[3] = {i.a, i.b, i.c};
      for (int j = 0; j < opArity(i.op); ++j)
        os << (j ? ", r" : " r") << ops[j];
    }
    os << "\n";
  }
  return os.str();
}

} // namespace fused

void checkFusedElementwise(const CheckContext &c) {
  const TensorType *r = c.out[0];
  if (r->shape.size() > 8)
    fail("result has ", r->shape.size(), " dims, at most 8");
  std::vector<DType> inputs;
  for (size_t i = 0; i < c.in.size(); ++i) {
    // Every input broadcasts to the result's shape (numpy rules, right-aligned).
    const std::vector<int64_t> &s = c.in[i]->shape;
    bool ok = s.size() <= r->shape.size();
    for (size_t d = 0; ok && d < s.size(); ++d) {
      int64_t rd = r->shape[r->shape.size() - s.size() + d];
      ok = s[d] == rd || s[d] == 1;
    }
    if (!ok)
      fail("input ", i, " of shape ", shapeString(s),
           " does not broadcast to the result's shape ", shapeString(r->shape));
    inputs.push_back(c.in[i]->dtype);
  }
  fused::decodeProgram(c.attrs<FusedElementwiseAttrs>().program, inputs, r->dtype);
}

} // namespace ds::rt
