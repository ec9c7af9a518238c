/* gemm_ref.c — the portable reference GEMM that --standalone output carries.
 *
 * Plain C99, no threads, no intrinsics: loops ordered so that the inner loop runs along
 * contiguous rows of B and C, which gcc and clang vectorise at -O2/-O3. Same contract as
 * bprt_sgemm/bprt_dgemm in bprt.h (row-major, transposes, alpha, beta == 0 ignores C).
 * libbprt itself uses the packed, register-blocked kernels in gemm*.c. */
#include <stddef.h>

#include "bprt.h"

#define DEFINE_GEMM_REF(T, NAME)                                                                     \
    /* with a triangle (bprt.h's BPRT_TRI_*): row i's terms over k in [lo, hi) only, and for      \
       BPRT_TRI_C_LOWER the row's entries right of the diagonal 0 */                               \
    void NAME##_tri(int tri, int transA, int transB, int M, int N, int K, T alpha, const T *A, int lda, \
                    const T *B, int ldb, T beta, T *C, int ldc) {                                    \
        for (int i = 0; i < M; i++) {                                                                \
            T *c = C + (size_t)i * (size_t)ldc;                                                      \
            const int lo = tri == BPRT_TRI_A_UPPER ? i : 0;                                          \
            const int hi = tri == BPRT_TRI_A_LOWER && i + 1 < K ? i + 1 : K;                         \
            for (int j = 0; j < N; j++) c[j] = beta == 0 ? (T)0 : beta * c[j];                       \
            for (int k = lo; k < hi; k++) {                                                          \
                T a = alpha * (transA ? A[(size_t)k * (size_t)lda + (size_t)i] : A[(size_t)i * (size_t)lda + (size_t)k]); \
                if (!transB) {                                                                       \
                    const T *b = B + (size_t)k * (size_t)ldb;                                        \
                    for (int j = 0; j < N; j++) c[j] += a * b[j];                                    \
                } else {                                                                             \
                    for (int j = 0; j < N; j++) c[j] += a * B[(size_t)j * (size_t)ldb + (size_t)k];  \
                }                                                                                    \
            }                                                                                        \
            if (tri == BPRT_TRI_C_LOWER)                                                             \
                for (int j = i + 1; j < N; j++) c[j] = 0;                                            \
        }                                                                                            \
    }                                                                                                \
    void NAME(int transA, int transB, int M, int N, int K, T alpha, const T *A, int lda, const T *B, \
              int ldb, T beta, T *C, int ldc) {                                                      \
        NAME##_tri(BPRT_TRI_NONE, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);      \
    }

void bprt_gemm_reuse_packs(int mode) { (void)mode; } /* nothing is packed here */

DEFINE_GEMM_REF(float, bprt_sgemm)
DEFINE_GEMM_REF(double, bprt_dgemm)
