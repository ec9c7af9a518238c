/* train.h — `bpc train` and `bpc eval`: the training driver over a JIT-compiled model.
 *
 * Data: --data DIR (the four IDX files of the MNIST family; images to the first real
 * input scaled to [0,1], labels to the `: int` input), --inputs FILE (one fixed batch), or
 * neither (inputs take their defaults). Each epoch shuffles from the seed; the last partial
 * batch is run at its own size. Progress goes to stderr (a bar on a terminal, plain lines
 * otherwise); per-epoch summaries to stdout.
 *
 * Nothing is lost: --save (and --checkpoint-every N steps) write checkpoints atomically
 * (parameters, optimizer state, position in the data); --params CHECKPOINT resumes exactly
 * where it stopped; SIGINT/SIGTERM stop after the current step and save one; a non-finite
 * loss or gradient leaves the parameters unchanged and stops with the step named
 * (--on-nan skip: that batch is skipped instead). */
#ifndef BP_TRAIN_H
#define BP_TRAIN_H

#include <stdint.h>

#include "ir.h"
#include "jit.h"

typedef struct TrainOptions {
    const char *data, *inputs, *params, *save, *opt;
    JitKind jit;
    int epochs, steps, batch, eval_only, f64;
    int checkpoint_every;  /* steps between checkpoints (0: none) */
    int on_nan_skip;       /* skip batches with a non-finite loss or gradient */
    double lr;      /* < 0: the program's */
    uint64_t seed;
    void *params_io;       /* if set: train these parameters (NPARAMS reals of the model's
                              type) in place instead of initialising or loading them */
    volatile int *stop;    /* if set and it becomes non-zero: stop after the current step */
} TrainOptions;

int train_run(Graph *g, const TrainOptions *o);

#endif
