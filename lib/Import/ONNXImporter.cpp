// The ONNX importer: model parsing and checks, static input shapes, parameters, `@forward`.
#include <google/protobuf/stubs/logging.h>
#include "ONNXOpTable.h"

#include "ds/InitAllDialects.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/xxhash.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <onnx/defs/schema.h>

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

static constexpr int64_t kMinOpset = 13, kMaxOpset = 17;

/// What identifies an initializer's data without decoding it: its external-data file
/// range, else a hash of its bytes (ds-merge-identical-buffers merges frozen ones).
static std::string contentKeyOf(const onnx::TensorProto &t) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string key = "external";
    for (const auto &kv : t.external_data())
      key += ":" + kv.key() + "=" + kv.value();
    return key;
  }
  onnx::TensorProto data = t; // typed fields: the data without the name
  data.clear_name();
  data.clear_doc_string();
  std::string bytes = t.has_raw_data() ? t.raw_data() : data.SerializeAsString();
  return (t.has_raw_data() ? "raw:" : "proto:") +
         llvm::utohexstr(llvm::xxh3_64bits(llvm::arrayRefFromStringRef(bytes))) + ":" +
         std::to_string(bytes.size());
}

//===----------------------------------------------------------------------===//
// GraphImporter
//===----------------------------------------------------------------------===//

std::string GraphImporter::describeNode(const onnx::NodeProto &n) const {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (n.name().empty())
    os << "node #" << nodeIndex;
  else
    os << "node '" << n.name() << "'";
  os << " (op '" << n.op_type() << "', domain '" << n.domain() << "', opset "
     << opset << ")";
  return s;
}

InFlightDiagnostic GraphImporter::nodeError() {
  InFlightDiagnostic d = mlir::emitError(loc);
  d << path << ": ";
  if (node)
    d << describeNode(*node) << ": ";
  return d;
}

InFlightDiagnostic GraphImporter::fileError() {
  return mlir::emitError(FileLineColLoc::get(ctx, path, 0, 0)) << path << ": ";
}

Location GraphImporter::nodeLocation(const onnx::NodeProto &n, int64_t index) {
  std::string name = n.name();
  if (name.empty())
    name = n.op_type() + "#" + std::to_string(index);
  return NameLoc::get(StringAttr::get(ctx, name),
                      FileLineColLoc::get(ctx, path, 0, 0));
}

const ImportedValue *GraphImporter::input(int i) {
  if (i >= node->input_size() || node->input(i).empty())
    return nullptr;
  auto it = values.find(node->input(i));
  return it == values.end() ? nullptr : &it->second;
}

Value GraphImporter::inputValue(int i) {
  if (i >= node->input_size() || node->input(i).empty()) {
    nodeError() << "input " << i << " is missing";
    return Value();
  }
  auto it = values.find(node->input(i));
  if (it == values.end())
    return Value();
  return materialize(it->second);
}

const ConstTensor *GraphImporter::constantInput(int i, StringRef what) {
  const ImportedValue *v = input(i);
  if (!v) {
    nodeError() << "input " << i << " (" << what << ") is missing";
    return nullptr;
  }
  if (!v->constant) {
    nodeError() << "input " << i << " (" << what << ", '" << node->input(i)
                << "') must be a constant known at import time, but it is "
                << (v->parameter ? "a parameter" : "computed at run time");
    return nullptr;
  }
  return v->constant.get();
}

bool GraphImporter::outputUsed(int i) const {
  return i < node->output_size() && !node->output(i).empty() &&
         used.contains(node->output(i));
}

void GraphImporter::setOutput(int i, Value v) {
  if (i >= node->output_size() || node->output(i).empty())
    return;
  ImportedValue iv;
  iv.value = v;
  iv.type = cast<RankedTensorType>(v.getType());
  values[node->output(i)] = iv;
}

void GraphImporter::setOutput(int i, ConstTensor c) {
  if (i >= node->output_size() || node->output(i).empty())
    return;
  ImportedValue iv;
  iv.type = c.getType();
  iv.constant = std::make_shared<ConstTensor>(std::move(c));
  values[node->output(i)] = iv;
}

void GraphImporter::setOutputAlias(int i, const ImportedValue &v) {
  if (i >= node->output_size() || node->output(i).empty())
    return;
  values[node->output(i)] = v;
}

