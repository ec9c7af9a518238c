/* kernel.h — the internal contract between the GEMM driver (gemm.c) and the per-ISA
 * micro-kernel files (gemm_avx2.c, gemm_avx512.c, and the portable one inside gemm.c).
 *
 * A kernel set for one element type and one ISA provides:
 *   tile  — C[m,n] = alpha * Ap @ Bp + beta * C for one register tile, m <= mr, n <= nr.
 *           Ap is an A micro-panel: K steps sa elements apart, each holding m elements
 *           (Ap[k*sa + i], i < m; only those are read). Packed panels have sa == mr; an
 *           A stored transposed can be read in place with sa == lda. Bp is a B micro-panel:
 *           K steps sb elements apart (Bp[k*sb + j]); packed panels have sb == nr with
 *           columns past n zero-padded, a row-major B can be read in place with sb == ldb
 *           when n == nr (all nr columns exist). beta == 0 means C is not read.
 *   tile_rows — the same product with A row-major, read in place: row i's K elements
 *           contiguous, rows ra apart (A[i*ra + k]); the same operations in the same
 *           order as tile on the packed copy, so the same bits.
 *   pack_t — transposing copy for packing: dst[k*P + i] = src[i*lds + k] for i < r,
 *           k < kc; dst[k*P + i] = 0 for r <= i < P (r <= P).
 *   dot   — sum x[k]*y[k], k < K (both contiguous).
 *   gemv  — c[j] += sum x[k] * B[k*ldb + j], j < n, in the order k = 0..K-1
 *           (one multiply-add per k and element; c kept in registers).
 *   ger   — the rank-1 product C[i, j] = (alpha*a[i*sa]) * b[j], i < m, j < n, added to C
 *           when acc (one product, or one multiply-add, per element).
 *   rowdot — NULL, or C[i, j] = alpha * sum_k A[i*lda + k] * Bt[j*ldbt + k] + beta * C[i, j]
 *           for i < m, j < n <= nr (A and Bt row-major, read in place): each row of a product
 *           with few columns as n dot products, vectorised over k (lanes summed at the end),
 *           so a 10-column product does not pad 16-column tiles. beta == 0: C not read.
 *   strips — C[i, j] = alpha * sum_k A[i*si + k*sk] * B[k*ldb + j] (+ C[i, j] when acc),
 *           i < m, j < n, n a multiple of the vector length, B row-major read in place,
 *           for one block of K: the same operations per element as tile, so the same bits
 *           (m <= 4 rows against wide strips of B, or one row at a time for short K).
 * Packed panels are 64-byte aligned; C is arbitrary (unaligned loads/stores).
 * The CPU-dispatch choice (BprtIsa) lives in cpu.c; the driver indexes the tables below
 * with it. Not part of the public API (bprt.h). */
#ifndef BPRT_KERNEL_H
#define BPRT_KERNEL_H

#include <stddef.h>

/* Defined under AddressSanitizer: the driver then calls each kernel set through its checked
 * copy (kernel_check.h), the per-ISA kernels not being instrumented (CMakeLists.txt). */
#if defined(__SANITIZE_ADDRESS__)
#define BPRT_KERNEL_CHECKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BPRT_KERNEL_CHECKS 1
#endif
#endif

/* CPU instruction sets with their own kernels, weakest first. */
typedef enum BprtIsa {
    BPRT_ISA_GENERIC, /* portable C (GCC vector extensions, baseline SSE2 on x86-64) */
    BPRT_ISA_AVX2,    /* AVX2 + FMA3 */
    BPRT_ISA_AVX512,  /* AVX-512F + DQ */
    BPRT_ISA_COUNT
} BprtIsa;

/* The ISA chosen for this process (detected, BPRT_ISA or bprt_set_isa). */
BprtIsa bprt_isa_id(void);
/* The ISA for a BPRT_ISA of value (NULL: unset) on a CPU that runs the ISAs whose bits
 * (1u << BprtIsa) are set in runs (generic's always): value's ISA, in any case, if the CPU
 * runs it, else the strongest one it runs. *why: NULL when value was used, unset or empty,
 * else why it was not ("this CPU cannot run it"). bprt_isa_id's choice at first use. */
