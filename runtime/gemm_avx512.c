/* gemm_avx512.c — AVX-512F micro-kernels for bprt_sgemm / bprt_dgemm (kernel.h contract),
 * compiled with -mavx512f -mavx512dq -mfma and only called when the CPU has them.
 *
 * Tiles are 14 rows x 2 zmm vectors: 28 accumulators of the 32 registers, leaving room for
 * the two B vectors and the broadcast (fused into the FMA as an embedded {1toN} operand).
 * 28 independent FMA chains cover the 4-cycle latency of two FMA ports with room to
 * spare; per k step the kernel issues 28 FMAs against 2 vector loads + 14 broadcasts.
 * f32: 14 x 32, f64: 14 x 16. A narrow set of each type (one vector per tile row, 16 rows:
 * f32 16 x 16, f64 16 x 8) serves products with at most half the wide tile's columns (a
 * classifier's 10 outputs), where 14 x 32 tiles would compute 22 padded columns of every 32:
 * 16 accumulators, one B load and 16 broadcasts per k step. The bodies come from
 * gemm_tile.h, included twice per type with one vocabulary (TILE_MORE). */
#include <immintrin.h>

#include "kernel.h"

/* In-register transposes for the packing of transposed operands (pack_t): two rounds of
 * in-lane unpack/shuffle, then 128-bit lane shuffles. */
static inline __attribute__((always_inline)) void transpose_f32(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[g][c]: rows 4g..4g+3, lane L holds column c + 4L */
    __m512 u[4][4];
    for (int g = 0; g < 4; g++) {
        u[g][0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[g][1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[g][2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[g][3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 x0 = _mm512_shuffle_f32x4(u[0][c], u[1][c], 0x88); /* L0, L2 of groups 0,1 */
        __m512 y0 = _mm512_shuffle_f32x4(u[2][c], u[3][c], 0x88);
        __m512 x1 = _mm512_shuffle_f32x4(u[0][c], u[1][c], 0xDD); /* L1, L3 */
        __m512 y1 = _mm512_shuffle_f32x4(u[2][c], u[3][c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
}

static inline __attribute__((always_inline)) void transpose_f64(__m512d r[8])
{
    __m512d t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    /* s[4h + c]: rows 4h..4h+3, 128-bit lane L holds column c + 4(L & 1) ... */
    for (int h = 0; h < 2; h++) {
        s[4 * h + 0] = _mm512_shuffle_f64x2(t[4 * h], t[4 * h + 2], 0x88);
        s[4 * h + 1] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0x88);
        s[4 * h + 2] = _mm512_shuffle_f64x2(t[4 * h], t[4 * h + 2], 0xDD);
        s[4 * h + 3] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0xDD);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f64x2(s[c], s[c + 4], 0x88);
        r[c + 4] = _mm512_shuffle_f64x2(s[c], s[c + 4], 0xDD);
    }
}

/* hsum_f32(v)[j] = the sum of v[j]'s 16 lanes, j < 16 (rowdot's reduction): pairs of
 * vectors by in-lane unpacks, then 4-element shuffles, then 128-bit lane shuffles; 45
 * operations for 16 vectors */
static inline __attribute__((always_inline)) __m512 hsum_f32(const __m512 v[16])
{
    __m512 u[8], w[4];
    for (int i = 0; i < 8; i++) /* 128-bit lane L: [v2i, v2i+1, v2i, v2i+1] partial sums */
        u[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int g = 0; g < 4; g++) /* lane L: [v4g, v4g+1, v4g+2, v4g+3] over lane L */
        w[g] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * g], u[2 * g + 1], 0x44),
                             _mm512_shuffle_ps(u[2 * g], u[2 * g + 1], 0xEE));
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88), _mm512_shuffle_f32x4(w[0], w[1], 0xDD));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(w[2], w[3], 0x88), _mm512_shuffle_f32x4(w[2], w[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xDD));
}

/* hsum_f64(v)[j] = the sum of v[j]'s 8 lanes, j < 8 */
static inline __attribute__((always_inline)) __m512d hsum_f64(const __m512d v[8])
{
    __m512d u[4];
    for (int i = 0; i < 4; i++) /* 128-bit lane L: [v2i, v2i+1] over lane L */
        u[i] = _mm512_add_pd(_mm512_unpacklo_pd(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_pd(v[2 * i], v[2 * i + 1]));
    __m512d s01 = _mm512_add_pd(_mm512_shuffle_f64x2(u[0], u[1], 0x88), _mm512_shuffle_f64x2(u[0], u[1], 0xDD));
    __m512d s23 = _mm512_add_pd(_mm512_shuffle_f64x2(u[2], u[3], 0x88), _mm512_shuffle_f64x2(u[2], u[3], 0xDD));
    return _mm512_add_pd(_mm512_shuffle_f64x2(s01, s23, 0x88), _mm512_shuffle_f64x2(s01, s23, 0xDD));
}

#define T float
#define VEC __m512
#define VL 16
#define VZERO() _mm512_setzero_ps()
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTOREU(p, v) _mm512_storeu_ps((p), (v))
#define VBCAST(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VTRANSPOSE(v) transpose_f32(v)
#define VLOADU_N(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p))
#define VSTOREU_N(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (v))
#define KTYPE BprtKernelF32
#define MR 14
#define NV 2
#define KSET bprt_kernel_f32_avx512
#define KPREFIX(x) avx512_f32_##x
#define TILE_MORE
#define GEMV_NV 16
#include "gemm_tile.h"
#define MR 16
#define NV 1
#define VHSUM(v, n) hsum_f32(v)
#define KSET bprt_kernel_f32_avx512_narrow
#define KPREFIX(x) avx512n_f32_##x
#define GEMV_NV 16
#include "gemm_tile.h"

#define T double
#define VEC __m512d
#define VL 8
#define VZERO() _mm512_setzero_pd()
#define VLOADU(p) _mm512_loadu_pd(p)
#define VSTOREU(p, v) _mm512_storeu_pd((p), (v))
#define VBCAST(x) _mm512_set1_pd(x)
#define VFMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define VMUL(a, b) _mm512_mul_pd((a), (b))
#define VTRANSPOSE(v) transpose_f64(v)
#define VLOADU_N(p, n) _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), (p))
#define VSTOREU_N(p, v, n) _mm512_mask_storeu_pd((p), (__mmask8)((1u << (n)) - 1), (v))
#define KTYPE BprtKernelF64
#define MR 14
#define NV 2
#define KSET bprt_kernel_f64_avx512
#define KPREFIX(x) avx512_f64_##x
#define TILE_MORE
#define GEMV_NV 16
#include "gemm_tile.h"
#define MR 16
#define NV 1
#define VHSUM(v, n) hsum_f64(v)
#define KSET bprt_kernel_f64_avx512_narrow
#define KPREFIX(x) avx512n_f64_##x
#define GEMV_NV 16
#include "gemm_tile.h"
