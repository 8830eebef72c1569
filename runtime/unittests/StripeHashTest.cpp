// StripeHash (the checksum of checkpoint pieces from manifest version 3): its values, its
// two block routines, chunking and sensitivity.
#include "ds/runtime/StripeHash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {
std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = char((i * 131 + 7) % 256);
  return s;
}
std::string hex(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)v);
  return buf;
}
std::string randomBytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    s[i] = char(seed >> 56);
  }
  return s;
}
} // namespace

// Tests that the values are the definition's: each length (empty, partial stripes, whole
// and partial blocks) against the independent Python implementation
// (test/Checkpoint/Inputs/check_ckpt.py stripe-hash 0 1 63 64 65 1023 1024 1025 3000
// 5000). The values are a format (manifests store them): a change here breaks every
// version 3 checkpoint.
TEST(StripeHash, ValuesOfTheDefinition) {
  const std::pair<size_t, const char *> want[] = {
      {0, "58e785357e9c8986"},    {1, "9a72a6c3ad368ce4"},    {63, "c072dd8c9262d9f0"},
      {64, "9600474adc783bb9"},   {65, "10bbb5d31b24221a"},   {1023, "5e2d59608960b61e"},
      {1024, "0c6b493386a3a23b"}, {1025, "4d74bb98690ee830"}, {3000, "4a0483620d4ecf45"},
      {5000, "82b1481743ee5576"}};
  for (const auto &[n, h] : want) {
    std::string s = pattern(n);
    EXPECT_EQ(hex(StripeHash::of(s.data(), n)), h) << n << " bytes";
    StripeHash sh;
    sh.update(s.data(), n);
    EXPECT_EQ(sh.hex(), h) << n << " bytes";
  }
}

// Tests that the SSE2 and AVX2 block routines compute exactly what the portable one does,
// from the same and from random starting lanes, over one and many blocks (each skipped
// where this build or processor lacks it), and which one this process runs.
TEST(StripeHash, SimdRoutinesEqualScalar) {
  // 62 blocks of 1 KiB from offset 64 * 99 stay inside the buffer.
  std::string data = randomBytes(80 * 1024, 7);
  const auto *p = reinterpret_cast<const unsigned char *>(data.data());
  bool sse2 = false, avx2 = false;
  for (size_t blocks : {size_t(1), size_t(2), size_t(17), size_t(62)}) {
    for (uint64_t seed : {uint64_t(1), uint64_t(99)}) {
      uint64_t a[8], b[8], c[8];
      std::string start = randomBytes(sizeof(a), seed);
      std::memcpy(a, start.data(), sizeof(a));
      std::memcpy(b, a, sizeof(a));
      std::memcpy(c, a, sizeof(a));
      StripeHash::blocksScalar(a, p + 64 * seed, blocks); // unaligned on purpose
      if ((sse2 = StripeHash::blocksSse2(b, p + 64 * seed, blocks)))
        for (int j = 0; j < 8; ++j)
          EXPECT_EQ(a[j], b[j]) << "sse2, " << blocks << " blocks, lane " << j;
      if ((avx2 = StripeHash::blocksAvx2(c, p + 64 * seed, blocks)))
        for (int j = 0; j < 8; ++j)
          EXPECT_EQ(a[j], c[j]) << "avx2, " << blocks << " blocks, lane " << j;
    }
  }
  // This process runs the widest one unless DS_CPU_ISA asks for another.
  const char *isa = std::getenv("DS_CPU_ISA");
  std::string want = avx2 ? "avx2" : sse2 ? "sse2" : "scalar";
  if (isa && (std::string(isa) == "scalar" || (std::string(isa) == "sse2" && sse2)))
    want = isa;
  EXPECT_EQ(StripeHash::routine(), want);
  if (!avx2)
    GTEST_SKIP() << "no AVX2 on this processor";
}

// Tests that chunking does not change the value: updates of every size from 1 byte to
// several blocks, straddling stripes and blocks, give the one-call value.
TEST(StripeHash, ChunkingDoesNotChangeTheValue) {
  std::string data = randomBytes(10 * 1024 + 37, 3);
  uint64_t whole = StripeHash::of(data.data(), data.size());
  for (size_t chunk : {size_t(1), size_t(7), size_t(63), size_t(64), size_t(65),
                       size_t(1000), size_t(1024), size_t(1500), size_t(4096)}) {
    StripeHash h;
    for (size_t at = 0; at < data.size(); at += chunk)
      h.update(data.data() + at, std::min(chunk, data.size() - at));
    EXPECT_EQ(h.value(), whole) << "chunks of " << chunk;
  }
  // value() does not consume: more bytes may follow.
  StripeHash h;
  h.update(data.data(), 100);
  (void)h.value();
  h.update(data.data() + 100, data.size() - 100);
  EXPECT_EQ(h.value(), whole);
}

