// The row and column loops of the CPU layer_norm and layer_norm_grad kernels, built once per
// instruction set from LayerNormLoops.cpp (beside the elementwise loops); Normalization.cpp
// picks a table at run time and splits rows and column blocks across threads. Every
// instruction set computes the same bits. Included by code built for AVX-512/AVX2:
// declarations only, no inline library code.
#pragma once

#include <cstdint>

namespace ds::rt::cpu {

/// layer_norm over rows of `norm` contiguous elements: y = (x - mean) * invStd * scale +
/// bias, the statistics in f64 (two passes), scale and bias `norm` elements each.
template <typename T> struct LayerNormRows {
  const T *x, *scale, *bias; // bias may be null
  T *y, *mean, *invStd;      // mean and invStd, one per row, may be null
  int64_t norm;
  double eps;
};

/// layer_norm_grad over `outer` rows of `norm` elements. The accs, where not null, are
/// added to the results as the add kernel would (acc + result, each rounded to T) and may be
/// the results' bytes.
template <typename T> struct LayerNormGradRows {
  const T *g, *x, *scale;
  const T *dxAcc, *dscaleAcc, *dbiasAcc;
  T *dx, *dscale, *dbias;
  T *mean, *invStd; // `outer` each: written by gradRows, read by gradColumns
  int64_t outer, norm;
  double eps;
};

/// Columns per block of gradColumns: its f64 sums of a block live in registers.
constexpr int64_t kLayerNormColumnBlock = 64;

template <typename T> struct LayerNormLoopsOf {
  /// y (and mean, invStd) of rows [begin, end).
  void (*forward)(const LayerNormRows<T> &, int64_t begin, int64_t end);
  /// dx, mean and invStd of rows [begin, end).
  void (*gradRows)(const LayerNormGradRows<T> &, int64_t begin, int64_t end);
  /// dscale and dbias of column blocks [begin, end) (kLayerNormColumnBlock columns each),
  /// each column summed over the rows in row order; after gradRows of every row.
  void (*gradColumns)(const LayerNormGradRows<T> &, int64_t begin, int64_t end);
};

/// One instruction set's loops.
struct LayerNormLoops {
  const char *isa;
  LayerNormLoopsOf<float> f32;
  LayerNormLoopsOf<double> f64;
};

/// The loops of the instruction set cpuIsa() names.
const LayerNormLoops &layerNormLoops();

namespace scalar {
const LayerNormLoops &layerNormLoops();
}
#if defined(DS_HAVE_X86_OPTIMIZER_LOOPS)
namespace sse2 {
const LayerNormLoops &layerNormLoops();
}
namespace avx2 {
const LayerNormLoops &layerNormLoops();
}
namespace avx512 {
const LayerNormLoops &layerNormLoops();
}
#endif

} // namespace ds::rt::cpu
