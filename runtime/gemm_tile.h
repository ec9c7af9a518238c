/* gemm_tile.h — template for one kernel set (kernel.h): the register-tiled GEMM
 * micro-kernel and the matrix-vector loops (dot, gemv, ger), written once over a small vector vocabulary and included
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

/* C[m,n] = alpha * Ap @ Bp + beta * C, m and n constants after inlining. With alpha == 1
 * the tiles store their sums without the multiply (the same bits): with K = 16, a batch-16
 * weight gradient 784 x 512, that multiply was one operation in 17 (156 -> 148 us, 1 thread,
 * AMD Zen 4). */
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
    /* (C's rows are not prefetched: a prefetch for writing of each row at the start took
       784 x 512 x 16 from 138 to 148 us on AMD Zen 4, and with K = 64 or more measured no
       different) */

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
                VEC r = alpha == 1 ? acc[i][v] : VMUL(va, acc[i][v]);
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

/* Vectors of c a gemv pass keeps in registers (the includer may set it: 16 with 32
 * registers, 8 with 16). */
#ifndef GEMV_NV
#define GEMV_NV 8
#endif

/* r[v] = the v-th vector at p, v < nv (a constant after inlining), and with VLOADU_N r[nv]
 * = the partial vector of tail elements after them (tail is 0 without partial vectors) */
static inline __attribute__((always_inline)) void KPREFIX(load_pass)(VEC *r, const T *p, int nv,
                                                                    int tail)
{
    (void)tail;
#pragma GCC unroll 17
    for (int v = 0; v <= GEMV_NV; v++) /* the vectors not loaded are never read (dead stores) */
        r[v] = VZERO();
#pragma GCC unroll 16
    for (int v = 0; v < GEMV_NV; v++)
        if (v < nv)
            r[v] = VLOADU(p + v * VL);
#ifdef VLOADU_N
    if (tail)
        r[nv] = VLOADU_N(p + nv * VL, tail);
#endif
}

/* gemv's pass over nv (a constant after inlining) vectors of c and, with VLOADU_N, a
 * partial one of tail columns: c[j] += x[k] * B[k*ldb + j] for k = 0..K-1 in order (with
 * idx, for k = idx[0..K-1]), c in registers throughout; the same roundings as K
 * multiply-adds y += a x per element */
static inline __attribute__((always_inline)) void KPREFIX(gemv_pass)(int nv, int tail, int K,
                                                                    const int *idx, const T *x,
                                                                    const T *B, ptrdiff_t ldb,
                                                                    T *c)
{
    VEC acc[GEMV_NV + 1];
    KPREFIX(load_pass)(acc, c, nv, tail);
    for (int q = 0; q < K; q++) {
        const int k = idx ? idx[q] : q;
        const VEC a = VBCAST(x[k]);
        const T *b = B + k * ldb;
#pragma GCC unroll 16
        for (int v = 0; v < GEMV_NV; v++)
            if (v < nv)
                acc[v] = VFMA(a, VLOADU(b + v * VL), acc[v]);
#ifdef VLOADU_N
        if (tail)
            acc[nv] = VFMA(a, VLOADU_N(b + nv * VL, tail), acc[nv]);
#endif
    }
#pragma GCC unroll 16
    for (int v = 0; v < GEMV_NV; v++)
        if (v < nv)
            VSTOREU(c + v * VL, acc[v]);
#ifdef VLOADU_N
    if (tail)
        VSTOREU_N(c + nv * VL, acc[nv], tail);
#endif
}

/* Runs PASS(nv, t, j) over a row of n columns in passes of equal widths (32 vectors as 16 +
 * 16, not 16 + 16 + a short one), nv <= GEMV_NV full vectors from column j (a constant in
 * each call, for the register allocation) and, in the last pass, the partial vector of
 * t = n % VL columns (with VLOADU_N; without, t is 0 and the last columns are left: j is
 * then where they start). */
#ifdef VLOADU_N
#define KPASS_TAIL(n) ((n) % VL)
#else
#define KPASS_TAIL(n) 0
#endif
#define KPASS_CASE(r)                                                                     \
    case r:                                                                               \
        if (r <= GEMV_NV)                                                                 \
            PASS(r <= GEMV_NV ? r : GEMV_NV, t_, j);                                      \
        break;
