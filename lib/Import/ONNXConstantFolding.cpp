// Import-time evaluation of ONNX shape computations (Shape, Range, Gather, Concat, ...).
#include "ONNXImporterImpl.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <numeric>

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

//===----------------------------------------------------------------------===//
// ConstTensor
//===----------------------------------------------------------------------===//

static int64_t product(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t ConstTensor::numElements() const { return product(shape); }

int64_t ConstTensor::intAt(int64_t i) const { return splat ? ints[0] : ints[i]; }

double ConstTensor::realAt(int64_t i) const {
  return splat ? reals[0] : reals[i];
}

int64_t ConstTensor::asInt(int64_t i) const {
  if (!isFloat())
    return intAt(i);
  double v = realAt(i);
  if (std::isnan(v))
    return 0;
  if (v >= 9.2e18)
    return INT64_MAX;
  if (v <= -9.2e18)
    return INT64_MIN;
  return (int64_t)std::trunc(v);
}

double mlir::ds::onnx_import::roundReal(Type type, double v) {
  if (type.isF64())
    return v;
  if (type.isF32())
    return (double)(float)v;
  auto ft = cast<FloatType>(type);
  llvm::APFloat f(v);
  bool lost;
  f.convert(ft.getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven, &lost);
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return f.convertToDouble();
}

int64_t mlir::ds::onnx_import::wrapInt(Type type, int64_t v) {
  if (type.isInteger(1))
    return v != 0;
  if (type.isInteger(32))
    return (int32_t)(uint32_t)(uint64_t)v;
  return v;
}

ConstTensor ConstTensor::make(Type elementType, ArrayRef<int64_t> shape) {
  ConstTensor t;
  t.elementType = elementType;
  t.shape.assign(shape.begin(), shape.end());
  return t;
}

ConstTensor ConstTensor::fromInts(Type elementType, ArrayRef<int64_t> shape,
                                  std::vector<int64_t> values) {
  ConstTensor t = make(elementType, shape);
  t.ints = std::move(values);
  return t;
}

void ConstTensor::push(double v) {
  if (isFloat()) {
    reals.push_back(roundReal(elementType, v));
    return;
  }
  ConstTensor tmp;
  tmp.elementType = Float64Type::get(elementType.getContext());
  tmp.reals.push_back(v);
  pushInt(elementType.isInteger(1) ? (v != 0.0) : tmp.asInt(0));
}

void ConstTensor::pushInt(int64_t v) {
  if (isFloat())
    reals.push_back(roundReal(elementType, (double)v));
  else
    ints.push_back(wrapInt(elementType, v));
}

DenseElementsAttr ConstTensor::toAttr() const {
  RankedTensorType type = getType();
  int64_t n = splat ? 1 : numElements();
  if (splat)
    type = RankedTensorType::get(shape, elementType);
  if (isFloat()) {
    auto ft = cast<FloatType>(elementType);
    SmallVector<APFloat> values;
    values.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      llvm::APFloat f(reals[i]);
      bool lost;
      f.convert(ft.getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven,
                &lost);
      values.push_back(f);
    }
    if (splat)
      return DenseElementsAttr::get(type, values.front());
    return DenseElementsAttr::get(type, values);
  }
  unsigned width = elementType.getIntOrFloatBitWidth();
  SmallVector<APInt> values;
  values.reserve(n);
  for (int64_t i = 0; i < n; ++i)
    values.push_back(APInt(width, (uint64_t)ints[i], /*isSigned=*/width > 1,
                           /*implicitTrunc=*/true));
  if (splat)
    return DenseElementsAttr::get(type, values.front());
  return DenseElementsAttr::get(type, values);
}

std::string mlir::ds::onnx_import::formatShape(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}

//===----------------------------------------------------------------------===//
// Tensor decoding
//===----------------------------------------------------------------------===//

Type mlir::ds::onnx_import::elementTypeOf(MLIRContext *ctx, int32_t onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::FLOAT:
    return Float32Type::get(ctx);
  case onnx::TensorProto::DOUBLE:
    return Float64Type::get(ctx);
  case onnx::TensorProto::FLOAT16:
    return Float16Type::get(ctx);
  case onnx::TensorProto::BFLOAT16:
    return BFloat16Type::get(ctx);
  case onnx::TensorProto::INT64:
    return IntegerType::get(ctx, 64);
  case onnx::TensorProto::INT32:
    return IntegerType::get(ctx, 32);
  case onnx::TensorProto::BOOL:
    return IntegerType::get(ctx, 1);
  default:
    return Type();
  }
}

std::string mlir::ds::onnx_import::onnxTypeName(int32_t onnxType) {
  if (onnx::TensorProto::DataType_IsValid(onnxType))
    return onnx::TensorProto::DataType_Name(
        (onnx::TensorProto::DataType)onnxType);
  return "type #" + std::to_string(onnxType);
}

bool mlir::ds::onnx_import::isModelRelativePath(StringRef location) {
  if (location.empty() || llvm::sys::path::is_absolute(location))
    return false;
  for (StringRef part : llvm::make_range(llvm::sys::path::begin(location),
                                         llvm::sys::path::end(location)))
    if (part == "..")
      return false;
  return true;
}

