#!/usr/bin/python3
"""gen_edge_refs.py — PyTorch reference values at IEEE edge values, for test_torch_refs.c.

Writes, for every case in CASES below, tests/torch/edge/programs/NAME.bp and
tests/torch/edge/data/NAME.safetensors (the layout of gen_refs.py: parameter and input
values, "loss"/"grad.<param>" from a float64 PyTorch run, "loss32"/"grad32.<param>" from a
float32 run on the float32-rounded values). The values are inf, -inf, NaN, +-0, huge (1e38,
1e308) and subnormal numbers. test_torch_refs.c compares them like the other references,
with a NaN required where PyTorch has a NaN and an infinity of the same sign where PyTorch
has one.

Forward values are checked through the gradients: an elementwise case is
`loss sum(f(x) * w)` with w all ones, so grad.w is f(x) element by element and grad.x is
f'(x). Regenerate (from the source root, Debian's python3-torch) with

    /usr/bin/python3 tests/torch/gen_edge_refs.py
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_refs import reference, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "edge")
inf, nan = float("inf"), float("nan")

# every unary op meets these (in float32 1e308 is inf and 1e-310, 5e-324 are 0)
EDGE = [-inf, -1e308, -1e38, -30.0, -2.5, -1.0, -1e-310, -0.0, 0.0, 5e-324, 1e-40, 0.5, 1.0, 2.0, 30.0,
        1e38, 1e308, inf, nan]
# binary ops meet every pair of these
EDGE2 = [-inf, -2.0, -1.0, -0.0, 0.0, 1e-40, 0.5, 1.0, 3.0, 1e38, inf, nan]

CASES = {}


def case(name, text, params, f, inputs=None, fix=None):
    """fix(out): where bpc differs from PyTorch on purpose, the value it is held to instead
    (README.md, "IEEE special values", says why for each)"""
    CASES[name] = (text, params, inputs or {}, f, fix)


def unary(name, expr, tf, values=EDGE, fix=None):
    n = len(values)
    case("un_" + name, "param x[%d]\nparam w[%d]\nloss sum(%s * w)\n" % (n, n, expr),
         {"x": np.array(values), "w": np.ones(n)}, lambda P, I: (tf(P["x"]) * P["w"]).sum(), fix=fix)


def at_nan(value):
    """the derivative at x = NaN (the last of EDGE) held to value in both precisions"""
    def fix(out):
        for k in ("grad.x", "grad32.x"):
            out[k][len(EDGE) - 1] = value
    return fix


unary("neg", "-x", lambda x: -x)
unary("exp", "exp(x)", torch.exp)
unary("log", "log(x)", torch.log)
unary("sqrt", "sqrt(x)", torch.sqrt)
# abs'(NaN) = sign(NaN) is NaN as in NumPy and JAX; PyTorch's sign(NaN) is 0 (pytorch#41245)
unary("abs", "abs(x)", torch.abs, fix=at_nan(nan))
unary("sin", "sin(x)", torch.sin, [v for v in EDGE if abs(v) < 1e30 or v != v])  # sin(1e38): libm vs. torch differ
unary("cos", "cos(x)", torch.cos, [v for v in EDGE if abs(v) < 1e30 or v != v])
unary("tanh", "tanh(x)", torch.tanh)
unary("sigmoid", "sigmoid(x)", torch.sigmoid)
# relu'(NaN) is 0 as in JAX (the mask x > 0); PyTorch's threshold_backward passes g (1)
unary("relu", "relu(x)", torch.relu, fix=at_nan(0.0))
unary("leaky_relu", "leaky_relu(x, alpha = 0.1)", lambda x: F.leaky_relu(x, 0.1))
unary("gelu", "gelu(x)", F.gelu)
unary("softplus", "softplus(x)", F.softplus)  # PyTorch's x above 20 is within 1e-8 of bpc's
unary("square", "x^2", lambda x: x ** 2)
unary("cube", "x^3", lambda x: x ** 3)
unary("recip", "x^-1", lambda x: x ** -1)
unary("pow_m2", "x^-2", lambda x: x ** -2)
unary("pow_half", "x^0.5", lambda x: x ** 0.5)
unary("pow_1_5", "x^1.5", lambda x: x ** 1.5)


def rsqrt_fix(out):
    """x^-0.5 is 1/sqrt(x) (PyTorch's rsqrt, the same values) and its derivative that of
    1/sqrt(x), NaN at -inf and +inf at -0 where PyTorch's -0.5 pow(x, -1.5) gives -0 and -inf:
    both outside the function's domain"""
    for k, dt in (("grad.x", np.float64), ("grad32.x", np.float32)):
        with np.errstate(over="ignore"):
            x = np.array(EDGE).astype(dt)
        out[k][x == -inf] = nan
        out[k][(x == 0) & np.signbit(x)] = inf


unary("rsqrt", "x^-0.5", lambda x: x ** -0.5, fix=rsqrt_fix)
unary("pow_0", "x^0", lambda x: x ** 0)
unary("leaky_default", "leaky_relu(x)", F.leaky_relu)
unary("div1", "1 / x", lambda x: 1 / x)
unary("mean", "mean(x)", lambda x: x.mean())  # a scalar times w: grad.w is n mean(x)


def binary(name, expr, tf):
    a = np.array([p for p in EDGE2 for q in EDGE2])
    b = np.array([q for p in EDGE2 for q in EDGE2])
    n = len(a)
    case("bin_" + name, "param a[%d]\nparam b[%d]\nparam w[%d]\nloss sum(%s * w)\n" % (n, n, n, expr),
         {"a": a, "b": b, "w": np.ones(n)}, lambda P, I: (tf(P["a"], P["b"]) * P["w"]).sum())


binary("add", "(a + b)", lambda a, b: a + b)
binary("sub", "(a - b)", lambda a, b: a - b)
binary("mul", "(a * b)", lambda a, b: a * b)
binary("div", "(a / b)", lambda a, b: a / b)
binary("pow", "a^b", lambda a, b: a ** b)
binary("maximum", "maximum(a, b)", torch.maximum)
binary("minimum", "minimum(a, b)", torch.minimum)

# rows of a [R, 3] matrix: -inf entries, all -inf, +inf, NaN, huge, ties
ROWS = [[0.0, 1.0, 2.0], [-inf, 1.0, 2.0], [-inf, -inf, -inf], [inf, 1.0, 2.0], [inf, inf, 1.0],
        [nan, 1.0, 2.0], [1e308, 1e308, 0.0], [3.0, 3.0, 3.0], [-1e38, 0.0, 1e38], [-inf, -inf, 0.0],
        [-inf, inf, 0.0], [1e-40, -0.0, 0.0], [1.0, nan, inf], [-inf, 0.0, nan]]
R = len(ROWS)


def rowwise(name, expr, tf, keep=False):
    wshape = "%d, 3" % R if keep else "%d" % R
    case("row_" + name, "param x[%d, 3]\nparam w[%s]\nloss sum(%s * w)\n" % (R, wshape, expr),
         {"x": np.array(ROWS), "w": np.ones((R, 3) if keep else R)}, lambda P, I: (tf(P["x"]) * P["w"]).sum())


rowwise("sum", "sum(x, axis = 1)", lambda x: x.sum(1))
rowwise("mean", "mean(x, axis = 1)", lambda x: x.mean(1))
rowwise("max", "max(x, axis = 1)", lambda x: x.amax(1))
rowwise("logsumexp", "logsumexp(x, axis = 1)", lambda x: torch.logsumexp(x, 1))
rowwise("softmax", "softmax(x, axis = 1)", lambda x: torch.softmax(x, 1), keep=True)
rowwise("log_softmax", "log_softmax(x, axis = 1)", lambda x: torch.log_softmax(x, 1), keep=True)
rowwise("softmax0", "softmax(x, axis = 0)", lambda x: torch.softmax(x, 0), keep=True)
rowwise("max_all", "max(x)", lambda x: x.amax())
# a column of ties at 1e30 / 1e38 (log_softmax over a leading axis is a loop of its own)
case("col_log_softmax", "param x[3, 5]\nparam w[3, 5]\nloss sum(log_softmax(x, axis = 0) * w)\n",
     {"x": np.array([[1e30, 1e38, -inf, 1e308, 30.0], [1e30, 0.0, 1.0, 1e308, -1e30], [0.0, 1e38, 2.0, 1e308, 30.0]]),
      "w": np.ones((3, 5))}, lambda P, I: (torch.log_softmax(P["x"], 0) * P["w"]).sum())
rowwise("logsumexp_all", "logsumexp(x)", lambda x: torch.logsumexp(x.reshape(-1), 0))

# losses, one row each so that one row's infinity does not hide the others' values
CE_ROWS = [([0.0, 1.0, 2.0], 0), ([inf, 1.0, 2.0], 0), ([inf, 1.0, 2.0], 1), ([-inf, 1.0, 2.0], 0),
           ([-inf, 1.0, 2.0], 1), ([1e308, 0.0, -1e308], 0), ([1e308, 0.0, -1e308], 2), ([1e38, -1e38, 0.0], 1),
           ([nan, 0.0, 1.0], 1), ([-inf, -inf, -inf], 0), ([3.0, 3.0, 3.0], 2), ([0.0, nan, inf], 0),
           ([1e-40, -0.0, 5e-324], 2), ([1e30, 1e30, 0.0], 0), ([1e38, 1e38, 1e38], 2), ([30.0, -1e30, 30.0], 2)]
for i, (row, y) in enumerate(CE_ROWS):
    case("ce_%02d" % i, "input y[1] : int\nparam z[1, 3]\nloss cross_entropy(z, y)\n",
         {"z": np.array([row])}, lambda P, I: F.cross_entropy(P["z"], I["y"]), {"y": np.array([y], dtype=np.int64)})
    case("nll_%02d" % i, "input y[1] : int\nparam z[1, 3]\nloss nll(log_softmax(z), y)\n",
         {"z": np.array([row])}, lambda P, I: F.nll_loss(torch.log_softmax(P["z"], 1), I["y"]),
         {"y": np.array([y], dtype=np.int64)})

# soft targets (probabilities of the logits' shape)
for i, (row, t) in enumerate([([inf, 1.0, 2.0], [1.0, 0.0, 0.0]), ([-inf, 1.0, 2.0], [0.0, 0.5, 0.5]),
                              ([-inf, 1.0, 2.0], [0.5, 0.5, 0.0]), ([1e38, 0.0, -1e38], [0.25, 0.5, 0.25])]):
    case("ce_soft_%02d" % i, "input t[1, 3]\nparam z[1, 3]\nloss cross_entropy(z, t)\n",
         {"z": np.array([row])}, lambda P, I: F.cross_entropy(P["z"], I["t"]), {"t": np.array([t])})

# NumPy broadcasting of a column against a row: [4, 1] - [4] is [4, 4], as PyTorch
case("bcast_col_row", "param a[4, 1]\nparam b[4]\nparam w[4, 4]\nloss sum((a - b) * w)\n",
     {"a": np.array([[1.0], [2.0], [inf], [-0.0]]), "b": np.array([10.0, 20.0, inf, 0.0]), "w": np.ones((4, 4))},
     lambda P, I: ((P["a"] - P["b"]) * P["w"]).sum())

BCEL = [(0.0, 1.0), (30.0, 1.0), (-30.0, 1.0), (40.0, 0.999), (-40.0, 0.999), (100.0, 0.9999), (800.0, 0.75),
        (-800.0, 0.75), (1e38, 1.0), (-1e38, 1.0), (1e38, 0.0), (inf, 1.0), (-inf, 1.0), (inf, 0.0), (nan, 1.0),
        (20.0, 0.99999994), (-17.0, 1.0), (17.0, 0.0), (-0.0, 0.5), (1e-40, 0.5)]
for i, (z, t) in enumerate(BCEL):
    case("bcel_%02d" % i, "input t[1]\nparam z[1]\nloss bce_logits(z, t)\n", {"z": np.array([z])},
         lambda P, I: F.binary_cross_entropy_with_logits(P["z"], I["t"]), {"t": np.array([t])})

BCE = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.5, 1.0), (1e-40, 1.0), (1e-40, 0.0), (-0.0, 0.5),
       (1.0 - 2 ** -53, 0.25)]  # torch refuses a NaN probability
