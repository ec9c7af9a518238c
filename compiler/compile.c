/* compile.c — see compile.h. The pipeline, in order. */
#include "compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autodiff.h"
#include "passes.h"
#include "sema.h"

#define PROGRAM_MAX_BYTES ((size_t)64 << 20)

int bpc_read_file(const char *path, size_t max, char **text, size_t *len, char *err, size_t errlen) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %.300s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n;
    char *buf = malloc(cap);
    if (!buf) abort();
    while ((n = fread(buf + *len, 1, cap - *len - 1, f)) > 0) {
        *len += n;
        if (*len > max) { /* /dev/zero, or a pipe without end */
            fclose(f);
            free(buf);
            return -2;
        }
        if (*len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
    }
    int rd = ferror(f) ? errno : 0; /* a directory opens, then reads fail (EISDIR) */
    fclose(f);
    if (rd) {
        snprintf(err, errlen, "cannot read %.300s: %s", path, strerror(rd));
        free(buf);
        return -1;
    }
    buf[*len] = 0;
    *text = buf;
    return 0;
}

char *bpc_read_program(const char *path, char *err, size_t errlen) {
    char *buf;
    size_t len;
    int rc = bpc_read_file(path, PROGRAM_MAX_BYTES, &buf, &len, err, errlen);
    if (rc == -2) snprintf(err, errlen, "%s: program is larger than %zu MiB", path, PROGRAM_MAX_BYTES >> 20);
    if (rc) return NULL;
    if (strlen(buf) != len) { /* NUL bytes: the lexer would stop at the first */
        snprintf(err, errlen, "%s contains NUL bytes (is it a binary file?)", path);
        free(buf);
        return NULL;
    }
    return buf;
}

Graph *bpc_compile(Arena *a, Diag *d, const char *file, const char *text, const CompileOptions *o) {
    int errors = d->nerrors;
    Program *prog = parse_program(a, d, file, text);
    if (d->nerrors > errors) return NULL;
    return bpc_compile_program(a, d, prog, sema_model_name_from_path(a, file), o);
}

/* Reverse over reverse (ad_hvp), then simplified like the gradient. With o->hvp == 2 an op
 * without a second-order rule leaves the graph without hvps and reports nothing. */
static Graph *build_hvp(Graph *g, const CompileOptions *o) {
    Diag *d = g->diag, quiet;
    char *text = NULL;
    size_t len = 0;
    FILE *sink = NULL;
    if (o->hvp == 2) {
        sink = open_memstream(&text, &len);
        if (!sink) abort();
        diag_init(&quiet, sink);
        g->diag = &quiet;
    }
    int rc = ad_hvp(g);
    g->diag = d;
    if (sink) {
        fclose(sink);
        free(text);
    }
    if (rc != 0) {
        g->hvps = NULL;
        return g;
    }
    ir_verify(g);
    if (o->optimize) {
        g = pass_fold(g);
        ir_verify(g);
        g = pass_cse(g);
        ir_verify(g);
    }
    return g;
}

