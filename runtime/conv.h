/* conv.h — runtime-internal: the threading shared by conv.c (im2col convolution) and
 * conv_wg.c (Winograd convolution). */
#ifndef BPRT_CONV_H
#define BPRT_CONV_H
#include <stddef.h>
#include <stdint.h>

#include "bprt.h"

/* A convolution's arguments, for the body each thread runs (CONV_RUN): typed by the caller */
typedef struct ConvCall {
    const void *x, *w, *gy, *geom;
    void *out, *scratch, *part;
    double *gbpart; /* the bias gradient's partials (conv2d_grad_w's groups), or NULL */
    const struct LayerEp *ep;
    size_t B, C, H, W, O, KH, KW, s, pad, n;
} ConvCall;

#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#include "kernel.h" /* bprt_pool_run, bprt_in_parallel */
#define CONV_PAR_MIN 2000000.0 /* multiply-adds below which a call stays on one thread */
static inline int conv_threads(size_t jobs, double work) {
    if (work < CONV_PAR_MIN || bprt_in_parallel()) return 1;
    int t = bprt_threads();
    if (t > BPRT_CONV_SLOTS) t = BPRT_CONV_SLOTS;
    if ((size_t)t > jobs) t = (int)jobs;
    return t < 1 ? 1 : t;
}
/* body(call, t, nt) as thread t of the pool's nt (pool.c), or (nt == 1) on the caller alone */
#define CONV_RUN(nt, body, call) bprt_pool_run((nt), (body), (call))
#else
static inline int conv_threads(size_t jobs, double work) { (void)jobs, (void)work; return 1; }
#define CONV_RUN(nt, body, call) ((void)(nt), (body)((call), 0, 1))
#endif
/* a CONV_RUN body's parameters: its thread and the team's size */
#define CONV_TID conv_tid_
#define CONV_NTH conv_nth_
#define CONV_BODY(name) static void name(void *conv_arg_, int conv_tid_, int conv_nth_)
/* `nt` sizes the team; single-threaded builds ignore it */
/* for b over this thread's contiguous share of B images or groups of images (the share
   BPRT_SPLIT's elementwise loops give the same thread of the next node) */
#define CONV_SHARE(b, B)                                                                           \
    for (size_t b = (B) * (size_t)CONV_TID / (size_t)CONV_NTH, b##_end_ = (B) * ((size_t)CONV_TID + 1) / (size_t)CONV_NTH; \
         b < b##_end_; b++)
#define CONV_IMAGES(b, B) CONV_SHARE(b, B)
/* the weight gradient of fewer unfolded rows than this sums fixed groups of images on the
   threads (conv.c); more rows are split between the threads */
#define CONV_GW_GROUPED_K BPRT_CONV_GW_GROUPED_K

/* Whether this build has the AVX-512 kernels of conv.c and conv_wg.c (GCC or clang >= 15 on
 * x86-64, not --standalone); they run when the runtime's ISA is AVX-512. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__TINYC__) && !defined(BPRT_STANDALONE) && \
    !defined(BPRT_NO_CLONES) && !(defined(__clang__) && __clang_major__ < 15)
#define ROWS_AVX512_BUILD 1
#else
#define ROWS_AVX512_BUILD 0
#endif

/* A layer's elementwise epilogue (bprt.h, BPRT_DECLARE_LAYER_EW), leaves untyped. */
typedef struct LayerEp {
    const int32_t *code;
    int ncode, nleaf;
    const double *konst;
    const void *const *leaf;
    const ptrdiff_t *ld, *istride;
    const unsigned char *vec;
    void *out;
} LayerEp;
/* Runs ep (if any) over image or plane b: rows x cols of out (element type T, SUF f32 or
 * f64). Not in --standalone output (no bprt_ew_rows there; nothing passes an epilogue). */
#if !defined(BPRT_STANDALONE)
#define DEFINE_LAYER_EP_RUN(T, SUF)                                                                \
    static inline void layer_ep_run_##SUF(const LayerEp *ep, size_t b, size_t rows, size_t cols) { \
        if (!ep) return;                                                                           \
        const T *lv[BPRT_EW_MAX_LEAVES];                                                           \
        int flat = 1; /* every leaf a whole array or a scalar: one row of rows*cols */             \
        for (int k = 0; k < ep->nleaf; k++) {                                                      \
            lv[k] = ep->leaf[k] ? (const T *)ep->leaf[k] + (ptrdiff_t)b * ep->istride[k] : NULL;   \
            flat &= ep->vec[k] ? ep->ld[k] == (ptrdiff_t)cols : ep->ld[k] == 0;                    \
        }                                                                                          \
        bprt_ew_rows_##SUF(ep->code, ep->ncode, ep->konst, lv, ep->nleaf, ep->ld, ep->vec, flat ? 1 : rows, \
                           flat ? rows * cols : cols, (T *)ep->out + b * rows * cols, (ptrdiff_t)cols); \
    }
