/* gemm_driver.h — template for one GEMM entry point (bprt_sgemm or bprt_dgemm), included
 * once per element type by gemm.c. The maths and the contract are in bprt.h:
 *   C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, row-major.
 *
 * Shape legend: M rows of C, N columns of C, K the reduction; mr x nr the kernel's
 * register tile; mc x kc the packed A block, kc x nc the packed B block.
 *
 * Structure (GotoBLAS / BLIS loop nest):
 *   for jc in N by nc:                       B block kc x nc   (L2/L3)
 *     for pc in K by kc:                     pack B block; beta applies at pc == 0 only
 *       for ic in M by mc:                   pack A block mc x kc   (L2)
 *         for jr in nc by nr:                B micro-panel kc x nr  (L1)
 *           for ir in mc by mr: tile         A micro-panel kc x mr, C tile in registers
 * Packing reads op(A) / op(B) through the transpose flags, so the kernel sees one layout.
 * kc is K split into equal blocks of at most KC_MAX (no thin remainder block).
 * An epilogue (FNEW) runs on each mc x nc block of C after its last K block, on the thread
 * that computed it.
 * Threads: the C grid of tiles is cut into tm x tn rectangles, one per thread of the pool,
 * each running the serial nest above with its own packing buffers; problems under
 * GEMM_MIN_FLOPS_PER_THREAD per thread use fewer threads, tiny ones run inline.
 * A small batch (M or K up to BPRT_SMALL_BATCH) runs on one thread, with a row-major B through
 * the kernel's strips (the tiles' arithmetic over wider pieces of B's rows).
 * M == 1 or N == 1 go to GEMV loops on the kernel's gemv / dot (memory-bound, one thread;
 * with M == 1, a B of GEMV_OWN_MIN_BYTES or more split by rows, see gemv_owned).
 * alpha == 0 or K == 0 only scale C (A and B are not read). beta == 0 never reads C.
 *
 * The includer defines T, KTYPE (kernel set type), KTABLE (array of kernel sets indexed by
 * BprtIsa), KNARROW (the narrow sets, for N up to half a wide tile; NULL entries: none),
 * FN and FNEW (the exported names, without and with an epilogue), EWROWS (bprt_ew_rows_f32
 * or _f64) and DPREFIX(x) (unique static names); they are #undef'd at the end. Requires gemm.c's scratch() and the tunables KC_MAX_BYTES,
 * MC_MAX_BYTES, NC_MAX, ROWS_OUTER, GEMM_MIN_FLOPS_PER_THREAD, GEMV_T_MAX_K, GEMV_T_MAX, GEMM_B_ALIAS_BYTES,
 * GEMM_B_ALIAS_MIN_M, GEMM_B_ALIAS2_MIN_M. */

