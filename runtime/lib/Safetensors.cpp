// Reading and writing safetensors files (the tensor format of checkpoints and
// --init-weights).
#include "ds/runtime/Safetensors.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/Json.h"

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ds::rt {

namespace {
constexpr uint64_t kMaxHeaderBytes = uint64_t(100)
                                     << 20; // as the reference implementation

struct DTypeName {
  DType dtype;
  const char *name;
};
constexpr DTypeName kDTypeNames[] = {{ds::plan::F32, "F32"}, {ds::plan::F64, "F64"},
                                     {ds::plan::F16, "F16"}, {ds::plan::BF16, "BF16"},
                                     {ds::plan::I64, "I64"}, {ds::plan::I32, "I32"},
                                     {ds::plan::I1, "BOOL"}};
} // namespace

const char *safetensorsDType(DType dtype) {
  for (const auto &d : kDTypeNames)
    if (d.dtype == dtype)
      return d.name;
  fail("dtype ", dtypeName(dtype), " has no safetensors name");
}

bool parseSafetensorsDType(const std::string &name, DType &dtype) {
  for (const auto &d : kDTypeNames)
    if (name == d.name) {
      dtype = d.dtype;
      return true;
    }
  return false;
}

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string encodeSafetensorsHeader(std::vector<SafetensorsTensor> &tensors,
                                    const std::map<std::string, std::string> &metadata) {
  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it)
      json += (it == metadata.begin() ? "" : ",") + jsonQuote(it->first) + ":" +
              jsonQuote(it->second);
    json += "}";
    first = false;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (auto &t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      fail("safetensors: invalid tensor name '", t.name, "'");
    if (!names.insert(t.name).second)
      fail("safetensors: duplicate tensor name '", t.name, "'");
    uint64_t bytes = uint64_t(checkedNumel(t.shape)) * dtypeSize(t.dtype);
    t.begin = offset;
    t.end = offset + bytes;
    offset = t.end;
    json += std::string(first ? "" : ",") + jsonQuote(t.name) + ":{\"dtype\":\"" +
            safetensorsDType(t.dtype) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      json += (i ? "," : "") + std::to_string(t.shape[i]);
    json += "],\"data_offsets\":[" + std::to_string(t.begin) + "," +
            std::to_string(t.end) + "]}";
    first = false;
  }
  json += "}";
  while (json.size() % 8)
    json += ' ';
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + json;
}

void ContentHash::block(const unsigned char *p) {
  for (int i = 0; i < 4; ++i) {
    uint64_t x;
    std::memcpy(&x, p + 8 * i,
                8); // the machine is little-endian (the plan format assumes it)
    lanes_[i] = (lanes_[i] ^ x) * 0x100000001b3ull;
  }
}

void ContentHash::update(const void *data, size_t size) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  length_ += size;
  if (tailSize_ > 0) {
    size_t take = std::min(size, 32 - tailSize_);
    std::memcpy(tail_ + tailSize_, p, take);
    tailSize_ += take;
    p += take;
    size -= take;
    if (tailSize_ < 32)
      return;
    block(tail_);
    tailSize_ = 0;
  }
  // The lanes in locals: stores through `p` (unsigned char) could alias the members, which
  // would make the compiler reload and store them every block.
  uint64_t l0 = lanes_[0], l1 = lanes_[1], l2 = lanes_[2], l3 = lanes_[3];
  for (; size >= 32; size -= 32, p += 32) {
    uint64_t x[4];
    std::memcpy(x, p, 32); // the machine is little-endian (the plan format assumes it)
    l0 = (l0 ^ x[0]) * 0x100000001b3ull;
    l1 = (l1 ^ x[1]) * 0x100000001b3ull;
    l2 = (l2 ^ x[2]) * 0x100000001b3ull;
    l3 = (l3 ^ x[3]) * 0x100000001b3ull;
  }
  lanes_[0] = l0, lanes_[1] = l1, lanes_[2] = l2, lanes_[3] = l3;
  std::memcpy(tail_, p, size);
  tailSize_ = size;
}

