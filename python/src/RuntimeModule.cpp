// ds_opt._core: one rank's plan, executor and communicator, driven from Python (and, when
// the compiler is built, CompilerModule.cpp's compile_onnx).
#include "ds/runtime/Checkpoint.h"
#include "ds/runtime/Communicator.h"
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/CudaBackend.h"
#include "ds/runtime/KernelAttrs.h"
#include "ds/runtime/MemoryAdmission.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/ParamSaver.h"
#include "ds/runtime/Plan.h"
#include "ds/runtime/ThreadPool.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cblas.h>
#include <cstring>
#include <memory>
#include <optional>

namespace py = pybind11;
using namespace ds::rt;
using ds::plan::Program;

namespace {

/// The process's communicator: chosen once from the launcher's environment as ds-run
/// chooses it (mpirun: MPI; torchrun: TCP; neither: one rank).
struct World {
  std::unique_ptr<Communicator> comm;
  bool mpi = false;
};

World &worldState() {
  static World w;
  return w;
}

World &world() {
  World &w = worldState();
  if (!w.comm) {
    w.mpi = launchedByMpi();
    if (w.mpi)
      w.comm = makeMpiCommunicator();
    else if (launchedByTorchrun())
      w.comm = makeTcpCommunicator(1800);
    else
      w.comm = makeSingleRankCommunicator();
  }
  return w;
}

/// At interpreter exit (atexit): releases the communicator if one was made (never makes one).
void shutdownWorld() {
  World &w = worldState();
  w.comm.reset();
  if (w.mpi)
    finalizeMpi();
  w.mpi = false;
}

/// numpy-style dtype strings for the plan's dtypes.
const char *numpyDType(DType d) {
  switch (d) {
  case ds::plan::F32: return "float32";
  case ds::plan::F64: return "float64";
  case ds::plan::F16: return "float16";
  case ds::plan::BF16: return "bfloat16";
  case ds::plan::I64: return "int64";
  case ds::plan::I32: return "int32";
  default: return "bool";
  }
}

/// The buffer-protocol format characters that hold dtype `d`.
bool formatMatches(const std::string &f, DType d, size_t itemsize) {
  char c = f.empty() ? 0 : f.back(); // skip '<', '=', '@'
  switch (d) {
  case ds::plan::F32: return c == 'f';
  case ds::plan::F64: return c == 'd';
  case ds::plan::F16: return c == 'e';
  case ds::plan::BF16: return false;
  case ds::plan::I64: return (c == 'l' || c == 'q') && itemsize == 8;
  case ds::plan::I32: return (c == 'i' || c == 'l') && itemsize == 4;
  default: return c == '?' || ((c == 'B' || c == 'b') && itemsize == 1);
  }
}

std::string shapeText(const std::vector<int64_t> &s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i)
    t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

/// One rank's loaded plan and executor: the programs a Python engine runs.
class Runtime {
public:
  Runtime(const std::string &planSource, bool fromBytes, const std::string &backend,
          int threads, const std::string &modelPath)
      : comm_(*world().comm) {
    int rank = comm_.rank(), size = comm_.size();
    std::string error;
    try {
      plan_ = std::make_unique<LoadedPlan>(fromBytes ? parsePlan(planSource, "<memory>", size)
                                                     : loadPlan(planSource, size));
      if (!modelPath.empty())
        plan_->modelPath = modelPath;
      if (threads > 0)
        setNumThreads(threads);
      openblas_set_num_threads(numThreads());
      std::string b = backend;
      if (b == "auto")
        b = cudaDeviceCount() > 0 ? "cuda" : "cpu";
      checkMemoryAdmission(plan_->plan, b == "cpu", localRankCount());
      if (b == "cpu") {
        exec_ = std::make_unique<CpuExecutor>(*plan_, comm_);
      } else {
        std::string why;
        if (!loadCudaBackend(why))
          fail("backend cuda: ", why);
        exec_ = makeCudaExecutor(*plan_, comm_, CudaOptions{});
      }
      loadParameters(*plan_, *exec_, rank, size);
    } catch (const std::exception &e) {
      error = e.what();
      if (error.empty())
        error = "setup failed";
    }
    // Ranks agree on the outcome (as in ds-run) so a failing rank does not hang the others.
    int32_t failed = error.empty() ? 0 : 1;
    comm_.allReduce(&failed, &failed, 1, ds::plan::I32, ReduceOp::Max);
    if (failed)
      throw Error(error.empty() ? "another rank failed to load the plan" : error);
    if (plan_->program(Program::INIT) >= 0)
      run(plan_->program(Program::INIT));
    int apply = plan_->program(Program::APPLY_STEP);
    if (apply >= 0) {
      const auto &instrs = plan_->plan.programs(apply).instructions();
      for (int i = 0; i < instrs.size() && !lrAttrs_; ++i)
        if (instrs[i].kernel() == "lr_schedule")
          lrAttrs_ = &std::get<LrScheduleAttrs>(plan_->instrAttrs[size_t(apply)][size_t(i)]);
      for (const auto &st : plan_->plan.states())
        if (st.kind() == "step")
          stepBuffer_ = st.buffer();
    }
  }

