// The `dsrt` dialect: kernel calls on buffers, the last IR before a plan file.
#ifndef DS_RUNTIME_OPS_TD
#define DS_RUNTIME_OPS_TD

include "mlir/IR/EnumAttr.td"
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
    `offset` is set by `--ds-plan-memory`), `dsrt.global` declares module state (a
    parameter, gradient or optimizer state) in one of the memory spaces, and
    `dsrt.param` reads a global's buffer. `dsrt.kernel` runs one runtime kernel (named
    as in docs/ops.md) with its inputs and outputs in destination-passing style.
    The dialect depends on no other dialect of the project.
  }];
  let usePropertiesForAttributes = 1;
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
}

class Runtime_Op<string mnemonic, list<Trait> traits = []>
    : Op<Runtime_Dialect, mnemonic, traits>;

// The values match runtime/proto/plan.proto (Program.Role, Instruction.Stream).
def Runtime_ProgramRole : I32EnumAttr<"ProgramRole", "what ds-run does with a program", [
    I32EnumAttrCase<"inference", 1>,
    I32EnumAttrCase<"micro_step", 2>,
    I32EnumAttrCase<"apply_step", 3>,
    I32EnumAttrCase<"init", 4>]> {
  let cppNamespace = "::mlir::dsrt";
  let genSpecializedAttr = 0;
}
def Runtime_ProgramRoleAttr : EnumAttr<Runtime_Dialect, Runtime_ProgramRole, "role"> {
  let assemblyFormat = "`<` $value `>`";
}

def Runtime_Stream : I32EnumAttr<"Stream", "the engine an instruction is meant for", [
    I32EnumAttrCase<"compute", 0>,
    I32EnumAttrCase<"comm", 1>,
    I32EnumAttrCase<"copy", 2>,
    I32EnumAttrCase<"io", 3>,
    I32EnumAttrCase<"host", 4>]> {
  let cppNamespace = "::mlir::dsrt";
  let genSpecializedAttr = 0;
}
def Runtime_StreamAttr : EnumAttr<Runtime_Dialect, Runtime_Stream, "stream">;

// Each space is one per-rank region of the plan: device (PERSISTENT), host (HOST, pinned
// host memory), nvme (NVME, a swap file).
def Runtime_MemorySpace : I32EnumAttr<"MemorySpace", "where a global lives", [
    I32EnumAttrCase<"device", 0>,
    I32EnumAttrCase<"host", 1>,
    I32EnumAttrCase<"nvme", 2>]> {
  let cppNamespace = "::mlir::dsrt";
  let genSpecializedAttr = 0;
}
def Runtime_MemorySpaceAttr
    : EnumAttr<Runtime_Dialect, Runtime_MemorySpace, "memory_space">;

