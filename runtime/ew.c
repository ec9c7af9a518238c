/* ew.c — fused elementwise expressions evaluated a block at a time: what code compiled by
 * libtcc calls instead of running its own per-element loops (tcc does not vectorise or
 * keep values in registers, so a loop like relu(x + b) runs ~15x slower there than here).
 *
 * A program is postfix code over a stack of blocks of up to EW_BLOCK elements:
 *   BPRT_EW_LEAF k     push leaf k: leaf[k][i] if vec[k], else leaf[k][0] for every i
 *   BPRT_EW_CONST k    push konst[k]
 *   unary op           replace the top with op(top) (LEAKY_RELU/LEAKY_STEP k: alpha =
 *                      konst[k]; POWI n: x^n, n the next word)
 *   binary op          pop b, pop a, push op(a, b)
 * and the value left on top is out[i], for i in [0, n). Every op computes exactly what the
 * generated C's bp_* function of the same name does (same formula; exp, erf, GELU and its
 * derivative through vmath.c's bprt_exp / bprt_erf / bprt_gelu / bprt_gelu_grad, a block at
 * a time here), so the tcc and cc paths agree. out may be one of the leaves (in place): a block's leaves
 * are read before its results are written. Stack depth is at most BPRT_EW_DEPTH; the
 * compiler checks this before it emits a program. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"

enum { EW_BLOCK = 1024, EW_ROWVEC_MAX = 2 };

#define EW_CLONES BPRT_CLONES /* bprt.h */

/* From EW_PAR_MIN elements on, the blocks are split into one contiguous range per thread
 * (each element is computed alone, so the values do not depend on the split). */
#if defined(_OPENMP)
enum { EW_PAR_MIN = 1 << 15 };
#define EW_TEAM(n) bprt_team(n, EW_PAR_MIN)
#else
#define EW_TEAM(n) 1
#endif

