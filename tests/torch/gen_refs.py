#!/usr/bin/python3
"""gen_refs.py — PyTorch reference values for tests/test_torch_refs.c.

For every program tests/torch/programs/NAME.bp this script draws deterministic random
parameters and inputs (NumPy, seeded by the program's name), evaluates the same maths
written by hand in PyTorch (the functions in PROGRAMS below mirror the .bp files), and
writes tests/torch/data/NAME.safetensors holding

    <param>            parameter values (F64), keyed by parameter name
    <input>            input values (F64; `: int` inputs as I64), keyed by input name
    loss, grad.<param> loss and gradients from a float64 PyTorch run
    loss32, grad32.<param>   the same from a float32 run (on the float32-rounded values)

The files are committed; the C test needs no PyTorch. Regenerate with Debian's torch:

    /usr/bin/python3 tests/torch/gen_refs.py            (from the source root)

Parameter and input shapes are read from the .bp declarations (symbolic dimensions bound
by DIMS below), so the two cannot drift apart; the expression itself is transcribed.
The safetensors writer is the few lines at the bottom (8-byte little-endian header
length, JSON header, raw little-endian data), so no safetensors package is needed.
"""
import json
import os
import re
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
PROG_DIR = os.path.join(HERE, "programs")
DATA_DIR = os.path.join(HERE, "data")


# ---- the programs, transcribed ------------------------------------------------------------
# Each entry: dims (values of the symbolic dimensions), inputs (how to draw each input:
# "normal" (default), "unit" (uniform in (0.05, 0.95): targets of bce), "binary" (exactly 0
# or 1: labels of bce), "probs" (rows on the last axis positive and summing to 1), ("int", C)
# (labels in [0, C))), pscale (std of
# the normal parameters), and f(P, I) -> scalar loss in torch.

def mlp_relu_mse(P, I):
    h = torch.relu(I["x"] @ P["W1"] + P["b1"])
    pred = h @ P["W2"] + P["b2"]
    return F.mse_loss(pred, I["y"])


def mlp_tanh_ce(P, I):
    h = torch.tanh(I["x"] @ P["W1"] + P["b1"])
    logits = h @ P["W2"] + P["b2"]
    return F.cross_entropy(logits, I["y"])


def mlp_sigmoid_bce(P, I):
    h = torch.sigmoid(I["x"] @ P["W1"] + P["b1"])
    p = torch.sigmoid(h @ P["W2"] + P["b2"])
    return F.binary_cross_entropy(p, I["t"])


def bce_saturated(P, I):
    z = I["x"] @ P["W"] + P["c"]
    y = I["y"]
    s = 2 * y - 1
    bce = F.binary_cross_entropy
    return (bce(torch.sigmoid(z), y) + bce(torch.sigmoid(z + 60 * s), y) + bce(torch.sigmoid(800 * s + P["d"]), y)
            + bce(torch.sigmoid(P["d"] - 800 * s), y) + bce(torch.sigmoid(P["d"]).expand_as(z), torch.sigmoid(z)))


def mlp_gelu_bce_logits(P, I):
    def dense(v, W, b):
        return v @ W + b
    h = F.gelu(dense(I["x"], P["W1"], P["b1"]))  # exact (erf) GELU, PyTorch's default
    return F.binary_cross_entropy_with_logits(dense(h, P["W2"], P["b2"]), I["t"])


def mlp_leaky_ce_probs(P, I):
    h1 = F.leaky_relu(I["x"] @ P["W1"] + P["b1"], 0.01)
    h2 = F.leaky_relu(h1 @ P["W2"] + P["b2"], 0.2)
    logits = h2 @ P["W3"] + P["b3"]
    return F.cross_entropy(logits, I["q"])  # probability targets


def mlp_softplus_nll(P, I):
    h = F.softplus(I["x"] @ P["W1"] + P["b1"])
    return F.nll_loss(F.log_softmax(h @ P["W2"] + P["b2"], dim=-1), I["y"])


def nll_axes(P, I):
    z = I["x"] @ P["W"]
    return F.nll_loss(torch.log_softmax(z, dim=0), I["y"]) + F.nll_loss(torch.log_softmax(z, dim=-1), I["y"]) * 0.5


