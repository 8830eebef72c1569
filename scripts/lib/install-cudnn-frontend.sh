#!/usr/bin/env bash
# Installs the cuDNN frontend's C++ headers (header-only graph API; PyPI nvidia-cudnn-frontend)
# into $DS_DEPS_DIR/cudnn-frontend-<version> (default /opt/ds-deps), where the runtime's CMake
# looks for them, on machines with CUDA (nvcc). Without them the CUDA plugin builds without
# cuDNN attention (the fallback kernels run). Idempotent; never fatal.
VERSION=1.32.0
DIR=${DS_DEPS_DIR:-/opt/ds-deps}/cudnn-frontend-$VERSION
[ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null || exit 0
[ -f "$DIR/include/cudnn_frontend.h" ] && exit 0
echo "setup: installing the cuDNN frontend headers $VERSION (PyPI nvidia-cudnn-frontend) into $DIR"
for py in python3 /usr/bin/python3; do
  if $py -m pip install -q --no-deps --target "$DIR" "nvidia-cudnn-frontend==$VERSION" \
       --break-system-packages 2>/dev/null ||
     $py -m pip install -q --no-deps --target "$DIR" "nvidia-cudnn-frontend==$VERSION" 2>/dev/null; then
    [ -f "$DIR/include/cudnn_frontend.h" ] && exit 0
  fi
done
echo "setup: cuDNN frontend unavailable: the CUDA plugin builds without cuDNN attention"
exit 0
