/* optim.c — optimizer updates and the gradient's sum of squares, for float and double.
 *
 * These run over every parameter at every step, so they live in the runtime (compiled
 * once with the system compiler, vectorised) rather than in generated code that tcc would
 * compile without optimisation. Semantics are PyTorch's:
 *   sgd:   d = g + wd p;  v = momentum v + d (if momentum);  p -= lr v
 *   adam:  d = g + wd p;  m = b1 m + (1-b1) d;  v = b2 v + (1-b2) d^2;
 *          p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),  bc_k = 1 - b_k^t
 *   adamw: p *= 1 - lr wd, then adam with wd = 0.
 * `scale` multiplies every gradient first (gradient-norm clipping). */
#include <math.h>
#include <stddef.h>

#include "bprt.h"

/* Moments decay geometrically where gradients are zero and become subnormal, which costs
 * ~100x per operation on x86: the updates run with flush-to-zero (subnormals read and
 * written as 0), restoring the caller's mode afterwards. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__)
#include <xmmintrin.h>
#define FTZ_BEGIN                                                                                  \
    const unsigned int csr_saved = _mm_getcsr();                                                   \
    _mm_setcsr(csr_saved | 0x8040u) /* FTZ | DAZ */
#define FTZ_END _mm_setcsr(csr_saved)
#else
#define FTZ_BEGIN (void)0
#define FTZ_END (void)0
#endif

/* Threads: large vectors are split into one contiguous chunk per thread (a static split, so
 * results do not depend on timing). Not in --standalone output, which is single-threaded. */
#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#include <omp.h>
/* Below PAR_MIN elements (4 MiB of float parameters) one thread updates alone: the vectors
 * were just written by this thread's gradient and sit in its caches, and a second thread
 * would first have to pull them over (measured: 2 threads 2.5x slower at batch 1). */
#define PAR_MIN ((size_t)1 << 20)
#define PAR_THREADS(n) ((size_t)(n) >= PAR_MIN && !omp_in_parallel() ? bprt_threads() : 1)
#define PAR_CHUNK(n, lo, hi)                                                                       \
    int nth_ = omp_get_num_threads(), id_ = omp_get_thread_num();                                  \
    size_t lo = (n) * (size_t)id_ / (size_t)nth_, hi = (n) * (size_t)(id_ + 1) / (size_t)nth_
#define PAR_BEGIN(n) _Pragma("omp parallel num_threads(PAR_THREADS(n))") {
#define PAR_BEGIN_NT _Pragma("omp parallel num_threads(nt)") { /* the team size the caller chose */
#include "kernel.h" /* bprt_gemm_threads */
#define GEMM_THREADS(M, N, K) bprt_gemm_threads(M, N, K)
#define PAR_END }
#else
#define PAR_CHUNK(n, lo, hi) size_t lo = 0, hi = (n)
#define PAR_BEGIN(n) {
#define PAR_BEGIN_NT {
#define PAR_THREADS(n) 1
#define GEMM_THREADS(M, N, K) 1
#define PAR_END }
#endif


