// Parses DeepSpeed's ds_config.json with DeepSpeed's defaults and checks.
#include "ds/Config/DeepSpeedConfig.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace mlir::ds;
using llvm::json::Object;
using llvm::json::Value;

namespace {
class ConfigReader {
public:
  ConfigReader(llvm::StringRef path) : path(path) {}

  llvm::Error error(const llvm::Twine &key, const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": '" + key + "': " + message);
  }

  /// A value that DeepSpeed treats as absent ("auto" in pydantic sections, null).
  static bool isAbsent(const Value *v) {
    return !v || v->kind() == Value::Null ||
           (v->getAsString() && *v->getAsString() == "auto");
  }

  /// Reads `key` into `out` with `convert` (empty optional: wrong type); an absent
  /// key leaves `out` at its default.
  template <typename T, typename Convert>
  llvm::Error read(const Object &o, llvm::StringRef key, llvm::StringRef scope, T &out,
                   Convert convert, llvm::StringRef expected) {
    const Value *v = o.get(key);
    if (isAbsent(v))
      return llvm::Error::success();
    std::optional<T> value = convert(*v);
    if (!value)
      return error(scope + key, "expected " + expected);
    out = *value;
    return llvm::Error::success();
  }
  llvm::Error readNumber(const Object &o, llvm::StringRef key, llvm::StringRef scope,
                         double &out) {
    return read(o, key, scope, out, [](const Value &v) { return v.getAsNumber(); },
                "a number");
  }
  llvm::Error readInt(const Object &o, llvm::StringRef key, llvm::StringRef scope,
                      int64_t &out) {
    auto asInt = [](const Value &v) -> std::optional<int64_t> {
      if (auto n = v.getAsInteger())
        return *n;
      if (auto d = v.getAsNumber(); d && *d == (double)(int64_t)*d)
        return (int64_t)*d; // 5e8 written as a float
      return std::nullopt;
    };
    return read(o, key, scope, out, asInt, "an integer");
  }
  llvm::Error readOptInt(const Object &o, llvm::StringRef key, llvm::StringRef scope,
                         std::optional<int64_t> &out) {
    if (isAbsent(o.get(key)))
      return llvm::Error::success();
    int64_t v = 0;
    if (llvm::Error e = readInt(o, key, scope, v))
      return e;
    out = v;
    return llvm::Error::success();
  }
  llvm::Error readBool(const Object &o, llvm::StringRef key, llvm::StringRef scope,
                       bool &out) {
    return read(o, key, scope, out, [](const Value &v) { return v.getAsBoolean(); },
                "true or false");
  }
  llvm::Error readString(const Object &o, llvm::StringRef key, llvm::StringRef scope,
                         std::string &out) {
    auto asString = [](const Value &v) -> std::optional<std::string> {
      if (auto s = v.getAsString())
        return s->str();
      return std::nullopt;
    };
    return read(o, key, scope, out, asString, "a string");
  }
  llvm::Expected<const Object *> readObject(const Object &o, llvm::StringRef key,
                                            llvm::StringRef scope) {
    const Value *v = o.get(key);
    if (!v || v->kind() == Value::Null)
      return nullptr;
    if (auto *obj = v->getAsObject())
      return obj;
    return error(scope + key, "expected an object");
  }
  /// Fails on a key of `o` outside `known`, as DeepSpeed's pydantic sections do.
  llvm::Error rejectUnknown(const Object &o, llvm::StringRef scope,
                            std::initializer_list<llvm::StringLiteral> known) {
    for (const auto &kv : o) {
      llvm::StringRef k = kv.first;
      if (llvm::find(known, k) == known.end()) {
        std::string list;
        for (llvm::StringRef s : known)
          list += (list.empty() ? "" : ", ") + s.str();
        return error(scope + k, "unknown key (known: " + list + ")");
      }
    }
    return llvm::Error::success();
  }

  llvm::Error readBetas(const Object &params, DeepSpeedConfig &c);
  llvm::Error readOptimizer(const Object &o, DeepSpeedConfig &c);
  llvm::Error readScheduler(const Object &o, DeepSpeedConfig &c);
  llvm::Error readPrecision(const Object &root, DeepSpeedConfig &c);
  llvm::Error readZero(const Object &o, DeepSpeedConfig &c);
  llvm::Error readOffload(const Object &o, llvm::StringRef scope);

