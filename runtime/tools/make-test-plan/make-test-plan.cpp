// ds-make-test-plan: writes hand-built plans, ONNX models and .npy data for the runtime tests.
//
//   ds-make-test-plan linreg DIR --world W --micro-batch B --accum A [--zero3]
//       A linear-regression training plan (MICRO_STEP + APPLY_STEP, SGD) whose parameters load
//       from DIR/model.onnx (w through external data in DIR/model.weights, b inline). With
//       --zero3, w is a FLAT_1D shard that is all-gathered before use and whose gradient is
//       reduce-scattered. The global batch is B*A*W; the loss trajectory is the same for every
//       world size. Also writes DIR/data and bad variants under DIR/bad.
//   ds-make-test-plan collectives DIR --world W
//       An INFERENCE plan that checks all_gather / reduce_scatter / all_reduce / broadcast on
//       every rank with assert_close against constants, plus DIR/data and DIR/bad-rank1 (data
//       where only rank 1's slice is wrong, so rank 1 fails while the others wait).
#include "ds/runtime/Npy.h"
#include "ds/runtime/Plan.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sys/stat.h>

using namespace ds::rt;
namespace pb = ds::plan;

namespace {

/// Builds a plan with a bump allocator for each region.
struct PlanBuilder {
  pb::Plan plan;
  uint64_t arenaTop = 0, persistentTop = 0;
  uint32_t nextId = 1;
  pb::Program *prog = nullptr;

  PlanBuilder(int world) {
    plan.set_version(kPlanVersion);
    plan.set_world_size(uint32_t(world));
    plan.set_alignment(64);
    plan.set_producer("ds-make-test-plan");
  }
  uint32_t buffer(const std::string &name, pb::DType dt, std::vector<int64_t> shape,
                  bool persistent = false) {
    auto *b = plan.add_buffers();
    b->set_id(nextId);
    b->set_name(name);
    b->set_dtype(dt);
    int64_t n = 1;
    for (int64_t d : shape) {
      b->add_shape(d);
      n *= d;
    }
    uint64_t &top = persistent ? persistentTop : arenaTop;
    b->set_placement(persistent ? pb::PERSISTENT : pb::ARENA);
    b->set_offset(top);
    top += (uint64_t(n) * dtypeSize(dt) + 63) / 64 * 64;
    return nextId++;
  }
  void program(const std::string &name, pb::Program::Role role) {
    prog = plan.add_programs();
    prog->set_name(name);
    prog->set_role(role);
  }
  pb::Instruction *op(const std::string &kernel, std::vector<uint32_t> in,
                      std::vector<uint32_t> out) {
    auto *i = prog->add_instructions();
    i->set_kernel(kernel);
    for (auto b : in)
      i->add_inputs(b);
    for (auto b : out)
      i->add_outputs(b);
    if (ds::rt::isCollectiveKernel(kernel))
      i->set_stream(pb::Instruction::COMM);
    return i;
  }
  static void setI(pb::Instruction *i, const std::string &k, int64_t v) {
    (*i->mutable_attrs())[k].set_i(v);
  }
  static void setF(pb::Instruction *i, const std::string &k, double v) {
    (*i->mutable_attrs())[k].set_f(v);
  }
  static void setS(pb::Instruction *i, const std::string &k, const std::string &v) {
    (*i->mutable_attrs())[k].set_s(v);
  }
  static void setInts(pb::Instruction *i, const std::string &k, std::vector<int64_t> v) {
    auto *l = (*i->mutable_attrs())[k].mutable_ints();
    for (auto x : v)
      l->add_values(x);
  }
  static void setRaw(pb::Instruction *i, const std::string &k, const std::vector<float> &v) {
    (*i->mutable_attrs())[k].set_raw(
        std::string(reinterpret_cast<const char *>(v.data()), v.size() * 4));
  }
  /// Finishes sizes and the predicted peak: the highest arena end any instruction touches.
  void finish() {
    plan.set_arena_bytes(arenaTop);
    plan.set_persistent_bytes(persistentTop);
    std::map<uint32_t, uint64_t> ends;
    for (const auto &b : plan.buffers())
      if (b.placement() == pb::ARENA) {
        int64_t n = 1;
        for (auto d : b.shape())
          n *= d;
        ends[b.id()] = b.offset() + uint64_t(n) * dtypeSize(b.dtype());
      }
    uint64_t peak = 0;
    for (const auto &p : plan.programs())
      for (const auto &i : p.instructions()) {
        for (auto id : i.inputs())
          if (ends.count(id))
            peak = std::max(peak, ends[id]);
        for (auto id : i.outputs())
          if (ends.count(id))
            peak = std::max(peak, ends[id]);
      }
    plan.set_predicted_peak_bytes(peak);
  }
};

void mkdirOrDie(const std::string &d) {
  if (mkdir(d.c_str(), 0777) != 0 && errno != EEXIST)
    fail("cannot create ", d, ": ", std::strerror(errno));
}

void writeFile(const std::string &path, const std::string &data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), std::streamsize(data.size()));
  if (!f)
    fail("cannot write ", path);
}

