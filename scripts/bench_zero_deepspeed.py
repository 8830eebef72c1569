#!/usr/bin/env python3
"""DeepSpeed-on-CPU side of scripts/bench-zero-cpu.sh: trains the issue-#18 GPT
(scripts/bench_torch_gpt.py's nanoGPT twin of models/gen_gpt2.py) with deepspeed.initialize on
the CPU accelerator and times its steps.

    torchrun --nproc_per_node 2 scripts/bench_zero_deepspeed.py --weights W.npz --data DIR \\
        --config CONFIG.json --layers 4 --heads 4 --embd 256 --vocab 2048 --seq 128 \\
        --steps 10 --warmup 2 --threads 1 --json OUT.json

Run under torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); DS_ACCELERATOR=cpu is set here
if unset. The communication backend is gloo (deepspeed.init_distributed(dist_backend="gloo"):
the CPU accelerator would pick oneCCL only when oneccl_bindings_for_pytorch is installed).

Same computation as ds-run on the same ONNX model:
  * weights: --weights is an .npz of the ONNX initializers by name (written by the shell
    script with onnx's numpy_helper); every torch parameter must be found there with the same
    shape, and every initializer must be a parameter except the causal-mask buffers
    transformer.h.<i>.attn.bias (SDPA's is_causal replaces them, as in nanoGPT);
  * data: DIR/idx.npy and DIR/targets.npy in ds-run's sample order: step s reads samples
    [s*G, (s+1)*G) (G = micro x world, wrapping around), rank r the r-th contiguous slice;
  * config: the same DeepSpeed JSON file ds-opt compiles (optimizer, batch sizes, stage,
    gradient_clipping); the optimizer DeepSpeed builds from it is reported in the JSON.
  * ZeRO-3: lm_head reuses transformer.wte.weight outside the Embedding module's forward, so
    it is registered as an external parameter of the root module (deepspeed.zero.
    register_external_parameter), else stage 3 would have released it.

Timing: every step (forward, engine.backward, engine.step) timed on each rank with
time.perf_counter; the first --warmup steps are not timed; rank 0's per-step milliseconds
(as ds-run's ms/step: rank 0's wall clock per step) are written. Losses: each rank's
micro-batch loss, averaged over ranks after the timed loop (ds-run prints the same average).

JSON (--json, rank 0): {"deepspeed", "torch", "backend", "optimizer", "stage", "world",
"threads", "ms_per_step": [...], "loss": [...]}.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("DS_ACCELERATOR", "cpu")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch_gpt  # noqa: E402


def load_weights(model, path):
    """Copies the ONNX initializers in `path` (.npz) into the model, by name, checking both ways."""
    w = np.load(path)
    names = set(w.files)
    used = set()
    for name, p in model.named_parameters():
        if name not in names:
            sys.exit("bench_zero_deepspeed: %s: no initializer %s for the torch parameter" % (path, name))
        a = w[name]
        if tuple(a.shape) != tuple(p.shape) or a.dtype != np.float32:
            sys.exit("bench_zero_deepspeed: %s: initializer %s is %s %s, the parameter %s float32"
                     % (path, name, a.dtype, tuple(a.shape), tuple(p.shape)))
        with torch.no_grad():
            p.copy_(torch.from_numpy(a))
        used.add(name)
    rest = sorted(n for n in names - used if not (n.startswith("transformer.h.") and n.endswith(".attn.bias")))
    if rest:
        sys.exit("bench_zero_deepspeed: %s: initializers with no torch parameter: %s" % (path, ", ".join(rest)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help=".npz of the ONNX initializers")
    ap.add_argument("--data", required=True, help="directory with idx.npy, targets.npy")
    ap.add_argument("--config", required=True, help="the DeepSpeed config JSON")
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--embd", type=int, required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    ap.add_argument("--json", required=True, help="rank 0 writes the results here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    import deepspeed  # after set_num_threads: importing it is slow, but takes no threads

    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    with open(args.config) as f:
        cfg = json.load(f)
    stage = cfg.get("zero_optimization", {}).get("stage", 0)
    micro = cfg["train_micro_batch_size_per_gpu"]

    torch.manual_seed(0)
    model = bench_torch_gpt.GPT(args.vocab, args.seq, args.embd, args.heads, args.layers, "sdpa")
    load_weights(model, args.weights)
    model.train()
    if stage == 3:
        deepspeed.zero.register_external_parameter(model, model.transformer.wte.weight)
    engine, optimizer, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                                   config=cfg)
    inner = getattr(optimizer, "optimizer", optimizer)        # ZeRO wraps the basic optimizer
    opt_name = "%s.%s" % (type(inner).__module__, type(inner).__name__)

    idx_all = torch.from_numpy(np.load(os.path.join(args.data, "idx.npy")))
    tgt_all = torch.from_numpy(np.load(os.path.join(args.data, "targets.npy")))
    n = idx_all.shape[0]
    G = micro * world

    def batch(s):
        rows = [(s * G + rank * micro + i) % n for i in range(micro)]
        return idx_all[rows].contiguous(), tgt_all[rows].contiguous()

    losses, times = [], []
    dist.barrier()
    for s in range(args.warmup + args.steps):
        idx, tgt = batch(s)
        t0 = time.perf_counter()
        _, loss = engine(idx, tgt)
        engine.backward(loss)
        engine.step()
        t1 = time.perf_counter()
        losses.append(loss.detach().double())
        if s >= args.warmup:
            times.append((t1 - t0) * 1e3)

    mean = torch.stack(losses)
    dist.all_reduce(mean)
    mean /= world
    if rank == 0:
        out = {"deepspeed": deepspeed.__version__, "torch": torch.__version__,
               "backend": dist.get_backend(), "optimizer": opt_name, "stage": stage, "world": world,
               "threads": torch.get_num_threads(), "ms_per_step": times, "loss": mean.tolist()}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
