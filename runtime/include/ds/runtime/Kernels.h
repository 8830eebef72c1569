// Kernel interface: load-time signature checks (backend independent) and the CPU kernels.
#pragma once

#include "ds/runtime/DType.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/KernelAttrs.h"
#include "ds/runtime/KernelCatalogue.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

class Communicator;

/// A buffer's static type: what load-time checks see.
struct TensorType {
  DType dtype = ds::plan::DTYPE_UNSPECIFIED;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  uint64_t bytes = 0;
  int64_t rank() const { return int64_t(shape.size()); }
};

using Instruction = ds::plan::Instruction;

/// What a signature check sees: the instruction, the types of its operands and its decoded
/// attributes (set by checkInstruction before the kernel's own check runs).
struct CheckContext {
  const Instruction &ins;
  std::vector<const TensorType *> in, out;
  int worldSize = 1;
  const KernelAttrs *kernelAttrs = nullptr;
  template <typename A> const A &attrs() const { return std::get<A>(*kernelAttrs); }
};
/// Throws Error (message without location prefix) when the instruction is ill-formed.
using CheckFn = void (*)(const CheckContext &);

/// The load-time view of a catalogue entry (KernelCatalogue.def).
struct KernelSignature {
  const char *name;
  KernelId id;
  CheckFn check; // the kernel's shape/dtype rules; arity and attributes are checked before
  bool inPlace;  // an output may alias an input exactly (same offset and size)
};

/// The signature of `name`, or nullptr for an unknown kernel.
const KernelSignature *findKernelSignature(const std::string &name);
/// Names of every kernel with a signature.
std::vector<std::string> kernelNames();

/// Decodes and validates an instruction's attributes against its kernel's catalogue entry:
/// every attribute's presence, type and allowed values; keys the kernel does not take are
/// errors. Throws Error naming the attribute.
KernelAttrs decodeKernelAttrs(KernelId id, const Instruction &ins);
/// Same, looking the kernel up by the instruction's name (tests, tools).
KernelAttrs decodeKernelAttrs(const Instruction &ins);

/// The whole load-time check of one instruction: arity from the catalogue's roles, then
/// decodeKernelAttrs, then the kernel's shape/dtype check (with c.kernelAttrs set). Returns
/// the decoded attributes; throws Error (message without location prefix).
KernelAttrs checkInstruction(const KernelSignature &sig, CheckContext &c);

// ---- execution ----

/// A buffer at run time.
struct Tensor {
  DType dtype;
  const std::vector<int64_t> *shape;
  int64_t numel;
  void *data;
  /// An NVME buffer: its byte offset in the rank's swap file (data is null); -1 otherwise.
  int64_t fileOffset = -1;
  template <typename T> T *as() const { return static_cast<T *>(data); }
  int64_t rank() const { return int64_t(shape->size()); }
  int64_t dim(int64_t i) const { return (*shape)[size_t(i)]; }
};

class SwapFile;

/// An NVMe transfer in flight: the swap file's ticket and the host bytes it reads or
/// writes, which no instruction may touch until it completes.
struct PendingSwap {
  uint64_t ticket;
  const char *begin, *end;
};

struct ExecContext {
  /// The rank's NVMe swap file (plans with an NVMe region), and the swaps in flight that
  /// swap_in/swap_out submitted; the executor waits for one before an instruction touches
  /// its host bytes, and for all at the end of a program.
  SwapFile *swap = nullptr;
  std::vector<PendingSwap> pendingSwaps;
  Communicator *comm = nullptr;
  int rank = 0;
  int worldSize = 1;
  /// Counts every program run so far (all roles); mixed into dropout's random stream.
  uint64_t runCounter = 0;
  /// Backend state for device kernels (the CUDA backend's cuda::DeviceContext); null on CPU.
  void *device = nullptr;
};

struct KernelCall {
  const Instruction &ins;
  std::vector<Tensor> in, out;
  ExecContext &ctx;
  /// The instruction's attributes, decoded at load (LoadedPlan::instrAttrs).
  const KernelAttrs &kernelAttrs;
  /// The attributes as the struct the kernel's catalogue entry names (KernelAttrs.h).
  template <typename A> const A &attrs() const { return std::get<A>(kernelAttrs); }
};
using RunFn = void (*)(KernelCall &);

/// The CPU implementation of a kernel, or nullptr.
RunFn findCpuKernel(KernelId id);
RunFn findCpuKernel(const std::string &name);

/// Splits shape at `axis` into outer (product before), dim, inner (product after).
inline void splitAt(const std::vector<int64_t> &shape, int64_t axis, int64_t &outer,
                    int64_t &dim, int64_t &inner) {
  outer = 1;
  inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[size_t(i)];
  dim = shape[size_t(axis)];
  for (size_t i = size_t(axis) + 1; i < shape.size(); ++i)
    inner *= shape[i];
}

/// Broadcast result shape of a and b (numpy rules); throws Error when incompatible.
std::vector<int64_t> broadcastShapes(const std::vector<int64_t> &a,
                                     const std::vector<int64_t> &b);

} // namespace ds::rt
