// The table of per-kernel cost formulas (FLOPs, bytes read and written) and the GPUs the
// cost report's roofline knows.
#include "ds/Target/KernelCost.h"
#include "ds/runtime/ReduceSplit.h"

#include <algorithm>
#include <map>
#include <string>

using namespace mlir::ds::cost;

double Operand::numElements() const {
  double n = 1;
  for (int64_t d : shape)
    n *= double(d);
  return n;
}

namespace {
using Ops = std::vector<Operand>;
using Formula = KernelCost (*)(const Ops &in, const Ops &out);

double sumBytes(const Ops &ops) {
  double b = 0;
  for (const Operand &o : ops)
    b += o.bytes();
  return b;
}
double dim(const Operand &o, int fromEnd) {
  int64_t rank = int64_t(o.shape.size());
  return rank >= fromEnd ? double(o.shape[rank - fromEnd]) : 1.0;
}
/// Reads every input once and writes every output once.
KernelCost streaming(const Ops &in, const Ops &out, double flops, Unit unit) {
  return {flops, sumBytes(in), sumBytes(out), unit};
}
double firstOutputElements(const Ops &out) {
  return out.empty() ? 0 : out[0].numElements();
}
double firstInputElements(const Ops &in) { return in.empty() ? 0 : in[0].numElements(); }

/// Elementwise and normalisation kernels: `perElement` FLOPs per element of the first
/// output (`PerOut`) or the first input (`PerIn`).
template <int perElement> KernelCost perOut(const Ops &in, const Ops &out) {
  return streaming(in, out, perElement * firstOutputElements(out),
                   perElement ? Unit::Vector : Unit::None);
}
template <int perElement> KernelCost perIn(const Ops &in, const Ops &out) {
  return streaming(in, out, perElement * firstInputElements(in),
                   perElement ? Unit::Vector : Unit::None);
}

/// Multi-tensor kernels: `perElement` FLOPs per element of all inputs together.
template <int perElement> KernelCost perAllIn(const Ops &in, const Ops &out) {
  double n = 0;
  for (const Operand &o : in)
    n += o.numElements();
  return streaming(in, out, perElement * n, Unit::Vector);
}

/// Multi-tensor kernels: `perElement` FLOPs per element of all outputs together.
template <int perElement> KernelCost perAllOut(const Ops &in, const Ops &out) {
  double n = 0;
  for (const Operand &o : out)
    n += o.numElements();
  return streaming(in, out, perElement * n, Unit::Vector);
}

/// softmax_cross_entropy_loss_with_grad (g, scores, labels, weights?) -> (loss, dscores): the
/// loss's and the gradient's FLOPs per element of the scores (5 + 4), every operand once.
KernelCost lossWithGrad(const Ops &in, const Ops &out) {
  return streaming(in, out, 9 * (in.size() > 1 ? in[1].numElements() : 0), Unit::Vector);
}

/// numpy matmul a [..., M, K] x b [..., K, N]: 2 M N K per batch element of r.
KernelCost matmul(const Ops &in, const Ops &out) {
  if (in.size() < 2 || out.empty())
    return streaming(in, out, 0, Unit::None);
  return streaming(in, out, 2 * out[0].numElements() * dim(in[0], 1), Unit::TensorCore);
}
/// gemm r [M, N] = op(a) op(b) + c: K = numel(a) / M whichever way a is transposed.
KernelCost gemm(const Ops &in, const Ops &out) {
  if (in.size() < 2 || out.empty() || out[0].shape.empty() || out[0].shape[0] == 0)
    return streaming(in, out, 0, Unit::None);
  double k = in[0].numElements() / double(out[0].shape[0]);
  return streaming(in, out, 2 * out[0].numElements() * k, Unit::TensorCore);
}
/// Fused attention q [..., S, D], k [..., T, D], v [..., T, Dv]: q kT and p v, 2 S T (D +
/// Dv) per head; the S x T scores never reach memory. `lse` [..., H, S] tells the layout:
/// in layout bshd q is [B, S, H, D] and k [B, T, Hkv, D] (the heads after the sequence;
/// when S == H both readings give the same query dims, and k is read as bhsd).
void attentionDims(const Ops &in, const Operand *lse, double &heads, double &s, double &t,
                   double &d, double &dv) {
  const Operand &q = in[0];
  bool bshd = lse && q.shape.size() == 4 && lse->shape.size() == 3 &&
              lse->shape[0] == q.shape[0] && lse->shape[1] == q.shape[2] &&
              lse->shape[2] == q.shape[1] && q.shape[1] != q.shape[2];
  s = bshd ? double(q.shape[1]) : dim(q, 2);
  d = dim(q, 1);
  heads = (s * d) > 0 ? q.numElements() / (s * d) : 0;
  t = bshd ? double(in[1].shape[1]) : dim(in[1], 2);
  dv = dim(in[2], 1);
}
KernelCost attention(const Ops &in, const Ops &out) {
  if (in.size() < 3)
    return streaming(in, out, 0, Unit::None);
  double h, s, t, d, dv;
  attentionDims(in, out.size() > 1 ? &out[1] : nullptr, h, s, t, d, dv);
  return streaming(in, out, 2 * h * s * t * (d + dv), Unit::TensorCore);
}
/// Backward of fused attention (inputs g, q, k, v, ...): recomputes q kT, then dv = pT g,
/// dp = g vT, dq = ds k, dk = dsT q: 2 S T (3 D + 2 Dv) per head.
KernelCost attentionGrad(const Ops &in, const Ops &out) {
  if (in.size() < 4)
    return streaming(in, out, 0, Unit::None);
  Ops qkv(in.begin() + 1, in.begin() + 4);
  double h, s, t, d, dv;
  attentionDims(qkv, in.size() > 5 ? &in[5] : nullptr, h, s, t, d, dv);
  return streaming(in, out, 2 * h * s * t * (3 * d + 2 * dv), Unit::TensorCore);
}
/// packed_attention: qkv [B, S, 3, H, D] holds q, k, v; as attention over B H heads of
/// S x S scores with D = Dv (reads qkv once: the parts' bytes).
KernelCost packedAttention(const Ops &in, const Ops &out) {
  if (in.empty() || in[0].shape.size() != 5)
    return streaming(in, out, 0, Unit::None);
  double heads = dim(in[0], 5) * dim(in[0], 2), s = dim(in[0], 4), d = dim(in[0], 1);
  return streaming(in, out, 2 * heads * s * s * (d + d), Unit::TensorCore);
}
/// packed_attention_grad (g, qkv, out, lse, ...): attention_grad's 2 S T (3 D + 2 Dv).
KernelCost packedAttentionGrad(const Ops &in, const Ops &out) {
  if (in.size() < 2 || in[1].shape.size() != 5)
    return streaming(in, out, 0, Unit::None);
  double heads = dim(in[1], 5) * dim(in[1], 2), s = dim(in[1], 4), d = dim(in[1], 1);
  return streaming(in, out, 2 * heads * s * s * (3 * d + 2 * d), Unit::TensorCore);
}
/// conv: 2 x numel(y) x (C/group x prod K) = numel(w) / M multiply-adds per output.
KernelCost conv(const Ops &in, const Ops &out) {
  if (in.size() < 2 || out.empty() || in[1].shape.empty() || in[1].shape[0] == 0)
    return streaming(in, out, 0, Unit::None);
  return streaming(
      in, out, 2 * out[0].numElements() * in[1].numElements() / double(in[1].shape[0]),
      Unit::TensorCore);
}
/// conv_grad_input (g, w): as many multiply-adds as the forward, numel(g) x numel(w) / M.
KernelCost convGradInput(const Ops &in, const Ops &out) {
  if (in.size() < 2 || in[1].shape.empty() || in[1].shape[0] == 0)
    return streaming(in, out, 0, Unit::None);
  return streaming(in, out,
                   2 * in[0].numElements() * in[1].numElements() / double(in[1].shape[0]),
                   Unit::TensorCore);
}
/// conv_grad_filter (g, x) -> dw: numel(g) x numel(dw) / M.
KernelCost convGradFilter(const Ops &in, const Ops &out) {
  if (in.empty() || out.empty() || out[0].shape.empty() || out[0].shape[0] == 0)
    return streaming(in, out, 0, Unit::None);
  return streaming(
      in, out, 2 * in[0].numElements() * out[0].numElements() / double(out[0].shape[0]),
      Unit::TensorCore);
}
/// gather (data, indices) -> r: reads only the rows it gathers.
KernelCost gather(const Ops &in, const Ops &out) {
  double read = sumBytes(out) + (in.size() > 1 ? in[1].bytes() : 0);
  return {0, read, sumBytes(out), Unit::None};
}
/// gather_grad (g, indices) -> dd: zeroes dd, then adds every g row into it.
KernelCost gatherGrad(const Ops &in, const Ops &out) {
  return {firstInputElements(in), sumBytes(in),
          sumBytes(out) + (in.empty() ? 0 : in[0].bytes()), Unit::Vector};
}
/// slice reads only what it keeps.
KernelCost slice(const Ops &in, const Ops &out) {
  return {0, sumBytes(out), sumBytes(out), Unit::None};
}
/// Writers with no input read (constant, fill).
KernelCost writeOnly(const Ops &, const Ops &out) {
  return {0, 0, sumBytes(out), Unit::None};
}
/// copy moves the smaller of src and dst (a copy with `count` moves a piece).
KernelCost copy(const Ops &in, const Ops &out) {
  if (in.empty() || out.empty())
    return streaming(in, out, 0, Unit::None);
  double b = std::min(in[0].bytes(), out[0].bytes());
  return {0, b, b, Unit::None};
}

const std::map<std::string, Formula, std::less<>> &formulas() {
  static const std::map<std::string, Formula, std::less<>> table = {
      // Elementwise: one FLOP per output element (transcendentals on the SFU count one).
      {"add", perOut<1>},
      {"sub", perOut<1>},
      {"mul", perOut<1>},
      {"div", perOut<1>},
      {"pow", perOut<1>},
      {"max", perOut<1>},
      {"min", perOut<1>},
      {"equal", perOut<1>},
      {"less", perOut<1>},
      {"greater", perOut<1>},
      {"where", perOut<1>},
      {"neg", perOut<1>},
      {"relu", perOut<1>},
      {"sqrt", perOut<1>},
      {"exp", perOut<1>},
      {"log", perOut<1>},
      {"tanh", perOut<1>},
      {"sin", perOut<1>},
      {"cos", perOut<1>},
      {"abs", perOut<1>},
      {"reciprocal", perOut<1>},
      {"erf", perOut<1>},
      {"sigmoid", perOut<1>},
      {"gelu", perOut<8>},
      {"gelu_grad", perOut<12>},
      {"dropout", perOut<4>},
      {"cast", perOut<0>},
      // One FLOP per output element and instruction: the cost report multiplies by the
      // program's length; bytes are the inputs once and the output once.
      {"fused_elementwise", perOut<1>},
      // Data movement: no FLOPs, every operand once.
      {"identity", perOut<0>},
      {"reshape", perOut<0>},
      {"squeeze", perOut<0>},
      {"unsqueeze", perOut<0>},
      {"transpose", perOut<0>},
      {"expand", perOut<0>},
      {"trilu", perOut<0>},
      {"split", perOut<0>},
      {"concat", perOut<0>},
      {"copy", copy},
      {"slice", slice},
      {"slice_grad", perOut<0>},
      {"gather", gather},
      {"gather_grad", gatherGrad},
      {"constant", writeOnly},
      {"fill", writeOnly},
      {"swap_in", perOut<0>},
      {"swap_out", perOut<0>},
      // Tensor-core kernels.
      {"matmul", matmul},
      {"gemm", gemm},
      {"attention", attention},
      {"attention_grad", attentionGrad},
      {"packed_attention", packedAttention},
      {"packed_attention_grad", packedAttentionGrad},
      {"conv", conv},
      {"conv_grad_input", convGradInput},
      {"conv_grad_filter", convGradFilter},
      // Reductions and normalisations: FLOPs per element of the (first) input.
      {"reduce_sum", perIn<1>},
      {"reduce_mean", perIn<1>},
      {"reduce_max", perIn<1>},
      {"softmax", perIn<5>},
      {"log_softmax", perIn<5>},
      {"softmax_grad", perIn<4>},
      {"log_softmax_grad", perIn<4>},
      {"layer_norm", perIn<8>},
      {"layer_norm_grad", perIn<12>},
      {"batch_norm", perIn<8>},
      {"batch_norm_grad", perIn<12>},
      {"softmax_cross_entropy_loss", perIn<5>},
      {"softmax_cross_entropy_loss_grad", perOut<4>},
      {"softmax_cross_entropy_loss_with_grad", lossWithGrad},
      {"nll_loss", perIn<1>},
      {"nll_loss_grad", perOut<1>},
      {"max_pool", perIn<1>},
      {"max_pool_grad", perIn<1>},
      {"avg_pool", perIn<1>},
      {"avg_pool_grad", perIn<1>},
      {"all_finite", perIn<1>},
      // Optimizer steps: FLOPs per parameter element.
      {"adam_update", perIn<12>},
      {"lamb_update", perIn<16>},
      {"sgd_update", perIn<4>},
      // 12 per parameter element over its 4 inputs (param, grad, moments; scalars aside).
      {"multi_adam_update", perAllIn<3>},
      {"grad_norm_sq", perAllIn<2>},
      // One add per result element (inputs: acc and addend pairs).
      {"multi_add", perAllOut<1>},
      {"lr_schedule", perOut<0>},
      {"loss_scale_update", perOut<0>},
      {"assert_close", perIn<0>},
      // Collectives: bytes of their operands on this rank, no FLOPs.
      {"all_gather", perOut<0>},
      {"reduce_scatter", perOut<0>},
      {"all_reduce", perOut<0>},
      {"broadcast", perOut<0>},
      {"barrier", perOut<0>},
  };
  return table;
}
} // namespace

