// Optimizer kernels (Adam, SGD, Lamb), lr schedules and the step counter against double
// references.
#include "TrainingKernelTestUtil.h"

// ------------------------------------------------------------------ optimizers

namespace {

// FusedAdam's formulas in double (REFERENCE §3), one step.
void refAdamStep(std::vector<double> &p, const std::vector<double> &g, std::vector<double> &m,
                 std::vector<double> &v, double lr, int64_t t, const AdamCfg &c) {
  double bc1 = c.bc ? 1 - std::pow(c.b1, double(t)) : 1;
  double bc2 = c.bc ? 1 - std::pow(c.b2, double(t)) : 1;
  for (size_t i = 0; i < p.size(); ++i) {
    double gi = g[i];
    if (!c.adamW)
      gi += c.wd * p[i];
    m[i] = c.b1 * m[i] + (1 - c.b1) * gi;
    v[i] = c.b2 * v[i] + (1 - c.b2) * gi * gi;
    double u = (m[i] / bc1) / (std::sqrt(v[i] / bc2) + c.eps);
    if (c.adamW)
      u += c.wd * p[i];
    p[i] -= lr * u;
  }
}



// Runs `steps` Adam steps of the kernel (state carried in the same buffers: in place) and of
// the double reference; compares param and moments after each step.
void adamTrajectory(DType dt, const AdamCfg &cfg, int steps, double rtol, const std::string &what) {
  int64_t n = 37;
  HostTensor p = randomTensor(dt, {n}, rng(), -1, 1), m(dt, {n}), v(dt, {n});
  std::vector<double> rp = values(p), rm(size_t(n), 0.0), rv(size_t(n), 0.0);
  // Attributes are f32 in the IR: use the values the kernel sees.
  AdamCfg rc = cfg;
  rc.b1 = double(float(cfg.b1));
  rc.b2 = double(float(cfg.b2));
  rc.eps = double(float(cfg.eps));
  rc.wd = double(float(cfg.wd));
  for (int t = 1; t <= steps; ++t) {
    HostTensor g = randomTensor(dt, {n}, rng(), -1, 1);
    double lr = double(float(1e-2 * (1 + 0.1 * t)));
    HostTensor lrT = scalarF32(lr), tT = scalarI64(t);
    HostTensor np(dt, {n}), nm(dt, {n}), nv(dt, {n});
    runKernel(adamIns(cfg), {&p, &g, &m, &v, &lrT, &tT}, {&np, &nm, &nv});
    refAdamStep(rp, values(g), rm, rv, lr, t, rc);
    expectNear(np, rp, rtol, rtol * 1e-2, what + " param step " + std::to_string(t));
    expectNear(nm, rm, rtol, rtol * 1e-2, what + " exp_avg step " + std::to_string(t));
    expectNear(nv, rv, rtol, rtol * 1e-2, what + " exp_avg_sq step " + std::to_string(t));
    p = np;
    m = nm;
    v = nv;
  }
}
} // namespace

TEST(OptimizerKernels, AdamAgainstDoubleReference) {
  for (bool adamW : {true, false})
    for (bool bc : {true, false})
      for (double wd : {0.0, 0.1}) {
        AdamCfg c;
        c.adamW = adamW;
        c.bc = bc;
        c.wd = wd;
        std::string what = std::string(adamW ? "adamw" : "adam") + (bc ? " bc" : " no-bc") +
                           " wd " + std::to_string(wd);
        adamTrajectory(F64, c, 5, 1e-12, what + " f64");
        adamTrajectory(F32, c, 5, 2e-5, what + " f32");
      }
  AdamCfg c;
  c.wd = 0.01;
  adamTrajectory(F32, c, 50, 1e-4, "adamw f32 50 steps");
  adamTrajectory(BF16, c, 3, 2e-2, "adamw bf16");
}

