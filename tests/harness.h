/* harness.h — helpers the compiler tests share: compile a .bp text, JIT it, fill random
 * parameters and inputs, and compare gradients with finite differences in double. */
#ifndef BP_TEST_HARNESS_H
#define BP_TEST_HARNESS_H

#include "compile.h"
#include "driver.h"

typedef struct TestModel {
    Arena *arena;
    Diag diag;
    char *diag_text;
    size_t diag_len;
    FILE *diag_out;
    Graph *g;
    Model m;
    int ok;
    void *params;
    void *inputs[64];
    int dims[BP_MAXSYMS];
} TestModel;

/* Compiles and JITs text; on failure t->ok == 0 and diagnostics are in t->diag_text
 * (after th_diag_text). sizes: values for the symbolic dims in order (may be NULL). */
void th_build(TestModel *t, const char *text, int f64, const int *sizes);
const char *th_diag_text(TestModel *t);
/* Random parameters (normal, std 1) and inputs (normal; int inputs uniform in [0, classes)). */
void th_randomize(TestModel *t, uint64_t seed, int classes);
/* Worst relative error between the gradient and 4th-order central differences (all
 * elements up to 400 per parameter). */
double th_fd_check(TestModel *t);
void th_free(TestModel *t);

#endif
