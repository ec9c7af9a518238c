/* ops.c — the vector-Jacobian rule of every op in ops.def, written as IR.
 *
 * Each rule receives the node (a copy: the node array may grow while the rule adds),
 * its id `y` and the adjoint `g` of its output (same shape as the output), and calls
 * ad_accumulate(c, input, contribution) for each input; contributions may have a
 * broadcast shape (ad_accumulate un-broadcasts). The table at the end is generated from
 * ops.def, so an op without a rule does not compile. Ops whose derivative is zero
 * almost everywhere (step, sign, comparisons) contribute nothing. */
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

/* g reshaped to the keepdims shape of a reduction, so it broadcasts against the input. */
static int keep_shape(AdCtx *c, const Node *n, int v) {
    if (n->keepdims || n->axis == AXIS_ALL) return v;
    Shape s = G->nodes[A].shape;
    s.d[n->axis] = dim_const(1);
    return ir_reshape(G, v, &s, L);
}

static int no_rule(AdCtx *c, const Node *n) {
    diag_error(G->diag, n->loc, "cannot differentiate '%s' (its derivative is not implemented)",
               op_info[n->op].name);
    return -1;
}

/* leaves: never reached (arity 0) */
RULE(INPUT) { UNUSED_ARGS; return 0; }
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
RULE(RELU) { ad_accumulate(c, A, mul(c, g, ir_unary(G, OP_STEP, y, L), L)); return 0; }
/* y = leaky_relu(a, alpha): da = g (a > 0 ? 1 : alpha) */
RULE(LEAKY_RELU) {
    (void)y;
    ad_accumulate(c, A, mul(c, g, ir_unary_attr(G, OP_LEAKY_STEP, A, n->value, 0, L), L));
    return 0;
}
/* y = a Phi(a): da = g (Phi(a) + a phi(a)) */
RULE(GELU) { (void)y; ad_accumulate(c, A, mul(c, g, ir_unary(G, OP_GELU_GRAD, A, L), L)); return 0; }
/* y = log(1 + e^a): da = g sigmoid(a) */
RULE(SOFTPLUS) { (void)y; ad_accumulate(c, A, mul(c, g, ir_unary(G, OP_SIGMOID, A, L), L)); return 0; }
/* y = a^n: da = g n a^(n-1) */
RULE(POWI) {
    (void)y;
    int d = n->ival - 1 == 0 ? k(c, 1, L) : ir_unary_attr(G, OP_POWI, A, 0, n->ival - 1, L);
    ad_accumulate(c, A, mul(c, g, mul(c, k(c, n->ival, L), d, L), L));
    return 0;
}
/* piecewise constant: zero derivative */
RULE(SIGN) { UNUSED_ARGS; return 0; }
RULE(STEP) { UNUSED_ARGS; return 0; }
RULE(LEAKY_STEP) { UNUSED_ARGS; return 0; }
RULE(GT) { UNUSED_ARGS; return 0; }
RULE(EQ) { UNUSED_ARGS; return 0; }
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
/* y = a^b: da = g b a^(b-1), db = g y log a */
RULE(POW) {
    ad_accumulate(c, A, mul(c, g, mul(c, B, ir_binary(G, OP_POW, A, sub(c, B, k(c, 1, L), L), L), L), L));
    ad_accumulate(c, B, mul(c, g, mul(c, y, ir_unary(G, OP_LOG, A, L), L), L));
    return 0;
}
/* y = max(a, b): da = g ([a > b] + [a == b]/2), db = g - da (ties split, as PyTorch) */
RULE(MAXIMUM) {
    (void)y;
    int m = ir_binary(G, OP_ADD, ir_binary(G, OP_GT, A, B, L), mul(c, k(c, 0.5, L), ir_binary(G, OP_EQ, A, B, L), L), L);
    ad_accumulate(c, A, mul(c, g, m, L));
    ad_accumulate(c, B, mul(c, g, sub(c, k(c, 1, L), m, L), L));
    return 0;
}
/* y = min(a, b): da = g ([b > a] + [a == b]/2), db = g - da */
RULE(MINIMUM) {
    (void)y;
    int m = ir_binary(G, OP_ADD, ir_binary(G, OP_GT, B, A, L), mul(c, k(c, 0.5, L), ir_binary(G, OP_EQ, A, B, L), L), L);
    ad_accumulate(c, A, mul(c, g, m, L));
    ad_accumulate(c, B, mul(c, g, sub(c, k(c, 1, L), m, L), L));
    return 0;
}

