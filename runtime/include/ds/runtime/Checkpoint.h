// ds-run checkpoints: saving every rank's module state as safetensors plus a JSON
// manifest, and loading it back into a plan of the same or another world size, stage or
// offload.
//
// Layout of a checkpoint directory DIR (docs in runtime/README.md, "Checkpoints"):
//   DIR/global_step<N>/manifest.json            what the save holds (written last in the
//   tag) DIR/global_step<N>/rank<RRRRR>.safetensors  rank R's module-state buffers, by
//   buffer name DIR/latest                                  the newest complete tag
//   (written after it)
// A save goes to DIR/.tmp-global_step<N>, whose files and the directory itself are
// fsynced before it is renamed into place; `latest` is replaced atomically afterwards. A
// kill at any moment leaves `latest` naming a complete checkpoint.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/ExecutorBase.h"
#include "ds/runtime/Safetensors.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ds::rt {

// 3: files' hashes are PieceHash with StripeHash (Safetensors.h, StripeHash.h); 2:
// PieceHash with ContentHash; 1: ContentHash of the whole file (1 and 2 are read, not
// written).
constexpr int kCheckpointVersion = 3;

/// Where a run stands after some optimizer steps.
struct CheckpointPosition {
  int64_t globalStep = 0;   // optimizer steps done
  int64_t nextSample = 0;   // index of the next sample of the data files
  uint64_t programRuns = 0; // program runs so far on each rank (the dropout RNG stream)
};

/// One module-state buffer as a checkpoint stores it.
struct CheckpointTensor {
  std::string name;    // the buffer's name in the plan (unique among saved buffers)
  uint32_t buffer = 0; // the buffer id (of the plan being saved or loaded)
  DType dtype = ds::plan::F32;
  std::vector<int64_t> shape; // each rank's buffer shape
  std::string kind;           // StateBuffer.kind; empty when the plan has no entry
  std::string parameter;      // the initializer it belongs to ("" for scalars)
  bool flat = false;          // FLAT_1D (rank r holds [r*p, r*p + p) of the flat tensor)
  uint64_t fullNumel = 0;     // elements of the whole tensor (0: unknown, rank-local)
  std::vector<int64_t> fullShape; // the whole tensor's shape (ONNX dims for parameters)
};

struct CheckpointFile {
  std::string name; // "rank00000.safetensors"
  uint64_t bytes = 0;
  std::string hash; // PieceHash::hex of the file (version 1: ContentHash::hex)
};

struct CheckpointManifest {
  std::string dir; // the tag directory it was read from
  int version = kCheckpointVersion;
  std::string tag;
  int worldSize = 1;
  int zeroStage = 0;
  std::string offload; // where the plan keeps state besides the device: "none", "cpu", "nvme"
  int64_t microBatch = 0, accumulationSteps = 1, globalBatch = 0;
  CheckpointPosition position;
  std::string modelFile, modelHash, planFile, planHash;
  std::vector<CheckpointTensor> tensors;
  std::vector<CheckpointFile> files; // one per rank, rank order
  /// The tensor named `name`, or nullptr.
  const CheckpointTensor *find(const std::string &name) const;
};

/// The buffers a checkpoint of `plan` holds (every PERSISTENT and HOST buffer) with their
/// layout from Plan.states; `onnxDims` maps initializers to their ONNX shapes (may be
/// empty: full shapes then come from the buffers). Throws Error for NVMe-placed state and
/// for buffer names that are empty or repeated.
std::vector<CheckpointTensor> checkpointTensors(
    const LoadedPlan &plan,
    const std::vector<std::pair<std::string, std::vector<int64_t>>> &onnxDims);

