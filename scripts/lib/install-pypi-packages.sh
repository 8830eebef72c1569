#!/usr/bin/env bash
# Installs the PyPI packages some tests use, for /usr/bin/python3, when missing; each test that
# needs one declares it (lit REQUIRES) and is skipped when it cannot be installed.
#   onnxruntime: test/Checkpoint runs exported models with it.
#   tensorboard (+ absl-py): test/Runtime/tensorboard-monitor.test reads ds-run's event files
#   back with TensorBoard's own reader.
# --no-deps keeps Debian's python3-protobuf, which python3-onnx needs (PyPI's protobuf breaks
# onnx 1.12); both packages work with it.
install() { # MODULE PACKAGES...
  local module=$1
  shift
  /usr/bin/python3 -c "import $module" 2>/dev/null && return 0
  echo "setup: installing $* (PyPI)"
  /usr/bin/python3 -m pip install -q --no-deps --break-system-packages "$@" 2>/dev/null ||
    echo "setup: $1 unavailable: the tests that need it are skipped"
}
install onnxruntime onnxruntime flatbuffers packaging
install tensorboard.backend.event_processing.event_file_loader tensorboard==2.14.0 absl-py
exit 0