uint64_t ContentHash::value() const {
  uint64_t s = 0xcbf29ce484222325ull;
  for (uint64_t lane : lanes_)
    s = (s ^ lane) * 0x100000001b3ull;
  for (size_t i = 0; i < tailSize_; ++i)
    s = (s ^ tail_[i]) * 0x100000001b3ull;
  return (s ^ length_) * 0x100000001b3ull;
}

std::string ContentHash::hex() const {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)value());
  return buf;
}

uint64_t PieceHash::piece(PieceHashAlgorithm algorithm, const void *data, size_t size) {
  if (algorithm == PieceHashAlgorithm::Stripe)
    return StripeHash::of(data, size);
  ContentHash h;
  h.update(data, size);
  return h.value();
}

void PieceHash::add(uint64_t pieceValue) {
  unsigned char le[8];
  for (int i = 0; i < 8; ++i)
    le[i] = (unsigned char)(pieceValue >> (8 * i));
  if (algorithm_ == PieceHashAlgorithm::Stripe)
    stripe_.update(le, 8);
  else
    content_.update(le, 8);
}

uint64_t PieceHash::value() const {
  return algorithm_ == PieceHashAlgorithm::Stripe ? stripe_.value() : content_.value();
}

std::string PieceHash::hex() const {
  return algorithm_ == PieceHashAlgorithm::Stripe ? stripe_.hex() : content_.hex();
}

std::vector<size_t> safetensorsFileOrder(const std::vector<SafetensorsTensor> &tensors) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].begin < tensors[b].begin ||
           (tensors[a].begin == tensors[b].begin && tensors[a].end < tensors[b].end);
  });
  return order;
}

std::vector<SafetensorsPiece> safetensorsPieces(const std::vector<SafetensorsTensor> &tensors,
                                                uint64_t dataStart) {
  std::vector<SafetensorsPiece> pieces{{0, dataStart, SIZE_MAX}};
  for (size_t i : safetensorsFileOrder(tensors)) {
    const SafetensorsTensor &t = tensors[i];
    for (uint64_t at = 0; at < t.end - t.begin; at += PieceHash::kPiece)
      pieces.push_back(
          {dataStart + t.begin + at, std::min(PieceHash::kPiece, t.end - t.begin - at), i});
  }
  return pieces;
}

StreamingPieceHash::StreamingPieceHash(PieceHashAlgorithm algorithm,
                                       std::vector<SafetensorsPiece> pieces)
    : pieces_(std::move(pieces)), algorithm_(algorithm), whole_(algorithm) {
  startPiece();
}

void StreamingPieceHash::startPiece() {
  content_ = ContentHash();
  stripe_ = StripeHash();
  left_ = next_ < pieces_.size() ? pieces_[next_].size : 0;
}

void StreamingPieceHash::update(const void *data, size_t size) {
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    if (next_ >= pieces_.size())
      fail("internal: more bytes than the file's pieces hold");
    size_t take = size_t(std::min<uint64_t>(left_, size));
    if (algorithm_ == PieceHashAlgorithm::Stripe)
      stripe_.update(p, take);
    else
      content_.update(p, take);
    p += take;
    size -= take;
    left_ -= take;
    if (left_ == 0) {
      whole_.add(algorithm_ == PieceHashAlgorithm::Stripe ? stripe_.value()
                                                          : content_.value());
      ++next_;
      startPiece();
    }
  }
}

uint64_t StreamingPieceHash::value() const {
  if (next_ != pieces_.size())
    fail("internal: the file's hash asked for before its last piece");
  return whole_.value();
}

SafetensorsWriter::SafetensorsWriter(const std::string &path,
                                     std::vector<SafetensorsTensor> tensors,
                                     const std::map<std::string, std::string> &metadata)
    : path_(path), tensors_(std::move(tensors)) {
  std::string header = encodeSafetensorsHeader(tensors_, metadata);
  dataBytes_ = tensors_.empty() ? 0 : tensors_.back().end;
  hash_ = StreamingPieceHash(PieceHashAlgorithm::Stripe,
                             safetensorsPieces(tensors_, header.size()));
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0)
    fail("cannot create ", path, ": ", std::strerror(errno));
  try {
    writeRaw(header.data(), header.size());
  } catch (...) {
    ::close(fd_); // the destructor does not run for a constructor that throws
    fd_ = -1;
    throw;
  }
}

