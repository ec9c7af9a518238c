/* bprt.h — libbprt, the bpc runtime: the kernels generated code calls, and the I/O and
 * training support the bpc driver uses.
 *
 * Generated code (written out or JIT-compiled) calls only the "kernel" part below
 * (GEMM, vector math, RNG, threads); the rest serves the driver and embedders.
 * All functions are reentrant; the only process-wide state is the thread count and the
 * CPU-dispatch choice, both set once. */
#ifndef BPRT_H
#define BPRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM -------------------------------------------------------------------------
 * C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, row-major, leading dimensions in
 * elements: lda >= K (A stored [M,K]) or, when transA, lda >= M (A stored [K,M]); ldb >= N
 * (B stored [K,N]) or, when transB, ldb >= K (B stored [N,K]); ldc >= N; a leading dimension
 * whose rows number 1 is not read and may be anything. op(X) = X when trans == 0, X^T when
 * trans == 1. beta == 0 means C is not read (may hold NaN).
 * M, N or K == 0 is allowed (K == 0: C = beta*C). Kernels: AVX-512, AVX2+FMA or portable
 * C, chosen at first call from the CPU (BPRT_ISA=avx512|avx2|generic, in any case, overrides). */
void bprt_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);
void bprt_dgemm(int transA, int transB, int M, int N, int K, double alpha, const double *A,
                int lda, const double *B, int ldb, double beta, double *C, int ldc);

/* With an epilogue: then out[i, j] (row stride ldo) = an elementwise program (bprt_ew's
 * code, konst) over nleaf leaves, leaf k read at leaf[k] + i*ld[k] + (vec[k] ? j : 0):
 * a matrix (ld = its row length; C itself can be one), a row vector (ld 0, vec 1: a bias)
 * or a scalar (ld 0, vec 0). Each block of C is finished and its part of out written by the
 * thread that computed it, while the block is in that core's cache (bias + activation
 * after a layer's product, the activation's derivative after an input gradient's). out
 * may be C; the leaves other than C must not overlap out except at the same elements. */
void bprt_sgemm_ew(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc, const int32_t *code,
                   int ncode, const double *konst, const float *const *leaf, int nleaf,
                   const ptrdiff_t *ld, const unsigned char *vec, float *out, ptrdiff_t ldo);
void bprt_dgemm_ew(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,
                   const double *B, int ldb, double beta, double *C, int ldc, const int32_t *code,
                   int ncode, const double *konst, const double *const *leaf, int nleaf,
                   const ptrdiff_t *ld, const unsigned char *vec, double *out, ptrdiff_t ldo);
/* ... and out's rows summed into y, P rows apart: y[t*N + j] = the sum over b of
 * out[b*P + t, j], b = 0 .. M/P - 1, exactly bprt_sum_axis(out, 1, M / P, P * N, y) (in
 * double, b in order, rounded once): a layer's bias gradient, added up on each finished
 * block while it is in cache when the product's threads split C by columns (else by that
 * pass afterwards; the same values). P divides M and ldo == N (out's rows contiguous); y
 * overlaps none of the operands, leaves or out. */
void bprt_sgemm_ew_sum(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, const int32_t *code,
                       int ncode, const double *konst, const float *const *leaf, int nleaf,
                       const ptrdiff_t *ld, const unsigned char *vec, float *out, ptrdiff_t ldo, float *y,
                       size_t P);
void bprt_dgemm_ew_sum(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,
                       const double *B, int ldb, double beta, double *C, int ldc, const int32_t *code,
                       int ncode, const double *konst, const double *const *leaf, int nleaf,
                       const ptrdiff_t *ld, const unsigned char *vec, double *out, ptrdiff_t ldo, double *y,
                       size_t P);

/* A batch of them (gemm_batch.c): over batch axes f < rank of extents dims[f], the
 * operands and C advance by sa[f], sb[f], sc[f] elements (0: broadcast); the axes in the
 * bitmask sum accumulate into one C (sc[f] = 0; beta for the first product, then 1).
 * Threads take whole results: the values do not depend on their number. */
void bprt_sgemm_batch(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, int rank, const size_t *dims,
                      const size_t *sa, const size_t *sb, const size_t *sc, int sum);
void bprt_dgemm_batch(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,
                      const double *B, int ldb, double beta, double *C, int ldc, int rank, const size_t *dims,
                      const size_t *sa, const size_t *sb, const size_t *sc, int sum);

/* Products whose op(A) or C is triangular in its rows i and columns k, j (a causal
 * attention's: softmax(causal_mask(S)) is zero above the diagonal, and only the scores on and
 * below it are read). tri is
 *   BPRT_TRI_C_LOWER  only C[i, j] for j <= i is needed: above the diagonal each element is
 *                     the product's or 0 (tiles wholly above it are not made but zeroed);
 *   BPRT_TRI_A_LOWER  op(A)[i, k] = 0 for k > i: each row's terms with k > i are skipped;
 *   BPRT_TRI_A_UPPER  op(A)[i, k] = 0 for k < i: each row's terms with k < i are skipped;
 * anything else: the plain product. Each element computed is the same chain of multiply-adds
 * in k order as the full product's tiles, without terms 0 * b (the same value where b is
 * finite; a skipped term 0 * inf or 0 * NaN would have made it NaN). One thread per product:
 * the batch splits its products between the threads. */
