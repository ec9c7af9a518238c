/* test_runtime_pool.c — the runtime's fork-join team (runtime/pool.c) and bprt_split on it:
 * every thread of a team runs its task once, with its id and the team's size; shares cover
 * [0, n) once, in contiguous order; a task's nested region runs on its own thread alone; two
 * callers at once both finish (one of them alone); a worker asleep after a long pause wakes
 * for the next task; a child of fork() gets a team of its own, and can take a temporary a
 * parent's worker held; members no worker takes (workers that cannot get a core) are the
 * caller's, each run once even when worker and caller race for it, on the member's scratch
 * buffers (and their packed-operand keys), and a product whose members wait for each other
 * (gemv_owned) gives the one-thread bits that way too. A hang
 * fails through alarm() (120 s: at a load average of 14 on 2 cores, the 800 teams of
 * test_pool_each_thread_once took more than 20 s). */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bprt.h"
#include "kernel.h"

enum { MAXT = 8 };

typedef struct Hits {
    int count[MAXT], nt[MAXT];
    pthread_t self[MAXT];
} Hits;

static void record(void *arg, int id, int nt)
{
    Hits *h = arg;
    if (id < 0 || id >= MAXT)
        return;
    __atomic_fetch_add(&h->count[id], 1, __ATOMIC_RELAXED);
    h->nt[id] = nt;
    h->self[id] = pthread_self();
}

/* record, thread 0 (the caller) waiting until the others have recorded: they cannot be
   the caller's (pool.c gives the caller members no worker took only after its own) */
static void record_on_workers(void *arg, int id, int nt)
{
    Hits *h = arg;
    record(arg, id, nt);
    if (id == 0)
        for (int t = 1; t < nt && t < MAXT; t++)
            while (__atomic_load_n(&h->count[t], __ATOMIC_ACQUIRE) == 0)
                sched_yield();
}

static void check_team(int nt)
{
    Hits h;
    memset(&h, 0, sizeof h);
    bprt_pool_team_again(); /* (record_on_workers waits for the workers: they must be asked) */
    bprt_pool_run(nt, record_on_workers, &h);
    for (int t = 0; t < MAXT; t++) {
        assert_int_equal(h.count[t], t < nt ? 1 : 0);
        if (t < nt)
            assert_int_equal(h.nt[t], nt);
    }
    assert_true(pthread_equal(h.self[0], pthread_self())); /* thread 0 is the caller */
    for (int t = 1; t < nt; t++)
        assert_false(pthread_equal(h.self[t], pthread_self()));
    assert_int_equal(bprt_pool_in_task(), 0);
}

/* the workers block asynchronous signals: a process's signals reach only its own threads */
static void signal_mask(void *arg, int id, int nt)
{
    (void)nt;
    int *blocked = arg;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    __atomic_store_n(&blocked[id], sigismember(&cur, SIGINT) && sigismember(&cur, SIGALRM) &&
                                       sigismember(&cur, SIGTERM), __ATOMIC_RELEASE);
    if (id == 0) /* member 1 on a worker: the caller busy until it has run */
        while (__atomic_load_n(&blocked[1], __ATOMIC_ACQUIRE) < 0)
            sched_yield();
}

static void test_pool_workers_block_signals(void **state)
{
    (void)state;
    alarm(120);
    int blocked[2] = {-1, -1};
    bprt_pool_run(2, signal_mask, blocked);
    assert_int_equal(blocked[0], 0); /* the caller's mask is its own */
    assert_int_equal(blocked[1], 1);
    alarm(0);
}

static void test_pool_each_thread_once(void **state)
{
    (void)state;
    alarm(120);
    for (int rep = 0; rep < 200; rep++)
        for (int nt = 1; nt <= 4; nt++) /* teams of changing sizes, the workers reused */
            check_team(nt);
    alarm(0);
}

