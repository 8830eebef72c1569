// The CPU fused_elementwise kernel: interprets the expression program (FusedProgram.h) one
// instruction at a time over tiles of elements held in stack buffers, so that each
// instruction is one simple loop; threads take disjoint ranges of tiles.
//
// Bitwise equal to the unfused kernels (lib/cpu/Elementwise.cpp) for every dtype: each
// instruction evaluates the same float expression as its kernel and rounds its result to its
// dtype, as the kernel's store does (f16/bf16 kernels compute in f32 and store rounded).
#include "CpuCommon.h"
#include "ElementwiseLoops.h"

#include "ds/runtime/FusedProgram.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ds::rt::cpu {
namespace {

using ds::plan::DType;
using fused::Instruction;
using fused::Op;

/// Elements per tile: kMaxRegisters tiles of floats stay within 64 KiB of stack.
constexpr int64_t kTile = 256;

/// How one input is read: its data, dtype, and the element offsets of a broadcast.
struct InputAccess {
  const void *data;
  DType dtype;
  enum { Same, Scalar, Broadcast } mode;
  std::vector<int64_t> dims, strides; // Broadcast: result dims, the input's strides in them
};

inline float loadElement(const void *p, DType t, int64_t i) {
  switch (t) {
  case ds::plan::F32: return static_cast<const float *>(p)[i];
  case ds::plan::BF16: return bf16ToFloat(static_cast<const uint16_t *>(p)[i]);
  case ds::plan::F16: return halfToFloat(static_cast<const uint16_t *>(p)[i]);
  default: return static_cast<const uint8_t *>(p)[i] != 0 ? 1.0f : 0.0f; // i1
  }
}

/// Writes elements [start, start + m) of input `a` (broadcast) into `dst` as floats.
void loadTile(const InputAccess &a, int64_t start, int64_t m, float *dst) {
  if (a.mode == InputAccess::Scalar) {
    float v = loadElement(a.data, a.dtype, 0);
    std::fill(dst, dst + m, v);
    return;
  }
  if (a.mode == InputAccess::Same) {
    switch (a.dtype) {
    case ds::plan::F32:
      std::memcpy(dst, static_cast<const float *>(a.data) + start, size_t(m) * 4);
      return;
    case ds::plan::BF16: {
      const uint16_t *p = static_cast<const uint16_t *>(a.data) + start;
      for (int64_t i = 0; i < m; ++i)
        dst[i] = bf16ToFloat(p[i]);
      return;
    }
    default:
      for (int64_t i = 0; i < m; ++i)
        dst[i] = loadElement(a.data, a.dtype, start + i);
      return;
    }
  }
  // Broadcast: walk the result's multi-index from `start`, carrying the input's offset.
  size_t rank = a.dims.size();
  int64_t idx[8], off = 0, rem = start;
  for (size_t d = rank; d-- > 0;) {
    idx[d] = rem % a.dims[d];
    rem /= a.dims[d];
    off += idx[d] * a.strides[d];
  }
  int64_t lastDim = a.dims[rank - 1], lastStride = a.strides[rank - 1];
  int64_t i = 0;
  while (i < m) {
    // The rest of the current innermost row.
    int64_t run = std::min(m - i, lastDim - idx[rank - 1]);
    if (lastStride == 0) {
      std::fill(dst + i, dst + i + run, loadElement(a.data, a.dtype, off));
    } else if (a.dtype == ds::plan::F32 && lastStride == 1) { // a row (a bias)
      std::memcpy(dst + i, static_cast<const float *>(a.data) + off, size_t(run) * 4);
    } else if (a.dtype == ds::plan::F32) {
      const float *p = static_cast<const float *>(a.data) + off;
      for (int64_t j = 0; j < run; ++j)
        dst[i + j] = p[j * lastStride];
    } else {
      for (int64_t j = 0; j < run; ++j)
        dst[i + j] = loadElement(a.data, a.dtype, off + j * lastStride);
    }
    i += run;
    off += run * lastStride;
    idx[rank - 1] += run;
    // Carry into the outer dims.
    for (size_t d = rank - 1; d > 0 && idx[d] == a.dims[d]; --d) {
      off -= idx[d] * a.strides[d];
      idx[d] = 0;
      ++idx[d - 1];
      off += a.strides[d - 1];
    }
  }
}

/// The float value a store of `v` into dtype t and a load back yield.
inline float roundTo(DType t, float v) {
  switch (t) {
  case ds::plan::BF16: return bf16ToFloat(floatToBf16(v));
  case ds::plan::F16: return halfToFloat(floatToHalf(v));
  case ds::plan::I1: return v != 0 ? 1.0f : 0.0f;
  default: return v;
  }
}

template <typename F> inline void unary(const float *x, float *r, int64_t m, F f) {
  for (int64_t i = 0; i < m; ++i)
    r[i] = f(x[i]);
}
template <typename F>
inline void binary(const float *x, const float *y, float *r, int64_t m, F f) {
  for (int64_t i = 0; i < m; ++i)
    r[i] = f(x[i], y[i]);
}

// The unfused kernels' expressions (lib/cpu/Elementwise.cpp), with T = float; the math
// functions are the same ElementwiseLoops calls.
using T = float;

/// Evaluates one instruction over a tile: r = op(a, b, c), then rounds to its dtype.
void evaluate(const ElementwiseLoops &loops, const Instruction &ins, const float *a,
              const float *b, const float *c, float *r, int64_t m) {
  switch (ins.op) {
  case Op::Add: loops.add(a, b, r, m); break;
  case Op::Sub: loops.sub(a, b, r, m); break;
  case Op::Mul: loops.mul(a, b, r, m); break;
  case Op::Div: loops.div(a, b, r, m); break;
  case Op::Pow: binary(a, b, r, m, [](T x, T y) { return T(std::pow(x, y)); }); break;
  case Op::Max: loops.max(a, b, r, m); break;
  case Op::Min: loops.min(a, b, r, m); break;
  case Op::Equal: loops.equal(a, b, r, m); break;
  case Op::Less: loops.less(a, b, r, m); break;
  case Op::Greater: loops.greater(a, b, r, m); break;
  case Op::Where: loops.where(a, b, c, r, m); break;
  case Op::Neg: loops.neg(a, r, m); break;
  case Op::Relu: loops.relu(a, r, m); break;
  case Op::Identity: std::memmove(r, a, size_t(m) * sizeof(float)); break;
  case Op::Sqrt: loops.sqrt(a, r, m); break;
  case Op::Exp: loops.exp(a, r, m); break;
  case Op::Log: unary(a, r, m, [](T v) { return std::log(v); }); break;
  case Op::Tanh: loops.tanh(a, r, m); break;
  case Op::Sin: unary(a, r, m, [](T v) { return std::sin(v); }); break;
  case Op::Cos: unary(a, r, m, [](T v) { return std::cos(v); }); break;
  case Op::Abs: loops.abs(a, r, m); break;
  case Op::Reciprocal: loops.reciprocal(a, r, m); break;
  case Op::Erf: loops.erf(a, r, m); break;
  case Op::Sigmoid: loops.sigmoid(a, r, m); break;
  case Op::Gelu: loops.gelu(a, r, m); break;
  case Op::GeluTanh: loops.geluTanh(a, r, m); break;
  case Op::GeluGrad: loops.geluGrad(a, b, r, m); break;
  case Op::GeluGradTanh: loops.geluGradTanh(a, b, r, m); break;
  case Op::Cast: std::memmove(r, a, size_t(m) * sizeof(float)); break; // rounded below
  case Op::Const: std::fill(r, r + m, fused::constValue(uint32_t(ins.a))); break;
  default: fail("internal error: fused_elementwise op ", int(ins.op));
  }
  if (ins.dtype != ds::plan::F32)
    for (int64_t i = 0; i < m; ++i)
      r[i] = roundTo(ins.dtype, r[i]);
}

void storeTile(const float *src, const Tensor &r, int64_t start, int64_t m) {
  switch (r.dtype) {
  case ds::plan::F32: std::memcpy(r.as<float>() + start, src, size_t(m) * 4); break;
  case ds::plan::BF16:
    for (int64_t i = 0; i < m; ++i)
      r.as<uint16_t>()[start + i] = floatToBf16(src[i]);
    break;
  case ds::plan::F16:
    for (int64_t i = 0; i < m; ++i)
      r.as<uint16_t>()[start + i] = floatToHalf(src[i]);
    break;
  default:
    for (int64_t i = 0; i < m; ++i)
      r.as<uint8_t>()[start + i] = src[i] != 0;
  }
}

} // namespace

