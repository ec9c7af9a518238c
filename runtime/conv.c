/* conv.c — 2-D convolution and its two gradients, one image at a time in cache.
 *
 * Legend: x [B, C, H, W], w [O, C, KH, KW], y [B, O, OH, OW] (NCHW, row-major);
 * K = C*KH*KW, P = OH*OW. For one image the unfolded matrix col [K, P] holds
 *   col[(c*KH + kh)*KW + kw, oh*OW + ow] = x[c, oh*s - pad + kh, ow*s - pad + kw] (0 outside),
 * so y_b [O, P] = w [O, K] @ col, gx_b = fold(wᵀ @ gy_b), gw = sum over b of gy_b @ col_bᵀ.
 * The image is first copied into a zero-bordered [C, H + 2 pad, W + 2 pad] one, so that every
 * unfolded row is a run of plain copies. col and the bordered image live in `scratch`
 * (BPRT_CONV_SLOTS slots of K*P + C*(H + 2 pad)*(W + 2 pad) reals, then BPRT_CONV_SLOTS
 * partial weight gradients of O*K, in the caller's workspace: bprt_conv2d_scratch) while
 * the GEMM reads col, so nothing of size B*K*P is ever written and no transpose is needed.
 * On AVX-512 the stride-1 3x3 and 5x5 windows go to Winograd's algorithm instead (conv_wg.c).
 *
 * Threads: the forward pass and gx split the images in contiguous shares (slot t of
 * scratch is thread t's); gw of K >= CONV_GW_GROUPED_K splits the K columns of gw, each
 * thread unfolding only its rows of col for every image in order, and of fewer sums
 * BPRT_CONV_SLOTS fixed groups of images into partials, then those in order. Every output
 * element is computed by the same sequence of operations whatever the thread count, so
 * results do not depend on it. */
#include <stddef.h>
#include <string.h>

#include "bprt.h"

#include "conv.h" /* conv_threads, CONV_RUN */

/* The row moves of unfold and fold at stride 1 (rows of OW = 14 or 28 floats: per-row loop
 * overhead dominated them) as masked AVX-512 moves of 16 floats, when the runtime's ISA is
 * AVX-512. The same additions in the same order: the same values. */
#if ROWS_AVX512_BUILD
#include <immintrin.h>
static inline __mmask16 row_mask(size_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }
/* d[oh OW + ow] = x[oh Wp + ow] */
__attribute__((target("avx512f"))) static void rows_in_f32(float *d, const float *x, size_t OH, size_t OW, size_t Wp) {
    for (size_t oh = 0; oh < OH; oh++, d += OW, x += Wp)
        for (size_t j = 0; j < OW; j += 16) {
            const __mmask16 m = row_mask(OW - j);
            _mm512_mask_storeu_ps(d + j, m, _mm512_maskz_loadu_ps(m, x + j));
        }
}
/* g[oh Wp + ow] += c[oh OW + ow] */
__attribute__((target("avx512f"))) static void rows_add_f32(float *g, const float *c, size_t OH, size_t OW, size_t Wp) {
    for (size_t oh = 0; oh < OH; oh++, g += Wp, c += OW)
        for (size_t j = 0; j < OW; j += 16) {
            const __mmask16 m = row_mask(OW - j);
            _mm512_mask_storeu_ps(g + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, g + j), _mm512_maskz_loadu_ps(m, c + j)));
        }
}
#include "kernel.h" /* bprt_isa_id: the CPU's ISA, or BPRT_ISA's */
static int rows_avx512(void) { return bprt_isa_id() == BPRT_ISA_AVX512; }
#define ROWS_FAST(T) (sizeof(T) == sizeof(float) && rows_avx512())
#else
#define ROWS_FAST(T) 0
#define rows_in_f32(d, x, OH, OW, Wp) ((void)0)
#define rows_add_f32(g, c, OH, OW, Wp) ((void)0)
#endif

/* Output size, K and P, the bordered image's size, and one thread slot's reals. */
#define CONV_GEOMETRY                                                                              \
    const size_t OH = (H + 2 * pad - KH) / s + 1, OW = (W + 2 * pad - KW) / s + 1;                 \
    const size_t P = OH * OW, K = C * KH * KW, Hp = H + 2 * pad, Wp = W + 2 * pad;                 \
    const size_t slot = K * P + C * Hp * Wp

