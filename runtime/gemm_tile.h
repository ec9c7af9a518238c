/* gemm_tile.h — template for one kernel set (kernel.h): the register-tiled GEMM
 * micro-kernel, dot and axpy, written once over a small vector vocabulary and included
 * once per (ISA, element type) by gemm.c, gemm_avx2.c and gemm_avx512.c.
 *
 * The tile keeps an MR x NR block of C in MR*NV vector registers (NR = NV*VL): each k step
 * loads NV vectors of the packed B row and, for each of the m live rows, broadcasts one
 * packed A element and fuses it in. The body is specialised for every m in 1..MR
 * (always_inline with a constant m), so short edge tiles do not pay for padded rows;
 * a short n (edge columns) goes through a stack buffer and a scalar merge.
 *
 * The includer defines, before including:
 *   T          element type            VEC        vector type of VL elements
 *   VL, MR, NV lanes, tile rows, vectors per tile row
 *   VZERO()  VLOADU(p)  VSTOREU(p, v)  VBCAST(x)  VFMA(a, b, c) = a*b + c  VMUL(a, b)
 *   KSET       name of the BprtKernelF32/F64 object to define (external linkage)
 *   KTYPE      BprtKernelF32 or BprtKernelF64
 *   KPREFIX(x) token paster making this instance's static names unique
 * and all of them are #undef'd here at the end, except that with TILE_MORE defined the
 * vocabulary (T, VEC, VL, the V* operations, KTYPE) stays for a next set of the same type:
 * only MR, NV, KSET, KPREFIX (and TILE_MORE) are to be defined again. */

#define NR (NV * VL)
_Static_assert(MR * NR <= BPRT_MAX_TILE, "tile larger than BPRT_MAX_TILE");
_Static_assert(MR <= 16, "tile dispatch below handles MR <= 16");

/* C[m,n] = alpha * Ap @ Bp + beta * C, m and n constants after inlining. */
static inline __attribute__((always_inline)) void KPREFIX(tile_body)(
    int m, int n, int K, const T *restrict Ap, ptrdiff_t sa, ptrdiff_t ra, const T *restrict Bp,
    ptrdiff_t sb, T *restrict C, ptrdiff_t ldc, T alpha, T beta)
{
    VEC acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            acc[i][v] = VZERO();
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
        if (i < m)
            __builtin_prefetch(C + i * ldc, 1);

#pragma GCC unroll 2
    for (int k = 0; k < K; k++) {
        VEC b[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            b[v] = VLOADU(Bp + v * VL);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            if (i < m) {
                VEC a = VBCAST(Ap[i * ra]);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++)
                    acc[i][v] = VFMA(a, b[v], acc[i][v]);
            }
        }
        Ap += sa;
        Bp += sb;
    }

    VEC va = VBCAST(alpha);
    if (n == NR) {
        VEC vb = VBCAST(beta);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            if (i >= m)
                continue;
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) {
                T *c = C + i * ldc + v * VL;
                VEC r = VMUL(va, acc[i][v]);
                if (beta != 0)
                    r = VFMA(vb, VLOADU(c), r);
                VSTOREU(c, r);
            }
        }
        return;
    }
    T tmp[MR * NR] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        if (i >= m)
            continue;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            VSTOREU(tmp + i * NR + v * VL, VMUL(va, acc[i][v]));
    }
    if (n > NR)
        n = NR;
    for (int i = 0; i < m; i++) {
        T *c = C + i * ldc;
        if (beta == 0)
            for (int j = 0; j < n; j++)
                c[j] = tmp[i * NR + j];
        else
            for (int j = 0; j < n; j++)
                c[j] = tmp[i * NR + j] + beta * c[j];
    }
}

/* tile_body with a constant m (1..MR) from the runtime m, for Ap with sa and rows ra apart:
 * tile with ra == 1, tile_rows with sa == 1 */