void runFusedElementwise(KernelCall &c) {
  const Tensor &r = c.out[0];
  std::vector<DType> dtypes;
  for (const Tensor &t : c.in)
    dtypes.push_back(t.dtype);
  const std::vector<Instruction> program =
      fused::decodeProgram(c.attrs<FusedElementwiseAttrs>().program, dtypes, r.dtype);
  int64_t n = r.numel;
  if (n == 0)
    return;
  std::vector<InputAccess> inputs;
  for (const Tensor &t : c.in) {
    InputAccess a{t.data, t.dtype, InputAccess::Same, {}, {}};
    if (t.numel == 1 && n != 1)
      a.mode = InputAccess::Scalar;
    else if (*t.shape != *r.shape) {
      a.mode = InputAccess::Broadcast;
      a.dims = *r.shape;
      a.strides = broadcastStrides(*t.shape, *r.shape);
    }
    inputs.push_back(std::move(a));
  }
  const ElementwiseLoops &loops = elementwiseLoops();
  const int numInputs = int(inputs.size());
  const int numRegs = numInputs + int(program.size());
  // Every tile of every thread reads all of its inputs before it writes the output, at the
  // same elements: the output may be an input (in place).
  parallelFor(n, std::max<int64_t>(kTile, kGrain / 4), [&](int64_t s, int64_t e) {
    alignas(64) float regs[fused::kMaxRegisters][kTile];
    const float *src[fused::kMaxRegisters];
    // Scalar inputs and constants are the same in every tile: filled once.
    for (int i = 0; i < numInputs; ++i)
      if (inputs[size_t(i)].mode == InputAccess::Scalar) {
        loadTile(inputs[size_t(i)], 0, kTile, regs[i]);
        src[i] = regs[i];
      }
    for (int k = numInputs; k < numRegs; ++k)
      if (program[size_t(k - numInputs)].op == Op::Const) { // the operand is the value
        evaluate(loops, program[size_t(k - numInputs)], nullptr, nullptr, nullptr, regs[k],
                 kTile);
        src[k] = regs[k];
      }
    for (int64_t t = s; t < e; t += kTile) {
      int64_t m = std::min(kTile, e - t);
      for (int i = 0; i < numInputs; ++i) {
        const InputAccess &a = inputs[size_t(i)];
        if (a.mode == InputAccess::Same && a.dtype == ds::plan::F32) {
          src[i] = static_cast<const float *>(a.data) + t; // read in place
        } else if (a.mode != InputAccess::Scalar) {
          loadTile(a, t, m, regs[i]);
          src[i] = regs[i];
        }
      }
      for (int k = numInputs; k < numRegs; ++k) {
        const Instruction &ins = program[size_t(k - numInputs)];
        if (ins.op != Op::Const)
          evaluate(loops, ins, src[ins.a], src[ins.b], src[ins.c], regs[k], m);
        src[k] = regs[k];
      }
      storeTile(src[numRegs - 1], r, t, m);
    }
  });
}

} // namespace ds::rt::cpu
