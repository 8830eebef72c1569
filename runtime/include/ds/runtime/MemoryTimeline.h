// The planned device memory of a plan over its instructions, by what the bytes hold.
#pragma once

#include "ds/runtime/Plan.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// What planned device bytes hold. Persistent region: parameters, gradients, optimizer
/// state (master weights, moments, step and loss-scale counters), other (frozen buffers,
/// constants, alignment). Arena: activations (every transient), collective buffers
/// (operands of all_gather / reduce_scatter / all_reduce / broadcast) and the arena's unused
/// gaps below its high-water mark at that instruction.
enum class MemoryUse {
  Parameters,
  Gradients,
  OptimizerState,
  OtherPersistent,
  Activations,
  CollectiveBuffers,
  ArenaGaps,
};
constexpr int kMemoryUses = 7;
/// "parameters", "gradients", ...: the CSV column names.
const char *memoryUseName(MemoryUse use);

struct TimelinePoint {
  int program = 0;        // index into Plan.programs
  int instruction = 0;    // index in that program
  std::string kernel;
  std::array<uint64_t, kMemoryUses> bytes{};
  uint64_t total() const;
};

/// One point per instruction of the programs a training step runs, in run order (INIT,
/// MICRO_STEP, APPLY_STEP; an inference plan: INIT, INFERENCE). An arena buffer occupies
/// its bytes from the first to the last instruction of its program that touches it; at each
/// instruction the arena counts up to the highest end of a live buffer, so the maximum total
/// is persistent_bytes + predicted_peak_bytes, the planned device peak.
std::vector<TimelinePoint> computeMemoryTimeline(const LoadedPlan &plan);

/// "index,program,instruction,kernel,<uses...>,total" rows.
std::string memoryTimelineCsv(const LoadedPlan &plan, const std::vector<TimelinePoint> &t);
/// One plan's timeline in a chart, with its own heading (e.g. "ZeRO stage 3").
struct TimelinePanel {
  const LoadedPlan *plan = nullptr;
  std::vector<TimelinePoint> points;
  std::string heading;
};

/// A stacked-area chart per panel (instruction index -> bytes, one colour per use), program
/// boundaries and the peak marked; panels stacked top to bottom on one byte scale so that
/// compared plans (stages, offload choices) read against each other; titled `title`.
/// Each panel is a <g class="panel" data-peak-bytes="N"> (its planned device peak).
std::string memoryTimelineSvg(const std::vector<TimelinePanel> &panels,
                              const std::string &title);
/// One panel, headed by nothing but `title`.
std::string memoryTimelineSvg(const LoadedPlan &plan, const std::vector<TimelinePoint> &t,
                              const std::string &title);

} // namespace ds::rt