#define KPASSES(n, PASS)                                                                  \
    do {                                                                                  \
        const int nvec_ = (n) / VL, tail_ = KPASS_TAIL(n);                               \
        for (int p_ = (nvec_ + (tail_ > 0) + GEMV_NV - 1) / GEMV_NV; p_ > 0; p_--) {        \
            int left_ = nvec_ - j / VL, nv_ = (left_ + (tail_ > 0) + p_ - 1) / p_, t_ = 0;  \
            if (nv_ > left_) { /* the last pass, with the partial vector */               \
                nv_ = left_;                                                              \
                t_ = tail_;                                                               \
            }                                                                             \
            switch (nv_) {                                                                \
                KPASS_CASE(0) KPASS_CASE(1) KPASS_CASE(2) KPASS_CASE(3) KPASS_CASE(4)     \
                KPASS_CASE(5) KPASS_CASE(6) KPASS_CASE(7) KPASS_CASE(8) KPASS_CASE(9)     \
                KPASS_CASE(10) KPASS_CASE(11) KPASS_CASE(12) KPASS_CASE(13)               \
                KPASS_CASE(14) KPASS_CASE(15) KPASS_CASE(16)                              \
            default:                                                                      \
                break;                                                                    \
            }                                                                             \
            j += nv_ * VL + t_;                                                           \
        }                                                                                 \
    } while (0)

/* Skipping the zero factors of a matrix-vector product (gemv's x[k], ger's a[i] with acc):
 * rows of at least SPARSE_MIN_ROWS are taken SPARSE_CHUNK at a time, and a chunk whose
 * factors are at least a quarter zeros goes through the list of its nonzero ones (an image's
 * background pixels, ReLU's zeros: half of a Fashion-MNIST image, 784 x 512 at batch 1, the
 * forward product and the SGD update 47.8 -> 20.7 us). A skipped term x[k] B[k, j] would
 * have added 0 to c, so c is the same except where B's row holds an infinity or a NaN (not
 * made into a NaN) or c is -0 (not made +0). */
#define SPARSE_MIN_ROWS 64
#define SPARSE_CHUNK 1024
/* idx[0..] = the k in [0, K) with x[k * sx] != 0, K <= SPARSE_CHUNK; how many, or -1 when
 * fewer than a quarter are zero */
static inline int KPREFIX(nonzero_rows)(int K, const T *x, ptrdiff_t sx, int *idx)
{
    int z = 0; /* counted first, in vectors where x is contiguous: a dense x costs ~0.1 us */
    if (sx == 1)
        for (int k = 0; k < K; k++)
            z += x[k] == 0;
    else
        for (int k = 0; k < K; k++)
            z += x[k * sx] == 0;
    if (4 * z < K)
        return -1;
    int n = 0;
    for (int k = 0; k < K; k++) {
        idx[n] = k;
        n += x[k * sx] != 0;
    }
    return n;
}

/* a b + c for the scalar loops: fused where the kernels' vectors are (their file compiled
 * with FMA), so that the compiler's choice to contract does not depend on how a loop was
 * inlined (the same sums with and without a list of rows) */
static inline T KPREFIX(sfma)(T a, T b, T c)
{
#ifdef __FMA__
    return _Generic(a, float: __builtin_fmaf, default: __builtin_fma)(a, b, c);
#else
    return a * b + c;
#endif
}

/* gemv over the rows k = idx[0..K) of B (k = 0..K-1 with idx NULL), in that order */
static void KPREFIX(gemv_listed)(int n, int K, const int *idx, const T *x, const T *B, ptrdiff_t ldb, T *c)
{
    int j = 0;
#define PASS(nv, t, j) KPREFIX(gemv_pass)(nv, t, K, idx, x, B + (j), ldb, c + (j))
    KPASSES(n, PASS);
#undef PASS
    for (; j < n; j++) { /* without partial vectors: the last columns one at a time */
        T s = c[j];
        for (int q = 0; q < K; q++) {
            const int k = idx ? idx[q] : q;
            s = KPREFIX(sfma)(x[k], B[k * ldb + j], s);
        }
        c[j] = s;
    }
}

/* c[j] += sum over k of x[k] * B[k*ldb + j], j < n, added in the order k = 0..K-1
 * (one multiply-add per k and element, c += x[k] B[k, j]; zero factors skipped, above): c
 * goes through registers in passes of at most GEMV_NV vectors, each pass reading its columns
 * of all K rows of B, so c is loaded and stored once instead of once per few rows (a batch-1
 * forward product, 784 x 256: 7.2 -> 4.0 us). */
