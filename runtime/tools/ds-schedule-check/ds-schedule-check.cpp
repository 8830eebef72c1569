// ds-schedule-check: runs a plan through the device executors' stream schedule on the CPU, in
// random stream interleavings, and checks every buffer against the CPU executor bit for bit.
//
// The CUDA executor runs each program's instructions on five streams (StreamSchedule.h)
// ordered only by stream order, the schedule's cross-stream waits and its swap completions;
// host- and io-stream instructions go through ds-run's HostKernelRunner. This tool executes
// exactly that partial order, choosing at random which ready stream goes next, with the CPU
// kernels (host-stream ones through HostKernelRunner, as the plugin calls them) and an NVMe
// region whose swaps move their bytes at a random moment between submission and the
// completion the schedule waits for. A missing wait shows up as a difference from the CPU
// executor, which runs the plan in order. Testable without a GPU.
//
//   ds-schedule-check PLAN.dsplan [--data DIR | --synthetic] [--steps N] [--seeds K]
//   ds-schedule-check PLAN.dsplan --schedule-only   (any world size: schedules and counts)
//
// World size 1 (--schedule-only: the plan's). Prints one line per seed and "PASS ..." (exit 0) or the first differing
// buffer (exit 1).
#include "ds/runtime/Communicator.h"
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/HostKernelRunner.h"
#include "ds/runtime/InputFeeder.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/StreamSchedule.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

using namespace ds::rt;

namespace {

/// An ExecutorBase whose run() follows the device schedule in a random interleaving.
class ScheduleSimulator : public ExecutorBase {
public:
  ScheduleSimulator(const LoadedPlan &plan, Communicator &comm, uint64_t seed)
      : plan_(plan), comm_(comm), rng_(seed), hostKernels_(plan, 0, 1, nullptr) {
    const auto &p = plan.plan;
    for (int i = 0; i < p.programs_size(); ++i)
      schedules_.push_back(scheduleProgram(plan, i));
    arena_.assign(size_t(p.arena_bytes()) + 64, 0);
    persistent_.assign(size_t(p.persistent_bytes()) + 64, 0);
    host_.assign(size_t(p.host_bytes()) + 64, 0);
    nvme_.assign(size_t(p.nvme_bytes()) + 64, 0);
  }

  void run(int index) override {
    const ProgramSchedule &ps = schedules_[size_t(index)];
    int n = int(ps.instrs.size());
    std::vector<std::vector<int>> queues(kStreamCount);
    for (int k = 0; k < n; ++k)
      queues[size_t(ps.instrs[size_t(k)].stream)].push_back(k);
    std::vector<size_t> head(kStreamCount, 0);
    std::vector<bool> done(size_t(n), false);
    pending_.clear();
    for (int executed = 0; executed < n; ++executed) {
      std::vector<int> ready;
      for (int s = 0; s < kStreamCount; ++s) {
        if (head[size_t(s)] >= queues[size_t(s)].size())
          continue;
        int k = queues[size_t(s)][head[size_t(s)]];
        bool ok = true;
        for (int w : ps.instrs[size_t(k)].waits)
          ok = ok && done[size_t(w)];
        if (ok)
          ready.push_back(s);
      }
      if (ready.empty())
        fail("program '", plan_.plan.programs(index).name(), "': the schedule deadlocks");
      int s = ready[std::uniform_int_distribution<size_t>(0, ready.size() - 1)(rng_)];
      int k = queues[size_t(s)][head[size_t(s)]++];
      for (int j : ps.instrs[size_t(k)].swapWaits)
        complete(j);
      execute(index, k);
      done[size_t(k)] = true;
    }
    while (!pending_.empty()) // the io stream's drain
      complete(pending_.front().instruction);
    ++runCounter_;
  }

  void runInstruction(int, int) override { fail("ds-schedule-check runs whole programs"); }
  void upload(uint32_t id, const void *src) override {
    const BufferInfo &b = plan_.buffer(id);
    std::memcpy(at(b), src, size_t(b.type.bytes));
  }
  void download(uint32_t id, void *dst) override {
    const BufferInfo &b = plan_.buffer(id);
    std::memcpy(dst, at(b), size_t(b.type.bytes));
  }
  uint64_t measuredPeakBytes() const override { return 0; }
  uint64_t measuredHostBytes() const override { return 0; }
  uint64_t measuredNvmeBytes() const override { return 0; }
  std::string describe() const override { return "schedule simulator"; }
  const LoadedPlan &plan() const override { return plan_; }

private:
  /// A swap submitted and not yet complete. Its bytes move at submission (early) or at
  /// completion; a swap_out taken early keeps the host bytes it read.
  struct Swap {
    int instruction;
    bool in; // swap_in: file -> host
    uint64_t fileOffset;
    char *host;
    uint64_t bytes;
    bool moved = false;
    std::vector<char> snapshot; // swap_out read early
  };

