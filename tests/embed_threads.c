/* embed_threads.c — one generated model used from two threads of the embedding program
 * (tests/embed_threads.sh): each thread has its own parameters, optimizer state and
 * workspace, and runs NAME_init, STEPS x NAME_train_step, NAME_grad and NAME_forward on its
 * own inputs. Two such jobs run one after the other on the main thread, then ROUNDS times at
 * once on two threads; every loss, parameter, gradient and output must be the same bits as
 * in the sequential run. Exit status 0 if so (and if the workspace sizes do not decrease
 * from B = 0 to 4 BATCH, as README says).
 *
 * Built once per model, whose header model.h includes, with -D: MODEL (its prefix), NPARAMS (its
 * NAME_NPARAMS), XT (the first input's C type: float or int32_t), XN and YN (the two inputs'
 * elements per row), XSCALE (x is an integer below 256 divided by it), NOUT (the output's reals
 * per row), YMOD (labels are below it), BATCH,
 * STEPS, ROUNDS.
 *
 * With -DCOUNT_ALLOCS, also README's "a step allocates nothing once one has run": after a
 * third job's run and a Hessian-vector product, two more train steps, a gradient, a
 * Hessian-vector product and a forward pass must not call the allocator, on any thread (1:
 * this program's own malloc, calloc, realloc, aligned_alloc, posix_memalign and memalign
 * count and pass on to glibc's; 2, for a libbprt built with
 * AddressSanitizer, whose library the test preloads, or a program built with it: the
 * sanitizer's allocation hook). With -DCOUNT_FIRST as well (--standalone output), the third
 * job's first run (NAME_init, the steps, the gradient, the forward pass, the first
 * Hessian-vector product) is counted too. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define F(suffix) CAT(MODEL, suffix)
#define STR2(a) #a
#define STR(a) STR2(a)

enum { B = BATCH };

typedef struct Job {
    uint64_t seed;
    float *params, *grad, *out, loss[STEPS + 1];
    void *opt, *ws;
    XT *x;
    int32_t *y;
} Job;

#ifdef COUNT_ALLOCS
static long allocs;  /* allocations while counting */
static int counting; /* set on the main thread while every other thread waits in the pool */
static void counted(void) {
    if (__atomic_load_n(&counting, __ATOMIC_RELAXED)) __atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
}
#if COUNT_ALLOCS == 2
/* weak: the sanitizer's library is preloaded, not linked (libbprt needs it, this program not) */
int __sanitizer_install_malloc_and_free_hooks(void (*)(const volatile void *, size_t),
                                              void (*)(const volatile void *)) __attribute__((weak));
static void on_malloc(const volatile void *p, size_t n) {
    (void)p, (void)n;
    counted();
}
static void on_free(const volatile void *p) { (void)p; }
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void *malloc(size_t n) {
    counted();
    return __libc_malloc(n);
}
void *calloc(size_t k, size_t n) {
    counted();
    return __libc_calloc(k, n);
}
void *realloc(void *p, size_t n) {
    counted();
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t align, size_t n) {
    counted();
    return __libc_memalign(align, n);
}
void *memalign(size_t align, size_t n);
void *memalign(size_t align, size_t n) {
    counted();
    return __libc_memalign(align, n);
}
int posix_memalign(void **p, size_t align, size_t n) {
    counted();
    *p = __libc_memalign(align, n);
    return *p ? 0 : ENOMEM;
}
#endif
#endif

static void *alloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* seed: the parameters' and the inputs' (x: below 256, divided by XSCALE) */
static void job_make(Job *j, uint64_t seed) {
    uint64_t s = seed;
    j->seed = seed;
    j->params = (float *)alloc(sizeof(float) * NPARAMS);
    j->grad = (float *)alloc(sizeof(float) * NPARAMS);
    j->out = (float *)alloc(sizeof(float) * B * NOUT);
    j->opt = alloc(F(_opt_state_size)());
    j->ws = alloc(F(_workspace_size)(B));
    j->x = (XT *)alloc(sizeof(XT) * B * XN);
    j->y = (int32_t *)alloc(sizeof(int32_t) * B * YN);
    for (int i = 0; i < B * XN; i++)
        j->x[i] = (XT)((double)(lcg(&s) % 256) / XSCALE);
    for (int i = 0; i < B * YN; i++)
        j->y[i] = (int32_t)(lcg(&s) % YMOD);
}

static void job_free(Job *j) {
    free(j->params);
    free(j->grad);
    free(j->out);
    free(j->opt);
    free(j->ws);
    free(j->x);
    free(j->y);
}

