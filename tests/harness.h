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
    void *dl; /* th_build_standalone with cc: the shared object (dlclose'd by th_free) */
} TestModel;

/* Compiles and JITs text; on failure t->ok == 0 and diagnostics are in t->diag_text
 * (after th_diag_text). sizes: values for the symbolic dims in order (may be NULL). */
void th_build(TestModel *t, const char *text, int f64, const int *sizes);
/* The same with compile options (NULL: the defaults), e.g. {.optimize = 1, .hvp = 1}. */
void th_build_with(TestModel *t, const char *text, int f64, const int *sizes, const CompileOptions *o);
/* The same as --standalone output (the runtime parts it uses carried in the C, every
 * elementwise op through the emitted bp_ functions), with bp_*_entry wrappers: compiled in
 * memory by libtcc (cc = 0), or by the system's cc (or $CC) at -O0 into a shared object
 * that is dlopen'd (cc = 1; -O0 keeps it near a second a program: -O3 takes ten). Only the
 * loss, gradient, init and workspace size are bound. */
void th_build_standalone(TestModel *t, const char *text, int f64, const int *sizes, int cc);
const char *th_diag_text(TestModel *t);
/* Random parameters (normal, std 1) and inputs (normal; int inputs uniform in [0, classes)). */
void th_randomize(TestModel *t, uint64_t seed, int classes);
/* Worst relative error between the gradient and 4th-order central differences (all
 * elements up to 400 per parameter). */
double th_fd_check(TestModel *t);
/* th_build (in double), th_randomize and th_fd_check in one: the worst relative error of the
 * program's gradient, or NaN (which no bound passes) if it does not compile. */
double th_fd_error(const char *text, const int *sizes, uint64_t seed, int classes);
/* Worst relative error of NAME_hvp's H v (v normal from seed)
 * against 4th-order central differences of the gradient along v, in double:
 * |hv - fd| / max(|hv|, |fd|, 1e-4 max |fd|, 1e-6) over all elements (f64 models built with
 * hvp only). Steps h and h/4 both tried per element, so a kink crossed by one of them alone
 * is not counted as an error. */
double th_hvp_check(TestModel *t, uint64_t seed);
void th_free(TestModel *t);

/* The whole file at path as a malloc'd NUL-terminated string, or NULL. */
char *th_read_text(const char *path);

#endif
