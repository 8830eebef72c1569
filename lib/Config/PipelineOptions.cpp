// What a read config asks of the compiler: the batch for a world size, and the passes' options.
#include "ds/Config/DeepSpeedConfig.h"

#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir::ds;

llvm::Error DeepSpeedConfig::resolveBatch(int64_t w) {
  auto &tb = trainBatchSize, &mb = microBatchSize, &g = accumulationSteps;
  // Checked before any division or product (0 or a negative divisor used to be SIGFPE).
  auto bad = [](llvm::StringRef key, int64_t v) {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("'{0}': must be a positive integer, got {1}", key, v).str());
  };
  if (w < 1)
    return bad("world size", w);
  if (tb && *tb <= 0)
    return bad("train_batch_size", *tb);
  if (mb && *mb <= 0)
    return bad("train_micro_batch_size_per_gpu", *mb);
  if (g && *g <= 0)
    return bad("gradient_accumulation_steps", *g);
  // mb * g * w without overflow (a hostile config can make it wrap).
  auto product = [&](int64_t m, int64_t a) -> std::optional<int64_t> {
    auto ma = llvm::checkedMul(m, a);
    return ma ? llvm::checkedMul(*ma, w) : std::nullopt;
  };
  if (mb && g && !product(*mb, *g))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("train_micro_batch_size_per_gpu * gradient_accumulation_steps * "
                      "world_size = {0} * {1} * {2} overflows 64 bits",
                      *mb, *g, w)
            .str());
  if (mb && !g && !product(*mb, 1))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("train_micro_batch_size_per_gpu * world_size = {0} * {1} overflows "
                      "64 bits",
                      *mb, w)
            .str());
  if (tb && mb && g) {
  } else if (tb && mb) {
    g = *tb / *mb / w;
  } else if (tb && g) {
    mb = *tb / w / *g;
  } else if (mb && g) {
    tb = *mb * *g * w;
  } else if (tb) {
    g = 1;
    mb = *tb / w;
  } else if (mb) {
    g = 1;
    tb = *mb * w;
  } else {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "Either train_batch_size or train_micro_batch_size_per_gpu needs to be "
        "provided");
  }
  if (*tb <= 0 || *mb <= 0 || *g <= 0 || product(*mb, *g) != *tb)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("Check batch related parameters. train_batch_size is not equal "
                      "to micro_batch_per_gpu * gradient_acc_step * world_size "
                      "{0} != {1} * {2} * {3}",
                      *tb, *mb, *g, w));
  return llvm::Error::success();
}

llvm::Expected<std::optional<int64_t>> DeepSpeedConfig::impliedWorldSize() const {
  if (!trainBatchSize || !microBatchSize || !accumulationSteps)
    return std::nullopt;
  int64_t tb = *trainBatchSize, mb = *microBatchSize, g = *accumulationSteps;
  if (tb <= 0 || mb <= 0 || g <= 0)
    return std::nullopt; // resolveBatch reports these
  std::optional<int64_t> per = llvm::checkedMul(mb, g);
  if (!per || tb % *per != 0)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("train_batch_size ({0}) is not a multiple of "
                      "train_micro_batch_size_per_gpu * gradient_accumulation_steps "
                      "({1} * {2}), so no world size fits these batch keys",
                      tb, mb, g)
            .str());
  return std::optional<int64_t>(tb / *per);
}

TrainingPipelineOptions
DeepSpeedConfig::getTrainingPipelineOptions(int64_t stage, int64_t worldSize,
                                            llvm::StringRef freeze) const {
  TrainingPipelineOptions o;
  o.markFrozen.freeze = freeze.str();
  if (fp16 || bf16) {
    o.mixedPrecision.emplace();
    o.mixedPrecision->dtype = fp16 ? "f16" : "bf16";
  }
  o.trainStep = trainStep;
  o.trainStep.accumulation = accumulationSteps.value_or(1);
  // WarmupLR without warmup_max_lr warms up to the optimizer's lr; written out here so
  // the pass's "negative: inherit" default is never what decides.
  if (o.trainStep.warmupMaxLr < 0)
    o.trainStep.warmupMaxLr = o.trainStep.lr;
  o.recompute = recompute;
  o.zero = zero;
  o.zero.stage = stage;
  o.zero.worldSize = worldSize;
  o.stepsPerPrint = stepsPerPrint;
  o.wallClockBreakdown = wallClockBreakdown;
  o.memoryBreakdown = memoryBreakdown;
  o.csvMonitorDir = csvMonitorDir;
  o.tensorboardDir = tensorboardDir;
  o.offload.optimizer = offloadOptimizer.device;
  o.offload.param = offloadParam.device;
  o.offload.ratio = offloadOptimizer.ratio;
  o.offload.maxInCpu = offloadParam.maxInCpu;
  o.io = aio;
  return o;
}

mlir::dsrt::InsertTransfersPassOptions DeepSpeedConfig::getTransferOptions() const {
  mlir::dsrt::InsertTransfersPassOptions o;
  o.bufferCount = offloadOptimizer.bufferCount;
  o.subGroupSize = subGroupSize;
  return o;
}

mlir::dsrt::BucketCollectivesPassOptions DeepSpeedConfig::getBucketCollectivesOptions() const {
  mlir::dsrt::BucketCollectivesPassOptions o;
  o.bucketSize = zero.reduceBucketSize;
  o.gatherBucketSize = allgatherBucketSize;
  return o;
}

llvm::Error DeepSpeedConfig::checkOffload(int64_t stage) const {
  if (offloadParam.device != "none" && stage != 3)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "'zero_optimization.offload_param': parameter offload needs ZeRO stage 3 "
        "(DeepSpeed: offload_param is only valid with stage 3), got stage " +
            llvm::Twine(stage));
  return llvm::Error::success();
}