/* A task's own region: its thread alone, as thread 0 of 1 */
static void nested(void *arg, int id, int nt)
{
    Hits *outer = arg;
    Hits inner;
    memset(&inner, 0, sizeof inner);
    assert_int_equal(bprt_pool_in_task(), 1);
    bprt_pool_run(3, record, &inner);
    outer->count[id] = inner.count[0] == 1 && inner.nt[0] == 1 && inner.count[1] == 0 &&
                       pthread_equal(inner.self[0], pthread_self());
    outer->nt[id] = nt;
}

static void test_pool_nested_runs_alone(void **state)
{
    (void)state;
    alarm(120);
    Hits h;
    memset(&h, 0, sizeof h);
    bprt_pool_run(2, nested, &h);
    assert_int_equal(h.count[0], 1);
    assert_int_equal(h.count[1], 1);
    assert_int_equal(bprt_pool_in_task(), 0);
    alarm(0);
}

typedef struct Marks {
    int hit[4096];
    size_t first[MAXT + 1], last[MAXT + 1];
    int calls;
} Marks;

static void mark(void *arg, size_t lo, size_t hi)
{
    Marks *m = arg;
    int c = __atomic_fetch_add(&m->calls, 1, __ATOMIC_RELAXED);
    if (c <= MAXT)
        m->first[c] = lo, m->last[c] = hi;
    for (size_t i = lo; i < hi; i++)
        __atomic_fetch_add(&m->hit[i], 1, __ATOMIC_RELAXED);
}

static void test_split_covers_once(void **state)
{
    (void)state;
    static const size_t ns[] = {0, 1, 2, 3, 7, 1000, 4096};
    alarm(120);
    for (int team = 1; team <= 4; team++)
        for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
            static Marks m;
            memset(&m, 0, sizeof m);
            bprt_split(team, ns[c], mark, &m);
            for (size_t i = 0; i < ns[c]; i++)
                if (m.hit[i] != 1)
                    fail_msg("team %d, n %zu: element %zu taken %d times", team, ns[c], i, m.hit[i]);
            assert_true(m.calls >= 1 && m.calls <= team);
            /* each share is thread t's contiguous [n t / nt, n (t + 1) / nt) */
            for (int k = 0; k < m.calls; k++) {
                const size_t len = m.last[k] - m.first[k];
                assert_true(m.last[k] >= m.first[k]);
                assert_true(len <= (ns[c] + (size_t)m.calls - 1) / (size_t)m.calls);
            }
        }
    alarm(0);
}

/* two threads calling at once: both teams' work done, whichever ran alone */
static void *caller(void *arg)
{
    long *bad = arg;
    for (int rep = 0; rep < 2000; rep++) {
        Hits h;
        memset(&h, 0, sizeof h);
        bprt_pool_run(2, record, &h);
        if (h.count[0] != 1 || (h.nt[0] == 2 && h.count[1] != 1) || (h.nt[0] == 1 && h.count[1] != 0))
            ++*bad;
    }
    return NULL;
}

static void test_pool_concurrent_callers(void **state)
{
    (void)state;
    alarm(120);
    long bad[2] = {0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, caller, &bad[0]), 0);
    caller(&bad[1]);
    pthread_join(t, NULL);
    assert_int_equal(bad[0], 0);
    assert_int_equal(bad[1], 0);
    check_team(2); /* the pool free again */
    alarm(0);
}

static void test_pool_wakes_after_sleep(void **state)
{
    (void)state;
    alarm(120);
    check_team(2);
    const struct timespec pause = {0, 20 * 1000 * 1000}; /* 20 ms: past the workers' spinning */
    for (int rep = 0; rep < 3; rep++) {
        nanosleep(&pause, NULL);
        check_team(2);
    }
    alarm(0);
}

