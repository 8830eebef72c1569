// The kernel catalogue as data (from KernelCatalogue.def): what the compiler reads to fill defaults and validate.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace ds::rt {

/// Every kernel of the catalogue, in table order.
enum class KernelId : uint16_t {
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) Id,
#include "ds/runtime/KernelCatalogue.def"
};
constexpr size_t kKernelCount = 0
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) +1
#include "ds/runtime/KernelCatalogue.def"
    ;

/// How an attribute is spelled in the plan (ds.plan.Attribute's oneof).
enum class AttrKind {
  Int,    // i
  Float,  // f (an i is accepted and converted)
  Bool,   // i, 0 or 1
  String, // s; allowedValues lists the accepted spellings
  Ints,   // ints
  Value,  // raw bytes, ints, floats, i or f (constant's value)
};

/// The stream class a kernel belongs on (the plan's Instruction.stream).
enum class StreamClass { Compute, Comm, Copy, Io, Host };

/// Backends implementing a kernel (bit set).
enum : unsigned { kBackendCpu = 1, kBackendCuda = 2 };
/// The Backends column of KernelCatalogue.def as bit sets.
namespace catalogue_backends {
inline constexpr unsigned Cpu = kBackendCpu, Cuda = kBackendCuda,
                          CpuCuda = kBackendCpu | kBackendCuda;
} // namespace catalogue_backends

struct AttrInfo {
  const char *name;  // the plan's attribute name (= the C++ field name)
  AttrKind kind;
  bool required;     // must be present
  bool hasDefault;   // absent means the default below; neither required nor defaulted means
                     // "optional, computed" (e.g. slice steps, loss ignore_index)
  int64_t defaultInt;          // Int and Bool defaults
  double defaultFloat;         // Float defaults
  const char *defaultString;   // String defaults, else nullptr
  const char *allowedValues;   // "a|b|c" for String, else nullptr
};

struct KernelInfo {
  const char *name;
  KernelId id;
  StreamClass stream;
  bool inPlace; // an output may be exactly an input's bytes
  unsigned backends; // kBackendCpu | kBackendCuda
  int minInputs, maxInputs; // maxInputs -1: unbounded
  int minOutputs, maxOutputs;
  const char *attrStruct; // the C++ struct holding its decoded attributes (KernelAttrs.h)
  std::vector<AttrInfo> attrs;
  const char *inputs, *outputs; // roles, e.g. "a, b, c?" (`?` optional, `...` variadic)
  const char *summary;

  const AttrInfo *findAttr(std::string_view attr) const;
};

/// The catalogue entry of `name`, or nullptr for an unknown kernel.
const KernelInfo *findKernelInfo(std::string_view name);
/// The catalogue entry of `id`.
const KernelInfo &kernelInfo(KernelId id);
/// Whether an output of kernel `id` (`inPlace`: its catalogue column) may be exactly input
/// `input`'s bytes: any input of an in-place kernel, except that the accumulating kernels
/// may write only over what they accumulate into (gemm's c, reduce_sum's acc,
/// layer_norm_grad's dscale_acc and dbias_acc); the other inputs are read while the
/// results are written.
bool mayShareOutputBytes(KernelId id, bool inPlace, size_t input);
/// Every kernel, in table order (indexable by KernelId).
const std::vector<KernelInfo> &kernelCatalogue();

/// Whether a plan attribute key is a compiler annotation (MLIR's discardable `dialect.name`
/// attributes, e.g. `ds.loss`): carried, never read, never a kernel attribute (kernel
/// attribute names hold no '.').
bool isKernelAnnotation(std::string_view key);

const char *streamClassName(StreamClass s); // "compute", "comm", ...
const char *attrKindName(AttrKind k);       // "int", "float", ...

} // namespace ds::rt
