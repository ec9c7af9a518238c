/* test_runtime_rng.c — the counter-based RNG (rng.c) against its documented formula.
 *
 * Checks: u64 values fixed as literals (computed outside C from the formula in rng.c's
 * comment), a second implementation of the formula written here, uniform and normal built
 * from it, determinism and order independence of the fills (including threaded fills),
 * distinct streams and seeds, and mean / variance / range sanity of large samples. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bprt.h"

/* The documented algorithm, written again. */
static uint64_t ref_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t ref_u64(uint64_t seed, uint64_t stream, uint64_t i)
{
    const uint64_t g = 0x9E3779B97F4A7C15ull;
    uint64_t key = ref_mix(seed ^ ref_mix(stream + g));
    return ref_mix(key + g * (i + 1));
}
static double ref_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    return (double)(ref_u64(seed, stream, i) >> 11) / 9007199254740992.0;
}

static void test_known_values(void **state)
{
    (void)state;
    static const uint64_t known[][4] = {
        {0ull, 0ull, 0ull, 0x568A9B0B1A2C05ECull},
        {0ull, 0ull, 1ull, 0x44E5B8B147EF718Bull},
        {42ull, 0ull, 0ull, 0xCA685846B557F0FCull},
        {42ull, 1ull, 0ull, 0x33AA906D7B87BF0Eull},
        {42ull, 1ull, 7ull, 0x3D39F02158E9BF91ull},
        {18446744073709551615ull, 3ull, 1000ull, 0x97ACD861BB188C3Eull},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_int_equal(bprt_rng_u64(known[i][0], known[i][1], known[i][2]), known[i][3]);
    /* uniform and normal of seed 42, stream 1, from the same outside computation */
    assert_true(fabs(bprt_rng_uniform(42, 1, 0) - 0.20182135270036283) < 1e-16);
    assert_true(fabs(bprt_rng_normal(42, 1, 0) - 0.4652474741811676) < 1e-14);
    assert_true(fabs(bprt_rng_normal(42, 1, 1) - 1.1276945960118965) < 1e-14);
    assert_true(fabs(bprt_rng_normal(42, 1, 2) - 0.681357067938943) < 1e-14);
}

static void test_matches_formula(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 5; seed++)
        for (uint64_t stream = 0; stream < 5; stream++)
            for (uint64_t i = 0; i < 200; i++) {
                assert_int_equal(bprt_rng_u64(seed * 977, stream, i), ref_u64(seed * 977, stream, i));
                double u = bprt_rng_uniform(seed, stream, i);
                assert_true(u == ref_uniform(seed, stream, i));
                assert_true(u >= 0 && u < 1);
                double u1 = ref_uniform(seed, stream, 2 * i), u2 = ref_uniform(seed, stream, 2 * i + 1);
                double z = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
                assert_true(fabs(bprt_rng_normal(seed, stream, i) - z) < 1e-12);
            }
}

static void test_fills_deterministic(void **state)
{
    (void)state;
    enum { N = 200003 }; /* large enough for the threaded path */
    double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    float *f = malloc(N * sizeof *f);
    bprt_set_threads(3);
    bprt_fill_normal_f64(a, N, 0.5, 7, 2);
    bprt_set_threads(1);
    bprt_fill_normal_f64(b, N, 0.5, 7, 2);
    bprt_fill_normal_f32(f, N, 0.5, 7, 2);
    for (size_t i = 0; i < N; i += 997) {
        assert_true(a[i] == b[i]);
        assert_true(a[i] == 0.5 * bprt_rng_normal(7, 2, i));
        assert_true(f[i] == (float)a[i]);
    }
    bprt_fill_uniform_f64(a, N, -2, 3, 7, 2);
    bprt_fill_uniform_f32(f, N, -2, 3, 7, 2);
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i] >= -2 && a[i] < 3);
        assert_true(f[i] == (float)a[i]);
    }
    bprt_set_threads(0);
    free(a);
    free(b);
    free(f);
}

