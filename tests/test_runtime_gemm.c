/* test_runtime_gemm.c — bprt_sgemm / bprt_dgemm against a naive triple loop in double,
 * under every ISA this machine can run (bprt_set_isa).
 *
 * Covered: all four transpose combinations; M, N, K over small odd and tile-edge sizes
 * (1..37) and a few larger shapes that take the K-blocked and threaded paths; leading
 * dimensions larger than the minimum; alpha/beta including beta == 0 on a NaN-filled C
 * (C must not be read), alpha == 0 and K == 0 (C only scaled); M == 1 and N == 1 (GEMV);
 * and that the padding between rows of C (columns past N) is never written. Also
 * bprt_?gemm_batch with broadcast and summed batch axes (test_batched_sums), and
 * bprt_?gemm_ew's epilogue against the product then bprt_ew (test_gemm_epilogue), and
 * products with few columns as rows of dot products (test_narrow_rowdot). And the ways
 * without a scratch buffer, as with an allocator out of memory (test_without_scratch). In
 * the sanitizer builds, that a kernel call with an operand one element short aborts naming
 * the kernel and the operand (test_kernel_checks: runtime/kernel_check.h).
 * Tolerance: |c - ref| <= eps * (K + 2) * (|alpha| sum_k |a b| + |beta c|) with eps the
 * type's unit roundoff times 4. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bprt.h"
#include "kernel.h" /* bprt_isa_choose */

static const char *const all_isas[] = {"generic", "avx2", "avx512"};

typedef struct Case {
    int tA, tB, M, N, K;
    double alpha, beta;
    int pad; /* added to every leading dimension */
} Case;

/* Runs one case in float (is_f32) or double and returns the number of bad elements. */
static int run_case(const Case *c, int is_f32)
{
    int lda = (c->tA ? c->M : c->K) + c->pad, ldb = (c->tB ? c->K : c->N) + c->pad;
    int ldc = c->N + c->pad;
    int arows = c->tA ? c->K : c->M, brows = c->tB ? c->N : c->K;
    size_t na = (size_t)arows * lda + 1, nb = (size_t)brows * ldb + 1;
    size_t nc = (size_t)c->M * ldc + 1;
    double *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C0 = malloc(nc * sizeof *C0);
    bprt_fill_uniform_f64(A, na, -1, 1, 7, (uint64_t)c->M * 1000 + (uint64_t)c->K);
    bprt_fill_uniform_f64(B, nb, -1, 1, 8, (uint64_t)c->N * 1000 + (uint64_t)c->K);
    bprt_fill_uniform_f64(C0, nc, -1, 1, 9, (uint64_t)c->M * 1000 + (uint64_t)c->N);
    if (c->beta == 0)
        for (size_t i = 0; i < nc; i++)
            C0[i] = NAN;
    const double sentinel = 12345.0;
    for (int i = 0; i < c->M; i++)
        for (int j = c->N; j < ldc; j++)
            C0[(size_t)i * ldc + j] = sentinel;
    if (is_f32) /* round the inputs so the reference sees exactly what sgemm sees */
        for (size_t i = 0; i < na || i < nb || i < nc; i++) {
            if (i < na)
                A[i] = (double)(float)A[i];
            if (i < nb)
                B[i] = (double)(float)B[i];
            if (i < nc)
                C0[i] = (double)(float)C0[i];
        }

    double *C = malloc(nc * sizeof *C);
    if (is_f32) {
        float *Af = malloc(na * sizeof *Af), *Bf = malloc(nb * sizeof *Bf);
        float *Cf = malloc(nc * sizeof *Cf);
        for (size_t i = 0; i < na; i++)
            Af[i] = (float)A[i];
        for (size_t i = 0; i < nb; i++)
            Bf[i] = (float)B[i];
        for (size_t i = 0; i < nc; i++)
            Cf[i] = (float)C0[i];
        bprt_sgemm(c->tA, c->tB, c->M, c->N, c->K, (float)c->alpha, Af, lda, Bf, ldb,
                   (float)c->beta, Cf, ldc);
        for (size_t i = 0; i < nc; i++)
            C[i] = (double)Cf[i];
        free(Af);
        free(Bf);
        free(Cf);
    } else {
        memcpy(C, C0, nc * sizeof *C);
        bprt_dgemm(c->tA, c->tB, c->M, c->N, c->K, c->alpha, A, lda, B, ldb, c->beta, C, ldc);
    }

    double eps = is_f32 ? 4 * 0x1p-24 : 4 * 0x1p-53;
    int bad = 0;
    for (int i = 0; i < c->M; i++) {
        for (int j = 0; j < ldc; j++) {
            double got = C[(size_t)i * ldc + j];
            if (j >= c->N) {
                if (got != sentinel)
                    bad++;
                continue;
            }
            double s = 0, mag = 0;
            for (int k = 0; k < c->K; k++) {
                double a = c->tA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = c->tB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            double ref = c->alpha * s, refmag = fabs(c->alpha) * mag;
            if (c->beta != 0) {
                ref += c->beta * C0[(size_t)i * ldc + j];
                refmag += fabs(c->beta * C0[(size_t)i * ldc + j]);
            }
            if (!(fabs(got - ref) <= eps * (c->K + 2) * refmag + 1e-300)) {
                if (bad < 3)
                    print_error("%s tA=%d tB=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: "
                                "C[%d,%d] = %.9g, expected %.9g\n",
                                is_f32 ? "sgemm" : "dgemm", c->tA, c->tB, c->M, c->N, c->K,
                                c->alpha, c->beta, c->pad, i, j, got, ref);
                bad++;
            }
        }
    }
    free(A);
    free(B);
    free(C0);
    free(C);
    return bad;
}

/* Every case under every ISA available, in both precisions. */
static void run_all(const Case *cases, size_t n)
{
    for (size_t s = 0; s < sizeof all_isas / sizeof all_isas[0]; s++) {
        if (bprt_set_isa(all_isas[s]) != 0)
            continue;
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += run_case(&cases[i], 1) + run_case(&cases[i], 0);
        if (bad)
            print_error("isa %s: %d bad elements\n", all_isas[s], bad);
        assert_int_equal(bad, 0);
    }
}

static void test_small_sizes(void **state)
{
    (void)state;
    static const int sizes[] = {1, 2, 3, 5, 7, 8, 13, 14, 15, 16, 17, 29, 31, 32, 33, 37};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    Case *cases = malloc(sizeof(Case) * NS * NS * NS);
    size_t n = 0;
    for (int a = 0; a < NS; a++)
        for (int b = 0; b < NS; b++)
            for (int k = 0; k < NS; k++) {
                int t = (a + b + k) % 4;
                cases[n++] = (Case){t & 1, t >> 1, sizes[a], sizes[b], sizes[k],
                                    n % 3 == 0 ? 1.0 : 0.75, n % 2 ? 0.0 : -1.25,
                                    (int)(n % 3)};
            }
    run_all(cases, n);
    free(cases);
}

static void test_transposes_alpha_beta(void **state)
{
    (void)state;
    static const double ab[][2] = {{1, 0}, {1, 1}, {-0.5, 2}, {2, -1}, {0, 0.5}, {0, 0}};
    Case cases[4 * 6 * 7];
    size_t n = 0;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 6; i++) {
            cases[n++] = (Case){t & 1, t >> 1, 19, 45, 23, ab[i][0], ab[i][1], 3};
            cases[n++] = (Case){t & 1, t >> 1, 1, 37, 29, ab[i][0], ab[i][1], 2}; /* GEMV */
            cases[n++] = (Case){t & 1, t >> 1, 33, 1, 29, ab[i][0], ab[i][1], 2}; /* GEMV */
            /* GEMV over several register passes of columns and a partial vector; with
               tB, rows of 10 (transposed, then the same loop) */
            cases[n++] = (Case){t & 1, t >> 1, 1, 601, 40, ab[i][0], ab[i][1], 1};
            cases[n++] = (Case){t & 1, t >> 1, 1, 300, 10, ab[i][0], ab[i][1], 2};
            /* rank 1 (K = 1) over several passes of columns */
            cases[n++] = (Case){t & 1, t >> 1, 45, 601, 1, ab[i][0], ab[i][1], 3};
            cases[n++] = (Case){t & 1, t >> 1, 9, 11, 0, ab[i][0], ab[i][1], 1};  /* K = 0 */
        }
    run_all(cases, n);
}

static void test_large_threaded(void **state)
{
    (void)state;
    Case cases[] = {
        {0, 0, 67, 129, 300, 1, 0, 0},    {1, 0, 67, 129, 300, 1, 1, 5},
        {0, 1, 67, 129, 300, 0.5, 0, 1},  {1, 1, 67, 129, 300, 1, -1, 0},
        {0, 0, 130, 260, 790, 1, 0, 4},   /* several K blocks, threads */
        {1, 0, 784, 100, 64, 1, 0.5, 0},  /* weight-gradient shape */
        {0, 1, 64, 784, 256, 1, 0, 0},    /* input-gradient shape */
        {0, 0, 300, 1, 1000, 1, 0, 3},    {1, 1, 1, 300, 1000, -1, 2, 1},
        {0, 0, 300, 10, 790, 1, 0, 2},    /* narrow tiles (a classifier layer), K blocks */
        {1, 0, 260, 7, 300, -0.5, 1, 1},  /* narrow, fused-update shape, threads */
        {0, 1, 64, 300, 100, 1, 0, 0},    /* g @ W^T of a small batch: computed transposed */
        {0, 1, 7, 512, 40, -0.5, 0, 0},   {0, 1, 30, 130, 33, 2, 0, 0},
    };
    for (int threads = 1; threads <= 3; threads++) {
        bprt_set_threads(threads);
        run_all(cases, sizeof cases / sizeof cases[0]);
    }
    bprt_set_threads(0);
}

/* Products with at most 16 columns (8 in double) and a row-major A go through rowdot where
 * the kernel set has one (AVX-512): each row as dot products over k, the last chunk of k
 * masked, rows three, two or one at a time by N, split by rows on the threads. */
static void test_narrow_rowdot(void **state)
{
    (void)state;
    static const int ns[] = {1, 5, 8, 9, 10, 11, 14, 15, 16}, ms[] = {2, 3, 7, 64, 257};
    static const int ks[] = {64, 100, 256, 791};
    Case cases[9 * 5 * 4];
    size_t n = 0;
    for (int a = 0; a < 9; a++)
        for (int b = 0; b < 5; b++)
            for (int k = 0; k < 4; k++, n++)
                cases[n] = (Case){0, (int)(n % 2), ms[b], ns[a], ks[k], n % 3 ? 1.0 : -0.5,
                                  n % 4 == 1 ? 0.75 : n % 4 == 3 ? 1.0 : 0.0, (int)(n % 3)};
    for (int threads = 1; threads <= 3; threads += 2) {
        bprt_set_threads(threads);
        run_all(cases, n);
    }
    bprt_set_threads(0);
}

/* BPRT_ISA's value against CPUs that run some of the ISAs (bprt_isa_choose: this machine's
 * own choice is tested in train_data.sh, which sees its warning): a name in any case is
 * used if the CPU runs it; else the strongest the CPU runs, with the reason, which the
 * warning prints (an ISA the CPU cannot run was ignored without a word). */
