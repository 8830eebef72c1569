// Generated GPU code of a plan (Plan.generated_code): its PTX module loaded once through
// the CUDA driver API (the driver JITs the PTX for the device) and its entries looked up
// by name.
#pragma once

#include <map>
#include <string>

namespace ds::rt::cuda {

class GeneratedKernels {
public:
  /// Loads `ptx` (JIT to the current device); throws Error with the JIT log on failure.
  explicit GeneratedKernels(const std::string &ptx);
  ~GeneratedKernels();
  GeneratedKernels(const GeneratedKernels &) = delete;
  GeneratedKernels &operator=(const GeneratedKernels &) = delete;

  /// The CUfunction of entry `name`; throws Error when the module has none.
  void *function(const std::string &name);

  /// Launches `function` with `params` (cuLaunchKernel's kernelParams) on `stream`
  /// (a cudaStream_t); throws Error on failure.
  static void launch(void *function, unsigned grid, unsigned block, void *stream,
                     void **params);

  /// Whether DS_FUSED_INTERPRETER=1 asks for the interpreter instead (for comparisons).
  static bool disabledByEnvironment();

private:
  void *module_ = nullptr; // CUmodule
  std::map<std::string, void *> functions_;
};

} // namespace ds::rt::cuda
