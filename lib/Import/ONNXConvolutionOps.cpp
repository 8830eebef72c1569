// Convolutional-network ONNX ops: Conv, BatchNormalization, MaxPool, AveragePool,
// GlobalAveragePool, Flatten and Clip.
#include "ONNXOpTable.h"
#include "ds/runtime/WindowGeometry.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;

/// Per-dim attribute `name` with `n` values, or `dflt` repeated when absent.
FailureOr<SmallVector<int64_t>> perDim(GraphImporter &imp, StringRef name, size_t n,
                                       int64_t dflt) {
  auto v = imp.intsAttr(name);
  if (!v)
    return SmallVector<int64_t>(n, dflt);
  if (v->size() != n) {
    imp.nodeError() << "attribute '" << name << "' needs " << n << " values, got "
                    << v->size();
    return failure();
  }
  return *v;
}

/// The explicit window geometry of the current node (pads resolved from auto_pad)
/// and the output spatial dims, for input spatial dims `in` and kernel sizes `kernel`.
struct Window {
  SmallVector<int64_t> strides, pads, dilations, out;
};

FailureOr<Window> readWindow(GraphImporter &imp, ArrayRef<int64_t> in,
                             ArrayRef<int64_t> kernel, bool ceilMode) {
  size_t n = in.size();
  if (n < 1 || n > 2) {
    imp.nodeError() << "only 1-D and 2-D windows are supported, got " << n
                    << " spatial dims";
    return failure();
  }
  Window w;
  auto strides = perDim(imp, "strides", n, 1);
  auto dilations = perDim(imp, "dilations", n, 1);
  auto pads = perDim(imp, "pads", 2 * n, 0);
  if (failed(strides) || failed(dilations) || failed(pads))
    return failure();
  w.strides = *strides;
  w.dilations = *dilations;
  w.pads = *pads;
  std::string autoPad = imp.stringAttr("auto_pad", "NOTSET");
  if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    // Output ceil(in / stride); the odd pad element goes to the end (upper) or begin.
    for (size_t i = 0; i < n; ++i) {
      int64_t out = (in[i] + w.strides[i] - 1) / std::max<int64_t>(w.strides[i], 1);
      int64_t total = std::max<int64_t>(
          0, (out - 1) * w.strides[i] + w.dilations[i] * (kernel[i] - 1) + 1 - in[i]);
      int64_t small = total / 2;
      w.pads[i] = autoPad == "SAME_UPPER" ? small : total - small;
      w.pads[i + n] = total - w.pads[i];
    }
  } else if (autoPad == "VALID") {
    std::fill(w.pads.begin(), w.pads.end(), 0);
  } else if (autoPad != "NOTSET") {
    imp.nodeError() << "auto_pad '" << autoPad
                    << "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID";
    return failure();
  }
  for (size_t i = 0; i < n; ++i) {
    ::ds::rt::WindowDim d{kernel[i], w.strides[i], w.dilations[i], w.pads[i],
                          w.pads[i + n]};
    if (d.stride < 1 || d.dilation < 1 || d.padBegin < 0 || d.padEnd < 0) {
      imp.nodeError() << "strides and dilations must be >= 1 and pads >= 0";
      return failure();
    }
    int64_t o = ::ds::rt::windowOutputSize(in[i], d, ceilMode);
    if (o < 1) {
      imp.nodeError() << "the window (kernel " << kernel[i] << ", dilation " << d.dilation
                      << ") does not fit spatial dim " << i << " of size " << in[i]
                      << " with pads " << d.padBegin << ", " << d.padEnd;
      return failure();
    }
    w.out.push_back(o);
  }
  return w;
}

