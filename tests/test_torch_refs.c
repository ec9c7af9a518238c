/* test_torch_refs.c — losses and gradients agree with PyTorch.
 *
 * Every program tests/torch/programs/NAME.bp has a file tests/torch/data/NAME.safetensors
 * made once by tests/torch/gen_refs.py with Debian's python3-torch: the parameters and
 * inputs, the loss and every parameter's gradient from a float64 PyTorch run ("loss",
 * "grad.<param>") and from a float32 run ("loss32", "grad32.<param>"). Here each program is
 * compiled and JIT-compiled in double and in float, fed the same values, and its loss and
 * gradient compared element by element:
 *   f64: |got - want| / max(|want|, 1e-6) <= 1e-8
 *   f32: |got - want| / max(|want|, 1e-3) <= 1e-4
 * Symbolic dimensions are bound from the stored inputs' shapes. Paths are relative to the
 * source root (ctest's working directory) unless BP_SOURCE_DIR is defined.
 *
 * tests/torch/edge/{programs,data} (tests/torch/gen_edge_refs.py) are the same at IEEE edge
 * values: inf, -inf, NaN, both zeros, 1e38, 1e308 and subnormals through every op and its
 * gradient, and the algebraic identities pass_fold.c must not apply to them. There (and
 * everywhere) a NaN must meet a NaN and an infinity the same infinity. The edge programs also
 * run as --standalone output (its own bp_ functions for every elementwise op), compiled by
 * libtcc in f64 and f32 and, for three of them, by cc -O0 in f64; and all but two compiled
 * by bpc -O0 (no graph optimisation: test_edge_O0). */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#ifndef BP_SOURCE_DIR
#define BP_SOURCE_DIR "."
#endif
#define PROG_DIR BP_SOURCE_DIR "/tests/torch/programs"
#define DATA_DIR BP_SOURCE_DIR "/tests/torch/data"
#define EDGE_PROG_DIR BP_SOURCE_DIR "/tests/torch/edge/programs"
#define EDGE_DATA_DIR BP_SOURCE_DIR "/tests/torch/edge/data"

static char **names; /* grown as needed: every program is run, however many */
static int nnames, names_cap;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_names(void) {
    for (int i = 0; i < nnames; i++) free(names[i]);
    free(names);
    names = NULL;
    nnames = names_cap = 0;
}

/* The programs: every .bp file of the directory, sorted. */
static void list_programs(const char *dir) {
    free_names();
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 3 || strcmp(e->d_name + n - 3, ".bp") != 0) continue;
        if (nnames == names_cap) {
            names_cap = names_cap ? 2 * names_cap : 64;
            names = realloc(names, (size_t)names_cap * sizeof *names);
            assert_non_null(names);
        }
        assert_non_null(names[nnames++] = strndup(e->d_name, n - 3));
    }
    closedir(d);
    if (nnames) qsort(names, (size_t)nnames, sizeof names[0], cmp_str);
}

static int64_t shape_count(const Shape *s, const int *dims) {
    int64_t n = 1;
    for (int k = 0; k < s->rank; k++) n *= s->d[k].c * (s->d[k].sym >= 0 ? dims[s->d[k].sym] : 1);
    return n;
}

/* Binds the symbolic dimensions from the stored inputs' shapes. */
static int bind_dims(const Graph *g, const BprtSafetensors *st, int *dims, const char *name) {
    int bound[BP_MAXSYMS] = {0};
    for (int i = 0; i < g->ninputs; i++) {
        const Input *in = &g->inputs[i];
        const BprtTensor *t = bprt_st_find(st, in->name);
        if (!t) {
            print_error("%s: no input '%s' in the data file\n", name, in->name);
            return -1;
        }
        if (t->ndim != in->shape.rank) {
            print_error("%s: input '%s' has rank %d in the data file, %d in the program\n", name, in->name, t->ndim,
                        in->shape.rank);
            return -1;
        }
        for (int k = 0; k < in->shape.rank; k++) {
            Dim d = in->shape.d[k];
            if (d.sym < 0) continue;
            int v = (int)(t->shape[k] / d.c);
            if (bound[d.sym] && dims[d.sym] != v) {
                print_error("%s: dimension %s bound to %d and %d\n", name, g->syms.names[d.sym], dims[d.sym], v);
                return -1;
            }
            bound[d.sym] = 1;
            dims[d.sym] = v;
        }
    }
    for (int s = 0; s < g->syms.n; s++)
        if (!bound[s]) {
            print_error("%s: dimension %s not bound by any input\n", name, g->syms.names[s]);
            return -1;
        }
    return 0;
}

