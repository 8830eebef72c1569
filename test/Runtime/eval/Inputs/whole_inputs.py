"""Model and data for whole-inputs.test.

  whole_inputs.py make DIR     DIR/model.onnx: r = (x[3,4] + y[4]) * s[] (inputs of different
                               leading dims and a 0-d one); DIR/data/{x,y,s}.npy;
                               DIR/bad/{x,y,s}.npy with y of shape [1,4]
  whole_inputs.py check DIR    DIR/out/r.npy equals the numpy result exactly
"""
import os
import sys

import numpy as np


def data():
    x = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5) * 0.25
    y = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    s = np.array(1.5, dtype=np.float32)
    return x, y, s


def main():
    d = sys.argv[2]
    x, y, s = data()
    if sys.argv[1] == "make":
        import onnx
        from onnx import TensorProto, helper
        g = helper.make_graph(
            [helper.make_node("Add", ["x", "y"], ["t"]), helper.make_node("Mul", ["t", "s"], ["r"])],
            "whole_inputs",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
             helper.make_tensor_value_info("y", TensorProto.FLOAT, [4]),
             helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
            [helper.make_tensor_value_info("r", TensorProto.FLOAT, [3, 4])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        os.makedirs(os.path.join(d, "bad"), exist_ok=True)
        onnx.save(m, os.path.join(d, "model.onnx"))
        for name, a in (("x", x), ("y", y), ("s", s)):
            np.save(os.path.join(d, "data", name + ".npy"), a)
            np.save(os.path.join(d, "bad", name + ".npy"), a.reshape(1, 4) if name == "y" else a)
        return
    got = np.load(os.path.join(d, "out", "r.npy"))
    want = (x + y) * s
    if got.shape != want.shape or not np.array_equal(got, want):
        print("whole_inputs: r differs:\n got %s\nwant %s" % (got, want))
        sys.exit(1)
    print("whole_inputs: exact")


if __name__ == "__main__":
    main()
