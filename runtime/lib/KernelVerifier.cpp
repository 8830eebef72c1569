// ds-run --verify-kernels: a device executor checked against the CPU one instruction at a time.
#include "ds/runtime/KernelVerifier.h"

#include <cmath>
#include <cstdio>

namespace ds::rt {
namespace {
double get(const Tensor &t, int64_t i) {
  switch (t.dtype) {
  case ds::plan::F32: return t.as<float>()[i];
  case ds::plan::F64: return t.as<double>()[i];
  case ds::plan::F16: return halfToFloat(t.as<uint16_t>()[i]);
  case ds::plan::BF16: return bf16ToFloat(t.as<uint16_t>()[i]);
  case ds::plan::I64: return double(t.as<int64_t>()[i]);
  case ds::plan::I32: return t.as<int32_t>()[i];
  default: return t.as<uint8_t>()[i];
  }
}
} // namespace

void KernelVerifier::run(int p) {
  const LoadedPlan &plan = dev_.plan();
  const auto &prog = plan.plan.programs(p);
  for (int k = 0; k < prog.instructions_size(); ++k) {
    const auto &ins = prog.instructions(k);
    std::vector<uint32_t> inIds, outIds;
    for (size_t b : plan.instrInputs[size_t(p)][size_t(k)])
      inIds.push_back(plan.plan.buffers(int(b)).id());
    for (size_t b : plan.instrOutputs[size_t(p)][size_t(k)])
      outIds.push_back(plan.plan.buffers(int(b)).id());
    for (const auto *ids : {&inIds, &outIds})
      for (uint32_t id : *ids) {
        Tensor t = hostTensor(dev_, id, a_, true);
        cpu_.upload(id, t.data);
      }
    std::string devError;
    try {
      dev_.runInstruction(p, k);
    } catch (const Error &e) {
      devError = e.what();
    }
    cpu_.runInstruction(p, k);
    ++checked_;
    if (!devError.empty()) {
      ++mismatches_;
      std::fprintf(stderr, "ds-run: rank %d: verify: %s\n", rank_, devError.c_str());
      for (uint32_t id : outIds) {
        Tensor c = hostTensor(cpu_, id, b_, true);
        dev_.upload(id, c.data);
      }
      continue;
    }
    for (uint32_t id : outIds) {
      Tensor d = hostTensor(dev_, id, a_, true);
      Tensor c = hostTensor(cpu_, id, b_, true);
      std::string why = compare(d, c);
      if (why.empty())
        continue;
      ++mismatches_;
      if (++reported_[ins.kernel()] <= 3)
        std::fprintf(stderr, "ds-run: rank %d: verify: program '%s' instruction %d (%s%s): %s\n",
                     rank_, prog.name().c_str(), k, ins.kernel().c_str(),
                     ins.loc().empty() ? "" : (" at " + ins.loc()).c_str(), why.c_str());
      dev_.upload(id, c.data);
    }
  }
}

std::string KernelVerifier::compare(const Tensor &d, const Tensor &c) {
  double tol = 0;
  switch (d.dtype) {
  case ds::plan::F32: tol = 2e-4; break;
  case ds::plan::F64: tol = 1e-9; break;
  case ds::plan::F16: tol = 2e-3; break;
  case ds::plan::BF16: tol = 1.6e-2; break;
  default: tol = 0;
  }
  double maxAbs = 0, maxErr = 0;
  int64_t worst = -1, exactBad = 0;
  for (int64_t i = 0; i < c.numel; ++i) {
    double x = get(d, i), y = get(c, i);
    if (!std::isfinite(x) || !std::isfinite(y)) {
      if (!(std::isnan(x) && std::isnan(y)) && x != y) {
        ++exactBad;
        if (worst < 0)
          worst = i;
      }
      continue;
    }
    maxAbs = std::max(maxAbs, std::fabs(y));
    double e = std::fabs(x - y);
    if (tol == 0 && e != 0) {
      ++exactBad;
      if (worst < 0)
        worst = i;
    }
    if (tol > 0 && e > maxErr) {
      maxErr = e;
      worst = i;
    }
  }
  bool bad = exactBad > 0 || (tol > 0 && maxErr > tol * std::max(maxAbs, 1e-6));
  if (!bad)
    return "";
  char buf[320];
  std::snprintf(buf, sizeof(buf),
                "%s %s: max error %.3g (max |cpu| %.3g), %lld mismatching exact/special "
                "values; at element %lld device %.6g cpu %.6g",
                dtypeName(d.dtype).c_str(), shapeString(*d.shape).c_str(), maxErr, maxAbs,
                (long long)exactBad, (long long)worst, worst >= 0 ? get(d, worst) : 0.0,
                worst >= 0 ? get(c, worst) : 0.0);
  return buf;
}

} // namespace ds::rt
