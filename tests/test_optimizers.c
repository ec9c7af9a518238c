/* test_optimizers.c — the fused training step's optimizers agree with torch.optim.
 *
 * tests/torch/data/opt_<model>_<opt>.safetensors (made by tests/torch/gen_opt_refs.py with
 * Debian's python3-torch) hold a small MLP's initial parameters and inputs and PyTorch's
 * parameters after 1 and after 3 optimizer steps ("step1.<param>", "step3.<param>", from a
 * float64 run) and the loss before each step ("loss"). Here the same MLP is written in .bp
 * with the matching `optimizer` / `clip_grad_norm` lines, JIT-compiled in float and in
 * double, and NAME_train_step (lr argument = the program's lr) run three times from a fresh
 * (zero-filled) optimizer state. Agreement required, element by element:
 *   f32: |got - want| <= max(1e-5 |want|, 1e-6)
 *   f64: |got - want| <= 1e-10 max(|want|, 1e-3)
 * Also: a step whose loss is not finite (a NaN in the input), or whose gradient is not
 * finite with a finite loss (sqrt at 0), returns a non-finite value and changes neither the
 * parameters nor the optimizer state. Plain SGD's update, fused into the weight-gradient
 * GEMMs, equals p - lr g by hand both when the GEMM runs fused and when its operands are
 * too large for the fused path's no-overflow bound (the plain update then runs). Paths are
 * relative to BP_SOURCE_DIR. */
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
#define DATA_DIR BP_SOURCE_DIR "/tests/torch/data"

/* The models of gen_opt_refs.py. */
static const char *model_ce =
    "input  x[B, 6]\ninput  y[B] : int\n"
    "param  W1[6, 5]\nparam  b1[5]\nparam  W2[5, 3]\nparam  b2[3]\n"
    "h = tanh(x @ W1 + b1)\nloss cross_entropy(h @ W2 + b2, y)\n";
static const char *model_mse =
    "input  x[B, 6]\ninput  t[B, 3]\n"
    "param  W1[6, 5]\nparam  b1[5]\nparam  W2[5, 3]\nparam  b2[3]\n"
    "h = relu(x @ W1 + b1)\nloss mse(h @ W2 + b2, t)\n";

/* The optimizers of gen_opt_refs.py, as .bp lines, with their lr. */
static const struct {
    const char *name, *line;
    double lr;
} opts[] = {
    {"sgd", "optimizer sgd(lr = 0.1, momentum = 0.9, weight_decay = 0.01)\n", 0.1},
    {"adam", "optimizer adam(lr = 0.01)\n", 0.01},
    {"adamw", "optimizer adamw(lr = 0.01, weight_decay = 0.01)\n", 0.01},
    {"adam_clip", "optimizer adam(lr = 0.01)\nclip_grad_norm 0.5\n", 0.01},
    {"sgd_clip", "optimizer sgd(lr = 0.1, momentum = 0.9)\nclip_grad_norm 0.5\n", 0.1},
    {"sgd_plain", "optimizer sgd(lr = 0.1)\n", 0.1}, /* the update fused into the weight GEMMs */
    {"sgd_wd", "optimizer sgd(lr = 0.1, weight_decay = 0.05)\n", 0.1}, /* fused too, with the decay */
    {"adamw_clip", "optimizer adamw(lr = 0.01, weight_decay = 0.01)\nclip_grad_norm 0.5\n", 0.01},
};

static void *xalloc(size_t n) {
    void *p = aligned_alloc(64, (n + 64) & ~(size_t)63);
    assert_non_null(p);
    memset(p, 0, (n + 64) & ~(size_t)63);
    return p;
}

/* Copies the stored tensor `key` into a real or int vector (n elements expected). */
static void load(const BprtSafetensors *st, const char *key, TestModel *t, void *dst, int64_t off, int64_t n, int is_int) {
    const BprtTensor *tt = bprt_st_find(st, key);
    if (!tt || tt->count != n) fail_msg("%s: missing or not %lld elements", key, (long long)n);
    double *buf = malloc((size_t)n * sizeof *buf + 8);
    bprt_st_to_f64(tt, buf);
    for (int64_t k = 0; k < n; k++)
        if (is_int) ((int32_t *)dst)[k] = (int32_t)buf[k];
        else drv_set(&t->m, dst, off + k, buf[k]);
    free(buf);
}

/* Builds model + optimizer at precision f64, loads the file's parameters and inputs. */
static void setup(TestModel *t, const char *model, const char *opt_line, int f64, const BprtSafetensors *st) {
    char text[2048];
    snprintf(text, sizeof text, "%s%s", model, opt_line);
    int dims[1] = {8};
    th_build(t, text, f64, dims);
    if (!t->ok) fail_msg("did not compile:\n%s\n%s", text, th_diag_text(t));
    assert_int_equal(t->g->syms.n, 1);
    for (int p = 0; p < t->g->nparams; p++)
        load(st, t->g->params[p].name, t, t->params, t->g->params[p].offset, t->g->params[p].numel, 0);
    for (int i = 0; i < t->g->ninputs; i++) {
        const Input *in = &t->g->inputs[i];
        int64_t n = 8 * (in->shape.rank == 2 ? in->shape.d[1].c : 1);
        load(st, in->name, t, t->inputs[i], 0, n, in->dtype == DT_INT);
    }
}

