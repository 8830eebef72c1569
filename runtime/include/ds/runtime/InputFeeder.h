// Feeding a plan's graph inputs before each run: rank slices of .npy files, synthetic data,
// or (--whole-inputs) whole tensors.
#pragma once

#include "ds/runtime/ExecutorBase.h"
#include "ds/runtime/Npy.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

struct InputFeederOptions {
  std::string dataDir;    // holds <input>.npy per graph input (unless synthetic)
  bool synthetic = false; // uniform values in [synthetic_low, synthetic_high), from `seed`
  uint64_t seed = 0;
  bool checkInputs = false; // --check-inputs: rank 0 rejects NaN/Inf in the data files first
};

/// --check-inputs: throws Error naming `f`'s path, the flat index of its first NaN or +-Inf
/// (and its sample, the leading index, when `samples`) and the value; reads the file in
/// bounded chunks. Integer and bool files always pass.
void checkFiniteNpy(const NpyFile &f, bool samples = true);

/// Fills the plan's graph inputs of `exec` from <dataDir>/<input>.npy ([samples, <the input's
/// shape without batch_dim>]) or synthetically. Opening checks every file's dtype, shape and
/// sample count against the plan (Error naming the file), and with checkInputs (on rank 0)
/// that every value is finite.
class InputFeeder {
public:
  InputFeeder(const LoadedPlan &plan, ExecutorBase &exec, const InputFeederOptions &opt, int rank,
              int world);

  /// Samples in the data files (0 when synthetic or the plan has no inputs).
  int64_t samples() const { return files_.empty() ? 0 : files_[0].shape[0]; }
  /// Throws Error unless the files hold at least `n` samples (one global batch).
  void requireSamples(int64_t n) const;
  /// Fills every input with samples [first, first + micro-batch) (wrapping around the files);
  /// synthetic data is drawn from (seed, stream, rank).
  void feed(int64_t first, uint64_t stream);

private:
  void synthesize(const ds::plan::GraphInput &in, const Tensor &t, uint64_t stream);

  const LoadedPlan &plan_;
  ExecutorBase &exec_;
  InputFeederOptions opt_;
  int rank_, world_;
  int64_t mb_;
  std::vector<NpyFile> files_;
  std::vector<char> staging_, host_;
};

/// --whole-inputs: loads `path` with its graph inputs taken out of the plan before validation
/// (they need not share a batch dimension, and may be 0-d); returns them in `inputs`.
LoadedPlan loadPlanWithoutInputs(const std::string &path, int world,
                                 std::vector<ds::plan::GraphInput> &inputs);
/// Checks <dir>/<name>.npy of every input (exactly the input buffer's dtype and shape) and,
/// when `doRead`, uploads it whole; with `checkFinite` (--check-inputs) also rejects NaN/Inf.
void feedWholeInputs(const std::vector<ds::plan::GraphInput> &inputs, ExecutorBase &exec,
                     const std::string &dir, bool doRead, bool checkFinite = false);

} // namespace ds::rt
