"""Makes the input of collectives.mlir and checks every rank's outputs exactly.

  collectives.py data DIR SAMPLES      writes DIR/x.npy (float32 [SAMPLES, 3])
  collectives.py check X OUT WORLD     checks OUT/rank<r>/<output>.npy for every rank
"""
import os
import sys

import numpy as np


def main():
    if sys.argv[1] == "data":
        os.makedirs(sys.argv[2], exist_ok=True)
        n = int(sys.argv[3])
        x = (np.arange(n * 3, dtype=np.float32).reshape(n, 3) * 0.5 - 3.0) * np.where(
            np.arange(n * 3).reshape(n, 3) % 2 == 0, 1.0, -1.0).astype(np.float32)
        np.save(os.path.join(sys.argv[2], "x.npy"), x)
        return
    x = np.load(sys.argv[2])
    out, world = sys.argv[3], int(sys.argv[4])
    shards = [x[2 * r:2 * r + 2] for r in range(world)]
    root = world - 1
    for r in range(world):
        expected = {
            "gathered": np.concatenate(shards, axis=0),
            "summed": np.sum(shards, axis=0, dtype=np.float32),
            "maxed": np.max(shards, axis=0),
            "scattered": world * shards[r],
            "broadcast": shards[root],
        }
        for name, want in expected.items():
            got = np.load(os.path.join(out, "rank%d" % r, name + ".npy"))
            if got.shape != want.shape or not np.array_equal(got, want.astype(got.dtype)):
                print("rank %d: %s differs:\n got %s\nwant %s" % (r, name, got, want))
                sys.exit(1)
    print("collectives: %d rank(s) exact" % world)


if __name__ == "__main__":
    main()
