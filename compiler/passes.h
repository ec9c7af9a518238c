/* passes.h — the optimisation passes over the IR, and the hooks the builder calls.
 *
 * Folding/simplification (pass_fold.c) and CSE (pass_cse.c) run inside the builder when a
 * Graph's flags ask for them, so that every node a pass or autodiff creates is simplified
 * the same way; a pass is then "rebuild the graph with this flag on". Dead-code removal
 * (pass_dce.c) keeps only what the chosen roots need. */
#ifndef BP_PASSES_H
#define BP_PASSES_H

#include "ir.h"

#define FOLD_NONE (-2)

/* Returns an equivalent node id (existing or new), -1 on error, or FOLD_NONE to add p as
 * it is. Requires p's inputs to exist in g; preserves shape and value exactly (up to the
 * rounding of constant arithmetic done in double). */
int fold_node(Graph *g, const Node *p);
/* The part of fold_node that reverse mode needs at every optimisation level: a node of the
 * gradient program (Node.adjoint) that is linear in an input which is zero as a constant
 * expression (a constant, or elementwise ops, broadcasts and reshapes of constants, looked at
 * 8 nodes deep) is zeros, the gradient that does not exist (0 * inf is not NaN there); a
 * negated, reshaped or broadcast zero, and a sum or difference of two, is that constant, its
 * sign as the fold of constants makes it. The builder applies it with folding off too (-O0).
 * FOLD_NONE where it does not apply. */
int fold_symbolic_zero(Graph *g, const Node *p);
/* Scalar semantics of every elementwise op, in double (folding and tests use it). */
double fold_eval(Op op, double a, double b, const Node *p);

int cse_lookup(Graph *g, const Node *p);
void cse_insert(Graph *g, int id);

/* Passes: each returns a new graph. */
Graph *pass_fold(Graph *g);        /* constant folding + algebraic simplification */
Graph *pass_cse(Graph *g);         /* common-subexpression elimination (with folding on) */
/* Backward readers of `checkpoint`-marked forward nodes read recomputed copies instead
 * (pass_remat.c); returns g itself when nothing is marked or there is no gradient. */
Graph *pass_remat(Graph *g);
/* Marks (in place) each layer norm whose result the backward pass reads only in products
 * gy * layernorm(x), for pass_remat to recompute there (pass_remat.c). */
void remat_mark_layernorms(Graph *g);
/* A sum over batch axes of a batched matmul read by nothing else becomes one MATMUL node
 * with those axes in its bsum (pass_msum.c): no batch of products in memory, no sum. */
Graph *pass_msum(Graph *g);
/* Keeps what the selected roots need: loss, gradients, outputs, Hessian-vector products
 * (the hvps are dropped, hvps = NULL, unless kept). */
/* gelu_grad(z) moved to right after gelu(z) where z has no other reader (pass_pair.c); g
 * itself when there is none to move */
Graph *pass_gelu_pairs(Graph *g);
Graph *pass_dce(Graph *g, int keep_loss, int keep_grads, int keep_outputs, int keep_hvps);

#endif
