// ds-opt: the user's compiler for ONNX models and an mlir-opt-style driver for .mlir files.
#include "MemoryBudget.h"
#include "ds/Config/DeepSpeedConfig.h"
#include "ds/Config/TrainingJob.h"
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Import/ONNX.h"
#include "ds/InitAllDialects.h"
#include "ds/InitAllPasses.h"
#include "ds/Pipelines/CompileOnnx.h"
#include "ds/Pipelines/Pipelines.h"
#include "ds/Target/CostReport.h"
#include "ds/Target/MemoryReport.h"
#include "ds/Target/Plan.h"

#include "mlir/Debug/Counter.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>
#include <optional>

using namespace mlir;
using ds::formatBytes;
namespace cl = llvm::cl;

static cl::OptionCategory compilerCategory("ds-opt compiler options (ONNX input)");
static cl::opt<int> zeroStage("zero-stage", cl::desc("ZeRO stage 0-3"),
                              cl::init(-1), cl::cat(compilerCategory));
static cl::opt<int> worldSize("world-size",
                              cl::desc("Number of data-parallel ranks"),
                              cl::init(0), cl::cat(compilerCategory));
enum class EmitStage { Import, Train, Runtime };
static cl::opt<EmitStage> emitStage(
    "emit", cl::desc("What to print as MLIR when the output is not a .dsplan"),
    cl::values(clEnumValN(EmitStage::Import, "import", "the imported program"),
               clEnumValN(EmitStage::Train, "train",
                          "the training step (default; the imported program with "
                          "--mode=inference)"),
               clEnumValN(EmitStage::Runtime, "runtime",
                          "runtime kernels after memory planning")),
    cl::init(EmitStage::Train), cl::cat(compilerCategory));
enum class ReportFormat { None, Text, Json };
static cl::opt<ReportFormat> memoryReport(
    "memory-report",
    cl::desc("Print per-rank memory of the compiled plan (device, host, NVMe), every ZeRO "
             "stage and offload choice, and DeepSpeed's estimates, instead of MLIR"),
    cl::ValueOptional,
    cl::values(clEnumValN(ReportFormat::Text, "", "as text (the default)"),
               clEnumValN(ReportFormat::Text, "text", "as text"),
               clEnumValN(ReportFormat::Json, "json",
                          "as a JSON object: per_rank {parameters, gradients, "
                          "optimizer_states, frozen, activations, device, host, nvme} in "
                          "bytes, stages [...], deepspeed_estimator [...]")),
    cl::init(ReportFormat::None), cl::cat(compilerCategory));
static cl::opt<ReportFormat> costReport(
    "cost-report",
    cl::desc("Print kernel launches, FLOPs and bytes per program and per step, and a "
             "roofline estimate of the step time beside the model's floor, instead of MLIR"),
    cl::ValueOptional,
    cl::values(clEnumValN(ReportFormat::Text, "", "as a table (the default)"),
               clEnumValN(ReportFormat::Text, "text", "as a table"),
               clEnumValN(ReportFormat::Json, "json",
                          "as a JSON object: launches_per_step, flops_per_step, "
                          "bytes_per_step, floor_bytes_per_step, estimated_step_s and "
                          "floor_step_s by GPU, programs [...]")),
    cl::init(ReportFormat::None), cl::cat(compilerCategory));
static cl::opt<std::string> costDevice(
    "cost-device", cl::desc("The GPU of --cost-report's table: h100 (SXM, default) or h200"),
    cl::init("h100"), cl::cat(compilerCategory));
static cl::opt<std::string> deviceMemory(
    "device-memory",
    cl::desc("Device memory per rank (bytes, or with a KiB/MiB/GiB/TiB suffix): warn when "
             "the plan's arena and persistent region need more (default: no limit)"),
    cl::value_desc("size"), cl::init(""), cl::cat(compilerCategory));
static cl::opt<bool> printConfig(
    "print-config",
    cl::desc("Print the effective configuration (every key ds-opt uses, its value and "
             "whether it came from the file, a flag, other keys or the default) and exit"),
    cl::init(false), cl::cat(compilerCategory));
