// The plan loader rejects corrupt, hostile and inconsistent plans with the right message.
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/Plan.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <random>

using namespace ds::rt;
namespace pb = ds::plan;

namespace {

// A valid plan: y = x + x in the arena, one parameter p.
pb::Plan goodPlan() {
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(2);
  p.set_alignment(64);
  p.set_arena_bytes(128);
  p.set_persistent_bytes(64);
  p.set_predicted_peak_bytes(128);
  p.set_model_file("m.onnx");
  auto buf = [&](uint32_t id, pb::Placement pl, uint64_t off) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(pb::F32);
    b->add_shape(2);
    b->add_shape(8);
    b->set_placement(pl);
    b->set_offset(off);
  };
  buf(1, pb::ARENA, 0);
  buf(2, pb::ARENA, 64);
  buf(3, pb::PERSISTENT, 0);
  auto *par = p.add_parameters();
  par->set_symbol("p");
  par->set_initializer("p");
  par->set_buffer(3);
  auto *in = p.add_inputs();
  in->set_name("x");
  in->set_buffer(1);
  auto *out = p.add_outputs();
  out->set_name("y");
  out->set_buffer(2);
  p.set_loss_output(-1);
  auto *prog = p.add_programs();
  prog->set_name("forward");
  prog->set_role(pb::Program::INFERENCE);
  auto *i = prog->add_instructions();
  i->set_kernel("add");
  i->add_inputs(1);
  i->add_inputs(1);
  i->add_outputs(2);
  auto *j = prog->add_instructions();
  j->set_kernel("all_reduce");
  j->add_inputs(2);
  j->add_outputs(2);
  j->add_waits(0);
  j->set_stream(pb::Instruction::COMM);
  return p;
}

std::string loadError(const std::string &bytes, int world = 2) {
  try {
    parsePlan(bytes, "test.dsplan", world);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}
std::string loadError(const pb::Plan &p, int world = 2) { return loadError(serializePlan(p), world); }

#define EXPECT_REJECTED(plan, needle)                                                              \
  do {                                                                                             \
    std::string msg = loadError(plan);                                                             \
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;                         \
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;                          \
  } while (0)

} // namespace

TEST(Plan, AcceptsGoodPlan) {
  EXPECT_EQ(loadError(goodPlan()), "");
  LoadedPlan lp = parsePlan(serializePlan(goodPlan()), "/some/dir/test.dsplan", 2);
  EXPECT_EQ(lp.modelPath, "/some/dir/m.onnx");
  EXPECT_EQ(lp.microBatch, 2);
  EXPECT_EQ(lp.program(pb::Program::INFERENCE), 0);
}

TEST(Plan, RejectsBadMagicTruncationAndVersion) {
  std::string good = serializePlan(goodPlan());
  EXPECT_REJECTED(std::string("PK\3\4 zip file"), "bad magic");
  EXPECT_REJECTED(std::string(""), "bad magic");
  std::string otherFormat = good;
  otherFormat[7] = 3;
  EXPECT_REJECTED(otherFormat, "unsupported plan file format 0.3");
  EXPECT_REJECTED(good.substr(0, 12), "truncated plan");
  EXPECT_REJECTED(good.substr(0, good.size() - 7), "checksum mismatch");
  // A payload that passes the checksum but is not a Plan message.
  EXPECT_REJECTED(framePlanPayload(std::string("\xff\xff\xff", 3)), "corrupt or truncated");
  pb::Plan p = goodPlan();
  p.set_version(2);
  EXPECT_REJECTED(p, "unsupported plan version 2");
  EXPECT_NE(loadError(goodPlan(), 4).find("compiled for world size 2 but the job has 4"),
            std::string::npos);
}

TEST(Plan, RejectsFormatOneWithARecompileHint) {
  // Format 0.1: the magic "DSPLAN\0\1" directly followed by the payload, no checksum.
  std::string v1("DSPLAN\0\1", 8);
  v1 += goodPlan().SerializeAsString();
  EXPECT_REJECTED(v1, "re-compile the model with this ds-opt");
}

