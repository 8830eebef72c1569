"""Compares a training run of the fused-attention plan with the unfused one of the same model.

  compare_fusion.py UNFUSED FUSED [--rtol R] [--atol A] [--noise N] [--steps S]

UNFUSED and FUSED are path prefixes: <prefix>.json is ds-run --metrics (per-step "loss"),
<prefix>/ its --save-params directory. Checks every step's loss within relative RTOL (default
1e-5) and every saved parameter elementwise within ATOL + RTOL * |unfused| (ATOL 1e-7: see
test/Zero/Inputs/check_equivalence.py for why an absolute floor). The key-bias slice of a fused
qkv projection (middle third of *attn.c_attn.bias / *self_attn.in_proj_bias) has an exactly
zero gradient (softmax ignores per-row shifts), so only rounding noise moves it, differently in
each arithmetic: it must stay below NOISE (1e-4) in both runs instead. Prints the max relative
loss and parameter differences; exits 1 on a failure.
"""
import argparse
import json
import os
import re
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("unfused")
    ap.add_argument("fused")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-7)
    ap.add_argument("--noise", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    want = np.array(json.load(open(a.unfused + ".json"))["loss"], dtype=np.float64)
    got = np.array(json.load(open(a.fused + ".json"))["loss"], dtype=np.float64)
    errs = []
    if len(want) < a.steps or len(got) < a.steps:
        sys.exit("too few steps: %d and %d, need %d" % (len(want), len(got), a.steps))
    want, got = want[:a.steps], got[:a.steps]
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-30)
    if not np.all(np.isfinite(got)) or rel.max() > a.rtol:
        errs.append("loss: step %d %.9g vs %.9g (relative %.3g)" %
                    (int(rel.argmax()) + 1, got[rel.argmax()], want[rel.argmax()], rel.max()))
    names = sorted(f for f in os.listdir(a.unfused) if f.endswith(".npy"))
    if names != sorted(f for f in os.listdir(a.fused) if f.endswith(".npy")):
        errs.append("the saved parameter files differ")
    worst = 0.0
    for name in names:
        w = np.load(os.path.join(a.unfused, name)).astype(np.float64).ravel()
        g = np.load(os.path.join(a.fused, name)).astype(np.float64).ravel()
        if re.search(r"(attn\.c_attn\.bias|self_attn\.in_proj_bias)\.npy$", name) and w.size % 3 == 0:
            e = w.size // 3
            noise = max(np.abs(w[e:2 * e]).max(), np.abs(g[e:2 * e]).max())
            if noise > a.noise:
                errs.append("%s: key-bias slice reaches %.3g" % (name, noise))
            w = np.concatenate([w[:e], w[2 * e:]])
            g = np.concatenate([g[:e], g[2 * e:]])
        excess = np.abs(g - w) - (a.atol + a.rtol * np.abs(w))
        if excess.size and excess.max() > 0:
            i = int(excess.argmax())
            errs.append("%s[%d]: %.9g vs %.9g" % (name, i, g[i], w[i]))
        worst = max(worst, float((np.abs(g - w) / np.maximum(np.abs(w), 1e-30)).max(initial=0)))
    print("%s: max relative loss difference %.3g over %d steps, %d parameters compared" %
          (os.path.basename(a.fused), rel.max(), a.steps, len(names)))
    for e in errs:
        print("FAIL: " + e)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