typedef struct Worst {
    double err, got, want;
    const char *what; /* "loss" or a parameter name */
    int64_t index;
} Worst;

static void note(Worst *w, double got, double want, double floor_, const char *what, int64_t index) {
    /* a NaN meets a NaN, an infinity the same infinity; a NaN error (inf - inf, NaN against
       a number) counts as worst */
    double err = (got == want || (isnan(got) && isnan(want))) ? 0 : fabs(got - want) / fmax(fabs(want), floor_);
    if (!(err <= w->err)) { /* NaN counts as worst */
        w->err = isnan(err) ? INFINITY : err;
        w->got = got;
        w->want = want;
        w->what = what;
        w->index = index;
    }
}

/* How a program is built: JIT-compiled as bpc runs it, or as --standalone output (the
 * runtime parts it uses in the C, every elementwise op through the emitted bp_ functions)
 * by libtcc or by cc. */
enum { BUILD_JIT, BUILD_STANDALONE_TCC, BUILD_STANDALONE_CC, BUILD_JIT_O0 };
static const char *const build_name[] = {"", " standalone tcc", " standalone cc", " -O0"};

/* Runs one program at one precision; returns its worst relative error (INFINITY when it
 * could not run) and prints a line when it exceeds tol. */
static double run_program(const char *pdir, const char *ddir, const char *name, int f64, int build, double tol,
                          double floor_) {
    char path[1024], err[BPRT_ERRLEN];
    snprintf(path, sizeof path, "%s/%s.bp", pdir, name);
    char *text = th_read_text(path);
    if (!text) {
        print_error("%s: cannot read %s\n", name, path);
        return INFINITY;
    }
    snprintf(path, sizeof path, "%s/%s.safetensors", ddir, name);
    BprtSafetensors st;
    if (bprt_st_read(path, &st, err) != 0) {
        print_error("%s: %s\n", name, err);
        free(text);
        return INFINITY;
    }
    double result = INFINITY;
    TestModel t;
    int dims[BP_MAXSYMS] = {0};
    /* First build: the program's symbols and inputs; then build again at the data's sizes. */
    th_build(&t, text, f64, NULL);
    int ok = t.ok && bind_dims(t.g, &st, dims, name) == 0;
    if (!t.ok) print_error("%s did not compile:\n%s\n", name, th_diag_text(&t));
    th_free(&t);
    if (!ok) goto out_st;
    if (build == BUILD_JIT) th_build(&t, text, f64, dims);
    else if (build == BUILD_JIT_O0) {
        CompileOptions co = {.optimize = 0};
        th_build_with(&t, text, f64, dims, &co);
    } else th_build_standalone(&t, text, f64, dims, build == BUILD_STANDALONE_CC);
    if (!t.ok) {
        print_error("%s did not compile:\n%s\n", name, th_diag_text(&t));
        goto out_model;
    }
    const Graph *g = t.g;
    double *buf = NULL;
    /* inputs */
    for (int i = 0; i < g->ninputs; i++) {
        const Input *in = &g->inputs[i];
        const BprtTensor *tt = bprt_st_find(&st, in->name);
        int64_t n = shape_count(&in->shape, t.dims);
        if (!tt || tt->count != n) {
            print_error("%s: input '%s' has %lld elements in the data file, %lld expected\n", name, in->name,
                        tt ? (long long)tt->count : -1LL, (long long)n);
            goto out_buf;
        }
        buf = realloc(buf, (size_t)n * sizeof(double) + 8);
        bprt_st_to_f64(tt, buf);
        for (int64_t k = 0; k < n; k++)
            if (in->dtype == DT_INT) ((int32_t *)t.inputs[i])[k] = (int32_t)buf[k];
            else drv_set(&t.m, t.inputs[i], k, buf[k]);
    }
    /* parameters */
    for (int p = 0; p < g->nparams; p++) {
        const Param *pr = &g->params[p];
        const BprtTensor *tt = bprt_st_find(&st, pr->name);
        if (!tt || tt->count != pr->numel) {
            print_error("%s: parameter '%s' missing or of the wrong size in the data file\n", name, pr->name);
            goto out_buf;
        }
        buf = realloc(buf, (size_t)pr->numel * sizeof(double) + 8);
        bprt_st_to_f64(tt, buf);
        for (int64_t k = 0; k < pr->numel; k++) drv_set(&t.m, t.params, pr->offset + k, buf[k]);
    }
    void *grad = calloc((size_t)g->nparam_reals + 1, t.m.real_size);
    void *ws = malloc(t.m.ws_size(t.dims) + 64);
    const void *const *in = (const void *const *)t.inputs;
    double loss = t.m.grad(t.params, grad, in, t.dims, ws);
    double loss2 = t.m.loss(t.params, in, t.dims, ws);

    Worst w = {0, 0, 0, "loss", 0};
    double want_loss;
    const BprtTensor *lt = bprt_st_find(&st, f64 ? "loss" : "loss32");
    if (!lt || lt->count != 1) {
        print_error("%s: no reference loss\n", name);
        goto out_ws;
    }
    bprt_st_to_f64(lt, &want_loss);
    note(&w, loss, want_loss, floor_, "loss (from grad)", 0);
    note(&w, loss2, want_loss, floor_, "loss (from loss)", 0);
    for (int p = 0; p < g->nparams; p++) {
        const Param *pr = &g->params[p];
        char key[256];
        snprintf(key, sizeof key, "%s.%s", f64 ? "grad" : "grad32", pr->name);
        const BprtTensor *tt = bprt_st_find(&st, key);
        if (!tt || tt->count != pr->numel) {
            print_error("%s: reference '%s' missing or of the wrong size\n", name, key);
            goto out_ws;
        }
        buf = realloc(buf, (size_t)pr->numel * sizeof(double) + 8);
        bprt_st_to_f64(tt, buf);
        for (int64_t k = 0; k < pr->numel; k++)
            note(&w, drv_get(&t.m, grad, pr->offset + k), buf[k], floor_, pr->name, k);
    }
    result = w.err;
    if (!(w.err <= tol))
        print_error("%s (%s%s): worst relative error %.3g > %g at %s[%lld]: got %.17g, PyTorch %.17g\n", name,
                    f64 ? "f64" : "f32", build_name[build], w.err, tol, w.what, (long long)w.index, w.got, w.want);
    else
        print_message("%-26s %s%s  loss %-22.17g worst relative error %.3g (%s)\n", name, f64 ? "f64" : "f32",
                      build_name[build], loss, w.err, w.what);
out_ws:
    free(ws);
    free(grad);
out_buf:
    free(buf);
out_model:
    th_free(&t);
out_st:
    bprt_st_free(&st);
    free(text);
    return result;
}

