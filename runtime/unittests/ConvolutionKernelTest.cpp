// CPU kernels of convolutional networks (conv and its gradients, batch_norm, pooling)
// against naive double-precision references.
#include "TrainingKernelTestUtil.h"

namespace {

struct Geometry {
  std::vector<int64_t> strides, pads, dilations;
};

/// [N, C, S...] with 1-D as height 1: n, c, h, w.
std::array<int64_t, 4> nchw(const std::vector<int64_t> &s) {
  return {s[0], s[1], s.size() == 4 ? s[2] : 1, s.back()};
}
/// Per-dim geometry as 2-D (height first).
struct Dims2 {
  int64_t sh, sw, ph, pw, dh, dw;
};
Dims2 dims2(const Geometry &g) {
  bool twoD = g.strides.size() == 2;
  size_t n = g.strides.size();
  return {twoD ? g.strides[0] : 1, g.strides.back(),          twoD ? g.pads[0] : 0,
          g.pads[n - 1],           twoD ? g.dilations[0] : 1, g.dilations.back()};
}

Ins convIns(const std::string &k, const Geometry &g, int64_t group) {
  return Ins(k)
      .ints("strides", g.strides)
      .ints("pads", g.pads)
      .ints("dilations", g.dilations)
      .i("group", group);
}

/// Calls fn(xIndex, wIndex, yIndex) for every product term of the convolution.
template <typename Fn>
void convTerms(const std::vector<int64_t> &xs, const std::vector<int64_t> &ws,
               const std::vector<int64_t> &ys, const Geometry &g, int64_t group, Fn fn) {
  auto [n, c, h, w] = nchw(xs);
  auto [m, cg, kh, kw] = nchw(ws);
  auto [yn, ym, oh, ow] = nchw(ys);
  Dims2 d = dims2(g);
  int64_t mg = m / group;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t mo = 0; mo < m; ++mo)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox)
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = oy * d.sh - d.ph + i * d.dh,
                        ix = ox * d.sw - d.pw + j * d.dw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                  continue;
                int64_t cin = (mo / mg) * cg + ci;
                fn(((b * c + cin) * h + iy) * w + ix, ((mo * cg + ci) * kh + i) * kw + j,
                   ((b * m + mo) * oh + oy) * ow + ox);
              }
}

struct ConvCase {
  std::vector<int64_t> x, w, y;
  Geometry g;
  int64_t group;
  bool bias;
};

std::vector<ConvCase> convCases() {
  return {
      {{2, 3, 5, 5}, {4, 3, 3, 3}, {2, 4, 3, 3}, {{2, 2}, {1, 1, 1, 1}, {1, 1}}, 1, true},
      {{1, 2, 6, 5},
       {3, 2, 2, 3},
       {1, 3, 5, 2},
       {{1, 2}, {0, 1, 1, 0}, {2, 1}},
       1,
       false},
      {{2, 4, 4, 4}, {6, 2, 3, 3}, {2, 6, 4, 4}, {{1, 1}, {1, 1, 1, 1}, {1, 1}}, 2, true},
      {{1, 3, 5, 5},
       {3, 1, 3, 3},
       {1, 3, 3, 3},
       {{2, 2}, {1, 1, 1, 1}, {1, 1}},
       3,
       false},
      {{2, 3, 7}, {2, 3, 3}, {2, 2, 4}, {{2}, {1, 2}, {1}}, 1, true},
      {{2, 3, 16, 16},
       {8, 3, 7, 7},
       {2, 8, 8, 8},
       {{2, 2}, {3, 3, 3, 3}, {1, 1}},
       1,
       false},
      // Pointwise (1x1, stride 1, no padding): the GEMM-per-image path, 2-D with groups
      // and 1-D; then 1x1 at stride 2, which still takes im2col.
      {{2, 4, 3, 5}, {6, 4, 1, 1}, {2, 6, 3, 5}, {{1, 1}, {0, 0, 0, 0}, {1, 1}}, 1, true},
      {{2, 4, 3, 5}, {6, 2, 1, 1}, {2, 6, 3, 5}, {{1, 1}, {0, 0, 0, 0}, {2, 2}}, 2, true},
      {{3, 3, 7}, {5, 3, 1}, {3, 5, 7}, {{1}, {0, 0}, {1}}, 1, false},
      {{2, 4, 5, 5},
       {6, 4, 1, 1},
       {2, 6, 3, 3},
       {{2, 2}, {0, 0, 0, 0}, {1, 1}},
       1,
       false},
  };
}

