// The ds-run launcher: runs the job's ranks under mpirun, forwards signals, and reports every
// death in one line (see runtime/README.md "Job lifetime, deaths and the watchdog").
#pragma once

#include "ds/runtime/Hostfile.h"

#include <vector>

namespace ds::rt {

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
