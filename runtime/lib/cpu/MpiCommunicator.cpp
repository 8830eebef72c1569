// Communicator over MPI_COMM_WORLD (OpenMPI); every collective is watched by the rank's watchdog.
#include "ds/runtime/Communicator.h"
#include "ds/runtime/JobLifetime.h"
#include "ds/runtime/MemoryAdmission.h"
#include "ds/runtime/ThreadPool.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <thread>
#include <vector>

namespace ds::rt {
namespace {

void check(int rc, const char *what) {
  if (rc == MPI_SUCCESS)
    return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail(what, " failed: ", std::string(msg, size_t(len)));
}

MPI_Datatype mpiType(DType t) {
  switch (t) {
  case ds::plan::F32: return MPI_FLOAT;
  case ds::plan::F64: return MPI_DOUBLE;
  case ds::plan::I64: return MPI_INT64_T;
  case ds::plan::I32: return MPI_INT32_T;
  case ds::plan::I1: return MPI_UINT8_T;
  case ds::plan::F16:
  case ds::plan::BF16: return MPI_UINT16_T; // only moved, never reduced, as 16-bit
  default: fail("no MPI type for ", dtypeName(t));
  }
}

MPI_Op mpiOp(ReduceOp op) {
  switch (op) {
  case ReduceOp::Max: return MPI_MAX;
  case ReduceOp::Min: return MPI_MIN;
  default: return MPI_SUM; // Avg = Sum, then divided
  }
}

int checkedCount(int64_t n, const char *what) {
  if (n < 0 || n > INT_MAX)
    fail(what, ": ", n, " elements exceed the MPI count limit");
  return int(n);
}

bool is16(DType t) { return t == ds::plan::F16 || t == ds::plan::BF16; }

void widen(const void *src, float *dst, int64_t n, DType t) {
  const uint16_t *s = static_cast<const uint16_t *>(src);
  for (int64_t i = 0; i < n; ++i)
    dst[i] = t == ds::plan::F16 ? halfToFloat(s[i]) : bf16ToFloat(s[i]);
}
void narrow(const float *src, void *dst, int64_t n, DType t) {
  uint16_t *d = static_cast<uint16_t *>(dst);
  for (int64_t i = 0; i < n; ++i)
    d[i] = t == ds::plan::F16 ? floatToHalf(src[i]) : floatToBf16(src[i]);
}

template <typename T> void scale(void *p, int64_t n, double f) {
  T *t = static_cast<T *>(p);
  for (int64_t i = 0; i < n; ++i)
    t[i] = T(t[i] * f);
}
void divideBy(void *p, int64_t n, DType t, int w) {
  if (t == ds::plan::F64)
    scale<double>(p, n, 1.0 / w);
  else
    scale<float>(p, n, 1.0 / w);
}

/// Polls a nonblocking collective to completion without holding the core: MPI_Test for
/// kSpin (a collective whose peer is already there finishes within it), then MPI_Test
/// between sleeps of kFirstSleep doubling to kMaxSleep. Open MPI's blocking collectives
/// poll their shared-memory queues without pause, so a rank waiting for a peer that shares
/// its core takes the peer's time slices; sched_yield (mpi_yield_when_idle) gives them back
/// only when the scheduler has nothing else queued. Measured (2 ranks, 2 cores, load 12,
/// 2 ms imbalance per 1 MiB all-reduce): 290-330 ms per iteration spinning, 91-110 ms with
/// yield_when_idle, 15-17 ms sleeping.
void waitSleeping(int n, MPI_Request *reqs, const char *what) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kSpin = std::chrono::microseconds(50);
  constexpr long kFirstSleepNs = 2'000, kMaxSleepNs = 100'000;
  auto start = Clock::now();
  long sleepNs = kFirstSleepNs;
  for (int done = 0;;) {
    check(MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE), what);
    if (done)
      return;
    if (Clock::now() - start < kSpin)
      continue;
    timespec ts{0, sleepNs};
    nanosleep(&ts, nullptr);
    sleepNs = std::min(sleepNs * 2, kMaxSleepNs);
  }
}

