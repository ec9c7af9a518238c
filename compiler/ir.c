/* ir.c — the graph builder: shape rules by op kind, and the add path that folds,
 * simplifies (pass_fold.c) and merges common subexpressions (pass_cse.c) when asked.
 * Invariant: nodes are appended in topological order and never change afterwards. */
#include "ir.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h" /* bprt_conv2d_scratch */
#include "passes.h"

const OpInfo op_info[OP_COUNT] = {
#define OP(e, name, arity, kind, cfun) [OP_##e] = {name, arity, kind, cfun},
#include "ops.def"
#undef OP
};

Graph *ir_new(Arena *a, Diag *d) {
    Graph *g = arena_alloc(a, sizeof *g);
    g->arena = a;
    g->diag = d;
    g->loss = -1;
    return g;
}

Node *ir_node(Graph *g, int id) {
    BP_ASSERT(id >= 0 && id < g->n);
    return &g->nodes[id];
}

static const char *op_symbol(Op op) {
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_POW: return "^";
    default: return op_info[op].name;
    }
}

static Node proto(Op op, Loc loc) {
    Node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.in[0] = n.in[1] = n.in[2] = -1;
    n.loc = loc;
    n.dim = dim_const(0);
    n.start = dim_const(0);
    return n;
}

/* Appends without folding or CSE. */
static int append(Graph *g, const Node *p) {
    if (g->n == g->cap) {
        int ncap = g->cap ? g->cap * 2 : 64;
        Node *nn = arena_alloc(g->arena, (size_t)ncap * sizeof *nn);
        if (g->n) memcpy(nn, g->nodes, (size_t)g->n * sizeof *nn);
        g->nodes = nn;
        g->cap = ncap;
    }
    Node *n = &g->nodes[g->n];
    *n = *p;
    n->adjoint = p->adjoint || g->adjoint_mode;
    for (int i = 0; i < op_info[p->op].arity; i++) BP_ASSERT(p->in[i] >= 0 && p->in[i] < g->n);
    return g->n++;
}

int ir_add_raw(Graph *g, const Node *p) {
    for (int i = 0; i < op_info[p->op].arity; i++)
        if (p->in[i] < 0) return -1;
    /* a computed value's size, as the declarations' (sema.c): a broadcast or an outer product
       of [65536, 65536, 1, 1] and [65536, 65536] has 2^64 elements, which the workspace
       check's size_t arithmetic took for 0, and whose buffer the plan sized at the limit */
    int ovf;
    shape_const_numel(&p->shape, &ovf);
    if (ovf) {
        char s1[160];
        diag_error(g->diag, p->loc, "the result of '%s' has shape %s: too many elements (limit %lld)",
                   op_symbol(p->op), shape_str(&p->shape, &g->syms, s1, sizeof s1), (long long)BP_MAXELEMS);
        return -1;
    }
    Node marked;
    if (g->remat_mode && !p->remat && op_info[p->op].arity > 0) { /* leaves are never recomputed */
        marked = *p;
        marked.remat = g->remat_mode;
        p = &marked;
    }
    if (g->call_mode && !p->calls && op_info[p->op].arity > 0) {
        if (p != &marked) marked = *p;
        marked.calls = g->call_mode;
        p = &marked;
    }
    if (g->fold || p->adjoint || g->adjoint_mode) {
        int r = g->fold ? fold_node(g, p) : fold_symbolic_zero(g, p);
        if (r != FOLD_NONE) return r;
    }
    if (g->cse) {
        int r = cse_lookup(g, p);
        if (r >= 0) return r;
    }
    int id = append(g, p);
    if (g->cse) cse_insert(g, id);
    return id;
}

/* ---- leaves ---- */
int ir_input(Graph *g, int index) {
    Node p = proto(OP_INPUT, g->inputs[index].loc);
    p.ival = index;
    p.shape = g->inputs[index].shape;
    p.dtype = g->inputs[index].dtype;
    p.name = g->inputs[index].name;
    return ir_add_raw(g, &p);
}

int ir_param(Graph *g, int index) {
    Node p = proto(OP_PARAM, g->params[index].loc);
    p.ival = index;
    p.shape = g->params[index].shape;
    p.name = g->params[index].name;
    return ir_add_raw(g, &p);
}

int ir_vector(Graph *g, int index) {
    Node p = proto(OP_VECTOR, g->params[index].loc);
    p.ival = index;
    p.shape = g->params[index].shape;
    return ir_add_raw(g, &p);
}

int ir_const(Graph *g, double v, Loc loc) {
    Node p = proto(OP_CONST, loc);
    p.value = v;
    return ir_add_raw(g, &p);
}

int ir_dimval(Graph *g, Dim d, Loc loc) {
    if (d.sym < 0) return ir_const(g, (double)d.c, loc);
    Node p = proto(OP_DIMVAL, loc);
    p.dim = d;
    return ir_add_raw(g, &p);
}

/* ---- elementwise ---- */
int ir_unary_attr(Graph *g, Op op, int a, double value, int ival, Loc loc) {
    if (a < 0) return -1;
    BP_ASSERT(op_info[op].kind == OK_UNARY);
    Node p = proto(op, loc);
    p.in[0] = a;
    p.shape = g->nodes[a].shape;
    p.value = value;
    p.ival = ival;
    return ir_add_raw(g, &p);
}

int ir_unary(Graph *g, Op op, int a, Loc loc) { return ir_unary_attr(g, op, a, 0, 0, loc); }

