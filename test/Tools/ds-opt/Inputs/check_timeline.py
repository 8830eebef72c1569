"""Checks a --memory-timeline CSV against --memory-report=json of the same compile:
    check_timeline.py TIMELINE.csv REPORT.json
The largest row total equals per_rank.device (persistent region + arena high-water); each
row's columns add up to its total; the persistent columns are the same on every row and sum
to the persistent region (report device - activations); the arena columns never exceed the
arena high-water (report activations)."""
import csv
import json
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
report = json.load(open(sys.argv[2]))["per_rank"]
uses = ["parameters", "gradients", "optimizer_states", "other_persistent", "activations",
        "collective_buffers", "arena_gaps"]
persistent = ["parameters", "gradients", "optimizer_states", "other_persistent"]
assert rows, "empty timeline"
for r in rows:
    assert sum(int(r[u]) for u in uses) == int(r["total"]), r
    for u in persistent:
        assert r[u] == rows[0][u], (u, r, rows[0])
    arena = sum(int(r[u]) for u in ["activations", "collective_buffers", "arena_gaps"])
    assert arena <= report["activations"], (r, report)
persistent_bytes = sum(int(rows[0][u]) for u in persistent)
assert persistent_bytes == report["device"] - report["activations"], (persistent_bytes, report)
peak = max(int(r["total"]) for r in rows)
assert peak == report["device"], (peak, report)
assert {r["program"] for r in rows} >= {"micro_step", "apply_step"}, {r["program"] for r in rows}
print("timeline: %d instructions, peak %d = planned device bytes" % (len(rows), peak))