  std::string path;
};

llvm::Error ConfigReader::readBetas(const Object &p, DeepSpeedConfig &c) {
  const Value *betas = p.get("betas");
  if (!betas)
    return llvm::Error::success();
  const llvm::json::Array *a = betas->getAsArray();
  if (!a || a->size() != 2 || !(*a)[0].getAsNumber() || !(*a)[1].getAsNumber())
    return error("optimizer.params.betas", "expected two numbers");
  c.trainStep.beta1 = *(*a)[0].getAsNumber();
  c.trainStep.beta2 = *(*a)[1].getAsNumber();
  return llvm::Error::success();
}

llvm::Error ConfigReader::readOptimizer(const Object &o, DeepSpeedConfig &c) {
  std::string type;
  if (llvm::Error e = readString(o, "type", "optimizer.", type))
    return e;
  std::string lower = llvm::StringRef(type).lower();
  auto paramsOr = readObject(o, "params", "optimizer.");
  if (!paramsOr)
    return paramsOr.takeError();
  Object empty;
  const Object &p = *paramsOr ? **paramsOr : empty;
  const char *scope = "optimizer.params.";
  if (p.get("max_grad_norm"))
    return error("optimizer.params.max_grad_norm",
                 "not allowed: use the top-level gradient_clipping instead");
  if (lower == "adam" || lower == "adamw") {
    c.trainStep.optimizer = "adam";
    if (llvm::Error e = rejectUnknown(p, scope,
                                      {"lr", "betas", "eps", "weight_decay",
                                       "adam_w_mode", "bias_correction", "amsgrad",
                                       "torch_adam", "fused"}))
      return e;
    if (llvm::Error e = readBool(p, "adam_w_mode", scope, c.trainStep.adamWMode))
      return e;
    if (lower == "adamw")
      c.trainStep.adamWMode = true;
    bool amsgrad = false;
    if (llvm::Error e = readBool(p, "amsgrad", scope, amsgrad))
      return e;
    if (amsgrad)
      return error("optimizer.params.amsgrad", "AMSGrad is not supported");
    if (llvm::Error e = readBetas(p, c))
      return e;
    if (llvm::Error e = readNumber(p, "eps", scope, c.trainStep.eps))
      return e;
    if (llvm::Error e = readBool(p, "bias_correction", scope, c.trainStep.biasCorrection))
      return e;
  } else if (lower == "lamb") {
    c.trainStep.optimizer = "lamb";
    if (llvm::Error e = rejectUnknown(p, scope,
                                      {"lr", "betas", "eps", "weight_decay",
                                       "bias_correction", "max_coeff", "min_coeff"}))
      return e;
    if (llvm::Error e = readBetas(p, c))
      return e;
    c.trainStep.eps = 1e-6; // FusedLamb's default
    if (llvm::Error e = readNumber(p, "eps", scope, c.trainStep.eps))
      return e;
    if (llvm::Error e = readBool(p, "bias_correction", scope, c.trainStep.biasCorrection))
      return e;
    if (llvm::Error e = readNumber(p, "min_coeff", scope, c.trainStep.minCoeff))
      return e;
    if (llvm::Error e = readNumber(p, "max_coeff", scope, c.trainStep.maxCoeff))
      return e;
  } else if (lower == "sgd") {
    c.trainStep.optimizer = "sgd";
    if (llvm::Error e = rejectUnknown(p, scope,
                                      {"lr", "momentum", "dampening",
                                       "weight_decay", "nesterov"}))
      return e;
    if (llvm::Error e = readNumber(p, "momentum", scope, c.trainStep.momentum))
      return e;
    if (llvm::Error e = readNumber(p, "dampening", scope, c.trainStep.dampening))
      return e;
    if (llvm::Error e = readBool(p, "nesterov", scope, c.trainStep.nesterov))
      return e;
  } else {
    return error("optimizer.type", "'" + type +
                                       "' is not supported (Adam, AdamW, Lamb, SGD)");
  }
  if (llvm::Error e = readNumber(p, "lr", scope, c.trainStep.lr))
    return e;
  return readNumber(p, "weight_decay", scope, c.trainStep.weightDecay);
}