TEST(Plan, HeaderHoldsThePayloadChecksum) {
  std::string good = serializePlan(goodPlan());
  ASSERT_GT(good.size(), kPlanHeaderBytes);
  EXPECT_EQ(good.substr(0, 8), std::string(kPlanMagic, 8));
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i)
    stored |= uint64_t((unsigned char)good[8 + i]) << (8 * i);
  EXPECT_EQ(stored, planChecksum(good.data() + kPlanHeaderBytes, good.size() - kPlanHeaderBytes));
  EXPECT_EQ(planChecksum("", 0), 0xcbf29ce484222325ull); // FNV-1a 64 offset basis
  EXPECT_EQ(planChecksum("a", 1), 0xaf63dc4c8601ec8cull); // the published FNV-1a test vector
}

TEST(Plan, EveryByteFlipIsRejected) {
  // The hostile-user probe of issue 15: a single corrupted byte anywhere in the file (magic,
  // checksum or payload) must be an error at load, never a plan with a changed meaning.
  std::string good = serializePlan(goodPlan());
  ASSERT_NO_THROW(parsePlan(good, "test.dsplan", 2));
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned mask : {0x01u, 0x80u, 0xffu}) {
      std::string b = good;
      b[i] = char((unsigned char)b[i] ^ mask);
      std::string msg = loadError(b);
      EXPECT_FALSE(msg.empty()) << "byte " << i << " ^ " << mask << " was accepted";
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    }
  }
}

TEST(Plan, RejectsUnknownFields) {
  // Fields plan.proto does not define (a newer ds-opt's, or a corruption that the checksum
  // was recomputed over) are rejected, naming the message, at any depth.
  pb::Plan p = goodPlan();
  p.GetReflection()->MutableUnknownFields(&p)->AddVarint(999, 1);
  EXPECT_REJECTED(p, "unknown field 999 in ds.plan.Plan");
  p = goodPlan();
  auto *instr = p.mutable_programs(0)->mutable_instructions(1);
  instr->GetReflection()->MutableUnknownFields(instr)->AddLengthDelimited(77, "x");
  EXPECT_REJECTED(p, "unknown field 77 in ds.plan.Instruction at programs[0].instructions[1]");
  p = goodPlan();
  pb::Attribute a;
  a.set_f(1e-8f);
  a.GetReflection()->MutableUnknownFields(&a)->AddFixed32(12, 0);
  (*p.mutable_programs(0)->mutable_instructions(0)->mutable_attrs())["eps"] = a;
  EXPECT_REJECTED(p, "unknown field 12 in ds.plan.Attribute");
}

TEST(Plan, RejectsBadBuffers) {
  pb::Plan p = goodPlan();
  p.mutable_buffers(1)->set_offset(96);
  EXPECT_REJECTED(p, "not a multiple of the alignment");
  p = goodPlan();
  p.mutable_buffers(1)->set_offset(128);
  EXPECT_REJECTED(p, "outside the arena");
  p = goodPlan();
  p.mutable_buffers(1)->set_offset(UINT64_MAX - 63);
  EXPECT_REJECTED(p, "outside the arena");
  p = goodPlan();
  p.mutable_buffers(0)->set_shape(0, int64_t(1) << 40);
  p.mutable_buffers(0)->set_shape(1, int64_t(1) << 40);
  EXPECT_REJECTED(p, "more than 2^63 elements");
  p = goodPlan();
  p.mutable_buffers(0)->set_shape(0, -1);
  EXPECT_REJECTED(p, "negative dimension");
  p = goodPlan();
  p.mutable_buffers(0)->set_dtype(pb::DType(42));
  EXPECT_REJECTED(p, "invalid dtype");
  p = goodPlan();
  p.mutable_buffers(2)->set_id(1);
  EXPECT_REJECTED(p, "duplicate buffer id");
  p = goodPlan();
  p.set_arena_bytes(uint64_t(1) << 41);
  EXPECT_REJECTED(p, "exceeds the 1 TiB limit");
  p = goodPlan();
  p.set_alignment(48);
  EXPECT_REJECTED(p, "power of two");
}

