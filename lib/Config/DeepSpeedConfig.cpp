// Parses DeepSpeed's ds_config.json with DeepSpeed's defaults and checks.
#include "ConfigReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <functional>
#include <cstdio>
#include <set>

using namespace mlir::ds;

std::string mlir::ds::formatConfigNumber(double v) {
  if (v == std::trunc(v) && std::fabs(v) < 1e15)
    return std::to_string((int64_t)v); // 1000, not 1e+03
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // The shortest form that reads back the same (0.1, not 0.10000000000000001).
  for (int p = 1; p <= 17; ++p) {
    char b[32];
    std::snprintf(b, sizeof b, "%.*g", p, v);
    if (std::strtod(b, nullptr) == v)
      return b;
  }
  return buf;
}

std::string mlir::ds::detail::closest(llvm::StringRef key,
                                     llvm::ArrayRef<llvm::StringRef> candidates) {
  std::string best;
  unsigned bestDistance = std::max<unsigned>(2, key.size() / 3) + 1;
  for (llvm::StringRef c : candidates) {
    unsigned d = key.lower() == c.lower() ? 1 : key.edit_distance(c, true, bestDistance);
    if (d < bestDistance) {
      bestDistance = d;
      best = c.str();
    }
  }
  return best;
}

using namespace mlir::ds::detail;

namespace {
/// Limits of the reader: a ds_config.json is a few KiB and a few levels deep. llvm::json's
/// parser recurses once per level, so the nesting is checked before it runs.
constexpr uint64_t kMaxConfigBytes = 16u << 20;
constexpr size_t kMaxJsonDepth = 64;

/// Checks what llvm::json::parse does not: the nesting depth (its parser recurses per
/// level, so 100k `[` would overflow the stack) and duplicate keys (Python's json, and
/// so DeepSpeed, silently keeps the last). Text that is not JSON is left to the parser.
llvm::Error scanJson(llvm::StringRef text, llvm::StringRef path) {
  struct Frame {
    bool object;
    bool expectKey;
    int64_t index = 0;
    std::string key;
    std::set<std::string> keys;
  };
  std::vector<Frame> stack;
  auto keyPath = [&](llvm::StringRef last) {
    std::string p;
    for (const Frame &f : stack) {
      if (&f == &stack.back())
        break;
      if (f.object)
        p += (p.empty() ? "" : ".") + f.key;
      else
        p += "[" + std::to_string(f.index) + "]";
    }
    return p + (p.empty() ? "" : ".") + last.str();
  };
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    char ch = text[i];
    if (ch == '"') {
      size_t j = i + 1;
      while (j < n && text[j] != '"')
        j += text[j] == '\\' ? 2 : 1;
      if (j >= n)
        return llvm::Error::success(); // unterminated: the parser says where
      llvm::StringRef str = text.slice(i + 1, j);
      i = j;
      if (stack.empty() || !stack.back().object || !stack.back().expectKey)
        continue;
      Frame &f = stack.back();
      f.expectKey = false;
      if (!f.keys.insert(str.str()).second)
        return llvm::createStringError(
            llvm::inconvertibleErrorCode(),
            path + ": '" + keyPath(str) +
                "': duplicate key (JSON readers keep only one of them; delete the other)");
      f.key = str.str();
    } else if (ch == '{' || ch == '[') {
      if (stack.size() >= kMaxJsonDepth)
        return llvm::createStringError(
            llvm::inconvertibleErrorCode(),
            llvm::formatv("{0}: nested deeper than {1} levels at byte {2}; a DeepSpeed "
                          "config is a few levels deep",
                          path, kMaxJsonDepth, i)
                .str());
      stack.push_back({ch == '{', ch == '{'});
    } else if (ch == '}' || ch == ']') {
      if (!stack.empty())
        stack.pop_back();
    } else if (ch == ',' && !stack.empty()) {
      stack.back().expectKey = stack.back().object;
      ++stack.back().index;
    }
  }
  return llvm::Error::success();
}


} // namespace

