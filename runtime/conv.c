/* conv.c — 2-D convolution and its two gradients, one image at a time in cache.
 *
 * Legend: x [B, C, H, W], w [O, C, KH, KW], y [B, O, OH, OW] (NCHW, row-major);
 * K = C*KH*KW, P = OH*OW. For one image the unfolded matrix col [K, P] holds
 *   col[(c*KH + kh)*KW + kw, oh*OW + ow] = x[c, oh*s - pad + kh, ow*s - pad + kw] (0 outside),
 * so y_b [O, P] = w [O, K] @ col, gx_b = fold(wᵀ @ gy_b), gw = sum over b of gy_b @ col_bᵀ.
 * The image is first copied into a zero-bordered [C, H + 2 pad, W + 2 pad] one, so that every
 * unfolded row is a run of plain copies. col and the bordered image live in `scratch`
 * (BPRT_CONV_SLOTS slots of K*P + C*(H + 2 pad)*(W + 2 pad) reals, then BPRT_CONV_SLOTS
 * partial weight gradients of O*K and partial bias gradients of O doubles, in the caller's
 * workspace: bprt_conv2d_scratch) while
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

/* positions of a row of gy summed in float before they are added in double (a bias's
   gradient: bprt_conv2d_grad_wb) */
#define GB_CHUNK 1024

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
/* The weight gradient of a few unfolded rows (a first layer: K = C KH KW < CONV_GW_GROUPED_K) at
 * stride 1 and KW <= GW_DIRECT_KW, from the bordered image without unfolding it:
 *   gwᵀ[(c, kh, kw), o] = sum over (oh, ow) of gy[o, oh, ow] xq[c, oh + kh, ow + kw],
 * 16 values of ow per vector. The bordered image xq has rows of Wq floats (Wp rounded up to 16,
 * zeros after the image's) 64-byte aligned, so each chunk of a row is two aligned loads and its
 * KW shifts are valignd's of them; 4 rows of gy by the KW shifts in 4 KW registers; a row's last
 * chunk, under 16 values, adds under a mask (its other lanes are left alone, so that a 0 x inf
 * there is not added); then each register's 16 lanes are summed. fashion_cnn's first layer, 64
 * images on 1 thread: the unfolded product (32 x 25 x 784 per image: 14-row tiles and 32-column
 * panels 60% full, and the unfolding and transposed packing of gy) took 0.97-0.98 ms, with the
 * product transposed (25 x 32: 89% full) 0.89-0.90, this way 0.78-0.83 (2 threads: 0.48-0.49,
 * 0.45, 0.41-0.43). The shifts as unaligned loads, mostly split across two lines: 0.96-0.99 ms;
 * shifts 3 to 5 as unaligned loads, to take them off the shuffle port the FMAs share: no faster. */
#define GW_DIRECT_KW 6
/* accumulators a<t><k>, named (an array of them, GCC kept in memory: 1.6 ms) */
#define GW_ACC_ROW(t) __m512 a##t##0 = z, a##t##1 = z, a##t##2 = z, a##t##3 = z, a##t##4 = z, a##t##5 = z
#define GW_FMA(t, k, x)                                                                              \
    if (OT > t && KW > k) a##t##k = tail ? _mm512_mask3_fmadd_ps(g##t, x, a##t##k, m) : _mm512_fmadd_ps(g##t, x, a##t##k);
#define GW_SHIFT(k)                                                                                  \
    if (KW > k) {                                                                                    \
        const __m512 x = k ? _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, k)) : _mm512_castsi512_ps(lo); \
        GW_FMA(0, k, x) GW_FMA(1, k, x) GW_FMA(2, k, x) GW_FMA(3, k, x)                               \
    }