TEST(ConvolutionKernels, ConvAndGradientsMatchNaiveReference) {
  for (const ConvCase &cs : convCases())
    for (DType dt : {F64, F32, BF16}) {
      HostTensor x = randomTensor(dt, cs.x, rng()), w = randomTensor(dt, cs.w, rng());
      HostTensor b = randomTensor(dt, {cs.w[0]}, rng()),
                 gy = randomTensor(dt, cs.y, rng());
      HostTensor y(dt, cs.y), dx(dt, cs.x), dw(dt, cs.w);
      std::vector<HostTensor *> in{&x, &w};
      if (cs.bias)
        in.push_back(&b);
      runKernel(convIns("conv", cs.g, cs.group), in, {&y});
      runKernel(convIns("conv_grad_input", cs.g, cs.group), {&gy, &w}, {&dx});
      runKernel(convIns("conv_grad_filter", cs.g, cs.group), {&gy, &x}, {&dw});
      std::vector<double> xv = values(x), wv = values(w), gv = values(gy);
      std::vector<double> ry(size_t(y.numel()), 0.0), rdx(xv.size(), 0.0),
          rdw(wv.size(), 0.0);
      convTerms(cs.x, cs.w, cs.y, cs.g, cs.group,
                [&](int64_t xi, int64_t wi, int64_t yi) {
                  ry[size_t(yi)] += xv[size_t(xi)] * wv[size_t(wi)];
                  rdx[size_t(xi)] += gv[size_t(yi)] * wv[size_t(wi)];
                  rdw[size_t(wi)] += gv[size_t(yi)] * xv[size_t(xi)];
                });
      if (cs.bias) {
        int64_t inner = y.numel() / (cs.y[0] * cs.y[1]);
        for (int64_t i = 0; i < y.numel(); ++i)
          ry[size_t(i)] += values(b)[size_t((i / inner) % cs.y[1])];
      }
      double tol = dt == F64 ? 1e-12 : dt == F32 ? 1e-4 : 0.1;
      std::string what = std::string(dtypeName(dt)) + " x " + shapeString(cs.x) +
                         " group " + std::to_string(cs.group);
      expectNear(y, ry, tol, tol, "conv " + what);
      expectNear(dx, rdx, tol, tol, "conv_grad_input " + what);
      expectNear(dw, rdw, tol, tol * 4, "conv_grad_filter " + what);
    }
}

TEST(ConvolutionKernels, ConvRejectsBadGeometry) {
  HostTensor x(F32, {1, 4, 8, 8}), w(F32, {6, 4, 3, 3}), y(F32, {1, 6, 8, 8});
  Geometry g{{1, 1}, {1, 1, 1, 1}, {1, 1}};
  EXPECT_NE(
      checkKernel(convIns("conv", g, 2), {&x, &w}, {&y}).find("group 2 does not fit"),
      std::string::npos);
  HostTensor y2(F32, {1, 6, 7, 7});
  EXPECT_NE(
      checkKernel(convIns("conv", g, 1), {&x, &w}, {&y2}).find("expected [1,6,8,8]"),
      std::string::npos)
      << checkKernel(convIns("conv", g, 1), {&x, &w}, {&y2});
  Geometry bad{{1, 1}, {1, 1}, {1, 1}};
  EXPECT_NE(checkKernel(convIns("conv", bad, 1), {&x, &w}, {&y}).find("pads needs 4"),
            std::string::npos);
}

std::vector<double>
refBatchNorm(const std::vector<double> &x, const std::vector<int64_t> &shape,
             const std::vector<double> &s, const std::vector<double> &b, double eps,
             std::vector<double> *mean = nullptr, std::vector<double> *var = nullptr) {
  int64_t n = shape[0], c = shape[1], inner = int64_t(x.size()) / (n * c);
  std::vector<double> y(x.size());
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0, cnt = double(n * inner);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k)
        sum += x[size_t((i * c + ch) * inner + k)];
    double mu = sum / cnt;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k)
        sq += std::pow(x[size_t((i * c + ch) * inner + k)] - mu, 2);
    double v = sq / cnt;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k) {
        size_t e = size_t((i * c + ch) * inner + k);
        y[e] = (x[e] - mu) / std::sqrt(v + eps) * s[size_t(ch)] + b[size_t(ch)];
      }
    if (mean)
      mean->push_back(mu);
    if (var)
      var->push_back(v);
  }
  return y;
}

