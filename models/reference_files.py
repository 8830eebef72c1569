"""Writes a model's PyTorch reference trajectories the way the trajectory tests read them
(test/Training/Inputs/compare_losses.py): ref/<model>/train_adamw.json for one rank and
ref/<model>/train_adamw_world2.json for 2 DDP ranks (halves of each batch). Shared by the
export_*_models.py scripts."""
import json
import os


def write_trajectories(ref_dir, record, ddp_losses):
    """record: {"config", "model", "data", "micro_batch_size", "steps", "loss", "generator"}
    for one rank; the world-2 file is the same with ddp_losses and half the micro-batch."""
    os.makedirs(ref_dir, exist_ok=True)
    keys = ("config", "model", "data", "world_size", "micro_batch_size", "steps", "loss",
            "generator")
    one = {k: (1 if k == "world_size" else record[k]) for k in keys}
    two = dict(one, world_size=2, micro_batch_size=record["micro_batch_size"] // 2,
               loss=ddp_losses)
    for name, res in (("train_adamw.json", one), ("train_adamw_world2.json", two)):
        with open(os.path.join(ref_dir, name), "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    tag = os.path.basename(ref_dir)
    print("  %s: loss %s" % (tag, " ".join("%.5f" % l for l in record["loss"])))
    print("  %s: world 2 %s" % (tag, " ".join("%.5f" % l for l in ddp_losses)))
