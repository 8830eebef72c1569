// The ds-run launcher: mpirun as a child, a sentinel for the launcher's own death, one line
// per death of a rank, mpirun or the launcher itself.
#include "ds/runtime/JobLauncher.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/JobLifetime.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace ds::rt {
namespace {

// ---- the launcher: mpirun as a child, a sentinel for the launcher's own death, one line per death

volatile sig_atomic_t gLauncherSignal = 0; // the last SIGINT/SIGTERM/SIGHUP the launcher got

void onLauncherSignal(int sig) { gLauncherSignal = sig; }

std::string sessionBase() {
  const char *t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

int64_t monotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sleepMs(int ms) {
  struct timespec ts = {ms / 1000, long(ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr); // a signal cuts it short: the caller's loop looks at it at once
}

bool processGone(int pid) {
  char st = processState(pid);
  return st == 0 || st == 'Z' || st == 'X';
}

std::string hostName() {
  char h[256] = {};
  gethostname(h, sizeof(h) - 1);
  return h;
}

/// Session directories of launchers that were SIGKILLed (their launcher.pid names a process of
/// this host that no longer exists) are removed by the next launch.
void removeStaleSessionDirs(const std::string &base) {
  const std::string host = hostName();
  std::error_code ec;
  namespace fs = std::filesystem;
  for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path &dir = it->path();
    if (dir.filename().string().rfind("ds-run-", 0) != 0)
      continue;
    FILE *f = std::fopen((dir / "launcher.pid").c_str(), "r");
    if (!f)
      continue;
    long pid = 0;
    char owner[256] = {};
    bool ok = std::fscanf(f, "%ld %255s", &pid, owner) == 2;
    std::fclose(f);
    struct stat sb;
    if (!ok || pid <= 0 || owner != host || stat(dir.c_str(), &sb) != 0 ||
        sb.st_uid != geteuid())
      continue;
    if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) {
      std::error_code rm;
      fs::remove_all(dir, rm);
    }
  }
}

/// oom_kill from this cgroup's memory.events (cgroup v2), -1 when unreadable.
long oomKillCount() {
  std::FILE *f = std::fopen("/proc/self/cgroup", "r");
  if (!f)
    return -1;
  char line[4096];
  std::string path;
  while (std::fgets(line, sizeof(line), f))
    if (std::strncmp(line, "0::", 3) == 0) {
      path = line + 3;
      while (!path.empty() && path.back() == '\n')
        path.pop_back();
    }
  std::fclose(f);
  f = std::fopen(("/sys/fs/cgroup" + path + "/memory.events").c_str(), "r");
  if (!f)
    return -1;
  long n = -1;
  char key[64];
  long v;
  while (std::fscanf(f, "%63s %ld", key, &v) == 2)
    if (std::strcmp(key, "oom_kill") == 0)
      n = v;
  std::fclose(f);
  return n;
}

struct JobEnd {
  std::string line; // empty: nothing to add (success, or a rank printed its own line)
  int exitCode;
};

/// How the job ended, from mpirun's wait status (-1: unknown) and the ranks' status pages.
JobEnd explainJobEnd(const std::string &dir, int world, pid_t mpirun, int mpirunStatus,
                     int launcherSignal, long oomBefore) {
  std::vector<RankStatus> st(static_cast<size_t>(world));
  std::vector<bool> have(static_cast<size_t>(world));
  int furthest = -1;
  for (int r = 0; r < world; ++r) {
    have[size_t(r)] = readRankStatus(dir, r, st[size_t(r)]);
    if (have[size_t(r)] && (furthest < 0 || st[size_t(r)].step > st[size_t(furthest)].step))
      furthest = r;
  }
  std::string where = furthest < 0 ? "setup (no rank started)"
                                    : describeRankPosition(st[size_t(furthest)]);
  int code = mpirunStatus < 0                ? 1
             : WIFEXITED(mpirunStatus)       ? WEXITSTATUS(mpirunStatus)
                                             : 128 + WTERMSIG(mpirunStatus);
  std::string killedNote;
  auto killedBy = [&](int sig) {
    std::string s = signalName(sig);
    if (sig == SIGKILL) {
      long now = oomKillCount();
      s += oomBefore >= 0 && now > oomBefore ? " (out of memory: the kernel's OOM killer)"
                                             : " (out of memory?)";
    }
    return s;
  };
  if (launcherSignal)
    return {"ds-run: interrupted by " + signalName(launcherSignal) + ": stopped the job's " +
                std::to_string(world) + " ranks at " + where,
            128 + launcherSignal};
  if (mpirunStatus == 0)
    return {"", 0};
  bool allFinished = true;
  for (int r = 0; r < world; ++r) {
    auto s = RankState(st[size_t(r)].state);
    // A rank that failed, timed out, or finished with an error code printed its own line.
    if (have[size_t(r)] && (s == RankState::Failed || s == RankState::TimedOut ||
                            (s == RankState::Finished && st[size_t(r)].exitCode != 0)))
      return {"", code == 0 ? 1 : code};
    allFinished = allFinished && have[size_t(r)] && s == RankState::Finished;
  }
  if (allFinished)
    return {"", code};
  auto rankName = [&](int r) {
    return "rank " + std::to_string(r) + " (pid " + std::to_string(st[size_t(r)].pid) + ")";
  };
  for (int r = 0; r < world; ++r)
    if (have[size_t(r)] && RankState(st[size_t(r)].state) == RankState::Crashed)
      return {"ds-run: " + rankName(r) + " crashed with " + signalName(st[size_t(r)].signal) +
                  " at " + describeRankPosition(st[size_t(r)]),
              128 + st[size_t(r)].signal};
  for (int r = 0; r < world; ++r) {
    const RankStatus &s = st[size_t(r)];
    if (have[size_t(r)] && RankState(s.state) == RankState::Signalled && s.signal &&
        s.senderPid != mpirun)
      return {"ds-run: " + rankName(r) + " was terminated by " + signalName(s.signal) +
                  (s.senderPid > 0 ? " from pid " + std::to_string(s.senderPid) : "") + " at " +
                  describeRankPosition(s),
              128 + s.signal};
  }
  if (mpirunStatus >= 0 && WIFSIGNALED(mpirunStatus))
    return {"ds-run: mpirun (pid " + std::to_string(mpirun) + ") was killed by " +
                killedBy(WTERMSIG(mpirunStatus)) + "; its ranks stopped at " + where,
            code};
  std::vector<int> silent;
  for (int r = 0; r < world; ++r) {
    auto s = RankState(st[size_t(r)].state);
    if (have[size_t(r)] && (s == RankState::Starting || s == RankState::Running))
      silent.push_back(r);
  }
  int sig = code > 128 && code < 128 + 65 ? code - 128 : 0;
  // mpirun forwards a SIGTERM it receives to every rank and SIGKILLs the ones still there
  // after a grace period: on a loaded machine a rank can be killed before its handler
  // records the signal. When another rank recorded a signal from mpirun and mpirun's status
  // names no signal, the silent ranks are that stop's, not a cause of their own.
  bool stoppedByMpirun = false;
  for (int r = 0; r < world; ++r)
    stoppedByMpirun = stoppedByMpirun ||
                      (sig == 0 && have[size_t(r)] &&
                       RankState(st[size_t(r)].state) == RankState::Signalled &&
                       st[size_t(r)].signal && st[size_t(r)].senderPid == mpirun);
  if (!silent.empty() && !stoppedByMpirun) {
    std::string how = sig ? "killed by " + killedBy(sig)
                          : "ended without a message (mpirun exit status " +
                                std::to_string(code) + ")";
    if (silent.size() == 1)
      return {"ds-run: " + rankName(silent[0]) + " was " + how + " at " +
                  describeRankPosition(st[size_t(silent[0])]),
              code ? code : 1};
    std::string line = "ds-run: ranks were " + how + ": ";
    for (size_t i = 0; i < silent.size(); ++i)
      line += (i ? "; " : "") + rankName(silent[i]) + " at " +
              describeRankPosition(st[size_t(silent[i])]);
    return {line, code ? code : 1};
  }
  for (int r = 0; r < world; ++r)
    if (have[size_t(r)] && RankState(st[size_t(r)].state) == RankState::Signalled &&
        st[size_t(r)].signal)
      return {"ds-run: mpirun (pid " + std::to_string(mpirun) + ") stopped the job (" +
                  signalName(st[size_t(r)].signal) + " to every rank: was mpirun signalled?) at " +
                  where,
              128 + st[size_t(r)].signal};
  return {"ds-run: the job ended with mpirun exit status " + std::to_string(code) +
              " at " + where + "; no rank reported a cause",
          code ? code : 1};
}

/// Removes the NVMe swap files of ranks that are gone (a killed rank leaves its own).
void removeRankSwapFiles(const std::string &dir, int world) {
  for (int r = 0; r < world; ++r) {
    RankStatus s;
    if (!readRankStatus(dir, r, s) || s.pid <= 0 || !processGone(s.pid))
      continue;
    s.swapFile[sizeof(s.swapFile) - 1] = '\0';
    if (s.swapFile[0] == '/')
      unlink(s.swapFile); // ENOENT when the rank removed it itself
  }
}

/// Waits (at most `ms`) until every rank with a status page is gone, then SIGKILLs the rest,
/// and removes the swap files they leave.
void reapRanks(const std::string &dir, int world, int ms) {
  struct RemoveSwapFiles {
    const std::string &dir;
    int world;
    ~RemoveSwapFiles() { removeRankSwapFiles(dir, world); }
  } removeAtEnd{dir, world};
  std::vector<int> pids;
  for (int r = 0; r < world; ++r) {
    RankStatus s;
    if (readRankStatus(dir, r, s) && s.pid > 0)
      pids.push_back(s.pid);
  }
  int64_t deadline = monotonicMs() + ms;
  for (;;) {
    bool alive = false;
    for (int p : pids)
      alive = alive || !processGone(p);
    if (!alive)
      return;
    if (monotonicMs() > deadline)
      break;
    sleepMs(20);
  }
  for (int p : pids)
    if (!processGone(p))
      kill(p, SIGKILL);
  int64_t hard = monotonicMs() + 2000;
  for (int p : pids)
    while (!processGone(p) && monotonicMs() < hard)
      sleepMs(20);
}

/// The sentinel: a child that outlives a SIGKILLed launcher (the pipe's end tells it), stops
/// mpirun and its ranks, says so in one line and removes the session directory.
[[noreturn]] void runSentinel(int pipeRead, const std::string &dir, pid_t launcher,
                              pid_t mpirun, int world, long oomBefore) {
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    signal(s, SIG_IGN); // the launcher handles these; the sentinel only waits for it
  char c;
  while (read(pipeRead, &c, 1) < 0 && errno == EINTR) {
  }
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    _exit(0); // the launcher finished and cleaned up
  kill(mpirun, SIGTERM); // PR_SET_PDEATHSIG sent it too; harmless twice
  int64_t deadline = monotonicMs() + 10000;
  while (!processGone(mpirun) && monotonicMs() < deadline)
    sleepMs(20);
  if (!processGone(mpirun))
    kill(mpirun, SIGKILL);
  reapRanks(dir, world, 5000);
  std::string where;
  for (int r = 0; r < world && where.empty(); ++r) {
    RankStatus s;
    if (readRankStatus(dir, r, s))
      where = describeRankPosition(s);
  }
  std::fprintf(stderr,
               "ds-run: the launcher (pid %d) died: stopped mpirun (pid %d) and its %d ranks "
               "at %s\n",
               int(launcher), int(mpirun), world, where.empty() ? "setup" : where.c_str());
  std::fflush(stderr);
  std::filesystem::remove_all(dir, ec);
  _exit(1);
}

/// Writes all of `text` to the launcher's stderr (a failed write is dropped, as fprintf
/// would).
void writeStderr(const std::string &text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += size_t(n);
  }
}

