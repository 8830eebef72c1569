// Reads parameter values out of an ONNX ModelProto, including external-data files.
#include "ds/runtime/OnnxParams.h"

#include <onnx/onnx_pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace ds::rt {
namespace {

DType fromOnnx(int t) {
  switch (t) {
  case onnx::TensorProto::FLOAT: return ds::plan::F32;
  case onnx::TensorProto::DOUBLE: return ds::plan::F64;
  case onnx::TensorProto::FLOAT16: return ds::plan::F16;
  case onnx::TensorProto::BFLOAT16: return ds::plan::BF16;
  case onnx::TensorProto::INT64: return ds::plan::I64;
  case onnx::TensorProto::INT32: return ds::plan::I32;
  case onnx::TensorProto::BOOL: return ds::plan::I1;
  default: return ds::plan::DTYPE_UNSPECIFIED;
  }
}

std::string dirName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Copies elements [first, first+count) of the initializer into dst.
void readElements(const onnx::TensorProto &t, const std::string &modelPath, DType dtype,
                  int64_t n, int64_t first, int64_t count, char *dst) {
  size_t es = dtypeSize(dtype);
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    uint64_t offset = 0;
    int64_t length = -1;
    for (const auto &kv : t.external_data()) {
      try {
        if (kv.key() == "location")
          location = kv.value();
        else if (kv.key() == "offset")
          offset = std::stoull(kv.value());
        else if (kv.key() == "length")
          length = std::stoll(kv.value());
      } catch (const std::exception &) {
        fail("external data ", kv.key(), " '", kv.value(), "' is not a number");
      }
    }
    if (location.empty())
      fail("external data without a location");
    if (location[0] == '/' || location.find("..") != std::string::npos)
      fail("external data location '", location, "' must be relative to the model directory");
    if (length >= 0 && uint64_t(length) < uint64_t(n) * es)
      fail("external data length ", length, " is less than the ", uint64_t(n) * es,
           " bytes of the tensor");
    std::string path = dirName(modelPath) + "/" + location;
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0)
      fail("cannot open external data file ", path, ": ", std::strerror(errno));
    size_t want = size_t(count) * es;
    uint64_t off = offset + uint64_t(first) * es;
    size_t got = 0;
    while (got < want) {
      ssize_t r = pread(fd, dst + got, want - got, off_t(off + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        close(fd);
        fail("external data file ", path, " ends before the tensor's bytes [", off, ", ",
             off + want, ")");
      }
      got += size_t(r);
    }
    close(fd);
    return;
  }
  if (!t.raw_data().empty() || n == 0) {
    if (t.raw_data().size() != uint64_t(n) * es)
      fail("raw_data holds ", t.raw_data().size(), " bytes, the tensor needs ", uint64_t(n) * es);
    std::memcpy(dst, t.raw_data().data() + size_t(first) * es, size_t(count) * es);
    return;
  }
  auto need = [&](int have) {
    if (int64_t(have) != n)
      fail("typed data holds ", have, " values, the tensor has ", n);
  };
  switch (dtype) {
  case ds::plan::F32:
    need(t.float_data_size());
    std::memcpy(dst, t.float_data().data() + first, size_t(count) * es);
    break;
  case ds::plan::F64:
    need(t.double_data_size());
    std::memcpy(dst, t.double_data().data() + first, size_t(count) * es);
    break;
  case ds::plan::I64:
    need(t.int64_data_size());
    std::memcpy(dst, t.int64_data().data() + first, size_t(count) * es);
    break;
  default: // int32_data carries i32, bool, f16 and bf16 (as uint16 bit patterns)
    need(t.int32_data_size());
    for (int64_t i = 0; i < count; ++i) {
      int32_t v = t.int32_data(int(first + i));
      if (dtype == ds::plan::I32)
        std::memcpy(dst + size_t(i) * 4, &v, 4);
      else if (dtype == ds::plan::I1)
        dst[i] = v != 0;
      else {
        uint16_t h = uint16_t(v);
        std::memcpy(dst + size_t(i) * 2, &h, 2);
      }
    }
  }
}

} // namespace

