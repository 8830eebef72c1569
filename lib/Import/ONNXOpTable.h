// The table of ONNX ops the importer knows, keyed by (domain, op type, since-version),
// and what the op-family files that fill it share.
#ifndef DS_LIB_IMPORT_ONNXOPTABLE_H
#define DS_LIB_IMPORT_ONNXOPTABLE_H

#include "ONNXImporterImpl.h"

#include "llvm/ADT/StringMap.h"

namespace onnx {
class OpSchema;
} // namespace onnx

namespace mlir::ds::onnx_import {

/// Converts the current node into ds ops.
using ConvertFn = LogicalResult (*)(GraphImporter &, const onnx::NodeProto &);
/// Evaluates a node on constant inputs: success with `outputs` filled, success with
/// `outputs` empty when the result would be too large to fold, failure on an error
/// (already emitted).
using FoldFn = LogicalResult (*)(GraphImporter &, const onnx::NodeProto &,
                                 ArrayRef<const ConstTensor *> inputs,
                                 SmallVectorImpl<ConstTensor> &outputs);

/// How one ONNX op imports, from its since-version until the op's next entry.
struct OpImport {
  /// Builds ds ops; null for ops that only compute shapes (they must fold).
  ConvertFn convert = nullptr;
  /// Evaluates the node when its inputs are constants known at import time; may be
  /// null.
  FoldFn fold = nullptr;
  /// Folds from the input types alone, constant inputs or not (Shape, Size).
  bool foldsFromTypes = false;
};

/// ONNX ops by (domain, op type, since-version), as torch-mlir's TorchOnnxToTorch
/// patterns: a node imports with the entry of the highest since-version at or below its
/// domain's opset in the model.
class ONNXOpTable {
public:
  /// `op` of the default domain imports with `convert` (and `fold`, when all inputs are
  /// constants) from opset `sinceVersion` on.
  void onOp(llvm::StringRef op, int64_t sinceVersion, ConvertFn convert,
            FoldFn fold = nullptr) {
    onOp("", op, sinceVersion, {convert, fold});
  }
  /// `op` of the default domain only computes shapes: it must fold.
  void onShapeOp(llvm::StringRef op, int64_t sinceVersion, FoldFn fold,
                 bool foldsFromTypes = false) {
    onOp("", op, sinceVersion, {nullptr, fold, foldsFromTypes});
  }
  void onOp(llvm::StringRef domain, llvm::StringRef op, int64_t sinceVersion,
            OpImport import);