TEST(OptimizerKernels, AdamInPlace) {
  // Outputs written over their inputs (what the memory planner may do) give the same result.
  AdamCfg c;
  c.wd = 0.05;
  HostTensor p = randomTensor(F32, {9}, rng()), g = randomTensor(F32, {9}, rng());
  HostTensor m = randomTensor(F32, {9}, rng()), v = randomTensor(F32, {9}, rng(), 0, 1);
  HostTensor lr = scalarF32(1e-3), t = scalarI64(3);
  HostTensor np(F32, {9}), nm(F32, {9}), nv(F32, {9});
  runKernel(adamIns(c), {&p, &g, &m, &v, &lr, &t}, {&np, &nm, &nv});
  RunFn fn = findCpuKernel("adam_update");
  ExecContext ctx;
  Ins ins = adamIns(c);
  KernelCall call{ins.ins,
                  {p.tensor(), g.tensor(), m.tensor(), v.tensor(), lr.tensor(), t.tensor()},
                  {p.tensor(), m.tensor(), v.tensor()},
                  ctx, decodeKernelAttrs(ins.ins)};
  fn(call);
  expectNear(p, values(np), 0, 0, "in-place param");
  expectNear(m, values(nm), 0, 0, "in-place exp_avg");
  expectNear(v, values(nv), 0, 0, "in-place exp_avg_sq");
  EXPECT_TRUE(findKernelSignature("adam_update")->inPlace);
}

TEST(OptimizerKernels, AdamRejects) {
  AdamCfg c;
  HostTensor p(F32, {4}), q(F32, {5}), lr = scalarF32(1), t = scalarI64(1), lr64(F64, {}),
      t32(I32, {}), lrv(F32, {1});
  EXPECT_NE(checkKernel(adamIns(c), {&p, &q, &p, &p, &lr, &t}, {&p, &p, &p}).find("grad has shape"),
            std::string::npos);
  EXPECT_NE(checkKernel(adamIns(c), {&p, &p, &p, &p, &lr64, &t}, {&p, &p, &p}).find("lr must be"),
            std::string::npos);
  EXPECT_NE(checkKernel(adamIns(c), {&p, &p, &p, &p, &lrv, &t}, {&p, &p, &p}).find("lr must be"),
            std::string::npos);
  EXPECT_NE(checkKernel(adamIns(c), {&p, &p, &p, &p, &lr, &t32}, {&p, &p, &p}).find("step must be"),
            std::string::npos);
  Ins noMode("adam_update");
  noMode.f("beta1", 0.9).f("beta2", 0.999).f("eps", 1e-8).f("weight_decay", 0).i("bias_correction", 1);
  EXPECT_NE(checkKernel(noMode, {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}).find("adam_w_mode"),
            std::string::npos);
  c.b2 = 1.0;
  EXPECT_NE(checkKernel(adamIns(c), {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}).find("beta2"),
            std::string::npos);
  // Step 0 is a run-time error (bias correction would divide by zero).
  AdamCfg ok;
  HostTensor t0 = scalarI64(0);
  ExecContext ctx;
  Ins ins = adamIns(ok);
  KernelCall call{ins.ins,
                  {p.tensor(), p.tensor(), p.tensor(), p.tensor(), lr.tensor(), t0.tensor()},
                  {p.tensor(), p.tensor(), p.tensor()},
                  ctx, decodeKernelAttrs(ins.ins)};
  EXPECT_THROW(findCpuKernel("adam_update")(call), Error);
}