SafetensorsWriter::~SafetensorsWriter() {
  if (fd_ >= 0)
    ::close(fd_);
}

void SafetensorsWriter::writeRaw(const void *data, size_t size) {
  // Hashes and writes 1 MiB pieces (each is hashed while the write's copy finds it in the
  // CPU's cache), and starts the disk writeback of every 16 MiB written at once
  // (sync_file_range), so the fsync in finish() waits for the last window only instead of
  // the whole file: the disk writes while the next pieces are hashed and copied.
  constexpr size_t kPiece = size_t(1) << 20;
  constexpr uint64_t kWindow = uint64_t(16) << 20;
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    size_t piece = std::min(size, kPiece);
    hash_.update(p, piece);
    size_t left = piece;
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        fail("cannot write ", path_, ": ", std::strerror(n < 0 ? errno : EIO));
      p += n;
      left -= size_t(n);
    }
    written_ += piece;
    size -= piece;
    if (written_ - synced_ >= kWindow) {
      // Best effort: a filesystem without it just leaves all to fsync.
      (void)::sync_file_range(fd_, off64_t(synced_), off64_t(written_ - synced_),
                              SYNC_FILE_RANGE_WRITE);
      synced_ = written_;
    }
  }
}

void SafetensorsWriter::append(const void *data, size_t size) {
  if (dataWritten_ + size > dataBytes_)
    fail("internal: ", path_, ": more tensor bytes than the header declares");
  dataWritten_ += size;
  writeRaw(data, size);
}

void SafetensorsWriter::finish() {
  if (dataWritten_ != dataBytes_)
    fail("internal: ", path_, ": ", dataWritten_, " of ", dataBytes_,
         " tensor bytes written");
  if (::fsync(fd_) != 0)
    fail("cannot write ", path_, ": fsync: ", std::strerror(errno));
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0)
    fail("cannot write ", path_, ": ", std::strerror(errno));
}

SafetensorsFile::SafetensorsFile(const std::string &path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    fail("cannot open ", path, ": ", std::strerror(errno));
  try {
    validate();
  } catch (...) {
    ::close(fd_); // the destructor does not run for a constructor that throws
    fd_ = -1;
    throw;
  }
}

void SafetensorsFile::validate() {
  const std::string &path = path_;
  struct stat st;
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode))
    fail(path, ": not a regular file");
  fileBytes_ = uint64_t(st.st_size);
  if (fileBytes_ < 8)
    fail(path, ": not a safetensors file (", fileBytes_,
         " bytes, shorter than the header length)");
  unsigned char len[8];
  if (::pread(fd_, len, 8, 0) != 8)
    fail(path, ": cannot read the header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | len[i];
  if (n > kMaxHeaderBytes || n > fileBytes_ - 8)
    fail(path, ": corrupt or truncated safetensors file: the header length ", n,
         " exceeds the file (", fileBytes_, " bytes)");
  std::string json(size_t(n), '\0');
  if (n && ::pread(fd_, json.data(), size_t(n), 8) != ssize_t(n))
    fail(path, ": cannot read the header");
  dataStart_ = 8 + n;
  JsonValue root;
  try {
    root = parseJson(json);
  } catch (const Error &e) {
    fail(path, ": corrupt safetensors header: ", e.what());
  }
  if (root.kind != JsonValue::Object)
    fail(path, ": corrupt safetensors header: not a JSON object");
  uint64_t dataBytes = fileBytes_ - dataStart_;
  for (const auto &[name, v] : root.members) {
    if (name == "__metadata__") {
      if (v.kind != JsonValue::Object)
        fail(path, ": __metadata__ is not an object");
      for (const auto &[k, s] : v.members) {
        if (s.kind != JsonValue::String)
          fail(path, ": __metadata__ member '", k, "' is not a string");
        metadata_[k] = s.text;
      }
      continue;
    }
    std::string what = path + ": tensor '" + name + "'";
    if (v.kind != JsonValue::Object)
      fail(what, " is not an object");
    SafetensorsTensor t;
    t.name = name;
    const JsonValue *dt = v.find("dtype"), *shape = v.find("shape"),
                    *offsets = v.find("data_offsets");
    if (!dt || !shape || !offsets)
      fail(what, " lacks dtype, shape or data_offsets");
    if (!parseSafetensorsDType(dt->asString(what + " dtype"), t.dtype))
      fail(what, ": unsupported dtype '", dt->text, "'");
    if (shape->kind != JsonValue::Array || shape->items.size() > 16)
      fail(what, ": shape is not an array of at most 16 dims");
    for (const auto &d : shape->items)
      t.shape.push_back(d.asInt(what + " shape", 0, INT64_MAX));
    if (offsets->kind != JsonValue::Array || offsets->items.size() != 2)
      fail(what, ": data_offsets is not [begin, end]");
    t.begin = uint64_t(offsets->items[0].asInt(what + " data_offsets", 0));
    t.end = uint64_t(offsets->items[1].asInt(what + " data_offsets", 0));
    int64_t numel;
    try {
      numel = checkedNumel(t.shape);
    } catch (const Error &e) {
      fail(what, ": ", e.what());
    }
    if (uint64_t(numel) > (UINT64_MAX >> 4) || t.end < t.begin ||
        t.end - t.begin != uint64_t(numel) * dtypeSize(t.dtype))
      fail(what, ": data_offsets [", t.begin, ", ", t.end, ") do not hold ", numel,
           " elements of ", safetensorsDType(t.dtype));
    if (t.end > dataBytes)
      fail(path, ": truncated: tensor '", name, "' ends at byte ", dataStart_ + t.end,
           " of a ", fileBytes_, "-byte file");
    tensors_.push_back(std::move(t));
  }
  uint64_t pos = 0;
  for (size_t i : safetensorsFileOrder(tensors_)) {
    const SafetensorsTensor *t = &tensors_[i];
    if (t->begin != pos)
      fail(path, ": corrupt safetensors header: tensor '", t->name, "' starts at ",
           t->begin, ", expected ", pos,
           " (tensors must be packed without gaps or overlaps)");
    pos = t->end;
  }
  if (pos != dataBytes)
    fail(path, ": corrupt safetensors file: ", dataBytes - pos,
         " bytes after the last tensor");
}

