// ds-ckpt: inspects ds-run checkpoints, consolidates their shards into one fp32
// safetensors file and writes the trained weights into an ONNX model's initializers.
#include "ds/runtime/Checkpoint.h"
#include "ds/runtime/FileOutput.h"
#include "ds/runtime/Npy.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/Safetensors.h"

#include <onnx/onnx_pb.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

using namespace ds::rt;

namespace {

const char *kUsage =
    "usage: ds-ckpt inspect DIR\n"
    "       ds-ckpt consolidate DIR -o FILE.safetensors\n"
    "       ds-ckpt export-onnx DIR --model IN.onnx -o OUT.onnx [--external-data]\n"
    "DIR is a checkpoint directory (its 'latest' tag is used) or a tag directory.\n";

[[noreturn]] void usageError(const std::string &msg) {
  std::fprintf(stderr, "ds-ckpt: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

constexpr uint64_t kChunkElements = uint64_t(4) << 20;

/// The weights a consolidated checkpoint holds: per parameter initializer, the tensor to
/// read (the fp32 master copy where the plan keeps one, else the parameter itself).
std::vector<const CheckpointTensor *> weightSources(const CheckpointManifest &m) {
  std::map<std::string, const CheckpointTensor *> chosen;
  std::vector<std::string> order;
  for (const auto &t : m.tensors) {
    if (t.kind != "param")
      continue;
    if (t.fullNumel == 0)
      fail(m.dir, ": tensor '", t.name,
           "' has no full-tensor layout (a plan from an older ds-opt)");
    auto it = chosen.find(t.parameter);
    if (it == chosen.end()) {
      chosen[t.parameter] = &t;
      order.push_back(t.parameter);
    } else if (t.dtype == ds::plan::F32) {
      it->second = &t;
    }
  }
  for (const auto &t : m.tensors)
    if (t.kind == "master" && chosen.count(t.parameter) &&
        t.fullNumel == chosen[t.parameter]->fullNumel)
      chosen[t.parameter] = &t;
  std::vector<const CheckpointTensor *> out;
  for (const auto &name : order)
    out.push_back(chosen[name]);
  if (out.empty())
    fail(m.dir, ": the checkpoint holds no parameters");
  return out;
}

/// Converts n elements of `from` at src to f32 (floats) at dst; integers stay as they
/// are.
void toF32(DType from, const char *src, uint64_t n, float *dst) {
  for (uint64_t i = 0; i < n; ++i) {
    switch (from) {
    case ds::plan::F32:
      std::memcpy(&dst[i], src + 4 * i, 4);
      break;
    case ds::plan::F64: {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      dst[i] = float(d);
      break;
    }
    case ds::plan::F16: {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = halfToFloat(h);
      break;
    }
    case ds::plan::BF16: {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = bf16ToFloat(h);
      break;
    }
    default:
      fail("internal: not a float dtype");
    }
  }
}

void fromF32(DType to, const float *src, uint64_t n, char *dst) {
  for (uint64_t i = 0; i < n; ++i) {
    switch (to) {
    case ds::plan::F32:
      std::memcpy(dst + 4 * i, &src[i], 4);
      break;
    case ds::plan::F64: {
      double d = src[i];
      std::memcpy(dst + 8 * i, &d, 8);
      break;
    }
    case ds::plan::F16: {
      uint16_t h = floatToHalf(src[i]);
      std::memcpy(dst + 2 * i, &h, 2);
      break;
    }
    case ds::plan::BF16: {
      uint16_t h = floatToBf16(src[i]);
      std::memcpy(dst + 2 * i, &h, 2);
      break;
    }
    default:
      fail("internal: not a float dtype");
    }
  }
}

/// Streams the full tensor `t` in chunks converted to `out` dtype; calls sink(bytes,
/// size).
template <typename Sink>
void streamTensor(CheckpointReader &reader, const CheckpointTensor &t, DType out,
                  Sink sink) {
  size_t es = dtypeSize(t.dtype);
  std::vector<char> raw;
  std::vector<float> f32;
  std::vector<char> conv;
  for (uint64_t first = 0; first < t.fullNumel; first += kChunkElements) {
    uint64_t n = std::min(kChunkElements, t.fullNumel - first);
    raw.resize(size_t(n) * es);
    reader.read(t, first, n, raw.data(), 0);
    if (out == t.dtype) {
      sink(raw.data(), raw.size());
      continue;
    }
    if (!isFloat(out) || !isFloat(t.dtype))
      fail("tensor '", t.name, "' is ", dtypeName(t.dtype), ", cannot convert it to ",
           dtypeName(out));
    f32.resize(size_t(n));
    toF32(t.dtype, raw.data(), n, f32.data());
    conv.resize(size_t(n) * dtypeSize(out));
    fromF32(out, f32.data(), n, conv.data());
    sink(conv.data(), conv.size());
  }
}

int inspect(const std::string &path) {
  std::string dir = resolveCheckpointDir(path);
  CheckpointManifest m = readCheckpointManifest(dir);
  std::printf("checkpoint %s\n", dir.c_str());
  std::printf("  tag %s: %lld optimizer steps done, next sample %lld, %llu program runs "
              "per rank\n",
              m.tag.c_str(), (long long)m.position.globalStep,
              (long long)m.position.nextSample,
              (unsigned long long)m.position.programRuns);
  std::printf("  saved by %d rank%s, ZeRO stage %d, offload %s, batch %lld micro x %lld "
              "accumulation = %lld global\n",
              m.worldSize, m.worldSize == 1 ? "" : "s", m.zeroStage, m.offload.c_str(),
              (long long)m.microBatch, (long long)m.accumulationSteps,
              (long long)m.globalBatch);
  std::printf("  model %s (hash %s)\n  plan %s (hash %s)\n", m.modelFile.c_str(),
              m.modelHash.c_str(), m.planFile.c_str(), m.planHash.c_str());
  CheckpointReader reader(m, /*verifyHashes=*/true);
  int bad = 0;
  for (size_t r = 0; r < m.files.size(); ++r) {
    const auto &f = m.files[r];
    std::string status = "ok";
    try {
      // Reading the first element of a tensor opens (size, header, hash) the file.
      if (!m.tensors.empty()) {
        CheckpointTensor local = m.tensors.front();
        local.fullNumel = 0;
        std::vector<char> one(dtypeSize(local.dtype));
        if (checkedNumel(local.shape) > 0)
          reader.read(local, 0, 1, one.data(), int(r));
      }
    } catch (const std::exception &e) {
      status = e.what();
      ++bad;
    }
    std::printf("  file %s: %llu bytes, hash %s: %s\n", f.name.c_str(),
                (unsigned long long)f.bytes, f.hash.c_str(), status.c_str());
  }
  std::printf("  %zu tensors:\n", m.tensors.size());
  for (const auto &t : m.tensors) {
    std::string layout = t.fullNumel == 0 ? "rank-local" : t.flat ? "flat shard" : "full";
    std::printf(
        "    %-40s %-20s %-5s %s %s per rank, %s%s\n", t.name.c_str(),
        t.kind.empty()
            ? "-"
            : (t.kind +
               (t.parameter.empty() || t.kind == "param" ? "" : " of " + t.parameter))
                  .c_str(),
        safetensorsDType(t.dtype), layout.c_str(), shapeString(t.shape).c_str(),
        t.fullNumel ? "whole " : "", t.fullNumel ? shapeString(t.fullShape).c_str() : "");
  }
  if (bad) {
    std::fprintf(stderr, "ds-ckpt: %d of %zu files are missing or corrupt\n", bad,
                 m.files.size());
    return 1;
  }
  return 0;
}

int consolidate(const std::string &path, const std::string &out) {
  std::string dir = resolveCheckpointDir(path);
  CheckpointManifest m = readCheckpointManifest(dir);
  auto sources = weightSources(m);
  std::vector<SafetensorsTensor> tensors;
  for (const auto *t : sources)
    tensors.push_back(
        {t->parameter, isFloat(t->dtype) ? ds::plan::F32 : t->dtype, t->fullShape, 0, 0});
  // Write next to OUT and rename: a failed consolidation leaves no half-written file.
  createDirectories(parentDirectory(out));
  std::string tmp = out + ".tmp-" + std::to_string(getpid());
  unlink(tmp.c_str());
  try {
    CheckpointReader reader(m, /*verifyHashes=*/true);
    reader.verifyAll();
    SafetensorsWriter w(tmp, tensors,
                        {{"format", "pt"},
                         {"source", dir},
                         {"global_step", std::to_string(m.position.globalStep)}});
    for (size_t i = 0; i < sources.size(); ++i)
      streamTensor(reader, *sources[i], tensors[i].dtype,
                   [&](const char *p, size_t n) { w.append(p, n); });
    w.finish();
    if (std::rename(tmp.c_str(), out.c_str()) != 0)
      fail("cannot write ", out, ": ", std::strerror(errno));
  } catch (...) {
    unlink(tmp.c_str());
    throw;
  }
  std::printf("ds-ckpt: wrote %zu tensors (step %lld) to %s\n", sources.size(),
              (long long)m.position.globalStep, out.c_str());
  return 0;
}

DType onnxDType(int t) {
  switch (t) {
  case onnx::TensorProto::FLOAT:
    return ds::plan::F32;
  case onnx::TensorProto::DOUBLE:
    return ds::plan::F64;
  case onnx::TensorProto::FLOAT16:
    return ds::plan::F16;
  case onnx::TensorProto::BFLOAT16:
    return ds::plan::BF16;
  case onnx::TensorProto::INT64:
    return ds::plan::I64;
  case onnx::TensorProto::INT32:
    return ds::plan::I32;
  case onnx::TensorProto::BOOL:
    return ds::plan::I1;
  default:
    return ds::plan::DTYPE_UNSPECIFIED;
  }
}

std::string baseName(const std::string &p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

int exportOnnx(const std::string &path, const std::string &modelPath,
               const std::string &out, bool forceExternal) {
  std::string dir = resolveCheckpointDir(path);
  CheckpointManifest m = readCheckpointManifest(dir);
  auto sources = weightSources(m);
  onnx::ModelProto model;
  readOnnxModel(modelPath, model);
  std::map<std::string, onnx::TensorProto *> inits;
  for (auto &t : *model.mutable_graph()->mutable_initializer())
    inits[t.name()] = &t;
  uint64_t total = 0;
  for (const auto *s : sources) {
    auto it = inits.find(s->parameter);
    if (it == inits.end())
      fail(modelPath, ": no initializer '", s->parameter,
           "' (the checkpoint holds it): another model?");
    std::vector<int64_t> dims(it->second->dims().begin(), it->second->dims().end());
    DType dt = onnxDType(it->second->data_type());
    if (dims != s->fullShape)
      fail(modelPath, ": initializer '", s->parameter, "' is ", shapeString(dims),
           ", the checkpoint's is ", shapeString(s->fullShape));
    if (dt == ds::plan::DTYPE_UNSPECIFIED ||
        (dt != s->dtype && !(isFloat(dt) && isFloat(s->dtype))))
      fail(modelPath, ": initializer '", s->parameter, "' has ONNX type ",
           it->second->data_type(), ", the checkpoint's is ", dtypeName(s->dtype));
    total += s->fullNumel * dtypeSize(dt);
  }
  for (auto &[name, t] : inits)
    if (t->data_location() == onnx::TensorProto::EXTERNAL) {
      bool replaced = false;
      for (const auto *s : sources)
        replaced |= s->parameter == name;
      if (!replaced)
        fail(modelPath, ": initializer '", name,
             "' keeps external data the checkpoint does not replace: not supported yet");
    }
  // Protobuf cannot serialize a message over 2 GiB: larger weights go to OUT.data.
  bool external = forceExternal || total > (uint64_t(1) << 31) - (uint64_t(64) << 20);
  std::string dataName = baseName(out) + ".data";
  std::string dataPath = out + ".data";
  createDirectories(parentDirectory(out));
  std::string tmpModel = out + ".tmp-" + std::to_string(getpid());
  std::string tmpData = dataPath + ".tmp-" + std::to_string(getpid());
  try {
    CheckpointReader reader(m, /*verifyHashes=*/true);
    reader.verifyAll();
    std::unique_ptr<SafetensorsWriter> unused;
    FILE *data = nullptr;
    uint64_t offset = 0;
    if (external) {
      data = std::fopen(tmpData.c_str(), "wb");
      if (!data)
        fail("cannot create ", tmpData, ": ", std::strerror(errno));
    }
    for (const auto *s : sources) {
      onnx::TensorProto &t = *inits[s->parameter];
      DType dt = onnxDType(t.data_type());
      t.clear_float_data();
      t.clear_double_data();
      t.clear_int32_data();
      t.clear_int64_data();
      t.clear_raw_data();
      t.clear_external_data();
      std::string bytes;
      streamTensor(reader, *s, dt, [&](const char *p, size_t n) {
        if (external) {
          if (std::fwrite(p, 1, n, data) != n)
            fail("cannot write ", tmpData, ": ", std::strerror(errno));
        } else {
          bytes.append(p, n);
        }
      });
      uint64_t len = s->fullNumel * dtypeSize(dt);
      if (external) {
        t.set_data_location(onnx::TensorProto::EXTERNAL);
        auto add = [&](const char *k, const std::string &v) {
          auto *e = t.add_external_data();
          e->set_key(k);
          e->set_value(v);
        };
        add("location", dataName);
        add("offset", std::to_string(offset));
        add("length", std::to_string(len));
        offset += len;
      } else {
        t.set_data_location(onnx::TensorProto::DEFAULT);
        t.set_raw_data(std::move(bytes));
      }
    }
    if (data) {
      if (std::fflush(data) != 0 || fsync(fileno(data)) != 0)
        fail("cannot write ", tmpData, ": ", std::strerror(errno));
      std::fclose(data);
    }
    {
      std::ofstream f(tmpModel, std::ios::binary);
      if (!f || !model.SerializeToOstream(&f) || !f.flush())
        fail("cannot write ", tmpModel);
    }
    if (external && std::rename(tmpData.c_str(), dataPath.c_str()) != 0)
      fail("cannot write ", dataPath, ": ", std::strerror(errno));
    if (std::rename(tmpModel.c_str(), out.c_str()) != 0)
      fail("cannot write ", out, ": ", std::strerror(errno));
  } catch (...) {
    unlink(tmpModel.c_str());
    unlink(tmpData.c_str());
    throw;
  }
  std::printf("ds-ckpt: wrote %s with %zu trained initializers (step %lld)%s\n",
              out.c_str(), sources.size(), (long long)m.position.globalStep,
              external ? (" and their data in " + dataPath).c_str() : "");
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    usageError("no command given");
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::string dir, out, model;
  bool external = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        usageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "-o")
      out = next();
    else if (a == "--model")
      model = next();
    else if (a == "--external-data")
      external = true;
    else if (a.rfind("-", 0) == 0)
      usageError("unknown option " + a);
    else if (dir.empty())
      dir = a;
    else
      usageError("more than one checkpoint directory given");
  }
  if (dir.empty())
    usageError(cmd + " needs a checkpoint directory");
  try {
    if (cmd == "inspect") {
      if (!out.empty() || !model.empty() || external)
        usageError("inspect takes only DIR");
      return inspect(dir);
    }
    if (cmd == "consolidate") {
      if (out.empty())
        usageError("consolidate needs -o FILE.safetensors");
      if (!model.empty() || external)
        usageError("consolidate takes DIR -o FILE.safetensors");
      return consolidate(dir, out);
    }
    if (cmd == "export-onnx") {
      if (out.empty() || model.empty())
        usageError("export-onnx needs --model IN.onnx and -o OUT.onnx");
      return exportOnnx(dir, model, out, external);
    }
    usageError("unknown command '" + cmd + "' (inspect, consolidate, export-onnx)");
  } catch (const std::exception &e) {
    std::fprintf(stderr, "ds-ckpt: %s\n", e.what());
    return 1;
  }
}
