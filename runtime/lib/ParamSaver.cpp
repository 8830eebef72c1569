// ds-run --save-params: parameter file names, FLAT_1D shapes from the ONNX model, gathering.
#include "ds/runtime/ParamSaver.h"

#include "ds/runtime/Npy.h"

#include <onnx/onnx_pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <climits>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <set>

namespace ds::rt {

std::string paramFileName(const std::string &init) {
  if (init.empty())
    fail("--save-params: a parameter has an empty initializer name");
  if (init.find('\0') != std::string::npos)
    fail("--save-params: initializer name with a NUL byte cannot be a file name");
  std::string f;
  for (char c : init) {
    if (c == '/')
      f += "__";
    else
      f += c;
  }
  if (f.size() + 4 > 255)
    fail("--save-params: initializer '", init, "' maps to a file name longer than 255 bytes");
  return f;
}

namespace {
/// The initializer shapes of the plan's model.
std::map<std::string, std::vector<int64_t>> onnxInitializerDims(const std::string &path) {
  onnx::ModelProto model;
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0)
    fail(path, ": cannot open model file: ", std::strerror(errno));
  {
    google::protobuf::io::FileInputStream raw(fd);
    raw.SetCloseOnDelete(true);
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(INT_MAX);
    if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
      fail(path, ": not a valid ONNX model (protobuf decoding failed)");
  }
  std::map<std::string, std::vector<int64_t>> dims;
  for (const auto &t : model.graph().initializer())
    dims[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
  return dims;
}
} // namespace

std::vector<SavedParam> prepareSaveParams(const LoadedPlan &plan, const std::string &dir,
                                          int rank) {
  std::vector<SavedParam> out;
  std::set<std::string> seen;
  std::map<std::string, std::string> fileOwner;
  bool anyFlat = false;
  for (const auto &p : plan.plan.parameters()) {
    if (!seen.insert(p.initializer()).second)
      continue;
    SavedParam s;
    s.initializer = p.initializer();
    s.buffer = p.buffer();
    s.flat = p.shard().kind() == ds::plan::ShardSpec::FLAT_1D;
    anyFlat |= s.flat;
    if (rank == 0) {
      std::string f = paramFileName(p.initializer());
      auto [it, fresh] = fileOwner.emplace(f, p.initializer());
      if (!fresh)
        fail("--save-params: initializers '", it->second, "' and '", p.initializer(),
             "' map to the same file ", f, ".npy");
      s.file = dir + "/" + f + ".npy";
      if (!s.flat)
        s.dims = plan.buffer(p.buffer()).type.shape;
    }
    out.push_back(std::move(s));
  }
  if (rank == 0) {
    if (anyFlat) {
      auto dims = onnxInitializerDims(plan.modelPath);
      for (auto &s : out) {
        if (!s.flat)
          continue;
        auto it = dims.find(s.initializer);
        if (it == dims.end())
          fail(plan.modelPath, ": no initializer '", s.initializer, "'");
        s.dims = it->second;
      }
    }
    createDirectories(dir);
  }
  return out;
}

void saveParams(const std::vector<SavedParam> &params, ExecutorBase &exec, Communicator &comm) {
  int rank = comm.rank(), world = comm.size();
  std::vector<char> gathered, store;
  for (const auto &s : params) {
    Tensor t = hostTensor(exec, s.buffer, store, /*fetch=*/true);
    const void *data = t.data;
    if (s.flat) {
      size_t es = dtypeSize(t.dtype);
      gathered.resize(size_t(t.numel) * es * size_t(world));
      comm.allGather(t.data, gathered.data(), t.numel, t.dtype);
      data = gathered.data();
    }
    if (rank == 0)
      writeNpy(s.file, t.dtype, s.dims, data); // the first numel(dims) elements: no padding
  }
}

} // namespace ds::rt
