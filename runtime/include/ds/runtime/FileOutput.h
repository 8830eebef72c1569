// Whole-or-nothing outputs: free-space checks, writability probes and directory swaps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// "1.50 MiB" (binary units; bytes below 1 KiB as "N B").
std::string formatByteSize(uint64_t bytes);

/// Removes the regular files directly in `dir`, then `dir` (never recursing further).
void removeFlatDirectory(const std::string &dir);

/// mkdir -p; throws Error naming the directory that cannot be created.
void makeDirectories(const std::string &dir);

/// The directory part of `path` ("." for a bare name).
std::string parentDirectory(const std::string &path);

/// Bytes the files of `sizes` take on the filesystem holding `dir` (each rounded up to its
/// block size, plus one block for a directory when `newDirectory`), and throws Error naming
/// `output` when statvfs says fewer are available. DS_SKIP_FREE_SPACE_CHECK=1 (tests) skips it.
void checkFreeSpace(const std::string &dir, const std::vector<uint64_t> &sizes,
                    const std::string &output, bool newDirectory = false);

/// Fails fast (before training) when `path` cannot become an output file: its directory must
/// exist and take a new file (probed by creating and removing one), and `path` must not be a
/// directory. `what` names the flag in the message ("--metrics").
void checkOutputFile(const std::string &path, const std::string &what);

/// Replaces a directory of files as a whole: the files are written into DIR.tmp-XXXXXX next to
/// DIR, fsynced, and the directory is swapped in (renameat2 RENAME_EXCHANGE, else two renames);
/// the previous DIR is removed only after the new one is in place. On any failure the previous
/// DIR is unchanged and the temporary directory is removed.
class DirectoryOutput {
public:
  /// Checks that DIR can be replaced (creating its missing parents): its parent takes new
  /// entries, and an existing DIR is a directory holding only regular files ending in
  /// `suffix` (what an earlier run wrote), so the swap never removes anything else.
  static void checkTarget(const std::string &dir, const std::string &suffix,
                          const std::string &what);

  DirectoryOutput(std::string dir, std::string suffix, std::string what);
  ~DirectoryOutput(); // removes the temporary directory unless committed
  DirectoryOutput(const DirectoryOutput &) = delete;
  DirectoryOutput &operator=(const DirectoryOutput &) = delete;

  /// checkTarget, the free-space check for files of `sizes`, and the temporary directory.
  void begin(const std::vector<uint64_t> &sizes);
  /// Writes DIR.tmp-XXXXXX/name (fsynced).
  void write(const std::string &name, const void *data, size_t size);
  /// Puts the new directory in place and removes the previous one.
  void commit();
  /// Removes the temporary directory (what the destructor does).
  void abort();

  const std::string &dir() const { return dir_; }
  /// "the previous DIR is unchanged" or "nothing was written to DIR".
  std::string outcome() const;

private:
  std::string dir_, suffix_, what_, tmp_;
  bool existed_ = false, committed_ = false;
};

} // namespace ds::rt