/* C[M,N] *= beta; beta == 0 stores zeros without reading C. */
static void DPREFIX(scale)(int M, int N, T beta, T *C, ptrdiff_t ldc)
{
    if (beta == 1)
        return;
    if (beta == 0) {
        for (int i = 0; i < M; i++)
            memset(C + i * ldc, 0, sizeof(T) * (size_t)N);
        return;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
}

/* An epilogue (bprt_?gemm_ew): the elementwise program over finished blocks of C. */
typedef struct DPREFIX(Ep) {
    const int32_t *code;
    int ncode, nleaf;
    const double *konst;
    const T *const *leaf;
    const ptrdiff_t *ld;
    const unsigned char *vec;
    T *out;
    ptrdiff_t ldo;
    /* bprt_?gemm_ew_sum: out's rows summed as they are finished, acc[(i % P) * n + j] += out[i, j]
       (n = N), in double; NULL when not summing. A split of the rows between threads sets
       *unordered and does not add (the rows of a column would not arrive in order). */
    double *acc;
    size_t P;
    int n;
    int *unordered;
} DPREFIX(Ep);

/* acc[(i % P) * n + j] += out[i * ldo + j] over rows [i0, i1) x columns [j0, j1), the rows in
   order (the sums bprt_sum_axis makes, element by element) */
BPRT_CLONES static void DPREFIX(ep_sum)(const T *out, ptrdiff_t ldo, double *acc, size_t P, int n, int i0,
                                        int i1, int j0, int j1)
{
    for (int i = i0; i < i1; i++) {
        const T *o = out + (ptrdiff_t)i * ldo;
        double *a = acc + (size_t)i % P * (size_t)n;
        for (int j = j0; j < j1; j++)
            a[j] += (double)o[j];
    }
}

/* The epilogue over rows [i0, i1) x columns [j0, j1) of C (absolute coordinates). */
static void DPREFIX(ep_run)(const DPREFIX(Ep) *ep, int i0, int i1, int j0, int j1)
{
    if (!ep || i0 >= i1 || j0 >= j1)
        return;
    const T *lv[BPRT_EW_MAX_LEAVES];
    for (int k = 0; k < ep->nleaf; k++)
        lv[k] = ep->leaf[k] ? ep->leaf[k] + (ptrdiff_t)i0 * ep->ld[k] + (ep->vec[k] ? j0 : 0) : NULL;
    EWROWS(ep->code, ep->ncode, ep->konst, lv, ep->nleaf, ep->ld, ep->vec, (size_t)(i1 - i0),
           (size_t)(j1 - j0), ep->out + (ptrdiff_t)i0 * ep->ldo + j0, ep->ldo);
    if (ep->acc)
        DPREFIX(ep_sum)(ep->out, ep->ldo, ep->acc, ep->P, ep->n, i0, i1, j0, j1);
}

/* The epilogue for threads that split C's rows: without the row sums (unordered). */
static const DPREFIX(Ep) *DPREFIX(ep_rows_split)(const DPREFIX(Ep) *ep, DPREFIX(Ep) *copy)
{
    if (!ep || !ep->acc)
        return ep;
    *copy = *ep;
    copy->acc = NULL;
    __atomic_store_n(ep->unordered, 1, __ATOMIC_RELAXED); /* each thread of the split may */
    return copy;
}

/* Row r0 of panel p when n rows are cut into np panels of at most mr rows, as evenly as
 * possible (16 rows with mr = 14 are 8 + 8, not 14 + 2: short tiles run at low efficiency). */
static inline int DPREFIX(panel_start)(int p, int n, int np)
{
    return (int)((long)p * n / np);
}

/* The length of the blocks K is cut into: equal blocks of at most KC_MAX_BYTES (the last
 * may be shorter), no thin remainder. Every path that keeps the tiles' bits sums over these. */
static inline int DPREFIX(kc_block)(int K)
{
    const int kc_limit = (int)(KC_MAX_BYTES / sizeof(T));
    const int kblocks = (K + kc_limit - 1) / kc_limit;
    return (K + kblocks - 1) / kblocks;
}

#ifndef GEMM_PREFETCH_ROWS_DEFINED
#define GEMM_PREFETCH_ROWS_DEFINED
/* n rows of `bytes` bytes, `stride` bytes apart from p, fetched into L2 (for writing if w) */
__attribute__((always_inline)) static inline void prefetch_rows(const void *p, int n, ptrdiff_t stride,
                                                                 size_t bytes, int w)
{
    for (int q = 0; q < n; q++)
        bprt_prefetch((const char *)p + q * stride, bytes, w);
}
#endif

/* The tile that step t of a block's walk makes: its row panel *p and its first column *jr,
 * down each column strip (np panels) or, with rows_out, along each row panel (nj strips). */
static inline void DPREFIX(tile_at)(int t, int rows_out, int np, int nj, int nr, int *p, int *jr)
{
    *p = rows_out ? t / nj : t % np;
    *jr = (rows_out ? t % nj : t / np) * nr;
}

/* Packs A[i0 : i0+mc, p0 : p0+kc] (stored row-major, not transposed) into np micro-panels
 * Ap[p][k*mr + i] of balanced heights. */
static void DPREFIX(pack_a)(const KTYPE *kr, const T *A, ptrdiff_t lda, int i0, int mc, int np,
                            int p0, int kc, T *restrict Ap)
{
    const int mr = kr->mr;
    for (int p = 0; p < np; p++, Ap += (ptrdiff_t)kc * mr) {
        int r0 = DPREFIX(panel_start)(p, mc, np), r1 = DPREFIX(panel_start)(p + 1, mc, np);
        kr->pack_t(r1 - r0, kc, A + (ptrdiff_t)(i0 + r0) * lda + p0, lda, Ap, mr);
    }
}

/* dst[k*P + j] = src[k*lds + j] for j < w, 0 for w <= j < P (k < kc): a panel of an operand
 * whose k steps are rows (a row-major B, an A stored transposed) */
static void DPREFIX(pack_rows)(const T *src, ptrdiff_t lds, int kc, int w, int P, T *restrict dst)
{
    for (int k = 0; k < kc; k++, dst += P) {
        memcpy(dst, src + (ptrdiff_t)k * lds, (size_t)w * sizeof(T));
        for (int j = w; j < P; j++)
            dst[j] = 0;
    }
}

/* Packs op(A)[i0 : i0+mc, p0 : p0+kc] of an A stored transposed (A[k][i]) into np
 * micro-panels Ap[p][k*mr + i] of balanced heights, as pack_a does a row-major one */
static void DPREFIX(pack_at)(const KTYPE *kr, const T *A, ptrdiff_t lda, int i0, int mc, int np, int p0,
                             int kc, T *restrict Ap)
{
    const int mr = kr->mr;
    for (int p = 0; p < np; p++, Ap += (ptrdiff_t)kc * mr) {
        const int r0 = DPREFIX(panel_start)(p, mc, np), r1 = DPREFIX(panel_start)(p + 1, mc, np);
        DPREFIX(pack_rows)(A + (ptrdiff_t)p0 * lda + i0 + r0, lda, kc, r1 - r0, mr, Ap);
    }
}

/* Packs op(B)[p0 : p0+kc, j0 : j0+nc] into ceil(nc/nr) micro-panels Bp[q][k*nr + j]. */
static void DPREFIX(pack_b)(const KTYPE *kr, int tB, const T *B, ptrdiff_t ldb, int p0, int kc,
                            int j0, int nc, T *restrict Bp)
{
    const int nr = kr->nr;
    for (int q = 0; q * nr < nc; q++, Bp += (ptrdiff_t)kc * nr) {
        int c = nc - q * nr < nr ? nc - q * nr : nr;
        int col = j0 + q * nr;
        if (!tB) {
            DPREFIX(pack_rows)(B + (ptrdiff_t)p0 * ldb + col, ldb, kc, c, nr, Bp);
        } else {
            kr->pack_t(c, kc, B + (ptrdiff_t)col * ldb + p0, ldb, Bp, nr);
        }
    }
}

/* The blocked loop nest on one thread; A, B, C already offset to this thread's part.
 * op(A) stored transposed is read in place (its k steps are rows of A: the packed layout
 * with stride lda); so is a row-major A when M is small (tile_rows: the A block then stays
 * in L1 / L2 and its packing cost as much as the product for the heads of attention); a
 * row-major B is read in place when M is small (few row tiles share each B panel, so packing
 * would cost more than it saves), except its last, partial panel. */
static void DPREFIX(serial_tri)(const KTYPE *kr, int tA, int tB, int M, int N, int K, T alpha,
                                const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb, T beta, T *C,
                                ptrdiff_t ldc, const DPREFIX(Ep) *ep, int m0, int n0, int tri)
{
    const int mr = kr->mr, nr = kr->nr;
    int kc_max = DPREFIX(kc_block)(K);
    int mc_max = (int)(MC_MAX_BYTES / sizeof(T) / (size_t)kc_max) / mr * mr;
    if (mc_max < mr)
        mc_max = mr;
    int m_pad = (M + mr - 1) / mr * mr;
    if (mc_max > m_pad)
        mc_max = m_pad;
    int nc_max = NC_MAX / nr * nr;
    int n_pad = (N + nr - 1) / nr * nr;
    if (nc_max > n_pad)
        nc_max = n_pad;
    /* A stored transposed (a weight gradient's activations, A^T B) is read in place, unless
       its rows are a multiple of GEMM_A_ALIAS_BYTES apart and this block of C has at least
       GEMM_A_ALIAS_MIN_N columns: a tile's k steps then fall into a few of L1's sets (2 KiB
       apart: 2 of its 64), so a panel's lines are gone before the next tile of its row reads
       them again; packed (pack_at) they are contiguous. Intel Sapphire Rapids, probes of
       bprt_sgemm, 3 rounds interleaved: 1024 x 1024 x 256 on 1 thread 4.37-4.52 -> 3.76-3.95
       ms, on 2 2.13-2.24 -> 1.91-1.95; 512 x 512 x 256 on 1 thread 0.97 -> 0.93-0.94. Under
       fewer columns it did not pay: 512 x 128 x 2048 the same, fashion_mlp3's steps (its W2
       gradient, 512 x 256 x batch) 1-2% slower; rows 1 KiB apart (256 floats) gained with many
       columns (256 x 1024 x 2048: 9.6 -> 8.5 ms) but lost with few (256^3 on 2 threads 0.132 ->
       0.144). The same tiles: the bits do not change. */
    int direct_a = tA && !(N >= GEMM_A_ALIAS_MIN_N && ((size_t)lda * sizeof(T)) % GEMM_A_ALIAS_BYTES == 0);
    /* a row-major A read in place (tile_rows): a short one, or one whose blocks meet B's in
       ROWS_OUTER's order, where each panel of A is read into L1 once for its whole row of
       tiles, so packing it was a pass for nothing (tiny_gpt's 2048 x 128 x 512 forward
       product 2.68 -> 2.37 ms, its A @ B^T of the same shape 2.55 -> 2.38 ms, 1 thread, AMD
       Zen 4) */
    int rows_a = !tA && (GEMM_ROWS_A(M, tB) || ROWS_OUTER(kc_max, nc_max));
    /* A row-major B is read in place under few rows (above), but not one whose rows are a
       multiple of 4 KiB apart (N = 1024, 2048 floats) under GEMM_B_ALIAS_MIN_M rows or more
       (of this thread's block of C, the M here): each column strip of it then falls into a few of L2's
       sets and is evicted before the next row panel reads it again. x @ W with W 784 x 1024
       (1 thread, Intel Sapphire Rapids, quiet): M = 64 0.96 -> 0.85 ms packed, M = 48 0.76 ->
       0.66; 2 threads: M = 64 0.44-0.46 -> 0.40, M = 48 0.35-0.36 -> 0.32; with fewer rows the
       packing costs more than it saves on 2 threads (M = 32 0.25 -> 0.26, M = 16 0.14 -> 0.19).
       Rows a multiple of 2 KiB apart (N = 512 floats) of which this block takes only part
       (a thread's half of the columns, as grid_split gives x @ W1 of a batch of 256 on 2
       threads) are packed from GEMM_B_ALIAS2_MIN_M rows: the part maps onto that share of
       L2's sets. fashion_mlp3's forward product x @ W1 (256 x 512 x 784) on 2 threads in its
       SGD step at batch 256: 0.99-1.00 -> 0.82 ms (profile_step), the step 3.02-3.05 -> 2.73-2.82
       ms and the Adam step 3.15-3.16 -> 2.86-2.92 (bench_step, tcc, interleaved); at batch 64
       (packed from 64 rows rather than 128) the SGD step 0.885-0.907 -> 0.844-0.849 ms and the
       Adam step 1.052-1.056 -> 0.996-1.009; tiny_gpt's gradient on 2 threads 17.8-18.4 ->
       17.1-17.3 ms (its weight gradient ln^T dpre, 128 x 512 x 2048). Whole rows 2 KiB apart
       stay in place: packed, x @ W1 on 1 thread took 1.52-1.53 ms in the step against
       1.45-1.46 (though 1.62 -> 1.54 alone), and alone under 48 and 64 rows 0.32-0.33 -> 0.35
       and 0.42-0.43 -> 0.45 ms. The same tiles either way: the bits do not change. */
    const size_t b_stride = (size_t)ldb * sizeof(T);
    int direct_b = !tB && M <= (rows_a ? GEMM_DIRECT_AB_MAX_M : GEMM_DIRECT_B_MAX_M) &&
                   !(M >= GEMM_B_ALIAS_MIN_M && b_stride % GEMM_B_ALIAS_BYTES == 0) &&
                   !(M >= GEMM_B_ALIAS2_MIN_M && b_stride % (GEMM_B_ALIAS_BYTES / 2) == 0 &&
                     (size_t)N * sizeof(T) < b_stride);
    const int prefetch_b = direct_b && (size_t)K * (size_t)N * sizeof(T) >= GEMM_PREFETCH_B_MIN_BYTES;
    const int prefetch_c = beta == 0 && (size_t)M * (size_t)N * sizeof(T) >= GEMM_PREFETCH_C_MIN_BYTES;

    T *Ap = direct_a || rows_a ? NULL : scratch(0, (size_t)mc_max * kc_max * sizeof(T));
    T *Bp = scratch(1, (size_t)(direct_b ? nr : nc_max) * kc_max * sizeof(T));
    if ((!direct_a && !rows_a && !Ap) || !Bp)
        abort(); /* out of memory for a few hundred KiB: nothing sensible to return */

    for (int jc = 0; jc < N; jc += nc_max) {
        int nc = N - jc < nc_max ? N - jc : nc_max;
        int nc_full = direct_b ? nc / nr * nr : 0; /* columns read in place */
        for (int pc = 0; pc < K; pc += kc_max) {
            int kc = K - pc < kc_max ? K - pc : kc_max;
            T bet = pc == 0 ? beta : (T)1;
            const PackKey kb = {B, Bp, kr, ldb, tB, pc, kc, jc + nc_full, nc - nc_full, (int)sizeof(T)};
            if (nc_full < nc && !pack_cached(1, &kb))
                DPREFIX(pack_b)(kr, tB, B, ldb, pc, kc, jc + nc_full, nc - nc_full, Bp);
            for (int ic = 0; ic < M; ic += mc_max) {
                int mc = M - ic < mc_max ? M - ic : mc_max;
                int np = (mc + mr - 1) / mr;
                const T *ap;
                ptrdiff_t sa;
                if (direct_a) {
                    ap = A + (ptrdiff_t)pc * lda + ic;
                    sa = lda;
                } else if (rows_a) {
                    ap = A + (ptrdiff_t)ic * lda + pc;
                    sa = 1;
                } else {
                    const PackKey ka = {A, Ap, kr, lda, tA, ic, mc, pc, kc, (int)sizeof(T)};
                    if (!pack_cached(0, &ka)) {
                        if (tA)
                            DPREFIX(pack_at)(kr, A, lda, ic, mc, np, pc, kc, Ap);
                        else
                            DPREFIX(pack_a)(kr, A, lda, ic, mc, np, pc, kc, Ap);
                    }
                    ap = Ap;
                    sa = mr;
                }
                /* the tiles of this block: down each column strip of B, or along each row
                   panel of C when B's block is small enough to stay in L2 (ROWS_OUTER) */
                const int nj = (nc + nr - 1) / nr, rows_out = ROWS_OUTER(kc, nc);
                /* with this K block the last, each row panel's rows of C are final after its
                   last tile (along the panel, or in the last column strip): in a block of C of
                   GEMM_EP_PANEL_MIN_BYTES or more the epilogue runs over them then, while they
                   are in L1 (or the strips' in L2), rather than over the whole block afterwards
                   (tiny_gpt's 1024 x 512, 2 MB, by then out of L2); the same elements, and the
                   rows' sums in the same order */
                const int ep_panels = ep && !tri && pc + kc >= K &&
                                      (size_t)mc * (size_t)nc * sizeof(T) >= GEMM_EP_PANEL_MIN_BYTES;
                for (int t = 0; t < np * nj; t++) {
                    int p, jr;
                    DPREFIX(tile_at)(t, rows_out, np, nj, nr, &p, &jr);
                    const int n = nc - jr < nr ? nc - jr : nr;
                    const T *bp;
                    ptrdiff_t sb;
                    if (jr < nc_full) {
                        bp = B + (ptrdiff_t)pc * ldb + jc + jr;
                        sb = ldb;
                        if (prefetch_b && !rows_out && jr + nr < nc_full) {
                            /* B read in place down its column strips, each from L3 or memory
                               the first time (a weight gradient's activations): this panel's
                               share of the next strip's rows fetched into L2 while the strip's
                               tiles run (on its own this VM's core streams cold lines at ~6
                               GB/s) */
                            const int q0 = (int)((long)p * kc / np), q1 = (int)((long)(p + 1) * kc / np);
                            prefetch_rows(bp + (ptrdiff_t)q0 * ldb + nr, q1 - q0, ldb * (ptrdiff_t)sizeof(T),
                                          (size_t)nr * sizeof(T), 0);
                        }
                    } else {
                        bp = Bp + (ptrdiff_t)(jr - nc_full) * kc;
                        sb = nr;
                    }
                    const int r0 = DPREFIX(panel_start)(p, mc, np);
                    const int r1 = DPREFIX(panel_start)(p + 1, mc, np);
                    T *c = C + (ptrdiff_t)(ic + r0) * ldc + jc + jr;
                    if (prefetch_c && pc == 0 && t + 1 < np * nj) { /* the next tile's C */
                        int p2, j2;
                        DPREFIX(tile_at)(t + 1, rows_out, np, nj, nr, &p2, &j2);
                        const int n2 = nc - j2 < nr ? nc - j2 : nr;
                        const int s0 = DPREFIX(panel_start)(p2, mc, np), s1 = DPREFIX(panel_start)(p2 + 1, mc, np);
                        prefetch_rows(C + (ptrdiff_t)(ic + s0) * ldc + jc + j2, s1 - s0, ldc * (ptrdiff_t)sizeof(T),
                                      (size_t)n2 * sizeof(T), 1);
                    }
                    int k0 = 0, kn = kc; /* the part of this K block the tile needs */
                    if (tri) {
                        const int i0 = ic + r0, i1 = ic + r1; /* the panel's rows of C, op(A) */
                        if (tri == BPRT_TRI_C_LOWER && jc + jr >= i1) { /* wholly above the diagonal */
                            if (pc == 0)
                                DPREFIX(scale)(r1 - r0, n, 0, c, ldc);
                            continue;
                        }
                        if (tri == BPRT_TRI_A_LOWER) /* op(A)[i, k] = 0 for k > i: k < i1 */
                            kn = i1 - pc < kc ? i1 - pc : kc;
                        else if (tri == BPRT_TRI_A_UPPER) /* op(A)[i, k] = 0 for k < i: k >= i0 */
                            k0 = i0 - pc > 0 ? i0 - pc : 0;
                        if (kn - k0 <= 0) {
                            if (pc == 0) /* no term: C = beta C (0 with beta 0) */
                                kr->tile(r1 - r0, n, 0, bp, 0, bp, 0, c, ldc, alpha, bet);
                            continue;
                        }
                        kn -= k0;
                        bp += (ptrdiff_t)k0 * sb;
                    }
                    if (rows_a)
                        kr->tile_rows(r1 - r0, n, kn, ap + (ptrdiff_t)r0 * lda + k0, lda, bp, sb, c, ldc,
                                      alpha, bet);
                    else
                        kr->tile(r1 - r0, n, kn,
                                 (direct_a ? ap + r0 : ap + (ptrdiff_t)p * mr * kc) + (ptrdiff_t)k0 * sa, sa,
                                 bp, sb, c, ldc, alpha, bet);
                    if (ep_panels && (rows_out ? t % nj == nj - 1 : t / np == nj - 1)) /* the panel's last tile */
                        DPREFIX(ep_run)(ep, m0 + ic + r0, m0 + ic + r1, n0 + jc, n0 + jc + nc);
                }
                if (ep && pc + kc >= K && !ep_panels) /* this block of C is final: its epilogue, while cached */
                    DPREFIX(ep_run)(ep, m0 + ic, m0 + ic + mc, n0 + jc, n0 + jc + nc);
            }
        }
    }
}

/* the nest without a triangle (serial_tri's tri 0) */
static void DPREFIX(serial)(const KTYPE *kr, int tA, int tB, int M, int N, int K, T alpha, const T *A,
                            ptrdiff_t lda, const T *B, ptrdiff_t ldb, T beta, T *C, ptrdiff_t ldc,
                            const DPREFIX(Ep) *ep, int m0, int n0)
{
    DPREFIX(serial_tri)(kr, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, m0, n0, 0);
}

/* c[0,N) += x @ B, B's K rows split between nt threads as bprt_rows_team's callers split
 * them (thread t rows [K t / nt, K (t + 1) / nt)), so that each core reads the rows it last
 * updated, in its own cache. Each column block's sums go through the threads in order: the
 * thread of the first rows adds them and hands the block on, the next continues from it, so
 * every c[j] is the serial gemv's chain of multiply-adds in the order k = 0..K-1 (the same
 * bits), while the first thread already works on the next block. */
/* A product's arguments, for the part each thread of the pool computes (bprt_pool_run) */
typedef struct DPREFIX(Call) {
    const KTYPE *kr;
    int tA, tB, M, N, K, tiles_m, tiles_n;
    T alpha, beta;
    const T *A, *B;
    ptrdiff_t lda, ldb, ldc;
    T *C;
    const DPREFIX(Ep) *ep;
    int by_rows; /* BPRT_OPENBLAS's blas_task: C split by rows (else by columns) */
} DPREFIX(Call);

/* The work space of a path below (scratch slot 3: a packed or transposed operand, or a
 * product to transpose into C), elems reals, or abort: out of memory for a few MB leaves
 * nothing sensible to return, for the paths that have no other way (gemv's transposed
 * operands, rowdot's packed B). The transposed paths of gemm take slot 3 themselves and,
 * without it, leave the product to the tiles, whose bits they have. No path that holds it
 * calls another that uses it: the inner
 * products of the transposed paths have other shapes (A^T B as (B^T A)^T: at most
 * GEMM_DIRECT_B_MAX_M rows; A B^T: at least GEMM_T_PRODUCT_MIN_N > GEMM_T_PRODUCT_MAX_M rows;
 * the narrow A^T B: 2 to half a tile's rows, against many columns). */
static T *DPREFIX(work)(size_t elems)
{
    T *w = scratch(3, elems * sizeof(T));
    if (!w)
        abort();
    return w;
}

/* rows [lo, hi) of a->A (row-major) @ a->B^T into a->C on a->kr's tiles (the transposed
 * product of narrow width in gemm below): a row's values do not depend on the split */
static void DPREFIX(t_rows_task)(void *arg, size_t lo, size_t hi)
{
    const DPREFIX(Call) *a = arg;
    DPREFIX(serial)(a->kr, 0, 1, (int)(hi - lo), a->N, a->K, a->alpha, a->A + (ptrdiff_t)lo * a->lda, a->lda,
                    a->B, a->ldb, 0, a->C + (ptrdiff_t)lo * a->ldc, a->ldc, NULL, 0, 0);
}

typedef struct DPREFIX(GemvOwned) {
    const KTYPE *kr;
    int N, K, nb, bw;
    const T *x, *B;
    ptrdiff_t ldb;
    T *c;
    int *done;
} DPREFIX(GemvOwned);

static void DPREFIX(gemv_owned_task)(void *arg, int id, int nth)
{
    const DPREFIX(GemvOwned) *g = arg;
    /* the rows BPRT_SPLIT gives this thread in the update and g @ B^T */
    const int k0 = (int)((long)g->K * id / nth), k1 = (int)((long)g->K * (id + 1) / nth);
    for (int b = 0; b < g->nb; b++) {
        const int j0 = b * g->bw, w = g->N - j0 < g->bw ? g->N - j0 : g->bw;
        while (__atomic_load_n(&g->done[b], __ATOMIC_ACQUIRE) < id)
            SPIN_PAUSE();
        g->kr->gemv(w, k1 - k0, g->x + k0, g->B + (ptrdiff_t)k0 * g->ldb + j0, g->ldb, g->c + j0);
        __atomic_store_n(&g->done[b], id + 1, __ATOMIC_RELEASE);
    }
}

static void DPREFIX(gemv_owned)(const KTYPE *kr, int nt, int N, int K, const T *x, const T *B,
                                ptrdiff_t ldb, T *c)
{
    enum { VLEN = 64 / sizeof(T), MAXB = 64 };
    int bw = 8 * VLEN; /* a block: one pass of gemv over 8 vectors */
    while ((N + bw - 1) / bw > MAXB)
        bw *= 2;
    const int nb = (N + bw - 1) / bw;
    int done[MAXB]; /* done[b]: how many threads have added their rows into block b */
    for (int b = 0; b < nb; b++)
        done[b] = 0;
    DPREFIX(GemvOwned) g = {kr, N, K, nb, bw, x, B, ldb, c, done};
    bprt_pool_run(nt, DPREFIX(gemv_owned_task), &g);
}

/* Rows [r0, r1) of the rank-1 product C = (alpha a_i) b (+ beta C) */
static void DPREFIX(ger_rows)(const KTYPE *kr, int r0, int r1, int N, T alpha, const T *a, ptrdiff_t sa,
                              const T *b, T beta, T *C, ptrdiff_t ldc)
{
    if (beta != 0)
        DPREFIX(scale)(r1 - r0, N, beta, C + (ptrdiff_t)r0 * ldc, ldc);
    kr->ger(r1 - r0, N, alpha, a + r0 * sa, sa, b, C + (ptrdiff_t)r0 * ldc, ldc, beta != 0);
}

/* ger_rows over rows [r0, r1) of a rank-1 product (BPRT_SPLIT): a's stride in lda */
static void DPREFIX(ger_task)(void *arg, size_t r0, size_t r1)
{
    const DPREFIX(Call) *g = arg;
    DPREFIX(ger_rows)(g->kr, (int)r0, (int)r1, g->N, g->alpha, g->A, g->lda, g->B, g->beta, g->C, g->ldc);
}

/* c[j] = alpha * (B's row j . x) (+ beta c[j]), j in [j0, j1) */
static void DPREFIX(dots)(const KTYPE *kr, int j0, int j1, int K, T alpha, const T *B, ptrdiff_t ldb,
                          const T *x, T beta, T *c)
{
    for (int j = j0; j < j1; j++) {
        T s = alpha * kr->dot(K, B + j * ldb, x);
        c[j] = beta == 0 ? s : s + beta * c[j];
    }
}

static void DPREFIX(dots_task)(void *arg, size_t lo, size_t hi)
{
    const DPREFIX(Call) *a = arg;
    DPREFIX(dots)(a->kr, (int)lo, (int)hi, a->K, a->alpha, a->B, a->ldb, a->A, a->beta, a->C);
}

/* M == 1: c[0,N) = alpha * x @ op(B) + beta * c, x = op(A)'s single row. */
static void DPREFIX(gemv_row)(const KTYPE *kr, int tA, int tB, int N, int K, T alpha,
                              const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb, T beta,
                              T *c)
{
    /* x contiguous; for gemv (!tB) its factors alpha x[k], for dot x itself (alpha after) */
    const T f = tB ? 1 : alpha, *x = A;
    if (tA || f != 1) {
        T *xc = scratch(2, (size_t)K * sizeof(T));
        if (!xc)
            abort();
        for (int k = 0; k < K; k++)
            xc[k] = f * A[tA ? k * lda : k];
        x = xc;
    }
    if (!tB) {
        DPREFIX(scale)(1, N, beta, c, 0);
        const int nt = bprt_rows_team((size_t)K * (size_t)N * sizeof(T));
        if (nt > 1 && K >= nt)
            DPREFIX(gemv_owned)(kr, nt, N, K, x, B, ldb, c);
        else
            kr->gemv(N, K, x, B, ldb, c);
    } else if (K < GEMV_T_MAX_K && (size_t)N * (K + 1) <= GEMV_T_MAX) {
        /* rows of B^T too short for dot's vectors (a classifier's weights in an input
           gradient: 256 rows of 10): B^T's columns transposed into rows, then gemv over
           them; c[j] = alpha * (the sum over k in order) (+ beta c[j]), as with dot */
        T *bt = DPREFIX(work)((size_t)N * (K + 1)), *t = bt + (size_t)N * K;
        kr->pack_t(N, K, B, ldb, bt, N);
        for (int j = 0; j < N; j++)
            t[j] = 0;
        kr->gemv(N, K, x, bt, N, t);
        for (int j = 0; j < N; j++)
            c[j] = beta == 0 ? alpha * t[j] : alpha * t[j] + beta * c[j];
    } else {
        /* B's rows split as x @ B and its rank-1 update split them (bprt_rows_team) */
        const DPREFIX(Call) a = {.kr = kr, .N = N, .K = K, .alpha = alpha, .beta = beta, .A = x, .B = B,
                                 .ldb = ldb, .C = c};
        BPRT_SPLIT(bprt_rows_team((size_t)N * (size_t)K * sizeof(T)), (size_t)N, DPREFIX(dots_task), (void *)&a);
    }
}

/* N == 1: c[i*ldc], i < M, = alpha * op(A) @ y + beta * c, y = op(B)'s single column. */
static void DPREFIX(gemv_col)(const KTYPE *kr, int tA, int tB, int M, int K, T alpha,
                              const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb, T beta,
                              T *C, ptrdiff_t ldc)
{
    const T *y = B;
    if (!tB && ldb != 1) {
        T *yc = scratch(2, (size_t)K * sizeof(T));
        if (!yc)
            abort();
        for (int k = 0; k < K; k++)
            yc[k] = B[k * ldb];
        y = yc;
    }
    if (!tA) {
        for (int i = 0; i < M; i++) {
            T s = alpha * kr->dot(K, A + i * lda, y);
            C[i * ldc] = beta == 0 ? s : s + beta * C[i * ldc];
        }
    } else {
        T *t = DPREFIX(work)((size_t)M);
        for (int i = 0; i < M; i++)
            t[i] = 0;
        kr->gemv(M, K, y, A, lda, t);
        for (int i = 0; i < M; i++)
            C[i * ldc] = beta == 0 ? alpha * t[i] : alpha * t[i] + beta * C[i * ldc];
    }
}

/* A row-major A times at most nr columns (the narrow set's rowdot): each row of C as N dot
 * products over contiguous rows of A and of op(B)^T (B itself when transposed, else packed
 * transposed once), vectorised over k. A classifier's forward product with its bias,
 * 256 x 10 x 256, went from 16 to 11 us in fashion_mlp's batch-256 step (1 thread): 16 x 16
 * tiles computed 6 padded columns of every 16 and broadcast each element of A. Rows split
 * between nt threads in contiguous ranges, each running the epilogue on its own; a row's
 * value does not depend on the split. */
/* thread id's rows of rowdots */
static void DPREFIX(rowdots_task)(void *arg, int id, int nth)
{
    const DPREFIX(Call) *a = arg;
    int r0 = (int)((long)a->M * id / nth), r1 = (int)((long)a->M * (id + 1) / nth);
    a->kr->rowdot(r1 - r0, a->N, a->K, a->A + (ptrdiff_t)r0 * a->lda, a->lda, a->B, a->ldb,
                  a->C + (ptrdiff_t)r0 * a->ldc, a->ldc, a->alpha, a->beta);
    DPREFIX(ep_run)(a->ep, r0, r1, 0, a->N);
}

static void DPREFIX(rowdots)(const KTYPE *kr, int nt, int tB, int M, int N, int K, T alpha,
                             const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb, T beta, T *C,
                             ptrdiff_t ldc, const DPREFIX(Ep) *ep)
{
    const T *bt = B;
    ptrdiff_t ldbt = ldb;
    if (!tB) { /* bt[j*K + k] = B[k*ldb + j] */
        T *p = DPREFIX(work)((size_t)N * K);
        kr->pack_t(K, N, B, ldb, p, K);
        bt = p;
        ldbt = K;
    }
    if (nt > M / 3)
        nt = M / 3;
    if (2.0 * M * N * K < GEMM_NARROW_MIN_FLOPS_THREADS)
        nt = 1;
    if (nt <= 1 || bprt_in_parallel()) {
        kr->rowdot(M, N, K, A, lda, bt, ldbt, C, ldc, alpha, beta);
        DPREFIX(ep_run)(ep, 0, M, 0, N);
        return;
    }
    DPREFIX(Ep) ep_copy;
    const DPREFIX(Call) a = {.kr = kr, .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta, .A = A, .B = bt,
                             .lda = lda, .ldb = ldbt, .ldc = ldc, .C = C,
                             .ep = DPREFIX(ep_rows_split)(ep, &ep_copy)};
    bprt_pool_run(nt, DPREFIX(rowdots_task), (void *)&a);
}

/* Thread id's rectangle of the C grid (grid_split), the serial nest over it */
static void DPREFIX(grid_task)(void *arg, int id, int nth)
{
    const DPREFIX(Call) *a = arg;
    const KTYPE *kr = a->kr;
    const int M = a->M, N = a->N, transA = a->tA, transB = a->tB;
    int tm, tn;
    grid_split(a->tiles_m, a->tiles_n, kr->mr, kr->nr, a->K, transA || GEMM_ROWS_A(M, transB), a->ep && transB,
               nth, &tm, &tn);
    DPREFIX(Ep) ep_copy;
    const DPREFIX(Ep) *ept = tm > 1 ? DPREFIX(ep_rows_split)(a->ep, &ep_copy) : a->ep;
    int pm = id / tn, pn = id % tn;
    int m0 = (int)((long)a->tiles_m * pm / tm) * kr->mr;
    int m1 = (int)((long)a->tiles_m * (pm + 1) / tm) * kr->mr;
    int n0 = (int)((long)a->tiles_n * pn / tn) * kr->nr;
    int n1 = (int)((long)a->tiles_n * (pn + 1) / tn) * kr->nr;
    if (m1 > M)
        m1 = M;
    if (n1 > N)
        n1 = N;
    if (pm < tm && m0 < m1 && n0 < n1) {
        const T *pa = transA ? a->A + m0 : a->A + (ptrdiff_t)m0 * a->lda;
        const T *pb = transB ? a->B + (ptrdiff_t)n0 * a->ldb : a->B + n0;
        DPREFIX(serial)(kr, transA, transB, m1 - m0, n1 - n0, a->K, a->alpha, pa, a->lda, pb, a->ldb, a->beta,
                        a->C + (ptrdiff_t)m0 * a->ldc + n0, a->ldc, ept, m0, n0);
    }
}

#if defined(BPRT_OPENBLAS)
/* Rows (a->by_rows) or columns [lo, hi) of C by OpenBLAS on this thread, then their
   epilogue */
static void DPREFIX(blas_task)(void *arg, size_t lo, size_t hi)
{
    const DPREFIX(Call) *a = (const DPREFIX(Call) *)arg;
    const ptrdiff_t l = (ptrdiff_t)lo;
    const int n = (int)(hi - lo), rows = a->by_rows;
    const T *A = rows ? a->A + (a->tA ? l : l * a->lda) : a->A;
    const T *B = rows ? a->B : a->B + (a->tB ? l * a->ldb : l);
    T *C = a->C + (rows ? l * a->ldc : l);
    const int omp_was = blas_threads_enter();
    BLAS_GEMM(CblasRowMajor, BLAS_TRANS(a->tA), BLAS_TRANS(a->tB), rows ? n : a->M, rows ? a->N : n, a->K, a->alpha, A,
              (int)a->lda, B, (int)a->ldb, a->beta, C, (int)a->ldc);
    blas_threads_leave(omp_was);
    if (rows)
        DPREFIX(ep_run)(a->ep, (int)lo, (int)hi, 0, a->N);
    else
        DPREFIX(ep_run)(a->ep, 0, a->M, (int)lo, (int)hi);
}
#endif

/* The product; with ep, the blocked nest runs the epilogue on each finished block and this
 * returns 1; the other paths (no blocks) return 0 and leave the epilogue to the caller. */
static int DPREFIX(gemm)(int transA, int transB, int M, int N, int K, T alpha, const T *A,
                          int lda, const T *B, int ldb, T beta, T *C, int ldc,
                         const DPREFIX(Ep) *ep)
{
    if (M <= 0 || N <= 0)
        return 1;
    if (K <= 0 || alpha == 0) {
        DPREFIX(scale)(M, N, beta, C, ldc);
        return 0;
    }
#if defined(BPRT_OPENBLAS)
    {
        /* cblas checks every leading dimension against its minimum and, below it, prints a
           line and returns without writing C; bpc's kernels never read one whose extent is 1
           (bprt.h allows any value there), so such a one is raised to the minimum */
        const int la = transA ? M : K, lb = transB ? K : N;
        if (lda < la && (transA ? K : M) == 1) lda = la;
        if (ldb < lb && (transB ? N : K) == 1) ldb = lb;
        if (ldc < N && M == 1) ldc = N;
        if (lda < la || ldb < lb || ldc < N)
            abort(); /* outside bprt.h's contract */
        /* C's rows (or, with fewer rows than columns, its columns) split between the threads,
           each block's epilogue right after its product; row blocks add their row sums in a
           pass afterwards (ep_rows_split), column blocks in order as they go */
        const int nt = bprt_in_parallel() ? 1 : bprt_gemm_threads(M, N, K), rows = M >= N;
        DPREFIX(Ep) copy;
        const DPREFIX(Call) b = {.tA = transA, .tB = transB, .M = M, .N = N, .K = K, .alpha = alpha,
                                 .beta = beta, .A = A, .B = B, .lda = lda, .ldb = ldb, .ldc = ldc, .C = C,
                                 .ep = nt > 1 && rows ? DPREFIX(ep_rows_split)(ep, &copy) : ep, .by_rows = rows};
        BPRT_SPLIT(nt, (size_t)(rows ? M : N), DPREFIX(blas_task), (void *)&b);
        return 1;
    }
#endif
    const KTYPE *kr = KERNEL_FOR(KTABLE, KNARROW, N);
    if (M == 1) {
        DPREFIX(gemv_row)(kr, transA, transB, N, K, alpha, A, lda, B, ldb, beta, C);
        return 0;
    }
    if (N == 1) {
        DPREFIX(gemv_col)(kr, transA, transB, M, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return 0;
    }

    int tiles_m = (M + kr->mr - 1) / kr->mr, tiles_n = (N + kr->nr - 1) / kr->nr;
    int nt = gemm_team(tiles_m, tiles_n, M, N, K);
    if (K == 1 && !transB) {
        /* a rank-1 product (one sample's weight gradient, or an SGD step fused into it): C
           row i = (alpha a_i) b (+ beta C), one pass over C, no packing, never the tiles
           (whose rounding differs: alpha a_i first here); on one thread, or for a C of
           GEMV_OWN_MIN_BYTES or more split by rows as x @ C split them (gemv_owned) */
        const ptrdiff_t sa = transA ? 1 : lda;
        const DPREFIX(Call) g = {.kr = kr, .M = M, .N = N, .alpha = alpha, .beta = beta, .A = A, .B = B,
                                 .lda = sa, .ldc = ldc, .C = C};
        BPRT_SPLIT(bprt_rows_team((size_t)M * (size_t)N * sizeof(T)), (size_t)M, DPREFIX(ger_task), (void *)&g);
        return 0;
    }
    if (!transB && (M <= BPRT_SMALL_BATCH || K <= BPRT_SMALL_BATCH) && N % kr->vl == 0 &&
        kr == KTABLE[bprt_isa_id()] && (beta == 0 || beta == 1)) {
        /* a small batch's x @ W (few rows) or its weight update (short K): strips of wide
           rows (kernel.h) on one thread, over the K blocks the tiles would use, so the same
           bits; the forward and the update of a W on the same core */
        const int kc_max = DPREFIX(kc_block)(K);
        const ptrdiff_t si = transA ? 1 : lda, sk = transA ? lda : 1;
        for (int pc = 0; pc < K; pc += kc_max)
            kr->strips(M, N, K - pc < kc_max ? K - pc : kc_max, A + pc * sk, si, sk, B + (ptrdiff_t)pc * ldb,
                       ldb, C, ldc, alpha, pc > 0 || beta != 0);
        return 0;
    }
    T *t; /* the transposed paths' product (scratch slot 3); without it the tiles below */
    if (transA && !transB && kr != KTABLE[bprt_isa_id()] && M >= GEMM_NARROW_T_MIN_M &&
        K <= (int)(KC_MAX_BYTES / sizeof(T)) && (beta == 0 || beta == 1) &&
        (t = scratch(3, (size_t)N * M * sizeof(T))) != NULL) {
        /* A^T B with few columns (a classifier's weight gradient, or its SGD step fused in):
           C^T = B^T A on wide tiles, N rows of C^T against all of M's columns, every element
           the same multiply-adds in the same order as on narrow tiles (one K block), then
           added to C (256 x 10 x 256 on 1 thread: 11.5 -> 6.7 us, 113 -> 196 GFLOP/s; on 2
           threads it took 8.6 us, so a small one stays on one) */
        if (2.0 * M * N * K < GEMM_NARROW_MIN_FLOPS_THREADS)
            DPREFIX(serial)(KTABLE[bprt_isa_id()], 1, 0, N, M, K, alpha, B, ldb, A, lda, 0, t, M, NULL, 0, 0);
        else
            DPREFIX(gemm)(1, 0, N, M, K, alpha, B, ldb, A, lda, 0, t, M, NULL);
        for (int i = 0; i < M; i++) {
            T *c = C + (ptrdiff_t)i * ldc;
            if (beta == 0)
                for (int j = 0; j < N; j++)
                    c[j] = t[(ptrdiff_t)j * M + i];
            else
                for (int j = 0; j < N; j++)
                    c[j] = c[j] + t[(ptrdiff_t)j * M + i];
        }
        return 0;
    }
    if (transA && !transB && beta == 0 && ldc == N && M > GEMM_DIRECT_B_MAX_M && N <= GEMM_DIRECT_B_MAX_M &&
        K >= GEMM_AT_SWAP_MIN_K && (t = scratch(3, (size_t)N * M * sizeof(T))) != NULL) {
        /* A^T B with many rows and fewer columns (a weight gradient h^T g of a large batch):
           (B^T A)^T, A then read in place as the wide operand (GEMM_DIRECT_B_MAX_M) instead of
           going down its rows of 2 KB for each panel of C, then the result transposed into C;
           the same multiply-adds in the same order */
        DPREFIX(gemm)(1, 0, N, M, K, alpha, B, ldb, A, lda, 0, t, M, NULL);
        kr->pack_t(N, M, t, M, C, N); /* C[i*N + j] = t[j*M + i] */
        return 0;
    }
    if (!transA && transB && beta == 0 && ldc == N && M <= GEMM_T_PRODUCT_MAX_M &&
        2 * M >= KTABLE[bprt_isa_id()]->nr &&
        N >= GEMM_T_PRODUCT_MIN_N && N <= GEMM_DIRECT_AT_MAX_M && K >= GEMM_MIN_K_THREADS &&
        (t = scratch(3, (size_t)N * M * sizeof(T))) != NULL) {
        /* A B^T with few rows and B^T's rows many (an input gradient g @ W^T of a small
           batch): (B A^T)^T, B read in place as the tall operand instead of transposed into
           panels, then the result transposed into C; the same multiply-adds in the same
           order (B A^T has too many columns for rowdot's other order). 64 x 512 x 256 on 1
           thread: 87 -> 84 us, of which the product 76 (98% of the FMA peak) and the
           transposition 8. With M half a wide tile (16 rows on AVX-512) too, its M columns
           on narrow tiles, B's rows split between the threads: 16 x 512 x 256 (fashion_mlp3's
           at batch 16) 54 -> 42 us on 1 thread, 50 -> 25 us on 2 (AMD Zen 4) */
        if (2 * M > KTABLE[bprt_isa_id()]->nr) {
            DPREFIX(gemm)(0, 1, N, M, K, alpha, B, ldb, A, lda, 0, t, M, NULL);
        } else { /* M columns, half a wide tile: on narrow tiles (not rowdot's other order),
                    B's rows split between the threads */
            const DPREFIX(Call) a = {.kr = KERNEL_FOR(KTABLE, KNARROW, M), .M = N, .N = M, .K = K,
                                     .alpha = alpha, .A = B, .lda = ldb, .B = A, .ldb = lda, .C = t, .ldc = M};
            BPRT_SPLIT(nt, (size_t)N, DPREFIX(t_rows_task), (void *)&a);
        }
        kr->pack_t(N, M, t, M, C, N); /* C[i*N + j] = t[j*M + i] */
        return 0;
    }
    if (!transA && kr->rowdot && N <= kr->nr && K >= GEMM_ROWDOT_MIN_K) {
        DPREFIX(rowdots)(kr, nt, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
        return 1;
    }
    if (nt <= 1 || bprt_in_parallel()) {
        DPREFIX(serial)(kr, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, 0, 0);
        return 1;
    }
    const DPREFIX(Call) a = {kr, transA, transB, M, N, K, tiles_m, tiles_n, alpha, beta, A, B, lda, ldb, ldc,
                             C, ep, 0};
    bprt_pool_run(nt, DPREFIX(grid_task), (void *)&a);
    return 1;
}

void FN(int transA, int transB, int M, int N, int K, T alpha, const T *A, int lda, const T *B,
        int ldb, T beta, T *C, int ldc)
{
    DPREFIX(gemm)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}

/* The product with a triangle (bprt.h: BPRT_TRI_*): the blocked nest on the calling thread,
 * each tile over the part of K where op(A) is not zero, or not made where C is not needed;
 * every element it makes is the tiles' chain of multiply-adds in k order without terms whose
 * A element is zero (the same value as with them). */
void FNTRI(int tri, int transA, int transB, int M, int N, int K, T alpha, const T *A, int lda, const T *B,
           int ldb, T beta, T *C, int ldc)
{
    if (tri != BPRT_TRI_C_LOWER && tri != BPRT_TRI_A_LOWER && tri != BPRT_TRI_A_UPPER) {
        DPREFIX(gemm)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
        return;
    }
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0) { /* beta C everywhere: the product's value */
        DPREFIX(scale)(M, N, beta, C, ldc);
        return;
    }
#if defined(BPRT_OPENBLAS)
    /* the whole product: above the diagonal C holds the product (BPRT_TRI_C_LOWER allows
       it), and the terms 0 * b are made (the same value where b is finite) */
    DPREFIX(gemm)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
    return;
#endif
    /* C's lower triangle on the narrow tiles, where 6 of 16 (not 2 of 10) lie above a 64 x
       64 diagonal */
    const KTYPE *narrow = KNARROW[bprt_isa_id()];
    const KTYPE *kr = tri == BPRT_TRI_C_LOWER && narrow ? narrow : KERNEL_FOR(KTABLE, KNARROW, N);
    DPREFIX(serial_tri)(kr, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, 0, 0, tri);
}

/* The product with its epilogue: on each finished block in the blocked nest, else (the
 * paths without blocks) over all of C afterwards, its rows in order. */
static void DPREFIX(gemm_ep)(int transA, int transB, int M, int N, int K, T alpha, const T *A, int lda,
                             const T *B, int ldb, T beta, T *C, int ldc, const DPREFIX(Ep) *ep)
{
    if (!DPREFIX(gemm)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep))
        DPREFIX(ep_run)(ep, 0, M, 0, N);
}

void FNEW(int transA, int transB, int M, int N, int K, T alpha, const T *A, int lda, const T *B,
          int ldb, T beta, T *C, int ldc, const int32_t *code, int ncode, const double *konst,
          const T *const *leaf, int nleaf, const ptrdiff_t *ld, const unsigned char *vec, T *out,
          ptrdiff_t ldo)
{
    if (nleaf > BPRT_EW_MAX_LEAVES)
        abort(); /* the compiler emits at most that many */
    const DPREFIX(Ep) ep = {code, ncode, nleaf, konst, leaf, ld, vec, out, ldo, NULL, 1, N, NULL};
    DPREFIX(gemm_ep)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &ep);
}