Value GraphImporter::materialize(ImportedValue &v) {
  if (v.value)
    return v.value;
  if (v.parameter) {
    Value &ref = paramRefs[v.parameter];
    if (!ref)
      ref = ParamRefOp::create(builder, loc, v.type, v.parameter);
    return ref;
  }
  v.value = ConstantOp::create(builder, loc, v.constant->toAttr());
  return v.value;
}

const onnx::AttributeProto *GraphImporter::attr(StringRef name) const {
  for (const auto &a : node->attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t GraphImporter::intAttr(StringRef name, int64_t dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->i() : dflt;
}

float GraphImporter::floatAttr(StringRef name, float dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->f() : dflt;
}

std::string GraphImporter::stringAttr(StringRef name, StringRef dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : dflt.str();
}

std::optional<SmallVector<int64_t>>
GraphImporter::intsAttr(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

FailureOr<int64_t> GraphImporter::normalizeAxis(int64_t axis, int64_t rank,
                                                StringRef what) {
  if (axis < -rank || axis >= rank)
    return nodeError() << what << " " << axis << " is out of range for rank "
                       << rank;
  return axis < 0 ? axis + rank : axis;
}

FailureOr<SmallVector<int64_t>>
GraphImporter::normalizeAxes(ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> out;
  for (int64_t a : axes) {
    auto n = normalizeAxis(a, rank);
    if (failed(n))
      return failure();
    if (llvm::is_contained(out, *n))
      return nodeError() << "axis " << a << " is repeated";
    out.push_back(*n);
  }
  return out;
}

int64_t GraphImporter::opsetOf(StringRef domain) const {
  if (domain.empty() || domain == "ai.onnx")
    return opset;
  auto it = domainOpsets.find(domain);
  return it == domainOpsets.end() ? INT64_MAX : it->second;
}

LogicalResult GraphImporter::importNode(const onnx::NodeProto &n) {
  StringRef op = n.op_type(), domain = n.domain();
  bool defaultDomain = domain.empty() || domain == "ai.onnx";
  const ONNXOpTable &table = getONNXOpTable();
  const OpImport *entry = table.lookup(domain, op, opsetOf(domain));
  if (!defaultDomain && !entry)
    return nodeError() << "unsupported domain '" << domain
                       << "' (only the default ONNX domain is supported)";
  for (int i = 0, e = n.input_size(); i < e; ++i)
    if (!n.input(i).empty() && !values.count(n.input(i)))
      return nodeError() << "input '" << n.input(i)
                         << "' is not a graph input, an initializer or the "
                            "output of an earlier node";
  // The schema's required inputs are present (constant folding indexes them; a missing
  // one was a use-after-free found by import-onnx-fuzzer). Their types are ones the
  // schema's type constraints allow (what onnx's type check reported; the conversions
  // rely on it).
  if (const onnx::OpSchema *schema =
          defaultDomain ? onnx::OpSchemaRegistry::Schema(op.str(), int(opset), "")
                        : nullptr) {
    for (int i = 0, e = schema->min_input(); i < e; ++i)
      if (i >= n.input_size() || n.input(i).empty())
        return nodeError() << "input " << i << " is missing (" << op << " takes at least "
                           << e << ")";
    if (failed(checkInputTypes(*this, *schema, n)))
      return failure();
  }
  if (!entry) {
    InFlightDiagnostic d = nodeError() << "unsupported op";
    if (std::optional<int64_t> first = table.firstVersion(domain, op))
      d << " before opset " << *first;
    return d;
  }

  SmallVector<const ConstTensor *> inputs;
  bool allConstant = true;
  for (int i = 0, e = n.input_size(); i < e; ++i) {
    const ImportedValue *v = input(i);
    if (!v)
      continue;
    if (!v->constant)
      allConstant = false;
    inputs.push_back(v->constant.get());
  }
  if (entry->fold) {
    if (allConstant || entry->foldsFromTypes) {
      SmallVector<ConstTensor> outputs;
      if (failed(entry->fold(*this, n, inputs, outputs)))
        return failure();
      if (!outputs.empty()) {
        for (int i = 0, e = outputs.size(); i < e; ++i)
          setOutput(i, std::move(outputs[i]));
        return success();
      }
    }
  }
  if (entry->convert) {
    // Constant inputs and no folder of its own: evaluated by the runtime's kernels.
    if (allConstant && !inputs.empty() && !entry->fold) {
      bool folded = false;
      if (failed(foldWithRuntimeKernels(*this, n, entry->convert, folded)))
        return failure();
      if (folded)
        return success();
    }
    return entry->convert(*this, n);
  }
  return nodeError() << "cannot be evaluated at import time (its inputs are "
                        "not all constants, or its result is too large), "
                        "and the ds dialect has no such op";
}

LogicalResult GraphImporter::checkOpsSupported(const onnx::GraphProto &graph) {
  // Every blocker at once: each unsupported (domain, op) once, with its count, its
  // reason and the first node that uses it, in the order of first use.
  struct Blocker {
    std::string key, reason, firstNode;
    int64_t count = 0;
  };
  SmallVector<Blocker> blockers;
  llvm::StringMap<unsigned> indexOf;
  const ONNXOpTable &table = getONNXOpTable();
  int64_t index = 0;
  for (const auto &n : graph.node()) {
    StringRef op = n.op_type(), domain = n.domain();
    bool defaultDomain = domain.empty() || domain == "ai.onnx";
    int64_t savedIndex = nodeIndex;
    nodeIndex = index++;
    if (table.lookup(domain, op, opsetOf(domain))) {
      nodeIndex = savedIndex;
      continue;
    }
    std::string key = defaultDomain ? op.str() : (domain + "." + op).str();
    auto [it, inserted] = indexOf.try_emplace(key, blockers.size());
    if (inserted) {
      Blocker b;
      b.key = key;
      if (!defaultDomain)
        b.reason = "unsupported domain '" + domain.str() +
                   "' (only the default ONNX domain is supported)";
      else if (std::optional<int64_t> first = table.firstVersion(domain, op))
        b.reason = "before opset " + std::to_string(*first);
      b.firstNode = describeNode(n);
      blockers.push_back(std::move(b));
    }
    ++blockers[it->second].count;
    nodeIndex = savedIndex;
  }
  if (blockers.empty())
    return success();
  // One blocker on one node: the single-node message.
  if (blockers.size() == 1 && blockers[0].count == 1) {
    const Blocker &b = blockers[0];
    InFlightDiagnostic d = fileError() << b.firstNode << ": ";
    if (StringRef(b.reason).starts_with("unsupported"))
      return d << b.reason;
    d << "unsupported op";
    if (!b.reason.empty())
      d << " " << b.reason;
    return d;
  }
  int64_t nodes = 0;
  std::string list;
  llvm::raw_string_ostream os(list);
  for (auto [i, b] : llvm::enumerate(blockers)) {
    nodes += b.count;
    os << (i ? "; " : "") << b.key << " \u00d7" << b.count;
    if (!b.reason.empty())
      os << " (" << b.reason << ")";
    os << " \u2014 first at " << b.firstNode;
  }
  return fileError() << "unsupported: " << list << " (" << nodes << " nodes, "
                     << blockers.size() << " ops in all)";
}

LogicalResult GraphImporter::importNodes(const onnx::GraphProto &graph) {
  if (failed(checkOpsSupported(graph)))
    return failure();
  for (const auto &n : graph.node())
    for (const auto &in : n.input())
      used.insert(in);
  for (const auto &out : graph.output())
    used.insert(out.name());
  llvm::StringMap<const onnx::TypeProto *> declared;
  for (const auto &vi : graph.value_info())
    declared[vi.name()] = &vi.type();
  nodeIndex = 0;
  for (const auto &n : graph.node()) {
    node = &n;
    loc = nodeLocation(n, nodeIndex);
    if (failed(importNode(n)))
      return failure();
    // The model's value_info, where it gives a type, agrees with the conversion.
    for (int i = 0, e = n.output_size(); i < e; ++i) {
      auto d = declared.find(n.output(i));
      auto v = values.find(n.output(i));
      if (d == declared.end() || v == values.end() || !v->second.type ||
          !contradictsDeclaredType(*this, *d->second, v->second.type))
        continue;
      std::string computed;
      llvm::raw_string_ostream(computed) << v->second.type;
      return nodeError() << "output " << i << " ('" << n.output(i) << "') is computed as "
                         << computed
                         << ", which contradicts the model's value_info for it";
    }
    ++nodeIndex;
  }
  node = nullptr;
  loc = FileLineColLoc::get(ctx, path, 0, 0);
  return success();
}

//===----------------------------------------------------------------------===//
// Model checks
//===----------------------------------------------------------------------===//

namespace {
/// Collects protobuf text-format errors instead of logging them.
struct TextErrorCollector : google::protobuf::io::ErrorCollector {
  std::string first;
  void AddError(int line, int column, const std::string &message) override {
    if (first.empty())
      first = "line " + std::to_string(line + 1) + ":" +
              std::to_string(column + 1) + ": " + message;
  }
};

/// The model's path relative to which external data is found.
std::string modelDirectory(StringRef path) {
  StringRef dir = llvm::sys::path::parent_path(path);
  return dir.empty() ? "." : dir.str();
}

/// Checks that a parameter's data is present and sized right, without reading it.
LogicalResult checkParameterData(GraphImporter &imp, const onnx::TensorProto &t,
                                 RankedTensorType type) {
  int64_t bytes =
      type.getNumElements() * (type.getElementType().getIntOrFloatBitWidth() / 8);
  std::string elem;
  llvm::raw_string_ostream(elem) << type.getElementType();
  return checkTensorData(t, type, imp.modelDir, [&]() {
    return imp.fileError() << "initializer '" << t.name() << "' ("
                           << formatShape(type.getShape()) << " " << elem << ", "
                           << bytes << " bytes): ";
  });
}

/// Whether a float initializer is a causal mask buffer: leading dims 1, and over the last
/// two, ones on and below the diagonal and zeros above (GPT-2's `attn.bias`, registered
/// as torch.tril(torch.ones(n, n)).view(1, 1, n, n)). Only [1, ..., 1, n, n] of rank >= 3
/// with n <= 8192 are read: a weight almost never has that shape (square 2-D weights are
/// common and would make the import read them all); a read that fails says no.
bool isLowerTriangularOnes(MLIRContext *ctx, const onnx::TensorProto &t,
                           RankedTensorType type, StringRef modelDir) {
  ArrayRef<int64_t> shape = type.getShape();
  int64_t r = shape.size();
  if (r < 3 || shape[r - 1] != shape[r - 2] || shape[r - 1] < 2 || shape[r - 1] > 8192 ||
      llvm::any_of(shape.drop_back(2), [](int64_t d) { return d != 1; }))
    return false;
  // Errors are not this check's to report (checkParameterData did): swallow them.
  ScopedDiagnosticHandler quiet(ctx, [](Diagnostic &) { return success(); });
  FailureOr<ConstTensor> c = decodeTensor(ctx, t, modelDir, [&]() {
    return emitError(UnknownLoc::get(ctx));
  });
  if (failed(c) || !c->isFloat())
    return false;
  int64_t n = shape[r - 1];
  if (c->splat)
    return false;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (c->realAt(i * n + j) != (j <= i ? 1.0 : 0.0))
        return false;
  return true;
}

/// A float scalar (one element): what a loss is.
bool isFloatScalar(RankedTensorType t) {
  return isa<FloatType>(t.getElementType()) && t.getNumElements() == 1;
}

std::string describeType(RankedTensorType t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << formatShape(t.getShape()) << " " << t.getElementType();
  return s;
}

/// Imports a parsed model; errors are emitted, and null returned.
OwningOpRef<ModuleOp> importModel(MLIRContext *ctx, onnx::ModelProto &model,
                                  StringRef path,
                                  const ImportOptions &options) {
  GraphImporter imp(ctx, ModuleOp(), path, options, 0);
  imp.modelDir = modelDirectory(path);

  // Opset.
  std::optional<int64_t> opset;
  for (const auto &o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx")
      opset = o.version();
    else
      imp.domainOpsets[o.domain()] = o.version();
  }
  if (!model.has_graph() || model.graph().node_size() == 0 ||
      model.graph().output_size() == 0) {
    imp.fileError() << "the model's graph is empty (no nodes or no outputs); "
                       "is this an ONNX model?";
    return nullptr;
  }
  if (!opset) {
    imp.fileError() << "the model imports no opset of the default ONNX domain";
    return nullptr;
  }
  if (*opset < kMinOpset || *opset > kMaxOpset) {
    imp.fileError() << "opset " << *opset
                    << " of the default ONNX domain is not supported "
                       "(supported: "
                    << kMinOpset << " to " << kMaxOpset
                    << "); re-export the model with an opset in that range";
    return nullptr;
  }
  imp.opset = *opset;
  onnx::GraphProto *graph = model.mutable_graph();
  if (graph->sparse_initializer_size()) {
    imp.fileError() << "sparse initializers are not supported";
    return nullptr;
  }

  // Inputs: graph inputs that are not initializers.
  llvm::StringMap<const onnx::TensorProto *> initializers;
  for (const auto &t : graph->initializer())
    initializers[t.name()] = &t;
  SmallVector<onnx::ValueInfoProto *> inputs;
  for (auto &in : *graph->mutable_input())
    if (!initializers.count(in.name()))
      inputs.push_back(&in);
  for (const auto &entry : options.inputShapes) {
    if (llvm::any_of(inputs, [&](onnx::ValueInfoProto *in) {
          return in->name() == entry.getKey();
        }))
      continue;
    std::string names;
    llvm::raw_string_ostream os(names);
    llvm::interleave(
        inputs, os, [&](onnx::ValueInfoProto *in) { os << in->name(); }, ", ");
    imp.fileError() << "--input-shape names '" << entry.getKey()
                    << "', which is not an input of the model; inputs: "
                    << names;
    return nullptr;
  }
  SmallVector<RankedTensorType> inputTypes;
  for (onnx::ValueInfoProto *in : inputs) {
    if (!in->type().has_tensor_type()) {
      imp.fileError() << "input '" << in->name() << "' is not a tensor";
      return nullptr;
    }
    auto *tt = in->mutable_type()->mutable_tensor_type();
    Type elem = elementTypeOf(ctx, tt->elem_type());
    if (!elem) {
      imp.fileError() << "input '" << in->name() << "' has element type "
                      << onnxTypeName(tt->elem_type())
                      << ", which the ds dialect does not support";
      return nullptr;
    }
    // Whether the model declares a shape, read before mutable_shape() creates an empty
    // one (an input without a shape must not become a scalar).
    bool declaresShape = tt->has_shape();
    auto *shape = tt->mutable_shape();
    auto it = options.inputShapes.find(in->name());
    if (it != options.inputShapes.end()) {
      if (declaresShape) {
        // The model's shape, N for a dynamic dim; a static dim must match.
        std::string declared;
        bool contradicts = shape->dim_size() != (int)it->second.size();
        for (int i = 0, e = shape->dim_size(); i < e; ++i) {
          const auto &d = shape->dim(i);
          bool known = d.has_dim_value() && d.dim_value() >= 0;
          declared +=
              (i ? "x" : "") + (known ? std::to_string(d.dim_value()) : std::string("N"));
          if (known && !contradicts && d.dim_value() != it->second[i])
            contradicts = true;
        }
        if (contradicts) {
          InFlightDiagnostic d = imp.fileError();
          d << "--input-shape gives input '" << in->name() << "' the shape "
            << formatShape(it->second) << ", which contradicts the model's "
            << (declared.empty() ? "scalar" : declared) << " (rank " << shape->dim_size()
            << ")";
          if (shape->dim_size() == (int)it->second.size())
            d << "; only its dynamic dims (N) can be set";
          return nullptr;
        }
      }
      shape->clear_dim();
      for (int64_t d : it->second)
        shape->add_dim()->set_dim_value(d);
    } else if (!declaresShape) {
      imp.fileError() << "input '" << in->name()
                      << "' has no shape: pass --input-shape " << in->name()
                      << "=DxD...";
      return nullptr;
    }
    SmallVector<int64_t> dims;
    for (int i = 0, e = shape->dim_size(); i < e; ++i) {
      auto *dim = shape->mutable_dim(i);
      if (!dim->has_dim_value() && i == 0 && options.batchSize)
        dim->set_dim_value(*options.batchSize);
      if (!dim->has_dim_value() || dim->dim_value() < 0) {
        std::string suggestion;
        for (int j = 0; j < e; ++j) {
          if (j)
            suggestion += "x";
          const auto &dj = shape->dim(j);
          suggestion += dj.has_dim_value() && dj.dim_value() >= 0
                            ? std::to_string(dj.dim_value())
                            : "N";
        }
        imp.fileError() << "input '" << in->name() << "' has a dynamic dim "
                        << i
                        << (dim->has_dim_param()
                                ? " ('" + dim->dim_param() + "')"
                                : std::string())
                        << ": pass --input-shape " << in->name() << "="
                        << suggestion << " with a size for each N";
        return nullptr;
      }
      dims.push_back(dim->dim_value());
    }
    inputTypes.push_back(RankedTensorType::get(dims, elem));
  }

  // Loss name check before the (possibly long) conversion.
  if (!options.inference && !options.lossName.empty() &&
      llvm::none_of(graph->output(), [&](const onnx::ValueInfoProto &o) {
        return o.name() == options.lossName;
      })) {
    std::string names;
    llvm::raw_string_ostream os(names);
    llvm::interleave(
        graph->output(), os,
        [&](const onnx::ValueInfoProto &o) { os << o.name(); }, ", ");
    imp.fileError() << "--loss names '" << options.lossName
                    << "', which is not an output of the model; outputs: "
                    << names;
    return nullptr;
  }

  // Every unsupported op at once, before any conversion.
  if (failed(imp.checkOpsSupported(*graph)))
    return nullptr;
  // Conv / pooling window attributes that disagree with their input's rank: one clear error.
  llvm::StringMap<int64_t> inputRanks;
  for (auto [in, type] : llvm::zip(inputs, inputTypes))
    inputRanks[in->name()] = type.getRank();
  if (failed(checkWindowAttributes(imp, *graph, inputRanks)))
    return nullptr;

  // Module, parameters and constants.
  Location fileLoc = FileLineColLoc::get(ctx, path, 0, 0);
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  imp.module = *module;
  llvm::SmallString<256> absPath(path);
  llvm::sys::fs::make_absolute(absPath);
  (*module)->setAttr(kModelFileAttr, StringAttr::get(ctx, absPath));
  OpBuilder &b = imp.builder;
  b.setInsertionPointToStart(module->getBody());
  llvm::StringSet<> symbols;
  symbols.insert("forward");
  for (const auto &t : graph->initializer()) {
    Type elem = elementTypeOf(ctx, t.data_type());
    if (!elem) {
      imp.fileError() << "initializer '" << t.name() << "' has element type "
                      << onnxTypeName(t.data_type())
                      << ", which the ds dialect does not support";
      return nullptr;
    }
    SmallVector<int64_t> dims(t.dims().begin(), t.dims().end());
    if (llvm::any_of(dims, [](int64_t d) { return d < 0; })) {
      imp.fileError() << "initializer '" << t.name() << "' has a negative dim";
      return nullptr;
    }
    ImportedValue v;
    if (isa<FloatType>(elem)) {
      auto type = RankedTensorType::get(dims, elem);
      if (failed(checkParameterData(imp, t, type)))
        return nullptr;
      std::string sym = t.name().empty() ? "param" : t.name();
      if (symbols.contains(sym)) {
        int suffix = 1;
        while (symbols.contains(sym + "_" + std::to_string(suffix)))
          ++suffix;
        sym += "_" + std::to_string(suffix);
      }
      symbols.insert(sym);
      auto param =
          ParameterOp::create(b, fileLoc, b.getStringAttr(sym), TypeAttr::get(type),
                              b.getStringAttr(t.name()), UnitAttr(), IntegerAttr());
      param->setAttr(kContentKeyAttr, b.getStringAttr(contentKeyOf(t)));
      if (isLowerTriangularOnes(ctx, t, type, imp.modelDir))
        param->setAttr(kLowerTriangularOnesAttr, b.getUnitAttr());
      v.parameter = FlatSymbolRefAttr::get(ctx, sym);
      v.type = type;
    } else {
      auto c = decodeTensor(ctx, t, imp.modelDir,
                            [&]() { return imp.fileError(); });
      if (failed(c))
        return nullptr;
      v.type = c->getType();
      v.constant = std::make_shared<ConstTensor>(std::move(*c));
    }
    imp.values[t.name()] = v;
  }

  // @forward.
  SmallVector<Type> argTypes(inputTypes.begin(), inputTypes.end());
  auto func = func::FuncOp::create(b, fileLoc, "forward",
                                   b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, in] : llvm::enumerate(inputs)) {
    func.setArgAttr(i, kInputNameAttr, b.getStringAttr(in->name()));
    ImportedValue v;
    v.value = entry->getArgument(i);
    v.type = inputTypes[i];
    imp.values[in->name()] = v;
  }
  b.setInsertionPointToStart(entry);
  if (failed(imp.importNodes(*graph)))
    return nullptr;

  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  for (const auto &out : graph->output()) {
    auto it = imp.values.find(out.name());
    if (it == imp.values.end()) {
      imp.fileError() << "output '" << out.name()
                      << "' is not produced by any node";
      return nullptr;
    }
    Value v = imp.materialize(it->second);
    auto type = cast<RankedTensorType>(v.getType());
    if (contradictsDeclaredType(imp, out.type(), type)) {
      imp.fileError() << "output '" << out.name() << "' is computed as " << type
                      << ", which contradicts the model's declared type of it";
      return nullptr;
    }
    results.push_back(v);
    resultTypes.push_back(type);
  }
  func::ReturnOp::create(b, fileLoc, results);
  func.setFunctionType(b.getFunctionType(argTypes, resultTypes));
  for (auto [i, out] : llvm::enumerate(graph->output()))
    func.setResultAttr(i, kOutputNameAttr, b.getStringAttr(out.name()));

  // The loss.
  if (!options.inference) {
    std::optional<unsigned> loss;
    std::string all;
    SmallVector<unsigned> candidates;
    for (auto [i, out] : llvm::enumerate(graph->output())) {
      auto type = cast<RankedTensorType>(resultTypes[i]);
      if (!all.empty())
        all += ", ";
      all += out.name() + " (" + describeType(type) + ")";
      if (!options.lossName.empty() && out.name() == options.lossName) {
        if (!isFloatScalar(type)) {
          imp.fileError() << "--loss names output '" << out.name() << "' of "
                          << describeType(type)
                          << ", but a loss must be a float scalar";
          return nullptr;
        }
        loss = i;
      }
      if (isFloatScalar(type))
        candidates.push_back(i);
    }
    if (!loss) {
      if (candidates.empty()) {
        imp.fileError() << "no output is a float scalar to train on; outputs: "
                        << all
                        << "; pass --loss=NAME, or --mode=inference";
        return nullptr;
      }
      if (candidates.size() > 1) {
        imp.fileError() << "several outputs are float scalars (" << all
                        << "): pass --loss=NAME to pick the loss";
        return nullptr;
      }
      loss = candidates.front();
    }
    func->setAttr(kLossIndexAttr, b.getI64IntegerAttr(*loss));
  }
  return module;
}
} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

/// ONNX in protobuf text format, by extension (any case).
static bool isOnnxTextPath(StringRef path) {
  return path.ends_with_insensitive(".onnxtxt") ||
         path.ends_with_insensitive(".textproto") || path.ends_with_insensitive(".pbtxt");
}

bool mlir::ds::isOnnxPath(StringRef path) {
  // Case-insensitive: a model saved as MODEL.ONNX is ONNX, not MLIR text.
  return path.ends_with_insensitive(".onnx") || isOnnxTextPath(path);
}

/// The name of the ONNX node a location points at, if any.
static std::optional<StringRef> nodeNameOf(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().getValue();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location l : fused.getLocations())
      if (auto n = nodeNameOf(l))
        return n;
  return std::nullopt;
}

OwningOpRef<ModuleOp> mlir::ds::importOnnx(MLIRContext *context,
                                           const llvm::MemoryBuffer &buffer,
                                           StringRef path,
                                           const ImportOptions &options) {
  context->loadDialect<DSDialect, func::FuncDialect>();
  // The messages name the path themselves: an unknown location keeps it printed once.
  Location fileLoc = UnknownLoc::get(context);
  StringRef data = buffer.getBuffer();
  auto model = std::make_unique<onnx::ModelProto>();
  bool text = isOnnxTextPath(path);
  if (text) {
    google::protobuf::TextFormat::Parser parser;
    TextErrorCollector errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(std::string(data), model.get())) {
      emitError(fileLoc) << path
                         << ": not an ONNX model in protobuf text format: "
                         << errors.first;
      return nullptr;
    }
  } else {
    if (data.size() > (size_t)INT_MAX) {
      emitError(fileLoc) << path
                         << ": the model is larger than 2 GB; save its "
                            "weights as ONNX external data";
      return nullptr;
    }
    google::protobuf::io::CodedInputStream stream(
        reinterpret_cast<const uint8_t *>(data.data()), (int)data.size());
    stream.SetTotalBytesLimit(INT_MAX);
    google::protobuf::LogSilencer silence; // our one-line error replaces its logs
    if (!model->ParseFromCodedStream(&stream) ||
        !stream.ConsumedEntireMessage()) {
      emitError(fileLoc) << path
                         << ": not an ONNX model (the file does not parse as "
                            "a protobuf ModelProto; truncated or not ONNX)";
      return nullptr;
    }
  }

  // Errors from ds type inference and verifiers are collected, then reported once,
  // naming the ONNX node of their location.
  struct Collected {
    Location loc;
    std::string message;
  };
  SmallVector<Collected> errors;
  OwningOpRef<ModuleOp> module;
  llvm::StringMap<std::string> nodeDescriptions;
  {
    ScopedDiagnosticHandler collector(context, [&](Diagnostic &d) {
      if (d.getSeverity() != DiagnosticSeverity::Error)
        return failure();
      errors.push_back({d.getLocation(), d.str()});
      return success();
    });
    // Describe the nodes for errors that ds type inference and verifiers raise.
    GraphImporter describer(context, ModuleOp(), path, options, 0);
    for (const auto &o : model->opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx")
        describer.opset = o.version();
    for (const auto &n : model->graph().node()) {
      Location l = describer.nodeLocation(n, describer.nodeIndex);
      if (auto name = nodeNameOf(l))
        nodeDescriptions[*name] = describer.describeNode(n);
      ++describer.nodeIndex;
    }
    module = importModel(context, *model, path, options);
    if (module && failed(mlir::verify(*module)))
      module = nullptr;
  }
  std::string prefix = (path + ": ").str();
  for (const Collected &e : errors) {
    if (StringRef(e.message).starts_with(prefix)) {
      emitError(fileLoc) << e.message;
      continue;
    }
    InFlightDiagnostic d = emitError(fileLoc);
    d << prefix;
    if (auto name = nodeNameOf(e.loc)) {
      auto it = nodeDescriptions.find(*name);
      if (it != nodeDescriptions.end())
        d << it->second << ": ";
      else
        d << "node '" << *name << "': ";
    }
    d << e.message;
  }
  if (!errors.empty())
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> mlir::ds::importOnnxFile(MLIRContext *context,
                                               StringRef path,
                                               const ImportOptions &options) {
  // A regular file under protobuf's 2 GiB limit (weights beyond it go in external data):
  // a directory, a FIFO or a link to /dev/zero would block or be read until memory runs
  // out.
  // The messages name the path themselves: an unknown location keeps it printed once.
  Location fileLoc = UnknownLoc::get(context);
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status)) {
    emitError(fileLoc) << path << ": cannot read the model: " << ec.message();
    return nullptr;
  }
  if (status.type() != llvm::sys::fs::file_type::regular_file) {
    emitError(fileLoc) << path
                       << ": cannot read the model: not a regular file (a directory, "
                          "device or pipe); pass the .onnx file itself";
    return nullptr;
  }
  if (status.getSize() > (uint64_t)INT_MAX) {
    emitError(fileLoc) << path << ": the model is " << status.getSize()
                       << " bytes, larger than protobuf's 2 GiB limit; save its "
                          "weights as ONNX external data";
    return nullptr;
  }
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    emitError(fileLoc) << path
                       << ": cannot read the model: " << buffer.getError().message();
    return nullptr;
  }
  return importOnnx(context, **buffer, path, options);
}

void mlir::ds::registerONNXImportTranslation() {
  // The importer's op table, one "op since-version [fold-only|folds-from-types]" line each
  // ("domain.op"
  // outside the default domain): what scripts/onnx-node-tests.py treats as supported.
  // Ignores its input.
  TranslateRegistration table(
      "onnx-op-table", "Print the ONNX ops the importer knows and their first opset",
      [](const std::shared_ptr<llvm::SourceMgr> &, llvm::raw_ostream &os,
         MLIRContext *) -> LogicalResult {
        for (const auto &e : onnx_import::getONNXOpTable().entries())
          os << (e.domain.empty() ? "" : e.domain + ".") << e.op << " " << e.sinceVersion
             << (e.foldsFromTypes ? " folds-from-types" : e.foldOnly ? " fold-only" : "")
             << "\n";
        return success();
      });
  TranslateToMLIRRegistration registration(
      "import-onnx", "Import an ONNX model into the ds dialect",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        std::optional<ImportOptions> options = getImportOptionsFromCL();
        if (!options)
          return nullptr;
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        return importOnnx(context, *buffer, buffer->getBufferIdentifier(),
                          *options);
      },
      [](DialectRegistry &registry) { registerAllDialects(registry); });
}
