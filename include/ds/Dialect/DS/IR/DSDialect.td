// The `ds` dialect: value-semantics tensor ops of a training graph, and module-level parameters.
#ifndef DS_DIALECT_TD
#define DS_DIALECT_TD

include "mlir/IR/OpBase.td"

def DS_Dialect : Dialect {
  let name = "ds";
  let cppNamespace = "::mlir::ds";
  let summary = "Tensor ops of an imported training graph";
  let description = [{
    Ops with value semantics on statically shaped tensors, close to ONNX (opset 13-17):
    numpy broadcasting for elementwise ops, non-negative axes only, every shape static.
    Parameters are module-level symbols (`ds.parameter`) whose data stays in the model
    file they came from; functions read them with `ds.param_ref`.
  }];
  let hasConstantMaterializer = 0;
  let hasOperationAttrVerify = 1;
  let usePropertiesForAttributes = 1;
  let useDefaultAttributePrinterParser = 1;
}

class DS_Op<string mnemonic, list<Trait> traits = []>
    : Op<DS_Dialect, mnemonic, traits>;

def DS_AnyFloat : AnyTypeOf<[F32, F64, F16, BF16]>;
def DS_Tensor : RankedTensorOf<[F32, F64, F16, BF16, I64, I32, I1]>;
def DS_FloatTensor : RankedTensorOf<[F32, F64, F16, BF16]>;
def DS_NumericTensor : RankedTensorOf<[F32, F64, F16, BF16, I64, I32]>;
def DS_BoolTensor : RankedTensorOf<[I1]>;
def DS_IndexTensor : RankedTensorOf<[I64, I32]>;
def DS_I64Tensor : RankedTensorOf<[I64]>;

#endif // DS_DIALECT_TD
