// Memory admission: cgroup limits, MemAvailable and RLIMIT_AS against a plan's regions.
#include "ds/runtime/MemoryAdmission.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/FileOutput.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/resource.h>

namespace ds::rt {
namespace {

/// The first number in `path` (false when missing or "max").
bool readNumber(const std::string &path, uint64_t &value) {
  std::ifstream f(path);
  std::string word;
  if (!(f >> word) || word.empty() || word == "max")
    return false;
  char *end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(word.c_str(), &end, 10);
  if (errno || *end)
    return false;
  value = v;
  return true;
}

/// The value of `key` (a line "key value") in `path`, or 0.
uint64_t readKey(const std::string &path, const std::string &key) {
  std::ifstream f(path);
  std::string line, k;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    uint64_t v;
    if (ls >> k && k == key && ls >> v)
      return v;
  }
  return 0;
}

/// A cgroup directory's remaining memory under its limit, if it has one.
bool cgroupLeft(const std::string &dir, bool v2, uint64_t &left, std::string &source) {
  uint64_t limit = 0, usage = 0;
  std::string limitFile = dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes");
  if (!readNumber(limitFile, limit) || limit >= (uint64_t(1) << 62))
    return false; // "max", or v1's "unlimited" (a page-rounded LONG_MAX)
  if (readNumber(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"), usage)) {
    uint64_t cache = readKey(dir + "/memory.stat", v2 ? "file" : "total_cache");
    usage = usage > cache ? usage - cache : 0;
  }
  left = limit > usage ? limit - usage : 0;
  source = "the cgroup memory limit " + formatByteSize(limit) + " (" + limitFile + ", " +
           formatByteSize(usage) + " in use)";
  return true;
}

/// The tightest cgroup bound on this process (its cgroup and every ancestor, v2 and v1).
bool cgroupLimit(uint64_t &left, std::string &source) {
  left = 0;
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  bool found = false;
  while (std::getline(f, line)) {
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos)
      continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    bool v2 = controllers.empty();
    bool v1 = false;
    std::stringstream cs(controllers);
    for (std::string c; std::getline(cs, c, ',');)
      v1 |= c == "memory";
    if (!v2 && !v1)
      continue;
    std::string root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    while (true) {
      uint64_t l = 0;
      std::string s;
      if (cgroupLeft(root + (path == "/" ? "" : path), v2, l, s) && (!found || l < left)) {
        left = l;
        source = s;
        found = true;
      }
      if (path.empty() || path == "/")
        break;
      size_t slash = path.rfind('/');
      path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
  }
  return found;
}

} // namespace

int localRankCount() {
  // mpirun, MPICH/hydra, Slurm, torchrun.
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                           "SLURM_NTASKS_PER_NODE", "LOCAL_WORLD_SIZE"}) {
    const char *e = std::getenv(name);
    if (e && *e) {
      int n = std::atoi(e);
      if (n >= 1)
        return n;
    }
  }
  return 1;
}

std::vector<MemoryLimit> hostMemoryLimits(int localRanks) {
  uint64_t ranks = uint64_t(localRanks < 1 ? 1 : localRanks);
  std::vector<MemoryLimit> limits;
  uint64_t left;
  std::string source;
  if (cgroupLimit(left, source))
    limits.push_back({source, left / ranks, true});
  if (uint64_t kb = readKey("/proc/meminfo", "MemAvailable:"))
    limits.push_back({"MemAvailable " + formatByteSize(kb * 1024) + " (/proc/meminfo)",
                      kb * 1024 / ranks, true});
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    uint64_t used = readKey("/proc/self/status", "VmSize:") * 1024;
    uint64_t cap = uint64_t(rl.rlim_cur);
    limits.push_back({"ulimit -v " + formatByteSize(cap) + " (RLIMIT_AS, " +
                          formatByteSize(used) + " of address space in use)",
                      cap > used ? cap - used : 0, false});
  }
  return limits;
}

void checkMemoryAdmission(const ds::plan::Plan &plan, bool regionsInHostMemory,
                          int localRanks) {
  if (const char *e = std::getenv("DS_SKIP_MEMORY_ADMISSION"); e && std::strcmp(e, "1") == 0)
    return;
  uint64_t arena = regionsInHostMemory ? plan.arena_bytes() : 0;
  uint64_t persistent = regionsInHostMemory ? plan.persistent_bytes() : 0;
  uint64_t host = plan.host_bytes();
  uint64_t need = arena + persistent + host; // each <= 1 TiB (validated): no overflow
  if (need == 0)
    return;
  std::vector<MemoryLimit> limits = hostMemoryLimits(localRanks);
  const MemoryLimit *tightest = nullptr;
  for (const MemoryLimit &l : limits)
    if (!tightest || l.bytes < tightest->bytes)
      tightest = &l;
  if (tightest && need > tightest->bytes) {
    const MemoryLimit &l = *tightest;
    std::string regions = regionsInHostMemory
                              ? "arena " + formatByteSize(arena) + " + persistent " +
                                    formatByteSize(persistent) + " + host " +
                                    formatByteSize(host)
                              : "host region";
    std::string share = l.shared && localRanks > 1
                            ? " for each of the " + std::to_string(localRanks) +
                                  " ranks on this node"
                            : "";
    fail("the plan needs ", formatByteSize(need), " (", need, " bytes: ", regions,
         ") of memory per rank, but ", l.source, " leaves ", formatByteSize(l.bytes), " (",
         l.bytes, " bytes)", share,
         ": compile with a higher --zero-stage or more ranks, or raise the limit "
         "(DS_SKIP_MEMORY_ADMISSION=1 tries anyway)");
  }
}

} // namespace ds::rt
