// ds-run --resume: reading a checkpoint's shards (verified against the manifest's hashes)
// and re-slicing every tensor into this rank's buffers for any world size, stage or offload
// setting. Saving and the manifest are in Checkpoint.cpp.
#include "ds/runtime/Checkpoint.h"

#include "ds/runtime/Safetensors.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace ds::rt {

struct CheckpointReader::Open {
  std::unique_ptr<SafetensorsFile> file;
};

CheckpointReader::CheckpointReader(const CheckpointManifest &m, bool verifyHashes)
    : m_(m), verify_(verifyHashes), open_(m.files.size(), nullptr) {}

CheckpointReader::~CheckpointReader() {
  for (Open *o : open_)
    delete o;
}

CheckpointReader::Open &CheckpointReader::file(int rank) {
  if (rank < 0 || size_t(rank) >= open_.size())
    fail("internal: rank ", rank, " out of range");
  if (open_[size_t(rank)])
    return *open_[size_t(rank)];
  const CheckpointFile &cf = m_.files[size_t(rank)];
  std::string path = m_.dir + "/" + cf.name;
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    fail(path, ": missing (the checkpoint was saved by ", m_.worldSize, " ranks)");
  if (uint64_t(st.st_size) != cf.bytes)
    fail(path, ": truncated or corrupt: ", uint64_t(st.st_size),
         " bytes, the manifest says ", cf.bytes);
  auto o = std::make_unique<Open>();
  o->file = std::make_unique<SafetensorsFile>(path);
  if (verify_) {
    std::string h = m_.version >= 2 ? o->file->hashFile(checkpointPieceHash(m_.version))
                                    : o->file->hashWholeFile();
    if (h != cf.hash)
      fail(path, ": corrupt: content hash ", h, ", the manifest says ", cf.hash);
  }
  // The file must hold every manifest tensor with its per-rank dtype and shape.
  for (const auto &t : m_.tensors) {
    const SafetensorsTensor *s = o->file->find(t.name);
    if (!s)
      fail(path, ": tensor '", t.name, "' of the manifest is missing");
    if (s->dtype != t.dtype || s->shape != t.shape)
      fail(path, ": tensor '", t.name, "' is ", safetensorsDType(s->dtype),
           shapeString(s->shape), ", the manifest says ", safetensorsDType(t.dtype),
           shapeString(t.shape));
  }
  open_[size_t(rank)] = o.release();
  return *open_[size_t(rank)];
}

void CheckpointReader::readWholeFile(
    int rank, const std::function<char *(const std::string &, uint64_t)> &place,
    const std::function<void(const std::string &, const char *)> &each) {
  // Version 2 and 3 files are checked here, piece by piece as they are read; version 1
  // files (ContentHash of the whole file, one sequential pass) by file() before the
  // reads.
  bool pieces = m_.version >= 2;
  PieceHashAlgorithm algorithm = checkpointPieceHash(m_.version);
  bool verify = verify_;
  verify_ = verify && !pieces;
  Open &o = file(rank);
  verify_ = verify;
  verify = verify && pieces;
  const SafetensorsFile &f = *o.file;
  // Two threads share the pieces (1 MiB), claiming them in file order. A file in the page
  // cache is mapped and each piece copied straight into its destination and hashed in the
  // same pass (StripeHash::updateCopy: each byte loaded once, for the copy and the hash,
  // and stored with non-temporal stores). Otherwise each piece is read into its
  // destination with pread (the kernel reading ahead) and hashed right after, while it is
  // in the CPU's cache. Measured (results/checkpoint.md): the mapped copy takes ~30% less
  // CPU than pread of a cached file, which copies into memory that is not in the CPU's
  // cache (each line read before it is written) and is read back by the hash; from the
  // disk, pread's read-ahead is about twice as fast as the mapping's faults.
  const char *mapped = o.file->mapIfCached();
  if (!mapped)
    o.file->adviseSequential(); // the whole file is read in order: let the kernel read
                                // ahead
  std::vector<SafetensorsPiece> all = safetensorsPieces(f.tensors(), f.dataStart());
  std::vector<uint64_t> values(all.size());
  std::vector<char> stage(size_t(f.dataStart()));
  f.readBytes(0, f.dataStart(), stage.data());
  values[0] = PieceHash::piece(algorithm, stage.data(), stage.size());
  std::vector<std::pair<size_t, char *>> jobs; // piece, destination
  unsigned threads = std::max(1u, std::min(2u, std::thread::hardware_concurrency()));
  auto run = [&] {
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::exception_ptr error;
    std::mutex mu;
    auto work = [&] {
      try {
        while (!stop) {
          size_t j = next++;
          if (j >= jobs.size())
            break;
          const SafetensorsPiece &p = all[jobs[j].first];
          if (mapped) {
            uint64_t v =
                f.copyMappedPiece(p.offset, p.size, jobs[j].second, algorithm, verify);
            values[jobs[j].first] = v;
          } else {
            f.readBytes(p.offset, p.size, jobs[j].second);
            if (verify)
              values[jobs[j].first] =
                  PieceHash::piece(algorithm, jobs[j].second, size_t(p.size));
          }
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error)
          error = std::current_exception();
        stop = true;
      }
    };
    if (threads > 1 && jobs.size() > 1) {
      std::thread helper(work);
      work();
      helper.join();
    } else {
      work();
    }
    jobs.clear();
    if (error)
      std::rethrow_exception(error);
  };
  size_t k = 1; // the next piece: they come in the tensors' file order
  for (size_t i : safetensorsFileOrder(f.tensors())) {
    const SafetensorsTensor &t = f.tensors()[i];
    uint64_t n = t.end - t.begin;
    char *dst = place(t.name, n);
    bool staged = dst == nullptr;
    if (staged) {
      // The staging buffer is reused: the pieces before it are read first.
      run();
      stage.resize(std::max<size_t>(size_t(n), 1));
      dst = stage.data();
    }
    for (; k < all.size() && all[k].tensor == i; ++k)
      jobs.emplace_back(k, dst + (all[k].offset - f.dataStart() - t.begin));
    if (staged) {
      run();
      each(t.name, dst);
    }
  }
  run();
  if (k != all.size())
    fail("internal: ", f.path(), ": pieces out of the tensors' order");
  if (!verify)
    return;
  PieceHash h(algorithm);
  for (uint64_t v : values)
    h.add(v);
  const CheckpointFile &cf = m_.files[size_t(rank)];
  if (h.hex() != cf.hash)
    fail(f.path(), ": corrupt: content hash ", h.hex(), ", the manifest says ", cf.hash);
}

