// f16/bf16 staging and stride helpers shared by the CPU kernels.
#include "CpuCommon.h"

#include <memory>

namespace ds::rt::cpu {

const float *asF32(const Tensor &t, std::vector<float> &tmp) {
  if (t.dtype == ds::plan::F32)
    return t.as<float>();
  tmp.resize(size_t(t.numel));
  const uint16_t *src = t.as<uint16_t>();
  float *dst = tmp.data();
  if (t.dtype == ds::plan::F16)
    parallelFor(t.numel, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        dst[i] = halfToFloat(src[i]);
    });
  else if (t.dtype == ds::plan::BF16)
    parallelFor(t.numel, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        dst[i] = bf16ToFloat(src[i]);
    });
  else
    fail("internal error: asF32 on ", dtypeName(t.dtype));
  return dst;
}

float *outF32(const Tensor &t, std::vector<float> &tmp) {
  if (t.dtype == ds::plan::F32)
    return t.as<float>();
  tmp.resize(size_t(t.numel));
  return tmp.data();
}

void storeF32(const float *src, const Tensor &t) {
  if (t.dtype == ds::plan::F32) {
    if (src != t.as<float>())
      std::copy(src, src + t.numel, t.as<float>());
    return;
  }
  uint16_t *dst = t.as<uint16_t>();
  if (t.dtype == ds::plan::F16)
    parallelFor(t.numel, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        dst[i] = floatToHalf(src[i]);
    });
  else
    parallelFor(t.numel, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        dst[i] = floatToBf16(src[i]);
    });
}

void runAccumulating(KernelCall &c, size_t first, std::initializer_list<size_t> accOut,
                     void (*kernel)(KernelCall &)) {
  KernelCall sub{c.ins, std::vector<Tensor>(c.in.begin(), c.in.begin() + long(first)), c.out,
                 c.ctx, c.kernelAttrs};
  // The kernel's outputs go to this thread's scratch, kept between calls (grow-only, never
  // zeroed: the kernel writes every element), so that a folded accumulation allocates and
  // faults in no memory per step.
  thread_local std::vector<std::unique_ptr<unsigned char[]>> scratch;
  thread_local std::vector<size_t> capacity;
  size_t k = 0;
  for (size_t o : accOut) {
    size_t n = size_t(c.out[o].numel) * dtypeSize(c.out[o].dtype);
    if (scratch.size() <= k) {
      scratch.emplace_back();
      capacity.push_back(0);
    }
    if (capacity[k] < n) {
      scratch[k].reset(new unsigned char[n]); // default-initialised: not zeroed
      capacity[k] = n;
    }
    sub.out[o].data = scratch[k++].get();
  }
  kernel(sub);
  k = 0;
  for (size_t o : accOut) {
    accumulate(c.in[first + k], sub.out[o], c.out[o]);
    ++k;
  }
}

void accumulate(const Tensor &acc, const Tensor &v, const Tensor &r) {
  int64_t n = r.numel;
  switch (r.dtype) {
  case ds::plan::F32: { // the add kernel's own vector loop
    BinaryLoop add = elementwiseLoops().add;
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      add(acc.as<float>() + b, v.as<float>() + b, r.as<float>() + b, e - b);
    });
    break;
  }
  case ds::plan::F64:
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        r.as<double>()[i] = acc.as<double>()[i] + v.as<double>()[i];
    });
    break;
  case ds::plan::F16:
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        r.as<uint16_t>()[i] = floatToHalf(halfToFloat(acc.as<uint16_t>()[i]) +
                                          halfToFloat(v.as<uint16_t>()[i]));
    });
    break;
  case ds::plan::BF16:
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        r.as<uint16_t>()[i] = floatToBf16(bf16ToFloat(acc.as<uint16_t>()[i]) +
                                          bf16ToFloat(v.as<uint16_t>()[i]));
    });
    break;
  default: fail("accumulating into a ", dtypeName(r.dtype), " output");
  }
}

std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &in,
                                      const std::vector<int64_t> &out) {
  std::vector<int64_t> s(out.size(), 0);
  std::vector<int64_t> cs = contiguousStrides(in);
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    s[lead + i] = in[i] == 1 ? 0 : cs[i];
  return s;
}

} // namespace ds::rt::cpu
