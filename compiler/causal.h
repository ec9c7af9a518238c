/* causal.h — what a causal mask makes of a value's last two axes [..., i, j]: zero right
 * of the diagonal (j > i), or never read there. The C emitter's triangles (emit_c.c's
 * plan_tri, plan_sm) rest on these two facts; they hold as the values involved are finite
 * (a product skipping the terms 0 * b would otherwise lose a NaN). */
#ifndef BP_CAUSAL_H
#define BP_CAUSAL_H

#include "ir.h"

/* Is node id zero wherever j > i: softmax(causal_mask(x, -inf)) over the last axis, or what
 * keeps those zeros (softmax_grad(y, g) of such a y, dropout, negation, a product by
 * anything of the same last two axes)? */
int causal_zero_upper(const Graph *g, int id);
/* Is nothing of node id right of the diagonal ever read: each use a causal mask's input, the
 * g of softmax_grad(y, g) with y zero there, or elementwise into a node of the same last two
 * axes of which the same holds; and id not a root? (rd: ir_readers(g)) */
int causal_upper_unread(const Graph *g, const Readers *rd, int id);

#endif
