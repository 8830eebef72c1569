// Tests that the CPU layer_norm and layer_norm_grad kernels (lib/cpu/LayerNormLoops.cpp,
// rows four at a time, vectorised per instruction set) compute on every instruction set the
// bits of the plain two-pass formulas below, one row and one column at a time, in rowSum's
// order: shapes whose rows, row lengths and columns are no multiple of the loops' groups
// (4 rows, 8 elements, 64-column blocks), scale and bias broadcast from smaller shapes,
// without a bias, f32 and f64, the accs added in place and into other buffers, and rows
// holding an infinity or a NaN. Built with -ffp-contract=off: the references round as the
// loops do.
#include "KernelTestUtil.h"

#include "../lib/cpu/RowSum.h"

#include <cmath>
#include <limits>

namespace ds::rt::test {
namespace {

using ds::plan::F32;
using ds::plan::F64;

std::mt19937 &rng() {
  static std::mt19937 r(20261203);
  return r;
}

/// Element i of t as T (its own dtype's value).
template <typename T> T at(HostTensor &t, int64_t i) { return t.as<T>()[i]; }

/// The mean and 1/sqrt(var + eps) of row o of x [outer, norm].
template <typename T>
void stats(HostTensor &x, int64_t o, int64_t norm, double eps, T &mu, T &inv) {
  const T *px = x.as<T>() + o * norm;
  double sum = cpu::rowSum(norm, [&](int64_t i) { return double(px[i]); });
  mu = T(norm ? sum / double(norm) : 0);
  double sq = cpu::rowSum(norm, [&](int64_t i) {
    double d = double(px[i] - mu);
    return d * d;
  });
  inv = T(1.0 / std::sqrt((norm ? sq / double(norm) : 0) + eps));
}

/// layer_norm with scale and bias already `norm` elements (bias may be null).
template <typename T>
HostTensor layerNormReference(HostTensor &x, int64_t norm, const std::vector<T> &scale,
                              const std::vector<T> *bias, double eps) {
  HostTensor y(x.dtype, x.shape);
  int64_t outer = x.numel() / norm;
  for (int64_t o = 0; o < outer; ++o) {
    T mu, inv;
    stats<T>(x, o, norm, eps, mu, inv);
    for (int64_t i = 0; i < norm; ++i)
      y.as<T>()[o * norm + i] = (at<T>(x, o * norm + i) - mu) * inv * scale[size_t(i)] +
                                (bias ? (*bias)[size_t(i)] : T(0));
  }
  return y;
}

/// dx, dscale, dbias of layer_norm_grad, each plus its acc where one is given.
template <typename T>
std::vector<HostTensor> gradReference(HostTensor &g, HostTensor &x, HostTensor &s,
                                      int64_t norm, double eps, HostTensor *dxAcc,
                                      HostTensor *dsAcc, HostTensor *dbAcc) {
  HostTensor dx(x.dtype, x.shape), ds(x.dtype, s.shape), db(x.dtype, s.shape);
  int64_t outer = x.numel() / norm;
  const T *sc = s.as<T>();
  std::vector<T> mus(static_cast<size_t>(outer)), invs(static_cast<size_t>(outer));
  for (int64_t o = 0; o < outer; ++o) {
    T mu, is;
    stats<T>(x, o, norm, eps, mu, is);
    mus[size_t(o)] = mu;
    invs[size_t(o)] = is;
    const T *pg = g.as<T>() + o * norm, *px = x.as<T>() + o * norm;
    double sg = cpu::rowSum(norm, [&](int64_t i) { return double(T(pg[i] * sc[i])); });
    double sgx = cpu::rowSum(norm, [&](int64_t i) {
      T gh = pg[i] * sc[i];
      T xh = (px[i] - mu) * is;
      return double(gh) * double(xh);
    });
    T mg = T(norm ? sg / double(norm) : 0), mgx = T(norm ? sgx / double(norm) : 0);
    for (int64_t i = 0; i < norm; ++i) {
      T xh = (px[i] - mu) * is;
      T v = is * (pg[i] * sc[i] - mg - xh * mgx);
      dx.as<T>()[o * norm + i] = dxAcc ? at<T>(*dxAcc, o * norm + i) + v : v;
    }
  }
  for (int64_t c = 0; c < norm; ++c) {
    double sd = 0, sb = 0;
    for (int64_t o = 0; o < outer; ++o) {
      T gv = at<T>(g, o * norm + c);
      T xh = (at<T>(x, o * norm + c) - mus[size_t(o)]) * invs[size_t(o)];
      sd += double(gv) * double(xh);
      sb += double(gv);
    }
    ds.as<T>()[c] = dsAcc ? at<T>(*dsAcc, c) + T(sd) : T(sd);
    db.as<T>()[c] = dbAcc ? at<T>(*dbAcc, c) + T(sb) : T(sb);
  }
  return {dx, ds, db};
}

/// Equal bits, or both NaN (a NaN's sign and payload follow operand order, which the
/// compiler picks for commutative operations).
template <typename T>
void expectSameBits(HostTensor &got, HostTensor &want, const std::string &what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  for (int64_t i = 0; i < got.numel(); ++i) {
    T a = at<T>(got, i), b = at<T>(want, i);
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a)) << what << " at " << i;
      continue;
    }
    ASSERT_EQ(std::memcmp(&a, &b, sizeof(T)), 0)
        << what << " at " << i << ": " << a << " vs " << b;
  }
}