int ir_binary(Graph *g, Op op, int a, int b, Loc loc) {
    if (a < 0 || b < 0) return -1;
    BP_ASSERT(op_info[op].kind == OK_BINARY);
    Node p = proto(op, loc);
    p.in[0] = a;
    p.in[1] = b;
    if (!ir_check_broadcast(g, a, b, op_symbol(op), loc)) return -1;
    shape_broadcast(&g->nodes[a].shape, &g->nodes[b].shape, &p.shape);
    return ir_add_raw(g, &p);
}

int ir_pow_scalar(Graph *g, int a, double e, Loc loc) {
    if (e == 0.5) return ir_unary(g, OP_SQRT, a, loc);
    if (e == -0.5) return ir_binary(g, OP_DIV, ir_const(g, 1, loc), ir_unary(g, OP_SQRT, a, loc), loc);
    return ir_binary(g, OP_POW, a, ir_const(g, e, loc), loc);
}

/* A hint for the classic bias mistake, a per-channel [C] against an image [B, C, H, W]
 * (which broadcasts along W, not C): the shape that does, [C, 1, 1]; "" otherwise. */
static const char *channel_hint(const Shape *sa, const Shape *sb, const SymTab *st, char *buf, size_t size) {
    buf[0] = 0;
    if (sa->rank == 1 && sb->rank == 4) {
        const Shape *t = sa;
        sa = sb, sb = t;
    }
    if (sa->rank == 4 && sb->rank == 1 && dim_eq(sa->d[1], sb->d[0])) {
        char c[64];
        snprintf(buf, size, "; a per-channel bias is [%s, 1, 1]", dim_str(sb->d[0], st, c, sizeof c));
    }
    return buf;
}

int ir_check_broadcast(Graph *g, int a, int b, const char *in, Loc loc) {
    Shape o;
    const Shape *sa = &g->nodes[a].shape, *sb = &g->nodes[b].shape;
    if (shape_broadcast(sa, sb, &o) == 0) return 1;
    char s1[160], s2[160], why[160], hint[160];
    diag_error(g->diag, loc, "cannot broadcast shapes %s and %s in '%s' (%s)%s", shape_str(sa, &g->syms, s1, sizeof s1),
               shape_str(sb, &g->syms, s2, sizeof s2), in, shape_broadcast_why(sa, sb, &g->syms, why, sizeof why),
               channel_hint(sa, sb, &g->syms, hint, sizeof hint));
    return 0;
}

/* ---- reductions and axis ops ---- */
int ir_reduce(Graph *g, Op op, int a, int axis, int keepdims, Loc loc) {
    if (a < 0) return -1;
    const Shape *s = &g->nodes[a].shape;
    Node p = proto(op, loc);
    p.in[0] = a;
    p.keepdims = keepdims ? 1 : 0;
    if (axis == AXIS_ALL) {
        p.axis = AXIS_ALL;
        p.shape.rank = keepdims ? s->rank : 0;
        for (int i = 0; i < p.shape.rank; i++) p.shape.d[i] = dim_const(1);
    } else {
        int ax = shape_axis(s, axis);
        if (ax < 0) {
            char s1[160];
            diag_error(g->diag, loc, "axis %d is out of range for shape %s", axis,
                       shape_str(s, &g->syms, s1, sizeof s1));
            return -1;
        }
        p.axis = ax;
        p.shape = *s;
        if (keepdims) p.shape.d[ax] = dim_const(1);
        else {
            for (int i = ax; i + 1 < s->rank; i++) p.shape.d[i] = s->d[i + 1];
            p.shape.rank--;
        }
    }
    return ir_add_raw(g, &p);
}

int ir_axis_op(Graph *g, Op op, int a, int axis, Loc loc) {
    if (a < 0) return -1;
    const Shape *s = &g->nodes[a].shape;
    int ax = shape_axis(s, axis);
    if (ax < 0) {
        char s1[160];
        diag_error(g->diag, loc, "axis %d is out of range for shape %s", axis,
                   shape_str(s, &g->syms, s1, sizeof s1));
        return -1;
    }
    Node p = proto(op, loc);
    p.in[0] = a;
    p.axis = ax;
    p.shape = *s;
    return ir_add_raw(g, &p);
}

