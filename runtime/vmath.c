/* vmath.c — exp, erf, tanh, GELU and GELU's derivative over arrays: the transcendental functions
 * the generated code needs most (softmax, cross-entropy, GELU and their gradients), for
 * float, in straight-line code that the compiler vectorises (one AVX-512 clone handles 16
 * elements per step); libm's scalar expf/erff cost a call per element.
 *
 * Every float path of bpc's programs goes through these (bprt_ew's EXP/TANH/GELU/GELU_GRAD,
 * the softmax and cross-entropy loops, and the generated bp_exp/bp_erf/bp_tanh/bp_gelu/
 * bp_gelu_deriv one element at a time), so the tcc and cc paths compute the same values. The kernel with fused
 * multiply-adds runs when the runtime's ISA (bprt_isa_id: the CPU's, or BPRT_ISA) is
 * AVX-512; elsewhere, and in --standalone output, the plain one (each within 2 ulp). The double versions
 * are libm's, element by element (double runs check gradients, not speed).
 *
 * Accuracy (tests/test_runtime_vmath.c checks it over every 127th / 101st float of the
 * ranges below against libm's double functions): exp within 2 ulp of the true value,
 * subnormal results included, 0 below -103.97, +inf above 88.72, NaN for NaN; erf within
 * 2 ulp. Measured over every float: exp 1.02 ulp, erf 1.72 ulp (plain), 1.06 and 1.44 ulp
 * with fused multiply-adds (the kernel used on CPUs with AVX-512); tanh 1.06 ulp with either
 * kernel (its worst is in the exponential's branch, which has no fused operation outside exp).
 * tanh(x) = x + x u T(u), u = x^2, for |x| < 0.75 (T of degree 5); above it 1 - 2 / (exp(2|x|)
 * + 1), 1 from |x| = 9.01 on (and from exp's overflow, which gives 1 - 0); sign by copysign.
 *
 * exp(x) = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 (two-part ln 2, so r is exact to a
 * few ulp), e^r = 1 + r + r^2 P(r), P of degree 4 fitted on |r| <= ln 2 / 2; 2^n as two
 * factors 2^(n/2) 2^(n - n/2) so that subnormal results round once.
 * erf(x) = x + x Q(x^2) for |x| < 0.921875 (Q of degree 6, Q(0) = 2/sqrt(pi) - 1); above
 * it 1 - exp(-x^2) R(t), t = 1 / (1 + |x|/2), R of degree 6 fitted to erfc(x) exp(x^2); 1
 * from 4 on (erfc(4) is under half an ulp of 1). Both branches are computed and one selected, which is what
 * lets the loop vectorise. The polynomials were fitted by weighted least squares on
 * Chebyshev nodes (numpy, in double), then rounded to float.
 *
 * Needs -ffp-contract=off and no -ffast-math (CMakeLists.txt): the rounding trick and the
 * NaN tests must be evaluated as written, and the vectorised loop must round as the scalar
 * one does. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#if !defined(BPRT_STANDALONE)
#include "kernel.h" /* BPRT_TEMP */
#endif

static inline float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* 2^k for integer k in [-126, 127] */
static inline float pow2i_f32(int32_t k) { return bits_to_f32((uint32_t)(k + 127) << 23); }

/* The kernels' constants, named once for the plain kernels and the AVX-512 ones. exp: the
 * range, 1/ln 2, the round-to-nearest shift 1.5 * 2^23, ln 2 in two parts, and P (highest
 * degree first); erf: Q (highest first), where the small branch ends, the clamp of the large
 * one, and R (highest first). */
#define VM_EXP_HI 88.72283172607421875f
#define VM_EXP_LO -103.97208404541015625f
#define VM_LOG2E 1.44269502162933349609375f
#define VM_ROUND 12582912.0f
#define VM_LN2_HI 0.693145751953125f /* n * it is exact */
#define VM_LN2_LO 1.428606765330187045e-06f
#define VM_P4 1.381459530e-03f
#define VM_P3 8.362818509e-03f
#define VM_P2 4.166788608e-02f
#define VM_P1 1.666658074e-01f
#define VM_P0 4.999999702e-01f
#define VM_Q6 8.429995796e-05f
#define VM_Q5 -8.159002755e-04f
#define VM_Q4 5.202727858e-03f
#define VM_Q3 -2.686023526e-02f
#define VM_Q2 1.128371507e-01f
#define VM_Q1 -3.761263490e-01f
#define VM_Q0 1.283791661e-01f /* 2 / sqrt(pi) - 1: x + x q rounds better than x (1 + q) */
#define VM_ERF_SMALL 0.921875f
#define VM_ERF_CLAMP 4.0f
#define VM_R6 -5.412600189e-02f
#define VM_R5 -5.493852496e-02f
#define VM_R4 4.001179934e-01f
#define VM_R3 1.041538268e-01f
#define VM_R2 3.296397626e-01f
#define VM_R1 2.738748491e-01f
#define VM_R0 5.842582323e-04f
/* exp(-u) for 0 <= u < VM_ERF_SMALL^2 (highest degree first): GELU's derivative's exp(-t^2)
 * where erf takes its small branch, 3.1 ulp with fused multiply-adds, 4.1 without (over
 * 400001 points of the range), in place of a full exponential */