enum { BPRT_TRI_NONE = 0, BPRT_TRI_C_LOWER = 1, BPRT_TRI_A_LOWER = 2, BPRT_TRI_A_UPPER = 3 };
void bprt_sgemm_tri(int tri, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);
void bprt_dgemm_tri(int tri, int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,
                    const double *B, int ldb, double beta, double *C, int ldc);
void bprt_sgemm_batch_tri(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc, int rank, const size_t *dims,
                          const size_t *sa, const size_t *sb, const size_t *sc, int sum, int tri);
void bprt_dgemm_batch_tri(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,
                          const double *B, int ldb, double beta, double *C, int ldc, int rank, const size_t *dims,
                          const size_t *sa, const size_t *sb, const size_t *sc, int sum, int tri);

/* Attention's weights and their gradient, product by product while each is in cache (a
 * batch as bprt_?gemm_batch's, sum 0, beta 0, ldc N; C's rows of N contiguous):
 *   _softmax       C = softmax over each row of alpha op(A) op(B), with causal its entries
 *                  j > i masked first (causal_mask(., -inf)): BPRT_TRI_C_LOWER products;
 *   _softmax_grad  C = softmax_grad(Y, alpha op(A) op(B)) (times scale if scaled), Y the
 *                  softmax's result laid out as C; with causal Y is zero right of the
 *                  diagonal and those entries of the product are not made. C may be Y
 *                  (the gradient written over the weights, whose lines the call has just
 *                  read): each product is then made in a buffer of M x N of its own, under
 *                  --standalone tmp (which must then be given), in libbprt each thread's
 *                  (tmp unused: NULL).
 * The same values as the product, the scaling, the mask and the softmax (or its gradient)
 * one after another (tiny_gpt's [32, 4, 64, 64] scores and their gradient each made and used
 * in L1 instead of 2 MB arrays passed over three times). */
void bprt_sgemm_batch_softmax(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                              const float *B, int ldb, float beta, float *C, int ldc, int rank, const size_t *dims,
                              const size_t *sa, const size_t *sb, const size_t *sc, int sum, int causal);
void bprt_dgemm_batch_softmax(int transA, int transB, int M, int N, int K, double alpha, const double *A, int lda,
                              const double *B, int ldb, double beta, double *C, int ldc, int rank,
                              const size_t *dims, const size_t *sa, const size_t *sb, const size_t *sc, int sum,
                              int causal);
void bprt_sgemm_batch_softmax_grad(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                                   int lda, const float *B, int ldb, float beta, float *C, int ldc, int rank,
                                   const size_t *dims, const size_t *sa, const size_t *sb, const size_t *sc, int sum,
                                   const float *Y, int causal, int scaled, float scale, float *tmp);
void bprt_dgemm_batch_softmax_grad(int transA, int transB, int M, int N, int K, double alpha, const double *A,
                                   int lda, const double *B, int ldb, double beta, double *C, int ldc, int rank,
                                   const size_t *dims, const size_t *sa, const size_t *sb, const size_t *sc, int sum,
                                   const double *Y, int causal, int scaled, double scale, double *tmp);

/* Runtime-internal (gemm_batch.c, conv.c): while mode is not 0, this thread's GEMMs reuse a
 * packed A (mode bit 0) or B (bit 1) block identical to the last one packed; the caller
 * guarantees that those operands do not change meanwhile. 0 turns it off. */
void bprt_gemm_reuse_packs(int mode);

/* ISA in use: "avx512", "avx2" or "generic". bprt_set_isa takes those names in any case
 * ("AVX2") and returns 0, or -1 for another name or one the CPU lacks (then nothing
 * changes). */
const char *bprt_isa(void);
int bprt_set_isa(const char *name);
/* Whose GEMM this libbprt runs: "bpc" (its own kernels, per bprt_isa()), or "openblas" (built
 * with -DBPC_OPENBLAS=ON: every product is cblas_?gemm's; the epilogues run after it). */
const char *bprt_gemm_backend(void);
/* What it runs: bprt_isa() for "bpc"; OpenBLAS's configuration, kernels and threading. */
const char *bprt_gemm_config(void);

/* ---- optimizer updates (optim.c: PyTorch's semantics, documented there) ---- */
double bprt_sumsq_f32(const float *g, size_t n);
double bprt_sumsq_f64(const double *g, size_t n);
/* max |g[i]|, or +inf if any g[i] is infinite or NaN (0 for n = 0) */
double bprt_maxabs_f32(const float *g, size_t n);
double bprt_maxabs_f64(const double *g, size_t n);
void bprt_sgd_f32(float *p, const float *g, float *v, size_t n, double lr, double momentum, double wd, double scale);
void bprt_sgd_f64(double *p, const double *g, double *v, size_t n, double lr, double momentum, double wd, double scale);
void bprt_adam_f32(float *p, const float *g, float *m, float *v, size_t n, double lr, double b1, double b2,
                   double eps, double wd, int decoupled, double step, double scale);
