// Differential test of the CUDA backend against the CPU backend: every case is a one-instruction
// plan (built in memory, checked by validatePlan), run with runInstruction(0, 0) on a CPU
// CpuExecutor and on a CUDA executor from the plugin, with identical random inputs and identical
// initial output contents; the outputs must agree (floats within a relative tolerance, NaN/inf
// positions identical, integers and bools exactly).
//
// Without the plugin or a CUDA device every case still builds and validates its plan and runs
// it on the CPU (twice, comparing the two runs, so the harness is exercised), then SKIPs.
#include "CudaKernelCases.h"
#include "KernelTestUtil.h"

#include "ds/runtime/CudaBackend.h"
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/Plan.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>

using namespace ds::rt;
using namespace ds::rt::test;
using namespace ds::rt::test::cuda_cases; // Spec, Case, the dtypes

namespace {

double defaultTol(const std::string &kernel, DType dt) {
  switch (dt) {
  case F64:
    return 1e-12;
  case BF16:
    return 1e-2;
  case F16:
    return 2e-3;
  default:
    return kernel == "matmul" || kernel == "gemm" ? 2e-4 : 2e-5;
  }
}


HostTensor makeData(const Spec &s, std::mt19937 &rng) {
  if (!s.values.empty()) {
    HostTensor t(s.dt, s.shape);
    if (int64_t(s.values.size()) != t.numel())
      throw Error("spec has " + std::to_string(s.values.size()) + " values for " +
                  std::to_string(t.numel()) + " elements");
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, s.values[size_t(i)]);
    return t;
  }
  HostTensor t = randomTensor(s.dt, s.shape, rng, s.lo, s.hi);
  if (s.integral && isFloat(s.dt))
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, std::floor(t.get(i)));
  return t;
}

// ---------------------------------------------------------------- plan building

/// The plan of one case: inputs are buffers 1..n, outputs 101..; an aliased output reuses its
/// input's buffer id. Everything lives in the persistent region at aligned offsets.
struct Built {
  LoadedPlan lp;
  std::vector<uint32_t> inIds, outIds;
};

constexpr uint64_t kAlign = 256;

std::unique_ptr<Built> buildPlan(const Case &c) {
  auto b = std::make_unique<Built>();
  ds::plan::Plan &plan = b->lp.plan;
  plan.set_version(kPlanVersion);
  plan.set_world_size(1);
  plan.set_alignment(kAlign);
  plan.set_producer("CudaKernelTest");
  uint64_t top = 0;
  auto addBuffer = [&](uint32_t id, const Spec &s, const std::string &name) {
    auto *buf = plan.add_buffers();
    buf->set_id(id);
    buf->set_name(name);
    buf->set_dtype(s.dt);
    int64_t n = 1;
    for (int64_t d : s.shape) {
      buf->add_shape(d);
      n *= d;
    }
    buf->set_placement(ds::plan::PERSISTENT);
    buf->set_offset(top);
    uint64_t bytes = uint64_t(n) * dtypeSize(s.dt);
    top += std::max<uint64_t>((bytes + kAlign - 1) / kAlign * kAlign, kAlign);
  };
  for (size_t i = 0; i < c.in.size(); ++i) {
    b->inIds.push_back(uint32_t(1 + i));
    addBuffer(b->inIds.back(), c.in[i], "in" + std::to_string(i));
  }
  for (size_t k = 0; k < c.out.size(); ++k) {
    const Spec &s = c.out[k];
    if (s.alias >= 0) {
      if (size_t(s.alias) >= c.in.size())
        throw Error("output " + std::to_string(k) + " aliases a missing input");
      b->outIds.push_back(b->inIds[size_t(s.alias)]);
    } else {
      b->outIds.push_back(uint32_t(101 + k));
      addBuffer(b->outIds.back(), s, "out" + std::to_string(k));
    }
  }
  plan.set_persistent_bytes(std::max<uint64_t>(top, kAlign));
  plan.set_arena_bytes(kAlign);
  plan.set_predicted_peak_bytes(0);
  auto *prog = plan.add_programs();
  prog->set_name("case");
  prog->set_role(ds::plan::Program::INFERENCE);
  ds::plan::Instruction *ins = prog->add_instructions();
  *ins = c.ins.ins;
  if (isCollectiveKernel(ins->kernel()))
    ins->set_stream(ds::plan::Instruction::COMM);
  ins->clear_inputs();
  ins->clear_outputs();
  for (uint32_t id : b->inIds)
    ins->add_inputs(id);
  for (uint32_t id : b->outIds)
    ins->add_outputs(id);
  ins->set_loc(c.name);
  b->lp.path = "<memory>";
  validatePlan(b->lp, 1);
  return b;
}

