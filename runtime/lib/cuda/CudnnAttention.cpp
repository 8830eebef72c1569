// cuDNN fused SDPA forward and backward for bf16/f16 attention through the cuDNN frontend's
// graph API: one graph per instruction, validated, planned and sized at plan load.
#include "CudnnAttention.h"

#include "../AttentionRows.h"
#include "CudnnLibrary.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#if DS_HAVE_CUDNN_FRONTEND
#define CUDNN_FRONTEND_SKIP_JSON_LIB 1
#include <cudnn_frontend.h>
#endif

namespace ds::rt::cuda {

#if DS_HAVE_CUDNN_FRONTEND
namespace fe = cudnn_frontend;

namespace {

enum Uid : int64_t { kQ = 1, kK, kV, kBias, kO, kStats, kDO, kDQ, kDK, kDV };

/// The process's cuDNN handle and the attention workspace every graph shares (attention runs
/// on the compute stream only, one kernel at a time).
struct CudnnState {
  std::mutex mu;
  cudnnHandle_t handle = nullptr;
  void *workspace = nullptr;
  int64_t workspaceBytes = 0;
  std::string error; // why cuDNN cannot be used ("" once the handle exists)
  bool tried = false;
  std::map<std::string, CudnnAttentionPtr> graphs; // by instruction signature
};

CudnnState &state() {
  static CudnnState *s = new CudnnState; // never destroyed: graphs may outlive statics
  return *s;
}

/// The handle, created once (after cudaSetDevice); null with s.error set when unavailable.
cudnnHandle_t handle(CudnnState &s) {
  if (s.tried)
    return s.handle;
  s.tried = true;
  std::string why;
  if (!loadCudnnLibrary(why)) {
    s.error = why;
    return nullptr;
  }
  if (cudnnCreate(&s.handle) != CUDNN_STATUS_SUCCESS) {
    s.handle = nullptr;
    s.error = "cudnnCreate failed";
  }
  return s.handle;
}

/// q [..., H, T, D] seen as (b, h, t, d) with b the product of the leading dims; layout
/// bshd's [B, T, H, D] is the same (b, h, t, d) through strides, and so is one part of a
/// packed qkv [B, T, 3, H, D] (rows 3 H D apart: `packed`).
struct Shape4 {
  int64_t b = 1, h = 1, t = 0, d = 0;
  bool bshd = false, packed = false;
  std::vector<int64_t> dims() const { return {b, h, t, d}; }
  std::vector<int64_t> strides() const {
    if (packed) {
      AttentionRows r = packedAttentionRows(t, h, d);
      return {r.batchStride, r.headStride, r.rowStride, 1};
    }
    if (bshd)
      return {t * h * d, d, h * d, 1};
    return {h * t * d, t * d, d, 1};
  }
};

Shape4 shape4(const TensorType &t, AttentionLayout layout) {
  Shape4 s;
  int64_t r = t.rank();
  if (layout == AttentionLayout::Bshd) {
    s.b = t.shape[0], s.t = t.shape[1], s.h = t.shape[2], s.d = t.shape[3];
    s.bshd = true;
    return s;
  }
  for (int64_t i = 0; i + 3 < r; ++i)
    s.b *= t.shape[size_t(i)];
  s.h = t.shape[size_t(r - 3)];
  s.t = t.shape[size_t(r - 2)];
  s.d = t.shape[size_t(r - 1)];
  return s;
}

/// One part of packed_attention's qkv [B, T, 3, H, D].
Shape4 packedShape4(const TensorType &qkv) {
  Shape4 s;
  s.b = qkv.shape[0], s.t = qkv.shape[1], s.h = qkv.shape[3], s.d = qkv.shape[4];
  s.bshd = s.packed = true;
  return s;
}

} // namespace

class CudnnAttention {
public:
  std::shared_ptr<fe::graph::Graph> graph;
  bool backward = false;
  bool hasBias = false;
  /// packed_attention(_grad): q, k, v (dq, dk, dv) are one buffer's parts, partBytes
  /// apart.
  bool packed = false;
  int64_t partBytes = 0;
  int64_t workspaceBytes = 0;
};

CudnnAttentionPtr buildCudnnAttention(const LoadedPlan &plan, int program, int k,
                                      std::string &why) {
  if (const char *e = std::getenv("DS_CUDNN_ATTENTION"); e && std::strcmp(e, "0") == 0) {
    why = "DS_CUDNN_ATTENTION=0";
    return nullptr;
  }
  const auto &ins = plan.plan.programs(program).instructions(k);
  bool backward =
      ins.kernel() == "attention_grad" || ins.kernel() == "packed_attention_grad";
  bool packed =
      ins.kernel() == "packed_attention" || ins.kernel() == "packed_attention_grad";
  const auto &inIdx = plan.instrInputs[size_t(program)][size_t(k)];
  const auto &outIdx = plan.instrOutputs[size_t(program)][size_t(k)];
  auto type = [&](size_t b) -> const TensorType & { return plan.buffers[b].type; };
  size_t qi = backward ? 1 : 0; // q, k, v (or qkv) follow g in the grads
  const TensorType &q = type(inIdx[qi]);
  const TensorType &kt = packed ? q : type(inIdx[qi + 1]);
  const TensorType &v = packed ? q : type(inIdx[qi + 2]);
  const TensorType *mask = nullptr;
  // The operands before the mask: g?, q, k, v (g, q, k, v, out, lse), or g?, qkv (g, qkv,
  // out, lse).
  size_t unmasked = packed ? (backward ? 4 : 1) : (backward ? 6 : 3);
  if (inIdx.size() > unmasked)
    mask = &type(inIdx.back());
  struct {
    double scale = 0, dropout = 0;
    bool causal = false;
    AttentionLayout layout = AttentionLayout::Bshd;
  } attrs;
  const KernelAttrs &decoded = plan.instrAttrs[size_t(program)][size_t(k)];
  if (packed) {
    const auto &a = std::get<PackedAttentionAttrs>(decoded);
    attrs.scale = a.scale, attrs.causal = a.causal;
  } else {
    const auto &a = std::get<AttentionAttrs>(decoded);
    attrs.scale = a.scale, attrs.causal = a.causal, attrs.dropout = a.dropout;
    attrs.layout = a.layout;
  }

  fe::DataType_t io;
  if (q.dtype == ds::plan::BF16)
    io = fe::DataType_t::BFLOAT16;
  else if (q.dtype == ds::plan::F16)
    io = fe::DataType_t::HALF;
  else {
    why = "cuDNN runs bf16/f16 attention, this is " + dtypeName(q.dtype);
    return nullptr;
  }
  if (attrs.dropout != 0) {
    why = "dropout";
    return nullptr;
  }
  if (q.rank() < 3) {
    why = "q of rank < 3";
    return nullptr;
  }
  Shape4 sq = packed ? packedShape4(q) : shape4(q, attrs.layout);
  Shape4 sk = packed ? sq : shape4(kt, attrs.layout),
         sv = packed ? sq : shape4(v, attrs.layout);
  if (sq.b * sq.h * sq.t * sk.t == 0) {
    why = "an empty operand";
    return nullptr;
  }
  // An additive mask of q's dtype whose last two dims are [T, S] and whose leading dims
  // are either all broadcast or all full, so it is cuDNN's bias [1|b, 1|h, T, S].
  int64_t mb = 1, mh = 1;
  if (mask) {
    // bshd (and packed): rank 4 like [B, H, T, S].
    int64_t r = mask->rank(), qr = packed ? 4 : q.rank();
    if (mask->dtype != q.dtype || r < 2 || mask->shape[size_t(r - 2)] != sq.t ||
        mask->shape[size_t(r - 1)] != sk.t) {
      why = "the mask is boolean or broadcast over rows or columns";
      return nullptr;
    }
    if (r >= 3)
      mh = mask->shape[size_t(r - 3)];
    int64_t lead = 1;
    for (int64_t i = 0; i + 3 < r; ++i)
      lead *= mask->shape[size_t(i)];
    bool leadFull = r - 3 == qr - 3 && lead == sq.b;
    if ((mh != 1 && mh != sq.h) || (lead != 1 && !leadFull)) {
      why = "the mask's leading dims broadcast partially";
      return nullptr;
    }
    mb = lead;
  }

  CudnnState &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  cudnnHandle_t h = handle(s);
  if (!h) {
    why = s.error;
    return nullptr;
  }
  // Same signature, same graph (a model's layers repeat one shape).
  std::string key = ins.kernel() + " " + dtypeName(q.dtype);
  for (const Shape4 &x : {sq, sk, sv})
    key += " " + std::to_string(x.b) + "x" + std::to_string(x.h) + "x" + std::to_string(x.t) +
           "x" + std::to_string(x.d);
  char scale[40];
  std::snprintf(scale, sizeof(scale), "%a", attrs.scale); // exact
  key += " mask " + (mask ? std::to_string(mb) + "x" + std::to_string(mh) : "none") +
         " scale " + scale + " causal " + std::to_string(attrs.causal) +
         " layout " + std::to_string(int(attrs.layout));
  if (auto it = s.graphs.find(key); it != s.graphs.end())
    return it->second;
  auto a = std::make_shared<CudnnAttention>();
  a->backward = backward;
  a->hasBias = mask != nullptr;
  a->packed = packed;
  a->partBytes = packed ? sq.h * sq.d * int64_t(dtypeSize(q.dtype)) : 0;
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(io)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  auto tensor = [&](const char *name, Uid uid, const Shape4 &sh) {
    return g->tensor(fe::graph::Tensor_attributes()
                         .set_name(name)
                         .set_uid(uid)
                         .set_dim(sh.dims())
                         .set_stride(sh.strides()));
  };
  auto Q = tensor("Q", kQ, sq), K = tensor("K", kK, sk), V = tensor("V", kV, sv);
  std::shared_ptr<fe::graph::Tensor_attributes> B;
  if (mask)
    B = g->tensor(fe::graph::Tensor_attributes()
                      .set_name("bias")
                      .set_uid(kBias)
                      .set_dim({mb, mh, sq.t, sk.t})
                      .set_stride({mh * sq.t * sk.t, sq.t * sk.t, sk.t, 1}));
  // out [B, T, H, D]: dense, also when q, k, v are packed.
  Shape4 so{sq.b, sq.h, sq.t, sv.d, sq.bshd};
  std::vector<int64_t> statsDim{sq.b, sq.h, sq.t, 1}, statsStride{sq.h * sq.t, sq.t, 1, 1};
  if (!backward) {
    auto opts = fe::graph::SDPA_attributes()
                    .set_name("attention")
                    .set_generate_stats(true)
                    .set_attn_scale(float(attrs.scale));
    if (attrs.causal)
      opts.set_causal_mask(true);
    if (B)
      opts.set_bias(B);
    auto [O, Stats] = g->sdpa(Q, K, V, opts);
    O->set_output(true).set_uid(kO).set_dim(so.dims()).set_stride(so.strides());
    Stats->set_output(true)
        .set_uid(kStats)
        .set_data_type(fe::DataType_t::FLOAT)
        .set_dim(statsDim)
        .set_stride(statsStride);
  } else {
    auto O = tensor("O", kO, so), dO = tensor("dO", kDO, so);
    auto Stats = g->tensor(fe::graph::Tensor_attributes()
                               .set_name("Stats")
                               .set_uid(kStats)
                               .set_dim(statsDim)
                               .set_stride(statsStride)
                               .set_data_type(fe::DataType_t::FLOAT));
    auto opts = fe::graph::SDPA_backward_attributes()
                    .set_name("attention_grad")
                    .set_attn_scale(float(attrs.scale))
                    .set_deterministic_algorithm(true);
    if (attrs.causal)
      opts.set_causal_mask(true);
    if (B)
      opts.set_bias(B);
    auto [dQ, dK, dV] = g->sdpa_backward(Q, K, V, O, dO, Stats, opts);
    dQ->set_output(true).set_uid(kDQ).set_dim(sq.dims()).set_stride(sq.strides());
    dK->set_output(true).set_uid(kDK).set_dim(sk.dims()).set_stride(sk.strides());
    dV->set_output(true).set_uid(kDV).set_dim(sv.dims()).set_stride(sv.strides());
  }
  auto step = [&](const char *what, fe::error_t e) {
    if (e.is_good())
      return true;
    why = std::string("cuDNN ") + what + ": " + e.get_message();
    return false;
  };
  if (!step("validate", g->validate()) ||
      !step("build_operation_graph", g->build_operation_graph(h)) ||
      !step("create_execution_plans", g->create_execution_plans({fe::HeurMode_t::A})) ||
      !step("check_support", g->check_support(h)) || !step("build_plans", g->build_plans(h)) ||
      !step("get_workspace_size", g->get_workspace_size(a->workspaceBytes)))
    return nullptr;
  // One workspace for every graph, grown at load (before anything runs).
  if (a->workspaceBytes > s.workspaceBytes) {
    cudaFree(s.workspace);
    s.workspace = nullptr;
    s.workspaceBytes = 0;
    if (cudaMalloc(&s.workspace, size_t(a->workspaceBytes)) != cudaSuccess) {
      cudaGetLastError();
      why = "cannot allocate the cuDNN workspace of " + std::to_string(a->workspaceBytes) +
            " bytes";
      return nullptr;
    }
    s.workspaceBytes = a->workspaceBytes;
  }
  (void)outIdx;
  a->graph = std::move(g);
  s.graphs[key] = a;
  return a;
}

void runCudnnAttention(const CudnnAttention &a, KernelCall &c, cudaStream_t stream) {
  CudnnState &s = state();
  std::unordered_map<int64_t, void *> pack;
  auto part = [&](const Tensor &qkv, int i) {
    return static_cast<void *>(qkv.as<char>() + i * a.partBytes);
  };
  if (a.packed && !a.backward) {
    pack = {{kQ, part(c.in[0], 0)},
            {kK, part(c.in[0], 1)},
            {kV, part(c.in[0], 2)},
            {kO, c.out[0].data},
            {kStats, c.out[1].data}};
    if (a.hasBias)
      pack[kBias] = c.in[1].data;
  } else if (a.packed) {
    pack = {{kDO, c.in[0].data},      {kQ, part(c.in[1], 0)},   {kK, part(c.in[1], 1)},
            {kV, part(c.in[1], 2)},   {kO, c.in[2].data},       {kStats, c.in[3].data},
            {kDQ, part(c.out[0], 0)}, {kDK, part(c.out[0], 1)}, {kDV, part(c.out[0], 2)}};
    if (a.hasBias)
      pack[kBias] = c.in[4].data;
  } else if (!a.backward) {
    pack = {{kQ, c.in[0].data}, {kK, c.in[1].data},  {kV, c.in[2].data},
            {kO, c.out[0].data}, {kStats, c.out[1].data}};
    if (a.hasBias)
      pack[kBias] = c.in[3].data;
  } else {
    pack = {{kDO, c.in[0].data}, {kQ, c.in[1].data},  {kK, c.in[2].data},
            {kV, c.in[3].data},  {kO, c.in[4].data},  {kStats, c.in[5].data},
            {kDQ, c.out[0].data}, {kDK, c.out[1].data}, {kDV, c.out[2].data}};
    if (a.hasBias)
      pack[kBias] = c.in[6].data;
  }
  if (cudnnSetStream(s.handle, stream) != CUDNN_STATUS_SUCCESS)
    fail("cudnnSetStream failed");
  fe::error_t e = a.graph->execute(s.handle, pack, s.workspace);
  if (!e.is_good())
    fail("cuDNN attention: ", e.get_message());
}

std::string cudnnDescription() {
  CudnnState &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!handle(s))
    return s.error;
  size_t v = cudnnGetVersion();
  return "cuDNN " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100) + " (frontend " + std::to_string(CUDNN_FRONTEND_MAJOR_VERSION) +
         "." + std::to_string(CUDNN_FRONTEND_MINOR_VERSION) + ")";
}

#else // built without the cuDNN frontend headers

class CudnnAttention {};
CudnnAttentionPtr buildCudnnAttention(const LoadedPlan &, int, int, std::string &why) {
  why = "the CUDA plugin was built without the cuDNN frontend (scripts/setup.sh installs it)";
  return nullptr;
}
void runCudnnAttention(const CudnnAttention &, KernelCall &, cudaStream_t) {
  fail("the CUDA plugin was built without the cuDNN frontend");
}
std::string cudnnDescription() { return "no cuDNN frontend at build time"; }

#endif

} // namespace ds::rt::cuda