void bprt_adam_f64(double *p, const double *g, double *m, double *v, size_t n, double lr, double b1, double b2,
                   double eps, double wd, int decoupled, double step, double scale);
/* The weight gradient op(A) @ op(B) [M, N] (bprt_sgemm's conventions, alpha 1) into gs
 * [M, N] (e.g. the gradient's own place), then the step of bprt_sgd / bprt_adam with
 * scale 1 on it, on as many threads as the GEMM takes. gs's contents afterwards are
 * unspecified. */
void bprt_gemm_sgd_f32(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float *gs, float *p, float *v, double lr, double momentum, double wd);
void bprt_gemm_sgd_f64(int tA, int tB, int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                       double *gs, double *p, double *v, double lr, double momentum, double wd);
void bprt_gemm_adam_f32(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                        float *gs, float *p, float *m, float *v, double lr, double b1, double b2, double eps,
                        double wd, int decoupled, double step);
void bprt_gemm_adam_f64(int tA, int tB, int M, int N, int K, const double *A, int lda, const double *B, int ldb,
                        double *gs, double *p, double *m, double *v, double lr, double b1, double b2, double eps,
                        double wd, int decoupled, double step);

/* ---- reductions (reduce.c): y[o, i] = sum over r of x[o, r, i], in double, fixed order ---- */
void bprt_sum_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);
void bprt_sum_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);
/* Along the middle axis of x viewed as [O, R, I] (reduce.c: the order of operations):
 * y[o, i] = the maximum over r of x[o, r, i] (NaN if any is), and its logsumexp; softmax
 * and log_softmax of each x[o, :, i] into y [O, R, I] (y may be x). */
void bprt_max_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);
void bprt_max_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);
void bprt_logsumexp_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);
void bprt_logsumexp_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);
void bprt_softmax_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);
void bprt_softmax_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);
void bprt_log_softmax_axis_f32(const float *x, size_t O, size_t R, size_t I, float *y);
void bprt_log_softmax_axis_f64(const double *x, size_t O, size_t R, size_t I, double *y);
/* y[b, j, i] = x[b, i, j], x of shape [Bt, M, N] (reduce.c); y must not overlap x */
void bprt_transpose_f32(const float *x, size_t Bt, size_t M, size_t N, float *y);
void bprt_transpose_f64(const double *x, size_t Bt, size_t M, size_t N, double *y);

/* ---- exp, erf and tanh over arrays; softmax and cross-entropy over rows (vmath.c: accuracy) ----
 * y[i] = f(x[i]), y may be x. Rows are contiguous, n reals each: softmax / log_softmax of
 * each row (y may be x); the mean over rows of cross-entropy(z_r, y_r) (NaN for a label
 * outside [0, n)); its gradient d_r = scale (softmax(z_r) - onehot(y_r)) (both at once:
 * bprt_cross_entropy_grad, below). */
#define BPRT_DECLARE_VMATH(T, SUF)                                                                 \
    void bprt_exp_##SUF(const T *x, T *y, size_t n);                                               \
    void bprt_erf_##SUF(const T *x, T *y, size_t n);                                               \
    void bprt_tanh_##SUF(const T *x, T *y, size_t n);                                              \
    void bprt_gelu_##SUF(const T *x, T *y, size_t n);                                              \
    void bprt_gelu_grad_##SUF(const T *x, T *y, size_t n);                                         \
    /* y = gelu(x) and d = gelu's derivative at x, each with the bits of the two calls above,     \
       from one erf per element (d may be x); bprt_ew_gelu_pair: the same on the threads */       \
    void bprt_gelu_pair_##SUF(const T *x, T *y, T *d, size_t n);                                   \
    void bprt_ew_gelu_pair_##SUF(const T *x, T *y, T *d, size_t n);                                \
    void bprt_softmax_##SUF(const T *x, size_t rows, size_t n, T *y);                              \
    /* in place, on the calling thread; causal: row r's entries j > r masked first (-inf, so       \
       0, NaN in a row whose softmax is NaN: only its first r + 1 are exponentiated; the           \
       same values as the mask then softmax) */                                                    \
    void bprt_softmax_rows_##SUF(T *x, size_t rows, size_t n, int causal);                         \
    void bprt_log_softmax_##SUF(const T *x, size_t rows, size_t n, T *y);                          \
    double bprt_cross_entropy_##SUF(const T *z, const int32_t *y, size_t rows, size_t n);          \
    void bprt_ce_grad_##SUF(const T *z, const int32_t *y, size_t rows, size_t n, T scale, T *d);
BPRT_DECLARE_VMATH(float, f32)
BPRT_DECLARE_VMATH(double, f64)

