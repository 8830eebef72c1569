// Every CPU kernel against a reference loop on small random inputs.
#include "KernelTestUtil.h"
#include "ds/runtime/ThreadPool.h"

#include <cmath>
#include <set>

using namespace ds::rt;
using namespace ds::rt::test;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::F64;
using ds::plan::I1;
using ds::plan::I32;
using ds::plan::I64;

namespace {

std::mt19937 &rng() {
  static std::mt19937 r(42);
  return r;
}

double refBinary(const std::string &op, double a, double b) {
  if (op == "add") return a + b;
  if (op == "sub") return a - b;
  if (op == "mul") return a * b;
  if (op == "div") return a / b;
  if (op == "max") return std::max(a, b);
  if (op == "min") return std::min(a, b);
  return std::pow(a, b);
}

struct BinaryCase {
  std::vector<int64_t> a, b;
};
const std::vector<BinaryCase> kBroadcastCases = {
    {{3, 4}, {3, 4}}, {{3, 4}, {4}},       {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}},
    {{}, {2, 3}},     {{2, 1, 5}, {4, 1}}, {{5}, {}},        {{1, 70000}, {2, 1}}};

} // namespace

TEST(Kernels, BinaryFloatBroadcast) {
  for (DType dt : {F32, F64, F16})
    for (const char *op : {"add", "sub", "mul", "div", "pow", "max", "min"})
      for (const auto &c : kBroadcastCases) {
        bool pw = std::string(op) == "pow";
        HostTensor a = randomTensor(dt, c.a, rng(), pw ? 0.5 : -2, 2);
        HostTensor b = randomTensor(dt, c.b, rng(), pw ? -2 : 0.5, 2);
        auto rs = broadcastShapes(c.a, c.b);
        HostTensor r(dt, rs);
        runKernel(Ins(op), {&a, &b}, {&r});
        std::vector<double> want(size_t(r.numel()));
        for (int64_t i = 0; i < r.numel(); ++i) {
          auto idx = unravel(i, rs);
          want[size_t(i)] = refBinary(op, a.get(bcastOffset(idx, c.a)), b.get(bcastOffset(idx, c.b)));
        }
        double tol = dt == F64 ? 1e-12 : dt == F32 ? 1e-5 : 2e-3;
        expectNear(r, want, tol, tol, std::string(op) + " " + dtypeName(dt));
      }
}

TEST(Kernels, BinaryInteger) {
  HostTensor a = fromValues(I64, {4}, {7, -7, 9, 5});
  HostTensor b = fromValues(I64, {4}, {2, 2, -4, 5});
  HostTensor r(I64, {4});
  runKernel(Ins("div"), {&a, &b}, {&r});
  expectNear(r, {3, -3, -2, 1}, 0, 0, "div truncates");
  runKernel(Ins("pow"), {&a, &b}, {&r});
  expectNear(r, {49, 49, 0, 3125}, 0, 0, "integer pow");
  runKernel(Ins("max"), {&a, &b}, {&r});
  expectNear(r, {7, 2, 9, 5}, 0, 0, "integer max");
  runKernel(Ins("min"), {&a, &b}, {&r});
  expectNear(r, {2, -7, -4, 5}, 0, 0, "integer min");
  HostTensor c = fromValues(I32, {2, 1}, {1, 2}), d = fromValues(I32, {3}, {10, 20, 30});
  HostTensor e(I32, {2, 3});
  runKernel(Ins("add"), {&c, &d}, {&e});
  expectNear(e, {11, 21, 31, 12, 22, 32}, 0, 0, "i32 add");
  HostTensor z = fromValues(I64, {4}, {1, 0, 1, 1});
  RunFn fn = findCpuKernel("div");
  ExecContext ctx;
  Ins ins("div");
  KernelCall call{ins.ins, {a.tensor(), z.tensor()}, {r.tensor()}, ctx, decodeKernelAttrs(ins.ins)};
  EXPECT_THROW(fn(call), Error);
}

