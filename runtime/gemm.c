/* gemm.c — bprt_sgemm and bprt_dgemm: CPU dispatch, packing, cache blocking, threading,
 * and the portable micro-kernels.
 *
 * The driver is written once in gemm_driver.h and instantiated here for float and double;
 * the micro-kernels are written once in gemm_tile.h and instantiated per ISA (portable
 * ones below with GCC vector extensions, 16-byte vectors, which any GCC/Clang target
 * lowers; AVX2 and AVX-512 ones in their own files built with the matching -m flags).
 * The kernel set is chosen per call from bprt_isa_id() (cpu.c).
 * Packing buffers are per-thread scratch that grows and is kept for the thread's life
 * (the pool's workers persist, so steady-state calls allocate nothing); it is not freed at
 * thread exit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#include "kernel.h"
#include "prefetch.h"

#if defined(BPRT_OPENBLAS)
/* -DBPC_OPENBLAS=ON (CMakeLists.txt): each product is OpenBLAS's (gemm_driver.h), one call
 * per thread of the runtime's pool on its block of C's rows or columns, each on one OpenMP
 * thread. (OpenBLAS's own OpenMP team beside the pool, both spinning between their regions on
 * 2 cores, made fashion_mlp's 2-thread steps at batches 16-256 take 4-13 ms instead of
 * 0.1-3.) The OpenMP OpenBLAS takes its team's size from the calling thread's
 * omp_get_max_threads() at each call. */
#include <cblas.h>
#include <omp.h>
/* one OpenMP thread for the calling thread's OpenBLAS call; what it had, to give back (an
   embedding program's own OpenMP loops keep theirs) */
static int blas_threads_enter(void)
{
    const int was = omp_get_max_threads();
    if (was != 1)
        omp_set_num_threads(1);
    return was;
}
static void blas_threads_leave(int was)
{
    if (omp_get_max_threads() != was)
        omp_set_num_threads(was);
}
#define BLAS_TRANS(t) ((t) ? CblasTrans : CblasNoTrans)
#endif

/* Tunables (bytes so one value serves float and double). */
#ifndef KC_MAX_BYTES
#define KC_MAX_BYTES 2048 /* kc <= 512 floats / 256 doubles: K = 784 is two blocks of 392 */
#endif
#ifndef MC_MAX_BYTES
#define MC_MAX_BYTES (512 * 1024) /* packed A block, kept in L2 */
#endif
#ifndef NC_MAX
#define NC_MAX 4096 /* columns of a packed B block */
#endif
#ifndef ROWS_OUTER_MAX_BYTES
/* A block of B (kc x nc) of at most this many bytes is walked whole for each row panel of
 * C, tile after tile along C's rows, rather than each column strip of B down all the row
 * panels: C's rows are then read and written in order, not 128 bytes in every 2 KiB. On
 * AMD Zen 4, 1 thread: an SGD update 784 x 512 with K = 16 (a batch-16 step's) 161 -> 156
 * us, its gradient 139 -> 134 us, 2048 x 512 x 128 (tiny_gpt's MLP) 2700 -> 2440-2540 us;
 * K = 64 and more within 1-3 %. (The same sums per tile: the order of tiles changes no bits.) */
#define ROWS_OUTER_MAX_BYTES (512 * 1024)
#endif
#define ROWS_OUTER(kc, nc) ((size_t)(kc) * (size_t)(nc) * sizeof(T) <= ROWS_OUTER_MAX_BYTES)
#ifndef GEMM_DIRECT_A_MAX_M
/* up to this many rows of C, a row-major A is not packed: a batch of 256 inputs x @ W1
 * (784 -> 256) reads x in place, 0.509 -> 0.494 ms on 1 thread and 0.331 -> 0.305 ms on 2
 * (in fashion_mlp's step; from 64 rows) */
#define GEMM_DIRECT_A_MAX_M 256
#endif
#ifndef GEMM_DIRECT_AT_MAX_M
/* ... and up to this many when B is transposed (A @ B^T: packing A would transpose it as
 * well): 512 x 64 x 256 (W2 @ g^T), 188 -> 221 GFLOP/s on 1 thread */