/* ---- fused elementwise expressions, evaluated in blocks (ew.c: the program format) ---- */
enum {
    BPRT_EW_LEAF, BPRT_EW_CONST, BPRT_EW_NEG, BPRT_EW_EXP, BPRT_EW_LOG, BPRT_EW_SQRT, BPRT_EW_ABS,
    BPRT_EW_SIN, BPRT_EW_COS, BPRT_EW_TANH, BPRT_EW_SIGMOID, BPRT_EW_RELU, BPRT_EW_LEAKY_RELU,
    BPRT_EW_GELU, BPRT_EW_SOFTPLUS, BPRT_EW_POWI, BPRT_EW_SIGN, BPRT_EW_STEP, BPRT_EW_LEAKY_STEP,
    BPRT_EW_GELU_GRAD, BPRT_EW_ADD, BPRT_EW_SUB, BPRT_EW_MUL, BPRT_EW_DIV, BPRT_EW_POW,
    BPRT_EW_MAXIMUM, BPRT_EW_MINIMUM, BPRT_EW_GT, BPRT_EW_EQ, BPRT_EW_BCE, BPRT_EW_MASK_MUL,
    BPRT_EW_MASK_POS, /* b where a > 0, else 0: mask_mul(b, step(a)), relu's derivative, in one pass */
    BPRT_EW_BCE_LOGITS, /* z = b, t = a: (1 - t) z + log(1 + e^-z), the generated bp_bce_logits */
    BPRT_EW_DEPTH = 8,      /* the deepest stack a program may use */
    BPRT_EW_MAX_LEAVES = 32 /* leaves of a program run by rows (bprt_ew_rows, GEMM epilogues) */
};
void bprt_ew_f32(const int32_t *code, int ncode, const double *konst, const float *const *leaf,
                 const unsigned char *vec, size_t n, float *out);
void bprt_ew_f64(const int32_t *code, int ncode, const double *konst, const double *const *leaf,
                 const unsigned char *vec, size_t n, double *out);
/* The threads bprt_ew takes for n elements: 1 below a size where a second one pays, or inside
 * a parallel region. Generated code compiled by gcc or clang runs its own loop where this is
 * 1 (vectorised inline, no call), and bprt_ew where the elements are split between threads. */
int bprt_ew_threads(size_t n);
/* The program over a block of rows (on the calling thread): row r reads leaf[k] + r*ld[k]
 * (ld[k] = 0: the same row vector or scalar for every row) and writes n elements at
 * out + r*ldo. At most BPRT_EW_MAX_LEAVES leaves. */
void bprt_ew_rows_f32(const int32_t *code, int ncode, const double *konst, const float *const *leaf,
                      int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows, size_t n,
                      float *out, ptrdiff_t ldo);
void bprt_ew_rows_f64(const int32_t *code, int ncode, const double *konst, const double *const *leaf,
                      int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows, size_t n,
                      double *out, ptrdiff_t ldo);
/* bprt_ew_rows over all of an array's rows, split between threads as bprt_ew splits elements
 * (whole rows to each; the same values on any number) */
void bprt_ew_rows_par_f32(const int32_t *code, int ncode, const double *konst, const float *const *leaf,
                          int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows, size_t n,
                          float *out, ptrdiff_t ldo);
void bprt_ew_rows_par_f64(const int32_t *code, int ncode, const double *konst, const double *const *leaf,
                          int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows, size_t n,
                          double *out, ptrdiff_t ldo);

/* ---- convolution (conv.c: layouts, threads) ---------------------------------------------
 * scratch: bprt_conv2d_scratch reals of the caller's (64-byte aligned best);
 * at most BPRT_CONV_SLOTS threads work on one call. */
#define BPRT_CONV_SLOTS 8
/* conv2d_grad_w sums fixed groups of images for fewer unfolded rows (C KH KW) than this */
#define BPRT_CONV_GW_GROUPED_K 64
/* 1 if bprt_conv2d_grad_wb and bprt_conv2d_grads_b sum gy for the bias's gradient image by
 * image in the weight gradient's pass: with fewer than BPRT_CONV_GW_GROUPED_K unfolded rows,
 * or, in float, at the windows of Winograd's algorithm (where the CPU has AVX-512: elsewhere
 * those sum gy in a pass of their own, on the threads, as a separate sum would). For a code
 * generator: whether to call them instead of a separate sum. */
int bprt_conv2d_bias_in_pass(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad,
                             int f64);
/* The reals of scratch a call with these sizes needs (the same for the three calls): the
 * slots above, or more for the stride-1 3x3 and 5x5 windows computed by Winograd's
 * algorithm (conv_wg.c). */
size_t bprt_conv2d_scratch(size_t C, size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride,
                           size_t pad);
