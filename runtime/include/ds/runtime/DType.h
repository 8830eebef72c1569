// Element types of plan buffers, their sizes, names and the 16-bit float conversions.
#pragma once

#include "plan.pb.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ds::rt {

using DType = ds::plan::DType;

/// Size in bytes of one element; 0 for an invalid dtype.
size_t dtypeSize(DType t);
/// "f32", "f64", "f16", "bf16", "i64", "i32", "i1", or "invalid(N)".
std::string dtypeName(int t);
bool isFloat(DType t); // f32 f64 f16 bf16
bool isInteger(DType t); // i64 i32

inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Round-to-nearest-even conversion, with overflow to inf and gradual underflow.
inline uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) // inf or nan
    return uint16_t(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
  if (absx >= 0x477ff000u) // rounds to >= 65520: inf
    return uint16_t(sign | 0x7c00);
  if (absx < 0x38800000u) { // below the smallest normal half: subnormal or zero
    if (absx < 0x33000000u)
      return uint16_t(sign);
    uint32_t mant = (absx & 0x7fffff) | 0x800000;
    int shift = 126 - int(absx >> 23); // 14 + (113 - e) ... amount to shift into half subnormal
    uint32_t half = mant >> (shift);
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1)))
      ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = ((absx >> 13) - ((127 - 15) << 10));
  uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
    ++half;
  return uint16_t(sign | half);
}

inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t floatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) // nan: keep it a quiet nan
    return uint16_t((x >> 16) | 0x40);
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fff + lsb;
  return uint16_t(x >> 16);
}

/// Shape as "[2,3,4]".
std::string shapeString(const std::vector<int64_t> &shape);

/// Product of dims; throws ds::rt::Error when a dim is negative or the product overflows int64.
int64_t checkedNumel(const std::vector<int64_t> &shape);

} // namespace ds::rt
