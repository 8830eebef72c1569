// Reading and writing safetensors files (the tensor format of checkpoints and
// --init-weights).
//
// Layout (https://github.com/huggingface/safetensors, the format as the ecosystem reads
// it):
//   bytes 0..7   N, the header length, little-endian uint64
//   bytes 8..8+N the header: one JSON object. Each member but "__metadata__" is a tensor:
//                {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, offsets
//                in bytes relative to the end of the header; "__metadata__" maps strings
//                to strings. Our writer pads the header with spaces to a multiple of 8
//                bytes.
//   then         the tensor data: dense, row-major, little-endian; every tensor's bytes
//   are
//                [begin, end) with end - begin = numel * dtype size, tensors do not
//                overlap and together cover the data area exactly.
// Dtypes: F32 F64 F16 BF16 I64 I32 BOOL (one byte, 0 or 1).
#pragma once

#include "ds/runtime/DType.h"
#include "ds/runtime/StripeHash.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ds::rt {

/// "F32", "BF16", "BOOL", ... for a plan dtype.
const char *safetensorsDType(DType dtype);
/// The plan dtype of a safetensors dtype name; false when it is not one we read.
bool parseSafetensorsDType(const std::string &name, DType &dtype);

struct SafetensorsTensor {
  std::string name;
  DType dtype = ds::plan::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; // byte offsets relative to the data area
  int64_t numel() const;
};

/// The header bytes (length prefix, JSON, padding) for `tensors` in this order; fills
/// each tensor's begin/end (packed, in order). Throws Error on duplicate or empty names.
std::string encodeSafetensorsHeader(std::vector<SafetensorsTensor> &tensors,
                                    const std::map<std::string, std::string> &metadata);

/// A 64-bit checksum of a byte stream: four FNV-1a lanes over little-endian 64-bit words
/// (word i of each 32-byte block feeds lane i, so the lanes run in parallel), then the
/// lanes, the tail bytes and the length folded into one FNV-1a state. Every step is a
/// bijection of its lane, so any single changed byte changes the result; chunking does
/// not.
class ContentHash {
public:
  void update(const void *data, size_t size);
  uint64_t value() const;
  /// 16 lowercase hex digits.
  std::string hex() const;

private:
  uint64_t lanes_[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull,
                        0x9ce484222325cbf2ull, 0x2325cbf29ce48422ull};
  unsigned char tail_[32];
  size_t tailSize_ = 0;
  uint64_t length_ = 0;
  void block(const unsigned char *p);
};

/// A byte range of a safetensors file that the file's checksum hashes on its own.
struct SafetensorsPiece {
  uint64_t offset = 0, size = 0; // in the file
  size_t tensor = SIZE_MAX;      // index into the tensor list; SIZE_MAX: the header
};

/// The checksum that hashes each piece of a PieceHash and then the pieces' values:
/// ContentHash in manifest version 2, StripeHash (StripeHash.h) from version 3 on (the
/// version-to-algorithm map is Checkpoint.cpp's checkpointPieceHash).
enum class PieceHashAlgorithm { Content, Stripe };

/// The checksum checkpoints record of a safetensors file (manifest versions 2 and 3): the
/// file is cut into pieces (safetensorsPieces: the header, then each tensor's data in
/// file order in pieces of kPiece bytes from the tensor's first byte), each piece is
/// hashed with the algorithm, and the pieces' values (as little-endian 64-bit words, in
/// file order) with the algorithm again. A valid file's pieces cover each of its bytes
/// once (its tensors are packed without gaps up to the end of the file), so a changed
/// byte changes its piece's value and so the result; the pieces are hashed independently,
/// so a reader hashes each one right after reading it, while it is in the CPU's cache, on
/// any thread, and combines the values in order (CheckpointReader::readWholeFile).
/// Version 1 was ContentHash of the whole file, which only one thread can compute.
class PieceHash {
public:
  static constexpr uint64_t kPiece = uint64_t(1) << 20;
  explicit PieceHash(PieceHashAlgorithm algorithm) : algorithm_(algorithm) {}
  /// The value of one piece.
  static uint64_t piece(PieceHashAlgorithm algorithm, const void *data, size_t size);
  /// Adds the next piece's value.
  void add(uint64_t pieceValue);
  uint64_t value() const;
  std::string hex() const;

private:
  PieceHashAlgorithm algorithm_;
  ContentHash content_;
  StripeHash stripe_;
};

/// The indices of `tensors` in the order of their data in the file (by offset; an empty
/// tensor before the one starting where it does).
std::vector<size_t> safetensorsFileOrder(const std::vector<SafetensorsTensor> &tensors);

/// The pieces PieceHash cuts a file into, in file order: the header [0, dataStart), then
/// the data of `tensors` (packed, covering [dataStart, end of file)) ordered by offset.
std::vector<SafetensorsPiece> safetensorsPieces(const std::vector<SafetensorsTensor> &tensors,
                                                uint64_t dataStart);