SafetensorsFile::~SafetensorsFile() {
  if (map_)
    ::munmap(map_, size_t(fileBytes_));
  if (fd_ >= 0)
    ::close(fd_);
}

namespace {
// A guarded copy from a mapping: the thread's jump target while it copies, and the
// disposition of SIGBUS before ours (for faults that are not a guarded copy's).
thread_local sigjmp_buf *tMappedCopy = nullptr;
struct sigaction gPreviousBus;

void onBus(int sig, siginfo_t *info, void *context) {
  if (sigjmp_buf *jump = tMappedCopy) {
    tMappedCopy = nullptr;
    siglongjmp(*jump, 1);
  }
  if ((gPreviousBus.sa_flags & SA_SIGINFO) && gPreviousBus.sa_sigaction) {
    gPreviousBus.sa_sigaction(sig, info, context);
  } else if (gPreviousBus.sa_handler != SIG_DFL && gPreviousBus.sa_handler != SIG_IGN) {
    gPreviousBus.sa_handler(sig);
  } else {
    // The default action: the faulting instruction runs again and is fatal this time.
    ::signal(SIGBUS, SIG_DFL);
  }
}

void installBusHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = onBus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &gPreviousBus);
  });
}

/// Runs copy() with a SIGBUS in it (a mapped page past the file's end) turned into false.
/// copy() must hold no resources a jump out of it would leak.
template <typename Copy> bool guardedCopy(const Copy &copy) {
  sigjmp_buf jump;
  if (sigsetjmp(jump, 1) != 0)
    return false;
  tMappedCopy = &jump;
  copy();
  tMappedCopy = nullptr;
  return true;
}
} // namespace