#else
#define DEFINE_LAYER_EP_RUN(T, SUF)                                                                \
    static inline void layer_ep_run_##SUF(const LayerEp *ep, size_t b, size_t rows, size_t cols) { \
        (void)ep, (void)b, (void)rows, (void)cols;                                                 \
    }
#endif
DEFINE_LAYER_EP_RUN(float, f32)
DEFINE_LAYER_EP_RUN(double, f64)
#define LAYER_EP_INIT(T)                                                                           \
    const LayerEp ep_ = {code, ncode, nleaf, konst, (const void *const *)leaf, ld, istride, vec, out}

/* ---- Winograd geometry (conv_wg.c computes; conv.c sizes the scratch) ----
 * F(m x m, r x r) on 6 x 6 input tiles: F(2x2, 5x5) and F(4x4, 3x3), stride 1, both
 * operands with at least WG_MIN_CHANNELS channels (below that the unfolded product's K is
 * too short to gain) and at least WG_MIN_TILES tiles an image: each image's 36 products are
 * [O, C] @ [C, ldv] with the tiles padded to ldv, a multiple of 16, and read all 36 O C of
 * the transformed weights, so with few tiles they do as many multiplications as the unfolded
 * product or more and stream 4x its weights. A training step (conv, mse, SGD; 1 thread),
 * Winograd against the unfolded products: 3x3 on 8x8 images (4 tiles), 32 x 256 -> 256
 * channels 63 ms against 32, 8 x 256 -> 512 94 against 30, 8 x 128 -> 128 4.4 against 2.2;
 * on 4x4 images (1 tile) 64 x 256 -> 256 97 against 30; 5x5 on 4x4 images (4 tiles) 32 x
 * 64 -> 64 4.0 against 3.5-3.9; at 9 tiles about even (3x3 on 10x10 and 12x12: 32 x 64 ->
 * 64 4.8 against 4.8, 16 x 128 -> 128 8.9-9.8 against 9.8-10.0, 32 x 32 -> 32 1.5 against
 * 2.0), and from 16 tiles Winograd's gain (3x3 on 16x16, 16 x 128 -> 128: 9.3 against 16.2;
 * 32x32, 16 x 64 -> 64: 9.2 against 24.9). The output is cut into TH x TW tiles of m x m
 * (N = TH*TW per image, each transformed array's rows ldv >= N reals apart); the bordered
 * image has Hx rows of
 * Wx reals (zeros past the image and its padding). One thread slot holds the transformed
 * input V [36, C, ldv], the transformed output M [36, O, ldv] (xi vxs and mxs reals apart),
 * the bordered image, the
 * row-transformed image h1 [6, m, Uh, TW], m*m*ldv reals of output tiles, the input
 * gradient's 6 rows of tiles (sbl reals apart, zeros around) and one
 * partial weight gradient [36, O, C]; the transformed weights [36, O, C] precede the
 * slots. */
