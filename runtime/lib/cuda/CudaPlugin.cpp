// The plugin's one exported symbol, ds_cuda_plugin_v1: the C table of CudaPluginApi.h over the
// CUDA executor. Errors become return codes and messages; no exception leaves this file.
#include "CudaExecutor.h"

#include "ds/runtime/Plan.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <string>

/// One rank's executor with everything it refers to: its own validated copy of the plan and
/// the host communicator seen through the caller's callbacks.
struct ds_cuda_executor {
  ds::rt::LoadedPlan plan;
  std::unique_ptr<ds::rt::Communicator> host;
  std::unique_ptr<ds::rt::ExecutorBase> exec;
  std::string error;
};

namespace ds::rt::cuda {
namespace {

/// The host's Communicator behind the ds_host_comm callbacks.
class HostCommunicator : public Communicator {
public:
  explicit HostCommunicator(const ds_host_comm &c) : c_(c) {}
  int rank() const override { return c_.rank; }
  int size() const override { return c_.size; }
  std::string name() const override { return std::string(c_.name, strnlen(c_.name, sizeof(c_.name))); }
  void allGather(const void *in, void *out, int64_t count, DType dtype) override {
    check(c_.all_gather(c_.context, in, out, count, int(dtype)));
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     ReduceOp op) override {
    check(c_.reduce_scatter(c_.context, in, out, count, int(dtype), cOp(op)));
  }
  void allReduce(const void *in, void *out, int64_t count, DType dtype, ReduceOp op) override {
    check(c_.all_reduce(c_.context, in, out, count, int(dtype), cOp(op)));
  }
  void broadcast(void *buf, int64_t count, DType dtype, int root) override {
    check(c_.broadcast(c_.context, buf, count, int(dtype), root));
  }
  void barrier() override { check(c_.barrier(c_.context)); }

private:
  static int cOp(ReduceOp op) {
    switch (op) {
    case ReduceOp::Sum: return DS_REDUCE_SUM;
    case ReduceOp::Max: return DS_REDUCE_MAX;
    case ReduceOp::Min: return DS_REDUCE_MIN;
    case ReduceOp::Avg: return DS_REDUCE_AVG;
    }
    return DS_REDUCE_SUM;
  }
  void check(int rc) const {
    if (rc != 0)
      fail(c_.last_error ? c_.last_error(c_.context) : "host communicator failed");
  }
  ds_host_comm c_;
};

void copyOut(const std::string &s, char *buf, size_t size) {
  if (buf && size)
    std::snprintf(buf, size, "%s", s.c_str());
}

/// Runs f() and turns an exception into a non-zero code with the message kept in `e`.
template <typename F> int guarded(ds_cuda_executor *e, F &&f) {
  try {
    f();
    return 0;
  } catch (const std::exception &x) {
    e->error = x.what();
  } catch (...) {
    e->error = "unknown error in the CUDA plugin";
  }
  return 1;
}

int deviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess)
    return 0;
  return n;
}

ds_cuda_executor *createExecutor(const void *planBytes, size_t planSize, const char *planPath,
                                 const ds_host_comm *host, const ds_host_kernels *hostKernels,
                                 const ds_cuda_options *options, char *error,
                                 size_t errorSize) {
  try {
    if (!planBytes || !host || !options)
      fail("create_executor: null argument");
    auto e = std::make_unique<ds_cuda_executor>();
    e->plan = parsePlan(std::string(static_cast<const char *>(planBytes), planSize),
                        planPath ? planPath : "<memory>", host->size);
    e->host = std::make_unique<HostCommunicator>(*host);
    e->exec = makeCudaExecutor(e->plan, *e->host, hostKernels, *options);
    return e.release();
  } catch (const std::exception &x) {
    copyOut(x.what(), error, errorSize);
  } catch (...) {
    copyOut("unknown error in the CUDA plugin", error, errorSize);
  }
  return nullptr;
}

int run(ds_cuda_executor *e, int program) {
  return guarded(e, [&] {
    if (program < 0 || program >= e->plan.plan.programs_size())
      fail("no program ", program);
    e->exec->run(program);
  });
}

int runInstruction(ds_cuda_executor *e, int program, int k) {
  return guarded(e, [&] {
    if (program < 0 || program >= e->plan.plan.programs_size() || k < 0 ||
        k >= e->plan.plan.programs(program).instructions_size())
      fail("no instruction ", k, " in program ", program);
    e->exec->runInstruction(program, k);
  });
}

/// Buffer `id`, checked against the caller's idea of its size.
void checkBuffer(const ds_cuda_executor *e, uint32_t id, uint64_t bytes) {
  auto it = e->plan.bufferIndex.find(id);
  if (it == e->plan.bufferIndex.end())
    fail("no buffer ", id);
  if (e->plan.buffers[it->second].type.bytes != bytes)
    fail("buffer ", id, " has ", e->plan.buffers[it->second].type.bytes, " bytes, not ", bytes);
}

int upload(ds_cuda_executor *e, uint32_t id, const void *src, uint64_t bytes) {
  return guarded(e, [&] {
    checkBuffer(e, id, bytes);
    e->exec->upload(id, src);
  });
}

int download(ds_cuda_executor *e, uint32_t id, void *dst, uint64_t bytes) {
  return guarded(e, [&] {
    checkBuffer(e, id, bytes);
    e->exec->download(id, dst);
  });
}

uint64_t measuredPeakBytes(const ds_cuda_executor *e) { return e->exec->measuredPeakBytes(); }
uint64_t measuredHostBytes(const ds_cuda_executor *e) { return e->exec->measuredHostBytes(); }
uint64_t measuredNvmeBytes(const ds_cuda_executor *e) { return e->exec->measuredNvmeBytes(); }

void describe(const ds_cuda_executor *e, char *buf, size_t size) {
  try {
    copyOut(e->exec->describe(), buf, size);
  } catch (...) {
    copyOut("cuda", buf, size);
  }
}

void lastError(const ds_cuda_executor *e, char *buf, size_t size) { copyOut(e->error, buf, size); }

void destroy(ds_cuda_executor *e) {
  try {
    delete e;
  } catch (...) {
  }
}

const ds_cuda_plugin_api kApi = {
    DS_CUDA_PLUGIN_ABI_VERSION,
    sizeof(ds_cuda_plugin_api),
    deviceCount,
    createExecutor,
    run,
    runInstruction,
    upload,
    download,
    measuredPeakBytes,
    measuredHostBytes,
    measuredNvmeBytes,
    describe,
    lastError,
    destroy,
};

} // namespace
} // namespace ds::rt::cuda

extern "C" __attribute__((visibility("default"))) const ds_cuda_plugin_api *ds_cuda_plugin_v1(void) {
  return &ds::rt::cuda::kApi;
}
