/* emit_c.c — the generated C: preamble, API functions, kernels by op kind.
 *
 * Shape letters in comments: N elements, O outer, R reduced, I inner, M/K/N for GEMM.
 * Every user-derived identifier in the .c is prefixed (in_x, dim_B, out_logits) so that a
 * user's name can never clash with C keywords or our own names. Loops use size_t indices;
 * scalar accumulations run in double. The output is C99 that compiles warning-free with
 * -std=c99 -Wall -Wextra -pedantic under gcc, clang and tcc. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#include "causal.h"
#include "emit.h"
#include "fuse.h"
#include "nametab.h"
#include "passes.h"
#include "plan.h"

/* The functions emitted from the graph. V_EVAL: NAME_loss_eval, the loss with every dropout
 * the identity (its own function only for programs with dropout; otherwise NAME_loss's
 * value). V_STEP: NAME_step_, NAME_grad with the SGD update fused into its weight-gradient
 * GEMMs (see emit_step_tail); only for programs step_fusable accepts. */
typedef enum Variant { V_FORWARD, V_LOSS, V_EVAL, V_GRAD, V_HVP, V_STEP } Variant;
static const char *const variant_name[] = {"forward", "loss", "loss_eval", "grad", "hvp", "step"};

typedef struct E {
    FILE *out;
    Graph *g;          /* the function's graph */
    const EmitOptions *o;
    Plan *plan;
    char *pinned;      /* per node: 1 grad destination, 2 output destination */
    int *pin_index;    /* param index or output index */
    int *fuse_user;    /* per node: the node whose loop computes it inline, or -1 */
    const char *prefix;
    Variant v;         /* the function being emitted (dropout is the identity in forward and loss_eval) */
    char **leaf_idx;   /* while emitting a grouped broadcast loop: each leaf's index, in visit order */
    int *leaf_next;    /* the next leaf's position in leaf_idx */
    char *fused;       /* V_STEP: per node, 1 for a weight-gradient GEMM that updates params */
    const PlanSizes *sizes; /* mark_fused's plans: the sizes worked out once, no buffers merged (NULL: by plan_make) */
    int *epilogue;     /* per MATMUL, CONV2D or MAXPOOL2D_GRAD node: the elementwise node it computes as an epilogue, or -1 */
    int *grad_w_with;  /* per CONV2D_GRAD_X node: the CONV2D_GRAD_W computed in the same call, or -1 */
    char *computed_early; /* per node: 1 if a GEMM's epilogue or its loss's pass computes it (not emitted on its own) */
    int *hoisted;      /* per node: the GEMM before which it is emitted (a product its epilogue passed), or -1 */
    int *ce_grad;      /* per CROSS_ENTROPY node: its gradient node computed in the same pass, or -1 */
    int *ep_sum;       /* per MATMUL node with an epilogue: the sum over axis 0 of the epilogue's result made in the same call, or -1 */
    int *lna_at;       /* per node: the LAYERNORM_GRAD whose affine group (plan_ln_groups) is emitted in its place, or -1 */
    struct LnGroup *lna; /* per LAYERNORM_GRAD of a group: its operands and the nodes the call makes */
    int *gelu_pair;    /* per GELU node: the gelu_grad of its input made in the same call (plan_gelu_pairs), or -1 */
    int *cwb_at;       /* per node: the CONV2D_GRAD_W made in its place with a bias's gradient (plan_conv_bias), or -1 */
    int *cwb_sum;      /* per CONV2D_GRAD_W of cwb_at: the last sum of the chain, the bias's gradient */
    signed char *tri;  /* per batched MATMUL node: its triangle (bprt_?gemm_batch_tri's BPRT_TRI_*), or 0 */
    struct SmChain *sm; /* per node: the attention chain it ends (plan_sm; mm -1: none) */
    const Readers *rd; /* who reads each node of g (need_readers), or NULL */
} E;

/* Attention's weights from a batched product, or their gradient, in one call product by
 * product (plan_sm): softmax([causal_mask(] [c *] A @ B [, -inf)]) ending at the softmax, or
 * [c *] softmax_grad(y, A @ B) ending at the product by c or the softmax_grad. */
typedef struct SmChain {
    int mm;     /* the product */
    int grad;   /* the softmax_grad node (the end itself, or scaled by the end), or -1 */
    int scale;  /* the scalar CONST c, or -1 */
    int y;      /* softmax_grad's y (the gradient's chain), or -1 (the weights') */
    int causal; /* masked: the weights (or y) zero right of the diagonal */
} SmChain;

/* A layer norm's affine gradient made in one call (plan_ln_groups): its gy and gamma, the
 * sums of gy * xhat and of gy (or -1), and the addition of another gradient `add` to its
 * result (or -1), whose storage the call writes then. */
typedef struct LnGroup {
    int dy, gamma, dg, db, sum, add;
} LnGroup;

static const char *R(const E *e) { return e->o->f64 ? "double" : "float"; }

/* v as a C expression of type `type` with the same value: NaN, an infinity and -0 included
 * (%.17g writes -0.0 as "-0", the integer zero, and 1.5e308 must not become INFINITY).
 * At most 34 characters with R's types (%.17g: 24), so the 64-byte buffers hold it. */
static const char *real_literal(double v, const char *type, char *buf, size_t size) {
    if (v != v) snprintf(buf, size, "((%s)NAN)", type);
    else if (isinf(v)) snprintf(buf, size, "(%s(%s)INFINITY)", v < 0 ? "-" : "", type);
    else if (v == 0 && signbit(v)) snprintf(buf, size, "(-(%s)0)", type);
    else snprintf(buf, size, "((%s)%.17g)", type, v);
    return buf;
}

/* ---- names and expressions ---- */
/* Bytes of C text that hold a product of sizes (dims_c, numel_c: up to BP_MAXRANK sizes of
 * at most 11 digits and 4 + BP_DIM_NAME_MAX characters each, "(c*dim_NAME)") and a leaf's
 * index in a loop nest (leaf_index: one such product per axis). They were 256 and 1024, and
 * leaf_index wrote past its 1024 without checking: a rank-8 input with 24-character
 * dimension names made bpc overwrite its stack. */
enum { DIMS_C_MAX = 512, INDEX_C_MAX = 2048 };

static void dims_c(const Graph *g, const Shape *s, int from, int to, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "((size_t)1");
    for (int i = from; i < to && n < size; i++) {
        char d[96];
        dim_c(s->d[i], &g->syms, d, sizeof d);
        n += (size_t)snprintf(buf + n, size - n, "*(size_t)%s", d);
    }
    if (n < size) snprintf(buf + n, size - n, ")");
}

static void numel_c(const Graph *g, const Shape *s, char *buf, size_t size) { dims_c(g, s, 0, s->rank, buf, size); }

static const char *elem(const E *e, int id, const char *idx, char *buf, size_t size);

/* C expression for the pointer holding node id's data. A scalar constant (which has no
 * storage: `sum(7)`, `mse(2, 3)`) becomes a one-element compound literal. Its callers' 96
 * bytes hold every form: "out%d_NAME" is at most 3 + 10 + 1 + BP_NAME_MAX = 78 characters,
 * "in_NAME" 67, "(params + N)" 31, a constant's "((real[1]){...})" 13 + 59 (elem: a
 * real_literal, or a size "((double)" dim_c ")": dim_c at most 1 + 10 + 1 + 36 + 1 = 49 with
 * the emitter's "dim_" names, BP_DIM_NAME_MAX + 4). */
static const char *ptr(const E *e, int id, char *buf, size_t size) {
    const Node *n = &e->g->nodes[id];
    if (n->op == OP_CONST || n->op == OP_DIMVAL) {
        char v[128];
        snprintf(buf, size, "((real[1]){%s})", elem(e, id, "0", v, sizeof v));
    } else if (n->op == OP_PARAM) snprintf(buf, size, "(params + %lld)", (long long)e->g->params[n->ival].offset);
    else if (n->op == OP_VECTOR) snprintf(buf, size, "(v + %lld)", (long long)e->g->params[n->ival].offset);
    else if (n->op == OP_INPUT) snprintf(buf, size, "in_%s", e->g->inputs[n->ival].name);
    else if (e->pinned[id] == 1)
        snprintf(buf, size, "(%s + %lld)", e->v == V_HVP ? "hv" : "grad", (long long)e->g->params[e->pin_index[id]].offset);
    else if (e->pinned[id] == 2) snprintf(buf, size, "out%d_%s", e->pin_index[id], e->g->output_names[e->pin_index[id]]);
    else {
        BP_ASSERT(e->plan->buf[id] >= 0);
        snprintf(buf, size, "t%d", e->plan->buf[id]);
    }
    return buf;
}

/* C expression for element `idx` of node id (constants inline). With idx "0" or "i" at most
 * ptr's 78 characters + 3 (a size's dim_c: 49, a literal: 34), which the callers' 320-byte
 * buffers hold; in a fused tree idx is up to INDEX_C_MAX (fused_expr's buffers). */
static const char *elem(const E *e, int id, const char *idx, char *buf, size_t size) {
    const Node *n = &e->g->nodes[id];
    if (n->op == OP_CONST) real_literal(n->value, R(e), buf, size);
    else if (n->op == OP_DIMVAL) {
        char d[96];
        dim_c(n->dim, &e->g->syms, d, sizeof d);
        snprintf(buf, size, "((%s)%s)", R(e), d);
    } else {
        char p[96];
        snprintf(buf, size, "%s[%s]", ptr(e, id, p, sizeof p), idx);
    }
    return buf;
}

static int is_scalar_like(const Node *n) {
    if (n->op == OP_CONST || n->op == OP_DIMVAL) return 1;
    for (int i = 0; i < n->shape.rank; i++)
        if (!dim_is(n->shape.d[i], 1)) return 0;
    return 1;
}

/* ---- elementwise ---- */
static void elementwise_expr(const E *e, const Node *n, const char *const *args, char *buf, size_t size) {
    const OpInfo *oi = &op_info[n->op];
    /* the cheapest ops inline, so that even tcc's unoptimised code makes no calls */
    static const char *const infix[OP_COUNT] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/"};
    if (infix[n->op]) snprintf(buf, size, "(%s %s %s)", args[0], infix[n->op], args[1]);
    else if (n->op == OP_NEG) snprintf(buf, size, "(-%s)", args[0]);
    else if (n->op == OP_RELU && strlen(args[0]) < 200) snprintf(buf, size, "(!(%s <= 0) ? %s : (real)0)", args[0], args[0]); /* NaN stays */
    else if (n->op == OP_STEP && strlen(args[0]) < 200) snprintf(buf, size, "(%s > 0 ? (real)1 : (real)0)", args[0]);
    else if (n->op == OP_MASK_MUL && strlen(args[1]) < 200) /* the preamble's BP_MASK_MUL */
        snprintf(buf, size, "BP_MASK_MUL(%s, %s)", args[0], args[1]);
    else if (n->op == OP_BROADCAST) snprintf(buf, size, "%s", args[0]);
    else if (n->op == OP_LEAKY_RELU || n->op == OP_LEAKY_STEP) {
        char al[64];
        snprintf(buf, size, "%s(%s, %s)", oi->cfun, args[0], real_literal(n->value, R(e), al, sizeof al));
    }
    else if (n->op == OP_POWI) snprintf(buf, size, "%s(%s, %d)", oi->cfun, args[0], n->ival);
    else if (oi->arity == 1) snprintf(buf, size, "%s(%s)", oi->cfun, args[0]);
    else snprintf(buf, size, "%s(%s, %s)", oi->cfun, args[0], args[1]);
}

/* Index expression of a leaf of shape `in` inside loops over `out` (general case). */
static void leaf_index(const Graph *g, const Shape *in, const Shape *out, char *idx, size_t size) {
    size_t len = (size_t)snprintf(idx, size, "0");
    int off = out->rank - in->rank;
    for (int ax = 0; ax < in->rank && len < size; ax++) {
        if (dim_is(in->d[ax], 1)) continue;
        char st[DIMS_C_MAX];
        dims_c(g, in, ax + 1, in->rank, st, sizeof st);
        len += (size_t)snprintf(idx + len, size - len, " + i%d*%s", ax + off, st);
    }
}

/* Are all leaves of the fused tree at id of the output's shape or scalars? */
static int fused_flat(const E *e, int id, const Shape *out) {
    const Node *n = &e->g->nodes[id];
    if (e->fuse_user[id] < 0 || op_info[n->op].kind == OK_LEAF) return is_scalar_like(n) || shape_eq(&n->shape, out);
    for (int k = 0; k < op_info[n->op].arity; k++)
        if (!fused_flat(e, n->in[k], out)) return 0;
    return 1;
}

/* The expression computing element (flat index "i", or loop indices) of node id. */
static void fused_expr(const E *e, int id, const Shape *out, int flat, char *buf, size_t size) {
    const Node *n = &e->g->nodes[id];
    if (e->fuse_user[id] < 0 || op_info[n->op].kind == OK_LEAF) {
        char idx[INDEX_C_MAX];
        if (e->leaf_idx) snprintf(idx, sizeof idx, "%s", e->leaf_idx[(*e->leaf_next)++]);
        else if (is_scalar_like(n)) snprintf(idx, sizeof idx, "0");
        else if (flat) snprintf(idx, sizeof idx, "i");
        else leaf_index(e->g, &n->shape, out, idx, sizeof idx);
        elem(e, id, idx, buf, size);
        return;
    }
    int arity = n->op == OP_BROADCAST ? 1 : op_info[n->op].arity;
    char *a[2] = {NULL, NULL};
    for (int k = 0; k < arity; k++) {
        a[k] = malloc(size);
        if (!a[k]) abort();
        fused_expr(e, n->in[k], out, flat, a[k], size);
    }
    const char *args[2] = {a[0], a[1]};
    elementwise_expr(e, n, args, buf, size);
    free(a[0]);
    free(a[1]);
}

/* The leaves of the fused tree at id, in fused_expr's visit order (at most max). */
static int fused_leaves(const E *e, int id, int root, int *ids, int n, int max) {
    const Node *nd = &e->g->nodes[id];
    if (id != root && (e->fuse_user[id] < 0 || op_info[nd->op].kind == OK_LEAF)) {
        if (n < max) ids[n] = id;
        return n + 1;
    }
    int arity = nd->op == OP_BROADCAST ? 1 : op_info[nd->op].arity;
    for (int k = 0; k < arity; k++) n = fused_leaves(e, nd->in[k], root, ids, n, max);
    return n;
}

/* Does the fused tree at root call exp or erf? Such trees run as bprt_ew programs on every
 * path but --standalone (whose runtime has no ew.c): the runtime computes exp and erf a
 * block at a time (vmath.c), where a loop calling bp_exp per element would not vectorise. */
static int calls_vmath(const E *e, int id, int root) {
    const Node *nd = &e->g->nodes[id];
    if (id != root && (e->fuse_user[id] < 0 || op_info[nd->op].kind == OK_LEAF)) return 0;
    if (nd->op == OP_EXP || nd->op == OP_SIGMOID || nd->op == OP_GELU || nd->op == OP_GELU_GRAD ||
        nd->op == OP_SOFTPLUS || nd->op == OP_BCE_LOGITS)
        return 1;
    int arity = nd->op == OP_BROADCAST ? 1 : op_info[nd->op].arity;
    for (int k = 0; k < arity; k++)
        if (calls_vmath(e, nd->in[k], root)) return 1;
    return 0;
}

/* Is the leaf of shape `in` read along output axis ax (not broadcast over it)? */
static int reads_axis(const Shape *in, const Shape *out, int ax) {
    int la = ax - (out->rank - in->rank);
    return la >= 0 && !dim_is(in->d[la], 1);
}

/* ---- the fused tree as a bprt_ew program (ew.c), for code libtcc compiles ---- */
typedef struct EwProg {
    int32_t code[256];
    int ncode, depth, maxdepth, nleaf;
    char konst[32][128];
    int nk;
} EwProg;

static int ew_opcode(Op op) {
    switch (op) {
    case OP_NEG: return BPRT_EW_NEG;
    case OP_EXP: return BPRT_EW_EXP;
    case OP_LOG: return BPRT_EW_LOG;
    case OP_SQRT: return BPRT_EW_SQRT;
    case OP_ABS: return BPRT_EW_ABS;
    case OP_SIN: return BPRT_EW_SIN;
    case OP_COS: return BPRT_EW_COS;
    case OP_TANH: return BPRT_EW_TANH;
    case OP_SIGMOID: return BPRT_EW_SIGMOID;
    case OP_RELU: return BPRT_EW_RELU;
    case OP_LEAKY_RELU: return BPRT_EW_LEAKY_RELU;
    case OP_GELU: return BPRT_EW_GELU;
    case OP_SOFTPLUS: return BPRT_EW_SOFTPLUS;
    case OP_POWI: return BPRT_EW_POWI;
    case OP_SIGN: return BPRT_EW_SIGN;
    case OP_STEP: return BPRT_EW_STEP;
    case OP_LEAKY_STEP: return BPRT_EW_LEAKY_STEP;
    case OP_GELU_GRAD: return BPRT_EW_GELU_GRAD;
    case OP_ADD: return BPRT_EW_ADD;
    case OP_SUB: return BPRT_EW_SUB;
    case OP_MUL: return BPRT_EW_MUL;
    case OP_DIV: return BPRT_EW_DIV;
    case OP_POW: return BPRT_EW_POW;
    case OP_MAXIMUM: return BPRT_EW_MAXIMUM;
    case OP_MINIMUM: return BPRT_EW_MINIMUM;
    case OP_GT: return BPRT_EW_GT;
    case OP_EQ: return BPRT_EW_EQ;
    case OP_MASK_MUL: return BPRT_EW_MASK_MUL;
    case OP_BCE: return BPRT_EW_BCE;
    case OP_BCE_LOGITS: return BPRT_EW_BCE_LOGITS;
    default: return -1;
    }
}

static int ew_word(EwProg *p, int32_t w) {
    if (p->ncode >= (int)(sizeof p->code / sizeof p->code[0])) return 0;
    p->code[p->ncode++] = w;
    return 1;
}

static int ew_const(const E *e, EwProg *p, int id, double value, int from_node) {
    if (p->nk >= 32) return -1;
    if (from_node) elem(e, id, "0", p->konst[p->nk], sizeof p->konst[p->nk]);
    else real_literal(value, "double", p->konst[p->nk], sizeof p->konst[p->nk]);
    return p->nk++;
}

/* Postfix code for the tree at id; leaves numbered in fused_leaves' order. 0: no form. */
static int ew_build(const E *e, EwProg *p, int id, int root) {
    const Node *n = &e->g->nodes[id];
    if (id != root && (e->fuse_user[id] < 0 || op_info[n->op].kind == OK_LEAF)) {
        int leaf = p->nleaf++;
        if (++p->depth > p->maxdepth) p->maxdepth = p->depth;
        if (n->op == OP_CONST || n->op == OP_DIMVAL) {
            int k = ew_const(e, p, id, 0, 1);
            return k >= 0 && ew_word(p, BPRT_EW_CONST) && ew_word(p, k);
        }
        return ew_word(p, BPRT_EW_LEAF) && ew_word(p, leaf);
    }
    if (n->op == OP_BROADCAST) return ew_build(e, p, n->in[0], root);
    if (n->op == OP_MASK_MUL && e->g->nodes[n->in[1]].op == OP_STEP && e->fuse_user[n->in[1]] == id) {
        /* relu's derivative, g through step(y): one op */
        if (!ew_build(e, p, n->in[0], root) || !ew_build(e, p, e->g->nodes[n->in[1]].in[0], root)) return 0;
        p->depth--;
        return ew_word(p, BPRT_EW_MASK_POS);
    }
    int opc = ew_opcode(n->op);
    if (opc < 0) return 0;
    for (int k = 0; k < op_info[n->op].arity; k++)
        if (!ew_build(e, p, n->in[k], root)) return 0;
    if (op_info[n->op].arity == 2) p->depth--;
    if (!ew_word(p, opc)) return 0;
    if (n->op == OP_POWI) return ew_word(p, n->ival);
    if (n->op == OP_LEAKY_RELU || n->op == OP_LEAKY_STEP) {
        int k = ew_const(e, p, id, n->value, 0);
        return k >= 0 && ew_word(p, k);
    }
    return 1;
}

/* Declares c_ (code), k_ (constants) and v_ (which leaves advance) for the tree at id. */
static int ew_emit_tables(E *e, int id, const int *vec, int nl) {
    EwProg *p = calloc(1, sizeof *p);
    if (!p) abort();
    int ok = ew_build(e, p, id, id) && p->maxdepth <= BPRT_EW_DEPTH && p->nleaf == nl;
    if (ok) {
        fprintf(e->out, "        static const int32_t c_[] = {");
        for (int i = 0; i < p->ncode; i++) fprintf(e->out, "%s%d", i ? ", " : "", (int)p->code[i]);
        fprintf(e->out, "};\n        const double k_[] = {");
        for (int i = 0; i < p->nk; i++) fprintf(e->out, "%s%s", i ? ", " : "", p->konst[i]);
        fprintf(e->out, "%s};\n        static const unsigned char v_[] = {", p->nk ? "" : "0");
        for (int l = 0; l < nl; l++) fprintf(e->out, "%s%d", l ? ", " : "", vec[l]);
        fprintf(e->out, "%s};\n        (void)k_;\n", nl ? "" : "0");
    }
    int ncode = p->ncode;
    free(p);
    return ok ? ncode : 0;
}

/* Does the fused tree at u make a program of nl leaves that bprt_ew_rows can run (an
 * epilogue's)? */
static int ew_program_fits(const E *e, int u, int nl) {
    EwProg *prog = calloc(1, sizeof *prog);
    if (!prog) abort();
    int ok = ew_build(e, prog, u, u) && prog->maxdepth <= BPRT_EW_DEPTH && prog->nleaf == nl;
    free(prog);
    return ok;
}

/* Declares l_: each leaf's pointer (constants have none, scalars their own, the rest offset
 * by their row base b<k> when `rows`). */
static void ew_emit_leaves(E *e, const int *leaves, int nl, int rows, const char *indent) {
    char p[96];
    fprintf(e->out, "%sconst real *l_[] = {", indent);
    for (int l = 0; l < nl; l++) {
        const Node *ln = &e->g->nodes[leaves[l]];
        if (ln->op == OP_CONST || ln->op == OP_DIMVAL) fprintf(e->out, "%s0", l ? ", " : "");
        else if (!rows || is_scalar_like(ln)) fprintf(e->out, "%s%s", l ? ", " : "", ptr(e, leaves[l], p, sizeof p));
        else fprintf(e->out, "%s%s + b%d", l ? ", " : "", ptr(e, leaves[l], p, sizeof p), l);
    }
    fprintf(e->out, "%s};\n", nl ? "" : "0");
}

/* Declares l_ and calls bprt_ew over n elements into dst. */
static void ew_emit_call(E *e, const int *leaves, int nl, int rows, const char *indent, int ncode, const char *n,
                         const char *dst) {
    ew_emit_leaves(e, leaves, nl, rows, indent);
    fprintf(e->out, "%sbprt_ew_%s(c_, %d, k_, l_, v_, %s, %s);\n", indent, e->o->f64 ? "f64" : "f32", ncode, n, dst);
}

/* A broadcasting elementwise loop. The output's axes are merged into groups inside which
 * every leaf is either read along all axes or broadcast over all of them; the groups
 * become the loops, the last one a unit-stride inner loop (j) with each leaf's offset
 * (b<k>) computed once per row, which compilers vectorise and tcc runs without index
 * arithmetic per element. Returns 0 (nothing written) when the tree is too large. */
/* The stride in leaf ln of output group [from, to) (its last axis of extent > 1) into st, and
 * 1; 0 (st "0") where the leaf is broadcast over that group. */
static int group_stride(const Graph *g, const Shape *os, const Node *ln, int from, int to, char *st, size_t size) {
    int ax = to - 1;
    while (ax > from && dim_is(os->d[ax], 1)) ax--;
    snprintf(st, size, "0");
    if (is_scalar_like(ln) || !reads_axis(&ln->shape, os, ax)) return 0;
    const int la = to - (os->rank - ln->shape.rank);
    dims_c(g, &ln->shape, la < 0 ? 0 : la, ln->shape.rank, st, size);
    return 1;
}

