/* ints.c — see ints.h. */
#include "ints.h"

#include <stdlib.h>

void ints_push(Ints *a, int x) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 8;
        a->v = realloc(a->v, (size_t)a->cap * sizeof *a->v);
        if (!a->v) abort();
    }
    a->v[a->n++] = x;
}

void ints_heap_push(Ints *a, int x) {
    ints_push(a, x);
    int k = a->n - 1;
    for (; k > 0 && a->v[(k - 1) / 2] > x; k = (k - 1) / 2) a->v[k] = a->v[(k - 1) / 2];
    a->v[k] = x;
}

int ints_heap_pop(Ints *a) {
    int top = a->v[0], last = a->v[--a->n], k = 0;
    for (;;) {
        int c = 2 * k + 1;
        if (c >= a->n) break;
        if (c + 1 < a->n && a->v[c + 1] < a->v[c]) c++;
        if (last <= a->v[c]) break;
        a->v[k] = a->v[c];
        k = c;
    }
    if (a->n) a->v[k] = last;
    return top;
}