/* Every program of pdir (at least min_programs), or those named in only, but those named in
 * skip (both NULL-terminated, or NULL). */
static void run_all(const char *pdir, const char *ddir, int min_programs, int f64, int build, double tol,
                    double floor_, const char *const *only, const char *const *skip) {
    list_programs(pdir);
    assert_true(nnames >= min_programs);
    int failed = 0, ran = 0;
    double worst = 0;
    for (int i = 0; i < nnames; i++) {
        int k = 0;
        while (only && only[k] && strcmp(only[k], names[i]) != 0) k++;
        if (only && !only[k]) continue;
        k = 0;
        while (skip && skip[k] && strcmp(skip[k], names[i]) != 0) k++;
        if (skip && skip[k]) continue;
        double e = run_program(pdir, ddir, names[i], f64, build, tol, floor_);
        ran++;
        if (!(e <= tol)) failed++;
        if (!(e <= worst)) worst = e;
    }
    print_message("%d programs in %s%s: worst relative error %.3g (tolerance %g), %d failed\n", ran,
                  f64 ? "f64" : "f32", build_name[build], worst, tol, failed);
    if (only) /* every one named exists */
        for (int k = 0; only[k]; k++) ran -= 1;
    assert_int_equal(only ? ran : 0, 0);
    assert_int_equal(failed, 0);
}

