// Tests of resolveTrainingJob (lib/Config/TrainingJob.cpp): the world size, batch keys and
// ZeRO stage that ds-opt and ds_opt.initialize both compile with.
#include "ds/Config/TrainingJob.h"

#include <gtest/gtest.h>

using namespace mlir::ds;

namespace {
DeepSpeedConfig parse(llvm::StringRef json) {
  auto c = parseDeepSpeedConfig(json, "c.json");
  EXPECT_TRUE(bool(c)) << (c ? "" : llvm::toString(c.takeError()));
  return c ? std::move(*c) : DeepSpeedConfig();
}

std::string errorOf(llvm::Expected<TrainingJob> job) {
  if (job)
    return "(no error)";
  return llvm::toString(job.takeError());
}

const char *kAllBatchKeys = R"({"train_batch_size": 16, "train_micro_batch_size_per_gpu": 2,
                                "gradient_accumulation_steps": 2})";
} // namespace

// Tests that without a world size the batch keys set it, and with none of them it is 1.
TEST(TrainingJob, WorldFromBatchKeys) {
  DeepSpeedConfig c = parse(kAllBatchKeys);
  auto job = resolveTrainingJob(c, "c.json", {});
  ASSERT_TRUE(bool(job)) << errorOf(std::move(job));
  EXPECT_EQ(job->world, 4);
  EXPECT_TRUE(job->worldFromBatch);
  DeepSpeedConfig none = parse(R"({"train_micro_batch_size_per_gpu": 2})");
  auto one = resolveTrainingJob(none, "c.json", {});
  ASSERT_TRUE(bool(one)) << errorOf(std::move(one));
  EXPECT_EQ(one->world, 1);
  EXPECT_FALSE(one->worldFromBatch);
  EXPECT_EQ(none.trainBatchSize.value_or(0), 2); // derived as DeepSpeed does
}

// Tests that a launcher's world size must agree with the batch keys, while --world-size
// overrides them and the batch check then names the keys.
TEST(TrainingJob, LauncherVersusFlag) {
  DeepSpeedConfig c = parse(kAllBatchKeys);
  JobRequest launched;
  launched.worldSize = 2;
  launched.worldFromLauncher = true;
  EXPECT_EQ(errorOf(resolveTrainingJob(c, "c.json", launched)),
            "c.json: the batch keys imply 4 ranks, but the job was launched with 2 "
            "(mpirun -np / torchrun --nproc-per-node)");
  DeepSpeedConfig d = parse(kAllBatchKeys);
  JobRequest flag;
  flag.worldSize = 2;
  std::string e = errorOf(resolveTrainingJob(d, "c.json", flag));
  EXPECT_EQ(e.rfind("c.json: ", 0), 0u) << e;
  EXPECT_NE(e.find("16 != 2 * 2 * 2"), std::string::npos) << e;
  DeepSpeedConfig ok = parse(kAllBatchKeys);
  flag.worldSize = 4;
  EXPECT_EQ(resolveTrainingJob(ok, "c.json", flag)->world, 4);
}

// Tests the stage: the flag overrides the config, out of range is refused, offload_param
// needs stage 3 (the error names the file).
TEST(TrainingJob, Stage) {
  DeepSpeedConfig c = parse(R"({"zero_optimization": {"stage": 2}})");
  EXPECT_EQ(resolveTrainingJob(c, "c.json", {})->stage, 2);
  JobRequest r;
  r.zeroStage = 3;
  EXPECT_EQ(resolveTrainingJob(c, "c.json", r)->stage, 3);
  r.zeroStage = 4;
  EXPECT_EQ(errorOf(resolveTrainingJob(c, "c.json", r)),
            "ZeRO stage must be 0, 1, 2 or 3, got 4");
  DeepSpeedConfig off = parse(
      R"({"zero_optimization": {"stage": 2, "offload_param": {"device": "cpu"}}})");
  std::string e = errorOf(resolveTrainingJob(off, "c.json", {}));
  EXPECT_EQ(e.rfind("c.json: ", 0), 0u) << e;
  EXPECT_NE(e.find("offload_param"), std::string::npos) << e;
}

// Tests that an inference compile ignores the batch keys and the offload rule.
TEST(TrainingJob, InferenceSkipsTrainingKeys) {
  DeepSpeedConfig c = parse(R"({"train_batch_size": 7, "train_micro_batch_size_per_gpu": 2,
      "gradient_accumulation_steps": 2, "zero_optimization": {"offload_param": {"device": "cpu"}}})");
  JobRequest r;
  r.inference = true;
  auto job = resolveTrainingJob(c, "c.json", r);
  ASSERT_TRUE(bool(job)) << errorOf(std::move(job));
  EXPECT_EQ(job->world, 1);
  EXPECT_EQ(errorOf(resolveTrainingJob(c, "c.json", {})).rfind("c.json: ", 0), 0u);
}
