// CUDA elementwise kernels: add sub mul div pow, equal less greater, where, the unary ops
// (neg sqrt exp log tanh erf relu sigmoid identity gelu), cast, dropout and gelu_grad.
// Semantics follow the CPU kernels (lib/cpu/Elementwise.cpp).
//
// Arithmetic types: f32/f16/bf16 compute in float (f16/bf16 loaded exactly, rounded to nearest
// even once on store, NaN stored with the CPU's bit pattern), f64 in double, i32/i64 in their
// own type with two's-complement wrap-around (computed in the unsigned type, like the CPU's
// x86 behaviour). Expressions with several roundings (gelu, gelu_grad) use the _rn intrinsics
// so that nvcc never contracts them into FMAs: they round like the CPU's (no FMA) code.
//
// In-place: every kernel reads an element's inputs before writing the same element of its
// output, and no pointer is __restrict__, so an output may alias an input exactly.
//
// Differences from the CPU that a kernel cannot avoid:
//  - integer division by zero is a run-time error on the CPU; here it yields 0.
//  - exp/log/tanh/erf/pow use the CUDA math library (a few ulp) instead of glibc.
//  - NaN payloads read from f16/bf16/f32 inputs may not be preserved bit for bit.
#include "CudaCommon.cuh"

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>

namespace ds::rt::cuda {
namespace {

// ---------------------------------------------------------------- element load / store

/// The type an element is computed in: float for f16/bf16, the element type otherwise.
template <typename T> struct Calc { using type = T; };
template <> struct Calc<__half> { using type = float; };
template <> struct Calc<__nv_bfloat16> { using type = float; };
template <typename T> using CalcT = typename Calc<T>::type;

template <typename T> __device__ __forceinline__ CalcT<T> load(const T *p, int64_t i) {
  return p[i];
}
template <> __device__ __forceinline__ float load<__half>(const __half *p, int64_t i) {
  return __half2float(p[i]);
}
template <>
__device__ __forceinline__ float load<__nv_bfloat16>(const __nv_bfloat16 *p, int64_t i) {
  return __bfloat162float(p[i]);
}

/// float -> f16, round to nearest even with overflow to inf (like floatToHalf); a NaN becomes
/// sign | 0x7e00 exactly as on the CPU.
__device__ __forceinline__ __half toHalf(float f) {
  if (f != f) {
    unsigned short bits = (unsigned short)(((__float_as_uint(f) >> 16) & 0x8000u) | 0x7e00u);
    return __ushort_as_half(bits);
  }
  return __float2half_rn(f);
}
/// float -> bf16, round to nearest even (like floatToBf16); a NaN keeps its top 16 bits with
/// the quiet bit set, exactly as on the CPU.
__device__ __forceinline__ __nv_bfloat16 toBf16(float f) {
  if (f != f) {
    unsigned short bits = (unsigned short)((__float_as_uint(f) >> 16) | 0x40u);
    return __ushort_as_bfloat16(bits);
  }
  return __float2bfloat16_rn(f);
}

template <typename T> __device__ __forceinline__ void store(T *p, int64_t i, CalcT<T> v) {
  p[i] = v;
}
template <> __device__ __forceinline__ void store<__half>(__half *p, int64_t i, float v) {
  p[i] = toHalf(v);
}
template <>
__device__ __forceinline__ void store<__nv_bfloat16>(__nv_bfloat16 *p, int64_t i, float v) {
  p[i] = toBf16(v);
}

// ---------------------------------------------------------------- math in float / double

__device__ __forceinline__ float mSqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double mSqrt(double v) { return sqrt(v); }
__device__ __forceinline__ float mExp(float v) { return expf(v); }
__device__ __forceinline__ double mExp(double v) { return exp(v); }
__device__ __forceinline__ float mLog(float v) { return logf(v); }
__device__ __forceinline__ double mLog(double v) { return log(v); }
__device__ __forceinline__ float mTanh(float v) { return tanhf(v); }
__device__ __forceinline__ double mTanh(double v) { return tanh(v); }
__device__ __forceinline__ float mSin(float v) { return sinf(v); }
__device__ __forceinline__ double mSin(double v) { return sin(v); }
__device__ __forceinline__ float mCos(float v) { return cosf(v); }
__device__ __forceinline__ double mCos(double v) { return cos(v); }
__device__ __forceinline__ float mAbs(float v) { return fabsf(v); }
__device__ __forceinline__ double mAbs(double v) { return fabs(v); }
__device__ __forceinline__ float mErf(float v) { return erff(v); }
__device__ __forceinline__ double mErf(double v) { return erf(v); }
__device__ __forceinline__ float mPow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double mPow(double a, double b) { return pow(a, b); }

// Non-contracted IEEE arithmetic (never fused into an FMA).

// ---------------------------------------------------------------- operand access

/// How a kernel finds operand element of output element i: the same index (the operand has the
/// output's element count, so its broadcast mapping is the identity), always element 0 (one
/// element), or through a broadcast Indexer.
struct Access {
  int mode = 0; // 0 identity, 1 scalar, 2 indexed
  Indexer ix;
  __device__ __forceinline__ int64_t at(int64_t i) const {
    return mode == 0 ? i : mode == 1 ? int64_t(0) : ix.offset(i);
  }
};

/// Access of an operand of shape `in` (numel inNumel) broadcast to `out` (numel n > 0).
Access makeAccess(const std::vector<int64_t> &in, int64_t inNumel,
                  const std::vector<int64_t> &out, int64_t n) {
  Access a;
  if (inNumel == n) {
    a.mode = 0;
  } else if (inNumel == 1) {
    a.mode = 1;
  } else {
    a.mode = 2;
    a.ix = broadcastIndexer(in, out);
  }
  return a;
}
Access makeAccess(const Tensor &t, const Tensor &out) {
  return makeAccess(*t.shape, t.numel, *out.shape, out.numel);
}

// ---------------------------------------------------------------- binary arithmetic

enum BinOp { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin };

/// The CPU's intPow with wrap-around multiplication.
template <typename T> __device__ __forceinline__ T intPow(T base, T e) {
  using U = std::make_unsigned_t<T>;
  if (e < 0)
    return base == 1 ? T(1) : base == -1 ? (e % 2 ? T(-1) : T(1)) : T(0);
  U result = 1, b = U(base);
  while (e) {
    if (e & 1)
      result = U(result * b);
    b = U(b * b);
    e >>= 1;
  }
  return T(result);
}

template <int OP, typename C> __device__ __forceinline__ C binOp(C x, C y) {
  if constexpr (std::is_integral_v<C>) {
    using U = std::make_unsigned_t<C>;
    if constexpr (OP == kAdd)
      return C(U(U(x) + U(y)));
    else if constexpr (OP == kSub)
      return C(U(U(x) - U(y)));
    else if constexpr (OP == kMul)
      return C(U(U(x) * U(y)));
    else if constexpr (OP == kDiv) {
      if (y == 0)
        return C(0); // the CPU fails with "integer division by zero"
      if (y == -1)
        return C(U(U(0) - U(x))); // avoids INT_MIN / -1
      return C(x / y);            // truncation toward zero, like C++
    } else if constexpr (OP == kMax)
      return x > y ? x : y;
    else if constexpr (OP == kMin)
      return x < y ? x : y;
    else
      return intPow(x, y);
  } else {
    if constexpr (OP == kAdd)
      return x + y;
    else if constexpr (OP == kSub)
      return x - y;
    else if constexpr (OP == kMul)
      return x * y;
    else if constexpr (OP == kDiv)
      return x / y;
    else if constexpr (OP == kMax) // NaN propagates, as torch.maximum
      return x != x ? x : y != y ? y : x > y ? x : y;
    else if constexpr (OP == kMin)
      return x != x ? x : y != y ? y : x < y ? x : y;
    else
      return mPow(x, y);
  }
}

template <int OP, typename T>
__global__ void binaryKernel(const T *a, Access aa, const T *b, Access ab, T *r, int64_t n) {
  DS_GRID_STRIDE(i, n) {
    CalcT<T> x = load(a, aa.at(i));
    CalcT<T> y = load(b, ab.at(i));
    store(r, i, binOp<OP>(x, y));
  }
}

template <int OP> void launchBinary(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  int64_t n = r.numel;
  if (n == 0)
    return;
  Access aa = makeAccess(a, r), ab = makeAccess(b, r);
  DS_DISPATCH_NUMERIC(a.dtype, T, {
    binaryKernel<OP, T><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const T *>(a.data), aa, static_cast<const T *>(b.data), ab,
        static_cast<T *>(r.data), n);
    DS_CUDA_LAUNCH();
  });
}

} // namespace

