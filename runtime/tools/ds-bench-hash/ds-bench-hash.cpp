// ds-bench-hash: GB/s of the checkpoint hashes in the CPU's cache (ContentHash, manifest
// versions 1-2; StripeHash, version 3, with each of its routines; StripeHash::updateCopy,
// the mapped load's copy-and-hash pass), on one thread, best of K rounds of thread CPU
// time. Not a test (results/checkpoint.md quotes it).
#include "ds/runtime/Safetensors.h"
#include "ds/runtime/StripeHash.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

double threadSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

/// Best GB/s of `passes` calls of f per round over `bytes` bytes.
double rate(size_t bytes, int rounds, int passes, const std::function<void()> &f) {
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    double t = threadSeconds();
    for (int i = 0; i < passes; ++i)
      f();
    best = std::min(best, threadSeconds() - t);
  }
  return double(bytes) * passes / best / 1e9;
}

} // namespace

int main(int argc, char **argv) {
  size_t kib = 1024; // a checkpoint piece
  int rounds = 15;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--kib") && i + 1 < argc)
      kib = size_t(std::atol(argv[++i]));
    else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: ds-bench-hash [--kib N (default 1024)] [--rounds K (default "
                   "15)]\n  prints `name GB/s` lines for a buffer of N KiB in cache\n");
      return 2;
    }
  }
  size_t n = kib << 10, blocks = n / StripeHash::kBlock;
  std::vector<unsigned char> buf(n), dst(n + 64);
  for (size_t i = 0; i < n; ++i)
    buf[i] = (unsigned char)(i * 131 + (i >> 9));
  unsigned char *out =
      dst.data() + (64 - reinterpret_cast<uintptr_t>(dst.data()) % 64) % 64;
  int passes = int(std::max<size_t>(1, (size_t(64) << 20) / n));
  volatile uint64_t sink = 0;
  auto line = [&](const char *name, double gbs) {
    std::printf("%-28s %6.1f GB/s\n", name, gbs);
  };
  line("ContentHash", rate(n, rounds, passes, [&] {
         ContentHash h;
         h.update(buf.data(), n);
         sink = sink + h.value();
       }));
  uint64_t acc[8] = {};
  line("StripeHash portable", rate(blocks * StripeHash::kBlock, rounds, passes, [&] {
         StripeHash::blocksScalar(acc, buf.data(), blocks);
       }));
  if (StripeHash::blocksSse2(acc, buf.data(), 1))
    line("StripeHash sse2", rate(blocks * StripeHash::kBlock, rounds, passes, [&] {
           StripeHash::blocksSse2(acc, buf.data(), blocks);
         }));
  if (StripeHash::blocksAvx2(acc, buf.data(), 1)) {
    line("StripeHash avx2", rate(blocks * StripeHash::kBlock, rounds, passes, [&] {
           StripeHash::blocksAvx2(acc, buf.data(), blocks);
         }));
    line("StripeHash avx2 copy (NT)",
         rate(blocks * StripeHash::kBlock, rounds, passes,
              [&] { StripeHash::blocksCopyAvx2(acc, buf.data(), out, blocks); }));
  }
  line("StripeHash::of",
       rate(n, rounds, passes, [&] { sink = sink + StripeHash::of(buf.data(), n); }));
  std::printf("(routine: %s; %zu KiB, best of %d rounds of %d passes, thread CPU time)\n",
              StripeHash::routine(), kib, rounds, passes);
  (void)sink;
  return int(acc[0] == 42 && sink == 42); // keeps the results alive
}