static int emit_grouped_broadcast(E *e, int id, const char *out, int ew) {
    enum { MAXL = 32, EXPR = 32768 };
    const Graph *g = e->g;
    const Shape *os = &g->nodes[id].shape;
    int leaves[MAXL];
    int nl = fused_leaves(e, id, id, leaves, 0, MAXL);
    if (nl > MAXL || os->rank > 8) return 0;
    int from[8], to[8], ng = 0;
    for (int ax = 0; ax < os->rank; ax++) {
        if (dim_is(os->d[ax], 1) && ng) { to[ng - 1] = ax + 1; continue; } /* extent 1 joins any group */
        int same = ng > 0;
        for (int l = 0; l < nl && same; l++) {
            const Node *ln = &g->nodes[leaves[l]];
            if (is_scalar_like(ln)) continue;
            int prev = to[ng - 1] - 1;
            while (prev > from[ng - 1] && dim_is(os->d[prev], 1)) prev--;
            same = reads_axis(&ln->shape, os, ax) == reads_axis(&ln->shape, os, prev);
        }
        if (same) to[ng - 1] = ax + 1;
        else { from[ng] = ax; to[ng] = ax + 1; ng++; }
    }
    char ext[8][DIMS_C_MAX], *idx[MAXL];
    for (int k = 0; k < ng; k++) dims_c(g, os, from[k], to[k], ext[k], sizeof ext[k]);
    int vec[MAXL] = {0}, ncode = 0;
    for (int l = 0; l < nl; l++) {
        const Node *ln = &g->nodes[leaves[l]];
        int last = to[ng - 1] - 1;
        while (last > from[ng - 1] && dim_is(os->d[last], 1)) last--;
        vec[l] = !is_scalar_like(ln) && reads_axis(&ln->shape, os, last);
    }
    /* two groups, the outer one rows: gcc's and clang's loops, or where the runtime splits
       the rows between threads, bprt_ew_rows_par (see emit_elementwise) */
    if (!ew && !e->o->standalone && ng == 2 && ew_program_fits(e, id, nl)) {
        char total[DIMS_C_MAX];
        numel_c(g, os, total, sizeof total);
        fprintf(e->out, "    if (bprt_ew_threads(%s) > 1) {\n", total);
        ncode = ew_emit_tables(e, id, vec, nl);
        ew_emit_leaves(e, leaves, nl, 0, "        ");
        fprintf(e->out, "        const ptrdiff_t ld_[] = {");
        for (int l = 0; l < nl; l++) { /* the leaf's row stride: 0 where it is broadcast over the rows */
            char st[DIMS_C_MAX];
            group_stride(g, os, &g->nodes[leaves[l]], from[0], to[0], st, sizeof st);
            fprintf(e->out, "%s(ptrdiff_t)%s", l ? ", " : "", st);
        }
        fprintf(e->out, "%s};\n        bprt_ew_rows_par_%s(c_, %d, k_, l_, %d, ld_, v_, %s, %s, %s, (ptrdiff_t)%s);\n    } else\n",
                nl ? "" : "0", e->o->f64 ? "f64" : "f32", ncode, nl, ext[0], ext[1], out, ext[1]);
    }
    fprintf(e->out, "    {\n        size_t o = 0;\n");
    if (ew && !(ncode = ew_emit_tables(e, id, vec, nl))) {
        fprintf(e->out, "        (void)o;\n    }\n");
        return 0;
    }
    for (int k = 0; k + 1 < ng; k++)
        fprintf(e->out, "        for (size_t g%d = 0; g%d < %s; g%d++)\n", k, k, ext[k], k);
    fprintf(e->out, "        {\n");
    for (int l = 0; l < nl; l++) {
        const Node *ln = &g->nodes[leaves[l]];
        idx[l] = malloc(64);
        if (!idx[l]) abort();
        if (is_scalar_like(ln)) { snprintf(idx[l], 64, "0"); continue; }
        /* offset of the leaf's row: sum over outer groups it reads of g<k> * its stride */
        fprintf(e->out, "            const size_t b%d = 0", l);
        for (int k = 0; k + 1 < ng; k++) {
            char st[DIMS_C_MAX];
            if (group_stride(g, os, ln, from[k], to[k], st, sizeof st)) fprintf(e->out, " + g%d * %s", k, st);
        }
        fprintf(e->out, ";\n");
        int last = to[ng - 1] - 1;
        while (last > from[ng - 1] && dim_is(os->d[last], 1)) last--;
        snprintf(idx[l], 64, reads_axis(&ln->shape, os, last) ? "b%d + j" : "b%d", l);
    }
    if (ew) {
        char dst[128];
        snprintf(dst, sizeof dst, "%s + o", out);
        ew_emit_call(e, leaves, nl, 1, "            ", ncode, ext[ng - 1], dst);
        fprintf(e->out, "            o += %s;\n        }\n    }\n", ext[ng - 1]);
        for (int l = 0; l < nl; l++) free(idx[l]);
        return 1;
    }
    char *ex = malloc(EXPR);
    if (!ex) abort();
    int saved = e->fuse_user[id];
    e->fuse_user[id] = id;
    int next = 0;
    e->leaf_idx = idx;
    e->leaf_next = &next;
    fused_expr(e, id, os, 0, ex, EXPR);
    e->leaf_idx = NULL;
    e->fuse_user[id] = saved;
    fprintf(e->out, "            for (size_t j = 0; j < %s; j++) %s[o + j] = %s;\n", ext[ng - 1], out, ex);
    fprintf(e->out, "            o += %s;\n        }\n    }\n", ext[ng - 1]);
    for (int l = 0; l < nl; l++) free(idx[l]);
    free(ex);
    return 1;
}

static void emit_elementwise(E *e, int id) {
    const Node *n = &e->g->nodes[id];
    const Graph *g = e->g;
    char out[96], total[DIMS_C_MAX];
    /* fuse.c joins at most 8 nodes into a tree: at most 9 leaves of ptr (78) + [INDEX_C_MAX],
       and 8 calls or operators around them (an argument written twice only under 200
       characters: elementwise_expr): under 20,000 bytes */
    enum { EXPR = 32768 };
    char *ex = malloc(EXPR);
    if (!ex) abort();
    ptr(e, id, out, sizeof out);
    numel_c(g, &n->shape, total, sizeof total);
    int arity = n->op == OP_BROADCAST ? 1 : op_info[n->op].arity;
    int flat = 1;
    for (int k = 0; k < arity; k++) flat &= fused_flat(e, n->in[k], &n->shape);
    /* the node itself is the root of its fused tree */
    int saved = e->fuse_user[id];
    e->fuse_user[id] = id;
    fused_expr(e, id, &n->shape, flat, ex, EXPR);
    e->fuse_user[id] = saved;
    const int ew = e->o->ew_blocks || (!e->o->standalone && calls_vmath(e, id, id));
    /* gcc's and clang's own loop, except where the runtime splits the elements between
       threads (bprt_ew_threads > 1): their halves are then in the two cores' caches (a
       product's rows, a row kernel's), where one core's loop fetched the other's. tiny_gpt's
       [32, 64, 128] residual gradients' adds on 2 threads 0.14-0.15 -> 0.07-0.08 ms (0.03 on
       one), its gradient on 2 threads 13.2 -> 11.7 ms */
    const int par = !ew && !e->o->standalone && flat;
    if ((ew || par) && flat) { /* one bprt_ew call over all elements */
        enum { MAXL = 32 };
        int leaves[MAXL], vec[MAXL] = {0};
        int nl = fused_leaves(e, id, id, leaves, 0, MAXL);
        if (nl <= MAXL && (!par || ew_program_fits(e, id, nl))) {
            for (int l = 0; l < nl; l++) vec[l] = !is_scalar_like(&g->nodes[leaves[l]]);
            fprintf(e->out, par ? "    if (bprt_ew_threads(%s) > 1) {\n" : "    {\n", total);
            int ncode = ew_emit_tables(e, id, vec, nl);
            if (ncode) {
                ew_emit_call(e, leaves, nl, 0, "        ", ncode, total, out);
                if (!par) {
                    fprintf(e->out, "    }\n");
                    free(ex);
                    return;
                }
                fprintf(e->out, "    } else\n"); /* the loop below */
            } else fprintf(e->out, "    }\n");
        }
    }
    if (flat) {
        fprintf(e->out, "    for (size_t i = 0; i < %s; i++) %s[i] = %s;\n", total, out, ex);
        free(ex);
        return;
    }
    if ((ew && emit_grouped_broadcast(e, id, out, 1)) || emit_grouped_broadcast(e, id, out, 0)) {
        free(ex);
        return;
    }
    /* general broadcast: nested loops over the output, strided reads */
    int r = n->shape.rank;
    fprintf(e->out, "    {\n        size_t o = 0;\n");
    for (int ax = 0; ax < r; ax++) {
        char d[96];
        dim_c(n->shape.d[ax], &g->syms, d, sizeof d);
        fprintf(e->out, "        for (size_t i%d = 0; i%d < (size_t)%s; i%d++)\n", ax, ax, d, ax);
    }
    fprintf(e->out, "            %s[o++] = %s;\n    }\n", out, ex);
    free(ex);
}

/* outer / reduced / inner extents of an axis view */
static void axis_view(const Graph *g, const Shape *s, int axis, char *O, char *Rr, char *I, size_t size) {
    if (axis == AXIS_ALL) {
        snprintf(O, size, "1");
        numel_c(g, s, Rr, size);
        snprintf(I, size, "1");
        return;
    }
    dims_c(g, s, 0, axis, O, size);
    dims_c(g, s, axis, axis + 1, Rr, size);
    dims_c(g, s, axis + 1, s->rank, I, size);
}

/* The loop that makes m the maximum of a reduction's column src[r * ni], r < nr: a NaN
 * anywhere is the maximum (as PyTorch's max), not skipped. An empty column (a symbolic size
 * of 0) reads nothing: its maximum is -inf, so its logsumexp is log 0 = -inf too. */
static const char column_max[] =
    "        real m = nr ? src[0] : -(real)INFINITY;\n        for (size_t r = 1; r < nr; r++) if (src[r * ni] > m || src[r * ni] != src[r * ni]) m = src[r * ni];\n";

static void emit_reduce(E *e, int id) {
    const Node *n = &e->g->nodes[id];
    const Node *in = &e->g->nodes[n->in[0]];
    char O[DIMS_C_MAX], Rr[DIMS_C_MAX], I[DIMS_C_MAX], out[96], x[96];
    axis_view(e->g, &in->shape, n->axis, O, Rr, I, sizeof O);
    ptr(e, id, out, sizeof out);
    ptr(e, n->in[0], x, sizeof x);
    if (in->dtype != DT_INT) { /* the runtime's, blocked along rows (reduce.c: the order of the loops below) */
        fprintf(e->out, "    bprt_%s_axis_%s(%s, %s, %s, %s, %s);\n",
                n->op == OP_SUM ? "sum" : n->op == OP_MAX ? "max" : "logsumexp", e->o->f64 ? "f64" : "f32", x, O, Rr, I, out);
        return;
    }
    /* integers: a loop over each column */
    fprintf(e->out, "    for (size_t o = 0; o < %s; o++)\n      for (size_t j = 0; j < %s; j++) {\n", O, I);
    fprintf(e->out, "        const size_t nr = %s, ni = %s;\n        const %s *src = %s + o * nr * ni + j;\n", Rr, I,
            in->dtype == DT_INT ? "int32_t" : "real", x);
    switch (n->op) {
    case OP_SUM:
        fprintf(e->out, "        double acc = 0;\n        for (size_t r = 0; r < nr; r++) acc += src[r * ni];\n"
                        "        %s[o * ni + j] = (real)acc;\n",
                out);
        break;
    case OP_MAX:
        fprintf(e->out, "%s        %s[o * ni + j] = m;\n", column_max, out);
        break;
    case OP_LOGSUMEXP:
        /* a NaN anywhere is the maximum (the sum is NaN, as PyTorch's), not skipped: an
           infinity after it made the result that infinity */
        fprintf(e->out, "%s        double acc = 0;\n        if (bp_isinf(m)) { %s[o * ni + j] = m; continue; }\n"
                        "        for (size_t r = 0; r < nr; r++) acc += bp_exp(src[r * ni] - m);\n"
                        "        %s[o * ni + j] = m + (real)log(acc);\n",
                column_max, out, out);
        break;
    default: BP_ASSERT(!"not a reduction");
    }
    fprintf(e->out, "      }\n");
}

static void emit_softmax(E *e, int id) {
    const Node *n = &e->g->nodes[id];
    char O[DIMS_C_MAX], Rr[DIMS_C_MAX], I[DIMS_C_MAX], out[96], x[96];
    axis_view(e->g, &n->shape, n->axis, O, Rr, I, sizeof O);
    ptr(e, id, out, sizeof out);
    ptr(e, n->in[0], x, sizeof x);
    if (n->axis == n->shape.rank - 1) { /* contiguous rows: the runtime's (vmath.c) */
        fprintf(e->out, "    bprt_%s_%s(%s, %s, %s, %s);\n", n->op == OP_SOFTMAX ? "softmax" : "log_softmax",
                e->o->f64 ? "f64" : "f32", x, O, Rr, out);
        return;
    }
    /* another axis: the runtime's, blocked along rows (reduce.c; (x - m) - log s as vmath.c's
       rows, not x - (m + log s), which rounds log s away at m's magnitude: a column [1e30,
       1e30, 0] gave 0, not -log 2) */
    fprintf(e->out, "    bprt_%s_axis_%s(%s, %s, %s, %s, %s);\n", n->op == OP_SOFTMAX ? "softmax" : "log_softmax",
            e->o->f64 ? "f64" : "f32", x, O, Rr, I, out);
}

/* How a MATMUL node runs (pass_msum.c gives it summed batch axes, bsum): its full batch
 * shape (both operands' batch dims broadcast, then M, N; rb batch axes); kfold: the summed
 * axes fold into K, one GEMM per result matrix (they are the trailing batch axes, both
 * operands have them in full, and both step through k by rows: ta = 1, tb = 0); single:
 * the whole node is one GEMM. */
typedef struct MatmulRun {
    Shape full;
    int rb, kfold, mfold, single;
} MatmulRun;

static int popcount(int x) {
    int c = 0;
    for (; x; x &= x - 1) c++;
    return c;
}

static void matmul_run(const Graph *g, const Node *n, MatmulRun *r) {
    const Shape *sa = &g->nodes[n->in[0]].shape, *sb = &g->nodes[n->in[1]].shape;
    Shape ba = *sa, bb = *sb;
    ba.rank -= 2;
    bb.rank -= 2;
    if (shape_broadcast(&ba, &bb, &r->full) != 0) r->full = n->shape, r->full.rank -= 2; /* checked when built */
    r->rb = r->full.rank;
    r->full.d[r->full.rank++] = n->shape.d[n->shape.rank - 2];
    r->full.d[r->full.rank++] = n->shape.d[n->shape.rank - 1];
    const int nsum = popcount(n->bsum);
    int trail = 0;
    while (trail < r->rb && (n->bsum >> (r->rb - 1 - trail) & 1)) trail++;
    r->kfold = n->bsum && trail == nsum && n->ta && !n->tb;
    for (int f = r->rb - nsum; f < r->rb && r->kfold; f++)
        for (int k = 0; k < 2; k++) {
            const Shape *s = k ? sb : sa;
            const int ax = f - (r->rb - (s->rank - 2));
            r->kfold &= dim_is(r->full.d[f], 1) || (ax >= 0 && dim_eq(s->d[ax], r->full.d[f]));
        }
    /* mfold: b has no batch (or only 1s) and a, not transposed, has the full batch: the
       batch rows stack into M, one GEMM ([B, T, I] @ [I, O] is [B*T, I] @ [I, O]) */
    r->mfold = !n->bsum && !n->ta && r->rb > 0 && sa->rank - 2 == r->rb;
    for (int f = 0; f < sb->rank - 2 && r->mfold; f++) r->mfold &= dim_is(sb->d[f], 1);
    /* a folded M or K is one int of GEMM's: not past INT32_MAX in its numbers (the rows of
       x[50000, 50000, 1] @ w were cast to a negative M); the products then go one by one */
    int64_t m = 1, k = sa->d[sa->rank - 2].c;
    for (int f = 0; f <= r->rb; f++) m *= r->full.d[f].c;
    for (int f = r->rb - nsum; f < r->rb; f++) k *= r->full.d[f].c;
    if (m > INT32_MAX) r->mfold = 0;
    if (k > INT32_MAX) r->kfold = 0;
    r->single = r->rb == 0 || (r->kfold && nsum == r->rb) || r->mfold;
}

/* a size at dims; a symbol below 0 (one that only inputs the run does not need use, which the
   REPL's loss leaves at -1) counts as 1, as those runs give it */
static int64_t dim_at(Dim d, const int *dims) {
    return d.c * (d.sym >= 0 && dims[d.sym] >= 0 ? (int64_t)dims[d.sym] : 1);
}

/* p * d for p, d >= 0, saturated at INT64_MAX */
static int64_t mul_sat(int64_t p, int64_t d) { return d && p > INT64_MAX / d ? INT64_MAX : p * d; }

/* The ints a run's code holds that grow with the symbolic sizes, each a product of dims:
 * every value's size along each axis (the generated code writes c * dim_X as an int product;
 * what = "size"), and for a matrix product its M with the batch's rows folded in ("rows") or
 * its K with summed batch axes folded in ("terms"), cast to one of GEMM's ints. fn is told
 * each (the node, what, its factors); the first node for which it returns nonzero is
 * returned, else -1. emit_int_overflow checks them at given sizes, and the generated
 * NAME_sizes_ok_ at the caller's (int_monos). */
typedef int (*IntCountFn)(void *ctx, int node, const char *what, const Dim *f, int nf);
static int int_counts(const Graph *g, IntCountFn fn, void *ctx) {
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        for (int k = 0; k < n->shape.rank; k++)
            if (fn(ctx, i, "size", &n->shape.d[k], 1)) return i;
        if (n->op != OP_MATMUL) continue;
        MatmulRun r;
        matmul_run(g, n, &r);
        if (r.mfold && fn(ctx, i, "rows", r.full.d, r.rb + 1)) return i;
        const Node *a = &g->nodes[n->in[0]];
        const int nsum = popcount(n->bsum);
        Dim f[BP_MAXRANK + 1];
        for (int k = 0; k < nsum; k++) f[k] = r.full.d[r.rb - nsum + k];
        f[nsum] = a->shape.d[a->shape.rank - 1 - (n->ta ? 1 : 0)];
        if (r.kfold && fn(ctx, i, "terms", f, nsum + 1)) return i;
    }
    return -1;
}

typedef struct IntAt {
    const int *dims;
    int64_t value;
    const char *what;
} IntAt;

static int int_past_max(void *ctx, int node, const char *what, const Dim *f, int nf) {
    IntAt *c = ctx;
    (void)node;
    c->value = 1;
    for (int k = 0; k < nf; k++) c->value = mul_sat(c->value, dim_at(f[k], c->dims));
    c->what = what;
    return c->value > INT32_MAX;
}

int emit_int_overflow(const Graph *g, const int *dims, int64_t *value, const char **what) {
    IntAt c = {dims, 0, NULL};
    const int at = int_counts(g, int_past_max, &c);
    *value = c.value;
    *what = c.what;
    return at;
}

/* Those ints as monomials c * S1^e1 * ... of the symbolic sizes, one per exponent vector with
 * the largest c (for sizes >= 0 it bounds the others), none constant (sema and matmul_run
 * keep constants in range) nor a bare symbol (an int already) */
typedef struct Mono {
    int64_t c;
    unsigned char e[BP_MAXSYMS];
} Mono;
typedef struct Monos {
    Mono *m;
    int n, cap;
} Monos;

static int int_mono_add(void *ctx, int node, const char *what, const Dim *f, int nf) {
    Monos *ms = ctx;
    Mono m;
    int deg = 0;
    (void)node, (void)what;
    memset(&m, 0, sizeof m);
    m.c = 1;
    for (int k = 0; k < nf; k++) {
        m.c = mul_sat(m.c, f[k].c);
        if (f[k].sym >= 0) m.e[f[k].sym]++, deg++;
    }
    if (deg == 0 || (deg == 1 && m.c == 1)) return 0;
    for (int j = 0; j < ms->n; j++)
        if (memcmp(ms->m[j].e, m.e, sizeof m.e) == 0) {
            if (m.c > ms->m[j].c) ms->m[j].c = m.c;
            return 0;
        }
    BP_ASSERT(ms->n < ms->cap);
    ms->m[ms->n++] = m;
    return 0;
}

static Monos int_monos(const Graph *g) {
    Monos ms = {NULL, 0, 0};
    for (int i = 0; i < g->n; i++) ms.cap += g->nodes[i].shape.rank + 2;
    ms.m = arena_alloc(g->arena, ((size_t)ms.cap + 1) * sizeof *ms.m);
    int_counts(g, int_mono_add, &ms);
    return ms;
}

/* A monomial as text: "16*B", "B*T", with names prefixed by `pre` ("" or "dim_") and, with
   dbl, each factor a double ("(double)16*(double)B") */
static void mono_text(const Graph *g, const Mono *m, const char *pre, int dbl, char *buf, size_t size) {
    size_t n = 0;
    const char *cast = dbl ? "(double)" : "";
    buf[0] = 0;
    if (m->c != 1) n += (size_t)snprintf(buf + n, size - n, "%s%lld", cast, (long long)m->c);
    for (int s = 0; s < g->syms.n; s++)
        for (int k = 0; k < m->e[s] && n < size; k++)
            n += (size_t)snprintf(buf + n, size - n, "%s%s%s%s", n ? "*" : "", cast, pre, g->syms.names[s]);
}

/* static int NAME_sizes_ok_(dims): 1 if every function takes these sizes: none negative, and
   no int of int_counts past 2147483647 (in double: exact up to there, and above it a product
   rounds to at least 2^31) */
static void emit_sizes_ok(FILE *out, const Graph *g) {
    if (!g->syms.n) return;
    const Monos ms = int_monos(g);
    fprintf(out, "static int %s_sizes_ok_(", g->model);
    for (int s = 0; s < g->syms.n; s++) fprintf(out, "%sint dim_%s", s ? ", " : "", g->syms.names[s]);
    fprintf(out, ") {\n    if (");
    for (int s = 0; s < g->syms.n; s++) fprintf(out, "%sdim_%s < 0", s ? " || " : "", g->syms.names[s]);
    fprintf(out, ") return 0;\n");
    for (int j = 0; j < ms.n; j++) {
        char t[1024]; /* at most BP_MAXRANK + 1 factors of 8 + 4 + BP_DIM_NAME_MAX + 1 characters, and a number */
        mono_text(g, &ms.m[j], "dim_", 1, t, sizeof t);
        fprintf(out, "    if (%s > 2147483647.0) return 0;\n", t);
    }
    fprintf(out, "    return 1;\n}\n\n");
}

/* the call of NAME_sizes_ok_ with the function's sizes */
static void sizes_ok_call(FILE *out, const Graph *g) {
    fprintf(out, "%s_sizes_ok_(", g->model);
    for (int s = 0; s < g->syms.n; s++) fprintf(out, "%sdim_%s", s ? ", " : "", g->syms.names[s]);
    fprintf(out, ")");
}

/* One product's GEMM arguments as C: sizes (K or M with the folded axes) and leading dims. */
typedef struct GemmArgs {
    char M[DIMS_C_MAX + 16], N[96], K[DIMS_C_MAX + 128], lda[96], ldb[96], pa[96], pb[96];
} GemmArgs;

static void gemm_args(const E *e, const Node *n, const MatmulRun *r, GemmArgs *q) {
    const Graph *g = e->g;
    const Node *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
    ptr(e, n->in[0], q->pa, sizeof q->pa);
    ptr(e, n->in[1], q->pb, sizeof q->pb);
    if (r->mfold) {
        char d[DIMS_C_MAX];
        dims_c(g, &r->full, 0, r->rb + 1, d, sizeof d);
        snprintf(q->M, sizeof q->M, "(int)%s", d);
    } else dim_c(n->shape.d[n->shape.rank - 2], &g->syms, q->M, sizeof q->M);
    dim_c(n->shape.d[n->shape.rank - 1], &g->syms, q->N, sizeof q->N);
    dim_c(a->shape.d[a->shape.rank - 1 - (n->ta ? 1 : 0)], &g->syms, q->K, sizeof q->K);
    if (r->kfold) {
        char k0[96], d[DIMS_C_MAX];
        snprintf(k0, sizeof k0, "%.95s", q->K);
        dims_c(g, &r->full, r->rb - popcount(n->bsum), r->rb, d, sizeof d);
        snprintf(q->K, sizeof q->K, "(int)(%s*(size_t)%s)", d, k0);
    }
    dim_c(a->shape.d[a->shape.rank - 1], &g->syms, q->lda, sizeof q->lda);
    dim_c(b->shape.d[b->shape.rank - 1], &g->syms, q->ldb, sizeof q->ldb);
}

/* ---- GEMM epilogues ----
 * An elementwise node emitted right after a single GEMM (nothing in between), of the
 * product's shape, whose fused tree reads the product and otherwise only arrays of its
 * shape, row vectors along its last axis (a bias) and scalars, is computed by the GEMM's
 * threads on each finished block of C (bprt_?gemm_ew), not by a pass of its own over
 * memory: relu(x @ W + b) in a forward pass, g @ W^T * step(h) in a backward one. Not when
 * its output shares storage with the product's operands (the GEMM still reads them) or
 * with a leaf read at other elements (a broadcast row), nor with --standalone (no ew.c). */
enum { EP_SCALAR, EP_FULL, EP_ROW };

static int epilogue_leaf_kind(const Node *leaf, const Shape *out) {
    if (is_scalar_like(leaf)) return EP_SCALAR;
    if (shape_eq(&leaf->shape, out)) return EP_FULL;
    const Shape *s = &leaf->shape;
    if (s->rank < 1 || s->rank > out->rank || !dim_eq(s->d[s->rank - 1], out->d[out->rank - 1])) return -1;
    for (int ax = 0; ax + 1 < s->rank; ax++)
        if (!dim_is(s->d[ax], 1)) return -1;
    return EP_ROW;
}


static int epilogue_ok(const E *e, int mm, int u) {
    enum { MAXL = BPRT_EW_MAX_LEAVES };
    const Graph *g = e->g;
    const Node *m = &g->nodes[mm], *n = &g->nodes[u];
    const OpKind k = op_info[n->op].kind;
    if ((k != OK_UNARY && k != OK_BINARY) || n->op == OP_BROADCAST || !shape_eq(&m->shape, &n->shape)) return 0;
    if (e->sm && e->sm[u].mm >= 0) return 0; /* an attention chain's end (emit_sm) */
    MatmulRun r;
    matmul_run(g, m, &r);
    if (!r.single || m->bsum) return 0;
    int leaves[MAXL + 1];
    int nl = fused_leaves(e, u, u, leaves, 0, MAXL + 1), reads_product = 0;
    if (nl > MAXL) return 0;
    char out[96], p[96], a[96], b[96];
    ptr(e, u, out, sizeof out);
    if (!strcmp(out, ptr(e, m->in[0], a, sizeof a)) || !strcmp(out, ptr(e, m->in[1], b, sizeof b))) return 0;
    for (int l = 0; l < nl; l++) {
        const Node *ln = &g->nodes[leaves[l]];
        int kind = epilogue_leaf_kind(ln, &n->shape);
        if (kind < 0) return 0;
        reads_product |= leaves[l] == mm;
        if (kind != EP_FULL && ln->op != OP_CONST && ln->op != OP_DIMVAL && !strcmp(out, ptr(e, leaves[l], p, sizeof p)))
            return 0;
    }
    if (!reads_product) return 0;
    return ew_program_fits(e, u, nl);
}

/* ---- layer epilogues ----
 * Likewise the elementwise node emitted right after a convolution or a max-pooling gradient,
 * of the layer's shape, whose fused tree reads the layer's result and otherwise only arrays
 * of its shape, scalars and (after a convolution) per-channel values such as a bias
 * [O, 1, 1]: the layer's threads compute it image by image (plane by plane) as each is
 * finished, while it is in cache (bprt_conv2d_ew, bprt_maxpool2d_grad_ew): relu(conv2d(x, K)
 * + c) in a forward pass, maxpool2d_grad(h, g) * step(h) in a backward one. Not when its
 * output shares storage with the layer's operands or scratch, nor with --standalone. */
enum { EP_CHAN = EP_ROW + 1 };

static int layer_leaf_kind(const Node *leaf, const Shape *out, int chan) {
    if (is_scalar_like(leaf)) return EP_SCALAR;
    if (shape_eq(&leaf->shape, out)) return EP_FULL;
    const Shape *s = &leaf->shape;
    const int off = out->rank - s->rank;
    if (!chan || out->rank != 4 || off < 0) return -1;
    for (int ax = 0; ax < s->rank; ax++)
        if (ax + off == 1 ? !dim_eq(s->d[ax], out->d[1]) : !dim_is(s->d[ax], 1)) return -1;
    return EP_CHAN;
}

