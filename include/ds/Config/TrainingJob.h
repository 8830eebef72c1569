// The world size, batch keys and ZeRO stage of one compile: what ds-opt's flags and
// ds_opt.initialize's launcher give, checked against the config in one place.
#ifndef DS_CONFIG_TRAININGJOB_H
#define DS_CONFIG_TRAININGJOB_H

#include "ds/Config/DeepSpeedConfig.h"

#include <optional>

namespace mlir::ds {

/// What the caller knows besides the config.
struct JobRequest {
  /// --world-size, or the launcher's ranks. Unset: the batch keys' implied world size, else 1.
  std::optional<int64_t> worldSize;
  /// worldSize is the launcher's (mpirun -np, torchrun): batch keys implying another world
  /// size are an error rather than overridden.
  bool worldFromLauncher = false;
  /// --zero-stage; unset: zero_optimization.stage.
  std::optional<int64_t> zeroStage;
  /// An inference compile: one rank, no batch keys, no offload.
  bool inference = false;
};

struct TrainingJob {
  int world = 1;
  bool worldFromBatch = false; ///< train_batch_size / (micro x accumulation) set it
  int stage = 0;
};

/// Resolves `config`'s batch keys for the job's world size (filling in what DeepSpeed
/// derives), the ZeRO stage and the offload rules. Errors name `configName` where the
/// config is at fault.
llvm::Expected<TrainingJob> resolveTrainingJob(DeepSpeedConfig &config,
                                               llvm::StringRef configName,
                                               const JobRequest &request);

} // namespace mlir::ds

#endif // DS_CONFIG_TRAININGJOB_H
