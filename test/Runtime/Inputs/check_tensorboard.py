"""Reads ds-run's TensorBoard event file with TensorBoard's own reader (which checks every
record's masked CRC-32C and stops at a bad one) and compares it with the --metrics file:
    check_tensorboard.py LOGDIR METRICS.json GLOBAL_BATCH [fp16]
Train/Samples/train_loss at step s*G equals metrics loss[s]; Train/Samples/lr at (s+1)*G
equals metrics lr[s]; under fp16, Train/Samples/loss_scale at (s+1)*G (the scale after the
step) equals the scale step s+1 used, metrics loss_scale[s+1]."""
import glob
import json
import sys

from tensorboard.backend.event_processing import event_file_loader

logdir, metrics_path, global_batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
fp16 = len(sys.argv) > 4 and sys.argv[4] == "fp16"
files = glob.glob(logdir + "/events.out.tfevents.*")
assert len(files) == 1, files
events = list(event_file_loader.LegacyEventFileLoader(files[0]).Load())
assert events[0].file_version == "brain.Event:2", events[0]
scalars = {}
for e in events[1:]:
    assert len(e.summary.value) == 1, e
    v = e.summary.value[0]
    scalars.setdefault(v.tag, []).append((e.step, v.simple_value))
m = json.load(open(metrics_path))
n = len(m["loss"])
expected_tags = {"Train/Samples/train_loss", "Train/Samples/lr"}
if fp16:
    expected_tags.add("Train/Samples/loss_scale")
assert set(scalars) == expected_tags, sorted(scalars)


def close(a, b):  # simple_value is a float32
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


loss = scalars["Train/Samples/train_loss"]
assert [s for s, _ in loss] == [i * global_batch for i in range(n)], loss
assert all(close(v, x) for (_, v), x in zip(loss, m["loss"])), (loss, m["loss"])
lr = scalars["Train/Samples/lr"]
assert [s for s, _ in lr] == [(i + 1) * global_batch for i in range(n)], lr
assert all(close(v, x) for (_, v), x in zip(lr, m["lr"])), (lr, m["lr"])
if fp16:
    scale = scalars["Train/Samples/loss_scale"]
    assert len(scale) == n
    assert all(close(v, x) for (_, v), x in zip(scale, m["loss_scale"][1:])), scale
print("tensorboard: %d events, tags %s" % (len(events) - 1, ", ".join(sorted(scalars))))
