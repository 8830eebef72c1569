// The kernel catalogue: its metadata, and the loader's rejections it drives (arity, attributes).
#include "ds/runtime/KernelCatalogue.h"
#include "ds/runtime/Plan.h"

#include <gtest/gtest.h>

#include <set>

using namespace ds::rt;
namespace pb = ds::plan;

namespace {

// A plan with one instruction of `kernel` over f32[2,8] buffers 1 (input) and 2 (output).
pb::Plan onePlan(const std::string &kernel, int inputs = 1, int outputs = 1) {
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(1);
  p.set_alignment(64);
  p.set_arena_bytes(128);
  p.set_predicted_peak_bytes(128);
  for (uint32_t id : {1u, 2u}) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(pb::F32);
    b->add_shape(2);
    b->add_shape(8);
    b->set_placement(pb::ARENA);
    b->set_offset(id == 1 ? 0 : 64);
  }
  p.set_loss_output(-1);
  auto *prog = p.add_programs();
  prog->set_name("main");
  prog->set_role(pb::Program::INFERENCE);
  auto *i = prog->add_instructions();
  i->set_kernel(kernel);
  for (int k = 0; k < inputs; ++k)
    i->add_inputs(1);
  for (int k = 0; k < outputs; ++k)
    i->add_outputs(2);
  return p;
}
pb::Attribute &attr(pb::Plan &p, const std::string &name) {
  return (*p.mutable_programs(0)->mutable_instructions(0)->mutable_attrs())[name];
}