// Tests sensitivity: every single-bit change of every byte of a 3-block-and-a-bit buffer
// changes the value (all distinct), as do swapped stripes, swapped blocks, a stripe
// moved into a zero stripe, and trailing zeros (the length counts).
TEST(StripeHash, EveryChangedByteChangesTheValue) {
  std::string data = randomBytes(3 * 1024 + 100, 11);
  uint64_t h = StripeHash::of(data.data(), data.size());
  std::set<uint64_t> seen{h};
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit : {0, 7}) {
      std::string b = data;
      b[i] = char(b[i] ^ (1 << bit));
      EXPECT_TRUE(seen.insert(StripeHash::of(b.data(), b.size())).second)
          << "byte " << i << " bit " << bit;
    }
  }
  auto swapped = [&](size_t a, size_t b, size_t n) {
    std::string s = data;
    std::swap_ranges(s.begin() + long(a), s.begin() + long(a + n), s.begin() + long(b));
    return StripeHash::of(s.data(), s.size());
  };
  EXPECT_NE(swapped(0, 64, 64), h);     // stripes 0 and 1 of a block
  EXPECT_NE(swapped(64, 1088, 64), h);  // stripe 1 of blocks 0 and 1
  EXPECT_NE(swapped(0, 1024, 1024), h); // blocks 0 and 1
  EXPECT_NE(swapped(8, 16, 8), h);      // words 1 and 2 of a stripe
  std::string zeros(2048, '\0');
  uint64_t z = StripeHash::of(zeros.data(), zeros.size());
  std::memcpy(zeros.data() + 64, data.data(), 64);
  EXPECT_NE(StripeHash::of(zeros.data(), zeros.size()), z);
  EXPECT_NE(StripeHash::of(zeros.data(), 2047), StripeHash::of(zeros.data(), 2048));
  EXPECT_NE(StripeHash::of(zeros.data(), 0), StripeHash::of(zeros.data(), 1));
}

// Tests updateCopy, the load's copy-and-hash pass: the value is update()'s and the copy
// is exact, for destinations aligned for non-temporal stores and not, sizes of partial
// and whole blocks, chunked and pending bytes before it; and the AVX2 copy routine
// computes what the portable one does.
TEST(StripeHash, UpdateCopyHashesAndCopies) {
  std::string data = randomBytes(9 * 1024 + 77, 5);
  std::vector<unsigned char> out(data.size() + 64);
  for (size_t shift : {size_t(0), size_t(1), size_t(8), size_t(32)}) {
    unsigned char *dst =
        out.data() + (64 - reinterpret_cast<uintptr_t>(out.data()) % 64) % 64;
    dst = dst + shift < out.data() + 64 ? dst + shift : dst;
    for (size_t chunk : {size_t(100), size_t(1024), size_t(3000), data.size()}) {
      std::fill(out.begin(), out.end(), 0);
      StripeHash h;
      for (size_t at = 0; at < data.size(); at += chunk)
        h.updateCopy(data.data() + at, dst + at, std::min(chunk, data.size() - at));
      EXPECT_EQ(h.value(), StripeHash::of(data.data(), data.size()))
          << "shift " << shift << ", chunks of " << chunk;
      EXPECT_EQ(std::memcmp(dst, data.data(), data.size()), 0)
          << "shift " << shift << ", chunks of " << chunk;
    }
  }
  const auto *p = reinterpret_cast<const unsigned char *>(data.data());
  uint64_t a[8], b[8];
  std::string start = randomBytes(sizeof(a), 2);
  std::memcpy(a, start.data(), sizeof(a));
  std::memcpy(b, a, sizeof(a));
  std::vector<unsigned char> da(9 * 1024), db(9 * 1024);
  StripeHash::blocksCopyScalar(a, p, da.data(), 9);
  if (!StripeHash::blocksCopyAvx2(b, p, db.data(), 9))
    GTEST_SKIP() << "no AVX2 on this processor";
  EXPECT_EQ(std::memcmp(a, b, sizeof(a)), 0);
  EXPECT_TRUE(da == db);
  EXPECT_EQ(std::memcmp(da.data(), p, da.size()), 0);
}
