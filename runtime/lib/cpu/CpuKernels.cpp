// The CPU kernel table: one entry per catalogue kernel the catalogue marks CPU (KernelCatalogue.def).
#include "CpuCommon.h"

#include <array>

namespace ds::rt {
namespace {
const std::array<RunFn, kKernelCount> &cpuKernels() {
  static const std::array<RunFn, kKernelCount> table = [] {
    std::array<RunFn, kKernelCount> t{};
    // A kernel marked Cpu whose run function cpu::<run> is missing fails to link.
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  if constexpr ((catalogue_backends::Backends & kBackendCpu) != 0)                               \
    t[size_t(KernelId::Id)] = cpu::run;
#include "ds/runtime/KernelCatalogue.def"
    return t;
  }();
  return table;
}
} // namespace

RunFn findCpuKernel(KernelId id) { return cpuKernels()[size_t(id)]; }

RunFn findCpuKernel(const std::string &name) {
  const KernelInfo *k = findKernelInfo(name);
  return k ? findCpuKernel(k->id) : nullptr;
}

} // namespace ds::rt
