/* repl.c — `bpc repl [FILE.bp]`: the interactive session.
 *
 * The session is a program built one input at a time. Each input chunk (one line, or
 * several while brackets or a `def {` are open) is registered with the diagnostics under
 * "<repl>", padded so that its locations carry the session's running line number, and
 * parsed. Its statements make a candidate program: the session's entries with every
 * definition of the same name (or the same `loss`, `optimizer`, `model`, `output`,
 * `clip_grad_norm`) replaced in place and the new ones appended, ordered so that each name
 * is defined before it is used. The whole candidate is compiled (sema, reverse mode,
 * passes); only if that succeeds does it become the session's program. A failed input
 * changes nothing. Bare expressions are compiled with the current program as outputs
 * named "_", JIT-compiled and run once with the current parameters and inputs; they are
 * not kept.
 *
 * Invariants: the entries always compile (S->g is their graph); parameter values live
 * in the session by name as doubles, so that they survive recompilation: a parameter whose
 * name and shape are unchanged keeps its value, a new one (or one declared again) takes the
 * program's initialiser (the model's init with the session's seed), synchronised lazily
 * when a value is next needed. Fixed inputs come from `:inputs FILE` (checked against the
 * program as bpc grad --inputs checks it) or the inputs' defaults.
 *
 * Training is one trajectory, as a PyTorch optimizer and data loader kept between calls:
 * the session owns one optimizer state (as doubles, so that :step in the session's
 * precision and :train in float or --f64 share it) and one position in the data (epoch,
 * step in it, steps done, seed: a checkpoint's __bpc.progress), which :step and :train use
 * and advance (--steps N: N more). Other data (another --data, --batch or --seed, or fixed
 * inputs after --data) restarts the position and keeps the optimizer state; another kind of
 * optimizer (the program's, or --opt) starts a fresh one; parameters that change (names,
 * shapes, order) or are declared again start both afresh. :save writes them with the
 * parameters as bpc train --save does once they are in use, :restore reads them back (a
 * file of parameters alone: a fresh optimizer), :reset drops them.
 *
 * Values are computed in double (--f32: float) and printed as the
 * nearest float prints (--f64: in full), so 0.5 - 0.1 * 12 shows as -0.7; :train and :eval
 * run in float as bpc train does (--f64 there too).
 *
 * On a terminal: libedit's readline (history in $BPC_HISTORY or ~/.bpc_history, tab
 * completion of names, built-ins and commands); Ctrl-C clears the line, drops an input
 * being compiled (at the end of the compiler's stage), or stops :step and :train at the end
 * of the current step (:train skips the test set); Ctrl-D leaves (at the ..> prompt: ends the
 * unfinished statement, which is reported, and the session goes on). Otherwise lines are
 * read plainly, with no prompts, and the exit status is 1 if any line failed.
 *
 * Left out: undoing a definition, and removing one (a name can only be redefined). */
#include "repl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include <editline/readline.h>

#include "compile.h"
#include "driver.h"
#include "ints.h"
#include "nametab.h"
#include "sema.h"
#include "train.h"

#ifndef BPC_VERSION
#define BPC_VERSION "0"
#endif

/* A parameter's value, kept across recompilations. */
typedef struct ParamVal {
    char *name;
    Shape shape; /* constant */
    int64_t n;
    double *v;
} ParamVal;

/* A fixed input (from :inputs FILE). */
typedef struct InputVal {
    char *name;
    BprtDtype dtype; /* the file's: a float tensor is not the values of an input made ': int' since */
    int rank;
    int64_t shape[BP_MAXRANK];
    int64_t n;
    double *v;
} InputVal;

typedef struct Session {
    Diag d;
    Arena **arenas;        /* the ASTs of the inputs whose statements are entries */
    int narenas, arenas_cap;
    Stmt **entries;        /* the program, in order */
    int *entry_arena;      /* entries[i] is in arenas[entry_arena[i]] */
    int nentries;
    const char *model;     /* default model name ("repl", or the stem of the first file loaded) */
    Arena *garena;         /* holds g */
    Graph *g;              /* the entries compiled (with gradients); NULL while there are none */
    Model m;               /* g JIT-compiled, when have_model */
    int have_model;
    TrainState train;      /* the one optimizer state and position :step and :train go on with */
    char *train_data;      /* the data the position is in (a key: see data_key); NULL: the next
                              run's, the position being fresh or read from a checkpoint */
    int inputs_gen;        /* counts :inputs FILE, so that reading a file again is new data */
    ParamVal *params;
    int nparams;
    InputVal *inputs;
    int ninputs;
    char *inputs_path;
    int f64;               /* models compute in double (the default; --f32: float) */
    int show_f64;          /* print doubles in full (--f64); else as the nearest float prints */
    uint64_t seed;
    JitKind jit;
    int line;              /* lines read so far */
    int tty;
    int quit;
    int py_block;          /* the last input was a Python block's header (reported): its indented
                              lines, and else/elif, are skipped unsaid, as in a file */
    int read_failed;       /* standard input could not be read (not its end): the exit status is 1 */
    int out_errno;         /* why standard output first failed (its writes are per line), or 0 */
} Session;

static volatile int interrupted; /* set by SIGINT; :step and :train stop at the end of a step */

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* A Ctrl-C came while an input was compiled (the compiler stops at the end of a stage, a
 * JIT compilation at its end): the input is dropped, as a failed one is, and this says so
 * (what: "the input is not entered"); returns whether it came. */
static int compile_interrupted(const char *what) {
    if (!interrupted) return 0;
    printf("interrupted: %s\n", what);
    return 1;
}

/* A JIT compilation that failed: an error, or a Ctrl-C that stopped it (the cc JIT's
 * compiler killed by it, jit.c), said as any interrupted compilation. */
static void say_jit_failed(const char *err) {
    if (!compile_interrupted("nothing is computed")) diag_tool_error("JIT compilation failed:\n%s", err);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) abort();
    return p;
}

static char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

static void set_real(int f64, void *vec, int64_t i, double v) {
    if (f64) ((double *)vec)[i] = v;
    else ((float *)vec)[i] = (float)v;
}

static double get_real(int f64, const void *vec, int64_t i) {
    return f64 ? ((const double *)vec)[i] : (double)((const float *)vec)[i];
}

/* ---- the session's state ------------------------------------------------------------- */

static void drop_model(Session *S) {
    if (S->have_model) bpc_model_free(&S->m);
    S->have_model = 0;
}

/* ---- the training state ----------------------------------------------------------------- */

/* The training state is in use: an optimizer state, or a position past the start. */
static int training_used(const Session *S) {
    const int64_t *p = S->train.progress;
    return S->train.opt || p[0] != 1 || p[1] || p[2];
}

/* The position at the start of the data (epoch 1, step 0, no steps), in the order of seed. */
static void restart_position(Session *S, uint64_t seed) {
    S->train.progress[0] = 1;
    S->train.progress[1] = S->train.progress[2] = 0;
    S->train.progress[3] = (int64_t)seed;
    free(S->train.from);
    S->train.from = NULL;
    free(S->train_data);
    S->train_data = NULL;
}

/* A fresh optimizer at the start of the data; `why` (if the state was in use) is said. */
static void reset_training(Session *S, const char *why) {
    if (why && training_used(S)) printf("note: %s, so the optimizer state and the position in the data start afresh\n", why);
    free(S->train.opt);
    S->train.opt = NULL;
    restart_position(S, S->seed);
}

static OptKind opt_kind(const OptConfig *o) { return ir_opt_trained(o).kind; }

static const char *opt_name(OptKind k) { return k == OPT_ADAM ? "adam" : k == OPT_ADAMW ? "adamw" : "sgd"; }

/* Whether an optimizer state of `kind` keeping `moments` vectors is one optimizer o keeps. */
static int state_fits(OptKind kind, int moments, const OptConfig *o) {
    return kind == opt_kind(o) && moments == ir_opt_moments(o);
}

/* A note on the training state: printed now (notes NULL), or added to notes (size bytes),
 * to be said once the run starts (:train: by train_run, its data loaded; :step: after its
 * first step), since a run that fails before its first step puts the state back
 * (TrainSnapshot). */
static void state_note(char *notes, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void state_note(char *notes, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!notes) vprintf(fmt, ap);
    else {
        size_t n = strlen(notes);
        if (n < size) vsnprintf(notes + n, size - n, fmt, ap);
    }
    va_end(ap);
}

/* Fits the optimizer state to optimizer `opt`: a state of another optimizer (another kind,
 * or other moments: SGD's momentum becoming 0 or not) is dropped for a fresh one, with a
 * note (state_note). Other hyperparameters (the learning rate, betas) keep it, as they do
 * in a PyTorch optimizer's param_groups. */
static void fit_optimizer(Session *S, const OptConfig *opt, char *notes, size_t size) {
    TrainState *t = &S->train;
    if (t->opt && !state_fits(t->kind, t->moments, opt)) {
        state_note(notes, size, "note: the optimizer is %s%s now, so its state starts afresh (the one kept was %s%s's)\n",
                   opt_name(opt_kind(opt)), ir_opt_moments(opt) == 1 ? " with momentum" : "", opt_name(t->kind),
                   t->moments == 1 ? " with momentum" : "");
        free(t->opt);
        t->opt = NULL;
    }
}

/* Fits the training state to a run of optimizer `opt` (fit_optimizer) on the data `key`
 * (what: the same in words) in the data order of `seed`: other data than the position's,
 * or a seed given (seed_given) other than its own, restarts the position at epoch 1, step
 * 0, keeping the optimizer state (a note says so if the position was past the start). The
 * notes are added to notes (size bytes), for the caller to say once the run starts. */
static void fit_training(Session *S, const OptConfig *opt, const char *key, const char *what, int seed_given,
                         uint64_t seed, char *notes, size_t size) {
    TrainState *t = &S->train;
    notes[0] = 0;
    fit_optimizer(S, opt, notes, size);
    int other_data = S->train_data && strcmp(S->train_data, key) != 0;
    if (other_data || (seed_given && (int64_t)seed != t->progress[3])) {
        if (t->progress[0] != 1 || t->progress[2]) {
            if (other_data)
                state_note(notes, size, "note: other data than before (%s): from its epoch 1, step 1, with the optimizer "
                           "state kept\n", what);
            else
                state_note(notes, size, "note: --seed %llu orders the data otherwise: from epoch 1, step 1, with the "
                           "optimizer state kept\n", (unsigned long long)seed);
        }
        restart_position(S, seed_given ? seed : S->seed);
    }
    if (!S->train_data) S->train_data = xstrdup(key);
}

/* The training state as it was before a run, put back if the run fails before its first
 * step (a mistyped --data must not lose the position). */
typedef struct TrainSnapshot {
    TrainState t;
    char *data;
    size_t nopt;
} TrainSnapshot;

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

/* 0, or -1 with the error said when the optimizer state's copy cannot be allocated (nothing
 * to free then). */
static int snapshot_take(const Session *S, TrainSnapshot *k) {
    char err[BPRT_ERRLEN];
    k->t = S->train;
    k->nopt = S->train.opt ? (size_t)(1 + S->train.moments * S->g->nparam_reals) : 0;
    k->t.opt = k->nopt ? drv_alloc_reals(k->nopt, sizeof(double), "copy of the optimizer's state", err) : NULL;
    if (k->nopt && !k->t.opt) {
        diag_tool_error("%s", err);
        return -1;
    }
    if (k->nopt) memcpy(k->t.opt, S->train.opt, k->nopt * sizeof(double));
    k->t.from = dup_or_null(S->train.from);
    k->data = dup_or_null(S->train_data);
    return 0;
}

/* Puts the snapshot back if no step was taken since `done` steps (and `failed`), else
 * drops it. */
static void snapshot_end(Session *S, TrainSnapshot *k, int failed, int64_t done) {
    if (failed && S->train.progress[2] == done) {
        TrainSnapshot now = {S->train, S->train_data, 0};
        S->train = k->t;
        S->train_data = k->data;
        *k = now;
    }
    free(k->t.opt);
    free(k->t.from);
    free(k->data);
}

/* The data a run trains on, as a key (equal for the same data) and in words: --data PATH
 * at a batch, a file of fixed inputs (the session's, from :inputs: each reading is new
 * data), or the inputs' defaults. */
static void data_key(const Session *S, const char *data, int batch, const char *inputs, char *key, char *what, size_t size) {
    if (data) {
        char *real = realpath(data, NULL);
        snprintf(key, size, "--data %s --batch %d", real ? real : data, batch);
        snprintf(what, size, "--data %s --batch %d", data, batch);
        free(real);
    } else if (inputs && inputs == S->inputs_path) {
        snprintf(key, size, ":inputs %d %s", S->inputs_gen, inputs);
        snprintf(what, size, "the inputs from %s", inputs);
    } else if (inputs) {
        snprintf(key, size, "--inputs %s", inputs);
        snprintf(what, size, "--inputs %s", inputs);
    } else {
        snprintf(key, size, "defaults");
        snprintf(what, size, "the inputs' defaults");
    }
}