// Tests that HOST and NVME buffers are checked against their own regions like PERSISTENT ones.
TEST(Plan, ChecksHostAndNvmeRegions) {
  for (pb::Placement pl : {pb::HOST, pb::NVME}) {
    std::string region = pl == pb::HOST ? "host region" : "NVMe region";
    auto setRegion = [&](pb::Plan &p, uint64_t bytes) {
      if (pl == pb::HOST)
        p.set_host_bytes(bytes);
      else
        p.set_nvme_bytes(bytes);
    };
    pb::Plan p = goodPlan();
    p.mutable_buffers(1)->set_placement(pl); // the output y, 64 bytes
    p.mutable_buffers(1)->set_offset(64);
    setRegion(p, 128);
    if (pl == pb::HOST) {
      EXPECT_EQ(loadError(p), "") << region;
      LoadedPlan lp = parsePlan(serializePlan(p), "test.dsplan", 2);
      EXPECT_EQ(lp.buffer(2).placement, pl);
      EXPECT_EQ(regionBytes(lp.plan, pl), 128u);
    } else { // in bounds, but a kernel other than swap_out may not write NVMe bytes
      EXPECT_REJECTED(p, "output 0 is an NVMe buffer, which only swap_out writes");
    }
    setRegion(p, 64);
    EXPECT_REJECTED(p, "lie outside the " + region + " of 64 bytes");
    setRegion(p, 0);
    EXPECT_REJECTED(p, "lie outside the " + region + " of 0 bytes");
    setRegion(p, 256);
    p.mutable_buffers(1)->set_offset(96);
    EXPECT_REJECTED(p, "not a multiple of the alignment");
    p.mutable_buffers(1)->set_offset(UINT64_MAX - 63);
    EXPECT_REJECTED(p, "lie outside the " + region);
    p = goodPlan();
    setRegion(p, (uint64_t(1) << 40) + 1);
    EXPECT_REJECTED(p, std::string(pl == pb::HOST ? "host_bytes" : "nvme_bytes") +
                           " 1099511627777 exceeds the 1 TiB limit");
  }
  pb::Plan p = goodPlan();
  p.mutable_buffers(2)->set_placement(pb::Placement(9));
  EXPECT_REJECTED(p, "invalid placement 9");
  // A parameter may be offloaded (offload_param) to the host or NVMe.
  for (pb::Placement pl : {pb::HOST, pb::NVME}) {
    p = goodPlan();
    p.set_host_bytes(4096);
    p.set_nvme_bytes(4096);
    p.mutable_buffers(2)->set_placement(pl);
    p.mutable_buffers(2)->set_offset(0);
    EXPECT_EQ(loadError(p), "");
  }
}

// Tests that the CPU executor binds HOST buffers to its host region and refuses NVMe regions.
TEST(Plan, CpuExecutorMapsHostAndNeedsNvmePath) {
  pb::Plan p = goodPlan();
  p.set_world_size(1);
  p.set_host_bytes(128);
  p.mutable_buffers(1)->set_placement(pb::HOST); // y = all_reduce(x + x), world 1
  p.mutable_buffers(1)->set_offset(64);
  LoadedPlan lp = parsePlan(serializePlan(p), "test.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  {
    CpuExecutor ex(lp, *comm);
    std::vector<float> x(16), y(16);
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = float(i) - 3.5f;
    ex.upload(1, x.data());
    ex.run(0);
    ex.download(2, y.data());
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_EQ(y[i], 2 * x[i]);
    EXPECT_EQ(ex.measuredPeakBytes(), 64u); // only ARENA bytes count
  }
  // An NVMe region needs a directory for the swap file.
  p.set_nvme_bytes(4096);
  lp = parsePlan(serializePlan(p), "test.dsplan", 1);
  try {
    CpuExecutor ex(lp, *comm);
    ADD_FAILURE() << "a plan with an NVMe region and no nvme_path was accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("names no nvme_path"), std::string::npos)
        << e.what();
  }
}

