/* sema.c — see sema.h. Name resolution, def inlining, lowering of built-ins, shapes.
 *
 * Statements are processed in order; a name must be bound before it is used (a later
 * binding of the same name is an error, so every name has one meaning). A def is expanded
 * at each call in a scope holding its parameters (and, for the block form, its locals);
 * globals stay visible. Recursion is refused, since inlining it would not terminate. A def
 * is also checked where it is defined, so that a broken one is reported even if never
 * called (its calls, locals and cycles; see check_def); its calls then fail quietly. An error
 * in a def's expansion is followed by a note at each call being expanded, innermost first
 * (each call is a context of the diagnostics while its body is lowered). */
#include "sema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nametab.h"
#include "suggest.h"

#define MAX_CALL_DEPTH 32
/* The operations a program may reach as its defs are inlined: each call copies a def's
 * body, so defs that call the one before twice, nested N deep, make 2^N copies (N = 20 took
 * 14 GB before it was stopped); the examples have at most a few hundred */
#define MAX_EXPANDED_NODES 100000
/* The defs a recursion's message names between the def and its call of itself: the first and
 * the last half of them when there are more (a cycle through 30000 defs made a message of
 * 30000 names, by concatenation: 27 s and 4.2 GB) */
#define CYCLE_SHOWN 10
/* The most arguments a generated function may take: each input, output and symbolic size is
 * one (NAME_forward takes params, its inputs, its outputs, the sizes and ws; the training
 * step's helper NAME_step_, emitted when an update is fused into a GEMM, params, opt_state,
 * grad, the inputs, the sizes, ws, lr and the flag it sets once it updated: counted whether
 * or not a program has one), and tcc takes at most 254 in a call ("memory full (vstack)"):
 * 300 inputs made C that tcc did not compile and the JIT could not run */
#define MAX_API_ARGS 252

typedef struct Binding {
    const char *name;
    int node;            /* value bindings */
    const Stmt *def;     /* def bindings */
    Loc loc;
    int broken;          /* a def with an error, reported where it is defined: its calls fail quietly */
} Binding;

typedef struct Scope {
    Binding *items;
    int n, cap;
    NameTab index;       /* name -> the index of its newest binding */
    struct Scope *parent;
} Scope;

typedef struct Sema {
    Arena *a;
    Diag *d;
    Graph *g;
    Scope global;
    const Program *prog; /* for naming a later definition of an unknown name */
    NameTab named;       /* name -> the first statement of prog defining it (named_stmts) */
    int *named_next;     /* per statement: the next one defining the same name, or -1 */
    NameTab called_early; /* names a def's body calls before they are bound (defined further down) */
    NameTab walked;      /* def name -> the last search for a cycle (calls_itself) that reached it */
    int nwalks;          /* searches for a cycle so far */
    const Stmt *calls[MAX_CALL_DEPTH];
    int ncalls;
    int ndropout;        /* dropout calls so far: each one's mask is its own RNG stream */
    int ignore_checkpoint; /* SemaOptions.ignore_checkpoint */
    int expansion_stopped; /* a limit of inlining was reported: no call is expanded after it */
} Sema;

/* The newest binding of name in s (or, unless local_only, its parents): hashed, so that a
 * program of 100000 bindings is not 10^10 comparisons of names */
static Binding *scope_find(Scope *s, const char *name, int local_only) {
    for (; s; s = local_only ? NULL : s->parent) {
        int k = nametab_get(&s->index, name, -1);
        if (k >= 0) return &s->items[k];
    }
    return NULL;
}

static void scope_add(Sema *S, Scope *s, Binding b) {
    ARENA_PUSH(S->a, s->items, s->n, s->cap, b);
    nametab_put(S->a, &s->index, b.name, s->n - 1);
}

/* ---- built-in function table: name and parameters ("name" or "name=default") ---- */
typedef enum Builtin {
    B_UNARY, B_LEAKY, B_MAXIMUM, B_MINIMUM, B_SUM, B_MEAN, B_MAX, B_LSE, B_SOFTMAX,
    B_LOG_SOFTMAX, B_TRANSPOSE, B_RESHAPE, B_CONCAT, B_MSE, B_BCE, B_BCE_LOGITS, B_CE, B_NLL,
    B_CONV2D, B_POOL, B_LAYERNORM, B_EMBEDDING, B_CAUSAL_MASK, B_DROPOUT,
} Builtin;

typedef struct BuiltinSpec {
    const char *name;
    Builtin kind;
    Op op;
    int nparams;
    const char *params[4];
} BuiltinSpec;

static const BuiltinSpec builtins[] = {
    {"exp", B_UNARY, OP_EXP, 1, {"x"}},
    {"log", B_UNARY, OP_LOG, 1, {"x"}},
    {"sqrt", B_UNARY, OP_SQRT, 1, {"x"}},
    {"abs", B_UNARY, OP_ABS, 1, {"x"}},
    {"sin", B_UNARY, OP_SIN, 1, {"x"}},
    {"cos", B_UNARY, OP_COS, 1, {"x"}},
    {"tanh", B_UNARY, OP_TANH, 1, {"x"}},
    {"sigmoid", B_UNARY, OP_SIGMOID, 1, {"x"}},
    {"relu", B_UNARY, OP_RELU, 1, {"x"}},
    {"gelu", B_UNARY, OP_GELU, 1, {"x"}},
    {"softplus", B_UNARY, OP_SOFTPLUS, 1, {"x"}},
    {"leaky_relu", B_LEAKY, OP_LEAKY_RELU, 2, {"x", "alpha=0.01"}},
    {"maximum", B_MAXIMUM, OP_MAXIMUM, 2, {"a", "b"}},
    {"minimum", B_MINIMUM, OP_MINIMUM, 2, {"a", "b"}},
    {"sum", B_SUM, OP_SUM, 3, {"x", "axis=", "keepdims=0"}},
    {"mean", B_MEAN, OP_SUM, 3, {"x", "axis=", "keepdims=0"}},
    {"max", B_MAX, OP_MAX, 3, {"x", "axis=", "keepdims=0"}},
    {"logsumexp", B_LSE, OP_LOGSUMEXP, 3, {"x", "axis=", "keepdims=0"}},
    {"softmax", B_SOFTMAX, OP_SOFTMAX, 2, {"x", "axis=-1"}},
    {"log_softmax", B_LOG_SOFTMAX, OP_LOG_SOFTMAX, 2, {"x", "axis=-1"}},
    {"transpose", B_TRANSPOSE, OP_TRANSPOSE, 1, {"x"}},
    {"reshape", B_RESHAPE, OP_RESHAPE, 2, {"x", "shape"}},
    {"concat", B_CONCAT, OP_CONCAT, 3, {"a", "b", "axis=0"}},
    {"mse", B_MSE, OP_SUM, 2, {"pred", "target"}},
    {"bce", B_BCE, OP_SUM, 2, {"prob", "target"}},
    {"bce_logits", B_BCE_LOGITS, OP_SUM, 2, {"logits", "target"}},
    {"cross_entropy", B_CE, OP_CROSS_ENTROPY, 2, {"logits", "labels"}},
    {"nll", B_NLL, OP_NLL, 2, {"logprobs", "labels"}},
    {"conv2d", B_CONV2D, OP_CONV2D, 4, {"x", "W", "stride=1", "padding=0"}},
    {"maxpool2d", B_POOL, OP_MAXPOOL2D, 3, {"x", "k", "stride="}},
    {"avgpool2d", B_POOL, OP_AVGPOOL2D, 3, {"x", "k", "stride="}},
    {"layernorm", B_LAYERNORM, OP_LAYERNORM, 4, {"x", "gamma", "beta", "eps=1e-5"}},
    {"embedding", B_EMBEDDING, OP_EMBEDDING, 2, {"table", "ids"}},
    {"causal_mask", B_CAUSAL_MASK, OP_CAUSAL_MASK, 1, {"scores"}},
    {"dropout", B_DROPOUT, OP_DROPOUT, 2, {"x", "p"}},
};

const char *sema_builtin_name(int i) {
    return i >= 0 && (size_t)i < sizeof builtins / sizeof builtins[0] ? builtins[i].name : NULL;
}

static const BuiltinSpec *find_builtin(const char *name) {
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
    return NULL;
}

static int lower(Sema *S, Scope *sc, const Expr *e);

/* What ends an "unknown name" message: "; did you mean 'h'?" for the nearest (suggest.h)
 * value visible in sc (bindings, inputs, parameters, a def's parameters and locals) or
 * dimension name; "" if none is near. */
static const char *near_value(Sema *S, Scope *sc, const char *name) {
    Suggest sg;
    suggest_init(&sg, name);
    for (Scope *s = sc; s; s = s->parent)
        for (int i = s->n - 1; i >= 0; i--)
            if (!s->items[i].def) suggest_offer(&sg, s->items[i].name);
    for (int k = 0; k < S->g->syms.n; k++) suggest_offer(&sg, S->g->syms.names[k]);
    return sg.best ? arena_printf(S->a, "; did you mean '%s'?", sg.best) : "";
}

/* The same for a function: a def visible in sc one letter away (a typo of the user's own:
 * `step` for a def `steps`), else what bpc writes for a PyTorch or NumPy one (`add` is
 * x + y, though a def `adder` is near), else the nearest def or built-in. */
static const char *near_function(Sema *S, Scope *sc, const char *name) {
    Suggest sg;
    suggest_init(&sg, name);
    for (Scope *s = sc; s; s = s->parent)
        for (int i = s->n - 1; i >= 0; i--)
            if (s->items[i].def) suggest_offer(&sg, s->items[i].name);
    if (sg.best && sg.dist <= 1) return arena_printf(S->a, "; did you mean '%s'?", sg.best);
    const char *torch = suggest_torch_function(name);
    if (torch) return arena_printf(S->a, "; %s", torch);
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) suggest_offer(&sg, builtins[i].name);
    return sg.best ? arena_printf(S->a, "; did you mean '%s'?", sg.best) : "";
}

/* The first statement of the program that defines `name` (a value, input, param or def), as
 * an index into S->prog->stmts, or -1; S->named_next[i] is the next one after statement i.
 * Indexed by name at the first call, so that defs calling one defined further down, or
 * unknown names, do not each scan the whole program. */
static int named_stmts(Sema *S, const char *name) {
    if (!S->prog) return -1;
    if (!S->named_next) {
        S->named_next = arena_alloc(S->a, ((size_t)S->prog->nstmts + 1) * sizeof *S->named_next);
        for (int i = S->prog->nstmts - 1; i >= 0; i--) { /* last first: each name keeps its first */
            const Stmt *st = S->prog->stmts[i];
            S->named_next[i] = -1;
            if ((st->kind == ST_BIND || st->kind == ST_DEF || st->kind == ST_INPUT || st->kind == ST_PARAM) &&
                st->name) {
                int *first = nametab_ref(S->a, &S->named, st->name, -1);
                S->named_next[i] = *first;
                *first = i;
            }
        }
    }
    return nametab_get(&S->named, name, -1);
}

/* Reports an unknown name or function (what: "name" or "function") at a point where sc
 * is visible; says so when it is defined further down, else names a near one. */
