// Registration, verifiers and size helpers of the `dsrt` dialect.
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include "ds/runtime/KernelCatalogue.h"

using namespace mlir;
using namespace mlir::dsrt;

/// Function attribute: what ds-run does with the program.
static constexpr llvm::StringLiteral kRoleAttr = "dsrt.role";

#include "ds/Dialect/Runtime/IR/RuntimeEnums.cpp.inc"
#include "ds/Dialect/Runtime/IR/RuntimeOpsDialect.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "ds/Dialect/Runtime/IR/RuntimeAttrs.cpp.inc"

void RuntimeDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ds/Dialect/Runtime/IR/RuntimeAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ds/Dialect/Runtime/IR/RuntimeOps.cpp.inc"
      >();
}

LogicalResult RuntimeDialect::verifyOperationAttribute(Operation *op,
                                                       NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kRoleAttr) {
    if (!isa<func::FuncOp>(op) || !isa<ProgramRoleAttr>(attr.getValue()))
      return op->emitError() << "'" << name
                             << "' must be a #dsrt.role on a func.func";
    return success();
  }
  if (name == kLossScaleAttr) {
    auto ref = dyn_cast<FlatSymbolRefAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !ref)
      return op->emitError() << "'" << name
                             << "' must be a symbol reference on a module";
    if (!isa_and_nonnull<GlobalOp>(SymbolTable::lookupSymbolIn(op, ref)))
      return op->emitError() << "'" << name << "' = " << ref
                             << " does not name a dsrt.global";
    return success();
  }
  if (name == kArenaBytesAttr || name == kPersistentBytesAttr ||
      name == kHostBytesAttr || name == kNvmeBytesAttr || name == kPeakBytesAttr ||
      name == kAlignmentAttr || name == kWorldSizeAttr) {
    auto value = dyn_cast<IntegerAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !value || value.getInt() < 0)
      return op->emitError() << "'" << name
                             << "' must be a non-negative integer on a module";
    return success();
  }
  // Other dsrt attributes (dsrt.offset lives on argument dictionaries) are not checked
  // here, so that a pass may add one without touching the dialect.
  return success();
}

std::optional<ProgramRole> mlir::dsrt::getProgramRole(func::FuncOp func) {
  if (auto role = func->getAttrOfType<ProgramRoleAttr>(kRoleAttr))
    return role.getValue();
  return std::nullopt;
}

void mlir::dsrt::setProgramRole(func::FuncOp func, ProgramRole role) {
  func->setAttr(kRoleAttr, ProgramRoleAttr::get(func.getContext(), role));
}

func::FuncOp mlir::dsrt::findProgram(ModuleOp module, ProgramRole role) {
  for (auto func : module.getOps<func::FuncOp>())
    if (getProgramRole(func) == role)
      return func;
  return {};
}

StringRef mlir::dsrt::getRegionBytesAttrName(MemorySpace space) {
  switch (space) {
  case MemorySpace::device:
    return kPersistentBytesAttr;
  case MemorySpace::host:
    return kHostBytesAttr;
  case MemorySpace::nvme:
    return kNvmeBytesAttr;
  }
  llvm_unreachable("unknown memory space");
}

int64_t mlir::dsrt::getElementBytes(Type elementType) {
  if (elementType.isInteger(1))
    return 1;
  return (elementType.getIntOrFloatBitWidth() + 7) / 8;
}

int64_t mlir::dsrt::getByteSize(ShapedType type) {
  return type.getNumElements() * getElementBytes(type.getElementType());
}

LogicalResult AllocOp::verify() {
  if (auto offset = getOffsetAttr(); offset && offset.getInt() < 0)
    return emitOpError("offset must be non-negative, got ") << offset.getInt();
  if (getSpace() == MemorySpace::nvme)
    return emitOpError("a transient buffer lives on the device or the host; NVMe holds "
                       "only module state (dsrt.global)");
  return success();
}