/// Waits up to `ms` for mpirun's stderr (or a signal), then passes on what it wrote.
/// `fd` < 0 (no pipe): only waits. Reads until the pipe is drained or at its end.
void forwardRankStderr(int fd, RankStderrFilter &filter, int ms) {
  if (fd < 0) {
    if (ms > 0)
      sleepMs(ms);
    return;
  }
  pollfd pfd{fd, POLLIN, 0};
  if (ms > 0 && poll(&pfd, 1, ms) <= 0)
    return; // nothing yet, or a signal: the caller's loop looks at it
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      writeStderr(filter.feed(std::string_view(buf, size_t(n))));
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return; // EAGAIN: drained for now; 0: every writer closed it
  }
}

} // namespace

std::string RankStderrFilter::feed(std::string_view bytes) {
  partial_.append(bytes);
  std::string out;
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos;
       start = nl + 1) {
    std::string_view line(partial_.data() + start, nl - start);
    (isReadFromVanishedPeer(line) ? held_ : out).append(line).push_back('\n');
  }
  partial_.erase(0, start);
  if (partial_.size() >
      (size_t(1) << 16)) // a very long line without its end: let it through
    out += std::exchange(partial_, std::string());
  return out;
}

std::string RankStderrFilter::finish(bool jobFailed) {
  std::string out = std::exchange(partial_, std::string());
  if (!jobFailed)
    out += held_;
  held_.clear();
  return out;
}

