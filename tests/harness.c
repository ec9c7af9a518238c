/* harness.c — see harness.h. */
#include "harness.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void th_build(TestModel *t, const char *text, int f64, const int *sizes) { th_build_with(t, text, f64, sizes, NULL); }

/* The program compiled into t->g (0), or diagnostics in t->diag_text (-1). */
static int compile_text(TestModel *t, const char *text, const CompileOptions *o) {
    memset(t, 0, sizeof *t);
    t->arena = arena_new();
    t->diag_out = open_memstream(&t->diag_text, &t->diag_len);
    diag_init(&t->diag, t->diag_out);
    const char *name = diag_add_source(&t->diag, "t.bp", text);
    t->g = bpc_compile(t->arena, &t->diag, name, text, o);
    return t->g ? 0 : -1;
}

static void alloc_values(TestModel *t, const int *sizes);

void th_build_with(TestModel *t, const char *text, int f64, const int *sizes, const CompileOptions *o) {
    if (compile_text(t, text, o) != 0) return;
    char err[4096];
    if (bpc_model_jit(&t->m, t->g, f64, JIT_TCC, err, sizeof err) != 0) {
        fprintf(t->diag_out, "jit: %s\n", err);
        return;
    }
    alloc_values(t, sizes);
}

/* Builds code into a shared object with cc -O0 in a directory of its own and dlopens it. */
static void *cc_load(const char *code, char *err, size_t errlen) {
    char dir[] = "/tmp/bpc-test-XXXXXX", src[64], so[64], cmd[512];
    void *dl = NULL;
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "cannot create a temporary directory");
        return NULL;
    }
    snprintf(src, sizeof src, "%s/m.c", dir);
    snprintf(so, sizeof so, "%s/m.so", dir);
    FILE *f = fopen(src, "w");
    if (!f || fputs(code, f) < 0 || fclose(f) != 0) snprintf(err, errlen, "cannot write %s", src);
    else {
        const char *cc = getenv("CC");
        snprintf(cmd, sizeof cmd, "%s -std=c99 -O0 -fPIC -shared -o %s %s", cc && *cc ? cc : "cc", so, src);
        if (system(cmd) != 0) snprintf(err, errlen, "'%s' failed", cmd);
        else if (!(dl = dlopen(so, RTLD_NOW | RTLD_LOCAL))) snprintf(err, errlen, "dlopen: %s", dlerror());
    }
    unlink(src);
    unlink(so);
    rmdir(dir);
    return dl;
}

void th_build_standalone(TestModel *t, const char *text, int f64, const int *sizes, int cc) {
    if (compile_text(t, text, NULL) != 0) return;
    const EmitOptions eo = {f64, 0, 0, NULL, 1, 1, 0}; /* standalone, with the entry points */
    char *code = bpc_emit_string(t->g, &eo, 0), err[4096] = "";
    Model *m = &t->m;
    if (cc) t->dl = cc_load(code, err, sizeof err);
    else m->jit = jit_compile(code, JIT_TCC, err, sizeof err);
    free(code);
    if (!t->dl && !m->jit) {
        fprintf(t->diag_out, "standalone %s: %s\n", cc ? "cc" : "libtcc", err);
        return;
    }
#define SYM(name) (t->dl ? dlsym(t->dl, name) : jit_symbol(m->jit, name))
    m->g = t->g;
    m->f64 = f64;
    m->real_size = f64 ? sizeof(double) : sizeof(float);
    m->ws_size = (EntryWs)SYM("bp_ws_entry");
    m->init = (EntryInit)SYM("bp_init_entry");
    m->loss = (EntryLoss)SYM("bp_loss_entry");
    m->grad = (EntryGrad)SYM("bp_grad_entry");
#undef SYM
    if (!m->ws_size || !m->init || (t->g->loss >= 0 && (!m->loss || !m->grad))) {
        fprintf(t->diag_out, "standalone: entry points not found\n");
        return;
    }
    alloc_values(t, sizes);
}

