/* The C ABI between ds-run and the CUDA backend plugin (libds_cuda.so): plain C only. */
#ifndef DS_RUNTIME_CUDAPLUGINAPI_H
#define DS_RUNTIME_CUDAPLUGINAPI_H

/*
 * The plugin exports one symbol, ds_cuda_plugin_v1, returning a table of functions. No C++
 * type crosses the boundary and the plugin resolves nothing back into its host: it parses and
 * validates the plan itself (its own static copy of the plan library) and reaches the host's
 * communicator only through the callbacks below. Every failure is a non-zero return code with
 * a one-line message (no location prefix; the host adds rank and context), never an exception.
 *
 * Element types are ds.plan.DType values (F32 = 1 ... I1 = 7); reductions are
 * DS_REDUCE_SUM/MAX/MIN/AVG.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DS_CUDA_PLUGIN_ABI_VERSION 3u /* 2: ds_cuda_options.timeout_seconds; 3: ds_host_kernels */
#define DS_CUDA_PLUGIN_ENTRY "ds_cuda_plugin_v1"

enum ds_reduce_op { DS_REDUCE_SUM = 0, DS_REDUCE_MAX = 1, DS_REDUCE_MIN = 2, DS_REDUCE_AVG = 3 };

/* The host's communicator (MPI, or a world of one): the NCCL bootstrap broadcasts its unique
 * id over it, and the host-staged device communicator moves every collective through it.
 * Each call is collective with Communicator's contract (counts in elements) and returns 0, or
 * non-zero after which last_error(context) names the failure. */
struct ds_host_comm {
  void *context;
  int rank;
  int size;
  char name[32]; /* "mpi", "single" */
  int (*all_gather)(void *context, const void *in, void *out, int64_t count, int dtype);
  int (*reduce_scatter)(void *context, const void *in, void *out, int64_t count, int dtype,
                        int op);
  int (*all_reduce)(void *context, const void *in, void *out, int64_t count, int dtype, int op);
  int (*broadcast)(void *context, void *buf, int64_t count, int dtype, int root);
  int (*barrier)(void *context);
  const char *(*last_error)(void *context);
};

struct ds_cuda_options {
  char comm[16]; /* "auto" (NCCL unless two ranks share a GPU), "nccl" or "host" */
  int graphs;    /* capture programs into CUDA graphs where the communicator allows */
  int tf32;      /* f32 GEMMs on TF32 tensor cores */
  int device;    /* -1: local rank modulo the visible devices */
  int timeout_seconds; /* a wait on device work that holds NCCL collectives fails (and aborts
                          the NCCL communicator) after this long; 0: no bound */
};

/* ds-run's CPU side for offloaded plans (ZeRO-Offload / ZeRO-Infinity): the plugin runs
 * host-stream instructions (the optimizer step on host buffers) and io-stream instructions
 * (swap_in / swap_out through the rank's NVMe swap file, which ds-run owns) by calling back
 * into ds-run's CPU kernel table from CUDA host functions (cudaLaunchHostFunc), ordered
 * against the device streams by events. The callbacks call no CUDA function and may run on
 * two CUDA threads at once (the host and the io stream). Each returns 0, or non-zero with a
 * one-line message in error[0 .. error_size). */
struct ds_host_kernels {
  void *context;
  /* Runs instruction `instruction` of program `program` with ds-run's CPU kernel; its HOST
   * operands are at host_region + offset (the plugin's pinned host region), its NVME
   * operands in the swap file. swap_in / swap_out only submit their I/O: *ticket receives
   * the request for swap_wait (0 for every other kernel). */
  int (*run_instruction)(void *context, int program, int instruction, void *host_region,
                         uint64_t *ticket, char *error, size_t error_size);
  /* Returns when swap request `ticket` is complete (at once if it already was). */
  int (*swap_wait)(void *context, uint64_t ticket, char *error, size_t error_size);
  /* Synchronous swap-file reads and writes (uploads and downloads of NVME buffers). */
  int (*swap_read)(void *context, uint64_t offset, void *dst, uint64_t bytes, char *error,
                   size_t error_size);
  int (*swap_write)(void *context, uint64_t offset, const void *src, uint64_t bytes,
                    char *error, size_t error_size);
};

/* One rank's executor inside the plugin. */
typedef struct ds_cuda_executor ds_cuda_executor;

struct ds_cuda_plugin_api {
  uint32_t abi_version; /* DS_CUDA_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(struct ds_cuda_plugin_api) as the plugin was built */
  /* Visible CUDA devices (0 when the driver or a device is missing). */
  int (*device_count)(void);
  /* Parses and validates the plan (the .dsplan bytes, magic included; `plan_path` names it in
   * messages), allocates its regions and binds the host communicator, which must outlive the
   * executor, as must `host_kernels` (NULL: plans with host- or io-stream instructions or an
   * NVMe region are refused). NULL on failure, with the message in error[0 .. error_size). */
  ds_cuda_executor *(*create_executor)(const void *plan_bytes, size_t plan_size,
                                       const char *plan_path, const struct ds_host_comm *host,
                                       const struct ds_host_kernels *host_kernels,
                                       const struct ds_cuda_options *options, char *error,
                                       size_t error_size);
  /* Enqueues program `program` (an index into Plan.programs). */
  int (*run)(ds_cuda_executor *executor, int program);
  /* Runs instruction `instruction` of `program` alone and waits for it. */
  int (*run_instruction)(ds_cuda_executor *executor, int program, int instruction);
  /* Copies `bytes` (the buffer's full size) between host memory and buffer `buffer_id`;
   * download waits for all queued work. */
  int (*upload)(ds_cuda_executor *executor, uint32_t buffer_id, const void *src, uint64_t bytes);
  int (*download)(ds_cuda_executor *executor, uint32_t buffer_id, void *dst, uint64_t bytes);
  /* Highest arena byte touched by any executed instruction so far. */
  uint64_t (*measured_peak_bytes)(const ds_cuda_executor *executor);
  /* The same for the host region and the NVMe region (the swap file). */
  uint64_t (*measured_host_bytes)(const ds_cuda_executor *executor);
  uint64_t (*measured_nvme_bytes)(const ds_cuda_executor *executor);
  /* "cuda (NVIDIA H200, device 0, nccl 2.27.3, graphs, ...)", NUL-terminated, truncated. */
  void (*describe)(const ds_cuda_executor *executor, char *buf, size_t size);
  /* The message of the last failed call on this executor, NUL-terminated, truncated. */
  void (*last_error)(const ds_cuda_executor *executor, char *buf, size_t size);
  /* Waits for queued work and frees everything (DS_CUDA_PROFILE prints its tables here). */
  void (*destroy)(ds_cuda_executor *executor);
};

typedef const struct ds_cuda_plugin_api *(*ds_cuda_plugin_entry_fn)(void);
const struct ds_cuda_plugin_api *ds_cuda_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* DS_RUNTIME_CUDAPLUGINAPI_H */
