#!/usr/bin/env bash
# Installs the Debian packages ds-opt needs on a fresh machine; idempotent (skips what is there).
#   scripts/setup.sh           build dependencies (what scripts/run.sh needs)
#   scripts/setup.sh --tests   also PyTorch (Debian), which the ds_opt Python tests and the torch
#                              reference tests use, and Slurm for the srun launch test
#                              (scripts/test.sh, i.e. CI, passes it)
#   scripts/setup.sh --models  also torchvision and transformers (PyPI), to re-export the bundled
#                              models and references
set -euo pipefail

PKGS=(
  cmake ninja-build g++ pkg-config
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  clang-22 libclang-rt-22-dev
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev
  libgtest-dev liburing-dev
  python3-numpy python3-onnx python3-matplotlib
  python3-dev pybind11-dev
)
case "${1:-}" in
  --tests) PKGS+=(python3-torch slurmd slurmctld slurm-client) ;; # srun-launch.test: real Slurm
  --models) PKGS+=(python3-torch python3-torchvision) ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi


# PyPI packages some tests use (onnxruntime, tensorboard), and cuDNN's frontend headers.
bash "$(dirname "$0")/lib/install-pypi-packages.sh" "${1:-}"
bash "$(dirname "$0")/lib/install-cudnn-frontend.sh"
