/* test_runtime_blas.c — the values of libbprt's GEMM entry points against a double-precision
 * reference, whichever GEMM the build runs: bpc's own kernels, or OpenBLAS's with
 * -DBPC_OPENBLAS=ON (CMake passes the expected one as BPRT_EXPECT_GEMM, so a build whose option
 * did not take effect fails). The plain product in every transpose, with beta 0, 1 and 0.25; an
 * epilogue (relu(C + bias) over the finished product); an epilogue with its rows summed; the
 * triangular products. test_runtime_gemm checks bpc's own kernels further (the same bits on
 * any number of threads, every ISA), which OpenBLAS does not promise; this test is what
 * .ci/run runs against the OpenBLAS build. Also: leading dimensions whose rows number 1 (not
 * read: any value), C holding NaN with beta 0 (not read), the double entry point, and a call
 * leaving the calling thread's OpenMP team size as it was, on one thread and from the
 * runtime's threads (the OpenBLAS build sets it around each call); one row of C on 2 threads
 * (split by B's rows in both builds). */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bprt.h"

/* op(X)[i, k] of a row-major X with leading dimension ld */
static double at(const float *X, int t, int ld, int i, int k) { return t ? X[(size_t)k * ld + i] : X[(size_t)i * ld + k]; }

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) x[i] = (float)sin(0.37 * (double)(i + 1) * (seed + 1)) * 2.0f;
}

/* C (as given, beta applied) against alpha op(A) op(B) + beta C0 in double: within
   4 K eps of the sum of |terms| per element */
static void check_product(int tA, int tB, int M, int N, int K, float alpha, float beta, const float *A, const float *B,
                          const float *C0, const float *C, const char *what) {
    const int lda = tA ? M : K, ldb = tB ? K : N;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                const double t = at(A, tA, lda, i, k) * at(B, tB, ldb, k, j);
                s += t;
                mag += fabs(t);
            }
            const double c0 = beta != 0 ? C0[(size_t)i * N + j] : 0;
            const double want = (double)alpha * s + (beta != 0 ? (double)beta * c0 : 0);
            mag = fabs((double)alpha) * mag + fabs((double)beta * c0);
            const double got = C[(size_t)i * N + j];
            if (!(fabs(got - want) <= 4.0 * (K + 2) * 1.2e-7 * mag + 1e-30))
                fail_msg("%s tA %d tB %d %dx%dx%d beta %g: C[%d,%d] = %.9g, want %.9g", what, tA, tB, M, N, K,
                         (double)beta, i, j, got, want);
        }
}

static void test_backend(void **state) {
    (void)state;
    assert_string_equal(bprt_gemm_backend(), BPRT_EXPECT_GEMM);
}

static void test_plain(void **state) {
    (void)state;
    static const int shapes[][3] = {{1, 37, 50}, {37, 1, 50}, {64, 130, 70}, {300, 200, 100}, {16, 10, 784}, {5, 7, 1}};
    static const float betas[] = {0.0f, 1.0f, 0.25f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++)
                for (size_t b = 0; b < 3; b++) {
                    const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
                    float *C0 = malloc(sizeof(float) * (size_t)M * N), *C = malloc(sizeof(float) * (size_t)M * N);
                    fill(A, (size_t)M * K, 1), fill(B, (size_t)K * N, 2), fill(C0, (size_t)M * N, 3);
                    for (size_t i = 0; betas[b] == 0 && i < (size_t)M * N; i++) C0[i] = NAN; /* not read */
                    memcpy(C, C0, sizeof(float) * (size_t)M * N);
                    bprt_sgemm(tA, tB, M, N, K, 0.5f, A, tA ? M : K, B, tB ? K : N, betas[b], C, N);
                    check_product(tA, tB, M, N, K, 0.5f, betas[b], A, B, C0, C, "sgemm");
                    free(A), free(B), free(C0), free(C);
                }
}

/* one row of C (a batch of 1) on 2 threads, with B of 512 KiB or more, which both builds
   split between the threads by B's rows (bprt_rows_team): x @ B by its K rows, each thread's
   part added after (in the OpenBLAS build), x @ B^T by its N rows; with K not a multiple of
   2, op(A)'s row strided (tA, lda 3), beta 0 (C NaN: not read), 1 and 0.25, the double entry
   point, and an epilogue (relu(C + bias), over the finished row) */
