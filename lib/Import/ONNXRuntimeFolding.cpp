// General constant folding at import: a node whose inputs are all constants is evaluated
// with the CPU runtime's kernels.
//
// The node is converted as usual, but into a scratch block; every ds op there is then run
// by the kernel the plan would run it with (the catalogue's CPU implementation, given the
// attributes --ds-convert-to-runtime writes), and the node's outputs become constants.
// One implementation of each op: the specific folders (ONNXConstantFolding.cpp and the
// shape ops) stay only for the ops they fold faster or on types the kernels lack.
#include "ONNXOpTable.h"

#include "ds/Conversion/RuntimeKernelAttrs.h"
#include "ds/Target/PlanAttribute.h"

#include "ds/runtime/Error.h"
#include "ds/runtime/KernelCatalogue.h"
#include "ds/runtime/Kernels.h"

#include "llvm/ADT/APFloat.h"

#include <cstring>

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;
namespace rt = ::ds::rt;

namespace {
/// Inputs of more elements than this (a large splat, expanded) are not evaluated.
constexpr int64_t kMaxEvaluatedInputElements = 1 << 20;

/// A constant laid out as a runtime buffer.
struct HostBuffer {
  rt::DType dtype = rt::DType::DTYPE_UNSPECIFIED;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  std::vector<uint8_t> bytes;
  rt::TensorType type() const {
    rt::TensorType t;
    t.dtype = dtype;
    t.shape = shape;
    t.numel = numel;
    t.bytes = bytes.size();
    return t;
  }
  rt::Tensor tensor() { return rt::Tensor{dtype, &shape, numel, bytes.data()}; }
};

std::optional<rt::DType> dtypeOf(Type t) {
  if (t.isF32())
    return rt::DType::F32;
  if (t.isF64())
    return rt::DType::F64;
  if (t.isF16())
    return rt::DType::F16;
  if (t.isBF16())
    return rt::DType::BF16;
  if (t.isInteger(64))
    return rt::DType::I64;
  if (t.isInteger(32))
    return rt::DType::I32;
  if (t.isInteger(1))
    return rt::DType::I1;
  return std::nullopt;
}

HostBuffer allocate(rt::DType dtype, ArrayRef<int64_t> shape) {
  HostBuffer b;
  b.dtype = dtype;
  b.shape.assign(shape.begin(), shape.end());
  b.numel = product(shape);
  b.bytes.assign(size_t(b.numel) * rt::dtypeSize(dtype), 0);
  return b;
}

template <typename T> void store(HostBuffer &b, int64_t i, T v) {
  std::memcpy(b.bytes.data() + size_t(i) * sizeof(T), &v, sizeof(T));
}
template <typename T> T load(const HostBuffer &b, int64_t i) {
  T v;
  std::memcpy(&v, b.bytes.data() + size_t(i) * sizeof(T), sizeof(T));
  return v;
}

/// The bits of `v` in a 16-bit float semantics (round to nearest even).
uint16_t halfBits(double v, const llvm::fltSemantics &sem) {
  llvm::APFloat f(v);
  bool lost;
  f.convert(sem, llvm::APFloat::rmNearestTiesToEven, &lost);
  return uint16_t(f.bitcastToAPInt().getZExtValue());
}
double fromHalfBits(uint16_t bits, const llvm::fltSemantics &sem) {
  llvm::APFloat f(sem, llvm::APInt(16, bits));
  bool lost;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven, &lost);
  return f.convertToDouble();
}

HostBuffer toBuffer(const ConstTensor &c, rt::DType dtype) {
  HostBuffer b = allocate(dtype, c.shape);
  for (int64_t i = 0; i < b.numel; ++i) {
    switch (dtype) {
    case rt::DType::F32:
      store<float>(b, i, float(c.realAt(i)));
      break;
    case rt::DType::F64:
      store<double>(b, i, c.realAt(i));
      break;
    case rt::DType::F16:
      store<uint16_t>(b, i, halfBits(c.realAt(i), llvm::APFloat::IEEEhalf()));
      break;
    case rt::DType::BF16:
      store<uint16_t>(b, i, halfBits(c.realAt(i), llvm::APFloat::BFloat()));
      break;
    case rt::DType::I64:
      store<int64_t>(b, i, c.intAt(i));
      break;
    case rt::DType::I32:
      store<int32_t>(b, i, int32_t(c.intAt(i)));
      break;
    case rt::DType::I1:
      store<uint8_t>(b, i, c.intAt(i) != 0);
      break;
    default:
      break;
    }
  }
  return b;
}

