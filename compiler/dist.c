/* dist.c — see dist.h. The only file that includes mpi.h. */
#include "dist.h"

#include "diag.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef BPC_HAVE_MPI
#include <mpi.h>
#endif

static int rank_, size_ = 1, active, lost;
static int agreed;   /* dist_agree was called (by the run, or by dist_finalize) */
static int together; /* dist_stop_together: every rank stops here, none waits in MPI */
static double reduce_time; /* seconds in reductions (BPC_VERBOSE prints it) */
static long reduce_calls;
static volatile int *watched;

/* The number of ranks an MPI launcher started (Open MPI, MPICH/Hydra, PMIx), 0 if none. */
static int launcher_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 1 : 0;
}

int dist_rank(void) { return rank_; }
int dist_size(void) { return size_; }
void dist_watch(volatile int *flag) { watched = flag; }

const char *dist_help(void) {
#ifdef BPC_HAVE_MPI
    return "MPI: built in; data-parallel training: mpirun -n N bpc train FILE.bp --data DIR --threads T ...\n"
           "     (--hostfile HOSTS for a cluster; --batch is the global batch, split over the N ranks)\n";
#else
    return "MPI: not built in (install libopenmpi-dev and rebuild, then: mpirun -n N bpc train ...)\n";
#endif
}

#ifdef BPC_HAVE_MPI
/* While a reduction waits: SIGINT/SIGTERM (mpirun sends SIGTERM to every rank when one dies,
 * and SIGKILL about a second later) arm a short timer; if the reduction has not finished
 * when it fires, we jump out of MPI_Allreduce. MPI is not used again after that: the
 * process saves what it can (plain file I/O) and exits. */
static sigjmp_buf escape;
static volatile sig_atomic_t in_reduce, armed;
static struct sigaction prev_int, prev_term, prev_alrm;

static void arm(void) {
    if (armed) return;
    armed = 1;
    struct itimerval it = {{0, 0}, {0, 300000}}; /* grace: the others may be stopping too */
    setitimer(ITIMER_REAL, &it, NULL);
}

static void on_stop(int sig) {
    /* chain to the handler we displaced (the training driver's "stop after this step") */
    const struct sigaction *p = sig == SIGINT ? &prev_int : &prev_term;
    if (!(p->sa_flags & SA_SIGINFO) && p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) p->sa_handler(sig);
    arm();
}

static void on_alarm(int sig) {
    (void)sig;
    if (in_reduce) siglongjmp(escape, 1);
}

static void lost_contact(const char *why) {
    lost = 1;
    fprintf(stderr, "bpc: error: rank %d lost contact with the other ranks during the gradient sum (%s); stopping\n", rank_,
            why);
    fflush(stderr);
}
#endif

int dist_init(int *argc, char ***argv) {
    int n = launcher_size();
#ifdef BPC_HAVE_MPI
    if (n == 0 || active) return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "bpc: error: MPI_Init failed\n");
        return -1;
    }
    active = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    if (size_ > 1 && rank_ > 0) {
        /* a rank's own errors (a file missing on its node) say which rank it is */
        static char prefix[40];
        snprintf(prefix, sizeof prefix, "bpc: rank %d: ", rank_);
        diag_set_tool_prefix(prefix);
        fflush(stdout);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            close(fd);
        }
    }
    return 0;
#else
    (void)argc;
    (void)argv;
    if (n > 1) {
        fprintf(stderr, "bpc: error: started by an MPI launcher as one of %d ranks, but this bpc was built without MPI, "
                "so every rank would train alone (install libopenmpi-dev and rebuild)\n", n);
        return -1;
    }
    return 0;
#endif
}

#ifdef BPC_HAVE_MPI
/* One in-place MPI_Allreduce of n elements, escaping a peer's death or mpirun's stop as the
 * header says: 0, or -1 after lost_contact. */
