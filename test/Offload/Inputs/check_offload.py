"""Checks that offload changes where bytes live, not the math.

  check_offload.py DIR

DIR holds, per case, <case>-<offload>.json (ds-run --metrics) and <case>-<offload>/
(ds-run --save-params), where <offload> is none or opt-param (cpu-none, nvme-none,
cpu-cpu, nvme-nvme). Every offloaded run must equal its <case>-none run bit for bit: the
same loss at every step and the same parameter files (the host runs the same kernels on
the same bytes). Each run's measured bytes per tier (device, host, NVMe) must also equal
the plan's, and an offloaded run must keep fewer bytes on the device than its none run.
Prints one line per case; exits 1 listing every failure.
"""
import json
import os
import sys

import numpy as np

d = sys.argv[1]
fails = []
runs = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json"))
compared = 0
for run in runs:
    m = json.load(open(os.path.join(d, run + ".json")))
    for tier in ("device", "host", "nvme"):
        planned = m["planned_%s_bytes" % tier]
        if any(v != planned for v in m["%s_bytes" % tier]):
            fails.append("%s: measured %s bytes %s != planned %d" %
                         (run, tier, m["%s_bytes" % tier], planned))
    case, _, offload = run.rpartition("-")
    if offload == "none":
        continue
    case, _, opt = case.rpartition("-")
    ref = case + "-none"
    if not os.path.exists(os.path.join(d, ref + ".json")):
        fails.append("%s: no reference run %s" % (run, ref))
        continue
    r = json.load(open(os.path.join(d, ref + ".json")))
    if m["loss"] != r["loss"]:
        diff = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(m["loss"], r["loss"]))
        fails.append("%s: losses differ from %s (max rel %.3g)" % (run, ref, diff))
    pd, rd = os.path.join(d, run), os.path.join(d, ref)
    names = sorted(os.listdir(rd))
    if sorted(os.listdir(pd)) != names:
        fails.append("%s: saved parameter files differ from %s" % (run, ref))
    for n in names:
        a, b = np.load(os.path.join(pd, n)), np.load(os.path.join(rd, n))
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            fails.append("%s: %s differs from %s" % (run, n, ref))
    if not m["device_bytes"][0] < r["device_bytes"][0]:
        fails.append("%s: device bytes %d not below %d without offload" %
                     (run, m["device_bytes"][0], r["device_bytes"][0]))
    compared += 1
    print("%s: bitwise equal to %s; device %d -> %d bytes, host %d, NVMe %d" %
          (run, ref, r["device_bytes"][0], m["device_bytes"][0], m["host_bytes"][0],
           m["nvme_bytes"][0]))
if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
print("PASS: %d offloaded runs equal their runs without offload" % compared)