void FNSUM(int transA, int transB, int M, int N, int K, T alpha, const T *A, int lda, const T *B,
           int ldb, T beta, T *C, int ldc, const int32_t *code, int ncode, const double *konst,
           const T *const *leaf, int nleaf, const ptrdiff_t *ld, const unsigned char *vec, T *out,
           ptrdiff_t ldo, T *y, size_t P)
{
    if (nleaf > BPRT_EW_MAX_LEAVES || P == 0 || M < 0 || N < 0 || (size_t)M % P != 0 || ldo != N)
        abort(); /* the compiler emits none of these */
    const size_t n = P * (size_t)N;
    double *acc = scratch(4, n * sizeof(double) + 1);
    if (acc)
        memset(acc, 0, n * sizeof(double));
    int unordered = !acc; /* no memory for the sums: the pass over out below (the same bits) */
    const DPREFIX(Ep) ep = {code, ncode, nleaf, konst, leaf, ld, vec, out, ldo, acc, P, N, &unordered};
    DPREFIX(gemm_ep)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &ep);
    if (unordered) /* the rows were split between threads, or no sums: the pass over out */
        SUMAXIS(out, 1, (size_t)M / P, n, y);
    else
        for (size_t i = 0; i < n; i++)
            y[i] = (T)acc[i];
}

#undef T
#undef KTYPE
#undef KTABLE
#undef KNARROW
#undef FN
#undef FNEW
#undef FNSUM
#undef FNTRI
#undef SUMAXIS
#undef EWROWS
#undef BLAS_GEMM
#undef DPREFIX
