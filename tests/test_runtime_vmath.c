/* test_runtime_vmath.c — vmath.c's exp, erf and tanh against libm's double functions, and its
 * softmax / cross-entropy row kernels against sums written here in double.
 *
 * Checks: the error of bprt_exp_f32 / bprt_erf_f32 in ulps of the true value over every
 * 127th float of [-110, 90] (exp: overflow, subnormal results and underflow to 0 included)
 * and every 101st of [-6, 6] (erf); the special values; that an array and the same values
 * one at a time give the same bits (the vectorised loop and its scalar remainder); the f64
 * versions equal libm's; softmax rows sum to 1 and match the formula, -inf entries give 0;
 * log_softmax, the mean cross-entropy (NaN for a label outside the row) and its gradient
 * match the formula in double; both in one pass give the same bits as the two calls; the
 * row maximum is found wherever it sits in the row; GELU and its derivative (test_gelu). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bprt.h"

/* |got - want| in units of the float ulp at want (subnormal spacing below FLT_MIN) */
static double ulps(float got, double want) {
    double a = fabs(want);
    double ulp = a < 1.17549435082228751e-38 ? ldexp(1, -149) : ldexp(1, ilogb(a) - 23);
    return fabs((double)got - want) / ulp;
}

static double max_error(void (*f)(const float *, float *, size_t), double (*ref)(double), float lo, float hi,
                        int stride, float *worst) {
    enum { NB = 4096 };
    static float x[NB], y[NB];
    double maxu = 0;
    uint32_t u;
    float v = lo;
    while (v < hi) {
        size_t n = 0;
        for (; n < NB && v < hi; n++) {
            x[n] = v;
            memcpy(&u, &v, sizeof u);
            if (!(v < 0)) u += (uint32_t)stride; /* the stride-th next float up (through 0) */
            else if ((u & 0x7fffffffu) > (uint32_t)stride) u -= (uint32_t)stride;
            else u = 0;
            memcpy(&v, &u, sizeof v);
        }
        f(x, y, n);
        for (size_t i = 0; i < n; i++) {
            double want = ref((double)x[i]), e;
            if (want > 3.4028234663852886e38) e = isinf(y[i]) ? 0 : 1e30; /* rounds to +inf */
            else e = ulps(y[i], want);
            if (e > maxu) maxu = e, *worst = x[i];
        }
    }
    return maxu;
}

static void test_exp_accuracy(void **state) {
    (void)state;
    float worst = 0;
    double e = max_error(bprt_exp_f32, exp, -110.0f, 90.0f, 127, &worst);
    if (e > 2.0) fail_msg("bprt_exp_f32: %.3f ulp at %.9g", e, (double)worst);
}

static void test_erf_accuracy(void **state) {
    (void)state;
    float worst = 0;
    double e = max_error(bprt_erf_f32, erf, -6.0f, 6.0f, 101, &worst);
    if (e > 2.0) fail_msg("bprt_erf_f32: %.3f ulp at %.9g", e, (double)worst);
}

static void test_tanh_accuracy(void **state) {
    (void)state;
    float worst = 0;
    double e = max_error(bprt_tanh_f32, tanh, -12.0f, 12.0f, 67, &worst);
    if (e > 2.0) fail_msg("bprt_tanh_f32: %.3f ulp at %.9g", e, (double)worst);
    /* every float of the polynomial's end and the exponential's start, both sides */
    e = max_error(bprt_tanh_f32, tanh, -0.76f, -0.74f, 1, &worst);
    if (e > 2.0) fail_msg("bprt_tanh_f32: %.3f ulp at %.9g", e, (double)worst);
    e = max_error(bprt_tanh_f32, tanh, 0.74f, 0.76f, 1, &worst);
    if (e > 2.0) fail_msg("bprt_tanh_f32: %.3f ulp at %.9g", e, (double)worst);
}

