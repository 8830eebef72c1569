// Memory admission: a plan's regions against what this rank can get, before allocating them.
#pragma once

#include "plan.pb.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// One bound on the memory this process can still allocate.
struct MemoryLimit {
  std::string source; // "cgroup memory.max of /sys/fs/cgroup/...", "MemAvailable", "ulimit -v"
  uint64_t bytes;     // what is left for this rank (shared bounds divided by `localRanks`)
  bool shared;        // divided among the ranks on this node
};

/// Ranks of this job on this node (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS,
/// SLURM_NTASKS_PER_NODE, torchrun's LOCAL_WORLD_SIZE; 1 when none is set). Also what
/// divides the cores into each rank's default thread count.
int localRankCount();

/// The bounds that apply: the cgroup's limit (v2 memory.max or v1 memory.limit_in_bytes of
/// this process's cgroup and its ancestors, less what is in use besides page cache),
/// /proc/meminfo MemAvailable, and RLIMIT_AS less the current address space.
std::vector<MemoryLimit> hostMemoryLimits(int localRanks);

/// Throws Error (one line with both numbers) when the regions of `plan` that live in host
/// memory (all three on the CPU backend, `host` only on a GPU) exceed one of the limits.
/// DS_SKIP_MEMORY_ADMISSION=1 skips the check.
void checkMemoryAdmission(const ds::plan::Plan &plan, bool regionsInHostMemory, int localRanks);

} // namespace ds::rt
