// Serializes a memory-planned dsrt module into the protobuf plan format of runtime/proto.
#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Dialect/Runtime/IR/ByteSize.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/InitAllDialects.h"
#include "ds/Target/Plan.h"
#include "ds/Target/PlanAttribute.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "ds/runtime/FileOutput.h"
#include "ds/runtime/MemoryTimeline.h"
#include "ds/runtime/Plan.h"
#include "ds/runtime/Safetensors.h"
#include "plan.pb.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

using namespace mlir;
using namespace mlir::ds;
namespace plan = ::ds::plan;

static_assert(mlir::dsrt::kMaxRegionBytes == int64_t(::ds::rt::kMaxRegionBytes),
              "the compiler and the runtime must agree on the region limit");

namespace {
constexpr uint32_t kPlanVersion = 1;

FailureOr<plan::DType> getPlanDType(Type t, Location loc) {
  if (t.isF32())
    return plan::F32;
  if (t.isF64())
    return plan::F64;
  if (t.isF16())
    return plan::F16;
  if (t.isBF16())
    return plan::BF16;
  if (t.isInteger(64))
    return plan::I64;
  if (t.isInteger(32))
    return plan::I32;
  if (t.isInteger(1))
    return plan::I1;
  return emitError(loc) << "element type " << t << " has no plan dtype";
}

/// Little-endian element data as the plan stores it (i1 as one byte).
void appendRawElements(DenseElementsAttr dense, std::string &out) {
  Type et = dense.getElementType();
  int64_t bytes = dsrt::getElementBytes(et);
  auto appendBits = [&](const APInt &bits) {
    uint64_t word = bits.getZExtValue();
    for (int64_t i = 0; i < bytes; ++i)
      out.push_back(char((word >> (8 * i)) & 0xff));
  };
  if (isa<FloatType>(et)) {
    for (APFloat v : dense.getValues<APFloat>())
      appendBits(v.bitcastToAPInt());
  } else {
    for (APInt v : dense.getValues<APInt>())
      appendBits(v);
  }
}

LogicalResult convertAttribute(Attribute attr, plan::Attribute &out, Location loc,
                               StringRef name) {
  if (auto b = dyn_cast<BoolAttr>(attr)) {
    out.set_i(b.getValue());
  } else if (auto i = dyn_cast<IntegerAttr>(attr)) {
    out.set_i(i.getInt());
  } else if (auto f = dyn_cast<FloatAttr>(attr)) {
    out.set_f(f.getValueAsDouble());
  } else if (auto s = dyn_cast<StringAttr>(attr)) {
    out.set_s(s.str());
  } else if (isa<UnitAttr>(attr)) {
    out.set_i(1);
  } else if (auto a = dyn_cast<DenseI64ArrayAttr>(attr)) {
    out.mutable_ints(); // an empty list is still a list
    for (int64_t v : a.asArrayRef())
      out.mutable_ints()->add_values(v);
  } else if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (dense.isSplat()) {
      if (isa<FloatType>(dense.getElementType()))
        out.mutable_floats()->add_values(
            dense.getSplatValue<APFloat>().convertToDouble());
      else if (dense.getElementType().isInteger(1))
        out.mutable_ints()->add_values(dense.getSplatValue<bool>());
      else
        out.mutable_ints()->add_values(dense.getSplatValue<APInt>().getSExtValue());
    } else {
      appendRawElements(dense, *out.mutable_raw());
    }
  } else {
    return emitError(loc) << "attribute '" << name << "' (" << attr
                          << ") has no plan encoding";
  }
  return success();
}

FailureOr<plan::Program::Role> getRole(func::FuncOp func) {
  std::optional<dsrt::ProgramRole> role = dsrt::getProgramRole(func);
  if (!role)
    return func.emitError("@") << func.getSymName() << " has no dsrt.role";
  switch (*role) {
  case dsrt::ProgramRole::inference:
    return plan::Program::INFERENCE;
  case dsrt::ProgramRole::micro_step:
    return plan::Program::MICRO_STEP;
  case dsrt::ProgramRole::apply_step:
    return plan::Program::APPLY_STEP;
  case dsrt::ProgramRole::init:
    return plan::Program::INIT;
  }
  llvm_unreachable("unknown program role");
}