/* The file of the session's fixed inputs (:inputs FILE, even one holding no tensors), or
 * NULL: the inputs take their defaults. :step and :train's data key when neither --data
 * nor --inputs is given. */
static const char *session_inputs(const Session *S) { return S->inputs_path; }

/* The position in words: "7 steps done", and the next step's place in the data. */
static void position_words(const int64_t *p, char *buf, size_t size) {
    int n = snprintf(buf, size, "%lld step%s done", (long long)p[2], p[2] == 1 ? "" : "s");
    if ((p[0] != 1 || p[1]) && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", next epoch %lld, step %lld", (long long)p[0], (long long)p[1] + 1);
}

static void free_inputs(Session *S) {
    for (int i = 0; i < S->ninputs; i++) {
        free(S->inputs[i].name);
        free(S->inputs[i].v);
    }
    free(S->inputs);
    S->inputs = NULL;
    S->ninputs = 0;
    free(S->inputs_path);
    S->inputs_path = NULL;
}

static void forget_param(Session *S, const char *name) {
    for (int i = 0; i < S->nparams; i++)
        if (strcmp(S->params[i].name, name) == 0) {
            free(S->params[i].name);
            free(S->params[i].v);
            S->params[i] = S->params[--S->nparams];
            return;
        }
}

static ParamVal *find_param(Session *S, const char *name) {
    for (int i = 0; i < S->nparams; i++)
        if (strcmp(S->params[i].name, name) == 0) return &S->params[i];
    return NULL;
}

static void session_free(Session *S) {
    drop_model(S);
    reset_training(S, NULL);
    while (S->nparams) forget_param(S, S->params[0].name);
    free(S->params);
    free_inputs(S);
    arena_free(S->garena);
    for (int i = 0; i < S->narenas; i++) arena_free(S->arenas[i]);
    free(S->arenas);
    free(S->entries);
    free(S->entry_arena);
    diag_free(&S->d);
}

static void session_init(Session *S, int f64, uint64_t seed, JitKind jit, int tty, int line) {
    memset(S, 0, sizeof *S);
    diag_init(&S->d, stderr);
    S->model = "repl";
    S->f64 = f64;
    S->seed = seed;
    S->jit = jit;
    S->tty = tty;
    S->line = line;
    restart_position(S, seed);
}

/* JIT-compiles the session's program if it changed, and gives every parameter a value:
 * the one it had (same name and shape), or its initialiser's. A Ctrl-C during the JIT
 * compilation (seconds for a large program) keeps the model and fails the command that
 * needed it (compile_interrupted). */
static int ensure_model(Session *S) {
    if (!S->g || S->have_model) return 0;
    Graph *g = S->g;
    if (g->loss >= 0) g->opt = ir_opt_trained(&g->opt); /* as bpc train */
    char err[BPRT_ERRLEN];
    if (bpc_model_jit(&S->m, g, S->f64, S->jit, err, sizeof err) != 0) {
        say_jit_failed(err);
        return -1;
    }
    S->have_model = 1;
    void *init = NULL;
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        ParamVal *pv = find_param(S, pa->name);
        if (pv && shape_eq(&pv->shape, &pa->shape)) continue;
        /* the values, then the parameter: one that cannot be allocated is an error, and the
           model is made again at the next command (the parameters allocated are kept) */
        char what[300];
        snprintf(what, sizeof what, "parameter '%.200s' (%lld doubles)", pa->name, (long long)pa->numel);
        if (!init && (init = drv_alloc_reals((size_t)g->nparam_reals + 1, S->m.real_size, "initial parameters", err)))
            S->m.init(init, S->seed);
        double *v = init ? drv_alloc_reals((size_t)pa->numel, sizeof(double), what, err) : NULL;
        if (!v) {
            diag_tool_error("%s", err);
            free(init);
            drop_model(S);
            return -1;
        }
        if (!pv) {
            S->params = realloc(S->params, (size_t)(S->nparams + 1) * sizeof *S->params);
            if (!S->params) abort();
            pv = &S->params[S->nparams++];
            pv->name = xstrdup(pa->name);
            pv->v = NULL;
        }
        free(pv->v);
        pv->shape = pa->shape;
        pv->n = pa->numel;
        pv->v = v;
        for (int64_t i = 0; i < pa->numel; i++) pv->v[i] = get_real(S->f64, init, pa->offset + i);
    }
    free(init);
    return compile_interrupted("nothing is computed") ? -1 : 0;
}

/* The parameter vector of g (in g's layout and real type) from the session's values, or
 * NULL with the error said when it cannot be allocated. */
static void *params_to_vec(Session *S, const Graph *g, int f64) {
    char err[BPRT_ERRLEN];
    void *vec = drv_alloc_reals((size_t)g->nparam_reals + 1, f64 ? sizeof(double) : sizeof(float), "parameters", err);
    if (!vec) {
        diag_tool_error("%s", err);
        return NULL;
    }
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        ParamVal *pv = find_param(S, pa->name);
        if (!pv || pv->n != pa->numel) continue;
        for (int64_t i = 0; i < pa->numel; i++) set_real(f64, vec, pa->offset + i, pv->v[i]);
    }
    return vec;
}

static void vec_to_params(Session *S, const Graph *g, int f64, const void *vec) {
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        ParamVal *pv = find_param(S, pa->name);
        if (!pv || pv->n != pa->numel) continue;
        for (int64_t i = 0; i < pa->numel; i++) pv->v[i] = get_real(f64, vec, pa->offset + i);
    }
}

/* Whether n values of size bytes each are more than the machine's memory (or
 * BPC_MEMORY_LIMIT), as drv_workspace refuses a workspace: then err says so, naming what
 * (a format). Allocating them aborted the REPL. */
static int too_big(int64_t n, size_t size, char *err, const char *what, ...) __attribute__((format(printf, 4, 5)));
static int too_big(int64_t n, size_t size, char *err, const char *what, ...) {
    char over[128];
    if (n >= 0 && (uint64_t)n <= SIZE_MAX / size && bpc_memory_fits((double)n * (double)size, over, sizeof over))
        return 0;
    if (n < 0 || (uint64_t)n > SIZE_MAX / size) bpc_memory_fits(0x1p64, over, sizeof over);
    char name[300];
    va_list ap;
    va_start(ap, what);
    vsnprintf(name, sizeof name, what, ap);
    va_end(ap);
    snprintf(err, BPRT_ERRLEN, "%s needs %.0f bytes, more than %s", name, (double)n * (double)size, over);
    return 1;
}

/* Inputs for g: the fixed ones (:inputs) or the defaults. need[i] == 0: input i is not
 * used (need may be NULL: all are), so it gets no values (NULL: the function called never
 * reads it) and a size that only such inputs have is 1 (as bpc grad: an input that only an
 * output reads blocked :step). Binds the symbolic sizes. Returns 0, or -1 with err (-2: an
 * input larger than the memory; -3: values that the program as it is now cannot take, as
 * bpc grad --inputs refuses them: a float tensor for an input made ': int' since :inputs
 * read it, or a label outside the classes, read or a default; they were cast or gave a NaN
 * loss). */
static int build_inputs(Session *S, const Graph *g, int f64, const int *need, const int *syms, Inputs *in,
                        char *err) {
    memset(in, 0, sizeof *in);
    for (int s = 0; s < BP_MAXSYMS; s++) in->dims[s] = -1;
    BP_ASSERT(g->ninputs <= BP_MAX_RUN_INPUTS); /* refused first: drv_check_run_inputs */
    const InputVal *given[BP_MAX_RUN_INPUTS] = {0};
    char s1[160];
    for (int i = 0; i < g->ninputs; i++) {
        const Input *ip = &g->inputs[i];
        for (int k = 0; k < S->ninputs; k++)
            if (strcmp(S->inputs[k].name, ip->name) == 0) given[i] = &S->inputs[k];
        const InputVal *iv = given[i];
        if (!iv || (need && !need[i])) continue;
        int ok = iv->rank == ip->shape.rank;
        for (int k = 0; ok && k < iv->rank; k++) {
            Dim d = ip->shape.d[k];
            if (d.sym < 0) ok = iv->shape[k] == d.c;
            else if (iv->shape[k] <= 0 || iv->shape[k] % d.c || iv->shape[k] / d.c > 0x7fffffff) ok = 0;
            else {
                int v = (int)(iv->shape[k] / d.c);
                if (in->dims[d.sym] >= 0 && in->dims[d.sym] != v) {
                    snprintf(err, BPRT_ERRLEN, "input '%s' gives %s = %d, but another input gave %d", ip->name,
                             g->syms.names[d.sym], v, in->dims[d.sym]);
                    return -1;
                }
                in->dims[d.sym] = v;
            }
        }
        if (!ok) {
            size_t len = (size_t)snprintf(s1, sizeof s1, "[");
            for (int k = 0; k < iv->rank && len < sizeof s1; k++)
                len += (size_t)snprintf(s1 + len, sizeof s1 - len, "%s%lld", k ? ", " : "", (long long)iv->shape[k]);
            if (len < sizeof s1) snprintf(s1 + len, sizeof s1 - len, "]");
            char s2[160];
            snprintf(err, BPRT_ERRLEN, "input '%s' is given with shape %s, the program declares %s", ip->name, s1,
                     shape_str(&ip->shape, &g->syms, s2, sizeof s2));
            return -1;
        }
        if (drv_check_input_dtype(ip, iv->dtype, S->inputs_path, err) != 0) return -3;
    }
    /* then the sizes of the given inputs not in use, where they fit and no input in use gave
       them, as bpc grad takes every given input's: `x ^ 0` is ones of x's shape and reads no
       input, and was [1, 2] for an x of [3, 2] (its sum 2, not 6, in :print and :grad) */
    for (int i = 0; need && i < g->ninputs; i++) {
        const Input *ip = &g->inputs[i];
        const InputVal *iv = given[i];
        if (!iv || need[i] || iv->rank != ip->shape.rank) continue;
        int dims[BP_MAXSYMS], ok = 1;
        memcpy(dims, in->dims, sizeof dims);
        for (int k = 0; ok && k < iv->rank; k++) {
            Dim d = ip->shape.d[k];
            if (d.sym < 0) ok = iv->shape[k] == d.c;
            else if (iv->shape[k] <= 0 || iv->shape[k] % d.c || iv->shape[k] / d.c > 0x7fffffff) ok = 0;
            else if (dims[d.sym] < 0) dims[d.sym] = (int)(iv->shape[k] / d.c);
            else ok = dims[d.sym] == iv->shape[k] / d.c;
        }
        if (ok) memcpy(in->dims, dims, sizeof dims);
    }
    /* every input in use has a value first, before any value is checked: :check draws random
       inputs when one has none, as bpc check does, whatever the order of the declarations (a
       default label outside the classes declared before such an input stopped it) */
    for (int i = 0; i < g->ninputs; i++) {
        const Input *ip = &g->inputs[i];
        if (need && !need[i]) continue;
        for (int k = 0; k < ip->shape.rank; k++) {
            Dim d = ip->shape.d[k];
            if (d.sym >= 0 && in->dims[d.sym] < 0) {
                snprintf(err, BPRT_ERRLEN, "input '%s' has no value, so its size %s is unknown (give inputs with :inputs FILE)",
                         ip->name, g->syms.names[d.sym]);
                drv_free_inputs(in);
                return -1;
            }
        }
        if (!given[i] && !ip->has_default) {
            snprintf(err, BPRT_ERRLEN, "input '%s' has no value and no default (give one with 'input %s = VALUE' or :inputs FILE)",
                     ip->name, ip->name);
            drv_free_inputs(in);
            return -1;
        }
    }
    for (int i = 0; i < g->ninputs; i++) { /* (each with its sizes and a value or default: above) */
        const Input *ip = &g->inputs[i];
        if (need && !need[i]) continue;
        /* (saturating: a default's [N, N, N, N, N] at N = 8192 from :inputs wrapped to 0 elements,
           and the model read past its one) */
        char sizes[160];
        const size_t count = drv_numel_at(&ip->shape, in->dims, "values", sizes, sizeof sizes);
        if (count > (size_t)INT64_MAX) {
            snprintf(err, BPRT_ERRLEN, "cannot hold the input '%s' (%s): more than 2^63 elements", ip->name, sizes);
            drv_free_inputs(in);
            return -2;
        }
        const int64_t n = (int64_t)count;
        size_t esz = ip->dtype == DT_INT ? sizeof(int32_t) : (f64 ? sizeof(double) : sizeof(float));
        if (too_big(n, esz, err, "input '%s'", ip->name)) {
            drv_free_inputs(in);
            return -2;
        }
        char what[300];
        snprintf(what, sizeof what, "input '%.200s' (%lld values)", ip->name, (long long)n);
        if (!(in->data[i] = drv_alloc_reals((size_t)n, esz, what, err))) {
            drv_free_inputs(in);
            return -2;
        }
        in->count[i] = (size_t)n;
        const char *indexes = NULL; /* what the values index: "classes of the loss", ... */
        const int64_t classes = ip->dtype == DT_INT ? drv_label_classes(g, i, &indexes) : 0;
        for (int64_t k = 0; k < n; k++) {
            double v = given[i] ? given[i]->v[k] : ip->def;
            if (ip->dtype == DT_INT) {
                if (drv_check_int_value(ip, classes, indexes, given[i] && S->inputs_path ? S->inputs_path : "(defaults)", k, v,
                                        err) != 0) {
                    drv_free_inputs(in);
                    return -3;
                }
                ((int32_t *)in->data[i])[k] = (int32_t)v;
            } else set_real(f64, in->data[i], k, v);
        }
    }
    /* last, so that a size an input in use needs is never taken from these */
    for (int i = 0; i < g->ninputs && need; i++)
        for (int k = 0; k < g->inputs[i].shape.rank && !need[i]; k++)
            if (g->inputs[i].shape.d[k].sym >= 0 && in->dims[g->inputs[i].shape.d[k].sym] < 0) {
                const int sym = g->inputs[i].shape.d[k].sym;
                if (syms && syms[sym]) { /* the value needs it (x ^ 0, B itself): it was 1 */
                    snprintf(err, BPRT_ERRLEN, "input '%s' has no value, so its size %s is unknown (give inputs with :inputs FILE)",
                             g->inputs[i].name, g->syms.names[sym]);
                    drv_free_inputs(in);
                    return -1;
                }
                in->dims[sym] = 1;
            }
    return 0;
}

