// Mixed precision: the loss scaler, all_finite, skipped steps, f16/bf16 storage through the
// training kernels and the initializers loaded into 16-bit buffers.
#include <set>
#include "TrainingKernelTestUtil.h"

// ------------------------------------------------------------------ mixed precision

namespace {
// REFERENCE §5 written out as the DeepSpeed code reads (loss_scaler.py DynamicLossScaler for
// ZeRO 1-3, fused_optimizer.py FP16_Optimizer._update_scale for stage 0).
struct RefScaler {
  double S;
  int64_t it = 0, last = -1, hy;
  int64_t h, w;
  bool consecutive, zero, dynamic;
  double factor = 2, minScale = 1;
  // Returns false when DeepSpeed raises.
  bool step(bool overflow) {
    if (!dynamic) {
      if (overflow)
        last = it;
      it += 1;
      return true;
    }
    if (overflow) {
      if (!zero) {
        S = std::max(S / factor, minScale);
      } else if (h == 1 || hy == 1) {
        if (S == minScale)
          return false;
        S = std::max(S / factor, minScale);
      } else {
        hy -= 1;
      }
      last = it;
    } else {
      if (zero && consecutive)
        hy = h;
      int64_t k = it - last - 1;
      if (k > 0 && k % w == 0) {
        if (zero && !consecutive)
          hy = h;
        S *= factor;
      }
    }
    it += 1;
    return true;
  }
};

struct ScaleCfg {
  bool dynamic = true, zero = true, consecutive = false;
  int64_t w = 1000, h = 2;
  double factor = 2, minScale = 1;
};

Ins lossScaleIns(const ScaleCfg &c) {
  Ins ins("loss_scale_update");
  ins.i("dynamic", c.dynamic).i("zero", c.zero).i("consecutive_hysteresis", c.consecutive);
  ins.i("scale_window", c.w).i("hysteresis", c.h).f("scale_factor", c.factor).f("min_scale", c.minScale);
  return ins;
}

// Runs the kernel in place (new_scale over scale, new_counters over counters) on a sequence
// of overflow flags; returns the scale after each step, or stops at the first kernel error
// (recorded in *err).
std::vector<double> runScaleSequence(const ScaleCfg &c, double S0, const std::vector<bool> &ovf,
                                     std::string *err = nullptr,
                                     std::vector<int64_t> *counters = nullptr) {
  HostTensor scale = scalarF32(S0), ctr = fromValues(I64, {3}, {0, -1, double(c.h)});
  std::vector<double> out;
  Ins ins = lossScaleIns(c);
  EXPECT_EQ(checkKernel(ins, {&scale, &scale, &ctr}, {&scale, &ctr}), "");
  RunFn fn = findCpuKernel("loss_scale_update");
  ExecContext ctx;
  for (bool o : ovf) {
    HostTensor fin = scalarF32(o ? 0.0 : 1.0);
    KernelCall call{ins.ins, {fin.tensor(), scale.tensor(), ctr.tensor()},
                    {scale.tensor(), ctr.tensor()}, ctx, decodeKernelAttrs(ins.ins)};
    try {
      fn(call);
    } catch (const Error &e) {
      if (err)
        *err = e.what();
      break;
    }
    out.push_back(scale.get(0));
  }
  if (counters)
    *counters = {ctr.as<int64_t>()[0], ctr.as<int64_t>()[1], ctr.as<int64_t>()[2]};
  return out;
}

std::vector<double> refScaleSequence(const ScaleCfg &c, double S0, const std::vector<bool> &ovf,
                                     bool *raised = nullptr, RefScaler *state = nullptr) {
  RefScaler r{S0, 0, -1, c.h, c.h, c.w, c.consecutive, c.zero, c.dynamic, c.factor, c.minScale};
  std::vector<double> out;
  if (raised)
    *raised = false;
  for (bool o : ovf) {
    if (!r.step(o)) {
      if (raised)
        *raised = true;
      break;
    }
    out.push_back(r.S);
  }
  if (state)
    *state = r;
  return out;
}

std::vector<bool> flags(const std::string &s) { // 'x' = overflow, '.' = clean
  std::vector<bool> v;
  for (char ch : s)
    v.push_back(ch == 'x');
  return v;
}

std::string seqString(const std::vector<double> &v) {
  std::string s;
  for (double d : v)
    s += std::to_string(int64_t(d)) + " ";
  return s;
}
} // namespace

