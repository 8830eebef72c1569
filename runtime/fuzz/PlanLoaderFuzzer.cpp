// libFuzzer target: arbitrary bytes through the plan loader must give a plan or an Error.
#include "ds/runtime/Plan.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  try {
    ds::rt::parsePlan(bytes, "fuzz.dsplan", 0);
  } catch (const ds::rt::Error &) {
  }
  // Also with the magic supplied, so the fuzzer spends its time inside the protobuf message.
  try {
    ds::rt::parsePlan(std::string(ds::rt::kPlanMagic, 8) + bytes, "fuzz.dsplan", 0);
  } catch (const ds::rt::Error &) {
  }
  return 0;
}