#define GEMM_DIRECT_AT_MAX_M 512
#endif
#define GEMM_ROWS_A(M, tB) ((M) <= GEMM_DIRECT_A_MAX_M || ((tB) && (M) <= GEMM_DIRECT_AT_MAX_M))
/* A @ B^T of at most this many rows and at least this many columns is computed transposed
 * (gemm_driver.h) */
#define GEMM_T_PRODUCT_MAX_M 64
#define GEMM_T_PRODUCT_MIN_N 128
#ifndef GEMM_DIRECT_B_MAX_M
/* up to this many rows of C, a row-major B is not packed (from 64: the weight gradients
 * h^T @ g of tiny_gpt, 128 x 512 x 2048, 2.53 -> 2.39-2.43 ms, and 128 x 256 x 2048, 1.23 ->
 * 1.18 ms, 1 thread, AMD Zen 4; 512 rows were slower read in place, 2.45 -> 2.57-2.69 ms) */
#define GEMM_DIRECT_B_MAX_M 256
#endif
#ifndef GEMM_AT_SWAP_MIN_K
#define GEMM_AT_SWAP_MIN_K 512 /* A^T B of this K or more computed as (B^T A)^T (gemm_driver.h) */
#endif
#ifndef GEMM_DIRECT_AB_MAX_M
/* ... and up to this many when A is row-major too (read in place as well, see above): the
 * batch-256 forward product x @ W1 (784 -> 256) no longer packs W1's 0.8 MB, 0.505 -> 0.493
 * ms on 1 thread in fashion_mlp's step */
#define GEMM_DIRECT_AB_MAX_M 256
#endif
#ifndef GEMM_B_ALIAS_BYTES
/* a row-major B whose row stride in bytes is a multiple of this is packed rather than read
   in place, under at least GEMM_B_ALIAS_MIN_M rows of C (gemm_driver.h) */
#define GEMM_B_ALIAS_BYTES 4096
#endif
#ifndef GEMM_B_ALIAS_MIN_M
#define GEMM_B_ALIAS_MIN_M 48
#endif
#ifndef GEMM_B_ALIAS2_MIN_M
/* ... and one whose stride is a multiple of half that (2 KiB: 512 floats) and of which the
   block reads only part of each row, under at least this many (gemm_driver.h) */
#define GEMM_B_ALIAS2_MIN_M 64
#endif
#ifndef GEMM_A_ALIAS_BYTES
/* an A stored transposed (its k steps rows of A) whose row stride in bytes is a multiple of
   this is packed rather than read in place (gemm_driver.h) */
#define GEMM_A_ALIAS_BYTES 2048
#endif
#ifndef GEMM_A_ALIAS_MIN_N
/* ... when this thread's block of C has at least this many columns */
#define GEMM_A_ALIAS_MIN_N 512
#endif
#ifndef GEMM_PREFETCH_B_MIN_BYTES
/* a B read in place down its column strips of at least this many bytes (K x N, more than L2
 * holds: it comes from L3 or memory) has each strip's rows fetched ahead into L2 while the
 * strip before runs (gemm_driver.h): tiny_gpt's weight gradient of p1, 128 x 512 x 2048 over
 * the GELU's 4 MB written in the forward pass, 2.61-2.72 -> 2.46-2.59 ms on 1 thread (AMD Zen
 * 4). Smaller ones are likelier warm (an MLP's W1, read in place by the forward product:
 * there the prefetches cost about 1%) */
#define GEMM_PREFETCH_B_MIN_BYTES ((size_t)2 << 20)
#endif
#ifndef GEMM_EP_PANEL_MIN_BYTES
/* a block of C of at least this many bytes has its epilogue run panel by panel, as each
 * panel's rows are finished (gemm_driver.h). tiny_gpt's gradient (profile_step, 3 rounds
 * interleaved with every block at once, quiet machine): its products with a 2 MB block, the
 * input gradient of the GELU layer (times GELU's derivative, the bias gradient summed)
 * 1.71-1.85 -> 1.53-1.54 ms on 1 thread and 0.95-1.00 -> 0.89 on 2, the forward x @ W1 + b1
 * 1.41-1.56 -> 1.36-1.37 and 0.71-0.77 -> 0.69; the gradient 18.99-21.12 -> 18.94-19.09 and
 * 10.89-11.49 -> 10.82-10.99 ms. Smaller blocks (the MLPs' 64 to 512 KB) stay whole: panel by
 * panel, fashion_mlp's SGD step at batch 64 on 2 threads took 0.211-0.226 ms against
 * 0.201-0.210. Not kept: the epilogue's rows fetched into L2 as each panel starts (the
 * products 0.1-0.3 ms slower on 1 thread) */
