#!/usr/bin/python3
"""Draws loss and throughput curves from `ds-run --metrics` JSON files (matplotlib).

  scripts/plot-metrics.py METRICS.json [MORE.json ...] -o FILE.svg|.png [--label NAME ...]

Panels: loss per optimizer step (the learning rate on a second axis when the file has `lr`),
samples/s per step (from `ms_per_step` and the global batch; the dashed line is the median,
which a shared machine's stalls do not drag down), and, when the run had
`wall_clock_breakdown`, the median forward / backward / optimizer step time per step as one
stacked bar per file. Several files
are drawn over each other (one colour per file), labelled by --label or by file name.
A bad file is one error naming the file and key, exit 1; the picture is written to a temporary
file and renamed into place, so an existing one is never left half-written.
"""
import argparse
import json
import math
import os
import statistics
import sys
import tempfile


def fail(message):
    print(f"plot-metrics: {message}", file=sys.stderr)
    sys.exit(1)


def number_list(path, metrics, key, length=None, required=True):
    if key not in metrics:
        if required:
            fail(f"{path}: no '{key}' (write it with ds-run --metrics)")
        return None
    values = metrics[key]
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values):
        fail(f"{path}: '{key}' must be a list of finite numbers")
    if length is not None and len(values) != length:
        fail(f"{path}: '{key}' has {len(values)} entries, 'loss' has {length}")
    return values


def positive_int(path, metrics, key):
    v = metrics.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        fail(f"{path}: '{key}' must be a positive integer, got {v!r}")
    return v


def load(path):
    try:
        with open(path) as f:
            metrics = json.load(f)
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    except json.JSONDecodeError as e:
        fail(f"{path}: not JSON ({e})")
    if not isinstance(metrics, dict):
        fail(f"{path}: not a ds-run --metrics object")
    run = {"loss": number_list(path, metrics, "loss")}
    steps = len(run["loss"])
    if steps == 0:
        fail(f"{path}: 'loss' is empty (no step ran)")
    run["ms"] = number_list(path, metrics, "ms_per_step", steps)
    run["lr"] = number_list(path, metrics, "lr", steps, required=False)
    run["global"] = (positive_int(path, metrics, "micro_batch") *
                     positive_int(path, metrics, "gradient_accumulation_steps") *
                     positive_int(path, metrics, "world_size"))
    run["world"] = metrics["world_size"]
    phases = [number_list(path, metrics, k, steps, required=False)
              for k in ("forward_ms", "backward_ms", "step_ms")]
    run["phases"] = phases if all(p is not None for p in phases) else None
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="+", help="ds-run --metrics JSON files")
    ap.add_argument("-o", "--output", required=True, help="FILE.svg or FILE.png")
    ap.add_argument("--label", action="append", default=[],
                    help="legend name per file, in order (default: the file name)")
    ap.add_argument("--title", default="ds-run training", help="the picture's title")
    args = ap.parse_args()
    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".svg", ".png"):
        fail(f"{args.output}: the output must end in .svg or .png")
    if args.label and len(args.label) != len(args.metrics):
        fail(f"{len(args.label)} --label for {len(args.metrics)} metrics files")
    runs = [load(p) for p in args.metrics]
    labels = args.label or [os.path.basename(p) for p in args.metrics]

    try:
        import matplotlib
    except ImportError:
        fail("matplotlib is not installed (Debian: apt-get install python3-matplotlib; "
             "scripts/setup.sh installs it)")
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small, searchable SVGs
    matplotlib.rcParams["svg.hashsalt"] = "ds-run"  # the same input draws the same file
    import matplotlib.pyplot as plt

    breakdown = any(r["phases"] for r in runs)
    panels = 3 if breakdown else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    loss_ax, speed_ax = axes[0], axes[1]
    lr_ax = None
    tallest = 0.0  # the highest breakdown bar, to leave room for the legend above it
    for i, (run, label) in enumerate(zip(runs, labels)):
        c = colours[i % len(colours)]
        steps = list(range(1, len(run["loss"]) + 1))
        loss_ax.plot(steps, run["loss"], color=c, label=label)
        if run["lr"] is not None:
            lr_ax = lr_ax or loss_ax.twinx()
            lr_ax.plot(steps, run["lr"], color=c, linestyle=":", linewidth=1)
        rate = [run["global"] * 1e3 / ms if ms > 0 else 0.0 for ms in run["ms"]]
        speed_ax.plot(steps, rate, color=c, linewidth=0.8, alpha=0.6)
        median = statistics.median(rate)
        speed_ax.axhline(median, color=c, linestyle="--", linewidth=1,
                         label=f"{label}: median {median:.0f}")
        if breakdown and run["phases"]:
            bottom = 0.0
            for phase, values, hatch in zip(("forward", "backward", "step"), run["phases"],
                                            ("", "//", "..")):
                ms = statistics.median(values)
                axes[2].bar(i, ms, bottom=bottom, color=c, hatch=hatch, edgecolor="white",
                            label=f"{label} {phase}")
                bottom += ms
            tallest = max(tallest, bottom)
    loss_ax.set(title="loss", xlabel="optimizer step", ylabel="loss")
    loss_ax.legend(fontsize="small")
    if lr_ax:
        lr_ax.set_ylabel("learning rate (dotted)")
    speed_ax.set(title="throughput", xlabel="optimizer step", ylabel="samples/s")
    speed_ax.set_ylim(bottom=0)
    speed_ax.legend(fontsize="small")
    if breakdown:
        axes[2].set(title="wall_clock_breakdown (median per step)", ylabel="ms")
        axes[2].set_xticks(range(len(runs)), labels)
        axes[2].set_ylim(0, max(tallest, 1e-3) * (1.25 + 0.12 * len(runs)))
        axes[2].legend(fontsize="small")
    fig.suptitle(args.title)
    fig.tight_layout()

    out_dir = os.path.dirname(os.path.abspath(args.output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".plot-metrics-", suffix=ext, dir=out_dir)
    except OSError as e:
        fail(f"{args.output}: cannot write into {out_dir}: {e.strerror}")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=ext[1:], metadata={"Date": None} if ext == ".svg" else None)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, args.output)
    except OSError as e:
        os.unlink(tmp)
        fail(f"{args.output}: {e.strerror}")
    print(f"plot-metrics: wrote {args.output}")


if __name__ == "__main__":
    main()
