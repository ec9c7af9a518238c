/* dist.h — data parallelism across processes: the little of MPI that training needs.
 *
 * Built with MPI (CMake found it: BPC_HAVE_MPI) and started by an MPI launcher
 * (`mpirun -n N bpc train ...`), dist_init joins the job and there are N ranks. Otherwise
 * (built without MPI, or a plain `bpc`) there is one rank and every call below is a
 * cheap no-op, so callers need no #ifdefs.
 *
 * With several ranks, ranks other than 0 send their stdout to /dev/null (rank 0 reports
 * for the job; errors still go to each rank's stderr, "bpc: rank R: error: ..." but rank
 * 0's). A rank that loses its peers (one
 * died, or mpirun is stopping the job) notices it in dist_allreduce_sum, which prints
 * "bpc: error: rank R lost contact with the other ranks ..." and returns -1, instead of
 * waiting forever. */
#ifndef BP_DIST_H
#define BP_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Joins the MPI job if launched by one. 0, or -1 after printing why (e.g. launched by
 * mpirun with several ranks, but built without MPI). */
int dist_init(int *argc, char ***argv);
int dist_rank(void);
int dist_size(void);
/* Sums buf[0..n) (float, or double if f64) over all ranks, in place: one MPI_Allreduce.
 * A SIGINT/SIGTERM while it waits, or *dist_watch's flag set before (mpirun sends SIGTERM
 * to every rank when one dies, SIGKILL a second later), leaves the reduction 0.3 s to
 * finish; if it does not, and on any MPI error, it prints that this rank lost contact and
 * returns -1 (MPI is then unusable: save what you can and dist_finalize). One rank:
 * returns 0 at once. BPC_VERBOSE: dist_finalize prints the time spent here. */
int dist_allreduce_sum(void *buf, size_t n, int f64);
/* Before its first collective step, every rank of a run says whether it is ready (ok) and
 * n facts (at most DIST_MAX_FACTS: options, hashes of the program, parameters and data)
 * that must be the same on every rank: one fixed-size reduction, so that ranks started with
 * different programs, options or files stop with a message instead of summing vectors of
 * different lengths or types (a crash) or of different models (silently wrong). Returns 0
 * when every rank is ok and every fact agrees; else -1, and every rank knows it (then
 * dist_finalize leaves without MPI_Abort): out->failed, the lowest rank that was not ok
 * (-1: none), or out->differs, the first fact that differs and its range lo..hi. Called at
 * most once a process; a rank that stops before (a missing file on that node) is counted in
 * by dist_finalize as not ok. One rank: returns 0 if ok. */
#define DIST_MAX_FACTS 16
typedef struct DistAgreement {
    int failed, differs;
    uint64_t lo, hi;
} DistAgreement;
int dist_agree(int ok, const uint64_t *facts, int n, DistAgreement *out);
/* Every rank stops at this point of the run, knowing it (a stop agreed in a step's sum, the
 * same refusal of a summed step): dist_finalize then leaves MPI normally, with rc, instead
 * of MPI_Abort (which is for a rank that fails alone). */
void dist_stop_together(void);
/* A 64-bit hash of n bytes going on from h (for dist_agree's facts). */
uint64_t dist_hash(uint64_t h, const void *p, size_t n);
/* A flag that, once non-zero, means "the job is being stopped" (the training driver's
 * signal flag); NULL: none. */
void dist_watch(volatile int *flag);
/* Leaves the job. A rank that has not been to dist_agree goes there as not ok. rc != 0 with
 * several ranks stops the whole job with MPI_Abort (a rank that fails alone must not leave
 * the others waiting), unless every rank knows that it stops (dist_agree failed,
 * dist_stop_together); after a lost contact, exits at once with rc. */
void dist_finalize(int rc);
/* One line for --help: whether MPI is built in and how to use or get it. */
const char *dist_help(void);

#endif
