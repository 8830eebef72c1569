// Builds a fused_elementwise program as arith/math IR: one element's loads (broadcast by
// index arithmetic from the shapes), the instructions and the store, wrapped in a GPU
// kernel or a host function. The expressions are the CUDA interpreter's
// (runtime/lib/cuda/ FusedElementwise.cu), instruction for instruction, so the generated
// kernel computes its bits.
#include "ds/Target/FusedKernelCodegen.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
namespace fused = ::ds::rt::fused;
using ::ds::plan::DType;
using FOp = fused::Op;

namespace ds {
namespace {

int64_t numelOf(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// Emits one element of the program at linear output index `i`.
class ElementEmitter {
public:
  ElementEmitter(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value f32(float v) { return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v)); }
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i32(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value cmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value isNan(Value x) { return cmp(arith::CmpFPredicate::UNO, x, x); }
  Value boolToFloat(Value c) { return select(c, f32(1.0f), f32(0.0f)); }

  /// The element of input `mem` (of `shape`, broadcast to `outShape`) at output index i.
  Value load(Value mem, DType dtype, const std::vector<int64_t> &shape,
             const std::vector<int64_t> &outShape, Value i) {
    int64_t n = numelOf(outShape), numel = numelOf(shape);
    Value j;
    if (numel == n) {
      j = i;
    } else if (numel == 1) {
      j = idx(0);
    } else {
      // Right-aligned numpy broadcasting: the input's stride in every output dim.
      size_t rank = outShape.size(), lead = rank - shape.size();
      int64_t inner = 1, stride = 1;
      std::vector<int64_t> strides(rank, 0), inners(rank, 1);
      for (size_t d = rank; d-- > 0;) {
        inners[d] = inner;
        inner *= outShape[d];
        if (d >= lead && shape[d - lead] != 1) {
          strides[d] = stride;
          stride *= shape[d - lead];
        }
      }
      j = idx(0);
      for (size_t d = 0; d < rank; ++d) {
        if (strides[d] == 0)
          continue;
        Value q =
            inners[d] == 1 ? i : Value(arith::DivUIOp::create(b, loc, i, idx(inners[d])));
        Value r = d == 0 ? q : Value(arith::RemUIOp::create(b, loc, q, idx(outShape[d])));
        Value term = strides[d] == 1
                         ? r
                         : Value(arith::MulIOp::create(b, loc, r, idx(strides[d])));
        j = arith::AddIOp::create(b, loc, j, term);
      }
    }
    Value v = memref::LoadOp::create(b, loc, mem, ValueRange{j});
    switch (dtype) {
    case ::ds::plan::F32:
      return v;
    case ::ds::plan::BF16:
    case ::ds::plan::F16:
      return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
    default: {
      Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
      return boolToFloat(
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero));
    }
    }
  }

  /// The 16 bits of a bf16/f16 store of v, with the interpreters' NaN patterns (bf16: the
  /// top half with the quiet bit set; f16: the sign and 0x7e00).
  Value to16(DType dtype, Value v) {
    Type t = dtype == ::ds::plan::BF16 ? Type(b.getBF16Type()) : Type(b.getF16Type());
    Value rounded = arith::TruncFOp::create(b, loc, t, v);
    Value bits16 = arith::BitcastOp::create(b, loc, b.getI16Type(), rounded);
    Value bits = arith::BitcastOp::create(b, loc, b.getI32Type(), v);
    Value high = arith::ShRUIOp::create(b, loc, bits, i32(16));
    Value nan =
        dtype == ::ds::plan::BF16
            ? Value(arith::OrIOp::create(b, loc, high, i32(0x40)))
            : Value(arith::OrIOp::create(
                  b, loc, arith::AndIOp::create(b, loc, high, i32(0x8000)), i32(0x7e00)));
    Value nan16 = arith::TruncIOp::create(b, loc, b.getI16Type(), nan);
    return select(isNan(v), nan16, bits16);
  }

  /// The float a store of v into dtype and a load back yield.
  Value roundTo(DType dtype, Value v) {
    switch (dtype) {
    case ::ds::plan::BF16:
    case ::ds::plan::F16: {
      Type t = dtype == ::ds::plan::BF16 ? Type(b.getBF16Type()) : Type(b.getF16Type());
      Value h = arith::BitcastOp::create(b, loc, t, to16(dtype, v));
      return arith::ExtFOp::create(b, loc, b.getF32Type(), h);
    }
    case ::ds::plan::I1:
      return boolToFloat(cmp(arith::CmpFPredicate::UNE, v, f32(0.0f)));
    default:
      return v;
    }
  }

  void store(Value v, Value mem, DType dtype, Value i) {
    Value s;
    switch (dtype) {
    case ::ds::plan::F32:
      s = v;
      break;
    case ::ds::plan::BF16:
    case ::ds::plan::F16: {
      Type t = dtype == ::ds::plan::BF16 ? Type(b.getBF16Type()) : Type(b.getF16Type());
      s = arith::BitcastOp::create(b, loc, t, to16(dtype, v));
      break;
    }
    default:
      s = arith::ExtUIOp::create(b, loc, b.getI8Type(),
                                 cmp(arith::CmpFPredicate::UNE, v, f32(0.0f)));
    }
    memref::StoreOp::create(b, loc, s, mem, ValueRange{i});
  }

  /// FusedElementwise.cu's geluDeriv.
  Value geluDeriv(Value x, bool tanhForm) {
    if (tanhForm) {
      const float k = 0.7978845608028654f, a = 0.044715f, a3 = 3.0f * a;
      Value x2 = mul(x, x);
      Value t =
          math::TanhOp::create(b, loc, mul(f32(k), add(x, mul(mul(f32(a), x2), x))));
      Value left = mul(f32(0.5f), add(f32(1.0f), t));
      Value right = mul(mul(mul(mul(f32(0.5f), x), sub(f32(1.0f), mul(t, t))), f32(k)),
                        add(f32(1.0f), mul(f32(a3), x2)));
      return add(left, right);
    }
    const float invSqrt2Pi = 0.3989422804014327f, s = 0.70710678118654752440f;
    Value cdf =
        mul(f32(0.5f), add(f32(1.0f), math::ErfOp::create(b, loc, mul(x, f32(s)))));
    return add(cdf, mul(mul(x, f32(invSqrt2Pi)),
                        math::ExpOp::create(b, loc, mul(mul(f32(-0.5f), x), x))));
  }

  /// One instruction's value before rounding (FusedElementwise.cu's evaluate).
  Value evaluate(const fused::Instruction &ins, Value x, Value y, Value z) {
    using P = arith::CmpFPredicate;
    switch (ins.op) {
    case FOp::Add:
      return add(x, y);
    case FOp::Sub:
      return sub(x, y);
    case FOp::Mul:
      return mul(x, y);
    case FOp::Div:
      return div(x, y);
    case FOp::Pow:
      return math::PowFOp::create(b, loc, x, y);
    case FOp::Max:
    case FOp::Min: {
      Value pick = cmp(ins.op == FOp::Max ? P::OGT : P::OLT, x, y);
      return select(isNan(x), x, select(isNan(y), y, select(pick, x, y)));
    }
    case FOp::Equal:
      return boolToFloat(cmp(P::OEQ, x, y));
    case FOp::Less:
      return boolToFloat(cmp(P::OLT, x, y));
    case FOp::Greater:
      return boolToFloat(cmp(P::OGT, x, y));
    case FOp::Where:
      return select(cmp(P::UNE, x, f32(0.0f)), y, z);
    case FOp::Neg:
      return arith::NegFOp::create(b, loc, x);
    case FOp::Relu:
      return select(cmp(P::UGT, x, f32(0.0f)), x, f32(0.0f));
    case FOp::Identity:
    case FOp::Cast:
      return x;
    case FOp::Sqrt:
      return math::SqrtOp::create(b, loc, x); // correctly rounded: see emitPtx
    case FOp::Exp:
      return math::ExpOp::create(b, loc, x);
    case FOp::Log:
      return math::LogOp::create(b, loc, x);
    case FOp::Tanh:
      return math::TanhOp::create(b, loc, x);
    case FOp::Sin:
      return math::SinOp::create(b, loc, x);
    case FOp::Cos:
      return math::CosOp::create(b, loc, x);
    case FOp::Abs:
      return math::AbsFOp::create(b, loc, x);
    case FOp::Reciprocal:
      return div(f32(1.0f), x);
    case FOp::Erf:
      return math::ErfOp::create(b, loc, x);
    case FOp::Sigmoid: {
      Value positive = div(
          f32(1.0f),
          add(f32(1.0f), math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x))));
      Value e = math::ExpOp::create(b, loc, x);
      Value negative = div(e, add(f32(1.0f), e));
      return select(cmp(P::OGE, x, f32(0.0f)), positive, negative);
    }
    case FOp::Gelu:
      return mul(mul(f32(0.5f), x),
                 add(f32(1.0f),
                     math::ErfOp::create(b, loc, mul(x, f32(0.70710678118654752440f)))));
    case FOp::GeluTanh: {
      Value inner = add(x, mul(mul(mul(f32(0.044715f), x), x), x));
      return mul(mul(f32(0.5f), x),
                 add(f32(1.0f),
                     math::TanhOp::create(b, loc, mul(f32(0.7978845608028654f), inner))));
    }
    case FOp::GeluGrad:
      return mul(x, geluDeriv(y, false));
    case FOp::GeluGradTanh:
      return mul(x, geluDeriv(y, true));
    case FOp::Const:
      return f32(fused::constValue(uint32_t(ins.a)));
    default:
      llvm_unreachable("fused_elementwise op without generated code");
    }
  }

