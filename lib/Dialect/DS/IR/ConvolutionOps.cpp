// Verifiers of the convolution, batch normalization and pooling ops and their gradients.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/runtime/WindowGeometry.h"

using namespace mlir;
using namespace mlir::ds;

namespace {
RankedTensorType tensorOf(Value v) { return cast<RankedTensorType>(v.getType()); }
RankedTensorType tensorOf(Type t) { return cast<RankedTensorType>(t); }

std::vector<int64_t> vec(ArrayRef<int64_t> a) {
  return std::vector<int64_t>(a.begin(), a.end());
}

/// Checks x [N, C, S...] against w [M, C/group, K...] and y [N, M, O...], all of one
/// element type.
LogicalResult verifyConv(Operation *op, RankedTensorType x, RankedTensorType w,
                         RankedTensorType y, ArrayRef<int64_t> strides,
                         ArrayRef<int64_t> pads, ArrayRef<int64_t> dilations,
                         int64_t group) {
  if (x.getElementType() != w.getElementType() ||
      x.getElementType() != y.getElementType())
    return op->emitOpError("input, weight and result must have one element type");
  int64_t rank = x.getRank();
  if (rank < 3 || rank > 4)
    return op->emitOpError("input must be [N, C, S...] with 1 or 2 spatial dims, got ")
           << x;
  if (w.getRank() != rank || y.getRank() != rank)
    return op->emitOpError("input, weight and result must have the same rank");
  std::vector<::ds::rt::WindowDim> dims;
  std::string err = ::ds::rt::windowDims({}, vec(strides), vec(pads), vec(dilations),
                                         size_t(rank - 2), dims);
  if (!err.empty())
    return op->emitOpError(err);
  int64_t c = x.getDimSize(1), m = w.getDimSize(0);
  if (group < 1 || c % group != 0 || m % group != 0)
    return op->emitOpError("group ") << group << " must divide the input channels (" << c
                                     << ") and the output channels (" << m << ")";
  if (w.getDimSize(1) != c / group)
    return op->emitOpError("weight must have C / group = ")
           << c / group << " input channels, got " << w;
  SmallVector<int64_t> expect{x.getDimSize(0), m};
  for (int64_t i = 0; i < rank - 2; ++i) {
    dims[size_t(i)].kernel = w.getDimSize(i + 2);
    int64_t o = ::ds::rt::windowOutputSize(x.getDimSize(i + 2), dims[size_t(i)], false);
    if (o < 1)
      return op->emitOpError("the kernel does not fit spatial dim ") << i << " of " << x;
    expect.push_back(o);
  }
  if (y.getShape() != ArrayRef<int64_t>(expect))
    return op->emitOpError("result must be ")
           << RankedTensorType::get(expect, x.getElementType()) << ", got " << y;
  return success();
}

/// Checks x [N, C, S...] pooled to y [N, C, O...].
LogicalResult verifyPool(Operation *op, RankedTensorType x, RankedTensorType y,
                         ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                         ArrayRef<int64_t> pads, ArrayRef<int64_t> dilations,
                         bool ceilMode) {
  if (x.getElementType() != y.getElementType())
    return op->emitOpError("input and result must have one element type");
  int64_t rank = x.getRank();
  if (rank < 3 || rank > 4 || y.getRank() != rank)
    return op->emitOpError(
        "input and result must be [N, C, S...] with 1 or 2 spatial dims");
  std::vector<::ds::rt::WindowDim> dims;
  std::string err = ::ds::rt::windowDims(vec(kernel), vec(strides), vec(pads),
                                         vec(dilations), size_t(rank - 2), dims);
  if (!err.empty())
    return op->emitOpError(err);
  SmallVector<int64_t> expect{x.getDimSize(0), x.getDimSize(1)};
  for (int64_t i = 0; i < rank - 2; ++i) {
    int64_t o =
        ::ds::rt::windowOutputSize(x.getDimSize(i + 2), dims[size_t(i)], ceilMode);
    if (o < 1)
      return op->emitOpError("the window does not fit spatial dim ") << i << " of " << x;
    expect.push_back(o);
  }
  if (y.getShape() != ArrayRef<int64_t>(expect))
    return op->emitOpError("result must be ")
           << RankedTensorType::get(expect, x.getElementType()) << ", got " << y;
  return success();
}

/// Checks that every one of `channelVectors` is [C] of x's element type.
LogicalResult verifyChannelVectors(Operation *op, RankedTensorType x,
                                   ArrayRef<std::pair<Type, StringRef>> channelVectors) {
  if (x.getRank() < 2)
    return op->emitOpError("input must be [N, C, ...], got ") << x;
  for (auto [t, what] : channelVectors) {
    auto type = tensorOf(t);
    if (type.getElementType() != x.getElementType() || type.getRank() != 1 ||
        type.getDimSize(0) != x.getDimSize(1))
      return op->emitOpError() << what << " must be [" << x.getDimSize(1) << "] of "
                               << x.getElementType() << ", got " << type;
  }
  return success();
}
} // namespace

