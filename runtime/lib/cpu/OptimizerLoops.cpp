// The optimizer kernels' element loops, compiled once per instruction set: with
// DS_OPTIMIZER_LOOPS_AVX512 (-mavx512f), DS_OPTIMIZER_LOOPS_AVX2 (-mavx2 -mf16c) or
// neither: SSE2 lanes where __SSE2__ is defined (x86-64's baseline), else plain scalar
// code (other processors; on x86-64 a build with -U__SSE2__, so that the tests run it
// too). Always built with -ffp-contract=off: every instruction set performs the same IEEE
// operations per element in the same order (no FMA, no reciprocal approximations), so the
// results are bitwise those of the scalar formulas in Optimizer.cpp's comments.
//
// The vector builds include no header with inline library code (only intrinsics,
// <cstdint>, <cstring>) and keep everything in their own namespace, so no AVX code can
// stand in for a baseline function at link time.
#include "OptimizerLoops.h"

#include <cstdint>
#include <cstring>

#if defined(DS_OPTIMIZER_LOOPS_AVX512) || defined(DS_OPTIMIZER_LOOPS_AVX2)
#include <immintrin.h>
#else // the baseline build: library headers are safe here
#include "ds/runtime/DType.h"

#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#endif

#if defined(DS_OPTIMIZER_LOOPS_AVX512)
#define DS_LOOPS_NS avx512
#elif defined(DS_OPTIMIZER_LOOPS_AVX2)
#define DS_LOOPS_NS avx2
#elif defined(__SSE2__)
#define DS_LOOPS_NS sse2
#else
#define DS_LOOPS_NS scalar
#endif

namespace ds::rt::cpu::DS_LOOPS_NS {
namespace {

// ---- one instruction set's vectors: f32 lanes (VF, WF of them) and f64 lanes (VD, WD)

#if defined(DS_OPTIMIZER_LOOPS_AVX512)
constexpr const char *kIsaName = "avx512";
using VF = __m512;
using VD = __m512d;
constexpr int WF = 16, WD = 8;
inline VF splat(float x) { return _mm512_set1_ps(x); }
inline VD splat(double x) { return _mm512_set1_pd(x); }
inline VF vsqrt(VF x) { return _mm512_sqrt_ps(x); }
inline VD vsqrt(VD x) { return _mm512_sqrt_pd(x); }
inline __m512i ints(int32_t x) { return _mm512_set1_epi32(x); }
inline VF loadF32(const float *p) { return _mm512_loadu_ps(p); }
inline void storeF32(float *p, VF x) { _mm512_storeu_ps(p, x); }
inline VD loadF64(const double *p) { return _mm512_loadu_pd(p); }
inline void storeF64(double *p, VD x) { _mm512_storeu_pd(p, x); }
// halfToFloat: F16C's conversion, except that a NaN keeps its payload unquieted.
inline VF loadF16(const uint16_t *p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
  __m512i x = _mm512_cvtepu16_epi32(h);
  __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, ints(0x7fff)), ints(0x7c00));
  __m512i nanBits = _mm512_or_si512(
      _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(x, ints(0x8000)), 16),
                      ints(0x7f800000)),
      _mm512_slli_epi32(_mm512_and_si512(x, ints(0x3ff)), 13));
  return _mm512_mask_mov_ps(_mm512_cvtph_ps(h), nan, _mm512_castsi512_ps(nanBits));
}
// floatToHalf: F16C's round-to-nearest-even conversion; a NaN becomes sign | 0x7e00.
inline void storeF16(uint16_t *p, VF f) {
  __m512i x = _mm512_castps_si512(f);
  __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, ints(0x7fffffff)), ints(0x7f800000));
  __m512i h = _mm512_cvtepu16_epi32(_mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
  __m512i nanH = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(x, 16), ints(0x8000)),
                                 ints(0x7e00));
  h = _mm512_mask_mov_epi32(h, nan, nanH);
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_cvtepi32_epi16(h));
}
inline VF loadBF16(const uint16_t *p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
// floatToBf16: x + 0x7fff + lsb, upper half; a NaN keeps its upper half, quieted.
inline void storeBF16(uint16_t *p, VF f) {
  __m512i x = _mm512_castps_si512(f);
  __m512i hi = _mm512_srli_epi32(x, 16);
  __m512i lsb = _mm512_and_si512(hi, ints(1));
  __m512i r =
      _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, ints(0x7fff)), lsb), 16);
  __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, ints(0x7fffffff)), ints(0x7f800000));
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, ints(0x40)));
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_cvtepi32_epi16(r));
}

