/* pass_fold.c — constant folding and algebraic simplification.
 *
 * Runs inside the builder (Graph.fold). Rules (each keeps the node's shape and dtype):
 *   const op const -> const;  x+0, 0+x, x-0, x*1, 1*x, x/1, x^1 -> x;  0-x -> -x;
 *   x*0, 0*x, 0/x -> zeros (x+0, 0-x and these: reverse mode's nodes only, see below);
 *   -(-x) -> x;  x*(-1) -> -x;  x+(-y) -> x-y;  x^0 -> ones;
 *   mask_mul(x, 0), mask_mul(0, m) -> zeros;  mask_mul(x, c) -> x*c for another constant c;
 *   reshape/broadcast to the same shape -> x;  reshape(reshape(x)) -> reshape(x);
 *   reshape of a constant -> broadcast of it;
 *   transpose(transpose(x)) -> x;  matmul(transpose(a), b) -> matmul with a transposed
 *   operand flag (the GEMM reads it transposed; no copy);
 *   nll(log_softmax(z), y) -> cross_entropy(z, y)  (softmax and cross-entropy fused);
 *   sum(broadcast(c)) over everything -> c * count.
 * Zeros of a non-scalar shape are broadcast(const 0). Folding uses IEEE double, and
 * fold_eval computes each op as the generated code's bp_ function does (a NaN, an infinity
 * and the sign of a zero come out the same: relu(NaN) and maximum(NaN, 0) are NaN).
 * Elementwise ops of constants (a scalar, or a broadcast of one) fold exactly, so
 * (0/0) * 0 is NaN. With an operand that is not a constant, the program's own (forward)
 * nodes get only the identities IEEE arithmetic keeps for every value, as gcc without
 * -ffast-math and XLA do: x*1, 1*x, x/1, x-(+0), x+(-0), x*(-1), x^1, and x^0 (1 even for
 * NaN, as pow and PyTorch). The others hold for some values only: x*0 -> 0 (NaN for x inf
 * or NaN), 0/x -> 0 (NaN for x 0 or NaN), x+0 -> x (+0 for x = -0), 0-x -> -x (-0 for
 * x = +0). They are applied to reverse mode's nodes alone, where a zero is a gradient that
 * does not exist (a symbolic zero; PyTorch and JAX make no NaN from one either). The rules
 * that make such a zero (fold_symbolic_zero: a product, quotient, sum, shape move, matrix
 * product or layer gradient linear in a zero) apply with folding off too (-O0): the builder
 * calls them for reverse mode's nodes at every level, so that -O0 and -O2 agree. README.md,
 * "constants fold", says this for users. */
#include <math.h>

#include "passes.h"

/* bce's clamp of a logarithm (a NaN stays NaN, as in the generated bp_bce) */
static double log_at_least_m100(double v) { return v < -100 ? -100 : v; }

double fold_eval(Op op, double a, double b, const Node *p) {
    switch (op) {
    case OP_NEG: return -a;
    case OP_EXP: return exp(a);
    case OP_LOG: return log(a);
    case OP_SQRT: return sqrt(a);
    case OP_ABS: return fabs(a);
    case OP_SIN: return sin(a);
    case OP_COS: return cos(a);
    case OP_TANH: return tanh(a);
    case OP_SIGMOID: return a >= 0 ? 1 / (1 + exp(-a)) : exp(a) / (1 + exp(a));
    case OP_RELU: return !(a <= 0) ? a : 0; /* NaN stays NaN, as bp_relu */
    case OP_LEAKY_RELU: return a > 0 ? a : p->value * a;
    case OP_GELU: return 0.5 * a * (1 + erf(a * 0.70710678118654752440));
    case OP_SOFTPLUS: return (a > 0 ? a : 0) + log1p(exp(-fabs(a)));
    case OP_POWI: {
        double r = 1, x = a;
        int n = p->ival < 0 ? -p->ival : p->ival;
        while (n) {
            if (n & 1) r *= x;
            x *= x;
            n >>= 1;
        }
        return p->ival < 0 ? 1 / r : r;
    }
    case OP_SIGN: return a != a ? a : (a > 0) - (a < 0); /* NaN stays NaN, as torch.sign */
    case OP_STEP: return a > 0;
    case OP_LEAKY_STEP: return a > 0 ? 1 : p->value;
    case OP_GELU_GRAD: return 0.5 * (1 + erf(a * 0.70710678118654752440)) + a * exp(-0.5 * a * a) * 0.3989422804014327;
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_POW: return pow(a, b);
    case OP_MAXIMUM: return a > b || a != a ? a : b; /* a NaN either side wins, as bp_maximum */
    case OP_MINIMUM: return a < b || a != a ? a : b;
    case OP_GT: return a > b;
    case OP_EQ: return a == b;
    case OP_MASK_MUL: return b != 0 ? a * b : 0;
    case OP_BCE: return (b - 1) * log_at_least_m100(log(1 - a)) - b * log_at_least_m100(log(a));
    case OP_BCE_LOGITS: { /* as bp_bce_logits */
        double l = log1p(exp(-fabs(a)));
        return a >= 0 ? (1 - b) * a + l : (a - a) - b * a + l;
    }
    default: BP_ASSERT(!"fold_eval: not elementwise"); return 0;
    }
}