static void KPREFIX(gemv)(int n, int K, const T *x, const T *B, ptrdiff_t ldb, T *c)
{
    if (K < SPARSE_MIN_ROWS) {
        KPREFIX(gemv_listed)(n, K, NULL, x, B, ldb, c);
        return;
    }
    int idx[SPARSE_CHUNK];
    for (int k0 = 0; k0 < K; k0 += SPARSE_CHUNK) {
        const int kc = K - k0 < SPARSE_CHUNK ? K - k0 : SPARSE_CHUNK;
        const int nk = KPREFIX(nonzero_rows)(kc, x + k0, 1, idx);
        KPREFIX(gemv_listed)(n, nk < 0 ? kc : nk, nk < 0 ? NULL : idx, x + k0, B + (ptrdiff_t)k0 * ldb, ldb, c);
    }
}

/* ger's pass over nv (constant) vectors of b and a partial one of tail columns, held in
 * registers for all m rows: C[i, j] = (alpha a[i*sa]) b[j] (+ C[i, j] with acc) */
static inline __attribute__((always_inline)) void KPREFIX(ger_pass)(int nv, int tail, int m,
                                                                   const int *idx, T alpha,
                                                                   const T *a, ptrdiff_t sa,
                                                                   const T *b, T *C,
                                                                   ptrdiff_t ldc, int acc)
{
    VEC bv[GEMV_NV + 1];
    KPREFIX(load_pass)(bv, b, nv, tail);
    /* short rows with a partial vector go in the order 0, 4, 8, ..., 1, 5, ...: in row
       order, each row's masked load waited for the previous row's masked store to the same
       64 bytes (256 x 10: 1.7 -> 0.19 us); long rows go in order (their prefetch); with
       idx, only the rows idx[0..m) */
    const int S = acc && tail && ldc < 4 * VL ? 4 : 1;
    for (int q0 = 0; q0 < S; q0++)
        for (int q = q0; q < m; q += S) {
            const int i = idx ? idx[q] : q;
            const VEC s = VBCAST(alpha * a[i * sa]);
            T *c = C + i * ldc;
            if (acc) {
#pragma GCC unroll 16
                for (int v = 0; v < GEMV_NV; v++)
                    if (v < nv)
                        VSTOREU(c + v * VL, VFMA(s, bv[v], VLOADU(c + v * VL)));
#ifdef VLOADU_N
                if (tail)
                    VSTOREU_N(c + nv * VL, VFMA(s, bv[nv], VLOADU_N(c + nv * VL, tail)), tail);
#endif
            } else {
#pragma GCC unroll 16
                for (int v = 0; v < GEMV_NV; v++)
                    if (v < nv)
                        VSTOREU(c + v * VL, VMUL(s, bv[v]));
#ifdef VLOADU_N
                if (tail)
                    VSTOREU_N(c + nv * VL, VMUL(s, bv[nv]), tail);
#endif
            }
        }
}

/* ger over the rows i = idx[0..m) of C (i = 0..m-1 with idx NULL) */
static void KPREFIX(ger_listed)(int m, const int *idx, int n, T alpha, const T *a, ptrdiff_t sa,
                               const T *b, T *C, ptrdiff_t ldc, int acc)
{
    int j = 0;
#define PASS(nv, t, j) KPREFIX(ger_pass)(nv, t, m, idx, alpha, a, sa, b + (j), C + (j), ldc, acc)
    KPASSES(n, PASS);
#undef PASS
    for (; j < n; j++) /* without partial vectors: the last columns one at a time */
        for (int q = 0; q < m; q++) {
            const int i = idx ? idx[q] : q;
            C[i * ldc + j] = acc ? KPREFIX(sfma)(alpha * a[i * sa], b[j], C[i * ldc + j]) : (alpha * a[i * sa]) * b[j];
        }
}

/* The rank-1 product C[i, j] = (alpha a[i*sa]) b[j] for i < m, j < n, added to C with acc
 * (one product, or one multiply-add, per element): b stays in registers, in passes of at most
 * GEMV_NV vectors over all rows, so each row of C is one read (with acc) and one write
 * (one sample's weight update, 784 x 256: 7.6 -> 4.8 us). With acc, the rows whose factor
 * a[i*sa] is zero are left as they are (SPARSE_CHUNK above). */
static void KPREFIX(ger)(int m, int n, T alpha, const T *a, ptrdiff_t sa, const T *b, T *C,
                         ptrdiff_t ldc, int acc)
{
    if (!acc || m < SPARSE_MIN_ROWS) {
        KPREFIX(ger_listed)(m, NULL, n, alpha, a, sa, b, C, ldc, acc);
        return;
    }
    int idx[SPARSE_CHUNK];
    for (int i0 = 0; i0 < m; i0 += SPARSE_CHUNK) {
        const int mc = m - i0 < SPARSE_CHUNK ? m - i0 : SPARSE_CHUNK;
        const int nk = KPREFIX(nonzero_rows)(mc, a + i0 * sa, sa, idx);
        T *Ci = C + (ptrdiff_t)i0 * ldc;
        KPREFIX(ger_listed)(nk < 0 ? mc : nk, nk < 0 ? NULL : idx, n, alpha, a + i0 * sa, sa, b, Ci, ldc, 1);
    }
}
#undef KPASSES
#undef KPASS_CASE
#undef KPASS_TAIL
#undef SPARSE_MIN_ROWS
#undef SPARSE_CHUNK

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

