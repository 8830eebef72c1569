#!/usr/bin/python3
"""Runs ONNX's node conformance tests through ds-opt --mode=inference and ds-run --eval.

For every test under /usr/share/libonnx-testdata/data/node/*/ whose model uses only ops we
support (docs/ops.md, Constant/Identity, and the shape ops that fold at import), the inputs of
test_data_set_0 are converted to .npy, the model is compiled with
`ds-opt --mode=inference model.onnx -o plan.dsplan`, run with
`ds-run plan.dsplan --eval --whole-inputs --data D --out O` and every output is compared with
output_N.pb. Two adaptations keep ONNX's tests meaningful for a static-shaped compiler, and the
line of each adapted test says which applied:
  - operands that ds needs at import time (Reshape's shape, Slice's starts/ends/axes/steps,
    Unsqueeze's axes, Trilu's k, Dropout's ratio, ...) that a node test passes as graph inputs
    are baked into the model as Constant nodes holding test_data_set_0's values;
  - outputs that ds does not produce (LayerNormalization's Mean and InvStdDev) are dropped from
    the graph, and the remaining outputs are compared.
One line per test (PASS / FAIL / UNSUPPORTED / EXCLUDED, with the reason), then
`N passed, N failed, N unsupported, N excluded`. Exit status 1 when a test fails.

  scripts/onnx-node-tests.py [--build DIR | --ds-opt BIN --ds-run BIN] [--data DIR] [-j N] [--keep DIR] [--run-excluded] [FILTER...]

FILTER: substrings of test names (default: all tests). Needs /usr/bin/python3 with numpy and
onnx (Debian python3-numpy python3-onnx) and libonnx-testdata (scripts/setup.sh installs all).
"""
import argparse
import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = "/usr/share/libonnx-testdata/data/node"

# The importer's op table (`ds-translate --onnx-op-table`): op -> "convert" (imports on any
# inputs), "fold-only" (imports when its inputs are constants) or "folds-from-types".
SUPPORTED_OPS = {}


