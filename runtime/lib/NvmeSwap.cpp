// NVMe swap engine: swap file lifetime, request chunking and ordering, io_uring threads.
#include "ds/runtime/NvmeSwap.h"

#include "ds/runtime/Error.h"
#include "ds/runtime/RemoveOnExit.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <future>
#include <liburing.h>
#include <map>
#include <mutex>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace ds::rt {
namespace {

constexpr uint64_t kDirectAlign = 4096;
constexpr time_t kStaleAfterSeconds = 10;

uint64_t alignDown(uint64_t v, uint64_t a) { return v / a * a; }
uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/// One submitRead/submitWrite. Guarded by Engine::mu except the immutable fields.
struct Request {
  uint64_t ticket = 0;
  bool write = false;
  uint64_t offset = 0, bytes = 0; // the caller's range
  char *user = nullptr;           // the caller's buffer (never written for a write)
  uint64_t spanBegin = 0,
           spanEnd = 0;   // the file range the I/O covers (aligned when direct)
  uint64_t nextChunk = 0; // file offset of the next chunk to hand out
  unsigned inFlight = 0;  // chunks handed out and not finished
  bool active = false;    // every earlier conflicting request has finished
  bool finished = false;  // only failed requests stay in the table finished
  std::string error;
};

/// One slot of an I/O thread's ring: a chunk of a request in flight.
struct Chunk {
  Request *req = nullptr;
  uint64_t fileOffset = 0, length = 0; // the bytes the kernel transfers
  char *io = nullptr;     // where it transfers them (caller's buffer or bounce)
  char *bounce = nullptr; // this slot's aligned bounce buffer (lazily allocated)
  uint64_t done = 0;      // bytes transferred in the current phase
  bool bounced = false;
  bool readBeforeWrite =
      false; // a partial block: read it, merge the caller's bytes, write
  std::string error;
};

struct Worker {
  io_uring ring;
  bool ringReady = false;
  bool fixedFile = false; // the swap file is registered with the ring (index 0)
  unsigned group = 0;     // synchronous: the ring this thread helps stand in for
  std::vector<Chunk> slots;
  std::thread thread;
};

} // namespace

struct SwapFile::Engine {
  std::string path;
  int fd = -1;
  int removeSlot = -1;
  uint64_t size = 0;
  bool direct = false;
  uint64_t align = 1; // kDirectAlign with O_DIRECT, 1 buffered
  AioConfig cfg;

  std::mutex mu;
  // Signalled when a request is submitted or finishes and when the engine stops.
  std::condition_variable changed;
  std::map<uint64_t, std::unique_ptr<Request>> requests; // unfinished + failed, by ticket
  uint64_t nextTicket = 1;
  bool stopping = false;
  std::string fatal; // the rings cannot be used any more: every request fails with this
  std::atomic<uint64_t> bounced{0};
  std::atomic<unsigned> peakInFlight{0}; // most chunks one ring has had in flight
  bool synchronous = false;              // no io_uring: pread/pwrite threads
  std::vector<unsigned> groupInFlight;   // synchronous: chunks in flight per thread group
  std::vector<std::unique_ptr<Worker>> workers;

  ~Engine();
  uint64_t submit(bool write, uint64_t offset, char *buffer, uint64_t bytes);
  void activateLocked();
  bool takeChunkLocked(Chunk &c);
  bool prepareChunk(Chunk &c);
  void finishChunkLocked(Chunk &c);
  void failAllLocked(const std::string &why);
  std::string describe(const Request &r, const std::string &why) const;
  bool hasWorkLocked() const;
  bool transferred(Chunk &c, int64_t res);
  void run(Worker &w, std::promise<int> &started);
  void runSynchronous(Worker &w);
};