static void unknown_name(Sema *S, Scope *sc, Loc loc, const char *name, const char *what) {
    for (int i = named_stmts(S, name); i >= 0; i = S->named_next[i]) {
        const Stmt *st = S->prog->stmts[i];
        if (st->name_loc.line > loc.line || (st->name_loc.line == loc.line && st->name_loc.col > loc.col)) {
            diag_error(S->d, loc, "'%s' is used before its definition (at %d:%d)", name, st->name_loc.line,
                       st->name_loc.col);
            return;
        }
    }
    const char *hint = strcmp(what, "function") == 0 ? near_function(S, sc, name)
                       : strcmp(name, "True") == 0         ? "; there are no booleans: write 1" /* Python's */
                       : strcmp(name, "False") == 0        ? "; there are no booleans: write 0"
                       : strcmp(name, "None") == 0         ? "; there is no None: every value is a number or a tensor"
                       : strcmp(name, "pi") == 0           ? "; write 3.141592653589793"
                       : strcmp(name, "inf") == 0          ? "; write 1 / 0 (or a large number such as 1e30)"
                       : strcmp(name, "nan") == 0          ? "; write 0 / 0"
                                                           : near_value(S, sc, name);
    diag_error(S->d, loc, "unknown %s '%s'%s", what, name, hint);
}

/* ---- constants in argument position ---- */
static int is_name(const Expr *e, const char *name) { return e->kind == EX_NAME && strcmp(e->name, name) == 0; }

static int const_value(const Expr *e, double *v) {
    if (!e) return 0;
    if (e->kind == EX_NUM) {
        *v = e->num;
        return 1;
    }
    if (e->kind == EX_NEG && const_value(e->lhs, v)) {
        *v = -*v;
        return 1;
    }
    return 0;
}

/* A constant as written (a literal, or '-' before one), for messages: a dimension is an
 * integer, and %g wrote 9223372036854775807 as 9.22337203685478e+18. At most 40 characters
 * of a literal, as the lexer quotes one. */
static const char *written(Sema *S, const Expr *e) {
    if (e->kind == EX_NEG) return arena_printf(S->a, "-%s", written(S, e->lhs));
    if (!e->text) return arena_printf(S->a, "%.17g", e->num);
    return strlen(e->text) > 40 ? arena_printf(S->a, "%.40s...", e->text) : e->text;
}

static int const_int(Sema *S, const Expr *e, const char *what, const char *fn, int *out) {
    double v;
    if (e->kind == EX_LIST && e->nitems > 0 && (strcmp(fn, "conv2d") == 0 || strcmp(fn, "maxpool2d") == 0 ||
                                                strcmp(fn, "avgpool2d") == 0)) {
        /* PyTorch's stride=(2, 2), padding=(1, 1), kernel_size=(2, 2): said "must be an integer constant" */
        int same = 1;
        double first, w;
        for (int i = 0; i < e->nitems && same; i++)
            same = const_value(e->items[i], &w) && (i == 0 ? (first = w, 1) : w == first);
        if (same)
            diag_error(S->d, e->loc, "argument '%s' of '%s' is one integer, the same along both axes: write %s = %s",
                       what, fn, what, written(S, e->items[0]));
        else
            diag_error(S->d, e->loc, "argument '%s' of '%s' is one integer, the same along both axes", what, fn);
        return 0;
    }
    if (!const_value(e, &v) || v != floor(v)) {
        diag_error(S->d, e->loc, "argument '%s' of '%s' must be an integer constant", what, fn);
        return 0;
    }
    if (fabs(v) > 1e6) { /* a range limit, not a kind: said as such */
        diag_error(S->d, e->loc, "argument '%s' of '%s' is %s; it must be at most 1000000 in magnitude", what, fn,
                   written(S, e));
        return 0;
    }
    *out = (int)v;
    return 1;
}

static int const_real(Sema *S, const Expr *e, const char *what, const char *fn, double *out) {
    if (!const_value(e, out)) {
        diag_error(S->d, e->loc, "argument '%s' of '%s' must be a number", what, fn);
        return 0;
    }
    return 1;
}

/* PyTorch's and NumPy's names for arguments bpc names otherwise. An entry applies to a
 * function that has the parameter `param` (NULL: any), or to the function `fn` alone. */
static const struct {
    const char *name, *fn, *param;
    const char *advice; /* NULL: "did you mean 'PARAM'?" */
} keyword_aliases[] = {
    {"dim", NULL, "axis", NULL},
    {"keepdim", NULL, "keepdims", NULL},
    {"negative_slope", NULL, "alpha", NULL},
    {"slope", NULL, "alpha", NULL},
    {"kernel_size", NULL, "k", NULL},
    {"momentum", NULL, "beta1", NULL},
    {"learning_rate", NULL, "lr", NULL}, /* Keras's, optax's */
    {"epsilon", NULL, "eps", NULL},
    {"betas", NULL, "beta1", "give beta1= and beta2="},
    {"weight_decay", "adam", NULL, "for weight decay, use adamw(weight_decay=...)"},
    {"reduction", NULL, "target", "a loss is always the mean (reduction='mean')"},
    {"reduction", NULL, "labels", "a loss is always the mean (reduction='mean')"},
};

static int param_is(const char *param, const char *name) {
    size_t len = strcspn(param, "=");
    return strlen(name) == len && strncmp(param, name, len) == 0;
}

/* Reports keyword argument `ar`, which fn's parameters lack: the names fn takes, and
 * PyTorch's name for one of them (keyword_aliases) or the nearest (suggest.h). */
static void unknown_keyword(Sema *S, const Arg *ar, const char *fn, int nparams, const char *const *params) {
    const char *list = "";
    for (int j = 0; j < nparams; j++)
        list = arena_printf(S->a, "%s%s%.*s", list, j ? ", " : "", (int)strcspn(params[j], "="), params[j]);
    const char *hint = "";
    for (size_t i = 0; i < sizeof keyword_aliases / sizeof keyword_aliases[0] && !*hint; i++) {
        if (strcmp(keyword_aliases[i].name, ar->name) != 0) continue;
        if (keyword_aliases[i].fn && strcmp(keyword_aliases[i].fn, fn) != 0) continue;
        int has = !keyword_aliases[i].param;
        for (int j = 0; j < nparams && !has; j++) has = param_is(params[j], keyword_aliases[i].param);
        if (!has) continue;
        hint = keyword_aliases[i].advice ? arena_printf(S->a, "; %s", keyword_aliases[i].advice)
                                         : arena_printf(S->a, "; did you mean '%s'?", keyword_aliases[i].param);
    }
    double b1, b2; /* PyTorch's betas=(0.9, 0.999), written out */
    const Expr *v = ar->value;
    if (strcmp(ar->name, "betas") == 0 && *hint && v->kind == EX_LIST && v->nitems == 2 &&
        const_value(v->items[0], &b1) && const_value(v->items[1], &b2))
        hint = arena_printf(S->a, "; write beta1 = %g, beta2 = %g", b1, b2);
    if (!*hint) {
        Suggest sg;
        suggest_init(&sg, ar->name);
        for (int j = 0; j < nparams; j++)
            suggest_offer(&sg, arena_strndup(S->a, params[j], strcspn(params[j], "=")));
        if (sg.best) hint = arena_printf(S->a, "; did you mean '%s'?", sg.best);
    }
    diag_error(S->d, ar->loc, "'%s' has no argument named '%s' (it takes %s)%s", fn, ar->name,
               nparams ? list : "none", hint);
}

/* Matches a call's arguments to a parameter list; fills argv (NULL = use the default). */
static int bind_args(Sema *S, const Expr *call, int nparams, const char *const *params,
                     const Expr **argv, const char *fn) {
    int npos = 0, seen_kw = 0;
    for (int i = 0; i < nparams; i++) argv[i] = NULL;
    for (int i = 0; i < call->nargs; i++) {
        const Arg *ar = &call->args[i];
        if (!ar->name) {
            if (seen_kw) {
                diag_error(S->d, ar->loc, "positional argument after keyword argument");
                return 0;
            }
            if (npos >= nparams) {
                diag_error(S->d, ar->loc, "'%s' takes %d argument%s, got %d", fn, nparams,
                           nparams == 1 ? "" : "s", call->nargs);
                return 0;
            }
            argv[npos++] = ar->value;
            continue;
        }
        seen_kw = 1;
        int k = -1;
        for (int j = 0; j < nparams; j++)
            if (param_is(params[j], ar->name)) k = j;
        if (k < 0) {
            unknown_keyword(S, ar, fn, nparams, params);
            return 0;
        }
        if (argv[k]) {
            diag_error(S->d, ar->loc, "argument '%s' of '%s' is given twice", ar->name, fn);
            return 0;
        }
        argv[k] = ar->value;
    }
    for (int j = 0; j < nparams; j++)
        if (!argv[j] && !strchr(params[j], '=')) {
            diag_error(S->d, call->loc, "'%s' needs argument '%s'", fn, params[j]);
            return 0;
        }
    return 1;
}

/* Default of parameter j ("axis=-1" -> -1); returns 0 if the default is empty. */
static int param_default(const char *param, double *v) {
    const char *eq = strchr(param, '=');
    if (!eq || !eq[1]) return 0;
    *v = atof(eq + 1);
    return 1;
}

static int real_operand(Sema *S, int id, Loc loc, const char *what) {
    if (id < 0) return -1;
    if (S->g->nodes[id].dtype == DT_INT) {
        const Node *n = &S->g->nodes[id]; /* labels used as a regression target, ids as features */
        if (n->op == OP_INPUT && n->name)
            diag_error(S->d, loc, "integer value cannot be used in '%s'; '%s' is declared ': int' (labels and ids): "
                       "declare it without ': int' to compute with it", what, n->name);
        else
            diag_error(S->d, loc, "integer value cannot be used in '%s'", what);
        return -1;
    }
    return id;
}

/* x / (product of the given dims), for means. */
static int divide_by_dims(Sema *S, int x, const Shape *s, int axis, Loc loc) {
    int64_t c = 1;
    for (int i = 0; i < s->rank; i++) {
        if (axis != AXIS_ALL && i != axis) continue;
        c *= s->d[i].c;
    }
    int r = ir_binary(S->g, OP_DIV, x, ir_const(S->g, (double)c, loc), loc);
    for (int i = 0; i < s->rank; i++) {
        if (axis != AXIS_ALL && i != axis) continue;
        if (s->d[i].sym >= 0) r = ir_binary(S->g, OP_DIV, r, ir_dimval(S->g, dim_sym(s->d[i].sym), loc), loc);
    }
    return r;
}

/* The target of a pairwise loss (mse, bce, bce_logits) may broadcast into the prediction
 * (a constant, or [3] against [B, 3]) but not grow it: [B] against [B, 1] would silently
 * average a [B, B] matrix, where PyTorch raises. Returns y, or -1 after an error; shapes
 * that do not broadcast at all are left to the arithmetic to report. */
