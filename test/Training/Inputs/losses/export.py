"""Makes the inputs of test/Training/other-losses.test (run with /usr/bin/python3 here).

Three small PyTorch models the bundled ones do not cover: an NLL loss after LayerNorm, tanh
and log_softmax; an MSE regression through sigmoid; and a convolution (the test
compiles and runs it). Dynamic batch axes, as users export. Writes the .onnx files, the
data (64 samples) and the per-step losses of 30 torch.optim.AdamW steps (lr 0.01, no weight
decay, gradient clipping 1.0: the DeepSpeed defaults for the config c.json) on batches of 8
taken in order, as ds-run takes them.
"""
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

torch.manual_seed(0)


class NLL(nn.Module):
    def __init__(s):
        super().__init__()
        s.a, s.b, s.ln = nn.Linear(12, 20), nn.Linear(20, 5), nn.LayerNorm(20)

    def forward(s, x, y):
        return F.nll_loss(F.log_softmax(s.b(torch.tanh(s.ln(s.a(x)))), dim=-1), y)


class MSE(nn.Module):
    def __init__(s):
        super().__init__()
        s.a, s.b = nn.Linear(6, 16), nn.Linear(16, 3)

    def forward(s, x, t):
        return ((torch.sigmoid(s.b(F.relu(s.a(x)))) - t) ** 2).mean()


class Conv(nn.Module):
    def __init__(s):
        super().__init__()
        s.c = nn.Conv2d(1, 2, 3)

    def forward(s, x):
        return s.c(x).mean()


def export(name, model, args, inputs):
    torch.onnx.export(model, args, name + ".onnx", input_names=inputs, output_names=["loss"],
                      opset_version=17, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False,
                      dynamic_axes={n: {0: "batch"} for n in inputs})


def reference(name, model, inputs):
    init = {i.name: numpy_helper.to_array(i) for i in onnx.load(name + ".onnx").graph.initializer}
    model.load_state_dict({k: torch.tensor(init[k]) for k in model.state_dict()})
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.0)
    data = [np.load(os.path.join(name, i + ".npy")) for i in inputs]
    losses = []
    for s in range(30):
        lo = (s * 8) % 64
        opt.zero_grad()
        loss = model(*[torch.tensor(d[lo:lo + 8]) for d in data])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    json.dump({"loss": losses}, open(name + "_ref.json", "w"))


def main():
    rng = np.random.default_rng(0)
    nll, mse = NLL(), MSE()
    export("nll", nll, (torch.randn(8, 12), torch.randint(0, 5, (8,))), ["x", "y"])
    export("mse", mse, (torch.randn(8, 6), torch.rand(8, 3)), ["x", "t"])
    export("conv", Conv(), (torch.randn(2, 1, 5, 5),), ["x"])
    os.makedirs("nll", exist_ok=True)
    os.makedirs("mse", exist_ok=True)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    np.save("nll/x.npy", x)
    np.save("nll/y.npy", np.abs(x[:, 0] * 3).astype(np.int64) % 5)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    np.save("mse/x.npy", x)
    np.save("mse/t.npy", (1 / (1 + np.exp(-x[:, :3]))).astype(np.float32))
    reference("nll", nll, ["x", "y"])
    reference("mse", mse, ["x", "t"])


if __name__ == "__main__":
    main()
