"""Checks the offload memory formulas on ds-opt --memory-report=json outputs.

  check_memory.py DIR PSI WORLD

DIR holds <stage>-<opt>-<param>.json for the MLP in bf16 mixed precision (2 bytes per
parameter and gradient, 12 of optimizer state: fp32 master and two moments) with every
tensor split evenly, so the ZeRO formulas hold exactly (plus the 8-byte step counter,
which stays on the device). Offload must move exactly the optimizer (and, at stage 3 with
offload_param, the parameter shard) bytes off the device:
  stage 2, cpu:  device model states 2Psi + 2Psi/W (+8), host state 12Psi/W
  stage 3, cpu/cpu: device 2Psi/W (+8) (the gradient shard), host state 14Psi/W
  nvme: the same off the device; the swap file holds the state, each tensor at a
  4096-byte offset.
"""
import json
import os
import sys

d, psi, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fails = []


def load(name):
    return json.load(open(os.path.join(d, name + ".json")))["per_rank"]


def expect(name, key, want):
    got = load(name)[key]
    ok = got == want if not isinstance(want, tuple) else want[0] <= got <= want[1]
    print("%-16s %-18s %10d  %s %s" % (name, key, got, "==" if ok else "!=", want))
    if not ok:
        fails.append("%s: %s is %d, want %s" % (name, key, got, want))


def states(name):
    m = load(name)
    return m["parameters"] + m["gradients"] + m["optimizer_states"]


for s in (1, 2, 3):
    base = states("%d-none-none" % s)
    for o in ("cpu", "nvme"):
        n = "%d-%s-none" % (s, o)
        moved = 12 * psi // w
        if base - states(n) != moved:
            fails.append("%s: device model states drop by %d, want 12Psi/W = %d" %
                         (n, base - states(n), moved))
        expect(n, "optimizer_states", 8)
        if o == "cpu":
            expect(n, "host_state", moved)
            expect(n, "nvme", 0)
        else:
            expect(n, "host_state", 0)
            expect(n, "nvme", (moved, moved + 3 * 4096 * 6))
expect("2-cpu-none", "parameters", 2 * psi)
expect("2-cpu-none", "gradients", 2 * psi // w)
expect("3-cpu-cpu", "parameters", 0)
expect("3-cpu-cpu", "gradients", 2 * psi // w)
expect("3-cpu-cpu", "host_state", 14 * psi // w)
expect("3-nvme-nvme", "parameters", 0)
if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
print("PASS: offload moves exactly the offloaded bytes off the device")
