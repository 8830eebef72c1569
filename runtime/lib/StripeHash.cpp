// StripeHash (the definition is in StripeHash.h): a portable block routine, SSE2 and AVX2
// ones on x86-64 chosen at run time, and the streaming front end.
#include "ds/runtime/StripeHash.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DS_STRIPE_HASH_X86 1
#endif

namespace ds::rt {

namespace {

struct Keys {
  uint64_t k[24];    // K: stripe s, lane j uses K[s + j]
  uint64_t scram[8]; // S: the scramble's lane keys
};

constexpr Keys makeKeys() {
  Keys keys{};
  uint64_t state = StripeHash::kSeed;
  auto next = [&state]() {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (uint64_t &v : keys.k)
    v = next();
  for (uint64_t &v : keys.scram)
    v = next();
  return keys;
}

constexpr Keys kKeys = makeKeys();

inline uint64_t load64(const unsigned char *p) {
  uint64_t w;
  std::memcpy(&w, p, 8); // the machine is little-endian (the plan format assumes it)
  return w;
}

inline void stripe(uint64_t acc[8], const unsigned char *p, size_t s) {
  for (size_t j = 0; j < 8; ++j) {
    uint64_t w = load64(p + 8 * j);
    uint64_t x = w ^ kKeys.k[s + j];
    acc[j] += (x & 0xffffffffull) * (x >> 32);
    acc[j ^ 1] += w;
  }
}

inline void scramble(uint64_t acc[8]) {
  for (size_t j = 0; j < 8; ++j) {
    uint64_t a = acc[j];
    a ^= a >> 47;
    a ^= kKeys.scram[j];
    acc[j] = a * StripeHash::kScramble;
  }
}

#ifdef DS_STRIPE_HASH_X86
__attribute__((target("avx2"))) inline __m256i scrambleAvx2(__m256i a, __m256i keys,
                                                            __m256i prime) {
  a = _mm256_xor_si256(a, _mm256_srli_epi64(a, 47));
  a = _mm256_xor_si256(a, keys);
  // a * prime mod 2^64 with a 32-bit prime: lo(a) * prime + (hi(a) * prime << 32).
  __m256i lo = _mm256_mul_epu32(a, prime);
  __m256i hi = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), prime);
  return _mm256_add_epi64(lo, _mm256_slli_epi64(hi, 32));
}

__attribute__((target("avx2"))) void
blocksAvx2Impl(uint64_t acc[8], const unsigned char *p, size_t blocks) {
  __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc));
  __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc + 4));
  const __m256i s0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.scram));
  const __m256i s1 =
      _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.scram + 4));
  const __m256i prime = _mm256_set1_epi64x(int64_t(StripeHash::kScramble));
  for (size_t b = 0; b < blocks; ++b, p += StripeHash::kBlock) {
    for (size_t s = 0; s < 16; ++s) {
      const unsigned char *q = p + 64 * s;
      __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q));
      __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q + 32));
      __m256i x0 = _mm256_xor_si256(
          w0, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.k + s)));
      __m256i x1 = _mm256_xor_si256(
          w1, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.k + s + 4)));
      // low half times high half of each lane; the words swapped within 128-bit pairs
      // (lane j's word into lane j ^ 1).
      a0 = _mm256_add_epi64(a0, _mm256_mul_epu32(x0, _mm256_srli_epi64(x0, 32)));
      a1 = _mm256_add_epi64(a1, _mm256_mul_epu32(x1, _mm256_srli_epi64(x1, 32)));
      a0 = _mm256_add_epi64(a0, _mm256_shuffle_epi32(w0, 0x4E));
      a1 = _mm256_add_epi64(a1, _mm256_shuffle_epi32(w1, 0x4E));
    }
    a0 = scrambleAvx2(a0, s0, prime);
    a1 = scrambleAvx2(a1, s1, prime);
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(acc), a0);
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(acc + 4), a1);
}

