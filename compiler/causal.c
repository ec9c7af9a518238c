/* causal.c — see causal.h. Two walks over the IR from a node: down its operands (is it zero
 * right of the diagonal?) and up its readers (is nothing right of the diagonal read?), through
 * at most TRI_DEPTH elementwise steps. */
#include "causal.h"

enum { TRI_DEPTH = 8 }; /* how far the two walks follow elementwise chains */

/* Is the node zero wherever its last axis' index j exceeds the one before's, i (as its
 * operands are finite): softmax(causal_mask(x, -inf)) over the last axis (each row's masked
 * terms exp(-inf) = 0), and what keeps those zeros: softmax_grad(y, g) = y (g - s) of such a
 * y, dropout, negation, a product by anything? */
static int zero_upper(const Graph *g, int id, int depth) {
    const Node *n = &g->nodes[id];
    if (depth > TRI_DEPTH || n->shape.rank < 2) return 0;
    switch (n->op) {
    case OP_SOFTMAX: {
        const Node *x = &g->nodes[n->in[0]];
        return n->axis == n->shape.rank - 1 && ir_masks_future(x);
    }
    case OP_SOFTMAX_GRAD:
    case OP_DROPOUT:
    case OP_NEG: return zero_upper(g, n->in[0], depth + 1);
    case OP_MUL:
        for (int k = 0; k < 2; k++) {
            const Shape *s = &g->nodes[n->in[k]].shape;
            if (s->rank >= 2 && dim_eq(s->d[s->rank - 1], n->shape.d[n->shape.rank - 1]) &&
                dim_eq(s->d[s->rank - 2], n->shape.d[n->shape.rank - 2]) && zero_upper(g, n->in[k], depth + 1))
                return 1;
        }
        return 0;
    default: return 0;
    }
}

/* Is nothing of the node above its diagonal (j > i in its last two axes) ever read: is each
 * of its uses a causal mask's input (which replaces those entries), the g of softmax_grad(y,
 * g) with y zero there (y (g - s) is 0 there whatever g is, and s = sum(y g) sums 0 for them),
 * or elementwise into a node of the same last two axes of which the same holds? */
static int upper_unread(const Graph *g, const Readers *rd, int id, int depth) {
    const Node *n = &g->nodes[id];
    if (depth > TRI_DEPTH || n->shape.rank < 2 || rd->root[id]) return 0;
    const int r = n->shape.rank;
    for (int at = rd->first[id]; at < rd->first[id + 1]; at++) {
        const int u = rd->user[at], k = rd->slot[at];
        const Node *un = &g->nodes[u];
        const int kind = op_info[un->op].kind;
        if (un->op == OP_CAUSAL_MASK) continue;
        if (un->op == OP_SOFTMAX_GRAD && k == 1 && un->in[0] != id && zero_upper(g, un->in[0], 0)) continue;
        if ((kind == OK_UNARY || kind == OK_BINARY) && un->shape.rank >= 2 &&
            dim_eq(un->shape.d[un->shape.rank - 1], n->shape.d[r - 1]) &&
            dim_eq(un->shape.d[un->shape.rank - 2], n->shape.d[r - 2]) && upper_unread(g, rd, u, depth + 1))
            continue;
        return 0;
    }
    return 1;
}

int causal_zero_upper(const Graph *g, int id) { return zero_upper(g, id, 0); }
int causal_upper_unread(const Graph *g, const Readers *rd, int id) { return upper_unread(g, rd, id, 0); }
