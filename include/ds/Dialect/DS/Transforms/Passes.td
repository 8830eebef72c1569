// Passes over the `ds` dialect.
#ifndef DS_TRANSFORMS_PASSES_TD
#define DS_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FuseAttentionPass : Pass<"ds-fuse-attention", "::mlir::ModuleOp"> {
  let summary = "Rewrites the attention subgraphs of ONNX exports into ds.attention";
  let description = [{
    Recognises softmax(mask(scale * q kᵀ)) v as torch.onnx.export writes it — a matmul of
    q with kᵀ (a transpose of k, or any other [.., D, S] value), the scale as scalar Mul or
    Div on the scores or on q and k, masks as Where with a -inf (or <= -1e30) fill over a
    boolean condition or Add of a float mask computed from constants and buffers, Softmax on
    the last axis, an optional Dropout of ratio 0, and the matmul with v — and replaces it
    with one `ds.attention`, which keeps no [T, S] matrix for the backward pass. A constant
    lower-triangular mask becomes `causal = true`. Heads repeated for grouped-query
    attention (Unsqueeze, Expand to [.., Hkv, n, S, D], Reshape to [.., Hkv * n, S, D], as
    Llama's repeat_kv exports) are read before the repetition. What does not match
    (dropout > 0, a mask with a differentiable path from a parameter or input, a scale after
    an additive mask, broadcast batch dims) stays unfused.
  }];
  let statistics = [
    Statistic<"numFused", "num-fused", "Attention subgraphs fused">,
    Statistic<"numCausal", "num-causal", "Fused attentions whose mask became causal = true">,
    Statistic<"numGroupedQuery", "num-grouped-query",
              "Fused attentions reading k and v before their heads were repeated">,
  ];
}

def FuseGeluPass : Pass<"ds-fuse-gelu", "::mlir::ModuleOp"> {
  let summary = "Rewrites GELU written out as elementwise ops into ds.gelu";
  let description = [{
    torch.onnx.export writes nn.GELU before opset 20 as x · 0.5 · (1 + erf(x / √2)) (Div
    by √2 or Mul by 1/√2) and Hugging Face's gelu_new as
    0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))) (Pow(x, 3) or x · x · x): eight to
    eleven kernels, and as many gradient rules, for one function. This pass recognises both
    forms (the product in any association, constants within 1e-6 of their values, every
    intermediate used once) and replaces each with one `ds.gelu` (approximate = none or
    tanh), whose kernels compute in f32 whatever the storage type, as PyTorch's do. Run
    it before mixed precision: constants rounded to bf16 no longer match.
  }];
  let statistics = [
    Statistic<"numErf", "num-erf", "GELUs in the erf form fused">,
    Statistic<"numTanh", "num-tanh", "GELUs in the tanh form fused">,
  ];
}

def MarkFrozenParametersPass : Pass<"ds-mark-frozen", "::mlir::ModuleOp"> {
  let summary = "Freezes parameters that have no differentiable path to the loss";
  let description = [{
    ONNX does not say which float initializers are trainable: a registered buffer such as
    a causal mask looks like a weight. This pass walks back from the loss result (the
    `ds.loss` attribute of each function) through differentiable operands only and marks
    every `ds.parameter` it does not reach `frozen`; so is every parameter whose name
    matches `freeze` (an LLVM regex, anchored at neither end). Functions without
    `ds.loss` (inference) freeze everything they read.
  }];
  let options = [
    Option<"freeze", "freeze", "std::string", /*default=*/"\"\"",
           "Also freeze parameters whose name matches this regex">,
  ];
  let statistics = [
    Statistic<"numFrozen", "num-frozen", "Parameters marked frozen">,
    Statistic<"numTrainable", "num-trainable", "Parameters left trainable">,
  ];
}