static void test_isa_choose(void **state)
{
    (void)state;
    enum { G = 1u << BPRT_ISA_GENERIC, A2 = 1u << BPRT_ISA_AVX2, A5 = 1u << BPRT_ISA_AVX512 };
    static const struct {
        const char *value;
        unsigned runs;
        BprtIsa want;
        const char *why;
    } cases[] = {
        {NULL, G | A2 | A5, BPRT_ISA_AVX512, NULL},
        {NULL, G | A2, BPRT_ISA_AVX2, NULL},
        {NULL, G, BPRT_ISA_GENERIC, NULL},
        {"", G | A2, BPRT_ISA_AVX2, NULL}, /* empty: as if unset */
        {"avx2", G | A2 | A5, BPRT_ISA_AVX2, NULL},
        {"AVX2", G | A2 | A5, BPRT_ISA_AVX2, NULL},
        {"Generic", G | A2 | A5, BPRT_ISA_GENERIC, NULL},
        {"avx512", G | A2 | A5, BPRT_ISA_AVX512, NULL},
        {"AVX512", G | A2 | A5, BPRT_ISA_AVX512, NULL},
        {"generic", G, BPRT_ISA_GENERIC, NULL},
        {"avx512", G | A2, BPRT_ISA_AVX2, "this CPU cannot run it"},
        {"AVX512", G, BPRT_ISA_GENERIC, "this CPU cannot run it"},
        {"avx2", G, BPRT_ISA_GENERIC, "this CPU cannot run it"},
        {"avx9", G | A2 | A5, BPRT_ISA_AVX512, "not avx512, avx2 or generic"},
        {"avx9", G | A2, BPRT_ISA_AVX2, "not avx512, avx2 or generic"},
        {"avx512 ", G | A2 | A5, BPRT_ISA_AVX512, "not avx512, avx2 or generic"},
        {" avx2", G | A2 | A5, BPRT_ISA_AVX512, "not avx512, avx2 or generic"},
        {"avx-512", G | A2 | A5, BPRT_ISA_AVX512, "not avx512, avx2 or generic"},
        {"avx", G | A2 | A5, BPRT_ISA_AVX512, "not avx512, avx2 or generic"},
        {"avx22", G, BPRT_ISA_GENERIC, "not avx512, avx2 or generic"},
        {"avx2\n", G | A2, BPRT_ISA_AVX2, "not avx512, avx2 or generic"}, /* read with its newline */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = "unset";
        BprtIsa got = bprt_isa_choose(cases[i].value, cases[i].runs, &why);
        if (got != cases[i].want || (why == NULL) != (cases[i].why == NULL) ||
            (why && strcmp(why, cases[i].why) != 0))
            fail_msg("BPRT_ISA='%s' on CPU bits %u: isa %d, why '%s'; expected %d, '%s'",
                     cases[i].value ? cases[i].value : "(unset)", cases[i].runs, (int)got,
                     why ? why : "(none)", (int)cases[i].want, cases[i].why ? cases[i].why : "(none)");
    }
}

static void test_isa_names(void **state)
{
    (void)state;
    const char *start = bprt_isa();
    assert_true(strcmp(start, "generic") == 0 || strcmp(start, "avx2") == 0 ||
                strcmp(start, "avx512") == 0);
    assert_int_equal(bprt_set_isa("generic"), 0);
    assert_string_equal(bprt_isa(), "generic");
    assert_int_equal(bprt_set_isa("sse9"), -1);
    assert_string_equal(bprt_isa(), "generic");
    assert_int_equal(bprt_set_isa("GENERIC"), 0); /* any case; nothing around it */
    assert_int_equal(bprt_set_isa(" generic"), -1);
    assert_int_equal(bprt_set_isa("generic "), -1);
    assert_int_equal(bprt_set_isa("generi"), -1);
    assert_int_equal(bprt_set_isa(""), -1);
    assert_string_equal(bprt_isa(), "generic");
    assert_int_equal(bprt_set_isa(start), 0);
    bprt_set_threads(5);
    assert_int_equal(bprt_threads(), 5);
    bprt_set_threads(0);
    assert_true(bprt_threads() >= 1);
}

/* bprt_dgemm_batch / bprt_sgemm_batch over batch axes {3, 2, 4}: A broadcast over axis 1
 * (stride 0: consecutive products share it and its packing is reused), B over axis 0, the
 * summed axes 0 and 2 accumulating into one result per index of axis 1 (beta applied once),
 * against the naive sum in double; float on 1 and 2 threads gives the same bits. */
static void test_batched_sums(void **state)
{
    (void)state;
    enum { M = 19, N = 37, K = 41, D0 = 3, D1 = 2, D2 = 4 }; /* 1.4 MFLOP: two threads, one result each */
    const size_t dims[3] = {D0, D1, D2};
    const size_t sa[3] = {D2 * M * K, 0, M * K}, sb[3] = {0, D2 * K * N, K * N}, sc[3] = {0, M * N, 0};
    static double A[D0 * D2 * M * K], B[D1 * D2 * K * N], C[D1 * M * N], R[D1 * M * N];
    static float Af[D0 * D2 * M * K], Bf[D1 * D2 * K * N], C1[D1 * M * N], C2[D1 * M * N];
    bprt_fill_uniform_f64(A, D0 * D2 * M * K, -1, 1, 3, 1);
    bprt_fill_uniform_f64(B, D1 * D2 * K * N, -1, 1, 3, 2);
    bprt_fill_uniform_f64(C, D1 * M * N, -1, 1, 3, 3);
    for (size_t i = 0; i < D0 * D2 * M * K; i++) Af[i] = (float)A[i];
    for (size_t i = 0; i < D1 * D2 * K * N; i++) Bf[i] = (float)B[i];
    const double alpha = 0.75, beta = -0.5;
    for (int i1 = 0; i1 < D1; i1++) /* the reference: beta C + alpha sum over i0, i2 */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int i0 = 0; i0 < D0; i0++)
                    for (int i2 = 0; i2 < D2; i2++)
                        for (int k = 0; k < K; k++)
                            acc += A[i0 * sa[0] + i2 * sa[2] + (size_t)i * K + k] *
                                   B[i1 * sb[1] + i2 * sb[2] + (size_t)k * N + j];
                R[i1 * sc[1] + (size_t)i * N + j] = beta * C[i1 * sc[1] + (size_t)i * N + j] + alpha * acc;
            }
    bprt_dgemm_batch(0, 0, M, N, K, alpha, A, K, B, N, beta, C, N, 3, dims, sa, sb, sc, 5);
    for (size_t i = 0; i < D1 * M * N; i++)
        if (fabs(C[i] - R[i]) > 1e-12 * (D0 * D2 * K))
            fail_msg("dgemm_batch element %zu: %.17g, want %.17g", i, C[i], R[i]);
    const int threads = bprt_threads();
    for (int nt = 1; nt <= 2; nt++) {
        float *Cf = nt == 1 ? C1 : C2;
        for (size_t i = 0; i < D1 * M * N; i++) Cf[i] = 0.25f;
        bprt_set_threads(nt);
        bprt_sgemm_batch(0, 0, M, N, K, 0.75f, Af, K, Bf, N, -0.5f, Cf, N, 3, dims, sa, sb, sc, 5);
    }
    bprt_set_threads(threads);
    assert_memory_equal(C1, C2, sizeof C1);
    for (size_t i = 0; i < D1 * M * N; i++) assert_true(isfinite(C1[i]) && C1[i] != 0.25f);
}

/* bprt_sgemm_batch summing a few short products per result with B the same for every
 * result (attention's input gradient, sum over the heads h of dq[b, h] @ Wq[h]^T: the
 * products side by side, one GEMM of K = heads x K per result), for each transpose of A and
 * B and K of 32 and 17, against the naive sum in double (float operands), beta applied once;
 * the same bits on 1 and 2 threads. */
static void test_batched_head_sums(void **state)
{
    (void)state;
    enum { M = 40, N = 48, D0 = 8, H = 4 }; /* 3.9 MFLOP (K 32): the results split between two threads */
    static float A[D0 * H * M * 32], B[H * 32 * N], C1[D0 * M * N], C2[D0 * M * N];
    static double Ad[D0 * H * M * 32], Bd[H * 32 * N];
    bprt_fill_uniform_f64(Ad, D0 * H * M * 32, -1, 1, 5, 1);
    bprt_fill_uniform_f64(Bd, H * 32 * N, -1, 1, 5, 2);
    for (size_t i = 0; i < D0 * H * M * 32; i++) A[i] = (float)Ad[i];
    for (size_t i = 0; i < H * 32 * N; i++) B[i] = (float)Bd[i];
    const int threads = bprt_threads();
    for (int K = 32; K >= 17; K -= 15)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++) {
                const size_t dims[2] = {D0, H}, sa[2] = {(size_t)H * M * K, (size_t)M * K}, sb[2] = {0, (size_t)K * N},
                             sc[2] = {(size_t)M * N, 0};
                const int lda = tA ? M : K, ldb = tB ? K : N;
                for (int nt = 1; nt <= 2; nt++) {
                    float *Cf = nt == 1 ? C1 : C2;
                    for (size_t i = 0; i < D0 * M * N; i++) Cf[i] = (float)(i % 7) - 3;
                    bprt_set_threads(nt);
                    bprt_sgemm_batch(tA, tB, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, Cf, N, 2, dims, sa, sb, sc, 2);
                }
                bprt_set_threads(threads);
                if (memcmp(C1, C2, sizeof C1)) fail_msg("K %d tA %d tB %d: 2 threads differ from 1", K, tA, tB);
                for (int b = 0; b < D0; b++)
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double acc = 0, mag = 0;
                            for (int h = 0; h < H; h++)
                                for (int k = 0; k < K; k++) {
                                    const float *As = A + b * sa[0] + h * sa[1], *Bs = B + h * sb[1];
                                    const double p = (double)(tA ? As[k * lda + i] : As[i * lda + k]) *
                                                     (double)(tB ? Bs[j * ldb + k] : Bs[k * ldb + j]);
                                    acc += p, mag += fabs(p);
                                }
                            const size_t c = (size_t)b * M * N + (size_t)i * N + (size_t)j;
                            const double want = 2.0 * (double)((float)(c % 7) - 3) + 0.5 * acc;
                            if (!(fabs((double)C1[c] - want) <= 1e-5 * (mag + 8)))
                                fail_msg("K %d tA %d tB %d: element %zu %.9g, want %.9g", K, tA, tB, c, (double)C1[c], want);
                        }
            }
}

/* bprt_?gemm_ew: out = relu(C + b[j]) * X + s (C the product, b a row vector, X a matrix of
 * C's shape, s a scalar) computed by the GEMM's epilogue, against bprt_?gemm then bprt_ew
 * over the whole matrix: the same bits, on every path of the driver (blocked and threaded,
 * several row blocks, narrow tiles, M == 1, N == 1, K == 1, K == 0) and with out == C. */
static const int32_t ep_code[] = {BPRT_EW_LEAF, 0, BPRT_EW_LEAF, 1, BPRT_EW_ADD, BPRT_EW_RELU,
                                  BPRT_EW_LEAF, 2, BPRT_EW_MUL,  BPRT_EW_LEAF, 3, BPRT_EW_ADD};
enum { EP_NCODE = sizeof ep_code / sizeof ep_code[0] };

#define EP_CASE(T, SUF)                                                                            \
    static void ep_case_##SUF(int M, int N, int K, int tA, int in_place)                          \
    {                                                                                              \
        size_t na = (size_t)M * K + 1, nb = (size_t)K * N + 1, nc = (size_t)M * N;                 \
        T *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);   \
        T *X = malloc(nc * sizeof *X), *bias = malloc((size_t)N * sizeof *bias);                  \
        T *R = malloc(nc * sizeof *R), *O = malloc(nc * sizeof *O), s = (T)0.125;                 \
        double tmp[4096];                                                                          \
        for (size_t i = 0; i < na || i < nb || i < nc; i += 4096) { /* values in [-1, 1) */       \
            size_t w = 4096;                                                                       \
            bprt_fill_uniform_f64(tmp, w, -1, 1, 11, i);                                           \
            for (size_t k = 0; k < w; k++) {                                                       \
                if (i + k < na) A[i + k] = (T)tmp[k];                                              \
                if (i + k < nb) B[i + k] = (T)tmp[(k + 7) % w];                                    \
                if (i + k < nc) X[i + k] = (T)tmp[(k + 13) % w];                                   \
                if (i + k < (size_t)N) bias[i + k] = (T)tmp[(k + 29) % w] * (T)4;                  \
            }                                                                                      \
        }                                                                                          \
        const double konst[1] = {0};                                                               \
        const unsigned char vec[4] = {1, 1, 1, 0};                                                 \
        const ptrdiff_t ld[4] = {N, 0, N, 0};                                                      \
        int lda = tA ? M : K;                                                                      \
        bprt_##SUF##gemm(tA, 0, M, N, K, (T)1, A, lda, B, N, (T)0, R, N);                          \
        for (int i = 0; i < M; i++) { /* row by row: the bias broadcasts over rows */             \
            const T *lr[4] = {R + (size_t)i * N, bias, X + (size_t)i * N, &s};                     \
            bprt_ew_##SUF##_ref(ep_code, EP_NCODE, konst, lr, vec, (size_t)N, R + (size_t)i * N);  \
        }                                                                                          \
        const T *lo[4] = {C, bias, X, &s};                                                         \
        bprt_##SUF##gemm_ew(tA, 0, M, N, K, (T)1, A, lda, B, N, (T)0, C, N, ep_code, EP_NCODE,    \
                            konst, lo, 4, ld, vec, in_place ? C : O, N);                           \
        const T *got = in_place ? C : O;                                                           \
        for (size_t i = 0; i < nc; i++)                                                            \
            if (memcmp(&got[i], &R[i], sizeof(T)) != 0)                                            \
                fail_msg(#SUF "gemm_ew M=%d N=%d K=%d tA=%d in_place=%d: element %zu = %.9g, want %.9g", \
                         M, N, K, tA, in_place, i, (double)got[i], (double)R[i]);                  \
        free(A), free(B), free(C), free(X), free(bias), free(R), free(O);                         \
    }