static int loss_target(Sema *S, const char *name, int x, int y, Loc loc) {
    if (x < 0 || y < 0) return -1;
    const Graph *g = S->g;
    const Shape *xs = &g->nodes[x].shape, *ys = &g->nodes[y].shape;
    Shape bs;
    if (shape_broadcast(xs, ys, &bs) < 0 || shape_eq(&bs, xs)) return y;
    char s1[160], s2[160], s3[160];
    shape_str(ys, &g->syms, s1, sizeof s1);
    shape_str(xs, &g->syms, s2, sizeof s2);
    diag_error(S->d, loc, "'%s': the target %s and the prediction %s would broadcast to %s; give them the same "
               "shape (a target %s, or a prediction %s)", name, s1, s2, shape_str(&bs, &g->syms, s3, sizeof s3),
               s2, s1);
    return -1;
}

static int mean_all(Sema *S, int x, Loc loc) {
    if (x < 0) return -1;
    Shape s = S->g->nodes[x].shape;
    return divide_by_dims(S, ir_reduce(S->g, OP_SUM, x, AXIS_ALL, 0, loc), &s, AXIS_ALL, loc);
}

/* reshape(x, [d1, ...]) with at most one -1. */
static int lower_reshape(Sema *S, Scope *sc, int x, const Expr *list, Loc loc) {
    if (x < 0) return -1;
    if (!list || list->kind != EX_LIST) {
        diag_error(S->d, list ? list->loc : loc, "the shape of 'reshape' must be a list like [B, -1]");
        return -1;
    }
    (void)sc;
    const Shape *xs = &S->g->nodes[x].shape;
    int ovf;
    int64_t xc = shape_const_numel(xs, &ovf);
    int xsyms[BP_MAXSYMS] = {0};
    for (int i = 0; i < xs->rank; i++)
        if (xs->d[i].sym >= 0 && xs->d[i].c) xsyms[xs->d[i].sym]++;
    if (list->nitems > BP_MAXRANK) {
        diag_error(S->d, list->loc, "reshape to more than %d dimensions", BP_MAXRANK);
        return -1;
    }
    Shape t;
    memset(&t, 0, sizeof t);
    t.rank = list->nitems;
    int infer = -1;
    int64_t tc = 1;
    int tsyms[BP_MAXSYMS] = {0};
    for (int i = 0; i < list->nitems; i++) {
        const Expr *it = list->items[i];
        double v;
        if (it->kind == EX_NAME) {
            int s = -1;
            for (int k = 0; k < S->g->syms.n; k++)
                if (strcmp(S->g->syms.names[k], it->name) == 0) s = k;
            if (s < 0) {
                diag_error(S->d, it->loc, "'%s' is not a dimension name", it->name);
                return -1;
            }
            t.d[i] = dim_sym(s);
            tsyms[s]++;
        } else if (const_value(it, &v) && v == floor(v) && (v >= 1 || v == -1) && v <= (double)BP_MAXDIM) {
            if (v == -1) {
                if (infer >= 0) {
                    diag_error(S->d, it->loc, "only one -1 is allowed in a reshape");
                    return -1;
                }
                infer = i;
            } else {
                t.d[i] = dim_const((int64_t)v);
                /* saturated before the product: three sizes of 2^31 - 1 overflowed int64_t */
                tc = tc > BP_MAXELEMS / (int64_t)v ? BP_MAXELEMS + 1 : tc * (int64_t)v;
            }
        } else if (const_value(it, &v) && v == floor(v) && v > (double)BP_MAXDIM) {
            diag_error(S->d, it->loc, "dimension %s is too large (limit %lld)", written(S, it), (long long)BP_MAXDIM);
            return -1;
        } else {
            diag_error(S->d, it->loc, "reshape dimensions must be positive integers, names or -1");
            return -1;
        }
    }
    char s1[160], s2[160];
    int sym_left = -1, ok = 1, left = 0;
    for (int k = 0; k < BP_MAXSYMS; k++) {
        int diff = xsyms[k] - tsyms[k];
        if (diff == 0) continue;
        left += diff > 0 ? diff : 0;
        if (infer >= 0 && diff == 1 && sym_left < 0) sym_left = k;
        else ok = 0;
    }
    if (infer >= 0) {
        if (!ok || tc == 0 || xc % tc != 0) {
            t.d[infer] = dim_const(-1); /* printed as written */
            diag_error(S->d, loc, "cannot reshape %s to %s%s", shape_str(xs, &S->g->syms, s1, sizeof s1),
                       shape_str(&t, &S->g->syms, s2, sizeof s2),
                       left > 1 ? ": the -1 would stand for a product of symbolic sizes, and a size is a number "
                                  "times at most one of them (keep all but one symbolic size as an axis of its own)"
                                : "");
            return -1;
        }
        t.d[infer].c = xc / tc;
        t.d[infer].sym = sym_left;
        if (t.d[infer].c > BP_MAXDIM) { /* as a declared size: an int in the generated C */
            t.d[infer] = dim_const(-1);
            diag_error(S->d, loc, "cannot reshape %s to %s: the -1 would be %lld, more than the largest size (%lld)",
                       shape_str(xs, &S->g->syms, s1, sizeof s1), shape_str(&t, &S->g->syms, s2, sizeof s2),
                       (long long)(xc / tc), (long long)BP_MAXDIM);
            return -1;
        }
    } else if (!ok || xc != tc) {
        diag_error(S->d, loc, "cannot reshape %s to %s: element counts differ",
                   shape_str(xs, &S->g->syms, s1, sizeof s1), shape_str(&t, &S->g->syms, s2, sizeof s2));
        return -1;
    }
    return ir_reshape(S->g, x, &t, loc);
}

/* a @ b with NumPy's vector cases. When the inner sizes differ but one side transposed
 * would fit (x [B, 784] @ W [256, 784], PyTorch's nn.Linear layout), the message says to
 * write .T there (lhs, rhs: the operands as written, for the side's name). */
static int lower_matmul(Sema *S, int a, int b, const Expr *lhs, const Expr *rhs, Loc loc) {
    a = real_operand(S, a, loc, "@");
    b = real_operand(S, b, loc, "@");
    if (a < 0 || b < 0) return -1;
    Shape sa = S->g->nodes[a].shape, sb = S->g->nodes[b].shape;
    if (sa.rank == 0 || sb.rank == 0) {
        diag_error(S->d, loc, "'@' needs tensors, not scalars (use '*' for scalars)");
        return -1;
    }
    int va = sa.rank == 1, vb = sb.rank == 1;
    Dim ka = sa.d[sa.rank - 1], kb = sb.d[vb ? 0 : sb.rank - 2];
    if (!dim_eq(ka, kb)) {
        char s1[160], s2[160], d1[64], d2[64];
        const char *hint = "";
        const Expr *side = NULL;
        if (sb.rank >= 2 && dim_eq(ka, sb.d[sb.rank - 1]))
            side = rhs;
        else if (sa.rank >= 2 && dim_eq(sa.d[sa.rank - 2], kb))
            side = lhs;
        if (side)
            hint = side->kind == EX_NAME
                       ? arena_printf(S->a, "; the %s side transposed would fit: write %s.T", side == rhs ? "right" : "left",
                                      side->name)
                       : arena_printf(S->a, "; the %s side transposed (.T) would fit", side == rhs ? "right" : "left");
        diag_error(S->d, loc, "matmul shapes %s and %s do not match: %s != %s%s",
                   shape_str(&sa, &S->g->syms, s1, sizeof s1), shape_str(&sb, &S->g->syms, s2, sizeof s2),
                   dim_str(ka, &S->g->syms, d1, sizeof d1), dim_str(kb, &S->g->syms, d2, sizeof d2), hint);
        return -1;
    }
    if (va) {
        Shape s = sa;
        s.rank = 2;
        s.d[0] = dim_const(1);
        s.d[1] = sa.d[0];
        a = ir_reshape(S->g, a, &s, loc);
    }
    if (vb) {
        Shape s = sb;
        s.rank = 2;
        s.d[0] = sb.d[0];
        s.d[1] = dim_const(1);
        b = ir_reshape(S->g, b, &s, loc);
    }
    int r = ir_matmul(S->g, a, b, 0, 0, loc);
    if (r < 0 || (!va && !vb)) return r;
    Shape rs = S->g->nodes[r].shape;
    if (va && vb) rs.rank -= 2;
    else if (va) {
        rs.d[rs.rank - 2] = rs.d[rs.rank - 1];
        rs.rank--;
    } else
        rs.rank--;
    return ir_reshape(S->g, r, &rs, loc);
}

static int lower_call(Sema *S, Scope *sc, const Expr *e);

/* An operand of arithmetic: a real value (an `: int` input's values are labels or ids, and
 * its int32 bits were read as reals: x * p with x = 2 gave 8e-45) */
static int arith_operand(Sema *S, Scope *sc, const Expr *e, const char *what) {
    return real_operand(S, lower(S, sc, e), e->loc, what);
}

static int lower_binary(Sema *S, Scope *sc, const Expr *e) {
    if (e->op == '^') {
        int base = arith_operand(S, sc, e->lhs, "^");
        double v;
        if (const_value(e->rhs, &v) && v == floor(v) && fabs(v) <= 64)
            return ir_unary_attr(S->g, OP_POWI, base, 0, (int)v, e->loc);
        if (const_value(e->rhs, &v) && fabs(v) == 0.5) return ir_pow_scalar(S->g, base, v, e->loc);
        int ex = arith_operand(S, sc, e->rhs, "^");
        return ir_binary(S->g, OP_POW, base, ex, e->loc);
    }
    const char op[2] = {(char)e->op, 0};
    int a = arith_operand(S, sc, e->lhs, op), b = arith_operand(S, sc, e->rhs, op);
    switch (e->op) {
    case '+': return ir_binary(S->g, OP_ADD, a, b, e->loc);
    case '-': return ir_binary(S->g, OP_SUB, a, b, e->loc);
    case '*': return ir_binary(S->g, OP_MUL, a, b, e->loc);
    case '/': return ir_binary(S->g, OP_DIV, a, b, e->loc);
    case '@': return lower_matmul(S, a, b, e->lhs, e->rhs, e->loc);
    default: BP_ASSERT(!"unknown binary operator"); return -1;
    }
}

static int lower_name(Sema *S, Scope *sc, const Expr *e) {
    Binding *b = scope_find(sc, e->name, 0);
    if (b && !b->def) return b->node;
    if (b && b->def) {
        diag_error(S->d, e->loc, "'%s' is a function; call it with arguments", e->name);
        return -1;
    }
    for (int k = 0; k < S->g->syms.n; k++)
        if (strcmp(S->g->syms.names[k], e->name) == 0) return ir_dimval(S->g, dim_sym(k), e->loc);
    if (find_builtin(e->name)) {
        diag_error(S->d, e->loc, "'%s' is a built-in function; call it with arguments", e->name);
        return -1;
    }
    unknown_name(S, sc, e->loc, e->name, "name");
    return -1;
}

