#!/usr/bin/python3
"""gen_hvp_refs.py — PyTorch reference Hessian-vector products for tests/test_hvp.c.

For every program of tests/torch/programs (transcribed in gen_refs.py's PROGRAMS), at the
parameters and inputs stored in tests/torch/data/NAME.safetensors (drawn again here the
same way, from the same seeds), this draws a direction v (NumPy, seeded by "hvp." + NAME)
and computes, in float64, H v = d/dp <dL/dp, v> by double backward
(torch.autograd.grad with create_graph=True, then again). It writes
tests/torch/hvp/NAME.safetensors holding

    v.<param>     the direction (F64), keyed by parameter name
    hvp.<param>   (H v) for that parameter (F64)
    loss          the loss (F64)

The files are committed; the C test needs no PyTorch. Regenerate, from the source root,
with Debian's python3-torch and python3-numpy:

    /usr/bin/python3 tests/torch/gen_hvp_refs.py [NAME ...]
"""
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_refs  # noqa: E402  (PROGRAMS, declarations, draw_input, write_safetensors)

OUT_DIR = os.path.join(gen_refs.HERE, "hvp")


def values(name, spec):
    """The parameters and inputs of data/NAME.safetensors: gen_refs.main's draws, in its order."""
    with open(os.path.join(gen_refs.PROG_DIR, name + ".bp")) as fp:
        params, inputs = gen_refs.declarations(fp.read(), spec["dims"])
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    pscale = spec.get("pscale", 0.5)
    pvals = {n: np.asarray(rng.standard_normal(s) * pscale) for n, s, _ in params}
    ivals = {n: np.asarray(gen_refs.draw_input(rng, s, spec.get("inputs", {}).get(n, "normal")))
             for n, s, _ in inputs}
    return params, pvals, ivals


def hvp(f, pvals, ivals, vvals):
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in pvals.items()}
    I = {k: torch.tensor(v) if v.dtype == np.int64 else torch.tensor(v, dtype=torch.float64)
         for k, v in ivals.items()}
    loss = f(P, I)
    grads = torch.autograd.grad(loss, list(P.values()), create_graph=True, allow_unused=True)
    s = sum((g * torch.tensor(vvals[k])).sum() for k, g in zip(P, grads) if g is not None)
    hv = torch.autograd.grad(s, list(P.values()), allow_unused=True)
    out = {"loss": loss.detach().numpy()}
    for (k, v), h in zip(P.items(), hv):
        out[k] = np.zeros(v.shape) if h is None else h.detach().numpy()
    return out


def main(names):
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT_DIR, exist_ok=True)
    for name in names or sorted(gen_refs.PROGRAMS):
        spec = gen_refs.PROGRAMS[name]
        params, pvals, ivals = values(name, spec)
        rng = np.random.default_rng(zlib.crc32(("hvp." + name).encode()))
        vvals = {n: np.asarray(rng.standard_normal(s)) for n, s, _ in params}
        r = hvp(spec["f"], pvals, ivals, vvals)
        out = {"loss": r["loss"]}
        for n, _, _ in params:
            out["v." + n] = vvals[n]
            out["hvp." + n] = r[n]
        gen_refs.write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), out)
        print("%-26s loss %.17g  |Hv|max %.6g" % (name, float(r["loss"]),
                                                  max(float(np.abs(r[n]).max()) for n, _, _ in params)))


if __name__ == "__main__":
    main(sys.argv[1:])
