/* kernel_check.h — the sanitizer builds' (BPC_SANITIZE, BPC_FUZZ) check of every micro-kernel
 * call at its contract (kernel.h), included by gemm.c there alone.
 *
 * Instrumented, the per-ISA kernels (gemm_avx2.c, gemm_avx512.c) ran 10 to 25 times slower:
 * ASan checked each of their vector loads and UBSan each index, and they were 80% of a
 * sanitized training run. Those two files are built without instrumentation instead (no
 * ASan, and no UBSan either: CMakeLists.txt), and the driver calls each kernel of a set
 * through a wrapper here that
 * first checks, with ASan's shadow memory, that every byte the call may read or write by
 * its contract lies in live memory (__asan_region_is_poisoned over each operand's span,
 * first element to last), and that its sizes are within the set's tile: an out-of-bounds
 * operand aborts naming the kernel, the operand and the address (tests/test_runtime_gemm.c
 * checks that it does). What this does not see, and instrumentation did, is a kernel
 * reading outside its own contract within a live buffer; test_runtime_gemm's comparisons
 * against the reference product (gemm_ref.c) and its canaries around C are what check that.
 * The checked sets are filled by constructors of priority 101, before a program's own
 * constructors (which may call a GEMM) run. */
#ifndef BPRT_KERNEL_CHECK_H
#define BPRT_KERNEL_CHECK_H

#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>

/* bytes [p, p + n * size) live, else abort naming the kernel and operand */
static void kc_span(const char *kernel, const char *what, const void *p, ptrdiff_t n, size_t size)
{
    if (n <= 0)
        return;
    void *bad = __asan_region_is_poisoned((void *)p, (size_t)n * size);
    if (bad) {
        fprintf(stderr,
                "bprt: kernel %s: operand %s, %td elements of %zu bytes at %p, is outside live memory at %p\n",
                kernel, what, n, size, p, bad);
        __asan_describe_address(bad);
        abort();
    }
}

/* rows elements `len` long, `stride` apart (any stride for one row: bprt.h lets the leading
 * dimension of a matrix with one row be anything) */
static void kc_rows(const char *kernel, const char *what, const void *p, ptrdiff_t rows, ptrdiff_t stride,
                    ptrdiff_t len, size_t size)
{
    if (rows == 1)
        kc_span(kernel, what, p, len, size);
    else if (rows > 1 && len > 0) {
        if (stride < 0) {
            fprintf(stderr, "bprt: kernel %s: operand %s has a negative stride %td\n", kernel, what, stride);
            abort();
        }
        kc_span(kernel, what, p, (rows - 1) * stride + len, size);
    }
}

static void kc_sizes(const char *kernel, int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bprt: kernel %s: %s outside its contract\n", kernel, what);
        abort();
    }
}

/* a register tile's sizes (m <= mr, n <= nr), its B panel (K steps sb apart, each nr wide: full
 * vectors) and its block of C (m rows of n): tile's and tile_rows' operands but A */
static void kc_tile(const char *kernel, int mr, int nr, int m, int n, int K, const void *Bp, ptrdiff_t sb,
                    const void *C, ptrdiff_t ldc, size_t size)
{
    kc_sizes(kernel, m >= 0 && m <= mr && n >= 0 && n <= nr && K >= 0, "m, n or K");
    kc_rows(kernel, "B", Bp, K, sb, nr, size);
    kc_rows(kernel, "C", C, m, ldc, n, size);
}

