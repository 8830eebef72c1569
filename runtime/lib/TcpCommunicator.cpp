// Communicator over TCP for ranks started the way torchrun starts them (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT): a full mesh of sockets; reductions in rank order, so every
// rank gets the same bits and a run is reproducible.
#include "ds/runtime/Communicator.h"
#include "ds/runtime/JobLifetime.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace ds::rt {
namespace {

// What started the ranks, for error messages: a torchrun-style environment or Slurm's srun.
const char *launchKind = "torchrun-style launch";

int envInt(const char *name, int lo, int hi) {
  const char *v = std::getenv(name);
  char *end = nullptr;
  long x = v ? std::strtol(v, &end, 10) : -1;
  if (!v || !*v || *end || x < lo || x > hi)
    fail(launchKind, ": ", name, " must be an integer in [", lo, ", ", hi,
         "], got '", v ? v : "(unset)", "'");
  return int(x);
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void writeAll(int fd, const void *p, size_t n, int peer) {
  const char *c = static_cast<const char *>(p);
  while (n) {
    ssize_t w = ::send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      fail("connection to rank ", peer, " failed while sending: ", std::strerror(errno));
    c += w;
    n -= size_t(w);
  }
}

void readAll(int fd, void *p, size_t n, int peer) {
  char *c = static_cast<char *>(p);
  while (n) {
    ssize_t r = ::recv(fd, c, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0)
      fail("rank ", peer, " closed its connection (did it die?)");
    if (r < 0)
      fail("connection to rank ", peer,
           " failed while receiving: ", std::strerror(errno));
    c += r;
    n -= size_t(r);
  }
}

sockaddr_in resolve(const std::string &host, int port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res)
    fail(launchKind, ": cannot resolve MASTER_ADDR '", host,
         "': ", gai_strerror(rc));
  sockaddr_in a = *reinterpret_cast<sockaddr_in *>(res->ai_addr);
  freeaddrinfo(res);
  a.sin_port = htons(uint16_t(port));
  return a;
}

/// Connects to `addr`, retrying while the peer is not listening yet (up to `seconds`).
int connectWithRetry(const sockaddr_in &addr, int seconds, const std::string &what) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      fail("socket: ", std::strerror(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof(addr)) == 0) {
      setNoDelay(fd);
      return fd;
    }
    int err = errno;
    ::close(fd);
    if (std::chrono::steady_clock::now() > deadline)
      fail(launchKind, ": cannot connect to ", what, ": ", std::strerror(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int listenOn(int port, int backlog, uint16_t &boundPort) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    fail("socket: ", std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(uint16_t(port));
  if (::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 ||
      ::listen(fd, backlog) != 0)
    fail(launchKind, ": cannot listen on port ", port, ": ",
         std::strerror(errno));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  boundPort = ntohs(a.sin_port);
  return fd;
}

int acceptWithin(int listenFd, int seconds, const char *what) {
  pollfd p{listenFd, POLLIN, 0};
  int rc;
  do
    rc = ::poll(&p, 1, seconds * 1000);
  while (rc < 0 && errno == EINTR);
  if (rc <= 0)
    fail(launchKind, ": no ", what, " connected within ", seconds, " s");
  int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0)
    fail("accept: ", std::strerror(errno));
  setNoDelay(fd);
  return fd;
}

bool is16(DType t) { return t == ds::plan::F16 || t == ds::plan::BF16; }

/// acc (f32 for 16-bit types, else the type itself) op= src, elementwise.
template <typename T> void combine(T *acc, const T *src, int64_t n, ReduceOp op) {
  for (int64_t i = 0; i < n; ++i)
    acc[i] = op == ReduceOp::Max ? (src[i] > acc[i] || acc[i] != acc[i] ? src[i] : acc[i])
             : op == ReduceOp::Min
                 ? (src[i] < acc[i] || acc[i] != acc[i] ? src[i] : acc[i])
                 : T(acc[i] + src[i]);
}

class TcpCommunicator : public Communicator {
public:
  TcpCommunicator(int rank, int world, const std::string &masterAddr, int masterPort,
                  int timeoutSeconds)
      : rank_(rank), size_(world), fds_(size_t(world), -1) {
    int wait = timeoutSeconds > 0 ? timeoutSeconds : 1800;
    uint16_t myPort = 0;
    int listenFd = -1;
    if (rank == 0) {
      listenFd = listenOn(masterPort, world, myPort);
      // Everyone connects to rank 0 and says who it is and where it listens.
      std::vector<uint32_t> addrs(size_t(world), 0);
      std::vector<uint16_t> ports(size_t(world), 0);
      for (int i = 1; i < world; ++i) {
        sockaddr_in peer{};
        socklen_t len = sizeof(peer);
        int fd = acceptWithin(listenFd, wait, "rank");
        getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &len);
        int32_t hello[2];
        readAll(fd, hello, sizeof(hello), -1);
        int r = hello[0];
        if (r < 1 || r >= world || fds_[size_t(r)] >= 0)
          fail(launchKind, ": a process connected as rank ", r, " of ", world);
        fds_[size_t(r)] = fd;
        addrs[size_t(r)] = peer.sin_addr.s_addr;
        ports[size_t(r)] = uint16_t(hello[1]);
      }
      for (int r = 1; r < world; ++r) {
        writeAll(fds_[size_t(r)], addrs.data(), addrs.size() * sizeof(uint32_t), r);
        writeAll(fds_[size_t(r)], ports.data(), ports.size() * sizeof(uint16_t), r);
      }
    } else {
      listenFd = listenOn(0, world, myPort);
      int fd =
          connectWithRetry(resolve(masterAddr, masterPort), wait,
                           "rank 0 at " + masterAddr + ":" + std::to_string(masterPort));
      int32_t hello[2] = {rank, myPort};
      writeAll(fd, hello, sizeof(hello), 0);
      fds_[0] = fd;
      std::vector<uint32_t> addrs(static_cast<size_t>(world));
      std::vector<uint16_t> ports(static_cast<size_t>(world));
      readAll(fd, addrs.data(), addrs.size() * sizeof(uint32_t), 0);
      readAll(fd, ports.data(), ports.size() * sizeof(uint16_t), 0);
      // Lower ranks (but 0) listen for this one; higher ranks connect here.
      for (int r = 1; r < rank; ++r) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = addrs[size_t(r)];
        a.sin_port = htons(ports[size_t(r)]);
        int pfd = connectWithRetry(a, wait, "rank " + std::to_string(r));
        int32_t me = rank;
        writeAll(pfd, &me, sizeof(me), r);
        fds_[size_t(r)] = pfd;
      }
      for (int i = rank + 1; i < world; ++i) {
        int pfd = acceptWithin(listenFd, wait, "higher rank");
        int32_t r = -1;
        readAll(pfd, &r, sizeof(r), -1);
        if (r <= rank || r >= world || fds_[size_t(r)] >= 0)
          fail(launchKind, ": unexpected connection from rank ", r);
        fds_[size_t(r)] = pfd;
      }
    }
    ::close(listenFd);
    for (int r = 0; r < world; ++r)
      if (r != rank) {
        int fl = fcntl(fds_[size_t(r)], F_GETFL);
        fcntl(fds_[size_t(r)], F_SETFL, fl | O_NONBLOCK);
      }
  }
  ~TcpCommunicator() override {
    for (int fd : fds_)
      if (fd >= 0)
        ::close(fd);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "tcp"; }

