"""Bad input to ds_opt raises DsError carrying ds-opt's / ds-run's one-line message, and the
interpreter goes on: a bad config, an unsupported op, a config implying another world size,
inputs of the wrong shape, dtype or count.
    errors.py BAD_CONFIG UNKNOWN_OP_ONNX MLP_ONNX MLP_CONFIG"""
import sys

import numpy as np

import ds_opt

bad_config, unknown_op, mlp, mlp_config = sys.argv[1:5]


def expect_error(what, fn):
    try:
        fn()
    except ds_opt.DsError as e:
        print("%s: DsError: %s" % (what, e))
        return
    raise SystemExit("%s: no error raised" % what)


expect_error("config", lambda: ds_opt.initialize(onnx=mlp, config=bad_config))
expect_error("op", lambda: ds_opt.initialize(onnx=unknown_op, config=mlp_config))
expect_error("world", lambda: ds_opt.initialize(
    onnx=mlp, config={"train_batch_size": 8, "train_micro_batch_size_per_gpu": 4,
                      "gradient_accumulation_steps": 1,
                      "optimizer": {"type": "SGD", "params": {"lr": 0.1}}}))
expect_error("config-file", lambda: ds_opt.initialize(onnx=mlp, config="/nonexistent.json"))
expect_error("both", lambda: ds_opt.initialize(onnx=mlp, model=object(), config=mlp_config))

engine, _, _, _ = ds_opt.initialize(onnx=mlp, config=mlp_config)
(xn, xt, xs), (yn, yt, ys) = engine._inputs
print("inputs:", xn, xt, xs, yn, yt, ys)
x = np.zeros(xs, dtype=xt)
y = np.zeros(ys, dtype=yt)
expect_error("shape", lambda: engine.train_batch(np.zeros([xs[0] + 1] + xs[1:], dtype=xt), y))
expect_error("dtype", lambda: engine.train_batch(x, np.zeros(ys, dtype=np.float32)))
expect_error("count", lambda: engine.train_batch(x))
expect_error("order", lambda: engine.step())
print("trained: loss %.4f" % engine.train_batch(x, y))
