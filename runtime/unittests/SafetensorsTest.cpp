// The safetensors reader and writer, the JSON reader and the checkpoint content hashes.
#include "ds/runtime/Safetensors.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/Json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sys/mman.h>
#include <unistd.h>

using namespace ds::rt;

namespace {
std::string tmpPath(const std::string &name) {
  return std::string(testing::TempDir()) + "/st_" + std::to_string(getpid()) + "_" + name;
}
std::string readAll(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void writeRaw(const std::string &path, const std::string &bytes) {
  unlink(path.c_str());
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), std::streamsize(bytes.size()));
}
/// A file with one header and `data` bytes after it.
std::string fileWith(const std::string &json, const std::string &data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + json + data;
}
/// PieceHash (Safetensors.h) with hash H (ContentHash or StripeHash) of `bytes` cut at
/// `ends` (each piece's end, in order), written out from its definition.
template <class H>
std::string pieceHashByHand(const std::string &bytes, const std::vector<uint64_t> &ends) {
  H outer;
  uint64_t at = 0;
  for (uint64_t end : ends) {
    H piece;
    piece.update(bytes.data() + at, size_t(end - at));
    uint64_t v = piece.value();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i)
      le[i] = (unsigned char)(v >> (8 * i));
    outer.update(le, 8);
    at = end;
  }
  EXPECT_EQ(at, bytes.size());
  return outer.hex();
}
constexpr PieceHashAlgorithm kContent = PieceHashAlgorithm::Content;
constexpr PieceHashAlgorithm kStripe = PieceHashAlgorithm::Stripe;
std::string hex(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)v);
  return buf;
}
void expectError(const std::string &bytes, const std::string &needle) {
  std::string path = tmpPath("bad");
  writeRaw(path, bytes);
  try {
    SafetensorsFile f(path);
    FAIL() << "no error for " << needle;
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}
} // namespace

// Tests that what the writer writes reads back: dtypes, shapes, metadata, data, an empty
// tensor and a scalar, the header padded to 8 bytes, and the hashes (the writer's
// PieceHash with StripeHash, the reader's with both algorithms, ContentHash of the whole
// file).
TEST(Safetensors, RoundTrip) {
  std::string path = tmpPath("rt");
  unlink(path.c_str());
  float a[6] = {1, 2, 3, 4, 5, 6};
  int64_t s = 42;
  uint16_t h[2] = {0x3c00, 0xc000};
  uint64_t written = 0;
  {
    SafetensorsWriter w(path,
                        {{"a", ds::plan::F32, {2, 3}, 0, 0},
                         {"step", ds::plan::I64, {}, 0, 0},
                         {"empty", ds::plan::F32, {0, 4}, 0, 0},
                         {"h", ds::plan::F16, {2}, 0, 0}},
                        {{"format", "pt"}, {"quote\"d", "x\ny"}});
    w.append(a, 12); // in pieces
    w.append(a + 3, 12);
    w.append(&s, 8);
    w.append(h, 4);
    w.finish();
    written = w.hash();
    EXPECT_EQ(w.bytesWritten(), readAll(path).size());
  }
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("quote\"d"), "x\ny");
  const SafetensorsTensor *t = f.find("a");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  float back[6];
  f.read(*t, 0, 24, back);
  EXPECT_EQ(std::memcmp(back, a, 24), 0);
  int64_t s2 = 0;
  f.read(*f.find("step"), 0, 8, &s2);
  EXPECT_EQ(s2, 42);
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_EQ(f.find("h")->dtype, ds::plan::F16);
  std::string bytes = readAll(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  // The pieces: the header, then a (24 bytes), step (8), h (4); the empty tensor has none.
  uint64_t d = f.dataStart();
  std::string want = pieceHashByHand<StripeHash>(bytes, {d, d + 24, d + 32, d + 36});
  EXPECT_EQ(f.hashFile(kStripe), want);
  EXPECT_EQ(hex(written), want); // the writer's is the StripeHash one
  EXPECT_EQ(f.hashFile(kContent),
            pieceHashByHand<ContentHash>(bytes, {d, d + 24, d + 32, d + 36}));
  ContentHash c;
  c.update(bytes.data(), bytes.size());
  EXPECT_EQ(f.hashWholeFile(), c.hex());
}

