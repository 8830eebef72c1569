// .npy header parsing, row reads with pread, and atomic writes.
#include "ds/runtime/Npy.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/Plan.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ds::rt {

int64_t NpyFile::rowElems() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i)
    n *= shape[i];
  return n;
}

std::string npyDescr(DType dtype) {
  switch (dtype) {
  case ds::plan::F32: return "<f4";
  case ds::plan::F64: return "<f8";
  case ds::plan::F16: return "<f2";
  case ds::plan::BF16: return "<u2";
  case ds::plan::I64: return "<i8";
  case ds::plan::I32: return "<i4";
  case ds::plan::I1: return "|b1";
  default: fail("no .npy type for ", dtypeName(dtype));
  }
}

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0)
      close(fd);
  }
};

bool preadAll(int fd, void *buf, size_t n, uint64_t off) {
  char *p = static_cast<char *>(buf);
  while (n) {
    ssize_t r = pread(fd, p, n, off_t(off));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= size_t(r);
    off += uint64_t(r);
  }
  return true;
}

// Value text of 'key' in the header dict, up to the next top-level ',' or '}'.
std::string dictValue(const std::string &h, const std::string &key, const std::string &path) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos)
    fail(path, ": .npy header has no '", key, "'");
  size_t colon = h.find(':', k);
  if (colon == std::string::npos)
    fail(path, ": malformed .npy header");
  size_t i = colon + 1;
  while (i < h.size() && h[i] == ' ')
    ++i;
  size_t end = i;
  int depth = 0;
  for (; end < h.size(); ++end) {
    char c = h[end];
    if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    else if ((c == ',' || c == '}') && depth == 0)
      break;
  }
  return h.substr(i, end - i);
}

} // namespace

NpyFile openNpy(const std::string &path) {
  struct stat ps; // before open(): a FIFO would block it
  if (stat(path.c_str(), &ps) == 0 && !S_ISREG(ps.st_mode))
    fail(path, S_ISDIR(ps.st_mode) ? " is a directory" : " is not a regular file",
         ": give a .npy file");
  Fd f{open(path.c_str(), O_RDONLY)};
  if (f.fd < 0)
    fail(path, ": cannot open: ", std::strerror(errno));
  struct stat st;
  if (fstat(f.fd, &st) != 0)
    fail(path, ": cannot stat: ", std::strerror(errno));
  unsigned char pre[12];
  if (st.st_size < 10 || !preadAll(f.fd, pre, 10, 0) || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    fail(path, ": not a .npy file");
  int major = pre[6];
  uint64_t hlen, hstart;
  if (major == 1) {
    hlen = pre[8] | uint64_t(pre[9]) << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (!preadAll(f.fd, pre + 10, 2, 10))
      fail(path, ": truncated .npy header");
    hlen = pre[8] | uint64_t(pre[9]) << 8 | uint64_t(pre[10]) << 16 | uint64_t(pre[11]) << 24;
    hstart = 12;
  } else {
    fail(path, ": unsupported .npy format version ", major);
  }
  if (hlen > (1u << 20) || hstart + hlen > uint64_t(st.st_size))
    fail(path, ": truncated .npy header");
  std::string h(size_t(hlen), '\0');
  if (!preadAll(f.fd, h.data(), h.size(), hstart))
    fail(path, ": truncated .npy header");
  NpyFile npy;
  npy.path = path;
  npy.dataOffset = hstart + hlen;
  std::string descr = dictValue(h, "descr", path);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    fail(path, ": malformed descr ", descr);
  descr = descr.substr(1, descr.size() - 2);
  if (descr == "<f4")
    npy.dtype = ds::plan::F32;
  else if (descr == "<f8")
    npy.dtype = ds::plan::F64;
  else if (descr == "<f2")
    npy.dtype = ds::plan::F16;
  else if (descr == "<i8")
    npy.dtype = ds::plan::I64;
  else if (descr == "<i4")
    npy.dtype = ds::plan::I32;
  else if (descr == "|b1")
    npy.dtype = ds::plan::I1;
  else
    fail(path, ": unsupported .npy dtype '", descr,
         "' (supported: <f4 <f8 <f2 <i8 <i4 |b1, little-endian)");
  std::string fo = dictValue(h, "fortran_order", path);
  if (fo != "False")
    fail(path, ": Fortran-order arrays are not supported; save with C order");
  std::string shp = dictValue(h, "shape", path);
  if (shp.size() < 2 || shp.front() != '(' || shp.back() != ')')
    fail(path, ": malformed shape ", shp);
  std::string inner = shp.substr(1, shp.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    while (pos < inner.size() && (inner[pos] == ' ' || inner[pos] == ','))
      ++pos;
    if (pos >= inner.size())
      break;
    size_t e = pos;
    while (e < inner.size() && inner[e] >= '0' && inner[e] <= '9')
      ++e;
    if (e == pos || e - pos > 18)
      fail(path, ": malformed shape ", shp);
    npy.shape.push_back(std::stoll(inner.substr(pos, e - pos)));
    pos = e;
  }
  int64_t numel;
  try {
    numel = checkedNumel(npy.shape);
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  size_t es = dtypeSize(npy.dtype);
  if (uint64_t(numel) > uint64_t(st.st_size) / es ||
      npy.dataOffset + uint64_t(numel) * es > uint64_t(st.st_size))
    fail(path, ": truncated: shape ", shapeString(npy.shape), " needs ",
         uint64_t(numel) * es, " data bytes, the file has ",
         uint64_t(st.st_size) - std::min<uint64_t>(npy.dataOffset, uint64_t(st.st_size)));
  return npy;
}

void readNpyRows(const NpyFile &f, int64_t first, int64_t count, void *dst) {
  if (f.shape.empty() || first < 0 || count < 0 || first + count > f.shape[0])
    fail(f.path, ": rows [", first, ", ", first + count, ") out of range");
  Fd fd{open(f.path.c_str(), O_RDONLY)};
  if (fd.fd < 0)
    fail(f.path, ": cannot open: ", std::strerror(errno));
  size_t row = size_t(f.rowElems()) * dtypeSize(f.dtype);
  if (!preadAll(fd.fd, dst, row * size_t(count), f.dataOffset + row * uint64_t(first)))
    fail(f.path, ": read failed");
}

namespace {
std::string npyHeader(DType dtype, const std::vector<int64_t> &shape) {
  std::string dict = "{'descr': '" + npyDescr(dtype) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    dict += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
  dict += "), }";
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict += std::string(pad, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(dict.size() & 0xff);
  out += char((dict.size() >> 8) & 0xff);
  out += dict;
  return out;
}
} // namespace

std::string encodeNpy(DType dtype, const std::vector<int64_t> &shape, const void *data) {
  std::string out = npyHeader(dtype, shape);
  int64_t n = checkedNumel(shape);
  out.append(static_cast<const char *>(data), size_t(n) * dtypeSize(dtype));
  return out;
}

uint64_t npyFileBytes(DType dtype, const std::vector<int64_t> &shape) {
  return npyHeader(dtype, shape).size() + uint64_t(checkedNumel(shape)) * dtypeSize(dtype);
}

void createDirectories(const std::string &dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty())
      continue;
    if (mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      fail("cannot create directory ", cur, ": ", std::strerror(errno));
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail(dir, " is not a directory");
}

void writeNpy(const std::string &path, DType dtype, const std::vector<int64_t> &shape,
              const void *data) {
  writeFileAtomically(path, encodeNpy(dtype, shape, data));
}

} // namespace ds::rt