#elif defined(DS_OPTIMIZER_LOOPS_AVX2)
constexpr const char *kIsaName = "avx2";
using VF = __m256;
using VD = __m256d;
constexpr int WF = 8, WD = 4;
inline VF splat(float x) { return _mm256_set1_ps(x); }
inline VD splat(double x) { return _mm256_set1_pd(x); }
inline VF vsqrt(VF x) { return _mm256_sqrt_ps(x); }
inline VD vsqrt(VD x) { return _mm256_sqrt_pd(x); }
inline __m256i ints(int32_t x) { return _mm256_set1_epi32(x); }
inline VF loadF32(const float *p) { return _mm256_loadu_ps(p); }
inline void storeF32(float *p, VF x) { _mm256_storeu_ps(p, x); }
inline VD loadF64(const double *p) { return _mm256_loadu_pd(p); }
inline void storeF64(double *p, VD x) { _mm256_storeu_pd(p, x); }
// Lanes whose |x| (sign cleared, so the signed compare is exact) is above `limit`.
inline __m256i above(__m256i x, int32_t magnitudeMask, int32_t limit) {
  return _mm256_cmpgt_epi32(_mm256_and_si256(x, ints(magnitudeMask)), ints(limit));
}
// Eight 32-bit lanes (each < 2^16) stored as eight uint16_t.
inline void storeLow16(uint16_t *p, __m256i x) {
  __m128i packed =
      _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i *>(p), packed);
}
inline VF loadF16(const uint16_t *p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
  __m256i x = _mm256_cvtepu16_epi32(h);
  __m256i nanBits = _mm256_or_si256(
      _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(x, ints(0x8000)), 16),
                      ints(0x7f800000)),
      _mm256_slli_epi32(_mm256_and_si256(x, ints(0x3ff)), 13));
  return _mm256_blendv_ps(_mm256_cvtph_ps(h), _mm256_castsi256_ps(nanBits),
                          _mm256_castsi256_ps(above(x, 0x7fff, 0x7c00)));
}
inline void storeF16(uint16_t *p, VF f) {
  __m256i x = _mm256_castps_si256(f);
  __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
  __m256i nanH = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(x, 16), ints(0x8000)),
                                 ints(0x7e00));
  storeLow16(p, _mm256_blendv_epi8(h, nanH, above(x, 0x7fffffff, 0x7f800000)));
}
inline VF loadBF16(const uint16_t *p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline void storeBF16(uint16_t *p, VF f) {
  __m256i x = _mm256_castps_si256(f);
  __m256i hi = _mm256_srli_epi32(x, 16);
  __m256i lsb = _mm256_and_si256(hi, ints(1));
  __m256i r =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, ints(0x7fff)), lsb), 16);
  storeLow16(p, _mm256_blendv_epi8(r, _mm256_or_si256(hi, ints(0x40)),
                                   above(x, 0x7fffffff, 0x7f800000)));
}