  char *regionBase(ds::plan::Placement p) {
    switch (p) {
    case ds::plan::ARENA: return arena_.data();
    case ds::plan::PERSISTENT: return persistent_.data();
    case ds::plan::HOST: return host_.data();
    case ds::plan::NVME: return nvme_.data();
    default: fail("no region for placement ", int(p));
    }
  }
  char *at(const BufferInfo &b) { return regionBase(b.placement) + b.offset; }

  bool fileOverlap(const Swap &a, const Swap &b) const {
    return a.fileOffset < b.fileOffset + b.bytes && b.fileOffset < a.fileOffset + a.bytes;
  }

  // Completes swap `instruction` if pending: first every earlier pending swap on the same
  // file bytes (the swap file runs those in submission order).
  void complete(int instruction) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [&](const Swap &s) { return s.instruction == instruction; });
    if (it == pending_.end())
      return;
    for (auto e = pending_.begin(); e != it; ++e)
      if (fileOverlap(*e, *it)) {
        complete(e->instruction);
        return complete(instruction);
      }
    Swap s = std::move(*it);
    pending_.erase(it);
    move(s);
  }

  void move(Swap &s) {
    if (s.moved)
      return;
    s.moved = true;
    if (s.in)
      std::memcpy(s.host, nvme_.data() + s.fileOffset, size_t(s.bytes));
    else
      std::memcpy(nvme_.data() + s.fileOffset, s.snapshot.empty() ? s.host : s.snapshot.data(),
                  size_t(s.bytes));
  }

  void execute(int program, int k) {
    const auto &ins = plan_.plan.programs(program).instructions(k);
    const ScheduledInstruction &si = schedules_[size_t(program)].instrs[size_t(k)];
    const auto &inputs = plan_.instrInputs[size_t(program)][size_t(k)];
    const auto &outputs = plan_.instrOutputs[size_t(program)][size_t(k)];
    if (si.swap) {
      bool in = ins.kernel() == "swap_in";
      const BufferInfo &src = plan_.buffers[inputs[0]], &dst = plan_.buffers[outputs[0]];
      Swap s{k, in, in ? src.offset : dst.offset, at(in ? dst : src), src.type.bytes, false, {}};
      bool early = std::bernoulli_distribution(0.5)(rng_);
      if (early && !in) {
        s.snapshot.assign(s.host, s.host + s.bytes);
      } else if (early && in) {
        for (size_t e = 0; e < pending_.size(); ++e) // file order first
          if (fileOverlap(pending_[e], s)) {
            complete(pending_[e].instruction);
            e = size_t(-1);
          }
        move(s);
        return;
      }
      pending_.push_back(std::move(s));
      return;
    }
    if (si.onHost) { // as the CUDA plugin runs it: through ds-run's host kernels
      hostKernels_.run(program, k, host_.data());
      return;
    }
    RunFn fn = findCpuKernel(ins.kernel());
    ExecContext ctx;
    ctx.comm = &comm_;
    ctx.rank = 0;
    ctx.worldSize = 1;
    ctx.runCounter = runCounter_;
    KernelCall call{ins, {}, {}, ctx, plan_.instrAttrs[size_t(program)][size_t(k)]};
    for (size_t b : inputs) {
      const BufferInfo &i = plan_.buffers[b];
      call.in.push_back(Tensor{i.type.dtype, &i.type.shape, i.type.numel, at(i)});
    }
    for (size_t b : outputs) {
      const BufferInfo &i = plan_.buffers[b];
      call.out.push_back(Tensor{i.type.dtype, &i.type.shape, i.type.numel, at(i)});
    }
    fn(call);
  }

  const LoadedPlan &plan_;
  Communicator &comm_;
  std::mt19937_64 rng_;
  HostKernelRunner hostKernels_;
  std::vector<ProgramSchedule> schedules_;
  std::vector<char> arena_, persistent_, host_, nvme_;
  std::vector<Swap> pending_;
  uint64_t runCounter_ = 0;
};