TEST(Kernels, CompareAndWhere) {
  for (DType dt : {F32, F64, I64}) {
    HostTensor a = randomTensor(dt, {3, 4}, rng(), -2, 2), b = randomTensor(dt, {4}, rng(), -2, 2);
    b.set(1, a.get(1)); // an equal pair
    for (const char *op : {"equal", "less", "greater"}) {
      HostTensor r(I1, {3, 4});
      runKernel(Ins(op), {&a, &b}, {&r});
      std::vector<double> want;
      for (int64_t i = 0; i < 12; ++i) {
        double x = a.get(i), y = b.get(i % 4);
        std::string o = op;
        want.push_back(o == "equal" ? x == y : o == "less" ? x < y : x > y);
      }
      expectNear(r, want, 0, 0, op);
    }
  }
  HostTensor c = randomTensor(I1, {2, 1, 3}, rng(), 0, 2);
  HostTensor x = randomTensor(F64, {4, 1}, rng()), y = randomTensor(F64, {3}, rng());
  HostTensor r(F64, {2, 4, 3});
  runKernel(Ins("where"), {&c, &x, &y}, {&r});
  std::vector<double> want;
  for (int64_t i = 0; i < r.numel(); ++i) {
    auto idx = unravel(i, r.shape);
    want.push_back(c.get(bcastOffset(idx, c.shape)) ? x.get(bcastOffset(idx, x.shape))
                                                    : y.get(bcastOffset(idx, y.shape)));
  }
  expectNear(r, want, 0, 0, "where");
}

TEST(Kernels, Unary) {
  auto ref = [](const std::string &op, double v) {
    if (op == "neg") return -v;
    if (op == "sqrt") return std::sqrt(v);
    if (op == "exp") return std::exp(v);
    if (op == "log") return std::log(v);
    if (op == "tanh") return std::tanh(v);
    if (op == "sin") return std::sin(v);
    if (op == "cos") return std::cos(v);
    if (op == "abs") return std::abs(v);
    if (op == "reciprocal") return 1 / v;
    if (op == "erf") return std::erf(v);
    if (op == "relu") return v > 0 ? v : 0;
    if (op == "sigmoid") return 1 / (1 + std::exp(-v));
    return v;
  };
  for (DType dt : {F32, F64, F16})
    for (const char *op : {"neg", "sqrt", "exp", "log", "tanh", "sin", "cos", "abs", "reciprocal",
                           "erf", "relu", "sigmoid", "identity"}) {
      std::string o = op;
      bool pos = o == "sqrt" || o == "log" || o == "reciprocal";
      HostTensor x = randomTensor(dt, {5, 7}, rng(), pos ? 0.1 : -3, 3), r(dt, {5, 7});
      runKernel(Ins(op), {&x}, {&r});
      std::vector<double> want;
      for (int64_t i = 0; i < x.numel(); ++i)
        want.push_back(ref(o, x.get(i)));
      double tol = dt == F64 ? 1e-12 : dt == F32 ? 1e-5 : 3e-3;
      expectNear(r, want, tol, tol, o + " " + dtypeName(dt));
    }
  HostTensor xi = fromValues(I64, {3}, {-2, 0, 5}), ri(I64, {3});
  runKernel(Ins("relu"), {&xi}, {&ri});
  expectNear(ri, {0, 0, 5}, 0, 0, "relu i64");
}