plan::Instruction::Stream getStream(dsrt::Stream s) {
  switch (s) {
  case dsrt::Stream::compute:
    return plan::Instruction::COMPUTE;
  case dsrt::Stream::comm:
    return plan::Instruction::COMM;
  case dsrt::Stream::copy:
    return plan::Instruction::COPY;
  case dsrt::Stream::io:
    return plan::Instruction::IO;
  case dsrt::Stream::host:
    return plan::Instruction::HOST;
  }
  llvm_unreachable("unknown stream");
}

/// The region a global's buffer lives in.
plan::Placement getPlacement(dsrt::MemorySpace space) {
  switch (space) {
  case dsrt::MemorySpace::device:
    return plan::PERSISTENT;
  case dsrt::MemorySpace::host:
    return plan::HOST;
  case dsrt::MemorySpace::nvme:
    return plan::NVME;
  }
  llvm_unreachable("unknown memory space");
}

class PlanBuilder {
public:
  PlanBuilder(ModuleOp module) : module(module) {}

  LogicalResult build(plan::Plan &out, StringRef producer) {
    auto arena = module->getAttrOfType<IntegerAttr>(dsrt::kArenaBytesAttr);
    auto persistent = module->getAttrOfType<IntegerAttr>(dsrt::kPersistentBytesAttr);
    auto host = module->getAttrOfType<IntegerAttr>(dsrt::kHostBytesAttr);
    auto nvme = module->getAttrOfType<IntegerAttr>(dsrt::kNvmeBytesAttr);
    auto peak = module->getAttrOfType<IntegerAttr>(dsrt::kPeakBytesAttr);
    auto alignment = module->getAttrOfType<IntegerAttr>(dsrt::kAlignmentAttr);
    if (!arena || !persistent || !host || !nvme || !peak || !alignment)
      return module.emitError("the module has no memory plan: run --ds-plan-memory "
                              "before exporting");
    // A plan the runtime can never load is an error here, not at run time.
    for (auto [name, attr] :
         {std::pair<StringRef, IntegerAttr>{"arena", arena}, {"persistent region", persistent},
          {"host region", host}, {"NVMe region", nvme}})
      if (attr.getInt() < 0 || attr.getInt() > dsrt::kMaxRegionBytes)
        return module.emitError("the plan's ")
               << name << " needs " << attr.getInt() << " bytes ("
               << llvm::formatv("{0:F2}", double(attr.getInt()) / double(int64_t(1) << 40)).str()
               << " TiB) per rank, over the runtime's limit of 1 TiB per region: use a "
                  "higher --zero-stage, more ranks (--world-size) or a smaller micro-batch";
    out.set_version(kPlanVersion);
    auto world = module->getAttrOfType<IntegerAttr>(dsrt::kWorldSizeAttr);
    out.set_world_size(world ? world.getInt() : 1);
    if (auto file = module->getAttrOfType<StringAttr>(kModelFileAttr)) {
      out.set_model_file(file.str());
      // The model's hash, which checkpoints record and --resume compares: ds-run need not
      // read the model again for it. Only for the importer's absolute paths (the runtime
      // resolves a relative one against the plan's directory, not this process's).
      if (llvm::sys::path::is_absolute(file.str()))
        if (auto bytes = llvm::MemoryBuffer::getFile(file.str(), /*IsText=*/false,
                                                     /*RequiresNullTerminator=*/false)) {
          ::ds::rt::ContentHash hash;
          hash.update((*bytes)->getBufferStart(), (*bytes)->getBufferSize());
          out.set_model_hash(hash.hex());
        }
    }
    out.set_alignment(alignment.getInt());
    out.set_arena_bytes(arena.getInt());
    out.set_persistent_bytes(persistent.getInt());
    out.set_host_bytes(host.getInt());
    out.set_nvme_bytes(nvme.getInt());
    out.set_predicted_peak_bytes(peak.getInt());
    out.set_producer(producer.str());
    // Generated code (--ds-generate-fused-kernels): the PTX module its kernels name.
    if (auto ptx = module->getAttrOfType<StringAttr>("dsrt.generated_ptx")) {
      out.mutable_generated_code()->set_ptx(ptx.str());
      if (auto chip = module->getAttrOfType<StringAttr>("dsrt.generated_chip"))
        out.mutable_generated_code()->set_chip(chip.str());
    }
    plan = &out;

    // Parameters first, then the other globals (the buffer order of earlier plans).
    SmallVector<dsrt::GlobalOp> globals;
    for (auto global : module.getOps<dsrt::GlobalOp>())
      if (global.getInitializer())
        globals.push_back(global);
    for (auto global : module.getOps<dsrt::GlobalOp>())
      if (!global.getInitializer())
        globals.push_back(global);
    auto lossScale = module->getAttrOfType<FlatSymbolRefAttr>(dsrt::kLossScaleAttr);
    for (dsrt::GlobalOp global : globals) {
      if (!global.getOffset())
        return global.emitError("global has no offset in its region");
      auto id = addBuffer(global.getMemRefType(), getPlacement(global.getSpace()),
                          *global.getOffset(), global.getSymName(), global.getLoc());
      if (failed(id))
        return failure();
      paramBuffers[global.getSymName()] = *id;
      if (lossScale && lossScale.getValue() == global.getSymName())
        out.set_loss_scale_buffer(*id);
      std::optional<StringRef> initializer = global.getInitializer();
      if (!initializer) {
        addStateEntry(global, *id, world ? world.getInt() : 1);
        continue;
      }
      int64_t fullNumel = global.getShardOf() ? *global.getShardOf()
                                              : global.getMemRefType().getNumElements();
      paramStates[global.getSymName()] = {initializer->str(), fullNumel};
      plan::StateBuffer *st = out.add_states();
      st->set_buffer(*id);
      st->set_kind("param");
      st->set_parameter(initializer->str());
      st->set_full_numel(uint64_t(fullNumel));
      if (global.getShardOf())
        st->mutable_shard()->set_kind(plan::ShardSpec::FLAT_1D);
      plan::Parameter *p = out.add_parameters();
      p->set_symbol(global.getSymName().str());
      p->set_initializer(initializer->str());
      p->set_buffer(*id);
      p->set_trainable(global.getTrainable());
      if (global.getTrainable())
        out.set_trainable_parameters(
            out.trainable_parameters() +
            uint64_t(global.getShardOf() ? *global.getShardOf()
                                         : global.getMemRefType().getNumElements()));
      if (global.getShardOf())
        p->mutable_shard()->set_kind(plan::ShardSpec::FLAT_1D);
    }
    if (auto accum = module->getAttrOfType<IntegerAttr>(
            kAccumulationAttr))
      out.set_gradient_accumulation_steps(accum.getInt());
    if (auto every = module->getAttrOfType<IntegerAttr>(kStepsPerPrintAttr))
      if (every.getInt() > 0 && every.getInt() <= UINT32_MAX)
        out.set_steps_per_print(uint32_t(every.getInt()));
    if (auto dir = module->getAttrOfType<StringAttr>(kCsvMonitorDirAttr))
      out.set_csv_monitor_dir(dir.str());
    if (auto dir = module->getAttrOfType<StringAttr>(kTensorboardDirAttr))
      out.set_tensorboard_dir(dir.str());
    out.set_wall_clock_breakdown(module->hasAttr(kWallClockBreakdownAttr));
    out.set_memory_breakdown(module->hasAttr(kMemoryBreakdownAttr));
    if (auto io = module->getAttrOfType<DictionaryAttr>(kIOAttr)) {
      plan::IOConfig *cfg = out.mutable_io();
      if (auto v = io.getAs<StringAttr>("nvme_path"))
        cfg->set_nvme_path(v.str());
      if (auto v = io.getAs<BoolAttr>("pin_memory"))
        cfg->set_pin_memory(v.getValue());
      if (auto v = io.getAs<IntegerAttr>("block_size"))
        cfg->set_block_size(uint64_t(v.getInt()));
      if (auto v = io.getAs<IntegerAttr>("queue_depth"))
        cfg->set_queue_depth(uint32_t(v.getInt()));
      if (auto v = io.getAs<IntegerAttr>("thread_count"))
        cfg->set_thread_count(uint32_t(v.getInt()));
      if (auto v = io.getAs<BoolAttr>("single_submit"))
        cfg->set_single_submit(v.getValue());
      if (auto v = io.getAs<BoolAttr>("overlap_events"))
        cfg->set_overlap_events(v.getValue());
    }
    if (auto stage = module->getAttrOfType<IntegerAttr>(kZeroStageAttr))
      if (stage.getInt() >= 0 && stage.getInt() <= 3)
        out.set_zero_stage(uint32_t(stage.getInt()));

    bool haveIO = false;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      auto role = getRole(func);
      if (failed(role))
        return failure();
      bool isEntry = *role == plan::Program::INFERENCE ||
                     *role == plan::Program::MICRO_STEP;
      if (failed(addProgram(func, *role, isEntry && !haveIO)))
        return failure();
      haveIO |= isEntry;
    }
    return success();
  }