static void test_pool_after_fork(void **state)
{
    (void)state;
    check_team(2); /* the parent's workers exist */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        Hits h;
        memset(&h, 0, sizeof h);
        bprt_pool_run(2, record, &h);
        _exit(h.count[0] == 1 && h.count[1] == 1 && h.nt[1] == 2 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    check_team(2);
}

/* Each member's scratch buffer (BPRT_SCRATCH_LAYERS), and the thread that ran member 1 */
typedef struct Bufs {
    void *p[2];
    pthread_t self;
    int done;
} Bufs;

static void buf_of(void *arg, int id, int nt)
{
    (void)nt;
    Bufs *b = arg;
    b->p[id] = bprt_scratch(BPRT_SCRATCH_LAYERS, 256);
    if (id == 1) {
        b->self = pthread_self();
        __atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
    }
}

static void buf_on_workers(void *arg, int id, int nt)
{
    Bufs *b = arg;
    buf_of(arg, id, nt);
    if (id == 0)
        while (!__atomic_load_n(&b->done, __ATOMIC_ACQUIRE))
            sched_yield();
}

/* In a child of fork() with every thread on one core (so a worker runs only when the caller
   is preempted): regions of 2-4 threads whose members nobody can start are the caller's, each
   member run once; and a 1 x 784 x 512 product split by B's rows (gemv_owned, whose member t
   waits for t - 1) on 2 and 3 threads gives the bits of 1 thread. 0 if all held. */
static int one_core_child(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
        return 10;
    long taken = 0;
    for (int rep = 0; rep < 300; rep++)
        for (int nt = 2; nt <= 4; nt++) {
            Hits h;
            memset(&h, 0, sizeof h);
            bprt_pool_run(nt, record, &h);
            for (int t = 0; t < MAXT; t++)
                if (h.count[t] != (t < nt ? 1 : 0) || (t < nt && h.nt[t] != nt))
                    return 1;
            if (!pthread_equal(h.self[0], pthread_self()))
                return 2;
            for (int t = 1; t < nt; t++)
                taken += pthread_equal(h.self[t], pthread_self());
        }
    if (taken == 0)
        return 3; /* no member was the caller's: each waited for its worker to get the core */
    if (bprt_pool_alone_regions() == 0)
        return 8; /* the caller kept posting to workers that never came */
    bprt_pool_team_again();
    /* member 1's scratch buffer is the same whichever thread runs it */
    Bufs first;
    memset(&first, 0, sizeof first);
    bprt_pool_run(2, buf_on_workers, &first); /* on worker 1 */
    if (!first.p[1] || first.p[1] == first.p[0])
        return 5;
    long stolen = 0;
    for (int rep = 0; rep < 200; rep++) {
        Bufs b;
        memset(&b, 0, sizeof b);
        bprt_pool_run(2, buf_of, &b);
        if (b.p[1] != first.p[1] || b.p[0] != first.p[0])
            return 6;
        stolen += pthread_equal(b.self, pthread_self());
    }
    if (stolen == 0)
        return 7;
    enum { K = 784, N = 512 };
    static float x[K], B[K * N], c1[N], c[N];
    uint32_t r = 12345;
    for (int i = 0; i < K; i++)
        x[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int i = 0; i < K * N; i++)
        B[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    bprt_set_threads(1);
    bprt_sgemm(0, 0, 1, N, K, 1, x, K, B, N, 0, c1, N);
    for (int nt = 2; nt <= 3; nt++) {
        bprt_set_threads(nt);
        for (int rep = 0; rep < 50; rep++) {
            memset(c, 0, sizeof c);
            bprt_sgemm(0, 0, 1, N, K, 1, x, K, B, N, 0, c, N);
            if (memcmp(c, c1, sizeof c) != 0)
                return 4;
        }
    }
    return 0;
}

/* record, the caller's own member lasting about the time after which it takes the others',
   so that the worker and the caller often try to take a member at the same moment */
static void record_slow0(void *arg, int id, int nt)
{
    record(arg, id, nt);
    if (id == 0) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 1500);
    }
}

