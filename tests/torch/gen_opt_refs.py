#!/usr/bin/python3
"""gen_opt_refs.py — PyTorch reference values for tests/test_optimizers.c.

For two small MLPs and eight optimizer settings this script runs torch.optim on the same
parameters and inputs and writes tests/torch/data/opt_<model>_<opt>.safetensors holding

    <param>              initial parameter values (F64, each exactly representable in F32)
    <input>              inputs (F64, F32-representable; `: int` inputs as I64)
    step1.<param>        parameters after 1 optimizer step  (float64 PyTorch run)
    step3.<param>        parameters after 3 optimizer steps (float64 PyTorch run)
    loss                 [3] the loss before each of the three steps (what train_step returns)

Models (transcribed in tests/test_optimizers.c as .bp text; keep the two in step):
    ce:  x[8,6], y[8] int in [0,3); h = tanh(x @ W1 + b1); cross_entropy(h @ W2 + b2, y)
    mse: x[8,6], t[8,3];            h = relu(x @ W1 + b1); mse(h @ W2 + b2, t)
Optimizers (the C test's `optimizer` / `clip_grad_norm` lines say the same):
    sgd        SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
    adam       Adam(lr=0.01)
    adamw      AdamW(lr=0.01, weight_decay=0.01)
    adam_clip  Adam(lr=0.01) with clip_grad_norm_(max_norm=0.5) before each step
               (the script checks the gradient norm exceeds 0.5 at every step, so the
               clipping is exercised)
    sgd_clip   SGD(lr=0.1, momentum=0.9) with clip_grad_norm_(max_norm=0.5): Adam's update
               barely depends on the gradient's scale, SGD's is proportional to it, so this
               one shows the clipping factor itself
    sgd_plain  SGD(lr=0.1): bpc fuses this update into the weight-gradient GEMMs
    sgd_wd     SGD(lr=0.1, weight_decay=0.05): no momentum, so the weights' update is fused
               into their GEMMs too, where the decay must not be left out
    adamw_clip AdamW(lr=0.01, weight_decay=0.01) with clip_grad_norm_(max_norm=0.5): the
               update apart from the weight-gradient GEMMs (clipping needs the whole
               gradient's norm first), decoupled decay there too

A float32 PyTorch run on the same values is compared with the float64 one and its worst
deviation printed: it shows the C test's f32 tolerance (1e-5 relative, 1e-6 absolute
floor) is what float32 arithmetic allows. Regenerate from the source root with Debian's
python3-torch and python3-numpy:

    /usr/bin/python3 tests/torch/gen_opt_refs.py

Values come from NumPy generators seeded by the model's name: reruns write the same bytes.
"""
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_refs import DATA_DIR, write_safetensors  # noqa: E402

PARAMS = [("W1", (6, 5)), ("b1", (5,)), ("W2", (5, 3)), ("b2", (3,))]
B, CLASSES, CLIP = 8, 3, 0.5


def model_ce(P, I):
    h = torch.tanh(I["x"] @ P["W1"] + P["b1"])
    return F.cross_entropy(h @ P["W2"] + P["b2"], I["y"])


def model_mse(P, I):
    h = torch.relu(I["x"] @ P["W1"] + P["b1"])
    return F.mse_loss(h @ P["W2"] + P["b2"], I["t"])


def draw(name):
    rng = np.random.default_rng(zlib.crc32(("opt_" + name).encode()))
    f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)  # noqa: E731
    P = {n: f32(rng.standard_normal(s) * 0.5) for n, s in PARAMS}
    I = {"x": f32(rng.standard_normal((B, 6)))}
    if name == "ce":
        I["y"] = rng.integers(0, CLASSES, (B,), dtype=np.int64)
    else:
        I["t"] = f32(rng.standard_normal((B, CLASSES)))
    return P, I


MODELS = {"ce": model_ce, "mse": model_mse}
OPTS = {
    "sgd": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01), False),
    "adam": (lambda ps: torch.optim.Adam(ps, lr=0.01), False),
    "adamw": (lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.01), False),
    "adam_clip": (lambda ps: torch.optim.Adam(ps, lr=0.01), True),
    "sgd_clip": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), True),
    "sgd_plain": (lambda ps: torch.optim.SGD(ps, lr=0.1), False),
    "sgd_wd": (lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.05), False),
    "adamw_clip": (lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.01), True),
}


def run(f, pvals, ivals, make_opt, clip, dtype):
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in pvals.items()}
    I = {k: torch.tensor(v) if v.dtype == np.int64 else torch.tensor(v, dtype=dtype) for k, v in ivals.items()}
    opt = make_opt(list(P.values()))
    snaps, losses = {}, []
    for step in range(1, 4):
        opt.zero_grad()
        loss = f(P, I)
        loss.backward()
        losses.append(float(loss))
        if clip:
            norm = float(torch.nn.utils.clip_grad_norm_(list(P.values()), CLIP))
            assert norm > CLIP * 1.01, "gradient norm %g does not exceed the clip %g" % (norm, CLIP)
        opt.step()
        if step in (1, 3):
            snaps[step] = {k: v.detach().double().numpy().copy() for k, v in P.items()}
    return snaps, np.array(losses)


def main():
    os.makedirs(DATA_DIR, exist_ok=True)
    for mname, f in MODELS.items():
        pvals, ivals = draw(mname)
        for oname, (make_opt, clip) in OPTS.items():
            s64, l64 = run(f, pvals, ivals, make_opt, clip, torch.float64)
            s32, _ = run(f, pvals, ivals, make_opt, clip, torch.float32)
            worst = max(float(np.max(np.abs(s32[k][n] - s64[k][n]) / np.maximum(np.abs(s64[k][n]), 0.1)))
                        for k in s64 for n in s64[k])
            out = {}
            out.update(pvals)
            out.update(ivals)
            for k in (1, 3):
                for n, _ in PARAMS:
                    out["step%d.%s" % (k, n)] = s64[k][n]
            out["loss"] = l64
            name = "opt_%s_%s" % (mname, oname)
            write_safetensors(os.path.join(DATA_DIR, name + ".safetensors"), out)
            print("%-20s losses %s  float32 run deviates by %.2g relative" % (name, " ".join("%.9g" % v for v in l64),
                                                                              worst))


if __name__ == "__main__":
    main()