#if defined(VHSUM) && defined(VLOADU_N)
/* one chunk of rowdot: t = VL elements of k from k0 (a constant after inlining), or the
 * last t < VL (masked loads) */
static inline __attribute__((always_inline)) void KPREFIX(rowdot_chunk)(
    VEC acc[3][VL], int r, int n, int k0, int t, const T *A, ptrdiff_t lda, const T *Bt,
    ptrdiff_t ldbt)
{
    VEC a[3];
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
        if (i < r)
            a[i] = t == VL ? VLOADU(A + i * lda + k0) : VLOADU_N(A + i * lda + k0, t);
#pragma GCC unroll 16
    for (int j = 0; j < VL; j++) {
        if (j < n) {
            VEC b = t == VL ? VLOADU(Bt + j * ldbt + k0) : VLOADU_N(Bt + j * ldbt + k0, t);
            /* in a register: folded into each row's FMA, it was loaded r times (22 loads for
               20 FMAs at r = 2) */
            __asm__("" : "+v"(b));
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++)
                if (i < r)
                    acc[i][j] = VFMA(a[i], b, acc[i][j]);
        }
    }
}

/* rowdot's body for r rows and n columns (constants after inlining): acc[i][j] holds VL
 * partial sums of row i of A against row j of Bt (k = lane + VL q, each lane's chunks added
 * in order, the last chunk masked), VHSUM adds each row's lanes into one vector of n sums */
static inline __attribute__((always_inline)) void KPREFIX(rowdot_body)(
    int r, int n, int K, const T *A, ptrdiff_t lda, const T *Bt, ptrdiff_t ldbt, T *C,
    ptrdiff_t ldc, T alpha, T beta)
{
    VEC acc[3][VL];
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 16
        for (int j = 0; j < VL; j++)
            acc[i][j] = VZERO();
    int k = 0;
    for (; k + VL <= K; k += VL)
        KPREFIX(rowdot_chunk)(acc, r, n, k, VL, A, lda, Bt, ldbt);
    if (k < K)
        KPREFIX(rowdot_chunk)(acc, r, n, k, K - k, A, lda, Bt, ldbt);
    const VEC va = VBCAST(alpha), vb = VBCAST(beta);
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++) {
        if (i < r) {
            VEC s = VMUL(va, VHSUM(acc[i], n));
            if (beta != 0)
                s = VFMA(vb, VLOADU_N(C + i * ldc, n), s);
            VSTOREU_N(C + i * ldc, s, n);
        }
    }
}

/* Rows of a product with at most VL columns as dot products (kernel.h: rowdot): rows of A
 * three at a time up to 9 columns, two up to 14, else one (accumulators, the rows' vectors
 * and one of Bt within 32 registers) */
static void KPREFIX(rowdot)(int m, int n, int K, const T *A, ptrdiff_t lda, const T *Bt,
                            ptrdiff_t ldbt, T *C, ptrdiff_t ldc, T alpha, T beta)
{
#define RD_CASE(nn)                                                                           \
    case nn:                                                                                  \
        if (nn <= VL) {                                                                       \
            const int R = (nn) <= 9 ? 3 : (nn) <= 14 ? 2 : 1;                                \
            int i = 0;                                                                        \
            for (; i + R <= m; i += R)                                                        \
                KPREFIX(rowdot_body)(R, nn <= VL ? nn : VL, K, A + i * lda, lda, Bt, ldbt,    \
                                     C + i * ldc, ldc, alpha, beta);                          \
            for (; i < m; i++)                                                                \
                KPREFIX(rowdot_body)(1, nn <= VL ? nn : VL, K, A + i * lda, lda, Bt, ldbt,    \
                                     C + i * ldc, ldc, alpha, beta);                          \
        }                                                                                     \
        break;
    switch (n) {
        RD_CASE(1) RD_CASE(2) RD_CASE(3) RD_CASE(4) RD_CASE(5) RD_CASE(6) RD_CASE(7) RD_CASE(8)
        RD_CASE(9) RD_CASE(10) RD_CASE(11) RD_CASE(12) RD_CASE(13) RD_CASE(14) RD_CASE(15)
        RD_CASE(16)
    default:
        break;
    }
#undef RD_CASE
}
#define KROWDOT KPREFIX(rowdot)
#else
#define KROWDOT NULL
#endif