#define GEMM_EP_PANEL_MIN_BYTES ((size_t)1 << 20)
#endif
#ifndef GEMM_PREFETCH_C_MIN_BYTES
/* a C of at least this many bytes (more than L2 holds), written over (beta 0), has each
 * tile's next tile fetched for writing while the tile runs (gemm_driver.h): a write into a
 * line that is in no cache first reads it, and the buffers of a training step's large
 * products were last used a pass before, long out of cache. tiny_gpt's products with C of 1
 * to 4 MB on 1 thread (profile_step --fn grad, interleaved): the forward's x @ W1 with GELU
 * 2.67 -> 2.52 ms, the logits 1.33 -> 1.22, the GELU derivative's product 3.17 -> 3.03, the
 * whole gradient 31.7-32.2 -> 31.1-31.3 ms. (A prefetch of a tile's own rows at its start
 * came too late and cost: see gemm_tile.h.) */
#define GEMM_PREFETCH_C_MIN_BYTES ((size_t)1 << 20)
#endif
#define GEMM_MIN_FLOPS_PER_THREAD 4e5 /* below this per thread, use fewer threads */
/* Below this K a product is bound by writing C, not by its multiply-adds: for a C of up to
 * GEMM_SMALL_K_MAX_C elements (a quarter of one core's L2) a second thread measured no
 * faster at K = 10 and 32 (256 x 256, this machine), slower at 16, and in a training step
 * slower still (C's lines then move between the cores' caches). A larger C is split (the
 * limit was 128 Ki elements: fashion_mlp3's 512 x 256 update at batch 16 then ran on one
 * thread after its forward product had split W2 between both, so one core rewrote what the
 * other had read, 97 us against 25 on one thread; split, its SGD step on 2 threads went
 * 0.29 -> 0.26 ms). A batch-16 SGD step's
 * update of 784 x 256 weights, each thread keeping its half in its own cache from step to
 * step, measured 0.124 ms a step on 2 threads against 0.168 on one. Such a product splits
 * by columns (grid_split): the forward product x @ W of a small batch
 * splits W by columns, and the update W -= lr x^T g split by rows had each core rewrite the
 * half of W the other core had read (fashion_mlp at batch 16 on 2 threads: 0.123 -> 0.090
 * ms a step; fashion_mlp3 0.385 -> 0.335). */
#define GEMM_MIN_K_THREADS 32
/* A matrix-vector product x @ B^T with rows of B shorter than this (and B at most
 * GEMV_T_MAX elements) transposes B and runs gemv instead of a dot product per row: 256
 * rows of 10, 2 -> 0.3 us */
#define GEMV_T_MAX_K 32
/* A matrix of at least this many bytes used with a single row is split by rows between the
 * threads (bprt_rows_team), in x @ W, its rank-1 update and g @ W^T alike, so each core reads
 * and rewrites the same rows every step. fashion_mlp3's batch-1 Adam step on 2 threads (784
 * x 512 weights, 1.6 MB): 0.121 -> 0.100 ms (its update of W1 67 -> 48 us, Adam's m and v
 * split with it). A split update with x @ W on one thread had each core read the rows the
 * other rewrote, about 12 ns a line (0.12 -> 0.21 ms). It was 1 MiB while a parallel region
 * cost 3 us (OpenMP); with the runtime's pool (0.7 us) 512 KiB, so that W2 (0.5 MB) and
 * fashion_mlp's W1 (0.8 MB) are split too: on 2 threads, interleaved, fashion_mlp3's batch-1
 * Adam step 0.092-0.097 -> 0.084-0.088 ms (SGD the same), fashion_mlp's Adam step 0.042-0.046
 * -> 0.032 ms and its gradient 0.018 -> 0.013 ms, but its SGD step 0.011-0.013 -> 0.018 ms
 * (the forward product 5 -> 7 us: two blocks of columns handed between the threads). */
