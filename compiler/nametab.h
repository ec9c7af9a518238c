/* nametab.h — a table from names to ints, for lookups that must not scan every name.
 *
 * Open addressing with linear probing on an FNV-1a hash of the name, kept at most half
 * full; storage comes from an arena and is dropped with it (growth leaves the old slots
 * there). Keys are not copied: a name must outlive the table. A zeroed NameTab is an empty
 * table. Used by sema (scopes, the program's statements by name), the C emitter (how many
 * inputs, outputs and sizes share a name) and the memory plan (free buffers by size). */
#ifndef BP_NAMETAB_H
#define BP_NAMETAB_H

#include "arena.h"

typedef struct NameTab {
    const char **keys; /* per slot: the name, or NULL if the slot is free */
    int *vals;         /* per slot: its value */
    int n, nslots;     /* names held; 0 or a power of two above 2 n */
} NameTab;

/* name's value, or `missing` if it has none */
int nametab_get(const NameTab *t, const char *name, int missing);
/* The slot of name's value, added with value `missing` if it was not there */
int *nametab_ref(Arena *a, NameTab *t, const char *name, int missing);
/* Sets name's value */
void nametab_put(Arena *a, NameTab *t, const char *name, int value);

#endif
