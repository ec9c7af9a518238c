/* conv_wg.c — stride-1 3x3 and 5x5 convolutions and their two gradients by Winograd's
 * minimal filtering algorithm: F(4x4, 3x3) and F(2x2, 5x5), both on 6x6 input tiles
 * (f32, AVX-512; conv.c's unfolded products do every other case).
 *
 * In 1-D, the m = 7 - r outputs y_i = sum_k g_k d_(i+k) of a filter g of r taps over a row
 * d of 6 inputs are
 *   y = AT [(G g) . (BT d)]      (. elementwise)
 * with the interpolation points 0, 1, -1, 2, -2 and infinity: y is the transpose of the
 * linear convolution of g with a polynomial of m coefficients, which evaluates both at the
 * points, multiplies and interpolates, so AT is that polynomial's evaluation transposed, BT
 * the transposed inverse of the 6-point evaluation, and G g's evaluation; BT's rows are
 * scaled to integers and G's rows by the inverse. (The same BT serves both filters.) In 2-D,
 * for one tile, one input channel c and one output channel o:
 *   Y = AT [U . V] A,  U = G w[o, c] G^T,  V = BT d B,
 * and summed over c, at each of the 36 positions xi of the 6x6 tile, one GEMM over all tiles:
 *   M[xi] [O, N] = U[xi] [O, C] @ V[xi] [C, N].
 * That is 36 C O N products where the unfolded product does r*r*m*m C O N, 2.8x (5x5) and
 * 4x (3x3) fewer. The gradients are the same linear maps transposed:
 *   dM = A dY AT per tile;  dV[xi] = U[xi]^T @ dM[xi];  dx = the sum of B dV BT over the
 *   overlapping tiles;  dU[xi] = dM[xi] @ V[xi]^T summed over images;  dw = G^T dU G.
 * The rounding is not the unfolded product's: the transforms add and scale before the
 * products (tests/test_runtime_conv.c bounds the difference from a double-precision
 * convolution).
 *
 * Layout and vectors: V [36, C, ldv] and M [36, O, ldv] per image (N = TH*TW tiles in
 * row-major order, rows ldv >= N apart). The input transform applies BT along each row of
 * the zero-bordered image at every column, 16 columns at a time, and keeps every m-th (the
 * tile starts: a compress); it stores the result by row phase, h1[k][h mod m][h / m][tx],
 * so that for each of a tile's 6 rows i the tiles' values lie at one offset from the tile
 * index t = ty*TW + tx, and BT down the columns runs on 16 tiles at once. The output
 * transform works on 16 tiles at once and scatters the m x m results. The input gradient is
 * the input transform transposed: B on 16 tiles (adds by row phase), then an expand and B
 * along each row.
 *
 * Threads: the forward pass splits the images, as conv.c does; the gradients (one pass,
 * wg_backward, for either or both) take BPRT_CONV_SLOTS fixed groups of consecutive images,
 * the weight gradient summing each group into one partial, then the partials in order. No
 * value depends on the thread count. */
#include <string.h>

#include "conv.h"

#if ROWS_AVX512_BUILD
#include <immintrin.h>

#include "kernel.h" /* bprt_isa_id */

#define WG_TARGET __attribute__((target("avx512f")))

