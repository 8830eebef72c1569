// Who reads and writes a runtime-dialect buffer, and where a kernel may move.
#include "BufferAccesses.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::dsrt {

bool onDevice(Value v, Operation *from) {
  Value root = getAliasRoot(v);
  auto param = root.getDefiningOp<ParamOp>();
  if (!param) {
    auto alloc = root.getDefiningOp<AllocOp>();
    return !alloc || alloc.getSpace() == MemorySpace::device;
  }
  auto global = SymbolTable::lookupNearestSymbolFrom<GlobalOp>(from, param.getNameAttr());
  return global && global.getSpace() == MemorySpace::device;
}

std::optional<Accesses> transientAccesses(Value v) {
  Value root = getAliasRoot(v);
  auto alloc = root.getDefiningOp<AllocOp>();
  if (!alloc || alloc.getSpace() != MemorySpace::device)
    return std::nullopt;
  Accesses acc;
  SmallVector<Value> work{root};
  while (!work.empty()) {
    Value cur = work.pop_back_val();
    for (OpOperand &use : cur.getUses()) {
      Operation *owner = use.getOwner();
      if (auto view = dyn_cast<ViewOp>(owner)) {
        acc.views.push_back(view);
        work.push_back(view.getResult());
        continue;
      }
      auto k = dyn_cast<KernelOp>(owner);
      if (!k)
        return std::nullopt;
      auto [begin, length] = k.getODSOperandIndexAndLength(1); // the outputs
      unsigned n = use.getOperandNumber();
      SmallVector<KernelOp> &list =
          n >= begin && n < begin + length ? acc.writers : acc.readers;
      if (!llvm::is_contained(list, k))
        list.push_back(k);
    }
  }
  return acc;
}

bool unwrittenBetween(Operation *from, Operation *to, ValueRange values) {
  SmallVector<AliasKey> keys;
  for (Value v : values)
    keys.push_back(getAliasKey(v));
  for (Operation *op = from->getNextNode(); op && op != to; op = op->getNextNode())
    if (auto k = dyn_cast<KernelOp>(op))
      for (Value w : k.getOutputs())
        if (llvm::is_contained(keys, getAliasKey(w)))
          return false;
  return true;
}

bool isPrivateIntermediate(Value v, KernelOp writer, KernelOp reader) {
  std::optional<Accesses> acc = transientAccesses(v);
  return acc && acc->writers.size() == 1 && acc->writers[0] == writer &&
         acc->readers.size() == 1 && acc->readers[0] == reader &&
         writer->getBlock() == reader->getBlock() && writer->isBeforeInBlock(reader);
}

void eraseIfDead(Value v) {
  Value root = getAliasRoot(v);
  std::optional<Accesses> acc = transientAccesses(root);
  if (!acc || !acc->writers.empty() || !acc->readers.empty())
    return;
  for (ViewOp view : llvm::reverse(acc->views))
    if (view->use_empty())
      view.erase();
  if (root.use_empty())
    root.getDefiningOp()->erase();
}

Value reshaped(Value v, ArrayRef<int64_t> shape, Operation *at) {
  MemRefType t = memrefOf(v);
  if (t.getShape() == shape)
    return v;
  OpBuilder b(at);
  return ViewOp::create(b, at->getLoc(), MemRefType::get(shape, t.getElementType()), v);
}

bool untouchedBetween(Operation *from, Operation *to, Value v) {
  AliasKey key = getAliasKey(v);
  for (Operation *op = from->getNextNode(); op && op != to; op = op->getNextNode())
    if (auto k = dyn_cast<KernelOp>(op))
      for (Value w : k->getOperands())
        if (getAliasKey(w) == key)
          return false;
  return true;
}

bool definableBefore(Value v, Operation *at) {
  Operation *def = v.getDefiningOp();
  if (!def || def->isBeforeInBlock(at))
    return true;
  return def->getBlock() == at->getBlock() && isa<AllocOp, ParamOp>(def);
}
void hoistBefore(Value v, Operation *at) {
  Operation *def = v.getDefiningOp();
  if (def && def->getBlock() == at->getBlock() && at->isBeforeInBlock(def))
    def->moveBefore(at);
}

bool sameBytes(Value a, Value b) {
  if (a == b)
    return true;
  return a.getDefiningOp<ParamOp>() && b.getDefiningOp<ParamOp>() &&
         getAliasKey(a) == getAliasKey(b);
}

GlobalOp wholeGlobalOf(Value v, SymbolTable &symbols, bool throughViews) {
  auto param = (throughViews ? getAliasRoot(v) : v).getDefiningOp<ParamOp>();
  if (!param)
    return nullptr;
  auto global = symbols.lookup<GlobalOp>(param.getName());
  if (!global || global.getMemRefType() != param.getType())
    return nullptr;
  return global;
}

FailureOr<llvm::DenseSet<Operation *>> globalsInSpans(ModuleOp module, SymbolTable &symbols,
                                                      int64_t alignment) {
  if (alignment <= 0 || !llvm::isPowerOf2_64(uint64_t(alignment)))
    return module.emitError("alignment must be a power of two, got ") << alignment;
  llvm::DenseSet<Operation *> spanned;
  module.walk([&](SpanOp span) {
    for (Attribute a : span.getGlobals())
      if (auto global = symbols.lookup<GlobalOp>(cast<FlatSymbolRefAttr>(a).getValue()))
        spanned.insert(global.getOperation());
  });
  return spanned;
}

bool writesPositiveZeros(KernelOp k) {
  if ((k.getKernel() != "constant" && k.getKernel() != "fill") || !k.getInputs().empty() ||
      k.getOutputs().size() != 1 || k.getStream() != Stream::compute)
    return false;
  Attribute a = k.getAttrs().get("value");
  std::optional<APFloat> v;
  if (auto f = dyn_cast_or_null<FloatAttr>(a))
    v = f.getValue();
  else if (auto d = dyn_cast_or_null<DenseFPElementsAttr>(a); d && d.isSplat())
    v = d.getSplatValue<APFloat>();
  return v && v->isPosZero();
}

bool writesZeros(KernelOp k, int depth) {
  if (writesPositiveZeros(k))
    return true;
  if (depth > 4 || k.getKernel() != "copy" || !k.getAttrs().empty() ||
      k.getInputs().size() != 1 || k.getOutputs().size() != 1 ||
      k.getInputs()[0].getType() != k.getOutputs()[0].getType())
    return false;
  Value src = k.getInputs()[0];
  auto srcParam = src.getDefiningOp<ParamOp>();
  FlatSymbolRefAttr global = srcParam ? srcParam.getNameAttr() : FlatSymbolRefAttr();
  if (!global && !src.getDefiningOp<AllocOp>())
    return false;
  for (Operation *op = k->getPrevNode(); op; op = op->getPrevNode()) {
    auto w = dyn_cast<KernelOp>(op);
    if (!w)
      continue;
    bool writes = llvm::any_of(w.getOutputs(), [&](Value v) {
      if (!global)
        return getAliasRoot(v) == src;
      auto param = getAliasRoot(v).getDefiningOp<ParamOp>();
      return param && param.getNameAttr() == global;
    });
    if (writes)
      return w.getOutputs().size() == 1 && w.getOutputs()[0].getType() == src.getType() &&
             writesZeros(w, depth + 1);
  }
  return false;
}

} // namespace mlir::dsrt
