#!/usr/bin/python3
"""Exports tiny Hugging Face `transformers` models with their PyTorch training references (issue #14).

Run with Debian's interpreter (PyTorch 1.13) and transformers 4.36.2 from PyPI:
    /usr/bin/python3 models/export_hf_models.py [--models hf_gpt2 hf_bert ...] [--steps N]

Each model is built by transformers' own code from a config object (no downloads), seeded,
dropout 0, vocabulary 65 and sequences of 32 (the character data of models/data/gpt):
    hf_gpt2   GPT2LMHeadModel (2 layers, d 32, 4 heads, tied head, tanh GELU)
    hf_bert   BertForMaskedLM (2 layers, d 32, 4 heads, ff 64, token types, erf GELU), its own
              masked-LM loss with every position a label
    hf_llama  LlamaForCausalLM (2 layers, d 32, 4 query / 2 key-value heads, rotary, RMSNorm, SiLU)
    hf_t5     T5ForConditionalGeneration (1+1 layers, d 32, 4 heads, relative position buckets),
              its own loss: decoder inputs are the labels shifted right
    hf_opt    OPTForCausalLM (2 layers, d 32, 4 heads, learned positions from CumSum of the mask)
    pt_encoder  torch.nn.TransformerEncoder (2 nn.TransformerEncoderLayer, d 32, 4 heads, ff 64,
              batch_first, ReLU, post-norm, causal float mask from
              nn.Transformer.generate_square_subsequent_mask) over token + learned position
              embeddings with a linear head: torch's own nn.MultiheadAttention code, not transformers'
The causal LMs return F.cross_entropy(logits, targets) (targets are already shifted in the data).
writes
    <model>.onnx                    inputs idx, targets i64[batch, 32]; output loss
                                    (torch.onnx.export, opset 17, TrainingMode.TRAINING,
                                    do_constant_folding=False)
    ref/<model>/train_adamw.json    torch.optim.AdamW losses per step (configs/gpt/adamw.json,
                                    ds-run's sample order over data/gpt)
    ref/<model>/train_adamw_world2.json   the same as 2 DDP ranks (halves of each batch,
                                    gradients and losses averaged)
"""
import argparse
import copy
import io
import json
import os

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F
import transformers

from reference_files import write_trajectories

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
VOCAB, SEQ, BATCH, STEPS = 65, 32, 4, 6
# nn.Embedding(padding_idx=pad) gives the pad row no gradient in PyTorch, which an ONNX graph
# cannot say (Gather has no padding index): the pad token is one the data never holds (it has
# tokens 0..46), as in real training where padding positions carry no labels.
PAD = VOCAB - 1
CONFIG = os.path.join(HERE, "configs", "gpt", "adamw.json")


def build_gpt2():
    c = transformers.GPT2Config(vocab_size=VOCAB, n_positions=SEQ, n_embd=32, n_layer=2, n_head=4,
                                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return CausalLM(transformers.GPT2LMHeadModel(c))


def build_bert():
    c = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=64,
                                max_position_embeddings=SEQ, pad_token_id=PAD, hidden_dropout_prob=0.0,
                                attention_probs_dropout_prob=0.0)
    return OwnLoss(transformers.BertForMaskedLM(c))


def build_llama():
    c = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                 max_position_embeddings=SEQ, attention_dropout=0.0)
    return CausalLM(transformers.LlamaForCausalLM(c))


def build_t5():
    c = transformers.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=1,
                              num_decoder_layers=1, num_heads=4, relative_attention_num_buckets=8,
                              relative_attention_max_distance=16, dropout_rate=0.0,
                              decoder_start_token_id=0, pad_token_id=0)
    return OwnLoss(transformers.T5ForConditionalGeneration(c))


def build_opt():
    c = transformers.OPTConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                               num_attention_heads=4, max_position_embeddings=SEQ,
                               word_embed_proj_dim=32, dropout=0.0, attention_dropout=0.0,
                               layerdrop=0.0, pad_token_id=PAD)
    return CausalLM(transformers.OPTForCausalLM(c))


