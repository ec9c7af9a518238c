/* plan.c — see plan.h. One forward scan in topological order, which is the execution
 * order of the generated code. A node takes the free buffer of its size with the lowest
 * index: the free buffers of each size are a min-heap, found by the size's class (plan_sizes);
 * a buffer is freed at the node after its life ends, from a list per node of the buffers
 * ending there. (Scanning every buffer at every node made a chain of 300 layers, whose
 * backward pass keeps each layer's buffer, take 8 s.)
 * Then buffers of different sizes whose busy spans never meet are merged (merge_buffers):
 * one buffer, as large as the largest, holds them all in turn. Sizes are compared only
 * within one product of symbolic sizes (a monomial: B*T, B, or none), where the larger
 * constant factor is the larger size at any sizes >= 0. (With one buffer per size only,
 * fashion_cnn's gradient kept the backward pass's images beside the forward pass's dead ones
 * of other sizes.) */
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
    Ints *spans;    /* per buffer: the nodes where it became busy and where it was freed, in pairs */
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
        ints_push(&pl->spans[b], i - 1);
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
 * index (a new one if none is free: its size is taken from node rep, as kind says: Plan.buf_node).
 * Returns its index. */
static int take_buffer(Plan *p, Pool *pl, int chosen, int cls, const char *size, int64_t numel, int i, int rep,
                       char kind) {
    while (chosen < 0 && pl->free[cls].n) {
        int b = ints_heap_pop(&pl->free[cls]);
        if (!pl->busy[b]) chosen = b;
    }
    if (chosen < 0) {
        chosen = p->nbufs++;
        p->buf_size[chosen] = (char *)size;
        p->buf_const[chosen] = numel;
        p->buf_node[chosen] = rep;
        p->buf_kind[chosen] = kind;
        pl->size_of[chosen] = cls;
        set_end(pl, chosen, i);
    } else if (pl->end[chosen] < i)
        set_end(pl, chosen, i);
    if (!pl->busy[chosen]) ints_push(&pl->spans[chosen], i);
    pl->busy[chosen] = 1;
    return chosen;
}

/* Do the sorted, disjoint spans a and b ([first, last] pairs) share a node? */
static int spans_meet(const Ints *a, const Ints *b) {
    for (int i = 0, j = 0; i < a->n && j < b->n;) {
        if (a->v[i + 1] < b->v[j]) i += 2;
        else if (b->v[j + 1] < a->v[i]) j += 2;
        else return 1;
    }
    return 0;
}

/* a's spans with b's added (none of them meet) */
static void spans_add(Ints *a, const Ints *b) {
    Ints m = {0, 0, 0};
    for (int i = 0, j = 0; i < a->n || j < b->n;) {
        const int take_a = j >= b->n || (i < a->n && a->v[i] < b->v[j]);
        const Ints *f = take_a ? a : b;
        const int k = take_a ? i : j;
        ints_push(&m, f->v[k]);
        ints_push(&m, f->v[k + 1]);
        if (take_a) i += 2;
        else j += 2;
    }
    free(a->v);
    *a = m;
}

