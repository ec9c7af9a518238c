/* emit.h — C code generation from the optimised IR, and the Graphviz view.
 *
 * emit_c_source writes the whole implementation of the generated API described in
 * LANGUAGE.md (forward, loss, grad, train_step, init, workspace and optimizer-state
 * sizes) and bpc's additions (loss_eval, grad_seeded, hvp, update); emit_c_header writes
 * the documented header. Each function is emitted from its
 * own dead-code-pruned graph with its own memory plan. */
#ifndef BP_EMIT_H
#define BP_EMIT_H

#include <stdio.h>

#include "ir.h"

typedef struct EmitOptions {
    int f64;            /* real is double */
    int inline_decls;   /* declare the runtime's functions instead of #include "bprt.h" (JIT) */
    int line_directives;/* #line back to the .bp source */
    const char *header_name; /* the .h to include from the .c ("net.h"), or NULL: self-contained */
    int entry_points;   /* add bp_*_entry wrappers with uniform signatures (the driver's JIT) */
    int standalone;     /* carry the runtime parts used (reference GEMM, RNG, optimizers) */
    int ew_blocks;      /* fused elementwise loops as bprt_ew programs (for libtcc, which
                           does not vectorise: the runtime's block evaluator is ~10x faster) */
} EmitOptions;

void emit_c_source(FILE *out, Graph *g, const EmitOptions *o);
void emit_c_header(FILE *out, Graph *g, const EmitOptions *o);
void emit_dot(FILE *out, const Graph *g);

/* The memory plans evaluated at sizes dims[s] of the symbolic dimensions (bpc --stats). */
typedef struct EmitStats {
    size_t workspace;      /* what NAME_workspace_size returns (the training step's need) */
    size_t grad_workspace; /* NAME_grad's own buffers (forward and backward) */
    int grad_buffers;      /* how many buffers NAME_grad's plan has */
    int forward_nodes, backward_nodes; /* computed (non-leaf) nodes of NAME_grad */
    int recomputed_nodes;  /* of the backward ones: copies of `checkpoint` values */
    size_t standalone_workspace; /* workspace of --standalone output (the scratch of attention
                                    products whose softmax gradient is written over y included) */
} EmitStats;
void emit_stats(Graph *g, const int64_t *dims, int f64, EmitStats *st);
/* The first node whose code takes an int past INT32_MAX at sizes dims[s] of the symbolic
 * dimensions, or -1: one of its sizes (the generated code writes c * dim_X as an int
 * product; what = "size") or, for a matrix product, its M with the batch's rows folded in
 * ("rows") or its K with summed batch axes folded in ("terms"), cast to one of GEMM's ints
 * (x[B, T, 1] @ w at B = T = 46341 made a negative M); *value is that int's value. */
int emit_int_overflow(const Graph *g, const int *dims, int64_t *value, const char **what);
/* Does the program have a dropout with p > 0 (NAME_loss_eval then differs from NAME_loss)? */
int emit_has_dropout(const Graph *g);
/* Per input of g: 1 if NAME_forward takes it (the outputs depend on it); one pruning of the
 * graph for all of them */
const char *emit_forward_inputs(Graph *g);
/* used[i] (for g's inputs, at most BP_MAX_RUN_INPUTS): 1 if the loss (so its gradient) depends on input i;
 * one pruning of the graph for all of them. Returns used. */
int *emit_loss_inputs(Graph *g, int used[BP_MAX_RUN_INPUTS]);
/* used[s]: 1 if the loss's function needs symbolic size s (a value of that size, or the size
 * itself), whether or not it reads an input of that size: `x ^ 0` is ones of x's shape and
 * reads no input. Returns used. */
int *emit_loss_syms(Graph *g, int used[BP_MAXSYMS]);
/* The same for NAME_forward (the outputs) */
int *emit_forward_syms(Graph *g, int used[BP_MAXSYMS]);
/* A self-check program for the generated code (includes `header`). */
void emit_test_program(FILE *out, Graph *g, const EmitOptions *o, const char *header);

#endif
