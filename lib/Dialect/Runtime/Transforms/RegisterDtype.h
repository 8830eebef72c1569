// The plan dtype of a fused program's register element type: what ds-fuse-elementwise
// accepts into a program and ds-generate-fused-kernels compiles.
#ifndef DS_DIALECT_RUNTIME_TRANSFORMS_REGISTERDTYPE_H
#define DS_DIALECT_RUNTIME_TRANSFORMS_REGISTERDTYPE_H

#include "mlir/IR/Types.h"

#include "ds/runtime/FusedProgram.h"

#include <optional>

namespace mlir::dsrt {
/// f32, bf16, f16 or i1; nullopt for the rest (f64, integers).
inline std::optional<::ds::plan::DType> registerDtype(Type t) {
  if (t.isF32())
    return ::ds::plan::F32;
  if (t.isBF16())
    return ::ds::plan::BF16;
  if (t.isF16())
    return ::ds::plan::F16;
  if (t.isInteger(1))
    return ::ds::plan::I1;
  return std::nullopt;
}
} // namespace mlir::dsrt

#endif // DS_DIALECT_RUNTIME_TRANSFORMS_REGISTERDTYPE_H
