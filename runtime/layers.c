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
 *   softmax_grad  per row of D, softmax's vector-Jacobian product gx = y (g - sum(g y)),
 *              y the softmax's result; the sum in double.
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
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#if !defined(BPRT_STANDALONE)
#include "kernel.h" /* BPRT_TEMP, bprt_scratch */
#endif
#include "conv.h" /* LayerEp */

#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#define LAYERS_PAR_MIN 32768 /* elements below which a kernel stays on one thread */
#define layers_team(work) bprt_team(work, LAYERS_PAR_MIN)
#else
#define layers_team(work) 1
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

/* the parts of layer norm's affine gradient (ln_affine_grad_rows) */
enum { LNA_ALL, LNA_STATS, LNA_OUT };

/* 2x2 max-pooling rows (f32) in AVX-512, 16 windows at a time: the pairs of columns
 * deinterleaved, the same comparisons as the scalar loops below, the gradient stored through
 * the same masks (the same bits), and interleaved back. Rows of 14 or 7 windows (a CNN's)
 * are too short for the compiler's vectorised loops. Used when the runtime's ISA is AVX-512. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__TINYC__) && !defined(BPRT_STANDALONE) && \
    !defined(BPRT_NO_CLONES) && !(defined(__clang__) && __clang_major__ < 15)
#include <immintrin.h>

#include "prefetch.h" /* not in --standalone output, which has no such section */

#include "kernel.h" /* bprt_isa_id */
#define POOL_TARGET __attribute__((target("avx512f")))
#ifndef POOL_AHEAD
#define POOL_AHEAD 2048
#endif
static inline __mmask16 pool_mask(size_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }
/* the even (*e) and odd (*o) of the 2 cnt floats at p */
POOL_TARGET static inline void pool_pairs(const float *p, size_t cnt, __m512 *e, __m512 *o) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 lo = _mm512_maskz_loadu_ps(pool_mask(2 * cnt), p);
    const __m512 hi = _mm512_maskz_loadu_ps(pool_mask(2 * cnt > 16 ? 2 * cnt - 16 : 0), p + 16);
    *e = _mm512_permutex2var_ps(lo, ie, hi), *o = _mm512_permutex2var_ps(lo, io, hi);
}
/* e and o interleaved into the 2 cnt floats at p */
POOL_TARGET static inline void pool_unpairs(float *p, size_t cnt, __m512 e, __m512 o) {
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_mask_storeu_ps(p, pool_mask(2 * cnt), _mm512_permutex2var_ps(e, il, o));
    if (2 * cnt > 16) _mm512_mask_storeu_ps(p + 16, pool_mask(2 * cnt - 16), _mm512_permutex2var_ps(e, ih, o));
}
/* m = the scalar loop's running maximum of v0..v3 (a NaN never taken), any = a NaN seen */
POOL_TARGET static inline __m512 pool_max(const __m512 v[4], __mmask16 *any) {
    __m512 m = v[0];
    __mmask16 nan = _mm512_cmp_ps_mask(v[0], v[0], _CMP_UNORD_Q);
    for (int i = 1; i < 4; i++) {
        m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(v[i], m, _CMP_GT_OQ), v[i]);
        nan |= _mm512_cmp_ps_mask(v[i], v[i], _CMP_UNORD_Q);
    }
    *any = nan;
    return m;
}
/* windows j.. (cnt of them) of rows a and b: v[0], v[1] from a's pairs, v[2], v[3] from b's;
   their maximum as the scalar loop takes it, and whether a NaN was seen (any) */
POOL_TARGET static inline __m512 pool_windows(const float *a, const float *b, size_t j, size_t cnt, __m512 v[4],
                                              __mmask16 *any) {
    pool_pairs(a + 2 * j, cnt, &v[0], &v[1]), pool_pairs(b + 2 * j, cnt, &v[2], &v[3]);
    return pool_max(v, any);
}
POOL_TARGET static void pool2x2_row_f32(const float *a, const float *b, size_t OW, float *o) {
    for (size_t e = 0; e < 4 * OW; e += 16) _mm_prefetch((const char *)(a + POOL_AHEAD + e), _MM_HINT_T0);
    for (size_t j = 0; j < OW; j += 16) {
        const size_t cnt = OW - j < 16 ? OW - j : 16;
        __m512 v[4];
        __mmask16 any;
        const __m512 m = pool_windows(a, b, j, cnt, v, &any);
        _mm512_mask_storeu_ps(o + j, pool_mask(cnt), _mm512_mask_mov_ps(m, any, _mm512_set1_ps(NAN)));
    }
}
POOL_TARGET static void pool2x2_grad_row_f32(const float *a, const float *b, const float *g, size_t OW, float *ga,
                                             float *gb) {
    for (size_t e = 0; e < 4 * OW; e += 16) {
        _mm_prefetch((const char *)(a + POOL_AHEAD + e), _MM_HINT_T0);
        __builtin_prefetch(ga + POOL_AHEAD + e, 1, 3);
    }
    for (size_t j = 0; j < OW; j += 16) {
        const size_t cnt = OW - j < 16 ? OW - j : 16;
        __m512 v[4];
        __mmask16 any;
        const __m512 m = pool_windows(a, b, j, cnt, v, &any);
        __mmask16 h[3]; /* the first NaN if any, else the first maximum */
        for (int i = 0; i < 3; i++)
            h[i] = (__mmask16)((any & _mm512_cmp_ps_mask(v[i], v[i], _CMP_UNORD_Q)) |
                               (~any & _mm512_cmp_ps_mask(v[i], m, _CMP_EQ_OQ)));
        const __m512 gv = _mm512_maskz_loadu_ps(pool_mask(cnt), g + j);
        const __mmask16 s1 = (__mmask16)(h[1] & ~h[0]), s2 = (__mmask16)(h[2] & ~(h[0] | h[1]));
        const __mmask16 s3 = (__mmask16)~(h[0] | h[1] | h[2]);
        pool_unpairs(ga + 2 * j, cnt, _mm512_maskz_mov_ps(h[0], gv), _mm512_maskz_mov_ps(s1, gv));
        pool_unpairs(gb + 2 * j, cnt, _mm512_maskz_mov_ps(s2, gv), _mm512_maskz_mov_ps(s3, gv));
    }
}
#define POOL_FAST_f32 (bprt_isa_id() == BPRT_ISA_AVX512)

/* Layer norm (f32, rows of a multiple of 8) in AVX-512, LN_NR (4) rows at a time: each of a row's
 * sums is one vector of eight double lanes, as LANE_SUM's (lane k mod 8, added up in its
 * order), and the rows' chains of additions interleave (the sums of x and of g in one pass,
 * of the squares and of g (x - mean) in the next), where the scalar loops waited on one
 * chain at a time: tiny_gpt's 2048 x 128 gradient 0.21 -> 0.09 ms on 1 thread. Products
 * of the squares and the outputs use fused multiply-adds, so the bits may differ from the
 * scalar loops' by an ulp. */