/* ---- matmul: op(a)[..., M, K] @ op(b)[..., K, N] -> [..., M, N], batch dims broadcast ---- */
int ir_matmul(Graph *g, int a, int b, int ta, int tb, Loc loc) {
    if (a < 0 || b < 0) return -1;
    const Shape *sa = &g->nodes[a].shape, *sb = &g->nodes[b].shape;
    char s1[160], s2[160], d1[64], d2[64];
    if (sa->rank < 2 || sb->rank < 2) {
        diag_error(g->diag, loc, "matmul needs operands of rank 2 or more, got %s and %s",
                   shape_str(sa, &g->syms, s1, sizeof s1), shape_str(sb, &g->syms, s2, sizeof s2));
        return -1;
    }
    Dim m = sa->d[sa->rank - 2 + (ta ? 1 : 0)], ka = sa->d[sa->rank - 1 - (ta ? 1 : 0)];
    Dim kb = sb->d[sb->rank - 2 + (tb ? 1 : 0)], n = sb->d[sb->rank - 1 - (tb ? 1 : 0)];
    if (!dim_eq(ka, kb)) {
        diag_error(g->diag, loc, "matmul shapes %s and %s do not match: %s != %s",
                   shape_str(sa, &g->syms, s1, sizeof s1), shape_str(sb, &g->syms, s2, sizeof s2),
                   dim_str(ka, &g->syms, d1, sizeof d1), dim_str(kb, &g->syms, d2, sizeof d2));
        return -1;
    }
    Shape ba = *sa, bb = *sb, bo;
    ba.rank -= 2;
    bb.rank -= 2;
    if (shape_broadcast(&ba, &bb, &bo) != 0) {
        diag_error(g->diag, loc, "matmul batch dimensions of %s and %s do not broadcast",
                   shape_str(sa, &g->syms, s1, sizeof s1), shape_str(sb, &g->syms, s2, sizeof s2));
        return -1;
    }
    if (bo.rank + 2 > BP_MAXRANK) {
        diag_error(g->diag, loc, "matmul result has more than %d dimensions", BP_MAXRANK);
        return -1;
    }
    Node p = proto(OP_MATMUL, loc);
    p.in[0] = a;
    p.in[1] = b;
    p.ta = ta;
    p.tb = tb;
    p.shape = bo;
    p.shape.d[p.shape.rank++] = m;
    p.shape.d[p.shape.rank++] = n;
    return ir_add_raw(g, &p);
}

/* ---- shape ops ---- */
int ir_transpose(Graph *g, int a, Loc loc) {
    if (a < 0) return -1;
    const Shape *s = &g->nodes[a].shape;
    if (s->rank < 2) {
        char s1[160];
        diag_error(g->diag, loc, "transpose needs rank 2 or more, got %s%s", shape_str(s, &g->syms, s1, sizeof s1),
                   s->rank == 1 ? ": a vector has nothing to transpose (NumPy's .T leaves it as it is; "
                                  "reshape(x, [-1, 1]) makes a column)"
                                : "");
        return -1;
    }
    Node p = proto(OP_TRANSPOSE, loc);
    p.in[0] = a;
    p.shape = *s;
    p.shape.d[s->rank - 2] = s->d[s->rank - 1];
    p.shape.d[s->rank - 1] = s->d[s->rank - 2];
    return ir_add_raw(g, &p);
}

int ir_reshape(Graph *g, int a, const Shape *s, Loc loc) {
    if (a < 0) return -1;
    Node p = proto(OP_RESHAPE, loc);
    p.in[0] = a;
    p.shape = *s;
    return ir_add_raw(g, &p);
}

int ir_broadcast(Graph *g, int a, const Shape *s, Loc loc) {
    if (a < 0) return -1;
    Shape o;
    if (shape_broadcast(&g->nodes[a].shape, s, &o) != 0 || !shape_eq(&o, s)) {
        char s1[160], s2[160];
        diag_error(g->diag, loc, "cannot broadcast shape %s to %s",
                   shape_str(&g->nodes[a].shape, &g->syms, s1, sizeof s1),
                   shape_str(s, &g->syms, s2, sizeof s2));
        return -1;
    }
    Node p = proto(OP_BROADCAST, loc);
    p.in[0] = a;
    p.shape = *s;
    return ir_add_raw(g, &p);
}

int ir_concat(Graph *g, int a, int b, int axis, Loc loc) {
    if (a < 0 || b < 0) return -1;
    const Shape *sa = &g->nodes[a].shape, *sb = &g->nodes[b].shape;
    char s1[160], s2[160];
    int ax = shape_axis(sa, axis);
    int ok = sa->rank == sb->rank && ax >= 0;
    for (int i = 0; ok && i < sa->rank; i++)
        if (i != ax && !dim_eq(sa->d[i], sb->d[i])) ok = 0;
    Dim da = ax >= 0 ? sa->d[ax] : dim_const(0), db = ax >= 0 ? sb->d[ax] : dim_const(0);
    if (ok && !(da.sym == db.sym || da.c == 0 || db.c == 0)) {
        /* a size is a number, or a number times one symbolic size: B + 1 is neither */
        char d1[64], d2[64];
        Shape one = {.rank = 1};
        one.d[0] = da;
        shape_str(&one, &g->syms, d1, sizeof d1);
        one.d[0] = db;
        shape_str(&one, &g->syms, d2, sizeof d2);
        d1[strlen(d1) - 1] = d2[strlen(d2) - 1] = 0; /* "[B]" -> "B" */
        diag_error(g->diag, loc, "cannot concatenate shapes %s and %s along axis %d: their sizes %s and %s along it do "
                   "not add up to a size bpc can hold (a number, or a number times one symbolic size)",
                   shape_str(sa, &g->syms, s1, sizeof s1), shape_str(sb, &g->syms, s2, sizeof s2), axis, d1 + 1, d2 + 1);
        return -1;
    }
    if (!ok) {
        diag_error(g->diag, loc, "cannot concatenate shapes %s and %s along axis %d",
                   shape_str(sa, &g->syms, s1, sizeof s1), shape_str(sb, &g->syms, s2, sizeof s2), axis);
        return -1;
    }
    if (da.c + db.c > BP_MAXDIM) { /* a size is an int in the generated C (GEMM's M, N, K): 4000000000 did not compile */
        diag_error(g->diag, loc, "cannot concatenate shapes %s and %s along axis %d: the size along it would be %lld "
                   "(limit %lld)", shape_str(sa, &g->syms, s1, sizeof s1), shape_str(sb, &g->syms, s2, sizeof s2), axis,
                   (long long)(da.c + db.c), (long long)BP_MAXDIM);
        return -1;
    }
    Node p = proto(OP_CONCAT, loc);
    p.in[0] = a;
    p.in[1] = b;
    p.axis = ax;
    p.shape = *sa;
    p.shape.d[ax].c = da.c + db.c;
    p.shape.d[ax].sym = da.c ? da.sym : db.sym;
    return ir_add_raw(g, &p);
}

