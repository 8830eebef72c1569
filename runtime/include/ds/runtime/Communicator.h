// Collective communication between the ranks of one job (1-D world, MLIR `shard` semantics).
#pragma once

#include "ds/runtime/Kernels.h"

#include <memory>
#include <string>

namespace ds::rt {

enum class ReduceOp { Sum, Max, Min, Avg };
/// "sum" | "max" | "min" | "avg"; throws Error otherwise.
ReduceOp parseReduceOp(const std::string &name);

/// Flat collectives on CPU buffers. Counts are elements; f16/bf16 reduce in f32.
/// Every call is collective: all ranks call it in the same order with the same counts.
class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;
  /// out[r*count .. (r+1)*count) = rank r's in[0 .. count).
  virtual void allGather(const void *in, void *out, int64_t count, DType dtype) = 0;
  /// in holds size()*count elements; out = reduce over ranks of block rank() of in.
  virtual void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                             ReduceOp op) = 0;
  /// out = elementwise reduce over ranks of in; in == out is allowed.
  virtual void allReduce(const void *in, void *out, int64_t count, DType dtype, ReduceOp op) = 0;
  /// buf on every rank = buf on `root`.
  virtual void broadcast(void *buf, int64_t count, DType dtype, int root) = 0;
  virtual void barrier() = 0;
};

/// World of one rank; no MPI involved.
std::unique_ptr<Communicator> makeSingleRankCommunicator();

/// True when this process was started by mpirun/mpiexec (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
/// PMIX_RANK) or by Slurm's `srun --mpi=pmix` (PMIX_RANK): MPI_Init can wire the ranks up.
bool launchedByMpi();
/// MPI_Init (once) and a communicator over MPI_COMM_WORLD with MPI_ERRORS_RETURN, so that
/// failures surface as Error. Throws Error when MPI fails to start. threadsPerRank: the
/// rank's compute threads (0: numThreads()'s default). When the node's ranks times that
/// leave no core idle (ranksShareCores), collectives wait without holding the core
/// (nonblocking MPI, MPI_Test between short sleeps) and Open MPI's own waits yield
/// (mpi_yield_when_idle, unless OMPI_MCA_mpi_yield_when_idle is already set): a rank that
/// busy-polls for its peer takes the time slices the peer, or its own pool, needs.
/// DS_MPI_WAIT=sleep|spin forces either way (auto: the rule above).
std::unique_ptr<Communicator> makeMpiCommunicator(int threadsPerRank = 0);
/// Whether a child of this process can read its memory with process_vm_readv (Cross Memory
/// Attach, Open MPI's single-copy path between ranks of a node): false where seccomp, a
/// missing capability or Yama forbids it. Declares any process a permitted tracer first
/// (PR_SET_PTRACER_ANY), as the node's other ranks must be. makeMpiCommunicator asks it
/// before MPI_Init and sets OMPI_MCA_btl_vader_single_copy_mechanism (cma, else none)
/// unless the environment already does.
bool crossMemoryAttachWorks();
/// True when localRanks ranks of threadsPerRank threads each occupy every one of cpus cores.
bool ranksShareCores(int localRanks, int threadsPerRank, int cpus);
/// The CPUs this process may run on (sched_getaffinity; hardware_concurrency if unknown).
int usableCpuCount();
/// True when this process was started the way torchrun starts ranks (RANK, WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT in the environment) and not by MPI.
bool launchedByTorchrun();
/// True when this process was started by Slurm's srun without a PMI plugin (SLURM_PROCID and
/// SLURM_NTASKS, no PMIX_RANK or PMI_SIZE), where MPI_Init cannot find its peers.
bool launchedBySrun();
/// The first host of a Slurm host list ("node[01-04,07],gpu5" -> "node01"); "" if malformed.
std::string firstSlurmHost(const std::string &list);
/// A communicator over TCP for a torchrun-style launch (or an srun one: rank SLURM_PROCID of
/// SLURM_NTASKS; MASTER_ADDR defaults to the first host of SLURM_STEP_NODELIST, MASTER_PORT
/// to 15000 + SLURM_JOB_ID % 10000): rank 0 listens on MASTER_PORT (as
/// torch.distributed's store does), the others connect, then every pair connects directly.
/// Reductions run in rank order on the rank that owns each piece, so every rank gets the
/// same bits. Connecting waits up to timeoutSeconds (0: 1800) s. Throws Error naming the
/// variable or the peer that fails.
std::unique_ptr<Communicator> makeTcpCommunicator(int timeoutSeconds);
/// MPI_Finalize if MPI was initialized (idempotent).
void finalizeMpi();

// ---- tensor collectives along an axis (what the all_gather / reduce_scatter kernels call)

/// out = concat over ranks (rank order) of in along `axis`.
void allGatherAxis(Communicator &comm, const Tensor &in, const Tensor &out, int64_t axis);
/// out = piece rank() (along `axis`, size()-way equal split) of reduce over ranks of in.
void reduceScatterAxis(Communicator &comm, const Tensor &in, const Tensor &out, int64_t axis,
                       ReduceOp op);

} // namespace ds::rt