#define bprt_ew_s_ref bprt_ew_f32
#define bprt_ew_d_ref bprt_ew_f64
EP_CASE(float, s)
EP_CASE(double, d)

static void test_gemm_epilogue(void **state)
{
    (void)state;
    static const int shapes[][4] = {
        {300, 200, 300, 0}, {520, 70, 96, 1}, /* blocked, threaded; several row blocks (mc) */
        {130, 90, 1100, 0},                   /* three K blocks: the epilogue after the last */
        {1024, 512, 128, 0}, {256, 1024, 1024, 0}, /* blocks of 1 MB or more: the epilogue panel by
                                                      panel, along row panels and down column strips */
        {256, 10, 256, 0},  {33, 7, 5, 1},    /* narrow tiles */
        {1, 37, 29, 0},     {33, 1, 29, 1},   /* M == 1, N == 1 */
        {64, 50, 1, 1},     {9, 11, 0, 0},    /* K == 1 (rank 1), K == 0 */
    };
    const int threads = bprt_threads();
    for (int nt = 1; nt <= 2; nt++) {
        bprt_set_threads(nt);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int in_place = 0; in_place < 2; in_place++) {
                ep_case_s(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], in_place);
                ep_case_d(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], in_place);
            }
    }
    bprt_set_threads(threads);
}

/* bprt_?gemm_ew_sum: the epilogue's result (relu(C) * X) and its rows summed P apart, against
 * bprt_?gemm_ew then bprt_sum_axis: the same bits on 1, 2 and 3 threads, on every path of
 * the driver (a split by columns sums as it goes, a split by rows falls back to the pass),
 * transposed operands, P > 1 (a [B, T, N] result summed over B), M == 0. */
static const int32_t eps_code[] = {BPRT_EW_LEAF, 0, BPRT_EW_RELU, BPRT_EW_LEAF, 1, BPRT_EW_MUL};
enum { EPS_NCODE = sizeof eps_code / sizeof eps_code[0] };

#define EPS_CASE(T, SUF, SUM)                                                                       \
    static void eps_case_##SUF(int M, int N, int K, int tA, int tB, size_t P)                       \
    {                                                                                              \
        size_t na = (size_t)M * K + 1, nb = (size_t)K * N + 1, nc = (size_t)M * N + 1;             \
        T *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);   \
        T *X = malloc(nc * sizeof *X), *R = malloc(nc * sizeof *R), *O = malloc(nc * sizeof *O);   \
        T *y = malloc((P * N + 1) * sizeof *y), *want = malloc((P * N + 1) * sizeof *want);        \
        double tmp[4096];                                                                          \
        for (size_t i = 0; i < na || i < nb || i < nc; i += 4096) {                                \
            bprt_fill_uniform_f64(tmp, 4096, -1, 1, 17, i);                                        \
            for (size_t k = 0; k < 4096; k++) {                                                    \
                if (i + k < na) A[i + k] = (T)tmp[k];                                              \
                if (i + k < nb) B[i + k] = (T)tmp[(k + 7) % 4096];                                 \
                if (i + k < nc) X[i + k] = (T)tmp[(k + 13) % 4096] * (T)3;                         \
            }                                                                                      \
        }                                                                                          \
        const double konst[1] = {0};                                                               \
        const unsigned char vec[2] = {1, 1};                                                       \
        const ptrdiff_t ld[2] = {N, N};                                                            \
        const int lda = tA ? M : K, ldb = tB ? K : N;                                              \
        const T *lr[2] = {C, X};                                                                   \
        bprt_##SUF##gemm_ew(tA, tB, M, N, K, (T)1, A, lda, B, ldb, (T)0, C, N, eps_code, EPS_NCODE, \
                            konst, lr, 2, ld, vec, R, N);                                          \
        SUM(R, 1, (size_t)M / P, P * (size_t)N, want);                                             \
        for (size_t i = 0; i < P * (size_t)N; i++) y[i] = (T)NAN;                                  \
        bprt_##SUF##gemm_ew_sum(tA, tB, M, N, K, (T)1, A, lda, B, ldb, (T)0, C, N, eps_code, EPS_NCODE, \
                                konst, lr, 2, ld, vec, O, N, y, P);                                \
        for (size_t i = 0; i < (size_t)M * N; i++)                                                 \
            if (memcmp(&O[i], &R[i], sizeof(T)) != 0)                                              \
                fail_msg(#SUF "gemm_ew_sum M=%d N=%d K=%d tA=%d tB=%d P=%zu on %d threads: element %zu = %.9g, want %.9g", \
                         M, N, K, tA, tB, P, bprt_threads(), i, (double)O[i], (double)R[i]);       \
        for (size_t i = 0; i < P * (size_t)N; i++)                                                 \
            if (memcmp(&y[i], &want[i], sizeof(T)) != 0)                                           \
                fail_msg(#SUF "gemm_ew_sum M=%d N=%d K=%d tA=%d tB=%d P=%zu on %d threads: sum %zu = %.17g, want %.17g", \
                         M, N, K, tA, tB, P, bprt_threads(), i, (double)y[i], (double)want[i]);    \
        free(A), free(B), free(C), free(X), free(R), free(O), free(y), free(want);                \
    }
EPS_CASE(float, s, bprt_sum_axis_f32)
EPS_CASE(double, d, bprt_sum_axis_f64)

static void test_gemm_epilogue_sum(void **state)
{
    (void)state;
    static const int shapes[][6] = {
        {256, 256, 10, 0, 1, 1},  {256, 512, 256, 0, 1, 1}, /* input gradients g @ W^T */
        {64, 512, 256, 0, 1, 1},                            /* computed transposed */
        {2048, 128, 512, 0, 0, 64}, {520, 70, 96, 1, 0, 5}, /* tall: split by rows on 3 */
        {130, 90, 1100, 0, 0, 2},                           /* three K blocks */
        {1024, 512, 128, 0, 0, 8}, {256, 1024, 1024, 0, 0, 4}, /* panel by panel: along rows, down strips */
        {256, 10, 256, 0, 0, 2},  {33, 7, 5, 1, 0, 1},      /* narrow: rowdot, tiles */
        {1, 37, 29, 0, 0, 1},     {33, 1, 29, 1, 0, 3},     /* M == 1, N == 1 */
        {64, 50, 1, 1, 0, 4},     {9, 11, 0, 0, 0, 3},      /* K == 1 (rank 1), K == 0 */
        {3, 64, 40, 0, 0, 1},     {0, 16, 8, 0, 0, 1},      /* a batch of 3 (strips), M == 0 */
    };
    const int threads = bprt_threads();
    for (int nt = 1; nt <= 3; nt++) {
        bprt_set_threads(nt);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const int *c = shapes[i];
            eps_case_s(c[0], c[1], c[2], c[3], c[4], (size_t)c[5]);
            eps_case_d(c[0], c[1], c[2], c[3], c[4], (size_t)c[5]);
        }
    }
    bprt_set_threads(threads);
}

/* An epilogue (relu(C) * X into another array) after products split by rows, by columns or
 * both, input gradients g @ W^T with an epilogue by rows (GEMM_EP_ROWS): the same bits on 1,
 * 2 and 3 threads as the product on one thread followed by the epilogue written here. */
static void test_epilogue_threads(void **state)
{
    (void)state;
    static const int shapes[][5] = {
        {0, 1, 256, 512, 256}, {0, 1, 100, 300, 64}, {0, 1, 5, 300, 64}, /* g @ W^T; too few rows */
        {0, 0, 256, 512, 256}, {1, 0, 130, 200, 96},                    /* x @ W, x^T @ g */
    };
    const int threads = bprt_threads();
    const double konst[1] = {0};
    const unsigned char vec[2] = {1, 1};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int tA = shapes[c][0], tB = shapes[c][1], M = shapes[c][2], N = shapes[c][3], K = shapes[c][4];
        const size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
        float *X = malloc(nc * sizeof *X), *R = malloc(nc * sizeof *R), *O = malloc(nc * sizeof *O);
        double *t = malloc((na > nb ? (na > nc ? na : nc) : (nb > nc ? nb : nc)) * sizeof *t);
        bprt_fill_uniform_f64(t, na, -1, 1, 8, c);
        for (size_t i = 0; i < na; i++) A[i] = (float)t[i];
        bprt_fill_uniform_f64(t, nb, -1, 1, 9, c);
        for (size_t i = 0; i < nb; i++) B[i] = (float)t[i];
        bprt_fill_uniform_f64(t, nc, -2, 2, 10, c);
        for (size_t i = 0; i < nc; i++) X[i] = (float)t[i];
        const int lda = tA ? M : K, ldb = tB ? K : N;
        bprt_set_threads(1);
        bprt_sgemm(tA, tB, M, N, K, 1, A, lda, B, ldb, 0, R, N);
        for (size_t i = 0; i < nc; i++) R[i] = (R[i] > 0 ? R[i] : 0.0f) * X[i];
        const float *lr[2] = {C, X};
        const ptrdiff_t ld[2] = {N, N};
        for (int nt = 1; nt <= 3; nt++) {
            bprt_set_threads(nt);
            memset(O, 0x7f, nc * sizeof *O);
            bprt_sgemm_ew(tA, tB, M, N, K, 1, A, lda, B, ldb, 0, C, N, eps_code, EPS_NCODE, konst, lr, 2, ld, vec, O, N);
            if (memcmp(O, R, nc * sizeof *O) != 0)
                fail_msg("sgemm_ew tA=%d tB=%d %dx%dx%d on %d threads: not the product's relu(C) * X", tA, tB, M, N, K, nt);
        }
        free(A), free(B), free(C), free(X), free(R), free(O), free(t);
    }
    bprt_set_threads(threads);
}

/* bprt_ew_rows_par (the generated code's broadcast loops where the runtime splits them
 * between threads): the same bits as bprt_ew_rows on the calling thread, on 1, 2 and 3
 * threads, in place, with a row vector, a column of per-row values and a scalar among the
 * leaves; and bprt_ew_threads, which the generated code asks first: 1 on one thread or below
 * the size that pays. */
static void test_ew_rows_par(void **state)
{
    (void)state;
    static const size_t shapes[][2] = {{2048, 128}, {300, 257}, {7, 5}, {40000, 1}};
    /* (relu(a) * rowvec + col) * s */
    static const int32_t code[] = {BPRT_EW_LEAF, 0, BPRT_EW_RELU, BPRT_EW_LEAF, 1, BPRT_EW_MUL, BPRT_EW_LEAF, 2,
                                   BPRT_EW_ADD,  BPRT_EW_LEAF, 3, BPRT_EW_MUL};
    const double konst[1] = {0};
    const unsigned char vec[4] = {1, 1, 0, 0};
    const int threads = bprt_threads();
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const size_t R = shapes[c][0], N = shapes[c][1], n = R * N;
        float *a = malloc(n * sizeof *a), *rv = malloc(N * sizeof *rv), *col = malloc(R * sizeof *col);
        float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got), s = 0.75f;
        double *t = malloc((n + N + R) * sizeof *t);
        bprt_fill_uniform_f64(t, n + N + R, -2, 2, 31, c);
        for (size_t i = 0; i < n; i++) a[i] = (float)t[i];
        for (size_t j = 0; j < N; j++) rv[j] = (float)t[n + j];
        for (size_t r = 0; r < R; r++) col[r] = (float)t[n + N + r];
        const float *leaf[4] = {a, rv, col, &s};
        const ptrdiff_t ld[4] = {(ptrdiff_t)N, 0, 1, 0};
        bprt_set_threads(1);
        assert_int_equal(bprt_ew_threads(1 << 20), 1);
        bprt_ew_rows_f32(code, 12, konst, leaf, 4, ld, vec, R, N, want, (ptrdiff_t)N);
        for (int nt = 1; nt <= 3; nt++) {
            bprt_set_threads(nt);
            memset(got, 0x7f, n * sizeof *got);
            bprt_ew_rows_par_f32(code, 12, konst, leaf, 4, ld, vec, R, N, got, (ptrdiff_t)N);
            if (memcmp(got, want, n * sizeof *got) != 0) fail_msg("ew_rows_par %zux%zu on %d threads", R, N, nt);
            memcpy(got, a, n * sizeof *got); /* in place over a */
            const float *lp[4] = {got, rv, col, &s};
            bprt_ew_rows_par_f32(code, 12, konst, lp, 4, ld, vec, R, N, got, (ptrdiff_t)N);
            if (memcmp(got, want, n * sizeof *got) != 0) fail_msg("ew_rows_par in place %zux%zu on %d threads", R, N, nt);
        }
        free(a), free(rv), free(col), free(want), free(got), free(t);
    }
    double *x = malloc(70000 * sizeof *x), *y = malloc(70000 * sizeof *y), *z = malloc(70000 * sizeof *z);
    for (int i = 0; i < 70000; i++) x[i] = i * 0.001 - 30;
    static const int32_t c2[] = {BPRT_EW_LEAF, 0, BPRT_EW_RELU};
    const double *lx[1] = {x};
    const ptrdiff_t ldx[1] = {700};
    const unsigned char v1[1] = {1};
    bprt_set_threads(1);
    bprt_ew_rows_f64(c2, 3, konst, lx, 1, ldx, v1, 100, 700, y, 700);
    bprt_set_threads(2);
    bprt_ew_rows_par_f64(c2, 3, konst, lx, 1, ldx, v1, 100, 700, z, 700);
    assert_memory_equal(y, z, 70000 * sizeof *y);
    assert_int_equal(bprt_ew_threads(100), 1);      /* too small to pay */
    assert_int_equal(bprt_ew_threads(1 << 20), 2);
    free(x), free(y), free(z);
    bprt_set_threads(threads);
}

