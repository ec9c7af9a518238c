/* layers.c — the network-layer kernels generated code calls (float and double).
 *
 * Images are NCHW, row-major (convolutions are in conv.c). Legend: B batch, C channels,
 * H x W input, OH x OW output, D row length, V vocabulary, R rows.
 *   maxpool2d  y[b,c,i,j] = max of the k x k window at (i*s, j*s); NaN propagates (as
 *              PyTorch); the gradient goes to the first maximum of each window.
 *   avgpool2d  the window's mean; its gradient spreads g / k² over the window.
 *   layernorm  per row of D: y = (x - mean) / sqrt(var + eps), var the biased variance
 *              (PyTorch's); statistics in double. Gradient, per row (recomputing the
 *              statistics in cache): gx = r (g - mean(g) - y mean(g y)), r = 1/sqrt(var+eps).
 *   embedding  y[i, :] = table[ids[i], :]; an id outside [0, V) gives a row of NaN (no
 *              out-of-bounds read), and its gradient is dropped.
 *   causal_mask  y[., i, j] = fill where j > i (the future), else x.
 *   dropout    y[i] = x[i] / (1 - p) if bprt_rng_uniform(seed, stream, i) >= p, else 0
 *              (p >= 1: all 0). The same (seed, stream) gives the same mask, which is how
 *              the backward pass reuses it.
 * Windows have no dilation; padding is zeros. Large loops run on bprt_threads() threads,
 * split statically (results do not depend on the thread count); --standalone output is
 * single-threaded. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bprt.h"

#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#include <omp.h>
#define LAYERS_PAR_MIN 32768 /* elements below which a kernel stays on one thread */
static int layers_threads(size_t work) { return bprt_team(work, LAYERS_PAR_MIN); }
#define PAR_FOR _Pragma("omp parallel for schedule(static) num_threads(layers_threads(work_))")
#else
#define PAR_FOR
#endif

/* out = the sum over k < n of expr (a double), as eight partial sums over k mod 8 added in a
 * fixed order: a reduction the compiler vectorises, the same bits for every thread count. */