ConstTensor fromBuffer(Type elem, const HostBuffer &b) {
  ConstTensor c = ConstTensor::make(elem, b.shape);
  for (int64_t i = 0; i < b.numel; ++i) {
    switch (b.dtype) {
    case rt::DType::F32:
      c.push(load<float>(b, i));
      break;
    case rt::DType::F64:
      c.push(load<double>(b, i));
      break;
    case rt::DType::F16:
      c.push(fromHalfBits(load<uint16_t>(b, i), llvm::APFloat::IEEEhalf()));
      break;
    case rt::DType::BF16:
      c.push(fromHalfBits(load<uint16_t>(b, i), llvm::APFloat::BFloat()));
      break;
    case rt::DType::I64:
      c.pushInt(load<int64_t>(b, i));
      break;
    case rt::DType::I32:
      c.pushInt(load<int32_t>(b, i));
      break;
    case rt::DType::I1:
      c.pushInt(load<uint8_t>(b, i) != 0);
      break;
    default:
      break;
    }
  }
  return c;
}

/// A `ds.constant`'s value as a ConstTensor.
std::optional<ConstTensor> fromAttr(ElementsAttr attr) {
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense)
    return std::nullopt;
  auto type = cast<ShapedType>(dense.getType());
  ConstTensor c = ConstTensor::make(type.getElementType(), type.getShape());
  if (dense.isSplat()) {
    c.splat = true;
    if (c.isFloat())
      c.push(dense.getSplatValue<APFloat>().convertToDouble());
    else if (type.getElementType().isInteger(1))
      c.pushInt(dense.getSplatValue<bool>());
    else
      c.pushInt(dense.getSplatValue<APInt>().getSExtValue());
    return c;
  }
  if (c.isFloat())
    for (APFloat v : dense.getValues<APFloat>())
      c.push(v.convertToDouble());
  else if (type.getElementType().isInteger(1))
    for (bool v : dense.getValues<bool>())
      c.pushInt(v);
  else
    for (APInt v : dense.getValues<APInt>())
      c.pushInt(v.getSExtValue());
  return c;
}

/// Runs one ds op on known operands with its CPU kernel; nullopt when it cannot be
/// evaluated here (no CPU kernel, random or stateful, too large, rejected by the kernel).
std::optional<SmallVector<ConstTensor>> evaluate(Operation &op,
                                                 ArrayRef<const ConstTensor *> operands) {
  for (Value r : op.getResults()) {
    auto t = dyn_cast<RankedTensorType>(r.getType());
    if (!t || !t.hasStaticShape() || !foldable(t.getShape(), /*splat=*/false))
      return std::nullopt;
  }
  // Same bytes, another shape: what the lowering makes a view.
  if (isa<ReshapeOp, SqueezeOp, UnsqueezeOp, IdentityOp>(op))
    return SmallVector<ConstTensor>{
        withShape(*operands[0], typeOf(op.getResult(0)).getShape())};
  if (!isa<DSDialect>(op.getDialect()))
    return std::nullopt;
  StringRef name = op.getName().stripDialect();
  // Dropout draws random numbers: its result is not a constant.
  if (name == "dropout")
    return std::nullopt;
  const rt::KernelInfo *info = rt::findKernelInfo(name.str());
  const rt::KernelSignature *sig = rt::findKernelSignature(name.str());
  rt::RunFn run = rt::findCpuKernel(name.str());
  if (!info || !sig || !run || info->stream != rt::StreamClass::Compute)
    return std::nullopt;

  ::ds::plan::Instruction ins;
  ins.set_kernel(name.str());
  for (NamedAttribute a : getRuntimeKernelAttrs(&op, *info)) {
    // Compiler annotations (ds.loss, ...) are carried by the plan, never read by kernels.
    if (rt::isKernelAnnotation(a.getName().str()))
      continue;
    // An attribute without a plan encoding is the lowering's error, reported there.
    ScopedDiagnosticHandler quiet(op.getContext(),
                                  [](Diagnostic &) { return success(); });
    if (failed(convertPlanAttribute(a.getValue(),
                                    (*ins.mutable_attrs())[a.getName().str()],
                                    op.getLoc(), a.getName())))
      return std::nullopt;
  }
  std::vector<HostBuffer> in, out;
  for (auto [i, c] : llvm::enumerate(operands)) {
    std::optional<rt::DType> dt = dtypeOf(c->elementType);
    if (!dt || c->numElements() > kMaxEvaluatedInputElements)
      return std::nullopt;
    in.push_back(toBuffer(*c, *dt));
    ins.add_inputs(uint32_t(i));
  }
  for (Value r : op.getResults()) {
    auto t = typeOf(r);
    std::optional<rt::DType> dt = dtypeOf(t.getElementType());
    if (!dt)
      return std::nullopt;
    out.push_back(allocate(*dt, t.getShape()));
    ins.add_outputs(uint32_t(in.size() + out.size() - 1));
  }
  try {
    std::vector<rt::TensorType> inTypes, outTypes;
    for (HostBuffer &b : in)
      inTypes.push_back(b.type());
    for (HostBuffer &b : out)
      outTypes.push_back(b.type());
    rt::CheckContext check{ins, {}, {}};
    for (rt::TensorType &t : inTypes)
      check.in.push_back(&t);
    for (rt::TensorType &t : outTypes)
      check.out.push_back(&t);
    rt::KernelAttrs attrs = rt::checkInstruction(*sig, check);
    rt::ExecContext ctx;
    rt::KernelCall call{ins, {}, {}, ctx, attrs};
    for (HostBuffer &b : in)
      call.in.push_back(b.tensor());
    for (HostBuffer &b : out)
      call.out.push_back(b.tensor());
    run(call);
  } catch (const rt::Error &) {
    // The kernel rejects what the plan's load would reject too: left to run time.
    return std::nullopt;
  }
  SmallVector<ConstTensor> results;
  for (auto [r, b] : llvm::zip(op.getResults(), out))
    results.push_back(fromBuffer(typeOf(r).getElementType(), b));
  return results;
}
} // namespace