def Runtime_GlobalOp : Runtime_Op<"global", [Symbol]> {
  let summary = "Module state: a buffer that lives across programs";
  let description = [{
    A parameter, gradient accumulator or optimizer state of each rank, in the memory
    space `in` names (`device`, the default, `host` or `nvme`). A parameter names the
    ONNX initializer it loads from (`from`) and is `trainable` or not; `shard of n`
    says the buffer holds this rank's flat shard of a tensor of n elements (ZeRO-3).
    Other globals start zeroed. `offset` is the byte offset in its space's region, set
    by memory planning.
    ```mlir
    dsrt.global trainable @fc1.weight : memref<32x16xf32> from "fc1.weight"
    dsrt.global trainable @fc2.weight : memref<128xf32> shard of 512 from "fc2.weight"
    dsrt.global @fc1.weight.exp_avg : memref<32x16xf32> in host {offset = 0 : i64}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<AnyStaticShapeMemRef>:$type,
                       OptionalAttr<StrAttr>:$initializer,
                       UnitAttr:$trainable,
                       OptionalAttr<I64Attr>:$shard_of,
                       DefaultValuedAttr<Runtime_MemorySpaceAttr,
                                         "::mlir::dsrt::MemorySpace::device">:$space,
                       OptionalAttr<I64Attr>:$offset);
  let assemblyFormat = [{
    (`trainable` $trainable^)? $sym_name `:` $type (`shard` `of` $shard_of^)?
    (`from` $initializer^)? (`in` `` $space^)? attr-dict
  }];
  let extraClassDeclaration = [{
    ::mlir::MemRefType getMemRefType() {
      return ::llvm::cast<::mlir::MemRefType>(getType());
    }
  }];
  let hasVerifier = 1;
}

def Runtime_AllocOp : Runtime_Op<"alloc"> {
  let summary = "A transient buffer in the arena of a memory space";
  let description = [{
    A buffer that lives from its producing kernel to its last use, in the device arena
    (the default) or, `in host`, in the host arena that follows the host globals in the
    host region (offload: the optimizer step's operands on the host). `offset` is the
    byte offset in the device arena, or in the host region, set by memory planning.
    NVMe holds only module state: transients never live there.
    ```mlir
    %b = dsrt.alloc {offset = 256 : i64} : memref<4x8xf32>
    %h = dsrt.alloc in host : memref<128xf32>
    ```
  }];
  let arguments = (ins OptionalAttr<I64Attr>:$offset,
                       DefaultValuedAttr<Runtime_MemorySpaceAttr,
                                         "::mlir::dsrt::MemorySpace::device">:$space);
  let results = (outs AnyStaticShapeMemRef:$buffer);
  let assemblyFormat = "(`in` `` $space^)? attr-dict `:` type($buffer)";
  let hasVerifier = 1;
}

def Runtime_ParamOp : Runtime_Op<"param",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "The buffer of a dsrt.global";
  let description = [{
    ```mlir
    %w = dsrt.param @fc1.weight : memref<32x16xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs AnyStaticShapeMemRef:$buffer);
  let assemblyFormat = "$name attr-dict `:` type($buffer)";
}

def Runtime_SpanOp : Runtime_Op<"span",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "The bytes of consecutive globals as one flat buffer";
  let description = [{
    The globals, declared one after another in the module in this order, seen as one
    1-D buffer of their elements (a collective bucket without copies: one all_reduce
    over the span instead of one per global). They share a memory space and an element
    type; memory planning must lay them out without gaps (each but the last a whole
    number of alignment units), else it fails. Only --ds-span-concat-inputs,
    --ds-bucket-accumulation and --ds-bucket-collectives make them, right before memory
    planning: the passes before them see each global on its own.
    ```mlir
    %g = dsrt.span @fc1.weight.grad, @fc1.bias.grad : memref<528xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefArrayAttr:$globals);
  let results = (outs AnyStaticShapeMemRef:$buffer);
  let assemblyFormat = "$globals attr-dict `:` type($buffer)";
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
    `attrs` are the kernel's attributes (those of the `ds` op it came from); `on` names
    the stream: `compute` (the default), `comm`, `copy`, `io` or `host`.
    ```mlir
    dsrt.kernel "add" ins(%a, %b : memref<4xf32>, memref<4xf32>) outs(%c : memref<4xf32>)
    dsrt.kernel "copy" ins(%c : memref<4xf32>) outs(%w : memref<4xf32>) on copy
    ```
  }];
  let arguments = (ins StrAttr:$kernel, Variadic<AnyStaticShapeMemRef>:$inputs,
                       Variadic<AnyStaticShapeMemRef>:$outputs,
                       DefaultValuedAttr<DictionaryAttr, "{}">:$attrs,
                       DefaultValuedAttr<Runtime_StreamAttr,
                                         "::mlir::dsrt::Stream::compute">:$stream);
  let assemblyFormat = [{
    $kernel (`ins` `(` $inputs^ `:` type($inputs) `)`)?
    `outs` `(` $outputs `:` type($outputs) `)` (`on` `` $stream^)? attr-dict
  }];
  let hasVerifier = 1;
}

#endif // DS_RUNTIME_OPS_TD