TEST(Kernels, Gelu) {
  for (DType dt : {F32, F64}) {
    HostTensor x = randomTensor(dt, {64}, rng(), -4, 4), r(dt, {64}), t(dt, {64});
    runKernel(Ins("gelu"), {&x}, {&r});
    runKernel(Ins("gelu").s("approximate", "tanh"), {&x}, {&t});
    std::vector<double> we, wt;
    for (int64_t i = 0; i < 64; ++i) {
      double v = x.get(i);
      we.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
      wt.push_back(0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
    }
    expectNear(r, we, 1e-5, 1e-6, "gelu");
    expectNear(t, wt, 1e-5, 1e-6, "gelu tanh");
  }
  HostTensor x(F32, {2}), r(F32, {2});
  EXPECT_NE(checkKernel(Ins("gelu").s("approximate", "fast"), {&x}, {&r}), "");
}

TEST(Kernels, Cast) {
  HostTensor x = fromValues(F64, {6}, {1.7, -1.7, 0.0, 2.5, 1e10, -0.0001});
  HostTensor i(I32, {6}), b(I1, {6}), h(F16, {6});
  runKernel(Ins("cast"), {&x}, {&i});
  expectNear(i, {1, -1, 0, 2, 2147483647, 0}, 0, 0, "f64->i32 truncates (saturating)");
  runKernel(Ins("cast"), {&x}, {&b});
  expectNear(b, {1, 1, 0, 1, 1, 1}, 0, 0, "->i1");
  HostTensor f = fromValues(F32, {3}, {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 70000});
  HostTensor fh(F16, {3});
  runKernel(Ins("cast"), {&f}, {&fh});
  // 1 + 2^-11 ties to even (1.0); 1 + 3*2^-11 ties to 1 + 2^-9; 70000 overflows to inf.
  EXPECT_EQ(fh.as<uint16_t>()[0], 0x3c00);
  EXPECT_EQ(fh.as<uint16_t>()[1], 0x3c02);
  EXPECT_EQ(fh.as<uint16_t>()[2], 0x7c00);
  HostTensor l = fromValues(I64, {2}, {123456789012LL, -5}), ld(F64, {2});
  runKernel(Ins("cast"), {&l}, {&ld});
  expectNear(ld, {123456789012.0, -5}, 0, 0, "i64->f64");
}

namespace {
std::vector<double> refMatmul(const HostTensor &a, const HostTensor &b,
                              const std::vector<int64_t> &rs) {
  auto as = a.shape, bs = b.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  std::vector<int64_t> ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  auto batch = broadcastShapes(ab, bb);
  int64_t nb = 1;
  for (auto d : batch) nb *= d;
  std::vector<double> out;
  for (int64_t t = 0; t < nb; ++t) {
    auto idx = unravel(t, batch);
    int64_t oa = ab.empty() ? 0 : bcastOffset(idx, ab), ob = bb.empty() ? 0 : bcastOffset(idx, bb);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += a.get(oa * M * K + i * K + k) * b.get(ob * K * N + k * N + j);
        out.push_back(s);
      }
  }
  (void)rs;
  return out;
}
} // namespace

TEST(Kernels, Matmul) {
  struct C { std::vector<int64_t> a, b, r; };
  std::vector<C> cases = {{{3, 4}, {4, 5}, {3, 5}},          {{2, 3, 4}, {4, 5}, {2, 3, 5}},
                          {{2, 3, 4}, {2, 4, 5}, {2, 3, 5}}, {{2, 1, 3, 4}, {3, 4, 2}, {2, 3, 3, 2}},
                          {{4}, {4, 5}, {5}},                {{3, 4}, {4}, {3}},
                          {{4}, {4}, {}},                    {{3, 0}, {0, 2}, {3, 2}}};
  for (DType dt : {F32, F64, F16})
    for (const auto &c : cases) {
      HostTensor a = randomTensor(dt, c.a, rng()), b = randomTensor(dt, c.b, rng()), r(dt, c.r);
      runKernel(Ins("matmul"), {&a, &b}, {&r});
      double tol = dt == F64 ? 1e-12 : dt == F32 ? 1e-5 : 1e-2;
      expectNear(r, refMatmul(a, b, c.r), tol, tol, "matmul " + dtypeName(dt));
    }
  HostTensor a(F32, {3, 4}), b(F32, {5, 2}), r(F32, {3, 2});
  EXPECT_NE(checkKernel(Ins("matmul"), {&a, &b}, {&r}).find("contraction"), std::string::npos);
}

TEST(Kernels, Gemm) {
  for (DType dt : {F32, F64})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (int withC = 0; withC < 3; ++withC) {
          int64_t M = 3, K = 4, N = 5;
          HostTensor a = randomTensor(dt, ta ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K}, rng());
          HostTensor b = randomTensor(dt, tb ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N}, rng());
          HostTensor c = randomTensor(dt, withC == 1 ? std::vector<int64_t>{N} : std::vector<int64_t>{M, 1}, rng());
          HostTensor r(dt, {M, N});
          Ins ins("gemm");
          ins.i("trans_a", ta).i("trans_b", tb).f("alpha", 0.5).f("beta", 2.0);
          std::vector<HostTensor *> in = {&a, &b};
          if (withC)
            in.push_back(&c);
          runKernel(ins, in, {&r});
          std::vector<double> want;
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              double s = 0;
              for (int64_t k = 0; k < K; ++k)
                s += a.get(ta ? k * M + i : i * K + k) * b.get(tb ? j * K + k : k * N + j);
              double cv = !withC ? 0 : withC == 1 ? c.get(j) : c.get(i);
              want.push_back(0.5 * s + 2.0 * cv);
            }
          expectNear(r, want, 1e-5, 1e-5, "gemm");
        }
}

