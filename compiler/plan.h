/* plan.h — the memory plan of one generated function.
 *
 * Every computed node gets a workspace buffer, unless it is pinned (its value is written
 * straight to a caller's array: a gradient, an output) or a leaf (parameters, inputs and
 * constants are read in place). Buffers are reused by liveness: a buffer whose last reader
 * has run is free for a later node of the same size; an elementwise node may write over an
 * input of its own shape that dies at it (in place), as may cross-entropy's gradient over its
 * logits and softmax's gradient over the softmax's result; a reshape aliases its input's buffer.
 * Elementwise nodes fused into their single user's loop get no buffer at all.
 * A convolution also gets a scratch buffer that lives only while it runs, as does, given
 * product_temp, an attention chain's call that writes its softmax gradient over y (each
 * product is made in it first: [M, N], the last two axes).
 * A buffer holds values of one product of symbolic sizes (a monomial) and is as large as the
 * largest of them. The workspace is the buffers laid end to end, each rounded up to 64 bytes. */
#ifndef BP_PLAN_H
#define BP_PLAN_H

#include "ir.h"

enum {
    PLAN_VALUE,   /* a buffer as large as node buf_node's value */
    PLAN_SCRATCH, /* as a convolution's scratch (a constant count: buf_const) */
    PLAN_PRODUCT  /* as one product of the softmax gradient buf_node (its last two axes) */
};

typedef struct Plan {
    int *buf;          /* per node: buffer index, or -1 */
    int *scratch;      /* per node: its scratch buffer's index, or -1 */
    int nbufs;
    char **buf_size;   /* per buffer: C expression of its element count */
    int64_t *buf_const;/* per buffer: constant factor of its count (for --stats) */
    int *buf_node;     /* per buffer: the node its size is taken from (for --stats), */
    char *buf_kind;    /* and how: PLAN_VALUE, PLAN_SCRATCH or PLAN_PRODUCT */
} Plan;

/* pinned[i] != 0: node i is written to caller memory. roots: nodes that must stay alive
 * until the end (pinned ones included). fuse_user[i] >= 0: node i is computed inside the
 * loop of that later node (no storage; its inputs live until that node); may be NULL.
 * Buffers of other sizes that are never busy at once are merged (plan_make_sized's merge). */
Plan *plan_make(Graph *g, const char *pinned, const char *roots, const int *fuse_user);

/* What plan_make works out per node from the graph alone, for a caller that makes many plans
 * of one graph (mark_fused, one per parameter): each node's element count as C text, as its
 * constant factor and as a size class (the same text, the same class), and a convolution's
 * scratch buffer's. Made in g's arena. */
typedef struct PlanSizes {
    const char **text, **scratch_text; /* scratch_text: NULL but for a convolution */
    int *cls, *scratch_cls;             /* scratch_cls: -1 but for a convolution */
    int64_t *numel, *scratch_numel;
    const char **product_text;          /* a softmax gradient's of rank >= 3: one product [M, N] */
    int *product_cls;                   /* (-1 for the other nodes) */
    int64_t *product_numel;
    int nclasses;
    int *cls_mono;                      /* per class: its monomial (the same index, the same product of */
    int64_t *cls_numel;                 /* symbolic sizes), and its constant factor */
    int nmonos;
} PlanSizes;
PlanSizes *plan_sizes(Graph *g);

/* plan_make's plan, with the sizes of ps = plan_sizes(g) (NULL: worked out here, as plan_make
 * does); merge 0: one buffer per size, none merged (what mark_fused compares). product_temp
 * (NULL: none; --standalone, whose runtime keeps no buffers of its own between calls): per node, -1, or for an attention chain's call (emit_c.c's SmChain) the
 * softmax gradient it makes: if that is written over its y, the call gets a scratch buffer of
 * one product (bprt.h's bprt_?gemm_batch_softmax_grad tmp). */
Plan *plan_make_sized(Graph *g, const char *pinned, const char *roots, const int *fuse_user, const PlanSizes *ps,
                      const int *product_temp, int merge);

#endif
