// NCCL (waits bounded by --timeout, async errors polled) and host-staged device communicators.
#include "DeviceComm.h"

#include "ds/runtime/Error.h"

#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace ds::rt::cuda {
namespace {

void ncclCheck(ncclResult_t r, const char *what) {
  if (r != ncclSuccess)
    fail("NCCL ", what, ": ", ncclGetErrorString(r),
         r == ncclInvalidUsage ? " (two ranks on one GPU? set DS_CUDA_COMM=host)" : "");
}
void cudaCheck(cudaError_t e, const char *what) {
  if (e != cudaSuccess)
    fail(what, ": CUDA error ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

ncclDataType_t ncclType(DType t) {
  switch (t) {
  case ds::plan::F32: return ncclFloat32;
  case ds::plan::F64: return ncclFloat64;
  case ds::plan::F16: return ncclFloat16;
  case ds::plan::BF16: return ncclBfloat16;
  case ds::plan::I64: return ncclInt64;
  case ds::plan::I32: return ncclInt32;
  case ds::plan::I1: return ncclUint8;
  default: fail("NCCL: unsupported dtype ", dtypeName(t));
  }
}

ncclRedOp_t ncclOp(ReduceOp op, DType t) {
  switch (op) {
  case ReduceOp::Sum: return ncclSum;
  case ReduceOp::Max: return ncclMax;
  case ReduceOp::Min: return ncclMin;
  case ReduceOp::Avg:
    if (!isFloat(t))
      fail("NCCL: avg reduction of ", dtypeName(t), " is not supported");
    return ncclAvg;
  }
  return ncclSum;
}

class NcclComm : public DeviceComm {
public:
  NcclComm(Communicator &host, int timeoutSeconds)
      : rank_(host.rank()), size_(host.size()), timeoutSeconds_(timeoutSeconds) {
    ncclUniqueId id;
    std::memset(&id, 0, sizeof(id));
    if (rank_ == 0)
      ncclCheck(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host.broadcast(&id, int64_t(sizeof(id)), ds::plan::I1, 0);
    ncclCheck(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    cudaCheck(cudaMalloc(&flag_, 16), "cudaMalloc(barrier flag)");
  }
  ~NcclComm() override {
    if (comm_)
      ncclCommDestroy(comm_);
    if (flag_)
      cudaFree(flag_);
  }
  std::string name() const override {
    int v = 0;
    ncclGetVersion(&v);
    return "nccl " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
           std::to_string(v % 100);
  }
  bool capturable() const override { return true; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allGather(const void *in, void *out, int64_t count, DType t, cudaStream_t s) override {
    ncclCheck(ncclAllGather(in, out, size_t(count), ncclType(t), comm_, s), "all_gather");
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType t, ReduceOp op,
                     cudaStream_t s) override {
    ncclCheck(ncclReduceScatter(in, out, size_t(count), ncclType(t), ncclOp(op, t), comm_, s),
              "reduce_scatter");
  }
  void allReduce(const void *in, void *out, int64_t count, DType t, ReduceOp op,
                 cudaStream_t s) override {
    ncclCheck(ncclAllReduce(in, out, size_t(count), ncclType(t), ncclOp(op, t), comm_, s),
              "all_reduce");
  }
  void broadcast(void *buf, int64_t count, DType t, int root, cudaStream_t s) override {
    ncclCheck(ncclBroadcast(buf, buf, size_t(count), ncclType(t), root, comm_, s), "broadcast");
  }
  void barrier(cudaStream_t s) override {
    ncclCheck(ncclAllReduce(flag_, flag_, 1, ncclInt32, ncclSum, comm_, s), "barrier");
  }
  void wait(cudaStream_t s, const std::string &what) override {
    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    for (int polls = 0;; ++polls) {
      cudaError_t e = cudaStreamQuery(s);
      if (e == cudaSuccess)
        return;
      if (e != cudaErrorNotReady)
        fail(what, ": CUDA error ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
      ncclResult_t async = ncclSuccess;
      if (comm_ && ncclCommGetAsyncError(comm_, &async) == ncclSuccess && async != ncclSuccess &&
          async != ncclInProgress) {
        abort();
        fail(what, ": NCCL error ", ncclGetErrorString(async),
             " (a peer rank died or the network failed); communicator aborted");
      }
      double waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (timeoutSeconds_ > 0 && waited > timeoutSeconds_) {
        abort();
        fail(what, ": device work with NCCL collectives did not finish within ", timeoutSeconds_,
             " s (--timeout): a rank stalled or died; communicator aborted");
      }
      // Spin briefly (a step's tail is short), then poll gently.
      if (polls < 1000)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

private:
  void abort() {
    if (comm_)
      ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  int rank_, size_;
  int timeoutSeconds_;
  ncclComm_t comm_ = nullptr;
  void *flag_ = nullptr;
};

class HostStagedComm : public DeviceComm {
public:
  HostStagedComm(Communicator &host, size_t maxBytes) : host_(host) {
    size_t bytes = std::max<size_t>(maxBytes, 64);
    cudaCheck(cudaMallocHost(&in_, bytes), "cudaMallocHost(staging)");
    cudaCheck(cudaMallocHost(&out_, bytes * size_t(host.size())), "cudaMallocHost(staging)");
    cap_ = bytes;
  }
  ~HostStagedComm() override {
    cudaFreeHost(in_);
    cudaFreeHost(out_);
  }
  std::string name() const override { return "host-staged " + host_.name(); }
  bool capturable() const override { return false; }
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  void allGather(const void *in, void *out, int64_t count, DType t, cudaStream_t s) override {
    size_t b = need(count, t);
    down(in, b, s);
    host_.allGather(in_, out_, count, t);
    up(out, b * size_t(size()), s);
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType t, ReduceOp op,
                     cudaStream_t s) override {
    size_t b = need(count * size(), t);
    down(in, b, s);
    host_.reduceScatter(in_, out_, count, t, op);
    up(out, b / size_t(size()), s);
  }
  void allReduce(const void *in, void *out, int64_t count, DType t, ReduceOp op,
                 cudaStream_t s) override {
    size_t b = need(count, t);
    down(in, b, s);
    host_.allReduce(in_, out_, count, t, op);
    up(out, b, s);
  }
  void broadcast(void *buf, int64_t count, DType t, int root, cudaStream_t s) override {
    size_t b = need(count, t);
    down(buf, b, s);
    host_.broadcast(in_, count, t, root);
    std::memcpy(out_, in_, b);
    up(buf, b, s);
  }
  void barrier(cudaStream_t s) override {
    cudaCheck(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    host_.barrier();
  }

private:
  size_t need(int64_t count, DType t) {
    size_t b = size_t(count) * dtypeSize(t);
    if (b > cap_)
      fail("host-staged collective of ", b, " bytes exceeds the staging buffer of ", cap_);
    return b;
  }
  void down(const void *src, size_t b, cudaStream_t s) {
    if (b)
      cudaCheck(cudaMemcpyAsync(in_, src, b, cudaMemcpyDeviceToHost, s), "staging download");
    cudaCheck(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  }
  void up(void *dst, size_t b, cudaStream_t s) {
    if (b)
      cudaCheck(cudaMemcpyAsync(dst, out_, b, cudaMemcpyHostToDevice, s), "staging upload");
    // The next collective reuses out_: the copy must be done before this call returns.
    cudaCheck(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  }

  Communicator &host_;
  void *in_ = nullptr, *out_ = nullptr;
  size_t cap_ = 0;
};

} // namespace

void DeviceComm::wait(cudaStream_t s, const std::string &what) {
  cudaCheck(cudaStreamSynchronize(s), what.c_str());
}

std::unique_ptr<DeviceComm> makeNcclComm(Communicator &host, int timeoutSeconds) {
  return std::make_unique<NcclComm>(host, timeoutSeconds);
}
std::unique_ptr<DeviceComm> makeHostStagedComm(Communicator &host, size_t maxBytes) {
  return std::make_unique<HostStagedComm>(host, maxBytes);
}

} // namespace ds::rt::cuda