/// blocksAvx2Impl that also stores each loaded stripe to dst: the stripe is in registers
/// once, for the copy and the hash.
__attribute__((target("avx2"))) void blocksCopyAvx2Impl(uint64_t acc[8],
                                                        const unsigned char *p,
                                                        unsigned char *dst,
                                                        size_t blocks) {
  __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc));
  __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc + 4));
  const __m256i s0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.scram));
  const __m256i s1 =
      _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.scram + 4));
  const __m256i prime = _mm256_set1_epi64x(int64_t(StripeHash::kScramble));
  // Non-temporal stores need 32-byte alignment; an unaligned destination takes plain
  // ones.
  bool stream = reinterpret_cast<uintptr_t>(dst) % 32 == 0;
  for (size_t b = 0; b < blocks;
       ++b, p += StripeHash::kBlock, dst += StripeHash::kBlock) {
    for (size_t s = 0; s < 16; ++s) {
      const unsigned char *q = p + 64 * s;
      __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q));
      __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q + 32));
      auto *d = reinterpret_cast<__m256i *>(dst + 64 * s);
      if (stream) {
        _mm256_stream_si256(d, w0);
        _mm256_stream_si256(d + 1, w1);
      } else {
        _mm256_storeu_si256(d, w0);
        _mm256_storeu_si256(d + 1, w1);
      }
      __m256i x0 = _mm256_xor_si256(
          w0, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.k + s)));
      __m256i x1 = _mm256_xor_si256(
          w1, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(kKeys.k + s + 4)));
      a0 = _mm256_add_epi64(a0, _mm256_mul_epu32(x0, _mm256_srli_epi64(x0, 32)));
      a1 = _mm256_add_epi64(a1, _mm256_mul_epu32(x1, _mm256_srli_epi64(x1, 32)));
      a0 = _mm256_add_epi64(a0, _mm256_shuffle_epi32(w0, 0x4E));
      a1 = _mm256_add_epi64(a1, _mm256_shuffle_epi32(w1, 0x4E));
    }
    a0 = scrambleAvx2(a0, s0, prime);
    a1 = scrambleAvx2(a1, s1, prime);
  }
  if (stream)
    _mm_sfence(); // the non-temporal stores are weakly ordered
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(acc), a0);
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(acc + 4), a1);
}

/// The same on SSE2 (x86-64's baseline): two lanes per register, four registers.
void blocksSse2Impl(uint64_t acc[8], const unsigned char *p, size_t blocks) {
  __m128i a[4], keys[4];
  for (int r = 0; r < 4; ++r) {
    a[r] = _mm_loadu_si128(reinterpret_cast<const __m128i *>(acc + 2 * r));
    keys[r] = _mm_loadu_si128(reinterpret_cast<const __m128i *>(kKeys.scram + 2 * r));
  }
  const __m128i prime = _mm_set1_epi64x(int64_t(StripeHash::kScramble));
  for (size_t b = 0; b < blocks; ++b, p += StripeHash::kBlock) {
    for (size_t s = 0; s < 16; ++s) {
      for (int r = 0; r < 4; ++r) {
        __m128i w =
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 64 * s + 16 * r));
        __m128i x = _mm_xor_si128(
            w, _mm_loadu_si128(reinterpret_cast<const __m128i *>(kKeys.k + s + 2 * r)));
        a[r] = _mm_add_epi64(a[r], _mm_mul_epu32(x, _mm_srli_epi64(x, 32)));
        a[r] = _mm_add_epi64(a[r], _mm_shuffle_epi32(w, 0x4E));
      }
    }
    for (int r = 0; r < 4; ++r) {
      __m128i v = _mm_xor_si128(a[r], _mm_srli_epi64(a[r], 47));
      v = _mm_xor_si128(v, keys[r]);
      __m128i lo = _mm_mul_epu32(v, prime);
      __m128i hi = _mm_mul_epu32(_mm_srli_epi64(v, 32), prime);
      a[r] = _mm_add_epi64(lo, _mm_slli_epi64(hi, 32));
    }
  }
  for (int r = 0; r < 4; ++r)
    _mm_storeu_si128(reinterpret_cast<__m128i *>(acc + 2 * r), a[r]);
}
#endif

enum class Routine { Avx2, Sse2, Portable };

Routine routineInUse() {
  static const Routine chosen = [] {
    // DS_CPU_ISA (runtime/README.md) restricts the instruction sets: "sse2" takes the
    // SSE2 routine, "scalar" the portable one.
    const char *isa = std::getenv("DS_CPU_ISA");
    bool scalar = isa && std::strcmp(isa, "scalar") == 0;
    bool sse2 = isa && std::strcmp(isa, "sse2") == 0;
#ifdef DS_STRIPE_HASH_X86
    if (scalar)
      return Routine::Portable;
    __builtin_cpu_init();
    return !sse2 && __builtin_cpu_supports("avx2") ? Routine::Avx2 : Routine::Sse2;
#else
    (void)scalar, (void)sse2;
    return Routine::Portable;
#endif
  }();
  return chosen;
}

bool useAvx2() { return routineInUse() == Routine::Avx2; }

void blocks(uint64_t acc[8], const unsigned char *p, size_t n) {
  if (n == 0)
    return;
  if (useAvx2() && StripeHash::blocksAvx2(acc, p, n))
    return;
  if (routineInUse() == Routine::Sse2 && StripeHash::blocksSse2(acc, p, n))
    return;
  StripeHash::blocksScalar(acc, p, n);
}

void blocksCopy(uint64_t acc[8], const unsigned char *p, unsigned char *dst, size_t n) {
  if (n == 0)
    return;
  if (useAvx2() && StripeHash::blocksCopyAvx2(acc, p, dst, n))
    return;
  StripeHash::blocksCopyScalar(acc, p, dst, n);
}

} // namespace

