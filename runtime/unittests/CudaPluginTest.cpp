// The CUDA plugin's C boundary, without a GPU: it validates the plans it is given on its own
// and refuses what it cannot run, with ds-run's one-line errors.
#include "ds/runtime/CudaBackend.h"
#include "ds/runtime/Communicator.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/Plan.h"

#include <gtest/gtest.h>

using namespace ds::rt;
using ds::plan::F32;

namespace {

/// A one-instruction world-1 plan (y = x + x) for the plugin-boundary tests.
ds::plan::Plan tinyPlan() {
  ds::plan::Plan p;
  p.set_version(1);
  p.set_world_size(1);
  p.set_alignment(64);
  p.set_arena_bytes(128);
  for (uint32_t id : {1u, 2u}) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(F32);
    b->add_shape(4);
    b->set_placement(ds::plan::ARENA);
    b->set_offset(id == 1 ? 0 : 64);
  }
  auto *prog = p.add_programs();
  prog->set_name("main");
  prog->set_role(ds::plan::Program::INFERENCE);
  auto *i = prog->add_instructions();
  i->set_kernel("add");
  i->add_inputs(1);
  i->add_inputs(1);
  i->add_outputs(2);
  return p;
}

std::string cudaExecutorError(const ds::plan::Plan &p) {
  LoadedPlan lp = parsePlan(serializePlan(p), "tiny.dsplan", 0);
  auto comm = makeSingleRankCommunicator();
  try {
    makeCudaExecutor(lp, *comm, CudaOptions());
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

// Tests that the plugin validates the plan it is given on its own (through the C boundary,
// without a GPU): its loader's one-line errors come back as ds::rt::Error.
TEST(CudaPlugin, ValidatesThePlanItself) {
  std::string why;
  if (!loadCudaBackend(why))
    GTEST_SKIP() << "no CUDA plugin: " << why;
  ds::plan::Plan p = tinyPlan();
  p.set_world_size(2); // the host communicator has one rank
  std::string msg = cudaExecutorError(p);
  EXPECT_NE(msg.find("tiny.dsplan: the plan was compiled for world size 2 but the job has 1"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// Tests that an NVMe region without a usable nvme_path is refused before the CUDA executor
// touches a device (ds-run opens the swap file the plugin's io stream uses first).
TEST(CudaPlugin, RefusesNvmeRegionsWithoutSwapDirectory) {
  std::string why;
  if (!loadCudaBackend(why))
    GTEST_SKIP() << "no CUDA plugin: " << why;
  ds::plan::Plan p = tinyPlan();
  p.set_nvme_bytes(4096);
  std::string msg = cudaExecutorError(p);
  EXPECT_NE(msg.find("bytes per rank on NVMe but names no nvme_path"), std::string::npos) << msg;
  p.mutable_io()->set_nvme_path("/nonexistent-ds-swap-dir");
  msg = cudaExecutorError(p);
  EXPECT_NE(msg.find("swap directory '/nonexistent-ds-swap-dir' does not exist"),
            std::string::npos)
      << msg;
}