#ifndef GEMV_OWN_MIN_BYTES
#define GEMV_OWN_MIN_BYTES ((size_t)512 * 1024)
#endif
#if defined(__x86_64__) || defined(__i386__)
#define SPIN_PAUSE() __builtin_ia32_pause()
#else
#define SPIN_PAUSE() ((void)0)
#endif
#define GEMV_T_MAX (64 * 1024)
#ifndef GEMM_SMALL_K_MAX_C
#define GEMM_SMALL_K_MAX_C (64.0 * 1024)
#endif
/* From this K, a product with at most a narrow tile's columns and a row-major A goes
 * through rowdot (dot products over rows, kernel.h) where the kernel set has one */
#define GEMM_ROWDOT_MIN_K 64
/* From this M, A^T B with at most a narrow tile's columns is computed transposed on wide
 * tiles (gemm_driver.h) */
#define GEMM_NARROW_T_MIN_M 32
/* Both narrow paths (rowdot, A^T B transposed) stay on one thread below this many FLOPs: on
 * two, 256 x 10 x 256 took 8.6 us against 6.7 (A^T B) and 10.5 against 7.1 (rowdot) */
#define GEMM_NARROW_MIN_FLOPS_THREADS 4e6

enum { SCRATCH_SLOTS = BPRT_SCRATCH_SLOTS }; /* 0-4 the GEMM's, the others kernel.h's BPRT_SCRATCH_* */
/* Packed-operand reuse, on only for the length of one bprt_?gemm_batch call on a thread
 * (gemm_batch.c), in which no operand changes, or for A alone in a convolution's image loop
 * (conv.c: the weights): the last A block (bit 0 of the mode) and B block (bit 1) packed
 * into these buffers, keyed by everything their contents depend on. A batch whose products
 * share an operand (one token block against each head's weights) packs it once. */
typedef struct PackKey {
    const void *src, *buf, *kr;
    ptrdiff_t ld;
    int trans, r0, rn, c0, cn, size;
} PackKey;
struct BprtScratch {
    struct {
        void *p;
        size_t cap;
    } slot[SCRATCH_SLOTS];
    unsigned temp_taken; /* bit s: slot s held by a kernel (bprt_temp) */
    int pack_reuse;      /* the packed-operand reuse's mode and keys (above), kept with the
                            buffers they describe, whichever thread uses them */
    PackKey pack_key[2];
};
/* A thread's own buffers; the pool's member t >= 1 uses member_scratch[t] instead, on its
 * worker or on the caller that runs it (pool.c), so that which thread runs a member does not
 * change what is allocated: a step allocates nothing once one has run. */
static _Thread_local BprtScratch own_scratch;
static _Thread_local BprtScratch *cur_scratch; /* NULL: own_scratch */
static BprtScratch member_scratch[BPRT_POOL_MAX_TEAM];

BprtScratch *bprt_scratch_of_member(int t)
{
    return t >= 1 && t < BPRT_POOL_MAX_TEAM ? &member_scratch[t] : NULL;
}

void bprt_scratch_after_fork(void)
{
    /* forgotten, not freed: a worker of the parent may have been between a free and the
       assignment after it (the child's copies leak, as its workers' own buffers did) */
    memset(member_scratch, 0, sizeof member_scratch);
}

BprtScratch *bprt_scratch_use(BprtScratch *s)
{
    BprtScratch *was = cur_scratch;
    cur_scratch = s;
    return was;
}

static BprtScratch *scratch_table(void)
{
    return cur_scratch ? cur_scratch : &own_scratch;
}

/* A thread's own buffers are freed when it exits (a pthread key's destructor): a caller's
 * own threads may come and go, each having packed into its own. The members' live as long as
 * the process (the pool's workers never exit). */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_release(void *unused)
{
    (void)unused;
    for (int i = 0; i < SCRATCH_SLOTS; i++) {
        free(own_scratch.slot[i].p);
        own_scratch.slot[i].p = NULL;
        own_scratch.slot[i].cap = 0;
    }
}

static void scratch_make_key(void)
{
    if (pthread_key_create(&scratch_key, scratch_release) != 0)
        abort(); /* out of keys at startup: nothing sensible to continue with */
}

/* Tests' stand-in for an allocator out of memory (bprt_scratch_fail) */
static unsigned scratch_fail_slots;

void bprt_scratch_fail(unsigned slots)
{
    __atomic_store_n(&scratch_fail_slots, slots, __ATOMIC_RELAXED);
}

