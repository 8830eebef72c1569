// matmul and gemm through cuBLASLt: f16/bf16 on tensor cores with f32 accumulation, f32 in
// full precision (TF32 only when DS_CUDA_TF32=1), f64 in f64. Row-major operands are handed to
// the column-major library as their transposes: C^T = B^T A^T, so no data moves.
#include "CudaCommon.cuh"

#include "ds/runtime/GemmBiasGrad.h"

#include <mutex>
#include <unordered_map>

namespace ds::rt::cuda {
namespace {

void ltCheck(cublasStatus_t s, const char *what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail("cuBLASLt ", what, ": status ", int(s));
}

struct LtTypes {
  cudaDataType_t data;
  cudaDataType_t scale;
  cublasComputeType_t compute;
};
LtTypes ltTypes(DType t, bool tf32) {
  switch (t) {
  case ds::plan::F32:
    return {CUDA_R_32F, CUDA_R_32F, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F};
  case ds::plan::F64: return {CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F};
  case ds::plan::F16: return {CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F};
  case ds::plan::BF16: return {CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F};
  default: fail("matmul: unsupported dtype ", dtypeName(t));
  }
}

/// One planned cuBLASLt call: column-major D[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C,
/// `batch` times with the given element strides (0 = shared operand).
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo;
  bool haveAlgo = false;
  ~LtPlan() {
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
  }
};

cublasLtMatrixLayout_t layout(cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld,
                              int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l;
  ltCheck(cublasLtMatrixLayoutCreate(&l, t, uint64_t(rows), uint64_t(cols), ld), "layout");
  if (batch > 1) {
    int32_t bc = int32_t(batch);
    ltCheck(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc,
                                             sizeof(bc)), "batch count");
    ltCheck(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                             &stride, sizeof(stride)), "batch stride");
  }
  return l;
}

// Plans are cached by problem (types, transposes, sizes, leading dims, batch, strides): the
// descriptors hold no pointers, so equal problems share one plan and its chosen algorithm.
std::mutex gMutex;
std::unordered_map<std::string, std::unique_ptr<LtPlan>> gPlans;

/// An epilogue over `bias` (D's dtype): none; BIAS, adding the m-long bias to every column of
/// D; or BGRADA / BGRADB, writing the bias gradient (m or n long).
struct LtBiasGrad {
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  void *bias = nullptr;
};

/// Column-major call (the row-major problem already swapped by the caller):
/// D[m,n] (ld m) = alpha opA(A) opB(B) + beta D, A stored with leading dim lda, B with ldb.
/// With an epilogue: false (nothing launched) when cuBLASLt's heuristics have no algorithm
/// for it, and the caller falls back.
bool ltMatmul(KernelCall &c, DType dt, bool transA, bool transB,
              int64_t m, int64_t n, int64_t k, const void *A, int64_t lda, int64_t strideA,
              const void *B, int64_t ldb, int64_t strideB, void *D, int64_t strideD,
              int64_t batch, double alpha, double beta, LtBiasGrad bgrad = {}) {
  DeviceContext &d = dev(c);
  LtTypes ty = ltTypes(dt, d.allowTf32);
  std::string key;
  // The bias pointer is part of the plan (a descriptor attribute): it is the same arena
  // address every step, so a planned instruction keeps hitting its own plan.
  for (int64_t v : {int64_t(dt), int64_t(d.allowTf32), int64_t(transA), int64_t(transB), m, n, k,
                    lda, strideA, ldb, strideB, strideD, batch, int64_t(d.workspaceBytes),
                    int64_t(bgrad.epilogue), int64_t(reinterpret_cast<uintptr_t>(bgrad.bias))})
    key += std::to_string(v) + ",";
  LtPlan *p;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto &slot = gPlans[key];
    if (!slot) {
      auto np = std::make_unique<LtPlan>();
      ltCheck(cublasLtMatmulDescCreate(&np->desc, ty.compute, ty.scale), "desc");
      cublasOperation_t ta = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
      cublasOperation_t tb = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
      ltCheck(cublasLtMatmulDescSetAttribute(np->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta,
                                             sizeof(ta)), "transa");
      ltCheck(cublasLtMatmulDescSetAttribute(np->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb,
                                             sizeof(tb)), "transb");
      if (bgrad.bias) {
        // The bias (gradient) is read (written) in D's dtype (the default bias data type).
        ltCheck(cublasLtMatmulDescSetAttribute(np->desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                               &bgrad.epilogue, sizeof(bgrad.epilogue)),
                "epilogue");
        ltCheck(cublasLtMatmulDescSetAttribute(np->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                               &bgrad.bias, sizeof(bgrad.bias)),
                "bias pointer");
      }
      np->a = layout(ty.data, transA ? k : m, transA ? m : k, lda, batch, strideA);
      np->b = layout(ty.data, transB ? n : k, transB ? k : n, ldb, batch, strideB);
      np->c = layout(ty.data, m, n, m, batch, strideD);
      cublasLtMatmulPreference_t pref;
      ltCheck(cublasLtMatmulPreferenceCreate(&pref), "preference");
      size_t ws = d.workspaceBytes;
      ltCheck(cublasLtMatmulPreferenceSetAttribute(
                  pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)), "workspace");
      cublasLtMatmulHeuristicResult_t res;
      int found = 0;
      cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(d.lt, np->desc, np->a, np->b, np->c,
                                                         np->c, pref, 1, &res, &found);
      cublasLtMatmulPreferenceDestroy(pref);
      if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
        np->algo = res.algo;
        np->haveAlgo = true;
      }
      slot = std::move(np);
    }
    p = slot.get();
  }
  if (bgrad.bias && !p->haveAlgo)
    return false;
  float af = float(alpha), bf = float(beta);
  const void *pa = dt == ds::plan::F64 ? static_cast<const void *>(&alpha) : &af;
  const void *pb = dt == ds::plan::F64 ? static_cast<const void *>(&beta) : &bf;
  ltCheck(cublasLtMatmul(d.lt, p->desc, pa, A, p->a, B, p->b, pb, D, p->c, D, p->c,
                         p->haveAlgo ? &p->algo : nullptr, d.workspace, d.workspaceBytes,
                         d.stream),
          "matmul");
  return true;
}