def broadcasting(P, I):
    a, b, c, s = P["a"], P["b"], P["c"], P["s"]
    h = a * b + c
    g = (h - s) / (c * c + 1)
    z = torch.sigmoid(g + I["x"])
    return torch.mean(z * h) + torch.sum(b * s) * 0.1


def reductions(P, I):
    W, v = P["W"], P["v"]
    h = I["x"] * W + v
    r1 = torch.sum(h, dim=1)
    r2 = torch.mean(h, dim=2, keepdim=True)
    r3 = torch.amax(h, dim=0)
    r4 = torch.logsumexp(h, dim=-1, keepdim=True)
    r5 = torch.amax(h, dim=2, keepdim=True)
    r6 = torch.logsumexp(h, dim=0)
    r7 = torch.mean(h, dim=0)
    return (torch.sum(r1 * v) * 0.1 + torch.sum(r2 * r4) + torch.sum(r3 * W) + torch.mean(h - r5)
            + torch.logsumexp((r6 * r7).reshape(-1), dim=0) + torch.max(h) + torch.mean(h))


def attention(P, I):
    x = I["x"]
    q = x @ P["Wq"]
    k = x @ P["Wk"]
    v = x @ P["Wv"]
    scores = q @ k.transpose(-2, -1) * 0.5
    att = torch.softmax(scores, dim=-1)
    o = att @ v
    return F.mse_loss(o @ P["Wo"] + P["bo"], I["y"])


def attention_batched_params(P, I):
    s = I["x"] @ P["A"]
    p = torch.softmax(s, dim=1)
    m = p @ P["C"]
    mm = m @ m.transpose(-2, -1)
    lp = torch.log_softmax(mm + P["u"], dim=1)
    return -torch.mean(lp * m.transpose(-2, -1)) + torch.sum(mm) * 0.01


def reuse(P, I):
    w, M, k = P["w"], P["M"], P["k"]
    h = I["x"] * w
    g = h @ M
    return (torch.sum(h * h) * 0.1 + torch.sum(h * w) + torch.mean(torch.exp(h * 0.3) * h)
            + torch.sum(g * h) * 0.05 + torch.sum(torch.tanh(h) @ M @ w) * 0.2 + torch.mean(h * k)
            + k * k * torch.sum(w) + torch.sum(torch.maximum(h, g) * torch.minimum(h, w)))


def shapes(P, I):
    a, b, W = P["a"], P["b"], P["W"]
    c = torch.cat([a, I["x"] * b], dim=0)
    r = c.reshape(4, 5)
    t = r.transpose(-2, -1)
    e = torch.cat([t, c], dim=1)
    f = e.reshape(-1, 2)
    g = e.reshape(5, 2, 4).transpose(-2, -1)
    return (torch.mean(torch.tanh(f @ W)) + torch.sum(r.transpose(-2, -1) * c) * 0.1
            + torch.sum(g @ W) * 0.05 + torch.sum(torch.cat([g, g * g], dim=2)) * 0.01)


def elementwise_mix(P, I):
    x, p, q = I["x"], P["p"], P["q"]
    u = x * p + q
    v = u ** 3 - 2 * u ** 2 + (u * u + 1) ** -2
    w = torch.sqrt(u * u + 0.5) + torch.log(torch.abs(u) + 1) * torch.sin(u) - torch.cos(q * x)
    z = torch.exp(-u * u) / (1 + p * p) + torch.maximum(u, -q) * torch.minimum(x, p)
    return torch.mean(v * 0.01 + w + z) - torch.sum(-q) ** 2 * 0.1


def scalar_chain(P, I):
    m1, m2, m3 = P["m1"], P["m2"], P["m3"]
    a1 = m1 * I["x"]
    a2 = torch.tanh(a1 * m2) + m3 * a1
    yhat = torch.sigmoid(a2 * m3) * a1 + F.softplus(m2 - m3)
    return 0.5 * (yhat - I["y"]) ** 2 + 0.1 * (m1 * m2 * m3) ** 2


