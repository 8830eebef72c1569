#!/usr/bin/env bash
# Installs the PyPI packages some tests use, for /usr/bin/python3, when missing; each test that
# needs one declares it (lit REQUIRES) and is skipped when it cannot be installed.
#   onnxruntime: test/Checkpoint runs exported models with it.
#   tensorboard (+ absl-py): test/Runtime/tensorboard-monitor.test reads ds-run's event files
#   back with TensorBoard's own reader.
#   With --models: transformers 4.36.2 and the versions of its dependencies that import with it
#   (later huggingface_hub/tokenizers do not), for models/export_hf_models.py only (no test
#   needs it: the exported files are committed).
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
if [ "${1:-}" = "--models" ]; then
  install transformers transformers==4.36.2 tokenizers==0.15.2 safetensors==0.4.2 \
    huggingface_hub==0.20.3 regex pyyaml filelock tqdm
fi
exit 0