/* Worst error (as a multiple of the tolerance) of the parameters against "stepK.*". */
static double compare(TestModel *t, const BprtSafetensors *st, int step, const char *what, int f64) {
    double worst = 0;
    for (int p = 0; p < t->g->nparams; p++) {
        const Param *pr = &t->g->params[p];
        char key[64];
        snprintf(key, sizeof key, "step%d.%s", step, pr->name);
        const BprtTensor *tt = bprt_st_find(st, key);
        assert_non_null(tt);
        assert_int_equal(tt->count, pr->numel);
        double want[64];
        assert_true(pr->numel <= 64);
        bprt_st_to_f64(tt, want);
        for (int64_t k = 0; k < pr->numel; k++) {
            double got = drv_get(&t->m, t->params, pr->offset + k);
            double tol = f64 ? 1e-10 * fmax(fabs(want[k]), 1e-3) : fmax(1e-5 * fabs(want[k]), 1e-6);
            double e = fabs(got - want[k]) / tol;
            if (!(e <= 1))
                print_error("%s %s after %d step%s: %s[%lld] = %.17g, PyTorch %.17g (error %.3g x tolerance)\n", what,
                            f64 ? "f64" : "f32", step, step > 1 ? "s" : "", pr->name, (long long)k, got, want[k], e);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    }
    return worst;
}

static void run_case(const char *mname, const char *model, int oi, int f64) {
    char path[1024], err[BPRT_ERRLEN], what[64];
    snprintf(path, sizeof path, "%s/opt_%s_%s.safetensors", DATA_DIR, mname, opts[oi].name);
    snprintf(what, sizeof what, "%s/%s", mname, opts[oi].name);
    BprtSafetensors st;
    if (bprt_st_read(path, &st, err) != 0) fail_msg("%s", err);
    TestModel t;
    setup(&t, model, opts[oi].line, f64, &st);
    void *ws = xalloc(t.m.ws_size(t.dims));
    void *opt = xalloc(t.m.opt_size());
    const BprtTensor *lt = bprt_st_find(&st, "loss");
    assert_non_null(lt);
    assert_int_equal(lt->count, 3);
    double want_loss[3];
    bprt_st_to_f64(lt, want_loss);
    double worst = 0;
    for (int s = 1; s <= 3; s++) {
        double loss = t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, opts[oi].lr, ws);
        double le = fabs(loss - want_loss[s - 1]) / (f64 ? 1e-10 * fabs(want_loss[s - 1]) : 1e-5 * fabs(want_loss[s - 1]));
        if (!(le <= 1))
            print_error("%s %s: loss before step %d %.17g, PyTorch %.17g\n", what, f64 ? "f64" : "f32", s, loss,
                        want_loss[s - 1]);
        if (!(le <= worst)) worst = isnan(le) ? INFINITY : le;
        if (s == 1 || s == 3) {
            double e = compare(&t, &st, s, what, f64);
            if (!(e <= worst)) worst = e;
        }
    }
    print_message("%-14s %s  worst error %.3g x tolerance\n", what, f64 ? "f64" : "f32", worst);
    free(ws);
    free(opt);
    th_free(&t);
    bprt_st_free(&st);
    assert_true(worst <= 1);
}

static void run_all(int f64) {
    for (int oi = 0; oi < (int)(sizeof opts / sizeof opts[0]); oi++) {
        run_case("ce", model_ce, oi, f64);
        run_case("mse", model_mse, oi, f64);
    }
}

static void test_f32(void **state) {
    (void)state;
    run_all(0);
}

static void test_f64(void **state) {
    (void)state;
    run_all(1);
}

/* train_step on a NaN loss / a non-finite gradient: non-finite result, nothing changes. */
static void check_no_update(TestModel *t, const char *what) {
    size_t psz = (size_t)t->g->nparam_reals * t->m.real_size, osz = t->m.opt_size();
    void *ws = xalloc(t->m.ws_size(t->dims));
    void *opt = xalloc(osz);
    void *p0 = malloc(psz + 8), *o0 = malloc(osz + 8);
    memcpy(p0, t->params, psz);
    memcpy(o0, opt, osz);
    double loss = t->m.train_step(t->params, opt, (const void *const *)t->inputs, t->dims, 0.01, ws);
    if (isfinite(loss)) fail_msg("%s: train_step returned a finite loss %g", what, loss);
    if (memcmp(p0, t->params, psz) != 0) fail_msg("%s: parameters changed", what);
    if (memcmp(o0, opt, osz) != 0) fail_msg("%s: optimizer state changed", what);
    free(p0);
    free(o0);
    free(ws);
    free(opt);
}