/* y = sum(a): da = broadcast(g) */
RULE(SUM) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_broadcast(G, keep_shape(c, n, g), &s, L));
    return 0;
}
/* y = max(a): da = g [a == y] / count(a == y) (ties share, as PyTorch's amax) */
RULE(MAX) {
    int yk = keep_shape(c, n, y);
    int mask = ir_binary(G, OP_EQ, A, yk, L);
    int cnt = ir_reduce(G, OP_SUM, mask, n->axis, 1, L);
    ad_accumulate(c, A, mul(c, keep_shape(c, n, g), divi(c, mask, cnt, L), L));
    return 0;
}
/* y = logsumexp(a): da = g exp(a - y) */
RULE(LOGSUMEXP) {
    int e = ir_unary(G, OP_EXP, sub(c, A, keep_shape(c, n, y), L), L);
    ad_accumulate(c, A, mul(c, keep_shape(c, n, g), e, L));
    return 0;
}
/* y = softmax(a): da = y (g - sum(g y, axis)) */
RULE(SOFTMAX) {
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
RULE(SLICE) { (void)y; (void)g; return no_rule(c, n); }
/* y = mean -log softmax(z)[labels]: dz = g (softmax(z) - onehot) / N, fused */
RULE(CROSS_ENTROPY) { (void)y; ad_accumulate(c, A, ir_loss_op(G, OP_CE_GRAD, A, B, g, L)); return 0; }
RULE(CE_GRAD) { (void)y; (void)g; return no_rule(c, n); }
/* y = mean -logp[labels]: dlogp = -g / N at the labels */
RULE(NLL) { (void)y; ad_accumulate(c, A, ir_loss_op(G, OP_NLL_GRAD, A, B, g, L)); return 0; }
RULE(NLL_GRAD) { (void)y; (void)g; return no_rule(c, n); }


/* ---- layers ---- */
#define WIN(n) (n)->win[0], (n)->win[1], (n)->win[2], (n)->win[3]
/* y = im2col(x), a linear map: dx = im2colᵀ g = col2im(g) */
RULE(IM2COL) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_col2im(G, g, &s, WIN(n), L));
    return 0;
}
/* y = col2im(a) = im2colᵀ a: da = im2col(g) */
RULE(COL2IM) { (void)y; ad_accumulate(c, A, ir_im2col(G, g, WIN(n), L)); return 0; }
/* y[w] = max over window w of x: dx = g[w] at each window's (first) argmax, summed */
RULE(MAXPOOL2D) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_pool_grad(G, OP_MAXPOOL2D_GRAD, A, g, &s, n->win[0], n->win[2], L));
    return 0;
}
RULE(MAXPOOL2D_GRAD) { (void)y; (void)g; return no_rule(c, n); }
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
RULE(LAYERNORM_GRAD) { (void)y; (void)g; return no_rule(c, n); }
/* y[..., :] = table[ids[...], :]: dtable[v, :] = sum of g[..., :] where ids == v */
RULE(EMBEDDING) {
    (void)y;
    Shape s = G->nodes[A].shape;
    ad_accumulate(c, A, ir_embedding_grad(G, g, B, &s, L));
    return 0;
}
/* y = embedding_grad(a, ids) = (gather by ids)ᵀ a: da = embedding(g, ids) */
RULE(EMBEDDING_GRAD) { (void)y; ad_accumulate(c, A, ir_embedding(G, g, B, L)); return 0; }
/* y = x with y[..., i, j] = fill for j > i: dx = g with those entries 0 */
RULE(CAUSAL_MASK) { (void)y; ad_accumulate(c, A, ir_causal_mask(G, g, 0, L)); return 0; }
/* y = x m / (1 - p), m a fixed Bernoulli(1 - p) mask: dx = g m / (1 - p), the same mask */
RULE(DROPOUT) { (void)y; ad_accumulate(c, A, ir_dropout(G, g, n->value, n->ival, L)); return 0; }

const VjpFn op_vjp[OP_COUNT] = {
#define OP(e, name, arity, kind, cfun) [OP_##e] = vjp_##e,
#include "ops.def"
#undef OP
};
