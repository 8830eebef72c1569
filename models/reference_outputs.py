#!/usr/bin/env python3
"""Forward references from onnxruntime for every bundled model (what `ds-run --eval` is compared to).

    /usr/bin/python3 -m venv --system-site-packages /work/venv-ort
    /work/venv-ort/bin/pip install onnxruntime
    /work/venv-ort/bin/python models/reference_outputs.py

For each model M in {mlp, mlp_dynbatch, gpt, gpt_dynbatch} it feeds the first batch of the model's
data set (data/mlp or data/gpt: the first 8 resp. 4 samples) and writes
    ref/M/eval/<output name>.npy        every graph output, as onnxruntime computes it
    ref/M/eval/inputs/<input name>.npy  the inputs it used
Graph optimizations are disabled (ORT_DISABLE_ALL) so the numbers come from the plain ONNX ops,
one thread.  The models are training exports: their Dropout nodes have ratio 0 and
training_mode=true, which is the identity.  Compare with relative tolerance 1e-5.
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))

MODELS = {
    # model: (data dir, batch)
    "mlp": ("mlp", 8),
    "mlp_dynbatch": ("mlp", 8),
    "gpt": ("gpt", 4),
    "gpt_dynbatch": ("gpt", 4),
}


def run(model, data, batch, outroot):
    path = os.path.join(HERE, model + ".onnx")
    m = onnx.load(path)
    init = {t.name for t in m.graph.initializer}
    in_names = [i.name for i in m.graph.input if i.name not in init]
    feeds = {n: np.load(os.path.join(HERE, "data", data, n + ".npy"))[:batch] for n in in_names}
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    outs = sess.run(out_names, feeds)
    d = os.path.join(outroot, model, "eval")
    os.makedirs(os.path.join(d, "inputs"), exist_ok=True)
    for n, v in feeds.items():
        np.save(os.path.join(d, "inputs", n + ".npy"), v)
    summary = []
    for n, v in zip(out_names, outs):
        np.save(os.path.join(d, n + ".npy"), v)
        summary.append("%s %s %s%s" % (n, v.dtype, list(v.shape),
                                        " = %.7g" % float(v) if v.ndim == 0 else " |max| %.4g" % np.abs(v).max()))
    print("%-13s %s" % (model, "; ".join(summary)))
    return dict(zip(out_names, outs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outdir", default=os.path.join(HERE, "ref"))
    args = ap.parse_args()
    print("onnxruntime", ort.__version__)
    res = {m: run(m, d, b, args.outdir) for m, (d, b) in MODELS.items()}
    # the dynamic-batch exports hold the same weights: their outputs must agree with the static ones
    for base in ("mlp", "gpt"):
        for k, v in res[base].items():
            diff = np.max(np.abs(v - res[base + "_dynbatch"][k]))
            assert diff <= 1e-5 * max(1.0, np.max(np.abs(v))), (base, k, diff)


if __name__ == "__main__":
    main()
