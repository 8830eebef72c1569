// NVMe swap kernels: swap_in and swap_out submit to the rank's swap file asynchronously.
#include "CpuCommon.h"

#include "ds/runtime/NvmeSwap.h"

namespace ds::rt::cpu {
namespace {
SwapFile &swapFile(const KernelCall &c) {
  if (!c.ctx.swap)
    fail("the plan swaps NVMe state, but this rank has no swap file");
  return *c.ctx.swap;
}

uint64_t byteSize(const Tensor &t) { return uint64_t(t.numel) * dtypeSize(t.dtype); }
} // namespace

void runSwapIn(KernelCall &c) {
  const Tensor &src = c.in[0], &dst = c.out[0];
  uint64_t bytes = byteSize(dst);
  uint64_t ticket = swapFile(c).submitRead(uint64_t(src.fileOffset), dst.data, bytes);
  const char *p = static_cast<const char *>(dst.data);
  c.ctx.pendingSwaps.push_back({ticket, p, p + bytes});
}

void runSwapOut(KernelCall &c) {
  const Tensor &src = c.in[0], &dst = c.out[0];
  uint64_t bytes = byteSize(src);
  uint64_t ticket = swapFile(c).submitWrite(uint64_t(dst.fileOffset), src.data, bytes);
  const char *p = static_cast<const char *>(src.data);
  c.ctx.pendingSwaps.push_back({ticket, p, p + bytes});
}

} // namespace ds::rt::cpu