  /// Loads, program, store for output element i; `args` are the inputs then the output.
  void emit(const FusedKernelSignature &sig, ValueRange args, Value i) {
    std::vector<Value> regs;
    for (size_t k = 0; k < sig.inputDtypes.size(); ++k)
      regs.push_back(
          load(args[k], sig.inputDtypes[k], sig.inputShapes[k], sig.outputShape, i));
    for (const fused::Instruction &ins : sig.program) {
      Value x = ins.op == FOp::Const ? Value() : regs[size_t(ins.a)];
      int arity = fused::opArity(ins.op);
      Value y = arity > 1 ? regs[size_t(ins.b)] : Value();
      Value z = arity > 2 ? regs[size_t(ins.c)] : Value();
      regs.push_back(roundTo(ins.dtype, evaluate(ins, x, y, z)));
    }
    store(regs.back(), args.back(), sig.outputDtype, i);
  }

private:
  OpBuilder &b;
  Location loc;
};

SmallVector<Type> parameterTypes(MLIRContext *ctx, const FusedKernelSignature &sig) {
  SmallVector<Type> types;
  for (size_t k = 0; k < sig.inputDtypes.size(); ++k)
    types.push_back(
        generatedOperandType(ctx, sig.inputDtypes[k], numelOf(sig.inputShapes[k])));
  types.push_back(generatedOperandType(ctx, sig.outputDtype, numelOf(sig.outputShape)));
  return types;
}

} // namespace

