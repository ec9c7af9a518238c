/* reduce.c — the data-movement kernels generated code calls most: sums along one axis
 * (bias gradients: a [B, N] adjoint summed over B; per-channel sums of conv outputs) and
 * batched transposes (a convolution's [B*P, O] GEMM result to NCHW and back).
 *
 * Legend: x viewed as [O, R, I] (outer, reduced, inner), y as [O, I]:
 *   y[o, i] = sum over r of x[o, r, i], accumulated in double in the order r = 0, 1, ...
 *   (I == 1: eight partial sums over r mod 8, added in a fixed order).
 * The order is fixed, so the result is the same for every thread count; inner columns are
 * processed in blocks so that the reads run along rows (unit stride) instead of down the
 * columns. */
#include <stddef.h>
#include <stdint.h>

#include "bprt.h"

enum { SUM_BLOCK = 128 }; /* double accumulators per block (1 KiB on the stack) */

#if defined(_OPENMP) && !defined(BPRT_STANDALONE)
enum { SUM_PAR_MIN = 1 << 15 }; /* elements read below which one thread sums */
static int sum_team(size_t work) { return bprt_team(work, SUM_PAR_MIN); }
#else
static int sum_team(size_t work) { (void)work; return 1; }
#endif

/* Work items: (o, block of SUM_BLOCK columns) pairs, or, when I == 1, rows o; each item is
 * summed whole by one thread in the documented order (I == 1: eight partial sums over r mod
 * 8 added in a fixed order), so the split does not change the values. */
#define DEFINE_SUM_AXIS(T, SUF)                                                                    \
    BPRT_CLONES static void sum_items_##SUF(const T *x, size_t R, size_t I, T *y, size_t w0, size_t w1) { \
        const size_t nblk = (I + SUM_BLOCK - 1) / SUM_BLOCK;                                       \
        for (size_t it = w0; it < w1; it++) {                                                      \
            if (I == 1) {                                                                          \
                const T *xo = x + it * R;                                                          \
                double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                            \
                size_t r = 0;                                                                      \
                for (; r + 8 <= R; r += 8)                                                         \
                    for (size_t l = 0; l < 8; l++) a[l] += (double)xo[r + l];                      \
                for (size_t l = 0; r < R; r++, l++) a[l] += (double)xo[r];                         \
                y[it] = (T)(((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])));    \
                continue;                                                                          \
            }                                                                                      \
            const size_t o = it / nblk, i0 = it % nblk * SUM_BLOCK;                                \
            const size_t w = I - i0 < SUM_BLOCK ? I - i0 : (size_t)SUM_BLOCK;                      \
            const T *xo = x + o * R * I;                                                           \
            double acc[SUM_BLOCK];                                                                 \
            for (size_t i = 0; i < w; i++) acc[i] = 0;                                             \
            for (size_t r = 0; r < R; r++) {                                                       \
                const T *row = xo + r * I + i0;                                                    \
                for (size_t i = 0; i < w; i++) acc[i] += (double)row[i];                           \
            }                                                                                      \
            for (size_t i = 0; i < w; i++) y[o * I + i0 + i] = (T)acc[i];                          \
        }                                                                                          \
    }                                                                                              \
    typedef struct {                                                                               \
        const T *x;                                                                                \
        size_t R, I;                                                                               \
        T *y;                                                                                      \
    } SumCall_##SUF;                                                                               \
    static void sum_task_##SUF(void *arg, size_t w0, size_t w1) {                                  \
        const SumCall_##SUF *a = (const SumCall_##SUF *)arg;                                       \
        sum_items_##SUF(a->x, a->R, a->I, a->y, w0, w1);                                           \
    }                                                                                              \
    void bprt_sum_axis_##SUF(const T *x, size_t O, size_t R, size_t I, T *y) {                     \
        const size_t items = I == 1 ? O : O * ((I + SUM_BLOCK - 1) / SUM_BLOCK);                   \
        SumCall_##SUF a = {x, R, I, y};                                                            \
        BPRT_SPLIT(items < 2 ? 1 : sum_team(O * R * I), items, sum_task_##SUF, &a);                \
    }

DEFINE_SUM_AXIS(float, f32)
DEFINE_SUM_AXIS(double, f64)

/* y[b, j, i] = x[b, i, j] for x [Bt, M, N]: in TR_TILE x TR_TILE tiles, so that both the
 * reads and the writes stay within a few cache lines per row. */
enum { TR_TILE = 32 };
#define DEFINE_TRANSPOSE(T, SUF)                                                                   \
    void bprt_transpose_##SUF(const T *x, size_t Bt, size_t M, size_t N, T *y) {                   \
        for (size_t b = 0; b < Bt; b++) {                                                          \
            const T *xb = x + b * M * N;                                                           \
            T *yb = y + b * M * N;                                                                 \
            for (size_t i0 = 0; i0 < M; i0 += TR_TILE)                                             \
                for (size_t j0 = 0; j0 < N; j0 += TR_TILE) {                                       \
                    const size_t i1 = i0 + TR_TILE < M ? i0 + TR_TILE : M;                         \
                    const size_t j1 = j0 + TR_TILE < N ? j0 + TR_TILE : N;                         \
                    for (size_t j = j0; j < j1; j++)                                               \
                        for (size_t i = i0; i < i1; i++) yb[j * M + i] = xb[i * N + j];            \
                }                                                                                  \
        }                                                                                          \
    }

DEFINE_TRANSPOSE(float, f32)
DEFINE_TRANSPOSE(double, f64)