private:
  struct ParamState {
    std::string initializer;
    int64_t fullNumel;
  };
  llvm::StringMap<ParamState> paramStates; // parameter symbol -> what its states refer to

  /// The checkpoint entry of an optimizer-state global: its kind, the parameter it
  /// belongs to (its symbol is "<parameter symbol>.<kind>", as BuildTrainStep names it)
  /// and whether it holds the whole tensor or this rank's flat shard.
  void addStateEntry(dsrt::GlobalOp global, uint32_t id, int64_t world) {
    auto kindAttr = global->getAttrOfType<StateKindAttr>(kStateKindAttr);
    if (!kindAttr)
      return;
    std::string kind = stringifyStateKind(kindAttr.getValue()).str();
    int64_t numel = global.getMemRefType().getNumElements();
    plan::StateBuffer *st = plan->add_states();
    st->set_buffer(id);
    st->set_kind(kind);
    st->set_full_numel(uint64_t(numel));
    StringRef name = global.getSymName();
    std::string suffix = "." + kind;
    if (!name.ends_with(suffix))
      return;
    auto it = paramStates.find(name.drop_back(suffix.size()));
    if (it == paramStates.end())
      return;
    int64_t n = it->second.fullNumel;
    st->set_parameter(it->second.initializer);
    st->set_full_numel(uint64_t(n));
    if (numel != n && world > 1)
      st->mutable_shard()->set_kind(plan::ShardSpec::FLAT_1D);
  }

  FailureOr<uint32_t> addBuffer(ShapedType type, plan::Placement placement,
                                int64_t offset, StringRef name, Location loc) {
    auto dtype = getPlanDType(type.getElementType(), loc);
    if (failed(dtype))
      return failure();
    plan::Buffer *b = plan->add_buffers();
    b->set_id(plan->buffers_size() - 1);
    b->set_dtype(*dtype);
    for (int64_t d : type.getShape())
      b->add_shape(d);
    b->set_placement(placement);
    b->set_offset(offset);
    b->set_name(name.str());
    return b->id();
  }

  LogicalResult addProgram(func::FuncOp func, plan::Program::Role role,
                           bool recordIO) {
    plan::Program *prog = plan->add_programs();
    prog->set_name(func.getSymName().str());
    prog->set_role(role);
    llvm::DenseMap<Value, uint32_t> ids;
    llvm::DenseMap<Value, int64_t> producer;
    Block &body = func.getBody().front();

    for (BlockArgument arg : body.getArguments()) {
      auto offset = func.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(),
                                                       dsrt::kOffsetAttr);
      auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                    kInputNameAttr);
      if (!offset)
        return func.emitError("argument #") << arg.getArgNumber()
                                            << " has no arena offset";
      std::string label = name ? name.str() : "arg" + std::to_string(arg.getArgNumber());
      auto id = addBuffer(cast<ShapedType>(arg.getType()), plan::ARENA,
                          offset.getInt(), label, func.getLoc());
      if (failed(id))
        return failure();
      ids[arg] = *id;
      if (recordIO) {
        plan::GraphInput *in = plan->add_inputs();
        in->set_name(label);
        in->set_buffer(*id);
        in->set_batch_dim(0);
      }
    }

    for (Operation &op : body) {
      if (auto alloc = dyn_cast<dsrt::AllocOp>(op)) {
        if (!alloc.getOffset())
          return alloc.emitError("buffer has no arena offset");
        // Device transients live in the arena; host ones in the host region, after its
        // globals (the planner's offsets are already region offsets).
        auto placement =
            alloc.getSpace() == dsrt::MemorySpace::host ? plan::HOST : plan::ARENA;
        auto id = addBuffer(alloc.getBuffer().getType(), placement,
                            *alloc.getOffset(), "", alloc.getLoc());
        if (failed(id))
          return failure();
        ids[alloc.getBuffer()] = *id;
        continue;
      }
      if (auto view = dyn_cast<dsrt::ViewOp>(op)) {
        // Another buffer entry over the same bytes as the source.
        const plan::Buffer &source = plan->buffers(ids.lookup(view.getSource()));
        auto id = addBuffer(view.getResult().getType(), source.placement(),
                            source.offset(), source.name(), view.getLoc());
        if (failed(id))
          return failure();
        ids[view.getResult()] = *id;
        auto it = producer.find(view.getSource());
        if (it != producer.end())
          producer[view.getResult()] = it->second;
        continue;
      }
      if (auto span = dyn_cast<dsrt::SpanOp>(op)) {
        // A buffer entry from the first global's bytes over the globals after it (memory
        // planning checked that they are back to back).
        auto first = cast<FlatSymbolRefAttr>(span.getGlobals()[0]).getValue();
        auto it = paramBuffers.find(first);
        if (it == paramBuffers.end())
          return span.emitError("unknown global @") << first;
        const plan::Buffer &source = plan->buffers(it->second);
        auto id = addBuffer(span.getBuffer().getType(), source.placement(),
                            source.offset(), (first + ".span").str(), span.getLoc());
        if (failed(id))
          return failure();
        ids[span.getBuffer()] = *id;
        continue;
      }
      if (auto param = dyn_cast<dsrt::ParamOp>(op)) {
        auto it = paramBuffers.find(param.getName());
        if (it == paramBuffers.end())
          return param.emitError("unknown global @") << param.getName();
        ids[param.getBuffer()] = it->second;
        continue;
      }
      if (auto kernel = dyn_cast<dsrt::KernelOp>(op)) {
        plan::Instruction *inst = prog->add_instructions();
        int64_t index = prog->instructions_size() - 1;
        inst->set_kernel(kernel.getKernel().str());
        std::set<uint32_t> waits;
        for (Value v : kernel.getInputs()) {
          inst->add_inputs(ids.lookup(v));
          auto it = producer.find(v);
          if (it != producer.end())
            waits.insert(it->second);
        }
        for (Value v : kernel.getOutputs()) {
          inst->add_outputs(ids.lookup(v));
          producer[v] = index;
        }
        for (uint32_t w : waits)
          inst->add_waits(w);
        inst->set_stream(getStream(kernel.getStream()));
        for (NamedAttribute a : kernel.getAttrs())
          if (failed(convertAttribute(a.getValue(),
                                      (*inst->mutable_attrs())[a.getName().str()],
                                      kernel.getLoc(), a.getName())))
            return failure();
        std::string loc;
        llvm::raw_string_ostream os(loc);
        kernel.getLoc().print(os);
        inst->set_loc(loc);
        if (auto entry = kernel->getAttrOfType<StringAttr>("dsrt.generated_entry")) {
          if (!module->hasAttr("dsrt.generated_ptx"))
            return kernel.emitError("kernel names generated entry '")
                   << entry.getValue() << "' but the module has no dsrt.generated_ptx";
          inst->set_generated_entry(entry.str());
        }
        continue;
      }
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        if (!recordIO)
          continue;
        auto loss = func->getAttrOfType<IntegerAttr>(kLossIndexAttr);
        for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
          auto name = func.getResultAttrOfType<StringAttr>(i, kOutputNameAttr);
          plan::GraphOutput *o = plan->add_outputs();
          o->set_name(name ? name.str() : "out" + std::to_string(i));
          o->set_buffer(ids.lookup(v));
        }
        if (loss)
          plan->set_loss_output(loss.getInt());
        continue;
      }
      return op.emitError("cannot export '") << op.getName() << "' to a plan";
    }
    return success();
  }

  ModuleOp module;
  plan::Plan *plan = nullptr;
  llvm::StringMap<uint32_t> paramBuffers;
};
} // namespace