  void allGather(const void *in, void *out, int64_t count, DType dtype) override {
    CollectiveScope watched("all_gather");
    allGatherRaw(in, out, size_t(count) * dtypeSize(dtype));
  }

  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     ReduceOp op) override {
    CollectiveScope watched("reduce_scatter");
    reduceBlock(static_cast<const char *>(in), out, count, size_t(count), dtype, op);
  }

  void allReduce(const void *in, void *out, int64_t count, DType dtype,
                 ReduceOp op) override {
    CollectiveScope watched("all_reduce");
    // Rank r reduces chunk r (in rank order), then every rank gathers every chunk.
    size_t es = dtypeSize(dtype);
    int64_t chunk = (count + size_ - 1) / size_;
    std::vector<char> padded(size_t(chunk) * size_t(size_) * es, 0);
    std::memcpy(padded.data(), in, size_t(count) * es);
    std::vector<char> mine(size_t(chunk) * es);
    reduceBlock(padded.data(), mine.data(), chunk, size_t(chunk), dtype, op);
    std::vector<char> all(padded.size());
    allGatherRaw(mine.data(), all.data(), size_t(chunk) * es);
    std::memcpy(out, all.data(), size_t(count) * es);
  }

  void broadcast(void *buf, int64_t count, DType dtype, int root) override {
    CollectiveScope watched("broadcast");
    if (root < 0 || root >= size_)
      fail("broadcast root ", root, " is not a rank of a world of ", size_);
    size_t bytes = size_t(count) * dtypeSize(dtype);
    if (rank_ == root) {
      for (int r = 0; r < size_; ++r)
        if (r != root)
          exchange(r, buf, bytes, -1, nullptr, 0);
    } else {
      exchange(-1, nullptr, 0, root, buf, bytes);
    }
  }

  void barrier() override {
    CollectiveScope watched("barrier");
    int32_t x = 0;
    std::vector<int32_t> all(static_cast<size_t>(size_));
    allGatherRaw(&x, all.data(), sizeof(x));
  }

