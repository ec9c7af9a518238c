/* peak.c — the machine's measured FP32 FMA peak, the yardstick of issue 8's "% of peak".
 *
 * A loop of independent FMA chains that lives in registers (no loads or stores), enough
 * chains to cover the FMA latency on every port: 12 zmm chains with AVX-512 (16 floats each),
 * 12 ymm chains with AVX2+FMA (8 floats) when the CPU lacks AVX-512 (__builtin_cpu_supports).
 * One thread per core, each running the loop; the figure is the best of 5 runs.
 *
 * usage: peak [THREADS...]        default: 1 2
 * prints "peak <threads> <GFLOP/s> GFLOP/s <isa>" per thread count. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHAINS = 12 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CHAINS x 16 floats x 2 flops per iteration */
__attribute__((target("avx512f"))) static float fma_avx512(long iters) {
    __m512 acc[CHAINS];
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    }
    for (int i = 1; i < CHAINS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

/* CHAINS x 8 floats x 2 flops per iteration */
__attribute__((target("avx2,fma"))) static float fma_avx2(long iters) {
    __m256 acc[CHAINS];
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    for (int i = 1; i < CHAINS; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
    float out[8], s = 0;
    _mm256_storeu_ps(out, acc[0]);
    for (int i = 0; i < 8; i++) s += out[i];
    return s;
}

/* GFLOP/s of `threads` threads each running the FMA loop for `iters` iterations. */
static double peak(int threads, int avx512, long iters) {
    const double flops = (double)CHAINS * (avx512 ? 16 : 8) * 2 * (double)iters * threads;
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
#pragma omp parallel num_threads(threads)
        {
            float r = avx512 ? fma_avx512(iters) : fma_avx2(iters);
#pragma omp atomic
            sink += r;
        }
        double g = flops / (now() - t0) * 1e-9;
        best = g > best ? g : best;
    }
    return best;
}

int main(int argc, char **argv) {
    const int avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        fprintf(stderr, "peak: this CPU has neither AVX-512 nor AVX2+FMA\n");
        return 1;
    }
    /* 12 FMAs per iteration at 2 per cycle: ~0.1 s per run at 3 GHz */
    const long iters = 40000000;
    (void)peak(1, avx512, iters / 10); /* warm up: clocks, page-in */
    static char *const defaults[] = {"peak", "1", "2"};
    if (argc < 2) {
        argc = 3;
        argv = (char **)defaults;
    }
    for (int i = 1; i < argc; i++) {
        int t = atoi(argv[i]);
        if (t < 1) continue;
        printf("peak %d %.1f GFLOP/s %s\n", t, peak(t, avx512, iters), avx512 ? "avx512" : "avx2");
        fflush(stdout);
    }
    return 0;
}