/* F(name) is the libm function for T: expf for float, exp for double. */
#define DEFINE_EW(T, SUF, F)                                                                       \
    /* elements [b0 EW_BLOCK, b1 EW_BLOCK) of [0, n) */                                         \
    EW_CLONES static void ew_blocks_##SUF(const int32_t *code, int ncode, const double *konst,    \
                                          const T *const *leaf, const unsigned char *vec, size_t n, \
                                          T *out, size_t b0, size_t b1) {                          \
        T stack[BPRT_EW_DEPTH][EW_BLOCK], t[EW_BLOCK];                                             \
        const T *rd[BPRT_EW_DEPTH];                                                                \
        const size_t end = b1 * EW_BLOCK < n ? b1 * EW_BLOCK : n;                                  \
        int last = -1; /* where the program's last op starts (LEAF, CONST, LEAKY_*, POWI take a word) */ \
        for (int pc = 0; pc < ncode; pc++) {                                                       \
            const int32_t op = code[pc];                                                           \
            if (op != BPRT_EW_LEAF && op != BPRT_EW_CONST) last = pc;                              \
            if (op == BPRT_EW_LEAF || op == BPRT_EW_CONST || op == BPRT_EW_LEAKY_RELU ||           \
                op == BPRT_EW_LEAKY_STEP || op == BPRT_EW_POWI)                                    \
                pc++;                                                                              \
        }                                                                                          \
        for (size_t i0 = b0 * EW_BLOCK; i0 < end; i0 += EW_BLOCK) {                                \
            const size_t w = n - i0 < EW_BLOCK ? n - i0 : EW_BLOCK;                                \
            int sp = -1;                                                                           \
            for (int pc = 0; pc < ncode; pc++) {                                                   \
                const int32_t op = code[pc];                                                       \
                /* a, b: the top two values as read (a leaf in place, or a buffer); x, y: the   \
                   buffers their results go to */                                                  \
                T *x = stack[sp < 0 ? 0 : sp], *y = stack[sp < 1 ? 0 : sp - 1];                    \
                const int at = pc;                                                                 \
                if (at == last) x = y = out + i0; /* the result: straight to out (every op     \
                                                     reads an element before writing it) */    \
                const T *a = rd[sp < 0 ? 0 : sp], *b = rd[sp < 1 ? 0 : sp - 1];                    \
                (void)b;                                                                           \
                switch (op) {                                                                      \
                case BPRT_EW_LEAF: {                                                               \
                    const int32_t k = code[++pc];                                                  \
                    T *d = stack[++sp];                                                            \
                    if (vec[k]) rd[sp] = leaf[k] + i0; /* read where it is */                      \
                    else {                                                                         \
                        for (size_t i = 0; i < w; i++) d[i] = leaf[k][0];                          \
                        rd[sp] = d;                                                                \
                    }                                                                              \
                    continue;                                                                      \
                }                                                                                  \
                case BPRT_EW_CONST: {                                                              \
                    const T c = (T)konst[code[++pc]];                                              \
                    T *d = stack[++sp];                                                            \
                    for (size_t i = 0; i < w; i++) d[i] = c;                                       \
                    rd[sp] = d;                                                                    \
                    continue;                                                                      \
                }                                                                                  \
                case BPRT_EW_NEG: for (size_t i = 0; i < w; i++) x[i] = -a[i]; break;               \
                case BPRT_EW_EXP: bprt_exp_##SUF(a, x, w); break;                                   \
                case BPRT_EW_LOG: for (size_t i = 0; i < w; i++) x[i] = F(log)(a[i]); break;        \
                case BPRT_EW_SQRT: for (size_t i = 0; i < w; i++) x[i] = F(sqrt)(a[i]); break;      \
                case BPRT_EW_ABS: for (size_t i = 0; i < w; i++) x[i] = F(fabs)(a[i]); break;       \
                case BPRT_EW_SIN: for (size_t i = 0; i < w; i++) x[i] = F(sin)(a[i]); break;        \
                case BPRT_EW_COS: for (size_t i = 0; i < w; i++) x[i] = F(cos)(a[i]); break;        \
                case BPRT_EW_TANH: bprt_tanh_##SUF(a, x, w); break;                                 \
                case BPRT_EW_SIGMOID: /* exp(-|v|): 1 / (1 + exp(-v)) for v >= 0, else exp(v) / (1 + exp(v)) */ \
                    for (size_t i = 0; i < w; i++) t[i] = -F(fabs)(a[i]);                           \
                    bprt_exp_##SUF(t, t, w);                                                        \
                    for (size_t i = 0; i < w; i++) x[i] = a[i] >= 0 ? (T)1 / ((T)1 + t[i]) : t[i] / ((T)1 + t[i]); \
                    break;                                                                          \
                case BPRT_EW_RELU: for (size_t i = 0; i < w; i++) x[i] = !(a[i] <= 0) ? a[i] : (T)0; break; \
                case BPRT_EW_LEAKY_RELU: {                                                          \
                    const T al = (T)konst[code[++pc]];                                              \
                    for (size_t i = 0; i < w; i++) x[i] = a[i] > 0 ? a[i] : al * a[i];              \
                    break;                                                                          \
                }                                                                                   \
                case BPRT_EW_GELU: bprt_gelu_##SUF(a, x, w); break;                                 \
                case BPRT_EW_SOFTPLUS:                                                              \
                    for (size_t i = 0; i < w; i++) t[i] = -F(fabs)(a[i]);                           \
                    bprt_exp_##SUF(t, t, w);                                                        \
                    for (size_t i = 0; i < w; i++) x[i] = (a[i] > 0 ? a[i] : (T)0) + F(log1p)(t[i]); \
                    break;                                                                          \
                case BPRT_EW_POWI: {                                                                \
                    const int32_t e = code[++pc];                                                   \
                    for (size_t i = 0; i < w; i++) {                                                \
                        T r = 1, v = a[i];                                                          \
                        int32_t k = e < 0 ? -e : e;                                                 \
                        while (k) { if (k & 1) r *= v; v *= v; k >>= 1; }                           \
                        x[i] = e < 0 ? (T)1 / r : r;                                                \
                    }                                                                               \
                    break;                                                                          \
                }                                                                                   \
                case BPRT_EW_SIGN: for (size_t i = 0; i < w; i++) x[i] = a[i] != a[i] ? a[i] : (T)((a[i] > 0) - (a[i] < 0)); break; \
                case BPRT_EW_STEP: for (size_t i = 0; i < w; i++) x[i] = a[i] > 0 ? (T)1 : (T)0; break; \
                case BPRT_EW_LEAKY_STEP: {                                                          \
                    const T al = (T)konst[code[++pc]];                                              \
                    for (size_t i = 0; i < w; i++) x[i] = a[i] > 0 ? (T)1 : al;                     \
                    break;                                                                          \
                }                                                                                   \
                case BPRT_EW_GELU_GRAD: bprt_gelu_grad_##SUF(a, x, w); break;                       \
                case BPRT_EW_ADD: for (size_t i = 0; i < w; i++) y[i] = b[i] + a[i]; sp--; break;   \
                case BPRT_EW_SUB: for (size_t i = 0; i < w; i++) y[i] = b[i] - a[i]; sp--; break;   \
                case BPRT_EW_MUL: for (size_t i = 0; i < w; i++) y[i] = b[i] * a[i]; sp--; break;   \
                case BPRT_EW_DIV: for (size_t i = 0; i < w; i++) y[i] = b[i] / a[i]; sp--; break;   \
                case BPRT_EW_POW: for (size_t i = 0; i < w; i++) y[i] = F(pow)(b[i], a[i]); sp--; break; \
                case BPRT_EW_MAXIMUM: for (size_t i = 0; i < w; i++) y[i] = b[i] > a[i] || b[i] != b[i] ? b[i] : a[i]; sp--; break; \
                case BPRT_EW_MINIMUM: for (size_t i = 0; i < w; i++) y[i] = b[i] < a[i] || b[i] != b[i] ? b[i] : a[i]; sp--; break; \
                case BPRT_EW_GT: for (size_t i = 0; i < w; i++) y[i] = b[i] > a[i] ? (T)1 : (T)0; sp--; break; \
                case BPRT_EW_EQ: for (size_t i = 0; i < w; i++) y[i] = b[i] == a[i] ? (T)1 : (T)0; sp--; break; \
                case BPRT_EW_MASK_MUL: /* b through the mask a: 0 where a is, whatever b is */     \
                    for (size_t i = 0; i < w; i++) y[i] = a[i] != 0 ? b[i] * a[i] : (T)0;           \
                    sp--;                                                                           \
                    break;                                                                          \
                case BPRT_EW_MASK_POS: for (size_t i = 0; i < w; i++) y[i] = a[i] > 0 ? b[i] : (T)0; sp--; break; \
                case BPRT_EW_BCE: /* p = b, t = a: PyTorch's binary cross-entropy, logs clamped at -100 */ \
                    for (size_t i = 0; i < w; i++) {                                                \
                        const T lp = F(log)(b[i]), lq = F(log)((T)1 - b[i]);                        \
                        y[i] = (a[i] - (T)1) * (lq < (T)-100 ? (T)-100 : lq) - a[i] * (lp < (T)-100 ? (T)-100 : lp); \
                    }                                                                               \
                    sp--;                                                                           \
                    break;                                                                          \
                case BPRT_EW_BCE_LOGITS: /* z = b, t = a: as the generated bp_bce_logits */      \
                    for (size_t i = 0; i < w; i++) t[i] = -F(fabs)(b[i]);                           \
                    bprt_exp_##SUF(t, t, w);                                                        \
                    for (size_t i = 0; i < w; i++) {                                                \
                        const T l = F(log1p)(t[i]), z = b[i];                                       \
                        y[i] = z >= 0 ? ((T)1 - a[i]) * z + l : (z - z) - a[i] * z + l;             \
                    }                                                                               \
                    sp--;                                                                           \
                    break;                                                                          \
                default: /* not produced by the compiler: leave NaN, never read garbage */       \
                    for (size_t i = 0; i < w; i++) out[i0 + i] = (T)NAN;                           \
                    goto next_##SUF;                                                               \
                }                                                                                  \
                rd[sp] = at == last ? out + i0 : stack[sp]; /* where the op put its result */   \
            }                                                                                      \
            if (rd[0] != out + i0) memmove(out + i0, rd[0], sizeof(T) * w);                        \
        next_##SUF:;                                                                               \
        }                                                                                          \
    }                                                                                              \
    /* rows x n elements, on the calling thread: row r reads leaf[k] + r*ld[k] and writes    \
       out + r*ldo (a GEMM epilogue's block: ld = the row length for a matrix, 0 for a row   \
       vector or a scalar) */                                                                \
    EW_CLONES static void ew_rows_##SUF(const int32_t *code, int ncode, const double *konst,      \
                                        const T *const *leaf, int nleaf, const ptrdiff_t *ld,    \
                                        const unsigned char *vec, size_t rows, size_t n, T *out, \
                                        ptrdiff_t ldo) {                                         \
        const T *lr[BPRT_EW_MAX_LEAVES];                                                         \
        int flat = ldo == (ptrdiff_t)n; /* whole rows of matrices alone: one run of rows*n */     \
        for (int k = 0; k < nleaf; k++) flat &= vec[k] ? ld[k] == (ptrdiff_t)n : ld[k] == 0;      \
        if (flat) {                                                                                \
            ew_blocks_##SUF(code, ncode, konst, leaf, vec, rows * n, out, 0,                       \
                            (rows * n + EW_BLOCK - 1) / EW_BLOCK);                                 \
            return;                                                                                \
        }                                                                                          \
        /* short contiguous rows with row vectors among the leaves (a bias): R rows a block, \
           the row vectors repeated R times in tv (a layer's bias + ReLU over 256-wide rows:    \
           a quarter of the blocks) */                                                          \
        int rowvec = ldo == (ptrdiff_t)n && n <= EW_BLOCK / 2, nrv = 0;                            \
        for (int k = 0; k < nleaf; k++) {                                                          \
            rowvec &= vec[k] ? ld[k] == (ptrdiff_t)n || ld[k] == 0 : ld[k] == 0;                   \
            nrv += vec[k] && ld[k] == 0;                                                           \
        }                                                                                          \
        if (rowvec && nrv <= EW_ROWVEC_MAX && rows > 1) {                                          \
            T tv[EW_ROWVEC_MAX][EW_BLOCK];                                                         \
            const size_t R = EW_BLOCK / n;                                                         \
            for (int k = 0, j = 0; k < nleaf; k++) {                                               \
                if (!(vec[k] && ld[k] == 0)) continue;                                             \
                for (size_t q = 0; q < R; q++) memcpy(tv[j] + q * n, leaf[k], sizeof(T) * n);      \
                lr[k] = tv[j++];                                                                   \
            }                                                                                      \
            for (size_t r = 0; r < rows; r += R) {                                                 \
                const size_t g = rows - r < R ? rows - r : R;                                      \
                for (int k = 0; k < nleaf; k++)                                                    \
                    if (!(vec[k] && ld[k] == 0)) lr[k] = leaf[k] ? leaf[k] + (ptrdiff_t)r * ld[k] : leaf[k]; \
                ew_blocks_##SUF(code, ncode, konst, lr, vec, g * n, out + (ptrdiff_t)r * ldo, 0, 1); \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        const size_t nb = (n + EW_BLOCK - 1) / EW_BLOCK;                                           \
        for (size_t r = 0; r < rows; r++) {                                                        \
            for (int k = 0; k < nleaf; k++) lr[k] = leaf[k] ? leaf[k] + (ptrdiff_t)r * ld[k] : leaf[k]; \
            ew_blocks_##SUF(code, ncode, konst, lr, vec, n, out + (ptrdiff_t)r * ldo, 0, nb);       \
        }                                                                                          \
    }                                                                                              \
    void bprt_ew_rows_##SUF(const int32_t *code, int ncode, const double *konst, const T *const *leaf, \
                            int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows,  \
                            size_t n, T *out, ptrdiff_t ldo) {                                     \
        if (nleaf > BPRT_EW_MAX_LEAVES) abort(); /* the compiler emits at most that many */       \
        ew_rows_##SUF(code, ncode, konst, leaf, nleaf, ld, vec, rows, n, out, ldo);               \
    }                                                                                              \
    static void ew_rows_share_##SUF(const int32_t *code, int ncode, const double *konst,           \
                                    const T *const *leaf, int nleaf, const ptrdiff_t *ld,          \
                                    const unsigned char *vec, size_t r0, size_t r1, size_t n, T *out, \
                                    ptrdiff_t ldo) {                                               \
        const T *lr[BPRT_EW_MAX_LEAVES];                                                           \
        for (int k = 0; k < nleaf; k++) lr[k] = leaf[k] ? leaf[k] + (ptrdiff_t)r0 * ld[k] : leaf[k]; \
        ew_rows_##SUF(code, ncode, konst, lr, nleaf, ld, vec, r1 - r0, n, out + (ptrdiff_t)r0 * ldo, ldo); \
    }                                                                                              \
    /* a call's arguments, for its shares on the threads (BPRT_SPLIT) */                         \
    typedef struct {                                                                               \
        const int32_t *code;                                                                       \
        int ncode, nleaf;                                                                          \
        const double *konst;                                                                       \
        const T *const *leaf;                                                                      \
        const ptrdiff_t *ld;                                                                       \
        const unsigned char *vec;                                                                  \
        size_t n;                                                                                  \
        T *out;                                                                                    \
        ptrdiff_t ldo;                                                                             \
    } EwCall_##SUF;                                                                                \
    static void ew_rows_task_##SUF(void *arg, size_t r0, size_t r1) {                              \
        const EwCall_##SUF *a = arg;                                                               \
        ew_rows_share_##SUF(a->code, a->ncode, a->konst, a->leaf, a->nleaf, a->ld, a->vec, r0, r1, a->n, \
                            a->out, a->ldo);                                                       \
    }                                                                                              \
    static void ew_blocks_task_##SUF(void *arg, size_t b0, size_t b1) {                            \
        const EwCall_##SUF *a = arg;                                                               \
        ew_blocks_##SUF(a->code, a->ncode, a->konst, a->leaf, a->vec, a->n, a->out, b0, b1);       \
    }                                                                                              \
    void bprt_ew_rows_par_##SUF(const int32_t *code, int ncode, const double *konst, const T *const *leaf, \
                                int nleaf, const ptrdiff_t *ld, const unsigned char *vec, size_t rows, \
                                size_t n, T *out, ptrdiff_t ldo) {                                 \
        if (nleaf > BPRT_EW_MAX_LEAVES) abort(); /* the compiler emits at most that many */       \
        EwCall_##SUF a = {code, ncode, nleaf, konst, leaf, ld, vec, n, out, ldo};                  \
        BPRT_SPLIT(EW_TEAM(rows * n), rows, ew_rows_task_##SUF, &a);                               \
    }                                                                                              \
    void bprt_ew_##SUF(const int32_t *code, int ncode, const double *konst, const T *const *leaf,  \
                       const unsigned char *vec, size_t n, T *out) {                               \
        EwCall_##SUF a = {code, ncode, 0, konst, leaf, NULL, vec, n, out, 0};                      \
        BPRT_SPLIT(EW_TEAM(n), (n + EW_BLOCK - 1) / EW_BLOCK, ew_blocks_task_##SUF, &a);           \
    }                                                                                              \
    typedef struct {                                                                               \
        const T *x;                                                                                \
        T *y, *d;                                                                                  \
        size_t n;                                                                                  \
    } EwPair_##SUF;                                                                                \
    static void ew_gelu_pair_task_##SUF(void *arg, size_t b0, size_t b1) {                         \
        const EwPair_##SUF *a = arg;                                                               \
        const size_t i0 = b0 * EW_BLOCK, i1 = b1 * EW_BLOCK < a->n ? b1 * EW_BLOCK : a->n;         \
        if (i0 < i1) bprt_gelu_pair_##SUF(a->x + i0, a->y + i0, a->d + i0, i1 - i0);                \
    }                                                                                              \
    void bprt_ew_gelu_pair_##SUF(const T *x, T *y, T *d, size_t n) {                               \
        EwPair_##SUF a = {x, y, d, n};                                                             \
        BPRT_SPLIT(EW_TEAM(n), (n + EW_BLOCK - 1) / EW_BLOCK, ew_gelu_pair_task_##SUF, &a);        \
    }

int bprt_ew_threads(size_t n) { return EW_TEAM(n); }

#define F32(name) name##f
#define F64(name) name
DEFINE_EW(float, f32, F32)
DEFINE_EW(double, f64, F64)
