// The driver-API side of generated kernels. The driver's functions come through cudart's
// cudaGetDriverEntryPointByVersion, so the plugin links no libcuda of its own.
#include "GeneratedKernels.h"

#include "ds/runtime/Error.h"

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>

namespace ds::rt::cuda {
namespace {

struct DriverApi {
  decltype(&cuModuleLoadDataEx) moduleLoadDataEx = nullptr;
  decltype(&cuModuleUnload) moduleUnload = nullptr;
  decltype(&cuModuleGetFunction) moduleGetFunction = nullptr;
  decltype(&cuLaunchKernel) launchKernel = nullptr;
  decltype(&cuGetErrorString) getErrorString = nullptr;
};

const DriverApi &driver() {
  static DriverApi api;
  static std::once_flag once;
  std::call_once(once, [] {
    auto get = [](const char *name, auto &fn) {
      void *p = nullptr;
      cudaDriverEntryPointQueryResult status{};
      cudaError_t e =
          cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &status);
      if (e != cudaSuccess || status != cudaDriverEntryPointSuccess || !p)
        fail("generated kernels: the CUDA driver has no ", name, " (",
             cudaGetErrorString(e), ")");
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
    };
    get("cuModuleLoadDataEx", api.moduleLoadDataEx);
    get("cuModuleUnload", api.moduleUnload);
    get("cuModuleGetFunction", api.moduleGetFunction);
    get("cuLaunchKernel", api.launchKernel);
    get("cuGetErrorString", api.getErrorString);
  });
  return api;
}

std::string errorString(CUresult r) {
  const char *s = nullptr;
  if (driver().getErrorString(r, &s) != CUDA_SUCCESS || !s)
    return "CUDA driver error " + std::to_string(int(r));
  return s;
}

} // namespace

GeneratedKernels::GeneratedKernels(const std::string &ptx) {
  // The runtime API has made the device's primary context current: the module lives in
  // it.
  cudaFree(nullptr);
  char log[8192] = {};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, reinterpret_cast<void *>(uintptr_t(sizeof(log) - 1))};
  CUmodule m = nullptr;
  CUresult r = driver().moduleLoadDataEx(&m, ptx.c_str(), 2, options, values);
  if (r != CUDA_SUCCESS)
    fail("generated kernels: cannot load the plan's PTX (", errorString(r), ")",
         log[0] ? std::string(": ") + log : std::string(),
         "; DS_FUSED_INTERPRETER=1 runs the fused kernels through the interpreter");
  module_ = m;
}

GeneratedKernels::~GeneratedKernels() {
  if (module_)
    driver().moduleUnload(static_cast<CUmodule>(module_));
}

void *GeneratedKernels::function(const std::string &name) {
  auto it = functions_.find(name);
  if (it != functions_.end())
    return it->second;
  CUfunction f = nullptr;
  CUresult r =
      driver().moduleGetFunction(&f, static_cast<CUmodule>(module_), name.c_str());
  if (r != CUDA_SUCCESS)
    fail("generated kernels: the plan's PTX has no entry '", name, "' (", errorString(r),
         ")");
  functions_[name] = f;
  return f;
}

void GeneratedKernels::launch(void *function, unsigned grid, unsigned block, void *stream,
                              void **params) {
  CUresult r =
      driver().launchKernel(static_cast<CUfunction>(function), grid, 1, 1, block, 1, 1, 0,
                            static_cast<CUstream>(stream), params, nullptr);
  if (r != CUDA_SUCCESS)
    fail("generated kernel launch: ", errorString(r));
}

bool GeneratedKernels::disabledByEnvironment() {
  const char *e = std::getenv("DS_FUSED_INTERPRETER");
  return e && std::strcmp(e, "1") == 0;
}

} // namespace ds::rt::cuda
