#!/usr/bin/env bash
# Installs onnxruntime from PyPI for /usr/bin/python3 when missing (the checkpoint tests run
# exported ONNX models with it and skip it when it cannot be installed). --no-deps keeps
# Debian's python3-protobuf, which python3-onnx needs (PyPI's protobuf breaks onnx 1.12).
if ! /usr/bin/python3 -c "import onnxruntime" 2>/dev/null; then
  echo "setup: installing onnxruntime (PyPI)"
  /usr/bin/python3 -m pip install -q --no-deps --break-system-packages onnxruntime flatbuffers \
    packaging 2>/dev/null || echo "setup: onnxruntime unavailable: checkpoint export tests skip it"
fi
exit 0
