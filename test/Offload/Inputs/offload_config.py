"""Writes a DeepSpeed config with offload:
  offload_config.py BASE OUT OPT PARAM [NVME_DIR] [--bf16 | --fp16] [--sgd | --lamb]

BASE is a config file; OPT / PARAM are the offload devices of zero_optimization's
offload_optimizer / offload_param (none, cpu or nvme; PARAM none leaves offload_param out);
NVME_DIR is the nvme_path of both; --bf16 / --fp16 turn on mixed precision (fp16 with a
dynamic loss scale from 2^8); --sgd / --lamb replace the optimizer (SGD with momentum 0.9,
Lamb), whose state (momentum buffer; Lamb's moments) is what moves.
"""
import json
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
base, out, opt, param = args[:4]
nvme = args[4] if len(args) > 4 else ""
cfg = json.load(open(base))
zero = cfg.setdefault("zero_optimization", {})
if opt != "none":
    zero["offload_optimizer"] = {"device": opt}
    if opt == "nvme":
        # Enough staging buffers for one sub-group of read-ahead.
        zero["offload_optimizer"].update({"nvme_path": nvme, "buffer_count": 8})
if param != "none":
    zero["offload_param"] = {"device": param}
    if param == "nvme":
        zero["offload_param"]["nvme_path"] = nvme
        zero["offload_param"]["max_in_cpu"] = 0
if opt == "nvme" or param == "nvme":
    zero["sub_group_size"] = 1000
if "--bf16" in sys.argv:
    cfg["bf16"] = {"enabled": True}
if "--fp16" in sys.argv:
    cfg["fp16"] = {"enabled": True, "initial_scale_power": 8}
if "--sgd" in sys.argv:
    cfg["optimizer"] = {"type": "SGD", "params": {"lr": 0.01, "momentum": 0.9}}
if "--lamb" in sys.argv:
    cfg["optimizer"] = {"type": "Lamb", "params": {"lr": 0.01}}
json.dump(cfg, open(out, "w"), indent=2)
