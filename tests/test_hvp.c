/* test_hvp.c — Hessian-vector products (NAME_hvp, bpc hvp): reverse over reverse.
 *
 *   programs:  H v of multi-op programs (the seed example, MLPs with each activation and
 *              loss, softmax/log_softmax/logsumexp, broadcasting, reductions, matmul
 *              chains, layers) against 4th-order central differences of the gradient along
 *              v, in double: relative error <= 1e-6 (th_hvp_check);
 *   torch:     every program of tests/torch/programs at the parameters and inputs of
 *              tests/torch/data/NAME.safetensors, with the direction and PyTorch's double-
 *              backward H v of tests/torch/hvp/NAME.safetensors (gen_hvp_refs.py), in
 *              double: |got - want| / max(|want|, 1e-6) <= 1e-8 (and in float, against the
 *              same double references: <= 2e-4 with a 1e-2 floor);
 *   by hand:   values derived in the comments;
 *   refused:   an op without a second-order rule is a located error, not a crash.
 * Paths are relative to the source root unless BP_SOURCE_DIR is defined. */
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
#define HVP_DIR BP_SOURCE_DIR "/tests/torch/hvp"

static const CompileOptions with_hvp = {.optimize = 1, .hvp = 1};

/* ---- against differences of the gradient ---- */
static const struct {
    const char *name, *text;
} programs[] = {
    {"seed", "input x = 2\ninput y = 1\nparam m1 = 3\nparam m2 = 0.5\na1 = m1 * x\nyhat = relu(a1 * m2)\n"
             "loss 0.5 * (yhat - y)^2\n"},
    {"mlp_tanh_sigmoid_ce", "input x[B, 6]\ninput y[B] : int\nparam W1[6, 8] = he\nparam b1[8] = normal(0.1)\n"
                            "param W2[8, 5] = xavier\nparam b2[5]\n"
                            "h = tanh(x @ W1 + b1) * sigmoid(x @ W1 * 0.5)\nloss cross_entropy(h @ W2 + b2, y)\n"},
    {"mlp_gelu_softplus_ce_probs", "input x[B, 5]\ninput q[B, 4]\nparam W1[5, 7] = he\nparam b1[7] = normal(0.1)\n"
                                   "param W2[7, 4] = xavier\nh = gelu(x @ W1 + b1)\nh2 = softplus(h) - 0.3 * h\n"
                                   "loss cross_entropy(h2 @ W2, softmax(q))\n"},
    {"softmax_family", "input x[B, 6]\nparam W[6, 6] = normal(0.5)\nparam c[6] = normal(0.3)\nz = x @ W + c\n"
                       "loss sum(softmax(z) * x) + mean(log_softmax(z, axis = 0) * x) + mean(logsumexp(z, axis = 1))"
                       " + logsumexp(z * 0.1)\n"},
    {"mse_bce_logits", "input x[B, 4]\ninput t[B, 3]\nparam W[4, 3] = normal(0.7)\nparam b[3] = normal(0.1)\n"
                       "z = x @ W + b\nloss mse(tanh(z), t) + bce_logits(z, sigmoid(t)) + bce(sigmoid(z), sigmoid(t * 2))\n"},
    {"broadcasting", "input x[B, 3, 4]\nparam a[3, 1] = normal(1)\nparam b[4] = normal(1)\nparam s = 0.7\n"
                     "h = x * a + b * s\nloss mean(exp(h * 0.3) / (1 + a * a)) + sum(b * b * s) * 0.1 - mean(sqrt(h * h + 1))\n"},
    {"reductions", "input x[B, 3, 4]\nparam W[3, 4] = normal(1)\nparam v[4] = normal(1)\nh = x * W + v\n"
                   "loss sum(sum(h, axis = 1) * v) * 0.1 + sum(mean(h, axis = 2, keepdims = 1) * max(h, axis = 1, keepdims = 1))"
                   " + mean(max(h, axis = 0) * W) + mean(h^2)\n"},
    {"matmul_chain", "input x[B, 4]\nparam A[4, 5] = normal(0.5)\nparam C[5, 5] = normal(0.5)\nparam D[5, 3] = normal(0.5)\n"
                     "t3 = reshape(x @ A @ C, [-1, 5, 1])\n"
                     "loss mean((x @ A @ C @ D)^2) + sum(A.T @ A * C) * 0.01 + mean(t3 @ t3.T) + sum(transpose(D) @ D.T.T)\n"},
    {"layers", "input im[B, 2, 6, 6]\ninput y[B] : int\nparam K[3, 2, 3, 3] = normal(0.4)\nparam g[3] = ones\n"
               "param be[3]\nparam W[12, 4] = normal(0.3)\n"
               "h = maxpool2d(tanh(conv2d(im, K, padding = 1)), 2)\nf = reshape(avgpool2d(h, 2, stride = 1), [-1, 3])\n"
               "n = reshape(layernorm(f, g, be), [-1, 12])\nloss cross_entropy(n @ W, y)\n"},
    {"attention", "input ids[B, 5] : int\ninput tgt[B] : int\nparam tok[7, 4] = normal(0.5)\nparam Wq[4, 4] = normal(0.5)\n"
                  "h = embedding(tok, ids)\ns = softmax(causal_mask(h @ Wq @ h.T * 0.5))\n"
                  "loss cross_entropy(sum(s @ h, axis = 1) @ tok.T, tgt)\n"},
};

