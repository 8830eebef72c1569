#!/usr/bin/python3
"""Writes the bundled training data sets in the layout ds-run reads (numpy only, no torch).

    /usr/bin/python3 models/make_data.py

One directory per model, one `<graph input name>.npy` per graph input, leading dim = samples:
    data/mlp/x.npy        float32 [256, 16]   standard normal features
    data/mlp/y.npy        int64   [256]       labels 0..9 from a fixed random linear teacher
                                              (argmax(x @ W + b)), so the MLP can learn them
    data/gpt/idx.npy      int64   [256, 32]   character tokens of a fixed, repeated paragraph
    data/gpt/targets.npy  int64   [256, 32]   idx shifted by one character (next-token targets)
Sample s of the GPT set is characters [32 s, 32 s + 32) of the token stream (no overlap).
Deterministic: fixed seeds, fixed text.
"""
import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

MLP_SAMPLES, MLP_IN, MLP_CLASSES = 256, 16, 10
GPT_SAMPLES, GPT_BLOCK, GPT_VOCAB = 4 * 64, 32, 65

TEXT = (
    "The compiler reads a training graph, splits every parameter across the ranks, and plans "
    "each gather and reduction before the first step is taken. Nothing is decided at run time "
    "that could have been decided on the desk: the buffers, the streams, the order of the "
    "collectives and the bytes each rank will hold. When the plan is wrong, a test says so, "
    "long before a single GPU is rented. Rank zero keeps the first slice, rank one the next; "
    "the optimizer steps only what it owns, and the weights are gathered again when they are "
    "needed. Quick brown foxes jump over lazy dogs (twice, 3 times, or 42?) - why not!\n"
)

# The character vocabulary: every character of TEXT, sorted; token = index in this string.
VOCAB = "".join(sorted(set(TEXT)))
assert len(VOCAB) <= GPT_VOCAB, len(VOCAB)


def encode(s):
    table = {c: i for i, c in enumerate(VOCAB)}
    return np.array([table[c] for c in s], dtype=np.int64)


def make_mlp():
    rng = np.random.default_rng(20261126)
    x = rng.standard_normal((MLP_SAMPLES, MLP_IN)).astype(np.float32)
    w = rng.standard_normal((MLP_IN, MLP_CLASSES)).astype(np.float32)
    b = (0.5 * rng.standard_normal(MLP_CLASSES)).astype(np.float32)
    y = np.argmax(x @ w + b, axis=1).astype(np.int64)
    return {"x": x, "y": y}


def make_gpt():
    need = GPT_SAMPLES * GPT_BLOCK + 1
    reps = need // len(TEXT) + 1
    stream = encode(TEXT * reps)[:need]
    idx = np.stack([stream[s * GPT_BLOCK:(s + 1) * GPT_BLOCK] for s in range(GPT_SAMPLES)])
    targets = np.stack([stream[s * GPT_BLOCK + 1:(s + 1) * GPT_BLOCK + 1] for s in range(GPT_SAMPLES)])
    return {"idx": idx.astype(np.int64), "targets": targets.astype(np.int64)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outdir", default=os.path.join(HERE, "data"))
    args = ap.parse_args()
    for name, arrays in (("mlp", make_mlp()), ("gpt", make_gpt())):
        d = os.path.join(args.outdir, name)
        os.makedirs(d, exist_ok=True)
        for k, v in arrays.items():
            np.save(os.path.join(d, k + ".npy"), v)
            print("%s/%s.npy  %s %s  min %s max %s" % (name, k, v.dtype, list(v.shape), v.min(), v.max()))
    y = make_mlp()["y"]
    print("mlp class counts:", np.bincount(y, minlength=MLP_CLASSES).tolist())
    print("gpt vocab: %d characters used of %d" % (len(VOCAB), GPT_VOCAB))


if __name__ == "__main__":
    main()
