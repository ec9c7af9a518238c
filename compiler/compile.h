/* compile.h — the pipeline, visible in one place, and a JIT-compiled model.
 *
 * bpc_compile: parse -> sema -> fold -> reverse mode -> fold -> CSE -> recompute
 * (checkpoints, pass_remat.c) -> DCE, with the IR verifier
 * between stages. bpc_model_build: compile, emit C with uniform entry points, JIT it, and
 * look up the functions; everything the CLI, REPL and tests run goes through here. */
#ifndef BP_COMPILE_H
#define BP_COMPILE_H

#include <stdint.h>

#include "ast.h"
#include "emit.h"
#include "ir.h"
#include "jit.h"

typedef struct CompileOptions {
    int optimize;         /* 1: fold, simplify, CSE (default); 0: only dead-code removal */
    int allow_expr_stmts; /* REPL */
    int no_grad;          /* skip reverse mode */
    int hvp;              /* also the Hessian-vector product (NAME_hvp, ad_hvp): 1 = an op without a
                             second-order rule is an error; 2 = then leave NAME_hvp out, silently */
    int no_checkpoint;    /* ignore `checkpoint` (store everything): what --stats compares against */
    volatile int *stop;   /* if set: checked between the stages, which stop when it is non-zero
                             (the REPL's Ctrl-C) */
} CompileOptions;

/* Compiles source text registered in diag under `file`. NULL after reporting errors, or
 * (nothing reported) when *o->stop became non-zero. */
Graph *bpc_compile(Arena *a, Diag *d, const char *file, const char *text, const CompileOptions *o);
/* A program's text (malloc'd, NUL-terminated), or NULL with a message in err ("cannot open
 * P: ...", "cannot read P: ..." for a directory, "P: program is larger than 64 MiB" for
 * /dev/zero, "P contains NUL bytes (is it a binary file?)"). bpc and the REPL's :load. */
char *bpc_read_program(const char *path, char *err, size_t errlen);
/* The whole file at path into *text (malloc'd, a NUL after its *len bytes): 0; -1 with
 * "cannot open P: ..." or "cannot read P: ..." in err; -2 (nothing in err) past max bytes. */
int bpc_read_file(const char *path, size_t max, char **text, size_t *len, char *err, size_t errlen);
/* The same from a parsed program (the REPL builds its programs from statements typed one at
 * a time); default_model names the model when the program has no `model` statement. */
Graph *bpc_compile_program(Arena *a, Diag *d, const Program *prog, const char *default_model, const CompileOptions *o);

typedef size_t (*EntryWs)(const int *dims);
typedef size_t (*EntryOptSize)(void);
typedef void (*EntryInit)(void *params, uint64_t seed);
typedef void (*EntryForward)(const void *params, const void *const *in, void *const *out, const int *dims, void *ws);
typedef double (*EntryLoss)(const void *params, const void *const *in, const int *dims, void *ws);
typedef double (*EntryGrad)(const void *params, void *grad, const void *const *in, const int *dims, void *ws);
typedef double (*EntryGradSeeded)(const void *params, void *grad, const void *const *in, const int *dims,
                                  uint64_t dropout_seed, void *ws);
typedef double (*EntryHvp)(const void *params, const void *v, void *hv, const void *const *in, const int *dims, void *ws);
typedef double (*EntryStep)(void *params, void *opt, const void *const *in, const int *dims, double lr, void *ws);
/* NAME_update: 0, or -1 (nothing changed) if grad is not finite */
typedef int (*EntryUpdate)(void *params, void *opt, const void *grad, double lr);

typedef struct Model {
    Graph *g;
    Jit *jit;
    int f64;
    size_t real_size;
    EntryWs ws_size;
    EntryOptSize opt_size;
    EntryInit init;
    EntryForward forward; /* NULL without outputs */
    EntryLoss loss;       /* NULL without a loss; dropout with seed 0 (training mode) */
    EntryLoss loss_eval;  /* the loss at inference: every dropout the identity (test losses) */
    EntryGrad grad;       /* dropout with seed 0, as loss */
    EntryGradSeeded grad_seeded; /* the masks from a seed (data-parallel steps) */
    EntryHvp hvp;         /* NULL unless compiled with CompileOptions.hvp */
    EntryStep train_step;
    EntryUpdate update;   /* the optimizer alone (after summing gradients across ranks) */
    uint64_t code_hash;   /* of the generated C: ranks check that they compiled the same */
} Model;

/* Emits and JIT-compiles g. Returns 0, or -1 with a message in err. */
int bpc_model_jit(Model *m, Graph *g, int f64, JitKind kind, char *err, size_t errlen);
void bpc_model_free(Model *m);
/* The emitted C of g as a malloc'd string. */
char *bpc_emit_string(Graph *g, const EmitOptions *o, int header);

/* The most bytes a workspace may take: BPC_MEMORY_LIMIT (a byte count above 0) when it is
 * set, else the bytes of memory this machine has (SIZE_MAX when unknown). Larger workspaces
 * are refused with the bytes they wanted and the limit, named: *from_env says which. */
size_t bpc_memory_limit(int *from_env);
/* Whether a buffer of `bytes` may be allocated now: 1; else 0 with `over` naming the limit
 * it passes and that limit's bytes: BPC_MEMORY_LIMIT when it is set; else the first of this
 * machine's memory, the memory free on it (15/16 of /proc/meminfo's MemAvailable, read
 * now: buffers already allocated and touched count), the memory the process's cgroup
 * leaves (15/16 of the least limit less use, plus file pages (its cache), of its cgroup and
 * those above it, v1 or v2). The run-time checks of workspaces, parameters, inputs and
 * buffers; a bound the machine's state cannot make, not the compile-time check. */
int bpc_memory_fits(double bytes, char *over, size_t len);
/* MemAvailable of a /proc/meminfo (NULL: the machine's) in bytes, -1 if unknown. */
double bpc_meminfo_available(const char *meminfo);
/* The bytes the memory cgroups of a process (as proc_cgroup lists them; NULL:
 * /proc/self/cgroup, mounted at root, NULL: /sys/fs/cgroup) leave it: the least of each
 * cgroup's limit less its use, plus its file pages (inactive and active), from its own up to the top;
 * -1 when none has a limit or none is found. */
double bpc_cgroup_room(const char *proc_cgroup, const char *root);

#endif
