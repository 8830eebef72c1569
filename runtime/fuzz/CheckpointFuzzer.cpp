// libFuzzer target: bytes as a checkpoint (manifest + rank file) give data or an Error.
#include "ds/runtime/Checkpoint.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {
// One scratch tag directory per process: /dev/shm when there.
const std::string &scratchDir() {
  static const std::string dir = [] {
    std::string d = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                    "/ds-ckpt-fuzz." + std::to_string(getpid());
    mkdir(d.c_str(), 0755);
    return d;
  }();
  return dir;
}
void writeFile(const std::string &path, const uint8_t *data, size_t size) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
}
} // namespace

// Input layout: a 4-byte little-endian length m, m bytes of manifest.json, and the rest
// as rank00000.safetensors.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  uint32_t m = uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 |
               uint32_t(data[3]) << 24;
  if (m > size - 4)
    m = uint32_t(size - 4);
  const std::string &dir = scratchDir();
  writeFile(dir + "/manifest.json", data + 4, m);
  writeFile(dir + "/rank00000.safetensors", data + 4 + m, size - 4 - m);
  try {
    ds::rt::SafetensorsFile f(dir + "/rank00000.safetensors");
    std::vector<char> buf;
    for (const auto &t : f.tensors()) {
      uint64_t n = std::min<uint64_t>(t.end - t.begin, 1 << 16);
      buf.resize(size_t(n));
      f.read(t, 0, n, buf.data());
    }
    (void)f.hashFile(ds::rt::PieceHashAlgorithm::Content);
    (void)f.hashFile(ds::rt::PieceHashAlgorithm::Stripe);
    (void)f.hashWholeFile();
  } catch (const ds::rt::Error &) {
  }
  // The same-plan load: the whole file, staged tensor by tensor, its hash checked (two
  // threads for a version 2 or 3 manifest).
  try {
    ds::rt::CheckpointManifest man = ds::rt::readCheckpointManifest(dir);
    ds::rt::CheckpointReader reader(man, /*verifyHashes=*/true);
    reader.readWholeFile(
        0, [](const std::string &, uint64_t) -> char * { return nullptr; },
        [](const std::string &, const char *) {});
  } catch (const ds::rt::Error &) {
  }
  try {
    ds::rt::CheckpointManifest man = ds::rt::readCheckpointManifest(dir);
    ds::rt::CheckpointReader reader(man, /*verifyHashes=*/false);
    std::vector<char> buf;
    for (const auto &t : man.tensors) {
      uint64_t n = t.fullNumel ? t.fullNumel : uint64_t(ds::rt::checkedNumel(t.shape));
      n = std::min<uint64_t>(n, 1 << 12);
      buf.resize(size_t(n) * ds::rt::dtypeSize(t.dtype) + 1);
      reader.read(t, 0, n, buf.data(), 0);
    }
  } catch (const ds::rt::Error &) {
  }
  return 0;
}