#define VM_E6 9.029688662849367e-04f
#define VM_E5 -7.791315671056509e-03f
#define VM_E4 4.135275632143020e-02f
#define VM_E3 -1.665709763765335e-01f
#define VM_E2 4.999858140945435e-01f
#define VM_E1 -9.999991655349731e-01f
#define VM_E0 1.0f
/* tanh: x + x u T(u), u = x^2, for |x| < VM_TANH_SMALL (T of degree 5, highest first); above
 * it 1 - 2 / (exp(2|x|) + 1), which loses nothing to cancellation there */
#define VM_TANH_SMALL 0.75f
#define VM_T5 1.742537715e-03f
#define VM_T4 -7.667089347e-03f
#define VM_T3 2.145854570e-02f
#define VM_T2 -5.389472097e-02f
#define VM_T1 1.333272159e-01f
#define VM_T0 -3.333331645e-01f
/* GELU: x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; its derivative Phi(x) + x phi(x) */
#define VM_SQRT1_2 0.70710678118654752440f
#define VM_RSQRT_2PI 0.39894228040143267794f
/* C6 x^6 + ... + C0 by Horner's rule, M(a, b, c) = a b + c, K(c) the constant as an operand */
#define VM_HORNER6(M, K, x, C)                                                                      \
    M(M(M(M(M(M(K(C##6), x, K(C##5)), x, K(C##4)), x, K(C##3)), x, K(C##2)), x, K(C##1)), x, K(C##0))
#define VM_HORNER5(M, K, x, C) M(M(M(M(M(K(C##5), x, K(C##4)), x, K(C##3)), x, K(C##2)), x, K(C##1)), x, K(C##0))
#define VM_ID(c) (c)

/* The plain kernels, over M(a, b, c) = a b + c rounded twice; the AVX-512 ones below do the
 * same operations with fused multiply-adds (rounded once). */
#define VM_DEFINE_F32(SFX, HATTR, LATTR, M)                                                               \
    HATTR static inline float exp1_##SFX(float x) {                                                 \
        const float hi = VM_EXP_HI, lo = VM_EXP_LO;                                                 \
        float xc = x > hi ? hi : x;                                                                 \
        xc = xc < lo ? lo : xc;                                                                     \
        xc = x != x ? 0.0f : xc;                                                                    \
        const float n = M(xc, VM_LOG2E, VM_ROUND) - VM_ROUND; /* round to nearest */                \
        float r = M(-n, VM_LN2_HI, xc);                                                             \
        r = M(-n, VM_LN2_LO, r);                                                                    \
        float p = VM_P4;                                                                            \
        p = M(p, r, VM_P3);                                                                         \
        p = M(p, r, VM_P2);                                                                         \
        p = M(p, r, VM_P1);                                                                         \
        p = M(p, r, VM_P0);                                                                         \
        p = M(r * r, p, r);                                                                         \
        const int32_t k = (int32_t)n, k1 = k / 2;                                                   \
        float y = ((1.0f + p) * pow2i_f32(k1)) * pow2i_f32(k - k1);                                 \
        y = x > hi ? bits_to_f32(0x7f800000u) : y;                                                  \
        y = x < lo ? 0.0f : y;                                                                      \
        return x != x ? x + x : y;                                                                  \
    }                                                                                               \
    HATTR static inline float erf1_##SFX(float x) {                                                 \
        const float a = fabsf(x);                                                                   \
        const float u = a * a;                                                                      \
        const float q = VM_HORNER6(M, VM_ID, u, VM_Q);                                              \
        const float small = M(a, q, a);                                                             \
        const float ac = a > VM_ERF_CLAMP ? VM_ERF_CLAMP : a;                                       \
        const float t = 1.0f / M(0.5f, ac, 1.0f);                                                   \
        const float r = VM_HORNER6(M, VM_ID, t, VM_R);                                              \
        const float large = M(-exp1_##SFX(-(ac * ac)), r, 1.0f);                                    \
        const float y = a < VM_ERF_SMALL ? small : large;                                           \
        return copysignf(y, x);                                                                     \
    }                                                                                               \
    HATTR static inline float tanh1_##SFX(float x) {                                                \
        const float a = fabsf(x), u = a * a;                                                        \
        const float small = M(a * u, VM_HORNER5(M, VM_ID, u, VM_T), a);                             \
        const float large = 1.0f - 2.0f / (exp1_##SFX(2.0f * a) + 1.0f); /* 1 from inf on */         \
        return copysignf(a < VM_TANH_SMALL ? small : large, x); /* NaN: large's, NaN */           \
    }                                                                                               \
    LATTR static void tanh_n_##SFX(const float *x, float *y, size_t n) {                            \
        for (size_t i = 0; i < n; i++) y[i] = tanh1_##SFX(x[i]);                                    \
    }                                                                                               \
    LATTR static void exp_n_##SFX(const float *x, float *y, size_t n) {                             \
        for (size_t i = 0; i < n; i++) y[i] = exp1_##SFX(x[i]);                                     \
    }                                                                                               \
    LATTR static void erf_n_##SFX(const float *x, float *y, size_t n) {                             \
        for (size_t i = 0; i < n; i++) y[i] = erf1_##SFX(x[i]);                                     \
    }                                                                                               \
    LATTR static void gelu_n_##SFX(const float *x, float *y, size_t n) {                            \
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erf1_##SFX(x[i] * VM_SQRT1_2)); \
    }                                                                                               \
    /* GELU's derivative at a, and in *ef the erf(a / sqrt 2) it used (GELU's) */              \
    HATTR static inline float gelu_grad1_##SFX(float a, float *ef) {                                \
        const float t = a * VM_SQRT1_2, u = t * t;                                                  \
        const float e = fabsf(t) < VM_ERF_SMALL ? VM_HORNER6(M, VM_ID, u, VM_E) : exp1_##SFX(-u);   \
        *ef = erf1_##SFX(t);                                                                        \
        return 0.5f * (1.0f + *ef) + a * e * VM_RSQRT_2PI;                                          \
    }                                                                                               \
    LATTR static void gelu_grad_n_##SFX(const float *x, float *y, size_t n) {                       \
        float ef;                                                                                   \
        for (size_t i = 0; i < n; i++) y[i] = gelu_grad1_##SFX(x[i], &ef);                          \
    }                                                                                               \
    /* gelu_n's y and gelu_grad_n's d (the same operations) from one erf (d may be x) */          \
    LATTR static void gelu_pair_n_##SFX(const float *x, float *y, float *d, size_t n) {             \
        for (size_t i = 0; i < n; i++) {                                                            \
            const float a = x[i];                                                                   \
            float ef;                                                                               \
            d[i] = gelu_grad1_##SFX(a, &ef);                                                        \
            y[i] = 0.5f * a * (1.0f + ef);                                                          \
        }                                                                                           \
    }

