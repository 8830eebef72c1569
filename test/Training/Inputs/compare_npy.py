"""Compares .npy files: every REF_DIR/<name>.npy with GOT_DIR/<name>.npy, or two files.

  compare_npy.py REF GOT TOL
Fails when |got - ref| > TOL * (1 + |ref|) anywhere, or a file is missing; prints the worst.
"""
import os
import sys

import numpy as np


def main():
    ref, got, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    pairs = ([(os.path.join(ref, f), os.path.join(got, f)) for f in sorted(os.listdir(ref))]
             if os.path.isdir(ref) else [(ref, got)])
    worst, where = 0.0, None
    for r, g in pairs:
        if not os.path.exists(g):
            sys.exit("missing %s" % g)
        a, b = np.load(r).astype(np.float64), np.load(g).astype(np.float64)
        if a.shape != b.shape:
            sys.exit("%s: shape %s, expected %s" % (g, b.shape, a.shape))
        err = float(np.max(np.abs(a - b) / (1 + np.abs(a)))) if a.size else 0.0
        if err > worst:
            worst, where = err, g
    print("%d file(s), worst scaled difference %.3g (%s)" % (len(pairs), worst, where))
    if worst > tol:
        sys.exit("difference %.3g > %g in %s" % (worst, tol, where))


if __name__ == "__main__":
    main()