static int lower(Sema *S, Scope *sc, const Expr *e) {
    switch (e->kind) {
    case EX_NUM: return ir_const(S->g, e->num, e->loc);
    case EX_NAME: return lower_name(S, sc, e);
    case EX_NEG: return ir_unary(S->g, OP_NEG, arith_operand(S, sc, e->lhs, "-"), e->loc);
    case EX_TRANSPOSE: return ir_transpose(S->g, real_operand(S, lower(S, sc, e->lhs), e->loc, ".T"), e->loc);
    case EX_BINARY: return lower_binary(S, sc, e);
    case EX_CALL: return lower_call(S, sc, e);
    case EX_LIST:
        diag_error(S->d, e->loc, "a %s is only allowed as the shape of 'reshape' or the axes of a reduction",
                   e->tuple ? "tuple (...)" : "list [...]");
        return -1;
    }
    return -1;
}

/* The value of a binding. Under `checkpoint`, every node its expression computes is marked
 * to be recomputed for the backward pass instead of kept (pass_remat.c); a value that
 * computes nothing new (a parameter, an input, a constant, an earlier value) is an error. */
static int lower_binding(Sema *S, Scope *sc, const Stmt *st) {
    if (!st->checkpoint || S->ignore_checkpoint) return lower(S, sc, st->value);
    Graph *g = S->g;
    int saved = g->remat_mode;
    g->remat_mode = REMAT_MARKED;
    int v = lower(S, sc, st->value);
    g->remat_mode = saved;
    if (v < 0 || g->nodes[v].remat == REMAT_MARKED) return v;
    const Node *n = &g->nodes[v];
    if (n->op == OP_PARAM || n->op == OP_INPUT)
        diag_error(S->d, st->checkpoint_loc, "'checkpoint' on '%s' recomputes nothing: its value is the %s '%s', which is stored",
                   st->name, n->op == OP_PARAM ? "parameter" : "input", n->name);
    else if (n->op == OP_CONST || n->op == OP_DIMVAL)
        diag_error(S->d, st->checkpoint_loc, "'checkpoint' on '%s' recomputes nothing: its value is a constant", st->name);
    else
        diag_error(S->d, st->checkpoint_loc, "'checkpoint' on '%s' recomputes nothing: its value is computed before it%s%s%s",
                   st->name, n->name ? " (by '" : "", n->name ? n->name : "", n->name ? "')" : "");
    return v;
}

/* Expands a user def at a call site. */
static int call_def(Sema *S, Scope *sc, const Stmt *def, const Expr *e) {
    if (S->expansion_stopped) return -1; /* reported once: more expansions would repeat it, exponentially */
    if (S->g->n > MAX_EXPANDED_NODES) {
        diag_error(S->d, e->loc, "the program passes %d operations as its defs are inlined (each call copies the "
                   "def's body, so a def calling another twice, nested N deep, makes 2^N copies): bind a call's "
                   "result to a name and use the name", MAX_EXPANDED_NODES);
        S->expansion_stopped = 1;
        return -1;
    }
    for (int i = 0; i < S->ncalls; i++)
        if (S->calls[i] == def) {
            const char *via = "";
            for (int k = i + 1; k < S->ncalls; k++)
                via = arena_printf(S->a, "%s%s'%s'", via, k == i + 1 ? " through " : ", ", S->calls[k]->name);
            diag_error(S->d, e->loc, "'%s' calls itself%s; defs are inlined and cannot be recursive", def->name,
                       via);
            return -1;
        }
    if (S->ncalls == MAX_CALL_DEPTH) {
        diag_error(S->d, e->loc, "defs nested more than %d calls deep", MAX_CALL_DEPTH);
        S->expansion_stopped = 1;
        return -1;
    }
    for (int i = 0; i < e->nargs; i++)
        if (e->args[i].name) {
            int found = 0;
            for (int j = 0; j < def->nparams; j++) found |= strcmp(def->params[j], e->args[i].name) == 0;
            if (!found) {
                unknown_keyword(S, &e->args[i], def->name, def->nparams, def->params);
                return -1;
            }
        }
    const Expr *argv[64];
    if (def->nparams > 64) {
        diag_error(S->d, def->name_loc, "'%s' has %d parameters (limit 64)", def->name, def->nparams);
        return -1;
    }
    if (!bind_args(S, e, def->nparams, def->params, argv, def->name)) return -1;
    Scope local = {0};
    local.parent = &S->global;
    for (int j = 0; j < def->nparams; j++) {
        int v = lower(S, sc, argv[j]);
        if (v < 0) return -1;
        scope_add(S, &local, (Binding){def->params[j], v, NULL, def->param_locs[j], 0});
    }
    S->calls[S->ncalls++] = def;
    const char *note = arena_printf(S->a, "in this call of '%s'", def->name);
    diag_push_context(S->d, e->loc, note);
    Graph *g = S->g;
    CallSite *site = arena_alloc(S->a, sizeof *site); /* the body's nodes keep it (ir.h) */
    *site = (CallSite){e->loc, note, g->call_mode};
    const CallSite *outer = g->call_mode;
    g->call_mode = site;
    int saved = g->remat_mode;
    if (def->checkpoint && !S->ignore_checkpoint) g->remat_mode = REMAT_MARKED;
    int r = -1, ok = 1;
    for (int i = 0; i < def->nbody && ok; i++) {
        const Stmt *st = def->body[i];
        if (st->kind == ST_BIND) {
            if (scope_find(&local, st->name, 1)) {
                diag_error(S->d, st->name_loc, "'%s' is already defined in '%s'", st->name, def->name);
                ok = 0;
                break;
            }
            int v = lower_binding(S, &local, st);
            if (v < 0) ok = 0;
            scope_add(S, &local, (Binding){st->name, v, NULL, st->name_loc, 0});
        }
    }
    if (ok && def->value) r = lower(S, &local, def->value);
    g->remat_mode = saved;
    /* `checkpoint def`: the body is recomputed, its result kept (it is usually the next
     * call's argument), unless a checkpoint binding asked for the value itself. The node
     * was just made, and sema's graph does no hash-consing, so its mark may change. */
    if (def->checkpoint && saved != REMAT_MARKED && r >= 0 && g->nodes[r].remat == REMAT_MARKED) {
        BP_ASSERT(!g->cse);
        g->nodes[r].remat = REMAT_NONE;
    }
    g->call_mode = outer;
    diag_pop_context(S->d);
    S->ncalls--;
    return r;
}

/* conv2d(x, W, stride, padding): one CONV2D node (runtime/conv.c), with its own gradient
 * ops (ops.c). */
static int lower_conv2d(Sema *S, Scope *sc, const Expr **argv, Loc loc) {
    int stride = 1, pad = 0;
    if (argv[2] && !const_int(S, argv[2], "stride", "conv2d", &stride)) return -1;
    if (argv[3] && !const_int(S, argv[3], "padding", "conv2d", &pad)) return -1;
    if (stride < 1 || pad < 0) {
        diag_error(S->d, loc, "'conv2d' needs stride >= 1 and padding >= 0, got stride = %d, padding = %d", stride, pad);
        return -1;
    }
    int x = real_operand(S, lower(S, sc, argv[0]), loc, "conv2d");
    int w = real_operand(S, lower(S, sc, argv[1]), loc, "conv2d");
    return ir_conv2d(S->g, x, w, stride, pad, loc);
}

/* layernorm's gamma or beta (node p) against what it multiplies or is added to (node v,
 * called `with`): 1 if they broadcast, else an error in layernorm's terms (it said "cannot
 * broadcast ... in '*'", an operator the user never wrote). */
static int layernorm_affine(Sema *S, int v, int p, const char *what, const char *with, Loc loc) {
    Shape o;
    const Shape *sv = &S->g->nodes[v].shape, *sp = &S->g->nodes[p].shape;
    if (shape_broadcast(sv, sp, &o) == 0) return 1;
    char s1[160], s2[160], why[160];
    diag_error(S->d, loc, "layernorm's %s %s does not broadcast with %s %s (%s)", what,
               shape_str(sp, &S->g->syms, s1, sizeof s1), with, shape_str(sv, &S->g->syms, s2, sizeof s2),
               shape_broadcast_why(sp, sv, &S->g->syms, why, sizeof why));
    return 0;
}

/* keepdims= of a reduction: 0 or 1 (LANGUAGE.md), True and False named as such */
static int keepdims_arg(Sema *S, const BuiltinSpec *bs, const Expr *e, int *keep) {
    double dv;
    if (!const_value(e, &dv)) {
        diag_error(S->d, e->loc, "argument 'keepdims' of '%s' must be 0 or 1%s", bs->name,
                   is_name(e, "True")    ? " (True is written 1)"
                   : is_name(e, "False") ? " (False is written 0)"
                                         : "");
        return 0;
    }
    if (dv != 0 && dv != 1) { /* 2 was taken as 1 */
        diag_error(S->d, e->loc, "argument 'keepdims' of '%s' must be 0 or 1, got %g", bs->name, dv);
        return 0;
    }
    *keep = dv == 1;
    return 1;
}

/* sum, mean, max, logsumexp over several axes, axis=[0, 2] or (0, 2) as in NumPy and PyTorch:
 * one reduction per axis, the highest first (so that the others keep their numbers), as
 * sum(sum(x, axis=2), axis=0); mean divides the sum by the axes' sizes once. The axes must be
 * distinct; an empty list reduces nothing, which is an error here (omit axis for all). */
static int lower_reduce_axes(Sema *S, Scope *sc, const BuiltinSpec *bs, const Expr **argv, Loc loc) {
    Graph *g = S->g;
    const Expr *al = argv[1];
    int axes[BP_MAXRANK], written[BP_MAXRANK], keep = 0;
    if (al->nitems == 0) {
        diag_error(S->d, al->loc, "axis %s names no axis; omit axis to reduce over every axis", al->tuple ? "()" : "[]");
        return -1;
    }
    if (al->nitems > BP_MAXRANK) {
        diag_error(S->d, al->loc, "axis names %d axes; a tensor has at most %d", al->nitems, BP_MAXRANK);
        return -1;
    }
    for (int k = 0; k < al->nitems; k++)
        if (!const_int(S, al->items[k], "axis", bs->name, &axes[k])) return -1;
    if (argv[2] && !keepdims_arg(S, bs, argv[2], &keep)) return -1;
    int x = real_operand(S, lower(S, sc, argv[0]), loc, bs->name);
    if (x < 0) return -1;
    const Shape xs = g->nodes[x].shape;
    for (int k = 0; k < al->nitems; k++) {
        int a = shape_axis(&xs, axes[k]);
        if (a < 0) {
            char s1[160];
            diag_error(S->d, al->items[k]->loc, "axis %d is out of range for shape %s", axes[k],
                       shape_str(&xs, &g->syms, s1, sizeof s1));
            return -1;
        }
        for (int j = 0; j < k; j++)
            if (axes[j] == a) {
                if (written[j] == axes[k]) diag_error(S->d, al->items[k]->loc, "axis %d is given twice", axes[k]);
                else diag_error(S->d, al->items[k]->loc, "axis %d is axis %d again (of %d axes)", axes[k], written[j],
                                xs.rank);
                return -1;
            }
        written[k] = axes[k];
        axes[k] = a;
    }
    /* highest first: insertion sort of at most BP_MAXRANK */
    for (int k = 1; k < al->nitems; k++)
        for (int j = k; j > 0 && axes[j] > axes[j - 1]; j--) {
            int t = axes[j];
            axes[j] = axes[j - 1];
            axes[j - 1] = t;
        }
    /* adjacent axes (every one, (1, 2) of [B, C, H, W]) with at most one symbolic size are one
     * reduction over their product, as PyTorch's: max shares the gradient among all the tied
     * maxima (a chain shares it per step), logsumexp subtracts one maximum */
    const int n = al->nitems, lo = axes[n - 1], hi = axes[0];
    int nsym = 0, r = x;
    for (int a = lo; a <= hi; a++) nsym += xs.d[a].sym >= 0;
    if (n == xs.rank) r = ir_reduce(g, bs->op, x, AXIS_ALL, keep, loc);
    else if (hi - lo == n - 1 && nsym <= 1) {
        Shape m = xs, kept = xs;
        m.rank = xs.rank - (n - 1);
        m.d[lo] = (Dim){1, -1};
        for (int a = lo; a <= hi; a++) {
            m.d[lo].c *= xs.d[a].c;
            if (xs.d[a].sym >= 0) m.d[lo].sym = xs.d[a].sym;
            kept.d[a] = (Dim){1, -1};
        }
        for (int a = hi + 1; a < xs.rank; a++) m.d[a - (n - 1)] = xs.d[a];
        r = ir_reduce(g, bs->op, ir_reshape(g, x, &m, loc), lo, 0, loc);
        if (keep && r >= 0) r = ir_reshape(g, r, &kept, loc);
    } else
        for (int k = 0; k < n && r >= 0; k++) r = ir_reduce(g, bs->op, r, axes[k], keep, loc);
    for (int k = 0; k < n && r >= 0 && bs->kind == B_MEAN; k++) r = divide_by_dims(S, r, &xs, axes[k], loc);
    return r;
}

