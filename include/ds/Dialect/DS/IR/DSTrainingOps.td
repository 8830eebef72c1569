// Training-state and optimizer ops of the `ds` dialect. Included from DSOps.td.
#ifndef DS_TRAINING_OPS_TD
#define DS_TRAINING_OPS_TD

def DS_F32Scalar : 0DTensorOf<[F32]> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getF32Type())";
}
def DS_I64Scalar : 0DTensorOf<[I64]> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getI64Type())";
}

def DS_StateOp : DS_Op<"state", [Symbol]> {
  let summary = "Persistent training state, zero-initialized";
  let description = [{
    A module-level tensor that lives across steps: gradient accumulators, optimizer
    moments, the step counter. `kind` says what it is (`grad`, `master`, `exp_avg`,
    `exp_avg_sq`, `momentum_buffer`, `step`, `loss_scale`, `loss_scale_counters`); `of`
    names the parameter it belongs to, if any; `in` names the memory space each rank
    keeps it in: `device` (the default), `host` or `nvme`.
    ```mlir
    ds.state exp_avg @fc1.weight.exp_avg : tensor<32x16xf32> of @fc1.weight
    ds.state exp_avg_sq @fc1.weight.exp_avg_sq : tensor<32x16xf32> of @fc1.weight in host
    ds.state step @step : tensor<i64>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<DS_Tensor>:$type,
                       DS_StateKindAttr:$kind, OptionalAttr<FlatSymbolRefAttr>:$of,
                       DefaultValuedAttr<DS_MemorySpaceAttr,
                                         "::mlir::ds::MemorySpace::device">:$space);
  let assemblyFormat = [{
    `` $kind $sym_name `:` $type (`of` $of^)? (`in` `` $space^)? attr-dict
  }];
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
}

def DS_StateRefOp : DS_Op<"state_ref",
    [MemoryEffects<[MemRead]>, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Reads a ds.state";
  let description = "```mlir\n%m = ds.state_ref @w.exp_avg : tensor<4xf32>\n```";
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def DS_AssignOp : DS_Op<"assign",
    [MemoryEffects<[MemWrite]>, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Overwrites a parameter or a ds.state with a value";
  let description = "```mlir\nds.assign @w, %new : tensor<4xf32>\n```";
  let arguments = (ins FlatSymbolRefAttr:$target, DS_Tensor:$value);
  let assemblyFormat = "$target `,` $value attr-dict `:` type($value)";
}

def DS_AdamUpdateOp : DS_Op<"adam_update",
    [Pure, AllTypesMatch<["param", "grad", "exp_avg", "exp_avg_sq",
                          "new_param", "new_exp_avg", "new_exp_avg_sq"]>]> {
  let summary = "One Adam / AdamW step of one tensor (DeepSpeed FusedAdam semantics)";
  let description = [{
    `lr` is a scalar f32, `step` the 1-based step count t (scalar i64). AdamW mode
    (`adam_w_mode`, DeepSpeed's default): m, v from g; p -= lr*((m/bc1)/(sqrt(v/bc2)+eps)
    + wd*p). Adam mode: g += wd*p first. bc = 1 - beta^t when `bias_correction`.
    With `if %finite` (an f32 scalar), the step is skipped (outputs = inputs) when it
    is 0: the overflow skip of mixed-precision training.
    ```mlir
    %p2, %m2, %v2 = ds.adam_update %p, %g, %m, %v, %lr, %t {beta1 = 0.9 : f32, beta2 = 0.999 : f32, eps = 1.0e-08 : f32, weight_decay = 0.0 : f32, adam_w_mode = true, bias_correction = true} : tensor<4xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$param, DS_FloatTensor:$grad,
                       DS_FloatTensor:$exp_avg, DS_FloatTensor:$exp_avg_sq,
                       DS_F32Scalar:$lr, DS_I64Scalar:$step,
                       Optional<DS_F32Scalar>:$finite,
                       F32Attr:$beta1, F32Attr:$beta2, F32Attr:$eps,
                       F32Attr:$weight_decay, BoolAttr:$adam_w_mode,
                       BoolAttr:$bias_correction);
  let results = (outs DS_FloatTensor:$new_param, DS_FloatTensor:$new_exp_avg,
                      DS_FloatTensor:$new_exp_avg_sq);
  let assemblyFormat = [{
    $param `,` $grad `,` $exp_avg `,` $exp_avg_sq `,` $lr `,` $step (`if` $finite^)? attr-dict `:` type($param)
  }];
}

def DS_LambUpdateOp : DS_Op<"lamb_update",
    [Pure, AllTypesMatch<["param", "grad", "exp_avg", "exp_avg_sq",
                          "new_param", "new_exp_avg", "new_exp_avg_sq"]>]> {
  let summary = "One LAMB step of one tensor (DeepSpeed FusedLamb semantics)";
  let description = [{
    m, v as in Adam; u = m / (sqrt(v) + eps) + wd*p; the trust ratio r = |p| / |u|,
    clamped to [min_coeff, max_coeff] (1 when a norm is 0); p -= lr*(sqrt(bc2)/bc1)*r*u.
    The "tensor" is whatever the operand holds: under ZeRO, the rank's shard, so r
    depends on the world size as it does in DeepSpeed.
    ```mlir
    %p2, %m2, %v2 = ds.lamb_update %p, %g, %m, %v, %lr, %t {beta1 = 0.9 : f32, beta2 = 0.999 : f32, eps = 1.0e-08 : f32, weight_decay = 0.0 : f32, bias_correction = true, min_coeff = 0.01 : f32, max_coeff = 10.0 : f32} : tensor<4xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$param, DS_FloatTensor:$grad,
                       DS_FloatTensor:$exp_avg, DS_FloatTensor:$exp_avg_sq,
                       DS_F32Scalar:$lr, DS_I64Scalar:$step,
                       Optional<DS_F32Scalar>:$finite,
                       F32Attr:$beta1, F32Attr:$beta2, F32Attr:$eps,
                       F32Attr:$weight_decay, BoolAttr:$bias_correction,
                       F32Attr:$min_coeff, F32Attr:$max_coeff);
  let results = (outs DS_FloatTensor:$new_param, DS_FloatTensor:$new_exp_avg,
                      DS_FloatTensor:$new_exp_avg_sq);
  let assemblyFormat = [{
    $param `,` $grad `,` $exp_avg `,` $exp_avg_sq `,` $lr `,` $step (`if` $finite^)? attr-dict `:` type($param)
  }];
}

def DS_SgdUpdateOp : DS_Op<"sgd_update",
    [Pure, AllTypesMatch<["param", "grad", "momentum_buffer", "new_param",
                          "new_momentum_buffer"]>]> {
  let summary = "One torch.optim.SGD step of one tensor";
  let description = [{
    g += wd*p; with momentum mu: b = g on step 1, else b = mu*b + (1-dampening)*g; g =
    g + mu*b (nesterov) or b; p -= lr*g.
    ```mlir
    %p2, %b2 = ds.sgd_update %p, %g, %b, %lr, %t {momentum = 0.9 : f32, dampening = 0.0 : f32, weight_decay = 0.0 : f32, nesterov = false} : tensor<4xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$param, DS_FloatTensor:$grad,
                       DS_FloatTensor:$momentum_buffer,
                       DS_F32Scalar:$lr, DS_I64Scalar:$step,
                       Optional<DS_F32Scalar>:$finite,
                       F32Attr:$momentum, F32Attr:$dampening,
                       F32Attr:$weight_decay, BoolAttr:$nesterov);
  let results = (outs DS_FloatTensor:$new_param, DS_FloatTensor:$new_momentum_buffer);
  let assemblyFormat = [{
    $param `,` $grad `,` $momentum_buffer `,` $lr `,` $step (`if` $finite^)? attr-dict `:` type($param)
  }];
}

def DS_LrScheduleOp : DS_Op<"lr_schedule", [Pure]> {
  let summary = "The learning rate of an optimizer step under a DeepSpeed scheduler";
  let description = [{
    `applied` is the number of optimizer steps applied before this one (scalar i64,
    k). As in DeepSpeed, step k runs with lr = f(k - 1). The schedule is `constant` (lr),
    `WarmupLR`, `WarmupDecayLR` or `WarmupCosineLR`; the attributes carry the
    scheduler's parameters under DeepSpeed's names.
    ```mlir
    %lr = ds.lr_schedule WarmupLR %k {lr = 1.0e-03 : f32, warmup_min_lr = 0.0 : f32, warmup_max_lr = 1.0e-03 : f32, warmup_num_steps = 10 : i64, warmup_type = "linear"} : tensor<f32>
    ```
  }];
  let arguments = (ins DS_I64Scalar:$applied, DS_LrScheduleAttr:$schedule,
                       F32Attr:$lr,
                       DefaultValuedAttr<F32Attr, "0.0">:$warmup_min_lr,
                       DefaultValuedAttr<F32Attr, "0.001">:$warmup_max_lr,
                       DefaultValuedAttr<I64Attr, "1000">:$warmup_num_steps,
                       DefaultValuedStrAttr<StrAttr, "log">:$warmup_type,
                       DefaultValuedAttr<I64Attr, "0">:$total_num_steps,
                       DefaultValuedAttr<F32Attr, "0.0">:$warmup_min_ratio,
                       DefaultValuedAttr<F32Attr, "0.0001">:$cos_min_ratio);
  let results = (outs DS_F32Scalar:$result);
  let assemblyFormat = "`` $schedule $applied attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def DS_AllFiniteOp : DS_Op<"all_finite", [Pure]> {
  let summary = "1.0 if every element of every operand is finite, else 0.0";
  let description = [{
    The overflow check of mixed-precision training.
    ```mlir
    %ok = ds.all_finite %g1, %g2 : tensor<4xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Variadic<DS_FloatTensor>:$inputs);
  let results = (outs DS_F32Scalar:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs)";
}

def DS_GradNormSqOp : DS_Op<"grad_norm_sq", [Pure]> {
  let summary = "The squared global L2 norm of the gradients, in f32";
  let description = [{
    The sum over every operand of the sum of its squared elements, computed in f32
    (16-bit operands are cast first): what gradient clipping takes the square root of.
    The operands are the gradients a rank holds; once --ds-zero has split them into
    shards, it sums this op's result over the ranks, so that every rank clips by the
    norm of the whole gradient. Lowers to one multi-tensor `grad_norm_sq` kernel (with
    --ds-convert-to-runtime=multi-tensor-grad-norm=false, to the `cast`, `mul`,
    `reduce_sum` and `add` kernels, which compute the same bits).
    ```mlir
    %n = ds.grad_norm_sq %g1, %g2 : tensor<4x8xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Variadic<DS_FloatTensor>:$grads);
  let results = (outs DS_F32Scalar:$result);
  let assemblyFormat = "$grads attr-dict `:` type($grads)";
  let hasVerifier = 1;
}

def DS_LossScaleUpdateOp : DS_Op<"loss_scale_update",
    [Pure, AllTypesMatch<["counters", "new_counters"]>]> {
  let summary = "DeepSpeed's dynamic loss scaler, one step";
  let description = [{
    `counters` holds {iteration, last overflow iteration, hysteresis left}, set to
    {0, -1, hysteresis} at start. On an overflow (`finite` = 0) the scale halves, at
    most down to `min_scale` (with `zero`, the ZeRO 1-3 scaler: only once hysteresis is
    used up, and an overflow at the minimum aborts the run); after `scale_window` clean
    steps it doubles. A static scale (`dynamic` false) never changes.
    ```mlir
    %s2, %c2 = ds.loss_scale_update %ok, %s, %c {dynamic = true, scale_factor = 2.0 : f32, scale_window = 1000 : i64, hysteresis = 2 : i64, consecutive_hysteresis = false, min_scale = 1.0 : f32, zero = false} : tensor<3xi64>
    ```
  }];
  let arguments = (ins DS_F32Scalar:$finite, DS_F32Scalar:$scale,
                       RankedTensorOf<[I64]>:$counters, BoolAttr:$dynamic,
                       F32Attr:$scale_factor, I64Attr:$scale_window,
                       I64Attr:$hysteresis, BoolAttr:$consecutive_hysteresis,
                       F32Attr:$min_scale, BoolAttr:$zero);
  let results = (outs DS_F32Scalar:$new_scale, RankedTensorOf<[I64]>:$new_counters);
  let assemblyFormat = "$finite `,` $scale `,` $counters attr-dict `:` type($counters)";
  let hasVerifier = 1;
}

#endif // DS_TRAINING_OPS_TD
