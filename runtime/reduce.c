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
#include <math.h>
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

/* ---- max, logsumexp, softmax and log_softmax along the middle axis of [O, R, I] ---------
 * What the generated code computed column by column (i inner, one column's R values I apart),
 * blocked as the sums are: AX_BLOCK columns at a time, each pass over their R rows reading
 * runs along rows, and the exponentials made a row of the block at a time by bprt_exp (one
 * column at a time, the reads went down the columns, a cache line per value, and an exp call
 * per value: logsumexp over either axis of [2048, 2048] took 0.2-0.3 s on one thread). With
 * I == 1 an item is a row, its exponentials made AX_BLOCK at a time. The same operations in
 * the same order per column as the generated loops:
 *   m = x[0], then each later x replaces it when greater (max and logsumexp: or NaN, so a NaN
 *   anywhere is the maximum, as PyTorch's; softmax: only when greater);
 *   s = the sum in double, in the order r = 0, 1, ..., of e_r = exp(x_r - m) (bprt_exp);
 *   logsumexp m + log s (m itself where m is infinite); softmax e_r / s; log_softmax
 *   (x_r - m) - log s.
 * y is [O, I] for the reductions and [O, R, I] for softmax and log_softmax, which may write
 * over x. Items (o, block) or rows o are split between threads; each is computed whole by one,
 * so the values do not depend on the thread count. */