TEST(OptimizerKernels, SgdAgainstDoubleReference) {
  std::vector<SgdCfg> cfgs = {{0, 0, 0, false},   {0, 0, 0.1, false},  {0.9, 0, 0, false},
                              {0.9, 0.3, 0.05, false}, {0.9, 0, 0.05, true}, {0.5, 0, 0, true}};
  for (const SgdCfg &cfg : cfgs)
    for (DType dt : {F64, F32}) {
      int64_t n = 23;
      double mu = double(float(cfg.mu)), damp = double(float(cfg.damp)), wd = double(float(cfg.wd));
      HostTensor p = randomTensor(dt, {n}, rng()), b = randomTensor(dt, {n}, rng());
      // The incoming buffer on step 1 is whatever the state holds (zeros in practice):
      // momentum must ignore it; without momentum it passes through.
      std::vector<double> rp = values(p), rb = values(b);
      for (int t = 1; t <= 5; ++t) {
        HostTensor g = randomTensor(dt, {n}, rng());
        double lr = double(float(0.1 / t));
        HostTensor lrT = scalarF32(lr), tT = scalarI64(t), np(dt, {n}), nb(dt, {n});
        runKernel(sgdIns(cfg), {&p, &g, &b, &lrT, &tT}, {&np, &nb});
        for (int64_t i = 0; i < n; ++i) {
          double gi = g.get(i) + wd * rp[size_t(i)];
          if (mu != 0) {
            rb[size_t(i)] = t == 1 ? gi : mu * rb[size_t(i)] + (1 - damp) * gi;
            gi = cfg.nesterov ? gi + mu * rb[size_t(i)] : rb[size_t(i)];
          }
          rp[size_t(i)] -= lr * gi;
        }
        std::string what = "sgd mu " + std::to_string(cfg.mu) + " damp " +
                           std::to_string(cfg.damp) + " wd " + std::to_string(cfg.wd) +
                           (cfg.nesterov ? " nesterov " : " ") + dtypeName(dt) + " step " +
                           std::to_string(t);
        double tol = dt == F64 ? 1e-12 : 1e-5;
        expectNear(np, rp, tol, tol, what + " param");
        expectNear(nb, rb, tol, tol, what + " buffer");
        p = np;
        b = nb;
      }
    }
  HostTensor p(F32, {3}), lr = scalarF32(1), t = scalarI64(1);
  SgdCfg bad{0.9, 0.1, 0, true};
  EXPECT_NE(checkKernel(sgdIns(bad), {&p, &p, &p, &lr, &t}, {&p, &p}).find("nesterov"),
            std::string::npos);
  SgdCfg bad2{0, 0, 0, true};
  EXPECT_NE(checkKernel(sgdIns(bad2), {&p, &p, &p, &lr, &t}, {&p, &p}).find("nesterov"),
            std::string::npos);
}

// ------------------------------------------------------------------ lr schedules

namespace {
double runSchedule(const Ins &ins, int64_t k) {
  HostTensor a = scalarI64(k), r(F32, {});
  runKernel(ins, {&a}, {&r});
  return r.get(0);
}
void expectSchedule(const Ins &ins, const std::vector<double> &want, const std::string &what) {
  for (size_t k = 0; k < want.size(); ++k) {
    double got = runSchedule(ins, int64_t(k));
    EXPECT_NEAR(got, want[k], 1e-6 * std::max(1.0, std::fabs(want[k])))
        << what << " at k = " << k;
  }
}
Ins schedIns(const std::string &s) {
  Ins ins("lr_schedule");
  ins.s("schedule", s).f("lr", 0.5).f("warmup_min_lr", 0.1).f("warmup_max_lr", 1.0);
  ins.i("warmup_num_steps", 4).i("total_num_steps", 10);
  ins.f("warmup_min_ratio", 0.2).f("cos_min_ratio", 0.1);
  return ins;
}
} // namespace