/* A buffer as merge_buffers orders them: by monomial, then the largest first, then the lowest index */
typedef struct BufKey {
    int mono, index;
    int64_t numel;
} BufKey;
static int by_size(const void *x, const void *y) {
    const BufKey *a = x, *b = y;
    if (a->mono != b->mono) return a->mono < b->mono ? -1 : 1;
    if (a->numel != b->numel) return a->numel > b->numel ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Merges buffers whose busy spans never meet (first fit, the largest first, among buffers
 * of one monomial): each group becomes one buffer with the size of its largest, numbered in
 * the order of its members' lowest index. The plan then holds no two values at once in one
 * buffer that the scan did not (a buffer is busy from the node that takes it to the last
 * that reads what it holds), and is never larger. */
static void merge_buffers(Plan *p, Pool *pl, const PlanSizes *ps, int nnodes) {
    const int nb = p->nbufs;
    if (nb < 2) return;
    BufKey *order = malloc((size_t)nb * sizeof *order);
    int *group = malloc((size_t)nb * sizeof *group), *lead = malloc((size_t)nb * sizeof *lead);
    int *low = malloc((size_t)nb * sizeof *low), *num = malloc((size_t)nb * sizeof *num);
    Ints *gspans = calloc((size_t)nb, sizeof *gspans);
    if (!order || !group || !lead || !low || !num || !gspans) abort();
    for (int b = 0; b < nb; b++) {
        order[b] = (BufKey){ps->cls_mono[pl->size_of[b]], b, ps->cls_numel[pl->size_of[b]]};
        if (pl->busy[b]) ints_push(&pl->spans[b], nnodes); /* busy to the end */
    }
    qsort(order, (size_t)nb, sizeof *order, by_size);
    int ng = 0;
    for (int k = 0; k < nb; k++) {
        const int b = order[k].index;
        int gi = 0;
        for (; gi < ng; gi++)
            if (order[k].mono == ps->cls_mono[pl->size_of[lead[gi]]] && !spans_meet(&gspans[gi], &pl->spans[b])) break;
        if (gi == ng) {
            lead[ng] = b; /* the largest: the group's size */
            low[ng] = b;
            ng++;
        }
        group[b] = gi;
        if (b < low[gi]) low[gi] = b;
        spans_add(&gspans[gi], &pl->spans[b]);
    }
    if (ng < nb) {
        for (int b = 0, k = 0; b < nb; b++) /* the groups numbered by their lowest member */
            if (low[group[b]] == b) num[group[b]] = k++;
        char **size = malloc((size_t)ng * sizeof *size);
        int64_t *cnst = malloc((size_t)ng * sizeof *cnst);
        int *node = malloc((size_t)ng * sizeof *node);
        char *kind = malloc((size_t)ng);
        if (!size || !cnst || !node || !kind) abort();
        for (int gi = 0; gi < ng; gi++) {
            const int b = lead[gi], k = num[gi];
            size[k] = p->buf_size[b], cnst[k] = p->buf_const[b], node[k] = p->buf_node[b], kind[k] = p->buf_kind[b];
        }
        for (int k = 0; k < ng; k++)
            p->buf_size[k] = size[k], p->buf_const[k] = cnst[k], p->buf_node[k] = node[k], p->buf_kind[k] = kind[k];
        for (int i = 0; i < nnodes; i++) {
            if (p->buf[i] >= 0) p->buf[i] = num[group[p->buf[i]]];
            if (p->scratch[i] >= 0) p->scratch[i] = num[group[p->scratch[i]]];
        }
        p->nbufs = ng;
        free(size);
        free(cnst);
        free(node);
        free(kind);
    }
    for (int gi = 0; gi < ng; gi++) free(gspans[gi].v);
    free(gspans);
    free(order);
    free(group);
    free(lead);
    free(low);
    free(num);
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


/* text's size class in t, a new one (ps->nclasses, then counted) if it has none; a new
 * class's monomial (the symbolic sizes of s's axes, in order of their index: the same
 * product whatever the axes' order) is looked up in m, and its constant factor is numel */
static int size_class(Arena *a, NameTab *t, NameTab *m, PlanSizes *ps, const char *text, const Shape *s,
                      int64_t numel) {
    int *c = nametab_ref(a, t, text, ps->nclasses);
    if (*c < ps->nclasses) return *c;
    int syms[BP_MAXRANK], ns = 0;
    for (int k = 0; k < s->rank; k++)
        if (s->d[k].sym >= 0 && s->d[k].c != 0) {
            int at = ns++;
            for (; at > 0 && syms[at - 1] > s->d[k].sym; at--) syms[at] = syms[at - 1];
            syms[at] = s->d[k].sym;
        }
    char key[BP_MAXRANK * 12 + 2] = "m";
    size_t len = 1;
    for (int k = 0; k < ns && numel != 0; k++) len += (size_t)snprintf(key + len, sizeof key - len, ",%d", syms[k]);
    int mono = nametab_get(m, key, -1);
    if (mono < 0) nametab_put(a, m, arena_strdup(a, key), mono = ps->nmonos++); /* the table keeps the key */
    ps->cls_mono[*c] = mono;
    ps->cls_numel[*c] = numel;
    return ps->nclasses++;
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
    ps->cls_mono = arena_alloc(g->arena, (3 * (size_t)g->n + 1) * sizeof *ps->cls_mono); /* at most 3 per node */
    ps->cls_numel = arena_alloc(g->arena, (3 * (size_t)g->n + 1) * sizeof *ps->cls_numel);
    NameTab sizes, monos;
    memset(&sizes, 0, sizeof sizes);
    memset(&monos, 0, sizeof monos);
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        char size[512]; /* a product of up to BP_MAXRANK sizes (BP_DIM_NAME_MAX) */
        ps->scratch_cls[i] = ps->product_cls[i] = -1;
        if (n->op == OP_CONV2D || n->op == OP_CONV2D_GRAD_X || n->op == OP_CONV2D_GRAD_W) {
            ps->scratch_numel[i] = ir_conv2d_scratch(g, n);
            snprintf(size, sizeof size, "%lld", (long long)ps->scratch_numel[i]);
            ps->scratch_text[i] = arena_strdup(g->arena, size);
            const Shape none = shape_scalar();
            ps->scratch_cls[i] = size_class(g->arena, &sizes, &monos, ps, ps->scratch_text[i], &none, ps->scratch_numel[i]);
        }
        int ovf;
        if (n->op == OP_SOFTMAX_GRAD && n->shape.rank >= 3) {
            Shape m = shape_scalar();
            m.rank = 2;
            m.d[0] = n->shape.d[n->shape.rank - 2], m.d[1] = n->shape.d[n->shape.rank - 1];
            shape_numel_c(&m, &g->syms, size, sizeof size);
            ps->product_numel[i] = shape_const_numel(&m, &ovf);
            ps->product_text[i] = arena_strdup(g->arena, size);
            ps->product_cls[i] = size_class(g->arena, &sizes, &monos, ps, ps->product_text[i], &m, ps->product_numel[i]);
        }
        shape_numel_c(&n->shape, &g->syms, size, sizeof size);
        ps->numel[i] = shape_const_numel(&n->shape, &ovf);
        ps->text[i] = arena_strdup(g->arena, size);
        ps->cls[i] = size_class(g->arena, &sizes, &monos, ps, ps->text[i], &n->shape, ps->numel[i]);
    }
    return ps;
}

Plan *plan_make(Graph *g, const char *pinned, const char *roots, const int *fuse_user) {
    return plan_make_sized(g, pinned, roots, fuse_user, NULL, NULL, 1);
}

Plan *plan_make_sized(Graph *g, const char *pinned, const char *roots, const int *fuse_user, const PlanSizes *ps,
                      const int *product_temp, int merge) {
    if (!ps) ps = plan_sizes(g);
    Plan *p = arena_alloc(g->arena, sizeof *p);
    p->buf = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    p->scratch = arena_alloc(g->arena, ((size_t)g->n + 1) * sizeof(int));
    int cap = 2 * g->n + 1;
    p->buf_size = arena_alloc(g->arena, (size_t)cap * sizeof(char *));
    p->buf_const = arena_alloc(g->arena, (size_t)cap * sizeof(int64_t));
    p->buf_node = arena_alloc(g->arena, (size_t)cap * sizeof(int));
    p->buf_kind = arena_alloc(g->arena, (size_t)cap);
    int *last = malloc(((size_t)g->n + 1) * sizeof *last);
    Pool pl;
    memset(&pl, 0, sizeof pl);
    pl.busy = calloc((size_t)cap, 1);
    pl.end = malloc((size_t)cap * sizeof *pl.end);
    pl.size_of = malloc((size_t)cap * sizeof *pl.size_of);
    pl.free = calloc((size_t)cap, sizeof *pl.free);
    pl.ending = calloc((size_t)g->n + 1, sizeof *pl.ending);
    pl.nsizes = ps->nclasses;
    pl.spans = calloc((size_t)cap, sizeof *pl.spans);
    if (!last || !pl.busy || !pl.end || !pl.size_of || !pl.free || !pl.ending || !pl.spans) abort();
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
            p->scratch[i] = take_buffer(p, &pl, -1, ps->scratch_cls[i], ps->scratch_text[i], ps->scratch_numel[i], i, i,
                                        PLAN_SCRATCH);
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
        chosen = take_buffer(p, &pl, chosen, ps->cls[i], ps->text[i], ps->numel[i], i, i, PLAN_VALUE);
        if (buf_end[chosen] < last[i]) set_end(&pl, chosen, last[i]);
        p->buf[i] = chosen;
        const int s = product_temp ? product_temp[i] : -1; /* the chain's softmax gradient, written */
        if (s >= 0 && chosen == p->buf[g->nodes[s].in[0]]) /* over y: each product in a scratch first */
            p->scratch[i] = take_buffer(p, &pl, -1, ps->product_cls[s], ps->product_text[s], ps->product_numel[s], i, s,
                                        PLAN_PRODUCT);
    }
    if (merge) merge_buffers(p, &pl, ps, g->n);
    free(last);
    for (int k = 0; k < 2 * g->n + 1; k++) free(pl.spans[k].v);
    free(pl.spans);
    for (int k = 0; k < pl.nsizes; k++) free(pl.free[k].v);
    for (int k = 0; k <= g->n; k++) free(pl.ending[k].v);
    free(pl.busy);
    free(pl.end);
    free(pl.size_of);
    free(pl.free);
    free(pl.ending);
    return p;
}