#define BPRT_DECLARE_CONV(T, SUF)                                                                  \
    void bprt_conv2d_##SUF(const T *x, const T *w, size_t B, size_t C, size_t H, size_t W, size_t O, \
                           size_t KH, size_t KW, size_t stride, size_t pad, T *y, T *scratch);     \
    void bprt_conv2d_grad_x_##SUF(const T *gy, const T *w, size_t B, size_t C, size_t H, size_t W,  \
                                  size_t O, size_t KH, size_t KW, size_t stride, size_t pad, T *gx, \
                                  T *scratch);                                                     \
    void bprt_conv2d_grad_w_##SUF(const T *x, const T *gy, size_t B, size_t C, size_t H, size_t W,  \
                                  size_t O, size_t KH, size_t KW, size_t stride, size_t pad, T *gw, \
                                  T *scratch);                                                     \
    /* the weight gradient (the same values as bprt_conv2d_grad_w) and gb [O], the sums of   \
       gy over its images and positions (a bias's gradient: an image's positions in float by \
       chunks of 1024, the rest in double, BPRT_CONV_SLOTS fixed groups of images then their \
       sums in order: the same bits on any number of threads; with fewer than                \
       BPRT_CONV_GW_GROUPED_K unfolded rows C KH KW made image by image with the weight      \
       gradient, else in a pass of its own on the threads) */                                \
    void bprt_conv2d_grad_wb_##SUF(const T *x, const T *gy, size_t B, size_t C, size_t H, size_t W, \
                                   size_t O, size_t KH, size_t KW, size_t stride, size_t pad, T *gw, \
                                   T *gb, T *scratch);                                              \
    /* both gradients at once (the same values as the two calls; Winograd's makes each      \
       image's transformed output gradient once for both) */                                  \
    void bprt_conv2d_grads_##SUF(const T *x, const T *gy, const T *w, size_t B, size_t C, size_t H, \
                                 size_t W, size_t O, size_t KH, size_t KW, size_t stride, size_t pad, \
                                 T *gx, T *gw, T *scratch);                                       \
    /* and gb as bprt_conv2d_grad_wb's (on AVX-512, in float, Winograd's windows sum each      \
       image's gy as they transform it) */                                                    \
    void bprt_conv2d_grads_b_##SUF(const T *x, const T *gy, const T *w, size_t B, size_t C,     \
                                   size_t H, size_t W, size_t O, size_t KH, size_t KW, size_t stride, \
                                   size_t pad, T *gx, T *gw, T *gb, T *scratch);
BPRT_DECLARE_CONV(float, f32)
BPRT_DECLARE_CONV(double, f64)
/* A layer with an elementwise epilogue (bprt_ew_rows' programs), run on the thread that
 * made each image's (conv2d: rows o < O of OH*OW) or plane's (maxpool2d_grad: rows of W)
 * result while it is in that core's cache: those rows of out = the program over the leaves,
 * leaf k read at leaf[k] + b*istride[k] + row*ld[k] + (vec[k] ? col : 0) for image or plane
 * b: the layer's result itself or another array of its shape (istride the image's size, ld
 * the row's, vec 1), a per-channel value (conv2d: istride 0, ld 1, vec 0) or a scalar (all
 * 0). out may be the result; other leaves must not overlap out except at the same elements.
 * Not in --standalone output. */
#define BPRT_DECLARE_LAYER_EW(T, SUF)                                                              \
    void bprt_conv2d_ew_##SUF(const T *x, const T *w, size_t B, size_t C, size_t H, size_t W, size_t O, \
                              size_t KH, size_t KW, size_t stride, size_t pad, T *y, T *scratch,   \
                              const int32_t *code, int ncode, const double *konst, const T *const *leaf, \
                              int nleaf, const ptrdiff_t *ld, const ptrdiff_t *istride,            \
                              const unsigned char *vec, T *out);                                   \
    void bprt_maxpool2d_grad_ew_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, size_t k, \
                                      size_t stride, T *gx, const int32_t *code, int ncode,        \
                                      const double *konst, const T *const *leaf, int nleaf,        \
                                      const ptrdiff_t *ld, const ptrdiff_t *istride,               \
                                      const unsigned char *vec, T *out);
BPRT_DECLARE_LAYER_EW(float, f32)
BPRT_DECLARE_LAYER_EW(double, f64)

/* Runtime-internal: one clone of a kernel per ISA, chosen by the loader from the CPU
 * (GCC/clang on x86-64). Clang before 15 names the dispatcher of an unreferenced clone
 * "f.ifunc", not "f": no clones there. Nor under ThreadSanitizer: the loader runs the
 * dispatchers before the sanitizer's runtime is set up, and their instrumented code
 * crashed a -fsanitize=thread program before main (gcc 12). */
#if defined(__SANITIZE_THREAD__)
#define BPRT_TSAN_ 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BPRT_TSAN_ 1
#endif
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__TINYC__) && !defined(BPRT_NO_CLONES) && \
    !(defined(__clang__) && __clang_major__ < 15) && !defined(BPRT_TSAN_)
#define BPRT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BPRT_CLONES
#endif

/* Runtime-internal: fn(ctx, lo, hi) over [0, n). With team <= 1 once, [0, n), on this
 * thread (no parallel region for one thread: starting one per call of a small kernel costs
 * more than the kernel); else on team threads of the runtime's pool (pool.c), each its
 * contiguous share [n t / nt, n (t + 1) / nt). A split by elements or whole rows: the
 * values do not depend on it. Without OpenMP (and under --standalone), the plain call. */
typedef void (*BprtRangeFn)(void *ctx, size_t lo, size_t hi);
#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
void bprt_split(int team, size_t n, BprtRangeFn fn, void *ctx);
#define BPRT_SPLIT(team, n, fn, ctx) bprt_split((team), (n), (fn), (ctx))
#else
#define BPRT_SPLIT(team, n, fn, ctx) ((void)(team), (fn)((ctx), 0, (n)))
#endif