#define VM_PLAIN(a, b, c) ((a) * (b) + (c))
VM_DEFINE_F32(plain, , BPRT_CLONES, VM_PLAIN)

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__TINYC__) && !defined(BPRT_STANDALONE) && \
    !defined(BPRT_NO_CLONES) && !(defined(__clang__) && __clang_major__ < 15)
#include <immintrin.h>
#define VM_AVX512 __attribute__((target("avx512f")))
/* The fused kernels in AVX-512 intrinsics: VM_DEFINE_F32's operations with each M one fused
 * multiply-add, except that 2^n is applied by one vscalefps, which rounds once as the two
 * factors do, instead of integer arithmetic on the exponent; the clamps and the special
 * cases are masks. The same bits as the compiler's vectorisation of VM_DEFINE_F32 with
 * __builtin_fmaf, which they replaced (checked over all 2^32 floats), in about half the
 * instructions. */
#define VSET1 _mm512_set1_ps
VM_AVX512 static inline __m512 exp16(__m512 x) {
    const __m512 hi = VSET1(VM_EXP_HI), lo = VSET1(VM_EXP_LO);
    const __m512 magic = VSET1(VM_ROUND);
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi); /* NaN: lo (max_ps returns lo) */
    const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(xc, VSET1(VM_LOG2E), magic), magic);
    __m512 r = _mm512_fnmadd_ps(n, VSET1(VM_LN2_HI), xc);
    r = _mm512_fnmadd_ps(n, VSET1(VM_LN2_LO), r);
    __m512 p = VSET1(VM_P4);
    p = _mm512_fmadd_ps(p, r, VSET1(VM_P3));
    p = _mm512_fmadd_ps(p, r, VSET1(VM_P2));
    p = _mm512_fmadd_ps(p, r, VSET1(VM_P1));
    p = _mm512_fmadd_ps(p, r, VSET1(VM_P0));
    p = _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r);
    __m512 y = _mm512_scalef_ps(_mm512_add_ps(VSET1(1.0f), p), n);
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), VSET1(INFINITY));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), _mm512_setzero_ps());
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_add_ps(y, nan, x, x);
}
/* erf, and in *e_out (if not NULL, and only when some lane takes the large branch: else
 * *e_out is left as it is) the exponential that branch uses: exp(-x^2) where |x| <= 4. A
 * vector whose lanes all take the small branch skips the large one (its
 * division, polynomial and exponential); the values are the same (checked on every 251st
 * float). GELU's inputs in a network are mostly small: tiny_gpt's [32, 64, 512] GELU at its
 * initial weights (sd 0.23) 0.50 -> 0.16 ms on 1 thread; 1M GELUs of sd 1 0.53 -> 0.48 ms.
 * The branch costs where vectors mix: 1M erf(x), x of sd 0.5, 0.46 -> 0.53 ms. */
VM_AVX512 static inline __m512 erf16e(__m512 x, __m512 *e_out) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    const __m512 u = _mm512_mul_ps(a, a);
    const __m512 q = VM_HORNER6(_mm512_fmadd_ps, VSET1, u, VM_Q);
    const __m512 small = _mm512_fmadd_ps(a, q, a);
    const __m512 ac = _mm512_min_ps(a, VSET1(VM_ERF_CLAMP)); /* NaN: 4 (then small, NaN, is taken) */
    /* a < 0.921875 ? small : large (NaN: large's compare fails, so small) */
    const __mmask16 big = _mm512_cmp_ps_mask(a, VSET1(VM_ERF_SMALL), _CMP_NLT_UQ) & ~_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    __m512 y = small;
    if (big) {
        const __m512 t = _mm512_div_ps(VSET1(1.0f), _mm512_fmadd_ps(VSET1(0.5f), ac, VSET1(1.0f)));
        const __m512 r = VM_HORNER6(_mm512_fmadd_ps, VSET1, t, VM_R);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(ac, ac)));
        if (e_out) *e_out = e;
        y = _mm512_mask_mov_ps(small, big, _mm512_fnmadd_ps(e, r, VSET1(1.0f)));
    }
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), /* copysign */
                                               _mm512_and_si512(_mm512_castps_si512(x), sign)));
}
VM_AVX512 static inline __m512 erf16(__m512 x) { return erf16e(x, NULL); }
/* tanh: tanh1's operations, each M one fused multiply-add; a vector whose lanes are all below
 * VM_TANH_SMALL skips the exponential and the division */