static void test_special_values(void **state) {
    (void)state;
    const float x[] = {-INFINITY, INFINITY, NAN, 0.0f, -0.0f, 88.72283172607421875f, 88.72283935546875f,
                       -103.0f, -104.0f, 1.0f};
    float y[10], z[10];
    bprt_exp_f32(x, y, 10);
    assert_true(y[0] == 0 && !signbit(y[0]));
    assert_true(isinf(y[1]) && y[1] > 0);
    assert_true(isnan(y[2]));
    assert_true(y[3] == 1 && y[4] == 1);
    assert_true(isfinite(y[5]) && y[5] > 3.4e38f); /* the largest x with a finite exp */
    assert_true(isinf(y[6]));                      /* the next float overflows */
    assert_true(y[7] > 0 && y[7] < 1.17549435e-38f); /* subnormal */
    assert_true(y[8] == 0);
    assert_true(ulps(y[9], exp(1.0)) <= 1);
    bprt_erf_f32(x, z, 10);
    assert_true(z[0] == -1 && z[1] == 1);
    assert_true(isnan(z[2]));
    assert_true(z[3] == 0 && !signbit(z[3]) && z[4] == 0 && signbit(z[4]));
    assert_true(z[5] == 1 && z[7] == -1);
    bprt_tanh_f32(x, z, 10);
    assert_true(z[0] == -1 && z[1] == 1);
    assert_true(isnan(z[2]));
    assert_true(z[3] == 0 && !signbit(z[3]) && z[4] == 0 && signbit(z[4]));
    assert_true(z[5] == 1 && z[7] == -1);
    assert_true(ulps(z[9], tanh(1.0)) <= 1);
    const float t[] = {1e-30f, -1e-40f, 9.1f, -9.1f, 44.5f, 1e30f, 0.75f, -0.75f};
    float tz[8];
    bprt_tanh_f32(t, tz, 8);
    assert_true(tz[0] == 1e-30f && tz[1] == -1e-40f); /* tanh x = x below half an ulp's reach */
    assert_true(tz[2] == 1 && tz[3] == -1 && tz[4] == 1 && tz[5] == 1);
    assert_true(ulps(tz[6], tanh(0.75)) <= 2 && tz[7] == -tz[6]);
    double td[6] = {-INFINITY, -3, -0.0, 0.4, 20, NAN}, tdy[6];
    bprt_tanh_f64(td, tdy, 6);
    for (int i = 0; i < 5; i++) assert_true(tdy[i] == tanh(td[i]) && signbit(tdy[i]) == signbit(td[i]));
    assert_true(isnan(tdy[5]));
}

/* The vectorised body and the scalar remainder compute the same bits. */
static void test_array_equals_elements(void **state) {
    (void)state;
    enum { N = 1000 };
    float x[N], y[N], e[N], one;
    for (int i = 0; i < N; i++) x[i] = (float)((i * 7919 % N) - N / 2) * 0.0173f;
    for (int k = 0; k < 3; k++) {
        void (*f)(const float *, float *, size_t) = k == 2 ? bprt_tanh_f32 : k ? bprt_erf_f32 : bprt_exp_f32;
        f(x, y, N);
        for (int i = 0; i < N; i++) {
            f(x + i, &one, 1);
            e[i] = one;
        }
        assert_memory_equal(y, e, sizeof y);
        memcpy(e, x, sizeof x);
        f(e, e, N); /* in place */
        assert_memory_equal(y, e, sizeof y);
    }
    double xd[5] = {-3, -0.5, 0, 0.7, 20}, yd[5];
    bprt_exp_f64(xd, yd, 5);
    for (int i = 0; i < 5; i++) assert_true(yd[i] == exp(xd[i]));
    bprt_erf_f64(xd, yd, 5);
    for (int i = 0; i < 5; i++) assert_true(yd[i] == erf(xd[i]));
}

/* GELU and its derivative (bprt_gelu_f32 / bprt_gelu_grad_f32, what bprt_ew and the
 * generated bp_gelu / bp_gelu_deriv call) against the formulas in double, at 4096 points
 * of [-12, 12] and around 0, with the plain kernel and (where the CPU has it) the AVX-512 one:
 * within 4 ulp of the true value plus 2.5e-7 (float's erf near -1, 1 + erf cancels: gelu
 * of -6 is -6e-9, which float rounds to 0); an array and its elements one at a time, and
 * in place, the same bits; the f64 versions the formulas with libm. */
