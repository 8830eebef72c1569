// Worker threads behind parallelFor: spin briefly, then block.
#include "ds/runtime/ThreadPool.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/MemoryAdmission.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ds::rt {
namespace {

int gThreads = 0;

/// How long an idle thread spins (pause instructions) before it blocks: consecutive kernels
/// of a step are microseconds apart, and a futex wake-up costs tens of microseconds, so the
/// workers stay awake through a step and sleep between steps or when the cores are shared.
constexpr std::chrono::microseconds kSpin(200);

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Spins until done() or kSpin has passed; true when done() held.
template <typename Done> bool spinUntil(Done done) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (done())
      return true;
    cpuRelax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() - start > kSpin)
      return false;
  }
}

class Pool {
public:
  explicit Pool(int n) {
    for (int i = 0; i < n - 1; ++i)
      workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto &t : workers_)
      t.join();
  }
  // Runs task(i) for i in [0, tasks), the calling thread included.
  void run(int tasks, const std::function<void(int)> &task) {
    if (tasks > int(kIndexMask))
      fail("parallelFor: ", tasks, " tasks (at most ", kIndexMask, ")");
    std::unique_lock<std::mutex> runLock(runM_); // one parallel region at a time
    error_ = nullptr;
    task_.store(&task, std::memory_order_relaxed);
    pending_.store(tasks, std::memory_order_relaxed);
    uint64_t gen = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    state_.store(gen << 32 | uint64_t(tasks) << 16); // publishes task_ and pending_
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> l(m_);
      cv_.notify_all();
    }
    work(uint32_t(gen));
    if (!spinUntil([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> l(m_);
      mainSleeping_.store(true);
      done_.wait(l, [&] { return pending_.load() == 0; });
      mainSleeping_.store(false);
    }
    if (error_)
      std::rethrow_exception(error_);
  }

private:
  static constexpr uint64_t kIndexMask = 0xffff;
  // Takes task indices of generation `gen` until none is left. state_ packs the generation
  // (bits 32-63), the task count (16-31) and the next index (0-15), so a thread still
  // holding an older generation never takes an index of a newer one.
  void work(uint32_t gen) {
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      int i;
      do {
        if (uint32_t(s >> 32) != gen || (s & kIndexMask) >= ((s >> 16) & kIndexMask))
          return;
        i = int(s & kIndexMask);
      } while (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel));
      try {
        (*task_.load(std::memory_order_relaxed))(i);
      } catch (...) {
        std::lock_guard<std::mutex> l(m_);
        if (!error_)
          error_ = std::current_exception();
      }
      if (pending_.fetch_sub(1) == 1 && mainSleeping_.load()) {
        std::lock_guard<std::mutex> l(m_);
        done_.notify_all();
      }
    }
  }
  void loop() {
    uint32_t seen = 0;
    auto fresh = [&] { return uint32_t(state_.load() >> 32) != seen; };
    for (;;) {
      if (!spinUntil([&] { return fresh() || stop_.load(std::memory_order_relaxed); })) {
        std::unique_lock<std::mutex> l(m_);
        sleepers_.fetch_add(1);
        cv_.wait(l, [&] { return stop_.load() || fresh(); });
        sleepers_.fetch_sub(1);
      }
      if (stop_.load())
        return;
      seen = uint32_t(state_.load(std::memory_order_acquire) >> 32);
      work(seen);
    }
  }
  std::vector<std::thread> workers_;
  std::mutex m_, runM_;
  std::condition_variable cv_, done_;
  std::atomic<uint64_t> state_{0};
  std::atomic<const std::function<void(int)> *> task_{nullptr};
  std::atomic<int> pending_{0}, sleepers_{0};
  std::atomic<bool> stop_{false}, mainSleeping_{false};
  std::exception_ptr error_;
};

Pool &pool() {
  static Pool p(numThreads());
  return p;
}

} // namespace

int numThreads() {
  if (gThreads > 0)
    return gThreads;
  int n = 0;
  if (const char *e = std::getenv("DS_NUM_THREADS"))
    n = std::atoi(e);
  if (n <= 0) {
    int hw = int(std::max(1u, std::thread::hardware_concurrency()));
    n = std::max(1, hw / localRankCount());
  }
  gThreads = std::min(n, 256);
  return gThreads;
}

void setNumThreads(int n) { gThreads = std::max(1, n); }

void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &fn) {
  if (n <= 0)
    return;
  grain = std::max<int64_t>(grain, 1);
  int threads = numThreads();
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, threads * 4);
  if (threads == 1 || chunks <= 1) {
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  pool().run(int(chunks), [&](int i) {
    int64_t b = int64_t(i) * per, e = std::min(n, b + per);
    if (b < e)
      fn(b, e);
  });
}

} // namespace ds::rt
