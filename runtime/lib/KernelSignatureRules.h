// The shape and dtype rules the load-time kernel checks (KernelSignatures*.cpp) share.
#pragma once

#include "ds/runtime/Kernels.h"

#include <initializer_list>

namespace ds::rt::rules {

using T = const TensorType *;

inline std::string desc(T t) { return dtypeName(t->dtype) + shapeString(t->shape); }

inline void sameDtype(T a, T b, const char *what) {
  if (a->dtype != b->dtype)
    fail(what, " must have the same element type, got ", dtypeName(a->dtype), " and ",
         dtypeName(b->dtype));
}
inline void expectShape(T t, const std::vector<int64_t> &shape, const char *what) {
  if (t->shape != shape)
    fail(what, " has shape ", shapeString(t->shape), ", expected ", shapeString(shape));
}
inline void floatOnly(T t, const char *what) {
  if (!isFloat(t->dtype))
    fail(what, " must be floating point, got ", dtypeName(t->dtype));
}
inline int64_t checkAxis(int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    fail("attribute 'axis' = ", axis, " out of range for rank ", rank);
  return axis;
}
/// Every operand floating point, of the first one's type.
inline void allFloatSame(std::initializer_list<T> ts, const char *what) {
  T first = *ts.begin();
  floatOnly(first, what);
  for (T t : ts)
    sameDtype(first, t, what);
}

} // namespace ds::rt::rules
