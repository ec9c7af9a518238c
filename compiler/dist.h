/* dist.h — data parallelism across processes: the little of MPI that training needs.
 *
 * Built with MPI (CMake found it: BPC_HAVE_MPI) and started by an MPI launcher
 * (`mpirun -n N bpc train ...`), dist_init joins the job and there are N ranks. Otherwise
 * (built without MPI, or a plain `bpc`) there is one rank and every call below is a
 * cheap no-op, so callers need no #ifdefs.
 *
 * With several ranks, ranks other than 0 send their stdout to /dev/null (rank 0 reports
 * for the job; errors still go to each rank's stderr). A rank that loses its peers (one
 * died, or mpirun is stopping the job) notices it in dist_allreduce_sum, which prints
 * "bpc: error: rank R lost contact with the other ranks ..." and returns -1, instead of
 * waiting forever. */
#ifndef BP_DIST_H
#define BP_DIST_H

#include <stddef.h>

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
/* A flag that, once non-zero, means "the job is being stopped" (the training driver's
 * signal flag); NULL: none. */
void dist_watch(volatile int *flag);
/* Leaves the job. rc != 0 with several ranks stops the whole job (a rank that fails alone
 * must not leave the others waiting); after a lost contact, exits at once with rc. */
void dist_finalize(int rc);
/* One line for --help: whether MPI is built in and how to use or get it. */
const char *dist_help(void);

#endif
