/* autodiff.h — reverse mode as a source transformation on the IR.
 *
 * ad_gradients() walks the forward nodes from the loss backwards and appends, to the same
 * Graph, the adjoint nodes of every node the loss depends on through a parameter, using
 * each op's vector-Jacobian rule (ops_vjp.c). Fan-out is summed in one helper and
 * broadcasting undone in another. The result: g->grads[p] is the node holding dLoss/dParam
 * (-1 when the loss does not depend on p: the gradient is zero). Inputs never get
 * adjoints. Differentiating the result again works the same way (higher order):
 * ad_hvp() builds s = sum_p <grad_p, v_p> from the gradient nodes and the direction v (VECTOR
 * leaves, one per parameter) and runs the same reverse walk on s, over forward and adjoint
 * nodes alike (reverse-over-reverse), so that d s / d p = (H v)_p. Ops that only reverse
 * mode creates (step, ce_grad, layernorm_grad, ...) therefore need rules too. */
#ifndef BP_AUTODIFF_H
#define BP_AUTODIFF_H

#include "ir.h"

typedef struct AdCtx {
    Graph *g;
    int *adj;      /* per node of the forward graph: adjoint node id or -1 */
    char *needs;   /* per node: the loss reaches a parameter through it */
    int nforward;
    int order;     /* 1: the gradient; 2: differentiating the gradient again (ad_hvp) */
} AdCtx;

/* Returns 0, or -1 after reporting an error (an op with no derivative). */
int ad_gradients(Graph *g, int of);
/* Requires g->grads (ad_gradients). Sets g->hvps[p] to the node of (H v)_p, H the Hessian
 * of the loss with respect to all parameters and v the VECTOR leaves. Returns 0, or -1
 * after reporting "hvp: op 'X' has no second-order rule" at the op's source location. */
int ad_hvp(Graph *g);

/* Helpers the rules use. */
void ad_accumulate(AdCtx *c, int node, int contribution);
int ad_unbroadcast(Graph *g, int v, const Shape *to, Loc loc);

typedef int (*VjpFn)(AdCtx *c, int id, const Node *n, int gy);
extern const VjpFn op_vjp[OP_COUNT];

#endif