for i, (p, t) in enumerate(BCE):
    case("bce_%02d" % i, "input t[1]\nparam p[1]\nloss bce(p, t)\n", {"p": np.array([p])},
         lambda P, I: F.binary_cross_entropy(P["p"], I["t"]), {"t": np.array([t])})

MSE = [(inf, 1.0), (1.0, inf), (inf, inf), (nan, 0.0), (1e200, 0.0), (1e38, 0.0), (-0.0, 0.0)]
for i, (p, t) in enumerate(MSE):
    case("mse_%02d" % i, "input t[1]\nparam p[1]\nloss mse(p, t)\n", {"p": np.array([p])},
         lambda P, I: F.mse_loss(P["p"], I["t"]), {"t": np.array([t])})



def ln_fix(out):
    """the row [1e38, -1e38, 0, 1]: PyTorch's float32 variance overflows (1e76) and gives 0s;
    bpc's float32 gives the float64 values, which are held to"""
    for k in ("x", "g", "b", "w"):
        if k in ("x", "w"):
            out["grad32." + k][1] = out["grad." + k][1]
        else:
            out["grad32." + k] = out["grad." + k]
    out["loss32"] = out["loss"]


LN = [[1.0, 1.0, 1.0, 1.0], [1e38, -1e38, 0.0, 1.0], [inf, 0.0, 1.0, 2.0], [1e-40, 0.0, -1e-40, 0.0],
      [nan, 0.0, 1.0, 2.0]]
