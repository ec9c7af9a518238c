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
 * Sources are registered with diag_add_source() so that the line can be quoted.
 *
 * A stage may say what it is in the middle of with diag_push_context() (sema: each call of
 * a def it is inlining); every error reported meanwhile is followed by a note per entry,
 * innermost first, like a C++ compiler's "required from here":
 *   FILE:LINE:COL: note: in this call of 'layer'
 * with the line and a caret. Notes are not errors: they leave nerrors alone. */
#ifndef BP_DIAG_H
#define BP_DIAG_H

#include <stdarg.h>
#include <stdio.h>

typedef struct Loc {
    const char *file; /* registered source name ("<repl>", "net.bp"); never NULL once set */
    int line;         /* 1-based; 0 = no location */
    int col;          /* 1-based column, in characters (a UTF-8 sequence is one; a tab is one) */
} Loc;

typedef struct DiagSource {
    const char *name; /* owned copy */
    const char *text; /* owned copy of the whole text */
    int first_line;   /* the line number of text's first line (1; the REPL's inputs: their own) */
    struct DiagSource *next;
} DiagSource;

enum { DIAG_MAX_CONTEXT = 64 }; /* entries of the context at most (sema nests 32 def calls) */

typedef struct DiagContext {
    Loc loc;          /* where it happens (a def's call) */
    const char *note; /* the note's text, e.g. "in this call of 'layer'"; outlives the entry */
} DiagContext;

typedef struct Diag {
    FILE *out;          /* where messages go (stderr by default) */
    int nerrors;        /* errors reported so far */
    int max_errors;     /* stop reporting (but keep counting) past this; 0 = 50 */
    DiagSource *sources;
    DiagContext context[DIAG_MAX_CONTEXT]; /* outermost first */
    int ncontext;
} Diag;

void diag_init(Diag *d, FILE *out);
void diag_free(Diag *d);
/* Registers a source text; returns the stable name pointer to put in Loc.file. */
const char *diag_add_source(Diag *d, const char *name, const char *text);
/* The same for a text whose first line is line first_line of the source (a REPL input):
 * locations in it are quoted from its lines as numbered from there. */
const char *diag_add_source_at(Diag *d, const char *name, const char *text, int first_line);
/* text past a leading UTF-8 byte order mark (EF BB BF, which Windows editors write), or
 * text: the parser and the quoted lines both skip it, so columns count from after it. */
const char *diag_skip_bom(const char *text);
/* The byte of column col in the line that starts at line and ends at end (end if the line
 * is shorter): columns count characters, as a terminal shows them (é is two bytes, one
 * column), so that FILE:LINE:COL and the caret agree. */
const char *diag_col_byte(const char *line, const char *end, int col);
/* The columns the n bytes at s take: their characters (a UTF-8 continuation byte adds none,
 * a tab one), as diag_col_byte counts them back. The lexer's columns and the REPL's count so. */
int diag_cols(const char *s, size_t n);
void diag_error(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_verror(Diag *d, Loc loc, const char *fmt, va_list ap);
/* A "note:" attached to the previous error (same format, no count). */
void diag_note(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Enters and leaves a context whose note follows every error reported inside it; pushes
 * and pops pair up (the context is empty between a stage's calls). */
void diag_push_context(Diag *d, Loc loc, const char *note);
void diag_pop_context(Diag *d);

/* A message not tied to a place in a source (a file that cannot be read, a run that
 * stops): "bpc: error: ..." (or "warning:") from the command line, and "error: ..." in the
 * REPL, which sets the prefix to "" (its other messages name no program either). Flushes
 * stdout first, so that the message follows what was printed before it. */
void diag_set_tool_prefix(const char *prefix);
void diag_tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void diag_tool_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void diag_tool_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Internal-bug check: prints file:line and the expression, then aborts. */
#define BP_ASSERT(cond)                                                              \
    do {                                                                             \
        if (!(cond)) bp_assert_fail(__FILE__, __LINE__, #cond);                      \
    } while (0)
void bp_assert_fail(const char *file, int line, const char *expr) __attribute__((noreturn));

#endif
