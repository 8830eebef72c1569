// The in-order CPU executor: arena, persistent and host regions, kernels by table lookup.
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/JobLifetime.h"
#include "ds/runtime/PlanSwapFile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

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

void CpuExecutor::RegionEnds::raise(const RegionEnds &o) {
  arena = std::max(arena, o.arena);
  host = std::max(host, o.host);
  nvme = std::max(nvme, o.nvme);
}

CpuExecutor::CpuExecutor(const LoadedPlan &plan, Communicator &comm) : plan_(plan) {
  ctx_.comm = &comm;
  ctx_.rank = comm.rank();
  ctx_.worldSize = comm.size();
  const auto &p = plan.plan;
  for (int i = 0; i < p.programs_size(); ++i) {
    std::vector<RunFn> fns;
    std::vector<RegionEnds> ends;
    for (int k = 0; k < p.programs(i).instructions_size(); ++k) {
      const auto &ins = p.programs(i).instructions(k);
      RunFn fn = findCpuKernel(ins.kernel());
      if (!fn)
        fail("program '", p.programs(i).name(), "' instruction ", k, ": kernel '", ins.kernel(),
             "' has no CPU implementation");
      fns.push_back(fn);
      RegionEnds end;
      for (const auto *list : {&plan.instrInputs[size_t(i)][size_t(k)],
                               &plan.instrOutputs[size_t(i)][size_t(k)]})
        for (size_t b : *list) {
          const auto &info = plan.buffers[b];
          if (info.type.bytes == 0)
            continue;
          uint64_t e = info.offset + info.type.bytes;
          if (info.placement == ds::plan::ARENA)
            end.arena = std::max(end.arena, e);
          else if (info.placement == ds::plan::HOST)
            end.host = std::max(end.host, e);
          else if (info.placement == ds::plan::NVME)
            end.nvme = std::max(end.nvme, e);
        }
      ends.push_back(end);
    }
    kernels_.push_back(std::move(fns));
    touchEnd_.push_back(std::move(ends));
  }
  swap_ = openPlanSwapFile(p, ctx_.rank);
  ctx_.swap = swap_.get();
  arena_ = allocRegion(p.arena_bytes(), p.alignment(), "arena");
  persistent_ = allocRegion(p.persistent_bytes(), p.alignment(), "persistent region");
  // On a CPU, pinned host memory is ordinary host memory. Aligned for O_DIRECT swaps.
  host_ = allocRegion(p.host_bytes(), 4096, "host region");
  for (const auto &b : plan.buffers)
    data_.push_back(b.placement == ds::plan::NVME ? nullptr
                                                   : regionBase(b.placement) + b.offset);
  if (const char *pr = std::getenv("DS_CPU_PROFILE"); pr && std::strcmp(pr, "0") != 0)
    for (const auto &prog : p.programs()) {
      profileSeconds_.emplace_back(size_t(prog.instructions_size()), 0.0);
      profileCalls_.emplace_back(size_t(prog.instructions_size()), 0);
    }
}

void CpuExecutor::printProfile() const {
  std::map<std::string, std::pair<double, int64_t>> byName, bySig;
  double total = 0;
  for (size_t i = 0; i < profileSeconds_.size(); ++i)
    for (size_t k = 0; k < profileSeconds_[i].size(); ++k) {
      if (profileCalls_[i][k] == 0)
        continue;
      double ms = 1e3 * profileSeconds_[i][k];
      const std::string &name = plan_.plan.programs(int(i)).instructions(int(k)).kernel();
      std::string sig = name;
      for (size_t b : plan_.instrInputs[i][k])
        sig += " " + dtypeName(plan_.buffers[b].type.dtype) +
               shapeString(plan_.buffers[b].type.shape);
      for (auto *slot : {&byName[name], &bySig[sig]}) {
        slot->first += ms;
        slot->second += profileCalls_[i][k];
      }
      total += ms;
    }
  auto print = [](const std::map<std::string, std::pair<double, int64_t>> &m, size_t limit,
                  double total) {
    std::vector<std::pair<double, std::string>> rows;
    for (auto &[key, v] : m)
      rows.push_back({v.first, key});
    std::sort(rows.rbegin(), rows.rend());
    for (size_t r = 0; r < rows.size() && r < limit; ++r)
      std::fprintf(stderr, "  %10.2f ms %6.1f%% %8lld calls  %s\n", rows[r].first,
                   total > 0 ? 100 * rows[r].first / total : 0.0,
                   (long long)m.at(rows[r].second).second, rows[r].second.c_str());
  };
  std::fprintf(stderr, "ds-run: rank %d: CPU kernel time by kernel (ms; %.1f total)\n",
               ctx_.rank, total);
  print(byName, byName.size(), total);
  std::fprintf(stderr, "ds-run: rank %d: slowest kernel instances (by kernel and operands)\n",
               ctx_.rank);
  print(bySig, 25, total);
}