const char *SafetensorsFile::mapIfCached() {
  if (mapTried_ || fileBytes_ == 0)
    return map_;
  mapTried_ = true;
  installBusHandler();
  void *p = ::mmap(nullptr, size_t(fileBytes_), PROT_READ, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED)
    return nullptr; // e.g. a filesystem without mmap: readBytes serves
  // Only a file in the page cache: the faults of a mapping read a file from the disk at
  // about half pread's rate here (read-ahead in fault-sized steps;
  // results/checkpoint.md). One page in every MiB and the last one are looked at (mincore
  // of the whole file costs about a tenth of the load); a page missed only costs its
  // fault's read.
  size_t page = size_t(::sysconf(_SC_PAGESIZE));
  std::vector<uint64_t> probes;
  for (uint64_t at = 0; at < fileBytes_; at += uint64_t(1) << 20)
    probes.push_back(at);
  probes.push_back(fileBytes_ - 1);
  bool cached = true;
  for (uint64_t at : probes) {
    unsigned char resident = 0;
    cached = cached &&
             ::mincore(static_cast<char *>(p) + at / page * page, 1, &resident) == 0 &&
             (resident & 1);
  }
  if (!cached) {
    ::munmap(p, size_t(fileBytes_));
    return nullptr;
  }
  map_ = static_cast<char *>(p);
  return map_;
}

uint64_t SafetensorsFile::copyMappedPiece(uint64_t at, uint64_t size, void *dst,
                                          PieceHashAlgorithm algorithm, bool hash) const {
  if (!map_ || at > fileBytes_ || size > fileBytes_ - at)
    fail("internal: mapped copy past the end of ", path_);
  const char *src = map_ + at;
  uint64_t value = 0;
  bool ok = guardedCopy([&] {
    if (hash && algorithm == PieceHashAlgorithm::Stripe) {
      StripeHash h;
      h.updateCopy(src, dst, size_t(size));
      value = h.value();
    } else {
      std::memcpy(dst, src, size_t(size));
      if (hash)
        value = PieceHash::piece(algorithm, dst, size_t(size));
    }
  });
  if (!ok)
    fail(path_, ": changed while being read: bytes [", at, ", ", at + size,
         ") are no longer in the file (truncated by another process?)");
  return value;
}

const SafetensorsTensor *SafetensorsFile::find(const std::string &name) const {
  for (const auto &t : tensors_)
    if (t.name == name)
      return &t;
  return nullptr;
}

void SafetensorsFile::read(const SafetensorsTensor &t, uint64_t offset, uint64_t size,
                           void *dst) {
  if (offset > t.end - t.begin || size > t.end - t.begin - offset)
    fail("internal: read past tensor '", t.name, "' of ", path_);
  readBytes(dataStart_ + t.begin + offset, size, dst);
}

void SafetensorsFile::readBytes(uint64_t at, uint64_t size, void *dst) const {
  if (at > fileBytes_ || size > fileBytes_ - at)
    fail("internal: read past the end of ", path_);
  char *p = static_cast<char *>(dst);
  while (size > 0) {
    // pread moves at most 2 GiB - 4 KiB per call on Linux; keep well inside it.
    size_t piece = size_t(std::min<uint64_t>(size, uint64_t(1) << 30));
    ssize_t n = ::pread(fd_, p, piece, off_t(at));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail(path_,
           ": cannot read: ", n < 0 ? std::strerror(errno) : "unexpected end of file");
    p += n;
    at += uint64_t(n);
    size -= uint64_t(n);
  }
}

void SafetensorsFile::adviseSequential() {
  // Advice only: a filesystem that ignores it reads as before.
  (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

std::string SafetensorsFile::hashFile(PieceHashAlgorithm algorithm) const {
  // Each piece read into a buffer of its size and hashed while in the CPU's cache.
  PieceHash h(algorithm);
  std::vector<char> buf;
  for (const SafetensorsPiece &p : safetensorsPieces(tensors_, dataStart_)) {
    buf.resize(size_t(p.size));
    readBytes(p.offset, p.size, buf.data());
    h.add(PieceHash::piece(algorithm, buf.data(), buf.size()));
  }
  return h.hex();
}

std::string SafetensorsFile::hashWholeFile() const {
  ContentHash h;
  std::vector<char> buf(size_t(1) << 20); // hashed while it is in the CPU's cache
  uint64_t at = 0;
  while (at < fileBytes_) {
    ssize_t n = ::pread(fd_, buf.data(), buf.size(), off_t(at));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail(path_,
           ": cannot read: ", n < 0 ? std::strerror(errno) : "unexpected end of file");
    h.update(buf.data(), size_t(n));
    at += uint64_t(n);
  }
  return h.hex();
}

} // namespace ds::rt
