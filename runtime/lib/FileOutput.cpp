// Whole-or-nothing outputs: atomic files, free-space checks, writability probes, directory swaps.
#include "ds/runtime/FileOutput.h"
#include "ds/runtime/Error.h"
#include "ds/runtime/Plan.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ds::rt {
namespace {

std::string errnoText(int err) { return std::strerror(err); }

bool skipSpaceCheck() {
  const char *e = std::getenv("DS_SKIP_FREE_SPACE_CHECK");
  return e && std::strcmp(e, "1") == 0;
}

/// Writes all of `data` to `fd`; returns 0 or the errno of the failure.
int writeAll(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    data += n;
    size -= size_t(n);
  }
  return 0;
}

int fsyncPath(const std::string &dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return errno;
  int rc = fsync(fd) == 0 ? 0 : errno;
  close(fd);
  return rc == EINVAL ? 0 : rc; // some filesystems cannot sync a directory
}

} // namespace

/// Removes the regular files directly in `dir`, then `dir` (never recursing further).
void removeFlatDirectory(const std::string &dir) {
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..")
        unlink((dir + "/" + n).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

/// mkdir -p; throws Error naming the directory that cannot be created.
void makeDirectories(const std::string &dir) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string cur = dir.substr(0, pos);
    if (!cur.empty() && mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      fail("cannot create directory ", cur, ": ", errnoText(errno));
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail(dir, " is not a directory");
}


std::string formatByteSize(uint64_t bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  if (u == 0)
    std::snprintf(buf, sizeof(buf), "%llu B", (unsigned long long)bytes);
  else
    std::snprintf(buf, sizeof(buf), "%.2f %s", v, units[u]);
  return buf;
}

std::string parentDirectory(const std::string &path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

void checkFreeSpace(const std::string &dir, const std::vector<uint64_t> &sizes,
                    const std::string &output, bool newDirectory) {
  if (skipSpaceCheck())
    return;
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0)
    return; // no answer: the write itself will tell
  uint64_t block = st.f_frsize ? st.f_frsize : st.f_bsize;
  if (block == 0)
    return;
  uint64_t need = newDirectory ? block : 0;
  for (uint64_t s : sizes) {
    uint64_t blocks = s / block + (s % block != 0);
    if (blocks > (UINT64_MAX - need) / block)
      need = UINT64_MAX;
    else
      need += blocks * block;
  }
  uint64_t avail = uint64_t(st.f_bavail);
  avail = avail > UINT64_MAX / block ? UINT64_MAX : avail * block;
  if (need > avail)
    fail(output, ": not enough free space: needs ", formatByteSize(need), ", the filesystem of ",
         dir, " has ", formatByteSize(avail), " free; free some space or choose another path");
}

void checkOutputFile(const std::string &path, const std::string &what) {
  std::string dir = parentDirectory(path);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0)
    fail(what, ": ", path, ": directory ", dir, " does not exist (", errnoText(errno), ")");
  if (!S_ISDIR(st.st_mode))
    fail(what, ": ", path, ": ", dir, " is not a directory");
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    fail(what, ": ", path, " is a directory: give a file name");
  std::string probe = dir + "/.ds-write-probe-XXXXXX";
  int fd = mkstemp(probe.data());
  if (fd < 0)
    fail(what, ": ", path, ": cannot create files in ", dir, ": ", errnoText(errno));
  close(fd);
  unlink(probe.c_str());
}

void writeFileAtomically(const std::string &path, const std::string &data) {
  std::string dir = parentDirectory(path);
  struct stat st;
  bool existed = stat(path.c_str(), &st) == 0;
  const char *outcome = existed ? "; the previous file is unchanged" : "; nothing was written";
  try {
    checkFreeSpace(dir, {uint64_t(data.size())}, path);
  } catch (const Error &e) {
    fail(e.what(), outcome);
  }
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0)
    fail("cannot write ", path, ": cannot create a file in ", dir, ": ", errnoText(errno),
         outcome);
  fchmod(fd, 0644);
  int err = writeAll(fd, data.data(), data.size());
  if (!err && fsync(fd) != 0)
    err = errno;
  if (close(fd) != 0 && !err)
    err = errno;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0)
    err = errno;
  if (err) {
    unlink(tmp.c_str());
    fail("cannot write ", path, ": ", errnoText(err), outcome);
  }
  fsyncPath(dir);
}

