// matmul and gemm (Gemm.h; batched matmul runs whole products on threads).
#include "CpuCommon.h"
#include "Gemm.h"

#include <cstring>

namespace ds::rt::cpu {
namespace {

// Row-major C[M,N] = A[M,K] B[K,N] split across the pool.
template <typename T>
void plainGemm(int64_t M, int64_t N, int64_t K, const T *a, const T *b, T *c) {
  parallelGemm(false, false, M, N, K, T(1), a, K, b, N, T(0), c, N);
}

template <typename T>
void matmulTyped(const T *a, std::vector<int64_t> as, const T *b, std::vector<int64_t> bs,
                 T *r) {
  if (as.size() == 1)
    as.insert(as.begin(), 1);
  if (bs.size() == 1)
    bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  std::vector<int64_t> abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  std::vector<int64_t> batch = broadcastShapes(abatch, bbatch);
  int64_t nb = 1;
  for (int64_t d : batch)
    nb *= d;
  int64_t bnum = 1;
  for (int64_t d : bbatch)
    bnum *= d;
  if (bnum == 1) { // b is one matrix shared by every batch: fold the batch into M
    int64_t anum = 1;
    for (int64_t d : abatch)
      anum *= d;
    if (anum == nb) {
      plainGemm(nb * M, N, K, a, b, r);
      return;
    }
  }
  std::vector<int64_t> sa = broadcastStrides(abatch, batch), sb = broadcastStrides(bbatch, batch);
  auto one = [&](int64_t i, bool split) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) {
      int64_t idx = rem % batch[size_t(d)];
      rem /= batch[size_t(d)];
      oa += idx * sa[size_t(d)];
      ob += idx * sb[size_t(d)];
    }
    if (split)
      parallelGemm(false, false, M, N, K, T(1), a + oa * M * K, K, b + ob * K * N, N, T(0),
                   r + i * M * N, N);
    else
      gemm(false, false, M, N, K, T(1), a + oa * M * K, K, b + ob * K * N, N, T(0),
           r + i * M * N, N);
  };
  if (parallelGemmBlocks(M, N, K) == 1) { // products not split: whole ones on threads
    parallelFor(nb, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        one(i, false);
    });
    return;
  }
  for (int64_t i = 0; i < nb; ++i)
    one(i, true);
}

template <typename T>
void gemmTyped(KernelCall &c, const T *a, const T *b, const T *cc, T *r) {
  const auto &as = *c.in[0].shape, &bs = *c.in[1].shape;
  const auto &attrs = c.attrs<GemmAttrs>();
  bool ta = attrs.trans_a, tb = attrs.trans_b;
  double alpha = attrs.alpha, beta = attrs.beta;
  int64_t M = ta ? as[1] : as[0], K = ta ? as[0] : as[1], N = tb ? bs[0] : bs[1];
  if (M == 0 || N == 0)
    return;
  if (cc && beta != 0) { // r = broadcast(c), then r = alpha op(a) op(b) + beta r
    if (cc != r) { // else accumulating in place: c is r's bytes
      std::vector<int64_t> st = broadcastStrides(*c.in[2].shape, {M, N});
      parallelFor(M, std::max<int64_t>(1, kGrain / N), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          T *row = r + i * N;
          const T *src = cc + i * st[0];
          if (st[1] == 1) // a bias row, or c's own row
            std::memcpy(row, src, size_t(N) * sizeof(T));
          else
            for (int64_t j = 0; j < N; ++j)
              row[j] = src[j * st[1]];
        }
      });
    }
  } else {
    beta = 0;
  }
  parallelGemm(ta, tb, M, N, K, T(alpha), a, as[1], b, bs[1], T(beta), r, N);
}

} // namespace

void runMatmul(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  if (a.dtype == ds::plan::F64) {
    matmulTyped(a.as<double>(), *a.shape, b.as<double>(), *b.shape, r.as<double>());
    return;
  }
  std::vector<float> ta, tb, tr;
  const float *pa = asF32(a, ta), *pb = asF32(b, tb);
  float *pr = outF32(r, tr);
  matmulTyped(pa, *a.shape, pb, *b.shape, pr);
  storeF32(pr, r);
}

namespace {
/// gemm's db: reduce_sum's arithmetic over the contraction dim of the operand bias_grad
/// names (its stored dim 0 when op() reads it as [K, *], else its dim 1).
void biasGrad(KernelCall &c) {
  const auto &attrs = c.attrs<GemmAttrs>();
  bool reducesA = attrs.bias_grad == GemmBiasGrad::A;
  const Tensor &x = reducesA ? c.in[0] : c.in[1];
  bool kIsDim0 = reducesA ? attrs.trans_a : !attrs.trans_b;
  sumOverAxes(x, {kIsDim0 ? 0 : 1}, c.out[1]);
}

/// r = alpha op(a) op(b) + beta c, without db.
void product(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  bool hasC = c.in.size() == 3;
  if (a.dtype == ds::plan::F64) {
    gemmTyped(c, a.as<double>(), b.as<double>(), hasC ? c.in[2].as<double>() : nullptr,
              r.as<double>());
    return;
  }
  if (hasC && c.in[2].data == r.data && c.attrs<GemmAttrs>().beta == 1.0) {
    // Accumulating in place (ds-fuse-gemm's fold of add(c, op(a) op(b))): the product is
    // stored in r's dtype, then added as the add kernel adds, so that the CPU computes the
    // unfused kernels' bits whether or not the add was folded (offloaded gradients are
    // accumulated by a host add; ZeRO and offload runs must stay bitwise equal).
    runAccumulating(c, 2, {0}, product); // the product alone: db is computed once
    return;
  }
  std::vector<float> ta, tb, tc, tr;
  const float *pa = asF32(a, ta), *pb = asF32(b, tb);
  if (hasC && c.in[2].data == r.data) { // the same, with c scaled by beta first
    std::vector<float> product(size_t(r.numel)), tp;
    std::vector<char> stored(size_t(r.numel) * dtypeSize(r.dtype));
    Tensor p{r.dtype, r.shape, r.numel, stored.data()};
    gemmTyped(c, pa, pb, static_cast<const float *>(nullptr), product.data());
    storeF32(product.data(), p);
    const float *pp = asF32(p, tp), *pc = asF32(c.in[2], tc);
    float *pr = outF32(r, tr);
    float beta = float(c.attrs<GemmAttrs>().beta);
    for (int64_t i = 0; i < r.numel; ++i)
      pr[i] = beta * pc[i] + pp[i];
    storeF32(pr, r);
    return;
  }
  const float *pc = hasC ? asF32(c.in[2], tc) : nullptr;
  float *pr = outF32(r, tr);
  gemmTyped(c, pa, pb, pc, pr);
  storeF32(pr, r);
}
} // namespace

void runGemm(KernelCall &c) {
  // db reads only a or b, which r never overlaps: before or after the product, same bits.
  if (c.out.size() == 2)
    biasGrad(c);
  product(c);
}

} // namespace ds::rt::cpu
