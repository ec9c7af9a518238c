/* layers.c — the network-layer kernels generated code calls (float and double).
 *
 * Images are NCHW, row-major. Legend: B batch, C channels, H x W input, KH x KW window,
 * OH x OW output, P = OH*OW output pixels, D row length, V vocabulary, R rows.
 *   im2col     x[B,C,H,W] -> cols[B*P, C*KH*KW]: row (b, oh, ow), column (c, kh, kw) holds
 *              x[b, c, oh*s - pad + kh, ow*s - pad + kw] (0 outside the image), so a
 *              convolution is cols @ W[O, C*KH*KW]ᵀ, one GEMM.
 *   col2im     its adjoint: gx = 0, then every column entry added back where it came from.
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
static int layers_threads(size_t work) { return work < LAYERS_PAR_MIN || omp_in_parallel() ? 1 : bprt_threads(); }
#define PAR_FOR _Pragma("omp parallel for schedule(static) num_threads(layers_threads(work_))")
#else
#define PAR_FOR
#endif

/* Every kernel, for T = float (SUF f32) and double (f64). `work_` sizes the thread team. */
#define DEFINE_LAYERS(T, SUF)                                                                      \
    void bprt_im2col_##SUF(const T *x, size_t B, size_t C, size_t H, size_t W, size_t KH, size_t KW,  \
                           size_t stride, size_t pad, T *cols) {                                   \
        const size_t OH = (H + 2 * pad - KH) / stride + 1, OW = (W + 2 * pad - KW) / stride + 1;   \
        const size_t ncol = C * KH * KW, work_ = B * OH * OW * ncol;                               \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t r = 0; r < B * OH; r++) {                                                      \
            const size_t b = r / OH, oh = r % OH;                                                  \
            for (size_t ow = 0; ow < OW; ow++) {                                                   \
                T *dst = cols + (r * OW + ow) * ncol;                                              \
                for (size_t c = 0; c < C; c++)                                                     \
                    for (size_t kh = 0; kh < KH; kh++) {                                           \
                        const size_t ih = oh * stride + kh; /* + pad */                            \
                        T *d = dst + (c * KH + kh) * KW;                                           \
                        if (ih < pad || ih - pad >= H) {                                           \
                            for (size_t kw = 0; kw < KW; kw++) d[kw] = 0;                          \
                            continue;                                                              \
                        }                                                                          \
                        const T *src = x + ((b * C + c) * H + (ih - pad)) * W;                     \
                        const size_t iw0 = ow * stride;                                            \
                        if (iw0 >= pad && iw0 - pad + KW <= W) { /* inside: a plain copy */        \
                            for (size_t kw = 0; kw < KW; kw++) d[kw] = src[iw0 - pad + kw];        \
                            continue;                                                              \
                        }                                                                          \
                        for (size_t kw = 0; kw < KW; kw++) {                                       \
                            const size_t iw = iw0 + kw;                                            \
                            d[kw] = iw < pad || iw - pad >= W ? (T)0 : src[iw - pad];              \
                        }                                                                          \
                    }                                                                              \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void bprt_col2im_##SUF(const T *cols, size_t B, size_t C, size_t H, size_t W, size_t KH, size_t KW, \
                           size_t stride, size_t pad, T *x) {                                      \
        const size_t OH = (H + 2 * pad - KH) / stride + 1, OW = (W + 2 * pad - KW) / stride + 1;   \
        const size_t ncol = C * KH * KW, work_ = B * OH * OW * ncol;                               \
        (void)work_;                                                                               \
        PAR_FOR /* one image per iteration: no two threads write the same element */               \
        for (size_t b = 0; b < B; b++) {                                                           \
            memset(x + b * C * H * W, 0, sizeof(T) * C * H * W);                                   \
            for (size_t oh = 0; oh < OH; oh++)                                                     \
                for (size_t ow = 0; ow < OW; ow++) {                                               \
                    const T *src = cols + ((b * OH + oh) * OW + ow) * ncol;                        \
                    for (size_t c = 0; c < C; c++)                                                 \
                        for (size_t kh = 0; kh < KH; kh++) {                                       \
                            const size_t ih = oh * stride + kh;                                    \
                            if (ih < pad || ih - pad >= H) continue;                               \
                            T *d = x + ((b * C + c) * H + (ih - pad)) * W;                         \
                            const T *s = src + (c * KH + kh) * KW;                                 \
                            for (size_t kw = 0; kw < KW; kw++) {                                   \
                                const size_t iw = ow * stride + kw;                                \
                                if (iw >= pad && iw - pad < W) d[iw - pad] += s[kw];               \
                            }                                                                      \
                        }                                                                          \
                }                                                                                  \
        }                                                                                          \
    }                                                                                              \
    /* x[N, H, W] (N = B*C planes) -> y[N, OH, OW]; gx like x */                                   \
    void bprt_maxpool2d_##SUF(const T *x, size_t N, size_t H, size_t W, size_t k, size_t stride, T *y) { \
        const size_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1, work_ = N * H * W;      \
        (void)work_;                                                                               \
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
    /* x, y, gy, gx [R, D] */                                                                      \
    void bprt_layernorm_##SUF(const T *x, size_t R, size_t D, double eps, T *y) {                  \
        const size_t work_ = R * D;                                                                \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t r = 0; r < R; r++) {                                                           \
            const T *xr = x + r * D;                                                               \
            T *yr = y + r * D;                                                                     \
            double mean = 0, var = 0;                                                              \
            for (size_t i = 0; i < D; i++) mean += (double)xr[i];                                  \
            mean /= (double)D;                                                                     \
            for (size_t i = 0; i < D; i++) var += ((double)xr[i] - mean) * ((double)xr[i] - mean); \
            const double rs = 1 / sqrt(var / (double)D + eps);                                     \
            for (size_t i = 0; i < D; i++) yr[i] = (T)(((double)xr[i] - mean) * rs);               \
        }                                                                                          \
    }                                                                                              \
    void bprt_layernorm_grad_##SUF(const T *x, const T *gy, size_t R, size_t D, double eps, T *gx) { \
        const size_t work_ = R * D;                                                                \
        (void)work_;                                                                               \
        PAR_FOR                                                                                    \
        for (size_t r = 0; r < R; r++) {                                                           \
            const T *xr = x + r * D, *gr = gy + r * D;                                             \
            T *dr = gx + r * D;                                                                    \
            double mean = 0, var = 0, sg = 0, sgy = 0;                                             \
            for (size_t i = 0; i < D; i++) mean += (double)xr[i];                                  \
            mean /= (double)D;                                                                     \
            for (size_t i = 0; i < D; i++) var += ((double)xr[i] - mean) * ((double)xr[i] - mean); \
            const double rs = 1 / sqrt(var / (double)D + eps);                                     \
            for (size_t i = 0; i < D; i++) {                                                       \
                sg += (double)gr[i];                                                               \
                sgy += (double)gr[i] * ((double)xr[i] - mean) * rs;                                \
            }                                                                                      \
            sg /= (double)D;                                                                       \
            sgy /= (double)D;                                                                      \
            for (size_t i = 0; i < D; i++)                                                         \
                dr[i] = (T)(rs * ((double)gr[i] - sg - ((double)xr[i] - mean) * rs * sgy));        \
        }                                                                                          \
    }                                                                                              \
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

DEFINE_LAYERS(float, f32)
DEFINE_LAYERS(double, f64)
