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
    (the persistent region), host and nvme. Transients `in host` (offload) get an arena
    of their own, planned the same way, that follows the host globals in the host
    region; NVMe globals and host transients are aligned to `io-alignment` for O_DIRECT. Sets `offset` on every `dsrt.alloc` and
    `dsrt.global`, `dsrt.offset` on arguments, and `dsrt.arena_bytes`,
    `dsrt.persistent_bytes`, `dsrt.host_bytes`, `dsrt.nvme_bytes`, `dsrt.peak_bytes`
    and `dsrt.alignment` on the module.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t",
           /*default=*/"::mlir::dsrt::kDefaultBufferAlignment",
           "Byte alignment of every buffer (a power of two)">,
    Option<"ioAlignment", "io-alignment", "int64_t", /*default=*/"4096",
           "Byte alignment of NVMe globals and host transients, which O_DIRECT swaps "
           "read and write (a power of two)">,
  ];
  let statistics = [
    Statistic<"numBuffers", "num-buffers", "Transient buffers placed">,
    Statistic<"transientBytes", "transient-bytes",
              "Sum of the transient buffers' sizes (the arena without reuse)">,
    Statistic<"arenaBytes", "arena-bytes", "Arena size after reuse">,
  ];
}

def BucketCollectivesPass : Pass<"ds-bucket-collectives", "::mlir::ModuleOp"> {
  let summary = "In-place all-reduces of whole globals become one all_reduce per bucket";
  let description = [{
    Runs last before --ds-plan-memory. In each program, `all_reduce` kernels on the comm
    stream that reduce a whole global in place (ZeRO stage 0's gradient accumulators at
    world > 1) are grouped, in program order, into buckets of at most `bucket-size`
    elements (DeepSpeed's reduce_bucket_size; a larger global stays alone): one
    `all_reduce` over a `dsrt.span` of the bucket's globals, at the place of the first,
    and the globals are declared one after another so that memory planning lays them out
    back to back. No bytes are copied and no buffer is added. A kernel joins the bucket
    only when it has the same reduction, element type and memory space, no kernel
    between the bucket's first all-reduce and it touches its global, and the global
    before it in the bucket fills a whole number of `alignment` units (memory planning
    would leave a gap otherwise); a global is in one bucket at most. Each element is
    reduced by the same collective operation on the same ranks' values.

    With `gather-bucket-size` > 0, runs of consecutive `all_gather` kernels (no other
    kernel between them) along axis 0 of a 1-D device transient into a whole global (the
    gathers of updated shards into their parameters that --ds-group-optimizer-updates
    leaves behind the multi-tensor optimizer step) of one element type and world size, of
    at most that many gathered elements in all, become one `concat` of the shards, one
    `all_gather` and one `split` of the gathered [W, total] rows into the globals seen as
    [W, p_i]: each element lands where its own gather put it.
    ```mlir
    dsrt.kernel "all_reduce" ins(%a : memref<16xf32>) outs(%a : memref<16xf32>) on comm
    dsrt.kernel "all_reduce" ins(%b : memref<4xf32>) outs(%b : memref<4xf32>) on comm
    // becomes, with @a.grad declared right before @b.grad
    %s = dsrt.span @a.grad, @b.grad : memref<20xf32>
    dsrt.kernel "all_reduce" ins(%s : memref<20xf32>) outs(%s : memref<20xf32>) on comm
    ```
  }];
  let options = [
    Option<"bucketSize", "bucket-size", "int64_t", /*default=*/"500000000",
           "Most elements per bucket (zero_optimization.reduce_bucket_size)">,
    Option<"alignment", "alignment", "int64_t",
           /*default=*/"::mlir::dsrt::kDefaultBufferAlignment",
           "The byte alignment --ds-plan-memory will use">,
    Option<"gatherBucketSize", "gather-bucket-size", "int64_t", /*default=*/"0",
           "Most gathered elements per bucket of shard all-gathers; 0 (the pass's "
           "default) buckets none. ds-opt passes zero_optimization.allgather_bucket_size "
           "(5e8): a bucket of n gathers is a concat, one all_gather and a split (on CUDA "
           "two launches each, DataMovement.cu) instead of n all_gathers">,
  ];
  let statistics = [
    Statistic<"numBuckets", "buckets", "all_reduce kernels over spans created">,
    Statistic<"numBucketed", "bucketed", "all_reduce kernels folded into them">,
    Statistic<"numGatherBuckets", "gather-buckets", "all_gather kernels of buckets created">,
    Statistic<"numGathersBucketed", "gathers-bucketed", "all_gather kernels folded into them">,
  ];
}

def SpanConcatInputsPass : Pass<"ds-span-concat-inputs", "::mlir::ModuleOp"> {
  let summary = "A concat reads consecutive whole globals as one span; a concat of one span goes";
  let description = [{
    Runs after --ds-fuse-elementwise, before --ds-bucket-accumulation,
    --ds-bucket-collectives and --ds-plan-memory. ZeRO stage 3 concatenates the shards of a
    prefetch bucket's parameters (device globals) into one send buffer for the bucket's
    `all_gather`: one copy per parameter. Here the globals are laid out so that the inputs
    of a `concat` follow one another in memory where they can, and each run of consecutive
    inputs that are whole globals laid out back to back becomes one `dsrt.span` input. The
    adjacencies are taken from the concats in program order, each when it agrees with those
    taken before (a global has one place: one global before it and one after it, no
    cycle); a global joins only when it is in device memory and in no other span, and the
    global before it fills a whole number of `alignment` units (memory planning would leave
    a gap otherwise). A concat on the compute stream whose inputs are contiguous ranges of
    its result (no dim before the axis but 1s) qualifies. When its inputs are one span, its
    result is a device transient that only it writes, and no kernel writes the globals
    between it and a reader of the result, the readers read the span and the concat goes.
    The bytes read are the bytes the concat copied: the same bits.
    ```mlir
    %a = dsrt.param @a : memref<16xf32>
    %b = dsrt.param @b : memref<4xf32>
    %c = dsrt.alloc : memref<20xf32>
    dsrt.kernel "concat" ins(%a, %b : memref<16xf32>, memref<4xf32>) outs(%c : memref<20xf32>) {attrs = {axis = 0 : i64}}
    dsrt.kernel "all_gather" ins(%c : memref<20xf32>) outs(%g : memref<40xf32>) on comm {attrs = {axis = 0 : i64}}
    // becomes, with @a declared right before @b
    %s = dsrt.span [@a, @b] : memref<20xf32>
    dsrt.kernel "all_gather" ins(%s : memref<20xf32>) outs(%g : memref<40xf32>) on comm {attrs = {axis = 0 : i64}}
    ```
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t",
           /*default=*/"::mlir::dsrt::kDefaultBufferAlignment",
           "The byte alignment --ds-plan-memory will use">,
  ];
  let statistics = [
    Statistic<"numSpans", "spans", "Spans read by concats or in their place">,
    Statistic<"numReplaced", "replaced-concats", "Concats replaced by a span">,
  ];
}

def BucketAccumulationPass : Pass<"ds-bucket-accumulation", "::mlir::ModuleOp"> {
  let summary = "The adds that accumulate a split's pieces into globals become one add per span";
  let description = [{
    Runs after --ds-span-concat-inputs, before --ds-bucket-collectives and
    --ds-plan-memory. ZeRO stages 2 and 3 reduce-scatter a bucket of gradient shards at once, split the
    result into one piece per gradient and add each piece into its gradient accumulator:
    one `add` kernel (and one copy of the split) per parameter. Here consecutive pieces
    of a `split` whose only use is an `add` into a whole global in place (`g = g + piece`
    or `g = piece + g`, same type, no broadcast) form a run, and a run becomes one `add`
    over a `dsrt.span` of its globals, at the split's place, reading the run's bytes of the
    split's input, which are contiguous when every dim before the split axis is 1; the
    globals are declared one after another so that memory planning lays them out back to
    back. The split keeps the other pieces and one piece per run, and goes when one run
    takes every piece. A piece joins the run when its add has the same attributes, stream
    and operand order, its global the same memory space (not NVMe) and is in no other run
    or span, no kernel between the split and its add touches its global, and the global
    before it fills a whole number of `alignment` units (memory planning would leave a gap
    otherwise). Each element gets the same add of the same two values: the same bits.
    ```mlir
    %p:2 = dsrt.alloc, dsrt.alloc
    dsrt.kernel "split" ins(%x : memref<1x20xf32>) outs(%p0, %p1 : memref<1x16xf32>, memref<1x4xf32>) {attrs = {axis = 1 : i64, sizes = array<i64: 16, 4>}}
    dsrt.kernel "add" ins(%a, %p0v : memref<16xf32>, memref<16xf32>) outs(%a : memref<16xf32>)
    dsrt.kernel "add" ins(%b, %p1v : memref<4xf32>, memref<4xf32>) outs(%b : memref<4xf32>)
    // becomes, with @a.grad declared right before @b.grad
    %s = dsrt.span @a.grad, @b.grad : memref<20xf32>
    %v = dsrt.view %x : memref<1x20xf32> to memref<20xf32>
    dsrt.kernel "add" ins(%s, %v : memref<20xf32>, memref<20xf32>) outs(%s : memref<20xf32>)
    ```
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t",
           /*default=*/"::mlir::dsrt::kDefaultBufferAlignment",
           "The byte alignment --ds-plan-memory will use">,
  ];
  let statistics = [
    Statistic<"numSpans", "spans", "add kernels over spans created">,
    Statistic<"numFolded", "folded-adds", "add kernels folded into them">,
  ];
}

def SpanZeroingPass : Pass<"ds-span-zeroing", "::mlir::ModuleOp"> {
  let summary = "The zeroings of globals that lie back to back in a span become one fill";
  let description = [{
    Runs after --ds-bucket-collectives. In each program, the kernels that write zeros into
    a whole device global (a zero `constant` or `fill`, or a whole-buffer copy of a buffer
    that holds zeros: the gradient accumulators' zeroing after an optimizer step that did
    not zero them itself, e.g. ZeRO stage 1 at world > 1) are grouped by the spans that
    list their globals: a run of two or more consecutive globals of one span, each with
    exactly one zeroing, becomes one `fill` of 0 over a `dsrt.span` of the run, placed
    where the run's first zeroing was. Each global is then zeroed earlier than before, so
    a global joins the run only when no kernel touches it between that place and its own
    zeroing; from its zeroing on it holds zeros either way (a later copy of its zeros
    reads the same). The zeroings, and a transient of zeros only they copied from, go.
    ```mlir
    dsrt.kernel "constant" outs(%a : memref<16xf32>) {attrs = {value = dense<0.0> : tensor<16xf32>}}
    dsrt.kernel "copy" ins(%a : memref<16xf32>) outs(%b : memref<16xf32>) on copy
    // with @a, @b listed by a span, becomes
    %s = dsrt.span [@a, @b] : memref<32xf32>
    dsrt.kernel "fill" outs(%s : memref<32xf32>) {attrs = {value = 0.0 : f32}}
    ```
  }];
  let statistics = [
    Statistic<"numFills", "fills", "fill kernels over spans created">,
    Statistic<"numZeroings", "zeroings", "zeroing kernels folded into them">,
  ];
}

def ElideStateCopiesPass : Pass<"ds-elide-state-copies", "::mlir::ModuleOp"> {
  let summary = "Kernels write updated module state in place instead of through a copy";
  let description = [{
    Runs after --ds-insert-transfers, before --ds-plan-memory. The lowering writes each
    new value of a `dsrt.global` (an optimizer update, a gradient sum, a zeroed
    accumulator, a 16-bit parameter cast from its fp32 master) into a transient and then
    copies it into the global: one more launch and two more passes over the bytes. When a
    whole-buffer `copy` moves a device transient into a device global, the transient's one
    writer is made to write the global directly and the copy is erased, provided that:
    - the transient has exactly one writer, before the copy, not on the host or io stream,
      and is only read by kernels (no views, not returned);
    - no kernel other than the writer touches the global between the writer and the copy,
      and no kernel writes it after the copy while the transient is still read;
    - if the writer also reads the global, it reads the whole buffer and the kernel
      catalogue allows the kernel to run in place.
    The values computed are the same; only where they are written changes.
    ```mlir
    %u = dsrt.alloc : memref<4xf32>
    dsrt.kernel "add" ins(%g, %d : memref<4xf32>, memref<4xf32>) outs(%u : memref<4xf32>)
    dsrt.kernel "copy" ins(%u : memref<4xf32>) outs(%g : memref<4xf32>) on copy
    // becomes
    %g2 = dsrt.param @w.grad : memref<4xf32>
    dsrt.kernel "add" ins(%g, %d : memref<4xf32>, memref<4xf32>) outs(%g2 : memref<4xf32>)
    ```
  }];
  let statistics = [
    Statistic<"numElided", "elided-copies", "Copies into globals removed">,
  ];
}

def GroupOptimizerUpdatesPass : Pass<"ds-group-optimizer-updates", "::mlir::ModuleOp"> {
  let summary = "Runs the per-parameter Adam steps as one multi_adam_update kernel per group";
  let description = [{
    Runs after --ds-elide-state-copies, before --ds-fuse-elementwise, on apply_step
    programs. A member is an `adam_update` on the compute stream whose moments are device
    globals (whole, or seen through views) updated in place and whose master (or f32
    parameter) is either such a global or, for an f32 parameter at ZeRO stages 1-3, this
    rank's shard in a transient that a kernel before it wrote (the copy by rank). The new
    value goes into the same global, or into a transient whose readers (the all_gather
    into the whole parameter) move behind the group kernel; a plain copy of it back into
    the global it was read from (world 1) is absorbed and the update made in place. The
    gradient is a device global read through at most a `cast` to f32 (bf16/f16
    gradients) and `mul`s by f32 scalars (unscaling, clipping) into transients only that
    chain reads, or a transient written before (the rank's shard of a reduced gradient)
    that the group kernel then reads where it is. For 16-bit parameters the next access
    of the master must be the `cast` that writes the working copy: a device global of the
    gradient's dtype, or a transient whose readers (the all_gather of a ZeRO-3 persistent
    parameter, or of a stage-1/2 one) move behind the group kernel. The gradient's next
    access, when it writes +0.0 (a `copy` of a zero constant, or the constant in place),
    is absorbed too. Members that share the gradient dtype, the attributes, lr, step,
    finite and the scales become `multi_adam_update` kernels (operands that are views of
    another shape seen in the master's shape): one right after the last member of each
    run, in program order, whose transient operands fit in half of what the largest
    member's own chain held (the group kernel keeps them alive at once; at ZeRO stage 1
    every rank shard of gradient and parameter). A member is left alone when a kernel
    outside the group between it and the group's end touches one of its globals (those
    its moved readers write included) or writes one of its scalars.
    Not grouped: lamb and sgd, offloaded (host) state. Every element is computed as the
    kernels it replaces computed it, bit for bit; the transients a member reads or writes
    live until the group kernel or its moved readers.
    ```mlir
    dsrt.kernel "cast" ins(%g : memref<8xbf16>) outs(%t : memref<8xf32>)
    dsrt.kernel "adam_update" ins(%p, %t, %m, %v, %lr, %step : ...) outs(%p, %m, %v : ...)
    dsrt.kernel "cast" ins(%p : memref<8xf32>) outs(%w : memref<8xbf16>)
    // becomes, with the other parameters of the group
    dsrt.kernel "multi_adam_update" ins(%lr, %step, %p, %g, %m, %v, ... : ...)
        outs(%p, %m, %v, %w, ... : ...) {attrs = {count = 2 : i64, working_copy = true, ...}}
    ```
  }];
  let statistics = [
    Statistic<"numGroups", "groups", "multi_adam_update kernels created">,
    Statistic<"numGrouped", "grouped-updates", "adam_update kernels folded into them">,
  ];
}

def FoldAttentionTransposesPass
    : Pass<"ds-fold-attention-transposes", "::mlir::ModuleOp"> {
  let summary = "Attention kernels read and write [B, S, H, D] buffers instead of transposing them";
  let description = [{
    Runs after --ds-convert-to-runtime, before --ds-plan-memory. Multi-head attention
    exports project q, k and v as [B, S, H, D] and transpose each to [B, H, S, D] for the
    attention, whose output is transposed back for the output projection; the backward
    pass transposes the output gradient in and dq, dk, dv out. For each `attention` kernel
    and the `attention_grad` kernels that read its lse, when
    - each of q, k, v (and each grad's g) is written only by a `transpose` with perm
      [0, 2, 1, 3] of a transient that one kernel writes before it, and read only by
      these kernels, and
    - the output (and each of dq, dk, dv) is read only by one such transpose (and, for
      the output, by the grads), the transpose's result a transient that only it writes,
    the kernels get `layout = "bshd"`: they read the transposes' sources and write the
    transposes' results, and the transposes go (4 launches and 4 copies of the
    activations forward, 4 backward, per layer). When any condition fails the group is
    left as it is. The kernels compute the same bits in either layout (row strides only).
    ```mlir
    dsrt.kernel "transpose" ins(%qs : memref<2x8x4x16xf32>) outs(%q : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
    ... (k, v alike)
    dsrt.kernel "attention" ins(%q, %k, %v : ...) outs(%o, %lse : memref<2x4x8x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, scale = 2.500000e-01 : f32}}
    dsrt.kernel "transpose" ins(%o : memref<2x4x8x16xf32>) outs(%os : memref<2x8x4x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
    // becomes
    dsrt.kernel "attention" ins(%qs, %ks, %vs : ...) outs(%os, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
    ```
  }];
  let statistics = [
    Statistic<"numFolded", "num-folded", "Attention kernels switched to layout bshd (forward, with their grads)">,
    Statistic<"numTransposes", "num-transposes", "Transpose kernels removed">,
  ];
}

def PackAttentionQkvPass : Pass<"ds-pack-attention-qkv", "::mlir::ModuleOp"> {
  let summary = "Attention reads q, k, v from the packed qkv projection and writes one packed dqkv";
  let description = [{
    Runs after --ds-fold-attention-transposes, before --ds-plan-memory. GPT-2 style
    attention projects q, k and v with one gemm into x [..., 3 H D] and a `split` copies the
    three parts out; the backward `concat`s dq, dk and dv into the gradient the gemms read.
    For each `attention` kernel (layout bshd, no dropout, compute stream) and the
    `attention_grad` kernels that read its lse (the same q, k, v and out, layout bshd),
    when
    - q, k and v are [B, S, H, D] buffers of one type that are (views of) outputs 0, 1 and
      2 of one `split` of x along its last axis into three parts of H D, x a device buffer
      that nothing writes between the split and the group's last kernel, and the parts are
      device transients read only by these kernels, each only as its q, k or v;
    - each grad's dq, dk and dv are device transients it alone writes, read only by one
      `concat` along the last axis that takes them in that order, and the concat's result is
      a device transient only the concat writes, untouched between the grad and the concat,
    the forward becomes `packed_attention` reading x as qkv [B, S, 3, H, D] (a view), each
    grad becomes `packed_attention_grad` writing the concat's result (viewed the same way),
    and the split, the concats and the parts go: a launch and a copy of x forward, and a
    launch and a copy of dqkv backward, per layer. x, kept alive for the grads instead of
    the parts, has the parts' bytes. When any condition fails the group is left as it is.
    The packed kernels compute the same bits (row strides only).
    ```mlir
    dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%q, %k, %v : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
    ... (%q4, %k4, %v4: views of %q, %k, %v as memref<2x8x4x16xf32>)
    dsrt.kernel "attention" ins(%q4, %k4, %v4 : ...) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
    // becomes
    %qkv = dsrt.view %x : memref<2x8x192xf32> to memref<2x8x3x4x16xf32>
    dsrt.kernel "packed_attention" ins(%qkv : memref<2x8x3x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, scale = 2.500000e-01 : f32}}
    ```
  }];
  let statistics = [
    Statistic<"numForwards", "num-forwards", "attention kernels made packed_attention (each removes a split)">,
    Statistic<"numGrads", "num-grads", "attention_grad kernels made packed_attention_grad (each removes a concat)">,
  ];
}

def FuseGemmPass : Pass<"ds-fuse-gemm", "::mlir::ModuleOp"> {
  let summary = "Folds transposes, bias/residual adds and gradient accumulation into gemm kernels";
  let description = [{
    Runs after --ds-convert-to-runtime, before --ds-insert-transfers (a transposed weight
    that lives on the host is then moved as it is and read with the trans flag, as on the
    device). On the compute stream:
    - `matmul(a, b)` with a 2-D `b` and an `a` of rank >= 2 becomes a `gemm` over 2-D views
      (the batch folded into the rows: the library call the matmul kernel makes);
    - a gemm operand written by a 2-D `transpose` (perm [1, 0]) of `s` is read as `s` with
      its trans flag flipped, provided nothing writes `s` in between; the transpose goes
      when no other kernel reads its result;
    - a 2-D `transpose` of a gemm result that nothing else reads becomes the gemm with the
      operands swapped and both flags flipped ((op(a) op(b))^T = op(b)^T op(a)^T);
    - `add(p, c)` (either order) of a gemm result `p` that only the add reads, with `c` a row
      broadcast along the rows (a bias, `[n]` or `[1, ..., n]`) or of the result's shape (a
      residual, or the gradient the product accumulates into), `c` a global's bytes or an
      argument (a transient would stay alive until the product: a ZeRO-3 gathered bias), `c`
      and the add's result in device memory, becomes the gemm with `c` and beta 1 (where the
      product was when `c` and the result are free there, else where the add was); when the
      add's result is copied into the global `c` came from, --ds-elide-state-copies makes
      the gemm write the global in place.
    Options switch each fold off, for comparisons. The matmul rewrite and the transposes
    compute the same bits (same library call, transposes are flags). A folded add rounds
    once where the kernels rounded the product and then the sum: bf16/fp16 results (and
    fp32 ones where the library splits the contraction into blocks that it accumulates into
    c) differ in the last bits, towards the exact value.
    ```mlir
    dsrt.kernel "transpose" ins(%w : memref<3x4xf32>) outs(%wt : memref<4x3xf32>) {attrs = {perm = array<i64: 1, 0>}}
    dsrt.kernel "matmul" ins(%x, %wt : memref<2x5x4xf32>, memref<4x3xf32>) outs(%y : memref<2x5x3xf32>)
    dsrt.kernel "add" ins(%bias, %y : memref<3xf32>, memref<2x5x3xf32>) outs(%z : memref<2x5x3xf32>)
    // becomes
    %x2 = dsrt.view %x : memref<2x5x4xf32> to memref<10x4xf32>
    %z2 = dsrt.view %z : memref<2x5x3xf32> to memref<10x3xf32>
    dsrt.kernel "gemm" ins(%x2, %w, %bias : memref<10x4xf32>, memref<3x4xf32>, memref<3xf32>)
        outs(%z2 : memref<10x3xf32>) {attrs = {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = false, trans_b = true}}
    ```
  }];
  let options = [
    Option<"matmuls", "matmuls", "bool", /*default=*/"true",
           "Rewrite matmuls with a 2-D right operand as gemms">,
    Option<"transposes", "transposes", "bool", /*default=*/"true",
           "Fold 2-D transposes of gemm operands and results into the trans flags">,
    Option<"adds", "adds", "bool", /*default=*/"true",
           "Fold bias, residual and accumulation adds into gemm's c">,
  ];
  let statistics = [
    Statistic<"numMatmuls", "matmuls", "matmul kernels rewritten as gemm">,
    Statistic<"numTransposes", "transposes", "transpose kernels folded into trans flags">,
    Statistic<"numAdds", "adds", "add kernels folded into gemm's c">,
  ];
}

