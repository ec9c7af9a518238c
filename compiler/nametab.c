/* nametab.c — see nametab.h. */
#include "nametab.h"

#include <string.h>

static unsigned name_hash(const char *name) {
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *name; name++) h = (h ^ (unsigned char)*name) * 16777619u;
    return h;
}

/* The slot holding name, else the free one it would take (the table has a free slot) */
static int slot_of(const NameTab *t, const char *name) {
    unsigned mask = (unsigned)t->nslots - 1, i = name_hash(name) & mask;
    while (t->keys[i] && strcmp(t->keys[i], name) != 0) i = (i + 1) & mask;
    return (int)i;
}

int nametab_get(const NameTab *t, const char *name, int missing) {
    if (!t->nslots) return missing;
    int i = slot_of(t, name);
    return t->keys[i] ? t->vals[i] : missing;
}

int *nametab_ref(Arena *a, NameTab *t, const char *name, int missing) {
    if (2 * (t->n + 1) > t->nslots) { /* grow and rehash */
        NameTab old = *t;
        t->nslots = old.nslots ? 2 * old.nslots : 16;
        t->keys = arena_alloc(a, (size_t)t->nslots * sizeof *t->keys);
        t->vals = arena_alloc(a, (size_t)t->nslots * sizeof *t->vals);
        for (int i = 0; i < old.nslots; i++)
            if (old.keys[i]) {
                int j = slot_of(t, old.keys[i]);
                t->keys[j] = old.keys[i];
                t->vals[j] = old.vals[i];
            }
    }
    int i = slot_of(t, name);
    if (!t->keys[i]) {
        t->keys[i] = name;
        t->vals[i] = missing;
        t->n++;
    }
    return &t->vals[i];
}

void nametab_put(Arena *a, NameTab *t, const char *name, int value) { *nametab_ref(a, t, name, value) = value; }
