/* st_compare.c — compares the tensors of two safetensors files:
 *     st_compare A.safetensors B.safetensors TOL [IGNORED_NAME...]
 * Every tensor of A must be in B with the same dtype and shape, and the other way round;
 * floating-point values may differ by at most TOL (absolute), integers not at all.
 * Tensors named IGNORED_NAME are left out (e.g. __bpc.opt_state, raw bytes). Prints the
 * largest difference per tensor; exit status 0 if all agree, 1 if not, 2 on bad usage or
 * an unreadable file. Used by tests/mpi.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"

static int skipped(const char *name, int argc, char **argv) {
    for (int i = 4; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

static int is_float(int dt) { return dt == BPRT_F32 || dt == BPRT_F64 || dt == BPRT_F16 || dt == BPRT_BF16; }

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: st_compare A.safetensors B.safetensors TOL [IGNORED_NAME...]\n");
        return 2;
    }
    double tol = atof(argv[3]);
    BprtSafetensors a, b;
    char err[BPRT_ERRLEN];
    if (bprt_st_read(argv[1], &a, err) != 0) {
        fprintf(stderr, "st_compare: %s\n", err);
        return 2;
    }
    if (bprt_st_read(argv[2], &b, err) != 0) {
        fprintf(stderr, "st_compare: %s\n", err);
        bprt_st_free(&a);
        return 2;
    }
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < b.count; i++)
        if (!skipped(b.tensors[i].name, argc, argv) && !bprt_st_find(&a, b.tensors[i].name)) {
            printf("%s: only in %s\n", b.tensors[i].name, argv[2]);
            bad = 1;
        }
    for (int i = 0; i < a.count; i++) {
        const BprtTensor *ta = &a.tensors[i], *tb = bprt_st_find(&b, ta->name);
        if (skipped(ta->name, argc, argv)) continue;
        if (!tb) {
            printf("%s: only in %s\n", ta->name, argv[1]);
            bad = 1;
            continue;
        }
        int same = ta->dtype == tb->dtype && ta->ndim == tb->ndim && ta->count == tb->count;
        for (int k = 0; same && k < ta->ndim; k++) same = ta->shape[k] == tb->shape[k];
        if (!same) {
            printf("%s: dtype or shape differs\n", ta->name);
            bad = 1;
            continue;
        }
        double *va = malloc((size_t)ta->count * sizeof *va + 8), *vb = malloc((size_t)tb->count * sizeof *vb + 8);
        if (!va || !vb) abort();
        bprt_st_to_f64(ta, va);
        bprt_st_to_f64(tb, vb);
        double d = 0;
        int64_t at = 0;
        for (int64_t k = 0; k < ta->count; k++) {
            double e = fabs(va[k] - vb[k]);
            if (!(e <= d)) d = e, at = k; /* NaN counts as a difference */
        }
        int ok = is_float(ta->dtype) ? d <= tol : d == 0;
        printf("%s: %lld values, max |difference| %.3g%s\n", ta->name, (long long)ta->count, d,
               ok ? "" : " (too large)");
        if (!ok) printf("  at [%lld]: %.9g vs %.9g\n", (long long)at, va[at], vb[at]);
        if (is_float(ta->dtype) && d > worst) worst = d;
        bad |= !ok;
        free(va);
        free(vb);
    }
    printf("%s: largest difference %.3g (tolerance %g)\n", bad ? "DIFFERENT" : "same", worst, tol);
    bprt_st_free(&a);
    bprt_st_free(&b);
    return bad;
}
