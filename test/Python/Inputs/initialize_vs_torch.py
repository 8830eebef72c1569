"""ds_opt.initialize on the bundled GPT's torch.nn.Module (no ONNX file given) against
PyTorch: the stored reference trajectory (models/ref/gpt/train_adamw.json) and a live torch
AdamW run from the same weights, losses within 1e-4 and state_dict() within 1e-4.
    initialize_vs_torch.py STEPS"""
import json
import os
import sys

import numpy as np
import torch

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "models")
sys.path.insert(0, MODELS)
import ds_opt  # noqa: E402
import export_models  # noqa: E402
from train_reference import load_onnx_weights  # noqa: E402

steps = int(sys.argv[1])
ref = json.load(open(os.path.join(MODELS, "ref", "gpt", "train_adamw.json")))
cfg_path = os.path.join(MODELS, "configs", "gpt", "adamw.json")
cfg = json.load(open(cfg_path))
idx = np.load(os.path.join(MODELS, "data", "gpt", "idx.npy"))
targets = np.load(os.path.join(MODELS, "data", "gpt", "targets.npy"))
G = cfg["train_batch_size"]


def build():
    torch.manual_seed(0)
    m = export_models.build_gpt()
    load_onnx_weights(m, os.path.join(MODELS, "gpt.onnx"))
    return m


model = build()
engine, _, _, _ = ds_opt.initialize(model=model, config=cfg_path,
                                    example_inputs=(torch.from_numpy(idx[:G]),
                                                    torch.from_numpy(targets[:G])))
losses = []
for s in range(steps):
    rows = np.arange(s * G, (s + 1) * G) % len(idx)
    losses.append(engine.train_batch(torch.from_numpy(idx[rows]), torch.from_numpy(targets[rows])))

# The live PyTorch run (AdamW as in train_reference.py).
torch_model = build()
torch_model.train()
op = cfg["optimizer"]["params"]
opt = torch.optim.AdamW(torch_model.parameters(), lr=op["lr"], betas=tuple(op["betas"]),
                        eps=op["eps"], weight_decay=op["weight_decay"])
torch_losses = []
for s in range(steps):
    rows = np.arange(s * G, (s + 1) * G) % len(idx)
    opt.zero_grad()
    loss = torch_model(torch.from_numpy(idx[rows]), torch.from_numpy(targets[rows]))[1]
    loss.backward()
    opt.step()
    torch_losses.append(loss.item())

worst = 0.0
for s in range(steps):
    for other in (torch_losses[s], ref["loss"][s]):
        d = abs(losses[s] - other) / max(1.0, abs(other))
        worst = max(worst, d)
        assert d <= 1e-4, (s, losses[s], torch_losses[s], ref["loss"][s])
params = engine.state_dict()
named = dict(torch_model.named_parameters())
assert set(named) <= set(params), sorted(set(named) - set(params))
wdiff = max(float(np.max(np.abs(params[n] - p.detach().numpy()))) for n, p in named.items())
assert wdiff <= 1e-4, wdiff
print("MATCH: %d steps, loss %.6f -> %.6f, worst relative loss difference %.2e, "
      "%d parameters within %.2e of torch" % (steps, losses[0], losses[-1], worst, len(named),
                                              wdiff))
print("lr", engine.get_lr(), "global_steps", engine.global_steps)
