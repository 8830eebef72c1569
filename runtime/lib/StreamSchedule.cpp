// Load-time stream schedule of a program for a device executor: streams, hazard waits, swaps.
#include "ds/runtime/StreamSchedule.h"

#include <algorithm>
#include <set>
#include <string>

namespace ds::rt {
namespace {

bool conflicts(const std::vector<ByteRange> &a, const std::vector<ByteRange> &b) {
  for (const auto &x : a)
    for (const auto &y : b)
      if ((x.write || y.write) && x.region == y.region && x.begin < y.end && y.begin < x.end)
        return true;
  return false;
}

/// True when `in` must see swap `swap` complete first: it touches host bytes the swap
/// writes (a swap_in's destination) or writes host bytes it reads (a swap_out's source).
/// File ranges need nothing: the swap file runs conflicting requests in submission order.
bool needsSwapDone(const ScheduledInstruction &in, const ScheduledInstruction &swap) {
  for (const auto &x : in.ranges)
    for (const auto &y : swap.ranges)
      if (x.region == ds::plan::HOST && y.region == ds::plan::HOST && x.begin < y.end &&
          y.begin < x.end && (x.write || y.write))
        return true;
  return false;
}

} // namespace

int streamOf(ds::plan::Instruction::Stream stream) {
  switch (stream) {
  case ds::plan::Instruction::COMM: return kCommStream;
  case ds::plan::Instruction::COPY: return kCopyStream;
  case ds::plan::Instruction::IO: return kIoStream;
  case ds::plan::Instruction::HOST: return kHostStream;
  default: return kComputeStream;
  }
}

const char *streamName(int stream) {
  static const char *const names[kStreamCount] = {"compute", "comm", "copy", "io", "host"};
  return stream >= 0 && stream < kStreamCount ? names[stream] : "?";
}

ProgramSchedule scheduleProgram(const LoadedPlan &plan, int program) {
  const auto &prog = plan.plan.programs(program);
  ProgramSchedule ps;
  for (int k = 0; k < prog.instructions_size(); ++k) {
    const auto &ins = prog.instructions(k);
    ScheduledInstruction in;
    in.stream = streamOf(ins.stream());
    in.onHost = in.stream == kHostStream || in.stream == kIoStream;
    in.swap = ins.kernel() == "swap_in" || ins.kernel() == "swap_out";
    auto where = [&] {
      return "program '" + prog.name() + "' instruction " + std::to_string(k) + " (" +
             ins.kernel() + " on the " + streamName(in.stream) + " stream)";
    };
    if (in.swap != (in.stream == kIoStream))
      fail(where(), ": the io stream runs swap_in and swap_out, and they run only there");
    for (int pass = 0; pass < 2; ++pass)
      for (size_t b : pass ? plan.instrOutputs[size_t(program)][size_t(k)]
                           : plan.instrInputs[size_t(program)][size_t(k)]) {
        const auto &info = plan.buffers[b];
        auto refuse = [&](const char *why) {
          fail(where(), ": buffer ", plan.plan.buffers(int(b)).id(), " '", info.name,
               "' is in the ", placementRegionName(info.placement), ", ", why);
        };
        bool hostSide = info.placement == ds::plan::HOST || info.placement == ds::plan::NVME;
        if (in.onHost && !hostSide)
          refuse("which the CPU cannot reach: a host-stream instruction takes host buffers "
                 "(a copy on the copy stream brings device data over)");
        if (info.placement == ds::plan::NVME && !in.swap)
          refuse("which only swap_in and swap_out may touch");
        if (!in.onHost && info.placement == ds::plan::HOST && ins.kernel() != "copy")
          refuse("which only copy (and host-stream kernels) may touch on a device");
        if (info.type.bytes == 0)
          continue;
        uint64_t end = info.offset + info.type.bytes;
        in.ranges.push_back({info.placement, info.offset, end, pass == 1});
        if (info.placement == ds::plan::ARENA)
          in.arenaEnd = std::max(in.arenaEnd, end);
        else if (info.placement == ds::plan::HOST)
          in.hostEnd = std::max(in.hostEnd, end);
        else if (info.placement == ds::plan::NVME)
          in.nvmeEnd = std::max(in.nvmeEnd, end);
      }
    ps.instrs.push_back(std::move(in));
  }

  // Hazards: for each instruction, the latest conflicting instruction on each other stream
  // (stream order covers the earlier ones), skipping those an earlier instruction of the
  // same stream already waited for.
  std::vector<int> byStream[kStreamCount];
  int waited[kStreamCount][kStreamCount];
  for (auto &row : waited)
    for (int &w : row)
      w = -1;
  std::set<int> completedOn[kStreamCount]; // swaps each stream has already completed
  for (int k = 0; k < int(ps.instrs.size()); ++k) {
    ScheduledInstruction &in = ps.instrs[size_t(k)];
    ps.usesStream[in.stream] = true;
    ps.arenaEnd = std::max(ps.arenaEnd, in.arenaEnd);
    ps.hostEnd = std::max(ps.hostEnd, in.hostEnd);
    ps.nvmeEnd = std::max(ps.nvmeEnd, in.nvmeEnd);
    if (in.onHost)
      ++ps.hostInstructions;
    const auto &planWaits = prog.instructions(k).waits();
    for (int s = 0; s < kStreamCount; ++s) {
      if (s == in.stream)
        continue;
      int found = -1;
      for (auto it = byStream[s].rbegin(); it != byStream[s].rend(); ++it) {
        if (*it <= waited[in.stream][s])
          break;
        bool planned =
            std::find(planWaits.begin(), planWaits.end(), uint32_t(*it)) != planWaits.end();
        if (planned || conflicts(in.ranges, ps.instrs[size_t(*it)].ranges)) {
          found = *it;
          break;
        }
      }
      if (found >= 0) {
        in.waits.push_back(found);
        ps.instrs[size_t(found)].record = true;
        waited[in.stream][s] = found;
      }
    }
    // A swap's bytes move after its instruction returns: whoever touches them first waits.
    // The hazard waits above order this instruction after the swap's submission (a swap
    // that needs completing conflicts with it), so completing it here cannot wait forever.
    for (int j : ps.swaps)
      if (!completedOn[in.stream].count(j) && needsSwapDone(in, ps.instrs[size_t(j)])) {
        in.swapWaits.push_back(j);
        completedOn[in.stream].insert(j);
      }
    if (in.swap)
      ps.swaps.push_back(k);
    byStream[in.stream].push_back(k);
  }
  return ps;
}

} // namespace ds::rt
