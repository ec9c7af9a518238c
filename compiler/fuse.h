/* fuse.h — elementwise fusion: which nodes are computed inside another node's loop.
 *
 * An elementwise node read exactly once, by an elementwise node of its own shape, and not
 * itself a root or written to caller memory, is computed inline in its user's loop (no
 * buffer, no pass over memory). Chains fuse transitively, up to 8 nodes per loop so that
 * expressions stay small. The C emitter and the Graphviz view both use this decision. The
 * exception: GELU's derivative made beside GELU (ir_gelu_paired, pass_pair.c) is kept, as
 * the pair's one pass makes it. */
#ifndef BP_FUSE_H
#define BP_FUSE_H

#include "ir.h"

/* The rule of the node: may `in`, read by i and by nothing else (uses: ir_use_counts), be
 * computed inside i's loop? Both elementwise, of one shape, `in` a real. fuse_plan also wants
 * `in` kept by no caller (roots, pinned), no pair's derivative, and at most 8 nodes a loop. */
int fuse_joins(const Graph *g, const int *uses, int in, int i);
/* fuse_user[i] = the node whose loop computes node i, or -1. roots and pinned may be NULL. */
void fuse_plan(const Graph *g, const char *roots, const char *pinned, int *fuse_user);

#endif