BprtIsa bprt_isa_choose(const char *value, unsigned runs, const char **why);

#define BPRT_KERNEL_SET(T, Name)                                                          \
    typedef struct Name {                                                                 \
        int mr, nr;                                                                       \
        void (*tile)(int m, int n, int K, const T *Ap, ptrdiff_t sa, const T *Bp,         \
                     ptrdiff_t sb, T *C, ptrdiff_t ldc, T alpha, T beta);                 \
        void (*tile_rows)(int m, int n, int K, const T *A, ptrdiff_t ra, const T *Bp,     \
                          ptrdiff_t sb, T *C, ptrdiff_t ldc, T alpha, T beta);            \
        void (*pack_t)(int r, int kc, const T *src, ptrdiff_t lds, T *dst, int P);        \
        T (*dot)(int K, const T *x, const T *y);                                          \
        void (*gemv)(int n, int K, const T *x, const T *B, ptrdiff_t ldb, T *c);           \
        void (*ger)(int m, int n, T alpha, const T *a, ptrdiff_t sa, const T *b, T *C,     \
                    ptrdiff_t ldc, int acc);                                               \
        void (*rowdot)(int m, int n, int K, const T *A, ptrdiff_t lda, const T *Bt,        \
                       ptrdiff_t ldbt, T *C, ptrdiff_t ldc, T alpha, T beta);              \
        void (*strips)(int m, int n, int K, const T *A, ptrdiff_t si, ptrdiff_t sk,        \
                       const T *B, ptrdiff_t ldb, T *C, ptrdiff_t ldc, T alpha, int acc);  \
        int vl; /* elements in a vector */                                                 \
    } Name;
BPRT_KERNEL_SET(float, BprtKernelF32)
BPRT_KERNEL_SET(double, BprtKernelF64)
#undef BPRT_KERNEL_SET

extern const BprtKernelF32 bprt_kernel_f32_generic, bprt_kernel_f32_avx2, bprt_kernel_f32_avx512;
extern const BprtKernelF64 bprt_kernel_f64_generic, bprt_kernel_f64_avx2, bprt_kernel_f64_avx512;
/* AVX-512 sets with one vector per tile row, for products of at most half the wide set's
 * columns (the driver's choice). */
extern const BprtKernelF32 bprt_kernel_f32_avx512_narrow;
extern const BprtKernelF64 bprt_kernel_f64_avx512_narrow;

/* The number of threads bprt_sgemm's tiles use for an M x N x K product (1 for a
 * matrix-vector product or inside a parallel region). */
int bprt_gemm_threads(int M, int N, int K);

/* A product with at most this many rows or this K (a batch of up to 4 samples: its forward
 * products, input gradients and weight updates) runs on one thread, and with a row-major B of
 * wide rows through strips: all of a layer's uses of W then stay on one core, where a split
 * (by columns in x @ W, by rows in g @ W^T) had each core read lines the other rewrote, about
 * 12 ns each on this VM. One sample (M or K = 1) has its own paths (gemv, ger, and the split
 * by rows of bprt_rows_team). fashion_mlp3's step at batch 2 and 4, SGD: 0.144 and 0.145 ->
 * 0.070 and 0.097 ms on 1 thread, 0.166 and 0.163 -> 0.075 and 0.093 on 2 (both had been
 * slower than 2 steps of batch 1); Adam on 2 threads 0.353 and 0.346 -> 0.151 and 0.167. */
#define BPRT_SMALL_BATCH 4

/* Threads that split the rows of a matrix of `bytes` used with a single row (one sample):
 * x @ W, its rank-1 update W += a b (optim.c) and g @ W^T each give thread t the same
 * contiguous rows [rows t / nt, rows (t + 1) / nt), so that a network's weights (more than
 * one core's L2 holds) stay in the cores' caches, half of each matrix in each, from step to
 * step. 1 below GEMV_OWN_MIN_BYTES (gemm.c) or inside a parallel region. */
int bprt_rows_team(size_t bytes);