/* ---- building programs ----------------------------------------------------------------- */

/* What a statement defines: a name, or one of the program's single statements. NULL for
 * statements that define nothing (bare expressions). */
static const char *stmt_key(const Stmt *st) {
    switch (st->kind) {
    case ST_INPUT:
    case ST_PARAM:
    case ST_BIND:
    case ST_DEF: return st->name;
    case ST_MODEL: return ":model";
    case ST_LOSS: return ":loss";
    case ST_OUTPUT: return ":output";
    case ST_OPTIMIZER: return ":optimizer";
    case ST_CLIP: return ":clip";
    case ST_RETURN:
    case ST_EXPR: return NULL;
    }
    return NULL;
}

typedef struct Names {
    const char **v;
    int n, cap;
} Names;

static int names_has(const Names *ns, const char *s) {
    for (int i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i], s) == 0) return 1;
    return 0;
}

static void names_add(Names *ns, const char *s) {
    if (names_has(ns, s)) return;
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? 2 * ns->cap : 8;
        ns->v = realloc(ns->v, (size_t)ns->cap * sizeof *ns->v);
        if (!ns->v) abort();
    }
    ns->v[ns->n++] = s;
}

/* The names an expression reads (excluding `local`: a def's parameters and bindings). */
static void expr_refs(const Expr *e, Names *out, const Names *local) {
    if (!e) return;
    switch (e->kind) {
    case EX_NUM: return;
    case EX_NAME:
    case EX_CALL:
        if (!local || !names_has(local, e->name)) names_add(out, e->name);
        for (int i = 0; i < e->nargs; i++) expr_refs(e->args[i].value, out, local);
        return;
    case EX_BINARY:
        expr_refs(e->lhs, out, local);
        expr_refs(e->rhs, out, local);
        return;
    case EX_NEG:
    case EX_TRANSPOSE: expr_refs(e->lhs, out, local); return;
    case EX_LIST:
        for (int i = 0; i < e->nitems; i++) expr_refs(e->items[i], out, local);
        return;
    }
}

static void stmt_refs(const Stmt *st, Names *out) {
    if (st->kind == ST_DEF) {
        Names local = {0};
        for (int i = 0; i < st->nparams; i++) names_add(&local, st->params[i]);
        for (int i = 0; i < st->nbody; i++) {
            expr_refs(st->body[i]->value, out, &local);
            if (st->body[i]->name) names_add(&local, st->body[i]->name);
        }
        expr_refs(st->value, out, &local);
        free(local.v);
        return;
    }
    if (st->kind == ST_PARAM) return; /* initialisers name no program values */
    expr_refs(st->value, out, NULL);
    for (int i = 0; i < st->nnames; i++) names_add(out, st->names[i]);
}

/* The statements of a list by key (stmt_key), so that the statement defining a name is
 * found without a search of the list: a session of 20000 statements searched the list for
 * each name each statement reads, and each expression typed took seconds. `first` holds
 * the first statement (in list order) with each key, next[i] the next one with st[i]'s. */
typedef struct KeyIndex {
    NameTab first;
    int *next; /* per statement: the next with its key, or -1 */
} KeyIndex;

/* The index of st[0..n) by key (the names, or also the ':'-keys of loss, model, ... if
 * colon_keys), in a's memory. */
static void key_index(Arena *a, KeyIndex *ix, Stmt *const *st, int n, int colon_keys) {
    memset(&ix->first, 0, sizeof ix->first);
    ix->next = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *ix->next);
    for (int i = n - 1; i >= 0; i--) { /* from the end: each goes before those after it */
        const char *k = stmt_key(st[i]);
        if (!k || (!colon_keys && k[0] == ':')) continue;
        int *head = nametab_ref(a, &ix->first, k, -1);
        ix->next[i] = *head;
        *head = i;
    }
}

/* The first statement (in list order) whose key is `key`, other than `skip` and those
 * marked in `taken` (if set); -1 if none. */
static int key_find(const KeyIndex *ix, const char *key, int skip, const int *taken) {
    for (int i = nametab_get(&ix->first, key, -1); i >= 0; i = ix->next[i])
        if (i != skip && !(taken && taken[i])) return i;
    return -1;
}

/* Reorders p's statements so that each name is defined before it is read, keeping the
 * given order where it already is (declaration order sets parameter offsets and the order
 * of symbolic sizes): each time, the first statement whose names are all defined. A cycle
 * keeps the rest in order (the first of it goes next); sema reports it. */
static void order_program(Arena *a, Program *p) {
    int n = p->nstmts;
    if (n < 2) return;
    KeyIndex ix;
    key_index(a, &ix, p->stmts, n, 0);
    /* users[j] (users[start[j]..start[j + 1])): the statements reading j's name, once for
       each name read; waiting[i]: the statements i reads that are not placed yet */
    int *waiting = xcalloc((size_t)n, sizeof *waiting), *start = xcalloc((size_t)n + 1, sizeof *start);
    int *dep = NULL, *from = NULL, nedges = 0, cap = 0;
    for (int i = 0; i < n; i++) {
        Names refs = {0};
        stmt_refs(p->stmts[i], &refs);
        for (int r = 0; r < refs.n; r++) {
            int j = key_find(&ix, refs.v[r], i, NULL);
            if (j < 0) continue;
            if (nedges == cap) {
                cap = cap ? 2 * cap : 64;
                dep = realloc(dep, (size_t)cap * sizeof *dep);
                from = realloc(from, (size_t)cap * sizeof *from);
                if (!dep || !from) abort();
            }
            dep[nedges] = j;
            from[nedges++] = i;
            waiting[i]++;
            start[j + 1]++;
        }
        free(refs.v);
    }
    for (int j = 0; j < n; j++) start[j + 1] += start[j];
    int *users = xcalloc((size_t)nedges + 1, sizeof *users), *fill = xcalloc((size_t)n, sizeof *fill);
    for (int e = 0; e < nedges; e++) users[start[dep[e]] + fill[dep[e]]++] = from[e];
    Ints ready = {0}; /* the statements ready to go, least place first (a min-heap) */
    for (int i = 0; i < n; i++)
        if (!waiting[i]) ints_heap_push(&ready, i);
    Stmt **out = xcalloc((size_t)n, sizeof *out);
    int *done = xcalloc((size_t)n, sizeof *done), first = 0;
    for (int k = 0; k < n; k++) {
        int pick;
        if (ready.n) pick = ints_heap_pop(&ready);
        else { /* a cycle: the first statement not placed */
            while (done[first]) first++;
            pick = first;
        }
        done[pick] = 1;
        out[k] = p->stmts[pick];
        for (int u = start[pick]; u < start[pick + 1]; u++)
            if (--waiting[users[u]] == 0 && !done[users[u]]) ints_heap_push(&ready, users[u]);
    }
    memcpy(p->stmts, out, (size_t)n * sizeof *out);
    free(waiting);
    free(start);
    free(dep);
    free(from);
    free(users);
    free(fill);
    free(ready.v);
    free(out);
    free(done);
}

enum { DROP_OUTPUT = 1, DROP_LOSS = 2 };

/* The session's entries with `add` replacing the entries that define the same names (in
 * place) and the rest of `add` appended, in an order sema accepts. */
static Program *candidate(Session *S, Arena *a, Stmt *const *add, int nadd, int drop) {
    Program *p = arena_alloc(a, sizeof *p);
    int *used = xcalloc((size_t)nadd, sizeof *used);
    KeyIndex ix;
    key_index(a, &ix, add, nadd, 1);
    for (int i = 0; i < S->nentries; i++) {
        Stmt *st = S->entries[i];
        const char *k = stmt_key(st);
        int j = k ? key_find(&ix, k, -1, used) : -1;
        if (j >= 0) {
            used[j] = 1;
            st = add[j];
        }
        if ((drop & DROP_OUTPUT) && st->kind == ST_OUTPUT) continue;
        if ((drop & DROP_LOSS) && st->kind == ST_LOSS) continue;
        ARENA_PUSH(a, p->stmts, p->nstmts, p->cap, st);
    }
    for (int j = 0; j < nadd; j++)
        if (!used[j]) ARENA_PUSH(a, p->stmts, p->nstmts, p->cap, add[j]);
    free(used);
    order_program(a, p);
    return p;
}

/* Registers a chunk of text under `name`, its first line numbered `line`; returns the
 * source stored (parse its text with parse_program_at from src->first_line: the locations
 * point into the diagnostics' copy). The text was padded with line - 1 newlines instead,
 * and a session's memory and time grew with the square of its length: 30000 lines piped
 * in took 87 s and 1.1 GB. */
static const DiagSource *register_text(Session *S, const char *name, const char *text, int line) {
    diag_add_source_at(&S->d, name, text, line > 1 ? line : 1);
    return S->d.sources;
}

/* ---- evaluating ---------------------------------------------------------------------------- */

/* The shape s with its symbolic sizes bound; -1 if one is unknown. */
static int concrete_shape(const Shape *s, const int *dims, Shape *out) {
    *out = *s;
    for (int k = 0; k < s->rank; k++)
        if (s->d[k].sym >= 0) {
            if (dims[s->d[k].sym] < 0) return -1;
            out->d[k] = dim_const(s->d[k].c * dims[s->d[k].sym]);
        }
    return 0;
}

/* Evaluates the last output of g (a program compiled with the session's statements and
 * one bare expression) and prints it under `label`. */
static int run_forward(Session *S, Graph *g, const char *label) {
    Model em;
    char err[BPRT_ERRLEN];
    if (bpc_model_jit(&em, g, S->f64, S->jit, err, sizeof err) != 0 || !em.forward) {
        if (em.jit) bpc_model_free(&em);
        say_jit_failed(err);
        return -1;
    }
    if (compile_interrupted("nothing is computed")) {
        bpc_model_free(&em);
        return -1;
    }
    int need[BP_MAX_RUN_INPUTS] = {0};
    const char *fwd = emit_forward_inputs(g);
    for (int i = 0; i < g->ninputs && i < BP_MAX_RUN_INPUTS; i++) need[i] = fwd[i];
    Inputs in;
    int rc = -1;
    void *vec = params_to_vec(S, g, S->f64);
    void **outs = xcalloc((size_t)g->noutputs, sizeof *outs);
    double *v = NULL;
    Shape cs;
    if (!vec) goto out;
    int syms[BP_MAXSYMS];
    if (build_inputs(S, g, S->f64, need, emit_forward_syms(g, syms), &in, err) != 0) {
        diag_tool_error("%s", err);
        goto out;
    }
    int64_t total = 0;
    for (int o = 0; o < g->noutputs; o++) {
        if (concrete_shape(&g->nodes[g->outputs[o]].shape, in.dims, &cs) != 0) {
            diag_tool_error("the value's size depends on symbolic sizes that no input gives");
            goto out_in;
        }
        int ovf;
        total = shape_const_numel(&cs, &ovf);
        if (too_big(ovf ? -1 : total, 2 * sizeof(double), err, "the value")) {
            diag_tool_error("%s", err);
            goto out_in;
        }
        char what[160];
        snprintf(what, sizeof what, "value (%lld doubles)", (long long)total);
        if (!(outs[o] = drv_alloc_reals((size_t)total, sizeof(double), what, err))) {
            diag_tool_error("%s", err);
            goto out_in;
        }
    }
    for (int s = 0; s < BP_MAXSYMS; s++)
        if (in.dims[s] < 0) in.dims[s] = 1;
    void *ws = drv_model_workspace(&em, in.dims, NULL);
    if (!ws) goto out_in;
    em.forward(vec, (const void *const *)in.data, outs, in.dims, ws);
    free(ws);
    if (!(v = drv_alloc_reals((size_t)total, sizeof *v, "value to print (as doubles)", err))) {
        diag_tool_error("%s", err);
        goto out_in;
    }
    for (int64_t i = 0; i < total; i++)
        v[i] = get_real(S->f64, outs[g->noutputs - 1], i); /* outputs are reals, `: int` values too */
    drv_print_tensor(stdout, label, g, &cs, v, total, S->show_f64);
    rc = 0;
out_in:
    drv_free_inputs(&in);
out:
    for (int o = 0; o < g->noutputs; o++) free(outs[o]);
    free(outs);
    free(v);
    free(vec);
    bpc_model_free(&em);
    return rc;
}