/* The same bits on 1, 2 and 3 threads (splits by rows, by columns, or both): every element
 * is summed over the same K blocks in the same order. Shapes of a layer's forward, weight-
 * and input-gradient products, with beta != 0 and several K and row blocks. */
static void test_threads_same_bits(void **state)
{
    (void)state;
    static const int shapes[][5] = {
        {0, 0, 256, 256, 784}, {1, 0, 784, 256, 256}, {0, 1, 256, 784, 256},
        {0, 0, 700, 96, 600},  {0, 1, 90, 1000, 130}, {1, 1, 333, 77, 520},
        {1, 0, 784, 512, 16}, /* K < 32: split by columns (a small batch's weight update) */
        {0, 0, 257, 10, 300}, {0, 1, 256, 16, 100}, /* narrow: rows of dot products (rowdot) */
    };
    const int threads = bprt_threads();
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int tA = shapes[c][0], tB = shapes[c][1], M = shapes[c][2], N = shapes[c][3], K = shapes[c][4];
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C[3];
        double *t = malloc((na > nb ? na : nb) * sizeof *t);
        bprt_fill_uniform_f64(t, na, -1, 1, 5, c);
        for (size_t i = 0; i < na; i++) A[i] = (float)t[i];
        bprt_fill_uniform_f64(t, nb, -1, 1, 6, c);
        for (size_t i = 0; i < nb; i++) B[i] = (float)t[i];
        for (int nt = 1; nt <= 3; nt++) {
            C[nt - 1] = malloc(nc * sizeof(float));
            for (size_t i = 0; i < nc; i++) C[nt - 1][i] = (float)(i % 7) - 3;
            bprt_set_threads(nt);
            bprt_sgemm(tA, tB, M, N, K, 0.5f, A, tA ? M : K, B, tB ? K : N, -0.25f, C[nt - 1], N);
        }
        for (int nt = 2; nt <= 3; nt++)
            if (memcmp(C[0], C[nt - 1], nc * sizeof(float)) != 0)
                fail_msg("sgemm tA=%d tB=%d %dx%dx%d: %d threads differ from 1", tA, tB, M, N, K, nt);
        for (int nt = 0; nt < 3; nt++) free(C[nt]);
        free(A), free(B), free(t);
    }
    bprt_set_threads(threads);
}

/* A matrix of at least 512 KiB used with a single row (one sample) is split by rows between
 * the threads (bprt_rows_team): x @ W with each column block's sums handed from thread to
 * thread in the order of k, the rank-1 product a b and x @ W^T. The same bits on 1, 2 and 3
 * threads as the serial loops, in float and double, with beta != 0, column counts that end
 * in a partial block and a partial vector, and (in double) a K that leaves one thread a
 * single row. */
#define OWNED_CASE(T, SUF)                                                                          \
    static void owned_case_##SUF(int tA, int tB, int M, int N, int K)                              \
    {                                                                                               \
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;                          \
        T *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C[3];                          \
        double *t = malloc((na > nb ? na : nb) * sizeof *t);                                        \
        bprt_fill_uniform_f64(t, na, -1, 1, 9, (uint64_t)N);                                        \
        for (size_t i = 0; i < na; i++) A[i] = (T)t[i];                                             \
        bprt_fill_uniform_f64(t, nb, -1, 1, 10, (uint64_t)K);                                       \
        for (size_t i = 0; i < nb; i++) B[i] = (T)t[i];                                             \
        for (int nt = 1; nt <= 3; nt++) {                                                           \
            C[nt - 1] = malloc(nc * sizeof(T));                                                     \
            for (size_t i = 0; i < nc; i++) C[nt - 1][i] = (T)(i % 7) - 3;                          \
            bprt_set_threads(nt);                                                                   \
            bprt_##SUF##gemm(tA, tB, M, N, K, (T)0.5, A, tA ? M : K, B, tB ? K : N, (T)-0.25, C[nt - 1], N); \
        }                                                                                           \
        for (int nt = 2; nt <= 3; nt++)                                                             \
            if (memcmp(C[0], C[nt - 1], nc * sizeof(T)) != 0)                                       \
                fail_msg(#SUF "gemm tA=%d tB=%d %dx%dx%d: %d threads differ from 1", tA, tB, M, N, K, nt); \
        for (int nt = 0; nt < 3; nt++) free(C[nt]);                                                 \
        free(A), free(B), free(t);                                                                  \
    }
OWNED_CASE(float, s)
OWNED_CASE(double, d)

static void test_rows_owned_same_bits(void **state)
{
    (void)state;
    static const int shapes[][5] = {
        {0, 0, 1, 520, 784}, {1, 0, 1, 1000, 300}, /* x @ W: 4 blocks of 128 + 8; tA */
        {0, 1, 1, 600, 512},                       /* x @ W^T: dot products over W's rows */
        {1, 0, 784, 520, 1}, {0, 0, 700, 384, 1},  /* the rank-1 product, beta != 0 */
        {0, 0, 1, 256, 512}, {1, 0, 512, 256, 1},  /* 512 KiB: fashion_mlp3's W2 */
    };
    const int threads = bprt_threads();
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        owned_case_s(shapes[c][0], shapes[c][1], shapes[c][2], shapes[c][3], shapes[c][4]);
        owned_case_d(shapes[c][0], shapes[c][1], shapes[c][2], shapes[c][3], shapes[c][4]);
    }
    owned_case_d(0, 0, 1, 65536, 4); /* 2 MiB over 4 rows: 3 threads get 1, 1 and 2 */
    bprt_set_threads(threads);
}

/* A single row x (or a rank-1 update's column a) with zeros: the rows of B (of C) whose
 * factor is zero are skipped. x @ W (beta != 0) is the same bits as the product over x's
 * nonzero entries and their rows of W alone (the skipped terms add 0); in the update C += a b
 * the rows with a zero factor are left as they were (a -0 stays -0) and the others are the
 * same bits as the update of those rows alone. A NaN in a skipped row of W does not reach
 * the result: the rows were not read. Every ISA, float and double, 1-3 threads, K across the
 * 1024-row chunks (a short last chunk). Inputs with fewer zeros, and K below 64, take the
 * dense loops, which the other tests' products cover. */