void StripeHash::blocksCopyScalar(uint64_t acc[8], const unsigned char *p,
                                  unsigned char *dst, size_t n) {
  // 16 KiB at a time: each is hashed from the copy while it is in the CPU's cache (with
  // the SSE2 routine where this process uses it).
  constexpr size_t kStep = 16;
  for (size_t b = 0; b < n; b += kStep) {
    size_t k = n - b < kStep ? n - b : kStep;
    std::memcpy(dst + b * kBlock, p + b * kBlock, k * kBlock);
    if (routineInUse() == Routine::Portable || !blocksSse2(acc, dst + b * kBlock, k))
      blocksScalar(acc, dst + b * kBlock, k);
  }
}

bool StripeHash::blocksSse2(uint64_t acc[8], const unsigned char *p, size_t n) {
#ifdef DS_STRIPE_HASH_X86
  blocksSse2Impl(acc, p, n);
  return true;
#else
  (void)acc, (void)p, (void)n;
  return false;
#endif
}

bool StripeHash::blocksCopyAvx2(uint64_t acc[8], const unsigned char *p,
                                unsigned char *dst, size_t n) {
#ifdef DS_STRIPE_HASH_X86
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2"))
    return false;
  blocksCopyAvx2Impl(acc, p, dst, n);
  return true;
#else
  (void)acc, (void)p, (void)dst, (void)n;
  return false;
#endif
}

void StripeHash::blocksScalar(uint64_t acc[8], const unsigned char *p, size_t n) {
  // The lanes in a local array: stores through `p` (unsigned char) could alias `acc`.
  uint64_t a[8];
  std::memcpy(a, acc, sizeof(a));
  for (size_t b = 0; b < n; ++b, p += kBlock) {
    for (size_t s = 0; s < 16; ++s)
      stripe(a, p + kStripe * s, s);
    scramble(a);
  }
  std::memcpy(acc, a, sizeof(a));
}

bool StripeHash::blocksAvx2(uint64_t acc[8], const unsigned char *p, size_t n) {
#ifdef DS_STRIPE_HASH_X86
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2"))
    return false;
  blocksAvx2Impl(acc, p, n);
  return true;
#else
  (void)acc, (void)p, (void)n;
  return false;
#endif
}

const char *StripeHash::routine() {
  switch (routineInUse()) {
  case Routine::Avx2:
    return "avx2";
  case Routine::Sse2:
    return "sse2";
  default:
    return "scalar";
  }
}

StripeHash::StripeHash() {
  for (size_t j = 0; j < 8; ++j)
    acc_[j] = kKeys.k[j] ^ kKeys.scram[j];
}

void StripeHash::update(const void *data, size_t size) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  length_ += size;
  if (bufSize_ > 0) {
    size_t take = size < kBlock - bufSize_ ? size : kBlock - bufSize_;
    std::memcpy(buf_ + bufSize_, p, take);
    bufSize_ += take;
    p += take;
    size -= take;
    if (bufSize_ < kBlock)
      return;
    blocks(acc_, buf_, 1);
    bufSize_ = 0;
  }
  size_t whole = size / kBlock;
  blocks(acc_, p, whole);
  p += whole * kBlock;
  size -= whole * kBlock;
  std::memcpy(buf_, p, size);
  bufSize_ = size;
}

void StripeHash::updateCopy(const void *src, void *dst, size_t size) {
  const unsigned char *p = static_cast<const unsigned char *>(src);
  unsigned char *d = static_cast<unsigned char *>(dst);
  if (bufSize_ > 0) {
    // Complete the pending block first (a plain copy and update).
    size_t take = size < kBlock - bufSize_ ? size : kBlock - bufSize_;
    std::memcpy(d, p, take);
    update(p, take);
    p += take, d += take, size -= take;
  }
  size_t whole = size / kBlock;
  length_ += whole * kBlock;
  blocksCopy(acc_, p, d, whole);
  p += whole * kBlock, d += whole * kBlock, size -= whole * kBlock;
  std::memcpy(d, p, size);
  update(p, size);
}

uint64_t StripeHash::value() const {
  uint64_t acc[8];
  std::memcpy(acc, acc_, sizeof(acc));
  size_t s = 0;
  for (; (s + 1) * kStripe <= bufSize_; ++s)
    stripe(acc, buf_ + kStripe * s, s);
  if (size_t rest = bufSize_ - s * kStripe) {
    unsigned char last[kStripe] = {};
    std::memcpy(last, buf_ + s * kStripe, rest);
    stripe(acc, last, s);
  }
  uint64_t h = length_ * 0x9E3779B97F4A7C15ull;
  for (uint64_t a : acc) {
    h = (h ^ a) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  h ^= h >> 29;
  h *= 0x94D049BB133111EBull;
  return h ^ (h >> 32);
}

std::string StripeHash::hex() const {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)value());
  return buf;
}

uint64_t StripeHash::of(const void *data, size_t size) {
  StripeHash h;
  h.update(data, size);
  return h.value();
}

} // namespace ds::rt
