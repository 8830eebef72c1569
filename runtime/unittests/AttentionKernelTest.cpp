// Tests of the CPU attention and attention_grad kernels against a naive [T, S] reference.
#include "KernelTestUtil.h"

#include <cmath>
#include <limits>

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

/// What one case runs: q [batch..., T, D], k [batch..., S, D], v [batch..., S, Dv].
struct Case {
  std::vector<int64_t> batch;
  int64_t t, s, d, dv;
  bool causal = false;
  double scale = 0.25;
  DType dtype = ds::plan::F32;
  int64_t kvHeads = 0; ///< k and v's last batch dim (grouped-query); 0: q's
  std::vector<int64_t> kvBatch() const {
    std::vector<int64_t> b = batch;
    if (kvHeads)
      b.back() = kvHeads;
    return b;
  }
  int64_t group() const { return kvHeads ? batch.back() / kvHeads : 1; }
};

/// Outputs of the naive reference in f64: out, lse, dq, dk, dv.
struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

std::vector<int64_t> withTail(std::vector<int64_t> batch, int64_t a, int64_t b) {
  batch.push_back(a);
  batch.push_back(b);
  return batch;
}

/// Materialises the probabilities per batch entry; the mask (may be null) is read through
/// its broadcast in [batch..., T, S].
Reference reference(const Case &c, HostTensor &q, HostTensor &k, HostTensor &v,
                    HostTensor *mask, HostTensor &g) {
  int64_t nb = 1;
  for (int64_t x : c.batch)
    nb *= x;
  std::vector<int64_t> scores = withTail(c.batch, c.t, c.s);
  Reference r;
  r.out.assign(size_t(nb * c.t * c.dv), 0);
  r.lse.assign(size_t(nb * c.t), 0);
  r.dq.assign(size_t(nb * c.t * c.d), 0);
  int64_t group = c.group();
  r.dk.assign(size_t(nb / group * c.s * c.d), 0);
  r.dv.assign(size_t(nb / group * c.s * c.dv), 0);
  const double ninf = -std::numeric_limits<double>::infinity();
  for (int64_t b = 0; b < nb; ++b) {
    int64_t kb = b / group; // the key-value entry query entry b reads
    std::vector<double> p(size_t(c.t * c.s));
    for (int64_t i = 0; i < c.t; ++i) {
      double mx = ninf;
      for (int64_t j = 0; j < c.s; ++j) {
        double s = 0;
        for (int64_t x = 0; x < c.d; ++x)
          s += q.get((b * c.t + i) * c.d + x) * k.get((kb * c.s + j) * c.d + x);
        s *= c.scale;
        if (c.causal && j > i)
          s = ninf;
        if (mask) {
          std::vector<int64_t> idx = unravel((b * c.t + i) * c.s + j, scores);
          std::vector<int64_t> midx(idx.end() - int64_t(mask->shape.size()), idx.end());
          for (size_t a = 0; a < midx.size(); ++a)
            if (mask->shape[a] == 1)
              midx[a] = 0;
          double m = mask->get(ravel(midx, mask->shape));
          if (mask->dtype == ds::plan::I1)
            s = m != 0 ? s : ninf;
          else
            s += m;
        }
        p[size_t(i * c.s + j)] = s;
        mx = std::max(mx, s);
      }
      double sum = 0;
      for (int64_t j = 0; j < c.s; ++j) {
        double &x = p[size_t(i * c.s + j)];
        x = mx == ninf ? 0 : std::exp(x - mx);
        sum += x;
      }
      for (int64_t j = 0; j < c.s; ++j)
        p[size_t(i * c.s + j)] = sum > 0 ? p[size_t(i * c.s + j)] / sum : 0;
      r.lse[size_t(b * c.t + i)] = sum > 0 ? mx + std::log(sum) : ninf;
      for (int64_t x = 0; x < c.dv; ++x) {
        double o = 0;
        for (int64_t j = 0; j < c.s; ++j)
          o += p[size_t(i * c.s + j)] * v.get((kb * c.s + j) * c.dv + x);
        r.out[size_t((b * c.t + i) * c.dv + x)] = o;
      }
    }
    // Backward through the materialised softmax.
    for (int64_t i = 0; i < c.t; ++i) {
      std::vector<double> dp(size_t(c.s));
      double dot = 0;
      for (int64_t j = 0; j < c.s; ++j) {
        double s = 0;
        for (int64_t x = 0; x < c.dv; ++x)
          s += g.get((b * c.t + i) * c.dv + x) * v.get((kb * c.s + j) * c.dv + x);
        dp[size_t(j)] = s;
        dot += s * p[size_t(i * c.s + j)];
      }
      for (int64_t j = 0; j < c.s; ++j) {
        double pij = p[size_t(i * c.s + j)];
        double ds = pij * (dp[size_t(j)] - dot) * c.scale;
        for (int64_t x = 0; x < c.d; ++x) {
          r.dq[size_t((b * c.t + i) * c.d + x)] += ds * k.get((kb * c.s + j) * c.d + x);
          r.dk[size_t((kb * c.s + j) * c.d + x)] += ds * q.get((b * c.t + i) * c.d + x);
        }
        for (int64_t x = 0; x < c.dv; ++x)
          r.dv[size_t((kb * c.s + j) * c.dv + x)] +=
              pij * g.get((b * c.t + i) * c.dv + x);
      }
    }
  }
  return r;
}

