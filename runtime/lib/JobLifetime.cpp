// Rank status pages, death-marker signal handlers and the collective/step watchdog of a ds-run rank.
#include "ds/runtime/JobLifetime.h"

#include "ds/runtime/RemoveOnExit.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

namespace ds::rt {
namespace {

constexpr uint32_t kStatusMagic = 0x44535253; // "DSRS"
constexpr size_t kStatusBytes = 4096;
static_assert(sizeof(RankStatus) <= kStatusBytes, "a status page is one page");

RankStatus gPrivateStatus; // no session directory: the watchdog still bounds steps
RankStatus *gStatus = nullptr;
std::string gSessionDir;
int gWorld = 1;
double gTimeoutSeconds = 0;

int64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void copyName(char *dst, size_t size, const std::string &src) {
  size_t n = std::min(size - 1, src.size());
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

void onTerminatingSignal(int sig, siginfo_t *info, void *) {
  if (RankStatus *s = gStatus) {
    s->signal = sig;
    s->senderPid = info ? int32_t(info->si_pid) : 0;
    s->state = int32_t(RankState::Signalled);
  }
  removeRegisteredFilesNow(); // swap files
  raise(sig); // the handler was reset (SA_RESETHAND): default action once this returns
}

void onCrashSignal(int sig, siginfo_t *, void *) {
  if (RankStatus *s = gStatus) {
    s->signal = sig;
    s->state = int32_t(RankState::Crashed);
  }
  removeRegisteredFilesNow();
  raise(sig);
}

void installHandler(int sig, void (*fn)(int, siginfo_t *, void *)) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

std::string peerReport(const RankStatus &me) {
  if (gWorld <= 1)
    return "";
  if (gSessionDir.empty())
    return " (the other ranks' progress is unknown: not started by ds-run --nproc)";
  std::string suspects;
  for (int r = 0; r < gWorld; ++r) {
    if (r == me.rank)
      continue;
    std::string what = "rank " + std::to_string(r);
    RankStatus p;
    if (!readRankStatus(gSessionDir, r, p)) {
      suspects += (suspects.empty() ? "" : "; ") + what + " has no status page (never started?)";
      continue;
    }
    bool behind =
        p.collectives < me.collectives || (p.collectives == me.collectives && !p.inCollective);
    char st = processState(p.pid);
    std::string proc = st == 'T' || st == 't' ? "; its process " + std::to_string(p.pid) +
                                                    " is stopped"
                       : st == 0 || st == 'Z' ? "; its process " + std::to_string(p.pid) +
                                                    " is gone"
                                              : "";
    if (behind)
      what += " did not reach it (it is at " + describeRankPosition(p) + proc + ")";
    else if (!proc.empty())
      what += " entered it" + proc;
    else
      continue;
    suspects += (suspects.empty() ? "" : "; ") + what;
  }
  return suspects.empty() ? ": every rank entered it (stuck inside the collective)"
                          : ": " + suspects;
}

[[noreturn]] void expire() {
  RankStatus &me = *gStatus;
  bool report = true;
  if (!gSessionDir.empty()) {
    // One line per job: the first rank to expire reports, the others leave quietly.
    int fd = open((gSessionDir + "/watchdog.reported").c_str(), O_CREAT | O_EXCL | O_WRONLY,
                  0600);
    report = fd >= 0;
    if (fd >= 0)
      close(fd);
  }
  me.state = int32_t(RankState::TimedOut);
  if (report) {
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%g", gTimeoutSeconds);
    std::string msg = "ds-run: rank " + std::to_string(me.rank) + ": timeout: ";
    double waited = double(nowNs() - me.collectiveStartNs) / 1e9;
    if (me.inCollective && waited > gTimeoutSeconds) {
      msg += std::string(me.collective) + " #" + std::to_string(me.collectives) + " (" +
             describeRankPosition(me) + ") waited more than " + secs + " s (--timeout " + secs +
             ")" + peerReport(me);
    } else if (me.inCollective) {
      char w[32];
      std::snprintf(w, sizeof(w), "%.1f", waited);
      msg += "step " + std::to_string(me.step) + " ran more than " + secs + " s (--timeout " +
             secs + "); its " + me.collective + " #" + std::to_string(me.collectives) + " (" +
             describeRankPosition(me) + ") has waited " + w + " s" + peerReport(me);
    } else {
      msg += "step " + std::to_string(me.step) + " ran more than " + secs + " s (--timeout " +
             secs + "), now at " + describeRankPosition(me);
    }
    msg += "; aborting the job\n";
    // write(2), not stdio: the main thread may hold stdio's locks.
    ssize_t ignored = write(STDERR_FILENO, msg.data(), msg.size());
    (void)ignored;
  }
  // Exiting without MPI_Finalize makes mpirun end every other rank (the stalled one too).
  removeRegisteredFilesNow(); // _exit runs no atexit handlers
  _exit(124);
}

void watchdogLoop(pid_t parent, bool watchParent) {
  const int64_t limitNs = int64_t(gTimeoutSeconds * 1e9);
  for (;;) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, nullptr);
    if (watchParent && getppid() != parent) {
      // mpirun is gone (killed with its launcher): nobody can hear this rank any more.
      gStatus->state = int32_t(RankState::Signalled);
      removeRegisteredFilesNow();
      _exit(1);
    }
    if (limitNs <= 0)
      continue;
    int64_t now = nowNs();
    int64_t c = gStatus->inCollective ? gStatus->collectiveStartNs : 0;
    int64_t s = gStatus->stepStartNs;
    if ((c && now - c > limitNs) || (s && now - s > limitNs))
      expire();
  }
}

} // namespace