typedef struct EntryArena {
    uintptr_t stmt;
    int arena;
} EntryArena;

static int entry_arena_cmp(const void *pa, const void *pb) {
    const EntryArena *a = pa, *b = pb;
    return (a->stmt > b->stmt) - (a->stmt < b->stmt);
}

/* Makes p's statements the entries: each from the input it came from (an entry already, or
 * a statement of the last arena, the input being entered), and frees the inputs none of
 * whose statements is an entry any more. They were kept to the end of the session: a
 * session of 30000 lines piped in, each replacing the last, held 785 MB. */
static void set_entries(Session *S, const Program *p) {
    EntryArena *old = xcalloc((size_t)S->nentries + 1, sizeof *old);
    for (int i = 0; i < S->nentries; i++) old[i] = (EntryArena){(uintptr_t)S->entries[i], S->entry_arena[i]};
    qsort(old, (size_t)S->nentries, sizeof *old, entry_arena_cmp);
    int *owner = xcalloc((size_t)p->nstmts + 1, sizeof *owner), *map = xcalloc((size_t)S->narenas, sizeof *map);
    for (int k = 0; k < p->nstmts; k++) {
        EntryArena key = {(uintptr_t)p->stmts[k], 0};
        const EntryArena *e = bsearch(&key, old, (size_t)S->nentries, sizeof *old, entry_arena_cmp);
        owner[k] = e ? e->arena : S->narenas - 1;
        map[owner[k]] = 1;
    }
    int n = 0;
    for (int i = 0; i < S->narenas; i++) {
        if (!map[i]) {
            arena_free(S->arenas[i]);
            continue;
        }
        map[i] = n;
        S->arenas[n++] = S->arenas[i];
    }
    S->narenas = n;
    for (int k = 0; k < p->nstmts; k++) owner[k] = map[owner[k]];
    free(S->entries);
    free(S->entry_arena);
    S->entries = xcalloc((size_t)p->nstmts + 1, sizeof *S->entries);
    memcpy(S->entries, p->stmts, (size_t)p->nstmts * sizeof *S->entries);
    S->entry_arena = owner;
    S->nentries = p->nstmts;
    free(old);
    free(map);
}

/* Evaluates a bare expression (cmd NULL) or :print's against the session's program (which
 * is not changed). */
static int eval_expr(Session *S, Stmt *expr, const char *label, const char *cmd) {
    if (ensure_model(S) != 0) return -1;
    Arena *a = arena_new();
    Program *p = candidate(S, a, &expr, 1, DROP_OUTPUT | DROP_LOSS);
    CompileOptions co = {.optimize = 1, .allow_expr_stmts = 1, .no_grad = 1, .stop = &interrupted};
    int rc = -1;
    S->d.nerrors = 0;
    Graph *g = bpc_compile_program(a, &S->d, p, S->model, &co);
    if (compile_interrupted("nothing is computed")) g = NULL;
    if (g && drv_check_run_inputs(&S->d, g, cmd, 1) == 0) rc = run_forward(S, g, label);
    arena_free(a);
    return rc;
}

/* A short label for a bare expression: its text, if it is one short line. */
static void expr_label(const DiagSource *src, Loc loc, char *buf, size_t size) {
    const char *p = src->text;
    for (int l = src->first_line; l < loc.line && *p; p++)
        if (*p == '\n') l++;
    p = diag_col_byte(p, p + strcspn(p, "\n"), loc.col);
    int depth = 0;
    size_t n = 0;
    for (; *p && n + 1 < size; p++) {
        if (*p == '(' || *p == '[') depth++;
        if (*p == ')' || *p == ']') depth--;
        if (*p == '#' || (depth <= 0 && (*p == ';' || *p == '\n'))) break;
        if (*p == '\n' || *p == '\t') {
            if (n && buf[n - 1] != ' ') buf[n++] = ' ';
            continue;
        }
        if (*p == ' ' && n && buf[n - 1] == ' ') continue;
        buf[n++] = *p;
    }
    while (n && buf[n - 1] == ' ') n--;
    buf[n] = 0;
    if (n == 0 || n > 60 || (*p && n + 1 >= size)) snprintf(buf, size, "_");
}

/* ---- entering statements ------------------------------------------------------------------ */

/* Whether a and b have the same parameters (names and shapes, in the same order): an
 * optimizer state of one is one of the other. */
static int same_params(const Graph *a, const Graph *b) {
    if (a->nparams != b->nparams) return 0;
    for (int p = 0; p < a->nparams; p++)
        if (strcmp(a->params[p].name, b->params[p].name) != 0 || !shape_eq(&a->params[p].shape, &b->params[p].shape) ||
            a->params[p].offset != b->params[p].offset)
            return 0;
    return 1;
}

static int has_param(const Graph *g, const char *name) {
    for (int p = 0; p < g->nparams; p++)
        if (strcmp(g->params[p].name, name) == 0) return 1;
    return 0;
}

/* The session keeps every parameter as a double, and a vector of them in the model's type
 * besides: more than the memory (bpc_memory_fits) is refused at the largest parameter's
 * declaration, as the compiler refuses a workspace that large (the allocation failed later
 * and the REPL aborted, the session lost). The doubles of the parameters the session already
 * holds, with their shapes, are kept, not made again: they are not counted (they are no
 * longer in the free memory either: counted, a session of 12 GB refused every statement on a
 * machine of 32 GB). */
static int check_param_memory(Session *S, const Graph *g) {
    int big = -1;
    char over[128];
    double fresh = 0; /* values the session does not hold yet */
    for (int p = 0; p < g->nparams; p++) {
        const ParamVal *pv = find_param(S, g->params[p].name);
        if (!pv || !shape_eq(&pv->shape, &g->params[p].shape)) fresh += (double)g->params[p].numel;
    }
    const double need = (fresh + (double)g->nparam_reals) * (double)sizeof(double);
    if (need < 0x1p63 && bpc_memory_fits(need, over, sizeof over)) return 0;
    if (need >= 0x1p63) bpc_memory_fits(0x1p64, over, sizeof over);
    for (int p = 0; p < g->nparams; p++)
        if (big < 0 || g->params[p].numel > g->params[big].numel) big = p;
    diag_error(&S->d, g->params[big].loc,
               "the parameters need %.0f bytes in the session (%lld values, as doubles and as a vector of the "
               "model's type), more than %s; the largest is '%s'", need, (long long)g->nparam_reals, over,
               g->params[big].name);
    return -1;
}

/* Runs one parsed chunk: its statements join the program if the whole candidate compiles,
 * then its bare expressions are evaluated. Takes the arena (kept if statements joined). */
static int enter_program(Session *S, Arena *a, Program *chunk, const DiagSource *src) {
    Stmt **defs = xcalloc((size_t)chunk->nstmts, sizeof *defs);
    int ndefs = 0, rc = 0, kept = 0;
    for (int i = 0; i < chunk->nstmts; i++)
        if (chunk->stmts[i]->kind != ST_EXPR) defs[ndefs++] = chunk->stmts[i];
    if (ndefs) {
        Arena *ga = arena_new();
        Program *p = candidate(S, ga, defs, ndefs, 0);
        CompileOptions co = {.optimize = 1, .stop = &interrupted};
        S->d.nerrors = 0;
        Graph *g = bpc_compile_program(ga, &S->d, p, S->model, &co);
        if (compile_interrupted("nothing is entered, the session is as it was") || !g || check_param_memory(S, g) != 0) {
            arena_free(ga);
            free(defs);
            arena_free(a);
            return -1;
        }
        /* commit; the training state goes on if the parameters and the optimizer do */
        int redeclared = 0; /* a new parameter is "the parameters changed" */
        for (int i = 0; i < ndefs; i++) redeclared |= defs[i]->kind == ST_PARAM && S->g && has_param(S->g, defs[i]->name);
        if (S->g && (redeclared || !same_params(S->g, g)))
            reset_training(S, redeclared ? "a parameter is declared again" : "the parameters changed");
        else if (S->g && !state_fits(opt_kind(&S->g->opt), ir_opt_moments(&S->g->opt), &g->opt))
            fit_optimizer(S, &g->opt, NULL, 0); /* the program's optimizer changed (a state of --opt's is kept otherwise) */
        arena_free(S->garena);
        S->garena = ga;
        S->g = g;
        drop_model(S);
        for (int i = 0; i < ndefs; i++)
            if (defs[i]->kind == ST_PARAM) forget_param(S, defs[i]->name); /* declared again: initialise again */
        if (S->narenas == S->arenas_cap) {
            S->arenas_cap = S->arenas_cap ? 2 * S->arenas_cap : 16;
            S->arenas = realloc(S->arenas, (size_t)S->arenas_cap * sizeof *S->arenas);
            if (!S->arenas) abort();
        }
        S->arenas[S->narenas++] = a;
        set_entries(S, p);
        kept = 1;
    }
    free(defs);
    for (int i = 0; i < chunk->nstmts; i++) {
        Stmt *st = chunk->stmts[i];
        if (st->kind != ST_EXPR) continue;
        char label[128];
        expr_label(src, st->loc, label, sizeof label);
        if (eval_expr(S, st, label, NULL) != 0) rc = -1;
    }
    if (!kept) arena_free(a);
    return rc;
}

static int enter_text(Session *S, const char *name, const char *text, int line) {
    char *t = xstrdup(text); /* without its last newline: an unfinished statement ends on its line */
    size_t n = strlen(t);
    if (n && t[n - 1] == '\n') t[n - 1] = 0;
    const DiagSource *src = register_text(S, name, t, line);
    free(t);
    Arena *a = arena_new();
    S->d.nerrors = 0;
    Program *p = parse_program_at(a, &S->d, src->name, src->text, src->first_line);
    S->py_block = p->py_block;
    if (S->d.nerrors) {
        arena_free(a);
        return -1;
    }
    return enter_program(S, a, p, src);
}

/* ---- commands ------------------------------------------------------------------------------ */

static int cmd_load(Session *S, const char *path) {
    if (!*path) {
        diag_tool_error(":load needs a file name");
        return -1;
    }
    char err[512];
    char *text = bpc_read_program(path, err, sizeof err);
    if (!text) {
        diag_tool_error("%s", err);
        return -1;
    }
    if (!S->nentries) {
        Arena *a = arena_new(); /* the file's stem names the model unless it says otherwise */
        const char *stem = sema_model_name_from_path(a, path);
        static char model[256];
        snprintf(model, sizeof model, "%s", stem);
        S->model = model;
        arena_free(a);
    }
    int rc = enter_text(S, path, text, 1);
    free(text);
    return rc;
}

/* Parses the argument of `:print EXPR` / `:grad EXPR` as one bare expression, with the
 * columns it has on the line. */
static Stmt *parse_arg_expr(Session *S, Arena *a, const char *line, const char *arg, const char *cmd) {
    char *t = xstrdup(line);
    for (size_t i = 0; i < (size_t)(arg - line); i++)
        if (t[i] != '\t') t[i] = ' ';
    const DiagSource *src = register_text(S, "<repl>", t, S->line);
    free(t);
    S->d.nerrors = 0;
    Program *p = parse_program_at(a, &S->d, src->name, src->text, src->first_line);
    if (S->d.nerrors) return NULL;
    if (p->nstmts != 1 || p->stmts[0]->kind != ST_EXPR) {
        diag_tool_error("%s takes one expression", cmd);
        return NULL;
    }
    return p->stmts[0];
}

static int need_program(Session *S) {
    if (S->g) return 0;
    diag_tool_error("nothing is defined yet");
    return -1;
}

