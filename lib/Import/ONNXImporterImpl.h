// Internals shared by the ONNX importer's files: import-time constants and the graph importer.
#ifndef DS_LIB_IMPORT_ONNXIMPORTERIMPL_H
#define DS_LIB_IMPORT_ONNXIMPORTERIMPL_H

#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Import/ONNX.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <onnx/onnx_pb.h>

#include <memory>
#include <vector>

namespace mlir::ds::onnx_import {

/// Results of at most this many elements (or splats) are folded at import time.
constexpr int64_t kMaxFoldElements = 4096;

/// A tensor known at import time: integers (and booleans) as int64, floats as double.
/// A splat holds one element for any shape.
struct ConstTensor {
  Type elementType;
  SmallVector<int64_t> shape;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  bool splat = false;

  bool isFloat() const { return isa<FloatType>(elementType); }
  int64_t numElements() const;
  /// Number of stored elements (1 for a splat).
  int64_t storedElements() const {
    return isFloat() ? (int64_t)reals.size() : (int64_t)ints.size();
  }
  int64_t intAt(int64_t i) const;
  double realAt(int64_t i) const;
  /// Element i as a double, whatever the type.
  double asReal(int64_t i) const { return isFloat() ? realAt(i) : (double)intAt(i); }
  /// Element i as an int64 (floats truncate toward zero).
  int64_t asInt(int64_t i) const;
  RankedTensorType getType() const {
    return RankedTensorType::get(shape, elementType);
  }
  DenseElementsAttr toAttr() const;

  /// An empty tensor of `type`'s element type and `shape` with storage for n elements.
  static ConstTensor make(Type elementType, ArrayRef<int64_t> shape);
  static ConstTensor fromInts(Type elementType, ArrayRef<int64_t> shape,
                              std::vector<int64_t> values);
  /// Appends element v converted (rounded, wrapped, truncated) to the element type.
  void push(double v);
  void pushInt(int64_t v);
};

/// Rounds or wraps `v` to what an element of `type` can hold.
double roundReal(Type type, double v);
int64_t wrapInt(Type type, int64_t v);

/// The MLIR element type of an ONNX TensorProto data type, or null when the ds dialect
/// has no such type.
Type elementTypeOf(MLIRContext *ctx, int32_t onnxType);
/// The ONNX name of a data type, for errors ("INT8").
std::string onnxTypeName(int32_t onnxType);

/// An ONNX value during import: an SSA value, a known constant, or a parameter read
/// lazily (at most one `ds.param_ref` per function).
struct ImportedValue {
  Value value;
  std::shared_ptr<ConstTensor> constant;
  FlatSymbolRefAttr parameter;
  RankedTensorType type;
};

class GraphImporter;
using ConvertFn = LogicalResult (*)(GraphImporter &, const onnx::NodeProto &);
/// Evaluates a node on constant inputs: success with `outputs` filled, success with
/// `outputs` empty when the result would be too large to fold, failure on an error
/// (already emitted).
using FoldFn = LogicalResult (*)(GraphImporter &, const onnx::NodeProto &,
                                 ArrayRef<const ConstTensor *> inputs,
                                 SmallVectorImpl<ConstTensor> &outputs);

/// Conversions of ONNX ops into ds ops, keyed by op type (ONNXOpConversions.cpp).
const llvm::StringMap<ConvertFn> &getOpConversions();
/// Import-time evaluators, keyed by op type (ONNXConstantFolding.cpp).
const llvm::StringMap<FoldFn> &getOpFolders();
/// Ops that only compute shapes and have no ds op: they must fold.
bool isShapeOnlyOp(llvm::StringRef opType);
/// Ops folded from their input types alone (Shape, Size).
bool foldsFromTypes(llvm::StringRef opType);

/// Imports one ONNX graph into `@forward`.
class GraphImporter {
public:
  GraphImporter(MLIRContext *ctx, ModuleOp module, llvm::StringRef path,
                const ImportOptions &options, int64_t opset)
      : ctx(ctx), module(module), builder(ctx), path(path.str()),
        options(options), opset(opset), loc(UnknownLoc::get(ctx)) {}

  MLIRContext *ctx;
  ModuleOp module;
  OpBuilder builder;
  std::string path;
  const ImportOptions &options;
  int64_t opset;
  /// The node being converted and its location.
  const onnx::NodeProto *node = nullptr;
  int64_t nodeIndex = 0;
  Location loc;
  /// Directory of the model file, for external data.
  std::string modelDir;
  llvm::StringMap<ImportedValue> values;
  /// Names read by some node or graph output.
  llvm::StringSet<> used;
  /// Where `ds.param_ref`s of the current function go.
  llvm::DenseMap<Attribute, Value> paramRefs;
  /// Dropout nodes converted so far: the default seed of the next one.
  int64_t numDropouts = 0;

  /// "node 'X' (op 'Y', domain '', opset 17)".
  std::string describeNode(const onnx::NodeProto &n) const;
  /// An error on the current node: "<file>: node '...' (...): " and the caller's text.
  InFlightDiagnostic nodeError();
  /// An error on the file as a whole.
  InFlightDiagnostic fileError();
  Location nodeLocation(const onnx::NodeProto &n, int64_t index);

