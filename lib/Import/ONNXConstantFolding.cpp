// Import-time evaluation shared by the op families' folders: broadcasting, element-wise
// binary arithmetic, reshaping.
#include "ONNXOpTable.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ds;

namespace mlir::ds::onnx_import {

bool foldable(ArrayRef<int64_t> shape, bool splat) {
  return splat || product(shape) <= kMaxFoldElements;
}

bool isSplatLike(const ConstTensor &t) { return t.splat || t.numElements() == 1; }

SmallVector<int64_t> strides(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> s(shape.size(), 1);
  for (int64_t i = (int64_t)shape.size() - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

std::vector<int64_t> broadcastIndices(ArrayRef<int64_t> in, ArrayRef<int64_t> out) {
  int64_t n = product(out);
  std::vector<int64_t> idx(n);
  SmallVector<int64_t> inStrides = strides(in), outStrides = strides(out);
  size_t off = out.size() - in.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, flat = 0;
    for (size_t d = 0; d < out.size(); ++d) {
      int64_t c = rem / outStrides[d];
      rem %= outStrides[d];
      if (d >= off && in[d - off] != 1)
        flat += c * inStrides[d - off];
    }
    idx[i] = flat;
  }
  return idx;
}

void copyElement(const ConstTensor &src, int64_t i, ConstTensor &dst) {
  if (src.isFloat())
    dst.reals.push_back(src.realAt(i));
  else
    dst.ints.push_back(src.intAt(i));
}

ConstTensor withShape(const ConstTensor &src, ArrayRef<int64_t> shape) {
  ConstTensor t = src;
  t.shape.assign(shape.begin(), shape.end());
  return t;
}

LogicalResult foldBinary(GraphImporter &imp, const ConstTensor &a, const ConstTensor &b,
                         BinaryKind kind, std::optional<ConstTensor> &result) {
  if (a.elementType != b.elementType)
    return imp.nodeError() << "operand element types differ: " << a.elementType << " vs "
                           << b.elementType;
  auto shape = broadcastShapes(a.shape, b.shape);
  if (failed(shape))
    return imp.nodeError() << "operands are not broadcast-compatible: "
                           << formatShape(a.shape) << " vs " << formatShape(b.shape);
  bool splat = isSplatLike(a) && isSplatLike(b) && product(*shape) != 1;
  if (!foldable(*shape, splat))
    return success();
  bool compare = kind == BinaryKind::Equal || kind == BinaryKind::Less ||
                 kind == BinaryKind::Greater;
  Type resultType = compare ? IntegerType::get(imp.ctx, 1) : a.elementType;
  ConstTensor t = ConstTensor::make(resultType, *shape);
  t.splat = splat;
  int64_t n = splat ? 1 : product(*shape);
  std::vector<int64_t> ia, ib;
  if (!splat) {
    ia = broadcastIndices(a.shape, *shape);
    ib = broadcastIndices(b.shape, *shape);
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t x = splat ? 0 : ia[i], y = splat ? 0 : ib[i];
    if (a.isFloat()) {
      double u = a.realAt(x), v = b.realAt(y);
      switch (kind) {
      case BinaryKind::Add:
        t.push(u + v);
        break;
      case BinaryKind::Sub:
        t.push(u - v);
        break;
      case BinaryKind::Mul:
        t.push(u * v);
        break;
      case BinaryKind::Div:
        t.push(u / v);
        break;
      case BinaryKind::Min:
        t.push(std::fmin(u, v));
        break;
      case BinaryKind::Max:
        t.push(std::fmax(u, v));
        break;
      case BinaryKind::Equal:
        t.pushInt(u == v);
        break;
      case BinaryKind::Less:
        t.pushInt(u < v);
        break;
      case BinaryKind::Greater:
        t.pushInt(u > v);
        break;
      }
      continue;
    }
    int64_t u = a.intAt(x), v = b.intAt(y);
    uint64_t uu = u, uv = v;
    switch (kind) {
    case BinaryKind::Add:
      t.pushInt((int64_t)(uu + uv));
      break;
    case BinaryKind::Sub:
      t.pushInt((int64_t)(uu - uv));
      break;
    case BinaryKind::Mul:
      t.pushInt((int64_t)(uu * uv));
      break;
    case BinaryKind::Div:
      if (v == 0)
        return imp.nodeError() << "integer division by zero";
      t.pushInt(u == INT64_MIN && v == -1 ? u : u / v);
      break;
    case BinaryKind::Min:
      t.pushInt(std::min(u, v));
      break;
    case BinaryKind::Max:
      t.pushInt(std::max(u, v));
      break;
    case BinaryKind::Equal:
      t.pushInt(u == v);
      break;
    case BinaryKind::Less:
      t.pushInt(u < v);
      break;
    case BinaryKind::Greater:
      t.pushInt(u > v);
      break;
    }
  }
  result = std::move(t);
  return success();
}

LogicalResult emitReshaped(const ConstTensor &in, ArrayRef<int64_t> shape,
                           FoldOutputs &out) {
  if (!foldable(shape, in.splat))
    return success();
  out.push_back(withShape(in, shape));
  return success();
}

} // namespace mlir::ds::onnx_import
