/* pool.c — the runtime's own fork-join team (bprt_pool_run, kernel.h): persistent worker
 * threads that spin on one cache line between parallel regions and sleep on a futex when
 * idle, so that a region costs one line to start it and one to end it.
 *
 * Why not OpenMP's: on this 2-core VM a cache line takes ~230 ns from one core to the
 * other, and libgomp's fork-join passes several (team, barrier, per-thread data): an empty
 * `#pragma omp parallel` costs 2.9-3.3 us, this pool's 0.6-0.7 us. A training step at batch
 * 1 has two regions, of 8-15 us each.
 *
 * Protocol: the caller (thread 0) takes the pool (a try-lock: a second caller at the same
 * time, or any caller inside a task, runs the task alone, all of it as thread 0 of 1),
 * writes the task, sets `pending` to the workers that take part and bumps `gen`; worker t
 * (t = 1 .. nt-1) sees the new gen, runs fn(ctx, t, nt) and decrements pending; the caller
 * runs fn(ctx, 0, nt) and waits for pending to reach 0. A worker that has seen no new gen
 * for SPIN_NS goes to sleep on gen (FUTEX_WAIT); the caller wakes sleepers after bumping
 * it. Workers are started on first need, up to the largest team asked for, and are never
 * stopped (a process's exit ends them). A child of fork() starts with no workers. */
#define _GNU_SOURCE
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <strings.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bprt.h"
#include "kernel.h"

enum { MAX_WORKERS = 255 };
/* A worker spins this long after its last task before it sleeps: a step's regions are
 * microseconds apart; a sleeping worker takes tens of microseconds to wake. With
 * OMP_WAIT_POLICY=passive (as for OpenMP: cores busy with other work) it sleeps at once and
 * the caller yields while it waits; with =active it spins for a second. */
#define SPIN_NS 2000000L

#if defined(__x86_64__) || defined(__i386__)
#define PAUSE() __builtin_ia32_pause()
#else
#define PAUSE() ((void)0)
#endif

