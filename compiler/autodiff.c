/* autodiff.c — see autodiff.h. The walk, fan-out accumulation and un-broadcasting. */
#include "autodiff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The sum over leading axes that a broadcast across several of them needs, [B, T, N] -> [N]
 * for a bias: one sum over the rows of the [B*T, N] view (a reshape, no copy) instead of one
 * per axis, when at most one of the merged extents is symbolic (Dim is c * symbol). One pass
 * over the values, each added once in double and rounded once, and a form the emitter can
 * fold into the product that makes them (bprt_sgemm_ew_sum). A batch of products (both
 * operands with batch axes) stays as it is: pass_msum folds SUM(MATMUL) over its batch axes
 * into the product instead. */
static int merge_leading(Graph *g, int v, const Shape *to, Loc loc) {
    const Node *n = &g->nodes[v];
    const Shape s = n->shape;
    const int k = s.rank - to->rank;
    if (k < 2 || (n->op == OP_MATMUL && g->nodes[n->in[0]].shape.rank > 2 && g->nodes[n->in[1]].shape.rank > 2)) return v;
    Dim d = dim_const(1);
    for (int i = 0; i < k; i++) {
        if (s.d[i].sym >= 0 && d.sym >= 0) return v;
        if (s.d[i].c != 0 && d.c > INT64_MAX / s.d[i].c) return v;
        d.c *= s.d[i].c;
        if (s.d[i].sym >= 0) d.sym = s.d[i].sym;
    }
    Shape m;
    m.rank = s.rank - k + 1;
    m.d[0] = d;
    for (int i = k; i < s.rank; i++) m.d[i - k + 1] = s.d[i];
    return ir_reshape(g, v, &m, loc);
}

int ad_unbroadcast(Graph *g, int v, const Shape *to, Loc loc) {
    if (v < 0) return -1;
    v = merge_leading(g, v, to, loc);
    if (v < 0) return -1;
    Shape s = g->nodes[v].shape;
    while (s.rank > to->rank) {
        v = ir_reduce(g, OP_SUM, v, 0, 0, loc);
        if (v < 0) return -1;
        s = g->nodes[v].shape;
    }
    for (int i = 0; i < s.rank; i++)
        if (dim_is(to->d[i], 1) && !dim_is(s.d[i], 1)) {
            v = ir_reduce(g, OP_SUM, v, i, 1, loc);
            if (v < 0) return -1;
        }
    return ir_reshape(g, v, to, loc);
}

void ad_accumulate(AdCtx *c, int node, int contribution) {
    if (contribution < 0 || !c->needs[node]) return;
    Graph *g = c->g;
    Shape to = g->nodes[node].shape;
    Loc loc = g->nodes[node].loc;
    int v = ad_unbroadcast(g, contribution, &to, loc);
    if (v < 0) return;
    c->adj[node] = c->adj[node] < 0 ? v : ir_binary(g, OP_ADD, c->adj[node], v, loc);
}

/* The reverse walk from node `of`: out[p] = d of / d param p (-1: zero). */
static int reverse(Graph *g, int of, int order, int *out) {
    AdCtx c;
    c.g = g;
    c.order = order;
    c.nforward = g->n;
    c.adj = malloc((size_t)g->n * sizeof *c.adj);
    c.needs = calloc((size_t)g->n, 1);
    if (!c.adj || !c.needs) abort();
    /* needs[i]: i is real and depends on a parameter */
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        c.adj[i] = -1;
        if (n->dtype != DT_REAL) continue;
        if (n->op == OP_PARAM) c.needs[i] = 1;
        for (int k = 0; k < op_info[n->op].arity; k++) c.needs[i] |= c.needs[n->in[k]];
    }
    int status = 0;
    int saved = g->adjoint_mode;
    g->adjoint_mode = 1;
    if (c.needs[of]) c.adj[of] = ir_const(g, 1, g->nodes[of].loc);
    for (int i = of; i >= 0 && status == 0; i--) {
        if (c.adj[i] < 0 || !c.needs[i]) continue;
        Node n = g->nodes[i];
        if (op_info[n.op].arity == 0) continue;
        const CallSite *calls = g->call_mode;
        g->call_mode = n.calls; /* a value's adjoints are made in the def calls it was */
        if (op_vjp[n.op](&c, i, &n, c.adj[i]) != 0) status = -1;
        g->call_mode = calls;
        if (g->diag->nerrors) status = -1;
    }
    g->adjoint_mode = saved;
    for (int p = 0; p < g->nparams; p++) {
        int node = g->params[p].node;
        out[p] = node >= 0 && node < c.nforward ? c.adj[node] : -1;
    }
    free(c.adj);
    free(c.needs);
    return status;
}

int ad_gradients(Graph *g, int of) {
    if (of < 0) return -1;
    g->grads = arena_alloc(g->arena, (size_t)(g->nparams + 1) * sizeof(int));
    for (int p = 0; p < g->nparams; p++) g->grads[p] = -1;
    return reverse(g, of, 1, g->grads);
}

int ad_hvp(Graph *g) {
    BP_ASSERT(g->grads);
    g->hvps = arena_alloc(g->arena, (size_t)(g->nparams + 1) * sizeof(int));
    for (int p = 0; p < g->nparams; p++) g->hvps[p] = -1;
    /* s = sum_p sum(grad_p * v_p): its gradient is H v, since d/dp <grad(p), v> = H v (H symmetric) */
    int saved = g->adjoint_mode, s = -1;
    g->adjoint_mode = 1;
    for (int p = 0; p < g->nparams; p++) {
        if (g->grads[p] < 0) continue;
        Loc loc = g->params[p].loc;
        int t = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, g->grads[p], ir_vector(g, p), loc), AXIS_ALL, 0, loc);
        s = s < 0 ? t : ir_binary(g, OP_ADD, s, t, loc);
    }
    g->adjoint_mode = saved;
    if (s < 0) return g->diag->nerrors ? -1 : 0; /* the loss does not depend on the parameters */
    return reverse(g, s, 2, g->hvps);
}