void runBinary(KernelCall &c) {
  const std::string &op = c.ins.kernel();
  if (op == "add")
    launchBinary<kAdd>(c);
  else if (op == "sub")
    launchBinary<kSub>(c);
  else if (op == "mul")
    launchBinary<kMul>(c);
  else if (op == "div")
    launchBinary<kDiv>(c);
  else if (op == "pow")
    launchBinary<kPow>(c);
  else if (op == "max")
    launchBinary<kMax>(c);
  else if (op == "min")
    launchBinary<kMin>(c);
  else
    fail("internal error: binary kernel ", op);
}

namespace {

// ---------------------------------------------------------------- comparisons

enum CmpOp { kEqual, kLess, kGreater };

template <int OP, typename T>
__global__ void compareKernel(const T *a, Access aa, const T *b, Access ab, uint8_t *r,
                              int64_t n) {
  DS_GRID_STRIDE(i, n) {
    CalcT<T> x = load(a, aa.at(i));
    CalcT<T> y = load(b, ab.at(i));
    bool v = OP == kEqual ? (x == y) : OP == kLess ? (x < y) : (x > y);
    r[i] = v ? 1 : 0;
  }
}

template <int OP> void launchCompare(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  int64_t n = r.numel;
  if (n == 0)
    return;
  Access aa = makeAccess(a, r), ab = makeAccess(b, r);
  DS_DISPATCH_ALL_BYTES(a.dtype, T, {
    compareKernel<OP, T><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const T *>(a.data), aa, static_cast<const T *>(b.data), ab,
        static_cast<uint8_t *>(r.data), n);
    DS_CUDA_LAUNCH();
  });
}

} // namespace

