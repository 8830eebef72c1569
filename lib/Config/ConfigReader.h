// The reader of ds_config.json's sections, shared by DeepSpeedConfig.cpp (the top level,
// optimizer, scheduler, precision, monitors) and DeepSpeedConfigZero.cpp (ZeRO, offload,
// aio, activation checkpointing). Private to lib/Config.
#ifndef DS_LIB_CONFIG_CONFIGREADER_H
#define DS_LIB_CONFIG_CONFIGREADER_H

#include "ds/Config/DeepSpeedConfig.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/JSON.h"

#include <cmath>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace mlir::ds::detail {

using llvm::json::Object;
using llvm::json::Value;

/// The closest of `candidates` to `key`, if one is close enough to be a likely typo.
std::string closest(llvm::StringRef key, llvm::ArrayRef<llvm::StringRef> candidates);

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

} // namespace mlir::ds::detail

#endif // DS_LIB_CONFIG_CONFIGREADER_H
