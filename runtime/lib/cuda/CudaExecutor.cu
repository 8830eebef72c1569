// The CUDA executor: one cudaMalloc for the arena and one for the persistent region per rank
// plus a pinned host region, compute / comm / copy / io / host streams as the plan's
// instructions name them, ordered by events from a load-time hazard analysis (StreamSchedule:
// the plan's producer waits plus every read/write overlap of region bytes across streams),
// host- and io-stream instructions (offload: the CPU optimizer step, NVMe swaps) run as CUDA
// host functions calling ds-run's CPU kernels, and each program captured into a CUDA graph
// after its first (eager) run when the communicator allows it.
#include "CudaExecutor.h"

#include "CudaCommon.cuh"
#include "CudnnAttention.h"
#include "DeviceComm.h"
#include "GeneratedKernels.h"
#include "StreamTimeline.h"

#include "ds/runtime/StreamSchedule.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace ds::rt::cuda {

void enqueueIncrement(uint64_t *counter, cudaStream_t s); // Collectives.cu

namespace {

constexpr int kStreams = kStreamCount; // compute, comm, copy, io, host (StreamSchedule.h)

size_t envMiB(const char *name, size_t dflt) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return dflt << 20;
  char *end = nullptr;
  long long x = std::strtoll(v, &end, 10);
  if (!end || *end || x < 0)
    fail(name, " expects a number of MiB, got '", v, "'");
  return size_t(x) << 20;
}

int localRank(int rank) {
  for (const char *v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID",
                        "LOCAL_RANK", "PMI_LOCAL_RANK"})
    if (const char *s = std::getenv(v))
      return std::atoi(s);
  return rank;
}

