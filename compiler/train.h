/* train.h — `bpc train` and `bpc eval`: the training driver over a JIT-compiled model.
 * The data sets, each epoch's order, batches and loop, and the progress bar are libbprt's
 * (runtime/data.c, which a program embedding generated code runs alike); this module fits
 * them to a program's inputs and adds what a command line needs around an epoch: the
 * schedule, checkpoints and resuming, several ranks, the messages.
 *
 * Data: --data DIR (the four IDX files of the MNIST family; images to the first real
 * input scaled to [0,1], labels to the `: int` input), --data FILE.txt (bytes of text, see
 * train_text_inputs), --inputs FILE (one fixed batch), or
 * neither (inputs take their defaults). Each epoch shuffles from the seed; the last partial
 * batch is run at its own size. Progress goes to stderr (a bar on a terminal, plain lines
 * otherwise); per-epoch summaries to stdout.
 * With --data DIR, images and labels go to the first real and the first `: int` input
 * without a default; the other inputs take their defaults, and one without is an error.
 * A label outside the classes of its loss is an error when the data is loaded.
 * So is a split of 0 images.
 *
 * Nothing is lost: --save (and --checkpoint-every N steps) write checkpoints atomically
 * (parameters, optimizer state, position in the data); --params CHECKPOINT resumes exactly
 * where it stopped; SIGINT/SIGTERM stop after the current step and save one, without the
 * test set's evaluation (or stop that evaluation, in one process); a non-finite
 * loss or gradient leaves the parameters unchanged and stops with the step named
 * (--on-nan skip: that batch is skipped instead).
 * A checkpoint's position is checked against the data and the batch.
 * The path --save (or --checkpoint-every) writes is tried before training starts. */
#ifndef BP_TRAIN_H
#define BP_TRAIN_H

#include <stdint.h>

#include "compile.h"
#include "ir.h"
#include "jit.h"

/* Training carried on from one run to the next (the REPL's session keeps one, which :step
 * and :train use and advance): the optimizer's state as doubles, whatever precision each
 * run computes in, and the position in the data. */
typedef struct TrainState {
    double *opt;          /* 1 + moments * NPARAMS values (drv_opt_to_f64); NULL: a fresh optimizer */
    OptKind kind;         /* the optimizer opt belongs to, and the moments it keeps */
    int moments;
    int64_t progress[4];  /* epoch (from 1), step within it, steps done, seed: as __bpc.progress */
    char *from;           /* the checkpoint the position was read from, for messages (NULL: none;
                             its owner frees it) */
} TrainState;

/* A learning-rate schedule (--lr-schedule, --warmup): the rate of a step is lr times
 *   warmup:   (t + 1) / W for the first W steps of the run (t counted from 0), then
 *   cosine:   (1 + cos(pi (t - W) / (T - W))) / 2, T the run's steps (PyTorch's
 *             CosineAnnealingLR stepped every batch, eta_min 0), or
 *   step:N:G: G^k after k times N epochs (with --data; else N steps), PyTorch's StepLR.
 * t and T count from the start of training (a checkpoint resumed with the same command
 * goes on with the same rates), or in the REPL from the start of that :train. */
typedef enum SchedKind { SCHED_CONSTANT, SCHED_COSINE, SCHED_STEP } SchedKind;
typedef struct Schedule {
    SchedKind kind;
    int every;    /* step: epochs (steps without --data) between decays */
    double gamma; /* step: the factor at each */
    int warmup;   /* steps of linear warmup (0: none) */
} Schedule;
/* --lr-schedule TEXT into s->kind, every and gamma: 0, or -1 with a message in err (400
 * bytes hold it: TEXT's first 100 bytes are quoted). */
int train_parse_schedule(const char *text, Schedule *s, char *err, size_t size);

#define TRAIN_BATCH 64 /* --batch's default: bpc train and eval, the REPL's :train and :eval, --stats's sizes */

