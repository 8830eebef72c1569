// ds-run: the driver that parses arguments, launches the ranks and runs the step loop of a .dsplan
// on the CPU backend or the CUDA plugin.
#include "ds/runtime/Checkpoint.h"
#include "ds/runtime/Communicator.h"
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/CudaBackend.h"
#include "ds/runtime/InitWeights.h"
#include "ds/runtime/InputFeeder.h"
#include "ds/runtime/FileOutput.h"
#include "ds/runtime/Hostfile.h"
#include "ds/runtime/JobLauncher.h"
#include "ds/runtime/JobLifetime.h"
#include "ds/runtime/KernelVerifier.h"
#include "ds/runtime/MemoryAdmission.h"
#include "ds/runtime/Monitors.h"
#include "ds/runtime/NvmeSwap.h"
#include "ds/runtime/Npy.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/ParamSaver.h"
#include "ds/runtime/Plan.h"
#include "ds/runtime/RemoveOnExit.h"
#include "ds/runtime/ThreadPool.h"

#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace ds::rt;
using ds::plan::Program;

namespace {

const char *kUsage =
    "usage: ds-run PLAN.dsplan [--nproc N | --hostfile FILE [--include H[:S,..]@.. | --exclude ..]]\n"
    "              [--data DIR | --synthetic] [--steps N]\n"
    "              [--metrics FILE.json] [--print-every N] [--eval --out DIR [--eval-all-ranks] [--whole-inputs]]\n"
    "              [--save-params DIR] [--seed N] [--threads N]\n"
    "              [--save-checkpoint DIR [--save-interval N] [--keep K]] [--resume DIR]\n"
    "              [--init-weights FILE.safetensors]\n"
    "              [--backend auto|cpu|cuda] [--comm auto|nccl|host] [--no-graphs] [--tf32]\n"
    "              [--verify-kernels] [--model FILE.onnx] [--check-inputs] [--timeout SECONDS]\n"
    "       ds-run --backend-info\n";

struct Options {
  std::string plan;
  int nproc = 0;
  std::string hostfile; // DeepSpeed's hostfile: ranks = the slots (after include/exclude)
  std::string include, exclude;
  std::string data;
  bool synthetic = false;
  int steps = 1;
  std::string metrics;
  bool eval = false;
  bool evalAllRanks = false; // every rank writes OUT/rank<r>/<output>.npy
  bool wholeInputs = false;  // each input file holds exactly the input buffer
  bool checkInputs = false;  // reject NaN/Inf in the --data files before training
  std::string out;
  std::string saveParams; // rank 0 writes every parameter as DIR/<file name>.npy at the end
  std::string saveCheckpoint; // DIR/global_step<N> at the end and every saveInterval steps
  int saveInterval = 0;
  int keep = 0; // keep the newest K tags (0: all)
  std::string resume; // a checkpoint DIR or tag directory to continue from
  std::string initWeights; // parameters from this safetensors file, by initializer name
  uint64_t seed = 0;
  int threads = 0;
  std::string backend = "auto"; // auto: cuda when the plugin loads and a GPU is visible
  CudaOptions cuda;
  bool verifyKernels = false; // run every instruction on the CPU too and compare outputs
  std::string model; // read parameters from this ONNX file instead of the plan's model_file
  int printEvery = 0; // a step line every N optimizer steps; 0: the plan's steps_per_print
  int timeout = 1800; // seconds any collective or step may take before the job aborts; 0: none
};

int gRank = -1; // for message prefixes; -1 before the world is known
int gWorld = 1;

[[noreturn]] void usageError(const std::string &msg) {
  std::fprintf(stderr, "ds-run: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

int64_t parseInt(const std::string &flag, const char *v, int64_t lo, int64_t hi) {
  char *end = nullptr;
  errno = 0;
  long long x = std::strtoll(v, &end, 10);
  if (errno || !end || *end || end == v || x < lo || x > hi)
    usageError(flag + " expects an integer in [" + std::to_string(lo) + ", " +
               std::to_string(hi) + "], got '" + v + "'");
  return x;
}

Options parseArgs(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    bool inlineVal = false;
    size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      val = a.substr(eq + 1);
      a = a.substr(0, eq);
      inlineVal = true;
    }
    auto next = [&]() -> const char * {
      if (inlineVal)
        return argv[i] + (eq + 1);
      if (i + 1 >= argc)
        usageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--backend-info") {
      std::string why;
      bool ok = loadCudaBackend(why);
      int n = ok ? cudaDeviceCount() : 0;
      std::printf("cpu: available\ncuda: %s\n",
                  !ok ? ("unavailable (" + why + ")").c_str()
                      : n == 0 ? "unavailable (plugin loaded, no CUDA device visible)"
                               : (std::to_string(n) + " device(s)").c_str());
      std::exit(0);
    }
    if (a == "--nproc")
      o.nproc = int(parseInt(a, next(), 1, 4096));
    else if (a == "--hostfile")
      o.hostfile = next();
    else if (a == "--include")
      o.include = next();
    else if (a == "--exclude")
      o.exclude = next();
    else if (a == "--data")
      o.data = next();
    else if (a == "--synthetic")
      o.synthetic = true;
    else if (a == "--steps")
      o.steps = int(parseInt(a, next(), 0, INT32_MAX));
    else if (a == "--metrics")
      o.metrics = next();
    else if (a == "--print-every")
      o.printEvery = int(parseInt(a, next(), 1, INT32_MAX));
    else if (a == "--eval")
      o.eval = true;
    else if (a == "--eval-all-ranks")
      o.evalAllRanks = true;
    else if (a == "--whole-inputs")
      o.wholeInputs = true;
    else if (a == "--check-inputs")
      o.checkInputs = true;
    else if (a == "--out")
      o.out = next();
    else if (a == "--save-params") {
      o.saveParams = next();
      if (o.saveParams.empty())
        usageError("--save-params needs a directory");
    }
    else if (a == "--save-checkpoint") {
      o.saveCheckpoint = next();
      if (o.saveCheckpoint.empty())
        usageError("--save-checkpoint needs a directory");
    } else if (a == "--save-interval")
      o.saveInterval = int(parseInt(a, next(), 1, INT32_MAX));
    else if (a == "--keep")
      o.keep = int(parseInt(a, next(), 1, INT32_MAX));
    else if (a == "--resume") {
      o.resume = next();
      if (o.resume.empty())
        usageError("--resume needs a checkpoint directory");
    }
    else if (a == "--init-weights") {
      o.initWeights = next();
      if (o.initWeights.empty())
        usageError("--init-weights needs a .safetensors file");
    } else if (a == "--seed")
      o.seed = uint64_t(parseInt(a, next(), 0, INT64_MAX));
    else if (a == "--threads")
      o.threads = int(parseInt(a, next(), 1, 1024));
    else if (a == "--backend") {
      o.backend = next();
      if (o.backend != "auto" && o.backend != "cpu" && o.backend != "cuda")
        usageError("--backend expects auto, cpu or cuda, got '" + o.backend + "'");
    } else if (a == "--comm") {
      o.cuda.comm = next();
      if (o.cuda.comm != "auto" && o.cuda.comm != "nccl" && o.cuda.comm != "host")
        usageError("--comm expects auto, nccl or host, got '" + o.cuda.comm + "'");
    } else if (a == "--no-graphs")
      o.cuda.graphs = false;
    else if (a == "--tf32")
      o.cuda.tf32 = true;
    else if (a == "--timeout")
      o.timeout = int(parseInt(a, next(), 0, INT32_MAX));
    else if (a == "--verify-kernels")
      o.verifyKernels = true;
    else if (a == "--model") {
      o.model = next();
      if (o.model.empty())
        usageError("--model needs a file");
    }
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a.rfind("-", 0) == 0)
      usageError("unknown option " + a);
    else if (o.plan.empty())
      o.plan = a;
    else
      usageError("more than one plan file given");
  }
  o.cuda.timeoutSeconds = o.timeout;
  if (o.plan.empty())
    usageError("no plan file given");
  if (!o.data.empty() && o.synthetic)
    usageError("--data and --synthetic exclude each other");
  if (o.eval && o.out.empty())
    usageError("--eval needs --out DIR");
  if (!o.out.empty() && !o.eval)
    usageError("--out is only used with --eval");
  if (o.evalAllRanks && !o.eval)
    usageError("--eval-all-ranks is only used with --eval");
  if (o.wholeInputs && !o.eval)
    usageError("--whole-inputs is only used with --eval");
  if (!o.initWeights.empty() && !o.resume.empty())
    usageError("--init-weights and --resume exclude each other (a checkpoint has its weights)");
  if ((o.saveInterval || o.keep) && o.saveCheckpoint.empty())
    usageError("--save-interval and --keep are only used with --save-checkpoint DIR");
  if (o.eval && (!o.saveCheckpoint.empty()))
    usageError("--save-checkpoint saves training state: it excludes --eval");
  if (o.wholeInputs && o.synthetic)
    usageError("--whole-inputs reads --data DIR; it excludes --synthetic");
  return o;
}