void runCompare(KernelCall &c) {
  const std::string &op = c.ins.kernel();
  if (op == "equal")
    launchCompare<kEqual>(c);
  else if (op == "less")
    launchCompare<kLess>(c);
  else if (op == "greater")
    launchCompare<kGreater>(c);
  else
    fail("internal error: compare kernel ", op);
}

namespace {

// ---------------------------------------------------------------- where

/// Selects element bit patterns (E = unsigned integer of the element size).
template <typename E>
__global__ void whereKernel(const uint8_t *cond, Access ac, const E *x, Access ax, const E *y,
                            Access ay, E *r, int64_t n) {
  DS_GRID_STRIDE(i, n) {
    bool k = cond[ac.at(i)] != 0;
    r[i] = k ? x[ax.at(i)] : y[ay.at(i)];
  }
}

} // namespace

void runWhere(KernelCall &c) {
  const Tensor &cond = c.in[0], &x = c.in[1], &y = c.in[2], &r = c.out[0];
  int64_t n = r.numel;
  if (n == 0)
    return;
  Access ac = makeAccess(cond, r), ax = makeAccess(x, r), ay = makeAccess(y, r);
  DS_DISPATCH_BY_SIZE(r.dtype, E, {
    whereKernel<E><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const uint8_t *>(cond.data), ac, static_cast<const E *>(x.data), ax,
        static_cast<const E *>(y.data), ay, static_cast<E *>(r.data), n);
    DS_CUDA_LAUNCH();
  });
}