static void test_programs_against_differences(void **state) {
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        TestModel t;
        int sizes[] = {3};
        th_build_with(&t, programs[i].text, 1, sizes, &with_hvp);
        if (!t.ok) {
            print_error("%s did not compile:\n%s\n", programs[i].name, th_diag_text(&t));
            failed++;
            th_free(&t);
            continue;
        }
        if (strcmp(programs[i].name, "seed") != 0) th_randomize(&t, 11, 3);
        double err = th_hvp_check(&t, 5);
        th_free(&t);
        if (!(err <= 1e-6)) {
            print_error("%s: H v relative error %.3g > 1e-6\n", programs[i].name, err);
            failed++;
        } else
            print_message("%-28s H v vs differences of the gradient: worst relative error %.3g\n", programs[i].name, err);
    }
    assert_int_equal(failed, 0);
}

/* ---- derived by hand ---- */
static void hvp_of(const char *text, const double *v, double *hv, double *loss) {
    TestModel t;
    th_build_with(&t, text, 1, NULL, &with_hvp);
    if (!t.ok) fail_msg("did not compile:\n%s", th_diag_text(&t));
    assert_non_null(t.m.hvp);
    void *ws = malloc(t.m.ws_size(t.dims) + 64);
    *loss = t.m.hvp(t.params, v, hv, (const void *const *)t.inputs, t.dims, ws);
    free(ws);
    th_free(&t);
}

static void test_by_hand(void **state) {
    (void)state;
    double hv[4], loss;
    /* The seed example at x = 2, y = 1, m1 = 3, m2 = 0.5: a1 m2 = 3 > 0, so relu is the
     * identity there and L = (m1 m2 x - y)^2 / 2 = 2. With r = m1 m2 x - y = 2:
     *   dL/dm1 = r m2 x = 2, dL/dm2 = r m1 x = 12,
     *   H = [[(m2 x)^2, m1 m2 x^2 + r x], [same, (m1 x)^2]] = [[1, 10], [10, 36]],
     * so H (1, 1) = (11, 46) and H (1, 0) = (1, 10) (relu'' = 0 away from 0). */
    const char *seed = "input x = 2\ninput y = 1\nparam m1 = 3\nparam m2 = 0.5\na1 = m1 * x\n"
                       "yhat = relu(a1 * m2)\nloss 0.5 * (yhat - y)^2\n";
    hvp_of(seed, (double[]){1, 1}, hv, &loss);
    assert_true(loss == 2 && hv[0] == 11 && hv[1] == 46);
    hvp_of(seed, (double[]){1, 0}, hv, &loss);
    assert_true(hv[0] == 1 && hv[1] == 10);
    /* L = w^3 + w q + exp(q) at w = 2, q = 0.5: H = [[6w, 1], [1, exp(q)]] = [[12, 1], [1, e^0.5]],
     * H (0.5, 2) = (6 + 2, 0.5 + 2 e^0.5). */
    hvp_of("param w = 2\nparam q = 0.5\nloss w^3 + w * q + exp(q)\n", (double[]){0.5, 2}, hv, &loss);
    assert_true(fabs(hv[0] - 8) <= 1e-15 && fabs(hv[1] - (0.5 + 2 * exp(0.5))) <= 1e-15);
    /* cross_entropy of one row z = (0, 0) with label 0 in z = (w, 0): L = log(e^w + 1) - w,
     * d2L/dw2 = sigmoid(w) (1 - sigmoid(w)) = 1/4 at w = 0, so H v = v / 4. */
    hvp_of("input y[1] : int\nparam w = 0\nz = reshape(concat(reshape(w, [1]), reshape(w * 0, [1]), axis = 0), [1, 2])\n"
           "loss cross_entropy(z, y)\n", (double[]){3}, hv, &loss);
    assert_true(fabs(hv[0] - 0.75) <= 1e-15);
    /* bce(p, t) of scalars: the gradient is dp = (p - t) / max(p (1 - p), eps), dt =
     * max(log(1 - p), -100) - max(log p, -100) (eps = 1e-12 in float, as PyTorch), so
     * H = [[d dp/dp, -1 / max(p (1 - p), eps)], [the same, 0]] with d dp/dp = (p^2 - 2 p t + t)
     * / (p (1 - p))^2 where p (1 - p) > eps and 1 / eps where it is below (the clamp is
     * constant). At p = 0.5, t = 0.3: H = [[4, -4], [-4, 0]], H (1, 2) = (-4, -4); at the
     * saturated p = 0, t = 1 (loss 100): H = [[1, -1], [-1, 0]] / eps, H (1, 2) = (-1, -1) / eps,
     * finite (0 log 0 made it NaN). */
    const double eps = (double)1e-12f;
    hvp_of("param p = 0.5\nparam t = 0.3\nloss bce(p, t)\n", (double[]){1, 2}, hv, &loss);
    assert_true(fabs(loss - log(2.0)) <= 1e-15 && fabs(hv[0] + 4) <= 1e-14 && fabs(hv[1] + 4) <= 1e-14);
    hvp_of("param p = 0\nparam t = 1\nloss bce(p, t)\n", (double[]){1, 2}, hv, &loss);
    assert_true(loss == 100 && fabs(hv[0] + 1 / eps) <= 1e-15 / eps && fabs(hv[1] + 1 / eps) <= 1e-15 / eps);
}

