// The ds-run launcher: runs the job's ranks under mpirun, forwards signals, and reports every
// death in one line (see runtime/README.md "Job lifetime, deaths and the watchdog").
#pragma once

namespace ds::rt {

/// Runs this binary (/proc/self/exe) under mpirun with `nproc` ranks and the same arguments
/// minus --nproc, and exits with the job's status (128 + signal when it was killed), after
/// exactly one line on stderr for any death no rank reported. Never returns.
[[noreturn]] void relaunch(int argc, char **argv, int nproc);

} // namespace ds::rt
