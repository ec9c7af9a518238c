/* reduce.c — sums along one axis, the reduction generated code calls most (bias
 * gradients: a [B, N] adjoint summed over B; per-channel sums of conv outputs).
 *
 * Legend: x viewed as [O, R, I] (outer, reduced, inner), y as [O, I]:
 *   y[o, i] = sum over r of x[o, r, i], accumulated in double in the order r = 0, 1, ...
 * The order is fixed, so the result is the same for every thread count and equals the
 * scalar loop's to the bit; inner columns are processed in blocks so that the reads run
 * along rows (unit stride) instead of down the columns. */
#include <stddef.h>
#include <stdint.h>

#include "bprt.h"

enum { SUM_BLOCK = 128 }; /* double accumulators per block (1 KiB on the stack) */

#define DEFINE_SUM_AXIS(T, SUF)                                                                    \
    void bprt_sum_axis_##SUF(const T *x, size_t O, size_t R, size_t I, T *y) {                     \
        for (size_t o = 0; o < O; o++) {                                                           \
            const T *xo = x + o * R * I;                                                           \
            if (I == 1) {                                                                          \
                double acc = 0;                                                                    \
                for (size_t r = 0; r < R; r++) acc += (double)xo[r];                               \
                y[o] = (T)acc;                                                                     \
                continue;                                                                          \
            }                                                                                      \
            for (size_t i0 = 0; i0 < I; i0 += SUM_BLOCK) {                                         \
                const size_t w = I - i0 < SUM_BLOCK ? I - i0 : SUM_BLOCK;                          \
                double acc[SUM_BLOCK];                                                             \
                for (size_t i = 0; i < w; i++) acc[i] = 0;                                         \
                for (size_t r = 0; r < R; r++) {                                                   \
                    const T *row = xo + r * I + i0;                                                \
                    for (size_t i = 0; i < w; i++) acc[i] += (double)row[i];                       \
                }                                                                                  \
                for (size_t i = 0; i < w; i++) y[o * I + i0 + i] = (T)acc[i];                      \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_SUM_AXIS(float, f32)
DEFINE_SUM_AXIS(double, f64)
