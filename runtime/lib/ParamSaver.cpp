// ds-run --save-params: parameter file names, FLAT_1D shapes from the ONNX model, gathering.
#include "ds/runtime/ParamSaver.h"

#include "ds/runtime/FileOutput.h"
#include "ds/runtime/Npy.h"
#include "ds/runtime/OnnxParams.h"

#include <onnx/onnx_pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <climits>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
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
  auto shapes = onnxInitializerShapes(path);
  return std::map<std::string, std::vector<int64_t>>(shapes.begin(), shapes.end());
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
    // Fail fast, before training: DIR must be replaceable and its filesystem must hold it.
    DirectoryOutput::checkTarget(dir, ".npy", "--save-params");
    std::vector<uint64_t> sizes;
    for (auto &s : out) {
      s.dtype = plan.buffer(s.buffer).type.dtype;
      sizes.push_back(npyFileBytes(s.dtype, s.dims));
    }
    try {
      checkFreeSpace(parentDirectory(dir), sizes, dir, /*newDirectory=*/true);
    } catch (const Error &e) {
      fail("--save-params: ", e.what());
    }
  }
  return out;
}

namespace {
std::string baseName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}
} // namespace

bool saveParams(const std::vector<SavedParam> &params, const std::string &dir,
                ExecutorBase &exec, Communicator &comm, std::string &error) {
  int rank = comm.rank(), world = comm.size();
  error.clear();
  // Rank 0 writes DIR.tmp-XXXXXX/ and swaps it in as a whole; a write that fails stops its
  // writing but not the collectives, and every rank learns the outcome at the end.
  std::unique_ptr<DirectoryOutput> output;
  if (rank == 0) {
    try {
      output = std::make_unique<DirectoryOutput>(dir, ".npy", "--save-params");
      std::vector<uint64_t> sizes;
      for (const auto &s : params)
        sizes.push_back(npyFileBytes(s.dtype, s.dims));
      output->begin(sizes);
    } catch (const std::exception &e) {
      error = e.what();
    }
  }
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
    if (rank == 0 && error.empty()) {
      try { // the first numel(dims) elements: no padding
        std::string bytes = encodeNpy(t.dtype, s.dims, data);
        output->write(baseName(s.file), bytes.data(), bytes.size());
      } catch (const std::exception &e) {
        error = e.what();
      }
    }
  }
  if (rank == 0 && error.empty()) {
    try {
      output->commit();
    } catch (const std::exception &e) {
      error = e.what();
    }
  }
  output.reset(); // removes the temporary directory of a failed save
  int32_t failed = error.empty() ? 0 : 1;
  comm.allReduce(&failed, &failed, 1, ds::plan::I32, ReduceOp::Max);
  return failed == 0;
}

void saveParams(const std::vector<SavedParam> &params, ExecutorBase &exec, Communicator &comm) {
  std::string dir = params.empty() ? std::string() : parentDirectory(params.front().file);
  std::string error;
  if (!saveParams(params, dir, exec, comm, error))
    fail(error.empty() ? "--save-params failed on rank 0" : error);
}

} // namespace ds::rt
