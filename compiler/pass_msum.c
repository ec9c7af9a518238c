/* pass_msum.c — a sum over batch axes of a batched matrix product becomes part of the product.
 *
 * Reverse mode makes the gradient of a weight shared across a batch, x[B, T, I] @ W[I, O], as
 * the batch of products x_b^T @ g_b, [B, I, O], and then a sum over B (ad_unbroadcast). Here
 * SUM(MATMUL) with the product read by nothing else becomes one MATMUL node whose bsum marks
 * the summed axes of its full batch shape (the operands' batch dims broadcast): the emitter
 * (emit_c.c) accumulates the products into the result with beta = 1, or, when the summed
 * axes are the trailing batch axes of both operands and their k steps are rows (ta = 1,
 * tb = 0, the weight-gradient case), runs one GEMM whose K takes in the summed axes:
 * sum_b x_b^T g_b = [x_1; ...; x_B]^T [g_1; ...; g_B]. Neither the [B, I, O] batch nor the
 * sum is then in the program.
 *
 * A SUM along result axis k merges when k is a batch axis and either it drops the axis
 * (keepdims 0) and every axis before it is already dropped, or it keeps it as 1 (the forms
 * ad_unbroadcast makes: leading axes dropped first, then broadcast ones kept), or it is the
 * first sum and drops any batch axis (sum(heads @ Wo, axis = 1) over attention's heads:
 * the heads' products accumulate into each result; nothing merges after it). Chains merge
 * one after the other. Runs after reverse mode (no VJP rule reads bsum) and before DCE,
 * which removes the products left unread. Values change only by the order of the sum's
 * additions. */
#include <stdlib.h>

#include "passes.h"

/* The batch part (all but the last two axes) of s. */
static Shape batch_of(const Shape *s) {
    Shape b = *s;
    b.rank = s->rank >= 2 ? s->rank - 2 : 0;
    return b;
}

/* MATMUL(BROADCAST(x), w), the broadcast along batch axes only (x's matrices are the
 * broadcast's), reads x instead when x's batch dims broadcast with w's to the same full batch
 * shape: the emitter steps through x with stride 0 where it has 1 (attention's head axis in
 * the gradient of sum(heads, axis = 1)), and the broadcast copy is left to DCE. */
static void fold_broadcast_operands(Graph *g) {
    for (int i = 0; i < g->n; i++) {
        Node *m = &g->nodes[i];
        if (m->op != OP_MATMUL) continue;
        for (int j = 0; j < 2; j++) {
            const Node *b = &g->nodes[m->in[j]];
            if (b->op != OP_BROADCAST || b->dtype != DT_REAL || b->remat != m->remat) continue;
            const Node *x = &g->nodes[b->in[0]];
            const Shape *sb = &b->shape, *sx = &x->shape, *so = &g->nodes[m->in[1 - j]].shape;
            if (sx->rank < 2 || sx->rank > sb->rank || !dim_eq(sx->d[sx->rank - 1], sb->d[sb->rank - 1]) ||
                !dim_eq(sx->d[sx->rank - 2], sb->d[sb->rank - 2]))
                continue;
            Shape bb = batch_of(sb), bx = batch_of(sx), bo = batch_of(so), fb, fx;
            if (shape_broadcast(&bb, &bo, &fb) != 0 || shape_broadcast(&bx, &bo, &fx) != 0 || !shape_eq(&fb, &fx))
                continue;
            m->in[j] = b->in[0];
        }
    }
}

Graph *pass_msum(Graph *old) {
    Graph *g = ir_rebuild(old, 0, 0); /* a private copy, without CSE tables: its nodes change here */
    fold_broadcast_operands(g);
    int *uses = ir_use_counts(g);
    for (int i = 0; i < g->n; i++) {
        Node *s = &g->nodes[i];
        if (s->op != OP_SUM || s->axis == AXIS_ALL || s->dtype != DT_REAL) continue;
        const int mi = s->in[0];
        const Node *m = &g->nodes[mi];
        if (m->op != OP_MATMUL || uses[mi] != 1 || ir_is_root(g, mi) || m->remat != s->remat) continue;
        const int ra = g->nodes[m->in[0]].shape.rank, rb_ = g->nodes[m->in[1]].shape.rank;
        const int rb = (ra > rb_ ? ra : rb_) - 2; /* full batch rank */
        const int rr = m->shape.rank - 2;          /* batch axes left in the result */
        const int k = s->axis, f = k + (rb - rr);
        if (k < 0 || k >= rr || (m->bsum >> f & 1)) continue;
        /* axes dropped before are leading ones (f counts them), unless this is the first
           sum, which may drop any batch axis (the heads of attention's output projection) */
        const int lead = (1 << (rb - rr)) - 1;
        if ((m->bsum & lead) != lead) continue;
        if (!s->keepdims && k != 0 && m->bsum != 0) continue;
        Node q = *m;
        q.bsum = m->bsum | 1 << f;
        q.shape = s->shape;
        q.loc = s->loc;
        q.adjoint = s->adjoint;
        q.name = s->name;
        *s = q; /* the same inputs as m, which come before it: the order still holds */
        uses[mi] = 0;
        for (int j = 0; j < 2; j++) uses[q.in[j]]++;
    }
    free(uses);
    g->fold = old->fold; /* for the rebuilds after this one (DCE) */
    g->cse = old->cse;
    return g;
}