static double gelu_d(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double gelu_grad_d(double x) { return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * 3.14159265358979323846); }
static void test_gelu(void **state) {
    (void)state;
    enum { N = 4096 };
    static float x[N], y[N], e[N];
    const char *isa = bprt_isa(), *isas[] = {"generic", "avx512"};
    const size_t n = N;
    for (size_t i = 0; i < n; i++) x[i] = (float)(-12.0 + 24.0 * (double)i / (double)(n - 1)) * 1.0001f;
    x[7] = 1e-30f, x[8] = -1e-30f, x[9] = 0.0f, x[10] = -0.0f, x[11] = 5.656854f, x[12] = -5.656854f;
    int ran = 0;
    for (int k = 0; k < 2; k++) {
        if (bprt_set_isa(isas[k]) != 0) continue;
        ran++;
        for (int g = 0; g < 2; g++) {
            void (*f)(const float *, float *, size_t) = g ? bprt_gelu_grad_f32 : bprt_gelu_f32;
            double (*ref)(double) = g ? gelu_grad_d : gelu_d;
            f(x, y, n);
            for (size_t i = 0; i < n; i++) {
                const double want = ref((double)x[i]), a = fabs(want);
                const double ulp = a < 1.17549435082228751e-38 ? ldexp(1, -149) : ldexp(1, ilogb(a) - 23);
                if (!(fabs((double)y[i] - want) <= 4 * ulp + 2.5e-7))
                    fail_msg("%s (%s): %.9g at %.9g, want %.9g", g ? "gelu_grad" : "gelu", isas[k], (double)y[i],
                             (double)x[i], want);
            }
            for (size_t i = 0; i < 200; i++) f(x + 7 * i, &e[i], 1);
            for (size_t i = 0; i < 200; i++)
                if (memcmp(&e[i], &y[7 * i], sizeof e[i]) != 0) fail_msg("%s (%s): one element differs", g ? "gelu_grad" : "gelu", isas[k]);
            memcpy(e, x, n * sizeof x[0]);
            f(e, e, n); /* in place */
            assert_memory_equal(e, y, n * sizeof y[0]);
        }
        float sp[4] = {NAN, INFINITY, 0.0f, 1.0f}, sy[4];
        bprt_gelu_f32(sp, sy, 4);
        assert_true(isnan(sy[0]) && isinf(sy[1]) && sy[1] > 0 && sy[2] == 0 && ulps(sy[3], gelu_d(1)) <= 2);
        bprt_gelu_grad_f32(sp, sy, 4);
        assert_true(isnan(sy[0]) && sy[2] == 0.5f && ulps(sy[3], gelu_grad_d(1)) <= 4);
    }
    assert_true(ran >= 1);
    bprt_set_isa(isa);
    double xd[5] = {-7, -0.5, 0, 0.7, 3}, yd[5];
    bprt_gelu_f64(xd, yd, 5);
    for (int i = 0; i < 5; i++) assert_true(fabs(yd[i] - gelu_d(xd[i])) <= 4e-16 * (fabs(xd[i]) + 1e-300));
    bprt_gelu_grad_f64(xd, yd, 5);
    for (int i = 0; i < 5; i++) assert_true(fabs(yd[i] - gelu_grad_d(xd[i])) <= 4e-16);
}

/* GELU and its derivative from one erf (bprt_gelu_pair, what the generated code calls for
 * gelu(z) and the gelu_grad(z) pass_pair.c puts beside it): the same bits as bprt_gelu and
 * bprt_gelu_grad, with the plain kernel and the AVX-512 one, over a length that is no multiple
 * of 16, with the derivative written over x, with NaN, infinities, zeros and |x| beyond erf's
 * clamp (a NaN is a NaN: its sign is the compiler's choice); bprt_ew_gelu_pair the same on 1, 2 and 3 threads over enough elements to split; the
 * f64 versions the same bits as theirs. */