class CudaExecutor : public ExecutorBase {
public:
  CudaExecutor(const LoadedPlan &plan, Communicator &host, const ds_host_kernels *hostKernels,
               const ds_cuda_options &opt)
      : plan_(plan), host_(host) {
    if (hostKernels)
      hk_ = *hostKernels;
    int count = 0;
    DS_CUDA(cudaGetDeviceCount(&count));
    if (count == 0)
      fail("no CUDA device is visible");
    device_ = opt.device >= 0 ? opt.device : localRank(host.rank()) % count;
    if (device_ >= count)
      fail("CUDA device ", device_, " requested, ", count, " visible");
    DS_CUDA(cudaSetDevice(device_));
    DS_CUDA(cudaGetDeviceProperties(&prop_, device_));
    const auto &p = plan.plan;
    // Generated code (fused_elementwise kernels compiled by ds-opt): loaded once per plan.
    if (!p.generated_code().ptx().empty() && !GeneratedKernels::disabledByEnvironment())
      generated_ = std::make_unique<GeneratedKernels>(p.generated_code().ptx());

    // Kernels, streams and hazards (StreamSchedule); host- and io-stream instructions get a
    // host function that calls ds-run's CPU kernel, device instructions that must see a swap
    // complete get one that waits for it.
    for (int i = 0; i < p.programs_size(); ++i) {
      const auto &prog = p.programs(i);
      Program pr;
      pr.schedule = scheduleProgram(plan, i);
      size_t n = pr.schedule.instrs.size();
      pr.tickets.reset(new std::atomic<uint64_t>[n > 0 ? n : 1]);
      for (size_t k = 0; k < n; ++k)
        pr.tickets[k].store(0);
      if ((pr.schedule.hostInstructions > 0 || plan.plan.nvme_bytes() > 0) && !hk_.run_instruction)
        fail("program '", prog.name(), "' runs instructions on the host or io stream "
             "(offload), which need ds-run's host kernels");
      for (size_t k = 0; k < n; ++k) {
        const auto &ins = prog.instructions(int(k));
        const ScheduledInstruction &si = pr.schedule.instrs[k];
        Instr in;
        auto completes = [&](HostTask &t) {
          for (int j : si.swapWaits)
            t.completes.push_back(&pr.tickets[size_t(j)]);
        };
        if (si.onHost) {
          in.task = std::make_unique<HostTask>();
          in.task->exec = this;
          in.task->program = i;
          in.task->k = int(k);
          in.task->runs = true;
          in.task->ticket = si.swap ? &pr.tickets[k] : nullptr;
          completes(*in.task);
        } else {
          in.fn = findCudaKernel(ins.kernel());
          if (!in.fn)
            fail("program '", prog.name(), "' instruction ", k, ": kernel '", ins.kernel(),
                 "' has no CUDA implementation");
          usesCudnn_ |= ins.kernel().compare(0, 4, "conv") == 0;
          if (generated_ && !ins.generated_entry().empty()) {
            in.generated = generated_->function(ins.generated_entry());
            ++generatedInstrs_;
          }
          if (ins.kernel() == "attention" || ins.kernel() == "attention_grad" ||
              ins.kernel() == "packed_attention" ||
              ins.kernel() == "packed_attention_grad")
            useCudnn(in, i, int(k));
          if (!si.swapWaits.empty()) {
            in.preWait = std::make_unique<HostTask>();
            in.preWait->exec = this;
            in.preWait->program = i;
            in.preWait->k = int(k);
            completes(*in.preWait);
          }
        }
        if (si.stream == kCommStream)
          for (const auto &r : si.ranges)
            maxCollectiveBytes_ = std::max<size_t>(maxCollectiveBytes_, r.end - r.begin);
        pr.instrs.push_back(std::move(in));
      }
      if (!pr.schedule.swaps.empty()) { // the io stream ends with every swap complete
        pr.drain = std::make_unique<HostTask>();
        pr.drain->exec = this;
        pr.drain->program = i;
        pr.drain->k = -1;
        for (int j : pr.schedule.swaps)
          pr.drain->completes.push_back(&pr.tickets[size_t(j)]);
      }
      programs_.push_back(std::move(pr));
    }

    // Memory: the whole plan in three allocations. The host region is pinned and mapped (its
    // pointer is valid on the device too), for copies between it and the device regions.
    size_t arenaBytes = std::max<uint64_t>(p.arena_bytes(), 256);
    size_t persistentBytes = std::max<uint64_t>(p.persistent_bytes(), 256);
    size_t hostBytes = std::max<uint64_t>(p.host_bytes(), 256);
    DS_CUDA(cudaMalloc(&arena_, arenaBytes));
    DS_CUDA(cudaMalloc(&persistent_, persistentBytes));
    DS_CUDA(cudaHostAlloc(&host_region_, hostBytes,
                          cudaHostAllocPortable | cudaHostAllocMapped));
    DS_CUDA(cudaMemset(arena_, 0, arenaBytes));
    DS_CUDA(cudaMemset(persistent_, 0, persistentBytes));
    std::memset(host_region_, 0, hostBytes);
    for (const auto &b : plan.buffers) // NVME buffers live in ds-run's swap file
      data_.push_back(b.placement == ds::plan::NVME ? nullptr : regionBase(b.placement) + b.offset);
    DS_CUDA(cudaMalloc(&counter_, sizeof(uint64_t)));
    DS_CUDA(cudaMemset(counter_, 0, sizeof(uint64_t)));

    // Streams, cuBLASLt, workspaces and scratch.
    if (cublasLtCreate(&lt_) != CUBLAS_STATUS_SUCCESS)
      fail("cannot create a cuBLASLt handle");
    size_t ws = envMiB("DS_CUDA_WORKSPACE_MB", 32), sc = envMiB("DS_CUDA_SCRATCH_MB", 64);
    for (int s = 0; s < kStreams; ++s) {
      DS_CUDA(cudaStreamCreateWithFlags(&streams_[s], cudaStreamNonBlocking));
      DeviceContext &d = ctx_[s];
      d.stream = streams_[s];
      d.lt = lt_;
      d.workspaceBytes = s == kComputeStream ? ws : 0;
      if (d.workspaceBytes)
        DS_CUDA(cudaMalloc(&d.workspace, d.workspaceBytes));
      // The comm stream's scratch holds a whole gathered tensor for non-leading axes; the
      // io and host streams run only host functions and need none.
      d.scratchBytes = s == kCommStream ? std::max(sc, maxCollectiveBytes_ * size_t(host.size()))
                       : s == kIoStream || s == kHostStream ? 0
                                                            : sc;
      if (d.scratchBytes)
        DS_CUDA(cudaMalloc(&d.scratch, d.scratchBytes));
      d.runCounter = counter_;
      d.allowTf32 = opt.tf32;
      d.smCount = prop_.multiProcessorCount;
      extraBytes_ += d.workspaceBytes + d.scratchBytes;
      if (usesCudnn_)
        d.cudnn = createCudnnHandle();
    }
    DS_CUDA(cudaEventCreateWithFlags(&fork_, cudaEventDisableTiming));
    for (auto &e : join_)
      DS_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    for (auto &pr : programs_)
      for (size_t k = 0; k < pr.instrs.size(); ++k)
        if (pr.schedule.instrs[k].record)
          DS_CUDA(cudaEventCreateWithFlags(&pr.instrs[k].event, cudaEventDisableTiming));

    // The device communicator.
    std::string mode(opt.comm, strnlen(opt.comm, sizeof(opt.comm)));
    if (const char *e = std::getenv("DS_CUDA_COMM"))
      mode = e;
    if (mode == "auto")
      mode = shareGpu() ? "host" : "nccl";
    if (mode == "nccl")
      comm_ = makeNcclComm(host, opt.timeout_seconds);
    else if (mode == "host")
      comm_ = makeHostStagedComm(host, maxCollectiveBytes_);
    else
      fail("unknown communicator '", mode, "' (auto, nccl or host)");
    for (auto &d : ctx_)
      d.comm = comm_.get();
    ctxBase_.comm = nullptr; // CPU communicator unused by device kernels
    ctxBase_.rank = host.rank();
    ctxBase_.worldSize = host.size();
    useGraphs_ = opt.graphs && comm_->capturable();
    // DS_CUDA_PROFILE=1: time every kernel with events (eager, no graphs) and print the
    // totals per kernel name when the executor ends.
    if (const char *pr = std::getenv("DS_CUDA_PROFILE"); pr && std::strcmp(pr, "0") != 0) {
      profile_ = true;
      useGraphs_ = false;
    }
    // DS_CUDA_TIMELINE=1: time every instruction on its own stream (eager, no graphs, no
    // synchronization inside a program) and print how long each stream was busy and how
    // much of that overlapped the compute stream (StreamTimeline.h).
    if (const char *tl = std::getenv("DS_CUDA_TIMELINE"); tl && std::strcmp(tl, "0") != 0) {
      timeline_ = std::make_unique<StreamTimeline>(kStreams);
      useGraphs_ = false;
    }
    if (const char *g = std::getenv("DS_CUDA_GRAPHS"))
      useGraphs_ = useGraphs_ && std::strcmp(g, "0") != 0;
    graphs_.assign(programs_.size(), nullptr);
    runs_.assign(programs_.size(), 0);
  }

