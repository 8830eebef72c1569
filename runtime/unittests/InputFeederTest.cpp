// The input feeder gives each micro-step its rank's samples (wrapping, any batch_dim), checks
// the data files against the plan, and draws reproducible synthetic data.
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/InputFeeder.h"
#include "ds/runtime/Npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace ds::rt;
namespace pb = ds::plan;

namespace {

/// x: f32 [2, 3] (batch_dim 0); t: i64 [4, 2] (batch_dim 1). Micro-batch 2, world 1.
pb::Plan feederPlan() {
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(1);
  p.set_alignment(64);
  p.set_arena_bytes(128);
  auto buf = [&](uint32_t id, pb::DType dt, std::vector<int64_t> shape, uint64_t off) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(dt);
    for (int64_t d : shape)
      b->add_shape(d);
    b->set_placement(pb::ARENA);
    b->set_offset(off);
  };
  buf(1, pb::F32, {2, 3}, 0);
  buf(2, pb::I64, {4, 2}, 64);
  auto *x = p.add_inputs();
  x->set_name("x");
  x->set_buffer(1);
  auto *t = p.add_inputs();
  t->set_name("t");
  t->set_buffer(2);
  t->set_batch_dim(1);
  auto *prog = p.add_programs();
  prog->set_name("main");
  prog->set_role(pb::Program::INFERENCE);
  return p;
}

std::string tempDir() {
  std::string tmpl = ::testing::TempDir() + "/feeder-XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

/// 5 samples: x[s][j] = 10 s + j, t[s][o] = 100 s + o.
void writeData(const std::string &dir) {
  std::vector<float> x;
  std::vector<int64_t> t;
  for (int s = 0; s < 5; ++s) {
    for (int j = 0; j < 3; ++j)
      x.push_back(float(10 * s + j));
    for (int o = 0; o < 4; ++o)
      t.push_back(100 * s + o);
  }
  writeNpy(dir + "/x.npy", pb::F32, {5, 3}, x.data());
  writeNpy(dir + "/t.npy", pb::I64, {5, 4}, t.data());
}

template <typename T> std::vector<T> read(CpuExecutor &ex, uint32_t id, size_t n) {
  std::vector<T> v(n);
  ex.download(id, v.data());
  return v;
}

} // namespace

// Tests that feeding from sample 4 wraps to sample 0 and that a non-leading batch_dim is
// transposed into place.
TEST(InputFeeder, FeedsRankSlicesAndWraps) {
  std::string dir = tempDir();
  writeData(dir);
  LoadedPlan lp = parsePlan(serializePlan(feederPlan()), dir + "/p.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor ex(lp, *comm);
  InputFeeder feeder(lp, ex, InputFeederOptions{dir, false, 0}, 0, 1);
  EXPECT_EQ(feeder.samples(), 5);
  feeder.requireSamples(5);
  feeder.feed(4, 0);
  EXPECT_EQ(read<float>(ex, 1, 6), (std::vector<float>{40, 41, 42, 0, 1, 2}));
  EXPECT_EQ(read<int64_t>(ex, 2, 8),
            (std::vector<int64_t>{400, 0, 401, 1, 402, 2, 403, 3})); // [o][b]
  try {
    feeder.requireSamples(6);
    ADD_FAILURE() << "6 samples required of 5";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("the data has 5 samples, fewer than one global batch "
                                         "of 6"),
              std::string::npos)
        << e.what();
  }
}