void expectNear(const HostTensor &got, const std::vector<double> &want, double tol,
                const char *what) {
  ASSERT_EQ(got.numel(), int64_t(want.size())) << what;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double w = want[size_t(i)], x = got.get(i);
    if (std::isinf(w)) {
      EXPECT_EQ(x, w) << what << "[" << i << "]";
      continue;
    }
    ASSERT_NEAR(x, w, tol * (1 + std::fabs(w))) << what << "[" << i << "]";
  }
}

/// Runs forward and backward on random inputs and compares every output with the
/// reference.
void runCase(const Case &c, HostTensor *mask, double tol) {
  std::mt19937 rng(7);
  HostTensor q = randomTensor(c.dtype, withTail(c.batch, c.t, c.d), rng);
  HostTensor k = randomTensor(c.dtype, withTail(c.kvBatch(), c.s, c.d), rng);
  HostTensor v = randomTensor(c.dtype, withTail(c.kvBatch(), c.s, c.dv), rng);
  HostTensor g = randomTensor(c.dtype, withTail(c.batch, c.t, c.dv), rng);
  HostTensor out(c.dtype, withTail(c.batch, c.t, c.dv));
  std::vector<int64_t> lseShape = c.batch;
  lseShape.push_back(c.t);
  HostTensor lse(c.dtype == ds::plan::F64 ? ds::plan::F64 : ds::plan::F32, lseShape);
  Ins fwd = Ins("attention").f("scale", c.scale).i("causal", c.causal);
  std::vector<HostTensor *> in{&q, &k, &v};
  if (mask)
    in.push_back(mask);
  runKernel(fwd, in, {&out, &lse});
  HostTensor dq(c.dtype, q.shape), dk(c.dtype, k.shape), dv(c.dtype, v.shape);
  std::vector<HostTensor *> gin{&g, &q, &k, &v, &out, &lse};
  if (mask)
    gin.push_back(mask);
  runKernel(Ins("attention_grad").f("scale", c.scale).i("causal", c.causal), gin,
            {&dq, &dk, &dv});
  Reference r = reference(c, q, k, v, mask, g);
  expectNear(out, r.out, tol, "out");
  // lse is f32 for every storage but f64: compare at f32 precision at best.
  expectNear(lse, r.lse, c.dtype == ds::plan::F64 ? tol : std::max(tol, 1e-6), "lse");
  expectNear(dq, r.dq, tol, "dq");
  expectNear(dk, r.dk, tol, "dk");
  expectNear(dv, r.dv, tol, "dv");
}

TEST(AttentionKernels, MatchesReferenceAcrossTiles) {
  // T and S not multiples of the 64-wide tiles; S != T; batch [2, 3].
  runCase({{2, 3}, 100, 70, 16, 24}, nullptr, 1e-5);
  runCase({{1}, 1, 1, 4, 4}, nullptr, 1e-5);
}