/* Parameters from NAME_init with seed 1, inputs their defaults (or zeros); t->ok = 1. */
static void alloc_values(TestModel *t, const int *sizes) {
    for (int s = 0; s < t->g->syms.n; s++) t->dims[s] = sizes ? sizes[s] : 3;
    t->params = calloc((size_t)t->g->nparam_reals + 1, t->m.real_size);
    t->m.init(t->params, 1);
    if (t->g->ninputs > (int)(sizeof t->inputs / sizeof t->inputs[0])) { /* (they were written past it) */
        fprintf(t->diag_out, "test harness: more inputs than it holds\n");
        return;
    }
    for (int i = 0; i < t->g->ninputs; i++) {
        const Input *in = &t->g->inputs[i];
        size_t n = 1;
        for (int k = 0; k < in->shape.rank; k++)
            n *= (size_t)in->shape.d[k].c * (size_t)(in->shape.d[k].sym >= 0 ? t->dims[in->shape.d[k].sym] : 1);
        t->inputs[i] = n < ((size_t)1 << 28) ? calloc(n + 1, in->dtype == DT_INT ? sizeof(int32_t) : t->m.real_size) : NULL;
        if (!t->inputs[i]) {
            fprintf(t->diag_out, "test harness: input '%s' too large to allocate\n", in->name);
            return;
        }
        for (size_t k = 0; k < n; k++)
            if (in->dtype == DT_INT) ((int32_t *)t->inputs[i])[k] = (int32_t)in->def;
            else drv_set(&t->m, t->inputs[i], (int64_t)k, in->has_default ? in->def : 0);
    }
    t->ok = 1;
}

const char *th_diag_text(TestModel *t) {
    fflush(t->diag_out);
    return t->diag_text ? t->diag_text : "";
}

static size_t input_count(TestModel *t, int i) {
    const Input *in = &t->g->inputs[i];
    size_t n = 1;
    for (int k = 0; k < in->shape.rank; k++)
        n *= (size_t)in->shape.d[k].c * (size_t)(in->shape.d[k].sym >= 0 ? t->dims[in->shape.d[k].sym] : 1);
    return n;
}

void th_randomize(TestModel *t, uint64_t seed, int classes) {
    for (int64_t i = 0; i < t->g->nparam_reals; i++) drv_set(&t->m, t->params, i, bprt_rng_normal(seed, 1, (uint64_t)i));
    for (int i = 0; i < t->g->ninputs; i++) {
        size_t n = input_count(t, i);
        for (size_t k = 0; k < n; k++) {
            if (t->g->inputs[i].dtype == DT_INT)
                ((int32_t *)t->inputs[i])[k] = (int32_t)(bprt_rng_u64(seed, 100 + (uint64_t)i, k) % (uint64_t)classes);
            else
                drv_set(&t->m, t->inputs[i], (int64_t)k, bprt_rng_normal(seed, 100 + (uint64_t)i, k));
        }
    }
}

double th_fd_check(TestModel *t) {
    BP_ASSERT(t->m.f64);
    double *p = t->params;
    int64_t np = t->g->nparam_reals;
    double *grad = calloc((size_t)np + 1, sizeof(double));
    void *ws = malloc(t->m.ws_size(t->dims) + 64);
    const void *const *in = (const void *const *)t->inputs;
    t->m.grad(p, grad, in, t->dims, ws);
    double worst = 0;
    for (int64_t i = 0; i < np; i++) {
        double x0 = p[i], h = 1e-5 * (fabs(x0) > 1 ? fabs(x0) : 1), f[4], d[4] = {h, -h, 2 * h, -2 * h};
        for (int k = 0; k < 4; k++) {
            p[i] = x0 + d[k];
            f[k] = t->m.loss(p, in, t->dims, ws);
        }
        p[i] = x0;
        double fd = (8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * h);
        double err = fabs(grad[i] - fd) / fmax(fmax(fabs(grad[i]), fabs(fd)), 1e-4);
        if (!(err <= worst)) worst = err;
    }
    free(grad);
    free(ws);
    return worst;
}

