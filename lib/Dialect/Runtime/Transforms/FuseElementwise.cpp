// Groups trees of elementwise kernels whose intermediates have no other reader into one
// fused_elementwise kernel each.
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"
#include "RegisterDtype.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"

#include "ds/runtime/Error.h"
#include "ds/runtime/FusedProgram.h"

#include <optional>

#define DEBUG_TYPE "ds-fuse-elementwise"

namespace mlir::dsrt {
#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;
namespace fused = ::ds::rt::fused;

namespace {

MemRefType memrefOf(Value v) { return cast<MemRefType>(v.getType()); }

/// A scalar float constant's value, when it is exactly representable in its dtype.
std::optional<float> scalarConstant(KernelOp k) {
  StringRef name = k.getKernel();
  if ((name != "constant" && name != "fill") || !k.getInputs().empty() ||
      k.getOutputs().size() != 1)
    return std::nullopt;
  MemRefType t = memrefOf(k.getOutputs()[0]);
  auto dtype = registerDtype(t.getElementType());
  if (t.getNumElements() != 1 || !dtype || *dtype == ::ds::plan::I1)
    return std::nullopt;
  Attribute a = k.getAttrs().get("value");
  std::optional<APFloat> v;
  if (auto f = dyn_cast_or_null<FloatAttr>(a))
    v = f.getValue();
  else if (auto d = dyn_cast_or_null<DenseElementsAttr>(a);
           d && d.isSplat() && isa<FloatType>(d.getElementType()))
    v = d.getSplatValue<APFloat>();
  if (!v)
    return std::nullopt;
  bool losesInfo = false;
  APFloat inType = *v;
  inType.convert(cast<FloatType>(t.getElementType()).getFloatSemantics(),
                 APFloat::rmNearestTiesToEven, &losesInfo);
  if (losesInfo)
    return std::nullopt;
  inType.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &losesInfo);
  return inType.convertToFloat();
}

/// The instruction a kernel becomes (operands not yet set), or nullopt when it is not an
/// elementwise kernel over register dtypes.
std::optional<fused::Instruction> instructionFor(KernelOp k) {
  if (k.getStream() != Stream::compute || k.getOutputs().size() != 1)
    return std::nullopt;
  auto out = registerDtype(memrefOf(k.getOutputs()[0]).getElementType());
  if (!out)
    return std::nullopt;
  for (Value v : k.getInputs())
    if (!registerDtype(memrefOf(v).getElementType()))
      return std::nullopt;
  fused::Instruction ins;
  ins.dtype = *out;
  if (std::optional<float> c = scalarConstant(k)) {
    ins.op = fused::Const;
    ins.a = int32_t(uint32_t(fused::constBits(*c)));
    return ins;
  }
  StringRef name = k.getKernel();
  bool tanh = false;
  if (name == "gelu" || name == "gelu_grad") {
    auto approx = dyn_cast_or_null<StringAttr>(k.getAttrs().get("approximate"));
    tanh = approx && approx.getValue() == "tanh";
  }
  for (int op = 0; op < fused::kNumOps; ++op) {
    if (op == fused::Const || name != fused::opName(op))
      continue;
    ins.op = fused::Op(op);
    if (tanh)
      ins.op = ins.op == fused::Gelu ? fused::GeluTanh : fused::GeluGradTanh;
    if (int64_t(k.getInputs().size()) != fused::opArity(ins.op))
      return std::nullopt;
    // The typing rules of the program (e.g. comparisons of float operands only).
    std::vector<::ds::plan::DType> inputs;
    for (Value v : k.getInputs())
      inputs.push_back(*registerDtype(memrefOf(v).getElementType()));
    fused::Instruction probe = ins;
    probe.a = 0;
    probe.b = inputs.size() > 1 ? 1 : 0;
    probe.c = inputs.size() > 2 ? 2 : 0;
    try {
      fused::decodeProgram(fused::encodeProgram({probe}), inputs, ins.dtype);
    } catch (const ::ds::rt::Error &) {
      return std::nullopt;
    }
    return ins;
  }
  return std::nullopt;
}


struct Group {
  KernelOp root;
  SmallVector<KernelOp> members; // root first
  llvm::SmallPtrSet<Operation *, 8> memberSet;
};

class Fuser {
public:
  explicit Fuser(Block &block) : block(block) {}

  /// Forms the groups (last kernels first) and rewrites them; returns kernels folded.
  std::pair<int64_t, int64_t> run() {
    SmallVector<KernelOp> kernels;
    for (Operation &op : block)
      if (auto k = dyn_cast<KernelOp>(op))
        kernels.push_back(k);
    int64_t groups = 0, folded = 0;
    for (KernelOp k : llvm::reverse(kernels)) {
      if (assigned.contains(k) || !instructionFor(k) || fused::opArity(instructionFor(k)->op) == 0)
        continue;
      Group g = grow(k);
      if (g.members.size() < 2)
        continue;
      for (KernelOp m : g.members)
        assigned.insert(m);
      rewrite(g);
      ++groups;
      folded += int64_t(g.members.size());
    }
    return {groups, folded};
  }

private:
  Block &block;
  llvm::SmallPtrSet<Operation *, 32> assigned;

