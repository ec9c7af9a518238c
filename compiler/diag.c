/* diag.c — see diag.h. Prints located messages with the quoted line and a caret. */
#include "diag.h"

#include <stdlib.h>
#include <string.h>

void diag_init(Diag *d, FILE *out) {
    memset(d, 0, sizeof *d);
    d->out = out ? out : stderr;
}

void diag_free(Diag *d) {
    DiagSource *s = d->sources;
    while (s) {
        DiagSource *n = s->next;
        free((void *)s->name);
        free((void *)s->text);
        free(s);
        s = n;
    }
    d->sources = NULL;
}

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) abort();
    memcpy(p, s, n);
    return p;
}

const char *diag_add_source(Diag *d, const char *name, const char *text) {
    return diag_add_source_at(d, name, text, 1);
}

const char *diag_add_source_at(Diag *d, const char *name, const char *text, int first_line) {
    DiagSource *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->name = dupstr(name);
    s->text = dupstr(text ? text : "");
    s->first_line = first_line;
    s->next = d->sources;
    d->sources = s;
    return s->name;
}

const char *diag_skip_bom(const char *text) {
    return text && strncmp(text, "\xEF\xBB\xBF", 3) == 0 ? text + 3 : text;
}

static int utf8_continuation(const char *q) { return ((unsigned char)*q & 0xC0) == 0x80; }

const char *diag_col_byte(const char *line, const char *end, int col) {
    const char *at = line;
    for (int c = 1; at < end; at++) { /* a continuation byte belongs to the character before it */
        if (utf8_continuation(at)) continue;
        if (c == col) break;
        c++;
    }
    return at;
}

int diag_cols(const char *s, size_t n) {
    int cols = 0;
    for (size_t i = 0; i < n; i++) cols += !utf8_continuation(s + i);
    return cols;
}

static const DiagSource *find_source(const Diag *d, const char *name) {
    for (const DiagSource *s = d->sources; s; s = s->next)
        if (s->name == name) return s;
    for (const DiagSource *s = d->sources; s; s = s->next)
        if (name && strcmp(s->name, name) == 0) return s;
    return NULL;
}

enum { QUOTE_WIDTH = 200 }; /* bytes of a source line quoted at most */

/* Prints the source line of loc and a caret under its column. A line longer than
 * QUOTE_WIDTH bytes is quoted as a window of about that many around the column, "..."
 * marking what is left out on either side (cut between UTF-8 characters), so that a
 * 400 KB line is not echoed whole; the caret stays under its character (one space for
 * each character before it, as a terminal shows them: é is two bytes, one column). */
static void quote_line(Diag *d, Loc loc) {
    const DiagSource *s = find_source(d, loc.file);
    if (!s || loc.line <= 0 || loc.line < s->first_line) return;
    const char *p = diag_skip_bom(s->text);
    for (int l = s->first_line; l < loc.line && *p; p++)
        if (*p == '\n') l++;
    const char *e = p;
    while (*e && *e != '\n') e++;
    if (e > p && e[-1] == '\r') e--; /* a CRLF line's '\r' is not shown (it was a '?') */
    const char *at = diag_col_byte(p, e, loc.col); /* the caret's byte (may be e) */
    const char *from = p, *to = e;
    if (e - p > QUOTE_WIDTH) {
        from = at - QUOTE_WIDTH / 2 > p ? at - QUOTE_WIDTH / 2 : p;
        to = e - from > QUOTE_WIDTH ? from + QUOTE_WIDTH : e;
        if (to == e) from = e - QUOTE_WIDTH;
        while (from > p && from < at && utf8_continuation(from)) from++;
        while (to < e && to > at && utf8_continuation(to)) to--;
    }
    fputs(from > p ? "  ..." : "  ", d->out);
    for (const char *q = from; q < to; q++) {
        unsigned char c = (unsigned char)*q;
        fputc(c == '\t' || c >= 0x20 ? c : '?', d->out);
    }
    fputs(to < e ? "...\n  " : "\n  ", d->out);
    if (from > p) fputs("   ", d->out);
    for (const char *q = from; q < at; q++) /* a space per character, not per byte */
        if (!utf8_continuation(q)) fputc(*q == '\t' ? '\t' : ' ', d->out);
    fputs("^\n", d->out);
}