def FoldAccumulationPass : Pass<"ds-fold-accumulation", "::mlir::ModuleOp"> {
  let summary = "Bias, layer-norm and residual gradients accumulate in the kernel that computes them";
  let description = [{
    Runs after --ds-fuse-gemm, before --ds-insert-transfers. The lowering computes a
    parameter's gradient contribution into a transient and adds it to the gradient: a
    `reduce_sum` (a bias gradient) and then an `add`, a `layer_norm_grad` and then two
    `add`s (scale and bias), and the residual stream's gradient is the layer norm's input
    gradient plus the residual branch's: one more `add`. The adds go when, on the compute
    stream:
    - the contribution (a `reduce_sum`'s result; `layer_norm_grad`'s dx, and then both of
      its parameter gradients or neither) is a device transient that the kernel writes and
      only that add reads;
    - the add sums it with a buffer `acc` of the result's type (no broadcast), and `acc`
      and the result are in device memory;
    - `acc` and the result are defined before the kernel (or are a global's buffer or an
      alloc, moved there), nothing writes `acc` or touches the result between the kernel
      and the add, and the result is `acc`'s bytes or none of the kernel's operands.
    The kernel then takes `acc` as its trailing acc input(s) and writes the add's result
    (a `reduce_sum` whose kept 1s the add's operands do not have drops them, keepdims
    false, so that no view is needed and --ds-elide-state-copies can write a gradient
    global in place; other shapes are views).
    The kernel rounds its result to the dtype and then adds as the add kernel does (f16/
    bf16: the f32 sum rounded once), so every bit is the unfused kernels'.
    ```mlir
    %s = dsrt.alloc : memref<1x3xbf16>
    dsrt.kernel "reduce_sum" ins(%dy : memref<5x3xbf16>) outs(%s : memref<1x3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = true}}
    %v = dsrt.view %s : memref<1x3xbf16> to memref<3xbf16>
    dsrt.kernel "add" ins(%g, %v : memref<3xbf16>, memref<3xbf16>) outs(%g : memref<3xbf16>)
    // becomes (keepdims false: the result has the add's shape, no view)
    dsrt.kernel "reduce_sum" ins(%dy, %g : memref<5x3xbf16>, memref<3xbf16>) outs(%g : memref<3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
    ```
  }];
  let statistics = [
    Statistic<"numFolded", "folded-adds", "add kernels folded into acc inputs">,
  ];
}