  ~CudaExecutor() override {
    cudaDeviceSynchronize();
    if (profile_)
      printProfile();
    if (timeline_)
      timeline_->print(stderr, host_.rank());
    for (auto g : graphs_)
      if (g)
        cudaGraphExecDestroy(g);
    for (auto &pr : programs_)
      for (auto &in : pr.instrs) {
        if (in.event)
          cudaEventDestroy(in.event);
        for (cudaEvent_t e : {in.begin, in.end})
          if (e)
            cudaEventDestroy(e);
      }
    if (timelineBase_)
      cudaEventDestroy(timelineBase_);
    comm_.reset();
    for (int s = 0; s < kStreams; ++s) {
      cudaFree(ctx_[s].workspace);
      cudaFree(ctx_[s].scratch);
      destroyCudnnHandle(ctx_[s].cudnn);
      if (streams_[s])
        cudaStreamDestroy(streams_[s]);
    }
    if (lt_)
      cublasLtDestroy(lt_);
    cudaFree(arena_);
    cudaFree(persistent_);
    cudaFreeHost(host_region_);
    cudaFree(counter_);
  }

  void run(int index) override {
    checkHostTasks();
    Program &pr = programs_[size_t(index)];
    measuredPeak_ = std::max(measuredPeak_, pr.schedule.arenaEnd);
    measuredHost_ = std::max(measuredHost_, pr.schedule.hostEnd);
    measuredNvme_ = std::max(measuredNvme_, pr.schedule.nvmeEnd);
    if (useGraphs_ && graphs_[size_t(index)]) {
      DS_CUDA(cudaGraphLaunch(graphs_[size_t(index)], streams_[0]));
    } else if (useGraphs_ && runs_[size_t(index)] >= 1) {
      if (!capture(index)) { // not capturable (a kernel synchronizes): stay eager
        useGraphs_ = false;
        enqueue(index);
      }
    } else {
      enqueue(index);
    }
    ++runs_[size_t(index)];
    if (timeline_)
      recordTimeline(index);
    if (std::getenv("DS_CUDA_SYNC")) // debugging: report asynchronous errors at their program
      sync("program '" + plan_.plan.programs(index).name() + "'");
  }