MemRefType generatedOperandType(MLIRContext *ctx, DType dtype, int64_t numel) {
  Type t;
  switch (dtype) {
  case ::ds::plan::F32:
    t = Float32Type::get(ctx);
    break;
  case ::ds::plan::BF16:
    t = BFloat16Type::get(ctx);
    break;
  case ::ds::plan::F16:
    t = Float16Type::get(ctx);
    break;
  default:
    t = IntegerType::get(ctx, 8);
    break;
  }
  return MemRefType::get({numel}, t);
}

void buildFusedGpuKernel(OpBuilder &b, gpu::GPUModuleOp module, StringRef name,
                         const FusedKernelSignature &sig) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = module.getLoc();
  b.setInsertionPointToEnd(module.getBody());
  auto type = b.getFunctionType(parameterTypes(b.getContext(), sig), {});
  auto func = gpu::GPUFuncOp::create(b, loc, name, type);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  ElementEmitter e(b, loc);
  // A grid-stride loop: one element per thread per trip.
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value bid = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value bdim = gpu::BlockDimOp::create(b, loc, gpu::Dimension::x);
  Value gdim = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  Value start =
      arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, bid, bdim), tid);
  Value step = arith::MulIOp::create(b, loc, gdim, bdim);
  Value n = e.idx(numelOf(sig.outputShape));
  ValueRange args = entry.getArguments();
  scf::ForOp::create(b, loc, start, n, step, ValueRange{},
                     [&](OpBuilder &nested, Location l, Value i, ValueRange) {
                       ElementEmitter(nested, l).emit(sig, args, i);
                       scf::YieldOp::create(nested, l);
                     });
  gpu::ReturnOp::create(b, loc);
}

void buildFusedHostFunction(OpBuilder &b, ModuleOp module, StringRef name,
                            const FusedKernelSignature &sig) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = module.getLoc();
  b.setInsertionPointToEnd(module.getBody());
  auto type = b.getFunctionType(parameterTypes(b.getContext(), sig), {});
  auto func = func::FuncOp::create(b, loc, name, type);
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  ElementEmitter e(b, loc);
  ValueRange args = entry->getArguments();
  scf::ForOp::create(b, loc, e.idx(0), e.idx(numelOf(sig.outputShape)), e.idx(1),
                     ValueRange{},
                     [&](OpBuilder &nested, Location l, Value i, ValueRange) {
                       ElementEmitter(nested, l).emit(sig, args, i);
                       scf::YieldOp::create(nested, l);
                     });
  func::ReturnOp::create(b, loc);
}

} // namespace ds
