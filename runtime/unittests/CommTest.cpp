// Communicator tests; run under `mpirun -np N` (any N dividing 12), or alone as one rank.
#include "KernelTestUtil.h"

#include "ds/runtime/MemoryAdmission.h"
#include "ds/runtime/ThreadPool.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mpi.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ds::rt;
using namespace ds::rt::test;

namespace {
Communicator *gComm = nullptr;

// Rank r's deterministic operand value at element i.
double value(int r, int64_t i) { return double((r * 37 + i * 11) % 23) - 11; }

HostTensor rankTensor(DType dt, std::vector<int64_t> shape, int r) {
  HostTensor t(dt, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, value(r, i));
  return t;
}
} // namespace

TEST(Comm, AllGatherAlongEveryAxis) {
  int W = gComm->size(), me = gComm->rank();
  std::vector<int64_t> s = {2, 3, 2};
  for (DType dt : {ds::plan::F32, ds::plan::F64, ds::plan::I64, ds::plan::BF16, ds::plan::F16})
    for (int64_t axis = 0; axis < 3; ++axis) {
      HostTensor x = rankTensor(dt, s, me);
      auto rs = s;
      rs[size_t(axis)] *= W;
      HostTensor r(dt, rs);
      runKernel(Ins("all_gather").i("axis", axis), {&x}, {&r}, gComm);
      std::vector<double> want;
      for (int64_t i = 0; i < r.numel(); ++i) {
        auto idx = unravel(i, rs);
        int src = int(idx[size_t(axis)] / s[size_t(axis)]);
        idx[size_t(axis)] %= s[size_t(axis)];
        want.push_back(value(src, ravel(idx, s)));
      }
      expectNear(r, want, 0, 0, "all_gather axis " + std::to_string(axis));
    }
}

TEST(Comm, ReduceScatterAlongEveryAxis) {
  int W = gComm->size(), me = gComm->rank();
  for (DType dt : {ds::plan::F32, ds::plan::F64, ds::plan::I32, ds::plan::F16, ds::plan::BF16})
    for (const char *red : {"sum", "max", "min", "avg"})
      for (int64_t axis = 0; axis < 2; ++axis) {
        if (std::string(red) == "avg" && !isFloat(dt))
          continue;
        std::vector<int64_t> s = {12, 12};
        HostTensor x = rankTensor(dt, s, me);
        auto rs = s;
        rs[size_t(axis)] /= W;
        HostTensor r(dt, rs);
        runKernel(Ins("reduce_scatter").i("axis", axis).s("reduction", red), {&x}, {&r}, gComm);
        std::vector<double> want;
        for (int64_t i = 0; i < r.numel(); ++i) {
          auto idx = unravel(i, rs);
          idx[size_t(axis)] += me * rs[size_t(axis)];
          int64_t src = ravel(idx, s);
          std::string o = red;
          double a = o == "max" ? -1e9 : o == "min" ? 1e9 : 0;
          for (int q = 0; q < W; ++q) {
            double v = value(q, src);
            a = o == "max" ? std::max(a, v) : o == "min" ? std::min(a, v) : a + v;
          }
          want.push_back(o == "avg" ? a / W : a);
        }
        double tol = dt == ds::plan::F16 || dt == ds::plan::BF16 ? 1e-2 : 1e-6;
        expectNear(r, want, tol, tol, std::string("reduce_scatter ") + red);
      }
}

TEST(Comm, AllReduceInPlaceAndBroadcast) {
  int W = gComm->size(), me = gComm->rank();
  for (DType dt : {ds::plan::F32, ds::plan::F64, ds::plan::I64, ds::plan::BF16, ds::plan::F16}) {
    HostTensor x = rankTensor(dt, {5, 3}, me);
    runKernel(Ins("all_reduce"), {&x}, {&x}, gComm); // in place
    std::vector<double> want;
    for (int64_t i = 0; i < 15; ++i) {
      double s = 0;
      for (int q = 0; q < W; ++q)
        s += value(q, i);
      want.push_back(s);
    }
    expectNear(x, want, 1e-6, 1e-6, "all_reduce sum " + dtypeName(dt));
  }
  HostTensor b = fromValues(ds::plan::I1, {3}, {double(me == 0), 0, double(me == W - 1)});
  HostTensor bm(ds::plan::I1, {3});
  runKernel(Ins("all_reduce").s("reduction", "max"), {&b}, {&bm}, gComm);
  expectNear(bm, {1, 0, 1}, 0, 0, "all_reduce max i1");
  HostTensor x = rankTensor(ds::plan::F32, {4}, me), y(ds::plan::F32, {4});
  runKernel(Ins("broadcast").i("root", W - 1), {&x}, {&y}, gComm);
  std::vector<double> want;
  for (int64_t i = 0; i < 4; ++i)
    want.push_back(value(W - 1, i));
  expectNear(y, want, 0, 0, "broadcast");
  gComm->barrier();
}