/* ---- refused ---- */
static void test_no_second_order_rule(void **state) {
    (void)state;
    TestModel t;
    th_build_with(&t, "param x[1, 1, 4, 4] = normal(1)\nloss sum(maxpool2d(x, 3, stride = 1) ^ 2)\n", 1, NULL, &with_hvp);
    assert_false(t.ok);
    assert_string_equal(th_diag_text(&t),
                        "t.bp:2:10: error: hvp: op 'maxpool2d_grad' has no second-order rule for overlapping windows "
                        "(stride 1 < window 3)\n"
                        "  loss sum(maxpool2d(x, 3, stride = 1) ^ 2)\n"
                        "           ^\n");
    th_free(&t);
    /* without hvp the same program compiles (NAME_hvp is left out of `bpc -o` output) */
    CompileOptions maybe = {.optimize = 1, .hvp = 2};
    th_build_with(&t, "param x[1, 1, 4, 4] = normal(1)\nloss sum(maxpool2d(x, 3, stride = 1) ^ 2)\n", 1, NULL, &maybe);
    assert_true(t.ok);
    assert_null(t.m.hvp);
    assert_non_null(t.m.grad);
    th_free(&t);
}

/* ---- against PyTorch ---- */
/* Copies a stored tensor of n elements into a vector of the model's reals at off. */
static int load(const BprtSafetensors *st, const char *key, const Model *m, void *vec, int64_t off, int64_t n,
                double *buf) {
    const BprtTensor *t = bprt_st_find(st, key);
    if (!t || t->count != n) return -1;
    bprt_st_to_f64(t, buf);
    for (int64_t k = 0; k < n; k++) drv_set(m, vec, off + k, buf[k]);
    return 0;
}

