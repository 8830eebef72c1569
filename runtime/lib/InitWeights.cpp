// ds-run --init-weights FILE.safetensors: parameters from a safetensors file by
// initializer name.
#include "ds/runtime/InitWeights.h"

#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/Safetensors.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace ds::rt {

namespace {
std::string joinNames(const std::vector<std::string> &names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i == 8) {
      s += ", ... (" + std::to_string(names.size()) + " in all)";
      break;
    }
    s += (i ? ", " : "") + names[i];
  }
  return s;
}
} // namespace

void loadInitWeights(const LoadedPlan &plan, const std::string &path, ExecutorBase &exec,
                     int rank, int worldSize) {
  SafetensorsFile file(path);
  auto shapes = onnxInitializerShapes(plan.modelPath);
  std::map<std::string, std::vector<int64_t>> dims(shapes.begin(), shapes.end());
  // Hugging Face checkpoints name tensors as their model classes do: GPT-2's safetensors
  // say "h.0.attn.c_attn.weight" where the ONNX export of GPT2LMHeadModel says
  // "transformer.h.0.attn.c_attn.weight". When some initializer is not in the file but
  // every one is once a single prefix is added to (or removed from) the file's names,
  // that prefix maps them.
  std::string addPrefix, dropPrefix;
  auto nameInFile = [&](const std::string &init) -> std::string {
    if (!addPrefix.empty())
      return init.compare(0, addPrefix.size(), addPrefix) == 0
                 ? init.substr(addPrefix.size())
                 : "";
    return dropPrefix + init;
  };
  std::set<std::string> inits;
  for (const auto &p : plan.plan.parameters())
    inits.insert(p.initializer());
  bool direct = true;
  for (const auto &i : inits)
    direct &= file.find(i) != nullptr;
  if (!direct && !inits.empty() && !file.tensors().empty()) {
    // Candidate prefixes from the first initializer the file lacks.
    std::string first;
    for (const auto &i : inits)
      if (!file.find(i)) {
        first = i;
        break;
      }
    for (const auto &t : file.tensors()) {
      std::string add, drop;
      if (first.size() > t.name.size() &&
          first.compare(first.size() - t.name.size(), t.name.size(), t.name) == 0)
        add = first.substr(0, first.size() - t.name.size());
      else if (t.name.size() > first.size() &&
               t.name.compare(t.name.size() - first.size(), first.size(), first) == 0)
        drop = t.name.substr(0, t.name.size() - first.size());
      else
        continue;
      addPrefix = add;
      dropPrefix = drop;
      bool all = true;
      for (const auto &i : inits)
        all &= file.find(nameInFile(i)) != nullptr;
      if (all)
        break;
      addPrefix.clear();
      dropPrefix.clear();
    }
  }
  auto findTensor = [&](const std::string &init) { return file.find(nameInFile(init)); };
  std::vector<std::string> missing, extra, misShaped, misTyped;
  std::set<std::string> wanted;
  for (const auto &p : plan.plan.parameters()) {
    if (!wanted.insert(p.initializer()).second)
      continue;
    const SafetensorsTensor *t = findTensor(p.initializer());
    if (!t) {
      missing.push_back(p.initializer());
      continue;
    }
    auto d = dims.find(p.initializer());
    std::vector<int64_t> want =
        d != dims.end() ? d->second : plan.buffer(p.buffer()).type.shape;
    if (t->shape != want)
      misShaped.push_back(p.initializer() + " " + shapeString(t->shape) +
                          " (the model's is " + shapeString(want) + ")");
  }
  for (const auto &p : plan.plan.parameters()) {
    const SafetensorsTensor *t = findTensor(p.initializer());
    if (!t)
      continue;
    DType buf = plan.buffer(p.buffer()).type.dtype;
    bool narrow =
        t->dtype == ds::plan::F32 && (buf == ds::plan::F16 || buf == ds::plan::BF16);
    if (t->dtype != buf && !narrow) {
      std::string entry = p.initializer() + " " + safetensorsDType(t->dtype) +
                          " (expected " + safetensorsDType(buf) + ")";
      if (std::find(misTyped.begin(), misTyped.end(), entry) == misTyped.end())
        misTyped.push_back(entry);
    }
  }
  std::set<std::string> used;
  for (const auto &i : wanted)
    used.insert(nameInFile(i));
  for (const auto &t : file.tensors())
    if (!used.count(t.name))
      extra.push_back(t.name);
  if (!missing.empty() || !extra.empty() || !misShaped.empty() || !misTyped.empty()) {
    std::string msg = "--init-weights: " + path + " does not fit the plan's parameters:";
    if (!missing.empty())
      msg += " missing " + joinNames(missing) + ";";
    if (!extra.empty())
      msg += " not parameters of the model " + joinNames(extra) + ";";
    if (!misShaped.empty())
      msg += " mis-shaped " + joinNames(misShaped) + ";";
    if (!misTyped.empty())
      msg += " mis-typed " + joinNames(misTyped) + ";";
    msg.pop_back();
    fail(msg);
  }
  std::vector<char> staging, raw;
  for (const auto &p : plan.plan.parameters()) {
    const SafetensorsTensor &t = *findTensor(p.initializer());
    const BufferInfo &info = plan.buffer(p.buffer());
    int64_t n = t.numel(), first = 0, count = n;
    if (p.shard().kind() == ds::plan::ShardSpec::FLAT_1D) {
      int64_t per = (n + worldSize - 1) / worldSize;
      if (info.type.numel != per)
        fail("--init-weights: ", path, ": a flat shard of '", t.name, "' over ",
             worldSize, " ranks has ", per, " elements, the plan's buffer has ",
             info.type.numel);
      first = std::min(n, int64_t(rank) * per);
      count = std::min(per, n - first);
    }
    staging.assign(std::max<size_t>(size_t(info.type.bytes), 1), 0);
    size_t es = dtypeSize(t.dtype);
    if (t.dtype == info.type.dtype) {
      if (count > 0)
        file.read(t, uint64_t(first) * es, uint64_t(count) * es, staging.data());
    } else { // f32 into a 16-bit buffer
      raw.resize(size_t(count) * es);
      if (count > 0)
        file.read(t, uint64_t(first) * es, uint64_t(count) * es, raw.data());
      const float *f = reinterpret_cast<const float *>(raw.data());
      uint16_t *o = reinterpret_cast<uint16_t *>(staging.data());
      for (int64_t i = 0; i < count; ++i)
        o[i] = info.type.dtype == ds::plan::F16 ? floatToHalf(f[i]) : floatToBf16(f[i]);
    }
    exec.upload(p.buffer(), staging.data());
  }
}

} // namespace ds::rt