static void emit(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap) {
    if (loc.file && loc.line > 0)
        fprintf(d->out, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, kind);
    else if (loc.file)
        fprintf(d->out, "%s: %s: ", loc.file, kind);
    else
        fprintf(d->out, "bpc: %s: ", kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    quote_line(d, loc);
}

enum { CONTEXT_SHOWN = 10 }; /* notes of a deeper context: the 5 innermost and the 5 outermost */

/* The context's notes, innermost first; of a deeper one than CONTEXT_SHOWN, the middle is
 * one line that counts what it leaves out (as gcc's "skipping N instantiation contexts"). */
static void context_notes(Diag *d) {
    int n = d->ncontext < DIAG_MAX_CONTEXT ? d->ncontext : DIAG_MAX_CONTEXT;
    for (int i = n - 1; i >= 0; i--) {
        if (n > CONTEXT_SHOWN && i == n - 1 - CONTEXT_SHOWN / 2) {
            int left_out = n - CONTEXT_SHOWN;
            diag_note(d, (Loc){d->context[i].loc.file, 0, 0}, "%d more call%s in between left out", left_out,
                      left_out == 1 ? "" : "s");
            i -= left_out - 1;
            continue;
        }
        diag_note(d, d->context[i].loc, "%s", d->context[i].note);
    }
}

void diag_push_context(Diag *d, Loc loc, const char *note) {
    if (d->ncontext < DIAG_MAX_CONTEXT) d->context[d->ncontext] = (DiagContext){loc, note};
    d->ncontext++;
}

void diag_pop_context(Diag *d) {
    BP_ASSERT(d->ncontext > 0);
    d->ncontext--;
}

void diag_verror(Diag *d, Loc loc, const char *fmt, va_list ap) {
    d->nerrors++;
    int max = d->max_errors ? d->max_errors : 50;
    if (d->nerrors > max) return;
    emit(d, loc, "error", fmt, ap);
    context_notes(d);
    if (d->nerrors == max) fprintf(d->out, "bpc: too many errors; stopping here\n");
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, loc, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...) {
    int max = d->max_errors ? d->max_errors : 50;
    if (d->nerrors > max) return;
    va_list ap;
    va_start(ap, fmt);
    emit(d, loc, "note", fmt, ap);
    va_end(ap);
}

static const char *tool_prefix = "bpc: ";

void diag_set_tool_prefix(const char *prefix) { tool_prefix = prefix; }

/* The line is written at once: the ranks of an MPI job share one stderr, where pieces
 * written apart came out as "bpc: error: bpc: error: FILE: ...". */
static void tool_say(const char *kind, const char *fmt, va_list ap) {
    char line[16384];
    va_list again;
    va_copy(again, ap);
    fflush(stdout);
    int k = snprintf(line, sizeof line, "%s%s: ", tool_prefix, kind);
    int n = k > 0 && (size_t)k < sizeof line ? vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap) : -1;
    if (n >= 0 && (size_t)(k + n) + 1 < sizeof line) {
        line[k + n] = '\n';
        fwrite(line, 1, (size_t)(k + n) + 1, stderr);
    } else { /* (longer than any message bpc makes) */
        fprintf(stderr, "%s%s: ", tool_prefix, kind);
        vfprintf(stderr, fmt, again);
        fputc('\n', stderr);
    }
    va_end(again);
}

void diag_tool_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tool_say("error", fmt, ap);
    va_end(ap);
}

void diag_tool_warning(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tool_say("warning", fmt, ap);
    va_end(ap);
}

void diag_tool_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tool_say("note", fmt, ap);
    va_end(ap);
}

void bp_assert_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "bpc: internal error at %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}