/* R rows (a constant after inlining) x nv vectors (at most GEMV_NV / R, a constant) of C from
 * one block of K, with tile_body's operations on every element: the sum from zero over k in
 * order, one multiply-add per term, alpha times it, then C added (fma(1, C, r)) with acc. */
static inline __attribute__((always_inline)) void KPREFIX(strip_body)(int R, int nv, int K, const T *A,
                                                                     ptrdiff_t si, ptrdiff_t sk,
                                                                     const T *B, ptrdiff_t ldb, T *C,
                                                                     ptrdiff_t ldc, T alpha, int acc)
{
    VEC c[4][GEMV_NV];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
        for (int v = 0; v < GEMV_NV; v++)
            if (r < R && v < nv)
                c[r][v] = VZERO();
    for (int k = 0; k < K; k++) {
        VEC b[GEMV_NV];
#pragma GCC unroll 16
        for (int v = 0; v < GEMV_NV; v++)
            if (v < nv)
                b[v] = VLOADU(B + k * ldb + v * VL);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            if (r < R) {
                const VEC a = VBCAST(A[r * si + k * sk]);
#pragma GCC unroll 16
                for (int v = 0; v < GEMV_NV; v++)
                    if (v < nv)
                        c[r][v] = VFMA(a, b[v], c[r][v]);
            }
        }
    }
    const VEC va = VBCAST(alpha), one = VBCAST((T)1);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
        for (int v = 0; v < GEMV_NV; v++)
            if (r < R && v < nv) {
                T *o = C + r * ldc + v * VL;
                VEC x = VMUL(va, c[r][v]);
                if (acc)
                    x = VFMA(one, VLOADU(o), x);
                VSTOREU(o, x);
            }
}

/* C[m, n] = alpha * sum over k of A[i*si + k*sk] B[k*ldb + j] (+ C with acc), n a multiple of
 * VL, K one block of the driver's: the same bits as the tiles (strip_body). Short products
 * with wide rows, where a tile's 2-line pieces of each row at a row's stride kept the
 * prefetchers from streaming: up to 4 rows (a small batch's x @ W) all at once against
 * strips of GEMV_NV / m vectors of B, each B row loaded once for all of them; more rows (a
 * small batch's weight update, short K) one at a time against strips of GEMV_NV vectors,
 * B's K rows of the strip in L1, C's rows read and written once, in the order of the rows.
 * 784 x 512 weights out of cache, 1 thread: x @ W of 4 rows 41.7 -> 27 us, the update
 * W += alpha x^T g with K = 4 74.5 -> 54.5 us (tiles before). */
static void KPREFIX(strips)(int m, int n, int K, const T *A, ptrdiff_t si, ptrdiff_t sk, const T *B,
                            ptrdiff_t ldb, T *C, ptrdiff_t ldc, T alpha, int acc)
{
    const int nvec = n / VL;
#define STRIPS(R, NVS)                                                                              \
    do {                                                                                            \
        int v0 = 0;                                                                                 \
        for (; v0 + (NVS) <= nvec; v0 += (NVS))                                                      \
            for (int i = 0; i + (R) <= m; i += (R))                                                 \
                KPREFIX(strip_body)((R), (NVS), K, A + i * si, si, sk, B + v0 * VL, ldb,            \
                                    C + i * ldc + v0 * VL, ldc, alpha, acc);                        \
        for (; v0 < nvec; v0++) /* the last vectors one at a time */                                \
            for (int i = 0; i + (R) <= m; i += (R))                                                 \
                KPREFIX(strip_body)((R), 1, K, A + i * si, si, sk, B + v0 * VL, ldb,                \
                                    C + i * ldc + v0 * VL, ldc, alpha, acc);                        \
    } while (0)
    switch (m) {
    case 2:
        STRIPS(2, GEMV_NV / 2);
        return;
    case 3:
        STRIPS(3, GEMV_NV / 4 + GEMV_NV / 16);
        return;
    case 4:
        STRIPS(4, GEMV_NV / 4);
        return;
    default:
        STRIPS(1, GEMV_NV);
        return;
    }
#undef STRIPS
}

const KTYPE KSET = {MR, NR, KPREFIX(tile), KPREFIX(tile_rows), KPREFIX(pack_t), KPREFIX(dot), KPREFIX(gemv), KPREFIX(ger), KROWDOT, KPREFIX(strips), VL};
#undef KROWDOT


#undef NR
#undef MR
#undef VHSUM
#undef NV
#undef GEMV_NV
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
