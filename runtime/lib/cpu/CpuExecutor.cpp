// The in-order CPU executor: arena, persistent and host regions, kernels by table lookup.
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/JobLifetime.h"

#include <cstdlib>
#include <cstring>

namespace ds::rt {
namespace {
char *allocRegion(uint64_t bytes, uint64_t align, const char *what) {
  size_t a = std::max<size_t>(size_t(align), 64);
  size_t size = (size_t(bytes) + a - 1) / a * a;
  if (size == 0)
    size = a;
  void *p = std::aligned_alloc(a, size);
  if (!p)
    fail("cannot allocate the ", what, " of ", bytes, " bytes");
  std::memset(p, 0, size);
  return static_cast<char *>(p);
}
} // namespace

CpuExecutor::CpuExecutor(const LoadedPlan &plan, Communicator &comm) : plan_(plan) {
  ctx_.comm = &comm;
  ctx_.rank = comm.rank();
  ctx_.worldSize = comm.size();
  const auto &p = plan.plan;
  for (int i = 0; i < p.programs_size(); ++i) {
    std::vector<RunFn> fns;
    std::vector<uint64_t> ends;
    for (int k = 0; k < p.programs(i).instructions_size(); ++k) {
      const auto &ins = p.programs(i).instructions(k);
      RunFn fn = findCpuKernel(ins.kernel());
      if (!fn)
        fail("program '", p.programs(i).name(), "' instruction ", k, ": kernel '", ins.kernel(),
             "' has no CPU implementation");
      fns.push_back(fn);
      uint64_t end = 0;
      for (const auto *list : {&plan.instrInputs[size_t(i)][size_t(k)],
                               &plan.instrOutputs[size_t(i)][size_t(k)]})
        for (size_t b : *list) {
          const auto &info = plan.buffers[b];
          if (info.placement == ds::plan::ARENA && info.type.bytes > 0)
            end = std::max(end, info.offset + info.type.bytes);
        }
      ends.push_back(end);
    }
    kernels_.push_back(std::move(fns));
    touchEnd_.push_back(std::move(ends));
  }
  if (p.nvme_bytes() > 0)
    fail("the plan has an NVMe region of ", p.nvme_bytes(),
         " bytes: NVMe placement needs the offload runtime, which this ds-run does not have");
  arena_ = allocRegion(p.arena_bytes(), p.alignment(), "arena");
  persistent_ = allocRegion(p.persistent_bytes(), p.alignment(), "persistent region");
  // On a CPU, pinned host memory is ordinary host memory.
  host_ = allocRegion(p.host_bytes(), p.alignment(), "host region");
  for (const auto &b : plan.buffers)
    data_.push_back(regionBase(b.placement) + b.offset);
}

CpuExecutor::~CpuExecutor() {
  std::free(arena_);
  std::free(persistent_);
  std::free(host_);
}

char *CpuExecutor::regionBase(ds::plan::Placement placement) const {
  switch (placement) {
  case ds::plan::ARENA: return arena_;
  case ds::plan::PERSISTENT: return persistent_;
  case ds::plan::HOST: return host_;
  default: fail("placement ", ds::plan::Placement_Name(placement), " has no CPU region");
  }
}

Tensor CpuExecutor::tensor(uint32_t id) const {
  size_t i = plan_.bufferIndex.at(id);
  const auto &b = plan_.buffers[i];
  return Tensor{b.type.dtype, &b.type.shape, b.type.numel, data_[i]};
}

void CpuExecutor::runOne(int index, int k) {
  const auto &prog = plan_.plan.programs(index);
  KernelCall call{prog.instructions(k), {}, {}, ctx_,
                  plan_.instrAttrs[size_t(index)][size_t(k)]};
  for (size_t b : plan_.instrInputs[size_t(index)][size_t(k)]) {
    const auto &info = plan_.buffers[b];
    call.in.push_back(Tensor{info.type.dtype, &info.type.shape, info.type.numel, data_[b]});
  }
  for (size_t b : plan_.instrOutputs[size_t(index)][size_t(k)]) {
    const auto &info = plan_.buffers[b];
    call.out.push_back(Tensor{info.type.dtype, &info.type.shape, info.type.numel, data_[b]});
  }
  measuredPeak_ = std::max(measuredPeak_, touchEnd_[size_t(index)][size_t(k)]);
  if (rankStatus()) // ds-run publishes where each rank is, for death and timeout reports
    setRankInstruction(k, call.ins.kernel());
  try {
    kernels_[size_t(index)][size_t(k)](call);
  } catch (const Error &e) {
    const auto &i = prog.instructions(k);
    fail("program '", prog.name(), "' instruction ", k, " (", i.kernel(),
         i.loc().empty() ? "" : " at " + i.loc(), "): ", e.what());
  }
}

void CpuExecutor::run(int index) {
  const auto &prog = plan_.plan.programs(index);
  for (int k = 0; k < prog.instructions_size(); ++k)
    runOne(index, k);
  ++ctx_.runCounter;
}

void CpuExecutor::runInstruction(int program, int k) {
  runOne(program, k);
  // The counter counts program runs: a single-instruction run of the last instruction ends one.
  if (k + 1 == plan_.plan.programs(program).instructions_size())
    ++ctx_.runCounter;
}

void CpuExecutor::upload(uint32_t id, const void *src) {
  Tensor t = tensor(id);
  std::memcpy(t.data, src, size_t(t.numel) * dtypeSize(t.dtype));
}

void CpuExecutor::download(uint32_t id, void *dst) {
  Tensor t = tensor(id);
  std::memcpy(dst, t.data, size_t(t.numel) * dtypeSize(t.dtype));
}

} // namespace ds::rt