llvm::Error ConfigReader::readMonitor(const Object &root, llvm::StringRef section,
                                      std::string &dir,
                                      std::initializer_list<llvm::StringLiteral> extra) {
  auto o = readObject(root, section, "");
  if (!o)
    return o.takeError();
  if (!*o)
    return llvm::Error::success();
  std::string scope = (section + ".").str();
  for (const auto &kv : **o) {
    llvm::StringRef k = kv.first;
    if (k == "enabled" || k == "output_path" || k == "job_name" ||
        llvm::find(extra, k) != extra.end())
      continue;
    std::vector<llvm::StringRef> names = {"enabled", "output_path", "job_name"};
    names.insert(names.end(), extra.begin(), extra.end());
    std::string guess = closest(k, names);
    return error(scope + k, "unknown key" +
                                (guess.empty() ? std::string()
                                               : "; did you mean '" + guess + "'?") +
                                " (known: " + llvm::join(names, ", ") + ")");
  }
  bool enabled = false;
  std::string outputPath, jobName = "DeepSpeedJobName";
  if (llvm::Error e = readBool(**o, "enabled", scope, enabled))
    return e;
  if (llvm::Error e = readString(**o, "output_path", scope, outputPath))
    return e;
  if (llvm::Error e = readString(**o, "job_name", scope, jobName))
    return e;
  if (jobName.empty() || jobName.find('/') != std::string::npos || jobName == "." ||
      jobName == "..")
    return error(scope + "job_name",
                 "expected a directory name (not empty, no '/'), got '" + jobName + "'");
  if (enabled)
    dir = outputPath.empty()                          ? jobName
          : llvm::StringRef(outputPath).ends_with("/") ? outputPath + jobName
                                                       : outputPath + "/" + jobName;
  return llvm::Error::success();
}

llvm::Error ConfigReader::readBetas(const Object &p, DeepSpeedConfig &c) {
  const Value *betas = p.get("betas");
  if (!betas)
    return llvm::Error::success();
  const llvm::json::Array *a = betas->getAsArray();
  if (!a || a->size() != 2 || !(*a)[0].getAsNumber() || !(*a)[1].getAsNumber())
    return error("optimizer.params.betas", "expected two numbers");
  c.trainStep.beta1 = *(*a)[0].getAsNumber();
  c.trainStep.beta2 = *(*a)[1].getAsNumber();
  // torch.optim: "Invalid beta parameter at index i".
  for (auto [i, b] : {std::pair<int, double>{0, c.trainStep.beta1}, {1, c.trainStep.beta2}})
    if (!(b >= 0 && b < 1))
      return error("optimizer.params.betas[" + llvm::Twine(i) + "]",
                   "must be in [0, 1), got " + formatConfigNumber(b));
  return llvm::Error::success();
}

llvm::Error ConfigReader::readOptimizer(const Object &o, DeepSpeedConfig &c) {
  warnUnknown(o, "optimizer.", {"type", "params", "legacy_fusion"}, c);
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
  if (llvm::Error e = readNumber(p, "weight_decay", scope, c.trainStep.weightDecay))
    return e;
  // torch.optim's checks ("Invalid learning rate", "Invalid epsilon value", ...).
  const BuildTrainStepPassOptions &t = c.trainStep;
  if (llvm::Error e = require(p, "lr", scope, t.lr, t.lr >= 0, ">= 0"))
    return e;
  if (llvm::Error e = require(p, "eps", scope, t.eps, t.eps >= 0, ">= 0"))
    return e;
  if (llvm::Error e =
          require(p, "weight_decay", scope, t.weightDecay, t.weightDecay >= 0, ">= 0"))
    return e;
  if (c.trainStep.optimizer == "sgd") {
    if (llvm::Error e = require(p, "momentum", scope, t.momentum, t.momentum >= 0, ">= 0"))
      return e;
    if (t.nesterov && (t.momentum <= 0 || t.dampening != 0))
      return error("optimizer.params.nesterov",
                   "Nesterov momentum requires a momentum > 0 and zero dampening, got "
                   "momentum " + formatConfigNumber(t.momentum) + ", dampening " +
                       formatConfigNumber(t.dampening));
  }
  if (c.trainStep.optimizer == "lamb") {
    if (llvm::Error e =
            require(p, "min_coeff", scope, t.minCoeff, t.minCoeff >= 0, ">= 0"))
      return e;
    if (t.maxCoeff < t.minCoeff)
      return error("optimizer.params.max_coeff",
                   "must be >= min_coeff (" + formatConfigNumber(t.minCoeff) + "), got " +
                       formatConfigNumber(t.maxCoeff));
  }
  return llvm::Error::success();
}