static void test_nonfinite(void **state) {
    (void)state;
    char err[BPRT_ERRLEN], path[1024];
    snprintf(path, sizeof path, "%s/opt_ce_adam.safetensors", DATA_DIR);
    for (int f64 = 0; f64 <= 1; f64++)
        for (int oi = 0; oi < (int)(sizeof opts / sizeof opts[0]); oi++) {
            BprtSafetensors st;
            if (bprt_st_read(path, &st, err) != 0) fail_msg("%s", err);
            TestModel t;
            setup(&t, model_ce, opts[oi].line, f64, &st);
            /* a good step first, so the optimizer state is not all zeros */
            void *ws = xalloc(t.m.ws_size(t.dims));
            void *opt = xalloc(t.m.opt_size());
            assert_true(isfinite(t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, opts[oi].lr, ws)));
            size_t psz = (size_t)t.g->nparam_reals * t.m.real_size, osz = t.m.opt_size();
            void *p0 = malloc(psz + 8), *o0 = malloc(osz + 8);
            memcpy(p0, t.params, psz);
            memcpy(o0, opt, osz);
            drv_set(&t.m, t.inputs[0], 13, NAN);
            double loss = t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, opts[oi].lr, ws);
            if (isfinite(loss)) fail_msg("%s: a NaN input gave the finite loss %g", opts[oi].name, loss);
            if (memcmp(p0, t.params, psz) != 0) fail_msg("%s %s: parameters changed on a NaN loss", opts[oi].name, f64 ? "f64" : "f32");
            if (memcmp(o0, opt, osz) != 0) fail_msg("%s %s: optimizer state changed on a NaN loss", opts[oi].name, f64 ? "f64" : "f32");
            free(p0);
            free(o0);
            free(ws);
            free(opt);
            th_free(&t);
            bprt_st_free(&st);
        }
    /* finite loss, infinite gradient: d sqrt(p)/dp at p = 0 */
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel t;
        th_build(&t, "param p = 0\nparam q = 1\nloss sqrt(p) + q^2\noptimizer adam(lr = 0.01)\n", f64, NULL);
        if (!t.ok) fail_msg("%s", th_diag_text(&t));
        check_no_update(&t, "sqrt at 0");
        th_free(&t);
    }
}

/* clip_grad_norm scales the gradient by torch.nn.utils.clip_grad_norm_'s min(1, c / (norm + 1e-6)):
 * below 1 also when the norm is at c or just under it (bpc scaled only a norm above c). One
 * SGD step (lr 1) on loss 0.5 p^2 (gradient p); the values are PyTorch's (float64). */
static void test_clip_coefficient(void **state) {
    (void)state;
    static const struct {
        const char *p, *clip;
        double want;
    } cases[] = {
        {"5e-7", "1e-6", 1.6666666666666668e-07}, /* norm half the clip: 1e-6 / 1.5e-6 */
        {"3e-7", "1e-7", 2.7692307692307693e-07}, /* above the clip */
        {"1", "1", 9.99998999939855e-07},         /* at the clip: 1 / (1 + 1e-6) */
        {"2", "1", 1.00000049999975},             /* above it */
        {"0.5", "1", 0},                          /* well below it: unscaled */
        {"0", "1e-9", 0},                         /* no gradient */
    };
    for (int f64 = 0; f64 <= 1; f64++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            char text[256];
            snprintf(text, sizeof text, "param p = %s\nloss 0.5 * p^2\noptimizer sgd(lr = 1)\nclip_grad_norm %s\n",
                     cases[c].p, cases[c].clip);
            TestModel t;
            th_build(&t, text, f64, NULL);
            if (!t.ok) fail_msg("%s", th_diag_text(&t));
            void *ws = xalloc(t.m.ws_size(t.dims)), *opt = xalloc(t.m.opt_size());
            assert_true(isfinite(t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, 1, ws)));
            const double got = drv_get(&t.m, t.params, 0), want = cases[c].want;
            const double tol = (f64 ? 1e-15 : 2e-7) * fmax(fabs(want), atof(cases[c].p));
            if (!(fabs(got - want) <= tol))
                fail_msg("p = %s, clip_grad_norm %s, %s: p = %.17g after the step, PyTorch %.17g", cases[c].p,
                         cases[c].clip, f64 ? "f64" : "f32", got, want);
            free(ws);
            free(opt);
            th_free(&t);
        }
}

/* A parameter the loss does not reach (U: declared and unused; O: read by the output alone)
 * has no gradient, and the optimizer leaves it alone, as torch.optim skips a parameter whose
 * .grad is None: no weight decay, no moments. (They shrank under weight decay.) Checked with
 * the update fused into the GEMM (no clipping) and with the plain update (clipping), each
 * optimizer with weight decay; W, which the loss reaches, moves. */
