// The CUDA backend as ds-run sees it: a plugin (libds_cuda.so) loaded at run time through the
// C ABI of CudaPluginApi.h, so the same ds-run binary runs on machines without CUDA or NCCL.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/ExecutorBase.h"

#include <memory>
#include <string>

namespace ds::rt {

struct CudaOptions {
  /// "auto" (NCCL unless two ranks share a GPU), "nccl" or "host" (host-staged via MPI).
  std::string comm = "auto";
  bool graphs = true;   // capture programs into CUDA graphs where the communicator allows
  bool tf32 = false;    // f32 GEMMs on TF32 tensor cores
  int device = -1;      // -1: local rank modulo the visible devices
  int timeoutSeconds = 1800; // NCCL waits abort the communicator after this long; 0: none
};

/// Loads the plugin (DS_CUDA_PLUGIN, else <exe dir>/../lib/libds_cuda.so, else the loader's
/// search path) and checks its ABI version. Returns false and sets `why` when it cannot.
bool loadCudaBackend(std::string &why);
/// Number of visible CUDA devices (0 when the plugin or the driver is missing).
int cudaDeviceCount();
/// A CUDA executor for this rank. The plugin parses and validates its own copy of
/// `plan.plan` (serialized); `host` carries the NCCL bootstrap and host-staged traffic and must
/// outlive the executor, as must `plan`. Throws Error with the plugin's one-line message.
std::unique_ptr<ExecutorBase> makeCudaExecutor(const LoadedPlan &plan, Communicator &host,
                                               const CudaOptions &opt);

} // namespace ds::rt
