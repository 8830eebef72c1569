// Where the attention kernels read a row of each operand, in both backends (the CPU's and
// the CUDA kernels take the same strides: one fact, one place).
#ifndef DS_RUNTIME_LIB_ATTENTIONROWS_H
#define DS_RUNTIME_LIB_ATTENTIONROWS_H

#include "ds/runtime/Kernels.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef __CUDACC__
#define DS_ATTENTION_ROWS_HD __host__ __device__
#else
#define DS_ATTENTION_ROWS_HD
#endif

namespace ds::rt {
/// Where the rows of one operand lie: entry b (a flat batch index over [batch..., heads])
/// row i starts at element at(b, i); a row's elements are contiguous. Layout bhsd is
/// [batch..., H, L, W]; bshd is [B, L, H, W] (rows of one head H * W apart).
struct AttentionRows {
  int64_t heads = 1, batchStride = 0, headStride = 0, rowStride = 0;
  DS_ATTENTION_ROWS_HD int64_t at(int64_t b, int64_t i) const {
    return (b / heads) * batchStride + (b % heads) * headStride + i * rowStride;
  }
};

inline AttentionRows attentionRowsOf(const Tensor &x, AttentionLayout layout) {
  AttentionRows w;
  int64_t r = x.rank();
  if (layout == AttentionLayout::Bshd) {
    int64_t l = x.dim(1), h = x.dim(2), d = x.dim(3);
    w.heads = std::max<int64_t>(h, 1), w.batchStride = l * h * d, w.headStride = d;
    w.rowStride = h * d;
    return w;
  }
  int64_t h = x.dim(r - 3), l = x.dim(r - 2), d = x.dim(r - 1);
  w.heads = std::max<int64_t>(h, 1), w.batchStride = h * l * d, w.headStride = l * d;
  w.rowStride = d;
  return w;
}

/// packed_attention's qkv [B, L, 3, H, W] (rank 5): q, k and v are parts 0, 1 and 2 of
/// each row of 3 H W elements, part p starting packedPartOffset(shape, p) elements into
/// the buffer; each part's rows are those of layout bshd with rows 3 H W apart (dqkv
/// alike).
DS_ATTENTION_ROWS_HD inline AttentionRows packedAttentionRows(int64_t l, int64_t h,
                                                              int64_t w) {
  AttentionRows r;
  r.heads = h > 1 ? h : 1, r.batchStride = l * 3 * h * w, r.headStride = w;
  r.rowStride = 3 * h * w;
  return r;
}
inline AttentionRows packedAttentionRowsOf(const std::vector<int64_t> &qkv) {
  return packedAttentionRows(qkv[1], qkv[3], qkv[4]);
}
inline int64_t packedPartOffset(const std::vector<int64_t> &qkv, int part) {
  return part * qkv[3] * qkv[4];
}
} // namespace ds::rt

#undef DS_ATTENTION_ROWS_HD
#endif // DS_RUNTIME_LIB_ATTENTIONROWS_H
