// Backward kernels against reference loops (double precision) and central differences of
// the forward computation.
#include "TrainingKernelTestUtil.h"

// ------------------------------------------------------------------ softmax family

TEST(BackwardKernels, SoftmaxAndLogSoftmaxGrad) {
  struct Case {
    std::vector<int64_t> shape;
    int64_t axis;
  };
  for (const Case &cs : std::vector<Case>{{{3, 5}, 1}, {{2, 3, 4}, 1}, {{4, 3}, 0}, {{7}, 0},
                                          {{2, 2, 3}, 2}})
    for (bool log : {false, true})
      for (DType dt : {F64, F32, F16, BF16}) {
        HostTensor x = randomTensor(F64, cs.shape, rng(), -3, 3);
        std::vector<double> yv = refSoftmax(values(x), cs.shape, cs.axis, log);
        HostTensor y(dt, cs.shape), g = randomTensor(dt, cs.shape, rng()), dx(dt, cs.shape);
        for (int64_t i = 0; i < y.numel(); ++i)
          y.set(i, yv[size_t(i)]);
        runKernel(Ins(log ? "log_softmax_grad" : "softmax_grad").i("axis", cs.axis), {&g, &y},
                  {&dx});
        // dx = J^T g, checked against central differences of <g, softmax(x)>.
        std::vector<double> gv = values(g);
        std::vector<double> want = numericGrad(values(x), [&](const std::vector<double> &xv) {
          return dot(gv, refSoftmax(xv, cs.shape, cs.axis, log));
        });
        double tol = dt == F64 ? 1e-7 : dt == F32 ? 1e-4 : 5e-2;
        expectNear(dx, want, tol, tol,
                   std::string(log ? "log_softmax_grad " : "softmax_grad ") + dtypeName(dt));
      }
}

TEST(BackwardKernels, SoftmaxGradRejects) {
  HostTensor g(F32, {2, 3}), y(F32, {2, 4}), dx(F32, {2, 3}), y64(F64, {2, 3});
  EXPECT_NE(checkKernel(Ins("softmax_grad").i("axis", 1), {&g, &y}, {&dx}).find("shape"),
            std::string::npos);
  EXPECT_NE(checkKernel(Ins("softmax_grad").i("axis", 1), {&g, &y64}, {&dx}).find("element type"),
            std::string::npos);
  EXPECT_NE(checkKernel(Ins("softmax_grad").i("axis", 2), {&g, &g}, {&dx}).find("out of range"),
            std::string::npos);
}

// ------------------------------------------------------------------ gelu

TEST(BackwardKernels, GeluGrad) {
  auto gelu = [](double x, bool t) {
    if (t)
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  };
  for (bool t : {false, true})
    for (DType dt : {F64, F32, F16}) {
      HostTensor x = randomTensor(dt, {3, 33}, rng(), -5, 5), g = randomTensor(dt, {3, 33}, rng());
      HostTensor dx(dt, {3, 33});
      runKernel(Ins("gelu_grad").s("approximate", t ? "tanh" : "none"), {&g, &x}, {&dx});
      std::vector<double> want(size_t(x.numel()));
      for (int64_t i = 0; i < x.numel(); ++i) {
        double xi = x.get(i), h = 1e-6;
        want[size_t(i)] = g.get(i) * (gelu(xi + h, t) - gelu(xi - h, t)) / (2 * h);
      }
      double tol = dt == F64 ? 1e-8 : dt == F32 ? 1e-5 : 2e-2;
      expectNear(dx, want, tol, tol, std::string("gelu_grad ") + (t ? "tanh " : "erf ") +
                                         dtypeName(dt));
    }
  HostTensor x(F32, {4}), dx(F32, {4});
  EXPECT_NE(checkKernel(Ins("gelu_grad").s("approximate", "fast"), {&x, &x}, {&dx})
                .find("approximate"),
            std::string::npos);
}

// ------------------------------------------------------------------ layer norm

namespace {
std::vector<double> refLayerNorm(const std::vector<double> &x, const std::vector<double> &s,
                                 const std::vector<double> &b, int64_t outer, int64_t norm,
                                 double eps) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    double mu = 0, var = 0;
    for (int64_t i = 0; i < norm; ++i)
      mu += x[size_t(o * norm + i)];
    mu /= double(norm);
    for (int64_t i = 0; i < norm; ++i)
      var += (x[size_t(o * norm + i)] - mu) * (x[size_t(o * norm + i)] - mu);
    var /= double(norm);
    for (int64_t i = 0; i < norm; ++i)
      y[size_t(o * norm + i)] =
          (x[size_t(o * norm + i)] - mu) / std::sqrt(var + eps) * s[size_t(i)] + b[size_t(i)];
  }
  return y;
}
} // namespace