LogicalResult ConvOp::verify() {
  if (getBias() && failed(verifyChannelVectors(*this, tensorOf(getResult()),
                                               {{getBias().getType(), "bias"}})))
    return failure();
  return verifyConv(*this, tensorOf(getInput()), tensorOf(getWeight()),
                    tensorOf(getResult()), getStrides(), getPads(), getDilations(),
                    getGroup());
}

LogicalResult ConvGradInputOp::verify() {
  return verifyConv(*this, tensorOf(getResult()), tensorOf(getWeight()),
                    tensorOf(getGrad()), getStrides(), getPads(), getDilations(),
                    getGroup());
}

LogicalResult ConvGradFilterOp::verify() {
  return verifyConv(*this, tensorOf(getInput()), tensorOf(getResult()),
                    tensorOf(getGrad()), getStrides(), getPads(), getDilations(),
                    getGroup());
}

LogicalResult BatchNormOp::verify() {
  auto x = tensorOf(getInput());
  if (getResult().getType() != x)
    return emitOpError("result must have the input's type ") << x;
  if (!(getEpsilon().convertToFloat() >= 0))
    return emitOpError("epsilon must be >= 0");
  return verifyChannelVectors(*this, x,
                              {{getScale().getType(), "scale"},
                               {getBias().getType(), "bias"},
                               {getMean().getType(), "mean"},
                               {getVariance().getType(), "variance"}});
}

LogicalResult BatchNormGradOp::verify() {
  auto x = tensorOf(getInput());
  if (getGrad().getType() != x || getInputGrad().getType() != x)
    return emitOpError("grad and input_grad must have the input's type ") << x;
  return verifyChannelVectors(*this, x,
                              {{getScale().getType(), "scale"},
                               {getMean().getType(), "mean"},
                               {getVariance().getType(), "variance"},
                               {getScaleGrad().getType(), "scale_grad"},
                               {getBiasGrad().getType(), "bias_grad"}});
}

LogicalResult MaxPoolOp::verify() {
  return verifyPool(*this, tensorOf(getInput()), tensorOf(getResult()), getKernelShape(),
                    getStrides(), getPads(), getDilations(), getCeilMode());
}

LogicalResult MaxPoolGradOp::verify() {
  if (getResult().getType() != getInput().getType())
    return emitOpError("result must have the input's type");
  return verifyPool(*this, tensorOf(getInput()), tensorOf(getGrad()), getKernelShape(),
                    getStrides(), getPads(), getDilations(), getCeilMode());
}

LogicalResult AvgPoolOp::verify() {
  if (llvm::any_of(getDilations(), [](int64_t d) { return d != 1; }))
    return emitOpError("dilations must be 1");
  return verifyPool(*this, tensorOf(getInput()), tensorOf(getResult()), getKernelShape(),
                    getStrides(), getPads(), getDilations(), getCeilMode());
}

LogicalResult AvgPoolGradOp::verify() {
  if (llvm::any_of(getDilations(), [](int64_t d) { return d != 1; }))
    return emitOpError("dilations must be 1");
  return verifyPool(*this, tensorOf(getResult()), tensorOf(getGrad()), getKernelShape(),
                    getStrides(), getPads(), getDilations(), getCeilMode());
}