/* KC_SET(T, KT, NAME, REAL): the checked set NAME (filled by NAME_fill) of the set REAL */
#define KC_SET(T, KT, NAME, REAL)                                                                             \
    static KT NAME;                                                                                           \
    static void NAME##_tile(int m, int n, int K, const T *Ap, ptrdiff_t sa, const T *Bp, ptrdiff_t sb, T *C,  \
                            ptrdiff_t ldc, T alpha, T beta)                                                   \
    {                                                                                                         \
        kc_tile(#REAL ".tile", REAL.mr, REAL.nr, m, n, K, Bp, sb, C, ldc, sizeof(T));                         \
        kc_rows(#REAL ".tile", "A", Ap, K, sa, m, sizeof(T)); /* K steps of m */                              \
        REAL.tile(m, n, K, Ap, sa, Bp, sb, C, ldc, alpha, beta);                                              \
    }                                                                                                         \
    static void NAME##_tile_rows(int m, int n, int K, const T *A, ptrdiff_t ra, const T *Bp, ptrdiff_t sb,    \
                                 T *C, ptrdiff_t ldc, T alpha, T beta)                                        \
    {                                                                                                         \
        kc_tile(#REAL ".tile_rows", REAL.mr, REAL.nr, m, n, K, Bp, sb, C, ldc, sizeof(T));                    \
        kc_rows(#REAL ".tile_rows", "A", A, m, ra, K, sizeof(T)); /* m rows of K */                           \
        REAL.tile_rows(m, n, K, A, ra, Bp, sb, C, ldc, alpha, beta);                                          \
    }                                                                                                         \
    static void NAME##_pack_t(int r, int kc, const T *src, ptrdiff_t lds, T *dst, int P)                      \
    {                                                                                                         \
        const char *k = #REAL ".pack_t";                                                                      \
        kc_sizes(k, r >= 0 && r <= P && kc >= 0, "r, kc or P");                                               \
        kc_rows(k, "src", src, r, lds, kc, sizeof(T));                                                        \
        kc_span(k, "dst", dst, (ptrdiff_t)kc * P, sizeof(T));                                                 \
        REAL.pack_t(r, kc, src, lds, dst, P);                                                                 \
    }                                                                                                         \
    static T NAME##_dot(int K, const T *x, const T *y)                                                        \
    {                                                                                                         \
        const char *k = #REAL ".dot";                                                                         \
        kc_span(k, "x", x, K, sizeof(T));                                                                     \
        kc_span(k, "y", y, K, sizeof(T));                                                                     \
        return REAL.dot(K, x, y);                                                                             \
    }                                                                                                         \
    static void NAME##_gemv(int n, int K, const T *x, const T *B, ptrdiff_t ldb, T *c)                        \
    {                                                                                                         \
        const char *k = #REAL ".gemv";                                                                        \
        kc_span(k, "x", x, K, sizeof(T));                                                                     \
        kc_rows(k, "B", B, K, ldb, n, sizeof(T));                                                             \
        kc_span(k, "c", c, n, sizeof(T));                                                                     \
        REAL.gemv(n, K, x, B, ldb, c);                                                                        \
    }                                                                                                         \
    static void NAME##_ger(int m, int n, T alpha, const T *a, ptrdiff_t sa, const T *b, T *C, ptrdiff_t ldc,  \
                           int acc)                                                                           \
    {                                                                                                         \
        const char *k = #REAL ".ger";                                                                         \
        kc_rows(k, "a", a, n > 0 ? m : 0, sa, 1, sizeof(T));                                                  \
        kc_span(k, "b", b, m > 0 ? n : 0, sizeof(T));                                                         \
        kc_rows(k, "C", C, m, ldc, n, sizeof(T));                                                             \
        REAL.ger(m, n, alpha, a, sa, b, C, ldc, acc);                                                         \
    }                                                                                                         \
    static void NAME##_rowdot(int m, int n, int K, const T *A, ptrdiff_t lda, const T *Bt, ptrdiff_t ldbt,    \
                              T *C, ptrdiff_t ldc, T alpha, T beta)                                           \
    {                                                                                                         \
        const char *k = #REAL ".rowdot";                                                                      \
        kc_sizes(k, m >= 0 && n >= 0 && n <= REAL.nr && K >= 0, "m, n or K");                                 \
        kc_rows(k, "A", A, n > 0 ? m : 0, lda, K, sizeof(T));                                                 \
        kc_rows(k, "Bt", Bt, m > 0 ? n : 0, ldbt, K, sizeof(T));                                              \
        kc_rows(k, "C", C, m, ldc, n, sizeof(T));                                                             \
        REAL.rowdot(m, n, K, A, lda, Bt, ldbt, C, ldc, alpha, beta);                                          \
    }                                                                                                         \
    static void NAME##_strips(int m, int n, int K, const T *A, ptrdiff_t si, ptrdiff_t sk, const T *B,        \
                              ptrdiff_t ldb, T *C, ptrdiff_t ldc, T alpha, int acc)                           \
    {                                                                                                         \
        const char *k = #REAL ".strips";                                                                      \
        kc_sizes(k, m >= 0 && n >= 0 && n % REAL.vl == 0 && K >= 0, "m, n or K");                             \
        if (m > 0 && n > 0 && K > 0) {                                                                        \
            kc_sizes(k, (m == 1 || si >= 0) && (K == 1 || sk >= 0), "a stride of A");                         \
            kc_span(k, "A", A, (m - 1) * si + (K - 1) * sk + 1, sizeof(T));                                   \
            kc_rows(k, "B", B, K, ldb, n, sizeof(T));                                                         \
        }                                                                                                     \
        kc_rows(k, "C", C, m, ldc, n, sizeof(T));                                                             \
        REAL.strips(m, n, K, A, si, sk, B, ldb, C, ldc, alpha, acc);                                          \
    }                                                                                                         \
    __attribute__((constructor(101))) static void NAME##_fill(void)                                           \
    {                                                                                                         \
        NAME = REAL;                                                                                          \
        NAME.tile = NAME##_tile;                                                                              \
        NAME.tile_rows = NAME##_tile_rows;                                                                    \
        NAME.pack_t = NAME##_pack_t;                                                                          \
        NAME.dot = NAME##_dot;                                                                                \
        NAME.gemv = NAME##_gemv;                                                                              \
        NAME.ger = NAME##_ger;                                                                                \
        NAME.rowdot = REAL.rowdot ? NAME##_rowdot : NULL;                                                     \
        NAME.strips = REAL.strips ? NAME##_strips : NULL;                                                     \
    }

KC_SET(float, BprtKernelF32, checked_f32_generic, bprt_kernel_f32_generic)
KC_SET(float, BprtKernelF32, checked_f32_avx2, bprt_kernel_f32_avx2)
KC_SET(float, BprtKernelF32, checked_f32_avx512, bprt_kernel_f32_avx512)
KC_SET(float, BprtKernelF32, checked_f32_avx512_narrow, bprt_kernel_f32_avx512_narrow)
KC_SET(double, BprtKernelF64, checked_f64_generic, bprt_kernel_f64_generic)
KC_SET(double, BprtKernelF64, checked_f64_avx2, bprt_kernel_f64_avx2)
KC_SET(double, BprtKernelF64, checked_f64_avx512, bprt_kernel_f64_avx512)
KC_SET(double, BprtKernelF64, checked_f64_avx512_narrow, bprt_kernel_f64_avx512_narrow)
#undef KC_SET

#endif
