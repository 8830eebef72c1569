// The kernel verifier compares a device executor with the CPU instruction by instruction,
// counts mismatches by dtype tolerance and feeds the CPU's results back.
#include "ds/runtime/KernelVerifier.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace ds::rt;
namespace pb = ds::plan;

namespace {

/// y = x + x; z = y * y (world 1, f32 [4]).
pb::Plan verifierPlan() {
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(1);
  p.set_alignment(64);
  p.set_arena_bytes(192);
  for (uint32_t id : {1u, 2u, 3u}) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(pb::F32);
    b->add_shape(4);
    b->set_placement(pb::ARENA);
    b->set_offset(64 * (id - 1));
  }
  auto *prog = p.add_programs();
  prog->set_name("main");
  prog->set_role(pb::Program::INFERENCE);
  auto add = [&](const char *k, uint32_t a, uint32_t b, uint32_t r) {
    auto *i = prog->add_instructions();
    i->set_kernel(k);
    i->add_inputs(a);
    i->add_inputs(b);
    i->add_outputs(r);
  };
  add("add", 1, 1, 2);
  add("mul", 2, 2, 3);
  return p;
}

/// A "device" that is the CPU executor with every `add` result off by `error`.
class SkewedExecutor : public ExecutorBase {
public:
  SkewedExecutor(const LoadedPlan &plan, Communicator &comm, float error)
      : inner_(plan, comm), error_(error) {}
  void run(int index) override { inner_.run(index); }
  void runInstruction(int program, int k) override {
    inner_.runInstruction(program, k);
    if (plan().plan.programs(program).instructions(k).kernel() != "add")
      return;
    std::vector<float> y(4);
    inner_.download(2, y.data());
    for (float &v : y)
      v += error_;
    inner_.upload(2, y.data());
  }
  void upload(uint32_t id, const void *src) override { inner_.upload(id, src); }
  void download(uint32_t id, void *dst) override { inner_.download(id, dst); }
  uint64_t measuredPeakBytes() const override { return inner_.measuredPeakBytes(); }
  uint64_t measuredHostBytes() const override { return inner_.measuredHostBytes(); }
  uint64_t measuredNvmeBytes() const override { return inner_.measuredNvmeBytes(); }
  std::string describe() const override { return "skewed"; }
  const LoadedPlan &plan() const override { return inner_.plan(); }

private:
  CpuExecutor inner_;
  float error_;
};

Tensor f32(std::vector<float> &v, const std::vector<int64_t> &shape) {
  return Tensor{pb::F32, &shape, int64_t(v.size()), v.data()};
}

} // namespace

// Tests the tolerances: f32 within 2e-4 of the largest magnitude, NaN where NaN, ints exact.
TEST(KernelVerifier, ComparesWithinDtypeTolerance) {
  std::vector<int64_t> shape = {3};
  std::vector<float> c = {1, -2, 4}, d = {1, -2, 4.0005f};
  EXPECT_EQ(KernelVerifier::compare(f32(d, shape), f32(c, shape)), "");
  d[2] = 4.01f;
  std::string why = KernelVerifier::compare(f32(d, shape), f32(c, shape));
  EXPECT_NE(why.find("f32 [3]: max error"), std::string::npos) << why;
  EXPECT_NE(why.find("at element 2"), std::string::npos) << why;
  float nan = std::numeric_limits<float>::quiet_NaN();
  c = {nan, 1, 2};
  d = {nan, 1, 2};
  EXPECT_EQ(KernelVerifier::compare(f32(d, shape), f32(c, shape)), "");
  d[0] = 0;
  EXPECT_NE(KernelVerifier::compare(f32(d, shape), f32(c, shape)), "");
  std::vector<int64_t> a = {1, 2, 3}, b = {1, 2, 4};
  Tensor ta{pb::I64, &shape, 3, a.data()}, tb{pb::I64, &shape, 3, b.data()};
  EXPECT_NE(KernelVerifier::compare(ta, tb).find("1 mismatching exact"), std::string::npos);
}

// Tests that a run over a matching device finds nothing and a skewed kernel is reported once
// per output, with the CPU's result fed back so the next instruction still matches.
TEST(KernelVerifier, ReportsAndRepairsMismatches) {
  LoadedPlan lp = parsePlan(serializePlan(verifierPlan()), "v.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  std::vector<float> x = {1, 2, 3, 4}, z(4);
  {
    SkewedExecutor dev(lp, *comm, 0.f);
    CpuExecutor cpu(lp, *comm);
    dev.upload(1, x.data());
    KernelVerifier v(dev, cpu, 0);
    v.run(0);
    EXPECT_EQ(v.checked(), 2);
    EXPECT_EQ(v.mismatches(), 0);
  }
  SkewedExecutor dev(lp, *comm, 1.f);
  CpuExecutor cpu(lp, *comm);
  dev.upload(1, x.data());
  KernelVerifier v(dev, cpu, 0);
  v.run(0);
  EXPECT_EQ(v.checked(), 2);
  EXPECT_EQ(v.mismatches(), 1); // add only: mul ran on the repaired y
  dev.download(3, z.data());
  EXPECT_EQ(z, (std::vector<float>{4, 16, 36, 64}));
}