LogicalResult GlobalOp::verify() {
  if ((getTrainable() || getShardOf()) && !getInitializer())
    return emitOpError("only a parameter (with an initializer, `from`) can be "
                       "trainable or sharded");
  if (auto n = getShardOfAttr()) {
    int64_t p = getMemRefType().getNumElements();
    if (p < 1 || p > n.getInt())
      return emitOpError("a shard of ")
             << n.getInt() << " elements cannot hold " << p << " elements";
  }
  if (auto offset = getOffsetAttr(); offset && offset.getInt() < 0)
    return emitOpError("offset must be non-negative, got ") << offset.getInt();
  return success();
}

LogicalResult ParamOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto global = symbolTable.lookupNearestSymbolFrom<GlobalOp>(*this, getNameAttr());
  if (!global)
    return emitOpError("'") << getName() << "' does not name a dsrt.global";
  auto memref = getBuffer().getType();
  if (global.getMemRefType().getShape() != memref.getShape() ||
      global.getMemRefType().getElementType() != memref.getElementType())
    return emitOpError("type ") << memref << " does not match the global's "
                                << global.getMemRefType();
  return success();
}

LogicalResult SpanOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  ArrayRef<Attribute> names = getGlobals().getValue();
  if (names.size() < 2)
    return emitOpError("needs at least two globals");
  MemRefType type = getBuffer().getType();
  if (type.getRank() != 1)
    return emitOpError("buffer must be 1-D, got ") << type;
  int64_t total = 0;
  GlobalOp previous;
  for (Attribute a : names) {
    auto name = cast<FlatSymbolRefAttr>(a);
    auto global = symbolTable.lookupNearestSymbolFrom<GlobalOp>(*this, name);
    if (!global)
      return emitOpError("'") << name.getValue() << "' does not name a dsrt.global";
    if (global.getMemRefType().getElementType() != type.getElementType())
      return emitOpError("@") << name.getValue() << " holds "
                              << global.getMemRefType().getElementType() << ", not "
                              << type.getElementType();
    if (previous && global.getSpace() != previous.getSpace())
      return emitOpError("@") << name.getValue() << " is in another memory space than @"
                              << previous.getSymName();
    if (previous && previous->getNextNode() != global.getOperation())
      return emitOpError("@") << name.getValue() << " is not declared right after @"
                              << previous.getSymName();
    total += global.getMemRefType().getNumElements();
    previous = global;
  }
  if (total != type.getNumElements())
    return emitOpError("the globals hold ")
           << total << " elements, the buffer " << type.getNumElements();
  return success();
}

LogicalResult ViewOp::verify() {
  auto from = getSource().getType(), to = getResult().getType();
  if (from.getElementType() != to.getElementType() ||
      from.getNumElements() != to.getNumElements())
    return emitOpError("cannot view ") << from << " as " << to;
  return success();
}

Value mlir::dsrt::getAliasRoot(Value v) {
  while (auto view = v.getDefiningOp<ViewOp>())
    v = view.getSource();
  return v;
}

mlir::dsrt::AliasKey mlir::dsrt::getAliasKey(Value v) {
  Value root = getAliasRoot(v);
  if (auto param = root.getDefiningOp<ParamOp>())
    return param.getNameAttr();
  return root;
}

/// Whether `value` is what the catalogue's attribute kind `kind` accepts (the plan encodes
/// booleans and units as integers; a float attribute may be given as an integer).
static bool matchesAttrKind(Attribute value, ::ds::rt::AttrKind kind) {
  using ::ds::rt::AttrKind;
  switch (kind) {
  case AttrKind::Int:
    return isa<IntegerAttr>(value);
  case AttrKind::Float:
    return isa<FloatAttr, IntegerAttr>(value);
  case AttrKind::Bool:
    if (isa<BoolAttr, UnitAttr>(value))
      return true;
    if (auto i = dyn_cast<IntegerAttr>(value))
      return i.getValue().isZero() || i.getValue().isOne();
    return false;
  case AttrKind::String:
    return isa<StringAttr>(value);
  case AttrKind::Ints:
    return isa<DenseI64ArrayAttr>(value);
  case AttrKind::Value:
    return isa<DenseElementsAttr, IntegerAttr, FloatAttr>(value);
  }
  return false;
}