TEST(BackwardKernels, LayerNormGrad) {
  struct Case {
    std::vector<int64_t> shape;
    int64_t axis;
  };
  for (const Case &cs : std::vector<Case>{{{4, 6}, 1}, {{2, 3, 5}, 1}, {{2, 3, 5}, 2},
                                          {{3, 4}, 0}})
    for (DType dt : {F64, F32, BF16}) {
      std::vector<int64_t> ns(cs.shape.begin() + cs.axis, cs.shape.end());
      int64_t outer = 1, norm = 1;
      for (int64_t i = 0; i < cs.axis; ++i)
        outer *= cs.shape[size_t(i)];
      for (int64_t d : ns)
        norm *= d;
      // Offset the inputs so a one-pass variance would lose digits.
      HostTensor x = randomTensor(dt, cs.shape, rng(), 10, 14);
      HostTensor s = randomTensor(dt, ns, rng(), 0.5, 1.5), g = randomTensor(dt, cs.shape, rng());
      HostTensor dx(dt, cs.shape), ds(dt, ns), db(dt, ns);
      double eps = 1e-5;
      runKernel(Ins("layer_norm_grad").i("axis", cs.axis).f("epsilon", eps), {&g, &x, &s},
                {&dx, &ds, &db});
      std::vector<double> xv = values(x), sv = values(s), gv = values(g);
      std::vector<double> bv(size_t(norm), 0.25);
      auto L = [&](const std::vector<double> &xx, const std::vector<double> &ss,
                   const std::vector<double> &bb) {
        return dot(gv, refLayerNorm(xx, ss, bb, outer, norm, eps));
      };
      double tol = dt == F64 ? 1e-6 : dt == F32 ? 2e-3 : 0.1;
      std::string what = std::string("layer_norm_grad ") + dtypeName(dt) + " axis " +
                         std::to_string(cs.axis);
      expectNear(dx, numericGrad(xv, [&](const std::vector<double> &v) { return L(v, sv, bv); }),
                 tol, tol, what + " dx");
      expectNear(ds, numericGrad(sv, [&](const std::vector<double> &v) { return L(xv, v, bv); }),
                 tol, tol, what + " dscale");
      expectNear(db, numericGrad(bv, [&](const std::vector<double> &v) { return L(xv, sv, v); }),
                 tol, tol, what + " dbias");
    }
  HostTensor g(F32, {4, 6}), x(F32, {4, 6}), s(F32, {1, 6}), dx(F32, {4, 6}), ds(F32, {6});
  EXPECT_NE(checkKernel(Ins("layer_norm_grad").i("axis", 1), {&g, &x, &s}, {&dx, &ds, &ds})
                .find("scale has shape"),
            std::string::npos);
}

// ------------------------------------------------------------------ gather / slice

TEST(BackwardKernels, GatherGradRepeatedAndNegativeIndices) {
  for (DType dt : {F64, F32, F16})
    for (DType it : {I64, I32}) {
      // data [5, 3], axis 0, indices [2, 3] with repeats and negatives.
      HostTensor idx = fromValues(it, {2, 3}, {0, 4, -1, 2, 0, -5});
      HostTensor g = randomTensor(dt, {2, 3, 3}, rng()), dd(dt, {5, 3});
      runKernel(Ins("gather_grad").i("axis", 0), {&g, &idx}, {&dd});
      std::vector<double> want(15, 0.0);
      for (int64_t j = 0; j < 6; ++j) {
        int64_t r = int64_t(idx.get(j));
        r = r < 0 ? r + 5 : r;
        for (int64_t k = 0; k < 3; ++k)
          want[size_t(r * 3 + k)] += g.get(j * 3 + k);
      }
      // rows 0 and 4 receive three and two contributions, row 1 none, row 3 none.
      expectNear(dd, want, tolFor(dt), tolFor(dt), std::string("gather_grad axis 0 ") + dtypeName(dt));
      // axis 1 of data [2, 4, 3] with indices [3]: g is [2, 3, 3].
      HostTensor idx1 = fromValues(it, {3}, {1, -3, 3});
      HostTensor g1 = randomTensor(dt, {2, 3, 3}, rng()), dd1(dt, {2, 4, 3});
      runKernel(Ins("gather_grad").i("axis", 1), {&g1, &idx1}, {&dd1});
      std::vector<double> want1(24, 0.0);
      for (int64_t o = 0; o < 2; ++o)
        for (int64_t j = 0; j < 3; ++j) {
          int64_t r = int64_t(idx1.get(j));
          r = r < 0 ? r + 4 : r;
          for (int64_t k = 0; k < 3; ++k)
            want1[size_t((o * 4 + r) * 3 + k)] += g1.get((o * 3 + j) * 3 + k);
        }
      expectNear(dd1, want1, tolFor(dt), tolFor(dt), std::string("gather_grad axis 1 ") + dtypeName(dt));
    }
  // Out-of-range index: a run-time error naming it.
  HostTensor idx = fromValues(I64, {1}, {5}), g(F32, {1, 3}), dd(F32, {5, 3});
  ExecContext ctx;
  Ins ins("gather_grad");
  ins.i("axis", 0);
  KernelCall call{ins.ins, {g.tensor(), idx.tensor()}, {dd.tensor()}, ctx, decodeKernelAttrs(ins.ins)};
  try {
    findCpuKernel("gather_grad")(call);
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("index 5"), std::string::npos) << e.what();
  }
  HostTensor gbad(F32, {2, 3});
  EXPECT_NE(checkKernel(Ins("gather_grad").i("axis", 0), {&gbad, &idx}, {&dd}).find("grad has shape"),
            std::string::npos);
}

