/* shape.h — tensor shapes whose dimensions are integers or symbolic names.
 *
 * A Dim is c * S where S is one symbolic dimension (B, T, ...) or 1; that covers every
 * shape the language can produce (declared dims are literals or names; reshape's -1 may
 * give c*B). Symbols are numbered by first appearance in the program (SymTab); that order
 * is the order of the generated functions' `int` arguments. Shapes have rank <= BP_MAXRANK.
 * Broadcasting follows NumPy: align on the right, equal dims or a literal 1 broadcast. */
#ifndef BP_SHAPE_H
#define BP_SHAPE_H

#include <stdint.h>
#include <stdio.h>

#define BP_MAXRANK 8
#define BP_MAXSYMS 16
#define BP_DIM_NAME_MAX 32           /* characters of a symbolic dimension's name (the emitter's texts) */
#define BP_MAXDIM 2147483647LL        /* largest literal dimension */
#define BP_MAXELEMS (1LL << 36)         /* largest constant element count of one tensor */

typedef struct Dim {
    int64_t c; /* coefficient (>= 0) */
    int sym;   /* symbol index, or -1 for a plain integer */
} Dim;

typedef struct Shape {
    int rank;
    Dim d[BP_MAXRANK];
} Shape;

typedef struct SymTab {
    const char *names[BP_MAXSYMS];
    int n;
} SymTab;

Dim dim_const(int64_t c);
Dim dim_sym(int sym);
int dim_eq(Dim a, Dim b);
int dim_is(Dim a, int64_t c); /* a is the integer c */
Shape shape_scalar(void);
int shape_eq(const Shape *a, const Shape *b);
/* Broadcast a and b into out; returns 0, or -1 if incompatible (out undefined). */
int shape_broadcast(const Shape *a, const Shape *b, Shape *out);
/* Why a and b do not broadcast: "axis 1: 3 against 7", the last axis of the result (as
 * PyTorch numbers it) where their sizes differ and neither is 1; "" if they broadcast. */
const char *shape_broadcast_why(const Shape *a, const Shape *b, const SymTab *st, char *buf, size_t size);
/* Constant factor of the element count and whether it overflows BP_MAXELEMS. */
int64_t shape_const_numel(const Shape *s, int *overflow);
int shape_is_const(const Shape *s);
/* Writes "[B, 784]" into buf (size >= 160). */
/* Bytes that hold any shape_str: "[" and "]", and per axis ", " and a dim_str of at most
 * 10 digits (sizes <= 2^31 - 1), "*" and BP_DIM_NAME_MAX characters (4 more for a "dim_"
 * the emitter's names carry): 1 + 8 * 49 + 2 = 395. */
#define SHAPE_STR_MAX 512
const char *shape_str(const Shape *s, const SymTab *st, char *buf, size_t size);
const char *dim_str(Dim d, const SymTab *st, char *buf, size_t size);
/* C expression for the element count, e.g. "((size_t)784*B)"; for a dim, "(784*B)". */
void shape_numel_c(const Shape *s, const SymTab *st, char *buf, size_t size);
void dim_c(Dim d, const SymTab *st, char *buf, size_t size);
/* Normalises an axis (negative counts from the end); returns -1 if out of range. */
int shape_axis(const Shape *s, int axis);

#endif
