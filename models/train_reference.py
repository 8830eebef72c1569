#!/usr/bin/python3
"""PyTorch training references for the bundled models (invariant 2 of DESIGN.md).

    /usr/bin/python3 models/train_reference.py

For each model (mlp, gpt) and each configuration below it
  * builds the torch module of export_models.py and loads EXACTLY the initial weights stored in
    <model>.onnx, initializer by name (every parameter and buffer must be matched, every float
    initializer used), and checks the forward pass against the onnxruntime reference in
    ref/<model>/eval (so the weights and the graph agree);
  * trains 50 optimizer steps in fp32 on data/<model>/, in ds-run's sample order: step s reads
    samples [s*G, (s+1)*G) of the data files (G = train_batch_size), wrapping around as epochs,
    split into gradient_accumulation_steps contiguous micro-batches;
  * writes configs/<model>/<name>.json  (the DeepSpeed config a user would write) and
    ref/<model>/train_<name>.json       {"config", "loss"[50], "lr"[50], "grad_norm"[50],
                                          "final_params_sha", ...}.
"loss" per step is the mean of the micro-batch losses (what DeepSpeed reports); gradients are the
mean over micro-batches (DeepSpeed scales the loss by 1/gradient_accumulation_steps).
"lr" is the learning rate the step ran with; "grad_norm" the global L2 norm of the averaged
gradients before clipping.  See README.md for where torch and DeepSpeed differ.
"""
import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_models  # noqa: E402

STEPS = 50

MODELS = {
    # model: (builder, batch, input names, loss output index, lr AdamW, lr SGD, accum4 micro-batch)
    "mlp": dict(build=export_models.build_mlp, batch=8, inputs=["x", "y"], outputs=["loss", "logits"],
                lr_adamw=1e-2, lr_sgd=0.05),
    "gpt": dict(build=export_models.build_gpt, batch=4, inputs=["idx", "targets"], outputs=["logits", "loss"],
                lr_adamw=1e-3, lr_sgd=0.1),
}