def DifferentiateProgramPass : Pass<"ds-autodiff", "::mlir::ModuleOp"> {
  let summary = "Appends the gradients of the loss to every function that has one";
  let description = [{
    Reverse-mode differentiation of each function with a `ds.loss`: seeds the loss
    with 1, walks the ops backwards through their gradient rules
    (`GradientOpInterface`), sums the gradients of values used several times (tied
    weights), and returns the gradient of every trainable `ds.parameter` the function
    reads, after its original results, with `ds.grad = @param` on each. Only values that
    depend on a trainable parameter and reach the loss get gradients; an op on such a
    path without a gradient rule is an error naming it. With `wrt-args`, float
    arguments are differentiated too (`ds.grad_of_input = "name"`), which gradient
    checks use.
  }];
  let options = [
    Option<"wrtArgs", "wrt-args", "bool", /*default=*/"false",
           "Also return the gradients of float function arguments">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect"];
}

def BuildTrainStepPass : Pass<"ds-build-train-step", "::mlir::ModuleOp"> {
  let summary = "Turns a differentiated forward into micro-step and optimizer-step programs";
  let description = [{
    Takes the function with a loss and parameter gradients (after --ds-autodiff) and
    builds what DeepSpeed's engine does at run time:
    `@micro_step` (role micro_step) runs forward and backward and adds grad / G into a
    gradient accumulator (`ds.state` of kind `grad`) per trainable parameter, and returns
    the loss only (the model's other outputs are left to dead-code elimination: nothing
    reads them in training);
    `@apply_step` (role apply_step) reads the accumulated gradients, clips them by
    their global L2 norm (`gradient-clipping`, 0 = off: g * min(1, c / (norm + 1e-6))),
    (`ds.grad_norm_sq`), takes the learning rate from the scheduler, updates every
    parameter and its
    optimizer state (Adam/AdamW as DeepSpeed's FusedAdam, or torch SGD), zeroes the
    accumulators and counts the step. Options mirror the DeepSpeed config keys.
  }];
  let options = [
    Option<"optimizer", "optimizer", "std::string", "\"adam\"",
           "adam (Adam/AdamW, see adam-w-mode), lamb or sgd">,
    Option<"minCoeff", "min-coeff", "double", "0.01", "Lamb min_coeff">,
    Option<"maxCoeff", "max-coeff", "double", "10.0", "Lamb max_coeff">,
    Option<"lr", "lr", "double", "1e-3", "Learning rate">,
    Option<"beta1", "beta1", "double", "0.9", "Adam beta1">,
    Option<"beta2", "beta2", "double", "0.999", "Adam beta2">,
    Option<"eps", "eps", "double", "1e-8", "Adam epsilon">,
    Option<"weightDecay", "weight-decay", "double", "0.0", "Weight decay">,
    Option<"adamWMode", "adam-w-mode", "bool", "true",
           "Decoupled weight decay (AdamW), DeepSpeed's default">,
    Option<"biasCorrection", "bias-correction", "bool", "true", "Adam bias correction">,
    Option<"momentum", "momentum", "double", "0.0", "SGD momentum">,
    Option<"dampening", "dampening", "double", "0.0", "SGD dampening">,
    Option<"nesterov", "nesterov", "bool", "false", "SGD Nesterov momentum">,
    Option<"gradientClipping", "gradient-clipping", "double", "1.0",
           "Clip gradients to this global L2 norm; 0 disables (DeepSpeed default 1.0)">,
    Option<"accumulation", "accumulation", "int64_t", "1",
           "gradient_accumulation_steps: micro-steps per optimizer step">,
    Option<"scheduler", "scheduler", "std::string", "\"constant\"",
           "constant, WarmupLR, WarmupDecayLR or WarmupCosineLR">,
    Option<"warmupMinLr", "warmup-min-lr", "double", "0.0", "Scheduler warmup_min_lr">,
    Option<"warmupMaxLr", "warmup-max-lr", "double", "-1.0",
           "Scheduler warmup_max_lr (negative: the optimizer's lr)">,
    Option<"warmupNumSteps", "warmup-num-steps", "int64_t", "1000",
           "Scheduler warmup_num_steps">,
    Option<"warmupType", "warmup-type", "std::string", "\"log\"",
           "Scheduler warmup_type: log or linear">,
    Option<"totalNumSteps", "total-num-steps", "int64_t", "0",
           "Scheduler total_num_steps (decay and cosine schedules)">,
    Option<"warmupMinRatio", "warmup-min-ratio", "double", "0.0",
           "WarmupCosineLR warmup_min_ratio">,
    Option<"cosMinRatio", "cos-min-ratio", "double", "1e-4",
           "WarmupCosineLR cos_min_ratio">,
    Option<"lossScale_", "loss-scale", "double", "0.0",
           "fp16 loss scale; 0 = dynamic (with a ds.state of kind loss_scale)">,
    Option<"initialScalePower", "initial-scale-power", "int64_t", "16",
           "Dynamic loss scale starts at 2^this">,
    Option<"lossScaleWindow", "loss-scale-window", "int64_t", "1000",
           "Clean steps before the dynamic loss scale doubles">,
    Option<"hysteresis", "hysteresis", "int64_t", "2",
           "Overflows tolerated before the loss scale halves (ZeRO stages)">,
    Option<"consecutiveHysteresis", "consecutive-hysteresis", "bool", "false",
           "Refill the hysteresis on every clean step">,
    Option<"minLossScale", "min-loss-scale", "double", "1.0",
           "The loss scale never goes below this">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect", "::mlir::dsrt::RuntimeDialect"];
}

def PartitionForZeroPass : Pass<"ds-zero", "::mlir::ModuleOp"> {
  let summary = "Partitions a training step over data-parallel ranks as ZeRO does";
  let description = [{
    Runs after --ds-build-train-step. The world is a 1-D `shard.grid @world`; every
    rank runs the same program on its own micro-batch.
    - stage 0: the accumulated gradients are all-reduced and averaged before the step.
    - stage 1: also the optimizer state: each trainable tensor of n elements is split
      into world-size shards of p = ceil(n / W) elements (zero-padded); rank r owns
      [r*p, r*p + p). The accumulated gradient is reduce-scattered at the boundary, the
      rank updates its fp32 master shard (initialized by an `init` program) and the
      updated parameter is all-gathered.
    - stage 2: as 1, and gradients are reduce-scattered in every micro-step, so the
      accumulator holds only the rank's shard.
    - stage 3: as 2, and parameters larger than `param-persistence-threshold`
      elements are stored as shards: gathered right before their first forward use,
      again before their first backward use, and released after their last use in
      each (the memory planner frees them). Smaller ones stay whole, as in DeepSpeed.
    The clipping norm (`ds.grad_norm_sq`) sums the squares of every rank's shards.
    Gradients are averaged inside the collective (`reduction = average`: the sum over
    ranks divided by W, in f32 for 16-bit gradients, before they are rounded to their
    dtype), not by a multiply after it: an fp16 sum that would overflow before the
    division does not, and at stage 0 the step reads the gradient accumulators as at
    world 1.
  }];
  let options = [
    Option<"stage", "stage", "int64_t", "0", "ZeRO stage 0-3">,
    Option<"worldSize", "world-size", "int64_t", "1", "Data-parallel ranks">,
    Option<"paramPersistenceThreshold", "param-persistence-threshold", "int64_t",
           "0", "Stage 3 keeps parameters of at most this many elements whole "
           "(DeepSpeed's stage3_param_persistence_threshold)">,
    Option<"reduceBucketSize", "reduce-bucket-size", "int64_t", "500000000",
           "Stages 2-3: gradients are reduce-scattered together in buckets of at most "
           "this many elements, a larger gradient alone (DeepSpeed's "
           "reduce_bucket_size)">,
    Option<"contiguousGradients", "contiguous-gradients", "bool", "false",
           "Stages 2-3: each gradient is copied into its bucket as soon as it is "
           "complete instead of all at once when the bucket is full (DeepSpeed's "
           "contiguous_gradients)">,
    Option<"prefetchBucketSize", "prefetch-bucket-size", "int64_t", "50000000",
           "Stage 3: parameters are gathered together until a bucket holds at least "
           "this many elements (DeepSpeed's stage3_prefetch_bucket_size)">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect", "::mlir::shard::ShardDialect"];
}

def DropSingleRankCollectivesPass
    : Pass<"ds-drop-single-rank-collectives", "::mlir::ModuleOp"> {
  let summary = "Removes collectives over a single rank (they move nothing)";
  let description = [{
    Runs after --ds-zero. A `shard.all_reduce`, `shard.all_gather` or
    `shard.reduce_scatter` whose grid axes hold one rank in all returns its operand
    unchanged (a sum, max, min or gather over one rank is the identity), so its result is
    replaced by its operand and the op erased: a world-1 plan launches no collectives and
    plans no communication buffers. Collectives whose result type differs from their
    operand's are left alone. What they leave of ZeRO's flat buckets goes too: a
    `ds.split` of a `ds.concat` of 1-D pieces (through reshapes that add unit dims) with
    the pieces' sizes reads each piece directly.
    ```mlir
    shard.grid @world(shape = 1)
    %s = shard.all_reduce %g on @world grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
    // becomes: every use of %s uses %g
    ```
  }];
  let statistics = [
    Statistic<"numDropped", "dropped-collectives", "Collectives removed">,
    Statistic<"numBucketsUnsplit", "buckets-unsplit",
              "Splits of concatenated buckets replaced by their pieces">,
  ];
  let dependentDialects = ["::mlir::shard::ShardDialect"];
}

def ApplyMixedPrecisionPass : Pass<"ds-mixed-precision", "::mlir::ModuleOp"> {
  let summary = "Runs the forward pass in bf16 or fp16, as DeepSpeed's fp16/bf16 modes do";
  let description = [{
    Float parameters are stored in `dtype` (the runtime converts the fp32 initializers
    at load), float inputs and constants are cast to it, and every float op computes on
    16-bit storage (the kernels accumulate in fp32); losses take fp32 scores and return
    fp32, and float outputs are cast back to fp32. With fp16, a `ds.state` of kind
    `loss_scale` holds the loss scale that --ds-autodiff seeds the backward pass with.
    Runs before --ds-autodiff; --ds-build-train-step then keeps fp32 master weights.
  }];
  let options = [
    Option<"dtype", "dtype", "std::string", "\"bf16\"", "bf16 or f16">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect"];
}

def PlaceOffloadedStatePass : Pass<"ds-offload", "::mlir::ModuleOp"> {
  let summary = "Places optimizer state and stage-3 parameter shards in host memory or on NVMe";
  let description = [{
    Runs after --ds-zero. DeepSpeed's `offload_optimizer` and `offload_param`
    (ZeRO-Offload, ZeRO-Infinity): with `optimizer=cpu` (or `nvme`) every optimizer
    state of each rank (fp32 master weights, Adam/Lamb moments, SGD momentum) lives in
    the host region (or the rank's NVMe swap file), so the device keeps only the
    16-bit (or fp32) parameters and the gradient shards: mixed-precision stage 2 keeps
    2Ψ + 2Ψ/W bytes there. With `param=cpu` (or `nvme`, stage 3 only) the sharded
    trainable parameters live there too; parameters small enough to stay whole under
    stage 3's persistence threshold stay on the device, as in DeepSpeed. The pass only
    decides where state lives (`in host`, `in nvme`); --ds-insert-transfers, after the
    lowering, runs the optimizer step on the host and moves the bytes.
    ```mlir
    ds.state exp_avg @fc1.weight.exp_avg : tensor<256xf32> of @fc1.weight in host
    ```
  }];
  let options = [
    Option<"optimizer", "optimizer", "std::string", "\"none\"",
           "Where optimizer states live: none (the device), cpu or nvme">,
    Option<"param", "param", "std::string", "\"none\"",
           "Where stage-3 parameter shards live: none (the device), cpu or nvme">,
    Option<"ratio", "ratio", "double", "1.0",
           "The fraction of the optimizer state (by elements, in parameter order) that "
           "is offloaded (DeepSpeed's offload_optimizer.ratio); the rest stays">,
    Option<"maxInCpu", "max-in-cpu", "int64_t", "1000000000",
           "With param=nvme: the first parameter shards, up to this many elements, stay "
           "in host memory (DeepSpeed's offload_param.max_in_cpu)">,
  ];
  let statistics = [
    Statistic<"numOffloadedStates", "num-offloaded-states", "Optimizer states moved">,
    Statistic<"numOffloadedParameters", "num-offloaded-parameters",
              "Parameter shards moved">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect"];
}

def RecomputeActivationsPass : Pass<"ds-recompute", "::mlir::ModuleOp"> {
  let summary = "Recomputes saved activations in the backward pass (activation checkpointing)";
  let description = [{
    Runs after --ds-build-train-step and CSE, before --ds-zero. In every function with a
    loss, the forward pass is the ops up to the loss, the backward pass the ops after it;
    a value of the forward pass that depends on an input and that the backward pass reads
    is saved (it lives from the forward pass to its last backward use).
    - `mode=none`: nothing changes.
    - `mode=layer`: only checkpoints stay saved: the residual stream at block boundaries
      (in the longest chain of same-shape `ds.add`s, each adding to the previous one, the
      ops between consecutive adds repeat with a period, 2 for a transformer layer's
      attention and MLP: every period-th add, the last one and the chain's input are
      kept), or, in a model without such a chain, the activation inputs of matmuls and
      gemms with a parameter operand; and the function's results. Every other saved value is
      recomputed: its forward ops (dropout too: the same seed in the same run draws the
      same mask) are cloned into the backward pass right before the first backward use,
      from the checkpoints, so the saved intermediates die in the forward pass. The
      clones are the same ops on the same operands, so the results are bitwise equal.
    - `mode=auto`: as layer, then saved values are kept again greedily, in decreasing
      order of the recompute FLOPs they save per byte (matmuls and attention first,
      elementwise ops last), while their bytes fit in `keep-bytes`.
    Values computed from parameters and constants alone (a transposed weight, a mask)
    are left to --ds-zero, which regathers them itself.
  }];
  let options = [
    Option<"mode", "mode", "std::string", "\"none\"", "none, layer or auto">,
    Option<"keepBytes", "keep-bytes", "int64_t", "0",
           "mode=auto: bytes of saved activations kept beyond the checkpoints">,
  ];
  let statistics = [
    Statistic<"numCheckpoints", "num-checkpoints", "Saved values kept as checkpoints">,
    Statistic<"numKept", "num-kept", "Saved values kept by mode=auto">,
    Statistic<"numRecomputedOps", "num-recomputed-ops",
              "Forward ops cloned into the backward pass">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect"];
}

def MergeIdenticalBuffersPass : Pass<"ds-merge-identical-buffers", "::mlir::ModuleOp"> {
  let summary = "Stores frozen parameters with identical data once";
  let description = [{
    Runs after --ds-mark-frozen. Frozen parameters (buffers such as the causal mask every
    layer of a GPT registers) of the same type, memory space and content key
    (`ds.content`, which the importer sets from a hash of the initializer's bytes or
    its external-data file range) are one tensor: every `ds.param_ref` of a copy reads
    the first instead, and the copies are erased, so the plan stores and loads it once.
    Trainable parameters are never merged, whatever their initial values. The keys are
    removed afterwards.
    ```mlir
    ds.parameter frozen @h.0.mask : tensor<1x1x32x32xf32> from "h.0.mask" {ds.content = "raw:1f2e:4096"}
    ds.parameter frozen @h.1.mask : tensor<1x1x32x32xf32> from "h.1.mask" {ds.content = "raw:1f2e:4096"}
    // after: only @h.0.mask, read by both layers
    ```
  }];
  let statistics = [
    Statistic<"numMerged", "num-merged", "Frozen parameters merged into an identical one">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect"];
}

#endif // DS_TRANSFORMS_PASSES_TD
