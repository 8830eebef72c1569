#!/usr/bin/python3
"""Generates a GPT-2-small-sized training graph as ONNX, by hand (onnx + numpy, no torch).

    /usr/bin/python3 models/gen_gpt2.py                      # 124M params -> models/gen/gpt2_124m.onnx
    /usr/bin/python3 models/gen_gpt2.py --external-data      # weights in gpt2_124m.onnx.data
    /usr/bin/python3 models/gen_gpt2.py --layers 1 --seq 16 --vocab 96 --block 16 --embd 32 --heads 2 \
        --out /tmp/tiny.onnx                                 # a tiny variant for tests

The graph mirrors, node for node, what torch.onnx.export (PyTorch 1.13, opset 17,
TrainingMode.TRAINING, do_constant_folding=False, dynamic batch) emits for nanoGPT, i.e. the
structure of models/gpt_dynbatch.onnx:
  * parameter names of nanoGPT (transformer.wte.weight, transformer.h.<i>.attn.c_attn.weight, ...),
    Linear weights stored [out, in] and used as MatMul(x, Transpose(W)) then Add(bias, .);
  * lm_head tied to transformer.wte.weight (Transpose + MatMul), no separate initializer;
  * a float causal-mask buffer transformer.h.<i>.attn.bias [1,1,block,block] (tril of ones),
    sliced to [:T, :T], Equal(.,0) -> Cast(bool) -> Where(-inf, scores) -> Softmax;
  * LayerNormalization (eps 1e-5), erf GELU (Div sqrt2, Erf, Add 1, Mul, Mul 0.5), Dropout with
    ratio 0 and training_mode true, Split of the fused qkv projection;
  * shape subgraphs as the exporter writes them for a dynamic batch: Shape/Gather/Div/Cast/
    Unsqueeze/Concat feeding Reshape, Range(0, T) for the positions, Slice/Squeeze for the vocab;
  * SoftmaxCrossEntropyLoss(reduction mean, ignore_index -100) on logits viewed [-1, vocab].
Inputs idx, targets int64 [batch, seq]; outputs logits [batch, seq, vocab], loss (scalar).
Weights: fixed seed, nanoGPT's init: N(0, 0.02) for embeddings and Linear weights, with the
residual projections (c_proj) at 0.02/sqrt(2*layers); biases 0; LayerNorm weight 1, bias 0.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import onnx
import onnx.checker
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
INT64_MAX = 9223372036854775807


class Builder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.counts = {}

    def _name(self, scope, op):
        key = (scope, op)
        k = self.counts.get(key, 0)
        self.counts[key] = k + 1
        return "%s/%s%s" % (scope, op, "" if k == 0 else "_%d" % k)

    def op(self, scope, op_type, inputs, n_out=1, **attrs):
        name = self._name(scope, op_type)
        outs = ["%s_output_%d" % (name, i) for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, scope, value, dtype):
        arr = np.array(value, dtype=dtype)
        name = self._name(scope, "Constant")
        out = name + "_output_0"
        self.nodes.append(helper.make_node("Constant", [], [out], name=name,
                                           value=numpy_helper.from_array(arr, name="")))
        return out

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(arr, name=name))
        return name

    def param(self, name, shape, make, shared=False):
        """An fp32 initializer of `shape` whose values make() returns (called here, in
        build order, so the seeded draws stay the same). models/gen_large_gpt.py overrides
        this to write no values at all; `shared` marks buffers equal in every layer."""
        return self.init(name, make())

    # -- the exporter's idioms -----------------------------------------------------------------
    def unsqueeze0(self, scope, x):
        return self.op(scope, "Unsqueeze", [x, self.const(scope, [0], np.int64)])

    def linear(self, scope, x, w, b):
        wt = self.op(scope, "Transpose", [w], perm=[1, 0])
        y = self.op(scope, "MatMul", [x, wt])
        return self.op(scope, "Add", [b, y]) if b else y

    def dropout(self, scope, x):
        r = self.const(scope, 0.0, np.float32)
        t = self.const(scope, True, np.bool_)
        return self.op(scope, "Dropout", [x, r, t], n_out=2)[0]

    def layer_norm(self, scope, x, w, b):
        return self.op(scope, "LayerNormalization", [x, w, b], axis=-1, epsilon=1e-5)


def build(layers, n_embd, n_head, vocab, block, seq, seed, builder=None):
    assert n_embd % n_head == 0, "n_embd must be a multiple of n_head"
    assert seq <= block, "seq must not exceed block"
    hd = n_embd // n_head
    rng = np.random.default_rng(seed)
    std, proj_std = 0.02, 0.02 / math.sqrt(2 * layers)

    def normal(shape, s):
        a = rng.standard_normal(shape, dtype=np.float32)
        a *= np.float32(s)
        return a

    g = builder if builder is not None else Builder()
    P = "transformer."
    g.param(P + "wte.weight", (vocab, n_embd), lambda: normal((vocab, n_embd), std))
    g.param(P + "wpe.weight", (block, n_embd), lambda: normal((block, n_embd), std))

    def ones(n):
        return lambda: np.ones(n, np.float32)

    def zeros(n):
        return lambda: np.zeros(n, np.float32)

    def mask():
        return np.tril(np.ones((block, block), np.float32)).reshape(1, 1, block, block)

    # positions: Range(0, Shape(idx)[1], 1)
    sh = g.op("", "Shape", ["idx"])
    T = g.op("", "Gather", [sh, g.const("", 1, np.int64)], axis=0)
    zero = g.const("", 0, np.int64)
    heads_c = g.const("", n_head, np.int64)
    start = g.op("", "Cast", [zero], to=TensorProto.INT64)
    limit = g.op("", "Cast", [T], to=TensorProto.INT64)
    pos = g.op("", "Range", [start, limit, g.const("", 1, np.int64)])
    minus1 = g.const("/wte", -1, np.int64)
    tok = g.op("/wte", "Gather", [P + "wte.weight", "idx"])
    pe = g.op("/wpe", "Gather", [P + "wpe.weight", pos])
    x = g.dropout("/drop", g.op("", "Add", [tok, pe]))

    for i in range(layers):
        s = "/h.%d" % i
        a = s + "/attn"
        h = "%sh.%d." % (P, i)
        ln1w = g.param(h + "ln_1.weight", (n_embd,), ones(n_embd))
        ln1b = g.param(h + "ln_1.bias", (n_embd,), zeros(n_embd))
        g.param(h + "attn.bias", (1, 1, block, block), mask, shared=True)
        wqkv = g.param(h + "attn.c_attn.weight", (3 * n_embd, n_embd),
                       lambda: normal((3 * n_embd, n_embd), std))
        bqkv = g.param(h + "attn.c_attn.bias", (3 * n_embd,), zeros(3 * n_embd))
        wo = g.param(h + "attn.c_proj.weight", (n_embd, n_embd),
                     lambda: normal((n_embd, n_embd), proj_std))
        bo = g.param(h + "attn.c_proj.bias", (n_embd,), zeros(n_embd))
        ln2w = g.param(h + "ln_2.weight", (n_embd,), ones(n_embd))
        ln2b = g.param(h + "ln_2.bias", (n_embd,), zeros(n_embd))
        wfc = g.param(h + "mlp.c_fc.weight", (4 * n_embd, n_embd),
                      lambda: normal((4 * n_embd, n_embd), std))
        bfc = g.param(h + "mlp.c_fc.bias", (4 * n_embd,), zeros(4 * n_embd))
        wp = g.param(h + "mlp.c_proj.weight", (n_embd, 4 * n_embd),
                     lambda: normal((n_embd, 4 * n_embd), proj_std))
        bp = g.param(h + "mlp.c_proj.bias", (n_embd,), zeros(n_embd))

        y = g.layer_norm(s + "/ln_1", x, ln1w, ln1b)
        # B, T, C = x.size()
        dims = [g.op(a, "Gather", [g.op(a, "Shape", [y]), g.const(a, k, np.int64)], axis=0) for k in range(3)]
        B_, T_, C_ = dims
        qkv = g.linear(a + "/c_attn", y, wqkv, bqkv)
        q, k, v = g.op(a, "Split", [qkv, g.const(a, [n_embd] * 3, np.int64)], n_out=3, axis=2)
        # C // n_head
        hdim = g.op(a, "Cast", [g.op(a, "Cast", [g.op(a, "Div", [C_, g.const(a, n_head, np.int64)])],
                                    to=TensorProto.INT64)], to=TensorProto.INT64)

        def heads_shape():
            return g.op(a, "Concat", [g.unsqueeze0(a, B_), g.unsqueeze0(a, T_), g.unsqueeze0(a, heads_c),
                                      g.unsqueeze0(a, hdim)], axis=0)
        sk, sq, sv = heads_shape(), heads_shape(), heads_shape()
        k4 = g.op(a, "Reshape", [k, sk], allowzero=0)
        q4 = g.op(a, "Transpose", [g.op(a, "Reshape", [q, sq], allowzero=0)], perm=[0, 2, 1, 3])
        v4 = g.op(a, "Transpose", [g.op(a, "Reshape", [v, sv], allowzero=0)], perm=[0, 2, 1, 3])
        kT = g.op(a, "Transpose", [k4], perm=[0, 2, 3, 1])
        att = g.op(a, "Mul", [g.op(a, "MatMul", [q4, kT]), g.const(a, 1.0 / math.sqrt(hd), np.float32)])
        # self.bias[:, :, :T, :T] == 0
        m = g.op(a, "Slice", [h + "attn.bias", g.unsqueeze0(a, zero), g.unsqueeze0(a, T_),
                              g.unsqueeze0(a, g.const(a, 2, np.int64)), g.const(a, [1], np.int64)])
        m = g.op(a, "Slice", [m, g.unsqueeze0(a, zero), g.unsqueeze0(a, T_),
                              g.unsqueeze0(a, g.const(a, 3, np.int64)), g.const(a, [1], np.int64)])
        cond = g.op(a, "Cast", [g.op(a, "Equal", [m, g.const(a, 0.0, np.float32)])], to=TensorProto.BOOL)
        att = g.op(a, "Where", [cond, g.const(a, -np.inf, np.float32), att])
        att = g.dropout(a + "/attn_dropout", g.op(a, "Softmax", [att], axis=-1))
        o = g.op(a, "Transpose", [g.op(a, "MatMul", [att, v4])], perm=[0, 2, 1, 3])
        o = g.op(a, "Reshape", [o, g.op(a, "Concat", [g.unsqueeze0(a, B_), g.unsqueeze0(a, T_),
                                                      g.unsqueeze0(a, C_)], axis=0)], allowzero=0)
        o = g.dropout(a + "/resid_dropout", g.linear(a + "/c_proj", o, wo, bo))
        x = g.op(s, "Add", [x, o])

        y = g.layer_norm(s + "/ln_2", x, ln2w, ln2b)
        f = g.linear(s + "/c_fc", y, wfc, bfc)
        e = g.op(s, "Erf", [g.op(s, "Div", [f, g.const(s, math.sqrt(2.0), np.float32)])])
        f = g.op(s, "Mul", [g.op(s, "Mul", [f, g.op(s, "Add", [e, g.const(s, 1.0, np.float32)])]),
                            g.const(s, 0.5, np.float32)])
        f = g.dropout(s + "/dropout", g.linear(s + "/c_proj", f, wp, bp))
        x = g.op(s, "Add", [x, f])

    lnfw = g.param(P + "ln_f.weight", (n_embd,), ones(n_embd))
    lnfb = g.param(P + "ln_f.bias", (n_embd,), zeros(n_embd))
    y = g.layer_norm("/ln_f", x, lnfw, lnfb)
    wt = g.op("/lm_head", "Transpose", [P + "wte.weight"], perm=[1, 0])
    g.nodes.append(helper.make_node("MatMul", [y, wt], ["logits"], name="/lm_head/MatMul"))
    # logits.view(-1, logits.size(-1))
    vdim = g.op("", "Slice", [g.op("", "Shape", ["logits"]), g.const("", [-1], np.int64),
                              g.const("", [INT64_MAX], np.int64), g.const("", [0], np.int64)])
    vdim = g.op("", "Squeeze", [vdim, g.const("", [0], np.int64)])
    shape2 = g.op("", "Concat", [g.unsqueeze0("", minus1), g.unsqueeze0("", vdim)], axis=0)
    flat = g.op("", "Reshape", ["logits", shape2], allowzero=0)
    tflat = g.op("", "Reshape", ["targets", g.const("", [-1], np.int64)], allowzero=0)
    g.nodes.append(helper.make_node("SoftmaxCrossEntropyLoss", [flat, tflat], ["loss"],
                                    name="/SoftmaxCrossEntropyLoss", reduction="mean", ignore_index=-100))

    graph = helper.make_graph(
        g.nodes, "gpt2",
        inputs=[helper.make_tensor_value_info("idx", TensorProto.INT64, ["batch", seq]),
                helper.make_tensor_value_info("targets", TensorProto.INT64, ["batch", seq])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", seq, vocab]),
                 helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ds-opt models/gen_gpt2.py", ir_version=8)
    model.doc_string = ("GPT-2 style training graph: layers=%d n_embd=%d n_head=%d vocab=%d block=%d seq=%d seed=%d"
                        % (layers, n_embd, n_head, vocab, block, seq, seed))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "gen", "gpt2_124m.onnx"))
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--block", type=int, default=None, help="block_size (wpe rows, mask size); default max(1024, seq)")
    ap.add_argument("--seq", type=int, default=1024, help="static sequence length of idx/targets")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--external-data", action="store_true",
                    help="store the weights in a side file <out>.data (ONNX external data)")
    args = ap.parse_args()
    block = args.block if args.block is not None else max(1024, args.seq)
    if args.seq > block:
        ap.error("--seq %d exceeds --block %d" % (args.seq, block))

    t0 = time.time()
    model = build(args.layers, args.embd, args.heads, args.vocab, block, args.seq, args.seed)
    n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer if not t.name.endswith(".attn.bias"))
    n_buffer = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.name.endswith(".attn.bias"))
    t1 = time.time()
    onnx.checker.check_model(model)   # in memory (< 2 GB); external data is written afterwards
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if args.external_data:
        loc = os.path.basename(out) + ".data"
        if os.path.exists(os.path.join(os.path.dirname(out), loc)):
            os.remove(os.path.join(os.path.dirname(out), loc))   # the writer appends
        onnx.save_model(model, out, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=loc, size_threshold=1024)
        onnx.checker.check_model(out)  # path-based: resolves the external data file
    else:
        onnx.save_model(model, out)
    t2 = time.time()
    print("%s: %d parameters (%.2fM; %.2fM without wpe), +%d mask-buffer elements, %d nodes, "
          "layers=%d n_embd=%d n_head=%d vocab=%d block=%d seq=%d" % (
              out, n_params, n_params / 1e6, (n_params - block * args.embd) / 1e6, n_buffer,
              len(model.graph.node), args.layers, args.embd, args.heads, args.vocab, block, args.seq))
    print("built in %.1f s, checked and written in %.1f s%s" % (
        t1 - t0, t2 - t1, " (weights in %s.data)" % out if args.external_data else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
