// Elementwise CPU kernels: arithmetic, comparisons, where, unary math, cast, dropout, gelu_grad.
#include "CpuCommon.h"
#include "ElementwiseLoops.h"
#include "GeluFormulas.h"

#include "ds/runtime/CpuIsa.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

namespace ds::rt::cpu {
namespace {

using ds::plan::DType;

// ---------------------------------------------------------------- broadcast loops
template <typename A, typename B, typename R, typename F>
void binaryLoop(const A *a, const std::vector<int64_t> &as, const B *b,
                const std::vector<int64_t> &bs, R *r, const std::vector<int64_t> &rs, F f) {
  int64_t n = 1;
  for (int64_t d : rs)
    n *= d;
  int64_t na = 1, nb = 1;
  for (int64_t d : as)
    na *= d;
  for (int64_t d : bs)
    nb *= d;
  if (na == n && nb == n && as.size() == bs.size()) { // same shape: contiguous
    parallelFor(n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        r[i] = f(a[i], b[i]);
    });
    return;
  }
  if (nb == 1 && na == n) {
    const B bv = b[0];
    parallelFor(n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        r[i] = f(a[i], bv);
    });
    return;
  }
  if (na == 1 && nb == n) {
    const A av = a[0];
    parallelFor(n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        r[i] = f(av, b[i]);
    });
    return;
  }
  std::vector<int64_t> st[3] = {broadcastStrides(as, rs), broadcastStrides(bs, rs),
                                contiguousStrides(rs)};
  forEachRow<3>(rs, st, [&](const int64_t *off, int64_t inner, const int64_t *is) {
    const A *pa = a + off[0];
    const B *pb = b + off[1];
    R *pr = r + off[2];
    if (is[0] == 1 && is[1] == 1)
      for (int64_t i = 0; i < inner; ++i)
        pr[i] = f(pa[i], pb[i]);
    else if (is[0] == 1)
      for (int64_t i = 0; i < inner; ++i)
        pr[i] = f(pa[i], pb[0]);
    else if (is[1] == 1)
      for (int64_t i = 0; i < inner; ++i)
        pr[i] = f(pa[0], pb[i]);
    else
      for (int64_t i = 0; i < inner; ++i)
        pr[i] = f(pa[0], pb[0]);
  });
}

template <typename T> T intPow(T base, T exp) {
  if (exp < 0)
    return base == 1 ? 1 : base == -1 ? (exp % 2 ? -1 : 1) : 0;
  T result = 1;
  while (exp) {
    if (exp & 1)
      result *= base;
    base *= base;
    exp >>= 1;
  }
  return result;
}

template <typename T>
void binaryTyped(const std::string &op, const T *a, const std::vector<int64_t> &as, const T *b,
                 const std::vector<int64_t> &bs, T *r, const std::vector<int64_t> &rs) {
  if (op == "add")
    binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return T(x + y); });
  else if (op == "sub")
    binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return T(x - y); });
  else if (op == "mul")
    binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return T(x * y); });
  else if (op == "div") {
    if constexpr (std::is_integral_v<T>)
      binaryLoop(a, as, b, bs, r, rs, [](T x, T y) {
        if (y == 0)
          fail("integer division by zero");
        if (y == -1)
          return T(T(0) - x); // avoids INT_MIN / -1 overflow trapping
        return T(x / y);
      });
    else
      binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return T(x / y); });
  } else if (op == "max" || op == "min") {
    // NaN propagates (torch.maximum, torch.minimum).
    bool isMax = op == "max";
    binaryLoop(a, as, b, bs, r, rs, [isMax](T x, T y) {
      if (x != x)
        return x;
      if (y != y)
        return y;
      return isMax ? (x > y ? x : y) : (x < y ? x : y);
    });
  } else { // pow
    if constexpr (std::is_integral_v<T>)
      binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return intPow(x, y); });
    else
      binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return T(std::pow(x, y)); });
  }
}

template <typename T>
void compareTyped(const std::string &op, const T *a, const std::vector<int64_t> &as,
                  const T *b, const std::vector<int64_t> &bs, uint8_t *r,
                  const std::vector<int64_t> &rs) {
  if (op == "equal")
    binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return uint8_t(x == y); });
  else if (op == "less")
    binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return uint8_t(x < y); });
  else
    binaryLoop(a, as, b, bs, r, rs, [](T x, T y) { return uint8_t(x > y); });
}