namespace {

bool conflicts(const Request &a, const Request &b) {
  return (a.write || b.write) && a.spanBegin < b.spanEnd && b.spanBegin < a.spanEnd;
}

void queueChunk(Worker &w, Chunk &c, int fd) {
  io_uring_sqe *sqe = io_uring_get_sqe(&w.ring); // never null: <= queueDepth in flight
  unsigned n = unsigned(c.length - c.done);
  int target = w.fixedFile ? 0 : fd;
  if (c.req->write && !c.readBeforeWrite)
    io_uring_prep_write(sqe, target, c.io + c.done, n, c.fileOffset + c.done);
  else
    io_uring_prep_read(sqe, target, c.io + c.done, n, c.fileOffset + c.done);
  if (w.fixedFile)
    sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data(sqe, &c);
}

/// Sets up the calling thread's ring: single issuer with task work deferred to its waits
/// where the kernel has them (6.1+), the swap file registered. Returns 0 or -errno.
int startRing(Worker &w, unsigned depth, int fd) {
  int r = -EINVAL;
  for (unsigned flags : {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                         unsigned(IORING_SETUP_COOP_TASKRUN), 0u}) {
    r = io_uring_queue_init(depth, &w.ring, flags);
    if (r != -EINVAL)
      break;
  }
  if (r < 0)
    return r;
  w.ringReady = true;
  w.fixedFile = io_uring_register_files(&w.ring, &fd, 1) == 0;
  return 0;
}

/// Submits every queued SQE and, with `wait`, returns only once a completion is ready
/// (one io_uring_enter for both); retries what the kernel asks to retry. Returns 0 or
/// -errno.
int submitQueued(io_uring &ring, bool wait) {
  for (;;) {
    int r = wait ? io_uring_submit_and_wait(&ring, 1) : io_uring_submit(&ring);
    if (r == -EAGAIN || r == -EBUSY || r == -ENOMEM)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    else if (r < 0 && r != -EINTR && r != -ETIME)
      return r;
    if (io_uring_sq_ready(&ring) == 0 && (!wait || io_uring_cq_ready(&ring) > 0))
      return 0;
  }
}

} // namespace

std::string SwapFile::Engine::describe(const Request &r, const std::string &why) const {
  return "nvme swap: " + path + ": " + (r.write ? "write" : "read") + " of " +
         std::to_string(r.bytes) + " bytes at offset " + std::to_string(r.offset) +
         " failed: " + why;
}

void SwapFile::Engine::activateLocked() {
  for (auto it = requests.begin(); it != requests.end(); ++it) {
    Request &r = *it->second;
    if (r.active || r.finished)
      continue;
    bool blocked = false;
    for (auto e = requests.begin(); e != it && !blocked; ++e)
      blocked = !e->second->finished && conflicts(*e->second, r);
    r.active = !blocked;
  }
}

bool SwapFile::Engine::hasWorkLocked() const {
  for (auto &entry : requests)
    if (entry.second->active && entry.second->nextChunk < entry.second->spanEnd)
      return true;
  return false;
}

bool SwapFile::Engine::takeChunkLocked(Chunk &c) {
  for (auto &entry : requests) {
    Request &r = *entry.second;
    if (!r.active || r.finished || r.nextChunk >= r.spanEnd)
      continue;
    char *bounce = c.bounce; // the slot keeps its bounce buffer
    c = Chunk();
    c.req = &r;
    c.fileOffset = r.nextChunk;
    c.length = std::min(cfg.blockSize, r.spanEnd - r.nextChunk);
    c.bounce = bounce;
    r.nextChunk += c.length;
    ++r.inFlight;
    return true;
  }
  return false;
}

/// Points the chunk at the caller's buffer or at the slot's bounce buffer (allocated on
/// first use); false with c.error set when that allocation fails.
bool SwapFile::Engine::prepareChunk(Chunk &c) {
  const Request &r = *c.req;
  uint64_t userBegin = std::max(c.fileOffset, r.offset);
  uint64_t userEnd = std::min(c.fileOffset + c.length, r.offset + r.bytes);
  char *userPtr = r.user + (userBegin - r.offset);
  bool whole = userBegin == c.fileOffset && userEnd == c.fileOffset + c.length;
  if (whole && reinterpret_cast<uintptr_t>(userPtr) % align == 0) {
    c.io = userPtr; // the fast path: the kernel moves the caller's bytes
    return true;
  }
  if (!c.bounce) {
    void *p = nullptr;
    if (posix_memalign(&p, kDirectAlign, cfg.blockSize) != 0) {
      c.error =
          "cannot allocate a " + std::to_string(cfg.blockSize) + "-byte bounce buffer";
      return false;
    }
    c.bounce = static_cast<char *>(p);
  }
  c.io = c.bounce;
  c.bounced = true;
  if (r.write && whole)
    std::memcpy(c.io, userPtr, c.length);
  c.readBeforeWrite = r.write && !whole;
  bounced += userEnd - userBegin;
  return true;
}