  /// The one kernel that writes `v`, when v is a device transient written by it and read
  /// only by members of the group (once or more).
  KernelOp internalProducer(Value v, const Group &g) {
    auto alloc = v.getDefiningOp<AllocOp>();
    if (!alloc || alloc.getSpace() != MemorySpace::device)
      return {};
    KernelOp writer;
    SmallVector<KernelOp> readers;
    for (OpOperand &use : v.getUses()) {
      auto k = dyn_cast<KernelOp>(use.getOwner());
      if (!k)
        return {}; // a view, or a returned buffer
      auto [begin, length] = k.getODSOperandIndexAndLength(1); // the outputs
      bool isOutput = use.getOperandNumber() >= begin && use.getOperandNumber() < begin + length;
      if (isOutput) {
        if (writer)
          return {};
        writer = k;
      } else if (!g.memberSet.contains(k)) {
        return {};
      } else {
        readers.push_back(k);
      }
    }
    if (!writer || writer->getBlock() != &block || g.memberSet.contains(writer))
      return {};
    for (KernelOp r : readers)
      if (!writer->isBeforeInBlock(r))
        return {};
    return writer;
  }

  /// Whether moving `p` down to the root keeps every value it reads: no other kernel in
  /// between writes them, and it reads the group's output only as the whole buffer.
  bool canMoveToRoot(KernelOp p, const Group &g) {
    KernelOp root = g.root;
    Value out = root.getOutputs()[0];
    AliasKey outKey = getAliasKey(out);
    SmallVector<AliasKey> reads;
    for (Value v : p.getInputs()) {
      AliasKey key = getAliasKey(v);
      if (key == outKey && v != out &&
          !(v.getType() == out.getType() && v.getDefiningOp<ParamOp>() &&
            out.getDefiningOp<ParamOp>()))
        return false;
      reads.push_back(key);
    }
    for (Operation *op = p->getNextNode(); op && op != root.getOperation();
         op = op->getNextNode()) {
      auto k = dyn_cast<KernelOp>(op);
      if (!k || g.memberSet.contains(op))
        continue;
      for (Value w : k.getOutputs())
        if (llvm::is_contained(reads, getAliasKey(w)))
          return false;
    }
    return true;
  }

  Group grow(KernelOp root) {
    Group g;
    g.root = root;
    g.members.push_back(root);
    g.memberSet.insert(root);
    MemRefType shape = memrefOf(root.getOutputs()[0]);
    // External inputs so far (bounded by kMaxInputs).
    llvm::SetVector<Value> external(root.getInputs().begin(), root.getInputs().end());
    for (size_t i = 0; i < g.members.size(); ++i) {
      KernelOp m = g.members[i];
      for (Value v : m.getInputs()) {
        if (g.members.size() >= size_t(fused::kMaxInstructions))
          break;
        KernelOp p = internalProducer(v, g);
        if (!p || assigned.contains(p) || g.memberSet.contains(p))
          continue;
        std::optional<fused::Instruction> ins = instructionFor(p);
        if (!ins)
          continue;
        MemRefType pt = memrefOf(p.getOutputs()[0]);
        if (ins->op != fused::Const && pt.getShape() != shape.getShape())
          continue;
        // Its inputs join the external set; v leaves it.
        llvm::SetVector<Value> grown = external;
        grown.remove(v);
        for (Value in : p.getInputs())
          grown.insert(in);
        if (grown.size() > size_t(fused::kMaxInputs) || !canMoveToRoot(p, g))
          continue;
        external = std::move(grown);
        g.members.push_back(p);
        g.memberSet.insert(p);
      }
    }
    return g;
  }

  void rewrite(Group &g) {
    // Members in program order: producers before their readers.
    SmallVector<KernelOp> order(g.members.begin(), g.members.end());
    llvm::sort(order, [](KernelOp a, KernelOp b) { return a->isBeforeInBlock(b); });
    llvm::SetVector<Value> inputs;
    llvm::DenseMap<Value, int32_t> producedBy; // intermediate -> instruction index
    for (KernelOp m : order)
      for (Value v : m.getInputs())
        if (!llvm::any_of(order, [&](KernelOp p) { return p.getOutputs()[0] == v; }))
          inputs.insert(v);
    int32_t numInputs = int32_t(inputs.size());
    std::vector<fused::Instruction> program;
    for (KernelOp m : order) {
      fused::Instruction ins = *instructionFor(m);
      if (ins.op != fused::Const) {
        int32_t *operands[3] = {&ins.a, &ins.b, &ins.c};
        for (auto [j, v] : llvm::enumerate(m.getInputs())) {
          auto it = producedBy.find(v);
          *operands[j] = it != producedBy.end() ? numInputs + it->second
                                                : int32_t(llvm::find(inputs, v) - inputs.begin());
        }
      }
      producedBy[m.getOutputs()[0]] = int32_t(program.size());
      program.push_back(ins);
    }
    OpBuilder b(g.root);
    Value out = g.root.getOutputs()[0];
    auto attrs = b.getDictionaryAttr(
        b.getNamedAttr("program", b.getDenseI64ArrayAttr(fused::encodeProgram(program))));
    SmallVector<Value> ins(inputs.begin(), inputs.end());
    KernelOp::create(b, g.root.getLoc(), b.getStringAttr("fused_elementwise"), ins,
                     ValueRange{out}, attrs, Stream::compute);
    for (KernelOp m : llvm::reverse(order)) {
      Value o = m.getOutputs()[0];
      m.erase();
      if (o != out)
        if (auto alloc = o.getDefiningOp<AllocOp>(); alloc && alloc->use_empty())
          alloc.erase();
    }
  }
};

struct FuseElementwisePass : dsrt::impl::FuseElementwisePassBase<FuseElementwisePass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      for (Block &block : func.getBody()) {
        auto [groups, folded] = Fuser(block).run();
        numGroups += groups;
        numFused += folded;
      }
    }
  }
};
} // namespace
