// Job lifetime shared by the ds-run launcher and its ranks: per-rank status pages in the session directory, death markers, the watchdog.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// What a rank last said about itself (written by the rank, read by the launcher and peers).
enum class RankState : int32_t {
  Starting = 0,  // no marker: a rank that dies in this state or Running died without a word
  Running = 1,
  Finished = 2,  // returned from main (exit code in `exitCode`)
  Failed = 3,    // printed its own one-line error and exits 1
  Signalled = 4, // caught SIGTERM/SIGINT/SIGHUP (`signal`, sent by `senderPid`)
  Crashed = 5,   // caught SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT (`signal`)
  TimedOut = 6,  // its watchdog expired and reported (or a peer's report was already printed)
};

/// One rank's status page: `<session>/rank<R>.status`, mapped shared by the rank. Plain fields
/// (diagnostics: a torn read costs a wrong number in a message, never a wrong result).
struct RankStatus {
  uint32_t magic;
  int32_t rank;
  int32_t pid;
  volatile int32_t state; // RankState
  volatile int32_t signal;
  volatile int32_t senderPid;
  volatile int32_t exitCode;
  volatile int64_t step;        // 1-based training step in progress; 0 = setup / eval
  volatile int32_t program;     // index of the program running, -1 = none
  volatile int32_t instruction; // index of the instruction running (CPU backend), -1 = unknown
  char programName[48];
  char kernel[32];
  volatile int64_t collectives;        // collectives entered so far
  volatile int32_t inCollective;       // 1 while inside one
  char collective[24];                 // the current (or last) collective's kernel name
  volatile int64_t collectiveStartNs;  // CLOCK_MONOTONIC
  volatile int64_t stepStartNs;        // 0 outside a step
  // The rank's NVMe swap file (empty: none). The launcher removes it after the rank is
  // gone, however it ended: a SIGKILLed rank cannot remove its own.
  char swapFile[512];
};

/// The environment variable that hands the launcher's session directory to its ranks.
inline constexpr const char *kSessionDirEnv = "DS_RUN_SESSION_DIR";

/// This rank's status page (never null after startRankLifetime; null before).
RankStatus *rankStatus();

/// Rank side: maps `<$DS_RUN_SESSION_DIR>/rank<R>.status` (or private memory when there is no
/// session directory), installs the death-marker signal handlers and starts the watchdog
/// thread: a collective or a step running longer than `timeoutSeconds` prints one line naming
/// the ranks that did not reach the collective and ends the job; a vanished parent (mpirun)
/// ends this rank.
void startRankLifetime(int rank, int world, double timeoutSeconds);
/// Marks the rank's fate before it exits (Finished with the exit code, or Failed).
void markRankFinished(int exitCode);
void markRankFailed();

void setRankStep(int64_t step); // 0: leaves the step loop
void setRankProgram(int index, const std::string &name);
void setRankInstruction(int index, const std::string &kernel);

/// Marks a collective in progress for the watchdog (MPI communicator, host-staged traffic).
class CollectiveScope {
public:
  explicit CollectiveScope(const char *kernel);
  ~CollectiveScope();
  CollectiveScope(const CollectiveScope &) = delete;
  CollectiveScope &operator=(const CollectiveScope &) = delete;
};

/// Launcher side: the status page rank `rank` left in `sessionDir` (false when absent).
bool readRankStatus(const std::string &sessionDir, int rank, RankStatus &out);
/// "step 5, program 'micro_step' instruction 17 (matmul)", or "setup".
std::string describeRankPosition(const RankStatus &s);
/// "SIGKILL" for 9, "signal 42" for what has no name.
std::string signalName(int sig);
/// "R" for a stopped process, 0 when unknown (reads /proc/<pid>/stat).
char processState(int pid);

} // namespace ds::rt
