// What ds-run drives: one rank's executor on some backend (CpuExecutor, or the CUDA plugin's).
#pragma once

#include "ds/runtime/Plan.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// One rank's executor. Buffers are reached through upload/download, which copy the whole
/// buffer; every region (arena, persistent, host, the NVMe swap file) is the executor's own.
/// Wall-clock seconds of one program's instructions (wall_clock_breakdown): those up to and
/// including its split instruction, those after it, and the collectives among either.
struct PhaseSeconds {
  double head = 0, tail = 0, collectives = 0;
};

class ExecutorBase {
public:
  virtual ~ExecutorBase() = default;
  /// Executes program `index` (asynchronously on devices: downloads wait for it).
  virtual void run(int index) = 0;
  /// Runs the program with this role; returns false when the plan has none.
  bool runRole(ds::plan::Program::Role role) {
    int p = plan().program(role);
    if (p < 0)
      return false;
    run(p);
    return true;
  }
  /// Runs instruction k of program p alone and waits for it (kernel verification).
  virtual void runInstruction(int program, int k) = 0;
  /// Copies host bytes (the buffer's full size) into buffer `id`.
  virtual void upload(uint32_t id, const void *src) = 0;
  /// Copies buffer `id` (its full size) to host memory, after all queued work.
  virtual void download(uint32_t id, void *dst) = 0;
  /// Buffer `id`'s bytes where they live in host memory, to be read or written in place
  /// between program runs (checkpoints: no staging copy), after all queued work; nullptr
  /// where they do not (a device, the NVMe swap file): then upload/download.
  virtual char *hostBytes(uint32_t id) { return nullptr; }
  /// Sets the count of program runs so far (the position of the dropout RNG stream,
  /// README "Dropout RNG"), for a resumed run. Backends that cannot throw Error.
  virtual void setRunCounter(uint64_t runs) {
    throw Error(describe() +
                ": this backend cannot restore the dropout RNG position of a "
                "checkpoint (resume a plan with dropout on the CPU backend)");
  }
  /// Highest arena byte (offset + size) touched by any executed instruction so far.
  virtual uint64_t measuredPeakBytes() const = 0;
  /// The same for the host region (offload: host globals and host transients) and the
  /// NVMe region (the swap file), so the report compares each tier with the plan.
  virtual uint64_t measuredHostBytes() const = 0;
  virtual uint64_t measuredNvmeBytes() const = 0;
  /// Times every instruction from now on (wall_clock_breakdown): instruction k of program p
  /// counts in the head when k <= splits[p], else in the tail. False: this backend cannot
  /// time instructions (nothing changes).
  virtual bool startPhaseTiming(const std::vector<int> &splits) { return false; }
  /// Per program, the seconds since the previous call; resets them. Empty when not timing.
  virtual std::vector<PhaseSeconds> takePhaseSeconds() { return {}; }
  /// "cpu", "cuda (NVIDIA H200, nccl)", ...
  virtual std::string describe() const = 0;
  virtual const LoadedPlan &plan() const = 0;
};

/// A host copy of buffer `id` (downloaded when `fetch`) as a Tensor over `store`.
inline Tensor hostTensor(ExecutorBase &exec, uint32_t id, std::vector<char> &store, bool fetch) {
  const BufferInfo &b = exec.plan().buffer(id);
  store.resize(std::max<size_t>(size_t(b.type.bytes), 1));
  if (fetch)
    exec.download(id, store.data());
  return Tensor{b.type.dtype, &b.type.shape, b.type.numel, store.data()};
}

/// The first element of an integer buffer (the applied-step counter).
inline int64_t downloadInteger(ExecutorBase &exec, uint32_t id) {
  std::vector<char> bytes;
  Tensor t = hostTensor(exec, id, bytes, /*fetch=*/true);
  bytes.resize(std::max<size_t>(bytes.size(), 8));
  if (t.dtype == ds::plan::I32)
    return reinterpret_cast<const int32_t *>(bytes.data())[0];
  return reinterpret_cast<const int64_t *>(bytes.data())[0];
}

/// The first element of a floating-point buffer (a loss, the loss scale) as a double.
inline double downloadScalar(ExecutorBase &exec, uint32_t id) {
  std::vector<char> bytes;
  Tensor t = hostTensor(exec, id, bytes, /*fetch=*/true);
  bytes.resize(std::max<size_t>(bytes.size(), 8));
  const char *p = bytes.data();
  switch (t.dtype) {
  case ds::plan::F32: return reinterpret_cast<const float *>(p)[0];
  case ds::plan::F64: return reinterpret_cast<const double *>(p)[0];
  case ds::plan::F16: return halfToFloat(reinterpret_cast<const uint16_t *>(p)[0]);
  default: return bf16ToFloat(reinterpret_cast<const uint16_t *>(p)[0]);
  }
}

} // namespace ds::rt
