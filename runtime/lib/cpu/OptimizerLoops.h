// The element loops of the CPU optimizer kernels (adam_update, sgd_update, lamb_update),
// built once per instruction set from OptimizerLoops.cpp; Optimizer.cpp picks a table at
// run time. Included by code built for AVX-512/AVX2: declarations only, no inline library
// code.
#pragma once

#include <cstdint>

namespace ds::rt::cpu {

/// The element type shared by every operand of one call: f32, f16 and bf16 update in f32
/// arithmetic (16-bit values converted on the fly, RNE), f64 in f64.
enum class ElemKind : uint8_t { F32, F16, BF16, F64 };

/// Operands of one call; `m` is the momentum buffer for SGD, `v`/`nv` are unused there.
/// Each output may be exactly an input (every element is read before it is written).
struct OptimizerOperands {
  const void *p, *g, *m, *v;
  void *np, *nm, *nv;
};

/// The kernels' hyper-parameters in double, as the kernels compute them (bias corrections
/// bc1/bc2 are 1 without bias correction). The loops round them to the arithmetic type
/// exactly as the scalar kernels always did.
struct AdamCoeffs {
  double b1, b2, eps, wd, lr, bc1, bc2;
};
struct SgdCoeffs {
  double mu, damp, wd, lr;
  bool first, nesterov;
};

/// One parameter of a multi_adam_update call: f32 master (or f32 parameter) and moments,
/// the gradient in the group's kind, the results, the working copy of the new parameter in
/// the group's kind (null for f32 groups) and the zeroed gradient (null when not zeroed).
/// np/nm/nv may be p/m/v, gz may be g (each element is read before it is written).
struct AdamGroupOperands {
  const float *p, *m, *v;
  const void *g;
  float *np, *nm, *nv;
  void *w, *gz;
};

/// What a multi_adam_update call does to every element: `apply` false is a skipped step
/// (np/nm/nv are left alone: the caller copies them when not in place; w and gz are still
/// written); the gradient is multiplied by scales[0], scales[1], ... in order, each product
/// rounded to f32, as the mul kernels it replaces did.
struct AdamGroupStep {
  bool adamW, apply;
  const float *scales;
  int nScales;
};

/// One instruction set's loops; each runs over elements [begin, end) on the calling
/// thread.
struct OptimizerLoops {
  const char *isa;
  /// AdamW in torch.optim.AdamW's form (Optimizer.cpp, runAdamUpdate).
  void (*adamW)(ElemKind, const OptimizerOperands &, const AdamCoeffs &, int64_t begin,
                int64_t end);
  /// Adam mode, FusedAdam's formula.
  void (*adam)(ElemKind, const OptimizerOperands &, const AdamCoeffs &, int64_t, int64_t);
  void (*sgd)(ElemKind, const OptimizerOperands &, const SgdCoeffs &, int64_t, int64_t);
  /// multi_adam_update on elements [begin, end) of one parameter; kind F32, F16 or BF16
  /// (the gradient's and the working copy's storage), the update adamW's or adam's above.
  void (*adamGroup)(ElemKind, const AdamGroupStep &, const AdamGroupOperands &,
                    const AdamCoeffs &, int64_t begin, int64_t end);
  /// Lamb pass 1: nm, nv from g, m, v. For f16/bf16 calls nm and nv are f32 scratch
  /// arrays (passes 2 and 3 need the unrounded moments); f32 for F32, f64 for F64.
  void (*lambMoments)(ElemKind, const OptimizerOperands &, const AdamCoeffs &, int64_t,
                      int64_t);
  /// Lamb pass 2: adds |p|^2 and |u|^2 (u = nm/(sqrt(nv)+eps) + wd*p; nm, nv f32 for
  /// every float kind, f64 for F64) to pNorm2/uNorm2 in double, element after element in
  /// index order (the sums are order-dependent: run over the whole tensor on one thread).
  void (*lambNorms)(ElemKind, const OptimizerOperands &, const AdamCoeffs &, int64_t,
                    int64_t, double &pNorm2, double &uNorm2);
  /// Lamb pass 3: np = p - scale*u.
  void (*lambApply)(ElemKind, const OptimizerOperands &, const AdamCoeffs &, double scale,
                    int64_t, int64_t);
};

namespace scalar {
const OptimizerLoops &optimizerLoops();
}
#if defined(DS_HAVE_X86_OPTIMIZER_LOOPS)
namespace sse2 {
const OptimizerLoops &optimizerLoops();
}
namespace avx2 {
const OptimizerLoops &optimizerLoops();
}
namespace avx512 {
const OptimizerLoops &optimizerLoops();
}
#endif

} // namespace ds::rt::cpu