#define LN_LD(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#ifndef LN_NR
#define LN_NR 4
#endif
#ifndef LN_DMAX
/* rows up to this long have the affine gradient's x and gy * gamma converted to double once,
 * in its first pass, and kept for the other two (16 KiB of stack): tiny_gpt's 2048 x 128
 * gradient with an addend 0.245 -> 0.200 ms in cache on 1 thread; its three in the step
 * 0.77-0.79 -> 0.64-0.72 ms (profile_step, interleaved) */
#define LN_DMAX 256
#endif
#ifndef LN_PF_GROUPS
#define LN_PF_GROUPS 2
#endif
POOL_TARGET static inline double ln_lanes(__m512d a) {
    double l[8];
    _mm512_storeu_pd(l, a);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
/* rows x[0..nr) -> y (y[r] may be x[r]) */
POOL_TARGET __attribute__((always_inline)) static inline void ln_rows(const float *const *x, size_t D, double eps,
                                                                    float *const *y, const int nr) {
    __m512d s[LN_NR], m[LN_NR], v[LN_NR], rs[LN_NR];
    for (int r = 0; r < nr; r++) s[r] = v[r] = _mm512_setzero_pd();
    for (size_t i = 0; i < D; i += 8)
        for (int r = 0; r < nr; r++) s[r] = _mm512_add_pd(s[r], LN_LD(x[r] + i));
    for (int r = 0; r < nr; r++) m[r] = _mm512_set1_pd(ln_lanes(s[r]) / (double)D);
    for (size_t i = 0; i < D; i += 8)
        for (int r = 0; r < nr; r++) {
            const __m512d c = _mm512_sub_pd(LN_LD(x[r] + i), m[r]);
            v[r] = _mm512_fmadd_pd(c, c, v[r]);
        }
    for (int r = 0; r < nr; r++) rs[r] = _mm512_set1_pd(1 / sqrt(ln_lanes(v[r]) / (double)D + eps));
    for (size_t i = 0; i < D; i += 8)
        for (int r = 0; r < nr; r++)
            _mm256_storeu_ps(y[r] + i, _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(LN_LD(x[r] + i), m[r]), rs[r])));
}
/* rows x[0..nr) and their gradients g -> d (d[r] may be x[r] or g[r]) */
POOL_TARGET __attribute__((always_inline)) static inline void ln_grad_rows(const float *const *x, const float *const *g,
                                                                         size_t D, double eps, float *const *d,
                                                                         const int nr) {
    __m512d s[LN_NR], sg[LN_NR], m[LN_NR], v[LN_NR], sx[LN_NR], rs[LN_NR], mg[LN_NR], k[LN_NR];
    for (int r = 0; r < nr; r++) s[r] = sg[r] = v[r] = sx[r] = _mm512_setzero_pd();
    for (size_t i = 0; i < D; i += 8)
        for (int r = 0; r < nr; r++) {
            s[r] = _mm512_add_pd(s[r], LN_LD(x[r] + i));
            sg[r] = _mm512_add_pd(sg[r], LN_LD(g[r] + i));
        }
    for (int r = 0; r < nr; r++) m[r] = _mm512_set1_pd(ln_lanes(s[r]) / (double)D);
    for (size_t i = 0; i < D; i += 8)
        for (int r = 0; r < nr; r++) {
            const __m512d c = _mm512_sub_pd(LN_LD(x[r] + i), m[r]);
            v[r] = _mm512_fmadd_pd(c, c, v[r]);
            sx[r] = _mm512_fmadd_pd(LN_LD(g[r] + i), c, sx[r]);
        }
    for (int r = 0; r < nr; r++) {
        const double rsd = 1 / sqrt(ln_lanes(v[r]) / (double)D + eps);
        rs[r] = _mm512_set1_pd(rsd);
        mg[r] = _mm512_set1_pd(ln_lanes(sg[r]) / (double)D);
        k[r] = _mm512_set1_pd(rsd * (ln_lanes(sx[r]) * rsd / (double)D)); /* rs sgy */
    }
    for (size_t i = 0; i < D; i += 8)
        for (int r = 0; r < nr; r++) {
            const __m512d c = _mm512_sub_pd(LN_LD(x[r] + i), m[r]);
            const __m512d t = _mm512_fnmadd_pd(c, k[r], _mm512_sub_pd(LN_LD(g[r] + i), mg[r]));
            _mm256_storeu_ps(d[r] + i, _mm512_cvtpd_ps(_mm512_mul_pd(rs[r], t)));
        }
}
/* The rows of the group LN_PF_GROUPS groups after row r's (if it ends by r1) of a, b and c
 * (those given) fetched into L2, and of w for writing, one array after the other (the
 * arrays' lines interleaved gained less): the arrays stream through once, and those made
 * long before (the forward's activations, read by the backward pass) are in no cache.
 * tiny_gpt's three layer norm gradients (2048 x 128 each, profile_step on 1 thread) 1.02-1.10
 * -> 0.79-0.81 ms with the prefetches. */
POOL_TARGET __attribute__((always_inline)) static inline void ln_prefetch_ahead(size_t r, size_t r1, size_t D,
                                                                              const float *a, const float *b,
                                                                              const float *c, float *w) {
    if (r + (LN_PF_GROUPS + 1) * LN_NR > r1) return;
    const size_t o = (r + LN_PF_GROUPS * LN_NR) * D, bytes = LN_NR * D * sizeof(float);
    bprt_prefetch(a + o, bytes, 0);
    if (b) bprt_prefetch(b + o, bytes, 0);
    if (c) bprt_prefetch(c + o, bytes, 0);
    if (w) bprt_prefetch(w + o, bytes, 1);
}
/* rows [r0, r1) of R x D (D a multiple of 8), LN_NR at a time: the forward pass into out
 * when gy is NULL, else the gradient */
POOL_TARGET static void layernorm_rows_f32(const float *x, const float *gy, size_t r0, size_t r1, size_t D,
                                           double eps, float *out) {
    for (size_t r = r0; r < r1; r += LN_NR) {
        ln_prefetch_ahead(r, r1, D, x, gy, NULL, out == x || out == gy ? NULL : out);
        const float *xs[LN_NR], *gs[LN_NR];
        float *os[LN_NR];
        const int nr = r1 - r < LN_NR ? (int)(r1 - r) : LN_NR;
        for (int q = 0; q < nr; q++)
            xs[q] = x + (r + q) * D, gs[q] = gy ? gy + (r + q) * D : NULL, os[q] = out + (r + q) * D;
        if (nr == LN_NR) { /* the row count a constant where the kernels are inlined */
            if (gy) ln_grad_rows(xs, gs, D, eps, os, LN_NR);
            else ln_rows(xs, D, eps, os, LN_NR);
        } else
            for (int q = 0; q < nr; q++) {
                if (gy) ln_grad_rows(xs + q, gs + q, D, eps, os + q, 1);
                else ln_rows(xs + q, D, eps, os + q, 1);
            }
    }
}
#define LNA_G(r, i, gm) _mm512_cvtps_pd(_mm256_mul_ps(_mm256_loadu_ps(gy[r] + (i)), gm))
/* ln_affine_grad_rows's first two passes: rows x[0..nr)'s mean m, 1 / sd rs, the mean of g =
 * gy * gamma mg and the factor k of x - mean, each broadcast; with keep, the rows' x and g
 * in double into xd and gd */
