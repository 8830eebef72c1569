// libFuzzer target: arbitrary bytes through the DeepSpeed config reader must give a config or an llvm::Error.
#include "ds/Config/DeepSpeedConfig.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<mlir::ds::DeepSpeedConfig> config =
      mlir::ds::parseDeepSpeedConfig(text, "fuzz.json");
  if (!config) {
    llvm::consumeError(config.takeError());
    return 0;
  }
  // What ds-opt does next with an accepted config: resolve the batch for a world size, then
  // fill the pipeline's options.
  for (int64_t world : {1, 2, 3, 8}) {
    mlir::ds::DeepSpeedConfig c = *config;
    if (llvm::Error e = c.resolveBatch(world)) {
      llvm::consumeError(std::move(e));
      continue;
    }
    (void)c.getTrainingPipelineOptions(c.zeroStage, world, "");
  }
  return 0;
}