TEST(BackwardKernels, SliceGrad) {
  struct Case {
    std::vector<int64_t> shape, starts, ends, steps;
  };
  for (const Case &cs : std::vector<Case>{
           {{4, 8}, {0, 2}, {4, 6}, {1, 2}},
           {{5, 6}, {4, 5}, {-1, 0}, {-2, -1}},
           {{3, 4, 5}, {1, 0, 4}, {3, 4, -1}, {1, 3, -2}},
           {{6}, {5}, {-1}, {-1}},
           {{4, 3}, {1, 0}, {1, 3}, {1, 1}}}) // empty slice
    for (DType dt : {F64, F32, BF16}) {
      std::vector<int64_t> gs(cs.shape.size());
      for (size_t i = 0; i < gs.size(); ++i) {
        int64_t s = cs.starts[i], e = cs.ends[i], st = cs.steps[i];
        gs[i] = st > 0 ? (e > s ? (e - s + st - 1) / st : 0) : (s > e ? (s - e - st - 1) / -st : 0);
      }
      HostTensor g = randomTensor(dt, gs, rng()), dx(dt, cs.shape);
      std::fill(dx.bytes.begin(), dx.bytes.end(), char(0x55)); // must be overwritten with zeros
      runKernel(Ins("slice_grad").ints("starts", cs.starts).ints("ends", cs.ends).ints("steps", cs.steps),
                {&g}, {&dx});
      std::vector<double> want(size_t(dx.numel()), 0.0);
      for (int64_t i = 0; i < g.numel(); ++i) {
        auto idx = unravel(i, gs);
        for (size_t d = 0; d < idx.size(); ++d)
          idx[d] = cs.starts[d] + idx[d] * cs.steps[d];
        want[size_t(ravel(idx, cs.shape))] = g.get(i);
      }
      expectNear(dx, want, 0, 0, std::string("slice_grad ") + dtypeName(dt));
    }
  HostTensor g(F32, {4, 3}), dx(F32, {4, 8});
  EXPECT_NE(checkKernel(Ins("slice_grad").ints("starts", {0, 2}).ints("ends", {4, 6}).ints("steps", {1, 2}),
                        {&g}, {&dx})
                .find("grad has shape"),
            std::string::npos);
}

// ------------------------------------------------------------------ losses

namespace {
// Forward loss in double (ONNX semantics) for the finite-difference reference.
std::vector<double> refLoss(const std::vector<double> &scores, const std::vector<int64_t> &shape,
                            const std::vector<int64_t> &labels, const std::vector<double> *w,
                            const std::string &red, bool hasIgnore, int64_t ignore,
                            bool fromLogits) {
  int64_t N = shape[0], C = shape[1], D = 1;
  for (size_t i = 2; i < shape.size(); ++i)
    D *= shape[i];
  std::vector<double> lp = fromLogits ? refSoftmax(scores, shape, 1, true) : scores;
  std::vector<double> per(size_t(N * D));
  double total = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < D; ++j) {
      int64_t l = labels[size_t(n * D + j)];
      double li = 0, wi = 0;
      if (!(hasIgnore && l == ignore)) {
        wi = w ? (*w)[size_t(l)] : 1.0;
        li = -wi * lp[size_t((n * C + l) * D + j)];
      }
      per[size_t(n * D + j)] = li;
      total += li;
      wsum += wi;
    }
  if (red == "none")
    return per;
  return {red == "sum" ? total : total / wsum};
}
} // namespace

