// Parses DeepSpeed's ds_config.json with DeepSpeed's defaults and checks.
#include "ds/Config/DeepSpeedConfig.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <functional>
#include <cstdio>
#include <set>

using namespace mlir::ds;
using llvm::json::Object;
using llvm::json::Value;

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

namespace {
/// Limits of the reader: a ds_config.json is a few KiB and a few levels deep. llvm::json's
/// parser recurses once per level, so the nesting is checked before it runs.
constexpr uint64_t kMaxConfigBytes = 16u << 20;
constexpr size_t kMaxJsonDepth = 64;


/// The closest of `candidates` to `key`, if one is close enough to be a likely typo.
std::string closest(llvm::StringRef key, llvm::ArrayRef<llvm::StringRef> candidates) {
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

class ConfigReader {
public:
  ConfigReader(llvm::StringRef path) : path(path) {}

  llvm::Error error(const llvm::Twine &key, const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": '" + key + "': " + message);
  }

  /// DeepSpeed's and PyTorch's range checks: `value` of `key` (when present in `o`)
  /// must satisfy `ok`; the message says what is expected and what was given.
  llvm::Error require(const Object &o, llvm::StringRef key, llvm::StringRef scope,
                      double value, bool ok, llvm::StringRef expected) {
    if (ok || isAbsent(o.get(key)))
      return llvm::Error::success();
    return error(scope + key, "must be " + expected + ", got " + formatConfigNumber(value));
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
    if (llvm::Error e =
            read(o, key, scope, out, [](const Value &v) { return v.getAsNumber(); },
                 "a number"))
      return e;
    if (!std::isfinite(out))
      return error(scope + key, "must be a finite number");
    return llvm::Error::success();
  }
  llvm::Error readInt(const Object &o, llvm::StringRef key, llvm::StringRef scope,
                      int64_t &out) {
    auto asInt = [](const Value &v) -> std::optional<int64_t> {
      if (auto n = v.getAsInteger())
        return *n;
      // 5e8 written as a float; the range check first (the cast of 1e300 is undefined).
      if (auto d = v.getAsNumber();
          d && std::fabs(*d) < 9.2e18 && *d == (double)(int64_t)*d)
        return (int64_t)*d;
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
        std::vector<llvm::StringRef> names;
        for (llvm::StringRef s : known) {
          list += (list.empty() ? "" : ", ") + s.str();
          names.push_back(s);
        }
        std::string guess = closest(k, names);
        return error(scope + k, "unknown key" +
                                    (guess.empty() ? std::string()
                                                   : "; did you mean '" + guess + "'?") +
                                    " (known: " + list + ")");
      }
    }
    return llvm::Error::success();
  }

  /// A key of `o` outside `known` in a section DeepSpeed reads as a plain dict: ignored
  /// there too, so a warning (with the closest known key) rather than an error.
  void warnUnknown(const Object &o, llvm::StringRef scope,
                   std::initializer_list<llvm::StringLiteral> known, DeepSpeedConfig &c) {
    std::vector<llvm::StringRef> names(known.begin(), known.end());
    for (const auto &kv : o) {
      llvm::StringRef k = kv.first;
      if (llvm::find(names, k) != names.end())
        continue;
      std::string guess = closest(k, names);
      c.warnings.push_back((path + ": '" + scope + k +
                            "': unknown key, ignored (DeepSpeed ignores it too)" +
                            (guess.empty() ? std::string() : "; did you mean '" + guess + "'?"))
                               .str());
    }
  }

