/* pass_cse.c — common-subexpression elimination by hash-consing.
 *
 * Two nodes are the same if they have the same op, inputs, attributes, shape, dtype and
 * checkpoint mark (REMAT_*: the backward pass's recomputations are never merged back).
 * Requires: inputs already canonical (the builder adds in topological order, so they are).
 * Preserves: values exactly; the first node's name and location are kept. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static uint64_t dbits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint64_t node_hash(const Node *n) {
    uint64_t h = (uint64_t)n->op;
    for (int k = 0; k < BP_MAXIN; k++) h = mix(h, (uint64_t)(int64_t)n->in[k]);
    h = mix(h, dbits(n->value));
    h = mix(h, (uint64_t)n->ival);
    h = mix(h, (uint64_t)(n->axis + 1000));
    h = mix(h, (uint64_t)(n->keepdims * 2 + n->ta * 4 + n->tb * 8 + n->dtype * 16));
    h = mix(h, (uint64_t)n->bsum);
    h = mix(h, (uint64_t)n->shape.rank);
    for (int i = 0; i < n->shape.rank; i++) h = mix(h, (uint64_t)n->shape.d[i].c * 31 + (uint64_t)(n->shape.d[i].sym + 1));
    h = mix(h, (uint64_t)n->dim.c * 31 + (uint64_t)(n->dim.sym + 1));
    h = mix(h, (uint64_t)n->start.c * 31 + (uint64_t)(n->start.sym + 1));
    for (int k = 0; k < 4; k++) h = mix(h, (uint64_t)(int64_t)n->win[k]);
    h = mix(h, (uint64_t)n->remat);
    /* mix() moves high bits down only two places a step, and the table takes the low bits:
       constants differing in their value alone (1, 2, 3...: the low bits of a double are 0)
       fell into one run of slots, so 10000 outputs x * k took 10^8 probes. The finaliser of
       splitmix64 spreads every bit over the low ones. */
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static int node_same(const Node *a, const Node *b) {
    if (a->op != b->op || a->dtype != b->dtype) return 0;
    for (int k = 0; k < BP_MAXIN; k++)
        if (a->in[k] != b->in[k]) return 0;
    if (dbits(a->value) != dbits(b->value) || a->ival != b->ival || a->axis != b->axis ||
        a->keepdims != b->keepdims || a->ta != b->ta || a->tb != b->tb || a->bsum != b->bsum)
        return 0;
    if (!shape_eq(&a->shape, &b->shape) || a->shape.rank != b->shape.rank) return 0;
    if (!dim_eq(a->dim, b->dim) || !dim_eq(a->start, b->start)) return 0;
    if (memcmp(a->win, b->win, sizeof a->win) != 0) return 0;
    if (a->remat != b->remat) return 0; /* a recomputation must stay a copy (pass_remat.c) */
    return 1;
}

int cse_lookup(Graph *g, const Node *p) {
    if (!g->hash_cap) return -1;
    uint64_t h = node_hash(p);
    for (int i = (int)(h & (uint64_t)(g->hash_cap - 1));; i = (i + 1) & (g->hash_cap - 1)) {
        int id = g->hash[i];
        if (id < 0) return -1;
        if (node_same(&g->nodes[id], p)) return id;
    }
}

void cse_insert(Graph *g, int id) {
    if (2 * (g->n + 1) > g->hash_cap) {
        int ncap = g->hash_cap ? g->hash_cap * 2 : 256;
        while (2 * (g->n + 1) > ncap) ncap *= 2;
        int *t = arena_alloc(g->arena, (size_t)ncap * sizeof *t);
        for (int i = 0; i < ncap; i++) t[i] = -1;
        g->hash = t;
        g->hash_cap = ncap;
        for (int j = 0; j < g->n; j++)
            if (j != id) cse_insert(g, j);
    }
    uint64_t h = node_hash(&g->nodes[id]);
    int i = (int)(h & (uint64_t)(g->hash_cap - 1));
    while (g->hash[i] >= 0) {
        if (g->hash[i] == id) return;
        i = (i + 1) & (g->hash_cap - 1);
    }
    g->hash[i] = id;
}

Graph *pass_cse(Graph *g) { return ir_rebuild(g, 1, 1); }