def FuseBiasGradPass : Pass<"ds-fuse-bias-grad", "::mlir::ModuleOp"> {
  let summary = "Bias gradients come out of the weight-gradient gemm; their accumulations run as multi_add kernels";
  let description = [{
    Runs after --ds-elide-state-copies (the reduce_sums then accumulate into the gradient
    globals in place), before --ds-fuse-elementwise. A Linear layer's bias
    gradient is the sum over the tokens of its output gradient dY, the dim its weight
    gradient's gemm contracts. A `reduce_sum ins(x, acc) outs(r)` on the compute stream,
    with `r` the bytes of `acc`, a whole device global (a gradient accumulated in place),
    becomes the `db` output of a `gemm` of the same block (`bias_grad` a or b) when:
    - one operand of the gemm is `x`'s bytes (the same buffer through views) and the
      reduced axes are exactly the dims of `x` that make up that operand's contraction dim
      (the leading dims when op() reads it as [K, *], the trailing ones when as [*, K]),
      `acc` holding as many elements as the other dim;
    - the gemm has alpha 1, no db yet, a float dtype, and writes neither `x` nor `acc`;
    - nothing writes `x` between the reduce_sum and the gemm, and nothing reads or writes
      the gradient between the reduce_sum and the gemm (whichever comes first).
    A `reduce_sum ins(x) outs(r)` without acc whose result is a device transient (ZeRO-2/3
    at world > 1: the sum is reduce-scattered) becomes the db of such a gemm the same way
    when nothing touches `r` between the two kernels and `r` is defined before the gemm
    (or is an alloc, moved there): the gemm writes `r` itself, no accumulation follows.
    With an acc, the gemm writes db into a new transient; the accumulation `acc += db` runs in a
    `multi_add` placed before the first kernel after the reduce_sum that touches the
    gradient (or at the end of the block): accumulations whose windows overlap share one
    multi_add (one dtype, distinct gradients, at most kMaxMultiAddTensors), so at world 1
    a micro-step accumulates all its bias gradients in one launch, and at world > 1 each
    group runs before the first collective of its gradients. Every bit is the reduce_sum's
    (the same f64 sum, rounded to the dtype, then the add kernel's arithmetic).
    ```mlir
    dsrt.kernel "reduce_sum" ins(%dy3, %g : memref<2x4x3xbf16>, memref<3xbf16>) outs(%g : memref<3xbf16>) {attrs = {axes = array<i64: 0, 1>, keepdims = false}}
    dsrt.kernel "gemm" ins(%dy, %x, %gw : memref<8x3xbf16>, memref<8x5xbf16>, memref<3x5xbf16>) outs(%gw : memref<3x5xbf16>) {attrs = {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = true, trans_b = false}}
    // becomes
    %db = dsrt.alloc : memref<3xbf16>
    dsrt.kernel "gemm" ins(%dy, %x, %gw : ...) outs(%gw, %db : memref<3x5xbf16>, memref<3xbf16>) {attrs = {..., bias_grad = "a"}}
    ...
    dsrt.kernel "multi_add" ins(%g, %db, ... : memref<3xbf16>, memref<3xbf16>, ...) outs(%g, ... : memref<3xbf16>, ...)
    ```
  }];
  let options = [
    Option<"group", "group", "bool", /*default=*/"true",
           "Group the accumulations into shared multi_add kernels (false: one right after each gemm)">,
  ];
  let statistics = [
    Statistic<"numFused", "fused-reductions", "reduce_sum kernels computed by gemms">,
    Statistic<"numGroups", "multi-adds", "multi_add kernels created">,
  ];
}

def FuseLossGradPass : Pass<"ds-fuse-loss-grad", "::mlir::ModuleOp"> {
  let summary = "Computes the cross-entropy loss and its gradient in one pass over the scores";
  let description = [{
    A `softmax_cross_entropy_loss ins(scores, labels[, weights]) outs(loss)` (no log_prob)
    and a later `softmax_cross_entropy_loss_grad ins(g, scores, labels[, weights])
    outs(dscores)` of the same block, with the same attributes and the same scores, labels
    and weights (the same bytes), become one `softmax_cross_entropy_loss_with_grad ins(g,
    scores, labels[, weights]) outs(loss, dscores)` where the loss was, which reads the
    scores once for both: on GPT-2's [8192, 50257] logits that is one of three
    logits-sized passes saved. It runs there when the incoming gradient `g` is known by
    then: its buffer is defined before the loss (or is an alloc or a global's buffer,
    moved there), and the kernels between the two that touch it only write it without
    reading anything (the backward seed's `constant`, moved before the loss; the fp16
    seed is the `loss_scale` global, written in the previous step). Also nothing between
    the two writes the scores, labels or weights, nothing touches `dscores`, whose alloc
    moves before the loss, and `g` and the loss have one dtype. The kernel computes the
    loss as `softmax_cross_entropy_loss` does and `dscores` as the gradient kernel does,
    from one maximum and one set of exponentials per row: the same bits.

    When the scores are a transient that nothing reads after the fused kernel and
    `dscores` a transient of as many elements of the same dtype that nothing touches
    before it, `dscores` is written over the scores' bytes (its alloc becomes a view of
    theirs; the kernel reads each row's scores before writing its gradient): a language
    model's logits are its largest activation (823 MB for GPT-2 124M at 8 x 1024 tokens in
    bf16), and their gradient no longer needs a second buffer of that size.
    ```mlir
    dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {reduction = "mean"}}
    %g = dsrt.alloc : memref<f32>
    dsrt.kernel "constant" outs(%g : memref<f32>) {attrs = {value = dense<1.0> : tensor<f32>}}
    %ds = dsrt.alloc : memref<8x10xf32>
    dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
    // becomes
    %g = dsrt.alloc : memref<f32>
    dsrt.kernel "constant" outs(%g : memref<f32>) {attrs = {value = dense<1.0> : tensor<f32>}}
    %ds = dsrt.alloc : memref<8x10xf32>
    dsrt.kernel "softmax_cross_entropy_loss_with_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%l, %ds : memref<f32>, memref<8x10xf32>) {attrs = {reduction = "mean"}}
    ```
  }];
  let statistics = [
    Statistic<"numFused", "fused-losses", "loss and loss-gradient kernel pairs fused">,
    Statistic<"numInPlace", "in-place-gradients", "fused losses writing dscores over the scores">,
  ];
}