#define KCASE(r)                                                                          \
    case r:                                                                               \
        if (r <= MR) {                                                                    \
            KPREFIX(tile_body)(r <= MR ? r : MR, n, K, Ap, sa, ra, Bp, sb, C, ldc, alpha, \
                               beta);                                                     \
            return;                                                                       \
        }                                                                                 \
        break;
#define KDISPATCH()                                                                       \
    switch (m) {                                                                          \
        KCASE(1) KCASE(2) KCASE(3) KCASE(4) KCASE(5) KCASE(6) KCASE(7) KCASE(8)           \
        KCASE(9) KCASE(10) KCASE(11) KCASE(12) KCASE(13) KCASE(14) KCASE(15) KCASE(16)    \
    default:                                                                              \
        break;                                                                            \
    }

static void KPREFIX(tile_rows)(int m, int n, int K, const T *Ap, ptrdiff_t ra, const T *Bp,
                               ptrdiff_t sb, T *C, ptrdiff_t ldc, T alpha, T beta)
{
    const ptrdiff_t sa = 1;
    KDISPATCH()
}

static void KPREFIX(tile)(int m, int n, int K, const T *Ap, ptrdiff_t sa, const T *Bp,
                          ptrdiff_t sb, T *C, ptrdiff_t ldc, T alpha, T beta)
{
    const ptrdiff_t ra = 1;
    KDISPATCH()
}
#undef KDISPATCH
#undef KCASE

static T KPREFIX(dot)(int K, const T *x, const T *y)
{
    VEC s0 = VZERO(), s1 = VZERO(), s2 = VZERO(), s3 = VZERO();
    int k = 0;
    for (; k + 4 * VL <= K; k += 4 * VL) {
        s0 = VFMA(VLOADU(x + k), VLOADU(y + k), s0);
        s1 = VFMA(VLOADU(x + k + VL), VLOADU(y + k + VL), s1);
        s2 = VFMA(VLOADU(x + k + 2 * VL), VLOADU(y + k + 2 * VL), s2);
        s3 = VFMA(VLOADU(x + k + 3 * VL), VLOADU(y + k + 3 * VL), s3);
    }
    for (; k + VL <= K; k += VL)
        s0 = VFMA(VLOADU(x + k), VLOADU(y + k), s0);
    T lanes[VL] __attribute__((aligned(64)));
    VSTOREU(lanes, s0 + s1 + s2 + s3);
    T s = 0;
    for (int l = 0; l < VL; l++)
        s += lanes[l];
    for (; k < K; k++)
        s += x[k] * y[k];
    return s;
}

static void KPREFIX(axpy)(int n, T a, const T *x, T *y)
{
    VEC va = VBCAST(a);
    int j = 0;
    for (; j + 2 * VL <= n; j += 2 * VL) {
        VSTOREU(y + j, VFMA(va, VLOADU(x + j), VLOADU(y + j)));
        VSTOREU(y + j + VL, VFMA(va, VLOADU(x + j + VL), VLOADU(y + j + VL)));
    }
    for (; j + VL <= n; j += VL)
        VSTOREU(y + j, VFMA(va, VLOADU(x + j), VLOADU(y + j)));
    for (; j < n; j++)
        y[j] += a * x[j];
}

/* y[j] = a*x[j], j < n (one rounding, as the scalar product) */
static void KPREFIX(scal)(int n, T a, const T *x, T *y)
{
    VEC va = VBCAST(a);
    int j = 0;
    for (; j + 2 * VL <= n; j += 2 * VL) {
        VSTOREU(y + j, VMUL(va, VLOADU(x + j)));
        VSTOREU(y + j + VL, VMUL(va, VLOADU(x + j + VL)));
    }
    for (; j + VL <= n; j += VL)
        VSTOREU(y + j, VMUL(va, VLOADU(x + j)));
    for (; j < n; j++)
        y[j] = a * x[j];
}

