// Backward and optimizer kernels against reference loops (double precision) and, for the
// gradients, against central differences of the forward computation.
#include "KernelTestUtil.h"

#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/Plan.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <unistd.h>

using namespace ds::rt;
using namespace ds::rt::test;
using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::F64;
using ds::plan::I32;
using ds::plan::I64;

namespace {

std::mt19937 &rng() {
  static std::mt19937 r(1234);
  return r;
}

double tolFor(DType dt) { return dt == F64 ? 1e-12 : dt == F32 ? 2e-5 : 2e-2; }

std::vector<double> values(const HostTensor &t) {
  std::vector<double> v(size_t(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[size_t(i)] = t.get(i);
  return v;
}

// Reference softmax / log_softmax along `axis` in double.
std::vector<double> refSoftmax(const std::vector<double> &x, const std::vector<int64_t> &shape,
                               int64_t axis, bool log) {
  int64_t outer = 1, dim = shape[size_t(axis)], inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[size_t(i)];
  for (size_t i = size_t(axis) + 1; i < shape.size(); ++i)
    inner *= shape[i];
  std::vector<double> r(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double mx = -INFINITY, s = 0;
      for (int64_t d = 0; d < dim; ++d)
        mx = std::max(mx, x[size_t((o * dim + d) * inner + i)]);
      for (int64_t d = 0; d < dim; ++d)
        s += std::exp(x[size_t((o * dim + d) * inner + i)] - mx);
      for (int64_t d = 0; d < dim; ++d) {
        double v = x[size_t((o * dim + d) * inner + i)] - mx;
        r[size_t((o * dim + d) * inner + i)] = log ? v - std::log(s) : std::exp(v) / s;
      }
    }
  return r;
}

/// Central differences of a scalar function f(x) in double.
std::vector<double> numericGrad(std::vector<double> x,
                                const std::function<double(const std::vector<double> &)> &f,
                                double eps = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double x0 = x[i];
    x[i] = x0 + eps;
    double fp = f(x);
    x[i] = x0 - eps;
    double fm = f(x);
    x[i] = x0;
    g[i] = (fp - fm) / (2 * eps);
  }
  return g;
}

double dot(const std::vector<double> &a, const std::vector<double> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

} // namespace

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

// ------------------------------------------------------------------ optimizers

namespace {
struct AdamCfg {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0;
  bool adamW = true, bc = true;
};

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

HostTensor scalarF32(double v) {
  HostTensor t(F32, {});
  t.set(0, v);
  return t;
}
HostTensor scalarI64(int64_t v) {
  HostTensor t(I64, {});
  t.set(0, double(v));
  return t;
}

Ins adamIns(const AdamCfg &c) {
  Ins ins("adam_update");
  ins.f("beta1", float(c.b1)).f("beta2", float(c.b2)).f("eps", float(c.eps)).f("weight_decay", float(c.wd));
  ins.i("adam_w_mode", c.adamW).i("bias_correction", c.bc);
  return ins;
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

namespace {
struct SgdCfg {
  double mu = 0, damp = 0, wd = 0;
  bool nesterov = false;
};
Ins sgdIns(const SgdCfg &c) {
  Ins ins("sgd_update");
  ins.f("momentum", float(c.mu)).f("dampening", float(c.damp)).f("weight_decay", float(c.wd)).i("nesterov", c.nesterov);
  return ins;
}
} // namespace

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
void expectLowMatchesF32(const Ins &ins, std::vector<HostTensor> in, std::vector<HostTensor> out,
                         DType dt, const std::string &what) {
  std::vector<HostTensor> lin, lout;
  for (HostTensor &t : in) {
    if (t.dtype != F32) {
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
  for (HostTensor &t : out)
    lout.push_back(t.dtype == F32 ? HostTensor(dt, t.shape) : HostTensor(t.dtype, t.shape));
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