#define ZERO_CASE(T, SUF)                                                                           \
    static void zero_case_##SUF(int K, int N, int every)                                            \
    {                                                                                               \
        T *x = malloc(K * sizeof *x), *xs = malloc(K * sizeof *xs), *B = malloc((size_t)K * N * sizeof *B); \
        T *Bs = malloc((size_t)K * N * sizeof *Bs), *c = malloc(N * sizeof *c), *cs = malloc(N * sizeof *cs); \
        T *C = malloc((size_t)K * N * sizeof *C), *Cs = malloc((size_t)K * N * sizeof *Cs);         \
        double *t = malloc((size_t)K * N * sizeof *t);                                              \
        bprt_fill_uniform_f64(t, (size_t)K * N, -1, 1, 11, (uint64_t)K);                            \
        int nz = 0;                                                                                 \
        for (int k = 0; k < K; k++) { /* zeros in runs, as an image's background */                 \
            x[k] = (k / 7) % every == 0 ? 0 : (T)t[k];                                             \
            if (x[k] != 0) {                                                                        \
                xs[nz] = x[k];                                                                      \
                for (int j = 0; j < N; j++) Bs[(size_t)nz * N + j] = (T)t[(size_t)k * N + j];       \
                nz++;                                                                               \
            }                                                                                       \
            for (int j = 0; j < N; j++) B[(size_t)k * N + j] = x[k] == 0 ? (T)NAN : (T)t[(size_t)k * N + j]; \
        }                                                                                           \
        for (int nt = 1; nt <= 3; nt++) {                                                           \
            bprt_set_threads(nt);                                                                   \
            for (int j = 0; j < N; j++) c[j] = cs[j] = (T)(j % 5) - 2;                              \
            bprt_##SUF##gemm(0, 0, 1, N, K, (T)0.5, x, K, B, N, (T)-0.25, c, N);                   \
            bprt_##SUF##gemm(0, 0, 1, N, nz, (T)0.5, xs, nz, Bs, N, (T)-0.25, cs, N);              \
            for (int j = 0; j < N; j++)                                                             \
                if (memcmp(&c[j], &cs[j], sizeof *c) != 0)                                          \
                    fail_msg(#SUF "gemm x @ W, K %d N %d, %d threads: column %d is %g, over x's nonzeros %g", \
                             K, N, nt, j, (double)c[j], (double)cs[j]);                             \
            for (size_t i = 0; i < (size_t)K * N; i++) C[i] = (T)t[i];                              \
            C[0] = (T)-0.0;                                                                         \
            for (int k = 0, r = 0; k < K; k++)                                                      \
                if (x[k] != 0) memcpy(Cs + (size_t)r++ * N, C + (size_t)k * N, N * sizeof *C);      \
            bprt_##SUF##gemm(1, 0, K, N, 1, (T)-0.125, x, K, c, N, 1, C, N);                        \
            bprt_##SUF##gemm(1, 0, nz, N, 1, (T)-0.125, xs, nz, c, N, 1, Cs, N);                    \
            for (int k = 0, r = 0; k < K; k++) {                                                    \
                const T *row = x[k] != 0 ? Cs + (size_t)r++ * N : NULL;                             \
                for (int j = 0; j < N; j++) {                                                       \
                    const T want = row ? row[j] : k == 0 && j == 0 ? (T)-0.0 : (T)t[(size_t)k * N + j]; \
                    if (memcmp(&C[(size_t)k * N + j], &want, sizeof want) != 0)                     \
                        fail_msg(#SUF "gemm C += a b, K %d N %d, %d threads: row %d column %d is %g, not %g", \
                                 K, N, nt, k, j, (double)C[(size_t)k * N + j], (double)want);       \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
        free(x), free(xs), free(B), free(Bs), free(c), free(cs), free(C), free(Cs), free(t);       \
    }
ZERO_CASE(float, s)
ZERO_CASE(double, d)

static void test_zero_factors_skipped(void **state)
{
    (void)state;
    const int threads = bprt_threads();
    const char *isa = bprt_isa();
    for (size_t s = 0; s < sizeof all_isas / sizeof all_isas[0]; s++) {
        if (bprt_set_isa(all_isas[s]) != 0)
            continue;
        zero_case_s(784, 520, 2);  /* half zeros: fashion_mlp3's W1, a partial vector */
        zero_case_d(784, 520, 2);
        zero_case_s(2100, 37, 3);  /* three chunks */
        zero_case_d(1100, 300, 2); /* a chunk of 76 rows */
        zero_case_s(100, 64, 2);
    }
    bprt_set_isa(isa);
    bprt_set_threads(threads);
}

/* The first m rows of an M-row product op(A) @ op(B) (alpha, beta) against the m-row product
 * of the same operands: the same bits, in f32 and f64, or a failure naming what. */
/* ... with a row-major B whose rows are ldb elements apart (N of them used) */
static void first_rows_same_bits_ldb(const char *what, int tA, int tB, int m, int M, int N, int K, int ldb,
                                     double alpha, double beta, uint64_t seed)
{
    size_t na = (size_t)M * K, nb = (size_t)(tB ? N : K) * ldb, nc = (size_t)M * N;
    const int lda = tA ? M : K;
    double *ad = malloc(na * sizeof *ad), *bd = malloc(nb * sizeof *bd), *cd = malloc(nc * sizeof *cd),
           *ed = malloc(nc * sizeof *ed);
    float *af = malloc(na * sizeof *af), *bf = malloc(nb * sizeof *bf), *cf = malloc(nc * sizeof *cf),
          *ef = malloc(nc * sizeof *ef);
    bprt_fill_uniform_f64(ad, na, -1, 1, 7, seed);
    bprt_fill_uniform_f64(bd, nb, -1, 1, 8, seed);
    for (size_t i = 0; i < na; i++) af[i] = (float)ad[i];
    for (size_t i = 0; i < nb; i++) bf[i] = (float)bd[i];
    for (size_t i = 0; i < nc; i++) cd[i] = ed[i] = cf[i] = ef[i] = (float)(i % 5) - 2.5f;
    bprt_sgemm(tA, tB, M, N, K, (float)alpha, af, lda, bf, ldb, (float)beta, cf, N);
    bprt_sgemm(tA, tB, m, N, K, (float)alpha, af, lda, bf, ldb, (float)beta, ef, N);
    bprt_dgemm(tA, tB, M, N, K, alpha, ad, lda, bd, ldb, beta, cd, N);
    bprt_dgemm(tA, tB, m, N, K, alpha, ad, lda, bd, ldb, beta, ed, N);
    if (memcmp(cf, ef, (size_t)m * N * sizeof *cf) || memcmp(cd, ed, (size_t)m * N * sizeof *cd))
        fail_msg("%s: tA %d tB %d, %d x %d x %d, ldb %d, beta %g: the first %d rows of a %d-row product differ", what,
                 tA, tB, m, N, K, ldb, beta, m, M);
    free(ad), free(bd), free(cd), free(ed), free(af), free(bf), free(cf), free(ef);
}

static void first_rows_same_bits(const char *what, int tA, int tB, int m, int M, int N, int K, double alpha,
                                 double beta, uint64_t seed)
{
    first_rows_same_bits_ldb(what, tA, tB, m, M, N, K, tB ? K : N, alpha, beta, seed);
}

/* cases() under every ISA the CPU runs, on 1 and then 2 threads each; the caller's ISA and
 * thread count restored */
static void on_every_isa_and_threads(void (*cases)(void))
{
    const int threads = bprt_threads();
    const char *isa = bprt_isa();
    for (size_t s = 0; s < sizeof all_isas / sizeof all_isas[0]; s++) {
        if (bprt_set_isa(all_isas[s]) != 0)
            continue;
        for (int nt = 1; nt <= 2; nt++) {
            bprt_set_threads(nt);
            cases();
        }
    }
    bprt_set_isa(isa);
    bprt_set_threads(threads);
}

/* A row-major A with few rows is read in place (tile_rows), a taller one is packed when B's
 * block is larger than ROWS_OUTER_MAX_BYTES (the last two shapes; the first four are read in
 * place at 600 rows too): the rows they share come out with the same bits (the same
 * operations in the same order), in f32 and f64, for transposed and plain B, several K
 * blocks, alpha and beta. */
static void test_rows_in_place_same_bits(void **state)
{
    (void)state;
    static const int shapes[][3] = {{64, 32, 128}, {64, 100, 1100}, {30, 17, 5},
                                    {64, 700, 40}, {64, 700, 784},  {50, 1100, 300}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int tB = 0; tB < 2; tB++) /* M = 600: beyond GEMM_DIRECT_AT_MAX_M */
            first_rows_same_bits("A in place", 0, tB, shapes[c][0], 600, shapes[c][1], shapes[c][2], 0.75, 0.5, c);
}

/* A^T B: a row-major B is read in place up to 256 rows of C and packed above, and with beta 0,
 * K of 512 or more and at most 256 columns, more than 256 rows are computed as (B^T A)^T: the
 * rows the shorter and the taller product share come out with the same bits, f32 and f64, on
 * 1 and 2 threads, on every ISA. */
static void at_b_cases(void)
{
    first_rows_same_bits("A^T B, B in place", 1, 0, 200, 600, 300, 100, 0.75, 0.5, 1);
    first_rows_same_bits("A^T B, B in place", 1, 0, 250, 400, 128, 700, -0.5, 1, 2);
    first_rows_same_bits("A^T B as (B^T A)^T", 1, 0, 100, 600, 200, 700, 0.75, 0, 3);
    first_rows_same_bits("A^T B as (B^T A)^T", 1, 0, 256, 512, 128, 2048, 1, 0, 4);
}

static void test_at_b_same_bits(void **state)
{
    (void)state;
    on_every_isa_and_threads(at_b_cases);
}

/* A row-major B whose rows are a multiple of 4 KiB apart (1024 floats, 512 doubles) is packed
 * under 48 rows of C or more (GEMM_B_ALIAS_MIN_M) and read in place under fewer; one whose rows
 * are 2 KiB apart and whose block of columns is narrower than a row (the half of a 512-float
 * row one thread takes, or a B with a larger leading dimension) is packed under 64 rows or
 * more (GEMM_B_ALIAS2_MIN_M): the rows the two products share come out with the same bits,
 * f32 and f64, plain and A^T B, on 1 and 2 threads, on every ISA. */
static void b_alias_cases(void)
{
    first_rows_same_bits("B rows 4 KiB apart", 0, 0, 3, 256, 1024, 300, 0.75, 0.5, 5);
    first_rows_same_bits("B rows 4 KiB apart", 1, 0, 3, 200, 2048, 64, 1, 0, 6);
    first_rows_same_bits("B rows 4 KiB apart", 0, 0, 3, 100, 512, 784, -0.5, 1, 7);
    first_rows_same_bits("B rows 2 KiB apart", 0, 0, 3, 256, 512, 300, 1, 0, 8);
    first_rows_same_bits("B rows 2 KiB apart", 0, 0, 3, 64, 512, 784, 1, 1, 11);
    first_rows_same_bits_ldb("B rows 2 KiB apart, part of each used", 0, 0, 3, 200, 300, 200, 512, 0.5, 1, 9);
    first_rows_same_bits_ldb("B rows 2 KiB apart, part of each used", 1, 0, 3, 130, 200, 96, 512, 1, 0, 10);
    /* 256 doubles: 2 KiB apart in f64 (and 1 KiB, in place, in f32) */
    first_rows_same_bits_ldb("B rows 2 KiB apart (f64), part of each used", 0, 0, 3, 100, 200, 300, 256, 1, 0, 12);
}

static void test_b_alias_same_bits(void **state)
{
    (void)state;
    on_every_isa_and_threads(b_alias_cases);
}

/* op(A) @ B with A stored transposed (A[k][i], i < M, rows lda apart) against the same values
 * with rows lda + 1 apart, by bprt_?gemm (tri BPRT_TRI_NONE) or bprt_?gemm_tri (BPRT_TRI_A_UPPER
 * with M = K: op(A) upper triangular, zero below its diagonal): the same bits
 * in f32 and f64, or a failure naming the shape */
static void at_alias_case(int tri, int M, int lda, int N, int K, double alpha, double beta, uint64_t seed)
{
    const int ld2 = lda + 1;
    size_t na = (size_t)K * ld2, nb = (size_t)K * N, nc = (size_t)M * N;
    double *ad = malloc(na * sizeof *ad), *a2d = malloc(na * sizeof *a2d), *bd = malloc(nb * sizeof *bd),
           *cd = malloc(nc * sizeof *cd), *ed = malloc(nc * sizeof *ed);
    float *af = malloc(na * sizeof *af), *a2f = malloc(na * sizeof *a2f), *bf = malloc(nb * sizeof *bf),
          *cf = malloc(nc * sizeof *cf), *ef = malloc(nc * sizeof *ef);
    bprt_fill_uniform_f64(ad, na, -1, 1, 31, seed);
    bprt_fill_uniform_f64(bd, nb, -1, 1, 32, seed);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < lda; i++) /* op(A)[i, k] = A[k][i]: zero for k < i when upper */
            if (tri == BPRT_TRI_A_UPPER && k < i) ad[(size_t)k * lda + i] = 0;
    for (int k = 0; k < K; k++)
        for (int i = 0; i < ld2; i++)
            a2d[(size_t)k * ld2 + i] = i < lda ? ad[(size_t)k * lda + i] : 0;
    for (size_t i = 0; i < na; i++) af[i] = (float)ad[i], a2f[i] = (float)a2d[i];
    for (size_t i = 0; i < nb; i++) bf[i] = (float)bd[i];
    for (size_t i = 0; i < nc; i++) cd[i] = ed[i] = cf[i] = ef[i] = (float)(i % 5) - 2.5f;
    if (tri == BPRT_TRI_NONE) { /* the threads' split of bprt_?gemm */
        bprt_sgemm(1, 0, M, N, K, (float)alpha, af, lda, bf, N, (float)beta, cf, N);
        bprt_sgemm(1, 0, M, N, K, (float)alpha, a2f, ld2, bf, N, (float)beta, ef, N);
        bprt_dgemm(1, 0, M, N, K, alpha, ad, lda, bd, N, beta, cd, N);
        bprt_dgemm(1, 0, M, N, K, alpha, a2d, ld2, bd, N, beta, ed, N);
    } else {
        bprt_sgemm_tri(tri, 1, 0, M, N, K, (float)alpha, af, lda, bf, N, (float)beta, cf, N);
        bprt_sgemm_tri(tri, 1, 0, M, N, K, (float)alpha, a2f, ld2, bf, N, (float)beta, ef, N);
        bprt_dgemm_tri(tri, 1, 0, M, N, K, alpha, ad, lda, bd, N, beta, cd, N);
        bprt_dgemm_tri(tri, 1, 0, M, N, K, alpha, a2d, ld2, bd, N, beta, ed, N);
    }
    if (memcmp(cf, ef, nc * sizeof *cf) || memcmp(cd, ed, nc * sizeof *cd))
        fail_msg("A^T B (tri %d), A's rows %d apart (packed) and %d (in place): %d x %d x %d, beta %g: the products "
                 "differ", tri, lda, ld2, M, N, K, beta);
    free(ad), free(a2d), free(bd), free(cd), free(ed), free(af), free(a2f), free(bf), free(cf), free(ef);
}

/* An A stored transposed whose rows are a multiple of 2 KiB apart (GEMM_A_ALIAS_BYTES: 512
 * floats, 256 doubles) is packed when the block of C has 512 columns or more
 * (GEMM_A_ALIAS_MIN_N), else read in place: the same bits either way, f32 and f64, on 1 and 2
 * threads, on every ISA. Packed: 4 KiB rows under 1024 columns; 300 of 512 columns used (a
 * partial last panel), several K blocks, beta 1; f64 only, on 1 thread (256 doubles, 1 KiB in
 * f32; 2 threads split its 640 columns); op(A) upper triangular (its rows' k ranges start
 * inside a K block); in place: under 512 columns, and tiny_gpt's weight gradient (512 x 128 x
 * 2048, made as (B^T A)^T). With a wrong value in pack_at's panels, the first four cases
 * differ and the last two do not (checked with a probe). */
static void at_alias_cases(void)
{
    at_alias_case(BPRT_TRI_NONE, 1024, 1024, 1024, 256, 1, 0, 1);
    at_alias_case(BPRT_TRI_NONE, 300, 512, 1100, 600, 0.75, 1, 2);
    at_alias_case(BPRT_TRI_NONE, 256, 256, 640, 300, -0.5, 0.5, 3);
    at_alias_case(BPRT_TRI_A_UPPER, 512, 512, 600, 512, 1, 0, 4);
    at_alias_case(BPRT_TRI_NONE, 1024, 1024, 300, 100, 0.75, 0.5, 5);
    at_alias_case(BPRT_TRI_NONE, 512, 512, 128, 2048, 1, 0, 6);
}

static void test_at_alias_same_bits(void **state)
{
    (void)state;
    on_every_isa_and_threads(at_alias_cases);
}

/* C[:, :N] of op(A) @ B with a row-major B of N columns (a multiple of the vector length,
 * so the strips of kernel.h) against the same columns of the product with one more column
 * of B (a partial vector: the tiles), in f32 and f64: the same bits, or a failure naming
 * the shape. */
static void strips_case(int tA, int M, int N, int K, double alpha, double beta, uint64_t seed)
{
    const int N1 = N + 1, lda = tA ? M : K;
    size_t na = (size_t)M * K, nb = (size_t)K * N1;
    double *ad = malloc(na * sizeof *ad), *bd = malloc(nb * sizeof *bd), *b0d = malloc((size_t)K * N * sizeof *b0d);
    double *cd = malloc((size_t)M * N * sizeof *cd), *c1d = malloc((size_t)M * N1 * sizeof *c1d);
    float *af = malloc(na * sizeof *af), *bf = malloc(nb * sizeof *bf), *b0f = malloc((size_t)K * N * sizeof *b0f);
    float *cf = malloc((size_t)M * N * sizeof *cf), *c1f = malloc((size_t)M * N1 * sizeof *c1f);
    bprt_fill_uniform_f64(ad, na, -1, 1, 21, seed);
    bprt_fill_uniform_f64(bd, nb, -1, 1, 22, seed);
    for (size_t i = 0; i < na; i++) af[i] = (float)ad[i];
    for (size_t i = 0; i < nb; i++) bf[i] = (float)bd[i];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) {
            b0d[(size_t)k * N + j] = bd[(size_t)k * N1 + j];
            b0f[(size_t)k * N + j] = bf[(size_t)k * N1 + j];
        }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N1; j++) {
            const double c0 = (double)((i * 7 + j) % 9) - 4.5;
            c1d[(size_t)i * N1 + j] = c0, c1f[(size_t)i * N1 + j] = (float)c0;
            if (j < N) cd[(size_t)i * N + j] = c0, cf[(size_t)i * N + j] = (float)c0;
        }
    bprt_sgemm(tA, 0, M, N, K, (float)alpha, af, lda, b0f, N, (float)beta, cf, N);
    bprt_sgemm(tA, 0, M, N1, K, (float)alpha, af, lda, bf, N1, (float)beta, c1f, N1);
    bprt_dgemm(tA, 0, M, N, K, alpha, ad, lda, b0d, N, beta, cd, N);
    bprt_dgemm(tA, 0, M, N1, K, alpha, ad, lda, bd, N1, beta, c1d, N1);
    for (int i = 0; i < M; i++)
        if (memcmp(cf + (size_t)i * N, c1f + (size_t)i * N1, (size_t)N * sizeof *cf) ||
            memcmp(cd + (size_t)i * N, c1d + (size_t)i * N1, (size_t)N * sizeof *cd))
            fail_msg("strips: tA %d, %d x %d x %d, beta %g: row %d differs from the tiles' (%d columns)", tA, M, N, K,
                     beta, i, N1);
    free(ad), free(bd), free(b0d), free(cd), free(c1d), free(af), free(bf), free(b0f), free(cf), free(c1f);
}