static int layer_epilogue_ok(const E *e, int l, int u) {
    enum { MAXL = BPRT_EW_MAX_LEAVES };
    const Graph *g = e->g;
    const Node *m = &g->nodes[l], *n = &g->nodes[u];
    const OpKind k = op_info[n->op].kind;
    if ((k != OK_UNARY && k != OK_BINARY) || n->op == OP_BROADCAST || !shape_eq(&m->shape, &n->shape)) return 0;
    if (e->sm && e->sm[u].mm >= 0) return 0; /* an attention chain's end (emit_sm) */
    int leaves[MAXL + 1];
    int nl = fused_leaves(e, u, u, leaves, 0, MAXL + 1), reads_result = 0;
    if (nl > MAXL) return 0;
    char out[96], p[96];
    ptr(e, u, out, sizeof out);
    for (int a = 0; a < op_info[m->op].arity; a++)
        if (!strcmp(out, ptr(e, m->in[a], p, sizeof p))) return 0;
    if (m->op == OP_CONV2D) {
        snprintf(p, sizeof p, "t%d", e->plan->scratch[l]);
        if (!strcmp(out, p)) return 0;
    }
    for (int i = 0; i < nl; i++) {
        const Node *ln = &g->nodes[leaves[i]];
        int kind = layer_leaf_kind(ln, &n->shape, m->op == OP_CONV2D);
        if (kind < 0) return 0;
        reads_result |= leaves[i] == l;
        if (kind != EP_FULL && ln->op != OP_CONST && ln->op != OP_DIMVAL && !strcmp(out, ptr(e, leaves[i], p, sizeof p)))
            return 0;
    }
    if (!reads_result) return 0;
    return ew_program_fits(e, u, nl);
}

/* Can the weight gradient u be computed in one call with the input gradient i (the same
 * output gradient and window, emitted next)? Neither output may share storage with the
 * other's operands, the other output or the scratch. */
static int conv_grads_pair_ok(const E *e, int i, int u) {
    const Graph *g = e->g;
    const Node *gxn = &g->nodes[i], *gwn = &g->nodes[u];
    if (gwn->op != OP_CONV2D_GRAD_W || gwn->in[1] != gxn->in[0] || memcmp(gwn->win, gxn->win, sizeof gxn->win) != 0 ||
        !shape_eq(&g->nodes[gwn->in[0]].shape, &gxn->shape) || !shape_eq(&g->nodes[gxn->in[1]].shape, &gwn->shape) ||
        e->plan->scratch[i] < 0)
        return 0;
    char ox[96], ow[96], x[96], gy[96], w[96], sc[96];
    ptr(e, i, ox, sizeof ox), ptr(e, u, ow, sizeof ow), ptr(e, gwn->in[0], x, sizeof x);
    ptr(e, gxn->in[0], gy, sizeof gy), ptr(e, gxn->in[1], w, sizeof w);
    snprintf(sc, sizeof sc, "t%d", e->plan->scratch[i]);
    const char *ops[] = {x, gy, w, sc};
    for (int k = 0; k < 4; k++)
        if (!strcmp(ox, ops[k]) || !strcmp(ow, ops[k])) return 0;
    return strcmp(ox, ow) != 0;
}

/* The call of layer id's _ew variant (head: its name and the layer's own arguments, up to
 * its result), rows of `row` elements and images of `image`. */
static void emit_layer_epilogue(E *e, int id, const char *head, const char *row, const char *image) {
    enum { MAXL = BPRT_EW_MAX_LEAVES };
    const Graph *g = e->g;
    const int u = e->epilogue[id];
    const Node *un = &g->nodes[u];
    int leaves[MAXL], vec[MAXL] = {0}, kind[MAXL];
    int nl = fused_leaves(e, u, u, leaves, 0, MAXL);
    char out[96];
    ptr(e, u, out, sizeof out);
    for (int l = 0; l < nl; l++) {
        kind[l] = layer_leaf_kind(&g->nodes[leaves[l]], &un->shape, g->nodes[id].op == OP_CONV2D);
        vec[l] = kind[l] == EP_FULL;
    }
    fprintf(e->out, "    /* %%%d = %s%s, on each finished image of the layer */\n    {\n", u, un->adjoint ? "adjoint " : "",
            op_info[un->op].name);
    int ncode = ew_emit_tables(e, u, vec, nl);
    BP_ASSERT(ncode > 0); /* layer_epilogue_ok built the same program */
    ew_emit_leaves(e, leaves, nl, 0, "        ");
    fprintf(e->out, "        const ptrdiff_t ld_[] = {");
    for (int l = 0; l < nl; l++)
        fprintf(e->out, "%s%s%s%s", l ? ", " : "", kind[l] == EP_FULL ? "(ptrdiff_t)(" : "",
                kind[l] == EP_FULL ? row : kind[l] == EP_CHAN ? "1" : "0", kind[l] == EP_FULL ? ")" : "");
    fprintf(e->out, "%s};\n        const ptrdiff_t is_[] = {", nl ? "" : "0");
    for (int l = 0; l < nl; l++)
        fprintf(e->out, "%s%s%s%s", l ? ", " : "", kind[l] == EP_FULL ? "(ptrdiff_t)(" : "", kind[l] == EP_FULL ? image : "0",
                kind[l] == EP_FULL ? ")" : "");
    fprintf(e->out, "%s};\n", nl ? "" : "0");
    fprintf(e->out, "        %s, c_, %d, k_, l_, %d, ld_, is_, v_, %s);\n    }\n", head, ncode, nl, out);
}

/* 1 if node i is not emitted at its own place in node order: a leaf, computed inline by a
 * user, a weight-gradient GEMM of the update, computed by a GEMM's epilogue or its loss's
 * pass, or emitted before a GEMM whose epilogue passed it. */
static int emitted_elsewhere(const E *e, int i) {
    return op_info[e->g->nodes[i].op].kind == OK_LEAF || e->fuse_user[i] >= 0 || (e->fused && e->fused[i]) ||
           e->computed_early[i] || (e->hoisted && e->hoisted[i] >= 0);
}

/* The next node after i that the emission loop emits on its own (g->n if none). */
static int next_emitted(const E *e, int i) {
    int u = i + 1;
    while (u < e->g->n && emitted_elsewhere(e, u)) u++;
    return u;
}

/* Is one of the products bet[0..nb) a leaf of u's fused tree (then u cannot be computed
 * before them, nor they before it)? */
static int products_feed(const E *e, int u, const int *bet, int nb) {
    enum { MAXL = BPRT_EW_MAX_LEAVES };
    int leaves[MAXL];
    int nl = fused_leaves(e, u, u, leaves, 0, MAXL);
    for (int k = 0; k < nb; k++)
        for (int l = 0; l < nl; l++)
            if (leaves[l] == bet[k]) return 1;
    return 0;
}

/* Can the node u, computed at the GEMM i's place, run before the products between them
 * (bet[0..nb), none of them its leaf)? They must neither read nor write its output's storage
 * (the plan may have given u a buffer that one of them reads for the last time). */
static int epilogue_moves_past(const E *e, int u, const int *bet, int nb) {
    const Graph *g = e->g;
    char out[96], p[96];
    ptr(e, u, out, sizeof out);
    for (int k = 0; k < nb; k++) {
        const Node *x = &g->nodes[bet[k]];
        if (!strcmp(out, ptr(e, bet[k], p, sizeof p)) || !strcmp(out, ptr(e, x->in[0], p, sizeof p)) ||
            !strcmp(out, ptr(e, x->in[1], p, sizeof p)))
            return 0;
    }
    return 1;
}

/* Can the products bet[0..nb) between the GEMM i and its epilogue's node u (none of them its
 * leaf) run before i instead (when u cannot move past them: its output's storage is what
 * one of them reads last, GELU's activations read by the weight gradient in tiny_gpt)? None
 * may read i or write what i reads or writes (the plan may have given one of them a buffer
 * whose last reader is i), or u's output. */
static int products_hoist_before(const E *e, int i, int u, const int *bet, int nb) {
    const Graph *g = e->g;
    const Node *m = &g->nodes[i];
    char ob[96], p[96];
    for (int k = 0; k < nb; k++) {
        const Node *x = &g->nodes[bet[k]];
        if (x->in[0] == i || x->in[1] == i || (e->fused && e->fused[bet[k]])) return 0;
        ptr(e, bet[k], ob, sizeof ob);
        if (!strcmp(ob, ptr(e, i, p, sizeof p)) || !strcmp(ob, ptr(e, m->in[0], p, sizeof p)) ||
            !strcmp(ob, ptr(e, m->in[1], p, sizeof p)) || !strcmp(ob, ptr(e, u, p, sizeof p)))
            return 0;
    }
    return 1;
}

/* Makes e->rd, which readers_of reads, if not made yet (the memory plans mark_fused tries
 * need it only for an attention's gradient, in plan_sm). */
static void need_readers(E *e) {
    if (!e->rd) e->rd = ir_readers(e->g);
}

/* Readers of node id (a root counts as one), *last the last node reading it (left as it
 * is if none). */
static int readers_of(const E *e, int id, int *last) {
    const Readers *r = e->rd;
    BP_ASSERT(r);
    const int n = r->first[id + 1] - r->first[id];
    if (n) *last = r->user[r->first[id + 1] - 1];
    return n + r->root[id];
}

/* Is r a reshape of u to a matrix of u's row length, in u's storage, read by one node (a
 * view: nothing to emit)? */
static int is_alias_view(const E *e, int r, int u) {
    const Graph *g = e->g;
    const Node *rn = &g->nodes[r], *un = &g->nodes[u];
    int last = -1;
    if (rn->op != OP_RESHAPE || rn->in[0] != u || rn->shape.rank != 2 || un->shape.rank < 2 ||
        !dim_eq(rn->shape.d[1], un->shape.d[un->shape.rank - 1]) || readers_of(e, r, &last) != 1 || last < 0)
        return 0;
    char a[96], b[96];
    return strcmp(ptr(e, r, a, sizeof a), ptr(e, u, b, sizeof b)) == 0;
}

/* Can the GEMM i, whose epilogue computes u, also make s, the sum of u over its first axis
 * (in the order bprt_sum_axis adds)? u must be a matrix: the sums of a [B, T, N] result over
 * B are T rows of N, kept in double, which the blocks' rows then add to in turn (tiny_gpt's
 * [32, 64, 512]: 256 KB of sums, its input gradient's GEMM and the pass 2.21 -> 2.37 ms);
 * s must come after u, read only u, and have storage of its own. */
static int ep_sum_ok(const E *e, int i, int u, int s) {
    const Graph *g = e->g;
    const Node *m = &g->nodes[i], *un = &g->nodes[u], *sn = &g->nodes[s];
    if (sn->op != OP_SUM || s < u || sn->axis != 0 || un->dtype == DT_INT || m->bsum) return 0;
    if (sn->in[0] != u) { /* the sum of u's [B*T, N] view (ad_unbroadcast's merged axes) */
        if (!is_alias_view(e, sn->in[0], u)) return 0;
        un = &g->nodes[sn->in[0]];
    }
    if (un->shape.rank != 2) return 0;
    MatmulRun r;
    matmul_run(g, m, &r);
    if (!r.single) return 0;
    char o[96], p[96];
    ptr(e, s, o, sizeof o);
    if (strcmp(o, ptr(e, u, p, sizeof p)) == 0 || strcmp(o, ptr(e, i, p, sizeof p)) == 0) return 0;
    /* nor any operand or leaf (bprt_?gemm_ew_sum's contract: y overlaps none of them; the
       merged plan may give s a dead operand's buffer) */
    for (int k = 0; k < 2; k++)
        if (strcmp(o, ptr(e, m->in[k], p, sizeof p)) == 0) return 0;
    int leaves[64];
    const int nl = fused_leaves(e, u, u, leaves, 0, 64);
    for (int k = 0; k < nl && k < 64; k++)
        if (strcmp(o, ptr(e, leaves[k], p, sizeof p)) == 0) return 0;
    return nl <= 64;
}

/* May the product x, emitted between a GEMM and the sum of its epilogue's result u, run
 * after that sum is made: does it not write u's storage? (Nor may it read or write the
 * sum's: epilogue_moves_past, once the sum is known.) */
static int ep_sum_passes(const E *e, int u, int x) {
    char o[96], p[96];
    return strcmp(ptr(e, x, o, sizeof o), ptr(e, u, p, sizeof p)) != 0;
}

/* ---- layer norm's affine gradient ----
 * layernorm(x) * gamma + beta differentiates into gy * gamma, layernorm_grad(x, that), and
 * the sums over the rows of gy * layernorm(x) and of gy (gamma's and beta's gradients): four
 * passes over [rows, D] arrays and two sums. When they are the nodes emitted one after the
 * other (the views the sums read aside), with no other use of their intermediates, they
 * are one call, bprt_layernorm_affine_grad, in place of the first: one pass that reads x and
 * gy and writes gx, the sums made as it goes (all of them the same bits as the separate
 * passes', so a gradient does not depend on whether the group was found: tiny_gpt's three
 * layer norms: 0.23-0.25 ms each on 1 thread, 0.29 on 2, in the separate passes). gx keeps its
 * storage (it may be x's or gy's: the kernel finishes a row before writing it); the sums'
 * must be none of the operands'. Not with --standalone (like the GEMM epilogues). */
static void dim_arg(const E *e, const Shape *s, int i, char *buf, size_t size);

static int view_base(const Graph *g, int v) {
    while (g->nodes[v].op == OP_RESHAPE) v = g->nodes[v].in[0];
    return v;
}

/* The sum over the rows of v ([.., D], through one view of v's shape [R, D] read by nothing
 * else, or v itself if a matrix) that is v's one reader, or -1; *view the view or -1. */
static int row_sum_of(const E *e, int v, int *view) {
    const Graph *g = e->g;
    int r = -1, s = -1;
    *view = -1;
    if (readers_of(e, v, &r) != 1 || r < 0) return -1; /* (r < 0: v is a root, read by no node) */
    if (g->nodes[r].op == OP_RESHAPE) {
        if (g->nodes[r].shape.rank != 2 || readers_of(e, r, &s) != 1 || s < 0) return -1;
        char a[96], b[96];
        if (strcmp(ptr(e, r, a, sizeof a), ptr(e, v, b, sizeof b)) != 0) return -1;
        *view = r;
    } else {
        if (g->nodes[v].shape.rank != 2) return -1;
        s = r;
    }
    const Node *sn = &g->nodes[s];
    if (sn->op != OP_SUM || sn->axis != 0 || sn->keepdims || sn->shape.rank != 1) return -1;
    return s;
}

/* Does a pointer to all of v's elements exist: a parameter, an input, a pinned result or a
 * planned buffer? (A broadcast of a constant, computed inside its reader's loop, has none.) */
static int has_array(const E *e, int v) {
    const int op = e->g->nodes[v].op;
    return op == OP_PARAM || op == OP_VECTOR || op == OP_INPUT || e->pinned[v] || e->plan->buf[v] >= 0;
}

static int lna_free(const E *e, int id) {
    return id >= 0 && !e->computed_early[id] && !(e->fused && e->fused[id]) && e->fuse_user[id] < 0 &&
           !(e->hoisted && e->hoisted[id] >= 0);
}

static void plan_ln_groups(E *e) {
    enum { MAXM = 10 };
    const Graph *g = e->g;
    e->lna_at = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    e->lna = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(LnGroup));
    for (int i = 0; i < g->n; i++) e->lna_at[i] = -1;
    for (int L = 0; L < g->n; L++) {
        const Node *ln = &g->nodes[L];
        if (ln->op != OP_LAYERNORM_GRAD || !lna_free(e, L) || ln->dtype == DT_INT) continue;
        const int x = ln->in[0], G = ln->in[1], rank = ln->shape.rank;
        const Node *gn = &g->nodes[G];
        int last = -1;
        if (gn->op != OP_MUL || !gn->adjoint || !lna_free(e, G) || readers_of(e, G, &last) != 1) continue;
        int dy = -1, gam = -1;
        for (int k = 0; k < 2; k++) {
            const Node *a = &g->nodes[gn->in[k]], *b = &g->nodes[gn->in[1 - k]];
            if (shape_eq(&a->shape, &ln->shape) && b->shape.rank == 1 && dim_eq(b->shape.d[0], ln->shape.d[rank - 1]))
                dy = gn->in[k], gam = gn->in[1 - k];
        }
        if (dy < 0) continue;
        const int base = view_base(g, dy);
        int members[MAXM], nm = 0, dg = -1, db = -1;
        members[nm++] = G;
        members[nm++] = L;
        /* gy * layernorm(x), summed over the rows; gy summed over the rows */
        for (int j = 0; j < L; j++) {
            const Node *p = &g->nodes[j];
            int view = -1;
            if (dg < 0 && p->op == OP_MUL && p->adjoint && j != G && lna_free(e, j)) {
                for (int k = 0; k < 2; k++) {
                    const Node *a = &g->nodes[p->in[k]], *z = &g->nodes[p->in[1 - k]];
                    if (view_base(g, p->in[k]) != base || !shape_eq(&a->shape, &ln->shape) || z->op != OP_LAYERNORM ||
                        z->in[0] != x || z->value != ln->value)
                        continue;
                    const int s = row_sum_of(e, j, &view);
                    if (s < 0 || !lna_free(e, s) || (view >= 0 && !lna_free(e, view))) continue;
                    dg = s;
                    members[nm++] = j;
                    members[nm++] = s;
                    if (view >= 0) members[nm++] = view;
                    /* the backward pass's recomputed layer norm (pass_remat), read by this
                       product alone: the fused call recomputes it itself */
                    if (z->adjoint && readers_of(e, p->in[1 - k], &last) == 1 && lna_free(e, p->in[1 - k]))
                        members[nm++] = p->in[1 - k];
                    break;
                }
            } else if (db < 0 && p->op == OP_SUM && p->adjoint && p->axis == 0 && !p->keepdims && p->shape.rank == 1 &&
                       lna_free(e, j) && view_base(g, p->in[0]) == base && dim_eq(p->shape.d[0], ln->shape.d[rank - 1])) {
                const int v = p->in[0];
                const Node *vn = &g->nodes[v];
                if (vn->shape.rank != 2) continue;
                char a[96], b[96];
                if (strcmp(ptr(e, v, a, sizeof a), ptr(e, dy, b, sizeof b)) != 0) continue;
                if (vn->op == OP_RESHAPE) {
                    if (readers_of(e, v, &last) != 1 || !lna_free(e, v)) continue;
                    members[nm++] = v;
                }
                db = j;
                members[nm++] = j;
            }
        }
        int first = L;
        for (int m = 0; m < nm; m++) first = members[m] < first ? members[m] : first;
        int ok = 1; /* nothing else emitted from the first to the last */
        for (int j = first; j <= L && ok; j++) {
            int in = 0;
            for (int m = 0; m < nm; m++) in |= members[m] == j;
            ok = in || op_info[g->nodes[j].op].kind == OK_LEAF;
        }
        /* the next node adding another gradient to the result (a residual connection's),
           the result's one reader: made in the same call, into that node's storage */
        int sum = -1, other = -1;
        if (L + 1 < g->n && !e->rd->root[L] && readers_of(e, L, &last) == 1) {
            const Node *an = &g->nodes[L + 1];
            other = an->in[0] == L ? an->in[1] : an->in[0];
            if (an->op == OP_ADD && lna_free(e, L + 1) && (an->in[0] == L) != (an->in[1] == L) &&
                shape_eq(&an->shape, &ln->shape) && shape_eq(&g->nodes[other].shape, &ln->shape))
                sum = L + 1;
        }
        /* the kernel reads x, gy and gamma as arrays and writes the result and the sums */
        const int arrays[] = {x, dy, gam, sum >= 0 ? sum : L, sum >= 0 ? other : x, dg >= 0 ? dg : x, db >= 0 ? db : x};
        for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) ok = ok && has_array(e, arrays[k]);
        if (!ok) continue;
        char px[96], pd[96], pg[96], po[96], ps[96], pb[96], pa[96] = "";
        ptr(e, x, px, sizeof px), ptr(e, dy, pd, sizeof pd), ptr(e, gam, pg, sizeof pg), ptr(e, sum >= 0 ? sum : L, po, sizeof po);
        if (sum >= 0) ptr(e, other, pa, sizeof pa);
        if (!strcmp(po, pg)) ok = 0;
        for (int k = 0; k < 2 && ok; k++) {
            const int s = k ? db : dg;
            if (s < 0) continue;
            ptr(e, s, ps, sizeof ps);
            if (!strcmp(ps, px) || !strcmp(ps, pd) || !strcmp(ps, pg) || !strcmp(ps, po) || !strcmp(ps, pa)) ok = 0;
        }
        if (ok && dg >= 0 && db >= 0 && !strcmp(ptr(e, dg, ps, sizeof ps), ptr(e, db, pb, sizeof pb))) ok = 0;
        if (!ok) continue;
        e->lna_at[first] = L;
        e->lna[L] = (LnGroup){dy, gam, dg, db, sum, sum >= 0 ? other : -1};
        for (int m = 0; m < nm; m++)
            if (members[m] != first) e->computed_early[members[m]] = 1;
        if (sum >= 0) e->computed_early[sum] = 1;
    }
}

static void emit_ln_affine(E *e, int L) {
    const Graph *g = e->g;
    const Node *n = &g->nodes[L];
    const Shape *s = &n->shape;
    const char *sfx = e->o->f64 ? "f64" : "f32";
    const LnGroup *q = &e->lna[L];
    char x[96], dy[96], gam[96], gx[96], dg[96], db[96], add[96], N[DIMS_C_MAX], D[128];
    ptr(e, n->in[0], x, sizeof x), ptr(e, q->dy, dy, sizeof dy), ptr(e, q->gamma, gam, sizeof gam);
    ptr(e, q->sum >= 0 ? q->sum : L, gx, sizeof gx);
    if (q->add >= 0) ptr(e, q->add, add, sizeof add);
    else snprintf(add, sizeof add, "(const real *)0");
    if (q->dg >= 0) ptr(e, q->dg, dg, sizeof dg);
    else snprintf(dg, sizeof dg, "(real *)0");
    if (q->db >= 0) ptr(e, q->db, db, sizeof db);
    else snprintf(db, sizeof db, "(real *)0");
    dims_c(g, s, 0, s->rank - 1, N, sizeof N);
    dim_arg(e, s, s->rank - 1, D, sizeof D);
    fprintf(e->out, "    /* %%%d = adjoint layernorm_grad of gy * gamma", L);
    if (q->dg >= 0) fprintf(e->out, ", %%%d = the sum of gy * xhat", q->dg);
    if (q->db >= 0) fprintf(e->out, ", %%%d = the sum of gy", q->db);
    if (q->sum >= 0) fprintf(e->out, ", %%%d = another gradient plus it", q->sum);
    fprintf(e->out, ", in one pass */\n    bprt_layernorm_affine_grad_%s(%s, %s, %s, %s, %s, %s, %.17g, %s, %s, %s);\n", sfx,
            x, dy, gam, add, N, D, n->value, gx, dg, db);
}

/* ---- a bias's gradient with a convolution's weight gradient ----
 * conv2d(x, K) + c with c [O, 1, 1] (or [1, O, 1, 1]) differentiates into conv2d_grad_w(x, gy)
 * (with conv2d_grad_x, one call, when x has a gradient) and the sums of gy over its images and
 * positions (ad_unbroadcast: a sum per axis). When those sums are the nodes emitted right
 * before the gradients' call, each but the last read by the next alone, and the runtime sums
 * gy image by image in the weight gradient's pass for these sizes (bprt_conv2d_bias_in_pass:
 * fewer than BPRT_CONV_GW_GROUPED_K unfolded rows, a first layer's, or Winograd's windows in
 * float), they are one call, bprt_conv2d_grad_wb or bprt_conv2d_grads_b, in the first sum's
 * place: each image's gy is summed by the thread that reads it for the weight gradient, while
 * it is in that core's cache, instead of in a pass over all of gy (fashion_cnn: [64, 32, 28,
 * 28] and [64, 64, 14, 14], 6.4 and 3.2 MB from L3). The values are not bprt_sum_axis's (its
 * sums in double over the images first); they do not depend on the thread count either. Not
 * with --standalone (like the GEMM epilogues). */
static void plan_conv_bias(E *e) {
    const Graph *g = e->g;
    e->cwb_at = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    e->cwb_sum = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    for (int i = 0; i < g->n; i++) e->cwb_at[i] = e->cwb_sum[i] = -1;
    for (int w = 0; w < g->n; w++) {
        const Node *wn = &g->nodes[w];
        if (wn->op != OP_CONV2D_GRAD_W || wn->dtype == DT_INT) continue;
        int call = w; /* the node emitted for the call: w, or the input gradient it is made with */
        for (int i = 0; i < g->n; i++)
            if (e->grad_w_with[i] == w) call = i;
        if (!lna_free(e, call) || e->plan->scratch[call] < 0) continue; /* (a pair's w is the pair's) */
        const int x = wn->in[0], gy = wn->in[1];
        const Shape *ks = &wn->shape, *xs = &g->nodes[x].shape, *ys = &g->nodes[gy].shape;
        if (ks->rank != 4 || xs->rank != 4 || ys->rank != 4) continue;
        int konst = 1;
        for (int d = 0; d < 4; d++) konst = konst && ks->d[d].sym < 0 && (d == 0 || xs->d[d].sym < 0);
        if (!konst || !bprt_conv2d_bias_in_pass((size_t)xs->d[1].c, (size_t)xs->d[2].c, (size_t)xs->d[3].c,
                                                (size_t)ks->d[0].c, (size_t)wn->win[0], (size_t)wn->win[1],
                                                (size_t)wn->win[2], (size_t)wn->win[3], e->o->f64))
            continue;
        for (int c0 = gy + 1; c0 < call; c0++) { /* the first sum: of gy */
            const Node *c0n = &g->nodes[c0];
            if (c0n->op != OP_SUM || c0n->in[0] != gy || !lna_free(e, c0) || x >= c0 ||
                (call != w && g->nodes[call].in[1] >= c0)) /* (the pair's kernel, as x) */
                continue;
            /* follow the sums emitted one after the other: pos[] the axes of gy left, done[]
               gy's axes summed (or of extent 1) */
            int pos[4] = {0, 1, 2, 3}, rank = 4, cur = c0, end = -1, last = -1;
            char done[4];
            for (int d = 0; d < 4; d++) done[d] = d != 1 && dim_is(ys->d[d], 1);
            for (;;) {
                const Node *sn = &g->nodes[cur];
                if (sn->dtype == DT_INT || sn->axis == AXIS_ALL || sn->axis < 0 || sn->axis >= rank || pos[sn->axis] == 1)
                    break;
                done[pos[sn->axis]] = 1;
                if (!sn->keepdims) {
                    for (int d = sn->axis; d + 1 < rank; d++) pos[d] = pos[d + 1];
                    rank--;
                }
                const int nx = next_emitted(e, cur);
                if (done[0] && done[2] && done[3]) {
                    end = nx == call ? cur : -1;
                    break;
                }
                if (nx >= call || g->nodes[nx].op != OP_SUM || g->nodes[nx].in[0] != cur || !lna_free(e, nx) ||
                    e->rd->root[cur] || readers_of(e, cur, &last) != 1)
                    break;
                cur = nx;
            }
            if (end < 0 || !has_array(e, x) || !has_array(e, gy) || !has_array(e, end)) break;
            /* neither gb's storage nor gw's is any of the call's operands, other outputs or
               scratch (a pair's gx and gw were checked by conv_grads_pair_ok), nor each other */
            char ob[96], ow[96], ops[5][96];
            int nops = 0;
            ptr(e, end, ob, sizeof ob), ptr(e, w, ow, sizeof ow);
            ptr(e, x, ops[nops++], 96), ptr(e, gy, ops[nops++], 96);
            snprintf(ops[nops++], 96, "t%d", e->plan->scratch[call]);
            if (call != w) ptr(e, call, ops[nops++], 96), ptr(e, g->nodes[call].in[1], ops[nops++], 96);
            int ok = strcmp(ob, ow) != 0;
            for (int m = 0; m < nops; m++) ok = ok && strcmp(ob, ops[m]) != 0 && strcmp(ow, ops[m]) != 0;
            if (!ok) break;
            e->cwb_at[c0] = call;
            e->cwb_sum[call] = end;
            for (int j = next_emitted(e, c0); j <= end; j = next_emitted(e, j)) e->computed_early[j] = 1;
            e->computed_early[call] = 1;
            break;
        }
    }
}

