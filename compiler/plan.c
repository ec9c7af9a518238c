/* plan.c — see plan.h. One forward scan in topological order, which is the execution
 * order of the generated code. A node takes the free buffer of its size with the lowest
 * index: the free buffers of each size are a min-heap, found by the size's class (plan_sizes);
 * a buffer is freed at the node after its life ends, from a list per node of the buffers
 * ending there. (Scanning every buffer at every node made a chain of 300 layers, whose
 * backward pass keeps each layer's buffer, take 8 s.) */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ints.h"
#include "nametab.h"

/* The buffers' state while the plan is made */
typedef struct Pool {
    char *busy;     /* per buffer */
    int *end;       /* per buffer: the last node that reads it */
    int *size_of;   /* per buffer: its size class */
    Ints *free;     /* per size class: a min-heap of the free buffers (some may be busy: skipped) */
    int nsizes;
    Ints *ending;   /* per node: buffers whose end was set to it (stale once the end moved) */
} Pool;

/* Sets buffer b's end (never earlier than node i, where it is taken) */
static void set_end(Pool *pl, int b, int end) {
    pl->end[b] = end;
    ints_push(&pl->ending[end], b);
}

/* Before node i: frees the buffers whose life ended at node i - 1 */
static void release(Pool *pl, int i) {
    if (i == 0) return;
    Ints *e = &pl->ending[i - 1];
    for (int k = 0; k < e->n; k++) {
        int b = e->v[k];
        if (!pl->busy[b] || pl->end[b] != i - 1) continue;
        pl->busy[b] = 0;
        ints_heap_push(&pl->free[pl->size_of[b]], b);
    }
}

static int is_storage_free(const Node *n) {
    return n->op == OP_INPUT || n->op == OP_PARAM || n->op == OP_VECTOR || n->op == OP_CONST || n->op == OP_DIMVAL;
}

/* Position where node i is actually computed: its own, or its fused user's. */
static int where(const int *fuse_user, int i) {
    while (fuse_user && fuse_user[i] >= 0) i = fuse_user[i];
    return i;
}

/* Marks buffer `chosen` busy for node i, or, if it is -1, the free buffer of `size` elements
 * (its size class cls, from plan_sizes: size lives as long as the graph) with the lowest
 * index (a new one if none is free). Returns its index. */
static int take_buffer(Plan *p, Pool *pl, int chosen, int cls, const char *size, int64_t numel, int i) {
    while (chosen < 0 && pl->free[cls].n) {
        int b = ints_heap_pop(&pl->free[cls]);
        if (!pl->busy[b]) chosen = b;
    }
    if (chosen < 0) {
        chosen = p->nbufs++;
        p->buf_size[chosen] = (char *)size;
        p->buf_const[chosen] = numel;
        pl->size_of[chosen] = cls;
        set_end(pl, chosen, i);
    } else if (pl->end[chosen] < i)
        set_end(pl, chosen, i);
    pl->busy[chosen] = 1;
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


/* text's size class in t, a new one (*n, then counted) if it has none */
static int size_class(Arena *a, NameTab *t, const char *text, int *n) {
    int *c = nametab_ref(a, t, text, *n);
    if (*c == *n) (*n)++;
    return *c;
}

PlanSizes *plan_sizes(Graph *g) {
    PlanSizes *ps = arena_alloc(g->arena, sizeof *ps);
    ps->text = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->text);
    ps->scratch_text = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->scratch_text);
    ps->cls = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->cls);
    ps->scratch_cls = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->scratch_cls);
    ps->numel = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->numel);
    ps->scratch_numel = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->scratch_numel);
    ps->product_text = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->product_text);
    ps->product_cls = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->product_cls);
    ps->product_numel = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof *ps->product_numel);
    NameTab sizes;
    memset(&sizes, 0, sizeof sizes);
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        char size[512]; /* a product of up to BP_MAXRANK sizes (BP_DIM_NAME_MAX) */
        ps->scratch_cls[i] = ps->product_cls[i] = -1;
        if (n->op == OP_CONV2D || n->op == OP_CONV2D_GRAD_X || n->op == OP_CONV2D_GRAD_W) {
            ps->scratch_numel[i] = ir_conv2d_scratch(g, n);
            snprintf(size, sizeof size, "%lld", (long long)ps->scratch_numel[i]);
            ps->scratch_text[i] = arena_strdup(g->arena, size);
            ps->scratch_cls[i] = size_class(g->arena, &sizes, ps->scratch_text[i], &ps->nclasses);
        }
        int ovf;
        if (n->op == OP_SOFTMAX_GRAD && n->shape.rank >= 3) {
            Shape m = shape_scalar();
            m.rank = 2;
            m.d[0] = n->shape.d[n->shape.rank - 2], m.d[1] = n->shape.d[n->shape.rank - 1];
            shape_numel_c(&m, &g->syms, size, sizeof size);
            ps->product_numel[i] = shape_const_numel(&m, &ovf);
            ps->product_text[i] = arena_strdup(g->arena, size);
            ps->product_cls[i] = size_class(g->arena, &sizes, ps->product_text[i], &ps->nclasses);
        }
        shape_numel_c(&n->shape, &g->syms, size, sizeof size);
        ps->numel[i] = shape_const_numel(&n->shape, &ovf);
        ps->text[i] = arena_strdup(g->arena, size);
        ps->cls[i] = size_class(g->arena, &sizes, ps->text[i], &ps->nclasses);
    }
    return ps;
}