static void test_one_row_threads(void **state) {
    (void)state;
    static const int shapes[][2] = {{512, 785}, {300, 600}}; /* N, K: 1.6 MB and 720 KB of floats */
    static const float betas[] = {0.0f, 1.0f, 0.25f};
    const int threads = bprt_threads();
    bprt_set_threads(2);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++)
                for (size_t b = 0; b < 3; b++) {
                    const int N = shapes[s][0], K = shapes[s][1], lda = tA ? 3 : K;
                    float *A = malloc(sizeof(float) * (size_t)K * 3), *B = malloc(sizeof(float) * (size_t)K * N);
                    float *C0 = malloc(sizeof(float) * (size_t)N), *C = malloc(sizeof(float) * (size_t)N);
                    fill(A, (size_t)K * 3, 15), fill(B, (size_t)K * N, 16), fill(C0, (size_t)N, 17);
                    for (int j = 0; betas[b] == 0 && j < N; j++) C0[j] = NAN; /* not read */
                    memcpy(C, C0, sizeof(float) * (size_t)N);
                    bprt_sgemm(tA, tB, 1, N, K, 0.5f, A, lda, B, tB ? K : N, betas[b], C, N);
                    for (int j = 0; j < N; j++) {
                        double sum = 0, mag = 0;
                        for (int k = 0; k < K; k++) {
                            const double t = (double)A[tA ? (size_t)k * 3 : (size_t)k] * at(B, tB, tB ? K : N, k, j);
                            sum += t, mag += fabs(t);
                        }
                        const double beta = betas[b], c0 = beta != 0 ? (double)C0[j] : 0, want = 0.5 * sum + beta * c0;
                        mag = 0.5 * mag + fabs(beta * c0);
                        if (!(fabs((double)C[j] - want) <= 4.0 * (K + 2) * 1.2e-7 * mag))
                            fail_msg("one row on 2 threads: tA %d tB %d N %d K %d beta %g: C[%d] = %.9g, want %.9g", tA,
                                     tB, N, K, (double)betas[b], j, (double)C[j], want);
                    }
                    free(A), free(B), free(C0), free(C);
                }
    { /* double */
        enum { N = 256, K = 301 }; /* 616 KB */
        static double A[K], B[K * N], C[N];
        for (int k = 0; k < K; k++) A[k] = sin(0.3 * k);
        for (int i = 0; i < K * N; i++) B[i] = cos(0.7 * i);
        for (int tB = 0; tB < 2; tB++) {
            for (int j = 0; j < N; j++) C[j] = NAN; /* beta 0: not read */
            bprt_dgemm(0, tB, 1, N, K, 2, A, K, B, tB ? K : N, 0, C, N);
            for (int j = 0; j < N; j++) {
                long double sum = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    const long double t = (long double)A[k] * (tB ? B[j * K + k] : B[k * N + j]);
                    sum += t, mag += fabsl(t);
                }
                if (!(fabsl((long double)C[j] - 2 * sum) <= 4.0L * (K + 2) * 2.3e-16L * 2 * mag))
                    fail_msg("dgemm one row on 2 threads tB %d: C[%d] = %.17g, want %.17Lg", tB, j, C[j], 2 * sum);
            }
        }
    }
    { /* relu(C + bias[j]) over the row the threads made */
        enum { N = 512, K = 784 };
        static float A[K], B[K * N], C[N], P[N], bias[N];
        fill(A, K, 18), fill(B, K * N, 19), fill(bias, N, 20);
        static const int32_t code[] = {BPRT_EW_LEAF, 0, BPRT_EW_LEAF, 1, BPRT_EW_ADD, BPRT_EW_RELU};
        const double konst[] = {0};
        const float *leaf[] = {C, bias};
        const ptrdiff_t ld[] = {N, 0};
        const unsigned char vec[] = {1, 1};
        bprt_sgemm_ew(0, 0, 1, N, K, 1, A, K, B, N, 0, C, N, code, 6, konst, leaf, 2, ld, vec, C, N);
        bprt_sgemm(0, 0, 1, N, K, 1, A, K, B, N, 0, P, N);
        for (int j = 0; j < N; j++) {
            const float want = fmaxf(P[j] + bias[j], 0.0f); /* the product as this build makes it */
            if (C[j] != want) fail_msg("one row's epilogue: C[%d] = %.9g, want %.9g", j, (double)C[j], (double)want);
        }
    }
    bprt_set_threads(threads);
}