VM_AVX512 static inline __m512 tanh16(__m512 x) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    const __m512 u = _mm512_mul_ps(a, a);
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(a, u), VM_HORNER5(_mm512_fmadd_ps, VSET1, u, VM_T), a);
    const __mmask16 big = _mm512_cmp_ps_mask(a, VSET1(VM_TANH_SMALL), _CMP_NLT_UQ); /* NaN too */
    __m512 y = small;
    if (big) {
        const __m512 e = exp16(_mm512_add_ps(a, a));
        const __m512 large = _mm512_sub_ps(VSET1(1.0f), _mm512_div_ps(VSET1(2.0f), _mm512_add_ps(e, VSET1(1.0f))));
        y = _mm512_mask_mov_ps(small, big, large);
    }
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), _mm512_and_si512(_mm512_castps_si512(x), sign)));
}
#undef VSET1
#define VM_N_AVX512(NAME, F)                                                                        \
    VM_AVX512 static void NAME(const float *x, float *y, size_t n) {                                \
        size_t i = 0;                                                                               \
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, F(_mm512_loadu_ps(x + i)));           \
        if (i < n) {                                                                                \
            const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);                                  \
            _mm512_mask_storeu_ps(y + i, m, F(_mm512_maskz_loadu_ps(m, x + i)));                   \
        }                                                                                           \
    }
/* GELU and its derivative with VM_DEFINE_F32's operations in its order (no fused
 * multiply-add outside exp16 / erf16 and the polynomials). The derivative's exp(-t^2), t =
 * x / sqrt 2, is a polynomial in t^2 (VM_E) where erf takes its small branch, else the one
 * erf's large branch made (the same operations), computed again only for a vector with some
 * |t| > 4, where erf clamps it: no exponential at all for a vector of small |t| (tiny_gpt's
 * 1M-element bprt_ew of gelu_grad(h) * g over 1M elements 0.76 -> 0.62 ms on 1 thread with
 * one exponential instead of two; 16K GELU derivatives of sd 0.5, in cache, 7.0 -> 4.4 us). */
VM_AVX512 static inline __m512 gelu16(__m512 x) {
    const __m512 e = erf16(_mm512_mul_ps(x, _mm512_set1_ps(VM_SQRT1_2)));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
/* GELU's derivative, and in *eo the erf16e it used (GELU's) */
VM_AVX512 static inline __m512 gelu_grad16e(__m512 x, __m512 *eo) {
    const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(VM_SQRT1_2)), u = _mm512_mul_ps(t, t);
    const __m512 p = VM_HORNER6(_mm512_fmadd_ps, _mm512_set1_ps, u, VM_E); /* |t| < 0.921875 */
    __m512 g = p;
    const __m512 e = erf16e(t, &g);
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(t), _mm512_set1_ps(VM_ERF_SMALL), _CMP_GE_OQ);
    if (big) { /* (a NaN lane keeps p, NaN, as the plain kernel's exp1(NaN) is) */
        const __mmask16 far = _mm512_cmp_ps_mask(_mm512_abs_ps(t), _mm512_set1_ps(VM_ERF_CLAMP), _CMP_GT_OQ);
        if (far) g = _mm512_mask_mov_ps(g, far, exp16(_mm512_sub_ps(_mm512_setzero_ps(), u)));
        g = _mm512_mask_mov_ps(p, big, g);
    }
    *eo = e;
    return _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_add_ps(_mm512_set1_ps(1.0f), e)),
                         _mm512_mul_ps(_mm512_mul_ps(x, g), _mm512_set1_ps(VM_RSQRT_2PI)));
}
VM_AVX512 static inline __m512 gelu_grad16(__m512 x) {
    __m512 e;
    return gelu_grad16e(x, &e);
}
/* gelu16's and gelu_grad16's results from one erf16e (the same operations, so the same bits) */
VM_AVX512 static void gelu_pair_n_fused(const float *x, float *y, float *d, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 e;
        const __m512 g = gelu_grad16e(v, &e);
        const __m512 one_e = _mm512_add_ps(_mm512_set1_ps(1.0f), e);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), one_e));
        _mm512_mask_storeu_ps(d + i, m, g);
    }
}
VM_N_AVX512(exp_n_fused, exp16)
VM_N_AVX512(erf_n_fused, erf16)
VM_N_AVX512(tanh_n_fused, tanh16)
VM_N_AVX512(gelu_n_fused, gelu16)
VM_N_AVX512(gelu_grad_n_fused, gelu_grad16)
#include "kernel.h" /* bprt_isa_id: the GEMM's choice, which BPRT_ISA / bprt_set_isa override */
static int vm_fused(void) { return bprt_isa_id() == BPRT_ISA_AVX512; }
#else
#define vm_fused() 0
#define exp_n_fused exp_n_plain
#define erf_n_fused erf_n_plain
#define tanh_n_fused tanh_n_plain
#define gelu_n_fused gelu_n_plain
#define gelu_grad_n_fused gelu_grad_n_plain
#define gelu_pair_n_fused gelu_pair_n_plain
#endif