// Tests readBytes after adviseSequential: pieces in the page cache and pieces that are not
// (their pages dropped), at unaligned offsets, give the file's bytes.
TEST(Safetensors, SequentialReadsFromCacheAndDisk) {
  std::string path = tmpPath("seq");
  unlink(path.c_str());
  std::vector<uint32_t> a((size_t(7) << 20) / 4 + 3);
  uint32_t x = 12345;
  for (auto &v : a)
    v = x = x * 1664525u + 1013904223u;
  {
    SafetensorsWriter w(path, {{"a", ds::plan::I32, {int64_t(a.size())}, 0, 0}}, {});
    w.append(a.data(), a.size() * 4);
    w.finish(); // fsync: the pages are clean and can be dropped
  }
  std::string bytes = readAll(path);
  SafetensorsFile f(path);
  f.adviseSequential();
  // Drop MiB 2 to 4 (an unaligned start too) from the page cache.
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(posix_fadvise(fd, (2 << 20) + 4096 * 3, 2 << 20, POSIX_FADV_DONTNEED), 0);
  close(fd);
  std::string back(bytes.size(), '\0');
  // Unaligned pieces, as readWholeFile's tensors are.
  uint64_t at = 0;
  for (uint64_t piece : {uint64_t(5), uint64_t(3 << 20) + 77, uint64_t(1 << 20)}) {
    f.readBytes(at, piece, back.data() + at);
    at += piece;
  }
  f.readBytes(at, bytes.size() - at, back.data() + at);
  EXPECT_TRUE(back == bytes);
  ContentHash c;
  c.update(bytes.data(), bytes.size());
  EXPECT_EQ(f.hashWholeFile(), c.hex());
  // 1 MiB pieces from the tensor's first byte, the last one 12 bytes.
  std::vector<uint64_t> ends{f.dataStart()};
  for (uint64_t at = 0; at < a.size() * 4; at += PieceHash::kPiece)
    ends.push_back(f.dataStart() + std::min<uint64_t>(at + PieceHash::kPiece, a.size() * 4));
  EXPECT_EQ(ends.size(), 9u);
  EXPECT_EQ(f.hashFile(kContent), pieceHashByHand<ContentHash>(bytes, ends));
  EXPECT_EQ(f.hashFile(kStripe), pieceHashByHand<StripeHash>(bytes, ends));
}