TEST(AttentionKernels, Causal) {
  runCase({{2, 2}, 130, 130, 16, 16, /*causal=*/true}, nullptr, 1e-5);
  // Top-left aligned like torch.tril when T != S.
  runCase({{3}, 70, 90, 8, 8, /*causal=*/true}, nullptr, 1e-5);
}

// Tests that causal attention with more queries than keys, neither a multiple of the
// 64-wide tiles, matches the reference: the diagonal tiles' causally masked keys (their
// exponentials skipped, zeros written) end mid-tile, rows past S see every key, and the
// last row tile holds one row (the row loops' remainder).
TEST(AttentionKernels, CausalTilesEndMidTile) {
  runCase({{2}, 200, 150, 8, 8, /*causal=*/true}, nullptr, 1e-5);
  runCase({{1, 3}, 129, 129, 8, 8, /*causal=*/true}, nullptr, 1e-5);
}

// Tests that a query row whose lse is NaN (a forward pass gone non-finite) leaves the
// keys the mask hides from it without gradient: their scores stay -inf (e^-inf = 0)
// rather than becoming -inf - NaN.
TEST(AttentionKernels, NanLseKeepsMaskedKeysAtZero) {
  std::mt19937 rng(13);
  HostTensor q = randomTensor(ds::plan::F32, {1, 5, 4}, rng);
  HostTensor k = randomTensor(ds::plan::F32, {1, 9, 4}, rng);
  HostTensor v = randomTensor(ds::plan::F32, {1, 9, 4}, rng);
  HostTensor g = randomTensor(ds::plan::F32, {1, 5, 4}, rng);
  HostTensor keep(ds::plan::I1, {5, 9}); // key 3 hidden from every row
  for (int64_t i = 0; i < 45; ++i)
    keep.set(i, i % 9 != 3);
  HostTensor out(ds::plan::F32, {1, 5, 4}), lse(ds::plan::F32, {1, 5});
  runKernel(Ins("attention").f("scale", 0.5), {&q, &k, &v, &keep}, {&out, &lse});
  lse.set(0, std::numeric_limits<double>::quiet_NaN());
  HostTensor dq(ds::plan::F32, q.shape), dk(ds::plan::F32, k.shape),
      dv(ds::plan::F32, v.shape);
  runKernel(Ins("attention_grad").f("scale", 0.5), {&g, &q, &k, &v, &out, &lse, &keep},
            {&dq, &dk, &dv});
  for (int64_t x = 0; x < 4; ++x) {
    EXPECT_EQ(dk.get(3 * 4 + x), 0.0) << x;
    EXPECT_EQ(dv.get(3 * 4 + x), 0.0) << x;
    EXPECT_TRUE(std::isnan(dv.get(x))) << x; // row 0's NaN reaches the keys it sees
  }
}

// Tests that a NaN in a float mask reaches its row even where causal masks the key: the
// score is -inf + NaN, and the exponentials causal lets the kernels skip are only those
// of scores that are exactly -inf (no float mask).
TEST(AttentionKernels, FloatMaskNanUnderCausalReachesItsRow) {
  std::mt19937 rng(17);
  const int64_t t = 40;
  HostTensor q = randomTensor(ds::plan::F32, {1, t, 4}, rng);
  HostTensor k = randomTensor(ds::plan::F32, {1, t, 4}, rng);
  HostTensor v = randomTensor(ds::plan::F32, {1, t, 4}, rng);
  HostTensor g = randomTensor(ds::plan::F32, {1, t, 4}, rng);
  HostTensor bias(ds::plan::F32, {t, t}); // zeros, but row 0 key 30 (causally masked)
  bias.set(30, std::numeric_limits<double>::quiet_NaN());
  HostTensor out(ds::plan::F32, {1, t, 4}), lse(ds::plan::F32, {1, t});
  runKernel(Ins("attention").f("scale", 0.5).i("causal", true), {&q, &k, &v, &bias},
            {&out, &lse});
  HostTensor dq(ds::plan::F32, q.shape), dk(ds::plan::F32, k.shape),
      dv(ds::plan::F32, v.shape);
  runKernel(Ins("attention_grad").f("scale", 0.5).i("causal", true),
            {&g, &q, &k, &v, &out, &lse, &bias}, {&dq, &dk, &dv});
  for (int64_t x = 0; x < 4; ++x) {
    EXPECT_TRUE(std::isnan(out.get(x))) << x;
    EXPECT_TRUE(std::isfinite(out.get(4 + x))) << x;  // row 1
    EXPECT_TRUE(std::isnan(dk.get(30 * 4 + x))) << x; // key 30 takes row 0's NaN
  }
}