static int same_f32(const float *a, const float *b, size_t n) { /* the same bits, or both NaN */
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0 && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}
static int same_f64(const double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0 && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}
static void test_gelu_pair(void **state) {
    (void)state;
    enum { N = 70001 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *d = malloc(N * sizeof *d),
          *y2 = malloc(N * sizeof *y2), *d2 = malloc(N * sizeof *d2);
    assert_non_null(x && y && d && y2 && d2);
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 14.0 - 7.0) * (i % 5 == 0 ? 0.3f : 1.0f);
    }
    x[3] = NAN, x[4] = INFINITY, x[5] = -INFINITY, x[6] = 0.0f, x[7] = -0.0f, x[8] = 9.5f, x[9] = -9.5f;
    const char *isa = bprt_isa(), *isas[] = {"generic", "avx512"};
    const int threads = bprt_threads();
    int ran = 0;
    for (int k = 0; k < 2; k++) {
        if (bprt_set_isa(isas[k]) != 0) continue;
        ran++;
        bprt_gelu_f32(x, y, N);
        bprt_gelu_grad_f32(x, d, N);
        bprt_gelu_pair_f32(x, y2, d2, N);
        if (!same_f32(y, y2, N) || !same_f32(d, d2, N)) fail_msg("pair (%s): other bits", isas[k]);
        for (int nt = 1; nt <= 3; nt++) {
            bprt_set_threads(nt);
            memcpy(d2, x, N * sizeof *x);
            memset(y2, 0, N * sizeof *y2);
            bprt_ew_gelu_pair_f32(d2, y2, d2, N); /* the derivative over x */
            if (!same_f32(y, y2, N) || !same_f32(d, d2, N))
                fail_msg("ew pair (%s, %d threads, in place): other bits", isas[k], nt);
        }
        bprt_set_threads(threads);
        for (int n = 1; n <= 33; n += 4) { /* short tails */
            memset(y2, 0, 40 * sizeof *y2);
            bprt_gelu_pair_f32(x + 1, y2, d2, (size_t)n);
            if (!same_f32(y + 1, y2, (size_t)n) || !same_f32(d + 1, d2, (size_t)n) || y2[n] != 0)
                fail_msg("pair (%s) of %d: other bits", isas[k], n);
        }
    }
    assert_true(ran >= 1);
    bprt_set_isa(isa);
    double xd[7] = {-9, -0.5, 0, 0.7, 3, NAN, INFINITY}, yd[7], dd[7], yp[7], dp[7];
    bprt_gelu_f64(xd, yd, 7);
    bprt_gelu_grad_f64(xd, dd, 7);
    for (int nt = 1; nt <= 2; nt++) {
        bprt_set_threads(nt);
        bprt_ew_gelu_pair_f64(xd, yp, dp, 7);
        assert_true(same_f64(yp, yd, 7) && same_f64(dp, dd, 7));
    }
    bprt_set_threads(threads);
    free(x), free(y), free(d), free(y2), free(d2);
}

/* Logits near 1e4 in float: log_softmax is (x - m) - log s, accurate to float's precision of
 * the result (x - (m + log s) rounded m + log s at 1e4's ulp: 3e-4 of the result was lost) */
static void test_log_softmax_large_logits(void **state) {
    (void)state;
    enum { R = 3, N = 40 };
    float x[R * N], l[R * N];
    for (int i = 0; i < R * N; i++) x[i] = 1e4f * (float)(1 + i / N) + (float)(i % 7) - 3.0f; /* exact in float */
    bprt_log_softmax_f32(x, R, N, l);
    for (int r = 0; r < R; r++) {
        double m = -INFINITY, s = 0;
        for (int c = 0; c < N; c++) m = fmax(m, (double)x[r * N + c]);
        for (int c = 0; c < N; c++) s += exp((double)x[r * N + c] - m);
        for (int c = 0; c < N; c++) {
            double want = (double)x[r * N + c] - m - log(s);
            if (fabs((double)l[r * N + c] - want) > 3e-7 * fmax(1, fabs(want)))
                fail_msg("log_softmax[%d,%d] = %.9g, want %.9g", r, c, (double)l[r * N + c], want);
        }
    }
}