typedef struct TrainOptions {
    const char *data, *inputs, *params, *save, *opt;
    const struct Inputs *fixed; /* if set (and no data): these inputs, in the model's real type,
                                   instead of --inputs's file or the defaults (the REPL's session:
                                   its :inputs as they were read, not the file as it is now) */
    JitKind jit;
    int epochs, steps, batch, eval_only, f64; /* batch: TRAIN_BATCH unless --batch */
    int checkpoint_every;  /* steps between checkpoints (0: none) */
    int on_nan_skip;       /* skip batches with a non-finite loss or gradient */
    double lr;      /* < 0: the program's */
    Schedule sched; /* zeros: the rate is lr at every step */
    uint64_t seed;
    int seed_given;        /* --seed was given (a resumed checkpoint keeps its own: a warning) */
    void *params_io;       /* if set: train these parameters (NPARAMS reals of the model's
                              type) in place instead of initialising or loading them */
    volatile int *stop;    /* if set and it becomes non-zero: stop after the current step */
    TrainState *state;     /* if set: start from its optimizer state (of g's optimizer, after
                              --opt) and position instead of a fresh optimizer at epoch 1,
                              step 0, and leave the ones reached in it; --steps and --epochs
                              then count from that position (N more), and the data order is
                              that of its seed, not of --seed */
    const char *notes;     /* if set: said on stdout once the run starts (its data loaded, before
                              its first step): what fitting the state to this run changed */
} TrainOptions;

int train_run(Graph *g, const TrainOptions *o);
/* After m's train_step returned a loss that is not finite (params and opt_state are as they
 * were): the step's loss, computed again with its dropout masks, and in *why what made it
 * change nothing: "the loss or its gradient is not finite" (the loss), "the gradient is not
 * finite" or "the gradient norm overflows" (the update's test: every element finite, the
 * sum of their squares not). train_step returns NaN for all three; the messages
 * said "(loss nan)" for a finite loss. ws: the step's workspace. */
double train_refusal(const Model *m, const void *params, const void *opt_state, const void *const *in, const int *dims,
                     void *ws, const char **why);
/* One fused train_step of m at rate lr; returns its loss. *why is NULL, or what made the step
 * change nothing: with explain, train_refusal's reason and the loss it computes again; without,
 * "the loss or its gradient is not finite" and train_step's NaN (for steps nothing will say). */
double train_step_explained(const Model *m, void *params, void *opt_state, const void *const *in, const int *dims,
                            double lr, void *ws, int explain, const char **why);
/* Keeps opt_state (m's optimizer's, in m's real type) in t as doubles, as the state of
 * m's optimizer; -1, with err naming the state and its bytes, when they cannot be
 * allocated (t then holds a fresh optimizer: opt NULL). */
int train_state_keep(TrainState *t, const Model *m, const void *opt_state, char *err);
/* --opt NAME: sets opt to sgd, adam or adamw (the defaults of its hyperparameters, the
 * learning rate the program writes and clip_grad_norm kept; nothing changes if it is that
 * already); -1 for another name. */
int train_set_optimizer(OptConfig *opt, const char *name);
/* Whether a run in float (f64 0) holds the arguments of g's optimizer (ir_opt_trained's)
 * that it uses (drv_real_fits: the update rounds each to float; `optimizer adam(eps =
 * 1e-50)` divided by sqrt(v) + 0, lr = 1e-50 trained at 0); lr_given: --lr replaces the lr.
 * 0, or -1 with the error reported at the `optimizer` statement, as sema says a bad
 * argument (train_run, the REPL's :step). */
int train_check_optimizer(const Graph *g, int lr_given, int f64);

/* Text data (--data FILE.txt, any path that is not a directory): a byte-level language
 * model's program has exactly two inputs, `: int` of shape [B, T] with B a name and T a
 * number; row b of the first gets T bytes of the text from a random offset (the seeded
 * RNG, stream 0x7e470000 + epoch, index = row of the epoch), the second the same window
 * one byte further on (the targets). The last 10% of the file is the test split, evaluated
 * over its non-overlapping windows (the loss in nats/byte when the loss is cross_entropy's
 * mean). An epoch is len(train) / (B T) steps (at least one). Finds those inputs (their
 * indices, the batch dimension and T); returns 0, or -1 with a message in err naming the
 * program and listing its inputs. bpc sample requires the same inputs. */
int train_text_inputs(const Graph *g, int *in_bytes, int *in_next, int *bsym, int64_t *T, char *err);

#endif