/* In a CONV_BODY: c_, the call (ConvCall), its sizes, and CONV_GEOMETRY */
#define CONV_CALL_GEOMETRY                                                                         \
    const ConvCall *c_ = (const ConvCall *)conv_arg_;                                              \
    const size_t B = c_->B, C = c_->C, H = c_->H, W = c_->W, O = c_->O, KH = c_->KH, KW = c_->KW;  \
    const size_t s = c_->s, pad = c_->pad;                                                         \
    CONV_GEOMETRY

size_t bprt_conv2d_scratch(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad) {
    const size_t OH = (H + 2 * pad - KH) / s + 1, OW = (W + 2 * pad - KW) / s + 1;
    const size_t direct =
        BPRT_CONV_SLOTS * (C * KH * KW * OH * OW + C * (H + 2 * pad) * (W + 2 * pad) + O * C * KH * KW);
    WgGeom g;
    return wg_geometry(C, H, W, O, KH, KW, s, pad, &g) && g.total > direct ? g.total : direct;
}

/* Winograd's algorithm where conv_wg.c takes the call (f32, AVX-512) */
#if defined(BPRT_STANDALONE) || !ROWS_AVX512_BUILD
#define WG_TRY(call) 0
#else
#define WG_TRY(call) call
#endif
#define WG_f32(name, ...) WG_TRY(bprt_wg_##name##_f32(__VA_ARGS__))
#define WG_f64(name, ...) 0

/* bprt_conv2d_ew_* (not in --standalone output) */
#if !defined(BPRT_STANDALONE)
#define CONV_EW(T, SUF)                                                                            \
    void bprt_conv2d_ew_##SUF(const T *x, const T *w, size_t B, size_t C, size_t H, size_t W, size_t O, \
                              size_t KH, size_t KW, size_t s, size_t pad, T *y, T *scratch,        \
                              const int32_t *code, int ncode, const double *konst, const T *const *leaf, \
                              int nleaf, const ptrdiff_t *ld, const ptrdiff_t *istride,            \
                              const unsigned char *vec, T *out) {                                  \
        LAYER_EP_INIT(T);                                                                          \
        conv2d_##SUF(x, w, B, C, H, W, O, KH, KW, s, pad, y, scratch, &ep_);                       \
    }
#else
#define CONV_EW(T, SUF)
#endif