#define WG_MIN_CHANNELS 8
#define WG_MIN_TILES 9
typedef struct {
    size_t m, r, OH, OW, TH, TW, N, ldv, vxs, mxs, Hx, Wx, nch, Uh;
    size_t sbpre, sbl;
    size_t u_off, v_off, m_off, xp_off, h1_off, t_off, sb_off, du_off, slot, total;
} WgGeom;
static inline size_t wg_round16(size_t n) { return (n + 15) / 16 * 16; }
static inline int wg_geometry(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t s,
                              size_t pad, WgGeom *g) {
    if (s != 1 || KH != KW || (KH != 3 && KH != 5) || C < WG_MIN_CHANNELS || O < WG_MIN_CHANNELS ||
        H + 2 * pad < KH || W + 2 * pad < KW)
        return 0;
    g->r = KH, g->m = 6 - KH + 1;
    g->OH = H + 2 * pad - KH + 1, g->OW = W + 2 * pad - KW + 1;
    g->TH = (g->OH + g->m - 1) / g->m, g->TW = (g->OW + g->m - 1) / g->m, g->N = g->TH * g->TW;
    if (g->N < WG_MIN_TILES) return 0;
    g->ldv = wg_round16(g->N);
    /* V and M per xi, 64 bytes more than their rows: 36 streams a multiple of 4 KiB apart
       would share one set of L1 */
    g->vxs = C * g->ldv + 16, g->mxs = O * g->ldv + 16;
    g->Hx = g->m * (g->TH - 1) + 6;
    g->nch = (g->m * (g->TW - 1) + 1 + 15) / 16; /* 16-column chunks of tile starts */
    g->Wx = 16 * g->nch + 16;
    g->Uh = g->TH + 5 / g->m;
    g->u_off = 0;
    g->v_off = 0, g->m_off = 36 * g->vxs, g->xp_off = g->m_off + 36 * g->mxs;
    g->h1_off = g->xp_off + wg_round16(g->Hx * g->Wx);
    g->t_off = g->h1_off + wg_round16(6 * g->m * g->Uh * g->TW);
    /* the input gradient's rows of tiles, with zeros for 5 / m tile rows before and after */
    g->sbpre = wg_round16(5 / g->m * g->TW), g->sbl = g->sbpre + wg_round16(g->Uh * g->TW) + 16;
    g->sb_off = g->t_off + g->m * g->m * g->ldv;
    g->du_off = g->sb_off + 6 * g->sbl;
    g->slot = g->du_off + wg_round16(36 * O * C);
    g->total = wg_round16(36 * O * C) + BPRT_CONV_SLOTS * g->slot;
    return 1;
}

#if !defined(BPRT_STANDALONE)
/* Winograd convolution (conv_wg.c): 1 if it computed the call, 0 if the call is not one it
 * takes (then conv.c's unfolded products do it). The arguments are bprt_conv2d_f32's. */
int bprt_wg_conv2d_f32(const float *x, const float *w, size_t B, size_t C, size_t H, size_t W, size_t O,
                       size_t KH, size_t KW, size_t s, size_t pad, float *y, float *scratch, const LayerEp *ep);
int bprt_wg_conv2d_grad_x_f32(const float *gy, const float *w, size_t B, size_t C, size_t H, size_t W,
                              size_t O, size_t KH, size_t KW, size_t s, size_t pad, float *gx, float *scratch);
/* gx and/or gw (either may be NULL), and (unless gb_part is NULL) a bias gradient's partials:
   each image's sums of gy added to its group's O doubles at gb_part (bprt_gb_rows_avx512,
   conv.c), which the caller adds in order */
int bprt_wg_conv2d_grads_f32(const float *x, const float *gy, const float *w, size_t B, size_t C, size_t H, size_t W,
                             size_t O, size_t KH, size_t KW, size_t s, size_t pad, float *gx, float *gw, double *gb_part,
                             float *scratch);
/* acc[o] (= when first, else +=) the sum of row o of gy [O, P] (conv.c, AVX-512) */
void bprt_gb_rows_avx512(const float *gy, size_t O, size_t P, double *acc, int first);
#endif
#endif