/// Bytes per element of the raw data of `onnxType` (0 when unsupported).
static int64_t rawElementSize(int32_t onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::INT64:
    return 8;
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::INT32:
    return 4;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
    return 2;
  case onnx::TensorProto::BOOL:
    return 1;
  default:
    return 0;
  }
}

static double halfBitsToDouble(Type type, uint16_t bits) {
  const llvm::fltSemantics &sem = cast<FloatType>(type).getFloatSemantics();
  llvm::APFloat f(sem, APInt(16, bits));
  bool lost;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return f.convertToDouble();
}

FailureOr<ConstTensor> mlir::ds::onnx_import::decodeTensor(
    MLIRContext *ctx, const onnx::TensorProto &tensor, StringRef modelDir,
    llvm::function_ref<InFlightDiagnostic()> error) {
  Type type = elementTypeOf(ctx, tensor.data_type());
  if (!type)
    return error() << "tensor '" << tensor.name() << "' has element type "
                   << onnxTypeName(tensor.data_type())
                   << ", which the ds dialect does not support";
  SmallVector<int64_t> shape;
  for (int64_t d : tensor.dims()) {
    if (d < 0)
      return error() << "tensor '" << tensor.name() << "' has a negative dim "
                     << d;
    shape.push_back(d);
  }
  ConstTensor t = ConstTensor::make(type, shape);
  int64_t n = t.numElements();
  int32_t dt = tensor.data_type();
  std::unique_ptr<llvm::MemoryBuffer> external;
  StringRef raw;
  bool hasRaw = tensor.has_raw_data();
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &kv : tensor.external_data()) {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::atoll(kv.value().c_str());
      else if (kv.key() == "length")
        length = std::atoll(kv.value().c_str());
    }
    if (!isModelRelativePath(location))
      return error() << "external data location '" << location
                     << "' of tensor '" << tensor.name()
                     << "' must be a relative path below the model's directory";
    llvm::SmallString<256> file(modelDir);
    llvm::sys::path::append(file, location);
    if (length < 0)
      length = n * rawElementSize(dt);
    auto buf = llvm::MemoryBuffer::getFileSlice(file, length, offset);
    if (!buf)
      return error() << "cannot read " << length << " bytes at offset "
                     << offset << " of external data file '" << file
                     << "' of tensor '" << tensor.name()
                     << "': " << buf.getError().message();
    external = std::move(*buf);
    raw = external->getBuffer();
    hasRaw = true;
  } else if (hasRaw) {
    raw = tensor.raw_data();
  }
  auto countError = [&](int64_t have, StringRef what) {
    return error() << "tensor '" << tensor.name() << "' of shape "
                   << formatShape(shape) << " holds " << have << " " << what
                   << ", expected " << n;
  };
  if (hasRaw) {
    int64_t size = rawElementSize(dt);
    if ((int64_t)raw.size() != n * size)
      return countError(raw.size(), "bytes of data")
             << " elements of " << size << " bytes";
    const char *p = raw.data();
    for (int64_t i = 0; i < n; ++i, p += size) {
      using namespace llvm::support;
      switch (dt) {
      case onnx::TensorProto::FLOAT: {
        uint32_t bits = endian::read32le(p);
        float f;
        std::memcpy(&f, &bits, 4);
        t.reals.push_back(f);
        break;
      }
      case onnx::TensorProto::DOUBLE: {
        uint64_t bits = endian::read64le(p);
        double d;
        std::memcpy(&d, &bits, 8);
        t.reals.push_back(d);
        break;
      }
      case onnx::TensorProto::FLOAT16:
      case onnx::TensorProto::BFLOAT16:
        t.reals.push_back(halfBitsToDouble(type, endian::read16le(p)));
        break;
      case onnx::TensorProto::INT64:
        t.ints.push_back((int64_t)endian::read64le(p));
        break;
      case onnx::TensorProto::INT32:
        t.ints.push_back((int32_t)endian::read32le(p));
        break;
      case onnx::TensorProto::BOOL:
        t.ints.push_back(*p != 0);
        break;
      }
    }
    return t;
  }
  switch (dt) {
  case onnx::TensorProto::FLOAT:
    if (tensor.float_data_size() != n)
      return countError(tensor.float_data_size(), "float_data entries");
    t.reals.assign(tensor.float_data().begin(), tensor.float_data().end());
    break;
  case onnx::TensorProto::DOUBLE:
    if (tensor.double_data_size() != n)
      return countError(tensor.double_data_size(), "double_data entries");
    t.reals.assign(tensor.double_data().begin(), tensor.double_data().end());
    break;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
    if (tensor.int32_data_size() != n)
      return countError(tensor.int32_data_size(), "int32_data entries");
    for (int32_t bits : tensor.int32_data())
      t.reals.push_back(halfBitsToDouble(type, (uint16_t)bits));
    break;
  case onnx::TensorProto::INT64:
    if (tensor.int64_data_size() != n)
      return countError(tensor.int64_data_size(), "int64_data entries");
    t.ints.assign(tensor.int64_data().begin(), tensor.int64_data().end());
    break;
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::BOOL:
    if (tensor.int32_data_size() != n)
      return countError(tensor.int32_data_size(), "int32_data entries");
    for (int32_t v : tensor.int32_data())
      t.ints.push_back(dt == onnx::TensorProto::BOOL ? v != 0 : v);
    break;
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Shape rules shared with the conversions
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<int64_t>>
mlir::ds::onnx_import::reshapeTarget(GraphImporter &imp,
                                     ArrayRef<int64_t> inShape) {
  const ConstTensor *shape = imp.constantInput(1, "shape");
  if (!shape)
    return failure();
  if (shape->shape.size() != 1 || shape->isFloat())
    return imp.nodeError() << "shape input must be a 1-D integer tensor, got "
                           << shape->getType();
  bool allowZero = imp.intAttr("allowzero", 0) != 0;
  SmallVector<int64_t> out;
  int64_t inferIndex = -1, known = 1;
  for (int64_t i = 0, e = shape->numElements(); i < e; ++i) {
    int64_t d = shape->intAt(i);
    if (d == 0 && !allowZero) {
      if (i >= (int64_t)inShape.size())
        return imp.nodeError() << "shape entry " << i
                               << " is 0 (copy the input dim), but the input "
                                  "has rank "
                               << inShape.size();
      d = inShape[i];
    } else if (d == -1) {
      if (inferIndex != -1)
        return imp.nodeError() << "shape " << shape->getType()
                               << " has more than one -1";
      inferIndex = i;
      out.push_back(-1);
      continue;
    } else if (d < 0) {
      return imp.nodeError() << "shape entry " << i << " is " << d;
    }
    out.push_back(d);
    known *= d;
  }
  int64_t total = product(inShape);
  if (inferIndex != -1) {
    if (known == 0 || total % known != 0)
      return imp.nodeError() << "cannot reshape " << formatShape(inShape)
                             << " with a -1 among the dims of "
                             << formatShape(out);
    out[inferIndex] = total / known;
  } else if (known != total) {
    return imp.nodeError() << "cannot reshape " << formatShape(inShape) << " ("
                           << total << " elements) to " << formatShape(out)
                           << " (" << known << " elements)";
  }
  return out;
}

FailureOr<SmallVector<int64_t>>
mlir::ds::onnx_import::expandTarget(GraphImporter &imp,
                                    ArrayRef<int64_t> inShape) {
  const ConstTensor *shape = imp.constantInput(1, "shape");
  if (!shape)
    return failure();
  if (shape->shape.size() != 1 || shape->isFloat())
    return imp.nodeError() << "shape input must be a 1-D integer tensor, got "
                           << shape->getType();
  SmallVector<int64_t> target;
  for (int64_t i = 0, e = shape->numElements(); i < e; ++i) {
    if (shape->intAt(i) < 0)
      return imp.nodeError() << "shape entry " << i << " is negative";
    target.push_back(shape->intAt(i));
  }
  auto out = broadcastShapes(inShape, target);
  if (failed(out))
    return imp.nodeError() << "cannot expand " << formatShape(inShape)
                           << " to " << formatShape(target);
  return *out;
}

/// Reads an axes input (opset 13+) or attribute; nullopt when absent.
static FailureOr<std::optional<SmallVector<int64_t>>>
readAxes(GraphImporter &imp, int inputIndex, bool asInput) {
  if (!asInput)
    return imp.intsAttr("axes");
  if (!imp.input(inputIndex))
    return std::optional<SmallVector<int64_t>>();
  const ConstTensor *axes = imp.constantInput(inputIndex, "axes");
  if (!axes)
    return failure();
  SmallVector<int64_t> out;
  for (int64_t i = 0, e = axes->numElements(); i < e; ++i)
    out.push_back(axes->asInt(i));
  return std::optional<SmallVector<int64_t>>(out);
}

FailureOr<SmallVector<int64_t>>
mlir::ds::onnx_import::squeezeAxes(GraphImporter &imp,
                                   ArrayRef<int64_t> inShape) {
  auto axes = readAxes(imp, 1, imp.opset >= 13);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> out;
  if (!*axes) {
    for (int64_t i = 0, e = inShape.size(); i < e; ++i)
      if (inShape[i] == 1)
        out.push_back(i);
    return out;
  }
  auto norm = imp.normalizeAxes(**axes, inShape.size());
  if (failed(norm))
    return failure();
  for (int64_t a : *norm)
    if (inShape[a] != 1)
      return imp.nodeError() << "cannot squeeze dim " << a << " of size "
                             << inShape[a];
  return *norm;
}

FailureOr<SmallVector<int64_t>>
mlir::ds::onnx_import::unsqueezeAxes(GraphImporter &imp, int64_t inRank) {
  auto axes = readAxes(imp, 1, imp.opset >= 13);
  if (failed(axes))
    return failure();
  if (!*axes)
    return imp.nodeError() << "Unsqueeze needs axes";
  return imp.normalizeAxes(**axes, inRank + (**axes).size());
}

FailureOr<SliceBounds>
mlir::ds::onnx_import::sliceBounds(GraphImporter &imp,
                                   ArrayRef<int64_t> inShape) {
  int64_t rank = inShape.size();
  const ConstTensor *starts = imp.constantInput(1, "starts");
  const ConstTensor *ends = starts ? imp.constantInput(2, "ends") : nullptr;
  if (!starts || !ends)
    return failure();
  int64_t n = starts->numElements();
  if (ends->numElements() != n)
    return imp.nodeError() << "starts has " << n << " entries but ends has "
                           << ends->numElements();
  SmallVector<int64_t> axes, steps;
  if (imp.input(3)) {
    const ConstTensor *a = imp.constantInput(3, "axes");
    if (!a)
      return failure();
    if (a->numElements() != n)
      return imp.nodeError() << "axes has " << a->numElements()
                             << " entries, starts " << n;
    for (int64_t i = 0; i < n; ++i)
      axes.push_back(a->asInt(i));
  } else {
    for (int64_t i = 0; i < n; ++i)
      axes.push_back(i);
  }
  if (imp.input(4)) {
    const ConstTensor *s = imp.constantInput(4, "steps");
    if (!s)
      return failure();
    if (s->numElements() != n)
      return imp.nodeError() << "steps has " << s->numElements()
                             << " entries, starts " << n;
    for (int64_t i = 0; i < n; ++i)
      steps.push_back(s->asInt(i));
  } else {
    steps.assign(n, 1);
  }
  auto normAxes = imp.normalizeAxes(axes, rank);
  if (failed(normAxes))
    return failure();
  SliceBounds b;
  b.starts.assign(rank, 0);
  b.ends.assign(inShape.begin(), inShape.end());
  b.steps.assign(rank, 1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    int64_t dim = inShape[axis], step = steps[i];
    if (step == 0)
      return imp.nodeError() << "step of axis " << axis << " is 0";
    int64_t s = starts->asInt(i), e = ends->asInt(i);
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      e = std::max(e, s);
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      if (dim == 0)
        s = e = -1;
      e = std::min(e, s);
    }
    b.starts[axis] = s;
    b.ends[axis] = e;
    b.steps[axis] = step;
  }
  for (int64_t i = 0; i < rank; ++i) {
    int64_t s = b.starts[i], e = b.ends[i], st = b.steps[i];
    int64_t len = st > 0 ? (e - s + st - 1) / st : (s - e + (-st) - 1) / (-st);
    b.resultShape.push_back(std::max<int64_t>(0, len));
  }
  return b;
}

