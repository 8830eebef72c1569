// Runs the optimizer step's per-parameter adam_update chains as one multi_adam_update
// kernel per group of parameters with one gradient dtype and one set of hyper-parameters.
#include "BufferAccesses.h"

#include "ds/Dialect/Runtime/IR/ByteSize.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"

#define DEBUG_TYPE "ds-group-optimizer-updates"

namespace mlir::dsrt {
#define GEN_PASS_DEF_GROUPOPTIMIZERUPDATESPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
/// The global `v`'s bytes belong to, through views, or null.
FlatSymbolRefAttr globalOf(Value v) {
  auto param = getAliasRoot(v).getDefiningOp<ParamOp>();
  return param ? param.getNameAttr() : FlatSymbolRefAttr();
}

/// What two operands must share to be one operand of a group: the same global, or the
/// same buffer.
const void *identity(Value v) {
  if (FlatSymbolRefAttr g = globalOf(v))
    return g.getAttr().getAsOpaquePointer();
  return getAliasRoot(v).getAsOpaquePointer();
}

Type elementType(Value v) { return cast<MemRefType>(v.getType()).getElementType(); }
bool isF32Scalar(Value v) {
  auto t = cast<MemRefType>(v.getType());
  return t.getRank() == 0 && t.getElementType().isF32();
}

/// The one kernel writing the transient `v`, when `v` is a device alloc with exactly two
/// uses: that writer and `reader`.
KernelOp soleWriter(Value v, Operation *reader) {
  auto alloc = v.getDefiningOp<AllocOp>();
  if (!alloc || alloc.getSpace() != MemorySpace::device)
    return {};
  KernelOp writer;
  unsigned uses = 0;
  for (OpOperand &use : v.getUses()) {
    ++uses;
    if (use.getOwner() == reader)
      continue;
    auto kernel = dyn_cast<KernelOp>(use.getOwner());
    if (!kernel || writer)
      return {};
    writer = kernel;
  }
  if (uses != 2 || !writer || !llvm::is_contained(writer.getOutputs(), v) ||
      writer.getOutputs().size() != 1)
    return {};
  return writer;
}

/// One adam_update and the kernels around it that the group kernel absorbs.
struct Member {
  KernelOp adam;
  /// The kernels absorbed (the gradient's cast and scale multiplies, adam_update, the
  /// working copy's cast, the gradient's zeroing), in program order.
  SmallVector<KernelOp> kernels;
  /// The kernels that read what the member writes into transients (the all_gather of an
  /// updated shard into the whole parameter), in program order: they move behind the
  /// group kernel.
  SmallVector<KernelOp> followers;
  Value param, newParam;   // f32: views of one global, or a shard transient in and out
  Value grad;              // the accumulated gradient (a view of a global)
  SmallVector<Value> scales;
  Value workingCopy;       // the 16-bit parameter (a view of a global or a transient), or null
  Value zeroedGrad;        // the gradient's zeroing output, or null
  FlatSymbolRefAttr master, gradGlobal; // master: null when `param` is a transient
  SmallVector<FlatSymbolRefAttr> globals;