def FuseElementwisePass : Pass<"ds-fuse-elementwise", "::mlir::ModuleOp"> {
  let summary = "Groups chains of elementwise kernels into fused_elementwise kernels";
  let description = [{
    Runs after --ds-elide-state-copies, before --ds-plan-memory. A group is a set of
    elementwise kernels (add sub mul div pow max min equal less greater where neg relu
    identity sqrt exp log tanh sin cos abs reciprocal erf sigmoid gelu gelu_grad cast, and
    scalar f32 `constant`/`fill`) on the compute stream, over f32, bf16, f16 and i1 buffers,
    in which every intermediate is a device transient written by one member and read only by
    other members (a DAG: x * x, or a value two members read, is one register), and has the shape of the group's output (scalar
    constants excepted: they become `const` instructions). The group becomes one
    `fused_elementwise` kernel at the position of its last member, whose `program` attribute
    lists the members in order (ds/runtime/FusedProgram.h); the intermediates disappear.
    A member is left out when a kernel between it and the group's last member writes a
    buffer it reads, or when it reads the group's output buffer other than as the whole
    buffer. Every instruction rounds where its kernel stored, so the values are the
    unfused kernels' bit for bit.
    ```mlir
    %t = dsrt.alloc : memref<4xbf16>
    dsrt.kernel "mul" ins(%a, %b : memref<4xbf16>, memref<4xbf16>) outs(%t : memref<4xbf16>)
    dsrt.kernel "cast" ins(%t : memref<4xbf16>) outs(%r : memref<4xf32>)
    // becomes
    dsrt.kernel "fused_elementwise" ins(%a, %b : memref<4xbf16>, memref<4xbf16>)
        outs(%r : memref<4xf32>) {attrs = {program = array<i64: 2, 4, 0, 1, 0, 28, 1, 2, 0, 0>}}
    ```
  }];
  let statistics = [
    Statistic<"numGroups", "fused-groups", "fused_elementwise kernels created">,
    Statistic<"numFused", "fused-kernels", "Kernels folded into them">,
  ];
}

