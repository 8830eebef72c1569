// A fixed pool of worker threads for the CPU kernels' large loops.
#pragma once

#include <cstdint>
#include <functional>

namespace ds::rt {

/// Number of threads parallelFor uses (>= 1). Default: DS_NUM_THREADS if set, else the
/// hardware threads divided by the ranks on this node (OMPI_COMM_WORLD_LOCAL_SIZE).
int numThreads();
/// Overrides numThreads() (call before the first parallelFor).
void setNumThreads(int n);

/// Runs fn(begin, end) over [0, n) in contiguous chunks of at least `grain` elements, on the
/// pool when n is large enough, else inline. Exceptions from fn propagate to the caller.
void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &fn);

} // namespace ds::rt