case("layernorm", "param x[%d, 4]\nparam g[4]\nparam b[4]\nparam w[%d, 4]\nloss sum(layernorm(x, g, b) * w)\n"
     % (len(LN), len(LN)), {"x": np.array(LN), "g": np.ones(4), "b": np.zeros(4), "w": np.ones((len(LN), 4))},
     lambda P, I: (F.layer_norm(P["x"], (4,), P["g"], P["b"], 1e-5) * P["w"]).sum(), fix=ln_fix)

# double rows whose squared deviations overflow double (finite entries beyond ~1e154): the
# values and gradients are finite, and layernorm is unchanged by scaling a row (eps aside,
# negligible here), so the reference is PyTorch's on each such row scaled by a power of 2 to
# about 1e9 (its own variance overflows to NaN; the last row, unscaled, is the control); in
# float these entries are inf: NaN as PyTorch's
LNH = np.array([[0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 3.0, 1.0, 1e300], [1e200, -3e199, 5e199, 0.0, 1e199, -2e200, 7e199, 1.0, 2e200],
                [1e300, -1e300, 1e300, -1e300, 1e300, -1e300, 0.0, 1e155, -1e155], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]])
with np.errstate(divide="ignore"):
    LNH_SCALE = np.array([[2.0 ** (30 - int(np.ceil(np.log2(np.abs(r).max())))) if np.abs(r).max() > 1e100 else 1.0]
                          for r in LNH])
