/* dist.c — see dist.h. The only file that includes mpi.h. */
#include "dist.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef BPC_HAVE_MPI
#include <mpi.h>
#endif

static int rank_, size_ = 1, active, lost;
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
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile sig_atomic_t signalled;
static struct sigaction prev_int, prev_term;
static void on_signal(int sig) {
    signalled = 1;
    /* chain to the handler we displaced (the training driver's "stop after this step") */
    const struct sigaction *p = sig == SIGINT ? &prev_int : &prev_term;
    if (!(p->sa_flags & SA_SIGINFO) && p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) p->sa_handler(sig);
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

int dist_allreduce_sum(void *buf, size_t n, int f64) {
    if (size_ == 1 || n == 0) return 0;
#ifdef BPC_HAVE_MPI
    if (lost) return -1;
    if (n > (size_t)0x7fffffff) {
        lost_contact("the vector is too long for one MPI call");
        return -1;
    }
    char msg[MPI_MAX_ERROR_STRING + 64] = "";
    int len = 0;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) {
        MPI_Error_string(rc, msg, &len);
        lost_contact(msg);
        return -1;
    }
    /* Wait with MPI_Test, watching for the signals with which mpirun stops every rank when
     * one dies: a blocking MPI_Allreduce would wait for the dead rank until killed. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    signalled = 0;
    sigaction(SIGINT, &sa, &prev_int);
    sigaction(SIGTERM, &sa, &prev_term);
    int done = 0;
    double since = 0;
    for (long spin = 0; !done; spin++) {
        rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            MPI_Error_string(rc, msg, &len);
            break;
        }
        if (done) break;
        if (signalled || (watched && *watched)) {
            /* the other ranks may be stopping too and about to arrive: a short grace, then
             * give up before mpirun's SIGKILL (about a second after its SIGTERM) */
            if (since == 0) since = now();
            else if (now() - since > 0.3) {
                snprintf(msg, sizeof msg, "another rank died, or mpirun is stopping the job");
                break;
            }
        }
        if (spin > 4096) sched_yield();
    }
    sigaction(SIGINT, &prev_int, NULL);
    sigaction(SIGTERM, &prev_term, NULL);
    if (!done) {
        lost_contact(msg[0] ? msg : "MPI error");
        return -1;
    }
    return 0;
#else
    (void)buf;
    (void)f64;
    return 0;
#endif
}

void dist_finalize(int rc) {
#ifdef BPC_HAVE_MPI
    if (!active) return;
    fflush(stdout);
    fflush(stderr);
    if (lost) _exit(rc ? rc : 1);
    if (rc != 0 && size_ > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    active = 0;
    MPI_Finalize();
#else
    (void)rc;
#endif
}