llvm::Error ConfigReader::readScheduler(const Object &o, DeepSpeedConfig &c) {
  warnUnknown(o, "scheduler.", {"type", "params"}, c);
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
  const BuildTrainStepPassOptions &t = c.trainStep;
  for (auto [key, v] : {std::pair<llvm::StringRef, double>{"warmup_min_lr", t.warmupMinLr},
                        {"warmup_max_lr", t.warmupMaxLr},
                        {"cos_min_ratio", t.cosMinRatio},
                        {"warmup_num_steps", double(t.warmupNumSteps)},
                        {"total_num_steps", double(t.totalNumSteps)}})
    if (llvm::Error e = require(p, key, scope, v, v >= 0, ">= 0"))
      return e;
  if (llvm::Error e = require(p, "warmup_min_ratio", scope, t.warmupMinRatio,
                              t.warmupMinRatio >= 0 && t.warmupMinRatio <= 1, "in [0, 1]"))
    return e;
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
      // loss_scale 0 is dynamic scaling; 2^initial_scale_power must be a finite fp32.
      for (auto [key, v, ok, expected] :
           {std::tuple<llvm::StringRef, double, bool, llvm::StringRef>{
                "loss_scale", t.lossScale_, t.lossScale_ >= 0, ">= 0 (0: dynamic)"},
            {"initial_scale_power", double(t.initialScalePower),
             t.initialScalePower >= 0 && t.initialScalePower <= 127, "in [0, 127]"},
            {"loss_scale_window", double(t.lossScaleWindow), t.lossScaleWindow >= 1,
             ">= 1"},
            {"hysteresis", double(t.hysteresis), t.hysteresis >= 1, ">= 1"},
            {"min_loss_scale", t.minLossScale, t.minLossScale > 0, "> 0"}})
        if (llvm::Error e = require(f, key, scope, v, ok, expected))
          return e;
      if (t.lossScale_ < 0 || t.lossScaleWindow < 1 || t.hysteresis < 1 ||
          t.minLossScale <= 0 || t.initialScalePower < 0 || t.initialScalePower > 127)
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



llvm::Expected<DeepSpeedConfig>
mlir::ds::parseDeepSpeedConfig(llvm::StringRef text, llvm::StringRef path) {
  ConfigReader r(path);
  if (text.size() > kMaxConfigBytes)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("{0}: {1} bytes, more than the {2} MiB a ds_config.json may have",
                      path, text.size(), kMaxConfigBytes >> 20)
            .str());
  if (llvm::Error e = scanJson(text, path))
    return std::move(e);
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
  // DeepSpeed asserts these are > 0 (after deriving the missing ones).
  for (auto [key, v] : {std::pair<llvm::StringRef, std::optional<int64_t>>{
                            "train_batch_size", c.trainBatchSize},
                        {"train_micro_batch_size_per_gpu", c.microBatchSize},
                        {"gradient_accumulation_steps", c.accumulationSteps}})
    if (v && *v <= 0)
      return r.error(key, "must be a positive integer, got " + llvm::Twine(*v));
  if (llvm::Error e =
          r.readNumber(*root, "gradient_clipping", "", c.trainStep.gradientClipping))
    return std::move(e);
  if (c.trainStep.gradientClipping < 0)
    return r.error("gradient_clipping",
                   "must be >= 0 (0 disables clipping), got " +
                       formatConfigNumber(c.trainStep.gradientClipping));
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
  {
    auto o = r.readObject(*root, "aio", "");
    if (!o)
      return o.takeError();
    if (*o)
      if (llvm::Error e = r.readAio(**o, c))
        return std::move(e);
  }
  {
    auto o = r.readObject(*root, "activation_checkpointing", "");
    if (!o)
      return o.takeError();
    if (*o)
      if (llvm::Error e = r.readActivationCheckpointing(**o, c))
        return std::move(e);
  }
  if (llvm::Error e = r.readInt(*root, "steps_per_print", "", c.stepsPerPrint))
    return std::move(e);
  if (c.stepsPerPrint < 1)
    return r.error("steps_per_print",
                   "must be a positive integer, got " + llvm::Twine(c.stepsPerPrint));
  if (llvm::Error e = r.readBool(*root, "wall_clock_breakdown", "", c.wallClockBreakdown))
    return std::move(e);
  if (llvm::Error e = r.readBool(*root, "memory_breakdown", "", c.memoryBreakdown))
    return std::move(e);
  // DeepSpeed's monitors (deepspeed/monitor/config.py): csv_monitor and tensorboard write
  // to output_path/job_name; wandb needs its servers.
  if (llvm::Error e = r.readMonitor(*root, "csv_monitor", c.csvMonitorDir))
    return std::move(e);
  if (llvm::Error e = r.readMonitor(*root, "tensorboard", c.tensorboardDir))
    return std::move(e);
  {
    std::string unusedDir;
    if (llvm::Error e = r.readMonitor(*root, "wandb", unusedDir, {"group", "team", "project"}))
      return std::move(e);
    if (!unusedDir.empty())
      return r.error("wandb.enabled",
                     "is refused: wandb sends runs to its servers and ds-run has no network "
                     "client; use \"tensorboard\" or \"csv_monitor\" (files you can upload)");
  }
  // Every key given, dotted, so --print-config can say where a value came from.
  std::function<void(const Object &, std::string)> collect = [&](const Object &o,
                                                                 std::string prefix) {
    for (const auto &kv : o) {
      std::string key = prefix + kv.first.str();
      c.fileKeys.insert(key);
      if (const Object *sub = kv.second.getAsObject())
        collect(*sub, key + ".");
    }
  };
  collect(*root, "");
  static const llvm::StringLiteral known[] = {
      "train_batch_size", "train_micro_batch_size_per_gpu",
      "gradient_accumulation_steps", "gradient_clipping", "optimizer", "scheduler",
      "zero_optimization", "fp16", "bf16", "bfloat16", "steps_per_print", "wall_clock_breakdown", "memory_breakdown", "csv_monitor",
      "tensorboard", "wandb", "aio", "activation_checkpointing"};
  // Top-level keys DeepSpeed reads (deepspeed/runtime/config.py and its sections) that
  // change nothing here. Anything else DeepSpeed ignores too: likely a typo, so a warning.
  static const llvm::StringLiteral deepSpeedKeys[] = {
      "dump_state",
      "disable_allgather", "communication_data_type",
      "seq_parallel_communication_data_type", "prescale_gradients",
      "gradient_predivide_factor", "sparse_gradients", "zero_allow_untested_optimizer",
      "zero_force_ds_cpu_optimizer", "graph_harvesting", "amp", "torch_autocast",
      "flops_profiler",
      "comet", "monitor_config", "comms_logger", "elasticity", "pipeline",
      "checkpoint", "data_types", "compression_training", "data_efficiency",
      "curriculum_learning", "sparse_attention", "autotuning", "nebula", "eigenvalue",
      "progressive_layer_drop", "quantize_training", "weight_quantization",
      "hybrid_engine", "dataloader_drop_last", "load_universal_checkpoint",
      "use_node_local_storage", "timers", "compile", "fp32_allreduce",
      "zero_enabled", "mics_shard_size", "mics_hierarchical_params_gather",
      "use_data_before_expert_parallelism", "tensor_parallel", "domino",
      "gradient_accumulation_dtype", "train_batch_size_per_gpu"};
  std::vector<llvm::StringRef> candidates(std::begin(known), std::end(known));
  candidates.insert(candidates.end(), std::begin(deepSpeedKeys), std::end(deepSpeedKeys));
  for (const auto &kv : *root) {
    llvm::StringRef key = kv.first;
    if (llvm::find(known, key) != std::end(known))
      continue;
    if (llvm::find(deepSpeedKeys, key) != std::end(deepSpeedKeys)) {
      c.ignoredKeys.push_back((key + " (no effect on the compiled program)").str());
      continue;
    }
    std::string guess = closest(key, candidates);
    c.warnings.push_back(
        (path + ": '" + key + "': unknown key, ignored (DeepSpeed ignores it too)" +
         (guess.empty() ? std::string() : "; did you mean '" + guess + "'?"))
            .str());
  }
  return c;
}

llvm::Expected<DeepSpeedConfig> mlir::ds::readDeepSpeedConfig(llvm::StringRef path) {
  // A regular file of bounded size: a FIFO, a directory or a link to /dev/zero would
  // block or be read without end.
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status))
    return llvm::createStringError(ec, path + ": " + ec.message());
  if (status.type() != llvm::sys::fs::file_type::regular_file)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        path + ": not a regular file (a directory, device or pipe); pass the "
               "ds_config.json file itself");
  if (status.getSize() > kMaxConfigBytes)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::formatv("{0}: {1} bytes, more than the {2} MiB a ds_config.json may have",
                      path, status.getSize(), kMaxConfigBytes >> 20)
            .str());
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return llvm::createStringError(buffer.getError(),
                                   path + ": " + buffer.getError().message());
  return parseDeepSpeedConfig((*buffer)->getBuffer(), path);
}
