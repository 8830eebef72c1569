"""The bundled GPT's samples as a torch Dataset, and the order a DistributedSampler hands
them to each rank (what ds-run must read to see the same micro-batches)."""
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "models", "data", "gpt")


def dataset():
    idx = np.load(os.path.join(DATA, "idx.npy"))
    targets = np.load(os.path.join(DATA, "targets.npy"))
    return TensorDataset(torch.from_numpy(idx), torch.from_numpy(targets))


def loader(rank, world, micro_batch, seed=0):
    sampler = DistributedSampler(dataset(), num_replicas=world, rank=rank, shuffle=True,
                                 seed=seed)
    return DataLoader(dataset(), batch_size=micro_batch, sampler=sampler)


def write_ds_run_data(out, world, micro_batch, accumulation, steps):
    """<out>/idx.npy and targets.npy in ds-run's reading order: step s, rank r and micro-step
    m read samples [(s*world + r)*accumulation*mb + m*mb, +mb), so batch s*accumulation + m
    of rank r's DataLoader goes there."""
    batches = [list(loader(r, world, micro_batch)) for r in range(world)]
    idx, targets = [], []
    for s in range(steps):
        for r in range(world):
            for m in range(accumulation):
                x, y = batches[r][s * accumulation + m]
                idx.append(x.numpy())
                targets.append(y.numpy())
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "idx.npy"), np.concatenate(idx))
    np.save(os.path.join(out, "targets.npy"), np.concatenate(targets))


if __name__ == "__main__":
    import sys
    write_ds_run_data(sys.argv[1], *map(int, sys.argv[2:6]))