void SwapFile::Engine::finishChunkLocked(Chunk &c) {
  Request &r = *c.req;
  if (!c.error.empty() && r.error.empty()) {
    r.error = describe(r, c.error);
    r.nextChunk = r.spanEnd; // hand out no more of it
  }
  --r.inFlight;
  c.req = nullptr;
  if (r.inFlight > 0 || r.nextChunk < r.spanEnd)
    return;
  if (r.error.empty())
    requests.erase(r.ticket);
  else
    r.finished = true;
  activateLocked();
  changed.notify_all();
}

void SwapFile::Engine::failAllLocked(const std::string &why) {
  if (fatal.empty())
    fatal = why;
  for (auto it = requests.begin(); it != requests.end();) {
    Request &r = *it->second;
    if (r.error.empty())
      r.error = describe(r, why);
    r.nextChunk = r.spanEnd;
    if (r.inFlight == 0)
      r.finished = true;
    ++it;
  }
  changed.notify_all();
}

/// Accounts one transfer of chunk `c` (`res`: bytes moved or -errno, as io_uring and
/// pread/pwrite report them). Returns true when the chunk is finished (c.error says
/// whether it failed), false when it needs another transfer: the rest of a short one, a
/// retry after EINTR/EAGAIN, or the write that follows the read of a partial block.
bool SwapFile::Engine::transferred(Chunk &c, int64_t res) {
  if (res == -EINTR || res == -EAGAIN)
    return false;
  if (res < 0) {
    c.error = std::strerror(int(-res));
    return true;
  }
  if (res == 0) {
    c.error = "end of file after " + std::to_string(c.done) + " of " +
              std::to_string(c.length) + " bytes at file offset " +
              std::to_string(c.fileOffset) + " (was the swap file truncated?)";
    return true;
  }
  c.done += uint64_t(res);
  if (c.done < c.length)
    return false;
  const Request &q = *c.req;
  uint64_t userBegin = std::max(c.fileOffset, q.offset);
  uint64_t userEnd = std::min(c.fileOffset + c.length, q.offset + q.bytes);
  char *bounceAt = c.io + (userBegin - c.fileOffset);
  char *userAt = q.user + (userBegin - q.offset);
  if (c.readBeforeWrite) {
    // Merge the caller's bytes into the block just read, then write the block.
    std::memcpy(bounceAt, userAt, userEnd - userBegin);
    c.readBeforeWrite = false;
    c.done = 0;
    return false;
  }
  if (c.bounced && !q.write)
    std::memcpy(userAt, bounceAt, userEnd - userBegin);
  return true;
}

/// Puts a finished chunk's slot back in shape for the next one (keeps the bounce buffer).
static void recycle(Chunk &c) {
  c.bounced = false;
  c.readBeforeWrite = false;
  c.error.clear();
}

/// The I/O thread without io_uring: one chunk at a time with pread/pwrite; queueDepth of
/// them stand in for one ring.
void SwapFile::Engine::runSynchronous(Worker &w) {
  Chunk &c = w.slots[0];
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      changed.wait(lock, [&] { return stopping || hasWorkLocked(); });
      if (!takeChunkLocked(c))
        return; // stopping, nothing left
      unsigned &group = groupInFlight[w.group];
      if (++group > peakInFlight.load())
        peakInFlight.store(group);
    }
    if (prepareChunk(c)) {
      for (;;) {
        char *at = c.io + c.done;
        size_t n = size_t(c.length - c.done);
        off_t off = off_t(c.fileOffset + c.done);
        ssize_t r = c.req->write && !c.readBeforeWrite ? pwrite(fd, at, n, off)
                                                       : pread(fd, at, n, off);
        if (transferred(c, r < 0 ? -int64_t(errno) : int64_t(r)))
          break;
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    --groupInFlight[w.group];
    finishChunkLocked(c);
    recycle(c);
  }
}