/* R rows of N: long rows (past the kernel's 256-element blocks) and short ones (which go
 * 256 / N rows to one exp call, and a last partial group) */
static void softmax_rows_check(int R, int N) {
    enum { MAX = 5 * 300 };
    static float x[MAX], y[MAX], l[MAX];
    assert_true(R * N <= MAX);
    for (int i = 0; i < R * N; i++) x[i] = (float)sin(0.37 * i) * 6.0f;
    for (int c = 0; c < N; c += 3) x[(R / 2) * N + c] = -INFINITY; /* a masked row */
    bprt_softmax_f32(x, R, N, y);
    bprt_log_softmax_f32(x, R, N, l);
    for (int r = 0; r < R; r++) {
        double m = -INFINITY, s = 0, t = 0;
        for (int c = 0; c < N; c++) m = fmax(m, (double)x[r * N + c]);
        for (int c = 0; c < N; c++) s += exp((double)x[r * N + c] - m);
        for (int c = 0; c < N; c++) {
            double p = exp((double)x[r * N + c] - m) / s;
            /* float's x - m carries up to half an ulp of |x - m| into the exponent */
            double tol = (fabs((double)x[r * N + c] - m) * 6e-8 + 3e-7) * p;
            if (fabs((double)y[r * N + c] - p) > tol + 1e-30) fail_msg("softmax[%d,%d] = %.9g, want %.9g", r, c, (double)y[r * N + c], p);
            if (isinf(x[r * N + c])) assert_true(y[r * N + c] == 0 && isinf(l[r * N + c]));
            else if (fabs((double)l[r * N + c] - log(p)) > 1e-6 * fmax(1, fabs(log(p))))
                fail_msg("log_softmax[%d,%d] = %.9g, want %.9g", r, c, (double)l[r * N + c], log(p));
            t += (double)y[r * N + c];
        }
        assert_true(fabs(t - 1) < 1e-5);
    }
    memcpy(l, x, sizeof(float) * (size_t)(R * N));
    bprt_softmax_f32(l, R, N, l); /* in place */
    assert_memory_equal(l, y, sizeof(float) * (size_t)(R * N));
    for (int r = 0; r < R; r++) { /* a row alone: the same bits as in its group */
        bprt_softmax_f32(x + r * N, 1, N, l);
        assert_memory_equal(l, y + r * N, sizeof(float) * (size_t)N);
    }
}

static void test_softmax_rows(void **state) {
    (void)state;
    softmax_rows_check(5, 300);
    softmax_rows_check(101, 10);
    softmax_rows_check(7, 129);
}

/* The row maximum (sixteen lanes folded in halves, then the remainder) wherever it sits: a maximum of 88 with
 * the rest near 0 overflows exp(x - m) unless m is exactly it, so each position shows. */
static void test_row_max_positions(void **state) {
    (void)state;
    static const int lens[] = {1, 15, 16, 17, 32, 37, 64, 256, 300};
    static float x[300], y[300];
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        const int n = lens[t];
        for (int p = 0; p < n; p++) {
            for (int i = 0; i < n; i++) x[i] = (float)sin(0.7 * i);
            x[p] = 88.0f;
            bprt_softmax_f32(x, 1, n, y);
            if (!(fabs((double)y[p] - 1) < 1e-6)) fail_msg("n %d, maximum at %d: softmax %.9g", n, p, (double)y[p]);
            const int32_t label = p;
            const double l = bprt_cross_entropy_f32(x, &label, 1, (size_t)n);
            if (!(fabs(l) < 1e-6)) fail_msg("n %d, maximum at %d: cross-entropy %.9g", n, p, l);
        }
    }
}

