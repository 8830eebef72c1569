// GELU and its derivative, erf and tanh forms: one definition for the f32 loops of every
// instruction set (ElementwiseLoops.cpp, which the unfused kernels and the fused
// interpreter both call, so they round identically) and the f64 kernels
// (Elementwise.cpp). `Math` supplies erf, tanh and exp over T (libm for f64,
// ElementwiseLoops' vectorisable functions for f32). Includes no library header: the AVX
// builds include it.
#ifndef DS_RUNTIME_CPU_GELUFORMULAS_H
#define DS_RUNTIME_CPU_GELUFORMULAS_H

namespace ds::rt::cpu {

constexpr double kSqrtHalf = 0.70710678118654752440; // 1/sqrt(2)
constexpr double kSqrt2OverPi = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kInvSqrt2Pi = 0.3989422804014327;   // 1/sqrt(2*pi)
constexpr double kGeluTanhCubic = 0.044715;

/// The argument of erf in GELU's erf form and its derivative.
template <typename T> inline T geluErfArgument(T v) { return v * T(kSqrtHalf); }

template <typename Math, typename T> inline T geluErf(T v) {
  return T(0.5) * v * (T(1) + Math::erf(geluErfArgument(v)));
}

template <typename Math, typename T> inline T geluTanh(T v) {
  const T k = T(kSqrt2OverPi);
  return T(0.5) * v * (T(1) + Math::tanh(k * (v + T(kGeluTanhCubic) * v * v * v)));
}

template <typename Math, typename T> inline T geluErfDeriv(T x) {
  T cdf = T(0.5) * (T(1) + Math::erf(geluErfArgument(x)));
  return cdf + x * T(kInvSqrt2Pi) * Math::exp(T(-0.5) * x * x);
}

template <typename Math, typename T> inline T geluTanhDeriv(T x) {
  const T k = T(kSqrt2OverPi);
  const T a = T(kGeluTanhCubic);
  T x2 = x * x;
  T t = Math::tanh(k * (x + a * x2 * x));
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * a * x2);
}

} // namespace ds::rt::cpu

#endif // DS_RUNTIME_CPU_GELUFORMULAS_H
