"""Character-level tokens of a text file as nanoGPT stores them: train.bin and val.bin
(uint16, 90% / 10%) and meta.json (vocabulary size).
    prepare.py TEXT_FILE OUT_DIR"""
import json
import os
import sys

import numpy as np

text = open(sys.argv[1], encoding="utf-8").read()
out = sys.argv[2]
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
tokens = np.array([index[c] for c in text], dtype=np.uint16)
n = int(len(tokens) * 0.9)
os.makedirs(out, exist_ok=True)
tokens[:n].tofile(os.path.join(out, "train.bin"))
tokens[n:].tofile(os.path.join(out, "val.bin"))
with open(os.path.join(out, "meta.json"), "w") as f:
    json.dump({"vocab_size": len(chars), "train_tokens": n, "val_tokens": len(tokens) - n}, f)
print("prepare: %d tokens (%d train, %d val), vocabulary %d" % (len(tokens), n,
                                                                   len(tokens) - n, len(chars)))