template <typename T>
__global__ void scaleKernel(T *p, int64_t n, double beta) {
  DS_GRID_STRIDE(i, n) { st(p, i, beta == 0 ? typename Acc<T>::type(0) : ld(p, i) * typename Acc<T>::type(beta)); }
}

template <typename T>
__global__ void broadcastCopyKernel(const T *src, Indexer ix, T *dst, int64_t n) {
  DS_GRID_STRIDE(i, n) { dst[i] = src[ix.offset(i)]; }
}

/// Row-major R[M,N] = A[M,K] B[K,N] (one matrix each), batch strides in elements.
void rowMajorMatmul(KernelCall &c, DType dt, const void *A, const void *B, void *R,
                    int64_t M, int64_t N, int64_t K, int64_t batch, int64_t sA, int64_t sB,
                    int64_t sR) {
  // Column-major view: R^T[N,M] = B^T[N,K] A^T[K,M]; B^T is B's storage with ld N, A^T is
  // A's storage with ld K.
  ltMatmul(c, dt, false, false, N, M, K, B, N, sB, A, K, sA, R, sR, batch, 1.0,
           0.0);
}

void zeroFill(void *p, size_t bytes, cudaStream_t s) {
  if (bytes)
    DS_CUDA(cudaMemsetAsync(p, 0, bytes, s));
}

} // namespace

void runMatmul(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  std::vector<int64_t> as = *a.shape, bs = *b.shape;
  if (as.size() == 1)
    as.insert(as.begin(), 1);
  if (bs.size() == 1)
    bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  size_t es = dtypeSize(r.dtype);
  if (r.numel == 0)
    return;
  if (K == 0) {
    zeroFill(r.data, size_t(r.numel) * es, stream(c));
    return;
  }
  std::vector<int64_t> abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  std::vector<int64_t> batch = broadcastShapes(abatch, bbatch);
  int64_t nb = 1, anum = 1, bnum = 1;
  for (int64_t d : batch) nb *= d;
  for (int64_t d : abatch) anum *= d;
  for (int64_t d : bbatch) bnum *= d;
  if (bnum == 1 && anum == nb) { // one B for every batch: fold the batch into M
    rowMajorMatmul(c, r.dtype, a.data, b.data, r.data, nb * M, N, K, 1, 0, 0, 0);
    return;
  }
  if ((anum == nb || anum == 1) && (bnum == nb || bnum == 1)) {
    // Each side is either the whole batch in the result's order (equal element counts: only
    // unit dims were broadcast) or one matrix shared by every batch (stride 0).
    rowMajorMatmul(c, r.dtype, a.data, b.data, r.data, M, N, K, nb, anum == nb ? M * K : 0,
                   bnum == nb ? K * N : 0, M * N);
    return;
  }
  // General broadcast: one call per result matrix.
  // Batch strides (in matrices) of each operand in the result's batch shape, 0 where broadcast.
  auto bstrides = [&](const std::vector<int64_t> &in) {
    std::vector<int64_t> st(batch.size(), 0), rs = rowMajorStrides(in);
    size_t lead = batch.size() - in.size();
    for (size_t i = 0; i < in.size(); ++i)
      st[lead + i] = in[i] == 1 ? 0 : rs[i];
    return st;
  };
  std::vector<int64_t> sa = bstrides(abatch), sb = bstrides(bbatch);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = int(batch.size()) - 1; d >= 0; --d) {
      int64_t idx = rem % batch[size_t(d)];
      rem /= batch[size_t(d)];
      oa += idx * sa[size_t(d)];
      ob += idx * sb[size_t(d)];
    }
    rowMajorMatmul(c, r.dtype, static_cast<const char *>(a.data) + size_t(oa * M * K) * es,
                   static_cast<const char *>(b.data) + size_t(ob * K * N) * es,
                   static_cast<char *>(r.data) + size_t(i * M * N) * es, M, N, K, 1, 0, 0, 0);
  }
}