llvm::Error ConfigReader::readScheduler(const Object &o, DeepSpeedConfig &c) {
  std::string type;
  if (llvm::Error e = readString(o, "type", "scheduler.", type))
    return e;
  auto paramsOr = readObject(o, "params", "scheduler.");
  if (!paramsOr)
    return paramsOr.takeError();
  Object empty;
  const Object &p = *paramsOr ? **paramsOr : empty;
  const char *scope = "scheduler.params.";
  if (type == "WarmupLR") {
    if (llvm::Error e = rejectUnknown(p, scope,
                                      {"warmup_min_lr", "warmup_max_lr",
                                       "warmup_num_steps", "warmup_type",
                                       "last_batch_iteration"}))
      return e;
  } else if (type == "WarmupDecayLR") {
    if (llvm::Error e = rejectUnknown(p, scope,
                                      {"warmup_min_lr", "warmup_max_lr",
                                       "warmup_num_steps", "warmup_type",
                                       "total_num_steps", "last_batch_iteration"}))
      return e;
    c.trainStep.warmupMaxLr = 0.001; // not inherited from the optimizer (REFERENCE §6)
    if (!p.get("total_num_steps"))
      return error("scheduler.params.total_num_steps", "required by WarmupDecayLR");
  } else if (type == "WarmupCosineLR") {
    if (llvm::Error e = rejectUnknown(p, scope,
                                      {"total_num_steps", "warmup_min_ratio",
                                       "warmup_num_steps", "cos_min_ratio",
                                       "warmup_type", "last_batch_iteration"}))
      return e;
    if (!p.get("total_num_steps"))
      return error("scheduler.params.total_num_steps", "required by WarmupCosineLR");
  } else {
    return error("scheduler.type",
                 "'" + type +
                     "' is not supported (WarmupLR, WarmupDecayLR, WarmupCosineLR)");
  }
  c.trainStep.scheduler = type;
  for (auto [key, field] :
       {std::pair<llvm::StringRef, double *>{"warmup_min_lr", &c.trainStep.warmupMinLr},
        {"warmup_max_lr", &c.trainStep.warmupMaxLr},
        {"warmup_min_ratio", &c.trainStep.warmupMinRatio},
        {"cos_min_ratio", &c.trainStep.cosMinRatio}})
    if (llvm::Error e = readNumber(p, key, scope, *field))
      return e;
  if (llvm::Error e = readInt(p, "warmup_num_steps", scope, c.trainStep.warmupNumSteps))
    return e;
  if (llvm::Error e = readInt(p, "total_num_steps", scope, c.trainStep.totalNumSteps))
    return e;
  if (llvm::Error e = readString(p, "warmup_type", scope, c.trainStep.warmupType))
    return e;
  if (c.trainStep.warmupType != "log" && c.trainStep.warmupType != "linear")
    return error("scheduler.params.warmup_type", "expected \"log\" or \"linear\"");
  return llvm::Error::success();
}

