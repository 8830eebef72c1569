// libFuzzer target: arbitrary bytes as a .npy file through openNpy/readNpyRows must give data or an Error.
#include "ds/runtime/Error.h"
#include "ds/runtime/Npy.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

namespace {
// One scratch file per process (libFuzzer -jobs/-workers run several): /dev/shm when there.
const std::string &scratchPath() {
  static const std::string path =
      std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/ds-npy-fuzz." +
      std::to_string(getpid()) + ".npy";
  return path;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string &path = scratchPath();
  {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f)
      return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    ds::rt::NpyFile npy = ds::rt::openNpy(path);
    // What the input feeder does: read rows of the leading dim (the first few and the last).
    if (!npy.shape.empty() && npy.shape[0] > 0) {
      int64_t rowElems = npy.rowElems();
      size_t elemBytes = ds::rt::dtypeSize(npy.dtype);
      if (rowElems >= 0 && uint64_t(rowElems) * elemBytes <= (uint64_t(1) << 20)) {
        size_t rowBytes = std::max<size_t>(size_t(rowElems) * elemBytes, 1);
        int64_t rows = std::min<int64_t>(npy.shape[0], int64_t((size_t(1) << 20) / rowBytes));
        std::vector<char> buf(size_t(rows) * rowBytes);
        ds::rt::readNpyRows(npy, 0, rows, buf.data());
        ds::rt::readNpyRows(npy, npy.shape[0] - 1, 1, buf.data());
      }
    }
  } catch (const ds::rt::Error &) {
  }
  return 0;
}
