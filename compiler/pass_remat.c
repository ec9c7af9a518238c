/* pass_remat.c — activation checkpointing: marked forward values are recomputed in the
 * backward pass instead of being kept alive until it.
 *
 * A `checkpoint` binding marks the forward nodes its expression computes (REMAT_MARKED, set
 * by sema). This pass rebuilds the graph in the same order, except that an adjoint
 * (backward) node never reads a marked forward node: it reads a copy (REMAT_COPY, adjoint)
 * made just before the first backward node that needs it. A copy reads copies of the marked
 * nodes it depends on and the stored values (anything unmarked: inputs, parameters, the
 * other bindings) as they are. The originals then die with their last forward reader and the
 * memory plan (plan.c) gives their buffers to later nodes. One copy of each marked node
 * serves the whole backward pass.
 *
 * Requires: every forward node before the adjoint ones (reverse mode appends them).
 * Preserves: every value bit for bit (a copy is the same op on the same values; dropout
 * masks depend on the element, not on when they are drawn); CSE never merges a copy with
 * its original (the marks differ, pass_cse.c). Leaves out: choosing checkpoints by itself,
 * and recomputing one value twice for two distant backward readers. */
#include <stdlib.h>

#include "passes.h"

static int is_marked(const Graph *g, int id) {
    return g->nodes[id].remat == REMAT_MARKED && !g->nodes[id].adjoint;
}

/* The copy of marked node id in g (made now, with the copies it needs, if there is none). */
static int copy_of(Graph *g, const Graph *old, const int *map, int *copy, int *stack, int id) {
    int top = 0;
    stack[top++] = id;
    while (top > 0) {
        int j = stack[top - 1], ready = 1;
        const Node *o = &old->nodes[j];
        if (copy[j] >= 0) {
            top--;
            continue;
        }
        for (int k = 0; k < op_info[o->op].arity; k++)
            if (is_marked(old, o->in[k]) && copy[o->in[k]] < 0) {
                stack[top++] = o->in[k];
                ready = 0;
            }
        if (!ready) continue;
        top--;
        Node p = *o;
        for (int k = 0; k < op_info[p.op].arity; k++) p.in[k] = is_marked(old, o->in[k]) ? copy[o->in[k]] : map[o->in[k]];
        p.remat = REMAT_COPY;
        p.adjoint = 1;
        g->adjoint_mode = 1;
        g->remat_mode = REMAT_COPY;
        g->call_mode = p.calls;
        copy[j] = ir_add_raw(g, &p);
        g->remat_mode = REMAT_NONE;
        g->call_mode = NULL;
        BP_ASSERT(copy[j] >= 0);
    }
    return copy[id];
}

/* A layer norm's result read backward only by products gy * layernorm(x) (its gain's
 * gradient) is marked for recomputation: the forward value then dies with its forward
 * readers (the gain and bias, made in place as in a loss-only pass) instead of being kept
 * until the backward pass, where the C emitter's fused affine gradient (emit_c.c,
 * plan_ln_groups) recomputes it from x anyway and the copy is not emitted. */
void remat_mark_layernorms(Graph *g) {
    if (!g->grads) return;
    int *bwd = calloc((size_t)g->n + 1, sizeof *bwd), *fwd = calloc((size_t)g->n + 1, sizeof *fwd);
    if (!bwd || !fwd) abort();
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        for (int k = 0; k < op_info[n->op].arity; k++) {
            const int in = n->in[k];
            if (!n->adjoint) fwd[in]++;
            else if (n->op == OP_MUL && bwd[in] >= 0) bwd[in]++;
            else bwd[in] = -1; /* another backward reader */
        }
    }
    for (int i = 0; i < g->n; i++) {
        Node *n = &g->nodes[i];
        if (n->op == OP_LAYERNORM && !n->adjoint && n->remat == REMAT_NONE && fwd[i] > 0 && bwd[i] > 0 &&
            !ir_is_root(g, i))
            n->remat = REMAT_MARKED;
    }
    free(bwd);
    free(fwd);
}

static int *remap(Graph *g, const int *ids, int n, const int *map) {
    if (!ids) return NULL;
    int *r = arena_alloc(g->arena, (size_t)(n + 1) * sizeof *r);
    for (int i = 0; i < n; i++) r[i] = ids[i] >= 0 ? map[ids[i]] : -1;
    return r;
}

Graph *pass_remat(Graph *old) {
    int any = 0;
    for (int i = 0; i < old->n && !any; i++) any = is_marked(old, i);
    if (!any || !old->grads) return old;
    Graph *g = ir_new(old->arena, old->diag);
    *g = *old; /* tables, settings and roots; the nodes are added again below */
    g->nodes = NULL;
    g->n = g->cap = 0;
    g->hash = NULL;
    g->hash_cap = 0;
    g->adjoint_mode = 0;
    g->remat_mode = REMAT_NONE;
    g->step_memo = NULL;
    int *map = malloc(((size_t)old->n + 1) * sizeof *map), *copy = malloc(((size_t)old->n + 1) * sizeof *copy);
    int *stack = malloc(((size_t)old->n * BP_MAXIN + 1) * sizeof *stack);
    if (!map || !copy || !stack) abort();
    for (int i = 0; i < old->n; i++) copy[i] = -1;
    for (int i = 0; i < old->n; i++) {
        Node p = old->nodes[i];
        for (int k = 0; k < op_info[p.op].arity; k++) {
            int in = old->nodes[i].in[k];
            p.in[k] = p.adjoint && is_marked(old, in) ? copy_of(g, old, map, copy, stack, in) : map[in];
        }
        g->adjoint_mode = p.adjoint;
        g->remat_mode = p.remat;
        g->call_mode = p.calls;
        map[i] = ir_add_raw(g, &p);
        g->remat_mode = REMAT_NONE;
        g->call_mode = NULL;
        BP_ASSERT(map[i] >= 0);
        if (!g->nodes[map[i]].name) g->nodes[map[i]].name = p.name;
    }
    g->adjoint_mode = 0;
    g->loss = old->loss >= 0 ? map[old->loss] : -1;
    g->outputs = remap(g, old->outputs, old->noutputs, map);
    g->grads = remap(g, old->grads, old->nparams, map);
    g->hvps = remap(g, old->hvps, old->nparams, map);
    ir_own_leaves(g);
    free(map);
    free(copy);
    free(stack);
    return g;
}