// ------------------------------------------------------------------ linreg
constexpr int kFeatures = 5;
constexpr int kSamples = 64;

void makeLinreg(const std::string &dir, int world, int mb, int accum, bool zero3) {
  PlanBuilder pbld(world);
  auto &plan = pbld.plan;
  plan.set_model_file("model.onnx");
  plan.set_gradient_accumulation_steps(uint32_t(accum));
  const int64_t n = kFeatures, p = (n + world - 1) / world;
  const double lr = 0.1;
  auto F = pb::F32;
  uint32_t w = zero3 ? pbld.buffer("w_shard", F, {p}, true) : pbld.buffer("w", F, {n, 1}, true);
  uint32_t b = pbld.buffer("b", F, {1}, true);
  uint32_t gw = zero3 ? pbld.buffer("gw_shard", F, {p}, true) : pbld.buffer("gw", F, {n, 1}, true);
  uint32_t gb = pbld.buffer("gb", F, {1}, true);
  uint32_t x = pbld.buffer("x", F, {mb, n}), y = pbld.buffer("y", F, {mb, 1});
  uint32_t wg = zero3 ? pbld.buffer("w_gathered", F, {p * world}) : 0;
  uint32_t wfull = zero3 ? pbld.buffer("w_full", F, {n, 1}) : w;
  uint32_t pred = pbld.buffer("pred", F, {mb, 1}), pred2 = pbld.buffer("pred_b", F, {mb, 1});
  uint32_t diff = pbld.buffer("diff", F, {mb, 1}), sq = pbld.buffer("sq", F, {mb, 1});
  uint32_t loss = pbld.buffer("loss", F, {});
  uint32_t scal = pbld.buffer("two_over_mb", F, {}), dd = pbld.buffer("dd", F, {mb, 1});
  uint32_t gwm = pbld.buffer("gw_micro", F, {n, 1}), gbm = pbld.buffer("gb_micro", F, {1});
  uint32_t gpad = zero3 ? pbld.buffer("gw_padded", F, {p * world}) : 0;
  uint32_t gsh = zero3 ? pbld.buffer("gw_shard_micro", F, {p}) : 0;
  uint32_t lrs = pbld.buffer("lr_scaled", F, {});
  uint32_t uw = pbld.buffer("upd_w", F, {zero3 ? p : n}), ub = pbld.buffer("upd_b", F, {1});

  auto *pw = plan.add_parameters();
  pw->set_symbol("w");
  pw->set_initializer("w");
  pw->set_buffer(w);
  pw->set_trainable(true);
  if (zero3)
    pw->mutable_shard()->set_kind(pb::ShardSpec::FLAT_1D);
  auto *pbias = plan.add_parameters();
  pbias->set_symbol("b");
  pbias->set_initializer("b");
  pbias->set_buffer(b);
  pbias->set_trainable(true);
  auto *ix = plan.add_inputs();
  ix->set_name("x");
  ix->set_buffer(x);
  auto *iy = plan.add_inputs();
  iy->set_name("y");
  iy->set_buffer(y);
  auto *ol = plan.add_outputs();
  ol->set_name("loss");
  ol->set_buffer(loss);
  auto *op = plan.add_outputs();
  op->set_name("pred");
  op->set_buffer(pred2);
  plan.set_loss_output(0);

  pbld.program("micro_step", pb::Program::MICRO_STEP);
  if (zero3) {
    auto *g = pbld.op("all_gather", {w}, {wg});
    PlanBuilder::setI(g, "axis", 0);
    auto *c = pbld.op("copy", {wg}, {wfull});
    PlanBuilder::setI(c, "count", n);
    c->add_waits(0);
  }
  pbld.op("matmul", {x, wfull}, {pred});
  pbld.op("add", {pred, b}, {pred2});
  pbld.op("sub", {pred2, y}, {diff});
  pbld.op("mul", {diff, diff}, {sq});
  auto *rm = pbld.op("reduce_mean", {sq}, {loss});
  PlanBuilder::setI(rm, "keepdims", 0);
  auto *k = pbld.op("constant", {}, {scal});
  PlanBuilder::setRaw(k, "value", {float(2.0 / mb)});
  pbld.op("mul", {diff, scal}, {dd});
  auto *gm = pbld.op("gemm", {x, dd}, {gwm});
  PlanBuilder::setI(gm, "trans_a", 1);
  auto *rs = pbld.op("reduce_sum", {dd}, {gbm});
  PlanBuilder::setInts(rs, "axes", {0});
  PlanBuilder::setI(rs, "keepdims", 0);
  if (zero3) {
    auto *f = pbld.op("fill", {}, {gpad});
    PlanBuilder::setF(f, "value", 0);
    auto *c = pbld.op("copy", {gwm}, {gpad});
    PlanBuilder::setI(c, "count", n);
    auto *r = pbld.op("reduce_scatter", {gpad}, {gsh});
    PlanBuilder::setI(r, "axis", 0);
    PlanBuilder::setS(r, "reduction", "avg");
    pbld.op("add", {gw, gsh}, {gw});
  } else {
    pbld.op("add", {gw, gwm}, {gw});
  }
  pbld.op("add", {gb, gbm}, {gb});

  pbld.program("optimizer_step", pb::Program::APPLY_STEP);
  if (!zero3) {
    auto *a = pbld.op("all_reduce", {gw}, {gw});
    PlanBuilder::setS(a, "reduction", "avg");
  }
  auto *a = pbld.op("all_reduce", {gb}, {gb});
  PlanBuilder::setS(a, "reduction", "avg");
  auto *kl = pbld.op("constant", {}, {lrs});
  (*kl->mutable_attrs())["value"].mutable_floats()->add_values(lr / accum);
  uint32_t uwView = uw;
  if (!zero3) { // upd_w is [n]; compute into a [n,1] view of the same bytes
    uwView = pbld.buffer("upd_w2", F, {n, 1});
  }
  pbld.op("mul", {gw, lrs}, {uwView});
  pbld.op("sub", {w, uwView}, {w});
  pbld.op("mul", {gb, lrs}, {ub});
  pbld.op("sub", {b, ub}, {b});
  auto *f1 = pbld.op("fill", {}, {gw});
  PlanBuilder::setF(f1, "value", 0);
  auto *f2 = pbld.op("fill", {}, {gb});
  PlanBuilder::setF(f2, "value", 0);

  // Inference: the forward part only.
  pbld.program("forward", pb::Program::INFERENCE);
  if (zero3) {
    auto *g = pbld.op("all_gather", {w}, {wg});
    PlanBuilder::setI(g, "axis", 0);
    auto *c = pbld.op("copy", {wg}, {wfull});
    PlanBuilder::setI(c, "count", n);
  }
  pbld.op("matmul", {x, wfull}, {pred});
  pbld.op("add", {pred, b}, {pred2});
  pbld.op("sub", {pred2, y}, {diff});
  pbld.op("mul", {diff, diff}, {sq});
  auto *rm2 = pbld.op("reduce_mean", {sq}, {loss});
  PlanBuilder::setI(rm2, "keepdims", 0);
  pbld.finish();

  mkdirOrDie(dir);
  writePlanFile(plan, dir + "/plan.dsplan");

  // Model: w through external data (after 16 junk bytes), b inline.
  std::vector<float> w0(n), b0 = {0.25f};
  for (int i = 0; i < n; ++i)
    w0[size_t(i)] = 0.1f * float(i) - 0.2f;
  std::string weights(16, 'J');
  weights.append(reinterpret_cast<const char *>(w0.data()), w0.size() * 4);
  writeFile(dir + "/model.weights", weights);
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  auto *graph = model.mutable_graph();
  graph->set_name("linreg");
  auto *tw = graph->add_initializer();
  tw->set_name("w");
  tw->set_data_type(onnx::TensorProto::FLOAT);
  tw->add_dims(n);
  tw->add_dims(1);
  tw->set_data_location(onnx::TensorProto::EXTERNAL);
  auto kv = [&](const char *key, const std::string &v) {
    auto *e = tw->add_external_data();
    e->set_key(key);
    e->set_value(v);
  };
  kv("location", "model.weights");
  kv("offset", "16");
  kv("length", std::to_string(n * 4));
  auto *tb = graph->add_initializer();
  tb->set_name("b");
  tb->set_data_type(onnx::TensorProto::FLOAT);
  tb->add_dims(1);
  tb->set_raw_data(std::string(reinterpret_cast<const char *>(b0.data()), 4));
  writeFile(dir + "/model.onnx", model.SerializeAsString());

  // Data: y = x . w_true + 0.5 (+ tiny noise), 64 samples.
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> xs(size_t(kSamples * n)), ys(kSamples);
  for (int s = 0; s < kSamples; ++s) {
    float acc = 0.5f;
    for (int j = 0; j < n; ++j) {
      float v = u(rng);
      xs[size_t(s * n + j)] = v;
      acc += v * (0.3f * float(j) - 0.5f);
    }
    ys[size_t(s)] = acc + 0.01f * u(rng);
  }
  mkdirOrDie(dir + "/data");
  writeNpy(dir + "/data/x.npy", pb::F32, {kSamples, n}, xs.data());
  writeNpy(dir + "/data/y.npy", pb::F32, {kSamples, 1}, ys.data());

  // Bad variants for the error tests.
  std::string bad = dir + "/bad";
  mkdirOrDie(bad);
  std::string good = serializePlan(plan);
  writeFile(bad + "/truncated.dsplan", good.substr(0, good.size() / 2));
  writeFile(bad + "/not-a-plan.dsplan", "hello, this is not a plan\n");
  pb::Plan v2 = plan;
  v2.set_version(2);
  writeFile(bad + "/version2.dsplan", serializePlan(v2));
  pb::Plan oob = plan;
  oob.mutable_buffers(0)->set_offset(oob.persistent_bytes());
  writeFile(bad + "/oob.dsplan", serializePlan(oob));
  // Data problems: missing y, x as f64, too few samples.
  mkdirOrDie(bad + "/data-missing");
  writeNpy(bad + "/data-missing/x.npy", pb::F32, {kSamples, n}, xs.data());
  mkdirOrDie(bad + "/data-dtype");
  std::vector<double> xd(xs.begin(), xs.end());
  writeNpy(bad + "/data-dtype/x.npy", pb::F64, {kSamples, n}, xd.data());
  writeNpy(bad + "/data-dtype/y.npy", pb::F32, {kSamples, 1}, ys.data());
  mkdirOrDie(bad + "/data-few");
  int64_t few = int64_t(mb) * accum * world - 1;
  writeNpy(bad + "/data-few/x.npy", pb::F32, {few, n}, xs.data());
  writeNpy(bad + "/data-few/y.npy", pb::F32, {few, 1}, ys.data());
}