  // DS_CUDA_GRAPH_NODES=1: the device operations program `index` issues, from its captured
  // graph (kernels, copies, memsets; event and empty nodes aside), to check the cost report's
  // launch model against (scripts/gpu-check.sh).
  void printGraphNodes(int index, cudaGraph_t g) {
    size_t n = 0;
    DS_CUDA(cudaGraphGetNodes(g, nullptr, &n));
    std::vector<cudaGraphNode_t> nodes(n);
    DS_CUDA(cudaGraphGetNodes(g, nodes.data(), &n));
    size_t kernels = 0, copies = 0, sets = 0, other = 0;
    for (cudaGraphNode_t node : nodes) {
      cudaGraphNodeType t;
      DS_CUDA(cudaGraphNodeGetType(node, &t));
      if (t == cudaGraphNodeTypeKernel)
        ++kernels;
      else if (t == cudaGraphNodeTypeMemcpy)
        ++copies;
      else if (t == cudaGraphNodeTypeMemset)
        ++sets;
      else
        ++other;
    }
    std::fprintf(stderr,
                 "ds-run: rank %d: program '%s' graph: %zu device operations (%zu kernels, "
                 "%zu copies, %zu memsets; %zu other nodes)\n",
                 host_.rank(), plan_.plan.programs(index).name().c_str(),
                 kernels + copies + sets, kernels, copies, sets, other);
  }

  // Captures program `index` into a graph and launches it; false (nothing launched, graphs
  // off) when some kernel cannot be captured.
  bool capture(int index) {
    cudaGraph_t g = nullptr;
    DS_CUDA(cudaStreamBeginCapture(streams_[0], cudaStreamCaptureModeThreadLocal));
    std::string why;
    try {
      enqueue(index);
    } catch (const std::exception &e) {
      why = e.what();
    }
    cudaError_t e = cudaStreamEndCapture(streams_[0], &g);
    cudaGetLastError(); // capture errors are not sticky: clear them
    cudaGraphExec_t ge = nullptr;
    if (why.empty() && e == cudaSuccess && g)
      e = cudaGraphInstantiate(&ge, g, 0);
    if (g && ge && std::getenv("DS_CUDA_GRAPH_NODES"))
      printGraphNodes(index, g);
    if (g)
      cudaGraphDestroy(g);
    if (!why.empty() || e != cudaSuccess || !ge) {
      cudaGetLastError();
      std::fprintf(stderr, "ds-run: CUDA graphs off (program '%s' cannot be captured: %s)\n",
                   plan_.plan.programs(index).name().c_str(),
                   why.empty() ? cudaGetErrorString(e) : why.c_str());
      // Side streams may hold waits from the broken capture: make them idle again.
      for (int s = 0; s < kStreams; ++s)
        cudaStreamSynchronize(streams_[s]);
      cudaGetLastError();
      return false;
    }
    graphs_[size_t(index)] = ge;
    DS_CUDA(cudaGraphLaunch(ge, streams_[0]));
    return true;
  }

  void runInstruction(int program, int k) override {
    checkHostTasks();
    Program &pr = programs_[size_t(program)];
    for (int s = 1; s < kStreams; ++s) // every stream sees everything before
      DS_CUDA(cudaStreamSynchronize(streams_[s]));
    DS_CUDA(cudaStreamSynchronize(streams_[0]));
    Instr &in = pr.instrs[size_t(k)];
    const ScheduledInstruction &si = pr.schedule.instrs[size_t(k)];
    measuredPeak_ = std::max(measuredPeak_, si.arenaEnd);
    measuredHost_ = std::max(measuredHost_, si.hostEnd);
    measuredNvme_ = std::max(measuredNvme_, si.nvmeEnd);
    if (in.task) { // on this thread, its swap (if any) waited for like the CPU executor does
      runHostTask(*in.task);
      if (in.task->ticket)
        completeSwap(in.task->ticket->load());
      checkHostTasks();
    } else {
      call(program, k, in);
    }
    if (k + 1 == int(pr.instrs.size()))
      enqueueIncrement(counter_, streams_[kComputeStream]);
    sync("instruction " + std::to_string(k));
  }

  void upload(uint32_t id, const void *src) override {
    size_t i = plan_.bufferIndex.at(id);
    const BufferInfo &b = plan_.buffers[i];
    finish();
    if (b.type.bytes == 0)
      return;
    if (b.placement == ds::plan::NVME)
      hostCall("upload", [&](char *err, size_t n) {
        return hk_.swap_write(hk_.context, b.offset, src, b.type.bytes, err, n);
      });
    else
      DS_CUDA(cudaMemcpy(data_[i], src, b.type.bytes, cudaMemcpyDefault));
  }