/* relu(C + bias[j]) after the product, and with its rows summed in double */
static void test_epilogues(void **state) {
    (void)state;
    enum { M = 96, N = 72, K = 130 };
    static float A[M * K], B[K * N], C[M * N], P[M * N], bias[N], y[N];
    fill(A, M * K, 4), fill(B, K * N, 5), fill(bias, N, 6);
    static const int32_t code[] = {BPRT_EW_LEAF, 0, BPRT_EW_LEAF, 1, BPRT_EW_ADD, BPRT_EW_RELU};
    const double konst[] = {0};
    const float *leaf[] = {C, bias};
    const ptrdiff_t ld[] = {N, 0};
    const unsigned char vec[] = {1, 1};
    for (int sum = 0; sum < 2; sum++) {
        if (sum)
            bprt_sgemm_ew_sum(0, 0, M, N, K, 1, A, K, B, N, 0, C, N, code, 6, konst, leaf, 2, ld, vec, C, N, y, 1);
        else
            bprt_sgemm_ew(0, 0, M, N, K, 1, A, K, B, N, 0, C, N, code, 6, konst, leaf, 2, ld, vec, C, N);
        bprt_sgemm(0, 0, M, N, K, 1, A, K, B, N, 0, P, N);
        for (int j = 0; j < N; j++) {
            double col = 0;
            for (int i = 0; i < M; i++) {
                const float want = fmaxf(P[i * N + j] + bias[j], 0.0f); /* the product as this build makes it */
                if (C[i * N + j] != want) fail_msg("epilogue %d: C[%d,%d] = %.9g, want %.9g", sum, i, j, (double)C[i * N + j], (double)want);
                col += (double)want;
            }
            if (sum && y[j] != (float)col) fail_msg("row sum [%d] = %.9g, want %.9g", j, (double)y[j], col);
        }
    }
}

/* C's lower triangle (BPRT_TRI_C_LOWER), and op(A) zero above (A_LOWER) or below (A_UPPER) */
static void test_triangles(void **state) {
    (void)state;
    enum { M = 64, N = 64, K = 64 };
    static float A[M * K], B[K * N], C0[M * N], C[M * N], Z[M * K];
    fill(A, M * K, 7), fill(B, K * N, 8), fill(C0, M * N, 9);
    static const int modes[] = {BPRT_TRI_C_LOWER, BPRT_TRI_A_LOWER, BPRT_TRI_A_UPPER};
    for (size_t m = 0; m < 3; m++) {
        for (int i = 0; i < M; i++) /* A as the mode promises it */
            for (int k = 0; k < K; k++)
                Z[i * K + k] = (modes[m] == BPRT_TRI_A_LOWER && k > i) || (modes[m] == BPRT_TRI_A_UPPER && k < i) ? 0 : A[i * K + k];
        memcpy(C, C0, sizeof C);
        bprt_sgemm_tri(modes[m], 0, 0, M, N, K, 1, Z, K, B, N, 0.5f, C, N);
        if (modes[m] != BPRT_TRI_C_LOWER) {
            check_product(0, 0, M, N, K, 1, 0.5f, Z, B, C0, C, "sgemm_tri");
            continue;
        }
        for (int i = 0; i < M; i++) /* only j <= i is promised */
            for (int j = 0; j <= i; j++) {
                double s = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    const double t = (double)Z[i * K + k] * (double)B[k * N + j];
                    s += t, mag += fabs(t);
                }
                s += 0.5 * (double)C0[i * N + j];
                mag += fabs(0.5 * (double)C0[i * N + j]);
                if (!(fabs((double)C[i * N + j] - s) <= 4.0 * (K + 2) * 1.2e-7 * mag))
                    fail_msg("sgemm_tri C_LOWER: C[%d,%d] = %.9g, want %.9g", i, j, (double)C[i * N + j], s);
            }
    }
}

