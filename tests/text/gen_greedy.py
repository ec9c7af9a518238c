#!/usr/bin/python3
"""gen_greedy.py — the reference for tests/text.sh's check of `bpc sample --temperature 0`.

Draws greedy_lm.bp's parameters (NumPy, seed 7, stored as F32) into greedy_lm.safetensors and
decodes each prompt of PROMPTS greedily with a float64 PyTorch transcription of the program,
as bpc sample describes it (README, "A byte-level GPT"): an empty prompt starts from a
newline that is not printed; each byte reads the logits at the last of the context's last
T = 8 bytes; the output is the prompt, N bytes and a newline unless the last byte is one.
Writes greedy_lm.expected: one line per prompt, "PROMPT|N|HEX" (HEX: the output's bytes).
Every step's largest logit leads the next by more than 1e-6, so float rounding cannot
change a byte. Run from the source root with Debian's python3-torch and python3-numpy:

    /usr/bin/python3 tests/text/gen_greedy.py
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
T, D = 8, 8
SHAPES = {"wte": (256, D), "wpe": (T, D), "g": (D,), "b": (D,), "Wq": (D, D), "Wk": (D, D), "Wv": (D, D),
          "Wout": (D, 256)}
PROMPTS = [("", 20), ("a", 20), ("The fox", 20), ("The quick brown fox jumps", 20), ("\u00e9t\u00e9", 12)]


def logits(P, ids):
    x = torch.tensor([ids])
    n = len(ids)
    h0 = P["wte"][x] + P["wpe"][:n]
    a = F.layer_norm(h0, (D,), P["g"], P["b"])
    s = (a @ P["Wq"]) @ (a @ P["Wk"]).transpose(-1, -2)
    s = s.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
    h1 = h0 + torch.softmax(s, -1) @ (a @ P["Wv"])
    return (torch.tanh(h1) @ P["Wout"])[0, -1]


def decode(P, prompt, n):
    ctx = list(prompt) if prompt else [10]
    out = bytearray(prompt)
    for _ in range(n):
        z = logits(P, ctx[-T:])
        top = torch.topk(z, 2).values
        assert float(top[0] - top[1]) > 1e-6, "a near tie: draw other parameters"
        c = int(torch.argmax(z))
        ctx.append(c)
        out.append(c)
    if not out or out[-1] != 10:
        out.append(10)
    return bytes(out)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    rng = np.random.default_rng(7)
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    params["g"] += 1
    write_safetensors(os.path.join(HERE, "greedy_lm.safetensors"), params)
    P = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    with open(os.path.join(HERE, "greedy_lm.expected"), "w") as fp:
        for prompt, n in PROMPTS:
            fp.write("%s|%d|%s\n" % (prompt, n, decode(P, prompt.encode(), n).hex()))


if __name__ == "__main__":
    main()
