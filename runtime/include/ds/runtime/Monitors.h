// DeepSpeed's training monitors on rank 0: csv_monitor files and TensorBoard event files.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace ds::rt {

/// CRC-32C (Castagnoli), as TFRecord framing uses it.
uint32_t crc32c(const void *data, size_t size);
/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t maskedCrc32c(const void *data, size_t size);
/// One TFRecord: length (u64 LE), masked CRC of the length, data, masked CRC of the data.
std::string tfRecord(const std::string &data);

/// The monitors a plan asks for. Each event is (tag, value, step), tags as DeepSpeed
/// names them ("Train/Samples/train_loss"); step counts samples, as DeepSpeed's
/// global_samples.
///   csv_monitor: <csvDir>/<tag with '/' -> '_'>.csv, "step,<last tag component>" header
///   once per run, then "step,value" rows (DeepSpeed's csv_monitor.py).
///   tensorboard: <tensorboardDir>/events.out.tfevents.<seconds>.<host>.<pid>, a TFRecord
///   file of Event protos: a file_version record, then one scalar summary per event.
/// The constructor creates the directories and opens the event file, so an unwritable
/// path fails before training; errors throw Error naming the path.
class TrainingMonitors {
public:
  TrainingMonitors(const std::string &csvDir, const std::string &tensorboardDir);
  ~TrainingMonitors();
  TrainingMonitors(const TrainingMonitors &) = delete;
  TrainingMonitors &operator=(const TrainingMonitors &) = delete;

  bool enabled() const { return csvEnabled || events; }
  void write(const std::string &tag, double value, int64_t step);
  /// Pushes what was written to the files (after each step).
  void flush();
  /// Every file written, with the monitor's name: "<path> (csv_monitor)".
  std::vector<std::string> filesWritten() const;

private:
  std::string csvDir, eventsPath;
  bool csvEnabled = false;
  std::map<std::string, FILE *> csvFiles; // by tag
  FILE *events = nullptr;
  void appendRecord(const std::string &serializedEvent);
  /// DeepSpeed's CSV file of `tag`: <csvDir>/<tag with '/' as '_'>.csv.
  std::string csvPath(const std::string &tag) const;
};

} // namespace ds::rt