TEST(AttentionKernels, PaddedBooleanMask) {
  // [B, 1, 1, S]: sample b attends to its first S - 5b keys.
  HostTensor keep(ds::plan::I1, {2, 1, 1, 77});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < 77; ++j)
      keep.set(b * 77 + j, j < 77 - 5 * b);
  runCase({{2, 2}, 65, 77, 16, 16}, &keep, 1e-5);
}

TEST(AttentionKernels, BooleanTrilMaskSkipsTiles) {
  // nanoGPT's causal mask as a boolean [1, 1, T, T] buffer: tiles above the diagonal are
  // all false and skipped; the rest must still match.
  HostTensor keep(ds::plan::I1, {1, 1, 150, 150});
  for (int64_t i = 0; i < 150; ++i)
    for (int64_t j = 0; j < 150; ++j)
      keep.set(i * 150 + j, j <= i);
  runCase({{2, 2}, 150, 150, 16, 16}, &keep, 1e-5);
}

TEST(AttentionKernels, CausalAndAdditiveMask) {
  std::mt19937 rng(3);
  HostTensor bias = randomTensor(ds::plan::F32, {1, 1, 66, 66}, rng, -3, 0);
  runCase({{2, 2}, 66, 66, 16, 16, /*causal=*/true, 0.125}, &bias, 1e-5);
}

TEST(AttentionKernels, FullyMaskedRowGivesZeros) {
  // Row 0 sees no key: out 0, lse -inf, no gradient (the reference agrees).
  HostTensor keep(ds::plan::I1, {5, 9});
  for (int64_t i = 0; i < 45; ++i)
    keep.set(i, i >= 9);
  runCase({{2}, 5, 9, 4, 4}, &keep, 1e-5);
}

TEST(AttentionKernels, GroupedQueryHeads) {
  // 6 query heads over 2 key-value heads: dk and dv sum over each group of 3.
  Case c{{2, 6}, 70, 66, 8, 8, /*causal=*/true};
  c.kvHeads = 2;
  HostTensor keep(ds::plan::I1, {2, 1, 1, 66});
  for (int64_t i = 0; i < 132; ++i)
    keep.set(i, i % 66 < 60 || i < 66);
  runCase(c, &keep, 1e-5);
  c.kvHeads = 1;
  runCase(c, nullptr, 1e-5);
}

TEST(AttentionKernels, Float64) {
  Case c{{2}, 80, 80, 8, 8, /*causal=*/true};
  c.dtype = ds::plan::F64;
  runCase(c, nullptr, 1e-12);
}

TEST(AttentionKernels, BFloat16AndFloat16Storage) {
  // Inputs are rounded to 16 bits first; the reference reads the same rounded values, so
  // only the rounding of the results remains (bf16: 8 bits of mantissa).
  Case c{{2, 2}, 70, 70, 16, 16, true};
  c.dtype = ds::plan::BF16;
  runCase(c, nullptr, 2e-2);
  c.dtype = ds::plan::F16;
  runCase(c, nullptr, 4e-3);
}

/// x [B, A, C, W] with its middle dims swapped: [B, C, A, W] (bhsd <-> bshd).
HostTensor swapMiddle(const HostTensor &x) {
  int64_t b = x.shape[0], a = x.shape[1], c = x.shape[2], w = x.shape[3];
  HostTensor y(x.dtype, {b, c, a, w});
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < a; ++j)
      for (int64_t k = 0; k < c; ++k)
        for (int64_t e = 0; e < w; ++e)
          y.set(((i * c + k) * a + j) * w + e, x.get(((i * a + j) * c + k) * w + e));
  return y;
}

void expectSame(const HostTensor &got, const HostTensor &want, const char *what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_EQ(got.get(i), want.get(i)) << what << "[" << i << "]";
}

