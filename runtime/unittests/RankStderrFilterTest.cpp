// The launcher's pass over the ranks' stderr: Open MPI's read from a vanished peer is
// held back.
#include "ds/runtime/JobLauncher.h"

#include <gtest/gtest.h>

using namespace ds::rt;

namespace {

// Tests that only Open MPI 4's failed single-copy read with ESRCH is recognised.
TEST(RankStderrFilter, RecognisesOnlyTheVanishedPeerRead) {
  // As a survivor printed it when its peer was SIGKILLed mid all-reduce (opal_output's
  // prefix).
  EXPECT_TRUE(RankStderrFilter::isReadFromVanishedPeer(
      "[vm:30586] Read -1, expected 1048576, errno = 3"));
  EXPECT_TRUE(RankStderrFilter::isReadFromVanishedPeer(
      "[n-1.x:7] Read -1, expected 1, errno = 3\r"));
  EXPECT_FALSE(
      RankStderrFilter::isReadFromVanishedPeer("Read -1, expected 16640, errno = 3"));
  EXPECT_FALSE(
      RankStderrFilter::isReadFromVanishedPeer("[vm] Read -1, expected 16, errno = 3"));
  EXPECT_FALSE(
      RankStderrFilter::isReadFromVanishedPeer("[vm:] Read -1, expected 16, errno = 3"));
  EXPECT_FALSE(
      RankStderrFilter::isReadFromVanishedPeer("[vm:1]Read -1, expected 16, errno = 3"));
  // Other errors of the same read are real (EPERM: Yama or seccomp; EFAULT: a bad
  // address).
  EXPECT_FALSE(RankStderrFilter::isReadFromVanishedPeer(
      "[vm:9] Read -1, expected 16640, errno = 1"));
  EXPECT_FALSE(RankStderrFilter::isReadFromVanishedPeer(
      "[vm:9] Read -1, expected 16640, errno = 14"));
  EXPECT_FALSE(RankStderrFilter::isReadFromVanishedPeer(
      "[vm:9] Read -1, expected 16640, errno = 33"));
  EXPECT_FALSE(RankStderrFilter::isReadFromVanishedPeer(
      "[vm:9] Read 12, expected 16640, errno = 3"));
  EXPECT_FALSE(
      RankStderrFilter::isReadFromVanishedPeer("[vm:9] Read -1, expected , errno = 3"));
  EXPECT_FALSE(
      RankStderrFilter::isReadFromVanishedPeer("[vm:9] Read -1, expected 1x, errno = 3"));
  EXPECT_FALSE(RankStderrFilter::isReadFromVanishedPeer(
      "x [vm:9] Read -1, expected 16640, errno = 3"));
  EXPECT_FALSE(RankStderrFilter::isReadFromVanishedPeer("ds-run: rank 1: error"));
  EXPECT_FALSE(RankStderrFilter::isReadFromVanishedPeer(""));
}

// Tests that lines pass as soon as they are complete, across arbitrary chunk boundaries,
// and that the held-back lines come out at the end of a job that succeeded.
TEST(RankStderrFilter, PassesCompleteLinesAndHoldsTheVanishedPeerRead) {
  RankStderrFilter f;
  EXPECT_EQ(f.feed("ds-run: rank 0: war"), "");
  EXPECT_EQ(f.feed("ning\n[vm:12] Read -1, expected 4"), "ds-run: rank 0: warning\n");
  EXPECT_EQ(f.feed("096, errno = 3\nnext line\nunfin"), "next line\n");
  EXPECT_EQ(f.finish(/*jobFailed=*/false),
            "unfin[vm:12] Read -1, expected 4096, errno = 3\n");
  EXPECT_EQ(f.finish(false), ""); // everything was handed out once
}

// Tests that a failed job (a death the launcher reports itself) drops the held-back lines
// only.
TEST(RankStderrFilter, DropsTheVanishedPeerReadWhenTheJobFailed) {
  RankStderrFilter f;
  EXPECT_EQ(f.feed("[vm:5] Read -1, expected 16640, errno = 3\n"
                   "[vm:5] Read -1, expected 16640, errno = 1\n"),
            "[vm:5] Read -1, expected 16640, errno = 1\n");
  EXPECT_EQ(f.feed("[vm:6] Read -1, expected 8, errno = 3\n"), "");
  EXPECT_EQ(f.finish(/*jobFailed=*/true), "");
}

// Tests that a very long line without its end is not held without bound.
TEST(RankStderrFilter, LetsAnOverlongUnfinishedLineThrough) {
  RankStderrFilter f;
  std::string big(100000, 'x');
  EXPECT_EQ(f.feed(big), big);
  EXPECT_EQ(f.feed("\n"), "\n");
  EXPECT_EQ(f.finish(true), "");
}

} // namespace