LogicalResult mlir::ds::onnx_import::foldWithRuntimeKernels(GraphImporter &imp,
                                                            const onnx::NodeProto &n,
                                                            ConvertFn convert,
                                                            bool &folded) {
  folded = false;
  // What the conversion may change: the cached values of the inputs, the outputs, the
  // dropout counter. Restored when the node is not folded.
  SmallVector<std::pair<std::string, std::optional<ImportedValue>>> saved;
  auto save = [&](const std::string &name) {
    if (name.empty())
      return;
    auto it = imp.values.find(name);
    saved.push_back(
        {name, it == imp.values.end() ? std::nullopt : std::optional(it->second)});
  };
  for (const std::string &in : n.input())
    save(in);
  for (const std::string &out : n.output())
    save(out);
  int64_t numDropouts = imp.numDropouts;
  auto restore = [&]() {
    for (auto &[name, v] : saved) {
      if (v)
        imp.values[name] = *v;
      else
        imp.values.erase(name);
    }
    imp.numDropouts = numDropouts;
  };

  Block scratch;
  LogicalResult converted = success();
  {
    OpBuilder::InsertionGuard guard(imp.builder);
    imp.builder.setInsertionPointToEnd(&scratch);
    converted = convert(imp, n);
  }
  // Evaluate the scratch ops in order.
  llvm::DenseMap<Value, ConstTensor> known;
  bool evaluated = succeeded(converted);
  for (Operation &op : scratch) {
    if (!evaluated)
      break;
    if (auto c = dyn_cast<ConstantOp>(op)) {
      std::optional<ConstTensor> t = fromAttr(c.getValue());
      if (!t) {
        evaluated = false;
        break;
      }
      known.try_emplace(c.getResult(), std::move(*t));
      continue;
    }
    SmallVector<const ConstTensor *> operands;
    for (Value v : op.getOperands()) {
      auto it = known.find(v);
      if (it == known.end()) {
        evaluated = false;
        break;
      }
      operands.push_back(&it->second);
    }
    if (!evaluated)
      break;
    std::optional<SmallVector<ConstTensor>> results = evaluate(op, operands);
    if (!results) {
      evaluated = false;
      break;
    }
    for (auto [r, t] : llvm::zip(op.getResults(), *results))
      known.try_emplace(r, std::move(t));
  }
  // The node's outputs as constants.
  SmallVector<std::optional<ConstTensor>> outputs;
  for (int i = 0, e = n.output_size(); evaluated && i < e; ++i) {
    auto it = n.output(i).empty() ? imp.values.end() : imp.values.find(n.output(i));
    if (it == imp.values.end()) {
      outputs.push_back(std::nullopt);
      continue;
    }
    const ImportedValue &v = it->second;
    if (v.constant) {
      outputs.push_back(*v.constant);
      continue;
    }
    auto k = v.value ? known.find(v.value) : known.end();
    if (k == known.end()) {
      evaluated = false;
      break;
    }
    outputs.push_back(k->second);
  }
  // The scratch ops go; nothing outside refers to them once the values are restored.
  restore();
  for (Operation &op : llvm::reverse(scratch))
    op.dropAllUses();
  while (!scratch.empty())
    scratch.back().erase();
  if (failed(converted))
    return failure();
  if (!evaluated)
    return success();
  for (auto [i, c] : llvm::enumerate(outputs))
    if (c)
      imp.setOutput(int(i), std::move(*c));
  folded = true;
  return success();
}