static int lower_call(Sema *S, Scope *sc, const Expr *e) {
    Binding *b = scope_find(sc, e->name, 0);
    if (b && b->def) return b->broken ? -1 : call_def(S, sc, b->def, e);
    if (b) {
        diag_error(S->d, e->loc, "'%s' is a value, not a function", e->name);
        return -1;
    }
    const BuiltinSpec *bs = find_builtin(e->name);
    if (!bs) {
        unknown_name(S, sc, e->loc, e->name, "function");
        return -1;
    }
    const Expr *argv[4];
    if (bs->kind == B_CONCAT && e->nargs >= 1 && !e->args[0].name && e->args[0].value->kind == EX_LIST) {
        /* NumPy's and PyTorch's concatenate([a, b]): it said "'concat' needs argument 'b'" */
        diag_error(S->d, e->args[0].loc, "'concat' takes the two tensors as arguments of their own, not a %s: "
                   "concat(a, b, axis = 0)", e->args[0].value->tuple ? "tuple" : "list");
        return -1;
    }
    if (bs->kind == B_RESHAPE && e->nargs > 2 && !e->args[1].name && !e->args[2].name) {
        /* PyTorch's x.reshape(4, 3) / view(4, 3) as a call: it said "'reshape' takes 2 arguments, got 3" */
        diag_error(S->d, e->args[1].loc, "the shape of 'reshape' is one list: reshape(x, [D1, D2, ...])");
        return -1;
    }
    if (bs->kind == B_TRANSPOSE && e->nargs > 1) { /* torch.transpose(x, 0, 1) */
        diag_error(S->d, e->args[1].loc, "'transpose' takes 1 argument, got %d: it swaps the last two axes, as x.T does",
                   e->nargs);
        return -1;
    }
    if (!bind_args(S, e, bs->nparams, bs->params, argv, bs->name)) return -1;
    Graph *g = S->g;
    Loc loc = e->loc;
    int x = -1, y = -1, axis = AXIS_ALL, keep = 0;
    double alpha = 0.01, dv;
    switch (bs->kind) {
    case B_UNARY: return ir_unary(g, bs->op, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), loc);
    case B_LEAKY:
        if (argv[1] && !const_real(S, argv[1], "alpha", bs->name, &alpha)) return -1;
        return ir_unary_attr(g, OP_LEAKY_RELU, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), alpha, 0, loc);
    case B_MAXIMUM:
    case B_MINIMUM:
        return ir_binary(g, bs->op, arith_operand(S, sc, argv[0], bs->name), arith_operand(S, sc, argv[1], bs->name), loc);
    case B_SUM:
    case B_MEAN:
    case B_MAX:
    case B_LSE:
        if (argv[1] && is_name(argv[1], "None")) { /* NumPy's and PyTorch's "every axis" */
            diag_error(S->d, argv[1]->loc, "there is no None: omit axis to reduce over every axis");
            return -1;
        }
        if (argv[1] && argv[1]->kind == EX_LIST) return lower_reduce_axes(S, sc, bs, argv, loc);
        if (bs->kind == B_MAX && argv[1] && !const_value(argv[1], &dv)) { /* torch.max(a, b) */
            diag_error(S->d, argv[1]->loc, "argument 'axis' of 'max' must be an integer constant; for the larger "
                       "of two tensors at each element write maximum(a, b)");
            return -1;
        }
        if (argv[1] && !const_int(S, argv[1], "axis", bs->name, &axis)) return -1;
        if (argv[2] && !keepdims_arg(S, bs, argv[2], &keep)) return -1;
        x = real_operand(S, lower(S, sc, argv[0]), loc, bs->name);
        if (x < 0) return -1;
        {
            Shape xs = g->nodes[x].shape;
            if (axis != AXIS_ALL && shape_axis(&xs, axis) < 0) {
                char s1[160];
                diag_error(S->d, argv[1]->loc, "axis %d is out of range for shape %s", axis,
                           shape_str(&xs, &g->syms, s1, sizeof s1));
                return -1;
            }
            int r = ir_reduce(g, bs->op, x, axis, keep, loc);
            if (bs->kind != B_MEAN) return r;
            return divide_by_dims(S, r, &xs, axis == AXIS_ALL ? AXIS_ALL : shape_axis(&xs, axis), loc);
        }
    case B_SOFTMAX:
    case B_LOG_SOFTMAX:
        dv = -1;
        param_default(bs->params[1], &dv);
        axis = (int)dv;
        if (argv[1] && !const_int(S, argv[1], "axis", bs->name, &axis)) return -1;
        x = real_operand(S, lower(S, sc, argv[0]), loc, bs->name);
        if (x >= 0 && g->nodes[x].shape.rank == 0) {
            diag_error(S->d, loc, "'%s' needs a tensor, not a scalar", bs->name);
            return -1;
        }
        return ir_axis_op(g, bs->op, x, axis, argv[1] ? argv[1]->loc : loc);
    case B_TRANSPOSE: return ir_transpose(g, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), loc);
    case B_RESHAPE: return lower_reshape(S, sc, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), argv[1], loc);
    case B_CONCAT:
        axis = 0;
        if (argv[2] && !const_int(S, argv[2], "axis", bs->name, &axis)) return -1;
        return ir_concat(g, real_operand(S, lower(S, sc, argv[0]), loc, bs->name),
                         real_operand(S, lower(S, sc, argv[1]), loc, bs->name), axis, loc);
    case B_MSE:
        x = arith_operand(S, sc, argv[0], bs->name);
        y = arith_operand(S, sc, argv[1], bs->name);
        if (x < 0 || y < 0 || !ir_check_broadcast(g, x, y, bs->name, loc)) return -1; /* not "in '-'" */
        y = loss_target(S, bs->name, x, y, loc);
        return mean_all(S, ir_unary_attr(g, OP_POWI, ir_binary(g, OP_SUB, x, y, loc), 0, 2, loc), loc);
    case B_BCE:
        /* -mean(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), PyTorch's clamp: one
         * elementwise op whose gradient (ops.c) has no 0 * inf at p = 0 or 1 */
        x = arith_operand(S, sc, argv[0], bs->name);
        y = loss_target(S, bs->name, x, arith_operand(S, sc, argv[1], bs->name), loc);
        return mean_all(S, ir_binary(g, OP_BCE, x, y, loc), loc);
    case B_BCE_LOGITS:
        /* mean of PyTorch's (1 - t) z + log(1 + e^-z), one op (bp_bce_logits) */
        x = arith_operand(S, sc, argv[0], bs->name);
        y = arith_operand(S, sc, argv[1], bs->name);
        if (x < 0 || y < 0 || !ir_check_broadcast(g, x, y, bs->name, loc)) return -1; /* not "in '*'" */
        y = loss_target(S, bs->name, x, y, loc);
        return mean_all(S, ir_binary(g, OP_BCE_LOGITS, x, y, loc), loc);
    case B_CE:
    case B_NLL:
        x = lower(S, sc, argv[0]);
        y = lower(S, sc, argv[1]);
        if (x < 0 || y < 0) return -1;
        if (g->nodes[x].dtype == DT_INT && g->nodes[y].dtype != DT_INT) {
            /* cross_entropy(y, logits): it said only "integer value cannot be used" */
            diag_error(S->d, loc, "'%s' takes (logits, labels): the first is integer and the second real; "
                       "are the two swapped?", bs->name);
            return -1;
        }
        if (real_operand(S, x, loc, bs->name) < 0) return -1;
        if (g->nodes[x].shape.rank == 0) {
            diag_error(S->d, loc, "'%s' needs logits of shape [..., C], got a scalar", bs->name);
            return -1;
        }
        if (g->nodes[y].dtype == DT_INT) return ir_loss_op(g, bs->op, x, y, -1, loc);
        {
            /* probabilities / one-hot targets of the logits' shape: -sum(t * logp) / N */
            Shape zs = g->nodes[x].shape;
            if (!shape_eq(&zs, &g->nodes[y].shape)) {
                char s1[160], s2[160];
                diag_error(S->d, loc, "'%s' needs integer labels or targets of the logits' shape %s, got %s",
                           bs->name, shape_str(&zs, &g->syms, s1, sizeof s1),
                           shape_str(&g->nodes[y].shape, &g->syms, s2, sizeof s2));
                return -1;
            }
            int lp = bs->kind == B_CE ? ir_axis_op(g, OP_LOG_SOFTMAX, x, -1, loc) : x;
            int s = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, y, lp, loc), AXIS_ALL, 0, loc);
            Shape lead = zs;
            lead.rank--;
            return ir_unary(g, OP_NEG, divide_by_dims(S, s, &lead, AXIS_ALL, loc), loc);
        }
    case B_CONV2D: return lower_conv2d(S, sc, argv, loc);
    case B_POOL: {
        int k, stride;
        if (!const_int(S, argv[1], "k", bs->name, &k)) return -1;
        stride = k;
        if (argv[2] && !const_int(S, argv[2], "stride", bs->name, &stride)) return -1;
        if (k < 1 || stride < 1) {
            diag_error(S->d, loc, "'%s' needs k >= 1 and stride >= 1, got k = %d, stride = %d", bs->name, k, stride);
            return -1;
        }
        return ir_pool(g, bs->op, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), k, stride, loc);
    }
    case B_LAYERNORM: {
        /* layernorm(x, gamma, beta) = normalise(x) * gamma + beta, the affine part broadcast */
        double eps = 1e-5;
        if (argv[3] && !const_real(S, argv[3], "eps", bs->name, &eps)) return -1;
        if (!(eps >= 0)) {
            diag_error(S->d, argv[3]->loc, "argument 'eps' of 'layernorm' must not be negative, got %g", eps);
            return -1;
        }
        x = ir_layernorm(g, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), eps, loc);
        int gamma = real_operand(S, lower(S, sc, argv[1]), loc, bs->name);
        int beta = real_operand(S, lower(S, sc, argv[2]), loc, bs->name);
        if (x < 0 || gamma < 0 || beta < 0 || !layernorm_affine(S, x, gamma, "gamma", "x", argv[1]->loc)) return -1;
        int xg = ir_binary(g, OP_MUL, x, gamma, loc);
        if (!layernorm_affine(S, xg, beta, "beta", shape_eq(&g->nodes[xg].shape, &g->nodes[x].shape) ? "x" : "x * gamma",
                              argv[2]->loc))
            return -1;
        return ir_binary(g, OP_ADD, xg, beta, loc);
    }
    case B_EMBEDDING:
        x = lower(S, sc, argv[0]);
        y = lower(S, sc, argv[1]);
        if (x >= 0 && y >= 0 && g->nodes[x].dtype == DT_INT && g->nodes[y].dtype != DT_INT) {
            /* embedding(ids, table), F.embedding's order: it said "needs a table [V, D] ..., got [B] and real [V, D]" */
            diag_error(S->d, loc, "'embedding' takes (table, ids): the first is integer and the second real; "
                       "are the two swapped?");
            return -1;
        }
        return ir_embedding(g, x, y, loc);
    case B_CAUSAL_MASK: return ir_causal_mask(g, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), -INFINITY, loc);
    case B_DROPOUT: {
        double p;
        if (!const_real(S, argv[1], "p", bs->name, &p)) return -1;
        if (!(p >= 0 && p < 1)) {
            diag_error(S->d, argv[1]->loc, "the probability of 'dropout' must be in [0, 1), got %g", p);
            return -1;
        }
        return ir_dropout(g, real_operand(S, lower(S, sc, argv[0]), loc, bs->name), p, S->ndropout++, loc);
    }
    }
    return -1;
}