#define DEFINE_CONV(T, SUF, GEMM)                                                                  \
    /* image xb [C, H, W] into xp [C, H + 2 pad, W + 2 pad], zeros around */                      \
    static void pad_##SUF(const T *xb, size_t C, size_t H, size_t W, size_t pad, T *xp) {          \
        const size_t Wp = W + 2 * pad;                                                             \
        if (pad) memset(xp, 0, sizeof(T) * C * (H + 2 * pad) * Wp);                                \
        for (size_t c = 0; c < C; c++)                                                             \
            for (size_t h = 0; h < H; h++)                                                         \
                memcpy(xp + (c * (H + 2 * pad) + h + pad) * Wp + pad, xb + (c * H + h) * W, sizeof(T) * W); \
    }                                                                                              \
    /* rows [r0, r1) of the col of the padded image xp [C, Hp, Wp] into col (row r at           \
       col + (r - r0) * P): row (c, kh, kw) is xp[c, oh*s + kh, ow*s + kw] over (oh, ow) */        \
    static void unfold_##SUF(const T *xp, size_t Hp, size_t Wp, size_t KH, size_t KW, size_t s,     \
                             size_t OH, size_t OW, size_t r0, size_t r1, T *col) {                 \
        T *d = col;                                                                                \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const size_t c = r / (KH * KW), kh = r / KW % KH, kw = r % KW;                         \
            const T *src = xp + (c * Hp + kh) * Wp + kw;                                           \
            if (s == 1 && ROWS_FAST(T)) {                                                          \
                rows_in_f32((float *)(void *)d, (const float *)(const void *)src, OH, OW, Wp);     \
                d += OH * OW;                                                                      \
            } else if (s == 1)                                                                     \
                for (size_t oh = 0; oh < OH; oh++, d += OW, src += Wp)                             \
                    for (size_t ow = 0; ow < OW; ow++) d[ow] = src[ow];                            \
            else                                                                                   \
                for (size_t oh = 0; oh < OH; oh++, d += OW, src += s * Wp)                         \
                    for (size_t ow = 0; ow < OW; ow++) d[ow] = src[ow * s];                        \
        }                                                                                          \
    }                                                                                              \
    /* the adjoint of unfold for all K rows, into the padded gp [C, Hp, Wp]: gp = 0, then every \
       col entry added back where it came from */                                                 \
    static void fold_##SUF(const T *col, size_t C, size_t Hp, size_t Wp, size_t KH, size_t KW,      \
                           size_t s, size_t OH, size_t OW, T *gp) {                                \
        memset(gp, 0, sizeof(T) * C * Hp * Wp);                                                    \
        const T *d = col;                                                                          \
        for (size_t r = 0; r < C * KH * KW; r++) {                                                 \
            const size_t c = r / (KH * KW), kh = r / KW % KH, kw = r % KW;                         \
            T *dst = gp + (c * Hp + kh) * Wp + kw;                                                 \
            if (s == 1 && ROWS_FAST(T)) {                                                          \
                rows_add_f32((float *)(void *)dst, (const float *)(const void *)d, OH, OW, Wp);    \
                d += OH * OW;                                                                      \
            } else if (s == 1)                                                                     \
                for (size_t oh = 0; oh < OH; oh++, d += OW, dst += Wp)                             \
                    for (size_t ow = 0; ow < OW; ow++) dst[ow] += d[ow];                           \
            else                                                                                   \
                for (size_t oh = 0; oh < OH; oh++, d += OW, dst += s * Wp)                         \
                    for (size_t ow = 0; ow < OW; ow++) dst[ow * s] += d[ow];                       \
        }                                                                                          \
    }                                                                                              \
    /* a 1x1 window with stride 1 and no padding: col is the image itself */                       \
    static int is_pointwise_##SUF(size_t KH, size_t KW, size_t s, size_t pad) {                    \
        return KH == 1 && KW == 1 && s == 1 && pad == 0;                                           \
    }                                                                                              \
    /* rows [r0, r1) of image xb's unfolded matrix: xb itself from row r0 for a 1x1 window    \
       (stride 1, no padding), else bordered into xp and unfolded into col */                   \
    static const T *image_cols_##SUF(const T *xb, size_t C, size_t H, size_t W, size_t KH, size_t KW, \
                                     size_t s, size_t pad, size_t OH, size_t OW, size_t r0,       \
                                     size_t r1, T *xp, T *col) {                                   \
        if (is_pointwise_##SUF(KH, KW, s, pad)) return xb + r0 * OH * OW;                          \
        pad_##SUF(xb, C, H, W, pad, xp);                                                           \
        unfold_##SUF(xp, H + 2 * pad, W + 2 * pad, KH, KW, s, OH, OW, r0, r1, col);               \
        return col;                                                                                \
    }                                                                                              \
    /* the images of thread CONV_TID */                                                             \
    CONV_BODY(conv2d_body_##SUF) {                                                                  \
        CONV_CALL_GEOMETRY;                                                                         \
        const T *x = (const T *)c_->x, *w = (const T *)c_->w;                                       \
        T *y = (T *)c_->out, *scratch = (T *)c_->scratch;                                           \
        const LayerEp *ep = c_->ep;                                                                 \
        {                                                                                           \
            T *col = scratch + (size_t)CONV_TID * slot, *xp = col + K * P;                         \
            bprt_gemm_reuse_packs(1); /* w, packed once: the images' columns change, w does not */ \
            CONV_IMAGES(b, B) {                                                                    \
                const T *cb = image_cols_##SUF(x + b * C * H * W, C, H, W, KH, KW, s, pad, OH, OW, 0, K, xp, col); \
                GEMM(0, 0, (int)O, (int)P, (int)K, 1, w, (int)K, cb, (int)P, 0, y + b * O * P, (int)P); \
                layer_ep_run_##SUF(ep, b, O, P);                                                   \
            }                                                                                      \
            bprt_gemm_reuse_packs(0);                                                              \
        }                                                                                          \
    }                                                                                              \
    static void conv2d_##SUF(const T *x, const T *w, size_t B, size_t C, size_t H, size_t W, size_t O, \
                             size_t KH, size_t KW, size_t s, size_t pad, T *y, T *scratch, const LayerEp *ep) { \
        if (WG_##SUF(conv2d, x, w, B, C, H, W, O, KH, KW, s, pad, y, scratch, ep)) return;          \
        CONV_GEOMETRY;                                                                              \
        ConvCall c_;                                                                                \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.w = w, c_.out = y, c_.scratch = scratch, c_.ep = ep, c_.B = B, c_.C = C,       \
            c_.H = H, c_.W = W, c_.O = O, c_.KH = KH, c_.KW = KW, c_.s = s, c_.pad = pad;           \
        (void)slot, (void)Hp, (void)Wp;                                                             \
        CONV_RUN(conv_threads(B, (double)B * (double)(O * K * P)), conv2d_body_##SUF, (void *)&c_); \
    }                                                                                               \
    void bprt_conv2d_##SUF(const T *x, const T *w, size_t B, size_t C, size_t H, size_t W, size_t O,\
                           size_t KH, size_t KW, size_t s, size_t pad, T *y, T *scratch) {         \
        conv2d_##SUF(x, w, B, C, H, W, O, KH, KW, s, pad, y, scratch, NULL);                       \
    }                                                                                              \
    CONV_EW(T, SUF)                                                                                \
    void bprt_conv2d_grads_##SUF(const T *x, const T *gy, const T *w, size_t B, size_t C, size_t H,\
                                 size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad,   \
                                 T *gx, T *gw, T *scratch) {                                       \
        if (WG_##SUF(conv2d_grads, x, gy, w, B, C, H, W, O, KH, KW, s, pad, gx, gw, scratch)) return;\
        bprt_conv2d_grad_x_##SUF(gy, w, B, C, H, W, O, KH, KW, s, pad, gx, scratch);               \
        bprt_conv2d_grad_w_##SUF(x, gy, B, C, H, W, O, KH, KW, s, pad, gw, scratch);               \
    }                                                                                              \
    /* gx of the images of thread CONV_TID */                                                       \
    CONV_BODY(conv2d_grad_x_body_##SUF) {                                                           \
        CONV_CALL_GEOMETRY;                                                                         \
        const T *gy = (const T *)c_->gy, *w = (const T *)c_->w;                                     \
        T *gx = (T *)c_->out, *scratch = (T *)c_->scratch;                                          \
        {                                                                                           \
            T *col = scratch + (size_t)CONV_TID * slot, *gp = col + K * P;                         \
            CONV_IMAGES(b, B) {                                                                    \
                T *gxb = gx + b * C * H * W;                                                       \
                const int direct = is_pointwise_##SUF(KH, KW, s, pad); /* fold is the identity */  \
                GEMM(1, 0, (int)K, (int)P, (int)O, 1, w, (int)K, gy + b * O * P, (int)P, 0,        \
                     direct ? gxb : col, (int)P);                                                  \
                if (direct) continue;                                                              \
                fold_##SUF(col, C, Hp, Wp, KH, KW, s, OH, OW, gp);                                 \
                for (size_t c = 0; c < C; c++) /* the inside of gp: the image's gradient */        \
                    for (size_t h = 0; h < H; h++)                                                 \
                        memcpy(gxb + (c * H + h) * W, gp + (c * Hp + h + pad) * Wp + pad, sizeof(T) * W); \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void bprt_conv2d_grad_x_##SUF(const T *gy, const T *w, size_t B, size_t C, size_t H, size_t W,  \
                                  size_t O, size_t KH, size_t KW, size_t s, size_t pad, T *gx,      \
                                  T *scratch) {                                                     \
        if (WG_##SUF(conv2d_grad_x, gy, w, B, C, H, W, O, KH, KW, s, pad, gx, scratch)) return;     \
        CONV_GEOMETRY;                                                                              \
        ConvCall c_;                                                                                \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.gy = gy, c_.w = w, c_.out = gx, c_.scratch = scratch, c_.B = B, c_.C = C, c_.H = H,      \
            c_.W = W, c_.O = O, c_.KH = KH, c_.KW = KW, c_.s = s, c_.pad = pad;                     \
        (void)slot, (void)Hp, (void)Wp;                                                             \
        CONV_RUN(conv_threads(B, (double)B * (double)(O * K * P)), conv2d_grad_x_body_##SUF, (void *)&c_); \
    }                                                                                               \
    /* gw, few columns: fixed groups of images (thread CONV_TID's share), each summed into its      \
       partial after the slots */                                                                   \
    CONV_BODY(conv2d_grad_w_groups_body_##SUF) {                                                    \
        CONV_CALL_GEOMETRY;                                                                         \
        const T *x = (const T *)c_->x, *gy = (const T *)c_->gy;                                     \
        T *scratch = (T *)c_->scratch, *part = (T *)c_->part;                                       \
        const size_t groups = c_->n;                                                                \
        T *col = scratch + (size_t)CONV_TID * slot, *xp = col + K * P;                              \
        CONV_SHARE(gi, groups) {                                                                    \
            T *pg = part + gi * O * K;                                                              \
            const size_t b0 = B * gi / groups, b1 = B * (gi + 1) / groups;                          \
            if (b0 == b1) memset(pg, 0, sizeof(T) * O * K);                                         \
            for (size_t b = b0; b < b1; b++) {                                                      \
                const T *cb = image_cols_##SUF(x + b * C * H * W, C, H, W, KH, KW, s, pad, OH, OW, 0, K, xp, col); \
                GEMM(0, 1, (int)O, (int)K, (int)P, 1, gy + b * O * P, (int)P, cb, (int)P,           \
                     b > b0 ? 1 : 0, pg, (int)K);                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    /* gw, columns of gw split in multiples of 16 (chunks of them), the last share taking the       \
       rest: never a share of 1 column, which would take the matrix-vector path (another            \
       summation order) */                                                                          \
    CONV_BODY(conv2d_grad_w_cols_body_##SUF) {                                                      \
        CONV_CALL_GEOMETRY;                                                                         \
        const T *x = (const T *)c_->x, *gy = (const T *)c_->gy;                                     \
        T *gw = (T *)c_->out, *scratch = (T *)c_->scratch;                                          \
        const size_t chunks = c_->n, t = (size_t)CONV_TID, nth = (size_t)CONV_NTH;                  \
        size_t r0 = chunks * t / nth * 16, r1 = t + 1 == nth ? K : chunks * (t + 1) / nth * 16;     \
        if (r1 > K) r1 = K;                                                                         \
        T *col = scratch + r0 * P, *xp = scratch + K * P + t * (slot - K * P);                      \
        for (size_t b = 0; b < B && r0 < r1; b++) {                                                 \
            const T *cb = image_cols_##SUF(x + b * C * H * W, C, H, W, KH, KW, s, pad, OH, OW, r0, r1, xp, col); \
            GEMM(0, 1, (int)O, (int)(r1 - r0), (int)P, 1, gy + b * O * P, (int)P, cb, (int)P,       \
                 b ? 1 : 0, gw + r0, (int)K);                                                       \
        }                                                                                           \
    }                                                                                               \
    void bprt_conv2d_grad_w_##SUF(const T *x, const T *gy, size_t B, size_t C, size_t H, size_t W,  \
                                  size_t O, size_t KH, size_t KW, size_t s, size_t pad, T *gw,      \
                                  T *scratch) {                                                     \
        if (WG_##SUF(conv2d_grad_w, x, gy, B, C, H, W, O, KH, KW, s, pad, gw, scratch)) return;     \
        CONV_GEOMETRY;                                                                              \
        (void)Hp, (void)Wp;                                                                         \
        if (B == 0) {                                                                               \
            memset(gw, 0, sizeof(T) * O * K);                                                       \
            return;                                                                                 \
        }                                                                                           \
        ConvCall c_;                                                                                \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.gy = gy, c_.out = gw, c_.scratch = scratch, c_.B = B, c_.C = C, c_.H = H,      \
            c_.W = W, c_.O = O, c_.KH = KH, c_.KW = KW, c_.s = s, c_.pad = pad;                     \
        if (K < CONV_GW_GROUPED_K) {                                                                \
            /* a few columns (a first layer): the groups' partials, then the partials in order */   \
            const size_t groups = BPRT_CONV_SLOTS;                                                  \
            T *part = scratch + BPRT_CONV_SLOTS * slot;                                             \
            c_.part = part;                                                                         \
            c_.n = groups;                                                                          \
            CONV_RUN(conv_threads(groups, (double)B * (double)(O * K * P)), conv2d_grad_w_groups_body_##SUF, &c_); \
            for (size_t i = 0; i < O * K; i++) {                                                    \
                T acc = part[i];                                                                    \
                for (size_t gi = 1; gi < groups; gi++) acc += part[gi * O * K + i];                 \
                gw[i] = acc;                                                                        \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        c_.n = K / 16 ? K / 16 : 1;                                                                 \
        CONV_RUN(conv_threads(c_.n, (double)B * (double)(O * K * P)), conv2d_grad_w_cols_body_##SUF, &c_); \
    }

DEFINE_CONV(float, f32, bprt_sgemm)
DEFINE_CONV(double, f64, bprt_dgemm)