/* Worst relative error of one program against PyTorch (INFINITY if it could not run). */
static double run_torch_program(const char *name, int f64, double tol, double floor_) {
    char path[1024], err[BPRT_ERRLEN];
    snprintf(path, sizeof path, "%s/%s.bp", PROG_DIR, name);
    char *text = th_read_text(path);
    BprtSafetensors data, ref;
    snprintf(path, sizeof path, "%s/%s.safetensors", DATA_DIR, name);
    int have_data = text && bprt_st_read(path, &data, err) == 0;
    snprintf(path, sizeof path, "%s/%s.safetensors", HVP_DIR, name);
    int have_ref = have_data && bprt_st_read(path, &ref, err) == 0;
    double result = INFINITY;
    if (!have_ref) {
        print_error("%s: cannot read its program or data: %s\n", name, err);
        goto out;
    }
    /* symbolic sizes from the stored inputs' shapes (first build: the declarations) */
    TestModel t;
    int dims[BP_MAXSYMS] = {0};
    th_build(&t, text, f64, NULL);
    for (int i = 0; t.ok && i < t.g->ninputs; i++) {
        const Input *in = &t.g->inputs[i];
        const BprtTensor *tt = bprt_st_find(&data, in->name);
        for (int k = 0; tt && k < in->shape.rank && k < tt->ndim; k++)
            if (in->shape.d[k].sym >= 0) dims[in->shape.d[k].sym] = (int)(tt->shape[k] / in->shape.d[k].c);
    }
    th_free(&t);
    th_build_with(&t, text, f64, dims, &with_hvp);
    if (!t.ok) {
        print_error("%s did not compile with hvp:\n%s\n", name, th_diag_text(&t));
        th_free(&t);
        goto out;
    }
    const Graph *g = t.g;
    int64_t np = g->nparam_reals;
    double *buf = malloc(1 << 20);
    void *v = calloc((size_t)np + 1, sizeof(double)), *hv = calloc((size_t)np + 1, sizeof(double));
    int bad = 0;
    for (int i = 0; i < g->ninputs; i++) {
        const Input *in = &g->inputs[i];
        const BprtTensor *tt = bprt_st_find(&data, in->name);
        if (!tt) { bad = 1; break; }
        bprt_st_to_f64(tt, buf);
        for (int64_t k = 0; k < tt->count; k++)
            if (in->dtype == DT_INT) ((int32_t *)t.inputs[i])[k] = (int32_t)buf[k];
            else drv_set(&t.m, t.inputs[i], k, buf[k]);
    }
    for (int p = 0; p < g->nparams && !bad; p++) {
        const Param *pr = &g->params[p];
        char key[300];
        snprintf(key, sizeof key, "v.%s", pr->name);
        bad |= load(&data, pr->name, &t.m, t.params, pr->offset, pr->numel, buf) != 0;
        bad |= load(&ref, key, &t.m, v, pr->offset, pr->numel, buf) != 0;
    }
    if (bad) {
        print_error("%s: data files do not match the program\n", name);
    } else {
        void *ws = malloc(t.m.ws_size(t.dims) + 64);
        double loss = t.m.hvp(t.params, v, hv, (const void *const *)t.inputs, t.dims, ws), want;
        free(ws);
        bprt_st_to_f64(bprt_st_find(&ref, "loss"), &want);
        double worst = fabs(loss - want) / fmax(fabs(want), floor_);
        const char *where = "loss";
        int64_t at = 0;
        for (int p = 0; p < g->nparams; p++) {
            const Param *pr = &g->params[p];
            char key[300];
            snprintf(key, sizeof key, "hvp.%s", pr->name);
            const BprtTensor *tt = bprt_st_find(&ref, key);
            if (!tt || tt->count != pr->numel) {
                worst = INFINITY;
                break;
            }
            bprt_st_to_f64(tt, buf);
            for (int64_t k = 0; k < pr->numel; k++) {
                double e = fabs(drv_get(&t.m, hv, pr->offset + k) - buf[k]) / fmax(fabs(buf[k]), floor_);
                if (!(e <= worst)) worst = e, where = pr->name, at = k;
            }
        }
        result = worst;
        if (!(worst <= tol))
            print_error("%s (%s): worst relative error %.3g > %g at %s[%lld]\n", name, f64 ? "f64" : "f32", worst, tol, where,
                        (long long)at);
        else
            print_message("%-26s %s H v vs PyTorch double backward: worst relative error %.3g (%s)\n", name,
                          f64 ? "f64" : "f32", worst, where);
    }
    free(buf);
    free(v);
    free(hv);
    th_free(&t);
out:
    if (have_ref) bprt_st_free(&ref);
    if (have_data) bprt_st_free(&data);
    free(text);
    return result;
}

static void against_pytorch(int f64, double tol, double floor_) {
    DIR *d = opendir(HVP_DIR);
    assert_non_null(d);
    struct dirent *e;
    int n = 0, failed = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 13 || strcmp(e->d_name + len - 12, ".safetensors") != 0) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 12), e->d_name);
        n++;
        failed += !(run_torch_program(name, f64, tol, floor_) <= tol);
    }
    closedir(d);
    assert_true(n >= 12);
    assert_int_equal(failed, 0);
}

static void test_against_pytorch(void **state) {
    (void)state;
    against_pytorch(1, 1e-8, 1e-6);
}

/* float: the same references (float64), to float's accuracy */
static void test_against_pytorch_f32(void **state) {
    (void)state;
    against_pytorch(0, 2e-4, 1e-2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_no_second_order_rule),
        cmocka_unit_test(test_programs_against_differences),
        cmocka_unit_test(test_against_pytorch),
        cmocka_unit_test(test_against_pytorch_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