// ---------------------------------------------------------------- unary
template <typename T, typename F> void unaryLoop(const T *x, T *r, int64_t n, F f) {
  parallelFor(n, kGrain / 4, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i)
      r[i] = f(x[i]);
  });
}

/// An f32 loop of ElementwiseLoops over [0, n), split across threads.
void runUnaryLoop(const float *x, float *r, int64_t n, UnaryLoop loop) {
  parallelFor(n, kGrain / 4, [&](int64_t s, int64_t e) { loop(x + s, r + s, e - s); });
}

/// The f32 kernels' math functions: ElementwiseLoops (vectorised, within 1 ulp of the
/// correctly rounded result); the f64 kernels call libm (LibmMath).
struct LibmMath {
  static double erf(double v) { return std::erf(v); }
  static double tanh(double v) { return std::tanh(v); }
  static double exp(double v) { return std::exp(v); }
};

/// The f32 unary kernels that call math functions, or false for another op.
bool unaryMathF32(const std::string &op, bool tanhGelu, const float *x, float *r, int64_t n) {
  const ElementwiseLoops &loops = elementwiseLoops();
  UnaryLoop loop = op == "exp"       ? loops.exp
                   : op == "erf"     ? loops.erf
                   : op == "tanh"    ? loops.tanh
                   : op == "sigmoid" ? loops.sigmoid
                   : op == "gelu"    ? (tanhGelu ? loops.geluTanh : loops.gelu)
                                     : nullptr;
  if (!loop)
    return false;
  runUnaryLoop(x, r, n, loop);
  return true;
}

template <typename T>
// tanhGelu: gelu with approximate = "tanh".
void unaryFloat(const std::string &op, bool tanhGelu, const T *x, T *r, int64_t n) {
  if constexpr (std::is_same_v<T, float>)
    if (unaryMathF32(op, tanhGelu, x, r, n))
      return;
  if (op == "neg")
    unaryLoop(x, r, n, [](T v) { return -v; });
  else if (op == "sqrt")
    unaryLoop(x, r, n, [](T v) { return std::sqrt(v); });
  else if (op == "exp")
    unaryLoop(x, r, n, [](T v) { return std::exp(v); });
  else if (op == "log")
    unaryLoop(x, r, n, [](T v) { return std::log(v); });
  else if (op == "tanh")
    unaryLoop(x, r, n, [](T v) { return std::tanh(v); });
  else if (op == "sin")
    unaryLoop(x, r, n, [](T v) { return std::sin(v); });
  else if (op == "cos")
    unaryLoop(x, r, n, [](T v) { return std::cos(v); });
  else if (op == "abs")
    unaryLoop(x, r, n, [](T v) { return std::abs(v); });
  else if (op == "reciprocal")
    unaryLoop(x, r, n, [](T v) { return T(1) / v; });
  else if (op == "erf")
    unaryLoop(x, r, n, [](T v) { return std::erf(v); });
  else if (op == "relu")
    // NaN stays NaN (torch.relu); -0 and non-positive values become +0.
    unaryLoop(x, r, n, [](T v) { return v > T(0) || std::isnan(v) ? v : T(0); });
  else if (op == "sigmoid")
    unaryLoop(x, r, n, [](T v) {
      // Stable for large |v|: never exponentiates a positive number.
      if (v >= T(0))
        return T(1) / (T(1) + std::exp(-v));
      T e = std::exp(v);
      return e / (T(1) + e);
    });
  else if (op == "identity")
    unaryLoop(x, r, n, [](T v) { return v; });
  else if (op == "gelu") {
    if (tanhGelu)
      unaryLoop(x, r, n, [](T v) { return geluTanh<LibmMath>(v); });
    else
      unaryLoop(x, r, n, [](T v) { return geluErf<LibmMath>(v); });
  } else
    fail("internal error: unary kernel ", op);
}

template <typename T>
void unaryInt(const std::string &op, const T *x, T *r, int64_t n) {
  if (op == "neg")
    unaryLoop(x, r, n, [](T v) { return T(T(0) - v); });
  else if (op == "relu")
    unaryLoop(x, r, n, [](T v) { return v > 0 ? v : T(0); });
  else // identity
    unaryLoop(x, r, n, [](T v) { return v; });
}