/* The value of a constant or a broadcast of one in *v: 1; else 0. */
static int const_of(Graph *g, int id, double *v) {
    const Node *n = &g->nodes[id];
    if (n->op == OP_BROADCAST) n = &g->nodes[n->in[0]];
    if (n->op != OP_CONST) return 0;
    *v = n->value;
    return 1;
}

static int is_const(Graph *g, int id, double v) {
    const Node *n = &g->nodes[id];
    if (n->op == OP_BROADCAST) n = &g->nodes[n->in[0]];
    return n->op == OP_CONST && n->value == v;
}

static int same_shape(Graph *g, int id, const Node *p) {
    return shape_eq(&g->nodes[id].shape, &p->shape) && g->nodes[id].dtype == p->dtype;
}

static int zeros(Graph *g, const Node *p) {
    int z = ir_const(g, 0, p->loc);
    if (p->shape.rank == 0) return z;
    return ir_broadcast(g, z, &p->shape, p->loc);
}

/* 1 if id is the constant -0 (or a broadcast of it): x + (-0) is x for every x, -0 too */
static int is_neg_zero(Graph *g, int id) {
    double v;
    return const_of(g, id, &v) && v == 0 && signbit(v);
}

/* reverse mode's node: zeros are symbolic; not in a `checkpoint`'s recomputation, which
   is the program's own expression again (pass_remat.c marks it adjoint) */
static int is_symbolic(const Graph *g, const Node *p) {
    return (p->adjoint || g->adjoint_mode) && p->remat != REMAT_COPY;
}

/* The value of a constant expression (elementwise ops of constants, broadcast or reshaped, as
 * -O0 leaves `(1 - 1)` in the graph) in *v, looked at `depth` nodes deep: 1; else 0. */
static int const_expr(const Graph *g, int id, double *v, int depth) {
    const Node *n = &g->nodes[id];
    if (n->op == OP_CONST) {
        *v = n->value;
        return 1;
    }
    if (depth == 0 || n->dtype != DT_REAL) return 0;
    if (n->op == OP_BROADCAST || n->op == OP_RESHAPE) return const_expr(g, n->in[0], v, depth - 1);
    OpKind kind = op_info[n->op].kind;
    if (kind != OK_UNARY && kind != OK_BINARY) return 0;
    double a[2] = {0, 0};
    for (int k = 0; k < op_info[n->op].arity; k++)
        if (!const_expr(g, n->in[k], &a[k], depth - 1)) return 0;
    *v = fold_eval(n->op, a[0], a[1], n);
    return 1;
}

/* 1 if input k of p is zero as a constant expression */
static int zero_in(Graph *g, const Node *p, int k) {
    double v;
    return const_expr(g, p->in[k], &v, 8) && v == 0;
}