TEST(OptimizerKernels, LrSchedules) {
  // N = 4, min 0.1, max 1.0, T = 10, lr 0.5. Step k runs with f(k - 1), f(-1) = min.
  const double l2 = std::log(2.0), l3 = std::log(3.0), l4 = std::log(4.0);
  expectSchedule(schedIns("constant"), std::vector<double>(10, 0.5), "constant");
  // log warmup: gamma(i) = ln(i+1)/ln(N): the first two steps both run at min.
  expectSchedule(schedIns("WarmupLR").s("warmup_type", "log"),
                 {0.1, 0.1, 0.1 + 0.9 * l2 / l4, 0.1 + 0.9 * l3 / l4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0},
                 "WarmupLR log");
  expectSchedule(schedIns("WarmupLR").s("warmup_type", "linear"),
                 {0.1, 0.1, 0.325, 0.55, 0.775, 1.0, 1.0, 1.0, 1.0, 1.0}, "WarmupLR linear");
  // decay for i >= N: max(0, (T - i) / (T - N)), i = k - 1.
  expectSchedule(schedIns("WarmupDecayLR").s("warmup_type", "linear"),
                 {0.1, 0.1, 0.325, 0.55, 0.775, 1.0, 0.85, 0.7, 0.55, 0.4, 0.25, 0.1, 0.1, 0.1},
                 "WarmupDecayLR linear");
  expectSchedule(schedIns("WarmupDecayLR").s("warmup_type", "log"),
                 {0.1, 0.1, 0.1 + 0.9 * l2 / l4, 0.1 + 0.9 * l3 / l4, 1.0, 1.0, 0.85, 0.7},
                 "WarmupDecayLR log");
  // cosine: lr * rho; rho(-1) = 0; warmup rho = r0 + (1 - r0) gamma;
  // after: q = min(1, (i - N + 1)/(T - N)), rho = rc + (1 - rc)(1 + cos(pi q))/2.
  auto cosv = [](double q) { return 0.5 * (0.1 + 0.9 * (1 + std::cos(M_PI * q)) / 2); };
  expectSchedule(schedIns("WarmupCosineLR").s("warmup_type", "linear"),
                 {0.0, 0.1, 0.2, 0.3, 0.4, cosv(1 / 6.0), cosv(2 / 6.0), cosv(3 / 6.0),
                  cosv(4 / 6.0), cosv(5 / 6.0), 0.05, 0.05, 0.05},
                 "WarmupCosineLR linear");
  expectSchedule(schedIns("WarmupCosineLR").s("warmup_type", "log"),
                 {0.0, 0.1, 0.5 * (0.2 + 0.8 * l2 / l4), 0.5 * (0.2 + 0.8 * l3 / l4), 0.5,
                  cosv(1 / 6.0)},
                 "WarmupCosineLR log");
  // N = max(2, warmup_num_steps).
  expectSchedule(schedIns("WarmupLR").s("warmup_type", "linear").i("warmup_num_steps", 1),
                 {0.1, 0.1, 0.55, 1.0, 1.0}, "WarmupLR N clamped to 2");
  expectSchedule(schedIns("WarmupLR").s("warmup_type", "log").i("warmup_num_steps", 0),
                 {0.1, 0.1, 1.0, 1.0}, "WarmupLR log N clamped to 2");

  HostTensor a = scalarI64(0), r(F32, {}), r64(F64, {});
  EXPECT_NE(checkKernel(schedIns("OneCycle"), {&a}, {&r}).find("schedule"), std::string::npos);
  EXPECT_NE(checkKernel(schedIns("WarmupCosineLR").i("total_num_steps", 0), {&a}, {&r})
                .find("total_num_steps"),
            std::string::npos);
  EXPECT_NE(checkKernel(schedIns("WarmupLR").s("warmup_type", "exp"), {&a}, {&r}).find("warmup_type"),
            std::string::npos);
  EXPECT_NE(checkKernel(schedIns("WarmupLR"), {&a}, {&r64}).find("result must be"),
            std::string::npos);
}

// ------------------------------------------------------------------ step counter, assign

TEST(OptimizerKernels, I64ScalarArithmetic) {
  HostTensor t = scalarI64(41), one = scalarI64(1), two = scalarI64(2), r(I64, {});
  runKernel(Ins("add"), {&t, &one}, {&r});
  EXPECT_EQ(r.as<int64_t>()[0], 42);
  runKernel(Ins("mul"), {&r, &two}, {&r});
  EXPECT_EQ(r.as<int64_t>()[0], 84);
  runKernel(Ins("sub"), {&r, &one}, {&r});
  EXPECT_EQ(r.as<int64_t>()[0], 83);
}