Plan *plan_make(Graph *g, const char *pinned, const char *roots, const int *fuse_user) {
    return plan_make_sized(g, pinned, roots, fuse_user, NULL, NULL);
}

Plan *plan_make_sized(Graph *g, const char *pinned, const char *roots, const int *fuse_user, const PlanSizes *ps,
                      const int *product_temp) {
    if (!ps) ps = plan_sizes(g);
    Plan *p = arena_alloc(g->arena, sizeof *p);
    p->buf = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    p->scratch = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    int cap = 2 * g->n + 1;
    p->buf_size = arena_alloc(g->arena, (size_t)cap * sizeof(char *));
    p->buf_const = arena_alloc(g->arena, (size_t)cap * sizeof(int64_t));
    int *last = malloc(((size_t)g->n + 1) * sizeof *last);
    Pool pl;
    memset(&pl, 0, sizeof pl);
    pl.busy = calloc((size_t)cap, 1);
    pl.end = malloc((size_t)cap * sizeof *pl.end);
    pl.size_of = malloc((size_t)cap * sizeof *pl.size_of);
    pl.free = calloc((size_t)cap, sizeof *pl.free);
    pl.ending = calloc((size_t)g->n + 1, sizeof *pl.ending);
    pl.nsizes = ps->nclasses;
    if (!last || !pl.busy || !pl.end || !pl.size_of || !pl.free || !pl.ending) abort();
    int *buf_end = pl.end;
    for (int i = 0; i < g->n; i++) last[i] = roots[i] ? g->n : i;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < op_info[g->nodes[i].op].arity; k++) {
            int at = where(fuse_user, i);
            if (last[g->nodes[i].in[k]] < at) last[g->nodes[i].in[k]] = at;
        }
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        p->buf[i] = p->scratch[i] = -1;
        release(&pl, i); /* the buffers whose life ended before this node */
        if (is_storage_free(n) || (fuse_user && fuse_user[i] >= 0)) continue;
        if (ps->scratch_cls[i] >= 0)
            p->scratch[i] = take_buffer(p, &pl, -1, ps->scratch_cls[i], ps->scratch_text[i], ps->scratch_numel[i], i);
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
        chosen = take_buffer(p, &pl, chosen, ps->cls[i], ps->text[i], ps->numel[i], i);
        if (buf_end[chosen] < last[i]) set_end(&pl, chosen, last[i]);
        p->buf[i] = chosen;
        const int s = product_temp ? product_temp[i] : -1; /* the chain's softmax gradient, written */
        if (s >= 0 && chosen == p->buf[g->nodes[s].in[0]]) /* over y: each product in a scratch first */
            p->scratch[i] = take_buffer(p, &pl, -1, ps->product_cls[s], ps->product_text[s], ps->product_numel[s], i);
    }
    free(last);
    for (int k = 0; k < pl.nsizes; k++) free(pl.free[k].v);
    for (int k = 0; k <= g->n; k++) free(pl.ending[k].v);
    free(pl.busy);
    free(pl.end);
    free(pl.size_of);
    free(pl.free);
    free(pl.ending);
    return p;
}