static int need_loss(Session *S) {
    if (need_program(S) != 0) return -1;
    if (S->g->loss >= 0) return 0;
    diag_tool_error("the program has no 'loss' statement yet");
    return -1;
}

static int print_gradients(Session *S, const Graph *g, const void *grad, const char *of) {
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        char name[300], what[400], err[BPRT_ERRLEN];
        snprintf(name, sizeof name, "d%s/d%s", of, pa->name);
        snprintf(what, sizeof what, "values of %s to print (%lld doubles)", name, (long long)pa->numel);
        double *v = drv_alloc_reals((size_t)pa->numel, sizeof *v, what, err);
        if (!v) {
            diag_tool_error("%s", err);
            return -1;
        }
        for (int64_t i = 0; i < pa->numel; i++) v[i] = get_real(S->f64, grad, pa->offset + i);
        drv_print_tensor(stdout, name, g, &pa->shape, v, pa->numel, S->show_f64);
        free(v);
    }
    return 0;
}

/* The session's inputs for g's loss (in) and a workspace for m's functions at their sizes,
 * or NULL with the error printed (and nothing left to free). */
static void *loss_inputs(Session *S, Graph *g, const Model *m, Inputs *in) {
    char err[BPRT_ERRLEN];
    int need[BP_MAX_RUN_INPUTS], syms[BP_MAXSYMS];
    if (build_inputs(S, g, S->f64, emit_loss_inputs(g, need), emit_loss_syms(g, syms), in, err) != 0) {
        diag_tool_error("%s", err);
        return NULL;
    }
    void *ws = drv_model_workspace(m, in->dims, NULL);
    if (!ws) drv_free_inputs(in);
    return ws;
}

/* Loss (printed as `label`) and gradients of g's loss, with the session's values. */
static int run_grad(Session *S, Graph *g, const Model *m, const char *label, const char *of) {
    Inputs in;
    void *ws = loss_inputs(S, g, m, &in);
    if (!ws) return -1;
    char err[BPRT_ERRLEN];
    int rc = -1;
    void *vec = params_to_vec(S, g, S->f64);
    void *grad = vec ? drv_alloc_reals((size_t)g->nparam_reals + 1, m->real_size, "gradients", err) : NULL;
    if (vec && !grad) diag_tool_error("%s", err);
    if (grad) {
        double loss = m->grad(vec, grad, (const void *const *)in.data, in.dims, ws);
        char b[40];
        drv_format_real(b, sizeof b, loss, S->show_f64);
        printf("%s = %s\n", label, b);
        rc = print_gradients(S, g, grad, of);
    }
    free(ws);
    free(grad);
    free(vec);
    drv_free_inputs(&in);
    return rc;
}

static int cmd_grad(Session *S, const char *line, const char *arg) {
    if (need_program(S) != 0 || drv_check_run_inputs(&S->d, S->g, ":grad", 1) != 0 || ensure_model(S) != 0) return -1;
    if (!*arg) {
        if (need_loss(S) != 0) return -1;
        return run_grad(S, S->g, &S->m, "loss", "L");
    }
    Arena *a = arena_new();
    int rc = -1;
    Stmt *e = parse_arg_expr(S, a, line, arg, ":grad");
    if (e) {
        Stmt *ls = arena_alloc(a, sizeof *ls);
        ls->kind = ST_LOSS;
        ls->loc = e->loc;
        ls->value = e->value;
        Program *p = candidate(S, a, &ls, 1, DROP_OUTPUT);
        CompileOptions co = {.optimize = 1, .stop = &interrupted};
        S->d.nerrors = 0;
        Graph *g = bpc_compile_program(a, &S->d, p, S->model, &co);
        Model m;
        char err[BPRT_ERRLEN], label[128];
        expr_label(S->d.sources, e->loc, label, sizeof label);
        if (compile_interrupted("nothing is computed")) g = NULL;
        if (g && bpc_model_jit(&m, g, S->f64, S->jit, err, sizeof err) != 0) say_jit_failed(err);
        else if (g && compile_interrupted("nothing is computed")) bpc_model_free(&m);
        else if (g) {
            rc = run_grad(S, g, &m, label, label);
            bpc_model_free(&m);
        }
    }
    arena_free(a);
    return rc;
}

static int cmd_print(Session *S, const char *line, const char *arg) {
    if (!*arg) {
        diag_tool_error(":print needs a name or an expression");
        return -1;
    }
    Arena *a = arena_new();
    Stmt *e = parse_arg_expr(S, a, line, arg, ":print");
    int rc = -1;
    if (e) {
        char label[128];
        expr_label(S->d.sources, e->loc, label, sizeof label);
        rc = eval_expr(S, e, label, ":print");
    }
    arena_free(a);
    return rc;
}

static int cmd_check(Session *S) {
    if (need_loss(S) != 0 || drv_check_run_inputs(&S->d, S->g, ":check", 1) != 0 || ensure_model(S) != 0) return -1;
    Model m;
    char err[BPRT_ERRLEN];
    if (bpc_model_jit(&m, S->g, 1, S->jit, err, sizeof err) != 0) {
        say_jit_failed(err);
        return -1;
    }
    Inputs in;
    int need[BP_MAX_RUN_INPUTS], syms[BP_MAXSYMS];
    int bi = build_inputs(S, S->g, 1, emit_loss_inputs(S->g, need), emit_loss_syms(S->g, syms), &in, err);
    if (bi == -2 || bi == -3) { /* inputs too large for the memory: random ones would be too; values
                                   the program cannot take, as bpc check refuses them */
        diag_tool_error("%s", err);
        bpc_model_free(&m);
        return -1;
    }
    if (bi != 0 && S->inputs_path) { /* inputs given (:inputs) that do not fit, as :grad says (they
                                          were replaced by random ones without a word) */
        diag_tool_error("%s", err);
        bpc_model_free(&m);
        return -1;
    }
    if (bi != 0) {
        printf("inputs: random (normal; " DRV_RANDOM_LABELS "; symbolic sizes = 3), seed %llu\n",
               (unsigned long long)S->seed);
        if (drv_random_inputs(&m, &in, 3, S->seed, err) != 0) {
            diag_tool_error("%s", err);
            drv_free_inputs(&in);
            bpc_model_free(&m);
            return -1;
        }
    }
    void *vec = params_to_vec(S, S->g, 1);
    int ok = vec && drv_check_gradients(stdout, &m, vec, &in, S->seed, &interrupted) == 1;
    free(vec);
    drv_free_inputs(&in);
    bpc_model_free(&m);
    return ok ? 0 : -1;
}

static int parse_count(const char *s, int *out) { return drv_parse_count(s, 0, out); }

static int cmd_step(Session *S, const char *arg) {
    int steps = 1;
    if (*arg && (parse_count(arg, &steps) != 0 || steps < 1)) {
        diag_tool_error(":step takes a number of steps from 1 to 2000000000, not '%s'", arg);
        return -1;
    }
    if (need_loss(S) != 0 || drv_check_run_inputs(&S->d, S->g, ":step", 1) != 0 ||
        train_check_optimizer(S->g, 0, S->f64) != 0 || ensure_model(S) != 0)
        return -1;
    Model *m = &S->m;
    Graph *g = S->g;
    Inputs in;
    void *ws = loss_inputs(S, g, m, &in);
    if (!ws) return -1;
    /* the session's optimizer state and steps go on (a step is numbered from the start) */
    char key[4200], what[4200], notes[9000];
    TrainSnapshot was;
    if (snapshot_take(S, &was) != 0) {
        free(ws);
        drv_free_inputs(&in);
        return -1;
    }
    data_key(S, NULL, 0, session_inputs(S), key, what, sizeof key);
    fit_training(S, &g->opt, key, what, 0, 0, notes, sizeof notes);
    OptLayout l = drv_opt_layout(m);
    char err[BPRT_ERRLEN];
    void *opt = drv_alloc_reals(drv_opt_bytes(l), 1, "optimizer's state", err);
    if (!opt) diag_tool_error("%s", err);
    else if (S->train.opt) drv_opt_from_f64(l, S->train.opt, opt);
    int64_t *done = &S->train.progress[2], before = *done;
    void *vec = opt ? params_to_vec(S, g, S->f64) : NULL;
    int rc = vec ? 0 : -1;
    char b[40];
    for (int s = 1; s <= steps && vec; s++) {
        const char *why; /* (a finite loss whose gradient the update refused was said "loss nan") */
        double loss = train_step_explained(m, vec, opt, (const void *const *)in.data, in.dims, g->opt.lr, ws, 1, &why);
        if (why) {
            drv_format_real(b, sizeof b, loss, S->show_f64);
            diag_tool_error("%s at step %lld (loss %s); stopping with the parameters from before that step", why,
                            (long long)*done + 1, b);
            rc = -1;
            break;
        }
        drv_format_real(b, sizeof b, loss, S->show_f64);
        ++*done;
        if (s == 1) fputs(notes, stdout);
        if (s == steps || steps <= 20 || s % (steps / 10) == 0) printf("step %lld: loss %s\n", (long long)*done, b);
        if (interrupted) {
            printf("interrupted after step %lld\n", (long long)*done);
            break;
        }
    }
    if (vec && (S->train.opt || *done > before) && train_state_keep(&S->train, m, opt, err) != 0) {
        diag_tool_error("%s (the next training starts a fresh optimizer)", err);
        rc = -1;
    }
    snapshot_end(S, &was, rc != 0, before);
    if (vec) vec_to_params(S, g, S->f64, vec);
    free(opt);
    free(ws);
    free(vec);
    drv_free_inputs(&in);
    return rc;
}

/* Splits arg into words (in place), --option=value into two as bpc's own command line takes
 * it; returns the count. */
static int split_words(char *arg, char **w, int max) {
    int n = 0;
    for (char *p = strtok(arg, " \t"); p && n < max; p = strtok(NULL, " \t")) {
        char *eq = strncmp(p, "--", 2) == 0 ? strchr(p, '=') : NULL;
        w[n++] = p;
        if (eq && n < max) {
            *eq = 0;
            w[n++] = eq + 1;
        }
    }
    return n;
}

/* What a value option takes, in the words of bpc's command line ("bad value for --seed:
 * 'x' (it takes a whole number from 0 to 2000000000)"): the REPL's messages and the CLI's
 * are one text (the REPL said "bad value 'x' for --seed", or "bad value for --seed" alone). */
static const char *option_wants(const char *o) {
    if (strcmp(o, "--seed") == 0) return "a whole number from 0 to 2000000000";
    if (strcmp(o, "--lr") == 0) return "a number >= 0";
    if (strcmp(o, "--jit") == 0) return "tcc or cc";
    return "a whole number from 1 to 2000000000"; /* the counts: --epochs --steps --batch --warmup */
}

/* Whether a checkpoint may be written to path (:save FILE, :train --save FILE), as bpc
 * train's outputs are checked: not a file the session read its program from (drv_same_file:
 * links included), nor the file of :inputs, nor the --data or --inputs (either may be NULL)
 * the run reads; and then drv_check_tensor_output's rules, as for bpc's outputs: not a name
 * ending in .bp, and an existing file only when it is a safetensors file (or empty), so that
 * what is replaced is an earlier checkpoint or file of parameters. `:save examples/x.bp`
 * replaced the program the session had loaded with a checkpoint, `:save notes.txt` any file
 * at all, and `:save in.safetensors` after `:inputs in.safetensors` the inputs. what:
 * ":save" or ":train --save". */
static int check_save_target(Session *S, const char *path, const char *data, const char *inputs, const char *what) {
    struct stat so;
    const int exists = stat(path, &so) == 0 && S_ISREG(so.st_mode);
    for (const DiagSource *src = S->d.sources; exists && src; src = src->next) {
        if (src->name[0] == '<' || !drv_same_file(path, src->name)) continue;
        diag_tool_error("%s %s is the session's program %s: writing it would destroy it", what, path, src->name);
        return -1;
    }
    const struct { const char *what, *path; } reads[] = {
        {"the session's inputs", S->inputs_path}, {"the run's data", data}, {"the run's inputs", inputs}};
    for (size_t i = 0; exists && i < sizeof reads / sizeof reads[0]; i++) {
        if (!drv_same_file(path, reads[i].path)) continue;
        diag_tool_error("%s %s is %s %s: writing it would destroy it", what, path, reads[i].what, reads[i].path);
        return -1;
    }
    char err[BPRT_ERRLEN];
    if (drv_check_tensor_output(path, err) != 0) {
        diag_tool_error("%s %s", what, err);
        return -1;
    }
    return 0;
}