def GenerateFusedKernelsPass : Pass<"ds-generate-fused-kernels", "::mlir::ModuleOp"> {
  let summary = "Compiles every fused_elementwise kernel to PTX through gpu -> NVVM";
  let description = [{
    Runs after --ds-fuse-elementwise. For every `fused_elementwise` kernel, builds a GPU
    kernel whose body is its program in arith/math ops (bf16/f16 loaded into f32 and
    rounded where the program rounds, inputs broadcast by index arithmetic from their
    static shapes), one per distinct (program, dtypes, shapes); lowers the gpu.module with
    upstream convert-gpu-to-nvvm, links libdevice and emits PTX for `chip` with LLVM's
    NVPTX backend. The PTX module is the module's `dsrt.generated_ptx` (with
    `dsrt.generated_chip`), and each kernel names its entry in `dsrt.generated_entry`; the
    plan carries both, and the CUDA executor launches the entry instead of interpreting
    the program (which stays: it is the CPU path and the fallback).
    ```mlir
    dsrt.kernel "fused_elementwise" ins(%a, %b : memref<4xbf16>, memref<4xbf16>)
        outs(%r : memref<4xf32>) {attrs = {program = array<i64: 2, 4, 0, 1, 0, 28, 1, 2, 0, 0>}}
    // gains
        {dsrt.generated_entry = "fused_0"}
    ```
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "The SM the PTX targets (the driver JITs it for newer GPUs)">,
    Option<"libdevice", "libdevice", "std::string",
           /*default=*/"\"/usr/local/cuda/nvvm/libdevice/libdevice.10.bc\"",
           "libdevice bitcode, for the math functions (when absent: "
           "$CUDA_HOME or $CUDA_PATH/nvvm/libdevice/libdevice.10.bc)">,
    Option<"ptxFile", "ptx-file", "std::string", /*default=*/"",
           "Also write the PTX module to this file (for ptxas and inspection)">,
  ];
  let statistics = [
    Statistic<"numKernels", "generated-kernels", "fused_elementwise kernels given generated code">,
    Statistic<"numEntries", "generated-entries", "Distinct generated kernels">,
  ];
}