/* A small batch's products with wide rows go through the kernels' strips (up to 4 rows,
 * or K up to 8): the same bits as the tiles, under every ISA, for 1 to 4 rows (each row
 * grouping, strips with a remainder of single vectors, two K blocks), and for the weight
 * update's shapes (K 1 to 8 against many rows, beta 0 and 1, A transposed or not). */
static void test_strips_same_bits(void **state)
{
    (void)state;
    static const int shapes[][4] = {
        {0, 2, 512, 784}, {0, 3, 400, 784}, {1, 4, 96, 300}, {0, 4, 48, 33}, {1, 2, 64, 1100}, /* few rows */
        {1, 784, 512, 2}, {1, 300, 256, 5}, {0, 100, 160, 8}, {1, 64, 32, 3},              /* short K */
    };
    const char *start = bprt_isa();
    for (size_t s = 0; s < sizeof all_isas / sizeof all_isas[0]; s++) {
        if (bprt_set_isa(all_isas[s]) != 0)
            continue;
        for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
            for (int beta = 0; beta < 2; beta++)
                strips_case(shapes[c][0], shapes[c][1], shapes[c][2], shapes[c][3], beta ? -0.03 : 0.75, beta, c);
    }
    assert_int_equal(bprt_set_isa(start), 0);
}

/* A^T B with few columns is computed transposed on wide tiles from 32 rows of C on, on
 * narrow tiles below: the rows they share come out with the same bits (one K block; beta 0
 * and 1, the weight gradient and the SGD step fused into it), in f32 and f64. */
static void test_narrow_transposed_same_bits(void **state)
{
    (void)state;
    static const int shapes[][3] = {{31, 10, 256}, {20, 8, 64}, {9, 3, 200}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int beta = 0; beta < 2; beta++)
            first_rows_same_bits("A^T B, narrow", 1, 0, shapes[c][0], 300, shapes[c][1], shapes[c][2], -0.03, beta,
                                 c);
}

/* A @ B^T with half a wide tile's width of rows up to 64 (16 in float and 8 in double on
 * AVX-512, 8 and 4 on AVX2), beta 0 and C's rows contiguous is computed as (B A^T)^T, at
 * half a tile's width on the narrow tiles (rowdot's sums would be other ones): the same bits
 * as the rows of a taller product computed directly, f32 and f64, on 1 and 2 threads, on
 * every ISA. */
static void transposed_product_cases(void)
{
    static const int shapes[][3] = {{64, 300, 100}, {7, 512, 40},  {33, 129, 700}, {16, 512, 256},
                                    {17, 256, 64},  {8, 512, 256}, {4, 256, 64}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        first_rows_same_bits("A B^T", 0, 1, shapes[c][0], 100, shapes[c][1], shapes[c][2], 0.75, 0, c);
}

static void test_transposed_product_same_bits(void **state)
{
    (void)state;
    on_every_isa_and_threads(transposed_product_cases);
}

/* ---- causal attention's triangles and its softmax calls (bprt.h: BPRT_TRI_*) ---- */

/* op(A) @ B through bprt_?gemm_tri for a triangle mode, A zero where the mode says it is:
 * every element needed within the tiles' rounding of the double product (a term left out
 * or added would be far outside), above the diagonal for C_LOWER the product's value or 0
 * (a tile wholly above it is not made), with beta applied where C is made. */
static void tri_case(int tri, int tA, int tB, int M, int N, int K, double alpha, double beta, uint64_t seed)
{
    const int lda = tA ? M : K, ldb = tB ? K : N;
    const size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    double *ad = malloc(na * sizeof *ad), *bd = malloc(nb * sizeof *bd), *c0 = malloc(nc * sizeof *c0);
    double *cd = malloc(nc * sizeof *cd);
    float *af = malloc(na * sizeof *af), *bf = malloc(nb * sizeof *bf), *cf = malloc(nc * sizeof *cf);
    bprt_fill_uniform_f64(ad, na, -1, 1, 31, seed);
    bprt_fill_uniform_f64(bd, nb, -1, 1, 32, seed);
    bprt_fill_uniform_f64(c0, nc, -1, 1, 33, seed);
    for (int i = 0; i < M; i++) /* op(A)[i, k] zero where the mode says */
        for (int k = 0; k < K; k++)
            if ((tri == BPRT_TRI_A_LOWER && k > i) || (tri == BPRT_TRI_A_UPPER && k < i))
                ad[tA ? (size_t)k * lda + i : (size_t)i * lda + k] = 0;
    for (size_t i = 0; i < na; i++) af[i] = (float)ad[i];
    for (size_t i = 0; i < nb; i++) bf[i] = (float)bd[i];
    for (size_t i = 0; i < nc; i++) cd[i] = c0[i], cf[i] = (float)c0[i];
    bprt_dgemm_tri(tri, tA, tB, M, N, K, alpha, ad, lda, bd, ldb, beta, cd, N);
    bprt_sgemm_tri(tri, tA, tB, M, N, K, (float)alpha, af, lda, bf, ldb, (float)beta, cf, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = 0, mag = fabs(beta * c0[(size_t)i * N + j]);
            for (int k = 0; k < K; k++) {
                const double a = tA ? ad[(size_t)k * lda + i] : ad[(size_t)i * lda + k];
                const double b = tB ? bd[(size_t)j * ldb + k] : bd[(size_t)k * ldb + j];
                ref += a * b;
                mag += fabs(alpha * a * b);
            }
            ref = alpha * ref + beta * c0[(size_t)i * N + j];
            const double d = cd[(size_t)i * N + j], f = cf[(size_t)i * N + j];
            const int up = tri == BPRT_TRI_C_LOWER && j > i; /* there: the product or 0 */
            if ((fabs(d - ref) > 1e-14 * (K + 2) * mag + 1e-300 && !(up && d == 0)) ||
                (fabs(f - ref) > 1e-6 * (K + 2) * mag + 1e-30 && !(up && f == 0)))
                fail_msg("tri %d tA %d tB %d %dx%dx%d: C[%d, %d] = %.17g (f64) / %.9g (f32), the product %.17g", tri, tA,
                         tB, M, N, K, i, j, d, f, ref);
        }
    free(ad), free(bd), free(c0), free(cd), free(af), free(bf), free(cf);
}

static void tri_cases(void)
{
    static const int shapes[][3] = {{64, 64, 32}, {64, 32, 64}, {5, 7, 3}, {37, 45, 29}, {130, 70, 140}, {9, 4, 6}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        tri_case(BPRT_TRI_C_LOWER, 0, 1, M, N, K, 0.37, 0, s);
        tri_case(BPRT_TRI_C_LOWER, 1, 0, M, N, K, 1, 0.5, s);
        tri_case(BPRT_TRI_A_LOWER, 0, 0, M, N, K, 1, 0, s);
        tri_case(BPRT_TRI_A_LOWER, 0, 1, M, N, K, 0.5, 1, s);
        tri_case(BPRT_TRI_A_UPPER, 1, 0, M, N, K, 1, 0, s);
        tri_case(BPRT_TRI_A_UPPER, 0, 0, M, N, K, 2, 0.25, s);
    }
    tri_case(BPRT_TRI_C_LOWER, 0, 1, 6, 5, 0, 1, 0.5, 9); /* K = 0: beta C, the upper part 0 */
}

/* Each mode against the double product, on every ISA and thread count. */
static void test_tri_products(void **state)
{
    (void)state;
    on_every_isa_and_threads(tri_cases);
}

/* bprt_?gemm_batch_softmax and _softmax_grad against the same steps one call each (the
 * product through bprt_?gemm_batch_tri with its mode, then the mask, the softmax, or
 * softmax_grad and the scaling): the same values, the gradient also when written over y.
 * T queries and S keys over a batch of 3; S = 300 takes the causal softmax's rows longer
 * than its block, 70 its groups' edges. */
#define SM_CASE(T, SUF, GEMM)                                                                      \
    static void sm_case_##SUF(int Tq, int S, int K, int causal, uint64_t seed)                     \
    {                                                                                              \
        const size_t nb = 3, nq = nb * Tq * K, nk = nb * S * K, ns = nb * Tq * S;                  \
        T *q = malloc(nq * sizeof *q), *k = malloc(nk * sizeof *k), *g = malloc(nq * sizeof *g);  \
        T *y = malloc(ns * sizeof *y), *y2 = malloc(ns * sizeof *y2), *t = malloc(ns * sizeof *t); \
        T *d = malloc(ns * sizeof *d), *d2 = malloc(ns * sizeof *d2);                              \
        bprt_fill_uniform_##SUF(q, nq, -2, 2, 41, seed);                                           \
        bprt_fill_uniform_##SUF(k, nk, -2, 2, 42, seed);                                           \
        bprt_fill_uniform_##SUF(g, nq, -1, 1, 43, seed);                                           \
        const size_t dims[1] = {nb}, sq[1] = {(size_t)Tq * K}, sk[1] = {(size_t)S * K}, ss[1] = {(size_t)Tq * S}; \
        const int tri = causal ? BPRT_TRI_C_LOWER : BPRT_TRI_NONE;                                 \
        const T alpha = (T)0.37, scale = (T)0.7;                                                   \
        GEMM##_batch_tri(0, 1, Tq, S, K, alpha, q, K, k, K, 0, t, S, 1, dims, sq, sk, ss, 0, tri); \
        if (causal) bprt_causal_mask_##SUF(t, nb, Tq, S, -INFINITY, t);                           \
        bprt_softmax_##SUF(t, nb * Tq, S, y);                                                      \
        GEMM##_batch_softmax(0, 1, Tq, S, K, alpha, q, K, k, K, 0, y2, S, 1, dims, sq, sk, ss, 0, causal); \
        for (size_t i = 0; i < ns; i++)                                                            \
            if (!(y2[i] == y[i]))                                                                  \
                fail_msg(#SUF " softmax %dx%dx%d causal %d: [%zu] %.17g, one call each %.17g", Tq, S, K, causal, \
                         i, (double)y2[i], (double)y[i]);                                          \
        /* the gradient at y of g @ k^T (Tq x S), scaled */                                        \
        GEMM##_batch_tri(0, 1, Tq, S, K, 1, g, K, k, K, 0, t, S, 1, dims, sq, sk, ss, 0, tri);     \
        bprt_softmax_grad_##SUF(y, t, nb * Tq, S, d);                                              \
        for (size_t i = 0; i < ns; i++) d[i] = d[i] * scale;                                       \
        GEMM##_batch_softmax_grad(0, 1, Tq, S, K, 1, g, K, k, K, 0, d2, S, 1, dims, sq, sk, ss, 0, y, causal, 1, \
                                  scale, NULL);                                                    \
        for (size_t i = 0; i < ns; i++)                                                            \
            if (!(d2[i] == d[i]))                                                                  \
                fail_msg(#SUF " softmax_grad %dx%dx%d causal %d: [%zu] %.17g, one call each %.17g", Tq, S, K, \
                         causal, i, (double)d2[i], (double)d[i]);                                  \
        memcpy(d2, y, ns * sizeof *d2); /* written over the weights (C = Y) */                    \
        GEMM##_batch_softmax_grad(0, 1, Tq, S, K, 1, g, K, k, K, 0, d2, S, 1, dims, sq, sk, ss, 0, d2, causal, 1, \
                                  scale, NULL);                                                    \
        for (size_t i = 0; i < ns; i++)                                                            \
            if (!(d2[i] == d[i]))                                                                  \
                fail_msg(#SUF " softmax_grad over y %dx%dx%d causal %d: [%zu] %.17g, one call each %.17g", Tq, S, \
                         K, causal, i, (double)d2[i], (double)d[i]);                               \
        free(q), free(k), free(g), free(y), free(y2), free(t), free(d), free(d2);                  \
    }