/// Runs INIT and `steps` training steps (or inference runs) of the plan on `exec`.
void train(const LoadedPlan &plan, ExecutorBase &exec, const InputFeederOptions &feed,
           int steps) {
  loadParameters(plan, exec, 0, 1);
  InputFeeder feeder(plan, exec, feed, 0, 1);
  exec.runRole(ds::plan::Program::INIT);
  int micro = plan.program(ds::plan::Program::MICRO_STEP);
  int apply = plan.program(ds::plan::Program::APPLY_STEP);
  if (micro < 0)
    micro = plan.program(ds::plan::Program::INFERENCE);
  int accum = micro == plan.program(ds::plan::Program::MICRO_STEP) ? plan.accumulationSteps : 1;
  int64_t mb = plan.microBatch;
  for (int s = 0; s < steps; ++s) {
    for (int m = 0; m < accum; ++m) {
      if (!plan.plan.inputs().empty())
        feeder.feed((int64_t(s) * accum + m) * mb, uint64_t(s) * uint64_t(accum) + uint64_t(m));
      exec.run(micro);
    }
    if (apply >= 0)
      exec.run(apply);
  }
}

int usage() {
  std::fprintf(stderr, "usage: ds-schedule-check PLAN.dsplan [--data DIR | --synthetic] "
                       "[--steps N] [--seeds K] | --schedule-only\n");
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  std::string path = argv[1];
  InputFeederOptions feed;
  feed.synthetic = true;
  int steps = 3, seeds = 3;
  bool scheduleOnly = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) {
      feed.dataDir = argv[++i];
      feed.synthetic = false;
    } else if (a == "--schedule-only") {
      scheduleOnly = true;
    } else if (a == "--synthetic") {
      feed.synthetic = true;
    } else if (a == "--steps" && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (a == "--seeds" && i + 1 < argc) {
      seeds = std::atoi(argv[++i]);
    } else {
      return usage();
    }
  }
  try {
    int world = 1;
    if (scheduleOnly) { // the plan's own world size: read it before validation
      LoadedPlan probe;
      std::string bytes;
      if (FILE *f = std::fopen(path.c_str(), "rb")) {
        char buf[1 << 16];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
          bytes.append(buf, n);
        std::fclose(f);
      }
      decodePlan(bytes, probe.plan);
      world = std::max<int>(1, int(probe.plan.world_size()));
    }
    LoadedPlan plan = loadPlan(path, world);
    int hostInstrs = 0, swaps = 0, waits = 0;
    for (int i = 0; i < plan.plan.programs_size(); ++i) {
      ProgramSchedule ps = scheduleProgram(plan, i);
      hostInstrs += ps.hostInstructions;
      swaps += int(ps.swaps.size());
      for (const auto &in : ps.instrs)
        waits += int(in.waits.size());
    }
    if (scheduleOnly) {
      std::printf("schedule: %d programs, %d host/io instructions, %d swaps, %d cross-stream "
                  "waits\n",
                  plan.plan.programs_size(), hostInstrs, swaps, waits);
      return 0;
    }
    auto comm = makeSingleRankCommunicator();
    CpuExecutor ref(plan, *comm);
    train(plan, ref, feed, steps);
    std::vector<char> a, b;
    for (int seed = 1; seed <= seeds; ++seed) {
      ScheduleSimulator sim(plan, *comm, uint64_t(seed));
      train(plan, sim, feed, steps);
      for (size_t i = 0; i < plan.buffers.size(); ++i) {
        const BufferInfo &info = plan.buffers[i];
        uint32_t id = plan.plan.buffers(int(i)).id();
        a.resize(size_t(info.type.bytes));
        b.resize(size_t(info.type.bytes));
        ref.download(id, a.data());
        sim.download(id, b.data());
        if (a != b) {
          std::printf("FAIL: seed %d: buffer %u '%s' (%s) differs from the CPU executor after "
                      "%d steps\n",
                      seed, id, info.name.c_str(), placementRegionName(info.placement), steps);
          return 1;
        }
      }
      std::printf("seed %d: %zu buffers equal\n", seed, plan.buffers.size());
    }
    std::printf("PASS: %d seeds x %d steps in random stream orders equal the CPU executor "
                "(%d host/io instructions, %d swaps, %d cross-stream waits)\n",
                seeds, steps, hostInstrs, swaps, waits);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "ds-schedule-check: %s\n", e.what());
    return 1;
  }
}