/* ---- a def, checked where it is defined ----
 * A def's body is lowered only where it is called, but what can be known without its
 * arguments is checked where it is defined, even if it is never called: its parameters and
 * locals are distinct, every call in it names a built-in or a def (one defined further down is
 * allowed, as at the calls that expand it), with arguments that fit, and it does not reach
 * itself through the defs it calls. A cycle is reported at the def that closes it, the one
 * defined last. Names of values are left to the calls: they may name globals defined after
 * the def. */

/* The statement defining `name` anywhere in the program (a def further down, or a value a
 * body may not call), or NULL. */
static const Stmt *defined_in_program(Sema *S, const char *name) {
    int i = named_stmts(S, name);
    return i >= 0 ? S->prog->stmts[i] : NULL;
}

/* A def being walked for calls that lead back to the def being checked. */
typedef struct DefWalk {
    const Stmt *def;
    const char **calls; /* the names its body calls */
    int ncalls, cap, next;
} DefWalk;

static void calls_in(Sema *S, const Expr *e, DefWalk *w) {
    if (!e) return;
    if (e->kind == EX_CALL) ARENA_PUSH(S->a, w->calls, w->ncalls, w->cap, e->name);
    calls_in(S, e->lhs, w);
    calls_in(S, e->rhs, w);
    for (int i = 0; i < e->nargs; i++) calls_in(S, e->args[i].value, w);
    for (int i = 0; i < e->nitems; i++) calls_in(S, e->items[i], w);
}

static DefWalk def_walk(Sema *S, const Stmt *def) {
    DefWalk w = {def, NULL, 0, 0, 0};
    for (int i = 0; i < def->nbody; i++)
        if (def->body[i]->kind == ST_BIND) calls_in(S, def->body[i]->value, &w);
    calls_in(S, def->value, &w);
    return w;
}

/* 1 if def's call of `callee` at `at` expands def again; reports it, naming the defs in
 * between. Follows the defs bound so far (depth first, each def once, with a stack of
 * its own, since a chain of defs may be long). A def bound before def can call it only
 * as a def further down: unless some def's body did (S->called_early), there is nothing to
 * follow (10000 defs each calling the one before followed 5 10^7 defs). */
static int calls_itself(Sema *S, const Stmt *def, const Stmt *callee, Loc at) {
    if (callee == def) {
        diag_error(S->d, at, "'%s' calls itself; defs are inlined and cannot be recursive", def->name);
        return 1;
    }
    if (!nametab_get(&S->called_early, def->name, 0)) return 0;
    const int walk = ++S->nwalks; /* marks the defs this search has reached */
    DefWalk *stack = NULL;
    int n = 0, cap = 0;
    ARENA_PUSH(S->a, stack, n, cap, def_walk(S, callee));
    nametab_put(S->a, &S->walked, callee->name, walk);
    while (n > 0) {
        DefWalk *w = &stack[n - 1];
        if (w->next == w->ncalls) {
            n--;
            continue;
        }
        const char *name = w->calls[w->next++];
        if (strcmp(name, def->name) == 0) { /* the defs between: stack[1 .. n - 1], then def */
            const char *via = "";
            for (int k = 1; k < n; k++) {
                if (n > CYCLE_SHOWN && k == CYCLE_SHOWN / 2 + 1) { /* the first and the last few */
                    via = arena_printf(S->a, "%s... %d more ..., ", via, n - CYCLE_SHOWN);
                    k = n - CYCLE_SHOWN / 2 + 1;
                }
                via = arena_printf(S->a, "%s'%s', ", via, stack[k].def->name);
            }
            diag_error(S->d, at, "'%s' calls itself through %s'%s'; defs are inlined and cannot be recursive",
                       callee->name, via, def->name);
            return 1;
        }
        Binding *b = scope_find(&S->global, name, 1);
        if (!b || !b->def || b->broken) continue;
        int *reached = nametab_ref(S->a, &S->walked, name, 0);
        if (*reached == walk) continue;
        *reached = walk;
        ARENA_PUSH(S->a, stack, n, cap, def_walk(S, b->def));
    }
    return 0;
}

/* Checks a call in def's body (`local`: its parameters and the locals bound before it). */
static int check_call(Sema *S, const Stmt *def, Scope *local, const Expr *e) {
    const Expr *argv[64];
    const Stmt *callee = NULL;
    const BuiltinSpec *bs = NULL;
    Binding *b = scope_find(local, e->name, 1);
    if (!b) b = scope_find(&S->global, e->name, 1);
    if (b && !b->def) {
        diag_error(S->d, e->loc, "'%s' is a value, not a function", e->name);
        return 0;
    }
    if (b && b->broken) return 1; /* reported where it is defined */
    if (b) callee = b->def;
    else if (strcmp(e->name, def->name) == 0) callee = def;
    else if (!(bs = find_builtin(e->name))) {
        callee = defined_in_program(S, e->name);
        if (!callee) {
            unknown_name(S, &S->global, e->loc, e->name, "function");
            return 0;
        }
        if (callee->kind != ST_DEF) {
            diag_error(S->d, e->loc, "'%s' is a value, not a function", e->name);
            return 0;
        }
    }
    if (bs) return bind_args(S, e, bs->nparams, bs->params, argv, bs->name);
    if (callee->nparams > 64) return 1; /* reported where it is defined */
    if (!bind_args(S, e, callee->nparams, callee->params, argv, callee->name)) return 0;
    if (!b && callee != def) { /* a def further down: a cycle through it is reported there */
        nametab_put(S->a, &S->called_early, e->name, 1);
        return 1;
    }
    return !calls_itself(S, def, callee, e->loc);
}

/* Checks every call in e, inside def's body. Returns 0 after reporting the first problem. */
static int check_calls(Sema *S, const Stmt *def, Scope *local, const Expr *e) {
    if (!e) return 1;
    if (e->kind == EX_CALL && !check_call(S, def, local, e)) return 0;
    if (!check_calls(S, def, local, e->lhs) || !check_calls(S, def, local, e->rhs)) return 0;
    for (int i = 0; i < e->nargs; i++)
        if (!check_calls(S, def, local, e->args[i].value)) return 0;
    for (int i = 0; i < e->nitems; i++)
        if (!check_calls(S, def, local, e->items[i])) return 0;
    return 1;
}

/* Checks a def where it is defined (before it is bound); 0 if it has an error. */
static int check_def(Sema *S, const Stmt *def) {
    if (def->nparams > 64) {
        diag_error(S->d, def->name_loc, "'%s' has %d parameters (limit 64)", def->name, def->nparams);
        return 0;
    }
    Scope local = {0};
    for (int j = 0; j < def->nparams; j++) {
        if (scope_find(&local, def->params[j], 1)) {
            diag_error(S->d, def->param_locs[j], "parameter '%s' of '%s' is declared twice", def->params[j], def->name);
            return 0;
        }
        scope_add(S, &local, (Binding){def->params[j], -1, NULL, def->param_locs[j], 0});
    }
    for (int i = 0; i < def->nbody; i++) {
        const Stmt *st = def->body[i];
        if (st->kind != ST_BIND) continue;
        if (scope_find(&local, st->name, 1)) {
            diag_error(S->d, st->name_loc, "'%s' is already defined in '%s'", st->name, def->name);
            return 0;
        }
        if (!check_calls(S, def, &local, st->value)) return 0;
        scope_add(S, &local, (Binding){st->name, -1, NULL, st->name_loc, 0});
    }
    return check_calls(S, def, &local, def->value);
}

/* ---- declarations ---- */
static int sym_index(Sema *S, const char *name) {
    for (int k = 0; k < S->g->syms.n; k++)
        if (strcmp(S->g->syms.names[k], name) == 0) return k;
    if (S->g->syms.n == BP_MAXSYMS) return -2;
    S->g->syms.names[S->g->syms.n] = name;
    return S->g->syms.n++;
}