llvm::Error ConfigReader::readPrecision(const Object &root, DeepSpeedConfig &c) {
  for (llvm::StringRef section : {"fp16", "bf16", "bfloat16"}) {
    auto o = readObject(root, section, "");
    if (!o)
      return o.takeError();
    if (!*o)
      continue;
    std::string scope = (section + ".").str();
    bool enabled = false;
    if (llvm::Error e = readBool(**o, "enabled", scope, enabled))
      return e;
    if (section == "fp16") {
      if (llvm::Error e = rejectUnknown(**o, scope,
                                        {"enabled", "auto_cast", "loss_scale",
                                         "initial_scale_power", "loss_scale_window",
                                         "hysteresis", "consecutive_hysteresis",
                                         "min_loss_scale", "fp16_master_weights_and_grads"}))
        return e;
      c.fp16 = enabled;
      const Object &f = **o;
      if (llvm::Error e = readNumber(f, "loss_scale", scope, c.trainStep.lossScale_))
        return e;
      if (llvm::Error e =
              readInt(f, "initial_scale_power", scope, c.trainStep.initialScalePower))
        return e;
      if (llvm::Error e =
              readInt(f, "loss_scale_window", scope, c.trainStep.lossScaleWindow))
        return e;
      if (llvm::Error e = readInt(f, "hysteresis", scope, c.trainStep.hysteresis))
        return e;
      if (llvm::Error e = readBool(f, "consecutive_hysteresis", scope,
                                   c.trainStep.consecutiveHysteresis))
        return e;
      if (llvm::Error e =
              readNumber(f, "min_loss_scale", scope, c.trainStep.minLossScale))
        return e;
      const BuildTrainStepPassOptions &t = c.trainStep;
      if (t.lossScale_ < 0 || t.lossScaleWindow < 1 || t.hysteresis < 1 ||
          t.minLossScale <= 0)
        return error("fp16", "loss_scale must be >= 0, loss_scale_window and "
                             "hysteresis >= 1, min_loss_scale > 0");
    } else {
      if (llvm::Error e = rejectUnknown(**o, scope,
                                        {"enabled", "immediate_grad_update",
                                         "check_grad_overflow",
                                         "bf16_master_weights_and_grads"}))
        return e;
      c.bf16 |= enabled;
    }
  }
  if (c.fp16 && c.bf16)
    return error("fp16", "fp16 and bf16 cannot both be enabled");
  return llvm::Error::success();
}

llvm::Error ConfigReader::readOffload(const Object &o, llvm::StringRef scope) {
  if (llvm::Error e = rejectUnknown(o, scope,
                                    {"device", "nvme_path", "buffer_count",
                                     "buffer_size", "max_in_cpu", "pin_memory",
                                     "pipeline_read", "pipeline_write", "fast_init",
                                     "ratio"}))
    return e;
  std::string device = "none";
  if (llvm::Error e = readString(o, "device", scope, device))
    return e;
  if (device != "none" && device != "cpu" && device != "nvme")
    return error(scope + "device", "expected \"none\", \"cpu\" or \"nvme\"");
  return llvm::Error::success();
}

