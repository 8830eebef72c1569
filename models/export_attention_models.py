#!/usr/bin/python3
"""Exports two more attention models for the ds-fuse-attention tests (opset 17, TRAINING mode).

Run with Debian's interpreter (PyTorch 1.13 lives there):
    /usr/bin/python3 models/export_attention_models.py [--outdir DIR] [--seq T]

Writes, next to this script (or into DIR):
    encoder.onnx   nn.TransformerEncoder (2 layers, batch_first, causal float mask from
                   nn.Transformer.generate_square_subsequent_mask, dropout 0) over token
                   embeddings with a linear head and cross-entropy: torch's
                   nn.MultiheadAttention path ([B*H, T, D] bmm, q scaled before the matmul,
                   the mask added by baddbmm)
    encoder_pad.onnx  the same encoder with a key padding mask input `pad` (bool [4, T], true
                   = padding), merged by nn.MultiheadAttention into the float attention mask
    gqa.onnx       Llama-style grouped-query attention (4 query heads over 2 key-value
                   heads, separate bias-free q/k/v projections, repeat_kv by
                   [:, :, None].expand().reshape(), q kᵀ * d^-0.5 plus an additive causal
                   triu(-inf) mask, softmax in f32) in pre-norm blocks with a SiLU MLP
    gpt2_hf.onnx   a faithful small re-implementation of Hugging Face GPT-2's attention
                   forward (Conv1D projections, heads split by view/permute, scores divided by
                   sqrt(d), torch.where(bool tril buffer, w, finfo.min), attn_dropout p=0)
Inputs idx, targets int64 [4, T] (and pad); outputs logits, loss.  Fixed seeds: re-running gives the
same files.
"""
import argparse
import io
import math
import os

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
VOCAB, EMBD, HEADS, LAYERS, BATCH = 65, 64, 4, 2, 4


class EncoderLM(nn.Module):
    """Token + position embeddings, a causal nn.TransformerEncoder, a linear head."""

    def __init__(self, seq):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, EMBD)
        self.wpe = nn.Embedding(seq, EMBD)
        layer = nn.TransformerEncoderLayer(EMBD, HEADS, dim_feedforward=4 * EMBD, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.head = nn.Linear(EMBD, VOCAB)

    def forward(self, idx, targets, pad=None):
        t = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(0, t, dtype=torch.long))
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        x = self.encoder(x, mask=mask, src_key_padding_mask=pad)
        logits = self.head(x)
        loss = F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))
        return logits, loss


def repeat_kv(x, n_rep):
    """transformers' repeat_kv: [B, Hkv, S, D] -> [B, Hkv * n_rep, S, D]."""
    b, hkv, slen, d = x.shape
    x = x[:, :, None, :, :].expand(b, hkv, n_rep, slen, d)
    return x.reshape(b, hkv * n_rep, slen, d)


class GQAttention(nn.Module):
    """Llama's eager attention (without rotary embeddings and the cache)."""

    KV_HEADS = 2

    def __init__(self):
        super().__init__()
        self.head_dim = EMBD // HEADS
        self.q_proj = nn.Linear(EMBD, HEADS * self.head_dim, bias=False)
        self.k_proj = nn.Linear(EMBD, self.KV_HEADS * self.head_dim, bias=False)
        self.v_proj = nn.Linear(EMBD, self.KV_HEADS * self.head_dim, bias=False)
        self.o_proj = nn.Linear(HEADS * self.head_dim, EMBD, bias=False)

    def forward(self, x, causal_mask):
        b, t, _ = x.size()
        q = self.q_proj(x).view(b, t, HEADS, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.KV_HEADS, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.KV_HEADS, self.head_dim).transpose(1, 2)
        k = repeat_kv(k, HEADS // self.KV_HEADS)
        v = repeat_kv(v, HEADS // self.KV_HEADS)
        w = torch.matmul(q, k.transpose(2, 3)) * self.head_dim ** -0.5
        w = w + causal_mask
        w = nn.functional.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        a = torch.matmul(w, v).transpose(1, 2).reshape(b, t, EMBD)
        return self.o_proj(a)


class GQABlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm_1 = nn.LayerNorm(EMBD)
        self.attn = GQAttention()
        self.norm_2 = nn.LayerNorm(EMBD)
        self.up = nn.Linear(EMBD, 4 * EMBD, bias=False)
        self.down = nn.Linear(4 * EMBD, EMBD, bias=False)

    def forward(self, x, causal_mask):
        x = x + self.attn(self.norm_1(x), causal_mask)
        return x + self.down(F.silu(self.up(self.norm_2(x))))


class GQALM(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, EMBD)
        self.wpe = nn.Embedding(seq, EMBD)
        self.h = nn.ModuleList([GQABlock() for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(EMBD)
        self.head = nn.Linear(EMBD, VOCAB, bias=False)

    def forward(self, idx, targets):
        t = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(0, t, dtype=torch.long))
        causal_mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)[None, None]
        for block in self.h:
            x = block(x, causal_mask)
        logits = self.head(self.norm(x))
        loss = F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))
        return logits, loss