SM_CASE(float, f32, bprt_sgemm)
SM_CASE(double, f64, bprt_dgemm)

static void sm_cases(void)
{
    static const int shapes[][3] = {{64, 64, 32}, {5, 7, 3}, {9, 4, 6}, {70, 70, 5}, {3, 300, 8}, {1, 1, 4}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int causal = 0; causal < 2; causal++) {
            sm_case_f32(shapes[s][0], shapes[s][1], shapes[s][2], causal, s);
            sm_case_f64(shapes[s][0], shapes[s][1], shapes[s][2], causal, s);
        }
}

static void test_attention_softmax_calls(void **state)
{
    (void)state;
    on_every_isa_and_threads(sm_cases);
}

/* bprt_sum_axis (sums along the middle axis of [O, R, I]) and bprt_transpose (the last two
 * axes of [Bt, M, N]) against loops written out, on integer values (every sum exact): inner
 * extents I of 1, short, and at and across multiples of the 128 columns a work item sums
 * (with several outer O), and matrices of more than one 32 x 32 tile each way, with ragged
 * edges. */
static void test_sum_axis_transpose(void **state)
{
    (void)state;
    static const size_t sums[][3] = {{1, 1, 1}, {3, 5, 1}, {2, 9, 7}, {3, 4, 128}, {2, 3, 256}, {4, 2, 300}, {1, 300, 1}};
    for (size_t c = 0; c < sizeof sums / sizeof sums[0]; c++) {
        const size_t O = sums[c][0], R = sums[c][1], I = sums[c][2], n = O * R * I;
        double *x = malloc(n * sizeof *x), *y = malloc(O * I * sizeof *y);
        float *xf = malloc(n * sizeof *xf), *yf = malloc(O * I * sizeof *yf);
        assert_non_null(x), assert_non_null(y), assert_non_null(xf), assert_non_null(yf);
        for (size_t i = 0; i < n; i++) x[i] = (double)((i * 7919) % 61) - 30, xf[i] = (float)x[i];
        for (size_t i = 0; i < O * I; i++) y[i] = (double)NAN, yf[i] = NAN; /* every result must be written */
        bprt_sum_axis_f64(x, O, R, I, y);
        bprt_sum_axis_f32(xf, O, R, I, yf);
        for (size_t o = 0; o < O; o++)
            for (size_t i = 0; i < I; i++) {
                double want = 0;
                for (size_t r = 0; r < R; r++) want += x[(o * R + r) * I + i];
                if (y[o * I + i] != want || (double)yf[o * I + i] != want)
                    fail_msg("sum_axis [%zu, %zu, %zu] at (%zu, %zu): %g and %g, want %g", O, R, I, o, i, y[o * I + i],
                             (double)yf[o * I + i], want);
            }
        free(x), free(y), free(xf), free(yf);
    }
    static const size_t tr[][3] = {{1, 1, 1}, {2, 3, 5}, {1, 33, 70}, {2, 64, 31}, {1, 65, 97}};
    for (size_t c = 0; c < sizeof tr / sizeof tr[0]; c++) {
        const size_t Bt = tr[c][0], M = tr[c][1], N = tr[c][2], n = Bt * M * N;
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        float *xf = malloc(n * sizeof *xf), *yf = malloc(n * sizeof *yf);
        assert_non_null(x), assert_non_null(y), assert_non_null(xf), assert_non_null(yf);
        for (size_t i = 0; i < n; i++) x[i] = (double)i, xf[i] = (float)i, y[i] = (double)NAN, yf[i] = NAN;
        bprt_transpose_f64(x, Bt, M, N, y);
        bprt_transpose_f32(xf, Bt, M, N, yf);
        for (size_t b = 0; b < Bt; b++)
            for (size_t i = 0; i < M; i++)
                for (size_t j = 0; j < N; j++) {
                    const double want = x[(b * M + i) * N + j];
                    const size_t at = (b * N + j) * M + i;
                    if (y[at] != want || (double)yf[at] != want)
                        fail_msg("transpose [%zu, %zu, %zu] at (%zu, %zu, %zu): %g and %g, want %g", Bt, M, N, b, i, j,
                                 y[at], (double)yf[at], want);
                }
        free(x), free(y), free(xf), free(yf);
    }
}

/* bprt_max_axis, bprt_logsumexp_axis, bprt_softmax_axis and bprt_log_softmax_axis (along the
 * middle axis of [O, R, I], blocked by rows) against the loops the generated code ran before
 * them, one column at a time with an exp call per value: the same bits, in f32 and f64, on
 * every ISA and on 1 and 2 threads, softmax and log_softmax also in place. Inner extents of 1
 * (rows, their exponentials in blocks of 128), short, at and across the 128 columns of a block,
 * past the size where the threads split; a NaN, a +inf and an all -inf column (and row). */
enum { AXT_MAX, AXT_LSE, AXT_SOFTMAX, AXT_LOG_SOFTMAX };
#define AXIS_CASES(T, SUF)                                                                         \
    static void axis_ref_##SUF(int op, const T *x, size_t O, size_t R, size_t I, T *y) {           \
        for (size_t o = 0; o < O; o++)                                                             \
            for (size_t j = 0; j < I; j++) {                                                       \
                const T *src = x + o * R * I + j;                                                  \
                T *dst = y + o * R * I + j, *red = y + o * I + j;                                  \
                T m = src[0];                                                                      \
                for (size_t r = 1; r < R; r++)                                                     \
                    if (src[r * I] > m || (op != AXT_SOFTMAX && src[r * I] != src[r * I])) m = src[r * I]; \
                if (op == AXT_MAX || (op == AXT_LSE && isinf(m))) {                                \
                    *red = m;                                                                      \
                    continue;                                                                      \
                }                                                                                  \
                double acc = 0;                                                                    \
                for (size_t r = 0; r < R; r++) {                                                   \
                    T d = src[r * I] - m, e;                                                       \
                    bprt_exp_##SUF(&d, &e, 1);                                                     \
                    if (op == AXT_SOFTMAX) dst[r * I] = e;                                         \
                    acc += (double)e;                                                              \
                }                                                                                  \
                if (op == AXT_LSE) *red = m + (T)log(acc);                                         \
                for (size_t r = 0; op == AXT_SOFTMAX && r < R; r++) dst[r * I] = (T)((double)dst[r * I] / acc); \
                const T ls = (T)log(acc);                                                          \
                for (size_t r = 0; op == AXT_LOG_SOFTMAX && r < R; r++) dst[r * I] = (src[r * I] - m) - ls; \
            }                                                                                      \
    }                                                                                              \
    static void axis_run_##SUF(int op, const T *x, size_t O, size_t R, size_t I, T *y) {           \
        if (op == AXT_MAX) bprt_max_axis_##SUF(x, O, R, I, y);                                     \
        else if (op == AXT_LSE) bprt_logsumexp_axis_##SUF(x, O, R, I, y);                          \
        else if (op == AXT_SOFTMAX) bprt_softmax_axis_##SUF(x, O, R, I, y);                        \
        else bprt_log_softmax_axis_##SUF(x, O, R, I, y);                                           \
    }                                                                                              \
    static void axis_cases_##SUF(void) {                                                           \
        static const size_t shapes[][3] = {{1, 1, 1}, {3, 5, 1},   {2, 9, 7},   {3, 4, 128}, {2, 3, 256}, \
                                           {4, 2, 300}, {1, 300, 1}, {2, 130, 130}, {300, 120, 1}, {3, 200, 1}}; \
        for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {                            \
            const size_t O = shapes[c][0], R = shapes[c][1], I = shapes[c][2], n = O * R * I;      \
            T *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *want = malloc(n * sizeof *want); \
            assert_non_null(x), assert_non_null(y), assert_non_null(want);                         \
            for (size_t i = 0; i < n; i++) x[i] = (T)(20 * sin(0.37 * (double)i + 0.1 * (double)c)); \
            if (I >= 7 && R >= 3) { /* columns 2, 4 and 6 of the first block: NaN, +inf, all -inf */ \
                x[1 * I + 2] = (T)NAN, x[2 * I + 4] = (T)INFINITY;                                 \
                for (size_t r = 0; r < R; r++) x[r * I + 6] = (T)-INFINITY;                        \
            }                                                                                      \
            if (I == 1 && O >= 3 && R >= 3) { /* rows 0, 1 and 2: NaN, +inf, all -inf */           \
                x[1] = (T)NAN, x[R + 2] = (T)INFINITY;                                             \
                for (size_t r = 0; r < R; r++) x[2 * R + r] = (T)-INFINITY;                        \
            }                                                                                      \
            for (int op = AXT_MAX; op <= AXT_LOG_SOFTMAX; op++) {                                  \
                const size_t ny = op == AXT_MAX || op == AXT_LSE ? O * I : n;                      \
                for (size_t i = 0; i < n; i++) y[i] = want[i] = (T)12345;                          \
                axis_ref_##SUF(op, x, O, R, I, want);                                              \
                for (int inplace = 0; inplace <= (op >= AXT_SOFTMAX); inplace++) {                 \
                    if (inplace) memcpy(y, x, n * sizeof *y);                                      \
                    axis_run_##SUF(op, inplace ? y : x, O, R, I, y);                               \
                    if (memcmp(y, want, ny * sizeof *y) != 0)                                      \
                        for (size_t i = 0; i < ny; i++)                                            \
                            if (memcmp(&y[i], &want[i], sizeof *y) != 0)                           \
                                fail_msg(#SUF " axis op %d [%zu, %zu, %zu]%s at %zu: %.9g, want %.9g (%s, %d threads)", \
                                         op, O, R, I, inplace ? " in place" : "", i, (double)y[i], (double)want[i], \
                                         bprt_isa(), bprt_threads());                              \
                }                                                                                  \
            }                                                                                      \
            free(x), free(y), free(want);                                                          \
        }                                                                                          \
    }
AXIS_CASES(float, f32)
AXIS_CASES(double, f64)
static void axis_cases(void)
{
    axis_cases_f32();
    axis_cases_f64();
}
static void test_axis_ops(void **state)
{
    (void)state;
    on_every_isa_and_threads(axis_cases);
}

/* A product (bprt_?gemm, or with sums P > 0 bprt_?gemm_ew_sum with eps_code's epilogue into
 * O and its sums into y) of fixed operands, f32 or f64; run (below) on a thread of its own. */
typedef struct NoScratch {
    int f32, tA, tB, M, N, K, P;
    double beta;
    unsigned fail; /* bprt_scratch_fail's slots while it runs */
    void *C, *O, *y; /* results: C (M x N), O (M x N) and y (P x N) with P */
} NoScratch;

