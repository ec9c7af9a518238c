/* ops.c — the vector-Jacobian rule of every op in ops.def, written as IR.
 *
 * Each rule receives the node (a copy: the node array may grow while the rule adds),
 * its id `y` and the adjoint `g` of its output (same shape as the output), and calls
 * ad_accumulate(c, input, contribution) for each input; contributions may have a
 * broadcast shape (ad_accumulate un-broadcasts). The table at the end is generated from
 * ops.def, so an op without a rule does not compile. Ops whose derivative is zero
 * almost everywhere (step, sign, comparisons) contribute nothing.
 *
 * The ops that only reverse mode creates (gelu_grad, ce_grad, nll_grad, slice,
 * maxpool2d_grad, layernorm_grad, the bilinear conv2d_grad_x and conv2d_grad_w, and the
 * linear adjoints avgpool2d_grad, embedding_grad) have rules too: ad_hvp differentiates the gradient graph again, and
 * reaches them there. */
#include <math.h>

#include "autodiff.h"

#define G (c->g)
#define L (n->loc)
#define A (n->in[0])
#define B (n->in[1])
#define RULE(op) static int vjp_##op(AdCtx *c, int y, const Node *n, int g)
#define UNUSED_ARGS (void)c, (void)y, (void)n, (void)g

static int k(AdCtx *c, double v, Loc loc) { return ir_const(c->g, v, loc); }
static int mul(AdCtx *c, int a, int b, Loc loc) { return ir_binary(c->g, OP_MUL, a, b, loc); }
static int sub(AdCtx *c, int a, int b, Loc loc) { return ir_binary(c->g, OP_SUB, a, b, loc); }
static int divi(AdCtx *c, int a, int b, Loc loc) { return ir_binary(c->g, OP_DIV, a, b, loc); }
/* g through the mask m (relu's, maximum's, max's): 0 where m is 0 even where g is infinite or
 * NaN, as PyTorch's where / masked_fill (g m would make inf 0 = NaN: the gradient of
 * sqrt(relu(p)) at p = -1 is 0, not NaN) */
static int masked(AdCtx *c, int g, int m, Loc loc) { return ir_binary(c->g, OP_MASK_MUL, g, m, loc); }

/* g reshaped to the keepdims shape of a reduction, so it broadcasts against the input. */
static int keep_shape(AdCtx *c, const Node *n, int v) {
    if (n->keepdims || n->axis == AXIS_ALL) return v;
    Shape s = G->nodes[A].shape;
    s.d[n->axis] = dim_const(1);
    return ir_reshape(G, v, &s, L);
}

static int no_rule(AdCtx *c, const Node *n) {
    if (c->order == 2) diag_error(G->diag, n->loc, "hvp: op '%s' has no second-order rule", op_info[n->op].name);
    else diag_error(G->diag, n->loc, "cannot differentiate '%s' (its derivative is not implemented)", op_info[n->op].name);
    return -1;
}

/* The number of rows of a [..., C] tensor (the leading dims' product) as a scalar node. */
static int rows(AdCtx *c, const Shape *s, Loc loc) {
    int r = k(c, 1, loc);
    for (int i = 0; i + 1 < s->rank; i++) r = mul(c, r, ir_dimval(G, s->d[i], loc), loc);
    return r;
}

/* The mean of v along the last axis, kept as size 1 so that it broadcasts back. */
static int row_mean(AdCtx *c, int v, Loc loc) {
    const Shape *s = &G->nodes[v].shape;
    Dim d = s->d[s->rank - 1];
    return divi(c, ir_reduce(G, OP_SUM, v, -1, 1, loc), ir_dimval(G, d, loc), loc);
}

/* leaves: never reached (arity 0) */
RULE(INPUT) { UNUSED_ARGS; return 0; }
RULE(VECTOR) { UNUSED_ARGS; return 0; }
RULE(PARAM) { UNUSED_ARGS; return 0; }
RULE(CONST) { UNUSED_ARGS; return 0; }
RULE(DIMVAL) { UNUSED_ARGS; return 0; }

