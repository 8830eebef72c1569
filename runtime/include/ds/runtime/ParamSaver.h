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
  std::vector<int64_t> dims; // the ONNX shape (rank 0)
};

/// Setup: the parameters to write; rank 0 also creates DIR, maps names to files (collisions
/// are errors) and reads the full shapes of FLAT_1D shards from plan.modelPath.
std::vector<SavedParam> prepareSaveParams(const LoadedPlan &plan, const std::string &dir, int rank);
/// Writes every parameter (rank 0 writes, each file atomically); collective over `comm`.
void saveParams(const std::vector<SavedParam> &params, ExecutorBase &exec, Communicator &comm);

} // namespace ds::rt