/* G (6 x r) for r = 5 and r = 3, its rows scaled by the inverse of BT's */
static const double WG_G5[6][5] = {{1.0 / 4, 0, 0, 0, 0},
                                   {1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6},
                                   {1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
                                   {0, 0, 0, 0, 1}};
static const double WG_G3[6][3] = {{1.0 / 4, 0, 0},           {1.0 / 6, 1.0 / 6, 1.0 / 6},
                                   {1.0 / 6, -1.0 / 6, 1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
static double wg_g(size_t r, size_t j, size_t k) { return r == 5 ? WG_G5[j][k] : WG_G3[j][k]; }

/* z = BT s:  BT = [4 0 -5 0 1 0; 0 4 4 -1 -1 0; 0 -4 4 1 -1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *                  0 4 0 -5 0 1] */
WG_TARGET static inline void wg_bt(const __m512 s[6], __m512 z[6]) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    z[0] = _mm512_fmadd_ps(four, s[0], _mm512_fnmadd_ps(five, s[2], s[4]));
    z[1] = _mm512_fmsub_ps(four, _mm512_add_ps(s[1], s[2]), _mm512_add_ps(s[3], s[4]));
    z[2] = _mm512_fmsub_ps(four, _mm512_sub_ps(s[2], s[1]), _mm512_sub_ps(s[4], s[3]));
    z[3] = _mm512_fmadd_ps(two, _mm512_sub_ps(s[3], s[1]), _mm512_sub_ps(s[4], s[2]));
    z[4] = _mm512_fmadd_ps(two, _mm512_sub_ps(s[1], s[3]), _mm512_sub_ps(s[4], s[2]));
    z[5] = _mm512_fmadd_ps(four, s[1], _mm512_fnmadd_ps(five, s[3], s[5]));
}
/* s = B z = BT^T z */
WG_TARGET static inline void wg_b(const __m512 z[6], __m512 s[6]) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    const __m512 p12 = _mm512_add_ps(z[1], z[2]), m12 = _mm512_sub_ps(z[1], z[2]);
    const __m512 p34 = _mm512_add_ps(z[3], z[4]), m43 = _mm512_sub_ps(z[4], z[3]);
    s[0] = _mm512_mul_ps(four, z[0]);
    s[1] = _mm512_fmadd_ps(four, _mm512_add_ps(m12, z[5]), _mm512_mul_ps(two, m43));
    s[2] = _mm512_fmsub_ps(four, p12, _mm512_fmadd_ps(five, z[0], p34));
    s[3] = _mm512_fmsub_ps(two, _mm512_sub_ps(z[3], z[4]), _mm512_fmadd_ps(five, z[5], m12));
    s[4] = _mm512_add_ps(_mm512_sub_ps(z[0], p12), p34);
    s[5] = z[5];
}
/* y = AT v (m outputs):  m = 2: AT = [1 1 1 1 1 0; 0 1 -1 2 -2 1];
 * m = 4: AT = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
WG_TARGET static inline void wg_at(size_t m, const __m512 v[6], __m512 *y) {
    const __m512 p12 = _mm512_add_ps(v[1], v[2]), m12 = _mm512_sub_ps(v[1], v[2]);
    const __m512 p34 = _mm512_add_ps(v[3], v[4]), m34 = _mm512_sub_ps(v[3], v[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(v[0], p12), p34);
    if (m == 2) {
        y[1] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(2), m34, m12), v[5]);
        return;
    }
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), m34, m12);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), p34, p12);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), m34, m12), v[5]);
}
/* v = A y = AT^T y (6 outputs from m) */
WG_TARGET static inline void wg_a(size_t m, const __m512 *y, __m512 v[6]) {
    const __m512 two = _mm512_set1_ps(2);
    if (m == 2) {
        v[0] = y[0], v[5] = y[1];
        v[1] = _mm512_add_ps(y[0], y[1]), v[2] = _mm512_sub_ps(y[0], y[1]);
        v[3] = _mm512_fmadd_ps(two, y[1], y[0]), v[4] = _mm512_fnmadd_ps(two, y[1], y[0]);
        return;
    }
    const __m512 e = _mm512_add_ps(y[0], y[2]), o = _mm512_add_ps(y[1], y[3]);
    const __m512 e4 = _mm512_fmadd_ps(_mm512_set1_ps(4), y[2], y[0]);
    const __m512 o8 = _mm512_fmadd_ps(_mm512_set1_ps(8), y[3], _mm512_mul_ps(two, y[1]));
    v[0] = y[0], v[5] = y[3];
    v[1] = _mm512_add_ps(e, o), v[2] = _mm512_sub_ps(e, o);
    v[3] = _mm512_add_ps(e4, o8), v[4] = _mm512_sub_ps(e4, o8);
}

static inline __mmask16 wg_mask(size_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }
/* lanes j >= i of s shifted up by i (lane j holds s[j - i]), and the i lanes shifted out
   (lane j < i holds s[16 + j - i]); valignd's count is an immediate */
#define WG_SHIFT_CASES(a, b)                                                                       \
    switch (i) {                                                                                   \
    case 1: return _mm512_alignr_epi32(a, b, 15);                                                  \
    case 2: return _mm512_alignr_epi32(a, b, 14);                                                  \
    case 3: return _mm512_alignr_epi32(a, b, 13);                                                  \
    case 4: return _mm512_alignr_epi32(a, b, 12);                                                  \
    default: return _mm512_alignr_epi32(a, b, 11);                                                 \
    }
WG_TARGET static inline __m512i wg_shift_lo(__m512i s, __m512i zero, int i) { WG_SHIFT_CASES(s, zero) }
WG_TARGET static inline __m512i wg_shift_hi(__m512i s, __m512i zero, int i) { WG_SHIFT_CASES(zero, s) }
/* the lanes of tile starts in 16 columns: every m-th */
static inline __mmask16 wg_keep(size_t m) { return m == 2 ? (__mmask16)0x5555 : (__mmask16)0x1111; }
/* h1's row of phase h mod m, h / m (k = 0; transform k is k*m*Uh*TW further) */
static inline size_t wg_h1_row(const WgGeom *g, size_t h) { return (h % g->m * g->Uh + h / g->m) * g->TW; }

/* V [36, C, ldv] of image xb [C, H, W] (slot's xp and h1 as work space) */
WG_TARGET static void wg_input(const WgGeom *g, const float *xb, size_t C, size_t H, size_t W, size_t pad, float *sl) {
    float *V = sl + g->v_off, *xp = sl + g->xp_off, *h1 = sl + g->h1_off;
    const size_t m = g->m, TW = g->TW, N = g->N, ldv = g->ldv, Wx = g->Wx, per = 16 / m;
    const size_t kstride = m * g->Uh * TW;
    const __mmask16 keep = wg_keep(m);
    memset(xp, 0, sizeof(float) * g->Hx * Wx); /* the border; each channel rewrites the inside */
    for (size_t c = 0; c < C; c++) {
        for (size_t h = 0; h < H; h++) memcpy(xp + (h + pad) * Wx + pad, xb + (c * H + h) * W, sizeof(float) * W);
        for (size_t h = 0; h < g->Hx; h++) { /* BT along the row, kept at the tile starts */
            const float *row = xp + h * Wx;
            float *dst = h1 + wg_h1_row(g, h);
            for (size_t ch = 0; ch < g->nch; ch++) {
                __m512 s[6], z[6];
                for (int i = 0; i < 6; i++) s[i] = _mm512_loadu_ps(row + 16 * ch + (size_t)i);
                wg_bt(s, z);
                const size_t tx0 = ch * per;
                const __mmask16 cnt = wg_mask(TW - tx0 < per ? TW - tx0 : per);
                for (size_t k = 0; k < 6; k++)
                    _mm512_mask_storeu_ps(dst + k * kstride + tx0, cnt, _mm512_maskz_compress_ps(keep, z[k]));
            }
        }
        for (size_t k = 0; k < 6; k++) /* BT down the columns, 16 tiles at a time */
            for (size_t t0 = 0; t0 < N; t0 += 16) {
                const __mmask16 mk = wg_mask(N - t0);
                __m512 s[6], z[6];
                for (size_t i = 0; i < 6; i++)
                    s[i] = _mm512_maskz_loadu_ps(mk, h1 + k * kstride + wg_h1_row(g, i) + t0);
                wg_bt(s, z);
                for (size_t j = 0; j < 6; j++) _mm512_storeu_ps(V + (j * 6 + k) * g->vxs + c * ldv + t0, z[j]);
            }
    }
}

/* image yb [O, OH, OW] from M [36, O, ldv] (AT M A per tile; slot's tiles as work space) */
WG_TARGET static void wg_output(const WgGeom *g, const float *sl_m, size_t O, float *yb, float *tiles) {
    const size_t m = g->m, N = g->N, ldv = g->ldv, TW = g->TW, OH = g->OH, OW = g->OW, per = 16 / m;
    const unsigned keep = wg_keep(m);
    for (size_t o = 0; o < O; o++) {
        for (size_t t0 = 0; t0 < N; t0 += 16) {
            __m512 q[4][6], v[6], y[4];
            for (size_t k = 0; k < 6; k++) {
                for (size_t j = 0; j < 6; j++) v[j] = _mm512_loadu_ps(sl_m + (j * 6 + k) * g->mxs + o * ldv + t0);
                wg_at(m, v, y);
                for (size_t a = 0; a < m; a++) q[a][k] = y[a];
            }
            for (size_t a = 0; a < m; a++) {
                wg_at(m, q[a], y);
                for (size_t b = 0; b < m; b++) _mm512_storeu_ps(tiles + (a * m + b) * ldv + t0, y[b]);
            }
        }
        for (size_t ty = 0; ty < g->TH; ty++) /* row m ty + a interleaves tiles' [a][0..m) */
            for (size_t a = 0; a < m && m * ty + a < OH; a++) {
                float *row = yb + (o * OH + m * ty + a) * OW;
                const float *src = tiles + a * m * ldv + ty * TW;
                for (size_t tx0 = 0, ow = 0; ow < OW; tx0 += per, ow += 16) {
                    __m512 v = _mm512_setzero_ps();
                    for (size_t b = 0; b < m; b++)
                        v = _mm512_mask_expand_ps(v, (__mmask16)(keep << b), _mm512_loadu_ps(src + b * ldv + tx0));
                    _mm512_mask_storeu_ps(row + ow, wg_mask(OW - ow), v);
                }
            }
    }
}

/* dM [36, O, ldv] (into the slot's M) of the output gradient gyb [O, OH, OW]: A dY AT */
WG_TARGET static void wg_dy(const WgGeom *g, const float *gyb, size_t O, float *sl) {
    float *dM = sl + g->m_off, *tiles = sl + g->t_off;
    const size_t m = g->m, N = g->N, ldv = g->ldv, TW = g->TW, OH = g->OH, OW = g->OW, per = 16 / m;
    const unsigned keep = wg_keep(m);
    memset(tiles, 0, sizeof(float) * m * m * ldv); /* the parts of tiles past the image stay 0 */
    for (size_t o = 0; o < O; o++) {
        if (o + 1 < O) /* the next channel's gradient, while this one is transformed */
            for (size_t e = 0; e < OH * OW; e += 16) _mm_prefetch((const char *)(gyb + (o + 1) * OH * OW + e), _MM_HINT_T0);
        for (size_t ty = 0; ty < g->TH; ty++) /* tiles' [a][b] from every m-th of row m ty + a */
            for (size_t a = 0; a < m && m * ty + a < OH; a++) {
                const float *row = gyb + (o * OH + m * ty + a) * OW;
                float *dst = tiles + a * m * ldv + ty * TW;
                for (size_t tx0 = 0, ow = 0; ow < OW; tx0 += per, ow += 16) {
                    const __m512 v = _mm512_maskz_loadu_ps(wg_mask(OW - ow), row + ow);
                    const __mmask16 cnt = wg_mask(TW - tx0 < per ? TW - tx0 : per);
                    for (size_t b = 0; b < m; b++)
                        _mm512_mask_storeu_ps(dst + b * ldv + tx0, cnt, _mm512_maskz_compress_ps((__mmask16)(keep << b), v));
                }
            }
        for (size_t t0 = 0; t0 < N; t0 += 16) {
            __m512 y[4][4], p[6][4], v[6], col[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (size_t a = 0; a < m; a++)
                for (size_t b = 0; b < m; b++) y[a][b] = _mm512_loadu_ps(tiles + (a * m + b) * ldv + t0);
            for (size_t b = 0; b < m; b++) {
                for (size_t a = 0; a < m; a++) col[a] = y[a][b];
                wg_a(m, col, v);
                for (size_t j = 0; j < 6; j++) p[j][b] = v[j];
            }
            for (size_t j = 0; j < 6; j++) {
                wg_a(m, p[j], v);
                for (size_t k = 0; k < 6; k++) _mm512_storeu_ps(dM + (j * 6 + k) * g->mxs + o * ldv + t0, v[k]);
            }
        }
    }
}

/* image gxb [C, H, W] from dV [36, C, ldv] (the slot's V): B dV BT per tile, summed where
 * tiles overlap (the input transform transposed) */
WG_TARGET static void wg_input_adj(const WgGeom *g, size_t C, size_t H, size_t W, size_t pad, float *sl, float *gxb) {
    const float *dV = sl + g->v_off;
    float *xp = sl + g->xp_off, *h1 = sl + g->h1_off, *sb = sl + g->sb_off;
    const size_t m = g->m, TW = g->TW, N = g->N, ldv = g->ldv, Wx = g->Wx, per = 16 / m;
    const size_t kstride = m * g->Uh * TW;
    const __mmask16 keep = wg_keep(m);
    const size_t ph = g->Uh * TW; /* one phase array of h1 */
    memset(sb, 0, sizeof(float) * 6 * g->sbl); /* the zeros before and after each row stay */
    for (size_t c = 0; c < C; c++) {
        for (size_t k = 0; k < 6; k++) {
            /* B down the columns of 16 tiles at a time, row i of the tiles into sb row i ... */
            for (size_t t0 = 0; t0 < N; t0 += 16) {
                const __mmask16 mk = wg_mask(N - t0);
                __m512 z[6], s[6];
                for (size_t j = 0; j < 6; j++) z[j] = _mm512_maskz_loadu_ps(mk, dV + (j * 6 + k) * g->vxs + c * ldv + t0);
                wg_b(z, s);
                for (size_t i = 0; i < 6; i++) _mm512_storeu_ps(sb + i * g->sbl + g->sbpre + t0, s[i]);
            }
            /* ... then each phase array of h1 as the sum of the rows that land in it: row
               i = q + m d of tile t is h1's phase q at t + d TW (no stores and loads that
               partly overlap: those would stall) */
            for (size_t q = 0; q < m; q++)
                for (size_t e0 = 0; e0 < ph; e0 += 16) {
                    __m512 v = _mm512_loadu_ps(sb + q * g->sbl + g->sbpre + e0);
                    for (size_t i = q + m, d = 1; i < 6; i += m, d++)
                        v = _mm512_add_ps(v, _mm512_loadu_ps(sb + i * g->sbl + g->sbpre + e0 - d * TW));
                    _mm512_mask_storeu_ps(h1 + k * kstride + q * ph + e0, wg_mask(ph - e0), v);
                }
        }
        for (size_t h = 0; h < g->Hx; h++) {
            const float *src = h1 + wg_h1_row(g, h);
            float *row = xp + h * Wx;
            __m512 carry = _mm512_setzero_ps(); /* what chunk ch - 1 adds to columns 16 ch.. */
            for (size_t ch = 0; ch < g->nch; ch++) {
                const size_t tx0 = ch * per;
                const __mmask16 cnt = wg_mask(TW - tx0 < per ? TW - tx0 : per);
                __m512 z[6], s[6];
                for (size_t k = 0; k < 6; k++)
                    z[k] = _mm512_maskz_expand_ps(keep, _mm512_maskz_loadu_ps(cnt, src + k * kstride + tx0));
                wg_b(z, s);
                /* s[i] belongs i columns on: the row's vectors ch and ch + 1, shifted in
                   registers (stores at overlapping offsets would stall their loads) */
                __m512 lo = _mm512_add_ps(carry, s[0]), hi = _mm512_setzero_ps();
                const __m512i zero = _mm512_setzero_si512();
                for (int i = 1; i < 6; i++) {
                    const __m512i si = _mm512_castps_si512(s[i]);
                    lo = _mm512_add_ps(lo, _mm512_castsi512_ps(wg_shift_lo(si, zero, i)));
                    hi = _mm512_add_ps(hi, _mm512_castsi512_ps(wg_shift_hi(si, zero, i)));
                }
                _mm512_storeu_ps(row + 16 * ch, lo);
                carry = hi;
            }
            _mm512_storeu_ps(row + 16 * g->nch, carry);
        }
        for (size_t h = 0; h < H; h++) memcpy(gxb + (c * H + h) * W, xp + (h + pad) * Wx + pad, sizeof(float) * W);
    }
}

/* GG [36, r*r]: GG[j*6 + k][a*r + b] = G[j][a] G[k][b], so that U[xi] = sum over (a, b) of
 * GG[xi][a r + b] w[a, b] for every (o, c) at once: one product each way. */
static void wg_gg(size_t r, float *GG) {
    for (size_t j = 0; j < 6; j++)
        for (size_t k = 0; k < 6; k++)
            for (size_t a = 0; a < r; a++)
                for (size_t b = 0; b < r; b++) GG[(j * 6 + k) * r * r + a * r + b] = (float)(wg_g(r, j, a) * wg_g(r, k, b));
}
/* U [36, O*C] = GG [36, r*r] @ w^T (w is [O*C, r*r]): G w[o, c] G^T for every (o, c) */
static void wg_weights(size_t r, const float *w, size_t O, size_t C, float *U) {
    float GG[36 * 25];
    wg_gg(r, GG);
    bprt_sgemm(0, 1, 36, (int)(O * C), (int)(r * r), 1, GG, (int)(r * r), w, (int)(r * r), 0, U, (int)(O * C));
}
/* gw [O*C, r*r] = S^T @ GG, S [36, O*C]: G^T S[o, c] G for every (o, c) */
static void wg_weights_adj(size_t r, const float *S, size_t O, size_t C, float *gw) {
    float GG[36 * 25];
    wg_gg(r, GG);
    bprt_sgemm(1, 0, (int)(O * C), (int)(r * r), 36, 1, S, (int)(O * C), GG, (int)(r * r), 0, gw, (int)(r * r));
}

/* whether the call is Winograd's: the shapes conv.h's wg_geometry takes, on AVX-512 */
static int wg_take(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t s, size_t pad, WgGeom *g) {
    return bprt_isa_id() == BPRT_ISA_AVX512 && wg_geometry(C, H, W, O, KH, KW, s, pad, g);
}

/* The 36 products of one image in the slot sl: M = U V (forward), dV (in V's place) = U^T dM
 * (input gradient), dU (+)= dM V^T (weight gradient; beta 0 for a group's first image). The
 * first two run over the tile count padded to ldv (full kernel tiles; the padding is 0). */
static void wg_products_y(const WgGeom *g, size_t C, size_t O, const float *U, float *sl) {
    for (size_t xi = 0; xi < 36; xi++)
        bprt_sgemm(0, 0, (int)O, (int)g->ldv, (int)C, 1, U + xi * O * C, (int)C, sl + g->v_off + xi * g->vxs, (int)g->ldv,
                   0, sl + g->m_off + xi * g->mxs, (int)g->ldv);
}
static void wg_products_x(const WgGeom *g, size_t C, size_t O, const float *U, float *sl) {
    for (size_t xi = 0; xi < 36; xi++)
        bprt_sgemm(1, 0, (int)C, (int)g->ldv, (int)O, 1, U + xi * O * C, (int)C, sl + g->m_off + xi * g->mxs, (int)g->ldv,
                   0, sl + g->v_off + xi * g->vxs, (int)g->ldv);
}
static void wg_products_w(const WgGeom *g, size_t C, size_t O, float *sl, float beta, float *dU) {
    for (size_t xi = 0; xi < 36; xi++)
        bprt_sgemm(0, 1, (int)O, (int)C, (int)g->N, 1, sl + g->m_off + xi * g->mxs, (int)g->ldv, sl + g->v_off + xi * g->vxs,
                   (int)g->ldv, beta, dU + xi * O * C, (int)C);
}
/* gw from the groups' partial dU (slot gi's, in order) through S [36, O, C] */
static void wg_finish_w(const WgGeom *g, size_t C, size_t O, const float *slots, float *S, float *gw) {
    const size_t nu = 36 * O * C;
    for (size_t i = 0; i < nu; i++) {
        float acc = slots[g->du_off + i];
        for (size_t gi = 1; gi < BPRT_CONV_SLOTS; gi++) acc += slots[gi * g->slot + g->du_off + i];
        S[i] = acc;
    }
    wg_weights_adj(g->r, S, O, C, gw);
}

/* the forward pass of thread CONV_TID's images */
CONV_BODY(wg_forward_body) {
    const ConvCall *c = conv_arg_;
    const WgGeom *g = c->geom;
    const size_t B = c->B, C = c->C, H = c->H, W = c->W, O = c->O;
    const float *U = c->scratch, *x = c->x;
    float *slots = (float *)c->scratch + wg_round16(36 * O * C), *y = c->out;
    float *sl = slots + (size_t)CONV_TID * g->slot;
    CONV_IMAGES(b, B) {
        wg_input(g, x + b * C * H * W, C, H, W, c->pad, sl);
        wg_products_y(g, C, O, U, sl);
        wg_output(g, sl + g->m_off, O, y + b * O * g->OH * g->OW, sl + g->t_off);
        layer_ep_run_f32(c->ep, b, O, g->OH * g->OW);
    }
}

int bprt_wg_conv2d_f32(const float *x, const float *w, size_t B, size_t C, size_t H, size_t W, size_t O,
                       size_t KH, size_t KW, size_t s, size_t pad, float *y, float *scratch, const LayerEp *ep) {
    WgGeom g;
    if (!wg_take(C, H, W, O, KH, KW, s, pad, &g)) return 0;
    wg_weights(g.r, w, O, C, scratch); /* U, then the slots (wg_forward_body) */
    const ConvCall c = {.x = x, .geom = &g, .out = y, .scratch = scratch, .ep = ep, .B = B, .C = C, .H = H,
                        .W = W, .O = O, .pad = pad};
    CONV_RUN(conv_threads(B, (double)B * (double)(O * C * KH * KW * g.OH * g.OW)), wg_forward_body, (void *)&c);
    return 1;
}

/* wg_backward's groups of images of thread CONV_TID: gx (out) image by image, the partials
 * of gw (when part is set) group by group */
CONV_BODY(wg_backward_body) {
    const ConvCall *c = conv_arg_;
    const WgGeom *g = c->geom;
    const size_t B = c->B, C = c->C, H = c->H, W = c->W, O = c->O, pad = c->pad, groups = c->n;
    const size_t nu = 36 * O * C;
    const float *U = c->scratch, *x = c->x, *gy = c->gy;
    float *slots = (float *)c->scratch + wg_round16(nu), *gx = c->out;
    const int gw = c->part != NULL;
    float *sl = slots + (size_t)CONV_TID * g->slot;
    CONV_SHARE(gi, groups) {
        float *dU = slots + gi * g->slot + g->du_off;
        double *pb = c->gbpart ? c->gbpart + gi * O : NULL;
        const size_t b0 = B * gi / groups, b1 = B * (gi + 1) / groups;
        if (gw && b0 == b1) memset(dU, 0, sizeof(float) * nu);
        for (size_t o = 0; pb && b0 == b1 && o < O; o++) pb[o] = 0;
        for (size_t b = b0; b < b1; b++) {
            wg_dy(g, gy + b * O * g->OH * g->OW, O, sl);
            if (pb) bprt_gb_rows_avx512(gy + b * O * g->OH * g->OW, O, g->OH * g->OW, pb, b == b0);
            if (gx) {
                wg_products_x(g, C, O, U, sl);
                wg_input_adj(g, C, H, W, pad, sl, gx + b * C * H * W);
            }
            if (gw) {
                wg_input(g, x + b * C * H * W, C, H, W, pad, sl);
                wg_products_w(g, C, O, sl, b > b0 ? 1.0f : 0.0f, dU);
            }
        }
    }
}

/* The input gradient gx, the weight gradient gw, or both (either may be NULL), in one pass
 * over the images: each image's dM is made once for what is asked. The images go in
 * BPRT_CONV_SLOTS fixed groups; the weight gradient sums each group into its partial, then
 * the partials in order; the input gradient is image by image. So the values are the same
 * whether one or both are asked, and on any thread count. With gb_part, each image's gy is
 * summed as its dM is made, into its group's O doubles there (the caller adds the groups'). */
static void wg_backward(const WgGeom *g, const float *x, const float *gy, const float *w, size_t B, size_t C, size_t H,
                        size_t W, size_t O, size_t pad, float *gx, float *gw, double *gb_part, float *scratch) {
    const size_t groups = BPRT_CONV_SLOTS, nu = 36 * O * C;
    float *U = scratch, *slots = scratch + wg_round16(nu);
    if (gx) wg_weights(g->r, w, O, C, U);
    const double work = (double)B * (double)(O * C * g->r * g->r * g->OH * g->OW);
    /* part: gw's partials are wanted */
    const ConvCall c = {.x = x, .gy = gy, .geom = g, .out = gx, .scratch = scratch, .part = gw, .B = B,
                        .C = C, .H = H, .W = W, .O = O, .pad = pad, .n = groups, .gbpart = gb_part};
    CONV_RUN(conv_threads(groups, (gx && gw ? 2 : 1) * work), wg_backward_body, (void *)&c);
    if (gw) wg_finish_w(g, C, O, slots, U, gw); /* U is done with: the partials' sum goes there */
}

int bprt_wg_conv2d_grad_x_f32(const float *gy, const float *w, size_t B, size_t C, size_t H, size_t W,
                              size_t O, size_t KH, size_t KW, size_t s, size_t pad, float *gx, float *scratch) {
    WgGeom g;
    if (!wg_take(C, H, W, O, KH, KW, s, pad, &g)) return 0;
    wg_backward(&g, NULL, gy, w, B, C, H, W, O, pad, gx, NULL, NULL, scratch);
    return 1;
}

int bprt_wg_conv2d_grads_f32(const float *x, const float *gy, const float *w, size_t B, size_t C, size_t H, size_t W,
                             size_t O, size_t KH, size_t KW, size_t s, size_t pad, float *gx, float *gw, double *gb_part,
                             float *scratch) {
    WgGeom g;
    if (!wg_take(C, H, W, O, KH, KW, s, pad, &g)) return 0;
    wg_backward(&g, x, gy, gx ? w : NULL, B, C, H, W, O, pad, gx, gw, gb_part, scratch);
    return 1;
}

#else
typedef int bprt_conv_wg_unused; /* ISO C: a translation unit declares something */
#endif