int fold_symbolic_zero(Graph *g, const Node *p) {
    if (!is_symbolic(g, p)) return FOLD_NONE;
    double v = 0;
    switch (p->op) {
    /* a symbolic zero times or over anything is zero, a constant too */
    case OP_MUL: case OP_MASK_MUL: case OP_MATMUL: case OP_CONV2D:
        return zero_in(g, p, 0) || zero_in(g, p, 1) ? zeros(g, p) : FOLD_NONE;
    case OP_DIV: return zero_in(g, p, 0) ? zeros(g, p) : FOLD_NONE;
    /* linear in the gradient they carry (input 0) */
    case OP_SUM: case OP_TRANSPOSE: case OP_SLICE: case OP_AVGPOOL2D_GRAD: case OP_CONV2D_GRAD_X:
    case OP_EMBEDDING_GRAD: case OP_DROPOUT:
        return zero_in(g, p, 0) ? zeros(g, p) : FOLD_NONE;
    case OP_CAUSAL_MASK: /* the vjp's, which sets the masked entries to 0 */
        return p->value == 0 && zero_in(g, p, 0) ? zeros(g, p) : FOLD_NONE;
    /* (z, y, g): linear in g, the loss's adjoint */
    case OP_CE_GRAD: case OP_NLL_GRAD:
        return zero_in(g, p, 2) ? zeros(g, p) : FOLD_NONE;
    /* zero plus zero, as reverse mode adds up a value's gradients at -O0 (0 + 0 + ... for each
       use): the constant, its sign as the fold of constants makes it, so that a chain of them
       stays one constant */
    case OP_ADD: case OP_SUB: {
        double w = 0;
        if (!const_expr(g, p->in[0], &v, 8) || !const_expr(g, p->in[1], &w, 8) || v != 0 || w != 0) return FOLD_NONE;
        int c = ir_const(g, fold_eval(p->op, v, w, p), p->loc);
        return p->shape.rank == 0 ? c : ir_broadcast(g, c, &p->shape, p->loc);
    }
    /* (x, g) and (w, g): linear in g */
    case OP_CONV2D_GRAD_W: case OP_MAXPOOL2D_GRAD: case OP_LAYERNORM_GRAD: case OP_SOFTMAX_GRAD:
        return zero_in(g, p, 1) ? zeros(g, p) : FOLD_NONE;
    /* the constant's sign kept, as the fold of constants keeps it (-(0) is -0) */
    case OP_NEG: case OP_RESHAPE: case OP_BROADCAST: {
        if (!const_of(g, p->in[0], &v) || v != 0) return FOLD_NONE;
        if (p->op == OP_BROADCAST && g->nodes[p->in[0]].op == OP_CONST) return FOLD_NONE; /* the form made here */
        int c = ir_const(g, p->op == OP_NEG ? -v : v, p->loc);
        return p->shape.rank == 0 ? c : ir_broadcast(g, c, &p->shape, p->loc);
    }
    default: return FOLD_NONE;
    }
}