#define DEFINE_OPTIM(T, SUF, SQRT, GEMM)                                                           \
    /* 16 independent partial sums in T (vectorisable without reassociation), blocks of     \
       4096 summed in double: error ~ 1e-7 relative for f32, ample for clipping and checks */ \
    BPRT_CLONES double bprt_sumsq_##SUF(const T *g, size_t n) {                                    \
        double total = 0;                                                                          \
        for (size_t b = 0; b < n; b += 4096) {                                                     \
            size_t e = b + 4096 < n ? b + 4096 : n, i = b;                                         \
            T s[16] = {0};                                                                         \
            for (; i + 16 <= e; i += 16)                                                           \
                for (int k = 0; k < 16; k++) s[k] += g[i + k] * g[i + k];                          \
            for (; i < e; i++) s[0] += g[i] * g[i];                                                \
            for (int k = 0; k < 16; k++) total += (double)s[k];                                    \
        }                                                                                          \
        return total;                                                                              \
    }                                                                                              \
    /* max |g[i]|, or +inf if some g[i] is not finite (x - x is NaN for inf and NaN) */           \
    BPRT_CLONES double bprt_maxabs_##SUF(const T *g, size_t n) {                                   \
        T m[16] = {0}, z[16] = {0};                                                                \
        size_t i = 0;                                                                              \
        for (; i + 16 <= n; i += 16)                                                               \
            for (int k = 0; k < 16; k++) {                                                         \
                const T a = g[i + k] < 0 ? -g[i + k] : g[i + k];                                   \
                m[k] = a > m[k] ? a : m[k];                                                        \
                z[k] += g[i + k] - g[i + k];                                                       \
            }                                                                                      \
        for (; i < n; i++) {                                                                       \
            const T a = g[i] < 0 ? -g[i] : g[i];                                                   \
            m[0] = a > m[0] ? a : m[0];                                                            \
            z[0] += g[i] - g[i];                                                                   \
        }                                                                                          \
        double r = 0, bad = 0;                                                                     \
        for (int k = 0; k < 16; k++) {                                                             \
            r = (double)m[k] > r ? (double)m[k] : r;                                               \
            bad += (double)z[k];                                                                   \
        }                                                                                          \
        return bad == 0 ? r : (double)INFINITY;                                                    \
    }                                                                                              \
    /* on nt threads, each its contiguous share */                                                \
    BPRT_CLONES static void sgd_nt_##SUF(T *p, const T *g, T *v, size_t n, double lr, double momentum, \
                                         double wd, double scale, int nt) {                        \
        const T tlr = (T)lr, tm = (T)momentum, twd = (T)wd, ts = (T)scale;                         \
        (void)nt;                                                                                  \
        PAR_BEGIN_NT                                                                               \
        PAR_CHUNK(n, lo, hi);                                                                      \
        FTZ_BEGIN;                                                                                 \
        if (v && momentum != 0) {                                                                  \
            for (size_t i = lo; i < hi; i++) {                                                     \
                T d = g[i] * ts + twd * p[i];                                                      \
                v[i] = tm * v[i] + d;                                                              \
                p[i] -= tlr * v[i];                                                                \
            }                                                                                      \
        } else {                                                                                   \
            for (size_t i = lo; i < hi; i++) p[i] -= tlr * (g[i] * ts + twd * p[i]);               \
        }                                                                                          \
        FTZ_END;                                                                                   \
        PAR_END                                                                                    \
    }                                                                                              \
    void bprt_sgd_##SUF(T *p, const T *g, T *v, size_t n, double lr, double momentum, double wd,   \
                        double scale) {                                                            \
        sgd_nt_##SUF(p, g, v, n, lr, momentum, wd, scale, (int)PAR_THREADS(n));                    \
    }                                                                                              \
    BPRT_CLONES static void adam_nt_##SUF(T *p, const T *g, T *m, T *v, size_t n, double lr, double b1, \
                                          double b2, double eps, double wd, int decoupled, double step, \
                                          double scale, int nt) {                                  \
        const double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);                             \
        const T step_size = (T)(lr / bc1), inv_sqrt_bc2 = (T)(1 / sqrt(bc2)), teps = (T)eps;       \
        const T tb1 = (T)b1, tb2 = (T)b2, c1 = (T)(1 - b1), c2 = (T)(1 - b2), ts = (T)scale;       \
        const T l2 = decoupled ? (T)0 : (T)wd, shrink = decoupled ? (T)(1 - lr * wd) : (T)1;       \
        const int plain = scale == 1 && wd == 0; /* PyTorch's loop as written: fewer operations */ \
        (void)nt;                                                                                  \
        PAR_BEGIN_NT                                                                               \
        PAR_CHUNK(n, lo, hi);                                                                      \
        FTZ_BEGIN;                                                                                 \
        if (plain)                                                                                 \
            for (size_t i = lo; i < hi; i++) {                                                     \
                const T d = g[i];                                                                  \
                m[i] = tb1 * m[i] + c1 * d;                                                        \
                v[i] = tb2 * v[i] + c2 * d * d;                                                    \
                p[i] = p[i] - step_size * m[i] / (SQRT(v[i]) * inv_sqrt_bc2 + teps);               \
            }                                                                                      \
        else                                                                                       \
        for (size_t i = lo; i < hi; i++) {                                                         \
            T d = g[i] * ts + l2 * p[i];                                                           \
            T pi = p[i] * shrink;                                                                  \
            m[i] = tb1 * m[i] + c1 * d;                                                            \
            v[i] = tb2 * v[i] + c2 * d * d;                                                        \
            p[i] = pi - step_size * m[i] / (SQRT(v[i]) * inv_sqrt_bc2 + teps);                     \
        }                                                                                          \
        FTZ_END;                                                                                   \
        PAR_END                                                                                    \
    }                                                                                              \
    void bprt_adam_##SUF(T *p, const T *g, T *m, T *v, size_t n, double lr, double b1, double b2,  \
                         double eps, double wd, int decoupled, double step, double scale) {        \
        adam_nt_##SUF(p, g, m, v, n, lr, b1, b2, eps, wd, decoupled, step, scale, (int)PAR_THREADS(n)); \
    }                                                                                              \
    /* the weight gradient op(A) @ op(B) [M, N] into gs, then the update; on several threads  \
       in blocks of rows made in the same place at the start of gs, each updated while in     \
       cache by as many threads as made it (a GEMM on several threads splits rows in contiguous \
       shares, as the update does). The same values either way. */                            \
    void bprt_gemm_sgd_##SUF(int tA, int tB, int M, int N, int K, const T *A, int lda, const T *B, \
                             int ldb, T *gs, T *p, T *v, double lr, double momentum, double wd) {  \
        for (int i0 = 0, r; i0 < M; i0 += r) {                                                     \
            r = gemm_block_rows(M, N, i0);                                                         \
            const size_t o = (size_t)i0 * (size_t)N;                                               \
            GEMM(tA, tB, r, N, K, 1, tA ? A + i0 : A + (size_t)i0 * (size_t)lda, lda, B, ldb, 0, gs, N);     \
            sgd_nt_##SUF(p + o, gs, v ? v + o : v, (size_t)r * (size_t)N, lr, momentum, wd, 1,     \
                         GEMM_THREADS(r, N, K));                                                   \
        }                                                                                          \
    }                                                                                              \
    void bprt_gemm_adam_##SUF(int tA, int tB, int M, int N, int K, const T *A, int lda, const T *B, \
                              int ldb, T *gs, T *p, T *m, T *v, double lr, double b1, double b2,   \
                              double eps, double wd, int decoupled, double step) {                 \
        for (int i0 = 0, r; i0 < M; i0 += r) {                                                     \
            r = gemm_block_rows(M, N, i0);                                                         \
            const size_t o = (size_t)i0 * (size_t)N;                                               \
            GEMM(tA, tB, r, N, K, 1, tA ? A + i0 : A + (size_t)i0 * (size_t)lda, lda, B, ldb, 0, gs, N);     \
            adam_nt_##SUF(p + o, gs, m + o, v + o, (size_t)r * (size_t)N, lr, b1, b2, eps, wd,       \
                          decoupled, step, 1, GEMM_THREADS(r, N, K));                              \
        }                                                                                          \
    }