/* bprt_NAME_f32: the fused kernel on AVX-512, else the plain one */
#define VM_DISPATCH(NAME)                                                                           \
    void bprt_##NAME##_f32(const float *x, float *y, size_t n) {                                    \
        if (vm_fused()) NAME##_n_fused(x, y, n);                                                    \
        else NAME##_n_plain(x, y, n);                                                               \
    }
VM_DISPATCH(exp)
VM_DISPATCH(erf)
VM_DISPATCH(tanh)
VM_DISPATCH(gelu)
VM_DISPATCH(gelu_grad)

void bprt_gelu_pair_f32(const float *x, float *y, float *d, size_t n) {
    if (vm_fused()) gelu_pair_n_fused(x, y, d, n);
    else gelu_pair_n_plain(x, y, d, n);
}

/* bprt_gelu_f64's y and bprt_gelu_grad_f64's d with one erf (d may be x) */
void bprt_gelu_pair_f64(const double *x, double *y, double *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const double a = x[i], ef = erf(a * 0.70710678118654752440);
        y[i] = 0.5 * a * (1.0 + ef);
        d[i] = 0.5 * (1.0 + ef) + a * exp(-0.5 * a * a) * 0.39894228040143267794;
    }
}

void bprt_gelu_f64(const double *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 0.5 * x[i] * (1.0 + erf(x[i] * 0.70710678118654752440));
}

void bprt_gelu_grad_f64(const double *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const double a = x[i];
        y[i] = 0.5 * (1.0 + erf(a * 0.70710678118654752440)) + a * exp(-0.5 * a * a) * 0.39894228040143267794;
    }
}

void bprt_exp_f64(const double *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = exp(x[i]);
}

void bprt_erf_f64(const double *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = erf(x[i]);
}

void bprt_tanh_f64(const double *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tanh(x[i]);
}

/* ---- softmax and cross-entropy over contiguous rows of n --------------------------------
 * The row's maximum m as the scalar loop `if (x > m) m = x` finds it (NaN never taken), its
 * sum of exponentials in double: eight partial sums over i mod 8, added in a fixed order,
 * so every thread count and every caller gets the same bits. Work space: blocks of
 * VM_BLOCK on the stack. */
enum { VM_BLOCK = 256, VM_LANES = 8 };

/* the row helpers go into each ISA clone of their callers (vectorised there) */
#if defined(__GNUC__) && !defined(__TINYC__)
#define VM_INLINE static inline __attribute__((always_inline))
#else
#define VM_INLINE static inline
#endif

