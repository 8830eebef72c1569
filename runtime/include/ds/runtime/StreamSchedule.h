// How a device backend runs one program on its streams: per instruction the stream, the
// cross-stream waits (hazard analysis), and the NVMe swaps that must complete before it.
#pragma once

#include "ds/runtime/Plan.h"

#include <cstdint>
#include <vector>

namespace ds::rt {

/// The streams of a device executor (the plan's Instruction.Stream, one queue each).
enum StreamId : int { kComputeStream = 0, kCommStream, kCopyStream, kIoStream, kHostStream };
constexpr int kStreamCount = 5;
/// The stream an instruction of the plan runs on (unspecified: compute).
int streamOf(ds::plan::Instruction::Stream stream);
/// "compute", "comm", "copy", "io", "host".
const char *streamName(int stream);

/// The bytes of one region an instruction reads or writes.
struct ByteRange {
  ds::plan::Placement region;
  uint64_t begin, end;
  bool write;
};

struct ScheduledInstruction {
  int stream = kComputeStream;
  /// Runs on the CPU with ds-run's kernels (host and io streams): its operands are host
  /// buffers and, for swap_in/swap_out, NVMe buffers.
  bool onHost = false;
  /// swap_in or swap_out: submits asynchronous file I/O; the bytes move until a later
  /// instruction's swapWaits (or the end of the program) completes it.
  bool swap = false;
  std::vector<ByteRange> ranges;
  uint64_t arenaEnd = 0, hostEnd = 0, nvmeEnd = 0; // highest byte touched in each region
  /// Instructions on other streams this one waits for (the latest conflicting one per
  /// stream, or a plan `waits` entry; earlier ones are covered by stream order).
  std::vector<int> waits;
  /// Some other stream waits for this instruction (the executor records an event).
  bool record = false;
  /// Earlier swaps whose I/O must be complete before this instruction starts: a swap_in
  /// whose host bytes it touches, a swap_out whose host bytes it writes. A swap another
  /// instruction of the same stream already completed is not repeated.
  std::vector<int> swapWaits;
};

struct ProgramSchedule {
  std::vector<ScheduledInstruction> instrs;
  bool usesStream[kStreamCount] = {true, false, false, false, false};
  uint64_t arenaEnd = 0, hostEnd = 0, nvmeEnd = 0;
  /// Every swap of the program, in order: the io stream completes them all at its end.
  std::vector<int> swaps;
  /// Instructions that run on the host (host and io streams).
  int hostInstructions = 0;
};

/// Schedules program `program` of a validated plan for a device executor. Throws Error
/// (naming the program, instruction and buffer) when an instruction cannot run where the
/// plan puts it: a host- or io-stream instruction with an operand in device memory, a
/// device-stream instruction other than `copy` touching the host region, anything but
/// swap_in/swap_out touching the NVMe region or running on the io stream.
ProgramSchedule scheduleProgram(const LoadedPlan &plan, int program);

} // namespace ds::rt