double th_fd_error(const char *text, const int *sizes, uint64_t seed, int classes) {
    TestModel t;
    th_build(&t, text, 1, sizes);
    double err = NAN;
    if (t.ok) {
        th_randomize(&t, seed, classes);
        err = th_fd_check(&t);
    }
    th_free(&t);
    return err;
}

/* Central differences of the gradient along v: (8 (g(+h) - g(-h)) - (g(+2h) - g(-2h))) / 12h. */
static void grad_fd_along(TestModel *t, const double *v, double h, double *fd, double *grad, void *ws) {
    double *p = t->params;
    int64_t np = t->g->nparam_reals;
    double *p0 = malloc((size_t)np * sizeof(double) + 8);
    if (!p0) abort();
    memcpy(p0, p, (size_t)np * sizeof(double));
    const void *const *in = (const void *const *)t->inputs;
    static const double step[4] = {1, -1, 2, -2}, weight[4] = {8, -8, -1, 1};
    for (int64_t i = 0; i < np; i++) fd[i] = 0;
    for (int k = 0; k < 4; k++) {
        for (int64_t i = 0; i < np; i++) p[i] = p0[i] + step[k] * h * v[i];
        t->m.grad(p, grad, in, t->dims, ws);
        for (int64_t i = 0; i < np; i++) fd[i] += weight[k] * grad[i];
    }
    for (int64_t i = 0; i < np; i++) fd[i] /= 12 * h;
    memcpy(p, p0, (size_t)np * sizeof(double));
    free(p0);
}

double th_hvp_check(TestModel *t, uint64_t seed) {
    BP_ASSERT(t->m.f64 && t->m.hvp);
    int64_t np = t->g->nparam_reals;
    size_t bytes = (size_t)(np + 1) * sizeof(double);
    double *v = malloc(bytes), *hv = malloc(bytes), *fd1 = malloc(bytes), *fd2 = malloc(bytes), *grad = malloc(bytes);
    void *ws = malloc(t->m.ws_size(t->dims) + 64);
    if (!v || !hv || !fd1 || !fd2 || !grad || !ws) abort();
    double vmax = 0;
    for (int64_t i = 0; i < np; i++) {
        v[i] = bprt_rng_normal(seed, 77, (uint64_t)i);
        if (fabs(v[i]) > vmax) vmax = fabs(v[i]);
    }
    const void *const *in = (const void *const *)t->inputs;
    t->m.hvp(t->params, v, hv, in, t->dims, ws);
    double h = 1e-3 / (vmax > 0 ? vmax : 1);
    grad_fd_along(t, v, h, fd1, grad, ws);
    grad_fd_along(t, v, h / 4, fd2, grad, ws);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < np; i++) scale = fmax(scale, fabs(fd1[i]));
    for (int64_t i = 0; i < np; i++) {
        double e1 = fabs(hv[i] - fd1[i]) / fmax(fmax(fmax(fabs(hv[i]), fabs(fd1[i])), 1e-4 * scale), 1e-6);
        double e2 = fabs(hv[i] - fd2[i]) / fmax(fmax(fmax(fabs(hv[i]), fabs(fd2[i])), 1e-4 * scale), 1e-6);
        double e = fmin(e1, e2);
        if (!(e <= worst)) worst = e;
    }
    free(v);
    free(hv);
    free(fd1);
    free(fd2);
    free(grad);
    free(ws);
    return worst;
}

void th_free(TestModel *t) {
    for (int i = 0; i < 64; i++) free(t->inputs[i]);
    free(t->params);
    if (t->m.jit) bpc_model_free(&t->m);
    if (t->dl) dlclose(t->dl);
    diag_free(&t->diag);
    fclose(t->diag_out);
    free(t->diag_text);
    arena_free(t->arena);
}

char *th_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}