static void cross_entropy_check(int R, int N) {
    enum { MAX = 200 * 257, MAXR = 200 };
    static float z[MAX], d[MAX], d1[MAX];
    int32_t y[MAXR];
    assert_true(R * N <= MAX && R <= MAXR && R >= 6);
    for (int r = 0; r < R; r++) y[r] = r == 1 ? N - 1 : (int32_t)(r * 37 % N);
    for (int i = 0; i < R * N; i++) z[i] = (float)cos(0.11 * i * i) * 4.0f;
    const float scale = 0.25f;
    double want = 0;
    for (int r = 0; r < R; r++) {
        double m = -INFINITY, s = 0;
        for (int c = 0; c < N; c++) m = fmax(m, (double)z[r * N + c]);
        for (int c = 0; c < N; c++) s += exp((double)z[r * N + c] - m);
        want += m + log(s) - (double)z[r * N + y[r]];
    }
    want /= R;
    double got = bprt_cross_entropy_f32(z, y, R, N);
    if (fabs(got - want) > 1e-6 * fabs(want)) fail_msg("cross-entropy %.9g, want %.9g", got, want);
    bprt_ce_grad_f32(z, y, R, N, scale, d);
    for (int r = 0; r < R; r++) {
        double m = -INFINITY, s = 0;
        for (int c = 0; c < N; c++) m = fmax(m, (double)z[r * N + c]);
        for (int c = 0; c < N; c++) s += exp((double)z[r * N + c] - m);
        for (int c = 0; c < N; c++) {
            double g = (double)scale * (exp((double)z[r * N + c] - m) / s - (c == y[r]));
            if (fabs((double)d[r * N + c] - g) > 3e-7 * fabs(g) + 1e-9) fail_msg("ce_grad[%d,%d] = %.9g, want %.9g", r, c, (double)d[r * N + c], g);
        }
    }
    double sum1 = 0;
    for (int r = 0; r < R; r++) { /* a row alone: the same bits as in its group */
        bprt_ce_grad_f32(z + r * N, y + r, 1, N, scale, d1 + r * N);
        sum1 += bprt_cross_entropy_f32(z + r * N, y + r, 1, N);
    }
    assert_memory_equal(d1, d, sizeof(float) * (size_t)(R * N));
    if (fabs(sum1 / R - got) > 1e-12 * fabs(got)) fail_msg("rows alone %.17g, together %.17g", sum1 / R, got);
    /* the loss alone, and loss and gradient in one pass: the same bits as the two calls, also
       in place (d = z), on 1, 2 and 3 threads */
    const int threads = bprt_threads();
    for (int nt = 1; nt <= 3; nt++) {
        bprt_set_threads(nt);
        assert_true(bprt_cross_entropy_f32(z, y, R, N) == got);
        memset(d1, 0, sizeof(float) * (size_t)(R * N));
        double both = bprt_cross_entropy_grad_f32(z, y, R, N, scale, d1);
        assert_true(both == got);
        assert_memory_equal(d1, d, sizeof(float) * (size_t)(R * N));
        memcpy(d1, z, sizeof(float) * (size_t)(R * N));
        both = bprt_cross_entropy_grad_f32(d1, y, R, N, scale, d1);
        assert_true(both == got);
        assert_memory_equal(d1, d, sizeof(float) * (size_t)(R * N));
    }
    for (int nt = 1; nt <= 2; nt++) {
        bprt_set_threads(nt);
        y[4] = N; /* a label outside the row */
        assert_true(isnan(bprt_cross_entropy_f32(z, y, R, N)));
        y[4] = -1;
        assert_true(isnan(bprt_cross_entropy_f32(z, y, R, N)));
        y[4] = 0;
    }
    bprt_set_threads(threads);
}

static void test_cross_entropy_rows(void **state) {
    (void)state;
    cross_entropy_check(6, 257);
    cross_entropy_check(153, 10);
    cross_entropy_check(9, 100);
    cross_entropy_check(200, 257); /* 51 Ki elements: the rows go to two or three threads */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_accuracy),        cmocka_unit_test(test_erf_accuracy),
        cmocka_unit_test(test_tanh_accuracy),
        cmocka_unit_test(test_special_values),      cmocka_unit_test(test_array_equals_elements),
        cmocka_unit_test(test_log_softmax_large_logits),
        cmocka_unit_test(test_softmax_rows),        cmocka_unit_test(test_cross_entropy_rows),
        cmocka_unit_test(test_row_max_positions),   cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_gelu_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
