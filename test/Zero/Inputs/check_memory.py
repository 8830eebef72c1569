"""Checks the per-rank memory of ZeRO plans against the fp32 ZeRO formulas (DESIGN invariant 3).

  check_memory.py PB2_DIR MODEL.onnx WORLD DIR STAGES [--max-stage3-fraction F]

PB2_DIR holds plan_pb2.py (protoc --python_out of runtime/proto/plan.proto); DIR holds
s<stage>.dsplan and s<stage>.json (ds-run --metrics) for every stage in STAGES (comma list).
Checks, for every stage:
  (a) measured peak == predicted peak on every rank;
  (c) persistent bytes - frozen parameter buffers (the causal masks `*.attn.bias`, taken
      exactly from the plan) follow fp32 Adam's model states, Psi = trainable elements
      (4 bytes parameter + 4 gradient + 8 moments; an fp32 parameter is its own master,
      so there is no separate master copy -- DeepSpeed keeps one, +4 Psi / W in stages 1-2):
        stage 0: 16 Psi          stage 1: 4 Psi + 4 Psi + 8 Psi / W
        stage 2: 4 Psi + (4 Psi + 8 Psi) / W                        stage 3: 16 Psi / W
      from below exactly (a sharded term counts ceil(n/W) elements per tensor), and from
      above within W padding elements per tensor for each sharded state plus 64-byte
      alignment for every persistent buffer (which also covers the step counter);
and, when stages 0 and 3 are both given,
  (b) stage 3's per-rank bytes (arena + persistent) < F (default 0.30) of stage 0's.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx

ELEM = {1: 4, 2: 8, 3: 2, 4: 2, 5: 8, 6: 4, 7: 1}  # ds.plan.DType -> bytes


def nbytes(buf):
    n = int(np.prod(list(buf.shape))) if len(buf.shape) else 1
    return n * ELEM[buf.dtype]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pb2")
    ap.add_argument("model")
    ap.add_argument("world", type=int)
    ap.add_argument("dir")
    ap.add_argument("stages")
    ap.add_argument("--max-stage3-fraction", type=float, default=0.30)
    args = ap.parse_args()
    sys.path.insert(0, args.pb2)
    import plan_pb2  # noqa: E402

    W = args.world
    model = onnx.load(args.model)
    trainable = [int(np.prod(t.dims)) for t in model.graph.initializer
                 if t.data_type == onnx.TensorProto.FLOAT and not t.name.endswith(".attn.bias")]
    psi = sum(trainable)
    shard = sum((n + W - 1) // W for n in trainable)  # per-rank elements of one sharded state
    nt = len(trainable)
    print("Psi %d trainable elements in %d tensors, world %d" % (psi, nt, W))
    formula = {0: 16 * psi, 1: 8 * psi + 8 * shard, 2: 4 * psi + 12 * shard, 3: 16 * shard}
    sharded_states = {0: 0, 1: 3, 2: 4, 3: 4}  # 4-byte states stored as flat shards

    errors = []
    total = {}
    for s in [int(x) for x in args.stages.split(",")]:
        m = json.load(open(os.path.join(args.dir, "s%d.json" % s)))
        raw = open(os.path.join(args.dir, "s%d.dsplan" % s), "rb").read()
        plan = plan_pb2.Plan()
        plan.ParseFromString(raw[16:])  # after the magic and checksum
        bufs = {b.id: b for b in plan.buffers}
        align = plan.alignment
        frozen = [bufs[p.buffer] for p in plan.parameters if not p.trainable]
        frozen_bytes = sum(nbytes(b) for b in frozen)
        npers = sum(1 for b in plan.buffers if b.placement == plan_pb2.PERSISTENT)
        pred, meas = m["predicted_peak_bytes"], m["measured_peak_bytes"]
        if len(pred) != W or pred != meas:
            errors.append("stage %d: predicted peak %s != measured %s" % (s, pred, meas))
        states = m["persistent_bytes"] - frozen_bytes
        want = formula[s]
        slack = sharded_states[s] * 4 * W * nt + align * npers
        total[s] = m["arena_bytes"] + m["persistent_bytes"]
        print("stage %d: arena %d + persistent %d = %d per rank; persistent - %d frozen = %d, "
              "formula %d (+%d, slack %d); peak %d predicted = measured" %
              (s, m["arena_bytes"], m["persistent_bytes"], total[s], frozen_bytes, states,
               want, states - want, slack, pred[0]))
        if not (want <= states <= want + slack):
            errors.append("stage %d: model-state bytes %d outside [%d, %d] (16 Psi formula)" %
                          (s, states, want, want + slack))
    if 0 in total and 3 in total:
        frac = total[3] / total[0]
        print("stage 3 / stage 0 per-rank bytes: %.3f" % frac)
        if frac >= args.max_stage3_fraction:
            errors.append("stage 3 uses %.1f%% of stage 0's per-rank bytes (%d of %d), not < %.0f%%"
                          % (100 * frac, total[3], total[0], 100 * args.max_stage3_fraction))
    if errors:
        print("\n".join(["FAIL:"] + errors))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
