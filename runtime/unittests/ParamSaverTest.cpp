// --save-params maps initializer names to files, takes FLAT_1D shapes from the ONNX model and
// writes every parameter once.
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/Npy.h"
#include "ds/runtime/ParamSaver.h"

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

using namespace ds::rt;
namespace pb = ds::plan;

namespace {

std::string tempDir() {
  std::string tmpl = ::testing::TempDir() + "/params-XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

/// Parameters "enc/w" (FULL, f32 [2]) bound twice (f32 and f16) and "b" (FLAT_1D, f32 [3],
/// the ONNX initializer [1, 3]); world 1.
pb::Plan paramPlan() {
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(1);
  p.set_alignment(64);
  p.set_persistent_bytes(192);
  p.set_model_file("m.onnx");
  auto buf = [&](uint32_t id, pb::DType dt, int64_t n, uint64_t off) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(dt);
    b->add_shape(n);
    b->set_placement(pb::PERSISTENT);
    b->set_offset(off);
  };
  buf(1, pb::F32, 2, 0);
  buf(2, pb::F16, 2, 64);
  buf(3, pb::F32, 3, 128);
  auto param = [&](const char *init, uint32_t b, bool flat) {
    auto *q = p.add_parameters();
    q->set_symbol(init);
    q->set_initializer(init);
    q->set_buffer(b);
    if (flat)
      q->mutable_shard()->set_kind(pb::ShardSpec::FLAT_1D);
  };
  param("enc/w", 1, false);
  param("enc/w", 2, false);
  param("b", 3, true);
  return p;
}

void writeModel(const std::string &path) {
  onnx::ModelProto m;
  auto *t = m.mutable_graph()->add_initializer();
  t->set_name("b");
  t->add_dims(1);
  t->add_dims(3);
  t->set_data_type(onnx::TensorProto::FLOAT);
  std::ofstream f(path, std::ios::binary);
  ASSERT_TRUE(m.SerializeToOstream(&f));
}

} // namespace

// Tests the initializer name -> file name mapping and the names it refuses.
TEST(ParamSaver, MapsInitializerNamesToFiles) {
  EXPECT_EQ(paramFileName("enc/layer.0:w"), "enc__layer.0:w");
  EXPECT_EQ(paramFileName("plain"), "plain");
  for (const std::string &bad : {std::string(""), std::string("a\0b", 3), std::string(252, 'x')})
    EXPECT_THROW(paramFileName(bad), Error) << bad.size();
  pb::Plan p = paramPlan();
  p.mutable_parameters(2)->set_initializer("enc__w");
  p.mutable_parameters(2)->mutable_shard()->set_kind(pb::ShardSpec::FULL);
  LoadedPlan lp = parsePlan(serializePlan(p), tempDir() + "/p.dsplan", 1);
  try {
    prepareSaveParams(lp, tempDir() + "/out", 0);
    ADD_FAILURE() << "'enc/w' and 'enc__w' both mapped to enc__w.npy";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("map to the same file enc__w.npy"), std::string::npos)
        << e.what();
  }
}

// Tests that each initializer is written once, FULL in its buffer's shape and FLAT_1D in the
// ONNX shape with the padding dropped.
TEST(ParamSaver, WritesEveryParameterOnce) {
  std::string dir = tempDir();
  writeModel(dir + "/m.onnx");
  LoadedPlan lp = parsePlan(serializePlan(paramPlan()), dir + "/p.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor ex(lp, *comm);
  std::vector<float> w = {1.5f, -2}, b = {3, 4, 5};
  ex.upload(1, w.data());
  ex.upload(3, b.data());
  std::vector<SavedParam> params = prepareSaveParams(lp, dir + "/out/params", 0);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].file, dir + "/out/params/enc__w.npy");
  EXPECT_EQ(params[1].dims, (std::vector<int64_t>{1, 3}));
  saveParams(params, ex, *comm);
  NpyFile fw = openNpy(dir + "/out/params/enc__w.npy");
  EXPECT_EQ(fw.dtype, pb::F32); // the first binding (f32), not the f16 copy
  EXPECT_EQ(fw.shape, (std::vector<int64_t>{2}));
  std::vector<float> got(2);
  readNpyRows(fw, 0, 2, got.data());
  EXPECT_EQ(got, w);
  NpyFile fb = openNpy(dir + "/out/params/b.npy");
  EXPECT_EQ(fb.shape, (std::vector<int64_t>{1, 3}));
  got.resize(3);
  readNpyRows(fb, 0, 1, got.data());
  EXPECT_EQ(got, b);
}