TEST(MixedPrecision, LossScaleHandWrittenSequences) {
  ScaleCfg c;
  c.w = 2;
  // First doubling after w+1 clean steps, then every w.
  EXPECT_EQ(runScaleSequence(c, 16, flags(".......")),
            (std::vector<double>{16, 16, 32, 32, 64, 64, 128}));
  // Hysteresis 2: the first overflow only uses up hysteresis; the second halves; with hy = 1
  // left, the third halves again.
  EXPECT_EQ(runScaleSequence(c, 16, flags("xxx")), (std::vector<double>{16, 8, 4}));
  // After an overflow the window restarts: it=1 overflow (hy 2->1), clean it=2,3 (k=0,1),
  // it=4 k=2 -> double and hy refilled; then one overflow is absorbed again.
  EXPECT_EQ(runScaleSequence(c, 16, flags(".x...x")), (std::vector<double>{16, 16, 16, 16, 32, 32}));
  // Non-consecutive hysteresis does not refill on clean steps: x . x halves.
  EXPECT_EQ(runScaleSequence(c, 16, flags("x.x")), (std::vector<double>{16, 16, 8}));
  // Consecutive hysteresis refills on every clean step: x . x never halves.
  ScaleCfg cc = c;
  cc.consecutive = true;
  EXPECT_EQ(runScaleSequence(cc, 16, flags("x.x.x")), (std::vector<double>{16, 16, 16, 16, 16}));
  EXPECT_EQ(runScaleSequence(cc, 16, flags("xx")), (std::vector<double>{16, 8}));
  // Stage 0: every overflow halves, floored at min, never raises; doubling as ZeRO.
  ScaleCfg s0 = c;
  s0.zero = false;
  s0.minScale = 4;
  EXPECT_EQ(runScaleSequence(s0, 16, flags("xxxx...")),
            (std::vector<double>{8, 4, 4, 4, 4, 4, 8}));
  // Min floor in ZeRO: 16 -> (hy) 16 -> 8 -> floor 6 -> at min: raise.
  ScaleCfg zm = c;
  zm.minScale = 6;
  std::string err;
  std::vector<int64_t> ctr;
  EXPECT_EQ(runScaleSequence(zm, 16, flags("xxxx"), &err, &ctr), (std::vector<double>{16, 8, 6}));
  EXPECT_EQ(err, "loss scale is already at min_loss_scale (6) and the gradients overflowed again");
  // Static scale: never changes, counters still advance.
  ScaleCfg st;
  st.dynamic = false;
  EXPECT_EQ(runScaleSequence(st, 128, flags("x..x..."), nullptr, &ctr),
            (std::vector<double>(7, 128)));
  EXPECT_EQ(ctr, (std::vector<int64_t>{7, 3, 2}));
  // Counters after a ZeRO run: {it, last overflow, hysteresis left}.
  runScaleSequence(c, 16, flags("..x.."), nullptr, &ctr);
  EXPECT_EQ(ctr, (std::vector<int64_t>{5, 2, 1}));
  // h = 1: every overflow halves.
  ScaleCfg h1 = c;
  h1.h = 1;
  EXPECT_EQ(runScaleSequence(h1, 16, flags("x.x")), (std::vector<double>{8, 8, 4}));
  // Default window 1000: first doubling at the 1001st clean step.
  ScaleCfg d;
  auto seq = runScaleSequence(d, 65536, std::vector<bool>(2001, false));
  EXPECT_EQ(seq[999], 65536);
  EXPECT_EQ(seq[1000], 131072);
  EXPECT_EQ(seq[1999], 131072);
  EXPECT_EQ(seq[2000], 262144);
}

TEST(MixedPrecision, LossScaleRandomSequencesMatchReference) {
  std::mt19937 r(7);
  for (int trial = 0; trial < 400; ++trial) {
    ScaleCfg c;
    c.zero = r() % 4 != 0;
    c.consecutive = r() % 2;
    c.dynamic = r() % 8 != 0;
    c.w = 1 + int64_t(r() % 5);
    c.h = 1 + int64_t(r() % 3);
    c.factor = r() % 3 == 0 ? 4 : 2;
    c.minScale = r() % 2 ? 1 : 0.25;
    double S0 = double(int64_t(1) << (r() % 8));
    double p = (r() % 5 + 1) / 10.0;
    std::vector<bool> ovf;
    for (int i = 0; i < 60; ++i)
      ovf.push_back(std::uniform_real_distribution<double>(0, 1)(r) < p);
    std::string err;
    bool raised;
    std::vector<int64_t> ctr;
    RefScaler st{};
    auto want = refScaleSequence(c, S0, ovf, &raised, &st);
    auto got = runScaleSequence(c, S0, ovf, &err, &ctr);
    std::string what = "trial " + std::to_string(trial) + " zero " + std::to_string(c.zero) +
                       " consecutive " + std::to_string(c.consecutive) + " w " +
                       std::to_string(c.w) + " h " + std::to_string(c.h);
    ASSERT_EQ(got, want) << what << "\n got " << seqString(got) << "\nwant " << seqString(want);
    ASSERT_EQ(raised, !err.empty()) << what << ": " << err;
    if (!raised) {
      EXPECT_EQ(ctr[0], st.it) << what;
      EXPECT_EQ(ctr[1], st.last) << what;
      EXPECT_EQ(ctr[2], st.hy) << what;
    }
  }
}

TEST(MixedPrecision, LossScaleRejects) {
  ScaleCfg c;
  HostTensor f = scalarF32(1), s = scalarF32(1), ctr(I64, {3}), ctr2(I64, {2}), s1(F32, {1}),
      d(F64, {});
  EXPECT_EQ(checkKernel(lossScaleIns(c), {&f, &s, &ctr}, {&s, &ctr}), "");
  EXPECT_NE(checkKernel(lossScaleIns(c), {&f, &s, &ctr2}, {&s, &ctr}).find("counters must be i64[3]"),
            std::string::npos);
  EXPECT_NE(checkKernel(lossScaleIns(c), {&f, &s1, &ctr}, {&s, &ctr}).find("scale must be"),
            std::string::npos);
  EXPECT_NE(checkKernel(lossScaleIns(c), {&d, &s, &ctr}, {&s, &ctr}).find("finite must be"),
            std::string::npos);
  EXPECT_NE(checkKernel(lossScaleIns(c), {&f, &s, &ctr}, {&s}).find("produces 2 outputs"),
            std::string::npos);
  ScaleCfg bad = c;
  bad.w = 0;
  EXPECT_NE(checkKernel(lossScaleIns(bad), {&f, &s, &ctr}, {&s, &ctr}).find("scale_window"),
            std::string::npos);
  bad = c;
  bad.h = 0;
  EXPECT_NE(checkKernel(lossScaleIns(bad), {&f, &s, &ctr}, {&s, &ctr}).find("hysteresis"),
            std::string::npos);
  EXPECT_NE(checkKernel(Ins("loss_scale_update").i("zero", 2), {&f, &s, &ctr}, {&s, &ctr}).find("'zero'"),
            std::string::npos);
  // Defaults: every attribute is optional.
  EXPECT_EQ(checkKernel(Ins("loss_scale_update"), {&f, &s, &ctr}, {&s, &ctr}), "");
  EXPECT_TRUE(findKernelSignature("loss_scale_update")->inPlace);
  // A zeroed (uninitialized) counter buffer is a run-time error naming the contract.
  RunFn fn = findCpuKernel("loss_scale_update");
  ExecContext ctx;
  Ins ins = lossScaleIns(c);
  KernelCall call{ins.ins, {f.tensor(), s.tensor(), ctr.tensor()}, {s.tensor(), ctr.tensor()}, ctx, decodeKernelAttrs(ins.ins)};
  try {
    fn(call);
    FAIL() << "zeroed counters accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("INIT must write {0, -1, hysteresis}"), std::string::npos)
        << e.what();
  }
}