/* Rows of the block of bprt_gemm_sgd / bprt_gemm_adam that starts at row i0: all of them on
 * one thread (one GEMM, then the update), else about 64 Ki elements (256 KiB of float, in
 * L2), never 1 row while M > 1 (a 1-row GEMM takes the matrix-vector path, which sums in
 * another order: results would depend on the thread count). */
static int gemm_block_rows(int M, int N, int i0) {
    const int left = M - i0;
#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
    if (bprt_threads() <= 1) return left;
#else
    return left;
#endif
    int r = 65536 / (N > 0 ? N : 1);
    r = r < 2 ? 2 : r;
    if (r >= left) return left;
    return left - r == 1 ? r + 1 : r;
}

/* __builtin_sqrt: no errno, so the loops vectorise whatever the flags (tcc, compiling a
 * --standalone file, has no builtins: libm's sqrt there) */
#if defined(__GNUC__) && !defined(__TINYC__)
DEFINE_OPTIM(float, f32, __builtin_sqrtf, bprt_sgemm)
DEFINE_OPTIM(double, f64, __builtin_sqrt, bprt_dgemm)
#else
DEFINE_OPTIM(float, f32, sqrtf, bprt_sgemm)
DEFINE_OPTIM(double, f64, sqrt, bprt_dgemm)
#endif