void SwapFile::Engine::run(Worker &w, std::promise<int> &started) {
  int r = startRing(w, cfg.queueDepth, fd);
  started.set_value(r);
  if (r < 0)
    return;
  const unsigned depth = cfg.queueDepth;
  std::vector<Chunk *> freeSlots;
  for (Chunk &c : w.slots)
    freeSlots.push_back(&c);
  unsigned inFlight = 0;
  for (;;) {
    std::vector<Chunk *> fresh;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (inFlight == 0)
        changed.wait(lock, [&] { return stopping || hasWorkLocked(); });
      if (inFlight == 0 && stopping && !hasWorkLocked())
        return;
      bool mayTake = cfg.overlapEvents || inFlight == 0;
      while (mayTake && inFlight < depth && !freeSlots.empty()) {
        Chunk &c = *freeSlots.back();
        if (!takeChunkLocked(c))
          break;
        freeSlots.pop_back();
        fresh.push_back(&c);
        ++inFlight;
      }
      if (inFlight > peakInFlight.load())
        peakInFlight.store(inFlight); // under the lock: no lost update
    }
    std::vector<Chunk *> finished;
    for (Chunk *c : fresh) {
      if (!prepareChunk(*c)) {
        finished.push_back(c);
        continue;
      }
      queueChunk(w, *c, fd);
      if (cfg.singleSubmit && submitQueued(w.ring, false) < 0)
        break;
    }
    // Wait for a completion only when the ring holds something (not when every fresh
    // chunk failed before reaching it).
    int err = submitQueued(w.ring, inFlight > finished.size());
    if (err < 0) {
      // The ring is unusable: cancel what is in it and fail every request (nothing can
      // run).
      io_uring_queue_exit(&w.ring);
      w.ringReady = false;
      std::lock_guard<std::mutex> lock(mu);
      for (Chunk &c : w.slots)
        if (c.req) {
          c.error = std::string("io_uring_enter: ") + std::strerror(-err);
          finishChunkLocked(c);
        }
      failAllLocked(std::string("io_uring_enter: ") + std::strerror(-err));
      return;
    }
    io_uring_cqe *cqe = nullptr;
    while (io_uring_peek_cqe(&w.ring, &cqe) == 0 && cqe) {
      Chunk &c = *static_cast<Chunk *>(io_uring_cqe_get_data(cqe));
      int64_t res = cqe->res;
      io_uring_cqe_seen(&w.ring, cqe);
      if (transferred(c, res))
        finished.push_back(&c);
      else
        queueChunk(w, c, fd); // the rest, a retry, or the write after a read-modify
      cqe = nullptr;
    }
    if (!finished.empty()) {
      std::lock_guard<std::mutex> lock(mu);
      for (Chunk *c : finished) {
        finishChunkLocked(*c);
        recycle(*c);
        freeSlots.push_back(c);
        --inFlight;
      }
    }
  }
}

uint64_t SwapFile::Engine::submit(bool write, uint64_t offset, char *buffer,
                                  uint64_t bytes) {
  if (offset > size || bytes > size - offset)
    fail("nvme swap: ", path, ": ", write ? "write" : "read", " of ", bytes,
         " bytes at offset ", offset, " is outside the swap file (", size, " bytes)");
  if (bytes > 0 && !buffer)
    fail("nvme swap: ", path, ": ", write ? "write" : "read", " of ", bytes,
         " bytes at offset ", offset, " has no buffer");
  auto req = std::make_unique<Request>();
  req->write = write;
  req->offset = offset;
  req->bytes = bytes;
  req->user = buffer;
  req->spanBegin = alignDown(offset, align);
  req->spanEnd = bytes ? alignUp(offset + bytes, align) : req->spanBegin;
  req->nextChunk = req->spanBegin;
  std::lock_guard<std::mutex> lock(mu);
  if (!fatal.empty())
    fail(describe(*req, fatal));
  uint64_t ticket = nextTicket++;
  req->ticket = ticket;
  if (bytes == 0)
    return ticket; // nothing to move: complete at once
  requests.emplace(ticket, std::move(req));
  activateLocked();
  changed.notify_all();
  return ticket;
}

SwapFile::Engine::~Engine() {
  {
    std::unique_lock<std::mutex> lock(mu);
    changed.wait(lock, [&] {
      for (auto &entry : requests)
        if (!entry.second->finished)
          return false;
      return true;
    });
    stopping = true;
    changed.notify_all();
  }
  for (auto &w : workers) {
    if (w->thread.joinable())
      w->thread.join();
    if (w->ringReady)
      io_uring_queue_exit(&w->ring);
    for (Chunk &c : w->slots)
      std::free(c.bounce);
  }
  if (fd >= 0)
    close(fd);
  if (!path.empty())
    unlink(path.c_str());
  unregisterRemoveOnExit(removeSlot);
}