#elif defined(__SSE2__)
// x86-64's baseline: four f32 / two f64 lanes; f16/bf16 lanes converted one by one.
constexpr const char *kIsaName = "sse2";
using VF = __m128;
using VD = __m128d;
constexpr int WF = 4, WD = 2;
inline VF splat(float x) { return _mm_set1_ps(x); }
inline VD splat(double x) { return _mm_set1_pd(x); }
inline VF vsqrt(VF x) { return _mm_sqrt_ps(x); }
inline VD vsqrt(VD x) { return _mm_sqrt_pd(x); }
inline VF loadF32(const float *p) { return _mm_loadu_ps(p); }
inline void storeF32(float *p, VF x) { _mm_storeu_ps(p, x); }
inline VD loadF64(const double *p) { return _mm_loadu_pd(p); }
inline void storeF64(double *p, VD x) { _mm_storeu_pd(p, x); }
template <float (*Widen)(uint16_t)> VF load16(const uint16_t *p) {
  return _mm_setr_ps(Widen(p[0]), Widen(p[1]), Widen(p[2]), Widen(p[3]));
}
template <uint16_t (*Narrow)(float)> void store16(uint16_t *p, VF x) {
  alignas(16) float f[4];
  _mm_store_ps(f, x);
  for (int k = 0; k < 4; ++k)
    p[k] = Narrow(f[k]);
}
inline VF loadF16(const uint16_t *p) { return load16<halfToFloat>(p); }
inline void storeF16(uint16_t *p, VF x) { store16<floatToHalf>(p, x); }
inline VF loadBF16(const uint16_t *p) { return load16<bf16ToFloat>(p); }
inline void storeBF16(uint16_t *p, VF x) { store16<floatToBf16>(p, x); }

#else
constexpr const char *kIsaName = "scalar";
using VF = float;
using VD = double;
constexpr int WF = 1, WD = 1;
inline VF splat(float x) { return x; }
inline VD splat(double x) { return x; }
inline VF vsqrt(VF x) { return std::sqrt(x); }
inline VD vsqrt(VD x) { return std::sqrt(x); }
inline VF loadF32(const float *p) { return *p; }
inline void storeF32(float *p, VF x) { *p = x; }
inline VD loadF64(const double *p) { return *p; }
inline void storeF64(double *p, VD x) { *p = x; }
inline VF loadF16(const uint16_t *p) { return halfToFloat(*p); }
inline void storeF16(uint16_t *p, VF x) { *p = floatToHalf(x); }
inline VF loadBF16(const uint16_t *p) { return bf16ToFloat(*p); }
inline void storeBF16(uint16_t *p, VF x) { *p = floatToBf16(x); }
#endif

// ---- element storage: Lanes<K> loads and stores W elements of kind K at index i

template <ElemKind K> struct Lanes;
template <> struct Lanes<ElemKind::F32> {
  using T = float;
  using V = VF;
  static constexpr int W = WF;
  static constexpr int kBytes = 4;
  static V load(const void *base, int64_t i) {
    return loadF32(static_cast<const float *>(base) + i);
  }
  static void store(void *base, int64_t i, V x) {
    storeF32(static_cast<float *>(base) + i, x);
  }
};
template <> struct Lanes<ElemKind::F16> {
  using T = float;
  using V = VF;
  static constexpr int W = WF;
  static constexpr int kBytes = 2;
  static V load(const void *base, int64_t i) {
    return loadF16(static_cast<const uint16_t *>(base) + i);
  }
  static void store(void *base, int64_t i, V x) {
    storeF16(static_cast<uint16_t *>(base) + i, x);
  }
};
template <> struct Lanes<ElemKind::BF16> {
  using T = float;
  using V = VF;
  static constexpr int W = WF;
  static constexpr int kBytes = 2;
  static V load(const void *base, int64_t i) {
    return loadBF16(static_cast<const uint16_t *>(base) + i);
  }
  static void store(void *base, int64_t i, V x) {
    storeBF16(static_cast<uint16_t *>(base) + i, x);
  }
};
template <> struct Lanes<ElemKind::F64> {
  using T = double;
  using V = VD;
  static constexpr int W = WD;
  static constexpr int kBytes = 8;
  static V load(const void *base, int64_t i) {
    return loadF64(static_cast<const double *>(base) + i);
  }
  static void store(void *base, int64_t i, V x) {
    storeF64(static_cast<double *>(base) + i, x);
  }
};

