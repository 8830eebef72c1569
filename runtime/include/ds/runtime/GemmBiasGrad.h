// The facts about gemm's bias gradient (db) and multi_add that the CUDA backend, the
// compiler's ds-fuse-bias-grad pass and the cost report share.
#pragma once

#include <cstdint>

namespace ds::rt {

/// Whether a CUDA gemm computes its db in cuBLASLt's bias-gradient epilogue (one launch) or
/// needs a reduction kernel of its own after the product (two launches). The runtime hands
/// the row-major problem to the column-major library as R^T = op(b)^T op(a)^T: b is the
/// library's A, a its B. db over op(b) (N long, the rows of R^T) is BGRADA, over op(a) (M
/// long, the columns of R^T) is BGRADB. The epilogue is used in the layout its known users
/// exercise (Apex's fused_dense wgrad: the reduced operand stored with the bias dim
/// contiguous and k as its rows, so the library sees B transposed for BGRADB, and A not
/// transposed for BGRADA) and for 16-bit data (the bias gradient is then written in the
/// output's dtype, which is db's) with alpha 1 (db is the operand's plain sum, whether or
/// not the library would scale it); anything else takes the fallback. `transA`/`transB`
/// are gemm's trans_a/trans_b, `reducesA` whether db sums over op(a).
inline bool gemmBiasGradInEpilogue(bool reducesA, bool transA, bool transB, bool sixteenBit,
                                   double alpha) {
  return sixteenBit && alpha == 1.0 && (reducesA ? transA : !transB);
}

/// The most accumulation pairs one multi_add takes: the CUDA kernel gets its pointer table
/// by value as kernel parameters (within the 4 KiB parameter limit), so one call is one
/// launch.
constexpr int64_t kMaxMultiAddTensors = 64;

} // namespace ds::rt
