// NVMe swap engine tests: round trips, ordering, refusals, I/O errors, file cleanup.
#include "ds/runtime/NvmeSwap.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/JobLifetime.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <random>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace ds::rt;

namespace {

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
        names.push_back(e->d_name);
    closedir(d);
  }
  return names;
}

/// A 4096-aligned buffer with `slack` spare bytes, so that tests can misalign on purpose.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t bytes, size_t slack = 4096) {
    void *p = nullptr;
    if (posix_memalign(&p, 4096, bytes + slack) != 0)
      throw std::bad_alloc();
    data = static_cast<char *>(p);
  }
  ~AlignedBuffer() { std::free(data); }
  char *data;
};

void fillPattern(char *p, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < n; ++i)
    p[i] = char(rng());
}

std::string errorOf(const std::function<void()> &fn) {
  try {
    fn();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

/// Mounts a tmpfs of `bytes` at `dir` (extra `options` appended); false where mount(2) is
/// not allowed (not root, no CAP_SYS_ADMIN): the caller skips.
bool mountTmpfs(const std::string &dir, uint64_t bytes, const std::string &options = "",
                unsigned long flags = 0) {
  std::string data = "size=" + std::to_string(bytes) + options;
  return mount("tmpfs", dir.c_str(), "tmpfs", flags, data.c_str()) == 0;
}

class NvmeSwapTest : public ::testing::Test {
protected:
  void SetUp() override {
    const char *tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/ds-nvme-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    ASSERT_NE(mkdtemp(buf.data()), nullptr) << tmpl << ": " << strerror(errno);
    dir = buf.data();
  }
  void TearDown() override {
    if (!mountPoint.empty())
      umount2(mountPoint.c_str(), MNT_DETACH);
    // The property every case checks: no swap file outlives its SwapFile.
    EXPECT_EQ(listDir(dir), std::vector<std::string>()) << "left behind in " << dir;
    for (const std::string &name : listDir(dir))
      unlink((dir + "/" + name).c_str());
    rmdir(dir.c_str());
  }
  std::string mountTmpfsHere(const std::string &name, uint64_t bytes,
                             const std::string &options = "", unsigned long flags = 0) {
    std::string at = dir + "/" + name;
    mkdir(at.c_str(), 0700);
    if (!mountTmpfs(at, bytes, options, flags)) {
      rmdir(at.c_str());
      return "";
    }
    mountPoint = at;
    return at;
  }
  void unmountHere() {
    umount2(mountPoint.c_str(), MNT_DETACH);
    rmdir(mountPoint.c_str());
    mountPoint.clear();
  }
  std::string dir, mountPoint;
};

// Tests that an aligned request goes straight between the caller's buffer and the file.
TEST_F(NvmeSwapTest, AlignedRoundTripCopiesNothing) {
  const size_t n = 8 << 20;
  AioConfig cfg;
  cfg.blockSize = 256 << 10;
  auto swap = SwapFile::create(dir, 3, n, cfg);
  EXPECT_EQ(swap->path(), swapFilePath(dir, 3));
  EXPECT_NE(swap->path().find("ds-swap-rank3-" + std::to_string(getpid()) + ".swp"),
            std::string::npos);
  struct stat st;
  ASSERT_EQ(stat(swap->path().c_str(), &st), 0);
  EXPECT_GE(uint64_t(st.st_blocks) * 512, n) << "preallocated";
  AlignedBuffer src(n), dst(n);
  fillPattern(src.data, n, 1);
  swap->wait(swap->submitWrite(0, src.data, n));
  std::memset(dst.data, 0, n);
  swap->wait(swap->submitRead(0, dst.data, n));
  EXPECT_EQ(std::memcmp(src.data, dst.data, n), 0);
  EXPECT_EQ(swap->bouncedBytes(), 0u);
}

// Tests that the swap file is opened O_DIRECT wherever the directory's filesystem takes
// it.
TEST_F(NvmeSwapTest, UsesDirectIoWhereSupported) {
  std::string probe = dir + "/probe";
  int fd = open(probe.c_str(), O_CREAT | O_RDWR | O_DIRECT, 0600);
  bool supported = fd >= 0;
  if (fd >= 0)
    close(fd);
  unlink(probe.c_str());
  auto swap = SwapFile::create(dir, 0, 1 << 20, AioConfig());
  EXPECT_EQ(swap->directIo(), supported);
  AioConfig buffered;
  buffered.directIo = false;
  auto plain = SwapFile::create(dir, 1, 1 << 20, buffered);
  EXPECT_FALSE(plain->directIo());
}

struct EngineCase {
  const char *name;
  AioConfig cfg;
};
void PrintTo(const EngineCase &c, std::ostream *os) { *os << c.name; }

AioConfig makeConfig(uint64_t block, unsigned depth, unsigned threads, bool single,
                     bool overlap, bool direct, bool ioUring = true) {
  AioConfig c;
  c.blockSize = block;
  c.queueDepth = depth;
  c.threadCount = threads;
  c.singleSubmit = single;
  c.overlapEvents = overlap;
  c.directIo = direct;
  c.useIoUring = ioUring;
  return c;
}

class NvmeSwapEngineTest : public NvmeSwapTest,
                           public ::testing::WithParamInterface<EngineCase> {};

// Tests that random offsets, lengths and buffer alignments round-trip with many requests
// in flight, and that every read returns what the writes submitted before it left there.
TEST_P(NvmeSwapEngineTest, RandomRequestsMatchAShadowCopy) {
  const uint64_t fileBytes = 3 << 20;
  auto swap = SwapFile::create(dir, 0, fileBytes, GetParam().cfg);
  std::vector<char> shadow(fileBytes, 0);
  AlignedBuffer zero(fileBytes);
  std::memset(zero.data, 0, fileBytes);
  swap->wait(swap->submitWrite(0, zero.data, fileBytes));

  struct Pending {
    uint64_t ticket;
    bool write;
    std::unique_ptr<AlignedBuffer> buffer;
    char *at;
    std::vector<char> expected;
  };
  std::mt19937 rng(42);
  std::vector<Pending> pending;
  auto retire = [&](Pending &p) {
    swap->wait(p.ticket);
    if (!p.write)
      ASSERT_EQ(std::memcmp(p.at, p.expected.data(), p.expected.size()), 0)
          << "read of " << p.expected.size() << " bytes";
  };
  for (int op = 0; op < 400; ++op) {
    uint64_t len = 1 + rng() % (rng() % 4 ? 20000 : 300000);
    uint64_t off = rng() % (fileBytes - len + 1);
    if (rng() % 3 == 0)
      off = off / 4096 * 4096; // aligned heads, sometimes
    if (rng() % 3 == 0)
      len = std::max<uint64_t>(4096, len / 4096 * 4096);
    len = std::min(len, fileBytes - off);
    size_t misalign = rng() % 3 == 0 ? 0 : rng() % 4096;
    Pending p{0, rng() % 2 == 0, std::make_unique<AlignedBuffer>(len), nullptr, {}};
    p.at = p.buffer->data + misalign;
    if (p.write) {
      fillPattern(p.at, len, uint32_t(op));
      std::memcpy(shadow.data() + off, p.at, len);
      p.ticket = swap->submitWrite(off, p.at, len);
    } else {
      p.expected.assign(shadow.begin() + off, shadow.begin() + off + len);
      p.ticket = swap->submitRead(off, p.at, len);
    }
    pending.push_back(std::move(p));
    if (pending.size() > 24) { // retire a random one: waits out of submission order
      size_t i = rng() % pending.size();
      retire(pending[i]);
      pending.erase(pending.begin() + i);
    }
  }
  for (Pending &p : pending)
    retire(p);
  AlignedBuffer all(fileBytes);
  swap->wait(swap->submitRead(0, all.data, fileBytes));
  EXPECT_EQ(std::memcmp(all.data, shadow.data(), fileBytes), 0);
  if (swap->directIo())
    EXPECT_GT(swap->bouncedBytes(), 0u) << "unaligned requests go through bounce buffers";
  EXPECT_LE(swap->peakChunksInFlight(), GetParam().cfg.queueDepth);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, NvmeSwapEngineTest,
    ::testing::Values(
        EngineCase{"direct_qd4", makeConfig(64 << 10, 4, 1, false, true, true)},
        EngineCase{"direct_3threads", makeConfig(16 << 10, 2, 3, false, true, true)},
        EngineCase{"single_submit", makeConfig(8 << 10, 8, 1, true, true, true)},
        EngineCase{"no_overlap", makeConfig(32 << 10, 3, 1, false, false, true)},
        EngineCase{"buffered", makeConfig(64 << 10, 4, 2, false, true, false)},
        EngineCase{"pread_threads", makeConfig(16 << 10, 3, 2, false, true, true, false)},
        EngineCase{"pread_buffered",
                   makeConfig(64 << 10, 2, 1, false, true, false, false)}),
    [](const ::testing::TestParamInfo<EngineCase> &info) { return info.param.name; });

// Tests that far more requests than queue_depth can be outstanding (the engine queues
// them).
TEST_F(NvmeSwapTest, MoreRequestsThanQueueDepth) {
  AioConfig cfg;
  cfg.blockSize = 4096;
  cfg.queueDepth = 2;
  const uint64_t each = 3 * 4096, count = 200;
  auto swap = SwapFile::create(dir, 0, each * count, cfg);
  AlignedBuffer src(each * count), dst(each * count);
  fillPattern(src.data, each * count, 7);
  std::vector<uint64_t> tickets;
  for (uint64_t i = 0; i < count; ++i)
    tickets.push_back(swap->submitWrite(i * each, src.data + i * each, each));
  swap->drain();
  for (uint64_t i = 0; i < count; ++i)
    tickets.push_back(swap->submitRead(i * each, dst.data + i * each, each));
  for (auto it = tickets.rbegin(); it != tickets.rend(); ++it)
    swap->wait(*it); // newest first: older tickets are finished or finish meanwhile
  EXPECT_EQ(std::memcmp(src.data, dst.data, each * count), 0);
  EXPECT_EQ(swap->bouncedBytes(), 0u);
  EXPECT_EQ(swap->peakChunksInFlight(), 2u) << "the queue is kept full, never overfull";
}

// Tests the engine without io_uring (what a kernel with io_uring disabled or a container
// that filters it gets): the same bytes, queue_depth threads per I/O thread, no more.
TEST_F(NvmeSwapTest, WithoutIoUring) {
  AioConfig cfg;
  cfg.blockSize = 4096;
  cfg.queueDepth = 3;
  cfg.useIoUring = false;
  const uint64_t n = 2 << 20;
  auto swap = SwapFile::create(dir, 0, n + 4096, cfg);
  AlignedBuffer src(n), dst(n);
  fillPattern(src.data + 1, n, 11);
  swap->submitWrite(100, src.data + 1, n); // unaligned: read-modify-write at both ends
  swap->wait(swap->submitRead(100, dst.data + 5, n));
  EXPECT_EQ(std::memcmp(src.data + 1, dst.data + 5, n), 0);
  EXPECT_EQ(swap->peakChunksInFlight(), 3u);
  swap->drain();
}

// Tests that a process whose io_uring_setup is filtered (a container's seccomp profile)
// falls back to the threads on its own, and still removes its file.
TEST_F(NvmeSwapTest, FallsBackWhenIoUringIsFiltered) {
  pid_t pid = fork();
  if (pid == 0) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
      _exit(77);
    try {
      bool same;
      {
        auto swap = SwapFile::create(dir, 0, 1 << 20, AioConfig());
        AlignedBuffer src(1 << 20), dst(1 << 20);
        fillPattern(src.data, 1 << 20, 12);
        swap->submitWrite(0, src.data, 1 << 20);
        swap->wait(swap->submitRead(0, dst.data, 1 << 20));
        same = std::memcmp(src.data, dst.data, 1 << 20) == 0;
      }
      _exit(same ? 0 : 1);
    } catch (const std::exception &e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      _exit(99);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  if (WEXITSTATUS(status) == 77)
    GTEST_SKIP() << "cannot install a seccomp filter here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: bytes differ, 99: create or I/O failed";
}

// Tests a transfer of many blocks, unaligned at both ends and in memory.
TEST_F(NvmeSwapTest, LargeUnalignedTransfer) {
  const uint64_t n = 48 << 20;
  auto swap = SwapFile::create(dir, 0, n + 8192, AioConfig());
  AlignedBuffer src(n), dst(n);
  char *from = src.data + 3, *to = dst.data + 17;
  fillPattern(from, n, 9);
  swap->wait(swap->submitWrite(4095, from, n));
  swap->wait(swap->submitRead(4095, to, n));
  EXPECT_EQ(std::memcmp(from, to, n), 0);
}

// Tests that a read submitted right after a write of the same bytes sees the write, that
// writes to the same bytes land in submission order, and that writes sharing a 4096-byte
// block (each a read-modify-write when O_DIRECT) both survive.
TEST_F(NvmeSwapTest, ConflictingRequestsRunInSubmissionOrder) {
  AioConfig cfg;
  cfg.blockSize = 4096;
  cfg.queueDepth = 16;
  cfg.threadCount = 2;
  const uint64_t n = 1 << 20;
  auto swap = SwapFile::create(dir, 0, n, cfg);
  for (int round = 0; round < 20; ++round) {
    AlignedBuffer a(n), b(n), out(n);
    fillPattern(a.data, n, 100 + round);
    fillPattern(b.data, n, 200 + round);
    uint64_t w1 = swap->submitWrite(0, a.data, n);
    uint64_t w2 = swap->submitWrite(0, b.data, n);
    uint64_t r = swap->submitRead(0, out.data, n);
    swap->wait(r); // the read waits for both writes on its own
    ASSERT_EQ(std::memcmp(out.data, b.data, n), 0) << "round " << round;
    swap->wait(w1);
    swap->wait(w2);
  }
  char head[100], tail[100], back[200];
  std::memset(head, 'h', sizeof(head));
  std::memset(tail, 't', sizeof(tail));
  swap->submitWrite(5000, head, 100);
  swap->submitWrite(5100, tail, 100);
  swap->wait(swap->submitRead(5000, back, 200));
  EXPECT_EQ(std::memcmp(back, head, 100), 0);
  EXPECT_EQ(std::memcmp(back + 100, tail, 100), 0);
  swap->drain();
}

// Tests that several caller threads may submit and wait on one SwapFile at once.
TEST_F(NvmeSwapTest, SeveralCallerThreads) {
  AioConfig cfg;
  cfg.blockSize = 16 << 10;
  cfg.threadCount = 2;
  const uint64_t region = 1 << 20;
  const int callers = 4;
  auto swap = SwapFile::create(dir, 0, region * callers, cfg);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(callers, 0);
  for (int t = 0; t < callers; ++t)
    threads.emplace_back([&, t] {
      AlignedBuffer src(region), dst(region);
      for (int round = 0; round < 10; ++round) {
        fillPattern(src.data + t, region - 64, uint32_t(t * 100 + round));
        swap->submitWrite(t * region + 7, src.data + t, region - 64);
        swap->wait(swap->submitRead(t * region + 7, dst.data, region - 64));
        mismatches[t] += std::memcmp(src.data + t, dst.data, region - 64) != 0;
      }
    });
  for (std::thread &th : threads)
    th.join();
  swap->drain();
  EXPECT_EQ(mismatches, std::vector<int>(callers, 0));
}

// Tests the ticket rules: a finished ticket waits no more, an unknown one is an error.
TEST_F(NvmeSwapTest, WaitRules) {
  auto swap = SwapFile::create(dir, 0, 1 << 20, AioConfig());
  AlignedBuffer buf(4096);
  uint64_t t = swap->submitWrite(0, buf.data, 4096);
  swap->wait(t);
  swap->wait(t);
  swap->wait(swap->submitRead(0, buf.data, 0)); // empty request
  EXPECT_NE(errorOf([&] { swap->wait(t + 100); }).find("never issued"),
            std::string::npos);
  std::string outside = errorOf([&] { swap->submitRead((1 << 20) - 10, buf.data, 11); });
  EXPECT_NE(outside.find(swap->path()), std::string::npos) << outside;
  EXPECT_NE(outside.find("outside the swap file"), std::string::npos) << outside;
}

// Tests that destroying a SwapFile with I/O in flight waits for it and removes the file.
TEST_F(NvmeSwapTest, DestroyWithIoInFlight) {
  AlignedBuffer src(16 << 20);
  fillPattern(src.data, 16 << 20, 5);
  std::string path;
  {
    AioConfig cfg;
    cfg.blockSize = 64 << 10;
    auto swap = SwapFile::create(dir, 0, 16 << 20, cfg);
    path = swap->path();
    for (int i = 0; i < 16; ++i)
      swap->submitWrite(uint64_t(i) << 20, src.data + (uint64_t(i) << 20), 1 << 20);
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

// Tests checkSwapDirectory's refusals for a missing path and a regular file, and that
// create() refuses the same with the path named, leaving nothing behind.
TEST_F(NvmeSwapTest, RefusesMissingDirectoryAndFile) {
  std::string missing = dir + "/no-such-dir";
  std::string why = checkSwapDirectory(missing, 1 << 20);
  EXPECT_NE(why.find("'" + missing + "' does not exist"), std::string::npos) << why;
  std::string err = errorOf([&] { SwapFile::create(missing, 0, 1 << 20, AioConfig()); });
  EXPECT_NE(err.find(missing), std::string::npos) << err;

  std::string file = dir + "/plain-file";
  int fd = open(file.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  why = checkSwapDirectory(file, 1 << 20);
  EXPECT_NE(why.find("'" + file + "' is not a directory"), std::string::npos) << why;
  err = errorOf([&] { SwapFile::create(file, 0, 1 << 20, AioConfig()); });
  EXPECT_NE(err.find("is not a directory"), std::string::npos) << err;
  unlink(file.c_str());
  EXPECT_EQ(checkSwapDirectory(dir, 1 << 20), "");
}

// Tests the free-space refusal: more bytes than statvfs reports available.
TEST_F(NvmeSwapTest, RefusesTooLittleFreeSpace) {
  struct statvfs vfs;
  ASSERT_EQ(statvfs(dir.c_str(), &vfs), 0);
  uint64_t tooMany = uint64_t(vfs.f_bavail) * vfs.f_frsize + (1ull << 30);
  std::string why = checkSwapDirectory(dir, tooMany);
  EXPECT_NE(why.find("'" + dir + "' has too little free space"), std::string::npos)
      << why;
  std::string err = errorOf([&] { SwapFile::create(dir, 0, tooMany, AioConfig()); });
  EXPECT_NE(err.find("too little free space"), std::string::npos) << err;
}

// Tests the "not writable" refusal on a read-only filesystem (root ignores permission
// bits, not a read-only mount). Skips where mount(2) is not allowed.
TEST_F(NvmeSwapTest, RefusesReadOnlyDirectory) {
  std::string ro = mountTmpfsHere("ro", 1 << 20, "", MS_RDONLY);
  if (ro.empty())
    GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  std::string why = checkSwapDirectory(ro, 4096);
  EXPECT_NE(why.find("'" + ro + "' is not writable"), std::string::npos) << why;
  std::string err = errorOf([&] { SwapFile::create(ro, 0, 4096, AioConfig()); });
  EXPECT_NE(err.find("is not writable"), std::string::npos) << err;
  unmountHere();
}

// Tests that an unusable aio configuration is refused with the key named.
TEST_F(NvmeSwapTest, RefusesBadAioConfig) {
  AioConfig cfg;
  cfg.blockSize = 1000;
  EXPECT_NE(errorOf([&] { SwapFile::create(dir, 0, 4096, cfg); }).find("block_size 1000"),
            std::string::npos);
  cfg = AioConfig();
  cfg.queueDepth = 0;
  EXPECT_NE(errorOf([&] { SwapFile::create(dir, 0, 4096, cfg); }).find("queue_depth 0"),
            std::string::npos);
  cfg = AioConfig();
  cfg.threadCount = 0;
  EXPECT_NE(errorOf([&] { SwapFile::create(dir, 0, 4096, cfg); }).find("thread_count 0"),
            std::string::npos);
}

// Tests that a read the file cannot satisfy (it was truncated behind the engine's back)
// fails with the path, the request and the reason, and the file is still removed.
TEST_F(NvmeSwapTest, ShortReadOfTruncatedFileFails) {
  for (bool ioUring : {true, false}) {
    AioConfig cfg;
    cfg.useIoUring = ioUring;
    auto swap = SwapFile::create(dir, 0, 1 << 20, cfg);
    AlignedBuffer buf(1 << 20);
    fillPattern(buf.data, 1 << 20, 3);
    swap->wait(swap->submitWrite(0, buf.data, 1 << 20));
    ASSERT_EQ(truncate(swap->path().c_str(), 4096), 0);
    uint64_t t = swap->submitRead(0, buf.data, 1 << 20);
    std::string err = errorOf([&] { swap->wait(t); });
    EXPECT_NE(err.find("nvme swap: " + swap->path() +
                       ": read of 1048576 bytes at offset 0 failed"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("end of file"), std::string::npos) << err;
    // drain() reports failures nobody waited for.
    swap->submitRead(8192, buf.data, 4096);
    EXPECT_NE(errorOf([&] { swap->drain(); }).find("end of file"), std::string::npos);
    swap->drain(); // nothing left
  }
}

// Tests a real ENOSPC mid-run: a tiny tmpfs whose space another file takes after the swap
// file's blocks were released. Skips where mount(2) is not allowed.
TEST_F(NvmeSwapTest, WriteFailsWithNoSpace) {
  std::string small = mountTmpfsHere("small", 1 << 20);
  if (small.empty())
    GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  {
    auto swap = SwapFile::create(small, 0, 512 << 10, AioConfig());
    int fd = open(swap->path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 512 << 10), 0);
    close(fd);
    std::string filler = small + "/filler";
    fd = open(filler.c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    std::vector<char> chunk(4096, 'x');
    while (write(fd, chunk.data(), chunk.size()) > 0) {
    }
    close(fd);
    AlignedBuffer buf(512 << 10);
    fillPattern(buf.data, 512 << 10, 4);
    uint64_t t = swap->submitWrite(0, buf.data, 512 << 10);
    std::string err = errorOf([&] { swap->wait(t); });
    EXPECT_NE(
        err.find("nvme swap: " + swap->path() + ": write of 524288 bytes at offset 0"),
        std::string::npos)
        << err;
    EXPECT_NE(err.find(std::strerror(ENOSPC)), std::string::npos) << err;
    unlink(filler.c_str());
  }
  EXPECT_EQ(listDir(small), std::vector<std::string>());
  unmountHere();
}

// Tests that create() refuses a swap file the filesystem cannot preallocate.
TEST_F(NvmeSwapTest, CreateFailsWhenPreallocationDoesNotFit) {
  std::string small = mountTmpfsHere("tiny", 256 << 10);
  if (small.empty())
    GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  std::string filler = small + "/filler";
  int fd = open(filler.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(posix_fallocate(fd, 0, 200 << 10), 0);
  close(fd);
  std::string err = errorOf([&] { SwapFile::create(small, 0, 128 << 10, AioConfig()); });
  EXPECT_NE(err.find(small), std::string::npos) << err;
  unlink(filler.c_str());
  EXPECT_EQ(listDir(small), std::vector<std::string>());
  unmountHere();
}

/// Runs `body` in a child process that reports "ready" through a pipe once its swap file
/// exists; `kill` then decides its fate. Returns the child's wait status.
int runChild(const std::string &dir, const std::function<void(SwapFile &)> &body,
             int killWith) {
  int ready[2];
  if (pipe(ready) != 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    try {
      auto swap = SwapFile::create(dir, 0, 4 << 20, AioConfig());
      AlignedBuffer buf(4 << 20);
      swap->submitWrite(0, buf.data, 4 << 20); // in flight when the signal comes
      ssize_t w = write(ready[1], "r", 1);
      (void)w;
      body(*swap);
    } catch (const std::exception &e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      _exit(99);
    }
    _exit(0);
  }
  close(ready[1]);
  char c;
  ssize_t r = read(ready[0], &c, 1);
  close(ready[0]);
  if (r == 1 && killWith)
    kill(pid, killWith);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Tests that SIGTERM and SIGINT remove the swap file of a process that handles neither.
TEST_F(NvmeSwapTest, SignalsRemoveTheSwapFile) {
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    int status = runChild(
        dir,
        [](SwapFile &) {
          for (;;)
            pause();
        },
        sig);
    ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_EQ(listDir(dir), std::vector<std::string>()) << "after " << strsignal(sig);
  }
}

// Tests that exit() without destroying the SwapFile, and an uncaught exception (abort),
// still remove the file.
TEST_F(NvmeSwapTest, ExitAndAbortRemoveTheSwapFile) {
  int status = runChild(
      dir, [](SwapFile &) { std::exit(3); }, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(listDir(dir), std::vector<std::string>());
  status = runChild(
      dir, [](SwapFile &) { std::abort(); }, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  EXPECT_EQ(listDir(dir), std::vector<std::string>());
}

// Tests that under ds-run's rank signal handlers (JobLifetime) SIGTERM removes the file
// too.
TEST_F(NvmeSwapTest, RankLifetimeHandlersRemoveTheSwapFile) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    startRankLifetime(0, 1, 0); // the rank's handlers replace any installed before

    auto swap = SwapFile::create(dir, 0, 1 << 20, AioConfig());
    ssize_t w = write(ready[1], "r", 1);
    (void)w;
    for (;;)
      pause();
  }
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(listDir(dir), std::vector<std::string>());
}

/// Sets a file's modification time `seconds` into the past.
void ageFile(const std::string &path, int seconds) {
  struct timespec times[2];
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= seconds;
  times[1] = times[0];
  utimensat(AT_FDCWD, path.c_str(), times, 0);
}

/// The kernel drops a killed process's io_uring (and with it the file's last reference
/// and lock) asynchronously, some milliseconds after the process is reaped.
unsigned removeStaleWithin(const std::string &dir, int seconds) {
  unsigned removed = 0;
  for (int i = 0; i < seconds * 20 && removed == 0; ++i) {
    removed = removeStaleSwapFiles(dir);
    if (removed == 0)
      usleep(50000);
  }
  return removed;
}

/// Returns once nobody holds a lock on `path` (at most 10 s).
void waitUntilUnlocked(const std::string &path) {
  for (int i = 0; i < 200; ++i) {
    int fd = open(path.c_str(), O_RDONLY);
    bool unlocked = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (fd >= 0)
      close(fd);
    if (unlocked)
      return;
    usleep(50000);
  }
}

// Tests that the file of a SIGKILLed process (which cannot remove it) is removed by the
// next swap file created in the directory, while live swap files, recent files and other
// files stay.
TEST_F(NvmeSwapTest, KilledProcessFileIsRemovedLater) {
  int status = runChild(
      dir,
      [](SwapFile &) {
        for (;;)
          pause();
      },
      SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status));
  std::vector<std::string> left = listDir(dir);
  ASSERT_EQ(left.size(), 1u) << "SIGKILL cannot be caught: the file stays";
  std::string stale = dir + "/" + left[0];
  std::string other = dir + "/ds-swap-notes.txt";
  int fd = open(other.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  ageFile(other, 60);

  auto live = SwapFile::create(dir, 1, 4096, AioConfig());
  ageFile(live->path(), 60);
  EXPECT_EQ(removeStaleSwapFiles(dir), 0u)
      << "recently modified (and maybe still locked): kept";
  ageFile(stale, 60);
  EXPECT_EQ(removeStaleWithin(dir, 10), 1u);
  EXPECT_NE(access(stale.c_str(), F_OK), 0);
  EXPECT_EQ(access(live->path().c_str(), F_OK), 0) << "locked by its SwapFile: kept";
  EXPECT_EQ(access(other.c_str(), F_OK), 0) << "not a swap file: kept";
  unlink(other.c_str());

  // create() sweeps on its own. (No SwapFile of ours lives across the fork: its I/O
  // thread would not exist in the child.)
  live.reset();
  status = runChild(
      dir,
      [](SwapFile &) {
        for (;;)
          pause();
      },
      SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status));
  for (const std::string &name : listDir(dir))
    ageFile(dir + "/" + name, 60);
  for (const std::string &name : listDir(dir))
    waitUntilUnlocked(dir + "/" + name);
  auto next = SwapFile::create(dir, 2, 4096, AioConfig());
  EXPECT_EQ(listDir(dir), std::vector<std::string>{next->path().substr(dir.size() + 1)});
}

} // namespace