static void test_no_gradient_no_update(void **state) {
    (void)state;
    static const char *const optims[] = {
        "optimizer adamw(lr = 0.1, weight_decay = 0.5)\n",
        "optimizer sgd(lr = 0.1, momentum = 0.9, weight_decay = 0.5)\n",
        "optimizer adam(lr = 0.1)\n",
    };
    for (int f64 = 0; f64 <= 1; f64++)
        for (int oi = 0; oi < 3; oi++)
            for (int clip = 0; clip <= 1; clip++) {
                char text[512];
                snprintf(text, sizeof text, "input x[2, 2]\ninput t[2, 2]\nparam U[3] = ones\nparam W[2, 2] = normal(1)\n"
                                            "param O[2] = uniform(1, 2)\nout = x @ W + O\noutput out\n"
                                            "loss sum((x @ W) * t)\n%s%s", optims[oi], clip ? "clip_grad_norm 10\n" : "");
                TestModel t;
                th_build(&t, text, f64, NULL);
                if (!t.ok) fail_msg("%s", th_diag_text(&t));
                for (int i = 0; i < 4; i++)
                    drv_set(&t.m, t.inputs[0], i, 0.5 * (i + 1)), drv_set(&t.m, t.inputs[1], i, 1.0 - i);
                const size_t psz = (size_t)t.g->nparam_reals * t.m.real_size;
                unsigned char *p0 = malloc(psz);
                memcpy(p0, t.params, psz);
                void *ws = xalloc(t.m.ws_size(t.dims)), *opt = xalloc(t.m.opt_size());
                for (int k = 0; k < 3; k++)
                    assert_true(isfinite(t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, 0.1, ws)));
                for (int p = 0; p < t.g->nparams; p++) {
                    const Param *pr = &t.g->params[p];
                    const size_t at = (size_t)pr->offset * t.m.real_size, n = (size_t)pr->numel * t.m.real_size;
                    const int same = memcmp(p0 + at, (unsigned char *)t.params + at, n) == 0;
                    if (same != (strcmp(pr->name, "W") != 0))
                        fail_msg("%.*s%s %s: %s %s after 3 steps", (int)strcspn(optims[oi], "\n"), optims[oi],
                                 clip ? " (clipped)" : "", f64 ? "f64" : "f32", pr->name, same ? "did not change" : "changed");
                }
                free(p0);
                free(ws);
                free(opt);
                th_free(&t);
            }
}

/* loss = sum((x @ W) * t) + sum(b * b): dW = xᵀ t (fused GEMM), db = 2 b (plain update). */
static void fused_case(int f64, const double x[4], const double t4[4], const char *what) {
    TestModel t;
    th_build(&t, "input x[2, 2]\ninput t[2, 2]\nparam W[2, 2] = normal(1)\nparam b[2] = normal(1)\n"
                 "loss sum((x @ W) * t) + sum(b * b)\noptimizer sgd(lr = 0.5)\n", f64, NULL);
    if (!t.ok) fail_msg("%s", th_diag_text(&t));
    for (int i = 0; i < 4; i++) drv_set(&t.m, t.inputs[0], i, x[i]), drv_set(&t.m, t.inputs[1], i, t4[i]);
    double p[6], want[6];
    for (int i = 0; i < 6; i++) p[i] = drv_get(&t.m, t.params, i);
    for (int r = 0; r < 2; r++) /* W[r][c] -= 0.5 sum_k x[k][r] t[k][c] */
        for (int c = 0; c < 2; c++) want[r * 2 + c] = p[r * 2 + c] - 0.5 * (x[r] * t4[c] + x[2 + r] * t4[2 + c]);
    for (int i = 4; i < 6; i++) want[i] = p[i] - 0.5 * 2 * p[i];
    void *ws = xalloc(t.m.ws_size(t.dims)), *opt = xalloc(t.m.opt_size());
    assert_true(isfinite(t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, 0.5, ws)));
    for (int i = 0; i < 6; i++) {
        double got = drv_get(&t.m, t.params, i), tol = f64 ? 1e-12 * fmax(fabs(want[i]), 1) : 1e-6 * fmax(fabs(want[i]), 1);
        if (!(fabs(got - want[i]) <= tol))
            fail_msg("%s %s: param %d = %.17g after the step, by hand %.17g", what, f64 ? "f64" : "f32", i, got, want[i]);
    }
    assert_true(*(const double *)opt == 1); /* the step count */
    free(ws);
    free(opt);
    th_free(&t);
}

