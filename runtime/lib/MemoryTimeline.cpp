// Planned device memory over a plan's instructions (ds-opt --memory-timeline): CSV and SVG.
#include "ds/runtime/MemoryTimeline.h"

#include "ds/runtime/FileOutput.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

namespace ds::rt {

using ds::plan::Placement;
using ds::plan::Program;

const char *memoryUseName(MemoryUse use) {
  switch (use) {
  case MemoryUse::Parameters: return "parameters";
  case MemoryUse::Gradients: return "gradients";
  case MemoryUse::OptimizerState: return "optimizer_states";
  case MemoryUse::OtherPersistent: return "other_persistent";
  case MemoryUse::Activations: return "activations";
  case MemoryUse::CollectiveBuffers: return "collective_buffers";
  case MemoryUse::ArenaGaps: return "arena_gaps";
  }
  return "?";
}

uint64_t TimelinePoint::total() const {
  uint64_t t = 0;
  for (uint64_t b : bytes)
    t += b;
  return t;
}

namespace {

struct Interval {
  uint64_t begin, end;
  MemoryUse use;
};

/// Bytes covered by `intervals`, each byte counted once, for the first use (in enum order)
/// of the intervals covering it (aliasing views never count twice).
std::array<uint64_t, kMemoryUses> coveredBytes(std::vector<Interval> intervals) {
  std::array<uint64_t, kMemoryUses> out{};
  std::vector<std::pair<uint64_t, int>> events; // (position, +-(use + 1))
  for (const Interval &iv : intervals)
    if (iv.end > iv.begin) {
      events.push_back({iv.begin, int(iv.use) + 1});
      events.push_back({iv.end, -(int(iv.use) + 1)});
    }
  std::sort(events.begin(), events.end());
  std::array<int, kMemoryUses> active{};
  for (size_t i = 0; i < events.size(); ++i) {
    int e = events[i].second;
    active[size_t(std::abs(e) - 1)] += e > 0 ? 1 : -1;
    if (i + 1 == events.size())
      break;
    uint64_t len = events[i + 1].first - events[i].first;
    if (len == 0)
      continue;
    for (int u = 0; u < kMemoryUses; ++u)
      if (active[size_t(u)] > 0) {
        out[size_t(u)] += len;
        break;
      }
  }
  return out;
}

MemoryUse stateUse(const std::string &kind) {
  if (kind == "param")
    return MemoryUse::Parameters;
  if (kind == "grad")
    return MemoryUse::Gradients;
  return MemoryUse::OptimizerState; // master, moments, step, loss-scale state
}

} // namespace

std::vector<TimelinePoint> computeMemoryTimeline(const LoadedPlan &lp) {
  const auto &plan = lp.plan;
  // Persistent region: the same at every instruction.
  std::unordered_map<uint32_t, MemoryUse> persistentUse;
  for (const auto &p : plan.parameters())
    persistentUse[p.buffer()] = p.trainable() ? MemoryUse::Parameters
                                              : MemoryUse::OtherPersistent;
  for (const auto &s : plan.states())
    persistentUse[s.buffer()] = stateUse(s.kind());
  std::vector<Interval> persistent;
  for (const auto &b : plan.buffers())
    if (b.placement() == Placement::PERSISTENT) {
      const BufferInfo &info = lp.buffer(b.id());
      auto it = persistentUse.find(b.id());
      persistent.push_back({info.offset, info.offset + info.type.bytes,
                            it == persistentUse.end() ? MemoryUse::OtherPersistent
                                                      : it->second});
    }
  std::array<uint64_t, kMemoryUses> fixed = coveredBytes(persistent);
  uint64_t covered = 0;
  for (uint64_t b : fixed)
    covered += b;
  if (plan.persistent_bytes() > covered) // alignment padding
    fixed[size_t(MemoryUse::OtherPersistent)] += plan.persistent_bytes() - covered;

  // Programs in run order.
  std::vector<int> order;
  bool training = lp.program(Program::MICRO_STEP) >= 0;
  for (Program::Role role : {Program::INIT, training ? Program::MICRO_STEP : Program::INFERENCE,
                             Program::APPLY_STEP})
    if (lp.program(role) >= 0)
      order.push_back(lp.program(role));

  std::vector<TimelinePoint> out;
  for (int p : order) {
    const Program &prog = plan.programs(p);
    int n = prog.instructions_size();
    // Each arena buffer's live range in this program, and whether a collective uses it.
    std::map<size_t, std::pair<int, int>> live; // dense buffer index -> [first, last]
    std::vector<bool> collective(lp.buffers.size(), false);
    for (int i = 0; i < n; ++i) {
      bool coll = isCollectiveKernel(prog.instructions(i).kernel());
      for (const auto *operands : {&lp.instrInputs[size_t(p)][size_t(i)],
                                   &lp.instrOutputs[size_t(p)][size_t(i)]})
        for (size_t b : *operands) {
          if (lp.buffers[b].placement != Placement::ARENA)
            continue;
          auto [it, fresh] = live.try_emplace(b, i, i);
          if (!fresh)
            it->second.second = i;
          if (coll)
            collective[b] = true;
        }
    }
    // Sweep: buffers start at their first use and end after their last.
    std::vector<std::vector<size_t>> starts(static_cast<size_t>(n)), ends(starts.size());
    for (const auto &[b, range] : live) {
      starts[size_t(range.first)].push_back(b);
      ends[size_t(range.second)].push_back(b);
    }
    std::map<size_t, bool> current; // live dense buffer indices
    for (int i = 0; i < n; ++i) {
      for (size_t b : starts[size_t(i)])
        current[b] = true;
      std::vector<Interval> arena;
      uint64_t extent = 0;
      for (const auto &kv : current) {
        const BufferInfo &info = lp.buffers[kv.first];
        uint64_t end = info.offset + info.type.bytes;
        extent = std::max(extent, end);
        arena.push_back({info.offset, end,
                         collective[kv.first] ? MemoryUse::CollectiveBuffers
                                              : MemoryUse::Activations});
      }
      TimelinePoint pt;
      pt.program = p;
      pt.instruction = i;
      pt.kernel = prog.instructions(i).kernel();
      pt.bytes = fixed;
      std::array<uint64_t, kMemoryUses> a = coveredBytes(std::move(arena));
      uint64_t used = 0;
      for (int u = 0; u < kMemoryUses; ++u) {
        pt.bytes[size_t(u)] += a[size_t(u)];
        used += a[size_t(u)];
      }
      pt.bytes[size_t(MemoryUse::ArenaGaps)] += extent - used;
      out.push_back(std::move(pt));
      for (size_t b : ends[size_t(i)])
        current.erase(b);
    }
  }
  return out;
}

std::string memoryTimelineCsv(const LoadedPlan &lp, const std::vector<TimelinePoint> &t) {
  std::string s = "index,program,instruction,kernel";
  for (int u = 0; u < kMemoryUses; ++u)
    s += std::string(",") + memoryUseName(MemoryUse(u));
  s += ",total\n";
  for (size_t i = 0; i < t.size(); ++i) {
    const TimelinePoint &p = t[i];
    s += std::to_string(i) + "," + lp.plan.programs(p.program).name() + "," +
         std::to_string(p.instruction) + "," + p.kernel;
    for (uint64_t b : p.bytes)
      s += "," + std::to_string(b);
    s += "," + std::to_string(p.total()) + "\n";
  }
  return s;
}

namespace {
std::string escapeXml(const std::string &in) {
  std::string out;
  for (char c : in) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

/// The smallest 1/2/5 x 2^k-ish step (in bytes: powers of 1024 times 1, 2, 4, 8 ...) that
/// gives at most `ticks` ticks up to `max`.
uint64_t tickStep(uint64_t max, int ticks) {
  uint64_t step = 1;
  while (step * uint64_t(ticks) < max)
    step *= 2;
  return step;
}
} // namespace

std::string memoryTimelineSvg(const LoadedPlan &lp, const std::vector<TimelinePoint> &t,
                              const std::string &title) {
  return memoryTimelineSvg({TimelinePanel{&lp, t, ""}}, title);
}

std::string memoryTimelineSvg(const std::vector<TimelinePanel> &panels,
                              const std::string &title) {
  // Each panel: a heading line (when it has one), the plot, the program names and x label.
  const double W = 960, left = 90, right = 200, titleH = 40, plotH = 350, below = 50;
  const double plotW = W - left - right;
  double headingH = 0;
  for (const TimelinePanel &p : panels)
    if (!p.heading.empty())
      headingH = 22;
  const double panelH = headingH + plotH + below;
  const double H = titleH + panelH * double(std::max<size_t>(panels.size(), 1));
  // One byte scale for every panel.
  uint64_t allPeak = 0;
  for (const TimelinePanel &p : panels)
    for (const TimelinePoint &pt : p.points)
      allPeak = std::max(allPeak, pt.total());
  uint64_t step = tickStep(std::max<uint64_t>(allPeak, 1), 5);
  uint64_t yMax = ((allPeak + step - 1) / step) * step;
  if (yMax == 0)
    yMax = step;
  static const char *colours[kMemoryUses] = {"#4c72b0", "#dd8452", "#55a868", "#8c8c8c",
                                             "#c44e52", "#8172b3", "#e6e6e6"};
  // Stack order, bottom to top: persistent uses, then collectives, activations, gaps.
  static const MemoryUse stack[kMemoryUses] = {
      MemoryUse::Parameters,        MemoryUse::Gradients,   MemoryUse::OptimizerState,
      MemoryUse::OtherPersistent,   MemoryUse::CollectiveBuffers, MemoryUse::Activations,
      MemoryUse::ArenaGaps};
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt(W) +
                  "\" height=\"" + fmt(H) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt(left) + "\" y=\"22\" font-size=\"14\">" + escapeXml(title) +
       "</text>\n";
  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const LoadedPlan &lp = *panels[pi].plan;
    const std::vector<TimelinePoint> &t = panels[pi].points;
    const double panelTop = titleH + panelH * double(pi);
    const double top = panelTop + headingH;
    uint64_t peak = 0;
    size_t peakAt = 0;
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i].total() > peak) {
        peak = t[i].total();
        peakAt = i;
      }
    s += "<g class=\"panel\" data-peak-bytes=\"" + std::to_string(peak) + "\">\n";
    if (!panels[pi].heading.empty())
      s += "<text x=\"" + fmt(left) + "\" y=\"" + fmt(panelTop + 14) +
           "\" font-size=\"13\" font-weight=\"bold\">" + escapeXml(panels[pi].heading) +
           "</text>\n";
    double n = double(std::max<size_t>(t.size(), 1));
    auto x = [&](double i) { return left + plotW * i / n; };
    auto y = [&](double b) { return top + plotH * (1 - b / double(yMax)); };
    std::vector<uint64_t> base(t.size(), 0);
    for (MemoryUse use : stack) {
      std::string upper, lower;
      bool any = false;
      for (size_t i = 0; i < t.size(); ++i) {
        uint64_t b0 = base[i], b1 = base[i] + t[i].bytes[size_t(use)];
        any |= b1 > b0;
        upper += fmt(x(double(i))) + "," + fmt(y(double(b1))) + " " + fmt(x(double(i + 1))) +
                 "," + fmt(y(double(b1))) + " ";
        lower = fmt(x(double(i + 1))) + "," + fmt(y(double(b0))) + " " + fmt(x(double(i))) +
                "," + fmt(y(double(b0))) + " " + lower;
        base[i] = b1;
      }
      if (any)
        s += "<polygon fill=\"" + std::string(colours[int(use)]) + "\" points=\"" + upper +
             lower + "\"><title>" + memoryUseName(use) + "</title></polygon>\n";
    }
    // Axes and ticks.
    s += "<line x1=\"" + fmt(left) + "\" y1=\"" + fmt(top + plotH) + "\" x2=\"" +
         fmt(left + plotW) + "\" y2=\"" + fmt(top + plotH) + "\" stroke=\"black\"/>\n";
    s += "<line x1=\"" + fmt(left) + "\" y1=\"" + fmt(top) + "\" x2=\"" + fmt(left) +
         "\" y2=\"" + fmt(top + plotH) + "\" stroke=\"black\"/>\n";
    for (uint64_t v = 0; v <= yMax; v += step) {
      s += "<line x1=\"" + fmt(left - 4) + "\" y1=\"" + fmt(y(double(v))) + "\" x2=\"" +
           fmt(left + plotW) + "\" y2=\"" + fmt(y(double(v))) +
           "\" stroke=\"#000\" stroke-opacity=\"0.15\"/>\n";
      s += "<text x=\"" + fmt(left - 6) + "\" y=\"" + fmt(y(double(v)) + 4) +
           "\" text-anchor=\"end\">" + formatByteSize(v) + "</text>\n";
    }
    s += "<text x=\"" + fmt(left + plotW / 2) + "\" y=\"" + fmt(top + plotH + below - 12) +
         "\" text-anchor=\"middle\">instruction (programs in run order)</text>\n";
    // Program boundaries.
    for (size_t i = 0; i < t.size(); ++i)
      if (i == 0 || t[i].program != t[i - 1].program) {
        s += "<line x1=\"" + fmt(x(double(i))) + "\" y1=\"" + fmt(top) + "\" x2=\"" +
             fmt(x(double(i))) + "\" y2=\"" + fmt(top + plotH) +
             "\" stroke=\"black\" stroke-dasharray=\"4,3\"/>\n";
        s += "<text x=\"" + fmt(x(double(i)) + 3) + "\" y=\"" + fmt(top + plotH + 16) +
             "\">" + escapeXml(lp.plan.programs(t[i].program).name()) + " (" +
             std::to_string(i) + ")</text>\n";
      }
    // Peak marker.
    if (!t.empty())
      s += "<text x=\"" + fmt(x(double(peakAt))) + "\" y=\"" + fmt(y(double(peak)) - 4) +
           "\" font-size=\"11\">peak " + formatByteSize(peak) + " at " +
           std::to_string(peakAt) + " (" + escapeXml(t[peakAt].kernel) + ")</text>\n";
    s += "</g>\n";
  }
  // Legend, top of the stack first.
  double ly = titleH + headingH + 10;
  for (int k = kMemoryUses - 1; k >= 0; --k) {
    MemoryUse use = stack[k];
    s += "<rect x=\"" + fmt(W - right + 15) + "\" y=\"" + fmt(ly - 10) +
         "\" width=\"12\" height=\"12\" fill=\"" + colours[int(use)] + "\"/>\n";
    s += "<text x=\"" + fmt(W - right + 32) + "\" y=\"" + fmt(ly) + "\">" +
         memoryUseName(use) + "</text>\n";
    ly += 18;
  }
  s += "</svg>\n";
  return s;
}

} // namespace ds::rt
