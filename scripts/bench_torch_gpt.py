#!/usr/bin/env python3
"""PyTorch reference for GPT training-step throughput (eager and torch.compile), the plain-PyTorch
twin of the model that models/gen_gpt2.py writes as ONNX.

Usage (on the GPU machine; defaults = GPT-2 small, B=8, T=1024, bf16 autocast, SDPA attention):

    python3 scripts/bench_torch_gpt.py --json /tmp/torch_gpt.json
    python3 scripts/bench_torch_gpt.py --attn naive --modes eager,compile --json /tmp/naive.json
    python3 scripts/bench_torch_gpt.py --loss-check --steps 5        # eyeball: losses ~ ln(vocab)

Tiny CPU smoke test (no GPU needed):

    python3 scripts/bench_torch_gpt.py --device cpu --layers 2 --heads 2 --embd 64 --vocab 512 \
        --seq 64 --batch 2 --steps 3 --warmup 1 --modes eager --json /tmp/b.json

Model (same as models/gen_gpt2.py, i.e. nanoGPT with dropout 0 and bias=True):
  token + position embeddings; per block x += attn(LN1(x)); x += mlp(LN2(x)) with LayerNorm eps
  1e-5, one fused qkv Linear (with bias), causal attention, c_proj Linear, MLP c_fc (4x) -> erf
  GELU -> c_proj; final LayerNorm; lm_head tied to wte (no bias); cross-entropy, mean reduction.
  Parameter names follow nanoGPT / the ONNX initializers (transformer.h.<i>.attn.c_attn.weight...).
  Init: N(0, 0.02) for embeddings and Linear weights, c_proj weights N(0, 0.02/sqrt(2*layers)),
  biases 0, LayerNorm weight 1 / bias 0 (fixed seed; the numbers are not bit-identical to the
  ONNX file's numpy-generated weights, only identically distributed).
  block_size (wpe rows, mask size) = max(1024, seq), as in gen_gpt2.py.

--attn sdpa  : F.scaled_dot_product_attention(q, k, v, is_causal=True)   (nanoGPT's default path)
--attn naive : q@k^T * 1/sqrt(hd), masked_fill(tril-buffer == 0, -inf), softmax, @v
               (nanoGPT's non-flash path; what the ONNX graph / our compiler's plan computes).
  On a torch without F.scaled_dot_product_attention (< 2.0) sdpa falls back to naive, and the
  JSON's "attn_used" says so.

Training step (the nanoGPT recipe): with torch.autocast(device, bfloat16) (--dtype bf16; fp32
master parameters) forward + loss, loss.backward(), AdamW step, zero_grad(set_to_none=True).
AdamW: lr 6e-4, betas (0.9, 0.95), eps 1e-8, fused=True on CUDA; weight_decay 0.1 on the >=2-D
parameters (Linear weights, embeddings), 0 on biases and LayerNorm parameters, as nanoGPT's
configure_optimizers does. No gradient clipping unless --grad-clip > 0.
float32 matmul precision is set to "high" (TF32 allowed, as nanoGPT does; --matmul-precision).

Modes: "eager" runs the nn.Module as is; "compile" runs torch.compile(model) (default mode, or
--compile-mode). Each mode gets a freshly initialised model (same seed) and optimizer. The W
warm-up steps are not timed; compilation happens in the first one, whose wall time is reported
as compile_s (for compile mode; it includes one step's execution). A mode that raises (no C
compiler for Inductor/Triton, OOM, ...) is recorded as {"error": "..."} and the next mode runs;
the exit status is 0 if at least one mode ran, 1 otherwise.

Data: synthetic tokens, torch.Generator seeded (--seed), drawn on the device before timing as
nanoGPT-style pairs: a [B, T+1] random row, idx = row[:, :-1], targets = row[:, 1:]; 4 distinct
batches are cycled.

Timing: synchronize, wall clock over the N timed steps, synchronize; ms_per_step = mean;
tokens_per_s = B*T / step time. On the CPU each step's own wall time is recorded too
("step_ms", for a median that a stalled step does not move; scripts/bench-step.sh uses it).

FLOPs / MFU convention = nanoGPT's estimate_mfu: N = get_num_params(non_embedding=True), i.e. all
parameters with the tied wte/lm_head counted once and the position embedding wpe EXCLUDED;
flops_per_token = 6*N + 12*L*H*Q*T with Q = head dim and T = the sequence length run (nanoGPT uses
block_size, equal to T for the default T = 1024). MFU = flops_per_token * tokens_per_s / peak,
peak = --peak-tflops (default 989 = H100/H200 SXM dense bf16). The JSON also has params_total
(wpe included) for other conventions.

JSON (--json OUT): {"gpu", "torch", "cuda", "device", "dtype", "attn", "attn_used", "batch", "seq",
"params", "params_total", "flops_per_token", "peak_tflops", "config": {...},
"modes": {"eager": {"ms_per_step", "tokens_per_s", "mfu", "peak_mem_bytes", "compile_s",
"step_ms" (CPU only), ...},
"compile": {...} or {"error": "..."}}}.

Self-contained: standard library + torch only.
"""
import argparse
import contextlib
import gc
import json
import math
import os
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    def __init__(self, embd, heads, block, attn):
        super().__init__()
        assert embd % heads == 0, "embd must be a multiple of heads"
        self.heads = heads
        self.attn = attn
        self.c_attn = nn.Linear(embd, 3 * embd, bias=True)   # fused q, k, v
        self.c_proj = nn.Linear(embd, embd, bias=True)
        if attn == "naive":
            # nanoGPT's (and the ONNX graph's) float causal-mask buffer, sliced to [:T, :T]
            self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block),
                                 persistent=False)

    def forward(self, x):
        B, T, C = x.size()
        H = self.heads
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, H, C // H).transpose(1, 2)            # [B, H, T, hd]
        q = q.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        if self.attn == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
            att = F.softmax(att, dim=-1)
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, embd):
        super().__init__()
        self.c_fc = nn.Linear(embd, 4 * embd, bias=True)
        self.gelu = nn.GELU()                                   # exact (erf) GELU
        self.c_proj = nn.Linear(4 * embd, embd, bias=True)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, embd, heads, block, attn):
        super().__init__()
        self.ln_1 = nn.LayerNorm(embd, eps=1e-5)
        self.attn = CausalSelfAttention(embd, heads, block, attn)
        self.ln_2 = nn.LayerNorm(embd, eps=1e-5)
        self.mlp = MLP(embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, vocab, block, embd, heads, layers, attn):
        super().__init__()
        self.layers, self.heads, self.embd, self.block = layers, heads, embd, block
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, embd),
            wpe=nn.Embedding(block, embd),
            h=nn.ModuleList([Block(embd, heads, block, attn) for _ in range(layers)]),
            ln_f=nn.LayerNorm(embd, eps=1e-5),
        ))
        # nanoGPT init: N(0, 0.02) weights, zero biases, LN (1, 0); then c_proj at 0.02/sqrt(2L)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def num_params(self, non_embedding=True):
        # parameters() yields each tensor once, so the tied wte / lm_head weight is counted once
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def forward(self, idx, targets):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for blk in self.transformer.h:
            x = blk(x)
        x = self.transformer.ln_f(x)
        logits = F.linear(x, self.transformer.wte.weight)      # lm_head tied to wte, no bias
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-100)
        return logits, loss