static int cmd_train(Session *S, const char *arg, int eval_only) {
    const char *cmd = eval_only ? ":eval" : ":train";
    char *copy = xstrdup(arg), *w[64];
    int n = split_words(copy, w, 64), rc = -1, seed_given = 0, batch_given = 0, have_fixed = 0;
    Inputs fixed;
    TrainOptions to;
    const char *lr_text = NULL; /* --lr as given */
    memset(&to, 0, sizeof to);
    to.lr = -1;
    to.batch = TRAIN_BATCH;
    to.seed = S->seed;
    to.jit = S->jit;
    to.f64 = 0; /* as bpc train: float unless --f64 */
    to.eval_only = eval_only;
    to.stop = &interrupted;
    static const char *const known[] = {"--data", "--inputs", "--batch", "--jit", "--f64", /* :eval's, */
                                        "--seed", /* :eval's as bpc eval's (warned about), and */
                                        "--epochs", "--steps", "--lr", "--opt", "--save", /* :train's */
                                        "--lr-schedule", "--warmup"};
    const int nknown = (int)(sizeof known / sizeof known[0]), neval = 6;
    const char *usage = eval_only ? "--data DIR --inputs FILE --batch N --jit tcc|cc --f64"
                                  : "--data DIR --inputs FILE --epochs N --steps N --batch N --lr X --opt sgd|adam|adamw "
                                    "--seed N --save FILE --jit tcc|cc --f64 --lr-schedule cosine|step:N:G --warmup N";
    for (int i = 0; i < n; i++) {
        const char *o = w[i], *v = i + 1 < n ? w[i + 1] : NULL;
        int ok = v != NULL, k = 0;
        const char *why = NULL; /* what is wrong with a number of the right form */
        while (k < nknown && strcmp(o, known[k]) != 0) k++;
        if (k == nknown || (eval_only && k >= neval)) { /* :eval ignored :train's options (--save wrote nothing) */
            if (k == nknown) diag_tool_error("%s: unknown option '%s' (options: %s)", cmd, o, usage);
            else diag_tool_error(":eval: '%s' is an option of :train, not of :eval (options: %s)", o, usage);
            goto out;
        }
        if (!v && strcmp(o, "--f64") != 0) {
            diag_tool_error("%s: %s needs a value (options: %s)", cmd, o, usage);
            goto out;
        }
        if (strcmp(o, "--f64") == 0) {
            to.f64 = 1;
            continue;
        }
        if (ok && strcmp(o, "--data") == 0) to.data = v;
        else if (ok && strcmp(o, "--inputs") == 0) to.inputs = v;
        else if (ok && strcmp(o, "--save") == 0) to.save = v;
        else if (ok && strcmp(o, "--opt") == 0) to.opt = v;
        else if (ok && strcmp(o, "--epochs") == 0) ok = parse_count(v, &to.epochs) == 0 && to.epochs > 0;
        else if (ok && strcmp(o, "--steps") == 0) ok = parse_count(v, &to.steps) == 0 && to.steps > 0;
        else if (ok && strcmp(o, "--batch") == 0) {
            ok = parse_count(v, &to.batch) == 0 && to.batch > 0;
            batch_given = 1;
        }
        else if (ok && strcmp(o, "--seed") == 0) {
            int s = 0;
            ok = parse_count(v, &s) == 0;
            to.seed = (uint64_t)s;
            seed_given = 1;
        } else if (ok && strcmp(o, "--jit") == 0) {
            ok = strcmp(v, "tcc") == 0 || strcmp(v, "cc") == 0;
            to.jit = strcmp(v, "cc") == 0 ? JIT_CC : JIT_TCC;
        } else if (ok && strcmp(o, "--lr") == 0) {
            ok = drv_parse_real(v, &to.lr, &why) == 0;
            lr_text = v;
        }
        else if (ok && strcmp(o, "--warmup") == 0)
            ok = parse_count(v, &to.sched.warmup) == 0 && to.sched.warmup > 0;
        else if (ok && strcmp(o, "--lr-schedule") == 0) {
            char err[400];
            if (train_parse_schedule(v, &to.sched, err, sizeof err) != 0) {
                diag_tool_error("%s: %s", cmd, err);
                goto out;
            }
        }
        if (!ok) {
            char msg[400];
            drv_bad_value(msg, sizeof msg, o, v, why, option_wants(o));
            diag_tool_error("%s: %s", cmd, msg);
            goto out;
        }
        i++;
    }
    const char *why;
    if (lr_text && drv_real_fits(to.lr, to.f64, &why) != 0) { /* as bpc train: after --f64, wherever it is */
        char msg[400];
        drv_bad_value(msg, sizeof msg, "--lr", lr_text, why, option_wants("--lr"));
        diag_tool_error("%s: %s", cmd, msg);
        goto out;
    }
    if (to.epochs && to.steps) { /* as bpc train: --steps would win and --epochs be ignored */
        diag_tool_error("%s: --epochs and --steps both say how long to train; use one", cmd);
        goto out;
    }
    if (to.data && to.inputs) { /* --data won and --inputs was not read */
        diag_tool_error("%s: --data and --inputs both give the inputs; use one", cmd);
        goto out;
    }
    /* as bpc train and eval warn: fixed inputs are one batch, of their own size, in no order
     * (an error here before), and :eval reads in order; the seed would restart the step count */
    if (seed_given && (eval_only || !to.data)) {
        diag_tool_warning("--seed has no effect on %s%s", cmd, eval_only ? "" : " without --data");
        to.seed = S->seed;
        seed_given = 0;
    }
    if (batch_given && !to.data) {
        diag_tool_warning("--batch has no effect on %s without --data", cmd);
        to.batch = TRAIN_BATCH;
    }
    if (need_loss(S) != 0 || drv_check_run_inputs(&S->d, S->g, cmd, 1) != 0 || ensure_model(S) != 0) goto out;
    if (to.save) {
        if (check_save_target(S, to.save, to.data, to.inputs, ":train --save") != 0) goto out;
    }
    if (!to.data && !to.inputs) { /* the session's inputs, as :step, :grad and :print use them
                                     (the file of :inputs is not read again: it may have
                                     changed or gone since) */
        char err[BPRT_ERRLEN];
        int need[BP_MAX_RUN_INPUTS], syms[BP_MAXSYMS];
        if (build_inputs(S, S->g, to.f64, emit_loss_inputs(S->g, need), emit_loss_syms(S->g, syms), &fixed, err) != 0) {
            diag_tool_error("%s", err);
            goto out;
        }
        have_fixed = 1;
        to.fixed = &fixed;
        to.inputs = session_inputs(S); /* names the data (data_key) */
    }
    {
        Graph *g = S->g;
        OptConfig saved = g->opt; /* --opt changes the graph's optimizer for this run only */
        if (to.opt && train_set_optimizer(&g->opt, to.opt) != 0) {
            diag_tool_error("%s: --opt must be sgd, adam or adamw, not '%s'", cmd, to.opt);
            goto out;
        }
        to.opt = NULL;
        TrainSnapshot was;
        char key[4200], what[4200], notes[9000];
        int64_t done = 0;
        if (!eval_only) { /* the session's optimizer state and position go on */
            if (snapshot_take(S, &was) != 0) {
                g->opt = saved;
                goto out;
            }
            data_key(S, to.data, to.batch, to.inputs, key, what, sizeof key);
            fit_training(S, &g->opt, key, what, seed_given, to.seed, notes, sizeof notes);
            to.notes = notes;
            to.state = &S->train;
            done = S->train.progress[2];
        }
        void *vec = params_to_vec(S, g, to.f64);
        to.params_io = vec;
        fflush(stdout);
        rc = vec && train_run(g, &to) == 0 ? 0 : -1;
        g->opt = saved;
        if (!eval_only) {
            snapshot_end(S, &was, rc != 0, done);
            if (vec) vec_to_params(S, g, to.f64, vec);
        }
        free(vec);
    }
out:
    if (have_fixed) drv_free_inputs(&fixed);
    free(copy);
    return rc;
}

static int cmd_shapes(Session *S) {
    if (!S->g) {
        printf("nothing is defined yet\n");
        return 0;
    }
    Arena *a = arena_new();
    Stmt **names = xcalloc((size_t)S->nentries + 1, sizeof *names);
    int n = 0;
    for (int i = 0; i < S->nentries; i++)
        if (S->entries[i]->kind == ST_BIND) {
            Expr *e = arena_alloc(a, sizeof *e);
            e->kind = EX_NAME;
            e->name = S->entries[i]->name;
            e->loc = S->entries[i]->name_loc;
            e->depth = 1;
            Stmt *st = arena_alloc(a, sizeof *st);
            st->kind = ST_EXPR;
            st->loc = e->loc;
            st->value = e;
            names[n++] = st;
        }
    Program *p = candidate(S, a, names, n, 0);
    SemaOptions so = {.default_model = S->model, .allow_expr_stmts = 1};
    S->d.nerrors = 0;
    Graph *g = sema_program(a, &S->d, p, &so);
    int rc = S->d.nerrors ? -1 : 0;
    char sh[160];
    int k = g->noutputs - n;
    NameTab inputs = {0}, params = {0}; /* the model's inputs and parameters by name (a scan of
                                           them per name took 26 s for 60000 parameters) */
    for (int j = 0; j < S->g->ninputs; j++) nametab_put(a, &inputs, S->g->inputs[j].name, j);
    for (int j = 0; j < S->g->nparams; j++) nametab_put(a, &params, S->g->params[j].name, j);
    for (int i = 0; rc == 0 && i < S->nentries; i++) {
        const Stmt *st = S->entries[i];
        if (st->kind == ST_INPUT || st->kind == ST_PARAM) {
            const Shape *s = NULL;
            int is_int = 0;
            const int in = nametab_get(&inputs, st->name, -1), pa = nametab_get(&params, st->name, -1);
            if (pa >= 0) s = &S->g->params[pa].shape;
            else if (in >= 0) {
                s = &S->g->inputs[in].shape;
                is_int = S->g->inputs[in].dtype == DT_INT;
            }
            if (s)
                printf("%-6s %s %s%s\n", st->kind == ST_INPUT ? "input" : "param", st->name,
                       shape_str(s, &S->g->syms, sh, sizeof sh), is_int ? " : int" : "");
        } else if (st->kind == ST_BIND && k >= 0 && k < g->noutputs) {
            printf("%-6s %s %s\n", "", st->name, shape_str(&g->nodes[g->outputs[k++]].shape, &g->syms, sh, sizeof sh));
        } else if (st->kind == ST_DEF) {
            printf("%-6s %s(", "def", st->name);
            for (int j = 0; j < st->nparams; j++) printf("%s%s", j ? ", " : "", st->params[j]);
            printf(")\n");
        }
    }
    if (S->g->loss >= 0) printf("%-6s %s\n", "loss", "[]");
    free(names);
    arena_free(a);
    return rc;
}

static int cmd_params(Session *S) {
    if (ensure_model(S) != 0) return -1;
    if (!S->g || !S->g->nparams) {
        printf("no parameters\n");
        return 0;
    }
    const Graph *g = S->g;
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        ParamVal *pv = find_param(S, pa->name);
        if (pv) drv_print_tensor(stdout, pa->name, g, &pa->shape, pv->v, pv->n, S->show_f64);
    }
    return 0;
}

static int cmd_save(Session *S, const char *path, int restore) {
    if (!*path) {
        diag_tool_error("%s needs a file name", restore ? ":restore" : ":save");
        return -1;
    }
    if (need_program(S) != 0 || ensure_model(S) != 0) return -1;
    if (!restore && check_save_target(S, path, NULL, NULL, ":save") != 0) return -1;
    char err[BPRT_ERRLEN], pos[160];
    const Graph *g = S->g;
    const char *ps = g->nparams == 1 ? "" : "s";
    void *vec = params_to_vec(S, g, S->f64);
    int rc;
    if (!vec) return -1;
    if (restore) { /* the parameters, and the optimizer state and position if the file has them */
        OptLayout l = drv_opt_layout(&S->m);
        void *opt = drv_alloc_reals(drv_opt_bytes(l), 1, "optimizer's state", err);
        int64_t progress[4];
        rc = opt ? drv_load_params(&S->m, path, vec, err) : -1;
        int ex = rc == 0 ? drv_load_checkpoint_extras(&S->m, path, opt, progress, err) : -1;
        if (ex < 0) rc = -1;
        else {
            vec_to_params(S, g, S->f64, vec);
            reset_training(S, NULL);
            const int lost = ex == 1 && train_state_keep(&S->train, &S->m, opt, err) != 0;
            if (lost) diag_tool_error("%s", err);
            if (ex >= 1) {
                memcpy(S->train.progress, progress, sizeof progress);
                S->train.from = xstrdup(path);
                position_words(progress, pos, sizeof pos);
            }
            if (lost) /* the parameters are restored all the same */
                printf("restored %d parameter%s from %s, with the position: %s (its optimizer state could not be kept: "
                       "the optimizer starts afresh)\n", g->nparams, ps, path, pos);
            else if (ex == 1)
                printf("restored %d parameter%s from %s, with the optimizer state and the position: %s\n", g->nparams, ps,
                       path, pos);
            else if (ex == 3) /* converted by hand to F16, say: err says why its state cannot be read */
                printf("restored %d parameter%s from %s, with the position: %s (the optimizer starts afresh: %s)\n",
                       g->nparams, ps, path, pos, err);
            else if (ex == 2) /* e.g. saved after :train --opt adam: the file does not say which optimizer */
                printf("restored %d parameter%s from %s, with the position: %s (its optimizer state is not one %s%s keeps: "
                       "the optimizer starts afresh)\n", g->nparams, ps, path, pos, opt_name(opt_kind(&g->opt)),
                       ir_opt_moments(&g->opt) == 1 ? " with momentum" : "");
            else
                printf("restored %d parameter%s from %s (it holds no optimizer state: the optimizer starts afresh, at the "
                       "start of the data)\n", g->nparams, ps, path);
        }
        free(opt);
    } else if (!training_used(S)) {
        rc = drv_save_params(&S->m, path, vec, err);
        if (rc == 0) printf("saved %d parameter%s to %s\n", g->nparams, ps, path);
    } else { /* a checkpoint, as bpc train --save writes, in the session's precision */
        OptLayout l = {g->nparam_reals, S->train.opt ? S->train.moments : ir_opt_moments(&g->opt), S->m.real_size};
        void *opt = drv_alloc_reals(drv_opt_bytes(l), 1, "optimizer's state", err);
        if (opt && S->train.opt) drv_opt_from_f64(l, S->train.opt, opt);
        rc = opt ? drv_save_checkpoint(&S->m, path, vec, opt, drv_opt_bytes(l), S->train.progress, err) : -1;
        position_words(S->train.progress, pos, sizeof pos);
        if (rc == 0) printf("saved %d parameter%s to %s, with the optimizer state and the position: %s\n", g->nparams, ps, path, pos);
        free(opt);
    }
    if (rc != 0) diag_tool_error("%s", err);
    free(vec);
    return rc;
}