  Operation *first() const { return KernelOp(kernels.front()).getOperation(); }
  Operation *last() const { return KernelOp(kernels.back()).getOperation(); }
};

/// The first kernel after `from` that reads or writes the global `name`.
KernelOp nextAccess(Operation *from, FlatSymbolRefAttr name) {
  for (Operation *op = from->getNextNode(); op; op = op->getNextNode())
    if (auto k = dyn_cast<KernelOp>(op))
      for (Value v : k->getOperands())
        if (globalOf(v) == name)
          return k;
  return {};
}

bool isDeviceGlobal(FlatSymbolRefAttr name, Operation *from,
                    SymbolTableCollection &symbols) {
  auto global = symbols.lookupNearestSymbolFrom<GlobalOp>(from, name);
  return global && global.getSpace() == MemorySpace::device;
}

/// Adds to `m` the kernels after `writer` that read the device transient `v` (which
/// `writer` alone writes), and what they write into other transients, transitively: the
/// gathers of an updated shard into the whole parameter. They read nothing else; the
/// globals they write join `m.globals`. False when `v` is not such a transient.
bool collectFollowers(Value v, KernelOp writer, Member &m, int depth = 0) {
  std::optional<Accesses> acc = transientAccesses(v);
  if (depth > 3 || !acc || acc->writers.size() != 1 || acc->writers[0] != writer ||
      acc->readers.empty())
    return false;
  for (KernelOp r : acc->readers) {
    if (r->getBlock() != writer->getBlock() || !writer->isBeforeInBlock(r) ||
        llvm::any_of(r.getInputs(),
                     [&](Value in) { return getAliasRoot(in) != getAliasRoot(v); }))
      return false;
    if (llvm::is_contained(m.followers, r))
      continue;
    m.followers.push_back(r);
    for (Value out : r.getOutputs()) {
      if (FlatSymbolRefAttr g = globalOf(out))
        m.globals.push_back(g);
      else if (!collectFollowers(out, r, m, depth + 1))
        return false;
    }
  }
  return true;
}

/// The chain of `adam` when it has the shape the group kernel computes, else nullopt.
std::optional<Member> matchMember(KernelOp adam, SymbolTableCollection &symbols) {
  if (adam.getKernel() != "adam_update" || adam.getStream() != Stream::compute ||
      adam.getInputs().size() < 6 || adam.getOutputs().size() != 3)
    return std::nullopt;
  Member m;
  m.adam = adam;
  ValueRange in = adam.getInputs(), out = adam.getOutputs();
  // Moments: f32 device globals, updated in place.
  for (auto [i, o] : {std::pair{2, 1}, std::pair{3, 2}}) {
    FlatSymbolRefAttr g = globalOf(in[i]);
    if (!g || globalOf(out[o]) != g || !elementType(in[i]).isF32() ||
        !isDeviceGlobal(g, adam, symbols))
      return std::nullopt;
    m.globals.push_back(g);
  }
  // The master (or f32 parameter): a device global, or this rank's shard of an f32
  // parameter (copied out of it by rank, at ZeRO stages 1-3). The new value goes into the
  // global in place, or into a transient that the followers gather (or copy) into the
  // parameter.
  m.param = in[0];
  m.newParam = out[0];
  if (!elementType(m.param).isF32())
    return std::nullopt;
  FlatSymbolRefAttr p = globalOf(m.param);
  if (p) {
    if (!isDeviceGlobal(p, adam, symbols))
      return std::nullopt;
    m.master = p;
    m.globals.push_back(p);
  } else {
    std::optional<Accesses> acc = transientAccesses(m.param);
    if (!acc || acc->writers.size() != 1 || acc->readers.size() != 1 ||
        acc->writers[0]->getBlock() != adam->getBlock() ||
        !acc->writers[0]->isBeforeInBlock(adam))
      return std::nullopt;
  }
  KernelOp copyBack; // a copy of the new value into the global it was read from
  if (FlatSymbolRefAttr q = globalOf(m.newParam)) {
    if (q != p)
      return std::nullopt;
  } else if (!collectFollowers(m.newParam, adam, m)) {
    return std::nullopt;
  } else if (KernelOp c = m.followers.front();
             p && m.followers.size() == 1 && c.getKernel() == "copy" &&
             c.getAttrs().empty() && c.getInputs().size() == 1 &&
             c.getOutputs().size() == 1 && globalOf(c.getOutputs()[0]) == p) {
    // Views are whole-buffer reshapes: the copy puts element i where the update read
    // it, so the group updates the global in place and the copy goes.
    copyBack = c;
    m.followers.clear();
    m.newParam = m.param;
  }
  // The gradient: a global or a transient written before, possibly cast to f32 and
  // multiplied by f32 scalars.
  SmallVector<KernelOp> chain;
  Value g = in[1];
  Operation *reader = adam;
  while (!globalOf(g)) {
    KernelOp w = soleWriter(g, reader);
    bool plain = w && w.getStream() == Stream::compute && w.getAttrs().empty() &&
                 !w.getInputs().empty();
    if (plain && w.getKernel() == "mul" && w.getInputs().size() == 2 &&
        w.getInputs()[0].getType() == g.getType() && isF32Scalar(w.getInputs()[1])) {
      m.scales.insert(m.scales.begin(), w.getInputs()[1]);
    } else if (plain && w.getKernel() == "cast" && w.getInputs().size() == 1 &&
               (elementType(w.getInputs()[0]).isBF16() ||
                elementType(w.getInputs()[0]).isF16()) &&
               cast<MemRefType>(w.getInputs()[0].getType()).getShape() ==
                   cast<MemRefType>(g.getType()).getShape()) {
    } else {
      // A transient that one kernel wrote before (the rank's shard of the reduced
      // gradient at ZeRO stage 1, which the overflow check and the clipping norm read
      // too): it stays, and the group kernel reads it.
      std::optional<Accesses> acc = transientAccesses(g);
      if (!acc || acc->writers.size() != 1 ||
          acc->writers[0]->getBlock() != reader->getBlock() ||
          !acc->writers[0]->isBeforeInBlock(reader))
        return std::nullopt;
      break;
    }
    chain.insert(chain.begin(), w);
    reader = w;
    g = w.getInputs()[0];
  }
  // A cast can only come first; without one the gradient is f32 already.
  if ((chain.empty() || chain.front().getKernel() != "cast") && !elementType(g).isF32())
    return std::nullopt;
  if (!elementType(g).isF32() && !elementType(g).isBF16() && !elementType(g).isF16())
    return std::nullopt;
  m.grad = g;
  m.gradGlobal = globalOf(g);
  if (m.gradGlobal) {
    m.globals.push_back(m.gradGlobal);
    if (!isDeviceGlobal(m.gradGlobal, adam, symbols))
      return std::nullopt;
  }
  m.kernels.append(chain.begin(), chain.end());
  m.kernels.push_back(adam);
  Operation *after = adam;
  if (copyBack) {
    m.kernels.push_back(copyBack);
    after = copyBack;
  }

  // 16-bit parameters: the next access of the master is the cast to the working copy, a
  // device global or a transient that the followers gather into the parameter.
  Type gradType = elementType(g);
  if (!gradType.isF32()) {
    if (!m.master)
      return std::nullopt;
    KernelOp c = nextAccess(adam, m.master);
    if (!c || c.getKernel() != "cast" || c.getStream() != Stream::compute ||
        c.getInputs().size() != 1 || c.getOutputs().size() != 1 ||
        globalOf(c.getInputs()[0]) != m.master || elementType(c.getOutputs()[0]) != gradType)
      return std::nullopt;
    m.workingCopy = c.getOutputs()[0];
    if (FlatSymbolRefAttr w = globalOf(m.workingCopy)) {
      if (!isDeviceGlobal(w, adam, symbols))
        return std::nullopt;
      m.globals.push_back(w);
    } else if (!collectFollowers(m.workingCopy, c, m)) {
      return std::nullopt;
    }
    m.kernels.push_back(c);
    after = c;
  }
  // The next access of the gradient, when it writes zeros into it: the zero constant in
  // place, or a copy of zeros (--ds-elide-state-copies makes a shared zero constant write
  // the first gradient it zeroes, and the others copy from that gradient).
  if (KernelOp z = m.gradGlobal ? nextAccess(after, m.gradGlobal) : KernelOp();
      z && globalOf(z.getOutputs().back()) == m.gradGlobal && writesZeros(z)) {
    m.zeroedGrad = z.getOutputs()[0];
    m.kernels.push_back(z);
  }
  llvm::sort(m.followers, [](KernelOp a, KernelOp b) { return a->isBeforeInBlock(b); });
  return m;
}

/// What the members of one group share.
struct GroupKey {
  Attribute attrs;
  Type gradType;
  const void *lr, *step, *finite;
  SmallVector<const void *> scales;
  bool zeroGrads;
  bool operator==(const GroupKey &o) const {
    return attrs == o.attrs && gradType == o.gradType && lr == o.lr && step == o.step &&
           finite == o.finite && scales == o.scales && zeroGrads == o.zeroGrads;
  }
};

GroupKey keyOf(const Member &m) {
  KernelOp adam = m.adam;
  ValueRange in = adam.getInputs();
  GroupKey k{adam.getAttrs(), elementType(m.grad), identity(in[4]), identity(in[5]),
             in.size() > 6 ? identity(in[6]) : nullptr, {}, bool(m.zeroedGrad)};
  for (Value s : m.scales)
    k.scales.push_back(identity(s));
  return k;
}

/// Whether a kernel outside the group, between `m`'s first kernel and `end`, writes one
/// of `m`'s globals, reads one after `m` wrote it, or writes a scalar operand of `m` after
/// `m` read it: then moving `m`'s work to `end` would change what that kernel (or `m`)
/// sees. (Reading a global before `m` writes it, like the clipping norm reading the
/// gradients, is no conflict.)
bool conflicts(const Member &m, Operation *end, const DenseSet<Operation *> &absorbed) {
  SmallVector<const void *> scalars, read;
  SmallVector<FlatSymbolRefAttr> written;
  KernelOp adam = m.adam;
  for (Value v : adam.getInputs().drop_front(4))
    scalars.push_back(identity(v));
  for (Value v : m.scales)
    scalars.push_back(identity(v));
  DenseSet<Operation *> own;
  for (KernelOp k : m.kernels)
    own.insert(k.getOperation());
  for (KernelOp k : m.followers)
    own.insert(k.getOperation());
  for (Operation *op = m.first(); op != end; op = op->getNextNode()) {
    auto k = dyn_cast<KernelOp>(op);
    if (!k)
      continue;
    if (own.contains(op)) {
      for (Value v : k.getInputs())
        if (llvm::is_contained(scalars, identity(v)))
          read.push_back(identity(v));
      for (Value v : k.getOutputs())
        if (FlatSymbolRefAttr g = globalOf(v); g && llvm::is_contained(m.globals, g))
          written.push_back(g);
      continue;
    }
    if (absorbed.contains(op))
      continue;
    for (Value v : k.getOutputs()) {
      if (FlatSymbolRefAttr g = globalOf(v); g && llvm::is_contained(m.globals, g))
        return true;
      if (llvm::is_contained(read, identity(v)))
        return true;
    }
    for (Value v : k.getInputs())
      if (FlatSymbolRefAttr g = globalOf(v); g && llvm::is_contained(written, g))
        return true;
  }
  return false;
}

struct GroupOptimizerUpdatesPass
    : dsrt::impl::GroupOptimizerUpdatesPassBase<GroupOptimizerUpdatesPass> {
  using Base::Base;

  void runOnOperation() override {
    SymbolTableCollection symbols;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && getProgramRole(func) == ProgramRole::apply_step)
        groupFunction(func, symbols);
  }

