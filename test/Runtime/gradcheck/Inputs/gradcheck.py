"""Runs the gradient-check cases of one .mlir file (cases separated by `// -----`).

usage: gradcheck.py FILE.mlir WORKDIR DS_OPT DS_TRANSLATE DS_GRADCHECK

Each case is one module holding one function with a scalar loss. Its comment lines say how to
run it:
  // INPUTS: x=3x4:f64 b=4:f64:0.5:2 y=6:i64:0:3 c=2x3:i1 l=4:i64=0,3,-1,2 s=:f64
      name=SHAPE:DTYPE[:LO:HI | =v,v,...]; SHAPE "" is a scalar. Floats default to standard
      normal, with LO:HI uniform in [LO, HI); integers uniform in [LO, HI] (default [0, 1]);
      i1 random booleans; "=v,..." gives the values.
  // GRADCHECK: --rtol 1e-5      extra ds-gradcheck flags (optional)
`dense<W>` in a case is replaced by a fixed, non-trivial constant of the type on its line
(elements (i*37 mod 17 - 8.5)/4: never zero, all different nearby), so that every element of
the weighted quantity matters. The case is differentiated with respect to its float inputs
(--ds-autodiff=wrt-args), compiled to a plan and checked with ds-gradcheck; the script prints
"@NAME: <ds-gradcheck's verdict>" per case and exits 1 when any case fails.
"""
import os
import re
import subprocess
import sys

import numpy as np

DTYPES = {"f64": np.float64, "f32": np.float32, "i64": np.int64, "i32": np.int32, "i1": np.bool_}


def weights(shape):
    n = int(np.prod(shape)) if shape else 1
    vals = [((i * 37) % 17 - 8.5) / 4 for i in range(n)]

    def nest(flat, dims):
        if not dims:
            return repr(flat[0])
        step = len(flat) // dims[0] if dims[0] else 0
        return "[" + ", ".join(nest(flat[k * step:(k + 1) * step], dims[1:])
                               for k in range(dims[0])) + "]"

    return "dense<" + nest(vals, shape) + ">"


def expand_weights(text):
    out = []
    for line in text.splitlines():
        if "dense<W>" in line:
            m = re.search(r"tensor<((?:\d+x)*)f64>", line.split("dense<W>")[1])
            if not m:
                sys.exit("dense<W> needs an f64 tensor type on its line: " + line)
            shape = [int(d) for d in m.group(1).split("x") if d]
            line = line.replace("dense<W>", weights(shape))
        out.append(line)
    return "\n".join(out) + "\n"


def make_input(spec, rng, data_dir):
    name, rest = spec.split("=", 1)
    values = None
    if "=" in rest:
        rest, values = rest.split("=", 1)
    parts = rest.split(":")
    shape = [int(d) for d in parts[0].split("x") if d]
    dtype = DTYPES[parts[1]]
    if values is not None:
        arr = np.array([float(v) for v in values.split(",")]).astype(dtype).reshape(shape)
    elif dtype == np.bool_:
        arr = rng.integers(0, 2, size=shape).astype(np.bool_)
    elif np.issubdtype(dtype, np.integer):
        lo, hi = (int(parts[2]), int(parts[3])) if len(parts) > 2 else (0, 1)
        arr = rng.integers(lo, hi + 1, size=shape).astype(dtype)
    elif len(parts) > 2:
        arr = rng.uniform(float(parts[2]), float(parts[3]), size=shape).astype(dtype)
    else:
        arr = rng.standard_normal(size=shape).astype(dtype)
    np.save(os.path.join(data_dir, name + ".npy"), np.asarray(arr, dtype=dtype))


def main():
    path, work, ds_opt, ds_translate, ds_gradcheck = sys.argv[1:6]
    text = open(path).read()
    cases = re.split(r"^// -----.*$", text, flags=re.M)
    failed = 0
    os.makedirs(work, exist_ok=True)
    for index, case in enumerate(cases):
        fn = re.search(r"func\.func @([\w.]+)", case)
        if not fn:
            continue
        name = fn.group(1)
        inputs = re.search(r"^// INPUTS:(.*)$", case, flags=re.M)
        extra = re.search(r"^// GRADCHECK:(.*)$", case, flags=re.M)
        case_dir = os.path.join(work, "%02d-%s" % (index, name))
        data_dir = os.path.join(case_dir, "data")
        os.makedirs(data_dir, exist_ok=True)
        rng = np.random.default_rng(1000 + index)
        for spec in (inputs.group(1).split() if inputs else []):
            make_input(spec, rng, data_dir)
        src = os.path.join(case_dir, "case.mlir")
        with open(src, "w") as f:
            f.write(expand_weights(case))
        plan = os.path.join(case_dir, "case.dsplan")
        opt = subprocess.run([ds_opt, src, "--ds-autodiff=wrt-args", "--ds-convert-to-runtime",
                              "--ds-plan-memory"], capture_output=True, text=True)
        if opt.returncode != 0:
            print("@%s: compile FAILED\n%s" % (name, opt.stderr))
            failed += 1
            continue
        tr = subprocess.run([ds_translate, "--export-dsplan", "-o", plan], input=opt.stdout,
                            capture_output=True, text=True)
        if tr.returncode != 0:
            print("@%s: export FAILED\n%s" % (name, tr.stderr))
            failed += 1
            continue
        cmd = [ds_gradcheck, plan, "--data", data_dir] + (extra.group(1).split() if extra else [])
        gc = subprocess.run(cmd, capture_output=True, text=True)
        lines = gc.stdout.strip().splitlines()
        verdict = lines[-1] if lines else "(no output)"
        print("@%s: %s" % (name, verdict))
        if gc.returncode != 0 or not verdict.startswith("gradcheck: PASS"):
            failed += 1
            print(gc.stdout + gc.stderr)
    print("%d case(s) failed" % failed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
