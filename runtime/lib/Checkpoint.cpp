// ds-run checkpoints: safetensors shards plus a JSON manifest, saved atomically, loaded
// and re-sliced for any world size, stage or offload setting.
#include "ds/runtime/Checkpoint.h"

#include "ds/runtime/FileOutput.h"
#include "ds/runtime/Json.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/Safetensors.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace ds::rt {

namespace {

std::string rankFileName(int rank) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "rank%05d.safetensors", rank);
  return buf;
}

bool isDirectory(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void fsyncDirectory(const std::string &dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    fail("cannot open ", dir, ": ", std::strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0)
    fail("cannot fsync ", dir, ": ", std::strerror(err));
}

/// Creates `path` (which must not exist), writes `data` and fsyncs it.
void writeNewFile(const std::string &path, const std::string &data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    fail("cannot create ", path, ": ", std::strerror(errno));
  const char *p = data.data();
  size_t left = data.size();
  int err = 0;
  while (left > 0 && !err) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      err = n < 0 ? errno : EIO;
    else {
      p += n;
      left -= size_t(n);
    }
  }
  if (!err && fsync(fd) != 0)
    err = errno;
  if (close(fd) != 0 && !err)
    err = errno;
  if (err)
    fail("cannot write ", path, ": ", std::strerror(err));
}

std::string readSmallFile(const std::string &path, size_t limit) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    fail("cannot open ", path, ": ", std::strerror(errno));
  std::string s;
  char buf[65536];
  while (f.read(buf, sizeof(buf)) || f.gcount() > 0) {
    s.append(buf, size_t(f.gcount()));
    if (s.size() > limit)
      fail(path, ": larger than ", limit, " bytes");
  }
  return s;
}

} // namespace

std::string planFileHash(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char h[16];
  if (!f || !f.read(reinterpret_cast<char *>(h), 16))
    fail("cannot read the header of ", path);
  uint64_t v = 0;
  for (int i = 15; i >= 8; --i)
    v = (v << 8) | h[i];
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)v);
  return buf;
}

namespace {

std::string jsonDims(const std::vector<int64_t> &d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i)
    s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

/// Tags under DIR ("global_step<N>") by step.
std::map<int64_t, std::string> listTags(const std::string &dir) {
  std::map<int64_t, std::string> tags;
  DIR *d = opendir(dir.c_str());
  if (!d)
    return tags;
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("global_step", 0) != 0 || n.size() == 11 || n.size() > 30)
      continue;
    bool digits =
        std::all_of(n.begin() + 11, n.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && isDirectory(dir + "/" + n))
      tags[std::stoll(n.substr(11))] = n;
  }
  closedir(d);
  return tags;
}

std::string trimLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

} // namespace

const CheckpointTensor *CheckpointManifest::find(const std::string &name) const {
  for (const auto &t : tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

PieceHashAlgorithm checkpointPieceHash(int version) {
  return version >= 3 ? PieceHashAlgorithm::Stripe : PieceHashAlgorithm::Content;
}

std::string checkpointTag(int64_t globalStep) {
  return "global_step" + std::to_string(globalStep);
}

std::string hashFile(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail("cannot open ", path, ": ", std::strerror(errno));
  ContentHash h;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // 1 MiB reads: each is hashed while it is in the CPU's cache.
  std::vector<char> buf(size_t(1) << 20);
  while (true) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      fail("cannot read ", path, ": ", std::strerror(err));
    }
    if (n == 0)
      break;
    h.update(buf.data(), size_t(n));
  }
  close(fd);
  return h.hex();
}

bool modelHashRecorded(const LoadedPlan &plan) {
  return !plan.plan.model_hash().empty() && plan.modelPath == resolveModelFile(plan);
}

std::string trainedModelHash(const LoadedPlan &plan) {
  if (plan.plan.model_file().empty())
    return "";
  return modelHashRecorded(plan) ? plan.plan.model_hash() : hashFile(plan.modelPath);
}