#define LANE_SUM(n, k, expr, out)                                                                  \
    do {                                                                                           \
        double a_[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                   \
        size_t i_ = 0;                                                                             \
        for (; i_ + 8 <= (n); i_ += 8)                                                             \
            for (size_t l_ = 0; l_ < 8; l_++) {                                                    \
                const size_t k = i_ + l_;                                                          \
                a_[l_] += (expr);                                                                  \
            }                                                                                      \
        for (size_t l_ = 0; i_ < (n); i_++, l_++) {                                                \
            const size_t k = i_;                                                                   \
            a_[l_] += (expr);                                                                      \
        }                                                                                          \
        (out) = ((a_[0] + a_[1]) + (a_[2] + a_[3])) + ((a_[4] + a_[5]) + (a_[6] + a_[7]));         \
    } while (0)

/* Every kernel, for T = float (SUF f32) and double (f64). `work_` sizes the thread team. */
#define DEFINE_LAYERS(T, SUF, UT) /* UT: the unsigned integer of T's size */                                                                      \
    /* the common 2x2 window with stride 2, unrolled (same results as the general loops) */    \
    BPRT_CLONES static void maxpool2x2_##SUF(const T *x, size_t N, size_t H, size_t W, T *y) {                 \
        const size_t OH = H / 2, OW = W / 2, work_ = N * H * W;                                    \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t r = 0; r < N * OH; r++) {                                                      \
            const size_t n = r / OH, i = r % OH;                                                   \
            const T *a = x + (n * H + 2 * i) * W, *b = a + W;                                      \
            T *o = y + r * OW;                                                                     \
            for (size_t j = 0; j < OW; j++) {                                                      \
                const T v0 = a[2 * j], v1 = a[2 * j + 1], v2 = b[2 * j], v3 = b[2 * j + 1];        \
                T m = v0;                                                                          \
                m = v1 > m ? v1 : m;                                                               \
                m = v2 > m ? v2 : m;                                                               \
                m = v3 > m ? v3 : m;                                                               \
                const int nan = (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);                 \
                o[j] = nan ? (T)NAN : m;                                                           \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    BPRT_CLONES static void maxpool2x2_grad_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, T *gx) { \
        const size_t OH = H / 2, OW = W / 2, work_ = N * H * W;                                    \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t n = 0; n < N; n++) {                                                           \
            for (size_t i = 0; i < OH; i++) {                                                      \
                const T *a = x + (n * H + 2 * i) * W, *b = a + W;                                  \
                T *ga = gx + (n * H + 2 * i) * W, *gb = ga + W;                                    \
                const T *g = gy + (n * OH + i) * OW;                                               \
                for (size_t j = 0; j < OW; j++) {                                                  \
                    /* the first maximum in the order v0 v1 v2 v3, or the first NaN if there is \
                       one; branch-free (the argmax of real data is unpredictable): the gradient \
                       is stored through bit masks */                                              \
                    const T v0 = a[2 * j], v1 = a[2 * j + 1], v2 = b[2 * j], v3 = b[2 * j + 1];    \
                    T m = v0;                                                                      \
                    m = v1 > m ? v1 : m;                                                           \
                    m = v2 > m ? v2 : m;                                                           \
                    m = v3 > m ? v3 : m;                                                           \
                    const unsigned n0 = v0 != v0, n1 = v1 != v1, n2 = v2 != v2, n3 = v3 != v3;     \
                    const unsigned any = n0 | n1 | n2 | n3, e0 = v0 == m, e1 = v1 == m, e2 = v2 == m; \
                    const unsigned h0 = (any & n0) | ((any ^ 1) & e0), h1 = (any & n1) | ((any ^ 1) & e1);   \
                    const unsigned h2 = (any & n2) | ((any ^ 1) & e2);                               \
                    UT gbits;                                                                      \
                    memcpy(&gbits, &g[j], sizeof gbits);                                           \
                    const UT w0 = gbits & -(UT)h0, w1 = gbits & -(UT)(h1 & !h0);                   \
                    const UT w2 = gbits & -(UT)(h2 & !(h0 | h1)), w3 = gbits & -(UT)!(h0 | h1 | h2); \
                    memcpy(&ga[2 * j], &w0, sizeof w0);                                            \
                    memcpy(&ga[2 * j + 1], &w1, sizeof w1);                                        \
                    memcpy(&gb[2 * j], &w2, sizeof w2);                                            \
                    memcpy(&gb[2 * j + 1], &w3, sizeof w3);                                        \
                }                                                                                  \
                if (W % 2) ga[W - 1] = gb[W - 1] = 0;                                              \
            }                                                                                      \
            if (H % 2)                                                                             \
                for (size_t c = 0; c < W; c++) gx[(n * H + H - 1) * W + c] = 0;                    \
        }                                                                                          \
    }                                                                                              \
    /* x[N, H, W] (N = B*C planes) -> y[N, OH, OW]; gx like x */                                   \
    void bprt_maxpool2d_##SUF(const T *x, size_t N, size_t H, size_t W, size_t k, size_t stride, T *y) { \
        const size_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1, work_ = N * H * W;      \
        (void)work_;                                                                               \
        if (k == 2 && stride == 2) {                                                               \
            maxpool2x2_##SUF(x, N, H, W, y);                                                       \
            return;                                                                                \
        }                                                                                          \
        PAR_FOR                                                                                    \
        for (size_t n = 0; n < N; n++)                                                             \
            for (size_t i = 0; i < OH; i++)                                                        \
                for (size_t j = 0; j < OW; j++) {                                                  \
                    const T *w = x + (n * H + i * stride) * W + j * stride;                        \
                    T m = w[0];                                                                    \
                    int nan = 0; /* branch-free: max, and whether a NaN was seen */                \
                    for (size_t a = 0; a < k; a++)                                                 \
                        for (size_t c = 0; c < k; c++) {                                           \
                            const T v = w[a * W + c];                                              \
                            m = v > m ? v : m;                                                     \
                            nan |= v != v;                                                         \
                        }                                                                          \
                    y[(n * OH + i) * OW + j] = nan ? (T)NAN : m;                                   \
                }                                                                                  \
    }                                                                                              \
    /* index of the first maximum of the k x k window at x[base] (rows W apart); the first  \
       NaN wins, as in the forward pass */                                                        \
    static size_t maxpool_argmax_##SUF(const T *x, size_t base, size_t W, size_t k) {              \
        size_t at = base;                                                                          \
        T m = x[base];                                                                             \
        int nan = m != m;                                                                          \
        for (size_t a = 0; a < k; a++)                                                             \
            for (size_t c = 0; c < k; c++) {                                                       \
                const size_t q = base + a * W + c;                                                 \
                const T v = x[q];                                                                  \
                const int take = !nan && (v > m || v != v);                                        \
                m = take ? v : m;                                                                  \
                at = take ? q : at;                                                                \
                nan |= v != v;                                                                     \
            }                                                                                      \
        return at;                                                                                 \
    }                                                                                              \
    void bprt_maxpool2d_grad_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, size_t k,   \
                                   size_t stride, T *gx) {                                         \
        const size_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1, work_ = N * H * W;      \
        (void)work_;                                                                               \
        if (k == 2 && stride == 2) {                                                               \
            maxpool2x2_grad_##SUF(x, gy, N, H, W, gx);                                             \
            return;                                                                                \
        }                                                                                          \
        PAR_FOR                                                                                    \
        for (size_t n = 0; n < N; n++) {                                                           \
            if (stride == k) { /* windows tile the plane: every element written once, no memset */ \
                for (size_t i = 0; i < OH; i++) {                                                  \
                    for (size_t j = 0; j < OW; j++) {                                              \
                        const size_t base = (n * H + i * k) * W + j * k;                           \
                        const size_t at = maxpool_argmax_##SUF(x, base, W, k);                     \
                        const T g = gy[(n * OH + i) * OW + j];                                     \
                        for (size_t a = 0; a < k; a++)                                             \
                            for (size_t c = 0; c < k; c++) {                                       \
                                const size_t q = base + a * W + c;                                 \
                                gx[q] = q == at ? g : (T)0;                                        \
                            }                                                                      \
                    }                                                                              \
                    for (size_t a = 0; a < k; a++) /* columns right of the last window */         \
                        for (size_t c = OW * k; c < W; c++) gx[(n * H + i * k + a) * W + c] = 0;  \
                }                                                                                  \
                for (size_t r = OH * k; r < H; r++) /* rows below the last window */               \
                    for (size_t c = 0; c < W; c++) gx[(n * H + r) * W + c] = 0;                    \
                continue;                                                                          \
            }                                                                                      \
            memset(gx + n * H * W, 0, sizeof(T) * H * W);                                          \
            for (size_t i = 0; i < OH; i++)                                                        \
                for (size_t j = 0; j < OW; j++) {                                                  \
                    const size_t base = (n * H + i * stride) * W + j * stride;                     \
                    gx[maxpool_argmax_##SUF(x, base, W, k)] += gy[(n * OH + i) * OW + j];          \
                }                                                                                  \
        }                                                                                          \
    }                                                                                              \
    void bprt_avgpool2d_##SUF(const T *x, size_t N, size_t H, size_t W, size_t k, size_t stride, T *y) { \
        const size_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1, work_ = N * H * W;      \
        const T inv = (T)(1.0 / (double)(k * k));                                                  \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t n = 0; n < N; n++)                                                             \
            for (size_t i = 0; i < OH; i++)                                                        \
                for (size_t j = 0; j < OW; j++) {                                                  \
                    const T *w = x + (n * H + i * stride) * W + j * stride;                        \
                    T s = 0;                                                                       \
                    for (size_t a = 0; a < k; a++)                                                 \
                        for (size_t c = 0; c < k; c++) s += w[a * W + c];                          \
                    y[(n * OH + i) * OW + j] = s * inv;                                            \
                }                                                                                  \
    }                                                                                              \
    void bprt_avgpool2d_grad_##SUF(const T *gy, size_t N, size_t H, size_t W, size_t k, size_t stride, T *gx) { \
        const size_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1, work_ = N * H * W;      \
        const T inv = (T)(1.0 / (double)(k * k));                                                  \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t n = 0; n < N; n++) {                                                           \
            memset(gx + n * H * W, 0, sizeof(T) * H * W);                                          \
            for (size_t i = 0; i < OH; i++)                                                        \
                for (size_t j = 0; j < OW; j++) {                                                  \
                    T *w = gx + (n * H + i * stride) * W + j * stride;                             \
                    const T v = gy[(n * OH + i) * OW + j] * inv;                                   \
                    for (size_t a = 0; a < k; a++)                                                 \
                        for (size_t c = 0; c < k; c++) w[a * W + c] += v;                          \
                }                                                                                  \
        }                                                                                          \
    }                                                                                              \
    /* one row of layernorm and of its gradient; sums in double over eight lanes (LANE_SUM) */      \
    BPRT_CLONES static void layernorm_row_##SUF(const T *xr, size_t D, double eps, T *yr) {         \
        double mean, var;                                                                           \
        LANE_SUM(D, k, (double)xr[k], mean);                                                        \
        mean /= (double)D;                                                                          \
        LANE_SUM(D, k, ((double)xr[k] - mean) * ((double)xr[k] - mean), var);                       \
        const double rs = 1 / sqrt(var / (double)D + eps);                                          \
        for (size_t i = 0; i < D; i++) yr[i] = (T)(((double)xr[i] - mean) * rs);                    \
    }                                                                                               \
    BPRT_CLONES static void layernorm_grad_row_##SUF(const T *xr, const T *gr, size_t D, double eps, T *dr) {\
        double mean, var, sg, sgx;                                                                  \
        LANE_SUM(D, k, (double)xr[k], mean);                                                        \
        mean /= (double)D;                                                                          \
        LANE_SUM(D, k, ((double)xr[k] - mean) * ((double)xr[k] - mean), var);                       \
        const double rs = 1 / sqrt(var / (double)D + eps);                                          \
        LANE_SUM(D, k, (double)gr[k], sg);                                                          \
        LANE_SUM(D, k, (double)gr[k] * ((double)xr[k] - mean), sgx);                                \
        sg /= (double)D;                                                                            \
        const double sgy = sgx * rs / (double)D;                                                    \
        for (size_t i = 0; i < D; i++) dr[i] = (T)(rs * ((double)gr[i] - sg - ((double)xr[i] - mean) * rs * sgy));\
    }                                                                                               \
    /* x, y, gy, gx [R, D] */                                                                       \
    void bprt_layernorm_##SUF(const T *x, size_t R, size_t D, double eps, T *y) {                   \
        const size_t work_ = R * D;                                                                 \
        (void)work_;                                                                                \
        PAR_FOR                                                                                     \
        for (size_t r = 0; r < R; r++) layernorm_row_##SUF(x + r * D, D, eps, y + r * D);           \
    }                                                                                               \
    void bprt_layernorm_grad_##SUF(const T *x, const T *gy, size_t R, size_t D, double eps, T *gx) {\
        const size_t work_ = R * D;                                                                 \
        (void)work_;                                                                                \
        PAR_FOR                                                                                     \
        for (size_t r = 0; r < R; r++) layernorm_grad_row_##SUF(x + r * D, gy + r * D, D, eps, gx + r * D);\
    }                                                                                               \
    /* table[V, D], ids[n] -> y[n, D];  gy[n, D] -> gt[V, D] */                                    \
    void bprt_embedding_##SUF(const T *table, size_t V, size_t D, const int32_t *ids, size_t n, T *y) { \
        for (size_t i = 0; i < n; i++) {                                                           \
            const int32_t id = ids[i];                                                             \
            if (id >= 0 && (size_t)id < V) memcpy(y + i * D, table + (size_t)id * D, sizeof(T) * D); \
            else                                                                                   \
                for (size_t j = 0; j < D; j++) y[i * D + j] = (T)NAN;                              \
        }                                                                                          \
    }                                                                                              \
    void bprt_embedding_grad_##SUF(const T *gy, size_t V, size_t D, const int32_t *ids, size_t n, T *gt) { \
        memset(gt, 0, sizeof(T) * V * D);                                                          \
        for (size_t i = 0; i < n; i++) {                                                           \
            const int32_t id = ids[i];                                                             \
            if (id < 0 || (size_t)id >= V) continue;                                               \
            T *d = gt + (size_t)id * D;                                                            \
            for (size_t j = 0; j < D; j++) d[j] += gy[i * D + j];                                  \
        }                                                                                          \
    }                                                                                              \
    /* x, y [N, Tq, Tk] */                                                                         \
    void bprt_causal_mask_##SUF(const T *x, size_t N, size_t Tq, size_t Tk, double fill, T *y) {   \
        const T f = (T)fill;                                                                       \
        for (size_t b = 0; b < N; b++)                                                             \
            for (size_t i = 0; i < Tq; i++) {                                                      \
                const T *xr = x + (b * Tq + i) * Tk;                                               \
                T *yr = y + (b * Tq + i) * Tk;                                                     \
                for (size_t j = 0; j < Tk; j++) yr[j] = j > i ? f : xr[j];                         \
            }                                                                                      \
    }                                                                                              \
    void bprt_dropout_##SUF(const T *x, size_t n, double p, uint64_t seed, uint64_t stream, T *y) { \
        const T scale = p < 1 ? (T)(1 / (1 - p)) : (T)0;                                           \
        const size_t work_ = n * 8;                                                                \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t i = 0; i < n; i++)                                                             \
            y[i] = bprt_rng_uniform(seed, stream, i) >= p ? x[i] * scale : (T)0;                   \
    }

DEFINE_LAYERS(float, f32, uint32_t)
DEFINE_LAYERS(double, f64, uint64_t)