#define GW_PUT(t, k)                                                                                 \
    if (OT > t && KW > k) {                                                                          \
        const float v = _mm512_reduce_add_ps(a##t##k);                                               \
        gw[t + k * ldk] = first ? v : gw[t + k * ldk] + v;                                           \
    }
#define GW_PUT_ROW(t) GW_PUT(t, 0) GW_PUT(t, 1) GW_PUT(t, 2) GW_PUT(t, 3) GW_PUT(t, 4) GW_PUT(t, 5)
#define GW_LOAD_G(t) const __m512 g##t = OT > t ? (tail ? _mm512_maskz_loadu_ps(m, gr + t * P) : _mm512_loadu_ps(gr + t * P)) : z;
/* one chunk of 16 columns from j: tail when fewer than 16 are left (mask m) */
#define GW_CHUNK                                                                                     \
    {                                                                                                \
        const float *gr = gy + oh * OW + j;                                                          \
        const __m512i lo = _mm512_load_si512((const void *)(xr + j)), hi = _mm512_load_si512((const void *)(xr + j + 16)); \
        GW_LOAD_G(0) GW_LOAD_G(1) GW_LOAD_G(2) GW_LOAD_G(3)                                           \
        GW_SHIFT(0) GW_SHIFT(1) GW_SHIFT(2) GW_SHIFT(3) GW_SHIFT(4) GW_SHIFT(5)                       \
    }
__attribute__((target("avx512f"), always_inline)) static inline void gw_tile_f32(
    const float *xq, const float *gy, size_t P, size_t OH, size_t OW, size_t Wq, size_t KW, size_t OT, float *gw,
    size_t ldk, int first) {
    const __m512 z = _mm512_setzero_ps();
    GW_ACC_ROW(0);
    GW_ACC_ROW(1);
    GW_ACC_ROW(2);
    GW_ACC_ROW(3);
    const size_t whole = OW / 16 * 16;
    const __mmask16 m = row_mask(OW - whole);
    for (size_t oh = 0; oh < OH; oh++) {
        const float *xr = xq + oh * Wq;
        size_t j = 0;
        for (; j < whole; j += 16) {
            const int tail = 0;
            GW_CHUNK
        }
        if (j < OW) {
            const int tail = 1;
            GW_CHUNK
        }
    }
    GW_PUT_ROW(0)
    GW_PUT_ROW(1)
    GW_PUT_ROW(2)
    GW_PUT_ROW(3)
}
#define GW_TILE_CASE(KW_, OT_) \
    case KW_: gw_tile_f32(xq, gy, P, OH, OW, Wq, KW_, OT_, gw, ldk, first); break;
#define GW_TILES(OT_) \
    switch (KW) { GW_TILE_CASE(1, OT_) GW_TILE_CASE(2, OT_) GW_TILE_CASE(3, OT_) GW_TILE_CASE(4, OT_) \
                  GW_TILE_CASE(5, OT_) GW_TILE_CASE(6, OT_) default: break; }
/* OT (4 or 1) rows of gy [OT, P] against the KW shifts of one row of the window */
__attribute__((target("avx512f"))) static void gw_tile4_f32(const float *xq, const float *gy, size_t P, size_t OH,
                                                            size_t OW, size_t Wq, size_t KW, float *gw, size_t ldk, int first) {
    GW_TILES(4)
}
__attribute__((target("avx512f"))) static void gw_tile1_f32(const float *xq, const float *gy, size_t P, size_t OH,
                                                            size_t OW, size_t Wq, size_t KW, float *gw, size_t ldk, int first) {
    GW_TILES(1)
}
/* the bordered image's row length and reals (one more row of slack: a chunk's second load) */
#define GW_WQ(Wp) (((Wp) + 15) / 16 * 16)
#define GW_XQ_REALS(C, Hp, Wp) ((C) * (Hp) * GW_WQ(Wp) + GW_WQ(Wp) + 16)
/* one image xb [C, H, W]: bordered into xq (64-byte aligned, GW_XQ_REALS), then its gy
   [O, OH, OW] against it, into gwᵀ [C KH KW, O] (the partials' layout of
   conv2d_grad_w_groups_body): = when first, else += */
static void gw_direct_f32(const float *xb, const float *gy, size_t C, size_t H, size_t W, size_t pad, size_t O,
                          size_t KH, size_t KW, size_t OH, size_t OW, float *xq, float *gw, int first) {
    const size_t Hp = H + 2 * pad, Wq = GW_WQ(W + 2 * pad), P = OH * OW;
    memset(xq, 0, sizeof(float) * GW_XQ_REALS(C, Hp, W + 2 * pad));
    for (size_t c = 0; c < C; c++)
        for (size_t h = 0; h < H; h++) memcpy(xq + (c * Hp + h + pad) * Wq + pad, xb + (c * H + h) * W, sizeof(float) * W);
    for (size_t o = 0; o < O; o += o + 4 <= O ? 4 : 1)
        for (size_t c = 0; c < C; c++)
            for (size_t kh = 0; kh < KH; kh++) {
                const float *xr = xq + (c * Hp + kh) * Wq;
                float *g = gw + (c * KH + kh) * KW * O + o;
                if (o + 4 <= O) gw_tile4_f32(xr, gy + o * P, P, OH, OW, Wq, KW, g, O, first);
                else gw_tile1_f32(xr, gy + o * P, P, OH, OW, Wq, KW, g, O, first);
            }
}
/* The direct path's bordered image goes at the start of the thread's slot (K P + C Hp Wp
 * reals, for the unfolded matrix and the other bordered image, neither used here), 64-byte
 * aligned: taken when it fits there (not for images of a few columns, of which the rows of 16
 * would be mostly padding) */
#define GW_DIRECT(T, s, KW, KH, pad, K, P, C, H, W)                                                  \
    (ROWS_FAST(T) && (s) == 1 && (KW) <= GW_DIRECT_KW && !((KH) == 1 && (KW) == 1 && (pad) == 0) &&    \
     GW_XQ_REALS(C, (H) + 2 * (pad), (W) + 2 * (pad)) + 16 <= (K) * (P) + (C) * ((H) + 2 * (pad)) * ((W) + 2 * (pad)))
static float *gw_aligned(void *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }
/* acc[o] (= when first, else +=) the sum of row o of gy [O, P], by chunks of GB_CHUNK
   positions: each chunk's in 4 vectors of 16 float lanes (its last 16 or fewer under a mask),
   the vectors and then their lanes added in float, and the chunks' sums added in double (so
   that no float sum takes more than GB_CHUNK / 64 terms: a 224 x 224 image's 50176 add up as
   well as fashion_cnn's 784, one chunk) */
#define GB_ROWS_AVX512 bprt_gb_rows_avx512
__attribute__((target("avx512f"))) void bprt_gb_rows_avx512(const float *gy, size_t O, size_t P, double *acc, int first) {
    for (size_t o = 0; o < O; o++, gy += P) {
        double s = 0;
        for (size_t j0 = 0; j0 < P; j0 += GB_CHUNK) {
            const size_t n = P - j0 < GB_CHUNK ? P - j0 : GB_CHUNK, whole = n / 16 * 16;
            const float *r = gy + j0;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            size_t j = 0;
            for (; j + 64 <= whole; j += 64) {
                a0 = _mm512_add_ps(a0, _mm512_loadu_ps(r + j));
                a1 = _mm512_add_ps(a1, _mm512_loadu_ps(r + j + 16));
                a2 = _mm512_add_ps(a2, _mm512_loadu_ps(r + j + 32));
                a3 = _mm512_add_ps(a3, _mm512_loadu_ps(r + j + 48));
            }
            for (; j < whole; j += 16) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(r + j));
            if (j < n) a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(row_mask(n - j), r + j));
            s += (double)_mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        }
        acc[o] = first ? s : acc[o] + s;
    }
}
#include "kernel.h" /* bprt_isa_id: the CPU's ISA, or BPRT_ISA's */
static int rows_avx512(void) { return bprt_isa_id() == BPRT_ISA_AVX512; }
#define ROWS_FAST(T) (sizeof(T) == sizeof(float) && rows_avx512())
#else
#define ROWS_FAST(T) 0
#define GW_DIRECT(T, s, KW, KH, pad, K, P, C, H, W) 0
#define gw_direct_f32(xb, gy, C, H, W, pad, O, KH, KW, OH, OW, xq, gw, first) ((void)0)
#define gw_aligned(p) ((float *)(p))
#define GB_ROWS_AVX512(gy, O, P, acc, first) ((void)0)
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