/// "global_step<N>".
std::string checkpointTag(int64_t globalStep);
/// The algorithm of a manifest version's PieceHash (versions 2 and up).
PieceHashAlgorithm checkpointPieceHash(int version);
/// The tag directory `path` names: `path` itself when it holds manifest.json, else
/// path/<contents of path/latest>. Throws Error naming what is missing.
std::string resolveCheckpointDir(const std::string &path);
/// Reads and validates DIR/manifest.json (DIR a tag directory). Throws Error naming the
/// file.
CheckpointManifest readCheckpointManifest(const std::string &tagDir);
/// 64-bit content hash (hex) of a file; throws Error naming it.
std::string hashFile(const std::string &path);
/// A plan file's stored payload checksum (bytes 8..15), as 16 hex digits: the plan hash a
/// checkpoint records; throws Error naming the file.
std::string planFileHash(const std::string &path);
/// Whether the plan's model_hash is the hash of the model this run trains: recorded, and
/// ds-run --model did not replace the plan's model_file.
bool modelHashRecorded(const LoadedPlan &plan);
/// The model hash a checkpoint records and --resume must match (empty: the plan has no
/// model): the plan's model_hash when it has one and the run trains the plan's own
/// model_file (nothing read), else the hash of plan.modelPath (an older plan, ds-run --model).
std::string trainedModelHash(const LoadedPlan &plan);

/// ds-run --save-checkpoint DIR [--save-interval N] [--keep K].
class CheckpointSaver {
public:
  /// Setup, before training: the tensors to save; rank 0 creates DIR (and parents) and
  /// checks that it takes new entries, and hashes the model file and reads the plan's
  /// hash.
  CheckpointSaver(const LoadedPlan &plan, std::string dir, int keep, int rank, int world);
  /// Saves DIR/global_step<N> (collective). Returns false on every rank when the save
  /// failed; the failing rank's one-line message is then in `error` (naming the path and
  /// saying that the previous checkpoint is unchanged).
  [[nodiscard]] bool save(const CheckpointPosition &pos, ExecutorBase &exec,
                          Communicator &comm, std::string &error);
  const std::string &dir() const { return dir_; }
  /// Bytes of this rank's shard file.
  uint64_t rankBytes() const;

private:
  const LoadedPlan &plan_;
  std::string dir_;
  int keep_, rank_, world_;
  std::vector<CheckpointTensor> tensors_;
  std::string modelHash_, planHash_;
  std::string manifestJson(const std::string &tag, const CheckpointPosition &pos,
                           const std::vector<CheckpointFile> &files) const;
  void commit(const std::string &tmp, const std::string &tag);
  /// The __metadata__ of this rank's shard file.
  std::map<std::string, std::string> shardMetadata() const;
};

/// ds-run --resume: loads the checkpoint at `path` (a DIR or a tag directory) into
/// `exec`. Tensors are matched by buffer name and re-sliced from their full-tensor layout
/// when the world size or layout differs. Checks the model hash, dtypes, shapes and every
/// file this rank reads (size, content hash); throws Error naming the file. No
/// collectives.
CheckpointManifest loadCheckpoint(const LoadedPlan &plan, const std::string &path,
                                  ExecutorBase &exec, int rank, int world);

/// The elements [first, first + count) of a checkpointed tensor's flat full tensor (rank
/// files opened through `files`, indexed by rank), into dst. Used by resume and ds-ckpt.
class CheckpointReader {
public:
  explicit CheckpointReader(const CheckpointManifest &m, bool verifyHashes);
  ~CheckpointReader();
  /// Reads rank `rank`'s whole file in one pass, checking its content hash on the way
  /// (versions 2 and 3: two threads read and hash its pieces, in file order; version 1:
  /// the file's hash is checked first, in a pass of its own). For every tensor in file
  /// order, `place(name, bytes)` (called on this thread) says where its bytes go: host
  /// memory to read them into directly, or nullptr for a staging buffer, after which
  /// `each(name, bytes)` gets them. Throws Error naming the file on a mismatch (after the
  /// reads: the caller discards what it got).
  void readWholeFile(int rank, const std::function<char *(const std::string &, uint64_t)> &place,
                     const std::function<void(const std::string &, const char *)> &each);
  /// Opens and checks every rank's file (size, header, content hash, tensors); throws
  /// Error naming the first bad one.
  void verifyAll();
  /// Reads elements [first, first + count) of the full flat tensor `t` (t.fullNumel
  /// known) or, for rank-local tensors, of rank `rank`'s buffer.
  void read(const CheckpointTensor &t, uint64_t first, uint64_t count, void *dst,
            int rank);

private:
  const CheckpointManifest &m_;
  bool verify_;
  struct Open;
  std::vector<Open *> open_;
  Open &file(int rank);
};

} // namespace ds::rt