FailureOr<std::optional<SmallVector<int64_t>>>
mlir::ds::onnx_import::reduceAxes(GraphImporter &imp, int64_t rank) {
  StringRef op = imp.node->op_type();
  // ReduceSum takes axes as an input from opset 13, the others from opset 18.
  bool asInput = op == "ReduceSum" ? imp.opset >= 13 : imp.opset >= 18;
  auto axes = readAxes(imp, 1, asInput);
  if (failed(axes))
    return failure();
  using Result = std::optional<SmallVector<int64_t>>;
  if (!*axes || (*axes)->empty()) {
    if (imp.intAttr("noop_with_empty_axes", 0))
      return Result();
    return Result(SmallVector<int64_t>());
  }
  auto norm = imp.normalizeAxes(**axes, rank);
  if (failed(norm))
    return failure();
  llvm::sort(*norm);
  return Result(*norm);
}

SmallVector<int64_t>
mlir::ds::onnx_import::reducedShape(ArrayRef<int64_t> in,
                                    ArrayRef<int64_t> axes, bool keepdims) {
  SmallVector<int64_t> out;
  for (int64_t i = 0, e = in.size(); i < e; ++i) {
    bool reduced = axes.empty() || llvm::is_contained(axes, i);
    if (!reduced)
      out.push_back(in[i]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Folders
//===----------------------------------------------------------------------===//

namespace {
using Inputs = ArrayRef<const ConstTensor *>;
using Outputs = SmallVectorImpl<ConstTensor>;

/// Whether a result of `shape` may be folded (small, or a splat).
bool foldable(ArrayRef<int64_t> shape, bool splat) {
  return splat || product(shape) <= kMaxFoldElements;
}

bool isSplatLike(const ConstTensor &t) {
  return t.splat || t.numElements() == 1;
}

/// Strides of a row-major shape.
SmallVector<int64_t> strides(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> s(shape.size(), 1);
  for (int64_t i = (int64_t)shape.size() - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/// For each element of `out`, the flat index of the element of `in` that broadcasts
/// to it.
std::vector<int64_t> broadcastIndices(ArrayRef<int64_t> in,
                                      ArrayRef<int64_t> out) {
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

/// Element `i` of `src` appended to `dst` (same element type).
void copyElement(const ConstTensor &src, int64_t i, ConstTensor &dst) {
  if (src.isFloat())
    dst.reals.push_back(src.realAt(i));
  else
    dst.ints.push_back(src.intAt(i));
}

/// A tensor with `src`'s data in a new shape.
ConstTensor withShape(const ConstTensor &src, ArrayRef<int64_t> shape) {
  ConstTensor t = src;
  t.shape.assign(shape.begin(), shape.end());
  return t;
}

enum class BinaryKind { Add, Sub, Mul, Div, Equal, Less, Greater, Min, Max };

LogicalResult foldBinary(GraphImporter &imp, const ConstTensor &a,
                         const ConstTensor &b, BinaryKind kind,
                         std::optional<ConstTensor> &result) {
  if (a.elementType != b.elementType)
    return imp.nodeError() << "operand element types differ: "
                           << a.elementType << " vs " << b.elementType;
  auto shape = broadcastShapes(a.shape, b.shape);
  if (failed(shape))
    return imp.nodeError() << "operands are not broadcast-compatible: "
                           << formatShape(a.shape) << " vs "
                           << formatShape(b.shape);
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
      case BinaryKind::Add: t.push(u + v); break;
      case BinaryKind::Sub: t.push(u - v); break;
      case BinaryKind::Mul: t.push(u * v); break;
      case BinaryKind::Div: t.push(u / v); break;
      case BinaryKind::Min: t.push(std::fmin(u, v)); break;
      case BinaryKind::Max: t.push(std::fmax(u, v)); break;
      case BinaryKind::Equal: t.pushInt(u == v); break;
      case BinaryKind::Less: t.pushInt(u < v); break;
      case BinaryKind::Greater: t.pushInt(u > v); break;
      }
      continue;
    }
    int64_t u = a.intAt(x), v = b.intAt(y);
    uint64_t uu = u, uv = v;
    switch (kind) {
    case BinaryKind::Add: t.pushInt((int64_t)(uu + uv)); break;
    case BinaryKind::Sub: t.pushInt((int64_t)(uu - uv)); break;
    case BinaryKind::Mul: t.pushInt((int64_t)(uu * uv)); break;
    case BinaryKind::Div:
      if (v == 0)
        return imp.nodeError() << "integer division by zero";
      t.pushInt(u == INT64_MIN && v == -1 ? u : u / v);
      break;
    case BinaryKind::Min: t.pushInt(std::min(u, v)); break;
    case BinaryKind::Max: t.pushInt(std::max(u, v)); break;
    case BinaryKind::Equal: t.pushInt(u == v); break;
    case BinaryKind::Less: t.pushInt(u < v); break;
    case BinaryKind::Greater: t.pushInt(u > v); break;
    }
  }
  result = std::move(t);
  return success();
}

template <BinaryKind kind>
LogicalResult foldBinaryNode(GraphImporter &imp, const onnx::NodeProto &,
                             Inputs in, Outputs &out) {
  if (in.size() != 2)
    return imp.nodeError() << "expects 2 inputs, got " << in.size();
  std::optional<ConstTensor> r;
  if (failed(foldBinary(imp, *in[0], *in[1], kind, r)))
    return failure();
  if (r)
    out.push_back(std::move(*r));
  return success();
}

/// Min and Max take any number of inputs.
template <BinaryKind kind>
LogicalResult foldVariadic(GraphImporter &imp, const onnx::NodeProto &,
                           Inputs in, Outputs &out) {
  if (in.empty())
    return imp.nodeError() << "expects at least one input";
  ConstTensor acc = *in[0];
  for (const ConstTensor *next : in.drop_front()) {
    std::optional<ConstTensor> r;
    if (failed(foldBinary(imp, acc, *next, kind, r)))
      return failure();
    if (!r)
      return success();
    acc = std::move(*r);
  }
  out.push_back(std::move(acc));
  return success();
}

LogicalResult foldWhere(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                        Outputs &out) {
  const ConstTensor &c = *in[0], &x = *in[1], &y = *in[2];
  if (x.elementType != y.elementType)
    return imp.nodeError() << "operand element types differ: "
                           << x.elementType << " vs " << y.elementType;
  auto xy = broadcastShapes(x.shape, y.shape);
  FailureOr<SmallVector<int64_t>> shape = failure();
  if (succeeded(xy))
    shape = broadcastShapes(c.shape, *xy);
  if (failed(shape))
    return imp.nodeError() << "operands are not broadcast-compatible";
  bool splat = isSplatLike(c) && isSplatLike(x) && isSplatLike(y) &&
               product(*shape) != 1;
  if (!foldable(*shape, splat))
    return success();
  ConstTensor t = ConstTensor::make(x.elementType, *shape);
  t.splat = splat;
  int64_t n = splat ? 1 : product(*shape);
  std::vector<int64_t> ic, ix, iy;
  if (!splat) {
    ic = broadcastIndices(c.shape, *shape);
    ix = broadcastIndices(x.shape, *shape);
    iy = broadcastIndices(y.shape, *shape);
  }
  for (int64_t i = 0; i < n; ++i) {
    bool cond = c.asInt(splat ? 0 : ic[i]) != 0;
    if (cond)
      copyElement(x, splat ? 0 : ix[i], t);
    else
      copyElement(y, splat ? 0 : iy[i], t);
  }
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldConstant(GraphImporter &imp, const onnx::NodeProto &node,
                           Inputs, Outputs &out) {
  for (const auto &a : node.attribute()) {
    StringRef name = a.name();
    if (name == "value") {
      auto t = decodeTensor(imp.ctx, a.t(), imp.modelDir,
                            [&]() { return imp.nodeError(); });
      if (failed(t))
        return failure();
      out.push_back(std::move(*t));
      return success();
    }
    Type f32 = Float32Type::get(imp.ctx), i64 = IntegerType::get(imp.ctx, 64);
    if (name == "value_float") {
      ConstTensor t = ConstTensor::make(f32, {});
      t.push(a.f());
      out.push_back(std::move(t));
      return success();
    }
    if (name == "value_floats") {
      ConstTensor t = ConstTensor::make(f32, {(int64_t)a.floats_size()});
      for (float f : a.floats())
        t.push(f);
      out.push_back(std::move(t));
      return success();
    }
    if (name == "value_int") {
      out.push_back(ConstTensor::fromInts(i64, {}, {a.i()}));
      return success();
    }
    if (name == "value_ints") {
      out.push_back(ConstTensor::fromInts(
          i64, {(int64_t)a.ints_size()},
          std::vector<int64_t>(a.ints().begin(), a.ints().end())));
      return success();
    }
    return imp.nodeError() << "Constant attribute '" << name
                           << "' is not supported (use value, value_float(s) "
                              "or value_int(s))";
  }
  return imp.nodeError() << "Constant has no value attribute";
}

LogicalResult foldShape(GraphImporter &imp, const onnx::NodeProto &, Inputs,
                        Outputs &out) {
  const ImportedValue *v = imp.input(0);
  if (!v)
    return imp.nodeError() << "Shape needs an input";
  ArrayRef<int64_t> shape = v->type.getShape();
  int64_t rank = shape.size();
  int64_t start = imp.intAttr("start", 0), end = imp.intAttr("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i)
    dims.push_back(shape[i]);
  out.push_back(ConstTensor::fromInts(IntegerType::get(imp.ctx, 64),
                                      {(int64_t)dims.size()}, dims));
  return success();
}

LogicalResult foldSize(GraphImporter &imp, const onnx::NodeProto &, Inputs,
                       Outputs &out) {
  const ImportedValue *v = imp.input(0);
  if (!v)
    return imp.nodeError() << "Size needs an input";
  out.push_back(ConstTensor::fromInts(IntegerType::get(imp.ctx, 64), {},
                                      {v->type.getNumElements()}));
  return success();
}

LogicalResult foldConstantOfShape(GraphImporter &imp,
                                  const onnx::NodeProto &, Inputs in,
                                  Outputs &out) {
  const ConstTensor &shape = *in[0];
  if (shape.shape.size() != 1 || shape.isFloat())
    return imp.nodeError() << "shape input must be a 1-D integer tensor";
  SmallVector<int64_t> dims;
  for (int64_t i = 0, e = shape.numElements(); i < e; ++i) {
    if (shape.intAt(i) < 0)
      return imp.nodeError() << "shape entry " << i << " is negative";
    dims.push_back(shape.intAt(i));
  }
  ConstTensor t = ConstTensor::make(Float32Type::get(imp.ctx), dims);
  t.reals.push_back(0.0);
  if (const onnx::AttributeProto *value = imp.attr("value")) {
    auto v = decodeTensor(imp.ctx, value->t(), imp.modelDir,
                          [&]() { return imp.nodeError(); });
    if (failed(v))
      return failure();
    if (v->numElements() != 1)
      return imp.nodeError() << "value must have one element";
    t = withShape(*v, dims);
  }
  t.splat = true;
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldRange(GraphImporter &imp, const onnx::NodeProto &,
                        Inputs in, Outputs &out) {
  const ConstTensor &start = *in[0], &limit = *in[1], &delta = *in[2];
  for (const ConstTensor *t : in)
    if (t->numElements() != 1)
      return imp.nodeError() << "start, limit and delta must be scalars";
  double s = start.asReal(0), l = limit.asReal(0), d = delta.asReal(0);
  if (d == 0)
    return imp.nodeError() << "delta is 0";
  int64_t n = std::max<int64_t>(0, (int64_t)std::ceil((l - s) / d));
  if (n > kMaxFoldElements)
    return imp.nodeError() << "Range of " << n
                           << " elements is too large to fold (at most "
                           << kMaxFoldElements << ")";
  ConstTensor t = ConstTensor::make(start.elementType, {n});
  for (int64_t i = 0; i < n; ++i) {
    if (start.isFloat())
      t.push(s + i * d);
    else
      t.pushInt(start.intAt(0) + i * delta.intAt(0));
  }
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldGather(GraphImporter &imp, const onnx::NodeProto &,
                         Inputs in, Outputs &out) {
  const ConstTensor &data = *in[0], &idx = *in[1];
  if (idx.isFloat())
    return imp.nodeError() << "indices must be integers";
  int64_t rank = data.shape.size();
  auto axis = imp.normalizeAxis(imp.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(ArrayRef<int64_t>(data.shape).take_front(*axis));
  llvm::append_range(shape, idx.shape);
  llvm::append_range(shape, ArrayRef<int64_t>(data.shape).drop_front(*axis + 1));
  if (!foldable(shape, false))
    return success();
  int64_t outer = product(ArrayRef<int64_t>(data.shape).take_front(*axis));
  int64_t inner = product(ArrayRef<int64_t>(data.shape).drop_front(*axis + 1));
  int64_t dim = data.shape[*axis], nIdx = idx.numElements();
  ConstTensor t = ConstTensor::make(data.elementType, shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < nIdx; ++j) {
      int64_t k = idx.intAt(j);
      if (k < 0)
        k += dim;
      if (k < 0 || k >= dim)
        return imp.nodeError() << "index " << idx.intAt(j)
                               << " is out of range for a dim of size " << dim;
      for (int64_t i = 0; i < inner; ++i)
        copyElement(data, (o * dim + k) * inner + i, t);
    }
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldConcat(GraphImporter &imp, const onnx::NodeProto &,
                         Inputs in, Outputs &out) {
  if (in.empty())
    return imp.nodeError() << "Concat needs inputs";
  const ConstTensor &first = *in[0];
  int64_t rank = first.shape.size();
  auto axis = imp.normalizeAxis(imp.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape = first.shape;
  shape[*axis] = 0;
  for (const ConstTensor *t : in) {
    if ((int64_t)t->shape.size() != rank || t->elementType != first.elementType)
      return imp.nodeError() << "inputs differ in rank or element type";
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis && t->shape[d] != first.shape[d])
        return imp.nodeError() << "inputs differ outside the concat axis";
    shape[*axis] += t->shape[*axis];
  }
  if (!foldable(shape, false))
    return success();
  int64_t outer = product(ArrayRef<int64_t>(shape).take_front(*axis));
  int64_t inner = product(ArrayRef<int64_t>(shape).drop_front(*axis + 1));
  ConstTensor r = ConstTensor::make(first.elementType, shape);
  for (int64_t o = 0; o < outer; ++o)
    for (const ConstTensor *t : in) {
      int64_t chunk = t->shape[*axis] * inner;
      for (int64_t i = 0; i < chunk; ++i)
        copyElement(*t, o * chunk + i, r);
    }
  out.push_back(std::move(r));
  return success();
}

/// Ops that only change the shape keep the data (and a splat stays a splat).
LogicalResult emitReshaped(const ConstTensor &in, ArrayRef<int64_t> shape,
                           Outputs &out) {
  if (!foldable(shape, in.splat))
    return success();
  out.push_back(withShape(in, shape));
  return success();
}

LogicalResult foldReshape(GraphImporter &imp, const onnx::NodeProto &,
                          Inputs in, Outputs &out) {
  auto shape = reshapeTarget(imp, in[0]->shape);
  if (failed(shape))
    return failure();
  return emitReshaped(*in[0], *shape, out);
}

LogicalResult foldIdentity(GraphImporter &, const onnx::NodeProto &,
                           Inputs in, Outputs &out) {
  out.push_back(*in[0]);
  return success();
}

LogicalResult foldSqueeze(GraphImporter &imp, const onnx::NodeProto &,
                          Inputs in, Outputs &out) {
  auto axes = squeezeAxes(imp, in[0]->shape);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t i = 0, e = in[0]->shape.size(); i < e; ++i)
    if (!llvm::is_contained(*axes, i))
      shape.push_back(in[0]->shape[i]);
  return emitReshaped(*in[0], shape, out);
}

LogicalResult foldUnsqueeze(GraphImporter &imp, const onnx::NodeProto &,
                            Inputs in, Outputs &out) {
  int64_t rank = in[0]->shape.size();
  auto axes = unsqueezeAxes(imp, rank);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> shape;
  int64_t next = 0;
  for (int64_t i = 0, e = rank + axes->size(); i < e; ++i)
    shape.push_back(llvm::is_contained(*axes, i) ? 1 : in[0]->shape[next++]);
  return emitReshaped(*in[0], shape, out);
}

LogicalResult foldExpand(GraphImporter &imp, const onnx::NodeProto &,
                         Inputs in, Outputs &out) {
  const ConstTensor &x = *in[0];
  auto shape = expandTarget(imp, x.shape);
  if (failed(shape))
    return failure();
  if (isSplatLike(x) && product(*shape) != 1) {
    ConstTensor t = withShape(x, *shape);
    t.splat = true;
    if (!x.splat) {
      t.ints.resize(std::min<size_t>(t.ints.size(), 1));
      t.reals.resize(std::min<size_t>(t.reals.size(), 1));
    }
    out.push_back(std::move(t));
    return success();
  }
  if (!foldable(*shape, false))
    return success();
  ConstTensor t = ConstTensor::make(x.elementType, *shape);
  for (int64_t i : broadcastIndices(x.shape, *shape))
    copyElement(x, i, t);
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldSlice(GraphImporter &imp, const onnx::NodeProto &,
                        Inputs in, Outputs &out) {
  const ConstTensor &x = *in[0];
  auto b = sliceBounds(imp, x.shape);
  if (failed(b))
    return failure();
  if (x.splat)
    return emitReshaped(x, b->resultShape, out);
  if (!foldable(b->resultShape, false))
    return success();
  ConstTensor t = ConstTensor::make(x.elementType, b->resultShape);
  SmallVector<int64_t> inStrides = strides(x.shape),
                       outStrides = strides(b->resultShape);
  int64_t n = product(b->resultShape);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, flat = 0;
    for (size_t d = 0; d < x.shape.size(); ++d) {
      int64_t c = rem / outStrides[d];
      rem %= outStrides[d];
      flat += (b->starts[d] + c * b->steps[d]) * inStrides[d];
    }
    copyElement(x, flat, t);
  }
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldCast(GraphImporter &imp, const onnx::NodeProto &,
                       Inputs in, Outputs &out) {
  int64_t to = imp.intAttr("to", 0);
  Type type = elementTypeOf(imp.ctx, to);
  if (!type)
    return imp.nodeError() << "Cast to " << onnxTypeName(to)
                           << " is not supported";
  const ConstTensor &x = *in[0];
  ConstTensor t = ConstTensor::make(type, x.shape);
  t.splat = x.splat;
  for (int64_t i = 0, e = x.storedElements(); i < e; ++i) {
    if (x.isFloat())
      t.push(x.realAt(i));
    else
      t.pushInt(x.intAt(i));
  }
  out.push_back(std::move(t));
  return success();
}

template <bool isProduct>
LogicalResult foldReduce(GraphImporter &imp, const onnx::NodeProto &,
                         Inputs in, Outputs &out) {
  const ConstTensor &x = *in[0];
  int64_t rank = x.shape.size();
  auto axes = reduceAxes(imp, rank);
  if (failed(axes))
    return failure();
  if (!*axes) {
    out.push_back(x);
    return success();
  }
  bool keepdims = imp.intAttr("keepdims", 1) != 0;
  SmallVector<int64_t> shape = reducedShape(x.shape, **axes, keepdims);
  SmallVector<int64_t> kept = reducedShape(x.shape, **axes, true);
  if (!foldable(shape, false) || x.numElements() > kMaxFoldElements)
    return success();
  int64_t n = product(kept);
  std::vector<double> racc(n, isProduct ? 1.0 : 0.0);
  std::vector<int64_t> iacc(n, isProduct ? 1 : 0);
  std::vector<int64_t> map = broadcastIndices(kept, x.shape);
  for (int64_t i = 0, e = x.numElements(); i < e; ++i) {
    if (x.isFloat())
      racc[map[i]] = isProduct ? racc[map[i]] * x.realAt(i)
                               : racc[map[i]] + x.realAt(i);
    else
      iacc[map[i]] = isProduct ? iacc[map[i]] * x.intAt(i)
                               : iacc[map[i]] + x.intAt(i);
  }
  ConstTensor t = ConstTensor::make(x.elementType, shape);
  for (int64_t i = 0; i < n; ++i) {
    if (x.isFloat())
      t.push(racc[i]);
    else
      t.pushInt(iacc[i]);
  }
  out.push_back(std::move(t));
  return success();
}
} // namespace

const llvm::StringMap<FoldFn> &mlir::ds::onnx_import::getOpFolders() {
  static const llvm::StringMap<FoldFn> folders = {
      {"Constant", foldConstant},
      {"Shape", foldShape},
      {"Size", foldSize},
      {"ConstantOfShape", foldConstantOfShape},
      {"Range", foldRange},
      {"Gather", foldGather},
      {"Concat", foldConcat},
      {"Unsqueeze", foldUnsqueeze},
      {"Squeeze", foldSqueeze},
      {"Slice", foldSlice},
      {"Cast", foldCast},
      {"Add", foldBinaryNode<BinaryKind::Add>},
      {"Sub", foldBinaryNode<BinaryKind::Sub>},
      {"Mul", foldBinaryNode<BinaryKind::Mul>},
      {"Div", foldBinaryNode<BinaryKind::Div>},
      {"Equal", foldBinaryNode<BinaryKind::Equal>},
      {"Less", foldBinaryNode<BinaryKind::Less>},
      {"Greater", foldBinaryNode<BinaryKind::Greater>},
      {"Min", foldVariadic<BinaryKind::Min>},
      {"Max", foldVariadic<BinaryKind::Max>},
      {"Where", foldWhere},
      {"Reshape", foldReshape},
      {"Expand", foldExpand},
      {"Identity", foldIdentity},
      {"ReduceProd", foldReduce<true>},
      {"ReduceSum", foldReduce<false>},
  };
  return folders;
}

bool mlir::ds::onnx_import::isShapeOnlyOp(StringRef opType) {
  return opType == "Shape" || opType == "Size" ||
         opType == "ConstantOfShape" || opType == "Range" ||
         opType == "ReduceProd" || opType == "Min" || opType == "Max" ||
         opType == "Constant";
}

bool mlir::ds::onnx_import::foldsFromTypes(StringRef opType) {
  return opType == "Shape" || opType == "Size";
}