#define NO_SCRATCH_RUN(T, SUF)                                                                     \
    static void no_scratch_##SUF(NoScratch *r) {                                                   \
        const int M = r->M, N = r->N, K = r->K, lda = r->tA ? M : K, ldb = r->tB ? K : N;         \
        const size_t na = (size_t)M * K + 1, nb = (size_t)K * N + 1, nc = (size_t)M * N + 1;       \
        T *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *X = malloc(nc * sizeof *X);   \
        T *C = r->C, *O = r->O, *y = r->y;                                                         \
        for (size_t i = 0; i < na; i++) A[i] = (T)sin(0.37 * (double)i);                           \
        for (size_t i = 0; i < nb; i++) B[i] = (T)cos(0.11 * (double)i);                           \
        for (size_t i = 0; i < nc; i++) X[i] = (T)(0.5 + sin(0.05 * (double)i)), C[i] = (T)(0.25 * (double)(i % 7)); \
        if (r->P > 0) {                                                                            \
            const double konst[1] = {0};                                                           \
            const unsigned char vec[2] = {1, 1};                                                   \
            const ptrdiff_t ld[2] = {N, N};                                                        \
            const T *lr[2] = {C, X};                                                               \
            bprt_##SUF##gemm_ew_sum(r->tA, r->tB, M, N, K, (T)1, A, lda, B, ldb, (T)0, C, N, eps_code, EPS_NCODE, \
                                    konst, lr, 2, ld, vec, O, N, y, (size_t)r->P);                 \
        } else                                                                                     \
            bprt_##SUF##gemm(r->tA, r->tB, M, N, K, (T)1, A, lda, B, ldb, (T)r->beta, C, N);       \
        free(A), free(B), free(X);                                                                 \
    }
NO_SCRATCH_RUN(float, s)
NO_SCRATCH_RUN(double, d)

static void *no_scratch_thread(void *arg)
{
    NoScratch *r = arg;
    bprt_scratch_fail(r->fail);
    if (r->f32)
        no_scratch_s(r);
    else
        no_scratch_d(r);
    bprt_scratch_fail(0);
    return NULL;
}

/* Kernels whose buffer cannot be had (bprt_scratch_fail, on a new thread: its buffers are
 * all still to be made) give the bits they give with it: the GEMM's transposed paths
 * (slot 3: A^T B of few columns on wide tiles, A^T B as (B^T A)^T, A B^T as (B A^T)^T)
 * leave the product to the tiles, and gemm_ew_sum's sums (slot 4) are a pass over its
 * output afterwards. Both used to abort(). On 1 and 2 threads, under every ISA. */
static void test_without_scratch(void **state)
{
    (void)state;
    /* tA, tB, M, N, K, beta, P (the slot that fails: 3 for a product, 4 for sums) */
    static const int shapes[][7] = {
        {1, 0, 256, 10, 256, 0, 0}, {1, 0, 256, 10, 256, 1, 0}, {1, 0, 40, 3, 100, 0, 0}, /* A^T B, few columns */
        {1, 0, 300, 64, 600, 0, 0}, {1, 0, 520, 200, 1030, 0, 0},                         /* (B^T A)^T */
        {0, 1, 64, 512, 256, 0, 0}, {0, 1, 16, 512, 256, 0, 0}, {0, 1, 40, 300, 64, 0, 0}, /* (B A^T)^T */
        {0, 1, 256, 256, 10, 0, 1}, {0, 0, 2048, 128, 512, 0, 64}, {1, 0, 520, 70, 96, 0, 5}, /* sums */
        {0, 0, 130, 90, 1100, 0, 2}, {0, 0, 256, 10, 256, 0, 2}, {1, 0, 33, 1, 29, 0, 3},
        {1, 0, 256, 10, 256, 0, 2},                                  /* sums of an A^T B of few columns */
    };
    const int threads = bprt_threads();
    const char *isa = bprt_isa();
    int checked = 0;
    for (size_t s = 0; s < sizeof all_isas / sizeof all_isas[0]; s++) {
        if (bprt_set_isa(all_isas[s]) != 0)
            continue;
        for (int nt = 1; nt <= 2; nt++) {
            bprt_set_threads(nt);
            for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
                for (int f32 = 0; f32 < 2; f32++) {
                    const int *c = shapes[i];
                    const size_t nc = (size_t)c[2] * c[3] + 1, ny = (size_t)(c[6] ? c[6] : 1) * c[3] + 1;
                    const size_t es = f32 ? sizeof(float) : sizeof(double);
                    NoScratch r[2];
                    for (int k = 0; k < 2; k++) {
                        r[k] = (NoScratch){f32, c[0], c[1], c[2], c[3], c[4], c[6], c[5], k ? 1u << (c[6] ? 4 : 3) : 0,
                                           calloc(nc, es), calloc(nc, es), calloc(ny, es)};
                        pthread_t th;
                        assert_int_equal(pthread_create(&th, NULL, no_scratch_thread, &r[k]), 0);
                        assert_int_equal(pthread_join(th, NULL), 0);
                    }
                    if (memcmp(r[0].C, r[1].C, nc * es) != 0 || memcmp(r[0].O, r[1].O, nc * es) != 0 ||
                        memcmp(r[0].y, r[1].y, ny * es) != 0)
                        fail_msg("%s %s tA=%d tB=%d M=%d N=%d K=%d beta=%d P=%d on %d threads: other bits without "
                                 "scratch", all_isas[s], f32 ? "f32" : "f64", c[0], c[1], c[2], c[3], c[4], c[5],
                                 c[6], nt);
                    for (int k = 0; k < 2; k++)
                        free(r[k].C), free(r[k].O), free(r[k].y);
                    checked++;
                }
        }
    }
    assert_int_equal(bprt_set_isa(isa), 0);
    bprt_set_threads(threads);
    assert_true(checked > 0);
}

#ifdef BPRT_KERNEL_CHECKS
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the sanitizer builds the per-ISA kernels are not instrumented; the driver checks each
 * kernel call's operands (runtime/kernel_check.h). One product per way a kernel reads or
 * writes an operand, with that operand (which: A, B or C) one element short, in float
 * (prec 's') or double ('d'), run in a child of fork(): it must abort with the message of
 * this ISA's kernel naming the operand it reads it as (`operand`: pack_t's src, dot's x, ...),
 * not pass unseen (or be caught by ASan in the driver's own code first). */
typedef struct Short {
    char prec;
    int tA, tB, M, N, K;
    char which;
    const char *operand;
} Short;

static void short_operand(const char *isa, const Short *c)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        alarm(20);
        if (bprt_set_isa(isa) != 0)
            _exit(3);
        const size_t size = c->prec == 'd' ? sizeof(double) : sizeof(float);
        size_t na = (size_t)c->M * c->K - (c->which == 'A'), nb = (size_t)c->K * c->N - (c->which == 'B'),
               nc = (size_t)c->M * c->N - (c->which == 'C');
        void *a = calloc(na, size), *b = calloc(nb, size), *cm = calloc(nc, size);
        const int lda = c->tA ? c->M : c->K, ldb = c->tB ? c->K : c->N;
        if (c->prec == 'd')
            bprt_dgemm(c->tA, c->tB, c->M, c->N, c->K, 1, a, lda, b, ldb, 0, cm, c->N);
        else
            bprt_sgemm(c->tA, c->tB, c->M, c->N, c->K, 1, a, lda, b, ldb, 0, cm, c->N);
        _exit(0);
    }
    close(fd[1]);
    char out[8192];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char kernel[64], operand[32];
    snprintf(kernel, sizeof kernel, "bprt: kernel bprt_kernel_f%s_%s", c->prec == 'd' ? "64" : "32", isa);
    snprintf(operand, sizeof operand, ": operand %s,", c->operand);
    const char *k = strstr(out, kernel);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) || !k || !strstr(k, operand)) {
        print_error("%s, %c %d%d %d x %d x %d, %c one element short: status %d, wanted '%s...%s' in:\n%.2000s\n", isa,
                    c->prec, c->tA, c->tB, c->M, c->N, c->K, c->which, status, kernel, operand, out);
        fail();
    }
    print_message("%s, %cgemm(%d, %d) %d x %d x %d, %c short: %.*s\n", isa, c->prec, c->tA, c->tB, c->M, c->N, c->K,
                  c->which, (int)strcspn(k, ","), k);
}

static void test_kernel_checks(void **state)
{
    (void)state;
    static const Short cases[] = {
        {'s', 0, 0, 3, 64, 50, 'A', "A"},     /* strips */
        {'s', 0, 0, 12, 64, 50, 'A', "A"},    /* tile_rows */
        {'s', 1, 0, 300, 64, 50, 'A', "A"},   /* tile, A transposed read in place */
        {'s', 0, 1, 300, 64, 50, 'B', "src"}, /* pack_t of a transposed B */
        {'s', 0, 0, 1, 64, 50, 'B', "B"},     /* gemv */
        {'s', 0, 1, 1, 64, 50, 'B', "x"},     /* dot: one row against B transposed */
        {'s', 0, 0, 300, 64, 1, 'C', "C"},    /* ger: K = 1 */
        {'s', 0, 0, 3, 64, 50, 'C', "C"},     /* strips */
        {'s', 0, 0, 12, 64, 50, 'C', "C"},    /* tile_rows */
        {'s', 0, 0, 300, 10, 50, 'C', "C"},   /* few columns */
        {'d', 0, 0, 3, 64, 50, 'A', "A"},     {'d', 0, 0, 12, 64, 50, 'C', "C"},
        {'d', 1, 0, 300, 64, 50, 'A', "A"},   {'d', 0, 0, 1, 64, 50, 'B', "B"},
    };
    char was[16];
    snprintf(was, sizeof was, "%s", bprt_isa());
    int checked = 0;
    for (size_t s = 0; s < sizeof all_isas / sizeof all_isas[0]; s++) {
        if (bprt_set_isa(all_isas[s]) != 0)
            continue;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            short_operand(all_isas[s], &cases[i]);
        checked++;
    }
    assert_int_equal(bprt_set_isa(was), 0);
    assert_true(checked > 0);
}

/* A leading dimension of a matrix with one row may be anything (bprt.h), negative too: the
 * checks look only at the strides a call uses. */
static void test_kernel_checks_one_row(void **state)
{
    (void)state;
    float a[64], b[64], c[64];
    for (int i = 0; i < 64; i++)
        a[i] = (float)(i % 7), b[i] = (float)(i % 5);
    bprt_sgemm(0, 0, 1, 64, 1, 1, a, -1, b, -1, 0, c, -1); /* 1 x 64 x 1: B has one row */
    for (int j = 0; j < 64; j++)
        assert_true(c[j] == a[0] * b[j]);
    bprt_sgemm(1, 1, 64, 1, 1, 1, a, -1, b, -1, 0, c, 1); /* 64 x 1 x 1, A and B transposed */
    for (int i = 0; i < 64; i++)
        assert_true(c[i] == a[i] * b[0]);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef BPRT_KERNEL_CHECKS
        cmocka_unit_test(test_kernel_checks),
        cmocka_unit_test(test_kernel_checks_one_row),
#endif
        cmocka_unit_test(test_isa_names),
        cmocka_unit_test(test_isa_choose),
        cmocka_unit_test(test_sum_axis_transpose),
        cmocka_unit_test(test_axis_ops),
        cmocka_unit_test(test_small_sizes),
        cmocka_unit_test(test_transposes_alpha_beta),
        cmocka_unit_test(test_large_threaded),
        cmocka_unit_test(test_narrow_rowdot),
        cmocka_unit_test(test_batched_sums),
        cmocka_unit_test(test_batched_head_sums),
        cmocka_unit_test(test_gemm_epilogue),
        cmocka_unit_test(test_gemm_epilogue_sum),
        cmocka_unit_test(test_ew_rows_par),
        cmocka_unit_test(test_epilogue_threads),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_rows_owned_same_bits),
        cmocka_unit_test(test_zero_factors_skipped),
        cmocka_unit_test(test_strips_same_bits),
        cmocka_unit_test(test_rows_in_place_same_bits),
        cmocka_unit_test(test_at_b_same_bits),
        cmocka_unit_test(test_b_alias_same_bits),
        cmocka_unit_test(test_at_alias_same_bits),
        cmocka_unit_test(test_narrow_transposed_same_bits),
        cmocka_unit_test(test_transposed_product_same_bits),
        cmocka_unit_test(test_tri_products),
        cmocka_unit_test(test_attention_softmax_calls),
        cmocka_unit_test(test_without_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
