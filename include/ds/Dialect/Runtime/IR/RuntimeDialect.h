// The `dsrt` dialect and its ops.
#ifndef DS_DIALECT_RUNTIME_IR_RUNTIMEDIALECT_H
#define DS_DIALECT_RUNTIME_IR_RUNTIMEDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/PointerUnion.h"

#include "ds/Dialect/Runtime/IR/RuntimeOpsDialect.h.inc"

#include "ds/Dialect/Runtime/IR/RuntimeEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ds/Dialect/Runtime/IR/RuntimeAttrs.h.inc"

#define GET_OP_CLASSES
#include "ds/Dialect/Runtime/IR/RuntimeOps.h.inc"

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace mlir::dsrt {
/// Byte offset of a function argument in the arena.
constexpr llvm::StringLiteral kOffsetAttr = "dsrt.offset";
/// Module attributes set by memory planning: the arena, and one region per memory
/// space (device: persistent, host, nvme).
constexpr llvm::StringLiteral kArenaBytesAttr = "dsrt.arena_bytes";
constexpr llvm::StringLiteral kPersistentBytesAttr = "dsrt.persistent_bytes";
constexpr llvm::StringLiteral kHostBytesAttr = "dsrt.host_bytes";
constexpr llvm::StringLiteral kNvmeBytesAttr = "dsrt.nvme_bytes";
constexpr llvm::StringLiteral kPeakBytesAttr = "dsrt.peak_bytes";
constexpr llvm::StringLiteral kAlignmentAttr = "dsrt.alignment";
/// The byte alignment of every buffer unless ds-plan-memory is told otherwise (its
/// `alignment` option; the passes that make dsrt.span assume the same).
constexpr int64_t kDefaultBufferAlignment = 64;
/// Module attribute: ranks the program runs on (the size of its 1-D shard grid).
constexpr llvm::StringLiteral kWorldSizeAttr = "dsrt.world_size";
/// Module attribute: the dsrt.global holding the dynamic loss scale, if any.
constexpr llvm::StringLiteral kLossScaleAttr = "dsrt.loss_scale";

/// The role of a program (its `dsrt.role`, a #dsrt.role), or nullopt for a function
/// without one. Passes read and write roles only through these.
std::optional<ProgramRole> getProgramRole(func::FuncOp func);
void setProgramRole(func::FuncOp func, ProgramRole role);
/// The first function of `module` with `role`, or null.
func::FuncOp findProgram(ModuleOp module, ProgramRole role);

/// The module attribute naming the region of a memory space (dsrt.persistent_bytes
/// for device memory).
StringRef getRegionBytesAttrName(MemorySpace space);

/// The buffer a value's bytes belong to: through any chain of dsrt.view.
Value getAliasRoot(Value v);

/// What two buffers are, for aliasing: a global's name (all its dsrt.param buffers alias),
/// or the root buffer itself.
using AliasKey = llvm::PointerUnion<Attribute, Value>;
AliasKey getAliasKey(Value v);

/// Bytes per element as the plan stores them (i1 takes one byte).
int64_t getElementBytes(Type elementType);
/// Bytes of a static memref or ranked tensor.
int64_t getByteSize(ShapedType type);
} // namespace mlir::dsrt

#endif // DS_DIALECT_RUNTIME_IR_RUNTIMEDIALECT_H
