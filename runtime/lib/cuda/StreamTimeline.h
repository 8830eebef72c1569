// Per-stream busy time and its overlap with the compute stream, from per-instruction timestamps.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace ds::rt::cuda {

/// Accumulates, per program, how long each stream was busy and how much of that time the
/// compute stream (stream 0) was busy too: the executor's own overlap measurement
/// (DS_CUDA_TIMELINE=1), no profiler needed.
class StreamTimeline {
public:
  struct Interval {
    int stream;
    double beginMs, endMs; // relative to the program's start
  };
  explicit StreamTimeline(int streams) : streams_(streams) {}
  /// One run of `program`: every instruction's interval on its stream.
  void add(const std::string &program, const std::vector<Interval> &intervals);
  /// One line per program: runs, wall time, busy time per stream and overlap with compute.
  void print(std::FILE *out, int rank) const;

private:
  struct Totals {
    long runs = 0;
    double wallMs = 0;
    std::vector<double> busyMs, overlapMs; // per stream
  };
  int streams_;
  std::map<std::string, Totals> programs_;
};

} // namespace ds::rt::cuda