// Tests PieceHash's pieces and their sensitivity, with both algorithms: they cover every
// byte once (tensors given out of file order, empty ones, one over 2 MiB), the writer's
// hash (fed in chunks that straddle pieces) equals the reader's, and a flipped byte
// anywhere (header, a piece's first and last byte, the file's last byte) changes it.
TEST(PieceHash, PiecesWriterAndSensitivity) {
  std::string path = tmpPath("pieces");
  unlink(path.c_str());
  size_t big = (size_t(5) << 19) + 4; // 2.5 MiB + 4 bytes of I32
  std::string data(big + 8 + 12, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = char(i * 131 + (i >> 11));
  uint64_t value;
  {
    SafetensorsWriter w(path,
                        {{"big", ds::plan::I32, {int64_t(big / 4)}, 0, 0},
                         {"none", ds::plan::F32, {0}, 0, 0},
                         {"s", ds::plan::I64, {}, 0, 0},
                         {"c", ds::plan::F32, {3}, 0, 0}},
                        {});
    for (size_t at = 0; at < data.size(); at += 777777)
      w.append(data.data() + at, std::min<size_t>(777777, data.size() - at));
    w.finish();
    value = w.hash();
  }
  SafetensorsFile f(path);
  std::vector<SafetensorsPiece> pieces = safetensorsPieces(f.tensors(), f.dataStart());
  ASSERT_EQ(pieces.size(), 1u + 3u + 1u + 1u);
  uint64_t at = 0;
  for (const auto &p : pieces) {
    EXPECT_EQ(p.offset, at);
    EXPECT_LE(p.size, PieceHash::kPiece);
    at += p.size;
  }
  EXPECT_EQ(at, f.fileBytes());
  EXPECT_EQ(f.tensors()[pieces[3].tensor].name, "big");
  EXPECT_EQ(pieces[3].size, uint64_t(big) - 2 * PieceHash::kPiece);
  EXPECT_EQ(f.tensors()[pieces[4].tensor].name, "s");
  std::string h = f.hashFile(kStripe);
  EXPECT_EQ(hex(value), h);
  std::string hv2 = f.hashFile(kContent);
  EXPECT_NE(hv2, h);
  std::string bytes = readAll(path);
  for (uint64_t i : {uint64_t(3), f.dataStart() - 1, f.dataStart(),
                     f.dataStart() + PieceHash::kPiece - 1, f.dataStart() + PieceHash::kPiece,
                     f.fileBytes() - 1}) {
    std::string b = bytes;
    b[size_t(i)] ^= 0x20; // in the header: a space becomes a NUL or a letter changes case
    std::string flipped = tmpPath("flipped");
    writeRaw(flipped, b);
    if (i < f.dataStart()) {
      // A header that still parses (same offsets) hashes differently; else it is refused.
      try {
        EXPECT_NE(SafetensorsFile(flipped).hashFile(kStripe), h) << i;
        EXPECT_NE(SafetensorsFile(flipped).hashFile(kContent), hv2) << i;
      } catch (const Error &) {
      }
    } else {
      EXPECT_NE(SafetensorsFile(flipped).hashFile(kStripe), h) << i;
      EXPECT_NE(SafetensorsFile(flipped).hashFile(kContent), hv2) << i;
    }
  }
  // The values themselves are a format (manifests store them): pinned, version 2's and
  // version 3's (the latter: StripeHash of the 16 bytes 01 00 .. 00 ef cd ab 89 67 45 23
  // 01).
  PieceHash p(kContent), q(kStripe);
  for (PieceHash *x : {&p, &q}) {
    x->add(1);
    x->add(0x0123456789abcdefull);
  }
  EXPECT_EQ(p.hex(), "ea7064a742b9a4ab");
  EXPECT_EQ(q.hex(), "008a5175771e2c22"); // check_ckpt.py stripe_hash
}

// Tests the mapped reads of a checkpoint load: a file in the page cache is mapped, each
// piece copied with its PieceHash value (both algorithms) equal to pread and hashing; a
// file whose pages were dropped is not mapped (pread serves it); a file truncated while
// mapped is an Error naming it, not a SIGBUS.
TEST(Safetensors, MappedPiecesAndTruncation) {
  std::string path = tmpPath("mapped");
  unlink(path.c_str());
  std::vector<uint32_t> a((size_t(3) << 20) / 4 + 5);
  uint32_t x = 777;
  for (auto &v : a)
    v = x = x * 1664525u + 1013904223u;
  {
    SafetensorsWriter w(path, {{"a", ds::plan::I32, {int64_t(a.size())}, 0, 0}}, {});
    w.append(a.data(), a.size() * 4);
    w.finish();
  }
  std::string bytes = readAll(path); // in the page cache now
  {
    SafetensorsFile f(path);
    ASSERT_NE(f.mapIfCached(), nullptr);
    for (const SafetensorsPiece &p : safetensorsPieces(f.tensors(), f.dataStart())) {
      std::vector<char> got(size_t(p.size)), want(size_t(p.size));
      f.readBytes(p.offset, p.size, want.data());
      for (PieceHashAlgorithm algo : {kStripe, kContent}) {
        uint64_t v = f.copyMappedPiece(p.offset, p.size, got.data(), algo, true);
        EXPECT_TRUE(got == want) << p.offset;
        EXPECT_EQ(v, PieceHash::piece(algo, want.data(), want.size())) << p.offset;
      }
    }
  }
  {
    int fd = open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    // Whether the pages went (a tmpfs keeps them: then the file is still "cached").
    void *m = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(m, MAP_FAILED);
    unsigned char resident = 1;
    ASSERT_EQ(mincore(m, 4096, &resident), 0);
    munmap(m, 4096);
    close(fd);
    SafetensorsFile f(path);
    if (!(resident & 1))
      EXPECT_EQ(f.mapIfCached(), nullptr);
  }
  (void)readAll(path);
  SafetensorsFile f(path);
  ASSERT_NE(f.mapIfCached(), nullptr);
  ASSERT_EQ(truncate(path.c_str(), off_t(f.dataStart() + (1 << 20))), 0);
  std::vector<char> got(1 << 20);
  try {
    (void)f.copyMappedPiece(f.dataStart() + (2 << 20), 1 << 20, got.data(), kStripe,
                            true);
    FAIL() << "no error for a truncated mapping";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(path + ": changed while being read"),
              std::string::npos)
        << e.what();
  }
  // The guard is off again: the mapping's bytes still in the file copy as before.
  EXPECT_EQ(f.copyMappedPiece(f.dataStart(), 4096, got.data(), kStripe, false), 0u);
  EXPECT_EQ(std::memcmp(got.data(), bytes.data() + f.dataStart(), 4096), 0);
}