/* y = -a: da = -g */
RULE(NEG) { (void)y; ad_accumulate(c, A, ir_unary(G, OP_NEG, g, L)); return 0; }
/* y = exp a: da = g y */
RULE(EXP) { ad_accumulate(c, A, mul(c, g, y, L)); return 0; }
/* y = log a: da = g / a */
RULE(LOG) { (void)y; ad_accumulate(c, A, divi(c, g, A, L)); return 0; }
/* y = sqrt a: da = g / (2 y) */
RULE(SQRT) { ad_accumulate(c, A, divi(c, g, mul(c, k(c, 2, L), y, L), L)); return 0; }
/* y = |a|: da = g sign(a) */
RULE(ABS) { (void)y; ad_accumulate(c, A, mul(c, g, ir_unary(G, OP_SIGN, A, L), L)); return 0; }
/* y = sin a: da = g cos a */
RULE(SIN) { (void)y; ad_accumulate(c, A, mul(c, g, ir_unary(G, OP_COS, A, L), L)); return 0; }
/* y = cos a: da = -g sin a */
RULE(COS) {
    (void)y;
    ad_accumulate(c, A, ir_unary(G, OP_NEG, mul(c, g, ir_unary(G, OP_SIN, A, L), L), L));
    return 0;
}
/* y = tanh a: da = g (1 - y^2) */
RULE(TANH) {
    ad_accumulate(c, A, mul(c, g, sub(c, k(c, 1, L), ir_unary_attr(G, OP_POWI, y, 0, 2, L), L), L));
    return 0;
}
/* y = sigmoid a: da = g y (1 - y) */
RULE(SIGMOID) { ad_accumulate(c, A, mul(c, g, mul(c, y, sub(c, k(c, 1, L), y, L), L), L)); return 0; }
/* y = relu a: da = g [a > 0] = g [y > 0] (reading y lets a fuse into the relu) */
RULE(RELU) { ad_accumulate(c, A, masked(c, g, ir_unary(G, OP_STEP, y, L), L)); return 0; }
/* y = leaky_relu(a, alpha): da = g (a > 0 ? 1 : alpha) (a mask where alpha = 0, as relu's) */
RULE(LEAKY_RELU) {
    (void)y;
    int m = ir_unary_attr(G, OP_LEAKY_STEP, A, n->value, 0, L);
    ad_accumulate(c, A, n->value == 0 ? masked(c, g, m, L) : mul(c, g, m, L));
    return 0;
}
/* y = a Phi(a): da = g (Phi(a) + a phi(a)) */
RULE(GELU) { (void)y; ad_accumulate(c, A, mul(c, g, ir_unary(G, OP_GELU_GRAD, A, L), L)); return 0; }
/* y = log(1 + e^a): da = g sigmoid(a) */
RULE(SOFTPLUS) { (void)y; ad_accumulate(c, A, mul(c, g, ir_unary(G, OP_SIGMOID, A, L), L)); return 0; }
/* y = a^n: da = g n a^(n-1); for n = 0 (kept by -O0, folded to 1 otherwise) none, as
 * PyTorch's zeros: 0 * a^-1 would be NaN at a = 0 */
RULE(POWI) {
    (void)y;
    if (n->ival == 0) return 0;
    int d = n->ival - 1 == 0 ? k(c, 1, L) : ir_unary_attr(G, OP_POWI, A, 0, n->ival - 1, L);
    ad_accumulate(c, A, mul(c, g, mul(c, k(c, n->ival, L), d, L), L));
    return 0;
}
/* piecewise constant: zero derivative almost everywhere (step is relu's mask, so relu's
 * second derivative is 0 away from 0, as PyTorch's; sign is abs's; leaky_step leaky_relu's) */