def load_op_table(ds_translate):
    out = subprocess.run([ds_translate, "--onnx-op-table", os.devnull], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        fields = line.split()
        SUPPORTED_OPS[fields[0]] = fields[2] if len(fields) > 2 else "convert"


MIN_OPSET, MAX_OPSET = 13, 17  # lib/Import/ONNXImporter.cpp kMinOpset/kMaxOpset

# Tests of supported ops that are not expected to pass, each with its reason.
UINT8 = "uint8 tensors: not a ds element type (f32 f64 f16 bf16 i64 i32 i1); the importer rejects them"
STRING = "string tensors: not a ds element type; the importer rejects them"
BF16_IN = "bfloat16 input: .npy has no bfloat16, so ds-run cannot be fed one"
SMALL_INT = ("int8/int16/uint8/uint16/uint32/uint64 tensors: not a ds element type "
             "(f32 f64 f16 bf16 i64 i32 i1); the importer rejects them")
UNSIGNED = "uint32/uint64 exponent: not a ds element type; the importer rejects it"
BF16_TRUNC = ("onnx 1.12's reference output truncates f32 to bfloat16; ds cast rounds to nearest "
              "even (docs/ops.md), so 5 of 12 elements differ by one bf16 ulp")
BN_TRAINING = ("training-mode BatchNormalization: --mode=inference normalizes with the running "
               "statistics (PyTorch's eval mode); batch statistics and the running-statistic "
               "update are checked by test/Training/batchnorm-running-stats.test")
WINDOW_3D = "3-D convolution/pooling windows: ds supports 1-D and 2-D"
ARGMAX = "MaxPool's Indices output: ds.max_pool has none"
DROPOUT_RNG = ("training-mode Dropout with ratio > 0: --mode=inference compiles Dropout as the "
               "identity (y = x, mask all true), and a training-mode mask would come from ds-run's "
               "own RNG (runtime/README.md), not numpy's, so outputs differ by design")
EXCLUDED = {
    "test_add_uint8": UINT8,
    "test_sub_uint8": UINT8,
    "test_mul_uint8": UINT8,
    "test_div_uint8": UINT8,
    **{"test_%s_%s" % (op, t): SMALL_INT for op in ("max", "min")
       for t in ("int8", "int16", "uint8", "uint16", "uint32", "uint64")},
    "test_cast_FLOAT_to_STRING": STRING,
    "test_cast_STRING_to_FLOAT": STRING,
    "test_castlike_FLOAT_to_STRING_expanded": STRING,
    "test_castlike_STRING_to_FLOAT_expanded": STRING,
    "test_cast_BFLOAT16_to_FLOAT": BF16_IN,
    "test_castlike_BFLOAT16_to_FLOAT_expanded": BF16_IN,
    "test_pow_types_float32_uint32": UNSIGNED,
    "test_pow_types_float32_uint64": UNSIGNED,
    "test_identity_opt": "optional-typed graph input/output: only tensors are supported",
    "test_identity_sequence": "sequence-typed graph input/output: only tensors are supported",
    "test_scatternd_add": "ScatterND reduction 'add': only 'none' is imported (a clear error)",
    "test_scatternd_multiply": "ScatterND reduction 'mul': only 'none' is imported (a clear error)",
    "test_training_dropout": DROPOUT_RNG,
    "test_training_dropout_default": DROPOUT_RNG,
    "test_training_dropout_default_mask": DROPOUT_RNG,
    "test_training_dropout_mask": DROPOUT_RNG,
    "test_cast_FLOAT_to_BFLOAT16": BF16_TRUNC,
    "test_castlike_FLOAT_to_BFLOAT16_expanded": BF16_IN + " (the unused 'like' input is bf16)",
    "test_batchnorm_epsilon_training_mode": BN_TRAINING,
    "test_batchnorm_example_training_mode": BN_TRAINING,
    "test_averagepool_3d_default": WINDOW_3D,
    "test_maxpool_3d_default": WINDOW_3D,
    "test_maxpool_with_argmax_2d_precomputed_pads": ARGMAX,
    "test_maxpool_with_argmax_2d_precomputed_strides": ARGMAX,
    "test_maxpool_2d_uint8": UINT8,
    **{"test_clip_default_int8_%s" % t: SMALL_INT for t in ("inbounds", "max", "min")},
}

# Operands the importer needs as constants (op -> operand indices); a node test that feeds one
# as a graph input gets it baked in as a Constant node.
CONST_OPERANDS = {
    "Reshape": [1], "Expand": [1], "Slice": [1, 2, 3, 4], "Split": [1], "Squeeze": [1],
    "Unsqueeze": [1], "ReduceSum": [1], "ReduceMean": [1], "ReduceMax": [1], "Trilu": [1],
    "Dropout": [1, 2], "ConstantOfShape": [0], "Range": [0, 1, 2], "Tile": [1], "CumSum": [1],
    "ScatterND": [1],
}
# Node outputs ds does not produce (op -> output indices); dropped from the graph's outputs.
UNSUPPORTED_OUTPUTS = {"LayerNormalization": [1, 2]}

# Tolerances per test-name prefix where an op warrants more than rtol 1e-5 / atol 1e-6
# (prefix, rtol, atol; the first match wins). None needed so far: every f32 test passes at the
# default, ints and bools compare exactly.
TOLERANCES = [
]

ONNX_TO_NP = {
    onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32, onnx.TensorProto.BOOL: np.bool_,
}


def read_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t, numpy_helper.to_array(t)


def bf16_bits_to_f32(a):
    return (a.astype(np.uint32) << 16).view(np.float32)


def classify(model):
    """Returns None if every op is supported and the opset in range, else the reason."""
    ops = sorted({n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")} |
                 {n.domain + "." + n.op_type for n in model.graph.node
                  if n.domain not in ("", "ai.onnx")})
    bad = [o for o in ops if o not in SUPPORTED_OPS]
    if bad:
        return "op(s) %s not supported" % ", ".join(bad)
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    for n in model.graph.node:
        if SUPPORTED_OPS.get(n.op_type) == "fold-only" and n.op_type != "Constant" and \
                any(i and i not in constants for i in n.input):
            return "op %s imports only on constant inputs" % n.op_type
    opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if opset and not MIN_OPSET <= opset[0] <= MAX_OPSET:
        return "opset %d outside %d-%d" % (opset[0], MIN_OPSET, MAX_OPSET)
    return None


def tolerance(name, dtype):
    for prefix, rtol, atol in TOLERANCES:
        if name.startswith(prefix):
            return rtol, atol
    return 1e-5, 1e-6  # also f16/f64: every such output here comes from an exact cast


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "timed out after %d s" % timeout
    return p.returncode, p.stdout.decode(errors="replace")


def first_error(text):
    lines = [l for l in text.splitlines() if l.strip()]
    for l in lines:
        if "error" in l.lower():
            return l.strip()
    return lines[-1].strip() if lines else "(no output)"


def declared_shape(value_info):
    """The static shape of a graph input, or None."""
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims = []
    for d in tt.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(d.dim_value)
    return tuple(dims)


def run_test(test_dir, work, tools):
    """Returns (status, reason)."""
    name = os.path.basename(test_dir)
    model = onnx.load(os.path.join(test_dir, "model.onnx"), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    data_set = os.path.join(test_dir, "test_data_set_0")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    out = os.path.join(work, "out")
    os.makedirs(data)
    notes = []
    # Graph inputs that feed operands needed at import time.
    bake = set()
    for n in model.graph.node:
        for k in CONST_OPERANDS.get(n.op_type, []):
            if k < len(n.input) and n.input[k]:
                bake.add(n.input[k])
    baked = []
    for k, gi in enumerate(graph_inputs):
        path = os.path.join(data_set, "input_%d.pb" % k)
        if not os.path.exists(path):
            return "FAIL", "missing %s" % path
        t, a = read_tensor(path)
        if gi.name in bake:
            t.name = gi.name
            baked.append((gi, onnx.helper.make_node("Constant", [], [gi.name], value=t)))
            continue
        if t.data_type == onnx.TensorProto.BFLOAT16:
            return "FAIL", "bfloat16 input '%s' cannot be written as .npy" % gi.name
        shape = declared_shape(gi)
        if shape is not None and a.shape != shape and a.size == int(np.prod(shape)):
            notes.append("input '%s' data %s reshaped to its declared %s" %
                         (gi.name, list(a.shape), list(shape)))
            a = a.reshape(shape)
        np.save(os.path.join(data, gi.name + ".npy"), np.array(a, order="C"))  # keeps 0-d
    for gi, const in baked:
        model.graph.input.remove(gi)
    for gi, const in reversed(baked):
        model.graph.node.insert(0, const)
    if baked:
        notes.append("baked as constants: " + ", ".join(gi.name for gi, _ in baked))
    # Outputs ds does not produce: drop them (and keep output_N.pb's numbering).
    outputs = list(enumerate(model.graph.output))
    drop = set()
    for n in model.graph.node:
        for k in UNSUPPORTED_OUTPUTS.get(n.op_type, []):
            if k < len(n.output) and n.output[k]:
                drop.add(n.output[k])
                n.output[k] = ""
    if drop:
        for n in model.graph.node:  # trailing empty outputs are simply absent
            while len(n.output) and not n.output[-1]:
                del n.output[-1]
        outputs = [(k, o) for k, o in outputs if o.name not in drop]
        for o in [o for o in model.graph.output if o.name in drop]:
            model.graph.output.remove(o)
        notes.append("not compared: " + ", ".join(sorted(drop)))
    model_path = os.path.join(work, "model.onnx")
    onnx.save(model, model_path)
    plan = os.path.join(work, "plan.dsplan")
    rc, text = run([tools["ds-opt"], "--mode=inference", model_path, "-o", plan],
                   120)
    if rc != 0:
        return "FAIL", "ds-opt: " + first_error(text)
    rc, text = run([tools["ds-run"], plan, "--eval", "--whole-inputs", "--data",
                    data, "--out", out, "--threads", "1"], 120)
    if rc != 0:
        return "FAIL", "ds-run: " + first_error(text)
    for k, go in outputs:
        t, want = read_tensor(os.path.join(data_set, "output_%d.pb" % k))
        path = os.path.join(out, go.name + ".npy")
        if not os.path.exists(path):
            return "FAIL", "output '%s' not written" % go.name
        got = np.load(path)
        if t.data_type == onnx.TensorProto.BFLOAT16:
            # ds-run writes bf16 as '<u2' bits; onnx 1.12's to_array gives the bit patterns too
            got = bf16_bits_to_f32(got)
            want = bf16_bits_to_f32(np.asarray(want).astype(np.uint16)) \
                if np.asarray(want).dtype == np.uint16 else np.asarray(want, np.float32)
        want = np.asarray(want)
        if got.shape != want.shape:
            return "FAIL", "output '%s': shape %s, expected %s" % (go.name, got.shape, want.shape)
        if got.dtype != want.dtype:
            return "FAIL", "output '%s': dtype %s, expected %s" % (go.name, got.dtype, want.dtype)
        if np.issubdtype(want.dtype, np.floating):
            rtol, atol = tolerance(name, want.dtype)
            ok = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
            if not ok.all():
                i = np.unravel_index(np.argmin(ok), ok.shape) if ok.ndim else ()
                err = np.abs(got.astype(np.float64) - want.astype(np.float64))
                return "FAIL", ("output '%s': %d of %d elements differ (rtol %g atol %g); "
                                "first at %s: got %r, expected %r; max abs err %.3g" %
                                (go.name, int((~ok).sum()), ok.size, rtol, atol, tuple(i),
                                 got[i].item(), want[i].item(), np.nanmax(err)))
        elif not np.array_equal(got, want):
            ok = got == want
            i = np.unravel_index(np.argmin(ok), ok.shape) if ok.ndim else ()
            return "FAIL", ("output '%s': %d of %d elements differ; first at %s: got %r, "
                            "expected %r" % (go.name, int((~ok).sum()), ok.size, tuple(i),
                                             got[i].item(), want[i].item()))
    return "PASS", "; ".join(notes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory holding bin/ds-opt and bin/ds-run")
    ap.add_argument("--ds-opt", help="the ds-opt binary (default: BUILD/bin/ds-opt)")
    ap.add_argument("--ds-run", help="the ds-run binary (default: BUILD/bin/ds-run)")
    ap.add_argument("--ds-translate",
                    help="the ds-translate binary (default: BUILD/bin/ds-translate)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="ONNX node test directory")
    ap.add_argument("-j", type=int, default=2, help="tests run in parallel (at most 2)")
    ap.add_argument("--keep", help="keep each test's files under this directory")
    ap.add_argument("--run-excluded", action="store_true",
                    help="run the excluded tests too (to see whether an exclusion still holds)")
    ap.add_argument("filters", nargs="*")
    args = ap.parse_args()
    tools = {"ds-opt": args.ds_opt or os.path.join(args.build, "bin", "ds-opt"),
             "ds-run": args.ds_run or os.path.join(args.build, "bin", "ds-run")}
    tools["ds-translate"] = args.ds_translate or os.path.join(args.build, "bin", "ds-translate")
    for tool, path in tools.items():
        path = shutil.which(path) or path
        if not os.access(path, os.X_OK):
            sys.exit("onnx-node-tests: %s not found (build it first)" % path)
    load_op_table(shutil.which(tools["ds-translate"]) or tools["ds-translate"])
    tests = sorted(d for d in glob.glob(os.path.join(args.data, "*"))
                   if os.path.exists(os.path.join(d, "model.onnx")))
    if not tests:
        sys.exit("onnx-node-tests: no tests under %s (install libonnx-testdata: "
                 "scripts/setup.sh)" % args.data)
    if args.filters:
        tests = [t for t in tests if any(f in os.path.basename(t) for f in args.filters)]
    for name in EXCLUDED:
        if not os.path.isdir(os.path.join(args.data, name)):
            print("note: excluded test %s does not exist" % name)

    results = {}
    runnable = []
    for t in tests:
        name = os.path.basename(t)
        reason = classify(onnx.load(os.path.join(t, "model.onnx"), load_external_data=False))
        if reason:
            results[name] = ("UNSUPPORTED", reason)
        elif name in EXCLUDED and not args.run_excluded:
            results[name] = ("EXCLUDED", EXCLUDED[name])
        else:
            runnable.append(t)

    tmp = args.keep or tempfile.mkdtemp(prefix="onnx-node-tests.")
    try:
        def job(t):
            try:
                return run_test(t, os.path.join(tmp, os.path.basename(t)), tools)
            except Exception as e:  # a broken test file is a failure, not a crash
                return "FAIL", "%s: %s" % (type(e).__name__, e)
        with concurrent.futures.ThreadPoolExecutor(max(1, min(args.j, 2))) as pool:
            for t, r in zip(runnable, pool.map(job, runnable)):
                results[os.path.basename(t)] = r
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    counts = {"PASS": 0, "FAIL": 0, "UNSUPPORTED": 0, "EXCLUDED": 0}
    for name in sorted(results):
        status, reason = results[name]
        counts[status] += 1
        print("%-11s %s%s" % (status, name, ": " + reason if reason else ""))
    print("%d passed, %d failed, %d unsupported, %d excluded" %
          (counts["PASS"], counts["FAIL"], counts["UNSUPPORTED"], counts["EXCLUDED"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
