"""nanoGPT-style training with ds_opt, written as a DeepSpeed user writes it (only the import
differs): tokens memory-mapped from a uint16 .bin file, a DataLoader with a
DistributedSampler, engine(...)/backward/step, a checkpoint every N steps, --resume.

    python3 prepare.py input.txt data
    mpirun -np 2 python3 train.py --data data --steps 100 --ckpt out/ckpt --ckpt-every 50
    mpirun -np 2 python3 train.py --data data --steps 200 --ckpt out/ckpt --resume
"""
import argparse
import json
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

import ds_opt as deepspeed  # the only change from a DeepSpeed script
from model import GPT, GPTConfig

HERE = os.path.dirname(os.path.abspath(__file__))


class TokenWindows(Dataset):
    """Sample i: tokens [i*T, i*T + T) and the same shifted by one, from a uint16 memmap."""

    def __init__(self, path, block_size):
        self.tokens = np.memmap(path, dtype=np.uint16, mode="r")
        self.T = block_size
        self.n = (len(self.tokens) - 1) // block_size
        if self.n == 0:
            raise SystemExit("%s: %d tokens, fewer than one window of %d" %
                             (path, len(self.tokens), block_size + 1))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        w = self.tokens[i * self.T:i * self.T + self.T + 1].astype(np.int64)
        return torch.from_numpy(w[:-1]), torch.from_numpy(w[1:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="directory with train.bin and meta.json")
    p.add_argument("--config", default=os.path.join(HERE, "ds_config.json"))
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--ckpt", default="out/ckpt")
    p.add_argument("--ckpt-every", type=int, default=50)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args()

    meta = json.load(open(os.path.join(args.data, "meta.json")))
    torch.manual_seed(args.seed)  # the same initial weights on every rank (and on resume)
    model = GPT(GPTConfig(vocab_size=meta["vocab_size"], block_size=args.block_size))
    data = TokenWindows(os.path.join(args.data, "train.bin"), args.block_size)
    cfg = json.load(open(args.config))
    example = data[0]
    mb = cfg["train_micro_batch_size_per_gpu"]
    engine, _, _, _ = deepspeed.initialize(
        model=model, model_parameters=model.parameters(), config=args.config,
        example_inputs=(example[0].repeat(mb, 1), example[1].repeat(mb, 1)))
    sampler = DistributedSampler(data, num_replicas=engine.world_size, rank=engine.rank,
                                 shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(data, batch_size=mb, sampler=sampler, drop_last=True)
    if len(loader) == 0:
        raise SystemExit("%s: too few windows for one micro-batch per rank" % args.data)

    if args.resume:
        path, _ = engine.load_checkpoint(args.ckpt)
        if engine.rank == 0:
            print("resumed from %s at step %d" % (path, engine.global_steps), flush=True)
    # Where this rank's sample stream stands: micro-batches consumed so far.
    consumed = engine.global_steps * engine.gradient_accumulation_steps
    epoch, skip = divmod(consumed, len(loader))
    while engine.global_steps < args.steps:
        sampler.set_epoch(epoch)
        for i, (x, y) in enumerate(loader):
            if i < skip:
                continue
            loss = engine(x, y)
            engine.backward(loss)
            engine.step()
            if engine.micro_steps % engine.gradient_accumulation_steps:
                continue
            step = engine.global_steps
            if engine.rank == 0:
                print("step %d loss %.9g lr %.6g" % (step, engine.step_loss, engine.get_lr()[0]),
                      flush=True)
            if step % args.ckpt_every == 0 or step == args.steps:
                engine.save_checkpoint(args.ckpt)
                if engine.rank == 0:
                    print("saved %s/global_step%d" % (args.ckpt, step), flush=True)
            if step >= args.steps:
                break
        epoch, skip = epoch + 1, 0


if __name__ == "__main__":
    main()