LogicalResult mlir::ds::exportPlan(ModuleOp module, llvm::raw_ostream &os,
                                   StringRef producer) {
  plan::Plan p;
  if (failed(PlanBuilder(module).build(p, producer)))
    return failure();
  // What ::ds::rt::serializePlan writes, with map entries (attributes) in key order:
  // the same program gives the same bytes, run after run.
  std::string payload;
  {
    google::protobuf::io::StringOutputStream stream(&payload);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!p.SerializeToCodedStream(&coded))
      return module.emitError("plan serialization failed");
  }
  // The header: magic and the payload's checksum, checked by every loader.
  std::string bytes = ::ds::rt::framePlanPayload(payload);
  // The runtime's own load-time validator (kernel catalogue: names, arity, attribute types,
  // shapes; buffers, placements, programs) runs on every plan before it is written, so a plan
  // ds-opt writes is one ds-run accepts.
  // An inference plan's inputs need not share a batch size (`ds-run --eval` may feed each
  // whole): like ds-run then, validate it without its inputs.
  bool training = llvm::any_of(p.programs(), [](const plan::Program &prog) {
    return prog.role() == plan::Program::MICRO_STEP;
  });
  try {
    if (training) {
      (void)::ds::rt::parsePlan(bytes, "<compiled plan>", /*worldSize=*/0);
    } else {
      ::ds::rt::LoadedPlan lp;
      lp.path = "<compiled plan>";
      lp.plan = p;
      lp.plan.clear_inputs();
      ::ds::rt::validatePlan(lp, /*worldSize=*/0);
    }
  } catch (const std::exception &e) {
    return module.emitError("the compiled plan fails the runtime's checks: ") << e.what();
  }
  os << bytes;
  return success();
}

