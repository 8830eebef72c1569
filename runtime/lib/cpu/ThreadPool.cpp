// Worker threads behind parallelFor.
#include "ds/runtime/ThreadPool.h"
#include "ds/runtime/MemoryAdmission.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ds::rt {
namespace {

int gThreads = 0;

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
    std::unique_lock<std::mutex> runLock(runM_); // one parallel region at a time
    {
      std::lock_guard<std::mutex> l(m_);
      task_ = &task;
      tasks_ = tasks;
      next_ = 0;
      pending_ = tasks;
      error_ = nullptr;
      ++gen_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> l(m_);
    done_.wait(l, [&] { return pending_ == 0; });
    task_ = nullptr;
    if (error_)
      std::rethrow_exception(error_);
  }

private:
  void work() {
    for (;;) {
      int i;
      const std::function<void(int)> *task;
      {
        std::lock_guard<std::mutex> l(m_);
        if (!task_ || next_ >= tasks_)
          return;
        i = next_++;
        task = task_;
      }
      try {
        (*task)(i);
      } catch (...) {
        std::lock_guard<std::mutex> l(m_);
        if (!error_)
          error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> l(m_);
      if (--pending_ == 0)
        done_.notify_all();
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return stop_ || gen_ != seen; });
        if (stop_)
          return;
        seen = gen_;
      }
      work();
    }
  }
  std::vector<std::thread> workers_;
  std::mutex m_, runM_;
  std::condition_variable cv_, done_;
  const std::function<void(int)> *task_ = nullptr;
  int tasks_ = 0, next_ = 0, pending_ = 0;
  uint64_t gen_ = 0;
  bool stop_ = false;
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