  llvm::Error readBetas(const Object &params, DeepSpeedConfig &c);
  llvm::Error readOptimizer(const Object &o, DeepSpeedConfig &c);
  llvm::Error readScheduler(const Object &o, DeepSpeedConfig &c);
  llvm::Error readPrecision(const Object &root, DeepSpeedConfig &c);
  llvm::Error readZero(const Object &o, DeepSpeedConfig &c);
  llvm::Error readOffload(const Object &o, llvm::StringRef scope, bool isParam,
                          DeepSpeedConfig::Offload &out);
  llvm::Error readAio(const Object &o, DeepSpeedConfig &c);
  /// A monitor section ({enabled, output_path, job_name} plus `extra` keys): when enabled,
  /// `dir` = os.path.join(output_path, job_name) as DeepSpeed's monitors build it.
  llvm::Error readMonitor(const Object &root, llvm::StringRef section, std::string &dir,
                          std::initializer_list<llvm::StringLiteral> extra = {});
  llvm::Error readActivationCheckpointing(const Object &o, DeepSpeedConfig &c);

  std::string path;
};

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

llvm::Error ConfigReader::readOffload(const Object &o, llvm::StringRef scope, bool isParam,
                                      DeepSpeedConfig::Offload &out) {
  // DeepSpeedZeroOffloadParamConfig / DeepSpeedZeroOffloadOptimizerConfig (pydantic:
  // unknown keys are errors).
  llvm::Error unknown =
      isParam ? rejectUnknown(o, scope,
                              {"device", "nvme_path", "buffer_count", "buffer_size",
                               "max_in_cpu", "pin_memory"})
              : rejectUnknown(o, scope,
                              {"device", "nvme_path", "buffer_count", "pin_memory",
                               "pipeline_read", "pipeline_write", "fast_init", "ratio"});
  if (unknown)
    return unknown;
  if (llvm::Error e = readString(o, "device", scope, out.device))
    return e;
  if (out.device != "none" && out.device != "cpu" && out.device != "nvme")
    return error(scope + "device", "expected \"none\", \"cpu\" or \"nvme\", got \"" +
                                       out.device + "\"");
  for (auto [key, value] : {std::pair<const char *, bool *>{"pin_memory", &out.pinMemory},
                            {"pipeline_read", &out.pipelineRead},
                            {"pipeline_write", &out.pipelineWrite}})
    if (llvm::Error e = readBool(o, key, scope, *value))
      return e;
  bool fastInit = false;
  if (llvm::Error e = readBool(o, "fast_init", scope, fastInit))
    return e;
  if (llvm::Error e = readString(o, "nvme_path", scope, out.nvmePath))
    return e;
  if (out.device == "nvme" && out.nvmePath.empty())
    return error(scope + "nvme_path", "required when device is \"nvme\": the directory "
                                      "each rank's swap file goes in");
  for (auto [key, value] : {std::pair<const char *, int64_t *>{"buffer_count",
                                                               &out.bufferCount},
                            {"buffer_size", &out.bufferSize},
                            {"max_in_cpu", &out.maxInCpu}})
    if (llvm::Error e = readInt(o, key, scope, *value))
      return e;
  if (out.bufferCount < 1 || out.bufferSize < 1 || out.maxInCpu < 0)
    return error(scope + "buffer_count",
                 "buffer_count and buffer_size must be >= 1 and max_in_cpu >= 0");
  if (llvm::Error e = readNumber(o, "ratio", scope, out.ratio))
    return e;
  if (out.ratio < 0 || out.ratio > 1)
    return error(scope + "ratio", "must be in [0, 1], got " + formatConfigNumber(out.ratio));
  return llvm::Error::success();
}