RULE(SIGN) { UNUSED_ARGS; return 0; }
RULE(STEP) { UNUSED_ARGS; return 0; }
RULE(LEAKY_STEP) { UNUSED_ARGS; return 0; }
RULE(GT) { UNUSED_ARGS; return 0; }
RULE(EQ) { UNUSED_ARGS; return 0; }
/* y = mask_mul(a, m) = a m where m != 0, else 0: da = mask_mul(g, m); dm = g a (m is a
 * mask of comparisons in every use, whose own derivative is 0) */
RULE(MASK_MUL) {
    (void)y;
    ad_accumulate(c, A, masked(c, g, B, L));
    ad_accumulate(c, B, mul(c, g, A, L));
    return 0;
}
/* y = Phi(a) + a phi(a): da = g phi(a) (2 - a^2) */
RULE(GELU_GRAD) {
    (void)y;
    int phi = mul(c, k(c, 0.3989422804014327, L),
                  ir_unary(G, OP_EXP, mul(c, k(c, -0.5, L), ir_unary_attr(G, OP_POWI, A, 0, 2, L), L), L), L);
    ad_accumulate(c, A, mul(c, g, mul(c, phi, sub(c, k(c, 2, L), ir_unary_attr(G, OP_POWI, A, 0, 2, L), L), L), L));
    return 0;
}

/* y = a + b: da = g, db = g */
RULE(ADD) { (void)y; ad_accumulate(c, A, g); ad_accumulate(c, B, g); return 0; }
/* y = a - b: da = g, db = -g */
RULE(SUB) { (void)y; ad_accumulate(c, A, g); ad_accumulate(c, B, ir_unary(G, OP_NEG, g, L)); return 0; }
/* y = a b: da = g b, db = g a */
RULE(MUL) { (void)y; ad_accumulate(c, A, mul(c, g, B, L)); ad_accumulate(c, B, mul(c, g, A, L)); return 0; }
/* y = a / b: da = g / b, db = -g y / b */
RULE(DIV) {
    ad_accumulate(c, A, divi(c, g, B, L));
    ad_accumulate(c, B, ir_unary(G, OP_NEG, divi(c, mul(c, g, y, L), B, L), L));
    return 0;
}
/* y = a^b: da = g b a^(b-1), db = g y log a, with PyTorch's values where a = 0: da = 0
 * where b = 0 (b a^(b-1) would be 0 inf; 0 for an infinite g too, not inf 0), and db = 0
 * where b >= 0 (y log a would be 0 (-inf) or 1 (-inf): 0^b is 0 for every b > 0, so x^p
 * with zeros in x and a learned p had a NaN gradient for p). Written without a select:
 * a^(b - 1 + [b = 0]) is a^0 = 1 where b = 0, and log(a + [a = 0] [2 > |y|]) is log 1 = 0
 * where a = 0 and y is 0^b = +-0 or 1 (b >= 0; y = +-inf for b < 0 keeps y log 0 = +-inf
 * (-inf), as PyTorch: with y rather than |y|, (-0)^-1 = -inf passed the test and db was
 * -inf 0 = NaN; NaN stays NaN). A constant exponent p (x^1.5) has da = g p a^(p-1) alone,
 * a^(p-1) as PyTorch's pow by a scalar computes it (ir_pow_scalar: 1.5 sqrt(a), NaN at
 * a = -inf as there, not inf), and none for p = 0 (a bound constant, `c = 0`, `x ^ c`). */