/* After the slots and the partial weight gradients (or Winograd's scratch): the bias
 * gradient's BPRT_CONV_SLOTS partials of O doubles (bprt_conv2d_grad_wb), 8-byte aligned: in
 * reals of 4 bytes or more */
#define GB_SCRATCH_REALS(O) (2 * BPRT_CONV_SLOTS * (O) + 2)
static double *gb_scratch(void *p) { return (double *)(((uintptr_t)p + 7) & ~(uintptr_t)7); }

/* the reals before the bias gradient's partials: the unfolded products' or Winograd's */
static size_t scratch_base(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad) {
    const size_t OH = (H + 2 * pad - KH) / s + 1, OW = (W + 2 * pad - KW) / s + 1;
    const size_t direct = BPRT_CONV_SLOTS * (C * KH * KW * OH * OW + C * (H + 2 * pad) * (W + 2 * pad) + O * C * KH * KW);
    WgGeom g;
    return wg_geometry(C, H, W, O, KH, KW, s, pad, &g) && g.total > direct ? g.total : direct;
}
int bprt_conv2d_bias_in_pass(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad,
                             int f64) {
    WgGeom g;
    return C * KH * KW < BPRT_CONV_GW_GROUPED_K || (!f64 && wg_geometry(C, H, W, O, KH, KW, s, pad, &g));
}
size_t bprt_conv2d_scratch(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad) {
    return scratch_base(C, H, W, O, KH, KW, s, pad) + GB_SCRATCH_REALS(O);
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
    static void conv2d_grad_w_##SUF(const T *x, const T *gy, size_t B, size_t C, size_t H, size_t W, \
                                    size_t O, size_t KH, size_t KW, size_t s, size_t pad, T *gw,    \
                                    T *gb, T *scratch);                                             \
    static void gb_fold_##SUF(const double *part, size_t O, T *gb);                                 \
    /* gx, gw, and gb (unless NULL) */                                                              \
    static void conv2d_grads_##SUF(const T *x, const T *gy, const T *w, size_t B, size_t C, size_t H, \
                                   size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad, \
                                   T *gx, T *gw, T *gb, T *scratch) {                              \
        for (size_t o = 0; B == 0 && gb && o < O; o++) gb[o] = 0; /* (scratch may be NULL then) */  \
        if (B == 0) gb = NULL;                                                                      \
        double *gbpart = gb ? gb_scratch(scratch + scratch_base(C, H, W, O, KH, KW, s, pad)) : NULL;  \
        (void)gbpart; /* (no Winograd in double) */                                                 \
        if (WG_##SUF(conv2d_grads, x, gy, w, B, C, H, W, O, KH, KW, s, pad, gx, gw, gbpart, scratch)) { \
            if (gb) gb_fold_##SUF(gbpart, O, gb);                                                   \
            return;                                                                                 \
        }                                                                                           \
        bprt_conv2d_grad_x_##SUF(gy, w, B, C, H, W, O, KH, KW, s, pad, gx, scratch);               \
        conv2d_grad_w_##SUF(x, gy, B, C, H, W, O, KH, KW, s, pad, gw, gb, scratch);                \
    }                                                                                              \
    void bprt_conv2d_grads_##SUF(const T *x, const T *gy, const T *w, size_t B, size_t C, size_t H,\
                                 size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad,   \
                                 T *gx, T *gw, T *scratch) {                                       \
        conv2d_grads_##SUF(x, gy, w, B, C, H, W, O, KH, KW, s, pad, gx, gw, NULL, scratch);        \
    }                                                                                              \
    void bprt_conv2d_grads_b_##SUF(const T *x, const T *gy, const T *w, size_t B, size_t C,        \
                                   size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t s,   \
                                   size_t pad, T *gx, T *gw, T *gb, T *scratch) {                  \
        conv2d_grads_##SUF(x, gy, w, B, C, H, W, O, KH, KW, s, pad, gx, gw, gb, scratch);          \
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
    /* acc[o] (= when first, else +=) the sum of row o of gy [O, P], by chunks of GB_CHUNK      \
       positions: 8 lanes added in T, then the lanes, the chunks' sums in double (on AVX-512,   \
       bprt_gb_rows_avx512's 64 lanes) */                                                        \
    static void gb_rows_##SUF(const T *gy, size_t O, size_t P, double *acc, int first) {            \
        if (ROWS_FAST(T)) {                                                                         \
            GB_ROWS_AVX512((const float *)(const void *)gy, O, P, acc, first);                      \
            return;                                                                                 \
        }                                                                                           \
        for (size_t o = 0; o < O; o++, gy += P) {                                                   \
            double s = 0;                                                                           \
            for (size_t j0 = 0; j0 < P; j0 += GB_CHUNK) {                                           \
                const size_t n = P - j0 < GB_CHUNK ? P - j0 : GB_CHUNK;                             \
                const T *r = gy + j0;                                                               \
                T l[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                  \
                size_t j = 0;                                                                       \
                for (; j + 8 <= n; j += 8)                                                          \
                    for (size_t k = 0; k < 8; k++) l[k] += r[j + k];                                \
                for (size_t k = 0; j + k < n; k++) l[k] += r[j + k];                                \
                s += (double)(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])));   \
            }                                                                                       \
            acc[o] = first ? s : acc[o] + s;                                                        \
        }                                                                                           \
    }                                                                                               \
    /* gb's partials: group CONV_TID's share of BPRT_CONV_SLOTS fixed groups of images, each      \
       image's sums added to its group's O doubles (what the groups of the weight gradient do)  \
       */                                                                                           \
    CONV_BODY(gb_groups_body_##SUF) {                                                               \
        const ConvCall *c_ = (const ConvCall *)conv_arg_;                                           \
        const size_t B = c_->B, O = c_->O, P = c_->n, groups = BPRT_CONV_SLOTS;                     \
        const T *gy = (const T *)c_->gy;                                                            \
        CONV_SHARE(gi, groups) {                                                                    \
            double *pb = c_->gbpart + gi * O;                                                       \
            const size_t b0 = B * gi / groups, b1 = B * (gi + 1) / groups;                          \
            for (size_t o = 0; b0 == b1 && o < O; o++) pb[o] = 0;                                   \
            for (size_t b = b0; b < b1; b++) gb_rows_##SUF(gy + b * O * P, O, P, pb, b == b0);     \
        }                                                                                           \
    }                                                                                               \
    /* gb = the groups' partials in order */                                                        \
    static void gb_fold_##SUF(const double *part, size_t O, T *gb) {                               \
        for (size_t o = 0; o < O; o++) {                                                            \
            double acc = part[o];                                                                   \
            for (size_t gi = 1; gi < BPRT_CONV_SLOTS; gi++) acc += part[gi * O + o];                \
            gb[o] = (T)acc;                                                                         \
        }                                                                                           \
    }                                                                                               \
    /* gb = the sums of gy's rows [B, O, P] over B and P, in a pass of its own (where the weight \
       gradient was not made by groups of images): the same groups, on the threads, so the      \
       same values as the groups' (part: their BPRT_CONV_SLOTS x O doubles) */                  \
    static void gb_pass_##SUF(const T *gy, size_t B, size_t O, size_t P, T *gb, double *part) {    \
        ConvCall c_;                                                                                \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.gy = gy, c_.gbpart = part, c_.B = B, c_.O = O, c_.n = P;                                 \
        CONV_RUN(conv_threads(BPRT_CONV_SLOTS, (double)B * (double)(O * P)), gb_groups_body_##SUF, (void *)&c_); \
        gb_fold_##SUF(part, O, gb);                                                                 \
    }                                                                                               \
    /* gw, few columns: fixed groups of images (thread CONV_TID's share), each summed into its      \
       partial after the slots; with gb, each image's sums of gy into the group's O doubles         \
       (while the image is in cache) */                                                             \
    CONV_BODY(conv2d_grad_w_groups_body_##SUF) {                                                    \
        CONV_CALL_GEOMETRY;                                                                         \
        const T *x = (const T *)c_->x, *gy = (const T *)c_->gy;                                     \
        T *scratch = (T *)c_->scratch, *part = (T *)c_->part;                                       \
        const size_t groups = c_->n;                                                                \
        T *col = scratch + (size_t)CONV_TID * slot, *xp = col + K * P;                              \
        CONV_SHARE(gi, groups) {                                                                    \
            T *pg = part + gi * O * K;                                                              \
            double *pb = c_->gbpart ? c_->gbpart + gi * O : NULL;                                   \
            const size_t b0 = B * gi / groups, b1 = B * (gi + 1) / groups;                          \
            if (b0 == b1) memset(pg, 0, sizeof(T) * O * K);                                         \
            for (size_t o = 0; pb && b0 == b1 && o < O; o++) pb[o] = 0;                             \
            for (size_t b = b0; b < b1; b++) {                                                      \
                if (pb) gb_rows_##SUF(gy + b * O * P, O, P, pb, b == b0);                           \
                if (GW_DIRECT(T, s, KW, KH, pad, K, P, C, H, W)) {                                  \
                    gw_direct_f32((const float *)(const void *)(x + b * C * H * W),                 \
                                  (const float *)(const void *)(gy + b * O * P), C, H, W, pad, O, KH, KW, \
                                  OH, OW, gw_aligned(col), (float *)(void *)pg, b == b0);           \
                    continue;                                                                       \
                }                                                                                   \
                const T *cb = image_cols_##SUF(x + b * C * H * W, C, H, W, KH, KW, s, pad, OH, OW, 0, K, xp, col); \
                GEMM(0, 1, (int)K, (int)O, (int)P, 1, cb, (int)P, gy + b * O * P, (int)P,           \
                     b > b0 ? 1 : 0, pg, (int)O);                                                   \
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
    /* gw, and gb (unless NULL) = the sums of gy over its images and positions */                   \
    static void conv2d_grad_w_##SUF(const T *x, const T *gy, size_t B, size_t C, size_t H, size_t W, \
                                    size_t O, size_t KH, size_t KW, size_t s, size_t pad, T *gw,    \
                                    T *gb, T *scratch) {                                            \
        CONV_GEOMETRY;                                                                              \
        (void)Hp, (void)Wp;                                                                         \
        for (size_t o = 0; B == 0 && gb && o < O; o++) gb[o] = 0; /* (scratch may be NULL then) */  \
        if (B == 0) gb = NULL;                                                                      \
        double *gbpart = gb ? gb_scratch(scratch + scratch_base(C, H, W, O, KH, KW, s, pad)) : NULL;  \
        if (WG_##SUF(conv2d_grads, x, gy, NULL, B, C, H, W, O, KH, KW, s, pad, NULL, gw, gbpart, scratch)) { \
            if (gb) gb_fold_##SUF(gbpart, O, gb);                                                   \
            return;                                                                                 \
        }                                                                                           \
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
            c_.gbpart = gb ? gbpart : NULL;                                                         \
            c_.n = groups;                                                                          \
            CONV_RUN(conv_threads(groups, (double)B * (double)(O * K * P)), conv2d_grad_w_groups_body_##SUF, &c_); \
            for (size_t i = 0; i < O * K; i++) {                                                    \
                const size_t it = (i % K) * O + i / K; /* the partials are gwᵀ [K, O] */           \
                T acc = part[it];                                                                   \
                for (size_t gi = 1; gi < groups; gi++) acc += part[gi * O * K + it];                \
                gw[i] = acc;                                                                        \
            }                                                                                       \
            if (gb) gb_fold_##SUF(gbpart, O, gb);                                                   \
            return;                                                                                 \
        }                                                                                           \
        c_.n = K / 16 ? K / 16 : 1;                                                                 \
        CONV_RUN(conv_threads(c_.n, (double)B * (double)(O * K * P)), conv2d_grad_w_cols_body_##SUF, &c_); \
        if (gb) gb_pass_##SUF(gy, B, O, P, gb, gbpart);                                             \
    }                                                                                               \
    void bprt_conv2d_grad_w_##SUF(const T *x, const T *gy, size_t B, size_t C, size_t H, size_t W,  \
                                  size_t O, size_t KH, size_t KW, size_t s, size_t pad, T *gw,      \
                                  T *scratch) {                                                     \
        conv2d_grad_w_##SUF(x, gy, B, C, H, W, O, KH, KW, s, pad, gw, NULL, scratch);               \
    }                                                                                               \
    void bprt_conv2d_grad_wb_##SUF(const T *x, const T *gy, size_t B, size_t C, size_t H, size_t W, \
                                   size_t O, size_t KH, size_t KW, size_t s, size_t pad, T *gw,     \
                                   T *gb, T *scratch) {                                             \
        conv2d_grad_w_##SUF(x, gy, B, C, H, W, O, KH, KW, s, pad, gw, gb, scratch);                 \
    }

DEFINE_CONV(float, f32, bprt_sgemm)
DEFINE_CONV(double, f64, bprt_dgemm)