  void groupFunction(func::FuncOp func, SymbolTableCollection &symbols) {
    std::vector<std::pair<GroupKey, std::vector<Member>>> groups;
    for (auto k : llvm::to_vector(func.getBody().front().getOps<KernelOp>())) {
      std::optional<Member> m = matchMember(k, symbols);
      if (!m)
        continue;
      GroupKey key = keyOf(*m);
      auto it = llvm::find_if(groups, [&](auto &g) { return g.first == key; });
      if (it == groups.end()) {
        groups.push_back({key, {}});
        it = std::prev(groups.end());
      }
      it->second.push_back(std::move(*m));
    }
    for (auto &[key, members] : groups)
      rewriteGroup(members);
  }

  /// Bytes of the transients (device allocs, through views) among `values`.
  static int64_t transientBytes(ArrayRef<Value> values) {
    int64_t bytes = 0;
    llvm::SmallPtrSet<void *, 8> seen;
    for (Value v : values)
      if (v && getAliasRoot(v).getDefiningOp<AllocOp>() &&
          seen.insert(getAliasRoot(v).getAsOpaquePointer()).second)
        bytes += getByteSize(cast<MemRefType>(getAliasRoot(v).getType()));
    return bytes;
  }

  /// The transients the group kernel reads or writes for `m`: alive from before the
  /// group kernel (or from it) to it (or to the moved gathers).
  static int64_t heldBytes(const Member &m) {
    return transientBytes({m.grad, m.param, m.newParam, m.workingCopy});
  }