/* ---- network layers (layers.c: layouts, semantics, the legend) ---- */
#define BPRT_DECLARE_LAYERS(T, SUF)                                                                \
    void bprt_maxpool2d_##SUF(const T *x, size_t N, size_t H, size_t W, size_t k, size_t stride, T *y); \
    void bprt_maxpool2d_grad_##SUF(const T *x, const T *gy, size_t N, size_t H, size_t W, size_t k,   \
                                   size_t stride, T *gx);                                          \
    void bprt_avgpool2d_##SUF(const T *x, size_t N, size_t H, size_t W, size_t k, size_t stride, T *y); \
    void bprt_avgpool2d_grad_##SUF(const T *gy, size_t N, size_t H, size_t W, size_t k, size_t stride, T *gx); \
    void bprt_layernorm_##SUF(const T *x, size_t R, size_t D, double eps, T *y);                   \
    void bprt_layernorm_grad_##SUF(const T *x, const T *gy, size_t R, size_t D, double eps, T *gx); \
    void bprt_softmax_grad_##SUF(const T *y, const T *gy, size_t R, size_t D, T *gx);               \
    /* on the calling thread: out = y (g - sum(g y)), then times scale if scaled (a separate     \
       rounding, as a product node after it); out may be y or g */                             \
    void bprt_softmax_grad_rows_##SUF(const T *y, const T *g, size_t R, size_t D, int scaled, T scale, \
                                      T *out);                                                     \
    void bprt_embedding_##SUF(const T *table, size_t V, size_t D, const int32_t *ids, size_t n, T *y); \
    void bprt_embedding_grad_##SUF(const T *gy, size_t V, size_t D, const int32_t *ids, size_t n, T *gt); \
    void bprt_causal_mask_##SUF(const T *x, size_t N, size_t Tq, size_t Tk, double fill, T *y);    \
    void bprt_dropout_##SUF(const T *x, size_t n, double p, uint64_t seed, uint64_t stream, T *y);
BPRT_DECLARE_LAYERS(float, f32)
BPRT_DECLARE_LAYERS(double, f64)

/* Two gradients made in one pass with a temporary of the calling thread's (libbprt only:
 * --standalone output, which keeps nothing between calls, makes each by separate calls):
 * cross-entropy and its gradient at once, each row's exponentials made once (vmath.c: the
 * same values as bprt_cross_entropy and bprt_ce_grad; d may be z); layer norm's affine
 * gradient (layers.c). */
#if !defined(BPRT_STANDALONE)
#define BPRT_DECLARE_FUSED_GRADS(T, SUF)                                                           \
    double bprt_cross_entropy_grad_##SUF(const T *z, const int32_t *y, size_t rows, size_t n, T scale, T *d); \
    void bprt_layernorm_affine_grad_##SUF(const T *x, const T *gy, const T *gamma, const T *add, size_t R, \
                                          size_t D, double eps, T *gx, T *dgamma, T *dbeta);
BPRT_DECLARE_FUSED_GRADS(float, f32)
BPRT_DECLARE_FUSED_GRADS(double, f64)
#endif

/* ---- memory (mem.c) ----------------------------------------------------------------- */
/* n bytes, zeroed, 64-byte aligned; from 1 MiB on 2 MiB-aligned and advised onto huge pages
 * (one page fault per 2 MiB instead of 512, fewer TLB misses). NULL if out of memory.
 * Release with free(). For workspaces, parameters and optimizer state. */
void *bprt_alloc(size_t n);

/* ---- threads ----------------------------------------------------------------------- */
/* Number of threads kernels use: BPRT_NUM_THREADS (digits alone, 1 to BPRT_MAX_THREADS), else
 * all cores (another value of it is reported on stderr, once, and not used). */
#define BPRT_MAX_THREADS 4096
int bprt_threads(void);
/* Runtime-internal: the team for a kernel of `work` units: bprt_threads() from `min` units
 * on, else 1; 1 inside a parallel region (a task of the runtime's pool, or the caller's own
 * OpenMP region: the caller is already one of its threads). */
int bprt_team(size_t work, size_t min);
void bprt_set_threads(int n);

/* ---- RNG: documented, portable, identical on every machine ---------------------------
 * splitmix64 over (seed, stream, index): element i of stream s under seed k is a pure
 * function of (k, s, i). Normals by Box-Muller in double from two consecutive uniforms. */
uint64_t bprt_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
double bprt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index); /* [0,1) */
double bprt_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);  /* N(0,1) */
/* Fills p[0..n) with N(0, std^2) / U[lo,hi) values of the stream (float and double). */
void bprt_fill_normal_f32(float *p, size_t n, double std, uint64_t seed, uint64_t stream);
void bprt_fill_normal_f64(double *p, size_t n, double std, uint64_t seed, uint64_t stream);
void bprt_fill_uniform_f32(float *p, size_t n, double lo, double hi, uint64_t seed,
                           uint64_t stream);
void bprt_fill_uniform_f64(double *p, size_t n, double lo, double hi, uint64_t seed,
                           uint64_t stream);

/* ---- errors from the file readers ----------------------------------------------------
 * Readers return 0 on success, -1 on failure with a message in err (NUL-terminated,
 * starting with the file name: "w.safetensors: header length 9999 exceeds file size 120"). */
