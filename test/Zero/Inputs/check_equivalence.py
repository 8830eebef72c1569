"""Checks that ZeRO stages and world sizes change memory, not math (DESIGN invariant 1).

  check_equivalence.py DIR MODELS CONFIGS STAGES WORLDS [--rtol R] [--atol A] [--steps N]

MODELS, CONFIGS, STAGES, WORLDS are comma-separated. For every combination, DIR holds
  <model>-<config>-s<stage>-w<world>.json   ds-run --metrics (per-step "loss")
  <model>-<config>-s<stage>-w<world>/       ds-run --save-params (one .npy per initializer)
and each run is compared with <model>-<config>-s0-w1 (stage 0, world 1, same config):
  * every step's loss within relative RTOL (default 1e-5);
  * the same set of parameter files, each with the same dtype and shape, and elementwise
    |got - want| <= ATOL + RTOL * |want| (ATOL default 1e-7).
Why an absolute floor for parameters: ranks sum gradients in a different order (all-reduce /
reduce-scatter trees, per-rank micro-batches), which perturbs each step's update by a few f32
ulps of the *update* (about lr * 1e-7). For weights that weight decay and Adam have driven to
almost zero (biases, in particular), that perturbation is large relative to the value itself
while being at float-rounding level in absolute terms; ATOL = 1e-7 is still orders of
magnitude below one optimizer step (lr 1e-3 to 1e-2), so a wrong gradient, a missing shard or
a misplaced element still fails. Losses are O(1) and need no floor.
One exception is not rounding but mathematics: the key bias of a GPT attention layer (the
middle third of `*.attn.c_attn.bias`, initialized to zero) has a gradient that is identically
zero, since it adds q.b_k to every score of a query and softmax ignores per-row shifts. What
the backward pass computes for it is pure rounding noise (~1e-10), which Adam turns into
updates of about lr*|g|/eps, so its values are different noise in every run (|x| ~ 1e-6 after
30 steps). Those elements are checked to stay at noise level (|x| <= NOISE, 1e-4) in both runs
instead of elementwise: a real gradient reaching them would move them by ~lr per step.
Prints one line per case with the max relative loss difference and the worst parameter
difference, and exits 1 listing every failing case.
"""
import argparse
import json
import os
import re
import sys

import numpy as np


def load_losses(path):
    return np.array(json.load(open(path))["loss"], dtype=np.float64)


def load_params(d):
    if not os.path.isdir(d):
        raise SystemExit("%s: no saved parameters (ds-run --save-params)" % d)
    return {f: np.load(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".npy")}


def compare(case, ref, dirname, args):
    """Returns (summary line, list of failure strings)."""
    errs = []
    got_l = load_losses(os.path.join(dirname, case + ".json"))
    want_l = load_losses(os.path.join(dirname, ref + ".json"))
    n = args.steps
    if len(got_l) < n or len(want_l) < n:
        return "%s: too few steps" % case, ["%s: %d and %d losses, need %d" %
                                             (case, len(got_l), len(want_l), n)]
    got_l, want_l = got_l[:n], want_l[:n]
    if not np.all(np.isfinite(got_l)):
        errs.append("%s: non-finite loss" % case)
    rel = np.abs(got_l - want_l) / np.maximum(np.abs(want_l), 1e-30)
    ws = int(np.argmax(rel))
    if rel[ws] > args.rtol:
        errs.append("%s: step %d loss %.9g vs %.9g (relative %.3g > %g)" %
                    (case, ws + 1, got_l[ws], want_l[ws], rel[ws], args.rtol))

    got_p = load_params(os.path.join(dirname, case))
    want_p = load_params(os.path.join(dirname, ref))
    if sorted(got_p) != sorted(want_p):
        errs.append("%s: parameter files %s differ from the reference's %s" %
                    (case, sorted(got_p), sorted(want_p)))
    worst_ratio, worst_desc, max_rel = 0.0, "-", 0.0
    for name in sorted(set(got_p) & set(want_p)):
        g, w = got_p[name], want_p[name]
        if g.dtype != w.dtype or g.shape != w.shape:
            errs.append("%s: %s is %s%s, the reference's %s%s" %
                        (case, name, g.dtype, list(g.shape), w.dtype, list(w.shape)))
            continue
        if g.size == 0:
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if re.search(r"attn\.c_attn\.bias\.npy$", name) and g.ndim == 1 and g.size % 3 == 0:
            e = g.size // 3
            noise = np.maximum(np.abs(g64[e:2 * e]), np.abs(w64[e:2 * e]))
            if np.max(noise) > args.noise:
                errs.append("%s: %s key-bias slice reaches %.3g (> noise level %g): it has a "
                            "zero gradient" % (case, name, np.max(noise), args.noise))
            g64 = np.concatenate([g64[:e], g64[2 * e:]])
            w64 = np.concatenate([w64[:e], w64[2 * e:]])
            g = g64
        diff = np.abs(g64 - w64)
        ratio = diff / (args.atol + args.rtol * np.abs(w64))
        i = int(np.argmax(ratio))
        big = np.abs(w64) >= args.atol / args.rtol
        if np.any(big):
            max_rel = max(max_rel, float(np.max(diff[big] / np.abs(w64[big]))))
        if not np.isfinite(ratio.flat[i]) or ratio.flat[i] > worst_ratio:
            worst_ratio = float(ratio.flat[i])
            idx = np.unravel_index(i, g.shape) if g.ndim else ()
            worst_desc = "%s%s %.9g vs %.9g" % (name[:-4], list(idx), g64.flat[i], w64.flat[i])
        if not (ratio.flat[i] <= 1.0):
            errs.append("%s: %s%s = %.9g, reference %.9g (|diff| %.3g > %g + %g*|ref|)" %
                        (case, name, list(np.unravel_index(i, g.shape)), g64.flat[i],
                         w64.flat[i], diff.flat[i], args.atol, args.rtol))
    line = ("%-28s loss max rel %.2e (step %2d)  params max rel %.2e  worst %.3f of tol (%s)" %
            (case, rel[ws], ws + 1, max_rel, worst_ratio, worst_desc))
    return line, errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("models")
    ap.add_argument("configs")
    ap.add_argument("stages")
    ap.add_argument("worlds")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-7)
    ap.add_argument("--noise", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    failures = []
    cases = 0
    for m in args.models.split(","):
        for c in args.configs.split(","):
            ref = "%s-%s-s0-w1" % (m, c)
            for s in args.stages.split(","):
                for w in args.worlds.split(","):
                    case = "%s-%s-s%s-w%s" % (m, c, s, w)
                    if case == ref:
                        continue
                    line, errs = compare(case, ref, args.dir, args)
                    cases += 1
                    print(line)
                    failures += errs
    if failures:
        print("\n".join(["FAIL:"] + failures))
        sys.exit(1)
    print("PASS: %d runs equal their stage-0 world-1 reference" % cases)


if __name__ == "__main__":
    main()