RULE(POW) {
    const Node *bn = &G->nodes[B];
    if (bn->op == OP_BROADCAST) bn = &G->nodes[bn->in[0]];
    if (bn->op == OP_CONST) {
        if (bn->value == 0) return 0; /* a^0 = 1: none, as PyTorch's zeros (not g 0, NaN for g = inf) */
        double e = bn->value - 1;
        ad_accumulate(c, A, mul(c, g, mul(c, B, ir_pow_scalar(G, A, e, L), L), L));
        return 0;
    }
    int b0 = ir_binary(G, OP_EQ, B, k(c, 0, L), L);
    int e = ir_binary(G, OP_ADD, sub(c, B, k(c, 1, L), L), b0, L);
    /* through the mask 1 - [b = 0]: 0 where b = 0 even for an infinite g (g 0 = NaN), as
       PyTorch's where(b == 0, 0, ...); elsewhere the same bits (x 1) */
    ad_accumulate(c, A, masked(c, mul(c, g, mul(c, B, ir_binary(G, OP_POW, A, e, L), L), L), sub(c, k(c, 1, L), b0, L), L));
    int zero_a = mul(c, ir_binary(G, OP_EQ, A, k(c, 0, L), L), ir_binary(G, OP_GT, k(c, 2, L), ir_unary(G, OP_ABS, y, L), L), L);
    int la = ir_unary(G, OP_LOG, ir_binary(G, OP_ADD, A, zero_a, L), L);
    ad_accumulate(c, B, mul(c, g, mul(c, y, la, L), L));
    return 0;
}
/* y = max(a, b): da = g (1 - [b > a] - [a == b]/2), db = g (1 - [a > b] - [a == b]/2), as
 * PyTorch's where(a == b, g/2, g).masked_fill(a < b, 0): ties split, and where a or b is
 * NaN (y is NaN) both sides get g. Each through its mask, so the side not taken gets 0 even
 * for g = inf. */
static int minmax_rule(AdCtx *c, const Node *n, int g, int a_wins_if_greater) {
    int half_tie = mul(c, k(c, 0.5, L), ir_binary(G, OP_EQ, A, B, L), L);
    int a_loses = a_wins_if_greater ? ir_binary(G, OP_GT, B, A, L) : ir_binary(G, OP_GT, A, B, L);
    int b_loses = a_wins_if_greater ? ir_binary(G, OP_GT, A, B, L) : ir_binary(G, OP_GT, B, A, L);
    ad_accumulate(c, A, masked(c, g, sub(c, sub(c, k(c, 1, L), a_loses, L), half_tie, L), L));
    ad_accumulate(c, B, masked(c, g, sub(c, sub(c, k(c, 1, L), b_loses, L), half_tie, L), L));
    return 0;
}
RULE(MAXIMUM) { (void)y; return minmax_rule(c, n, g, 1); }
/* y = min(a, b): da = g (1 - [a > b] - [a == b]/2), db = g (1 - [b > a] - [a == b]/2) */
RULE(MINIMUM) { (void)y; return minmax_rule(c, n, g, 0); }
/* y = bce(p, t) = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)):
 *   dp = g (p - t) / max(p (1 - p), eps), PyTorch's gradient (eps its float 1e-12): where
 *        p (1 - p) > eps the exact -(t / p - (1 - t) / (1 - p)), finite at p = 0 and 1;
 *   dt = g (bce(p, 1) - bce(p, 0)) = g (max(log(1 - p), -100) - max(log p, -100)), the
 *        derivative of the clamped loss (PyTorch's -g logit(p) is infinite at p = 0 and 1).
 * Neither forms 0 * inf, and neither does their own derivative (reached by hvp): maximum's
 * mask and this rule again, for bce(p, 1) - bce(p, 0), whose dp is -1 / max(p (1 - p), eps),
 * the same as d(dp)/dt, so H stays symmetric. */
RULE(BCE) {
    (void)y;
    int p = A, t = B;
    int den = ir_binary(G, OP_MAXIMUM, mul(c, sub(c, k(c, 1, L), p, L), p, L), k(c, (double)1e-12f, L), L);
    ad_accumulate(c, p, divi(c, mul(c, g, sub(c, p, t, L), L), den, L));
    int dt = sub(c, ir_binary(G, OP_BCE, p, k(c, 1, L), L), ir_binary(G, OP_BCE, p, k(c, 0, L), L), L);
    ad_accumulate(c, t, mul(c, g, dt, L));
    return 0;
}
/* y = bce_logits(z, t) = (1 - t) z + log(1 + e^-z): dz = g (sigmoid(z) - t), dt = -g z
 * (PyTorch's; sigmoid(z) - t has no cancellation where the loss's two terms would) */
