/* pass_dce.c — dead-code removal: keep only the nodes the chosen roots need.
 *
 * Requires: a verified graph. Preserves: the values of the kept roots; roots not kept are
 * set to -1, so that, e.g., the forward function's graph computes no gradient at all and
 * no gradient is ever computed for an input (autodiff never creates one). */
#include "passes.h"

Graph *pass_dce(Graph *g, int keep_loss, int keep_grads, int keep_outputs, int keep_hvps) {
    int saved_loss = g->loss, *saved_grads = g->grads, *saved_outputs = g->outputs, *saved_hvps = g->hvps;
    int *none = arena_alloc(g->arena, (size_t)(g->nparams + g->noutputs + 1) * sizeof(int));
    for (int i = 0; i < g->nparams + g->noutputs; i++) none[i] = -1;
    if (!keep_loss) g->loss = -1;
    if (!keep_grads && g->grads) g->grads = none;
    if (!keep_outputs) g->outputs = none;
    if (!keep_hvps) g->hvps = NULL;
    Graph *r = ir_rebuild(g, g->fold, g->cse);
    g->loss = saved_loss;
    g->grads = saved_grads;
    g->outputs = saved_outputs;
    g->hvps = saved_hvps;
    return r;
}
