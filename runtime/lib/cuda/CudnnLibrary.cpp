// libcudnn.so.9 (and libnvrtc, which the frontend's generated-kernel paths reach) loaded at run
// time: the cuDNN and NVRTC functions the frontend calls are defined here and forward to the
// loaded library. (The plugin still links libcudnn for Convolution.cu, which calls the legacy
// convolution API directly; the loaded library is then that same one.)
#include "CudnnLibrary.h"

#if DS_HAVE_CUDNN_FRONTEND
#include <cudnn.h>
#include <nvrtc.h>

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace ds::rt::cuda {
namespace {

struct CudnnFunctions {
  void *lib = nullptr;
  std::string error;
#define DS_CUDNN_FN(name) decltype(&::name) name = nullptr;
  DS_CUDNN_FN(cudnnBackendCreateDescriptor)
  DS_CUDNN_FN(cudnnBackendDestroyDescriptor)
  DS_CUDNN_FN(cudnnBackendExecute)
  DS_CUDNN_FN(cudnnBackendFinalize)
  DS_CUDNN_FN(cudnnBackendGetAttribute)
  DS_CUDNN_FN(cudnnBackendSetAttribute)
  DS_CUDNN_FN(cudnnCreate)
  DS_CUDNN_FN(cudnnGetErrorString)
  DS_CUDNN_FN(cudnnGetLastErrorString)
  DS_CUDNN_FN(cudnnGetStream)
  DS_CUDNN_FN(cudnnGetVersion)
  DS_CUDNN_FN(cudnnSetStream)
#undef DS_CUDNN_FN
};

CudnnFunctions &cudnn() {
  static CudnnFunctions f;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *name = std::getenv("DS_CUDNN_LIBRARY");
    f.lib = dlopen(name && *name ? name : "libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
    if (!f.lib) {
      const char *e = dlerror();
      f.error = std::string("cannot load cuDNN: ") + (e ? e : "dlopen failed");
      return;
    }
#define DS_CUDNN_FN(name)                                                                    \
  f.name = reinterpret_cast<decltype(f.name)>(dlsym(f.lib, #name));                          \
  if (!f.name) {                                                                             \
    f.error = "the loaded cuDNN lacks " #name;                                               \
    return;                                                                                  \
  }
    DS_CUDNN_FN(cudnnBackendCreateDescriptor)
    DS_CUDNN_FN(cudnnBackendDestroyDescriptor)
    DS_CUDNN_FN(cudnnBackendExecute)
    DS_CUDNN_FN(cudnnBackendFinalize)
    DS_CUDNN_FN(cudnnBackendGetAttribute)
    DS_CUDNN_FN(cudnnBackendSetAttribute)
    DS_CUDNN_FN(cudnnCreate)
    DS_CUDNN_FN(cudnnGetErrorString)
    DS_CUDNN_FN(cudnnGetLastErrorString)
    DS_CUDNN_FN(cudnnGetStream)
    DS_CUDNN_FN(cudnnGetVersion)
    DS_CUDNN_FN(cudnnSetStream)
#undef DS_CUDNN_FN
    if (f.cudnnGetVersion() < 90000)
      f.error = "cuDNN " + std::to_string(f.cudnnGetVersion()) + " is older than 9.0";
  });
  return f;
}

/// NVRTC, only for the frontend paths that compile kernels at run time (not SDPA's).
void *nvrtcSymbol(const char *name) {
  static void *lib = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char *n : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"})
      if ((lib = dlopen(n, RTLD_NOW | RTLD_LOCAL)))
        break;
  });
  return lib ? dlsym(lib, name) : nullptr;
}

} // namespace

bool loadCudnnLibrary(std::string &why) {
  CudnnFunctions &f = cudnn();
  why = f.error;
  return f.error.empty();
}

} // namespace ds::rt::cuda

// The forwarders (called only after loadCudnnLibrary succeeded).
using ds::rt::cuda::cudnn;
extern "C" {
cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t t,
                                           cudnnBackendDescriptor_t *d) {
  return cudnn().cudnnBackendCreateDescriptor(t, d);
}
cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t d) {
  return cudnn().cudnnBackendDestroyDescriptor(d);
}
cudnnStatus_t cudnnBackendExecute(cudnnHandle_t h, cudnnBackendDescriptor_t plan,
                                  cudnnBackendDescriptor_t pack) {
  return cudnn().cudnnBackendExecute(h, plan, pack);
}
cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t d) {
  return cudnn().cudnnBackendFinalize(d);
}
cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const d,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t requested,
                                       int64_t *count, void *elements) {
  return cudnn().cudnnBackendGetAttribute(d, name, type, requested, count, elements);
}
cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t d,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t count,
                                       const void *elements) {
  return cudnn().cudnnBackendSetAttribute(d, name, type, count, elements);
}
cudnnStatus_t cudnnCreate(cudnnHandle_t *h) { return cudnn().cudnnCreate(h); }
const char *cudnnGetErrorString(cudnnStatus_t s) {
  return cudnn().cudnnGetErrorString ? cudnn().cudnnGetErrorString(s) : "cuDNN not loaded";
}
void cudnnGetLastErrorString(char *message, size_t size) {
  if (cudnn().cudnnGetLastErrorString)
    cudnn().cudnnGetLastErrorString(message, size);
  else if (message && size)
    message[0] = '\0';
}
cudnnStatus_t cudnnGetStream(cudnnHandle_t h, cudaStream_t *s) {
  return cudnn().cudnnGetStream(h, s);
}
size_t cudnnGetVersion(void) {
  return cudnn().cudnnGetVersion ? cudnn().cudnnGetVersion() : 0;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
  return cudnn().cudnnSetStream(h, s);
}
#define DS_NVRTC_FORWARD(name, params, args)                                                 \
  nvrtcResult name params {                                                                  \
    auto f = reinterpret_cast<decltype(&name)>(ds::rt::cuda::nvrtcSymbol(#name));            \
    return f ? f args : NVRTC_ERROR_INTERNAL_ERROR;                                          \
  }
DS_NVRTC_FORWARD(nvrtcGetCUBINSize, (nvrtcProgram prog, size_t *size), (prog, size))
DS_NVRTC_FORWARD(nvrtcGetCUBIN, (nvrtcProgram prog, char *cubin), (prog, cubin))
DS_NVRTC_FORWARD(nvrtcCreateProgram,
                 (nvrtcProgram * prog, const char *src, const char *name, int numHeaders,
                  const char *const *headers, const char *const *includeNames),
                 (prog, src, name, numHeaders, headers, includeNames))
DS_NVRTC_FORWARD(nvrtcCompileProgram,
                 (nvrtcProgram prog, int numOptions, const char *const *options),
                 (prog, numOptions, options))
DS_NVRTC_FORWARD(nvrtcGetProgramLogSize, (nvrtcProgram prog, size_t *size), (prog, size))
DS_NVRTC_FORWARD(nvrtcGetProgramLog, (nvrtcProgram prog, char *log), (prog, log))
DS_NVRTC_FORWARD(nvrtcDestroyProgram, (nvrtcProgram * prog), (prog))
#undef DS_NVRTC_FORWARD
}

#else

namespace ds::rt::cuda {
bool loadCudnnLibrary(std::string &why) {
  why = "built without the cuDNN frontend";
  return false;
}
} // namespace ds::rt::cuda

#endif
