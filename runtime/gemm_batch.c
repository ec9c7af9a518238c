/* gemm_batch.c — a batch of GEMMs over broadcast batch axes, some of them summed: what a
 * batched `@` (attention heads, per-head projections) and its gradients become.
 *
 * For every index i of the batch axes (dims[0..rank), row-major):
 *   C + sum_f i_f sc[f]  (+)=  alpha op(A + sum_f i_f sa[f]) op(B + sum_f i_f sb[f])
 * where the axes in `sum` (bit f) accumulate into one result (sc[f] = 0): the first product
 * of each result gets beta, the others 1, in the row-major order of the summed axes. A
 * stride 0 broadcasts an operand over that axis.
 *
 * Within a call each thread reuses a packed operand block that the previous product also
 * used (bprt_gemm_reuse_packs): a block of tokens against every head's weights is packed
 * once. A result summing a few products of short K whose B is every result's (the heads of
 * an attention's input gradient) is one GEMM over the products side by side instead
 * (FN_cat_): tiny_gpt's three [32, 1, 64, 128] input gradients of q, k and v, 0.43-0.45 ->
 * 0.36-0.37 ms each on 1 thread, 0.26-0.33 -> 0.20-0.25 on 2. The results (the combinations
 * of the other axes) are split statically over the threads,
 * each computing its own results whole, in the same order as one thread would: the values
 * do not depend on the thread count. With fewer results than threads, or too little work,
 * the loop runs on the calling thread and each GEMM decides its own threads. Under
 * --standalone (no OpenMP) it is the plain loop. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#if !defined(BPRT_STANDALONE)
#include "kernel.h" /* bprt_in_parallel, BPRT_TEMP */
#endif

#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#define BATCH_MIN_FLOPS 4e5 /* per thread, as gemm.c's GEMM_MIN_FLOPS_PER_THREAD */
static int batch_threads(size_t results, double flops) {
    if (bprt_in_parallel()) return 1;
    int nt = bprt_threads();
    if ((double)nt * BATCH_MIN_FLOPS > flops) nt = (int)(flops / BATCH_MIN_FLOPS);
    if ((size_t)nt > results) nt = (int)results;
    return nt < 1 ? 1 : nt;
}
#endif

enum { BATCH_MAX_RANK = 8 };
/* the side-by-side path (FN_cat_): products of K up to BATCH_CAT_K, nK up to BATCH_CAT_MAX_K,
 * copies of at most BATCH_CAT_MAX_COPY elements (a result of many rows is a long GEMM anyway) */
enum { BATCH_CAT_K = 64, BATCH_CAT_MAX_K = 512, BATCH_CAT_MAX_COPY = 1 << 20 /* elements copied */ };

/* The offset of batch index q over the axes ax[0..n) (the last varying fastest) along
 * `stride`: the sum over those axes of their index times stride[axis]. */
static size_t batch_offset(size_t q, const int *ax, int n, const size_t *dims, const size_t *stride) {
    size_t o = 0;
    for (int j = n - 1; j >= 0; j--) {
        const int f = ax[j];
        o += q % dims[f] * stride[f];
        q /= dims[f];
    }
    return o;
}

/* The side-by-side path (FN_cat_: CAT, its arguments CALL, COPY its copy), with its copies in a
 * buffer of this thread's (BPRT_TEMP).
 * --standalone output keeps no buffers between calls and has no need of it: its GEMM
 * (gemm_ref.c) adds each product's terms into C in k order, so the products one after
 * another give the bits of the one GEMM over them side by side. */
