// Name -> CPU implementation table.
#include "CpuCommon.h"

#include <map>

namespace ds::rt {

RunFn findCpuKernel(const std::string &name) {
  using namespace cpu;
  static const std::map<std::string, RunFn> table = [] {
    std::map<std::string, RunFn> m;
    for (const char *n : {"add", "sub", "mul", "div", "pow"})
      m[n] = runBinary;
    for (const char *n : {"equal", "less", "greater"})
      m[n] = runCompare;
    m["where"] = runWhere;
    for (const char *n : {"neg", "sqrt", "exp", "log", "tanh", "erf", "relu", "sigmoid",
                          "identity", "gelu"})
      m[n] = runUnary;
    m["cast"] = runCast;
    m["dropout"] = runDropout;
    m["matmul"] = runMatmul;
    m["gemm"] = runGemm;
    m["softmax"] = runSoftmax;
    m["log_softmax"] = runSoftmax;
    m["layer_norm"] = runLayerNorm;
    m["softmax_cross_entropy_loss"] = runLoss;
    m["nll_loss"] = runLoss;
    for (const char *n : {"reduce_sum", "reduce_mean", "reduce_max"})
      m[n] = runReduce;
    for (const char *n : {"reshape", "squeeze", "unsqueeze"})
      m[n] = runReshape;
    m["transpose"] = runTranspose;
    m["gather"] = runGather;
    m["slice"] = runSlice;
    m["split"] = runSplit;
    m["concat"] = runConcat;
    m["expand"] = runExpand;
    m["trilu"] = runTrilu;
    m["constant"] = runConstant;
    m["copy"] = runCopy;
    m["fill"] = runFill;
    m["assert_close"] = runAssertClose;
    for (const char *n : {"all_gather", "reduce_scatter", "all_reduce", "broadcast", "barrier"})
      m[n] = runCollective;
    m["softmax_grad"] = runSoftmaxGrad;
    m["log_softmax_grad"] = runSoftmaxGrad;
    m["gelu_grad"] = runGeluGrad;
    m["layer_norm_grad"] = runLayerNormGrad;
    m["gather_grad"] = runGatherGrad;
    m["slice_grad"] = runSliceGrad;
    m["softmax_cross_entropy_loss_grad"] = runLossGrad;
    m["nll_loss_grad"] = runLossGrad;
    m["adam_update"] = runAdamUpdate;
    m["lamb_update"] = runLambUpdate;
    m["sgd_update"] = runSgdUpdate;
    m["lr_schedule"] = runLrSchedule;
    m["all_finite"] = runAllFinite;
    m["loss_scale_update"] = runLossScaleUpdate;
    return m;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

} // namespace ds::rt