// ---------------------------------------------------------------- cast
template <typename T> double loadD(const void *p, int64_t i) {
  return double(static_cast<const T *>(p)[i]);
}
// Reads element i of t as double (exact for every type but i64 beyond 2^53).
inline double readAsDouble(const Tensor &t, int64_t i) {
  switch (t.dtype) {
  case ds::plan::F32: return t.as<float>()[i];
  case ds::plan::F64: return t.as<double>()[i];
  case ds::plan::F16: return halfToFloat(t.as<uint16_t>()[i]);
  case ds::plan::BF16: return bf16ToFloat(t.as<uint16_t>()[i]);
  case ds::plan::I32: return t.as<int32_t>()[i];
  case ds::plan::I1: return t.as<uint8_t>()[i] != 0;
  default: return double(t.as<int64_t>()[i]);
  }
}

template <typename I> I floatToInt(double v) {
  if (std::isnan(v))
    return 0;
  v = std::trunc(v);
  if (v <= double(std::numeric_limits<I>::min()))
    return std::numeric_limits<I>::min();
  if (v >= double(std::numeric_limits<I>::max()))
    return std::numeric_limits<I>::max();
  return I(v);
}

} // namespace

namespace {
/// The f32 arithmetic kernels whose operands are contiguous along the result's last dim
/// (same shapes, or broadcast over leading dims: a bias row), or a tensor and a scalar
/// second operand: ElementwiseLoops' vector loops
/// (the same IEEE operations as binaryTyped's, so the same bits). False for other cases.
bool binaryVectorF32(const std::string &op, const Tensor &a, const Tensor &b, const Tensor &r) {
  const ElementwiseLoops &loops = elementwiseLoops();
  BinaryLoop loop = op == "add"   ? loops.add
                    : op == "sub" ? loops.sub
                    : op == "mul" ? loops.mul
                    : op == "div" ? loops.div
                    : op == "max" ? loops.max
                    : op == "min" ? loops.min
                                  : nullptr;
  if (!loop || r.numel == 0)
    return false;
  const float *pa = a.as<float>(), *pb = b.as<float>();
  float *pr = r.as<float>();
  if (a.numel == r.numel && b.numel == r.numel && *a.shape == *r.shape &&
      *b.shape == *r.shape) {
    parallelFor(r.numel, kGrain,
                [&](int64_t s, int64_t e) { loop(pa + s, pb + s, pr + s, e - s); });
    return true;
  }
  if (a.numel == r.numel && b.numel == 1 && *a.shape == *r.shape) { // times a scalar
    constexpr int64_t kChunk = 1024;                                 // its value, repeated
    float bv[kChunk];
    std::fill(bv, bv + kChunk, pb[0]);
    parallelFor(r.numel, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i += kChunk)
        loop(pa + i, bv, pr + i, std::min(kChunk, e - i));
    });
    return true;
  }
  const auto &rs = *r.shape;
  if (rs.empty())
    return false;
  std::vector<int64_t> st[3] = {broadcastStrides(*a.shape, rs), broadcastStrides(*b.shape, rs),
                                contiguousStrides(rs)};
  if (st[0].back() != 1 || st[1].back() != 1 || rs.back() < 16)
    return false;
  forEachRow<3>(rs, st, [&](const int64_t *off, int64_t inner, const int64_t *) {
    loop(pa + off[0], pb + off[1], pr + off[2], inner);
  });
  return true;
}
} // namespace

void runBinary(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  const std::string &op = c.ins.kernel();
  switch (a.dtype) {
  case ds::plan::F32:
    if (binaryVectorF32(op, a, b, r))
      break;
    binaryTyped(op, a.as<float>(), *a.shape, b.as<float>(), *b.shape, r.as<float>(), *r.shape);
    break;
  case ds::plan::F64:
    binaryTyped(op, a.as<double>(), *a.shape, b.as<double>(), *b.shape, r.as<double>(),
                *r.shape);
    break;
  case ds::plan::I32:
    binaryTyped(op, a.as<int32_t>(), *a.shape, b.as<int32_t>(), *b.shape, r.as<int32_t>(),
                *r.shape);
    break;
  case ds::plan::I64:
    binaryTyped(op, a.as<int64_t>(), *a.shape, b.as<int64_t>(), *b.shape, r.as<int64_t>(),
                *r.shape);
    break;
  default: { // f16 / bf16: compute in f32
    std::vector<float> ta, tb, tr;
    const float *pa = asF32(a, ta), *pb = asF32(b, tb);
    float *pr = outF32(r, tr);
    binaryTyped(op, pa, *a.shape, pb, *b.shape, pr, *r.shape);
    storeF32(pr, r);
  }
  }
}