TEST(Kernels, SoftmaxAndLogSoftmax) {
  for (DType dt : {F32, F64, F16})
    for (int64_t axis : {0, 1, 2}) {
      std::vector<int64_t> s = {2, 3, 4};
      HostTensor x = randomTensor(dt, s, rng(), -5, 5), r(dt, s), l(dt, s);
      runKernel(Ins("softmax").i("axis", axis), {&x}, {&r});
      runKernel(Ins("log_softmax").i("axis", axis), {&x}, {&l});
      std::vector<double> ws, wl;
      for (int64_t i = 0; i < x.numel(); ++i) {
        auto idx = unravel(i, s);
        double mx = -1e300, sum = 0;
        for (int64_t k = 0; k < s[size_t(axis)]; ++k) {
          auto j = idx;
          j[size_t(axis)] = k;
          mx = std::max(mx, x.get(ravel(j, s)));
        }
        for (int64_t k = 0; k < s[size_t(axis)]; ++k) {
          auto j = idx;
          j[size_t(axis)] = k;
          sum += std::exp(x.get(ravel(j, s)) - mx);
        }
        ws.push_back(std::exp(x.get(i) - mx) / sum);
        wl.push_back(x.get(i) - mx - std::log(sum));
      }
      double tol = dt == F16 ? 5e-3 : 1e-5;
      expectNear(r, ws, tol, tol, "softmax");
      expectNear(l, wl, tol, tol * 4, "log_softmax");
    }
}

TEST(Kernels, LayerNorm) {
  for (DType dt : {F32, F64}) {
    std::vector<int64_t> s = {2, 3, 4};
    HostTensor x = randomTensor(dt, s, rng()), sc = randomTensor(dt, {3, 4}, rng()),
               bi = randomTensor(dt, {4}, rng());
    HostTensor y(dt, s), mean(dt, {2, 1, 1}), inv(dt, {2, 1, 1});
    runKernel(Ins("layer_norm").i("axis", 1).f("epsilon", 1e-3), {&x, &sc, &bi}, {&y, &mean, &inv});
    std::vector<double> wy, wm, wi;
    for (int64_t o = 0; o < 2; ++o) {
      double m = 0, v = 0;
      for (int64_t k = 0; k < 12; ++k) m += x.get(o * 12 + k);
      m /= 12;
      for (int64_t k = 0; k < 12; ++k) v += std::pow(x.get(o * 12 + k) - m, 2);
      v /= 12;
      double is = 1 / std::sqrt(v + 1e-3);
      for (int64_t k = 0; k < 12; ++k)
        wy.push_back((x.get(o * 12 + k) - m) * is * sc.get(k) + bi.get(k % 4));
      wm.push_back(m);
      wi.push_back(is);
    }
    expectNear(y, wy, 1e-5, 1e-5, "layer_norm y");
    expectNear(mean, wm, 1e-5, 1e-6, "layer_norm mean");
    expectNear(inv, wi, 1e-5, 1e-6, "layer_norm inv_std_dev");
  }
  HostTensor x(F32, {2, 3}), sc(F32, {2}), y(F32, {2, 3});
  EXPECT_NE(checkKernel(Ins("layer_norm").i("axis", 1), {&x, &sc}, {&y}), "");
}

