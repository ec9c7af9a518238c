/* sema.h — from the syntax tree to the forward IR graph.
 *
 * Resolves names (bindings, inputs, parameters, symbolic dimensions), inlines `def`s,
 * lowers every built-in function to IR ops (NumPy broadcasting, vector cases of @, losses
 * reduced by mean as PyTorch does), infers shapes and reports located errors. The result
 * has the loss and outputs as roots and no gradients yet. */
#ifndef BP_SEMA_H
#define BP_SEMA_H

#include "ast.h"
#include "ir.h"

typedef struct SemaOptions {
    const char *default_model; /* model name when the program has no `model` statement */
    int allow_expr_stmts;      /* REPL: bare expressions allowed (their nodes are outputs) */
    int ignore_checkpoint;     /* mark nothing for recomputation (bpc --stats' comparison) */
} SemaOptions;

/* Returns the graph (never NULL); check diag->nerrors. */
Graph *sema_program(Arena *a, Diag *d, const Program *prog, const SemaOptions *opt);

/* The i-th built-in function's name, or NULL past the last (the REPL completes them). */
const char *sema_builtin_name(int i);

/* A valid C identifier made from a file name's stem ("nets/my-net.2.bp" -> "my_net_2",
 * "2-layer.bp" -> "bp_2_layer"; the rule above its definition). */
const char *sema_model_name_from_path(Arena *a, const char *path);

#endif