// Tests that every inconsistency of a hostile file is an error naming the file.
TEST(Safetensors, RejectsCorruptFiles) {
  expectError("abc", "not a safetensors file");
  expectError(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}",
              "exceeds the file");
  expectError(fileWith("{", ""), "corrupt safetensors header");
  expectError(fileWith("[]", ""), "not a JSON object");
  expectError(fileWith(R"({"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", "x"),
              "unsupported dtype");
  expectError(
      fileWith(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "xxxx"),
      "do not hold 2 elements");
  expectError(
      fileWith(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "xxxx"),
      "truncated");
  expectError(fileWith(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", ""),
              "shape");
  expectError(
      fileWith(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", "xxxxxxxx"),
      "packed");
  expectError(
      fileWith(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "xxxxxxxx"),
      "after the last tensor");
  expectError(fileWith(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],)"
                       R"("data_offsets":[0,4]}})",
                       "xxxx"),
              "tensor 'a'");
  expectError(fileWith(R"({"a":{"dtype":"F32","shape":[1]}})", "xxxx"), "lacks");
  expectError(fileWith(R"({"__metadata__":{"k":1}})", ""), "not a string");
}

// Tests that a file the reader rejects leaves no descriptor open (the fuzzer ran out of
// them).
TEST(Safetensors, RejectedFilesCloseTheirDescriptor) {
  auto openFds = [] {
    int n = 0;
    if (DIR *d = opendir("/proc/self/fd")) {
      while (readdir(d))
        ++n;
      closedir(d);
    }
    return n;
  };
  std::string path = tmpPath("leak");
  writeRaw(path, fileWith("{", ""));
  int before = openFds();
  for (int i = 0; i < 50; ++i)
    EXPECT_THROW(SafetensorsFile f(path), Error);
  EXPECT_EQ(openFds(), before);
}

// Tests that the writer refuses duplicate names and an existing file.
TEST(Safetensors, WriterRejectsMisuse) {
  std::vector<SafetensorsTensor> dup = {{"a", ds::plan::F32, {1}, 0, 0},
                                        {"a", ds::plan::F32, {1}, 0, 0}};
  EXPECT_THROW(encodeSafetensorsHeader(dup, {}), Error);
  std::string path = tmpPath("exists");
  writeRaw(path, "x");
  EXPECT_THROW(SafetensorsWriter(path, {}, {}), Error);
}

// Tests that the content hash does not depend on how the stream is chunked and that any
// single flipped byte changes it.
TEST(ContentHash, ChunkingAndSensitivity) {
  std::string data(1001, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = char(i * 7 + 3);
  ContentHash whole;
  whole.update(data.data(), data.size());
  for (size_t step : {1, 3, 8, 13, 500}) {
    ContentHash parts;
    for (size_t i = 0; i < data.size(); i += step)
      parts.update(data.data() + i, std::min(step, data.size() - i));
    EXPECT_EQ(parts.value(), whole.value()) << step;
  }
  for (size_t i : {0, 7, 8, 999, 1000}) {
    std::string d = data;
    d[i] ^= 1;
    ContentHash h;
    h.update(d.data(), d.size());
    EXPECT_NE(h.value(), whole.value()) << i;
  }
  // The value itself is a format (manifests store it): pinned.
  EXPECT_EQ(whole.hex(), "0dad70c4808e88de");
}

// Tests the JSON reader: values, escapes, exact 64-bit integers, and errors with offsets.
TEST(Json, ParsesAndRejects) {
  JsonValue v = parseJson(R"( {"a": [1, -2.5e3, true, false, null], "s": "x\"\u00e9\n",
                               "big": 9007199254740993} )");
  ASSERT_EQ(v.kind, JsonValue::Object);
  EXPECT_EQ(v.find("a")->items.size(), 5u);
  EXPECT_EQ(v.find("s")->text, "x\"\xc3\xa9\n");
  EXPECT_EQ(v.find("big")->asInt("big"), 9007199254740993LL);
  EXPECT_EQ(jsonQuote("a\"\\\x01"), "\"a\\\"\\\\\\u0001\"");
  for (const char *bad : {"", "{", "[1,]", "{\"a\" 1}", "\"\\q\"", "01x",
                          "{\"a\":1,\"a\":2}", "[1] 2", "-"})
    EXPECT_THROW(parseJson(bad), Error) << bad;
  std::string deep(100, '[');
  EXPECT_THROW(parseJson(deep), Error);
  EXPECT_THROW(parseJson("1.5").asInt("x"), Error);
}
