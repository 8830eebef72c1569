// Sliding-window geometry of convolution and pooling (NC[H]W), shared by ds-opt and the
// runtime.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// One spatial dim of a window: kernel size, stride, dilation and pads.
struct WindowDim {
  int64_t kernel = 1, stride = 1, dilation = 1, padBegin = 0, padEnd = 0;
};

/// Output size of a window sliding over `in` positions (PyTorch's rule, which ONNX
/// follows: with ceilMode the size rounds up, but a last window that would start in the
/// end pad is dropped). Returns -1 when no window fits.
inline int64_t windowOutputSize(int64_t in, const WindowDim &d, bool ceilMode) {
  int64_t span = d.dilation * (d.kernel - 1) + 1;
  int64_t avail = in + d.padBegin + d.padEnd - span;
  if (avail < 0 || d.stride < 1)
    return -1;
  int64_t out = (ceilMode ? (avail + d.stride - 1) / d.stride : avail / d.stride) + 1;
  if (ceilMode && (out - 1) * d.stride >= in + d.padBegin)
    --out;
  return out;
}

/// The window dims from per-dim attribute arrays (pads: [begin..., end...]), or an error
/// message naming the first bad attribute. `kernel` may be empty (conv: from the weight).
inline std::string windowDims(const std::vector<int64_t> &kernel,
                              const std::vector<int64_t> &strides,
                              const std::vector<int64_t> &pads,
                              const std::vector<int64_t> &dilations, size_t spatial,
                              std::vector<WindowDim> &dims) {
  if (spatial < 1 || spatial > 2)
    return "1 or 2 spatial dims are supported, got " + std::to_string(spatial);
  if (!kernel.empty() && kernel.size() != spatial)
    return "kernel_shape needs " + std::to_string(spatial) + " values";
  if (strides.size() != spatial)
    return "strides needs " + std::to_string(spatial) + " values";
  if (dilations.size() != spatial)
    return "dilations needs " + std::to_string(spatial) + " values";
  if (pads.size() != 2 * spatial)
    return "pads needs " + std::to_string(2 * spatial) + " values (begin..., end...)";
  dims.assign(spatial, WindowDim());
  for (size_t i = 0; i < spatial; ++i) {
    WindowDim &d = dims[i];
    d.kernel = kernel.empty() ? 1 : kernel[i];
    d.stride = strides[i];
    d.dilation = dilations[i];
    d.padBegin = pads[i];
    d.padEnd = pads[i + spatial];
    if (d.kernel < 1)
      return "kernel_shape values must be >= 1";
    if (d.stride < 1)
      return "strides must be >= 1";
    if (d.dilation < 1)
      return "dilations must be >= 1";
    if (d.padBegin < 0 || d.padEnd < 0)
      return "pads must be >= 0";
    if (d.padBegin >= d.dilation * (d.kernel - 1) + 1 ||
        d.padEnd >= d.dilation * (d.kernel - 1) + 1)
      if (!kernel.empty())
        return "pads must be smaller than the window";
  }
  return "";
}

} // namespace ds::rt
