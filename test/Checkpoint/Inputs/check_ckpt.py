"""Checks for the checkpoint tests (test/Checkpoint): loss trajectories, safetensors files,
exported ONNX models, and a dropout variant of the bundled MLP.

  check_ckpt.py bitwise FULL.json PART.json...      losses (and loss scales) of the parts,
                                                   concatenated, equal FULL's bit for bit
  check_ckpt.py close FULL.json PART.json K RTOL    PART's losses equal FULL's from step K+1
  check_ckpt.py safetensors FILE.safetensors DIR    every DIR/<name>.npy equals the tensor
  check_ckpt.py mangle IN.safetensors OUT         IN without fc3.bias, with an extra foo,
                                                   fc1.weight transposed, fc2.bias f64
  check_ckpt.py strip-prefix IN OUT PREFIX        IN with PREFIX dropped from every name
  check_ckpt.py strip-states IN.dsplan OUT.dsplan PROTO_DIR
                                                   IN without Plan.states (an older ds-opt)
  check_ckpt.py masters FILE.safetensors CKPT    FILE's tensors equal the checkpoint's
                                                   fp32 master shards, joined
  check_ckpt.py onnx MODEL.onnx DIR                 every DIR/<name>.npy equals the initializer
  check_ckpt.py ort MODEL.onnx DATA N LOSS.npy      onnxruntime's loss on the first N samples
                                                   equals LOSS.npy within 1e-5 relative
  check_ckpt.py dropout IN.onnx OUT.onnx RATIO      IN with a training-mode Dropout after
                                                   the first Relu
  check_ckpt.py model-hash MODEL.onnx MANIFEST      the manifest's model_hash is MODEL's
                                                   ContentHash (runtime/README.md "Hashes")
  check_ckpt.py file-hashes TAGDIR                 each shard's hash in TAGDIR's manifest is
                                                   the file's PieceHash with StripeHash
                                                   (version 3) or ContentHash (version 2),
                                                   or its ContentHash (version 1)
  check_ckpt.py version1 TAGDIR                    rewrites TAGDIR's manifest as version 1
                                                   (ContentHash of each whole file)
  check_ckpt.py version2 TAGDIR                    rewrites TAGDIR's manifest as version 2
                                                   (PieceHash with ContentHash)
  check_ckpt.py stripe-hash N...                   StripeHash of N pattern bytes (i*131+7)
"""
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "BOOL": np.bool_}


def content_hash(data):
    """ContentHash (runtime/lib/Safetensors.cpp), as 16 hex digits."""
    m, prime = 0xFFFFFFFFFFFFFFFF, 0x100000001b3
    lanes = [0xcbf29ce484222325, 0x84222325cbf29ce4, 0x9ce484222325cbf2, 0x2325cbf29ce48422]
    full = len(data) // 32 * 32
    for at in range(0, full, 32):
        for i, x in enumerate(struct.unpack_from("<4Q", data, at)):
            lanes[i] = ((lanes[i] ^ x) * prime) & m
    s = 0xcbf29ce484222325
    for v in lanes + list(data[full:]):
        s = ((s ^ v) * prime) & m
    return "%016x" % (((s ^ len(data)) * prime) & m)


def _splitmix64(state, n):
    m, out = 0xFFFFFFFFFFFFFFFF, []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & m
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        out.append(z ^ (z >> 31))
    return out


_STRIPE_KEYS = _splitmix64(0x64732d6f70742d33, 32)  # K[0..23], then S[0..7]


def stripe_hash(data):
    """StripeHash (runtime/include/ds/runtime/StripeHash.h), as 16 hex digits, in numpy
    uint64 arithmetic (wrapping mod 2^64)."""
    u = np.uint64
    k = np.array(_STRIPE_KEYS[:24], dtype=u)
    scram = np.array(_STRIPE_KEYS[24:], dtype=u)
    swap = np.array([1, 0, 3, 2, 5, 4, 7, 6])
    # per stripe s (0..15 within its block), lane j: key K[s + j]
    keys = np.stack([k[s:s + 8] for s in range(16)])
    acc = k[:8] ^ scram
    nblocks = len(data) // 1024
    # The sums of each whole block's 16 stripes (additions commute within a block).
    w = np.frombuffer(data, dtype="<u8", count=nblocks * 128).reshape(nblocks, 16, 8)
    x = w ^ keys
    prod = (x & u(0xFFFFFFFF)) * (x >> u(32))
    blocks = prod.sum(axis=1, dtype=u) + w.sum(axis=1, dtype=u)[:, swap]
    for b in range(nblocks):
        a = acc + blocks[b]
        a ^= a >> u(47)
        a ^= scram
        acc = a * u(0x9E3779B1)
    tail = data[nblocks * 1024:]
    tail += b"\0" * (-len(tail) % 64)
    for s in range(len(tail) // 64):
        ws = np.frombuffer(tail, dtype="<u8", count=8, offset=64 * s)
        xs = ws ^ keys[s]
        acc = acc + (xs & u(0xFFFFFFFF)) * (xs >> u(32)) + ws[swap]
    m = 0xFFFFFFFFFFFFFFFF
    h = (len(data) * 0x9E3779B97F4A7C15) & m
    for a in acc.tolist():
        h = ((h ^ a) * 0xBF58476D1CE4E5B9) & m
        h ^= h >> 31
    h ^= h >> 29
    h = (h * 0x94D049BB133111EB) & m
    return "%016x" % (h ^ (h >> 32))


def piece_hash(data, version):
    """PieceHash (runtime/include/ds/runtime/Safetensors.h), as 16 hex digits: each piece
    (the header, then each tensor's data in file order in 1 MiB pieces from its first
    byte) hashed, then the pieces' values as little-endian 64-bit words; the hash is
    ContentHash in version 2, StripeHash in version 3."""
    hash_ = content_hash if version == 2 else stripe_hash
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    spans = sorted(tuple(t["data_offsets"]) for k, t in header.items() if k != "__metadata__")
    pieces = [(0, 8 + n)]
    for b, e in spans:
        pieces += [(8 + n + at, 8 + n + min(at + (1 << 20), e)) for at in range(b, e, 1 << 20)]
    assert pieces[-1][1] == len(data)
    return hash_(b"".join(struct.pack("<Q", int(hash_(data[b:e]), 16)) for b, e in pieces))


def file_hash(data, version):
    """The hash a manifest of `version` records for a shard file."""
    return content_hash(data) if version == 1 else piece_hash(data, version)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e],
                                  dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return out