std::string checkSwapDirectory(const std::string &dir, uint64_t bytes) {
  std::string what = "swap directory '" + dir + "'";
  if (dir.empty())
    return "swap directory is empty: name a directory on a local NVMe device";
  struct stat st;
  if (stat(dir.c_str(), &st) != 0)
    return what + (errno == ENOENT
                       ? std::string(" does not exist")
                       : std::string(" cannot be examined: ") + strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return what + " is not a directory";
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    return what + " is not writable: " + strerror(errno);
  struct statvfs vfs;
  if (statvfs(dir.c_str(), &vfs) != 0)
    return what + ": statvfs failed: " + strerror(errno);
  if (vfs.f_flag & ST_RDONLY)
    return what + " is not writable: read-only filesystem";
  uint64_t available = uint64_t(vfs.f_bavail) * uint64_t(vfs.f_frsize);
  uint64_t needed = alignUp(bytes, kDirectAlign);
  if (available < needed)
    return what + " has too little free space: the swap file needs " +
           std::to_string(needed) + " bytes, " + std::to_string(available) +
           " are available";
  return "";
}

std::string swapFilePath(const std::string &dir, int rank) {
  std::string base = dir;
  while (base.size() > 1 && base.back() == '/')
    base.pop_back();
  return base + "/ds-swap-rank" + std::to_string(rank) + "-" + std::to_string(getpid()) +
         ".swp";
}

unsigned removeStaleSwapFiles(const std::string &dir) {
  const std::string prefix = "ds-swap-rank", suffix = ".swp";
  DIR *d = opendir(dir.c_str());
  if (!d)
    return 0;
  unsigned removed = 0;
  time_t now = time(nullptr);
  while (dirent *entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name.size() <= prefix.size() + suffix.size() ||
        name.compare(0, prefix.size(), prefix) ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix))
      continue;
    std::string path = dir + "/" + name;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
      continue;
    // Live files are locked by their SwapFile; the age covers the instant between a
    // SwapFile's open and its flock.
    struct stat st;
    bool stale = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                 now - st.st_mtime >= kStaleAfterSeconds &&
                 flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (stale && unlink(path.c_str()) == 0)
      ++removed;
    close(fd);
  }
  closedir(d);
  return removed;
}

std::unique_ptr<SwapFile> SwapFile::create(const std::string &dir, int rank,
                                           uint64_t bytes, const AioConfig &cfg) {
  if (cfg.blockSize == 0 || cfg.blockSize % kDirectAlign != 0 ||
      cfg.blockSize > (1u << 30))
    fail("nvme swap: aio block_size ", cfg.blockSize,
         " must be a multiple of 4096 between 4096 and 1 GiB");
  if (cfg.queueDepth < 1 || cfg.queueDepth > 4096)
    fail("nvme swap: aio queue_depth ", cfg.queueDepth, " must be between 1 and 4096");
  if (cfg.threadCount < 1 || cfg.threadCount > 64)
    fail("nvme swap: aio thread_count ", cfg.threadCount, " must be between 1 and 64");
  if (unsigned stale = removeStaleSwapFiles(dir))
    std::fprintf(
        stderr,
        "warning: nvme swap: removed %u stale swap file(s) from %s (left by killed "
        "processes)\n",
        stale, dir.c_str());
  std::string why = checkSwapDirectory(dir, bytes);
  if (!why.empty())
    fail("nvme swap: ", why);

  auto e = std::make_unique<Engine>();
  e->path = swapFilePath(dir, rank);
  e->size = bytes;
  e->cfg = cfg;
  e->removeSlot = registerRemoveOnExit(e->path); // before the file exists: no window
  int flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
  int err = 0;
  if (cfg.directIo) {
    e->fd = open(e->path.c_str(), flags | O_DIRECT, 0600);
    err = e->fd < 0 ? errno : 0;
  }
  if (!cfg.directIo || err == EINVAL) {
    if (err == EINVAL) {
      std::fprintf(
          stderr,
          "warning: nvme swap: %s does not support O_DIRECT; using buffered I/O\n",
          dir.c_str());
      flags &= ~O_EXCL; // the refused O_DIRECT open may have created the file already
    }
    e->fd = open(e->path.c_str(), flags, 0600);
    err = e->fd < 0 ? errno : 0;
  }
  if (e->fd < 0) {
    if (err != EEXIST)
      unlink(e->path.c_str());
    unregisterRemoveOnExit(e->removeSlot);
    e->removeSlot = -1;
    std::string path = e->path;
    e->path.clear(); // the destructor must not unlink somebody else's file
    fail("nvme swap: cannot create ", path, ": ", std::strerror(err));
  }
  // The lock says "alive" to removeStaleSwapFiles; it dies with the process, however it
  // dies.
  flock(e->fd, LOCK_EX | LOCK_NB);
  e->direct = (fcntl(e->fd, F_GETFL) & O_DIRECT) != 0;
  e->align = e->direct ? kDirectAlign : 1;
  uint64_t allocated = alignUp(std::max<uint64_t>(bytes, 1), kDirectAlign);
  err = posix_fallocate(e->fd, 0, off_t(allocated));
  if (err == EOPNOTSUPP || err == EINVAL)
    err = ftruncate(e->fd, off_t(allocated)) == 0 ? 0 : errno; // sparse, still sized
  if (err != 0)
    fail("nvme swap: cannot preallocate ", allocated, " bytes for ", e->path, ": ",
         std::strerror(err));

  // Each I/O thread creates its own ring (a single-issuer ring belongs to its creator).
  for (unsigned t = 0; cfg.useIoUring && t < cfg.threadCount; ++t) {
    auto w = std::make_unique<Worker>();
    w->slots.resize(cfg.queueDepth);
    std::promise<int> started;
    std::future<int> result = started.get_future();
    w->thread = std::thread(
        [engine = e.get(), worker = w.get(), started = std::move(started)]() mutable {
          engine->run(*worker, started);
        });
    int r = result.get();
    e->workers.push_back(std::move(w));
    if (r == -EPERM || r == -ENOSYS || r == -EACCES) {
      // Disabled (sysctl kernel.io_uring_disabled) or filtered (container seccomp).
      std::fprintf(stderr,
                   "warning: nvme swap: io_uring is not available (%s); using %u "
                   "pread/pwrite threads\n",
                   std::strerror(-r), cfg.threadCount * cfg.queueDepth);
      e->synchronous = true;
      break;
    }
    if (r < 0)
      fail("nvme swap: ", e->path, ": io_uring_queue_init(", cfg.queueDepth,
           ") failed: ", std::strerror(-r));
  }
  if (!cfg.useIoUring || e->synchronous) {
    e->synchronous = true;
    e->groupInFlight.assign(cfg.threadCount, 0);
    for (unsigned t = 0; t < cfg.threadCount * cfg.queueDepth; ++t) {
      auto w = std::make_unique<Worker>();
      w->slots.resize(1);
      w->group = t / cfg.queueDepth;
      w->thread = std::thread(
          [engine = e.get(), worker = w.get()] { engine->runSynchronous(*worker); });
      e->workers.push_back(std::move(w));
    }
  }
  return std::unique_ptr<SwapFile>(new SwapFile(std::move(e)));
}