/// Element sizes of one pass's operands (0: unused), inputs p, g, m, v and outputs np,
/// nm, nv.
struct OperandBytes {
  int in[4], out[3];
};

/// Elements the loops prefetch ahead of the one they compute: the divisions and square
/// roots keep the out-of-order window short of the memory latency, so the loads are
/// issued early.
constexpr int64_t kPrefetchAhead = 1024;

/// Runs step(ops, i, lanes) on every whole vector of [begin, end) (lanes = W), then once
/// on the remaining elements copied into zero-padded buffers (lanes = how many are real),
/// whose outputs are copied back: the tail runs the very same vector code.
template <int W, typename Step>
void forEachVector(const OptimizerOperands &ops, const OperandBytes &bytes, int64_t begin,
                   int64_t end, Step step) {
  const void *src[4] = {ops.p, ops.g, ops.m, ops.v};
  // Blocks of 16 elements (a cache line of f32): one prefetch per input stream and block.
  constexpr int64_t kBlock = W > 16 ? W : 16;
  int64_t i = begin;
  for (; i + kBlock <= end; i += kBlock) {
    if (i + kPrefetchAhead < end)
      for (int k = 0; k < 4; ++k)
        if (bytes.in[k])
          __builtin_prefetch(static_cast<const char *>(src[k]) +
                             (i + kPrefetchAhead) * bytes.in[k]);
    for (int64_t j = i; j < i + kBlock; j += W)
      step(ops, j, W);
  }
  for (; i + W <= end; i += W)
    step(ops, i, W);
  if (i == end)
    return;
  int64_t lanes = end - i;
  alignas(64) unsigned char in[4][W * 8], out[3][W * 8];
  void *dst[3] = {ops.np, ops.nm, ops.nv};
  void *tin[4] = {nullptr, nullptr, nullptr, nullptr},
       *tout[3] = {nullptr, nullptr, nullptr};
  for (int k = 0; k < 4; ++k)
    if (bytes.in[k]) {
      std::memset(in[k], 0, sizeof in[k]);
      std::memcpy(in[k], static_cast<const char *>(src[k]) + i * bytes.in[k],
                  size_t(lanes * bytes.in[k]));
      tin[k] = in[k];
    }
  for (int k = 0; k < 3; ++k)
    if (bytes.out[k])
      tout[k] = out[k];
  step(OptimizerOperands{tin[0], tin[1], tin[2], tin[3], tout[0], tout[1], tout[2]}, 0,
       int(lanes));
  for (int k = 0; k < 3; ++k)
    if (bytes.out[k])
      std::memcpy(static_cast<char *>(dst[k]) + i * bytes.out[k], out[k],
                  size_t(lanes * bytes.out[k]));
}

// ---- the kernels, generic over the storage kind

// AdamW: p *= 1 - lr*wd (when wd != 0); m += (1-b1)*(g-m); v = b2*v + (1-b2)*g*g;
// p -= (lr/bc1) * (m / (sqrt(v)/sqrt(bc2) + eps)).
template <typename T> struct AdamWConsts {
  T B2, EPS, omb1, omb2, decay, stepSize, bc2Sqrt;
  bool decayParam;
  explicit AdamWConsts(const AdamCoeffs &c)
      : B2(T(c.b2)), EPS(T(c.eps)), omb1(T(1) - T(c.b1)), omb2(T(1) - B2),
        decay(T(1.0 - c.lr * c.wd)), stepSize(T(c.lr / c.bc1)),
        bc2Sqrt(T(__builtin_sqrt(c.bc2))), decayParam(c.wd != 0) {}
};
/// One vector of AdamW: updates m and v, returns the new p.
template <typename V, typename T>
inline V adamWStep(V p, V g, V &m, V &v, const AdamWConsts<T> &k) {
  if (k.decayParam)
    p = p * splat(k.decay);
  m = m + splat(k.omb1) * (g - m);
  v = splat(k.B2) * v + splat(k.omb2) * g * g;
  V denom = vsqrt(v) / splat(k.bc2Sqrt) + splat(k.EPS);
  return p - splat(k.stepSize) * (m / denom);
}