// ---------------------------------------------------------------- running and comparing

struct Data {
  std::vector<HostTensor> in, outInit;
};

Data makeInputs(const Case &c) {
  std::mt19937 rng(uint32_t(std::hash<std::string>()(c.name)));
  Data d;
  for (const Spec &s : c.in)
    d.in.push_back(makeData(s, rng));
  for (const Spec &s : c.out) {
    Spec init = s;
    init.values.clear();
    init.lo = -2;
    init.hi = 2;
    d.outInit.push_back(makeData(init, rng));
  }
  return d;
}

/// Uploads the inputs and initial outputs, runs the instruction, returns the outputs' bytes.
std::vector<std::vector<char>> runOn(ExecutorBase &ex, const Built &b, const Case &c,
                                     const Data &d) {
  for (size_t i = 0; i < b.inIds.size(); ++i)
    ex.upload(b.inIds[i], d.in[i].bytes.data());
  for (size_t k = 0; k < b.outIds.size(); ++k)
    if (c.out[k].alias < 0)
      ex.upload(b.outIds[k], d.outInit[k].bytes.data());
  ex.runInstruction(0, 0);
  std::vector<std::vector<char>> outs;
  for (size_t k = 0; k < b.outIds.size(); ++k) {
    const auto &t = b.lp.buffer(b.outIds[k]).type;
    std::vector<char> bytes(size_t(t.bytes) + 1, 0);
    ex.download(b.outIds[k], bytes.data());
    outs.push_back(std::move(bytes));
  }
  return outs;
}

/// "" when `got` matches `want` (the CPU result); otherwise what differs.
std::string compareOutput(const Spec &s, const std::vector<char> &want,
                          const std::vector<char> &got, double tol, const std::string &other) {
  HostTensor a(s.dt, s.shape), b(s.dt, s.shape);
  std::memcpy(a.bytes.data(), want.data(), size_t(a.type.bytes));
  std::memcpy(b.bytes.data(), got.data(), size_t(b.type.bytes));
  std::ostringstream os;
  os.precision(9);
  if (!isFloat(s.dt)) {
    for (int64_t i = 0; i < a.numel(); ++i)
      if (a.get(i) != b.get(i)) {
        os << "element " << i << ": cpu " << a.get(i) << ", " << other << " " << b.get(i)
           << " (exact match required for " << dtName(s.dt) << ")";
        return os.str();
      }
    return "";
  }
  double maxAbs = 0, maxDiff = 0;
  int64_t worst = -1;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.get(i), y = b.get(i);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) {
        os << "element " << i << ": cpu " << x << ", " << other << " " << y
           << " (NaN positions differ)";
        return os.str();
      }
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) {
        os << "element " << i << ": cpu " << x << ", " << other << " " << y
           << " (inf positions differ)";
        return os.str();
      }
      continue;
    }
    maxAbs = std::max(maxAbs, std::fabs(x));
    double diff = std::fabs(x - y);
    if (diff > maxDiff) {
      maxDiff = diff;
      worst = i;
    }
  }
  double bound = tol * std::max(maxAbs, 1e-6);
  if (maxDiff > bound) {
    os << "max |diff| " << maxDiff << " at element " << worst << " (cpu " << a.get(worst) << ", "
       << other << " " << b.get(worst) << ") exceeds " << tol << " * max|cpu| " << maxAbs << " = "
       << bound;
    return os.str();
  }
  return "";
}