/* The call of plan_conv_bias: node id's (a conv2d_grad_w, or a conv2d_grad_x with its
 * grad_w_with), with the bias's gradient */
static void emit_conv_wb(E *e, int id) {
    const Graph *g = e->g;
    const int pair = g->nodes[id].op == OP_CONV2D_GRAD_X, w = pair ? e->grad_w_with[id] : id, end = e->cwb_sum[id];
    const Node *n = &g->nodes[w];
    const Shape *img = &g->nodes[n->in[0]].shape;
    const char *sfx = e->o->f64 ? "f64" : "f32";
    char x[96], gy[96], gw[96], gb[96], B[128], C[128], H[128], W[128], O[128];
    ptr(e, n->in[0], x, sizeof x), ptr(e, n->in[1], gy, sizeof gy), ptr(e, w, gw, sizeof gw), ptr(e, end, gb, sizeof gb);
    dim_arg(e, img, 0, B, sizeof B), dim_arg(e, img, 1, C, sizeof C), dim_arg(e, img, 2, H, sizeof H);
    dim_arg(e, img, 3, W, sizeof W), dim_arg(e, &n->shape, 0, O, sizeof O);
    if (pair) {
        char gx[96], k[96];
        ptr(e, id, gx, sizeof gx), ptr(e, g->nodes[id].in[1], k, sizeof k);
        fprintf(e->out, "    /* %%%d = adjoint conv2d_grad_x, %%%d = adjoint conv2d_grad_w, %%%d = the sum of their gy (a bias's gradient), in one call */\n",
                id, w, end);
        fprintf(e->out, "    bprt_conv2d_grads_b_%s(%s, %s, %s, %s, %s, %s, %s, %s, %d, %d, %d, %d, %s, %s, %s, t%d);\n", sfx, x, gy, k,
                B, C, H, W, O, n->win[0], n->win[1], n->win[2], n->win[3], gx, gw, gb, e->plan->scratch[id]);
        return;
    }
    fprintf(e->out, "    /* %%%d = adjoint conv2d_grad_w, %%%d = the sum of its gy (a bias's gradient), in one call */\n", w, end);
    fprintf(e->out, "    bprt_conv2d_grad_wb_%s(%s, %s, %s, %s, %s, %s, %s, %d, %d, %d, %d, %s, %s, t%d);\n", sfx, x, gy, B, C, H,
            W, O, n->win[0], n->win[1], n->win[2], n->win[3], gw, gb, e->plan->scratch[w]);
}

/* ---- causal attention's triangles (causal.h) ---- */
/* The triangle of each batched product (bprt.h's BPRT_TRI_*): op(A) zero above or below its
 * diagonal (the attention weights times the values, the gradients through them), or C read
 * only on and below it (the scores, the weights' gradient). tiny_gpt's six [32, 4, 64, x]
 * products of its attention skip 21-37% of their tiles' work. */
static void plan_tri(E *e) {
    const Graph *g = e->g;
    need_readers(e);
    e->tri = arena_alloc(g->arena, (size_t)g->n + 1);
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_MATMUL || n->shape.rank < 3) continue;
        if (causal_zero_upper(g, n->in[0])) e->tri[i] = n->ta ? BPRT_TRI_A_UPPER : BPRT_TRI_A_LOWER;
        else if (causal_upper_unread(g, e->rd, i)) e->tri[i] = BPRT_TRI_C_LOWER;
    }
}

/* Pairs each GEMM with the node it can compute as an epilogue (emission order is node
 * order): the next node emitted, or the next after up to four other products (a weight
 * gradient's GEMM between an input gradient's and the activation derivative that reads
 * it) that it can be moved past, or else that can be emitted before the GEMM. Those
 * products get no epilogue of their own. */
static void plan_epilogues(E *e) {
    enum { MAXB = 4 };
    const Graph *g = e->g;
    need_readers(e);
    e->epilogue = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    e->computed_early = arena_alloc(g->arena, (size_t)g->n + 1);
    e->hoisted = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    char *passed = arena_alloc(g->arena, (size_t)g->n + 1);
    e->grad_w_with = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    for (int i = 0; i < g->n; i++) e->epilogue[i] = e->hoisted[i] = e->grad_w_with[i] = -1;
    if (e->o->standalone) return;
    for (int i = 0; i < g->n; i++) {
        if (op_info[g->nodes[i].op].kind != OK_MATMUL || (e->fused && e->fused[i]) || passed[i] || e->fuse_user[i] >= 0)
            continue;
        int bet[MAXB], nb = 0;
        for (int u = next_emitted(e, i); u < g->n; u = next_emitted(e, u)) {
            if (epilogue_ok(e, i, u)) {
                if (products_feed(e, u, bet, nb)) break;
                const int hoist = !epilogue_moves_past(e, u, bet, nb);
                if (hoist && !products_hoist_before(e, i, u, bet, nb)) break;
                e->epilogue[i] = u;
                e->computed_early[u] = 1;
                for (int k = 0; k < nb; k++) {
                    passed[bet[k]] = 1;
                    if (hoist) e->hoisted[bet[k]] = i;
                }
                break;
            }
            if (op_info[g->nodes[u].op].kind != OK_MATMUL || nb == MAXB) break;
            bet[nb++] = u;
        }
    }
    /* a bias's gradient: the sum over the first axis of a GEMM epilogue's result, the next
       node emitted after the GEMM, is added up by the GEMM's threads on each finished block
       (bprt_?gemm_ew_sum), not by a pass of its own over the result */
    e->ep_sum = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    for (int i = 0; i < g->n; i++) {
        e->ep_sum[i] = -1;
        const int u = e->epilogue[i];
        if (u < 0 || op_info[g->nodes[i].op].kind != OK_MATMUL) continue;
        int bet[MAXB], nb = 0, s = next_emitted(e, i), view = -1;
        for (;;) {
            if (s < g->n && nb < MAXB && op_info[g->nodes[s].op].kind == OK_MATMUL && ep_sum_passes(e, u, s))
                bet[nb++] = s; /* a weight gradient's GEMM, emitted between them */
            else if (s < g->n && view < 0 && is_alias_view(e, s, u))
                view = s; /* the [B*T, N] view of u that the sum reads */
            else
                break;
            s = next_emitted(e, s);
        }
        if (s < g->n && ep_sum_ok(e, i, u, s) && (view < 0 || g->nodes[s].in[0] == view) &&
            epilogue_moves_past(e, s, bet, nb)) {
            e->ep_sum[i] = s;
            e->computed_early[s] = 1;
            if (view >= 0) e->computed_early[view] = 1;
        }
    }
    for (int i = 0; i < g->n; i++) { /* layers: the next node emitted, if it qualifies */
        const Op op = g->nodes[i].op;
        if ((op != OP_CONV2D && op != OP_MAXPOOL2D_GRAD) || (e->fused && e->fused[i]) || e->computed_early[i]) continue;
        const int u = next_emitted(e, i);
        if (u < g->n && layer_epilogue_ok(e, i, u)) {
            e->epilogue[i] = u;
            e->computed_early[u] = 1;
        }
    }
    /* a convolution's input gradient and its weight gradient, the next node emitted, from the
       same output gradient: one call (bprt_conv2d_grads, which transforms each image's output
       gradient once for both) */
    for (int i = 0; i < g->n; i++) {
        const Node *gxn = &g->nodes[i];
        if (gxn->op != OP_CONV2D_GRAD_X || (e->fused && e->fused[i]) || e->computed_early[i]) continue;
        const int u = next_emitted(e, i);
        if (u < g->n && conv_grads_pair_ok(e, i, u)) {
            e->grad_w_with[i] = u;
            e->computed_early[u] = 1;
        }
    }
    /* cross-entropy and its gradient, the next node emitted, reading the same logits and labels
       and a scale known before the loss (every row's exponentials made once) */
    e->ce_grad = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    for (int i = 0; i < g->n; i++) {
        e->ce_grad[i] = -1;
        if (g->nodes[i].op != OP_CROSS_ENTROPY) continue;
        int u = next_emitted(e, i);
        if (u >= g->n) continue;
        const Node *c = &g->nodes[i], *d = &g->nodes[u];
        if (d->op == OP_CE_GRAD && d->in[0] == c->in[0] && d->in[1] == c->in[1] &&
            (d->in[2] < i || op_info[g->nodes[d->in[2]].op].kind == OK_LEAF)) {
            e->ce_grad[i] = u;
            e->computed_early[u] = 1;
        }
    }
    plan_ln_groups(e);
    plan_conv_bias(e);
}

static void emit_gemm_epilogue(E *e, int id, const GemmArgs *q, const char *cout) {
    enum { MAXL = BPRT_EW_MAX_LEAVES };
    const Graph *g = e->g;
    const Node *n = &g->nodes[id];
    const int u = e->epilogue[id];
    const Node *un = &g->nodes[u];
    int leaves[MAXL], vec[MAXL] = {0};
    int nl = fused_leaves(e, u, u, leaves, 0, MAXL);
    char out[96];
    ptr(e, u, out, sizeof out);
    for (int l = 0; l < nl; l++) vec[l] = epilogue_leaf_kind(&g->nodes[leaves[l]], &un->shape) != EP_SCALAR;
    fprintf(e->out, "    /* %%%d = %s%s, on each finished block of the product */\n    {\n", u,
            un->adjoint ? "adjoint " : "", op_info[un->op].name);
    int ncode = ew_emit_tables(e, u, vec, nl);
    BP_ASSERT(ncode > 0); /* epilogue_ok built the same program */
    ew_emit_leaves(e, leaves, nl, 0, "        ");
    fprintf(e->out, "        const ptrdiff_t ld_[] = {");
    for (int l = 0; l < nl; l++) { /* a full leaf's rows are N long; the others stay put */
        if (epilogue_leaf_kind(&g->nodes[leaves[l]], &un->shape) == EP_FULL)
            fprintf(e->out, "%s(ptrdiff_t)%s", l ? ", " : "", q->N);
        else fprintf(e->out, "%s0", l ? ", " : "");
    }
    fprintf(e->out, "%s};\n", nl ? "" : "0");
    const int s = e->ep_sum ? e->ep_sum[id] : -1;
    char sum[DIMS_C_MAX + 128] = ""; /* and the sum over the first axis: rows P = M / (that extent) apart */
    if (s >= 0) {
        char y[96], P[DIMS_C_MAX], sh[SHAPE_STR_MAX];
        ptr(e, s, y, sizeof y);
        const Shape *ss = &g->nodes[g->nodes[s].in[0]].shape; /* u's, or its [B*T, N] view's */
        dims_c(g, ss, 1, ss->rank - 1, P, sizeof P);
        fprintf(e->out, "        /* %%%d = %ssum %s, over each finished block's rows */\n", s,
                g->nodes[s].adjoint ? "adjoint " : "", shape_str(&g->nodes[s].shape, &g->syms, sh, sizeof sh));
        snprintf(sum, sizeof sum, ", %s, %s", y, P);
    }
    fprintf(e->out,
            "        %s_ew%s(%d, %d, %s, %s, %s, 1, %s, %s, %s, %s, 0, %s, %s, c_, %d, k_, l_, %d, ld_, v_, %s, %s%s);\n    }\n",
            e->o->f64 ? "bprt_dgemm" : "bprt_sgemm", s >= 0 ? "_sum" : "", n->ta, n->tb, q->M, q->N, q->K, q->pa, q->lda,
            q->pb, q->ldb, cout, q->N, ncode, nl, out, q->N, sum);
}

/* A batched product is a loop of GEMMs over the full batch shape; over summed axes the
 * products accumulate into one result matrix (beta = 1 after the first), or fold into K. */
static void emit_batch_call(E *e, int id, const char *fn, const char *alpha, const char *out, const char *extra);
static void emit_matmul(E *e, int id) {
    const Graph *g = e->g;
    const Node *n = &g->nodes[id];
    MatmulRun r;
    GemmArgs q;
    char out[96];
    matmul_run(g, n, &r);
    gemm_args(e, n, &r, &q);
    ptr(e, id, out, sizeof out);
    const char *gemm = e->o->f64 ? "bprt_dgemm" : "bprt_sgemm";
    if (r.single && e->epilogue && e->epilogue[id] >= 0) {
        emit_gemm_epilogue(e, id, &q, out);
        return;
    }
    if (r.single) {
        fprintf(e->out, "    %s(%d, %d, %s, %s, %s, 1, %s, %s, %s, %s, 0, %s, %s);\n", gemm, n->ta, n->tb, q.M, q.N, q.K,
                q.pa, q.lda, q.pb, q.ldb, out, q.N);
        return;
    }
    const int tri = e->tri ? e->tri[id] : 0;
    if (tri)
        fprintf(e->out, "    /* %s */\n",
                tri == BPRT_TRI_C_LOWER   ? "only on and below the diagonal: the softmax's masked entries are not read"
                : tri == BPRT_TRI_A_LOWER ? "A is zero above the diagonal (masked): those terms skipped"
                                          : "A^T is zero below the diagonal (masked): those terms skipped");
    char extra[16] = "";
    if (tri) snprintf(extra, sizeof extra, ", %d", tri);
    emit_batch_call(e, id, tri ? "_batch_tri" : "_batch", "1", out, extra);
}

/* bprt_?gemm_batch<fn>(..., extra) of the batched product id into out, alpha as given:
 * over the batch axes (those folded into K left out), extents and element strides of A, B
 * and C (0 where broadcast or summed) */
static void emit_batch_call(E *e, int id, const char *fn, const char *alpha, const char *out, const char *extra) {
    const Graph *g = e->g;
    const Node *n = &g->nodes[id];
    const Node *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
    MatmulRun r;
    GemmArgs q;
    matmul_run(g, n, &r);
    gemm_args(e, n, &r, &q);
    const char *gemm = e->o->f64 ? "bprt_dgemm" : "bprt_sgemm";
    const Node *ops[2] = {a, b};
    char arr[4][4096] = {{0}};
    size_t len[4] = {0, 0, 0, 0};
    int rank = 0, sum = 0;
    for (int f = 0; f < r.rb; f++) {
        const int summed = n->bsum >> f & 1;
        if (summed && r.kfold) continue;
        char v[4][DIMS_C_MAX];
        dim_c(r.full.d[f], &g->syms, v[0], sizeof v[0]);
        for (int k = 0; k < 2; k++) {
            const Shape *s = &ops[k]->shape;
            const int ax = f - (r.rb - (s->rank - 2));
            if (ax < 0 || dim_is(s->d[ax], 1)) snprintf(v[1 + k], sizeof v[1 + k], "0");
            else dims_c(g, s, ax + 1, s->rank, v[1 + k], sizeof v[1 + k]);
        }
        if (summed) snprintf(v[3], sizeof v[3], "0");
        else {
            size_t l = (size_t)snprintf(v[3], sizeof v[3], "((size_t)1");
            for (int f2 = f + 1; f2 < r.rb + 2 && l < sizeof v[3]; f2++) {
                if (f2 < r.rb && (n->bsum >> f2 & 1)) continue;
                char d[96];
                dim_c(r.full.d[f2], &g->syms, d, sizeof d);
                l += (size_t)snprintf(v[3] + l, sizeof v[3] - l, "*(size_t)%s", d);
            }
            if (l < sizeof v[3]) snprintf(v[3] + l, sizeof v[3] - l, ")");
        }
        for (int k = 0; k < 4; k++)
            if (len[k] < sizeof arr[k])
                len[k] += (size_t)snprintf(arr[k] + len[k], sizeof arr[k] - len[k], "%s(size_t)%s", rank ? ", " : "", v[k]);
        sum |= summed << rank;
        rank++;
    }
    fprintf(e->out, "    {\n        const size_t d_[] = {%s}, sa_[] = {%s}, sb_[] = {%s}, sc_[] = {%s};\n", arr[0], arr[1],
            arr[2], arr[3]);
    fprintf(e->out, "        %s%s(%d, %d, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %d, d_, sa_, sb_, sc_, %d%s);\n    }\n",
            gemm, fn, n->ta, n->tb, q.M, q.N, q.K, alpha, q.pa, q.lda, q.pb, q.ldb, out, q.N, rank, sum, extra);
}

/* The attention chain ending at id (plan_sm) in one call. */
static void emit_sm(E *e, int id) {
    const SmChain *c = &e->sm[id];
    char out[96], k[160] = "1", y[96], extra[400];
    ptr(e, id, out, sizeof out);
    if (c->scale >= 0) elem(e, c->scale, "0", k, sizeof k);
    fprintf(e->out, "    /* in one call: %s of %%%d%s%s, each product's rows while in cache */\n",
            c->y >= 0 ? "softmax_grad" : "softmax", c->mm,
            c->causal ? " (causal: the masked entries not made)" : "", c->scale >= 0 ? ", scaled" : "");
    if (c->y >= 0) { /* tmp: the product's scratch when out is y (--standalone: plan.h's product_temp) */
        char tmp[32] = "(real *)0";
        ptr(e, c->y, y, sizeof y);
        if (e->plan->scratch[id] >= 0) snprintf(tmp, sizeof tmp, "t%d", e->plan->scratch[id]);
        snprintf(extra, sizeof extra, ", %s, %d, %d, %s, %s", y, c->causal, c->scale >= 0, k, tmp);
        emit_batch_call(e, c->mm, "_batch_softmax_grad", "1", out, extra);
    } else {
        snprintf(extra, sizeof extra, ", %d", c->causal);
        emit_batch_call(e, c->mm, "_batch_softmax", k, out, extra);
    }
}

static void emit_transpose(E *e, int id) {
    const Graph *g = e->g;
    const Node *n = &g->nodes[id];
    char out[96], x[96], Bt[DIMS_C_MAX], M[96], N[96];
    ptr(e, id, out, sizeof out);
    ptr(e, n->in[0], x, sizeof x);
    int r = n->shape.rank;
    dims_c(g, &n->shape, 0, r - 2, Bt, sizeof Bt);
    dim_c(n->shape.d[r - 1], &g->syms, M, sizeof M); /* input rows */
    dim_c(n->shape.d[r - 2], &g->syms, N, sizeof N); /* input cols */
    if (n->dtype != DT_INT && e->plan->buf[id] != e->plan->buf[n->in[0]]) { /* the runtime's tiled copy */
        fprintf(e->out, "    bprt_transpose_%s(%s, %s, (size_t)%s, (size_t)%s, %s);\n", e->o->f64 ? "f64" : "f32", x, Bt, M, N,
                out);
        return;
    }
    fprintf(e->out, "    for (size_t b = 0; b < %s; b++) {\n        const size_t m = %s, n = %s;\n"
                    "        for (size_t i = 0; i < m; i++) for (size_t j = 0; j < n; j++)\n"
                    "            %s[b * m * n + j * m + i] = %s[b * m * n + i * n + j];\n    }\n",
            Bt, M, N, out, x);
}

static void emit_copy(E *e, int dst_id, int src_id) {
    char d[96], s[96], total[DIMS_C_MAX];
    ptr(e, dst_id, d, sizeof d);
    if (is_scalar_like(&e->g->nodes[src_id]) && op_info[e->g->nodes[src_id].op].kind == OK_LEAF &&
        e->g->nodes[src_id].op != OP_PARAM && e->g->nodes[src_id].op != OP_INPUT) {
        char v[320];
        numel_c(e->g, &e->g->nodes[dst_id].shape, total, sizeof total);
        fprintf(e->out, "    for (size_t i = 0; i < %s; i++) %s[i] = %s;\n", total, d, elem(e, src_id, "0", v, sizeof v));
        return;
    }
    ptr(e, src_id, s, sizeof s);
    if (strcmp(d, s) == 0) return;
    numel_c(e->g, &e->g->nodes[dst_id].shape, total, sizeof total);
    if (e->g->nodes[src_id].dtype == DT_INT)
        fprintf(e->out, "    for (size_t i = 0; i < %s; i++) %s[i] = (real)%s[i];\n", total, d, s);
    else
        fprintf(e->out, "    memcpy(%s, %s, sizeof(real) * %s);\n", d, s, total);
}

static void emit_concat_slice(E *e, int id) {
    const Graph *g = e->g;
    const Node *n = &g->nodes[id];
    char out[96], O[DIMS_C_MAX], I[DIMS_C_MAX];
    ptr(e, id, out, sizeof out);
    dims_c(g, &n->shape, 0, n->axis, O, sizeof O);
    dims_c(g, &n->shape, n->axis + 1, n->shape.rank, I, sizeof I);
    if (n->op == OP_CONCAT) {
        char a[96], b[96], la[96], lb[96];
        ptr(e, n->in[0], a, sizeof a);
        ptr(e, n->in[1], b, sizeof b);
        dim_c(g->nodes[n->in[0]].shape.d[n->axis], &g->syms, la, sizeof la);
        dim_c(g->nodes[n->in[1]].shape.d[n->axis], &g->syms, lb, sizeof lb);
        fprintf(e->out, "    for (size_t o = 0; o < %s; o++) {\n        const size_t ni = %s, na = (size_t)%s * ni, nb = (size_t)%s * ni;\n"
                        "        memcpy(%s + o * (na + nb), %s + o * na, sizeof(real) * na);\n"
                        "        memcpy(%s + o * (na + nb) + na, %s + o * nb, sizeof(real) * nb);\n    }\n",
                O, I, la, lb, out, a, out, b);
    } else {
        char x[96], st[96], len[96], full[96];
        ptr(e, n->in[0], x, sizeof x);
        dim_c(n->start, &g->syms, st, sizeof st);
        dim_c(n->shape.d[n->axis], &g->syms, len, sizeof len);
        dim_c(g->nodes[n->in[0]].shape.d[n->axis], &g->syms, full, sizeof full);
        fprintf(e->out, "    for (size_t o = 0; o < %s; o++) {\n        const size_t ni = %s;\n"
                        "        memcpy(%s + o * (size_t)%s * ni, %s + (o * (size_t)%s + (size_t)%s) * ni, sizeof(real) * (size_t)%s * ni);\n    }\n",
                O, I, out, len, x, full, st, len);
    }
}

static void emit_loss(E *e, int id) {
    const Graph *g = e->g;
    const Node *n = &g->nodes[id];
    const Node *z = &g->nodes[n->in[0]];
    char out[96], pz[96], py[96], C[96], Nr[DIMS_C_MAX], gv[320];
    ptr(e, id, out, sizeof out);
    ptr(e, n->in[0], pz, sizeof pz);
    ptr(e, n->in[1], py, sizeof py);
    dim_c(z->shape.d[z->shape.rank - 1], &g->syms, C, sizeof C);
    dims_c(g, &z->shape, 0, z->shape.rank - 1, Nr, sizeof Nr);
    if (n->op == OP_CE_GRAD || n->op == OP_NLL_GRAD) elem(e, n->in[2], "0", gv, sizeof gv);
    fprintf(e->out, "    {\n        const size_t nrow = %s, nc = (size_t)%s;\n", Nr, C);
    switch (n->op) {
    case OP_CROSS_ENTROPY: /* vmath.c */
        if (e->ce_grad && e->ce_grad[id] >= 0) { /* and its gradient, the next node, in one pass */
            const int u = e->ce_grad[id];
            char du[96];
            elem(e, g->nodes[u].in[2], "0", gv, sizeof gv);
            fprintf(e->out, "        /* %%%d = adjoint ce_grad, in the same pass */\n", u);
            fprintf(e->out, "        %s[0] = (real)bprt_cross_entropy_grad_%s(%s, %s, nrow, nc, %s / (real)nrow, %s);\n", out,
                    e->o->f64 ? "f64" : "f32", pz, py, gv, ptr(e, u, du, sizeof du));
            break;
        }
        fprintf(e->out, "        %s[0] = (real)bprt_cross_entropy_%s(%s, %s, nrow, nc);\n", out, e->o->f64 ? "f64" : "f32", pz,
                py);
        break;
    case OP_CE_GRAD:
        fprintf(e->out, "        bprt_ce_grad_%s(%s, %s, nrow, nc, %s / (real)nrow, %s);\n", e->o->f64 ? "f64" : "f32", pz, py,
                gv, out);
        break;
    case OP_NLL:
        fprintf(e->out, "        double acc = 0;\n        for (size_t r = 0; r < nrow; r++) {\n            const int32_t y = %s[r];\n"
                        "            acc -= (y >= 0 && (size_t)y < nc) ? (double)%s[r * nc + (size_t)y] : (double)NAN;\n        }\n"
                        "        %s[0] = (real)(acc / (double)nrow);\n",
                py, pz, out);
        break;
    case OP_NLL_GRAD: /* (the value is d_, not v: NAME_hvp's direction is v, and the scale can be read from it) */
        fprintf(e->out, "        const real d_ = -%s / (real)nrow;\n        memset(%s, 0, sizeof(real) * nrow * nc);\n"
                        "        for (size_t r = 0; r < nrow; r++) { const int32_t y = %s[r]; if (y >= 0 && (size_t)y < nc) %s[r * nc + (size_t)y] = d_; }\n",
                gv, out, py, out);
        break;
    default: BP_ASSERT(!"not a loss op");
    }
    fprintf(e->out, "    }\n");
}