size_t bpc_memory_limit(int *from_env) {
    const char *lim = getenv("BPC_MEMORY_LIMIT");
    *from_env = 0;
    if (lim && *lim) { /* bytes, or with K, M, G or T: binary multiples (3G = 3 * 2^30) */
        char *end;
        errno = 0;
        unsigned long long v = lim[0] >= '0' && lim[0] <= '9' ? strtoull(lim, &end, 10) : 0;
        int shift = 0;
        if (v && errno == 0 && end[0] && !end[1]) switch (end[0]) {
            case 'K': case 'k': shift = 10, end++; break;
            case 'M': case 'm': shift = 20, end++; break;
            case 'G': case 'g': shift = 30, end++; break;
            case 'T': case 't': shift = 40, end++; break;
            default: break;
            }
        if (v && errno == 0 && !*end && v <= (SIZE_MAX >> shift)) {
            *from_env = 1;
            return (size_t)v << shift;
        }
        static int warned;
        if (!warned)
            diag_tool_warning("BPC_MEMORY_LIMIT='%s' is not a number of bytes (such as 3000000000 or 3G); "
                              "the limit is the machine's memory", lim);
        warned = 1;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

/* Resource limit: the workspace of the largest function (the training step) with every
 * symbolic dimension 1 is the least any run can need; more than the machine's memory (or
 * BPC_MEMORY_LIMIT) is refused here, at the largest value the program computes, rather
 * than at run time. */
static void check_workspace(Graph *g, Diag *d) {
    if (g->loss < 0 && !g->noutputs) return;
    int64_t dims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = 1;
    EmitStats st;
    emit_stats(g, dims, 0, &st);
    int from_env;
    size_t limit = bpc_memory_limit(&from_env);
    if (st.workspace <= limit) return;
    int big = -1;
    int64_t most = -1;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        int over = 0;
        int64_t k = shape_const_numel(&n->shape, &over);
        if (op_info[n->op].kind != OK_LEAF && !n->adjoint && (over || k > most)) {
            most = over ? INT64_MAX : k;
            big = i;
        }
    }
    Loc loc = big >= 0 ? g->nodes[big].loc : g->nodes[g->loss >= 0 ? g->loss : g->outputs[0]].loc;
    char over[64] = "this machine's memory";
    if (from_env) snprintf(over, sizeof over, "BPC_MEMORY_LIMIT (%zu bytes)", limit);
    diag_error(d, loc,
               "the program needs a workspace of at least %zu bytes (every symbolic dimension 1), more than %s; "
               "the largest value it computes is here",
               st.workspace, over);
}

/* The REPL's Ctrl-C came: the pipeline stops at the end of the stage it is in. */
static int stopped(const CompileOptions *o) { return o->stop && *o->stop; }

Graph *bpc_compile_program(Arena *a, Diag *d, const Program *prog, const char *default_model, const CompileOptions *o) {
    CompileOptions defaults = {.optimize = 1};
    if (!o) o = &defaults;
    int errors = d->nerrors;
    SemaOptions so = {default_model, o->allow_expr_stmts, o->no_checkpoint};
    Graph *g = sema_program(a, d, prog, &so);
    if (d->nerrors > errors || stopped(o)) return NULL;
    ir_verify(g);
    if (o->optimize) {
        g = pass_fold(g); /* before reverse mode, so that fused forms get fused gradients */
        ir_verify(g);
        g = pass_cse(g); /* and shared values one adjoint: a def called twice on the same */
        ir_verify(g);    /* arguments is differentiated once, not once per call */
    }
    if (stopped(o)) return NULL;
    if (g->loss >= 0 && !o->no_grad) {
        if (ad_gradients(g, g->loss) != 0 || d->nerrors > errors || stopped(o)) return NULL;
        ir_verify(g);
    }
    if (o->optimize) {
        g = pass_fold(g);
        ir_verify(g);
        g = pass_cse(g);
        ir_verify(g);
    }
    if (stopped(o)) return NULL;
    if (o->hvp && g->loss >= 0 && !o->no_grad) {
        g = build_hvp(g, o);
        if (d->nerrors > errors || stopped(o)) return NULL;
    }
    if (!o->no_checkpoint) {
        if (o->optimize) remat_mark_layernorms(g);
        g = pass_remat(g); /* last: CSE would merge the recomputed copies back */
        ir_verify(g);
    }
    if (o->optimize) {
        g = pass_msum(g); /* after reverse mode: no rule differentiates its summed products */
        ir_verify(g);
        g->pair_gelu = 1; /* pass_gelu_pairs, on each generated function's own graph */
    }
    if (stopped(o)) return NULL;
    g = pass_dce(g, 1, 1, 1, 1);
    ir_verify(g);
    check_workspace(g, d);
    if (d->nerrors > errors) return NULL;
    return g;
}

char *bpc_emit_string(Graph *g, const EmitOptions *o, int header) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) abort();
    if (header) emit_c_header(f, g, o);
    else emit_c_source(f, g, o);
    fclose(f);
    return buf;
}

int bpc_model_jit(Model *m, Graph *g, int f64, JitKind kind, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    EmitOptions eo = {f64, 1, 0, NULL, 1, 0, kind == JIT_TCC};
    char *code = bpc_emit_string(g, &eo, 0);
    m->jit = jit_compile(code, kind, err, errlen);
    free(code);
    if (!m->jit) return -1;
    m->g = g;
    m->f64 = f64;
    m->real_size = f64 ? sizeof(double) : sizeof(float);
    m->ws_size = (EntryWs)jit_symbol(m->jit, "bp_ws_entry");
    m->opt_size = (EntryOptSize)jit_symbol(m->jit, "bp_opt_size_entry");
    m->init = (EntryInit)jit_symbol(m->jit, "bp_init_entry");
    m->forward = (EntryForward)jit_symbol(m->jit, "bp_forward_entry");
    m->loss = (EntryLoss)jit_symbol(m->jit, "bp_loss_entry");
    m->loss_eval = (EntryLoss)jit_symbol(m->jit, "bp_loss_eval_entry");
    m->grad = (EntryGrad)jit_symbol(m->jit, "bp_grad_entry");
    m->grad_seeded = (EntryGradSeeded)jit_symbol(m->jit, "bp_grad_seeded_entry");
    m->hvp = (EntryHvp)jit_symbol(m->jit, "bp_hvp_entry");
    m->train_step = (EntryStep)jit_symbol(m->jit, "bp_train_step_entry");
    m->update = (EntryUpdate)jit_symbol(m->jit, "bp_update_entry");
    if (!m->ws_size || !m->init || !m->update) {
        snprintf(err, errlen, "JIT: generated entry points not found");
        jit_free(m->jit);
        m->jit = NULL;
        return -1;
    }
    return 0;
}

void bpc_model_free(Model *m) {
    jit_free(m->jit);
    m->jit = NULL;
}