static void test_f64(void **state) {
    (void)state;
    run_all(PROG_DIR, DATA_DIR, 12, 1, BUILD_JIT, 1e-8, 1e-6, NULL, NULL);
}

static void test_f32(void **state) {
    (void)state;
    run_all(PROG_DIR, DATA_DIR, 12, 0, BUILD_JIT, 1e-4, 1e-3, NULL, NULL);
}

static void test_edge_f64(void **state) {
    (void)state;
    run_all(EDGE_PROG_DIR, EDGE_DATA_DIR, 100, 1, BUILD_JIT, 1e-8, 1e-6, NULL, NULL);
}

static void test_edge_f32(void **state) {
    (void)state;
    run_all(EDGE_PROG_DIR, EDGE_DATA_DIR, 100, 0, BUILD_JIT, 1e-4, 1e-3, NULL, NULL);
}

/* --standalone output computes every elementwise op with the bp_ functions of its preamble,
 * which the JIT's and libbprt's builds (bprt_ew, the runtime's kernels) never call: the edge
 * programs again as --standalone output, all by libtcc (about 10 ms each), and three by cc
 * too (about a second each): bce_logits at z = -inf, leaky_relu at 0 and softplus. The
 * sanitizers' build runs them all too: emit_c.c finds the runtime text's names once per
 * process, not once a program (0.3 s each under ASan). */
static const char *const standalone_cc_programs[] = {"bcel_12", "un_leaky_relu", "un_softplus", NULL};

static void test_edge_standalone_f64(void **state) {
    (void)state;
    run_all(EDGE_PROG_DIR, EDGE_DATA_DIR, 100, 1, BUILD_STANDALONE_TCC, 1e-8, 1e-6, NULL, NULL);
}

static void test_edge_standalone_f32(void **state) {
    (void)state;
    run_all(EDGE_PROG_DIR, EDGE_DATA_DIR, 100, 0, BUILD_STANDALONE_TCC, 1e-4, 1e-3, NULL, NULL);
}

static void test_edge_standalone_cc(void **state) {
    (void)state;
    run_all(EDGE_PROG_DIR, EDGE_DATA_DIR, 100, 1, BUILD_STANDALONE_CC, 1e-8, 1e-6, standalone_cc_programs, NULL);
}

/* The edge programs again without the optimiser (-O0: no folding, no CSE, no batch sums in
 * the products): reverse mode's rules meet the forms the folder removes (x ^ 0 differentiated
 * as 0 * x^-1 was NaN at 0). One program keeps PyTorch's own values at -O0 where the data
 * holds the optimised build's documented ones (README.md, IEEE edge values): causal_softmax
 * (the masked entries of a NaN row). (fold_checkpoint, x's gradient through x * 0, is checked
 * at -O0 too: reverse mode's zeros are symbolic at every level.) */
static const char *const edge_O0_skipped[] = {"causal_softmax", NULL};

static void test_edge_O0(void **state) {
    (void)state;
    run_all(EDGE_PROG_DIR, EDGE_DATA_DIR, 100, 1, BUILD_JIT_O0, 1e-8, 1e-6, NULL, edge_O0_skipped);
    run_all(EDGE_PROG_DIR, EDGE_DATA_DIR, 100, 0, BUILD_JIT_O0, 1e-4, 1e-3, NULL, edge_O0_skipped);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f64),
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_edge_f64),
        cmocka_unit_test(test_edge_f32),
        cmocka_unit_test(test_edge_standalone_f64),
        cmocka_unit_test(test_edge_standalone_f32),
        cmocka_unit_test(test_edge_standalone_cc),
        cmocka_unit_test(test_edge_O0),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    free_names();
    return r;
}