case("layernorm_huge", "param x[4, 9]\nparam g[9]\nparam b[9]\nparam w[4, 9]\nloss sum(layernorm(x, g, b) * w)\n",
     {"x": LNH, "g": np.linspace(-1.0, 2.0, 9), "b": np.linspace(0.5, -0.5, 9), "w": np.linspace(-2.0, 2.0, 36).reshape(4, 9)},
     lambda P, I: (F.layer_norm(P["x"] * torch.tensor(LNH_SCALE, dtype=P["x"].dtype), (9,), P["g"], P["b"], 1e-5) * P["w"]).sum())

# pooling windows with NaN, infinities, ties and -0 (x [4, 1, 2, 2]: one window an image)
WIN = [[nan, 1.0, 2.0, 3.0], [1.0, 2.0, nan, inf], [-inf, -inf, -inf, -inf], [2.0, 2.0, -0.0, 0.0],
       [inf, 1.0, -inf, 0.0], [1e38, 1e38, 1e38, 1e38]]
NW = len(WIN)
pool_x = np.array(WIN).reshape(NW, 1, 2, 2)
case("maxpool", "param x[%d, 1, 2, 2]\nparam w[%d, 1, 1, 1]\nloss sum(maxpool2d(x, 2) * w)\n" % (NW, NW),
     {"x": pool_x, "w": np.ones((NW, 1, 1, 1))}, lambda P, I: (F.max_pool2d(P["x"], 2) * P["w"]).sum())