class EncoderLM(nn.Module):
    """nn.TransformerEncoder as a causal LM: what a user writes with torch.nn alone."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, 32)
        self.pos = nn.Embedding(SEQ, 32)
        layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(32, VOCAB)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t))
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        logits = self.head(self.encoder(x, mask=mask))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def build_encoder():
    return EncoderLM()


BUILDERS = {"hf_gpt2": build_gpt2, "hf_bert": build_bert, "hf_llama": build_llama,
            "hf_t5": build_t5, "hf_opt": build_opt, "pt_encoder": build_encoder}


class CausalLM(nn.Module):
    """Logits from the model, loss against the (already shifted) targets."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, idx, targets):
        logits = self.net(input_ids=idx, use_cache=False, return_dict=True).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class OwnLoss(nn.Module):
    """The model's own loss with labels = targets (BERT's masked LM, T5's shifted decoder)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, idx, targets):
        return self.net(input_ids=idx, labels=targets, return_dict=True).loss


def load_data():
    d = os.path.join(HERE, "data", "gpt")
    return np.load(os.path.join(d, "idx.npy")), np.load(os.path.join(d, "targets.npy"))


def export(name, model, idx, targets):
    f = io.BytesIO()
    model.train()
    torch.onnx.export(model, (torch.from_numpy(idx[:BATCH]), torch.from_numpy(targets[:BATCH])), f,
                      input_names=["idx", "targets"], output_names=["loss"],
                      opset_version=OPSET, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False,
                      dynamic_axes={"idx": {0: "batch"}, "targets": {0: "batch"}})
    m = onnx.load_from_string(f.getvalue())
    # Every float initializer must be a parameter or buffer of the model, with its value.
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    targets_ = dict(model.named_parameters(), **dict(model.named_buffers()))
    for n, a in inits.items():
        if a.dtype.kind == "f" and n in targets_:
            assert np.array_equal(a, targets_[n].detach().numpy()), n
    onnx.save(m, os.path.join(HERE, name + ".onnx"))
    hist = {}
    for n in m.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    print("%s: %d params, %d bytes, ops %s" % (
        name, sum(p.numel() for p in model.parameters()), len(f.getvalue()),
        ", ".join("%s %d" % kv for kv in sorted(hist.items()))))


def train_steps(model, idx, targets, cfg, steps, ranks):
    p = cfg["optimizer"]["params"]
    opt = torch.optim.AdamW(list(model.parameters()), lr=p["lr"], betas=tuple(p["betas"]),
                            eps=p["eps"], weight_decay=p["weight_decay"])
    model.train()
    losses, n, mb = [], len(idx), BATCH // ranks
    for s in range(steps):
        rows = np.arange(s * BATCH, (s + 1) * BATCH) % n
        opt.zero_grad(set_to_none=False)
        total = 0.0
        for r in range(ranks):
            part = rows[r * mb:(r + 1) * mb]
            loss = model(torch.from_numpy(idx[part]), torch.from_numpy(targets[part]))
            (loss / ranks).backward()
            total += float(loss.item())
        losses.append(total / ranks)
        opt.step()
    return losses


def train(name, model, idx, targets, steps):
    cfg = json.load(open(CONFIG))
    ddp_losses = train_steps(copy.deepcopy(model), idx, targets, cfg, steps, 2)
    losses = train_steps(model, idx, targets, cfg, steps, 1)
    write_trajectories(os.path.join(HERE, "ref", name), {
        "config": cfg, "model": name + ".onnx", "data": "data/gpt", "micro_batch_size": BATCH,
        "steps": steps, "loss": losses,
        "generator": "models/export_hf_models.py, torch %s, transformers %s, fp32"
                     % (torch.__version__, transformers.__version__)}, ddp_losses)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(BUILDERS))
    ap.add_argument("--steps", type=int, default=STEPS)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    idx, targets = load_data()
    for name in args.models:
        torch.manual_seed(0)
        model = BUILDERS[name]()
        export(name, model, idx, targets)
        train(name, model, idx, targets, args.steps)


if __name__ == "__main__":
    main()
