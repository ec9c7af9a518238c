/* fuzz_frontend.c — libFuzzer harness for the whole front end.
 *
 * The input bytes are a .bp program: lexer -> parser -> sema -> fold -> reverse mode ->
 * CSE -> DCE (bpc_compile, default options), and for a program that compiles, every
 * emitter: C source and header in f32 (JIT-style entry points) and f64 (#line directives),
 * the IR dump (--emit=ir), Graphviz and the --emit=test program. It stops short of
 * compiling C. Diagnostics go to /dev/null; a fresh Arena and Diag per input, freed after.
 * Built with -fsanitize=fuzzer (BPC_FUZZ) or with replay.c (the regression tests). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    if (!f)
        abort();
    return f;
}

static void emit_all(Graph *g)
{
    FILE *out = devnull();
    EmitOptions f32 = {0, 1, 0, NULL, 1, 0, 1}; /* as the tcc JIT emits */
    EmitOptions f64 = {1, 0, 1, "fuzz.h", 0, 0, 0}; /* as `bpc -o fuzz.c --f64` writes */
    char *s = bpc_emit_string(g, &f32, 0);
    free(s);
    s = bpc_emit_string(g, &f64, 0);
    free(s);
    s = bpc_emit_string(g, &f64, 1);
    free(s);
    ir_dump(out, g);
    emit_dot(out, g);
    emit_test_program(out, g, &f64, "fuzz.h");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    Diag d;
    diag_init(&d, devnull());
    const char *name = diag_add_source(&d, "fuzz.bp", text);
    const char *stored = NULL;
    for (DiagSource *src = d.sources; src; src = src->next)
        if (src->name == name)
            stored = src->text;
    Arena *a = arena_new();
    Graph *g = bpc_compile(a, &d, name, stored, NULL);
    if (g)
        emit_all(g);
    arena_free(a);
    diag_free(&d);
    free(text);
    return 0;
}