int ir_slice(Graph *g, int a, int axis, Dim start, Dim len, Loc loc) {
    if (a < 0) return -1;
    Node p = proto(OP_SLICE, loc);
    p.in[0] = a;
    p.axis = axis;
    p.start = start;
    p.shape = g->nodes[a].shape;
    p.shape.d[axis] = len;
    return ir_add_raw(g, &p);
}

/* ---- fused losses ---- */
int ir_loss_op(Graph *g, Op op, int a, int b, int c, Loc loc) {
    if (a < 0 || b < 0 || (op_info[op].arity == 3 && c < 0)) return -1;
    const Shape *sz = &g->nodes[a].shape, *sy = &g->nodes[b].shape;
    char s1[160], s2[160];
    int ok = sz->rank >= 1 && sy->rank == sz->rank - 1 && g->nodes[b].dtype == DT_INT;
    for (int i = 0; ok && i < sy->rank; i++)
        if (!dim_eq(sz->d[i], sy->d[i])) ok = 0;
    if (!ok) {
        diag_error(g->diag, loc,
                   "'%s' needs logits [..., C] and integer labels [...] with the same leading "
                   "dimensions, got %s and %s",
                   op_info[op].name, shape_str(sz, &g->syms, s1, sizeof s1),
                   shape_str(sy, &g->syms, s2, sizeof s2));
        return -1;
    }
    Node p = proto(op, loc);
    p.in[0] = a;
    p.in[1] = b;
    p.in[2] = c;
    p.shape = (op == OP_CE_GRAD || op == OP_NLL_GRAD) ? *sz : shape_scalar();
    return ir_add_raw(g, &p);
}

/* ---- layers ---- */
/* Output size of a window sweep: (n + 2 pad - k) / stride + 1, or 0 if none fits. */
static int64_t window_out(int64_t n, int k, int stride, int pad) {
    if (k < 1 || stride < 1 || pad < 0 || n + 2 * (int64_t)pad < k) return 0;
    return (n + 2 * (int64_t)pad - k) / stride + 1;
}

/* Is s [B, C, H, W] with C, H, W integers (B may be symbolic)? */
static int is_image(const Shape *s) {
    return s->rank == 4 && s->d[1].sym < 0 && s->d[2].sym < 0 && s->d[3].sym < 0;
}

static void layer_node(Op op, int a, int b, const Shape *s, Loc loc, Node *p) {
    *p = proto(op, loc);
    p->in[0] = a;
    p->in[1] = b;
    p->shape = *s;
}

int ir_conv2d(Graph *g, int x, int w, int stride, int pad, Loc loc) {
    if (x < 0 || w < 0) return -1;
    const Shape *xs = &g->nodes[x].shape, *ws = &g->nodes[w].shape;
    char s1[160], s2[160];
    /* each rule its own message (one text for all of them left the user to guess which broke) */
    shape_str(xs, &g->syms, s1, sizeof s1);
    shape_str(ws, &g->syms, s2, sizeof s2);
    if (xs->rank != 4) {
        diag_error(g->diag, loc, "conv2d's x must be 4-D [B, C, H, W], got %s", s1);
        return -1;
    }
    if (!is_image(xs)) {
        diag_error(g->diag, loc, "conv2d's x [B, C, H, W] must have integer C, H and W, got %s", s1);
        return -1;
    }
    if (ws->rank != 4) {
        diag_error(g->diag, loc, "conv2d's kernel W must be 4-D [O, C, KH, KW], got %s", s2);
        return -1;
    }
    if (!shape_is_const(ws)) {
        diag_error(g->diag, loc, "conv2d's kernel W [O, C, KH, KW] must have integer sizes, got %s%s", s2,
                   shape_is_const(xs) && is_image(ws) && ws->d[0].sym >= 0 ? "; conv2d takes (x, W): are the two swapped?" : "");
        return -1;
    }
    if (xs->d[1].c != ws->d[1].c) {
        /* TensorFlow's and Flax's channels-last images */
        const char *nhwc = xs->d[3].c == ws->d[1].c ? "; x is [B, C, H, W] (channels first, as PyTorch's), "
                                                      "and its last axis, not its second, has the kernel's C" : "";
        diag_error(g->diag, loc, "conv2d's channels differ: x %s has C = %lld, the kernel W %s has C = %lld%s", s1,
                   (long long)xs->d[1].c, s2, (long long)ws->d[1].c, nhwc);
        return -1;
    }
    if (ws->d[2].c > INT32_MAX || ws->d[3].c > INT32_MAX) {
        diag_error(g->diag, loc, "conv2d's window %s is too large", shape_str(ws, &g->syms, s2, sizeof s2));
        return -1;
    }
    const int kh = (int)ws->d[2].c, kw = (int)ws->d[3].c;
    int64_t oh = window_out(xs->d[2].c, kh, stride, pad), ow = window_out(xs->d[3].c, kw, stride, pad);
    if (oh < 1 || ow < 1) {
        diag_error(g->diag, loc, "conv2d: a %dx%d window with stride %d and padding %d does not fit x %s", kh, kw, stride,
                   pad, shape_str(xs, &g->syms, s1, sizeof s1));
        return -1;
    }
    /* one image's unfolded matrix [C*KH*KW, OH*OW] and bordered copy, once per thread slot,
       are the scratch (ir_conv2d_scratch) */
    Shape u = shape_scalar();
    u.rank = 3;
    u.d[0] = dim_const(BP_CONV_SLOTS), u.d[1] = dim_const(xs->d[1].c * kh * kw), u.d[2] = dim_const(oh * ow);
    int ovf;
    int64_t un = shape_const_numel(&u, &ovf);
    if (ovf || un > INT32_MAX) {
        diag_error(g->diag, loc, "conv2d's unfolded image [%lld, %lld] is too large", (long long)u.d[1].c,
                   (long long)u.d[2].c);
        return -1;
    }
    /* the zero-bordered copy of one image, [C, H + 2·padding, W + 2·padding], is scratch too;
       name it when it is what does not fit (a large stride keeps the unfolded image small) */
    const int64_t bh = xs->d[2].c + 2 * (int64_t)pad, bw = xs->d[3].c + 2 * (int64_t)pad;
    if ((double)xs->d[1].c * (double)bh * (double)bw > INT32_MAX) {
        diag_error(g->diag, loc, "conv2d's zero-bordered image [%lld, %lld, %lld] is too large (limit %lld elements)",
                   (long long)xs->d[1].c, (long long)bh, (long long)bw, (long long)INT32_MAX);
        return -1;
    }
    Shape s = *xs;
    s.d[1] = ws->d[0], s.d[2] = dim_const(oh), s.d[3] = dim_const(ow);
    Node p;
    layer_node(OP_CONV2D, x, w, &s, loc, &p);
    p.win[0] = kh, p.win[1] = kw, p.win[2] = stride, p.win[3] = pad;
    return ir_add_raw(g, &p);
}

