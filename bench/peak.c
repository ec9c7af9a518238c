/* peak.c — the machine's measured FP32 FMA peak, the yardstick of issue 8's "% of peak".
 *
 * A loop of independent FMA chains that lives in registers (no loads or stores), enough
 * chains to cover the FMA latency on every port: 12 zmm chains with AVX-512 (16 floats each),
 * 12 ymm chains with AVX2+FMA (8 floats) when the CPU lacks AVX-512 (__builtin_cpu_supports).
 * One thread per core, each running the loop; the figure is the best of 5 runs.
 *
 * With traffic=N (N parameters, any number of them), it also measures the memory floor of a
 * batch-1 training step over N float parameters: the bytes no such step can avoid moving,
 * moved by the simplest loop. The forward product reads every weight once (4 bytes); after
 * the backward pass the update reads and writes what it keeps per parameter: SGD the
 * weight (8 bytes), Adam the weight and its two moments (24). A step cannot do its forward
 * read and its update in one pass (the update needs the gradient, which needs the forward
 * pass), so the floor is one read pass and one read-write pass, on arrays already in the
 * caches as they are in training. SGD's pass adds a constant to each weight; Adam's does
 * Adam's arithmetic, which an exact update cannot skip: both moments' multiply-adds, a square
 * root and a division per weight (its gradient a multiple of the weight). In zmm (ymm without
 * AVX-512) registers, each thread on its own contiguous share with no barrier between the
 * passes: an optimistic bound, as the FMA peak is.
 *
 * usage: peak [THREADS...] [traffic=N...]        default threads: 1 2
 * prints "peak <threads> <GFLOP/s> GFLOP/s <isa>" per thread count, and
 * "traffic <threads> <N> sgd|adam <ms>" per thread count and N (the best of 5 runs). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Over [lo, hi): sums the weights a[0] (the forward read), then updates them in one pass:
 * k = 1, SGD, adds c to each; k = 3, Adam, with its moments a[1] and a[2]. */
