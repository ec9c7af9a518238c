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
    DiagSource *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->name = dupstr(name);
    s->text = dupstr(text ? text : "");
    s->next = d->sources;
    d->sources = s;
    return s->name;
}

static const DiagSource *find_source(const Diag *d, const char *name) {
    for (const DiagSource *s = d->sources; s; s = s->next)
        if (s->name == name) return s;
    for (const DiagSource *s = d->sources; s; s = s->next)
        if (name && strcmp(s->name, name) == 0) return s;
    return NULL;
}

/* Prints the source line of loc and a caret under its column. */
static void quote_line(Diag *d, Loc loc) {
    const DiagSource *s = find_source(d, loc.file);
    if (!s || loc.line <= 0) return;
    const char *p = s->text;
    for (int l = 1; l < loc.line && *p; p++)
        if (*p == '\n') l++;
    const char *e = p;
    while (*e && *e != '\n') e++;
    fputs("  ", d->out);
    for (const char *q = p; q < e; q++) {
        unsigned char c = (unsigned char)*q;
        fputc(c == '\t' || c >= 0x20 ? c : '?', d->out);
    }
    fputs("\n  ", d->out);
    for (int c = 1; c < loc.col && p + c - 1 < e; c++) fputc(p[c - 1] == '\t' ? '\t' : ' ', d->out);
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

void diag_verror(Diag *d, Loc loc, const char *fmt, va_list ap) {
    d->nerrors++;
    int max = d->max_errors ? d->max_errors : 50;
    if (d->nerrors > max) return;
    emit(d, loc, "error", fmt, ap);
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

void bp_assert_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "bpc: internal error at %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}