CpuExecutor::~CpuExecutor() {
  if (!profileSeconds_.empty())
    printProfile();
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

Tensor CpuExecutor::tensor(uint32_t id) const { return tensorAt(plan_.bufferIndex.at(id)); }

Tensor CpuExecutor::tensorAt(size_t i) const {
  const auto &b = plan_.buffers[i];
  Tensor t{b.type.dtype, &b.type.shape, b.type.numel, data_[i]};
  if (b.placement == ds::plan::NVME)
    t.fileOffset = int64_t(b.offset);
  return t;
}

void CpuExecutor::waitForSwaps(int index, int k) {
  auto &pending = ctx_.pendingSwaps;
  if (pending.empty())
    return;
  auto touches = [&](const PendingSwap &s) {
    if (k < 0)
      return true;
    for (const auto *list : {&plan_.instrInputs[size_t(index)][size_t(k)],
                             &plan_.instrOutputs[size_t(index)][size_t(k)]})
      for (size_t b : *list) {
        const auto &info = plan_.buffers[b];
        if (info.placement != ds::plan::HOST || info.type.bytes == 0)
          continue;
        const char *begin = static_cast<const char *>(data_[b]);
        if (begin < s.end && s.begin < begin + info.type.bytes)
          return true;
      }
    return false;
  };
  for (size_t i = 0; i < pending.size();) {
    if (!touches(pending[i])) {
      ++i;
      continue;
    }
    uint64_t ticket = pending[i].ticket;
    pending.erase(pending.begin() + long(i));
    swap_->wait(ticket);
  }
}

void CpuExecutor::runOne(int index, int k) {
  const auto &prog = plan_.plan.programs(index);
  KernelCall call{prog.instructions(k), {}, {}, ctx_,
                  plan_.instrAttrs[size_t(index)][size_t(k)]};
  for (size_t b : plan_.instrInputs[size_t(index)][size_t(k)])
    call.in.push_back(tensorAt(b));
  for (size_t b : plan_.instrOutputs[size_t(index)][size_t(k)])
    call.out.push_back(tensorAt(b));
  measured_.raise(touchEnd_[size_t(index)][size_t(k)]);
  if (rankStatus()) // ds-run publishes where each rank is, for death and timeout reports
    setRankInstruction(k, call.ins.kernel());
  try {
    // A swap in flight may still be reading or writing the host bytes this touches.
    auto t0 = std::chrono::steady_clock::now();
    waitForSwaps(index, k);
    kernels_[size_t(index)][size_t(k)](call);
    if (!seconds_.empty() || !profileSeconds_.empty()) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!profileSeconds_.empty()) {
        profileSeconds_[size_t(index)][size_t(k)] += s;
        ++profileCalls_[size_t(index)][size_t(k)];
      }
      if (!seconds_.empty()) {
        PhaseSeconds &p = seconds_[size_t(index)];
        (k <= splits_[size_t(index)] ? p.head : p.tail) += s;
        if (isCollective_[size_t(index)][size_t(k)])
          p.collectives += s;
      }
    }
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
  try {
    waitForSwaps(index, -1);
  } catch (const Error &e) {
    fail("program '", prog.name(), "': ", e.what());
  }
  ++ctx_.runCounter;
}

bool CpuExecutor::startPhaseTiming(const std::vector<int> &splits) {
  const auto &p = plan_.plan;
  if (splits.size() != size_t(p.programs_size()))
    fail("startPhaseTiming: ", splits.size(), " splits for ", p.programs_size(), " programs");
  splits_ = splits;
  isCollective_.clear();
  for (const auto &prog : p.programs()) {
    std::vector<bool> coll;
    for (const auto &ins : prog.instructions())
      coll.push_back(isCollectiveKernel(ins.kernel()));
    isCollective_.push_back(std::move(coll));
  }
  seconds_.assign(splits.size(), PhaseSeconds());
  return true;
}

std::vector<PhaseSeconds> CpuExecutor::takePhaseSeconds() {
  std::vector<PhaseSeconds> out = seconds_;
  std::fill(seconds_.begin(), seconds_.end(), PhaseSeconds());
  return out;
}

void CpuExecutor::runInstruction(int program, int k) {
  runOne(program, k);
  waitForSwaps(program, -1);
  // The counter counts program runs: a single-instruction run of the last instruction ends one.
  if (k + 1 == plan_.plan.programs(program).instructions_size())
    ++ctx_.runCounter;
}

void CpuExecutor::upload(uint32_t id, const void *src) {
  waitForSwaps(0, -1);
  Tensor t = tensor(id);
  uint64_t bytes = uint64_t(t.numel) * dtypeSize(t.dtype);
  if (t.fileOffset >= 0)
    swap_->wait(swap_->submitWrite(uint64_t(t.fileOffset), src, bytes));
  else
    std::memcpy(t.data, src, bytes);
}

void CpuExecutor::download(uint32_t id, void *dst) {
  waitForSwaps(0, -1);
  Tensor t = tensor(id);
  uint64_t bytes = uint64_t(t.numel) * dtypeSize(t.dtype);
  if (t.fileOffset >= 0)
    swap_->wait(swap_->submitRead(uint64_t(t.fileOffset), dst, bytes));
  else
    std::memcpy(dst, t.data, bytes);
}

char *CpuExecutor::hostBytes(uint32_t id) {
  waitForSwaps(0, -1);
  Tensor t = tensor(id);
  return t.fileOffset >= 0 ? nullptr : static_cast<char *>(t.data);
}

} // namespace ds::rt