/// Checks a kernel call against the runtime's kernel catalogue
/// (runtime/include/ds/runtime/KernelCatalogue.def): the kernel exists, its operand counts
/// fit its roles, collectives and only they run on the comm stream, and every attribute is
/// one it takes, of the catalogue's kind and, for enumerations, one of its spellings;
/// required ones are present.
/// Shape and dtype rules run when the plan is exported (the runtime's validator).
LogicalResult KernelOp::verify() {
  if (getOutputs().empty())
    return emitOpError("needs at least one output buffer");
  const ::ds::rt::KernelInfo *info = ::ds::rt::findKernelInfo(getKernel().str());
  if (!info)
    return emitOpError("unknown kernel '")
           << getKernel() << "': not in the kernel catalogue (docs/ops.md)";
  auto countError = [&](StringRef what, int64_t n, int lo, int hi) -> LogicalResult {
    InFlightDiagnostic d = emitOpError("kernel '") << getKernel() << "' takes ";
    if (lo == hi)
      d << lo;
    else if (hi < 0)
      d << "at least " << lo;
    else
      d << lo << ".." << hi;
    d << " " << what << ", got " << n;
    return failure();
  };
  int64_t nIn = getInputs().size(), nOut = getOutputs().size();
  if (nIn < info->minInputs || (info->maxInputs >= 0 && nIn > info->maxInputs))
    return countError("inputs", nIn, info->minInputs, info->maxInputs);
  if (nOut < info->minOutputs || (info->maxOutputs >= 0 && nOut > info->maxOutputs))
    return countError("outputs", nOut, info->minOutputs, info->maxOutputs);
  // Collectives run in plan order on the comm stream, and nothing else runs there; other
  // kernels may be placed on any other stream (offload puts copies and host updates there).
  bool collective = info->stream == ::ds::rt::StreamClass::Comm;
  if (collective != (getStream() == Stream::comm))
    return emitOpError("kernel '") << getKernel() << "' cannot run on the '"
                                   << stringifyStream(getStream()) << "' stream"
                                   << (collective ? ": collectives run on 'comm'"
                                                  : ": only collectives run on 'comm'");
  for (NamedAttribute a : getAttrs()) {
    if (::ds::rt::isKernelAnnotation(a.getName().getValue()))
      continue;
    const ::ds::rt::AttrInfo *attr = info->findAttr(a.getName().getValue());
    if (!attr)
      return emitOpError("kernel '") << getKernel() << "' takes no attribute '"
                                     << a.getName().getValue() << "'";
    if (!matchesAttrKind(a.getValue(), attr->kind))
      return emitOpError("attribute '")
             << a.getName().getValue() << "' of kernel '" << getKernel() << "' must be "
             << ::ds::rt::attrKindName(attr->kind) << ", got " << a.getValue();
    if (attr->kind == ::ds::rt::AttrKind::String && attr->allowedValues) {
      StringRef value = cast<StringAttr>(a.getValue()).getValue();
      SmallVector<StringRef> allowed;
      StringRef(attr->allowedValues).split(allowed, '|');
      if (!llvm::is_contained(allowed, value))
        return emitOpError("attribute '")
               << a.getName().getValue() << "' of kernel '" << getKernel()
               << "' must be one of " << attr->allowedValues << ", got '" << value << "'";
    }
  }
  for (const ::ds::rt::AttrInfo &attr : info->attrs)
    if (attr.required && !getAttrs().get(attr.name))
      return emitOpError("kernel '") << getKernel() << "' needs attribute '" << attr.name
                                     << "'";
  return success();
}

#define GET_OP_CLASSES
#include "ds/Dialect/Runtime/IR/RuntimeOps.cpp.inc"
