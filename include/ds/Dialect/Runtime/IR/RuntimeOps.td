// The `dsrt` dialect: kernel calls on buffers, the last IR before a plan file.
#ifndef DS_RUNTIME_OPS_TD
#define DS_RUNTIME_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Runtime_Dialect : Dialect {
  let name = "dsrt";
  let cppNamespace = "::mlir::dsrt";
  let summary = "Kernel calls on buffers, with streams and a static memory plan";
  let description = [{
    Each function is a program of the plan (`dsrt.role` names what ds-run does with it).
    Buffers are memrefs: `dsrt.alloc` makes a transient one in the per-rank arena (its
    `offset` is set by `--ds-plan-memory`), `dsrt.param` reads a parameter's persistent
    buffer. `dsrt.kernel` runs one runtime kernel (named as in docs/ops.md) with its
    inputs and outputs in destination-passing style.
  }];
  let usePropertiesForAttributes = 1;
}

class Runtime_Op<string mnemonic, list<Trait> traits = []>
    : Op<Runtime_Dialect, mnemonic, traits>;

def Runtime_AllocOp : Runtime_Op<"alloc"> {
  let summary = "A transient buffer in the arena";
  let description = [{
    `offset` is the byte offset in the arena, set by memory planning.
    ```mlir
    %b = dsrt.alloc {offset = 256 : i64} : memref<4x8xf32>
    ```
  }];
  let arguments = (ins OptionalAttr<I64Attr>:$offset);
  let results = (outs AnyStaticShapeMemRef:$buffer);
  let assemblyFormat = "attr-dict `:` type($buffer)";
  let hasVerifier = 1;
}

def Runtime_ParamOp : Runtime_Op<"param",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "The persistent buffer of a parameter";
  let description = [{
    ```mlir
    %w = dsrt.param @fc1.weight : memref<32x16xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs AnyStaticShapeMemRef:$buffer);
  let assemblyFormat = "$name attr-dict `:` type($buffer)";
}

def Runtime_ViewOp : Runtime_Op<"view", [Pure]> {
  let summary = "The same bytes in another shape (reshape without a copy)";
  let description = [{
    A view aliases its source: same placement and offset, same element type and count.
    Memory planning keeps the source alive as long as any view of it is used.
    ```mlir
    %v = dsrt.view %b : memref<4x8xf32> to memref<32xf32>
    ```
  }];
  let arguments = (ins AnyStaticShapeMemRef:$source);
  let results = (outs AnyStaticShapeMemRef:$result);
  let assemblyFormat = "$source attr-dict `:` type($source) `to` type($result)";
  let hasVerifier = 1;
}

def Runtime_KernelOp : Runtime_Op<"kernel", [AttrSizedOperandSegments]> {
  let summary = "Runs one runtime kernel";
  let description = [{
    `attrs` are the kernel's attributes (those of the `ds` op it came from); `stream` is
    "compute", "comm", "copy", "io" or "host".
    ```mlir
    dsrt.kernel "add" ins(%a, %b : memref<4xf32>, memref<4xf32>) outs(%c : memref<4xf32>)
    ```
  }];
  let arguments = (ins StrAttr:$kernel, Variadic<AnyStaticShapeMemRef>:$inputs,
                       Variadic<AnyStaticShapeMemRef>:$outputs,
                       DefaultValuedAttr<DictionaryAttr, "{}">:$attrs,
                       DefaultValuedStrAttr<StrAttr, "compute">:$stream);
  let assemblyFormat = [{
    $kernel (`ins` `(` $inputs^ `:` type($inputs) `)`)?
    `outs` `(` $outputs `:` type($outputs) `)` attr-dict
  }];
  let hasVerifier = 1;
}

#endif // DS_RUNTIME_OPS_TD