bool RankStderrFilter::isReadFromVanishedPeer(std::string_view line) {
  // opal_output(0, "Read %ld, expected %lu, errno = %d\n", ...) in Open MPI 4's btl/vader
  // single-copy get (mca_btl_vader_get_cma) when process_vm_readv fails; ESRCH: the peer
  // process no longer exists. Open MPI 5 logs it only at verbose levels.
  // The line reads "[HOST:PID] Read -1, expected N, errno = 3" (opal_output's prefix).
  auto digits = [](std::string_view t) {
    return !t.empty() &&
           std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  size_t close = line.find("] ");
  if (line.empty() || line.front() != '[' || close == std::string_view::npos)
    return false;
  std::string_view where = line.substr(1, close - 1);
  size_t colon = where.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || !digits(where.substr(colon + 1)))
    return false;
  line.remove_prefix(close + 2);
  const std::string head = "Read -1, expected ",
                    tail = ", errno = " + std::to_string(ESRCH);
  if (line.size() < head.size() + tail.size() || line.substr(0, head.size()) != head ||
      line.substr(line.size() - tail.size()) != tail)
    return false;
  return digits(line.substr(head.size(), line.size() - head.size() - tail.size()));
}

// Runs this binary under mpirun with N ranks and exits with the job's status (128 + signal
// when it was killed), after exactly one line on stderr for any death no rank reported.
void applyHostSlots() {
  const char *spec = std::getenv("DS_RUN_HOST_SLOTS");
  if (!spec || std::getenv("CUDA_VISIBLE_DEVICES"))
    return;
  // "host=0,1;host2=3": this rank's host by its name, its short name, or (for a one-host
  // list) whatever the hostfile called this machine.
  std::string me = hostName(), shortMe = me.substr(0, me.find('.'));
  std::vector<std::pair<std::string, std::string>> entries;
  std::string all = spec;
  size_t pos = 0;
  while (pos <= all.size()) {
    size_t end = all.find(';', pos);
    std::string e = all.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    size_t eq = e.find('=');
    if (eq != std::string::npos)
      entries.push_back({e.substr(0, eq), e.substr(eq + 1)});
    if (end == std::string::npos)
      break;
    pos = end + 1;
  }
  for (const auto &[host, slots] : entries)
    if (host == me || host == shortMe || host.substr(0, host.find('.')) == shortMe ||
        entries.size() == 1) {
      setenv("CUDA_VISIBLE_DEVICES", slots.c_str(), 1);
      return;
    }
}