__attribute__((target("avx512f"))) static float traffic_avx512(float *const *a, int k, long lo, long hi) {
    __m512 s = _mm512_setzero_ps();
    const __m512 c = _mm512_set1_ps(1e-7f);
    for (long i = lo; i < hi; i += 16) s = _mm512_add_ps(s, _mm512_load_ps(a[0] + i));
    if (k == 1) {
        for (long i = lo; i < hi; i += 16) _mm512_store_ps(a[0] + i, _mm512_add_ps(_mm512_load_ps(a[0] + i), c));
        return _mm512_reduce_add_ps(s);
    }
    const __m512 b1 = _mm512_set1_ps(0.9f), nb1 = _mm512_set1_ps(0.1f), b2 = _mm512_set1_ps(0.999f),
                 nb2 = _mm512_set1_ps(0.001f), lr = _mm512_set1_ps(-1e-7f), eps = _mm512_set1_ps(1e-8f);
    for (long i = lo; i < hi; i += 16) {
        const __m512 p = _mm512_load_ps(a[0] + i), g = _mm512_mul_ps(p, c);
        const __m512 m = _mm512_fmadd_ps(b1, _mm512_load_ps(a[1] + i), _mm512_mul_ps(nb1, g));
        const __m512 v = _mm512_fmadd_ps(b2, _mm512_load_ps(a[2] + i), _mm512_mul_ps(nb2, _mm512_mul_ps(g, g)));
        _mm512_store_ps(a[1] + i, m);
        _mm512_store_ps(a[2] + i, v);
        _mm512_store_ps(a[0] + i, _mm512_fmadd_ps(lr, _mm512_div_ps(m, _mm512_add_ps(_mm512_sqrt_ps(v), eps)), p));
    }
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float traffic_avx2(float *const *a, int k, long lo, long hi) {
    __m256 s = _mm256_setzero_ps();
    const __m256 c = _mm256_set1_ps(1e-7f);
    for (long i = lo; i < hi; i += 8) s = _mm256_add_ps(s, _mm256_load_ps(a[0] + i));
    if (k == 1) {
        for (long i = lo; i < hi; i += 8) _mm256_store_ps(a[0] + i, _mm256_add_ps(_mm256_load_ps(a[0] + i), c));
    } else {
        const __m256 b1 = _mm256_set1_ps(0.9f), nb1 = _mm256_set1_ps(0.1f), b2 = _mm256_set1_ps(0.999f),
                     nb2 = _mm256_set1_ps(0.001f), lr = _mm256_set1_ps(-1e-7f), eps = _mm256_set1_ps(1e-8f);
        for (long i = lo; i < hi; i += 8) {
            const __m256 p = _mm256_load_ps(a[0] + i), g = _mm256_mul_ps(p, c);
            const __m256 m = _mm256_fmadd_ps(b1, _mm256_load_ps(a[1] + i), _mm256_mul_ps(nb1, g));
            const __m256 v = _mm256_fmadd_ps(b2, _mm256_load_ps(a[2] + i), _mm256_mul_ps(nb2, _mm256_mul_ps(g, g)));
            _mm256_store_ps(a[1] + i, m);
            _mm256_store_ps(a[2] + i, v);
            _mm256_store_ps(a[0] + i, _mm256_fmadd_ps(lr, _mm256_div_ps(m, _mm256_add_ps(_mm256_sqrt_ps(v), eps)), p));
        }
    }
    float out[8], r = 0;
    _mm256_storeu_ps(out, s);
    for (int i = 0; i < 8; i++) r += out[i];
    return r;
}

/* Milliseconds of the memory floor of one batch-1 step over n parameters whose update keeps
 * k floats per parameter (SGD 1, Adam 3), on `threads` threads: the best of 5 runs, each the
 * mean of enough passes to take about 50 ms. */
static double traffic(int threads, int avx512, long n, int k) {
    const long len = (n + 63) / 64 * 64; /* every thread's share a multiple of 16 floats */
    float *a[3];
    for (int j = 0; j < k; j++) {
        a[j] = aligned_alloc(64, (size_t)len * sizeof(float));
        if (!a[j]) {
            fprintf(stderr, "peak: cannot allocate %ld floats\n", len);
            exit(1);
        }
        for (long i = 0; i < len; i++) a[j][i] = (float)(i & 1023) * 1e-3f;
    }
    const long passes = 50000000L / len + 1; /* ~200 MB moved: tens of ms */
    double best = 1e30;
    volatile float sink = 0;
    for (int rep = 0; rep < 6; rep++) { /* the first run warms the caches and is not counted */
        double t0 = now();
#pragma omp parallel num_threads(threads)
        {
            const int me = omp_get_thread_num(), nt = omp_get_num_threads();
            const long share = len / 16 / nt * 16, lo = me * share, hi = me == nt - 1 ? len : lo + share;
            float r = 0;
            for (long p = 0; p < passes; p++) r += avx512 ? traffic_avx512(a, k, lo, hi) : traffic_avx2(a, k, lo, hi);
#pragma omp atomic
            sink += r;
        }
        const double ms = (now() - t0) * 1e3 / (double)passes;
        if (rep > 0 && ms < best) best = ms;
    }
    for (int j = 0; j < k; j++) free(a[j]);
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
    int threads[16], nthreads = 0;
    long params[16];
    int nparams = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "traffic=", 8) == 0) {
            if (nparams < 16 && atol(argv[i] + 8) > 0) params[nparams++] = atol(argv[i] + 8);
        } else if (atoi(argv[i]) > 0 && nthreads < 16) {
            threads[nthreads++] = atoi(argv[i]);
        }
    }
    if (nthreads == 0) {
        threads[nthreads++] = 1;
        threads[nthreads++] = 2;
    }
    for (int i = 0; i < nthreads; i++) {
        printf("peak %d %.1f GFLOP/s %s\n", threads[i], peak(threads[i], avx512, iters), avx512 ? "avx512" : "avx2");
        fflush(stdout);
    }
    for (int i = 0; i < nthreads; i++)
        for (int j = 0; j < nparams; j++) {
            printf("traffic %d %ld sgd %.4f\n", threads[i], params[j], traffic(threads[i], avx512, params[j], 1));
            printf("traffic %d %ld adam %.4f\n", threads[i], params[j], traffic(threads[i], avx512, params[j], 3));
            fflush(stdout);
        }
    return 0;
}