static cl::opt<bool> fuseElementwise(
    "fuse-elementwise",
    cl::desc("Run chains of elementwise kernels as one fused_elementwise kernel each "
             "(default true; =false keeps one kernel per op, for comparisons)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> generateFusedKernels(
    "generate-fused-kernels",
    cl::desc("Compile every fused_elementwise kernel to PTX (gpu -> NVVM -> NVPTX, libdevice "
             "from /usr/local/cuda) and embed it in the plan: the CUDA backend launches it "
             "instead of the interpreter (default false)"),
    cl::init(false), cl::cat(compilerCategory));
static cl::opt<bool> fuseGemm(
    "fuse-gemm",
    cl::desc("Fold weight transposes into gemm's trans flags and bias, residual and "
             "gradient-accumulation adds into its c operand (default true; =false keeps "
             "them as kernels, for comparisons)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> fuseGemmAdds(
    "fuse-gemm-adds",
    cl::desc("With --fuse-gemm: fold the adds too (default true; =false keeps only the "
             "folds that compute the same bits, for comparisons)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> foldAccumulation(
    "fold-accumulation",
    cl::desc("Accumulate bias and layer-norm parameter gradients in the reduce_sum and "
             "layer_norm_grad kernels that compute them instead of separate adds (default "
             "true; =false keeps the adds, for comparisons; the same bits)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> fuseBiasGrad(
    "fuse-bias-grad",
    cl::desc("With --fuse-gemm: bias gradients computed by the weight-gradient gemm (its "
             "db output, cuBLASLt's bias-gradient epilogue on CUDA) and accumulated by "
             "multi_add kernels instead of reduce_sum kernels (default true; =false keeps "
             "the reduce_sums, for comparisons; the same bits)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> fuseLossGrad(
    "fuse-loss-grad",
    cl::desc("Compute the cross-entropy loss and its gradient with one kernel, which reads "
             "the logits once instead of twice (default true; =false keeps the two "
             "kernels, for comparisons; the same bits)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> packAttentionQkv(
    "pack-attention-qkv",
    cl::desc(
        "Attention kernels read q, k and v straight from the packed qkv projection and "
        "write one packed dqkv, without split and concat kernels (default true; =false "
        "keeps them, for comparisons; the same bits)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> fuseAttention(
    "fuse-attention",
    cl::desc(
        "Rewrite the attention subgraphs of the model (matmul, scale, mask, softmax, "
        "matmul) into ds.attention, which keeps no [T, T] matrix (default true; "
        "=false keeps the exported graph, for comparisons)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<bool> fuseGelu(
    "fuse-gelu",
    cl::desc("Rewrite GELUs that the export wrote out as elementwise ops (erf or tanh "
             "form) into one gelu kernel computing in f32 (default true; =false keeps "
             "the exported graph, for comparisons)"),
    cl::init(true), cl::cat(compilerCategory));
static cl::opt<std::string> memoryTimeline(
    "memory-timeline",
    cl::desc("Write the planned device memory per rank over the step's instructions "
             "(parameters, gradients, optimizer states, activations, collective buffers) "
             "to FILE: .svg draws it, .csv lists it (the plan is still written with -o)"),
    cl::value_desc("file.svg|file.csv"), cl::init(""), cl::cat(compilerCategory));
static cl::list<int> memoryTimelineStages(
    "memory-timeline-stages",
    cl::desc("With --memory-timeline=FILE.svg: one panel per listed ZeRO stage (e.g. 0,3), "
             "each compiled with the same config and world size, on one byte scale"),
    cl::value_desc("stage,..."), cl::CommaSeparated, cl::cat(compilerCategory));
static cl::opt<std::string> recompute(
    "recompute",
    cl::desc(
        "Activation recomputation: none (default; layer when the config has an "
        "activation_checkpointing block), layer (keep the residual stream, recompute "
        "the rest in the backward pass) or auto (layer, keeping what saves the most "
        "FLOPs per byte that --memory-budget leaves room for)"),
    cl::value_desc("none|layer|auto"), cl::init(""), cl::cat(compilerCategory));
static cl::opt<std::string> memoryBudget(
    "memory-budget",
    cl::desc("Device memory per rank the plan must fit (bytes, or with a KiB/MiB/GiB/TiB "
             "suffix): recomputation, smaller buckets and, where --allow-offload or the "
             "config allows, offload are tried in order of cost; --memory-report says "
             "what was chosen and why"),
    cl::value_desc("size"), cl::init(""), cl::cat(compilerCategory));
static cl::opt<std::string> allowOffload(
    "allow-offload",
    cl::desc("Offload devices --memory-budget may use: cpu, nvme or cpu,nvme (nvme needs "
             "the config's nvme_path)"),
    cl::value_desc("cpu[,nvme]"), cl::init(""), cl::cat(compilerCategory));
static cl::opt<std::string> configPath(
    "config", cl::desc("DeepSpeed ds_config.json (flags override it)"),
    cl::value_desc("file"), cl::init(""), cl::cat(compilerCategory));

/// --memory-timeline: the plan's planned device bytes per instruction, as a chart or CSV.
static LogicalResult writeMemoryTimeline(ModuleOp module, StringRef inputPath, int stage,
                                         int world, StringRef path) {
  std::string title = llvm::sys::path::filename(inputPath).str() + ": ZeRO stage " +
                      std::to_string(stage) + ", " + std::to_string(world) +
                      (world == 1 ? " rank" : " ranks") + ": planned device memory per rank";
  return ds::writeMemoryTimeline(module, path, title);
}

/// --memory-timeline with --memory-timeline-stages: a panel per listed stage; `compiled` is
/// the module compiled for `stage`, `compileStage` compiles a copy for another stage.
static LogicalResult writeStageTimelines(
    ModuleOp compiled, StringRef inputPath, int stage, int world, StringRef path,
    llvm::function_ref<OwningOpRef<ModuleOp>(int)> compileStage) {
  std::vector<OwningOpRef<ModuleOp>> others;
  std::vector<std::pair<ModuleOp, std::string>> panels;
  for (int s : memoryTimelineStages) {
    ModuleOp m = compiled;
    if (s != stage) {
      others.push_back(compileStage(s));
      if (!others.back())
        return failure();
      m = *others.back();
    }
    panels.push_back({m, "ZeRO stage " + std::to_string(s)});
  }
  std::string title = llvm::sys::path::filename(inputPath).str() + ", " +
                      std::to_string(world) + (world == 1 ? " rank" : " ranks") +
                      ": planned device memory per rank";
  return ds::writeMemoryTimeline(panels, path, title);
}

/// Runs the passes `build` appends, with the --mlir-print-ir-* and timing flags.
static LogicalResult runPipeline(ModuleOp module,
                                 llvm::function_ref<void(OpPassManager &)> build) {
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  // --mlir-timing: each pipeline's pass times, printed when it finishes.
  DefaultTimingManager timing;
  applyDefaultTimingManagerCLOptions(timing);
  TimingScope root = timing.getRootScope();
  pm.enableTiming(root);
  build(pm);
  return pm.run(module);
}

/// Autodiff, the training step from the config, and ZeRO partitioning; with
/// --mode=inference only the freezing of every parameter.
static LogicalResult runTrainingPipeline(ModuleOp module,
                                         const ds::DeepSpeedConfig &config, int stage,
                                         int world, const ds::ImportOptions &import) {
  if (import.inference) {
    ds::MarkFrozenParametersPassOptions options;
    options.freeze = import.freeze;
    return runPipeline(module, [&](OpPassManager &pm) {
      ds::buildInferencePipeline(pm, options, fuseAttention, fuseGelu);
    });
  }
  ds::TrainingPipelineOptions options =
      config.getTrainingPipelineOptions(stage, world, import.freeze);
  options.fuseAttention = fuseAttention;
  options.fuseGelu = fuseGelu;
  return runPipeline(module,
                     [&](OpPassManager &pm) { ds::buildTrainingPipeline(pm, options); });
}

static cl::opt<bool> multiTensorOptimizer(
    "multi-tensor-optimizer",
    cl::desc("One grad_norm_sq and one multi_adam_update kernel per group in the optimizer "
             "step (default true; =false keeps per-parameter kernels, for comparisons)"),
    cl::init(true), cl::cat(compilerCategory));
/// Lowering to runtime kernels and the static memory plan.
static LogicalResult runLoweringPipeline(ModuleOp module, bool inference,
                                         const ds::DeepSpeedConfig &config) {
  ds::LoweringPipelineOptions options;
  options.inference = inference;
  options.transfers = config.getTransferOptions();
  options.bucketCollectives = config.getBucketCollectivesOptions();
  options.fuseElementwise = fuseElementwise;
  options.generateFusedKernels = generateFusedKernels;
  options.fuseGemm = fuseGemm;
  options.fuseGemmAdds = fuseGemmAdds;
  options.foldAttentionTransposes = fuseAttention;
  options.packAttentionQkv = fuseAttention && packAttentionQkv;
  options.foldAccumulation = foldAccumulation;
  options.fuseBiasGrad = fuseBiasGrad;
  options.fuseLossGrad = fuseLossGrad;
  options.multiTensorOptimizer = multiTensorOptimizer;
  return runPipeline(module,
                     [&](OpPassManager &pm) { ds::buildLoweringPipeline(pm, options); });
}

/// The training and lowering pipelines: `module` becomes the plan (at stages 2-3 the
/// lower of the plans with and without gradient copy-in, see compileChoosingGradientCopyIn).
static LogicalResult compilePlan(ModuleOp module, const ds::DeepSpeedConfig &config,
                                 int stage, int world, const ds::ImportOptions &import) {
  return ds::compileChoosingGradientCopyIn(
      module, config, stage, import.inference,
      [&](ModuleOp m, const ds::DeepSpeedConfig &c) -> LogicalResult {
        if (failed(runTrainingPipeline(m, c, stage, world, import)))
          return failure();
        return runLoweringPipeline(m, import.inference, c);
      });
}

/// Parses "123", "64KiB", "1.5GiB" (K/KB/KiB, M.., G.., T..: binary units); nullopt when bad.
static std::optional<int64_t> parseByteSize(StringRef text) {
  StringRef s = text.trim();
  size_t digits = 0;
  while (digits < s.size() && (llvm::isDigit(s[digits]) || s[digits] == '.'))
    ++digits;
  double value;
  if (digits == 0 || s.take_front(digits).getAsDouble(value) || value < 0)
    return std::nullopt;
  StringRef unit = s.drop_front(digits).trim();
  double scale = 1;
  if (!unit.empty() && !unit.equals_insensitive("b")) {
    StringRef prefixes = "kmgt";
    size_t k = prefixes.find(llvm::toLower(unit[0]));
    StringRef rest = unit.drop_front();
    if (k == StringRef::npos ||
        !(rest.empty() || rest.equals_insensitive("b") || rest.equals_insensitive("ib")))
      return std::nullopt;
    scale = std::pow(1024.0, double(k + 1));
  }
  double bytes = value * scale;
  if (bytes >= 9.2e18)
    return std::nullopt;
  return int64_t(bytes);
}

/// --device-memory: a warning (not an error) when the plan's device regions exceed it.
static void warnDeviceMemory(ModuleOp planned, int64_t limit) {
  auto arena = planned->getAttrOfType<IntegerAttr>(dsrt::kArenaBytesAttr);
  auto persistent = planned->getAttrOfType<IntegerAttr>(dsrt::kPersistentBytesAttr);
  if (!arena || !persistent)
    return;
  int64_t need = arena.getInt() + persistent.getInt(); // each <= 2^63/2: checked by the planner
  if (need <= limit)
    return;
  llvm::errs() << "ds-opt: warning: the plan needs " << formatBytes(double(need)) << " ("
               << need << " bytes: arena " << formatBytes(double(arena.getInt()))
               << " + persistent " << formatBytes(double(persistent.getInt()))
               << ") of device memory per rank, more than --device-memory=" << deviceMemory
               << " (" << limit
               << " bytes): use a higher --zero-stage or more ranks (--world-size)\n";
}

/// One row of the stage x offload table: a compiled variant of the model.
struct VariantRow {
  int stage;
  StringRef offload; // "optimizer/param": none, cpu or nvme each
  ds::MemoryBreakdown memory;
};

/// One row of DeepSpeed's estimator table.
struct EstimateRow {
  int stage;
  StringRef offloadParam, offloadOptimizer;
  ds::StateEstimate estimate;
};

/// The report of `--memory-report[=json]`: the chosen configuration, every stage and
/// offload choice compiled, and DeepSpeed's estimator table.
static LogicalResult printMemoryReport(ModuleOp imported, ModuleOp planned,
                                       const ds::DeepSpeedConfig &config,
                                       StringRef inputPath, int stage, int world,
                                       const ds::ImportOptions &import, bool json,
                                       const ds::BudgetResult *budget,
                                       llvm::raw_ostream &os) {
  auto chosen = ds::computeMemoryBreakdown(planned);
  if (failed(chosen))
    return failure();
  const ds::MemoryBreakdown &m = *chosen;

  SmallVector<VariantRow> variants;
  for (int s = 0; s <= 3; ++s)
    for (StringRef offload : {"none/none", "cpu/none", "nvme/none", "cpu/cpu", "nvme/nvme"}) {
      auto [opt, par] = offload.split('/');
      if (par != "none" && s != 3)
        continue; // offload_param needs stage 3
      ds::DeepSpeedConfig variant = config;
      variant.offloadOptimizer.device = opt.str();
      variant.offloadParam.device = par.str();
      OwningOpRef<ModuleOp> copy = cast<ModuleOp>(imported->clone());
      if (failed(compilePlan(*copy, variant, s, world, import)))
        return failure();
      auto b = ds::computeMemoryBreakdown(*copy);
      if (failed(b))
        return failure();
      variants.push_back({s, offload, *b});
    }

  int64_t largest = 0;
  for (auto param : imported.getOps<ds::ParameterOp>())
    if (!param.getFrozen())
      largest = std::max(largest, param.getTensorType().getNumElements());
  int64_t psi = m.trainableElements;
  EstimateRow estimates[] = {
      {2, "-", "none", ds::estimateZero2(psi, 1, world, false)},
      {2, "-", "cpu", ds::estimateZero2(psi, 1, world, true)},
      {3, "none", "none", ds::estimateZero3(psi, largest, 1, world, false, false)},
      {3, "none", "cpu", ds::estimateZero3(psi, largest, 1, world, false, true)},
      {3, "cpu", "cpu", ds::estimateZero3(psi, largest, 1, world, true, true)}};

  if (json) {
    llvm::json::OStream j(os, 2);
    auto tiers = [&](const ds::MemoryBreakdown &b) {
      j.attribute("parameters", b.parameters);
      j.attribute("gradients", b.gradients);
      j.attribute("optimizer_states", b.optimizer);
      j.attribute("frozen", b.frozen);
      j.attribute("activations", b.peak);
      j.attribute("device", b.total());
      j.attribute("host", b.host);
      j.attribute("host_state", b.hostState);
      j.attribute("nvme", b.nvme);
    };
    j.object([&] {
      j.attribute("model", inputPath);
      j.attribute("zero_stage", stage);
      j.attribute("world_size", world);
      j.attribute("trainable_parameters", psi);
      j.attributeObject("per_rank", [&] { tiers(m); });
      if (budget)
        ds::printBudgetJson(*budget, j);
      j.attributeArray("stages", [&] {
        for (const VariantRow &v : variants)
          j.object([&] {
            auto [opt, par] = v.offload.split('/');
            j.attribute("stage", v.stage);
            j.attribute("offload_optimizer", opt);
            j.attribute("offload_param", par);
            tiers(v.memory);
          });
      });
      j.attributeArray("deepspeed_estimator", [&] {
        for (const EstimateRow &e : estimates)
          j.object([&] {
            j.attribute("stage", e.stage);
            j.attribute("offload_param", e.offloadParam);
            j.attribute("offload_optimizer", e.offloadOptimizer);
            j.attribute("per_gpu", int64_t(e.estimate.gpu));
            j.attribute("cpu", int64_t(e.estimate.cpu));
          });
      });
    });
    os << "\n";
    return success();
  }

  StringRef optimizer = config.trainStep.optimizer;
  os << "Memory per rank: " << inputPath << ", ZeRO stage " << stage << ", "
     << world << (world == 1 ? " rank" : " ranks") << ", "
     << (config.fp16 ? "fp16 mixed-precision " : config.bf16 ? "bf16 mixed-precision " : "fp32 ")
     << (optimizer == "adam" ? "Adam" : optimizer == "lamb" ? "Lamb" : "SGD")
     << "\n";
  os << llvm::formatv("  trainable parameters (Psi) {0,14}\n", psi);
  auto row = [&](StringRef name, int64_t bytes) {
    os << llvm::formatv("  {0,-32} {1,12}  ({2} bytes)\n", name, formatBytes(bytes),
                        bytes);
  };
  row("parameters", m.parameters);
  row("gradients", m.gradients);
  row("optimizer states", m.optimizer);
  row("frozen buffers", m.frozen);
  row("activations and transients", m.arena);
  row("  of which largest collective", m.communication);
  row("planned peak (arena high-water)", m.peak);
  row("device total", m.total());
  if (StringRef mode = config.recompute.mode; mode != "none")
    os << "  (activations with " << mode << " recomputation"
       << (mode == "auto"
               ? ", keeping up to " + formatBytes(double(config.recompute.keepBytes))
               : std::string())
       << ")\n";
  if (m.host > 0 || m.nvme > 0) {
    row("host: offloaded state", m.hostState);
    row("host: staging (copies, host step)", m.host - m.hostState);
    row("NVMe: swap file", m.nvme);
  }

  if (budget)
    ds::printBudgetText(*budget, os);

  os << "\nEvery stage and offload choice at " << world
     << (world == 1 ? " rank" : " ranks")
     << " (compiled, bytes per rank; model states = parameters + gradients + "
        "optimizer on the device)\n";
  os << llvm::formatv("  {0,5}  {1,-17}  {2,12}  {3,12}  {4,12}  {5,12}  {6,12}  {7,7}\n",
                      "stage", "offload (opt/par)", "model states", "arena", "device",
                      "host", "NVMe", "vs 0");
  int64_t stage0 = variants.front().memory.total();
  for (const VariantRow &v : variants)
    os << llvm::formatv(
        "  {0,5}  {1,-17}  {2,12}  {3,12}  {4,12}  {5,12}  {6,12}  {7,6:P0}\n", v.stage,
        v.offload, formatBytes(v.memory.modelStates()), formatBytes(v.memory.arena),
        formatBytes(v.memory.total()), formatBytes(v.memory.host),
        formatBytes(v.memory.nvme), double(v.memory.total()) / double(stage0));

  os << "\nDeepSpeed's estimator for these " << psi << " parameters on 1 node x " << world
     << " GPUs (DeepSpeed's formulas: mixed precision, buffer factor 1.5; its CPU "
        "column is host memory per node):\n";
  os << llvm::formatv("  {0,5}  {1,-14}  {2,-18}  {3,12}  {4,12}\n", "stage",
                      "offload_param", "offload_optimizer", "per GPU", "CPU");
  for (const EstimateRow &e : estimates)
    os << llvm::formatv("  {0,5}  {1,-14}  {2,-18}  {3,12}  {4,12}\n", e.stage,
                        e.offloadParam, e.offloadOptimizer, formatBytes(e.estimate.gpu),
                        formatBytes(e.estimate.cpu));
  return success();
}

static LogicalResult printModule(ModuleOp module, StringRef outputPath) {
  std::string error;
  auto output = openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "ds-opt: " << error << "\n";
    return failure();
  }
  module.print(output->os());
  output->os() << "\n";
  output->keep();
  return success();
}

/// Compiles an ONNX model: import, then the training and partitioning pipeline.
static LogicalResult compileOnnx(MLIRContext &context, StringRef inputPath,
                                 StringRef outputPath) {
  std::optional<ds::ImportOptions> options = ds::getImportOptionsFromCL();
  if (!options)
    return failure();
  if (worldSize.getNumOccurrences() && worldSize < 1) {
    llvm::errs() << "ds-opt: --world-size must be at least 1, got " << worldSize
                 << "\n";
    return failure();
  }
  if (outputPath.ends_with(".dsplan")) {
    // Fail fast: a plan that cannot be written is known before compiling.
    if (failed(ds::checkPlanOutputPath(outputPath)))
      return failure();
  }
  if (!memoryTimeline.empty()) {
    if (!StringRef(memoryTimeline).ends_with(".svg") &&
        !StringRef(memoryTimeline).ends_with(".csv")) {
      llvm::errs() << "ds-opt: --memory-timeline=" << memoryTimeline
                   << ": the file must end in .svg (a chart) or .csv (the numbers)\n";
      return failure();
    }
    if (!memoryTimelineStages.empty() && !StringRef(memoryTimeline).ends_with(".svg")) {
      llvm::errs() << "ds-opt: --memory-timeline-stages draws panels into an .svg; "
                   << memoryTimeline << " is not one (write one .csv per stage)\n";
      return failure();
    }
    for (int s : memoryTimelineStages)
      if (s < 0 || s > 3) {
        llvm::errs() << "ds-opt: --memory-timeline-stages: " << s
                     << " is not a ZeRO stage (0-3)\n";
        return failure();
      }
    if (failed(ds::checkPlanOutputPath(memoryTimeline)))
      return failure();
  }
  std::optional<int64_t> deviceLimit;
  if (!deviceMemory.empty()) {
    deviceLimit = parseByteSize(deviceMemory);
    if (!deviceLimit) {
      llvm::errs() << "ds-opt: --device-memory=" << deviceMemory
                   << ": not a size (bytes, or a number with KiB, MiB, GiB or TiB)\n";
      return failure();
    }
  }
  std::optional<int64_t> budgetLimit;
  if (!memoryBudget.empty()) {
    budgetLimit = parseByteSize(memoryBudget);
    if (!budgetLimit || *budgetLimit <= 0) {
      llvm::errs() << "ds-opt: --memory-budget=" << memoryBudget
                   << ": not a size (bytes, or a number with KiB, MiB, GiB or TiB)\n";
      return failure();
    }
    if (options->inference) {
      llvm::errs() << "ds-opt: --memory-budget compiles a training step; drop "
                      "--mode=inference\n";
      return failure();
    }
  }
  ds::AllowedOffload allowed;
  if (!allowOffload.empty()) {
    SmallVector<StringRef> devices;
    StringRef(allowOffload).split(devices, ',');
    for (StringRef d : devices) {
      if (d.trim() == "cpu")
        allowed.cpu = true;
      else if (d.trim() == "nvme")
        allowed.nvme = true;
      else {
        llvm::errs() << "ds-opt: --allow-offload=" << allowOffload << ": '" << d
                     << "' is not an offload device (cpu, nvme)\n";
        return failure();
      }
    }
    if (!budgetLimit) {
      llvm::errs() << "ds-opt: --allow-offload=" << allowOffload
                   << " applies to --memory-budget; give a budget, or put the offload "
                      "in the config (zero_optimization.offload_optimizer)\n";
      return failure();
    }
  }
  ds::DeepSpeedConfig config;
  ds::DeepSpeedConfig fileValues; // as read, before the batch keys are resolved
  if (!configPath.empty()) {
    auto parsed = ds::readDeepSpeedConfig(configPath);
    if (!parsed) {
      llvm::errs() << "ds-opt: " << llvm::toString(parsed.takeError()) << "\n";
      return failure();
    }
    config = std::move(*parsed);
    fileValues = config;
    for (const std::string &w : config.warnings)
      llvm::errs() << "ds-opt: warning: " << w << "\n";
    if (!config.ignoredKeys.empty()) {
      llvm::errs() << "ds-opt: note: " << configPath << ": accepted, but ignored:";
      for (const std::string &k : config.ignoredKeys)
        llvm::errs() << "\n  " << k;
      llvm::errs() << "\n";
    }
  }
  if (!recompute.empty()) {
    if (recompute != "none" && recompute != "layer" && recompute != "auto") {
      llvm::errs() << "ds-opt: --recompute=" << recompute
                   << ": expected none, layer or auto\n";
      return failure();
    }
    config.recompute.mode = recompute;
  }
  if (options->inference && worldSize.getNumOccurrences() && worldSize > 1) {
    // The inference pipeline only freezes parameters: its plan is one rank's whole model.
    llvm::errs() << "ds-opt: --world-size=" << worldSize
                 << " applies to training: an inference plan (--mode=inference) runs the "
                    "whole model on one rank; drop --world-size\n";
    return failure();
  }
  ds::JobRequest jobRequest;
  if (worldSize.getNumOccurrences())
    jobRequest.worldSize = int(worldSize);
  if (zeroStage != -1)
    jobRequest.zeroStage = int(zeroStage);
  jobRequest.inference = options->inference;
  auto job = ds::resolveTrainingJob(config, configPath, jobRequest);
  if (!job) {
    llvm::errs() << "ds-opt: " << llvm::toString(job.takeError()) << "\n";
    return failure();
  }
  int world = job->world, stage = job->stage;
  bool worldFromConfig = job->worldFromBatch;
  if (!options->inference && config.microBatchSize && !options->batchSize)
    options->batchSize = config.microBatchSize;
  if (allowed.nvme && config.offloadOptimizer.nvmePath.empty() &&
      config.offloadParam.nvmePath.empty() && config.aio.nvmePath.empty()) {
    llvm::errs() << "ds-opt: --allow-offload=" << allowOffload << ": NVMe offload needs "
                 << "a directory for the swap files: give "
                    "zero_optimization.offload_optimizer.nvme_path in the config\n";
    return failure();
  }
  if (printConfig) {
    ds::ConfigOverrides o;
    if (zeroStage != -1)
      o.zeroStage = int(zeroStage);
    if (worldSize.getNumOccurrences())
      o.worldSize = int(worldSize);
    o.worldSizeFromBatch = worldFromConfig;
    o.recompute = !recompute.empty();
    o.effectiveStage = stage;
    o.effectiveWorld = world;
    ds::printEffectiveConfig(config, configPath, fileValues, o, llvm::outs());
    return success();
  }

  OwningOpRef<ModuleOp> module = ds::importOnnxFile(&context, inputPath, *options);
  if (!module)
    return failure();

  if (!options->inference && config.microBatchSize) {
    // A static batch dim must agree with the config's micro-batch.
    for (auto func : module->getOps<func::FuncOp>())
      for (BlockArgument arg : func.getArguments()) {
        auto type = dyn_cast<RankedTensorType>(arg.getType());
        auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                      ds::kInputNameAttr);
        if (type && type.getRank() > 0 &&
            type.getDimSize(0) != *config.microBatchSize) {
          llvm::errs() << "ds-opt: " << inputPath << ": input '"
                       << (name ? name.getValue() : StringRef("?"))
                       << "' has batch dim " << type.getDimSize(0) << ", but "
                       << configPath << " gives a micro-batch of "
                       << *config.microBatchSize
                       << " per rank: export the model with a dynamic batch axis "
                          "or make the config agree\n";
          return failure();
        }
      }
  }

  bool toPlan = outputPath.ends_with(".dsplan");
  bool report = memoryReport != ReportFormat::None || costReport != ReportFormat::None;
  const ds::cost::Device *costGpu = ds::cost::findDevice(costDevice.getValue());
  if (!costGpu) {
    llvm::errs() << "ds-opt: --cost-device=" << costDevice
                 << " is not a GPU the cost report knows (h100, h200)\n";
    return failure();
  }
  if (!toPlan && !report && emitStage == EmitStage::Import)
    return printModule(*module, outputPath);

  OwningOpRef<ModuleOp> imported;
  if (memoryReport != ReportFormat::None) {
    if (options->inference) {
      llvm::errs() << "ds-opt: --memory-report describes training; drop "
                      "--mode=inference\n";
      return failure();
    }
    // Frozen as the training pipeline freezes, for the largest trainable parameter.
    imported = cast<ModuleOp>((*module)->clone());
    ds::MarkFrozenParametersPassOptions markFrozen;
    markFrozen.freeze = options->freeze;
    if (failed(runPipeline(*imported, [&](OpPassManager &pm) {
          pm.addPass(ds::createMarkFrozenParametersPass(markFrozen));
        })))
      return failure();
  }
  std::optional<ds::BudgetResult> budget;
  if (budgetLimit) {
    auto compileVariant =
        [&](const ds::DeepSpeedConfig &variant) -> FailureOr<ds::MemoryBreakdown> {
      OwningOpRef<ModuleOp> copy = cast<ModuleOp>((*module)->clone());
      if (failed(compilePlan(*copy, variant, stage, world, *options)))
        return failure();
      return ds::computeMemoryBreakdown(*copy);
    };
    FailureOr<ds::BudgetResult> searched =
        ds::searchMemoryBudget(config, stage, *budgetLimit, allowed,
                               /*fixedRecompute=*/!recompute.empty(), compileVariant);
    if (failed(searched))
      return failure();
    budget = std::move(*searched);
    if (budget->chosen < 0) {
      llvm::errs() << "ds-opt: "
                   << ds::describeBudgetFailure(*budget, stage, world, allowed) << "\n";
      return failure();
    }
    config = budget->config;
    if (memoryReport == ReportFormat::None)
      llvm::errs() << "ds-opt: --memory-budget=" << memoryBudget << ": chose "
                   << budget->attempts[budget->chosen].choice << " (device total "
                   << formatBytes(double(budget->attempts[budget->chosen].memory.total()))
                   << " per rank)\n";
  }
  // --memory-timeline-stages compiles the other stages from the imported module.
  OwningOpRef<ModuleOp> beforeTraining;
  if (!memoryTimelineStages.empty())
    beforeTraining = cast<ModuleOp>((*module)->clone());
  if (!toPlan && !report && emitStage == EmitStage::Train) {
    // The partitioned program before lowering (the gradients' buckets as concats).
    if (failed(runTrainingPipeline(*module, config, stage, world, *options)))
      return failure();
    return printModule(*module, outputPath);
  }
  if (failed(compilePlan(*module, config, stage, world, *options)))
    return failure();
  if (deviceLimit)
    warnDeviceMemory(*module, *deviceLimit);
  if (!memoryTimeline.empty() && memoryTimelineStages.empty() &&
      failed(writeMemoryTimeline(*module, inputPath, stage, world, memoryTimeline)))
    return failure();
  if (!memoryTimeline.empty() && !memoryTimelineStages.empty() &&
      failed(writeStageTimelines(
          *module, inputPath, stage, world, memoryTimeline,
          [&](int s) -> OwningOpRef<ModuleOp> {
            OwningOpRef<ModuleOp> copy = cast<ModuleOp>((*beforeTraining)->clone());
            if (failed(compilePlan(*copy, config, s, world, *options)))
              return nullptr;
            return copy;
          })))
    return failure();
  if (memoryReport != ReportFormat::None) {
    std::string error;
    auto out = openOutputFile(toPlan ? "-" : outputPath, &error);
    if (!out) {
      llvm::errs() << "ds-opt: " << error << "\n";
      return failure();
    }
    if (failed(printMemoryReport(*imported, *module, config, inputPath, stage, world,
                                 *options, memoryReport == ReportFormat::Json,
                                 budget ? &*budget : nullptr, out->os())))
      return failure();
    out->keep();
    if (!toPlan && costReport == ReportFormat::None)
      return success();
  }
  if (costReport != ReportFormat::None) {
    FailureOr<ds::CostReport> costs = ds::computeCostReport(*module);
    if (failed(costs))
      return failure();
    std::string error;
    auto out = openOutputFile(toPlan ? "-" : outputPath, &error);
    if (!out) {
      llvm::errs() << "ds-opt: " << error << "\n";
      return failure();
    }
    ds::printCostReport(*costs, *costGpu, costReport == ReportFormat::Json, out->os());
    out->keep();
    if (!toPlan)
      return success();
  }
  if (!toPlan)
    return printModule(*module, outputPath);
  std::string producer =
      "ds-opt " + std::string(options->inference ? "--mode=inference " : "") +
      inputPath.str();
  return ds::writePlanFile(*module, outputPath, producer);
}

/// Keeps --help short: the ds options (their categories), the pass flags and the
/// mlir-opt driver's everyday flags stay; every other flag (LLVM's backends, MLIR's
/// debugging knobs) moves to --help-hidden. Unlike cl::HideUnrelatedOptions, which makes
/// them ReallyHidden, they stay listed there.
static void hideUnrelatedOptions(DialectRegistry &registry) {
  // Register what registerAndParseCLIOptions would, so that it can be sorted first.
  MlirOptMainConfig::registerCLOptions(registry);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  tracing::DebugCounter::registerCLOptions();

  static const llvm::StringSet<> driverFlags = {"pass-pipeline",
                                                "split-input-file",
                                                "verify-diagnostics",
                                                "o",
                                                "mlir-print-ir-after-all",
                                                "help",
                                                "help-hidden",
                                                "version",
                                                "allow-unregistered-dialect"};
  auto options = cl::getRegisteredOptions();
  // Options reachable under a kept name (the pass list answers to every --ds-... name).
  llvm::SmallPtrSet<cl::Option *, 16> keep;
  for (auto &entry : options) {
    cl::Option *o = entry.second;
    // The tool's own categories: ds-opt's compiler options and the ONNX import's.
    bool toolCategory = llvm::any_of(o->Categories, [](cl::OptionCategory *c) {
      return c == &compilerCategory || c->getName() == "ONNX import options";
    });
    if (toolCategory || driverFlags.contains(entry.first) ||
        entry.first.starts_with("ds-"))
      keep.insert(o);
  }
  // The kept flags of LLVM's general category get categories that say what they are for.
  static cl::OptionCategory passCategory("Passes and pass pipelines (.mlir input)");
  static cl::OptionCategory driverCategory("mlir-opt driver options (.mlir input)");
  for (auto &entry : options) {
    cl::Option *o = entry.second;
    if (!keep.contains(o) ||
        !llvm::is_contained(o->Categories, &cl::getGeneralCategory()))
      continue;
    if (entry.first.starts_with("ds-"))
      o->addCategory(passCategory);
    else if (driverFlags.contains(entry.first) && !entry.first.starts_with("help") &&
             entry.first != "version")
      o->addCategory(driverCategory);
  }
  for (auto &entry : options) {
    cl::Option *o = entry.second;
    if (!keep.contains(o) && o->getOptionHiddenFlag() == cl::NotHidden)
      o->setHiddenFlag(cl::Hidden);
  }
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  DialectRegistry registry;
  ds::registerAllDialects(registry);
  ds::registerAllPasses();
  ds::registerImportCLOptions();
  hideUnrelatedOptions(registry);

  auto [inputPath, outputPath] = registerAndParseCLIOptions(
      argc, argv,
      "ds-opt: compile an ONNX training graph for ZeRO, or run passes on MLIR\n",
      registry);

  // No input file and a terminal on stdin: a usage message, not a silent wait on stdin
  // ("-" given explicitly still reads it).
  if (inputPath == "-" && llvm::sys::Process::StandardInIsUserInput() &&
      llvm::none_of(llvm::ArrayRef(argv + 1, argv + argc),
                    [](const char *a) { return llvm::StringRef(a) == "-"; })) {
    llvm::errs() << "ds-opt: no input file\n"
                    "usage: ds-opt MODEL.onnx [--config ds_config.json] [--zero-stage=N] "
                    "[--world-size=N] [-o FILE.dsplan]\n"
                    "       ds-opt FILE.mlir [--pass-pipeline=...]   (ds-opt --help for "
                    "every option; '-' reads stdin)\n";
    return 1;
  }
  if (ds::isOnnxPath(inputPath)) {
    MLIRContext context(registry);
    context.loadAllAvailableDialects();
    return failed(compileOnnx(context, inputPath, outputPath)) ? 1 : 0;
  }
  return asMainReturnCode(MlirOptMain(argc, argv, inputPath, outputPath, registry));
}