case("avgpool", "param x[%d, 1, 2, 2]\nparam w[%d, 1, 1, 1]\nloss sum(avgpool2d(x, 2) * w)\n" % (NW, NW),
     {"x": pool_x, "w": np.ones((NW, 1, 1, 1))}, lambda P, I: (F.avg_pool2d(P["x"], 2) * P["w"]).sum())
case("conv_inf", "param x[1, 1, 3, 3]\nparam k[1, 1, 2, 2]\nparam w[1, 1, 2, 2]\nloss sum(conv2d(x, k) * w)\n",
     {"x": np.array([[[[1.0, inf, 0.0], [2.0, 3.0, -1.0], [nan, 0.5, 1e38]]]]), "k": np.array([[[[1.0, -0.5], [0.0, 2.0]]]]),
      "w": np.ones((1, 1, 2, 2))}, lambda P, I: (F.conv2d(P["x"], P["k"]) * P["w"]).sum())


def causal_fix(out):
    """rows 0 and 1 have a NaN softmax (a visible -inf alone, an inf): their masked entries'
    gradient is that row's softmax_grad, NaN, where PyTorch's masked_fill gives 0 (bpc's
    softmax(causal_mask(x)) skips the mask in the backward pass: no pass over the scores)"""
    for k in ("grad.x", "grad32.x"):
        out[k][0, 1] = out[k][0, 2] = out[k][1, 2] = nan


case("causal_softmax", "param x[3, 3]\nparam w[3, 3]\nloss sum(softmax(causal_mask(x)) * w)\n",
     {"x": np.array([[-inf, 5.0, 1.0], [inf, 1.0, nan], [1e38, -1e38, 0.0]]), "w": np.ones((3, 3))},
     lambda P, I: (torch.softmax(P["x"].masked_fill(torch.ones(3, 3, dtype=torch.bool).triu(1), -inf), -1) * P["w"]).sum(),
     fix=causal_fix)

# the same through a batched q @ k.T, whose product, mask and softmax are one call (only the
# lower triangle made): a row whose softmax is NaN (a visible inf, NaN, or all -inf) is NaN in
# its masked entries too, as masked_fill's; q and k are inputs, so P is seen through grad.w
CQ = np.array([[[inf, 0.0], [1.0, 0.0], [nan, 0.0]], [[1.0, 0.0], [1.0, 0.0], [1e30, 1.0]]])
CK = np.array([[[1.0, 1.0], [1.0, -1.0], [2.0, 0.5]], [[-inf, 0.0], [0.5, 1.0], [-1.0, 3.0]]])
case("causal_qk", "input q[2, 3, 2]\ninput k[2, 3, 2]\nparam w[2, 3, 3]\nloss sum(softmax(causal_mask(q @ k.T)) * w)\n",
     {"w": np.ones((2, 3, 3))},
     lambda P, I: (torch.softmax((I["q"] @ I["k"].transpose(-1, -2)).masked_fill(torch.ones(3, 3, dtype=torch.bool).triu(1), -inf), -1)
                   * P["w"]).sum(), {"q": CQ, "k": CK})