/* ---- layers: calls into runtime/layers.c (shapes and semantics documented there) ---- */
static void dim_arg(const E *e, const Shape *s, int i, char *buf, size_t size) {
    char d[96];
    dim_c(s->d[i], &e->g->syms, d, sizeof d);
    snprintf(buf, size, "(size_t)%s", d);
}

static void emit_layer(E *e, int id) {
    const Graph *g = e->g;
    const Node *n = &g->nodes[id];
    const char *sfx = e->o->f64 ? "f64" : "f32";
    char out[96], a[96], b[96], N[DIMS_C_MAX], H[128], W[128], C[128], B[128];
    ptr(e, id, out, sizeof out);
    ptr(e, n->in[0], a, sizeof a);
    if (op_info[n->op].arity > 1) ptr(e, n->in[1], b, sizeof b);
    /* the image operand's shape: the input's for forward ops, the node's for gradients */
    const Shape *img = n->op == OP_CONV2D || n->op == OP_CONV2D_GRAD_W || n->op == OP_MAXPOOL2D || n->op == OP_AVGPOOL2D
                           ? &g->nodes[n->in[0]].shape
                           : &n->shape;
    if (img->rank == 4) {
        dim_arg(e, img, 0, B, sizeof B);
        dim_arg(e, img, 1, C, sizeof C);
        dim_arg(e, img, 2, H, sizeof H);
        dim_arg(e, img, 3, W, sizeof W);
        dims_c(g, img, 0, 2, N, sizeof N);
    }
    const Shape *s = &n->shape;
    switch (n->op) {
    case OP_CONV2D:
    case OP_CONV2D_GRAD_X:
    case OP_CONV2D_GRAD_W: {
        /* O: dimension 1 of y, or 0 of w (in[1] of conv2d_grad_x, the node itself for conv2d_grad_w) */
        char O[128];
        if (n->op == OP_CONV2D) dim_arg(e, s, 1, O, sizeof O);
        else dim_arg(e, n->op == OP_CONV2D_GRAD_X ? &g->nodes[n->in[1]].shape : s, 0, O, sizeof O);
        BP_ASSERT(e->plan->scratch[id] >= 0);
        if (n->op == OP_CONV2D_GRAD_X && e->grad_w_with && e->grad_w_with[id] >= 0) {
            const int u = e->grad_w_with[id];
            char x[96], ow[96];
            ptr(e, g->nodes[u].in[0], x, sizeof x);
            ptr(e, u, ow, sizeof ow);
            fprintf(e->out, "    /* %%%d = adjoint conv2d_grad_w, in the same call */\n", u);
            fprintf(e->out, "    bprt_conv2d_grads_%s(%s, %s, %s, %s, %s, %s, %s, %s, %d, %d, %d, %d, %s, %s, t%d);\n", sfx, x, a, b,
                    B, C, H, W, O, n->win[0], n->win[1], n->win[2], n->win[3], out, ow, e->plan->scratch[id]);
            return;
        }
        if (n->op == OP_CONV2D && e->epilogue && e->epilogue[id] >= 0) {
            char head[2048], P[256], OP[256];
            snprintf(head, sizeof head, "bprt_conv2d_ew_%s(%s, %s, %s, %s, %s, %s, %s, %d, %d, %d, %d, %s, t%d", sfx, a, b, B, C,
                     H, W, O, n->win[0], n->win[1], n->win[2], n->win[3], out, e->plan->scratch[id]);
            dims_c(g, s, 2, 4, P, sizeof P);
            dims_c(g, s, 1, 4, OP, sizeof OP);
            emit_layer_epilogue(e, id, head, P, OP);
            return;
        }
        fprintf(e->out, "    bprt_%s_%s(%s, %s, %s, %s, %s, %s, %s, %d, %d, %d, %d, %s, t%d);\n", op_info[n->op].name, sfx, a, b,
                B, C, H, W, O, n->win[0], n->win[1], n->win[2], n->win[3], out, e->plan->scratch[id]);
        return;
    }
    case OP_MAXPOOL2D:
    case OP_AVGPOOL2D:
    case OP_AVGPOOL2D_GRAD:
        fprintf(e->out, "    bprt_%s_%s(%s, %s, %s, %s, %d, %d, %s);\n", op_info[n->op].name, sfx, a, N, H, W, n->win[0],
                n->win[2], out);
        return;
    case OP_MAXPOOL2D_GRAD:
        if (e->epilogue && e->epilogue[id] >= 0) {
            char head[2048], HW[256];
            snprintf(head, sizeof head, "bprt_maxpool2d_grad_ew_%s(%s, %s, %s, %s, %s, %d, %d, %s", sfx, a, b, N, H, W,
                     n->win[0], n->win[2], out);
            dims_c(g, s, 2, 4, HW, sizeof HW);
            emit_layer_epilogue(e, id, head, W, HW);
            return;
        }
        fprintf(e->out, "    bprt_maxpool2d_grad_%s(%s, %s, %s, %s, %s, %d, %d, %s);\n", sfx, a, b, N, H, W, n->win[0],
                n->win[2], out);
        return;
    case OP_LAYERNORM:
    case OP_LAYERNORM_GRAD:
    case OP_SOFTMAX_GRAD: { /* rows of the last axis: N rows of D */
        char D[128];
        dims_c(g, s, 0, s->rank - 1, N, sizeof N);
        dim_arg(e, s, s->rank - 1, D, sizeof D);
        if (n->op == OP_LAYERNORM)
            fprintf(e->out, "    bprt_layernorm_%s(%s, %s, %s, %.17g, %s);\n", sfx, a, N, D, n->value, out);
        else if (n->op == OP_LAYERNORM_GRAD)
            fprintf(e->out, "    bprt_layernorm_grad_%s(%s, %s, %s, %s, %.17g, %s);\n", sfx, a, b, N, D, n->value, out);
        else
            fprintf(e->out, "    bprt_softmax_grad_%s(%s, %s, %s, %s, %s);\n", sfx, a, b, N, D, out);
        return;
    }
    case OP_EMBEDDING:
    case OP_EMBEDDING_GRAD: {
        const Shape *ts = n->op == OP_EMBEDDING ? &g->nodes[n->in[0]].shape : s;
        char V[128], D[128];
        dim_arg(e, ts, 0, V, sizeof V);
        dim_arg(e, ts, 1, D, sizeof D);
        numel_c(g, &g->nodes[n->in[1]].shape, N, sizeof N);
        fprintf(e->out, "    bprt_%s_%s(%s, %s, %s, %s, %s, %s);\n", op_info[n->op].name, sfx, a, V, D, b, N, out);
        return;
    }
    case OP_CAUSAL_MASK: {
        char T1[128], T2[128], fill[64];
        dims_c(g, s, 0, s->rank - 2, N, sizeof N);
        dim_arg(e, s, s->rank - 2, T1, sizeof T1);
        dim_arg(e, s, s->rank - 1, T2, sizeof T2);
        if (isinf(n->value)) snprintf(fill, sizeof fill, "%s(double)INFINITY", n->value < 0 ? "-" : "");
        else snprintf(fill, sizeof fill, "%.17g", n->value);
        fprintf(e->out, "    bprt_causal_mask_%s(%s, %s, %s, %s, %s, %s);\n", sfx, a, N, T1, T2, fill, out);
        return;
    }
    case OP_DROPOUT:
        if (e->v == V_FORWARD || e->v == V_EVAL || n->value == 0) {
            emit_copy(e, id, n->in[0]);
            return;
        }
        numel_c(g, s, N, sizeof N);
        fprintf(e->out, "    bprt_dropout_%s(%s, %s, %.17g, dropout_seed, %d, %s);\n", sfx, a, N, n->value, n->ival, out);
        return;
    default: BP_ASSERT(!"not a layer op");
    }
}

/* gelu(z) at v and gelu_grad(z) at w = v + 1 (pass_pair.c) in one bprt_ew_gelu_pair call
 * (--standalone, which has no ew.c: vmath.c's bprt_gelu_pair, on one thread) when both
 * would be passes of their own, over z's elements as stored, and w's storage is not v's nor
 * v's z's (w may be written over z: each element is read before it is written). */
static void plan_gelu_pairs(E *e) {
    const Graph *g = e->g;
    e->gelu_pair = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    for (int i = 0; i < g->n; i++) e->gelu_pair[i] = -1;
    for (int w = 1; w < g->n; w++) {
        const int v = w - 1, z = g->nodes[v].in[0];
        const Node *zn = &g->nodes[z];
        if (!ir_gelu_paired(g, w) || emitted_elsewhere(e, v) || emitted_elsewhere(e, w) || zn->dtype != DT_REAL ||
            zn->op == OP_CONST || zn->op == OP_DIMVAL || !shape_eq(&zn->shape, &g->nodes[v].shape) ||
            (e->lna_at && (e->lna_at[v] >= 0 || e->lna_at[w] >= 0)) || (e->cwb_at && (e->cwb_at[v] >= 0 || e->cwb_at[w] >= 0)) ||
            (e->sm && (e->sm[v].mm >= 0 || e->sm[w].mm >= 0)))
            continue;
        char x[96], y[96], d[96];
        ptr(e, z, x, sizeof x);
        ptr(e, v, y, sizeof y);
        ptr(e, w, d, sizeof d);
        if (!strcmp(y, x) || !strcmp(y, d)) continue;
        e->gelu_pair[v] = w;
        e->computed_early[w] = 1;
    }
}

static void emit_gelu_pair(E *e, int v, int w) {
    const Graph *g = e->g;
    char x[96], y[96], d[96], total[DIMS_C_MAX];
    ptr(e, g->nodes[v].in[0], x, sizeof x);
    ptr(e, v, y, sizeof y);
    ptr(e, w, d, sizeof d);
    numel_c(g, &g->nodes[v].shape, total, sizeof total);
    fprintf(e->out, "    /* %%%d = %sgelu_grad of the same input, in the same pass (one erf) */\n", w,
            g->nodes[w].adjoint ? "adjoint " : "");
    fprintf(e->out, "    bprt_%sgelu_pair_%s(%s, %s, %s, %s);\n", e->o->standalone ? "" : "ew_", e->o->f64 ? "f64" : "f32", x,
            y, d, total);
}

static void emit_node(E *e, int id) {
    const Node *n = &e->g->nodes[id];
    if (e->gelu_pair && e->gelu_pair[id] >= 0) {
        emit_gelu_pair(e, id, e->gelu_pair[id]);
        return;
    }
    if (e->lna_at && e->lna_at[id] >= 0) {
        emit_ln_affine(e, e->lna_at[id]);
        return;
    }
    if (e->cwb_at && e->cwb_at[id] >= 0) {
        emit_conv_wb(e, e->cwb_at[id]);
        return;
    }
    if (e->sm && e->sm[id].mm >= 0) {
        emit_sm(e, id);
        return;
    }
    switch (op_info[n->op].kind) {
    case OK_LEAF: return;
    case OK_UNARY:
    case OK_BINARY: emit_elementwise(e, id); return;
    case OK_REDUCE: emit_reduce(e, id); return;
    case OK_AXIS: emit_softmax(e, id); return;
    case OK_MATMUL: emit_matmul(e, id); return;
    case OK_LOSS: emit_loss(e, id); return;
    case OK_LAYER: emit_layer(e, id); return;
    case OK_SHAPE:
        switch (n->op) {
        case OP_TRANSPOSE: emit_transpose(e, id); return;
        case OP_RESHAPE: emit_copy(e, id, n->in[0]); return;
        case OP_BROADCAST: emit_elementwise(e, id); return;
        default: emit_concat_slice(e, id); return;
        }
    }
}

/* ---- functions ---- */
/* Per input of g (by index): 1 if a node of g reads it. One scan for all of them: a scan
 * per input made 10000 inputs 10^8 steps per function. */
static const char *inputs_used(const Graph *g) {
    char *used = arena_alloc(g->arena, (size_t)g->ninputs + 1);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_INPUT && g->nodes[i].ival >= 0 && g->nodes[i].ival < g->ninputs)
            used[g->nodes[i].ival] = 1;
    return used;
}

/* Names the header cannot give a parameter of its prototypes: C's and C++'s keywords, and the
 * names the header itself uses (its other parameters, its types, macros of the headers it
 * includes) */
static const char *const header_taken[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    "alignas", "alignof", "bool", "constexpr", "false", "nullptr", "static_assert", "thread_local", "true",
    "typeof", "typeof_unqual", "asm", "catch", "class", "const_cast", "decltype", "delete", "dynamic_cast",
    "explicit", "export", "friend", "mutable", "namespace", "new", "noexcept", "operator", "private",
    "protected", "public", "reinterpret_cast", "static_cast", "template", "this", "throw", "try", "typeid",
    "typename", "using", "virtual", "wchar_t", "char8_t", "char16_t", "char32_t", "concept", "requires",
    "co_await", "co_return", "co_yield", "and", "and_eq", "bitand", "bitor", "compl", "not", "not_eq", "or",
    "or_eq", "xor", "xor_eq", "params", "grad", "v", "hv", "opt_state", "lr", "ws", "seed", "dropout_seed",
    "real", "size_t", "ptrdiff_t", "int32_t", "int64_t", "uint64_t", "NULL", "offsetof",
    /* macros of <math.h>, <stdio.h>, <complex.h>, <errno.h> without an underscore, and gcc's
       GNU-mode ones (header_name_ok takes every name in capitals with an underscore) */
    "NAN", "INFINITY", "EOF", "I", "errno", "linux", "unix", "i386"};

/* How many inputs, outputs and sizes of g bear each name (for header_name_ok): counted once
 * for the header, since counting at each name made 10000 inputs 10^8 comparisons per function */
static NameTab header_names(Graph *g) {
    NameTab uses = {0};
    for (int i = 0; i < g->ninputs; i++) ++*nametab_ref(g->arena, &uses, g->inputs[i].name, 0);
    for (int i = 0; i < g->noutputs; i++) ++*nametab_ref(g->arena, &uses, g->output_names[i], 0);
    for (int s = 0; s < g->syms.n; s++) ++*nametab_ref(g->arena, &uses, g->syms.names[s], 0);
    return uses;
}

/* Whether the header's prototypes may call an input, output or size by the program's own
 * name: not a name in header_taken, not reserved (a leading underscore), not spelt like a
 * prefixed name (in_..., dim_..., out0_...), and the name of no other input, output or size
 * (uses: from header_names). Otherwise they call it as the .c
 * does (in_x, out0_y, dim_B): `input double[B, 3]`, `input ws[B, 3]` or `input x[ws]` made a
 * header that did not compile. */
static int header_name_ok(const NameTab *uses, const char *name) {
    if (name[0] == '_') return 0;
    /* the prefixed forms' own spellings (in_x, dim_B, out0_y): `input in_x` next to a
       refused `input double`, or `output v, out0_v`, gave two arguments one name */
    if (strncmp(name, "in_", 3) == 0 || strncmp(name, "dim_", 4) == 0) return 0;
    if (strncmp(name, "out", 3) == 0) {
        const char *c = name + 3;
        while (*c >= '0' && *c <= '9') c++;
        if (c > name + 3 && *c == '_') return 0;
    }
    /* the types and macros of <stdint.h> and <stddef.h> and the header's own macros:
       every name ending in _t, and every name in capitals with an underscore (INT32_MAX,
       SIZE_MAX, NAME_NPARAMS) */
    size_t len = strlen(name);
    if (len >= 2 && strcmp(name + len - 2, "_t") == 0) return 0;
    int macro = strchr(name, '_') != NULL;
    for (const char *c = name; *c && macro; c++) macro = (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (macro) return 0;
    for (size_t k = 0; k < sizeof header_taken / sizeof header_taken[0]; k++)
        if (strcmp(name, header_taken[k]) == 0) return 0;
    return nametab_get(uses, name, 0) <= 1;
}

/* The arguments' names are prefixed (dim_B, in_x, out0_y) in the .c (uses NULL), and in the
 * header where header_name_ok(uses, name) refuses a name */
static void emit_dims_args(FILE *out, const Graph *g, const NameTab *uses) {
    for (int s = 0; s < g->syms.n; s++)
        fprintf(out, ", int %s%s", !uses || !header_name_ok(uses, g->syms.names[s]) ? "dim_" : "", g->syms.names[s]);
}

/* R: the real type's name, `real` in definitions; the API's declarations name float or double,
 * so that a float model's header and a double one's can be included together. */
static void emit_inputs_args(FILE *out, const Graph *full, const char *only, const NameTab *uses, const char *R) {
    for (int i = 0; i < full->ninputs; i++) {
        if (only && !only[i]) continue;
        fprintf(out, ", const %s *%s%s", full->inputs[i].dtype == DT_INT ? "int32_t" : R,
                !uses || !header_name_ok(uses, full->inputs[i].name) ? "in_" : "", full->inputs[i].name);
    }
}

/* An output as a parameter of NAME_forward */
static void emit_output_arg(FILE *out, const Graph *g, int i, const NameTab *uses, const char *R) {
    if (!uses || !header_name_ok(uses, g->output_names[i])) fprintf(out, ", %s *out%d_%s", R, i, g->output_names[i]);
    else fprintf(out, ", %s *%s", R, g->output_names[i]);
}

static void prototype(FILE *out, const Graph *full, const Graph *fg, Variant v, const NameTab *uses,
                      const char *suffix, const char *R) {
    const char *m = full->model;
    switch (v) {
    case V_FORWARD:
        fprintf(out, "void %s_forward%s(const %s *params", m, suffix, R);
        emit_inputs_args(out, full, inputs_used(fg), uses, R);
        for (int i = 0; i < full->noutputs; i++) emit_output_arg(out, full, i, uses, R);
        break;
    case V_LOSS:
    case V_EVAL:
        fprintf(out, "%s %s_%s%s(const %s *params", R, m, variant_name[v], suffix, R);
        emit_inputs_args(out, full, NULL, uses, R);
        break;
    case V_GRAD:
        fprintf(out, "%s %s_grad%s(const %s *params, %s *grad", R, m, suffix, R, R);
        emit_inputs_args(out, full, NULL, uses, R);
        break;
    case V_HVP:
        fprintf(out, "%s %s_hvp%s(const %s *params, const %s *v, %s *hv", R, m, suffix, R, R, R);
        emit_inputs_args(out, full, NULL, uses, R);
        break;
    case V_STEP:
        fprintf(out, "static %s %s_step%s(%s *params, void *opt_state, %s *grad", R, m, suffix, R, R);
        emit_inputs_args(out, full, NULL, uses, R);
        break;
    }
}

/* The function's graph: pruned to its roots. NAME_hvp's writes H v where NAME_grad's writes
 * the gradient: its graph's grads are the hvps. */
static Graph *variant_graph(Graph *g, Variant v) {
    Graph *r = pass_dce(g, v != V_FORWARD, v == V_GRAD || v == V_STEP, v == V_FORWARD, v == V_HVP);
    if (r->pair_gelu) r = pass_gelu_pairs(r); /* after DCE: a pair where only this function's nodes read z */
    if (v == V_HVP) r->grads = r->hvps;
    return r;
}

const char *emit_forward_inputs(Graph *g) {
    return g->noutputs ? inputs_used(variant_graph(g, V_FORWARD)) : arena_alloc(g->arena, (size_t)g->ninputs + 1);
}
int *emit_loss_inputs(Graph *g, int used[BP_MAX_RUN_INPUTS]) {
    Graph *l = g->loss >= 0 ? variant_graph(g, V_LOSS) : NULL;
    const char *in_l = l ? inputs_used(l) : NULL;
    for (int i = 0; i < g->ninputs && i < BP_MAX_RUN_INPUTS; i++) used[i] = in_l && in_l[i];
    return used;
}
static int *syms_used(const Graph *l, int used[BP_MAXSYMS]) {
    for (int s = 0; s < BP_MAXSYMS; s++) used[s] = 0;
    for (int i = 0; l && i < l->n; i++) {
        const Node *n = &l->nodes[i];
        for (int k = 0; k < n->shape.rank; k++)
            if (n->shape.d[k].sym >= 0) used[n->shape.d[k].sym] = 1;
        if (n->op == OP_DIMVAL && n->dim.sym >= 0) used[n->dim.sym] = 1;
    }
    return used;
}
int *emit_loss_syms(Graph *g, int used[BP_MAXSYMS]) {
    return syms_used(g->loss >= 0 ? variant_graph(g, V_LOSS) : NULL, used);
}
int *emit_forward_syms(Graph *g, int used[BP_MAXSYMS]) {
    return syms_used(g->noutputs ? variant_graph(g, V_FORWARD) : NULL, used);
}

/* ---- attention's weights and their gradient, product by product (emit_sm) ---- */
/* Is id read once, by one node, and not kept (a root, pinned, fused into another loop)? */
static int sm_once(const E *e, const int *uses, const char *roots, int id) {
    return uses[id] == 1 && !roots[id] && !e->pinned[id] && e->fuse_user[id] < 0 &&
           op_info[e->g->nodes[id].op].kind != OK_LEAF;
}
/* x of x * c (either order), c a scalar constant into *c; else -1 */
static int sm_scaled(const Graph *g, int id, int *c) {
    const Node *n = &g->nodes[id];
    if (n->op != OP_MUL) return -1;
    for (int k = 0; k < 2; k++)
        if (g->nodes[n->in[1 - k]].op == OP_CONST && shape_eq(&g->nodes[n->in[k]].shape, &n->shape)) {
            *c = n->in[1 - k];
            return n->in[k];
        }
    return -1;
}
/* Is id a batched product of shape s (not folded into one GEMM, no summed axis)? */
static int sm_product(const Graph *g, int id, const Shape *s) {
    const Node *n = &g->nodes[id];
    if (n->op != OP_MATMUL || n->bsum || n->shape.rank < 3 || !shape_eq(&n->shape, s)) return 0;
    MatmulRun r;
    matmul_run(g, n, &r);
    return !r.single;
}

/* Finds the attention chains (SmChain) and marks their inner nodes as computed by the end
 * node (fuse_user: no storage of their own, the product's operands live until the end).
 * tiny_gpt's [32, 4, 64, 64] scores went through three passes over 2 MB (the scale, the mask,
 * the softmax; each product's C left L1 before) and their gradient through two. */
static void plan_sm(E *e, const char *roots) {
    const Graph *g = e->g;
    e->sm = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *e->sm);
    for (int i = 0; i < g->n; i++) e->sm[i].mm = -1;
    int *uses = ir_use_counts(g);
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        int chain[3], nc = 0, x, c = -1, y = -1, causal = 0, end = i;
        if (n->op == OP_SOFTMAX && n->axis == n->shape.rank - 1 && n->shape.rank >= 3) {
            x = n->in[0];
            const Node *m = &g->nodes[x];
            if (ir_masks_future(m)) {
                if (!sm_once(e, uses, roots, x)) continue;
                chain[nc++] = x;
                causal = 1;
                x = m->in[0];
            }
            const int in = sm_scaled(g, x, &c);
            if (in >= 0) {
                if (!sm_once(e, uses, roots, x)) continue;
                chain[nc++] = x;
                x = in;
            }
        } else if (n->op == OP_SOFTMAX_GRAD && n->shape.rank >= 3 && n->in[0] != n->in[1]) {
            y = n->in[0];
            x = n->in[1];
            causal = causal_zero_upper(g, y);
            int cc, u = -1;
            need_readers(e);
            if (sm_once(e, uses, roots, i)) readers_of(e, i, &u); /* its only reader */
            if (u >= 0 && sm_scaled(g, u, &cc) == i) { /* times c: the chain ends there */
                end = u;
                c = cc;
                chain[nc++] = i;
            }
        } else continue;
        if (!sm_once(e, uses, roots, x) || !sm_product(g, x, &g->nodes[end].shape)) continue;
        chain[nc++] = x;
        for (int k = 0; k < nc; k++) e->fuse_user[chain[k]] = end;
        e->sm[end] = (SmChain){x, y >= 0 ? i : -1, c, y, causal};
    }
    free(uses);
}

/* A parameter used k times has the gradient t1 + t2 + ... + tk (reverse mode's accumulation,
 * adds of one shape each read once): the earliest term, made long before the last, is written
 * straight to the gradient's place in the caller's array, where the sum then adds the others
 * (in place, each element read where it is written) instead of a workspace buffer of the
 * parameter's size holding it until then (a def called twice with the same weights held one
 * per weight). Only a term with storage of its own anyway (a product, not an elementwise node
 * that the sum's loop would compute), read by nothing else, the place this gradient's alone. */
static void pin_first_terms(E *e, const char *roots) {
    Graph *g = e->g;
    int *uses = ir_use_counts(g);
    for (int p = 0; p < g->nparams; p++) {
        const int G = g->grads[p];
        if (G < 0 || e->pinned[G] != 1 || e->pin_index[G] != p) continue;
        int shared = 0;
        for (int q = 0; q < g->nparams; q++) shared |= q != p && g->grads[q] == G;
        if (shared) continue;
        int x = G, y = -1;
        while (y < 0 && g->nodes[x].op == OP_ADD && g->nodes[x].adjoint) {
            const Node *n = &g->nodes[x];
            const int t = n->in[0] < n->in[1] ? n->in[0] : n->in[1]; /* the earlier term */
            const Node *tn = &g->nodes[t];
            const OpKind kind = op_info[tn->op].kind;
            if (n->in[0] == n->in[1] || uses[t] != 1 || roots[t] || e->pinned[t] || tn->dtype != DT_REAL ||
                !shape_eq(&tn->shape, &g->nodes[G].shape) || kind == OK_LEAF)
                break;
            if (tn->op == OP_ADD && tn->adjoint) x = t;
            else if (kind != OK_UNARY && kind != OK_BINARY && tn->op != OP_RESHAPE) y = t;
            else break;
        }
        if (y >= 0) {
            e->pinned[y] = 1;
            e->pin_index[y] = p;
        }
    }
    free(uses);
}

