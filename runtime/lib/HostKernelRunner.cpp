// Host- and io-stream instructions of a device executor's plan on the CPU kernels (the CUDA
// plugin's ds_host_kernels callbacks).
#include "ds/runtime/HostKernelRunner.h"

#include "ds/runtime/NvmeSwap.h"

#include <cstdio>

namespace ds::rt {
namespace {

SwapFile &needSwap(SwapFile *swap) {
  if (!swap)
    fail("the plan swaps NVMe state, but this rank has no swap file");
  return *swap;
}

/// Runs f(); an exception becomes a non-zero return with its message in error.
template <typename F> int guarded(char *error, size_t size, F &&f) {
  try {
    f();
    return 0;
  } catch (const std::exception &e) {
    if (error && size)
      std::snprintf(error, size, "%s", e.what());
  } catch (...) {
    if (error && size)
      std::snprintf(error, size, "unknown error in a host kernel");
  }
  return 1;
}

const HostKernelRunner &self(void *context) {
  return *static_cast<const HostKernelRunner *>(context);
}

} // namespace

HostKernelRunner::HostKernelRunner(const LoadedPlan &plan, int rank, int worldSize,
                                   SwapFile *swap)
    : plan_(plan), rank_(rank), worldSize_(worldSize), swap_(swap) {
  const auto &p = plan.plan;
  kernels_.resize(size_t(p.programs_size()));
  for (int i = 0; i < p.programs_size(); ++i)
    for (int k = 0; k < p.programs(i).instructions_size(); ++k) {
      const auto &ins = p.programs(i).instructions(k);
      RunFn fn = nullptr;
      if (ins.stream() == ds::plan::Instruction::HOST ||
          ins.stream() == ds::plan::Instruction::IO) {
        fn = findCpuKernel(ins.kernel());
        if (!fn)
          fail("program '", p.programs(i).name(), "' instruction ", k, ": kernel '",
               ins.kernel(), "' runs on the host but has no CPU implementation");
      }
      kernels_[size_t(i)].push_back(fn);
    }
  table_.context = this;
  table_.run_instruction = [](void *ctx, int program, int k, void *hostRegion,
                              uint64_t *ticket, char *error, size_t size) {
    return guarded(error, size, [&] {
      *ticket = self(ctx).run(program, k, static_cast<char *>(hostRegion));
    });
  };
  table_.swap_wait = [](void *ctx, uint64_t ticket, char *error, size_t size) {
    return guarded(error, size, [&] { self(ctx).swapWait(ticket); });
  };
  table_.swap_read = [](void *ctx, uint64_t offset, void *dst, uint64_t bytes, char *error,
                        size_t size) {
    return guarded(error, size, [&] { self(ctx).swapRead(offset, dst, bytes); });
  };
  table_.swap_write = [](void *ctx, uint64_t offset, const void *src, uint64_t bytes,
                         char *error, size_t size) {
    return guarded(error, size, [&] { self(ctx).swapWrite(offset, src, bytes); });
  };
}

uint64_t HostKernelRunner::run(int program, int k, char *hostRegion) const {
  const auto &p = plan_.plan;
  if (program < 0 || program >= p.programs_size() || k < 0 ||
      k >= p.programs(program).instructions_size())
    fail("no instruction ", k, " in program ", program);
  const auto &prog = p.programs(program);
  const auto &ins = prog.instructions(k);
  RunFn fn = kernels_[size_t(program)][size_t(k)];
  if (!fn)
    fail("program '", prog.name(), "' instruction ", k, " (", ins.kernel(),
         ") is not on the host or io stream");
  ExecContext ctx;
  ctx.swap = swap_;
  ctx.rank = rank_;
  ctx.worldSize = worldSize_;
  KernelCall call{ins, {}, {}, ctx, plan_.instrAttrs[size_t(program)][size_t(k)]};
  for (int pass = 0; pass < 2; ++pass)
    for (size_t b : pass ? plan_.instrOutputs[size_t(program)][size_t(k)]
                         : plan_.instrInputs[size_t(program)][size_t(k)]) {
      const auto &info = plan_.buffers[b];
      Tensor t{info.type.dtype, &info.type.shape, info.type.numel, nullptr};
      if (info.placement == ds::plan::HOST)
        t.data = hostRegion + info.offset;
      else if (info.placement == ds::plan::NVME)
        t.fileOffset = int64_t(info.offset);
      else
        fail("program '", prog.name(), "' instruction ", k, " (", ins.kernel(), "): buffer ",
             p.buffers(int(b)).id(), " is in the ", placementRegionName(info.placement),
             ", which a host kernel cannot reach");
      (pass ? call.out : call.in).push_back(t);
    }
  try {
    fn(call);
  } catch (const Error &e) {
    fail("program '", prog.name(), "' instruction ", k, " (", ins.kernel(),
         ins.loc().empty() ? "" : " at " + ins.loc(), "): ", e.what());
  }
  if (ctx.pendingSwaps.size() > 1)
    fail("program '", prog.name(), "' instruction ", k, " (", ins.kernel(),
         "): submitted more than one swap");
  return ctx.pendingSwaps.empty() ? 0 : ctx.pendingSwaps[0].ticket;
}

void HostKernelRunner::swapWait(uint64_t ticket) const {
  if (ticket)
    needSwap(swap_).wait(ticket);
}

void HostKernelRunner::swapRead(uint64_t offset, void *dst, uint64_t bytes) const {
  SwapFile &s = needSwap(swap_);
  s.wait(s.submitRead(offset, dst, bytes));
}

void HostKernelRunner::swapWrite(uint64_t offset, const void *src, uint64_t bytes) const {
  SwapFile &s = needSwap(swap_);
  s.wait(s.submitWrite(offset, src, bytes));
}

} // namespace ds::rt
