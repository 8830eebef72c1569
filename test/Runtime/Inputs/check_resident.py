"""Makes the MLP of resident-memory.test, or checks a run's --metrics against the bound.

  check_resident.py make MODEL.onnx HIDDEN
  check_resident.py check MODEL.onnx METRICS.json [LABEL]

check: every rank's peak resident set (ds-run's peak_resident_bytes, getrusage) must stay
within the plan's bytes (persistent region + arena + host region) + the model file + 50 MiB
(issue #18: a rank without a GPU pays for what the plan says, not for libraries it does not
use). Prints one line per rank and PASS/FAIL.
"""
import json
import os
import sys

MIB = 1 << 20


def make(path, hidden):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = []
    for name, shape in [("w1", (hidden, 1024)), ("w2", (hidden, hidden)), ("w3", (10, hidden))]:
        t = numpy_helper.from_array((rng.standard_normal(shape) * 0.01).astype(np.float32))
        t.name = name
        inits.append(t)
    nodes = [
        helper.make_node("Gemm", ["x", "w1"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("Gemm", ["r1", "w2"], ["h2"], transB=1),
        helper.make_node("Relu", ["h2"], ["r2"]),
        helper.make_node("Gemm", ["r2", "w3"], ["logits"], transB=1),
        helper.make_node("SoftmaxCrossEntropyLoss", ["logits", "y"], ["loss"]),
    ]
    graph = helper.make_graph(
        nodes, "resident",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 1024]),
         helper.make_tensor_value_info("y", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def check(model, metrics, label):
    m = json.load(open(metrics))
    plan = m["persistent_bytes"] + m["arena_bytes"] + m["planned_host_bytes"]
    bound = plan + os.path.getsize(model) + 50 * MIB
    ok = True
    for rank, rss in enumerate(m["peak_resident_bytes"]):
        fits = 0 < rss <= bound
        ok &= fits
        print(f"{label} rank {rank}: peak resident {rss / MIB:.1f} MiB, plan {plan / MIB:.1f} MiB "
              f"+ model {os.path.getsize(model) / MIB:.1f} MiB + 50 MiB = {bound / MIB:.1f} MiB: "
              f"{'within' if fits else 'OVER'}")
    print("PASS" if ok else "FAIL")
    return ok


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(0 if check(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "") else 1)