int ir_conv2d_grad(Graph *g, Op op, int a, int b, const Shape *s, const int win[4], Loc loc) {
    if (a < 0 || b < 0) return -1;
    BP_ASSERT(op == OP_CONV2D_GRAD_X || op == OP_CONV2D_GRAD_W);
    Node p;
    layer_node(op, a, b, s, loc, &p);
    memcpy(p.win, win, sizeof p.win);
    return ir_add_raw(g, &p);
}

int64_t ir_conv2d_scratch(const Graph *g, const Node *n) {
    const Shape *xs = n->op == OP_CONV2D_GRAD_X ? &n->shape : &g->nodes[n->in[0]].shape;
    const Shape *ys = n->op == OP_CONV2D ? &n->shape : &g->nodes[n->in[n->op == OP_CONV2D_GRAD_X ? 0 : 1]].shape;
    return (int64_t)bprt_conv2d_scratch((size_t)xs->d[1].c, (size_t)xs->d[2].c, (size_t)xs->d[3].c, (size_t)ys->d[1].c,
                                        (size_t)n->win[0], (size_t)n->win[1], (size_t)n->win[2], (size_t)n->win[3]);
}

int ir_pool(Graph *g, Op op, int x, int k, int stride, Loc loc) {
    if (x < 0) return -1;
    const Shape *xs = &g->nodes[x].shape;
    char s1[160];
    if (!is_image(xs)) {
        diag_error(g->diag, loc, "%s needs x [B, C, H, W] with integer C, H, W, got %s", op_info[op].name,
                   shape_str(xs, &g->syms, s1, sizeof s1));
        return -1;
    }
    int64_t oh = window_out(xs->d[2].c, k, stride, 0), ow = window_out(xs->d[3].c, k, stride, 0);
    if (oh < 1 || ow < 1) {
        diag_error(g->diag, loc, "%s: a %dx%d window with stride %d does not fit x %s", op_info[op].name, k, k,
                   stride, shape_str(xs, &g->syms, s1, sizeof s1));
        return -1;
    }
    Shape s = *xs;
    s.d[2] = dim_const(oh);
    s.d[3] = dim_const(ow);
    Node p;
    layer_node(op, x, -1, &s, loc, &p);
    p.win[0] = p.win[1] = k, p.win[2] = stride;
    return ir_add_raw(g, &p);
}

int ir_pool_grad(Graph *g, Op op, int x, int gy, const Shape *xs, int k, int stride, Loc loc) {
    if (gy < 0 || (op == OP_MAXPOOL2D_GRAD && x < 0)) return -1;
    BP_ASSERT(op == OP_MAXPOOL2D_GRAD || op == OP_AVGPOOL2D_GRAD);
    Node p;
    if (op == OP_MAXPOOL2D_GRAD) layer_node(op, x, gy, xs, loc, &p);
    else layer_node(op, gy, -1, xs, loc, &p);
    p.win[0] = p.win[1] = k, p.win[2] = stride;
    return ir_add_raw(g, &p);
}

int ir_layernorm(Graph *g, int x, double eps, Loc loc) {
    if (x < 0) return -1;
    const Shape *xs = &g->nodes[x].shape;
    if (xs->rank < 1) {
        diag_error(g->diag, loc, "layernorm needs a tensor [..., D], got a scalar");
        return -1;
    }
    Node p;
    layer_node(OP_LAYERNORM, x, -1, xs, loc, &p);
    p.value = eps;
    return ir_add_raw(g, &p);
}