static void test_fused_sgd(void **state) {
    (void)state;
    /* the generated step has the fused GEMM */
    TestModel tm;
    th_build(&tm, "input x[2, 2]\ninput t[2, 2]\nparam W[2, 2]\nloss sum((x @ W) * t)\noptimizer sgd(lr = 0.5)\n", 0, NULL);
    if (!tm.ok) fail_msg("%s", th_diag_text(&tm));
    EmitOptions eo = {0};
    char *c = bpc_emit_string(tm.g, &eo, 0);
    if (!strstr(c, "-lr, in_x, 2, in_t, 2, 1, params + 0, 2); /* W */")) fail_msg("no fused GEMM in:\n%s", c);
    free(c);
    th_free(&tm);
    const double x[4] = {1, -2, 0.5, 3}, t4[4] = {0.25, -1, 2, 0.5};
    /* max|x| max|t| K = 2e40 > 1e38 (float) but every product is finite: the plain path */
    const double xb[4] = {1e30, 0, 1, 0}, tb[4] = {1e-20, 0, 1e10, 0};
    for (int f64 = 0; f64 <= 1; f64++) {
        fused_case(f64, x, t4, "fused");
        fused_case(f64, xb, tb, "over the bound");
    }
    /* two parameters multiplied: each gradient reads the other's value before the step */
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel t;
        th_build(&t, "param A[2, 2] = normal(1)\nparam B[2, 2] = normal(1)\ninput t[2, 2]\n"
                     "loss sum((A @ B) * t)\noptimizer sgd(lr = 0.5)\n", f64, NULL);
        if (!t.ok) fail_msg("%s", th_diag_text(&t));
        const double tv[4] = {1, -2, 0.5, 3};
        for (int i = 0; i < 4; i++) drv_set(&t.m, t.inputs[0], i, tv[i]);
        double A[4], B[4], want[8];
        for (int i = 0; i < 4; i++) A[i] = drv_get(&t.m, t.params, i), B[i] = drv_get(&t.m, t.params, 4 + i);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++) { /* dA = t Bᵀ, dB = Aᵀ t */
                want[r * 2 + c] = A[r * 2 + c] - 0.5 * (tv[r * 2] * B[c * 2] + tv[r * 2 + 1] * B[c * 2 + 1]);
                want[4 + r * 2 + c] = B[r * 2 + c] - 0.5 * (A[r] * tv[c] + A[2 + r] * tv[2 + c]);
            }
        void *ws = xalloc(t.m.ws_size(t.dims)), *opt = xalloc(t.m.opt_size());
        assert_true(isfinite(t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, 0.5, ws)));
        for (int i = 0; i < 8; i++) {
            double got = drv_get(&t.m, t.params, i);
            if (!(fabs(got - want[i]) <= (f64 ? 1e-12 : 1e-5) * fmax(fabs(want[i]), 1)))
                fail_msg("A @ B %s: param %d = %.17g after the step, by hand %.17g", f64 ? "f64" : "f32", i, got, want[i]);
        }
        free(ws);
        free(opt);
        th_free(&t);
    }
    /* a finite gradient whose squares overflow the plain update's sum (it refuses the step):
       the fused step refuses it too */
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel t;
        th_build(&t, "input x[4, 3]\ninput t[4, 2]\nparam W[3, 2] = xavier\nloss mse(x @ W, t)\noptimizer sgd(lr = 0.1)\n",
                 f64, NULL);
        if (!t.ok) fail_msg("%s", th_diag_text(&t));
        for (int i = 0; i < 12; i++) drv_set(&t.m, t.inputs[0], i, (f64 ? 1e100 : 1e17) * (1 + i % 5));
        check_no_update(&t, "a gradient of 1e34 in float / 1e200 in double");
        th_free(&t);
    }
    /* finite loss, infinite gradient in a fused GEMM's operand (sqrt at 0): no change */
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel t;
        th_build(&t, "param A[2, 2] = normal(1)\nparam W[2, 2]\nloss sum(sqrt(A @ W))\noptimizer sgd(lr = 0.1)\n", f64,
                 NULL);
        if (!t.ok) fail_msg("%s", th_diag_text(&t));
        check_no_update(&t, "sqrt at 0 behind a fused GEMM");
        th_free(&t);
    }
}

/* The gradient, and three training steps from the same start, on 1 and on 2 threads: the
 * same bytes. (One Adam step hides small gradient differences: its first update is about
 * lr times the gradient's sign.) */
static void same_for_threads(const char *text, int batch, const char *what) {
    TestModel t;
    const int sizes[1] = {batch};
    th_build(&t, text, 0, sizes);
    if (!t.ok) fail_msg("%s", th_diag_text(&t));
    th_randomize(&t, 7, 10);
    const size_t psz = (size_t)t.g->nparam_reals * t.m.real_size;
    void *p0 = malloc(psz), *p1 = malloc(psz), *g1 = malloc(psz), *g = malloc(psz);
    memcpy(p0, t.params, psz);
    const int threads = bprt_threads();
    for (int nt = 1; nt <= 2; nt++) {
        bprt_set_threads(nt);
        memcpy(t.params, p0, psz);
        void *ws = xalloc(t.m.ws_size(t.dims)), *opt = xalloc(t.m.opt_size());
        t.m.grad(t.params, nt == 1 ? g1 : g, (const void *const *)t.inputs, t.dims, ws);
        for (int k = 0; k < 3; k++)
            assert_true(isfinite(t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, 1e-3, ws)));
        if (nt == 1) memcpy(p1, t.params, psz);
        else {
            if (memcmp(g1, g, psz) != 0) fail_msg("%s: 1 and 2 threads computed different gradients", what);
            if (memcmp(p1, t.params, psz) != 0) fail_msg("%s: 1 and 2 threads trained different parameters", what);
        }
        free(ws);
        free(opt);
    }
    bprt_set_threads(threads);
    free(p0);
    free(p1);
    free(g1);
    free(g);
    th_free(&t);
}