/// Exports `module` and loads the plan back (validated) as the runtime sees it, appended
/// to `plans`. Errors go to stderr.
static LogicalResult
loadTimelinePlan(ModuleOp module, std::vector<std::unique_ptr<::ds::rt::LoadedPlan>> &plans) {
  std::string bytes;
  {
    llvm::raw_string_ostream os(bytes);
    if (failed(exportPlan(module, os, "ds-opt --memory-timeline")))
      return failure();
  }
  try {
    auto lp = std::make_unique<::ds::rt::LoadedPlan>();
    lp->path = "<compiled plan>";
    ::ds::rt::decodePlan(bytes, lp->plan);
    // An inference plan's inputs need not share a batch size (as exportPlan validates it).
    if (llvm::none_of(lp->plan.programs(), [](const plan::Program &p) {
          return p.role() == plan::Program::MICRO_STEP;
        }))
      lp->plan.clear_inputs();
    ::ds::rt::validatePlan(*lp, /*worldSize=*/0);
    plans.push_back(std::move(lp));
  } catch (const std::exception &e) {
    llvm::errs() << "ds-opt: --memory-timeline: " << e.what() << "\n";
    return failure();
  }
  return success();
}

LogicalResult mlir::ds::writeMemoryTimeline(ModuleOp module, StringRef path,
                                            StringRef title) {
  if (path.ends_with(".svg"))
    return writeMemoryTimeline({{module, std::string()}}, path, title);
  std::vector<std::unique_ptr<::ds::rt::LoadedPlan>> plans;
  if (failed(loadTimelinePlan(module, plans)))
    return failure();
  try {
    ::ds::rt::writeFileAtomically(
        path.str(), ::ds::rt::memoryTimelineCsv(
                        *plans[0], ::ds::rt::computeMemoryTimeline(*plans[0])));
  } catch (const std::exception &e) {
    llvm::errs() << "ds-opt: --memory-timeline: " << e.what() << "\n";
    return failure();
  }
  return success();
}