template <ElemKind K>
void adamWLoop(const OptimizerOperands &o, const AdamCoeffs &c, int64_t begin,
               int64_t end) {
  using L = Lanes<K>;
  using T = typename L::T;
  using V = typename L::V;
  const AdamWConsts<T> k(c);
  const int b = L::kBytes;
  forEachVector<L::W>(o, {{b, b, b, b}, {b, b, b}}, begin, end,
                      [&](const OptimizerOperands &x, int64_t i, int) {
                        V p = L::load(x.p, i), g = L::load(x.g, i);
                        V m = L::load(x.m, i), v = L::load(x.v, i);
                        L::store(x.np, i, adamWStep(p, g, m, v, k));
                        L::store(x.nm, i, m);
                        L::store(x.nv, i, v);
                      });
}

// Adam (FusedAdam's Adam mode): g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
// p -= lr * ((m/bc1) / (sqrt(v/bc2) + eps)).
template <typename T> struct AdamConsts {
  T B1, B2, EPS, WDc, LR, omb1, omb2, BC1, BC2;
  explicit AdamConsts(const AdamCoeffs &c)
      : B1(T(c.b1)), B2(T(c.b2)), EPS(T(c.eps)), WDc(T(c.wd)), LR(T(c.lr)),
        omb1(T(1) - B1), omb2(T(1) - B2), BC1(T(c.bc1)), BC2(T(c.bc2)) {}
};
/// One vector of Adam: updates m and v, returns the new p.
template <typename V, typename T>
inline V adamStep(V p, V g, V &m, V &v, const AdamConsts<T> &k) {
  g = g + splat(k.WDc) * p;
  m = splat(k.B1) * m + splat(k.omb1) * g;
  v = splat(k.B2) * v + splat(k.omb2) * g * g;
  V update = (m / splat(k.BC1)) / (vsqrt(v / splat(k.BC2)) + splat(k.EPS));
  return p - splat(k.LR) * update;
}

template <ElemKind K>
void adamLoop(const OptimizerOperands &o, const AdamCoeffs &c, int64_t begin,
              int64_t end) {
  using L = Lanes<K>;
  using T = typename L::T;
  using V = typename L::V;
  const AdamConsts<T> k(c);
  const int b = L::kBytes;
  forEachVector<L::W>(o, {{b, b, b, b}, {b, b, b}}, begin, end,
                      [&](const OptimizerOperands &x, int64_t i, int) {
                        V p = L::load(x.p, i), g = L::load(x.g, i);
                        V m = L::load(x.m, i), v = L::load(x.v, i);
                        L::store(x.np, i, adamStep(p, g, m, v, k));
                        L::store(x.nm, i, m);
                        L::store(x.nv, i, v);
                      });
}