static int cmd_inputs(Session *S, const char *path) {
    if (!*path) {
        if (!S->ninputs) printf("no fixed inputs: inputs take their defaults\n");
        for (int i = 0; i < S->ninputs; i++) {
            const InputVal *iv = &S->inputs[i];
            printf("%s [", iv->name);
            for (int k = 0; k < iv->rank; k++) printf("%s%lld", k ? ", " : "", (long long)iv->shape[k]);
            printf("] from %s\n", S->inputs_path);
        }
        return 0;
    }
    /* the checks bpc grad --inputs and :train make (names, shapes, dtypes, sizes), before
     * the previous inputs are dropped */
    if (need_program(S) != 0 || drv_check_run_inputs(&S->d, S->g, ":inputs", 1) != 0 || ensure_model(S) != 0) return -1;
    char err[BPRT_ERRLEN];
    BprtSafetensors st;
    if (bprt_st_read(path, &st, err) != 0) {
        diag_tool_error("%s", err);
        return -1;
    }
    Inputs in;
    if (drv_inputs_from(&S->m, &st, path, &in, err) != 0) {
        diag_tool_error("%s", err);
        bprt_st_free(&st);
        return -1;
    }
    drv_free_inputs(&in);
    free_inputs(S);
    S->inputs = xcalloc((size_t)st.count, sizeof *S->inputs);
    for (int i = 0; i < st.count; i++) {
        const BprtTensor *t = &st.tensors[i];
        InputVal *iv = &S->inputs[S->ninputs++];
        iv->name = xstrdup(t->name);
        iv->dtype = t->dtype;
        iv->rank = t->ndim;
        memcpy(iv->shape, t->shape, sizeof(int64_t) * (size_t)(t->ndim < BP_MAXRANK ? t->ndim : BP_MAXRANK));
        iv->n = t->count;
        char what[300];
        snprintf(what, sizeof what, "input '%.200s' as doubles (%lld values)", t->name, (long long)t->count);
        if (!(iv->v = drv_alloc_reals((size_t)t->count, sizeof(double), what, err))) { /* no inputs then */
            diag_tool_error("%s: %s", path, err);
            free_inputs(S);
            bprt_st_free(&st);
            return -1;
        }
        bprt_st_to_f64(t, iv->v);
    }
    bprt_st_free(&st);
    S->inputs_path = xstrdup(path);
    S->inputs_gen++;
    printf("inputs from %s:", path);
    for (int i = 0; i < S->ninputs; i++) printf(" %s", S->inputs[i].name);
    printf("\n");
    return 0;
}

static int cmd_emit(Session *S, const char *what) {
    if (need_program(S) != 0) return -1;
    if (strcmp(what, "ir") == 0) ir_dump(stdout, S->g);
    else if (strcmp(what, "dot") == 0) emit_dot(stdout, S->g);
    else if (strcmp(what, "c") == 0 || strcmp(what, "h") == 0) {
        EmitOptions eo = {S->show_f64, 0, 1, NULL, 0, 0, 0}; /* as bpc -o writes it */
        char *s = bpc_emit_string(S->g, &eo, what[0] == 'h');
        fputs(s, stdout);
        free(s);
    } else {
        diag_tool_error(":emit takes c, h, ir or dot, not '%s'", what);
        return -1;
    }
    return 0;
}

static const struct {
    const char *name, *args, *help;
} commands[] = {
    {":load", "FILE", "add a program's statements to the session (its names replace those defined)"},
    {":grad", "[EXPR]", "the loss (or a scalar EXPR) and its gradient with respect to every parameter"},
    {":check", "", "finite-difference check of the gradients, in double precision"},
    {":step", "[N]", "N more optimizer steps (default 1) on the current inputs, printing the loss"},
    {":train", "[OPTIONS]", "train on as bpc train does: --data DIR --epochs N --steps N (N more) --batch N --lr X --lr-schedule S --warmup N --opt NAME --seed N --f64"},
    {":eval", "[OPTIONS]", "the loss (and accuracy, with --data DIR) with the current parameters"},
    {":print", "EXPR", "a value (a name or an expression) with its shape"},
    {":shapes", "", "every name with its shape"},
    {":params", "", "the parameters' values"},
    {":inputs", "[FILE]", "take the inputs from a safetensors file (without FILE: show them)"},
    {":save", "FILE", "write the parameters (once trained, with the optimizer state and position) to a safetensors file"},
    {":restore", "FILE", "read the parameters (and a checkpoint's optimizer state and position) from a safetensors file"},
    {":emit", "c|h|ir|dot", "the generated C, its header, the IR or the Graphviz graph"},
    {":reset", "", "forget every definition, parameter and input, and the training state"},
    {":help", "", "this list"},
    {":quit", "", "leave the session (Ctrl-D too)"},
};

/* Other names of commands. */
static const char *const aliases[][2] = {{":h", ":help"}, {":?", ":help"}, {":q", ":quit"}, {":exit", ":quit"}};

static void cmd_help(void) {
    printf("Type statements to extend the program (a name defined again replaces its definition, and\n"
           "what depends on it follows); a bare expression is evaluated and printed.\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", commands[i].name, commands[i].args);
        printf("  %-20s %s\n", head, commands[i].help);
    }
}

/* Runs a `:command` line; returns 0, or -1 if it failed. */
static int run_command(Session *S, const char *line) {
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, " \t");
    char cmd[32];
    snprintf(cmd, sizeof cmd, "%.*s", (int)(n < 31 ? n : 31), p);
    const char *arg = p + n;
    while (*arg == ' ' || *arg == '\t') arg++;
    char *argc = xstrdup(arg); /* the argument without trailing blanks */
    for (size_t k = strlen(argc); k && (argc[k - 1] == ' ' || argc[k - 1] == '\t' || argc[k - 1] == '\r'); k--) argc[k - 1] = 0;
    const char *name = cmd; /* the command's own name, for an alias */
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(cmd, aliases[i][0]) == 0) name = aliases[i][1];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0 && !commands[i].args[0] && *argc) { /* `:reset extra` must not reset */
            diag_tool_error("%s takes no arguments, not '%s'", cmd, argc);
            free(argc);
            return -1;
        }
    /* a file name is the whole argument (spaces included), but an option after it is a
     * mistake: ':save w.safetensors --f64' wrote a file named 'w.safetensors --f64' */
    const char *opt = strstr(argc, " --");
    if (!opt) opt = strstr(argc, "\t--");
    if (opt && (strcmp(name, ":load") == 0 || strcmp(name, ":save") == 0 || strcmp(name, ":restore") == 0 ||
                strcmp(name, ":inputs") == 0)) {
        diag_tool_error("%s takes a file name and no options, not '%s'", cmd, opt + 1);
        free(argc);
        return -1;
    }
    int rc = 0;
    if (strcmp(name, ":help") == 0) cmd_help();
    else if (strcmp(name, ":quit") == 0) S->quit = 1;
    else if (strcmp(cmd, ":load") == 0) rc = cmd_load(S, argc);
    else if (strcmp(cmd, ":grad") == 0) rc = cmd_grad(S, line, arg);
    else if (strcmp(cmd, ":check") == 0) rc = cmd_check(S);
    else if (strcmp(cmd, ":step") == 0) rc = cmd_step(S, argc);
    else if (strcmp(cmd, ":train") == 0) rc = cmd_train(S, argc, 0);
    else if (strcmp(cmd, ":eval") == 0) rc = cmd_train(S, argc, 1);
    else if (strcmp(cmd, ":print") == 0) rc = cmd_print(S, line, arg);
    else if (strcmp(cmd, ":shapes") == 0) rc = cmd_shapes(S);
    else if (strcmp(cmd, ":params") == 0) rc = cmd_params(S);
    else if (strcmp(cmd, ":inputs") == 0) rc = cmd_inputs(S, argc);
    else if (strcmp(cmd, ":save") == 0) rc = cmd_save(S, argc, 0);
    else if (strcmp(cmd, ":restore") == 0) rc = cmd_save(S, argc, 1);
    else if (strcmp(cmd, ":emit") == 0) rc = cmd_emit(S, argc);
    else if (strcmp(cmd, ":reset") == 0) {
        Session fresh;
        session_init(&fresh, S->f64, S->seed, S->jit, S->tty, S->line);
        fresh.show_f64 = S->show_f64;
        session_free(S);
        *S = fresh;
        printf("session reset\n");
    } else {
        diag_tool_error("unknown command '%s'; :help lists the commands", cmd);
        rc = -1;
    }
    free(argc);
    return rc;
}

/* ---- line editing ------------------------------------------------------------------------ */

static Session *completing; /* the session whose names tab completes */

static const char *const keywords[] = {"input", "param", "def", "return", "loss", "output", "optimizer", "model",
                                       "clip_grad_norm", "int", "sgd", "adam", "adamw", "zeros", "ones", "he",
                                       "xavier", "normal", "uniform", "checkpoint", NULL};

/* The state-th candidate (names, built-ins, keywords, or commands) starting with text. */
static char *complete_next(const char *text, int state) {
    static int idx;
    if (state == 0) idx = 0;
    size_t len = strlen(text);
    int ncmd = (int)(sizeof commands / sizeof commands[0]);
    for (;;) {
        int i = idx++;
        const char *c = NULL;
        if (text[0] == ':') {
            if (i >= ncmd) return NULL;
            c = commands[i].name;
        } else {
            int nent = completing ? completing->nentries : 0;
            if (i < nent) {
                const Stmt *st = completing->entries[i];
                if (st->kind == ST_INPUT || st->kind == ST_PARAM || st->kind == ST_BIND || st->kind == ST_DEF) c = st->name;
            } else {
                i -= nent;
                int nb = 0;
                while (sema_builtin_name(nb)) nb++;
                if (i < nb) c = sema_builtin_name(i);
                else if (keywords[i - nb]) c = keywords[i - nb];
                else return NULL;
            }
        }
        if (c && strncmp(c, text, len) == 0) return xstrdup(c);
    }
}

static char **complete(const char *text, int start, int end) {
    (void)end;
    const char *l = rl_line_buffer;
    while (*l == ' ') l++;
    if (*l == ':' && (size_t)start > (size_t)(l - rl_line_buffer)) {
        /* the argument of a command: file names for those that take one */
        if (strncmp(l, ":load", 5) == 0 || strncmp(l, ":save", 5) == 0 || strncmp(l, ":restore", 8) == 0 ||
            strncmp(l, ":inputs", 7) == 0)
            return NULL;
        if (strncmp(l, ":emit", 5) != 0 && strncmp(l, ":print", 6) != 0 && strncmp(l, ":grad", 5) != 0) {
            rl_attempted_completion_over = 1;
            return NULL;
        }
    }
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, complete_next);
}

static char history_path[4096];

static void history_setup(void) {
    const char *h = getenv("BPC_HISTORY"), *home = getenv("HOME");
    if (h) snprintf(history_path, sizeof history_path, "%s", h);
    else if (home) snprintf(history_path, sizeof history_path, "%s/.bpc_history", home);
    using_history();
    stifle_history(1000);
    if (history_path[0]) read_history(history_path);
}

