// Collectives on device buffers, enqueued on a stream: NCCL, or host-staged through the host
// Communicator (MPI) when ranks share a GPU (NCCL refuses two ranks on one device).
#pragma once

#include "ds/runtime/Communicator.h"

#include <cuda_runtime.h>

#include <memory>
#include <string>

namespace ds::rt::cuda {

class DeviceComm {
public:
  virtual ~DeviceComm() = default;
  virtual std::string name() const = 0;
  /// True when calls may be captured into a CUDA graph (no host synchronization inside).
  virtual bool capturable() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Same contracts as Communicator's, on device pointers, ordered on `s`.
  virtual void allGather(const void *in, void *out, int64_t count, DType dtype,
                         cudaStream_t s) = 0;
  virtual void reduceScatter(const void *in, void *out, int64_t count, DType dtype, ReduceOp op,
                             cudaStream_t s) = 0;
  virtual void allReduce(const void *in, void *out, int64_t count, DType dtype, ReduceOp op,
                         cudaStream_t s) = 0;
  virtual void broadcast(void *buf, int64_t count, DType dtype, int root, cudaStream_t s) = 0;
  virtual void barrier(cudaStream_t s) = 0;
  /// Waits for the work queued on `s` (which may hold collectives); NCCL bounds the wait by
  /// its timeout and polls ncclCommGetAsyncError, aborting the communicator on either.
  virtual void wait(cudaStream_t s, const std::string &what);
};

/// NCCL communicator over the host communicator's ranks (unique id broadcast from rank 0).
/// Throws Error when NCCL fails. `timeoutSeconds` bounds wait() (0: no bound).
std::unique_ptr<DeviceComm> makeNcclComm(Communicator &host, int timeoutSeconds);
/// Stages every collective through pinned host memory and the host communicator;
/// `maxBytes` is the largest operand any collective moves (staging is allocated once).
std::unique_ptr<DeviceComm> makeHostStagedComm(Communicator &host, size_t maxBytes);

} // namespace ds::rt::cuda