static void test_thread_invariance(void **state) {
    (void)state;
    /* Adam fused in blocks of 255 rows on 2 threads: 257 rows would leave a 1-row block */
    same_for_threads("input x[B, 257]\ninput y[B] : int\nparam W1[257, 256] = he\nparam W2[256, 10] = xavier\n"
                     "loss cross_entropy(tanh(x @ W1) @ W2, y)\noptimizer adam(lr = 1e-3)\n", 600, "Adam, 257 rows");
    /* one sample, weights of more than 1 MiB: x @ W, the fused rank-1 update and g @ W^T
       split W by rows (the first product's blocks handed between the threads) */
    same_for_threads("input x[B, 784]\ninput y[B] : int\nparam W1[784, 520] = he\nparam W2[520, 520] = he\n"
                     "param W3[520, 10] = xavier\nloss cross_entropy(relu(relu(x @ W1) @ W2) @ W3, y)\n"
                     "optimizer sgd(lr = 0.1)\n", 1, "SGD, batch 1, 1.6 MiB");
    same_for_threads("input x[B, 784]\ninput y[B] : int\nparam W1[784, 520] = he\nparam W2[520, 520] = he\n"
                     "param W3[520, 10] = xavier\nloss cross_entropy(relu(relu(x @ W1) @ W2) @ W3, y)\n"
                     "optimizer adam(lr = 1e-3)\n", 1, "Adam, batch 1, 1.6 MiB");
    /* a batch of 3: products through the kernels' strips on one thread, Adam's update too */
    same_for_threads("input x[B, 784]\ninput y[B] : int\nparam W1[784, 512] = he\nparam W2[512, 256] = he\n"
                     "param W3[256, 10] = xavier\nloss cross_entropy(relu(relu(x @ W1) @ W2) @ W3, y)\n"
                     "optimizer adam(lr = 1e-3)\n", 3, "Adam, batch 3");
    /* conv2d's gw split between threads: 17 columns must not leave a 1-column share */
    same_for_threads("input x[B, 17, 64, 64]\ninput t[B, 64, 32, 32]\nparam K1[64, 17, 1, 1] = he\n"
                     "loss mse(conv2d(x, K1, stride = 2), t)\noptimizer sgd(lr = 0.1)\n", 4, "conv2d, 17 columns");
    /* attention: batched products (gemm_batch.c) and their batch sums, softmax and
       cross-entropy rows, layernorm, exp and erf in bprt_ew, sum_axis, all past the sizes at
       which they take threads (12 x 3 products, 147 Ki softmax elements) */
    same_for_threads("input x[B, 64, 48]\ninput y[B, 64] : int\nparam q[3, 48, 16] = normal(0.1)\n"
                     "param k[3, 48, 16] = normal(0.1)\nparam o[3, 16, 48] = normal(0.1)\n"
                     "param f[48, 96] = normal(0.1)\nparam c[96]\nparam g[48] = ones\nparam bb[48]\n"
                     "a = reshape(layernorm(x, g, bb), [-1, 1, 64, 48])\n"
                     "att = softmax(causal_mask(a @ q @ (a @ k).T * 0.25))\n"
                     "h = x + sum(att @ (a @ k) @ o, axis = 1)\n"
                     "loss cross_entropy(gelu(h @ f + c) * 2 - exp((h @ f) * 0.01), y)\noptimizer adam(lr = 1e-3)\n",
                     12, "attention");
}

/* bprt_gemm_adam / bprt_gemm_sgd with K = 1 (batch 1) apply the rank-1 gradient as they
 * make it: the same bits as bprt_sgemm followed by the plain update, subnormal factors
 * included (1e-39 x 1e5 must not be flushed to 0). */
static void test_rank1_update_equals_gemm(void **state) {
    (void)state;
    const float as[2][3] = {{0.5f, -2.5f, 3.0f}, {1e-39f, -2.5f, 3.0f}};
    const float b[5] = {1e5f, 2.0f, -0.0f, 1.5f, 7.0f}, b_sub[5] = {1e5f, 2.0f, -0.0f, 1e-38f, 7.0f};
    for (int c = 0; c < 4; c++) {
        const float *a = as[c & 1], *bb = c & 2 ? b_sub : b;
        for (int adam = 0; adam < 2; adam++) {
            float p1[15], m1[15], v1[15], p2[15], m2[15], v2[15], g[15], gs[15];
            for (int i = 0; i < 15; i++) p1[i] = p2[i] = 0.1f * (float)(i - 7), m1[i] = m2[i] = 0.01f * (float)i,
                                         v1[i] = v2[i] = 0.001f * (float)(i + 1);
            if (adam) bprt_gemm_adam_f32(1, 0, 3, 5, 1, a, 3, bb, 5, gs, p1, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 0, 0, 3);
            else bprt_gemm_sgd_f32(1, 0, 3, 5, 1, a, 3, bb, 5, gs, p1, m1, 0.1, 0.9, 0);
            bprt_sgemm(1, 0, 3, 5, 1, 1, a, 3, bb, 5, 0, g, 5);
            if (adam) bprt_adam_f32(p2, g, m2, v2, 15, 1e-3, 0.9, 0.999, 1e-8, 0, 0, 3, 1);
            else bprt_sgd_f32(p2, g, m2, 15, 0.1, 0.9, 0, 1);
            if (memcmp(p1, p2, sizeof p1) || memcmp(m1, m2, sizeof m1) || (adam && memcmp(v1, v2, sizeof v1)))
                fail_msg("case %d %s: the rank-1 update differs from GEMM + update", c, adam ? "adam" : "sgd");
        }
    }
}

