#!/usr/bin/python3
"""sweep_f32.py — a differential sweep of bpc in float32 against PyTorch float32.

Draws random .bp programs (MLPs with every activation and loss, softmax / log_softmax /
logsumexp / cross-entropy, layernorm, embedding, conv2d and pooling, reductions over short and
long axes, elementwise functions at extreme inputs from subnormal to 1e20, attention with
large scores, compositions such as log(softmax) or a variance written out), runs each with
`bpc grad` in float32 (or `bpc train --inputs` for a few optimizer steps, `train` mode), the
same maths in PyTorch float32 and float64, and measures both float32 results against the
float64 one: per tensor (loss, each gradient or each parameter's update), the largest error
relative to the tensor's largest element ("norm") and element by element ("elem"). A case is
flagged when bpc's normwise error is above 10x PyTorch's (floor 2^-24) and above 1e-6, or
when bpc is not finite where PyTorch is.

    /usr/bin/python3 tests/torch/sweep_f32.py grad N [SEED] [--family core|fused|long]
    /usr/bin/python3 tests/torch/sweep_f32.py train N [SEED]

(from the source root, after `make build`; BPC=path overrides build/bpc, BPRT_ISA=generic or
avx2 sweeps the other kernels). Needs Debian's python3-torch and python3-numpy; nothing in
ctest runs it. Work files go to a temporary directory (SWEEP_DIR keeps them). Program SEED+i
is drawn from a NumPy generator seeded by its number, so a flagged program can be redrawn.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_refs import run_torch, write_safetensors  # noqa: E402

BPC = os.environ.get("BPC", os.path.join(HERE, "..", "..", "build", "bpc"))
WORK = os.environ.get("SWEEP_DIR") or tempfile.mkdtemp(prefix="sweep_f32.")
torch.set_num_threads(1)


# ---- reading safetensors (bpc's gradients) ------------------------------------------------
def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] not in dt:
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt[v["dtype"]]).reshape(v["shape"]).astype(np.float64)
    return out


# ---- error measures ------------------------------------------------------------------------
TINY = 2.0 ** -24


def errs(a, r):
    """normwise and elementwise relative error of a against truth r (arrays)"""
    a = np.asarray(a, np.float64).ravel()
    r = np.asarray(r, np.float64).ravel()
    fin = np.isfinite(r)
    bad = int(np.sum(fin & ~np.isfinite(a)))
    if not fin.any():
        return 0.0, 0.0, bad
    a, r = a[fin], r[fin]
    with np.errstate(all="ignore"):
        d = np.abs(a - r)
        d[~np.isfinite(d)] = np.inf
        scale = np.max(np.abs(r))
        norm = float(np.max(d) / scale) if scale > 0 else float(np.max(d))
        elem_den = np.maximum(np.abs(r), 1e-30)
        elem = float(np.max(d / elem_den))
    return norm, elem, bad


# ---- random program templates ---------------------------------------------------------------
# ---- random programs: each gen_X(rng, idx) -> (name, .bp text, params, inputs, torch f(P, I)) -
ACTS = ["relu", "leaky_relu", "gelu", "tanh", "sigmoid", "softplus", "abs", "sin", "cos"]


def t_act(name, v, alpha=0.01):
    return {"relu": torch.relu, "gelu": F.gelu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "softplus": F.softplus, "abs": torch.abs, "sin": torch.sin, "cos": torch.cos,
            "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt,
            "leaky_relu": lambda u: F.leaky_relu(u, alpha)}[name](v)


def bp_act(name, e, alpha=0.01):
    if name == "leaky_relu":
        return "leaky_relu(%s, alpha = %r)" % (e, alpha)
    return "%s(%s)" % (name, e)


def gen_mlp(rng, idx):
    B, D, H, C = rng.integers(2, 17), rng.integers(2, 33), rng.integers(2, 33), rng.integers(2, 11)
    act = ACTS[rng.integers(len(ACTS))]
    alpha = float(rng.choice([0.01, 0.2]))
    loss = ["mse", "ce_int", "ce_probs", "bce_logits", "bce_sigmoid", "nll", "lse", "softmax_mse"][rng.integers(8)]
    xs = float(rng.choice([1, 1, 10, 100, 1000]))
    deep = rng.random() < 0.3
    lines = ["input x[%d, %d]" % (B, D)]
    P = {"W1": rng.standard_normal((D, H)) / math.sqrt(D), "b1": rng.standard_normal(H) * 0.5,
         "W2": rng.standard_normal((H, C)) / math.sqrt(H), "b2": rng.standard_normal(C) * 0.5}
    I = {"x": rng.standard_normal((B, D)) * xs}
    lines += ["param W1[%d, %d]" % (D, H), "param b1[%d]" % H]
    body = ["h = %s" % bp_act(act, "x @ W1 + b1", alpha)]
    if deep:
        P["W3"] = rng.standard_normal((H, H)) / math.sqrt(H)
        lines += ["param W3[%d, %d]" % (H, H)]
        body += ["h2 = %s + h" % bp_act(act, "h @ W3", alpha)]
    lines += ["param W2[%d, %d]" % (H, C), "param b2[%d]" % C]
    hn = "h2" if deep else "h"
    body += ["z = %s @ W2 + b2" % hn]
    if loss == "mse":
        I["t"] = rng.standard_normal((B, C)); lines.append("input t[%d, %d]" % (B, C)); body.append("loss mse(z, t)")
    elif loss == "ce_int":
        I["y"] = rng.integers(0, C, B); lines.append("input y[%d] : int" % B); body.append("loss cross_entropy(z, y)")
    elif loss == "ce_probs":
        e = np.exp(rng.standard_normal((B, C)) * 2); I["q"] = e / e.sum(-1, keepdims=True)
        lines.append("input q[%d, %d]" % (B, C)); body.append("loss cross_entropy(z, q)")
    elif loss == "bce_logits":
        I["t"] = rng.uniform(0, 1, (B, C)); lines.append("input t[%d, %d]" % (B, C)); body.append("loss bce_logits(z, t)")
    elif loss == "bce_sigmoid":
        I["t"] = rng.uniform(0, 1, (B, C)); lines.append("input t[%d, %d]" % (B, C)); body.append("loss bce(sigmoid(z), t)")
    elif loss == "nll":
        I["y"] = rng.integers(0, C, B); lines.append("input y[%d] : int" % B); body.append("loss nll(log_softmax(z), y)")
    elif loss == "lse":
        body.append("loss mean(logsumexp(z, axis = 1))")
    else:
        I["t"] = rng.uniform(0, 1, (B, C)); lines.append("input t[%d, %d]" % (B, C)); body.append("loss mse(softmax(z), t)")

    def f(P, I):
        h = t_act(act, I["x"] @ P["W1"] + P["b1"], alpha)
        if deep:
            h = t_act(act, h @ P["W3"], alpha) + h
        z = h @ P["W2"] + P["b2"]
        if loss == "mse": return F.mse_loss(z, I["t"])
        if loss in ("ce_int", "ce_probs"): return F.cross_entropy(z, I["y" if loss == "ce_int" else "q"])
        if loss == "bce_logits": return F.binary_cross_entropy_with_logits(z, I["t"])
        if loss == "bce_sigmoid": return F.binary_cross_entropy(torch.sigmoid(z), I["t"])
        if loss == "nll": return F.nll_loss(F.log_softmax(z, -1), I["y"])
        if loss == "lse": return torch.logsumexp(z, 1).mean()
        return F.mse_loss(torch.softmax(z, -1), I["t"])
    return "mlp_%s_%s_x%g%s" % (act, loss, xs, "_deep" if deep else ""), "\n".join(lines + body), P, I, f


# elementwise functions at extreme inputs: p drawn at a magnitude, loss = sum(f(p) * w)
EW = {
    "exp": ("exp(p)", lambda p: torch.exp(p)),
    "log_abs": ("log(abs(p))", lambda p: torch.log(torch.abs(p))),
    "sqrt_abs": ("sqrt(abs(p))", lambda p: torch.sqrt(torch.abs(p))),
    "tanh": ("tanh(p)", torch.tanh),
    "sigmoid": ("sigmoid(p)", torch.sigmoid),
    "softplus": ("softplus(p)", F.softplus),
    "gelu": ("gelu(p)", F.gelu),
    "log_sigmoid": ("log(sigmoid(p))", lambda p: torch.log(torch.sigmoid(p))),
    "sq": ("p^2", lambda p: p ** 2),
    "cube": ("p^3", lambda p: p ** 3),
    "recip": ("p^-1", lambda p: p ** -1),
    "div": ("1 / p", lambda p: 1 / p),
    "exp_neg_sq": ("exp(-(p * p))", lambda p: torch.exp(-(p * p))),
    "tanh_sq": ("tanh(p) * tanh(p)", lambda p: torch.tanh(p) * torch.tanh(p)),
    "sig_prod": ("sigmoid(p) * (1 - sigmoid(p))", lambda p: torch.sigmoid(p) * (1 - torch.sigmoid(p))),
    "bce_logits": ("bce_logits(p, w * 0 + 0.5)", None),
    "sin": ("sin(p)", torch.sin),
    "cos": ("cos(p)", torch.cos),
    "leaky": ("leaky_relu(p, alpha = 0.1)", lambda p: F.leaky_relu(p, 0.1)),
    "relu": ("relu(p)", torch.relu),
    "max_pair": ("maximum(p, p * 0.5)", lambda p: torch.maximum(p, p * 0.5)),
}
MAGS = [1e-40, 1e-38, 1e-30, 1e-10, 1e-4, 0.1, 1, 5, 15, 20, 40, 80, 90, 100, 200, 1e3, 1e4, 1e20]


def gen_ew(rng, idx):
    name = list(EW)[rng.integers(len(EW))]
    mag = float(rng.choice(MAGS))
    N = int(rng.integers(1, 40))
    p = rng.standard_normal(N) * mag
    if rng.random() < 0.3:
        p = np.abs(p) * rng.choice([-1, 1])
    w = rng.standard_normal(N)
    expr, fn = EW[name]
    red = ["sum", "mean"][rng.integers(2)]
    if name == "bce_logits":
        text = "input w[%d]\nparam p[%d]\nloss bce_logits(p, w)" % (N, N)
        w = rng.uniform(0, 1, N)
        f = lambda P, I: F.binary_cross_entropy_with_logits(P["p"], I["w"])
    else:
        text = "input w[%d]\nparam p[%d]\nloss %s(%s * w)" % (N, N, red, expr)
        f = lambda P, I: getattr(torch, red)(fn(P["p"]) * I["w"])
    return "ew_%s_m%g" % (name, mag), text, {"p": p}, {"w": w}, f


def gen_softmax(rng, idx):
    B, C = int(rng.integers(1, 9)), int(rng.integers(2, 40))
    scale = float(rng.choice([1, 10, 100, 1e3, 1e4]))
    off = float(rng.choice([0, 0, 50, 100, 1e3, 1e4, -1e4]))
    kind = ["softmax", "log_softmax", "lse", "ce", "lse_all", "softmax0", "lse0", "max"][rng.integers(8)]
    p = rng.standard_normal((B, C)) * scale + off
    w = rng.standard_normal((B, C))
    lines = ["input w[%d, %d]" % (B, C), "input v[%d]" % B, "param p[%d, %d]" % (B, C)]
    I = {"w": w, "v": rng.standard_normal(B)}
    if kind == "softmax":
        lines.append("loss sum(softmax(p) * w)"); f = lambda P, I: (torch.softmax(P["p"], -1) * I["w"]).sum()
    elif kind == "softmax0":
        lines.append("loss sum(softmax(p, axis = 0) * w)"); f = lambda P, I: (torch.softmax(P["p"], 0) * I["w"]).sum()
    elif kind == "log_softmax":
        lines.append("loss sum(log_softmax(p) * w)"); f = lambda P, I: (F.log_softmax(P["p"], -1) * I["w"]).sum()
    elif kind == "lse":
        lines.append("loss sum(logsumexp(p, axis = 1) * v)")
        f = lambda P, I: (torch.logsumexp(P["p"], 1) * I["v"]).sum()
    elif kind == "lse0":
        lines.append("loss sum(logsumexp(p, axis = 0, keepdims = 1) * w)")
        f = lambda P, I: (torch.logsumexp(P["p"], 0, keepdim=True) * I["w"]).sum()
    elif kind == "lse_all":
        lines.append("loss logsumexp(p) * 0.5"); f = lambda P, I: torch.logsumexp(P["p"].reshape(-1), 0) * 0.5
    elif kind == "max":
        lines.append("loss sum(max(p, axis = 1) * v) + max(p)")
        f = lambda P, I: (torch.amax(P["p"], 1) * I["v"]).sum() + torch.max(P["p"])
    else:
        I = {"y": rng.integers(0, C, B)}
        lines = ["input y[%d] : int" % B, "param p[%d, %d]" % (B, C), "loss cross_entropy(p, y)"]
        f = lambda P, I: F.cross_entropy(P["p"], I["y"])
    return "sm_%s_s%g_o%g" % (kind, scale, off), "\n".join(lines), {"p": p}, I, f


def gen_layernorm(rng, idx):
    B, D = int(rng.integers(1, 9)), int(rng.integers(2, 65))
    off = float(rng.choice([0, 1, 100, 1e3, 1e4, 3e4]))
    scale = float(rng.choice([1e-3, 0.01, 1, 10, 100]))
    eps = float(rng.choice([1e-5, 1e-5, 1e-3, 1e-8]))
    x = rng.standard_normal((B, D)) * scale + off
    g = 1 + 0.3 * rng.standard_normal(D)
    be = 0.3 * rng.standard_normal(D)
    w = rng.standard_normal((B, D))
    mode = ["param_x", "input_x_mlp"][rng.integers(2)]
    if mode == "param_x":
        text = "input w[%d, %d]\nparam x[%d, %d]\nparam g[%d]\nparam be[%d]\nloss sum(layernorm(x, g, be, eps = %r) * w)" % (
            B, D, B, D, D, D, eps)
        P = {"x": x, "g": g, "be": be}; I = {"w": w}
        f = lambda P, I: (F.layer_norm(P["x"], (D,), P["g"], P["be"], eps) * I["w"]).sum()
    else:
        W = rng.standard_normal((D, D)) / math.sqrt(D)
        text = ("input x[%d, %d]\ninput w[%d, %d]\nparam W[%d, %d]\nparam g[%d]\nparam be[%d]\n"
                "loss mean(tanh(layernorm(x @ W, g, be, eps = %r)) * w)") % (B, D, B, D, D, D, D, D, eps)
        P = {"W": W, "g": g, "be": be}; I = {"x": x, "w": w}
        f = lambda P, I: (torch.tanh(F.layer_norm(I["x"] @ P["W"], (D,), P["g"], P["be"], eps)) * I["w"]).mean()
    return "ln_%s_o%g_s%g_e%g" % (mode, off, scale, eps), text, P, I, f


def gen_reduce(rng, idx):
    kind = ["sum_big", "mean_big", "mean_axis", "sum_axis0", "matmul_bigK", "mse_big", "sum_sq", "mean_keep"][rng.integers(8)]
    N = int(rng.choice([1000, 10000, 100000, 1000000]))
    off = float(rng.choice([0, 1, 100]))
    if kind in ("sum_big", "mean_big", "mse_big", "sum_sq"):
        p = off + rng.standard_normal(N)
        w = rng.standard_normal(N)
        expr = {"sum_big": "sum(p * w) + sum(p)", "mean_big": "mean(p) * mean(p * w)",
                "mse_big": "mse(p, w)", "sum_sq": "sum(p * p) * 0.5"}[kind]
        fn = {"sum_big": lambda P, I: (P["p"] * I["w"]).sum() + P["p"].sum(),
              "mean_big": lambda P, I: P["p"].mean() * (P["p"] * I["w"]).mean(),
              "mse_big": lambda P, I: F.mse_loss(P["p"], I["w"]),
              "sum_sq": lambda P, I: (P["p"] * P["p"]).sum() * 0.5}[kind]
        return "red_%s_n%d_o%g" % (kind, N, off), "input w[%d]\nparam p[%d]\nloss %s" % (N, N, expr), {"p": p}, {"w": w}, fn
    if kind == "matmul_bigK":
        K = min(N, 100000)
        M = 3
        a = off + rng.standard_normal((M, K)); b = rng.standard_normal((K, 2)) + off * 0.01
        return ("red_matmul_K%d_o%g" % (K, off), "input a[%d, %d]\nparam b[%d, 2]\nloss sum(tanh((a @ b) * 0.001))" % (M, K, K),
                {"b": b}, {"a": a}, lambda P, I: torch.tanh((I["a"] @ P["b"]) * 0.001).sum())
    R = int(rng.choice([100, 1000, 10000])); Cc = int(rng.integers(1, 20))
    p = off + rng.standard_normal((R, Cc)); w = rng.standard_normal(Cc)
    if kind == "mean_axis":
        return ("red_mean_axis_R%d_o%g" % (R, off), "input w[%d]\nparam p[%d, %d]\nloss sum(mean(p, axis = 0) * w) * 3" % (Cc, R, Cc),
                {"p": p}, {"w": w}, lambda P, I: (P["p"].mean(0) * I["w"]).sum() * 3)
    if kind == "mean_keep":
        return ("red_mean_keep_R%d_o%g" % (R, off), "input w[%d]\nparam p[%d, %d]\nloss sum((p - mean(p, axis = 1, keepdims = 1)) ^ 2 * w)" % (Cc, R, Cc),
                {"p": p}, {"w": w}, lambda P, I: (((P["p"] - P["p"].mean(1, keepdim=True)) ** 2) * I["w"]).sum())
    return ("red_sum_axis0_R%d_o%g" % (R, off), "input w[%d]\nparam p[%d, %d]\nloss sum(exp(sum(p, axis = 0) * 0.0001) * w)" % (Cc, R, Cc),
            {"p": p}, {"w": w}, lambda P, I: (torch.exp(P["p"].sum(0) * 0.0001) * I["w"]).sum())


def gen_embed(rng, idx):
    V, D, B, T = int(rng.integers(2, 30)), int(rng.integers(2, 17)), int(rng.integers(1, 5)), int(rng.integers(1, 9))
    ids = rng.integers(0, V, (B, T))
    tab = rng.standard_normal((V, D)) * float(rng.choice([0.1, 1, 10]))
    W = rng.standard_normal((D, V)) / math.sqrt(D)
    y = rng.integers(0, V, (B * T,))
    text = ("input ids[%d, %d] : int\ninput y[%d] : int\nparam tab[%d, %d]\nparam W[%d, %d]\n"
            "e = embedding(tab, ids)\nloss cross_entropy(reshape(tanh(e) @ W, [%d, %d]), y) + mean(e * e)") % (
        B, T, B * T, V, D, D, V, B * T, V)
    f = lambda P, I: F.cross_entropy((torch.tanh(F.embedding(I["ids"], P["tab"])) @ P["W"]).reshape(B * T, V), I["y"]) + (
        F.embedding(I["ids"], P["tab"]) ** 2).mean()
    return "emb_V%d_D%d" % (V, D), text, {"tab": tab, "W": W}, {"ids": ids, "y": y}, f


def gen_conv(rng, idx):
    B, C, O = int(rng.integers(1, 4)), int(rng.integers(1, 10)), int(rng.integers(1, 10))
    k = int(rng.choice([1, 3, 5])); H = int(rng.integers(k + 1, 14))
    stride, pad = int(rng.choice([1, 1, 2])), int(rng.integers(0, (k - 1) // 2 + 1))
    pool = ["max", "avg", "none"][rng.integers(3)]
    xs = float(rng.choice([1, 100]))
    x = rng.standard_normal((B, C, H, H)) * xs
    Wt = rng.standard_normal((O, C, k, k)) / math.sqrt(C * k * k)
    OH = (H + 2 * pad - k) // stride + 1
    pk = 2 if OH >= 2 else 1
    body = "c = relu(conv2d(x, K, stride = %d, padding = %d))" % (stride, pad)
    if pool == "max":
        body += "\nq = maxpool2d(c, %d)" % pk
    elif pool == "avg":
        body += "\nq = avgpool2d(c, %d)" % pk
    else:
        body += "\nq = c"
    text = "input x[%d, %d, %d, %d]\nparam K[%d, %d, %d, %d]\n%s\nloss mean(tanh(q * 0.3)) + mean(q)" % (
        B, C, H, H, O, C, k, k, body)

    def f(P, I):
        c = torch.relu(F.conv2d(I["x"], P["K"], stride=stride, padding=pad))
        q = F.max_pool2d(c, pk) if pool == "max" else F.avg_pool2d(c, pk) if pool == "avg" else c
        return torch.tanh(q * 0.3).mean() + q.mean()
    return "conv_k%d_s%d_p%d_%s_x%g" % (k, stride, pad, pool, xs), text, {"K": Wt}, {"x": x}, f


def gen_loss(rng, idx):
    N, Cc = int(rng.integers(1, 20)), int(rng.integers(2, 6))
    mag = float(rng.choice([1, 10, 30, 100, 1e3]))
    kind = ["bce_sig", "bce_logits", "mse", "bce_sig_hard", "nll_ls"][rng.integers(5)]
    z = rng.standard_normal((N, Cc)) * mag
    if kind in ("bce_sig", "bce_logits"):
        t = rng.uniform(0, 1, (N, Cc))
    else:
        t = rng.integers(0, 2, (N, Cc)).astype(np.float64)
    if kind == "bce_sig" or kind == "bce_sig_hard":
        return ("loss_%s_m%g" % (kind, mag), "input t[%d, %d]\nparam z[%d, %d]\nloss bce(sigmoid(z), t)" % (N, Cc, N, Cc),
                {"z": z}, {"t": t}, lambda P, I: F.binary_cross_entropy(torch.sigmoid(P["z"]), I["t"]))
    if kind == "bce_logits":
        return ("loss_bce_logits_m%g" % mag, "input t[%d, %d]\nparam z[%d, %d]\nloss bce_logits(z, t)" % (N, Cc, N, Cc),
                {"z": z}, {"t": t}, lambda P, I: F.binary_cross_entropy_with_logits(P["z"], I["t"]))
    if kind == "mse":
        return ("loss_mse_m%g" % mag, "input t[%d, %d]\nparam z[%d, %d]\nloss mse(z, t * %r)" % (N, Cc, N, Cc, mag),
                {"z": z}, {"t": t}, lambda P, I: F.mse_loss(P["z"], I["t"] * mag))
    y = rng.integers(0, Cc, N)
    return ("loss_nll_ls_m%g" % mag, "input y[%d] : int\nparam z[%d, %d]\nloss nll(log_softmax(z), y)" % (N, N, Cc),
            {"z": z}, {"y": y}, lambda P, I: F.nll_loss(F.log_softmax(P["z"], -1), I["y"]))


def gen_attn(rng, idx):
    B, T, D = int(rng.integers(1, 4)), int(rng.integers(2, 40)), int(rng.integers(2, 17))
    sc = float(rng.choice([0.1, 1, 10, 100, 1e3]))
    causal = bool(rng.integers(2))
    x = rng.standard_normal((B, T, D))
    Wq, Wk, Wv = (rng.standard_normal((D, D)) / math.sqrt(D) for _ in range(3))
    t = rng.standard_normal((B, T, D))
    s = "q @ (x @ Wk).T * %r" % sc
    if causal:
        s = "causal_mask(%s)" % s
    text = ("input x[%d, %d, %d]\ninput t[%d, %d, %d]\nparam Wq[%d, %d]\nparam Wk[%d, %d]\nparam Wv[%d, %d]\n"
            "q = x @ Wq\natt = softmax(%s)\nloss mse(att @ (x @ Wv), t)") % (B, T, D, B, T, D, D, D, D, D, D, D, s)

    def f(P, I):
        q = I["x"] @ P["Wq"]
        sc_ = q @ (I["x"] @ P["Wk"]).transpose(-2, -1) * sc
        if causal:
            sc_ = sc_.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        return F.mse_loss(torch.softmax(sc_, -1) @ (I["x"] @ P["Wv"]), I["t"])
    return "attn_T%d_s%g_%s" % (T, sc, "causal" if causal else "full"), text, {"Wq": Wq, "Wk": Wk, "Wv": Wv}, {"x": x, "t": t}, f


def gen_wino(rng, idx):
    B, C, O = int(rng.integers(1, 3)), int(rng.integers(8, 17)), int(rng.integers(8, 17))
    k = int(rng.choice([3, 5])); H = int(rng.integers(k + 2, 20)); pad = int(rng.integers(0, k // 2 + 1))
    xs = float(rng.choice([1, 1, 100])); off = float(rng.choice([0, 0, 10]))
    x = rng.standard_normal((B, C, H, H)) * xs + off
    Wt = rng.standard_normal((O, C, k, k)) / math.sqrt(C * k * k)
    t = rng.standard_normal((B, O, H + 2 * pad - k + 1, H + 2 * pad - k + 1))
    text = "input x[%d, %d, %d, %d]\ninput t[%d, %d, %d, %d]\nparam K[%d, %d, %d, %d]\nloss mse(conv2d(x, K, padding = %d), t)" % (
        B, C, H, H, *t.shape, O, C, k, k, pad)
    return ("wino_k%d_C%d_O%d_x%g_o%g" % (k, C, O, xs, off), text, {"K": Wt}, {"x": x, "t": t},
            lambda P, I: F.mse_loss(F.conv2d(I["x"], P["K"], padding=pad), I["t"]))


def gen_bigce(rng, idx):
    B, C = int(rng.integers(1, 5)), int(rng.choice([100, 1000, 10000, 50000]))
    sc = float(rng.choice([1, 10, 100, 1e3])); off = float(rng.choice([0, 1e3, -1e4]))
    z = rng.standard_normal((B, C)) * sc + off
    kind = ["int", "probs", "lsm"][rng.integers(3)]
    if kind == "int":
        y = rng.integers(0, C, B)
        return ("bigce_int_C%d_s%g_o%g" % (C, sc, off), "input y[%d] : int\nparam z[%d, %d]\nloss cross_entropy(z, y)" % (B, B, C),
                {"z": z}, {"y": y}, lambda P, I: F.cross_entropy(P["z"], I["y"]))
    if kind == "probs":
        e = np.exp(rng.standard_normal((B, C)) * 3); q = e / e.sum(-1, keepdims=True)
        return ("bigce_probs_C%d_s%g_o%g" % (C, sc, off), "input q[%d, %d]\nparam z[%d, %d]\nloss cross_entropy(z, q)" % (B, C, B, C),
                {"z": z}, {"q": q}, lambda P, I: F.cross_entropy(P["z"], I["q"]))
    w = rng.standard_normal((B, C))
    return ("bigce_lsm_C%d_s%g_o%g" % (C, sc, off), "input w[%d, %d]\nparam z[%d, %d]\nloss mean(exp(log_softmax(z)) * w) + mean(log_softmax(z) * w)" % (B, C, B, C),
            {"z": z}, {"w": w}, lambda P, I: (torch.exp(F.log_softmax(P["z"], -1)) * I["w"]).mean() + (F.log_softmax(P["z"], -1) * I["w"]).mean())


COMPS = {
    "log_softmax_manual": ("log(softmax(p))", lambda p: torch.log(torch.softmax(p, -1))),
    "softmax_manual": ("exp(p - max(p, axis = 1, keepdims = 1)) / sum(exp(p - max(p, axis = 1, keepdims = 1)), axis = 1, keepdims = 1)",
                       lambda p: torch.exp(p - p.amax(1, keepdim=True)) / torch.exp(p - p.amax(1, keepdim=True)).sum(1, keepdim=True)),
    "softplus_manual": ("log(1 + exp(p))", lambda p: torch.log(1 + torch.exp(p))),
    "var_manual": ("mean((p - mean(p, axis = 1, keepdims = 1)) ^ 2, axis = 1, keepdims = 1) + p * 0",
                   lambda p: ((p - p.mean(1, keepdim=True)) ** 2).mean(1, keepdim=True) + p * 0),
    "var_naive": ("mean(p * p, axis = 1, keepdims = 1) - mean(p, axis = 1, keepdims = 1) ^ 2 + p * 0",
                  lambda p: (p * p).mean(1, keepdim=True) - p.mean(1, keepdim=True) ** 2 + p * 0),
    "l2norm": ("p / sqrt(sum(p * p, axis = 1, keepdims = 1) + 1e-12)", lambda p: p / torch.sqrt((p * p).sum(1, keepdim=True) + 1e-12)),
    "rms": ("p / sqrt(mean(p ^ 2, axis = 1, keepdims = 1) + 1e-6)", lambda p: p / torch.sqrt((p ** 2).mean(1, keepdim=True) + 1e-6)),
    "pow_half": ("abs(p) ^ 0.5", lambda p: torch.abs(p) ** 0.5),
    "pow_15": ("abs(p) ^ 1.5", lambda p: torch.abs(p) ** 1.5),
    "pow_neg": ("(abs(p) + 1) ^ -2.5", lambda p: (torch.abs(p) + 1) ** -2.5),
    "tanh_gelu": ("0.5 * p * (1 + tanh(0.7978845608 * (p + 0.044715 * p ^ 3)))",
                  lambda p: 0.5 * p * (1 + torch.tanh(0.7978845608 * (p + 0.044715 * p ** 3)))),
    "swish": ("p * sigmoid(p)", lambda p: p * torch.sigmoid(p)),
    "mish": ("p * tanh(softplus(p))", lambda p: p * torch.tanh(F.softplus(p))),
    "log_exp": ("log(exp(p))", lambda p: torch.log(torch.exp(p))),
    "exp_log": ("exp(log(abs(p) + 1e-30))", lambda p: torch.exp(torch.log(torch.abs(p) + 1e-30))),
    "lse_minus": ("logsumexp(p, axis = 1, keepdims = 1) - p", lambda p: torch.logsumexp(p, 1, keepdim=True) - p),
    "sig_log": ("log(1 - sigmoid(p))", lambda p: torch.log(1 - torch.sigmoid(p))),
    "tanh_deriv": ("1 - tanh(p) ^ 2", lambda p: 1 - torch.tanh(p) ** 2),
    "max_ax": ("max(p, axis = 1, keepdims = 1) + p * 0", lambda p: p.amax(1, keepdim=True) + p * 0),
    "sqrt_sq": ("sqrt(p * p + 1e-20)", lambda p: torch.sqrt(p * p + 1e-20)),
}


def gen_comp(rng, idx):
    name = list(COMPS)[rng.integers(len(COMPS))]
    B, N = int(rng.integers(1, 6)), int(rng.integers(2, 60))
    mag = float(rng.choice([1e-20, 1e-6, 0.01, 1, 10, 50, 100, 1e3, 1e4]))
    off = float(rng.choice([0, 0, 0, 1, 1e3, 1e4]))
    p = rng.standard_normal((B, N)) * mag + off
    w = rng.standard_normal((B, N))
    expr, fn = COMPS[name]
    return ("comp_%s_m%g_o%g" % (name, mag, off), "input w[%d, %d]\nparam p[%d, %d]\nloss sum((%s) * w)" % (B, N, B, N, expr),
            {"p": p}, {"w": w}, lambda P, I: (fn(P["p"]) * I["w"]).sum())


def gen_long(rng, idx):
    kind = ["var_row", "lse_row", "softmax_row", "ce_bigB", "bce_bigB", "mse_bigB", "sum_row", "mean_all3", "ln_long", "bmm_bigK", "max_row"][rng.integers(11)]
    R = int(rng.choice([1000, 10000, 100000]))
    off = float(rng.choice([0, 1, 100, 1e3]))
    B = int(rng.integers(1, 4))
    if kind in ("ce_bigB", "bce_bigB", "mse_bigB"):
        C = int(rng.integers(2, 5))
        z = rng.standard_normal((R, C)) * 3 + (off if kind == "mse_bigB" else 0)
        if kind == "ce_bigB":
            y = rng.integers(0, C, R)
            return ("long_ce_bigB_R%d" % R, "input y[%d] : int\nparam z[%d, %d]\nloss cross_entropy(z, y)" % (R, R, C),
                    {"z": z}, {"y": y}, lambda P, I: F.cross_entropy(P["z"], I["y"]))
        t = rng.uniform(0, 1, (R, C)) + (off if kind == "mse_bigB" else 0)
        fn = "bce_logits" if kind == "bce_bigB" else "mse"
        tf = F.binary_cross_entropy_with_logits if kind == "bce_bigB" else F.mse_loss
        return ("long_%s_R%d_o%g" % (kind, R, off), "input t[%d, %d]\nparam z[%d, %d]\nloss %s(z, t)" % (R, C, R, C, fn),
                {"z": z}, {"t": t}, lambda P, I: tf(P["z"], I["t"]))
    if kind == "bmm_bigK":
        K = R
        a = rng.standard_normal((B, 2, K)) + off * 0.01; b = rng.standard_normal((B, K, 3))
        return ("long_bmm_K%d_o%g" % (K, off), "input a[%d, 2, %d]\nparam b[%d, %d, 3]\nloss sum(tanh((a @ b) * 0.01))" % (B, K, B, K),
                {"b": b}, {"a": a}, lambda P, I: torch.tanh((I["a"] @ P["b"]) * 0.01).sum())
    if kind == "mean_all3":
        p = rng.standard_normal((B, 7, R // 7)) + off
        w = rng.standard_normal(R // 7)
        return ("long_mean_all3_R%d_o%g" % (R, off), "input w[%d]\nparam p[%d, 7, %d]\nloss mean(p * w) + mean(p) ^ 2 * 0.01" % (R // 7, B, R // 7),
                {"p": p}, {"w": w}, lambda P, I: (P["p"] * I["w"]).mean() + P["p"].mean() ** 2 * 0.01)
    p = rng.standard_normal((B, R)) * float(rng.choice([1, 10, 100])) + off
    w = rng.standard_normal((B, R))
    E = {"var_row": ("mean((p - mean(p, axis = 1, keepdims = 1)) ^ 2, axis = 1)", lambda p: ((p - p.mean(1, keepdim=True)) ** 2).mean(1)),
         "lse_row": ("logsumexp(p, axis = 1)", lambda p: torch.logsumexp(p, 1)),
         "softmax_row": ("sum(softmax(p) * w, axis = 1)", None),
         "sum_row": ("sum(p * w, axis = 1) + sum(p, axis = 1)", None),
         "ln_long": ("sum(layernorm(p, w[0] * 0 + 1, w[0] * 0) * w, axis = 1)", None),
         "max_row": ("max(p, axis = 1)", lambda p: p.amax(1))}
    expr, fn = E[kind]
    if kind == "softmax_row":
        f = lambda P, I: ((torch.softmax(P["p"], -1) * I["w"]).sum(1) * I["v"]).sum()
    elif kind == "sum_row":
        f = lambda P, I: (((P["p"] * I["w"]).sum(1) + P["p"].sum(1)) * I["v"]).sum()
    elif kind == "ln_long":
        expr = "sum(layernorm(p, g, be) * w, axis = 1)"
        g = 1 + 0.1 * rng.standard_normal(R); be = 0.1 * rng.standard_normal(R)
        text = "input w[%d, %d]\ninput v[%d]\nparam p[%d, %d]\nparam g[%d]\nparam be[%d]\nloss sum(%s * v)" % (B, R, B, B, R, R, R, expr)
        return ("long_ln_R%d_o%g" % (R, off), text, {"p": p, "g": g, "be": be}, {"w": w, "v": rng.standard_normal(B)},
                lambda P, I: ((F.layer_norm(P["p"], (R,), P["g"], P["be"]) * I["w"]).sum(1) * I["v"]).sum())
    else:
        f = lambda P, I: (fn(P["p"]) * I["v"]).sum()
    text = "input w[%d, %d]\ninput v[%d]\nparam p[%d, %d]\nloss sum((%s) * v)" % (B, R, B, B, R, expr)
    return "long_%s_R%d_o%g" % (kind, R, off), text, {"p": p}, {"w": w, "v": rng.standard_normal(B)}, f



FAMILIES = {
    "core": [gen_mlp] * 6 + [gen_ew] * 8 + [gen_softmax] * 4 + [gen_layernorm] * 4 + [gen_reduce] * 3 + [gen_embed]
            + [gen_conv] * 2 + [gen_loss] * 3,
    "fused": [gen_attn] * 3 + [gen_wino] * 2 + [gen_bigce] * 2 + [gen_comp] * 6,
    "long": [gen_long],
}


# ---- running both sides ---------------------------------------------------------------------
def as_f32(P, I):
    p32 = {k: np.asarray(v, np.float32) for k, v in P.items()}
    i32 = {k: (np.asarray(v, np.int64) if np.asarray(v).dtype.kind == "i" else np.asarray(v, np.float32))
           for k, v in I.items()}
    p64 = {k: v.astype(np.float64) for k, v in p32.items()}
    i64 = {k: (v if v.dtype == np.int64 else v.astype(np.float64)) for k, v in i32.items()}
    return p32, i32, p64, i64


def run_bpc(text, p32, i32, tag, extra=()):
    d = os.path.join(WORK, tag)
    os.makedirs(d, exist_ok=True)
    bp = os.path.join(d, "prog.bp")
    open(bp, "w").write(text + "\n")
    write_safetensors(os.path.join(d, "p.safetensors"), p32)
    write_safetensors(os.path.join(d, "i.safetensors"), i32)
    g = os.path.join(d, "g.safetensors")
    if os.path.exists(g):
        os.remove(g)
    r = subprocess.run([BPC, "grad", bp, "--params", os.path.join(d, "p.safetensors"), "--inputs",
                        os.path.join(d, "i.safetensors"), "-o", g] + list(extra), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, r.stderr + r.stdout
    loss = None
    for line in r.stdout.splitlines():
        if line.startswith("loss = "):
            loss = float(line[7:])
    out = read_st(g)
    out["loss"] = np.array(loss)
    return out, None



# ---- a few optimizer steps ------------------------------------------------------------------
OPTS = [
    ("sgd(lr = 0.05)", lambda ps: torch.optim.SGD(ps, lr=0.05), None),
    ("sgd(lr = 0.05, momentum = 0.9, weight_decay = 0.01)",
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01), None),
    ("adam(lr = 0.01)", lambda ps: torch.optim.Adam(ps, lr=0.01), None),
    ("adam(lr = 0.001, beta1 = 0.8, beta2 = 0.99, eps = 1e-6)",
     lambda ps: torch.optim.Adam(ps, lr=0.001, betas=(0.8, 0.99), eps=1e-6), None),
    ("adamw(lr = 0.01, weight_decay = 0.1)", lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1), None),
    ("adam(lr = 0.01)", lambda ps: torch.optim.Adam(ps, lr=0.01), 0.5),
    ("sgd(lr = 0.05, momentum = 0.9)", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), 0.5),
]
STEPS = 5


def train_torch(f, pvals, ivals, make, clip, dtype):
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in pvals.items()}
    I = {k: torch.tensor(v) if v.dtype == np.int64 else torch.tensor(v, dtype=dtype) for k, v in ivals.items()}
    opt = make(list(P.values()))
    for _ in range(STEPS):
        opt.zero_grad()
        f(P, I).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(list(P.values()), clip)
        opt.step()
    return {k: v.detach().double().numpy() for k, v in P.items()}


def sweep_train(n, seed0):
    gens = [gen_mlp] * 4 + [gen_layernorm, gen_embed, gen_conv, gen_softmax]
    res = []
    for idx in range(seed0, seed0 + n):
        rng = np.random.default_rng(7919 * idx + 3)
        name, text, P, I, f = gens[rng.integers(len(gens))](rng, idx)
        oi = int(rng.integers(len(OPTS)))
        otext, make, clip = OPTS[oi]
        jit = ["tcc", "cc"][idx % 2]
        text += "\noptimizer " + otext + ("\nclip_grad_norm %r" % clip if clip else "")
        p32, i32, p64, i64 = as_f32(P, I)
        r64 = train_torch(f, p64, i64, make, clip, torch.float64)
        r32 = train_torch(f, p32, i32, make, clip, torch.float32)
        d = os.path.join(WORK, "t%d" % idx)
        os.makedirs(d, exist_ok=True)
        bp = os.path.join(d, "prog.bp")
        with open(bp, "w") as fp:
            fp.write(text + "\n")
        write_safetensors(d + "/p.safetensors", p32)
        write_safetensors(d + "/i.safetensors", i32)
        out = d + "/out.safetensors"
        if os.path.exists(out):
            os.remove(out)
        r = subprocess.run([BPC, "train", bp, "--params", d + "/p.safetensors", "--inputs", d + "/i.safetensors",
                            "--steps", str(STEPS), "--save", out, "--jit", jit, "--threads", "1"],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            finite = all(np.isfinite(v).all() for v in r32.values())
            print("bpc failed%s: %d %s: %s" % (" (torch float32 finite!)" if finite else " (torch float32 diverges too)",
                                              idx, name, r.stderr.strip()[:200]))
            continue
        b = read_st(out)
        for k in P:  # the updates' error: p - p0 against float64's
            tn, te, tb = errs(r32[k] - p64[k], r64[k] - p64[k])
            bn, be, bb = errs(b[k] - p64[k], r64[k] - p64[k])
            res.append(dict(idx=idx, name="train_%s_opt%d_%s" % (name, oi, jit), key=k, tn=tn, te=te, tb=tb, bn=bn,
                            be=be, bb=bb))
    return res


def sweep_grad(n, seed0, family):
    gens = FAMILIES[family]
    res = []
    for idx in range(seed0, seed0 + n):
        rng = np.random.default_rng(1000003 * idx + 17)
        name, text, P, I, f = gens[rng.integers(len(gens))](rng, idx)
        p32, i32, p64, i64 = as_f32(P, I)
        r64 = run_torch(f, p64, i64, torch.float64)
        r32 = run_torch(f, p32, i32, torch.float32)
        b32, err = run_bpc(text, p32, i32, "c%d" % idx)
        if b32 is None:
            print("bpc failed: %d %s: %s" % (idx, name, err.strip()[:300]))
            continue
        for key in ["loss"] + list(P):
            tn, te, tb = errs(r32[key], r64[key])
            bn, be, bb = errs(b32[key], r64[key])
            res.append(dict(idx=idx, name=name, key=key, tn=tn, te=te, tb=tb, bn=bn, be=be, bb=bb))
    return res


def ratio(b, t):
    """bpc's error over PyTorch float32's, each floored at 2^-24"""
    return 1.0 if b == t else max(b, TINY) / max(t, TINY)


def summary(res):
    print("programs %d, cases (tensors) %d" % (len({r["idx"] for r in res}), len(res)))
    for m, (bk, tk) in {"norm": ("bn", "tn"), "elem": ("be", "te")}.items():
        rs = np.array([ratio(r[bk], r[tk]) for r in res])
        print("%s error ratio bpc / torch: median %.3g, 90%% %.3g, 99%% %.3g, max %.3g" %
              ((m,) + tuple(np.quantile(rs, [.5, .9, .99, 1]))))
        print("  " + ", ".join("[%g, %g): %d" % (lo, hi, int(np.sum((rs >= lo) & (rs < hi))))
                                for lo, hi in [(0, 0.5), (0.5, 2), (2, 10), (10, 100), (100, math.inf)]))
    flagged = [r for r in res if (ratio(r["bn"], r["tn"]) > 10 and r["bn"] > 1e-6) or r["bb"] > r["tb"]]
    print("flagged: %d" % len(flagged))
    for r in sorted(flagged, key=lambda r: -ratio(r["bn"], r["tn"])):
        print("  %d %s %s: torch %.2e bpc %.2e (elementwise %.2e %.2e, not finite %d %d)" %
              (r["idx"], r["name"], r["key"], r["tn"], r["bn"], r["te"], r["be"], r["tb"], r["bb"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["grad", "train"])
    ap.add_argument("n", type=int)
    ap.add_argument("seed", type=int, nargs="?", default=0)
    ap.add_argument("--family", choices=sorted(FAMILIES), default="core")
    a = ap.parse_args()
    res = sweep_train(a.n, a.seed) if a.mode == "train" else sweep_grad(a.n, a.seed, a.family)
    with open(os.path.join(WORK, "results.json"), "w") as fp:
        json.dump(res, fp)
    summary(res)
    print("work files and results.json in", WORK)


if __name__ == "__main__":
    main()
