// The cost report: every dsrt.kernel of a planned module costed by the formulas of
// KernelCost.cpp, summed per program and per step, with a roofline estimate and a floor.
#include "ds/runtime/FusedProgram.h"
#include "ds/runtime/GemmBiasGrad.h"
#include "ds/Target/CostReport.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Target/MemoryReport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::ds;

void CostTotals::add(const CostTotals &o, double times) {
  launches += int64_t(times) * o.launches;
  flops += times * o.flops;
  tensorFlops16 += times * o.tensorFlops16;
  tensorFlops32 += times * o.tensorFlops32;
  bytesRead += times * o.bytesRead;
  bytesWritten += times * o.bytesWritten;
  for (const auto &[name, s] : o.seconds)
    seconds[name] += times * s;
}

double CostTotals::estimatedSeconds(const cost::Device &device) const {
  auto it = seconds.find(std::string(device.name));
  return (it == seconds.end() ? 0 : it->second) + double(launches) * device.launchSeconds;
}

double CostReport::floorSeconds(const cost::Device &device) const {
  double compute = perStep.tensorFlops16 / device.tensorFlops16 +
                   perStep.tensorFlops32 / device.tensorFlops32;
  return std::max(compute, floorBytes / device.bytesPerSecond);
}

static cost::Operand toOperand(Value v) {
  auto type = cast<MemRefType>(v.getType());
  return {std::vector<int64_t>(type.getShape().begin(), type.getShape().end()),
          dsrt::getElementBytes(type.getElementType())};
}

/// What a gemm's bias gradient adds on the GPU: nothing in cuBLASLt's epilogue; else
/// reduce_sum's kernel after the product (its launches as cudaLaunches counts them), which
/// reads the reduced operand again (its adds, on the vector units, are left out of the
/// FLOPs, which count the matmul).
static void addBiasGradFallback(dsrt::KernelOp kernel, const std::vector<cost::Operand> &ins,
                                CostTotals &t) {
  if (kernel.getKernel() != "gemm" || kernel.getOutputs().size() != 2)
    return;
  auto flag = [&](StringRef name) {
    auto a = dyn_cast_or_null<BoolAttr>(kernel.getAttrs().get(name));
    return a && a.getValue();
  };
  auto alpha = dyn_cast_or_null<FloatAttr>(kernel.getAttrs().get("alpha"));
  auto which = dyn_cast_or_null<StringAttr>(kernel.getAttrs().get("bias_grad"));
  bool reducesA = which && which.getValue() == "a";
  if (::ds::rt::gemmBiasGradInEpilogue(reducesA, flag("trans_a"), flag("trans_b"),
                                       ins[0].elementBytes == 2,
                                       alpha ? alpha.getValueAsDouble() : 1.0))
    return;
  const cost::Operand &x = ins[reducesA ? 0 : 1];
  cost::Operand db = toOperand(kernel.getOutputs()[1]);
  t.launches += cost::cudaLaunches("reduce_sum", {x}, {db});
  t.bytesRead += x.bytes();
  for (const cost::Device &d : cost::devices())
    t.seconds[std::string(d.name)] += x.bytes() / d.bytesPerSecond;
}

static CostTotals costKernel(dsrt::KernelOp kernel) {
  std::vector<cost::Operand> ins, outs;
  for (Value v : kernel.getInputs())
    ins.push_back(toOperand(v));
  for (Value v : kernel.getOutputs())
    outs.push_back(toOperand(v));
  cost::KernelCost c = cost::costOf(kernel.getKernel().str(), ins, outs);
  // A fused program costs its formula's FLOP per element once per instruction.
  if (auto program = dyn_cast_or_null<DenseI64ArrayAttr>(kernel.getAttrs().get("program"));
      program && kernel.getKernel() == "fused_elementwise")
    c.flops *= double(program.size() / ::ds::rt::fused::kFields);
  bool sixteenBit = !ins.empty() && ins[0].elementBytes == 2;
  CostTotals t;
  t.launches = c.launches;
  t.flops = c.flops;
  if (c.unit == cost::Unit::TensorCore)
    (sixteenBit ? t.tensorFlops16 : t.tensorFlops32) = c.flops;
  t.bytesRead = c.bytesRead;
  t.bytesWritten = c.bytesWritten;
  for (const cost::Device &d : cost::devices())
    t.seconds[std::string(d.name)] = cost::rooflineSeconds(c, sixteenBit, d);
  addBiasGradFallback(kernel, ins, t);
  return t;
}