void readOnnxModel(const std::string &path, onnx::ModelProto &model) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0)
    fail(path, ": cannot open model file: ", std::strerror(errno));
  google::protobuf::io::FileInputStream raw(fd);
  raw.SetCloseOnDelete(true);
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    fail(path, ": not a valid ONNX model (protobuf decoding failed)");
}

std::vector<std::pair<std::string, std::vector<int64_t>>>
onnxInitializerShapes(const std::string &path) {
  onnx::ModelProto model;
  readOnnxModel(path, model);
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto &t : model.graph().initializer())
    out.emplace_back(t.name(), std::vector<int64_t>(t.dims().begin(), t.dims().end()));
  return out;
}

void loadParameters(const LoadedPlan &plan, ExecutorBase &exec, int rank, int worldSize) {
  if (plan.plan.parameters().empty())
    return;
  const std::string &path = plan.modelPath;
  onnx::ModelProto model;
  readOnnxModel(path, model);
  std::unordered_map<std::string, const onnx::TensorProto *> inits;
  for (const auto &t : model.graph().initializer())
    inits[t.name()] = &t;
  for (const auto &p : plan.plan.parameters()) {
    std::string what = path + ": parameter '" + p.symbol() + "' (initializer '" +
                       p.initializer() + "')";
    auto it = inits.find(p.initializer());
    if (it == inits.end())
      fail(what, ": no such initializer in the model");
    const onnx::TensorProto &t = *it->second;
    DType dt = fromOnnx(t.data_type());
    const BufferInfo &info = plan.buffer(p.buffer());
    std::vector<char> staging(size_t(info.type.bytes));
    Tensor buf{info.type.dtype, &info.type.shape, info.type.numel, staging.data()};
    // An f32 initializer may fill an f16/bf16 buffer (mixed-precision training keeps 16-bit
    // working copies of fp32 weights): every element is rounded to nearest even.
    bool narrow = dt == ds::plan::F32 && (buf.dtype == ds::plan::F16 || buf.dtype == ds::plan::BF16);
    if (dt != buf.dtype && !narrow)
      fail(what, ": the model stores ", dt ? dtypeName(dt) : "ONNX type " + std::to_string(t.data_type()),
           ", the plan expects ", dtypeName(buf.dtype));
    std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
    int64_t n;
    try {
      n = checkedNumel(dims);
    } catch (const Error &e) {
      fail(what, ": ", e.what());
    }
    size_t es = dtypeSize(buf.dtype);
    char *dst = static_cast<char *>(buf.data);
    // Reads elements [first, first+count) into dst (buffer elements), converting if needed.
    auto read = [&](int64_t first, int64_t count, char *out) {
      if (!narrow) {
        readElements(t, path, dt, n, first, count, out);
        return;
      }
      std::vector<float> tmp(static_cast<size_t>(count));
      readElements(t, path, dt, n, first, count, reinterpret_cast<char *>(tmp.data()));
      uint16_t *o = reinterpret_cast<uint16_t *>(out);
      for (int64_t i = 0; i < count; ++i)
        o[i] = buf.dtype == ds::plan::F16 ? floatToHalf(tmp[size_t(i)]) : floatToBf16(tmp[size_t(i)]);
    };
    try {
      if (p.shard().kind() == ds::plan::ShardSpec::FLAT_1D) {
        int64_t per = (n + worldSize - 1) / worldSize;
        if (buf.numel != per)
          fail("a flat shard of ", shapeString(dims), " over ", worldSize,
               " ranks has ", per, " elements, the plan's buffer has ", buf.numel);
        int64_t first = std::min(n, int64_t(rank) * per);
        int64_t count = std::min(per, n - first);
        std::memset(dst, 0, size_t(per) * es);
        if (count > 0)
          read(first, count, dst);
      } else {
        if (dims != *buf.shape)
          fail("the model's shape ", shapeString(dims), " differs from the plan's ",
               shapeString(*buf.shape));
        read(0, n, dst);
      }
    } catch (const Error &e) {
      fail(what, ": ", e.what());
    }
    exec.upload(p.buffer(), staging.data());
  }
}

} // namespace ds::rt