/// Compares every output; adds one failure per mismatching output.
void expectSame(const Case &c, const std::vector<std::vector<char>> &want,
                const std::vector<std::vector<char>> &got, const std::string &other,
                const std::string &what) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t k = 0; k < c.out.size(); ++k) {
    double tol = c.tol >= 0 ? c.tol : defaultTol(c.ins.ins.kernel(), c.out[k].dt);
    std::string err = compareOutput(c.out[k], want[k], got[k], tol, other);
    EXPECT_EQ(err, "") << c.name << ": output " << k << " (" << dtName(c.out[k].dt)
                       << shapeString(c.out[k].shape) << ") " << what << ": " << err;
  }
}

// ---------------------------------------------------------------- the test

class CudaVsCpu : public ::testing::TestWithParam<Case> {};

TEST_P(CudaVsCpu, Matches) {
  const Case &c = GetParam();
  std::unique_ptr<Built> b;
  Data d;
  try {
    b = buildPlan(c);
    d = makeInputs(c);
  } catch (const std::exception &e) {
    FAIL() << c.name << ": the plan does not build or validate: " << e.what();
  }

  // CPU reference, run twice on fresh executors: the runs must agree (exercises the harness).
  std::vector<std::vector<char>> want, again;
  auto cpuComm = makeSingleRankCommunicator();
  try {
    CpuExecutor cpu(b->lp, *cpuComm);
    want = runOn(cpu, *b, c, d);
    CpuExecutor cpu2(b->lp, *cpuComm);
    again = runOn(cpu2, *b, c, d);
  } catch (const std::exception &e) {
    FAIL() << c.name << ": the CPU executor failed: " << e.what();
  }
  ASSERT_NO_FATAL_FAILURE(expectSame(c, want, again, "cpu#2", "differs between two CPU runs"));
  if (HasFailure())
    return;

  std::string why;
  if (!loadCudaBackend(why))
    GTEST_SKIP() << "no CUDA device: " << why;
  if (cudaDeviceCount() == 0)
    GTEST_SKIP() << "no CUDA device: the plugin loaded but cudaDeviceCount() == 0";

  auto gpuComm = makeSingleRankCommunicator();
  std::vector<std::vector<char>> got;
  std::string desc;
  try {
    // NCCL's start-up costs ~0.4 s: only collective cases use it; the rest stage collectives
    // (there are none) through the host.
    CudaOptions opt;
    bool collective = false;
    for (const char *p : {"all_reduce", "all_gather", "reduce_scatter", "broadcast"})
      collective |= c.name.rfind(p, 0) == 0;
    opt.comm = collective ? "nccl" : "host";
    std::unique_ptr<ExecutorBase> gpu = makeCudaExecutor(b->lp, *gpuComm, opt);
    ASSERT_NE(gpu, nullptr) << "makeCudaExecutor returned null";
    desc = gpu->describe();
    got = runOn(*gpu, *b, c, d);
  } catch (const std::exception &e) {
    FAIL() << c.name << ": the CUDA executor failed: " << e.what();
  }
  SCOPED_TRACE("cuda executor: " + desc);
  expectSame(c, want, got, "cuda", "differs between CPU and CUDA");
}

INSTANTIATE_TEST_SUITE_P(Kernels, CudaVsCpu, ::testing::ValuesIn(allCases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           std::string n = info.param.name;
                           for (char &ch : n)
                             if (!std::isalnum((unsigned char)ch))
                               ch = '_';
                           return n;
                         });

