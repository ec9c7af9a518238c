/* gemm_bench.c — GFLOP/s of bprt_sgemm on the shapes of an MLP training step (784-256-..
 * network, batch B), at 1 and 2 threads, against the machine's FP32 FMA peak measured
 * with a register-only AVX-512 FMA loop (AVX2 if the CPU lacks AVX-512).
 *
 * Shapes (row-major, as the generated code calls them):
 *   fwd   Y[B,256]   = X[B,784] @ W[784,256]           M=B   N=256 K=784
 *   dW    dW[784,256] = X^T @ G[B,256]    (transA)      M=784 N=256 K=B
 *   dX    dX[B,784]  = G[B,256] @ W^T     (transB)      M=B   N=784 K=256
 *   h2h   Y[B,256]   = H[B,256] @ W[256,256]            M=B   N=256 K=256
 * Each timing is the best of 5 runs of enough repetitions to last >= 20 ms.
 * Usage: gemm_bench [isa]  (isa as bprt_set_isa; default: the detected one). */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
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

static double bench_shape(const Shape *s)
{
    int lda = s->tA ? s->M : s->K, ldb = s->tB ? s->K : s->N, ldc = s->N;
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    bprt_fill_uniform_f32(A, na, -1, 1, 1, 1);
    bprt_fill_uniform_f32(B, nb, -1, 1, 1, 2);
    double flops = 2.0 * s->M * s->N * s->K;
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            bprt_sgemm(s->tA, s->tB, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        if (now() - t0 > 0.02)
            break;
        reps *= 2;
    }
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            bprt_sgemm(s->tA, s->tB, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        double dt = (now() - t0) / reps;
        if (dt < best)
            best = dt;
    }
    free(A);
    free(B);
    free(C);
    return flops / best * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc > 1 && bprt_set_isa(argv[1]) != 0) {
        fprintf(stderr, "gemm_bench: this CPU cannot run isa '%s'\n", argv[1]);
        return 1;
    }
    int avx512 = __builtin_cpu_supports("avx512f");
    double peak1 = fma_peak(1, avx512), peak2 = fma_peak(2, avx512);
    printf("isa %s; FP32 FMA peak (%s register loop): 1 thread %.1f GFLOP/s, 2 threads %.1f\n",
           bprt_isa(), avx512 ? "AVX-512" : "AVX2", peak1, peak2);

    static const int batches[] = {1, 16, 32, 64, 128, 256};
    printf("%-5s %4s %4s %4s %4s | %9s %6s | %9s %6s\n", "shape", "tA/B", "M", "N", "K",
           "1t GF/s", "%peak", "2t GF/s", "%peak");
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        int b = batches[bi];
        Shape shapes[] = {
            {"fwd", 0, 0, b, 256, 784},
            {"dW", 1, 0, 784, 256, b},
            {"dX", 0, 1, b, 784, 256},
            {"h2h", 0, 0, b, 256, 256},
        };
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const Shape *s = &shapes[si];
            bprt_set_threads(1);
            double g1 = bench_shape(s);
            bprt_set_threads(2);
            double g2 = bench_shape(s);
            printf("%-5s %d/%d  %4d %4d %4d | %9.1f %5.0f%% | %9.1f %5.0f%%\n", s->name, s->tA,
                   s->tB, s->M, s->N, s->K, g1, 100 * g1 / peak1, g2, 100 * g2 / peak2);
        }
    }
    return 0;
}