int ir_layernorm_grad(Graph *g, int x, int gy, double eps, Loc loc) {
    if (x < 0 || gy < 0) return -1;
    BP_ASSERT(shape_eq(&g->nodes[x].shape, &g->nodes[gy].shape));
    Node p;
    layer_node(OP_LAYERNORM_GRAD, x, gy, &g->nodes[x].shape, loc, &p);
    p.value = eps;
    return ir_add_raw(g, &p);
}

int ir_softmax_grad(Graph *g, int y, int gy, Loc loc) {
    if (y < 0 || gy < 0) return -1;
    BP_ASSERT(shape_eq(&g->nodes[y].shape, &g->nodes[gy].shape) && g->nodes[y].shape.rank >= 1);
    Node p;
    layer_node(OP_SOFTMAX_GRAD, y, gy, &g->nodes[y].shape, loc, &p);
    return ir_add_raw(g, &p);
}

int ir_embedding(Graph *g, int table, int ids, Loc loc) {
    if (table < 0 || ids < 0) return -1;
    const Shape *ts = &g->nodes[table].shape, *is = &g->nodes[ids].shape;
    char s1[160], s2[160];
    if (ts->rank != 2 || g->nodes[table].dtype != DT_REAL || g->nodes[ids].dtype != DT_INT ||
        is->rank + 1 > BP_MAXRANK) {
        diag_error(g->diag, loc, "embedding needs a table [V, D] and integer ids [...], got %s and %s%s",
                   shape_str(ts, &g->syms, s1, sizeof s1), g->nodes[ids].dtype == DT_INT ? "int" : "real ",
                   shape_str(is, &g->syms, s2, sizeof s2));
        return -1;
    }
    Shape s = *is;
    s.d[s.rank++] = ts->d[1];
    Node p;
    layer_node(OP_EMBEDDING, table, ids, &s, loc, &p);
    return ir_add_raw(g, &p);
}

int ir_embedding_grad(Graph *g, int gy, int ids, const Shape *ts, Loc loc) {
    if (gy < 0 || ids < 0) return -1;
    Node p;
    layer_node(OP_EMBEDDING_GRAD, gy, ids, ts, loc, &p);
    return ir_add_raw(g, &p);
}

int ir_causal_mask(Graph *g, int x, double fill, Loc loc) {
    if (x < 0) return -1;
    const Shape *xs = &g->nodes[x].shape;
    if (xs->rank < 2) {
        char s1[160];
        diag_error(g->diag, loc, "causal_mask needs scores [..., T, S], got %s", shape_str(xs, &g->syms, s1, sizeof s1));
        return -1;
    }
    Node p;
    layer_node(OP_CAUSAL_MASK, x, -1, xs, loc, &p);
    p.value = fill;
    return ir_add_raw(g, &p);
}

int ir_dropout(Graph *g, int x, double prob, int stream, Loc loc) {
    if (x < 0) return -1;
    Node p;
    layer_node(OP_DROPOUT, x, -1, &g->nodes[x].shape, loc, &p);
    p.value = prob;
    p.ival = stream;
    return ir_add_raw(g, &p);
}

/* ---- rebuild ---- */
void ir_own_leaves(Graph *g) {
    Param *params = arena_alloc(g->arena, ((size_t)g->nparams + 1) * sizeof *params);
    Input *inputs = arena_alloc(g->arena, ((size_t)g->ninputs + 1) * sizeof *inputs);
    if (g->nparams) memcpy(params, g->params, (size_t)g->nparams * sizeof *params);
    if (g->ninputs) memcpy(inputs, g->inputs, (size_t)g->ninputs * sizeof *inputs);
    g->params = params;
    g->params_cap = g->nparams;
    g->inputs = inputs;
    g->inputs_cap = g->ninputs;
    for (int i = 0; i < g->nparams; i++) g->params[i].node = -1;
    for (int i = 0; i < g->ninputs; i++) g->inputs[i].node = -1;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op == OP_PARAM) g->params[g->nodes[i].ival].node = i;
        if (g->nodes[i].op == OP_INPUT) g->inputs[g->nodes[i].ival].node = i;
    }
}

Graph *ir_rebuild(Graph *old, int fold, int cse) { return ir_rebuild_ordered(old, fold, cse, NULL); }