/* Reads the dims of an input/param declaration; returns 0 on error. */
static int decl_shape(Sema *S, const Stmt *st, Shape *s, int allow_sym) {
    memset(s, 0, sizeof *s);
    if (st->ndims > BP_MAXRANK) {
        diag_error(S->d, st->dims[BP_MAXRANK]->loc, "too many dimensions (limit %d)", BP_MAXRANK);
        return 0;
    }
    s->rank = st->ndims;
    for (int i = 0; i < st->ndims; i++) {
        const Expr *e = st->dims[i];
        double v;
        if (e->kind == EX_NAME) {
            if (!allow_sym) {
                diag_error(S->d, e->loc,
                           "parameter '%s' has symbolic dimension '%s'; parameter shapes must be integers",
                           st->name, e->name);
                return 0;
            }
            if (scope_find(&S->global, e->name, 1)) {
                diag_error(S->d, e->loc, "'%s' is a value, not a dimension name", e->name);
                return 0;
            }
            if (strlen(e->name) > BP_DIM_NAME_MAX) { /* the generated C's sizes are texts of bounded length */
                diag_error(S->d, e->loc, "dimension name '%s' is too long (limit %d characters)", e->name, BP_DIM_NAME_MAX);
                return 0;
            }
            int k = sym_index(S, e->name);
            if (k < 0) {
                diag_error(S->d, e->loc, "too many symbolic dimensions (limit %d)", BP_MAXSYMS);
                return 0;
            }
            s->d[i] = dim_sym(k);
        } else if (const_value(e, &v)) {
            if (v != floor(v)) {
                diag_error(S->d, e->loc, "dimension must be an integer, got %g", v);
                return 0;
            }
            if (v < 1) {
                diag_error(S->d, e->loc, "dimension must be positive, got %s%s", written(S, e),
                           v == -1 ? "; a size bound when the code runs is a name: [B, ...]" : "");
                return 0;
            }
            if (v > (double)BP_MAXDIM) {
                diag_error(S->d, e->loc, "dimension %s is too large (limit %lld)", written(S, e), (long long)BP_MAXDIM);
                return 0;
            }
            s->d[i] = dim_const((int64_t)v);
        } else {
            diag_error(S->d, e->loc, "a dimension must be an integer or a name");
            return 0;
        }
    }
    int ovf;
    shape_const_numel(s, &ovf);
    if (ovf) {
        diag_error(S->d, st->name_loc, "'%s' has too many elements (limit %lld)", st->name, (long long)BP_MAXELEMS);
        return 0;
    }
    return 1;
}

/* A declaration that failed still binds its name, to no value, so that its uses fail
 * quietly: a rejected `param W[0, 3]` was followed by a false "unknown name 'W'" at each use */
static void bind_failed(Sema *S, const Stmt *st) {
    scope_add(S, &S->global, (Binding){st->name, -1, NULL, st->name_loc, 0});
}

static int check_new_name(Sema *S, const Stmt *st) {
    Binding *b = scope_find(&S->global, st->name, 1);
    if (b) {
        diag_error(S->d, st->name_loc, "'%s' is already defined (at %d:%d)", st->name, b->loc.line, b->loc.col);
        return 0;
    }
    for (int k = 0; k < S->g->syms.n; k++)
        if (strcmp(S->g->syms.names[k], st->name) == 0) {
            diag_error(S->d, st->name_loc, "'%s' is already a dimension name", st->name);
            /* its uses as a value now mean the rejected declaration, not the size */
            if (st->kind != ST_DEF) bind_failed(S, st);
            return 0;
        }
    return 1;
}

static int declare_input(Sema *S, const Stmt *st) {
    Graph *g = S->g;
    Input in;
    memset(&in, 0, sizeof in);
    in.name = st->name;
    in.loc = st->name_loc;
    in.dtype = st->is_int ? DT_INT : DT_REAL;
    if (!decl_shape(S, st, &in.shape, 1)) return 0;
    if (st->value) {
        if (!const_value(st->value, &in.def)) {
            diag_error(S->d, st->value->loc, "the default of input '%s' must be a number", st->name);
            return 0;
        }
        if (st->is_int && in.def != floor(in.def)) {
            diag_error(S->d, st->value->loc, "the default of integer input '%s' must be an integer", st->name);
            return 0;
        }
        if (st->is_int && !IR_FITS_INT32(in.def)) { /* passed as int32_t, as the driver checks */
            diag_error(S->d, st->value->loc,
                       "the default of integer input '%s' must be a 32-bit integer (-2147483648 to 2147483647), got %.0f",
                       st->name, in.def);
            return 0;
        }
        in.has_default = 1;
    }
    ARENA_PUSH(S->a, g->inputs, g->ninputs, g->inputs_cap, in);
    int id = ir_input(g, g->ninputs - 1);
    g->inputs[g->ninputs - 1].node = id;
    scope_add(S, &S->global, (Binding){st->name, id, NULL, st->name_loc, 0});
    return 1;
}

static void decl_input(Sema *S, const Stmt *st) {
    if (!check_new_name(S, st)) return;
    if (!declare_input(S, st)) bind_failed(S, st);
}

/* Refuses the input or output at loc that takes a generated function past MAX_API_ARGS
 * arguments (once). */
static void check_api_args(Sema *S, Loc loc, int nouts, int *reported) {
    const Graph *g = S->g;
    const int forward = g->ninputs + nouts + g->syms.n + 2, step = g->ninputs + g->syms.n + 6;
    const int args = forward > step ? forward : step;
    if (*reported || args <= MAX_API_ARGS) return;
    diag_error(S->d, loc, "too many inputs, outputs and symbolic sizes: the generated functions would take %d "
               "arguments (limit %d)", args, MAX_API_ARGS);
    *reported = 1;
}

/* PyTorch's and Keras's names of initialisers, and bpc's. */
static const struct {
    const char *name, *advice;
} init_aliases[] = {
    {"kaiming", "did you mean 'he'?"},         {"kaiming_normal", "did you mean 'he'?"},
    {"kaiming_uniform", "did you mean 'he'?"}, {"he_normal", "did you mean 'he'?"},
    {"he_uniform", "did you mean 'he'?"},      {"glorot", "did you mean 'xavier'?"},
    {"glorot_normal", "did you mean 'xavier'?"}, {"glorot_uniform", "did you mean 'xavier'?"},
    {"xavier_normal", "did you mean 'xavier'?"}, {"xavier_uniform", "did you mean 'xavier'?"},
    {"randn", "write normal(STD)"},            {"rand", "write uniform(LO, HI)"},
    {"zero", "did you mean 'zeros'?"},         {"one", "did you mean 'ones'?"},
};

/* bpc's advice for initialiser `name`, PyTorch's in-place spelling with a trailing '_'
 * (`kaiming_uniform_`, `zeros_`) read as the name without it; NULL if it has none. */
