/* test_compiler.c — the worked examples, hand-derived gradients, one optimizer step, and
 * the IR's structure after the passes (compared on --emit=ir dumps). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "jit.h"
#include "fuse.h"
#include "passes.h"
#include "plan.h"

static const char *seed_src =
    "input  x = 2\ninput  y = 1\nparam  m1 = 3\nparam  m2 = 0.5\n"
    "a1   = m1 * x\nyhat = relu(a1 * m2)\nloss 0.5 * (yhat - y)^2\noptimizer sgd(lr = 0.1)\n";

/* Loss and gradient at the program's own parameters and inputs. */
static double grad_at_defaults(TestModel *t, double *g) {
    void *ws = malloc(t->m.ws_size(t->dims) + 64);
    void *gr = calloc((size_t)t->g->nparam_reals + 1, t->m.real_size);
    double loss = t->m.grad(t->params, gr, (const void *const *)t->inputs, t->dims, ws);
    for (int64_t i = 0; i < t->g->nparam_reals; i++) g[i] = drv_get(&t->m, gr, i);
    free(ws);
    free(gr);
    return loss;
}

static void test_seed_example(void **state) {
    (void)state;
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel t;
        th_build(&t, seed_src, f64, NULL);
        assert_true(t.ok);
        double g[2];
        double loss = grad_at_defaults(&t, g);
        assert_true(fabs(loss - 2.0) < 1e-6);
        assert_true(fabs(g[0] - 2.0) < 1e-6);  /* dL/dm1 */
        assert_true(fabs(g[1] - 12.0) < 1e-6); /* dL/dm2 */
        th_free(&t);
    }
}

static void test_sgd_step_seed(void **state) {
    (void)state;
    TestModel t;
    th_build(&t, seed_src, 0, NULL);
    assert_true(t.ok);
    void *ws = malloc(t.m.ws_size(t.dims) + 64);
    void *opt = calloc(1, t.m.opt_size() + 64);
    double loss = t.m.train_step(t.params, opt, (const void *const *)t.inputs, t.dims, 0.1, ws);
    assert_true(fabs(loss - 2.0) < 1e-6);
    assert_true(fabs(drv_get(&t.m, t.params, 0) - 2.8) < 1e-6);
    assert_true(fabs(drv_get(&t.m, t.params, 1) - (-0.7)) < 1e-6);
    free(ws);
    free(opt);
    th_free(&t);
}

static void test_difference_of_squares(void **state) {
    (void)state;
    TestModel t;
    th_build(&t, "param x = 3\nparam y = 2\nf = (x + y) * (x - y)\nloss f\n", 1, NULL);
    assert_true(t.ok);
    double g[2];
    assert_true(fabs(grad_at_defaults(&t, g) - 5.0) < 1e-12);
    assert_true(fabs(g[0] - 6.0) < 1e-12);
    assert_true(fabs(g[1] + 4.0) < 1e-12);
    th_free(&t);
}

static void test_product_plus_sine(void **state) {
    (void)state;
    TestModel t;
    th_build(&t, "param x = 0.7\nparam y = -1.3\nloss x * y + sin(x)\n", 1, NULL);
    assert_true(t.ok);
    double g[2];
    grad_at_defaults(&t, g);
    assert_true(fabs(g[0] - (-1.3 + cos(0.7))) < 1e-12); /* y + cos x */
    assert_true(fabs(g[1] - 0.7) < 1e-12);               /* x */
    th_free(&t);
}

/* h = relu(W1 @ x + b1); yhat = W2 @ h + b2; loss 0.5*sum((yhat-y)^2), column vector x,
 * against gradients derived by hand and computed here with plain loops in double. */
static void test_two_layer_network_by_hand(void **state) {
    (void)state;
    enum { I = 5, H = 7, O = 3 };
    TestModel t;
    th_build(&t,
             "input x[5, 1]\ninput y[3, 1]\nparam W1[7, 5] = normal(1)\nparam b1[7, 1] = normal(1)\n"
             "param W2[3, 7] = normal(1)\nparam b2[3, 1] = normal(1)\n"
             "h = relu(W1 @ x + b1)\nyhat = W2 @ h + b2\nloss 0.5 * sum((yhat - y)^2)\n",
             1, NULL);
    assert_true(t.ok);
    th_randomize(&t, 42, 1);
    const double *p = t.params, *x = t.inputs[0], *y = t.inputs[1];
    const double *W1 = p, *b1 = p + H * I, *W2 = b1 + H, *b2 = W2 + O * H;
    double z[H], h[H], yh[O], dy[O], dh[H], dz[H];
    double gW1[H * I], gb1[H], gW2[O * H], gb2[O];
    for (int i = 0; i < H; i++) {
        z[i] = b1[i];
        for (int k = 0; k < I; k++) z[i] += W1[i * I + k] * x[k];
        h[i] = z[i] > 0 ? z[i] : 0;
    }
    for (int o = 0; o < O; o++) {
        yh[o] = b2[o];
        for (int i = 0; i < H; i++) yh[o] += W2[o * H + i] * h[i];
        dy[o] = yh[o] - y[o]; /* dL/dyhat */
        gb2[o] = dy[o];
        for (int i = 0; i < H; i++) gW2[o * H + i] = dy[o] * h[i];
    }
    for (int i = 0; i < H; i++) {
        dh[i] = 0;
        for (int o = 0; o < O; o++) dh[i] += W2[o * H + i] * dy[o];
        dz[i] = z[i] > 0 ? dh[i] : 0;
        gb1[i] = dz[i];
        for (int k = 0; k < I; k++) gW1[i * I + k] = dz[i] * x[k];
    }
    double g[H * I + H + O * H + O];
    grad_at_defaults(&t, g);
    const double *want[] = {gW1, gb1, gW2, gb2};
    int sizes[] = {H * I, H, O * H, O}, off = 0;
    for (int q = 0; q < 4; q++)
        for (int i = 0; i < sizes[q]; i++, off++)
            if (fabs(g[off] - want[q][i]) > 1e-9 * fmax(1, fabs(want[q][i])))
                fail_msg("param %d element %d: got %.17g, hand-derived %.17g", q, i, g[off], want[q][i]);
    th_free(&t);
}

/* Loss (from NAME_grad and from NAME_loss) and gradient of a program of n reals at params,
 * its first input (if any) set to in. */
static void loss_grad_at(const char *src, int f64, const double *params, int n, const double *in, double *loss,
                         double *lossf, double *g) {
    TestModel t;
    th_build(&t, src, f64, NULL);
    if (!t.ok) fail_msg("did not compile:\n%s", th_diag_text(&t));
    assert_int_equal(t.g->nparam_reals, n);
    for (int i = 0; i < n; i++) drv_set(&t.m, t.params, i, params[i]);
    for (int i = 0; in && i < n; i++) drv_set(&t.m, t.inputs[0], i, in[i]);
    *loss = grad_at_defaults(&t, g);
    void *ws = malloc(t.m.ws_size(t.dims) + 64);
    *lossf = t.m.loss(t.params, (const void *const *)t.inputs, t.dims, ws);
    free(ws);
    th_free(&t);
}

static void expect_near(const char *what, int i, int f64, double got, double want, double tol) {
    if (!(got == want || fabs(got - want) <= tol * fabs(want)))
        fail_msg("%s %s[%d]: got %.17g, want %.17g", f64 ? "f64" : "f32", what, i, got, want);
}

/* bce(p, t) = -mean(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), as PyTorch's
 * binary_cross_entropy: at p exactly 0 or 1 the right answer costs 0 and the wrong one 100
 * (not 0 log 0 = NaN). Its gradient is PyTorch's, (p - t) / max(p (1 - p), eps) / N with
 * eps = 1e-12 in float (9.999999960041972e-13: PyTorch's `constexpr float EPSILON`), and in
 * the target (max(log(1 - p), -100) - max(log p, -100)) / N, the derivative of the clamped
 * loss, which is finite where PyTorch's -logit(p) / N is infinite (p = 0 or 1). N = 6:
 *   p = 0, t = 0:       0,           dp = 0,                   dt = 100 / N
 *   p = 1, t = 1:       0,           dp = 0,                   dt = -100 / N
 *   p = 0, t = 1:       100,         dp = -1 / eps / N,        dt = 100 / N
 *   p = 1, t = 0:       100,         dp = 1 / eps / N,         dt = -100 / N
 *   p = 0.5, t = 0.3:   log 2,       dp = 0.2 / 0.25 / N,      dt = 0
 *   p = 1e-30, t = 0.3: -0.3 log p,  dp = (p - 0.3) / eps / N, dt = -log p / N  (1 - p rounds to 1) */
static void test_bce_saturated_by_hand(void **state) {
    (void)state;
    const double eps = (double)1e-12f, N = 6;
    for (int f64 = 0; f64 <= 1; f64++) {
        const double p5 = f64 ? 1e-30 : (double)1e-30f, t5 = f64 ? 0.3 : (double)0.3f, t4 = t5, lp5 = log(p5);
        const double params[12] = {0, 1, 0, 1, 0.5, p5, /* t */ 0, 1, 1, 0, t4, t5};
        const double want_loss = (200 + log(2.0) - t5 * lp5) / N;
        const double want[12] = {0, 0, -1 / eps / N, 1 / eps / N, (0.5 - t4) / 0.25 / N, (p5 - t5) / eps / N,
                                 100 / N, -100 / N, 100 / N, -100 / N, 0, -lp5 / N};
        double loss, lossf, g[12];
        loss_grad_at("param p[6]\nparam t[6]\nloss bce(p, t)\n", f64, params, 12, NULL, &loss, &lossf, g);
        const double tol = f64 ? 1e-13 : 2e-6;
        expect_near("loss (grad)", 0, f64, loss, want_loss, tol);
        expect_near("loss (loss)", 0, f64, lossf, want_loss, tol);
        for (int i = 0; i < 12; i++) expect_near(i < 6 ? "dp" : "dt", i % 6, f64, g[i], want[i], tol);
    }
    /* a classifier's saturated sigmoid (1 at 40 in double, at 20 in float) with labels 1, 0,
     * 1, 1: PyTorch 1.13 gives loss 0.07831542291013252 and gradient [-5.152884230419374e-10,
     * 5.152884045475508e-10, 0, -0.06723535534249878] in double, 0.07831541448831558 and
     * [0, 5.152884230419374e-10, 0, -0.06723535060882568] in float (sigmoid(20) = 1) */
    const double a[4] = {20, -20, 40, 1}, labels[4] = {1, 0, 1, 1};
    const double want_loss[2] = {0.07831541448831558, 0.07831542291013252};
    const double want[2][4] = {{0, 5.152884230419374e-10, 0, -0.06723535060882568},
                               {-5.152884230419374e-10, 5.152884045475508e-10, 0, -0.06723535534249878}};
    for (int f64 = 0; f64 <= 1; f64++) {
        double loss, lossf, g[4];
        loss_grad_at("param a[4]\ninput t[4]\nloss bce(sigmoid(a), t)\n", f64, a, 4, labels, &loss, &lossf, g);
        const double tol = f64 ? 1e-13 : 2e-6;
        expect_near("loss (grad)", 0, f64, loss, want_loss[f64], tol);
        expect_near("loss (loss)", 0, f64, lossf, want_loss[f64], tol);
        for (int i = 0; i < 4; i++) expect_near("da", i, f64, g[i], want[f64][i], tol);
    }
}

/* A mask stops an infinite gradient: relu, maximum, minimum, leaky_relu with alpha = 0 and
 * max give 0 to the entries they did not pass on, as PyTorch 1.13's where / masked_fill do,
 * where g * mask would be inf * 0 = NaN. p = [-1, 0, 4, 1] (PyTorch, float64):
 *   sqrt(relu(p)):                  [0, 0, 1/4, 1/2]
 *   sqrt(maximum(p, -0.5) + 0.5):   [0, 1/(2 sqrt 0.5), 1/(2 sqrt 4.5), 1/(2 sqrt 1.5)]
 *   sqrt(2 - minimum(p, 2)):        [-1/(2 sqrt 3), -1/(2 sqrt 2), 0, -1/2]
 *   sqrt(leaky_relu(p, alpha = 0)): [0, 0, 1/4, 1/2] (PyTorch: NaN, NaN, 1/4, 1/2)
 * q = [[4, 1, -2], [0.5, 4, 3]]: sqrt(max(q, axis = 1) - 4) gives [[inf, 0, 0], [0, inf, 0]],
 * torch.max(q, 1)'s (torch.amax's has NaN for the zeros); r = [[1, 4, -2], [0.5, 3, 3]]:
 * sqrt(max(r) - 4) gives [[0, inf, 0], [0, 0, 0]], torch.max(r)'s. Through GEMM epilogues:
 * in sqrt(relu(X @ W1) @ W2) with W1, W2 > 0, X's row 0 is negative, so its hidden row is 0,
 * its output 0 and that output's gradient inf; the relu's mask stops it before X's and W1's
 * gradients (PyTorch's values below; row 2 has an exact 0 in the relu's input too). */
