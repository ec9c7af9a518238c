/* diag.h — located diagnostics for every stage of the compiler.
 *
 * Every user-facing error goes through diag_error(): it records the error and prints
 *   FILE:LINE:COL: error: message
 *     source line
 *           ^
 * (of a line longer than 200 bytes, a window of 200 around the caret, "..." marking the cuts)
 * to the Diag's stream (stderr by default, or a memory buffer for the REPL and tests).
 * Stages never exit or abort on a user error: they report and return; callers test
 * diag->nerrors. Internal bugs use BP_ASSERT, which names __FILE__:__LINE__.
 * Sources are registered with diag_add_source() so that the line can be quoted. */
#ifndef BP_DIAG_H
#define BP_DIAG_H

#include <stdarg.h>
#include <stdio.h>

typedef struct Loc {
    const char *file; /* registered source name ("<repl>", "net.bp"); never NULL once set */
    int line;         /* 1-based; 0 = no location */
    int col;          /* 1-based column (bytes) */
} Loc;

typedef struct DiagSource {
    const char *name; /* owned copy */
    const char *text; /* owned copy of the whole text */
    struct DiagSource *next;
} DiagSource;

typedef struct Diag {
    FILE *out;          /* where messages go (stderr by default) */
    int nerrors;        /* errors reported so far */
    int max_errors;     /* stop reporting (but keep counting) past this; 0 = 50 */
    DiagSource *sources;
} Diag;

void diag_init(Diag *d, FILE *out);
void diag_free(Diag *d);
/* Registers a source text; returns the stable name pointer to put in Loc.file. */
const char *diag_add_source(Diag *d, const char *name, const char *text);
void diag_error(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_verror(Diag *d, Loc loc, const char *fmt, va_list ap);
/* A "note:" attached to the previous error (same format, no count). */
void diag_note(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Internal-bug check: prints file:line and the expression, then aborts. */
#define BP_ASSERT(cond)                                                              \
    do {                                                                             \
        if (!(cond)) bp_assert_fail(__FILE__, __LINE__, #cond);                      \
    } while (0)
void bp_assert_fail(const char *file, int line, const char *expr) __attribute__((noreturn));

#endif
