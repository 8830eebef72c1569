// Reads a .dsplan file and checks every rule of runtime/proto/plan.proto before execution.
#include "ds/runtime/Plan.h"
#include "ds/runtime/KernelCatalogue.h"

#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>

namespace ds::rt {
namespace {

using ds::plan::Placement;
using ds::plan::Program;

std::string dirName(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Byte ranges [begin, end) within one region.
struct Range {
  Placement region;
  uint64_t begin, end;
  bool overlaps(const Range &o) const {
    return region == o.region && begin < o.end && o.begin < end;
  }
  bool same(const Range &o) const {
    return region == o.region && begin == o.begin && end == o.end;
  }
};

void validateBuffers(LoadedPlan &lp) {
  const auto &plan = lp.plan;
  for (int i = 0; i < plan.buffers_size(); ++i) {
    const auto &b = plan.buffers(i);
    std::string label = "buffer " + std::to_string(b.id());
    if (!lp.bufferIndex.emplace(b.id(), size_t(i)).second)
      fail(label, ": duplicate buffer id");
    BufferInfo info;
    info.name = b.name();
    info.type.dtype = b.dtype();
    size_t esize = dtypeSize(b.dtype());
    if (esize == 0)
      fail(label, ": invalid dtype ", dtypeName(b.dtype()));
    info.type.shape.assign(b.shape().begin(), b.shape().end());
    try {
      info.type.numel = checkedNumel(info.type.shape);
    } catch (const Error &e) {
      fail(label, ": ", e.what());
    }
    if (uint64_t(info.type.numel) > kMaxRegionBytes / esize)
      fail(label, ": shape ", shapeString(info.type.shape), " x ", dtypeName(b.dtype()),
           " exceeds 1 TiB");
    info.type.bytes = uint64_t(info.type.numel) * esize;
    info.placement = b.placement();
    info.offset = b.offset();
    const char *regionName = placementRegionName(b.placement());
    if (!regionName)
      fail(label, ": invalid placement ", int(b.placement()));
    uint64_t region = regionBytes(plan, b.placement());
    if (info.offset % plan.alignment() != 0)
      fail(label, ": offset ", info.offset, " is not a multiple of the alignment ",
           plan.alignment());
    if (info.offset > region || info.type.bytes > region - info.offset)
      fail(label, ": bytes [", info.offset, ", ", info.offset + info.type.bytes,
           ") lie outside the ", regionName, " of ", region, " bytes");
    lp.buffers.push_back(std::move(info));
  }
}

size_t lookupBuffer(const LoadedPlan &lp, uint32_t id, const std::string &what) {
  auto it = lp.bufferIndex.find(id);
  if (it == lp.bufferIndex.end())
    fail(what, " refers to unknown buffer ", id);
  return it->second;
}

void validateGraphIO(LoadedPlan &lp) {
  const auto &plan = lp.plan;
  std::set<std::string> names;
  lp.microBatch = 0;
  for (const auto &in : plan.inputs()) {
    std::string what = "input '" + in.name() + "'";
    if (in.name().empty())
      fail("an input has an empty name");
    if (!names.insert(in.name()).second)
      fail(what, ": duplicate input name");
    const auto &b = lp.buffers[lookupBuffer(lp, in.buffer(), what)];
    if (in.batch_dim() >= b.type.shape.size())
      fail(what, ": batch_dim ", in.batch_dim(), " out of range for shape ",
           shapeString(b.type.shape));
    int64_t mb = b.type.shape[in.batch_dim()];
    if (mb <= 0 || mb > INT32_MAX)
      fail(what, ": micro-batch size ", mb, " must be positive");
    if (lp.microBatch != 0 && lp.microBatch != mb)
      fail(what, ": micro-batch size ", mb, " differs from another input's ", lp.microBatch);
    lp.microBatch = int(mb);
    if (in.has_synthetic_low() != in.has_synthetic_high() ||
        (in.has_synthetic_low() && !(in.synthetic_low() < in.synthetic_high())))
      fail(what, ": synthetic_low and synthetic_high must both be set, with low < high");
  }
  names.clear();
  for (const auto &out : plan.outputs()) {
    std::string what = "output '" + out.name() + "'";
    if (out.name().empty())
      fail("an output has an empty name");
    if (!names.insert(out.name()).second)
      fail(what, ": duplicate output name");
    lookupBuffer(lp, out.buffer(), what);
  }
  if (plan.has_loss_output() && plan.loss_output() != -1) {
    int idx = plan.loss_output();
    if (idx < 0 || idx >= plan.outputs_size())
      fail("loss_output ", idx, " is not an index into the ", plan.outputs_size(), " outputs");
    const auto &b = lp.buffers[lp.bufferIndex.at(plan.outputs(idx).buffer())];
    if (b.type.numel != 1 || !isFloat(b.type.dtype))
      fail("loss output '", plan.outputs(idx).name(), "' must be a floating scalar, not ",
           dtypeName(b.type.dtype), shapeString(b.type.shape));
  }
  if (plan.has_loss_scale_buffer()) {
    const auto &b = lp.buffers[lookupBuffer(lp, plan.loss_scale_buffer(), "loss_scale_buffer")];
    if (b.type.numel != 1 || b.type.dtype != ds::plan::F32 ||
        b.placement != ds::plan::PERSISTENT)
      fail("loss_scale_buffer must be a persistent f32 scalar, not ",
           dtypeName(b.type.dtype), shapeString(b.type.shape));
  }
}

void validateParameters(LoadedPlan &lp, int worldSize) {
  // An initializer may be bound once per buffer dtype (mixed precision: an f32 master and a
  // 16-bit working copy of the same weight); twice with the same dtype is an error.
  std::set<std::pair<std::string, int>> inits;
  for (const auto &p : lp.plan.parameters()) {
    std::string what = "parameter '" + p.symbol() + "'";
    if (p.initializer().empty())
      fail(what, ": empty initializer name");
    const auto &b = lp.buffers[lookupBuffer(lp, p.buffer(), what)];
    if (!inits.insert({p.initializer(), int(b.type.dtype)}).second)
      fail(what, ": initializer '", p.initializer(), "' is loaded twice into ",
           dtypeName(b.type.dtype), " buffers");
    // Module state: the device's persistent region, or offloaded (ZeRO-3 offload_param)
    // to the host region or the NVMe swap file. Never a transient.
    if (b.placement != ds::plan::PERSISTENT && b.placement != ds::plan::HOST &&
        b.placement != ds::plan::NVME)
      fail(what, ": buffer ", p.buffer(), " must be PERSISTENT, HOST or NVME");
    auto kind = p.shard().kind();
    if (kind != ds::plan::ShardSpec::FULL && kind != ds::plan::ShardSpec::FLAT_1D)
      fail(what, ": invalid shard kind ", int(kind));
  }
  if (!lp.plan.parameters().empty() && lp.plan.model_file().empty())
    fail("the plan has parameters but no model_file");
  (void)worldSize;
}

void validateStates(LoadedPlan &lp, int worldSize) {
  static const std::set<std::string> kKinds = {
      "param",   "grad",       "master",
      "exp_avg", "exp_avg_sq", "momentum_buffer",
      "step",    "loss_scale", "loss_scale_counters"};
  std::map<std::string, const ds::plan::Parameter *> params;
  std::map<uint32_t, const ds::plan::Parameter *> paramByBuffer;
  for (const auto &p : lp.plan.parameters()) {
    params.emplace(p.initializer(), &p);
    paramByBuffer.emplace(p.buffer(), &p);
  }
  uint64_t world = worldSize > 0 ? uint64_t(worldSize) : lp.plan.world_size();
  if (world == 0)
    world = 1;
  std::set<uint32_t> seen;
  for (const auto &s : lp.plan.states()) {
    std::string what = "state of buffer " + std::to_string(s.buffer());
    const auto &b = lp.buffers[lookupBuffer(lp, s.buffer(), what)];
    what = "state '" + b.name + "' (buffer " + std::to_string(s.buffer()) + ")";
    if (!seen.insert(s.buffer()).second)
      fail(what, ": buffer listed twice in states");
    if (b.placement != ds::plan::PERSISTENT && b.placement != ds::plan::HOST &&
        b.placement != ds::plan::NVME)
      fail(what, ": buffer must be PERSISTENT, HOST or NVME");
    if (!kKinds.count(s.kind()))
      fail(what, ": unknown state kind '", s.kind(), "'");
    if (!s.parameter().empty() && !params.count(s.parameter()))
      fail(what, ": parameter '", s.parameter(),
           "' is not a plan parameter's initializer");
    auto kind = s.shard().kind();
    if (kind != ds::plan::ShardSpec::FULL && kind != ds::plan::ShardSpec::FLAT_1D)
      fail(what, ": invalid shard kind ", int(kind));
    uint64_t n = s.full_numel(), have = uint64_t(b.type.numel);
    if (n == 0 || n > (uint64_t(1) << 50))
      fail(what, ": full_numel ", n, " out of range");
    uint64_t want = kind == ds::plan::ShardSpec::FULL ? n : (n + world - 1) / world;
    if (have != want)
      fail(what, ": buffer has ", have, " elements, its ",
           kind == ds::plan::ShardSpec::FULL ? "FULL" : "FLAT_1D", " layout of ", n,
           " elements needs ", want);
    if (s.kind() == "param") {
      auto it = paramByBuffer.find(s.buffer());
      if (it == paramByBuffer.end() || it->second->initializer() != s.parameter() ||
          it->second->shard().kind() != kind)
        fail(what, ": kind param must match the Plan.parameters entry of its buffer");
    }
  }
}

void validatePrograms(LoadedPlan &lp) {
  const auto &plan = lp.plan;
  std::set<std::string> names;
  lp.instrInputs.resize(size_t(plan.programs_size()));
  lp.instrOutputs.resize(size_t(plan.programs_size()));
  lp.instrAttrs.resize(size_t(plan.programs_size()));
  for (int p = 0; p < plan.programs_size(); ++p) {
    const auto &prog = plan.programs(p);
    std::string pname = "program '" + prog.name() + "'";
    if (prog.name().empty())
      fail("program ", p, " has an empty name");
    if (!names.insert(prog.name()).second)
      fail(pname, ": duplicate program name");
    int role = int(prog.role());
    if (role < 0 || role > 4)
      fail(pname, ": invalid role ", role);
    if (role != 0) {
      if (lp.programByRole[role] != -1)
        fail(pname, ": a second program with role ", Program::Role_Name(prog.role()));
      lp.programByRole[role] = p;
    }
    for (int i = 0; i < prog.instructions_size(); ++i) {
      const auto &ins = prog.instructions(i);
      std::string where = pname + " instruction " + std::to_string(i) + " (" +
                          ins.kernel() + (ins.loc().empty() ? "" : " at " + ins.loc()) + ")";
      const KernelSignature *sig = findKernelSignature(ins.kernel());
      if (!sig)
        fail(where, ": unknown kernel '", ins.kernel(), "'");
      if (ins.stream() < 0 || ins.stream() > 4)
        fail(where, ": invalid stream ", int(ins.stream()));
      try {
        checkKernelStream(ins.kernel(), ins.stream());
      } catch (const Error &e) {
        fail(where, ": ", e.what());
      }
      if (!ins.generated_entry().empty()) {
        if (ins.kernel() != "fused_elementwise")
          fail(where, ": generated_entry '", ins.generated_entry(),
               "' on a kernel other than fused_elementwise");
        if (plan.generated_code().ptx().empty())
          fail(where, ": generated_entry '", ins.generated_entry(),
               "' but the plan has no generated_code.ptx");
        const std::string &e = ins.generated_entry();
        bool ident = e.size() <= 256 && !std::isdigit((unsigned char)e[0]);
        for (char ch : e)
          ident = ident && (std::isalnum((unsigned char)ch) || ch == '_');
        if (!ident)
          fail(where, ": generated_entry is not a PTX identifier (letters, digits, _)");
      }
      for (uint32_t w : ins.waits())
        if (w >= uint32_t(i))
          fail(where, ": waits for instruction ", w, ", which does not come before it");
      std::vector<size_t> ins_idx, outs_idx;
      CheckContext ctx{ins, {}, {}, int(plan.world_size())};
      std::vector<Range> inRanges, outRanges;
      auto rangeOf = [&](size_t idx) {
        const auto &b = lp.buffers[idx];
        return Range{b.placement, b.offset, b.offset + b.type.bytes};
      };
      for (int k = 0; k < ins.inputs_size(); ++k) {
        size_t idx = lookupBuffer(lp, ins.inputs(k), where + ": input " + std::to_string(k));
        ins_idx.push_back(idx);
        ctx.in.push_back(&lp.buffers[idx].type);
        inRanges.push_back(rangeOf(idx));
      }
      for (int k = 0; k < ins.outputs_size(); ++k) {
        size_t idx = lookupBuffer(lp, ins.outputs(k), where + ": output " + std::to_string(k));
        outs_idx.push_back(idx);
        ctx.out.push_back(&lp.buffers[idx].type);
        outRanges.push_back(rangeOf(idx));
      }
      for (size_t a = 0; a < outRanges.size(); ++a) {
        if (outRanges[a].begin == outRanges[a].end)
          continue;
        for (size_t b = a + 1; b < outRanges.size(); ++b)
          if (outRanges[a].overlaps(outRanges[b]))
            fail(where, ": outputs ", a, " and ", b, " overlap in memory");
        for (size_t b = 0; b < inRanges.size(); ++b)
          if (outRanges[a].overlaps(inRanges[b]) &&
              !(mayShareOutputBytes(sig->id, sig->inPlace, b) &&
                outRanges[a].same(inRanges[b])))
            fail(where, ": output ", a, " overlaps input ", b,
                 !sig->inPlace ? " and this kernel cannot run in place"
                 : mayShareOutputBytes(sig->id, sig->inPlace, b)
                     ? " without being exactly the same bytes"
                     : " and this kernel cannot write over that input");
      }
      // NVMe bytes are reached only through the swap file: an NVME buffer is only ever
      // swap_in's source or swap_out's destination, and the other side is host memory.
      bool swapIn = ins.kernel() == "swap_in", swapOut = ins.kernel() == "swap_out";
      for (size_t k = 0; k < ins_idx.size(); ++k) {
        bool nvme = lp.buffers[ins_idx[k]].placement == ds::plan::NVME;
        if (nvme != (swapIn && k == 0))
          fail(where, ": input ", k,
               nvme ? " is an NVMe buffer, which only swap_in reads"
                    : " of swap_in must be an NVMe buffer");
        if (swapOut && lp.buffers[ins_idx[k]].placement != ds::plan::HOST)
          fail(where, ": swap_out writes from host memory; input ", k, " is not HOST");
      }
      for (size_t k = 0; k < outs_idx.size(); ++k) {
        bool nvme = lp.buffers[outs_idx[k]].placement == ds::plan::NVME;
        if (nvme != (swapOut && k == 0))
          fail(where, ": output ", k,
               nvme ? " is an NVMe buffer, which only swap_out writes"
                    : " of swap_out must be an NVMe buffer");
        if (swapIn && lp.buffers[outs_idx[k]].placement != ds::plan::HOST)
          fail(where, ": swap_in reads into host memory; output ", k, " is not HOST");
      }
      KernelAttrs attrs;
      try {
        attrs = checkInstruction(*sig, ctx);
      } catch (const Error &e) {
        fail(where, ": ", e.what());
      }
      lp.instrAttrs[size_t(p)].push_back(std::move(attrs));
      lp.instrInputs[size_t(p)].push_back(std::move(ins_idx));
      lp.instrOutputs[size_t(p)].push_back(std::move(outs_idx));
    }
  }
}

} // namespace

bool isCollectiveKernel(const std::string &kernel) {
  const KernelInfo *info = findKernelInfo(kernel);
  return info && info->stream == StreamClass::Comm;
}

void checkKernelStream(const std::string &kernel, ds::plan::Instruction::Stream stream) {
  bool collective = isCollectiveKernel(kernel);
  if (collective && stream != ds::plan::Instruction::COMM)
    fail("collective kernel '", kernel, "' must be on the COMM stream, not ",
         ds::plan::Instruction::Stream_Name(stream));
  if (!collective && stream == ds::plan::Instruction::COMM)
    fail("kernel '", kernel, "' is not a collective and cannot be on the COMM stream");
}

const char *placementRegionName(ds::plan::Placement placement) {
  switch (placement) {
  case ds::plan::ARENA: return "arena";
  case ds::plan::PERSISTENT: return "persistent region";
  case ds::plan::HOST: return "host region";
  case ds::plan::NVME: return "NVMe region";
  default: return nullptr;
  }
}

uint64_t regionBytes(const ds::plan::Plan &plan, ds::plan::Placement placement) {
  switch (placement) {
  case ds::plan::ARENA: return plan.arena_bytes();
  case ds::plan::PERSISTENT: return plan.persistent_bytes();
  case ds::plan::HOST: return plan.host_bytes();
  case ds::plan::NVME: return plan.nvme_bytes();
  default: return 0;
  }
}

void validatePlan(LoadedPlan &lp, int worldSize) {
  const auto &plan = lp.plan;
  if (plan.version() != kPlanVersion)
    fail("unsupported plan version ", plan.version(), " (this ds-run reads version ",
         kPlanVersion, ")");
  if (plan.world_size() == 0 || plan.world_size() > 65536)
    fail("invalid world_size ", plan.world_size());
  if (worldSize > 0 && plan.world_size() != uint32_t(worldSize))
    fail("the plan was compiled for world size ", plan.world_size(),
         " but the job has ", worldSize, " ranks");
  uint64_t align = plan.alignment();
  if (align == 0 || align > 4096 || (align & (align - 1)) != 0)
    fail("alignment ", align, " must be a power of two between 1 and 4096");
  if (plan.arena_bytes() > kMaxRegionBytes)
    fail("arena_bytes ", plan.arena_bytes(), " exceeds the 1 TiB limit");
  if (plan.persistent_bytes() > kMaxRegionBytes)
    fail("persistent_bytes ", plan.persistent_bytes(), " exceeds the 1 TiB limit");
  if (plan.host_bytes() > kMaxRegionBytes)
    fail("host_bytes ", plan.host_bytes(), " exceeds the 1 TiB limit");
  if (plan.nvme_bytes() > kMaxRegionBytes)
    fail("nvme_bytes ", plan.nvme_bytes(), " exceeds the 1 TiB limit");
  if (plan.predicted_peak_bytes() > plan.arena_bytes())
    fail("predicted_peak_bytes ", plan.predicted_peak_bytes(), " exceeds arena_bytes ",
         plan.arena_bytes());
  if (plan.has_io()) {
    const auto &io = plan.io();
    if (io.block_size() != 0 &&
        (io.block_size() % 4096 != 0 || io.block_size() > (uint64_t(1) << 30)))
      fail("io.block_size ", io.block_size(), " must be a multiple of 4096 up to 1 GiB");
    if (io.queue_depth() > 4096)
      fail("io.queue_depth ", io.queue_depth(), " must be at most 4096");
    if (io.thread_count() > 256)
      fail("io.thread_count ", io.thread_count(), " must be at most 256");
    if (io.nvme_path().size() > 4096 || io.nvme_path().find('\0') != std::string::npos)
      fail("io.nvme_path is not a usable path");
  }
  if (plan.gradient_accumulation_steps() > 1000000)
    fail("gradient_accumulation_steps ", plan.gradient_accumulation_steps(), " is absurd");
  lp.accumulationSteps = std::max(1, int(plan.gradient_accumulation_steps()));
  lp.buffers.clear();
  lp.bufferIndex.clear();
  for (int &r : lp.programByRole)
    r = -1;
  validateBuffers(lp);
  validateGraphIO(lp);
  validateParameters(lp, worldSize);
  validateStates(lp, worldSize);
  validatePrograms(lp);
  const std::string &hash = plan.model_hash();
  if (!hash.empty() &&
      (hash.size() != 16 || hash.find_first_not_of("0123456789abcdef") != std::string::npos))
    fail("model_hash '", hash, "' is not 16 lowercase hex digits");
  if (!hash.empty() && plan.model_file().empty())
    fail("the plan has a model_hash but no model_file");
  if (!plan.model_file().empty())
    lp.modelPath = resolveModelFile(lp);
}

std::string resolveModelFile(const LoadedPlan &lp) {
  const std::string &m = lp.plan.model_file();
  if (m.empty())
    return "";
  return m[0] == '/' ? m : dirName(lp.path) + "/" + m;
}

uint64_t planChecksum(const char *data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull; // FNV-1a 64 offset basis
  for (size_t i = 0; i < size; ++i) {
    h ^= uint64_t((unsigned char)data[i]);
    h *= 0x100000001b3ull; // FNV 64 prime
  }
  return h;
}

std::string framePlanPayload(const std::string &payload) {
  std::string out(kPlanMagic, sizeof(kPlanMagic));
  uint64_t sum = planChecksum(payload.data(), payload.size());
  for (int i = 0; i < 8; ++i)
    out.push_back(char((sum >> (8 * i)) & 0xff));
  out += payload;
  return out;
}

namespace {
// Throws naming the first message (and where it sits) that carries fields plan.proto does not
// define: a plan from a newer ds-opt, or a corrupt one. Needs reflection, which the
// protobuf-lite copy of the plan library (the CUDA plugin's) lacks: it is only handed bytes
// that ds-run's full copy already checked.
template <class M> void rejectUnknownFields(const M &msg, const std::string &where) {
  if constexpr (std::is_base_of_v<google::protobuf::Message, M>) {
    const auto *refl = msg.GetReflection();
    const auto &unknown = refl->GetUnknownFields(msg);
    if (!unknown.empty())
      fail("unknown field ", unknown.field(0).number(), " in ", msg.GetDescriptor()->full_name(),
           where.empty() ? "" : " at ", where,
           " (a plan from a newer ds-opt, or a corrupt one)");
    std::vector<const google::protobuf::FieldDescriptor *> fields;
    refl->ListFields(msg, &fields);
    for (const auto *f : fields) {
      if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE)
        continue;
      std::string at = where.empty() ? f->name() : where + "." + f->name();
      if (f->is_repeated()) {
        int n = refl->FieldSize(msg, f);
        for (int i = 0; i < n; ++i)
          rejectUnknownFields(refl->GetRepeatedMessage(msg, f, i),
                              at + "[" + std::to_string(i) + "]");
      } else {
        rejectUnknownFields(refl->GetMessage(msg, f), at);
      }
    }
  }
}
} // namespace

void decodePlan(const std::string &bytes, ds::plan::Plan &plan) {
  if (bytes.size() < sizeof(kPlanMagic) || std::memcmp(bytes.data(), kPlanMagic, 6) != 0)
    fail("not a ds plan file (bad magic)");
  if (std::memcmp(bytes.data(), kPlanMagic, sizeof(kPlanMagic)) != 0) {
    int major = (unsigned char)bytes[6], minor = (unsigned char)bytes[7];
    if (major == 0 && minor == 1)
      fail("plan file format 0.1 (no checksum) is from an older ds-opt: re-compile the model "
           "with this ds-opt (this ds-run reads format 0.2)");
    fail("unsupported plan file format ", major, ".", minor, " (this ds-run reads 0.2)");
  }
  if (bytes.size() < kPlanHeaderBytes)
    fail("truncated plan (", bytes.size(), " bytes, the header alone is ", kPlanHeaderBytes,
         ")");
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i)
    stored |= uint64_t((unsigned char)bytes[sizeof(kPlanMagic) + i]) << (8 * i);
  const char *payload = bytes.data() + kPlanHeaderBytes;
  size_t payloadBytes = bytes.size() - kPlanHeaderBytes;
  if (payloadBytes > size_t(INT32_MAX))
    fail("plan payload of ", payloadBytes, " bytes exceeds the 2 GiB protobuf limit");
  if (planChecksum(payload, payloadBytes) != stored)
    fail("checksum mismatch: the plan file is corrupt or was modified after ds-opt wrote it");
  // Our own one-line error replaces protobuf's log lines (e.g. invalid UTF-8 in a
  // string field of a corrupt plan).
  google::protobuf::LogSilencer silence;
  if (!plan.ParseFromArray(payload, int(payloadBytes)))
    fail("corrupt or truncated plan (protobuf decoding failed)");
  rejectUnknownFields(plan, "");
}