static void test_masks_stop_infinite_gradients(void **state) {
    (void)state;
    const double r05 = 1 / (2 * sqrt(0.5)), r45 = 1 / (2 * sqrt(4.5)), r15 = 1 / (2 * sqrt(1.5));
    const double p[4] = {-1, 0, 4, 1};
    const double want[4] = {0 + 0 - 1 / (2 * sqrt(3.0)) + 0, r05 - 1 / (2 * sqrt(2.0)), 0.25 + r45 + 0 + 0.25,
                            0.5 + r15 - 0.5 + 0.5};
    const double q[6] = {4, 1, -2, 0.5, 4, 3}, r[6] = {1, 4, -2, 0.5, 3, 3};
    const double wq[6] = {INFINITY, 0, 0, 0, INFINITY, 0}, wr[6] = {0, INFINITY, 0, 0, 0, 0};
    for (int f64 = 0; f64 <= 1; f64++) {
        const double tol = f64 ? 1e-15 : 1e-6;
        double loss, lossf, g[6];
        loss_grad_at("param p[4]\nloss sum(sqrt(relu(p))) + sum(sqrt(maximum(p, -0.5) + 0.5)) + "
                     "sum(sqrt(2 - minimum(p, 2))) + sum(sqrt(leaky_relu(p, alpha = 0)))\n",
                     f64, p, 4, NULL, &loss, &lossf, g);
        for (int i = 0; i < 4; i++) expect_near("dp", i, f64, g[i], want[i], tol);
        loss_grad_at("param q[2, 3]\nloss sum(sqrt(max(q, axis = 1) - 4))\n", f64, q, 6, NULL, &loss, &lossf, g);
        for (int i = 0; i < 6; i++) expect_near("dq", i, f64, g[i], wq[i], 0);
        loss_grad_at("param r[2, 3]\nloss sqrt(max(r) - 4)\n", f64, r, 6, NULL, &loss, &lossf, g);
        for (int i = 0; i < 6; i++) expect_near("dr", i, f64, g[i], wr[i], 0);
        /* X[3, 2], W1[2, 4], W2[4, 1] */
        const double v[18] = {-1, -1, 1, 2, 0.5, -0.25, /* W1 */ 0.5, 1, 0.25, 2, 1, 0.5, 0.75, 0.125,
                              /* W2 */ 1, 2, 0.5, 0.25};
        const double wx[14] = {0, 0, 0.5545978183850712, 0.4270403201565048, 1.2549116102763171, 0.5176510392389808,
                               0.17747130188322277, 0.8569072478769724, 0.08873565094161139, 0.10711340598462155,
                               0.35494260376644554, 0.45890288547762764, 0.17747130188322277, 0.057362860684703455};
        double gn[18];
        loss_grad_at("param X[3, 2]\nparam W1[2, 4]\nparam W2[4, 1]\nloss sum(sqrt(relu(X @ W1) @ W2))\n", f64, v, 18,
                     NULL, &loss, &lossf, gn);
        for (int i = 0; i < 14; i++) expect_near(i < 6 ? "dX" : "dW1", i, f64, gn[i], wx[i], f64 ? 1e-14 : 1e-6);
        for (int i = 14; i < 18; i++) /* h^T g: 0 inf in the product, NaN in PyTorch too */
            if (gn[i] == gn[i]) fail_msg("%s dW2[%d]: got %g, want NaN", f64 ? "f64" : "f32", i - 14, gn[i]);
        /* x ^ e where the exponent e (an input) is 0: x ^ 0 = 1, so sqrt(x ^ e - 1) sends an
           infinite gradient; PyTorch's pow backward gives x 0 there (where(e == 0, 0, ...)),
           not inf * 0 = NaN. At x = 3, e = 1: 1 / (2 sqrt(2)). */
        const double xe[4] = {2, 0, 3, 0.5}, ee[4] = {0, 0, 1, 0}, wxe[4] = {0, 0, 1 / (2 * sqrt(2.0)), 0};
        loss_grad_at("param x[4]\ninput e[4]\nloss sum(sqrt(x ^ e - 1))\n", f64, xe, 4, ee, &loss, &lossf, g);
        for (int i = 0; i < 4; i++) expect_near("dx of x ^ e", i, f64, g[i], wxe[i], tol);
    }
}

/* The gradient of 0 * f(x) in x is 0 even where f'(x) is infinite (README, "constants
 * fold"): the gradient program's zeros are symbolic. Where f' is a constant (x / 0, x * inf)
 * the adjoint was a product or quotient of two constants, folded as numbers first: 0 / 0 and
 * 0 * inf gave a gradient of NaN. The loss itself is NaN (0 * inf), as written. */
static void test_symbolic_zero_times_infinite_constant(void **state) {
    (void)state;
    const char *src[] = {"param x[2]\nloss 0 * sum(x / 0)\n", "param x[2]\nloss 0 * sum(x * (1 / 0))\n",
                         "param x[2]\nloss sum(0 * (x / 0) + x)\n"};
    const double x[2] = {1, -2};
    for (int f64 = 0; f64 <= 1; f64++)
        for (int k = 0; k < 3; k++) {
            double loss, lossf, g[2];
            loss_grad_at(src[k], f64, x, 2, NULL, &loss, &lossf, g);
            if (loss == loss) fail_msg("%s: loss %g, want NaN", src[k], loss);
            for (int i = 0; i < 2; i++) expect_near("dx", i, f64, g[i], k == 2 ? 1 : 0, 0);
        }
}

/* x ^ 0 is 1 for every x, so its derivative is 0 everywhere, as PyTorch's pow backward
 * (exponent 0: zeros): -O0, which keeps x ^ 0 in the graph (the optimiser folds it to 1),
 * differentiated it as 0 * x ^ -1, NaN at x = +-0 (0 * inf). Here sum(x ^ 0) + 2 sum(x)
 * at x = [0, -0, inf, -3]: the gradient is 2 everywhere, optimised or not. */
static void test_zeroth_power_gradient_unoptimised(void **state) {
    (void)state;
    const double x[4] = {0, -0.0, INFINITY, -3};
    static const char *const srcs[] = {
        "param x[4]\nloss sum(x ^ 0) + sum(x * 2)\n",
        /* a bound constant exponent is a pow by a scalar (x ^ 0 written out is a power by an
           integer): its 0 * x^0 was NaN for the infinite gradient sqrt(x ^ c - 1) sends */
        "param x[4]\nc = 0\nloss sum(sqrt(x ^ c - 1)) + sum(x * 2)\n",
    };
    for (size_t k = 0; k < sizeof srcs / sizeof *srcs; k++)
        for (int optimize = 0; optimize <= 1; optimize++)
            for (int f64 = 0; f64 <= 1; f64++) {
                TestModel t;
                CompileOptions co = {.optimize = optimize};
                th_build_with(&t, srcs[k], f64, NULL, &co);
                if (!t.ok) fail_msg("did not compile:\n%s", th_diag_text(&t));
                for (int i = 0; i < 4; i++) drv_set(&t.m, t.params, i, x[i]);
                double g[4];
                grad_at_defaults(&t, g);
                for (int i = 0; i < 4; i++)
                    if (g[i] != 2)
                        fail_msg("program %zu, %s -O%d: dx[%d] = %g, want 2", k, f64 ? "f64" : "f32", optimize, i, g[i]);
                th_free(&t);
            }
}

/* The gradient of 0 * f(x) is 0 even where f'(x) is infinite, at every optimisation level
 * (README, "constants fold"). -O0 built reverse mode's nodes without the symbolic-zero rules,
 * which lived in the optimiser: the adjoint g * 0 stayed a product, sqrt's rule divided it by
 * 2 sqrt(0) and log's by 0, and the gradient was NaN. With the optimiser on, a zero adjoint
 * that went through an un-broadcasting sum along an axis or through a matrix product was not
 * seen as zero either (NaN at -O2 too). Each program below adds 3 x (or 3 sum(x)) so that
 * the expected gradient is 3 everywhere, derived by hand (finite differences are NaN at 0).
 * A zero that is not a constant, (x - x), is computed as written: NaN, as PyTorch's. */
static void test_zero_times_infinite_derivative_every_level(void **state) {
    (void)state;
    static const struct {
        const char *src;
        int n;         /* parameter reals, all 0 but the last of a tensor (4) */
        double want;   /* every gradient entry */
    } cases[] = {
        {"param x\nloss 0 * sqrt(x) + 3 * x\n", 1, 3},
        {"param x\nloss sqrt(x) * 0 + 3 * x\n", 1, 3},
        {"param x\nloss 0 * log(x) + 3 * x\n", 1, 3}, /* the loss is NaN (0 * -inf), as written */
        {"param x\nloss 0 * cos(sqrt(x)) + 3 * x\n", 1, 3}, /* through cos's -(g sin a) */
        {"def f(a) = 0 * sqrt(a)\nparam x\nloss f(x) + 3 * x\n", 1, 3},
        {"def f(a) {\n  s = sqrt(a)\n  return s * 0\n}\nparam x\nloss f(x) + 3 * x\n", 1, 3},
        {"param x[3]\nloss sum(0 * sqrt(x)) + sum(3 * x)\n", 3, 3},
        {"param x[3]\nloss 0 * sum(sqrt(x)) + sum(3 * x)\n", 3, 3},
        /* sqrt(x) [3] broadcast against [3, 1]: its adjoint is a sum along an axis */
        {"param x[3]\nloss sum(0 * (sqrt(x) + reshape(x, [3, 1]))) + sum(3 * x)\n", 3, 3},
        /* through a matrix product: the adjoints of both factors are products with zero */
        {"param x[2, 2]\nloss sum(0 * (sqrt(x) @ x)) + sum(3 * x)\n", 4, 3},
        /* a constant expression is a constant, folded or not (-O0 keeps 1 - 1 in the graph) */
        {"param x\nloss (1 - 1) * sqrt(x) + 3 * x\n", 1, 3},
        {"param x\nc = 0\nloss sqrt(x) * c + 3 * x\n", 1, 3},
        {"param x\nloss (x - x) * sqrt(x) + 3 * x\n", 1, NAN},
        /* a value used ten times: its gradients added up, 0 + 0 + ..., are one zero at -O0 too */
        {"param x\ns = sqrt(x)\nloss 0 * (s + s + s + s + s + s + s + s + s + s) + 3 * x\n", 1, 3},
        /* through dropout's mask (training), a causal mask's vjp and cross-entropy's gradient */
        {"param x[2, 2]\nloss 0 * sum(dropout(sqrt(x), 0.5)) + sum(3 * x)\n", 4, 3},
        {"param x[2, 2]\nloss 0 * sum(causal_mask(sqrt(x))) + sum(3 * x)\n", 4, 3},
        {"param x[1, 3]\ninput y[1] : int\nloss 0 * cross_entropy(sqrt(x), y) + sum(3 * x)\n", 3, 3},
        {"param x[1, 3]\ninput y[1] : int\nloss 0 * nll(sqrt(x), y) + sum(3 * x)\n", 3, 3},
        {"param x[3]\nloss 0 * sum(concat(sqrt(x), sqrt(x))) + sum(3 * x)\n", 3, 3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int optimize = 0; optimize <= 1; optimize++)
            for (int f64 = 0; f64 <= 1; f64++) {
                TestModel t;
                CompileOptions co = {.optimize = optimize};
                th_build_with(&t, cases[k].src, f64, NULL, &co);
                if (!t.ok) fail_msg("did not compile:\n%s", th_diag_text(&t));
                assert_int_equal(t.g->nparam_reals, cases[k].n);
                for (int i = 0; i < cases[k].n; i++) drv_set(&t.m, t.params, i, i == 3 ? 4 : 0);
                double g[4];
                grad_at_defaults(&t, g);
                for (int i = 0; i < cases[k].n; i++) {
                    int ok = cases[k].want == cases[k].want ? g[i] == cases[k].want : g[i] != g[i];
                    if (!ok)
                        fail_msg("case %zu (%s), %s -O%d: dx[%d] = %g, want %g", k, cases[k].src, f64 ? "f64" : "f32",
                                 optimize ? 2 : 0, i, g[i], cases[k].want);
                }
                th_free(&t);
            }
}

/* A pairwise loss's target may broadcast into its prediction without growing it (a
 * constant, or [3] against [2, 3]): mse(p, 0) = mean(p^2), mse(p[2, 3], t[3]) the mean
 * over the prediction's 6 elements. ([B] against [B, 1], which would grow to [B, B], is an
 * error: test_diagnostics.) */
static void test_loss_target_broadcasts_into_prediction(void **state) {
    (void)state;
    const double p[9] = {1, 2, 3, 4, 5, 6, /* t */ 1, 0, -1};
    double loss, lossf, g[9];
    loss_grad_at("param p[2, 3]\nloss mse(p, 0)\n", 1, p, 6, NULL, &loss, &lossf, g);
    expect_near("mse(p, 0)", 0, 1, loss, 91.0 / 6, 1e-15);
    loss_grad_at("param p[2, 3]\nparam t[3]\nloss mse(p, t)\n", 1, p, 9, NULL, &loss, &lossf, g);
    /* p - t = [0, 2, 4, 3, 5, 7] */
    expect_near("mse(p, t)", 0, 1, loss, (0 + 4 + 16 + 9 + 25 + 49) / 6.0, 1e-15);
    expect_near("dt", 0, 1, g[6], -2 * (0 + 3) / 6.0, 1e-15);
}

/* The tcc and cc JIT paths give the same loss after 20 Adam steps (f32, to 1e-5). */
/* src built by the harness (tcc JIT, random parameters and inputs from seed) and by the cc JIT */
static void build_tcc_and_cc(TestModel *t, Model *cc, const char *src, const int *sizes, uint64_t seed) {
    th_build(t, src, 0, sizes);
    assert_true(t->ok);
    th_randomize(t, seed, 4);
    char err[4096];
    if (bpc_model_jit(cc, t->g, 0, JIT_CC, err, sizeof err) != 0) fail_msg("cc JIT: %s", err);
}

static void test_tcc_and_cc_agree(void **state) {
    (void)state;
    const char *src = "input x[B, 12]\ninput y[B] : int\nparam W1[12, 16] = he\nparam b1[16]\n"
                      "param W2[16, 4] = xavier\nparam b2[4]\nh = tanh(x @ W1 + b1)\n"
                      "loss cross_entropy(h @ W2 + b2, y)\noptimizer adam(lr = 0.01)\n";
    int sizes[] = {8};
    TestModel t;
    Model cc;
    build_tcc_and_cc(&t, &cc, src, sizes, 3);
    size_t np = (size_t)t.g->nparam_reals;
    float *p1 = malloc(np * sizeof(float)), *p2 = malloc(np * sizeof(float));
    t.m.init(p1, 5);
    cc.init(p2, 5);
    assert_memory_equal(p1, p2, np * sizeof(float)); /* same initialisation on both paths */
    void *o1 = calloc(1, t.m.opt_size()), *o2 = calloc(1, cc.opt_size());
    void *ws1 = malloc(t.m.ws_size(t.dims)), *ws2 = malloc(cc.ws_size(t.dims));
    double l1 = 0, l2 = 0;
    for (int s = 0; s < 20; s++) {
        l1 = t.m.train_step(p1, o1, (const void *const *)t.inputs, t.dims, 0.01, ws1);
        l2 = cc.train_step(p2, o2, (const void *const *)t.inputs, t.dims, 0.01, ws2);
    }
    if (!(fabs(l1 - l2) <= 1e-5 * fmax(1, fabs(l1)))) fail_msg("tcc loss %.9g, cc loss %.9g", l1, l2);
    assert_true(l1 < 1.38); /* it learned something from log(4) = 1.386 */
    free(p1);
    free(p2);
    free(o1);
    free(o2);
    free(ws1);
    free(ws2);
    bpc_model_free(&cc);
    th_free(&t);
}

/* Dropout at inference and in data-parallel steps. NAME_loss_eval of a program with dropout
 * is the loss of the same program without it, to the bit (bpc train's, eval's and :eval's
 * test losses); NAME_loss draws seed 0's masks. NAME_grad_seeded draws other masks from
 * other seeds (the MPI steps' per-rank, per-step seeds), seed 0's being NAME_grad's. Without
 * dropout, NAME_loss_eval is NAME_loss and NAME_grad_seeded NAME_grad at any seed. */
static void test_dropout_api(void **state) {
    (void)state;
    const char *net = "input x[B, 6]\ninput y[B] : int\nparam W1[6, 16] = normal(1)\nparam W2[16, 3] = normal(1)\n";
    char with[512], without[512];
    snprintf(with, sizeof with, "%sh = dropout(relu(x @ W1), 0.5)\nloss cross_entropy(h @ W2, y)\n", net);
    snprintf(without, sizeof without, "%sh = relu(x @ W1)\nloss cross_entropy(h @ W2, y)\n", net);
    int sizes[] = {8};
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel d, n; /* with and without dropout: the same parameters and inputs (d's) */
        th_build(&d, with, f64, sizes);
        th_build(&n, without, f64, sizes);
        assert_true(d.ok && n.ok);
        th_randomize(&d, 5, 3);
        const size_t np = (size_t)d.g->nparam_reals, bytes = np * d.m.real_size;
        const void *const *in = (const void *const *)d.inputs;
        size_t wsz = d.m.ws_size(d.dims) > n.m.ws_size(d.dims) ? d.m.ws_size(d.dims) : n.m.ws_size(d.dims);
        void *ws = malloc(wsz + 64), *g[5];
        for (int k = 0; k < 5; k++) g[k] = malloc(bytes + 1);
        const double plain = n.m.loss(d.params, in, d.dims, ws);
        const double eval = d.m.loss_eval(d.params, in, d.dims, ws), train = d.m.loss(d.params, in, d.dims, ws);
        if (!(eval == plain)) fail_msg("f64 %d: loss_eval %.17g, the loss without dropout %.17g", f64, eval, plain);
        assert_true(train != eval); /* seed 0's masks */
        assert_true(n.m.loss_eval(d.params, in, d.dims, ws) == plain);
        const double l0 = d.m.grad(d.params, g[0], in, d.dims, ws);
        assert_true(d.m.grad_seeded(d.params, g[1], in, d.dims, 0, ws) == l0);
        assert_memory_equal(g[0], g[1], bytes);
        d.m.grad_seeded(d.params, g[2], in, d.dims, 1, ws);
        d.m.grad_seeded(d.params, g[3], in, d.dims, (uint64_t)1 << 32, ws); /* rank 1's at step 0 */
        assert_memory_not_equal(g[0], g[2], bytes);
        assert_memory_not_equal(g[0], g[3], bytes);
        assert_memory_not_equal(g[2], g[3], bytes);
        const double ln = n.m.grad(d.params, g[4], in, d.dims, ws);
        assert_true(n.m.grad_seeded(d.params, g[1], in, d.dims, 7, ws) == ln);
        assert_memory_equal(g[1], g[4], bytes);
        for (int k = 0; k < 5; k++) free(g[k]);
        free(ws);
        th_free(&d);
        th_free(&n);
    }
}

