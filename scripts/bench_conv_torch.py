#!/usr/bin/python3
"""PyTorch's CPU conv2d forward + backward (input and weight gradients) time on one shape.

    /usr/bin/python3 scripts/bench_conv_torch.py N C H W M K STRIDE PAD [--iters I] [--threads T]
Prints `key value` lines (the best of I rounds, ms) like ds-bench-conv.
"""
import argparse
import time

import torch
import torch.nn.functional as F


def best(fn, iters):
    fn()
    t = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1e3)
    return min(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dims", nargs=8, type=int)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    n, c, h, w, m, k, s, p = a.dims
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, c, h, w, generator=g, requires_grad=True)
    wt = torch.randn(m, c, k, k, generator=g, requires_grad=True)
    y = F.conv2d(x, wt, stride=s, padding=p)
    gy = torch.randn(y.shape, generator=g)
    with torch.no_grad():
        fwd = best(lambda: F.conv2d(x, wt, stride=s, padding=p), a.iters)

    def backward():
        out = F.conv2d(x, wt, stride=s, padding=p)
        torch.autograd.grad(out, (x, wt), gy)

    total = best(backward, a.iters)
    print("threads %d\nforward_ms %.4f\ntotal_ms %.4f" % (a.threads, fwd, total))


if __name__ == "__main__":
    main()