// Tests that a data file whose shape or sample count does not fit the plan is rejected.
TEST(InputFeeder, RejectsMismatchedFiles) {
  std::string dir = tempDir();
  writeData(dir);
  std::vector<float> bad(8, 0.f);
  writeNpy(dir + "/x.npy", pb::F32, {2, 4}, bad.data());
  LoadedPlan lp = parsePlan(serializePlan(feederPlan()), dir + "/p.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor ex(lp, *comm);
  try {
    InputFeeder feeder(lp, ex, InputFeederOptions{dir, false, 0}, 0, 1);
    ADD_FAILURE() << "x.npy of shape [2,4] accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("does not match input 'x'"), std::string::npos)
        << e.what();
  }
  try {
    InputFeeder feeder(lp, ex, InputFeederOptions{dir + "/missing", false, 0}, 0, 1);
    ADD_FAILURE() << "a missing directory accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

// Tests that synthetic data is reproducible from the seed, differs by stream and stays in the
// default ranges.
TEST(InputFeeder, SyntheticIsReproducible) {
  LoadedPlan lp = parsePlan(serializePlan(feederPlan()), "p.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor a(lp, *comm), b(lp, *comm);
  InputFeeder fa(lp, a, InputFeederOptions{"", true, 7}, 0, 1);
  InputFeeder fb(lp, b, InputFeederOptions{"", true, 7}, 0, 1);
  fa.feed(0, 3);
  fb.feed(0, 3);
  std::vector<float> xa = read<float>(a, 1, 6), xb = read<float>(b, 1, 6);
  EXPECT_EQ(xa, xb);
  for (float v : xa) {
    EXPECT_GE(v, -1.f);
    EXPECT_LT(v, 1.f);
  }
  for (int64_t v : read<int64_t>(a, 2, 8))
    EXPECT_TRUE(v == 0 || v == 1) << v;
  fb.feed(0, 4);
  EXPECT_NE(read<float>(b, 1, 6), xa);
}

// Tests that --whole-inputs takes the inputs out of the plan and uploads each file whole.
TEST(InputFeeder, FeedsWholeInputs) {
  std::string dir = tempDir();
  pb::Plan p = feederPlan();
  p.mutable_inputs(1)->set_batch_dim(0); // would differ from x's micro-batch: whole inputs only
  writePlanFile(p, dir + "/p.dsplan");
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  writeNpy(dir + "/x.npy", pb::F32, {2, 3}, x.data());
  std::vector<int64_t> t = {1, 2, 3, 4, 5, 6, 7, 8};
  writeNpy(dir + "/t.npy", pb::I64, {4, 2}, t.data());
  std::vector<pb::GraphInput> inputs;
  LoadedPlan lp = loadPlanWithoutInputs(dir + "/p.dsplan", 1, inputs);
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(lp.plan.inputs_size(), 0);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor ex(lp, *comm);
  feedWholeInputs(inputs, ex, dir, /*doRead=*/true);
  EXPECT_EQ(read<float>(ex, 1, 6), x);
  EXPECT_EQ(read<int64_t>(ex, 2, 8), t);
}

// Tests that --check-inputs rejects a NaN or Inf in a data file before any step, naming the
// file and the flat index of the first bad value, and accepts finite data (and ints).
TEST(InputFeeder, CheckInputsRejectsNonFinite) {
  std::string dir = tempDir();
  writeData(dir);
  LoadedPlan lp = parsePlan(serializePlan(feederPlan()), dir + "/p.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor ex(lp, *comm);
  InputFeeder ok(lp, ex, InputFeederOptions{dir, false, 0, true}, 0, 1);
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    std::vector<float> x(15, 1.f);
    x[7] = bad;
    x[11] = std::nanf(""); // only the first is reported
    writeNpy(dir + "/x.npy", pb::F32, {5, 3}, x.data());
    // Without the flag the data is taken as is.
    InputFeeder unchecked(lp, ex, InputFeederOptions{dir, false, 0}, 0, 1);
    try {
      InputFeeder feeder(lp, ex, InputFeederOptions{dir, false, 0, true}, 0, 1);
      ADD_FAILURE() << "non-finite x.npy accepted";
    } catch (const Error &e) {
      std::string want = dir + "/x.npy: element 7 (flat index; sample 2) is " +
                         (std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "-inf");
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}
