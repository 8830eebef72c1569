// ds-bench-swap: sequential write-then-read throughput of the NVMe swap engine.
#include "ds/runtime/Error.h"
#include "ds/runtime/NvmeSwap.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace ds::rt;

namespace {

const char *kUsage =
    "usage: ds-bench-swap --dir DIR [--size BYTES] [--block-size BYTES]\n"
    "         [--queue-depth N] [--threads N] [--request BYTES] [--single-submit]\n"
    "         [--no-overlap] [--no-io-uring] [--buffer BYTES]\n"
    "Writes --size bytes (default 2 GiB) to a swap file in DIR in --request sized\n"
    "requests (default 64 MiB, all submitted at once), drains, then reads them back\n"
    "the same way; consecutive requests use consecutive slices of a --buffer byte\n"
    "buffer (default: one request). Prints\n"
    "'write_MBps=<MB/s> read_MBps=<MB/s> direct=<0|1>'\n"
    "(MB = 1e6 bytes).\n";

uint64_t parseBytes(const std::string &flag, const char *text) {
  char *end = nullptr;
  double v = std::strtod(text, &end);
  std::string unit = end ? end : "";
  double scale = unit.empty()                 ? 1
                 : unit == "k" || unit == "K" ? 1024.0
                 : unit == "m" || unit == "M" ? 1024.0 * 1024
                 : unit == "g" || unit == "G" ? 1024.0 * 1024 * 1024
                                              : -1;
  if (end == text || scale < 0 || v <= 0)
    fail("ds-bench-swap: ", flag, " '", text,
         "' is not a byte count (e.g. 4096, 1M, 2G)");
  return uint64_t(v * scale);
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(int argc, char **argv) {
  std::string dir;
  uint64_t size = 2ull << 30, request = 64ull << 20, bufferBytes = 0;
  AioConfig cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc)
        fail("ds-bench-swap: ", a, " needs a value (see --help)");
      return argv[++i];
    };
    if (a == "--dir")
      dir = value();
    else if (a == "--size")
      size = parseBytes(a, value());
    else if (a == "--block-size")
      cfg.blockSize = parseBytes(a, value());
    else if (a == "--queue-depth")
      cfg.queueDepth = unsigned(parseBytes(a, value()));
    else if (a == "--threads")
      cfg.threadCount = unsigned(parseBytes(a, value()));
    else if (a == "--request")
      request = parseBytes(a, value());
    else if (a == "--buffer")
      bufferBytes = parseBytes(a, value());
    else if (a == "--single-submit")
      cfg.singleSubmit = true;
    else if (a == "--no-overlap")
      cfg.overlapEvents = false;
    else if (a == "--no-io-uring")
      cfg.useIoUring = false;
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else
      fail("ds-bench-swap: unknown argument '", a, "' (see --help)");
  }
  if (dir.empty())
    fail("ds-bench-swap: --dir is required (see --help)");
  request = std::min(request, size);
  bufferBytes = std::max(bufferBytes, request) / request * request;

  void *raw = nullptr;
  if (posix_memalign(&raw, 4096, bufferBytes) != 0)
    fail("ds-bench-swap: cannot allocate a ", bufferBytes, "-byte buffer");
  std::unique_ptr<char, decltype(&std::free)> buffer(static_cast<char *>(raw),
                                                     &std::free);
  for (uint64_t i = 0; i < bufferBytes; ++i)
    buffer.get()[i] = char((i % request) * 2654435761u >> 13);
  auto swap = SwapFile::create(dir, 0, size, cfg);

  // Every request of a phase is in the engine at once: the engine keeps the queue full.
  auto phase = [&](bool write) {
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t off = 0; off < size; off += request) {
      uint64_t n = std::min(request, size - off);
      char *at = buffer.get() + off % bufferBytes; // requests cycle through the buffer
      if (write)
        swap->submitWrite(off, at, n);
      else
        swap->submitRead(off, at, n);
    }
    swap->drain();
    return double(size) / secondsSince(t0) / 1e6;
  };
  double writeMBps = phase(true);
  double readMBps = phase(false);

  // Sanity: the last request read back holds the pattern written.
  std::vector<char> expect(request);
  for (uint64_t i = 0; i < request; ++i)
    expect[i] = char(i * 2654435761u >> 13);
  uint64_t lastOff = (size - 1) / request * request;
  swap->wait(swap->submitRead(lastOff, buffer.get(), size - lastOff));
  if (std::memcmp(buffer.get(), expect.data(), size - lastOff) != 0)
    fail("ds-bench-swap: ", swap->path(),
         ": the bytes read back differ from those written");
  std::printf("write_MBps=%.1f read_MBps=%.1f direct=%d\n", writeMBps, readMBps,
              swap->directIo() ? 1 : 0);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
