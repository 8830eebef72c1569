// The (domain, op type, since-version) table of ONNX ops, filled by the op families.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

/// "" for the default ONNX domain, however the model spells it.
static StringRef canonicalDomain(StringRef domain) {
  return domain == "ai.onnx" ? StringRef() : domain;
}

static std::string keyOf(StringRef domain, StringRef op) {
  return (canonicalDomain(domain) + ":" + op).str();
}

void ONNXOpTable::onOp(StringRef domain, StringRef op, int64_t sinceVersion,
                       OpImport import) {
  SmallVector<Versioned, 1> &versions = ops[keyOf(domain, op)];
  auto it = llvm::find_if(
      versions, [&](const Versioned &v) { return v.sinceVersion >= sinceVersion; });
  assert((it == versions.end() || it->sinceVersion != sinceVersion) &&
         "an op registered twice for one since-version");
  versions.insert(it, {sinceVersion, import});
}

const OpImport *ONNXOpTable::lookup(StringRef domain, StringRef op, int64_t opset) const {
  auto it = ops.find(keyOf(domain, op));
  if (it == ops.end())
    return nullptr;
  const OpImport *best = nullptr;
  for (const Versioned &v : it->second)
    if (v.sinceVersion <= opset)
      best = &v.import;
  return best;
}

std::optional<int64_t> ONNXOpTable::firstVersion(StringRef domain, StringRef op) const {
  auto it = ops.find(keyOf(domain, op));
  if (it == ops.end() || it->second.empty())
    return std::nullopt;
  return it->second.front().sinceVersion;
}

std::vector<ONNXOpTable::Entry> ONNXOpTable::entries() const {
  std::vector<Entry> out;
  for (const auto &kv : ops) {
    auto [domain, op] = kv.getKey().split(':');
    if (!kv.getValue().empty())
      out.push_back({domain.str(), op.str(), kv.getValue().front().sinceVersion,
                     kv.getValue().back().import.convert == nullptr,
                     kv.getValue().back().import.foldsFromTypes});
  }
  llvm::sort(out);
  return out;
}

const ONNXOpTable &mlir::ds::onnx_import::getONNXOpTable() {
  static const ONNXOpTable table = [] {
    ONNXOpTable t;
    populateElementwiseOps(t);
    populateLinalgOps(t);
    populateNormalizationOps(t);
    populateReductionOps(t);
    populateShapeOps(t);
    populateShapeComputationOps(t);
    populateTrainingOps(t);
    populateConvolutionOps(t);
    populateComposedOps(t);
    return t;
  }();
  return table;
}
