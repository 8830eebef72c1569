# Checks wall_clock_breakdown's numbers in --metrics against each other and the CSV monitor.
import csv, json, sys

m = json.load(open(sys.argv[1]))
steps = len(m["loss"])
fwd, bwd, opt, comm, total = (m[k] for k in ("forward_ms", "backward_ms", "step_ms",
                                              "communication_ms", "ms_per_step"))
assert steps == 4 and all(len(x) == steps for x in (fwd, bwd, opt, comm, total)), m
for f, b, o, c, t in zip(fwd, bwd, opt, comm, total):
    assert f > 0 and b > 0 and o > 0 and c > 0, (f, b, o, c)
    assert f + b + o <= t, (f, b, o, t)
    assert c <= f + b + o, (c, f, b, o)
assert sum(bwd) > sum(fwd), (fwd, bwd)
global_batch = m["micro_batch"] * m["gradient_accumulation_steps"] * m["world_size"]
for name, values in (("forward", fwd), ("backward", bwd), ("step", opt),
                     ("communication", comm)):
    rows = list(csv.reader(open(f"{sys.argv[2]}/Train_Samples_elapsed_time_ms_{name}.csv")))
    assert rows[0] == ["step", f"elapsed_time_ms_{name}"], rows[0]
    assert [int(r[0]) for r in rows[1:]] == [(s + 1) * global_batch for s in range(steps)], rows
    assert all(abs(float(r[1]) - v) <= 1e-6 * v for r, v in zip(rows[1:], values)), (rows, values)