// multi_adam_update, one parameter's elements: g = kind-K gradient times each scale in
// order, the AdamW or Adam step above on the f32 master and moments, then the new master
// rounded to kind K into w and zeros into gz. The tail runs the same vector code on
// zero-padded copies.
template <ElemKind K, bool AdamW>
void adamGroupLoop(const AdamGroupStep &s, const AdamGroupOperands &o, const AdamCoeffs &c,
                   int64_t begin, int64_t end) {
  using LF = Lanes<ElemKind::F32>;
  using LK = Lanes<K>;
  static_assert(LK::W == LF::W, "one lane count for the gradient and the master");
  constexpr int W = LF::W;
  const AdamWConsts<float> kw(c);
  const AdamConsts<float> ka(c);
  auto step = [&](const AdamGroupOperands &x, int64_t i) {
    VF p = LF::load(x.p, i);
    if (s.apply) {
      VF g = LK::load(x.g, i);
      for (int k = 0; k < s.nScales; ++k)
        g = g * splat(s.scales[k]);
      VF m = LF::load(x.m, i), v = LF::load(x.v, i);
      p = AdamW ? adamWStep(p, g, m, v, kw) : adamStep(p, g, m, v, ka);
      LF::store(x.np, i, p);
      LF::store(x.nm, i, m);
      LF::store(x.nv, i, v);
    }
    if (x.w)
      LK::store(x.w, i, p);
    if (x.gz)
      LK::store(x.gz, i, splat(0.0f));
  };
  int64_t i = begin;
  for (; i + W <= end; i += W) {
    if (i + kPrefetchAhead < end) {
      __builtin_prefetch(o.p + i + kPrefetchAhead);
      __builtin_prefetch(o.m + i + kPrefetchAhead);
      __builtin_prefetch(o.v + i + kPrefetchAhead);
      __builtin_prefetch(static_cast<const char *>(o.g) + (i + kPrefetchAhead) * LK::kBytes);
    }
    step(o, i);
  }
  if (i == end)
    return;
  int64_t lanes = end - i;
  alignas(64) float p[W] = {}, m[W] = {}, v[W] = {}, np[W], nm[W], nv[W];
  alignas(64) unsigned char g[W * 4] = {}, w[W * 4], gz[W * 4];
  size_t f32 = size_t(lanes) * 4, kb = size_t(lanes) * LK::kBytes;
  std::memcpy(p, o.p + i, f32);
  std::memcpy(m, o.m + i, f32);
  std::memcpy(v, o.v + i, f32);
  std::memcpy(g, static_cast<const char *>(o.g) + i * LK::kBytes, kb);
  step(AdamGroupOperands{p, m, v, g, np, nm, nv, o.w ? w : nullptr, o.gz ? gz : nullptr}, 0);
  if (s.apply) {
    std::memcpy(o.np + i, np, f32);
    std::memcpy(o.nm + i, nm, f32);
    std::memcpy(o.nv + i, nv, f32);
  }
  if (o.w)
    std::memcpy(static_cast<char *>(o.w) + i * LK::kBytes, w, kb);
  if (o.gz)
    std::memcpy(static_cast<char *>(o.gz) + i * LK::kBytes, gz, kb);
}

// SGD: g += wd*p (wd != 0); with momentum: buf = first ? g : mu*buf + (1-dampening)*g,
// g = nesterov ? g + mu*buf : buf; p -= lr*g. Without momentum buf passes through
// (converted).
template <ElemKind K>
void sgdLoop(const OptimizerOperands &o, const SgdCoeffs &c, int64_t begin, int64_t end) {
  using L = Lanes<K>;
  using T = typename L::T;
  using V = typename L::V;
  const T MU = T(c.mu), OMD = T(1.0 - c.damp), WDc = T(c.wd), LR = T(c.lr);
  const bool decay = c.wd != 0, momentum = c.mu != 0, first = c.first,
             nesterov = c.nesterov;
  const int b = L::kBytes;
  forEachVector<L::W>(o, {{b, b, b, 0}, {b, b, 0}}, begin, end,
                      [&](const OptimizerOperands &x, int64_t i, int) {
                        V p = L::load(x.p, i), g = L::load(x.g, i), buf = L::load(x.m, i);
                        if (decay)
                          g = g + splat(WDc) * p;
                        if (momentum) {
                          buf = first ? g : splat(MU) * buf + splat(OMD) * g;
                          g = nesterov ? g + splat(MU) * buf : buf;
                        }
                        L::store(x.np, i, p - splat(LR) * g);
                        L::store(x.nm, i, buf);
                      });
}