struct Case {
  std::vector<int64_t> shape;
  int64_t axis;
  std::vector<int64_t> scaleShape, biasShape; // forward; empty bias shape: no bias
};

// The loops' edges: 21 rows (5 groups of 4 and one), 37 elements (8-element vectors and a
// tail of 5; one partial column block); 5 rows of 130 (two whole blocks and 2 columns);
// normalized dims [4, 24] and [5, 6] with scale and bias broadcast from [24], [4, 1], [1, 24]
// and [1, 6]; one row of
// 60 (axis 0); rows of one element; the benchmark's [4, 128, 256]. (layer_norm_grad takes
// its scale as the normalized shape.)
const std::vector<Case> kCases = {
    {{3, 7, 37}, 2, {37}, {37}},           {{5, 130}, 1, {130}, {}},
    {{2, 3, 4, 24}, 2, {24}, {4, 1}},       {{2, 3, 4, 24}, 2, {4, 24}, {1, 24}},
    {{3, 5, 6}, 1, {1, 6}, {}},
    {{6, 10}, 0, {6, 10}, {6, 10}},         {{9, 1}, 1, {1}, {1}},
    {{4, 128, 256}, 2, {256}, {256}},
};

template <typename T> void checkForward(DType dt, const std::string &isa) {
  for (const Case &cs : kCases) {
    int64_t norm = 1;
    std::vector<int64_t> normShape(cs.shape.begin() + cs.axis, cs.shape.end());
    for (int64_t d : normShape)
      norm *= d;
    HostTensor x = randomTensor(dt, cs.shape, rng(), -3, 3);
    if (x.numel() / norm > 3) { // an infinity in row 1, a NaN in row 3
      x.set(norm + norm / 2, std::numeric_limits<double>::infinity());
      x.set(3 * norm, std::numeric_limits<double>::quiet_NaN());
    }
    HostTensor s = randomTensor(dt, cs.scaleShape, rng(), 0.5, 1.5);
    HostTensor b = randomTensor(dt, cs.biasShape.empty() ? std::vector<int64_t>{1}
                                                         : cs.biasShape,
                                rng());
    bool hasBias = !cs.biasShape.empty();
    // scale and bias broadcast to the normalized shape, as the kernel reads them
    auto expand = [&](HostTensor &p) {
      HostTensor e(dt, normShape);
      std::vector<int64_t> pst(normShape.size(), 0);
      for (size_t d = 0, st = 1; d < p.shape.size(); ++d) {
        size_t pd = p.shape.size() - 1 - d;
        pst[normShape.size() - 1 - d] = p.shape[pd] == 1 ? 0 : int64_t(st);
        st *= size_t(p.shape[pd]);
      }
      std::vector<T> v(static_cast<size_t>(norm));
      for (int64_t i = 0; i < norm; ++i) {
        int64_t rem = i, off = 0;
        for (size_t d = normShape.size(); d-- > 0;) {
          off += (rem % normShape[d]) * pst[d];
          rem /= normShape[d];
        }
        v[size_t(i)] = at<T>(p, off);
      }
      return v;
    };
    std::vector<T> sv = expand(s), bv = hasBias ? expand(b) : std::vector<T>();
    HostTensor want = layerNormReference<T>(x, norm, sv, hasBias ? &bv : nullptr, 1e-5);
    HostTensor y(dt, cs.shape);
    Ins ln = Ins("layer_norm").i("axis", cs.axis).f("epsilon", 1e-5);
    if (hasBias)
      runKernel(ln, {&x, &s, &b}, {&y});
    else
      runKernel(ln, {&x, &s}, {&y});
    expectSameBits<T>(y, want,
                      isa + " layer_norm " + dtypeName(dt) + " rank " +
                          std::to_string(cs.shape.size()) + " axis " +
                          std::to_string(cs.axis) + (hasBias ? "" : " without bias"));
  }
}