namespace {

// ---------------------------------------------------------------- unary

enum UnOp { kNeg, kSqrt, kExp, kLog, kTanh, kSin, kCos, kAbs, kReciprocal, kErf, kRelu, kSigmoid, kGeluErf, kGeluTanh };

template <int OP, typename C> __device__ __forceinline__ C unOp(C v) {
  if constexpr (OP == kNeg)
    return -v;
  else if constexpr (OP == kSqrt)
    return mSqrt(v);
  else if constexpr (OP == kExp)
    return mExp(v);
  else if constexpr (OP == kLog)
    return mLog(v);
  else if constexpr (OP == kTanh)
    return mTanh(v);
  else if constexpr (OP == kSin)
    return mSin(v);
  else if constexpr (OP == kCos)
    return mCos(v);
  else if constexpr (OP == kAbs)
    return mAbs(v);
  else if constexpr (OP == kReciprocal)
    return C(1) / v;
  else if constexpr (OP == kErf)
    return mErf(v);
  else if constexpr (OP == kRelu)
    return v > C(0) || v != v ? v : C(0); // NaN stays NaN (torch.relu), as on the CPU
  else if constexpr (OP == kSigmoid) {
    // Stable for large |v|: never exponentiates a positive number.
    if (v >= C(0))
      return C(1) / (C(1) + mExp(-v));
    C e = mExp(v);
    return e / (C(1) + e);
  } else if constexpr (OP == kGeluErf) {
    // 0.5 * v * (1 + erf(v * sqrt(1/2)))
    const C s = C(0.70710678118654752440); // M_SQRT1_2
    return mulR(mulR(C(0.5), v), addR(C(1), mErf(mulR(v, s))));
  } else {
    // 0.5 * v * (1 + tanh(k * (v + 0.044715 * v * v * v)))
    const C k = C(0.7978845608028654); // sqrt(2/pi)
    C inner = addR(v, mulR(mulR(mulR(C(0.044715), v), v), v));
    return mulR(mulR(C(0.5), v), addR(C(1), mTanh(mulR(k, inner))));
  }
}

template <int OP, typename T> __global__ void unaryKernel(const T *x, T *r, int64_t n) {
  DS_GRID_STRIDE(i, n) { store(r, i, unOp<OP>(load(x, i))); }
}

enum IntUnOp { kIntNeg, kIntRelu };
template <int OP, typename T> __global__ void unaryIntKernel(const T *x, T *r, int64_t n) {
  using U = std::make_unsigned_t<T>;
  DS_GRID_STRIDE(i, n) {
    T v = x[i];
    r[i] = OP == kIntNeg ? T(U(U(0) - U(v))) : (v > 0 ? v : T(0));
  }
}

template <int OP> void launchUnaryFloat(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  int64_t n = x.numel;
  if (n == 0)
    return;
  DS_DISPATCH_FLOAT(x.dtype, T, {
    unaryKernel<OP, T><<<gridFor(n), kThreads, 0, stream(c)>>>(static_cast<const T *>(x.data),
                                                                static_cast<T *>(r.data), n);
    DS_CUDA_LAUNCH();
  });
}

template <int OP> void launchUnaryInt(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  int64_t n = x.numel;
  if (n == 0)
    return;
  if (x.dtype == ds::plan::I64) {
    unaryIntKernel<OP, int64_t><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const int64_t *>(x.data), static_cast<int64_t *>(r.data), n);
  } else if (x.dtype == ds::plan::I32) {
    unaryIntKernel<OP, int32_t><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const int32_t *>(x.data), static_cast<int32_t *>(r.data), n);
  } else {
    fail("unsupported dtype ", dtypeName(x.dtype));
  }
  DS_CUDA_LAUNCH();
}

} // namespace

void runUnary(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const std::string &op = c.ins.kernel();
  if (op == "identity") {
    if (x.data != r.data && x.numel > 0)
      DS_CUDA(cudaMemcpyAsync(r.data, x.data, bytesOf(x), cudaMemcpyDeviceToDevice, stream(c)));
    return;
  }
  if (isInteger(x.dtype)) {
    if (op == "neg")
      launchUnaryInt<kIntNeg>(c);
    else if (op == "relu")
      launchUnaryInt<kIntRelu>(c);
    else
      fail("unsupported dtype ", dtypeName(x.dtype), " for ", op);
    return;
  }
  if (op == "neg")
    launchUnaryFloat<kNeg>(c);
  else if (op == "sqrt")
    launchUnaryFloat<kSqrt>(c);
  else if (op == "exp")
    launchUnaryFloat<kExp>(c);
  else if (op == "log")
    launchUnaryFloat<kLog>(c);
  else if (op == "tanh")
    launchUnaryFloat<kTanh>(c);
  else if (op == "sin")
    launchUnaryFloat<kSin>(c);
  else if (op == "cos")
    launchUnaryFloat<kCos>(c);
  else if (op == "abs")
    launchUnaryFloat<kAbs>(c);
  else if (op == "reciprocal")
    launchUnaryFloat<kReciprocal>(c);
  else if (op == "erf")
    launchUnaryFloat<kErf>(c);
  else if (op == "relu")
    launchUnaryFloat<kRelu>(c);
  else if (op == "sigmoid")
    launchUnaryFloat<kSigmoid>(c);
  else if (op == "gelu") {
    if (c.attrs<GeluAttrs>().approximate == GeluApproximation::Tanh)
      launchUnaryFloat<kGeluTanh>(c);
    else
      launchUnaryFloat<kGeluErf>(c);
  } else
    fail("internal error: unary kernel ", op);
}

