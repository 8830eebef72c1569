// libFuzzer target: arbitrary bytes as the plan's model_file through loadParameters must fill the buffers or give an Error.
#include "ds/runtime/ExecutorBase.h"
#include "ds/runtime/OnnxParams.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace ds::rt;
namespace pb = ds::plan;

namespace {

// Records nothing: loadParameters' checks and reads are what is fuzzed, not a backend.
class NullExecutor : public ExecutorBase {
public:
  explicit NullExecutor(const LoadedPlan &plan) : plan_(plan) {}
  void run(int) override {}
  void runInstruction(int, int) override {}
  void upload(uint32_t id, const void *src) override {
    // Touch every byte of the buffer, so ASan sees a short staging buffer.
    const auto *p = static_cast<const unsigned char *>(src);
    for (uint64_t i = 0; i < plan_.buffer(id).type.bytes; ++i)
      sum_ += p[i];
  }
  void download(uint32_t, void *) override {}
  uint64_t measuredPeakBytes() const override { return 0; }
  uint64_t measuredHostBytes() const override { return 0; }
  uint64_t measuredNvmeBytes() const override { return 0; }
  std::string describe() const override { return "null"; }
  const LoadedPlan &plan() const override { return plan_; }

private:
  const LoadedPlan &plan_;
  uint64_t sum_ = 0;
};

// The parameters a small plan asks for (the seed corpus, runtime/fuzz/params-corpus, has
// initializers of these names): every dtype the loader reads, whole and as flat shards.
LoadedPlan makePlan(const std::string &dir) {
  LoadedPlan lp;
  lp.path = dir + "/fuzz.dsplan";
  lp.modelPath = dir + "/model.onnx";
  uint64_t offset = 0;
  auto add = [&](const char *name, pb::DType dt, std::vector<int64_t> shape, bool flat) {
    uint32_t id = uint32_t(lp.buffers.size() + 1);
    BufferInfo b;
    b.type.dtype = dt;
    b.type.shape = shape;
    b.type.numel = checkedNumel(shape);
    b.type.bytes = uint64_t(b.type.numel) * dtypeSize(dt);
    b.placement = pb::PERSISTENT;
    b.offset = offset;
    offset += (b.type.bytes + 63) / 64 * 64;
    b.name = name;
    lp.bufferIndex[id] = lp.buffers.size();
    lp.buffers.push_back(b);
    auto *p = lp.plan.add_parameters();
    p->set_symbol(name);
    p->set_initializer(name);
    p->set_buffer(id);
    p->set_trainable(true);
    p->mutable_shard()->set_kind(flat ? pb::ShardSpec::FLAT_1D : pb::ShardSpec::FULL);
  };
  add("w", pb::F32, {2, 3}, false);  // raw_data
  add("b", pb::F32, {2}, true);      // flat shard of 3 or 4 elements over 2 ranks
  add("e", pb::F32, {4}, false);     // external data (w.bin)
  add("h", pb::F16, {4}, false);     // f32 narrowed, or f16 raw
  add("k", pb::BF16, {2}, true);     // f32 narrowed to bf16, sharded
  add("d", pb::F64, {2}, false);     // double_data
  add("i", pb::I64, {3}, false);     // int64_data
  add("j", pb::I32, {2}, false);     // int32_data
  add("m", pb::I1, {2}, false);      // bool
  return lp;
}

struct Scratch {
  std::string dir;
  LoadedPlan plan;
  Scratch() {
    dir = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
          "/ds-params-fuzz." + std::to_string(getpid());
    mkdir(dir.c_str(), 0700);
    // An external data file the seeds point at ("w.bin", 64 bytes).
    std::string bin(64, '\0');
    for (size_t i = 0; i < bin.size(); ++i)
      bin[i] = char(i * 7);
    FILE *f = std::fopen((dir + "/w.bin").c_str(), "wb");
    if (f) {
      std::fwrite(bin.data(), 1, bin.size(), f);
      std::fclose(f);
    }
    plan = makePlan(dir);
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static Scratch scratch;
  {
    FILE *f = std::fopen(scratch.plan.modelPath.c_str(), "wb");
    if (!f)
      return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  NullExecutor exec(scratch.plan);
  for (int rank = 0; rank < 2; ++rank) {
    try {
      loadParameters(scratch.plan, exec, rank, 2);
    } catch (const Error &) {
    }
  }
  return 0;
}
