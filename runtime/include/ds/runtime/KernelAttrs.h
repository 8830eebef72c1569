// Typed kernel attributes (from KernelCatalogue.def): decoded once at plan load, read by both backends.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace ds::rt {

// ---- string-valued attributes with a closed set of values
#define DS_ENUM(Enum) enum class Enum {
#define DS_ENUM_VALUE(Enum, Enumerator, spelling) Enumerator,
#define DS_ENUM_END(Enum) };
#include "ds/runtime/KernelCatalogue.def"

/// The plan's spelling of an enum value ("tanh", "WarmupLR", ...).
#define DS_ENUM(Enum) const char *enumName(Enum v);
#include "ds/runtime/KernelCatalogue.def"

/// constant's `value`: exactly one of the plan's encodings.
struct ConstantValue {
  enum class Kind { Raw, Ints, Floats, Int, Float } kind = Kind::Float;
  std::string raw;           // Raw: the result's bytes
  std::vector<int64_t> ints; // Ints (numel values or 1); Int: the one value
  std::vector<double> floats; // Floats (numel values or 1); Float: the one value
};

// ---- one struct per attribute set; field name = plan attribute name
#define DS_ATTRS(S) struct S {
#define DS_ATTRS_END(S) };
#define DS_ATTR_INT(S, name, dflt) int64_t name = dflt;
#define DS_ATTR_INT_REQUIRED(S, name) int64_t name = 0;
#define DS_ATTR_INT_OPTIONAL(S, name) std::optional<int64_t> name;
#define DS_ATTR_FLOAT(S, name, dflt) double name = dflt;
#define DS_ATTR_FLOAT_REQUIRED(S, name) double name = 0;
#define DS_ATTR_BOOL(S, name, dflt) bool name = dflt;
#define DS_ATTR_BOOL_REQUIRED(S, name) bool name = false;
#define DS_ATTR_ENUM(S, name, Enum, Dflt) Enum name = Enum::Dflt;
#define DS_ATTR_ENUM_REQUIRED(S, name, Enum) Enum name{};
#define DS_ATTR_INTS_REQUIRED(S, name) std::vector<int64_t> name;
#define DS_ATTR_INTS_OPTIONAL(S, name) std::optional<std::vector<int64_t>> name;
#define DS_ATTR_VALUE_REQUIRED(S, name) ConstantValue name;
#include "ds/runtime/KernelCatalogue.def"

/// lr_schedule's warmup length N = max(2, warmup_num_steps), as both backends use it.
inline int64_t lrWarmupSteps(const LrScheduleAttrs &a) {
  return a.warmup_num_steps < 2 ? 2 : a.warmup_num_steps;
}
/// lr_schedule's decay length max(1, total_num_steps - N), in double.
inline double lrDecaySteps(const LrScheduleAttrs &a) {
  double d = double(a.total_num_steps - lrWarmupSteps(a));
  return 1.0 < d ? d : 1.0;
}

/// lr_schedule's value for an applied-step counter k: the rate step k runs with, f(k - 1)
/// (REFERENCE §6); the CPU kernel's formula, also what ds-run reports as the lr.
double lrScheduleValue(const LrScheduleAttrs &a, int64_t applied);

/// One instruction's decoded attributes: the struct its kernel's catalogue entry names.
using KernelAttrs = std::variant<std::monostate
#define DS_ATTRS(S) , S
#include "ds/runtime/KernelCatalogue.def"
                                 >;

} // namespace ds::rt
