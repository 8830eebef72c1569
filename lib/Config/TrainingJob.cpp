// One compile's world size, batch keys and ZeRO stage (ds-opt and ds_opt.initialize).
#include "ds/Config/TrainingJob.h"

#include "llvm/ADT/Twine.h"

#include <limits>

using namespace mlir::ds;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

static llvm::Error inConfig(llvm::StringRef configName, llvm::Error e) {
  return fail(configName + ": " + llvm::toString(std::move(e)));
}

llvm::Expected<TrainingJob> mlir::ds::resolveTrainingJob(DeepSpeedConfig &config,
                                                         llvm::StringRef configName,
                                                         const JobRequest &request) {
  TrainingJob job;
  if (request.worldSize) {
    if (*request.worldSize < 1 || *request.worldSize > std::numeric_limits<int>::max())
      return fail("the world size must be between 1 and " +
                  llvm::Twine(std::numeric_limits<int>::max()) + ", got " +
                  llvm::Twine(*request.worldSize));
    job.world = int(*request.worldSize);
  }
  if (!request.inference && (request.worldFromLauncher || !request.worldSize)) {
    // train_batch_size, micro-batch and accumulation all given determine the world size
    // (--world-size overrides them: resolveBatch then says what does not add up).
    auto implied = config.impliedWorldSize();
    if (!implied)
      return inConfig(configName, implied.takeError());
    if (*implied && request.worldFromLauncher && **implied != job.world)
      return fail(configName + ": the batch keys imply " + llvm::Twine(**implied) +
                  " ranks, but the job was launched with " + llvm::Twine(job.world) +
                  " (mpirun -np / torchrun --nproc-per-node)");
    if (*implied && !request.worldSize) {
      if (**implied > std::numeric_limits<int>::max())
        return fail(configName + ": the batch keys imply a world size of " +
                    llvm::Twine(**implied) + " ranks, too many");
      job.world = int(**implied);
      job.worldFromBatch = true;
    }
  }
  if (!request.inference) {
    if (config.trainBatchSize || config.microBatchSize)
      if (llvm::Error e = config.resolveBatch(job.world))
        return inConfig(configName, std::move(e));
  }
  int64_t stage = request.zeroStage ? *request.zeroStage : config.zeroStage;
  if (stage < 0 || stage > 3)
    return fail("ZeRO stage must be 0, 1, 2 or 3, got " + llvm::Twine(stage));
  job.stage = int(stage);
  if (!request.inference)
    if (llvm::Error e = config.checkOffload(job.stage))
      return inConfig(configName, std::move(e));
  return job;
}
