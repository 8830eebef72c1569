// Internals shared by the ONNX importer's files: the graph importer and its values.
#ifndef DS_LIB_IMPORT_ONNXIMPORTERIMPL_H
#define DS_LIB_IMPORT_ONNXIMPORTERIMPL_H

#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Import/ONNX.h"
#include "ONNXTensor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <memory>
#include <vector>

namespace mlir::ds::onnx_import {

/// Results of at most this many elements (or splats) are folded at import time.
constexpr int64_t kMaxFoldElements = 4096;

/// An ONNX value during import: an SSA value, a known constant, or a parameter read
/// lazily (at most one `ds.param_ref` per function).
struct ImportedValue {
  Value value;
  std::shared_ptr<ConstTensor> constant;
  FlatSymbolRefAttr parameter;
  RankedTensorType type;
};

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
  /// Opset of the default ONNX domain (what errors name).
  int64_t opset;
  /// Opsets of the other domains the model imports.
  llvm::StringMap<int64_t> domainOpsets;
  /// The opset of `domain` ("" and "ai.onnx": the default domain); a domain the model
  /// does not import is taken at its newest.
  int64_t opsetOf(llvm::StringRef domain) const;
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

  /// Fails with one error listing every op of `graph` that the op table lacks (at the
  /// model's opsets), each once with its count and first node.
  LogicalResult checkOpsSupported(const onnx::GraphProto &graph);
  /// Converts all nodes of `graph` into the body of `func`.
  LogicalResult importNodes(const onnx::GraphProto &graph);

private:
  LogicalResult importNode(const onnx::NodeProto &n);
};

} // namespace mlir::ds::onnx_import

#endif // DS_LIB_IMPORT_ONNXIMPORTERIMPL_H