TEST(OptimizerKernels, CopyIntoPersistentBufferAcrossRuns) {
  // What ds.assign lowers to: a step counter in the persistent region, incremented in the
  // arena and copied back, run three times.
  namespace pb = ds::plan;
  pb::Plan p;
  p.set_version(1);
  p.set_world_size(1);
  p.set_alignment(64);
  p.set_arena_bytes(128);
  p.set_persistent_bytes(64);
  p.set_predicted_peak_bytes(128);
  p.set_loss_output(-1);
  auto buf = [&](uint32_t id, pb::Placement pl, uint64_t off) {
    auto *b = p.add_buffers();
    b->set_id(id);
    b->set_dtype(pb::I64);
    b->set_placement(pl);
    b->set_offset(off);
  };
  buf(1, pb::PERSISTENT, 0); // step
  buf(2, pb::ARENA, 0);      // constant 1
  buf(3, pb::ARENA, 64);     // step + 1
  auto *prog = p.add_programs();
  prog->set_name("apply");
  prog->set_role(pb::Program::APPLY_STEP);
  auto *c1 = prog->add_instructions();
  c1->set_kernel("constant");
  (*c1->mutable_attrs())["value"].set_i(1);
  c1->add_outputs(2);
  auto *a = prog->add_instructions();
  a->set_kernel("add");
  a->add_inputs(1);
  a->add_inputs(2);
  a->add_outputs(3);
  auto *cp = prog->add_instructions();
  cp->set_kernel("copy");
  cp->add_inputs(3);
  cp->add_outputs(1);
  LoadedPlan lp = parsePlan(serializePlan(p), "step.dsplan", 1);
  auto comm = makeSingleRankCommunicator();
  CpuExecutor ex(lp, *comm);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(ex.runRole(pb::Program::APPLY_STEP));
  EXPECT_EQ(ex.tensor(1).as<int64_t>()[0], 3);
}


// ------------------------------------------------------------------ lamb

namespace {
struct LambCfg {
  double b1 = 0.9, b2 = 0.999, eps = 1e-6, wd = 0, lo = 0.01, hi = 10;
  bool bc = true;
};

// REFERENCE §3 FusedLamb in double, one step over the whole tensor; returns the trust ratio.
double refLambStep(std::vector<double> &p, const std::vector<double> &g, std::vector<double> &m,
                 std::vector<double> &v, double lr, int64_t t, const LambCfg &c) {
  double bc1 = c.bc ? 1 - std::pow(c.b1, double(t)) : 1;
  double bc2 = c.bc ? 1 - std::pow(c.b2, double(t)) : 1;
  std::vector<double> u(p.size());
  double pn = 0, un = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    m[i] = c.b1 * m[i] + (1 - c.b1) * g[i];
    v[i] = c.b2 * v[i] + (1 - c.b2) * g[i] * g[i];
    u[i] = m[i] / (std::sqrt(v[i]) + c.eps) + c.wd * p[i];
    pn += p[i] * p[i];
    un += u[i] * u[i];
  }
  double r = (pn > 0 && un > 0) ? std::min(std::max(std::sqrt(pn / un), c.lo), c.hi) : 1.0;
  for (size_t i = 0; i < p.size(); ++i)
    p[i] -= lr * std::sqrt(bc2) / bc1 * r * u[i];
  return r;
}

Ins lambIns(const LambCfg &c) {
  Ins ins("lamb_update");
  ins.f("beta1", float(c.b1)).f("beta2", float(c.b2)).f("eps", float(c.eps));
  ins.f("weight_decay", float(c.wd)).f("min_coeff", float(c.lo)).f("max_coeff", float(c.hi));
  ins.i("bias_correction", c.bc);
  return ins;
}