  void download(uint32_t id, void *dst) override {
    size_t i = plan_.bufferIndex.at(id);
    const BufferInfo &b = plan_.buffers[i];
    finish();
    if (b.type.bytes == 0)
      return;
    if (b.placement == ds::plan::NVME)
      hostCall("download", [&](char *err, size_t n) {
        return hk_.swap_read(hk_.context, b.offset, dst, b.type.bytes, err, n);
      });
    else
      DS_CUDA(cudaMemcpy(dst, data_[i], b.type.bytes, cudaMemcpyDefault));
  }

  // ", cuDNN attention 24/24", or with the first refusal's reason.
  std::string cudnnSummary() const {
    if (cudnnTotal_ == 0)
      return "";
    std::string r = ", cuDNN attention " + std::to_string(cudnnUsed_) + "/" +
                    std::to_string(cudnnTotal_);
    if (cudnnUsed_ < cudnnTotal_)
      r += " (" + cudnnWhy_ + ")";
    return r;
  }

  uint64_t measuredPeakBytes() const override { return measuredPeak_; }
  uint64_t measuredHostBytes() const override { return measuredHost_; }
  uint64_t measuredNvmeBytes() const override { return measuredNvme_; }
  const LoadedPlan &plan() const override { return plan_; }
  std::string describe() const override {
    return std::string("cuda (") + prop_.name + ", device " + std::to_string(device_) + ", " +
           comm_->name() + (useGraphs_ ? ", graphs" : "") + cudnnSummary() + generatedSummary() +
           ", +" +
           std::to_string(extraBytes_ >> 20) + " MiB workspace/scratch)";
  }

private:
  /// ", generated kernels N" (instructions launching the plan's PTX), or why none run.
  std::string generatedSummary() const {
    if (plan_.plan.generated_code().ptx().empty())
      return "";
    if (!generated_)
      return ", generated kernels off (DS_FUSED_INTERPRETER=1)";
    return ", generated kernels " + std::to_string(generatedInstrs_);
  }

  /// One CUDA host function: a host- or io-stream instruction run through ds-run's CPU
  /// kernels (`runs`), after completing the swaps it must see done (`completes`: their
  /// tickets); or only those completions, before a device instruction or at a program's end.
  struct HostTask {
    CudaExecutor *exec = nullptr;
    int program = 0, k = 0;
    bool runs = false;
    std::atomic<uint64_t> *ticket = nullptr; // a swap's: where its request is kept
    std::vector<std::atomic<uint64_t> *> completes;
  };
  struct Instr {
    RunFn fn = nullptr;                // device kernel (null for host tasks)
    std::unique_ptr<HostTask> task;    // host- and io-stream instructions
    std::unique_ptr<HostTask> preWait; // swaps a device instruction must see complete
    CudnnAttentionPtr cudnn;           // attention / attention_grad run by cuDNN
    void *generated = nullptr;         // the generated kernel (CUfunction) it launches
    cudaEvent_t event = nullptr;       // recorded when another stream waits for it
    cudaEvent_t begin = nullptr, end = nullptr; // DS_CUDA_TIMELINE
  };
  struct Program {
    ProgramSchedule schedule;
    std::vector<Instr> instrs;
    // Each swap instruction's request in flight (written by its host function, read by the
    // host functions completing it: ordered by the events between their streams).
    std::unique_ptr<std::atomic<uint64_t>[]> tickets;
    std::unique_ptr<HostTask> drain; // the io stream's last host function
  };

  // The region a placement names (NVME buffers live in ds-run's swap file).
  char *regionBase(ds::plan::Placement placement) const {
    switch (placement) {
    case ds::plan::ARENA: return arena_;
    case ds::plan::PERSISTENT: return persistent_;
    case ds::plan::HOST: return host_region_;
    default: fail("placement ", ds::plan::Placement_Name(placement), " has no CUDA region");
    }
  }

