/* gemm_bench.c — GFLOP/s of bprt_sgemm on the shapes of an MLP training step, at 1 and 2
 * threads, against the machine's FP32 FMA peak measured with a register-only AVX-512 FMA
 * loop (AVX2 if the CPU lacks AVX-512).
 *
 * Layers (in -> out) of fashion_mlp (784-256-10) and fashion_mlp3 (784-512-256-10), batch B;
 * per layer, row-major as the generated code calls them:
 *   fwd  Y[B,out]    = X[B,in] @ W[in,out]                 M=B   N=out K=in
 *   dW   dW[in,out]  = X^T @ G[B,out]         (transA)     M=in  N=out K=B
 *   dX   dX[B,in]    = G[B,out] @ W^T         (transB)     M=B   N=in  K=out
 * Each figure is the median of 7 timings of enough repetitions to last >= 10 ms; the
 * summary lines give a whole training step's GEMM time per model (every layer's fwd and
 * dW, dX for all but the first layer).
 * Usage: gemm_bench [isa [B]]  (isa as bprt_set_isa, "-" for the detected one; B: one
 * batch size only). */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bprt.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 24 independent FMA chains of 16 floats: 24*16*2 flops per iteration. */
__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters)
{
    __m512 acc[24];
    __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 24; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 24; i++)
        s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

/* 12 independent FMA chains of 8 floats: 12*8*2 flops per iteration. */
__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters)
{
    __m256 acc[12];
    __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    float out[8], s = 0;
    __m256 t = acc[0];
    for (int i = 1; i < 12; i++)
        t = _mm256_add_ps(t, acc[i]);
    _mm256_storeu_ps(out, t);
    for (int i = 0; i < 8; i++)
        s += out[i];
    return s;
}

/* FP32 FMA peak in GFLOP/s over `threads` threads. */
static double fma_peak(int threads, int avx512)
{
    const long iters = 50000000;
    double flops_per_iter = avx512 ? 24.0 * 16 * 2 : 12.0 * 8 * 2;
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
#pragma omp parallel num_threads(threads)
        {
            float r = avx512 ? fma_loop_avx512(iters / 10) : fma_loop_avx2(iters / 10);
#pragma omp atomic
            sink += r;
        }
        double dt = now() - t0;
        double g = flops_per_iter * (double)(iters / 10) * threads / dt * 1e-9;
        if (g > best)
            best = g;
    }
    (void)sink;
    return best;
}

typedef struct Shape {
    const char *name;
    int tA, tB, M, N, K;
} Shape;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds per call. */
static double bench_shape(const Shape *s)
{
    int lda = s->tA ? s->M : s->K, ldb = s->tB ? s->K : s->N, ldc = s->N;
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    bprt_fill_uniform_f32(A, na, -1, 1, 1, 1);
    bprt_fill_uniform_f32(B, nb, -1, 1, 1, 2);
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            bprt_sgemm(s->tA, s->tB, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        if (now() - t0 > 0.01)
            break;
        reps *= 2;
    }
    enum { RUNS = 7 };
    double t[RUNS];
    for (int rep = 0; rep < RUNS; rep++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            bprt_sgemm(s->tA, s->tB, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        t[rep] = (now() - t0) / reps;
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    free(A);
    free(B);
    free(C);
    return t[RUNS / 2];
}

typedef struct Layer {
    int in, out;
} Layer;

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "-") != 0 && bprt_set_isa(argv[1]) != 0) {
        fprintf(stderr, "gemm_bench: this CPU cannot run isa '%s'\n", argv[1]);
        return 1;
    }
    int only_b = argc > 2 ? atoi(argv[2]) : 0;
    int avx512 = __builtin_cpu_supports("avx512f");
    double peak1 = fma_peak(1, avx512), peak2 = fma_peak(2, avx512);
    printf("isa %s; FP32 FMA peak (%s register loop): 1 thread %.1f GFLOP/s, 2 threads %.1f\n",
           bprt_isa(), avx512 ? "AVX-512" : "AVX2", peak1, peak2);

    static const int batches[] = {1, 16, 64, 256};
    /* fashion_mlp: layers 0, 1; fashion_mlp3: layers 2, 3, 1 */
    static const Layer layers[] = {{784, 256}, {256, 10}, {784, 512}, {512, 256}};
    static const int model_layers[2][4] = {{0, 1, -1}, {2, 3, 1, -1}};
    static const char *const model_names[2] = {"fashion_mlp", "fashion_mlp3"};
    enum { NL = sizeof layers / sizeof layers[0] };
    printf("%-4s %-9s %4s %4s %4s %4s | %8s %6s | %8s %6s | %5s\n", "op", "layer", "tA/B", "M",
           "N", "K", "1t GF/s", "%peak", "2t GF/s", "%peak", "2t/1t");
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        int b = batches[bi];
        if (only_b && b != only_b)
            continue;
        double secs[NL][3][2]; /* layer, op, threads-1 */
        for (int li = 0; li < NL; li++) {
            int in = layers[li].in, out = layers[li].out;
            Shape shapes[3] = {
                {"fwd", 0, 0, b, out, in},
                {"dW", 1, 0, in, out, b},
                {"dX", 0, 1, b, in, out},
            };
            for (int si = 0; si < 3; si++) {
                const Shape *s = &shapes[si];
                double flops = 2.0 * s->M * s->N * s->K;
                bprt_set_threads(1);
                double t1 = bench_shape(s);
                bprt_set_threads(2);
                double t2 = bench_shape(s);
                secs[li][si][0] = t1;
                secs[li][si][1] = t2;
                double g1 = flops / t1 * 1e-9, g2 = flops / t2 * 1e-9;
                char lname[16];
                snprintf(lname, sizeof lname, "%d-%d", in, out);
                printf("%-4s %-9s %d/%d  %4d %4d %4d | %8.1f %5.0f%% | %8.1f %5.0f%% | %5.2f\n",
                       s->name, lname, s->tA, s->tB, s->M, s->N, s->K, g1, 100 * g1 / peak1, g2,
                       100 * g2 / peak2, t1 / t2);
            }
        }
        for (int mi = 0; mi < 2; mi++) {
            double flops = 0, t[2] = {0, 0};
            for (int x = 0; x < 4 && model_layers[mi][x] >= 0; x++) {
                int li = model_layers[mi][x];
                double f = 2.0 * b * layers[li].in * layers[li].out;
                for (int si = 0; si < 3; si++) {
                    if (si == 2 && x == 0)
                        continue; /* no input gradient for the data */
                    flops += f;
                    t[0] += secs[li][si][0];
                    t[1] += secs[li][si][1];
                }
            }
            printf("step %-12s B=%-3d: 1t %8.1f us %6.1f GF/s (%3.0f%%) | 2t %8.1f us %6.1f GF/s "
                   "(%3.0f%%)\n",
                   model_names[mi], b, t[0] * 1e6, flops / t[0] * 1e-9, 100 * flops / t[0] * 1e-9 / peak1,
                   t[1] * 1e6, flops / t[1] * 1e-9, 100 * flops / t[1] * 1e-9 / peak2);
        }
    }
    return 0;
}
