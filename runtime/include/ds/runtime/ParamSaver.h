// ds-run --save-params: every parameter written as DIR/<file>.npy in its full ONNX shape.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/ExecutorBase.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// The file name (without ".npy") for an initializer: '/' becomes "__", every other byte is
/// kept. Throws Error for names that cannot be file names (empty, NUL, too long).
std::string paramFileName(const std::string &initializer);

/// One parameter --save-params writes (plan order; an initializer bound twice is written once).
struct SavedParam {
  std::string initializer;
  std::string file; // DIR/<name>.npy (rank 0)
  uint32_t buffer;
  bool flat;                 // a FLAT_1D shard: all-gathered, padding dropped
  DType dtype = ds::plan::F32; // the buffer's dtype (rank 0)
  std::vector<int64_t> dims; // the ONNX shape (rank 0)
};

/// Setup: the parameters to write; rank 0 also maps names to files (collisions are errors),
/// reads the full shapes of FLAT_1D shards from plan.modelPath, and fails fast when DIR cannot
/// be replaced (DirectoryOutput::checkTarget) or its filesystem lacks the space for the save.
std::vector<SavedParam> prepareSaveParams(const LoadedPlan &plan, const std::string &dir, int rank);
/// Writes every parameter; collective over `comm`. Rank 0 writes DIR as a whole (a temporary
/// sibling directory swapped in: DirectoryOutput), so DIR is either the complete new save or
/// unchanged. Returns false on every rank when the save failed; rank 0's one-line message
/// (naming DIR and saying that the previous DIR is unchanged) is then in `error`.
[[nodiscard]] bool saveParams(const std::vector<SavedParam> &params, const std::string &dir,
                              ExecutorBase &exec, Communicator &comm, std::string &error);
/// The same into the directory of params' files; throws Error on failure.
void saveParams(const std::vector<SavedParam> &params, ExecutorBase &exec, Communicator &comm);

} // namespace ds::rt