POOL_TARGET __attribute__((always_inline)) static inline void ln_affine_stats_rows(
    const float *const *x, const float *const *gy, const float *gam, size_t D, double eps, const int keep,
    double (*xd)[LN_DMAX], double (*gd)[LN_DMAX], __m512d *m, __m512d *rs, __m512d *mg, __m512d *k, const int nr) {
    __m512d s[LN_NR], sg[LN_NR], v[LN_NR], sx[LN_NR];
    for (int r = 0; r < nr; r++) s[r] = sg[r] = v[r] = sx[r] = _mm512_setzero_pd();
    for (size_t i = 0; i < D; i += 8) {
        const __m256 gm = _mm256_loadu_ps(gam + i);
        for (int r = 0; r < nr; r++) {
            const __m512d xv = LN_LD(x[r] + i), gv = LNA_G(r, i, gm);
            if (keep) _mm512_store_pd(xd[r] + i, xv), _mm512_store_pd(gd[r] + i, gv);
            s[r] = _mm512_add_pd(s[r], xv);
            sg[r] = _mm512_add_pd(sg[r], gv);
        }
    }
    for (int r = 0; r < nr; r++) m[r] = _mm512_set1_pd(ln_lanes(s[r]) / (double)D);
    for (size_t i = 0; i < D; i += 8) {
        const __m256 gm = _mm256_loadu_ps(gam + i);
        for (int r = 0; r < nr; r++) {
            const __m512d c = _mm512_sub_pd(keep ? _mm512_load_pd(xd[r] + i) : LN_LD(x[r] + i), m[r]);
            v[r] = _mm512_fmadd_pd(c, c, v[r]);
            sx[r] = _mm512_fmadd_pd(keep ? _mm512_load_pd(gd[r] + i) : LNA_G(r, i, gm), c, sx[r]);
        }
    }
    for (int r = 0; r < nr; r++) {
        const double rsd = 1 / sqrt(ln_lanes(v[r]) / (double)D + eps);
        rs[r] = _mm512_set1_pd(rsd);
        mg[r] = _mm512_set1_pd(ln_lanes(sg[r]) / (double)D);
        k[r] = _mm512_set1_pd(rsd * (ln_lanes(sx[r]) * rsd / (double)D));
    }
}
/* rows x[0..nr) of layernorm's affine gradient: d = the gradient of x at g = gy * gamma (the
 * float products ln_grad_rows would be given: the same bits), plus a[r] if a is given (a
 * float addition, as of the two results); and gy * xhat (xhat the float ln_rows makes) and
 * gy added into ag / ab in double, in row order (d[r] may be x[r], gy[r] or a[r]). In two
 * parts on several threads: mode LNA_STATS makes only the rows' statistics (mean, 1 / sd,
 * the mean of g and the factor of x - mean) into st[4 r ..], mode LNA_OUT only the outputs
 * of columns [j0, j1) from them (the same values as LNA_ALL's, which does both over every
 * column). */
POOL_TARGET __attribute__((always_inline)) static inline void ln_affine_grad_rows(const float *const *x,
                                                                                const float *const *gy,
                                                                                const float *gam,
                                                                                const float *const *a, size_t D,
                                                                                double eps, float *const *d,
                                                                                double *ag, double *ab,
                                                                                const int nr, const int mode,
                                                                                double *st, size_t j0, size_t j1) {
    __m512d m[LN_NR], rs[LN_NR], mg[LN_NR], k[LN_NR];
    /* the rows' x and g = gy * gamma in double, converted once in the first pass (D <= LN_DMAX) */
    double xd[LN_NR][LN_DMAX] __attribute__((aligned(64))), gd[LN_NR][LN_DMAX] __attribute__((aligned(64)));
    const int keep = mode == LNA_ALL && D <= LN_DMAX;
    if (mode == LNA_OUT)
        for (int r = 0; r < nr; r++) {
            m[r] = _mm512_set1_pd(st[4 * r]), rs[r] = _mm512_set1_pd(st[4 * r + 1]);
            mg[r] = _mm512_set1_pd(st[4 * r + 2]), k[r] = _mm512_set1_pd(st[4 * r + 3]);
        }
    else
        ln_affine_stats_rows(x, gy, gam, D, eps, keep, xd, gd, m, rs, mg, k, nr);
    if (mode == LNA_STATS) {
        for (int r = 0; r < nr; r++) {
            st[4 * r] = _mm512_cvtsd_f64(m[r]), st[4 * r + 1] = _mm512_cvtsd_f64(rs[r]);
            st[4 * r + 2] = _mm512_cvtsd_f64(mg[r]), st[4 * r + 3] = _mm512_cvtsd_f64(k[r]);
        }
        return;
    }
#define LNA_XD(r, i) (keep ? _mm512_load_pd(xd[r] + (i)) : LN_LD(x[r] + (i)))
#define LNA_GD(r, i, gm) (keep ? _mm512_load_pd(gd[r] + (i)) : LNA_G(r, i, gm))
    for (size_t i = j0; i < j1; i += 8) {
        const __m256 gm = _mm256_loadu_ps(gam + i);
        __m512d accg = _mm512_loadu_pd(ag + i), accb = _mm512_loadu_pd(ab + i);
        for (int r = 0; r < nr; r++) {
            const __m256 g = _mm256_loadu_ps(gy[r] + i);
            const __m512d c = _mm512_sub_pd(LNA_XD(r, i), m[r]);
            const __m512d t = _mm512_fnmadd_pd(c, k[r], _mm512_sub_pd(LNA_GD(r, i, gm), mg[r]));
            const __m256 p = _mm256_mul_ps(g, _mm512_cvtpd_ps(_mm512_mul_pd(c, rs[r])));
            accg = _mm512_add_pd(accg, _mm512_cvtps_pd(p));
            accb = _mm512_add_pd(accb, _mm512_cvtps_pd(g));
            __m256 o = _mm512_cvtpd_ps(_mm512_mul_pd(rs[r], t));
            if (a) o = _mm256_add_ps(_mm256_loadu_ps(a[r] + i), o);
            _mm256_storeu_ps(d[r] + i, o);
        }
        _mm512_storeu_pd(ag + i, accg);
        _mm512_storeu_pd(ab + i, accb);
    }
#undef LNA_G
#undef LNA_XD
#undef LNA_GD
}
/* rows [r0, r1) of layernorm's affine gradient, LN_NR at a time: the whole of it (LNA_ALL), or
 * in two parts on several threads, with no pass over kept products: the rows' statistics
 * into st (LNA_STATS, 4 a row), then from them the outputs of columns [j0, j1) of every row
 * (LNA_OUT), each column's sums added in row order (the bits of one thread's pass).
 * tiny_gpt's three 2048 x 128 gradients in the step on 2 threads (profile_step, interleaved)
 * 0.52-0.66 -> 0.47-0.50 ms with the two parts: the products kept for a pass of column sums
 * were 1-2 MB written and read again. (In cache, one alone is a little slower this way: 0.135
 * -> 0.15 ms, the rows read twice.) */