/* bprt_gemm_adam / bprt_gemm_sgd with K > 1: on 1 and 2 threads (each thread making its rows
 * of the gradient and updating them in one parallel region), the same bits as bprt_sgemm
 * followed by the plain update, and the same gradient left in gs. Shapes: a batch-16 Adam
 * update that the GEMM alone would keep on one thread, and ones the GEMM splits. */
static void test_gemm_update_equals_gemm(void **state) {
    (void)state;
    static const int shapes[][3] = {{512, 256, 16}, {300, 129, 40}, {784, 64, 64}};
    const int threads = bprt_threads();
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int M = shapes[c][0], N = shapes[c][1], K = shapes[c][2];
        const size_t n = (size_t)M * (size_t)N;
        float *a = malloc(sizeof(float) * (size_t)K * M), *b = malloc(sizeof(float) * (size_t)K * N);
        float *buf = malloc(sizeof(float) * n * 8);
        double *t = malloc(sizeof(double) * (n > (size_t)K * M ? n : (size_t)K * M) * 3);
        assert_non_null(a), assert_non_null(b), assert_non_null(buf), assert_non_null(t);
        bprt_fill_uniform_f64(t, (size_t)K * M, -1, 1, 3, c);
        for (size_t i = 0; i < (size_t)K * M; i++) a[i] = (float)t[i];
        bprt_fill_uniform_f64(t, (size_t)K * N, -1, 1, 4, c);
        for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)t[i];
        bprt_fill_uniform_f64(t, n * 3, -1, 1, 5, c);
        float *p1 = buf, *m1 = buf + n, *v1 = buf + 2 * n, *gs = buf + 3 * n;
        float *p2 = buf + 4 * n, *m2 = buf + 5 * n, *v2 = buf + 6 * n, *g = buf + 7 * n;
        for (int adam = 0; adam < 2; adam++)
            for (int nt = 1; nt <= 2; nt++) {
                for (size_t i = 0; i < n; i++)
                    p1[i] = p2[i] = (float)t[i], m1[i] = m2[i] = (float)t[n + i] * 0.01f,
                    v1[i] = v2[i] = (float)(t[2 * n + i] * t[2 * n + i]) * 0.001f;
                bprt_set_threads(nt);
                if (adam) bprt_gemm_adam_f32(1, 0, M, N, K, a, M, b, N, gs, p1, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 0, 0, 3);
                else bprt_gemm_sgd_f32(1, 0, M, N, K, a, M, b, N, gs, p1, m1, 0.1, 0.9, 0);
                bprt_set_threads(1);
                bprt_sgemm(1, 0, M, N, K, 1, a, M, b, N, 0, g, N);
                if (adam) bprt_adam_f32(p2, g, m2, v2, n, 1e-3, 0.9, 0.999, 1e-8, 0, 0, 3, 1);
                else bprt_sgd_f32(p2, g, m2, n, 0.1, 0.9, 0, 1);
                if (memcmp(p1, p2, sizeof(float) * n) || memcmp(m1, m2, sizeof(float) * n) ||
                    memcmp(gs, g, sizeof(float) * n) || (adam && memcmp(v1, v2, sizeof(float) * n)))
                    fail_msg("%dx%dx%d %s on %d threads: differs from GEMM + update", M, N, K,
                             adam ? "adam" : "sgd", nt);
            }
        free(a), free(b), free(buf), free(t);
    }
    bprt_set_threads(threads);
}

/* Adam with a small eps and gradients whose squares are subnormal (v = 0.001 g^2 of 1e-41
 * to 1.5e-40, still 13 or more significant bits): with constant gradients
 * m_hat = g and v_hat = g^2 at every step, so 3 steps of lr 0.01 move each weight by
 * 0.03 g / (|g| + eps), here 0.03 sign(g) (what torch.optim.Adam(lr=0.01, eps=1e-30) gives in
 * float64 and float32 alike: a .bp program with loss sum(p * x) * 1e-20 and p = [1, 2, 3, 4]
 * went to [0.97, 2.03, 2.97, 3.97] in both). The update used to run with flush-to-zero,
 * which made v 0 and the step m / eps, about 1e8 for lr = 0.01; checked for the plain
 * update, the general one (a clipping scale of 0.5) and the rank-1 update of a batch-1
 * weight gradient (bprt_gemm_adam, K = 1). */