private:
  /// Sends `sbytes` to rank `to` while receiving `rbytes` from rank `from` (either may be
  /// -1), interleaved with poll() so that two ranks sending to each other never deadlock.
  void exchange(int to, const void *send, size_t sbytes, int from, void *recv,
                size_t rbytes) {
    const char *s = static_cast<const char *>(send);
    char *r = static_cast<char *>(recv);
    size_t sent = to < 0 ? sbytes : 0, got = from < 0 ? rbytes : 0;
    while (sent < sbytes || got < rbytes) {
      pollfd p[2];
      int n = 0, si = -1, ri = -1;
      if (sent < sbytes) {
        si = n;
        p[n++] = {fds_[size_t(to)], POLLOUT, 0};
      }
      if (got < rbytes) {
        ri = n;
        p[n++] = {fds_[size_t(from)], POLLIN, 0};
      }
      int rc = ::poll(p, nfds_t(n), -1);
      if (rc < 0) {
        if (errno == EINTR)
          continue;
        fail("poll: ", std::strerror(errno));
      }
      if (si >= 0 && (p[si].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = ::send(fds_[size_t(to)], s + sent, sbytes - sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
          fail("connection to rank ", to,
               " failed while sending: ", std::strerror(errno));
        if (w > 0)
          sent += size_t(w);
      }
      if (ri >= 0 && (p[ri].revents & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t g = ::recv(fds_[size_t(from)], r + got, rbytes - got, 0);
        if (g == 0)
          fail("rank ", from, " closed its connection (did it die?)");
        if (g < 0 && errno != EAGAIN && errno != EINTR)
          fail("connection to rank ", from,
               " failed while receiving: ", std::strerror(errno));
        if (g > 0)
          got += size_t(g);
      }
    }
  }

  /// out[r*bytes ..] = rank r's `in` (which may already be at its place in `out`).
  void allGatherRaw(const void *in, void *out, size_t bytes) {
    char *o = static_cast<char *>(out);
    if (o + size_t(rank_) * bytes != in)
      std::memmove(o + size_t(rank_) * bytes, in, bytes);
    for (int k = 1; k < size_; ++k) {
      int to = (rank_ + k) % size_, from = (rank_ - k + size_) % size_;
      exchange(to, o + size_t(rank_) * bytes, bytes, from, o + size_t(from) * bytes,
               bytes);
    }
  }

  /// out = reduce over ranks, in rank order, of block rank() (`count` elements at
  /// stride `stride`) of each rank's `in`.
  void reduceBlock(const char *in, void *out, int64_t count, size_t stride, DType dtype,
                   ReduceOp op) {
    size_t es = dtypeSize(dtype), bytes = size_t(count) * es;
    std::vector<char> blocks(bytes * size_t(size_));
    std::memcpy(blocks.data() + size_t(rank_) * bytes, in + size_t(rank_) * stride * es,
                bytes);
    for (int k = 1; k < size_; ++k) {
      int to = (rank_ + k) % size_, from = (rank_ - k + size_) % size_;
      exchange(to, in + size_t(to) * stride * es, bytes, from,
               blocks.data() + size_t(from) * bytes, bytes);
    }
    auto block = [&](int r) { return blocks.data() + size_t(r) * bytes; };
    if (is16(dtype)) {
      std::vector<float> acc(static_cast<size_t>(count)), x(acc.size());
      auto widen = [&](const char *src, float *dst) {
        const uint16_t *s = reinterpret_cast<const uint16_t *>(src);
        for (int64_t i = 0; i < count; ++i)
          dst[i] = dtype == ds::plan::F16 ? halfToFloat(s[i]) : bf16ToFloat(s[i]);
      };
      widen(block(0), acc.data());
      for (int r = 1; r < size_; ++r) {
        widen(block(r), x.data());
        combine(acc.data(), x.data(), count, op);
      }
      if (op == ReduceOp::Avg)
        for (float &v : acc)
          v = float(v * (1.0 / size_));
      uint16_t *d = static_cast<uint16_t *>(out);
      for (int64_t i = 0; i < count; ++i)
        d[i] = dtype == ds::plan::F16 ? floatToHalf(acc[size_t(i)])
                                      : floatToBf16(acc[size_t(i)]);
      return;
    }
    std::memcpy(out, block(0), bytes);
    for (int r = 1; r < size_; ++r)
      switch (dtype) {
      case ds::plan::F32:
        combine(static_cast<float *>(out), reinterpret_cast<const float *>(block(r)),
                count, op);
        break;
      case ds::plan::F64:
        combine(static_cast<double *>(out), reinterpret_cast<const double *>(block(r)),
                count, op);
        break;
      case ds::plan::I64:
        combine(static_cast<int64_t *>(out), reinterpret_cast<const int64_t *>(block(r)),
                count, op);
        break;
      case ds::plan::I32:
        combine(static_cast<int32_t *>(out), reinterpret_cast<const int32_t *>(block(r)),
                count, op);
        break;
      default:
        fail("no reduction for ", dtypeName(dtype));
      }
    if (op == ReduceOp::Avg) {
      if (dtype == ds::plan::F64)
        for (int64_t i = 0; i < count; ++i)
          static_cast<double *>(out)[i] *= 1.0 / size_;
      else if (dtype == ds::plan::F32)
        for (int64_t i = 0; i < count; ++i)
          static_cast<float *>(out)[i] =
              float(static_cast<float *>(out)[i] * (1.0 / size_));
      else
        fail("avg of integers");
    }
  }

  int rank_, size_;
  std::vector<int> fds_;
};

} // namespace

bool launchedByTorchrun() {
  return !launchedByMpi() && std::getenv("RANK") && std::getenv("WORLD_SIZE") &&
         std::getenv("MASTER_ADDR") && std::getenv("MASTER_PORT");
}

bool launchedBySrun() {
  return !launchedByMpi() && !launchedByTorchrun() && std::getenv("SLURM_PROCID") &&
         std::getenv("SLURM_NTASKS");
}

std::string firstSlurmHost(const std::string &list) {
  // Slurm's compressed host lists: "node[01-04,07],gpu5" -> "node01".
  std::string head = list.substr(0, list.find_first_of(",["));
  size_t open = list.find('[');
  if (open == std::string::npos || open != head.size())
    return head;
  size_t end = list.find_first_of(",-]", open + 1);
  if (end == std::string::npos)
    return "";
  return head + list.substr(open + 1, end - open - 1);
}

std::unique_ptr<Communicator> makeTcpCommunicator(int timeoutSeconds) {
  bool srun = launchedBySrun();
  launchKind = srun ? "srun launch" : "torchrun-style launch";
  int world = envInt(srun ? "SLURM_NTASKS" : "WORLD_SIZE", 1, 65536);
  int rank = envInt(srun ? "SLURM_PROCID" : "RANK", 0, world - 1);
  if (world == 1)
    return makeSingleRankCommunicator();
  std::string addr;
  int port;
  if (!srun || std::getenv("MASTER_ADDR")) {
    addr = std::getenv("MASTER_ADDR");
  } else {
    // As PyTorch Lightning does under srun: rank 0 runs on the first node of the step.
    for (const char *v : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"})
      if (const char *list = std::getenv(v)) {
        addr = firstSlurmHost(list);
        if (addr.empty())
          fail("srun launch: cannot read the first host of ", v, "='", list, "'");
        break;
      }
    if (addr.empty())
      fail("srun launch: set MASTER_ADDR (or SLURM_STEP_NODELIST) to the host of rank 0");
  }
  if (!srun || std::getenv("MASTER_PORT")) {
    port = envInt("MASTER_PORT", 1, 65535);
  } else {
    // Every rank of the job derives the same port from the job id (Lightning's rule).
    const char *job = std::getenv("SLURM_JOB_ID") ? "SLURM_JOB_ID" : "SLURM_JOBID";
    port = 15000 + envInt(job, 0, 2147483647) % 10000;
  }
  return std::make_unique<TcpCommunicator>(rank, world, addr, port, timeoutSeconds);
}

} // namespace ds::rt
