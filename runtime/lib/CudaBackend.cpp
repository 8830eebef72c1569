// dlopen side of the CUDA backend (lives in ds_runtime; the plugin is lib/cuda).
#include "ds/runtime/CudaBackend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>

namespace ds::rt {
namespace {
void *gHandle = nullptr;
int (*gCount)() = nullptr;
ExecutorBase *(*gCreate)(const LoadedPlan *, Communicator *, const CudaOptions *) = nullptr;
std::string gWhy;
bool gTried = false;

std::string exeDir() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    return ".";
  self[n] = '\0';
  std::string s(self);
  return s.substr(0, s.rfind('/'));
}
} // namespace

bool loadCudaBackend(std::string &why) {
  if (!gTried) {
    gTried = true;
    std::vector<std::string> candidates;
    if (const char *p = std::getenv("DS_CUDA_PLUGIN"))
      candidates.push_back(p);
    else {
      candidates.push_back(exeDir() + "/../lib/libds_cuda.so");
      candidates.push_back("libds_cuda.so");
    }
    std::string errors;
    for (const auto &c : candidates) {
      gHandle = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (gHandle)
        break;
      errors += std::string(errors.empty() ? "" : "; ") + dlerror();
    }
    if (!gHandle) {
      gWhy = "cannot load the CUDA backend plugin: " + errors;
    } else {
      gCount = reinterpret_cast<int (*)()>(dlsym(gHandle, "ds_cuda_device_count"));
      gCreate = reinterpret_cast<decltype(gCreate)>(dlsym(gHandle, "ds_cuda_create_executor"));
      if (!gCount || !gCreate)
        gWhy = "the CUDA backend plugin lacks its entry points";
    }
  }
  why = gWhy;
  return gCount && gCreate;
}

int cudaDeviceCount() {
  std::string why;
  if (!loadCudaBackend(why))
    return 0;
  return gCount();
}

std::unique_ptr<ExecutorBase> makeCudaExecutor(const LoadedPlan &plan, Communicator &host,
                                               const CudaOptions &opt) {
  std::string why;
  if (!loadCudaBackend(why))
    fail(why);
  return std::unique_ptr<ExecutorBase>(gCreate(&plan, &host, &opt));
}

} // namespace ds::rt