def ds_configs(model):
    """The DeepSpeed configs (plain dicts, as in the JSON files) for one model."""
    spec = MODELS[model]
    b = spec["batch"]
    adamw = {"type": "AdamW",
             "params": {"lr": spec["lr_adamw"], "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.1}}
    # train_micro_batch_size_per_gpu is left out on purpose: DeepSpeed (and ds-opt) derive it as
    # train_batch_size / (gradient_accumulation_steps * world size), so the same file works for
    # world 1, 2, 4 with the same global batch and therefore the same loss trajectory.
    base = {"train_batch_size": b, "gradient_accumulation_steps": 1, "gradient_clipping": 0.0}
    cfgs = {}
    cfgs["adamw"] = dict(base, optimizer=copy.deepcopy(adamw))
    cfgs["adamw_warmup_clip"] = dict(
        base, optimizer=copy.deepcopy(adamw), gradient_clipping=1.0,
        scheduler={"type": "WarmupLR",
                   "params": {"warmup_min_lr": 0.0, "warmup_max_lr": spec["lr_adamw"],
                              "warmup_num_steps": 10, "warmup_type": "linear"}})
    cfgs["sgd"] = dict(base, optimizer={"type": "SGD", "params": {"lr": spec["lr_sgd"], "momentum": 0.9,
                                                                  "weight_decay": 0.0}},
                       zero_allow_untested_optimizer=True)
    cfgs["adamw_accum4"] = dict(base, optimizer=copy.deepcopy(adamw), gradient_accumulation_steps=4)
    return cfgs


# ---------------------------------------------------------------------------------------------
def load_onnx_weights(module, onnx_path):
    """Copies every float initializer of the ONNX file into the module, by name; checks coverage."""
    m = onnx.load(onnx_path)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    params = dict(module.named_parameters())   # tied weights appear once, under their first name
    buffers = dict(module.named_buffers())
    targets = dict(params, **buffers)
    missing = sorted(set(targets) - set(inits))
    unused = sorted(n for n, a in inits.items() if a.dtype.kind == "f" and n not in targets)
    if missing or unused:
        raise SystemExit("%s: torch names without initializer %s; initializers without torch tensor %s"
                         % (onnx_path, missing, unused))
    with torch.no_grad():
        for name, t in targets.items():
            a = inits[name]
            if tuple(a.shape) != tuple(t.shape):
                raise SystemExit("%s: %s has shape %s in ONNX, %s in torch" % (onnx_path, name, a.shape, tuple(t.shape)))
            t.copy_(torch.from_numpy(a.copy()))
    order = [t.name for t in m.graph.initializer if t.name in params]
    return order, sorted(buffers)


def check_forward(model, name):
    spec = MODELS[name]
    d = os.path.join(HERE, "ref", name, "eval")
    if not os.path.isdir(d):
        print("  (no onnxruntime reference in %s: forward check skipped)" % d)
        return
    ins = [torch.from_numpy(np.load(os.path.join(d, "inputs", n + ".npy"))) for n in spec["inputs"]]
    with torch.no_grad():
        outs = model(*ins)
    for n, o in zip(spec["outputs"], outs):
        ref = np.load(os.path.join(d, n + ".npy"))
        err = np.max(np.abs(o.numpy() - ref)) / max(np.max(np.abs(ref)), 1e-30)
        print("  forward %-7s vs onnxruntime: max rel err %.2e" % (n, err))
        assert err < 1e-5, (name, n, err)


def warmup_lr(i, p):
    """DeepSpeed WarmupLR f(i) (lr_schedules.py); i = -1 is the constructor's value."""
    lo, hi = p["warmup_min_lr"], p["warmup_max_lr"]
    n = max(2, p["warmup_num_steps"])
    if i < n:
        if p.get("warmup_type", "log") == "linear":
            gamma = i / n
        else:
            import math
            gamma = math.log(i + 1) / math.log(n)
    else:
        gamma = 1.0
    gamma = max(gamma, 0.0)  # i = -1 (linear) gives -1/n; DeepSpeed's f(-1) is min for both types
    return lo + (hi - lo) * gamma


def train(name, cfg_name, cfg, data):
    spec = MODELS[name]
    torch.manual_seed(0)
    model = spec["build"]()
    order, buffers = load_onnx_weights(model, os.path.join(HERE, name + ".onnx"))
    model.train()
    params = [p for _, p in model.named_parameters()]

    opt_cfg = cfg["optimizer"]
    op = opt_cfg["params"]
    if opt_cfg["type"] == "AdamW":
        opt = torch.optim.AdamW(params, lr=op["lr"], betas=tuple(op["betas"]), eps=op["eps"],
                                weight_decay=op["weight_decay"])
    elif opt_cfg["type"] == "SGD":
        opt = torch.optim.SGD(params, lr=op["lr"], momentum=op["momentum"], weight_decay=op["weight_decay"])
    else:
        raise ValueError(opt_cfg["type"])
    sched = cfg.get("scheduler")
    clip = cfg.get("gradient_clipping", 0.0)

    G = cfg["train_batch_size"]
    A = cfg["gradient_accumulation_steps"]
    mb = G // A
    assert mb * A == G
    n_samples = len(data[spec["inputs"][0]])
    loss_index = spec["outputs"].index("loss")
    losses, lrs, norms = [], [], []
    for s in range(STEPS):
        if sched is not None:
            assert sched["type"] == "WarmupLR"
            lr = warmup_lr(s - 1, sched["params"])   # applied step s runs with f(s-1)
            for g in opt.param_groups:
                g["lr"] = lr
        lrs.append(opt.param_groups[0]["lr"])
        rows = np.arange(s * G, (s + 1) * G) % n_samples
        opt.zero_grad(set_to_none=False)
        micro_losses = []
        for j in range(A):
            r = rows[j * mb:(j + 1) * mb]
            ins = [torch.from_numpy(data[n][r]) for n in spec["inputs"]]
            loss = model(*ins)[loss_index]
            (loss / A).backward()
            micro_losses.append(loss.item())
        losses.append(float(np.mean(np.array(micro_losses, dtype=np.float64))))
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        norms.append(float(norm))
        opt.step()

    h = hashlib.sha256()
    named = dict(model.named_parameters())
    for n in order:
        h.update(named[n].detach().numpy().astype("<f4").tobytes())
    return {
        "config": cfg,
        "model": name + ".onnx",
        "data": "data/" + name,
        "world_size": 1,
        "micro_batch_size": mb,
        "steps": STEPS,
        "loss": losses,
        "lr": lrs,
        "grad_norm": norms,
        "final_params_sha": h.hexdigest(),
        "final_params_sha_note": "sha256 of the trained parameters as little-endian float32, "
                                 "concatenated in ONNX initializer order; bitwise, so informative only",
        "trained_params": order,
        "not_trained": buffers,
        "generator": "models/train_reference.py, torch %s, fp32, torch.use_deterministic_algorithms(True)"
                     % torch.__version__,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    for name in args.models:
        spec = MODELS[name]
        data = {n: np.load(os.path.join(HERE, "data", name, n + ".npy")) for n in spec["inputs"]}
        model = spec["build"]()
        load_onnx_weights(model, os.path.join(HERE, name + ".onnx"))
        print("%s: %d parameters loaded from %s.onnx" % (name, sum(p.numel() for p in model.parameters()), name))
        check_forward(model, name)
        os.makedirs(os.path.join(HERE, "configs", name), exist_ok=True)
        os.makedirs(os.path.join(HERE, "ref", name), exist_ok=True)
        for cfg_name, cfg in ds_configs(name).items():
            res = train(name, cfg_name, cfg, data)
            with open(os.path.join(HERE, "configs", name, cfg_name + ".json"), "w") as f:
                json.dump(cfg, f, indent=2)
                f.write("\n")
            with open(os.path.join(HERE, "ref", name, "train_%s.json" % cfg_name), "w") as f:
                json.dump(res, f, indent=1)
                f.write("\n")
            l = res["loss"]
            print("  %-18s loss %.4f -> %.4f (min %.4f)  lr[0..2] %s  norm[0] %.3f" % (
                cfg_name, l[0], l[-1], min(l), [round(x, 6) for x in res["lr"][:3]], res["grad_norm"][0]))


if __name__ == "__main__":
    main()