#define BPRT_ERRLEN 512

/* ---- safetensors ---------------------------------------------------------------------
 * A whole file in memory: validated before anything is trusted (header length against the
 * file size, JSON syntax, known dtype, shape product * dtype size == end - begin with no
 * overflow, offsets within the data section, no overlap required but no out-of-range). */
typedef enum BprtDtype { BPRT_F32, BPRT_F64, BPRT_I32, BPRT_I64, BPRT_F16, BPRT_BF16,
                         BPRT_U8, BPRT_I8, BPRT_I16, BPRT_BOOL, BPRT_U16, BPRT_U32,
                         BPRT_U64 } BprtDtype;
#define BPRT_MAXDIMS 8
typedef struct BprtTensor {
    char *name;
    BprtDtype dtype;
    int ndim;
    int64_t shape[BPRT_MAXDIMS];
    int64_t count;      /* product of shape (1 for a scalar, ndim == 0) */
    const void *data;   /* into the file's data section (may be unaligned: copy out) */
} BprtTensor;
typedef struct BprtSafetensors {
    BprtTensor *tensors;
    int count;
    void *blob; /* file contents */
} BprtSafetensors;

int bprt_st_read(const char *path, BprtSafetensors *st, char err[BPRT_ERRLEN]);
/* Whether the first n bytes of a file begin as a safetensors file does: 8 bytes of header
 * length (at least 2) and the header's '{'. bprt_st_read says "not a safetensors file" of
 * one that does not and whose length the file cannot hold; bpc writes tensors over an
 * existing file only when it does with a header length bprt_st_read accepts (at most
 * BPRT_ST_HEADER_MAX: eight bytes of text read as a length are far more), so that a text file
 * whose ninth byte is '{' is not taken for one (one cut short, an interrupted copy, is one). */
#define BPRT_ST_HEADER_MAX (100u * 1024 * 1024)
int bprt_st_begins(const void *head, size_t n);
void bprt_st_free(BprtSafetensors *st);
const BprtTensor *bprt_st_find(const BprtSafetensors *st, const char *name);
/* Copies t's elements to out as double (any float/int dtype). */
void bprt_st_to_f64(const BprtTensor *t, double *out);
/* Writes tensors atomically: to PATH.tmp.<pid>, fsync, rename over path. `data[i]` holds
 * count(shape) elements of dtype[i]; names are written in the order given. */
typedef struct BprtTensorOut {
    const char *name;
    BprtDtype dtype;
    int ndim;
    int64_t shape[BPRT_MAXDIMS];
    const void *data;
} BprtTensorOut;
int bprt_st_write(const char *path, const BprtTensorOut *t, int count, char err[BPRT_ERRLEN]);
/* The file an atomic write of path goes to (bprt_st_write, bpc -o): PATH.tmp.<pid>, then
 * renamed over path; or path itself for a device, pipe or other non-regular file (/dev/null,
 * /dev/stdout, a FIFO), written in place, since renaming a temporary over it would replace
 * the device node itself. Sets *special to which; 0, or -1 if the name is too long. */
int bprt_temp_name(const char *path, char *tmp, size_t size, int *special);
/* The file path names after following symbolic links (each relative one beside its link;
 * a dangling link's target need not exist), so that an atomic write replaces that file and
 * not the link (as writing in place, gcc -o or torch.save, would). 0, or -1 if too long or
 * a loop. */
int bprt_resolve_links(const char *path, char *out, size_t size);
/* Gives fd, a temporary about to replace path, path's permission bits when path is a regular
 * file (a 0600 checkpoint stays 0600; the temporary has the umask's 0644). */
void bprt_keep_mode(const char *path, int fd);
/* Whether bprt_st_write could write path, tried before a long job (training) rather than
 * after it: path is not a directory, and the temporary file the write would use can be
 * created in path's directory (it is removed again; path itself is left as it is). */
int bprt_st_writable(const char *path, char err[BPRT_ERRLEN]);
const char *bprt_dtype_name(BprtDtype d); /* "F32", ... as safetensors spells them */
size_t bprt_dtype_size(BprtDtype d);

/* ---- IDX (MNIST family), gzipped or not ----------------------------------------------
 * Magic checked (0x00 0x00 type ndim), dims against the payload size, u8 payload only. */
typedef struct BprtIdx {
    int ndim;
    int64_t dims[4];
    int64_t count;     /* product of dims */
    unsigned char *data;
} BprtIdx;
int bprt_idx_read(const char *path, BprtIdx *idx, char err[BPRT_ERRLEN]);
void bprt_idx_free(BprtIdx *idx);

/* ---- data sets and an epoch of training over one (data.c) ----------------------------
 * A split: the training or the test part of a data set, IDX images and labels, or windows
 * of text. An epoch visits it in the order bprt_epoch_order draws from the seed, in
 * batches, the last one smaller when the batch does not divide the samples. What `bpc
 * train --data` runs; a program that embeds generated code can run the same epochs. */