LogicalResult convertConv(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0), w = imp.inputValue(1);
  if (!x || !w)
    return failure();
  auto xt = typeOf(x), wt = typeOf(w);
  if (xt.getRank() < 3 || xt.getRank() > 4 || wt.getRank() != xt.getRank())
    return imp.nodeError() << "Conv needs an [N, C, S...] input with 1 or 2 spatial dims "
                              "and a weight of the same rank, got "
                           << xt << " and " << wt;
  SmallVector<Value> operands{x, w};
  if (imp.input(2)) {
    Value b = imp.inputValue(2);
    if (!b)
      return failure();
    operands.push_back(b);
  }
  ArrayRef<int64_t> kernel = wt.getShape().drop_front(2);
  if (auto ks = imp.intsAttr("kernel_shape"); ks && ArrayRef<int64_t>(*ks) != kernel)
    return imp.nodeError() << "kernel_shape does not match the weight " << wt;
  int64_t group = imp.intAttr("group", 1);
  int64_t c = xt.getDimSize(1), m = wt.getDimSize(0);
  if (group < 1 || c % group || m % group || wt.getDimSize(1) != c / group)
    return imp.nodeError() << "group " << group << " does not fit input " << xt
                           << " and weight " << wt;
  auto win = readWindow(imp, xt.getShape().drop_front(2), kernel, false);
  if (failed(win))
    return failure();
  SmallVector<int64_t> shape{xt.getDimSize(0), m};
  llvm::append_range(shape, win->out);
  return setResult(imp,
                   imp.createTyped<ConvOp>({xt.clone(shape)}, operands,
                                           {arrayAttr(imp, "strides", win->strides),
                                            arrayAttr(imp, "pads", win->pads),
                                            arrayAttr(imp, "dilations", win->dilations),
                                            i64Attr(imp, "group", group)}));
}

template <typename OpTy> LogicalResult convertPool(GraphImporter &imp, Node) {
  constexpr bool isMax = std::is_same_v<OpTy, MaxPoolOp>;
  if (isMax && imp.outputUsed(1))
    return imp.nodeError() << "the Indices output of MaxPool is not supported";
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto xt = typeOf(x);
  auto kernel = imp.intsAttr("kernel_shape");
  if (!kernel)
    return imp.nodeError() << "attribute 'kernel_shape' is required";
  if (xt.getRank() != int64_t(kernel->size()) + 2)
    return imp.nodeError() << "kernel_shape has " << kernel->size()
                           << " values for input " << xt;
  bool ceilMode = imp.intAttr("ceil_mode", 0) != 0;
  auto win = readWindow(imp, xt.getShape().drop_front(2), *kernel, ceilMode);
  if (failed(win))
    return failure();
  SmallVector<int64_t> shape(xt.getShape().take_front(2));
  llvm::append_range(shape, win->out);
  SmallVector<NamedAttribute> attrs{
      arrayAttr(imp, "kernel_shape", *kernel), arrayAttr(imp, "strides", win->strides),
      arrayAttr(imp, "pads", win->pads), arrayAttr(imp, "dilations", win->dilations),
      named(imp, "ceil_mode", imp.builder.getBoolAttr(ceilMode))};
  if constexpr (!isMax) {
    if (llvm::any_of(win->dilations, [](int64_t d) { return d != 1; }))
      return imp.nodeError() << "AveragePool with dilations is not supported";
    attrs.push_back(named(imp, "count_include_pad",
                          imp.builder.getBoolAttr(imp.intAttr("count_include_pad", 0))));
  }
  return setResult(imp, imp.createTyped<OpTy>({xt.clone(shape)}, {x}, attrs));
}

LogicalResult convertGlobalAveragePool(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  SmallVector<int64_t> axes;
  for (int64_t i = 2; i < typeOf(x).getRank(); ++i)
    axes.push_back(i);
  if (axes.empty())
    return imp.nodeError() << "GlobalAveragePool needs an [N, C, S...] input, got "
                           << typeOf(x);
  return setResult(imp,
                   imp.createInferred<ReduceMeanOp>(
                       {x}, {arrayAttr(imp, "axes", axes),
                             named(imp, "keepdims", imp.builder.getBoolAttr(true))}));
}

