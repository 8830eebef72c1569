// ds_opt._core.compile_onnx: the compiler library (ds-opt's import and pipelines) in process.
// A translation unit of its own: MLIR's `mlir::ds` and the runtime's `ds::` do not mix.
#include "ds/Pipelines/CompileOnnx.h"

#include <pybind11/pybind11.h>

namespace py = pybind11;

void bindCompiler(py::module_ &m, py::object dsError) {
  m.attr("has_compiler") = true;
  m.def(
      "compile_onnx",
      [dsError](const py::bytes &onnx, const std::string &onnxPath, const std::string &config,
                const std::string &configName, int world, int zeroStage,
                const std::string &loss, const std::string &freeze, bool fuseAttention) {
        mlir::ds::OnnxCompileRequest r;
        r.onnxBytes = std::string(onnx);
        r.onnxPath = onnxPath;
        r.configText = config;
        r.configName = configName;
        r.worldSize = world;
        if (zeroStage >= 0)
          r.zeroStage = zeroStage;
        r.lossName = loss;
        r.freeze = freeze;
        r.fuseAttention = fuseAttention;
        std::string plan, error;
        {
          py::gil_scoped_release release;
          llvm::Expected<std::string> compiled = mlir::ds::compileOnnxToPlan(r);
          if (compiled)
            plan = std::move(*compiled);
          else
            error = llvm::toString(compiled.takeError());
        }
        if (!error.empty()) {
          PyErr_SetString(dsError.ptr(), error.c_str());
          throw py::error_already_set();
        }
        return py::bytes(plan);
      },
      py::arg("onnx"), py::arg("onnx_path"), py::arg("config"), py::arg("config_name"),
      py::arg("world_size"), py::arg("zero_stage") = -1, py::arg("loss") = "",
      py::arg("freeze") = "", py::arg("fuse_attention") = true,
      "Compiles binary ONNX with a DeepSpeed config (JSON text) into plan bytes.");
}