POOL_TARGET static void ln_affine_rows_f32(const float *x, const float *gy, const float *gam, const float *add,
                                           size_t r0, size_t r1, size_t D, double eps, float *out, double *ag,
                                           double *ab, int mode, double *st, size_t j0, size_t j1) {
    for (size_t r = r0; r < r1; r += LN_NR) {
        if (mode == LNA_ALL)
            ln_prefetch_ahead(r, r1, D, x, gy, add, out == x || out == gy || out == add ? NULL : out);
        else if (mode == LNA_STATS)
            ln_prefetch_ahead(r, r1, D, x, gy, NULL, NULL);
        const float *xs[LN_NR], *gs[LN_NR], *as[LN_NR];
        float *os[LN_NR];
        const int nr = r1 - r < LN_NR ? (int)(r1 - r) : LN_NR;
        for (int q = 0; q < nr; q++) {
            xs[q] = x + (r + q) * D, gs[q] = gy + (r + q) * D, os[q] = out ? out + (r + q) * D : NULL;
            as[q] = add ? add + (r + q) * D : NULL;
        }
        double *sr = st ? st + 4 * r : NULL;
#define LNA_CALL(q, n, MODE)                                                                                     \
    ln_affine_grad_rows(xs + (q), gs + (q), gam, add ? as + (q) : NULL, D, eps, os + (q), ag, ab, n, MODE,       \
                        sr ? sr + 4 * (q) : NULL, j0, j1)
        if (nr == LN_NR) { /* the row count and the mode constants where the kernel is inlined */
            if (mode == LNA_ALL) LNA_CALL(0, LN_NR, LNA_ALL);
            else if (mode == LNA_STATS) LNA_CALL(0, LN_NR, LNA_STATS);
            else LNA_CALL(0, LN_NR, LNA_OUT);
        } else
            for (int q = 0; q < nr; q++) {
                if (mode == LNA_ALL) LNA_CALL(q, 1, LNA_ALL);
                else if (mode == LNA_STATS) LNA_CALL(q, 1, LNA_STATS);
                else LNA_CALL(q, 1, LNA_OUT);
            }
#undef LNA_CALL
    }
}
#undef LN_LD
#define LN_FAST_f32(D) (bprt_isa_id() == BPRT_ISA_AVX512 && (D) % 8 == 0)
#else
#define POOL_FAST_f32 0
#define pool2x2_row_f32(a, b, OW, o) ((void)0)
#define pool2x2_grad_row_f32(a, b, g, OW, ga, gb) ((void)0)
#define LN_FAST_f32(D) 0
#define LN_NR 1
#define layernorm_rows_f32(x, gy, r0, r1, D, eps, out) ((void)(x), (void)(gy), (void)(r0), (void)(r1), (void)(out))
#define ln_affine_rows_f32(x, gy, gam, add, r0, r1, D, eps, out, ag, ab, mode, st, j0, j1)                    \
    ((void)(x), (void)(gy), (void)(gam), (void)(add), (void)(r0), (void)(r1), (void)(out), (void)(ag), (void)(ab), \
     (void)(mode), (void)(st), (void)(j0), (void)(j1))
#endif
#define POOL_FAST_f64 0
#define LN_FAST_f64(D) 0
#define F32P(p) ((float *)(void *)(p))
#define F32CP(p) ((const float *)(const void *)(p))

/* bprt_maxpool2d_grad_ew_* (not in --standalone output) */
#if !defined(BPRT_STANDALONE)
#define POOL_GRAD_EW(T, SUF)                                                                       \
    void bprt_maxpool2d_grad_ew_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, size_t k, \
                                      size_t stride, T *gx, const int32_t *code, int ncode,        \
                                      const double *konst, const T *const *leaf, int nleaf,        \
                                      const ptrdiff_t *ld, const ptrdiff_t *istride,               \
                                      const unsigned char *vec, T *out) {                          \
        LAYER_EP_INIT(T);                                                                          \
        maxpool2d_grad_##SUF(x, gy, N, H, W, k, stride, gx, &ep_);                                 \
    }
#else
#define POOL_GRAD_EW(T, SUF)
#endif

/* In a pooling kernel's share of planes: the plane's and the window's sizes from its call c_,
 * and the output plane's */
#define POOL_GEOMETRY                                                                              \
    const size_t H = c_->H, W = c_->W, k = c_->k, stride = c_->stride;                             \
    const size_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1

/* The calling thread's buffer for layer norm's affine gradient's products: the GEMM's
 * per-thread scratch (kept between calls and grown as needed, so that a training loop does
 * not map and fault in fresh pages every step); NULL if out of memory. None in --standalone
 * output, which is single-threaded and keeps no products. */
#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#define lna_scratch(bytes) bprt_scratch(BPRT_SCRATCH_LAYERS, (bytes))
#else
#define lna_scratch(bytes) ((void)(bytes), (void *)0)
#endif

/* Layer norm's affine gradient in one pass (bprt_layernorm_affine_grad), with its rows'
 * sums in a buffer of this thread's (BPRT_TEMP). Not in --standalone output, which keeps no
 * buffers between calls: its code makes the gradient by the separate passes. */