TEST(Kernels, TransposeReshapeSqueeze) {
  HostTensor x = randomTensor(F32, {2, 3, 4}, rng()), r(F32, {4, 2, 3});
  runKernel(Ins("transpose").ints("perm", {2, 0, 1}), {&x}, {&r});
  std::vector<double> want;
  for (int64_t i = 0; i < r.numel(); ++i) {
    auto idx = unravel(i, r.shape);
    want.push_back(x.get(ravel({idx[1], idx[2], idx[0]}, x.shape)));
  }
  expectNear(r, want, 0, 0, "transpose");
  // Output last dim strided in the input, sizes not multiples of 32, and three dtype sizes.
  for (auto [dt, shape, perm] :
       {std::tuple{F32, std::vector<int64_t>{70, 45}, std::vector<int64_t>{1, 0}},
        std::tuple{F64, std::vector<int64_t>{3, 33, 2, 40}, std::vector<int64_t>{0, 3, 2, 1}},
        std::tuple{ds::plan::BF16, std::vector<int64_t>{2, 37, 1, 65}, std::vector<int64_t>{2, 3, 0, 1}}}) {
    HostTensor tx = randomTensor(dt, shape, rng());
    std::vector<int64_t> rshape;
    for (int64_t d : perm)
      rshape.push_back(shape[size_t(d)]);
    HostTensor tr(dt, rshape);
    runKernel(Ins("transpose").ints("perm", perm), {&tx}, {&tr});
    std::vector<double> twant;
    for (int64_t i = 0; i < tr.numel(); ++i) {
      auto idx = unravel(i, tr.shape);
      std::vector<int64_t> src(shape.size());
      for (size_t d = 0; d < perm.size(); ++d)
        src[size_t(perm[d])] = idx[d];
      twant.push_back(tx.get(ravel(src, tx.shape)));
    }
    expectNear(tr, twant, 0, 0, "strided transpose");
  }
  HostTensor rs(F32, {6, 4});
  runKernel(Ins("reshape"), {&x}, {&rs});
  EXPECT_EQ(std::memcmp(rs.bytes.data(), x.bytes.data(), 96), 0);
  HostTensor a(F32, {1, 3, 1}), sq(F32, {3}), sq1(F32, {3, 1}), us(F32, {1, 3, 1, 1});
  EXPECT_EQ(checkKernel(Ins("squeeze"), {&a}, {&sq}), "");
  EXPECT_EQ(checkKernel(Ins("squeeze").ints("axes", {0}), {&a}, {&sq1}), "");
  EXPECT_NE(checkKernel(Ins("squeeze").ints("axes", {1}), {&a}, {&sq1}), "");
  EXPECT_EQ(checkKernel(Ins("unsqueeze").ints("axes", {3}), {&a}, {&us}), "");
  EXPECT_NE(checkKernel(Ins("transpose").ints("perm", {0, 0, 1}), {&x}, {&r}), "");
}

TEST(Kernels, Gather) {
  HostTensor d = randomTensor(F64, {3, 4, 2}, rng());
  HostTensor idx = fromValues(I64, {2, 2}, {0, -1, 3, 1}), r(F64, {3, 2, 2, 2});
  runKernel(Ins("gather").i("axis", 1), {&d, &idx}, {&r});
  std::vector<double> want;
  for (int64_t i = 0; i < r.numel(); ++i) {
    auto j = unravel(i, r.shape);
    int64_t k = int64_t(idx.get(j[1] * 2 + j[2]));
    if (k < 0) k += 4;
    want.push_back(d.get(ravel({j[0], k, j[3]}, d.shape)));
  }
  expectNear(r, want, 0, 0, "gather");
  HostTensor bad = fromValues(I32, {1}, {4}), r2(F64, {3, 1, 2});
  RunFn fn = findCpuKernel("gather");
  ExecContext ctx;
  Ins ins("gather");
  ins.i("axis", 1);
  KernelCall call{ins.ins, {d.tensor(), bad.tensor()}, {r2.tensor()}, ctx, decodeKernelAttrs(ins.ins)};
  EXPECT_THROW(fn(call), Error);
}

TEST(Kernels, Slice) {
  HostTensor x = randomTensor(F32, {4, 5}, rng());
  HostTensor r(F32, {2, 2});
  runKernel(Ins("slice").ints("starts", {1, 4}).ints("ends", {3, 0}).ints("steps", {1, -2}), {&x}, {&r});
  expectNear(r, {x.get(9), x.get(7), x.get(14), x.get(12)}, 0, 0, "slice");
  HostTensor full(F32, {4, 5});
  runKernel(Ins("slice").ints("starts", {3, 0}).ints("ends", {-1, 5}).ints("steps", {-1, 1}), {&x}, {&full});
  EXPECT_EQ(full.get(0), x.get(15));
  HostTensor r3(F32, {3, 5});
  EXPECT_NE(checkKernel(Ins("slice").ints("starts", {2, 0}).ints("ends", {5, 5}), {&x}, {&r3}), "");
}