void runCompare(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  const std::string &op = c.ins.kernel();
  uint8_t *pr = r.as<uint8_t>();
  switch (a.dtype) {
  case ds::plan::F32:
    compareTyped(op, a.as<float>(), *a.shape, b.as<float>(), *b.shape, pr, *r.shape);
    break;
  case ds::plan::F64:
    compareTyped(op, a.as<double>(), *a.shape, b.as<double>(), *b.shape, pr, *r.shape);
    break;
  case ds::plan::I32:
    compareTyped(op, a.as<int32_t>(), *a.shape, b.as<int32_t>(), *b.shape, pr, *r.shape);
    break;
  case ds::plan::I64:
    compareTyped(op, a.as<int64_t>(), *a.shape, b.as<int64_t>(), *b.shape, pr, *r.shape);
    break;
  case ds::plan::I1:
    compareTyped(op, a.as<uint8_t>(), *a.shape, b.as<uint8_t>(), *b.shape, pr, *r.shape);
    break;
  default: {
    std::vector<float> ta, tb;
    compareTyped(op, asF32(a, ta), *a.shape, asF32(b, tb), *b.shape, pr, *r.shape);
  }
  }
}

namespace {
template <typename T> void whereTyped(KernelCall &c) {
  const Tensor &cond = c.in[0], &x = c.in[1], &y = c.in[2], &r = c.out[0];
  const auto &rs = *r.shape;
  std::vector<int64_t> st[4] = {broadcastStrides(*cond.shape, rs),
                                broadcastStrides(*x.shape, rs), broadcastStrides(*y.shape, rs),
                                contiguousStrides(rs)};
  const uint8_t *pc = cond.as<uint8_t>();
  const T *px = x.as<T>(), *py = y.as<T>();
  T *pr = r.as<T>();
  if (rs.empty()) {
    pr[0] = pc[0] ? px[0] : py[0];
    return;
  }
  forEachRow<4>(rs, st, [&](const int64_t *off, int64_t inner, const int64_t *is) {
    for (int64_t i = 0; i < inner; ++i)
      pr[off[3] + i] = pc[off[0] + i * is[0]] ? px[off[1] + i * is[1]] : py[off[2] + i * is[2]];
  });
}
} // namespace

void runWhere(KernelCall &c) {
  switch (dtypeSize(c.out[0].dtype)) {
  case 1: whereTyped<uint8_t>(c); break;
  case 2: whereTyped<uint16_t>(c); break; // f16/bf16 select bit patterns
  case 4: whereTyped<uint32_t>(c); break;
  default: whereTyped<uint64_t>(c); break;
  }
}

void runUnary(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const std::string &op = c.ins.kernel();
  bool tanhGelu = op == "gelu" &&
                  c.attrs<GeluAttrs>().approximate == GeluApproximation::Tanh;
  if (op == "identity") {
    if (x.data != r.data)
      std::memmove(r.data, x.data, size_t(x.numel) * dtypeSize(x.dtype));
    return;
  }
  switch (x.dtype) {
  case ds::plan::F32: unaryFloat(op, tanhGelu, x.as<float>(), r.as<float>(), x.numel); break;
  case ds::plan::F64: unaryFloat(op, tanhGelu, x.as<double>(), r.as<double>(), x.numel); break;
  case ds::plan::I32: unaryInt(op, x.as<int32_t>(), r.as<int32_t>(), x.numel); break;
  case ds::plan::I64: unaryInt(op, x.as<int64_t>(), r.as<int64_t>(), x.numel); break;
  default: {
    std::vector<float> tx, tr;
    const float *px = asF32(x, tx);
    float *pr = outF32(r, tr);
    unaryFloat(op, tanhGelu, px, pr, x.numel);
    storeF32(pr, r);
  }
  }
}

void runCast(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  int64_t n = x.numel;
  if (x.dtype == r.dtype) {
    if (x.data != r.data)
      std::memcpy(r.data, x.data, size_t(n) * dtypeSize(x.dtype));
    return;
  }
  // Exact i64 -> i32/i1 paths avoid the double round trip.
  if (x.dtype == ds::plan::I64 && r.dtype != ds::plan::F32 && r.dtype != ds::plan::F64 &&
      isInteger(r.dtype)) {
    for (int64_t i = 0; i < n; ++i)
      r.as<int32_t>()[i] = int32_t(x.as<int64_t>()[i]);
    return;
  }
  parallelFor(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      double v = readAsDouble(x, i);
      switch (r.dtype) {
      case ds::plan::F32:
        r.as<float>()[i] = x.dtype == ds::plan::I64 ? float(x.as<int64_t>()[i]) : float(v);
        break;
      case ds::plan::F64: r.as<double>()[i] = v; break;
      case ds::plan::F16: r.as<uint16_t>()[i] = floatToHalf(float(v)); break;
      case ds::plan::BF16: r.as<uint16_t>()[i] = floatToBf16(float(v)); break;
      case ds::plan::I32: r.as<int32_t>()[i] = floatToInt<int32_t>(v); break;
      case ds::plan::I64:
        r.as<int64_t>()[i] =
            x.dtype == ds::plan::I32 ? x.as<int32_t>()[i] : floatToInt<int64_t>(v);
        break;
      default: r.as<uint8_t>()[i] = v != 0; break;
      }
    }
  });
}

