// Shared setup of the training-kernel tests (backward, optimizer, mixed precision): reference
// helpers in double precision and a fixed random stream.
#pragma once

#include "KernelTestUtil.h"

#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/Plan.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <unistd.h>

using namespace ds::rt;
using namespace ds::rt::test;
using ds::plan::BF16;
using ds::plan::F16;
using ds::plan::F32;
using ds::plan::F64;
using ds::plan::I32;
using ds::plan::I64;

namespace {

std::mt19937 &rng() {
  static std::mt19937 r(1234);
  return r;
}

double tolFor(DType dt) { return dt == F64 ? 1e-12 : dt == F32 ? 2e-5 : 2e-2; }

std::vector<double> values(const HostTensor &t) {
  std::vector<double> v(size_t(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[size_t(i)] = t.get(i);
  return v;
}

// Reference softmax / log_softmax along `axis` in double.
std::vector<double> refSoftmax(const std::vector<double> &x, const std::vector<int64_t> &shape,
                               int64_t axis, bool log) {
  int64_t outer = 1, dim = shape[size_t(axis)], inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[size_t(i)];
  for (size_t i = size_t(axis) + 1; i < shape.size(); ++i)
    inner *= shape[i];
  std::vector<double> r(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double mx = -INFINITY, s = 0;
      for (int64_t d = 0; d < dim; ++d)
        mx = std::max(mx, x[size_t((o * dim + d) * inner + i)]);
      for (int64_t d = 0; d < dim; ++d)
        s += std::exp(x[size_t((o * dim + d) * inner + i)] - mx);
      for (int64_t d = 0; d < dim; ++d) {
        double v = x[size_t((o * dim + d) * inner + i)] - mx;
        r[size_t((o * dim + d) * inner + i)] = log ? v - std::log(s) : std::exp(v) / s;
      }
    }
  return r;
}

/// Central differences of a scalar function f(x) in double.
std::vector<double> numericGrad(std::vector<double> x,
                                const std::function<double(const std::vector<double> &)> &f,
                                double eps = 1e-6) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double x0 = x[i];
    x[i] = x0 + eps;
    double fp = f(x);
    x[i] = x0 - eps;
    double fm = f(x);
    x[i] = x0;
    g[i] = (fp - fm) / (2 * eps);
  }
  return g;
}

double dot(const std::vector<double> &a, const std::vector<double> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

} // namespace

// Operand and instruction builders the optimizer and mixed-precision tests share.
namespace {
struct AdamCfg {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0;
  bool adamW = true, bc = true;
};

HostTensor scalarF32(double v) {
  HostTensor t(F32, {});
  t.set(0, v);
  return t;
}
HostTensor scalarI64(int64_t v) {
  HostTensor t(I64, {});
  t.set(0, double(v));
  return t;
}

Ins adamIns(const AdamCfg &c) {
  Ins ins("adam_update");
  ins.f("beta1", float(c.b1)).f("beta2", float(c.b2)).f("eps", float(c.eps)).f("weight_decay", float(c.wd));
  ins.i("adam_w_mode", c.adamW).i("bias_correction", c.bc);
  return ins;
}

struct SgdCfg {
  double mu = 0, damp = 0, wd = 0;
  bool nesterov = false;
};
Ins sgdIns(const SgdCfg &c) {
  Ins ins("sgd_update");
  ins.f("momentum", float(c.mu)).f("dampening", float(c.damp)).f("weight_decay", float(c.wd)).i("nesterov", c.nesterov);
  return ins;
}
} // namespace
