// ds-run's side of the CUDA plugin boundary: dlopen, the C ABI table, host-communicator
// callbacks and an ExecutorBase over the plugin's executor (lives in ds_runtime).
#include "ds/runtime/CudaBackend.h"

#include "ds/runtime/CudaPluginApi.h"
#include "ds/runtime/HostKernelRunner.h"
#include "ds/runtime/PlanSwapFile.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ds::rt {
namespace {
void *gHandle = nullptr;
const ds_cuda_plugin_api *gApi = nullptr;
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

const ds_cuda_plugin_api *api() {
  std::string why;
  if (!loadCudaBackend(why))
    fail(why);
  return gApi;
}

/// The host Communicator behind the plugin's ds_host_comm callbacks: exceptions become a
/// non-zero return and a message the plugin reads back with last_error.
class HostCommBridge {
public:
  explicit HostCommBridge(Communicator &comm) : comm_(comm) {
    c_.context = this;
    c_.rank = comm.rank();
    c_.size = comm.size();
    std::snprintf(c_.name, sizeof(c_.name), "%s", comm.name().c_str());
    c_.all_gather = [](void *ctx, const void *in, void *out, int64_t count, int dtype) {
      return self(ctx).guard([&](Communicator &c) { c.allGather(in, out, count, DType(dtype)); });
    };
    c_.reduce_scatter = [](void *ctx, const void *in, void *out, int64_t count, int dtype,
                           int op) {
      return self(ctx).guard([&](Communicator &c) {
        c.reduceScatter(in, out, count, DType(dtype), reduceOp(op));
      });
    };
    c_.all_reduce = [](void *ctx, const void *in, void *out, int64_t count, int dtype, int op) {
      return self(ctx).guard(
          [&](Communicator &c) { c.allReduce(in, out, count, DType(dtype), reduceOp(op)); });
    };
    c_.broadcast = [](void *ctx, void *buf, int64_t count, int dtype, int root) {
      return self(ctx).guard([&](Communicator &c) { c.broadcast(buf, count, DType(dtype), root); });
    };
    c_.barrier = [](void *ctx) { return self(ctx).guard([](Communicator &c) { c.barrier(); }); };
    c_.last_error = [](void *ctx) { return self(ctx).error_.c_str(); };
  }
  const ds_host_comm *c() const { return &c_; }

private:
  static HostCommBridge &self(void *ctx) { return *static_cast<HostCommBridge *>(ctx); }
  static ReduceOp reduceOp(int op) {
    switch (op) {
    case DS_REDUCE_SUM: return ReduceOp::Sum;
    case DS_REDUCE_MAX: return ReduceOp::Max;
    case DS_REDUCE_MIN: return ReduceOp::Min;
    case DS_REDUCE_AVG: return ReduceOp::Avg;
    default: fail("unknown reduction ", op, " from the CUDA plugin");
    }
  }
  template <typename F> int guard(F &&f) {
    try {
      f(comm_);
      return 0;
    } catch (const std::exception &e) {
      error_ = e.what();
    } catch (...) {
      error_ = "unknown error in the host communicator";
    }
    return 1;
  }

  Communicator &comm_;
  ds_host_comm c_{};
  std::string error_;
};

/// One rank's CUDA executor inside the plugin, driven through the C table. ds-run keeps the
/// CPU side of offloaded plans: the NVMe swap file and the CPU kernels of host- and
/// io-stream instructions, which the plugin calls from CUDA host functions.
class PluginExecutor : public ExecutorBase {
public:
  PluginExecutor(const LoadedPlan &plan, Communicator &host, const CudaOptions &opt)
      : plan_(plan), api_(api()), bridge_(host), swap_(openPlanSwapFile(plan.plan, host.rank())),
        hostKernels_(plan, host.rank(), host.size(), swap_.get()) {
    ds_cuda_options o{};
    if (opt.comm.size() >= sizeof(o.comm))
      fail("--comm '", opt.comm, "' is too long");
    std::memcpy(o.comm, opt.comm.c_str(), opt.comm.size() + 1);
    o.graphs = opt.graphs;
    o.tf32 = opt.tf32;
    o.device = opt.device;
    o.timeout_seconds = opt.timeoutSeconds;
    std::string bytes = serializePlan(plan.plan);
    char error[1024] = {};
    exec_ = api_->create_executor(bytes.data(), bytes.size(), plan.path.c_str(), bridge_.c(),
                                  hostKernels_.table(), &o, error, sizeof(error));
    if (!exec_)
      fail(error[0] ? error : "the CUDA plugin could not create an executor");
  }
  ~PluginExecutor() override { api_->destroy(exec_); }
  PluginExecutor(const PluginExecutor &) = delete;
  PluginExecutor &operator=(const PluginExecutor &) = delete;

