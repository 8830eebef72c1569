#!/usr/bin/python3
"""Generates GPT-2-structured training graphs of billions of parameters without their weights.

    /usr/bin/python3 models/gen_large_gpt.py 6.7b --out /tmp/gpt_6.7b.onnx   # 32 x 4096, seq 2048
    /usr/bin/python3 models/gen_large_gpt.py 66b --out /tmp/gpt_66b.onnx     # 80 x 8192, seq 4096
    /usr/bin/python3 models/gen_large_gpt.py custom --layers 2 --embd 64 --heads 4 --vocab 96 \\
        --seq 32 --out /tmp/small.onnx                                      # a small one (tests)

The graph is models/gen_gpt2.py's, node for node (the structure torch.onnx.export writes for
nanoGPT, which ds-fuse-attention recognises). Every initializer is ONNX external data in
<out>.data, a sparse file: the generator sets its size with truncate and writes no weight,
so reading a weight gives zeros and a 66B model costs a few KiB of disk. Only the causal
mask buffer (transformer.h.<i>.attn.bias, the same tril of ones in every layer) is written,
once; every layer's entry points at that one copy. What this is for: compiling (the memory
report, --memory-budget), not training; the zero weights make the loss constant.
Presets (GPT-3 paper, table 2.1, with GPT-2's vocabulary): 6.7b = 32 layers, d 4096, 32
heads, seq 2048; 66b = 80 layers, d 8192, 64 heads, seq 4096 (the issue's 66B shape).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_gpt2 import Builder, build  # noqa: E402

PRESETS = {
    "6.7b": dict(layers=32, embd=4096, heads=32, vocab=50257, seq=2048),
    "66b": dict(layers=80, embd=8192, heads=64, vocab=50257, seq=4096),
}
ALIGN = 4096  # external-data offsets on page boundaries (mmap-friendly)


class SparseBuilder(Builder):
    """Initializers as external data at increasing offsets of one sparse file."""

    def __init__(self, location):
        super().__init__()
        self.location = location
        self.size = 0
        self.shared = {}   # (shape) -> offset of a buffer written once
        self.writes = []   # (offset, bytes) actually written

    def _entry(self, name, shape, offset, length):
        t = TensorProto()
        t.name = name
        t.data_type = TensorProto.FLOAT
        t.dims.extend(shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", self.location), ("offset", str(offset)),
                     ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.inits.append(t)
        return name

    def _reserve(self, length):
        offset = self.size
        self.size = (offset + length + ALIGN - 1) // ALIGN * ALIGN
        return offset

    def param(self, name, shape, make, shared=False):
        length = int(np.prod(shape)) * 4
        if not shared:
            return self._entry(name, shape, self._reserve(length), length)
        key = tuple(shape)
        if key not in self.shared:
            offset = self._reserve(length)
            self.shared[key] = offset
            self.writes.append((offset, np.ascontiguousarray(make(), dtype="<f4").tobytes()))
        return self._entry(name, shape, self.shared[key], length)

    def write(self, path):
        with open(path, "wb") as f:
            f.truncate(self.size)   # a hole: no blocks allocated for the weights
            for offset, data in self.writes:
                f.seek(offset)
                f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=sorted(PRESETS) + ["custom"])
    ap.add_argument("--out", required=True, help="the .onnx to write (weights in <out>.data)")
    for k in ("layers", "embd", "heads", "vocab", "seq"):
        ap.add_argument("--" + k, type=int, help="override the preset's " + k)
    args = ap.parse_args()
    shape = dict(PRESETS.get(args.preset, {}))
    for k in ("layers", "embd", "heads", "vocab", "seq"):
        if getattr(args, k) is not None:
            shape[k] = getattr(args, k)
    missing = [k for k in ("layers", "embd", "heads", "vocab", "seq") if k not in shape]
    if missing:
        ap.error("custom needs --" + ", --".join(missing))
    if shape["embd"] % shape["heads"]:
        ap.error("--embd %d is not a multiple of --heads %d" % (shape["embd"], shape["heads"]))

    t0 = time.time()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    location = os.path.basename(out) + ".data"
    g = SparseBuilder(location)
    model = build(shape["layers"], shape["embd"], shape["heads"], shape["vocab"],
                  block=shape["seq"], seq=shape["seq"], seed=0, builder=g)
    model.doc_string += " (gen_large_gpt.py: sparse external data, weights read as zeros)"
    g.write(os.path.join(os.path.dirname(out), location))
    onnx.save_model(model, out)
    onnx.checker.check_model(out)   # resolves every external-data entry against the file
    st = os.stat(out + ".data")
    n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer
                   if not t.name.endswith(".attn.bias"))
    print("%s: %d parameters (%.2fB), layers=%d d=%d heads=%d vocab=%d seq=%d; %s: %.1f GiB "
          "apparent, %.1f MiB on disk; %.1f s" % (
              out, n_params, n_params / 1e9, shape["layers"], shape["embd"], shape["heads"],
              shape["vocab"], shape["seq"], location, st.st_size / 2**30,
              st.st_blocks * 512 / 2**20, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