RULE(BCE_LOGITS) {
    (void)y;
    ad_accumulate(c, A, mul(c, g, sub(c, ir_unary(G, OP_SIGMOID, A, L), B, L), L));
    ad_accumulate(c, B, ir_unary(G, OP_NEG, mul(c, g, A, L), L));
    return 0;
}

/* y = sum(a): da = broadcast(g) */
RULE(SUM) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_broadcast(G, keep_shape(c, n, g), &s, L));
    return 0;
}
/* y = max(a): da = g [a == y] / count(a == y) (ties share, as PyTorch's amax; through the
 * mask, so the other entries get 0 even for g = inf, as torch.max's) */
RULE(MAX) {
    int yk = keep_shape(c, n, y);
    int mask = ir_binary(G, OP_EQ, A, yk, L);
    int cnt = ir_reduce(G, OP_SUM, mask, n->axis, 1, L);
    ad_accumulate(c, A, masked(c, keep_shape(c, n, g), divi(c, mask, cnt, L), L));
    return 0;
}
/* y = logsumexp(a): da = g exp(a - y) */
RULE(LOGSUMEXP) {
    int e = ir_unary(G, OP_EXP, sub(c, A, keep_shape(c, n, y), L), L);
    ad_accumulate(c, A, mul(c, keep_shape(c, n, g), e, L));
    return 0;
}
/* y = softmax(a): da = y (g - sum(g y, axis)); along the last axis one fused kernel
 * (softmax_grad), which reads y and g once instead of three passes */
RULE(SOFTMAX) {
    if (n->axis == n->shape.rank - 1) {
        ad_accumulate(c, A, ir_softmax_grad(G, y, g, L));
        return 0;
    }
    int s = ir_reduce(G, OP_SUM, mul(c, g, y, L), n->axis, 1, L);
    ad_accumulate(c, A, mul(c, y, sub(c, g, s, L), L));
    return 0;
}
/* y = log_softmax(a): da = g - exp(y) sum(g, axis) */
RULE(LOG_SOFTMAX) {
    int s = ir_reduce(G, OP_SUM, g, n->axis, 1, L);
    ad_accumulate(c, A, sub(c, g, mul(c, ir_unary(G, OP_EXP, y, L), s, L), L));
    return 0;
}

/* y = op(a) @ op(b): d op(a) = g @ op(b)^T, d op(b) = op(a)^T @ g, each stored the way
 * its operand is (a transposed operand gets the transposed product), batch dims summed. */