  int rank() const { return comm_.rank(); }
  int worldSize() const { return comm_.size(); }
  int microBatch() const { return plan_->microBatch; }
  int accumulation() const { return plan_->accumulationSteps; }
  int zeroStage() const { return int(plan_->plan.zero_stage()); }
  bool training() const { return plan_->program(Program::MICRO_STEP) >= 0; }
  bool hasInference() const { return plan_->program(Program::INFERENCE) >= 0; }
  std::string backend() const { return exec_->describe(); }

  /// name, dtype, the micro-batch's shape ([batch, ...] whatever the buffer's batch axis).
  std::vector<py::tuple> inputs() const {
    std::vector<py::tuple> r;
    for (const auto &in : plan_->plan.inputs()) {
      const BufferInfo &b = plan_->buffer(in.buffer());
      std::vector<int64_t> s = b.type.shape;
      if (!s.empty()) {
        int64_t n = s[in.batch_dim()];
        s.erase(s.begin() + in.batch_dim());
        s.insert(s.begin(), n);
      }
      r.push_back(py::make_tuple(in.name(), numpyDType(b.type.dtype), s));
    }
    return r;
  }

  /// Uploads one micro-batch: every graph input from an object with the buffer protocol
  /// (C-contiguous, the input's dtype, [micro-batch, ...]); read in place, no staging copy
  /// unless the plan's batch axis is not the first.
  void feed(const std::vector<py::buffer> &arrays) {
    const auto &ins = plan_->plan.inputs();
    if (arrays.size() != size_t(ins.size()))
      throw Error("the plan has " + std::to_string(ins.size()) + " graph inputs, got " +
                  std::to_string(arrays.size()));
    std::vector<py::buffer_info> infos;
    for (int k = 0; k < ins.size(); ++k) {
      const auto &in = ins[k];
      const BufferInfo &b = plan_->buffer(in.buffer());
      py::buffer_info info = arrays[size_t(k)].request();
      std::vector<int64_t> want = b.type.shape;
      if (!want.empty()) {
        int64_t n = want[in.batch_dim()];
        want.erase(want.begin() + in.batch_dim());
        want.insert(want.begin(), n);
      }
      std::vector<int64_t> got(info.shape.begin(), info.shape.end());
      if (!formatMatches(info.format, b.type.dtype, size_t(info.itemsize)))
        throw Error("input '" + in.name() + "': dtype (format '" + info.format +
                    "') does not match the plan's " + numpyDType(b.type.dtype));
      if (got != want)
        throw Error("input '" + in.name() + "': shape " + shapeText(got) +
                    " does not match the compiled micro-batch " + shapeText(want) +
                    " (micro-batch " + std::to_string(plan_->microBatch) + " per rank)");
      int64_t stride = int64_t(info.itemsize);
      for (int d = int(info.ndim) - 1; d >= 0; --d) {
        if (info.shape[d] > 1 && info.strides[d] != stride)
          throw Error("input '" + in.name() + "': the array is not C-contiguous");
        stride *= info.shape[d];
      }
      infos.push_back(std::move(info));
    }
    for (int k = 0; k < ins.size(); ++k) {
      const auto &in = ins[k];
      const char *src = static_cast<const char *>(infos[size_t(k)].ptr);
      if (in.batch_dim() == 0) {
        exec_->upload(in.buffer(), src);
        continue;
      }
      // [mb, outer, inner] -> [outer, mb, inner]
      const BufferInfo &b = plan_->buffer(in.buffer());
      int64_t mb = b.type.shape[in.batch_dim()], outer = 1;
      for (uint32_t d = 0; d < in.batch_dim(); ++d)
        outer *= b.type.shape[d];
      size_t inner = size_t(b.type.bytes) / size_t(mb * outer);
      staging_.resize(size_t(b.type.bytes));
      for (int64_t i = 0; i < mb; ++i)
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(staging_.data() + size_t(o * mb + i) * inner,
                      src + size_t(i * outer + o) * inner, inner);
      exec_->upload(in.buffer(), staging_.data());
    }
  }

