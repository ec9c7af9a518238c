/* arena.h — bump allocation for one compilation (or one REPL input), freed at once.
 * Allocation failure aborts (it means the machine is out of memory, not a user error). */
#ifndef BP_ARENA_H
#define BP_ARENA_H

#include <stddef.h>

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);              /* zero-filled, 16-byte aligned */
char *arena_strndup(Arena *a, const char *s, size_t n); /* NUL-terminated copy */
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Grows a vector held as (items, count, cap): returns the new storage. */
void *arena_grow(Arena *a, void *items, int count, int *cap, size_t elem);

#define ARENA_PUSH(arena, items, count, cap, value)                                          \
    do {                                                                                   \
        if ((count) == (cap))                                                              \
            (items) = arena_grow((arena), (items), (count), &(cap), sizeof *(items));      \
        (items)[(count)++] = (value);                                                      \
    } while (0)

#endif