/// Runs `steps` steps against the reference; returns the reference trust ratios.
std::vector<double> lambTrajectory(DType dt, LambCfg cfg, double scaleP, int steps, double rtol,
                                   const std::string &what) {
  std::vector<double> ratios;
  int64_t n = 29;
  HostTensor p = randomTensor(dt, {n}, rng(), -scaleP, scaleP), m(dt, {n}), v(dt, {n});
  std::vector<double> rp = values(p), rm(size_t(n), 0.0), rv(size_t(n), 0.0);
  LambCfg rc = cfg;
  for (double *x : {&rc.b1, &rc.b2, &rc.eps, &rc.wd, &rc.lo, &rc.hi})
    *x = double(float(*x));
  for (int t = 1; t <= steps; ++t) {
    HostTensor g = randomTensor(dt, {n}, rng(), -1, 1);
    double lr = double(float(1e-2 * t));
    HostTensor lrT = scalarF32(lr), tT = scalarI64(t);
    HostTensor np(dt, {n}), nm(dt, {n}), nv(dt, {n});
    runKernel(lambIns(cfg), {&p, &g, &m, &v, &lrT, &tT}, {&np, &nm, &nv});
    ratios.push_back(refLambStep(rp, values(g), rm, rv, lr, t, rc));
    expectNear(np, rp, rtol, rtol * 1e-2, what + " param step " + std::to_string(t));
    expectNear(nm, rm, rtol, rtol * 1e-2, what + " exp_avg step " + std::to_string(t));
    expectNear(nv, rv, rtol, rtol * 1e-2, what + " exp_avg_sq step " + std::to_string(t));
    p = np;
    m = nm;
    v = nv;
  }
  return ratios;
}
} // namespace

TEST(OptimizerKernels, LambAgainstDoubleReference) {
  for (bool bc : {true, false})
    for (double wd : {0.0, 0.01}) {
      LambCfg c;
      c.bc = bc;
      c.wd = wd;
      std::string what = std::string("lamb") + (bc ? " bc" : " no-bc") + " wd " +
                         std::to_string(wd);
      lambTrajectory(F64, c, 1.0, 5, 1e-12, what + " f64");
      lambTrajectory(F32, c, 1.0, 5, 2e-5, what + " f32");
    }
  // The trust ratio clamps at both ends: tiny parameters (|p|/|u| < min_coeff) and,
  // with a large min_coeff bound removed, a ratio above max_coeff.
  LambCfg small;
  for (double r : lambTrajectory(F64, small, 1e-5, 3, 1e-12, "lamb clamped at min_coeff"))
    EXPECT_EQ(r, double(float(small.lo)));
  LambCfg big;
  big.hi = 0.5;
  big.lo = 0.1;
  for (double r : lambTrajectory(F64, big, 100.0, 3, 1e-12, "lamb clamped at max_coeff"))
    EXPECT_EQ(r, double(float(big.hi)));
  // The defaults (0.01, 10) bind too: |p| ~ 1e3 against |u| ~ 3 on step 1.
  LambCfg dflt;
  Ins noBounds("lamb_update");
  noBounds.f("beta1", 0.9f).f("beta2", 0.999f).f("eps", 1e-6f).f("weight_decay", 0.0f);
  noBounds.i("bias_correction", 1);
  for (double scale : {1e-6, 1e3}) {
    int64_t n = 16;
    HostTensor p = randomTensor(F64, {n}, rng(), -scale, scale), m(F64, {n}), v(F64, {n});
    HostTensor g = randomTensor(F64, {n}, rng(), -1, 1), lrT = scalarF32(0.25), tT = scalarI64(1);
    HostTensor np(F64, {n}), nm(F64, {n}), nv(F64, {n});
    runKernel(noBounds, {&p, &g, &m, &v, &lrT, &tT}, {&np, &nm, &nv});
    std::vector<double> rp = values(p), rm(size_t(n), 0.0), rv(size_t(n), 0.0);
    LambCfg rc = dflt;
    rc.b1 = double(0.9f);
    rc.b2 = double(0.999f);
    rc.eps = double(1e-6f);
    double r = refLambStep(rp, values(g), rm, rv, 0.25, 1, rc);
    EXPECT_EQ(r, scale < 1 ? 0.01 : 10.0);
    expectNear(np, rp, 1e-12, 1e-14, "lamb default clamp bounds");
  }
}