FailureOr<CostReport> mlir::ds::computeCostReport(ModuleOp planned) {
  auto memory = computeMemoryBreakdown(planned);
  if (failed(memory))
    return failure();
  CostReport report;
  if (auto acc = planned->getAttrOfType<IntegerAttr>("ds.gradient_accumulation_steps"))
    report.accumulation = std::max<int64_t>(1, acc.getInt());
  for (auto func : planned.getOps<func::FuncOp>()) {
    std::optional<dsrt::ProgramRole> role = dsrt::getProgramRole(func);
    if (!role)
      continue;
    ProgramCosts program;
    program.name = func.getSymName().str();
    program.role = dsrt::stringifyProgramRole(*role).str();
    program.timesPerStep =
        *role == dsrt::ProgramRole::micro_step ? report.accumulation
        : *role == dsrt::ProgramRole::apply_step || *role == dsrt::ProgramRole::inference
            ? 1
            : 0;
    func.walk([&](dsrt::KernelOp kernel) {
      if (kernel.getStream() == dsrt::Stream::io ||
          kernel.getStream() == dsrt::Stream::host)
        return;
      CostTotals t = costKernel(kernel);
      program.total.add(t, 1);
      program.byKernel[kernel.getKernel().str()].add(t, 1);
    });
    report.perStep.add(program.total, double(program.timesPerStep));
    for (const auto &[name, t] : program.byKernel)
      report.byKernelPerStep[name].add(t, double(program.timesPerStep));
    report.programs.push_back(std::move(program));
  }
  // The floor reads or writes each byte of model state once (parameters, frozen buffers,
  // gradients, optimizer state) and the activations of each micro-step once: the planned
  // arena's peak, an upper bound of what the forward saves for the backward.
  const MemoryBreakdown &m = *memory;
  report.floorBytes =
      double(m.parameters + m.frozen + m.gradients + m.optimizer + m.hostState) +
      double(report.accumulation) * double(m.peak);
  return report;
}

static std::string formatCount(double v, StringRef unit) {
  const char *prefixes[] = {"", "K", "M", "G", "T", "P"};
  int i = 0;
  while (std::abs(v) >= 1000 && i < 5) {
    v /= 1000;
    ++i;
  }
  return llvm::formatv("{0:F2} {1}{2}", v, prefixes[i], unit).str();
}

static std::string formatSeconds(double s) {
  if (s >= 1)
    return llvm::formatv("{0:F3} s", s).str();
  if (s >= 1e-3)
    return llvm::formatv("{0:F3} ms", s * 1e3).str();
  return llvm::formatv("{0:F1} us", s * 1e6).str();
}

