// Overflow-checked byte counts for the memory planner and the memory report.
#ifndef DS_DIALECT_RUNTIME_IR_BYTESIZE_H
#define DS_DIALECT_RUNTIME_IR_BYTESIZE_H

#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/IR/BuiltinTypeInterfaces.h"
#include "llvm/Support/CheckedArithmetic.h"

#include <optional>

namespace mlir::dsrt {
/// The runtime's limit on each region (arena, persistent, host, NVMe) of a plan: kMaxRegionBytes
/// of runtime/include/ds/runtime/Plan.h.
constexpr int64_t kMaxRegionBytes = int64_t(1) << 40;

/// Bytes of a static shaped type, or nullopt when elements x element bytes overflow int64.
inline std::optional<int64_t> getCheckedByteSize(ShapedType type) {
  std::optional<int64_t> bytes = getElementBytes(type.getElementType());
  for (int64_t d : type.getShape()) {
    if (d < 0 || !bytes)
      return std::nullopt;
    bytes = llvm::checkedMul(*bytes, d);
  }
  return bytes;
}

/// a + b, or nullopt on int64 overflow.
inline std::optional<int64_t> checkedAddBytes(int64_t a, int64_t b) {
  return llvm::checkedAdd(a, b);
}

/// `value` rounded up to a multiple of `alignment` (a power of two), or nullopt on overflow.
inline std::optional<int64_t> checkedAlignTo(int64_t value, int64_t alignment) {
  std::optional<int64_t> up = llvm::checkedAdd(value, alignment - 1);
  if (!up)
    return std::nullopt;
  return *up & ~(alignment - 1);
}
} // namespace mlir::dsrt

#endif // DS_DIALECT_RUNTIME_IR_BYTESIZE_H
