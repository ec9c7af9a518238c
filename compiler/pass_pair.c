/* pass_pair.c — GELU's derivative made beside GELU, from the same error function.
 *
 * Reverse mode differentiates y = gelu(z) into gz = g * gelu_grad(z): the backward pass reads
 * z and evaluates erf(z / sqrt 2) and exp(-z^2 / 2) a second time, after the forward pass
 * evaluated the same erf for gelu itself. Where z is read by nothing but gelu(z) and
 * gelu_grad(z), z is stored in a buffer of its own (not a leaf nor a reshape:
 * stored_elsewhere), and gelu(z) is a pass of its own (not in a product's epilogue, nor inside
 * its reader's loop: gelu_elsewhere), the derivative's node moves to right after gelu's, in each
 * generated function's graph after DCE (emit_c.c's variant_graph, where NAME_hvp's readers
 * of z are gone from NAME_grad's graph; Graph.pair_gelu, set under the IR passes). The
 * emitter then makes both in one pass with one erf per element (bprt_ew_gelu_pair; in
 * --standalone output vmath.c's bprt_gelu_pair), and the derivative, not z, is what lives
 * until the backward pass reads it (the same bytes: z dies there, and the derivative may be
 * written over it). fuse.c does not compute such a derivative inside its
 * user's loop, which would evaluate it again. The values are those of the two nodes apart. */
#include <stdlib.h>

#include "fuse.h"
#include "passes.h"

int ir_gelu_paired(const Graph *g, int w) {
    if (w <= 0 || w >= g->n) return 0;
    const Node *d = &g->nodes[w], *v = &g->nodes[w - 1];
    return d->op == OP_GELU_GRAD && v->op == OP_GELU && v->in[0] == d->in[0] && d->dtype == DT_REAL;
}

/* Would the emitter make gelu(z) at v anywhere but in a pass of its own, so that the pair's
 * call could not make both? In a product's or a layer's epilogue (z a MATMUL, CONV2D or
 * MAXPOOL2D_GRAD: there gelu(z) is made where the product is, with z kept), or inside the loop
 * of its one elementwise reader (fuse.c's rule, fuse_joins). The derivative then stays where reverse mode
 * put it, made inside its reader's epilogue or loop as before. */
static int gelu_elsewhere(const Graph *g, const int *uses, const int *user, int v) {
    const Op zop = g->nodes[g->nodes[v].in[0]].op;
    if (zop == OP_MATMUL || zop == OP_CONV2D || zop == OP_MAXPOOL2D_GRAD) return 1;
    return user[v] >= 0 && !ir_is_root(g, v) && fuse_joins(g, uses, v, user[v]);
}

/* Is z's storage not its own, so that the derivative could not take it: a leaf (parameters
 * and inputs are read in place) or a reshape (its input's buffer, which may be read later)?
 * The derivative would then need a buffer of its own from the forward pass to the backward. */
static int stored_elsewhere(const Graph *g, int z) {
    const Op op = g->nodes[z].op;
    return op_info[op].kind == OK_LEAF || op == OP_RESHAPE;
}

Graph *pass_gelu_pairs(Graph *g) {
    const size_t ints = ((size_t)g->n + 1) * sizeof(int);
    int *uses = ir_use_counts(g), *user = malloc(ints), *gelu = malloc(ints), *after = malloc(ints), *order = malloc(ints);
    char *moved = calloc((size_t)g->n + 1, 1);
    if (!user || !gelu || !after || !order || !moved) abort();
    for (int i = 0; i < g->n; i++) gelu[i] = after[i] = user[i] = -1;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < op_info[g->nodes[i].op].arity; k++) user[g->nodes[i].in[k]] = i;
    int any = 0;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_GELU && gelu[n->in[0]] < 0) gelu[n->in[0]] = i;
        const int z = n->in[0], v = n->op == OP_GELU_GRAD ? gelu[z] : -1;
        if (v < 0 || n->dtype != DT_REAL || uses[z] != 2 || uses[i] == 0 || after[v] >= 0 || ir_is_root(g, z) ||
            gelu_elsewhere(g, uses, user, v) || stored_elsewhere(g, z))
            continue;
        after[v] = i; /* z's two readers: gelu(z) at v, then this one */
        moved[i] = 1;
        any |= v + 1 != i;
    }
    Graph *r = g;
    if (any) {
        int k = 0;
        for (int i = 0; i < g->n; i++) {
            if (moved[i]) continue;
            order[k++] = i;
            if (after[i] >= 0) order[k++] = after[i];
        }
        r = ir_rebuild_ordered(g, 0, 0, order);
    }
    free(uses);
    free(user);
    free(gelu);
    free(after);
    free(order);
    free(moved);
    return r;
}