#if !defined(BPRT_STANDALONE)
#define DEFINE_LN_AFFINE(T, SUF)                                                                    \
    /* one row of layernorm's affine gradient (bprt_layernorm_affine_grad): gx at g = gy * gamma  \
       as layernorm_grad_row makes it (plus ar's row, if given), and gy * xhat (xhat as          \
       layernorm_row makes it), gy added into ag, ab, or with ag NULL stored in pr, gr (dr may   \
       be xr, gyr or ar) */                                                                      \
    BPRT_CLONES static void ln_affine_row_##SUF(const T *xr, const T *gyr, const T *gam, const T *ar, size_t D, \
                                                double eps, T *dr, double *ag, double *ab, T *pr, T *gr) { \
        double mean, var, sg, sgx;                                                                  \
        LANE_SUM(D, k, (double)xr[k], mean);                                                        \
        mean /= (double)D;                                                                          \
        LANE_SUM(D, k, ((double)xr[k] - mean) * ((double)xr[k] - mean), var);                       \
        const double rs = ln_rs_##SUF(xr, D, mean, var, eps);                                       \
        LANE_SUM(D, k, (double)(T)(gyr[k] * gam[k]), sg);                                           \
        LANE_SUM(D, k, (double)(T)(gyr[k] * gam[k]) * ((double)xr[k] - mean), sgx);                 \
        sg /= (double)D;                                                                            \
        const double sgy = sgx * rs / (double)D;                                                    \
        for (size_t i = 0; i < D; i++) {                                                            \
            const T g = gyr[i], xh = (T)(((double)xr[i] - mean) * rs), p = (T)(g * xh);             \
            if (ag) ag[i] += (double)p, ab[i] += (double)g;                                         \
            else {                                                                                  \
                pr[i] = p;                                                                          \
                if (gr) gr[i] = g;                                                                  \
            }                                                                                       \
            const T v = (T)(rs * ((double)(T)(g * gam[i]) - sg - ((double)xr[i] - mean) * rs * sgy)); \
            dr[i] = ar ? (T)(ar[i] + v) : v;                                                        \
        }                                                                                           \
    }                                                                                               \
    typedef struct {                                                                                \
        const T *x, *gy, *gam, *add, *gs;                                                           \
        T *gx, *sp, *sg;                                                                            \
        size_t R, D;                                                                                \
        double eps, *acc, *st;                                                                      \
    } LnaCall_##SUF;                                                                                \
    /* groups [g0, g1) of LN_NR rows: their statistics (the AVX-512 kernel's first part) */        \
    static void ln_affine_stats_task_##SUF(void *arg, size_t g0, size_t g1) {                       \
        const LnaCall_##SUF *c_ = (const LnaCall_##SUF *)arg;                                       \
        const size_t r1 = g1 * LN_NR < c_->R ? g1 * LN_NR : c_->R;                                  \
        ln_affine_rows_f32(F32CP(c_->x), F32CP(c_->gy), F32CP(c_->gam), NULL, g0 * LN_NR, r1, c_->D, c_->eps, NULL, \
                           NULL, NULL, LNA_STATS, c_->st, 0, c_->D);                                \
    }                                                                                               \
    /* chunks [k0, k1) of 16 columns: their outputs and sums over every row (the second part) */  \
    static void ln_affine_cols_task_##SUF(void *arg, size_t k0, size_t k1) {                        \
        const LnaCall_##SUF *c_ = (const LnaCall_##SUF *)arg;                                       \
        const size_t j1 = k1 * 16 < c_->D ? k1 * 16 : c_->D;                                        \
        ln_affine_rows_f32(F32CP(c_->x), F32CP(c_->gy), F32CP(c_->gam), F32CP(c_->add), 0, c_->R, c_->D, c_->eps, \
                           F32P(c_->gx), c_->acc, c_->acc + c_->D, LNA_OUT, c_->st, k0 * 16, j1);    \
    }                                                                                               \
    /* rows [r0, r1) in the plain loops: gx, and the products                                     \
       gy * xhat into sp (and gy into sg, when sg is given: gx overwrites gy) */                 \
    static void ln_affine_task_##SUF(void *arg, size_t r0, size_t r1) {                             \
        const LnaCall_##SUF *c_ = (const LnaCall_##SUF *)arg;                                       \
        const size_t D = c_->D;                                                                     \
        T *sg = c_->sg; /* a copy of gy, needed only when gx is gy */                               \
        for (size_t r = r0; r < r1; r++)                                                            \
            ln_affine_row_##SUF(c_->x + r * D, c_->gy + r * D, c_->gam, c_->add ? c_->add + r * D : NULL, D, c_->eps, \
                                c_->gx + r * D, NULL, NULL, c_->sp + r * D, sg ? sg + r * D : NULL);  \
    }                                                                                               \
    /* columns [j0, j1): the sums over the rows, in order, of sp and of gy (or its copy), 64      \
       columns at a time in local accumulators (vectorised): bprt_sum_axis's order, but both       \
       arrays in one pass and the columns split between the threads (two bprt_sum_axis calls,      \
       128 columns one block on one thread, took 225-260 us for 2048 x 128 on 2 threads against    \
       102-113 for the whole call this way) */                                                     \
    BPRT_CLONES static void ln_affine_colsums_##SUF(const T *sp, const T *gs, size_t R, size_t D, size_t j0, \
                                                    size_t j1, double *acc) {                       \
        for (size_t b = j0; b < j1; b += 64) {                                                      \
            const size_t w = j1 - b < 64 ? j1 - b : 64;                                             \
            double a[64], c[64];                                                                    \
            for (size_t j = 0; j < w; j++) a[j] = c[j] = 0;                                         \
            for (size_t r = 0; r < R; r++) {                                                        \
                const T *p = sp + r * D + b, *q = gs + r * D + b;                                   \
                for (size_t j = 0; j < w; j++) a[j] += (double)p[j], c[j] += (double)q[j];          \
            }                                                                                       \
            for (size_t j = 0; j < w; j++) acc[b + j] = a[j], acc[D + b + j] = c[j];                \
        }                                                                                           \
    }                                                                                               \
    static void ln_affine_sums_##SUF(void *arg, size_t j0, size_t j1) {                             \
        const LnaCall_##SUF *c_ = (const LnaCall_##SUF *)arg;                                       \
        ln_affine_colsums_##SUF(c_->sp, c_->gs, c_->R, c_->D, j0, j1, c_->acc);                     \
    }                                                                                               \
    /* On one thread the sums are added as the rows are made. On several, the AVX-512 kernel     \
       splits the rows for their statistics and then the columns for the outputs and sums; the   \
       plain loops split the rows, keep their products, and then split the columns' sums. Every   \
       way adds each column's rows in order, in double (bprt_sum_axis's order: the same bits). */ \
    void bprt_layernorm_affine_grad_##SUF(const T *x, const T *gy, const T *gamma, const T *add, size_t R, \
                                          size_t D, double eps, T *gx, T *dgamma, T *dbeta) {       \
        double *acc = (double *)BPRT_TEMP(BPRT_SCRATCH_SUMS, (2 * D + 1) * sizeof(double));          \
        if (!acc) abort(); /* out of memory for two rows of sums */                                 \
        memset(acc, 0, (2 * D + 1) * sizeof(double));                                               \
        const size_t G = LN_FAST_##SUF(D) ? LN_NR : 1, ng = (R + G - 1) / G;                        \
        int team = ng < 2 ? 1 : layers_team(R * D);                                                 \
        if ((size_t)team > ng) team = (int)ng;                                                      \
        if (LN_FAST_##SUF(D)) {                                                                     \
            double *st = team > 1 ? (double *)lna_scratch(4 * R * sizeof(double)) : NULL;           \
            const LnaCall_##SUF c_ = {x, gy, gamma, add, NULL, gx, NULL, NULL, R, D, eps, acc, st};  \
            if (st) { /* each row's statistics, then each column's outputs and sums */              \
                BPRT_SPLIT(team, ng, ln_affine_stats_task_##SUF, (void *)&c_);                      \
                BPRT_SPLIT(team, (D + 15) / 16, ln_affine_cols_task_##SUF, (void *)&c_);            \
            } else /* one thread (or no memory for the statistics): the same bits */               \
                ln_affine_rows_f32(F32CP(x), F32CP(gy), F32CP(gamma), F32CP(add), 0, R, D, eps, F32P(gx), acc, \
                                   acc + D, LNA_ALL, NULL, 0, D);                                   \
        } else {                                                                                    \
            const int copy_gy = gx == gy;                                                           \
            T *sp = team > 1 ? (T *)lna_scratch(((size_t)1 + (size_t)copy_gy) * R * D * sizeof(T) + 1) : NULL; \
            if (sp) {                                                                               \
                const LnaCall_##SUF c_ = {x, gy, gamma, add, copy_gy ? sp + R * D : gy, gx, sp,     \
                                          copy_gy ? sp + R * D : NULL, R, D, eps, acc, NULL};        \
                BPRT_SPLIT(team, R, ln_affine_task_##SUF, (void *)&c_);                             \
                BPRT_SPLIT(layers_team(R * D), D, ln_affine_sums_##SUF, (void *)&c_);               \
            } else                                                                                  \
                for (size_t r = 0; r < R; r++)                                                      \
                    ln_affine_row_##SUF(x + r * D, gy + r * D, gamma, add ? add + r * D : NULL, D, eps, gx + r * D, \
                                        acc, acc + D, NULL, NULL);                                  \
        }                                                                                           \
        for (size_t j = 0; j < D; j++) {                                                            \
            if (dgamma) dgamma[j] = (T)acc[j];                                                      \
            if (dbeta) dbeta[j] = (T)acc[D + j];                                                    \
        }                                                                                           \
        BPRT_TEMP_DONE(BPRT_SCRATCH_SUMS, acc);                                                                        \
    }
#else
#define DEFINE_LN_AFFINE(T, SUF)
#endif

/* Every kernel, for T = float (SUF f32) and double (f64). */
#define DEFINE_LAYERS(T, SUF, UT) /* UT: the unsigned integer of T's size */                                                                      \
    /* a kernel's arguments, for its shares on the threads (BPRT_SPLIT) */                          \
    typedef struct {                                                                                \
        const T *x, *gy;                                                                            \
        T *y;                                                                                       \
        size_t R, H, W, k, stride, D;                                                               \
        double eps, fill, p; /* layer norm's epsilon, the causal mask's fill, dropout's p */        \
        const LayerEp *ep;                                                                          \
        const int32_t *ids;                                                                         \
        uint64_t seed, stream;                                                                      \
    } LayCall_##SUF;                                                                                \
    /* the common 2x2 window with stride 2, unrolled (same results as the general loops); rows      \
       [r0, r1) of the N OH output rows */                                                          \
    BPRT_CLONES static void maxpool2x2_rows_##SUF(void *arg, size_t r0, size_t r1) {                \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const T *x = c_->x;                                                                         \
        T *y = c_->y;                                                                               \
        const size_t H = c_->H, W = c_->W, OH = H / 2, OW = W / 2;                                  \
        const int fast = POOL_FAST_##SUF;                                                           \
        for (size_t r = r0; r < r1; r++) {                                                          \
            const size_t n = r / OH, i = r % OH;                                                   \
            const T *a = x + (n * H + 2 * i) * W, *b = a + W;                                      \
            T *o = y + r * OW;                                                                     \
            if (fast) {                                                                            \
                pool2x2_row_f32(F32CP(a), F32CP(b), OW, F32P(o));                                  \
                continue;                                                                          \
            }                                                                                      \
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
    static void maxpool2x2_##SUF(const T *x, size_t N, size_t H, size_t W, T *y) {                  \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.y = y, c_.H = H, c_.W = W;                                                     \
        BPRT_SPLIT(layers_team(N * H * W), N * (H / 2), maxpool2x2_rows_##SUF, &c_);                \
    }                                                                                               \
    /* planes [p0, p1) */                                                                           \
    BPRT_CLONES static void maxpool2x2_grad_planes_##SUF(void *arg, size_t p0, size_t p1) {         \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const T *x = c_->x, *gy = c_->gy;                                                           \
        T *gx = c_->y;                                                                              \
        const LayerEp *ep = c_->ep;                                                                 \
        const size_t H = c_->H, W = c_->W, OH = H / 2, OW = W / 2;                                  \
        const int fast = POOL_FAST_##SUF;                                                           \
        for (size_t n = p0; n < p1; n++) {                                                          \
            for (size_t i = 0; i < OH; i++) {                                                      \
                const T *a = x + (n * H + 2 * i) * W, *b = a + W;                                  \
                T *ga = gx + (n * H + 2 * i) * W, *gb = ga + W;                                    \
                const T *g = gy + (n * OH + i) * OW;                                               \
                if (fast) pool2x2_grad_row_f32(F32CP(a), F32CP(b), F32CP(g), OW, F32P(ga), F32P(gb)); \
                for (size_t j = 0; j < OW && !fast; j++) {                                         \
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
            layer_ep_run_##SUF(ep, n, H, W);                                                       \
        }                                                                                          \
    }                                                                                              \
    static void maxpool2x2_grad_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, T *gx, \
                                      const LayerEp *ep) {                                          \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.gy = gy, c_.y = gx, c_.H = H, c_.W = W, c_.ep = ep;                            \
        BPRT_SPLIT(layers_team(N * H * W), N, maxpool2x2_grad_planes_##SUF, &c_);                   \
    }                                                                                               \
    /* planes [n0, n1) of a k x k window's maximum */                                               \
    static void maxpool_planes_##SUF(void *arg, size_t n0, size_t n1) {                             \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const T *x = c_->x;                                                                         \
        T *y = c_->y;                                                                               \
        POOL_GEOMETRY;                                                                              \
        for (size_t n = n0; n < n1; n++)                                                            \
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
    /* x[N, H, W] (N = B*C planes) -> y[N, OH, OW]; gx like x */                                    \
    void bprt_maxpool2d_##SUF(const T *x, size_t N, size_t H, size_t W, size_t k, size_t stride, T *y) { \
        if (k == 2 && stride == 2) {                                                                \
            maxpool2x2_##SUF(x, N, H, W, y);                                                        \
            return;                                                                                 \
        }                                                                                           \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.y = y, c_.H = H, c_.W = W, c_.k = k, c_.stride = stride;                       \
        BPRT_SPLIT(layers_team(N * H * W), N, maxpool_planes_##SUF, &c_);                           \
    }                                                                                               \
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
    /* planes [n0, n1) of max-pooling's gradient */                                                 \
    static void maxpool_grad_planes_##SUF(void *arg, size_t n0, size_t n1) {                        \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const T *x = c_->x, *gy = c_->gy;                                                           \
        T *gx = c_->y;                                                                              \
        const LayerEp *ep = c_->ep;                                                                 \
        POOL_GEOMETRY;                                                                              \
        for (size_t n = n0; n < n1; n++) {                                                          \
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
                layer_ep_run_##SUF(ep, n, H, W);                                                   \
                continue;                                                                          \
            }                                                                                      \
            memset(gx + n * H * W, 0, sizeof(T) * H * W);                                          \
            for (size_t i = 0; i < OH; i++)                                                        \
                for (size_t j = 0; j < OW; j++) {                                                  \
                    const size_t base = (n * H + i * stride) * W + j * stride;                     \
                    gx[maxpool_argmax_##SUF(x, base, W, k)] += gy[(n * OH + i) * OW + j];          \
                }                                                                                  \
            layer_ep_run_##SUF(ep, n, H, W);                                                       \
        }                                                                                          \
    }                                                                                              \
    static void maxpool2d_grad_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, size_t k, \
                                     size_t stride, T *gx, const LayerEp *ep) {                     \
        if (k == 2 && stride == 2) {                                                                \
            maxpool2x2_grad_##SUF(x, gy, N, H, W, gx, ep);                                          \
            return;                                                                                 \
        }                                                                                           \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.gy = gy, c_.y = gx, c_.H = H, c_.W = W, c_.k = k, c_.stride = stride,          \
            c_.ep = ep;                                                                             \
        BPRT_SPLIT(layers_team(N * H * W), N, maxpool_grad_planes_##SUF, &c_);                      \
    }                                                                                               \
    void bprt_maxpool2d_grad_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, size_t k,\
                                   size_t stride, T *gx) {                                         \
        maxpool2d_grad_##SUF(x, gy, N, H, W, k, stride, gx, NULL);                                 \
    }                                                                                              \
    POOL_GRAD_EW(T, SUF)                                                                           \
    /* planes [n0, n1) of average pooling */                                                        \
    static void avgpool_planes_##SUF(void *arg, size_t n0, size_t n1) {                             \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const T *x = c_->x;                                                                         \
        T *y = c_->y;                                                                               \
        POOL_GEOMETRY;                                                                              \
        const T inv = (T)(1.0 / (double)(k * k));                                                   \
        for (size_t n = n0; n < n1; n++)                                                            \
            for (size_t i = 0; i < OH; i++)                                                        \
                for (size_t j = 0; j < OW; j++) {                                                  \
                    const T *w = x + (n * H + i * stride) * W + j * stride;                        \
                    T s = 0;                                                                       \
                    for (size_t a = 0; a < k; a++)                                                 \
                        for (size_t c = 0; c < k; c++) s += w[a * W + c];                          \
                    y[(n * OH + i) * OW + j] = s * inv;                                            \
                }                                                                                  \
    }                                                                                              \
    void bprt_avgpool2d_##SUF(const T *x, size_t N, size_t H, size_t W, size_t k, size_t stride, T *y) { \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.y = y, c_.H = H, c_.W = W, c_.k = k, c_.stride = stride;                       \
        BPRT_SPLIT(layers_team(N * H * W), N, avgpool_planes_##SUF, &c_);                           \
    }                                                                                               \
    /* planes [n0, n1) of average pooling's gradient */                                             \
    static void avgpool_grad_planes_##SUF(void *arg, size_t n0, size_t n1) {                        \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const T *gy = c_->gy;                                                                       \
        T *gx = c_->y;                                                                              \
        POOL_GEOMETRY;                                                                              \
        const T inv = (T)(1.0 / (double)(k * k));                                                   \
        for (size_t n = n0; n < n1; n++) {                                                          \
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
    void bprt_avgpool2d_grad_##SUF(const T *gy, size_t N, size_t H, size_t W, size_t k, size_t stride, T *gx) { \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.gy = gy, c_.y = gx, c_.H = H, c_.W = W, c_.k = k, c_.stride = stride;                    \
        BPRT_SPLIT(layers_team(N * H * W), N, avgpool_grad_planes_##SUF, &c_);                      \
    }                                                                                               \
    /* 1 / sqrt(var + eps) of row xr (D entries, mean `mean`) from ss, the sum of its squared       \
       deviations; where ss overflows double (finite entries beyond about 1e154, so f64 only)       \
       the squares of the deviations over the largest, a, are summed instead: rs was 0, so y        \
       was beta and the gradient 0 (PyTorch's: NaN) where the values are finite. One test           \
       per row: the rows that do not overflow pay nothing else */                                   \
    static double ln_rs_##SUF(const T *xr, size_t D, double mean, double ss, double eps) {          \
        if (!isinf(ss) || !isfinite(mean)) return 1 / sqrt(ss / (double)D + eps);                   \
        double a = 0, s;                                                                            \
        for (size_t i = 0; i < D; i++) a = fmax(a, fabs((double)xr[i] - mean));                     \
        if (isinf(a)) return 1 / sqrt(ss / (double)D + eps); /* x - mean overflowed: as before */   \
        LANE_SUM(D, k, (((double)xr[k] - mean) / a) * (((double)xr[k] - mean) / a), s);             \
        return 1 / a / sqrt(s / (double)D + eps / a / a);                                           \
    }                                                                                               \
    /* one row of layernorm and of its gradient; sums in double over eight lanes (LANE_SUM) */      \
    BPRT_CLONES static void layernorm_row_##SUF(const T *xr, size_t D, double eps, T *yr) {         \
        double mean, var;                                                                           \
        LANE_SUM(D, k, (double)xr[k], mean);                                                        \
        mean /= (double)D;                                                                          \
        LANE_SUM(D, k, ((double)xr[k] - mean) * ((double)xr[k] - mean), var);                       \
        const double rs = ln_rs_##SUF(xr, D, mean, var, eps);                                       \
        for (size_t i = 0; i < D; i++) yr[i] = (T)(((double)xr[i] - mean) * rs);                    \
    }                                                                                               \
    BPRT_CLONES static void layernorm_grad_row_##SUF(const T *xr, const T *gr, size_t D, double eps, T *dr) {\
        double mean, var, sg, sgx;                                                                  \
        LANE_SUM(D, k, (double)xr[k], mean);                                                        \
        mean /= (double)D;                                                                          \
        LANE_SUM(D, k, ((double)xr[k] - mean) * ((double)xr[k] - mean), var);                       \
        const double rs = ln_rs_##SUF(xr, D, mean, var, eps);                                       \
        LANE_SUM(D, k, (double)gr[k], sg);                                                          \
        LANE_SUM(D, k, (double)gr[k] * ((double)xr[k] - mean), sgx);                                \
        sg /= (double)D;                                                                            \
        const double sgy = sgx * rs / (double)D;                                                    \
        for (size_t i = 0; i < D; i++) dr[i] = (T)(rs * ((double)gr[i] - sg - ((double)xr[i] - mean) * rs * sgy));\
    }                                                                                               \
    /* rows [r0, r1) of layernorm, or of its gradient when gy is given */                           \
    static void layernorm_task_##SUF(void *arg, size_t r0, size_t r1) {                             \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const size_t D = c_->D;                                                                     \
        for (size_t r = r0; r < r1; r++)                                                            \
            if (c_->gy)                                                                             \
                layernorm_grad_row_##SUF(c_->x + r * D, c_->gy + r * D, D, c_->eps, c_->y + r * D); \
            else                                                                                    \
                layernorm_row_##SUF(c_->x + r * D, D, c_->eps, c_->y + r * D);                      \
    }                                                                                               \
    /* groups [g0, g1) of LN_NR rows (layernorm_rows_f32) */                                        \
    static void layernorm_groups_##SUF(void *arg, size_t g0, size_t g1) {                           \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const size_t r1 = LN_NR * g1 < c_->R ? LN_NR * g1 : c_->R;                                  \
        layernorm_rows_f32(F32CP(c_->x), F32CP(c_->gy), LN_NR * g0, r1, c_->D, c_->eps, F32P(c_->y)); \
    }                                                                                               \
    /* x, y, gy, gx [R, D]; on AVX-512 in groups of LN_NR rows: a thread's range starts on a group */ \
    static void layernorm_any_##SUF(const T *x, const T *gy, size_t R, size_t D, double eps, T *out) { \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.gy = gy, c_.y = out, c_.R = R, c_.D = D, c_.eps = eps;                         \
        if (LN_FAST_##SUF(D))                                                                       \
            BPRT_SPLIT(layers_team(R * D), (R + LN_NR - 1) / LN_NR, layernorm_groups_##SUF, &c_);   \
        else                                                                                        \
            BPRT_SPLIT(layers_team(R * D), R, layernorm_task_##SUF, &c_);                           \
    }                                                                                               \
    void bprt_layernorm_##SUF(const T *x, size_t R, size_t D, double eps, T *y) {                   \
        layernorm_any_##SUF(x, NULL, R, D, eps, y);                                                 \
    }                                                                                               \
    void bprt_layernorm_grad_##SUF(const T *x, const T *gy, size_t R, size_t D, double eps, T *gx) { \
        layernorm_any_##SUF(x, gy, R, D, eps, gx);                                                  \
    }                                                                                               \
    DEFINE_LN_AFFINE(T, SUF)                                                                        \
    /* rows [r0, r1) of softmax's vjp: gx = y (g - s), s = sum(g y) in double (gx may be y or g); \
       one call per thread's share, so the ISA's clone is picked once, not per row */           \
    BPRT_CLONES static void softmax_grad_rows_##SUF(const T *y, const T *gy, size_t r0, size_t r1, size_t D, \
                                                    T *gx) {                                        \
        for (size_t r = r0; r < r1; r++) {                                                          \
            const T *yr = y + r * D, *gr = gy + r * D;                                              \
            T *dr = gx + r * D;                                                                     \
            double s;                                                                               \
            LANE_SUM(D, k, (double)yr[k] * (double)gr[k], s);                                       \
            const T st = (T)s;                                                                      \
            for (size_t i = 0; i < D; i++) dr[i] = yr[i] * (gr[i] - st);                            \
        }                                                                                           \
    }                                                                                               \
    /* softmax_grad_rows into out (which may be y or g), then times scale if scaled (a separate \
       rounding) */                                                                             \
    BPRT_CLONES static void softmax_grad_into_##SUF(const T *y, const T *g, size_t R, size_t D, int scaled, \
                                                    T scale, T *out) {                             \
        softmax_grad_rows_##SUF(y, g, 0, R, D, out);                                               \
        if (scaled)                                                                                \
            for (size_t i = 0; i < R * D; i++) out[i] = out[i] * scale;                            \
    }                                                                                              \
    void bprt_softmax_grad_rows_##SUF(const T *y, const T *g, size_t R, size_t D, int scaled, T scale, \
                                      T *out) {                                                    \
        softmax_grad_into_##SUF(y, g, R, D, scaled, scale, out);                                   \
    }                                                                                              \
    /* y, gy, gx [R, D] */                                                                          \
    static void softmax_grad_task_##SUF(void *arg, size_t r0, size_t r1) {                          \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        softmax_grad_rows_##SUF(c_->x, c_->gy, r0, r1, c_->D, c_->y);                               \
    }                                                                                               \
    void bprt_softmax_grad_##SUF(const T *y, const T *gy, size_t R, size_t D, T *gx) {              \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = y, c_.gy = gy, c_.y = gx, c_.D = D;                                                  \
        BPRT_SPLIT(layers_team(R * D), R, softmax_grad_task_##SUF, &c_);                            \
    }                                                                                               \
    /* table[V, D], ids[n] -> y[n, D];  gy[n, D] -> gt[V, D] */                                    \
    /* rows [i0, i1): each a copy of its id's row (NaN for an id outside the table) */         \
    static void embedding_rows_##SUF(void *arg, size_t i0, size_t i1) {                             \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const T *table = c_->x;                                                                     \
        const int32_t *ids = c_->ids;                                                               \
        const size_t V = c_->R, D = c_->D;                                                          \
        T *y = c_->y;                                                                               \
        for (size_t i = i0; i < i1; i++) {                                                          \
            const int32_t id = ids[i];                                                             \
            if (id >= 0 && (size_t)id < V) memcpy(y + i * D, table + (size_t)id * D, sizeof(T) * D); \
            else                                                                                   \
                for (size_t j = 0; j < D; j++) y[i * D + j] = (T)NAN;                              \
        }                                                                                          \
    }                                                                                              \
    /* rows split between threads as the elementwise passes after it split them (the residual \
       add reads it; tiny_gpt's [32, 64, 128] on 2 threads 0.09 -> 0.02 ms) */                 \
    void bprt_embedding_##SUF(const T *table, size_t V, size_t D, const int32_t *ids, size_t n, T *y) { \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = table, c_.y = y, c_.R = V, c_.D = D, c_.ids = ids;                                   \
        BPRT_SPLIT(layers_team(n * D), n, embedding_rows_##SUF, &c_);                               \
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
    /* rows [r0, r1) of the N Tq rows of Tk (row r is query r mod Tq) */                         \
    static void causal_mask_rows_##SUF(void *arg, size_t r0, size_t r1) {                           \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const size_t Tq = c_->H, Tk = c_->W;                                                        \
        const T f = (T)c_->fill, *x = c_->x;                                                         \
        T *y = c_->y;                                                                               \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const size_t i = r % Tq;                                                               \
            const T *xr = x + r * Tk;                                                              \
            T *yr = y + r * Tk;                                                                    \
            for (size_t j = 0; j < Tk; j++) yr[j] = j > i ? f : xr[j];                             \
        }                                                                                          \
    }                                                                                              \
    /* rows split between threads as the batched product before it and the softmax after it     \
       split them (tiny_gpt's [32, 4, 64, 64] scores on 2 threads: 0.16 -> 0.03 ms) */            \
    void bprt_causal_mask_##SUF(const T *x, size_t N, size_t Tq, size_t Tk, double fill, T *y) {   \
        LayCall_##SUF c_;                                                                          \
        memset(&c_, 0, sizeof c_);                                                                 \
        c_.x = x, c_.y = y, c_.H = Tq, c_.W = Tk, c_.fill = fill;                                  \
        BPRT_SPLIT(layers_team(N * Tq * Tk), N * Tq, causal_mask_rows_##SUF, &c_);                  \
    }                                                                                              \
    /* elements [i0, i1) of dropout */                                                               \
    static void dropout_range_##SUF(void *arg, size_t i0, size_t i1) {                              \
        const LayCall_##SUF *c_ = (const LayCall_##SUF *)arg;                                       \
        const double p = c_->p;                                                                   \
        const T scale = p < 1 ? (T)(1 / (1 - p)) : (T)0;                                            \
        for (size_t i = i0; i < i1; i++)                                                            \
            c_->y[i] = bprt_rng_uniform(c_->seed, c_->stream, i) >= p ? c_->x[i] * scale : (T)0;       \
    }                                                                                               \
    void bprt_dropout_##SUF(const T *x, size_t n, double p, uint64_t seed, uint64_t stream, T *y) { \
        LayCall_##SUF c_;                                                                           \
        memset(&c_, 0, sizeof c_);                                                                  \
        c_.x = x, c_.y = y, c_.seed = seed, c_.stream = stream, c_.p = p;                           \
        BPRT_SPLIT(layers_team(n * 8), n, dropout_range_##SUF, &c_);                                \
    }

DEFINE_LAYERS(float, f32, uint32_t)
DEFINE_LAYERS(double, f64, uint64_t)