static void test_pool_claims_race(void **state)
{
    (void)state;
    alarm(120);
    long ran_by_caller = 0;
    for (int rep = 0; rep < 20000; rep++) {
        Hits h;
        memset(&h, 0, sizeof h);
        bprt_pool_team_again(); /* (the caller took member 1 of 8 regions in a row: alone) */
        bprt_pool_run(2, record_slow0, &h);
        if (h.count[0] != 1 || h.count[1] != 1 || h.nt[1] != 2)
            fail_msg("region %d: members run %d and %d times", rep, h.count[0], h.count[1]);
        ran_by_caller += pthread_equal(h.self[1], pthread_self());
    }
    print_message("member 1 of 20000 regions run by the caller: %ld\n", ran_by_caller);
    alarm(0);
}

/* child() in a child of fork() (60 s at most), which must exit with 0 */
static void run_in_child(int (*child)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        _exit(child());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_pool_caller_takes_untaken(void **state)
{
    (void)state;
    run_in_child(one_core_child);
}

/* fork() from another thread while member 1 holds a temporary of its buffers (bprt_temp):
   the child, whose workers are new, can take that temporary again in member 1 (the parent's
   worker never gives it back there) */
typedef struct Holder {
    int held, release;
} Holder;

static void hold_temp(void *arg, int id, int nt)
{
    (void)nt;
    Holder *h = arg;
    if (id != 1) { /* the caller: busy until member 1 has let go, so that it cannot take it */
        while (!__atomic_load_n(&h->release, __ATOMIC_ACQUIRE))
            sched_yield();
        return;
    }
    void *p = bprt_temp(BPRT_SCRATCH_SUMS, 64);
    __atomic_store_n(&h->held, p != NULL, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&h->release, __ATOMIC_ACQUIRE))
        sched_yield();
    bprt_temp_done(BPRT_SCRATCH_SUMS);
}

static void take_temp(void *arg, int id, int nt)
{
    (void)nt;
    int *ok = arg;
    void *p = bprt_temp(BPRT_SCRATCH_SUMS, 64); /* aborts if it is held */
    ok[id] = p != NULL;
    bprt_temp_done(BPRT_SCRATCH_SUMS);
}

static void *fork_while_held(void *arg)
{
    Holder *h = arg;
    while (!__atomic_load_n(&h->held, __ATOMIC_ACQUIRE))
        sched_yield();
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        int ok[2] = {0, 0};
        bprt_pool_run(2, take_temp, ok);
        _exit(ok[0] && ok[1] ? 0 : 1);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    __atomic_store_n(&h->release, 1, __ATOMIC_RELEASE);
    return (void *)(intptr_t)(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_pool_fork_while_member_holds_temp(void **state)
{
    (void)state;
    alarm(120);
    Holder h = {0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fork_while_held, &h), 0);
    bprt_pool_run(2, hold_temp, &h);
    void *child_ok = NULL;
    pthread_join(t, &child_ok);
    assert_int_equal(h.held, 1);
    assert_true(child_ok != NULL);
    alarm(0);
}

/* The GEMM's packed-operand reuse (bprt_gemm_reuse_packs) is kept with the buffers it
   describes: a caller that runs member 1 on member 1's buffers with reuse on, then worker 1
   packing another B into them, then the caller again with the first B, must pack it anew (with
   the keys on the caller's thread it took worker 1's panel of the other B) */
enum { PM = 64, PN = 70, PK = 64 };
typedef struct PackRun {
    const float *A, *B;
    float *C;
    int done;
} PackRun;

static void pack_on_worker(void *arg, int id, int nt)
{
    (void)nt;
    PackRun *r = arg;
    if (id == 1) {
        bprt_sgemm(0, 0, PM, PN, PK, 1, r->A, PK, r->B, PN, 0, r->C, PN);
        __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    } else {
        while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE))
            sched_yield();
    }
}

