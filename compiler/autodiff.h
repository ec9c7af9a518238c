/* autodiff.h — reverse mode as a source transformation on the IR.
 *
 * ad_gradients() walks the forward nodes from the loss backwards and appends, to the same
 * Graph, the adjoint nodes of every node the loss depends on through a parameter, using
 * each op's vector-Jacobian rule (ops_vjp.c). Fan-out is summed in one helper and
 * broadcasting undone in another. The result: g->grads[p] is the node holding dLoss/dParam
 * (-1 when the loss does not depend on p: the gradient is zero). Inputs never get
 * adjoints. Differentiating the result again works the same way (higher order). */
#ifndef BP_AUTODIFF_H
#define BP_AUTODIFF_H

#include "ir.h"

typedef struct AdCtx {
    Graph *g;
    int *adj;      /* per node of the forward graph: adjoint node id or -1 */
    char *needs;   /* per node: the loss reaches a parameter through it */
    int nforward;
} AdCtx;

/* Returns 0, or -1 after reporting an error (an op with no derivative). */
int ad_gradients(Graph *g, int of);

/* Helpers the rules use. */
void ad_accumulate(AdCtx *c, int node, int contribution);
int ad_unbroadcast(Graph *g, int v, const Shape *to, Loc loc);

typedef int (*VjpFn)(AdCtx *c, int id, const Node *n, int gy);
extern const VjpFn op_vjp[OP_COUNT];

#endif
