// Per-kernel cost formulas of the cost report: FLOPs and bytes moved by one runtime
// kernel.
#ifndef DS_TARGET_KERNELCOST_H
#define DS_TARGET_KERNELCOST_H

#include <cstdint>
#include <string_view>
#include <vector>

namespace mlir::ds::cost {

/// A kernel operand as the cost formulas see it: its shape and its element size.
struct Operand {
  std::vector<int64_t> shape;
  int64_t elementBytes = 4;
  double numElements() const;
  double bytes() const { return numElements() * double(elementBytes); }
};

/// What a kernel class runs on: tensor cores (matmul-class FLOPs, counted by the floor),
/// the vector units, or nothing (data movement, collectives).
enum class Unit { TensorCore, Vector, None };

struct KernelCost {
  double flops = 0;
  double bytesRead = 0;
  double bytesWritten = 0;
  Unit unit = Unit::None;
  /// Device operations (kernel launches, memcpy/memset) the CUDA runtime issues for one call
  /// (cudaLaunches), each charged the device's launch overhead.
  int64_t launches = 1;
  double bytes() const { return bytesRead + bytesWritten; }
};

/// The device operations one call of `kernel` issues on the CUDA backend: its kernel
/// launches plus the stream-ordered copies and memsets it makes (a multi-tensor kernel's
/// descriptor upload, a zeroed output), as runtime/lib/cuda implements the kernel; a
/// library call (cuBLASLt, cuDNN) counts one. Kernels not listed issue one.
int64_t cudaLaunches(std::string_view kernel, const std::vector<Operand> &inputs,
                     const std::vector<Operand> &outputs);

/// The cost of one call of `kernel` (a name of the kernel catalogue) on `inputs` and
/// `outputs`. Every kernel of the catalogue has a formula (the table in KernelCost.cpp);
/// an unknown name costs its operands' bytes with no FLOPs.
KernelCost costOf(std::string_view kernel, const std::vector<Operand> &inputs,
                  const std::vector<Operand> &outputs);

/// Whether the table holds a formula for `kernel`.
bool hasFormula(std::string_view kernel);

/// A GPU for the roofline: dense peaks and memory bandwidth.
struct Device {
  std::string_view name;
  double tensorFlops16; // dense bf16/fp16 tensor-core FLOP/s
  double tensorFlops32; // dense TF32 tensor-core FLOP/s (fp32 matmuls)
  double vectorFlops;   // fp32 CUDA-core FLOP/s
  double bytesPerSecond;
  double launchSeconds; // overhead charged per kernel launch
};
/// The named GPUs (`--cost-device`): h100 (SXM), h200.
const std::vector<Device> &devices();
const Device *findDevice(std::string_view name);

/// Roofline time of one kernel: max(FLOP time on its unit, byte time) (no launch
/// overhead). `sixteenBit`: the tensor-core kernel runs on 16-bit inputs.
double rooflineSeconds(const KernelCost &cost, bool sixteenBit, const Device &device);

} // namespace mlir::ds::cost

#endif // DS_TARGET_KERNELCOST_H
