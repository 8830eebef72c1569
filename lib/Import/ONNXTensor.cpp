// Decoding of ONNX tensor data (TensorProto): raw_data, typed fields and external data.
#include "ONNXTensor.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

//===----------------------------------------------------------------------===//
// ConstTensor
//===----------------------------------------------------------------------===//

int64_t mlir::ds::onnx_import::product(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t ConstTensor::numElements() const { return product(shape); }

int64_t ConstTensor::intAt(int64_t i) const { return splat ? ints[0] : ints[i]; }

double ConstTensor::realAt(int64_t i) const { return splat ? reals[0] : reals[i]; }

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
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven, &lost);
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
      f.convert(ft.getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven, &lost);
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
    return onnx::TensorProto::DataType_Name((onnx::TensorProto::DataType)onnxType);
  return "type #" + std::to_string(onnxType);
}

bool mlir::ds::onnx_import::isModelRelativePath(StringRef location) {
  if (location.empty() || llvm::sys::path::is_absolute(location))
    return false;
  for (StringRef part :
       llvm::make_range(llvm::sys::path::begin(location), llvm::sys::path::end(location)))
    if (part == "..")
      return false;
  return true;
}

namespace {
/// Where a tensor's external data is: its `external_data` entries.
struct ExternalData {
  std::string location;
  int64_t offset = 0, length = -1;
};

ExternalData readExternalData(const onnx::TensorProto &tensor) {
  ExternalData d;
  for (const auto &kv : tensor.external_data()) {
    if (kv.key() == "location")
      d.location = kv.value();
    else if (kv.key() == "offset")
      d.offset = std::atoll(kv.value().c_str());
    else if (kv.key() == "length")
      d.length = std::atoll(kv.value().c_str());
  }
  return d;
}
} // namespace

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

/// How many elements the typed field of `tensor`'s data type holds, and its name.
static std::pair<int64_t, llvm::StringRef> typedData(const onnx::TensorProto &tensor) {
  switch (tensor.data_type()) {
  case onnx::TensorProto::FLOAT:
    return {tensor.float_data_size(), "float_data"};
  case onnx::TensorProto::DOUBLE:
    return {tensor.double_data_size(), "double_data"};
  case onnx::TensorProto::INT64:
    return {tensor.int64_data_size(), "int64_data"};
  default: // FLOAT16, BFLOAT16 (as bits), INT32, BOOL
    return {tensor.int32_data_size(), "int32_data"};
  }
}

static double halfBitsToDouble(Type type, uint16_t bits) {
  const llvm::fltSemantics &sem = cast<FloatType>(type).getFloatSemantics();
  llvm::APFloat f(sem, APInt(16, bits));
  bool lost;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven, &lost);
  return f.convertToDouble();
}