namespace {

// ---------------------------------------------------------------- gelu_grad

/// The CPU's geluDeriv, with the same evaluation order and no contraction.
template <typename C> __device__ __forceinline__ C geluDeriv(C x, bool tanhForm) {
  if (tanhForm) {
    const C k = C(0.7978845608028654); // sqrt(2/pi)
    const C a = C(0.044715);
    const C a3 = C(3) * a; // T(3) * a, rounded once like the CPU's constant
    C x2 = mulR(x, x);
    C t = mTanh(mulR(k, addR(x, mulR(mulR(a, x2), x))));
    // 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * a * x2)
    C left = mulR(C(0.5), addR(C(1), t));
    C right = mulR(mulR(mulR(mulR(C(0.5), x), subR(C(1), mulR(t, t))), k),
                   addR(C(1), mulR(a3, x2)));
    return addR(left, right);
  }
  const C invSqrt2Pi = C(0.3989422804014327); // 1/sqrt(2*pi)
  const C s = C(0.70710678118654752440);      // M_SQRT1_2
  // cdf = 0.5 * (1 + erf(x * sqrt(1/2))); cdf + x * invSqrt2Pi * exp(-0.5 * x * x)
  C cdf = mulR(C(0.5), addR(C(1), mErf(mulR(x, s))));
  return addR(cdf, mulR(mulR(x, invSqrt2Pi), mExp(mulR(mulR(C(-0.5), x), x))));
}

template <typename T>
__global__ void geluGradKernel(const T *g, const T *x, T *dx, int64_t n, bool tanhForm) {
  DS_GRID_STRIDE(i, n) {
    CalcT<T> gv = load(g, i), xv = load(x, i);
    store(dx, i, mulR(gv, geluDeriv(xv, tanhForm)));
  }
}

} // namespace

void runGeluGrad(KernelCall &c) {
  const Tensor &g = c.in[0], &x = c.in[1], &dx = c.out[0];
  bool tanhForm = c.attrs<GeluAttrs>().approximate == GeluApproximation::Tanh;
  int64_t n = g.numel;
  if (n == 0)
    return;
  DS_DISPATCH_FLOAT(dx.dtype, T, {
    geluGradKernel<T><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const T *>(g.data), static_cast<const T *>(x.data),
        static_cast<T *>(dx.data), n, tanhForm);
    DS_CUDA_LAUNCH();
  });
}

namespace {

// ---------------------------------------------------------------- cast

/// The CPU's readAsDouble (exact for every type but i64 beyond 2^53, rounded to nearest).
template <typename S> __device__ __forceinline__ double asDouble(S v) { return double(v); }
template <> __device__ __forceinline__ double asDouble<__half>(__half v) {
  return double(__half2float(v));
}
template <> __device__ __forceinline__ double asDouble<__nv_bfloat16>(__nv_bfloat16 v) {
  return double(__bfloat162float(v));
}
template <> __device__ __forceinline__ double asDouble<uint8_t>(uint8_t v) {
  return v != 0 ? 1.0 : 0.0;
}

/// The CPU's floatToInt: NaN -> 0, truncation toward zero, saturation at the type's range.
template <typename I> __device__ __forceinline__ I floatToInt(double v) {
  if (v != v)
    return 0;
  v = trunc(v);
  if (v <= double(std::numeric_limits<I>::min()))
    return std::numeric_limits<I>::min();
  if (v >= double(std::numeric_limits<I>::max()))
    return std::numeric_limits<I>::max();
  return I(v);
}

template <typename S, typename D> __device__ __forceinline__ D castOne(S s) {
  if constexpr (std::is_same_v<D, float>) {
    if constexpr (std::is_same_v<S, int64_t>)
      return float(s); // one rounding, like the CPU's float(int64)
    else
      return float(asDouble(s));
  } else if constexpr (std::is_same_v<D, double>) {
    return asDouble(s);
  } else if constexpr (std::is_same_v<D, __half>) {
    return toHalf(float(asDouble(s))); // double -> float -> f16, like the CPU
  } else if constexpr (std::is_same_v<D, __nv_bfloat16>) {
    return toBf16(float(asDouble(s)));
  } else if constexpr (std::is_same_v<D, int32_t>) {
    if constexpr (std::is_same_v<S, int64_t>)
      return int32_t(uint32_t(uint64_t(s))); // the CPU's exact i64 -> i32 path (low 32 bits)
    else
      return floatToInt<int32_t>(asDouble(s));
  } else if constexpr (std::is_same_v<D, int64_t>) {
    if constexpr (std::is_same_v<S, int32_t>)
      return int64_t(s);
    else
      return floatToInt<int64_t>(asDouble(s));
  } else { // i1
    return asDouble(s) != 0 ? uint8_t(1) : uint8_t(0);
  }
}

template <typename S, typename D> __global__ void castKernel(const S *x, D *r, int64_t n) {
  DS_GRID_STRIDE(i, n) { r[i] = castOne<S, D>(x[i]); }
}

} // namespace

