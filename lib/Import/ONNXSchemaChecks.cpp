// Checks a node's input types against its ONNX schema's type constraints (what onnx's
// checkType did).
#include "ONNXOpTable.h"

#include <onnx/defs/schema.h>

#include <set>

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

/// The ONNX type string ("tensor(float)") of an element type the importer produces.
static std::string onnxTensorTypeOf(Type elem) {
  if (elem.isF32())
    return "tensor(float)";
  if (elem.isF64())
    return "tensor(double)";
  if (elem.isF16())
    return "tensor(float16)";
  if (elem.isBF16())
    return "tensor(bfloat16)";
  if (elem.isInteger(64))
    return "tensor(int64)";
  if (elem.isInteger(32))
    return "tensor(int32)";
  if (elem.isInteger(1))
    return "tensor(bool)";
  std::string s;
  llvm::raw_string_ostream(s) << "tensor(" << elem << ")";
  return s;
}

/// The allowed types of a formal parameter, sorted, comma separated.
static std::string allowedTypes(const onnx::OpSchema::FormalParameter &param) {
  std::set<std::string> sorted;
  for (onnx::DataType t : param.GetTypes())
    sorted.insert(*t);
  std::string s;
  for (const std::string &t : sorted)
    s += (s.empty() ? "" : ", ") + t;
  return s;
}

LogicalResult mlir::ds::onnx_import::checkInputTypes(GraphImporter &imp,
                                                     const onnx::OpSchema &schema,
                                                     const onnx::NodeProto &n) {
  const auto &formals = schema.inputs();
  if (formals.empty())
    return success();
  // The type each type variable ("T") is bound to, and the input that bound it.
  llvm::StringMap<std::pair<std::string, int>> bound;
  for (int i = 0, e = n.input_size(); i < e; ++i) {
    const ImportedValue *v = imp.input(i);
    if (!v)
      continue;
    // Inputs past the formals belong to the last one when it is variadic.
    bool past = i >= (int)formals.size();
    if (past && formals.back().GetOption() != onnx::OpSchema::Variadic)
      return imp.nodeError() << "has " << e << " inputs; " << n.op_type() << "-"
                             << schema.SinceVersion() << " takes at most "
                             << formals.size();
    const auto &param = past ? formals.back() : formals[i];
    std::string type = onnxTensorTypeOf(v->type.getElementType());
    bool allowed =
        llvm::any_of(param.GetTypes(), [&](onnx::DataType t) { return *t == type; });
    if (!allowed)
      return imp.nodeError() << "input " << i << " ('" << n.input(i) << "') is " << type
                             << ", which " << n.op_type() << "-" << schema.SinceVersion()
                             << " does not take as " << param.GetName() << " (it takes "
                             << allowedTypes(param) << ")";
    // One type per type variable, except across a heterogeneous variadic.
    bool homogeneous =
        param.GetOption() != onnx::OpSchema::Variadic || param.GetIsHomogeneous();
    bool typeVariable = llvm::any_of(schema.typeConstraintParams(), [&](const auto &c) {
      return c.type_param_str == param.GetTypeStr();
    });
    if (!homogeneous || !typeVariable)
      continue;
    auto [it, inserted] = bound.try_emplace(param.GetTypeStr(), type, i);
    if (!inserted && it->second.first != type)
      return imp.nodeError() << "input " << i << " ('" << n.input(i) << "') is " << type
                             << " but input " << it->second.second << " ('"
                             << n.input(it->second.second) << "') is " << it->second.first
                             << "; " << n.op_type() << " takes one type "
                             << param.GetTypeStr() << " for both";
  }
  return success();
}

bool mlir::ds::onnx_import::contradictsDeclaredType(GraphImporter &imp,
                                                    const onnx::TypeProto &declared,
                                                    RankedTensorType type) {
  if (!declared.has_tensor_type())
    return false;
  const auto &tt = declared.tensor_type();
  Type elem = elementTypeOf(imp.ctx, tt.elem_type());
  if (elem && elem != type.getElementType())
    return true;
  if (!tt.has_shape())
    return false;
  if (tt.shape().dim_size() != type.getRank())
    return true;
  for (int i = 0; i < type.getRank(); ++i)
    if (tt.shape().dim(i).has_dim_value() &&
        tt.shape().dim(i).dim_value() != type.getDimSize(i))
      return true;
  return false;
}