#define DEFINE_ROWS(T, SUF)                                                                        \
    /* sixteen lanes of the scalar loop, then the lanes: the same maximum (a NaN is never     \
       taken; only the sign of a zero maximum may differ, which no caller's result shows),    \
       without one long chain of dependent compares */                                        \
    VM_INLINE T row_max_##SUF(const T *x, size_t n) {                                                 \
        if (n <= 16) { /* the scalar loop itself (the lanes were 16 copies of x[0] to fold) */    \
            T m = n ? x[0] : (T)-INFINITY; /* an empty row (a size of 0) reads nothing */          \
            for (size_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;                                \
            return m;                                                                              \
        }                                                                                          \
        T l[16];                                                                                   \
        for (size_t k = 0; k < 16; k++) l[k] = x[0];                                               \
        size_t i = 0; /* from x[0] again (x[0] > x[0] is false): no scalar tail for n = 64 */      \
        for (; i + 16 <= n; i += 16)                                                               \
            for (size_t k = 0; k < 16; k++) l[k] = x[i + k] > l[k] ? x[i + k] : l[k];              \
        /* the lanes folded in halves (8, 4, 2, 1 at a time), not one chain of 15 compares */    \
        for (size_t k = 0; k < 8; k++) l[k] = l[k + 8] > l[k] ? l[k + 8] : l[k];                   \
        for (size_t k = 0; k < 4; k++) l[k] = l[k + 4] > l[k] ? l[k + 4] : l[k];                   \
        for (size_t k = 0; k < 2; k++) l[k] = l[k + 2] > l[k] ? l[k + 2] : l[k];                   \
        T m = l[1] > l[0] ? l[1] : l[0];                                                           \
        for (; i < n; i++) m = x[i] > m ? x[i] : m;                                                \
        return m;                                                                                  \
    }                                                                                              \
    VM_INLINE double sum_##SUF(const T *x, size_t n) {                                                \
        double a[VM_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};                                             \
        size_t i = 0;                                                                              \
        for (; i + VM_LANES <= n; i += VM_LANES)                                                   \
            for (size_t l = 0; l < VM_LANES; l++) a[l] += (double)x[i + l];                        \
        for (size_t l = 0; i < n; i++, l++) a[l] += (double)x[i];                                  \
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));                  \
    }                                                                                              \
    /* sum over the row of exp(x - m) (e: VM_BLOCK reals of scratch; e = y is allowed when y  \
       is the row's own output and the caller then overwrites it) */                           \
    VM_INLINE double sum_exp_##SUF(const T *x, size_t n, T m, T *e, int keep) {                       \
        double s = 0;                                                                              \
        for (size_t i0 = 0; i0 < n; i0 += VM_BLOCK) {                                              \
            const size_t w = n - i0 < VM_BLOCK ? n - i0 : (size_t)VM_BLOCK;                        \
            T *b = keep ? e + i0 : e;                                                              \
            for (size_t i = 0; i < w; i++) b[i] = x[i0 + i] - m;                                   \
            bprt_exp_##SUF(b, b, w);                                                               \
            s += sum_##SUF(b, w);                                                                  \
        }                                                                                          \
        return s;                                                                                  \
    }                                                                                              \
    /* short rows go g at a time (g*n <= VM_BLOCK): e = x - each row's maximum m[k], the    \
       exponentials of all g rows in one call (the same values as row by row) */           \
    VM_INLINE size_t row_group_##SUF(size_t n) { return n && n <= VM_BLOCK / 2 ? VM_BLOCK / n : 1; } \
    VM_INLINE void rows_exp_##SUF(const T *x, size_t g, size_t n, T *m, T *e) {                  \
        for (size_t k = 0; k < g; k++) {                                                           \
            m[k] = row_max_##SUF(x + k * n, n);                                                    \
            for (size_t i = 0; i < n; i++) e[k * n + i] = x[k * n + i] - m[k];                     \
        }                                                                                          \
        bprt_exp_##SUF(e, e, g * n);                                                               \
    }                                                                                              \
    BPRT_CLONES static void softmax_rows_##SUF(const T *x, size_t r0, size_t r1, size_t n, T *y) { \
        const size_t G = row_group_##SUF(n);                                                       \
        T m[VM_BLOCK];                                                                             \
        for (size_t r = r0; r < r1;) {                                                             \
            const size_t g = G > 1 ? (r1 - r < G ? r1 - r : G) : 1;                                \
            if (G > 1) rows_exp_##SUF(x + r * n, g, n, m, y + r * n);                              \
            for (size_t k = 0; k < g; k++, r++) {                                                  \
                const T *xr = x + r * n;                                                           \
                T *yr = y + r * n;                                                                 \
                const double s = G > 1 ? sum_##SUF(yr, n) : sum_exp_##SUF(xr, n, row_max_##SUF(xr, n), yr, 1); \
                for (size_t i = 0; i < n; i++) yr[i] = (T)((double)yr[i] / s);                     \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* softmax_rows in place with row r's entries j > r masked (-inf): its first r + 1 as a row \
       of their own, the rest 0 / s (0, or NaN where the row's sum s is NaN: exp(-inf - m) / s     \
       as the mask then softmax gives it; it was 0 there). The same values: the masked entries     \
       change neither the row's maximum nor (exp(-inf) = 0 in lane j mod 8) its sum. Rows whose    \
       unmasked entries fit VM_BLOCK together go through one exponential call, those entries       \
       end to end (half the exponentials of whole rows, without a call per row). */                \
    BPRT_CLONES static void softmax_causal_rows_##SUF(T *x, size_t rows, size_t n) {              \
        T e[VM_BLOCK];                                                                             \
        for (size_t r = 0; r < rows;) {                                                            \
            size_t g = 0, tot = 0;                                                                 \
            while (r + g < rows) {                                                                 \
                const size_t len = r + g + 1 < n ? r + g + 1 : n;                                  \
                if (tot + len > VM_BLOCK) break;                                                   \
                T *xr = x + (r + g) * n;                                                           \
                const T m = row_max_##SUF(xr, len);                                                \
                for (size_t i = 0; i < len; i++) e[tot + i] = xr[i] - m;                           \
                tot += len;                                                                        \
                g++;                                                                               \
            }                                                                                      \
            if (g == 0) { /* a row longer than VM_BLOCK: on its own, in blocks */                  \
                T *xr = x + r * n;                                                                 \
                const size_t len = r + 1 < n ? r + 1 : n;                                          \
                const double s = sum_exp_##SUF(xr, len, row_max_##SUF(xr, len), xr, 1);            \
                for (size_t i = 0; i < len; i++) xr[i] = (T)((double)xr[i] / s);                   \
                const T masked = (T)(0.0 / s); /* 0, or NaN in a NaN row: one value a row */      \
                for (size_t i = len; i < n; i++) xr[i] = masked;                                   \
                r++;                                                                               \
                continue;                                                                          \
            }                                                                                      \
            bprt_exp_##SUF(e, e, tot);                                                             \
            tot = 0;                                                                               \
            for (size_t k = 0; k < g; k++, r++) {                                                  \
                T *xr = x + r * n;                                                                 \
                const size_t len = r + 1 < n ? r + 1 : n;                                          \
                const double s = sum_##SUF(e + tot, len);                                          \
                for (size_t i = 0; i < len; i++) xr[i] = (T)((double)e[tot + i] / s);              \
                const T masked = (T)(0.0 / s);                                                     \
                for (size_t i = len; i < n; i++) xr[i] = masked;                                   \
                tot += len;                                                                        \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    BPRT_CLONES static void log_softmax_rows_##SUF(const T *x, size_t r0, size_t r1, size_t n, T *y) { \
        T e[VM_BLOCK];                                                                             \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const T *xr = x + r * n;                                                               \
            T *yr = y + r * n;                                                                     \
            const T m = row_max_##SUF(xr, n);                                                      \
            /* (x - m) - log s, not x - (m + log s): m + log s rounds at m's magnitude, which   \
               lost 3e-4 of the result at logits of 1e4 in float */                             \
            const T ls = (T)log(sum_exp_##SUF(xr, n, m, e, 0));                                    \
            for (size_t i = 0; i < n; i++) yr[i] = (xr[i] - m) - ls;                               \
        }                                                                                          \
    }                                                                                              \
    /* a row's loss term: its logsumexp (m + log s) less its label's logit, added as               \
       (m - zy) + log s (PyTorch's -log_softmax): m + log s rounds at m's magnitude, which         \
       lost all of log s at logits of 1e30 (loss 0 for [1e30, 1e30, 0], not log 2); NaN for        \
       a label outside [0, n) */                                                                   \
    VM_INLINE T label_logit_##SUF(const T *zr, int32_t y, size_t n) {                              \
        return y >= 0 && (size_t)y < n ? zr[y] : (T)0;                                             \
    }                                                                                              \
    VM_INLINE double ce_term_##SUF(int32_t y, size_t n, T m, double s, T zy) {                     \
        return y >= 0 && (size_t)y < n ? ((double)m - (double)zy) + log(s) : (double)NAN;          \
    }                                                                                              \
    /* the loss terms of rows [r0, r1): their sum in row order, or with loss each row's term \
       in loss[r] (and 0 returned) */                                                          \
    BPRT_CLONES static double ce_rows_##SUF(const T *z, const int32_t *y, size_t r0, size_t r1, size_t n, \
                                            double *loss) {                                        \
        T e[VM_BLOCK], mk[VM_BLOCK];                                                               \
        const size_t G = row_group_##SUF(n);                                                       \
        double acc = 0;                                                                            \
        for (size_t r = r0; r < r1;) {                                                             \
            const size_t g = G > 1 ? (r1 - r < G ? r1 - r : G) : 1;                                \
            if (G > 1) rows_exp_##SUF(z + r * n, g, n, mk, e);                                     \
            for (size_t k = 0; k < g; k++, r++) {                                                  \
                const T *zr = z + r * n;                                                           \
                const T m = G > 1 ? mk[k] : row_max_##SUF(zr, n);                                  \
                const double s = G > 1 ? sum_##SUF(e + k * n, n) : sum_exp_##SUF(zr, n, m, e, 0);  \
                const double t = ce_term_##SUF(y[r], n, m, s, label_logit_##SUF(zr, y[r], n));     \
                if (loss) loss[r] = t;                                                             \
                else acc += t;                                                                     \
            }                                                                                      \
        }                                                                                          \
        return acc;                                                                                \
    }                                                                                              \
    /* the gradient rows [r0, r1) into d (which may be z); with loss, also each row's loss  \
       term as bprt_cross_entropy adds it (its label's logit read before d overwrites it) */ \
    BPRT_CLONES static void ce_grad_rows_##SUF(const T *z, const int32_t *y, size_t r0, size_t r1, size_t n, \
                                               T scale, T *d, double *loss) {                      \
        const size_t G = row_group_##SUF(n);                                                       \
        T m[VM_BLOCK], zy[VM_BLOCK];                                                               \
        for (size_t r = r0; r < r1;) {                                                             \
            const size_t g = G > 1 ? (r1 - r < G ? r1 - r : G) : 1;                                \
            for (size_t k = 0; loss && k < g; k++) zy[k] = label_logit_##SUF(z + (r + k) * n, y[r + k], n); \
            if (G > 1) rows_exp_##SUF(z + r * n, g, n, m, d + r * n);                              \
            else m[0] = row_max_##SUF(z + r * n, n);                                               \
            for (size_t k = 0; k < g; k++, r++) {                                                  \
                const T *zr = z + r * n;                                                           \
                T *dr = d + r * n;                                                                 \
                const double s = G > 1 ? sum_##SUF(dr, n) : sum_exp_##SUF(zr, n, m[0], dr, 1);    \
                if (loss) loss[r] = ce_term_##SUF(y[r], n, m[k], s, zy[k]);                         \
                const T inv = (T)(1.0 / s);                                                        \
                for (size_t i = 0; i < n; i++) dr[i] = scale * (dr[i] * inv - (T)((size_t)y[r] == i)); \
            }                                                                                      \
        }                                                                                          \
    }

