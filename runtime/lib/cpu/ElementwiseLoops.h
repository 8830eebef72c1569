// The f32 element loops of the elementwise kernels (and reduce_sum's f64 column sums of
// f32 rows), built once per instruction set from ElementwiseLoops.cpp; Elementwise.cpp
// picks a table at run time. The math functions (exp, erf, tanh, sigmoid, gelu, gelu_grad)
// are shared by the unfused kernels (Elementwise.cpp) and the fused interpreter
// (FusedElementwise.cpp), so they round alike; the arithmetic loops are the interpreter's
// (IEEE operations: the scalar kernels' bits). Every instruction set computes the same
// bits. Included by code built for AVX-512/AVX2: declarations only, no inline library code.
#pragma once

#include <cstdint>

// Marks an element loop whose output may be exactly an input (never a partial overlap):
// each element is read before it is written in the same iteration, so there is no
// loop-carried dependence for the vectoriser to check for (its run-time overlap check
// would send exactly-in-place calls to the scalar loop).
#if defined(__clang__)
#define DS_ELEMENT_LOOP _Pragma("clang loop vectorize(assume_safety)")
#else
#define DS_ELEMENT_LOOP _Pragma("GCC ivdep")
#endif

// The namespace of this instruction set's loops in the files built once per instruction set
// (ElementwiseLoops.cpp, LayerNormLoops.cpp, with DS_ELEMENTWISE_LOOPS_<ISA>): their
// functions never stand in for another build's at link time. Undefined elsewhere.
#if defined(DS_ELEMENTWISE_LOOPS_AVX512)
#define DS_LOOPS_NS avx512
#elif defined(DS_ELEMENTWISE_LOOPS_AVX2)
#define DS_LOOPS_NS avx2
#elif defined(DS_ELEMENTWISE_LOOPS_SSE2)
#define DS_LOOPS_NS sse2
#elif defined(DS_ELEMENTWISE_LOOPS_SCALAR)
#define DS_LOOPS_NS scalar
#endif

namespace ds::rt::cpu {

/// r[i] = f(x[i]) for i in [0, n); r may be exactly x (in place), never a partial
/// overlap.
using UnaryLoop = void (*)(const float *x, float *r, int64_t n);
/// r[i] = f(a[i], b[i]); r may be exactly a or b.
using BinaryLoop = void (*)(const float *a, const float *b, float *r, int64_t n);
/// r[i] = c[i] != 0 ? x[i] : y[i].
using SelectLoop = void (*)(const float *c, const float *x, const float *y, float *r,
                            int64_t n);
/// acc[i] += double(x[i]): reduce_sum's f64 accumulation of one f32 row into the sums of
/// its columns (exact conversion and IEEE adds: every instruction set's bits).
using AccumulateRowLoop = void (*)(double *acc, const float *x, int64_t n);

/// One instruction set's loops. exp, erf and tanh are within 1 ulp of the correctly
/// rounded result (evaluated in double, rounded once to f32); sigmoid and the gelu forms
/// are the f32 formulas of Elementwise.cpp / GeluFormulas.h over them.
struct ElementwiseLoops {
  const char *isa;
  UnaryLoop exp, erf, tanh, sigmoid, gelu, geluTanh;
  /// gelu_grad: r = g * gelu'(x), a = g, b = x.
  BinaryLoop geluGrad, geluGradTanh;
  /// The kernels' f32 expressions (Elementwise.cpp): max/min propagate NaN, the
  /// comparisons give 1.0f or 0.0f, relu keeps NaN and makes -0 +0, abs clears the sign
  /// bit.
  BinaryLoop add, sub, mul, div, max, min, equal, less, greater;
  UnaryLoop neg, relu, sqrt, abs, reciprocal;
  SelectLoop where;
  AccumulateRowLoop accumulateRow;
};

/// The loops of the instruction set cpuIsa() names.
const ElementwiseLoops &elementwiseLoops();

namespace scalar {
const ElementwiseLoops &elementwiseLoops();
}
#if defined(DS_HAVE_X86_OPTIMIZER_LOOPS)
namespace sse2 {
const ElementwiseLoops &elementwiseLoops();
}
namespace avx2 {
const ElementwiseLoops &elementwiseLoops();
}
namespace avx512 {
const ElementwiseLoops &elementwiseLoops();
}
#endif

} // namespace ds::rt::cpu
