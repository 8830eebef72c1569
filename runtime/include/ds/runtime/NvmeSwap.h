// NVMe swap engine (ZeRO-Infinity): a rank's swap file with async O_DIRECT io_uring I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace ds::rt {

/// DeepSpeed's `aio` block (REFERENCE §8, §10). Every key changes what the engine does:
/// `blockSize` is the chunk each request is split into; each of `threadCount` I/O threads
/// (DeepSpeed's `intra_op_parallelism`) owns an io_uring with at most `queueDepth` chunks
/// in flight and takes the next chunk of the oldest request; `singleSubmit` makes one
/// io_uring_submit per chunk instead of one per batch; `overlapEvents` submits the next
/// chunk as soon as one completes (false: waits for the whole batch in flight before
/// submitting more).
struct AioConfig {
  uint64_t blockSize = 1 << 20; // a positive multiple of 4096
  unsigned queueDepth = 8;      // 1..4096
  unsigned threadCount = 1;     // 1..64
  bool singleSubmit = false;
  bool overlapEvents = true;
  bool directIo = true; // O_DIRECT when the filesystem takes it (false: always buffered)
  // io_uring when the kernel allows it (false, or io_uring disabled or filtered by
  // seccomp: queueDepth pread/pwrite threads per thread_count, with a warning when not
  // asked for).
  bool useIoUring = true;
};

/// "" when `dir` can hold a swap file of `bytes`, else one line naming `dir` and why not:
/// it does not exist, is not a directory, is not writable (permissions or a read-only
/// filesystem), or has less free space than `bytes` (statvfs, blocks available to this
/// user).
std::string checkSwapDirectory(const std::string &dir, uint64_t bytes);

/// The swap file name a rank uses in `dir`: <dir>/ds-swap-rank<rank>-<pid>.swp.
std::string swapFilePath(const std::string &dir, int rank);

/// Removes the swap files in `dir` that no process holds any more (a SwapFile keeps an
/// flock on its file; a process killed with SIGKILL, e.g. by the OOM killer, cannot
/// remove its file but loses the lock) and that were last modified 10 s ago or earlier.
/// Returns how many were removed. SwapFile::create calls it before checking the free
/// space (one warning line when it removed any).
unsigned removeStaleSwapFiles(const std::string &dir);

/// One rank's swap file. Requests are asynchronous: submitRead/submitWrite return a
/// ticket at once and the I/O threads move the bytes; the caller's buffer must stay valid
/// (and, for a read, untouched) until wait(ticket) or drain() returns.
///
/// Ordering: a request waits for every earlier request it conflicts with (their 4096-byte
/// aligned file ranges overlap and one of them writes), so a read submitted after a write
/// of the same bytes returns the written bytes without an intermediate wait, and writes
/// to the same bytes land in submission order. Requests that do not conflict run
/// concurrently.
///
/// Any offset, length and buffer address work. A 4096-aligned offset, length and address
/// go straight from/to the caller's buffer (no copy); unaligned heads, tails or addresses
/// go through an aligned bounce buffer (a partial block is read, merged and written
/// back).
///
/// The file is removed however the process ends: by the destructor, at exit, and on
/// SIGINT/SIGTERM/SIGHUP and crash signals (RemoveOnExit.h); after SIGKILL, by the next
/// create() in the directory. Calls may come from several threads (one lock inside);
/// drain() reports and forgets the failures of every thread's requests.
class SwapFile {
public:
  /// Creates swapFilePath(dir, rank), opened O_DIRECT where the filesystem allows it (one
  /// warning line on stderr and buffered I/O otherwise) and preallocated (fallocate) to
  /// `bytes` rounded up to 4096. Throws ds::rt::Error naming the path:
  /// checkSwapDirectory's refusals, an invalid `cfg`, a file that cannot be created or
  /// preallocated, io_uring unavailable.
  static std::unique_ptr<SwapFile> create(const std::string &dir, int rank,
                                          uint64_t bytes, const AioConfig &cfg);
  /// Waits for the I/O in flight (errors are dropped), stops the I/O threads, closes and
  /// unlinks the file.
  ~SwapFile();
  SwapFile(const SwapFile &) = delete;
  SwapFile &operator=(const SwapFile &) = delete;

  /// Reads `bytes` at `offset` into `dst`; [offset, offset + bytes) must lie inside
  /// size().
  uint64_t submitRead(uint64_t offset, void *dst, uint64_t bytes);
  /// Writes `bytes` from `src` at `offset`; [offset, offset + bytes) must lie inside
  /// size().
  uint64_t submitWrite(uint64_t offset, const void *src, uint64_t bytes);
  /// Returns when the request is complete (at once for a ticket already waited for).
  /// Throws ds::rt::Error "nvme swap: <path>: write of <n> bytes at offset <o> failed:
  /// <strerror>" on an I/O error or a transfer that cannot complete (end of file).
  void wait(uint64_t ticket);
  /// Waits for everything submitted; throws the first failure among the requests not yet
  /// waited for (every one of them is finished and forgotten either way).
  void drain();

  const std::string &path() const;
  uint64_t size() const;
  /// False when the filesystem refused O_DIRECT (or cfg.directIo was false).
  bool directIo() const;
  /// Bytes copied through bounce buffers so far (0 while every request is 4096-aligned).
  uint64_t bouncedBytes() const;
  /// The most chunks one I/O thread (or, without io_uring, one group of queueDepth
  /// threads) has had in flight at once (<= queueDepth).
  unsigned peakChunksInFlight() const;

  struct Engine;

private:
  explicit SwapFile(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

} // namespace ds::rt
