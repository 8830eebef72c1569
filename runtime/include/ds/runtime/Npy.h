// Reading and writing NumPy .npy files (format versions 1-3, C order, little-endian).
#pragma once

#include "ds/runtime/DType.h"

#include <string>
#include <vector>

namespace ds::rt {

/// An opened .npy file: its header; the data is read on demand.
struct NpyFile {
  std::string path;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t dataOffset = 0;
  int64_t rowElems() const; // product of shape[1:]
};

/// Parses the header; supports descr '<f4' '<f8' '<f2' '<i8' '<i4' '|b1' (and '<u2' read as
/// bf16 is not supported). Throws Error naming the file for anything else (Fortran order,
/// big-endian, truncated data, bad header).
NpyFile openNpy(const std::string &path);
/// Reads rows [first, first + count) (leading dim) into dst. Rows must exist.
void readNpyRows(const NpyFile &f, int64_t first, int64_t count, void *dst);
/// A complete .npy (version 1) image of `data`.
std::string encodeNpy(DType dtype, const std::vector<int64_t> &shape, const void *data);
/// The size of encodeNpy(dtype, shape, ...) in bytes.
uint64_t npyFileBytes(DType dtype, const std::vector<int64_t> &shape);
/// Writes encodeNpy(...) atomically (temp file + rename).
void writeNpy(const std::string &path, DType dtype, const std::vector<int64_t> &shape,
              const void *data);
/// Creates `dir` and its missing parents (mkdir -p); throws Error when one cannot be created
/// or `dir` is not a directory.
void createDirectories(const std::string &dir);
/// The NumPy descr for a dtype: "<f4", ... ("<u2" for bf16, which NumPy lacks).
std::string npyDescr(DType dtype);

} // namespace ds::rt
