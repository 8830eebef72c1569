// The CUDA fused_elementwise kernel: a grid-stride loop in which each thread runs the
// expression program (FusedProgram.h) for its elements, the values in a small register file.
// Semantics follow the CUDA elementwise kernels (Elementwise.cu): f32/f16/bf16 compute in
// float, every instruction rounded to its dtype as those kernels round on store; arithmetic
// through the _rn intrinsics so that nvcc never contracts two instructions into an FMA.
#include "CudaCommon.cuh"
#include "GeneratedKernels.h"

#include "ds/runtime/FusedProgram.h"

namespace ds::rt::cuda {
namespace {

using fused::Op;

/// One instruction as the kernel reads it (small: the program travels in the parameters).
struct DevInstruction {
  uint8_t op, dtype, a, b, c;
  float value; // const
};

/// One input: data, dtype, and how element i of the iteration space maps to it.
struct DevInput {
  const void *data;
  int dtype;
  int mode; // 0 same index, 1 element 0, 2 broadcast through ix
  Indexer ix;
};

struct DevProgram {
  int numInputs, numInstructions;
  DevInstruction ins[fused::kMaxInstructions];
  DevInput in[fused::kMaxInputs];
};

__device__ __forceinline__ float loadAs(const DevInput &in, int64_t i) {
  int64_t j = in.mode == 0 ? i : in.mode == 1 ? int64_t(0) : in.ix.offset(i);
  switch (in.dtype) {
  case ds::plan::F32: return static_cast<const float *>(in.data)[j];
  case ds::plan::BF16: return __bfloat162float(static_cast<const __nv_bfloat16 *>(in.data)[j]);
  case ds::plan::F16: return __half2float(static_cast<const __half *>(in.data)[j]);
  default: return static_cast<const uint8_t *>(in.data)[j] != 0 ? 1.0f : 0.0f;
  }
}

/// float -> bf16/f16 bits with the CPU's NaN patterns (Elementwise.cu's toBf16/toHalf).
__device__ __forceinline__ __nv_bfloat16 toBf16(float f) {
  if (f != f)
    return __ushort_as_bfloat16((unsigned short)((__float_as_uint(f) >> 16) | 0x40u));
  return __float2bfloat16_rn(f);
}
__device__ __forceinline__ __half toHalf(float f) {
  if (f != f)
    return __ushort_as_half((unsigned short)(((__float_as_uint(f) >> 16) & 0x8000u) | 0x7e00u));
  return __float2half_rn(f);
}

__device__ __forceinline__ float roundTo(int dtype, float v) {
  switch (dtype) {
  case ds::plan::BF16: return __bfloat162float(toBf16(v));
  case ds::plan::F16: return __half2float(toHalf(v));
  case ds::plan::I1: return v != 0 ? 1.0f : 0.0f;
  default: return v;
  }
}

/// Elementwise.cu's geluDeriv in float.
__device__ __forceinline__ float geluDeriv(float x, bool tanhForm) {
  if (tanhForm) {
    const float k = 0.7978845608028654f, a = 0.044715f, a3 = 3.0f * a;
    float x2 = mulR(x, x);
    float t = tanhf(mulR(k, addR(x, mulR(mulR(a, x2), x))));
    float left = mulR(0.5f, addR(1.0f, t));
    float right =
        mulR(mulR(mulR(mulR(0.5f, x), subR(1.0f, mulR(t, t))), k), addR(1.0f, mulR(a3, x2)));
    return addR(left, right);
  }
  const float invSqrt2Pi = 0.3989422804014327f, s = 0.70710678118654752440f;
  float cdf = mulR(0.5f, addR(1.0f, erff(mulR(x, s))));
  return addR(cdf, mulR(mulR(x, invSqrt2Pi), expf(mulR(mulR(-0.5f, x), x))));
}

__device__ __forceinline__ float evaluate(const DevInstruction &ins, float x, float y, float z) {
  switch (ins.op) {
  case Op::Add: return addR(x, y);
  case Op::Sub: return subR(x, y);
  case Op::Mul: return mulR(x, y);
  case Op::Div: return divR(x, y);
  case Op::Pow: return powf(x, y);
  case Op::Max: return x != x ? x : y != y ? y : x > y ? x : y;
  case Op::Min: return x != x ? x : y != y ? y : x < y ? x : y;
  case Op::Equal: return x == y ? 1.0f : 0.0f;
  case Op::Less: return x < y ? 1.0f : 0.0f;
  case Op::Greater: return x > y ? 1.0f : 0.0f;
  case Op::Where: return x != 0 ? y : z;
  case Op::Neg: return -x;
  case Op::Relu: return x > 0.0f || x != x ? x : 0.0f;
  case Op::Identity: return x;
  case Op::Sqrt: return sqrtf(x);
  case Op::Exp: return expf(x);
  case Op::Log: return logf(x);
  case Op::Tanh: return tanhf(x);
  case Op::Sin: return sinf(x);
  case Op::Cos: return cosf(x);
  case Op::Abs: return fabsf(x);
  case Op::Reciprocal: return divR(1.0f, x);
  case Op::Erf: return erff(x);
  case Op::Sigmoid: {
    if (x >= 0.0f)
      return divR(1.0f, addR(1.0f, expf(-x)));
    float e = expf(x);
    return divR(e, addR(1.0f, e));
  }
  case Op::Gelu:
    return mulR(mulR(0.5f, x), addR(1.0f, erff(mulR(x, 0.70710678118654752440f))));
  case Op::GeluTanh: {
    float inner = addR(x, mulR(mulR(mulR(0.044715f, x), x), x));
    return mulR(mulR(0.5f, x), addR(1.0f, tanhf(mulR(0.7978845608028654f, inner))));
  }
  case Op::GeluGrad: return mulR(x, geluDeriv(y, false));
  case Op::GeluGradTanh: return mulR(x, geluDeriv(y, true));
  case Op::Cast: return x;
  default: return ins.value; // const
  }
}

__global__ void fusedElementwiseKernel(const DevProgram p, void *out, int outDtype, int64_t n) {
  float regs[fused::kMaxRegisters];
  DS_GRID_STRIDE(i, n) {
    for (int k = 0; k < p.numInputs; ++k)
      regs[k] = loadAs(p.in[k], i);
    for (int k = 0; k < p.numInstructions; ++k) {
      const DevInstruction &ins = p.ins[k];
      float v = evaluate(ins, regs[ins.a], regs[ins.b], regs[ins.c]);
      regs[p.numInputs + k] = roundTo(ins.dtype, v);
    }
    float v = regs[p.numInputs + p.numInstructions - 1];
    switch (outDtype) {
    case ds::plan::F32: static_cast<float *>(out)[i] = v; break;
    case ds::plan::BF16: static_cast<__nv_bfloat16 *>(out)[i] = toBf16(v); break;
    case ds::plan::F16: static_cast<__half *>(out)[i] = toHalf(v); break;
    default: static_cast<uint8_t *>(out)[i] = v != 0 ? 1 : 0;
    }
  }
}

/// Launches the instruction's generated kernel (ds-opt --generate-fused-kernels): parameters
/// are the inputs' pointers then the output's, one thread per element in a grid-stride loop.
void launchGenerated(KernelCall &c, void *function) {
  const Tensor &r = c.out[0];
  if (r.numel == 0)
    return;
  std::vector<void *> pointers, params;
  for (const Tensor &t : c.in)
    pointers.push_back(t.data);
  pointers.push_back(r.data);
  for (void *&p : pointers)
    params.push_back(&p);
  GeneratedKernels::launch(function, gridFor(r.numel), kThreads, stream(c), params.data());
}

} // namespace

void runFusedElementwise(KernelCall &c) {
  if (void *generated = dev(c).generatedKernel) {
    launchGenerated(c, generated);
    return;
  }
  const Tensor &r = c.out[0];
  std::vector<DType> dtypes;
  for (const Tensor &t : c.in)
    dtypes.push_back(t.dtype);
  std::vector<fused::Instruction> program =
      fused::decodeProgram(c.attrs<FusedElementwiseAttrs>().program, dtypes, r.dtype);
  int64_t n = r.numel;
  if (n == 0)
    return;
  DevProgram p{};
  p.numInputs = int(c.in.size());
  p.numInstructions = int(program.size());
  for (size_t k = 0; k < program.size(); ++k) {
    const fused::Instruction &ins = program[k];
    if (ins.op == Op::Const) // its operand is the value, not a register
      p.ins[k] = {uint8_t(ins.op), uint8_t(ins.dtype), 0, 0, 0, fused::constValue(uint32_t(ins.a))};
    else
      p.ins[k] = {uint8_t(ins.op), uint8_t(ins.dtype), uint8_t(ins.a), uint8_t(ins.b),
                  uint8_t(ins.c), 0.0f};
  }
  for (size_t k = 0; k < c.in.size(); ++k) {
    const Tensor &t = c.in[k];
    DevInput &in = p.in[k];
    in.data = t.data;
    in.dtype = int(t.dtype);
    if (t.numel == n) {
      in.mode = 0;
    } else if (t.numel == 1) {
      in.mode = 1;
    } else {
      in.mode = 2;
      in.ix = broadcastIndexer(*t.shape, *r.shape);
    }
  }
  // Each thread reads an element's inputs before writing that element: in place is safe.
  fusedElementwiseKernel<<<gridFor(n), kThreads, 0, stream(c)>>>(p, r.data, int(r.dtype), n);
  DS_CUDA_LAUNCH();
}

} // namespace ds::rt::cuda