static void *job_run(void *arg) {
    Job *j = (Job *)arg;
    F(_init)(j->params, j->seed);
    memset(j->opt, 0, F(_opt_state_size)());
    for (int t = 0; t < STEPS; t++)
        j->loss[t] = F(_train_step)(j->params, j->opt, j->x, j->y, B, 0.001f, j->ws);
    j->loss[STEPS] = F(_grad)(j->params, j->grad, j->x, j->y, B, j->ws);
    F(_forward)(j->params, j->x, j->out, B, j->ws);
    return NULL;
}

static int job_same(const Job *a, const Job *b) {
    return !memcmp(a->loss, b->loss, sizeof a->loss) &&
           !memcmp(a->params, b->params, sizeof(float) * NPARAMS) &&
           !memcmp(a->grad, b->grad, sizeof(float) * NPARAMS) &&
           !memcmp(a->out, b->out, sizeof(float) * B * NOUT);
}

/* README: a workspace for B rows serves every call with fewer (each size is nondecreasing) */
static int sizes_nondecreasing(void) {
    for (int b = 0; b < 4 * B; b++)
        if (F(_workspace_size)(b) > F(_workspace_size)(b + 1) ||
            F(_train_workspace_size)(b) > F(_train_workspace_size)(b + 1) ||
            F(_forward_workspace_size)(b) > F(_forward_workspace_size)(b + 1)) {
            printf("a workspace size at B = %d is larger than at B = %d\n", b, b + 1);
            return 0;
        }
    return 1;
}

#ifdef COUNT_ALLOCS
/* 0 if a step, a gradient, a Hessian-vector product and a forward pass after a first run
 * allocate nothing */
static int steps_allocate(void) {
    Job j;
    float *v = (float *)alloc(sizeof(float) * NPARAMS), *hv = (float *)alloc(sizeof(float) * NPARAMS);
    for (int i = 0; i < NPARAMS; i++) v[i] = (float)(i % 7) - 3;
#if COUNT_ALLOCS == 2
    if (!__sanitizer_install_malloc_and_free_hooks || !__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free)) {
        printf("%s: cannot count allocations: no AddressSanitizer hook\n", STR(MODEL));
        return 1;
    }
#endif
    job_make(&j, 3);
#ifdef COUNT_FIRST /* --standalone output keeps nothing between calls: its first run is counted too */
    __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
#endif
    job_run(&j);
    F(_hvp)(j.params, v, hv, j.x, j.y, B, j.ws);
    __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
    for (int t = 0; t < 2; t++)
        F(_train_step)(j.params, j.opt, j.x, j.y, B, 0.001f, j.ws);
    F(_grad)(j.params, j.grad, j.x, j.y, B, j.ws);
    F(_hvp)(j.params, v, hv, j.x, j.y, B, j.ws);
    F(_forward)(j.params, j.x, j.out, B, j.ws);
    __atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
    job_free(&j);
    free(v);
    free(hv);
    if (allocs) printf("%s: %ld allocations in the steps counted\n", STR(MODEL), allocs);
    return allocs != 0;
}
#else
static int steps_allocate(void) { return 0; }
#endif

int main(void) {
    Job ref[2], par[2];
    int bad = steps_allocate(), differ = 0;
    bad |= !sizes_nondecreasing();
    for (int k = 0; k < 2; k++) {
        job_make(&ref[k], (uint64_t)k + 1);
        job_make(&par[k], (uint64_t)k + 1);
        job_run(&ref[k]);
    }
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t t[2];
        for (int k = 0; k < 2; k++)
            if (pthread_create(&t[k], NULL, job_run, &par[k]) != 0) {
                fprintf(stderr, "pthread_create failed\n");
                return 2;
            }
        for (int k = 0; k < 2; k++)
            pthread_join(t[k], NULL);
        for (int k = 0; k < 2; k++)
            if (!job_same(&ref[k], &par[k])) {
                printf("round %d: job %d on two threads differs from its sequential run\n", round, k);
                differ = 1;
            }
    }
    printf("%s: losses %g -> %g and %g -> %g, %s\n", STR(MODEL), (double)ref[0].loss[0], (double)ref[0].loss[STEPS],
           (double)ref[1].loss[0], (double)ref[1].loss[STEPS], differ ? "DIFFERENT on two threads" : "the same on two threads");
    for (int k = 0; k < 2; k++) {
        job_free(&ref[k]);
        job_free(&par[k]);
    }
    return bad || differ;
}