  // cuDNN's fused SDPA for an attention instruction where cuDNN supports it (built now, at
  // load); else the fallback kernel. DS_CUDNN_ATTENTION=require makes a refusal an error
  // (tests), =0 turns cuDNN off.
  void useCudnn(Instr &in, int program, int k) {
    std::string why;
    in.cudnn = buildCudnnAttention(plan_, program, k, why);
    ++cudnnTotal_;
    if (in.cudnn) {
      ++cudnnUsed_;
      return;
    }
    if (cudnnWhy_.empty())
      cudnnWhy_ = why;
    const char *e = std::getenv("DS_CUDNN_ATTENTION");
    if (e && std::strcmp(e, "require") == 0)
      fail("program '", plan_.plan.programs(program).name(), "' instruction ", k, " (",
           plan_.plan.programs(program).instructions(k).kernel(),
           "): cuDNN attention is required (DS_CUDNN_ATTENTION=require) but: ", why);
  }

  static void CUDART_CB hostTaskEntry(void *task) {
    auto *t = static_cast<HostTask *>(task);
    t->exec->runHostTask(*t);
  }

  // Runs on a CUDA host-function thread: no CUDA call here. The first failure is kept and
  // reported by the next run, synchronization or copy; later tasks do nothing.
  void runHostTask(const HostTask &t) {
    if (hostFailed_.load())
      return;
    char err[1024] = {};
    for (std::atomic<uint64_t> *ticket : t.completes)
      if (hk_.swap_wait(hk_.context, ticket->load(), err, sizeof(err)) != 0)
        return setHostError(err);
    if (!t.runs)
      return;
    uint64_t ticket = 0;
    if (hk_.run_instruction(hk_.context, t.program, t.k, host_region_, &ticket, err,
                            sizeof(err)) != 0)
      return setHostError(err);
    if (t.ticket)
      t.ticket->store(ticket);
  }

  void completeSwap(uint64_t ticket) {
    hostCall("swap", [&](char *err, size_t n) { return hk_.swap_wait(hk_.context, ticket, err, n); });
  }

  void setHostError(const char *message) {
    std::lock_guard<std::mutex> lock(hostErrorMu_);
    if (!hostFailed_.load()) {
      hostError_ = message[0] ? message : "a host kernel failed without a message";
      hostFailed_.store(true);
    }
  }

  void checkHostTasks() {
    if (!hostFailed_.load())
      return;
    std::lock_guard<std::mutex> lock(hostErrorMu_);
    fail(hostError_);
  }

  // A call into ds-run's host side from this thread; throws its message.
  template <typename F> void hostCall(const char *what, F &&f) {
    if (!hk_.swap_read)
      fail(what, ": the plan has NVMe buffers, but ds-run gave no host kernels");
    char err[1024] = {};
    if (f(err, sizeof(err)) != 0)
      fail(err[0] ? err : what);
  }

  void call(int program, int k, Instr &in) {
    const auto &prog = plan_.plan.programs(program);
    Program &pr = programs_[size_t(program)];
    const ScheduledInstruction &si = pr.schedule.instrs[size_t(k)];
    cudaStream_t st = streams_[si.stream];
    for (int w : si.waits)
      DS_CUDA(cudaStreamWaitEvent(st, pr.instrs[size_t(w)].event, 0));
    if (in.preWait)
      DS_CUDA(cudaLaunchHostFunc(st, hostTaskEntry, in.preWait.get()));
    if (timeline_) {
      if (!in.begin) {
        DS_CUDA(cudaEventCreate(&in.begin));
        DS_CUDA(cudaEventCreate(&in.end));
      }
      DS_CUDA(cudaEventRecord(in.begin, st));
    }
    ExecContext ctx = ctxBase_;
    DeviceContext dc = ctx_[si.stream];
    dc.cudnnAttention = in.cudnn.get();
    dc.generatedKernel = in.generated;
    ctx.device = &dc;
    KernelCall kc{prog.instructions(k), {}, {}, ctx, plan_.instrAttrs[size_t(program)][size_t(k)]};
    if (!in.task) {
      for (size_t b : plan_.instrInputs[size_t(program)][size_t(k)]) {
        const auto &info = plan_.buffers[b];
        kc.in.push_back(Tensor{info.type.dtype, &info.type.shape, info.type.numel, data_[b]});
      }
      for (size_t b : plan_.instrOutputs[size_t(program)][size_t(k)]) {
        const auto &info = plan_.buffers[b];
        kc.out.push_back(Tensor{info.type.dtype, &info.type.shape, info.type.numel, data_[b]});
      }
    }
    cudaEvent_t t0 = nullptr, t1 = nullptr;
    if (profile_) {
      cudaEventCreate(&t0);
      cudaEventCreate(&t1);
      cudaEventRecord(t0, st);
    }
    try {
      if (in.task)
        DS_CUDA(cudaLaunchHostFunc(st, hostTaskEntry, in.task.get()));
      else
        in.fn(kc);
      if (profile_) {
        cudaEventRecord(t1, st);
        DS_CUDA(cudaEventSynchronize(t1));
        float ms = 0;
        cudaEventElapsedTime(&ms, t0, t1);
        std::string name = prog.instructions(k).kernel();
        if (in.task)
          name += " (host)";
        auto &slot = profileMs_[name];
        slot.first += ms;
        slot.second += 1;
        // Also by kernel and operand types, to name the slow instances.
        std::string sig = name;
        for (size_t b : plan_.instrInputs[size_t(program)][size_t(k)])
          sig += " " + dtypeName(plan_.buffers[b].type.dtype) +
                 shapeString(plan_.buffers[b].type.shape);
        auto &s2 = profileSigMs_[sig];
        s2.first += ms;
        s2.second += 1;
        cudaEventDestroy(t0);
        cudaEventDestroy(t1);
      }
    } catch (const Error &e) {
      const auto &i = prog.instructions(k);
      fail("program '", prog.name(), "' instruction ", k, " (", i.kernel(),
           i.loc().empty() ? "" : " at " + i.loc(), "): ", e.what());
    }
    if (timeline_)
      DS_CUDA(cudaEventRecord(in.end, st));
    if (si.record)
      DS_CUDA(cudaEventRecord(in.event, st));
  }

