/* shape.c — see shape.h. */
#include "shape.h"

#include <stdio.h>
#include <string.h>

Dim dim_const(int64_t c) { return (Dim){c, -1}; }
Dim dim_sym(int sym) { return (Dim){1, sym}; }
int dim_eq(Dim a, Dim b) { return a.c == b.c && (a.sym == b.sym || a.c == 0); }
int dim_is(Dim a, int64_t c) { return (a.sym < 0 || a.c == 0) && a.c == c; }

Shape shape_scalar(void) {
    Shape s;
    memset(&s, 0, sizeof s);
    return s;
}

int shape_eq(const Shape *a, const Shape *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (!dim_eq(a->d[i], b->d[i])) return 0;
    return 1;
}

int shape_broadcast(const Shape *a, const Shape *b, Shape *out) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    Shape o;
    memset(&o, 0, sizeof o);
    o.rank = r;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        Dim da = ia >= 0 ? a->d[ia] : dim_const(1);
        Dim db = ib >= 0 ? b->d[ib] : dim_const(1);
        if (dim_eq(da, db)) o.d[i] = da;
        else if (dim_is(da, 1)) o.d[i] = db;
        else if (dim_is(db, 1)) o.d[i] = da;
        else return -1;
    }
    *out = o;
    return 0;
}

const char *shape_broadcast_why(const Shape *a, const Shape *b, const SymTab *st, char *buf, size_t size) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    buf[0] = 0;
    for (int i = r - 1; i >= 0; i--) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        Dim da = ia >= 0 ? a->d[ia] : dim_const(1);
        Dim db = ib >= 0 ? b->d[ib] : dim_const(1);
        if (dim_eq(da, db) || dim_is(da, 1) || dim_is(db, 1)) continue;
        char s1[64], s2[64];
        snprintf(buf, size, "axis %d: %s against %s", i, dim_str(da, st, s1, sizeof s1), dim_str(db, st, s2, sizeof s2));
        break;
    }
    return buf;
}

int64_t shape_const_numel(const Shape *s, int *overflow) {
    int64_t n = 1;
    *overflow = 0;
    for (int i = 0; i < s->rank; i++) {
        int64_t c = s->d[i].c;
        if (c != 0 && n > BP_MAXELEMS / c) {
            *overflow = 1;
            return BP_MAXELEMS;
        }
        n *= c;
    }
    return n;
}

int shape_is_const(const Shape *s) {
    for (int i = 0; i < s->rank; i++)
        if (s->d[i].sym >= 0 && s->d[i].c != 0) return 0;
    return 1;
}

const char *dim_str(Dim d, const SymTab *st, char *buf, size_t size) {
    if (d.sym < 0 || d.c == 0) snprintf(buf, size, "%lld", (long long)d.c);
    else if (d.c == 1) snprintf(buf, size, "%s", st->names[d.sym]);
    else snprintf(buf, size, "%lld*%s", (long long)d.c, st->names[d.sym]);
    return buf;
}

const char *shape_str(const Shape *s, const SymTab *st, char *buf, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (int i = 0; i < s->rank && n < size; i++) {
        char t[64];
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", dim_str(s->d[i], st, t, sizeof t));
    }
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

void dim_c(Dim d, const SymTab *st, char *buf, size_t size) {
    if (d.sym < 0 || d.c == 0) snprintf(buf, size, "%lld", (long long)d.c);
    else if (d.c == 1) snprintf(buf, size, "%s", st->names[d.sym]);
    else snprintf(buf, size, "(%lld*%s)", (long long)d.c, st->names[d.sym]);
}

void shape_numel_c(const Shape *s, const SymTab *st, char *buf, size_t size) {
    int64_t c = 1;
    int ovf = 0;
    c = shape_const_numel(s, &ovf);
    size_t n = (size_t)snprintf(buf, size, "((size_t)%lld", (long long)c);
    for (int i = 0; i < s->rank && n < size; i++)
        if (s->d[i].sym >= 0 && s->d[i].c != 0)
            n += (size_t)snprintf(buf + n, size - n, "*(size_t)%s", st->names[s->d[i].sym]);
    if (n < size) snprintf(buf + n, size - n, ")");
}

int shape_axis(const Shape *s, int axis) {
    if (axis < 0) axis += s->rank;
    if (axis < 0 || axis >= s->rank) return -1;
    return axis;
}
