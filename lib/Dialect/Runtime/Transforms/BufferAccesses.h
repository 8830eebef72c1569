// Who reads and writes a runtime-dialect buffer, and where a kernel may move: the checks
// that the kernel-folding passes (ds-fuse-gemm, ds-fold-accumulation) share.
#ifndef DS_DIALECT_RUNTIME_TRANSFORMS_BUFFERACCESSES_H
#define DS_DIALECT_RUNTIME_TRANSFORMS_BUFFERACCESSES_H

#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseSet.h"

#include <optional>

namespace mlir::dsrt {

inline MemRefType memrefOf(Value v) { return cast<MemRefType>(v.getType()); }

/// Whether `v` is in device memory: a transient, or a view of a device global (offloaded
/// state is read and accumulated by host kernels that --ds-insert-transfers places).
bool onDevice(Value v, Operation *from);

/// Every kernel access of a device transient (an alloc), directly or through views.
struct Accesses {
  SmallVector<KernelOp> writers, readers;
  SmallVector<ViewOp> views;
};

/// The accesses of `v`'s root when it is a device alloc used only by kernels and views;
/// nullopt otherwise (a global, a returned buffer, another use).
std::optional<Accesses> transientAccesses(Value v);

/// Whether no kernel strictly between `from` and `to` (same block, from before to) writes
/// a buffer aliasing one of `values`.
bool unwrittenBetween(Operation *from, Operation *to, ValueRange values);

/// Whether no kernel strictly between `from` and `to` reads or writes `v`'s bytes.
bool untouchedBetween(Operation *from, Operation *to, Value v);

/// Whether `v` is a transient that `writer` writes alone and whose only other access is
/// one reader, `reader` (the value a fold removes).
bool isPrivateIntermediate(Value v, KernelOp writer, KernelOp reader);

/// Erases the alloc behind `v` and its views when nothing uses them any more.
void eraseIfDead(Value v);

/// `v` seen with `shape` (a view when its own shape differs), built before `at`.
Value reshaped(Value v, ArrayRef<int64_t> shape, Operation *at);

/// Whether `v` is defined before `at`, or by an operand-less op (an alloc, a global's
/// buffer) that can move there; hoistBefore moves it.
bool definableBefore(Value v, Operation *at);
void hoistBefore(Value v, Operation *at);

/// Whether two buffers of one type are the same bytes: the same value, or whole buffers
/// of the same global.
bool sameBytes(Value a, Value b);

/// Whether the kernel writes +0.0 into every element of its one output, reading nothing
/// (a zero `constant` or `fill` on the compute stream).
bool writesPositiveZeros(KernelOp k);

/// Whether `k` writes +0.0 into every element of its one output: a zero constant, or a
/// whole-buffer copy from a buffer that holds zeros then (its last writer before `k`
/// wrote zeros; transients and globals alike).
bool writesZeros(KernelOp k, int depth = 0);

/// The global whose whole buffer `v` is: a dsrt.param of the global's own type, directly
/// or (`throughViews`) under views; null otherwise.
GlobalOp wholeGlobalOf(Value v, SymbolTable &symbols, bool throughViews);

/// The globals that a dsrt.span of `module` lists (their places are fixed), for the passes
/// that lay globals out back to back; an error on `module` when `alignment` (the planner's
/// placement unit) is not a power of two.
FailureOr<llvm::DenseSet<Operation *>> globalsInSpans(ModuleOp module, SymbolTable &symbols,
                                                      int64_t alignment);

} // namespace mlir::dsrt

#endif // DS_DIALECT_RUNTIME_TRANSFORMS_BUFFERACCESSES_H