LoadedPlan parsePlan(const std::string &bytes, const std::string &path, int worldSize) {
  LoadedPlan lp;
  lp.path = path;
  try {
    decodePlan(bytes, lp.plan);
    validatePlan(lp, worldSize);
  } catch (const Error &e) {
    fail(path, ": ", e.what());
  }
  return lp;
}

LoadedPlan loadPlan(const std::string &path, int worldSize) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    fail(path, S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file",
         ": give the .dsplan file ds-opt wrote");
  std::ifstream f(path, std::ios::binary);
  if (!f)
    fail(path, ": cannot open plan file: ", std::strerror(errno));
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  if (size < 0)
    fail(path, ": cannot read plan file");
  if (uint64_t(size) > (uint64_t(1) << 31) - 1)
    fail(path, ": plan file of ", size, " bytes exceeds the 2 GiB protobuf limit");
  f.seekg(0);
  std::string bytes(size_t(size), '\0');
  if (!f.read(bytes.data(), size))
    fail(path, ": cannot read plan file");
  return parsePlan(bytes, path, worldSize);
}

std::string serializePlan(const ds::plan::Plan &plan) {
  std::string payload;
  if (!plan.SerializeToString(&payload))
    fail("cannot serialize plan");
  return framePlanPayload(payload);
}

void writePlanFile(const ds::plan::Plan &plan, const std::string &path) {
  writeFileAtomically(path, serializePlan(plan));
}

} // namespace ds::rt
