// DeepSpeed's hostfile format and --include/--exclude selection.
#include "ds/runtime/Hostfile.h"
#include "ds/runtime/Error.h"

#include <gtest/gtest.h>

#include <functional>

using namespace ds::rt;

namespace {

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

TEST(Hostfile, ParsesDeepSpeedFormat) {
  auto h = parseHostfileText("# cluster\nworker-0 slots=4\n\n  worker-1 slots=2  # two\n",
                             "hf");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].host, "worker-0");
  EXPECT_EQ(h[0].slots, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(h[1].host, "worker-1");
  EXPECT_EQ(totalSlots(h), 6);
  EXPECT_EQ(mpirunHostList(h), "worker-0:4,worker-1:2");
}

TEST(Hostfile, RejectsBadLines) {
  EXPECT_NE(errorOf([] { parseHostfileText("w slots=0\n", "hf"); }).find("hf:1: slots"),
            std::string::npos);
  EXPECT_NE(errorOf([] { parseHostfileText("w\n", "hf"); }).find("hf:1: expected"),
            std::string::npos);
  EXPECT_NE(errorOf([] { parseHostfileText("w slots=1 x\n", "hf"); }).find("hf:1"),
            std::string::npos);
  EXPECT_NE(errorOf([] {
              parseHostfileText("w slots=1\nw slots=2\n", "hf");
            }).find("hf:2: host 'w' is listed twice"),
            std::string::npos);
  EXPECT_NE(errorOf([] { parseHostfileText("# nothing\n", "hf"); }).find("no hosts"),
            std::string::npos);
  EXPECT_NE(errorOf([] { parseHostfileText("w slots=-1\n", "hf"); }).find("slots"),
            std::string::npos);
}

TEST(Hostfile, IncludeAndExclude) {
  auto h = parseHostfileText("a slots=4\nb slots=2\n", "hf");
  auto inc = selectHosts(h, "a:1,3@b", "");
  ASSERT_EQ(inc.size(), 2u);
  EXPECT_EQ(inc[0].slots, (std::vector<int>{1, 3}));
  EXPECT_EQ(inc[1].slots, (std::vector<int>{0, 1}));
  auto exc = selectHosts(h, "", "b@a:0");
  ASSERT_EQ(exc.size(), 1u);
  EXPECT_EQ(exc[0].host, "a");
  EXPECT_EQ(exc[0].slots, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(totalSlots(exc), 3);
  EXPECT_EQ(selectHosts(h, "", "").size(), 2u);
  EXPECT_NE(errorOf([&] { selectHosts(h, "a", "b"); }).find("mutually exclusive"),
            std::string::npos);
  EXPECT_NE(
      errorOf([&] { selectHosts(h, "c", ""); }).find("host 'c' is not in the hostfile"),
      std::string::npos);
  EXPECT_NE(errorOf([&] { selectHosts(h, "b:2", ""); }).find("has no slot 2"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { selectHosts(h, "", "a@b"); }).find("leaves no slots"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { selectHosts(h, "a:x", ""); }).find("not a slot index"),
            std::string::npos);
}

} // namespace
