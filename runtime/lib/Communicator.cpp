// The single-rank communicator and the axis-aware collectives built on flat ones.
#include "ds/runtime/Communicator.h"

#include <cstdlib>
#include <cstring>
#include <vector>

namespace ds::rt {

ReduceOp parseReduceOp(const std::string &name) {
  if (name == "sum")
    return ReduceOp::Sum;
  if (name == "max")
    return ReduceOp::Max;
  if (name == "min")
    return ReduceOp::Min;
  if (name == "avg")
    return ReduceOp::Avg;
  fail("unknown reduction '", name, "'");
}

namespace {

class SingleRankCommunicator : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single"; }
  void allGather(const void *in, void *out, int64_t count, DType dtype) override {
    if (in != out)
      std::memmove(out, in, size_t(count) * dtypeSize(dtype));
  }
  void reduceScatter(const void *in, void *out, int64_t count, DType dtype,
                     ReduceOp) override {
    allGather(in, out, count, dtype);
  }
  void allReduce(const void *in, void *out, int64_t count, DType dtype, ReduceOp) override {
    allGather(in, out, count, dtype);
  }
  void broadcast(void *, int64_t, DType, int root) override {
    if (root != 0)
      fail("broadcast root ", root, " is not a rank of a world of 1");
  }
  void barrier() override {}
};

} // namespace

std::unique_ptr<Communicator> makeSingleRankCommunicator() {
  return std::make_unique<SingleRankCommunicator>();
}

bool launchedByMpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") ||
         std::getenv("PMIX_RANK");
}

// Packing: a tensor [outer, dim, inner] split along `dim` into W pieces of d = dim/W.
// Piece-major layout [W, outer, d, inner] is what the flat collectives exchange.
namespace {
void toPieceMajor(const char *src, char *dst, int64_t outer, int64_t dim, int64_t inner,
                  int64_t W, size_t es) {
  int64_t d = dim / W;
  size_t row = size_t(d * inner) * es;
  for (int64_t w = 0; w < W; ++w)
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + (size_t(w * outer + o)) * row,
                  src + (size_t(o * dim + w * d) * size_t(inner)) * es, row);
}
void fromPieceMajor(const char *src, char *dst, int64_t outer, int64_t dim, int64_t inner,
                    int64_t W, size_t es) {
  int64_t d = dim / W;
  size_t row = size_t(d * inner) * es;
  for (int64_t w = 0; w < W; ++w)
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + (size_t(o * dim + w * d) * size_t(inner)) * es,
                  src + (size_t(w * outer + o)) * row, row);
}
int64_t prod(const std::vector<int64_t> &s, size_t b, size_t e) {
  int64_t n = 1;
  for (size_t i = b; i < e; ++i)
    n *= s[i];
  return n;
}
} // namespace

void allGatherAxis(Communicator &comm, const Tensor &in, const Tensor &out, int64_t axis) {
  const auto &os = *out.shape;
  int64_t outer = prod(os, 0, size_t(axis));
  if (outer == 1 || comm.size() == 1) { // the gathered pieces are already contiguous
    comm.allGather(in.data, out.data, in.numel, in.dtype);
    return;
  }
  size_t es = dtypeSize(in.dtype);
  std::vector<char> tmp(size_t(out.numel) * es);
  comm.allGather(in.data, tmp.data(), in.numel, in.dtype);
  fromPieceMajor(tmp.data(), static_cast<char *>(out.data), outer, os[size_t(axis)],
                 prod(os, size_t(axis) + 1, os.size()), comm.size(), es);
}

void reduceScatterAxis(Communicator &comm, const Tensor &in, const Tensor &out, int64_t axis,
                       ReduceOp op) {
  const auto &is = *in.shape;
  int64_t outer = prod(is, 0, size_t(axis));
  if (outer == 1 || comm.size() == 1) {
    comm.reduceScatter(in.data, out.data, out.numel, in.dtype, op);
    return;
  }
  size_t es = dtypeSize(in.dtype);
  std::vector<char> tmp(size_t(in.numel) * es);
  toPieceMajor(static_cast<const char *>(in.data), tmp.data(), outer, is[size_t(axis)],
               prod(is, size_t(axis) + 1, is.size()), comm.size(), es);
  comm.reduceScatter(tmp.data(), out.data, out.numel, in.dtype, op);
}

} // namespace ds::rt