#if !defined(BPRT_STANDALONE)
#define DEFINE_BATCH_CAT(T, CAT, CALL, COPY, GEMM)                                                 \
    /* dst (rows x cols, rows ld apart) = op(src): src[r * ls + c], or src[c * ls + r] transposed */ \
    static void COPY(T *dst, size_t ld, const T *src, size_t ls, int trans, int rows, int cols) {  \
        if (!trans)                                                                                \
            for (int r = 0; r < rows; r++) memcpy(dst + (size_t)r * ld, src + (size_t)r * ls, sizeof(T) * (size_t)cols); \
        else                                                                                       \
            for (int c = 0; c < cols; c++)                                                         \
                for (int r = 0; r < rows; r++) dst[(size_t)r * ld + (size_t)c] = src[(size_t)c * ls + (size_t)r]; \
    }                                                                                              \
    /* A result that sums a few products of short K (attention's heads: dq_h @ Wq_h^T, 4 x 32), \
       with B the same for every result: the products' operands side by side, [A_0 .. A_n-1]   \
       (M x nK) and [B_0; ..; B_n-1] (nK x N, made once), and one GEMM over K = nK per result,    \
       instead of n GEMMs of K each adding into C. 1 if done (0: not this case, or no memory). */ \
    static int CAT(const CALL *a_, size_t r0, size_t r1) {                                         \
        const int tA = a_->tA, tB = a_->tB, M = a_->M, N = a_->N, K = a_->K, no = a_->no, ni = a_->ni; \
        const size_t *dims = a_->dims, *sa = a_->sa, *sb = a_->sb, *sc = a_->sc, nsum = a_->nsum;  \
        const int *outer = a_->outer, *inner = a_->inner;                                          \
        for (int j = 0; j < no; j++)                                                               \
            if (sb[outer[j]] != 0) return 0; /* B changes with the result */                       \
        if (nsum < 2 || K > BATCH_CAT_K || nsum * (size_t)K > BATCH_CAT_MAX_K || M < 1 || N < 1 ||  \
            nsum * (size_t)K * ((size_t)M + (size_t)N) > BATCH_CAT_MAX_COPY)                        \
            return 0;                                                                              \
        const size_t KK = nsum * (size_t)K;                                                        \
        T *Bc = (T *)BPRT_TEMP(BPRT_SCRATCH_CAT, sizeof(T) * (KK * (size_t)N + KK * (size_t)M));   \
        if (!Bc) return 0;                                                                         \
        T *Ac = Bc + KK * (size_t)N;                                                               \
        for (size_t s = 0; s < nsum; s++) /* B's products one under the other */                  \
            COPY(Bc + s * (size_t)K * (size_t)N, (size_t)N, a_->B + batch_offset(s, inner, ni, dims, sb), \
                 (size_t)a_->ldb, tB, K, N);                                                        \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const size_t oa = batch_offset(r, outer, no, dims, sa), oc = batch_offset(r, outer, no, dims, sc); \
            for (size_t s = 0; s < nsum; s++) /* A's side by side */                               \
                COPY(Ac + s * (size_t)K, KK, a_->A + oa + batch_offset(s, inner, ni, dims, sa),    \
                     (size_t)a_->lda, tA, M, K);                                                    \
            GEMM(0, 0, M, N, (int)KK, a_->alpha, Ac, (int)KK, Bc, N, a_->beta, a_->C + oc, a_->ldc); \
        }                                                                                          \
        BPRT_TEMP_DONE(BPRT_SCRATCH_CAT, Bc);                                                                        \
        return 1;                                                                                  \
    }
#else
#define DEFINE_BATCH_CAT(T, CAT, CALL, COPY, GEMM)                                                 \
    static int CAT(const CALL *a_, size_t r0, size_t r1) {                                         \
        (void)a_, (void)r0, (void)r1;                                                              \
        return 0;                                                                                  \
    }
#endif

/* A product whose softmax gradient is written over Y (C is Y): made in the caller's tmp under
 * --standalone (the workspace's: the compiler passes one of M x N), else in a buffer of this
 * thread's, tmp unused (a thread of the pool, each with its own). */
#if defined(BPRT_STANDALONE)
#define PRODUCT_TEMP(tmp, bytes) ((void)(bytes), (void *)(tmp))
#define PRODUCT_DONE(p) ((void)(p))
#else
#define PRODUCT_TEMP(tmp, bytes) ((void)(tmp), BPRT_TEMP(BPRT_SCRATCH_PRODUCT, (bytes)))
#define PRODUCT_DONE(p) BPRT_TEMP_DONE(BPRT_SCRATCH_PRODUCT, (p))
#endif