Graph *ir_rebuild_ordered(Graph *old, int fold, int cse, const int *order) {
    Graph *g = ir_new(old->arena, old->diag);
    g->syms = old->syms;
    g->params = old->params;
    g->nparams = old->nparams;
    g->nparam_reals = old->nparam_reals;
    g->inputs = old->inputs;
    g->ninputs = old->ninputs;
    g->opt = old->opt;
    g->model = old->model;
    g->noutputs = old->noutputs;
    g->output_names = old->output_names;
    g->fold = fold;
    g->cse = cse;
    g->pair_gelu = old->pair_gelu;
    /* liveness from the roots */
    char *live = calloc((size_t)old->n + 1, 1);
    int *map = malloc(((size_t)old->n + 1) * sizeof *map);
    if (!live || !map) abort();
    if (old->loss >= 0) live[old->loss] = 1;
    for (int i = 0; i < old->noutputs; i++)
        if (old->outputs[i] >= 0) live[old->outputs[i]] = 1;
    if (old->grads)
        for (int i = 0; i < old->nparams; i++)
            if (old->grads[i] >= 0) live[old->grads[i]] = 1;
    if (old->hvps)
        for (int i = 0; i < old->nparams; i++)
            if (old->hvps[i] >= 0) live[old->hvps[i]] = 1;
    for (int i = old->n - 1; i >= 0; i--)
        if (live[i])
            for (int k = 0; k < op_info[old->nodes[i].op].arity; k++) live[old->nodes[i].in[k]] = 1;
    for (int i = 0; i < old->n; i++) map[i] = -1;
    for (int o = 0; o < old->n; o++) {
        const int i = order ? order[o] : o;
        if (!live[i]) continue;
        Node p = old->nodes[i];
        for (int k = 0; k < op_info[p.op].arity; k++) p.in[k] = map[p.in[k]];
        g->adjoint_mode = p.adjoint;
        g->remat_mode = p.remat;
        g->call_mode = p.calls; /* what folding makes of it was made in its def calls */
        map[i] = ir_add_raw(g, &p);
        if (map[i] >= 0 && !g->nodes[map[i]].name) g->nodes[map[i]].name = p.name;
    }
    g->adjoint_mode = 0;
    g->remat_mode = 0;
    g->call_mode = NULL;
    g->loss = old->loss >= 0 ? map[old->loss] : -1;
    g->outputs = arena_alloc(g->arena, (size_t)(old->noutputs + 1) * sizeof(int));
    for (int i = 0; i < old->noutputs; i++) g->outputs[i] = old->outputs[i] >= 0 ? map[old->outputs[i]] : -1;
    if (old->grads) {
        g->grads = arena_alloc(g->arena, (size_t)(old->nparams + 1) * sizeof(int));
        for (int i = 0; i < old->nparams; i++) g->grads[i] = old->grads[i] >= 0 ? map[old->grads[i]] : -1;
    }
    if (old->hvps) {
        g->hvps = arena_alloc(g->arena, (size_t)(old->nparams + 1) * sizeof(int));
        for (int i = 0; i < old->nparams; i++) g->hvps[i] = old->hvps[i] >= 0 ? map[old->hvps[i]] : -1;
    }
    ir_own_leaves(g);
    free(live);
    free(map);
    return g;
}

int ir_is_root(const Graph *g, int id) {
    if (g->loss == id) return 1;
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == id) return 1;
    for (int p = 0; p < g->nparams; p++)
        if ((g->grads && g->grads[p] == id) || (g->hvps && g->hvps[p] == id)) return 1;
    return 0;
}

Readers *ir_readers(const Graph *g) {
    Readers *r = arena_alloc(g->arena, sizeof *r);
    const size_t n = (size_t)g->n;
    r->first = arena_alloc(g->arena, (n + 2) * sizeof(int));
    r->root = arena_alloc(g->arena, n + 1);
    int total = 0;
    for (int j = 0; j < g->n; j++) /* count the readers of each (r->first[v + 1]), then sum */
        for (int k = 0; k < op_info[g->nodes[j].op].arity; k++) {
            const int v = g->nodes[j].in[k];
            if (v >= 0 && v < j) r->first[v + 1]++, total++;
        }
    for (int v = 0; v < g->n; v++) r->first[v + 1] += r->first[v];
    r->user = arena_alloc(g->arena, ((size_t)total + 1) * sizeof(int));
    r->slot = arena_alloc(g->arena, ((size_t)total + 1) * sizeof(int));
    int *fill = calloc(n + 1, sizeof *fill);
    if (!fill) abort();
    for (int j = 0; j < g->n; j++)
        for (int k = 0; k < op_info[g->nodes[j].op].arity; k++) {
            const int v = g->nodes[j].in[k];
            if (v < 0 || v >= j) continue;
            const int at = r->first[v] + fill[v]++;
            r->user[at] = j;
            r->slot[at] = k;
        }
    free(fill);
    if (g->loss >= 0 && g->loss < g->n) r->root[g->loss] = 1;
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < g->n) r->root[g->outputs[i]] = 1;
    for (int p = 0; p < g->nparams; p++) {
        if (g->grads && g->grads[p] >= 0 && g->grads[p] < g->n) r->root[g->grads[p]] = 1;
        if (g->hvps && g->hvps[p] >= 0 && g->hvps[p] < g->n) r->root[g->hvps[p]] = 1;
    }
    return r;
}

int *ir_use_counts(const Graph *g) {
    int *u = calloc((size_t)g->n + 1, sizeof *u);
    if (!u) abort();
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < op_info[g->nodes[i].op].arity; k++) u[g->nodes[i].in[k]]++;
    return u;
}

OptConfig ir_opt_trained(const OptConfig *o) {
    OptConfig t = *o;
    if (t.kind == OPT_NONE) {
        t.kind = OPT_SGD;
        t.lr = 0.01;
    }
    return t;
}

int ir_opt_moments(const OptConfig *o) {
    if (o->kind == OPT_ADAM || o->kind == OPT_ADAMW) return 2;
    return o->kind == OPT_SGD && o->momentum > 0 ? 1 : 0;
}

int ir_verify(const Graph *g) {
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        BP_ASSERT(n->op >= 0 && n->op < OP_COUNT);
        for (int k = 0; k < op_info[n->op].arity; k++) BP_ASSERT(n->in[k] >= 0 && n->in[k] < i);
        BP_ASSERT(n->shape.rank >= 0 && n->shape.rank <= BP_MAXRANK);
        if (op_info[n->op].kind == OK_UNARY) BP_ASSERT(shape_eq(&n->shape, &g->nodes[n->in[0]].shape));
    }
    return 0;
}

