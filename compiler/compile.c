/* compile.c — see compile.h. The pipeline, in order. */
#include "compile.h"

#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "passes.h"
#include "sema.h"

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

Graph *bpc_compile_program(Arena *a, Diag *d, const Program *prog, const char *default_model, const CompileOptions *o) {
    CompileOptions defaults = {.optimize = 1};
    if (!o) o = &defaults;
    int errors = d->nerrors;
    SemaOptions so = {default_model, o->allow_expr_stmts};
    Graph *g = sema_program(a, d, prog, &so);
    if (d->nerrors > errors) return NULL;
    ir_verify(g);
    if (o->optimize) {
        g = pass_fold(g); /* before reverse mode, so that fused forms get fused gradients */
        ir_verify(g);
    }
    if (g->loss >= 0 && !o->no_grad) {
        if (ad_gradients(g, g->loss) != 0 || d->nerrors > errors) return NULL;
        ir_verify(g);
    }
    if (o->optimize) {
        g = pass_fold(g);
        ir_verify(g);
        g = pass_cse(g);
        ir_verify(g);
    }
    if (o->hvp && g->loss >= 0 && !o->no_grad) {
        g = build_hvp(g, o);
        if (d->nerrors > errors) return NULL;
    }
    if (!o->no_checkpoint) {
        g = pass_remat(g); /* last: CSE would merge the recomputed copies back */
        ir_verify(g);
    }
    g = pass_dce(g, 1, 1, 1, 1);
    ir_verify(g);
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
    m->ws_size = (EntryWs)jit_symbol(m->jit, "bp_entry_ws");
    m->opt_size = (EntryOptSize)jit_symbol(m->jit, "bp_entry_opt_size");
    m->init = (EntryInit)jit_symbol(m->jit, "bp_entry_init");
    m->forward = (EntryForward)jit_symbol(m->jit, "bp_entry_forward");
    m->loss = (EntryLoss)jit_symbol(m->jit, "bp_entry_loss");
    m->grad = (EntryGrad)jit_symbol(m->jit, "bp_entry_grad");
    m->hvp = (EntryHvp)jit_symbol(m->jit, "bp_entry_hvp");
    m->train_step = (EntryStep)jit_symbol(m->jit, "bp_entry_train_step");
    m->update = (EntryUpdate)jit_symbol(m->jit, "bp_entry_update");
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