// A float that depends on the rank and index, of varied sign and magnitude, so that sums
// in different orders round differently.
static float ringValue(int r, int64_t i) {
  uint64_t h = uint64_t(r + 1) * 0x9E3779B97F4A7C15ULL ^ uint64_t(i) * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  return float(int64_t(h % 2000001) - 1000000) * std::ldexp(1.0f, int(h >> 60) - 20);
}

// Every rank must hold the same bits: gathers each rank's copy and compares them.
static void expectSameOnEveryRank(const std::vector<float> &mine, const std::string &what) {
  int W = gComm->size();
  std::vector<float> all(mine.size() * size_t(W));
  gComm->allGather(mine.data(), all.data(), int64_t(mine.size()), ds::plan::F32);
  for (int q = 0; q < W; ++q)
    EXPECT_EQ(0, std::memcmp(all.data() + mine.size() * size_t(q), mine.data(),
                             mine.size() * sizeof(float)))
        << what << ": rank " << q << " differs from rank " << gComm->rank();
}

// Messages of 256 KiB and more go around MpiCommunicator's ring of point-to-point messages
// (kRingMinBytes), in segments of 1M floats (kRingSegment). Sizes that do not divide by the
// world size, more than one segment per chunk, in place and not, sum and average, f32 and
// bf16 (widened), and the all-gather of any dtype.
TEST(Comm, LargeCollectivesGoAroundTheRing) {
  int W = gComm->size(), me = gComm->rank();
  for (int64_t n : {int64_t(65536) * W + 7, (int64_t(1) << 20) * W + int64_t(12345) * W + 3}) {
    std::vector<float> x(static_cast<size_t>(n)), sum, avg(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      x[size_t(i)] = ringValue(me, i);
    sum = x;
    gComm->allReduce(sum.data(), sum.data(), n, ds::plan::F32, ReduceOp::Sum); // in place
    gComm->allReduce(x.data(), avg.data(), n, ds::plan::F32, ReduceOp::Avg);
    for (int64_t i = 0; i < n; ++i) {
      double want = 0, mag = 0;
      for (int q = 0; q < W; ++q) {
        want += ringValue(q, i);
        mag += std::fabs(ringValue(q, i));
      }
      ASSERT_NEAR(sum[size_t(i)], want, 1e-6 * mag) << "all_reduce sum, n " << n << " at " << i;
      ASSERT_EQ(avg[size_t(i)], float(sum[size_t(i)] * (1.0 / W))) << "avg = sum / W at " << i;
      if (W == 2) // one addition: the same bits in any order
        ASSERT_EQ(sum[size_t(i)], ringValue(0, i) + ringValue(1, i)) << "at " << i;
    }
    ASSERT_EQ(x[0], ringValue(me, 0)) << "the input of an out-of-place all_reduce is kept";
    expectSameOnEveryRank(sum, "all_reduce sum n " + std::to_string(n));
  }
  // reduce_scatter sums in the all_reduce's order: its block is the all_reduce's chunk.
  int64_t count = 70001;
  std::vector<float> in(size_t(count) * size_t(W)), block(static_cast<size_t>(count));
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = ringValue(me, int64_t(i));
  std::vector<float> keep = in;
  gComm->reduceScatter(in.data(), block.data(), count, ds::plan::F32, ReduceOp::Sum);
  EXPECT_EQ(0, std::memcmp(in.data(), keep.data(), in.size() * sizeof(float)))
      << "reduce_scatter wrote its input";
  gComm->allReduce(in.data(), in.data(), count * W, ds::plan::F32, ReduceOp::Sum);
  EXPECT_EQ(0, std::memcmp(block.data(), in.data() + count * me, block.size() * sizeof(float)))
      << "reduce_scatter's block differs from the all_reduce's chunk";
  // bf16 in place: widened, summed around the ring, averaged, narrowed once.
  std::vector<uint16_t> h(size_t(count) * size_t(W));
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = floatToBf16(ringValue(me, int64_t(i)));
  std::vector<uint16_t> hb = h;
  gComm->allReduce(h.data(), h.data(), int64_t(h.size()), ds::plan::BF16, ReduceOp::Avg);
  for (size_t i = 0; i < h.size(); ++i) {
    double want = 0, mag = 0;
    for (int q = 0; q < W; ++q) {
      want += bf16ToFloat(floatToBf16(ringValue(q, int64_t(i))));
      mag += std::fabs(ringValue(q, int64_t(i)));
    }
    ASSERT_NEAR(bf16ToFloat(h[i]), want / W, 1e-2 * mag / W + 1e-30) << "bf16 avg at " << i;
  }
  // all_gather of 16-bit values, exact.
  std::vector<uint16_t> g(hb.size() * size_t(W));
  gComm->allGather(hb.data(), g.data(), int64_t(hb.size()), ds::plan::BF16);
  for (int q = 0; q < W; ++q)
    for (size_t i = 0; i < hb.size(); i += 97)
      ASSERT_EQ(g[size_t(q) * hb.size() + i], floatToBf16(ringValue(q, int64_t(i))))
          << "all_gather from rank " << q << " at " << i;
}

TEST(Comm, RanksShareCores) {
  EXPECT_TRUE(ranksShareCores(2, 1, 2));
  EXPECT_TRUE(ranksShareCores(4, 1, 2));
  EXPECT_TRUE(ranksShareCores(2, 8, 16));
  EXPECT_FALSE(ranksShareCores(2, 1, 16));
  EXPECT_FALSE(ranksShareCores(1, 1, 2));
  EXPECT_TRUE(ranksShareCores(0, 0, 0)); // clamped to one rank, one thread, one core
}

// Tests that MPI_Init saw mpi_yield_when_idle set exactly when this job's ranks fill the
// cores (read back through the MPI tool interface, so it checks Open MPI's own setting).
TEST(Comm, MpiWaitsYieldWhenRanksShareCores) {
  if (!launchedByMpi())
    GTEST_SKIP() << "not under mpirun";
  if (std::getenv("DS_TEST_USER_YIELD")) // set by the user: theirs, not ours
    GTEST_SKIP() << "OMPI_MCA_mpi_yield_when_idle set before the test";
  int provided = 0;
  ASSERT_EQ(MPI_T_init_thread(MPI_THREAD_SINGLE, &provided), MPI_SUCCESS);
  int num = 0, found = -1;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_T_cvar_get_num(&num);
  for (int i = 0; i < num && found < 0; ++i) {
    char name[256], desc[1024];
    int nameLen = sizeof(name), descLen = sizeof(desc), verbosity, bind, scope;
    MPI_T_enum enumType;
    if (MPI_T_cvar_get_info(i, name, &nameLen, &verbosity, &type, &enumType, desc, &descLen,
                            &bind, &scope) == MPI_SUCCESS &&
        std::string(name) == "mpi_yield_when_idle")
      found = i;
  }
  if (found < 0) {
    MPI_T_finalize();
    GTEST_SKIP() << "this MPI has no mpi_yield_when_idle control variable";
  }
  MPI_T_cvar_handle handle;
  int count = 0, typeSize = 0;
  unsigned char bytes[16] = {}; // a bool (Open MPI: one byte) or an int
  ASSERT_EQ(MPI_T_cvar_handle_alloc(found, nullptr, &handle, &count), MPI_SUCCESS);
  ASSERT_EQ(count, 1);
  MPI_Type_size(type, &typeSize);
  ASSERT_TRUE(typeSize >= 1 && typeSize <= int(sizeof(bytes))) << typeSize;
  ASSERT_EQ(MPI_T_cvar_read(handle, bytes), MPI_SUCCESS);
  int value = 0;
  for (int i = 0; i < typeSize; ++i)
    value |= bytes[i];
  MPI_T_cvar_handle_free(&handle);
  MPI_T_finalize();
  EXPECT_EQ(value != 0, ranksShareCores(localRankCount(), numThreads(), usableCpuCount()))
      << "mpi_yield_when_idle " << value << ", " << localRankCount() << " local ranks x "
      << numThreads() << " threads on " << usableCpuCount() << " cpus";
}

// Tests that the probe's answer is what a child reading its parent's heap finds.
TEST(Comm, CrossMemoryAttachProbeMatchesAChildsRead) {
  std::vector<uint64_t> buf(512, 0x5a5aa5a5f00dULL);
  bool works = crossMemoryAttachWorks();
  pid_t parent = getpid(), child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::vector<uint64_t> got(buf.size(), 0);
    iovec local{got.data(), got.size() * sizeof(uint64_t)};
    iovec remote{buf.data(), buf.size() * sizeof(uint64_t)};
    ssize_t n = process_vm_readv(parent, &local, 1, &remote, 1, 0);
    _exit(n == ssize_t(local.iov_len) && got == buf ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(works, WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(works, crossMemoryAttachWorks()); // the same answer each time
}

// Tests that Open MPI's shared-memory transport copies large messages once (cma) where
// the probe says the kernel allows it, else through fragments (none), and always through
// fragments with DS_MPI_SINGLE_COPY=none, unless the user chose.
TEST(Comm, SingleCopyMechanismFollowsTheProbe) {
  if (!launchedByMpi())
    GTEST_SKIP() << "not under mpirun";
  if (std::getenv("DS_TEST_USER_SINGLE_COPY"))
    GTEST_SKIP() << "OMPI_MCA_btl_vader_single_copy_mechanism set before the test";
  int provided = 0;
  ASSERT_EQ(MPI_T_init_thread(MPI_THREAD_SINGLE, &provided), MPI_SUCCESS);
  int num = 0, found = -1;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_T_enum enumType = MPI_T_ENUM_NULL;
  MPI_T_cvar_get_num(&num);
  for (int i = 0; i < num && found < 0; ++i) {
    char name[256], desc[1024];
    int nameLen = sizeof(name), descLen = sizeof(desc), verbosity, bind, scope;
    if (MPI_T_cvar_get_info(i, name, &nameLen, &verbosity, &type, &enumType, desc, &descLen,
                            &bind, &scope) == MPI_SUCCESS &&
        std::string(name) == "btl_vader_single_copy_mechanism")
      found = i;
  }
  if (found < 0 || enumType == MPI_T_ENUM_NULL) {
    MPI_T_finalize();
    GTEST_SKIP() << "this MPI has no btl_vader_single_copy_mechanism control variable";
  }
  MPI_T_cvar_handle handle;
  int count = 0, value = -1;
  ASSERT_EQ(MPI_T_cvar_handle_alloc(found, nullptr, &handle, &count), MPI_SUCCESS);
  ASSERT_EQ(MPI_T_cvar_read(handle, &value), MPI_SUCCESS);
  MPI_T_cvar_handle_free(&handle);
  std::string chosen;
  int items = 0;
  char enumName[256];
  int enumNameLen = sizeof(enumName);
  MPI_T_enum_get_info(enumType, &items, enumName, &enumNameLen);
  for (int i = 0; i < items; ++i) {
    char item[256];
    int itemLen = sizeof(item), itemValue = 0;
    if (MPI_T_enum_get_item(enumType, i, &itemValue, item, &itemLen) == MPI_SUCCESS &&
        itemValue == value)
      chosen = item;
  }
  MPI_T_finalize();
  const char *mode = std::getenv("DS_MPI_SINGLE_COPY");
  bool automatic = !mode || !*mode || std::string(mode) == "auto";
  EXPECT_EQ(chosen, automatic && crossMemoryAttachWorks() ? "cma" : "none") << "value " << value;
}

int main(int argc, char **argv) {
  if (std::getenv("OMPI_MCA_mpi_yield_when_idle"))
    setenv("DS_TEST_USER_YIELD", "1", 1);
  if (std::getenv("OMPI_MCA_btl_vader_single_copy_mechanism"))
    setenv("DS_TEST_USER_SINGLE_COPY", "1", 1);
  testing::InitGoogleTest(&argc, argv);
  std::unique_ptr<Communicator> comm =
      launchedByMpi() ? makeMpiCommunicator() : makeSingleRankCommunicator();
  gComm = comm.get();
  if (comm->rank() != 0) // only rank 0 prints; every rank's failures still set the exit code
    delete testing::UnitTest::GetInstance()->listeners().Release(
        testing::UnitTest::GetInstance()->listeners().default_result_printer());
  int rc = RUN_ALL_TESTS();
  int any = rc;
  if (launchedByMpi())
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  comm.reset();
  if (launchedByMpi())
    finalizeMpi();
  return any;
}