KernelCost mlir::ds::cost::costOf(std::string_view kernel, const Ops &inputs,
                                  const Ops &outputs) {
  auto it = formulas().find(kernel);
  KernelCost c = it == formulas().end() ? streaming(inputs, outputs, 0, Unit::None)
                                        : it->second(inputs, outputs);
  c.launches = cudaLaunches(kernel, inputs, outputs);
  return c;
}

namespace {
int64_t nonEmpty(const Ops &ops) {
  return int64_t(std::count_if(ops.begin(), ops.end(),
                               [](const Operand &o) { return o.numElements() > 0; }));
}
/// SMs of the GPUs of devices() (H100 and H200 SXM): the CUDA reductions size their grids
/// by it.
constexpr int64_t kSms = 132;

/// reduce_* (runtime/lib/cuda/Reduction.cu, runReduce): a second (final) launch when the
/// reduced extent is split over several blocks or threads per output. From the shapes: the
/// innermost non-1 dim of x is reduced unless the result's last dim has its extent.
int64_t reduceLaunches(const Ops &in, const Ops &out) {
  if (in.empty() || out.empty() || in[0].numElements() == 0 || out[0].numElements() == 0)
    return 0;
  double outCount = out[0].numElements(), redCount = in[0].numElements() / outCount;
  if (redCount <= 1)
    return 1; // a copy
  int64_t inner = 1;
  for (auto it = in[0].shape.rbegin(); it != in[0].shape.rend(); ++it)
    if (*it != 1) {
      inner = *it;
      break;
    }
  bool innerKept = !out[0].shape.empty() && out[0].shape.back() == inner && inner != 1;
  return ds::rt::reduceSplit(int64_t(outCount), int64_t(redCount), !innerKept, int64_t(kSms))
                     .parts > 1
             ? 2
             : 1;
}
} // namespace

