// TensorBoard event framing (CRC-32C, masked CRC, TFRecord) and the CSV monitor's files.
#include "ds/runtime/Monitors.h"
#include "ds/runtime/Error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace ds::rt;

namespace {

TEST(Monitors, Crc32cCheckValues) {
  // The CRC-32C check value (RFC 3720 / the Castagnoli catalogue) and iSCSI's 32 zero
  // bytes.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Monitors, TfRecordFraming) {
  std::string data = "event bytes";
  std::string r = tfRecord(data);
  ASSERT_EQ(r.size(), 8 + 4 + data.size() + 4);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i)
    len |= uint64_t(uint8_t(r[size_t(i)])) << (8 * i);
  EXPECT_EQ(len, data.size());
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= uint32_t(uint8_t(r[at + size_t(i)])) << (8 * i);
    return v;
  };
  EXPECT_EQ(u32(8), maskedCrc32c(r.data(), 8));
  EXPECT_EQ(r.substr(12, data.size()), data);
  EXPECT_EQ(u32(12 + data.size()), maskedCrc32c(data.data(), data.size()));
  uint32_t c = crc32c(data.data(), data.size());
  EXPECT_EQ(maskedCrc32c(data.data(), data.size()),
            ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(Monitors, CsvFilesPerTag) {
  std::string dir = ::testing::TempDir() + "/monitors-csv-" + std::to_string(::getpid());
  {
    TrainingMonitors m(dir, "");
    EXPECT_TRUE(m.enabled());
    m.write("Train/Samples/train_loss", 2.5, 0);
    m.write("Train/Samples/lr", 0.125, 8);
    m.write("Train/Samples/train_loss", 2.25, 8);
    m.flush();
    EXPECT_EQ(m.filesWritten().size(), 2u);
  }
  std::ifstream f(dir + "/Train_Samples_train_loss.csv");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "step,train_loss\n0,2.5\n8,2.25\n");
  std::ifstream g(dir + "/Train_Samples_lr.csv");
  std::stringstream gs;
  gs << g.rdbuf();
  EXPECT_EQ(gs.str(), "step,lr\n8,0.125\n");
}

TEST(Monitors, UnwritableDirectoryFailsAtConstruction) {
  EXPECT_THROW(TrainingMonitors("", "/proc/ds-monitors-no-such-dir"), Error);
  EXPECT_THROW(TrainingMonitors("/proc/ds-monitors-no-such-dir", ""), Error);
}

} // namespace