  void run(int index) override { check(api_->run(exec_, index)); }
  void runInstruction(int program, int k) override {
    check(api_->run_instruction(exec_, program, k));
  }
  void upload(uint32_t id, const void *src) override {
    check(api_->upload(exec_, id, src, plan_.buffer(id).type.bytes));
  }
  void download(uint32_t id, void *dst) override {
    check(api_->download(exec_, id, dst, plan_.buffer(id).type.bytes));
  }
  uint64_t measuredPeakBytes() const override { return api_->measured_peak_bytes(exec_); }
  uint64_t measuredHostBytes() const override { return api_->measured_host_bytes(exec_); }
  uint64_t measuredNvmeBytes() const override { return api_->measured_nvme_bytes(exec_); }
  std::string describe() const override {
    char buf[512] = {};
    api_->describe(exec_, buf, sizeof(buf));
    return buf;
  }
  const LoadedPlan &plan() const override { return plan_; }

private:
  void check(int rc) const {
    if (rc == 0)
      return;
    char buf[2048] = {};
    api_->last_error(exec_, buf, sizeof(buf));
    fail(buf[0] ? buf : "the CUDA plugin failed without a message");
  }

  const LoadedPlan &plan_;
  const ds_cuda_plugin_api *api_;
  HostCommBridge bridge_;
  std::unique_ptr<SwapFile> swap_; // destroyed after the plugin's executor (declared first)
  HostKernelRunner hostKernels_;
  ds_cuda_executor *exec_ = nullptr;
};
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
    } else if (auto entry = reinterpret_cast<ds_cuda_plugin_entry_fn>(
                   dlsym(gHandle, DS_CUDA_PLUGIN_ENTRY));
               !entry) {
      gWhy = "the CUDA backend plugin lacks its entry point " DS_CUDA_PLUGIN_ENTRY;
    } else if (const ds_cuda_plugin_api *a = entry();
               !a || a->abi_version != DS_CUDA_PLUGIN_ABI_VERSION ||
               a->struct_size < sizeof(ds_cuda_plugin_api)) {
      gWhy = "the CUDA backend plugin has ABI version " +
             std::to_string(a ? a->abi_version : 0) + ", this ds-run needs " +
             std::to_string(DS_CUDA_PLUGIN_ABI_VERSION);
    } else {
      gApi = a;
    }
  }
  why = gWhy;
  return gApi != nullptr;
}

/// Whether the CUDA driver sees a device, asked of libcuda alone (cuInit, cuDeviceGetCount;
/// honours CUDA_VISIBLE_DEVICES): the plugin pulls in cuBLAS, cuDNN and NCCL (about 150 MiB
/// resident per rank), which a machine without a GPU must not pay for `--backend auto`.
bool driverSeesDevice() {
  static int answer = -1;
  if (answer >= 0)
    return answer == 1;
  answer = 0;
  void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!cuda)
    return false; // no driver: no GPU
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int *);
  auto init = reinterpret_cast<InitFn>(dlsym(cuda, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(cuda, "cuDeviceGetCount"));
  int n = 0;
  if (init && count && init(0) == 0 && count(&n) == 0 && n > 0)
    answer = 1;
  if (answer == 0)
    dlclose(cuda); // kept open otherwise: the plugin links the same library
  return answer == 1;
}

int cudaDeviceCount() {
  if (!driverSeesDevice())
    return 0;
  std::string why;
  if (!loadCudaBackend(why))
    return 0;
  return gApi->device_count();
}

std::unique_ptr<ExecutorBase> makeCudaExecutor(const LoadedPlan &plan, Communicator &host,
                                               const CudaOptions &opt) {
  return std::make_unique<PluginExecutor>(plan, host, opt);
}

} // namespace ds::rt