/// Runs attention and attention_grad on [B, H, T, D] operands (layout bhsd, the general
/// path) and on the same values in [B, T, H, D] (layout bshd): the results agree bit for
/// bit, the products reading the same values in the same order through row strides.
void runBshdAgainstBhsd(DType dtype, int64_t heads, int64_t kvHeads, bool causal,
                        HostTensor *mask) {
  std::mt19937 rng(11);
  int64_t b = 2, t = 70, d = 16, dv = 8;
  HostTensor q = randomTensor(dtype, {b, heads, t, d}, rng);
  HostTensor k = randomTensor(dtype, {b, kvHeads, t, d}, rng);
  HostTensor v = randomTensor(dtype, {b, kvHeads, t, dv}, rng);
  HostTensor g = randomTensor(dtype, {b, heads, t, dv}, rng);
  Ins fwd = Ins("attention").f("scale", 0.25).i("causal", causal);
  Ins bwd = Ins("attention_grad").f("scale", 0.25).i("causal", causal);
  auto withMask = [&](std::vector<HostTensor *> in) {
    if (mask)
      in.push_back(mask);
    return in;
  };
  DType lseType = dtype == ds::plan::F64 ? ds::plan::F64 : ds::plan::F32;
  HostTensor out(dtype, {b, heads, t, dv}), lse(lseType, {b, heads, t});
  runKernel(fwd, withMask({&q, &k, &v}), {&out, &lse});
  HostTensor dq(dtype, q.shape), dk(dtype, k.shape), dv_(dtype, v.shape);
  runKernel(bwd, withMask({&g, &q, &k, &v, &out, &lse}), {&dq, &dk, &dv_});

  HostTensor sq = swapMiddle(q), sk = swapMiddle(k), sv = swapMiddle(v),
             sg = swapMiddle(g);
  HostTensor sout(dtype, {b, t, heads, dv}), slse(lseType, {b, heads, t});
  fwd.s("layout", "bshd");
  bwd.s("layout", "bshd");
  runKernel(fwd, withMask({&sq, &sk, &sv}), {&sout, &slse});
  HostTensor sdq(dtype, sq.shape), sdk(dtype, sk.shape), sdv(dtype, sv.shape);
  runKernel(bwd, withMask({&sg, &sq, &sk, &sv, &sout, &slse}), {&sdq, &sdk, &sdv});
  expectSame(swapMiddle(sout), out, "out");
  expectSame(slse, lse, "lse");
  expectSame(swapMiddle(sdq), dq, "dq");
  expectSame(swapMiddle(sdk), dk, "dk");
  expectSame(swapMiddle(sdv), dv_, "dv");
}

TEST(AttentionKernels, BshdLayoutMatchesBhsd) {
  for (DType dtype : {ds::plan::F32, ds::plan::BF16, ds::plan::F64}) {
    SCOPED_TRACE(dtypeName(dtype));
    runBshdAgainstBhsd(dtype, 3, 3, /*causal=*/true, nullptr);
    runBshdAgainstBhsd(dtype, 3, 3, /*causal=*/false, nullptr);
    runBshdAgainstBhsd(dtype, 4, 2, /*causal=*/true, nullptr); // grouped-query
  }
  HostTensor keep(ds::plan::I1, {2, 1, 1, 70}); // padding: sample 1 sees 60 keys
  for (int64_t i = 0; i < 140; ++i)
    keep.set(i, i < 70 || i % 70 < 60);
  runBshdAgainstBhsd(ds::plan::BF16, 3, 3, /*causal=*/true, &keep);
  std::mt19937 rng(5);
  HostTensor bias = randomTensor(ds::plan::F32, {1, 3, 70, 70}, rng, -3, 0);
  runBshdAgainstBhsd(ds::plan::F32, 3, 3, /*causal=*/false, &bias);
}