LogicalResult convertFlatten(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto xt = typeOf(x);
  int64_t rank = xt.getRank(), axis = imp.intAttr("axis", 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis > rank)
    return imp.nodeError() << "axis " << imp.intAttr("axis", 1)
                           << " is out of range for rank " << rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i)
    (i < axis ? outer : inner) *= xt.getDimSize(i);
  return setResult(imp, imp.createTyped<ReshapeOp>({xt.clone({outer, inner})}, {x}));
}

/// Clip = min(max(x, lo), hi): ds.max and ds.min pass the gradient only where x is
/// strictly inside (lo, hi), as torch's hardtanh (ReLU6) does.
LogicalResult convertClip(GraphImporter &imp, Node) {
  Value r = imp.inputValue(0);
  if (!r)
    return failure();
  for (int i : {1, 2}) {
    if (!imp.input(i))
      continue;
    Value bound = imp.inputValue(i);
    if (!bound)
      return failure();
    if (typeOf(bound).getRank() != 0 ||
        typeOf(bound).getElementType() != typeOf(r).getElementType())
      return imp.nodeError() << "input " << i << " (" << (i == 1 ? "min" : "max")
                             << ") must be a scalar of the input's element type, got "
                             << typeOf(bound);
    auto take = [&](auto op) -> LogicalResult {
      if (failed(op))
        return failure();
      r = (*op)->getResult(0);
      return success();
    };
    if (failed(i == 1 ? take(imp.createInferred<MaxOp>({r, bound}))
                      : take(imp.createInferred<MinOp>({r, bound}))))
      return failure();
  }
  imp.setOutput(0, r);
  return success();
}

/// A scalar constant of `type`'s element type.
Value scalarConstant(GraphImporter &imp, double v, Type elementType) {
  auto type = RankedTensorType::get({}, elementType);
  return ConstantOp::create(
      imp.builder, imp.loc,
      DenseElementsAttr::get(type, imp.builder.getFloatAttr(elementType, v)));
}

/// A [C] vector reshaped to [C, 1...] so that it broadcasts over x [N, C, S...].
Value perChannel(GraphImporter &imp, Value v, int64_t rank) {
  SmallVector<int64_t> shape{typeOf(v).getDimSize(0)};
  shape.resize(size_t(rank - 1), 1);
  return ReshapeOp::create(imp.builder, imp.loc, typeOf(v).clone(shape), v);
}

