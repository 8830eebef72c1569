// ONNX tensor data (TensorProto) as the importer and the folders read it: one decoder.
#ifndef DS_LIB_IMPORT_ONNXTENSOR_H
#define DS_LIB_IMPORT_ONNXTENSOR_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace mlir::ds::onnx_import {

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
  RankedTensorType getType() const { return RankedTensorType::get(shape, elementType); }
  DenseElementsAttr toAttr() const;

  /// An empty tensor of `type`'s element type and `shape` with storage for n elements.
  static ConstTensor make(Type elementType, ArrayRef<int64_t> shape);
  static ConstTensor fromInts(Type elementType, ArrayRef<int64_t> shape,
                              std::vector<int64_t> values);
  /// Appends element v converted (rounded, wrapped, truncated) to the element type.
  void push(double v);
  void pushInt(int64_t v);
};

/// Number of elements of a shape.
int64_t product(ArrayRef<int64_t> shape);

/// Rounds or wraps `v` to what an element of `type` can hold.
double roundReal(Type type, double v);
int64_t wrapInt(Type type, int64_t v);

/// The MLIR element type of an ONNX TensorProto data type, or null when the ds dialect
/// has no such type.
Type elementTypeOf(MLIRContext *ctx, int32_t onnxType);
/// The ONNX name of a data type, for errors ("INT8").
std::string onnxTypeName(int32_t onnxType);

/// Shape of a tensor as "4x32" ("scalar" for rank 0).
std::string formatShape(ArrayRef<int64_t> shape);

/// Whether an external-data location stays below the model's directory (relative,
/// no "..").
bool isModelRelativePath(llvm::StringRef location);

/// Decodes the data of a non-parameter tensor (Constant value, integer initializer):
/// raw_data, the typed fields, or external data read relative to `modelDir`. Errors go
/// to `error`.
FailureOr<ConstTensor> decodeTensor(MLIRContext *ctx, const onnx::TensorProto &tensor,
                                    llvm::StringRef modelDir,
                                    llvm::function_ref<InFlightDiagnostic()> error);

/// Checks that the data of a tensor of `type` (a parameter, never read into the IR) is
/// present and sized right, from the same sources decodeTensor reads, without reading
/// it. Errors go to `error`, which names the tensor.
LogicalResult checkTensorData(const onnx::TensorProto &tensor, RankedTensorType type,
                              llvm::StringRef modelDir,
                              llvm::function_ref<InFlightDiagnostic()> error);

} // namespace mlir::ds::onnx_import

#endif // DS_LIB_IMPORT_ONNXTENSOR_H
