#!/usr/bin/python3
"""Exports small torchvision CNN / ViT models with their PyTorch training references (issue #14).

Run with Debian's interpreter (PyTorch 1.13 and torchvision 0.14 live there):
    /usr/bin/python3 models/export_cnn_models.py [--models resnet mobilenet vit] [--steps N]

For each model, built from torchvision's own code at a tiny width, with a fixed seed:
    resnet     torchvision.models.resnet.BasicBlock in a narrow ResNet-18-style stack: 7x7/2 stem
               conv + BatchNorm + ReLU + MaxPool(3, 2, 1), four stages of one BasicBlock each
               (widths 8, 16, 32, 64; stride 2 from the second on, 1x1-conv + BatchNorm
               downsample), AdaptiveAvgPool (GlobalAveragePool), flatten, Linear
    mobilenet  torchvision.models.MobileNetV2(width_mult=0.25, dropout=0) with a short
               inverted-residual setting: depthwise (grouped) convs, BatchNorm, ReLU6 (Clip)
    vit        torchvision.models.VisionTransformer (image 32, patch 8 as a strided conv, 2
               layers, 2 heads, hidden 32, MLP 64, dropout 0)
writes
    <model>.onnx                   inputs x f32[batch,3,32,32], y i64[batch]; outputs loss, logits
                                   (torch.onnx.export, opset 17, TrainingMode.TRAINING,
                                   do_constant_folding=False)
    data/cnn/{x,y}.npy             f32[48,3,32,32] standard normal, i64[48] labels 0..9
    configs/cnn/adamw.json         the DeepSpeed config (AdamW, batch 8)
    ref/<model>/train_adamw.json   torch.optim.AdamW losses per step (ds-run's sample order)
    ref/<model>/train_adamw_world2.json  the same as 2 DDP ranks: each rank's half of the batch
                                   normalized by its own BatchNorm statistics
    ref/<model>/running_stats/<name>.npy   every BatchNorm running_mean / running_var after
                                   the steps (what `ds-run --save-params` must write)
    ref/<model>/eval_logits.npy    model.eval() logits of the first batch after training (the
                                   inference plan built from the saved parameters must match)
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
import torchvision
from torchvision.models.resnet import BasicBlock, conv1x1

from reference_files import write_trajectories

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
BATCH, CLASSES, SAMPLES, STEPS = 8, 10, 48, 6
LR = 1e-3


class NarrowResNet(nn.Module):
    """torchvision's ResNet layout (stem, maxpool, BasicBlock stages, avgpool, fc), narrow."""

    def __init__(self, widths=(8, 16, 32, 64), num_classes=CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        layers, inplanes = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != w:
                down = nn.Sequential(conv1x1(inplanes, w, stride), nn.BatchNorm2d(w))
            layers.append(BasicBlock(inplanes, w, stride, down))
            inplanes = w
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layers(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_resnet():
    return NarrowResNet()


def build_mobilenet():
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]
    return torchvision.models.MobileNetV2(num_classes=CLASSES, width_mult=0.25,
                                          inverted_residual_setting=setting, dropout=0.0)


def build_vit():
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
                                                num_heads=2, hidden_dim=32, mlp_dim=64,
                                                dropout=0.0, attention_dropout=0.0,
                                                num_classes=CLASSES)


BUILDERS = {"resnet": build_resnet, "mobilenet": build_mobilenet, "vit": build_vit}


class WithLoss(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, y):
        logits = self.net(x)
        return F.cross_entropy(logits, y), logits


def make_data():
    g = np.random.default_rng(14)
    x = g.standard_normal((SAMPLES, 3, 32, 32)).astype(np.float32)
    y = g.integers(0, CLASSES, size=SAMPLES).astype(np.int64)
    d = os.path.join(HERE, "data", "cnn")
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "x.npy"), x)
    np.save(os.path.join(d, "y.npy"), y)
    return x, y