LogicalResult
mlir::ds::writeMemoryTimeline(ArrayRef<std::pair<ModuleOp, std::string>> panels,
                              StringRef path, StringRef title) {
  std::vector<std::unique_ptr<::ds::rt::LoadedPlan>> plans;
  for (const auto &panel : panels)
    if (failed(loadTimelinePlan(panel.first, plans)))
      return failure();
  try {
    std::vector<::ds::rt::TimelinePanel> drawn;
    for (size_t i = 0; i < panels.size(); ++i)
      drawn.push_back({plans[i].get(), ::ds::rt::computeMemoryTimeline(*plans[i]),
                       panels[i].second});
    ::ds::rt::writeFileAtomically(path.str(),
                                  ::ds::rt::memoryTimelineSvg(drawn, title.str()));
  } catch (const std::exception &e) {
    llvm::errs() << "ds-opt: --memory-timeline: " << e.what() << "\n";
    return failure();
  }
  return success();
}

LogicalResult mlir::ds::writePlanFile(ModuleOp module, StringRef path,
                                      StringRef producer) {
  std::string bytes;
  {
    llvm::raw_string_ostream os(bytes);
    if (failed(exportPlan(module, os, producer)))
      return failure();
  }
  // The runtime's writer: a free-space check, a temporary sibling fsynced and renamed into
  // place; on failure the previous file is intact and no temporary is left.
  try {
    ::ds::rt::writeFileAtomically(path.str(), bytes);
  } catch (const std::exception &e) {
    llvm::errs() << "ds-opt: " << e.what() << "\n";
    return failure();
  }
  return success();
}

LogicalResult mlir::ds::checkPlanOutputPath(StringRef path) {
  try {
    ::ds::rt::checkOutputFile(path.str(), "-o");
  } catch (const std::exception &e) {
    llvm::errs() << "ds-opt: " << e.what() << "\n";
    return failure();
  }
  return success();
}

void mlir::ds::registerPlanExportTranslation() {
  // Registered with the translation, so only ds-translate has the flag.
  static llvm::cl::opt<std::string> producer(
      "dsplan-producer",
      llvm::cl::desc("The plan's producer string (what ds-opt writes: \"ds-opt "
                     "MODEL.onnx\")"),
      llvm::cl::init("ds-translate --export-dsplan"));
  TranslateFromMLIRRegistration reg(
      "export-dsplan", "Write a memory-planned dsrt module as a ds-run plan",
      [](Operation *op, llvm::raw_ostream &os) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError("expected a builtin.module");
        return exportPlan(module, os, producer);
      },
      [](DialectRegistry &registry) { ds::registerAllDialects(registry); });
}

LogicalResult mlir::ds::convertPlanAttribute(Attribute attr, plan::Attribute &out,
                                             Location loc, StringRef name) {
  return convertAttribute(attr, out, loc, name);
}