// Tests that swap_out and swap_in move a host buffer through the rank's NVMe swap file,
// that an instruction touching the host bytes of a swap in flight waits for it (the fill
// after swap_out must not change what was written), that the NVMe tier is measured, and
// that the swap file is gone when the executor is.
TEST(Plan, CpuExecutorSwapsNvmeBuffers) {
  char tmpl[] = "/tmp/ds-plan-nvme-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  pb::Plan p = goodPlan();
  p.set_world_size(1);
  p.set_host_bytes(64);
  p.set_nvme_bytes(4096);
  p.mutable_io()->set_nvme_path(dir);
  p.mutable_buffers(1)->set_placement(pb::HOST); // y
  p.mutable_buffers(1)->set_offset(0);
  auto *n = p.add_buffers();
  *n = p.buffers(1);
  n->set_id(4);
  n->set_placement(pb::NVME);
  auto *prog = p.mutable_programs(0);
  auto add = [&](const char *kernel, int in, int out, pb::Instruction::Stream stream) {
    auto *i = prog->add_instructions();
    i->set_kernel(kernel);
    if (in)
      i->add_inputs(uint32_t(in));
    i->add_outputs(uint32_t(out));
    i->set_stream(stream);
    return i;
  };
  add("swap_out", 2, 4, pb::Instruction::IO);
  (*add("fill", 0, 2, pb::Instruction::COMPUTE)->mutable_attrs())["value"].set_f(7);
  add("swap_in", 4, 2, pb::Instruction::IO);
  LoadedPlan lp = parsePlan(serializePlan(p), "test.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  {
    CpuExecutor ex(lp, *comm);
    std::vector<float> x(16), y(16), z(16, 1.f);
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = float(i) - 3.5f;
    ex.upload(1, x.data());
    ex.run(0);
    ex.download(2, y.data());
    ex.download(4, z.data()); // NVMe buffers download through the swap file
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(y[i], 2 * x[i]);
      EXPECT_EQ(z[i], 2 * x[i]);
    }
    EXPECT_EQ(ex.measuredHostBytes(), 64u);
    EXPECT_EQ(ex.measuredNvmeBytes(), 64u);
  }
  EXPECT_EQ(rmdir(dir.c_str()), 0) << "the swap file was left in " << dir;
}

// Tests that collectives must be on the COMM stream and nothing else may be.
TEST(Plan, ChecksStreamClass) {
  pb::Plan p = goodPlan();
  p.mutable_programs(0)->mutable_instructions(1)->set_stream(pb::Instruction::COMPUTE);
  EXPECT_REJECTED(p, "instruction 1 (all_reduce): collective kernel 'all_reduce' must be on "
                     "the COMM stream, not COMPUTE");
  p = goodPlan();
  p.mutable_programs(0)->mutable_instructions(0)->set_stream(pb::Instruction::COMM);
  EXPECT_REJECTED(p, "instruction 0 (add): kernel 'add' is not a collective and cannot be on "
                     "the COMM stream");
  p = goodPlan();
  p.mutable_programs(0)->mutable_instructions(0)->set_stream(pb::Instruction::COPY);
  EXPECT_EQ(loadError(p), "");
  for (const char *k : {"all_gather", "reduce_scatter", "all_reduce", "broadcast", "barrier"})
    EXPECT_TRUE(isCollectiveKernel(k)) << k;
  EXPECT_FALSE(isCollectiveKernel("copy"));
}

