/* st_dump.c — prints every tensor of a safetensors file, one line each, in file order:
 *     name DTYPE [d0, d1, ...] = v0 v1 ...
 * Values are printed exactly (shortest round-trip for floats: %.9g for F32 and F16/BF16,
 * %.17g for F64; integers as integers), so two files hold the same tensors exactly when
 * the outputs are identical. Used by tests/train.sh. Exit status 1 (message on stderr)
 * when the file does not read. */
#include <stdio.h>
#include <stdlib.h>

#include "bprt.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: st_dump FILE.safetensors\n");
        return 2;
    }
    BprtSafetensors st;
    char err[BPRT_ERRLEN];
    if (bprt_st_read(argv[1], &st, err) != 0) {
        fprintf(stderr, "st_dump: %s\n", err);
        return 1;
    }
    for (int i = 0; i < st.count; i++) {
        const BprtTensor *t = &st.tensors[i];
        printf("%s %s [", t->name, bprt_dtype_name(t->dtype));
        for (int k = 0; k < t->ndim; k++) printf("%s%lld", k ? ", " : "", (long long)t->shape[k]);
        printf("] =");
        double *v = malloc((size_t)t->count * sizeof *v + 8);
        if (!v) abort();
        bprt_st_to_f64(t, v);
        int is_float = t->dtype == BPRT_F32 || t->dtype == BPRT_F64 || t->dtype == BPRT_F16 || t->dtype == BPRT_BF16;
        for (int64_t k = 0; k < t->count; k++) {
            if (!is_float) printf(" %lld", (long long)v[k]);
            else printf(t->dtype == BPRT_F64 ? " %.17g" : " %.9g", v[k]);
        }
        printf("\n");
        free(v);
    }
    bprt_st_free(&st);
    return 0;
}
