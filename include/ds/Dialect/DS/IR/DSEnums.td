// Enumerated attributes of the `ds` dialect: state kinds, memory spaces, op modes.
// An enum attribute prints its own leading space: op formats put `` before one.
#ifndef DS_ENUMS_TD
#define DS_ENUMS_TD

include "ds/Dialect/DS/IR/DSDialect.td"
include "mlir/IR/EnumAttr.td"

def DS_StateKind : I32EnumAttr<"StateKind", "what a ds.state holds", [
    I32EnumAttrCase<"grad", 0>,
    I32EnumAttrCase<"master", 1>,
    I32EnumAttrCase<"exp_avg", 2>,
    I32EnumAttrCase<"exp_avg_sq", 3>,
    I32EnumAttrCase<"momentum_buffer", 4>,
    I32EnumAttrCase<"step", 5>,
    I32EnumAttrCase<"loss_scale", 6>,
    I32EnumAttrCase<"loss_scale_counters", 7>]> {
  let cppNamespace = "::mlir::ds";
  let genSpecializedAttr = 0;
}
def DS_StateKindAttr : EnumAttr<DS_Dialect, DS_StateKind, "state_kind">;

def DS_MemorySpace : I32EnumAttr<"MemorySpace", "where module state lives", [
    I32EnumAttrCase<"device", 0>,
    I32EnumAttrCase<"host", 1>,
    I32EnumAttrCase<"nvme", 2>]> {
  let cppNamespace = "::mlir::ds";
  let genSpecializedAttr = 0;
}
def DS_MemorySpaceAttr : EnumAttr<DS_Dialect, DS_MemorySpace, "memory_space">;

def DS_LossReduction : I32EnumAttr<"LossReduction",
    "how a loss reduces over the samples", [
    I32EnumAttrCase<"mean", 0>,
    I32EnumAttrCase<"sum", 1>,
    I32EnumAttrCase<"none", 2>]> {
  let cppNamespace = "::mlir::ds";
  let genSpecializedAttr = 0;
}
def DS_LossReductionAttr : EnumAttr<DS_Dialect, DS_LossReduction, "reduction">;

def DS_GeluApproximation : I32EnumAttr<"GeluApproximation",
    "the form of gelu: exact (erf) or tanh", [
    I32EnumAttrCase<"none", 0>,
    I32EnumAttrCase<"tanh", 1>]> {
  let cppNamespace = "::mlir::ds";
  let genSpecializedAttr = 0;
}
def DS_GeluApproximationAttr
    : EnumAttr<DS_Dialect, DS_GeluApproximation, "approximate">;

def DS_LrSchedule : I32EnumAttr<"LrSchedule", "a DeepSpeed lr scheduler", [
    I32EnumAttrCase<"constant", 0>,
    I32EnumAttrCase<"WarmupLR", 1>,
    I32EnumAttrCase<"WarmupDecayLR", 2>,
    I32EnumAttrCase<"WarmupCosineLR", 3>]> {
  let cppNamespace = "::mlir::ds";
  let genSpecializedAttr = 0;
}
def DS_LrScheduleAttr : EnumAttr<DS_Dialect, DS_LrSchedule, "schedule">;

#endif // DS_ENUMS_TD