  void enqueue(int index) {
    Program &pr = programs_[size_t(index)];
    const bool *uses = pr.schedule.usesStream;
    // Fork: the side streams start after everything queued on the compute stream.
    DS_CUDA(cudaEventRecord(fork_, streams_[0]));
    if (timeline_) {
      if (!timelineBase_)
        DS_CUDA(cudaEventCreate(&timelineBase_));
      DS_CUDA(cudaEventRecord(timelineBase_, streams_[0]));
    }
    for (int s = 1; s < kStreams; ++s)
      if (uses[s])
        DS_CUDA(cudaStreamWaitEvent(streams_[s], fork_, 0));
    for (int k = 0; k < int(pr.instrs.size()); ++k)
      call(index, k, pr.instrs[size_t(k)]);
    // The io stream ends when every swap of the program is complete.
    if (pr.drain)
      DS_CUDA(cudaLaunchHostFunc(streams_[kIoStream], hostTaskEntry, pr.drain.get()));
    // Join: the compute stream ends after every side stream.
    for (int s = 1; s < kStreams; ++s)
      if (uses[s]) {
        DS_CUDA(cudaEventRecord(join_[s], streams_[s]));
        DS_CUDA(cudaStreamWaitEvent(streams_[0], join_[s], 0));
      }
    enqueueIncrement(counter_, streams_[0]);
  }

  // DS_CUDA_TIMELINE: waits for program `index` and adds each instruction's interval on its
  // stream (relative to the program's start) to the timeline.
  void recordTimeline(int index) {
    finish();
    Program &pr = programs_[size_t(index)];
    std::vector<StreamTimeline::Interval> intervals;
    for (size_t k = 0; k < pr.instrs.size(); ++k) {
      const Instr &in = pr.instrs[k];
      float b = 0, e = 0;
      DS_CUDA(cudaEventElapsedTime(&b, timelineBase_, in.begin));
      DS_CUDA(cudaEventElapsedTime(&e, timelineBase_, in.end));
      intervals.push_back({pr.schedule.instrs[k].stream, double(b), double(e)});
    }
    timeline_->add(plan_.plan.programs(index).name(), intervals);
  }