def make_optimizer(model, device):
    """nanoGPT's configure_optimizers: decay the >=2-D tensors, not biases / LayerNorm."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    kw = dict(lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    if device.type == "cuda":
        kw["fused"] = True
    return torch.optim.AdamW(groups, **kw)


# --------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cleanup(device):
    gc.collect()
    if hasattr(torch, "_dynamo"):
        try:
            torch._dynamo.reset()
        except Exception:
            pass
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_mode(mode, args, cfg, device, batches, autocast_ctx, attn_used):
    """One mode: fresh model + optimizer, W untimed warm-up steps, N timed steps."""
    res = {}
    torch.manual_seed(args.seed)
    model = GPT(cfg["vocab"], cfg["block"], cfg["embd"], cfg["heads"], cfg["layers"], attn_used).to(device)
    model.train()
    optimizer = make_optimizer(model, device)
    if mode == "compile":
        if not hasattr(torch, "compile"):
            raise RuntimeError("torch.compile is not available in torch %s" % torch.__version__)
        kw = {} if args.compile_mode in (None, "", "default") else {"mode": args.compile_mode}
        fwd = torch.compile(model, **kw)
    else:
        fwd = model
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    losses = []

    def step(i):
        idx, targets = batches[i % len(batches)]
        with autocast_ctx():
            _, loss = fwd(idx, targets)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if len(losses) < 3:
            losses.append(loss.detach())                       # .item() later: no sync in the loop
        return loss

    # warm-up (untimed); the first step carries torch.compile's compilation
    first_step_s = None
    t_w0 = time.perf_counter()
    for i in range(args.warmup):
        t0 = time.perf_counter()
        step(i)
        if i == 0:
            sync(device)
            first_step_s = time.perf_counter() - t0
    sync(device)
    warmup_s = time.perf_counter() - t_w0

    # timed steps; on the CPU (synchronous) each step is timed too, for a median
    sync(device)
    t0 = time.perf_counter()
    loss = None
    step_ms = []
    for i in range(args.steps):
        ts = time.perf_counter()
        loss = step(args.warmup + i)
        if device.type == "cpu":
            step_ms.append((time.perf_counter() - ts) * 1e3)
    sync(device)
    elapsed = time.perf_counter() - t0
    if step_ms:
        res["step_ms"] = step_ms

    step_s = elapsed / args.steps
    tokens_per_s = args.batch * args.seq / step_s
    res["ms_per_step"] = step_s * 1e3
    res["tokens_per_s"] = tokens_per_s
    res["mfu"] = cfg["flops_per_token"] * tokens_per_s / (args.peak_tflops * 1e12)
    res["achieved_tflops"] = cfg["flops_per_token"] * tokens_per_s / 1e12
    res["peak_mem_bytes"] = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    res["compile_s"] = first_step_s if mode == "compile" else None
    res["first_step_s"] = first_step_s
    res["warmup_s"] = warmup_s
    res["steps"] = args.steps
    res["warmup"] = args.warmup
    res["first_losses"] = [float(l.item()) for l in losses]
    res["last_loss"] = float(loss.item()) if loss is not None else None
    del fwd, model, optimizer, losses, loss
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps (compilation happens here)")
    ap.add_argument("--modes", default="eager,compile", help="comma list of eager, compile")
    ap.add_argument("--attn", choices=["sdpa", "naive"], default="sdpa")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16",
                    help="bf16: autocast to bfloat16 with fp32 master params; fp32: no autocast")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--block", type=int, default=None, help="block_size; default max(1024, seq)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="peak dense TFLOPS for MFU (989 = H100/H200 SXM bf16)")
    ap.add_argument("--compile-mode", default=None,
                    help="torch.compile mode (default: torch's default mode)")
    ap.add_argument("--matmul-precision", default="high", choices=["highest", "high", "medium"],
                    help="torch.set_float32_matmul_precision (high = TF32, as nanoGPT)")
    ap.add_argument("--grad-clip", type=float, default=0.0, help="clip grad norm (0 = off)")
    ap.add_argument("--loss-check", action="store_true", help="print the first 3 losses per mode")
    ap.add_argument("--json", default=None, help="write all numbers here")
    args = ap.parse_args()

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("eager", "compile"):
            ap.error("unknown mode %r (eager, compile)" % m)
    if args.steps < 1:
        ap.error("--steps must be >= 1")
    if "compile" in modes and args.warmup < 1:
        ap.error("--warmup must be >= 1 with the compile mode (compilation happens in warm-up)")
    block = args.block if args.block is not None else max(1024, args.seq)
    if args.seq > block:
        ap.error("--seq %d exceeds --block %d" % (args.seq, block))
    if args.embd % args.heads:
        ap.error("--embd must be a multiple of --heads")

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch_gpt: --device cuda but torch.cuda.is_available() is False "
                 "(use --device cpu for a smoke test)")
    torch.set_float32_matmul_precision(args.matmul_precision)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"

    attn_used = args.attn
    if args.attn == "sdpa" and not HAVE_SDPA:
        attn_used = "naive"
        print("warning: torch %s has no F.scaled_dot_product_attention; using --attn naive"
              % torch.__version__, file=sys.stderr)

    if args.dtype == "bf16":
        def autocast_ctx():
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    else:
        autocast_ctx = contextlib.nullcontext

    # parameter / FLOP counts (nanoGPT estimate_mfu convention, see the header)
    with torch.device("meta") if hasattr(torch, "get_default_device") else contextlib.nullcontext():
        probe = GPT(args.vocab, block, args.embd, args.heads, args.layers, "naive")
    n_params = probe.num_params(non_embedding=True)
    n_total = probe.num_params(non_embedding=False)
    del probe
    L, H, Q, T = args.layers, args.heads, args.embd // args.heads, args.seq
    flops_per_token = 6 * n_params + 12 * L * H * Q * T
    cfg = dict(vocab=args.vocab, block=block, embd=args.embd, heads=args.heads, layers=args.layers,
               flops_per_token=flops_per_token)

    # synthetic data, generated on the device before any timing
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    batches = []
    for _ in range(4):
        row = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=gen,
                            device=device, dtype=torch.int64)
        batches.append((row[:, :-1].contiguous(), row[:, 1:].contiguous()))
    sync(device)

    print("bench_torch_gpt: torch %s (cuda %s) on %s; layers=%d heads=%d embd=%d vocab=%d block=%d; "
          "batch=%d seq=%d; dtype=%s attn=%s; warmup=%d steps=%d" % (
              torch.__version__, torch.version.cuda, gpu, args.layers, args.heads, args.embd, args.vocab,
              block, args.batch, args.seq, args.dtype, attn_used, args.warmup, args.steps))
    print("params %d (%.2fM, wpe excluded as nanoGPT's estimate_mfu; %.2fM total), "
          "flops/token %.4g = 6N + 12*L*H*Q*T; MFU peak %.1f TFLOPS" % (
              n_params, n_params / 1e6, n_total / 1e6, flops_per_token, args.peak_tflops))
    sys.stdout.flush()

    out = {
        "gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device),
        "dtype": args.dtype, "attn": args.attn, "attn_used": attn_used,
        "batch": args.batch, "seq": args.seq, "params": n_params, "params_total": n_total,
        "params_convention": "nanoGPT get_num_params(non_embedding=True): tied wte counted once, wpe excluded",
        "flops_per_token": flops_per_token,
        "flops_convention": "6*params + 12*layers*heads*head_dim*seq",
        "peak_tflops": args.peak_tflops,
        "config": dict(layers=args.layers, heads=args.heads, embd=args.embd, vocab=args.vocab, block=block,
                       warmup=args.warmup, steps=args.steps, seed=args.seed,
                       compile_mode=args.compile_mode or "default",
                       matmul_precision=args.matmul_precision, grad_clip=args.grad_clip,
                       optimizer="AdamW lr 6e-4 betas (0.9,0.95) eps 1e-8 wd 0.1 (2-D params)"
                                 + (" fused" if device.type == "cuda" else "")),
        "modes": {},
    }

    n_ok = 0
    for mode in modes:
        try:
            res = run_mode(mode, args, cfg, device, batches, autocast_ctx, attn_used)
            n_ok += 1
            out["modes"][mode] = res
            mem = ("%.2f GiB" % (res["peak_mem_bytes"] / 2**30)) if res["peak_mem_bytes"] is not None else "n/a"
            comp = (", compile %.1f s" % res["compile_s"]) if res["compile_s"] is not None else ""
            print("%-7s %9.2f ms/step  %12.0f tokens/s  MFU %5.1f%% (%.1f TFLOPS of %.0f peak)  "
                  "peak mem %s%s" % (mode, res["ms_per_step"], res["tokens_per_s"], 100 * res["mfu"],
                                     res["achieved_tflops"], args.peak_tflops, mem, comp))
            if args.loss_check:
                print("        first losses %s (ln(vocab) = %.3f), last %.4f" % (
                    ", ".join("%.4f" % l for l in res["first_losses"]), math.log(args.vocab), res["last_loss"]))
        except Exception as e:                                  # report, go on with the next mode
            msg = "%s: %s" % (type(e).__name__, str(e).strip())
            if len(msg) > 4000:
                msg = msg[:4000] + " ...[truncated]"
            out["modes"][mode] = {"error": msg}
            print("%-7s FAILED: %s" % (mode, msg.splitlines()[0] if msg else type(e).__name__))
            traceback.print_exc(file=sys.stderr)
        finally:
            cleanup(device)
        sys.stdout.flush()

    if args.json:
        d = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(d, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print("wrote %s" % args.json)
    return 0 if n_ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
