// The expression program of a `fused_elementwise` kernel: its instruction set, its encoding in
// the plan's `program` attribute and its validation (shared by the compiler pass that writes
// it, the load-time check and the CPU and CUDA interpreters).
//
// A program runs once per element of the iteration space (the output's shape). Registers
// 0..numInputs-1 hold the inputs (each broadcast to the output's shape, loaded as float: f32,
// bf16 and f16 exactly, i1 as 0 or 1); instruction k writes register numInputs + k. Every
// value is a float rounded to its instruction's dtype (bf16/f16: round to nearest even, i1: 0
// or 1), which is exactly what the unfused kernels store between two launches, so a fused
// chain computes the same bits as the kernels it replaces. The last instruction's register is
// the output.
//
// Encoding: kFields integers per instruction, [op, dtype, a, b, c], where a/b/c are register
// numbers (unused operands 0); for `const`, a holds the value's f32 bit pattern.
#pragma once

#include "ds/runtime/DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {
struct CheckContext;
/// The load-time check of a fused_elementwise instruction (the catalogue's `check`).
void checkFusedElementwise(const CheckContext &c);
} // namespace ds::rt

namespace ds::rt::fused {

// X(Enumerator, "spelling", arity): the spelling is the unfused kernel's name (gelu and
// gelu_grad split by approximation).
#define DS_FUSED_OPS(X)                                                                        \
  X(Add, "add", 2)                                                                             \
  X(Sub, "sub", 2)                                                                             \
  X(Mul, "mul", 2)                                                                             \
  X(Div, "div", 2)                                                                             \
  X(Pow, "pow", 2)                                                                             \
  X(Max, "max", 2)                                                                             \
  X(Min, "min", 2)                                                                             \
  X(Equal, "equal", 2)                                                                         \
  X(Less, "less", 2)                                                                           \
  X(Greater, "greater", 2)                                                                     \
  X(Where, "where", 3)                                                                         \
  X(Neg, "neg", 1)                                                                             \
  X(Relu, "relu", 1)                                                                           \
  X(Identity, "identity", 1)                                                                   \
  X(Sqrt, "sqrt", 1)                                                                           \
  X(Exp, "exp", 1)                                                                             \
  X(Log, "log", 1)                                                                             \
  X(Tanh, "tanh", 1)                                                                           \
  X(Sin, "sin", 1)                                                                             \
  X(Cos, "cos", 1)                                                                             \
  X(Abs, "abs", 1)                                                                             \
  X(Reciprocal, "reciprocal", 1)                                                               \
  X(Erf, "erf", 1)                                                                             \
  X(Sigmoid, "sigmoid", 1)                                                                     \
  X(Gelu, "gelu", 1)                                                                           \
  X(GeluTanh, "gelu_tanh", 1)                                                                  \
  X(GeluGrad, "gelu_grad", 2)                                                                  \
  X(GeluGradTanh, "gelu_grad_tanh", 2)                                                         \
  X(Cast, "cast", 1)                                                                           \
  X(Const, "const", 0)

enum Op : int32_t {
#define DS_FUSED_ENUM(E, s, n) E,
  DS_FUSED_OPS(DS_FUSED_ENUM)
#undef DS_FUSED_ENUM
      kNumOps
};

constexpr int kFields = 5;
/// Limits that keep the CUDA interpreter's registers and parameters small.
constexpr int kMaxInputs = 16;
constexpr int kMaxInstructions = 48;
constexpr int kMaxRegisters = kMaxInputs + kMaxInstructions;

struct Instruction {
  Op op;
  DType dtype; // of the result: f32, bf16, f16 or i1
  int32_t a = 0, b = 0, c = 0;
};

/// "add", ... ; "invalid" out of range.
const char *opName(int op);
/// Operand count of op (0 for const).
int opArity(Op op);
/// The dtypes registers may hold.
inline bool isRegisterDtype(DType t) {
  return t == ds::plan::F32 || t == ds::plan::BF16 || t == ds::plan::F16 || t == ds::plan::I1;
}

/// Decodes and validates `program` for inputs of dtypes `inputs` and an output of dtype
/// `output`: throws Error naming the instruction on a bad opcode, dtype, register or typing
/// (the rules of the unfused kernels: arithmetic on one float dtype, comparisons to i1,
/// where's condition i1, cast between register dtypes).
std::vector<Instruction> decodeProgram(const std::vector<int64_t> &program,
                                       const std::vector<DType> &inputs, DType output);

/// The encoding of instructions (the compiler's side).
std::vector<int64_t> encodeProgram(const std::vector<Instruction> &program);

/// A readable listing, one instruction per line: "r3 = mul.bf16 r0, r2".
std::string describeProgram(const std::vector<Instruction> &program, int numInputs);

/// f32 bit pattern <-> float (the `const` operand).
int64_t constBits(float v);
float constValue(int64_t bits);

} // namespace ds::rt::fused