  /// Runs the MICRO_STEP program (forward and backward); returns this rank's loss.
  double microStep() {
    int p = plan_->program(Program::MICRO_STEP);
    if (p < 0)
      throw Error("the plan has no MICRO_STEP program (an inference plan): use eval_batch");
    run(p);
    return localLoss();
  }

  /// Runs the APPLY_STEP program (the optimizer step over the accumulated gradients).
  void applyStep() {
    int p = plan_->program(Program::APPLY_STEP);
    if (p >= 0)
      run(p);
  }

  /// Runs the INFERENCE program; returns every graph output by name as (dtype, shape, bytes).
  py::dict inference() {
    int p = plan_->program(Program::INFERENCE);
    if (p < 0)
      throw Error("the plan has no INFERENCE program: compile with an inference mode");
    run(p);
    py::dict out;
    for (const auto &o : plan_->plan.outputs()) {
      std::vector<char> store;
      Tensor t = hostTensor(*exec_, o.buffer(), store, /*fetch=*/true);
      out[py::str(o.name())] =
          py::make_tuple(numpyDType(t.dtype), *t.shape,
                         py::bytes(store.data(), size_t(plan_->buffer(o.buffer()).type.bytes)));
    }
    return out;
  }

  double localLoss() {
    if (!plan_->plan.has_loss_output() || plan_->plan.loss_output() < 0)
      return std::nan("");
    return downloadScalar(*exec_, plan_->plan.outputs(plan_->plan.loss_output()).buffer());
  }

  /// The mean of `v` over the ranks, reduced as ds-run reduces step losses.
  double meanOverRanks(double v) {
    comm_.allReduce(&v, &v, 1, ds::plan::F64, ReduceOp::Sum);
    return v / comm_.size();
  }

  std::optional<double> lossScale() {
    if (!plan_->plan.has_loss_scale_buffer())
      return std::nullopt;
    return downloadScalar(*exec_, plan_->plan.loss_scale_buffer());
  }

  /// DeepSpeed's get_lr(): what the next step uses.
  std::optional<double> learningRate() {
    if (!lrAttrs_ || !stepBuffer_)
      return std::nullopt;
    return lrScheduleValue(*lrAttrs_, downloadInteger(*exec_, *stepBuffer_) + 1);
  }

  void saveCheckpoint(const std::string &dir, int64_t step, int64_t nextSample, int keep) {
    CheckpointSaver saver(*plan_, dir, keep, rank(), worldSize());
    std::string error;
    if (!saver.save({step, nextSample, programRuns_}, *exec_, comm_, error))
      throw Error(error.empty() ? "another rank failed to save the checkpoint" : error);
  }

  /// Loads a checkpoint; returns (global step, next sample).
  std::pair<int64_t, int64_t> loadCheckpoint(const std::string &dir) {
    std::string error;
    CheckpointPosition pos;
    try {
      CheckpointManifest m = ds::rt::loadCheckpoint(*plan_, dir, *exec_, rank(), worldSize());
      pos = m.position;
      bool dropout = false;
      for (const auto &prog : plan_->plan.programs())
        for (const auto &ins : prog.instructions())
          dropout |= ins.kernel() == "dropout";
      if (dropout)
        exec_->setRunCounter(pos.programRuns);
      programRuns_ = pos.programRuns;
    } catch (const std::exception &e) {
      error = e.what();
    }
    int32_t failed = error.empty() ? 0 : 1;
    comm_.allReduce(&failed, &failed, 1, ds::plan::I32, ReduceOp::Max);
    if (failed)
      throw Error(error.empty() ? "another rank failed to load the checkpoint" : error);
    return {pos.globalStep, pos.nextSample};
  }