/* This thread's buffer number `slot` (its member's, in a pool task), 64-byte aligned, at
 * least `bytes` long (contents not kept across growth); NULL if out of memory. */
static void *scratch(int slot, size_t bytes)
{
    BprtScratch *t = scratch_table();
    if (bytes > t->slot[slot].cap) {
        if (t == &own_scratch) { /* this thread's first buffer: have them freed at its exit */
            int first = 1;
            for (int i = 0; i < SCRATCH_SLOTS; i++)
                first &= t->slot[i].p == NULL;
            if (first) {
                pthread_once(&scratch_once, scratch_make_key);
                pthread_setspecific(scratch_key, t);
            }
        }
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        void *p = __atomic_load_n(&scratch_fail_slots, __ATOMIC_RELAXED) >> slot & 1u ? NULL : aligned_alloc(64, cap);
        if (!p)
            return NULL;
        free(t->slot[slot].p);
        t->slot[slot].p = p;
        t->slot[slot].cap = cap;
    }
    return t->slot[slot].p;
}

void *bprt_scratch(int slot, size_t bytes)
{
    return scratch(slot, bytes);
}

void *bprt_temp(int slot, size_t bytes)
{
    BprtScratch *t = scratch_table();
    if (t->temp_taken >> slot & 1u)
        abort(); /* two kernels in one call chain share a slot: a runtime bug */
    void *p = scratch(slot, bytes);
    if (p)
        t->temp_taken |= 1u << slot;
    return p;
}

void bprt_temp_done(int slot)
{
    scratch_table()->temp_taken &= ~(1u << slot);
}

void bprt_gemm_reuse_packs(int mode)
{
    BprtScratch *t = scratch_table();
    t->pack_reuse = mode;
    memset(t->pack_key, 0, sizeof t->pack_key);
}

/* 1 if slot's buffer already holds the block k describes; else records k (the caller packs) */
static int pack_cached(int slot, const PackKey *k)
{
    BprtScratch *t = scratch_table();
    if (!(t->pack_reuse >> slot & 1))
        return 0;
    PackKey *o = &t->pack_key[slot];
    if (o->src == k->src && o->buf == k->buf && o->kr == k->kr && o->ld == k->ld && o->trans == k->trans &&
        o->r0 == k->r0 && o->rn == k->rn && o->c0 == k->c0 && o->cn == k->cn && o->size == k->size)
        return 1;
    *o = *k;
    return 0;
}

/* Threads for a product of tiles_m x tiles_n tiles, M x N x K (before the K == 1 path and
 * bprt_in_parallel, which the driver checks itself). */
static int gemm_team(int tiles_m, int tiles_n, int M, int N, int K)
{
    double flops = 2.0 * M * N * K;
    int nt = bprt_threads();
    if (M <= BPRT_SMALL_BATCH || K <= BPRT_SMALL_BATCH)
        return 1; /* a small batch's products on one core (kernel.h) */
    if (K < GEMM_MIN_K_THREADS && (double)M * N <= GEMM_SMALL_K_MAX_C)
        return 1;
    if (flops < (double)nt * GEMM_MIN_FLOPS_PER_THREAD)
        nt = (int)(flops / GEMM_MIN_FLOPS_PER_THREAD);
    if (nt > tiles_m * tiles_n)
        nt = tiles_m * tiles_n;
    return nt;
}

/* Chooses tm x tn == nth cutting a tiles_m x tiles_n grid of mr x nr tiles, minimising
 * the largest part's work: its C area plus the packing of its A rows (none when A is read in
 * place, a_in_place) and B columns; a product with K < GEMM_MIN_K_THREADS by rows
 * whenever it has a row of tiles per thread (see there). Without A's packing in the
 * cost, a layer's weight update W -= lr x^T g (x^T read in place) splits W by columns as
 * the forward product x @ W did, so each core rewrites the columns it read (by rows, each
 * core rewrote half of the other's): the 784 x 256 x 256 update in fashion_mlp's batch-256
 * step on 2 threads, 0.284 -> 0.258 ms; fashion_mlp3's 784 x 512, 0.55 -> 0.50 ms.
 *
 * GEMM_EP_ROWS (ep_rows, which the driver sets): an input gradient's product g @ W^T
 * (transB) with an epilogue splits by rows instead. Split by columns, each thread's
 * epilogue reads its part of every row of C, and the core's prefetcher runs on into the
 * other part, which the other core is writing: 256 x 512 x 256 with relu' on 2 threads
 * took 272 us against 183 for the product alone, and 197 by rows (fashion_mlp3's batch-256
 * SGD step, its g @ W2^T 0.32 -> 0.26 ms). Not for x @ W (tB = 0): W's update is split by columns as that product was,
 * and by rows each core reads all of W and then rewrites half (fashion_mlp's batch-64 step,
 * the update of W1 0.081 -> 0.137 ms). */