/// Whether the union of `ranges` (placement, begin, end) in `placement` covers [begin,
/// end).
static bool coveredBy(const std::vector<std::tuple<int, uint64_t, uint64_t>> &ranges,
                      int placement, uint64_t begin, uint64_t end) {
  std::vector<std::pair<uint64_t, uint64_t>> mine;
  for (const auto &[pl, b, e] : ranges)
    if (pl == placement)
      mine.emplace_back(b, e);
  std::sort(mine.begin(), mine.end());
  for (const auto &[b, e] : mine) {
    if (b > begin)
      break;
    begin = std::max(begin, e);
    if (begin >= end)
      return true;
  }
  return begin >= end;
}

std::vector<CheckpointTensor> checkpointTensors(
    const LoadedPlan &plan,
    const std::vector<std::pair<std::string, std::vector<int64_t>>> &onnxDims) {
  std::map<std::string, std::vector<int64_t>> dims(onnxDims.begin(), onnxDims.end());
  std::map<uint32_t, const ds::plan::StateBuffer *> states;
  for (const auto &s : plan.plan.states())
    states[s.buffer()] = &s;
  std::map<std::string, std::vector<int64_t>> paramShape; // initializer -> full shape
  for (const auto &p : plan.plan.parameters()) {
    auto it = dims.find(p.initializer());
    if (it != dims.end())
      paramShape[p.initializer()] = it->second;
    else if (p.shard().kind() == ds::plan::ShardSpec::FULL)
      paramShape[p.initializer()] = plan.buffer(p.buffer()).type.shape;
  }
  // Module state: the Plan.states buffers first, then the parameters and any other
  // PERSISTENT buffer (the largest first) that is not a view of bytes already taken (the
  // plan has views of parameters and states in other shapes). Offloaded state (HOST, NVME)
  // is module state only when Plan.states or Plan.parameters name it: the host region also
  // holds transients. Every buffer is read through the executor, which reaches NVMe
  // buffers through the swap file.
  std::vector<uint32_t> order;
  for (const auto &s : plan.plan.states())
    order.push_back(s.buffer());
  std::set<uint32_t> paramBuffers;
  for (const auto &p : plan.plan.parameters())
    paramBuffers.insert(p.buffer());
  std::vector<const ds::plan::Buffer *> rest;
  for (const auto &b : plan.plan.buffers())
    if ((b.placement() == ds::plan::PERSISTENT || paramBuffers.count(b.id())) &&
        !states.count(b.id()))
      rest.push_back(&b);
  // A span (a bucket of globals that one collective or add covers whole:
  // --ds-bucket-collectives, --ds-bucket-accumulation) is the union of two or more
  // smaller buffers: it comes after them, so that they are the module state and it is
  // their alias.
  std::set<uint32_t> spans;
  for (auto *b : rest) {
    const BufferInfo &info = plan.buffer(b->id());
    uint64_t begin = info.offset, end = info.offset + uint64_t(info.type.bytes);
    std::vector<std::tuple<int, uint64_t, uint64_t>> inside;
    for (auto *o : rest) {
      const BufferInfo &oi = plan.buffer(o->id());
      uint64_t ob = oi.offset, oe = oi.offset + uint64_t(oi.type.bytes);
      if (oi.placement == info.placement && oi.type.bytes < info.type.bytes &&
          ob >= begin && oe <= end && ob < oe)
        inside.emplace_back(int(oi.placement), ob, oe);
    }
    if (inside.size() >= 2 && coveredBy(inside, int(info.placement), begin, end))
      spans.insert(b->id());
  }
  std::stable_sort(rest.begin(), rest.end(), [&](auto *a, auto *b) {
    bool spanA = spans.count(a->id()), spanB = spans.count(b->id());
    if (spanA != spanB)
      return spanB;
    return plan.buffer(a->id()).type.bytes > plan.buffer(b->id()).type.bytes;
  });
  for (auto *b : rest)
    order.push_back(b->id());
  std::vector<CheckpointTensor> out;
  std::map<std::string, uint32_t> names;
  std::vector<std::tuple<int, uint64_t, uint64_t>> taken; // placement, begin, end
  for (uint32_t id : order) {
    const BufferInfo &info = plan.buffer(id);
    uint64_t begin = info.offset, end = info.offset + uint64_t(info.type.bytes);
    // A view of bytes already taken, or a span over several of them (a bucket of
    // gradients that one collective reduces, --ds-bucket-collectives).
    bool alias = !states.count(id) && coveredBy(taken, int(info.placement), begin, end);
    if (alias || info.type.bytes == 0)
      continue;
    taken.emplace_back(int(info.placement), begin, end);
    CheckpointTensor t;
    t.name = info.name;
    if (t.name.empty())
      fail("checkpoint: module-state buffer ", id, " has no name");
    if (!names.emplace(t.name, id).second)
      fail("checkpoint: two module-state buffers are named '", t.name, "'");
    t.buffer = id;
    t.dtype = info.type.dtype;
    t.shape = info.type.shape;
    auto st = states.find(id);
    if (st != states.end()) {
      const auto &s = *st->second;
      t.kind = s.kind();
      t.parameter = s.parameter();
      t.flat = s.shard().kind() == ds::plan::ShardSpec::FLAT_1D;
      t.fullNumel = s.full_numel();
      auto ps = paramShape.find(s.parameter());
      if (ps != paramShape.end() && uint64_t(checkedNumel(ps->second)) == t.fullNumel)
        t.fullShape = ps->second;
      else if (!t.flat)
        t.fullShape = t.shape;
      else
        t.fullShape = {int64_t(t.fullNumel)};
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string resolveCheckpointDir(const std::string &path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  struct stat st;
  if (stat((p + "/manifest.json").c_str(), &st) == 0)
    return p;
  if (!isDirectory(p))
    fail("--resume: ", p, " is not a directory");
  std::string latest = p + "/latest";
  if (stat(latest.c_str(), &st) != 0)
    fail("--resume: ", p,
         " holds neither manifest.json nor a 'latest' file: not a checkpoint");
  std::string tag = trimLine(readSmallFile(latest, 4096));
  if (tag.empty() || tag.find('/') != std::string::npos || tag == "." || tag == "..")
    fail(latest, ": '", tag, "' is not a checkpoint tag");
  std::string dir = p + "/" + tag;
  if (stat((dir + "/manifest.json").c_str(), &st) != 0)
    fail(latest, " names ", tag, ", but ", dir, "/manifest.json is missing");
  return dir;
}

CheckpointManifest readCheckpointManifest(const std::string &tagDir) {
  std::string path = tagDir + "/manifest.json";
  JsonValue root;
  try {
    root = parseJson(readSmallFile(path, size_t(256) << 20));
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  CheckpointManifest m;
  m.dir = tagDir;
  try {
    if (root.kind != JsonValue::Object)
      fail("not a JSON object");
    auto need = [&](const JsonValue &obj, const char *key) -> const JsonValue & {
      const JsonValue *v = obj.find(key);
      if (!v)
        fail("missing key '", key, "'");
      return *v;
    };
    if (need(root, "format").asString("format") != "ds-checkpoint")
      fail("format is not 'ds-checkpoint'");
    // Versions 1 (ContentHash of each whole file) and 2 (PieceHash with ContentHash) are
    // still read.
    m.version = int(need(root, "version").asInt("version"));
    if (m.version < 1 || m.version > kCheckpointVersion)
      fail("version ", need(root, "version").text, ": this build reads versions 1 to ",
           kCheckpointVersion, " (a checkpoint from a newer ds-run?)");
    m.tag = need(root, "tag").asString("tag");
    m.worldSize = int(need(root, "world_size").asInt("world_size", 1, 1 << 20));
    m.zeroStage = int(need(root, "zero_stage").asInt("zero_stage", 0, 3));
    m.offload = need(root, "offload").asString("offload");
    m.microBatch = need(root, "micro_batch").asInt("micro_batch", 0);
    m.accumulationSteps =
        need(root, "gradient_accumulation_steps").asInt("gradient_accumulation_steps", 1);
    m.globalBatch = need(root, "global_batch").asInt("global_batch", 0);
    m.position.globalStep = need(root, "global_step").asInt("global_step", 0);
    m.position.nextSample = need(root, "next_sample").asInt("next_sample", 0);
    m.position.programRuns =
        uint64_t(need(root, "program_runs").asInt("program_runs", 0));
    m.modelFile = need(root, "model_file").asString("model_file");
    m.modelHash = need(root, "model_hash").asString("model_hash");
    m.planFile = need(root, "plan_file").asString("plan_file");
    m.planHash = need(root, "plan_hash").asString("plan_hash");
    const JsonValue &files = need(root, "files");
    if (files.kind != JsonValue::Array || files.items.size() != size_t(m.worldSize))
      fail("'files' must list one file per rank (", m.worldSize, ")");
    for (size_t r = 0; r < files.items.size(); ++r) {
      const JsonValue &f = files.items[r];
      CheckpointFile cf;
      cf.name = need(f, "name").asString("files[].name");
      if (cf.name != rankFileName(int(r)))
        fail("files[", r, "] is '", cf.name, "', expected ", rankFileName(int(r)));
      cf.bytes = uint64_t(need(f, "bytes").asInt("files[].bytes", 0));
      cf.hash = need(f, "hash").asString("files[].hash");
      m.files.push_back(cf);
    }
    const JsonValue &tensors = need(root, "tensors");
    if (tensors.kind != JsonValue::Array)
      fail("'tensors' is not an array");
    std::set<std::string> names;
    for (const auto &tv : tensors.items) {
      CheckpointTensor t;
      t.name = need(tv, "name").asString("tensors[].name");
      std::string what = "tensor '" + t.name + "'";
      if (t.name.empty() || !names.insert(t.name).second)
        fail(what, ": empty or repeated name");
      if (!parseSafetensorsDType(need(tv, "dtype").asString(what + " dtype"), t.dtype))
        fail(what, ": unknown dtype '", need(tv, "dtype").text, "'");
      auto dimsOf = [&](const char *key) {
        const JsonValue &a = need(tv, key);
        if (a.kind != JsonValue::Array || a.items.size() > 16)
          fail(what, ": ", key, " is not an array of at most 16 dims");
        std::vector<int64_t> d;
        for (const auto &x : a.items)
          d.push_back(x.asInt(what + " " + key, 0, int64_t(1) << 50));
        checkedNumel(d);
        return d;
      };
      t.shape = dimsOf("shape");
      t.kind = need(tv, "kind").asString(what + " kind");
      t.parameter = need(tv, "parameter").asString(what + " parameter");
      std::string layout = need(tv, "layout").asString(what + " layout");
      if (layout != "full" && layout != "flat" && layout != "rank")
        fail(what, ": layout '", layout, "' is not full, flat or rank");
      t.flat = layout == "flat";
      if (layout != "rank") {
        t.fullShape = dimsOf("full_shape");
        t.fullNumel = uint64_t(checkedNumel(t.fullShape));
        uint64_t n = uint64_t(checkedNumel(t.shape));
        uint64_t want =
            t.flat ? (t.fullNumel + uint64_t(m.worldSize) - 1) / uint64_t(m.worldSize)
                   : t.fullNumel;
        if (n != want || t.fullNumel == 0)
          fail(what, ": shape ", shapeString(t.shape), " does not hold the ", layout,
               " layout of full shape ", shapeString(t.fullShape));
      }
      m.tensors.push_back(std::move(t));
    }
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  return m;
}

// ---- saving

CheckpointSaver::CheckpointSaver(const LoadedPlan &plan, std::string dir, int keep,
                                 int rank, int world)
    : plan_(plan), dir_(std::move(dir)), keep_(keep), rank_(rank), world_(world) {
  while (dir_.size() > 1 && dir_.back() == '/')
    dir_.pop_back();
  std::vector<std::pair<std::string, std::vector<int64_t>>> dims;
  if (rank == 0) {
    // Parameter shapes from the model (FLAT_1D shards do not know theirs).
    bool anyFlat = false;
    for (const auto &p : plan.plan.parameters())
      anyFlat |= p.shard().kind() == ds::plan::ShardSpec::FLAT_1D;
    if (anyFlat)
      dims = onnxInitializerShapes(plan.modelPath);
  }
  tensors_ = checkpointTensors(plan, dims);
  if (rank == 0) {
    try {
      makeDirectories(dir_);
    } catch (const Error &e) {
      fail("--save-checkpoint: ", e.what());
    }
    if (!isDirectory(dir_))
      fail("--save-checkpoint: ", dir_, " is not a directory");
    std::string probe = dir_ + "/.ds-write-probe-XXXXXX";
    int fd = mkstemp(probe.data());
    if (fd < 0)
      fail("--save-checkpoint: cannot create files in ", dir_, ": ",
           std::strerror(errno));
    close(fd);
    unlink(probe.c_str());
    modelHash_ = trainedModelHash(plan);
    planHash_ = plan.path == "<memory>" ? "" : planFileHash(plan.path);
  }
}

std::map<std::string, std::string> CheckpointSaver::shardMetadata() const {
  return {{"format", "ds-checkpoint"},
          {"rank", std::to_string(rank_)},
          {"world_size", std::to_string(world_)}};
}

uint64_t CheckpointSaver::rankBytes() const {
  std::vector<SafetensorsTensor> st;
  for (const auto &t : tensors_)
    st.push_back({t.name, t.dtype, t.shape, 0, 0});
  std::string header = encodeSafetensorsHeader(st, shardMetadata());
  return header.size() + (st.empty() ? 0 : st.back().end);
}

std::string
CheckpointSaver::manifestJson(const std::string &tag, const CheckpointPosition &pos,
                              const std::vector<CheckpointFile> &files) const {
  const auto &p = plan_.plan;
  int64_t accum = plan_.accumulationSteps;
  std::ostringstream j;
  j << "{\n  \"format\": \"ds-checkpoint\",\n  \"version\": " << kCheckpointVersion
    << ",\n  \"tag\": " << jsonQuote(tag) << ",\n  \"global_step\": " << pos.globalStep
    << ",\n  \"next_sample\": " << pos.nextSample
    << ",\n  \"program_runs\": " << pos.programRuns << ",\n  \"world_size\": " << world_
    << ",\n  \"zero_stage\": " << p.zero_stage() << ",\n  \"offload\": \""
    << (p.nvme_bytes() > 0 ? "nvme" : p.host_bytes() > 0 ? "cpu" : "none") << "\""
    << ",\n  \"micro_batch\": " << plan_.microBatch
    << ",\n  \"gradient_accumulation_steps\": " << accum
    << ",\n  \"global_batch\": " << int64_t(plan_.microBatch) * accum * world_
    << ",\n  \"model_file\": " << jsonQuote(plan_.modelPath)
    << ",\n  \"model_hash\": " << jsonQuote(modelHash_)
    << ",\n  \"plan_file\": " << jsonQuote(plan_.path)
    << ",\n  \"plan_hash\": " << jsonQuote(planHash_) << ",\n  \"files\": [";
  for (size_t r = 0; r < files.size(); ++r)
    j << (r ? "," : "") << "\n    {\"name\": " << jsonQuote(files[r].name)
      << ", \"bytes\": " << files[r].bytes << ", \"hash\": " << jsonQuote(files[r].hash)
      << "}";
  j << "\n  ],\n  \"tensors\": [";
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto &t = tensors_[i];
    j << (i ? "," : "") << "\n    {\"name\": " << jsonQuote(t.name) << ", \"dtype\": \""
      << safetensorsDType(t.dtype) << "\", \"shape\": " << jsonDims(t.shape)
      << ", \"kind\": " << jsonQuote(t.kind)
      << ", \"parameter\": " << jsonQuote(t.parameter) << ", \"layout\": \""
      << (t.fullNumel == 0 ? "rank"
          : t.flat         ? "flat"
                           : "full")
      << "\"";
    if (t.fullNumel)
      j << ", \"full_shape\": " << jsonDims(t.fullShape);
    j << "}";
  }
  j << "\n  ]\n}\n";
  return j.str();
}

void CheckpointSaver::commit(const std::string &tmp, const std::string &tag) {
  std::string final = dir_ + "/" + tag;
  fsyncDirectory(tmp);
  std::string old;
  if (isDirectory(final)) { // the same step saved again: replace it
    old = dir_ + "/.old-" + tag;
    removeFlatDirectory(old);
    if (std::rename(final.c_str(), old.c_str()) != 0)
      fail("cannot move ", final, " aside: ", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), final.c_str()) != 0) {
    int err = errno;
    if (!old.empty())
      std::rename(old.c_str(), final.c_str());
    fail("cannot rename ", tmp, " to ", final, ": ", std::strerror(err));
  }
  fsyncDirectory(dir_);
  if (!old.empty())
    removeFlatDirectory(old);
  if (const char *hook = std::getenv("DS_CHECKPOINT_KILL_AT");
      hook && std::string(hook) == "before-latest")
    raise(SIGKILL);
  writeFileAtomically(dir_ + "/latest", tag + "\n");
  if (keep_ > 0) {
    auto tags = listTags(dir_);
    while (int(tags.size()) > keep_) {
      if (tags.begin()->second == tag)
        break;
      removeFlatDirectory(dir_ + "/" + tags.begin()->second);
      tags.erase(tags.begin());
    }
    fsyncDirectory(dir_);
  }
}

bool CheckpointSaver::save(const CheckpointPosition &pos, ExecutorBase &exec,
                           Communicator &comm, std::string &error) {
  error.clear();
  std::string tag = checkpointTag(pos.globalStep);
  std::string tmp = dir_ + "/.tmp-" + tag;
  std::string latestNote;
  if (rank_ == 0) {
    std::string latest = dir_ + "/latest";
    struct stat st;
    latestNote = stat(latest.c_str(), &st) == 0 ? "; the previous checkpoint is unchanged"
                                                : "; no checkpoint was written";
    try {
      removeFlatDirectory(tmp); // a save killed earlier
      uint64_t one = rankBytes();
      checkFreeSpace(dir_, std::vector<uint64_t>(size_t(world_) + 1, one),
                     dir_ + "/" + tag,
                     /*newDirectory=*/true);
      if (mkdir(tmp.c_str(), 0755) != 0)
        fail("cannot create ", tmp, ": ", std::strerror(errno));
    } catch (const std::exception &e) {
      error = std::string("--save-checkpoint: ") + e.what() + latestNote;
    }
  }
  // Every rank learns whether any failed; rank 0 then reports the first failing rank's
  // message (one line for the job, not one per rank).
  auto agree = [&]() {
    int32_t failed = error.empty() ? 0 : 1;
    comm.allReduce(&failed, &failed, 1, ds::plan::I32, ReduceOp::Max);
    if (!failed)
      return true;
    constexpr size_t kMessage = 512;
    std::vector<char> mine(kMessage, '\0'), all(kMessage * size_t(world_));
    std::memcpy(mine.data(), error.data(), std::min(error.size(), kMessage - 1));
    comm.allGather(mine.data(), all.data(), int64_t(kMessage), ds::plan::I1);
    error.clear();
    if (rank_ == 0) {
      int others = -1;
      for (int r = 0; r < world_; ++r) {
        const char *m = all.data() + size_t(r) * kMessage;
        if (!*m)
          continue;
        if (error.empty())
          error = (r == 0 ? "" : "rank " + std::to_string(r) + ": ") + std::string(m);
        ++others;
      }
      if (others > 0)
        error += " (and " + std::to_string(others) + " other rank" +
                 (others == 1 ? "" : "s") + ")";
    }
    return false;
  };
  if (!agree())
    return false;
  const char *hook = std::getenv("DS_CHECKPOINT_KILL_AT");
  std::string killAt = hook ? hook : "";
  // Every rank writes its own file into the temporary directory.
  uint64_t mine[2] = {0, 0};
  try {
    std::vector<SafetensorsTensor> st;
    for (const auto &t : tensors_)
      st.push_back({t.name, t.dtype, t.shape, 0, 0});
    std::string path = tmp + "/" + rankFileName(rank_);
    SafetensorsWriter w(path, std::move(st), shardMetadata());
    // A writer thread hashes and writes tensor i while this thread fetches tensor i + 1
    // (the executor is only used from this thread): its bytes in place where they are in
    // host memory, else downloaded into one of two staging buffers.
    std::vector<char> store[2];
    const char *src[2] = {nullptr, nullptr};
    std::mutex mu;
    std::condition_variable cv;
    int64_t ready = -1, written = -1; // the last tensor downloaded / written
    bool stop = false;
    std::string writeError;
    std::thread writer([&] {
      for (int64_t i = 0; i < int64_t(tensors_.size()); ++i) {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return ready >= i || stop; });
          if (stop && ready < i)
            return;
        }
        try {
          const CheckpointTensor &t = tensors_[size_t(i)];
          w.append(src[i % 2],
                   size_t(checkedNumel(t.shape)) * dtypeSize(t.dtype));
        } catch (const std::exception &e) {
          std::lock_guard<std::mutex> lock(mu);
          writeError = e.what();
          stop = true;
          cv.notify_all();
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        written = i;
        cv.notify_all();
      }
    });
    size_t half = tensors_.size() / 2;
    try {
      for (size_t i = 0; i < tensors_.size(); ++i) {
        if (killAt == "mid-shard" && rank_ == 0 && i == half)
          raise(SIGKILL);
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return written >= int64_t(i) - 2 || stop; });
          if (stop)
            break;
        }
        const char *p = exec.hostBytes(tensors_[i].buffer);
        if (!p)
          p = static_cast<const char *>(
              hostTensor(exec, tensors_[i].buffer, store[i % 2], /*fetch=*/true).data);
        std::lock_guard<std::mutex> lock(mu);
        src[i % 2] = p;
        ready = int64_t(i);
        cv.notify_all();
      }
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu);
        stop = true;
        cv.notify_all();
      }
      writer.join();
      throw;
    }
    writer.join();
    if (!writeError.empty())
      throw Error(writeError);
    w.finish();
    mine[0] = w.bytesWritten();
    mine[1] = w.hash();
  } catch (const std::exception &e) {
    error = std::string("--save-checkpoint: ") + e.what() +
            (rank_ == 0 ? latestNote : "; the previous checkpoint is unchanged");
  }
  std::vector<uint64_t> all(size_t(2 * world_));
  comm.allGather(mine, all.data(), 2, ds::plan::I64);
  bool ok = agree();
  if (rank_ == 0) {
    try {
      if (!ok)
        fail("failed on another rank");
      if (killAt == "before-manifest")
        raise(SIGKILL);
      std::vector<CheckpointFile> files;
      for (int r = 0; r < world_; ++r) {
        char hex[20];
        std::snprintf(hex, sizeof(hex), "%016llx",
                      (unsigned long long)all[size_t(2 * r + 1)]);
        files.push_back({rankFileName(r), all[size_t(2 * r)], hex});
      }
      std::string json = manifestJson(tag, pos, files);
      writeNewFile(tmp + "/manifest.json",
                   json); // the directory's fsync in commit covers it
      if (killAt == "before-rename")
        raise(SIGKILL);
      commit(tmp, tag);
    } catch (const std::exception &e) {
      if (error.empty() && ok)
        error = std::string("--save-checkpoint: ") + e.what() + latestNote;
      removeFlatDirectory(tmp);
    }
  }
  return agree();
}

} // namespace ds::rt