/* The runtime's fork-join team (pool.c): fn(ctx, t, nt) for t = 0 .. nt-1, t = 0 on the
 * calling thread, the others on the pool's workers, or on the calling thread in id order
 * after its own when a worker has not started its member (or the workers keep missing
 * theirs); returns when all have. A member's work depends only on (t, nt), and a member may
 * wait only for members of lower ids. With nt <= 1, inside a task, or while another thread's
 * task runs, fn(ctx, 0, 1) here as one thread. */
typedef void (*BprtTaskFn)(void *ctx, int id, int nt);
void bprt_pool_run(int nt, BprtTaskFn fn, void *ctx);
/* The largest team bprt_pool_run makes (the caller and 255 workers) */
#define BPRT_POOL_MAX_TEAM 256
/* 1 on a pool worker and on a caller inside bprt_pool_run's task */
int bprt_pool_in_task(void);
/* Regions this process's callers have run alone because the workers kept missing theirs
 * (pool.c: alone); and the pool made a team again at the next region (tests: a task whose
 * member 0 waits for a higher member, which bprt_pool_run's contract does not allow, needs
 * the workers; nothing inside a task). */
long bprt_pool_alone_regions(void);
void bprt_pool_team_again(void);
/* 1 inside a parallel region: a pool task, or the caller's own OpenMP region; kernels then
 * run on the calling thread alone */
int bprt_in_parallel(void);

/* This thread's scratch buffer number `slot` (gemm.c: 64-byte aligned, at least `bytes`
 * long, kept between calls and grown as needed, its contents not kept across growth, freed
 * when the thread exits); NULL if out of memory. Slots 0-4 are the GEMM's own. */
enum {
    BPRT_SCRATCH_LAYERS = 5,  /* layers.c: layer norm's affine gradient's products */
    BPRT_SCRATCH_SUMS = 6,    /* layers.c: its column sums */
    BPRT_SCRATCH_ROWS = 7,    /* vmath.c: cross-entropy's loss per row */
    BPRT_SCRATCH_CAT = 8,     /* gemm_batch.c: the side-by-side operands */
    BPRT_SCRATCH_PRODUCT = 9, /* gemm_batch.c: a product whose softmax gradient overwrites it */
    BPRT_SCRATCH_SLOTS = 10
};
void *bprt_scratch(int slot, size_t bytes);
/* For tests of the kernels' ways without their buffers: from now on, growing a buffer of
 * a slot whose bit is set in `slots` fails as if out of memory (0: none fails). Only growth
 * fails: a thread whose buffers are already large enough keeps them. */
void bprt_scratch_fail(unsigned slots);
/* The scratch buffers of a thread, or of the pool's member t (1 <= t < BPRT_POOL_MAX_TEAM,
 * else NULL), which its worker uses and a caller that runs member t in its stead (pool.c) */
typedef struct BprtScratch BprtScratch;
BprtScratch *bprt_scratch_of_member(int t);
/* Makes s this thread's scratch buffers (NULL: its own); returns the ones it had (NULL: its own) */
BprtScratch *bprt_scratch_use(BprtScratch *s);
/* In a child of fork(): the members' buffers held by none (a parent's worker may have held
 * one when another thread forked; the child's workers are new) */
void bprt_scratch_after_fork(void);
/* A kernel's temporary of `bytes` in this thread's slot (5-9), NULL if out of memory, held
 * until BPRT_TEMP_DONE: a training step allocates nothing once one at its sizes has run (the
 * buffers stay as large as the largest call's). Each kernel has its own slot, as it holds
 * its temporary while the GEMM packs into slots 0-4; a slot taken again on this thread
 * before it is given back (a kernel calling another that takes the same) aborts. */
void *bprt_temp(int slot, size_t bytes);
void bprt_temp_done(int slot);
#define BPRT_TEMP(slot, bytes) bprt_temp((slot), (bytes))
#define BPRT_TEMP_DONE(slot, p) ((void)(p), bprt_temp_done(slot))

/* Largest mr*nr of any kernel set (the driver's edge-tile scratch is sized by it). */
#define BPRT_MAX_TILE (16 * 64)

#endif