/* The row kernels on the threads, each a contiguous range of rows (rows are independent:
 * the values do not depend on the split). */
#define DEFINE_ROWS_PAR(T, SUF)                                                                    \
    typedef struct {                                                                               \
        const T *x;                                                                                \
        const int32_t *y;                                                                          \
        size_t n;                                                                                  \
        T scale;                                                                                   \
        T *out;                                                                                    \
        double *loss;                                                                              \
    } RowsCall_##SUF;                                                                              \
    static void softmax_task_##SUF(void *arg, size_t r0, size_t r1) {                              \
        const RowsCall_##SUF *a = (const RowsCall_##SUF *)arg;                                     \
        softmax_rows_##SUF(a->x, r0, r1, a->n, a->out);                                            \
    }                                                                                              \
    static void log_softmax_task_##SUF(void *arg, size_t r0, size_t r1) {                          \
        const RowsCall_##SUF *a = (const RowsCall_##SUF *)arg;                                     \
        log_softmax_rows_##SUF(a->x, r0, r1, a->n, a->out);                                        \
    }                                                                                              \
    static void ce_grad_task_##SUF(void *arg, size_t r0, size_t r1) {                              \
        const RowsCall_##SUF *a = (const RowsCall_##SUF *)arg;                                     \
        ce_grad_rows_##SUF(a->x, a->y, r0, r1, a->n, a->scale, a->out, a->loss);                   \
    }                                                                                              \
    void bprt_softmax_##SUF(const T *x, size_t rows, size_t n, T *y) {                             \
        RowsCall_##SUF a = {x, NULL, n, 0, y, NULL};                                               \
        BPRT_SPLIT(ROWS_TEAM(rows, n), rows, softmax_task_##SUF, &a);                              \
    }                                                                                              \
    void bprt_softmax_rows_##SUF(T *x, size_t rows, size_t n, int causal) {                        \
        if (!causal) {                                                                             \
            softmax_rows_##SUF(x, 0, rows, n, x);                                                  \
            return;                                                                                \
        }                                                                                          \
        softmax_causal_rows_##SUF(x, rows, n);                                                     \
    }                                                                                              \
    void bprt_log_softmax_##SUF(const T *x, size_t rows, size_t n, T *y) {                         \
        RowsCall_##SUF a = {x, NULL, n, 0, y, NULL};                                               \
        BPRT_SPLIT(ROWS_TEAM(rows, n), rows, log_softmax_task_##SUF, &a);                          \
    }                                                                                              \
    void bprt_ce_grad_##SUF(const T *z, const int32_t *y, size_t rows, size_t n, T scale, T *d) {  \
        RowsCall_##SUF a = {z, y, n, scale, d, NULL};                                              \
        BPRT_SPLIT(ROWS_TEAM(rows, n), rows, ce_grad_task_##SUF, &a);                              \
    }