// Tests that cuDNN's fused SDPA (forward and backward, bf16/f16, causal, additive masks,
// grouped-query heads, packed qkv) matches the CPU kernels within the mixed-precision
// tolerance, and so does the fallback kernel on the same cases;
// DS_CUDNN_ATTENTION=require makes a refusal an error, so these cases cannot pass on the
// fallback silently.
TEST(CudnnAttention, MatchesCpuWithinMixedPrecisionTolerance) {
  std::string why;
  if (!loadCudaBackend(why) || cudaDeviceCount() == 0)
    GTEST_SKIP() << "no CUDA device";
  std::vector<Case> cases;
  auto add = [&](std::string name, Ins ins, std::vector<Spec> in, std::vector<Spec> out) {
    cases.push_back(Case{std::move(name), std::move(ins), std::move(in), std::move(out), -1});
  };
  const std::vector<int64_t> q{2, 4, 128, 64}, kv{2, 2, 128, 64}, lse{2, 4, 128};
  add("fwd_bf16_causal", K("attention").f("scale", 0.125).i("causal", 1),
      {R(BF16, q), R(BF16, q), R(BF16, q)}, {R(BF16, q), R(F32, lse)});
  add("fwd_f16_additive_mask", K("attention").f("scale", 0.125),
      {R(F16, q), R(F16, q), R(F16, q), R(F16, {128, 128}, -3, 0)}, {R(F16, q), R(F32, lse)});
  add("fwd_bf16_batch_mask", K("attention").f("scale", 0.125),
      {R(BF16, q), R(BF16, q), R(BF16, q), R(BF16, {2, 1, 128, 128}, -3, 0)},
      {R(BF16, q), R(F32, lse)});
  add("fwd_bf16_grouped_query", K("attention").f("scale", 0.125).i("causal", 1),
      {R(BF16, q), R(BF16, kv), R(BF16, kv)}, {R(BF16, q), R(F32, lse)});
  add("bwd_bf16_causal", K("attention_grad").f("scale", 0.125).i("causal", 1),
      {R(BF16, q), R(BF16, q), R(BF16, q), R(BF16, q), R(BF16, q), R(F32, lse, 4.5, 5.5)},
      {R(BF16, q), R(BF16, q), R(BF16, q)});
  add("bwd_f16_additive_mask", K("attention_grad").f("scale", 0.125),
      {R(F16, q), R(F16, q), R(F16, q), R(F16, q), R(F16, q), R(F32, lse, 4.5, 5.5),
       R(F16, {128, 128}, -3, 0)},
      {R(F16, q), R(F16, q), R(F16, q)});
  add("bwd_bf16_grouped_query", K("attention_grad").f("scale", 0.125).i("causal", 1),
      {R(BF16, q), R(BF16, q), R(BF16, kv), R(BF16, kv), R(BF16, q), R(F32, lse, 4.5, 5.5)},
      {R(BF16, q), R(BF16, kv), R(BF16, kv)});
  // Packed: q, k, v (dq, dk, dv) as parts of one [B, T, 3, H, D] buffer, by strides.
  const std::vector<int64_t> qkv{2, 128, 3, 4, 64}, o{2, 128, 4, 64};
  add("fwd_bf16_packed_causal", K("packed_attention").f("scale", 0.125).i("causal", 1),
      {R(BF16, qkv)}, {R(BF16, o), R(F32, lse)});
  add("bwd_bf16_packed_causal",
      K("packed_attention_grad").f("scale", 0.125).i("causal", 1),
      {R(BF16, o), R(BF16, qkv), R(BF16, o), R(F32, lse, 4.5, 5.5)}, {R(BF16, qkv)});
  add("bwd_f16_packed_additive_mask", K("packed_attention_grad").f("scale", 0.125),
      {R(F16, o), R(F16, qkv), R(F16, o), R(F32, lse, 4.5, 5.5),
       R(F16, {128, 128}, -3, 0)},
      {R(F16, qkv)});
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    auto b = buildPlan(c);
    Data d = makeInputs(c);
    auto comm = makeSingleRankCommunicator();
    CpuExecutor cpu(b->lp, *comm);
    std::vector<std::vector<char>> want = runOn(cpu, *b, c, d);
    for (const char *mode : {"require", "0"}) {
      setenv("DS_CUDNN_ATTENTION", mode, 1);
      CudaOptions opt;
      opt.comm = "host";
      std::vector<std::vector<char>> got;
      std::string desc;
      try {
        auto gpu = makeCudaExecutor(b->lp, *comm, opt);
        desc = gpu->describe();
        got = runOn(*gpu, *b, c, d);
      } catch (const std::exception &e) {
        ADD_FAILURE() << c.name << " (DS_CUDNN_ATTENTION=" << mode << "): " << e.what();
        continue;
      }
      EXPECT_NE(desc.find(std::string(mode) == "0" ? "cuDNN attention 0/1"
                                                   : "cuDNN attention 1/1"),
                std::string::npos)
          << desc;
      expectSame(c, want, got, std::string("cuda (DS_CUDNN_ATTENTION=") + mode + ")",
                 "differs between CPU and CUDA");
    }
    unsetenv("DS_CUDNN_ATTENTION");
  }
}

} // namespace