/* ---- structure of the optimised IR and of the emitted C ---- */
enum { TEXT_IR, TEXT_C, TEXT_C_STANDALONE, TEXT_C_F64 };

/* src's graph, optimized, in a (d reports its errors to stderr; the caller frees both) */
static Graph *compile_optimized(Arena *a, Diag *d, const char *src) {
    diag_init(d, stderr);
    const char *name = diag_add_source(d, "s.bp", src);
    CompileOptions co = {.optimize = 1};
    Graph *g = bpc_compile(a, d, name, src, &co);
    assert_non_null(g);
    return g;
}

/* src compiled (optimize: the IR passes) and printed as IR, C, --standalone C, or --f64 C */
static char *compiled_text_named(const char *file, const char *src, int optimize, int what) {
    Arena *a = arena_new();
    Diag d;
    char *txt = NULL;
    size_t len = 0;
    diag_init(&d, stderr);
    const char *name = diag_add_source(&d, file, src);
    CompileOptions co = {.optimize = optimize};
    Graph *g = bpc_compile(a, &d, name, src, &co);
    assert_non_null(g);
    FILE *f = open_memstream(&txt, &len);
    if (what == TEXT_IR) ir_dump(f, g);
    else {
        EmitOptions eo = {.standalone = what == TEXT_C_STANDALONE, .f64 = what == TEXT_C_F64};
        emit_c_source(f, g, &eo);
    }
    fclose(f);
    diag_free(&d);
    arena_free(a);
    return txt;
}

static char *compiled_text(const char *src, int optimize, int what) {
    return compiled_text_named("s.bp", src, optimize, what);
}

static char *dump_ir(const char *src, int optimize) { return compiled_text(src, optimize, TEXT_IR); }

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void test_cse_merges(void **state) {
    (void)state;
    const char *src = "input x[4]\nparam p[4]\na = sin(p) * x\nb = sin(p) * x\nloss sum(a + b)\n";
    char *opt = dump_ir(src, 1), *raw = dump_ir(src, 0);
    assert_int_equal(count(raw, "= sin "), 2);
    assert_int_equal(count(opt, "= sin "), 1);
    assert_int_equal(count(opt, "= mul %"), count(opt, "= mul %") ); /* dump is stable */
    free(opt);
    free(raw);
}

/* Defs that call the one before twice on the same argument, 12 deep: their 4096 copies of
 * sin(x) * x are one value after CSE, and reverse mode runs after CSE too, so the gradient
 * is differentiated once (it was 4096 adjoints of the inlined tree: 8211 lines of IR), and
 * equals the hand-derived 4096 (x cos x + sin x) in float as well (summing 4096 adjoints
 * gave 3761.0024 for 3761.0160) */
static void test_shared_calls_differentiated_once(void **state) {
    (void)state;
    char src[1024];
    int len = snprintf(src, sizeof src, "param p = 0.5\ndef f0(x) = sin(x) * x\n");
    for (int i = 1; i <= 12; i++) len += snprintf(src + len, sizeof src - (size_t)len, "def f%d(x) = f%d(x) + f%d(x)\n", i, i - 1, i - 1);
    snprintf(src + len, sizeof src - (size_t)len, "loss f12(p)\n");
    char *ir = dump_ir(src, 1);
    assert_true(count(ir, "\n") < 60);
    free(ir);
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel t;
        th_build(&t, src, f64, NULL);
        assert_true(t.ok);
        double g[1], want = 4096 * (0.5 * cos(0.5) + sin(0.5));
        grad_at_defaults(&t, g);
        assert_true(fabs(g[0] - want) < (f64 ? 1e-12 : 2e-7) * want);
        th_free(&t);
    }
}

/* Layer norms whose input another part of the loss reads too, or whose gy is a broadcast
 * constant: the affine-gradient group (emit_c.c, plan_ln_groups) took a pointer to values
 * that have no array (a broadcast computed inside its reader's loop), and bpc aborted on an
 * internal assertion (13 of 726 random programs with a layer norm) */
static void test_layernorm_group_operands(void **state) {
    (void)state;
    static const char *const srcs[] = {
        "param q[3, 4]\nparam g[4]\nloss sum(layernorm(q, g, 0) + relu(q))\n",
        "input x[3, 4]\nparam W[4, 4]\nparam g[4]\nparam b[4]\nh = x @ W\nloss sum(sin(layernorm(h, g, b))) + sum(h * h)\n",
        "input x[3, 4]\nparam W[4, 4]\nparam g[4]\nparam b[4]\nh = x @ W\n"
        "loss sum(tanh(layernorm(h, g, b)) + layernorm(h, g, b) * h)\n",
        "param x[5]\nloss sum(layernorm(x, x, 0) * 3)\n",
    };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        double err = th_fd_error(srcs[i], NULL, 7, 0);
        if (!(err < 1e-6)) fail_msg("program %zu: gradient error %g", i, err);
        TestModel t;
        th_build(&t, srcs[i], 0, NULL); /* float too */
        assert_true(t.ok);
        th_free(&t);
    }
}

/* he on a 3-D parameter: each [100, 50] matrix of the batch has fan_in 100 (std 0.1414); the
 * batch's 4 was taken for fan_in (std 0.707) */
static void test_he_on_a_batch_of_matrices(void **state) {
    (void)state;
    TestModel t;
    th_build(&t, "param W[4, 100, 50] = he\nloss sum(W * W)\n", 1, NULL);
    assert_true(t.ok);
    t.m.init(t.params, 3);
    double ss = 0;
    for (int64_t i = 0; i < t.g->nparam_reals; i++) ss += drv_get(&t.m, t.params, i) * drv_get(&t.m, t.params, i);
    const double std = sqrt(ss / (double)t.g->nparam_reals);
    if (fabs(std - sqrt(2.0 / 100)) > 0.05 * sqrt(2.0 / 100)) fail_msg("he std %g, want %g", std, sqrt(2.0 / 100));
    th_free(&t);
}

static void test_no_gradient_for_inputs(void **state) {
    (void)state;
    char *ir = dump_ir("input x[B, 784]\ninput y[B] : int\nparam W[784, 10]\nparam b[10]\n"
                       "loss cross_entropy(x @ W + b, y)\n",
                       1);
    /* dL/dx would be an adjoint [B, 784] value; only dL/dW [784, 10] may have 784 in it */
    const char *line = ir;
    while ((line = strstr(line, "= adj "))) {
        const char *end = strchr(line, '\n');
        char buf[256];
        size_t n = (size_t)(end - line) < sizeof buf - 1 ? (size_t)(end - line) : sizeof buf - 1;
        memcpy(buf, line, n);
        buf[n] = 0;
        if (strstr(buf, "[B, 784]")) fail_msg("gradient computed for the input: %s", buf);
        line = end;
    }
    free(ir);
}

static void test_softmax_cross_entropy_fused(void **state) {
    (void)state;
    char *ir = dump_ir("input x[B, 10]\ninput y[B] : int\nparam W[10, 10]\n"
                       "loss nll(log_softmax(x @ W), y)\n",
                       1);
    assert_int_equal(count(ir, "= cross_entropy "), 1);
    assert_int_equal(count(ir, "= adj ce_grad "), 1);
    assert_int_equal(count(ir, "log_softmax"), 0);
    assert_int_equal(count(ir, "= nll"), 0);
    free(ir);
}

/* softmax's backward along the last axis is one softmax_grad; behind a causal mask (-inf)
 * the mask's vjp is dropped (those entries are already 0); along another axis, or with the
 * masked scores used twice, the primitive form and the mask's vjp stay */
static void test_softmax_grad_fused(void **state) {
    (void)state;
    char *ir = dump_ir("input x[2, 4, 8]\nparam W[8, 8]\n"
                       "loss sum(softmax(causal_mask(x @ W @ x.T * 0.5)) @ x)\n",
                       1);
    assert_int_equal(count(ir, "= adj softmax_grad "), 1);
    assert_int_equal(count(ir, "causal_mask"), 1);
    free(ir);
    ir = dump_ir("input x[2, 4, 8]\nparam W[8, 8]\nm = causal_mask(x @ W @ x.T * 0.5)\n"
                 "loss sum(softmax(m) @ x) + sum(softmax(m, axis = 1) @ x)\n",
                 1);
    assert_int_equal(count(ir, "= adj softmax_grad "), 1);
    assert_int_equal(count(ir, "causal_mask"), 2);
    free(ir);
}

