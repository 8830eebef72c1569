# lit configuration of the ds-opt test suite.
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "DS"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".onnxtxt", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ds_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%ds_src_root", config.ds_src_root))
config.substitutions.append(("%ds_obj_root", config.ds_obj_root))
config.substitutions.append(("%python", config.python_executable))

llvm_config.with_system_environment(["HOME", "TMPDIR", "OMPI_ALLOW_RUN_AS_ROOT",
                                     "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"])
llvm_config.use_default_substitutions()

tool_dirs = [config.ds_tools_dir, config.llvm_tools_dir]
tools = ["ds-opt", "ds-translate", "ds-run", "ds-gradcheck", "ds-ckpt", "ds-schedule-check"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
# `not` (error tests) lives next to FileCheck.
llvm_config.add_tool_substitutions(["not"], [config.llvm_tools_dir])

# Tests that run exported models with onnxruntime (PyPI) need it (REQUIRES: onnxruntime).
import subprocess
if subprocess.run([config.python_executable, "-c", "import onnxruntime"],
                  capture_output=True).returncode == 0:
    config.available_features.add("onnxruntime")
# Tests that read ds-run's TensorBoard event files with TensorBoard's reader (PyPI).
if subprocess.run([config.python_executable, "-c",
                   "import tensorboard.backend.event_processing.event_file_loader"],
                  capture_output=True).returncode == 0:
    config.available_features.add("tensorboard")

# scripts/plot-metrics.py draws with matplotlib (Debian's python3-matplotlib; REQUIRES: matplotlib).
if subprocess.run([config.python_executable, "-c", "import matplotlib"],
                  capture_output=True).returncode == 0:
    config.available_features.add("matplotlib")

# Tests that start a one-node Slurm cluster (REQUIRES: slurm): Debian's slurmctld, slurmd and
# srun, as root (slurmd runs tasks as their user).
import shutil
if os.geteuid() == 0 and all(shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin")
                             for t in ("slurmctld", "slurmd", "srun", "sinfo")):
    config.available_features.add("slurm")

# GPU tests (REQUIRES: cuda) run when ds-run's CUDA plugin loads and sees a device; elsewhere
# lit reports them UNSUPPORTED (skipped).
import subprocess
try:
    info = subprocess.run([os.path.join(config.ds_tools_dir, "ds-run"), "--backend-info"],
                          capture_output=True, text=True, timeout=60).stdout
except Exception as e:
    info = "cuda: unavailable (%s)" % e
# The plugin was built (nvcc found): it must load (every symbol it needs is exported by ds-run).
if os.path.exists(os.path.join(config.ds_tools_dir, "..", "lib", "libds_cuda.so")):
    config.available_features.add("cuda-plugin")
if "device(s)" in info:
    config.available_features.add("cuda")
lit_config.note("CUDA backend: " + info.split("cuda:")[-1].strip())

# Tests that export a PyTorch model at test time need torch (REQUIRES: torch; Debian's
# python3-torch).
if subprocess.run([config.python_executable, "-c", "import torch"],
                  capture_output=True).returncode == 0:
    config.available_features.add("torch")

# Generated PTX is assembled by ptxas where the CUDA toolkit is installed (REQUIRES: ptxas; the
# CI machines have it without a GPU); %ptxas is its path. ds-opt's fused-kernel codegen links
# libdevice (REQUIRES: libdevice; %libdevice).
ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
if os.access(ptxas, os.X_OK):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
libdevice = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(ptxas))),
                         "nvvm", "libdevice", "libdevice.10.bc")
if not os.path.exists(libdevice):
    libdevice = "/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"
if os.path.exists(libdevice):
    config.available_features.add("libdevice")
    config.substitutions.append(("%libdevice", libdevice))