SwapFile::SwapFile(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
SwapFile::~SwapFile() = default;

uint64_t SwapFile::submitRead(uint64_t offset, void *dst, uint64_t bytes) {
  return engine_->submit(false, offset, static_cast<char *>(dst), bytes);
}

uint64_t SwapFile::submitWrite(uint64_t offset, const void *src, uint64_t bytes) {
  return engine_->submit(true, offset, const_cast<char *>(static_cast<const char *>(src)),
                         bytes);
}

void SwapFile::wait(uint64_t ticket) {
  Engine &e = *engine_;
  std::unique_lock<std::mutex> lock(e.mu);
  if (ticket == 0 || ticket >= e.nextTicket)
    fail("nvme swap: ", e.path, ": wait for ticket ", ticket, " that was never issued");
  auto pending = [&] {
    auto it = e.requests.find(ticket);
    return it != e.requests.end() && !it->second->finished;
  };
  e.changed.wait(lock, [&] { return !pending(); });
  auto it = e.requests.find(ticket);
  if (it == e.requests.end())
    return; // finished without error (or already waited for)
  std::string error = it->second->error;
  e.requests.erase(it);
  fail(error); // finished requests left in the table are the failed ones
}

void SwapFile::drain() {
  Engine &e = *engine_;
  std::unique_lock<std::mutex> lock(e.mu);
  e.changed.wait(lock, [&] {
    for (auto &entry : e.requests)
      if (!entry.second->finished)
        return false;
    return true;
  });
  if (e.requests.empty())
    return;
  std::string error = e.requests.begin()->second->error;
  e.requests.clear();
  fail(error);
}

const std::string &SwapFile::path() const { return engine_->path; }
uint64_t SwapFile::size() const { return engine_->size; }
bool SwapFile::directIo() const { return engine_->direct; }
uint64_t SwapFile::bouncedBytes() const { return engine_->bounced.load(); }
unsigned SwapFile::peakChunksInFlight() const { return engine_->peakInFlight.load(); }

} // namespace ds::rt
