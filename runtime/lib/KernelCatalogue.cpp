// The kernel catalogue expanded: kernel/attribute metadata and the load-time attribute decoder.
#include "ds/runtime/KernelCatalogue.h"
#include "ds/runtime/Kernels.h"

#include <algorithm>
#include <map>
#include <string>

namespace ds::rt {

// ---------------------------------------------------------------- enums
namespace {
template <typename Enum> const std::vector<const char *> &spellings();
#define DS_ENUM(Enum)                                                                         \
  template <> const std::vector<const char *> &spellings<Enum>() {                            \
    static const std::vector<const char *> v = {
#define DS_ENUM_VALUE(Enum, Enumerator, spelling) spelling,
#define DS_ENUM_END(Enum)                                                                     \
  }                                                                                           \
  ;                                                                                           \
  return v;                                                                                   \
  }
#include "ds/runtime/KernelCatalogue.def"

/// "a|b|c": AttrInfo::allowedValues.
template <typename Enum> const char *allowedValues() {
  static const std::string s = [] {
    std::string r;
    for (const char *v : spellings<Enum>())
      r += (r.empty() ? "" : "|") + std::string(v);
    return r;
  }();
  return s.c_str();
}

/// "\"a\", \"b\" or \"c\"": the list in error messages.
template <typename Enum> std::string quotedChoices() {
  const auto &v = spellings<Enum>();
  std::string r;
  for (size_t i = 0; i < v.size(); ++i)
    r += std::string(i == 0 ? "" : i + 1 == v.size() ? " or " : ", ") + "\"" + v[i] + "\"";
  return r;
}
} // namespace

#define DS_ENUM(Enum)                                                                         \
  const char *enumName(Enum v) { return spellings<Enum>()[size_t(v)]; }
#include "ds/runtime/KernelCatalogue.def"

// ---------------------------------------------------------------- metadata
namespace {
#define DS_ATTRS(S)                                                                           \
  std::vector<AttrInfo> attrInfos(const S *) {                                                \
    return {
#define DS_ATTRS_END(S)                                                                       \
  }                                                                                           \
  ;                                                                                           \
  }
#define DS_ATTR_INT(S, name, dflt) {#name, AttrKind::Int, false, true, dflt, 0, nullptr, nullptr},
#define DS_ATTR_INT_REQUIRED(S, name) {#name, AttrKind::Int, true, false, 0, 0, nullptr, nullptr},
#define DS_ATTR_INT_OPTIONAL(S, name)                                                         \
  {#name, AttrKind::Int, false, false, 0, 0, nullptr, nullptr},
#define DS_ATTR_FLOAT(S, name, dflt)                                                          \
  {#name, AttrKind::Float, false, true, 0, dflt, nullptr, nullptr},
#define DS_ATTR_FLOAT_REQUIRED(S, name)                                                       \
  {#name, AttrKind::Float, true, false, 0, 0, nullptr, nullptr},
#define DS_ATTR_BOOL(S, name, dflt)                                                           \
  {#name, AttrKind::Bool, false, true, (dflt) ? 1 : 0, 0, nullptr, nullptr},
#define DS_ATTR_BOOL_REQUIRED(S, name)                                                        \
  {#name, AttrKind::Bool, true, false, 0, 0, nullptr, nullptr},
#define DS_ATTR_ENUM(S, name, Enum, Dflt)                                                     \
  {#name, AttrKind::String, false, true, 0, 0, enumName(Enum::Dflt), allowedValues<Enum>()},
#define DS_ATTR_ENUM_REQUIRED(S, name, Enum)                                                  \
  {#name, AttrKind::String, true, false, 0, 0, nullptr, allowedValues<Enum>()},
#define DS_ATTR_INTS_REQUIRED(S, name)                                                        \
  {#name, AttrKind::Ints, true, false, 0, 0, nullptr, nullptr},
#define DS_ATTR_INTS_OPTIONAL(S, name)                                                        \
  {#name, AttrKind::Ints, false, false, 0, 0, nullptr, nullptr},
#define DS_ATTR_VALUE_REQUIRED(S, name)                                                       \
  {#name, AttrKind::Value, true, false, 0, 0, nullptr, nullptr},
#include "ds/runtime/KernelCatalogue.def"

/// Arity of a role list: "a, b, c?" -> [2, 3]; "x..." -> [1, -1]; "" -> [0, 0].
void roleArity(std::string_view roles, int &min, int &max) {
  min = max = 0;
  bool unbounded = false;
  while (!roles.empty()) {
    size_t comma = roles.find(',');
    std::string_view role = roles.substr(0, comma);
    roles = comma == std::string_view::npos ? std::string_view() : roles.substr(comma + 1);
    while (!role.empty() && role.front() == ' ')
      role.remove_prefix(1);
    while (!role.empty() && role.back() == ' ')
      role.remove_suffix(1);
    if (role.empty())
      continue;
    ++max;
    if (role.size() > 3 && role.substr(role.size() - 3) == "...") {
      ++min;
      unbounded = true;
    } else if (role.back() != '?') {
      ++min;
    }
  }
  if (unbounded)
    max = -1;
}

KernelInfo makeInfo(const char *name, KernelId id, StreamClass stream, bool inPlace,
                    unsigned backends, const char *attrStruct, std::vector<AttrInfo> attrs,
                    const char *inputs, const char *outputs, const char *summary) {
  KernelInfo k{name, id, stream, inPlace, backends, 0, 0, 0, 0, attrStruct, std::move(attrs),
               inputs, outputs, summary};
  roleArity(inputs, k.minInputs, k.maxInputs);
  roleArity(outputs, k.minOutputs, k.maxOutputs);
  return k;
}
} // namespace

const AttrInfo *KernelInfo::findAttr(std::string_view attr) const {
  for (const AttrInfo &a : attrs)
    if (attr == a.name)
      return &a;
  return nullptr;
}

const std::vector<KernelInfo> &kernelCatalogue() {
  static const std::vector<KernelInfo> catalogue = [] {
    std::vector<KernelInfo> v;
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  v.push_back(makeInfo(name, KernelId::Id, StreamClass::Stream, inPlace,                      \
                       catalogue_backends::Backends, #S, attrInfos(static_cast<const S *>(nullptr)), \
                       inputs, outputs, summary));
#include "ds/runtime/KernelCatalogue.def"
    return v;
  }();
  return catalogue;
}

const KernelInfo &kernelInfo(KernelId id) { return kernelCatalogue()[size_t(id)]; }

bool mayShareOutputBytes(KernelId id, bool inPlace, size_t input) {
  // Only the accumulated-into operands: gemm's c, reduce_sum's acc, layer_norm_grad's accs,
  // multi_add's accs; and the loss's scores, which dscores may overwrite.
  if (id == KernelId::Gemm)
    return inPlace && input >= 2;
  if (id == KernelId::ReduceSum)
    return inPlace && input >= 1;
  if (id == KernelId::LayerNormGrad)
    return inPlace && input >= 3;
  if (id == KernelId::MultiAdd) // the accs: inputs 0, 2, 4, ...
    return inPlace && input % 2 == 0;
  if (id == KernelId::SoftmaxCrossEntropyLossWithGrad)
    return inPlace && input == 1;
  return inPlace;
}

const KernelInfo *findKernelInfo(std::string_view name) {
  static const std::map<std::string_view, const KernelInfo *> byName = [] {
    std::map<std::string_view, const KernelInfo *> m;
    for (const KernelInfo &k : kernelCatalogue())
      m[k.name] = &k;
    return m;
  }();
  auto it = byName.find(name);
  return it == byName.end() ? nullptr : it->second;
}

const char *streamClassName(StreamClass s) {
  switch (s) {
  case StreamClass::Compute: return "compute";
  case StreamClass::Comm: return "comm";
  case StreamClass::Copy: return "copy";
  case StreamClass::Io: return "io";
  case StreamClass::Host: return "host";
  }
  return "?";
}

const char *attrKindName(AttrKind k) {
  switch (k) {
  case AttrKind::Int: return "int";
  case AttrKind::Float: return "float";
  case AttrKind::Bool: return "bool";
  case AttrKind::String: return "string";
  case AttrKind::Ints: return "ints";
  case AttrKind::Value: return "value";
  }
  return "?";
}

// ---------------------------------------------------------------- decoding
namespace {
using Attribute = ds::plan::Attribute;

const Attribute *findAttr(const Instruction &ins, const char *name) {
  auto it = ins.attrs().find(name);
  return it == ins.attrs().end() ? nullptr : &it->second;
}
const Attribute &requireAttr(const Instruction &ins, const char *name) {
  const Attribute *a = findAttr(ins, name);
  if (!a)
    fail("missing attribute '", name, "'");
  return *a;
}

int64_t asInt(const Attribute &a, const char *name) {
  if (a.value_case() != Attribute::kI)
    fail("attribute '", name, "' must be an int64");
  return a.i();
}
double asFloat(const Attribute &a, const char *name) {
  if (a.value_case() == Attribute::kF)
    return a.f();
  if (a.value_case() == Attribute::kI)
    return double(a.i());
  fail("attribute '", name, "' must be a float");
}
bool asBool(const Attribute &a, const char *name) {
  int64_t v = asInt(a, name);
  if (v != 0 && v != 1)
    fail("attribute '", name, "' must be 0 or 1, got ", v);
  return v != 0;
}
template <typename Enum> Enum asEnum(const Attribute &a, const char *name) {
  if (a.value_case() != Attribute::kS)
    fail("attribute '", name, "' must be a string");
  const auto &v = spellings<Enum>();
  for (size_t i = 0; i < v.size(); ++i)
    if (a.s() == v[i])
      return Enum(i);
  fail("attribute '", name, "' must be ", quotedChoices<Enum>(), ", got \"", a.s(), "\"");
}
std::vector<int64_t> asInts(const Attribute &a, const char *name) {
  // An empty list may arrive with no value set (a writer that never touched the oneof).
  if (a.value_case() == Attribute::VALUE_NOT_SET)
    return {};
  if (a.value_case() != Attribute::kInts)
    fail("attribute '", name, "' must be an int64 list");
  return {a.ints().values().begin(), a.ints().values().end()};
}
ConstantValue asValue(const Attribute &a, const char *name) {
  ConstantValue v;
  switch (a.value_case()) {
  case Attribute::kRaw:
    v.kind = ConstantValue::Kind::Raw;
    v.raw = a.raw();
    break;
  case Attribute::kInts:
    v.kind = ConstantValue::Kind::Ints;
    v.ints.assign(a.ints().values().begin(), a.ints().values().end());
    break;
  case Attribute::kFloats:
    v.kind = ConstantValue::Kind::Floats;
    v.floats.assign(a.floats().values().begin(), a.floats().values().end());
    break;
  case Attribute::kI:
    v.kind = ConstantValue::Kind::Int;
    v.ints = {a.i()};
    break;
  case Attribute::kF:
    v.kind = ConstantValue::Kind::Float;
    v.floats = {a.f()};
    break;
  default:
    fail("attribute '", name, "' must be raw bytes, a number or a list of numbers");
  }
  return v;
}

#define DS_ATTRS(S)                                                                           \
  void decodeInto(const Instruction &ins, S &a) {                                             \
    [[maybe_unused]] const Attribute *p = nullptr;
#define DS_ATTRS_END(S) }
#define DS_ATTR_INT(S, name, dflt)                                                            \
  if ((p = findAttr(ins, #name)))                                                             \
    a.name = asInt(*p, #name);
#define DS_ATTR_INT_REQUIRED(S, name) a.name = asInt(requireAttr(ins, #name), #name);
#define DS_ATTR_INT_OPTIONAL(S, name)                                                         \
  if ((p = findAttr(ins, #name)))                                                             \
    a.name = asInt(*p, #name);
#define DS_ATTR_FLOAT(S, name, dflt)                                                          \
  if ((p = findAttr(ins, #name)))                                                             \
    a.name = asFloat(*p, #name);
#define DS_ATTR_FLOAT_REQUIRED(S, name) a.name = asFloat(requireAttr(ins, #name), #name);
#define DS_ATTR_BOOL(S, name, dflt)                                                           \
  if ((p = findAttr(ins, #name)))                                                             \
    a.name = asBool(*p, #name);
#define DS_ATTR_BOOL_REQUIRED(S, name) a.name = asBool(requireAttr(ins, #name), #name);
#define DS_ATTR_ENUM(S, name, Enum, Dflt)                                                     \
  if ((p = findAttr(ins, #name)))                                                             \
    a.name = asEnum<Enum>(*p, #name);
#define DS_ATTR_ENUM_REQUIRED(S, name, Enum)                                                  \
  a.name = asEnum<Enum>(requireAttr(ins, #name), #name);
#define DS_ATTR_INTS_REQUIRED(S, name) a.name = asInts(requireAttr(ins, #name), #name);
#define DS_ATTR_INTS_OPTIONAL(S, name)                                                        \
  if ((p = findAttr(ins, #name)))                                                             \
    a.name = asInts(*p, #name);
#define DS_ATTR_VALUE_REQUIRED(S, name) a.name = asValue(requireAttr(ins, #name), #name);
#include "ds/runtime/KernelCatalogue.def"

/// Every attribute of the plan must be one the kernel takes (annotations aside).
void rejectUnknownAttrs(const KernelInfo &k, const Instruction &ins) {
  std::string unknown; // the smallest unknown key: the same message on every run
  for (const auto &kv : ins.attrs())
    if (!k.findAttr(kv.first) && !isKernelAnnotation(kv.first) &&
        (unknown.empty() || kv.first < unknown))
      unknown = kv.first;
  if (unknown.empty() && ins.attrs().count("") == 0)
    return;
  std::string takes;
  for (const AttrInfo &a : k.attrs)
    takes += (takes.empty() ? "" : ", ") + std::string(a.name);
  fail("unknown attribute '", unknown, "' (", k.name, " takes ",
       takes.empty() ? "no attributes" : takes, ")");
}
} // namespace

KernelAttrs decodeKernelAttrs(KernelId id, const Instruction &ins) {
  rejectUnknownAttrs(kernelInfo(id), ins);
  switch (id) {
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  case KernelId::Id: {                                                                        \
    S a;                                                                                      \
    decodeInto(ins, a);                                                                       \
    return a;                                                                                 \
  }
#include "ds/runtime/KernelCatalogue.def"
  }
  fail("kernel id ", int(id), " is not in the catalogue");
}

KernelAttrs decodeKernelAttrs(const Instruction &ins) {
  const KernelInfo *k = findKernelInfo(ins.kernel());
  if (!k)
    fail("unknown kernel '", ins.kernel(), "'");
  return decodeKernelAttrs(k->id, ins);
}

bool isKernelAnnotation(std::string_view key) {
  size_t dot = key.find('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < key.size();
}

} // namespace ds::rt