/// The moments' storage between Lamb's passes: f32 scratch for f16/bf16, else the kind.
template <ElemKind K>
constexpr ElemKind kLambMoments = K == ElemKind::F64 ? K : ElemKind::F32;

// Lamb pass 1: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g, stored as M.
template <ElemKind K, ElemKind M>
void lambMomentsLoop(const OptimizerOperands &o, const AdamCoeffs &c, int64_t begin,
                     int64_t end) {
  using L = Lanes<K>;
  using LM = Lanes<M>;
  using T = typename L::T;
  using V = typename L::V;
  const T B1 = T(c.b1), B2 = T(c.b2);
  const int b = L::kBytes, bm = LM::kBytes;
  forEachVector<L::W>(o, {{0, b, b, b}, {0, bm, bm}}, begin, end,
                      [&](const OptimizerOperands &x, int64_t i, int) {
                        V g = L::load(x.g, i);
                        V m = splat(B1) * L::load(x.m, i) + (splat(T(1) - B1)) * g;
                        V v = splat(B2) * L::load(x.v, i) + (splat(T(1) - B2)) * g * g;
                        LM::store(x.nm, i, m);
                        LM::store(x.nv, i, v);
                      });
}

/// Passes 2 and 3 read the new moments (nm, nv) in the input slots m, v.
OptimizerOperands lambSecondPass(const OptimizerOperands &o) {
  return OptimizerOperands{o.p, nullptr, o.nm, o.nv, o.np, nullptr, nullptr};
}

/// Lamb's update direction u = m/(sqrt(v)+eps) + wd*p from p (kind K) and the new
/// moments.
template <ElemKind K>
inline typename Lanes<K>::V
lambDirection(const OptimizerOperands &x, int64_t i, typename Lanes<K>::V p,
              typename Lanes<K>::T EPS, typename Lanes<K>::T WDc) {
  using LM = Lanes<kLambMoments<K>>;
  return LM::load(x.m, i) / (vsqrt(LM::load(x.v, i)) + splat(EPS)) + splat(WDc) * p;
}

// Lamb pass 2: pNorm2 += p*p, uNorm2 += u*u in double, in index order.
template <ElemKind K>
void lambNormsLoop(const OptimizerOperands &o, const AdamCoeffs &c, int64_t begin,
                   int64_t end, double &pNorm2, double &uNorm2) {
  using L = Lanes<K>;
  using T = typename L::T;
  using V = typename L::V;
  const T EPS = T(c.eps), WDc = T(c.wd);
  const int b = L::kBytes, bm = Lanes<kLambMoments<K>>::kBytes;
  double pn = pNorm2, un = uNorm2;
  forEachVector<L::W>(lambSecondPass(o), {{b, 0, bm, bm}, {0, 0, 0}}, begin, end,
                      [&](const OptimizerOperands &x, int64_t i, int lanes) {
                        V p = L::load(x.p, i);
                        V u = lambDirection<K>(x, i, p, EPS, WDc);
                        T ps[L::W], us[L::W];
                        std::memcpy(ps, &p, sizeof ps);
                        std::memcpy(us, &u, sizeof us);
                        for (int k = 0; k < lanes; ++k) {
                          pn += double(ps[k]) * double(ps[k]);
                          un += double(us[k]) * double(us[k]);
                        }
                      });
  pNorm2 = pn;
  uNorm2 = un;
}

// Lamb pass 3: p -= scale * u.
template <ElemKind K>
void lambApplyLoop(const OptimizerOperands &o, const AdamCoeffs &c, double scale,
                   int64_t begin, int64_t end) {
  using L = Lanes<K>;
  using T = typename L::T;
  using V = typename L::V;
  const T EPS = T(c.eps), WDc = T(c.wd), SCALE = T(scale);
  const int b = L::kBytes, bm = Lanes<kLambMoments<K>>::kBytes;
  forEachVector<L::W>(lambSecondPass(o), {{b, 0, bm, bm}, {b, 0, 0}}, begin, end,
                      [&](const OptimizerOperands &x, int64_t i, int) {
                        V p = L::load(x.p, i);
                        V u = lambDirection<K>(x, i, p, EPS, WDc);
                        L::store(x.np, i, p - splat(SCALE) * u);
                      });
}