class Conv1D(nn.Module):
    """Hugging Face's Conv1D: a linear layer with the weight stored [in, out]."""

    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.weight.size(-1),)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class GPT2Attention(nn.Module):
    """transformers' GPT2Attention._attn (eager), without the cache and head mask."""

    def __init__(self, seq):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones((seq, seq), dtype=torch.bool))
                             .view(1, 1, seq, seq))
        self.c_attn = Conv1D(3 * EMBD, EMBD)
        self.c_proj = Conv1D(EMBD, EMBD)
        self.attn_dropout = nn.Dropout(0.0)
        self.head_dim = EMBD // HEADS

    def _split_heads(self, x):
        new_shape = x.size()[:-1] + (HEADS, self.head_dim)
        return x.view(new_shape).permute(0, 2, 1, 3)

    def _attn(self, query, key, value):
        attn_weights = torch.matmul(query, key.transpose(-1, -2))
        attn_weights = attn_weights / torch.full([], value.size(-1) ** 0.5,
                                                 dtype=attn_weights.dtype)
        query_length, key_length = query.size(-2), key.size(-2)
        causal_mask = self.bias[:, :, key_length - query_length:key_length, :key_length]
        mask_value = torch.finfo(attn_weights.dtype).min
        mask_value = torch.full([], mask_value, dtype=attn_weights.dtype)
        attn_weights = torch.where(causal_mask, attn_weights, mask_value)
        attn_weights = nn.functional.softmax(attn_weights, dim=-1)
        attn_weights = self.attn_dropout(attn_weights)
        return torch.matmul(attn_weights, value)

    def forward(self, x):
        query, key, value = self.c_attn(x).split(EMBD, dim=2)
        query, key, value = (self._split_heads(t) for t in (query, key, value))
        a = self._attn(query, key, value)
        a = a.permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size()[:-2] + (EMBD,))
        return self.c_proj(a)


class GPT2Block(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.ln_1 = nn.LayerNorm(EMBD)
        self.attn = GPT2Attention(seq)
        self.ln_2 = nn.LayerNorm(EMBD)
        self.c_fc = Conv1D(4 * EMBD, EMBD)
        self.c_proj = Conv1D(EMBD, 4 * EMBD)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2LM(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, EMBD)
        self.wpe = nn.Embedding(seq, EMBD)
        self.h = nn.ModuleList([GPT2Block(seq) for _ in range(LAYERS)])
        self.ln_f = nn.LayerNorm(EMBD)

    def forward(self, idx, targets):
        t = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(0, t, dtype=torch.long))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        loss = F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))
        return logits, loss


def padding(seq):
    """Sample b pads its last 3b positions (sample 0 none)."""
    return torch.arange(seq).unsqueeze(0) >= (seq - 3 * torch.arange(BATCH)).unsqueeze(1)


def export(model, seq, path, pad=False):
    g = torch.Generator().manual_seed(7)
    inputs = (torch.randint(0, VOCAB, (BATCH, seq), generator=g),
              torch.randint(0, VOCAB, (BATCH, seq), generator=g))
    names = ["idx", "targets"]
    if pad:
        inputs += (padding(seq),)
        names.append("pad")
    buf = io.BytesIO()
    torch.onnx.export(model, inputs, buf, export_params=True, opset_version=OPSET,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      input_names=names, output_names=["logits", "loss"])
    m = onnx.load_from_string(buf.getvalue())
    m.producer_name = "ds-opt models/export_attention_models.py (pytorch %s)" % torch.__version__
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    ops = sorted({n.op_type for n in m.graph.node})
    print("%s: %d nodes, ops %s" % (path, len(m.graph.node), " ".join(ops)))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outdir", default=HERE)
    ap.add_argument("--seq", type=int, default=32)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    for name, cls, seed, pad in (("encoder", EncoderLM, 11, False),
                                 ("encoder_pad", EncoderLM, 11, True),
                                 ("gpt2_hf", GPT2LM, 12, False),
                                 ("gqa", GQALM, 13, False)):
        torch.manual_seed(seed)
        model = cls(args.seq)
        model.train()
        export(model, args.seq, os.path.join(args.outdir, name + ".onnx"), pad)


if __name__ == "__main__":
    main()