  /// Every parameter gathered in its full ONNX shape into DIR/<name>.npy (collective);
  /// returns initializer name -> file.
  std::vector<std::pair<std::string, std::string>> saveParameters(const std::string &dir) {
    std::vector<SavedParam> params = prepareSaveParams(*plan_, dir, rank());
    std::string error;
    if (!ds::rt::saveParams(params, dir, *exec_, comm_, error))
      throw Error(error.empty() ? "another rank failed to save the parameters" : error);
    std::vector<std::pair<std::string, std::string>> r;
    for (const SavedParam &p : params)
      r.emplace_back(p.initializer, p.file);
    return r;
  }

  py::dict memoryReport() {
    py::dict d;
    d["predicted_peak_bytes"] = plan_->plan.predicted_peak_bytes();
    d["measured_peak_bytes"] = exec_->measuredPeakBytes();
    d["arena_bytes"] = plan_->plan.arena_bytes();
    d["persistent_bytes"] = plan_->plan.persistent_bytes();
    d["host_bytes"] = plan_->plan.host_bytes();
    d["nvme_bytes"] = plan_->plan.nvme_bytes();
    d["measured_host_bytes"] = exec_->measuredHostBytes();
    d["measured_nvme_bytes"] = exec_->measuredNvmeBytes();
    d["trainable_parameters"] = plan_->plan.trainable_parameters();
    return d;
  }

private:
  void run(int p) {
    ++programRuns_;
    exec_->run(p);
  }

  Communicator &comm_;
  std::unique_ptr<LoadedPlan> plan_;
  std::unique_ptr<ExecutorBase> exec_;
  const LrScheduleAttrs *lrAttrs_ = nullptr;
  std::optional<uint32_t> stepBuffer_;
  uint64_t programRuns_ = 0;
  std::vector<char> staging_;
};

} // namespace

#ifdef DS_PY_HAVE_COMPILER
void bindCompiler(py::module_ &m, py::object dsError);
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "ds-opt: one rank's plan and executor, and the compiler";
  auto dsError = py::register_exception<Error>(m, "DsError", PyExc_RuntimeError);
  m.attr("has_compiler") = false;
#ifdef DS_PY_HAVE_COMPILER
  bindCompiler(m, dsError);
#endif
  m.def("rank", [] { return world().comm->rank(); });
  m.def("world_size", [] { return world().comm->size(); });
  m.def("shutdown", &shutdownWorld, "Releases the communicator (MPI_Finalize under mpirun).");
  py::class_<Runtime>(m, "Runtime")
      .def(py::init<const std::string &, bool, const std::string &, int, const std::string &>(),
           py::arg("plan"), py::arg("from_bytes"), py::arg("backend") = "auto",
           py::arg("threads") = 0, py::arg("model") = "")
      .def_property_readonly("rank", &Runtime::rank)
      .def_property_readonly("world_size", &Runtime::worldSize)
      .def_property_readonly("micro_batch", &Runtime::microBatch)
      .def_property_readonly("accumulation", &Runtime::accumulation)
      .def_property_readonly("zero_stage", &Runtime::zeroStage)
      .def_property_readonly("training", &Runtime::training)
      .def_property_readonly("has_inference", &Runtime::hasInference)
      .def_property_readonly("backend", &Runtime::backend)
      .def("inputs", &Runtime::inputs)
      .def("feed", &Runtime::feed)
      .def("micro_step", &Runtime::microStep, py::call_guard<py::gil_scoped_release>())
      .def("apply_step", &Runtime::applyStep, py::call_guard<py::gil_scoped_release>())
      .def("inference", &Runtime::inference)
      .def("mean_over_ranks", &Runtime::meanOverRanks)
      .def("loss_scale", &Runtime::lossScale)
      .def("learning_rate", &Runtime::learningRate)
      .def("save_checkpoint", &Runtime::saveCheckpoint)
      .def("load_checkpoint", &Runtime::loadCheckpoint)
      .def("save_parameters", &Runtime::saveParameters)
      .def("memory_report", &Runtime::memoryReport);
}