def write_safetensors(path, tensors):
    names = {np.dtype(v): k for k, v in DTYPES.items()}
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def npy_dir(d):
    return {f[:-4].replace("__", "/"): np.load(os.path.join(d, f))
            for f in sorted(os.listdir(d)) if f.endswith(".npy")}


def main():
    cmd = sys.argv[1]
    if cmd == "bitwise":
        full = json.load(open(sys.argv[2]))
        parts = [json.load(open(p)) for p in sys.argv[3:]]
        for key in ("loss", "loss_scale"):
            if key not in full:
                continue
            joined = sum((p[key] for p in parts), [])
            if joined != full[key]:
                for i, (a, b) in enumerate(zip(joined, full[key])):
                    if a != b:
                        sys.exit("FAIL: %s differs at step %d: %r vs %r" % (key, i + 1, a, b))
                sys.exit("FAIL: %s: %d steps vs %d" % (key, len(joined), len(full[key])))
        print("BITWISE: %d steps (%s)" % (len(full["loss"]),
                                          " + ".join(str(len(p["loss"])) for p in parts)))
    elif cmd == "close":
        full = json.load(open(sys.argv[2]))["loss"]
        part = json.load(open(sys.argv[3]))["loss"]
        k, rtol = int(sys.argv[4]), float(sys.argv[5])
        want = full[k:]
        if len(part) != len(want):
            sys.exit("FAIL: %d steps, expected %d" % (len(part), len(want)))
        worst = max(abs(a - b) / abs(b) for a, b in zip(part, want))
        if worst > rtol:
            sys.exit("FAIL: relative difference %g > %g" % (worst, rtol))
        print("CLOSE: %d steps within %g (worst %.2g)" % (len(part), rtol, worst))
    elif cmd == "safetensors":
        got = read_safetensors(sys.argv[2])
        want = npy_dir(sys.argv[3])
        if sorted(got) != sorted(want):
            sys.exit("FAIL: tensors %s vs files %s" % (sorted(got), sorted(want)))
        for name, w in want.items():
            g = got[name]
            if g.shape != w.shape or g.dtype != w.dtype or not np.array_equal(g, w):
                sys.exit("FAIL: %s differs" % name)
        print("EQUAL: %d tensors" % len(want))
    elif cmd == "mangle":
        t = read_safetensors(sys.argv[2])
        del t["fc3.bias"]
        t["foo"] = np.zeros(3, np.float32)
        t["fc1.weight"] = t["fc1.weight"].T
        t["fc2.bias"] = t["fc2.bias"].astype(np.float64)
        write_safetensors(sys.argv[3], t)
        print("mangled")
    elif cmd == "strip-prefix":
        t = read_safetensors(sys.argv[2])
        p = sys.argv[4]
        write_safetensors(sys.argv[3], {k[len(p):] if k.startswith(p) else k: v
                                        for k, v in t.items()})
        print("stripped")
    elif cmd == "model-hash":
        got = json.load(open(sys.argv[3]))["model_hash"]
        want = content_hash(open(sys.argv[2], "rb").read())
        if got != want:
            sys.exit("FAIL: model_hash %s, the model's content hash is %s" % (got, want))
        print("model hash ok")
    elif cmd in ("file-hashes", "version1", "version2"):
        path = os.path.join(sys.argv[2], "manifest.json")
        m = json.load(open(path))
        for f in m["files"]:
            data = open(os.path.join(sys.argv[2], f["name"]), "rb").read()
            if cmd != "file-hashes":
                f["hash"] = file_hash(data, int(cmd[-1]))
            elif f["hash"] != file_hash(data, m["version"]):
                sys.exit("FAIL: %s: hash %s, version %d says %s" % (
                    f["name"], f["hash"], m["version"], file_hash(data, m["version"])))
        if cmd != "file-hashes":
            m["version"] = int(cmd[-1])
            json.dump(m, open(path, "w"), indent=2)
        print("%s: %d files, version %d" % (cmd, len(m["files"]), m["version"]))
    elif cmd == "stripe-hash":
        # The test vectors of runtime/unittests/StripeHashTest.cpp: byte i is (i * 131 + 7)
        # mod 256, for each length given.
        for n in map(int, sys.argv[2:]):
            print(n, stripe_hash(bytes((i * 131 + 7) % 256 for i in range(n))))
    elif cmd == "strip-states":
        # Plan.states (field 30) and what follows (model_hash, 31: an older ds-opt wrote
        # neither) removed, the payload re-framed with its
        # checksum (runtime/proto/plan.proto: magic, FNV-1a 64 of the payload, payload).
        import subprocess
        src, dst, proto_dir = sys.argv[2:5]
        payload = open(src, "rb").read()[16:]
        proto = ["protoc", "-I", proto_dir, "plan.proto"]
        text = subprocess.run(proto + ["--decode=ds.plan.Plan"], input=payload,
                              capture_output=True, check=True).stdout.decode()
        cut = text.find("\nstates {")
        if cut < 0:
            sys.exit("FAIL: the plan has no states")
        payload = subprocess.run(proto + ["--encode=ds.plan.Plan"],
                                 input=text[:cut + 1].encode(), capture_output=True,
                                 check=True).stdout
        h = 0xcbf29ce484222325
        for b in payload:
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        open(dst, "wb").write(b"DSPLAN\x00\x02" + struct.pack("<Q", h) + payload)
        print("stripped states")
    elif cmd == "masters":
        got = read_safetensors(sys.argv[2])
        d = sys.argv[3]
        tag = open(os.path.join(d, "latest")).read().strip()
        man = json.load(open(os.path.join(d, tag, "manifest.json")))
        ranks = [read_safetensors(os.path.join(d, tag, f["name"])) for f in man["files"]]
        n = 0
        for t in man["tensors"]:
            if t["kind"] != "master":
                continue
            full = np.concatenate([r[t["name"]].reshape(-1) for r in ranks]) \
                if t["layout"] == "flat" else ranks[0][t["name"]].reshape(-1)
            want = full[:int(np.prod(t["full_shape"]))].reshape(t["full_shape"])
            g = got[t["parameter"]]
            if g.dtype != np.float32 or not np.array_equal(g, want):
                sys.exit("FAIL: %s is not the master copy" % t["parameter"])
            n += 1
        if n == 0:
            sys.exit("FAIL: no master tensors")
        print("MASTERS: %d fp32 tensors equal the joined master shards" % n)
    elif cmd == "onnx":
        import onnx
        from onnx import numpy_helper
        m = onnx.load(sys.argv[2], load_external_data=True)
        inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        want = npy_dir(sys.argv[3])
        for name, w in want.items():
            if not np.array_equal(inits[name], w) or inits[name].shape != w.shape:
                sys.exit("FAIL: initializer %s differs" % name)
        print("EQUAL: %d initializers" % len(want))
    elif cmd == "ort":
        import onnxruntime as ort
        model, data, n, loss = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        feeds = {i.name: np.load(os.path.join(data, i.name + ".npy"))[:n]
                 for i in sess.get_inputs()}
        names = [o.name for o in sess.get_outputs()]
        got = sess.run(None, feeds)[names.index("loss")]
        want = np.load(loss)
        rel = abs(float(got) - float(want)) / abs(float(want))
        if rel > 1e-5:
            sys.exit("FAIL: onnxruntime loss %r, ds-run %r" % (float(got), float(want)))
        print("ORT: loss %.6f equals ds-run's (relative %.2g)" % (float(got), rel))
    elif cmd == "dropout":
        import onnx
        from onnx import helper, TensorProto
        m = onnx.load(sys.argv[2])
        g = m.graph
        i = next(k for k, n in enumerate(g.node) if n.op_type == "Relu")
        relu = g.node[i]
        out = relu.output[0]
        relu.output[0] = out + "_pre_dropout"
        g.node.insert(i + 1, helper.make_node(
            "Dropout", [out + "_pre_dropout", "dropout_ratio", "dropout_training"], [out]))
        g.node.insert(i + 1, helper.make_node("Constant", [], ["dropout_training"],
            value=helper.make_tensor("t", TensorProto.BOOL, [], [True])))
        g.node.insert(i + 1, helper.make_node("Constant", [], ["dropout_ratio"],
            value=helper.make_tensor("r", TensorProto.FLOAT, [], [float(sys.argv[4])])))
        onnx.save(m, sys.argv[3])
        print("dropout model written")
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
