/* prefetch.h — a stream's lines fetched into L2 ahead of the kernel that reads or writes
 * them (GCC and clang; nothing elsewhere, tcc included: a prefetch changes no value). Used
 * where a kernel streams data that no cache holds by then (the forward's activations read by
 * the backward pass, a large product's C written over): on this VM one core streams such
 * lines at ~6 GB/s on its hardware prefetchers alone.
 *
 * always_inline, as every function that holds only prefetches must be: gcc treats such a
 * function as having no effect and drops the calls it does not inline, prefetches and all. */
#ifndef BPRT_PREFETCH_H
#define BPRT_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__TINYC__)
/* each 64-byte line of [p, p + bytes) once, into L2; for writing if w (a line about to be
 * written over) */
__attribute__((always_inline)) static inline void bprt_prefetch(const void *p, size_t bytes, int w)
{
    const uintptr_t a0 = (uintptr_t)p;
    for (uintptr_t a = a0 & ~(uintptr_t)63; a < a0 + bytes; a += 64) {
        if (w)
            __builtin_prefetch((const void *)a, 1, 2);
        else
            __builtin_prefetch((const void *)a, 0, 2);
    }
}
#else
#define bprt_prefetch(p, bytes, w) ((void)(p), (void)(bytes), (void)(w))
#endif

#endif