/* leading dimensions of an operand with one row (never read: 0 or 1 here), as bprt.h allows */
static void test_extent_one(void **state) {
    (void)state;
    static const int cases[][7] = {/* tA, tB, M, N, K, lda, ldb */
                                   {0, 0, 1, 4, 3, 1, 4}, {0, 1, 3, 1, 4, 4, 1}, {1, 0, 3, 4, 1, 1, 4},
                                   {0, 0, 3, 4, 1, 1, 1}, {0, 0, 1, 4, 3, 0, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int tA = cases[c][0], tB = cases[c][1], M = cases[c][2], N = cases[c][3], K = cases[c][4];
        float A[16], B[16], C0[16], C[16];
        fill(A, 16, 12), fill(B, 16, 13), fill(C0, 16, 14);
        memcpy(C, C0, sizeof C);
        const int ldc = M == 1 ? 1 : N; /* C's too, when it has one row */
        bprt_sgemm(tA, tB, M, N, K, 1, A, cases[c][5], B, cases[c][6], 0.5f, C, ldc);
        /* the reference reads the operands with their full leading dimensions */
        check_product(tA, tB, M, N, K, 1, 0.5f, A, B, C0, C, "extent-1 ld");
    }
}

static void test_double(void **state) {
    (void)state;
    enum { M = 70, N = 90, K = 110 };
    static double A[M * K], B[K * N], C[M * N];
    for (int i = 0; i < M * K; i++) A[i] = sin(0.3 * i);
    for (int i = 0; i < K * N; i++) B[i] = cos(0.7 * i);
    for (int tA = 0; tA < 2; tA++)
        for (int tB = 0; tB < 2; tB++) {
            for (int i = 0; i < M * N; i++) C[i] = NAN; /* beta 0: not read */
            bprt_dgemm(tA, tB, M, N, K, 2, A, tA ? M : K, B, tB ? K : N, 0, C, N);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    long double s = 0, mag = 0; /* op(A) over A's storage as bprt_dgemm reads it */
                    for (int k = 0; k < K; k++) {
                        const long double t = (long double)(tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
                        s += t, mag += fabsl(t);
                    }
                    if (!(fabsl((long double)C[i * N + j] - 2 * s) <= 4.0L * (K + 2) * 2.3e-16L * 2 * mag))
                        fail_msg("dgemm tA %d tB %d: C[%d,%d] = %.17g, want %.17Lg", tA, tB, i, j, C[i * N + j], 2 * s);
                }
        }
}

/* the caller's OpenMP team size is its own before and after a product, on one thread and
   around a batch of products that the runtime's threads share */
static void test_omp_threads_kept(void **state) {
    (void)state;
    enum { M = 128, N = 128, K = 128, NB = 8 };
    static float A[NB * M * K], B[NB * K * N], C[NB * M * N], C1[M * N];
    fill(A, NB * M * K, 10), fill(B, NB * K * N, 11);
    const int was = omp_get_max_threads(), threads = bprt_threads();
    omp_set_num_threads(3);
    bprt_sgemm(0, 0, M, N, K, 1, A, K, B, N, 0, C, N);
    assert_int_equal(omp_get_max_threads(), 3);
    bprt_set_threads(2);
    const size_t dims[] = {NB}, sa[] = {M * K}, sb[] = {K * N}, sc[] = {M * N};
    bprt_sgemm_batch(0, 0, M, N, K, 1, A, K, B, N, 0, C, N, 1, dims, sa, sb, sc, 0);
    assert_int_equal(omp_get_max_threads(), 3);
    for (int b = 0; b < NB; b++) { /* each result as the product alone makes it */
        bprt_sgemm(0, 0, M, N, K, 1, A + b * M * K, K, B + b * K * N, N, 0, C1, N);
        check_product(0, 0, M, N, K, 1, 0, A + b * M * K, B + b * K * N, C1, C + b * M * N, "sgemm_batch");
    }
    bprt_set_threads(threads);
    omp_set_num_threads(was);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend),   cmocka_unit_test(test_plain),           cmocka_unit_test(test_epilogues),
        cmocka_unit_test(test_triangles), cmocka_unit_test(test_extent_one),       cmocka_unit_test(test_double),
        cmocka_unit_test(test_omp_threads_kept), cmocka_unit_test(test_one_row_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