// ---- the table: kind dispatch

#define DS_BY_KIND(kind, call)                                                           \
  switch (kind) {                                                                        \
  case ElemKind::F32:                                                                    \
    call(ElemKind::F32);                                                                 \
    break;                                                                               \
  case ElemKind::F16:                                                                    \
    call(ElemKind::F16);                                                                 \
    break;                                                                               \
  case ElemKind::BF16:                                                                   \
    call(ElemKind::BF16);                                                                \
    break;                                                                               \
  case ElemKind::F64:                                                                    \
    call(ElemKind::F64);                                                                 \
    break;                                                                               \
  }

void adamW(ElemKind kind, const OptimizerOperands &o, const AdamCoeffs &c, int64_t b,
           int64_t e) {
#define DS_CALL(K) adamWLoop<K>(o, c, b, e)
  DS_BY_KIND(kind, DS_CALL)
#undef DS_CALL
}

void adam(ElemKind kind, const OptimizerOperands &o, const AdamCoeffs &c, int64_t b,
          int64_t e) {
#define DS_CALL(K) adamLoop<K>(o, c, b, e)
  DS_BY_KIND(kind, DS_CALL)
#undef DS_CALL
}

void sgd(ElemKind kind, const OptimizerOperands &o, const SgdCoeffs &c, int64_t b,
         int64_t e) {
#define DS_CALL(K) sgdLoop<K>(o, c, b, e)
  DS_BY_KIND(kind, DS_CALL)
#undef DS_CALL
}

void adamGroup(ElemKind kind, const AdamGroupStep &s, const AdamGroupOperands &o,
               const AdamCoeffs &c, int64_t b, int64_t e) {
#define DS_CALL(K)                                                                       \
  (s.adamW ? adamGroupLoop<K, true>(s, o, c, b, e) : adamGroupLoop<K, false>(s, o, c, b, e))
  switch (kind) {
  case ElemKind::F32:
    DS_CALL(ElemKind::F32);
    break;
  case ElemKind::F16:
    DS_CALL(ElemKind::F16);
    break;
  case ElemKind::BF16:
    DS_CALL(ElemKind::BF16);
    break;
  case ElemKind::F64: // not a group kind: the caller checks
    break;
  }
#undef DS_CALL
}

void lambMoments(ElemKind kind, const OptimizerOperands &o, const AdamCoeffs &c,
                 int64_t b, int64_t e) {
#define DS_CALL(K) lambMomentsLoop<K, kLambMoments<K>>(o, c, b, e)
  DS_BY_KIND(kind, DS_CALL)
#undef DS_CALL
}

void lambNorms(ElemKind kind, const OptimizerOperands &o, const AdamCoeffs &c, int64_t b,
               int64_t e, double &pNorm2, double &uNorm2) {
#define DS_CALL(K) lambNormsLoop<K>(o, c, b, e, pNorm2, uNorm2)
  DS_BY_KIND(kind, DS_CALL)
#undef DS_CALL
}

void lambApply(ElemKind kind, const OptimizerOperands &o, const AdamCoeffs &c,
               double scale, int64_t b, int64_t e) {
#define DS_CALL(K) lambApplyLoop<K>(o, c, scale, b, e)
  DS_BY_KIND(kind, DS_CALL)
#undef DS_CALL
}

#undef DS_BY_KIND

} // namespace

const OptimizerLoops &optimizerLoops() {
  static const OptimizerLoops table{kIsaName,    adamW,     adam,      sgd,
                                    adamGroup,   lambMoments, lambNorms, lambApply};
  return table;
}

} // namespace ds::rt::cpu::DS_LOOPS_NS