static void grid_split(int tiles_m, int tiles_n, int mr, int nr, int K, int a_in_place, int ep_rows, int nth,
                       int *tm, int *tn)
{
    double best = -1;
    *tm = 1;
    *tn = nth;
    if (K < GEMM_MIN_K_THREADS && tiles_m >= nth) {
        /* a small batch's weight gradient or update: by rows, each thread's rows of C
           contiguous. Split by columns (as x @ W splits W), each core's half took 1 KiB of
           every 2 KiB row, which maps onto half of its L2's sets: 784 x 512 x 16 on 2
           threads, the SGD update 123 -> 78 us and the gradient 90 -> 69 us by rows, and
           fashion_mlp3's batch-16 SGD step 0.26 -> 0.23 ms (0.74-0.77 -> 0.52 ms while the
           VM's second core was slow) on AMD Zen 4. (On the earlier Intel VM the column
           split had measured faster, fashion_mlp's batch-16 SGD step 0.123 -> 0.090 ms: a
           choice to measure again on another machine.) */
        *tm = nth;
        *tn = 1;
        return;
    }
    if (ep_rows && K >= GEMM_MIN_K_THREADS && tiles_m >= nth) { /* GEMM_EP_ROWS */
        *tm = nth;
        *tn = 1;
        return;
    }
    for (int a = 1; a <= nth; a++) {
        if (nth % a)
            continue;
        int b = nth / a;
        double rows = (double)((tiles_m + a - 1) / a) * mr;
        double cols = (double)((tiles_n + b - 1) / b) * nr;
        double cost = rows * cols + 8.0 * ((a_in_place ? 0 : rows) + cols);
        if (best < 0 || cost < best) {
            best = cost;
            *tm = a;
            *tn = b;
        }
    }
}

/* ---- portable micro-kernels ---------------------------------------------------------- */
typedef float VecF32 __attribute__((vector_size(16)));
typedef double VecF64 __attribute__((vector_size(16)));

