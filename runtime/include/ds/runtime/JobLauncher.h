// The ds-run launcher: runs the job's ranks under mpirun, forwards signals, and reports every
// death in one line (see runtime/README.md "Job lifetime, deaths and the watchdog").
#pragma once

#include "ds/runtime/Hostfile.h"

#include <string>
#include <string_view>
#include <vector>

namespace ds::rt {

/// The launcher's pass over mpirun's stderr (the ranks' stderr and Open MPI's own lines):
/// every line goes through as soon as it is complete, except the line Open MPI 4's
/// shared-memory transport prints when a single-copy (cma) read finds the peer rank gone,
/// `[HOST:PID] Read -1, expected N, errno = 3` (ESRCH): a consequence of a death the job
/// already reports in its own line. Those lines are held back, and printed at the end
/// only when the job succeeded (then they were not a death's; nothing is lost).
class RankStderrFilter {
public:
  /// Takes the next bytes of the stream; returns the complete lines to print now.
  std::string feed(std::string_view bytes);
  /// At the end of the stream: the unfinished last line, and the held-back lines unless
  /// the job failed.
  std::string finish(bool jobFailed);
  /// Whether `line` (without its newline) is Open MPI's read from a vanished peer.
  static bool isReadFromVanishedPeer(std::string_view line);

private:
  std::string partial_, held_;
};

/// Runs this binary (/proc/self/exe) under mpirun with `nproc` ranks and the same arguments
/// minus --nproc, and exits with the job's status (128 + signal when it was killed), after
/// exactly one line on stderr for any death no rank reported. Never returns. `hosts` (from a
/// hostfile, see Hostfile.h; empty: this machine) become mpirun's --host list, and each rank
/// learns its host's slots through DS_RUN_HOST_SLOTS (applyHostSlots).
[[noreturn]] void relaunch(int argc, char **argv, int nproc,
                           const std::vector<HostSlots> &hosts = {});

/// In a rank of a hostfile launch: sets CUDA_VISIBLE_DEVICES to this host's slots (as
/// DeepSpeed's launcher does per node) unless the user set it. No-op elsewhere.
void applyHostSlots();

} // namespace ds::rt