/// Float sums and averages of at least this many bytes (and all-gathers of as many bytes
/// per rank) go around the ring below instead of through MPI's collectives. Measured (2
/// ranks, 2 cores, a 3.7M-float gradient all-reduce, waits sleeping): MPI_Iallreduce
/// (libnbc) 9-11 ms, the ring 3.5-4.9 ms, blocking MPI_Allreduce 3.3-4.9 ms. Below it a
/// message's latency, not its bandwidth, decides, and MPI's algorithms are the better.
constexpr size_t kRingMinBytes = size_t(256) << 10;
/// A ring step moves one segment of each chunk: the reduce-scatter's two receive buffers
/// are this many floats each (8 MiB resident, whatever the bucket size). 1M floats ran as
/// fast as whole chunks; 256K floats cost 50% more (more sleeping round trips).
constexpr int64_t kRingSegment = int64_t(1) << 20;

class MpiCommunicator : public Communicator {
public:
  explicit MpiCommunicator(bool sleepInWaits) : sleep_(sleepInWaits) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // The ring's point-to-point messages travel in a communicator of their own, so that no
    // other message can match them (left to MPI_Finalize: freeing is collective).
    check(MPI_Comm_dup(MPI_COMM_WORLD, &ring_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(ring_, MPI_ERRORS_RETURN);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void allGather(const void *in, void *out, int64_t count, DType dtype) override {
    CollectiveScope watched("all_gather");
    size_t es = dtypeSize(dtype);
    if (size_ > 1 && size_t(count) * es >= kRingMinBytes) {
      char *o = static_cast<char *>(out);
      if (o + size_t(rank_) * size_t(count) * es != in)
        std::memcpy(o + size_t(rank_) * size_t(count) * es, in, size_t(count) * es);
      std::vector<int64_t> offs(size_t(size_) + 1);
      for (int c = 0; c <= size_; ++c)
        offs[size_t(c)] = int64_t(c) * count;
      ringGather(o, offs.data(), es);
      return;
    }
    int n = checkedCount(count, "MPI_Allgather");
    run(
        "MPI_Allgather",
        [&] { return MPI_Allgather(in, n, mpiType(dtype), out, n, mpiType(dtype), MPI_COMM_WORLD); },
        [&](MPI_Request *r) {
          return MPI_Iallgather(in, n, mpiType(dtype), out, n, mpiType(dtype), MPI_COMM_WORLD, r);
        });
  }

  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     ReduceOp op) override {
    CollectiveScope watched("reduce_scatter");
    bool ring = useRing(count, dtype, op);
    int n = ring ? 0 : checkedCount(count, "MPI_Reduce_scatter_block");
    if (!ring)
      checkedCount(count * size_, "MPI_Reduce_scatter_block");
    std::vector<int64_t> offs(size_t(size_) + 1);
    for (int c = 0; c <= size_; ++c)
      offs[size_t(c)] = int64_t(c) * count;
    if (is16(dtype)) {
      std::vector<float> a(size_t(count) * size_t(size_)), b(static_cast<size_t>(count));
      widen(in, a.data(), count * size_, dtype);
      if (ring)
        ringReduce(a.data(), offs.data(), b.data());
      else
        reduceScatterBlock(a.data(), b.data(), n, MPI_FLOAT, mpiOp(op));
      if (op == ReduceOp::Avg)
        divideBy(b.data(), count, ds::plan::F32, size_);
      narrow(b.data(), out, count, dtype);
      return;
    }
    if (ring)
      ringReduce(static_cast<const float *>(in), offs.data(), static_cast<float *>(out));
    else
      reduceScatterBlock(in, out, n, mpiType(dtype), mpiOp(op));
    if (op == ReduceOp::Avg)
      divideBy(out, count, dtype, size_);
  }

  void allReduce(const void *in, void *out, int64_t count, DType dtype, ReduceOp op) override {
    CollectiveScope watched("all_reduce");
    if (useRing(count, dtype, op)) {
      // Reduce-scatter of `size_` near-equal chunks (the ranks' sums meet in the same order
      // as reduceScatter's), this rank's chunk averaged, then every chunk gathered.
      std::vector<int64_t> offs(size_t(size_) + 1);
      for (int c = 0; c <= size_; ++c)
        offs[size_t(c)] = count * c / size_;
      std::vector<float> widened;
      float *buf = static_cast<float *>(out);
      if (is16(dtype)) {
        widened.resize(size_t(count));
        widen(in, widened.data(), count, dtype);
        buf = widened.data();
      } else if (in != out) {
        std::memcpy(out, in, size_t(count) * sizeof(float));
      }
      float *mine = buf + offs[size_t(rank_)];
      ringReduce(buf, offs.data(), mine);
      if (op == ReduceOp::Avg)
        divideBy(mine, offs[size_t(rank_) + 1] - offs[size_t(rank_)], ds::plan::F32, size_);
      ringGather(reinterpret_cast<char *>(buf), offs.data(), sizeof(float));
      if (is16(dtype))
        narrow(buf, out, count, dtype);
      return;
    }
    // Chunked so that any count fits MPI's int counts.
    size_t es = dtypeSize(dtype);
    const int64_t chunk = int64_t(1) << 30;
    for (int64_t off = 0; off < count; off += chunk) {
      int64_t n = std::min(chunk, count - off);
      const char *src = static_cast<const char *>(in) + size_t(off) * es;
      char *dst = static_cast<char *>(out) + size_t(off) * es;
      if (is16(dtype)) {
        std::vector<float> a(static_cast<size_t>(n));
        widen(src, a.data(), n, dtype);
        allReduceChunk(MPI_IN_PLACE, a.data(), int(n), MPI_FLOAT, mpiOp(op));
        if (op == ReduceOp::Avg)
          divideBy(a.data(), n, ds::plan::F32, size_);
        narrow(a.data(), dst, n, dtype);
        continue;
      }
      allReduceChunk(src == dst ? MPI_IN_PLACE : src, dst, int(n), mpiType(dtype), mpiOp(op));
      if (op == ReduceOp::Avg)
        divideBy(dst, n, dtype, size_);
    }
  }

  void broadcast(void *buf, int64_t count, DType dtype, int root) override {
    CollectiveScope watched("broadcast");
    if (root < 0 || root >= size_)
      fail("broadcast root ", root, " is not a rank of a world of ", size_);
    size_t es = dtypeSize(dtype);
    const int64_t chunk = int64_t(1) << 30;
    for (int64_t off = 0; off < count; off += chunk) {
      int64_t n = std::min(chunk, count - off);
      void *p = static_cast<char *>(buf) + size_t(off) * es;
      run(
          "MPI_Bcast", [&] { return MPI_Bcast(p, int(n), mpiType(dtype), root, MPI_COMM_WORLD); },
          [&](MPI_Request *r) {
            return MPI_Ibcast(p, int(n), mpiType(dtype), root, MPI_COMM_WORLD, r);
          });
    }
  }

  void barrier() override {
    CollectiveScope watched("barrier");
    run(
        "MPI_Barrier", [] { return MPI_Barrier(MPI_COMM_WORLD); },
        [](MPI_Request *r) { return MPI_Ibarrier(MPI_COMM_WORLD, r); });
  }

private:
  /// One collective: the blocking call, or (sleep_) its nonblocking twin and waitSleeping.
  /// Both run the same operation on the same buffers; with two ranks the reductions are one
  /// addition per element either way, so the bits match.
  template <typename Blocking, typename Start>
  void run(const char *what, Blocking blocking, Start start) {
    if (!sleep_) {
      check(blocking(), what);
      return;
    }
    MPI_Request req = MPI_REQUEST_NULL;
    check(start(&req), what);
    waitSleeping(1, &req, what);
  }
  void reduceScatterBlock(const void *in, void *out, int n, MPI_Datatype t, MPI_Op op) {
    run(
        "MPI_Reduce_scatter_block",
        [&] { return MPI_Reduce_scatter_block(in, out, n, t, op, MPI_COMM_WORLD); },
        [&](MPI_Request *r) {
          return MPI_Ireduce_scatter_block(in, out, n, t, op, MPI_COMM_WORLD, r);
        });
  }
  void allReduceChunk(const void *in, void *out, int n, MPI_Datatype t, MPI_Op op) {
    run(
        "MPI_Allreduce", [&] { return MPI_Allreduce(in, out, n, t, op, MPI_COMM_WORLD); },
        [&](MPI_Request *r) { return MPI_Iallreduce(in, out, n, t, op, MPI_COMM_WORLD, r); });
  }

  /// Sums and averages of f32 (and of f16/bf16, widened to f32 as MPI's path does) that are
  /// large enough for the ring to pay.
  bool useRing(int64_t count, DType dtype, ReduceOp op) const {
    return size_ > 1 && (dtype == ds::plan::F32 || is16(dtype)) &&
           (op == ReduceOp::Sum || op == ReduceOp::Avg) &&
           size_t(count) * sizeof(float) >= kRingMinBytes;
  }

  /// Sends `sn` bytes to the next rank while receiving `rn` bytes from the previous one, in
  /// messages of at most 1 GiB (MPI's int counts), and waits for both the way the
  /// collectives wait (sleeping or blocking).
  void shift(const void *send, size_t sn, void *recv, size_t rn) {
    const size_t kPiece = size_t(1) << 30;
    int right = (rank_ + 1) % size_, left = (rank_ + size_ - 1) % size_;
    std::vector<MPI_Request> reqs;
    for (size_t off = 0; off == 0 || off < rn; off += kPiece)
      check(MPI_Irecv(static_cast<char *>(recv) + off, int(std::min(kPiece, rn - off)), MPI_BYTE,
                      left, 0, ring_, &reqs.emplace_back()),
            "MPI_Irecv");
    for (size_t off = 0; off == 0 || off < sn; off += kPiece)
      check(MPI_Isend(static_cast<const char *>(send) + off, int(std::min(kPiece, sn - off)),
                      MPI_BYTE, right, 0, ring_, &reqs.emplace_back()),
            "MPI_Isend");
    if (sleep_)
      waitSleeping(int(reqs.size()), reqs.data(), "ring step");
    else
      check(MPI_Waitall(int(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }

  /// Ring reduce-scatter: chunk c of `in` is [offs[c], offs[c+1]); `mine` receives the sum
  /// over ranks of chunk rank_ (it may be that chunk of `in` itself; nothing else of `in`
  /// is written). At step s a rank passes its partial sum of chunk rank-s-1 to the next
  /// rank and adds its own values to the partial of chunk rank-s-2 from the previous one,
  /// so chunk c's sum starts at rank c+1 and ends at rank c: one fixed order for every
  /// world size, the same for reduce_scatter and all_reduce. Each step moves one segment of
  /// every chunk (kRingSegment floats), received into two alternating buffers.
  void ringReduce(const float *in, const int64_t *offs, float *mine) {
    int64_t widest = 0;
    for (int c = 0; c < size_; ++c)
      widest = std::max(widest, offs[c + 1] - offs[c]);
    int64_t seg = std::min(widest, kRingSegment);
    if (recv_[0].size() < size_t(seg))
      for (auto &r : recv_)
        r.assign(size_t(seg), 0.0f);
    auto piece = [&](int chunk, int64_t from, int64_t *n) {
      int64_t len = offs[chunk + 1] - offs[chunk];
      *n = std::clamp<int64_t>(len - from, 0, seg);
      return offs[chunk] + std::min(from, len);
    };
    for (int64_t from = 0; from < widest; from += seg) {
      const float *send = nullptr;
      int64_t sendN = 0;
      for (int s = 0; s + 1 < size_; ++s) {
        int sc = (rank_ - s - 1 + 2 * size_) % size_, rc = (rank_ - s - 2 + 2 * size_) % size_;
        if (s == 0)
          send = in + piece(sc, from, &sendN);
        int64_t recvN = 0;
        const float *own = in + piece(rc, from, &recvN);
        float *got = recv_[size_t(s % 2)].data();
        shift(send, size_t(sendN) * sizeof(float), got, size_t(recvN) * sizeof(float));
        float *sum = s + 2 == size_ ? mine + (own - (in + offs[rank_])) : got;
        for (int64_t i = 0; i < recvN; ++i)
          sum[i] = got[i] + own[i];
        send = sum;
        sendN = recvN;
      }
    }
  }

  /// Ring all-gather in place: chunk c of `buf` ([offs[c], offs[c+1]) elements of `es`
  /// bytes) holds rank c's values on rank c; afterwards every rank holds all of them.
  void ringGather(char *buf, const int64_t *offs, size_t es) {
    for (int s = 0; s + 1 < size_; ++s) {
      int sc = (rank_ - s + size_) % size_, rc = (rank_ - s - 1 + size_) % size_;
      shift(buf + size_t(offs[sc]) * es, size_t(offs[sc + 1] - offs[sc]) * es,
            buf + size_t(offs[rc]) * es, size_t(offs[rc + 1] - offs[rc]) * es);
    }
  }

  bool sleep_;
  int rank_ = 0, size_ = 1;
  MPI_Comm ring_ = MPI_COMM_NULL;
  std::vector<float> recv_[2]; // ringReduce's receive buffers, kept between calls
};

} // namespace

bool ranksShareCores(int localRanks, int threadsPerRank, int cpus) {
  return int64_t(std::max(localRanks, 1)) * std::max(threadsPerRank, 1) >= std::max(cpus, 1);
}

int usableCpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

bool crossMemoryAttachWorks() {
#ifdef PR_SET_PTRACER
  // Yama's ptrace_scope 1 lets only ancestors read a process: let the node's other ranks in
  // (what Open MPI's CMA path needs; without Yama the call fails harmlessly).
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
#endif
  static volatile uint64_t probe = 0x6473636d61ULL;
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0)
    return false;
  if (child == 0) {
    // The child reads its parent: not its own memory, as a sibling rank would.
    uint64_t got = 0;
    iovec local{&got, sizeof(got)};
    iovec remote{const_cast<uint64_t *>(&probe), sizeof(probe)};
    ssize_t n = process_vm_readv(parent, &local, 1, &remote, 1, 0);
    _exit(n == ssize_t(sizeof(got)) && got == probe ? 0 : 1);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR)
      return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::unique_ptr<Communicator> makeMpiCommunicator(int threadsPerRank) {
  int threads = threadsPerRank > 0 ? threadsPerRank : numThreads();
  bool shared = ranksShareCores(localRankCount(), threads, usableCpuCount());
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    // Read by MPI_Init: its progress loop calls sched_yield when a poll found nothing, in
    // the waits that stay blocking (MPI_Init, MPI_Finalize) and inside MPI_Test.
    if (shared)
      setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
    // Large messages between ranks of a node: one process_vm_readv (cma) where the kernel
    // lets a rank read its peer (crossMemoryAttachWorks), else copies through
    // shared-memory fragments, each a round trip of both ranks' progress (none);
    // DS_MPI_SINGLE_COPY=none forces the fragments. With the sleeping waits above a 15 MB
    // all-reduce of 2 ranks took 61-142 ms through fragments and 10-30 ms with cma (load
    // 3-5, results/zero-cpu.md). When a rank dies mid-transfer the survivor's Open MPI 4
    // prints "Read -1, expected N, errno = 3": the launcher holds that line back
    // (RankStderrFilter, JobLauncher.h).
    const char *singleCopy = std::getenv("DS_MPI_SINGLE_COPY");
    std::string copyMode = singleCopy && *singleCopy ? singleCopy : "auto";
    if (copyMode != "auto" && copyMode != "none")
      fail("DS_MPI_SINGLE_COPY is auto or none, not '", copyMode, "'");
    if (!std::getenv("OMPI_MCA_btl_vader_single_copy_mechanism"))
      setenv("OMPI_MCA_btl_vader_single_copy_mechanism",
             copyMode == "auto" && crossMemoryAttachWorks() ? "cma" : "none", 0);
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      fail("MPI_Init failed");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const char *env = std::getenv("DS_MPI_WAIT");
  std::string mode = env && *env ? env : "auto";
  if (mode != "auto" && mode != "sleep" && mode != "spin")
    fail("DS_MPI_WAIT is auto, sleep or spin, not '", mode, "'");
  return std::make_unique<MpiCommunicator>(mode == "sleep" || (mode == "auto" && shared));
}

void finalizeMpi() {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (inited && !finalized)
    MPI_Finalize();
}

} // namespace ds::rt
