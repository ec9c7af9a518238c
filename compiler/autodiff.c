/* autodiff.c — see autodiff.h. The walk, fan-out accumulation and un-broadcasting. */
#include "autodiff.h"

#include <stdlib.h>
#include <string.h>

int ad_unbroadcast(Graph *g, int v, const Shape *to, Loc loc) {
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

int ad_gradients(Graph *g, int of) {
    if (of < 0) return -1;
    AdCtx c;
    c.g = g;
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
    g->grads = arena_alloc(g->arena, (size_t)(g->nparams + 1) * sizeof(int));
    for (int p = 0; p < g->nparams; p++) g->grads[p] = -1;
    int status = 0;
    int saved = g->adjoint_mode;
    g->adjoint_mode = 1;
    if (c.needs[of]) c.adj[of] = ir_const(g, 1, g->nodes[of].loc);
    for (int i = of; i >= 0 && status == 0; i--) {
        if (c.adj[i] < 0 || !c.needs[i]) continue;
        Node n = g->nodes[i];
        if (op_info[n.op].arity == 0) continue;
        if (op_vjp[n.op](&c, i, &n, c.adj[i]) != 0) status = -1;
        if (g->diag->nerrors) status = -1;
    }
    g->adjoint_mode = saved;
    for (int p = 0; p < g->nparams; p++) {
        int node = g->params[p].node;
        g->grads[p] = node >= 0 && node < c.nforward ? c.adj[node] : -1;
    }
    free(c.adj);
    free(c.needs);
    return status;
}
