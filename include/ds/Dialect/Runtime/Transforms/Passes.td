// Passes over the `dsrt` dialect.
#ifndef DS_RUNTIME_TRANSFORMS_PASSES_TD
#define DS_RUNTIME_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PlanMemoryPass : Pass<"ds-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Assigns arena offsets by liveness and region offsets to globals";
  let description = [{
    For every program (function with `dsrt.role`), computes each transient buffer's live
    range over the op order (function arguments live from the start, returned buffers to
    the end) and places buffers in the arena so that no two buffers alive at the same
    instruction overlap: largest first, each at the lowest aligned offset that fits.
    Programs run one after another, so they share the arena. Each memory space has one
    region per rank, in which its `dsrt.global`s are laid out one after another: device
    (the persistent region), host and nvme. Sets `offset` on every `dsrt.alloc` and
    `dsrt.global`, `dsrt.offset` on arguments, and `dsrt.arena_bytes`,
    `dsrt.persistent_bytes`, `dsrt.host_bytes`, `dsrt.nvme_bytes`, `dsrt.peak_bytes`
    and `dsrt.alignment` on the module.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "Byte alignment of every buffer (a power of two)">,
  ];
  let statistics = [
    Statistic<"numBuffers", "num-buffers", "Transient buffers placed">,
    Statistic<"transientBytes", "transient-bytes",
              "Sum of the transient buffers' sizes (the arena without reuse)">,
    Statistic<"arenaBytes", "arena-bytes", "Arena size after reuse">,
  ];
}

#endif // DS_RUNTIME_TRANSFORMS_PASSES_TD