def export(name, model, x, y):
    f = io.BytesIO()
    model.train()
    torch.onnx.export(model, (torch.from_numpy(x[:BATCH]), torch.from_numpy(y[:BATCH])), f,
                      input_names=["x", "y"], output_names=["loss", "logits"],
                      opset_version=OPSET, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False,
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load_from_string(f.getvalue())
    # Exporting ran the model once in training mode (the initializers hold running statistics
    # after that batch): train from exactly the initializers, every float one matched by name.
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    targets = dict(model.named_parameters(), **dict(model.named_buffers()))
    floats = {n for n, a in inits.items() if a.dtype.kind == "f"}
    missing = sorted(n for n, t in targets.items() if t.is_floating_point() and n not in inits)
    assert not missing and floats <= set(targets), (missing, floats - set(targets))
    with torch.no_grad():
        for n in floats:
            targets[n].copy_(torch.from_numpy(inits[n].copy()))
    onnx.save(m, os.path.join(HERE, name + ".onnx"))
    hist = {}
    for n in m.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    print("%s: %d params, %d bytes, ops %s" % (
        name, sum(p.numel() for p in model.parameters()), len(f.getvalue()),
        ", ".join("%s %d" % kv for kv in sorted(hist.items()))))


def train_steps(model, x, y, steps, ranks):
    """AdamW steps on global batches of BATCH samples; with ranks > 1 as DDP does it: each
    rank's contiguous slice normalized by its own BatchNorm statistics, gradients (and the
    reported loss) averaged over the ranks."""
    params = [p for _, p in model.named_parameters()]
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    model.train()
    losses = []
    mb = BATCH // ranks
    for s in range(steps):
        rows = np.arange(s * BATCH, (s + 1) * BATCH) % SAMPLES
        opt.zero_grad(set_to_none=False)
        total = 0.0
        for r in range(ranks):
            part = rows[r * mb:(r + 1) * mb]
            loss, _ = model(torch.from_numpy(x[part]), torch.from_numpy(y[part]))
            (loss / ranks).backward()
            total += float(loss.item())
        losses.append(total / ranks)
        opt.step()
    return losses


def train(name, model, x, y, steps):
    ddp = copy.deepcopy(model)
    ddp_losses = train_steps(ddp, x, y, steps, 2)
    losses = train_steps(model, x, y, steps, 1)
    ref = os.path.join(HERE, "ref", name)
    stats = os.path.join(ref, "running_stats")
    os.makedirs(stats, exist_ok=True)
    for f in os.listdir(stats):
        os.remove(os.path.join(stats, f))
    for n, b in model.named_buffers():
        if n.endswith("running_mean") or n.endswith("running_var"):
            np.save(os.path.join(stats, n + ".npy"), b.detach().numpy())
    model.eval()
    with torch.no_grad():
        _, logits = model(torch.from_numpy(x[:BATCH]), torch.from_numpy(y[:BATCH]))
    np.save(os.path.join(ref, "eval_logits.npy"), logits.numpy())
    cfg = {"train_batch_size": BATCH, "gradient_accumulation_steps": 1, "gradient_clipping": 0.0,
           "optimizer": {"type": "AdamW", "params": {"lr": LR, "betas": [0.9, 0.999], "eps": 1e-8,
                                                     "weight_decay": 0.1}}}
    write_trajectories(ref, {
        "config": cfg, "model": name + ".onnx", "data": "data/cnn", "micro_batch_size": BATCH,
        "steps": steps, "loss": losses,
        "generator": "models/export_cnn_models.py, torch %s, torchvision %s, fp32"
                     % (torch.__version__, torchvision.__version__)}, ddp_losses)
    os.makedirs(os.path.join(HERE, "configs", "cnn"), exist_ok=True)
    with open(os.path.join(HERE, "configs", "cnn", "adamw.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(BUILDERS))
    ap.add_argument("--steps", type=int, default=STEPS)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    x, y = make_data()
    for name in args.models:
        torch.manual_seed(0)
        model = WithLoss(BUILDERS[name]())
        export(name, model, x, y)
        train(name, model, x, y, args.steps)


if __name__ == "__main__":
    main()