llvm::Error ConfigReader::readZero(const Object &o, DeepSpeedConfig &c) {
  const char *scope = "zero_optimization.";
  if (llvm::Error e = rejectUnknown(
          o, scope,
          {"stage", "contiguous_gradients", "reduce_scatter", "reduce_bucket_size",
           "use_multi_rank_bucket_allreduce", "allgather_partitions",
           "allgather_bucket_size", "overlap_comm", "load_from_fp32_weights",
           "elastic_checkpoint", "offload_param", "offload_optimizer",
           "sub_group_size", "cpu_offload_param", "cpu_offload_use_pin_memory",
           "cpu_offload", "prefetch_bucket_size", "stage3_prefetch_bucket_size",
           "param_persistence_threshold", "stage3_param_persistence_threshold",
           "model_persistence_threshold", "stage3_model_persistence_threshold",
           "max_live_parameters", "stage3_max_live_parameters",
           "max_reuse_distance", "stage3_max_reuse_distance",
           "gather_16bit_weights_on_model_save",
           "stage3_gather_16bit_weights_on_model_save",
           "stage3_gather_fp16_weights_on_model_save",
           "module_granularity_threshold", "use_all_reduce_for_fetch_params",
           "stage3_use_all_reduce_for_fetch_params", "ignore_unused_parameters",
           "legacy_stage1", "round_robin_gradients", "zero_hpz_partition_size",
           "zero_quantized_weights", "zero_quantized_nontrainable_weights",
           "zero_quantized_gradients", "zeropp_loco_param", "mics_shard_size",
           "mics_hierarchical_params_gather", "memory_efficient_linear",
           "pipeline_loading_checkpoint", "override_module_apply",
           "log_trace_cache_warnings"}))
    return e;
  int64_t stage = 0;
  if (llvm::Error e = readInt(o, "stage", scope, stage))
    return e;
  if (stage < 0 || stage > 3)
    return error("zero_optimization.stage", "expected 0, 1, 2 or 3");
  c.zeroStage = stage;
  if (llvm::Error e = readInt(o, "reduce_bucket_size", scope, c.zero.reduceBucketSize))
    return e;
  for (llvm::StringRef key : {"stage3_prefetch_bucket_size", "prefetch_bucket_size"})
    if (llvm::Error e = readInt(o, key, scope, c.zero.prefetchBucketSize))
      return e;
  if (c.zero.prefetchBucketSize < 1)
    return error("zero_optimization.stage3_prefetch_bucket_size", "must be at least 1");
  if (c.zero.reduceBucketSize < 1)
    return error("zero_optimization.reduce_bucket_size", "must be at least 1");
  for (llvm::StringRef key :
       {"stage3_param_persistence_threshold", "param_persistence_threshold"})
    if (llvm::Error e = readInt(o, key, scope, c.zero.paramPersistenceThreshold))
      return e;
  for (llvm::StringRef key : {"offload_param", "offload_optimizer"}) {
    auto sub = readObject(o, key, scope);
    if (!sub)
      return sub.takeError();
    if (*sub)
      if (llvm::Error e = readOffload(**sub, (llvm::Twine(scope) + key + ".").str()))
        return e;
  }
  static const llvm::StringLiteral used[] = {
      "stage", "stage3_param_persistence_threshold", "param_persistence_threshold",
      "reduce_scatter", "contiguous_gradients", "reduce_bucket_size",
      "stage3_prefetch_bucket_size", "prefetch_bucket_size"};
  for (const auto &kv : o) {
    llvm::StringRef key = kv.first;
    if (llvm::find(used, key) != std::end(used))
      continue;
    llvm::StringRef why =
        key.contains("offload")
            ? "CPU/NVMe offload is not compiled yet"
        : key == "overlap_comm"
            ? "plans always put collectives on the comm stream with exact waits"
        : key.contains("max_live_parameters") || key.contains("max_reuse_distance")
            ? "gathered parameters are freed after their last use; the prefetch bucket "
              "bounds what is gathered ahead"
        : key.contains("allgather")
            ? "stages 1-2 gather each updated parameter whole"
            : "no effect on the compiled program";
    c.ignoredKeys.push_back((llvm::Twine(scope) + key + " (" + why + ")").str());
  }
  return llvm::Error::success();
}
} // namespace

llvm::Expected<DeepSpeedConfig>
mlir::ds::parseDeepSpeedConfig(llvm::StringRef text, llvm::StringRef path) {
  ConfigReader r(path);
  llvm::Expected<llvm::json::Value> json = llvm::json::parse(text);
  if (!json)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": not valid JSON: " +
                                       llvm::toString(json.takeError()));
  const Object *root = json->getAsObject();
  if (!root)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": expected a JSON object at the top");
  DeepSpeedConfig c;
  if (llvm::Error e = r.readOptInt(*root, "train_batch_size", "", c.trainBatchSize))
    return std::move(e);
  if (llvm::Error e = r.readOptInt(*root, "train_micro_batch_size_per_gpu", "",
                                   c.microBatchSize))
    return std::move(e);
  if (llvm::Error e = r.readOptInt(*root, "gradient_accumulation_steps", "",
                                   c.accumulationSteps))
    return std::move(e);
  if (llvm::Error e =
          r.readNumber(*root, "gradient_clipping", "", c.trainStep.gradientClipping))
    return std::move(e);
  if (c.trainStep.gradientClipping < 0)
    return r.error("gradient_clipping", "must be >= 0");
  for (auto [key, reader] :
       {std::pair<llvm::StringRef, llvm::Error (ConfigReader::*)(const Object &,
                                                                 DeepSpeedConfig &)>{
            "optimizer", &ConfigReader::readOptimizer},
        {"scheduler", &ConfigReader::readScheduler},
        {"zero_optimization", &ConfigReader::readZero}}) {
    auto o = r.readObject(*root, key, "");
    if (!o)
      return o.takeError();
    if (*o)
      if (llvm::Error e = (r.*reader)(**o, c))
        return std::move(e);
  }
  if (llvm::Error e = r.readPrecision(*root, c))
    return std::move(e);
  static const llvm::StringLiteral known[] = {
      "train_batch_size", "train_micro_batch_size_per_gpu",
      "gradient_accumulation_steps", "gradient_clipping", "optimizer", "scheduler",
      "zero_optimization", "fp16", "bf16", "bfloat16"};
  for (const auto &kv : *root)
    if (llvm::find(known, llvm::StringRef(kv.first)) == std::end(known))
      c.ignoredKeys.push_back(
          (llvm::StringRef(kv.first) + " (no effect on the compiled program)").str());
  return c;
}

