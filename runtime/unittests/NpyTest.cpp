// The .npy reader and writer.
#include "ds/runtime/Npy.h"
#include "ds/runtime/Plan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace ds::rt;

namespace {
std::string tmpPath(const std::string &name) {
  return std::string(testing::TempDir()) + "/npy_" + std::to_string(getpid()) + "_" + name;
}
void writeRaw(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}
std::string header(int major, const std::string &dict) {
  std::string h = "\x93NUMPY";
  h += char(major);
  h += char(0);
  std::string d = dict + "\n";
  if (major == 1) {
    h += char(d.size() & 0xff);
    h += char(d.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i)
      h += char((d.size() >> (8 * i)) & 0xff);
  }
  return h + d;
}
std::string openError(const std::string &path) {
  try {
    openNpy(path);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}
} // namespace

TEST(Npy, RoundTripAndRowReads) {
  std::vector<int64_t> v = {1, 2, 3, 4, 5, 6};
  std::string p = tmpPath("rt.npy");
  writeNpy(p, ds::plan::I64, {3, 2}, v.data());
  NpyFile f = openNpy(p);
  EXPECT_EQ(f.dtype, ds::plan::I64);
  EXPECT_EQ(f.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(f.dataOffset % 64, 0u);
  int64_t rows[4];
  readNpyRows(f, 1, 2, rows);
  EXPECT_EQ(rows[0], 3);
  EXPECT_EQ(rows[3], 6);
  EXPECT_THROW(readNpyRows(f, 2, 2, rows), Error);
  std::remove(p.c_str());
}

TEST(Npy, VersionTwoHeaderAndOneDim) {
  std::string p = tmpPath("v2.npy");
  float data[3] = {1.5f, 2.5f, 3.5f};
  writeRaw(p, header(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") +
                  std::string(reinterpret_cast<char *>(data), 12));
  NpyFile f = openNpy(p);
  EXPECT_EQ(f.shape, (std::vector<int64_t>{3}));
  float got[3];
  readNpyRows(f, 0, 3, got);
  EXPECT_EQ(got[2], 3.5f);
  std::remove(p.c_str());
}

TEST(Npy, RejectsWhatItCannotRead) {
  std::string p = tmpPath("bad.npy");
  writeRaw(p, header(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }") + "abcd");
  EXPECT_NE(openError(p).find("unsupported .npy dtype '>f4'"), std::string::npos);
  writeRaw(p, header(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }") + "abcd");
  EXPECT_NE(openError(p).find("Fortran-order"), std::string::npos);
  writeRaw(p, header(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }") + "abcd");
  EXPECT_NE(openError(p).find("truncated"), std::string::npos);
  writeRaw(p, "just text");
  EXPECT_NE(openError(p).find("not a .npy file"), std::string::npos);
  writeRaw(p, header(1, "{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }"));
  EXPECT_NE(openError(p).find("unsupported .npy dtype"), std::string::npos);
  EXPECT_NE(openError(tmpPath("missing.npy")).find("cannot open"), std::string::npos);
  std::remove(p.c_str());
}

TEST(Npy, AtomicWriteLeavesNoTempFile) {
  std::string p = tmpPath("atomic.npy");
  uint8_t b[2] = {1, 0};
  writeNpy(p, ds::plan::I1, {2}, b);
  EXPECT_EQ(openNpy(p).dtype, ds::plan::I1);
  EXPECT_NE(access((p + ".tmp." + std::to_string(getpid())).c_str(), F_OK), 0);
  EXPECT_THROW(writeNpy("/nonexistent-dir/x.npy", ds::plan::I1, {2}, b), Error);
  std::remove(p.c_str());
}