TEST(Kernels, SplitConcat) {
  HostTensor x = randomTensor(I64, {2, 5, 3}, rng(), -100, 100);
  HostTensor a(I64, {2, 2, 3}), b(I64, {2, 3, 3}), back(I64, {2, 5, 3});
  runKernel(Ins("split").i("axis", 1).ints("sizes", {2, 3}), {&x}, {&a, &b});
  for (int64_t i = 0; i < a.numel(); ++i) {
    auto j = unravel(i, a.shape);
    ASSERT_EQ(a.get(i), x.get(ravel(j, x.shape)));
  }
  for (int64_t i = 0; i < b.numel(); ++i) {
    auto j = unravel(i, b.shape);
    j[1] += 2;
    ASSERT_EQ(b.get(i), x.get(ravel(j, x.shape)));
  }
  runKernel(Ins("concat").i("axis", 1), {&a, &b}, {&back});
  EXPECT_EQ(std::memcmp(back.bytes.data(), x.bytes.data(), size_t(x.type.bytes)), 0);
  EXPECT_NE(checkKernel(Ins("split").i("axis", 1).ints("sizes", {2, 2}), {&x}, {&a, &a}), "");
}

TEST(Kernels, Expand) {
  HostTensor x = randomTensor(F32, {3, 1}, rng()), r(F32, {2, 3, 4});
  runKernel(Ins("expand"), {&x}, {&r});
  std::vector<double> want;
  for (int64_t i = 0; i < r.numel(); ++i)
    want.push_back(x.get(bcastOffset(unravel(i, r.shape), x.shape)));
  expectNear(r, want, 0, 0, "expand");
}

TEST(Kernels, Reduce) {
  std::vector<int64_t> s = {3, 4, 5};
  std::vector<std::vector<int64_t>> axesCases = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1}};
  for (DType dt : {F32, F64, I64})
    for (const char *op : {"reduce_sum", "reduce_mean", "reduce_max"})
      for (const auto &axes : axesCases)
        for (int keep = 0; keep < 2; ++keep) {
          std::string o = op;
          if (o == "reduce_mean" && dt == I64)
            continue;
          HostTensor x = randomTensor(dt, s, rng(), -10, 10);
          std::set<int64_t> ax(axes.begin(), axes.end());
          std::vector<int64_t> rs, rk;
          for (int64_t d = 0; d < 3; ++d) {
            bool red = axes.empty() || ax.count(d);
            rk.push_back(red ? 1 : s[size_t(d)]);
            if (!red) rs.push_back(s[size_t(d)]);
            else if (keep) rs.push_back(1);
          }
          HostTensor r(dt, rs);
          runKernel(Ins(op).ints("axes", axes).i("keepdims", keep), {&x}, {&r});
          std::vector<double> acc(size_t(r.numel()), o == "reduce_max" ? -1e300 : 0);
          for (int64_t i = 0; i < x.numel(); ++i) {
            auto idx = unravel(i, s);
            for (int64_t d = 0; d < 3; ++d)
              if (rk[size_t(d)] == 1) idx[size_t(d)] = 0;
            double &a = acc[size_t(ravel(idx, rk))];
            a = o == "reduce_max" ? std::max(a, x.get(i)) : a + x.get(i);
          }
          if (o == "reduce_mean")
            for (auto &a : acc) a /= double(x.numel() / r.numel());
          expectNear(r, acc, 1e-5, 1e-5, o);
        }
  HostTensor h = randomTensor(F16, {4, 300}, rng()), hr(F16, {4});
  runKernel(Ins("reduce_sum").ints("axes", {1}).i("keepdims", 0), {&h}, {&hr});
  for (int64_t o = 0; o < 4; ++o) {
    double s2 = 0;
    for (int64_t k = 0; k < 300; ++k) s2 += h.get(o * 300 + k);
    EXPECT_NEAR(hr.get(o), s2, 0.05 + 1e-3 * std::fabs(s2));
  }
}

TEST(Kernels, DropoutIsReproducible) {
  HostTensor x = randomTensor(F32, {1000}, rng()), r1(F32, {1000}), r2(F32, {1000});
  HostTensor m1(I1, {1000});
  runKernel(Ins("dropout").f("ratio", 0.25).i("seed", 7), {&x}, {&r1, &m1});
  runKernel(Ins("dropout").f("ratio", 0.25).i("seed", 7), {&x}, {&r2});
  EXPECT_EQ(std::memcmp(r1.bytes.data(), r2.bytes.data(), 4000), 0);
  int kept = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    if (m1.get(i)) {
      ++kept;
      EXPECT_NEAR(r1.get(i), x.get(i) / 0.75, 1e-5);
    } else {
      EXPECT_EQ(r1.get(i), 0);
    }
  }
  EXPECT_GT(kept, 680);
  EXPECT_LT(kept, 820);
  HostTensor r3(F32, {1000});
  runKernel(Ins("dropout").f("ratio", 0.25).i("seed", 8), {&x}, {&r3});
  EXPECT_NE(std::memcmp(r1.bytes.data(), r3.bytes.data(), 4000), 0);
  HostTensor id(F32, {1000}), mk(I1, {1000});
  runKernel(Ins("dropout").f("ratio", 0.0), {&x}, {&id, &mk});
  EXPECT_EQ(std::memcmp(id.bytes.data(), x.bytes.data(), 4000), 0);
  for (int64_t i = 0; i < 1000; ++i)
    ASSERT_EQ(mk.get(i), 1);
}