static void test_adam_tiny_gradients(void **state) {
    (void)state;
    enum { M = 3, N = 16, n = M * N };
    const float a[M] = {1e-9f, -1.5e-9f, 2e-9f}; /* g = a b: 1e-19 to 3.9e-19 */
    float b[N], g[n], p[n], m[n], v[n], gs[n];
    for (int j = 0; j < N; j++) b[j] = 1e-10f * (1 + (float)j / 16) * (j % 2 ? -1.0f : 1.0f);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) g[i * N + j] = a[i] * b[j];
    for (int path = 0; path < 3; path++) {
        for (int k = 0; k < n; k++) p[k] = 0.1f * (float)(k - 20), m[k] = v[k] = 0;
        for (int step = 1; step <= 3; step++) {
            if (path == 2) bprt_gemm_adam_f32(1, 0, M, N, 1, a, M, b, N, gs, p, m, v, 0.01, 0.9, 0.999, 1e-30, 0, 0, step);
            else bprt_adam_f32(p, g, m, v, n, 0.01, 0.9, 0.999, 1e-30, 0, 0, step, path ? 0.5 : 1);
        }
        for (int k = 0; k < n; k++) {
            const double want = (double)(0.1f * (float)(k - 20)) - 0.03 * (g[k] > 0 ? 1 : -1);
            if (fabs((double)p[k] - want) > 1e-5 * fmax(fabs(want), 0.1))
                fail_msg("path %d, weight %d: %.9g after 3 steps, want %.9g", path, k, (double)p[k], want);
        }
    }
}

/* bprt_maxabs: the largest |x| wherever it sits (each of the 64 lanes, the tail), or +inf
 * when an element is infinite or NaN, in both precisions; 0 for no elements. */
static void test_maxabs(void **state) {
    (void)state;
    enum { N = 300 };
    float f[N] = {0};
    double d[N] = {0};
    assert_true(bprt_maxabs_f32(f, 0) == 0 && bprt_maxabs_f64(d, 0) == 0);
    for (int n = 1; n <= N; n += 37)
        for (int at = 0; at < n; at += 5) {
            for (int i = 0; i < n; i++) f[i] = (float)(d[i] = (i % 3 ? -0.25 : 0.5) * (double)(i % 7) / 7);
            f[at] = -3.5f, d[at] = -3.5;
            if (bprt_maxabs_f32(f, (size_t)n) != 3.5 || bprt_maxabs_f64(d, (size_t)n) != 3.5)
                fail_msg("n %d: max |x| at %d not found", n, at);
            f[at] = INFINITY, d[at] = -INFINITY;
            if (bprt_maxabs_f32(f, (size_t)n) != INFINITY || bprt_maxabs_f64(d, (size_t)n) != INFINITY)
                fail_msg("n %d: an infinity at %d not reported", n, at);
            f[at] = NAN, d[at] = NAN;
            if (bprt_maxabs_f32(f, (size_t)n) != INFINITY || bprt_maxabs_f64(d, (size_t)n) != INFINITY)
                fail_msg("n %d: a NaN at %d not reported", n, at);
        }
    /* past MAXABS_PAR_MIN the threads take shares: the same answer on 1, 2 and 3 threads
       wherever the largest element, an infinity or a NaN sits (either thread's share, the
       boundary, the last element) */
    enum { BIG = 300007 }; /* past MAXABS_PAR_MIN (2^18) */
    float *bf = malloc(BIG * sizeof *bf);
    double *bd = malloc(BIG * sizeof *bd);
    assert_non_null(bf);
    assert_non_null(bd);
    const int threads = bprt_threads();
    const size_t spots[] = {0, 1, BIG / 3, BIG / 2 - 1, BIG / 2, BIG / 2 + 1, 2 * (BIG / 3) + 1, BIG - 1};
    for (int nt = 1; nt <= 3; nt++) {
        bprt_set_threads(nt);
        for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
            const size_t at = spots[k];
            for (size_t i = 0; i < BIG; i++) bf[i] = (float)(bd[i] = (i % 3 ? -0.25 : 0.5) * (double)(i % 7) / 7);
            bf[at] = -3.5f, bd[at] = -3.5;
            if (bprt_maxabs_f32(bf, BIG) != 3.5 || bprt_maxabs_f64(bd, BIG) != 3.5)
                fail_msg("%d threads: max |x| at %zu of %d not found", nt, at, (int)BIG);
            bf[at] = -INFINITY, bd[at] = INFINITY;
            if (bprt_maxabs_f32(bf, BIG) != INFINITY || bprt_maxabs_f64(bd, BIG) != INFINITY)
                fail_msg("%d threads: an infinity at %zu not reported", nt, at);
            bf[at] = NAN, bd[at] = NAN;
            if (bprt_maxabs_f32(bf, BIG) != INFINITY || bprt_maxabs_f64(bd, BIG) != INFINITY)
                fail_msg("%d threads: a NaN at %zu not reported", nt, at);
        }
    }
    bprt_set_threads(threads);
    free(bf);
    free(bd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_f64),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_clip_coefficient),
        cmocka_unit_test(test_no_gradient_no_update),
        cmocka_unit_test(test_fused_sgd),
        cmocka_unit_test(test_thread_invariance),
        cmocka_unit_test(test_rank1_update_equals_gemm),
        cmocka_unit_test(test_gemm_update_equals_gemm),
        cmocka_unit_test(test_maxabs),
        cmocka_unit_test(test_adam_tiny_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