RULE(MATMUL) {
    (void)y;
    int da = n->ta ? ir_matmul(G, B, g, n->tb, 1, L) : ir_matmul(G, g, B, 0, !n->tb, L);
    int db = n->tb ? ir_matmul(G, g, A, 1, n->ta, L) : ir_matmul(G, A, g, !n->ta, 0, L);
    ad_accumulate(c, A, da);
    ad_accumulate(c, B, db);
    return 0;
}
/* y = a^T: da = g^T */
RULE(TRANSPOSE) { (void)y; ad_accumulate(c, A, ir_transpose(G, g, L)); return 0; }
/* y = reshape(a): da = reshape(g, shape(a)) */
RULE(RESHAPE) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_reshape(G, g, &s, L));
    return 0;
}
/* y = broadcast(a): da = sum of g over the broadcast axes (ad_accumulate does it) */
RULE(BROADCAST) { (void)y; ad_accumulate(c, A, g); return 0; }
/* y = concat(a, b): da, db = the two slices of g */
RULE(CONCAT) {
    (void)y;
    Dim la = G->nodes[A].shape.d[n->axis], lb = G->nodes[B].shape.d[n->axis];
    ad_accumulate(c, A, ir_slice(G, g, n->axis, dim_const(0), la, L));
    ad_accumulate(c, B, ir_slice(G, g, n->axis, la, lb, L));
    return 0;
}
/* y = a[start : start+len] along axis: da = g in that place, zeros before and after */
RULE(SLICE) {
    (void)y;
    Shape s = G->nodes[A].shape;
    Dim full = s.d[n->axis], st = n->start, len = n->shape.d[n->axis];
    if ((st.c && st.sym != full.sym) || (len.c && len.sym != full.sym)) return no_rule(c, n);
    Dim after = {full.c - st.c - len.c, full.sym};
    int v = g;
    if (st.c) {
        s.d[n->axis] = st;
        v = ir_concat(G, ir_broadcast(G, k(c, 0, L), &s, L), v, n->axis, L);
    }
    if (after.c) {
        s.d[n->axis] = after;
        v = ir_concat(G, v, ir_broadcast(G, k(c, 0, L), &s, L), n->axis, L);
    }
    ad_accumulate(c, A, v);
    return 0;
}
/* y = mean -log softmax(z)[labels]: dz = g (softmax(z) - onehot) / N, fused */
RULE(CROSS_ENTROPY) { (void)y; ad_accumulate(c, A, ir_loss_op(G, OP_CE_GRAD, A, B, g, L)); return 0; }
/* y = ce_grad(z, labels, s) = s (p - onehot) / N, p = softmax(z), N rows; with g the
 * adjoint of y: ds = sum(g p) / N - sum_r g[r, label_r] / N = sum(g p) / N + nll(g, labels),
 * dz = (s / N) softmax_grad(p, g) (softmax's vjp along the last axis) */
RULE(CE_GRAD) {
    (void)y;
    int z = A, s = n->in[2];
    int p = ir_axis_op(G, OP_SOFTMAX, z, -1, L), nr = rows(c, &G->nodes[z].shape, L);
    int gp = mul(c, g, p, L);
    ad_accumulate(c, s, ir_binary(G, OP_ADD, divi(c, ir_reduce(G, OP_SUM, gp, AXIS_ALL, 0, L), nr, L),
                                  ir_loss_op(G, OP_NLL, g, B, -1, L), L));
    ad_accumulate(c, z, mul(c, divi(c, s, nr, L), ir_softmax_grad(G, p, g, L), L));
    return 0;
}
/* y = mean -logp[labels]: dlogp = -g / N at the labels */
RULE(NLL) { (void)y; ad_accumulate(c, A, ir_loss_op(G, OP_NLL_GRAD, A, B, g, L)); return 0; }
/* y = nll_grad(logp, labels, s) = -s / N at the labels, linear in s and independent of
 * logp: ds = -sum_r g[r, label_r] / N = nll(g, labels), dlogp = 0 */
RULE(NLL_GRAD) {
    (void)y;
    ad_accumulate(c, n->in[2], ir_loss_op(G, OP_NLL, g, B, -1, L));
    return 0;
}


/* ---- layers ---- */
#define WIN(n) (n)->win[0], (n)->win[1], (n)->win[2], (n)->win[3]
/* y = conv2d(x, w), bilinear: dx = conv2d_grad_x(g, w), dw = conv2d_grad_w(x, g) */
RULE(CONV2D) {
    (void)y;
    Shape xs = G->nodes[A].shape, ws = G->nodes[B].shape;
    int win[4] = {WIN(n)};
    ad_accumulate(c, A, ir_conv2d_grad(G, OP_CONV2D_GRAD_X, g, B, &xs, win, L));
    ad_accumulate(c, B, ir_conv2d_grad(G, OP_CONV2D_GRAD_W, A, g, &ws, win, L));
    return 0;
}
/* y = conv2d_grad_x(gy, w), defined by <a, y> = <conv2d(a, w), gy> for every a:
 * dgy = conv2d(g, w), dw = conv2d_grad_w(g, gy) */