void mlir::ds::printCostReport(const CostReport &report, const cost::Device &device,
                               bool json, llvm::raw_ostream &os) {
  if (json) {
    llvm::json::OStream j(os, 2);
    auto totals = [&](const CostTotals &t) {
      j.attribute("launches", t.launches);
      j.attribute("flops", t.flops);
      j.attribute("tensor_core_flops", t.tensorFlops());
      j.attribute("bytes_read", t.bytesRead);
      j.attribute("bytes_written", t.bytesWritten);
    };
    auto byDevice = [&](StringRef key, auto seconds) {
      j.attributeObject(key, [&] {
        for (const cost::Device &d : cost::devices())
          j.attribute(d.name, seconds(d));
      });
    };
    j.object([&] {
      j.attribute("gradient_accumulation_steps", report.accumulation);
      j.attribute("launches_per_step", report.perStep.launches);
      j.attribute("flops_per_step", report.perStep.flops);
      j.attribute("tensor_core_flops_per_step", report.perStep.tensorFlops());
      j.attribute("bytes_per_step", report.perStep.bytes());
      j.attribute("floor_bytes_per_step", report.floorBytes);
      byDevice("estimated_step_s",
               [&](const cost::Device &d) { return report.perStep.estimatedSeconds(d); });
      byDevice("floor_step_s",
               [&](const cost::Device &d) { return report.floorSeconds(d); });
      j.attribute("launch_overhead_s", device.launchSeconds);
      j.attributeArray("programs", [&] {
        for (const ProgramCosts &p : report.programs)
          j.object([&] {
            j.attribute("name", p.name);
            j.attribute("role", p.role);
            j.attribute("times_per_step", p.timesPerStep);
            totals(p.total);
            j.attributeObject("kernels", [&] {
              for (const auto &[name, t] : p.byKernel)
                j.attributeObject(name, [&] { totals(t); });
            });
          });
      });
    });
    os << "\n";
    return;
  }
  os << "Cost report (roofline on " << device.name << ": "
     << formatCount(device.tensorFlops16, "FLOP/s") << " bf16 dense, "
     << formatCount(device.bytesPerSecond, "B/s") << ", "
     << formatSeconds(device.launchSeconds) << " per launch)\n";
  for (const ProgramCosts &p : report.programs)
    os << llvm::formatv("  program {0,-12} ({1}, x{2} per step): {3} launches, {4}, "
                        "{5} read, {6} written\n",
                        p.name, p.role, p.timesPerStep, p.total.launches,
                        formatCount(p.total.flops, "FLOP"),
                        formatCount(p.total.bytesRead, "B"),
                        formatCount(p.total.bytesWritten, "B"));
  os << "\nPer step, by kernel:\n";
  os << llvm::formatv("  {0,-32} {1,8} {2,14} {3,14} {4,12}\n", "kernel", "launches",
                      "FLOP", "bytes", "est. time");
  std::vector<std::pair<std::string, const CostTotals *>> rows;
  for (const auto &[name, t] : report.byKernelPerStep)
    if (t.launches)
      rows.push_back({name, &t});
  std::sort(rows.begin(), rows.end(), [&](const auto &a, const auto &b) {
    return a.second->estimatedSeconds(device) > b.second->estimatedSeconds(device);
  });
  for (const auto &[name, t] : rows)
    os << llvm::formatv("  {0,-32} {1,8} {2,14} {3,14} {4,12}\n", name, t->launches,
                        formatCount(t->flops, "FLOP"), formatCount(t->bytes(), "B"),
                        formatSeconds(t->estimatedSeconds(device)));
  const CostTotals &s = report.perStep;
  os << llvm::formatv("  {0,-32} {1,8} {2,14} {3,14} {4,12}\n", "total", s.launches,
                      formatCount(s.flops, "FLOP"), formatCount(s.bytes(), "B"),
                      formatSeconds(s.estimatedSeconds(device)));
  os << "\nStep time on " << device.name << ": estimated "
     << formatSeconds(s.estimatedSeconds(device)) << " (launch overhead "
     << formatSeconds(double(s.launches) * device.launchSeconds) << "), floor "
     << formatSeconds(report.floorSeconds(device)) << " (tensor-core FLOPs "
     << formatCount(s.tensorFlops(), "FLOP") << " at peak; one pass over model state and "
     << "activations: " << formatCount(report.floorBytes, "B") << ")\n";
  os << llvm::formatv("Modeled bytes / floor bytes: {0:F2}\n",
                      report.floorBytes > 0 ? s.bytes() / report.floorBytes : 0.0);
}