TEST(Plan, RejectsBadInstructions) {
  pb::Plan p = goodPlan();
  p.mutable_programs(0)->mutable_instructions(0)->set_inputs(1, 99);
  EXPECT_REJECTED(p, "instruction 0 (add): input 1 refers to unknown buffer 99");
  p = goodPlan();
  p.mutable_programs(0)->mutable_instructions(0)->set_kernel("frobnicate");
  EXPECT_REJECTED(p, "unknown kernel 'frobnicate'");
  p = goodPlan();
  p.mutable_programs(0)->mutable_instructions(1)->set_waits(0, 1);
  EXPECT_REJECTED(p, "waits for instruction 1, which does not come before it");
  p = goodPlan();
  p.mutable_programs(0)->mutable_instructions(0)->add_inputs(1);
  EXPECT_REJECTED(p, "takes 2 inputs, got 3");
  p = goodPlan();
  p.mutable_buffers(1)->set_shape(1, 4);
  EXPECT_REJECTED(p, "result has shape [2,4], expected [2,8]");
  p = goodPlan();
  p.mutable_buffers(1)->set_dtype(pb::I32);
  EXPECT_REJECTED(p, "same element type");
  p = goodPlan();
  (*p.mutable_programs(0)->mutable_instructions(1)->mutable_attrs())["reduction"].set_i(3);
  EXPECT_REJECTED(p, "attribute 'reduction' must be a string");
  p = goodPlan();
  (*p.mutable_programs(0)->mutable_instructions(1)->mutable_attrs())["reduction"].set_s("mean");
  EXPECT_REJECTED(p, "attribute 'reduction' must be");
  p = goodPlan();
  auto *t = p.mutable_programs(0)->add_instructions();
  t->set_kernel("transpose");
  t->add_inputs(1);
  t->add_outputs(2);
  EXPECT_REJECTED(p, "missing attribute 'perm'");
  p = goodPlan();
  auto *mm = p.mutable_programs(0)->add_instructions(); // output aliases input
  mm->set_kernel("matmul");
  mm->add_inputs(1);
  mm->add_inputs(2);
  mm->add_outputs(2);
  EXPECT_REJECTED(p, "cannot run in place");
}

// Tests that a generated entry (ds-opt --generate-fused-kernels) is accepted only on a
// fused_elementwise instruction, only with the plan's PTX, and only as a PTX identifier.
TEST(Plan, ChecksGeneratedEntries) {
  pb::Plan p = goodPlan();
  p.mutable_generated_code()->set_ptx(".version 7.8");
  p.mutable_programs(0)->mutable_instructions(0)->set_generated_entry("fused_0");
  EXPECT_REJECTED(p, "generated_entry 'fused_0' on a kernel other than fused_elementwise");
  p = goodPlan();
  auto *i = p.mutable_programs(0)->mutable_instructions(0);
  i->set_kernel("fused_elementwise"); // r = x + x
  for (int64_t v : {0, 1, 0, 1, 0})
    (*i->mutable_attrs())["program"].mutable_ints()->add_values(v);
  EXPECT_EQ(loadError(p), "");
  i->set_generated_entry("fused_0");
  EXPECT_REJECTED(p, "generated_entry 'fused_0' but the plan has no generated_code.ptx");
  p.mutable_generated_code()->set_ptx(".version 7.8");
  EXPECT_EQ(loadError(p), "");
  p.mutable_programs(0)->mutable_instructions(0)->set_generated_entry("fused_0(); x");
  EXPECT_REJECTED(p, "generated_entry is not a PTX identifier");
}

TEST(Plan, RejectsBadGraphAndPrograms) {
  pb::Plan p = goodPlan();
  p.set_loss_output(0);
  EXPECT_REJECTED(p, "must be a floating scalar");
  p = goodPlan();
  p.set_loss_output(5);
  EXPECT_REJECTED(p, "not an index into the 1 outputs");
  p = goodPlan();
  p.mutable_inputs(0)->set_buffer(77);
  EXPECT_REJECTED(p, "input 'x' refers to unknown buffer 77");
  p = goodPlan();
  p.mutable_inputs(0)->set_batch_dim(2);
  EXPECT_REJECTED(p, "batch_dim 2 out of range");
  p = goodPlan();
  p.mutable_parameters(0)->set_buffer(1);
  EXPECT_REJECTED(p, "must be PERSISTENT, HOST or NVME");
  p = goodPlan();
  *p.add_programs() = p.programs(0);
  EXPECT_REJECTED(p, "duplicate program name");
  p = goodPlan();
  *p.add_programs() = p.programs(0);
  p.mutable_programs(1)->set_name("other");
  EXPECT_REJECTED(p, "a second program with role INFERENCE");
  p = goodPlan();
  p.set_model_file("");
  EXPECT_REJECTED(p, "no model_file");
  p = goodPlan();
  p.set_model_hash("0123456789ABCDEF");
  EXPECT_REJECTED(p, "model_hash '0123456789ABCDEF' is not 16 lowercase hex digits");
  p.set_model_hash("0123456789abcde");
  EXPECT_REJECTED(p, "is not 16 lowercase hex digits");
}

