/* fuse.c — see fuse.h. */
#include "fuse.h"

#include <stdlib.h>

int fuse_joins(const Graph *g, const int *uses, int in, int i) {
    const Node *p = &g->nodes[in], *n = &g->nodes[i];
    const OpKind pk = op_info[p->op].kind, k = op_info[n->op].kind;
    return (pk == OK_UNARY || pk == OK_BINARY) && (k == OK_UNARY || k == OK_BINARY) && uses[in] == 1 &&
           shape_eq(&p->shape, &n->shape) && p->dtype == DT_REAL;
}

void fuse_plan(const Graph *g, const char *roots, const char *pinned, int *fuse_user) {
    int *uses = ir_use_counts(g), *user = malloc(((size_t)g->n + 1) * sizeof(int)), *size = malloc(((size_t)g->n + 1) * sizeof(int));
    if (!user || !size) abort();
    for (int i = 0; i < g->n; i++) {
        fuse_user[i] = -1;
        user[i] = -1;
        size[i] = 1;
        for (int k = 0; k < op_info[g->nodes[i].op].arity; k++) user[g->nodes[i].in[k]] = i;
    }
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        OpKind kind = op_info[n->op].kind;
        if (kind != OK_UNARY && kind != OK_BINARY) continue;
        for (int k = 0; k < op_info[n->op].arity; k++) {
            int in = n->in[k];
            if (fuse_joins(g, uses, in, i) && user[in] == i && !ir_gelu_paired(g, in) && !(roots && roots[in]) &&
                !(pinned && pinned[in]) && size[i] + size[in] <= 8) {
                fuse_user[in] = i;
                size[i] += size[in];
            }
        }
    }
    free(uses);
    free(user);
    free(size);
}