  /// Input i of the current node: null when absent (empty name or past the end).
  const ImportedValue *input(int i);
  /// Input i materialized as an SSA value; emits an error and returns null if absent.
  Value inputValue(int i);
  /// Input i as an import-time constant; emits an error naming `what` otherwise.
  const ConstTensor *constantInput(int i, llvm::StringRef what);
  /// Whether output i of the current node exists and is used.
  bool outputUsed(int i) const;
  /// Defines output i of the current node.
  void setOutput(int i, Value v);
  void setOutput(int i, ConstTensor c);
  void setOutputAlias(int i, const ImportedValue &v);

  /// The value of an ImportedValue, creating a `ds.constant` or `ds.param_ref` on demand.
  Value materialize(ImportedValue &v);

  /// Attributes of the current node.
  const onnx::AttributeProto *attr(llvm::StringRef name) const;
  int64_t intAttr(llvm::StringRef name, int64_t dflt) const;
  float floatAttr(llvm::StringRef name, float dflt) const;
  std::string stringAttr(llvm::StringRef name, llvm::StringRef dflt) const;
  std::optional<SmallVector<int64_t>> intsAttr(llvm::StringRef name) const;

  /// Normalizes axis into [0, rank); emits an error when out of range.
  FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank,
                                   llvm::StringRef what = "axis");
  FailureOr<SmallVector<int64_t>> normalizeAxes(ArrayRef<int64_t> axes,
                                                int64_t rank);

  /// Creates an op whose result types it infers; an inference error is reported on the
  /// current node instead of aborting.
  template <typename OpTy>
  FailureOr<OpTy> createInferred(ValueRange operands,
                                 ArrayRef<NamedAttribute> attrs = {}) {
    OperationState state(loc, OpTy::getOperationName());
    state.addOperands(operands);
    DictionaryAttr dict = DictionaryAttr::get(ctx, attrs);
    auto &props = state.getOrAddProperties<typename OpTy::Properties>();
    if (failed(OpTy::setPropertiesFromAttr(
            props, dict, [&]() { return nodeError(); })))
      return failure();
    SmallVector<Type> types;
    if (failed(OpTy::inferReturnTypes(ctx, loc, state.operands, dict,
                                      state.getRawProperties(), state.regions,
                                      types)))
      return failure();
    state.addTypes(types);
    return cast<OpTy>(builder.create(state));
  }
  /// Creates an op with the given result types (and attributes through properties).
  template <typename OpTy>
  FailureOr<OpTy> createTyped(TypeRange types, ValueRange operands,
                              ArrayRef<NamedAttribute> attrs = {}) {
    OperationState state(loc, OpTy::getOperationName());
    state.addOperands(operands);
    DictionaryAttr dict = DictionaryAttr::get(ctx, attrs);
    auto &props = state.getOrAddProperties<typename OpTy::Properties>();
    if (failed(OpTy::setPropertiesFromAttr(
            props, dict, [&]() { return nodeError(); })))
      return failure();
    state.addTypes(types);
    return cast<OpTy>(builder.create(state));
  }

  /// Converts all nodes of `graph` into the body of `func`.
  LogicalResult importNodes(const onnx::GraphProto &graph);

private:
  LogicalResult importNode(const onnx::NodeProto &n);
};

/// Shape of a tensor as "4x32" ("scalar" for rank 0).
std::string formatShape(ArrayRef<int64_t> shape);

/// Whether an external-data location stays below the model's directory (relative,
/// no "..").
bool isModelRelativePath(llvm::StringRef location);

/// Decodes the data of a non-parameter tensor (Constant value, integer initializer);
/// external data is read relative to `modelDir`. Errors go to `error`.
FailureOr<ConstTensor>
decodeTensor(MLIRContext *ctx, const onnx::TensorProto &tensor,
             llvm::StringRef modelDir,
             llvm::function_ref<InFlightDiagnostic()> error);

/// Shape rules shared by folding and conversion; they read the current node's
/// constant inputs and attributes and emit errors on it.
FailureOr<SmallVector<int64_t>> reshapeTarget(GraphImporter &imp,
                                              ArrayRef<int64_t> inShape);
FailureOr<SmallVector<int64_t>> expandTarget(GraphImporter &imp,
                                             ArrayRef<int64_t> inShape);
FailureOr<SmallVector<int64_t>> squeezeAxes(GraphImporter &imp,
                                            ArrayRef<int64_t> inShape);
FailureOr<SmallVector<int64_t>> unsqueezeAxes(GraphImporter &imp,
                                              int64_t inRank);
struct SliceBounds {
  SmallVector<int64_t> starts, ends, steps, resultShape;
};
FailureOr<SliceBounds> sliceBounds(GraphImporter &imp,
                                   ArrayRef<int64_t> inShape);
/// Axes of a Reduce* node (attribute or input by op and opset), normalized; empty
/// means all dims, std::nullopt means the reduction is a no-op.
FailureOr<std::optional<SmallVector<int64_t>>>
reduceAxes(GraphImporter &imp, int64_t rank);
/// Result shape of a reduction.
SmallVector<int64_t> reducedShape(ArrayRef<int64_t> in, ArrayRef<int64_t> axes,
                                  bool keepdims);

} // namespace mlir::ds::onnx_import

#endif // DS_LIB_IMPORT_ONNXIMPORTERIMPL_H
