// The cases of the CUDA-vs-CPU differential test (CudaKernelTest.cpp): one-instruction plans
// described by their kernel, attributes and operand specs; the table is in CudaKernelCases.cpp.
#ifndef DS_RUNTIME_UNITTESTS_CUDAKERNELCASES_H
#define DS_RUNTIME_UNITTESTS_CUDAKERNELCASES_H

#include "KernelTestUtil.h"

#include <limits>
#include <ostream>
#include <string>
#include <vector>

namespace ds::rt::test::cuda_cases {
using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::F64;
using ds::plan::I1;
using ds::plan::I32;
using ds::plan::I64;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();

/// One operand: random values in [lo, hi) (floored when `integral`), or explicit `values`.
struct Spec {
  DType dt;
  std::vector<int64_t> shape;
  double lo = -2, hi = 2;
  bool integral = false;
  std::vector<double> values;
  int alias = -1; // outputs only: the input whose bytes this output shares (in place)
};

inline Spec R(DType dt, std::vector<int64_t> shape, double lo = -2, double hi = 2) {
  return Spec{dt, std::move(shape), lo, hi, false, {}, -1};
}
/// Random whole numbers in [lo, hi) (so that equal/less/greater see ties).
inline Spec Z(DType dt, std::vector<int64_t> shape, double lo = -3, double hi = 3) {
  return Spec{dt, std::move(shape), lo, hi, true, {}, -1};
}
inline Spec V(DType dt, std::vector<int64_t> shape, std::vector<double> values) {
  return Spec{dt, std::move(shape), 0, 0, false, std::move(values), -1};
}
/// An output that aliases input `in` exactly (same buffer).
inline Spec Alias(Spec s, int in) {
  s.alias = in;
  return s;
}

struct Case {
  std::string name;
  Ins ins;
  std::vector<Spec> in, out;
  double tol = -1; // < 0: by dtype
};

inline void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

inline std::string dtName(DType dt) { return dtypeName(dt); }
inline std::string shapeName(const std::vector<int64_t> &s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? "x" : "") + std::to_string(s[i]);
  return r.empty() ? "scalar" : r;
}

/// A kernel's instruction, attributes chained (`K("gemm").i("trans_b", 1)`).
inline Ins K(const std::string &kernel) { return Ins(kernel); }

/// Every case, named for gtest.
std::vector<Case> allCases();
} // namespace ds::rt::test::cuda_cases

#endif // DS_RUNTIME_UNITTESTS_CUDAKERNELCASES_H