/* y[j] += a[0]*x[j] + a[1]*x[ldx + j] + a[2]*x[2*ldx + j] + a[3]*x[3*ldx + j], added in that
 * order (the same roundings as four axpy calls, with y kept in registers between them) */
static void KPREFIX(axpy4)(int n, const T *a, const T *x, ptrdiff_t ldx, T *y)
{
    VEC a0 = VBCAST(a[0]), a1 = VBCAST(a[1]), a2 = VBCAST(a[2]), a3 = VBCAST(a[3]);
    const T *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx;
    int j = 0;
    for (; j + VL <= n; j += VL) {
        VEC v = VFMA(a0, VLOADU(x + j), VLOADU(y + j));
        v = VFMA(a1, VLOADU(x1 + j), v);
        v = VFMA(a2, VLOADU(x2 + j), v);
        VSTOREU(y + j, VFMA(a3, VLOADU(x3 + j), v));
    }
    for (; j < n; j++) {
        T v = y[j] + a[0] * x[j];
        v += a[1] * x1[j];
        v += a[2] * x2[j];
        y[j] = v + a[3] * x3[j];
    }
}

/* dst[k*P + i] = src[i*lds + k] (i < r, k < kc), zero for r <= i < P. With VTRANSPOSE
 * (an in-register VL x VL transpose of VEC v[VL]) and the partial-vector VLOADU_N /
 * VSTOREU_N, blocks of VL x VL go through registers; otherwise a plain loop. */
static void KPREFIX(pack_t)(int r, int kc, const T *src, ptrdiff_t lds, T *dst, int P)
{
#ifdef VTRANSPOSE
    for (int i0 = 0; i0 < P; i0 += VL) {
        int rows = r - i0 < VL ? r - i0 : VL, w = P - i0 < VL ? P - i0 : VL;
        const T *s = src + (ptrdiff_t)i0 * lds;
        for (int k0 = 0; k0 < kc; k0 += VL) {
            int kn = kc - k0 < VL ? kc - k0 : VL;
            VEC v[VL];
            if (kn == VL) {
#pragma GCC unroll 16
                for (int i = 0; i < VL; i++)
                    v[i] = i < rows ? VLOADU(s + i * lds + k0) : VZERO();
            } else {
#pragma GCC unroll 16
                for (int i = 0; i < VL; i++)
                    v[i] = i < rows ? VLOADU_N(s + i * lds + k0, kn) : VZERO();
            }
            VTRANSPOSE(v);
            T *d = dst + (ptrdiff_t)k0 * P + i0;
            if (w == VL) {
#pragma GCC unroll 16
                for (int k = 0; k < VL; k++)
                    if (k < kn)
                        VSTOREU(d + k * P, v[k]);
            } else {
#pragma GCC unroll 16
                for (int k = 0; k < VL; k++)
                    if (k < kn)
                        VSTOREU_N(d + k * P, v[k], w);
            }
        }
    }
#else
    for (int k = 0; k < kc; k++)
        for (int i = r; i < P; i++)
            dst[k * P + i] = 0;
    for (int i = 0; i < r; i++)
        for (int k = 0; k < kc; k++)
            dst[k * P + i] = src[i * lds + k];
#endif
}

const KTYPE KSET = {MR, NR, KPREFIX(tile), KPREFIX(tile_rows), KPREFIX(pack_t), KPREFIX(dot), KPREFIX(axpy), KPREFIX(axpy4), KPREFIX(scal)};

#undef NR
#undef MR
#undef NV
#undef KSET
#undef KPREFIX
#ifdef TILE_MORE /* another set of the same type and vocabulary follows */
#undef TILE_MORE
#else
#undef T
#undef VEC
#undef VL
#undef VZERO
#undef VLOADU
#undef VSTOREU
#undef VBCAST
#undef VFMA
#undef VMUL
#undef VTRANSPOSE
#undef VLOADU_N
#undef VSTOREU_N
#undef KTYPE
#endif