// ------------------------------------------------------------------ collectives
void makeCollectives(const std::string &dir, int world) {
  const int64_t mb = 4, cols = 12, W = world;
  PlanBuilder pbld(world);
  auto &plan = pbld.plan;
  auto F = pb::F32;
  // Global batch [W*mb, cols] of small integers: sums are exact in f32 and f16.
  std::vector<float> full(size_t(W * mb * cols));
  for (size_t i = 0; i < full.size(); ++i)
    full[i] = float(int((i * 7 + 3) % 11) - 5);
  auto xr = [&](int64_t r, int64_t i, int64_t j) { return full[size_t((r * mb + i) * cols + j)]; };

  uint32_t x = pbld.buffer("x", F, {mb, cols});
  uint32_t fullC = pbld.buffer("expected_full", F, {W * mb, cols});
  uint32_t expX = pbld.buffer("expected_x", F, {mb, cols});
  uint32_t g0 = pbld.buffer("gathered0", F, {W * mb, cols});
  uint32_t g1 = pbld.buffer("gathered1", F, {mb, W * cols});
  uint32_t g1e = pbld.buffer("expected_gathered1", F, {mb, W * cols});
  uint32_t ar = pbld.buffer("all_reduced", F, {mb, cols});
  uint32_t sumC = pbld.buffer("expected_sum", F, {mb, cols});
  uint32_t mx = pbld.buffer("all_reduced_max", F, {mb, cols});
  uint32_t maxC = pbld.buffer("expected_max", F, {mb, cols});
  uint32_t rs0 = pbld.buffer("reduce_scattered0", F, {mb / W, cols});
  uint32_t rs0e = pbld.buffer("expected_rs0", F, {mb / W, cols});
  uint32_t rs1 = pbld.buffer("reduce_scattered1", F, {mb, cols / W});
  uint32_t pieceC = pbld.buffer("sum_piece_major", F, {W * mb * (cols / W)});
  uint32_t rs1e = pbld.buffer("expected_rs1", F, {mb, cols / W});
  uint32_t bc = pbld.buffer("broadcast", F, {mb, cols});
  uint32_t bcC = pbld.buffer("expected_broadcast", F, {mb, cols});
  uint32_t xh = pbld.buffer("x_f16", pb::F16, {mb, cols});
  uint32_t arh = pbld.buffer("all_reduced_f16", pb::F16, {mb, cols});
  uint32_t arh32 = pbld.buffer("all_reduced_f16_as_f32", F, {mb, cols});
  uint32_t xd = pbld.buffer("x_f64", pb::F64, {mb, cols});
  uint32_t gd = pbld.buffer("gathered_f64", pb::F64, {mb, W * cols});
  uint32_t gd32 = pbld.buffer("gathered_f64_as_f32", F, {mb, W * cols});
  auto *in = plan.add_inputs();
  in->set_name("x");
  in->set_buffer(x);
  auto *out = plan.add_outputs();
  out->set_name("gathered");
  out->set_buffer(g0);
  auto *out2 = plan.add_outputs();
  out2->set_name("reduce_scattered");
  out2->set_buffer(rs1);

  std::vector<float> sum(size_t(mb * cols), 0), mxv(size_t(mb * cols), -1e30f), g1v, piece,
      bcv(size_t(mb * cols));
  for (int64_t r = 0; r < W; ++r)
    for (int64_t i = 0; i < mb; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        sum[size_t(i * cols + j)] += xr(r, i, j);
        mxv[size_t(i * cols + j)] = std::max(mxv[size_t(i * cols + j)], xr(r, i, j));
        if (r == W - 1)
          bcv[size_t(i * cols + j)] = xr(r, i, j);
      }
  for (int64_t i = 0; i < mb; ++i)
    for (int64_t r = 0; r < W; ++r)
      for (int64_t j = 0; j < cols; ++j)
        g1v.push_back(xr(r, i, j));
  for (int64_t r = 0; r < W; ++r) // piece r along axis 1 of the sum, [mb, cols/W] each
    for (int64_t i = 0; i < mb; ++i)
      for (int64_t j = 0; j < cols / W; ++j)
        piece.push_back(sum[size_t(i * cols + r * (cols / W) + j)]);

  pbld.program("check", pb::Program::INFERENCE);
  auto constant = [&](uint32_t id, const std::vector<float> &v) {
    PlanBuilder::setRaw(pbld.op("constant", {}, {id}), "value", v);
  };
  auto check = [&](uint32_t a, uint32_t b, double atol) {
    auto *i = pbld.op("assert_close", {a, b}, {});
    PlanBuilder::setF(i, "atol", atol);
  };
  // Each rank first checks its own slice, so a wrong slice fails on that rank alone.
  constant(fullC, full);
  auto *c = pbld.op("copy", {fullC}, {expX});
  PlanBuilder::setI(c, "count", mb * cols);
  PlanBuilder::setI(c, "src_rank_stride", mb * cols);
  check(x, expX, 0);
  auto *i0 = pbld.op("all_gather", {x}, {g0});
  PlanBuilder::setI(i0, "axis", 0);
  check(g0, fullC, 0);
  auto *i1 = pbld.op("all_gather", {x}, {g1});
  PlanBuilder::setI(i1, "axis", 1);
  constant(g1e, g1v);
  check(g1, g1e, 0);
  pbld.op("all_reduce", {x}, {ar});
  constant(sumC, sum);
  check(ar, sumC, 0);
  auto *im = pbld.op("all_reduce", {x}, {mx});
  PlanBuilder::setS(im, "reduction", "max");
  constant(maxC, mxv);
  check(mx, maxC, 0);
  auto *r0 = pbld.op("reduce_scatter", {x}, {rs0});
  PlanBuilder::setI(r0, "axis", 0);
  auto *c0 = pbld.op("copy", {sumC}, {rs0e});
  PlanBuilder::setI(c0, "count", (mb / W) * cols);
  PlanBuilder::setI(c0, "src_rank_stride", (mb / W) * cols);
  check(rs0, rs0e, 0);
  auto *r1 = pbld.op("reduce_scatter", {x}, {rs1});
  PlanBuilder::setI(r1, "axis", 1);
  constant(pieceC, piece);
  auto *c1 = pbld.op("copy", {pieceC}, {rs1e});
  PlanBuilder::setI(c1, "count", mb * (cols / W));
  PlanBuilder::setI(c1, "src_rank_stride", mb * (cols / W));
  check(rs1, rs1e, 0);
  auto *b = pbld.op("broadcast", {x}, {bc});
  PlanBuilder::setI(b, "root", W - 1);
  constant(bcC, bcv);
  check(bc, bcC, 0);
  pbld.op("cast", {x}, {xh});
  pbld.op("all_reduce", {xh}, {arh});
  pbld.op("cast", {arh}, {arh32});
  check(arh32, sumC, 0);
  pbld.op("cast", {x}, {xd});
  auto *gdi = pbld.op("all_gather", {xd}, {gd});
  PlanBuilder::setI(gdi, "axis", 1);
  pbld.op("cast", {gd}, {gd32});
  check(gd32, g1e, 0);
  pbld.op("barrier", {}, {});
  pbld.finish();

  mkdirOrDie(dir);
  writePlanFile(plan, dir + "/plan.dsplan");
  mkdirOrDie(dir + "/data");
  writeNpy(dir + "/data/x.npy", F, {W * mb, cols}, full.data());
  if (W > 1) {
    std::vector<float> bad = full;
    bad[size_t(mb * cols + 5)] += 1; // a value in rank 1's slice
    mkdirOrDie(dir + "/bad-rank1");
    writeNpy(dir + "/bad-rank1/x.npy", F, {W * mb, cols}, bad.data());
  }
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: ds-make-test-plan linreg DIR --world W --micro-batch B --accum A "
                       "[--zero3]\n       ds-make-test-plan collectives DIR --world W\n");
  std::exit(2);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    usage();
  std::string kind = argv[1], dir = argv[2];
  int world = 1, mb = 4, accum = 1;
  bool zero3 = false;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--zero3")
      zero3 = true;
    else if (i + 1 < argc && a == "--world")
      world = std::atoi(argv[++i]);
    else if (i + 1 < argc && a == "--micro-batch")
      mb = std::atoi(argv[++i]);
    else if (i + 1 < argc && a == "--accum")
      accum = std::atoi(argv[++i]);
    else
      usage();
  }
  if (world < 1 || mb < 1 || accum < 1)
    usage();
  try {
    if (kind == "linreg")
      makeLinreg(dir, world, mb, accum, zero3);
    else if (kind == "collectives") {
      if (4 % world != 0 || 12 % world != 0)
        ds::rt::fail("collectives needs a world size dividing 4");
      makeCollectives(dir, world);
    } else
      usage();
    // Every plan written must pass the loader.
    loadPlan(dir + "/plan.dsplan", world);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "ds-make-test-plan: %s\n", e.what());
    return 1;
  }
  return 0;
}
