#!/usr/bin/python3
"""Exports the bundled training models to ONNX (opset 17, TrainingMode.TRAINING).

Run with Debian's interpreter (PyTorch 1.13 lives there):
    /usr/bin/python3 models/export_models.py

Writes, next to this script:
    mlp.onnx, mlp_dynbatch.onnx   MLP classifier (inputs x, y; outputs loss, logits)
    gpt.onnx, gpt_dynbatch.onnx   nanoGPT-style GPT (inputs idx, targets; outputs logits, loss)
The *_dynbatch files hold the same weights as their static twins, with a symbolic batch dim
"batch" on every input and every non-scalar output.  Everything is deterministic
(torch.manual_seed), so re-running gives the same weights and the same graphs.
"""
import argparse
import collections
import io
import math
import os
import sys

import onnx
import onnx.checker
import onnx.shape_inference
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17


# ---------------------------------------------------------------------------------------------
# MLP classifier
class MLP(nn.Module):
    def __init__(self, d_in=16, d_hidden=32, n_classes=10):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.fc3 = nn.Linear(d_hidden, n_classes)

    def forward(self, x, y):
        h = F.relu(self.fc1(x))
        h = F.gelu(self.fc2(h))
        logits = self.fc3(h)
        loss = F.cross_entropy(logits, y)
        return loss, logits


MLP_BATCH = 8


# ---------------------------------------------------------------------------------------------
# nanoGPT (Karpathy's model.py, non-flash attention path), trimmed to what is exported.
class GPTConfig:
    block_size = 32
    vocab_size = 65
    n_layer = 2
    n_head = 4
    n_embd = 64
    dropout = 0.0
    bias = True


GPT_BATCH = 4


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.n_head = cfg.n_head
        self.n_embd = cfg.n_embd
        # causal mask, a registered (float) buffer as in nanoGPT
        self.register_buffer(
            "bias",
            torch.tril(torch.ones(cfg.block_size, cfg.block_size)).view(1, 1, cfg.block_size, cfg.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = nn.ModuleDict(dict(
            c_fc=nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias),
            c_proj=nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias),
            dropout=nn.Dropout(cfg.dropout),
        ))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        m = self.mlp
        x = x + m.dropout(m.c_proj(F.gelu(m.c_fc(self.ln_2(x)))))  # exact (erf) GELU
        return x


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            drop=nn.Dropout(cfg.dropout),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=LayerNorm(cfg.n_embd, bias=cfg.bias),
        ))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


# ---------------------------------------------------------------------------------------------
def build_mlp():
    torch.manual_seed(0)
    return MLP()


def build_gpt():
    torch.manual_seed(1337)
    return GPT(GPTConfig())


def example_inputs(name):
    g = torch.Generator().manual_seed(7)
    if name == "mlp":
        return (torch.randn(MLP_BATCH, 16, generator=g), torch.randint(0, 10, (MLP_BATCH,), generator=g))
    c = GPTConfig
    return (torch.randint(0, c.vocab_size, (GPT_BATCH, c.block_size), generator=g),
            torch.randint(0, c.vocab_size, (GPT_BATCH, c.block_size), generator=g))


SPECS = {
    # name: (builder, input names, output names, outputs without a batch dim)
    "mlp": (build_mlp, ["x", "y"], ["loss", "logits"], {"loss"}),
    "gpt": (build_gpt, ["idx", "targets"], ["logits", "loss"], {"loss"}),
}


def export(model, name, path, dynamic, static_outputs=None):
    _, in_names, out_names, scalars = SPECS[name]
    dyn = None
    if dynamic:
        dyn = {n: {0: "batch"} for n in in_names + out_names if n not in scalars}
    buf = io.BytesIO()
    torch.onnx.export(model, example_inputs(name), buf,
                      export_params=True, opset_version=OPSET,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      input_names=in_names, output_names=out_names, dynamic_axes=dyn)
    m = onnx.load_from_string(buf.getvalue())
    if static_outputs is not None:
        # The exporter names some non-batch output dims symbolically (gpt: logits dim 1 becomes
        # "MatMullogits_dim_1" because the positions come from Range(Shape(idx)[1])).  Only the
        # batch dim is meant to be dynamic: pin every other output dim to the static export's value.
        for o, so in zip(m.graph.output, static_outputs):
            for d, sd in zip(o.type.tensor_type.shape.dim[1:], so.type.tensor_type.shape.dim[1:]):
                if d.HasField("dim_param") and d.dim_param != "batch":
                    d.dim_value = sd.dim_value
    m.producer_name = "ds-opt models/export_models.py (pytorch %s)" % torch.__version__
    m.doc_string = "%s%s, opset %d, TrainingMode.TRAINING, do_constant_folding=False" % (
        name, " (dynamic batch)" if dynamic else "", OPSET)
    onnx.save(m, path)
    return m


def check(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    inf = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True, data_prop=True)
    return m, inf


def histogram(m):
    return collections.Counter(n.op_type for n in m.graph.node)


def vi_str(vi):
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        dims = "?"
    else:
        dims = "x".join(d.dim_param if d.HasField("dim_param") else (str(d.dim_value) if d.HasField("dim_value") else "?")
                        for d in t.shape.dim) or "scalar"
    return "%s:%s[%s]" % (vi.name, onnx.TensorProto.DataType.Name(t.elem_type).lower(), dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outdir", default=HERE)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    for name in ("mlp", "gpt"):
        model = SPECS[name][0]()
        model.train()
        nparams = sum(p.numel() for p in model.parameters())
        static_outputs = None
        for dynamic in (False, True):
            fname = name + ("_dynbatch" if dynamic else "") + ".onnx"
            path = os.path.join(args.outdir, fname)
            e = export(model, name, path, dynamic, static_outputs)
            static_outputs = list(e.graph.output)
            m, inf = check(path)
            inits = m.graph.initializer
            n_init = sum(int(onnx.numpy_helper.to_array(t).size) for t in inits)
            # values left without a rank after inference (should be none with data_prop)
            unranked = [v.name for v in inf.graph.value_info if not v.type.tensor_type.HasField("shape")]
            print("== %s  (%d bytes, %d torch params, %d initializer elements in %d tensors)" % (
                fname, os.path.getsize(path), nparams, n_init, len(inits)))
            print("   inputs:  " + ", ".join(vi_str(v) for v in m.graph.input))
            print("   outputs: " + ", ".join(vi_str(v) for v in inf.graph.output))
            print("   unranked values after infer_shapes(data_prop=True): %d %s" % (len(unranked), unranked[:5]))
            h = histogram(m)
            print("   %d nodes: " % len(m.graph.node) + ", ".join("%s %d" % kv for kv in sorted(h.items())))
    return 0


if __name__ == "__main__":
    import onnx.numpy_helper  # noqa: F401
    sys.exit(main())
