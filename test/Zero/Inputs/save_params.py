"""Helpers for save-params.test.

  save_params.py rename IN.onnx OUT.onnx OLD=NEW...   renames initializers (and their uses)
  save_params.py check MODEL.onnx DIR                 DIR holds exactly the model's
      initializers as <name with '/' -> '__'>.npy, bit-identical in dtype, shape and values
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def rename(src, dst, pairs):
    m = onnx.load(src)
    ren = dict(p.split("=", 1) for p in pairs)
    for t in m.graph.initializer:
        t.name = ren.get(t.name, t.name)
    for n in m.graph.node:
        for i, x in enumerate(n.input):
            n.input[i] = ren.get(x, x)
    onnx.save(m, dst)


def check(model, d):
    m = onnx.load(model)
    want = {t.name.replace("/", "__") + ".npy": numpy_helper.to_array(t)
            for t in m.graph.initializer}
    got = sorted(os.listdir(d))
    if got != sorted(want):
        sys.exit("files %s, expected %s" % (got, sorted(want)))
    for f, w in sorted(want.items()):
        g = np.load(os.path.join(d, f))
        if g.dtype != w.dtype or g.shape != w.shape or not np.array_equal(g, w):
            sys.exit("%s: %s%s differs from the initializer %s%s" %
                     (f, g.dtype, list(g.shape), w.dtype, list(w.shape)))
        print("%s %s %s" % (f, w.dtype, list(w.shape)))
    print("OK: %d parameters" % len(want))


if __name__ == "__main__":
    if sys.argv[1] == "rename":
        rename(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        check(sys.argv[2], sys.argv[3])
