// Kernel interface: load-time signature checks (backend independent) and the CPU kernels.
#pragma once

#include "ds/runtime/DType.h"
#include "ds/runtime/Error.h"

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

// ---- attribute access (throws Error naming the attribute on a missing or mistyped one) ----
using Instruction = ds::plan::Instruction;
bool hasAttr(const Instruction &ins, const std::string &name);
int64_t attrInt(const Instruction &ins, const std::string &name);
int64_t attrInt(const Instruction &ins, const std::string &name, int64_t dflt);
double attrFloat(const Instruction &ins, const std::string &name);
double attrFloat(const Instruction &ins, const std::string &name, double dflt);
std::string attrString(const Instruction &ins, const std::string &name,
                       const std::string &dflt);
std::vector<int64_t> attrInts(const Instruction &ins, const std::string &name);
std::vector<int64_t> attrInts(const Instruction &ins, const std::string &name,
                              const std::vector<int64_t> &dflt);

/// What a signature check sees: the instruction and the types of its operands.
struct CheckContext {
  const Instruction &ins;
  std::vector<const TensorType *> in, out;
  int worldSize = 1;
};
/// Throws Error (message without location prefix) when the instruction is ill-formed.
using CheckFn = void (*)(const CheckContext &);

struct KernelSignature {
  const char *name;
  CheckFn check;
  bool inPlace; // an output may alias an input exactly (same offset and size)
};

/// The signature of `name`, or nullptr for an unknown kernel.
const KernelSignature *findKernelSignature(const std::string &name);
/// Names of every kernel with a signature.
std::vector<std::string> kernelNames();

// ---- execution ----

/// A buffer at run time.
struct Tensor {
  DType dtype;
  const std::vector<int64_t> *shape;
  int64_t numel;
  void *data;
  template <typename T> T *as() const { return static_cast<T *>(data); }
  int64_t rank() const { return int64_t(shape->size()); }
  int64_t dim(int64_t i) const { return (*shape)[size_t(i)]; }
};

struct ExecContext {
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
};
using RunFn = void (*)(KernelCall &);

/// The CPU implementation of `name`, or nullptr.
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