TEST(Kernels, SoftmaxCrossEntropyAndNll) {
  for (DType dt : {F32, F64}) {
    int64_t N = 3, C = 4, D = 2;
    HostTensor s = randomTensor(dt, {N, C, D}, rng(), -3, 3);
    HostTensor lab = fromValues(I64, {N, D}, {0, 3, -100, 2, 1, 1});
    HostTensor w = randomTensor(dt, {C}, rng(), 0.5, 2);
    std::vector<double> lp(size_t(N * C * D)), per;
    double tot = 0, wsum = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) {
        double mx = -1e300, sum = 0;
        for (int64_t c = 0; c < C; ++c) mx = std::max(mx, s.get((n * C + c) * D + d));
        for (int64_t c = 0; c < C; ++c) sum += std::exp(s.get((n * C + c) * D + d) - mx);
        for (int64_t c = 0; c < C; ++c)
          lp[size_t((n * C + c) * D + d)] = s.get((n * C + c) * D + d) - mx - std::log(sum);
        int64_t l = int64_t(lab.get(n * D + d));
        if (l == -100) { per.push_back(0); continue; }
        double li = -w.get(l) * lp[size_t((n * C + l) * D + d)];
        per.push_back(li);
        tot += li;
        wsum += w.get(l);
      }
    HostTensor loss(dt, {}), logp(dt, {N, C, D});
    runKernel(Ins("softmax_cross_entropy_loss").i("ignore_index", -100), {&s, &lab, &w}, {&loss, &logp});
    expectNear(loss, {tot / wsum}, 1e-5, 1e-6, "sce mean");
    expectNear(logp, lp, 1e-5, 1e-6, "sce log_prob");
    HostTensor none(dt, {N, D});
    runKernel(Ins("softmax_cross_entropy_loss").i("ignore_index", -100).s("reduction", "none"), {&s, &lab, &w}, {&none});
    expectNear(none, per, 1e-5, 1e-6, "sce none");
    HostTensor lpT(dt, {N, C, D});
    for (int64_t i = 0; i < lpT.numel(); ++i) lpT.set(i, lp[size_t(i)]);
    HostTensor nll(dt, {});
    runKernel(Ins("nll_loss").i("ignore_index", -100).s("reduction", "sum"), {&lpT, &lab, &w}, {&nll});
    expectNear(nll, {tot}, 1e-5, 1e-6, "nll sum");
  }
  HostTensor s(F32, {2, 3}), lab = fromValues(I64, {2}, {0, 3}), loss(F32, {});
  RunFn fn = findCpuKernel("nll_loss");
  ExecContext ctx;
  Ins ins("nll_loss");
  KernelCall call{ins.ins, {s.tensor(), lab.tensor()}, {loss.tensor()}, ctx, decodeKernelAttrs(ins.ins)};
  EXPECT_THROW(fn(call), Error); // label 3 out of [0, 3)
}

TEST(Kernels, Trilu) {
  HostTensor x = randomTensor(F32, {2, 3, 4}, rng());
  for (int upper = 0; upper < 2; ++upper)
    for (int64_t k : {-1, 0, 2}) {
      HostTensor r(F32, {2, 3, 4});
      runKernel(Ins("trilu").i("upper", upper).i("k", k), {&x}, {&r});
      std::vector<double> want;
      for (int64_t i = 0; i < x.numel(); ++i) {
        auto j = unravel(i, x.shape);
        bool keep = upper ? j[2] - j[1] >= k : j[2] - j[1] <= k;
        want.push_back(keep ? x.get(i) : 0);
      }
      expectNear(r, want, 0, 0, "trilu");
    }
}