/// PieceHash over a file's bytes given in order, in chunks of any size (the writer's).
class StreamingPieceHash {
public:
  StreamingPieceHash() = default;
  StreamingPieceHash(PieceHashAlgorithm algorithm, std::vector<SafetensorsPiece> pieces);
  void update(const void *data, size_t size);
  /// Every piece's bytes must have been given.
  uint64_t value() const;

private:
  std::vector<SafetensorsPiece> pieces_;
  PieceHashAlgorithm algorithm_ = PieceHashAlgorithm::Stripe;
  size_t next_ = 0;   // the piece being hashed
  uint64_t left_ = 0; // its bytes still to come
  ContentHash content_; // the piece's hash so far (the algorithm's)
  StripeHash stripe_;
  PieceHash whole_{PieceHashAlgorithm::Stripe};
  void startPiece();
};

/// Writes one safetensors file: the header, then each tensor's bytes in header order,
/// then fsync, computing the file's PieceHash with StripeHash (what checkpoints write).
/// Errors name the path.
class SafetensorsWriter {
public:
  /// Creates `path` (which must not exist) and writes the header.
  SafetensorsWriter(const std::string &path, std::vector<SafetensorsTensor> tensors,
                    const std::map<std::string, std::string> &metadata);
  ~SafetensorsWriter(); // closes the file (unflushed: call finish)
  SafetensorsWriter(const SafetensorsWriter &) = delete;
  SafetensorsWriter &operator=(const SafetensorsWriter &) = delete;
  /// Appends bytes of the data area (the next tensor's data, possibly in pieces).
  void append(const void *data, size_t size);
  /// Checks that every tensor was written in full, fsyncs and closes.
  void finish();
  const std::vector<SafetensorsTensor> &tensors() const { return tensors_; }
  /// The file's PieceHash (call after finish).
  uint64_t hash() const { return hash_.value(); }
  uint64_t bytesWritten() const { return written_; }

private:
  std::string path_;
  int fd_ = -1;
  std::vector<SafetensorsTensor> tensors_;
  uint64_t dataBytes_ = 0, dataWritten_ = 0, written_ = 0;
  uint64_t synced_ = 0; // the bytes whose writeback was started (sync_file_range)
  StreamingPieceHash hash_;
  void writeRaw(const void *data, size_t size);
};

/// An open safetensors file with its validated header; tensor data is read on demand.
class SafetensorsFile {
public:
  /// Opens and validates `path`: header length within the file, JSON well formed, every
  /// tensor's dtype known, shape non-negative, offsets consistent with its size, inside
  /// the file, non-overlapping and covering the data area. Throws Error naming the file.
  explicit SafetensorsFile(const std::string &path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;

  const std::string &path() const { return path_; }
  const std::vector<SafetensorsTensor> &tensors() const { return tensors_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }
  /// The tensor named `name`, or nullptr.
  const SafetensorsTensor *find(const std::string &name) const;
  /// Reads `size` bytes at byte `offset` of `t`'s data into dst.
  void read(const SafetensorsTensor &t, uint64_t offset, uint64_t size, void *dst);
  uint64_t fileBytes() const { return fileBytes_; }
  /// Bytes before the data area (length prefix and header).
  uint64_t dataStart() const { return dataStart_; }
  /// Reads `size` bytes at file offset `offset` into dst with pread (one call for the whole
  /// range where the kernel allows: straight into dst, no staging copy).
  void readBytes(uint64_t offset, uint64_t size, void *dst) const;
  /// Tells the kernel the file will be read whole and in order (POSIX_FADV_SEQUENTIAL: a
  /// doubled read-ahead window). Measured on the machines here (results/checkpoint.md),
  /// for a file not in the page cache large preads into the destination beat both a
  /// mapping's faults and WILLNEED of the whole file or of a window ahead. (A cached file
  /// is copied from a mapping with its hash in the same pass: mapIfCached,
  /// copyMappedPiece.)
  void adviseSequential();
  /// Maps the whole file read-only for copyMappedPiece (once; unmapped by the destructor)
  /// if it is in the page cache (mincore of one page per MiB and of the last); else, or
  /// where the file cannot be mapped, nullptr: the caller reads with readBytes. A file that shrinks while
  /// mapped (another process truncating it) is an Error from copyMappedPiece, not a
  /// crash: a SIGBUS handler, installed on the first map, turns the fault of a guarded
  /// copy into one.
  const char *mapIfCached();
  /// Copies `size` bytes at file offset `offset` from the mapping into dst and, with
  /// `hash`, returns their value as a piece of PieceHash with `algorithm` (StripeHash: in
  /// the same pass as the copy, StripeHash::updateCopy). Throws Error naming the file if
  /// the bytes are no longer in the file.
  uint64_t copyMappedPiece(uint64_t offset, uint64_t size, void *dst,
                           PieceHashAlgorithm algorithm, bool hash) const;
  /// The file's PieceHash with `algorithm`, hex (reads it all).
  std::string hashFile(PieceHashAlgorithm algorithm) const;
  /// ContentHash of the whole file, hex (reads it all): the checksum of version 1
  /// checkpoints.
  std::string hashWholeFile() const;

private:
  std::string path_;
  int fd_ = -1;
  uint64_t fileBytes_ = 0, dataStart_ = 0;
  char *map_ = nullptr; // the mapping (fileBytes_ bytes), or nullptr
  bool mapTried_ = false;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
  void validate();
};

} // namespace ds::rt