/* Cross-entropy's loss, and the loss and its gradient in one pass. On several threads each
 * row's loss goes to a buffer of this thread's (BPRT_TEMP), added in row order afterwards: the
 * bits of one thread. --standalone output, which keeps no buffers between calls and runs on
 * the calling thread, adds the rows as it goes, and its code makes the two by
 * bprt_cross_entropy and bprt_ce_grad. */
#if !defined(BPRT_STANDALONE)
#define DEFINE_CE(T, SUF)                                                                          \
    static void ce_task_##SUF(void *arg, size_t r0, size_t r1) {                                   \
        const RowsCall_##SUF *a = (const RowsCall_##SUF *)arg;                                     \
        ce_rows_##SUF(a->x, a->y, r0, r1, a->n, a->loss);                                          \
    }                                                                                              \
    /* task over a's rows on team threads, each row's loss into this thread's row buffer, then \
       their mean in row order into *mean: 0; -1 (nothing run) without the buffer */          \
    static int ce_split_##SUF(int team, void (*task)(void *, size_t, size_t), RowsCall_##SUF *a,   \
                              size_t rows, double *mean) {                                         \
        double *t = (double *)BPRT_TEMP(BPRT_SCRATCH_ROWS, sizeof(double) * (rows ? rows : 1));   \
        if (!t) return -1;                                                                         \
        a->loss = t;                                                                               \
        BPRT_SPLIT(team, rows, task, a);                                                           \
        double acc = 0;                                                                            \
        for (size_t r = 0; r < rows; r++) acc += t[r];                                             \
        BPRT_TEMP_DONE(BPRT_SCRATCH_ROWS, t);                                                      \
        *mean = acc / (double)rows;                                                                \
        return 0;                                                                                  \
    }                                                                                              \
    double bprt_cross_entropy_##SUF(const T *z, const int32_t *y, size_t rows, size_t n) {         \
        const int team = ROWS_TEAM(rows, n);                                                       \
        RowsCall_##SUF a = {z, y, n, 0, NULL, NULL};                                               \
        double mean;                                                                               \
        if (team > 1 && ce_split_##SUF(team, ce_task_##SUF, &a, rows, &mean) == 0) return mean;   \
        return ce_rows_##SUF(z, y, 0, rows, n, NULL) / (double)rows;                               \
    }                                                                                              \
    double bprt_cross_entropy_grad_##SUF(const T *z, const int32_t *y, size_t rows, size_t n, T scale, \
                                         T *d) {                                                   \
        RowsCall_##SUF a = {z, y, n, scale, d, NULL};                                              \
        double mean;                                                                               \
        if (ce_split_##SUF(ROWS_TEAM(rows, n), ce_grad_task_##SUF, &a, rows, &mean) == 0) return mean; \
        const double l = bprt_cross_entropy_##SUF(z, y, rows, n); /* the two passes, no memory */ \
        bprt_ce_grad_##SUF(z, y, rows, n, scale, d);                                               \
        return l;                                                                                  \
    }
#else
#define DEFINE_CE(T, SUF)                                                                          \
    double bprt_cross_entropy_##SUF(const T *z, const int32_t *y, size_t rows, size_t n) {         \
        return ce_rows_##SUF(z, y, 0, rows, n, NULL) / (double)rows;                               \
    }
#endif

#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
enum { VM_PAR_MIN = 1 << 15 }; /* elements below which the rows stay on the calling thread */
#define ROWS_TEAM(rows, n) bprt_team((rows) * (n), VM_PAR_MIN)
#else
#define ROWS_TEAM(rows, n) 1
#endif

DEFINE_ROWS(float, f32)
DEFINE_ROWS(double, f64)
DEFINE_ROWS_PAR(float, f32)
DEFINE_ROWS_PAR(double, f64)
DEFINE_CE(float, f32)
DEFINE_CE(double, f64)
