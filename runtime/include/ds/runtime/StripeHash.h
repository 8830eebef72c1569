// StripeHash: the 64-bit checksum of checkpoint pieces from manifest version 3 on, built
// on 32x32->64-bit multiplies so that AVX2 runs four lanes per instruction
// (results/checkpoint.md: about 3x ContentHash's FNV lanes, which 64-bit multiplies
// bound).
//
// Definition (every word little-endian 64-bit, all arithmetic mod 2^64):
//   keys    K[0..23] then S[0..7]: 32 successive outputs of splitmix64 seeded with kSeed
//           (state += 0x9E3779B97F4A7C15; z = state; z = (z ^ z >> 30) *
//           0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31)
//   state   acc[0..7] = K[j] ^ S[j]
//   stripe  64 bytes, words w[0..7], at index s within its block (0..15):
//           for j in 0..7: x = w[j] ^ K[s + j];
//                          acc[j] += (x & 0xffffffff) * (x >> 32);  acc[j ^ 1] += w[j]
//   block   16 stripes (1024 bytes), then scramble each lane: a = acc[j]; a ^= a >> 47;
//           a ^= S[j]; acc[j] = a * kScramble (a 32-bit odd prime)
//   tail    after the last whole block: the remaining whole stripes (indices 0, 1, ...),
//           then the last partial stripe zero-padded to 64 bytes (if any); no scramble
//   value   h = length * 0x9E3779B97F4A7C15; for j in 0..7: h = (h ^ acc[j]) *
//           0xBF58476D1CE4E5B9, h ^= h >> 31; then h ^= h >> 29,
//           h *= 0x94D049BB133111EB, h ^= h >> 32
// A changed word changes its own lane by its product term and the neighbouring lane by
// exactly its difference (never zero); lanes evolve independently (additions and the
// scramble are bijections of a lane), so a change is lost only if the final fold of two
// or more changed lanes cancels (about 2^-64). Chunking of the input does not change the
// value. test/Checkpoint/Inputs/check_ckpt.py holds an independent Python implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ds::rt {

class StripeHash {
public:
  static constexpr uint64_t kSeed = 0x64732d6f70742d33ull; // "ds-opt-3"
  static constexpr uint64_t kScramble = 0x9E3779B1ull;
  static constexpr size_t kStripe = 64, kBlock = 1024;

  StripeHash();
  void update(const void *data, size_t size);
  /// update(src, size) that also copies the bytes to dst (not overlapping src) in the
  /// same pass: a checkpoint load's one pass over a piece of a mapped file. The AVX2
  /// routine stores whole blocks with non-temporal stores where dst is 32-byte aligned
  /// (the destination is not read back into the CPU's cache first) and fences them before
  /// it returns, so another thread may read dst after synchronising with this one.
  void updateCopy(const void *src, void *dst, size_t size);
  uint64_t value() const;
  /// 16 lowercase hex digits.
  std::string hex() const;
  /// The value of `size` bytes at `data` in one call.
  static uint64_t of(const void *data, size_t size);

  /// "avx2", "sse2" or "scalar": the block routine this process runs (on x86-64 AVX2
  /// where the processor has it, else SSE2; DS_CPU_ISA=sse2 or scalar selects those;
  /// elsewhere the portable C++ one). All give the same values.
  static const char *routine();
  /// The block routines themselves, for tests: `blocks` whole blocks at `p` into `acc`.
  static void blocksScalar(uint64_t acc[8], const unsigned char *p, size_t blocks);
  /// False (and `acc` untouched) where this build or processor has no AVX2.
  static bool blocksAvx2(uint64_t acc[8], const unsigned char *p, size_t blocks);
  /// False (and `acc` untouched) where this build is not for x86-64.
  static bool blocksSse2(uint64_t acc[8], const unsigned char *p, size_t blocks);
  /// The same, also copying the blocks to dst (updateCopy's routines).
  static void blocksCopyScalar(uint64_t acc[8], const unsigned char *p,
                               unsigned char *dst, size_t blocks);
  static bool blocksCopyAvx2(uint64_t acc[8], const unsigned char *p, unsigned char *dst,
                             size_t blocks);

private:
  uint64_t acc_[8];
  unsigned char buf_[kBlock]; // the bytes of the block not yet complete
  size_t bufSize_ = 0;
  uint64_t length_ = 0;
};

} // namespace ds::rt