TEST(AttentionKernels, BshdChecksRank) {
  HostTensor q(ds::plan::F32, {2, 8, 4}), out(ds::plan::F32, {2, 8, 4});
  HostTensor lse(ds::plan::F32, {2, 8});
  EXPECT_NE(checkKernel(Ins("attention").f("scale", 0.5).s("layout", "bshd"),
                        {&q, &q, &q}, {&out, &lse})
                .find("layout bshd needs q of rank 4"),
            std::string::npos);
  // [B, T, H, D] = [2, 8, 3, 4]: lse is [B, H, T].
  HostTensor q4(ds::plan::F32, {2, 8, 3, 4}), lse4(ds::plan::F32, {2, 3, 8}),
      lseWrong(ds::plan::F32, {2, 8, 3});
  Ins fwd = Ins("attention").f("scale", 0.5).s("layout", "bshd");
  EXPECT_EQ(checkKernel(fwd, {&q4, &q4, &q4}, {&q4, &lse4}), "");
  EXPECT_NE(checkKernel(fwd, {&q4, &q4, &q4}, {&q4, &lseWrong}).find("lse"),
            std::string::npos);
}

TEST(AttentionKernels, ChecksRejectBadOperands) {
  HostTensor q(ds::plan::F32, {2, 8, 4}), out(ds::plan::F32, {2, 8, 4});
  HostTensor lse(ds::plan::F32, {2, 8}), lse16(ds::plan::F16, {2, 8});
  HostTensor wide(ds::plan::I1, {8, 9});
  Ins fwd = Ins("attention").f("scale", 0.5);
  EXPECT_EQ(checkKernel(fwd, {&q, &q, &q}, {&out, &lse}), "");
  EXPECT_NE(checkKernel(fwd, {&q, &q, &q}, {&out, &lse16}).find("lse must be f32"),
            std::string::npos);
  EXPECT_NE(checkKernel(fwd, {&q, &q, &q, &wide}, {&out, &lse}).find("broadcast"),
            std::string::npos);
  EXPECT_NE(checkKernel(Ins("attention").f("scale", 0.5).f("dropout", 0.1), {&q, &q, &q},
                        {&out, &lse})
                .find("'dropout' must be 0"),
            std::string::npos);
  EXPECT_NE(checkKernel(Ins("attention").f("scale", 0), {&q, &q, &q}, {&out, &lse})
                .find("'scale' must be positive"),
            std::string::npos);
}

/// Part p of qkv [B, T, 3, H, D]: [B, T, H, D].
HostTensor partOf(const HostTensor &qkv, int64_t p) {
  int64_t rows = qkv.shape[0] * qkv.shape[1], hd = qkv.shape[3] * qkv.shape[4];
  HostTensor x(qkv.dtype, {qkv.shape[0], qkv.shape[1], qkv.shape[3], qkv.shape[4]});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t e = 0; e < hd; ++e)
      x.set(r * hd + e, qkv.get((r * 3 + p) * hd + e));
  return x;
}

/// Runs attention and attention_grad in layout bshd on the parts of a random packed qkv,
/// and packed_attention and packed_attention_grad on qkv itself: the same bits (the same
/// products through other row strides), dqkv's parts being dq, dk and dv.
void runPackedAgainstParts(DType dtype, bool causal, HostTensor *mask) {
  std::mt19937 rng(23);
  int64_t b = 2, t = 70, h = 3, d = 16;
  HostTensor qkv = randomTensor(dtype, {b, t, 3, h, d}, rng);
  HostTensor g = randomTensor(dtype, {b, t, h, d}, rng);
  HostTensor q = partOf(qkv, 0), k = partOf(qkv, 1), v = partOf(qkv, 2);
  auto withMask = [&](std::vector<HostTensor *> in) {
    if (mask)
      in.push_back(mask);
    return in;
  };
  DType lseType = dtype == ds::plan::F64 ? ds::plan::F64 : ds::plan::F32;
  HostTensor out(dtype, {b, t, h, d}), lse(lseType, {b, h, t});
  runKernel(Ins("attention").f("scale", 0.25).i("causal", causal).s("layout", "bshd"),
            withMask({&q, &k, &v}), {&out, &lse});
  HostTensor dq(dtype, q.shape), dk(dtype, k.shape), dv(dtype, v.shape);
  runKernel(
      Ins("attention_grad").f("scale", 0.25).i("causal", causal).s("layout", "bshd"),
      withMask({&g, &q, &k, &v, &out, &lse}), {&dq, &dk, &dv});

  HostTensor pout(dtype, out.shape), plse(lseType, lse.shape), dqkv(dtype, qkv.shape);
  runKernel(Ins("packed_attention").f("scale", 0.25).i("causal", causal),
            withMask({&qkv}), {&pout, &plse});
  runKernel(Ins("packed_attention_grad").f("scale", 0.25).i("causal", causal),
            withMask({&g, &qkv, &pout, &plse}), {&dqkv});
  expectSame(pout, out, "out");
  expectSame(plse, lse, "lse");
  expectSame(partOf(dqkv, 0), dq, "dq");
  expectSame(partOf(dqkv, 1), dk, "dk");
  expectSame(partOf(dqkv, 2), dv, "dv");
}