TEST(ConvolutionKernels, BatchNormAndGradientMatchReference) {
  for (const std::vector<int64_t> &shape :
       std::vector<std::vector<int64_t>>{{4, 3, 5, 5}, {3, 2, 7}, {8, 4}})
    for (DType dt : {F64, F32, BF16}) {
      int64_t c = shape[1];
      // Offset inputs: a one-pass variance would lose digits. (bf16 cannot hold such x to
      // better than 2^-4, nor its statistics, which batch_norm keeps in x's type:
      // centered.)
      HostTensor x = dt == BF16 ? randomTensor(dt, shape, rng(), -2, 2)
                                : randomTensor(dt, shape, rng(), 10, 14);
      HostTensor s = randomTensor(dt, {c}, rng(), 0.5, 1.5),
                 b = randomTensor(dt, {c}, rng());
      HostTensor y(dt, shape), mean(dt, {c}), var(dt, {c}),
          g = randomTensor(dt, shape, rng());
      double eps = 1e-5;
      runKernel(Ins("batch_norm").f("epsilon", eps), {&x, &s, &b}, {&y, &mean, &var});
      std::vector<double> rm, rv, xv = values(x), sv = values(s), bv = values(b),
                                  gv = values(g);
      std::vector<double> ry = refBatchNorm(xv, shape, sv, bv, eps, &rm, &rv);
      double tol = dt == F64 ? 1e-10 : dt == F32 ? 2e-4 : 0.1;
      std::string what = std::string(dtypeName(dt)) + " " + shapeString(shape);
      expectNear(y, ry, tol, tol, "batch_norm y " + what);
      expectNear(mean, rm, tol, tol, "batch_norm mean " + what);
      expectNear(var, rv, tol, tol, "batch_norm var " + what);

      HostTensor dx(dt, shape), ds(dt, {c}), db(dt, {c});
      runKernel(Ins("batch_norm_grad").f("epsilon", eps), {&g, &x, &s, &mean, &var},
                {&dx, &ds, &db});
      auto L = [&](const std::vector<double> &xx, const std::vector<double> &ss,
                   const std::vector<double> &bb) {
        return dot(gv, refBatchNorm(xx, shape, ss, bb, eps));
      };
      double gtol = dt == F64 ? 1e-6 : dt == F32 ? 2e-3 : 0.15;
      expectNear(
          dx, numericGrad(xv, [&](const std::vector<double> &v) { return L(v, sv, bv); }),
          gtol, gtol, "batch_norm_grad dx " + what);
      expectNear(
          ds, numericGrad(sv, [&](const std::vector<double> &v) { return L(xv, v, bv); }),
          gtol, gtol, "batch_norm_grad dscale " + what);
      expectNear(
          db, numericGrad(bv, [&](const std::vector<double> &v) { return L(xv, sv, v); }),
          gtol, gtol, "batch_norm_grad dbias " + what);
    }
}

struct PoolCase {
  std::vector<int64_t> x, y, kernel;
  Geometry g;
  bool ceil, countPad;
};

Ins poolIns(const std::string &k, const PoolCase &p) {
  return Ins(k)
      .ints("kernel_shape", p.kernel)
      .ints("strides", p.g.strides)
      .ints("pads", p.g.pads)
      .ints("dilations", p.g.dilations)
      .i("ceil_mode", p.ceil)
      .i("count_include_pad", p.countPad);
}