static void test_pool_pack_reuse_with_buffers(void **state)
{
    (void)state;
    alarm(120);
    static float A[PM * PK], B1[PK * PN], B2[PK * PN], C1[PM * PN], C2[PM * PN], C3[PM * PN];
    for (int i = 0; i < PM * PK; i++)
        A[i] = (float)(i % 13) - 6;
    for (int i = 0; i < PK * PN; i++) {
        B1[i] = (float)(i % 7) - 3;
        B2[i] = (float)(i % 5) + 10;
    }
    const int threads = bprt_threads();
    bprt_set_threads(1); /* the products on their calling thread */
    BprtScratch *own = bprt_scratch_use(bprt_scratch_of_member(1));
    bprt_gemm_reuse_packs(3);
    bprt_sgemm(0, 0, PM, PN, PK, 1, A, PK, B1, PN, 0, C1, PN);
    bprt_scratch_use(own);
    PackRun r = {A, B2, C2, 0};
    bprt_pool_run(2, pack_on_worker, &r); /* worker 1 packs B2 into member 1's buffers */
    assert_int_equal(r.done, 1);
    own = bprt_scratch_use(bprt_scratch_of_member(1));
    bprt_sgemm(0, 0, PM, PN, PK, 1, A, PK, B1, PN, 0, C3, PN);
    bprt_gemm_reuse_packs(0);
    bprt_scratch_use(own);
    bprt_set_threads(threads);
    assert_memory_equal(C3, C1, sizeof C1);
    assert_memory_not_equal(C2, C1, sizeof C1);
    alarm(0);
}

/* Every test starts with a team: a task whose member 0 waits for a higher member (which the
   pool's contract does not allow, and these tests use to see the workers run) would wait for
   ever in a region the caller runs alone (pool.c: alone), as an earlier test can leave it */
static int team_again(void **state)
{
    (void)state;
    bprt_pool_team_again();
    return 0;
}

/* Every thread of this process (the pool's workers too) allowed the CPUs of `set` */
static int set_all_threads(const cpu_set_t *set)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && sched_setaffinity((pid_t)atoi(e->d_name), sizeof *set, set) != 0)
            rc = -1;
    closedir(d);
    return rc;
}

/* A child of fork() pinned to one core runs regions until the caller runs them alone (its
   worker cannot run while it does); then, every thread allowed every core again, the worker
   takes its member of a region again within a few periods alone (at most ALONE_MAX_NS = 64
   ms each). */
static int team_after_alone_child(void)
{
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) != 0)
        return 10;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0)
        return 10;
    int rep;
    for (rep = 0; rep < 100000 && bprt_pool_alone_regions() == 0; rep++) {
        Hits h;
        memset(&h, 0, sizeof h);
        bprt_pool_run(2, record, &h);
        if (h.count[0] != 1 || h.count[1] != 1)
            return 1;
    }
    if (bprt_pool_alone_regions() == 0)
        return 2;
    Hits h;
    if (set_all_threads(&all) != 0)
        return 10;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        memset(&h, 0, sizeof h);
        bprt_pool_run(2, record, &h);
        if (h.count[0] != 1 || h.count[1] != 1)
            return 1;
        if (!pthread_equal(h.self[1], pthread_self()))
            return 0; /* a worker ran it: a team again */
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < 20);
    return 4;
}

static void test_pool_team_after_alone(void **state)
{
    (void)state;
    run_in_child(team_after_alone_child);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pool_each_thread_once, team_again),
        cmocka_unit_test_setup(test_pool_nested_runs_alone, team_again),
        cmocka_unit_test_setup(test_split_covers_once, team_again),
        cmocka_unit_test_setup(test_pool_concurrent_callers, team_again),
        cmocka_unit_test_setup(test_pool_wakes_after_sleep, team_again),
        cmocka_unit_test_setup(test_pool_after_fork, team_again),
        cmocka_unit_test_setup(test_pool_workers_block_signals, team_again),
        cmocka_unit_test_setup(test_pool_caller_takes_untaken, team_again),
        cmocka_unit_test_setup(test_pool_fork_while_member_holds_temp, team_again),
        cmocka_unit_test_setup(test_pool_pack_reuse_with_buffers, team_again),
        cmocka_unit_test_setup(test_pool_claims_race, team_again),
        cmocka_unit_test_setup(test_pool_team_after_alone, team_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