llvm::Error ConfigReader::readAio(const Object &o, DeepSpeedConfig &c) {
  // A plain dict in DeepSpeed: unknown keys are ignored (warned about here).
  warnUnknown(o, "aio.",
              {"block_size", "queue_depth", "thread_count", "intra_op_parallelism",
               "single_submit", "overlap_events", "use_gds"},
              c);
  PlanIOOptions &io = c.aio;
  for (auto [key, value] :
       {std::pair<const char *, int64_t *>{"block_size", &io.blockSize},
        {"queue_depth", &io.queueDepth},
        {"thread_count", &io.threadCount},
        {"intra_op_parallelism", &io.threadCount}})
    if (llvm::Error e = readInt(o, key, "aio.", *value))
      return e;
  if (io.blockSize < 4096 || io.blockSize % 4096 != 0 || io.blockSize > (1 << 30))
    return error("aio.block_size", "must be a multiple of 4096 bytes up to 1 GiB, got " +
                                       llvm::Twine(io.blockSize));
  if (io.queueDepth < 1 || io.queueDepth > 4096 || io.threadCount < 1 ||
      io.threadCount > 256)
    return error("aio.queue_depth", "queue_depth must be in [1, 4096] and "
                                    "intra_op_parallelism (thread_count) in [1, 256]");
  for (auto [key, value] :
       {std::pair<const char *, bool *>{"single_submit", &io.singleSubmit},
        {"overlap_events", &io.overlapEvents}})
    if (llvm::Error e = readBool(o, key, "aio.", *value))
      return e;
  bool gds = false;
  if (llvm::Error e = readBool(o, "use_gds", "aio.", gds))
    return e;
  if (gds)
    return error("aio.use_gds", "GPUDirect Storage is not supported: swaps go through "
                                "the host region");
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
  if (o.get("contiguous_gradients")) {
    bool contiguous = false;
    if (llvm::Error e = readBool(o, "contiguous_gradients", scope, contiguous))
      return e;
    c.contiguousGradients = contiguous;
    c.zero.contiguousGradients = contiguous;
  }
  for (llvm::StringRef key : {"stage3_prefetch_bucket_size", "prefetch_bucket_size"})
    if (llvm::Error e = readInt(o, key, scope, c.zero.prefetchBucketSize))
      return e;
  if (c.zero.prefetchBucketSize < 1)
    return error("zero_optimization.stage3_prefetch_bucket_size",
                 "must be at least 1, got " + llvm::Twine(c.zero.prefetchBucketSize));
  if (c.zero.reduceBucketSize < 1)
    return error("zero_optimization.reduce_bucket_size",
                 "must be at least 1, got " + llvm::Twine(c.zero.reduceBucketSize));
  if (llvm::Error e = readInt(o, "allgather_bucket_size", scope, c.allgatherBucketSize))
    return e;
  if (c.allgatherBucketSize < 1)
    return error("zero_optimization.allgather_bucket_size",
                 "must be at least 1, got " + llvm::Twine(c.allgatherBucketSize));
  for (llvm::StringRef key :
       {"stage3_param_persistence_threshold", "param_persistence_threshold"})
    if (llvm::Error e = readInt(o, key, scope, c.zero.paramPersistenceThreshold))
      return e;
  if (c.zero.paramPersistenceThreshold < 0)
    return error("zero_optimization.stage3_param_persistence_threshold",
                 "must be >= 0, got " + llvm::Twine(c.zero.paramPersistenceThreshold));
  for (llvm::StringRef key : {"offload_param", "offload_optimizer"}) {
    auto sub = readObject(o, key, scope);
    if (!sub)
      return sub.takeError();
    bool isParam = key == "offload_param";
    if (*sub)
      if (llvm::Error e = readOffload(**sub, (llvm::Twine(scope) + key + ".").str(),
                                      isParam,
                                      isParam ? c.offloadParam : c.offloadOptimizer))
        return e;
  }
  if (llvm::Error e = readInt(o, "sub_group_size", scope, c.subGroupSize))
    return e;
  if (c.subGroupSize < 1)
    return error("zero_optimization.sub_group_size",
                 "must be at least 1, got " + llvm::Twine(c.subGroupSize));
  const DeepSpeedConfig::Offload &opt = c.offloadOptimizer, &par = c.offloadParam;
  if (opt.device == "nvme" && par.device == "nvme" && opt.nvmePath != par.nvmePath)
    return error("zero_optimization.offload_param.nvme_path",
                 "differs from offload_optimizer.nvme_path ('" + par.nvmePath + "' vs '" +
                     opt.nvmePath + "'): each rank keeps one swap file; give both the "
                                    "same directory");
  if (opt.device != "none" || par.device != "none") {
    const DeepSpeedConfig::Offload &nvme = par.device == "nvme" ? par : opt;
    c.aio.nvmePath = nvme.nvmePath;
    c.aio.pinMemory = (opt.device == "none" || opt.pinMemory) &&
                      (par.device == "none" || par.pinMemory);
    // Keys that only tune DeepSpeed's run-time machinery.
    auto note = [&](const char *key, const char *why) {
      c.ignoredKeys.push_back((llvm::Twine(scope) + key + " (" + why + ")").str());
    };
    if (const Object *sub = o.getObject("offload_optimizer")) {
      if (sub->get("fast_init"))
        note("offload_optimizer.fast_init",
             "offloaded state starts zeroed in the swap file, which is fast already");
      if (sub->get("pipeline_read") || sub->get("pipeline_write"))
        note("offload_optimizer.pipeline_read/pipeline_write",
             "swaps are always on the io stream; buffer_count decides the read-ahead");
    }
  }
  static const llvm::StringLiteral used[] = {
      "stage", "stage3_param_persistence_threshold", "param_persistence_threshold",
      "reduce_scatter", "contiguous_gradients", "reduce_bucket_size",
      "stage3_prefetch_bucket_size", "prefetch_bucket_size", "offload_param",
      "offload_optimizer", "sub_group_size"};
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

llvm::Error ConfigReader::readActivationCheckpointing(const Object &o,
                                                      DeepSpeedConfig &c) {
  const char *scope = "activation_checkpointing.";
  static const llvm::StringLiteral known[] = {
      "partition_activations",           "cpu_checkpointing",
      "contiguous_memory_optimization",  "number_checkpoints",
      "synchronize_checkpoint_boundary", "profile"};
  for (const auto &kv : o) { // DeepSpeed reads the block as a plain dict
    llvm::StringRef key = kv.first;
    if (llvm::find(known, key) == std::end(known))
      c.warnings.push_back((path + ": '" + scope + key +
                            "': unknown key, ignored (DeepSpeed ignores it too)")
                               .str());
  }
  DeepSpeedConfig::ActivationCheckpointing &a = c.activationCheckpointing;
  a.given = true;
  for (auto [key, out] :
       {std::pair<const char *, bool *>{"partition_activations", &a.partitionActivations},
        {"cpu_checkpointing", &a.cpuCheckpointing},
        {"contiguous_memory_optimization", &a.contiguousMemoryOptimization},
        {"synchronize_checkpoint_boundary", &a.synchronizeCheckpointBoundary},
        {"profile", &a.profile}})
    if (llvm::Error e = readBool(o, key, scope, *out))
      return e;
  if (llvm::Error e = readOptInt(o, "number_checkpoints", scope, a.numberCheckpoints))
    return e;
  if (a.numberCheckpoints && *a.numberCheckpoints < 1)
    return error("activation_checkpointing.number_checkpoints",
                 "must be a positive integer or null, got " +
                     llvm::Twine(*a.numberCheckpoints));
  if (a.cpuCheckpointing)
    return error("activation_checkpointing.cpu_checkpointing",
                 "checkpoints in host memory are not compiled yet: they stay on the "
                 "device; drop the key, and use --memory-budget with --allow-offload=cpu "
                 "to move optimizer state and parameters to the host instead");
  c.recompute.mode = "layer";
  auto note = [&](const char *key, const char *why) {
    if (o.get(key))
      c.ignoredKeys.push_back((llvm::Twine(scope) + key + " (" + why + ")").str());
  };
  note("partition_activations",
       "DeepSpeed splits checkpoints across model-parallel ranks; here every rank is a "
       "data-parallel rank whose checkpoints are its own micro-batch's");
  note("contiguous_memory_optimization",
       "the static memory plan already gives every checkpoint its arena offset");
  note("number_checkpoints", "the compiler finds the checkpoints (the residual stream)");
  note("synchronize_checkpoint_boundary",
       "the plan orders recomputation on the compute stream; nothing to synchronize");
  note("profile", "no effect on the compiled program");
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