RankStatus *rankStatus() { return gStatus; }

void startRankLifetime(int rank, int world, double timeoutSeconds) {
  gWorld = world;
  gTimeoutSeconds = timeoutSeconds;
  RankStatus *page = &gPrivateStatus;
  const char *dir = std::getenv(kSessionDirEnv);
  if (dir && *dir) {
    gSessionDir = dir;
    std::string path = gSessionDir + "/rank" + std::to_string(rank) + ".status";
    int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 && ftruncate(fd, kStatusBytes) == 0) {
      void *p = mmap(nullptr, kStatusBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED)
        page = static_cast<RankStatus *>(p);
    }
    if (fd >= 0)
      close(fd);
    if (page == &gPrivateStatus)
      gSessionDir.clear(); // cannot publish: behave as if alone
  }
  std::memset(static_cast<void *>(page), 0, sizeof(RankStatus));
  page->rank = rank;
  page->pid = int32_t(getpid());
  page->program = -1;
  page->instruction = -1;
  page->state = int32_t(RankState::Running);
  page->magic = kStatusMagic;
  gStatus = page;
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    installHandler(sig, onTerminatingSignal);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
    installHandler(sig, onCrashSignal);
  // Ranks of a ds-run launcher watch their parent (mpirun): PMIx normally ends them when it
  // dies, this is the backstop.
  bool watchParent = !gSessionDir.empty();
  std::thread(watchdogLoop, getppid(), watchParent).detach();
}

void markRankFinished(int exitCode) {
  if (!gStatus)
    return;
  gStatus->exitCode = exitCode;
  gStatus->state = int32_t(RankState::Finished);
}

void markRankFailed() {
  if (gStatus)
    gStatus->state = int32_t(RankState::Failed);
}

void setRankStep(int64_t step) {
  if (!gStatus)
    return;
  gStatus->step = step;
  gStatus->stepStartNs = step ? nowNs() : 0;
}

void setRankProgram(int index, const std::string &name) {
  if (!gStatus)
    return;
  gStatus->program = -1;
  gStatus->instruction = -1;
  copyName(gStatus->programName, sizeof(gStatus->programName), name);
  gStatus->program = index;
}

void setRankInstruction(int index, const std::string &kernel) {
  if (!gStatus)
    return;
  copyName(gStatus->kernel, sizeof(gStatus->kernel), kernel);
  gStatus->instruction = index;
}

CollectiveScope::CollectiveScope(const char *kernel) {
  if (RankStatus *s = gStatus) {
    copyName(s->collective, sizeof(s->collective), kernel);
    s->collectiveStartNs = nowNs();
    s->collectives = s->collectives + 1;
    s->inCollective = 1;
  }
}

CollectiveScope::~CollectiveScope() {
  if (RankStatus *s = gStatus)
    s->inCollective = 0;
}

bool readRankStatus(const std::string &sessionDir, int rank, RankStatus &out) {
  std::string path = sessionDir + "/rank" + std::to_string(rank) + ".status";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = pread(fd, &out, sizeof(out), 0);
  close(fd);
  if (n != ssize_t(sizeof(out)) || out.magic != kStatusMagic)
    return false;
  out.programName[sizeof(out.programName) - 1] = '\0';
  out.kernel[sizeof(out.kernel) - 1] = '\0';
  out.collective[sizeof(out.collective) - 1] = '\0';
  return true;
}

std::string describeRankPosition(const RankStatus &s) {
  std::string where = s.step > 0 ? "step " + std::to_string(s.step) : std::string("setup");
  if (s.program >= 0) {
    where += std::string(", program '") + s.programName + "'";
    if (s.instruction >= 0)
      where += " instruction " + std::to_string(s.instruction) + " (" + s.kernel + ")";
  }
  return where;
}

std::string signalName(int sig) {
  switch (sig) {
  case SIGHUP: return "SIGHUP";
  case SIGINT: return "SIGINT";
  case SIGQUIT: return "SIGQUIT";
  case SIGILL: return "SIGILL";
  case SIGABRT: return "SIGABRT";
  case SIGBUS: return "SIGBUS";
  case SIGFPE: return "SIGFPE";
  case SIGKILL: return "SIGKILL";
  case SIGSEGV: return "SIGSEGV";
  case SIGPIPE: return "SIGPIPE";
  case SIGALRM: return "SIGALRM";
  case SIGTERM: return "SIGTERM";
  case SIGUSR1: return "SIGUSR1";
  case SIGUSR2: return "SIGUSR2";
  case SIGXCPU: return "SIGXCPU";
  default: return "signal " + std::to_string(sig);
  }
}

char processState(int pid) {
  if (pid <= 0)
    return 0;
  char path[64], buf[512];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  const char *paren = std::strrchr(buf, ')'); // "pid (comm) S ..."
  return paren && paren[1] == ' ' ? paren[2] : 0;
}

} // namespace ds::rt
