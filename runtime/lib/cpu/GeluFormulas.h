// GELU and its derivative, erf and tanh forms: one definition for the unfused kernels
// (Elementwise.cpp) and the fused elementwise interpreter (FusedElementwise.cpp), which
// must round identically.
#ifndef DS_RUNTIME_CPU_GELUFORMULAS_H
#define DS_RUNTIME_CPU_GELUFORMULAS_H

#include <cmath>

namespace ds::rt::cpu {

template <typename T> inline T gelu(T v, bool tanhForm) {
  if (tanhForm) {
    const T k = T(0.7978845608028654); // sqrt(2/pi)
    return T(0.5) * v * (T(1) + std::tanh(k * (v + T(0.044715) * v * v * v)));
  }
  return T(0.5) * v * (T(1) + std::erf(v * T(M_SQRT1_2)));
}

template <typename T> inline T geluDeriv(T x, bool tanhForm) {
  if (tanhForm) {
    const T k = T(0.7978845608028654); // sqrt(2/pi)
    const T a = T(0.044715);
    T x2 = x * x;
    T t = std::tanh(k * (x + a * x2 * x));
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * a * x2);
  }
  const T invSqrt2Pi = T(0.3989422804014327); // 1/sqrt(2*pi)
  T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
  return cdf + x * invSqrt2Pi * std::exp(T(-0.5) * x * x);
}

} // namespace ds::rt::cpu

#endif // DS_RUNTIME_CPU_GELUFORMULAS_H