std::string loadError(const pb::Plan &p) {
  try {
    parsePlan(serializePlan(p), "test.dsplan", 1);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

#define EXPECT_REJECTED(plan, needle)                                                         \
  do {                                                                                        \
    std::string msg = loadError(plan);                                                        \
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;                    \
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;                     \
  } while (0)

} // namespace

// Tests that the one-instruction plans are valid as built (the rejections below are theirs).
TEST(KernelCatalogue, AcceptsTheBasePlans) {
  EXPECT_EQ(loadError(onePlan("relu")), "");
  pb::Plan p = onePlan("softmax");
  attr(p, "axis").set_i(1);
  EXPECT_EQ(loadError(p), "");
}

// Tests that an unknown kernel is rejected, naming program, instruction and kernel.
TEST(KernelCatalogue, RejectsUnknownKernel) {
  EXPECT_REJECTED(onePlan("frobnicate"),
                  "program 'main' instruction 0 (frobnicate): unknown kernel 'frobnicate'");
}

// Tests that the operand counts come from the catalogue's roles.
TEST(KernelCatalogue, RejectsWrongArity) {
  EXPECT_REJECTED(onePlan("relu", 2, 1), "instruction 0 (relu): takes 1 inputs, got 2");
  EXPECT_REJECTED(onePlan("relu", 1, 0), "instruction 0 (relu): produces 1 outputs, got 0");
  EXPECT_REJECTED(onePlan("gemm", 1, 1), "instruction 0 (gemm): takes 2..3 inputs, got 1");
  EXPECT_REJECTED(onePlan("concat", 0, 1), "(concat): takes at least 1 inputs, got 0");
}

// Tests that an attribute of the wrong type is rejected, naming the attribute.
TEST(KernelCatalogue, RejectsBadAttributeType) {
  pb::Plan p = onePlan("softmax");
  attr(p, "axis").set_f(1.0);
  EXPECT_REJECTED(p, "instruction 0 (softmax): attribute 'axis' must be an int64");
  p = onePlan("gelu");
  attr(p, "approximate").set_i(1);
  EXPECT_REJECTED(p, "(gelu): attribute 'approximate' must be a string");
  p = onePlan("dropout");
  attr(p, "training").set_i(2);
  EXPECT_REJECTED(p, "(dropout): attribute 'training' must be 0 or 1, got 2");
  p = onePlan("squeeze");
  attr(p, "axes").set_i(0);
  EXPECT_REJECTED(p, "(squeeze): attribute 'axes' must be an int64 list");
}

// Tests that a plan attribute the kernel does not take is an error naming kernel and key.
TEST(KernelCatalogue, RejectsUnknownAttributeKey) {
  pb::Plan p = onePlan("softmax");
  attr(p, "axis").set_i(1);
  attr(p, "axsi").set_i(1);
  EXPECT_REJECTED(p, "instruction 0 (softmax): unknown attribute 'axsi' (softmax takes axis)");
  p = onePlan("relu");
  attr(p, "alpha").set_f(0.1);
  EXPECT_REJECTED(p, "(relu): unknown attribute 'alpha' (relu takes no attributes)");
  // Compiler annotations (MLIR discardable `dialect.name` attributes) are not kernel
  // attributes: carried, never read.
  p = onePlan("relu");
  attr(p, "ds.grad_norm_sq").set_i(1);
  EXPECT_EQ(loadError(p), "");
  attr(p, ".x").set_i(1);
  EXPECT_REJECTED(p, "(relu): unknown attribute '.x'");
}

// Tests that a string attribute outside its enum's values is rejected with the allowed list.
TEST(KernelCatalogue, RejectsEnumValueOutsideItsSet) {
  pb::Plan p = onePlan("gelu");
  attr(p, "approximate").set_s("fast");
  EXPECT_REJECTED(p, "(gelu): attribute 'approximate' must be \"none\" or \"tanh\", got \"fast\"");
  p = onePlan("all_reduce");
  p.mutable_programs(0)->mutable_instructions(0)->set_stream(pb::Instruction::COMM);
  attr(p, "reduction").set_s("prod");
  EXPECT_REJECTED(p, "(all_reduce): attribute 'reduction' must be \"sum\", \"max\", \"min\" or "
                     "\"avg\", got \"prod\"");
}

// Tests that a missing required attribute is rejected, naming it.
TEST(KernelCatalogue, RejectsMissingRequiredAttribute) {
  EXPECT_REJECTED(onePlan("softmax"), "instruction 0 (softmax): missing attribute 'axis'");
  EXPECT_REJECTED(onePlan("transpose"), "(transpose): missing attribute 'perm'");
  EXPECT_REJECTED(onePlan("fill", 0, 1), "(fill): missing attribute 'value'");
}

// Tests that the catalogue's metadata is consistent: unique names, arity from the roles,
// defaults and allowed values where the attribute kind needs them.
TEST(KernelCatalogue, MetadataIsConsistent) {
  std::set<std::string> names;
  for (const KernelInfo &k : kernelCatalogue()) {
    EXPECT_TRUE(names.insert(k.name).second) << "duplicate " << k.name;
    EXPECT_EQ(findKernelInfo(k.name), &k);
    EXPECT_EQ(&kernelInfo(k.id), &k);
    EXPECT_NE(k.backends, 0u) << k.name;
    EXPECT_GE(k.minInputs, 0);
    EXPECT_TRUE(k.maxInputs == -1 || k.maxInputs >= k.minInputs) << k.name;
    EXPECT_TRUE(k.maxOutputs == -1 || k.maxOutputs >= k.minOutputs) << k.name;
    EXPECT_TRUE(k.summary && *k.summary) << k.name;
    for (const AttrInfo &a : k.attrs) {
      EXPECT_FALSE(a.required && a.hasDefault) << k.name << "." << a.name;
      if (a.kind == AttrKind::String)
        EXPECT_NE(a.allowedValues, nullptr) << k.name << "." << a.name;
      if (a.kind == AttrKind::String && a.hasDefault)
        EXPECT_NE(a.defaultString, nullptr) << k.name << "." << a.name;
    }
  }
  EXPECT_EQ(names.size(), kKernelCount);
  EXPECT_EQ(findKernelInfo("no_such_kernel"), nullptr);
}

// Tests a few entries the compiler relies on for lowering defaults.
TEST(KernelCatalogue, DefaultsTheCompilerReads) {
  const KernelInfo *gemm = findKernelInfo("gemm");
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->minInputs, 2);
  EXPECT_EQ(gemm->maxInputs, 3);
  ASSERT_NE(gemm->findAttr("alpha"), nullptr);
  EXPECT_EQ(gemm->findAttr("alpha")->defaultFloat, 1.0);
  EXPECT_EQ(gemm->findAttr("trans_b")->kind, AttrKind::Bool);
  EXPECT_EQ(findKernelInfo("layer_norm")->findAttr("epsilon")->defaultFloat, 1e-5);
  EXPECT_EQ(findKernelInfo("layer_norm")->maxOutputs, 3);
  const AttrInfo *maxLr = findKernelInfo("lr_schedule")->findAttr("warmup_max_lr");
  ASSERT_NE(maxLr, nullptr);
  EXPECT_EQ(maxLr->defaultFloat, 0.001);
  const AttrInfo *red = findKernelInfo("softmax_cross_entropy_loss")->findAttr("reduction");
  EXPECT_STREQ(red->defaultString, "mean");
  EXPECT_STREQ(red->allowedValues, "mean|sum|none");
  const AttrInfo *ignore = findKernelInfo("nll_loss")->findAttr("ignore_index");
  EXPECT_FALSE(ignore->required);
  EXPECT_FALSE(ignore->hasDefault);
  EXPECT_TRUE(findKernelInfo("adam_update")->findAttr("adam_w_mode")->required);
  EXPECT_EQ(findKernelInfo("all_reduce")->stream, StreamClass::Comm);
  EXPECT_TRUE(findKernelInfo("all_reduce")->inPlace);
  EXPECT_EQ(findKernelInfo("adam_update")->maxInputs, 7);
  EXPECT_EQ(findKernelInfo("all_finite")->maxInputs, -1);
  EXPECT_EQ(findKernelInfo("barrier")->maxOutputs, 0);
}
