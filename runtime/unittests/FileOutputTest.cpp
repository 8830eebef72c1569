// Whole-or-nothing outputs: directory swaps, refusals that protect foreign files, atomic files.
#include "ds/runtime/Error.h"
#include "ds/runtime/FileOutput.h"
#include "ds/runtime/Plan.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fstream>
#include <set>
#include <sys/stat.h>

using namespace ds::rt;

namespace {

std::string tempDir() {
  std::string tmpl = ::testing::TempDir() + "/fileout-XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

std::set<std::string> entries(const std::string &dir) {
  std::set<std::string> out;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
        out.insert(e->d_name);
    closedir(d);
  }
  return out;
}

std::string slurp(const std::string &path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void put(const std::string &path, const std::string &text) { std::ofstream(path) << text; }

} // namespace

// A new save replaces the old one as a whole: no old file survives, no temporary is left.
TEST(DirectoryOutput, ReplacesAWholeDirectory) {
  std::string root = tempDir(), dir = root + "/p";
  mkdir(dir.c_str(), 0755);
  put(dir + "/old.npy", "old");
  put(dir + "/a.npy", "a0");
  DirectoryOutput out(dir, ".npy", "--save-params");
  out.begin({2, 2});
  out.write("a.npy", "a1", 2);
  out.write("b.npy", "b1", 2);
  EXPECT_EQ(entries(dir), (std::set<std::string>{"old.npy", "a.npy"})); // not yet
  out.commit();
  EXPECT_EQ(entries(dir), (std::set<std::string>{"a.npy", "b.npy"}));
  EXPECT_EQ(slurp(dir + "/a.npy"), "a1");
  EXPECT_EQ(entries(root), std::set<std::string>{"p"});
}

// Without commit (a failure on the way), the previous directory is untouched and the
// temporary directory is removed.
TEST(DirectoryOutput, AbortKeepsThePreviousDirectory) {
  std::string root = tempDir(), dir = root + "/p";
  mkdir(dir.c_str(), 0755);
  put(dir + "/a.npy", "a0");
  {
    DirectoryOutput out(dir, ".npy", "--save-params");
    out.begin({2});
    out.write("a.npy", "a1", 2);
  }
  EXPECT_EQ(entries(dir), std::set<std::string>{"a.npy"});
  EXPECT_EQ(slurp(dir + "/a.npy"), "a0");
  EXPECT_EQ(entries(root), std::set<std::string>{"p"});
}

// A directory holding anything but earlier outputs is never replaced (it would be removed).
TEST(DirectoryOutput, RefusesDirectoriesWithOtherFiles) {
  std::string root = tempDir(), dir = root + "/p";
  mkdir(dir.c_str(), 0755);
  put(dir + "/notes.txt", "mine");
  try {
    DirectoryOutput::checkTarget(dir, ".npy", "--save-params");
    FAIL() << "accepted a directory with notes.txt";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("holds 'notes.txt'"), std::string::npos) << e.what();
  }
  put(root + "/file", "x");
  EXPECT_THROW(DirectoryOutput::checkTarget(root + "/file", ".npy", "--save-params"), Error);
  EXPECT_EQ(slurp(dir + "/notes.txt"), "mine");
}

// A fresh directory (and its missing parents) is created by the commit only.
TEST(DirectoryOutput, CreatesAFreshDirectory) {
  std::string root = tempDir(), dir = root + "/a/b/p";
  DirectoryOutput out(dir, ".npy", "--save-params");
  out.begin({1});
  out.write("x.npy", "x", 1);
  EXPECT_EQ(entries(root + "/a/b").size(), 1u); // the temporary only
  out.commit();
  EXPECT_EQ(entries(dir), std::set<std::string>{"x.npy"});
  EXPECT_EQ(entries(root + "/a/b"), std::set<std::string>{"p"});
}

TEST(FileOutput, AtomicFileAndChecks) {
  std::string root = tempDir();
  writeFileAtomically(root + "/m.json", "{}");
  writeFileAtomically(root + "/m.json", "{1}");
  EXPECT_EQ(slurp(root + "/m.json"), "{1}");
  EXPECT_EQ(entries(root), std::set<std::string>{"m.json"});
  EXPECT_THROW(writeFileAtomically(root + "/missing/m.json", "{}"), Error);
  EXPECT_NO_THROW(checkOutputFile(root + "/new.json", "--metrics"));
  EXPECT_THROW(checkOutputFile(root + "/missing/m.json", "--metrics"), Error);
  EXPECT_THROW(checkOutputFile(root, "--metrics"), Error); // a directory
  EXPECT_EQ(entries(root), std::set<std::string>{"m.json"}); // the probe is gone
  // A filesystem cannot hold more than it has.
  EXPECT_THROW(checkFreeSpace(root, {uint64_t(1) << 62}, root + "/x"), Error);
  EXPECT_EQ(formatByteSize(1536), "1.50 KiB");
  EXPECT_EQ(parentDirectory("a/b/"), "a");
  EXPECT_EQ(parentDirectory("m.json"), ".");
}