static struct {
    /* the line the workers spin on: a new task */
    _Alignas(64) unsigned gen;
    BprtTaskFn fn;
    void *ctx;
    int nt;
    /* the line the caller spins on: workers still running the task */
    _Alignas(64) int pending;
    _Alignas(64) int sleepers; /* workers asleep (or about to be) on gen */
    int busy;                  /* the try-lock: a caller is using the pool */
    int workers;               /* started so far */
    long spin_ns;              /* SPIN_NS, or as OMP_WAIT_POLICY says */
    int passive;
    pthread_mutex_t start_lock;
} pool = {.start_lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int in_task; /* this thread runs a pool task (workers always) */

static long futex(unsigned *addr, int op, unsigned val)
{
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* gen when worker t was started (under the try-lock, so no task had been posted to it) */
static unsigned start_gen[MAX_WORKERS + 1];

static void *worker_main(void *arg)
{
    const int id = (int)(intptr_t)arg;
    unsigned seen = start_gen[id];
    in_task = 1;
    for (;;) {
        unsigned g;
        long spun_since = now_ns();
        int spins = 0;
        while ((g = __atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE)) == seen) {
            PAUSE();
            if (++spins < 256)
                continue;
            spins = 0;
            if (now_ns() - spun_since < pool.spin_ns)
                continue;
            __atomic_fetch_add(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&pool.gen, __ATOMIC_SEQ_CST) == seen)
                futex(&pool.gen, FUTEX_WAIT_PRIVATE, seen);
            __atomic_fetch_sub(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
            spun_since = now_ns();
        }
        /* the task of gen g; a worker not in g's team may find a newer one posted while it
           reads (the caller waits only for its team): then it looks again */
        const BprtTaskFn fn = __atomic_load_n(&pool.fn, __ATOMIC_RELAXED);
        void *const ctx = __atomic_load_n(&pool.ctx, __ATOMIC_RELAXED);
        const int nt = __atomic_load_n(&pool.nt, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        seen = g;
        if (__atomic_load_n(&pool.gen, __ATOMIC_RELAXED) != g)
            continue;
        if (id < nt) {
            fn(ctx, id, nt);
            __atomic_fetch_sub(&pool.pending, 1, __ATOMIC_RELEASE);
        }
    }
    return NULL;
}

static void after_fork_child(void)
{
    pool.workers = 0;
    pool.busy = 0;
    pool.sleepers = 0;
    pool.pending = 0;
    pthread_mutex_init(&pool.start_lock, NULL);
}

/* Workers 1 .. n-1 exist (or as many as could be started): the team size available */
static int ensure_workers(int n)
{
    if (n - 1 > MAX_WORKERS)
        n = MAX_WORKERS + 1;
    if (__atomic_load_n(&pool.workers, __ATOMIC_ACQUIRE) >= n - 1)
        return n;
    pthread_mutex_lock(&pool.start_lock);
    static int atfork_done;
    if (!atfork_done) {
        pthread_atfork(NULL, NULL, after_fork_child);
        const char *w = getenv("OMP_WAIT_POLICY");
        pool.passive = w && strcasecmp(w, "passive") == 0;
        pool.spin_ns = pool.passive ? 0 : w && strcasecmp(w, "active") == 0 ? 1000000000L : SPIN_NS;
        atfork_done = 1;
    }
    /* workers block every asynchronous signal (they inherit the mask they are created with),
       so that a process's signals go to its own threads: a handler that jumps (bpc's MPI
       escape) or expects the thread it interrupted runs there. A worker's own faults still
       reach their handlers (a sanitizer's report). */
    sigset_t all, old;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.workers < n - 1) {
        pthread_t t;
        pthread_attr_t attr;
        start_gen[pool.workers + 1] = __atomic_load_n(&pool.gen, __ATOMIC_RELAXED);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(pool.workers + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        __atomic_store_n(&pool.workers, pool.workers + 1, __ATOMIC_RELEASE);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    const int have = pool.workers + 1;
    pthread_mutex_unlock(&pool.start_lock);
    return have < n ? have : n;
}

int bprt_pool_in_task(void)
{
    return in_task;
}

void bprt_pool_run(int nt, BprtTaskFn fn, void *ctx)
{
    if (nt > 1 && !in_task && !__atomic_exchange_n(&pool.busy, 1, __ATOMIC_ACQUIRE)) {
        nt = ensure_workers(nt);
        if (nt > 1) {
            __atomic_store_n(&pool.fn, fn, __ATOMIC_RELAXED);
            __atomic_store_n(&pool.ctx, ctx, __ATOMIC_RELAXED);
            __atomic_store_n(&pool.nt, nt, __ATOMIC_RELAXED);
            __atomic_store_n(&pool.pending, nt - 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&pool.gen, 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&pool.sleepers, __ATOMIC_SEQ_CST))
                futex(&pool.gen, FUTEX_WAKE_PRIVATE, INT_MAX);
            in_task = 1;
            fn(ctx, 0, nt);
            in_task = 0;
            for (int spins = 0; __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) != 0; spins++)
                if (pool.passive && spins > 1000)
                    sched_yield();
                else
                    PAUSE();
            __atomic_store_n(&pool.busy, 0, __ATOMIC_RELEASE);
            return;
        }
        __atomic_store_n(&pool.busy, 0, __ATOMIC_RELEASE);
    }
    const int was = in_task;
    in_task = 1;
    fn(ctx, 0, 1);
    in_task = was;
}

typedef struct Split {
    BprtRangeFn fn;
    void *ctx;
    size_t n;
} Split;

static void split_task(void *arg, int id, int nt)
{
    const Split *s = arg;
    s->fn(s->ctx, s->n * (size_t)id / (size_t)nt, s->n * ((size_t)id + 1) / (size_t)nt);
}

void bprt_split(int team, size_t n, BprtRangeFn fn, void *ctx)
{
    if (team <= 1 || n < 2) {
        fn(ctx, 0, n);
        return;
    }
    Split s = {fn, ctx, n};
    bprt_pool_run(team, split_task, &s);
}
