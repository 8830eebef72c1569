#!/usr/bin/python3
"""PyTorch side of scripts/bench-step.sh: times one forward (inference) step of a nanoGPT-style
ONNX model (models/gpt*.onnx, models/gen_gpt2.py output) in PyTorch with the same weights.

  bench_step_torch.py MODEL.onnx --heads H --data DIR --steps N --threads T [--warmup W]
                      [--check OUT/logits.npy]

torch.onnx is an exporter, not an importer, so the module is written out here (the GPT of
models/export_models.py, sized from the initializers) and its parameters and mask buffers are
loaded from the ONNX initializers by name. Inputs: DIR/idx.npy and DIR/targets.npy, exactly one
batch. Prints `torch ms/step M` (median over N timed steps after W warm-up steps) and, with
--check, the largest difference between its logits and ds-run's.
Needs Debian's python3-torch + python3-onnx under /usr/bin/python3.
"""
import argparse
import math
import statistics
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, embd, heads, block):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(embd, eps=1e-5)
        self.ln_2 = nn.LayerNorm(embd, eps=1e-5)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(embd, 3 * embd)
        self.attn.c_proj = nn.Linear(embd, embd)
        self.attn.register_buffer("bias", torch.zeros(1, 1, block, block))
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(embd, 4 * embd)
        self.mlp.c_proj = nn.Linear(4 * embd, embd)

    def attention(self, x):
        B, T, C = x.size()
        H = self.heads
        q, k, v = self.attn.c_attn(x).split(C, dim=2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.attn.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.attn.c_proj(y)

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))  # erf GELU


class GPT(nn.Module):
    """nanoGPT as in models/export_models.py (dropout 0, bias, lm_head tied to wte)."""

    def __init__(self, vocab, block, embd, heads, layers):
        super().__init__()
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(vocab, embd)
        self.transformer.wpe = nn.Embedding(block, embd)
        self.transformer.h = nn.ModuleList([Block(embd, heads, block) for _ in range(layers)])
        self.transformer.ln_f = nn.LayerNorm(embd, eps=1e-5)

    def forward(self, idx, targets):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = F.linear(x, self.transformer.wte.weight)  # tied lm_head
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def load(path, heads):
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    vocab, embd = inits["transformer.wte.weight"].shape
    block = inits["transformer.wpe.weight"].shape[0]
    layers = len({k.split(".")[2] for k in inits if k.startswith("transformer.h.")})
    model = GPT(vocab, block, embd, heads, layers)
    state = model.state_dict()
    missing = [k for k in state if k not in inits]
    if missing:
        sys.exit("bench_step_torch: initializers missing for %s" % missing[:5])
    model.load_state_dict({k: torch.from_numpy(np.array(inits[k])) for k in state})
    return model.eval(), (vocab, block, embd, model.transformer.h[0].heads, layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heads", type=int, required=True,
                    help="attention heads (not recorded in the weights)")
    ap.add_argument("--check", help="ds-run's logits.npy for the same batch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, (vocab, block, embd, heads, layers) = load(args.model, args.heads)
    idx = torch.from_numpy(np.load(args.data + "/idx.npy"))
    targets = torch.from_numpy(np.load(args.data + "/targets.npy"))
    print("torch %s: %d layers, embd %d, %d heads, vocab %d, batch %s, %d threads" %
          (torch.__version__, layers, embd, heads, vocab, list(idx.shape), torch.get_num_threads()))
    times = []
    with torch.no_grad():
        for s in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            logits, loss = model(idx, targets)
            dt = time.perf_counter() - t0
            if s >= args.warmup:
                times.append(dt * 1e3)
    if args.check:
        ref = np.load(args.check)
        got = logits.numpy()
        err = np.abs(got.astype(np.float64) - ref)
        rel = float(np.max(err / (1e-6 + 1e-5 * np.abs(ref))))
        print("torch vs ds-run logits: max abs diff %.3g, worst |diff|/(1e-6 + 1e-5*|ds-run|) "
              "%.3f" % (float(err.max()), rel))
    print("torch ms/step %.3f (median of %d; min %.3f)" %
          (statistics.median(times), len(times), min(times)))


if __name__ == "__main__":
    main()
