/* st_rewrite.c — rewrites a safetensors file as another tool might:
 *     st_rewrite IN OUT [--sort] [--drop NAME] [--bytes NAME TEXT]
 * OUT holds IN's tensors, without IN's "__metadata__"; --sort lays their data out in the
 * byte order of their names (as the header then lists them), else in IN's order; --drop
 * leaves the tensor NAME out; --bytes makes NAME a U8 tensor of TEXT's bytes, with each
 * two-character "\n" in TEXT a newline. Used by tests/train_data.sh: a checkpoint so
 * rewritten must still resume exactly, or be refused with a message naming the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"

static int by_name(const void *a, const void *b) {
    return strcmp(((const BprtTensorOut *)a)->name, ((const BprtTensorOut *)b)->name);
}

int main(int argc, char **argv) {
    const char *drop = NULL, *set = NULL;
    char *text = NULL;
    int sort = 0, bad = argc < 3;
    for (int i = 3; i < argc && !bad; i++)
        if (strcmp(argv[i], "--sort") == 0) sort = 1;
        else if (strcmp(argv[i], "--drop") == 0 && i + 1 < argc) drop = argv[++i];
        else if (strcmp(argv[i], "--bytes") == 0 && i + 2 < argc) set = argv[++i], text = argv[++i];
        else bad = 1;
    if (bad) {
        fprintf(stderr, "usage: st_rewrite IN.safetensors OUT.safetensors [--sort] [--drop NAME] [--bytes NAME TEXT]\n");
        return 2;
    }
    size_t len = 0;
    for (const char *s = text; s && *s; s++) { /* "\n" -> newline, in place */
        if (s[0] == '\\' && s[1] == 'n') text[len++] = '\n', s++;
        else text[len++] = *s;
    }
    BprtSafetensors st;
    char err[BPRT_ERRLEN];
    if (bprt_st_read(argv[1], &st, err) != 0) {
        fprintf(stderr, "st_rewrite: %s\n", err);
        return 1;
    }
    BprtTensorOut *t = calloc((size_t)st.count + 1, sizeof *t);
    if (!t) abort();
    int n = 0;
    for (int i = 0; i < st.count; i++) {
        const BprtTensor *u = &st.tensors[i];
        if (drop && strcmp(u->name, drop) == 0) continue;
        t[n] = (BprtTensorOut){u->name, u->dtype, u->ndim, {0}, u->data};
        memcpy(t[n].shape, u->shape, sizeof u->shape);
        if (set && strcmp(u->name, set) == 0) t[n] = (BprtTensorOut){u->name, BPRT_U8, 1, {(int64_t)len}, text};
        n++;
    }
    if (sort) qsort(t, (size_t)n, sizeof *t, by_name);
    const int rc = bprt_st_write(argv[2], t, n, err);
    if (rc != 0) fprintf(stderr, "st_rewrite: %s\n", err);
    free(t);
    bprt_st_free(&st);
    return rc != 0;
}