static void setup_plan(E *e) {
    Graph *g = e->g;
    e->pinned = arena_alloc(g->arena, (size_t)g->n + 1);
    e->pin_index = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    char *roots = arena_alloc(g->arena, (size_t)g->n + 1);
    if (g->loss >= 0) roots[g->loss] = 1;
    for (int i = 0; i < g->noutputs; i++) {
        int id = g->outputs[i];
        if (id < 0) continue;
        roots[id] = 1;
        const Node *n = &g->nodes[id];
        if (!e->pinned[id] && op_info[n->op].kind != OK_LEAF && (e->plan == NULL)) {
            e->pinned[id] = 2;
            e->pin_index[id] = i;
        }
    }
    if (g->grads)
        for (int p = 0; p < g->nparams; p++) {
            int id = g->grads[p];
            if (id < 0) continue;
            roots[id] = 1;
            const Node *n = &g->nodes[id];
            if (!e->pinned[id] && op_info[n->op].kind != OK_LEAF) {
                e->pinned[id] = 1;
                e->pin_index[id] = p;
            }
        }
    if (g->grads) pin_first_terms(e, roots);
    if (e->fused) /* the fused GEMMs run last: their operands live until the end */
        for (int i = 0; i < g->n; i++)
            if (e->fused[i]) roots[g->nodes[i].in[0]] = roots[g->nodes[i].in[1]] = 1;
    e->fuse_user = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    fuse_plan(g, roots, e->pinned, e->fuse_user);
    plan_sm(e, roots);
    int *product_temp = NULL; /* --standalone: the chains' products a scratch (plan.h) */
    if (e->o && e->o->standalone) {
        product_temp = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *product_temp);
        for (int i = 0; i < g->n; i++) product_temp[i] = e->sm[i].mm >= 0 ? e->sm[i].grad : -1;
    }
    e->plan = plan_make_sized(g, e->pinned, roots, e->fuse_user, e->sizes, product_temp, !e->sizes);
}

/* A buffer's element count as C (shape_numel_c's product of (size_t) factors, or a number)
 * computed in double instead: the same product, which cannot wrap */
static void ws_text_double(const char *text, char *buf, size_t size) {
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < size;)
        if (strncmp(p, "(size_t)", 8) == 0) {
            n += (size_t)snprintf(buf + n, size - n, "(double)");
            p += 8;
        } else buf[n++] = *p++;
    buf[n < size ? n : size - 1] = 0;
}

static void emit_ws_size_fn(E *e, const char *name) {
    Graph *g = e->g;
    fprintf(e->out, "static size_t %s(int unused_", name);
    for (int s = 0; s < g->syms.n; s++) fprintf(e->out, ", int %s", g->syms.names[s]);
    fprintf(e->out, ") {\n    size_t n = 0;\n    (void)unused_;\n");
    for (int s = 0; s < g->syms.n; s++) fprintf(e->out, "    (void)%s;\n", g->syms.names[s]);
    /* the same bytes as doubles: sizes whose products pass 2^62 bytes wrapped n (three
       inputs of 2^20, 2^20 and 2^22 - 1 numbers made a 2^66-byte value count 0 bytes, and
       the call wrote past its workspace); from SIZE_MAX / 4 (2^62 with a 64-bit size_t, 2^30
       with a 32-bit one) SIZE_MAX / 2, which the sums of NAME_workspace_size keep above any
       memory */
    fprintf(e->out, "    double big = 0;\n");
    for (int b = 0; b < e->plan->nbufs; b++) {
        char d[1024];
        ws_text_double(e->plan->buf_size[b], d, sizeof d);
        fprintf(e->out, "    n += BP_AL(sizeof(real) * %s);\n", e->plan->buf_size[b]);
        fprintf(e->out, "    big += (double)sizeof(real) * %s;\n", d);
    }
    fprintf(e->out, "    return big < (double)(SIZE_MAX / 4) ? n : SIZE_MAX / 2;\n}\n\n");
}

static void emit_line(E *e, Loc loc) {
    if (!e->o->line_directives || !loc.file || loc.line <= 0) return;
    fprintf(e->out, "#line %d \"", loc.line);
    for (const char *p = loc.file; *p; p++) {
        if (*p == '"' || *p == '\\') fputc('\\', e->out);
        if ((unsigned char)*p >= 0x20) fputc(*p, e->out);
    }
    fprintf(e->out, "\"\n");
}

int emit_has_dropout(const Graph *g) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_DROPOUT && g->nodes[i].value > 0) return 1;
    return 0;
}

/* Can train_step fuse its update into the weight-gradient GEMMs? Every optimizer but with
 * gradient clipping (which needs the norm of the whole gradient first), and no dropout
 * (its functions are seeded variants). Plain SGD (p -= lr g) is a GEMM with alpha = -lr and
 * beta = 1 into p; momentum and Adam call bprt_gemm_sgd / bprt_gemm_adam, which on several
 * threads make the gradient in blocks of rows, each updated in cache by the threads that
 * made it (measured on fashion_mlp with Adam, 2 threads, batch 16: 0.354 -> 0.30 ms; on 1
 * thread, where blocks measured 3-5% slower, they are the whole GEMM and then the update). */
static int step_fusable(const Graph *g) { return g->loss >= 0 && !(g->opt.clip > 0) && !emit_has_dropout(g); }

static int plain_sgd(const OptConfig *o) {
    return (o->kind == OPT_SGD || o->kind == OPT_NONE) && o->momentum == 0 && o->weight_decay == 0;
}

static size_t plan_bytes(const Graph *g, const Plan *pl, const int64_t *dims, size_t real_size);
static void setup_plan(E *e);
static int mark_candidates(const Graph *vg, char *fused);

/* Workspace bytes of a function's plan at every symbolic size 64 (for comparisons; sizes:
 * plan_sizes(vg), made once for all the plans). The plan is thrown away: it is made in an
 * arena of its own, freed after (mark_fused makes one per parameter, and 1000 of them kept
 * 10 s of page faults' worth in the graph's arena). */
static size_t plan_bytes_64(Graph *vg, char *fused, const PlanSizes *sizes) {
    Arena *keep = vg->arena;
    vg->arena = arena_new();
    E e;
    memset(&e, 0, sizeof e);
    e.g = vg;
    e.fused = fused;
    e.sizes = sizes;
    setup_plan(&e);
    int64_t dims[BP_MAXSYMS];
    for (int k = 0; k < BP_MAXSYMS; k++) dims[k] = 64;
    size_t bytes = plan_bytes(vg, e.plan, dims, 4);
    arena_free(vg->arena);
    vg->arena = keep;
    return bytes;
}

/* Marks in fused[] the gradient nodes of vg (the step's graph) that a fused GEMM writes
 * into params: a 2-D matmul of real operands with storage, the gradient of exactly one
 * parameter, read by no other node. The fused GEMMs run last, so their operands live
 * longer: candidates are taken latest first (their operands die last anyway), each only
 * if the workspace does not grow beyond NAME_grad's, both planned with one buffer per size
 * (plan.c's merging of buffers of other sizes left out: the choice is the one it was before
 * there was that merging, and the merged plans are smaller; so the step's merged plan stays
 * within NAME_grad's unmerged one, not always within its merged one). Each try is a memory plan of
 * the whole graph, so past FUSE_ONE_BY_ONE candidates they are tried in runs, the next run
 * twice as long after a run taken, one candidate after one refused: a workspace that grows
 * with the candidates fused gives the same marks with far fewer plans (400 attention
 * blocks' 1200 candidates, all but one taken, were 1200 plans and 67% of --emit=c).
 * Returns how many. */
enum { FUSE_ONE_BY_ONE = 32 };
static int mark_fused(Graph *vg, char *fused) {
    char *cand = arena_alloc(vg->arena, (size_t)vg->n + 1);
    int ncand = mark_candidates(vg, cand);
    if (!ncand) return 0;
    const PlanSizes *sizes = plan_sizes(vg);
    const size_t limit = plan_bytes_64(vg, NULL, sizes);
    int *order = malloc((size_t)ncand * sizeof *order), n = 0, count = 0;
    if (!order) abort();
    for (int i = vg->n - 1; i >= 0; i--)
        if (cand[i]) order[n++] = i;
    for (int at = 0, run = 1; at < n;) {
        if (n <= FUSE_ONE_BY_ONE) run = 1;
        const int end = at + run < n ? at + run : n;
        for (int k = at; k < end; k++) fused[order[k]] = 1;
        if (plan_bytes_64(vg, fused, sizes) <= limit) {
            count += end - at;
            at = end;
            run *= 2;
            continue;
        }
        for (int k = at; k < end; k++) fused[order[k]] = 0;
        if (run == 1) at++; /* refused */
        else run /= 2;
    }
    free(order);
    return count;
}

static int mark_candidates(const Graph *vg, char *fused) {
    int count = 0;
    int *uses = ir_use_counts(vg);
    for (int p = 0; p < vg->nparams; p++) {
        int id = vg->grads[p];
        if (id < 0) continue;
        const Node *n = &vg->nodes[id];
        if (n->op != OP_MATMUL || n->dtype != DT_REAL) continue;
        MatmulRun r;
        matmul_run(vg, n, &r);
        if (!r.single) continue;
        int ok = 1;
        for (int k = 0; k < 2; k++) {
            const Node *a = &vg->nodes[n->in[k]];
            /* not a parameter itself: the fused GEMMs update parameters as they go, and each
               must read the values before the step (sum(A @ B): dA reads B, dB reads A) */
            ok &= a->dtype == DT_REAL && a->op != OP_CONST && a->op != OP_DIMVAL &&
                  a->op != OP_VECTOR && a->op != OP_PARAM;
        }
        ok &= uses[id] == 0;
        for (int q = 0; q < vg->nparams && ok; q++) ok &= q == p || vg->grads[q] != id;
        ok &= vg->loss != id;
        if (ok) fused[id] = 1, count++;
    }
    free(uses);
    return count;
}

/* emit_c's memo of mark_fused on a graph's V_STEP variant (Graph.step_memo), and what that
 * variant is made from as it was then: the graph's nodes, loss and gradients. */
typedef struct StepMemo {
    Node *nodes; /* a copy of the graph's n nodes */
    int *grads;  /* a copy of its nparams gradients' ids, or NULL */
    int n, nparams, loss, fold, cse;
    char *fused; /* per node of the variant (vn of them): 1 for a gradient GEMM fused with the update */
    int vn, nfused;
} StepMemo;

/* Was m worked out on g as it is now? (Its node count alone did not tell: a node changed in
 * place, or a gradient or the loss made another, left a stale memo.) */
static int step_memo_fresh(const StepMemo *m, const Graph *g) {
    return m && m->n == g->n && m->nparams == g->nparams && m->loss == g->loss && m->fold == g->fold &&
           m->cse == g->cse && !m->grads == !g->grads &&
           (!g->grads || memcmp(m->grads, g->grads, (size_t)g->nparams * sizeof *g->grads) == 0) &&
           memcmp(m->nodes, g->nodes, (size_t)g->n * sizeof *g->nodes) == 0;
}

/* Marks in fused[] (vg->n + 1 of them) what mark_fused does on vg = variant_graph(g, V_STEP),
 * worked out once per graph as it stands (g->step_memo): an --emit=c asked 11 times
 * (has_fused_step, the workspaces' sizes, the resource check), each making a memory plan per
 * parameter. Returns how many. */
static int step_marks(Graph *g, Graph *vg, char *fused) {
    StepMemo *m = g->step_memo;
    if (!step_memo_fresh(m, g)) {
        Graph *v = variant_graph(g, V_STEP);
        m = g->step_memo = arena_alloc(g->arena, sizeof *m);
        m->nodes = arena_alloc(g->arena, (size_t)g->n * sizeof *m->nodes + 1);
        if (g->n) memcpy(m->nodes, g->nodes, (size_t)g->n * sizeof *m->nodes);
        if (g->grads) {
            m->grads = arena_alloc(g->arena, (size_t)g->nparams * sizeof *m->grads + 1);
            if (g->nparams) memcpy(m->grads, g->grads, (size_t)g->nparams * sizeof *m->grads);
        }
        m->n = g->n, m->nparams = g->nparams, m->loss = g->loss, m->fold = g->fold, m->cse = g->cse;
        m->fused = arena_alloc(g->arena, (size_t)v->n + 1);
        m->vn = v->n;
        m->nfused = mark_fused(v, m->fused);
    }
    if (!fused) return m->nfused;
    BP_ASSERT(vg->n == m->vn); /* vg is variant_graph(g, V_STEP), as m's was */
    memcpy(fused, m->fused, (size_t)vg->n);
    return m->nfused;
}

/* Does the program get NAME_step_ (and a train_step through it)? */
static int has_fused_step(Graph *g) { return step_fusable(g) && step_marks(g, NULL, NULL) > 0; }

/* The end of NAME_step_: every gradient but the fused ones is in grad. If the loss is finite
 * and the plain update would accept the gradient (its sum of squares finite: for the fused
 * ones this follows from a bound on each, max|a| max|b| K, with its operands finite), the
 * fused GEMMs update params themselves and the other parameters get the plain update
 * (*updated = 1). Otherwise the GEMMs write the gradient into grad (*updated = 0) and the
 * plain update decides, as NAME_grad + NAME_update would. */
static void emit_step_tail(E *e) {
    const Graph *g = e->g;
    FILE *out = e->out;
    const char *sfx = e->o->f64 ? "f64" : "f32", *gemm = e->o->f64 ? "bprt_dgemm" : "bprt_sgemm";
    char lv[320];
    fprintf(out, "    {\n        const real loss_ = %s;\n        double ss_ = 0;\n        int ok_ = loss_ - loss_ == 0;\n",
            elem(e, g->loss, "0", lv, sizeof lv));
    for (int p = 0; p < g->nparams; p++) {
        int id = g->grads[p];
        if (id >= 0 && e->fused[id]) continue;
        fprintf(out, "        ss_ += bprt_sumsq_%s(grad + %lld, %lld);\n", sfx, (long long)g->params[p].offset,
                (long long)g->params[p].numel);
    }
    /* the fused gradients, by their bound gb = max|a| max|b| K: finite, and their squares
       cannot overflow the plain update's float partial sums (256 squares each) nor push the
       sum of squares over its 1e308, so the plain update would have accepted them too */
    for (int p = 0; p < g->nparams; p++) {
        int id = g->grads[p];
        if (id < 0 || !e->fused[id]) continue;
        const Node *n = &g->nodes[id];
        MatmulRun r;
        GemmArgs q;
        char na[DIMS_C_MAX], nb[DIMS_C_MAX];
        matmul_run(g, n, &r);
        gemm_args(e, n, &r, &q);
        numel_c(g, &g->nodes[n->in[0]].shape, na, sizeof na);
        numel_c(g, &g->nodes[n->in[1]].shape, nb, sizeof nb);
        fprintf(out, "        if (ok_) {\n            const double gb_ = bprt_maxabs_%s(%s, %s) * bprt_maxabs_%s(%s, %s) * (double)%s;\n"
                     "            ok_ = gb_ <= %s;\n            ss_ += (double)%lld * gb_ * gb_;\n        }\n",
                sfx, q.pa, na, sfx, q.pb, nb, q.K, e->o->f64 ? "1e150" : "1e18", (long long)g->params[p].numel);
    }
    fprintf(out, "        ok_ = ok_ && ss_ <= 1e307;\n");
    fprintf(out, "        *updated = ok_;\n");
    const OptConfig *opt = &g->opt;
    const int adam = opt->kind == OPT_ADAM || opt->kind == OPT_ADAMW;
    char hyper[256]; /* four %.17g (24 characters each), an int and 25 more */
    if (adam)
        snprintf(hyper, sizeof hyper, "lr, %.17g, %.17g, %.17g, %.17g, %d, *step_", opt->beta1, opt->beta2, opt->eps,
                 opt->weight_decay, opt->kind == OPT_ADAMW);
    else snprintf(hyper, sizeof hyper, "lr, %.17g, %.17g", opt->momentum, opt->weight_decay);
    for (int pass = 0; pass < 2; pass++) {
        if (pass) fprintf(out, "        } else {\n");
        else
            fprintf(out, "        if (ok_) {\n            double *step_ = (double *)opt_state;\n"
                         "            real *m1_ = (real *)((char *)opt_state + 64);\n"
                         "            real *m2_ = (real *)((char *)opt_state + 64 + BP_AL(sizeof(real) * %lld));\n"
                         "            (void)m1_;\n            (void)m2_;\n            *step_ += 1;\n",
                    (long long)g->nparam_reals);
        for (int p = 0; p < g->nparams; p++) {
            int id = g->grads[p];
            long long off = (long long)g->params[p].offset;
            if (id < 0) continue; /* the loss does not reach it: no update (NAME_update's rule) */
            if (!pass && !e->fused[id]) { /* the plain update of this parameter */
                if (adam)
                    fprintf(out, "            bprt_adam_%s(params + %lld, grad + %lld, m1_ + %lld, m2_ + %lld, %lld, %s, 1);\n",
                            sfx, off, off, off, off, (long long)g->params[p].numel, hyper);
                else
                    fprintf(out, "            bprt_sgd_%s(params + %lld, grad + %lld, m1_ + %lld, %lld, %s, 1);\n", sfx, off,
                            off, off, (long long)g->params[p].numel, hyper);
                continue;
            }
            if (!e->fused[id]) continue;
            const Node *n = &g->nodes[id];
            MatmulRun r;
            GemmArgs q;
            matmul_run(g, n, &r);
            gemm_args(e, n, &r, &q);
            if (pass || plain_sgd(opt))
                fprintf(out, "            %s(%d, %d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s + %lld, %s); /* %s */\n", gemm, n->ta,
                        n->tb, q.M, q.N, q.K, pass ? "1" : "-lr", q.pa, q.lda, q.pb, q.ldb, pass ? "0" : "1", pass ? "grad" : "params",
                        off, q.N, g->params[p].name);
            else if (adam)
                fprintf(out, "            bprt_gemm_adam_%s(%d, %d, %s, %s, %s, %s, %s, %s, %s, grad + %lld, params + %lld, m1_ + %lld, "
                             "m2_ + %lld, %s); /* %s */\n",
                        sfx, n->ta, n->tb, q.M, q.N, q.K, q.pa, q.lda, q.pb, q.ldb, off, off, off, off, hyper, g->params[p].name);
            else
                fprintf(out, "            bprt_gemm_sgd_%s(%d, %d, %s, %s, %s, %s, %s, %s, %s, grad + %lld, params + %lld, m1_ + %lld, "
                             "%s); /* %s */\n",
                        sfx, n->ta, n->tb, q.M, q.N, q.K, q.pa, q.lda, q.pb, q.ldb, off, off, off, hyper, g->params[p].name);
        }
    }
    fprintf(out, "        }\n        return loss_;\n    }\n}\n\n");
}

/* A call of NAME_<fn> with the arguments of the function it is in: params (and grad), the
 * inputs, the sizes, then `last` (e.g. "0, ws": a seed and the workspace). */
static void call_with_args(FILE *out, const Graph *g, const char *fn, int grad, const char *last) {
    fprintf(out, "%s_%s(params%s", g->model, fn, grad ? ", grad" : "");
    for (int i = 0; i < g->ninputs; i++) fprintf(out, ", in_%s", g->inputs[i].name);
    for (int s = 0; s < g->syms.n; s++) fprintf(out, ", dim_%s", g->syms.names[s]);
    fprintf(out, ", %s)", last);
}

/* A function (prototype of v with suffix; takes_seed: an unused uint64_t dropout_seed before
 * ws) that returns what NAME_<callee> does with its arguments and `last`. */
static void emit_alias(FILE *out, Graph *g, Variant v, const char *suffix, int takes_seed, const char *callee,
                       const char *last) {
    prototype(out, g, g, v, NULL, suffix, "real");
    emit_dims_args(out, g, NULL);
    fprintf(out, "%s, void *ws) {\n%s    return ", takes_seed ? ", uint64_t dropout_seed" : "",
            takes_seed ? "    (void)dropout_seed;\n" : "");
    call_with_args(out, g, callee, v == V_GRAD, last);
    fprintf(out, ";\n}\n\n");
}

/* A node's code, after its location and a comment with its number, op and shape. */
static void emit_numbered(E *e, int i, const char *note) {
    const Node *n = &e->g->nodes[i];
    char s[SHAPE_STR_MAX];
    emit_line(e, n->loc);
    if (e->cwb_at && e->cwb_at[i] >= 0) { /* not made: the call names the nodes it makes */
        emit_node(e, i);
        return;
    }
    fprintf(e->out, "    /* %%%d = %s%s %s%s%s%s */\n", i, n->adjoint ? "adjoint " : "", op_info[n->op].name,
            shape_str(&n->shape, &e->g->syms, s, sizeof s), n->name ? " " : "", n->name ? n->name : "", note);
    emit_node(e, i);
}

static void emit_function(FILE *out, Graph *full, Variant v, const EmitOptions *o) {
    E e;
    memset(&e, 0, sizeof e);
    e.out = out;
    e.o = o;
    e.v = v;
    e.g = variant_graph(full, v);
    for (int k = 0; k < e.g->syms.n; k++) e.g->syms.names[k] = arena_printf(e.g->arena, "dim_%s", full->syms.names[k]);
    e.plan = NULL;
    if (v == V_STEP) {
        e.fused = arena_alloc(e.g->arena, (size_t)e.g->n + 1);
        step_marks(full, e.g, e.fused);
    }
    setup_plan(&e);
    plan_tri(&e);
    plan_epilogues(&e);
    plan_gelu_pairs(&e);
    Graph *g = e.g;
    char wsname[128]; /* the model's name (BP_NAME_MAX: sema cuts a file's stem to it) and 12 more */
    snprintf(wsname, sizeof wsname, "%s_ws_%s_", full->model, variant_name[v]);
    emit_ws_size_fn(&e, wsname);
    /* with dropout, loss and grad take the masks' seed (see emit_loss_functions) */
    int seeded = (v == V_LOSS || v == V_GRAD) && emit_has_dropout(full);
    if (v == V_LOSS && seeded) fprintf(out, "static ");
    prototype(out, full, g, v, NULL, seeded ? (v == V_LOSS ? "_seeded_" : "_seeded") : v == V_STEP ? "_" : "", "real");
    emit_dims_args(out, full, NULL);
    fprintf(out, "%s, void *ws%s) {\n    char *w = (char *)ws;\n    (void)params;\n    (void)w;\n",
            seeded ? ", uint64_t dropout_seed" : "", v == V_STEP ? ", real lr, int *updated" : "");
    if (seeded) fprintf(out, "    (void)dropout_seed;\n");
    if (g->syms.n) { /* sizes out of range: nothing written, a NaN loss (as at no rows) */
        fprintf(out, "    if (!");
        sizes_ok_call(out, full);
        fprintf(out, ") %s\n", v == V_FORWARD ? "return;" : v == V_STEP ? "{\n        *updated = 0;\n        return (real)NAN;\n    }"
                                                                     : "return (real)NAN;");
    }
    if (v == V_HVP && emit_has_dropout(full)) /* the masks of NAME_loss and NAME_grad (seed 0) */
        fprintf(out, "    const uint64_t dropout_seed = 0;\n    (void)dropout_seed;\n    (void)v;\n");
    else if (v == V_HVP) fprintf(out, "    (void)v;\n");
    if (!full->nparams && (v == V_GRAD || v == V_HVP || v == V_STEP)) /* no parameters: no gradient written */
        fprintf(out, "    (void)%s;\n", v == V_HVP ? "hv" : "grad");
    for (int s = 0; s < g->syms.n; s++) fprintf(out, "    (void)%s;\n", g->syms.names[s]);
    const char *used = inputs_used(g);
    for (int i = 0; i < full->ninputs; i++)
        if (v != V_FORWARD || used[i]) fprintf(out, "    (void)in_%s;\n", full->inputs[i].name);
    for (int b = 0; b < e.plan->nbufs; b++)
        fprintf(out, "    real *t%d = (real *)w;\n    w += BP_AL(sizeof(real) * %s);\n", b, e.plan->buf_size[b]);
    for (int b = 0; b < e.plan->nbufs; b++) fprintf(out, "    (void)t%d;\n", b);
    for (int i = 0; i < g->n; i++) {
        if (emitted_elsewhere(&e, i)) continue;
        for (int j = i + 1; e.epilogue[i] >= 0 && j < e.epilogue[i]; j++) /* products run before it */
            if (e.hoisted[j] == i) emit_numbered(&e, j, " (before the next product)");
        emit_numbered(&e, i, "");
    }
    if (o->line_directives) fprintf(out, "#line 1 \"<generated>\"\n");
    if (v == V_FORWARD) {
        for (int i = 0; i < g->noutputs; i++) {
            int id = g->outputs[i];
            if (e.pinned[id] == 2 && e.pin_index[id] == i) continue;
            char dst[96], val[320], total[DIMS_C_MAX];
            snprintf(dst, sizeof dst, "out%d_%s", i, g->output_names[i]);
            numel_c(g, &g->nodes[id].shape, total, sizeof total);
            elem(&e, id, is_scalar_like(&g->nodes[id]) ? "0" : "i", val, sizeof val);
            fprintf(out, "    for (size_t i = 0; i < %s; i++) %s[i] = %s;\n", total, dst, val);
        }
        fprintf(out, "}\n\n");
        return;
    }
    const char *dest = v == V_HVP ? "hv" : "grad";
    if (v == V_GRAD || v == V_HVP || v == V_STEP)
        for (int p = 0; p < g->nparams; p++) {
            int id = g->grads[p];
            long long off = (long long)g->params[p].offset, cnt = (long long)g->params[p].numel;
            if (id < 0) {
                fprintf(out, "    memset(%s + %lld, 0, sizeof(real) * %lld);\n", dest, off, cnt);
                continue;
            }
            if ((e.pinned[id] == 1 && e.pin_index[id] == p) || (e.fused && e.fused[id])) continue;
            char val[320];
            elem(&e, id, is_scalar_like(&g->nodes[id]) ? "0" : "i", val, sizeof val);
            fprintf(out, "    for (size_t i = 0; i < %lld; i++) %s[%lld + i] = %s;\n", cnt, dest, off, val);
        }
    if (v == V_STEP) {
        emit_step_tail(&e);
        return;
    }
    char lv[320];
    if (g->loss >= 0) fprintf(out, "    return %s;\n}\n\n", elem(&e, g->loss, "0", lv, sizeof lv));
    else fprintf(out, "    return (real)NAN;\n}\n\n");
}

/* NAME_loss, NAME_loss_eval, NAME_grad and NAME_grad_seeded. With dropout, the loss and the
 * gradient are functions of the masks' seed (NAME_loss_seeded_, static, and
 * NAME_grad_seeded), which NAME_loss and NAME_grad call with 0 and train_step with the
 * optimizer's step count; NAME_loss_eval is a function of its own, every dropout the
 * identity. Without dropout, NAME_loss_eval is NAME_loss, and NAME_grad_seeded NAME_grad. */
