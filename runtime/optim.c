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
 * written as 0), restoring the caller's mode afterwards. Adam does so only where the flush
 * cannot show (AdamK's ftz, adam_k_): a second moment v flushed to 0 was below the smallest
 * normal TINY, so sqrt(v / bc2) < sqrt(TINY / (1 - beta2)), which must be under an ulp of
 * eps for the denominator sqrt(v / bc2) + eps not to change. With the default eps 1e-8 it
 * is (float: 3.4e-18 against eps / 2^24 = 6e-16); with eps = 1e-30 and gradients of 1e-20,
 * whose squares are subnormal, a flushed v made the step m / eps, 1e10 times lr, where
 * PyTorch's float32 moves each weight by about lr. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__TINYC__)
#include <xmmintrin.h>
#define FTZ_BEGIN_IF(on)                                                                           \
    const unsigned int csr_saved = _mm_getcsr();                                                   \
    if (on) _mm_setcsr(csr_saved | 0x8040u) /* FTZ | DAZ */
#define FTZ_END _mm_setcsr(csr_saved)
#else
#define FTZ_BEGIN_IF(on) (void)0
#define FTZ_END (void)0
#endif
#define FTZ_BEGIN FTZ_BEGIN_IF(1)

/* Threads: large vectors are split into one contiguous chunk per thread (BPRT_SPLIT: a static
 * split, so results do not depend on timing). Not in --standalone output, which is single-threaded. */
#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
/* Below PAR_MIN elements (4 MiB of float parameters) one thread updates alone: the vectors
 * were just written by this thread's gradient and sit in its caches, and a second thread
 * would first have to pull them over (measured: 2 threads 2.5x slower at batch 1). */
#define PAR_MIN ((size_t)1 << 20)
/* Adam's update after its weight gradient, each thread making and updating its own rows,
 * takes the threads from this many weights (its square root and division per weight cost
 * more than the move) */
#define ADAM_PAR_MIN ((size_t)1 << 16)
#define PAR_THREADS_MIN(n, min) bprt_team((size_t)(n), min)
#define PAR_THREADS(n) PAR_THREADS_MIN(n, PAR_MIN)
#include "kernel.h" /* bprt_gemm_threads */
#define GEMM_THREADS(M, N, K) bprt_gemm_threads(M, N, K)
#define OWNED_ROWS_TEAM(bytes) bprt_rows_team(bytes)
#define SMALL_BATCH(K) ((K) <= BPRT_SMALL_BATCH)
#else
#define SMALL_BATCH(K) 1
#define OWNED_ROWS_TEAM(bytes) 1
#define PAR_THREADS(n) 1
#define PAR_THREADS_MIN(n, min) 1
#define GEMM_THREADS(M, N, K) 1
#endif


/* The checks' maximum of |g| (a batch's activations before a fused update) takes the threads
   from this many elements: tiny_gpt's checks on 2 threads 0.20-0.22 -> 0.17 ms; from 2^16,
   fashion_mlp's at batch 256 (three arrays of 64-200 Ki) went 0.014 -> 0.026 ms. At most
   MAXABS_SHARES shares. */
#define MAXABS_PAR_MIN ((size_t)1 << 18)
#define MAXABS_SHARES 64

/* the update's constants, in T */
#define DEFINE_OPTIM_CONSTS(T, SUF)                                                                \
    typedef struct { T lr, m, wd, s; int momentum; } SgdK_##SUF;                                   \
    typedef struct { T step_size, inv_sqrt_bc2, eps, b1, b2, c1, c2, s, l2, shrink; int plain, ftz; } AdamK_##SUF;
DEFINE_OPTIM_CONSTS(float, f32)
DEFINE_OPTIM_CONSTS(double, f64)

#define DEFINE_OPTIM(T, SUF, SQRT, GEMM, TINY, ULPS)                                                          \
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
    /* max |g[i]|, or +inf if some g[i] is not finite (x - x is NaN for inf and NaN); 64 lanes, \
       so that the loop is not bound by the latency of one chain of max and add (16 lanes:   \
       800 KB in 10.4 us, about 3 cycles per vector; a batch-256 step's check of its inputs).   \
       Four rows written out: as a loop over them, GCC kept the lanes in memory */             \
    BPRT_CLONES static double maxabs_range_##SUF(const T *g, size_t n) {                           \
        T m[4][16] = {{0}}, z[4][16] = {{0}};                                                      \
        size_t i = 0;                                                                              \
        for (; i + 64 <= n; i += 64)                                                               \
            for (int k = 0; k < 16; k++) {                                                         \
                const T a0 = g[i + k] < 0 ? -g[i + k] : g[i + k];                                  \
                const T a1 = g[i + 16 + k] < 0 ? -g[i + 16 + k] : g[i + 16 + k];                   \
                const T a2 = g[i + 32 + k] < 0 ? -g[i + 32 + k] : g[i + 32 + k];                   \
                const T a3 = g[i + 48 + k] < 0 ? -g[i + 48 + k] : g[i + 48 + k];                   \
                m[0][k] = a0 > m[0][k] ? a0 : m[0][k];                                             \
                m[1][k] = a1 > m[1][k] ? a1 : m[1][k];                                             \
                m[2][k] = a2 > m[2][k] ? a2 : m[2][k];                                             \
                m[3][k] = a3 > m[3][k] ? a3 : m[3][k];                                             \
                z[0][k] += g[i + k] - g[i + k];                                                    \
                z[1][k] += g[i + 16 + k] - g[i + 16 + k];                                          \
                z[2][k] += g[i + 32 + k] - g[i + 32 + k];                                          \
                z[3][k] += g[i + 48 + k] - g[i + 48 + k];                                          \
            }                                                                                      \
        for (; i < n; i++) {                                                                       \
            const T a = g[i] < 0 ? -g[i] : g[i];                                                   \
            m[0][0] = a > m[0][0] ? a : m[0][0];                                                   \
            z[0][0] += g[i] - g[i];                                                                \
        }                                                                                          \
        double r = 0, bad = 0;                                                                     \
        for (int j = 0; j < 4; j++)                                                                \
            for (int k = 0; k < 16; k++) {                                                         \
                r = (double)m[j][k] > r ? (double)m[j][k] : r;                                     \
                bad += (double)z[j][k];                                                            \
            }                                                                                      \
        return bad == 0 ? r : (double)INFINITY;                                                    \
    }                                                                                              \
    typedef struct {                                                                               \
        const T *g;                                                                                \
        size_t n, ns;                                                                              \
        double *part;                                                                              \
    } MaxabsCall_##SUF;                                                                            \
    static void maxabs_task_##SUF(void *arg, size_t s0, size_t s1) {                               \
        const MaxabsCall_##SUF *a = (const MaxabsCall_##SUF *)arg;                                 \
        for (size_t s = s0; s < s1; s++)                                                           \
            a->part[s] = maxabs_range_##SUF(a->g + a->n * s / a->ns, a->n * (s + 1) / a->ns - a->n * s / a->ns); \
    }                                                                                              \
    /* on the threads from MAXABS_PAR_MIN elements, each a contiguous share (the maximum of    \
       their maxima: the same value whatever the split) */                                    \
    double bprt_maxabs_##SUF(const T *g, size_t n) {                                               \
        double part[MAXABS_SHARES];                                                                \
        int team = (int)PAR_THREADS_MIN(n, MAXABS_PAR_MIN);                                        \
        if (team > MAXABS_SHARES) team = MAXABS_SHARES;                                            \
        if (team <= 1) return maxabs_range_##SUF(g, n);                                            \
        MaxabsCall_##SUF a = {g, n, (size_t)team, part}; /* share s: [n s / ns, n (s + 1) / ns) */ \
        BPRT_SPLIT(team, a.ns, maxabs_task_##SUF, &a);                                             \
        double r = 0;                                                                              \
        for (int t = 0; t < team; t++) r = part[t] > r ? part[t] : r;                              \
        return r;                                                                                  \
    }                                                                                              \
    /* the updates of elements [lo, hi) (constants in k) from the gradient g[i] ga (ga = 1, or      \
       a rank-1 gradient's a_i with g its row b: a_i b_j, the value the GEMM's K = 1 path           \
       computes, since the product commutes); the callers set flush-to-zero */                      \
    static inline void sgd_span_##SUF(const SgdK_##SUF *k, T *p, const T *g, T ga, T *v, size_t lo, size_t hi) { \
        if (v && k->momentum) {                                                                     \
            for (size_t i = lo; i < hi; i++) {                                                      \
                T d = (g[i] * ga) * k->s + k->wd * p[i];                                            \
                v[i] = k->m * v[i] + d;                                                             \
                p[i] -= k->lr * v[i];                                                               \
            }                                                                                       \
        } else {                                                                                    \
            for (size_t i = lo; i < hi; i++) p[i] -= k->lr * ((g[i] * ga) * k->s + k->wd * p[i]);   \
        }                                                                                           \
    }                                                                                               \
    static inline void adam_span_##SUF(const AdamK_##SUF *k, T *p, const T *g, T ga, T *m, T *v, size_t lo, \
                                       size_t hi) {                                                 \
        const T step_size = k->step_size, inv_sqrt_bc2 = k->inv_sqrt_bc2, teps = k->eps;            \
        const T tb1 = k->b1, tb2 = k->b2, c1 = k->c1, c2 = k->c2, ts = k->s, l2 = k->l2, shrink = k->shrink; \
        if (k->plain) /* PyTorch's loop as written: fewer operations */                             \
            for (size_t i = lo; i < hi; i++) {                                                      \
                const T d = g[i] * ga;                                                              \
                m[i] = tb1 * m[i] + c1 * d;                                                         \
                v[i] = tb2 * v[i] + c2 * d * d;                                                     \
                p[i] = p[i] - step_size * m[i] / (SQRT(v[i]) * inv_sqrt_bc2 + teps);                \
            }                                                                                       \
        else                                                                                        \
            for (size_t i = lo; i < hi; i++) {                                                      \
                T d = (g[i] * ga) * ts + l2 * p[i];                                                 \
                T pi = p[i] * shrink;                                                               \
                m[i] = tb1 * m[i] + c1 * d;                                                         \
                v[i] = tb2 * v[i] + c2 * d * d;                                                     \
                p[i] = pi - step_size * m[i] / (SQRT(v[i]) * inv_sqrt_bc2 + teps);                  \
            }                                                                                       \
    }                                                                                               \
    BPRT_CLONES static void sgd_range_##SUF(const SgdK_##SUF *k, T *p, const T *g, T *v, size_t lo, size_t hi) { \
        FTZ_BEGIN;                                                                                  \
        sgd_span_##SUF(k, p, g, 1, v, lo, hi);                                                      \
        FTZ_END;                                                                                    \
    }                                                                                               \
    BPRT_CLONES static void adam_range_##SUF(const AdamK_##SUF *k, T *p, const T *g, T *m, T *v, size_t lo, \
                                             size_t hi) {                                           \
        FTZ_BEGIN_IF(k->ftz);                                                                       \
        adam_span_##SUF(k, p, g, 1, m, v, lo, hi);                                                  \
        FTZ_END;                                                                                    \
    }                                                                                               \
    static SgdK_##SUF sgd_k_##SUF(double lr, double momentum, double wd, double scale) {            \
        SgdK_##SUF k = {(T)lr, (T)momentum, (T)wd, (T)scale, momentum != 0};                        \
        return k;                                                                                   \
    }                                                                                               \
    static AdamK_##SUF adam_k_##SUF(double lr, double b1, double b2, double eps, double wd, int decoupled, \
                                    double step, double scale) {                                    \
        const double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);                              \
        /* flush to zero where a flushed v is under an ulp of eps (see FTZ_BEGIN_IF) */             \
        const int ftz = b2 >= 1 || eps >= ULPS * sqrt((double)TINY / (1 - b2));                     \
        AdamK_##SUF k = {(T)(lr / bc1), (T)(1 / sqrt(bc2)), (T)eps, (T)b1, (T)b2, (T)(1 - b1), (T)(1 - b2), \
                         (T)scale, decoupled ? (T)0 : (T)wd, decoupled ? (T)(1 - lr * wd) : (T)1,   \
                         scale == 1 && wd == 0, ftz};                                               \
        return k;                                                                                   \
    }                                                                                               \
    /* an update's arguments, for its shares on the threads (BPRT_SPLIT): Adam with ka, else SGD */ \
    typedef struct {                                                                                \
        const SgdK_##SUF *ks;                                                                       \
        const AdamK_##SUF *ka;                                                                      \
        T *p;                                                                                       \
        const T *g;                                                                                 \
        T *m, *v;                                                                                   \
        /* the weight gradient op(A) @ op(B) [M, N] of gemm_update */                               \
        int tA, N, K, lda, ldb;                                                                     \
        const T *A, *B;                                                                             \
        T *gs;                                                                                      \
    } UpdCall_##SUF;                                                                                \
    static void sgd_task_##SUF(void *arg, size_t lo, size_t hi) {                                  \
        const UpdCall_##SUF *a = (const UpdCall_##SUF *)arg;                                        \
        sgd_range_##SUF(a->ks, a->p, a->g, a->v, lo, hi);                                           \
    }                                                                                               \
    static void adam_task_##SUF(void *arg, size_t lo, size_t hi) {                                 \
        const UpdCall_##SUF *a = (const UpdCall_##SUF *)arg;                                        \
        adam_range_##SUF(a->ka, a->p, a->g, a->m, a->v, lo, hi);                                    \
    }                                                                                               \
    /* on nt threads, each its contiguous share (no parallel region for one) */                     \
    static void sgd_nt_##SUF(T *p, const T *g, T *v, size_t n, double lr, double momentum, double wd, \
                             double scale, int nt) {                                                \
        const SgdK_##SUF k = sgd_k_##SUF(lr, momentum, wd, scale);                                  \
        UpdCall_##SUF a = {&k, NULL, p, g, NULL, v, 0, 0, 0, 0, 0, NULL, NULL, NULL};               \
        BPRT_SPLIT(nt, n, sgd_task_##SUF, &a);                                                      \
    }                                                                                               \
    void bprt_sgd_##SUF(T *p, const T *g, T *v, size_t n, double lr, double momentum, double wd,    \
                        double scale) {                                                             \
        sgd_nt_##SUF(p, g, v, n, lr, momentum, wd, scale, (int)PAR_THREADS(n));                     \
    }                                                                                               \
    static void adam_nt_##SUF(T *p, const T *g, T *m, T *v, size_t n, double lr, double b1, double b2, \
                              double eps, double wd, int decoupled, double step, double scale, int nt) { \
        const AdamK_##SUF k = adam_k_##SUF(lr, b1, b2, eps, wd, decoupled, step, scale);            \
        UpdCall_##SUF a = {NULL, &k, p, g, m, v, 0, 0, 0, 0, 0, NULL, NULL, NULL};                  \
        BPRT_SPLIT(nt, n, adam_task_##SUF, &a);                                                     \
    }                                                                                               \
    void bprt_adam_##SUF(T *p, const T *g, T *m, T *v, size_t n, double lr, double b1, double b2,   \
                         double eps, double wd, int decoupled, double step, double scale) {         \
        adam_nt_##SUF(p, g, m, v, n, lr, b1, b2, eps, wd, decoupled, step, scale, (int)PAR_THREADS(n)); \
    }                                                                                               \
    /* A rank-1 weight gradient (K = 1, one sample: row i is a_i b) applied as it is made: the      \
       gradient never goes to memory. Rows [r0, r1). */                                             \
    BPRT_CLONES static void rank1_rows_##SUF(const SgdK_##SUF *ks, const AdamK_##SUF *ka, int tA, const T *A, \
                                             int lda, const T *b, int N, T *p, T *m, T *v, size_t r0, size_t r1) { \
        FTZ_BEGIN_IF(!ka || ka->ftz);                                                               \
        for (size_t i = r0; i < r1; i++) {                                                          \
            const T a = tA ? A[i] : A[i * (size_t)lda];                                             \
            const size_t o = i * (size_t)N;                                                         \
            if (ka) adam_span_##SUF(ka, p + o, b, a, m + o, v + o, 0, (size_t)N);                   \
            else sgd_span_##SUF(ks, p + o, b, a, v ? v + o : v, 0, (size_t)N);                      \
        }                                                                                           \
        FTZ_END;                                                                                    \
    }                                                                                               \
    /* the weight gradient op(A) @ op(B) [M, N] into gs, then the update; on several threads  \
       in blocks of rows made in the same place at the start of gs, each updated while in     \
       cache by as many threads as made it (a GEMM on several threads splits rows in contiguous \
       shares, as the update does). The same values either way. */                            \
    /* rank1_rows_ multiplies under flush-to-zero, which reads a subnormal factor as 0; the         \
       GEMM does not (1e-39 x 1e5 is 1e-34 there): such inputs take the GEMM path */                \
    static int has_subnormal_##SUF(const T *x, size_t stride, size_t n) {                           \
        int any = 0;                                                                                \
        for (size_t i = 0; i < n; i++) {                                                            \
            const T a = x[i * stride] < 0 ? -x[i * stride] : x[i * stride];                         \
            any |= a != 0 && a < TINY;                                                              \
        }                                                                                           \
        return any;                                                                                 \
    }                                                                                               \
    /* rows [r0, r1) of the weight gradient op(A)^T B (A transposed, B not) made and then      \
       updated, on the calling thread (one thread's share while in its cache) */                \
    static void gemm_update_rows_##SUF(const SgdK_##SUF *ks, const AdamK_##SUF *ka, int r0, int r1, int N, \
                                       int K, const T *A, int lda, const T *B, int ldb, T *gs, T *p, T *m, T *v) { \
        const size_t lo = (size_t)r0 * (size_t)N, hi = (size_t)r1 * (size_t)N;                     \
        GEMM(1, 0, r1 - r0, N, K, 1, A + r0, lda, B, ldb, 0, gs + lo, N);                           \
        if (ka) adam_range_##SUF(ka, p, gs, m, v, lo, hi);                                          \
        else sgd_range_##SUF(ks, p, gs, v, lo, hi);                                                 \
    }                                                                                               \
    static void rank1_task_##SUF(void *arg, size_t lo, size_t hi) {                                \
        const UpdCall_##SUF *a = (const UpdCall_##SUF *)arg;                                        \
        rank1_rows_##SUF(a->ks, a->ka, a->tA, a->A, a->lda, a->B, a->N, a->p, a->m, a->v, lo, hi);  \
    }                                                                                               \
    static void gemm_update_task_##SUF(void *arg, size_t lo, size_t hi) {                          \
        const UpdCall_##SUF *a = (const UpdCall_##SUF *)arg;                                        \
        gemm_update_rows_##SUF(a->ks, a->ka, (int)lo, (int)hi, a->N, a->K, a->A, a->lda, a->B, a->ldb, \
                               a->gs, a->p, a->m, a->v);                                            \
    }                                                                                               \
    /* one of them: Adam when ka, else SGD with ks; a rank-1 gradient (K = 1, M > 1: the GEMM's    \
       own K = 1 path) goes straight into the update, row by row, when its rows are at least a     \
       vector long (short ones, a classifier's 10 columns, are made whole and updated as one       \
       array: Adam on 256 rows of 10, 2 -> 1 us)   */                                              \
    static void gemm_update_##SUF(const SgdK_##SUF *ks, const AdamK_##SUF *ka, int tA, int tB, int M, int N, \
                                  int K, const T *A, int lda, const T *B, int ldb, T *gs, T *p, T *m, T *v) { \
        if (K == 1 && !tB && M > 1 && N * sizeof(T) >= 64 &&                                        \
            !has_subnormal_##SUF(A, tA ? 1 : (size_t)lda, (size_t)M) &&                             \
            !has_subnormal_##SUF(B, 1, (size_t)N)) {                                                \
            /* rows split as x @ W split them (OWNED_ROWS_TEAM), each core updating the rows it read */ \
            const int rt = OWNED_ROWS_TEAM((size_t)M * (size_t)N * sizeof(T));                            \
            UpdCall_##SUF a = {ks, ka, p, NULL, m, v, tA, N, K, lda, ldb, A, B, gs};               \
            BPRT_SPLIT(rt > 1 ? rt : (int)PAR_THREADS((size_t)M * (size_t)N), (size_t)M, rank1_task_##SUF, &a); \
            return;                                                                                 \
        }                                                                                           \
        /* on several threads, each makes its rows of the gradient and updates them while in   \
           its cache, in one parallel region (fashion_mlp3's batch-16 Adam step on 2 threads:   \
           0.52 -> 0.43 ms); Adam from ADAM_PAR_MIN weights even where the GEMM alone would     \
           keep one thread (512 x 256 at batch 16: 0.155 -> 0.081 ms). Each row's values do    \
           not depend on the split. (Each thread's columns of the GEMM's own split, short       \
           spans of rows, made the update 2.4x slower here.) */                                 \
        int nt = GEMM_THREADS(M, N, K);                                                             \
        if (ka && nt < 2 && !SMALL_BATCH(K)) nt = PAR_THREADS_MIN((size_t)M * (size_t)N, ADAM_PAR_MIN); \
        if (nt > 1 && tA && !tB) {                                                                  \
            UpdCall_##SUF a = {ks, ka, p, NULL, m, v, tA, N, K, lda, ldb, A, B, gs};               \
            BPRT_SPLIT(nt, (size_t)M, gemm_update_task_##SUF, &a);                                  \
            return;                                                                                 \
        }                                                                                           \
        /* the whole gradient, then the update on as many threads as the GEMM had */          \
        const size_t n = (size_t)M * (size_t)N;                                                     \
        GEMM(tA, tB, M, N, K, 1, A, lda, B, ldb, 0, gs, N);                                         \
        UpdCall_##SUF a = {ks, ka, p, gs, m, v, tA, N, K, lda, ldb, A, B, gs};                     \
        BPRT_SPLIT(nt, n, ka ? adam_task_##SUF : sgd_task_##SUF, &a);                               \
    }                                                                                               \
    void bprt_gemm_sgd_##SUF(int tA, int tB, int M, int N, int K, const T *A, int lda, const T *B,  \
                             int ldb, T *gs, T *p, T *v, double lr, double momentum, double wd) {   \
        const SgdK_##SUF k = sgd_k_##SUF(lr, momentum, wd, 1);                                      \
        gemm_update_##SUF(&k, NULL, tA, tB, M, N, K, A, lda, B, ldb, gs, p, NULL, v);               \
    }                                                                                               \
    void bprt_gemm_adam_##SUF(int tA, int tB, int M, int N, int K, const T *A, int lda, const T *B, \
                              int ldb, T *gs, T *p, T *m, T *v, double lr, double b1, double b2,    \
                              double eps, double wd, int decoupled, double step) {                  \
        const AdamK_##SUF k = adam_k_##SUF(lr, b1, b2, eps, wd, decoupled, step, 1);                \
        gemm_update_##SUF(NULL, &k, tA, tB, M, N, K, A, lda, B, ldb, gs, p, m, v);                  \
    }                                                                                               \

/* __builtin_sqrt: no errno, so the loops vectorise whatever the flags (tcc, compiling a
 * --standalone file, has no builtins: libm's sqrt there) */
#if defined(__GNUC__) && !defined(__TINYC__)
DEFINE_OPTIM(float, f32, __builtin_sqrtf, bprt_sgemm, 1.17549435e-38f, 16777216.0)
DEFINE_OPTIM(double, f64, __builtin_sqrt, bprt_dgemm, 2.2250738585072014e-308, 9007199254740992.0)
#else
DEFINE_OPTIM(float, f32, sqrtf, bprt_sgemm, 1.17549435e-38f, 16777216.0)
DEFINE_OPTIM(double, f64, sqrt, bprt_dgemm, 2.2250738585072014e-308, 9007199254740992.0)
#endif