def mlp3_def(P, I):
    def block(v, W, b):
        z = v @ W + b
        return F.gelu(z) + 0.5 * torch.tanh(z)
    h1 = block(I["x"], P["W1"], P["b1"])
    h2 = block(h1, P["W2"], P["b2"]) + h1
    logits = h2 @ P["W3"] + P["b3"]
    return F.cross_entropy(logits, I["y"]) + 1e-3 * (
        torch.sum(P["W1"] ** 2) + torch.sum(P["W2"] ** 2) + torch.sum(P["W3"] ** 2))


def conv_net(P, I):
    h1 = F.max_pool2d(torch.relu(F.conv2d(I["x"], P["K1"], padding=1) + P["c1"]), 2)
    h2 = torch.tanh(F.conv2d(h1, P["K2"], stride=2, padding=1) + P["c2"])
    p = F.avg_pool2d(h2, 2, stride=1)
    return F.cross_entropy(p.reshape(-1, 6) @ P["W"] + P["b"], I["y"])


def transformer_block(P, I):
    def ln(v, g, b, eps=1e-5):
        return F.layer_norm(v, (v.shape[-1],), g, b, eps)
    h = F.embedding(I["ids"], P["tok"]) + P["pos"]
    a = ln(h, P["g1"], P["be1"])
    s = (a @ P["Wq"]) @ (a @ P["Wk"]).transpose(-2, -1) * 0.35355339059327373
    T = s.shape[-1]
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    att = torch.softmax(s, dim=-1)
    h2 = h + att @ (a @ P["Wv"]) @ P["Wo"]
    m = ln(h2, P["g2"], P["be2"], 1e-3)
    h3 = h2 + F.gelu(m @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
    logits = ln(h3, P["gf"], P["bf"]) @ P["tok"].transpose(0, 1)
    return F.cross_entropy(logits.reshape(-1, 11), I["tgt"].reshape(-1))


PROGRAMS = {
    "mlp_relu_mse": dict(f=mlp_relu_mse, dims={"B": 5}),
    "mlp_tanh_ce": dict(f=mlp_tanh_ce, dims={"B": 6}, inputs={"y": ("int", 4)}),
    "mlp_sigmoid_bce": dict(f=mlp_sigmoid_bce, dims={"B": 5}, inputs={"t": "unit"}),
    "bce_saturated": dict(f=bce_saturated, dims={"B": 5}, inputs={"y": "binary"}),
    "mlp_gelu_bce_logits": dict(f=mlp_gelu_bce_logits, dims={"B": 4}, inputs={"t": "unit"}),
    "mlp_leaky_ce_probs": dict(f=mlp_leaky_ce_probs, dims={"B": 5}, inputs={"q": "probs"}),
    "mlp_softplus_nll": dict(f=mlp_softplus_nll, dims={"B": 7}, inputs={"y": ("int", 6)}),
    "nll_axes": dict(f=nll_axes, dims={"B": 4}, inputs={"y": ("int", 5)}),
    "broadcasting": dict(f=broadcasting, dims={"B": 2}),
    "reductions": dict(f=reductions, dims={"B": 3}),
    "attention": dict(f=attention, dims={"B": 2, "T": 5}),
    "attention_batched_params": dict(f=attention_batched_params, dims={}),
    "reuse": dict(f=reuse, dims={"B": 6}),
    "shapes": dict(f=shapes, dims={}),
    "elementwise_mix": dict(f=elementwise_mix, dims={"B": 4}),
    "scalar_chain": dict(f=scalar_chain, dims={}),
    "mlp3_def": dict(f=mlp3_def, dims={"B": 8}, inputs={"y": ("int", 5)}),
    "conv_net": dict(f=conv_net, dims={"B": 3}, inputs={"y": ("int", 5)}),
    "transformer_block": dict(f=transformer_block, dims={"B": 2},
                              inputs={"ids": ("int", 11), "tgt": ("int", 11)}),
}


# ---- declarations from the .bp text -------------------------------------------------------
DECL = re.compile(r"^\s*(param|input)\s+([A-Za-z_]\w*)\s*(?:\[([^\]]*)\])?\s*(:\s*int)?")


def declarations(text, dims):
    params, inputs = [], []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        m = DECL.match(line)
        if not m:
            continue
        kind, name, shp, is_int = m.groups()
        shape = []
        for d in (shp.split(",") if shp else []):
            d = d.strip()
            shape.append(int(d) if d.isdigit() else dims[d])
        (params if kind == "param" else inputs).append((name, tuple(shape), bool(is_int)))
    return params, inputs


def draw_input(rng, shape, how):
    if how == "normal":
        return rng.standard_normal(shape)
    if how == "unit":
        return rng.uniform(0.05, 0.95, shape)
    if how == "binary":
        return rng.integers(0, 2, shape).astype(np.float64)
    if how == "probs":
        e = np.exp(rng.standard_normal(shape))
        return e / e.sum(axis=-1, keepdims=True)
    if isinstance(how, tuple) and how[0] == "int":
        return rng.integers(0, how[1], shape, dtype=np.int64)
    raise ValueError(how)


def run_torch(f, pvals, ivals, dtype):
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in pvals.items()}
    I = {k: torch.tensor(v) if v.dtype == np.int64 else torch.tensor(v, dtype=dtype) for k, v in ivals.items()}
    loss = f(P, I)
    assert loss.dim() == 0, "loss is not a scalar"
    grads = torch.autograd.grad(loss, list(P.values()), allow_unused=True)
    out = {"loss": loss.detach().double().numpy()}
    for (k, v), g in zip(P.items(), grads):
        out[k] = np.zeros(v.shape) if g is None else g.detach().double().numpy()
    return out


