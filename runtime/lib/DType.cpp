// Element type sizes, names and checked shape products.
#include "ds/runtime/DType.h"
#include "ds/runtime/Error.h"

namespace ds::rt {

size_t dtypeSize(DType t) {
  switch (t) {
  case ds::plan::F32: return 4;
  case ds::plan::F64: return 8;
  case ds::plan::F16: return 2;
  case ds::plan::BF16: return 2;
  case ds::plan::I64: return 8;
  case ds::plan::I32: return 4;
  case ds::plan::I1: return 1;
  default: return 0;
  }
}

std::string dtypeName(int t) {
  switch (t) {
  case ds::plan::F32: return "f32";
  case ds::plan::F64: return "f64";
  case ds::plan::F16: return "f16";
  case ds::plan::BF16: return "bf16";
  case ds::plan::I64: return "i64";
  case ds::plan::I32: return "i32";
  case ds::plan::I1: return "i1";
  default: return "invalid(" + std::to_string(t) + ")";
  }
}

bool isFloat(DType t) {
  return t == ds::plan::F32 || t == ds::plan::F64 || t == ds::plan::F16 ||
         t == ds::plan::BF16;
}
bool isInteger(DType t) { return t == ds::plan::I64 || t == ds::plan::I32; }

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t checkedNumel(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      fail("negative dimension in shape ", shapeString(shape));
    if (d != 0 && n > INT64_MAX / d)
      fail("shape ", shapeString(shape), " has more than 2^63 elements");
    n *= d;
  }
  return n;
}

} // namespace ds::rt
