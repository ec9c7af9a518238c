#!/usr/bin/python3
"""sweep_hvp.py — random programs through `bpc hvp --f64` and PyTorch's double backward.

Not a test but a tool, like sweep_f32.py: it draws random programs over the ops that have
second-order rules (elementwise functions, broadcasting arithmetic, maximum/minimum, x^n and
a tensor exponent, sum/mean/max/logsumexp over an axis with and without keepdims, softmax,
log_softmax, softmax(causal_mask(.)), @ in every form (batched, broadcast, transposed,
vectors), transpose, reshape, concat, layernorm, embedding, conv2d with stride and padding,
avgpool2d/maxpool2d, defs called twice with the same weights, shared and scalar parameters,
int inputs) under every loss (sum, mean of squares, logsumexp, mse, bce, bce_logits,
cross_entropy with labels or probabilities, nll), writes their parameters, inputs and a
direction v as safetensors, runs `bpc hvp --f64` and PyTorch's H v (float64, double
backward of the same function), and prints every program whose H v differs by more than
1e-9 of the largest |H v| entry of the program (at least 1e-3):

    /usr/bin/python3 tests/torch/sweep_hvp.py FIRST_SEED LAST_SEED [bpc options, e.g. -O0]

Environment: QUANT=1 rounds parameters and inputs to integers (relu at 0, abs at 0, ties
of max, maximum and maxpool everywhere); BIGDIM=1 draws sizes 7 to 40 (the GEMM kernels'
blocked paths); BPC=path (default build/bpc); RUNDIR=dir keeps each program's files there.

Two things of PyTorch 1.13 that are not bpc's: F.binary_cross_entropy's double backward
adds 1e-12 to p(1 - p) (README.md, bce), so bce is written out here and its logits bounded
by 4 tanh(.) (saturated probabilities are clamped on purpose, and differ); and a zero
Hessian block can come back as garbage (uninitialised memory: abs of a sum with a
keepdims mean), so a program over the threshold is checked again against central differences
of PyTorch's gradient and reported as `torch-only` when bpc agrees with those to 1e-6.
"""
import json, os, random, struct, subprocess, sys, tempfile
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
BPC = os.environ.get("BPC", "build/bpc")
DTY = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.int32): "I32"}
RDTY = {"F64": np.float64, "F32": np.float32, "I64": np.int64, "I32": np.int32}


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for n, a in tensors.items():
        a = np.array(a, order="C")
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[n] = {"dtype": DTY[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * (-len(h) % 8)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(h))); fp.write(h)
        for b in blobs: fp.write(b)