TEST(Kernels, ConstantFillCopy) {
  HostTensor c(I64, {3});
  Ins k("constant");
  for (int64_t v : {5, -6, 7})
    (*k.ins.mutable_attrs())["value"].mutable_ints()->add_values(v);
  runKernel(k, {}, {&c});
  expectNear(c, {5, -6, 7}, 0, 0, "constant ints");
  HostTensor f(ds::plan::BF16, {4});
  runKernel(Ins("fill").f("value", 1.5), {}, {&f});
  expectNear(f, {1.5, 1.5, 1.5, 1.5}, 0, 0, "fill bf16");
  HostTensor src = fromValues(F32, {9}, {0, 1, 2, 3, 4, 5, 6, 7, 8}), dst(F32, {2});
  // Rank 2 of 4 with stride 2 reads elements [5, 7).
  Ins cp("copy");
  cp.i("count", 2).i("src_offset", 1).i("src_rank_stride", 2);
  EXPECT_EQ(checkKernel(cp, {&src}, {&dst}, 4), "");
  EXPECT_NE(checkKernel(cp, {&src}, {&dst}, 5), ""); // rank 4 would read past the end
  RunFn fn = findCpuKernel("copy");
  ExecContext ctx;
  ctx.rank = 2;
  ctx.worldSize = 4;
  KernelCall call{cp.ins, {src.tensor()}, {dst.tensor()}, ctx, decodeKernelAttrs(cp.ins)};
  fn(call);
  expectNear(dst, {5, 6}, 0, 0, "copy with rank stride");

  // Rows: a [2, 3] source into columns [1, 4) of a [2, 5] destination (a ZeRO bucket's
  // rank-major layout); the other columns keep their bytes.
  HostTensor rowsSrc = fromValues(F32, {6}, {1, 2, 3, 4, 5, 6});
  HostTensor rowsDst = fromValues(F32, {10}, {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1});
  Ins rowsCp("copy");
  rowsCp.i("count", 3).i("dst_offset", 1).i("rows", 2).i("src_row_stride", 3).i("dst_row_stride", 5);
  EXPECT_EQ(checkKernel(rowsCp, {&rowsSrc}, {&rowsDst}, 4), "");
  KernelCall rowsCall{rowsCp.ins, {rowsSrc.tensor()}, {rowsDst.tensor()}, ctx,
                      decodeKernelAttrs(rowsCp.ins)};
  fn(rowsCall);
  expectNear(rowsDst, {-1, 1, 2, 3, -1, -1, 4, 5, 6, -1}, 0, 0, "copy with rows");
  Ins pastEnd("copy"); // the second row would end at element 11 of 10
  pastEnd.i("count", 3).i("dst_offset", 3).i("rows", 2).i("src_row_stride", 3).i("dst_row_stride", 5);
  EXPECT_NE(checkKernel(pastEnd, {&rowsSrc}, {&rowsDst}, 1), "");
  Ins overlap("copy"); // rows 2 apart but 3 long
  overlap.i("count", 3).i("rows", 2).i("src_row_stride", 3).i("dst_row_stride", 2);
  EXPECT_NE(checkKernel(overlap, {&rowsSrc}, {&rowsDst}, 1), "");
  Ins noRows("copy");
  noRows.i("count", 3).i("rows", 0);
  EXPECT_NE(checkKernel(noRows, {&rowsSrc}, {&rowsDst}, 1), "");
}

// Tests that every kernel the catalogue marks CPU has a CPU implementation, and only those.
TEST(Kernels, EveryCatalogueKernelMarkedCpuHasACpuImplementation) {
  for (const KernelInfo &k : kernelCatalogue()) {
    bool marked = (k.backends & kBackendCpu) != 0;
    EXPECT_EQ(findCpuKernel(k.id) != nullptr, marked) << k.name;
    EXPECT_EQ(findCpuKernel(k.name) != nullptr, marked) << k.name;
    EXPECT_NE(findKernelSignature(k.name), nullptr) << k.name;
  }
  EXPECT_EQ(findCpuKernel("no_such_kernel"), nullptr);
}

TEST(Kernels, LargeElementwiseUsesThreadsCorrectly) {
  HostTensor a = randomTensor(F32, {3, 200000}, rng()), b = randomTensor(F32, {200000}, rng());
  HostTensor r(F32, {3, 200000});
  runKernel(Ins("mul"), {&a, &b}, {&r});
  for (int64_t i = 0; i < r.numel(); i += 997)
    ASSERT_FLOAT_EQ(float(r.get(i)), float(a.get(i)) * float(b.get(i % 200000)));
}
