/* plan.c — see plan.h. One forward scan in topological order, which is the execution
 * order of the generated code. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_storage_free(const Node *n) {
    return n->op == OP_INPUT || n->op == OP_PARAM || n->op == OP_VECTOR || n->op == OP_CONST || n->op == OP_DIMVAL;
}

/* Position where node i is actually computed: its own, or its fused user's. */
static int where(const int *fuse_user, int i) {
    while (fuse_user && fuse_user[i] >= 0) i = fuse_user[i];
    return i;
}

/* Marks buffer `chosen` busy for node i, or, if it is -1, a free buffer of `size` elements
 * (a new one if none is free). Returns its index. */
static int take_buffer(Graph *g, Plan *p, char *busy, int *buf_end, int chosen, const char *size, int64_t numel,
                       int i) {
    if (chosen < 0)
        for (int b = 0; b < p->nbufs; b++)
            if (!busy[b] && strcmp(p->buf_size[b], size) == 0) {
                chosen = b;
                break;
            }
    if (chosen < 0) {
        chosen = p->nbufs++;
        p->buf_size[chosen] = arena_strdup(g->arena, size);
        p->buf_const[chosen] = numel;
        buf_end[chosen] = i;
    }
    busy[chosen] = 1;
    return chosen;
}

/* The input a node other than an elementwise one may write its result over (its runtime call
 * reads each row of it before writing that row: bprt.h), or -1: cross-entropy's gradient over
 * the logits, softmax's gradient over the softmax's result y (also where the same call makes
 * its g, an attention chain's product: unless y is that product's operand). */
static int overwritable_input(const Graph *g, const Plan *p, const int *fuse_user, int i) {
    const Node *n = &g->nodes[i];
    if (n->op == OP_CE_GRAD) return n->in[0];
    if (n->op != OP_SOFTMAX_GRAD) return -1;
    const int y = n->in[0], x = n->in[1];
    if (fuse_user && fuse_user[x] >= 0)
        for (int k = 0; k < op_info[g->nodes[x].op].arity; k++)
            if (p->buf[g->nodes[x].in[k]] == p->buf[y]) return -1;
    return y;
}

/* Node in's buffer, if root may write over it: it has root's shape and dies at root. -1 if not. */
static int dies_at(const Graph *g, const Plan *p, const int *buf_end, int root, int in) {
    const int b = in >= 0 ? p->buf[in] : -1;
    if (b >= 0 && buf_end[b] == root && shape_eq(&g->nodes[in].shape, &g->nodes[root].shape) &&
        g->nodes[in].dtype == DT_REAL)
        return b;
    return -1;
}

/* In place: the buffer of a leaf of the elementwise tree rooted at `root` (the node at x
 * and the inputs fused into it) that has the root's shape and whose life ends at the root:
 * the tree reads it at the element it writes, and nothing reads it after. -1 if none. */
static int in_place(const Graph *g, const Plan *p, const int *fuse_user, const int *buf_end, int root, int x) {
    const Node *n = &g->nodes[x];
    for (int k = 0; k < op_info[n->op].arity; k++) {
        const int in = n->in[k];
        if (n->op == OP_BROADCAST && k > 0) break;
        if (fuse_user && fuse_user[in] == x) {
            const OpKind ik = op_info[g->nodes[in].op].kind;
            if (ik != OK_UNARY && ik != OK_BINARY) { /* computed by the root's own call (an attention
                                                       chain): not element by element */
                const int b = dies_at(g, p, buf_end, root, overwritable_input(g, p, fuse_user, in));
                if (b >= 0) return b;
                continue;
            }
            const int b = in_place(g, p, fuse_user, buf_end, root, in);
            if (b >= 0) return b;
            continue;
        }
        const int b = dies_at(g, p, buf_end, root, in);
        if (b >= 0) return b;
    }
    return -1;
}


Plan *plan_make(Graph *g, const char *pinned, const char *roots, const int *fuse_user) {
    Plan *p = arena_alloc(g->arena, sizeof *p);
    p->buf = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    p->scratch = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    int cap = 2 * g->n + 1;
    p->buf_size = arena_alloc(g->arena, (size_t)cap * sizeof(char *));
    p->buf_const = arena_alloc(g->arena, (size_t)cap * sizeof(int64_t));
    int *last = malloc(((size_t)g->n + 1) * sizeof *last);
    int *buf_end = malloc((size_t)cap * sizeof *buf_end);
    char *busy = calloc((size_t)cap, 1);
    if (!last || !buf_end || !busy) abort();
    for (int i = 0; i < g->n; i++) last[i] = roots[i] ? g->n : i;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < op_info[g->nodes[i].op].arity; k++) {
            int at = where(fuse_user, i);
            if (last[g->nodes[i].in[k]] < at) last[g->nodes[i].in[k]] = at;
        }
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        p->buf[i] = p->scratch[i] = -1;
        /* release buffers whose life ended before this node */
        for (int b = 0; b < p->nbufs; b++)
            if (busy[b] && buf_end[b] < i) busy[b] = 0;
        if (is_storage_free(n) || (fuse_user && fuse_user[i] >= 0)) continue;
        char size[256];
        if (n->op == OP_CONV2D || n->op == OP_CONV2D_GRAD_X || n->op == OP_CONV2D_GRAD_W) {
            int64_t reals = ir_conv2d_scratch(g, n);
            snprintf(size, sizeof size, "%lld", (long long)reals);
            p->scratch[i] = take_buffer(g, p, busy, buf_end, -1, size, reals, i);
        }
        if (pinned[i]) continue;
        OpKind kind = op_info[n->op].kind;
        int chosen = -1;
        if (n->op == OP_RESHAPE) {
            int b = p->buf[n->in[0]];
            if (b >= 0) chosen = b;
        } else if (kind == OK_UNARY || kind == OK_BINARY) {
            chosen = in_place(g, p, fuse_user, buf_end, i, i);
        } else {
            chosen = dies_at(g, p, buf_end, i, overwritable_input(g, p, fuse_user, i));
        }
        shape_numel_c(&n->shape, &g->syms, size, sizeof size);
        int ovf;
        chosen = take_buffer(g, p, busy, buf_end, chosen, size, shape_const_numel(&n->shape, &ovf), i);
        if (buf_end[chosen] < last[i]) buf_end[chosen] = last[i];
        p->buf[i] = chosen;
    }
    free(last);
    free(buf_end);
    free(busy);
    return p;
}