static int reduce(void *buf, int n, MPI_Datatype type, MPI_Op op) {
    if (lost) return -1;
    static char msg[MPI_MAX_ERROR_STRING + 64];
    msg[0] = 0;
    int len = 0, rc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, &prev_int);
    sigaction(SIGTERM, &sa, &prev_term);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, &prev_alrm);
    armed = 0;
    if (watched && *watched) arm(); /* a signal came before: the job may be stopping */
    if (sigsetjmp(escape, 1) == 0) {
        in_reduce = 1;
        double t0 = MPI_Wtime();
        rc = MPI_Allreduce(MPI_IN_PLACE, buf, n, type, op, MPI_COMM_WORLD);
        in_reduce = 0;
        reduce_time += MPI_Wtime() - t0;
        reduce_calls++;
        if (rc != MPI_SUCCESS) MPI_Error_string(rc, msg, &len);
    } else {
        in_reduce = 0;
        rc = -1;
        snprintf(msg, sizeof msg, "another rank died, or mpirun is stopping the job");
    }
    if (armed) {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
    }
    sigaction(SIGINT, &prev_int, NULL);
    sigaction(SIGTERM, &prev_term, NULL);
    sigaction(SIGALRM, &prev_alrm, NULL);
    if (rc != MPI_SUCCESS) {
        lost_contact(msg[0] ? msg : "MPI error");
        return -1;
    }
    return 0;
}
#endif

int dist_allreduce_sum(void *buf, size_t n, int f64) {
    if (size_ == 1 || n == 0) return 0;
#ifdef BPC_HAVE_MPI
    if (n > (size_t)0x7fffffff) {
        lost_contact("the vector is too long for one MPI call");
        return -1;
    }
    return reduce(buf, (int)n, f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM);
#else
    (void)buf;
    (void)f64;
    return 0;
#endif
}

int dist_agree(int ok, const uint64_t *facts, int n, DistAgreement *out) {
    out->failed = out->differs = -1;
    out->lo = out->hi = 0;
    if (size_ == 1) return ok ? 0 : -1;
#ifdef BPC_HAVE_MPI
    BP_ASSERT(!agreed && n >= 0 && n <= DIST_MAX_FACTS);
    agreed = 1;
    /* one maximum says it all: [a rank failed, size - the lowest failed rank, then each
       fact and its complement (the complement's maximum is the fact's minimum)] */
    uint64_t v[2 + 2 * DIST_MAX_FACTS] = {0}; /* all of it on every rank: one length for all */
    v[0] = !ok;
    v[1] = ok ? 0 : (uint64_t)(size_ - rank_);
    for (int i = 0; i < n; i++) {
        v[2 + 2 * i] = ok ? facts[i] : 0;
        v[3 + 2 * i] = ok ? ~facts[i] : 0;
    }
    if (reduce(v, 2 + 2 * DIST_MAX_FACTS, MPI_UINT64_T, MPI_MAX) != 0) return -1;
    together = 1; /* every rank knows the outcome */
    if (v[0]) {
        out->failed = size_ - (int)v[1];
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (v[2 + 2 * i] != ~v[3 + 2 * i]) {
            out->differs = i;
            out->lo = ~v[3 + 2 * i];
            out->hi = v[2 + 2 * i];
            return -1;
        }
    together = 0;
    return 0;
#else
    (void)facts;
    (void)n;
    return ok ? 0 : -1;
#endif
}

void dist_stop_together(void) { together = 1; }

uint64_t dist_hash(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* eight bytes a round: a data set's megabytes in milliseconds */
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

void dist_finalize(int rc) {
#ifdef BPC_HAVE_MPI
    if (!active) return;
    if (getenv("BPC_VERBOSE") && reduce_calls)
        fprintf(stderr, "rank %d: %ld reductions, %.3f s (%.3f ms each, waiting for the others included)\n", rank_,
                reduce_calls, reduce_time, 1e3 * reduce_time / (double)reduce_calls);
    fflush(stdout);
    fflush(stderr);
    /* a rank that stops before the run's agreement (a missing file, a bad option) still
       takes part in it, saying that it failed: the others stop with it, none waits */
    if (size_ > 1 && !agreed && !lost) {
        DistAgreement a;
        (void)dist_agree(0, NULL, 0, &a);
    }
    if (lost) _exit(rc ? rc : 1);
    if (rc != 0 && size_ > 1 && !together) MPI_Abort(MPI_COMM_WORLD, rc);
    active = 0;
    MPI_Finalize();
#else
    (void)rc;
#endif
}