  /// The entry of `op` in `domain` for `opset`, or null when none applies.
  const OpImport *lookup(llvm::StringRef domain, llvm::StringRef op, int64_t opset) const;
  /// One (domain, op) of the table: the lowest opset it imports from, and whether it
  /// only folds (constant inputs only: shape computations, constant subgraphs).
  struct Entry {
    std::string domain, op;
    int64_t sinceVersion;
    bool foldOnly;       // imports only when its inputs are constants
    bool foldsFromTypes; // folds from its inputs' types alone (Shape, Size)
    bool operator<(const Entry &o) const {
      return std::tie(domain, op) < std::tie(o.domain, o.op);
    }
  };
  /// Every (domain, op) with an entry, sorted (the newest entry says whether it folds only).
  std::vector<Entry> entries() const;
  /// The lowest opset of `domain` from which `op` has an entry, or null when never.
  std::optional<int64_t> firstVersion(llvm::StringRef domain, llvm::StringRef op) const;

private:
  struct Versioned {
    int64_t sinceVersion;
    OpImport import;
  };
  /// Keyed by "domain:op"; each list sorted by since-version.
  llvm::StringMap<SmallVector<Versioned, 1>> ops;
};

/// The table of every op family below, built once.
const ONNXOpTable &getONNXOpTable();

/// The op families (ONNX<Family>Ops.cpp).
void populateElementwiseOps(ONNXOpTable &table);
void populateLinalgOps(ONNXOpTable &table);
void populateNormalizationOps(ONNXOpTable &table);
void populateReductionOps(ONNXOpTable &table);
void populateShapeOps(ONNXOpTable &table);
void populateShapeComputationOps(ONNXOpTable &table);
void populateTrainingOps(ONNXOpTable &table);
void populateConvolutionOps(ONNXOpTable &table);
/// Refuses Conv / MaxPool / AveragePool / GlobalAveragePool nodes whose input ranks (graph
/// inputs `ranks`, initializers, and rank-preserving ops after them) or window attribute
/// lengths disagree: onnx 1.12's convPoolShapeInference indexes past them (SIGSEGV).
LogicalResult checkWindowAttributes(GraphImporter &imp, const onnx::GraphProto &graph,
                                    llvm::StringMap<int64_t> ranks);
/// Ops made of other ds ops (ONNXComposedOps.cpp).
void populateComposedOps(ONNXOpTable &table);

//===----------------------------------------------------------------------===//
// Shared by the conversions
//===----------------------------------------------------------------------===//

inline RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

inline NamedAttribute named(GraphImporter &imp, llvm::StringRef name, Attribute a) {
  return imp.builder.getNamedAttr(name, a);
}
inline NamedAttribute i64Attr(GraphImporter &imp, llvm::StringRef name, int64_t v) {
  return named(imp, name, imp.builder.getI64IntegerAttr(v));
}
inline NamedAttribute arrayAttr(GraphImporter &imp, llvm::StringRef name,
                                ArrayRef<int64_t> v) {
  return named(imp, name, imp.builder.getDenseI64ArrayAttr(v));
}

/// Sets output 0 from a created op, or fails.
template <typename OpTy> LogicalResult setResult(GraphImporter &imp, FailureOr<OpTy> op) {
  if (failed(op))
    return failure();
  imp.setOutput(0, (*op)->getResult(0));
  return success();
}

/// Reads an axes input (`asInput`: opset 13+ for most ops) or attribute; nullopt when
/// absent.
FailureOr<std::optional<SmallVector<int64_t>>> readAxes(GraphImporter &imp,
                                                        int inputIndex, bool asInput);

//===----------------------------------------------------------------------===//
// Shared by the folders (ONNXConstantFolding.cpp)
//===----------------------------------------------------------------------===//

using FoldInputs = ArrayRef<const ConstTensor *>;
using FoldOutputs = SmallVectorImpl<ConstTensor>;

/// Whether a result of `shape` may be folded (small, or a splat).
bool foldable(ArrayRef<int64_t> shape, bool splat);
bool isSplatLike(const ConstTensor &t);
/// Strides of a row-major shape.
SmallVector<int64_t> strides(ArrayRef<int64_t> shape);
/// For each element of `out`, the flat index of the element of `in` that broadcasts
/// to it.
std::vector<int64_t> broadcastIndices(ArrayRef<int64_t> in, ArrayRef<int64_t> out);
/// Element `i` of `src` appended to `dst` (same element type).
void copyElement(const ConstTensor &src, int64_t i, ConstTensor &dst);
/// A tensor with `src`'s data in a new shape.
ConstTensor withShape(const ConstTensor &src, ArrayRef<int64_t> shape);

enum class BinaryKind { Add, Sub, Mul, Div, Equal, Less, Greater, Min, Max };
/// a `kind` b with broadcasting; `result` stays empty when too large to fold.
LogicalResult foldBinary(GraphImporter &imp, const ConstTensor &a, const ConstTensor &b,
                         BinaryKind kind, std::optional<ConstTensor> &result);
/// Ops that only change the shape keep the data (and a splat stays a splat).
LogicalResult emitReshaped(const ConstTensor &in, ArrayRef<int64_t> shape,
                           FoldOutputs &out);

//===----------------------------------------------------------------------===//
// Schema checks (ONNXSchemaChecks.cpp)
//===----------------------------------------------------------------------===//

/// Fails, naming the input, when an input's type is not one its formal parameter in
/// `schema` takes, or two inputs bound to one type variable differ.
LogicalResult checkInputTypes(GraphImporter &imp, const onnx::OpSchema &schema,
                              const onnx::NodeProto &n);
/// Whether `type` contradicts a declared ONNX type (element type, rank or a static dim;
/// what the model leaves unknown contradicts nothing).
bool contradictsDeclaredType(GraphImporter &imp, const onnx::TypeProto &declared,
                             RankedTensorType type);

//===----------------------------------------------------------------------===//
// General constant folding (ONNXRuntimeFolding.cpp)
//===----------------------------------------------------------------------===//

/// Converts the current node (whose inputs are all constants) with `convert` into a
/// scratch block and evaluates the ds ops it made with the CPU runtime's kernels; on
/// success the node's outputs are constants and `folded` is set. Leaves the importer as
/// it was (and `folded` unset) when some op cannot be evaluated at import time (no CPU
/// kernel, random, results over the fold limit); fails only when the conversion does.
LogicalResult foldWithRuntimeKernels(GraphImporter &imp, const onnx::NodeProto &n,
                                     ConvertFn convert, bool &folded);

} // namespace mlir::ds::onnx_import

#endif // DS_LIB_IMPORT_ONNXOPTABLE_H