int fold_node(Graph *g, const Node *p) {
    OpKind kind = op_info[p->op].kind;
    int a = p->in[0], b = p->in[1];
    int symbolic = is_symbolic(g, p);
    /* before the fold of constants, which would make 0 * inf and 0 / 0 NaN (the gradient of
       0 * (x / 0)) */
    int z = fold_symbolic_zero(g, p);
    if (z != FOLD_NONE) return z;
    if (kind == OK_UNARY || kind == OK_BINARY) { /* constants, broadcast or not: the exact value */
        double v[2] = {0, 0};
        int allc = 1;
        for (int k = 0; k < op_info[p->op].arity; k++) allc &= const_of(g, p->in[k], &v[k]);
        if (allc && p->dtype == DT_REAL) {
            int c = ir_const(g, fold_eval(p->op, v[0], v[1], p), p->loc);
            return p->shape.rank == 0 ? c : ir_broadcast(g, c, &p->shape, p->loc);
        }
    }
    switch (p->op) {
    case OP_ADD:
        if ((symbolic || is_neg_zero(g, b)) && is_const(g, b, 0) && same_shape(g, a, p)) return a;
        if ((symbolic || is_neg_zero(g, a)) && is_const(g, a, 0) && same_shape(g, b, p)) return b;
        if (g->nodes[b].op == OP_NEG) return ir_binary(g, OP_SUB, a, g->nodes[b].in[0], p->loc);
        break;
    case OP_SUB:
        if ((symbolic || !is_neg_zero(g, b)) && is_const(g, b, 0) && same_shape(g, a, p)) return a;
        if (symbolic && is_const(g, a, 0) && same_shape(g, b, p)) return ir_unary(g, OP_NEG, b, p->loc);
        break;
    case OP_MUL:
        if (is_const(g, b, 1) && same_shape(g, a, p)) return a;
        if (is_const(g, a, 1) && same_shape(g, b, p)) return b;
        if (is_const(g, b, -1) && same_shape(g, a, p)) return ir_unary(g, OP_NEG, a, p->loc);
        if (is_const(g, a, -1) && same_shape(g, b, p)) return ir_unary(g, OP_NEG, b, p->loc);
        break;
    case OP_MASK_MUL: { /* a zero mask: 0 whatever x is; any other constant mask: a product */
        double m;
        if (is_const(g, a, 0) || is_const(g, b, 0)) return zeros(g, p);
        if (const_of(g, b, &m) && m == m) return ir_binary(g, OP_MUL, a, b, p->loc);
        break;
    }
    case OP_DIV:
        if (is_const(g, b, 1) && same_shape(g, a, p)) return a;
        break;
    case OP_POWI:
        if (p->ival == 0) { /* x^0 = 1, NaN and infinities included */
            int one = ir_const(g, 1, p->loc);
            return p->shape.rank == 0 ? one : ir_broadcast(g, one, &p->shape, p->loc);
        }
        if (p->ival == 1) return a;
        break;
    case OP_NEG:
        if (g->nodes[a].op == OP_NEG) return g->nodes[a].in[0];
        break;
    case OP_RESHAPE:
        if (shape_eq(&g->nodes[a].shape, &p->shape)) return a;
        if (g->nodes[a].op == OP_RESHAPE) return ir_reshape(g, g->nodes[a].in[0], &p->shape, p->loc);
        if (g->nodes[a].op == OP_CONST) return ir_broadcast(g, a, &p->shape, p->loc);
        if (g->nodes[a].op == OP_BROADCAST && g->nodes[g->nodes[a].in[0]].op == OP_CONST)
            return ir_broadcast(g, g->nodes[a].in[0], &p->shape, p->loc);
        break;
    case OP_BROADCAST:
        if (shape_eq(&g->nodes[a].shape, &p->shape)) return a;
        break;
    case OP_TRANSPOSE:
        if (g->nodes[a].op == OP_TRANSPOSE) return g->nodes[a].in[0];
        break;
    case OP_MATMUL:
        if (p->bsum) break; /* pass_msum.c's form: the builder does not make it */
        if (g->nodes[a].op == OP_TRANSPOSE)
            return ir_matmul(g, g->nodes[a].in[0], b, !p->ta, p->tb, p->loc);
        if (g->nodes[b].op == OP_TRANSPOSE)
            return ir_matmul(g, a, g->nodes[b].in[0], p->ta, !p->tb, p->loc);
        break;
    case OP_NLL: {
        const Node *ls = &g->nodes[a];
        if (ls->op == OP_LOG_SOFTMAX && ls->axis == ls->shape.rank - 1)
            return ir_loss_op(g, OP_CROSS_ENTROPY, ls->in[0], b, -1, p->loc);
        break;
    }
    case OP_SUM: {
        const Node *bc = &g->nodes[a];
        if (p->axis == AXIS_ALL && !p->keepdims && bc->op == OP_BROADCAST &&
            g->nodes[bc->in[0]].op == OP_CONST && shape_is_const(&bc->shape)) {
            int ovf;
            int64_t n = shape_const_numel(&bc->shape, &ovf);
            /* + 0: a sum of -0s is +0, as the generated loop that starts from 0 adds them */
            return ir_const(g, g->nodes[bc->in[0]].value * (double)n + 0.0, p->loc);
        }
        break;
    }
    default: break;
    }
    return FOLD_NONE;
}

Graph *pass_fold(Graph *g) { return ir_rebuild(g, 1, 0); }