static void history_add(const char *line) {
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return;
    add_history(line);
    if (history_path[0]) write_history(history_path);
}

/* The next byte typed, or -1 at the end of input, or '\n' after a Ctrl-C. libedit's own
 * reader sees a Ctrl-C only when it lands in the read(): one that lands while the editor
 * redraws the line between keys was missed, and the keys typed after it joined the text
 * typed before it. Here SIGINT is blocked from the check of `interrupted` until pselect
 * waits, so a Ctrl-C is seen wherever it lands; it then ends the line with a newline and
 * read_line drops the line. */
static int read_byte(void) {
    sigset_t sigint, old;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    sigprocmask(SIG_BLOCK, &sigint, &old);
    int ready = 0;
    while (!interrupted && !ready) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(0, &fds);
        int n = pselect(1, &fds, NULL, NULL, NULL, &old);
        if (n > 0) ready = 1;
        else if (n < 0 && errno != EINTR) break;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (interrupted) return '\n';
    if (!ready) return -1;
    unsigned char c;
    ssize_t k;
    while ((k = read(0, &c, 1)) < 0 && errno == EINTR)
        if (interrupted) return '\n';
    return k == 1 ? c : -1;
}

/* libedit reads each key through this (rl_getc_function), as one character: its readline
 * layer takes the value returned as a wide character, so the bytes of a multibyte one
 * (UTF-8's é is two) are decoded here in the terminal's locale (tty_locale). Given byte by
 * byte, libedit kept each byte of a non-ASCII character as a character of its own, and
 * dropped them all when it made the line's text: `:save modèle.safetensors` saved to
 * modle.safetensors. Bytes that do not make a character in the locale (Latin-1 é in a UTF-8
 * terminal) become U+FFFD, shown on the line and refused as any non-ASCII character outside
 * a comment is (they were dropped without a word), and a byte that cuts a multibyte
 * character short starts a character of its own: the Enter after a lone lead byte was
 * taken into it, and the line went on with the next one typed. */
static int read_key(FILE *in) {
    (void)in;
    static mbstate_t st;
    static int pending, unread = -1; /* inside a multibyte character; a byte to decode again */
    for (;;) {
        int b = unread >= 0 ? unread : read_byte();
        unread = -1;
        if (b < 0 || interrupted) {
            memset(&st, 0, sizeof st);
            pending = 0;
            return b;
        }
        char c = (char)b;
        wchar_t w;
        size_t r = mbrtowc(&w, &c, 1, &st);
        if (r == (size_t)-2) { /* the character goes on */
            pending = 1;
            continue;
        }
        if (r == (size_t)-1) { /* not a character here */
            memset(&st, 0, sizeof st);
            if (pending) unread = b; /* a character cut short: U+FFFD, then this byte anew */
            pending = 0;
            return 0xFFFD;
        }
        pending = 0;
        return r == 0 ? 0 : (int)w;
    }
}

/* The locale of the terminal's characters (LC_CTYPE only: numbers are still read and
 * printed the C way): the user's, or C.UTF-8 where that is the plain C locale (LANG unset,
 * as in a container), where no byte above 127 is a character. */
static void tty_locale(void) {
    const char *l = setlocale(LC_CTYPE, "");
    if (!l || strcmp(l, "C") == 0 || strcmp(l, "POSIX") == 0)
        if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "C");
}

/* The next line (malloc'd, without its newline), or NULL at the end of input or on Ctrl-C
 * (then `interrupted` is set; at a terminal the line typed before the Ctrl-C may be
 * returned, and the caller drops it). *nul is the column of the line's first NUL byte, or 0
 * (read from a pipe: the C string ends there, and the rest of the line was silently lost). */
static char *read_line(Session *S, const char *prompt, int *nul) {
    *nul = 0;
    if (S->tty) {
        char *l = readline(prompt);
        if (l && !interrupted) history_add(l);
        return l;
    }
    char *buf = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&buf, &cap, stdin);
    if (n < 0) { /* the end of the input, or an error, which is not one (a directory, a closed
                    descriptor, an I/O error: the session ended there with status 0, as if
                    the script had run to its end) */
        if (ferror(stdin) && !interrupted) {
            diag_tool_error("cannot read standard input: %s", strerror(errno ? errno : EIO));
            S->read_failed = 1;
        }
        free(buf);
        return NULL;
    }
    if (n && buf[n - 1] == '\n') buf[--n] = 0;
    if (n && buf[n - 1] == '\r') buf[--n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0) {
            if (!*nul) *nul = 1 + diag_cols(buf, (size_t)i); /* its column, in characters */
            buf[i] = ' '; /* for the line quoted under the error */
        }
    return buf;
}

/* A line with a NUL byte at column col: refused with a located error, and the statement it
 * would have continued is dropped with it. */
static void refuse_nul(Session *S, const char *line, int col, int continued) {
    const char *fname = register_text(S, "<repl>", line, S->line)->name;
    diag_error(&S->d, (Loc){fname, S->line, col}, "unexpected byte 0x00 (a NUL): the line is not read%s",
               continued ? ", nor the statement it continues" : "");
}

/* ---- the session loop ------------------------------------------------------------------- */

static int is_blank(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    return *s == 0 || *s == '#';
}

/* Whether a line typed after a Python block's header (def f(x):, if ...:) is its body, as
 * the lexer skips it in a file: it begins indented, or with Python's `else` or `elif` (the
 * word whole: `elsewhere = 4` and `else_` are what they are), not bound (`else = 3`). */
static int py_body_line(const char *s) {
    if (s[0] == ' ' || s[0] == '\t') return 1;
    if (strncmp(s, "else", 4) != 0 && strncmp(s, "elif", 4) != 0) return 0;
    if (isalnum((unsigned char)s[4]) || s[4] == '_') return 0;
    s += 4 + strspn(s + 4, " \t");
    return *s != '=' || s[1] == '=';
}

int repl_main(int argc, char **argv) {
    const char *file = NULL;
    int f64 = 1, show_f64 = 0;
    uint64_t seed = 0;
    JitKind jit = JIT_TCC;
    static const char repl_usage[] = "usage: bpc repl [FILE.bp] [--f32 | --f64] [--seed N] [--jit tcc|cc]\n";
    for (int i = 1; i < argc; i++) /* --help (or -h) prints the usage, as after every command */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(repl_usage, stdout);
            return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
        }
    for (int i = 1; i < argc; i++) {
        int v;
        if (strcmp(argv[i], "--f64") == 0) show_f64 = 1;
        else if (strcmp(argv[i], "--f32") == 0) f64 = 0;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc && parse_count(argv[i + 1], &v) == 0) {
            seed = (uint64_t)v;
            i++;
        } else if (strcmp(argv[i], "--jit") == 0 && i + 1 < argc &&
                   (strcmp(argv[i + 1], "tcc") == 0 || strcmp(argv[i + 1], "cc") == 0)) {
            jit = strcmp(argv[++i], "cc") == 0 ? JIT_CC : JIT_TCC;
        } else if (argv[i][0] != '-' && !file) file = argv[i];
        else { /* what is wrong, then the usage */
            const char *o = argv[i];
            if (o[0] != '-') fprintf(stderr, "bpc: repl takes one FILE.bp ('%s' is a second)\n", o);
            else if ((strcmp(o, "--seed") == 0 || strcmp(o, "--jit") == 0) && i + 1 < argc) {
                char msg[400];
                drv_bad_value(msg, sizeof msg, o, argv[i + 1], NULL, option_wants(o));
                fprintf(stderr, "bpc: %s\n", msg);
            } else if (strcmp(o, "--seed") == 0 || strcmp(o, "--jit") == 0)
                fprintf(stderr, "bpc: %s needs a value\n", o); /* as on the command line */
            else fprintf(stderr, "bpc: unknown option '%s'\n", o);
            fputs(repl_usage, stderr);
            return 2;
        }
    }
    if (show_f64 && !f64) { /* --f64 printed nothing in full in a float session, without a word */
        fprintf(stderr, "bpc: --f32 and --f64 both say the precision; use one\n%s", repl_usage);
        return 2;
    }
    (void)bprt_threads(); /* BPRT_NUM_THREADS and BPRT_ISA read now: a warning about either */
    (void)bprt_isa();     /* comes before the session */
    Session S;
    int tty = isatty(0);
    session_init(&S, f64, seed, jit, tty, 0);
    S.show_f64 = show_f64 && f64;
    setvbuf(stdout, NULL, _IOLBF, 0); /* keeps results and diagnostics in order in a log */
    diag_set_tool_prefix(""); /* "error: ...", :train's and :step's alike: no "bpc: " inside the session */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: a Ctrl-C cuts short what waits (the read of a script's next line from a
       pipe, the open of a FIFO :load names); writes to stdout are taken up again (main.c) */
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    if (tty) {
        tty_locale(); /* before libedit's set-up, which reads it */
        rl_getc_function = read_key; /* before history_setup: libedit takes it at its set-up */
        /* libedit draws the line through a stream of its own on standard output (a real one:
           it takes its descriptor for the terminal's size): a Ctrl-C that landed in a redraw
           failed stdout itself (the session then ended with 'cannot write to standard output'
           and status 1) */
        int fd = fcntl(1, F_DUPFD_CLOEXEC, 3); /* (not 0 to 2, when one of them is closed) */
        FILE *editor_out = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!editor_out && fd >= 0) close(fd);
        rl_outstream = editor_out ? editor_out : stdout;
        rl_readline_name = "bpc";
        rl_attempted_completion_function = complete;
        rl_basic_word_break_characters = " \t\n\"'()[],;=+-*/@^<>";
        completing = &S;
        history_setup();
        printf("bpc %s: statements define, expressions print, :help lists the commands, Ctrl-D leaves\n", BPC_VERSION);
    }
    int failed = 0;
    if (file && cmd_load(&S, file) != 0) failed = 1;
    char *chunk = NULL;
    size_t clen = 0;
    int start = 0;
    while (!S.quit) {
        if (!S.out_errno) { /* the last input's output: what is left of it flushed now, so that
                               errno is that write's; else the last call's (the failed write's,
                               unless a later call set errno) */
            const int last = errno;
            errno = 0;
            if (fflush(stdout) != 0 || ferror(stdout)) S.out_errno = errno ? errno : last ? last : EIO;
        }
        interrupted = 0;
        errno = 0;
        int nul;
        char *line = read_line(&S, clen ? "..> " : "bp> ", &nul);
        if (interrupted && tty) { /* Ctrl-C at the prompt: drop what was typed */
            if (!line) printf("\n"); /* a returned line has ended its own */
            free(line);
            clen = 0;
            continue;
        }
        if (!line && tty && clen && !interrupted) { /* Ctrl-D at ..>: ends the statement, not the session */
            printf("\n");
            if (enter_text(&S, "<repl>", chunk, start) != 0) failed = 1;
            clen = 0;
            continue;
        }
        if (!line) {
            if (interrupted || S.read_failed) failed = 1;
            break;
        }
        S.line++;
        if (nul) {
            refuse_nul(&S, line, nul, clen != 0);
            failed = 1;
            clen = 0;
            free(line);
            continue;
        }
        const char *first = line + strspn(line, " \t");
        if (clen && *first == ':') { /* a command ends an unfinished statement (reported as such) */
            if (enter_text(&S, "<repl>", chunk, start) != 0) failed = 1;
            clen = 0;
        }
        if (!clen) {
            if (is_blank(line)) {
                free(line);
                continue;
            }
            if (*first == ':') {
                completing = &S;
                if (run_command(&S, line) != 0) failed = 1;
                free(line);
                continue;
            }
            start = S.line;
        }
        size_t n = strlen(line);
        chunk = realloc(chunk, clen + n + 2);
        if (!chunk) abort();
        memcpy(chunk + clen, line, n);
        clen += n;
        chunk[clen++] = '\n';
        chunk[clen] = 0;
        free(line);
        if (S.py_block && py_body_line(chunk)) {
            clen = 0; /* the body of def f(x):, if ...: (said once, at its header), dropped line by line: an */
            continue; /* unclosed '(' in it took the lines after it as its own */
        }
        if (parse_is_incomplete(chunk)) continue;
        if (enter_text(&S, "<repl>", chunk, start) != 0) failed = 1;
        clen = 0;
    }
    if (clen && !S.quit && enter_text(&S, "<repl>", chunk, start) != 0) failed = 1; /* the input ended inside a statement */
    if (tty && !S.quit) printf("\n");
    free(chunk);
    const int out_errno = S.out_errno;
    session_free(&S);
    sigaction(SIGINT, &old, NULL);
    diag_set_tool_prefix("bpc: ");
    if (out_errno) errno = out_errno; /* for main's check of stdout, which says why it failed */
    return failed ? 1 : 0;
}
