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
 * time, or any caller inside a task, runs the task as one thread, all of it as thread 0 of 1),
 * writes fn and ctx, sets `pending` to the other members' number, and publishes the post
 * in one 64-bit word, `task`: a count bumped per post, with the team's size beside it.
 * Worker t sees a new task word; if t < nt it takes member t of that post (claim[t], below)
 * and, if it got it, reads fn and ctx, runs fn(ctx, t, nt) and decrements pending. The
 * caller runs fn(ctx, 0, nt) and waits for pending to reach 0, so fn and ctx stay as posted
 * while any member runs; a worker outside the team, or one that did not get its member,
 * reads nothing else (the caller may be writing the next post). A worker that has seen no
 * new task for SPIN_NS (at once while the caller is alone, below) goes to sleep on the
 * count's 32 bits (FUTEX_WAIT); the caller wakes
 * sleepers after a post. Workers are started on first need, up to the largest team asked
 * for, and are never stopped (a process's exit ends them). A child of fork() starts with no
 * workers.
 *
 * Members nobody started are the caller's: claim[t] holds the count of the last post whose
 * member t was taken, by worker t or by the caller, each with one compare-and-swap from an
 * older count, so exactly one of them runs it. The caller, once its own member is done and
 * it has waited STEAL_NS for the others, takes every member no worker has, in order, and
 * runs it itself. A worker descheduled by another program on its core (or asleep, or slow
 * to wake) then costs a region STEAL_NS instead of the milliseconds until the kernel gives
 * it the core back. Beside one busy loop of another program on 2 cores, fashion_mlp3's
 * batch-16 Adam step on 2 threads took 1.70-3.13 ms before and 0.80-1.62 ms after (1 thread:
 * 0.56-0.60); tiny_gpt's 30 training steps 3.9-4.5 s before and 3.4-3.6 s after (1 thread:
 * 2.4-2.5), beside two busy loops 5.1-11.4 s before and 3.2-3.8 s after (1 thread: 3.4-3.7).
 * Three runnable threads on two cores still share them: when the workers keep missing
 * their members, the caller runs whole regions alone for a while (ALONE_AFTER, below) and
 * the workers go to sleep.
 *
 * A member's work depends on its id, not on the thread that runs it (every task's
 * contract), and its scratch buffers, with their packed-operand keys, are the member's
 * (gemm.c's member_scratch): the values and the allocations are the same whoever runs it.
 * The one task whose members wait for each other (gemv_owned: member t for t - 1) waits only
 * for lower ids, which the caller has run or a worker has started. In a quiet machine every
 * worker takes its member within a microsecond of the post, on a line only it writes, and
 * nothing changes.
 *
 * (The team's size was once a field of its own, read after the count and checked by reading
 * the count again. A worker outside one team could read the next post's size before that
 * post's count was bumped, run the old post as a member and then the new one, and leave
 * pending short of 0 or a member unrun: test_runtime_pool hung once in CI under load.) */
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

enum { MAX_WORKERS = BPRT_POOL_MAX_TEAM - 1 };
/* A worker spins this long after its last task before it sleeps: a step's regions are
 * microseconds apart; a sleeping worker takes tens of microseconds to wake. With
 * OMP_WAIT_POLICY=passive (as for OpenMP: cores busy with other work) it sleeps at once and
 * the caller yields while it waits; with =active it spins for a second (either way, it
 * sleeps at once while the caller runs regions alone, below). */
#define SPIN_NS 2000000L
/* The caller waits this long for the workers to take their members before it takes the rest
 * (above): far above the ~0.5 us a spinning worker needs to see a post and start, far below
 * the ~3 ms a descheduled one is away; STEAL_WAKE_NS after a post that woke sleepers, which
 * take tens of microseconds to start (the caller alone would run a long region at half the
 * speed). */
#define STEAL_NS 2000L
#define STEAL_WAKE_NS 200000L

/* Alone: when the caller ran a worker's member in ALONE_AFTER of the last 16 regions (the
 * workers kept off their cores by other programs), it runs whole regions alone, posting
 * nothing, for ALONE_MIN_NS. The workers, told so by `alone`, stop spinning at once and
 * sleep, and leave the cores to the caller and the other programs (three runnable threads on
 * two cores gave the caller two thirds of one). The next region is posted again, with 7 of
 * the last 16 counted bad, so that one more bad region in the next few sends the caller alone
 * again, for twice as long as the last period (up to ALONE_MAX_NS); the length starts again
 * at ALONE_MIN_NS once 16 regions in a row went well. That first region, when it had to wake
 * the sleeping workers, is not counted either way (it measures how fast a futex wakes, not
 * whether the cores are free): the next, with the workers awake, is. (Not counting every
 * region that woke sleepers left a worker woken on a busy core counted asleep until it ran:
 * each region then waited STEAL_WAKE_NS and none counted.) (See bench/NOTES.md, twenty-seventh
 * session, for what else was tried.) A caller that has waited YIELD_NS for a member a worker
 * took (the worker may have lost its core) yields its own while it waits. */
#define ALONE_AFTER 8
#define YIELD_NS 50000L
#define ALONE_MIN_NS 2000000L
#define ALONE_MAX_NS 64000000L

#if defined(__x86_64__) || defined(__i386__)
#define PAUSE() __builtin_ia32_pause()
#else
#define PAUSE() ((void)0)
#endif

static struct {
    /* the line the workers spin on: a new post (TASK_NT_SHIFT), and what it asks */
    _Alignas(64) uint64_t task;
    BprtTaskFn fn;
    void *ctx;
    /* the line the caller spins on: workers still running the task */
    _Alignas(64) int pending;
    _Alignas(64) int sleepers; /* workers asleep (or about to be) on task */
    int busy;                  /* the try-lock: a caller is using the pool */
    int workers;               /* started so far */
    long spin_ns;              /* SPIN_NS, or as OMP_WAIT_POLICY says */
    int passive;
    /* alone (above), the caller's under the try-lock: */
    unsigned bad;              /* the last 16 regions: bit i set if the i-th last went badly */
    long alone_until;          /* 0, or the time the caller runs regions alone until */
    long alone_ns;             /* the length of the last period alone (0: none since a team) */
    long alone_regions;        /* regions run alone in this process (bprt_pool_alone_regions) */
    pthread_mutex_t start_lock;
    _Alignas(64) int alone;    /* alone_until is set: the workers sleep at once (a line that
                                  changes only when that does, which they read as they spin) */
} pool = {.start_lock = PTHREAD_MUTEX_INITIALIZER};

/* task = team size << TASK_NT_SHIFT | post count (48 bits: it never wraps; its low 32 bits
   are the futex's word) */
#define TASK_NT_SHIFT 48
#define TASK_NT(task) ((int)((task) >> TASK_NT_SHIFT))
#define TASK_COUNT(task) ((task) & (((uint64_t)1 << TASK_NT_SHIFT) - 1))

/* claim[t].post: the count of the last post whose member t was taken (by worker t, or by
   the caller), each on its own line, which in a quiet machine only worker t writes */
static struct {
    _Alignas(64) uint64_t post;
} claim[MAX_WORKERS + 1];

/* 1 if this thread took member t of post `post` (nobody had), 0 if another had */
static int take_member(int t, uint64_t post)
{
    uint64_t cur = __atomic_load_n(&claim[t].post, __ATOMIC_RELAXED);
    while (cur < post)
        if (__atomic_compare_exchange_n(&claim[t].post, &cur, post, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return 1;
    return 0;
}

/* the count's half of the task word, which a sleeping worker waits on */
static unsigned *task_count_word(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (unsigned *)&pool.task + 1;
#else
    return (unsigned *)&pool.task;
#endif
}

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

/* the task word when worker t was started (under the try-lock, so no task had been posted
   to it) */
static uint64_t start_task[MAX_WORKERS + 1];

static void *worker_main(void *arg)
{
    const int id = (int)(intptr_t)arg;
    uint64_t seen = start_task[id];
    in_task = 1;
    bprt_scratch_use(bprt_scratch_of_member(id)); /* member id's buffers, wherever it runs */
    for (;;) {
        uint64_t task;
        long spun_since = now_ns();
        int spins = 0;
        while ((task = __atomic_load_n(&pool.task, __ATOMIC_ACQUIRE)) == seen) {
            PAUSE();
            if (++spins < 256)
                continue;
            spins = 0;
            if (now_ns() - spun_since < pool.spin_ns && !__atomic_load_n(&pool.alone, __ATOMIC_RELAXED))
                continue; /* (the caller runs regions alone: sleep now) */
            __atomic_fetch_add(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&pool.task, __ATOMIC_SEQ_CST) == seen)
                futex(task_count_word(), FUTEX_WAIT_PRIVATE, (unsigned)seen);
            __atomic_fetch_sub(&pool.sleepers, 1, __ATOMIC_SEQ_CST);
            spun_since = now_ns();
        }
        seen = task;
        const int nt = TASK_NT(task);
        if (id < nt && take_member(id, TASK_COUNT(task))) {
            /* a member: the caller waits for it before it writes another post */
            const BprtTaskFn fn = __atomic_load_n(&pool.fn, __ATOMIC_RELAXED);
            void *const ctx = __atomic_load_n(&pool.ctx, __ATOMIC_RELAXED);
            fn(ctx, id, nt);
            __atomic_fetch_sub(&pool.pending, 1, __ATOMIC_RELEASE);
        }
    }
    return NULL;
}

static void after_fork_child(void)
{
    pool.bad = 0;
    pool.alone_until = pool.alone_ns = 0;
    pool.alone = 0;
    pool.alone_regions = 0;
    pool.workers = 0;
    pool.busy = 0;
    pool.sleepers = 0;
    pool.pending = 0;
    pthread_mutex_init(&pool.start_lock, NULL);
    bprt_scratch_after_fork();
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
        start_task[pool.workers + 1] = __atomic_load_n(&pool.task, __ATOMIC_RELAXED);
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

/* member m of a region on the caller, on member m's buffers */
static void run_member(int m, int nt, BprtTaskFn fn, void *ctx)
{
    BprtScratch *const own = bprt_scratch_use(bprt_scratch_of_member(m));
    fn(ctx, m, nt);
    bprt_scratch_use(own);
}

/* a region alone: every member on the caller, in order (a member waits only for lower ids) */
static void run_alone(int nt, BprtTaskFn fn, void *ctx)
{
    in_task = 1;
    fn(ctx, 0, nt);
    for (int m = 1; m < nt; m++)
        run_member(m, nt, fn, ctx);
    in_task = 0;
    __atomic_store_n(&pool.alone_regions, pool.alone_regions + 1, __ATOMIC_RELAXED); /* (read by any thread) */
}

long bprt_pool_alone_regions(void)
{
    return __atomic_load_n(&pool.alone_regions, __ATOMIC_RELAXED);
}

void bprt_pool_team_again(void)
{
    if (in_task)
        return; /* (the pool is this thread's, or a worker's: no region of its own to change) */
    while (__atomic_exchange_n(&pool.busy, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    pool.alone_until = pool.alone_ns = 0;
    __atomic_store_n(&pool.alone, 0, __ATOMIC_RELAXED);
    pool.bad = 0;
    __atomic_store_n(&pool.busy, 0, __ATOMIC_RELEASE);
}

int bprt_pool_in_task(void)
{
    return in_task;
}

void bprt_pool_run(int nt, BprtTaskFn fn, void *ctx)
{
    if (nt > 1 && !in_task && !__atomic_exchange_n(&pool.busy, 1, __ATOMIC_ACQUIRE)) {
        nt = ensure_workers(nt);
        int probe = 0; /* the first region posted after a period alone */
        if (nt > 1 && pool.alone_until) {
            if (now_ns() < pool.alone_until) {
                run_alone(nt, fn, ctx);
                __atomic_store_n(&pool.busy, 0, __ATOMIC_RELEASE);
                return;
            }
            pool.alone_until = 0;
            __atomic_store_n(&pool.alone, 0, __ATOMIC_RELAXED);
            pool.bad = (1u << (ALONE_AFTER - 1)) - 1; /* this region asks the workers again */
            probe = 1;
        }
        if (nt > 1) {
            __atomic_store_n(&pool.fn, fn, __ATOMIC_RELAXED);
            __atomic_store_n(&pool.ctx, ctx, __ATOMIC_RELAXED);
            __atomic_store_n(&pool.pending, nt - 1, __ATOMIC_RELAXED);
            const uint64_t post = TASK_COUNT(__atomic_load_n(&pool.task, __ATOMIC_RELAXED)) + 1;
            __atomic_store_n(&pool.task, (uint64_t)nt << TASK_NT_SHIFT | post, __ATOMIC_SEQ_CST);
            /* (any sleeper, of this team or not, lengthens the wait: a wake-up is rare) */
            long steal_ns = STEAL_NS;
            const int woke = __atomic_load_n(&pool.sleepers, __ATOMIC_SEQ_CST) != 0;
            if (woke) {
                futex(task_count_word(), FUTEX_WAKE_PRIVATE, INT_MAX);
                steal_ns = STEAL_WAKE_NS;
            }
            in_task = 1;
            fn(ctx, 0, nt);
            const long t_own = now_ns(), steal_at = t_own + steal_ns;
            int swept = 0, took = 0;
            for (int spins = 0; __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) != 0; spins++) {
                if (!swept && (spins & 15) == 0 && now_ns() >= steal_at) { /* the members nobody took */
                    for (int m = 1; m < nt; m++)
                        if (take_member(m, post)) {
                            run_member(m, nt, fn, ctx);
                            __atomic_fetch_sub(&pool.pending, 1, __ATOMIC_RELEASE);
                            took++;
                        }
                    swept = 1;
                }
                /* (passive, or a worker holding its member off its core: give the core away) */
                if ((pool.passive && spins > 1000) || (swept && (spins & 15) == 0 && now_ns() - t_own > YIELD_NS))
                    sched_yield();
                else
                    PAUSE();
            }
            in_task = 0;
            if (!(probe && woke)) { /* (a probe that woke the workers measured the wake-up, not the cores) */
                const int bad = took > 0;
                pool.bad = (pool.bad << 1 | (unsigned)bad) & 0xffffu;
                if (!pool.bad) /* 16 good regions in a row: the next period alone is the shortest */
                    pool.alone_ns = 0;
                else if (bad && __builtin_popcount(pool.bad) >= ALONE_AFTER) {
                    pool.alone_ns = pool.alone_ns ? (2 * pool.alone_ns < ALONE_MAX_NS ? 2 * pool.alone_ns : ALONE_MAX_NS)
                                                  : ALONE_MIN_NS;
                    pool.alone_until = now_ns() + pool.alone_ns;
                    __atomic_store_n(&pool.alone, 1, __ATOMIC_RELAXED);
                    pool.bad = 0;
                }
            }
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