LogicalResult convertBatchNorm(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0), scale = imp.inputValue(1), bias = imp.inputValue(2);
  if (!x || !scale || !bias)
    return failure();
  auto xt = typeOf(x);
  int64_t rank = xt.getRank();
  if (rank < 2)
    return imp.nodeError() << "BatchNormalization needs an [N, C, ...] input, got " << xt;
  for (int i = 1; i < 5; ++i) {
    const ImportedValue *v = imp.input(i);
    if (!v)
      return imp.nodeError() << "input " << i << " is missing";
    auto t = v->type;
    if (t.getRank() != 1 || t.getDimSize(0) != xt.getDimSize(1) ||
        t.getElementType() != xt.getElementType())
      return imp.nodeError() << "input " << i << " ('" << imp.node->input(i)
                             << "') must be [" << xt.getDimSize(1) << "] of "
                             << xt.getElementType() << ", got " << t;
  }
  float eps = imp.floatAttr("epsilon", 1e-5f);
  Type elem = xt.getElementType();
  bool training = imp.intAttr("training_mode", 0) != 0 && !imp.options.inference;
  if (!training) {
    // Inference: the running statistics, as torch's eval mode.
    if (imp.outputUsed(1) || imp.outputUsed(2))
      return imp.nodeError() << "running_mean and running_var outputs exist only in "
                                "training mode";
    Value mean = imp.inputValue(3), var = imp.inputValue(4);
    if (!mean || !var)
      return failure();
    Value invStd = ReciprocalOp::create(
        imp.builder, imp.loc,
        SqrtOp::create(
            imp.builder, imp.loc,
            AddOp::create(imp.builder, imp.loc, var, scalarConstant(imp, eps, elem))));
    Value k = MulOp::create(imp.builder, imp.loc, invStd, scale);
    Value centered = SubOp::create(imp.builder, imp.loc, x, perChannel(imp, mean, rank));
    Value y = AddOp::create(
        imp.builder, imp.loc,
        MulOp::create(imp.builder, imp.loc, centered, perChannel(imp, k, rank)),
        perChannel(imp, bias, rank));
    imp.setOutput(0, y);
    return success();
  }
  auto c = typeOf(scale);
  auto bn = imp.createTyped<BatchNormOp>(
      {xt, c, c}, {x, scale, bias},
      {named(imp, "epsilon", imp.builder.getF32FloatAttr(eps))});
  if (failed(bn))
    return failure();
  imp.setOutput(0, bn->getResult());
  // running = momentum * running + (1 - momentum) * batch statistic, the variance
  // unbiased (n / (n - 1)) as PyTorch keeps it; ONNX's momentum is 1 - torch's.
  const ImportedValue *runMean = imp.input(3), *runVar = imp.input(4);
  if (!runMean->parameter || !runVar->parameter)
    return imp.nodeError() << "in training mode the running statistics ('"
                           << imp.node->input(3) << "', '" << imp.node->input(4)
                           << "') must be initializers, to be updated in place";
  double momentum = imp.floatAttr("momentum", 0.9f);
  int64_t n = xt.getNumElements() / xt.getDimSize(1);
  double unbias = n > 1 ? double(n) / double(n - 1) : 1.0;
  Value oldMean = imp.inputValue(3), oldVar = imp.inputValue(4);
  if (!oldMean || !oldVar)
    return failure();
  auto blend = [&](Value old, Value batch, double batchScale) -> Value {
    Value kept =
        MulOp::create(imp.builder, imp.loc, old, scalarConstant(imp, momentum, elem));
    Value added = MulOp::create(imp.builder, imp.loc, batch,
                                scalarConstant(imp, (1.0 - momentum) * batchScale, elem));
    return AddOp::create(imp.builder, imp.loc, kept, added);
  };
  Value newMean = blend(oldMean, bn->getMean(), 1.0);
  Value newVar = blend(oldVar, bn->getVariance(), unbias);
  AssignOp::create(imp.builder, imp.loc, runMean->parameter, newMean);
  AssignOp::create(imp.builder, imp.loc, runVar->parameter, newVar);
  if (imp.outputUsed(1))
    imp.setOutput(1, newMean);
  if (imp.outputUsed(2))
    imp.setOutput(2, newVar);
  return success();
}
} // namespace

void mlir::ds::onnx_import::populateConvolutionOps(ONNXOpTable &table) {
  table.onOp("Conv", 11, convertConv);
  // BatchNormalization-15 (14 added training_mode; 15 allows other scale/stat types).
  table.onOp("BatchNormalization", 14, convertBatchNorm);
  // MaxPool-12 (int8 inputs), 11 (pads with auto_pad), 10 (ceil_mode, dilations).
  table.onOp("MaxPool", 10, convertPool<MaxPoolOp>);
  // AveragePool-11; dilations arrive in 19.
  table.onOp("AveragePool", 10, convertPool<AvgPoolOp>);
  table.onOp("GlobalAveragePool", 1, convertGlobalAveragePool);
  table.onOp("Flatten", 11, convertFlatten);
  // Clip-11 takes min and max as optional inputs (before: attributes).
  table.onOp("Clip", 11, convertClip);
}

