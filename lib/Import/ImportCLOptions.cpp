// Command-line flags of the ONNX import (--input-shape, --loss, --mode, --freeze).
#include "ds/Import/ONNX.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ManagedStatic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::ds;
namespace cl = llvm::cl;

namespace {
enum class ImportMode { Train, Inference };

struct ImportCLOptions {
  cl::OptionCategory category{"ONNX import options"};
  cl::list<std::string> inputShapes{
      "input-shape",
      cl::desc("Static shape of a graph input, NAME=DxD... (repeatable), e.g. "
               "--input-shape idx=4x32"),
      cl::value_desc("NAME=DxD..."), cl::cat(category)};
  cl::opt<std::string> loss{
      "loss",
      cl::desc("Name of the graph output that is the training loss (default: "
               "the one float scalar output)"),
      cl::value_desc("NAME"), cl::cat(category)};
  cl::opt<ImportMode> mode{
      "mode", cl::desc("Import for training or for inference"),
      cl::init(ImportMode::Train),
      cl::values(clEnumValN(ImportMode::Train, "train",
                            "training: the loss output, dropout active"),
                 clEnumValN(ImportMode::Inference, "inference",
                            "no loss, dropout is the identity, every "
                            "parameter frozen")),
      cl::cat(category)};
  cl::opt<std::string> freeze{
      "freeze",
      cl::desc("Freeze the parameters whose name matches this regex"),
      cl::value_desc("REGEX"), cl::cat(category)};
};

llvm::ManagedStatic<ImportCLOptions> clOptions;

/// Parses "NAME=DxD..." ("NAME=" is a scalar).
std::optional<std::pair<std::string, SmallVector<int64_t>>>
parseInputShape(StringRef spec) {
  auto [name, dims] = spec.rsplit('=');
  if (name.empty() || name.size() == spec.size())
    return std::nullopt;
  SmallVector<int64_t> shape;
  if (dims.empty())
    return std::make_pair(name.str(), shape);
  SmallVector<StringRef> parts;
  dims.split(parts, 'x');
  for (StringRef p : parts) {
    int64_t d;
    if (p.getAsInteger(10, d) || d < 0)
      return std::nullopt;
    shape.push_back(d);
  }
  return std::make_pair(name.str(), shape);
}
} // namespace

void mlir::ds::registerImportCLOptions() { *clOptions; }

std::optional<ImportOptions> mlir::ds::getImportOptionsFromCL() {
  ImportOptions options;
  if (!clOptions.isConstructed())
    return options;
  for (const std::string &spec : clOptions->inputShapes) {
    auto parsed = parseInputShape(spec);
    if (!parsed) {
      llvm::errs() << "error: --input-shape '" << spec
                   << "' is malformed: expected NAME=DxD... with non-negative "
                      "integer dims, e.g. idx=4x32\n";
      return std::nullopt;
    }
    if (options.inputShapes.count(parsed->first)) {
      llvm::errs() << "error: --input-shape gives input '" << parsed->first
                   << "' twice\n";
      return std::nullopt;
    }
    options.inputShapes[parsed->first] = parsed->second;
  }
  options.lossName = clOptions->loss;
  options.inference = clOptions->mode == ImportMode::Inference;
  options.freeze = clOptions->freeze;
  return options;
}