[[noreturn]] void relaunch(int argc, char **argv, int nproc,
                           const std::vector<HostSlots> &hosts) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    fail("cannot locate the ds-run executable to relaunch under mpirun");
  self[n] = '\0';
  std::vector<std::string> args = {"mpirun", "-np", std::to_string(nproc)};
  if (!hosts.empty()) {
    args.push_back("--host");
    args.push_back(mpirunHostList(hosts));
    std::string slots;
    for (const HostSlots &h : hosts) {
      slots += (slots.empty() ? "" : ";") + h.host + "=";
      for (size_t i = 0; i < h.slots.size(); ++i)
        slots += (i ? "," : "") + std::to_string(h.slots[i]);
    }
    setenv("DS_RUN_HOST_SLOTS", slots.c_str(), 1);
    args.push_back("-x");
    args.push_back("DS_RUN_HOST_SLOTS");
  }
  if (geteuid() == 0)
    args.push_back("--allow-run-as-root");
  if (unsigned(nproc) > std::max(1u, std::thread::hardware_concurrency()))
    args.push_back("--oversubscribe");
  // The single-copy mechanism is each rank's choice (makeMpiCommunicator).
  for (const char *s : {"--bind-to", "none", "--mca", "btl", "self,vader", "--quiet"})
    args.push_back(s);
  args.push_back(self);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--nproc") {
      ++i;
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0)
      continue;
    args.push_back(a);
  }
  // Ranks report their own errors; keep mpirun's help banners short.
  setenv("OMPI_MCA_orte_base_help_aggregate", "1", 1);
  // mpirun gives the ranks a pty: tell them whether the real stdout is a terminal.
  setenv("DS_RUN_STDOUT_TTY", isatty(STDOUT_FILENO) ? "1" : "0", 1);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", nproc > 1 ? "1" : "0", 0);
  // OpenMPI derives its session directory from the launcher's pid: two jobs started at
  // the same moment (parallel tests) can collide there ("ORTE_ERROR_LOG ... session_dir").
  // Give every launch a private base directory, removed on every exit the launcher survives
  // (by the sentinel when it does not, else by the next launch). The ranks publish their
  // status pages there.
  std::string base = sessionBase();
  removeStaleSessionDirs(base);
  std::string tmpl = base + "/ds-run-XXXXXX";
  std::vector<char> dirBuf(tmpl.begin(), tmpl.end());
  dirBuf.push_back('\0');
  if (!mkdtemp(dirBuf.data()))
    fail("cannot create a session directory under ", tmpl, ": ", std::strerror(errno));
  std::string dir = dirBuf.data();
  pid_t launcher = getpid();
  if (std::FILE *f = std::fopen((dir + "/launcher.pid").c_str(), "w")) {
    std::fprintf(f, "%d %s\n", int(launcher), hostName().c_str());
    std::fclose(f);
  }
  setenv("OMPI_MCA_orte_tmpdir_base", dir.c_str(), 1);
  setenv(kSessionDirEnv, dir.c_str(), 1);
  long oomBefore = oomKillCount();
  std::vector<char *> cargs;
  for (auto &s : args)
    cargs.push_back(s.data());
  cargs.push_back(nullptr);

  // Signals wait (blocked) until the handlers are in place and mpirun's pid is known.
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    sigaddset(&forwarded, s);
  sigprocmask(SIG_BLOCK, &forwarded, &previous);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = onLauncherSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    sigaction(s, &sa, nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  // mpirun's stderr (every rank's) comes through the launcher's filter
  // (RankStderrFilter); without a pipe it goes straight to the launcher's stderr as
  // before.
  int errFds[2] = {-1, -1};
  if (pipe2(errFds, O_CLOEXEC) != 0)
    errFds[0] = errFds[1] = -1;
  pid_t child = fork();
  if (child < 0) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    fail("cannot start mpirun: ", std::strerror(errno));
  }
  if (child == 0) {
    for (int s : {SIGINT, SIGTERM, SIGHUP})
      signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    if (errFds[1] >= 0)
      dup2(errFds[1], STDERR_FILENO); // the copy is not close-on-exec

    // mpirun dies with the launcher (SIGTERM: it then ends its ranks).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != launcher)
      _exit(1);
    execvp("mpirun", cargs.data());
    std::fprintf(stderr, "ds-run: cannot run mpirun: %s (install openmpi-bin)\n",
                 std::strerror(errno));
    _exit(127);
  }
  if (errFds[1] >= 0) {
    close(errFds[1]);
    fcntl(errFds[0], F_SETFL, fcntl(errFds[0], F_GETFL) | O_NONBLOCK);
  }
  int pipeFds[2] = {-1, -1};
  pid_t sentinel = -1;
  if (pipe2(pipeFds, O_CLOEXEC) == 0) {
    sentinel = fork();
    if (sentinel == 0) {
      close(pipeFds[1]);
      if (errFds[0] >= 0)
        close(errFds[0]); // with the launcher gone, mpirun's stderr has no reader
      sigprocmask(SIG_SETMASK, &previous, nullptr);
      runSentinel(pipeFds[0], dir, launcher, child, nproc, oomBefore);
    }
    close(pipeFds[0]);
  }
  sigprocmask(SIG_SETMASK, &previous, nullptr);

  RankStderrFilter filter;
  int status = -1;
  int stopSignal = 0;
  int64_t forwardedAt = 0;
  bool escalated = false;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(child, &st, WNOHANG);
    if (r == child) {
      status = st;
      break;
    }
    if (r < 0 && errno != EINTR)
      break;
    if (int sig = gLauncherSignal) {
      if (!stopSignal) {
        // mpirun ends its ranks on SIGTERM (its handling of SIGHUP/SIGINT is less uniform).
        stopSignal = sig;
        kill(child, SIGTERM);
        forwardedAt = monotonicMs();
      } else if (!escalated && (monotonicMs() - forwardedAt > 10000 || sig != stopSignal)) {
        kill(child, SIGKILL); // a second signal, or mpirun did not stop within 10 s
        escalated = true;
      }
      if (sig != stopSignal)
        gLauncherSignal = stopSignal;
    }
    forwardRankStderr(errFds[0], filter, 20);
  }
  // A SIGKILLed mpirun leaves its ranks to PMIx's lost-connection handling: wait for them.
  reapRanks(dir, nproc, 5000);
  forwardRankStderr(errFds[0], filter, 0); // what mpirun wrote before it ended
  JobEnd end = explainJobEnd(dir, nproc, child, status, stopSignal, oomBefore);
  writeStderr(filter.finish(end.exitCode != 0));
  if (errFds[0] >= 0)
    close(errFds[0]);
  if (!end.line.empty())
    std::fprintf(stderr, "%s\n", end.line.c_str());
  std::fflush(stderr);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (sentinel > 0) {
    close(pipeFds[1]); // the directory is gone: the sentinel exits quietly
    while (waitpid(sentinel, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  std::exit(end.exitCode);
}


} // namespace ds::rt