void DirectoryOutput::checkTarget(const std::string &dir, const std::string &suffix,
                                  const std::string &what) {
  std::string parent = parentDirectory(dir);
  try {
    makeDirectories(parent);
  } catch (const Error &e) {
    fail(what, ": ", dir, ": ", e.what());
  }
  std::string probe = parent + "/.ds-write-probe-XXXXXX";
  int fd = mkstemp(probe.data());
  if (fd < 0)
    fail(what, ": ", dir, ": cannot create entries in ", parent, ": ", errnoText(errno));
  close(fd);
  unlink(probe.c_str());
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode))
    fail(what, ": ", dir, " exists and is not a directory");
  DIR *d = opendir(dir.c_str());
  if (!d)
    fail(what, ": ", dir, ": cannot read the directory: ", errnoText(errno));
  std::string stranger;
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..")
      continue;
    struct stat fs;
    bool plain = lstat((dir + "/" + n).c_str(), &fs) == 0 && S_ISREG(fs.st_mode);
    if (!plain || n.size() < suffix.size() ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) {
      stranger = n;
      break;
    }
  }
  closedir(d);
  if (!stranger.empty())
    fail(what, ": ", dir, " holds '", stranger,
         "', which is not an earlier output of this flag (the directory is replaced as a "
         "whole): give a new or empty directory");
}

DirectoryOutput::DirectoryOutput(std::string dir, std::string suffix, std::string what)
    : dir_(std::move(dir)), suffix_(std::move(suffix)), what_(std::move(what)) {
  while (dir_.size() > 1 && dir_.back() == '/')
    dir_.pop_back();
}

DirectoryOutput::~DirectoryOutput() { abort(); }

void DirectoryOutput::abort() {
  if (!tmp_.empty() && !committed_)
    removeFlatDirectory(tmp_);
  tmp_.clear();
}

std::string DirectoryOutput::outcome() const {
  return existed_ ? "the previous " + dir_ + " is unchanged" : "nothing was written to " + dir_;
}

void DirectoryOutput::begin(const std::vector<uint64_t> &sizes) {
  checkTarget(dir_, suffix_, what_);
  struct stat st;
  existed_ = stat(dir_.c_str(), &st) == 0;
  try {
    checkFreeSpace(parentDirectory(dir_), sizes, dir_, /*newDirectory=*/true);
  } catch (const Error &e) {
    fail(what_, ": ", e.what(), "; ", outcome());
  }
  std::string tmp = dir_ + ".tmp-XXXXXX";
  if (!mkdtemp(tmp.data()))
    fail(what_, ": cannot write ", dir_, ": cannot create ", tmp, ": ", errnoText(errno), "; ",
         outcome());
  chmod(tmp.c_str(), 0755);
  tmp_ = tmp;
}

void DirectoryOutput::write(const std::string &name, const void *data, size_t size) {
  std::string path = tmp_ + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : 0;
  if (!err) {
    err = writeAll(fd, static_cast<const char *>(data), size);
    if (!err && fsync(fd) != 0)
      err = errno;
    if (close(fd) != 0 && !err)
      err = errno;
  }
  if (err) {
    abort();
    fail(what_, ": cannot write ", dir_, " (", name, "): ", errnoText(err), "; ", outcome());
  }
}

void DirectoryOutput::commit() {
  int err = fsyncPath(tmp_);
  bool swapped = false;
  if (!err && existed_) {
    // Atomic exchange where the filesystem has it: DIR is never absent.
    if (syscall(SYS_renameat2, AT_FDCWD, tmp_.c_str(), AT_FDCWD, dir_.c_str(),
                RENAME_EXCHANGE) == 0) {
      swapped = true; // tmp_ now holds the previous files
    } else if (errno == EINVAL || errno == ENOSYS) {
      std::string old = dir_ + ".old-XXXXXX";
      if (!mkdtemp(old.data())) {
        err = errno;
      } else if (std::rename(dir_.c_str(), old.c_str()) != 0) {
        err = errno;
        rmdir(old.c_str());
      } else if (std::rename(tmp_.c_str(), dir_.c_str()) != 0) {
        err = errno;
        std::rename(old.c_str(), dir_.c_str()); // put the previous one back
      } else {
        tmp_ = old;
        swapped = true;
      }
    } else {
      err = errno;
    }
  } else if (!err) {
    if (std::rename(tmp_.c_str(), dir_.c_str()) != 0)
      err = errno;
    else
      tmp_.clear();
  }
  if (err) {
    abort();
    fail(what_, ": cannot write ", dir_, ": ", errnoText(err), "; ", outcome());
  }
  fsyncPath(parentDirectory(dir_));
  committed_ = true;
  if (swapped) {
    removeFlatDirectory(tmp_); // the previous output, now at the temporary name
    tmp_.clear();
  }
}

} // namespace ds::rt
