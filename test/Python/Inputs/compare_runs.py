"""Checks a ds_opt run against ds-run's: the same step losses (as --metrics prints them) and
checkpoint shards equal byte for byte (weights, optimizer state, positions).
    compare_runs.py DS_RUN_METRICS.json PY_LOSSES.json DS_RUN_CKPT PY_CKPT STEPS"""
import filecmp
import json
import os
import sys

ref, got = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
steps = int(sys.argv[5])
ref_loss = ["%.9g" % l for l in ref["loss"]]
assert len(ref_loss) == steps and got["loss"] == ref_loss, (ref_loss, got["loss"])
tag = "global_step%d" % steps
a, b = os.path.join(sys.argv[3], tag), os.path.join(sys.argv[4], tag)
shards = sorted(f for f in os.listdir(a) if f.endswith(".safetensors"))
assert shards and shards == sorted(f for f in os.listdir(b) if f.endswith(".safetensors"))
for f in shards:
    assert filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False), f
print("SAME: %d steps, loss %s -> %s, %d shards bitwise" % (steps, ref_loss[0], ref_loss[-1],
                                                           len(shards)))