def reference(f, pvals, ivals):
    """A reference file's tensors: the parameters and inputs, and PyTorch's loss and gradients
    in float64 (loss, grad.NAME) and in float32 from the values rounded to float (loss32,
    grad32.NAME)"""
    r64 = run_torch(f, pvals, ivals, torch.float64)
    r32 = run_torch(f, {k: v.astype(np.float32) for k, v in pvals.items()},
                    {k: v if v.dtype == np.int64 else v.astype(np.float32) for k, v in ivals.items()},
                    torch.float32)
    out = dict(pvals)
    out.update(ivals)
    out["loss"], out["loss32"] = r64["loss"], r32["loss"]
    for k in pvals:
        out["grad." + k], out["grad32." + k] = r64[k], r32[k]
    return out


# ---- safetensors writer -------------------------------------------------------------------
DTYPES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64",
          np.dtype(np.int32): "I32"}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.array(arr, order="C")  # keeps 0-d scalars 0-d (ascontiguousarray would not)
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # pad so the data section starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as fp:
        fp.write(struct.pack("<Q", len(h)))
        fp.write(h)
        for b in blobs:
            fp.write(b)
    os.replace(tmp, path)


def main(names):
    torch.set_default_dtype(torch.float64)
    os.makedirs(DATA_DIR, exist_ok=True)
    bp_files = sorted(f[:-3] for f in os.listdir(PROG_DIR) if f.endswith(".bp"))
    missing = set(bp_files) ^ set(PROGRAMS)
    if missing:
        sys.exit("programs without both a .bp file and a transcription: %s" % sorted(missing))
    for name in names or bp_files:
        spec = PROGRAMS[name]
        with open(os.path.join(PROG_DIR, name + ".bp")) as fp:
            text = fp.read()
        params, inputs = declarations(text, spec["dims"])
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        pscale = spec.get("pscale", 0.5)
        pvals = {n: np.asarray(rng.standard_normal(s) * pscale) for n, s, _ in params}
        ivals = {}
        for n, s, is_int in inputs:
            how = spec.get("inputs", {}).get(n, "normal")
            assert is_int == (isinstance(how, tuple) and how[0] == "int"), (name, n)
            ivals[n] = np.asarray(draw_input(rng, s, how))
        out = reference(spec["f"], pvals, ivals)
        write_safetensors(os.path.join(DATA_DIR, name + ".safetensors"), out)
        print("%-26s loss %.17g  (f32 %.9g)  params %d  inputs %d" %
              (name, float(out["loss"]), float(out["loss32"]), len(params), len(inputs)))


if __name__ == "__main__":
    main(sys.argv[1:])
