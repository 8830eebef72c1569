// Graph inputs from .npy files (rank slices, wrapping around as epochs), synthetic data, and
// whole-tensor inputs for --whole-inputs.
#include "ds/runtime/InputFeeder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <sys/stat.h>

namespace ds::rt {

InputFeeder::InputFeeder(const LoadedPlan &plan, ExecutorBase &exec, const InputFeederOptions &opt,
                         int rank, int world)
    : plan_(plan), exec_(exec), opt_(opt), rank_(rank), world_(world) {
  mb_ = plan.microBatch;
  for (const auto &in : plan.plan.inputs()) {
    if (opt.synthetic)
      continue;
    std::string path = opt.dataDir + "/" + in.name() + ".npy";
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
      fail("input '", in.name(), "': ", path, " does not exist");
    NpyFile f = openNpy(path);
    const auto &b = plan.buffer(in.buffer());
    if (f.dtype != b.type.dtype)
      fail(path, ": dtype ", dtypeName(f.dtype), " does not match input '", in.name(), "' of type ",
           dtypeName(b.type.dtype));
    std::vector<int64_t> sample = b.type.shape;
    sample.erase(sample.begin() + in.batch_dim());
    if (f.shape.empty() || std::vector<int64_t>(f.shape.begin() + 1, f.shape.end()) != sample)
      fail(path, ": shape ", shapeString(f.shape), " does not match input '", in.name(),
           "': expected [samples,", shapeString(sample).substr(1));
    if (!files_.empty() && f.shape[0] != files_[0].shape[0])
      fail(path, ": ", f.shape[0], " samples, but ", files_[0].path, " has ", files_[0].shape[0]);
    files_.push_back(std::move(f));
  }
  // Before any training step; one rank reads the files (the others see the same data).
  if (opt.checkInputs && rank == 0)
    for (const NpyFile &f : files_)
      checkFiniteNpy(f);
}

void checkFiniteNpy(const NpyFile &f, bool samples) {
  if (!isFloat(f.dtype) || f.shape.empty())
    return;
  int64_t rowElems = f.rowElems(), rows = f.shape[0];
  if (rowElems == 0 || rows == 0)
    return;
  size_t es = dtypeSize(f.dtype);
  // Chunks of whole rows, about 4 MiB (at least one row).
  int64_t chunkRows = std::max<int64_t>(1, int64_t((4u << 20) / (size_t(rowElems) * es)));
  std::vector<char> buf;
  for (int64_t first = 0; first < rows; first += chunkRows) {
    int64_t count = std::min(chunkRows, rows - first);
    int64_t n = count * rowElems;
    buf.resize(size_t(n) * es);
    readNpyRows(f, first, count, buf.data());
    for (int64_t i = 0; i < n; ++i) {
      double v;
      switch (f.dtype) {
      case ds::plan::F32: v = reinterpret_cast<const float *>(buf.data())[i]; break;
      case ds::plan::F64: v = reinterpret_cast<const double *>(buf.data())[i]; break;
      case ds::plan::F16: v = halfToFloat(reinterpret_cast<const uint16_t *>(buf.data())[i]); break;
      default: v = bf16ToFloat(reinterpret_cast<const uint16_t *>(buf.data())[i]); break;
      }
      if (std::isfinite(v))
        continue;
      int64_t flat = first * rowElems + i;
      fail(f.path, ": element ", flat, " (flat index",
           samples ? "; sample " + std::to_string(flat / rowElems) : std::string(), ") is ",
           std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf",
           ": --check-inputs rejects non-finite input data; fix or drop that sample");
    }
  }
}

void InputFeeder::requireSamples(int64_t n) const {
  if (!opt_.synthetic && !files_.empty() && samples() < n)
    fail(opt_.dataDir, ": the data has ", samples(), " samples, fewer than one global batch of ", n,
         " (micro-batch ", mb_, " x accumulation ", plan_.accumulationSteps, " x world ", world_,
         ")");
}

void InputFeeder::feed(int64_t first, uint64_t stream) {
  const auto &inputs = plan_.plan.inputs();
  for (int k = 0; k < inputs.size(); ++k) {
    const auto &in = inputs[k];
    Tensor t = hostTensor(exec_, in.buffer(), host_, /*fetch=*/false);
    if (opt_.synthetic) {
      synthesize(in, t, stream * 1000003ull + uint64_t(k));
      exec_.upload(in.buffer(), t.data);
      continue;
    }
    const NpyFile &f = files_[size_t(k)];
    size_t es = dtypeSize(t.dtype);
    int64_t rowElems = f.rowElems();
    size_t row = size_t(rowElems) * es;
    bool direct = in.batch_dim() == 0;
    staging_.resize(direct ? 0 : row * size_t(mb_));
    char *dst = direct ? static_cast<char *>(t.data) : staging_.data();
    int64_t n = f.shape[0];
    int64_t done = 0;
    while (done < mb_) { // contiguous runs, wrapping around the file (epochs)
      int64_t s = (first + done) % n;
      int64_t cnt = std::min<int64_t>(mb_ - done, n - s);
      readNpyRows(f, s, cnt, dst + size_t(done) * row);
      done += cnt;
    }
    if (!direct) { // [mb, outer, inner] -> [outer, mb, inner]
      int64_t outer = 1;
      for (uint32_t d = 0; d < in.batch_dim(); ++d)
        outer *= t.dim(d);
      size_t innerBytes = row / size_t(outer);
      for (int64_t b = 0; b < mb_; ++b)
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(static_cast<char *>(t.data) + (size_t(o * mb_ + b)) * innerBytes,
                      staging_.data() + (size_t(b * outer + o)) * innerBytes, innerBytes);
    }
    exec_.upload(in.buffer(), t.data);
  }
}

void InputFeeder::synthesize(const ds::plan::GraphInput &in, const Tensor &t, uint64_t stream) {
  std::mt19937_64 rng(opt_.seed * 0x9e3779b97f4a7c15ull + stream * 0xbf58476d1ce4e5b9ull +
                      uint64_t(rank_));
  bool fl = isFloat(t.dtype);
  double lo = in.has_synthetic_low() ? in.synthetic_low() : fl ? -1.0 : 0.0;
  double hi = in.has_synthetic_high() ? in.synthetic_high() : fl ? 1.0 : 2.0;
  std::uniform_real_distribution<double> u(lo, hi);
  for (int64_t i = 0; i < t.numel; ++i) {
    double v = u(rng);
    switch (t.dtype) {
    case ds::plan::F32: t.as<float>()[i] = float(v); break;
    case ds::plan::F64: t.as<double>()[i] = v; break;
    case ds::plan::F16: t.as<uint16_t>()[i] = floatToHalf(float(v)); break;
    case ds::plan::BF16: t.as<uint16_t>()[i] = floatToBf16(float(v)); break;
    case ds::plan::I64:
      t.as<int64_t>()[i] = std::min(int64_t(std::floor(v)), int64_t(std::ceil(hi)) - 1);
      break;
    case ds::plan::I32:
      t.as<int32_t>()[i] = int32_t(std::min(std::floor(v), std::ceil(hi) - 1));
      break;
    default: t.as<uint8_t>()[i] = std::floor(v) != 0; break;
    }
  }
}

/// --whole-inputs: the plan's graph inputs are taken out of the plan before validation (they
/// need not share a batch dimension, and may be 0-d) and fed whole from <data>/<name>.npy.
LoadedPlan loadPlanWithoutInputs(const std::string &path, int world,
                                 std::vector<ds::plan::GraphInput> &inputs) {
  std::string bytes;
  {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f)
      fail(path, ": cannot open plan file: ", std::strerror(errno));
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
      bytes.append(buf, n);
    std::fclose(f);
  }
  ds::plan::Plan p;
  try {
    decodePlan(bytes, p); // magic, checksum, decoding, unknown fields
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  inputs.assign(p.inputs().begin(), p.inputs().end());
  p.clear_inputs();
  LoadedPlan lp;
  lp.path = path;
  lp.plan = std::move(p);
  try {
    validatePlan(lp, world);
    std::set<std::string> names;
    for (const auto &in : inputs) {
      std::string what = "input '" + in.name() + "'";
      if (in.name().empty() || in.name().find('/') != std::string::npos)
        fail(what, ": not a valid file name");
      if (!names.insert(in.name()).second)
        fail(what, ": duplicate input name");
      if (!lp.bufferIndex.count(in.buffer()))
        fail(what, ": unknown buffer ", in.buffer());
    }
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  return lp;
}

/// Reads <data>/<name>.npy, whose dtype and shape must be exactly the input buffer's, into it.
void feedWholeInputs(const std::vector<ds::plan::GraphInput> &inputs, ExecutorBase &exec,
                     const std::string &dir, bool doRead, bool checkFinite) {
  std::vector<char> store;
  for (const auto &in : inputs) {
    std::string path = dir + "/" + in.name() + ".npy";
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
      fail("input '", in.name(), "': ", path, " does not exist");
    NpyFile f = openNpy(path);
    Tensor t = hostTensor(exec, in.buffer(), store, /*fetch=*/false);
    if (f.dtype != t.dtype)
      fail(path, ": dtype ", dtypeName(f.dtype), " does not match input '", in.name(), "' of type ",
           dtypeName(t.dtype));
    if (f.shape != *t.shape)
      fail(path, ": shape ", shapeString(f.shape), " does not match input '", in.name(),
           "' of shape ", shapeString(*t.shape), " (--whole-inputs reads the file whole)");
    if (t.numel == 0)
      continue;
    NpyFile rows = f; // one row holding everything (also for 0-d files)
    rows.shape = {1, t.numel};
    if (checkFinite)
      checkFiniteNpy(rows, /*samples=*/false);
    if (!doRead)
      continue;
    readNpyRows(rows, 0, 1, t.data);
    exec.upload(in.buffer(), t.data);
  }
}

} // namespace ds::rt