namespace {
/// Ops whose output 0 has the rank of their input 0.
bool keepsRank(StringRef op) {
  return llvm::is_contained({"Relu",
                             "Clip",
                             "BatchNormalization",
                             "MaxPool",
                             "AveragePool",
                             "Conv",
                             "GlobalAveragePool",
                             "Sigmoid",
                             "Tanh",
                             "Identity",
                             "Dropout",
                             "LeakyRelu",
                             "Neg",
                             "Abs",
                             "Exp",
                             "Log",
                             "Sqrt",
                             "Erf",
                             "Cast",
                             "Softmax",
                             "LayerNormalization"},
                            op);
}
bool broadcasts(StringRef op) {
  return llvm::is_contained({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where"},
                            op);
}
} // namespace

LogicalResult mlir::ds::onnx_import::checkWindowAttributes(
    GraphImporter &imp, const onnx::GraphProto &graph, llvm::StringMap<int64_t> ranks) {
  for (const onnx::TensorProto &t : graph.initializer())
    ranks.try_emplace(t.name(), t.dims_size());
  auto rankOf = [&](const onnx::NodeProto &n, int i) -> int64_t {
    if (i >= n.input_size())
      return -1;
    auto it = ranks.find(n.input(i));
    return it == ranks.end() ? -1 : it->second;
  };
  for (const onnx::NodeProto &n : graph.node()) {
    StringRef op = n.op_type();
    auto error = [&]() -> InFlightDiagnostic {
      return imp.fileError() << imp.describeNode(n) << ": ";
    };
    if (n.domain().empty() && (op == "Conv" || op == "MaxPool" || op == "AveragePool")) {
      int64_t xr = rankOf(n, 0), wr = op == "Conv" ? rankOf(n, 1) : -1;
      if (xr >= 0 && xr < 3)
        return error() << "input '" << n.input(0) << "' has rank " << xr << "; " << op
                       << " needs [N, C, S...]";
      if (xr >= 0 && wr >= 0 && xr != wr)
        return error() << "input '" << n.input(0) << "' has rank " << xr
                       << " but weight '" << n.input(1) << "' has rank " << wr;
      int64_t spatial = xr >= 0 ? xr - 2 : wr >= 0 ? wr - 2 : -1;
      for (const onnx::AttributeProto &a : n.attribute()) {
        StringRef name = a.name();
        int64_t per = name == "pads" ? 2 : 1;
        if (name != "kernel_shape" && name != "strides" && name != "dilations" &&
            name != "pads")
          continue;
        if (spatial < 0)
          spatial = a.ints_size() / per;
        if (a.ints_size() != per * spatial)
          return error() << "attribute '" << name << "' has " << a.ints_size()
                         << " values; " << per * spatial << " expected for " << spatial
                         << " spatial dims";
      }
      bool hasKernel = llvm::any_of(n.attribute(), [](const onnx::AttributeProto &a) {
        return a.name() == "kernel_shape";
      });
      if (op != "Conv" && !hasKernel)
        return error() << "attribute 'kernel_shape' is required";
    }
    if (n.domain().empty() && op == "GlobalAveragePool" && rankOf(n, 0) >= 0 &&
        rankOf(n, 0) < 3)
      return error() << "input '" << n.input(0) << "' has rank " << rankOf(n, 0)
                     << "; GlobalAveragePool needs [N, C, S...]";
    // Ranks for the nodes downstream, where the rule is obvious.
    if (n.output_size() > 0 && rankOf(n, 0) >= 0) {
      if (keepsRank(op)) {
        ranks[n.output(0)] = rankOf(n, 0);
      } else if (broadcasts(op)) {
        int64_t r = 0;
        for (int i = 0; i < n.input_size() && r >= 0; ++i)
          r = rankOf(n, i) < 0 ? -1 : std::max(r, rankOf(n, i));
        if (r >= 0)
          ranks[n.output(0)] = r;
      }
    }
  }
  return success();
}