/* causal attention through one head, its weights made and differentiated product by product */
#define ATTENTION_PROGRAM                                                                          \
    "input x[2, 4, 8]\nparam W[8, 8]\nparam V[8, 8]\n"                                         \
    "loss sum(softmax(causal_mask(x @ W @ x.T * 0.5)) @ (x @ V))\n"

/* attention's weights and their gradient as one call per product (emit_c.c's plan_sm), the
 * products through the masked triangle skipped (plan_tri); not when the scores are kept (an
 * output) or the masked scores are read twice */
static void test_attention_calls(void **state) {
    (void)state;
    char *c = compiled_text(ATTENTION_PROGRAM,
                            1, TEXT_C);
    assert_true(count(c, "bprt_sgemm_batch_softmax(") > 0);
    assert_true(count(c, "bprt_sgemm_batch_softmax_grad(") > 0);
    assert_true(count(c, ", 0, 2);") > 0); /* att @ v: A zero above the diagonal */
    assert_true(count(c, ", 0, 3);") > 0); /* att^T @ g: A^T zero below it */
    assert_int_equal(count(c, "bprt_causal_mask_"), 0); /* the mask is in the calls */
    free(c);
    for (int kept = 0; kept < 2; kept++) { /* the forward of the weights, with the scores an output or not */
        c = compiled_text(kept ? "input x[2, 4, 8]\nparam W[8, 8]\ns = x @ W @ x.T * 0.5\n"
                                 "att = softmax(causal_mask(s))\noutput s, att\nloss sum(att @ x)\n"
                               : "input x[2, 4, 8]\nparam W[8, 8]\ns = x @ W @ x.T * 0.5\n"
                                 "att = softmax(causal_mask(s))\noutput att\nloss sum(att @ x)\n",
                          1, TEXT_C);
        const char *fwd = strstr(c, "_forward(const real *params, const real *in_x"); /* the definition */
        assert_non_null(fwd);
        char *body = strndup(fwd, (size_t)(strstr(fwd, "\n}\n") - fwd));
        assert_int_equal(count(body, "bprt_sgemm_batch_softmax("), !kept);
        assert_int_equal(count(body, "bprt_causal_mask_"), kept);
        free(body);
        free(c);
    }
    c = compiled_text("input x[2, 4, 8]\nparam W[8, 8]\nm = causal_mask(x @ W @ x.T * 0.5)\n"
                      "loss sum(softmax(m) @ x) + sum(softmax(m * 2) @ x)\n",
                      1, TEXT_C);
    assert_int_equal(count(c, "bprt_sgemm_batch_softmax("), 0);
    free(c);
}

/* n causal attention blocks, each with a layer norm, then a classifier: the source */
static char *attention_blocks(int n) {
    size_t size = 1024 + (size_t)n * 256, len = 0;
    char *src = malloc(size);
    assert_non_null(src);
    len += (size_t)snprintf(src + len, size - len,
                            "input x[B, 16, 32]\ninput y[B, 16] : int\nparam Wo[32, 10]\n"
                            "def blk(h, Wq, Wk, Wv, g, be) {\n  q = h @ Wq; k = h @ Wk; v = h @ Wv\n"
                            "  a = softmax(causal_mask(q @ k.T / 5.6))\n  return layernorm(h + a @ v, g, be)\n}\n"
                            "h0 = x\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(src + len, size - len,
                                "param Wq%d[32, 32]\nparam Wk%d[32, 32]\nparam Wv%d[32, 32]\nparam g%d[32] = 1\n"
                                "param be%d[32]\nh%d = blk(h%d, Wq%d, Wk%d, Wv%d, g%d, be%d)\n",
                                i, i, i, i, i, i + 1, i, i, i, i, i, i);
    snprintf(src + len, size - len, "loss cross_entropy(h%d @ Wo, y)\noptimizer adam(lr = 1e-3)\n", n);
    return src;
}

/* ir_readers (ir.h), which the emitter's questions about a node's readers use, agrees with a
 * scan of the later nodes, node by node: the readers in node order, each operand once, and
 * the roots */
static void test_readers_agree_with_a_scan(void **state) {
    (void)state;
    char *src = attention_blocks(2);
    Arena *a = arena_new();
    Diag d;
    Graph *g = compile_optimized(a, &d, src);
    const Readers *r = ir_readers(g);
    int roots = 0;
    for (int v = 0; v < g->n; v++) {
        int at = r->first[v];
        for (int j = v + 1; j < g->n; j++)
            for (int k = 0; k < op_info[g->nodes[j].op].arity; k++)
                if (g->nodes[j].in[k] == v) {
                    assert_true(at < r->first[v + 1]);
                    assert_int_equal(r->user[at], j);
                    assert_int_equal(r->slot[at], k);
                    at++;
                }
        assert_int_equal(at, r->first[v + 1]);
        assert_int_equal(r->root[v], ir_is_root(g, v));
        roots += r->root[v];
    }
    assert_true(roots > g->nparams); /* the loss and the gradients */
    diag_free(&d);
    arena_free(a);
    free(src);
}

/* 120 attention blocks (4200 nodes in the gradient): each block's batched products keep
 * their triangles in the emitted functions (emit_c.c's plan_tri: 3 with C read below the
 * diagonal, 3 with A zero above it, 2 with A zero below it). The questions about a node's
 * readers scanned every later node, some of them in each memory plan mark_fused tried, one
 * per weight gradient: 200 blocks took 1.9 s (user) to emit, 400 blocks 11 s, 800 blocks
 * 106 s (wall, on a quieter machine); with ir_readers 0.8, 2.7 and 20 s, and with
 * mark_fused's runs of candidates 0.4, 0.9 and 2.1 s. */
static void test_many_attention_blocks(void **state) {
    (void)state;
    enum { N = 120 };
    char *src = attention_blocks(N);
    char *c = compiled_text(src, 1, TEXT_C);
    assert_int_equal(count(c, ", 0, 1);\n"), 3 * N);
    assert_int_equal(count(c, ", 0, 2);\n"), 3 * N);
    assert_int_equal(count(c, ", 0, 3);\n"), 2 * N);
    free(c);
    free(src);
}

/* The parameters whose update the training step fuses into their gradient's GEMM
 * (bprt_gemm_adam's calls, each followed by the parameter's name), as " W0 W1 ..." */
static void adam_fused(const char *c, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = 0;
    for (const char *p = strstr(c, "bprt_gemm_adam_f32(1"); p; p = strstr(p + 1, "bprt_gemm_adam_f32(1")) {
        const char *name = strstr(p, "/* ");
        assert_non_null(name);
        name += 3;
        const size_t len = strcspn(name, " ");
        if (n + len + 2 < size) n += (size_t)snprintf(buf + n, size - n, " %.*s", (int)len, name);
    }
}

/* 64 weight-gradient GEMMs, more than mark_fused (emit_c.c) tries one by one: in runs, the
 * same parameters fused as one by one (a memory plan each, which was 67% of --emit=c for 400
 * attention blocks): all 64 side by side, where fusing costs no workspace; in a chain of 64
 * layers W0 to W32, the latest gradients (fusing W33 would add a buffer) */
static void test_fused_updates_in_runs(void **state) {
    (void)state;
    enum { N = 64, SIZE = 16384 };
    char *src = malloc(SIZE), want[1024], got[1024];
    assert_non_null(src);
    for (int deep = 0; deep < 2; deep++) {
        int n = snprintf(src, SIZE, "input x[B, 8]\ninput t[B, 8]\n");
        for (int i = 0; i < N; i++) n += snprintf(src + n, SIZE - (size_t)n, "param W%d[8, 8] = he\n", i);
        if (deep) {
            n += snprintf(src + n, SIZE - (size_t)n, "h0 = tanh(x @ W0)\n");
            for (int i = 1; i < N; i++) n += snprintf(src + n, SIZE - (size_t)n, "h%d = tanh(h%d @ W%d)\n", i, i - 1, i);
            n += snprintf(src + n, SIZE - (size_t)n, "loss mse(h%d, t)\n", N - 1);
        } else {
            n += snprintf(src + n, SIZE - (size_t)n, "a0 = relu(x @ W0)\n");
            for (int i = 1; i < N; i++) n += snprintf(src + n, SIZE - (size_t)n, "a%d = a%d + relu(x @ W%d)\n", i, i - 1, i);
            n += snprintf(src + n, SIZE - (size_t)n, "loss mse(a%d, t)\n", N - 1);
        }
        snprintf(src + n, SIZE - (size_t)n, "optimizer adam(lr = 1e-3)\n");
        char *c = compiled_text(src, 1, TEXT_C);
        adam_fused(c, got, sizeof got);
        size_t w = 0;
        for (int i = 0; i < (deep ? 33 : N); i++) w += (size_t)snprintf(want + w, sizeof want - w, " W%d", i);
        assert_string_equal(got, want);
        free(c);
    }
    free(src);
}

/* Argument k (from 0) of the first call fn( in c, without spaces, into buf. */
static const char *call_arg(const char *c, const char *fn, int k, char *buf, size_t size) {
    const char *p = strstr(c, fn);
    assert_non_null(p);
    size_t n = 0;
    int depth = 0, at = 0;
    for (p += strlen(fn); *p && depth >= 0; p++) {
        if (*p == '(') depth++;
        else if (*p == ')') depth--;
        else if (*p == ',' && depth == 0) {
            at++;
            continue;
        }
        if (at == k && depth >= 0 && *p != ' ' && n + 1 < size) buf[n++] = *p;
    }
    buf[n] = 0;
    assert_true(n > 0);
    return buf;
}

/* plan.c: cross-entropy's gradient written over the logits (bprt_cross_entropy_grad's d is z)
 * and an attention chain's softmax gradient over the weights (C is Y), each dying there. (The
 * gradients of programs that read them afterwards are test_ops.c's, against finite
 * differences.) */
static void test_written_over_dying_inputs(void **state) {
    (void)state;
    char z[64], d[64], cc[64], y[64];
    char *c = compiled_text("input x[B, 8]\ninput lab[B] : int\nparam W[8, 5]\nloss cross_entropy(x @ W, lab)\n", 1,
                            TEXT_C);
    const char *grad = strstr(c, "_grad(const real *params");
    assert_non_null(grad);
    assert_string_equal(call_arg(grad, "bprt_cross_entropy_grad_f32(", 0, z, sizeof z),
                        call_arg(grad, "bprt_cross_entropy_grad_f32(", 5, d, sizeof d));
    free(c);
    c = compiled_text(ATTENTION_PROGRAM,
                      1, TEXT_C);
    grad = strstr(c, "_grad(const real *params");
    assert_non_null(grad);
    assert_string_equal(call_arg(grad, "bprt_sgemm_batch_softmax_grad(", 11, cc, sizeof cc),
                        call_arg(grad, "bprt_sgemm_batch_softmax_grad(", 19, y, sizeof y));
    assert_string_equal(call_arg(grad, "bprt_sgemm_batch_softmax_grad(", 23, z, sizeof z), "(real*)0");
    free(c);
}

/* --standalone (plan.h's product_temp): the attention chain's softmax gradient written over the
 * weights makes each product in a workspace buffer of its own (its runtime keeps none), not
 * one of the call's operands; libbprt's call passes none (test_written_over_dying_inputs) */
static void test_standalone_product_scratch(void **state) {
    (void)state;
    char *c = compiled_text(ATTENTION_PROGRAM,
                            1, TEXT_C_STANDALONE);
    const char *grad = strstr(c, "_grad(const real *params");
    assert_non_null(grad);
    char tmp[64], arg[64];
    call_arg(grad, "bprt_sgemm_batch_softmax_grad(", 23, tmp, sizeof tmp);
    assert_true(tmp[0] == 't' && strspn(tmp + 1, "0123456789") == strlen(tmp + 1)); /* a workspace buffer */
    const int operands[] = {6, 8, 11, 19}; /* A, B, C, Y */
    for (int k = 0; k < 4; k++)
        assert_string_not_equal(call_arg(grad, "bprt_sgemm_batch_softmax_grad(", operands[k], arg, sizeof arg), tmp);
    assert_string_equal(call_arg(grad, "bprt_sgemm_batch_softmax_grad(", 11, arg, sizeof arg),
                        call_arg(grad, "bprt_sgemm_batch_softmax_grad(", 19, tmp, sizeof tmp)); /* C is Y */
    free(c);
}

/* --standalone renames the embedded runtime's names to the model's (emit_c.c finds them once
 * per process): one process emitting model one, two, then one again gives each its own
 * prefix on every #define, and one's text twice the same */
static void test_standalone_renames_per_model(void **state) {
    (void)state;
    const char *src = "param p[3]\nloss sum(p * p)\n";
    char *one = compiled_text_named("one.bp", src, 1, TEXT_C_STANDALONE);
    char *two = compiled_text_named("two.bp", src, 1, TEXT_C_STANDALONE);
    char *again = compiled_text_named("one.bp", src, 1, TEXT_C_STANDALONE);
    assert_string_equal(one, again);
    const int n = count(one, "\n#define bprt_");
    assert_true(n > 100);
    assert_int_equal(count(two, "\n#define bprt_"), n);
    assert_int_equal(count(two, "one_bprt_"), 0);
    const char *texts[] = {one, two};
    for (int k = 0; k < 2; k++) /* every one #define NAME MODEL_NAME */
        for (const char *p = strstr(texts[k], "\n#define bprt_"); p; p = strstr(p + 1, "\n#define bprt_")) {
            char name[128], as[160], want[160];
            assert_int_equal(sscanf(p + 9, "%127s %159s", name, as), 2);
            snprintf(want, sizeof want, "%s_%s", k ? "two" : "one", name);
            assert_string_equal(as, want);
        }
    free(one);
    free(two);
    free(again);
}

