// Registers every pass and pipeline of the ds tools (and the upstream ones they use).
#ifndef DS_INITALLPASSES_H
#define DS_INITALLPASSES_H

#include "ds/Conversion/Passes.h"
#include "ds/Dialect/DS/Transforms/Passes.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"
#include "ds/Pipelines/Pipelines.h"

#include "mlir/Transforms/Passes.h"

namespace mlir::ds {

/// The ds, conversion and dsrt passes, the named pipelines, and upstream's generic
/// transforms (canonicalize, cse, ...).
inline void registerAllPasses() {
  registerDSPasses();
  registerConversionPasses();
  dsrt::registerRuntimePasses();
  registerPipelines();
  registerTransformsPasses();
}

} // namespace mlir::ds

#endif // DS_INITALLPASSES_H