void CheckpointReader::verifyAll() {
  for (size_t r = 0; r < open_.size(); ++r)
    file(int(r));
}

void CheckpointReader::read(const CheckpointTensor &t, uint64_t first, uint64_t count,
                            void *dst, int rank) {
  size_t es = dtypeSize(t.dtype);
  char *out = static_cast<char *>(dst);
  if (t.fullNumel == 0 || !t.flat) {
    // rank-local or FULL: one rank's buffer holds it (FULL: rank 0's, all are equal).
    Open &o = file(t.fullNumel == 0 ? rank : 0);
    const SafetensorsTensor *s = o.file->find(t.name);
    if (first + count > uint64_t(s->numel()))
      fail("internal: read past tensor '", t.name, "'");
    o.file->read(*s, first * es, count * es, out);
    return;
  }
  uint64_t p = (t.fullNumel + uint64_t(m_.worldSize) - 1) / uint64_t(m_.worldSize);
  while (count > 0) {
    int r = int(first / p);
    uint64_t off = first % p, n = std::min(count, p - off);
    Open &o = file(r);
    o.file->read(*o.file->find(t.name), off * es, n * es, out);
    out += n * es;
    first += n;
    count -= n;
  }
}

namespace {

/// Reads this rank's state from checkpoint `dir` (manifest `m`) into the executor: its own
/// file in one pass for the same plan, else every tensor re-sliced from the saved layout.
void loadShards(const LoadedPlan &plan, const std::string &dir,
                const CheckpointManifest &m, ExecutorBase &exec, int rank, int world) {
  std::string mpath = dir + "/manifest.json";
  bool samePlan = !m.planHash.empty() && plan.path != "<memory>" &&
                  planFileHash(plan.path) == m.planHash && m.worldSize == world;
  std::vector<std::pair<std::string, std::vector<int64_t>>> dims;
  std::vector<CheckpointTensor> mine = checkpointTensors(plan, dims);
  std::string missing, mismatched;
  bool rankLocal = false; // a mismatch comes from a tensor without a full-tensor layout
  std::set<std::string> used;
  for (const auto &t : mine) {
    const CheckpointTensor *s = m.find(t.name);
    if (!s) {
      missing += (missing.empty() ? "" : ", ") + t.name;
      continue;
    }
    used.insert(t.name);
    bool ok = s->dtype == t.dtype;
    if (ok && (s->fullNumel == 0 || t.fullNumel == 0))
      ok = m.worldSize == world && s->shape == t.shape; // rank-local: same layout only
    else if (ok)
      ok = s->fullNumel == t.fullNumel;
    if (!ok)
      mismatched += (mismatched.empty() ? "" : ", ") + t.name + " (" +
                    safetensorsDType(s->dtype) +
                    shapeString(s->fullNumel ? s->fullShape : s->shape) + " saved, " +
                    safetensorsDType(t.dtype) + shapeString(t.shape) + " here)";
    rankLocal |= !ok && (s->fullNumel == 0 || t.fullNumel == 0);
  }
  std::string extra;
  for (const auto &t : m.tensors)
    if (!used.count(t.name))
      extra += (extra.empty() ? "" : ", ") + t.name;
  if (!missing.empty() || !mismatched.empty() || !extra.empty())
    fail("--resume: ", mpath,
         " does not fit this plan:", missing.empty() ? "" : " missing " + missing + ";",
         extra.empty() ? "" : " not in this plan " + extra + ";",
         mismatched.empty() ? "" : " mismatched " + mismatched + ";",
         rankLocal ? " (a plan without Plan.states, from an older ds-opt, saves or reads "
                     "per-rank layouts only: resume with the same world size and stage)"
                   : " (another model, optimizer or precision?)");
  CheckpointReader reader(m, /*verifyHashes=*/true);
  if (samePlan) {
    // The same layout: this rank's own file, bit for bit, in one pass.
    std::map<std::string, const CheckpointTensor *> byName;
    for (const auto &t : mine)
      byName[t.name] = &t;
    reader.readWholeFile(
        rank,
        [&](const std::string &name, uint64_t bytes) -> char * {
          auto it = byName.find(name);
          if (it == byName.end())
            return nullptr;
          const CheckpointTensor &t = *it->second;
          if (bytes != uint64_t(checkedNumel(t.shape)) * dtypeSize(t.dtype))
            fail(dir, "/", m.files[size_t(rank)].name, ": tensor '", name, "' holds ",
                 bytes, " bytes, this rank's buffer ",
                 uint64_t(checkedNumel(t.shape)) * dtypeSize(t.dtype));
          return exec.hostBytes(t.buffer);
        },
        [&](const std::string &name, const char *bytes) {
          auto it = byName.find(name);
          if (it != byName.end())
            exec.upload(it->second->buffer, bytes);
        });
    return;
  }
  std::vector<char> store;
  for (const auto &t : mine) {
    const CheckpointTensor &s = *m.find(t.name);
    size_t es = dtypeSize(t.dtype);
    uint64_t n = uint64_t(checkedNumel(t.shape));
    // Straight into the executor's memory where it is in host memory, else staged.
    char *dst = exec.hostBytes(t.buffer);
    if (!dst) {
      store.resize(std::max<size_t>(size_t(n) * es, 1));
      dst = store.data();
    }
    uint64_t count = n;
    if (s.fullNumel == 0 || t.fullNumel == 0) {
      // The same layout: this rank's own buffer, bit for bit.
      CheckpointTensor local = s;
      local.fullNumel = 0;
      reader.read(local, 0, n, dst, rank);
    } else {
      uint64_t first = t.flat ? uint64_t(rank) * n : 0;
      count = first >= t.fullNumel ? 0 : std::min(n, t.fullNumel - first);
      reader.read(s, first, count, dst, rank);
    }
    std::memset(dst + count * es, 0, size_t(n - count) * es); // the padding past the end
    if (dst == store.data())
      exec.upload(t.buffer, dst);
  }
}

} // namespace