static void test_algebraic_simplification(void **state) {
    (void)state;
    char *ir = dump_ir("param p[3]\nloss sum(p * 1 + 0) + 2 * 3\n", 1);
    assert_int_equal(count(ir, "= mul %"), 0);
    assert_int_equal(count(ir, "= const 6"), 1);
    free(ir);
}

/* Each elementwise op of constants, folded (pass_fold.c) and computed by the generated code
 * (optimize = 0), on NaN, the infinities, both zeros and ordinary numbers: the same value in
 * double, NaN-ness, infinity and the sign of a zero included; in float the same but for the
 * last bits (the fold rounds its double; 1.5e308, infinite in float, is compared in double
 * only: folding in double, (1.5e308 / 1.5e308) is 1 where float arithmetic gives NaN). relu(NaN), maximum(NaN, 0) and minimum(NaN, 0)
 * folded to 0; a folded -0 was emitted as the integer 0 (z / (-0) gave +inf) and 1.5e308 as
 * INFINITY; (z*0) * (0/0) (a broadcast zero times NaN) folded to 0. Operands are scalars, and
 * broadcasts of constants (z^0 * A, z [3]: z^0 folds to ones, 1 for every z; z * 0 does not
 * fold, z could be infinite). Every surface elementwise op is
 * covered: the walk of the op table at the end fails for one added without a case. */
static void test_folding_matches_generated_code(void **state) {
    (void)state;
    static const char *const vals[] = {"(0/0)", "(1/0)", "(-1/0)", "0", "(-0)", "1", "(-1)", "0.5", "(-2.5)", "3", "1.5e308"};
    enum { NV = sizeof vals / sizeof *vals };
    static const struct {
        Op op;
        const char *fmt; /* A stands for the first operand, B for the second */
    } cases[] = {
        {OP_NEG, "-A"}, {OP_EXP, "exp(A)"}, {OP_LOG, "log(A)"}, {OP_SQRT, "sqrt(A)"}, {OP_ABS, "abs(A)"},
        {OP_SIN, "sin(A)"}, {OP_COS, "cos(A)"}, {OP_TANH, "tanh(A)"}, {OP_SIGMOID, "sigmoid(A)"},
        {OP_RELU, "relu(A)"}, {OP_LEAKY_RELU, "leaky_relu(A, alpha = 0.2)"}, {OP_GELU, "gelu(A)"},
        {OP_SOFTPLUS, "softplus(A)"}, {OP_POWI, "A^3"}, {OP_POWI, "A^-2"}, {OP_POWI, "A^0"},
        {OP_POWI, "A^-1"}, {OP_ADD, "A + B"}, {OP_SUB, "A - B"}, {OP_MUL, "A * B"}, {OP_DIV, "A / B"},
        {OP_POW, "A ^ B"}, {OP_MAXIMUM, "maximum(A, B)"}, {OP_MINIMUM, "minimum(A, B)"}, {OP_BCE, "bce(A, B)"},
        {OP_BCE_LOGITS, "bce_logits(A, B)"},
    };
    enum { NC = sizeof cases / sizeof *cases };
    int covered[OP_COUNT] = {0};
    for (int c = 0; c < NC; c++) {
        covered[cases[c].op] = 1;
        int binary = op_info[cases[c].op].arity == 2;
        char *src = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&src, &len);
        fprintf(f, "param z[3]\n");
        int nout = 0;
        unsigned char big[2 * NV * NV]; /* an operand is 1.5e308: infinite in float before folding */
        for (int bc = 0; bc <= 1; bc++) /* scalars, then broadcasts */
            for (int i = 0; i < NV; i++)
                for (int j = 0; j < (binary ? NV : 1); j++) {
                    big[nout] = i == NV - 1 || (binary && j == NV - 1);
                    char a[64], b[64];
                    snprintf(a, sizeof a, bc ? "(z^0 * %s)" : "%s", vals[i]);
                    snprintf(b, sizeof b, "%s", vals[j]);
                    fprintf(f, "r%d = ", nout++);
                    for (const char *q = cases[c].fmt; *q; q++)
                        if (*q == 'A') fputs(a, f);
                        else if (*q == 'B') fputs(b, f);
                        else fputc(*q, f);
                    fputc('\n', f);
                }
        fprintf(f, "output r0");
        for (int k = 1; k < nout; k++) fprintf(f, ", r%d", k);
        fprintf(f, "\n");
        fclose(f);
        for (int f64 = 0; f64 <= 1; f64++) {
            TestModel t[2];
            void **outs[2];
            for (int opt = 0; opt <= 1; opt++) {
                th_build_with(&t[opt], src, f64, NULL, &(CompileOptions){.optimize = opt});
                if (!t[opt].ok) fprintf(stderr, "%s\n%s", src, th_diag_text(&t[opt]));
                assert_true(t[opt].ok);
                char err[BPRT_ERRLEN];
                outs[opt] = drv_alloc_outputs(&t[opt].m, t[opt].dims, err);
                assert_true(outs[opt] != NULL);
                void *ws = malloc(t[opt].m.ws_size(t[opt].dims) + 64);
                t[opt].m.forward(t[opt].params, (const void *const *)t[opt].inputs, outs[opt], t[opt].dims, ws);
                free(ws);
            }
            for (int k = 0; k < nout; k++) /* a broadcast's 3 elements; bce, a mean, is a scalar */
                for (int e = 0; e < (t[0].m.g->nodes[t[0].m.g->outputs[k]].shape.rank ? 3 : 1) && (f64 || !big[k]); e++) {
                    double u = drv_get(&t[0].m, outs[0][k], e), v = drv_get(&t[1].m, outs[1][k], e);
                    int same = (u != u && v != v) ||
                               (!signbit(u) == !signbit(v) &&
                                (u == v || (!f64 && isfinite(u) && isfinite(v) && fabs(u - v) <= 1e-4 * fabs(u))));
                    if (!same) fprintf(stderr, "%s r%d[%d]: computed %.17g, folded %.17g (%s)\n", cases[c].fmt, k, e, u, v, f64 ? "f64" : "f32");
                    assert_true(same);
                }
            for (int opt = 0; opt <= 1; opt++) {
                drv_free_outputs(&t[opt].m, outs[opt]);
                th_free(&t[opt]);
            }
        }
        free(src);
    }
    for (int op = 0; op < OP_COUNT; op++) /* the ops only reverse mode makes: bp_ functions fold_eval copies */
        if ((op_info[op].kind == OK_UNARY || op_info[op].kind == OK_BINARY) && op != OP_SIGN && op != OP_STEP &&
            op != OP_LEAKY_STEP && op != OP_GELU_GRAD && op != OP_GT && op != OP_EQ && op != OP_MASK_MUL) {
            if (!covered[op]) fprintf(stderr, "no folding case for op %s\n", op_info[op].name);
            assert_true(covered[op]);
        }
}

static void test_transpose_folded_into_matmul(void **state) {
    (void)state;
    char *ir = dump_ir("input x[4, 3]\nparam W[4, 5]\nloss sum(x.T @ W)\n", 1);
    assert_int_equal(count(ir, "transpose"), 0);
    assert_int_equal(count(ir, "= matmul %0, %1 ta=1 tb=0"), 1);
    free(ir);
}

/* pass_msum.c: the sums reverse mode makes over batch axes become part of the products, and
 * products read a broadcast over batch axes in place (their values are checked against finite
 * differences in test_ops.c) */
static void test_batch_sums_folded_into_matmul(void **state) {
    (void)state;
    char *ir = dump_ir("input x[B, 8, 4]\nparam h[3, 1, 8, 4]\nparam W[4, 3]\nparam P[2, 4, 3]\n"
                       "loss sum((x @ W)^2) + sum((h @ P)^2)\n", 1);
    assert_int_equal(count(ir, "= adj matmul %0, %"), 1);
    assert_int_equal(count(ir, "ta=1 tb=0 sum=0 : [4, 3]"), 1);    /* dW: summed over B, K = B*8 */
    assert_int_equal(count(ir, "ta=1 tb=0 sum=0 : [2, 4, 3]"), 1); /* dP: summed over h's 3 */
    assert_int_equal(count(ir, "ta=0 tb=1 sum=1 : [3, 1, 8, 4]"), 1); /* dh: over P's 2, kept as 1 */
    assert_int_equal(count(ir, "adj sum"), 0);
    free(ir);
    /* a sum over the heads, an interior batch axis, dropped: the heads' products accumulate
       (sum=1: batch axis 1); the gradient's broadcast over the heads is read by both
       products in place (stride 0), not copied */
    const char *heads = "param hs[3, 2, 3, 4]\nparam ho[2, 4, 5]\nloss sum(sin(sum(hs @ ho, axis = 1)))\n";
    ir = dump_ir(heads, 1);
    assert_int_equal(count(ir, "= matmul %0, %1 sum=1 : [3, 3, 5]"), 1);
    assert_int_equal(count(ir, "axis=1"), 0);
    assert_int_equal(count(ir, "broadcast"), 0);
    assert_int_equal(count(ir, "ta=0 tb=1 : [3, 2, 3, 4]"), 1); /* d hs */
    free(ir);
    ir = dump_ir(heads, 0); /* -O0 keeps both */
    assert_true(count(ir, "axis=1") >= 1);
    assert_true(count(ir, "adj broadcast") >= 1);
    free(ir);
    char *raw = dump_ir("input x[B, 8, 4]\nparam W[4, 3]\nloss sum((x @ W)^2)\n", 0);
    assert_int_equal(count(raw, "sum="), 0); /* -O0 keeps the sum */
    assert_int_equal(count(raw, "adj sum"), 1);
    free(raw);
}

/* A convolution's bias + relu, and the pooling gradient times the relu's step, are computed
 * image by image by the layers (bprt_conv2d_ew, bprt_maxpool2d_grad_ew), not by passes of
 * their own; not in --standalone output; a convolution's two gradients are one call
 * (bprt_conv2d_grads). test_ops checks the values (finite differences). */
static void test_layer_epilogues(void **state) {
    (void)state;
    const char *src = "input x[B, 2, 8, 8]\ninput y[B] : int\nparam K[4, 2, 3, 3] = he\nparam c[4, 1, 1]\n"
                      "param W[64, 3] = xavier\nh = maxpool2d(relu(conv2d(x, K, padding = 1) + c), 2)\n"
                      "loss cross_entropy(reshape(h, [B, 64]) @ W, y)\noptimizer sgd(lr = 0.1)\n";
    char *c = compiled_text(src, 1, TEXT_C);
    assert_true(count(c, "= relu, on each finished image of the layer") >= 3); /* forward, grad, step */
    assert_true(count(c, "= adjoint mask_mul, on each finished image of the layer") >= 2); /* grad, step */
    assert_int_equal(count(c, "bprt_conv2d_ew_f32(") + count(c, "bprt_maxpool2d_grad_ew_f32("),
                     count(c, "on each finished image of the layer"));
    free(c);
    char *st = compiled_text(src, 1, TEXT_C_STANDALONE);
    assert_int_equal(count(st, "on each finished image of the layer"), 0);
    free(st);
    /* a second convolution's input and weight gradients from one output gradient: one call
       (in NAME_grad, which this SGD step calls) */
    char *two = compiled_text("input x[B, 2, 8, 8]\nparam K1[4, 2, 3, 3] = he\nparam K2[3, 4, 3, 3] = he\n"
                              "h = relu(conv2d(relu(conv2d(x, K1, padding = 1)), K2, padding = 1))\n"
                              "loss sum(h ^ 2)\noptimizer sgd(lr = 0.1)\n", 1, TEXT_C);
    assert_true(count(two, "= adjoint conv2d_grad_w, in the same call") >= 1);
    assert_int_equal(count(two, "bprt_conv2d_grads_f32("), count(two, "in the same call"));
    free(two);
}

/* A first layer's bias gradient (gy summed over images and positions: a sum per axis) is
 * made by its weight gradient's call (bprt_conv2d_grad_wb), image by image, when the weight
 * gradient sums groups of images (fewer than BPRT_CONV_GW_GROUPED_K unfolded rows); not for
 * more rows, nor in --standalone output. test_ops checks the values (finite differences). */
