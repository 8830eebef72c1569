// ds-gradcheck: checks the analytic gradients of a differentiated plan against central
// differences.
//
// The plan comes from a function differentiated with respect to its float inputs
// (`ds-opt --ds-autodiff=wrt-args ...`): its INFERENCE program returns the loss (marked by
// `loss_output`) and one output "grad:<input>" per float input. Every input is read whole from
// DIR/<name>.npy. The program runs once for the analytic gradients, then twice per element of
// every float input (x + eps, x - eps) in the same process; each element must satisfy
// |analytic - numeric| <= atol + rtol * |numeric|.
#include "ds/runtime/Communicator.h"
#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/Npy.h"
#include "ds/runtime/OnnxParams.h"
#include "ds/runtime/Plan.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <fstream>
#include <map>

using namespace ds::rt;
using ds::plan::Program;

namespace {

const char *kUsage = "usage: ds-gradcheck PLAN.dsplan --data DIR [--eps 1e-6] [--rtol 1e-6] "
                     "[--atol 1e-8] [--verbose]\n";

[[noreturn]] void usageError(const std::string &msg) {
  std::fprintf(stderr, "ds-gradcheck: %s\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

double parseDouble(const std::string &flag, const char *v) {
  char *end = nullptr;
  double x = std::strtod(v, &end);
  if (!end || *end || end == v || !std::isfinite(x) || x < 0)
    usageError(flag + " expects a non-negative number, got '" + v + "'");
  return x;
}

struct Options {
  std::string plan, data;
  double eps = 1e-6, rtol = 1e-6, atol = 1e-8;
  bool verbose = false;
};

Options parseArgs(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc)
        usageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--data")
      o.data = value();
    else if (a == "--eps")
      o.eps = parseDouble(a, value());
    else if (a == "--rtol")
      o.rtol = parseDouble(a, value());
    else if (a == "--atol")
      o.atol = parseDouble(a, value());
    else if (a == "--verbose")
      o.verbose = true;
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (!a.empty() && a[0] == '-')
      usageError("unknown option '" + a + "'");
    else if (o.plan.empty())
      o.plan = a;
    else
      usageError("more than one plan given");
  }
  if (o.plan.empty())
    usageError("no plan given");
  if (o.data.empty())
    usageError("--data DIR is required");
  if (o.eps == 0)
    usageError("--eps must be > 0");
  return o;
}

double readElem(DType dt, const void *p, int64_t i) {
  switch (dt) {
  case ds::plan::F32: return static_cast<const float *>(p)[i];
  case ds::plan::F64: return static_cast<const double *>(p)[i];
  case ds::plan::F16: return halfToFloat(static_cast<const uint16_t *>(p)[i]);
  case ds::plan::BF16: return bf16ToFloat(static_cast<const uint16_t *>(p)[i]);
  default: fail("internal error: readElem on ", dtypeName(dt));
  }
}
/// Stores v (rounded to the dtype) and returns the value actually stored.
double writeElem(DType dt, void *p, int64_t i, double v) {
  switch (dt) {
  case ds::plan::F32: return static_cast<float *>(p)[i] = float(v);
  case ds::plan::F64: return static_cast<double *>(p)[i] = v;
  case ds::plan::F16: {
    uint16_t h = floatToHalf(float(v));
    static_cast<uint16_t *>(p)[i] = h;
    return halfToFloat(h);
  }
  case ds::plan::BF16: {
    uint16_t h = floatToBf16(float(v));
    static_cast<uint16_t *>(p)[i] = h;
    return bf16ToFloat(h);
  }
  default: fail("internal error: writeElem on ", dtypeName(dt));
  }
}

struct Input {
  std::string name;
  uint32_t buffer;
  TensorType type;
  std::vector<char> bytes; // the unperturbed value
};

// The npy file must hold exactly the buffer: same dtype and shape.
std::vector<char> readWholeInput(const std::string &path, const TensorType &type) {
  NpyFile f = openNpy(path);
  if (f.dtype != type.dtype)
    fail(path, ": element type ", dtypeName(f.dtype), " differs from the input's ",
         dtypeName(type.dtype));
  if (f.shape != type.shape)
    fail(path, ": shape ", shapeString(f.shape), " differs from the input's ",
         shapeString(type.shape), " (the whole array is the input buffer)");
  std::vector<char> bytes(size_t(type.bytes));
  std::ifstream in(path, std::ios::binary);
  in.seekg(std::streamoff(f.dataOffset));
  if (!in.read(bytes.data(), std::streamsize(bytes.size())))
    fail(path, ": truncated data");
  return bytes;
}

// Loads the plan like ds-run but without the micro-batch rules on inputs (which would reject
// inputs of different leading dims or rank 0): the inputs are taken out before validation and
// checked here; each is fed whole.
LoadedPlan loadGradcheckPlan(const std::string &path,
                             std::vector<ds::plan::GraphInput> &inputs) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    fail(path, ": cannot open plan file: ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ds::plan::Plan raw;
  try {
    decodePlan(bytes, raw); // magic, checksum, decoding, unknown fields
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  inputs.assign(raw.inputs().begin(), raw.inputs().end());
  raw.clear_inputs();
  LoadedPlan plan = parsePlan(serializePlan(raw), path, 1);
  std::map<std::string, int> seen;
  for (const auto &in : inputs) {
    if (in.name().empty() || seen[in.name()]++)
      fail(path, ": input '", in.name(), "': empty or duplicate input name");
    if (!plan.bufferIndex.count(in.buffer()))
      fail(path, ": input '", in.name(), "': unknown buffer ", in.buffer());
    if (plan.buffer(in.buffer()).placement != ds::plan::ARENA)
      fail(path, ": input '", in.name(), "': buffer ", in.buffer(), " must be in the arena");
  }
  return plan;
}

int run(const Options &o) {
  auto comm = makeSingleRankCommunicator();
  std::vector<ds::plan::GraphInput> graphInputs;
  LoadedPlan plan = loadGradcheckPlan(o.plan, graphInputs);
  const auto &p = plan.plan;
  int prog = plan.program(Program::INFERENCE);
  if (prog < 0)
    fail(o.plan, ": the plan has no INFERENCE program");
  if (!p.has_loss_output() || p.loss_output() < 0)
    fail(o.plan, ": the plan marks no loss output (loss_output)");
  const auto &lossOut = p.outputs(p.loss_output());
  const TensorType &lossType = plan.buffer(lossOut.buffer()).type;
  if (!isFloat(lossType.dtype) || lossType.numel != 1)
    fail(o.plan, ": loss output '", lossOut.name(), "' is ", dtypeName(lossType.dtype),
         shapeString(lossType.shape), ", expected a floating scalar");

  CpuExecutor exec(plan, *comm);
  if (!plan.modelPath.empty() && p.parameters_size() > 0)
    loadParameters(plan, exec, 0, 1);
  exec.runRole(Program::INIT);

  std::vector<Input> inputs;
  for (const auto &gi : graphInputs) {
    Input in{gi.name(), gi.buffer(), plan.buffer(gi.buffer()).type, {}};
    in.bytes = readWholeInput(o.data + "/" + gi.name() + ".npy", in.type);
    inputs.push_back(std::move(in));
  }
  std::map<std::string, uint32_t> outputs;
  for (const auto &go : p.outputs())
    outputs[go.name()] = go.buffer();

  // Inputs live in the arena, which the program reuses: write them before every run.
  auto runWith = [&](const Input *perturbed, const std::vector<char> *value) {
    for (const Input &in : inputs) {
      const std::vector<char> &src = &in == perturbed ? *value : in.bytes;
      std::memcpy(exec.tensor(in.buffer).data, src.data(), src.size());
    }
    exec.run(prog);
    Tensor l = exec.tensor(lossOut.buffer());
    return readElem(l.dtype, l.data, 0);
  };

  double loss0 = runWith(nullptr, nullptr);
  std::printf("loss = %.17g\n", loss0);
  // Analytic gradients of every float input.
  std::map<std::string, std::vector<double>> analytic;
  for (const Input &in : inputs) {
    if (!isFloat(in.type.dtype))
      continue;
    auto it = outputs.find("grad:" + in.name);
    if (it == outputs.end())
      fail(o.plan, ": float input '", in.name, "' has no gradient output 'grad:", in.name, "'");
    Tensor g = exec.tensor(it->second);
    if (!isFloat(g.dtype) || *g.shape != in.type.shape)
      fail(o.plan, ": output 'grad:", in.name, "' is ", dtypeName(g.dtype),
           shapeString(*g.shape), ", expected the shape of input '", in.name, "' ",
           shapeString(in.type.shape));
    std::vector<double> v(size_t(g.numel));
    for (int64_t i = 0; i < g.numel; ++i)
      v[size_t(i)] = readElem(g.dtype, g.data, i);
    analytic[in.name] = std::move(v);
  }
  if (analytic.empty())
    fail(o.plan, ": the plan has no float inputs to check");

  int64_t checked = 0, failed = 0;
  std::string worst;
  double worstExcess = -1;
  for (const Input &in : inputs) {
    if (!isFloat(in.type.dtype))
      continue;
    const std::vector<double> &a = analytic[in.name];
    std::vector<char> value = in.bytes;
    double maxAbs = 0, maxRel = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < in.type.numel; ++i) {
      double x = readElem(in.type.dtype, in.bytes.data(), i);
      double xp = writeElem(in.type.dtype, value.data(), i, x + o.eps);
      double fp = runWith(&in, &value);
      double xm = writeElem(in.type.dtype, value.data(), i, x - o.eps);
      double fm = runWith(&in, &value);
      writeElem(in.type.dtype, value.data(), i, x);
      if (xp == xm)
        fail("input '", in.name, "' element ", i, ": x +- eps rounds to the same ",
             dtypeName(in.type.dtype), " value; use a larger --eps");
      double n = (fp - fm) / (xp - xm);
      double err = std::fabs(a[size_t(i)] - n);
      double rel = err / std::max(std::fabs(n), 1e-300);
      double allowed = o.atol + o.rtol * std::fabs(n);
      maxAbs = std::max(maxAbs, err);
      if (std::fabs(n) > 0 || err > 0)
        maxRel = std::max(maxRel, std::fabs(n) > 0 ? rel : INFINITY);
      bool ok = err <= allowed; // NaN fails
      ++checked;
      if (!ok) {
        ++bad;
        char line[256];
        std::snprintf(line, sizeof line, "%s[%lld]: analytic %.10g numeric %.10g",
                      in.name.c_str(), (long long)i, a[size_t(i)], n);
        if (bad <= 5 || o.verbose)
          std::printf("  mismatch %s\n", line);
        double excess = std::isnan(err) ? INFINITY : err - allowed;
        if (excess > worstExcess) {
          worstExcess = excess;
          worst = line;
        }
      } else if (o.verbose) {
        std::printf("  %s[%lld]: analytic %.10g numeric %.10g\n", in.name.c_str(),
                    (long long)i, a[size_t(i)], n);
      }
    }
    failed += bad;
    std::printf("input %s %s%s: %lld elements, max abs error %.3g, max rel error %.3g%s\n",
                in.name.c_str(), dtypeName(in.type.dtype).c_str(),
                shapeString(in.type.shape).c_str(), (long long)in.type.numel, maxAbs, maxRel,
                bad ? (", " + std::to_string(bad) + " out of tolerance").c_str() : "");
  }
  if (failed) {
    std::printf("gradcheck: FAIL (%lld of %lld elements out of tolerance; worst: %s)\n",
                (long long)failed, (long long)checked, worst.c_str());
    return 1;
  }
  std::printf("gradcheck: PASS (%lld elements, eps %g, rtol %g, atol %g)\n", (long long)checked,
              o.eps, o.rtol, o.atol);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArgs(argc, argv);
  try {
    return run(o);
  } catch (const Error &e) {
    std::fprintf(stderr, "ds-gradcheck: %s\n", e.what());
    return 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "ds-gradcheck: %s\n", e.what());
    return 1;
  }
}