RULE(CONV2D_GRAD_X) {
    (void)y;
    Shape ws = G->nodes[B].shape;
    int win[4] = {WIN(n)};
    ad_accumulate(c, A, ir_conv2d(G, g, B, n->win[2], n->win[3], L));
    ad_accumulate(c, B, ir_conv2d_grad(G, OP_CONV2D_GRAD_W, g, A, &ws, win, L));
    return 0;
}
/* y = conv2d_grad_w(x, gy), defined by <a, y> = <conv2d(x, a), gy> for every a:
 * dx = conv2d_grad_x(gy, g), dgy = conv2d(x, g) */
RULE(CONV2D_GRAD_W) {
    (void)y;
    Shape xs = G->nodes[A].shape;
    int win[4] = {WIN(n)};
    ad_accumulate(c, A, ir_conv2d_grad(G, OP_CONV2D_GRAD_X, B, g, &xs, win, L));
    ad_accumulate(c, B, ir_conv2d(G, A, g, n->win[2], n->win[3], L));
    return 0;
}
/* y[w] = max over window w of x: dx = g[w] at each window's (first) argmax, summed */
RULE(MAXPOOL2D) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_pool_grad(G, OP_MAXPOOL2D_GRAD, A, g, &s, n->win[0], n->win[2], L));
    return 0;
}
/* y = maxpool2d_grad(x, gy): gy[w] routed to window w's (first) argmax. Linear in gy, and
 * piecewise constant in x (the argmax moves only at ties: zero derivative almost everywhere),
 * so dx = 0 and dgy[w] = g at window w's argmax. With windows that do not overlap
 * (stride >= k) that is the window sum of g masked by M = maxpool2d_grad(x, 1) (one 1 per
 * window): dgy = k² avgpool2d(g M). Overlapping windows share mask entries: no rule. */
RULE(MAXPOOL2D_GRAD) {
    (void)y;
    int kk = n->win[0], stride = n->win[2];
    if (stride < kk) {
        diag_error(G->diag, L, "hvp: op 'maxpool2d_grad' has no second-order rule for overlapping windows "
                               "(stride %d < window %d)", stride, kk);
        return -1;
    }
    Shape ps = G->nodes[B].shape, xs = G->nodes[A].shape;
    int mask = ir_pool_grad(G, OP_MAXPOOL2D_GRAD, A, ir_broadcast(G, k(c, 1, L), &ps, L), &xs, kk, stride, L);
    int win = ir_pool(G, OP_AVGPOOL2D, mul(c, g, mask, L), kk, stride, L);
    ad_accumulate(c, B, mul(c, k(c, (double)kk * kk, L), win, L));
    return 0;
}
/* y[w] = mean over window w of x: dx = g[w] / k² spread over each window */
RULE(AVGPOOL2D) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_pool_grad(G, OP_AVGPOOL2D_GRAD, -1, g, &s, n->win[0], n->win[2], L));
    return 0;
}
/* y = avgpool2d_grad(a) = avgpool2dᵀ a: da = avgpool2d(g) */
RULE(AVGPOOL2D_GRAD) { (void)y; ad_accumulate(c, A, ir_pool(G, OP_AVGPOOL2D, g, n->win[0], n->win[2], L)); return 0; }
/* y = (x - mean x) r, r = 1/sqrt(var x + eps), per row of the last axis (D elements):
 * dx = r (g - mean(g) - y mean(g y)), one fused kernel */
RULE(LAYERNORM) { (void)y; ad_accumulate(c, A, ir_layernorm_grad(G, A, g, n->value, L)); return 0; }
/* y = layernorm_grad(x, u) = r (u - mean u - z mean(u z)) per row, z = layernorm(x),
 * r = 1/sqrt(var x + eps). The map u -> y is symmetric (r (I - 11ᵀ/D - z zᵀ/D)), so
 * du = layernorm_grad(x, g). Differentiating <g, y> in x (d r/dx = -r³ (x - mean x)/D,
 * d<g, x - mean x>/dx = g - mean g):
 * dx = r² (-z (mean(g u) - mean g mean u) + 3 z mean(g z) mean(u z)
 *          - (g - mean g) mean(u z) - (u - mean u) mean(g z)) */