FailureOr<ConstTensor>
mlir::ds::onnx_import::decodeTensor(MLIRContext *ctx, const onnx::TensorProto &tensor,
                                    StringRef modelDir,
                                    llvm::function_ref<InFlightDiagnostic()> error) {
  Type type = elementTypeOf(ctx, tensor.data_type());
  if (!type)
    return error() << "tensor '" << tensor.name() << "' has element type "
                   << onnxTypeName(tensor.data_type())
                   << ", which the ds dialect does not support";
  SmallVector<int64_t> shape;
  for (int64_t d : tensor.dims()) {
    if (d < 0)
      return error() << "tensor '" << tensor.name() << "' has a negative dim " << d;
    shape.push_back(d);
  }
  ConstTensor t = ConstTensor::make(type, shape);
  int64_t n = t.numElements();
  int32_t dt = tensor.data_type();
  std::unique_ptr<llvm::MemoryBuffer> external;
  StringRef raw;
  bool hasRaw = tensor.has_raw_data();
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    auto [location, offset, length] = readExternalData(tensor);
    if (!isModelRelativePath(location))
      return error() << "external data location '" << location << "' of tensor '"
                     << tensor.name()
                     << "' must be a relative path below the model's directory";
    llvm::SmallString<256> file(modelDir);
    llvm::sys::path::append(file, location);
    if (length < 0)
      length = n * rawElementSize(dt);
    // A regular file holding [offset, offset + length): never a read past its end, nor
    // of a device or pipe (a link to /dev/zero has no end).
    llvm::sys::fs::file_status status;
    if (std::error_code ec = llvm::sys::fs::status(file, status))
      return error() << "cannot open external data file '" << file << "' of tensor '"
                     << tensor.name() << "': " << ec.message();
    if (status.type() != llvm::sys::fs::file_type::regular_file)
      return error() << "external data file '" << file << "' of tensor '" << tensor.name()
                     << "' is not a regular file";
    if (offset < 0 || length > (int64_t)status.getSize() ||
        offset > (int64_t)status.getSize() - length)
      return error() << "external data file '" << file << "' has " << status.getSize()
                     << " bytes, too few for " << length << " at offset " << offset
                     << " (tensor '" << tensor.name() << "')";
    auto buf = llvm::MemoryBuffer::getFileSlice(file, length, offset);
    if (!buf)
      return error() << "cannot read " << length << " bytes at offset " << offset
                     << " of external data file '" << file << "' of tensor '"
                     << tensor.name() << "': " << buf.getError().message();
    external = std::move(*buf);
    raw = external->getBuffer();
    hasRaw = true;
  } else if (hasRaw) {
    raw = tensor.raw_data();
  }
  auto countError = [&](int64_t have, StringRef what) {
    return error() << "tensor '" << tensor.name() << "' of shape " << formatShape(shape)
                   << " holds " << have << " " << what << ", expected " << n;
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
  auto [count, field] = typedData(tensor);
  if (count != n)
    return countError(count, (field + " entries").str());
  switch (dt) {
  case onnx::TensorProto::FLOAT:
    t.reals.assign(tensor.float_data().begin(), tensor.float_data().end());
    break;
  case onnx::TensorProto::DOUBLE:
    t.reals.assign(tensor.double_data().begin(), tensor.double_data().end());
    break;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
    for (int32_t bits : tensor.int32_data())
      t.reals.push_back(halfBitsToDouble(type, (uint16_t)bits));
    break;
  case onnx::TensorProto::INT64:
    t.ints.assign(tensor.int64_data().begin(), tensor.int64_data().end());
    break;
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::BOOL:
    for (int32_t v : tensor.int32_data())
      t.ints.push_back(dt == onnx::TensorProto::BOOL ? v != 0 : v);
    break;
  }
  return t;
}

LogicalResult
mlir::ds::onnx_import::checkTensorData(const onnx::TensorProto &t, RankedTensorType type,
                                       StringRef modelDir,
                                       llvm::function_ref<InFlightDiagnostic()> error) {
  int64_t n = type.getNumElements();
  int64_t elemBytes = type.getElementType().getIntOrFloatBitWidth() / 8;
  int64_t bytes = n * elemBytes;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    auto [location, offset, length] = readExternalData(t);
    if (location.empty())
      return error() << "external data without a location";
    if (!isModelRelativePath(location))
      return error() << "external data location '" << location
                     << "' must be a relative path below the model's directory";
    if (length >= 0 && length != bytes)
      return error() << "external data length is " << length;
    llvm::SmallString<256> file(modelDir);
    llvm::sys::path::append(file, location);
    uint64_t size;
    if (std::error_code ec = llvm::sys::fs::file_size(file, size))
      return error() << "cannot open external data file '" << file
                     << "': " << ec.message();
    if (offset < 0 || (uint64_t)(offset + bytes) > size)
      return error() << "external data file '" << file << "' has " << size
                     << " bytes, too few for " << bytes << " at offset " << offset;
    return success();
  }
  if (t.has_raw_data()) {
    if ((int64_t)t.raw_data().size() != bytes)
      return error() << "raw data has " << t.raw_data().size() << " bytes";
    return success();
  }
  int64_t count = typedData(t).first;
  if (count != n) {
    if (count == 0)
      return error() << "the data is missing";
    return error() << "holds " << count << " elements";
  }
  return success();
}