void runCast(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  int64_t n = x.numel;
  if (n == 0)
    return;
  if (x.dtype == r.dtype) {
    if (x.data != r.data)
      DS_CUDA(cudaMemcpyAsync(r.data, x.data, bytesOf(x), cudaMemcpyDeviceToDevice, stream(c)));
    return;
  }
  DS_DISPATCH_ALL_BYTES(x.dtype, S, {
    DS_DISPATCH_ALL_BYTES(r.dtype, D, {
      castKernel<S, D><<<gridFor(n), kThreads, 0, stream(c)>>>(static_cast<const S *>(x.data),
                                                                static_cast<D *>(r.data), n);
      DS_CUDA_LAUNCH();
    });
  });
}

namespace {

// ---------------------------------------------------------------- dropout

// splitmix64 finalizer: a bijective 64-bit mix (the CPU's mix64).
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// The CPU's dropoutBits(seed, counter, index).
__device__ __forceinline__ uint64_t dropoutBits(uint64_t seed, uint64_t counter,
                                                uint64_t index) {
  uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ull);
  key = mix64(key ^ (counter * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull));
  return mix64(key ^ (index * 0x9e3779b97f4a7c15ull));
}

/// counter = counterBase + (*runCounter << 16), with counterBase = attribute counter +
/// rank * 0x100000001b3 (all mod 2^64, as on the CPU). mask may be null.
template <typename T>
__global__ void dropoutKernel(const T *x, T *r, uint8_t *mask, int64_t n, uint64_t seed,
                              uint64_t counterBase, const uint64_t *runCounter, double ratio,
                              CalcT<T> scale) {
  const uint64_t counter = counterBase + (*runCounter << 16);
  DS_GRID_STRIDE(i, n) {
    // keep iff the top 53 bits, as a uniform double in [0,1), are >= ratio (exact).
    bool k = double(dropoutBits(seed, counter, uint64_t(i)) >> 11) * 0x1.0p-53 >= ratio;
    CalcT<T> v = k ? CalcT<T>(load(x, i) * scale) : CalcT<T>(0);
    store(r, i, v);
    if (mask)
      mask[i] = k ? 1 : 0;
  }
}

} // namespace

void runDropout(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const Tensor *mask = c.out.size() > 1 ? &c.out[1] : nullptr;
  const auto &attrs = c.attrs<DropoutAttrs>();
  double ratio = attrs.ratio;
  bool training = attrs.training;
  uint64_t seed = uint64_t(attrs.seed);
  uint64_t counterBase = uint64_t(attrs.counter) + uint64_t(c.ctx.rank) * 0x100000001b3ull;
  int64_t n = x.numel;
  if (n == 0)
    return;
  if (!training || ratio == 0) {
    if (x.data != r.data)
      DS_CUDA(cudaMemcpyAsync(r.data, x.data, bytesOf(x), cudaMemcpyDeviceToDevice, stream(c)));
    if (mask)
      DS_CUDA(cudaMemsetAsync(mask->data, 1, size_t(n), stream(c)));
    return;
  }
  const uint64_t *runCounter = dev(c).runCounter;
  if (!runCounter)
    fail("dropout: the device context has no run counter");
  double scale = 1.0 / (1.0 - ratio);
  uint8_t *m = mask ? static_cast<uint8_t *>(mask->data) : nullptr;
  DS_DISPATCH_FLOAT(x.dtype, T, {
    // The CPU multiplies by T(scale): float(scale) for f32/f16/bf16, scale for f64.
    dropoutKernel<T><<<gridFor(n), kThreads, 0, stream(c)>>>(
        static_cast<const T *>(x.data), static_cast<T *>(r.data), m, n, seed, counterBase,
        runCounter, ratio, CalcT<T>(scale));
    DS_CUDA_LAUNCH();
  });
}

} // namespace ds::rt::cuda
