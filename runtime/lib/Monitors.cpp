// DeepSpeed's csv_monitor and tensorboard monitors: CSV rows and TFRecord-framed Event
// protos.
#include "ds/runtime/Monitors.h"

#include "ds/runtime/Error.h"
#include "ds/runtime/Npy.h"
#include "tensorboard_event.pb.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unistd.h>

namespace ds::rt {

namespace {
std::array<uint32_t, 256> makeCrc32cTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1; // reflected Castagnoli polynomial
    t[i] = c;
  }
  return t;
}

double wallTime() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

void putU32(std::string &out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(char((v >> (8 * i)) & 0xff));
}
} // namespace

uint32_t crc32c(const void *data, size_t size) {
  static const std::array<uint32_t, 256> table = makeCrc32cTable();
  const auto *p = static_cast<const unsigned char *>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i)
    c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t maskedCrc32c(const void *data, size_t size) {
  uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tfRecord(const std::string &data) {
  std::string out;
  uint64_t len = data.size();
  for (int i = 0; i < 8; ++i)
    out.push_back(char((len >> (8 * i)) & 0xff));
  putU32(out, maskedCrc32c(out.data(), 8));
  out += data;
  putU32(out, maskedCrc32c(data.data(), data.size()));
  return out;
}

TrainingMonitors::TrainingMonitors(const std::string &csvDir,
                                   const std::string &tensorboardDir)
    : csvDir(csvDir), csvEnabled(!csvDir.empty()) {
  if (csvEnabled) {
    createDirectories(csvDir);
    if (::access(csvDir.c_str(), W_OK) != 0)
      fail("csv_monitor: cannot write to ", csvDir, ": ", std::strerror(errno));
  }
  if (!tensorboardDir.empty()) {
    createDirectories(tensorboardDir);
    char host[256] = "localhost";
    ::gethostname(host, sizeof(host) - 1);
    eventsPath = tensorboardDir + "/events.out.tfevents." +
                 std::to_string(int64_t(wallTime())) + "." + host + "." +
                 std::to_string(::getpid());
    events = std::fopen(eventsPath.c_str(), "wb");
    if (!events)
      fail("tensorboard: cannot create ", eventsPath, ": ", std::strerror(errno));
    ds::tensorboard::Event first;
    first.set_wall_time(wallTime());
    first.set_file_version("brain.Event:2");
    appendRecord(first.SerializeAsString());
  }
}

TrainingMonitors::~TrainingMonitors() {
  for (auto &kv : csvFiles)
    std::fclose(kv.second);
  if (events)
    std::fclose(events);
}

void TrainingMonitors::appendRecord(const std::string &serializedEvent) {
  std::string record = tfRecord(serializedEvent);
  if (std::fwrite(record.data(), 1, record.size(), events) != record.size())
    fail("tensorboard: cannot write ", eventsPath, ": ", std::strerror(errno));
}

std::string TrainingMonitors::csvPath(const std::string &tag) const {
  std::string name = tag;
  std::replace(name.begin(), name.end(), '/', '_');
  return csvDir + "/" + name + ".csv";
}

void TrainingMonitors::write(const std::string &tag, double value, int64_t step) {
  if (csvEnabled) {
    FILE *&f = csvFiles[tag];
    if (!f) {
      std::string path = csvPath(tag);
      f = std::fopen(path.c_str(), "a");
      if (!f) {
        csvFiles.erase(tag);
        fail("csv_monitor: cannot open ", path, ": ", std::strerror(errno));
      }
      size_t slash = tag.rfind('/');
      std::fprintf(f, "step,%s\n",
                   (slash == std::string::npos ? tag : tag.substr(slash + 1)).c_str());
    }
    std::fprintf(f, "%lld,%.17g\n", (long long)step, value);
  }
  if (events) {
    ds::tensorboard::Event e;
    e.set_wall_time(wallTime());
    e.set_step(step);
    ds::tensorboard::SummaryValue *v = e.mutable_summary()->add_value();
    v->set_tag(tag);
    v->set_simple_value(float(value));
    appendRecord(e.SerializeAsString());
  }
}

void TrainingMonitors::flush() {
  for (auto &kv : csvFiles)
    if (std::fflush(kv.second) != 0)
      fail("csv_monitor: cannot write to ", csvDir, ": ", std::strerror(errno));
  if (events && std::fflush(events) != 0)
    fail("tensorboard: cannot write ", eventsPath, ": ", std::strerror(errno));
}

std::vector<std::string> TrainingMonitors::filesWritten() const {
  std::vector<std::string> out;
  for (const auto &kv : csvFiles)
    out.push_back(csvPath(kv.first) + " (csv_monitor)");
  if (events)
    out.push_back(eventsPath + " (tensorboard)");
  return out;
}

} // namespace ds::rt