std::string prefix() {
  return gRank < 0 ? "ds-run: " : "ds-run: rank " + std::to_string(gRank) + ": ";
}

void info(const std::string &msg) {
  std::printf("%s\n", msg.c_str());
  std::fflush(stdout);
}

std::string jsonNumber(double v) {
  if (!std::isfinite(v))
    return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

template <typename T> std::string jsonList(const std::vector<T> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + jsonNumber(double(v[i]));
  return s + "]";
}

/// 1536 -> "1.50 KiB": binary units, for the step lines and the summary.
/// The process's resident set in bytes now (/proc/self/statm's second field, in pages).
int64_t residentBytes() {
  long pages = 0, resident = 0;
  FILE *f = std::fopen("/proc/self/statm", "r");
  if (!f)
    return 0;
  int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? int64_t(resident) * sysconf(_SC_PAGESIZE) : 0;
}

/// The process's peak resident set in bytes (getrusage's ru_maxrss, KiB on Linux).
int64_t peakResidentBytes() {
  struct rusage usage {};
  return getrusage(RUSAGE_SELF, &usage) == 0 ? int64_t(usage.ru_maxrss) * 1024 : 0;
}

std::string humanBytes(double bytes) {
  return formatByteSize(uint64_t(std::max(0.0, std::round(bytes))));
}

/// 124439808 -> "124.4M": parameter counts in the header.
std::string humanCount(double n) {
  const char *units[] = {"", "K", "M", "B", "T"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f%s" : "%.1f%s", n, units[u]);
  return buf;
}

void progress(int done, int total) {
  const int width = 30;
  int fill = total ? done * width / total : width;
  std::fprintf(stderr, "\r[%s%s] %d/%d", std::string(size_t(fill), '#').c_str(),
               std::string(size_t(width - fill), ' ').c_str(), done, total);
  if (done == total)
    std::fputc('\n', stderr);
  std::fflush(stderr);
}

/// The executor --backend asks for (auto: CUDA when its plugin loads and a GPU is visible).
std::unique_ptr<ExecutorBase> makeExecutor(const LoadedPlan &plan, Communicator &comm,
                                           const Options &opt) {
  std::string backend = opt.backend;
  if (const char *e = std::getenv("DS_RUN_BACKEND"); e && *e && backend == "auto")
    backend = e;
  if (backend == "auto")
    backend = cudaDeviceCount() > 0 ? "cuda" : "cpu";
  checkMemoryAdmission(plan.plan, /*regionsInHostMemory=*/backend == "cpu", localRankCount());
  if (uint64_t nvme = plan.plan.nvme_bytes(); nvme > 0) {
    // Every rank on this node puts its swap file in the same directory: all must fit.
    const std::string &dir = plan.plan.io().nvme_path();
    if (dir.empty())
      fail("the plan keeps ", nvme, " bytes per rank on NVMe but names no nvme_path "
           "(zero_optimization.offload_*.nvme_path)");
    std::string why = checkSwapDirectory(dir, nvme * uint64_t(localRankCount()));
    if (!why.empty())
      fail("NVMe offload: ", why);
  }
  if (backend == "cpu")
    return std::make_unique<CpuExecutor>(plan, comm);
  std::string why;
  if (!loadCudaBackend(why))
    fail("--backend cuda: ", why);
  if (cudaDeviceCount() == 0)
    fail("--backend cuda: no CUDA device is visible (driver missing or no GPU)");
  return makeCudaExecutor(plan, comm, opt.cuda);
}

/// A failure during setup (before any collective): every rank learns whether some rank failed.
struct SetupFailed {
  std::string message; // empty on ranks that did not fail themselves
};

int runJob(const Options &opt, Communicator &comm) {
  int rank = comm.rank(), world = comm.size();
  // Setup runs no collectives, so ranks can fail independently (a missing shard file on one
  // node); they agree on the outcome below so every failing rank reports and all exit cleanly.
  std::unique_ptr<LoadedPlan> planPtr;
  std::unique_ptr<ExecutorBase> execPtr;
  std::unique_ptr<CpuExecutor> cpuCheckPtr; // --verify-kernels: the CPU executor compared against
  std::unique_ptr<InputFeeder> feederPtr;
  std::vector<ds::plan::GraphInput> wholeInputs;
  std::vector<SavedParam> savedParams;
  std::unique_ptr<CheckpointSaver> saver;
  std::string setupError;
  try {
    planPtr = std::make_unique<LoadedPlan>(
        opt.wholeInputs ? loadPlanWithoutInputs(opt.plan, world, wholeInputs)
                        : loadPlan(opt.plan, world));
    if (!opt.model.empty())
      planPtr->modelPath = opt.model;
    const LoadedPlan &plan = *planPtr;
    if (rank == 0 && !opt.metrics.empty())
      checkOutputFile(opt.metrics, "--metrics"); // fail fast, not after training
    if (opt.threads)
      setNumThreads(opt.threads);
    execPtr = makeExecutor(plan, comm, opt);
    if (opt.verifyKernels) {
      if (execPtr->describe() == "cpu")
        fail("--verify-kernels compares a device backend with the CPU: use --backend cuda");
      cpuCheckPtr = std::make_unique<CpuExecutor>(plan, comm);
    }
    if (rank == 0 && execPtr->describe() != "cpu")
      info("ds-run: backend " + execPtr->describe());
    loadParameters(plan, *execPtr, rank, world);
    if (!opt.initWeights.empty())
      loadInitWeights(plan, opt.initWeights, *execPtr, rank, world);
    if (plan.plan.inputs_size() > 0 && opt.data.empty() && !opt.synthetic)
      fail("the plan has ", plan.plan.inputs_size(),
           " graph inputs: give --data DIR or --synthetic");
    if (!wholeInputs.empty() && opt.data.empty())
      fail("the plan has ", wholeInputs.size(), " graph inputs: --whole-inputs needs --data DIR");
    feedWholeInputs(wholeInputs, *execPtr, opt.data, /*doRead=*/false, // check files early
                    opt.checkInputs && rank == 0);
    feederPtr = std::make_unique<InputFeeder>(
        plan, *execPtr, InputFeederOptions{opt.data, opt.synthetic, opt.seed, opt.checkInputs}, rank, world);
    if (!opt.saveParams.empty())
      savedParams = prepareSaveParams(plan, opt.saveParams, rank);
    if (!opt.saveCheckpoint.empty())
      saver = std::make_unique<CheckpointSaver>(plan, opt.saveCheckpoint, opt.keep, rank, world);
    if (opt.eval) {
      if (plan.program(Program::INFERENCE) < 0)
        fail("--eval: the plan has no INFERENCE program");
      feederPtr->requireSamples(int64_t(plan.microBatch) * world);
    } else {
      bool micro = plan.program(Program::MICRO_STEP) >= 0;
      if (!micro && plan.program(Program::INFERENCE) < 0)
        fail("the plan has neither a MICRO_STEP nor an INFERENCE program");
      feederPtr->requireSamples(int64_t(plan.microBatch) * (micro ? plan.accumulationSteps : 1) *
                                world);
    }
  } catch (const std::exception &e) {
    setupError = e.what();
    if (setupError.empty())
      setupError = "setup failed";
  }
  int32_t failed = setupError.empty() ? 0 : 1;
  comm.allReduce(&failed, &failed, 1, ds::plan::I32, ReduceOp::Max);
  if (failed)
    throw SetupFailed{setupError};
  const LoadedPlan &plan = *planPtr;
  ExecutorBase &exec = *execPtr;
  InputFeeder &feeder = *feederPtr;
  bool needInputs = plan.plan.inputs_size() > 0;
  int64_t mb = plan.microBatch;
  std::unique_ptr<KernelVerifier> verifier;
  if (cpuCheckPtr)
    verifier = std::make_unique<KernelVerifier>(exec, *cpuCheckPtr, rank);
  uint64_t programRuns = 0; // the dropout RNG position: what a checkpoint records
  auto runProgram = [&](int p) {
    ++programRuns;
    setRankProgram(p, plan.plan.programs(p).name());
    if (verifier)
      verifier->run(p);
    else
      exec.run(p);
  };
  if (plan.program(Program::INIT) >= 0)
    runProgram(plan.program(Program::INIT));
  // --resume: every rank loads its state after INIT (which it overwrites); ranks agree on
  // the outcome as in setup.
  CheckpointPosition start;
  if (!opt.resume.empty()) {
    std::string error, resumedFrom;
    uint64_t resumedBytes = 0;
    auto t0 = std::chrono::steady_clock::now();
    try {
      CheckpointManifest m = loadCheckpoint(plan, opt.resume, exec, rank, world);
      uint64_t bytes = 0;
      for (const auto &f : m.files)
        bytes += f.bytes;
      start = m.position;
      bool dropout = false;
      for (const auto &prog : plan.plan.programs())
        for (const auto &ins : prog.instructions())
          dropout |= ins.kernel() == "dropout";
      if (dropout) {
        exec.setRunCounter(start.programRuns);
        if (cpuCheckPtr)
          cpuCheckPtr->setRunCounter(start.programRuns);
      }
      programRuns = start.programRuns;
      resumedFrom = "ds-run: resumed from " + m.dir + " (step " +
                    std::to_string(start.globalStep) + ", saved by " +
                    std::to_string(m.worldSize) + " rank" + (m.worldSize == 1 ? "" : "s") +
                    " at ZeRO stage " + std::to_string(m.zeroStage) + "; " +
                    humanBytes(double(bytes)) + " in ";
      resumedBytes = bytes;
    } catch (const std::exception &e) {
      error = std::string(e.what());
    }
    int32_t failed = error.empty() ? 0 : 1;
    comm.allReduce(&failed, &failed, 1, ds::plan::I32, ReduceOp::Max);
    if (failed)
      throw SetupFailed{error};
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%.3f s, %.1f MiB/s)", sec,
                  sec > 0 ? double(resumedBytes) / sec / 1048576.0 : 0.0);
    if (rank == 0)
      info(resumedFrom + buf);
  }
  int64_t lastSaved = -1;
  auto saveCheckpoint = [&](int64_t steps, int64_t nextSample) {
    std::string error;
    auto t0 = std::chrono::steady_clock::now();
    if (!saver->save({steps, nextSample, programRuns}, exec, comm, error))
      throw SetupFailed{error};
    lastSaved = steps;
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double bytes = double(saver->rankBytes()) * world;
    char buf[96];
    std::snprintf(buf, sizeof(buf), " (%s in %.3f s, %.1f MiB/s)", humanBytes(bytes).c_str(),
                  sec, sec > 0 ? bytes / sec / 1048576.0 : 0.0);
    if (rank == 0)
      info("ds-run: saved checkpoint " + saver->dir() + "/" + checkpointTag(steps) + buf);
  };

  std::vector<double> losses;
  std::vector<double> lossScales; // the scale each step's backward pass used (fp16)
  std::vector<double> msPerStep;
  // wall_clock_breakdown, per step (rank 0's times): DeepSpeed's fwd, bwd, step timers and
  // the collectives within them.
  std::vector<double> forwardMs, backwardMs, stepMs, commMs;
  double samplesPerSec = 0;
  int64_t summaryTokensPerSample = 0;
  std::vector<double> lrs;        // the learning rate after each step (DeepSpeed's get_lr())
  std::vector<std::string> monitorFiles; // csv_monitor / tensorboard files rank 0 wrote
  bool trained = false;
  int executedSteps = 0;
  if (opt.eval) {
    int p = plan.program(Program::INFERENCE);
    if (p < 0)
      fail("--eval: the plan has no INFERENCE program");
    feeder.requireSamples(mb * world);
    if (needInputs)
      feeder.feed(int64_t(rank) * mb, 0);
    feedWholeInputs(wholeInputs, exec, opt.data, /*doRead=*/true);
    runProgram(p);
    auto writeOutputs = [&](const std::string &dir) {
      createDirectories(dir);
      for (const auto &o : plan.plan.outputs()) {
        if (o.name().empty() || o.name().find('/') != std::string::npos || o.name() == "." ||
            o.name() == "..")
          fail("output name '", o.name(), "' cannot be a file name");
        std::vector<char> store;
        Tensor t = hostTensor(exec, o.buffer(), store, /*fetch=*/true);
        writeNpy(dir + "/" + o.name() + ".npy", t.dtype, *t.shape, t.data);
      }
    };
    if (rank == 0)
      writeOutputs(opt.out);
    if (opt.evalAllRanks)
      writeOutputs(opt.out + "/rank" + std::to_string(rank));
    if (rank == 0)
      info("ds-run: wrote " + std::to_string(plan.plan.outputs_size()) + " outputs to " +
           opt.out + (opt.evalAllRanks ? " (and " + std::to_string(world) + " rank dirs)" : ""));
  } else {
    int micro = plan.program(Program::MICRO_STEP);
    int apply = plan.program(Program::APPLY_STEP);
    int accum = plan.accumulationSteps;
    if (micro < 0) { // inference-only plan: run it as the step
      micro = plan.program(Program::INFERENCE);
      accum = 1;
      if (micro < 0)
        fail("the plan has neither a MICRO_STEP nor an INFERENCE program");
    }
    int64_t perRank = mb * accum, global = perRank * world;
    feeder.requireSamples(global);
    const ds::plan::GraphOutput *lossOut =
        plan.plan.has_loss_output() && plan.plan.loss_output() >= 0
            ? &plan.plan.outputs(plan.plan.loss_output())
            : nullptr;
    const char *tty = std::getenv("DS_RUN_STDOUT_TTY");
    bool bar = rank == 0 && (tty ? std::strcmp(tty, "1") == 0
                                 : isatty(STDOUT_FILENO) && !launchedByMpi() &&
                                       !launchedBySrun());
    // Tokens per sample: the first integer input with a sequence axis (token ids).
    int64_t tokensPerSample = 0;
    for (const auto &in : plan.plan.inputs()) {
      const BufferInfo &b = plan.buffer(in.buffer());
      if ((b.type.dtype == ds::plan::I64 || b.type.dtype == ds::plan::I32) &&
          b.type.shape.size() >= 2) {
        tokensPerSample = 1;
        for (size_t d = 0; d < b.type.shape.size(); ++d)
          if (int64_t(d) != int64_t(in.batch_dim()))
            tokensPerSample *= b.type.shape[d];
        break;
      }
    }
    int every = opt.printEvery ? opt.printEvery
                : plan.plan.steps_per_print() ? int(std::min<uint32_t>(
                                                    plan.plan.steps_per_print(), INT32_MAX))
                                              : 10; // DeepSpeed's steps_per_print default
    if (rank == 0) {
      uint64_t predicted = plan.plan.predicted_peak_bytes(),
               persistent = plan.plan.persistent_bytes();
      std::string model = plan.plan.model_file().empty() ? plan.path : plan.plan.model_file();
      char line[512];
      std::snprintf(line, sizeof(line),
                    "ds-run: training %s: ZeRO stage %u, %d rank%s, batch %lld micro x %d "
                    "accumulation x %d rank%s = %lld global, %s trainable parameters",
                    model.c_str(), plan.plan.zero_stage(), world, world == 1 ? "" : "s",
                    (long long)mb, accum, world, world == 1 ? "" : "s", (long long)global,
                    humanCount(double(plan.plan.trainable_parameters())).c_str());
      info(line);
      std::snprintf(line, sizeof(line),
                    "ds-run: per rank: predicted peak %s (arena high-water %s + persistent "
                    "%s); %d steps, a line every %d (steps_per_print)",
                    humanBytes(double(predicted + persistent)).c_str(),
                    humanBytes(double(predicted)).c_str(),
                    humanBytes(double(persistent)).c_str(), opt.steps, every);
      info(line);
    }
    // DeepSpeed's monitors (csv_monitor, tensorboard; carried in the plan), on rank 0:
    // Train/Samples/train_loss at the samples trained before the step (DeepSpeed logs it in
    // backward()), lr and loss_scale after it (in step(), after global_samples grew).
    std::unique_ptr<TrainingMonitors> monitors;
    if (rank == 0 && opt.steps > 0 &&
        (!plan.plan.csv_monitor_dir().empty() || !plan.plan.tensorboard_dir().empty()))
      monitors = std::make_unique<TrainingMonitors>(plan.plan.csv_monitor_dir(),
                                                    plan.plan.tensorboard_dir());
    // The learning rate after each step as DeepSpeed's get_lr() reports it (what the next
    // step uses): the lr_schedule kernel's own formula at the applied-step counter + 1.
    const LrScheduleAttrs *lrAttrs = nullptr;
    std::optional<uint32_t> appliedBuffer;
    if (apply >= 0) {
      const auto &instrs = plan.plan.programs(apply).instructions();
      for (int i = 0; i < instrs.size() && !lrAttrs; ++i)
        if (instrs[i].kernel() == "lr_schedule")
          lrAttrs = &std::get<LrScheduleAttrs>(plan.instrAttrs[size_t(apply)][size_t(i)]);
      for (const auto &st : plan.plan.states())
        if (st.kind() == "step")
          appliedBuffer = st.buffer();
    }
    bool breakdown = plan.plan.wall_clock_breakdown();
    if (breakdown) {
      // Forward: MICRO_STEP up to the instruction that writes the loss; backward: the rest
      // (recomputation included, as DeepSpeed's bwd timer includes it); step: APPLY_STEP.
      std::vector<int> splits(size_t(plan.plan.programs_size()), INT32_MAX);
      if (lossOut && micro == plan.program(Program::MICRO_STEP)) {
        const auto &instrs = plan.plan.programs(micro).instructions();
        splits[size_t(micro)] = -1;
        for (int k = 0; k < instrs.size(); ++k)
          for (uint32_t o : instrs[k].outputs())
            if (o == lossOut->buffer())
              splits[size_t(micro)] = k;
      }
      if (!exec.startPhaseTiming(splits)) {
        breakdown = false;
        if (rank == 0)
          info("ds-run: wall_clock_breakdown: the " + exec.describe() +
               " backend does not time instructions; no breakdown");
      }
    }
    double totalSec = 0;
    int firstStep = int(std::min<int64_t>(start.globalStep, INT32_MAX));
    if (rank == 0 && !opt.resume.empty() && firstStep >= opt.steps)
      info("ds-run: the checkpoint is at step " + std::to_string(start.globalStep) +
           ", --steps " + std::to_string(opt.steps) + ": nothing to run");
    // Step s reads from sample nextSample + (s - firstStep) * global (s * global unless resumed
    // from a run with another global batch).
    auto sampleBase = [&](int s) {
      return start.nextSample + int64_t(s - firstStep) * global;
    };
    for (int s = firstStep; s < opt.steps; ++s) {
      setRankStep(s + 1);
      auto t0 = std::chrono::steady_clock::now();
      double lossSum = 0;
      for (int m = 0; m < accum; ++m) {
        if (needInputs)
          feeder.feed(sampleBase(s) + int64_t(rank) * perRank + int64_t(m) * mb,
                      uint64_t(s) * uint64_t(accum) + uint64_t(m));
        runProgram(micro);
        if (lossOut)
          lossSum += downloadScalar(exec, lossOut->buffer());
      }
      if (plan.plan.has_loss_scale_buffer())
        lossScales.push_back(downloadScalar(exec, plan.plan.loss_scale_buffer()));
      if (apply >= 0)
        runProgram(apply);
      double loss = lossSum / accum;
      if (lossOut) {
        comm.allReduce(&loss, &loss, 1, ds::plan::F64, ReduceOp::Sum);
        loss /= world;
        losses.push_back(loss);
      }
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      totalSec += sec;
      msPerStep.push_back(sec * 1e3);
      if (breakdown) {
        std::vector<PhaseSeconds> t = exec.takePhaseSeconds();
        PhaseSeconds a = apply >= 0 ? t[size_t(apply)] : PhaseSeconds();
        forwardMs.push_back(t[size_t(micro)].head * 1e3);
        backwardMs.push_back(t[size_t(micro)].tail * 1e3);
        stepMs.push_back((a.head + a.tail) * 1e3);
        commMs.push_back((t[size_t(micro)].collectives + a.collectives) * 1e3);
      }
      if (saver && opt.saveInterval && (s + 1) % opt.saveInterval == 0)
        saveCheckpoint(s + 1, sampleBase(s + 1));
      if (lrAttrs && appliedBuffer)
        lrs.push_back(lrScheduleValue(*lrAttrs, downloadInteger(exec, *appliedBuffer) + 1));
      if (monitors) {
        if (lossOut)
          monitors->write("Train/Samples/train_loss", loss, int64_t(s) * global);
        if (!lrs.empty())
          monitors->write("Train/Samples/lr", lrs.back(), int64_t(s + 1) * global);
        if (plan.plan.has_loss_scale_buffer()) // the scale after the step (cur_scale)
          monitors->write("Train/Samples/loss_scale",
                          downloadScalar(exec, plan.plan.loss_scale_buffer()),
                          int64_t(s + 1) * global);
        if (breakdown) // DeepSpeed's names; _communication is ours (every collective)
          for (auto [tag, ms] : {std::pair{"forward", &forwardMs}, {"backward", &backwardMs},
                                 {"step", &stepMs}, {"communication", &commMs}})
            monitors->write(std::string("Train/Samples/elapsed_time_ms_") + tag, ms->back(),
                            int64_t(s + 1) * global);
        monitors->flush();
      }
      // DeepSpeed prints every steps_per_print steps; the first and the last step too.
      bool print = s == 0 || (s + 1) % every == 0 || s + 1 == opt.steps;
      if (rank == 0 && !print && bar)
        progress(s + 1, opt.steps);
      // memory_breakdown: the largest current and peak resident set of any rank (a
      // collective on every print step, which every rank reaches alike).
      int64_t rss[2] = {0, 0};
      if (print && plan.plan.memory_breakdown()) {
        rss[0] = residentBytes();
        rss[1] = peakResidentBytes();
        comm.allReduce(rss, rss, 2, ds::plan::I64, ReduceOp::Max);
      }
      if (rank == 0 && print) {
        if (bar)
          std::fputs("\r\033[K", stderr);
        char line[256];
        std::snprintf(line, sizeof(line),
                      "step %d  loss %s  lr %s  samples/s %.1f  ms/step %.3f  arena_peak %s",
                      s + 1, lossOut ? jsonNumber(loss).c_str() : "-",
                      lrs.empty() ? "-" : jsonNumber(lrs.back()).c_str(),
                      sec > 0 ? global / sec : 0.0,
                      sec * 1e3, humanBytes(double(exec.measuredPeakBytes())).c_str());
        std::string text = line;
        if (!lossScales.empty())
          text += "  loss_scale " + jsonNumber(lossScales.back());
        if (plan.plan.memory_breakdown())
          text += "  rss " + humanBytes(double(rss[0])) + "  rss_peak " +
                  humanBytes(double(rss[1]));
        if (breakdown) {
          std::snprintf(line, sizeof(line),
                        "  fwd_ms %.3f  bwd_ms %.3f  step_ms %.3f  comm_ms %.3f",
                        forwardMs.back(), backwardMs.back(), stepMs.back(), commMs.back());
          text += line;
        }
        info(text);
        if (bar)
          progress(s + 1, opt.steps);
      }
    }
    setRankStep(0);
    int done = std::max(opt.steps, firstStep);
    if (saver && lastSaved != done && !(!opt.resume.empty() && done == firstStep))
      saveCheckpoint(done, sampleBase(done));
    executedSteps = std::max(0, opt.steps - firstStep);
    samplesPerSec = totalSec > 0 ? double(global) * executedSteps / totalSec : 0;
    summaryTokensPerSample = tokensPerSample;
    if (monitors)
      monitorFiles = monitors->filesWritten();
    trained = true;
  }

  if (!opt.saveParams.empty()) {
    std::string error;
    if (!saveParams(savedParams, opt.saveParams, exec, comm, error))
      throw SetupFailed{error}; // every rank: rank 0 reports, all exit 1
    if (rank == 0)
      info("ds-run: wrote " + std::to_string(savedParams.size()) + " parameters to " +
           opt.saveParams);
  }

  std::string metricsError;
  // Per rank: predicted and measured arena peak, the measured bytes of each tier
  // (device = persistent region + arena high-water; host region; NVMe swap file), and the
  // process's peak resident set (getrusage: everything, the executable and libraries too).
  constexpr int kTiers = 6;
  std::vector<int64_t> all(size_t(kTiers * world));
  if (!opt.metrics.empty() || trained) {
    int64_t mine[kTiers] = {int64_t(plan.plan.predicted_peak_bytes()),
                            int64_t(exec.measuredPeakBytes()),
                            int64_t(plan.plan.persistent_bytes() + exec.measuredPeakBytes()),
                            int64_t(exec.measuredHostBytes()),
                            int64_t(exec.measuredNvmeBytes()),
                            peakResidentBytes()};
    comm.allGather(mine, all.data(), kTiers, ds::plan::I64);
  }
  auto tier = [&](int r, int k) { return all[size_t(kTiers * r + k)]; };
  if (!opt.metrics.empty()) {
    if (rank == 0) {
      std::vector<int64_t> pred, meas, device, host, nvme, resident;
      for (int r = 0; r < world; ++r) {
        pred.push_back(tier(r, 0));
        meas.push_back(tier(r, 1));
        device.push_back(tier(r, 2));
        host.push_back(tier(r, 3));
        nvme.push_back(tier(r, 4));
        resident.push_back(tier(r, 5));
      }
      std::string json = "{\n  \"loss\": " + jsonList(losses) +
                         (lossScales.empty()
                              ? std::string()
                              : ",\n  \"loss_scale\": " + jsonList(lossScales)) +
                         (lrs.empty() ? std::string() : ",\n  \"lr\": " + jsonList(lrs)) +
                         ",\n  \"predicted_peak_bytes\": " + jsonList(pred) +
                         ",\n  \"measured_peak_bytes\": " + jsonList(meas) +
                         ",\n  \"arena_bytes\": " + std::to_string(plan.plan.arena_bytes()) +
                         ",\n  \"persistent_bytes\": " +
                         std::to_string(plan.plan.persistent_bytes()) +
                         ",\n  \"device_bytes\": " + jsonList(device) +
                         ",\n  \"host_bytes\": " + jsonList(host) +
                         ",\n  \"nvme_bytes\": " + jsonList(nvme) +
                         ",\n  \"planned_device_bytes\": " +
                         std::to_string(plan.plan.persistent_bytes() +
                                        plan.plan.predicted_peak_bytes()) +
                         ",\n  \"planned_host_bytes\": " +
                         std::to_string(plan.plan.host_bytes()) +
                         ",\n  \"planned_nvme_bytes\": " +
                         std::to_string(plan.plan.nvme_bytes()) +
                         ",\n  \"peak_resident_bytes\": " + jsonList(resident) +
                         ",\n  \"world_size\": " + std::to_string(world) +
                         ",\n  \"micro_batch\": " + std::to_string(mb) +
                         ",\n  \"gradient_accumulation_steps\": " +
                         std::to_string(plan.accumulationSteps) +
                         ",\n  \"ms_per_step\": " + jsonList(msPerStep) +
                         (forwardMs.empty()
                              ? std::string()
                              : ",\n  \"forward_ms\": " + jsonList(forwardMs) +
                                    ",\n  \"backward_ms\": " + jsonList(backwardMs) +
                                    ",\n  \"step_ms\": " + jsonList(stepMs) +
                                    ",\n  \"communication_ms\": " + jsonList(commMs)) +
                         ",\n  \"samples_per_second\": " + jsonNumber(samplesPerSec) +
                         ",\n  \"backend\": \"" + exec.describe() + "\"" +
                         (verifier ? ",\n  \"kernel_mismatches\": " +
                                         std::to_string(verifier->mismatches()) +
                                            ",\n  \"instructions_verified\": " +
                                         std::to_string(verifier->checked())
                                      : std::string()) +
                         "\n}\n";
      try {
        writeFileAtomically(opt.metrics, json);
      } catch (const std::exception &e) {
        metricsError = std::string("--metrics: ") + e.what();
      }
    }
  }
  int32_t metricsFailed = metricsError.empty() ? 0 : 1; // also the barrier before exiting
  comm.allReduce(&metricsFailed, &metricsFailed, 1, ds::plan::I32, ReduceOp::Max);
  if (metricsFailed)
    throw SetupFailed{metricsError};
  if (trained && rank == 0 && executedSteps > 0) {
    // The summary: loss first -> last, throughput, measured vs predicted peak, files written.
    std::string text = "ds-run: summary: " + std::to_string(executedSteps) + " steps";
    if (!losses.empty())
      text += ", loss " + jsonNumber(losses.front()) + " -> " + jsonNumber(losses.back());
    char buf[128];
    std::snprintf(buf, sizeof(buf), ", %.1f samples/s", samplesPerSec);
    text += buf;
    if (summaryTokensPerSample > 0) {
      std::snprintf(buf, sizeof(buf), " (%.0f tokens/s)",
                    samplesPerSec * double(summaryTokensPerSample));
      text += buf;
    }
    info(text);
    for (int r = 0; r < world; ++r) {
      int64_t pred = tier(r, 0), meas = tier(r, 1);
      std::snprintf(buf, sizeof(buf), "%+.1f%%",
                    pred > 0 ? 100.0 * double(meas - pred) / double(pred) : 0.0);
      std::string offloaded;
      if (plan.plan.host_bytes() > 0)
        offloaded += ", host " + humanBytes(double(tier(r, 3)));
      if (plan.plan.nvme_bytes() > 0)
        offloaded += ", NVMe " + humanBytes(double(tier(r, 4)));
      info("ds-run:   rank " + std::to_string(r) + ": arena peak measured " +
           humanBytes(double(meas)) + ", predicted " + humanBytes(double(pred)) + " (" + buf +
           "), persistent " + humanBytes(double(plan.plan.persistent_bytes())) + offloaded);
    }
    if (!opt.metrics.empty())
      info("ds-run: wrote metrics to " + opt.metrics);
    if (!opt.saveParams.empty())
      info("ds-run: wrote parameters to " + opt.saveParams);
    for (const std::string &f : monitorFiles)
      info("ds-run: wrote " + f);
  }
  if (verifier) {
    int64_t bad = verifier->mismatches();
    comm.allReduce(&bad, &bad, 1, ds::plan::I64, ReduceOp::Sum);
    if (rank == 0)
      info("ds-run: verify-kernels: " + std::to_string(verifier->checked()) +
           " instructions checked on rank 0, " + std::to_string(bad) +
           " mismatching outputs on all ranks");
    return bad ? 3 : 0;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options opt = parseArgs(argc, argv);
  bool underMpi = launchedByMpi();
  // torchrun's environment, or srun without a PMI plugin: ranks meet over TCP.
  bool underEnv = !underMpi && (launchedByTorchrun() || launchedBySrun());
  try {
    if (!opt.hostfile.empty() && !underMpi && !underEnv) {
      // DeepSpeed's launcher: one rank per selected slot of every host, through mpirun.
      std::vector<HostSlots> hosts =
          selectHosts(parseHostfile(opt.hostfile), opt.include, opt.exclude);
      int n = totalSlots(hosts);
      if (opt.nproc > 0 && opt.nproc != n)
        fail("--nproc ", opt.nproc, " does not match the ", n, " slots --hostfile ",
             opt.hostfile, " selects");
      relaunch(argc, argv, n, hosts);
    }
    if ((!opt.include.empty() || !opt.exclude.empty()) && opt.hostfile.empty())
      fail(opt.include.empty() ? "--exclude" : "--include", " needs --hostfile");
    if (opt.nproc > 1 && !underMpi && !underEnv)
      relaunch(argc, argv, opt.nproc);
    applyHostSlots();
    std::unique_ptr<Communicator> comm;
    if (underMpi) {
      comm = makeMpiCommunicator(opt.threads);
    } else if (underEnv) {
      comm = makeTcpCommunicator(opt.timeout);
    } else {
      comm = makeSingleRankCommunicator();
    }
    gRank = comm->rank();
    gWorld = comm->size();
    startRankLifetime(gRank, gWorld, opt.timeout);
    if (opt.nproc > 0 && opt.nproc != gWorld)
      fail("--nproc ", opt.nproc, " does not match the ", gWorld, " ranks this job was started with");
    int rc;
    try {
      rc = runJob(opt, *comm);
    } catch (const SetupFailed &f) {
      // Every rank got here together: report (failing ranks only) and finalize cleanly.
      if (!f.message.empty())
        std::fprintf(stderr, "%s%s\n", prefix().c_str(), f.message.c_str());
      std::fflush(stderr);
      rc = 1;
    }
    comm.reset();
    if (underMpi)
      finalizeMpi();
    markRankFinished(rc);
    return rc;
  } catch (const std::exception &e) {
    markRankFailed();
    std::fprintf(stderr, "%s%s\n", prefix().c_str(), e.what());
    std::fflush(stderr);
    std::fflush(stdout);
    // Under MPI other ranks may be blocked in a collective: exit without MPI_Finalize so that
    // mpirun aborts the whole job instead of waiting for them. _exit runs no atexit handlers:
    // swap files still registered go now.
    removeRegisteredFilesNow();
    _exit(1);
  }
}