TEST(OptimizerKernels, LambZeroNormAndSkip) {
  // A zero parameter: r = 1.
  int64_t n = 4;
  HostTensor p(F64, {n}), m(F64, {n}), v(F64, {n});
  HostTensor g = randomTensor(F64, {n}, rng(), -1, 1);
  HostTensor lrT = scalarF32(0.5), tT = scalarI64(1), np(F64, {n}), nm(F64, {n}), nv(F64, {n});
  runKernel(lambIns(LambCfg()), {&p, &g, &m, &v, &lrT, &tT}, {&np, &nm, &nv});
  std::vector<double> rp(size_t(n), 0.0), rm(size_t(n), 0.0), rv(size_t(n), 0.0);
  refLambStep(rp, values(g), rm, rv, double(float(0.5)), 1, LambCfg());
  expectNear(np, rp, 1e-6, 1e-9, "lamb zero parameter");
  // finite = 0 skips: outputs equal inputs.
  HostTensor p2 = randomTensor(F32, {n}, rng(), -1, 1), m2(F32, {n}), v2(F32, {n});
  HostTensor g2 = randomTensor(F32, {n}, rng(), -1, 1), bad = scalarF32(0.0);
  HostTensor o0(F32, {n}), o1(F32, {n}), o2(F32, {n});
  runKernel(lambIns(LambCfg()), {&p2, &g2, &m2, &v2, &lrT, &tT, &bad}, {&o0, &o1, &o2});
  expectNear(o0, values(p2), 0, 0, "lamb skipped step keeps the parameter");
  expectNear(o1, values(m2), 0, 0, "lamb skipped step keeps exp_avg");
  expectNear(o2, values(v2), 0, 0, "lamb skipped step keeps exp_avg_sq");
}

TEST(OptimizerKernels, LambFiniteOperand) {
  // finite = NaN skips like 0 (f64 state too); finite = 1 applies the step as if absent.
  int64_t n = 7;
  LambCfg c;
  c.wd = 0.01;
  HostTensor p = randomTensor(F64, {n}, rng()), g = randomTensor(F64, {n}, rng());
  HostTensor m = randomTensor(F64, {n}, rng()), v = randomTensor(F64, {n}, rng(), 0, 1);
  HostTensor lrT = scalarF32(1e-2), tT = scalarI64(4);
  HostTensor nan = scalarF32(std::numeric_limits<float>::quiet_NaN()), one = scalarF32(1);
  HostTensor o0(F64, {n}), o1(F64, {n}), o2(F64, {n});
  runKernel(lambIns(c), {&p, &g, &m, &v, &lrT, &tT, &nan}, {&o0, &o1, &o2});
  expectNear(o0, values(p), 0, 0, "lamb NaN finite keeps the parameter");
  expectNear(o1, values(m), 0, 0, "lamb NaN finite keeps exp_avg");
  expectNear(o2, values(v), 0, 0, "lamb NaN finite keeps exp_avg_sq");
  HostTensor a0(F64, {n}), a1(F64, {n}), a2(F64, {n});
  runKernel(lambIns(c), {&p, &g, &m, &v, &lrT, &tT, &one}, {&o0, &o1, &o2});
  runKernel(lambIns(c), {&p, &g, &m, &v, &lrT, &tT}, {&a0, &a1, &a2});
  expectNear(o0, values(a0), 0, 0, "lamb finite = 1 param");
  expectNear(o1, values(a1), 0, 0, "lamb finite = 1 exp_avg");
  expectNear(o2, values(a2), 0, 0, "lamb finite = 1 exp_avg_sq");
  std::vector<double> rp = values(p), rm = values(m), rv = values(v);
  LambCfg rc = c;
  rc.b1 = double(float(c.b1));
  rc.b2 = double(float(c.b2));
  rc.eps = double(float(c.eps));
  rc.wd = double(float(c.wd));
  refLambStep(rp, values(g), rm, rv, double(float(1e-2)), 4, rc);
  expectNear(a0, rp, 1e-12, 1e-14, "lamb step 4 from nonzero state");
}