static void emit_loss_functions(FILE *out, Graph *g, const EmitOptions *o) {
    emit_function(out, g, V_LOSS, o);
    if (emit_has_dropout(g)) {
        emit_alias(out, g, V_LOSS, "", 0, "loss_seeded_", "0, ws");
        emit_function(out, g, V_EVAL, o);
        emit_function(out, g, V_GRAD, o);
        emit_alias(out, g, V_GRAD, "", 0, "grad_seeded", "0, ws");
    } else {
        emit_alias(out, g, V_EVAL, "", 0, "loss", "ws");
        emit_function(out, g, V_GRAD, o);
        emit_alias(out, g, V_GRAD, "_seeded", 1, "grad", "ws");
    }
}

static const char *preamble_math =
    "#define BP_AL(n) (((n) + (size_t)63) & ~(size_t)63)\n"
    "#if defined(__GNUC__) || defined(__clang__) || defined(__TINYC__)\n"
    "#define BP_INLINE static inline __attribute__((unused))\n"
    "#else\n#define BP_INLINE static inline\n#endif\n"
    "BP_INLINE real bp_neg(real x) { return -x; }\n"
    "BP_INLINE real bp_exp(real x) { real y; BP_V(exp)(&x, &y, 1); return y; }\n"
    "BP_INLINE real bp_erf(real x) { real y; BP_V(erf)(&x, &y, 1); return y; }\n"
    "BP_INLINE real bp_log(real x) { return BP_M(log)(x); }\n"
    "BP_INLINE real bp_sqrt(real x) { return BP_M(sqrt)(x); }\n"
    "BP_INLINE real bp_abs(real x) { return BP_M(fabs)(x); }\n"
    "BP_INLINE real bp_sin(real x) { return BP_M(sin)(x); }\n"
    "BP_INLINE real bp_cos(real x) { return BP_M(cos)(x); }\n"
    "BP_INLINE real bp_tanh(real x) { real y; BP_V(tanh)(&x, &y, 1); return y; }\n"
    "BP_INLINE int bp_isinf(real x) { return x - x != x - x && x == x; }\n"
    "BP_INLINE real bp_sigmoid(real x) {\n"
    "    if (x >= 0) return (real)1 / ((real)1 + bp_exp(-x));\n"
    "    { real t = bp_exp(x); return t / ((real)1 + t); }\n}\n"
    "BP_INLINE real bp_relu(real x) { return !(x <= 0) ? x : (real)0; }\n" /* NaN stays NaN, as in PyTorch */
    "BP_INLINE real bp_leaky_relu(real x, real a) { return x > 0 ? x : a * x; }\n"
    "BP_INLINE real bp_gelu(real x) { real y; BP_V(gelu)(&x, &y, 1); return y; }\n"
    "BP_INLINE real bp_gelu_deriv(real x) { real y; BP_V(gelu_grad)(&x, &y, 1); return y; }\n"
    "BP_INLINE real bp_softplus(real x) { return (x > 0 ? x : (real)0) + BP_M(log1p)(bp_exp(-BP_M(fabs)(x))); }\n"
    "BP_INLINE real bp_powi(real x, int n) {\n"
    "    real r = 1, b = x; int k = n < 0 ? -n : n;\n"
    "    while (k) { if (k & 1) r *= b; b *= b; k >>= 1; }\n"
    "    return n < 0 ? (real)1 / r : r;\n}\n"
    "BP_INLINE real bp_sign(real x) { return x != x ? x : (real)((x > 0) - (x < 0)); } /* NaN stays */\n"
    "BP_INLINE real bp_step(real x) { return x > 0 ? (real)1 : (real)0; }\n"
    "BP_INLINE real bp_leaky_step(real x, real a) { return x > 0 ? (real)1 : a; }\n"
    "BP_INLINE real bp_add(real a, real b) { return a + b; }\n"
    "BP_INLINE real bp_sub(real a, real b) { return a - b; }\n"
    "BP_INLINE real bp_mul(real a, real b) { return a * b; }\n"
    "BP_INLINE real bp_div(real a, real b) { return a / b; }\n"
    "BP_INLINE real bp_pow(real a, real b) { return BP_M(pow)(a, b); }\n"
    "BP_INLINE real bp_maximum(real a, real b) { return a > b || a != a ? a : b; }\n" /* a NaN either side wins */
    "BP_INLINE real bp_minimum(real a, real b) { return a < b || a != a ? a : b; }\n"
    "BP_INLINE real bp_gt(real a, real b) { return a > b ? (real)1 : (real)0; }\n"
    "BP_INLINE real bp_eq(real a, real b) { return a == b ? (real)1 : (real)0; }\n"
    /* a gradient a through a mask b (relu's, maximum's): 0 where b is 0, even for a = inf */
    "BP_INLINE real bp_mask_mul(real a, real b) { return b != 0 ? a * b : (real)0; }\n"
    /* ... in the loops: inline for tcc, which calls every function; gcc and clang inline the
       call, which reads a whatever b is. In ?: a is read only where b != 0, which GCC 12 at
       -O3 on AVX-512VL vectorises into masked gathers that lose lanes: --jit cc gave
       sum(max(A, axis = 1)) of A[4, 3, 3] in double a gradient of 0 at maxima */
    "#ifdef __TINYC__\n#define BP_MASK_MUL(a, b) ((b) != 0 ? (a) * (b) : (real)0)\n"
    "#else\n#define BP_MASK_MUL(a, b) bp_mask_mul(a, b)\n#endif\n"
    /* PyTorch's binary_cross_entropy term: each log clamped at -100 (a NaN stays NaN) */
    "BP_INLINE real bp_bce(real p, real t) {\n"
    "    real lp = BP_M(log)(p), lq = BP_M(log)((real)1 - p);\n"
    "    return (t - (real)1) * (lq < (real)-100 ? (real)-100 : lq) - t * (lp < (real)-100 ? (real)-100 : lp);\n}\n"
    /* PyTorch's binary_cross_entropy_with_logits term (1 - t) z + max(-z, 0) + log(1 + e^-|z|),
       written for z < 0 as -t z + log(1 + e^z): neither side cancels two large terms (the
       loss of z = 20, t = 1 - 2^-24 was 60% off in float). z - z is 0, or NaN at z = -inf
       where PyTorch's (1 - t) z + max(-z, 0) is NaN. */
    "BP_INLINE real bp_bce_logits(real z, real t) {\n"
    "    real l = BP_M(log1p)(bp_exp(-BP_M(fabs)(z)));\n"
    "    return z >= 0 ? ((real)1 - t) * z + l : (z - z) - t * z + l;\n}\n\n";

static const char *runtime_decls =
    "void bprt_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,\n"
    "                int lda, const float *B, int ldb, float beta, float *C, int ldc);\n"
    "void bprt_dgemm(int transA, int transB, int M, int N, int K, double alpha, const double *A,\n"
    "                int lda, const double *B, int ldb, double beta, double *C, int ldc);\n"
    "void bprt_sgemm_ew(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,\n"
    "                   const float *B, int ldb, float beta, float *C, int ldc, const int32_t *code,\n"
    "                   int ncode, const double *konst, const float *const *leaf, int nleaf,\n"
    "                   const ptrdiff_t *ld, const unsigned char *vec, float *out, ptrdiff_t ldo);\n"
    "void bprt_dgemm_ew(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,\n"
    "                   const double *B, int ldb, double beta, double *C, int ldc, const int32_t *code,\n"
    "                   int ncode, const double *konst, const double *const *leaf, int nleaf,\n"
    "                   const ptrdiff_t *ld, const unsigned char *vec, double *out, ptrdiff_t ldo);\n"
    "void bprt_sgemm_ew_sum(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,\n"
    "                       const float *B, int ldb, float beta, float *C, int ldc, const int32_t *code,\n"
    "                       int ncode, const double *konst, const float *const *leaf, int nleaf,\n"
    "                       const ptrdiff_t *ld, const unsigned char *vec, float *out, ptrdiff_t ldo, float *y,\n"
    "                       size_t P);\n"
    "void bprt_dgemm_ew_sum(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,\n"
    "                       const double *B, int ldb, double beta, double *C, int ldc, const int32_t *code,\n"
    "                       int ncode, const double *konst, const double *const *leaf, int nleaf,\n"
    "                       const ptrdiff_t *ld, const unsigned char *vec, double *out, ptrdiff_t ldo, double *y,\n"
    "                       size_t P);\n"
    "void bprt_sgemm_batch(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,\n"
    "                      const float *B, int ldb, float beta, float *C, int ldc, int rank, const size_t *dims,\n"
    "                      const size_t *sa, const size_t *sb, const size_t *sc, int sum);\n"
    "void bprt_dgemm_batch(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,\n"
    "                      const double *B, int ldb, double beta, double *C, int ldc, int rank, const size_t *dims,\n"
    "                      const size_t *sa, const size_t *sb, const size_t *sc, int sum);\n"
    "void bprt_sgemm_batch_tri(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,\n"
    "                          const float *B, int ldb, float beta, float *C, int ldc, int rank, const size_t *dims,\n"
    "                          const size_t *sa, const size_t *sb, const size_t *sc, int sum, int tri);\n"
    "void bprt_dgemm_batch_tri(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,\n"
    "                          const double *B, int ldb, double beta, double *C, int ldc, int rank, const size_t *dims,\n"
    "                          const size_t *sa, const size_t *sb, const size_t *sc, int sum, int tri);\n"
    "void bprt_sgemm_batch_softmax(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,\n"
    "                              const float *B, int ldb, float beta, float *C, int ldc, int rank, const size_t *dims,\n"
    "                              const size_t *sa, const size_t *sb, const size_t *sc, int sum, int causal);\n"
    "void bprt_dgemm_batch_softmax(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,\n"
    "                              const double *B, int ldb, double beta, double *C, int ldc, int rank,\n"
    "                              const size_t *dims, const size_t *sa, const size_t *sb, const size_t *sc, int sum,\n"
    "                              int causal);\n"
    "void bprt_sgemm_batch_softmax_grad(int transA, int transB, int M, int N, int K, float alpha, const float *A,\n"
    "                                   int lda, const float *B, int ldb, float beta, float *C, int ldc, int rank,\n"
    "                                   const size_t *dims, const size_t *sa, const size_t *sb, const size_t *sc, int sum,\n"
    "                                   const float *Y, int causal, int scaled, float scale, float *tmp);\n"
    "void bprt_dgemm_batch_softmax_grad(int transA, int transB, int M, int N, int K, double alpha, const double *A,\n"
    "                                   int lda, const double *B, int ldb, double beta, double *C, int ldc, int rank,\n"
    "                                   const size_t *dims, const size_t *sa, const size_t *sb, const size_t *sc, int sum,\n"
    "                                   const double *Y, int causal, int scaled, double scale, double *tmp);\n"
    "void bprt_fill_normal_f32(float *p, size_t n, double std, uint64_t seed, uint64_t stream);\n"
    "void bprt_fill_normal_f64(double *p, size_t n, double std, uint64_t seed, uint64_t stream);\n"
    "void bprt_fill_uniform_f32(float *p, size_t n, double lo, double hi, uint64_t seed, uint64_t stream);\n"
    "void bprt_fill_uniform_f64(double *p, size_t n, double lo, double hi, uint64_t seed, uint64_t stream);\n"
    "double bprt_sumsq_f32(const float *g, size_t n);\n"
    "double bprt_sumsq_f64(const double *g, size_t n);\n"
    "double bprt_maxabs_f32(const float *g, size_t n);\n"
    "double bprt_maxabs_f64(const double *g, size_t n);\n"
    "void bprt_gemm_sgd_f32(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,\n"
    "                       float *gs, float *p, float *v, double lr, double momentum, double wd);\n"
    "void bprt_gemm_sgd_f64(int tA, int tB, int M, int N, int K, const double *A, int lda, const double *B, int ldb,\n"
    "                       double *gs, double *p, double *v, double lr, double momentum, double wd);\n"
    "void bprt_gemm_adam_f32(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,\n"
    "                        float *gs, float *p, float *m, float *v, double lr, double b1, double b2, double eps,\n"
    "                        double wd, int decoupled, double step);\n"
    "void bprt_gemm_adam_f64(int tA, int tB, int M, int N, int K, const double *A, int lda, const double *B, int ldb,\n"
    "                        double *gs, double *p, double *m, double *v, double lr, double b1, double b2, double eps,\n"
    "                        double wd, int decoupled, double step);\n"
    "void bprt_sgd_f32(float *p, const float *g, float *v, size_t n, double lr, double momentum, double wd, double scale);\n"
    "void bprt_sgd_f64(double *p, const double *g, double *v, size_t n, double lr, double momentum, double wd, double scale);\n"
    "void bprt_adam_f32(float *p, const float *g, float *m, float *v, size_t n, double lr, double b1, double b2,\n"
    "                   double eps, double wd, int decoupled, double step, double scale);\n"
    "void bprt_adam_f64(double *p, const double *g, double *m, double *v, size_t n, double lr, double b1, double b2,\n"
    "                   double eps, double wd, int decoupled, double step, double scale);\n"
    "void bprt_sum_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);\n"
    "void bprt_sum_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);\n"
    "void bprt_transpose_f32(const float *x, size_t Bt, size_t M, size_t N, float *y);\n"
    "void bprt_transpose_f64(const double *x, size_t Bt, size_t M, size_t N, double *y);\n"
    "void bprt_max_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);\n"
    "void bprt_max_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);\n"
    "void bprt_logsumexp_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);\n"
    "void bprt_logsumexp_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);\n"
    "void bprt_softmax_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);\n"
    "void bprt_softmax_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);\n"
    "void bprt_log_softmax_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);\n"
    "void bprt_log_softmax_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);\n"
#define VMATH_DECLS(T, S)                                                                                          \
    "void bprt_exp_" S "(const " T " *x, " T " *y, size_t n);\n"                                                    \
    "void bprt_erf_" S "(const " T " *x, " T " *y, size_t n);\n"                                                    \
    "void bprt_tanh_" S "(const " T " *x, " T " *y, size_t n);\n"                                                   \
    "void bprt_gelu_" S "(const " T " *x, " T " *y, size_t n);\n"                                                   \
    "void bprt_gelu_grad_" S "(const " T " *x, " T " *y, size_t n);\n"                                              \
    "void bprt_ew_gelu_pair_" S "(const " T " *x, " T " *y, " T " *d, size_t n);\n"                                 \
    "void bprt_softmax_" S "(const " T " *x, size_t rows, size_t n, " T " *y);\n"                                    \
    "void bprt_log_softmax_" S "(const " T " *x, size_t rows, size_t n, " T " *y);\n"                                \
    "double bprt_cross_entropy_" S "(const " T " *z, const int32_t *y, size_t rows, size_t n);\n"                    \
    "void bprt_ce_grad_" S "(const " T " *z, const int32_t *y, size_t rows, size_t n, " T " scale, " T " *d);\n"      \
    "double bprt_cross_entropy_grad_" S "(const " T " *z, const int32_t *y, size_t rows, size_t n, " T " scale, " T " *d);\n"
    VMATH_DECLS("float", "f32")
    VMATH_DECLS("double", "f64")
    "int bprt_ew_threads(size_t n);\n"
    "void bprt_ew_rows_par_f32(const int32_t *code, int ncode, const double *konst, const float *const *leaf,\n"
    "                          int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows, size_t n,\n"
    "                          float *out, ptrdiff_t ldo);\n"
    "void bprt_ew_rows_par_f64(const int32_t *code, int ncode, const double *konst, const double *const *leaf,\n"
    "                          int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows, size_t n,\n"
    "                          double *out, ptrdiff_t ldo);\n"
    "void bprt_ew_f32(const int32_t *code, int ncode, const double *konst, const float *const *leaf,\n"
    "                 const unsigned char *vec, size_t n, float *out);\n"
    "void bprt_ew_f64(const int32_t *code, int ncode, const double *konst, const double *const *leaf,\n"
    "                 const unsigned char *vec, size_t n, double *out);\n"
#define LAYER_DECLS(T, S)                                                                                          \
    "void bprt_conv2d_" S "(const " T " *x, const " T " *w, size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, " T " *y, " T " *scratch);\n" \
    "void bprt_conv2d_grad_x_" S "(const " T " *gy, const " T " *w, size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, " T " *gx, " T " *scratch);\n" \
    "void bprt_conv2d_grad_w_" S "(const " T " *x, const " T " *gy, size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, " T " *gw, " T " *scratch);\n" \
    "void bprt_maxpool2d_" S "(const " T " *x, size_t N, size_t H, size_t W, size_t k, size_t stride, " T " *y);\n"  \
    "void bprt_maxpool2d_grad_" S "(const " T " *x, const " T " *gy, size_t N, size_t H, size_t W, size_t k, size_t stride, " T " *gx);\n" \
    "void bprt_conv2d_grads_" S "(const " T " *x, const " T " *gy, const " T " *w, size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, " T " *gx, " T " *gw, " T " *scratch);\n" \
    "void bprt_conv2d_grad_wb_" S "(const " T " *x, const " T " *gy, size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, " T " *gw, " T " *gb, " T " *scratch);\n" \
    "void bprt_conv2d_grads_b_" S "(const " T " *x, const " T " *gy, const " T " *w, size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, " T " *gx, " T " *gw, " T " *gb, " T " *scratch);\n" \
    "void bprt_conv2d_ew_" S "(const " T " *x, const " T " *w, size_t B, size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, " T " *y, " T " *scratch, const int32_t *code, int ncode, const double *konst, const " T " *const *leaf, int nleaf, const ptrdiff_t *ld, const ptrdiff_t *istride, const unsigned char *vec, " T " *out);\n" \
    "void bprt_maxpool2d_grad_ew_" S "(const " T " *x, const " T " *gy, size_t N, size_t H, size_t W, size_t k, size_t stride, " T " *gx, const int32_t *code, int ncode, const double *konst, const " T " *const *leaf, int nleaf, const ptrdiff_t *ld, const ptrdiff_t *istride, const unsigned char *vec, " T " *out);\n" \
    "void bprt_avgpool2d_" S "(const " T " *x, size_t N, size_t H, size_t W, size_t k, size_t stride, " T " *y);\n"  \
    "void bprt_avgpool2d_grad_" S "(const " T " *gy, size_t N, size_t H, size_t W, size_t k, size_t stride, " T " *gx);\n" \
    "void bprt_layernorm_" S "(const " T " *x, size_t R, size_t D, double eps, " T " *y);\n"                         \
    "void bprt_layernorm_grad_" S "(const " T " *x, const " T " *gy, size_t R, size_t D, double eps, " T " *gx);\n"  \
    "void bprt_layernorm_affine_grad_" S "(const " T " *x, const " T " *gy, const " T " *gamma, const " T " *add, size_t R, size_t D, double eps, " T " *gx, " T " *dgamma, " T " *dbeta);\n" \
    "void bprt_softmax_grad_" S "(const " T " *y, const " T " *gy, size_t R, size_t D, " T " *gx);\n"               \
    "void bprt_embedding_" S "(const " T " *table, size_t V, size_t D, const int32_t *ids, size_t n, " T " *y);\n"   \
    "void bprt_embedding_grad_" S "(const " T " *gy, size_t V, size_t D, const int32_t *ids, size_t n, " T " *gt);\n" \
    "void bprt_causal_mask_" S "(const " T " *x, size_t N, size_t Tq, size_t Tk, double fill, " T " *y);\n"          \
    "void bprt_dropout_" S "(const " T " *x, size_t n, double p, uint64_t seed, uint64_t stream, " T " *y);\n"
    LAYER_DECLS("float", "f32") LAYER_DECLS("double", "f64");
#undef LAYER_DECLS
#undef VMATH_DECLS

static void real_typedef(FILE *out, const EmitOptions *o) {
    fprintf(out, "#ifndef BPC_REAL_DEFINED\n#define BPC_REAL_DEFINED\ntypedef %s real;\n#endif\n", o->f64 ? "double" : "float");
}

static void upper(char *dst, const char *s, size_t size) {
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++) dst[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    dst[i] = 0;
}

/* The prototype of NAME_<what>workspace_size, with the header's names of the sizes */
static void ws_size_decl(FILE *out, const Graph *g, const NameTab *uses, const char *what) {
    fprintf(out, "size_t %s_%sworkspace_size(", g->model, what);
    if (!g->syms.n) fprintf(out, "void");
    for (int s = 0; s < g->syms.n; s++)
        fprintf(out, "%sint %s%s", s ? ", " : "", header_name_ok(uses, g->syms.names[s]) ? "" : "dim_", g->syms.names[s]);
    fprintf(out, ");\n");
}

static void emit_api_decls(FILE *out, Graph *g, const EmitOptions *o) {
    const NameTab names = header_names(g), *uses = &names;
    char up[256];
    upper(up, g->model, sizeof up);
    const char *R = o->f64 ? "double" : "float";
    fprintf(out, "#define %s_NPARAMS %lld /* reals in the parameter vector */\n", up, (long long)g->nparam_reals);
    for (int p = 0; p < g->nparams; p++) {
        char s[SHAPE_STR_MAX];
        fprintf(out, "#define %s_OFF_%s %lld /* %s %s */\n", up, g->params[p].name, (long long)g->params[p].offset,
                g->params[p].name, shape_str(&g->params[p].shape, &g->syms, s, sizeof s));
    }
    fprintf(out, "\n/* Bytes of workspace one call needs at these sizes (the largest of all functions);\n   SIZE_MAX / 2 from SIZE_MAX / 4 bytes (2^62 with a 64-bit size_t: no machine holds it). */\n");
    ws_size_decl(out, g, uses, "");
    if (g->loss >= 0) {
        if (g->hvps) fprintf(out, "/* The bytes every function but %s_hvp needs (training alone). */\n", g->model);
        else fprintf(out, "/* The bytes every function needs (training alone): as above, without a Hessian product. */\n");
        ws_size_decl(out, g, uses, "train_");
    }
    if (g->noutputs) {
        fprintf(out, "/* The bytes %s_forward needs (inference alone). */\n", g->model);
        ws_size_decl(out, g, uses, "forward_");
    }
    fprintf(out, "/* Bytes of optimizer state; zero-filled state is a fresh optimizer. */\n");
    fprintf(out, "size_t %s_opt_state_size(void);\n", g->model);
    fprintf(out, "/* Initialises every parameter as the program says, from a seed (same numbers everywhere). */\n");
    fprintf(out, "void %s_init(%s *params, uint64_t seed);\n", g->model, R);
    Graph *fg = g->noutputs ? variant_graph(g, V_FORWARD) : NULL;
    if (fg) {
        fprintf(out, "/* Inference: writes each output");
        for (int i = 0; i < g->noutputs; i++) {
            char s[SHAPE_STR_MAX];
            fprintf(out, " %s%s", g->output_names[i], shape_str(&g->nodes[g->outputs[i]].shape, &g->syms, s, sizeof s));
        }
        fprintf(out, ". */\n");
        fprintf(out, "void %s_forward(const %s *params", g->model, R);
        emit_inputs_args(out, g, inputs_used(fg), uses, R);
        for (int i = 0; i < g->noutputs; i++) emit_output_arg(out, g, i, uses, R);
        emit_dims_args(out, g, uses);
        fprintf(out, ", void *ws);\n");
    }
    fprintf(out, "/* The program's optimizer (%s): one update of params from grad, e.g. after summing\n"
                 "   gradients across processes; returns 0, or -1 (and changes nothing) if grad is not finite. */\n",
            g->opt.kind == OPT_ADAM ? "adam" : g->opt.kind == OPT_ADAMW ? "adamw" : "sgd");
    fprintf(out, "int %s_update(%s *params, void *opt_state, const %s *grad, %s lr);\n", g->model, R, R, R);
    if (g->loss >= 0) {
        const char *m = g->model;
        if (emit_has_dropout(g))
            fprintf(out, "/* The loss at these parameters and inputs, in training mode: the dropout masks of\n"
                         "   seed 0 (those of %s_grad). */\n", m);
        else fprintf(out, "/* The loss at these parameters and inputs. */\n");
        prototype(out, g, g, V_LOSS, uses, "", R);
        emit_dims_args(out, g, uses);
        if (emit_has_dropout(g))
            fprintf(out, ", void *ws);\n/* The loss at inference, every dropout the identity (PyTorch's model.eval()): the\n"
                         "   loss to report on test data. */\n");
        else
            fprintf(out, ", void *ws);\n/* The loss at inference (PyTorch's model.eval()): %s_loss's, as the program has no\n"
                         "   dropout. */\n", m);
        prototype(out, g, g, V_EVAL, uses, "", R);
        emit_dims_args(out, g, uses);
        fprintf(out, ", void *ws);\n/* The loss, and its gradient with respect to every parameter into grad[NPARAMS]%s. */\n",
                emit_has_dropout(g) ? " (dropout\n   masks of seed 0)" : "");
        prototype(out, g, g, V_GRAD, uses, "", R);
        emit_dims_args(out, g, uses);
        fprintf(out, ", void *ws);\n/* %s_grad with the dropout masks drawn from dropout_seed (%s_grad's is 0,\n"
                     "   %s_train_step's the optimizer's step count): in data-parallel training, give every\n"
                     "   process its own seed at every step.%s */\n", m, m, m,
                emit_has_dropout(g) ? "" : " The program has no dropout: the seed changes nothing.");
        prototype(out, g, g, V_GRAD, uses, "_seeded", R);
        emit_dims_args(out, g, uses);
        fprintf(out, ", uint64_t dropout_seed, void *ws);\n");
        if (g->hvps) {
            fprintf(out, "/* The loss, and the exact Hessian-vector product H v into hv[NPARAMS]: H is the Hessian of\n"
                         "   the loss with respect to all parameters, v[NPARAMS] a direction laid out like params. */\n");
            prototype(out, g, g, V_HVP, uses, "", R);
            emit_dims_args(out, g, uses);
            fprintf(out, ", void *ws);\n");
        }
        fprintf(out, "/* One optimizer step (forward, backward, update); lr overrides the program's rate\n"
                     "   (%g); returns the loss before the update; a non-finite loss or gradient\n"
                     "   leaves params and opt_state unchanged (the loss returned is then not finite). */\n", g->opt.lr);
        fprintf(out, "%s %s_train_step(%s *params, void *opt_state", R, g->model, R);
        emit_inputs_args(out, g, NULL, uses, R);
        emit_dims_args(out, g, uses);
        fprintf(out, ", %s lr, void *ws);\n", R);
    }
}