int64_t mlir::ds::cost::cudaLaunches(std::string_view kernel, const Ops &in, const Ops &out) {
  // Up to kPiecewiseMax (2) non-empty pieces, one copy each; more, a descriptor upload and
  // one launch over every piece (DataMovement.cu runSplit/runConcat).
  if (kernel == "split" || kernel == "concat") {
    int64_t pieces = nonEmpty(kernel == "split" ? out : in);
    return pieces <= 2 ? pieces : 2;
  }
  if (kernel == "reduce_sum" || kernel == "reduce_mean" || kernel == "reduce_max")
    return reduceLaunches(in, out);
  // Descriptor upload, out = 1, one launch over every input (Optimizer.cu runAllFinite).
  if (kernel == "all_finite")
    return in.empty() ? 1 : 3;
  // Descriptor upload, per-block partial sums, the final sum (runGradNormSq).
  if (kernel == "grad_norm_sq")
    return 3;
  // Descriptor upload, one launch (launchMultiAdam).
  if (kernel == "multi_adam_update")
    return 2;
  // One launch, its pointer table passed by value (runMultiAdd).
  if (kernel == "multi_add")
    return 1;
  // A gemm is one library call: a bias row in cuBLASLt's BIAS epilogue, an accumulated c (of
  // the result's shape) read in place; any other c is first broadcast into the result
  // (Linalg.cu runGemm). Its bias gradient's fallback reduction is added by the cost report,
  // which sees the attributes (GemmBiasGrad.h).
  if (kernel == "gemm") {
    if (in.size() < 3 || out.empty())
      return 1;
    const std::vector<int64_t> &c = in[2].shape, &r = out[0].shape;
    bool row = !c.empty() && !r.empty() && c.back() == r.back() &&
               std::all_of(c.begin(), c.end() - 1, [](int64_t d) { return d == 1; });
    return row || c == r ? 1 : 2;
  }
  // Norms, finalize, apply (launchLamb).
  if (kernel == "lamb_update")
    return 3;
  // dx and the column partials by row chunks, then the partials' sums (Normalization.cu).
  if (kernel == "layer_norm_grad")
    return 2;
  // Per-position losses, then the reduction to a scalar (lossFinalKernel); log_softmax
  // first when the log-probabilities are an output.
  if (kernel == "softmax_cross_entropy_loss" || kernel == "nll_loss") {
    bool scalar = !out.empty() && out[0].shape.empty();
    return 1 + (scalar ? 1 : 0) + (out.size() > 1 ? 1 : 0);
  }
  // The weight sum of a mean (lossWeightSumKernel; a scalar g is counted as a mean), then
  // the gradient.
  if (kernel == "softmax_cross_entropy_loss_grad" || kernel == "nll_loss_grad")
    return !in.empty() && in[0].shape.empty() ? 2 : 1;
  // The weight sum of a mean (a scalar g counted as a mean), the loss terms and the gradient
  // in one launch, then the loss's reduction to a scalar (Loss.cu lossWithGradTyped).
  if (kernel == "softmax_cross_entropy_loss_with_grad") {
    bool scalarG = !in.empty() && in[0].shape.empty();
    bool scalarLoss = !out.empty() && out[0].shape.empty();
    return (scalarG ? 1 : 0) + 1 + (scalarLoss ? 1 : 0);
  }
  // dq by query rows, then dk/dv by key rows (Attention.cu; cuDNN's backward graph is
  // several kernels as well).
  if (kernel == "attention_grad" || kernel == "packed_attention_grad")
    return 2;
  // Zero the result, sort keys (cub's radix sort: counted as 3 launches), the keys, the
  // sums (DataMovement.cu runGatherGrad).
  if (kernel == "gather_grad")
    return 6;
  return 1;
}

bool mlir::ds::cost::hasFormula(std::string_view kernel) {
  return formulas().count(kernel) != 0;
}

const std::vector<Device> &mlir::ds::cost::devices() {
  // Dense peaks from NVIDIA's H100/H200 SXM data sheets; 4 us per launch (launch latency
  // plus the gap between dependent kernels on one stream, as profiles of small kernels
  // show).
  static const std::vector<Device> table = {
      {"h100", 989e12, 494.5e12, 67e12, 3.35e12, 4e-6},
      {"h200", 989e12, 494.5e12, 67e12, 4.8e12, 4e-6},
  };
  return table;
}

const Device *mlir::ds::cost::findDevice(std::string_view name) {
  for (const Device &d : devices())
    if (d.name == name)
      return &d;
  return nullptr;
}

double mlir::ds::cost::rooflineSeconds(const KernelCost &cost, bool sixteenBit,
                                       const Device &device) {
  double compute = 0;
  if (cost.unit == Unit::TensorCore)
    compute = cost.flops / (sixteenBit ? device.tensorFlops16 : device.tensorFlops32);
  else if (cost.unit == Unit::Vector)
    compute = cost.flops / device.vectorFlops;
  return std::max(compute, cost.bytes() / device.bytesPerSecond);
}