TEST(ConvolutionKernels, PoolingMatchesNaiveReference) {
  std::vector<PoolCase> cases{
      {{2, 2, 6, 6}, {2, 2, 3, 3}, {3, 3}, {{2, 2}, {1, 1, 1, 1}, {1, 1}}, false, false},
      {{1, 2, 7, 6}, {1, 2, 3, 3}, {2, 2}, {{2, 2}, {0, 0, 0, 0}, {2, 1}}, true, false},
      {{2, 3, 8}, {2, 3, 4}, {2}, {{2}, {0, 0}, {1}}, false, false},
      {{2, 2, 5, 5}, {2, 2, 3, 3}, {3, 3}, {{2, 2}, {1, 1, 1, 1}, {1, 1}}, false, false},
      {{1, 2, 6, 6}, {1, 2, 4, 4}, {3, 3}, {{2, 2}, {1, 1, 1, 1}, {1, 1}}, true, true},
  };
  for (const PoolCase &p : cases)
    for (DType dt : {F64, F32}) {
      HostTensor x = randomTensor(dt, p.x, rng()), g = randomTensor(dt, p.y, rng());
      auto [n, c, h, w] = nchw(p.x);
      auto [yn, yc, oh, ow] = nchw(p.y);
      bool twoD = p.x.size() == 4;
      int64_t kh = twoD ? p.kernel[0] : 1, kw = p.kernel.back();
      Dims2 d = dims2(p.g);
      int64_t peh = twoD ? p.g.pads[2] : 0, pew = p.g.pads.back();
      std::vector<double> xv = values(x), gv = values(g);
      std::vector<double> rmax(gv.size()), ravg(gv.size()), rdmax(xv.size(), 0.0),
          rdavg(xv.size(), 0.0);
      bool dilated = d.dh != 1 || d.dw != 1;
      for (int64_t pl = 0; pl < n * c; ++pl)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            size_t yi = size_t((pl * oh + oy) * ow + ox);
            int64_t best = -1;
            double sum = 0, inside = 0;
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = oy * d.sh - d.ph + i * d.dh,
                        ix = ox * d.sw - d.pw + j * d.dw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                  continue;
                int64_t k = (pl * h + iy) * w + ix;
                if (best < 0 || xv[size_t(k)] > xv[size_t(best)])
                  best = k;
                sum += xv[size_t(k)];
                inside += 1;
              }
            rmax[yi] = xv[size_t(best)];
            rdmax[size_t(best)] += gv[yi];
            int64_t y0 = oy * d.sh - d.ph, x0 = ox * d.sw - d.pw;
            double padded = double((std::min(y0 + kh, h + peh) - y0) *
                                   (std::min(x0 + kw, w + pew) - x0));
            double div = p.countPad ? padded : inside;
            ravg[yi] = sum / div;
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = y0 + i, ix = x0 + j;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                  rdavg[size_t((pl * h + iy) * w + ix)] += gv[yi] / div;
              }
          }
      double tol = dt == F64 ? 1e-12 : 1e-5;
      std::string what = std::string(dtypeName(dt)) + " " + shapeString(p.x);
      HostTensor y(dt, p.y), dx(dt, p.x);
      runKernel(poolIns("max_pool", p), {&x}, {&y});
      expectNear(y, rmax, tol, tol, "max_pool " + what);
      runKernel(poolIns("max_pool_grad", p), {&g, &x}, {&dx});
      expectNear(dx, rdmax, tol, tol, "max_pool_grad " + what);
      if (dilated)
        continue;
      runKernel(poolIns("avg_pool", p), {&x}, {&y});
      expectNear(y, ravg, tol, tol, "avg_pool " + what);
      runKernel(poolIns("avg_pool_grad", p), {&g}, {&dx});
      expectNear(dx, rdavg, tol, tol, "avg_pool_grad " + what);
    }
}

TEST(ConvolutionKernels, PoolingRejectsBadGeometry) {
  HostTensor x(F32, {1, 1, 7, 7}), y(F32, {1, 1, 4, 4});
  PoolCase p{{1, 1, 7, 7}, {1, 1, 4, 4}, {2, 2}, {{2, 2}, {0, 0, 0, 0}, {1, 1}},
             false,        false};
  EXPECT_NE(checkKernel(poolIns("max_pool", p), {&x}, {&y}).find("expected [1,1,3,3]"),
            std::string::npos)
      << checkKernel(poolIns("max_pool", p), {&x}, {&y});
  p.ceil = true;
  EXPECT_EQ(checkKernel(poolIns("max_pool", p), {&x}, {&y}), "");
  p.g.dilations = {2, 2};
  HostTensor y3(F32, {1, 1, 3, 3});
  EXPECT_NE(checkKernel(poolIns("avg_pool", p), {&x}, {&y3}).find("dilations of 1"),
            std::string::npos)
      << checkKernel(poolIns("avg_pool", p), {&x}, {&y3});
}

} // namespace