#define DEFINE_GEMM_BATCH(T, FN, GEMM, TRI, SMROWS, SMGRAD)                                        \
    /* a call's arguments, for its shares on the threads (BPRT_SPLIT) */                           \
    typedef struct {                                                                               \
        int tA, tB, M, N, K, lda, ldb, ldc, no, ni;                                                \
        T alpha, beta;                                                                             \
        const T *A, *B;                                                                            \
        T *C;                                                                                      \
        const size_t *dims, *sa, *sb, *sc;                                                         \
        const int *outer, *inner;                                                                  \
        size_t nsum;                                                                               \
        int tri; /* BPRT_TRI_*: each product through TRI */                                        \
    } FN##_call_;                                                                                  \
    DEFINE_BATCH_CAT(T, FN##_cat_, FN##_call_, FN##_copy_op_, GEMM)                                \
    /* results [r0, r1) on this thread, with its packed operands reused across them */             \
    static void FN##_range_(void *arg, size_t r0, size_t r1) {                                     \
        const FN##_call_ *a_ = (const FN##_call_ *)arg;                                            \
        const int tA = a_->tA, tB = a_->tB, M = a_->M, N = a_->N, K = a_->K, lda = a_->lda;        \
        const int ldb = a_->ldb, ldc = a_->ldc, no = a_->no, ni = a_->ni;                          \
        const T alpha = a_->alpha, beta = a_->beta, *A = a_->A, *B = a_->B;                        \
        T *C = a_->C;                                                                              \
        const size_t *dims = a_->dims, *sa = a_->sa, *sb = a_->sb, *sc = a_->sc, nsum = a_->nsum;  \
        const int *outer = a_->outer, *inner = a_->inner;                                          \
        if (!a_->tri && FN##_cat_(a_, r0, r1)) return;                                             \
        bprt_gemm_reuse_packs(3);                                                                  \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const size_t oa = batch_offset(r, outer, no, dims, sa), ob = batch_offset(r, outer, no, dims, sb); \
            const size_t oc = batch_offset(r, outer, no, dims, sc);                                \
            T bet = beta;                                                                          \
            for (size_t s = 0; s < nsum; s++) {                                                    \
                const size_t ia = oa + batch_offset(s, inner, ni, dims, sa);                       \
                const size_t ib = ob + batch_offset(s, inner, ni, dims, sb);                       \
                TRI(a_->tri, tA, tB, M, N, K, alpha, A + ia, lda, B + ib, ldb, bet, C + oc, ldc);  \
                bet = 1;                                                                           \
            }                                                                                      \
            if (nsum == 0) TRI(a_->tri, tA, tB, M, N, 0, alpha, A, lda, B, ldb, beta, C + oc, ldc); \
        }                                                                                          \
        bprt_gemm_reuse_packs(0);                                                                  \
    }                                                                                              \
    /* bprt_?gemm_batch_softmax(_grad): the call, Y (the softmax's result for its gradient, else \
       NULL) and what follows each product */                                                   \
    typedef struct {                                                                               \
        FN##_call_ b;                                                                              \
        const T *Y;                                                                                \
        int causal, scaled;                                                                        \
        T scale, *tmp;                                                                             \
    } FN##_sm_call_;                                                                               \
    /* results [r0, r1): each product, then its rows' softmax (or gradient) while in cache */      \
    static void FN##_sm_range_(void *arg, size_t r0, size_t r1) {                                  \
        const FN##_sm_call_ *s_ = (const FN##_sm_call_ *)arg;                                      \
        const FN##_call_ *a_ = &s_->b;                                                             \
        const int M = a_->M, N = a_->N;                                                            \
        T *own = NULL; /* C is Y: each product made here, then its gradient written over Y */     \
        if (s_->Y && s_->Y == a_->C &&                                                             \
            !(own = (T *)PRODUCT_TEMP(s_->tmp, sizeof(T) * (size_t)M * (size_t)N)))                \
            abort(); /* libbprt out of memory for one product, or no tmp given: nothing sensible */ \
        bprt_gemm_reuse_packs(3);                                                                  \
        for (size_t r = r0; r < r1; r++) {                                                         \
            const size_t oa = batch_offset(r, a_->outer, a_->no, a_->dims, a_->sa);                \
            const size_t ob = batch_offset(r, a_->outer, a_->no, a_->dims, a_->sb);                \
            const size_t oc = batch_offset(r, a_->outer, a_->no, a_->dims, a_->sc);                \
            T *c = a_->C + oc, *p = own ? own : c;                                                 \
            TRI(s_->causal ? BPRT_TRI_C_LOWER : BPRT_TRI_NONE, a_->tA, a_->tB, M, N, a_->K, a_->alpha, \
                a_->A + oa, a_->lda, a_->B + ob, a_->ldb, 0, p, N);                                 \
            if (s_->Y) SMGRAD(s_->Y + oc, p, (size_t)M, (size_t)N, s_->scaled, s_->scale, c);      \
            else SMROWS(c, (size_t)M, (size_t)N, s_->causal);                                      \
        }                                                                                          \
        bprt_gemm_reuse_packs(0);                                                                  \
        PRODUCT_DONE(own);                                                                         \
    }                                                                                              \
    static void FN##_sm_(int tA, int tB, int M, int N, int K, T alpha, const T *A, int lda, const T *B, int ldb, \
                         T beta, T *C, int ldc, int rank, const size_t *dims, const size_t *sa,     \
                         const size_t *sb, const size_t *sc, int sum, const T *Y, int causal, int scaled, \
                         T scale, T *tmp) {                                                        \
        if (sum != 0 || beta != 0 || ldc != N || rank > BATCH_MAX_RANK || M < 1 || N < 1)          \
            abort(); /* the compiler emits none of these */                                       \
        int outer[BATCH_MAX_RANK];                                                                 \
        size_t nres = 1;                                                                           \
        for (int f = 0; f < rank; f++) outer[f] = f, nres *= dims[f];                              \
        if (nres == 0) return;                                                                     \
        const double flops = 2.0 * M * N * K * (double)nres;                                       \
        (void)flops;                                                                               \
        const FN##_sm_call_ s_ = {{tA, tB, M, N, K, lda, ldb, ldc, rank, 0, alpha, beta, A, B, C, dims, sa, sb, \
                                   sc, outer, NULL, 1, 0},                                          \
                                  Y, causal, scaled, scale, tmp};                                  \
        BPRT_SPLIT(BATCH_TEAM(nres, flops), nres, FN##_sm_range_, (void *)&s_);                    \
    }                                                                                              \
    void FN##_softmax(int tA, int tB, int M, int N, int K, T alpha, const T *A, int lda, const T *B, int ldb, \
                      T beta, T *C, int ldc, int rank, const size_t *dims, const size_t *sa, const size_t *sb, \
                      const size_t *sc, int sum, int causal) {                                     \
        FN##_sm_(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, rank, dims, sa, sb, sc, sum, NULL, causal, 0, 0, \
                 NULL);                                                                            \
    }                                                                                              \
    void FN##_softmax_grad(int tA, int tB, int M, int N, int K, T alpha, const T *A, int lda, const T *B, \
                           int ldb, T beta, T *C, int ldc, int rank, const size_t *dims, const size_t *sa, \
                           const size_t *sb, const size_t *sc, int sum, const T *Y, int causal, int scaled, \
                           T scale, T *tmp) {                                                      \
        if (!Y) abort(); /* the compiler always passes the softmax's result */                    \
        FN##_sm_(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, rank, dims, sa, sb, sc, sum, Y, causal, \
                 scaled, scale, tmp);                                                              \
    }                                                                                              \
    void FN##_tri(int tA, int tB, int M, int N, int K, T alpha, const T *A, int lda, const T *B, int ldb, \
                  T beta, T *C, int ldc, int rank, const size_t *dims, const size_t *sa, const size_t *sb, \
                  const size_t *sc, int sum, int tri) {                                           \
        int outer[BATCH_MAX_RANK], inner[BATCH_MAX_RANK], no = 0, ni = 0;                          \
        size_t nres = 1, nsum = 1;                                                                 \
        if (rank > BATCH_MAX_RANK) rank = BATCH_MAX_RANK; /* the compiler never emits more */     \
        for (int f = 0; f < rank; f++) {                                                           \
            if (sum >> f & 1) inner[ni++] = f, nsum *= dims[f];                                    \
            else outer[no++] = f, nres *= dims[f];                                                 \
        }                                                                                          \
        if (nres == 0) return;                                                                     \
        const double flops = 2.0 * M * N * K * (double)nres * (double)nsum;                        \
        (void)flops;                                                                               \
        FN##_call_ a_ = {tA, tB, M, N, K, lda, ldb, ldc, no, ni, alpha, beta, A, B, C, dims, sa, sb, sc, \
                         outer, inner, nsum, tri};                                                 \
        BPRT_SPLIT(BATCH_TEAM(nres, flops), nres, FN##_range_, &a_);                               \
    }                                                                                              \
    void FN(int tA, int tB, int M, int N, int K, T alpha, const T *A, int lda, const T *B, int ldb, \
            T beta, T *C, int ldc, int rank, const size_t *dims, const size_t *sa, const size_t *sb, \
            const size_t *sc, int sum) {                                                           \
        FN##_tri(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, rank, dims, sa, sb, sc, sum, 0); \
    }

#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
#define BATCH_TEAM(nres, flops) batch_threads(nres, flops)
#else
#define BATCH_TEAM(nres, flops) 1
#endif

DEFINE_GEMM_BATCH(float, bprt_sgemm_batch, bprt_sgemm, bprt_sgemm_tri, bprt_softmax_rows_f32,
                  bprt_softmax_grad_rows_f32)
DEFINE_GEMM_BATCH(double, bprt_dgemm_batch, bprt_dgemm, bprt_dgemm_tri, bprt_softmax_rows_f64,
                  bprt_softmax_grad_rows_f64)