// splitmix64 finalizer: a bijective 64-bit mix.
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t dropoutBits(uint64_t seed, uint64_t counter, uint64_t index) {
  uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ull);
  key = mix64(key ^ (counter * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull));
  return mix64(key ^ (index * 0x9e3779b97f4a7c15ull));
}

void runDropout(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  const Tensor *mask = c.out.size() > 1 ? &c.out[1] : nullptr;
  const auto &attrs = c.attrs<DropoutAttrs>();
  double ratio = attrs.ratio;
  bool training = attrs.training;
  uint64_t seed = uint64_t(attrs.seed);
  uint64_t counter = uint64_t(attrs.counter) +
                     (c.ctx.runCounter << 16) + uint64_t(c.ctx.rank) * 0x100000001b3ull;
  int64_t n = x.numel;
  if (!training || ratio == 0) {
    if (x.data != r.data)
      std::memmove(r.data, x.data, size_t(n) * dtypeSize(x.dtype));
    if (mask)
      std::memset(mask->data, 1, size_t(n));
    return;
  }
  // keep iff the top 53 bits, as a uniform double in [0,1), are >= ratio.
  auto keep = [&](int64_t i) {
    return double(dropoutBits(seed, counter, uint64_t(i)) >> 11) * 0x1.0p-53 >= ratio;
  };
  double scale = 1.0 / (1.0 - ratio);
  auto apply = [&](auto *px, auto *pr) {
    using T = std::remove_reference_t<decltype(*pr)>;
    parallelFor(n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        bool k = keep(i);
        pr[i] = k ? T(px[i] * T(scale)) : T(0);
        if (mask)
          mask->as<uint8_t>()[i] = k;
      }
    });
  };
  if (x.dtype == ds::plan::F64) {
    apply(x.as<double>(), r.as<double>());
  } else {
    std::vector<float> tx, tr;
    const float *px = asF32(x, tx);
    float *pr = outF32(r, tr);
    apply(px, pr);
    storeF32(pr, r);
  }
}

// ================================================================ gradients (docs/ops.md "Backward ops")

void runGeluGrad(KernelCall &c) {
  bool tanhForm = c.attrs<GeluAttrs>().approximate == GeluApproximation::Tanh;
  int64_t n = c.in[0].numel;
  floatCall(c, [&](auto &in, auto &out) {
    auto *g = in[0];
    auto *x = in[1];
    auto *dx = out[0];
    if constexpr (std::is_same_v<std::remove_const_t<std::remove_pointer_t<decltype(g)>>,
                                 float>) {
      const ElementwiseLoops &loops = elementwiseLoops();
      BinaryLoop loop = tanhForm ? loops.geluGradTanh : loops.geluGrad;
      parallelFor(n, kGrain / 4,
                  [&](int64_t b, int64_t e) { loop(g + b, x + b, dx + b, e - b); });
    } else {
      parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          dx[i] = g[i] * (tanhForm ? geluTanhDeriv<LibmMath>(x[i])
                                   : geluErfDeriv<LibmMath>(x[i]));
      });
    }
  });
}

void ExpLoop::operator()(const double *x, double *r, int64_t n) const {
  for (int64_t i = 0; i < n; ++i)
    r[i] = std::exp(x[i]);
}

const ElementwiseLoops &elementwiseLoops() {
  std::string isa = cpuIsa();
#if defined(DS_HAVE_X86_OPTIMIZER_LOOPS)
  if (isa == "avx512")
    return avx512::elementwiseLoops();
  if (isa == "avx2")
    return avx2::elementwiseLoops();
  if (isa == "sse2")
    return sse2::elementwiseLoops();
#endif
  return scalar::elementwiseLoops();
}

} // namespace ds::rt::cpu
