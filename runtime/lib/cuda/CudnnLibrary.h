// libcudnn loaded at run time, so the plugin loads (and falls back) where cuDNN is missing.
#pragma once

#include <string>

namespace ds::rt::cuda {

/// dlopen's libcudnn.so.9 (DS_CUDNN_LIBRARY names another file) once and resolves the
/// cuDNN functions the frontend calls; false with the reason in `why` when it cannot.
bool loadCudnnLibrary(std::string &why);

} // namespace ds::rt::cuda