TEST(OptimizerKernels, LambInPlace) {
  // Outputs written over their inputs (what the memory planner may do) give the same result.
  for (DType dt : {F32, F64}) {
    LambCfg c;
    c.wd = 0.05;
    HostTensor p = randomTensor(dt, {33}, rng()), g = randomTensor(dt, {33}, rng());
    HostTensor m = randomTensor(dt, {33}, rng()), v = randomTensor(dt, {33}, rng(), 0, 1);
    HostTensor lr = scalarF32(1e-3), t = scalarI64(3);
    HostTensor np(dt, {33}), nm(dt, {33}), nv(dt, {33});
    runKernel(lambIns(c), {&p, &g, &m, &v, &lr, &t}, {&np, &nm, &nv});
    ExecContext ctx;
    Ins ins = lambIns(c);
    KernelCall call{ins.ins,
                    {p.tensor(), g.tensor(), m.tensor(), v.tensor(), lr.tensor(), t.tensor()},
                    {p.tensor(), m.tensor(), v.tensor()},
                    ctx, decodeKernelAttrs(ins.ins)};
    findCpuKernel("lamb_update")(call);
    expectNear(p, values(np), 0, 0, "lamb in-place param");
    expectNear(m, values(nm), 0, 0, "lamb in-place exp_avg");
    expectNear(v, values(nv), 0, 0, "lamb in-place exp_avg_sq");
  }
  EXPECT_TRUE(findKernelSignature("lamb_update")->inPlace);
}

TEST(OptimizerKernels, LambRejects) {
  LambCfg c;
  HostTensor p(F32, {4}), q(F32, {5}), pd(F64, {4}), pi(I64, {4}), lr = scalarF32(1),
      t = scalarI64(1), lr64(F64, {}), t32(I32, {}), lrv(F32, {1}), fin64(F64, {});
  auto has = [](const std::string &err, const char *what) {
    EXPECT_NE(err.find(what), std::string::npos) << "'" << err << "' lacks '" << what << "'";
  };
  EXPECT_EQ(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}), "");
  EXPECT_EQ(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr, &t, &lr}, {&p, &p, &p}), "");
  EXPECT_NE(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr}, {&p, &p, &p}), "");
  EXPECT_NE(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr, &t, &lr, &lr}, {&p, &p, &p}), "");
  EXPECT_NE(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr, &t}, {&p, &p}), "");
  has(checkKernel(lambIns(c), {&p, &q, &p, &p, &lr, &t}, {&p, &p, &p}), "grad has shape");
  EXPECT_NE(checkKernel(lambIns(c), {&p, &p, &pd, &p, &lr, &t}, {&p, &p, &p}), "");
  EXPECT_NE(checkKernel(lambIns(c), {&pi, &pi, &pi, &pi, &lr, &t}, {&pi, &pi, &pi}), "");
  has(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr64, &t}, {&p, &p, &p}), "lr must be");
  has(checkKernel(lambIns(c), {&p, &p, &p, &p, &lrv, &t}, {&p, &p, &p}), "lr must be");
  has(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr, &t32}, {&p, &p, &p}), "step must be");
  has(checkKernel(lambIns(c), {&p, &p, &p, &p, &lr, &t, &fin64}, {&p, &p, &p}), "finite");
  Ins noBc("lamb_update");
  noBc.f("beta1", 0.9f).f("beta2", 0.999f).f("eps", 1e-6f).f("weight_decay", 0.0f);
  has(checkKernel(noBc, {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}), "bias_correction");
  LambCfg b = c;
  b.b1 = 1.0;
  has(checkKernel(lambIns(b), {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}), "beta1");
  LambCfg w = c;
  w.wd = -0.1;
  has(checkKernel(lambIns(w), {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}), "weight_decay");
  LambCfg lo = c;
  lo.lo = 0;
  has(checkKernel(lambIns(lo), {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}), "min_coeff");
  LambCfg inv = c;
  inv.lo = 2;
  inv.hi = 1;
  has(checkKernel(lambIns(inv), {&p, &p, &p, &p, &lr, &t}, {&p, &p, &p}), "max_coeff");
  // Step 0 is a run-time error (bias correction would divide by zero).
  HostTensor t0 = scalarI64(0);
  ExecContext ctx;
  Ins ins = lambIns(c);
  KernelCall call{ins.ins,
                  {p.tensor(), p.tensor(), p.tensor(), p.tensor(), lr.tensor(), t0.tensor()},
                  {p.tensor(), p.tensor(), p.tensor()},
                  ctx, decodeKernelAttrs(ins.ins)};
  EXPECT_THROW(findCpuKernel("lamb_update")(call), Error);
}