  // Waits go through the device communicator: NCCL bounds them by --timeout. A host task
  // that failed is reported here.
  void finish() { sync("cudaStreamSynchronize"); }
  void sync(const std::string &what) {
    for (int s = 0; s < kStreams; ++s) {
      if (comm_) {
        comm_->wait(streams_[s], what);
        continue;
      }
      cudaError_t e = cudaStreamSynchronize(streams_[s]);
      if (e != cudaSuccess)
        fail(what, ": CUDA error ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
    }
    checkHostTasks();
  }

  // True when another rank of this job uses the same GPU (same host, same PCI address).
  bool shareGpu() {
    int world = host_.size();
    if (world == 1)
      return false;
    char hn[256] = {};
    gethostname(hn, sizeof(hn) - 1);
    uint64_t h = 1469598103934665603ull;
    for (const char *c = hn; *c; ++c)
      h = (h ^ uint64_t(uint8_t(*c))) * 1099511628211ull;
    int64_t mine[2] = {int64_t(h), int64_t(prop_.pciDomainID) << 32 | int64_t(prop_.pciBusID) << 8 |
                                       int64_t(prop_.pciDeviceID)};
    std::vector<int64_t> all(size_t(2 * world));
    host_.allGather(mine, all.data(), 2, ds::plan::I64);
    for (int a = 0; a < world; ++a)
      for (int b = a + 1; b < world; ++b)
        if (all[size_t(2 * a)] == all[size_t(2 * b)] &&
            all[size_t(2 * a + 1)] == all[size_t(2 * b + 1)])
          return true;
    return false;
  }

  void printProfile() {
    std::vector<std::pair<double, std::string>> rows;
    double total = 0;
    for (auto &[name, v] : profileMs_) {
      rows.push_back({v.first, name});
      total += v.first;
    }
    std::sort(rows.rbegin(), rows.rend());
    std::fprintf(stderr, "ds-run: rank %d: kernel time by kernel (serialized, ms; %.1f total)\n",
                 host_.rank(), total);
    for (auto &[ms, name] : rows)
      std::fprintf(stderr, "  %-34s %10.2f ms %6.1f%% %8lld calls\n", name.c_str(), ms,
                   total > 0 ? 100 * ms / total : 0.0, (long long)profileMs_[name].second);
    std::vector<std::pair<double, std::string>> sigs;
    for (auto &[sig, v] : profileSigMs_)
      sigs.push_back({v.first, sig});
    std::sort(sigs.rbegin(), sigs.rend());
    std::fprintf(stderr, "ds-run: rank %d: slowest kernel instances (by kernel and operands)\n",
                 host_.rank());
    for (size_t i = 0; i < sigs.size() && i < 25; ++i)
      std::fprintf(stderr, "  %10.2f ms %6lld calls  %s\n", sigs[i].first,
                   (long long)profileSigMs_[sigs[i].second].second, sigs[i].second.c_str());
  }

  const LoadedPlan &plan_;
  Communicator &host_;
  int device_ = 0;
  bool profile_ = false;
  std::map<std::string, std::pair<double, int64_t>> profileMs_, profileSigMs_;
  cudaDeviceProp prop_{};
  char *arena_ = nullptr, *persistent_ = nullptr;
  char *host_region_ = nullptr; // pinned (cudaHostAlloc)
  uint64_t *counter_ = nullptr;
  std::vector<void *> data_;
  cudaStream_t streams_[kStreams] = {};
  DeviceContext ctx_[kStreams];
  ExecContext ctxBase_;
  cublasLtHandle_t lt_ = nullptr;
  std::unique_ptr<DeviceComm> comm_;
  std::unique_ptr<GeneratedKernels> generated_; // the plan's PTX module, when it has one
  int generatedInstrs_ = 0;                     // instructions that launch one of its entries
  std::vector<Program> programs_;
  cudaEvent_t fork_ = nullptr, join_[kStreams] = {};
  std::vector<cudaGraphExec_t> graphs_;
  std::vector<int> runs_;
  bool useGraphs_ = false;
  size_t maxCollectiveBytes_ = 0;
  bool usesCudnn_ = false; // some instruction is a conv kernel: each stream gets a cuDNN handle
  size_t extraBytes_ = 0;
  uint64_t measuredPeak_ = 0, measuredHost_ = 0, measuredNvme_ = 0;
  ds_host_kernels hk_{}; // ds-run's CPU side (offload); zeroed when none was given
  std::atomic<bool> hostFailed_{false};
  std::mutex hostErrorMu_;
  std::string hostError_;
  std::unique_ptr<StreamTimeline> timeline_;
  int cudnnUsed_ = 0, cudnnTotal_ = 0;
  std::string cudnnWhy_;
  cudaEvent_t timelineBase_ = nullptr;
};

} // namespace

std::unique_ptr<ExecutorBase> makeCudaExecutor(const LoadedPlan &plan, Communicator &host,
                                               const ds_host_kernels *hostKernels,
                                               const ds_cuda_options &opt) {
  return std::make_unique<CudaExecutor>(plan, host, hostKernels, opt);
}

} // namespace ds::rt::cuda
