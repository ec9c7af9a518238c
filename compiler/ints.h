/* ints.h — a growable array of ints (malloc'd: free its v), and a binary min-heap kept in
 * one. Used by the memory plan (buffers ending at each node, free buffers by size) and the
 * REPL's statement ordering (the statements ready to go). */
#ifndef BP_INTS_H
#define BP_INTS_H

typedef struct Ints {
    int *v;
    int n, cap;
} Ints;

/* appends x (aborts when memory runs out, as the compiler's other internal allocations) */
void ints_push(Ints *a, int x);
/* adds x to the min-heap a */
void ints_heap_push(Ints *a, int x);
/* removes and returns the least value of the min-heap a (a->n > 0) */
int ints_heap_pop(Ints *a);

#endif