namespace {
/// Whether `shape` is N values along its last dim, every other dim 1 (a bias row).
bool isRowVector(const std::vector<int64_t> &shape, int64_t n) {
  if (shape.empty() || shape.back() != n)
    return false;
  for (size_t i = 0; i + 1 < shape.size(); ++i)
    if (shape[i] != 1)
      return false;
  return true;
}

/// gemm's db without the epilogue: reduce_sum's kernel over the contraction dim of the
/// operand bias_grad names (a second launch).
void biasGradFallback(KernelCall &c) {
  const auto &attrs = c.attrs<GemmAttrs>();
  bool reducesA = attrs.bias_grad == GemmBiasGrad::A;
  bool kIsDim0 = reducesA ? attrs.trans_a : !attrs.trans_b;
  sumOverAxes(c, reducesA ? c.in[0] : c.in[1], {kIsDim0 ? 0 : 1}, c.out[1]);
}
} // namespace

void runGemm(KernelCall &c) {
  const Tensor &a = c.in[0], &b = c.in[1], &r = c.out[0];
  const auto &as = *a.shape, &bs = *b.shape;
  const auto &attrs = c.attrs<GemmAttrs>();
  bool ta = attrs.trans_a, tb = attrs.trans_b;
  double alpha = attrs.alpha, beta = attrs.beta;
  int64_t M = ta ? as[1] : as[0], K = ta ? as[0] : as[1], N = tb ? bs[0] : bs[1];
  bool hasDb = c.out.size() == 2;
  if (hasDb && (M == 0 || N == 0 || K == 0))
    biasGradFallback(c); // zeros, or nothing to write
  if (M == 0 || N == 0)
    return;
  cudaStream_t s = stream(c);
  bool hasC = c.in.size() == 3 && beta != 0;
  // A bias (c one row of N, added to every row with beta 1): cuBLASLt's BIAS epilogue adds it
  // in the product's launch (R^T's rows are the bias's N), instead of broadcasting c into r
  // first; without an algorithm for it, the broadcast below.
  if (hasC && c.in[2].data != r.data && beta == 1 && K > 0 && !hasDb &&
      isRowVector(*c.in[2].shape, N) &&
      ltMatmul(c, r.dtype, tb, ta, N, M, K, b.data, bs[1], 0, a.data, as[1], 0, r.data, 0, 1,
               alpha, 0.0, {CUBLASLT_EPILOGUE_BIAS, const_cast<void *>(c.in[2].data)}))
    return;
  if (hasC && c.in[2].data != r.data) { // r = broadcast(c); else c is r's bytes (in place)
    Indexer ix = broadcastIndexer(*c.in[2].shape, {M, N});
    int64_t n = M * N;
    DS_DISPATCH_FLOAT(r.dtype, T,
      broadcastCopyKernel<T><<<gridFor(n), kThreads, 0, s>>>(c.in[2].as<T>(), ix, r.as<T>(), n));
    DS_CUDA_LAUNCH();
  } else if (!hasC) {
    beta = 0;
  }
  if (K == 0) {
    int64_t n = M * N;
    DS_DISPATCH_FLOAT(r.dtype, T, scaleKernel<T><<<gridFor(n), kThreads, 0, s>>>(r.as<T>(), n, beta));
    DS_CUDA_LAUNCH();
    return;
  }
  // Column-major: R^T[N,M] = op(B)^T op(A)^T. B's storage seen column-major is B^T (ld bs[1]);
  // op(B)^T = (B^T) when !tb, its transpose when tb. Same for A with ld as[1].
  // db over op(b) is a bias over R^T's rows (BGRADA), over op(a) one over its columns
  // (BGRADB).
  bool reducesA = attrs.bias_grad == GemmBiasGrad::A;
  LtBiasGrad bgrad;
  if (hasDb && gemmBiasGradInEpilogue(reducesA, ta, tb,
                                      r.dtype == ds::plan::F16 || r.dtype == ds::plan::BF16,
                                      alpha))
    bgrad = {reducesA ? CUBLASLT_EPILOGUE_BGRADB : CUBLASLT_EPILOGUE_BGRADA, c.out[1].data};
  if (bgrad.bias && ltMatmul(c, r.dtype, tb, ta, N, M, K, b.data, bs[1], 0, a.data, as[1], 0,
                             r.data, 0, 1, alpha, beta, bgrad))
    return;
  ltMatmul(c, r.dtype, tb, ta, N, M, K, b.data, bs[1], 0, a.data, as[1], 0, r.data,
           0, 1, alpha, beta);
  if (hasDb)
    biasGradFallback(c);
}

} // namespace ds::rt::cuda