typedef struct BprtSplit {
    BprtIdx images, labels;   /* IDX: one image and one label a sample */
    int64_t n;                /* samples: images, or windows of text (len / window for
                                 training, non-overlapping ones for testing) */
    int64_t pixels;           /* IDX: bytes of an image */
    const unsigned char *text; /* text: its bytes (NULL for IDX) */
    int64_t len, window;      /* text: bytes, and T, the bytes of a window */
    unsigned char *own;       /* the file's bytes, freed with this split */
    char ip[4096], lp[4096];  /* IDX: the images' and the labels' files, for messages */
} BprtSplit;
#define BPRT_TEXT_MAX_BYTES ((size_t)1 << 30) /* the most text bprt_split_text reads */
/* DIR/PREFIX-images-idx3-ubyte[.gz] and DIR/PREFIX-labels-idx1-ubyte[.gz] ("train" and
 * "t10k" for the MNIST family): images of 2 or more dimensions, one label each. */
int bprt_split_idx(const char *dir, const char *prefix, BprtSplit *s, char err[BPRT_ERRLEN]);
/* Whether the test images te have the training images' rows and columns (0), else -1. */
int bprt_split_same_pixels(const BprtSplit *tr, const BprtSplit *te, char err[BPRT_ERRLEN]);
/* The text of path (gunzipped when it is gzip; a device, or more than BPRT_TEXT_MAX_BYTES,
 * is an error), in windows of T bytes (1 <= T <= BPRT_TEXT_MAX_BYTES): the last 10% (rounded
 * down) is te, the rest tr. Both need T + 1 bytes; with classes > 0 every byte must be below
 * it ("outside the CLASSES WHAT" says the message; WHAT NULL: "classes"). tr owns the bytes,
 * which te's point into: te is not used once tr is freed. */
int bprt_split_text(const char *path, int64_t T, int64_t classes, const char *what, BprtSplit *tr, BprtSplit *te,
                    char err[BPRT_ERRLEN]);
void bprt_split_free(BprtSplit *s);
/* order[0 .. s->n): epoch's samples from seed, the same on every machine, for a split that
 * bprt_split_idx or bprt_split_text made. IDX: a
 * permutation (Fisher-Yates over RNG stream 0x5eed0000 + epoch); text: window offsets in
 * [0, len - T) (stream 0x7e470000 + epoch, index = the row of the epoch). */
void bprt_epoch_order(const BprtSplit *s, uint64_t seed, int epoch, int64_t *order);
/* Steps of an epoch at this batch: ceil(n / batch) (0 for a batch below 1). */
int64_t bprt_epoch_steps(const BprtSplit *s, int batch);
/* The n samples rows[] into x and y. IDX: x[n, pixels] floats (doubles if f64) of the
 * bytes / 255 (correctly rounded), y[n] the labels; text: x[n, T] and y[n, T] int32 bytes, y one further on. */
void bprt_split_batch(const BprtSplit *s, const int64_t *rows, int n, int f64, void *x, int32_t *y);
/* The progress bar on stderr: "\r  epoch E/EPOCHS [====>   ] STEP/STEPS loss L R samples/s ETA S". */
void bprt_progress(int epoch, int epochs, int64_t step, int64_t steps, double loss, double rate, double eta);

/* What a step of bprt_train_epoch returns: */
#define BPRT_STEP_COUNT 0   /* done: its loss counts in the epoch's mean */
#define BPRT_STEP_SKIPPED 1 /* done, its loss not counted (a non-finite one, skipped) */
#define BPRT_STEP_STOP 2    /* added to either: the epoch stops after this step */
#define BPRT_STEP_FAIL (-1) /* not done: the epoch stops now (the step said why) */
typedef struct BprtEpoch {
    const BprtSplit *split;
    int batch;
    int epoch, epochs;  /* this epoch (from 1) and how many the run has, for the bar */
    uint64_t seed;      /* the order's (bprt_epoch_order) */
    int64_t first;      /* the step to start at: 0, or where a resumed epoch stopped */
    int64_t *order;     /* room for split->n indices */
    void *x;            /* if set: each batch's samples into x and y (bprt_split_batch, */
    int32_t *y;         /* f64 for doubles) before its step; else the step fills them */
    int f64;
    int progress;       /* draw the bar on stderr, every 20 steps and at the last */
    /* step k of the epoch, on the n samples rows[0 .. n) (filled in x and y if set):
       *loss its loss; returns a BPRT_STEP_ value */
    int (*step)(void *ctx, int64_t k, const int64_t *rows, int n, double *loss);
    void *ctx;
    /* out: */
    int64_t next;           /* the step after the last done (steps per epoch: finished) */
    int64_t seen;           /* samples of the steps that count */
    double sum_loss;        /* their loss times their samples */
    double compute, wall;   /* seconds in the steps (and filling), and in all */
} BprtEpoch;
/* Runs epoch e->epoch from step e->first to the end (nothing from first >= the epoch's
 * steps) or a step's STOP, the outputs counted from zero; 0, or -1 when a step returned
 * BPRT_STEP_FAIL or another negative value (or, running nothing, when split, order or step
 * is missing, batch is below 1, first is negative, or x is set without y). The bar is
 * cleared at the end (not after a FAIL: the step's message stays under it). */
int bprt_train_epoch(BprtEpoch *e);

#ifdef __cplusplus
}
#endif
#endif