// Tests that a plan's model_hash is kept and model_file resolves against the plan's directory
// (checkpoints use the record only while modelPath is that file, Checkpoint.cpp).
TEST(Plan, ModelHashAndModelFile) {
  pb::Plan p = goodPlan();
  p.set_model_hash("0123456789abcdef");
  LoadedPlan lp = parsePlan(serializePlan(p), "/some/dir/test.dsplan", 2);
  EXPECT_EQ(lp.plan.model_hash(), "0123456789abcdef");
  EXPECT_EQ(lp.modelPath, "/some/dir/m.onnx");
  EXPECT_EQ(resolveModelFile(lp), lp.modelPath);
  p.set_model_file("/abs/m.onnx");
  EXPECT_EQ(resolveModelFile(parsePlan(serializePlan(p), "/some/dir/test.dsplan", 2)),
            "/abs/m.onnx");
}

TEST(Plan, CorruptedBytesNeverCrash) {
  // Change bytes all over a valid payload and re-frame it with a matching checksum, so the
  // decoder and validator see them: every result is either a valid plan or an Error.
  std::string good = goodPlan().SerializeAsString();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string b = good;
    int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k)
      b[rng() % b.size()] = char(rng());
    try {
      parsePlan(framePlanPayload(b), "fuzz.dsplan", 0);
    } catch (const Error &) {
    }
  }
}

// Tests that Plan.states (checkpoint layouts) is validated as hostile input: buffer, placement,
// kind, parameter, shard kind and the element count each layout implies.
TEST(Plan, ValidatesStates) {
  auto withState = [](const char *kind, const char *param, pb::ShardSpec::Kind shard,
                      uint64_t full, uint32_t buffer = 3) {
    pb::Plan p = goodPlan();
    auto *s = p.add_states();
    s->set_buffer(buffer);
    s->set_kind(kind);
    s->set_parameter(param);
    s->mutable_shard()->set_kind(shard);
    s->set_full_numel(full);
    return p;
  };
  EXPECT_EQ(loadError(withState("param", "p", pb::ShardSpec::FULL, 16)), "");
  EXPECT_EQ(loadError(withState("exp_avg", "p", pb::ShardSpec::FULL, 16)), "");
  // A flat shard of 32 (or 31: padded) elements over 2 ranks has 16 per rank.
  EXPECT_EQ(loadError(withState("exp_avg", "p", pb::ShardSpec::FLAT_1D, 31)), "");
  EXPECT_REJECTED(withState("exp_avg", "p", pb::ShardSpec::FLAT_1D, 34), "needs 17");
  EXPECT_REJECTED(withState("exp_avg", "p", pb::ShardSpec::FULL, 17), "needs 17");
  EXPECT_REJECTED(withState("exp_avg", "p", pb::ShardSpec::FULL, 0), "full_numel 0 out of range");
  EXPECT_REJECTED(withState("exp_avg", "p", pb::ShardSpec::Kind(7), 16), "invalid shard kind 7");
  EXPECT_REJECTED(withState("bogus", "p", pb::ShardSpec::FULL, 16), "unknown state kind 'bogus'");
  EXPECT_REJECTED(withState("grad", "q", pb::ShardSpec::FULL, 16),
                  "parameter 'q' is not a plan parameter");
  EXPECT_REJECTED(withState("grad", "p", pb::ShardSpec::FULL, 16, 1), "PERSISTENT, HOST or NVME");
  EXPECT_REJECTED(withState("grad", "p", pb::ShardSpec::FULL, 16, 99), "99");
  EXPECT_REJECTED(withState("param", "p", pb::ShardSpec::FLAT_1D, 31),
                  "must match the Plan.parameters entry");
  pb::Plan twice = withState("grad", "p", pb::ShardSpec::FULL, 16);
  *twice.add_states() = twice.states(0);
  EXPECT_REJECTED(twice, "listed twice");
}
