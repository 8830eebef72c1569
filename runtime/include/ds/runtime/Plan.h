// Loading and validating a .dsplan file.
#pragma once

#include "ds/runtime/Kernels.h"
#include "plan.pb.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace ds::rt {

/// File format 0.2: the magic, then the payload's checksum (planChecksum, 8 bytes
/// little-endian), then the payload (one serialized ds.plan.Plan). Format 0.1 had no checksum.
constexpr char kPlanMagic[8] = {'D', 'S', 'P', 'L', 'A', 'N', '\0', '\2'};
constexpr size_t kPlanHeaderBytes = 16; // magic + checksum
constexpr uint32_t kPlanVersion = 1;    // Plan.version: the schema of the payload
constexpr uint64_t kMaxRegionBytes = uint64_t(1) << 40; // 1 TiB

struct BufferInfo {
  TensorType type;
  ds::plan::Placement placement;
  uint64_t offset;
  std::string name; // for messages: "buffer 7 'h1'"
};

/// A validated plan with the lookups the executor needs.
struct LoadedPlan {
  ds::plan::Plan plan;
  std::string path; // the file it came from ("<memory>" when parsed from bytes)
  std::string modelPath; // model_file resolved against the plan's directory
  std::vector<BufferInfo> buffers; // dense index
  std::unordered_map<uint32_t, size_t> bufferIndex; // id -> dense index
  /// For each program, each instruction's operands as dense buffer indices.
  std::vector<std::vector<std::vector<size_t>>> instrInputs, instrOutputs;
  /// For each program, each instruction's attributes, decoded and validated at load.
  std::vector<std::vector<KernelAttrs>> instrAttrs;
  int programByRole[5] = {-1, -1, -1, -1, -1};
  int microBatch = 0;
  int accumulationSteps = 1;

  const BufferInfo &buffer(uint32_t id) const { return buffers[bufferIndex.at(id)]; }
  int program(ds::plan::Program::Role role) const { return programByRole[int(role)]; }
};

/// The kernels that run on the COMM stream (and only there): all_gather, reduce_scatter,
/// all_reduce, broadcast, barrier. The one place the runtime decides a kernel's stream class.
bool isCollectiveKernel(const std::string &kernel);
/// Throws Error (without location) when `kernel` may not run on `stream`: a collective off
/// COMM, or anything else on COMM.
void checkKernelStream(const std::string &kernel, ds::plan::Instruction::Stream stream);
/// "arena", "persistent region", "host region", "NVMe region"; nullptr for an invalid value.
const char *placementRegionName(ds::plan::Placement placement);
/// The size of the region `placement` names (0 for an invalid value).
uint64_t regionBytes(const ds::plan::Plan &plan, ds::plan::Placement placement);

/// Reads, parses and validates `path`. `worldSize` > 0 also checks the plan's world size.
/// Throws Error with a one-line message naming the file and what is wrong.
LoadedPlan loadPlan(const std::string &path, int worldSize);
/// Same, from the file's bytes (magic included); `path` is used for messages and model_file.
LoadedPlan parsePlan(const std::string &bytes, const std::string &path, int worldSize);
/// Validates an already parsed plan (everything parsePlan checks after decoding).
void validatePlan(LoadedPlan &lp, int worldSize);
/// The plan's model_file resolved against the directory of the plan file (what validatePlan
/// sets modelPath to; ds-run --model replaces modelPath only). Empty: no model_file.
std::string resolveModelFile(const LoadedPlan &lp);

/// Serializes `plan` with the header (magic, checksum) in front (what the compiler writes).
std::string serializePlan(const ds::plan::Plan &plan);
/// The header for `payload` (a serialized Plan) followed by the payload.
std::string framePlanPayload(const std::string &payload);
/// The checksum a plan header stores: 64-bit FNV-1a over the payload bytes. Each step
/// (xor a byte, multiply by an odd prime) is a bijection of the state, so any change of a
/// single payload byte changes the result.
uint64_t planChecksum(const char *data, size_t size);
/// Checks the magic and the checksum of a plan file's bytes and decodes the payload into
/// `plan`, rejecting protobuf fields this runtime does not know. Throws Error (without the
/// file name); does not validate the plan (validatePlan does).
void decodePlan(const std::string &bytes, ds::plan::Plan &plan);
/// Writes serializePlan(plan) to `path` atomically (temp file + rename).
void writePlanFile(const ds::plan::Plan &plan, const std::string &path);

/// Writes `data` to `path` via a temporary file in the same directory and rename().
void writeFileAtomically(const std::string &path, const std::string &data);

} // namespace ds::rt