// Tests that the packed kernels compute what attention and attention_grad compute on the
// parts, bit for bit: f32, bf16 and f64, causal or not, with a boolean and a float mask.
TEST(AttentionKernels, PackedMatchesParts) {
  for (DType dtype : {ds::plan::F32, ds::plan::BF16, ds::plan::F64}) {
    SCOPED_TRACE(dtypeName(dtype));
    runPackedAgainstParts(dtype, /*causal=*/true, nullptr);
    runPackedAgainstParts(dtype, /*causal=*/false, nullptr);
  }
  HostTensor keep(ds::plan::I1, {2, 1, 1, 70}); // padding: sample 1 sees 60 keys
  for (int64_t i = 0; i < 140; ++i)
    keep.set(i, i < 70 || i % 70 < 60);
  runPackedAgainstParts(ds::plan::BF16, /*causal=*/true, &keep);
  std::mt19937 rng(5);
  HostTensor bias = randomTensor(ds::plan::F32, {1, 3, 70, 70}, rng, -3, 0);
  runPackedAgainstParts(ds::plan::F32, /*causal=*/false, &bias);
}

// Tests that the packed kernels' checks name what is wrong: qkv not [B, T, 3, H, D], out
// or dqkv of another shape.
TEST(AttentionKernels, PackedChecksShapes) {
  HostTensor qkv(ds::plan::F32, {2, 8, 3, 4, 16}), out(ds::plan::F32, {2, 8, 4, 16});
  HostTensor lse(ds::plan::F32, {2, 4, 8}), dqkv(ds::plan::F32, {2, 8, 3, 4, 16});
  Ins fwd = Ins("packed_attention").f("scale", 0.25),
      bwd = Ins("packed_attention_grad").f("scale", 0.25);
  EXPECT_EQ(checkKernel(fwd, {&qkv}, {&out, &lse}), "");
  EXPECT_EQ(checkKernel(bwd, {&out, &qkv, &out, &lse}, {&dqkv}), "");
  HostTensor rank4(ds::plan::F32, {2, 8, 12, 16}), two(ds::plan::F32, {2, 8, 2, 4, 16});
  for (HostTensor *bad : {&rank4, &two})
    EXPECT_NE(checkKernel(fwd, {bad}, {&out, &lse}).find("qkv must be [B, T, 3, H, D]"),
              std::string::npos);
  HostTensor wrongOut(ds::plan::F32, {2, 8, 4, 8});
  EXPECT_NE(checkKernel(fwd, {&qkv}, {&wrongOut, &lse}).find("out has shape"),
            std::string::npos);
  HostTensor dqkv16(ds::plan::BF16, {2, 8, 3, 4, 16}),
      dqkvShort(ds::plan::F32, {2, 8, 3, 4, 8});
  EXPECT_NE(checkKernel(bwd, {&out, &qkv, &out, &lse}, {&dqkv16}).find("dqkv and qkv"),
            std::string::npos);
  EXPECT_NE(
      checkKernel(bwd, {&out, &qkv, &out, &lse}, {&dqkvShort}).find("dqkv has shape"),
      std::string::npos);
  EXPECT_NE(checkKernel(Ins("packed_attention").f("scale", 0.25).s("layout", "bshd"),
                        {&qkv}, {&out, &lse})
                .find("unknown attribute 'layout'"),
            std::string::npos);
}

} // namespace
