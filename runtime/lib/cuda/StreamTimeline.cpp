// Busy and overlapping time per stream from instruction intervals (DS_CUDA_TIMELINE).
#include "StreamTimeline.h"

#include "ds/runtime/StreamSchedule.h"

#include <algorithm>

namespace ds::rt::cuda {
namespace {

using Span = std::pair<double, double>;

/// The union of `spans` as disjoint sorted spans.
std::vector<Span> merged(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end());
  std::vector<Span> out;
  for (const Span &s : spans) {
    if (s.second <= s.first)
      continue;
    if (!out.empty() && s.first <= out.back().second)
      out.back().second = std::max(out.back().second, s.second);
    else
      out.push_back(s);
  }
  return out;
}

double length(const std::vector<Span> &spans) {
  double t = 0;
  for (const Span &s : spans)
    t += s.second - s.first;
  return t;
}

/// Total length of the intersection of two disjoint sorted span lists.
double intersection(const std::vector<Span> &a, const std::vector<Span> &b) {
  double t = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    double lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (hi > lo)
      t += hi - lo;
    if (a[i].second < b[j].second)
      ++i;
    else
      ++j;
  }
  return t;
}

} // namespace

void StreamTimeline::add(const std::string &program, const std::vector<Interval> &intervals) {
  std::vector<std::vector<Span>> byStream(static_cast<size_t>(streams_));
  double wall = 0;
  for (const Interval &iv : intervals) {
    if (iv.stream < 0 || iv.stream >= streams_)
      continue;
    byStream[size_t(iv.stream)].push_back({iv.beginMs, iv.endMs});
    wall = std::max(wall, iv.endMs);
  }
  Totals &t = programs_[program];
  t.busyMs.resize(size_t(streams_));
  t.overlapMs.resize(size_t(streams_));
  ++t.runs;
  t.wallMs += wall;
  std::vector<std::vector<Span>> spans;
  for (auto &s : byStream)
    spans.push_back(merged(std::move(s)));
  for (int s = 0; s < streams_; ++s) {
    t.busyMs[size_t(s)] += length(spans[size_t(s)]);
    if (s != 0)
      t.overlapMs[size_t(s)] += intersection(spans[size_t(s)], spans[0]);
  }
}

void StreamTimeline::print(std::FILE *out, int rank) const {
  for (const auto &[name, t] : programs_) {
    std::fprintf(out, "ds-run: rank %d: stream timeline '%s' (%ld runs, ms per run): wall %.3f",
                 rank, name.c_str(), t.runs, t.wallMs / double(t.runs));
    for (int s = 0; s < streams_; ++s) {
      if (t.busyMs[size_t(s)] <= 0)
        continue;
      std::fprintf(out, "; %s busy %.3f", streamName(s), t.busyMs[size_t(s)] / double(t.runs));
      if (s != 0)
        std::fprintf(out, " overlapping compute %.3f", t.overlapMs[size_t(s)] / double(t.runs));
    }
    std::fprintf(out, "\n");
  }
}

} // namespace ds::rt::cuda