enum { AX_MAX, AX_LSE, AX_SOFTMAX, AX_LOG_SOFTMAX };
enum { AX_BLOCK = 128 };
#define DEFINE_AXIS_OPS(T, SUF)                                                                    \
    /* row xr of R values (I == 1) */                                                              \
    static void axis_row_##SUF(int op, const T *xr, size_t R, T *yr) {                             \
        T m = xr[0], e[AX_BLOCK];                                                                  \
        for (size_t r = 1; r < R; r++)                                                             \
            if (xr[r] > m || (op != AX_SOFTMAX && xr[r] != xr[r])) m = xr[r];                      \
        if (op == AX_MAX || (op == AX_LSE && isinf(m))) {                                          \
            yr[0] = m;                                                                             \
            return;                                                                                \
        }                                                                                          \
        double acc = 0;                                                                            \
        for (size_t r0 = 0; r0 < R; r0 += AX_BLOCK) {                                              \
            const size_t w = R - r0 < AX_BLOCK ? R - r0 : (size_t)AX_BLOCK;                        \
            for (size_t k = 0; k < w; k++) e[k] = xr[r0 + k] - m;                                  \
            bprt_exp_##SUF(e, e, w);                                                               \
            for (size_t k = 0; k < w; k++) {                                                       \
                if (op == AX_SOFTMAX) yr[r0 + k] = e[k];                                           \
                acc += (double)e[k];                                                               \
            }                                                                                      \
        }                                                                                          \
        if (op == AX_LSE) yr[0] = m + (T)log(acc);                                                 \
        else if (op == AX_SOFTMAX)                                                                 \
            for (size_t r = 0; r < R; r++) yr[r] = (T)((double)yr[r] / acc);                       \
        else {                                                                                     \
            const T ls = (T)log(acc);                                                              \
            for (size_t r = 0; r < R; r++) yr[r] = (xr[r] - m) - ls;                               \
        }                                                                                          \
    }                                                                                              \
    /* w <= AX_BLOCK columns from xo, rows I apart; the reductions write w values at yo, the       \
       others w columns of R rows I apart */                                                       \
    BPRT_CLONES static void axis_block_##SUF(int op, const T *xo, size_t R, size_t I, size_t w, T *yo) { \
        T m[AX_BLOCK], e[AX_BLOCK];                                                                \
        double acc[AX_BLOCK];                                                                      \
        for (size_t i = 0; i < w; i++) m[i] = xo[i];                                               \
        for (size_t r = 1; r < R; r++) {                                                           \
            const T *row = xo + r * I;                                                             \
            if (op == AX_SOFTMAX)                                                                  \
                for (size_t i = 0; i < w; i++) m[i] = row[i] > m[i] ? row[i] : m[i];               \
            else                                                                                   \
                for (size_t i = 0; i < w; i++) m[i] = row[i] > m[i] || row[i] != row[i] ? row[i] : m[i]; \
        }                                                                                          \
        if (op == AX_MAX) {                                                                        \
            for (size_t i = 0; i < w; i++) yo[i] = m[i];                                           \
            return;                                                                                \
        }                                                                                          \
        for (size_t i = 0; i < w; i++) acc[i] = 0;                                                 \
        for (size_t r = 0; r < R; r++) {                                                           \
            const T *row = xo + r * I;                                                             \
            for (size_t i = 0; i < w; i++) e[i] = row[i] - m[i];                                   \
            bprt_exp_##SUF(e, e, w);                                                               \
            if (op == AX_SOFTMAX) {                                                                \
                T *dst = yo + r * I;                                                               \
                for (size_t i = 0; i < w; i++) dst[i] = e[i];                                      \
            }                                                                                      \
            for (size_t i = 0; i < w; i++) acc[i] += (double)e[i];                                 \
        }                                                                                          \
        if (op == AX_LSE) {                                                                        \
            for (size_t i = 0; i < w; i++) yo[i] = isinf(m[i]) ? m[i] : m[i] + (T)log(acc[i]);     \
        } else if (op == AX_SOFTMAX) {                                                             \
            for (size_t r = 0; r < R; r++) {                                                       \
                T *dst = yo + r * I;                                                               \
                for (size_t i = 0; i < w; i++) dst[i] = (T)((double)dst[i] / acc[i]);              \
            }                                                                                      \
        } else {                                                                                   \
            for (size_t i = 0; i < w; i++) e[i] = (T)log(acc[i]);                                  \
            for (size_t r = 0; r < R; r++) {                                                       \
                const T *row = xo + r * I;                                                         \
                T *dst = yo + r * I;                                                               \
                for (size_t i = 0; i < w; i++) dst[i] = (row[i] - m[i]) - e[i];                    \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    typedef struct {                                                                               \
        int op;                                                                                    \
        const T *x;                                                                                \
        size_t R, I;                                                                               \
        T *y;                                                                                      \
    } AxisCall_##SUF;                                                                              \
    static void axis_task_##SUF(void *arg, size_t w0, size_t w1) {                                 \
        const AxisCall_##SUF *a = (const AxisCall_##SUF *)arg;                                     \
        const size_t R = a->R, I = a->I, nblk = (I + AX_BLOCK - 1) / AX_BLOCK;                     \
        const int red = a->op == AX_MAX || a->op == AX_LSE; /* y is [O, I] */                      \
        for (size_t it = w0; it < w1; it++) {                                                      \
            if (I == 1) {                                                                          \
                axis_row_##SUF(a->op, a->x + it * R, R, a->y + (red ? it : it * R));               \
                continue;                                                                          \
            }                                                                                      \
            const size_t o = it / nblk, i0 = it % nblk * AX_BLOCK;                                 \
            const size_t w = I - i0 < AX_BLOCK ? I - i0 : (size_t)AX_BLOCK;                        \
            axis_block_##SUF(a->op, a->x + o * R * I + i0, R, I, w, a->y + (red ? o * I : o * R * I) + i0); \
        }                                                                                          \
    }                                                                                              \
    static void axis_op_##SUF(int op, const T *x, size_t O, size_t R, size_t I, T *y) {            \
        if (R == 0) { /* a symbolic size of 0: max and logsumexp of nothing are -inf (PyTorch's   \
                         logsumexp; its max refuses), softmax has no element to write */           \
            if (op == AX_MAX || op == AX_LSE)                                                      \
                for (size_t k = 0; k < O * I; k++) y[k] = -(T)INFINITY;                            \
            return;                                                                                \
        }                                                                                          \
        const size_t items = I == 1 ? O : O * ((I + AX_BLOCK - 1) / AX_BLOCK);                     \
        AxisCall_##SUF a = {op, x, R, I, y};                                                       \
        BPRT_SPLIT(items < 2 ? 1 : sum_team(O * R * I), items, axis_task_##SUF, &a);               \
    }                                                                                              \
    void bprt_max_axis_##SUF(const T *x, size_t O, size_t R, size_t I, T *y) { axis_op_##SUF(AX_MAX, x, O, R, I, y); } \
    void bprt_logsumexp_axis_##SUF(const T *x, size_t O, size_t R, size_t I, T *y) {               \
        axis_op_##SUF(AX_LSE, x, O, R, I, y);                                                      \
    }                                                                                              \
    void bprt_softmax_axis_##SUF(const T *x, size_t O, size_t R, size_t I, T *y) {                 \
        axis_op_##SUF(AX_SOFTMAX, x, O, R, I, y);                                                  \
    }                                                                                              \
    void bprt_log_softmax_axis_##SUF(const T *x, size_t O, size_t R, size_t I, T *y) {             \
        axis_op_##SUF(AX_LOG_SOFTMAX, x, O, R, I, y);                                              \
    }

DEFINE_AXIS_OPS(float, f32)
DEFINE_AXIS_OPS(double, f64)