# algebraic identities the compiler must not apply where IEEE arithmetic differs
Z = [1.0, inf, nan, -inf, -0.0, 0.0]
N = len(Z)
zp = {"x": np.array(Z), "w": np.ones(N)}
case("fold_zero_times", "param x[%d]\nparam w[%d]\nloss sum(w) + 0 * sum(x)\n" % (N, N), zp,
     lambda P, I: P["w"].sum() + 0 * P["x"].sum())
case("fold_times_zero", "param x[%d]\nparam w[%d]\nloss sum((x * 0) * w)\n" % (N, N), zp,
     lambda P, I: ((P["x"] * 0) * P["w"]).sum())
case("fold_zero_div", "param x[%d]\nparam w[%d]\nloss sum((0 / x) * w)\n" % (N, N), zp,
     lambda P, I: ((0 / P["x"]) * P["w"]).sum())
case("fold_self_sub", "param x[%d]\nparam w[%d]\nloss sum((x - x) * w)\n" % (N, N), zp,
     lambda P, I: ((P["x"] - P["x"]) * P["w"]).sum())
case("fold_self_div", "param x[%d]\nparam w[%d]\nloss sum((x / x) * w)\n" % (N, N), zp,
     lambda P, I: ((P["x"] / P["x"]) * P["w"]).sum())
case("fold_plus_zero", "param x[%d]\nparam w[%d]\nloss sum(w / (x + 0))\n" % (N, N), zp,
     lambda P, I: (P["w"] / (P["x"] + 0)).sum())
case("fold_zero_minus", "param x[%d]\nparam w[%d]\nloss sum(w / (0 - x))\n" % (N, N), zp,
     lambda P, I: (P["w"] / (0 - P["x"])).sum())
case("fold_minus_zero", "param x[%d]\nparam w[%d]\nloss sum(w / (x - 0))\n" % (N, N), zp,
     lambda P, I: (P["w"] / (P["x"] - 0)).sum())
# a `checkpoint` binding's recomputation is the program's own expression, not a gradient:
# x * 0 recomputed for the backward pass is NaN at x = inf, as it was in the forward pass,
# and so is w's gradient there (it was finite: the recomputation folded x * 0 to 0)
def zero_grad_x(out):
    """x's gradient is the symbolic zero's 0 (README: the gradient of 0 * f(x) is 0), where
    PyTorch's chain rule multiplies a NaN by 0"""
    for k in ("grad.x", "grad32.x"):
        out[k][:] = 0


case("fold_checkpoint", "param x[%d]\nparam w[%d]\ncheckpoint a = tanh(x * 0 + w)\nloss sum(a * w)\n" % (N, N), zp,
     lambda P, I: (torch.tanh(P["x"] * 0 + P["w"]) * P["w"]).sum(), fix=zero_grad_x)
case("fold_times_one", "param x[%d]\nparam w[%d]\nloss sum(w / (x * 1))\n" % (N, N), zp,
     lambda P, I: (P["w"] / (P["x"] * 1)).sum())


def main(names):
    os.makedirs(os.path.join(OUT, "programs"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "data"), exist_ok=True)
    for name in names or sorted(CASES):
        text, pvals, ivals, f, fix = CASES[name]
        with open(os.path.join(OUT, "programs", name + ".bp"), "w") as fp:
            fp.write("# generated by tests/torch/gen_edge_refs.py\n" + text)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            out = reference(f, pvals, ivals)
        if fix:
            fix(out)
        write_safetensors(os.path.join(OUT, "data", name + ".safetensors"), out)
    print("%d cases" % len(names or CASES))


if __name__ == "__main__":
    main(sys.argv[1:])
