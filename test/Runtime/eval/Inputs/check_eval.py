"""Checks a `ds-run --eval --metrics` run against onnxruntime's reference outputs and the plan.

  check_eval.py --out OUT --ref REFDIR --metrics M.json --plan P.dsplan --proto PLAN.proto
                [--rtol 1e-5] [--atol 1e-6]

- every REFDIR/<name>.npy equals OUT/<name>.npy: same shape and dtype, floats within rtol
  (relative to the reference) + atol, integers exactly;
- M.json: measured_peak_bytes == predicted_peak_bytes on every rank (one entry per rank, and the
  prediction is the plan's predicted_peak_bytes);
- the plan: arena_bytes < the sum of the sizes of all ARENA buffers (the memory plan reuses
  memory), and predicted_peak_bytes <= arena_bytes.
The plan is decoded with the protobuf python module; plan_pb2 is generated with protoc into a
temporary directory. Prints one summary line; exit 1 on any mismatch.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

DTYPE_BYTES = {1: 4, 2: 8, 3: 2, 4: 2, 5: 8, 6: 4, 7: 1}  # plan.proto DType -> bytes
ARENA = 1
MAGIC = b"DSPLAN\0\2"
HEADER_BYTES = 16  # magic + 8-byte payload checksum (runtime/proto/plan.proto)


def fail(msg):
    print("check_eval: FAIL: " + msg)
    sys.exit(1)


def load_plan(path, proto):
    tmp = tempfile.mkdtemp(prefix="check_eval.")
    subprocess.check_call(["protoc", "--python_out=" + tmp, "-I", os.path.dirname(proto),
                           os.path.basename(proto)])
    sys.path.insert(0, tmp)
    import plan_pb2  # noqa: E402
    data = open(path, "rb").read()
    if not data.startswith(MAGIC):
        fail("%s: bad magic" % path)
    plan = plan_pb2.Plan()
    plan.ParseFromString(data[HEADER_BYTES:])
    return plan


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--proto", required=True)
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-6)
    args = ap.parse_args()

    refs = sorted(glob.glob(os.path.join(args.ref, "*.npy")))
    if not refs:
        fail("no reference outputs in " + args.ref)
    worst = 0.0
    for ref in refs:
        name = os.path.basename(ref)
        want = np.load(ref)
        path = os.path.join(args.out, name)
        if not os.path.exists(path):
            fail("output %s missing" % path)
        got = np.load(path)
        if got.shape != want.shape or got.dtype != want.dtype:
            fail("%s: %s %s, expected %s %s" % (name, got.dtype, got.shape, want.dtype,
                                                 want.shape))
        if np.issubdtype(want.dtype, np.floating):
            g, w = got.astype(np.float64), want.astype(np.float64)
            ok = np.abs(g - w) <= args.atol + args.rtol * np.abs(w)
            worst = max(worst, float(np.max(np.abs(g - w) / (args.atol + args.rtol * np.abs(w)))))
            if not ok.all():
                i = np.unravel_index(np.argmin(ok), ok.shape) if ok.ndim else ()
                fail("%s: %d of %d elements differ (rtol %g, atol %g); first at %s: got %r, "
                     "expected %r" % (name, int((~ok).sum()), ok.size, args.rtol, args.atol,
                                      tuple(i), got[i].item(), want[i].item()))
        elif not np.array_equal(got, want):
            fail("%s: integer outputs differ" % name)

    metrics = json.load(open(args.metrics))
    plan = load_plan(args.plan, args.proto)
    pred, meas = metrics["predicted_peak_bytes"], metrics["measured_peak_bytes"]
    world = metrics["world_size"]
    if len(pred) != world or len(meas) != world:
        fail("metrics: %d/%d peak entries for %d ranks" % (len(pred), len(meas), world))
    for r in range(world):
        if meas[r] != pred[r]:
            fail("rank %d: measured_peak_bytes %d != predicted_peak_bytes %d" %
                 (r, meas[r], pred[r]))
        if pred[r] != plan.predicted_peak_bytes:
            fail("rank %d: metrics predicted %d, plan says %d" %
                 (r, pred[r], plan.predicted_peak_bytes))
    arena_buffers = [b for b in plan.buffers if b.placement == ARENA]
    total = sum(DTYPE_BYTES[b.dtype] * int(np.prod(b.shape, dtype=np.int64))
                for b in arena_buffers)
    if metrics["arena_bytes"] != plan.arena_bytes:
        fail("metrics arena_bytes %d != plan's %d" % (metrics["arena_bytes"], plan.arena_bytes))
    if not plan.predicted_peak_bytes <= plan.arena_bytes:
        fail("predicted peak %d exceeds arena %d" % (plan.predicted_peak_bytes, plan.arena_bytes))
    if not plan.arena_bytes < total:
        fail("arena_bytes %d is not smaller than the %d bytes of its %d buffers: no reuse" %
             (plan.arena_bytes, total, len(arena_buffers)))
    print("check_eval: %d outputs match (worst |err| / (atol + rtol*|ref|) = %.3f); peak %s measured = predicted on %d "
          "rank(s); arena %d < %d bytes of %d arena buffers (%.1f%%)" %
          (len(refs), worst, meas, world, plan.arena_bytes, total, len(arena_buffers),
           100.0 * plan.arena_bytes / total))


if __name__ == "__main__":
    main()