static void test_conv_bias_with_grad_w(void **state) {
    (void)state;
    static const struct {
        const char *bias; /* c's shape */
        int C;            /* input channels: 3x3 windows, C * 9 unfolded rows */
        int fused;
    } cases[] = {{"[4, 1, 1]", 2, 1}, {"[1, 4, 1, 1]", 2, 1}, {"[4, 1, 1]", 7, 1}, {"[4, 1, 1]", 8, 0},
                 {"[1, 4, 8, 8]", 2, 0}}; /* a bias per position: summed over the images alone */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "input x[B, %d, 8, 8]\ninput y[B] : int\nparam K[4, %d, 3, 3] = he\nparam c%s\n"
                 "param W[64, 3] = xavier\nh = maxpool2d(relu(conv2d(x, K, padding = 1) + c), 2)\n"
                 "loss cross_entropy(reshape(h, [B, 64]) @ W, y)\noptimizer sgd(lr = 0.1)\n",
                 cases[i].C, cases[i].C, cases[i].bias);
        char *c = compiled_text(src, 1, TEXT_C);
        const int n = count(c, "    bprt_conv2d_grad_wb_f32(");
        if (cases[i].fused) assert_true(n >= 1); /* NAME_grad's (which the step calls) */
        else assert_int_equal(n, 0);
        assert_int_equal(count(c, "= the sum of its gy (a bias's gradient), in one call"), n);
        /* fused: neither the weight gradient's call alone nor a sum of the bias's chain is left
           (the model has no other sum) */
        if (cases[i].fused) assert_int_equal(count(c, "    bprt_conv2d_grad_w_f32(") + count(c, "    bprt_sum_axis_f32("), 0);
        free(c);
        char *st = compiled_text(src, 1, TEXT_C_STANDALONE);
        assert_int_equal(count(st, "a bias's gradient), in one call"), 0);
        free(st);
        char *d = compiled_text(src, 1, TEXT_C_F64); /* the same in double (test_ops's values) */
        if (cases[i].fused) assert_true(count(d, "    bprt_conv2d_grad_wb_f64(") >= 1);
        else assert_int_equal(count(d, "    bprt_conv2d_grad_wb_f64("), 0);
        free(d);
    }
    /* a second layer's, with its input and weight gradients (bprt_conv2d_grads_b): Winograd's
       windows (3x3, 8 channels each way, 12x12 images: 9 tiles) or fewer than 64 rows; not 4
       channels in at 5x5 */
    static const struct {
        int C, K, fused;
    } two[] = {{8, 3, 1}, {2, 5, 1}, {4, 5, 0}};
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "input x[B, 1, 12, 12]\nparam K1[%d, 1, 3, 3] = he\nparam K2[8, %d, %d, %d] = he\nparam c[8, 1, 1]\n"
                 "h = relu(conv2d(relu(conv2d(x, K1, padding = 1)), K2, padding = 1) + c)\n"
                 "loss sum(h ^ 2)\noptimizer sgd(lr = 0.1)\n",
                 two[i].C, two[i].C, two[i].K, two[i].K);
        char *c = compiled_text(src, 1, TEXT_C);
        const int n = count(c, "    bprt_conv2d_grads_b_f32(");
        if (two[i].fused) assert_true(n >= 1);
        else assert_int_equal(n, 0);
        assert_int_equal(count(c, "= the sum of their gy (a bias's gradient), in one call"), n);
        free(c);
        /* in double: no Winograd, so only the few rows' */
        char *d = compiled_text(src, 1, TEXT_C_F64);
        const int nd = count(d, "    bprt_conv2d_grads_b_f64(");
        if (two[i].fused && two[i].C * two[i].K * two[i].K < BPRT_CONV_GW_GROUPED_K) assert_true(nd >= 1);
        else assert_int_equal(nd, 0);
        free(d);
    }
}

/* Bias + relu after a layer's product, and the relu's derivative after the input gradient's,
 * are GEMM epilogues (no pass of their own); not in --standalone output (no ew.c there).
 * That the values are right is what every gradient test of a network checks. */
static void test_gemm_epilogues(void **state) {
    (void)state;
    const char *src = "input x[B, 12]\ninput y[B] : int\nparam W1[12, 16] = he\nparam b1[16]\n"
                      "param W2[16, 4] = xavier\nparam b2[4]\nh = relu(x @ W1 + b1)\n"
                      "loss cross_entropy(h @ W2 + b2, y)\noptimizer sgd(lr = 0.1)\n";
    char *c = compiled_text(src, 1, TEXT_C);
    assert_true(count(c, "= relu, on each finished block of the product") >= 3); /* forward, grad, step */
    /* grad (moved past the weight gradient's GEMM between them) and step */
    assert_true(count(c, "= adjoint mask_mul, on each finished block of the product") >= 2);
    assert_int_equal(count(c, "bprt_sgemm_ew(") + count(c, "bprt_sgemm_ew_sum("),
                     count(c, "on each finished block of the product"));
    /* b1's gradient, the sum over the batch of the relu's derivative's result, made by that
       GEMM too (grad and step), in place of a bprt_sum_axis pass over it */
    assert_true(count(c, "= adjoint sum [16], over each finished block's rows") >= 2);
    assert_int_equal(count(c, "bprt_sgemm_ew_sum("), count(c, "over each finished block's rows"));
    /* the loss and its gradient in one pass (grad, step; not in forward, which has no loss) */
    assert_true(count(c, "= adjoint ce_grad, in the same pass") >= 2);
    assert_int_equal(count(c, "bprt_cross_entropy_grad_f32("), count(c, "in the same pass"));
    free(c);
    /* GELU's derivative after the input gradient's GEMM, with the weight gradient's GEMM
       between them (grad and step): an epilogue, either moved past that GEMM or, when its
       output would take storage that GEMM reads, with the GEMM emitted first. (The plan
       now writes it in place of the input gradient, so it moves past.) */
    char *h = compiled_text("input x[B, 4]\nparam m[4, 5] = normal(1)\nparam m2[5, 3] = normal(1)\n"
                            "param m0[4, 4] = normal(1)\nh = gelu((x @ m0) @ m + 0.1)\nloss sum((h @ m2) ^ 2)\n"
                            "optimizer adam(lr = 0.1)\n", 1, TEXT_C);
    assert_true(count(h, "= adjoint mul, on each finished block of the product") >= 2);
    for (const char *p = strstr(h, "(before the next product)"); p; p = strstr(p + 1, "(before the next product)"))
        assert_non_null(strstr(p, "= adjoint mul, on each finished block of the product"));
    free(h);
    char *sa = compiled_text(src, 1, TEXT_C_STANDALONE);
    assert_int_equal(count(sa, "on each finished block"), 0);
    assert_int_equal(count(sa, "over each finished block's rows"), 0);
    assert_true(count(sa, "= relu [") >= 3);
    free(sa);
}

/* The program's gradient in double (JIT-compiled, B = batch, random parameters and inputs from
 * seed) against finite differences: within 1e-6, relative. */
static void fd_check_ok(const char *src, int batch, uint64_t seed) {
    const int sizes[] = {batch};
    const double err = th_fd_error(src, sizes, seed, 0);
    if (!(err <= 1e-6)) fail_msg("relative error %.3g against finite differences (nan: not compiled)", err);
}

/* A bias broadcast over two leading axes, x[B, 3, 4] @ W + b: its gradient is one sum over
 * the rows of the [3*B, 5] view (not a sum over B, then one over 3), made by the GEMM whose
 * epilogue computes the activation's derivative (grad and step), with P = 1; the values
 * against finite differences in double, through that path. A batch of products keeps its
 * own form (pass_msum folds its sum into the product). */
static void test_bias_sum_over_merged_axes(void **state) {
    (void)state;
    const char *src = "input x[B, 3, 4]\nparam W[4, 5] = normal(1)\nparam b[5] = normal(1)\nparam V[5, 2] = normal(1)\n"
                      "loss sum((gelu(x @ W + b) @ V) ^ 2)\noptimizer sgd(lr = 0.1)\n";
    char *ir = dump_ir(src, 1);
    assert_int_equal(count(ir, "adj reshape"), 1);
    assert_int_equal(count(ir, ": [3*B, 5]"), 1);
    assert_int_equal(count(ir, "adj sum"), 1);
    assert_int_equal(count(ir, "axis=0 : [5]"), 1);
    free(ir);
    char *c = compiled_text(src, 1, TEXT_C);
    assert_true(count(c, "= adjoint sum [5], over each finished block's rows") >= 2);
    assert_true(count(c, ", ((size_t)1));") >= 2); /* P = 1: every row into one sum */
    free(c);
    fd_check_ok(src, 7, 11);
    /* a batch of products summed over two batch axes: still folded into the product */
    char *bt = dump_ir("param h[2, 3, 4, 5]\nparam P[5, 6]\nloss sum((h @ P) ^ 2)\n", 1);
    assert_int_equal(count(bt, "adj reshape"), 0);
    assert_int_equal(count(bt, "adj sum"), 0);
    free(bt);
}

/* gelu(z) and its derivative gelu_grad(z), z = x @ W + b read by nothing else: the derivative
 * moves to right after gelu in each function's graph (pass_pair.c) and both are one
 * bprt_ew_gelu_pair call, one erf per element, the derivative written over z, in NAME_grad
 * and the step (and in --f64 C; --standalone calls vmath.c's bprt_gelu_pair); the backward
 * epilogue reads it and evaluates no erf. Not where z has another reader, is a parameter or a
 * reshape, nor without the IR passes, nor
 * where gelu is made in a product's epilogue or its reader's loop. The
 * gradient against finite differences in double through that call. */
static void test_gelu_pair(void **state) {
    (void)state;
    const char *src = "input x[B, 4]\nparam W[4, 6] = normal(1)\nparam b[6] = normal(1)\nparam V[6, 2] = normal(1)\n"
                      "loss sum((gelu(x @ W + b) @ V) ^ 2)\noptimizer sgd(lr = 0.1)\n";
    char *c = compiled_text(src, 1, TEXT_C);
    assert_int_equal(count(c, "bprt_ew_gelu_pair_f32("), 2); /* NAME_grad, the step (not NAME_hvp: z has more readers) */
    assert_int_equal(count(c, "= adjoint gelu_grad of the same input, in the same pass"), 2);
    assert_int_equal(count(c, "adjoint gelu_grad ["), 0); /* no pass of its own */
    /* each pair writes the derivative over z, the buffer the gradient's epilogue then reads */
    const char *at = strstr(c, "bprt_ew_gelu_pair_f32(t");
    assert_non_null(at);
    char zb[16] = "", yb[16] = "", db[16] = "";
    assert_int_equal(sscanf(at, "bprt_ew_gelu_pair_f32(%15[^,], %15[^,], %15[^,],", zb, yb, db), 3);
    assert_string_equal(zb, db);
    assert_string_not_equal(yb, zb);
    free(c);
    char *d = compiled_text(src, 1, TEXT_C_F64);
    assert_int_equal(count(d, "bprt_ew_gelu_pair_f64("), 2);
    free(d);
    char *o0 = compiled_text(src, 0, TEXT_C), *st = compiled_text(src, 1, TEXT_C_STANDALONE);
    assert_int_equal(count(o0, "gelu_pair_f32("), 0);
    /* --standalone (no ew.c): the embedded vmath.c's bprt_gelu_pair, in NAME_grad and the step */
    assert_int_equal(count(st, "ew_gelu_pair_f32("), 0);
    assert_int_equal(count(st, "    bprt_gelu_pair_f32("), 2);
    assert_int_equal(count(st, "adjoint gelu_grad ["), 0);
    free(o0);
    free(st);
    fd_check_ok(src, 5, 3);
    /* z a parameter (read in place) or a reshape (its input's storage): no pair, which would
       keep the derivative in a buffer of its own */
    const char *leafz[] = {"param E[4, 6] = normal(1)\nparam V[6, 2] = normal(1)\nloss sum((gelu(E) @ V) ^ 2)\n",
                           "input x[B, 4]\nparam W[4, 6] = normal(1)\nparam V[6, 2] = normal(1)\n"
                           "h = reshape(x @ W, [-1, 3, 2])\nloss sum((reshape(gelu(h), [-1, 6]) @ V) ^ 2) + sum(x @ W)\n"};
    for (int k = 0; k < 2; k++) {
        char *cl = compiled_text(leafz[k], 1, TEXT_C);
        assert_int_equal(count(cl, "gelu_pair"), 0);
        free(cl);
        fd_check_ok(leafz[k], 5, 3);
    }
    /* z read by the loss as well: the derivative stays where reverse mode put it */
    const char *other = "input x[B, 4]\nparam W[4, 6] = normal(1)\nparam b[6] = normal(1)\nparam V[6, 2] = normal(1)\n"
                        "z = x @ W + b\nloss sum((gelu(z) @ V) ^ 2) + sum(z * z)\noptimizer sgd(lr = 0.1)\n";
    char *c2 = compiled_text(other, 1, TEXT_C);
    assert_int_equal(count(c2, "bprt_ew_gelu_pair_f32("), 0);
    free(c2);
    fd_check_ok(other, 5, 3);
    /* gelu made in the product's epilogue (no bias), or inside its reader's loop: no pair, and
       the derivative stays inside the input gradient's epilogue (no pass of its own) */
    const char *srcs[] = {"input x[B, 4]\nparam W[4, 6] = normal(1)\nparam V[6, 2] = normal(1)\n"
                          "loss sum((gelu(x @ W) @ V) ^ 2)\n",
                          "input x[B, 4]\nparam W[4, 6] = normal(1)\nparam b[6] = normal(1)\nparam V[6, 2] = normal(1)\n"
                          "loss sum(((gelu(x @ W + b) * 3) @ V) ^ 2)\n"};
    for (int k = 0; k < 2; k++) {
        char *c3 = compiled_text(srcs[k], 1, TEXT_C);
        assert_int_equal(count(c3, "gelu_pair"), 0);
        assert_int_equal(count(c3, "adjoint gelu_grad ["), 0);
        free(c3);
        fd_check_ok(srcs[k], 5, 3);
    }
}

