// libFuzzer target: arbitrary bytes through the plan loader must give a plan or an Error.
#include "ds/runtime/Plan.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  try {
    ds::rt::parsePlan(bytes, "fuzz.dsplan", 0);
  } catch (const ds::rt::Error &) {
  }
  // Also with a valid header (magic and checksum) in front of the payload, so the fuzzer
  // spends its time inside the protobuf message and the validator rather than at the
  // checksum. A whole .dsplan (the seed corpus) keeps its payload; anything else is one.
  std::string payload = bytes.size() >= ds::rt::kPlanHeaderBytes &&
                                std::memcmp(data, ds::rt::kPlanMagic, 6) == 0
                            ? bytes.substr(ds::rt::kPlanHeaderBytes)
                            : bytes;
  try {
    ds::rt::parsePlan(ds::rt::framePlanPayload(payload), "fuzz.dsplan", 0);
  } catch (const ds::rt::Error &) {
  }
  return 0;
}