CheckpointManifest loadCheckpoint(const LoadedPlan &plan, const std::string &path,
                                  ExecutorBase &exec, int rank, int world) {
  std::string dir = resolveCheckpointDir(path);
  CheckpointManifest m = readCheckpointManifest(dir);
  std::string mpath = dir + "/manifest.json";
  // The model's hash: the plan's record (nothing to read), else the model file hashed on
  // another thread while the shards are read. Its verdict comes first, whatever else fails
  // (a checkpoint of another model is reported as such).
  std::future<std::string> modelHash;
  if (!plan.plan.model_file().empty() && !m.modelHash.empty()) {
    modelHash = std::async(modelHashRecorded(plan) ? std::launch::deferred : std::launch::async,
                           [&] { return trainedModelHash(plan); });
  }
  auto checkModel = [&] {
    if (!modelHash.valid())
      return;
    std::string h = modelHash.get();
    if (h != m.modelHash)
      fail("--resume: ", mpath, " was saved from model ", m.modelFile, " (hash ",
           m.modelHash, "), this plan trains ", plan.modelPath, " (hash ", h,
           "): another model");
  };
  try {
    loadShards(plan, dir, m, exec, rank, world);
  } catch (...) {
    checkModel();
    throw;
  }
  checkModel();
  return m;
}

} // namespace ds::rt