static void test_streams_differ(void **state)
{
    (void)state;
    int same = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        same += bprt_rng_u64(1, 0, i) == bprt_rng_u64(1, 1, i);
        same += bprt_rng_u64(1, 0, i) == bprt_rng_u64(2, 0, i);
        same += bprt_rng_u64(1, 0, i) == bprt_rng_u64(1, 0, i + 1);
    }
    assert_int_equal(same, 0);
}

static void test_moments(void **state)
{
    (void)state;
    enum { N = 1000000 };
    double *x = malloc(N * sizeof *x);
    bprt_fill_normal_f64(x, N, 1.0, 123, 4);
    double s = 0, s2 = 0, s4 = 0;
    for (size_t i = 0; i < N; i++) {
        s += x[i];
        s2 += x[i] * x[i];
        s4 += x[i] * x[i] * x[i] * x[i];
        assert_true(isfinite(x[i]));
    }
    double mean = s / N, var = s2 / N - mean * mean, kurt = s4 / N;
    assert_true(fabs(mean) < 0.005);      /* sd of the mean is 0.001 */
    assert_true(fabs(var - 1) < 0.01);    /* sd about 0.0014 */
    assert_true(fabs(kurt - 3) < 0.05);   /* E x^4 = 3 */
    bprt_fill_uniform_f64(x, N, 0, 1, 123, 5);
    s = s2 = 0;
    for (size_t i = 0; i < N; i++) {
        s += x[i];
        s2 += x[i] * x[i];
    }
    mean = s / N;
    assert_true(fabs(mean - 0.5) < 0.002);
    assert_true(fabs(s2 / N - mean * mean - 1.0 / 12) < 0.002);
    free(x);
}

/* bprt_dropout: each element kept (as x / (1 - p), the scale that keeps the expectation x)
 * exactly where the documented uniform draw is at least p, else 0; p = 0 the identity and
 * p = 1 all zeros. Checked against ref_uniform, in float and double. */
static void test_dropout_mask_and_scale(void **state)
{
    (void)state;
    enum { N = 4099 };
    static const double ps[] = {0, 0.25, 0.5, 0.9, 1};
    double *xd = malloc(N * sizeof *xd), *yd = malloc(N * sizeof *yd);
    float *xf = malloc(N * sizeof *xf), *yf = malloc(N * sizeof *yf);
    assert_non_null(xd), assert_non_null(yd), assert_non_null(xf), assert_non_null(yf);
    for (size_t i = 0; i < N; i++) xd[i] = 1 + (double)(i % 13) * 0.25, xf[i] = (float)xd[i];
    for (size_t c = 0; c < sizeof ps / sizeof ps[0]; c++) {
        const double p = ps[c];
        bprt_dropout_f64(xd, N, p, 42, 7, yd);
        bprt_dropout_f32(xf, N, p, 42, 7, yf);
        size_t kept = 0;
        for (size_t i = 0; i < N; i++) {
            const int keep = ref_uniform(42, 7, i) >= p;
            const double wd = keep ? xd[i] * (1 / (1 - p)) : 0;
            const float wf = keep ? xf[i] * (float)(1 / (1 - p)) : 0.0f;
            kept += (size_t)keep;
            if (yd[i] != wd || yf[i] != wf)
                fail_msg("dropout p = %g, element %zu: %.17g and %.9g, want %.17g", p, i, yd[i], (double)yf[i], wd);
        }
        /* the draws themselves: about 1 - p of the elements kept (4 standard deviations) */
        assert_true(fabs((double)kept / N - (1 - p)) <= 4 * sqrt(p * (1 - p) / N) + 1e-12);
    }
    free(xd), free(yd), free(xf), free(yf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),      cmocka_unit_test(test_matches_formula),
        cmocka_unit_test(test_fills_deterministic), cmocka_unit_test(test_streams_differ),
        cmocka_unit_test(test_moments),
        cmocka_unit_test(test_dropout_mask_and_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