/* ---- dump ---- */
void ir_dump(FILE *out, const Graph *g) {
    fprintf(out, "graph %s: %d nodes, %d params (%lld reals), %d inputs\n", g->model ? g->model : "?",
            g->n, g->nparams, (long long)g->nparam_reals, g->ninputs);
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        char s[160];
        fprintf(out, "%%%d = %s%s%s", i, n->adjoint ? "adj " : "", n->remat == REMAT_COPY ? "recompute " : "",
                op_info[n->op].name);
        switch (n->op) {
        case OP_INPUT: fprintf(out, " %s", g->inputs[n->ival].name); break;
        case OP_PARAM:
        case OP_VECTOR: fprintf(out, " %s", g->params[n->ival].name); break;
        case OP_CONST: fprintf(out, " %.17g", n->value); break;
        case OP_DIMVAL: fprintf(out, " %s", dim_str(n->dim, &g->syms, s, sizeof s)); break;
        default: break;
        }
        for (int k = 0; k < op_info[n->op].arity; k++) fprintf(out, "%s%%%d", k ? ", " : " ", n->in[k]);
        if (n->op == OP_LEAKY_RELU || n->op == OP_LEAKY_STEP) fprintf(out, " alpha=%.17g", n->value);
        if (n->op == OP_POWI) fprintf(out, " n=%d", n->ival);
        if (op_info[n->op].kind == OK_REDUCE) {
            if (n->axis == AXIS_ALL) fprintf(out, " axis=all");
            else fprintf(out, " axis=%d", n->axis);
            if (n->keepdims) fprintf(out, " keepdims");
        }
        if (op_info[n->op].kind == OK_AXIS || n->op == OP_CONCAT) fprintf(out, " axis=%d", n->axis);
        if (n->op == OP_SLICE) fprintf(out, " axis=%d start=%s", n->axis, dim_str(n->start, &g->syms, s, sizeof s));
        if (n->op == OP_MATMUL && (n->ta || n->tb)) fprintf(out, " ta=%d tb=%d", n->ta, n->tb);
        if (n->op == OP_MATMUL && n->bsum) {
            fprintf(out, " sum=");
            for (int f = 0, first = 1; f < BP_MAXRANK; f++)
                if (n->bsum >> f & 1) fprintf(out, "%s%d", first ? "" : ",", f), first = 0;
        }
        if (n->op == OP_CONV2D || n->op == OP_CONV2D_GRAD_X || n->op == OP_CONV2D_GRAD_W)
            fprintf(out, " k=%dx%d stride=%d pad=%d", n->win[0], n->win[1], n->win[2], n->win[3]);
        if (n->op == OP_MAXPOOL2D || n->op == OP_MAXPOOL2D_GRAD || n->op == OP_AVGPOOL2D || n->op == OP_AVGPOOL2D_GRAD)
            fprintf(out, " k=%d stride=%d", n->win[0], n->win[2]);
        if (n->op == OP_LAYERNORM || n->op == OP_LAYERNORM_GRAD) fprintf(out, " eps=%.17g", n->value);
        if (n->op == OP_CAUSAL_MASK) fprintf(out, " fill=%.17g", n->value);
        if (n->op == OP_DROPOUT) fprintf(out, " p=%.17g stream=%d", n->value, n->ival);
        fprintf(out, " : %s%s", n->dtype == DT_INT ? "int" : "", shape_str(&n->shape, &g->syms, s, sizeof s));
        if (n->name) fprintf(out, " \"%s\"", n->name);
        if (n->remat == REMAT_MARKED) fprintf(out, " checkpoint");
        if (n->loc.file && n->loc.line) fprintf(out, " @%d:%d", n->loc.line, n->loc.col);
        fputc('\n', out);
    }
    if (g->loss >= 0) fprintf(out, "loss %%%d\n", g->loss);
    for (int i = 0; i < g->noutputs; i++) fprintf(out, "output %s %%%d\n", g->output_names[i], g->outputs[i]);
    if (g->grads)
        for (int i = 0; i < g->nparams; i++) {
            if (g->grads[i] >= 0) fprintf(out, "grad %s %%%d\n", g->params[i].name, g->grads[i]);
            else fprintf(out, "grad %s zero\n", g->params[i].name);
        }
    if (g->hvps)
        for (int i = 0; i < g->nparams; i++) {
            if (g->hvps[i] >= 0) fprintf(out, "hvp %s %%%d\n", g->params[i].name, g->hvps[i]);
            else fprintf(out, "hvp %s zero\n", g->params[i].name);
        }
}

int ir_masks_future(const Node *n) { return n->op == OP_CAUSAL_MASK && n->value < 0 && isinf(n->value); }

void ir_node_error(Diag *d, const Node *n, const char *fmt, ...) {
    const CallSite *chain[DIAG_MAX_CONTEXT];
    int k = 0;
    for (const CallSite *c = n->calls; c && k < DIAG_MAX_CONTEXT; c = c->up) chain[k++] = c;
    for (int i = k - 1; i >= 0; i--) diag_push_context(d, chain[i]->loc, chain[i]->note); /* outermost first */
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, n->loc, fmt, ap);
    va_end(ap);
    for (int i = 0; i < k; i++) diag_pop_context(d);
}