void emit_c_header(FILE *out, Graph *g, const EmitOptions *o) {
    char up[256]; /* the model's name in capitals: BP_NAME_MAX characters */
    upper(up, g->model, sizeof up);
    fprintf(out, "/* %s.h — generated by bpc from the model '%s'. Do not edit.\n *\n", g->model, g->model);
    fprintf(out, " * Parameters live in one vector of %s_NPARAMS reals (offsets below). Every function is\n"
                 " * reentrant: no globals, no allocation; the caller owns params, gradients, optimizer\n"
                 " * state and the workspace (%s_workspace_size bytes, aligned to a real at least, to 64\n"
                 " * bytes best; the optimizer state to 8 bytes, for its step count, a double).\n"
                 " * Inputs follow in declaration order (`: int` inputs as int32_t), then the symbolic\n"
                 " * sizes as int: at them, no value may have more than 2147483647 along an axis, nor a\n"
                 " * matrix product, its batch axes folded in, more rows or summed terms (GEMM's ints).\n",
            up, g->model);
    if (g->syms.n) { /* what NAME_sizes_ok_ checks */
        const Monos ms = int_monos(g);
        fprintf(out, " * Every function refuses negative sizes");
        for (int j = 0; j < ms.n; j++) {
            char t[1024];
            mono_text(g, &ms.m[j], "", 0, t, sizeof t);
            fprintf(out, "%s%s", j ? ",\n *   " : " and those where one of\n *   ", t);
        }
        fprintf(out, "%s (as bpc's commands do): the workspace sizes are then\n * SIZE_MAX / 2", ms.n ? "\n * passes 2147483647" : "");
        if (g->noutputs) fprintf(out, ", %s_forward writes nothing,", g->model);
        fprintf(out, " and the others write nothing and return NaN.\n");
    }
    fprintf(out, " * Reals are %s, as the prototypes say; `real` is\n"
                 " * the real type of the first bpc header a file includes. Link with libbprt\n"
                 " * (pkg-config --cflags --libs bprt), or, for --standalone output, with nothing: its\n"
                 " * runtime is its own. */\n",
            o->f64 ? "double" : "float");
    /* BPC_ before the guard: `model bprt` made BPRT_H, the runtime's own guard. The name as
       written, not upper-cased: models `net` and `Net` link together, and a file including
       both headers must get both (with NET_H, the second one was silently empty) */
    fprintf(out, "#ifndef BPC_%s_H\n#define BPC_%s_H\n#include <stddef.h>\n#include <stdint.h>\n", g->model,
            g->model);
    fprintf(out, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
    real_typedef(out, o);
    fprintf(out, "\n");
    emit_api_decls(out, g, o);
    fprintf(out, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void emit_init(FILE *out, Graph *g, const EmitOptions *o) {
    const char *sfx = o->f64 ? "f64" : "f32";
    fprintf(out, "void %s_init(real *params, uint64_t seed) {\n    (void)seed;\n%s", g->model,
            g->nparams ? "" : "    (void)params;\n");
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        long long off = (long long)pa->offset, n = (long long)pa->numel;
        double fan_in = 1, fan_out = 1;
        if (pa->shape.rank >= 1) fan_in = (double)pa->shape.d[0].c;
        if (pa->shape.rank >= 2) fan_out = (double)pa->shape.d[1].c;
        if (pa->shape.rank == 3) { /* a batch of [K, N] matrices, each as `@` takes it */
            fan_in = (double)pa->shape.d[1].c;
            fan_out = (double)pa->shape.d[2].c;
        } else if (pa->shape.rank == 4) {
            double rf = (double)(pa->shape.d[2].c * pa->shape.d[3].c);
            fan_in = (double)pa->shape.d[1].c * rf;
            fan_out = (double)pa->shape.d[0].c * rf;
        }
        fprintf(out, "    /* %s */\n", pa->name);
        switch (pa->init) {
        case INIT_ZEROS: fprintf(out, "    memset(params + %lld, 0, sizeof(real) * %lld);\n", off, n); break;
        case INIT_CONST: fprintf(out, "    for (size_t i = 0; i < %lld; i++) params[%lld + i] = (real)%.17g;\n", n, off, pa->a); break;
        case INIT_HE: fprintf(out, "    bprt_fill_normal_%s(params + %lld, %lld, %.17g, seed, %d);\n", sfx, off, n, sqrt(2.0 / fan_in), p); break;
        case INIT_XAVIER:
            fprintf(out, "    bprt_fill_normal_%s(params + %lld, %lld, %.17g, seed, %d);\n", sfx, off, n, sqrt(2.0 / (fan_in + fan_out)), p);
            break;
        case INIT_NORMAL: fprintf(out, "    bprt_fill_normal_%s(params + %lld, %lld, %.17g, seed, %d);\n", sfx, off, n, pa->a, p); break;
        case INIT_UNIFORM:
            fprintf(out, "    bprt_fill_uniform_%s(params + %lld, %lld, %.17g, %.17g, seed, %d);\n", sfx, off, n, pa->a, pa->b, p);
            break;
        }
    }
    fprintf(out, "}\n\n");
}

/* Optimizer state: [0]: step count (double), then per-parameter moments. The update runs
 * in libbprt (vectorised once, whichever compiler builds the generated code). */
static void emit_optimizer(FILE *out, Graph *g, const EmitOptions *o) {
    const OptConfig *opt = &g->opt;
    long long np = (long long)g->nparam_reals;
    const char *sfx = o->f64 ? "f64" : "f32";
    int moments = ir_opt_moments(opt);
    fprintf(out, "size_t %s_opt_state_size(void) { return 64 + BP_AL(sizeof(real) * %lld) * %d; }\n\n", g->model, np, moments);
    fprintf(out, "int %s_update(real *params, void *opt_state, const real *grad, real lr) {\n", g->model);
    fprintf(out, "    double *step = (double *)opt_state;\n"
                 "    real *m1 = (real *)((char *)opt_state + 64);\n"
                 "    real *m2 = (real *)((char *)opt_state + 64 + BP_AL(sizeof(real) * %lld));\n"
                 "    const size_t n = %lld;\n    double scale = 1, ss = bprt_sumsq_%s(grad, n);\n"
                 "    (void)m1;\n    (void)m2;\n"
                 "    if (!(ss <= 1e308)) return -1; /* a non-finite gradient: nothing changes */\n",
            np, np, sfx);
    if (opt->clip > 0) /* clip_grad_norm_'s min(1, c / (norm + 1e-6)): below 1 also for a norm just under c */
        fprintf(out, "    if (%.17g / (sqrt(ss) + 1e-6) < 1) scale = %.17g / (sqrt(ss) + 1e-6);\n", opt->clip, opt->clip);
    fprintf(out, "    *step += 1;\n");
    /* each run of parameters the loss depends on [lo, hi): a parameter without a gradient (the
       loss does not reach it) is left alone, as torch.optim skips one whose .grad is None (no
       weight decay, no moments); all of them at once when every parameter has a gradient */
    int calls = 0;
    for (int p = 0; p < g->nparams;) {
        if (g->grads && g->grads[p] < 0) {
            p++;
            continue;
        }
        int q = p;
        while (q < g->nparams && !(g->grads && g->grads[q] < 0)) q++;
        const long long lo = (long long)g->params[p].offset;
        const long long hi = (long long)(g->params[q - 1].offset + g->params[q - 1].numel);
        char at[64] = "", count[64] = "n";
        if (lo != 0 || hi != np) {
            snprintf(at, sizeof at, " + %lld", lo);
            snprintf(count, sizeof count, "%lld", hi - lo);
        }
        if (opt->kind == OPT_ADAM || opt->kind == OPT_ADAMW)
            fprintf(out, "    bprt_adam_%s(params%s, grad%s, m1%s, m2%s, %s, lr, %.17g, %.17g, %.17g, %.17g, %d, *step, scale);\n",
                    sfx, at, at, at, at, count, opt->beta1, opt->beta2, opt->eps, opt->weight_decay, opt->kind == OPT_ADAMW);
        else
            fprintf(out, "    bprt_sgd_%s(params%s, grad%s, m1%s, %s, lr, %.17g, %.17g, scale);\n", sfx, at, at, at, count,
                    opt->momentum, opt->weight_decay);
        p = q;
        calls++;
    }
    if (!calls) fprintf(out, "    (void)params;\n    (void)lr;\n    (void)scale;\n"); /* no parameter has a gradient */
    fprintf(out, "    return 0;\n}\n\n");
    if (g->loss < 0) return;
    fprintf(out, "real %s_train_step(real *params, void *opt_state", g->model);
    emit_inputs_args(out, g, NULL, NULL, "real");
    emit_dims_args(out, g, NULL);
    fprintf(out, ", real lr, void *ws) {\n    real *grad = (real *)ws;\n");
    char gws[128]; /* 39 characters and a 64-bit count */
    snprintf(gws, sizeof gws, "(char *)ws + BP_AL(sizeof(real) * %lld)", np);
    if (emit_has_dropout(g)) {
        /* a new dropout mask at every step: seeded by the step count (saved with the state) */
        char last[192];
        snprintf(last, sizeof last, "(uint64_t)*(const double *)opt_state, %s", gws);
        fprintf(out, "    real loss = ");
        call_with_args(out, g, "grad_seeded", 1, last);
        fprintf(out, ";\n");
    } else if (has_fused_step(g)) { /* NAME_step_ updates unless the plain update must decide */
        fprintf(out, "    int updated = 0;\n    real loss = %s_step_(params, opt_state, grad", g->model);
        for (int i = 0; i < g->ninputs; i++) fprintf(out, ", in_%s", g->inputs[i].name);
        for (int s = 0; s < g->syms.n; s++) fprintf(out, ", dim_%s", g->syms.names[s]);
        fprintf(out, ", %s, lr, &updated);\n    if (updated) return loss;\n", gws);
    } else {
        fprintf(out, "    real loss = ");
        call_with_args(out, g, "grad", 1, gws);
        fprintf(out, ";\n");
    }
    fprintf(out, "    if (!(loss - loss == 0)) return loss; /* a non-finite loss: no update */\n"
                 "    if (%s_update(params, opt_state, grad, lr) != 0) return (real)NAN;\n"
                 "    return loss;\n}\n\n",
            g->model);
}

/* Uniform-signature wrappers for the driver: inputs as an array of pointers, sizes as an
 * array of ints, reals passed as double. Named bp_X_entry: every name the model's own code
 * defines or declares ends in one of the API's suffixes (NAME_loss, NAME_step_, ...), and no
 * suffix is `_entry`, so no model name meets them (as bp_entry_X, `model bp_entry` defined
 * bp_entry_loss twice). The emitted helpers keep the same rule (bp_gelu_deriv, not
 * bp_gelu_grad, which `model bp_gelu` declared as its NAME_grad). */
static void call_args(FILE *out, const Graph *g, const char *only) {
    for (int i = 0; i < g->ninputs; i++) {
        if (only && !only[i]) continue;
        fprintf(out, ", (const %s *)in[%d]", g->inputs[i].dtype == DT_INT ? "int32_t" : "real", i);
    }
}

static void dims_call(FILE *out, const Graph *g, int leading_comma) {
    for (int s = 0; s < g->syms.n; s++) fprintf(out, "%sd[%d]", s || leading_comma ? ", " : "", s);
}

static void emit_entry_points(FILE *out, Graph *g) {
    fprintf(out, "\nsize_t bp_ws_entry(const int *d) { (void)d; return %s_workspace_size(", g->model);
    dims_call(out, g, 0);
    fprintf(out, "); }\n");
    fprintf(out, "size_t bp_opt_size_entry(void) { return %s_opt_state_size(); }\n", g->model);
    fprintf(out, "void bp_init_entry(void *p, uint64_t seed) { %s_init((real *)p, seed); }\n", g->model);
    fprintf(out, "int bp_update_entry(void *p, void *opt, const void *gr, double lr) {\n"
                 "    return %s_update((real *)p, opt, (const real *)gr, (real)lr);\n}\n", g->model);
    if (g->noutputs) {
        Graph *fg = variant_graph(g, V_FORWARD);
        fprintf(out, "void bp_forward_entry(const void *p, const void *const *in, void *const *out, const int *d, void *ws) {\n"
                     "    (void)in; (void)d;\n    %s_forward((const real *)p", g->model);
        call_args(out, g, inputs_used(fg));
        for (int i = 0; i < g->noutputs; i++) fprintf(out, ", (real *)out[%d]", i);
        dims_call(out, g, 1);
        fprintf(out, ", ws);\n}\n");
    }
    if (g->loss >= 0) {
        fprintf(out, "double bp_loss_entry(const void *p, const void *const *in, const int *d, void *ws) {\n"
                     "    (void)in; (void)d;\n    return %s_loss((const real *)p", g->model);
        call_args(out, g, NULL);
        dims_call(out, g, 1);
        fprintf(out, ", ws);\n}\n");
        fprintf(out, "double bp_loss_eval_entry(const void *p, const void *const *in, const int *d, void *ws) {\n"
                     "    (void)in; (void)d;\n    return %s_loss_eval((const real *)p", g->model);
        call_args(out, g, NULL);
        dims_call(out, g, 1);
        fprintf(out, ", ws);\n}\n");
        fprintf(out, "double bp_grad_entry(const void *p, void *gr, const void *const *in, const int *d, void *ws) {\n"
                     "    (void)in; (void)d;\n    return %s_grad((const real *)p, (real *)gr", g->model);
        call_args(out, g, NULL);
        dims_call(out, g, 1);
        fprintf(out, ", ws);\n}\n");
        fprintf(out, "double bp_grad_seeded_entry(const void *p, void *gr, const void *const *in, const int *d, uint64_t seed, void *ws) {\n"
                     "    (void)in; (void)d;\n    return %s_grad_seeded((const real *)p, (real *)gr", g->model);
        call_args(out, g, NULL);
        dims_call(out, g, 1);
        fprintf(out, ", seed, ws);\n}\n");
        if (g->hvps) {
            fprintf(out, "double bp_hvp_entry(const void *p, const void *v, void *hv, const void *const *in, const int *d, void *ws) {\n"
                         "    (void)in; (void)d;\n    return %s_hvp((const real *)p, (const real *)v, (real *)hv", g->model);
            call_args(out, g, NULL);
            dims_call(out, g, 1);
            fprintf(out, ", ws);\n}\n");
        }
        fprintf(out, "double bp_train_step_entry(void *p, void *opt, const void *const *in, const int *d, double lr, void *ws) {\n"
                     "    (void)in; (void)d;\n    return %s_train_step((real *)p, opt", g->model);
        call_args(out, g, NULL);
        dims_call(out, g, 1);
        fprintf(out, ", (real)lr, ws);\n}\n");
    }
}

/* --standalone: bprt.h and the runtime sources embedded at build time (runtime_text.c),
 * without their #include lines of one another (bprt.h, conv.h). */
extern const char *const bpc_runtime_text[];
extern const char *const bpc_runtime_text_names[];
/* Whether the line at p is `#include "NAME"` of an embedded file. */
static int includes_embedded(const char *p) {
    if (strncmp(p, "#include \"", 10) != 0) return 0;
    for (int i = 0; bpc_runtime_text_names[i]; i++) {
        const size_t n = strlen(bpc_runtime_text_names[i]);
        if (strncmp(p + 10, bpc_runtime_text_names[i], n) == 0 && p[10 + n] == '"') return 1;
    }
    return 0;
}
static int ident_char(char c) { return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }
/* The embedded runtime's names (bprt_*) become the model's (NAME_bprt_*): two --standalone
 * models, or one and libbprt, link into one program without clashing. A name pasted from a
 * stem (bprt_softmax_##SUF) is renamed as each precision's (bprt_softmax_f32, _f64); a macro
 * keeps its name. emit_compilers.sh checks that the object exports NAME_* only.
 * The names depend on the embedded text alone, so they are found once per process (the REPL
 * and the tests emit many times; the scan took 0.3 s under the sanitizers): `renamed`, in the
 * order of their first appearance, which is the order of the #defines. */
static struct {
    Arena *a;
    const char **names;
    int n, cap;
} renamed;
static pthread_once_t renamed_once = PTHREAD_ONCE_INIT;
static void add_renamed(NameTab *seen, const NameTab *macros, const char *name) {
    if (nametab_get(seen, name, 0)) return;
    const char *kept = arena_strdup(renamed.a, name);
    nametab_put(renamed.a, seen, kept, 1);
    if (nametab_get(macros, kept, 0)) return; /* a macro keeps its name */
    if (renamed.n == renamed.cap)
        renamed.names = arena_grow(renamed.a, renamed.names, renamed.n, &renamed.cap, sizeof *renamed.names);
    renamed.names[renamed.n++] = kept;
}
static void find_renamed(void) {
    renamed.a = arena_new(); /* kept for the process */
    NameTab macros, seen;
    memset(&macros, 0, sizeof macros);
    memset(&seen, 0, sizeof seen);
    char name[128];
    for (int i = 0; bpc_runtime_text[i]; i++) /* every name the runtime #defines */
        for (const char *p = strstr(bpc_runtime_text[i], "#define "); p; p = strstr(p + 1, "#define ")) {
            const char *q = p + 8;
            while (*q == ' ') q++;
            size_t n = 0;
            while (ident_char(q[n])) n++;
            if (n == 0 || n >= sizeof name) continue; /* not a name: longer ones are not bprt_ names below */
            memcpy(name, q, n);
            name[n] = 0;
            nametab_put(renamed.a, &macros, arena_strdup(renamed.a, name), 1);
        }
    for (int i = 0; bpc_runtime_text[i]; i++) {
        const char *t = bpc_runtime_text[i];
        for (const char *p = strstr(t, "bprt_"); p; p = strstr(p + 1, "bprt_")) {
            if (p > t && ident_char(p[-1])) continue;
            size_t n = 5;
            while (ident_char(p[n])) n++;
            if (n + 4 >= sizeof name) continue;
            memcpy(name, p, n);
            name[n] = 0;
            const char *q = p + n;
            while (*q == ' ') q++;
            if (q[0] == '#' && q[1] == '#') {
                for (int f = 0; f < 2; f++) {
                    snprintf(name + n, sizeof name - n, "%s", f ? "f64" : "f32");
                    add_renamed(&seen, &macros, name);
                }
            } else add_renamed(&seen, &macros, name);
        }
    }
}
static void rename_runtime(FILE *out, const char *model) {
    if (pthread_once(&renamed_once, find_renamed) != 0) abort();
    for (int k = 0; k < renamed.n; k++) fprintf(out, "#define %s %s_%s\n", renamed.names[k], model, renamed.names[k]);
}
static void emit_runtime_text(FILE *out, const char *model) {
    rename_runtime(out, model);
    for (int i = 0; bpc_runtime_text[i]; i++) {
        fprintf(out, "/* ---- libbprt: %s ---- */\n", bpc_runtime_text_names[i]);
        const char *p = bpc_runtime_text[i];
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p + 1) : strlen(p);
            if (!includes_embedded(p)) fwrite(p, 1, n, out);
            p += n;
        }
    }
    fprintf(out, "/* ---- end of libbprt ---- */\n");
}


static int variant_emitted(Graph *g, Variant v);
/* NAME_<what>workspace_size: the largest workspace of the functions in `variants` (a set of
 * 1u << Variant; train_step's and grad's plus the gradient vector) */
static void emit_ws_total(FILE *out, Graph *g, const char *what, unsigned variants) {
    fprintf(out, "size_t %s_%sworkspace_size(", g->model, what);
    if (!g->syms.n) fprintf(out, "void");
    for (int s = 0; s < g->syms.n; s++) fprintf(out, "%sint dim_%s", s ? ", " : "", g->syms.names[s]);
    int any = 0;
    for (int v = 0; v <= V_STEP; v++) any |= variant_emitted(g, (Variant)v) && (variants >> v & 1u);
    /* with no function to size (a program without a loss or outputs) it is 0 */
    fprintf(out, ") {\n    size_t n = 0%s;\n", any ? ", k" : "");
    if (g->syms.n) { /* sizes no function takes: as many bytes as past 2^62 */
        fprintf(out, "    if (!");
        sizes_ok_call(out, g);
        fprintf(out, ") return SIZE_MAX / 2;\n");
    }
    for (int s = 0; s < g->syms.n && !any; s++) fprintf(out, "    (void)dim_%s;\n", g->syms.names[s]);
    for (int v = 0; v <= V_STEP; v++) {
        if (!variant_emitted(g, (Variant)v) || !(variants >> v & 1u)) continue;
        fprintf(out, "    k = %s_ws_%s_(0", g->model, variant_name[v]);
        for (int s = 0; s < g->syms.n; s++) fprintf(out, ", dim_%s", g->syms.names[s]);
        if (v == V_GRAD || v == V_STEP) fprintf(out, ") + BP_AL(sizeof(real) * %lld);\n", (long long)g->nparam_reals);
        else fprintf(out, ");\n");
        fprintf(out, "    if (k > n) n = k;\n");
    }
    fprintf(out, "    return n;\n}\n");
}

/* Is variant v a function of its own (with a workspace of its own) for this program? Without
 * dropout NAME_loss_eval is NAME_loss's; a program without outputs has no forward, one without
 * a loss nothing else. */
static int variant_emitted(Graph *g, Variant v) {
    if (v == V_FORWARD) return g->noutputs > 0;
    if (g->loss < 0) return 0;
    if (v == V_HVP) return g->hvps != NULL;
    if (v == V_EVAL) return emit_has_dropout(g);
    if (v == V_STEP) return has_fused_step(g);
    return 1;
}
void emit_c_source(FILE *out, Graph *g, const EmitOptions *o) {
    fprintf(out, "/* Generated by bpc from the model '%s'. Do not edit. */\n", g->model);
    fprintf(out, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n");
    /* a * b + c rounded twice, as the runtime's bprt_ew does (gcc's -std=c99 contracts nothing;
       clang contracts within an expression unless told): an elementwise loop has the same
       values whether it runs inline or, split between threads, in the runtime */
    fprintf(out, "#if defined(__clang__)\n#pragma STDC FP_CONTRACT OFF\n#endif\n");
    if (o->header_name) fprintf(out, "#include \"%s\"\n", o->header_name);
    else real_typedef(out, o);
    if (o->standalone) {
        fprintf(out, "#define BPRT_STANDALONE 1\n");
        emit_runtime_text(out, g->model);
    }
    else if (o->inline_decls) fprintf(out, "%s", runtime_decls);
    else fprintf(out, "#include \"bprt.h\"\n");
    fprintf(out, "#ifndef NAN\n#define NAN (0.0 / 0.0)\n#endif\n#ifndef INFINITY\n#define INFINITY (1e300 * 1e300)\n#endif\n");
    fprintf(out, "#define BP_M(fn) fn%s\n", o->f64 ? "" : "##f");
    fprintf(out, "#define BP_V(fn) bprt_##fn##_%s\n", o->f64 ? "f64" : "f32");
    fprintf(out, "%s", preamble_math);
    if (!o->header_name) { /* --emit=c: C linkage in C++ too, as the header gives it */
        fprintf(out, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
        emit_api_decls(out, g, o);
        fprintf(out, "#ifdef __cplusplus\n}\n#endif\n");
    }
    fprintf(out, "\n");
    emit_sizes_ok(out, g);
    if (g->noutputs) emit_function(out, g, V_FORWARD, o);
    if (g->loss >= 0) {
        emit_loss_functions(out, g, o);
        if (g->hvps) emit_function(out, g, V_HVP, o);
        if (has_fused_step(g)) emit_function(out, g, V_STEP, o);
    }
    emit_init(out, g, o);
    emit_optimizer(out, g, o);
    const unsigned all = (1u << (V_STEP + 1)) - 1;
    emit_ws_total(out, g, "", all);
    if (g->loss >= 0) emit_ws_total(out, g, "train_", all & ~(1u << V_HVP));
    if (g->noutputs) emit_ws_total(out, g, "forward_", 1u << V_FORWARD);
    if (o->entry_points) emit_entry_points(out, g);
}

/* ---- what bpc --stats reports: the plans above, evaluated at given sizes ---- */

static size_t aligned(size_t n) { return (n + 63) & ~(size_t)63; }

/* Bytes of a function's buffers at dims, each as large as what its size is taken from
 * (Plan.buf_node): a value, a convolution's scratch (im2col, its constant count), or one
 * product of an attention chain's softmax gradient written over y in --standalone's plan
 * (product_temp: the last two axes). */
static size_t plan_bytes(const Graph *g, const Plan *pl, const int64_t *dims, size_t real_size) {
    size_t total = 0;
    for (int b = 0; b < pl->nbufs; b++) {
        if (pl->buf_kind[b] == PLAN_SCRATCH) {
            total += aligned(real_size * (size_t)pl->buf_const[b]);
            continue;
        }
        const Shape *s = &g->nodes[pl->buf_node[b]].shape;
        size_t numel = 1;
        for (int k = pl->buf_kind[b] == PLAN_PRODUCT ? s->rank - 2 : 0; k < s->rank; k++)
            numel *= (size_t)s->d[k].c * (size_t)(s->d[k].sym >= 0 ? dims[s->d[k].sym] : 1);
        total += aligned(real_size * numel);
    }
    return total;
}

void emit_stats(Graph *g, const int64_t *dims, int f64, EmitStats *st) {
    memset(st, 0, sizeof *st);
    size_t real_size = f64 ? sizeof(double) : sizeof(float);
    EmitOptions sa;
    memset(&sa, 0, sizeof sa);
    sa.f64 = f64;
    sa.standalone = 1;
    for (int v = V_FORWARD; v <= V_STEP; v++) {
        if (v == V_HVP || !variant_emitted(g, (Variant)v)) continue; /* --stats leaves hvp's out */
        for (int standalone = 0; standalone < 2; standalone++) { /* the plan, then --standalone's */
            E e;
            memset(&e, 0, sizeof e);
            e.v = (Variant)v;
            e.g = variant_graph(g, (Variant)v);
            e.o = standalone ? &sa : NULL;
            if (v == V_STEP) {
                e.fused = arena_alloc(e.g->arena, (size_t)e.g->n + 1);
                step_marks(g, e.g, e.fused);
            }
            setup_plan(&e);
            size_t bytes = plan_bytes(e.g, e.plan, dims, real_size);
            if (v == V_GRAD && !standalone) {
                st->grad_workspace = bytes;
                st->grad_buffers = e.plan->nbufs;
                for (int i = 0; i < e.g->n; i++) {
                    const Node *n = &e.g->nodes[i];
                    if (op_info[n->op].kind == OK_LEAF) continue;
                    if (n->adjoint) st->backward_nodes++;
                    else st->forward_nodes++;
                    st->recomputed_nodes += n->remat == REMAT_COPY;
                }
            }
            if (v == V_GRAD || v == V_STEP) bytes += aligned(real_size * (size_t)g->nparam_reals); /* the gradient */
            size_t *total = standalone ? &st->standalone_workspace : &st->workspace;
            if (bytes > *total) *total = bytes;
        }
    }
}
