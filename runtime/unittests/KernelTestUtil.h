// Host tensors and a direct kernel caller for the CPU kernel tests.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/CpuIsa.h"
#include "ds/runtime/Kernels.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace ds::rt::test {

/// Restores the process's instruction set (setCpuIsa) when a test ends, pass or fail.
struct IsaScope {
  std::string saved = cpuIsa();
  ~IsaScope() { setCpuIsa(saved); }
};

struct HostTensor {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<char> bytes;
  TensorType type;

  HostTensor(DType dt, std::vector<int64_t> s) : dtype(dt), shape(std::move(s)) {
    type.dtype = dt;
    type.shape = shape;
    type.numel = checkedNumel(shape);
    type.bytes = uint64_t(type.numel) * dtypeSize(dt);
    bytes.assign(size_t(type.bytes) + 1, 0);
  }
  int64_t numel() const { return type.numel; }
  template <typename T> T *as() { return reinterpret_cast<T *>(bytes.data()); }
  Tensor tensor() { return Tensor{dtype, &shape, type.numel, bytes.data()}; }
  /// Element i as double, whatever the dtype.
  double get(int64_t i) const {
    const char *p = bytes.data();
    switch (dtype) {
    case ds::plan::F32: return reinterpret_cast<const float *>(p)[i];
    case ds::plan::F64: return reinterpret_cast<const double *>(p)[i];
    case ds::plan::F16: return halfToFloat(reinterpret_cast<const uint16_t *>(p)[i]);
    case ds::plan::BF16: return bf16ToFloat(reinterpret_cast<const uint16_t *>(p)[i]);
    case ds::plan::I64: return double(reinterpret_cast<const int64_t *>(p)[i]);
    case ds::plan::I32: return reinterpret_cast<const int32_t *>(p)[i];
    default: return reinterpret_cast<const uint8_t *>(p)[i];
    }
  }
  void set(int64_t i, double v) {
    char *p = bytes.data();
    switch (dtype) {
    case ds::plan::F32: reinterpret_cast<float *>(p)[i] = float(v); break;
    case ds::plan::F64: reinterpret_cast<double *>(p)[i] = v; break;
    case ds::plan::F16: reinterpret_cast<uint16_t *>(p)[i] = floatToHalf(float(v)); break;
    case ds::plan::BF16: reinterpret_cast<uint16_t *>(p)[i] = floatToBf16(float(v)); break;
    case ds::plan::I64: reinterpret_cast<int64_t *>(p)[i] = int64_t(v); break;
    case ds::plan::I32: reinterpret_cast<int32_t *>(p)[i] = int32_t(v); break;
    default: reinterpret_cast<uint8_t *>(p)[i] = v != 0; break;
    }
  }
};

/// Random values: floats in [lo, hi), integers in [lo, hi) (floor), bools 0/1.
inline HostTensor randomTensor(DType dt, std::vector<int64_t> shape, std::mt19937 &rng,
                               double lo = -2, double hi = 2) {
  HostTensor t(dt, std::move(shape));
  std::uniform_real_distribution<double> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = u(rng);
    t.set(i, isFloat(dt) ? v : dt == ds::plan::I1 ? double(v > (lo + hi) / 2) : std::floor(v));
  }
  return t;
}

inline HostTensor fromValues(DType dt, std::vector<int64_t> shape, const std::vector<double> &v) {
  HostTensor t(dt, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i)
    t.set(int64_t(i), v[i]);
  return t;
}

/// An instruction with attributes.
struct Ins {
  Instruction ins;
  explicit Ins(const std::string &kernel) { ins.set_kernel(kernel); }
  Ins &i(const std::string &k, int64_t v) {
    (*ins.mutable_attrs())[k].set_i(v);
    return *this;
  }
  Ins &f(const std::string &k, double v) {
    (*ins.mutable_attrs())[k].set_f(v);
    return *this;
  }
  Ins &s(const std::string &k, const std::string &v) {
    (*ins.mutable_attrs())[k].set_s(v);
    return *this;
  }
  Ins &ints(const std::string &k, std::vector<int64_t> v) {
    auto *l = (*ins.mutable_attrs())[k].mutable_ints();
    for (auto x : v)
      l->add_values(x);
    return *this;
  }
};

/// Runs the load-time check; returns its error message ("" when accepted).
inline std::string checkKernel(const Ins &k, std::vector<HostTensor *> in,
                               std::vector<HostTensor *> out, int world = 1) {
  const KernelSignature *sig = findKernelSignature(k.ins.kernel());
  if (!sig)
    return "unknown kernel";
  CheckContext c{k.ins, {}, {}, world};
  for (auto *t : in)
    c.in.push_back(&t->type);
  for (auto *t : out)
    c.out.push_back(&t->type);
  try {
    checkInstruction(*sig, c);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

/// Checks (must pass) and runs the CPU kernel.
inline void runKernel(const Ins &k, std::vector<HostTensor *> in, std::vector<HostTensor *> out,
                      Communicator *comm = nullptr) {
  int world = comm ? comm->size() : 1;
  std::string err = checkKernel(k, in, out, world);
  ASSERT_EQ(err, "") << "check of " << k.ins.kernel() << " failed";
  RunFn fn = findCpuKernel(k.ins.kernel());
  ASSERT_NE(fn, nullptr);
  ExecContext ctx;
  ctx.comm = comm;
  ctx.rank = comm ? comm->rank() : 0;
  ctx.worldSize = world;
  KernelCall call{k.ins, {}, {}, ctx, decodeKernelAttrs(k.ins)};
  for (auto *t : in)
    call.in.push_back(t->tensor());
  for (auto *t : out)
    call.out.push_back(t->tensor());
  fn(call);
}

/// Multi-index helpers for reference loops.
inline std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t> &shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
  return idx;
}
inline int64_t ravel(const std::vector<int64_t> &idx, const std::vector<int64_t> &shape) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    off = off * shape[d] + idx[d];
  return off;
}
/// Offset into `in` of result index `idx` under broadcasting.
inline int64_t bcastOffset(const std::vector<int64_t> &idx, const std::vector<int64_t> &in) {
  size_t lead = idx.size() - in.size();
  int64_t off = 0;
  for (size_t d = 0; d < in.size(); ++d)
    off = off * in[d] + (in[d] == 1 ? 0 : idx[lead + d]);
  return off;
}

inline void expectNear(const HostTensor &got, const std::vector<double> &want, double rtol,
                       double atol, const std::string &what) {
  ASSERT_EQ(got.numel(), int64_t(want.size())) << what;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.get(i), w = want[size_t(i)];
    if (std::isnan(w) && std::isnan(g))
      continue;
    ASSERT_LE(std::fabs(g - w), atol + rtol * std::fabs(w))
        << what << ": element " << i << " got " << g << " want " << w;
  }
}

} // namespace ds::rt::test