static inline VecF32 loadu_f32(const float *p)
{
    VecF32 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline VecF64 loadu_f64(const double *p)
{
    VecF64 v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define T float
#define VEC VecF32
#define VL 4
#define MR 4
#define NV 2
#define VZERO() ((VecF32){0})
#define VLOADU(p) loadu_f32(p)
#define VSTOREU(p, v) memcpy((p), (VecF32[1]){v}, sizeof(VecF32))
#define VBCAST(x) ((VecF32){0} + (x))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VMUL(a, b) ((a) * (b))
#define KSET bprt_kernel_f32_generic
#define KTYPE BprtKernelF32
#define KPREFIX(x) generic_f32_##x
#include "gemm_tile.h"

#define T double
#define VEC VecF64
#define VL 2
#define MR 4
#define NV 2
#define VZERO() ((VecF64){0})
#define VLOADU(p) loadu_f64(p)
#define VSTOREU(p, v) memcpy((p), (VecF64[1]){v}, sizeof(VecF64))
#define VBCAST(x) ((VecF64){0} + (x))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VMUL(a, b) ((a) * (b))
#define KSET bprt_kernel_f64_generic
#define KTYPE BprtKernelF64
#define KPREFIX(x) generic_f64_##x
#include "gemm_tile.h"

/* ---- the two drivers ----------------------------------------------------------------- */
/* Under AddressSanitizer the driver calls each kernel set through its checked copy
 * (kernel_check.h): every call's operands checked against live memory at the call, the
 * per-ISA kernels themselves not instrumented (CMakeLists.txt). */
#ifdef BPRT_KERNEL_CHECKS
#include "kernel_check.h"
#define KSET_OF(type_isa) (&checked_##type_isa)
#else
#define KSET_OF(type_isa) (&bprt_kernel_##type_isa)
#endif
static const BprtKernelF32 *const kernels_f32[BPRT_ISA_COUNT] = {
    [BPRT_ISA_GENERIC] = KSET_OF(f32_generic),
    [BPRT_ISA_AVX2] = KSET_OF(f32_avx2),
    [BPRT_ISA_AVX512] = KSET_OF(f32_avx512),
};
static const BprtKernelF64 *const kernels_f64[BPRT_ISA_COUNT] = {
    [BPRT_ISA_GENERIC] = KSET_OF(f64_generic),
    [BPRT_ISA_AVX2] = KSET_OF(f64_avx2),
    [BPRT_ISA_AVX512] = KSET_OF(f64_avx512),
};

/* Narrow sets where an ISA has them (NULL: the wide set serves every N). */
static const BprtKernelF32 *const kernels_f32_narrow[BPRT_ISA_COUNT] = {
    [BPRT_ISA_AVX512] = KSET_OF(f32_avx512_narrow),
};
static const BprtKernelF64 *const kernels_f64_narrow[BPRT_ISA_COUNT] = {
    [BPRT_ISA_AVX512] = KSET_OF(f64_avx512_narrow),
};
#undef KSET_OF

/* The kernel set for N columns: the narrow one when N fits in half a wide tile's columns
 * and the ISA has one (a 10-wide product on 14 x 32 tiles computes 22 padded columns of
 * every 32; on 16 x 16 tiles, 6 of 16). */
#define KERNEL_FOR(wide, narrow, N)                                                          \
    (narrow[bprt_isa_id()] && 2 * (N) <= wide[bprt_isa_id()]->nr ? narrow[bprt_isa_id()]    \
                                                                 : wide[bprt_isa_id()])

#define T float
#define KTYPE BprtKernelF32
#define KTABLE kernels_f32
#define KNARROW kernels_f32_narrow
#define FN bprt_sgemm
#define FNEW bprt_sgemm_ew
#define FNSUM bprt_sgemm_ew_sum
#define FNTRI bprt_sgemm_tri
#define SUMAXIS bprt_sum_axis_f32
#define EWROWS bprt_ew_rows_f32
#define BLAS_GEMM cblas_sgemm
#define DPREFIX(x) sgemm_##x
#include "gemm_driver.h"

#define T double
#define KTYPE BprtKernelF64
#define KTABLE kernels_f64
#define KNARROW kernels_f64_narrow
#define FN bprt_dgemm
#define FNEW bprt_dgemm_ew
#define FNSUM bprt_dgemm_ew_sum
#define FNTRI bprt_dgemm_tri
#define SUMAXIS bprt_sum_axis_f64
#define EWROWS bprt_ew_rows_f64
#define BLAS_GEMM cblas_dgemm
#define DPREFIX(x) dgemm_##x
#include "gemm_driver.h"

const char *bprt_gemm_backend(void)
{
#if defined(BPRT_OPENBLAS)
    return "openblas";
#else
    return "bpc";
#endif
}

#if defined(BPRT_OPENBLAS)
static char blas_config[320];
static void blas_config_make(void)
{
    const int par = openblas_get_parallel(); /* 0 sequential, 1 pthreads, 2 OpenMP */
    snprintf(blas_config, sizeof blas_config, "%s; %s kernels; %s", openblas_get_config(), openblas_get_corename(),
             par == 2   ? "OpenMP threads"
             : par == 1 ? "pthreads: its own thread count, not BPRT_NUM_THREADS"
                        : "sequential");
}
#endif

const char *bprt_gemm_config(void)
{
#if defined(BPRT_OPENBLAS)
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, blas_config_make);
    return blas_config;
#else
    return bprt_isa();
#endif
}

int bprt_rows_team(size_t bytes)
{
    return bprt_team(bytes, GEMV_OWN_MIN_BYTES);
}

int bprt_gemm_threads(int M, int N, int K)
{
    if (M <= 1 || N <= 1 || K <= 0 || bprt_in_parallel())
        return 1;
    const BprtKernelF32 *kr = KERNEL_FOR(kernels_f32, kernels_f32_narrow, N);
    int nt = gemm_team((M + kr->mr - 1) / kr->mr, (N + kr->nr - 1) / kr->nr, M, N, K);
    return nt < 1 ? 1 : nt;
}