RULE(LAYERNORM_GRAD) {
    (void)y;
    int x = A, u = B;
    ad_accumulate(c, u, ir_layernorm_grad(G, x, g, n->value, L));
    int z = ir_layernorm(G, x, n->value, L);
    int xc = sub(c, x, row_mean(c, x, L), L);
    int r2 = divi(c, k(c, 1, L), ir_binary(G, OP_ADD, row_mean(c, mul(c, xc, xc, L), L), k(c, n->value, L), L), L);
    int mg = row_mean(c, g, L), mu = row_mean(c, u, L);
    int mgz = row_mean(c, mul(c, g, z, L), L), muz = row_mean(c, mul(c, u, z, L), L);
    int cov = sub(c, row_mean(c, mul(c, g, u, L), L), mul(c, mg, mu, L), L);
    int t = sub(c, mul(c, z, sub(c, mul(c, k(c, 3, L), mul(c, mgz, muz, L), L), cov, L), L),
                ir_binary(G, OP_ADD, mul(c, sub(c, g, mg, L), muz, L), mul(c, sub(c, u, mu, L), mgz, L), L), L);
    ad_accumulate(c, x, mul(c, r2, t, L));
    return 0;
}
/* y = softmax_grad(p, u) = p (u - s) per row, s = sum(u p). The map u -> y is symmetric
 * (diag(p) - p pᵀ), so du = softmax_grad(p, g); in p, d y_i / d p_k = [i = k] (u_i - s) - p_i u_k:
 * dp = g (u - s) - u sum(g p) */
RULE(SOFTMAX_GRAD) {
    (void)y;
    int p = A, u = B, ax = G->nodes[A].shape.rank - 1;
    ad_accumulate(c, u, ir_softmax_grad(G, p, g, L));
    int s = ir_reduce(G, OP_SUM, mul(c, u, p, L), ax, 1, L), t = ir_reduce(G, OP_SUM, mul(c, g, p, L), ax, 1, L);
    ad_accumulate(c, p, sub(c, mul(c, g, sub(c, u, s, L), L), mul(c, u, t, L), L));
    return 0;
}
/* y[..., :] = table[ids[...], :]: dtable[v, :] = sum of g[..., :] where ids == v */
RULE(EMBEDDING) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_embedding_grad(G, g, B, &s, L));
    return 0;
}
/* y = embedding_grad(a, ids) = (gather by ids)ᵀ a: da = embedding(g, ids) */
RULE(EMBEDDING_GRAD) { (void)y; ad_accumulate(c, A, ir_embedding(G, g, B, L)); return 0; }
/* y = x with y[..., i, j] = fill for j > i: dx = g with those entries 0. Where the only
 * adjoint is softmax's (g = softmax_grad(softmax(y), u) along the rows) and fill is -inf,
 * those entries of g are already 0 (p (u - s) with p = 0: each row keeps its diagonal, so
 * its softmax is finite unless x is not) and g is dx as it is: attention's mask costs no
 * pass in the backward */
RULE(CAUSAL_MASK) {
    const Node *gn = &G->nodes[g];
    if (gn->op == OP_SOFTMAX_GRAD && ir_masks_future(n)) {
        const Node *p = &G->nodes[gn->in[0]];
        if (p->op == OP_SOFTMAX && p->in[0] == y && p->axis == p->shape.rank - 1) {
            ad_accumulate(c, A, g);
            return 0;
        }
    }
    ad_accumulate(c, A, ir_causal_mask(G, g, 0, L));
    return 0;
}
/* y = x m / (1 - p), m a fixed Bernoulli(1 - p) mask: dx = g m / (1 - p), the same mask */
RULE(DROPOUT) { (void)y; ad_accumulate(c, A, ir_dropout(G, g, n->value, n->ival, L)); return 0; }

const VjpFn op_vjp[OP_COUNT] = {
#define OP(e, name, arity, kind, cfun) [OP_##e] = vjp_##e,
#include "ops.def"
#undef OP
};