TEST(MixedPrecision, LossScaleOverflowAtMinAbortsTheRunWithOneLine) {
  // Through the executor: INIT writes {0, -1, 1} and S = 1 = min; one overflowing step.
  namespace pb = ds::plan;
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(1);
  p.set_alignment(64);
  p.set_arena_bytes(64);
  p.set_persistent_bytes(256);
  p.set_predicted_peak_bytes(64);
  p.set_loss_output(-1);
  auto buf = [&](uint32_t id, pb::DType dt, std::vector<int64_t> shape, pb::Placement pl, uint64_t off) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(dt);
    for (auto d : shape)
      b->add_shape(d);
    b->set_placement(pl);
    b->set_offset(off);
  };
  buf(1, pb::F32, {}, pb::PERSISTENT, 0);   // scale
  buf(2, pb::I64, {3}, pb::PERSISTENT, 64); // counters
  buf(3, pb::F32, {}, pb::ARENA, 0);        // finite
  auto *init = p.add_programs();
  init->set_name("init");
  init->set_role(pb::Program::INIT);
  auto *c1 = init->add_instructions();
  c1->set_kernel("fill");
  (*c1->mutable_attrs())["value"].set_f(1.0);
  c1->add_outputs(1);
  auto *c2 = init->add_instructions();
  c2->set_kernel("constant");
  for (int64_t v : {0, -1, 1})
    (*c2->mutable_attrs())["value"].mutable_ints()->add_values(v);
  c2->add_outputs(2);
  auto *prog = p.add_programs();
  prog->set_name("apply");
  prog->set_role(pb::Program::APPLY_STEP);
  auto *f = prog->add_instructions();
  f->set_kernel("fill");
  (*f->mutable_attrs())["value"].set_f(0.0);
  f->add_outputs(3);
  auto *u = prog->add_instructions();
  u->set_kernel("loss_scale_update");
  (*u->mutable_attrs())["hysteresis"].set_i(1);
  u->add_inputs(3);
  u->add_inputs(1);
  u->add_inputs(2);
  u->add_outputs(1);
  u->add_outputs(2);
  LoadedPlan lp = parsePlan(serializePlan(p), "scale.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor ex(lp, *comm);
  ASSERT_TRUE(ex.runRole(pb::Program::INIT));
  EXPECT_EQ(ex.tensor(2).as<int64_t>()[1], -1);
  try {
    ex.runRole(pb::Program::APPLY_STEP);
    FAIL() << "overflow at min_loss_scale did not abort";
  } catch (const Error &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("loss scale is already at min_loss_scale (1) and the gradients overflowed again"),
              std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(MixedPrecision, AllFinite) {
  auto run = [](std::vector<HostTensor *> in) {
    HostTensor r(F32, {});
    r.set(0, 7);
    runKernel(Ins("all_finite"), in, {&r});
    return r.get(0);
  };
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  for (DType dt : {F32, F64, F16, BF16}) {
    SCOPED_TRACE(dtypeName(dt));
    HostTensor a = randomTensor(dt, {3, 5}, rng(), -100, 100);
    HostTensor big = randomTensor(dt, {70000}, rng());
    HostTensor s = fromValues(dt, {}, {dt == F16 ? 65504.0 : dt == BF16 ? 3.3895313892515355e38 : 1e30});
    HostTensor e(dt, {0, 4});
    EXPECT_EQ(run({&a}), 1.0);
    EXPECT_EQ(run({&a, &big, &s, &e}), 1.0);
    for (double bad : {inf, -inf, nan}) {
      HostTensor b = big;
      b.set(69999, bad);
      EXPECT_EQ(run({&a, &b}), 0.0) << bad;
      EXPECT_EQ(run({&b, &a}), 0.0) << bad;
      HostTensor sb = fromValues(dt, {}, {bad});
      EXPECT_EQ(run({&sb}), 0.0) << bad;
    }
  }
  // Mixed dtypes in one call; an f16 overflow from a cast (70000 -> inf) is caught.
  HostTensor x = randomTensor(F32, {4}, rng()), h = fromValues(F16, {2}, {1, 70000});
  EXPECT_EQ(run({&x, &h}), 0.0);
  HostTensor r(F32, {}), i(I64, {2}), rv(F32, {1}), rd(F64, {});
  EXPECT_NE(checkKernel(Ins("all_finite"), {&x, &i}, {&r}).find("floating point"), std::string::npos);
  EXPECT_NE(checkKernel(Ins("all_finite"), {&x}, {&rv}).find("result must be a f32 scalar"), std::string::npos);
  EXPECT_NE(checkKernel(Ins("all_finite"), {&x}, {&rd}).find("result must be"), std::string::npos);
  EXPECT_NE(checkKernel(Ins("all_finite"), {}, {&r}).find("at least 1 input"), std::string::npos);
}

TEST(MixedPrecision, OptimizersSkipNonFiniteSteps) {
  for (DType dt : {F32, F64, BF16, F16}) {
    SCOPED_TRACE(dtypeName(dt));
    int64_t n = 11;
    HostTensor p = randomTensor(dt, {n}, rng()), g = randomTensor(dt, {n}, rng());
    HostTensor m = randomTensor(dt, {n}, rng()), v = randomTensor(dt, {n}, rng(), 0, 1);
    HostTensor lr = scalarF32(1e-2), t = scalarI64(3), yes = scalarF32(1), no = scalarF32(0),
               nanF = scalarF32(std::nan(""));
    AdamCfg c;
    c.wd = 0.1;
    // finite = 1 gives exactly the 6-operand result.
    HostTensor p1(dt, {n}), m1(dt, {n}), v1(dt, {n}), p2(dt, {n}), m2(dt, {n}), v2(dt, {n});
    runKernel(adamIns(c), {&p, &g, &m, &v, &lr, &t}, {&p1, &m1, &v1});
    runKernel(adamIns(c), {&p, &g, &m, &v, &lr, &t, &yes}, {&p2, &m2, &v2});
    EXPECT_EQ(p1.bytes, p2.bytes);
    EXPECT_EQ(m1.bytes, m2.bytes);
    EXPECT_EQ(v1.bytes, v2.bytes);
    // finite = 0 (or NaN): outputs = inputs, bit for bit, even with step 0.
    for (HostTensor *fin : {&no, &nanF}) {
      HostTensor p3(dt, {n}), m3(dt, {n}), v3(dt, {n}), t0 = scalarI64(0);
      runKernel(adamIns(c), {&p, &g, &m, &v, &lr, &t0, fin}, {&p3, &m3, &v3});
      EXPECT_EQ(p3.bytes, p.bytes);
      EXPECT_EQ(m3.bytes, m.bytes);
      EXPECT_EQ(v3.bytes, v.bytes);
    }
    // In place and skipped: nothing changes.
    HostTensor pc = p, mc = m, vc = v;
    RunFn fn = findCpuKernel("adam_update");
    ExecContext ctx;
    Ins ins = adamIns(c);
    KernelCall call{ins.ins,
                    {pc.tensor(), g.tensor(), mc.tensor(), vc.tensor(), lr.tensor(), t.tensor(), no.tensor()},
                    {pc.tensor(), mc.tensor(), vc.tensor()},
                    ctx, decodeKernelAttrs(ins.ins)};
    fn(call);
    EXPECT_EQ(pc.bytes, p.bytes);
    EXPECT_EQ(mc.bytes, m.bytes);
    EXPECT_EQ(vc.bytes, v.bytes);
    // In place and applied equals the out-of-place result.
    KernelCall call2{ins.ins,
                     {pc.tensor(), g.tensor(), mc.tensor(), vc.tensor(), lr.tensor(), t.tensor(), yes.tensor()},
                     {pc.tensor(), mc.tensor(), vc.tensor()},
                     ctx, decodeKernelAttrs(ins.ins)};
    fn(call2);
    EXPECT_EQ(pc.bytes, p1.bytes);

    // SGD with momentum.
    SgdCfg sc;
    sc.mu = 0.9;
    sc.wd = 0.01;
    HostTensor b = randomTensor(dt, {n}, rng());
    HostTensor q1(dt, {n}), b1(dt, {n}), q2(dt, {n}), b2(dt, {n}), q3(dt, {n}), b3(dt, {n});
    runKernel(sgdIns(sc), {&p, &g, &b, &lr, &t}, {&q1, &b1});
    runKernel(sgdIns(sc), {&p, &g, &b, &lr, &t, &yes}, {&q2, &b2});
    EXPECT_EQ(q1.bytes, q2.bytes);
    EXPECT_EQ(b1.bytes, b2.bytes);
    runKernel(sgdIns(sc), {&p, &g, &b, &lr, &t, &no}, {&q3, &b3});
    EXPECT_EQ(q3.bytes, p.bytes);
    EXPECT_EQ(b3.bytes, b.bytes);
    HostTensor qc = p, bc = b;
    Ins sins = sgdIns(sc);
    KernelCall call3{sins.ins, {qc.tensor(), g.tensor(), bc.tensor(), lr.tensor(), t.tensor(), no.tensor()},
                     {qc.tensor(), bc.tensor()}, ctx, decodeKernelAttrs(sins.ins)};
    findCpuKernel("sgd_update")(call3);
    EXPECT_EQ(qc.bytes, p.bytes);
    EXPECT_EQ(bc.bytes, b.bytes);
  }
  // Load-time: the finite operand must be an f32 scalar; one extra operand at most.
  HostTensor p(F32, {4}), lr = scalarF32(1), t = scalarI64(1), f64s(F64, {}), fv(F32, {1}),
      fin = scalarF32(1);
  AdamCfg c;
  EXPECT_NE(checkKernel(adamIns(c), {&p, &p, &p, &p, &lr, &t, &f64s}, {&p, &p, &p}).find("finite must be"),
            std::string::npos);
  EXPECT_NE(checkKernel(adamIns(c), {&p, &p, &p, &p, &lr, &t, &fv}, {&p, &p, &p}).find("finite must be"),
            std::string::npos);
  EXPECT_NE(checkKernel(adamIns(c), {&p, &p, &p, &p, &lr, &t, &fin, &fin}, {&p, &p, &p}).find("takes 6..7 inputs"),
            std::string::npos);
  SgdCfg sc;
  EXPECT_NE(checkKernel(sgdIns(sc), {&p, &p, &p, &lr, &t, &fv}, {&p, &p}).find("finite must be"),
            std::string::npos);
  EXPECT_NE(checkKernel(sgdIns(sc), {&p, &p, &p, &lr, &t, &fin, &fin}, {&p, &p}).find("takes 5..6 inputs"),
            std::string::npos);
}

namespace {
// A plan with one persistent buffer per (dtype, shape, shard) binding of the model's
// initializers; loads it on `rank` of `world` and returns the error ("" on success).
struct ParamBinding {
  std::string init;
  ds::plan::DType dtype;
  std::vector<int64_t> shape;
  bool flat;
};
std::string loadParams(const std::string &dir, const std::vector<ParamBinding> &bs, int rank,
                       int world, std::vector<std::vector<uint16_t>> *out16 = nullptr,
                       std::vector<std::vector<float>> *out32 = nullptr) {
  namespace pb = ds::plan;
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(world);
  p.set_alignment(64);
  p.set_arena_bytes(64);
  p.set_persistent_bytes(64 * 64);
  p.set_predicted_peak_bytes(0);
  p.set_loss_output(-1);
  p.set_model_file(dir + "/m.onnx");
  for (size_t i = 0; i < bs.size(); ++i) {
    auto *b = p.add_buffers();
    b->set_id(uint32_t(i + 1));
    b->set_dtype(bs[i].dtype);
    for (auto d : bs[i].shape)
      b->add_shape(d);
    b->set_placement(pb::PERSISTENT);
    b->set_offset(64 * i);
    auto *par = p.add_parameters();
    par->set_symbol("p" + std::to_string(i));
    par->set_initializer(bs[i].init);
    par->set_buffer(uint32_t(i + 1));
    if (bs[i].flat)
      par->mutable_shard()->set_kind(pb::ShardSpec::FLAT_1D);
  }
  try {
    LoadedPlan lp = parsePlan(serializePlan(p), dir + "/p.dsplan", world);
    auto comm = makeSingleRankCommunicator();
    CpuExecutor ex(lp, *comm);
    loadParameters(lp, ex, rank, world);
    for (size_t i = 0; i < bs.size(); ++i) {
      Tensor t = ex.tensor(uint32_t(i + 1));
      if (out16 && dtypeSize(t.dtype) == 2)
        out16->emplace_back(t.as<uint16_t>(), t.as<uint16_t>() + t.numel);
      if (out32 && t.dtype == pb::F32)
        out32->emplace_back(t.as<float>(), t.as<float>() + t.numel);
    }
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}
} // namespace

TEST(MixedPrecision, F32InitializersLoadIntoF16AndBf16Buffers) {
  char tmpl[] = "/tmp/ds-params-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  const float inf = std::numeric_limits<float>::infinity();
  // Values chosen for round-to-nearest-even in both formats: f16 ties 1+2^-11 -> 1,
  // 1+3*2^-11 -> 1+2^-9, 70000 -> inf; bf16 ties 1+2^-8 -> 1, 1+3*2^-8 -> 1+2^-6.
  std::vector<float> w = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 70000.0f,
                          1.0f + 1.0f / 256,  1.0f + 3.0f / 256,  -inf};
  onnx::ModelProto m;
  auto *g = m.mutable_graph();
  auto *raw = g->add_initializer(); // raw_data
  raw->set_name("w");
  raw->set_data_type(onnx::TensorProto::FLOAT);
  raw->add_dims(2);
  raw->add_dims(3);
  raw->set_raw_data(std::string(reinterpret_cast<const char *>(w.data()), w.size() * 4));
  auto *typed = g->add_initializer(); // float_data
  typed->set_name("u");
  typed->set_data_type(onnx::TensorProto::FLOAT);
  typed->add_dims(5);
  for (float v : {0.5f, -2.0f, 3.0f, 1.0f + 1.0f / 256, 7.0f})
    typed->add_float_data(v);
  auto *d = g->add_initializer();
  d->set_name("d");
  d->set_data_type(onnx::TensorProto::DOUBLE);
  d->add_dims(2);
  d->add_double_data(1);
  d->add_double_data(2);
  auto *h = g->add_initializer();
  h->set_name("h");
  h->set_data_type(onnx::TensorProto::FLOAT16);
  h->add_dims(2);
  h->add_int32_data(0x3c00);
  h->add_int32_data(0x4000);
  {
    std::ofstream f(dir + "/m.onnx", std::ios::binary);
    m.SerializeToOstream(&f);
  }
  using ds::plan::BF16;
  std::vector<std::vector<uint16_t>> v16;
  std::vector<std::vector<float>> v32;
  // The same initializer bound three times (f32 master, f16 and bf16 working copies), and
  // float_data into a rank's bf16 flat shard.
  ASSERT_EQ(loadParams(dir,
                       {{"w", F32, {2, 3}, false},
                        {"w", F16, {2, 3}, false},
                        {"w", BF16, {2, 3}, false},
                        {"u", BF16, {3}, true},
                        {"u", F16, {3}, true}},
                       1, 2, &v16, &v32),
            "");
  ASSERT_EQ(v32.size(), 1u);
  EXPECT_EQ(v32[0], w);
  ASSERT_EQ(v16.size(), 4u);
  EXPECT_EQ(v16[0], (std::vector<uint16_t>{0x3c00, 0x3c02, 0x7c00, 0x3c04, 0x3c0c, 0xfc00}));
  // bf16 of 1+2^-11 and 1+3*2^-11: 1; 70000 = 0x4788b8 -> RNE 0x4789 (70144).
  EXPECT_EQ(v16[1], (std::vector<uint16_t>{0x3f80, 0x3f80, 0x4789, 0x3f80, 0x3f82, 0xff80}));
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(v16[1][i], floatToBf16(w[i])) << i;
  // Rank 1 of 2 holds u[3..5): 1+2^-8 (bf16 tie -> 1.0), 7, then zero padding.
  EXPECT_EQ(v16[2], (std::vector<uint16_t>{0x3f80, 0x40e0, 0x0000}));
  EXPECT_EQ(v16[3], (std::vector<uint16_t>{0x3c04, 0x4700, 0x0000}));
  // Rank 0 of 2: u[0..3).
  v16.clear();
  ASSERT_EQ(loadParams(dir, {{"u", F16, {3}, true}}, 0, 2, &v16), "");
  EXPECT_EQ(v16[0], (std::vector<uint16_t>{0x3800, 0xc000, 0x4200}));
  // Other mismatches stay errors.
  std::string err = loadParams(dir, {{"d", F16, {2}, false}}, 0, 1);
  EXPECT_NE(err.find("the model stores f64, the plan expects f16"), std::string::npos) << err;
  err = loadParams(dir, {{"h", F32, {2}, false}}, 0, 1);
  EXPECT_NE(err.find("the model stores f16, the plan expects f32"), std::string::npos) << err;
  err = loadParams(dir, {{"w", ds::plan::F64, {2, 3}, false}}, 0, 1);
  EXPECT_NE(err.find("the model stores f32, the plan expects f64"), std::string::npos) << err;
  err = loadParams(dir, {{"w", F16, {3, 2}, false}}, 0, 1);
  EXPECT_NE(err.find("differs from the plan's"), std::string::npos) << err;
  // Twice into the same dtype is still a plan error.
  err = loadParams(dir, {{"w", F16, {2, 3}, false}, {"w", F16, {2, 3}, false}}, 0, 1);
  EXPECT_NE(err.find("loaded twice into f16 buffers"), std::string::npos) << err;
  std::remove((dir + "/m.onnx").c_str());
  rmdir(dir.c_str());
}

// ------------------------------------------------------------------ f16/bf16 through every
// training-step kernel: each runs on f16/bf16 operands and on the same values in f32; since
// 16-bit operands are computed in f32 and rounded once (RNE), the 16-bit result must be the
// f32 result rounded, bit for bit.
namespace {
/// `wideIn` / `wideOut`: f32 operands and results that stay f32 in the 16-bit run (a loss over
/// 16-bit scores, its incoming gradient); a wide result must equal the f32 run's exactly.
void expectLowMatchesF32(const Ins &ins, std::vector<HostTensor> in, std::vector<HostTensor> out,
                         DType dt, const std::string &what, const std::set<size_t> &wideIn = {},
                         const std::set<size_t> &wideOut = {}) {
  std::vector<HostTensor> lin, lout;
  for (size_t k = 0; k < in.size(); ++k) {
    HostTensor &t = in[k];
    if (t.dtype != F32 || wideIn.count(k)) {
      lin.push_back(t);
      continue;
    }
    HostTensor lo(dt, t.shape);
    for (int64_t i = 0; i < t.numel(); ++i)
      lo.set(i, t.get(i));
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, lo.get(i)); // the f32 run sees exactly the 16-bit values
    lin.push_back(std::move(lo));
  }
  for (size_t k = 0; k < out.size(); ++k)
    lout.push_back(out[k].dtype == F32 && !wideOut.count(k) ? HostTensor(dt, out[k].shape)
                                                            : HostTensor(out[k].dtype, out[k].shape));
  auto ptrs = [](std::vector<HostTensor> &v) {
    std::vector<HostTensor *> p;
    for (auto &t : v)
      p.push_back(&t);
    return p;
  };
  {
    SCOPED_TRACE(what + " f32");
    runKernel(ins, ptrs(in), ptrs(out));
  }
  {
    SCOPED_TRACE(what + " " + dtypeName(dt));
    runKernel(ins, ptrs(lin), ptrs(lout));
  }
  for (size_t k = 0; k < out.size(); ++k) {
    HostTensor want(lout[k].dtype, out[k].shape);
    for (int64_t i = 0; i < want.numel(); ++i)
      want.set(i, out[k].get(i));
    if (out[k].dtype != F32)
      want = out[k];
    for (int64_t i = 0; i < want.numel(); ++i) {
      double g = lout[k].get(i), w = want.get(i);
      if (std::isnan(g) && std::isnan(w))
        continue;
      ASSERT_EQ(g, w) << what << " " << dtypeName(dt) << ": output " << k << " element " << i
                      << " (f32 result " << out[k].get(i) << ")";
    }
  }
}

HostTensor rnd(std::vector<int64_t> shape, double lo = -2, double hi = 2) {
  return randomTensor(F32, std::move(shape), rng(), lo, hi);
}
HostTensor f32(std::vector<int64_t> shape) { return HostTensor(F32, std::move(shape)); }
} // namespace

TEST(MixedPrecision, F16AndBf16ThroughTrainingKernels) {
  for (DType dt : {F16, BF16}) {
    auto check = [&](const Ins &ins, std::vector<HostTensor> in, std::vector<HostTensor> out) {
      expectLowMatchesF32(ins, std::move(in), std::move(out), dt, ins.ins.kernel());
    };
    // Elementwise, broadcasting.
    for (const char *op : {"add", "sub", "mul", "div"})
      check(Ins(op), {rnd({3, 4}), rnd({4}, 0.5, 2)}, {f32({3, 4})});
    for (const char *op : {"neg", "relu", "exp", "tanh", "erf", "sigmoid", "identity"})
      check(Ins(op), {rnd({2, 7})}, {f32({2, 7})});
    for (const char *op : {"sqrt", "log"})
      check(Ins(op), {rnd({9}, 0.1, 4)}, {f32({9})});
    check(Ins("pow"), {rnd({5}, 0.5, 2), rnd({5}, -1, 2)}, {f32({5})});
    check(Ins("gelu"), {rnd({6})}, {f32({6})});
    check(Ins("gelu").s("approximate", "tanh"), {rnd({6})}, {f32({6})});
    check(Ins("gelu_grad"), {rnd({6}), rnd({6})}, {f32({6})});
    check(Ins("where"), {randomTensor(ds::plan::I1, {4}, rng()), rnd({4}), rnd({1})}, {f32({4})});
    check(Ins("dropout").f("ratio", 0.3).i("seed", 5),
          {rnd({50})}, {f32({50}), HostTensor(ds::plan::I1, {50})});
    // Matmul / gemm through f32 compute.
    check(Ins("matmul"), {rnd({2, 3, 4}), rnd({4, 5})}, {f32({2, 3, 5})});
    check(Ins("matmul"), {rnd({3, 4}), rnd({2, 4, 5})}, {f32({2, 3, 5})});
    check(Ins("gemm").i("trans_b", 1).f("alpha", 0.5), {rnd({3, 4}), rnd({5, 4}), rnd({5})},
          {f32({3, 5})});
    // Reductions (accumulated wider than 16 bits).
    check(Ins("reduce_sum").ints("axes", {1}), {rnd({4, 300})}, {f32({4, 1})});
    check(Ins("reduce_mean").ints("axes", {0, 2}).i("keepdims", 0), {rnd({3, 2, 5})}, {f32({2})});
    check(Ins("reduce_max"), {rnd({3, 5})}, {f32({1, 1})});
    // Softmax family, layer norm and their grads.
    for (const char *op : {"softmax", "log_softmax"})
      check(Ins(op).i("axis", 1), {rnd({3, 6, 2})}, {f32({3, 6, 2})});
    for (const char *op : {"softmax_grad", "log_softmax_grad"})
      check(Ins(op).i("axis", 1), {rnd({3, 6}), rnd({3, 6}, 0, 1)}, {f32({3, 6})});
    check(Ins("layer_norm").i("axis", 1), {rnd({4, 8}), rnd({8}), rnd({8})},
          {f32({4, 8}), f32({4, 1}), f32({4, 1})});
    check(Ins("layer_norm_grad").i("axis", 2), {rnd({2, 3, 8}), rnd({2, 3, 8}), rnd({8})},
          {f32({2, 3, 8}), f32({8}), f32({8})});
    // Losses and their grads, every reduction, weights and ignore_index.
    HostTensor labels = fromValues(I64, {4}, {0, 2, 4, 1}), labels2 = fromValues(I64, {2, 3}, {0, 2, 1, 1, -100, 3});
    for (const char *red : {"mean", "sum", "none"}) {
      std::string r = red;
      std::vector<int64_t> ls = r == "none" ? std::vector<int64_t>{4} : std::vector<int64_t>{};
      check(Ins("softmax_cross_entropy_loss").s("reduction", red), {rnd({4, 5}), labels},
            {f32(ls), f32({4, 5})});
      check(Ins("softmax_cross_entropy_loss").s("reduction", red).i("ignore_index", -100),
            {rnd({2, 4, 3}), labels2, rnd({4}, 0.5, 1.5)},
            {f32(r == "none" ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{})});
      check(Ins("nll_loss").s("reduction", red), {rnd({4, 5}, -3, 0), labels}, {f32(ls)});
      check(Ins("softmax_cross_entropy_loss_grad").s("reduction", red), {rnd(ls), rnd({4, 5}), labels},
            {f32({4, 5})});
      check(Ins("nll_loss_grad").s("reduction", red).i("ignore_index", -100),
            {rnd(r == "none" ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{}), rnd({2, 4, 3}),
             labels2, rnd({4}, 0.5, 1.5)},
            {f32({2, 4, 3})});
    }
    // Gather / gather_grad (repeated and negative indices accumulate), data movement.
    HostTensor idx = fromValues(I64, {2, 3}, {0, 4, 4, -1, 2, 0});
    check(Ins("gather").i("axis", 0), {rnd({5, 3}), idx}, {f32({2, 3, 3})});
    check(Ins("gather").i("axis", 1), {rnd({2, 5}), fromValues(ds::plan::I32, {3}, {1, 1, 4})}, {f32({2, 3})});
    check(Ins("gather_grad").i("axis", 0), {rnd({2, 3, 3}), idx}, {f32({5, 3})});
    check(Ins("transpose").ints("perm", {2, 0, 1}), {rnd({2, 3, 4})}, {f32({4, 2, 3})});
    check(Ins("concat").i("axis", 1), {rnd({2, 3}), rnd({2, 1}), rnd({2, 2})}, {f32({2, 6})});
    check(Ins("split").i("axis", 0).ints("sizes", {1, 3}), {rnd({4, 2})}, {f32({1, 2}), f32({3, 2})});
    check(Ins("slice").ints("starts", {3, 0}).ints("ends", {-1, 2}).ints("steps", {-2, 1}),
          {rnd({5, 2})}, {f32({2, 2})});
    check(Ins("slice_grad").ints("starts", {3, 0}).ints("ends", {-1, 2}).ints("steps", {-2, 1}),
          {rnd({2, 2})}, {f32({5, 2})});
    check(Ins("expand"), {rnd({3, 1})}, {f32({2, 3, 4})});
    check(Ins("reshape"), {rnd({3, 4})}, {f32({4, 3})});
    check(Ins("trilu").i("upper", 0), {rnd({3, 3})}, {f32({3, 3})});
    check(Ins("copy"), {rnd({7})}, {f32({7})});
  }
}

// Mixed precision's losses read the 16-bit scores and give an f32 loss (and take an f32
// gradient): the same bits as casting the scores to f32 first, since every loss kernel computes
// in f32; the gradient comes back 16-bit, the f32 gradient rounded once.
TEST(MixedPrecision, LossesWidenSixteenBitScores) {
  HostTensor labels = fromValues(I64, {4}, {0, 2, 4, 1});
  HostTensor labels2 = fromValues(I64, {2, 3}, {0, 2, 1, 1, -100, 3});
  for (DType dt : {F16, BF16}) {
    for (const char *red : {"mean", "sum", "none"}) {
      std::string r = red, what = std::string("widened loss ") + red;
      std::vector<int64_t> ls = r == "none" ? std::vector<int64_t>{4} : std::vector<int64_t>{};
      std::vector<int64_t> ls2 =
          r == "none" ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{};
      expectLowMatchesF32(Ins("softmax_cross_entropy_loss").s("reduction", red),
                          {rnd({4, 5}, -8, 8), labels}, {f32(ls)}, dt, what, {}, {0});
      expectLowMatchesF32(Ins("softmax_cross_entropy_loss").s("reduction", red).i("ignore_index", -100),
                          {rnd({2, 4, 3}), labels2}, {f32(ls2)}, dt, what, {}, {0});
      expectLowMatchesF32(Ins("nll_loss").s("reduction", red), {rnd({4, 5}, -3, 0), labels},
                          {f32(ls)}, dt, what, {}, {0});
      expectLowMatchesF32(Ins("softmax_cross_entropy_loss_grad").s("reduction", red),
                          {rnd(ls), rnd({4, 5}, -8, 8), labels}, {f32({4, 5})}, dt, what, {0});
      expectLowMatchesF32(Ins("nll_loss_grad").s("reduction", red).i("ignore_index", -100),
                          {rnd(ls2), rnd({2, 4, 3}), labels2}, {f32({2, 4, 3})}, dt, what, {0});
    }
  }
  // The kernel signatures take f32 over 16-bit scores, nothing else mixed.
  HostTensor s16(BF16, {4, 5}), s64(ds::plan::F64, {4, 5});
  HostTensor loss32 = f32({}), loss16(BF16, {});
  EXPECT_EQ(checkKernel(Ins("softmax_cross_entropy_loss"), {&s16, &labels}, {&loss32}), "");
  EXPECT_NE(checkKernel(Ins("softmax_cross_entropy_loss"), {&s64, &labels}, {&loss32})
                .find("must have the scores' element type (or f32 over bf16/f16 scores)"),
            std::string::npos);
  HostTensor s32 = rnd({4, 5}), d16(BF16, {4, 5});
  EXPECT_NE(checkKernel(Ins("softmax_cross_entropy_loss_grad"), {&loss16, &s32, &labels},
                           {&d16})
                .find("scores and result must have the same element type"),
            std::string::npos);
}

TEST(MixedPrecision, CastsRoundToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  // f32 -> bf16: ties to even, carry into the exponent, overflow to inf, NaN stays NaN.
  HostTensor x = fromValues(F32, {7}, {1.0 + 1.0 / 256, 1.0 + 3.0 / 256, 1.0 + 1.0 / 256 + 1.0 / 65536,
                                       -(2.0 - 1.0 / 256), std::ldexp(2.0 - 1.0 / 256, 127), 0, 0});
  x.as<float>()[5] = std::nanf("");
  x.as<float>()[6] = -inf;
  HostTensor b(BF16, {7});
  runKernel(Ins("cast"), {&x}, {&b});
  const uint16_t *pb = b.as<uint16_t>();
  EXPECT_EQ(pb[0], 0x3f80);
  EXPECT_EQ(pb[1], 0x3f82);
  EXPECT_EQ(pb[2], 0x3f81); // above the tie rounds up
  EXPECT_EQ(pb[3], 0xc000); // -(2 - 2^-8) carries to -2
  EXPECT_EQ(pb[4], 0x7f80); // the tie between bf16 max (odd) and 2^128 rounds to inf
  EXPECT_EQ(pb[5] & 0x7f80, 0x7f80);
  EXPECT_NE(pb[5] & 0x007f, 0);
  EXPECT_EQ(pb[6], 0xff80);
  // f32 -> f16: subnormals round too (2^-25 ties to 0, 3*2^-25 to 2^-23); 65520 -> inf.
  HostTensor y = fromValues(F32, {4}, {std::ldexp(1.0, -25), 3 * std::ldexp(1.0, -25), 65504, 65520});
  HostTensor h(F16, {4});
  runKernel(Ins("cast"), {&y}, {&h});
  EXPECT_EQ(h.as<uint16_t>()[0], 0x0000);
  EXPECT_EQ(h.as<uint16_t>()[1], 0x0002);
  EXPECT_EQ(h.as<uint16_t>()[2], 0x7bff);
  EXPECT_EQ(h.as<uint16_t>()[3], 0x7c00);
  // 16-bit -> f32 is exact (every bit pattern but NaN payloads round-trips).
  for (DType dt : {F16, BF16}) {
    HostTensor all(dt, {65536}), back(F32, {65536}), again(dt, {65536});
    for (int i = 0; i < 65536; ++i)
      all.as<uint16_t>()[i] = uint16_t(i);
    runKernel(Ins("cast"), {&all}, {&back});
    runKernel(Ins("cast"), {&back}, {&again});
    for (int i = 0; i < 65536; ++i) {
      uint16_t mask = dt == F16 ? 0x7c00 : 0x7f80;
      bool nan = (i & mask) == mask && (i & ~mask & 0x7fff) != 0;
      if (nan)
        ASSERT_TRUE(std::isnan(back.as<float>()[i])) << i;
      else
        ASSERT_EQ(again.as<uint16_t>()[i], uint16_t(i)) << dtypeName(dt) << " " << i;
    }
  }
  // f16 <-> bf16 goes through f32 (one rounding): f16 1+2^-10 -> bf16 1 (below the tie).
  HostTensor hf = fromValues(F16, {2}, {1.0 + 1.0 / 1024, 1.0 + 3.0 / 512}), hb(BF16, {2}),
             f64out(ds::plan::F64, {2});
  runKernel(Ins("cast"), {&hf}, {&hb});
  EXPECT_EQ(hb.as<uint16_t>()[0], 0x3f80);
  EXPECT_EQ(hb.as<uint16_t>()[1], 0x3f81); // 1 + 0.75*2^-7 rounds up to 1 + 2^-7
  runKernel(Ins("cast"), {&hb}, {&f64out});
  EXPECT_EQ(f64out.get(0), 1.0);
}