def InsertTransfersPass : Pass<"ds-insert-transfers", "::mlir::ModuleOp"> {
  let summary = "Runs kernels on offloaded state on the host and moves the bytes between tiers";
  let description = [{
    Runs after --ds-convert-to-runtime, before --ds-plan-memory, on a module whose
    globals carry memory spaces (--ds-offload). Every program is rewritten so that no
    kernel touches memory it cannot reach:
    - a kernel that reads or writes a `host` global, or whose non-scalar inputs are all
      on the host, runs on the `host` stream (the optimizer step of ZeRO-Offload, and
      the cast of the updated fp32 master to the 16-bit parameter); its device inputs
      are copied device-to-host first (`copy` on the copy stream; a device scalar is
      copied once per program), and its outputs are host transients (`dsrt.alloc in
      host`);
    - a device kernel (and every collective) reading a host buffer gets a
      host-to-device copy first: the updated 16-bit shard crosses before its
      all-gather; an offloaded stage-3 parameter shard crosses (swap-in, then copy)
      before the all-gather ahead of its own, so the copy overlaps that gather;
    - an `nvme` global is never touched by a kernel: a read becomes `swap_in` (io
      stream) into a host transient, a write `swap_out` from one. Swap-ins of the
      optimizer step are issued `read-ahead` sub-groups before the update that needs
      them (a sub-group closes at the update that brings it to `sub-group-size`
      elements, as DeepSpeed's `sub_group_size`), so the disk streams while the host
      computes: with k swapped tensors per update, `buffer-count` / k sub-groups are
      in flight, so the read-ahead is that minus one (DeepSpeed's 4 buffers for Adam's
      p, m, v, g step one sub-group at a time). The memory planner then sizes the
      staging buffers.
    A copy between spaces is itself the transfer and is left alone.
    ```mlir
    %g = dsrt.alloc in host : memref<256xf32>
    dsrt.kernel "copy" ins(%grad : memref<256xf32>) outs(%g : memref<256xf32>) on copy
    dsrt.kernel "adam_update" ins(%p, %g, ...) outs(...) on host
    ```
  }];
  let options = [
    Option<"bufferCount", "buffer-count", "int64_t", /*default=*/"4",
           "Host staging buffers for NVMe optimizer state (offload_optimizer."
           "buffer_count): sub-groups are swapped in ahead while buffers allow">,
    Option<"subGroupSize", "sub-group-size", "int64_t", /*default=*/"1000000000",
           "Elements per sub-group of the offloaded optimizer step">,
  ];
  let statistics = [
    Statistic<"numHostKernels", "num-host-kernels", "Kernels moved to the host">,
    Statistic<"numCopies", "num-copies", "Device-host copies inserted">,
    Statistic<"numSwaps", "num-swaps", "NVMe swap-ins and swap-outs inserted">,
    Statistic<"numPrefetched", "num-prefetched",
              "Offloaded parameter shards moved to the device one all-gather ahead">,
  ];
}

#endif // DS_RUNTIME_TRANSFORMS_PASSES_TD