static const char *init_advice(Sema *S, const char *name) {
    size_t len = strlen(name);
    while (len > 0 && name[len - 1] == '_') len--;
    for (size_t i = 0; i < sizeof init_aliases / sizeof init_aliases[0]; i++)
        if (strlen(init_aliases[i].name) == len && strncmp(init_aliases[i].name, name, len) == 0)
            return init_aliases[i].advice;
    static const char *const own[] = {"zeros", "ones", "he", "xavier", "normal(STD)", "uniform(LO, HI)"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (len < strlen(name) && strcspn(own[i], "(") == len && strncmp(own[i], name, len) == 0)
            return arena_printf(S->a, "did you mean '%s'?", own[i]);
    return NULL;
}

/* An initialiser that is none of bpc's: named, with bpc's spelling when it has one
 * (`= kaiming`: 'he'; `= kaiming_uniform_`, PyTorch's in-place name, too); a list after
 * '=' is taken for a shape (`param W = [3, 3]`); one of bpc's called with arguments it
 * does not take (`zeros(3, 4)`, `he()`) is said so; an expression (`randn(3, 4) * 0.01`)
 * is reported at its first initialiser-like word, `normal(0.01)` offered for a randn
 * scaled by a number. */
static void unknown_initialiser(Sema *S, const Stmt *st, const Expr *e) {
    static const char *const list = "use a number, zeros, ones, he, xavier, normal(STD) or uniform(LO, HI)";
    if (e->kind == EX_LIST) {
        diag_error(S->d, e->loc, "a parameter's shape goes in brackets after its name: param %s[...]", st->name);
        return;
    }
    if (e->kind == EX_BINARY) {
        const Expr *w = e->lhs, *c = e->rhs;
        double v;
        if (e->op == '*' && const_value(w, &v)) w = e->rhs, c = e->lhs;
        if (e->op == '*' && (w->kind == EX_NAME || w->kind == EX_CALL) && strcmp(w->name, "randn") == 0 &&
            const_value(c, &v) && v >= 0) {
            diag_error(S->d, w->loc, "an initialiser is one word or call, not an expression: write normal(%s)",
                       written(S, c));
            return;
        }
        for (w = e; w->kind == EX_BINARY || w->kind == EX_NEG;) w = w->lhs;
        if ((w->kind == EX_NAME || w->kind == EX_CALL) && init_advice(S, w->name)) {
            diag_error(S->d, w->loc, "unknown initialiser '%s'; %s", w->name, init_advice(S, w->name));
            return;
        }
    }
    if (e->kind != EX_NAME && e->kind != EX_CALL) {
        diag_error(S->d, e->loc, "unknown initialiser; %s", list);
        return;
    }
    if (e->kind == EX_CALL && (strcmp(e->name, "zeros") == 0 || strcmp(e->name, "ones") == 0 ||
                               strcmp(e->name, "he") == 0 || strcmp(e->name, "xavier") == 0)) {
        diag_error(S->d, e->loc, "'%s' takes no arguments (the shape is the parameter's): write = %s", e->name,
                   e->name);
        return;
    }
    const char *advice = init_advice(S, e->name);
    diag_error(S->d, e->loc, "unknown initialiser '%s'; %s", e->name, advice ? advice : list);
}

static int declare_param(Sema *S, const Stmt *st) {
    Graph *g = S->g;
    Param p;
    memset(&p, 0, sizeof p);
    p.name = st->name;
    p.loc = st->name_loc;
    if (!decl_shape(S, st, &p.shape, 0)) return 0;
    int ovf;
    p.numel = shape_const_numel(&p.shape, &ovf);
    p.init = INIT_ZEROS;
    const Expr *e = st->value;
    double v;
    if (e) {
        if (const_value(e, &v)) {
            p.init = INIT_CONST;
            p.a = v;
        } else if (e->kind == EX_NAME && strcmp(e->name, "zeros") == 0) p.init = INIT_ZEROS;
        else if (e->kind == EX_NAME && strcmp(e->name, "ones") == 0) {
            p.init = INIT_CONST;
            p.a = 1;
        } else if (e->kind == EX_NAME && strcmp(e->name, "he") == 0) p.init = INIT_HE;
        else if (e->kind == EX_NAME && strcmp(e->name, "xavier") == 0) p.init = INIT_XAVIER;
        else if (e->kind == EX_CALL && strcmp(e->name, "normal") == 0) {
            static const char *const ps[] = {"std"};
            const Expr *av[1];
            if (e->nargs == 2 && !e->args[0].name && !e->args[1].name) { /* torch.normal(mean, std) */
                diag_error(S->d, e->args[1].loc, "'normal' takes the standard deviation alone (its mean is 0): "
                           "write normal(%s)", const_value(e->args[1].value, &v) ? written(S, e->args[1].value) : "STD");
                return 0;
            }
            if (!bind_args(S, e, 1, ps, av, "normal") || !const_real(S, av[0], "std", "normal", &p.a)) return 0;
            if (p.a < 0) {
                diag_error(S->d, av[0]->loc, "the std of 'normal' must not be negative, got %g", p.a);
                return 0;
            }
            p.init = INIT_NORMAL;
        } else if (e->kind == EX_CALL && strcmp(e->name, "uniform") == 0) {
            static const char *const ps[] = {"lo", "hi"};
            const Expr *av[2];
            if (!bind_args(S, e, 2, ps, av, "uniform") || !const_real(S, av[0], "lo", "uniform", &p.a) ||
                !const_real(S, av[1], "hi", "uniform", &p.b))
                return 0;
            if (p.b < p.a) {
                diag_error(S->d, e->loc, "'uniform' needs lo <= hi, got %g and %g", p.a, p.b);
                return 0;
            }
            p.init = INIT_UNIFORM;
        } else {
            unknown_initialiser(S, st, e);
            return 0;
        }
    }
    p.offset = g->nparam_reals;
    if (g->nparam_reals + p.numel > BP_MAXELEMS) {
        diag_error(S->d, st->name_loc, "the parameters have too many elements (limit %lld)", (long long)BP_MAXELEMS);
        return 0;
    }
    g->nparam_reals += p.numel;
    ARENA_PUSH(S->a, g->params, g->nparams, g->params_cap, p);
    int id = ir_param(g, g->nparams - 1);
    g->params[g->nparams - 1].node = id;
    scope_add(S, &S->global, (Binding){st->name, id, NULL, st->name_loc, 0});
    return 1;
}

static void decl_param(Sema *S, const Stmt *st) {
    if (!check_new_name(S, st)) return;
    if (!declare_param(S, st)) bind_failed(S, st);
}

static void decl_optimizer(Sema *S, const Stmt *st) {
    OptConfig *o = &S->g->opt;
    static const char *const sgd[] = {"lr=0.01", "momentum=0", "weight_decay=0"};
    static const char *const adam[] = {"lr=0.001", "beta1=0.9", "beta2=0.999", "eps=1e-8"};
    static const char *const adamw[] = {"lr=0.001", "beta1=0.9", "beta2=0.999", "eps=1e-8", "weight_decay=0.01"};
    const char *const *ps;
    int np;
    double *dst[5];
    if (o->kind != OPT_NONE) {
        diag_error(S->d, st->loc, "the optimizer is already given (at %d:%d)", o->loc.line, o->loc.col);
        return;
    }
    double clip = o->clip;
    memset(o, 0, sizeof *o);
    o->clip = clip;
    if (strcmp(st->name, "sgd") == 0) {
        o->kind = OPT_SGD;
        ps = sgd;
        np = 3;
        dst[0] = &o->lr, dst[1] = &o->momentum, dst[2] = &o->weight_decay;
    } else if (strcmp(st->name, "adam") == 0 || strcmp(st->name, "adamw") == 0) {
        int w = st->name[4] == 'w';
        o->kind = w ? OPT_ADAMW : OPT_ADAM;
        ps = w ? adamw : adam;
        np = w ? 5 : 4;
        dst[0] = &o->lr, dst[1] = &o->beta1, dst[2] = &o->beta2, dst[3] = &o->eps, dst[4] = &o->weight_decay;
    } else {
        Suggest sg; /* PyTorch's Adam, SGD, AdamW; a misspelling */
        suggest_init(&sg, st->name);
        suggest_offer(&sg, "sgd");
        suggest_offer(&sg, "adam");
        suggest_offer(&sg, "adamw");
        if (sg.best)
            diag_error(S->d, st->name_loc, "unknown optimizer '%s'; did you mean '%s'?", st->name, sg.best);
        else
            diag_error(S->d, st->name_loc, "unknown optimizer '%s'; use sgd, adam or adamw", st->name);
        return;
    }
    o->loc = st->loc;
    Expr call;
    memset(&call, 0, sizeof call);
    call.loc = st->name_loc;
    call.args = st->args;
    call.nargs = st->nargs;
    const Expr *av[5];
    if (!bind_args(S, &call, np, ps, av, st->name)) {
        o->kind = OPT_NONE;
        return;
    }
    for (int i = 0; i < np; i++) {
        double v;
        param_default(ps[i], &v);
        const char *pname = arena_strndup(S->a, ps[i], strcspn(ps[i], "="));
        if (av[i] && !const_real(S, av[i], pname, st->name, &v)) {
            o->kind = OPT_NONE;
            return;
        }
        const char *bad = NULL;
        if (v < 0) bad = "must not be negative";
        else if (!isfinite(v)) bad = "must be finite";
        else if (v >= 1 && strncmp(pname, "beta", 4) == 0) /* PyTorch's rule: bias correction divides by 1 - beta^t */
            bad = "must be below 1";
        if (bad) {
            diag_error(S->d, av[i]->loc, "argument '%s' of '%s' %s, got %g", pname, st->name, bad, v);
            o->kind = OPT_NONE;
            return;
        }
        *dst[i] = v;
    }
    o->lr_given = av[0] != NULL;
}

static int is_alnum_ascii(char c) { /* in any locale */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The stem is the file name without its last extension ("my-net.2.bp" -> "my-net.2"; a
 * leading dot starts no extension). Each run of other characters than ASCII letters and
 * digits becomes one '_', none at either end (a name beginning with '_' is reserved at
 * file scope in C, and one holding "__" anywhere in C++); a stem that then begins with a
 * digit or with "bprt_" (the runtime's names) takes "bp_" in front, and one with no letter or
 * digit is "model". The name is cut to
 * BP_NAME_MAX characters (and no '_' at its end). */
const char *sema_model_name_from_path(Arena *a, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *s = arena_alloc(a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (is_alnum_ascii(base[i])) s[k++] = base[i];
        else if (k && s[k - 1] != '_' && i + 1 < n && is_alnum_ascii(base[i + 1])) s[k++] = '_';
    s[k] = 0;
    if (!k) return "model";
    char *id = (s[0] >= '0' && s[0] <= '9') || strncmp(s, "bprt_", 5) == 0 ? arena_printf(a, "bp_%s", s) : s;
    /* at most BP_NAME_MAX characters, as a `model` statement's name: a 150-character stem
       was cut in the emitter's texts, which made C that does not compile */
    size_t len = strlen(id);
    if (len > BP_NAME_MAX) len = BP_NAME_MAX;
    while (id[len - 1] == '_') len--;
    id[len] = 0;
    return id;
}

Graph *sema_program(Arena *a, Diag *d, const Program *prog, const SemaOptions *opt) {
    Sema S;
    memset(&S, 0, sizeof S);
    S.a = a;
    S.d = d;
    S.g = ir_new(a, d);
    S.prog = prog;
    S.ignore_checkpoint = opt && opt->ignore_checkpoint;
    Graph *g = S.g;
    g->model = opt && opt->default_model ? opt->default_model : "model";
    int *outs = NULL, nouts = 0, outs_cap = 0;
    const char **onames = NULL;
    int onames_cap = 0, nonames = 0;
    Loc loss_loc = {0}, model_loc = {0}, clip_loc = {0};
    int args_reported = 0;
    for (int i = 0; i < prog->nstmts; i++) {
        const Stmt *st = prog->stmts[i];
        switch (st->kind) {
        case ST_MODEL:
            if (model_loc.line) {
                diag_error(d, st->loc, "the model name is already given (at %d:%d)", model_loc.line, model_loc.col);
                break;
            }
            model_loc = st->loc;
            if (strncmp(st->name, "bprt_", 5) == 0) { /* bprt_sgemm_batch_softmax's NAME_grad was the runtime's */
                diag_error(d, st->name_loc, "model names beginning with 'bprt_' are the runtime's (its functions are "
                           "named bprt_...); choose another");
                break;
            }
            if (st->name[0] == '_') { /* model __x gave __x_init, _X _X_init: C that is not the user's to write */
                diag_error(d, st->name_loc, "model name '%s' would make reserved C identifiers ('%s_init': C reserves "
                           "names beginning with '_' at file scope); choose one beginning with a letter", st->name,
                           st->name);
                break;
            }
            g->model = st->name;
            break;
        case ST_INPUT:
            decl_input(&S, st);
            check_api_args(&S, st->name_loc, nouts, &args_reported);
            break;
        case ST_PARAM: decl_param(&S, st); break;
        case ST_BIND: {
            if (!check_new_name(&S, st)) break;
            int v = lower_binding(&S, &S.global, st);
            if (v >= 0 && !g->nodes[v].name) g->nodes[v].name = st->name;
            scope_add(&S, &S.global, (Binding){st->name, v, NULL, st->name_loc, 0});
            break;
        }
        case ST_DEF:
            if (find_builtin(st->name)) {
                diag_error(d, st->name_loc, "'%s' is a built-in function and cannot be redefined", st->name);
                break;
            }
            if (!check_new_name(&S, st)) break;
            scope_add(&S, &S.global, (Binding){st->name, -1, st, st->name_loc, !check_def(&S, st)});
            break;
        case ST_LOSS: {
            if (g->loss >= 0 || loss_loc.line) {
                diag_error(d, st->loc, "the loss is already given (at %d:%d)", loss_loc.line, loss_loc.col);
                break;
            }
            loss_loc = st->loc;
            int v = lower(&S, &S.global, st->value);
            if (v < 0) break;
            if (g->nodes[v].shape.rank != 0) {
                char s1[160];
                diag_error(d, st->value->loc, "the loss must be a scalar, got shape %s; reduce it with sum(...) or mean(...)",
                           shape_str(&g->nodes[v].shape, &g->syms, s1, sizeof s1));
                break;
            }
            g->loss = v;
            break;
        }
        case ST_OUTPUT:
            for (int k = 0; k < st->nnames; k++) {
                Binding *b = scope_find(&S.global, st->names[k], 1);
                if (!b) {
                    unknown_name(&S, &S.global, st->name_locs[k], st->names[k], "name");
                    continue;
                }
                if (b->def) {
                    diag_error(d, st->name_locs[k], "'%s' is a function, not a value", st->names[k]);
                    continue;
                }
                if (b->node < 0) continue;
                ARENA_PUSH(a, outs, nouts, outs_cap, b->node);
                ARENA_PUSH(a, onames, nonames, onames_cap, st->names[k]);
                check_api_args(&S, st->name_locs[k], nouts, &args_reported);
            }
            break;
        case ST_OPTIMIZER: decl_optimizer(&S, st); break;
        case ST_CLIP: {
            double v;
            if (clip_loc.line) {
                diag_error(d, st->loc, "clip_grad_norm is already given (at %d:%d)", clip_loc.line, clip_loc.col);
                break;
            }
            clip_loc = st->loc;
            if (!const_value(st->value, &v) || v <= 0) {
                diag_error(d, st->value ? st->value->loc : st->loc, "clip_grad_norm needs a positive number");
                break;
            }
            g->opt.clip = v;
            break;
        }
        case ST_RETURN: diag_error(d, st->loc, "'return' outside a def"); break;
        case ST_EXPR:
            if (opt && opt->allow_expr_stmts) {
                int v = lower(&S, &S.global, st->value);
                if (v >= 0) {
                    ARENA_PUSH(a, outs, nouts, outs_cap, v);
                    ARENA_PUSH(a, onames, nonames, onames_cap, "_");
                }
            } else
                diag_error(d, st->loc, "an expression alone does nothing here; bind it with 'NAME = ...' or use 'loss ...'");
            break;
        }
    }
    g->outputs = outs;
    g->output_names = onames;
    g->noutputs = nouts;
    return g;
}
