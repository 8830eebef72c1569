// Registry of files removed at exit or from a signal handler (async-signal-safe removal).
#include "ds/runtime/RemoveOnExit.h"

#include "ds/runtime/Error.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unistd.h>

namespace ds::rt {
namespace {

constexpr int kSlots = 64;
enum SlotState : int { Free = 0, Claimed = 1, Live = 2 };

struct Slot {
  std::atomic<int> state{Free};
  char path[PATH_MAX];
};
Slot gSlots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free,
              "signal handlers read the slot states");

void onSignal(int sig) {
  removeRegisteredFilesNow();
  signal(sig, SIG_DFL); // installed with SA_RESETHAND as well; this keeps it explicit
  raise(sig);           // delivered once this handler returns: the default action
}

void installHandlers() {
  for (int sig :
       {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
        old.sa_handler != SIG_DFL)
      continue; // somebody handles it (or ignores it on purpose): leave it to them
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_handler = onSignal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
  std::atexit(removeRegisteredFilesNow);
}

} // namespace

int registerRemoveOnExit(const std::string &path) {
  std::string full = path;
  if (full.empty() || full[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
      fail("cannot register '", path,
           "' for removal at exit: the current directory is unknown");
    full = std::string(cwd) + "/" + path;
  }
  if (full.size() >= PATH_MAX)
    fail("cannot register '", path, "' for removal at exit: path longer than ",
         PATH_MAX - 1, " bytes");
  static std::once_flag installed;
  std::call_once(installed, installHandlers);
  for (int i = 0; i < kSlots; ++i) {
    int expected = Free;
    if (!gSlots[i].state.compare_exchange_strong(expected, Claimed))
      continue;
    std::memcpy(gSlots[i].path, full.c_str(), full.size() + 1);
    gSlots[i].state.store(Live);
    return i;
  }
  fail("cannot register '", path, "' for removal at exit: ", kSlots,
       " files are registered already");
}

void unregisterRemoveOnExit(int slot) {
  if (slot >= 0 && slot < kSlots)
    gSlots[slot].state.store(Free);
}

void removeRegisteredFilesNow() {
  int savedErrno = errno; // a signal handler must leave errno as it found it
  for (Slot &s : gSlots)
    if (s.state.load() == Live)
      unlink(s.path);
  errno = savedErrno;
}

} // namespace ds::rt