  /// What `m`'s own kernels kept alive around its update before grouping: the transients
  /// they read and wrote.
  static int64_t chainBytes(const Member &m) {
    SmallVector<Value> values;
    for (KernelOp k : m.kernels)
      llvm::append_range(values, k->getOperands());
    return transientBytes(values);
  }

  /// Drops members whose work cannot move to the group's position, then replaces the rest
  /// by one multi_adam_update right after the last of them.
  void rewriteGroup(std::vector<Member> &members) {
    while (!members.empty()) {
      DenseSet<Operation *> absorbed;
      Operation *end = members.front().last();
      for (const Member &m : members) {
        absorbed.insert(m.kernels.begin(), m.kernels.end());
        absorbed.insert(m.followers.begin(), m.followers.end());
        if (end->isBeforeInBlock(m.last()))
          end = m.last();
      }
      auto bad = llvm::find_if(members, [&](const Member &m) {
        return conflicts(m, end->getNextNode(), absorbed);
      });
      if (bad == members.end())
        break;
      members.erase(bad);
    }
    if (members.empty())
      return;
    // The transients the group kernel keeps alive at once stay within what the largest
    // member's own chain kept alive before (a ZeRO stage-1 group holds every rank shard
    // of gradient and parameter): one kernel per run of members in program order that
    // fits. Each moves less than the whole group would, so the checks above still hold.
    int64_t budget = 0;
    for (const Member &m : members)
      budget = std::max(budget, chainBytes(m) / 2);
    // A shard updated out of place into a transient of its own type is updated in place
    // instead (the kernel allows it): one transient per parameter, not two, lives across
    // the group.
    for (Member &m : members)
      if (!m.master && m.newParam != m.param && m.newParam.getDefiningOp<AllocOp>() &&
          m.param.getDefiningOp<AllocOp>() && m.newParam.getType() == m.param.getType()) {
        Operation *alloc = m.newParam.getDefiningOp();
        m.newParam.replaceAllUsesWith(m.param);
        m.newParam = m.param;
        alloc->erase();
      }
    size_t begin = 0;
    int64_t held = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      int64_t h = heldBytes(members[i]);
      if (i > begin && held + h > budget) {
        emitGroup(MutableArrayRef<Member>(members).slice(begin, i - begin));
        begin = i;
        held = 0;
      }
      held += h;
    }
    emitGroup(MutableArrayRef<Member>(members).drop_front(begin));
  }

  /// Replaces `members` by one multi_adam_update right after the last of them.
  void emitGroup(MutableArrayRef<Member> members) {
    Operation *end = members.front().last();
    for (const Member &m : members)
      if (end->isBeforeInBlock(m.last()))
        end = m.last();

    const Member &head = members.front();
    KernelOp headAdam = head.adam;
    ValueRange headIn = headAdam.getInputs();
    bool finite = headIn.size() > 6;
    SmallVector<Value> inputs{headIn[4], headIn[5]};
    if (finite)
      inputs.push_back(headIn[6]);
    inputs.append(head.scales.begin(), head.scales.end());
    // Every operand of a member in the shape of its parameter (views where a global has
    // another shape), built right after the last absorbed kernel.
    Operation *anchor = end->getNextNode();
    SmallVector<Value> outputs;
    for (const Member &m : members) {
      KernelOp adam = m.adam;
      ValueRange in = adam.getInputs(), out = adam.getOutputs();
      ArrayRef<int64_t> shape = cast<MemRefType>(m.param.getType()).getShape();
      auto shaped = [&](Value v) { return reshaped(v, shape, anchor); };
      inputs.append({m.param, shaped(m.grad), shaped(in[2]), shaped(in[3])});
      outputs.append({shaped(m.newParam), shaped(out[1]), shaped(out[2])});
      if (m.workingCopy)
        outputs.push_back(shaped(m.workingCopy));
      if (m.zeroedGrad)
        outputs.push_back(shaped(m.zeroedGrad));
    }
    OpBuilder b(anchor);
    NamedAttrList attrs(headAdam.getAttrs());
    attrs.set("count", b.getI64IntegerAttr(int64_t(members.size())));
    attrs.set("finite", b.getBoolAttr(finite));
    attrs.set("grad_scales", b.getI64IntegerAttr(int64_t(head.scales.size())));
    attrs.set("working_copy", b.getBoolAttr(bool(head.workingCopy)));
    attrs.set("zero_grads", b.getBoolAttr(bool(head.zeroedGrad)));
    KernelOp::create(b, headAdam.getLoc(), b.getStringAttr("multi_adam_update"), inputs,
                     outputs, attrs.getDictionary(b.getContext()),
                     StreamAttr::get(b.getContext(), Stream::compute));
    // What reads the updated shards (the gathers into whole parameters) moves behind it,
    // in program order.
    SmallVector<KernelOp> followers;
    for (const Member &m : members)
      for (KernelOp k : m.followers)
        if (k->isBeforeInBlock(anchor))
          followers.push_back(k);
    llvm::sort(followers, [](KernelOp x, KernelOp y) { return x->isBeforeInBlock(y); });
    for (KernelOp k : followers)
      k->moveBefore(anchor);

    // Erase what the group absorbed, then what only those kernels used.
    llvm::SetVector<Operation *> maybeDead;
    for (Member &m : members)
      for (KernelOp k : m.kernels) {
        for (Value v : k->getOperands())
          if (Operation *def = v.getDefiningOp())
            maybeDead.insert(def);
        k.erase();
      }
    while (!maybeDead.empty()) {
      Operation *op = maybeDead.pop_back_val();
      // A zero constant that only its writer still uses.
      if (auto alloc = dyn_cast<AllocOp>(op); alloc && alloc->hasOneUse())
        if (auto w = dyn_cast<KernelOp>(*alloc->user_begin()); w && writesPositiveZeros(w))
          w.erase();
      if (!isa<AllocOp, ParamOp, ViewOp>(op) || !op->use_empty())
        continue;
      for (Value v : op->getOperands())
        if (Operation *def = v.getDefiningOp())
          maybeDead.insert(def);
      op->erase();
    }
    ++numGroups;
    numGrouped += members.size();
  }
};
} // namespace
