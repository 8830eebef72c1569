#!/usr/bin/python3
"""A tiny seeded PyTorch model over the elementwise and composed ops, exported and trained.

    elementwise_model.py OUTDIR

Writes OUTDIR/model.onnx (torch.onnx.export: opset 17, training mode, no constant folding,
the loss as the output), OUTDIR/data/{x,y}.npy, the DeepSpeed configs OUTDIR/s0.json (world 1,
batch 4) and OUTDIR/s3.json (ZeRO-3, batch 8 = 2 ranks x 4), and PyTorch's AdamW loss
trajectories OUTDIR/ref_s0.json and OUTDIR/ref_s3.json ({"loss": [...]}, STEPS steps; the
2-rank reference averages the gradients of the two micro-batches as DDP does).

On activations: CumSum, Tile (repeat), LessOrEqual, GreaterOrEqual, Not, And, Or (masks),
Max, Min, Abs, Sin, Cos, Log, Exp, Neg, Reciprocal, ScatterND (a slice assignment). The constant tables (rotary-style Cos/Sin,
T5-style Abs/Log/Min buckets, OPT-style CumSum positions) are traced by torch.onnx.export into
Constant nodes; test/Import/ONNX/runtime-folding.onnxtxt and composed.onnxtxt fold such
subgraphs at import.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

STEPS = 6
MICRO = 4
SAMPLES = 64
LR = 0.01


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(6, 8)
        self.fc2 = torch.nn.Linear(16, 1)

    def forward(self, x, y):
        # Constant subgraphs (rotary-style tables, relative buckets, positions).
        pos = torch.arange(8, dtype=torch.float32)
        table = torch.cos(pos * 0.5) + torch.sin(pos * 0.25)
        rel = torch.arange(8) - 3
        bucket = torch.min(torch.log(torch.abs(rel).float() + 1.0), torch.tensor(1.5))
        near = (rel <= 1).float()
        positions = torch.cumsum(torch.ones(1, 8, dtype=torch.int64), dim=1) - 1
        const = (table + bucket * near + positions[0].float() * 0.01).repeat(2)  # 16

        h = self.fc1(x)                                  # B x 8
        h = torch.cumsum(h, dim=1) * 0.5                 # CumSum
        h = h.repeat(1, 2)                               # Tile: B x 16
        mask = ((h <= 0.5) | (h >= 2.0)) & ~(h > 4.0)    # LessOrEqual, GreaterOrEqual, Or, Not, And
        h = torch.where(mask, h, h * 0.5)
        h = torch.maximum(h, torch.sin(h)) + torch.minimum(torch.cos(h), -h).abs()
        h = h + torch.log(torch.exp(-h.abs()) + 1.0) + torch.reciprocal(h * h + 1.0)
        h = h + const
        shifted = torch.zeros_like(h)                    # T5-style shift right: ScatterND
        shifted[:, 1:] = h[:, :-1]
        shifted[:, 0] = 0.5
        h = h + shifted
        out = self.fc2(h).squeeze(-1)
        d = out - y
        return (d * d).mean()


def config(batch, stage):
    c = {
        "train_batch_size": batch,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": 0.0,
        "optimizer": {"type": "AdamW", "params": {"lr": LR, "betas": [0.9, 0.999], "eps": 1e-8,
                                                  "weight_decay": 0.01}},
    }
    if stage:
        c["zero_optimization"] = {"stage": stage, "stage3_param_persistence_threshold": 0}
    return c


def reference(model, x, y, batch):
    m = Model()
    m.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(m.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.01)
    losses = []
    for s in range(STEPS):
        lo = (s * batch) % SAMPLES
        micro = [(lo + k * MICRO, lo + (k + 1) * MICRO) for k in range(batch // MICRO)]
        opt.zero_grad()
        total = 0.0
        for a, b in micro:
            loss = m(torch.from_numpy(x[a:b]), torch.from_numpy(y[a:b]))
            (loss / len(micro)).backward()
            total += loss.item() / len(micro)
        opt.step()
        losses.append(total)
    return losses


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, 6)).astype(np.float32)
    y = rng.standard_normal(SAMPLES).astype(np.float32)
    np.save(os.path.join(out, "data", "x.npy"), x)
    np.save(os.path.join(out, "data", "y.npy"), y)
    model = Model()
    torch.onnx.export(model, (torch.from_numpy(x[:MICRO]), torch.from_numpy(y[:MICRO])),
                      os.path.join(out, "model.onnx"), opset_version=17,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      input_names=["x", "y"], output_names=["loss"])
    for name, batch, stage in [("s0", MICRO, 0), ("s3", 2 * MICRO, 3)]:
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(config(batch, stage), f, indent=2)
        with open(os.path.join(out, "ref_" + name + ".json"), "w") as f:
            json.dump({"loss": reference(model, x, y, batch)}, f)


if __name__ == "__main__":
    main()