/* Every runtime function the JIT's code declares (EmitOptions.inline_decls: the declarations
 * are one fixed list, whatever the program) is in jit.c's table of addresses handed to libtcc:
 * a host linked without exported symbols finds no other (bprt_ew_gelu_pair was missing). */
static void test_jit_symbols_declared(void **state) {
    (void)state;
    const char *src = "input x[B, 4]\nparam W[4, 6] = normal(1)\nparam b[6] = normal(1)\nparam V[6, 2] = normal(1)\n"
                      "loss sum((gelu(x @ W + b) @ V) ^ 2)\n";
    for (int f64 = 0; f64 < 2; f64++) {
        Arena *a = arena_new();
        Diag d;
        Graph *g = compile_optimized(a, &d, src);
        EmitOptions eo = {.f64 = f64, .inline_decls = 1, .entry_points = 1, .ew_blocks = 1};
        char *c = bpc_emit_string(g, &eo, 0);
        int seen = 0;
        static char declared[256][128];
        for (const char *l = c; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            if (*l == ' ' || *l == '#' || *l == '/') continue; /* declarations start a line */
            const char *p = strstr(l, " bprt_"), *e = strchr(l, '\n');
            if (!p || (e && p > e)) continue;
            char id[128];
            size_t k = 0;
            for (p++; (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) && k + 1 < sizeof id; p++) id[k++] = *p;
            id[k] = 0;
            if (*p != '(') continue;
            assert_true(seen < 256);
            strcpy(declared[seen++], id);
            if (!jit_runtime_symbol_known(id)) fail_msg("%s is declared for the JIT but not in jit.c's table", id);
        }
        /* and every runtime function the code calls is declared (bp_tanh called bprt_tanh_f32
           undeclared: gcc 12 only warns, gcc 14 and clang 16 refuse it under -std=c99) */
        for (const char *p = strstr(c, "bprt_"); p; p = strstr(p + 1, "bprt_")) {
            if (p > c && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                          (p[-1] >= '0' && p[-1] <= '9')))
                continue;
            char id[128];
            size_t k = 0;
            const char *q = p;
            for (; (*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')) && k + 1 < sizeof id; q++) id[k++] = *q;
            id[k] = 0;
            if (*q != '(') continue;
            int found = 0;
            for (int j = 0; j < seen && !found; j++) found = strcmp(declared[j], id) == 0;
            if (!found) fail_msg("%s is called by the JIT's code but not declared in it", id);
        }
        for (const char *p = strstr(c, "BP_V("); p; p = strstr(p + 1, "BP_V(")) { /* bprt_##fn##_f32 / _f64 */
            char id[128];
            const char *q = p + 5;
            size_t k = (size_t)snprintf(id, sizeof id, "bprt_");
            for (; (*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')) && k + 5 < sizeof id; q++) id[k++] = *q;
            if (*q != ')' || k == 5) continue; /* the macro's own definition, BP_V(fn) */
            snprintf(id + k, sizeof id - k, "_%s", f64 ? "f64" : "f32");
            if (strcmp(id, "bprt_fn_f32") == 0 || strcmp(id, "bprt_fn_f64") == 0) continue;
            int found = 0;
            for (int j = 0; j < seen && !found; j++) found = strcmp(declared[j], id) == 0;
            if (!found) fail_msg("%s is called by the JIT's code (through BP_V) but not declared in it", id);
        }
        assert_true(seen > 40);
        assert_non_null(strstr(c, "bprt_ew_gelu_pair_f")); /* this program calls it */
        free(c);
        diag_free(&d);
        arena_free(a);
    }
}

/* layernorm(h, g, b)'s gradient: gy * g, the layer norm's gradient at it, the sums of
 * gy * layernorm(h) and of gy over the rows (g's and b's gradients), and the residual's
 * gradient added to it are one call, bprt_layernorm_affine_grad, in NAME_grad and the step
 * (not in --standalone output); the values against finite differences in double, through
 * that call. */
static void test_layernorm_affine_fused(void **state) {
    (void)state;
    const char *src = "input x[B, 3, 8]\nparam g[8] = normal(1)\nparam b[8] = normal(1)\nparam W[8, 2] = normal(1)\n"
                      "param V[8, 8] = normal(1)\nparam U[8, 8] = normal(1)\nh = x @ V\nz = h + layernorm(h, g, b) @ U\n"
                      "loss sum((z @ W) ^ 2)\noptimizer sgd(lr = 0.1)\n";
    char *c = compiled_text(src, 1, TEXT_C);
    assert_true(count(c, "bprt_layernorm_affine_grad_f32(") >= 2);
    assert_int_equal(count(c, "bprt_layernorm_grad_f32("), 0);
    assert_true(count(c, "= the sum of gy * xhat, %") >= 2);
    /* and the residual's gradient added to the layer norm's, in the same call */
    assert_true(count(c, "= another gradient plus it, in one pass") >= 2);
    /* the layer norm's result is not kept for the backward pass (marked for recomputation,
       pass_remat), and that recomputation is the fused call's own, not a node emitted */
    assert_int_equal(count(c, "= adjoint layernorm ["), 0);
    free(c);
    char *ir = dump_ir(src, 1);
    assert_int_equal(count(ir, "adj recompute layernorm"), 1);
    free(ir);
    char *st = compiled_text(src, 1, TEXT_C_STANDALONE);
    assert_int_equal(count(st, "bprt_layernorm_affine_grad_f32("), 0);
    assert_true(count(st, "bprt_layernorm_grad_f32(") >= 2);
    free(st);
    fd_check_ok(src, 5, 3);
    /* a layer norm of a vector: gamma's gradient is the product itself (a root, read by no
       node), so there is no group to find; compiled and right all the same */
    fd_check_ok("param v[8] = normal(1)\nparam g[8] = normal(1)\nparam b[8] = normal(1)\n"
                "loss sum(layernorm(v, g, b) ^ 2)\n", 1, 5);
}

/* Elementwise loops of the gcc / clang path (not standalone): inline, or where the runtime
 * splits their elements (or rows, under a broadcast) between threads, bprt_ew / bprt_ew_rows_par
 * (bprt_ew_threads decides at run time). Built by the cc JIT: the gradient and a step have the
 * same bits on 1 and 2 threads (64 Ki elements: both ways are taken). */
static void test_elementwise_threads(void **state) {
    (void)state;
    const char *src = "input x[B, 512]\ninput u[B, 512]\nparam w[512] = normal(1)\nparam c[512] = normal(1)\n"
                      "h = x * w + u\nloss mean(h * h * c + u * h)\noptimizer sgd(lr = 0.1)\n";
    char *c = compiled_text(src, 1, TEXT_C);
    assert_true(count(c, "if (bprt_ew_threads(") >= 2);
    assert_true(count(c, "bprt_ew_rows_par_f32(") >= 1);
    assert_int_equal(count(c, "if (bprt_ew_threads("), count(c, "    } else"));
    free(c);
    c = compiled_text(src, 1, TEXT_C_STANDALONE);
    assert_int_equal(count(c, "if (bprt_ew_threads("), 0);
    free(c);
    int sizes[] = {128};
    TestModel t;
    Model cc;
    build_tcc_and_cc(&t, &cc, src, sizes, 7);
    const size_t np = (size_t)t.g->nparam_reals;
    float *p = malloc(np * sizeof *p), *g[2], *q[2];
    void *ws = malloc(cc.ws_size(t.dims)), *opt = calloc(1, cc.opt_size() + 1);
    cc.init(p, 3);
    const int threads = bprt_threads();
    double l[2];
    for (int k = 0; k < 2; k++) {
        bprt_set_threads(k + 1);
        g[k] = malloc(np * sizeof *g[k]);
        q[k] = malloc(np * sizeof *q[k]);
        l[k] = cc.grad(p, g[k], (const void *const *)t.inputs, t.dims, ws);
        memcpy(q[k], p, np * sizeof *p);
        memset(opt, 0, cc.opt_size() + 1);
        cc.train_step(q[k], opt, (const void *const *)t.inputs, t.dims, 0.1, ws);
    }
    bprt_set_threads(threads);
    assert_true(l[0] == l[1]);
    assert_memory_equal(g[0], g[1], np * sizeof *p);
    assert_memory_equal(q[0], q[1], np * sizeof *p);
    for (int k = 0; k < 2; k++) free(g[k]), free(q[k]);
    free(p), free(ws), free(opt);
    bpc_model_free(&cc);
    th_free(&t);
}

/* Two convolutions with scratch buffers of their own, a residual add and a pooling, for the plan tests */
#define CONV_PROGRAM                                                                                 \
    "input x[B, 2, 8, 8]\ninput y[B] : int\nparam K[4, 2, 3, 3] = he\nparam K2[4, 4, 3, 3] = he\n"   \
    "param W[64, 3] = xavier\nh = relu(conv2d(x, K, padding = 1))\n"                                 \
    "g = maxpool2d(relu(conv2d(h, K2, padding = 1)) + h, 2)\n"                                       \
    "loss cross_entropy(reshape(g, [B, 64]) @ W, y)\n"

/* Random roots (one node in 5, and the loss) and pinned nodes (a third of the roots that are
 * not leaves) drawn from *rng, and the fusion plan for them in fuse_user */
static void random_roots(const Graph *g, uint64_t *rng, char *roots, char *pinned, int *fuse_user) {
    for (int i = 0; i < g->n; i++) {
        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
        roots[i] = *rng % 5 == 0;
        pinned[i] = roots[i] && *rng % 3 == 0 && op_info[g->nodes[i].op].kind != OK_LEAF;
    }
    if (g->loss >= 0) roots[g->loss] = 1;
    fuse_plan(g, roots, pinned, fuse_user);
}

/* plan_make_sized (the per-node sizes worked out once by plan_sizes, for mark_fused's plan per
 * parameter) against plan_make (sizes worked out anew for each plan): the same buffers, one
 * PlanSizes serving 40 plans, on programs with convolutions' scratch buffers (a size class of
 * their own text), attention chains, shared weights, at random roots and pinned nodes. */
static void test_plan_sized_equals_plan(void **state) {
    (void)state;
    const char *srcs[] = {
        CONV_PROGRAM,
        ATTENTION_PROGRAM,
        "input x[B, 4]\nparam W[4, 4] = xavier\nparam U[4, 8] = xavier\nparam b[8]\n"
        "h1 = tanh(x @ W)\nh2 = tanh(h1 @ W) * h1\nh3 = sigmoid(h2 @ U + b)\noutput h2\nloss sum(h3 * h3)\n",
    };
    uint64_t rng = 12345;
    for (size_t k = 0; k < sizeof srcs / sizeof *srcs; k++) {
        Arena *a = arena_new();
        Diag d;
        Graph *g = compile_optimized(a, &d, srcs[k]);
        const PlanSizes *ps = plan_sizes(g);
        char *roots = arena_alloc(a, (size_t)g->n + 1), *pinned = arena_alloc(a, (size_t)g->n + 1);
        int *fuse_user = arena_alloc(a, ((size_t)g->n + 1) * sizeof(int));
        for (int trial = 0; trial < 40; trial++) {
            random_roots(g, &rng, roots, pinned, fuse_user);
            const Plan *want = plan_make(g, pinned, roots, fuse_user);
            const Plan *got = plan_make_sized(g, pinned, roots, fuse_user, ps, NULL, 1);
            assert_int_equal(got->nbufs, want->nbufs);
            for (int i = 0; i < g->n; i++) {
                assert_int_equal(got->buf[i], want->buf[i]);
                assert_int_equal(got->scratch[i], want->scratch[i]);
            }
            for (int b = 0; b < want->nbufs; b++) {
                assert_string_equal(got->buf_size[b], want->buf_size[b]);
                assert_true(got->buf_const[b] == want->buf_const[b]);
            }
        }
        diag_free(&d);
        arena_free(a);
    }
}

/* The elements of node i's value with symbolic size k at d + k * step */
static int64_t value_numel(const Graph *g, int i, int64_t d, int64_t step) {
    const Shape *s = &g->nodes[i].shape;
    int64_t n = 1;
    for (int k = 0; k < s->rank; k++) n *= s->d[k].c * (s->d[k].sym >= 0 ? d + s->d[k].sym * step : 1);
    return n;
}

/* plan.c's merging of buffers of different sizes (plan_make) against the plan without it
 * (plan_make_sized's merge 0), at random roots and pinned nodes: it only joins whole buffers;
 * two it joins are never in use at one node (each value in use from its node to its last
 * reader's, or to the end if a root; a convolution's scratch at its node), worked out here
 * from the graph; a joined buffer is as large as each value it holds at sizes 0, 1, 64, and
 * 1, 4, 7, ... in the order of the symbols (a program of five symbols: a buffer of [2, F, H]
 * held values of [A, D, E, F, 2, H], when the table of monomials kept its keys in a buffer
 * on the stack that the next key overwrote); and the plan has no more bytes. */
static void test_plan_merge_safe(void **state) {
    (void)state;
    const char *srcs[] = {
        CONV_PROGRAM,
        ATTENTION_PROGRAM,
        "input x[B, 256]\ninput y[B, 64]\nparam W1[256, 1024] = xavier\nparam W2[1024, 64] = xavier\n"
        "param W3[64, 16] = xavier\nh = tanh(x @ W1)\nt = tanh(h @ W2)\nu = sigmoid(t @ W3)\n"
        "loss mse(t, y) + sum(u * u) + sum(h)\n",
        "input x[B, T, 8]\nparam E[8, 24] = xavier\nparam F[24, 8] = xavier\nh = tanh(x @ E)\n"
        "k = relu(h @ F) + x\ns = softmax(k @ k.T)\nloss sum(s @ k) + sum(h * h)\n",
        "input x[A, B, 2, D, E, F, 2, H]\ninput y[E, 1, 2, H]\nparam w[2]\nparam v\n"
        "a = x * y * v + mean(x, axis = 3, keepdims = 1)\n"
        "s = softmax(a, axis = 2) + log_softmax(a) + max(a, axis = [1, 2], keepdims = 1)\n"
        "c = concat(s, a * v, axis = 7)\nr = reshape(sum(c, axis = 6), [A, B, 2, D, E, F, -1, 2]) * w\n"
        "m = r.T @ r\nloss mean(m) + mean(layernorm(a, 1, 0) * v) + mean(sum(r, axis = 6))\n",
    };
    uint64_t rng = 777;
    int merged_any = 0;
    for (size_t k = 0; k < sizeof srcs / sizeof *srcs; k++) {
        Arena *a = arena_new();
        Diag d;
        Graph *g = compile_optimized(a, &d, srcs[k]);
        char *roots = arena_alloc(a, (size_t)g->n + 1), *pinned = arena_alloc(a, (size_t)g->n + 1);
        int *fuse_user = arena_alloc(a, ((size_t)g->n + 1) * sizeof(int));
        int *from = arena_alloc(a, ((size_t)g->n + 1) * sizeof(int)), *to = arena_alloc(a, ((size_t)g->n + 1) * sizeof(int));
        for (int trial = 0; trial < 40; trial++) {
            random_roots(g, &rng, roots, pinned, fuse_user);
            const Plan *one = plan_make_sized(g, pinned, roots, fuse_user, NULL, NULL, 0);
            const Plan *mp = plan_make(g, pinned, roots, fuse_user);
            /* where each node is computed, and its value's span */
            for (int i = 0; i < g->n; i++) {
                int at = i;
                while (fuse_user[at] >= 0) at = fuse_user[at];
                from[i] = at, to[i] = roots[i] ? g->n : at;
            }
            for (int i = 0; i < g->n; i++)
                for (int j = 0; j < op_info[g->nodes[i].op].arity; j++)
                    if (to[g->nodes[i].in[j]] < from[i]) to[g->nodes[i].in[j]] = from[i];
            for (int i = 0; i < g->n; i++) { /* a reshape's input lives while the reshape does */
                if (g->nodes[i].op == OP_RESHAPE && one->buf[i] >= 0 && one->buf[i] == one->buf[g->nodes[i].in[0]] &&
                    to[g->nodes[i].in[0]] < to[i])
                    to[g->nodes[i].in[0]] = to[i];
            }
            for (int i = 0; i < g->n; i++)
                for (int kind = 0; kind < 2; kind++) {
                    const int bi = kind ? one->scratch[i] : one->buf[i], mi = kind ? mp->scratch[i] : mp->buf[i];
                    assert_true((bi < 0) == (mi < 0));
                    if (bi < 0) continue;
                    const int64_t at[][2] = {{0, 0}, {1, 0}, {64, 0}, {1, 3}};
                    for (size_t z = 0; z < sizeof at / sizeof *at; z++) {
                        const int r = mp->buf_node[mi];
                        int64_t need = kind ? (int64_t)one->buf_const[bi] : value_numel(g, i, at[z][0], at[z][1]), has;
                        if (mp->buf_kind[mi] == PLAN_SCRATCH) has = mp->buf_const[mi];
                        else if (mp->buf_kind[mi] == PLAN_VALUE) has = value_numel(g, r, at[z][0], at[z][1]);
                        else continue; /* no product scratch without product_temp */
                        assert_true(has >= need);
                    }
                    for (int j = 0; j < g->n; j++)
                        for (int kj = 0; kj < 2; kj++) {
                            const int bj = kj ? one->scratch[j] : one->buf[j], mj = kj ? mp->scratch[j] : mp->buf[j];
                            if (bj < 0) continue;
                            if (bi == bj) assert_int_equal(mi, mj); /* whole buffers only */
                            if (bi == bj || mi != mj) continue;
                            merged_any = 1;
                            const int fi = kind ? i : from[i], ti = kind ? i : to[i];
                            const int fj = kj ? j : from[j], tj = kj ? j : to[j];
                            assert_true(ti < fj || tj < fi); /* joined: never in use together */
                        }
                }
            int64_t b1 = 0, b2 = 0; /* bytes at sizes 64 */
            for (int kind = 0; kind < 2; kind++) {
                const Plan *pl = kind ? mp : one;
                for (int b = 0; b < pl->nbufs; b++) {
                    const int64_t n = pl->buf_kind[b] == PLAN_SCRATCH ? pl->buf_const[b] : value_numel(g, pl->buf_node[b], 64, 0);
                    *(kind ? &b2 : &b1) += (n * 4 + 63) / 64 * 64;
                }
            }
            assert_true(b2 <= b1);
            assert_true(mp->nbufs <= one->nbufs);
        }
        diag_free(&d);
        arena_free(a);
    }
    assert_true(merged_any);
}

/* emit_c's memo of the fused step's GEMMs (Graph.step_memo) is worked out anew when the graph
 * changes in place: here W's gradient GEMM comes to read the parameter V instead of the input
 * x (a parameter operand is never fused: the update would write it before the GEMM reads it),
 * which leaves the node count, the graph's and its step variant's, as it was. The memo kept
 * W's fused update (its guard compared node counts only): the C differed from that of the
 * same graph emitted afresh, which has no NAME_step_ at all. */
static char *emitted(Graph *g) {
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    EmitOptions eo = {0};
    emit_c_source(f, g, &eo);
    fclose(f);
    return txt;
}

/* W's gradient GEMM (param 0) reads parameter V (param 1) where it read input x */
static void gemm_reads_v(Graph *g) {
    int v = -1;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_PARAM && g->nodes[i].ival == 1) v = i;
    Node *mm = &g->nodes[g->grads[0]];
    assert_int_equal(mm->op, OP_MATMUL);
    int k = g->nodes[mm->in[0]].op == OP_INPUT ? 0 : 1;
    assert_int_equal(g->nodes[mm->in[k]].op, OP_INPUT);
    assert_true(v >= 0);
    mm->in[k] = v;
}

static void test_step_memo_follows_the_graph(void **state) {
    (void)state;
    const char *src = "input x[4, 4]\nparam W[4, 4] = xavier\nparam V[4, 4] = xavier\n"
                      "loss sum(tanh(x @ W) * V)\noptimizer sgd(lr = 0.1)\n";
    Graph *g[2];
    Arena *a[2];
    Diag d;
    diag_init(&d, stderr);
    const char *name = diag_add_source(&d, "s.bp", src);
    for (int k = 0; k < 2; k++) {
        a[k] = arena_new();
        CompileOptions co = {.optimize = 1};
        g[k] = bpc_compile(a[k], &d, name, src, &co);
        assert_non_null(g[k]);
    }
    char *before = emitted(g[0]);
    assert_non_null(strstr(before, "s_step_("));
    const int n = g[0]->n;
    gemm_reads_v(g[0]);
    gemm_reads_v(g[1]);
    g[1]->step_memo = NULL; /* emitted afresh (bpc_compile's workspace check asked already) */
    assert_int_equal(g[0]->n, n);
    char *after = emitted(g[0]), *fresh = emitted(g[1]);
    assert_null(strstr(fresh, "s_step_("));
    assert_string_equal(after, fresh);
    free(before), free(after), free(fresh);
    for (int k = 0; k < 2; k++) arena_free(a[k]);
    diag_free(&d);
}

/* A variant rebuilt from a graph (here one whose only root is V) keeps the graph's own
 * parameter and input nodes: the tables were shared, and the rebuild pointed them at the
 * variant's ids (V at 0, W at none). */
static void test_variant_keeps_the_graphs_leaves(void **state) {
    (void)state;
    const char *src = "input x[4, 4]\nparam W[4, 4] = xavier\nparam V[4, 4] = xavier\nloss sum(tanh(x @ W) * V)\n";
    Arena *a = arena_new();
    Diag d;
    diag_init(&d, stderr);
    CompileOptions co = {.optimize = 1};
    Graph *g = bpc_compile(a, &d, diag_add_source(&d, "l.bp", src), src, &co);
    assert_non_null(g);
    int before[2], x = g->inputs[0].node;
    for (int i = 0; i < 2; i++) {
        before[i] = g->params[i].node;
        assert_true(before[i] >= 0 && g->nodes[before[i]].op == OP_PARAM && g->nodes[before[i]].ival == i);
    }
    int root = before[1];
    Graph only_v = *g;
    only_v.loss = -1, only_v.grads = NULL, only_v.hvps = NULL, only_v.noutputs = 1, only_v.outputs = &root;
    only_v.step_memo = NULL;
    Graph *v = ir_rebuild(&only_v, 0, 0);
    assert_int_equal(v->n, 1);
    assert_int_equal(v->params[1].node, 0);
    assert_int_equal(v->params[0].node, -1);
    for (int i = 0; i < 2; i++) assert_int_equal(g->params[i].node, before[i]);
    assert_int_equal(g->inputs[0].node, x);
    arena_free(a);
    diag_free(&d);
}

/* A product whose folded M (batch rows stacked) or K (summed batch axes) passes INT32_MAX in
 * its numbers runs one matrix at a time: the 2.5e9 rows of x[50000, 50000, 1] @ w were cast to
 * GEMM's int M, a negative one, and the product computed nothing. 500 x 500 rows still fold. */
static void test_fold_fits_int(void **state) {
    (void)state;
    setenv("BPC_MEMORY_LIMIT", "1T", 1); /* the sizes alone: no machine's memory decides */
    char *big = compiled_text("input x[50000, 50000, 1]\nparam w[1, 1]\nloss mean(x @ w)\n", 1, TEXT_C);
    char *small = compiled_text("input x[500, 500, 1]\nparam w[1, 1]\nloss mean(x @ w)\n", 1, TEXT_C);
    unsetenv("BPC_MEMORY_LIMIT");
    assert_null(strstr(big, "(int)((size_t)1*(size_t)50000*(size_t)50000)"));     /* M */
    assert_null(strstr(big, "(int)(((size_t)1*(size_t)50000)*(size_t)50000)"));   /* K of w's gradient */
    assert_non_null(strstr(big, "bprt_sgemm_batch("));
    assert_non_null(strstr(small, "(int)((size_t)1*(size_t)500*(size_t)500)"));
    assert_non_null(strstr(small, "(int)(((size_t)1*(size_t)500)*(size_t)500)"));
    free(big);
    free(small);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example),
        cmocka_unit_test(test_sgd_step_seed),
        cmocka_unit_test(test_difference_of_squares),
        cmocka_unit_test(test_product_plus_sine),
        cmocka_unit_test(test_two_layer_network_by_hand),
        cmocka_unit_test(test_bce_saturated_by_hand),
        cmocka_unit_test(test_masks_stop_infinite_gradients),
        cmocka_unit_test(test_zeroth_power_gradient_unoptimised),
        cmocka_unit_test(test_loss_target_broadcasts_into_prediction),
        cmocka_unit_test(test_tcc_and_cc_agree),
        cmocka_unit_test(test_dropout_api),
        cmocka_unit_test(test_cse_merges),
        cmocka_unit_test(test_shared_calls_differentiated_once),
        cmocka_unit_test(test_layernorm_group_operands),
        cmocka_unit_test(test_he_on_a_batch_of_matrices),
        cmocka_unit_test(test_no_gradient_for_inputs),
        cmocka_unit_test(test_softmax_cross_entropy_fused),
        cmocka_unit_test(test_softmax_grad_fused),
        cmocka_unit_test(test_readers_agree_with_a_scan),
        cmocka_unit_test(test_many_attention_blocks),
        cmocka_unit_test(test_fused_updates_in_runs),
        cmocka_unit_test(test_attention_calls),
        cmocka_unit_test(test_written_over_dying_inputs),
        cmocka_unit_test(test_standalone_product_scratch),
        cmocka_unit_test(test_standalone_renames_per_model),
        cmocka_unit_test(test_symbolic_zero_times_infinite_constant),
        cmocka_unit_test(test_zero_times_infinite_derivative_every_level),
        cmocka_unit_test(test_algebraic_simplification),
        cmocka_unit_test(test_folding_matches_generated_code),
        cmocka_unit_test(test_transpose_folded_into_matmul),
        cmocka_unit_test(test_batch_sums_folded_into_matmul),
        cmocka_unit_test(test_gemm_epilogues),
        cmocka_unit_test(test_bias_sum_over_merged_axes),
        cmocka_unit_test(test_gelu_pair),
        cmocka_unit_test(test_jit_symbols_declared),
        cmocka_unit_test(test_layernorm_affine_fused),
        cmocka_unit_test(test_step_memo_follows_the_graph),
        cmocka_unit_test(test_variant_keeps_the_graphs_leaves),
        cmocka_unit_test(test_layer_epilogues),
        cmocka_unit_test(test_conv_bias_with_grad_w),
        cmocka_unit_test(test_elementwise_threads),
        cmocka_unit_test(test_plan_sized_equals_plan),
        cmocka_unit_test(test_plan_merge_safe),
        cmocka_unit_test(test_fold_fits_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
