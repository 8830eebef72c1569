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
void waitSleeping(MPI_Request &req, const char *what) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kSpin = std::chrono::microseconds(50);
  constexpr long kFirstSleepNs = 2'000, kMaxSleepNs = 100'000;
  auto start = Clock::now();
  long sleepNs = kFirstSleepNs;
  for (int done = 0;;) {
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
    if (done)
      return;
    if (Clock::now() - start < kSpin)
      continue;
    timespec ts{0, sleepNs};
    nanosleep(&ts, nullptr);
    sleepNs = std::min(sleepNs * 2, kMaxSleepNs);
  }
}

class MpiCommunicator : public Communicator {
public:
  explicit MpiCommunicator(bool sleepInWaits) : sleep_(sleepInWaits) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void allGather(const void *in, void *out, int64_t count, DType dtype) override {
    CollectiveScope watched("all_gather");
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
    int n = checkedCount(count, "MPI_Reduce_scatter_block");
    checkedCount(count * size_, "MPI_Reduce_scatter_block");
    if (is16(dtype)) {
      std::vector<float> a(size_t(count) * size_t(size_)), b(static_cast<size_t>(count));
      widen(in, a.data(), count * size_, dtype);
      reduceScatterBlock(a.data(), b.data(), n, MPI_FLOAT, mpiOp(op));
      if (op == ReduceOp::Avg)
        divideBy(b.data(), count, ds::plan::F32, size_);
      narrow(b.data(), out, count, dtype);
      return;
    }
    reduceScatterBlock(in, out, n, mpiType(dtype), mpiOp(op));
    if (op == ReduceOp::Avg)
      divideBy(out, count, dtype, size_);
  }

  void allReduce(const void *in, void *out, int64_t count, DType dtype, ReduceOp op) override {
    CollectiveScope watched("all_reduce");
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
    waitSleeping(req, what);
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

  bool sleep_;
  int rank_ = 0, size_ = 1;
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