TEST(BackwardKernels, LossGrads) {
  struct Case {
    std::vector<int64_t> shape;
    std::vector<int64_t> labels;
  };
  std::vector<Case> cases = {{{5, 4}, {0, 3, 2, 3, 1}}, {{2, 3, 4}, {0, 1, 2, 1, 2, 2, 0, 0}}};
  for (const Case &cs : cases)
    for (bool logits : {true, false})
      for (const char *red : {"mean", "sum", "none"})
        for (bool weighted : {false, true})
          for (bool ignore : {false, true})
            for (DType dt : {F64, F32})
              for (DType lt : {I64, I32}) {
                std::vector<int64_t> lshape = cs.shape;
                lshape.erase(lshape.begin() + 1);
                int64_t C = cs.shape[1];
                HostTensor s = randomTensor(dt, cs.shape, rng(), -2, 2);
                HostTensor lab(lt, lshape);
                for (size_t i = 0; i < cs.labels.size(); ++i)
                  lab.set(int64_t(i), double(cs.labels[i]));
                HostTensor w = randomTensor(dt, {C}, rng(), 0.5, 2);
                std::vector<int64_t> gshape =
                    std::string(red) == "none" ? lshape : std::vector<int64_t>{};
                HostTensor g = randomTensor(dt, gshape, rng(), 0.5, 2);
                HostTensor ds(dt, cs.shape);
                Ins ins(logits ? "softmax_cross_entropy_loss_grad" : "nll_loss_grad");
                ins.s("reduction", red);
                if (ignore)
                  ins.i("ignore_index", 2);
                std::vector<HostTensor *> in = {&g, &s, &lab};
                if (weighted)
                  in.push_back(&w);
                runKernel(ins, in, {&ds});
                std::vector<double> wv = values(w), gv = values(g);
                std::vector<double> want =
                    numericGrad(values(s), [&](const std::vector<double> &sv) {
                      return dot(gv, refLoss(sv, cs.shape, cs.labels, weighted ? &wv : nullptr,
                                             red, ignore, 2, logits));
                    });
                double tol = dt == F64 ? 1e-7 : 1e-4;
                std::string what = std::string(ins.ins.kernel()) + " " + red +
                                   (weighted ? " weighted" : "") + (ignore ? " ignore" : "") +
                                   " " + dtypeName(dt);
                expectNear(ds, want, tol, tol, what);
                if (ignore) // positions labelled 2 get exactly 0
                  for (int64_t k = 0; k < int64_t(cs.labels.size()); ++k)
                    if (cs.labels[size_t(k)] == 2) {
                      int64_t D = int64_t(cs.labels.size()) / cs.shape[0];
                      int64_t n = k / D, j = k % D;
                      for (int64_t ci = 0; ci < C; ++ci)
                        ASSERT_EQ(ds.get((n * C + ci) * D + j), 0.0) << what;
                    }
              }
  // A label outside [0, C) that is not the ignore_index is a run-time error.
  HostTensor g(F32, {}), s(F32, {2, 3}), lab = fromValues(I64, {2}, {0, 3}), ds(F32, {2, 3});
  g.set(0, 1);
  ExecContext ctx;
  Ins ins("nll_loss_grad");
  KernelCall call{ins.ins, {g.tensor(), s.tensor(), lab.tensor()}, {ds.tensor()}, ctx, decodeKernelAttrs(ins.ins)};
  EXPECT_THROW(findCpuKernel("nll_loss_grad")(call), Error);
  HostTensor gn(F32, {2});
  EXPECT_NE(checkKernel(Ins("nll_loss_grad"), {&gn, &s, &lab}, {&ds}).find("grad has shape"),
            std::string::npos);
  EXPECT_NE(checkKernel(Ins("nll_loss_grad").s("reduction", "none"), {&g, &s, &lab}, {&ds})
                .find("grad has shape"),
            std::string::npos);
  HostTensor labf(F32, {2});
  EXPECT_NE(checkKernel(Ins("nll_loss_grad"), {&g, &s, &labf}, {&ds}).find("labels must be"),
            std::string::npos);
}