def read_st(path):
    d = open(path, "rb").read()
    n = struct.unpack("<Q", d[:8])[0]; h = json.loads(d[8:8 + n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(d[8 + n + a:8 + n + b], dtype=RDTY[v["dtype"]]).reshape(v["shape"])
    return out


# The unary functions the generator applies: bpc's form and PyTorch's of each, around one operand
# (log, sqrt and the powers of an operand kept away from 0)
UNARY = {
    "exp": ("exp(tanh(%s))", "torch.exp(torch.tanh(%s))"),
    "log": ("log(softplus(%s) + 0.5)", "torch.log(F.softplus(%s) + 0.5)"),
    "sqrt": ("sqrt(sigmoid(%s) + 0.25)", "torch.sqrt(torch.sigmoid(%s) + 0.25)"),
    "abs": ("abs(%s)", "torch.abs(%s)"),
    "sin": ("sin(%s)", "torch.sin(%s)"),
    "cos": ("cos(%s)", "torch.cos(%s)"),
    "tanh": ("tanh(%s)", "torch.tanh(%s)"),
    "sigmoid": ("sigmoid(%s)", "torch.sigmoid(%s)"),
    "relu": ("relu(%s)", "torch.relu(%s)"),
    "gelu": ("gelu(%s)", "F.gelu(%s)"),
    "softplus": ("softplus(%s)", "F.softplus(%s)"),
    "pow2": ("(%s)^2", "(%s)**2"),
    "pow3": ("(%s)^3", "(%s)**3"),
    "powm1": ("(sigmoid(%s) + 0.5)^-2", "(torch.sigmoid(%s) + 0.5)**-2"),
    "powf": ("(sigmoid(%s) + 0.5)^1.5", "(torch.sigmoid(%s) + 0.5)**1.5"),
    "neg": ("(-%s)", "(-%s)"),
    "recip": ("(1 / (1 + (%s)^2))", "1 / (1 + (%s)**2)"),
}
# the order of the draw (leaky_relu, with its alpha, after relu): the programs of each seed as before
UNARY_ORDER = list(UNARY)
UNARY_ORDER.insert(UNARY_ORDER.index("relu") + 1, "leaky_relu")


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.params = {}   # name -> shape
        self.inputs = {}   # name -> (shape, kind)
        self.lines = []
        self.nt = 0
        self.B = self.r.choice([2, 3]) if not os.environ.get("BIGDIM") else self.r.choice([5, 37])
        self.defs = []

    def fresh(self, p):
        self.nt += 1
        return "%s%d" % (p, self.nt)

    def dim(self):
        if os.environ.get("BIGDIM"):
            return self.r.choice([2, 7, 17, 33])
        return self.r.choice([2, 3, 4])

    def sh(self, s):
        return "[" + ", ".join("B" if d == "B" else str(d) for d in s) + "]"

    def param(self, shape):
        # reuse an existing param of that shape sometimes (shared weights)
        same = [n for n, s in self.params.items() if s == tuple(shape)]
        if same and self.r.random() < 0.3:
            n = self.r.choice(same)
        else:
            n = self.fresh("W"); self.params[n] = tuple(shape)
        return n, "P['%s']" % n

    def finput(self, shape):
        same = [n for n, (s, k) in self.inputs.items() if s == tuple(shape) and k == "f"]
        if same and self.r.random() < 0.5:
            n = self.r.choice(same)
        else:
            n = self.fresh("x"); self.inputs[n] = (tuple(shape), "f")
        return n, "I['%s']" % n

    def leaf(self, shape):
        """A parameter of the shape; with a batch size, an input, half the time with a
        parameter broadcast into it."""
        c = self.r.random()
        if "B" not in shape:
            return self.param(shape)
        return self.finput(shape) if c < 0.5 else self.mixleaf(shape)

    def mixleaf(self, shape):
        # shape has B: input of shape, maybe plus broadcast param
        n, p = self.finput(shape)
        k = self.r.randrange(0, len(shape))
        suffix = shape[k:]
        if "B" in suffix:
            return n, p
        if self.r.random() < 0.3:
            suffix = [1 if self.r.random() < 0.4 else d for d in suffix]
        if self.r.random() < 0.2:
            suffix = []
        w, pw = self.param(suffix)
        op = self.r.choice(["+", "*", "-"])
        return "(%s %s %s)" % (n, op, w), "(%s %s %s)" % (p, op, pw)

    def expr(self, shape, depth):
        shape = list(shape)
        if depth <= 0:
            return self.leaf(shape)
        r = self.r
        choices = ["un", "un", "bin", "bin", "bin", "red", "lsm"]
        if len(shape) >= 2:
            choices += ["mm", "mm", "T", "cat", "ln", "rs"]
        if len(shape) >= 1:
            choices += ["ln", "cat", "bcast"]
        if len(shape) == 3 and shape[0] == "B":
            choices += ["emb"]
        if len(shape) >= 1 and shape[-1] != "B":
            choices += ["def", "powt", "scal"]
        if len(shape) >= 2 and shape[-1] == shape[-2] and shape[-1] != "B":
            choices += ["causal", "causal"]
        if len(shape) == 1 and shape[0] != "B":
            choices += ["vec", "vec"]
        if len(shape) == 2 and shape[0] == "B":
            choices += ["emb2"]
        k = r.choice(choices)
        d1 = depth - 1
        if k == "un":
            a, pa = self.expr(shape, d1)
            f = r.choice(UNARY_ORDER)
            if f == "leaky_relu":
                al = r.choice([0.01, 0.2])
                return "leaky_relu(%s, alpha = %g)" % (a, al), "F.leaky_relu(%s, %g)" % (pa, al)
            bp, torch_form = UNARY[f]
            return bp % a, torch_form % pa
        if k == "bin" or k == "bcast":
            a, pa = self.expr(shape, d1)
            if k == "bcast" and shape:
                # other operand has a broadcastable shape
                j = r.randrange(len(shape))
                s2 = [1 if (i == j and shape[i] != "B") else d for i, d in enumerate(shape)]
                if r.random() < 0.5 and shape[0] != "B":
                    s2 = s2[1:]
                b, pb = self.expr(s2, d1 - 1)
            else:
                b, pb = self.expr(shape, d1)
            if r.random() < 0.5: a, pa, b, pb = b, pb, a, pa
            op = r.choice(["+", "-", "*", "*", "/", "max", "min"])
            if op == "/": return "(%s / (1 + (%s)^2))" % (a, b), "(%s / (1 + (%s)**2))" % (pa, pb)
            if op == "max": return "maximum(%s, %s)" % (a, b), "torch.maximum(%s, %s)" % (pa, pb)
            if op == "min": return "minimum(%s, %s)" % (a, b), "torch.minimum(%s, %s)" % (pa, pb)
            return "(%s %s %s)" % (a, op, b), "(%s %s %s)" % (pa, op, pb)
        if k == "red":
            ax = r.randrange(len(shape) + 1)
            keep = r.random() < 0.3
            if keep and len(shape) > 0 and shape[min(ax, len(shape) - 1)] != "B":
                # reduce to size 1 then broadcast by adding to something of shape
                ax = min(ax, len(shape) - 1)
                s2 = list(shape); s2[ax] = self.dim()
                a, pa = self.expr(s2, d1)
                f = r.choice(["sum", "mean", "max", "logsumexp"])
                tf = {"sum": "torch.sum", "mean": "torch.mean", "max": "torch.amax", "logsumexp": "torch.logsumexp"}[f]
                if f == "max" or f == "logsumexp":
                    red = "%s(%s, axis = %d, keepdims = 1)" % (f, a, ax - len(s2) if r.random() < 0.5 else ax)
                else:
                    red = "%s(%s, axis = %d, keepdims = 1)" % (f, a, ax)
                tred = "%s(%s, dim=%d, keepdim=True)" % (tf, pa, ax)
                c, pc = self.expr(shape, d1 - 1)
                return "(%s + %s)" % (c, red), "(%s + %s)" % (pc, tred)
            s2 = list(shape); s2.insert(ax, self.dim())
            if len(s2) > 4: return self.expr(shape, d1)
            a, pa = self.expr(s2, d1)
            f = r.choice(["sum", "mean", "max", "logsumexp"])
            tf = {"sum": "torch.sum", "mean": "torch.mean", "max": "torch.amax", "logsumexp": "torch.logsumexp"}[f]
            axs = ax - len(s2) if r.random() < 0.4 else ax
            return "%s(%s, axis = %d)" % (f, a, axs), "%s(%s, dim=%d)" % (tf, pa, ax)
        if k == "lsm":
            if not shape: return self.expr(shape, d1)
            a, pa = self.expr(shape, d1)
            ax = r.randrange(len(shape))
            f = r.choice(["softmax", "log_softmax"])
            tf = "torch.softmax" if f == "softmax" else "torch.log_softmax"
            if r.random() < 0.5 and ax == len(shape) - 1:
                return "%s(%s)" % (f, a), "%s(%s, dim=-1)" % (tf, pa)
            return "%s(%s, axis = %d)" % (f, a, ax), "%s(%s, dim=%d)" % (tf, pa, ax)
        if k == "mm":
            K = self.dim()
            lead = shape[:-2]
            M, N = shape[-2], shape[-1]
            if N == "B": return self.expr(shape, d1)
            a, pa = self.expr(lead + [M, K], d1)
            bl = lead if (r.random() < 0.5 or "B" in lead) and not (lead and r.random() < 0.3) else []
            if "B" in lead and r.random() < 0.5: bl = []
            tr = r.random() < 0.3
            if tr:
                b, pb = self.expr(bl + [N, K], d1)
                return "(%s @ (%s).T)" % (a, b), "torch.matmul(%s, (%s).transpose(-1, -2))" % (pa, pb)
            b, pb = self.expr(bl + [K, N], d1)
            return "(%s @ %s)" % (a, b), "torch.matmul(%s, %s)" % (pa, pb)
        if k == "T":
            if shape[-2] == "B" or shape[-1] == "B": return self.expr(shape, d1)
            s2 = shape[:-2] + [shape[-1], shape[-2]]
            a, pa = self.expr(s2, d1)
            if r.random() < 0.5:
                return "transpose(%s)" % a, "(%s).transpose(-1, -2)" % pa
            return "(%s).T" % a, "(%s).transpose(-1, -2)" % pa
        if k == "cat":
            cand = [i for i, d in enumerate(shape) if d != "B" and d >= 2]
            if not cand: return self.expr(shape, d1)
            ax = r.choice(cand)
            d = shape[ax]; d1_ = r.randrange(1, d)
            sa = list(shape); sa[ax] = d1_
            sb = list(shape); sb[ax] = d - d1_
            a, pa = self.expr(sa, d1)
            b, pb = self.expr(sb, d1)
            axs = ax - len(shape) if r.random() < 0.4 else ax
            return "concat(%s, %s, axis = %d)" % (a, b, axs), "torch.cat([%s, %s], dim=%d)" % (pa, pb, ax)
        if k == "ln":
            n = shape[-1]
            if n == "B": return self.expr(shape, d1)
            a, pa = self.expr(shape, d1)
            g, pg = self.param([n]); b, pb = self.param([n])
            eps = r.choice([None, 1e-3])
            if eps:
                return "layernorm(%s, %s, %s, eps = %g)" % (a, g, b, eps), "F.layer_norm(%s, (%d,), %s, %s, eps=%g)" % (pa, n, pg, pb, eps)
            return "layernorm(%s, %s, %s)" % (a, g, b), "F.layer_norm(%s, (%d,), %s, %s, eps=1e-5)" % (pa, n, pg, pb)
        if k == "rs":
            if "B" in shape[1:]: return self.expr(shape, d1)
            # reshape from a different factorisation
            if shape[0] == "B":
                rest = shape[1:]
                n = int(np.prod(rest))
                opts = [[n]] + ([[rest[1], rest[0]]] if len(rest) == 2 else [])
                s2 = ["B"] + r.choice(opts)
                a, pa = self.expr(s2, d1)
                tgt = ", ".join(["B"] + [str(x) for x in rest])
                if r.random() < 0.5:
                    tgt = ", ".join(["-1"] + [str(x) for x in rest])
                return "reshape(%s, [%s])" % (a, tgt), "torch.reshape(%s, (%d, %s))" % (pa, self.B, ", ".join(str(x) for x in rest))
            n = int(np.prod(shape))
            s2 = r.choice([[n], list(reversed(shape))])
            a, pa = self.expr(s2, d1)
            return "reshape(%s, [%s])" % (a, ", ".join(map(str, shape))), "torch.reshape(%s, (%s,))" % (pa, ", ".join(map(str, shape)))
        if k == "causal":
            a, pa = self.expr(shape, d1)
            T = shape[-1]
            return "softmax(causal_mask(%s))" % a, "torch.softmax((%s).masked_fill(torch.triu(torch.ones(%d, %d, dtype=torch.bool), 1), float('-inf')), dim=-1)" % (pa, T, T)
        if k == "powt":
            a, pa = self.expr(shape, d1)
            b, pb = self.expr(shape, d1)
            return "((sigmoid(%s) + 0.5) ^ tanh(%s))" % (a, b), "((torch.sigmoid(%s) + 0.5) ** torch.tanh(%s))" % (pa, pb)
        if k == "scal":
            a, pa = self.expr(shape, d1)
            sn, ps = self.param([])
            return "(%s * %s)" % (sn, a), "(%s * %s)" % (ps, pa)
        if k == "vec":
            K = self.dim()
            if r.random() < 0.5:
                a, pa = self.expr([K], d1); b, pb = self.expr([K, shape[0]], d1)
            else:
                a, pa = self.expr([shape[0], K], d1); b, pb = self.expr([K], d1)
            return "(%s @ %s)" % (a, b), "torch.matmul(%s, %s)" % (pa, pb)
        if k == "emb2":
            E = shape[1]
            V = r.choice([3, 5])
            n = self.fresh("ids"); self.inputs[n] = (("B",), "ids%d" % V)
            tb, ptb = self.param([V, E])
            return "embedding(%s, %s)" % (tb, n), "F.embedding(I['%s'], %s)" % (n, ptb)
        if k == "emb":
            T, E = shape[1], shape[2]
            if T == "B" or E == "B": return self.expr(shape, d1)
            V = r.choice([3, 5])
            n = self.fresh("ids"); self.inputs[n] = (("B", T), "ids%d" % V)
            tb, ptb = self.param([V, E])
            return "embedding(%s, %s)" % (tb, n), "F.embedding(I['%s'], %s)" % (n, ptb)
        if k == "def":
            # a def called twice with the same weight, on two arguments
            n = shape[-1]
            f = self.fresh("blk")
            act = r.choice(["tanh", "gelu", "sigmoid", "softplus"])
            tact = {"tanh": "torch.tanh", "gelu": "F.gelu", "sigmoid": "torch.sigmoid", "softplus": "F.softplus"}[act]
            self.lines.append("def %s(h, A, c) = %s(h @ A + c)" % (f, act))
            A, pA = self.param([n, n]); c, pc = self.param([n])
            a, pa = self.expr(shape, d1)
            if r.random() < 0.5:
                return "%s(%s(%s, %s, %s), %s, %s)" % (f, f, a, A, c, A, c), \
                    "%s(torch.matmul(%s(torch.matmul(%s, %s) + %s), %s) + %s)" % (tact, tact, pa, pA, pc, pA, pc)
            b, pb = self.expr(shape, d1)
            return "(%s(%s, %s, %s) * %s(%s, %s, %s))" % (f, a, A, c, f, b, A, c), \
                "(%s(torch.matmul(%s, %s) + %s) * %s(torch.matmul(%s, %s) + %s))" % (tact, pa, pA, pc, tact, pb, pA, pc)
        return self.leaf(shape)

    def conv_program(self):
        r = self.r
        C = r.choice([1, 2]); H = r.choice([5, 6]); Wd = r.choice([5, 6])
        x = self.fresh("x"); self.inputs[x] = (("B", C, H, Wd), "f")
        O = r.choice([2, 3]); k = r.choice([2, 3]); s = r.choice([1, 2]); p = r.choice([0, 1])
        K, pK = self.param([O, C, k, k])
        Ho = (H + 2 * p - k) // s + 1; Wo = (Wd + 2 * p - k) // s + 1
        kw = ""
        if s != 1: kw += ", stride = %d" % s
        if p != 0: kw += ", padding = %d" % p
        xin, pxin = x, "I['%s']" % x
        if r.random() < 0.5:
            w0, pw0 = self.param([C, 1, 1])
            xin, pxin = "tanh(%s * %s)" % (x, w0), "torch.tanh(%s * %s)" % (pxin, pw0)
        h = "conv2d(%s, %s%s)" % (xin, K, kw)
        ph = "F.conv2d(%s, %s, stride=%d, padding=%d)" % (pxin, pK, s, p)
        if r.random() < 0.5:
            c, pc = self.param([O, 1, 1])
            h, ph = "(%s + %s)" % (h, c), "(%s + %s)" % (ph, pc)
        act = r.choice(["tanh", "relu", "gelu", "softplus", "sq"])
        if act == "sq": h, ph = "(%s)^2" % h, "(%s)**2" % ph
        else:
            h = "%s(%s)" % (act, h)
            ph = {"tanh": "torch.tanh", "relu": "torch.relu", "gelu": "F.gelu", "softplus": "F.softplus"}[act] + "(%s)" % ph
        if r.random() < 0.5 and Ho >= 2 and Wo >= 2:
            pk = 2
            if r.random() < 0.5:
                h, ph = "avgpool2d(%s, 2)" % h, "F.avg_pool2d(%s, 2)" % ph
            else:
                h, ph = "maxpool2d(%s, 2)" % h, "F.max_pool2d(%s, 2)" % ph
            Ho //= 2; Wo //= 2
        if r.random() < 0.4:
            K2, pK2 = self.param([2, O, 1, 1])
            h, ph = "conv2d(%s, %s)" % (h, K2), "F.conv2d(%s, %s)" % (ph, pK2)
            O = 2
        n = O * Ho * Wo
        self.lines.append("h = reshape(%s, [B, %d])" % (h, n))
        return "h", "torch.reshape(%s, (%d, %d))" % (ph, self.B, n), n

    def program(self):
        r = self.r
        fam = r.random()
        if fam < 0.15:
            e, pe, n = self.conv_program()
            shape = ["B", n]
            C = r.choice([3, 4])
            W, pW = self.param([n, C])
            e, pe = "(%s @ %s)" % (e, W), "torch.matmul(%s, %s)" % (pe, pW)
            shape = ["B", C]
        elif fam < 0.2:
            shape = []
            e, pe = self.expr(shape, r.choice([2, 3, 4]))
        else:
            shape = r.choice([["B", 3], ["B", 4], ["B", 2, 3], ["B", 3, 4], [3, 4], ["B", 2, 3, 4]])
            if os.environ.get("BIGDIM"):
                shape = r.choice([["B", 17], ["B", 33], ["B", 5, 19], [9, 40], ["B", 2, 9, 17]])
            e, pe = self.expr(shape, r.choice([2, 3, 4, 5]))
        t = self.fresh("t")
        self.lines.append("%s = %s" % (t, e))
        pt = "_t"
        body = "_t = %s\n" % pe
        lk = r.random()
        if len(shape) == 2 and shape[0] == "B" and lk < 0.3:
            C = shape[1]
            y = self.fresh("y")
            kind = r.choice(["ce", "ceprob", "nll", "nll2"])
            if kind == "ce":
                self.inputs[y] = (("B",), "ids%d" % C)
                loss = "cross_entropy(%s, %s)" % (t, y); pl = "F.cross_entropy(_t, I['%s'])" % y
            elif kind == "ceprob":
                self.inputs[y] = (("B", C), "prob")
                loss = "cross_entropy(%s, %s)" % (t, y); pl = "F.cross_entropy(_t, I['%s'])" % y
            else:
                self.inputs[y] = (("B",), "ids%d" % C)
                loss = "nll(log_softmax(%s), %s)" % (t, y); pl = "F.nll_loss(torch.log_softmax(_t, dim=-1), I['%s'])" % y
        elif shape and lk < 0.55:
            y = self.fresh("y")
            kind = r.choice(["mse", "bce", "bcel"])
            if kind == "mse":
                self.inputs[y] = (tuple(shape), "f")
                loss = "mse(%s, %s)" % (t, y); pl = "F.mse_loss(_t, I['%s'])" % y
            elif kind == "bce":
                self.inputs[y] = (tuple(shape), "p01")
                loss = "bce(sigmoid(4 * tanh(%s)), %s)" % (t, y); pl = "(-(I['%s'] * torch.log(torch.sigmoid(4 * torch.tanh(_t))) + (1 - I['%s']) * torch.log(1 - torch.sigmoid(4 * torch.tanh(_t))))).mean()" % (y, y)
            else:
                self.inputs[y] = (tuple(shape), "p01")
                loss = "bce_logits(%s, %s)" % (t, y); pl = "F.binary_cross_entropy_with_logits(_t, I['%s'])" % y
        else:
            kind = r.choice(["sum", "mean2", "lse", "sumsq"])
            if kind == "sum": loss, pl = "sum(%s)" % t, "torch.sum(_t)"
            elif kind == "mean2": loss, pl = "mean(%s^2)" % t, "torch.mean(_t**2)"
            elif kind == "lse": loss, pl = "logsumexp(%s)" % t, "torch.logsumexp(_t.reshape(-1), 0)"
            else: loss, pl = "sum(%s * %s)" % (t, t), "torch.sum(_t * _t)"
        self.lines.append("loss %s" % loss)
        body += "return %s\n" % pl
        decl = []
        for n, (s, k) in self.inputs.items():
            decl.append("input %s%s%s" % (n, self.sh(s) if s else "", " : int" if k.startswith("ids") else ""))
        for n, s in self.params.items():
            decl.append("param %s%s" % (n, self.sh(s) if s else ""))
        defs = [l for l in self.lines if l.startswith("def ")]
        rest = [l for l in self.lines if not l.startswith("def ")]
        self.src = "\n".join(decl + defs + rest) + "\n"
        self.pyf = "def f(P, I):\n" + "".join("    " + l + "\n" for l in body.strip().split("\n"))

    def values(self):
        P = {n: self.np.standard_normal([d for d in s]) * 0.7 for n, s in self.params.items()}
        I = {}
        for n, (s, k) in self.inputs.items():
            shp = [self.B if d == "B" else d for d in s]
            if k == "f": I[n] = self.np.standard_normal(shp)
            elif k == "p01": I[n] = self.np.uniform(0.05, 0.95, shp)
            elif k == "prob":
                a = self.np.uniform(0.1, 1, shp); I[n] = a / a.sum(-1, keepdims=True)
            else: I[n] = self.np.integers(0, int(k[3:]), shp).astype(np.int64)
        V = {n: self.np.standard_normal(s) for n, s in self.params.items()}
        if os.environ.get("QUANT"):
            P = {n: np.round(v) for n, v in P.items()}
            I = {n: (np.round(v) if v.dtype == np.float64 and self.inputs[n][1] == "f" else v) for n, v in I.items()}
        P = {n: np.asarray(v, dtype=np.float64) for n, v in P.items()}
        V = {n: np.asarray(v, dtype=np.float64) for n, v in V.items()}
        return P, I, V


def torch_hvp(pyf, P, I, V):
    env = {"torch": torch, "F": F}
    exec(pyf, env)
    f = env["f"]
    TP = {k: torch.tensor(v, requires_grad=True) for k, v in P.items()}
    TI = {k: torch.tensor(v) for k, v in I.items()}
    loss = f(TP, TI)
    if not loss.requires_grad:
        return float(loss), {k: np.zeros(v.shape) for k, v in P.items()}
    g = torch.autograd.grad(loss, list(TP.values()), create_graph=True, allow_unused=True)
    s = sum((gg * torch.tensor(V[k])).sum() for k, gg in zip(TP, g) if gg is not None and gg.requires_grad)
    if not torch.is_tensor(s) or not s.requires_grad:
        return float(loss), {k: np.zeros(v.shape) for k, v in P.items()}
    hv = torch.autograd.grad(s, list(TP.values()), allow_unused=True)
    return float(loss), {k: (np.zeros(P[k].shape) if h is None else h.detach().numpy().copy()) for k, h in zip(TP, hv)}


def run(seed, d, opt=None):
    g = Gen(seed); g.program()
    if not g.params:
        return "noparam", ""
    P, I, V = g.values()
    base = os.path.join(d, "s%d" % seed)
    open(base + ".bp", "w").write(g.src)
    open(base + ".py", "w").write(g.pyf)
    write_st(base + ".p.st", P); write_st(base + ".i.st", I); write_st(base + ".v.st", V)
    cmd = [BPC, "hvp", base + ".bp", "--params", base + ".p.st", "--vector", base + ".v.st",
           "--f64", "-o", base + ".h.st"] + (["--inputs", base + ".i.st"] if I else []) + (opt or [])
    pr = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if pr.returncode != 0:
        return "bpcfail", pr.stderr.strip()[:400]
    H = read_st(base + ".h.st")
    try:
        tl, TH = torch_hvp(g.pyf, P, I, V)
    except Exception as e:
        return "torchfail", repr(e)[:300]
    scale = max([np.abs(b).max() for b in TH.values() if b.size] + [1e-3])
    worst, wn = 0.0, ""
    for k in P:
        e = np.abs(H[k] - TH[k]).max() / scale if P[k].size else 0.0
        if not np.isfinite(e): e = float("inf")
        if e > worst: worst, wn = e, k
    if worst < 1e-9:
        return "ok", ""
    # PyTorch's double backward against central differences of its own gradient
    fd = fd_hvp(g.pyf, P, I, V)
    fde = max(np.abs(H[k] - fd[k]).max() for k in P if P[k].size) / scale
    if fde < 1e-6:
        return "torch-only", "%.3g %s (bpc within %.2g of differences of the gradient)" % (worst, wn, fde)
    return "MISMATCH", "%.3g %s (differences of the gradient: %.2g)" % (worst, wn, fde)


def fd_hvp(pyf, P, I, V, eps=1e-5):
    env = {"torch": torch, "F": F}
    exec(pyf, env)
    def grad(sign):
        TP = {k: torch.tensor(P[k] + sign * eps * V[k], requires_grad=True) for k in P}
        loss = env["f"](TP, {k: torch.tensor(v) for k, v in I.items()})
        if not loss.requires_grad:
            return {k: np.zeros(P[k].shape) for k in P}
        gs = torch.autograd.grad(loss, list(TP.values()), allow_unused=True)
        return {k: np.zeros(P[k].shape) if gg is None else gg.detach().numpy().copy() for k, gg in zip(TP, gs)}
    gp, gm = grad(1), grad(-1)
    return {k: (gp[k] - gm[k]) / (2 * eps) for k in P}


if __name__ == "__main__":
    d = os.environ.get("RUNDIR") or tempfile.mkdtemp(prefix="sweep_hvp."); os.makedirs(d, exist_ok=True)
    a, b = int(sys.argv[1]), int(sys.argv[2])
    opt = sys.argv[3:] or None
    counts = {}
    for s in range(a, b + 1):  # FIRST_SEED to LAST_SEED, both run
        try:
            st, msg = run(s, d, opt)
        except subprocess.TimeoutExpired:
            st, msg = "timeout", ""
        counts[st] = counts.get(st, 0) + 1
        if st not in ("ok", "noparam"):
            print(s, st, msg, flush=True)
    print(counts, "(programs and files in %s)" % d)
