"""Compares ds-run's per-step losses with a reference trajectory.

  compare_losses.py METRICS.json REFERENCE.json RTOL [STEPS]
REFERENCE is a models/ref/*/train_*.json (PyTorch) or another ds-run metrics file.
"""
import json
import sys

import numpy as np


def losses(path):
    return np.array(json.load(open(path))["loss"], dtype=np.float64)


def main():
    got, want = losses(sys.argv[1]), losses(sys.argv[2])
    rtol = float(sys.argv[3])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else len(want)
    if len(got) < steps or len(want) < steps:
        sys.exit("have %d and %d losses, need %d" % (len(got), len(want), steps))
    got, want = got[:steps], want[:steps]
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-30)
    worst = int(np.argmax(rel))
    print("max relative difference %.3g at step %d (%.8f vs %.8f)" %
          (rel[worst], worst + 1, got[worst], want[worst]))
    if rel[worst] > rtol:
        sys.exit("step %d differs by %.3g > %g" % (worst + 1, rel[worst], rtol))


if __name__ == "__main__":
    main()