llvm::Expected<DeepSpeedConfig> mlir::ds::readDeepSpeedConfig(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return llvm::createStringError(buffer.getError(),
                                   path + ": " + buffer.getError().message());
  return parseDeepSpeedConfig((*buffer)->getBuffer(), path);
}

llvm::Error DeepSpeedConfig::resolveBatch(int64_t w) {
  auto &tb = trainBatchSize, &mb = microBatchSize, &g = accumulationSteps;
  // Checked before any division or product (0 or a negative divisor used to be SIGFPE).
  auto bad = [](llvm::StringRef key, int64_t v) {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("'{0}': must be a positive integer, got {1}", key, v).str());
  };
  if (w < 1)
    return bad("world size", w);
  if (tb && *tb <= 0)
    return bad("train_batch_size", *tb);
  if (mb && *mb <= 0)
    return bad("train_micro_batch_size_per_gpu", *mb);
  if (g && *g <= 0)
    return bad("gradient_accumulation_steps", *g);
  // mb * g * w without overflow (a hostile config can make it wrap).
  auto product = [&](int64_t m, int64_t a) -> std::optional<int64_t> {
    auto ma = llvm::checkedMul(m, a);
    return ma ? llvm::checkedMul(*ma, w) : std::nullopt;
  };
  if (mb && g && !product(*mb, *g))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("train_micro_batch_size_per_gpu * gradient_accumulation_steps * "
                      "world_size = {0} * {1} * {2} overflows 64 bits",
                      *mb, *g, w)
            .str());
  if (mb && !g && !product(*mb, 1))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("train_micro_batch_size_per_gpu * world_size = {0} * {1} overflows "
                      "64 bits",
                      *mb, w)
            .str());
  if (tb && mb && g) {
  } else if (tb && mb) {
    g = *tb / *mb / w;
  } else if (tb && g) {
    mb = *tb / w / *g;
  } else if (mb && g) {
    tb = *mb * *g * w;
  } else if (tb) {
    g = 1;
    mb = *tb / w;
  } else if (mb) {
    g = 1;
    tb = *mb * w;
  } else {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "Either train_batch_size or train_micro_batch_size_per_gpu needs to be "
        "provided");
  }
  if (*tb <= 0 || *mb <= 0 || *g <= 0 || product(*mb, *g) != *tb)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("Check batch related parameters. train_batch_size is not equal "
                      "to micro_batch_per_gpu * gradient_acc_step * world_size "
                      "{0} != {1} * {2} * {3}",
                      *tb, *mb, *g, w));
  return llvm::Error::success();
}

TrainingPipelineOptions
DeepSpeedConfig::getTrainingPipelineOptions(int64_t stage, int64_t worldSize,
                                            llvm::StringRef freeze) const {
  TrainingPipelineOptions o;
  o.markFrozen.freeze = freeze.str();
  if (fp16 || bf16) {
    o.mixedPrecision.emplace();
    o.mixedPrecision->dtype = fp16 ? "f16" : "bf16";
  }
  o.trainStep = trainStep;
  o.trainStep.accumulation = accumulationSteps.value_or(1);
  // WarmupLR without warmup_max_lr warms up to the optimizer's lr; written out here so
  // the pass's "negative: inherit" default is never what decides.
  if (o.trainStep.warmupMaxLr < 0)
    o.trainStep.warmupMaxLr = o.trainStep.lr;
  o.zero = zero;
  o.zero.stage = stage;
  o.zero.worldSize = worldSize;
  return o;
}