template <typename T> void checkGrad(DType dt, const std::string &isa) {
  for (const Case &cs : kCases) {
    std::vector<int64_t> normShape(cs.shape.begin() + cs.axis, cs.shape.end());
    int64_t norm = 1;
    for (int64_t d : normShape)
      norm *= d;
    HostTensor g = randomTensor(dt, cs.shape, rng()), x = randomTensor(dt, cs.shape, rng(), -3, 3);
    if (x.numel() / norm > 3)
      g.set(3 * norm + norm / 3, std::numeric_limits<double>::infinity());
    HostTensor s = randomTensor(dt, normShape, rng(), 0.5, 1.5);
    Ins ln = Ins("layer_norm_grad").i("axis", cs.axis).f("epsilon", 1e-5);
    for (int accs : {0, 1, 3})
      for (bool inPlace : {false, true}) {
        if (accs == 0 && inPlace)
          continue;
        HostTensor dxAcc = randomTensor(dt, cs.shape, rng());
        HostTensor dsAcc = randomTensor(dt, normShape, rng()),
                   dbAcc = randomTensor(dt, normShape, rng());
        std::vector<HostTensor> want =
            gradReference<T>(g, x, s, norm, 1e-5, accs ? &dxAcc : nullptr,
                             accs == 3 ? &dsAcc : nullptr, accs == 3 ? &dbAcc : nullptr);
        HostTensor dx(dt, cs.shape), ds(dt, normShape), db(dt, normShape);
        HostTensor *outDx = inPlace ? &dxAcc : &dx;
        HostTensor *outDs = inPlace && accs == 3 ? &dsAcc : &ds;
        HostTensor *outDb = inPlace && accs == 3 ? &dbAcc : &db;
        std::vector<HostTensor *> in = {&g, &x, &s};
        if (accs >= 1)
          in.push_back(&dxAcc);
        if (accs == 3) {
          in.push_back(&dsAcc);
          in.push_back(&dbAcc);
        }
        runKernel(ln, in, {outDx, outDs, outDb});
        std::string what = isa + " layer_norm_grad " + dtypeName(dt) + " rank " +
                           std::to_string(cs.shape.size()) + " axis " +
                           std::to_string(cs.axis) + ", " + std::to_string(accs) +
                           " accs" + (inPlace ? " in place" : "");
        expectSameBits<T>(*outDx, want[0], what + ": dx");
        expectSameBits<T>(*outDs, want[1], what + ": dscale");
        expectSameBits<T>(*outDb, want[2], what + ": dbias");
      }
  }
}

// Tests that layer_norm computes the reference's bits on every instruction set (f32, f64).
TEST(LayerNormKernel, ForwardEqualsReferenceOnEveryIsa) {
  IsaScope scope;
  for (const std::string &isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    checkForward<float>(F32, isa);
    checkForward<double>(F64, isa);
  }
}

// Tests that layer_norm_grad, with no acc, dx_acc, or all three accs (in place and not),
// computes the reference's bits on every instruction set (f32, f64).
TEST(LayerNormKernel, GradEqualsReferenceOnEveryIsa) {
  IsaScope scope;
  for (const std::string &isa : supportedCpuIsas()) {
    setCpuIsa(isa);
    checkGrad<float>(F32, isa);
    checkGrad<double>(F64, isa);
  }
}

} // namespace
} // namespace ds::rt::test
