// The CUDA executor: one cudaMalloc for the arena and one for the persistent region per rank
// plus a pinned host region, compute / comm / copy streams as the plan's instructions name them,
// ordered by events from a load-time hazard analysis (the plan's producer waits plus every
// read/write overlap of region bytes across streams), and each program captured into a CUDA
// graph after its first (eager) run when the communicator allows it.
#include "CudaExecutor.h"

#include "CudaCommon.cuh"
#include "DeviceComm.h"

#include <algorithm>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace ds::rt::cuda {

void enqueueIncrement(uint64_t *counter, cudaStream_t s); // Collectives.cu

namespace {

constexpr int kStreams = 3; // compute, comm, copy

int streamIndex(ds::plan::Instruction::Stream s) {
  switch (s) {
  case ds::plan::Instruction::COMM: return 1;
  case ds::plan::Instruction::COPY:
  case ds::plan::Instruction::IO: return 2;
  default: return 0;
  }
}

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

struct Range {
  ds::plan::Placement region;
  uint64_t begin, end;
  bool write;
};

bool conflicts(const std::vector<Range> &a, const std::vector<Range> &b) {
  for (const auto &x : a)
    for (const auto &y : b)
      if ((x.write || y.write) && x.region == y.region && x.begin < y.end && y.begin < x.end)
        return true;
  return false;
}

class CudaExecutor : public ExecutorBase {
public:
  CudaExecutor(const LoadedPlan &plan, Communicator &host, const ds_cuda_options &opt)
      : plan_(plan), host_(host) {
    if (plan.plan.nvme_bytes() > 0)
      fail("the plan has an NVMe region of ", plan.plan.nvme_bytes(),
           " bytes: NVMe placement needs the offload runtime, which this ds-run does not have");
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

    // Kernels and per-instruction operand ranges.
    for (int i = 0; i < p.programs_size(); ++i) {
      const auto &prog = p.programs(i);
      Program pr;
      for (int k = 0; k < prog.instructions_size(); ++k) {
        const auto &ins = prog.instructions(k);
        Instr in;
        in.fn = findCudaKernel(ins.kernel());
        if (!in.fn)
          fail("program '", prog.name(), "' instruction ", k, ": kernel '", ins.kernel(),
               "' has no CUDA implementation");
        // The plan's stream as written (the loader checked that collectives, and only they,
        // are on COMM, so they run in plan order on the comm stream).
        in.stream = streamIndex(ins.stream());
        bool collective = ins.stream() == ds::plan::Instruction::COMM;
        usesCudnn_ |= ins.kernel().compare(0, 4, "conv") == 0;
        for (int pass = 0; pass < 2; ++pass)
          for (size_t b : pass ? plan.instrOutputs[size_t(i)][size_t(k)]
                               : plan.instrInputs[size_t(i)][size_t(k)]) {
            const auto &info = plan.buffers[b];
            if (info.placement == ds::plan::HOST && ins.kernel() != "copy")
              fail("program '", prog.name(), "' instruction ", k, " (", ins.kernel(),
                   "): buffer ", plan.plan.buffers(int(b)).id(),
                   " is in the host region, which only copy may touch on the CUDA backend");
            if (info.type.bytes == 0)
              continue;
            in.ranges.push_back(
                {info.placement, info.offset, info.offset + info.type.bytes, pass == 1});
            if (info.placement == ds::plan::ARENA)
              in.touchEnd = std::max(in.touchEnd, info.offset + info.type.bytes);
            if (collective)
              maxCollectiveBytes_ = std::max<size_t>(maxCollectiveBytes_, info.type.bytes);
          }
        pr.instrs.push_back(std::move(in));
      }
      analyze(pr, prog);
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
    for (const auto &b : plan.buffers)
      data_.push_back(regionBase(b.placement) + b.offset);
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
      d.workspaceBytes = s == 0 ? ws : 0;
      if (d.workspaceBytes)
        DS_CUDA(cudaMalloc(&d.workspace, d.workspaceBytes));
      // The comm stream's scratch holds a whole gathered tensor for non-leading axes.
      d.scratchBytes = s == 1 ? std::max(sc, maxCollectiveBytes_ * size_t(host.size())) : sc;
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
      for (auto &in : pr.instrs)
        if (in.record)
          DS_CUDA(cudaEventCreateWithFlags(&in.event, cudaEventDisableTiming));

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
    if (const char *g = std::getenv("DS_CUDA_GRAPHS"))
      useGraphs_ = useGraphs_ && std::strcmp(g, "0") != 0;
    graphs_.assign(programs_.size(), nullptr);
    runs_.assign(programs_.size(), 0);
  }

  ~CudaExecutor() override {
    cudaDeviceSynchronize();
    if (profile_)
      printProfile();
    for (auto g : graphs_)
      if (g)
        cudaGraphExecDestroy(g);
    for (auto &pr : programs_)
      for (auto &in : pr.instrs)
        if (in.event)
          cudaEventDestroy(in.event);
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
    Program &pr = programs_[size_t(index)];
    measuredPeak_ = std::max(measuredPeak_, pr.touchEnd);
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
    if (std::getenv("DS_CUDA_SYNC")) // debugging: report asynchronous errors at their program
      sync("program '" + plan_.plan.programs(index).name() + "'");
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
    Program &pr = programs_[size_t(program)];
    for (int s = 1; s < kStreams; ++s) // every stream sees everything before
      DS_CUDA(cudaStreamSynchronize(streams_[s]));
    DS_CUDA(cudaStreamSynchronize(streams_[0]));
    Instr &in = pr.instrs[size_t(k)];
    measuredPeak_ = std::max(measuredPeak_, in.touchEnd);
    call(program, k, in);
    if (k + 1 == int(pr.instrs.size()))
      enqueueIncrement(counter_, streams_[in.stream]);
    sync("instruction " + std::to_string(k));
  }

  void upload(uint32_t id, const void *src) override {
    size_t i = plan_.bufferIndex.at(id);
    size_t bytes = plan_.buffers[i].type.bytes;
    finish();
    if (bytes)
      DS_CUDA(cudaMemcpy(data_[i], src, bytes, cudaMemcpyDefault));
  }

  void download(uint32_t id, void *dst) override {
    size_t i = plan_.bufferIndex.at(id);
    size_t bytes = plan_.buffers[i].type.bytes;
    finish();
    if (bytes)
      DS_CUDA(cudaMemcpy(dst, data_[i], bytes, cudaMemcpyDefault));
  }

  uint64_t measuredPeakBytes() const override { return measuredPeak_; }
  // The whole host region is allocated pinned; NVMe plans are refused at load.
  uint64_t measuredHostBytes() const override { return plan_.plan.host_bytes(); }
  uint64_t measuredNvmeBytes() const override { return 0; }
  const LoadedPlan &plan() const override { return plan_; }
  std::string describe() const override {
    return std::string("cuda (") + prop_.name + ", device " + std::to_string(device_) + ", " +
           comm_->name() + (useGraphs_ ? ", graphs" : "") + ", +" +
           std::to_string(extraBytes_ >> 20) + " MiB workspace/scratch)";
  }

private:
  struct Instr {
    RunFn fn = nullptr;
    int stream = 0;
    std::vector<Range> ranges;
    uint64_t touchEnd = 0;
    std::vector<int> waits; // instructions (other streams) whose events this one waits for
    bool record = false;    // some other stream waits for this instruction
    cudaEvent_t event = nullptr;
  };
  struct Program {
    std::vector<Instr> instrs;
    bool usesStream[kStreams] = {true, false, false};
    uint64_t touchEnd = 0;
  };

  // The region a placement names (NVME plans are refused before anything is allocated).
  char *regionBase(ds::plan::Placement placement) const {
    switch (placement) {
    case ds::plan::ARENA: return arena_;
    case ds::plan::PERSISTENT: return persistent_;
    case ds::plan::HOST: return host_region_;
    default: fail("placement ", ds::plan::Placement_Name(placement), " has no CUDA region");
    }
  }

  // For each instruction, the latest conflicting instruction on each other stream (stream
  // order covers the earlier ones), skipping those an earlier instruction of the same stream
  // already waited for.
  void analyze(Program &pr, const ds::plan::Program &prog) {
    std::vector<int> byStream[kStreams];
    int waited[kStreams][kStreams];
    for (auto &row : waited)
      for (int &w : row)
        w = -1;
    for (int k = 0; k < int(pr.instrs.size()); ++k) {
      Instr &in = pr.instrs[size_t(k)];
      pr.usesStream[in.stream] = true;
      pr.touchEnd = std::max(pr.touchEnd, in.touchEnd);
      std::vector<int> planWaits(prog.instructions(k).waits().begin(),
                                 prog.instructions(k).waits().end());
      for (int s = 0; s < kStreams; ++s) {
        if (s == in.stream)
          continue;
        int found = -1;
        for (auto it = byStream[s].rbegin(); it != byStream[s].rend(); ++it) {
          if (*it <= waited[in.stream][s])
            break;
          bool planned = std::find(planWaits.begin(), planWaits.end(), *it) != planWaits.end();
          if (planned || conflicts(in.ranges, pr.instrs[size_t(*it)].ranges)) {
            found = *it;
            break;
          }
        }
        if (found >= 0) {
          in.waits.push_back(found);
          pr.instrs[size_t(found)].record = true;
          waited[in.stream][s] = found;
        }
      }
      byStream[in.stream].push_back(k);
    }
  }

  void call(int program, int k, Instr &in) {
    const auto &prog = plan_.plan.programs(program);
    for (int w : in.waits)
      DS_CUDA(cudaStreamWaitEvent(streams_[in.stream], programs_[size_t(program)].instrs[size_t(w)].event, 0));
    ExecContext ctx = ctxBase_;
    ctx.device = &ctx_[in.stream];
    KernelCall kc{prog.instructions(k), {}, {}, ctx, plan_.instrAttrs[size_t(program)][size_t(k)]};
    for (size_t b : plan_.instrInputs[size_t(program)][size_t(k)]) {
      const auto &info = plan_.buffers[b];
      kc.in.push_back(Tensor{info.type.dtype, &info.type.shape, info.type.numel, data_[b]});
    }
    for (size_t b : plan_.instrOutputs[size_t(program)][size_t(k)]) {
      const auto &info = plan_.buffers[b];
      kc.out.push_back(Tensor{info.type.dtype, &info.type.shape, info.type.numel, data_[b]});
    }
    cudaEvent_t t0 = nullptr, t1 = nullptr;
    if (profile_) {
      cudaEventCreate(&t0);
      cudaEventCreate(&t1);
      cudaEventRecord(t0, streams_[in.stream]);
    }
    try {
      in.fn(kc);
      if (profile_) {
        cudaEventRecord(t1, streams_[in.stream]);
        DS_CUDA(cudaEventSynchronize(t1));
        float ms = 0;
        cudaEventElapsedTime(&ms, t0, t1);
        auto &slot = profileMs_[prog.instructions(k).kernel()];
        slot.first += ms;
        slot.second += 1;
        // Also by kernel and operand types, to name the slow instances.
        std::string sig = prog.instructions(k).kernel();
        for (const auto &t : kc.in)
          sig += " " + dtypeName(t.dtype) + shapeString(*t.shape);
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
    if (in.record)
      DS_CUDA(cudaEventRecord(in.event, streams_[in.stream]));
  }

  void enqueue(int index) {
    Program &pr = programs_[size_t(index)];
    // Fork: the side streams start after everything queued on the compute stream.
    DS_CUDA(cudaEventRecord(fork_, streams_[0]));
    for (int s = 1; s < kStreams; ++s)
      if (pr.usesStream[s])
        DS_CUDA(cudaStreamWaitEvent(streams_[s], fork_, 0));
    for (int k = 0; k < int(pr.instrs.size()); ++k)
      call(index, k, pr.instrs[size_t(k)]);
    // Join: the compute stream ends after every side stream.
    for (int s = 1; s < kStreams; ++s)
      if (pr.usesStream[s]) {
        DS_CUDA(cudaEventRecord(join_[s], streams_[s]));
        DS_CUDA(cudaStreamWaitEvent(streams_[0], join_[s], 0));
      }
    enqueueIncrement(counter_, streams_[0]);
  }

  // Waits go through the device communicator: NCCL bounds them by --timeout.
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
  std::vector<Program> programs_;
  cudaEvent_t fork_ = nullptr, join_[kStreams] = {};
  std::vector<cudaGraphExec_t> graphs_;
  std::vector<int> runs_;
  bool useGraphs_ = false;
  size_t maxCollectiveBytes_ = 0;
  bool usesCudnn_ = false; // some instruction is a conv kernel: each stream gets a cuDNN handle
  size_t extraBytes_ = 0;
  uint64_t measuredPeak_ = 0;
};

} // namespace

std::unique_ptr<ExecutorBase> makeCudaExecutor(const LoadedPlan &plan, Communicator &host,
                                               const ds_cuda_options &opt) {
  return std::make_unique<CudaExecutor>(plan, host, opt);
}

} // namespace ds::rt::cuda
