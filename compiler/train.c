/* train.c — see train.h. */

#include "train.h"

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bprt.h"
#include "compile.h"
#include "dist.h"
#include "driver.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A split to train or test on holds a sample (an epoch of none would take no step, and a
 * test of none divides by zero). */
static int check_not_empty(const BprtSplit *s, char *err) {
    if (s->n > 0) return 0;
    snprintf(err, BPRT_ERRLEN, "%.300s: holds 0 images: --data needs at least one sample to train and one to test", s->ip);
    return -1;
}

/* Whether --data names a text file: a path that exists and is not a directory, or a name
 * ending in .txt (so that a missing one is reported as such; train_run takes any missing
 * path as text for a program that takes text). */
static int is_text_data(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    if (stat(path, &st) == 0) return !S_ISDIR(st.st_mode);
    return n >= 4 && strcmp(path + n - 4, ".txt") == 0;
}

typedef struct Feed {
    int img, lab;   /* input indices (text: the bytes and the next bytes) */
    int bsym;       /* symbolic batch dimension */
    int64_t per;    /* reals per sample of the image input (text: T, ints per row) */
    int text;       /* windows of text: a batch's rows are byte offsets */
    void *fixed[BP_MAX_RUN_INPUTS]; /* the other inputs: their defaults at the full batch (malloc'd) */
} Feed;

int train_text_inputs(const Graph *g, int *in_bytes, int *in_next, int *bsym, int64_t *T, char *err) {
    int k = 0, ids[2] = {-1, -1}, ok = g->ninputs == 2;
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i].dtype == DT_INT && k < 2) ids[k++] = i;
    const Shape *a = ok && k == 2 ? &g->inputs[ids[0]].shape : NULL, *b = a ? &g->inputs[ids[1]].shape : NULL;
    ok = a && a->rank == 2 && b->rank == 2 && a->d[0].sym >= 0 && a->d[0].c == 1 && b->d[0].sym == a->d[0].sym &&
         b->d[0].c == 1 && a->d[1].sym < 0 && b->d[1].sym < 0 && a->d[1].c == b->d[1].c && a->d[1].c > 0;
    if (!ok) {
        size_t n = (size_t)snprintf(err, BPRT_ERRLEN, "program '%s' does not fit text data: it needs exactly two inputs, "
                                    "': int' of shape [B, T] (B a name, T a number): the bytes and the bytes after "
                                    "them; it has", g->model);
        for (int i = 0; i < g->ninputs && n < BPRT_ERRLEN; i++) {
            char sh[160];
            n += (size_t)snprintf(err + n, BPRT_ERRLEN - n, "%s '%s' %s%s", i ? "," : "", g->inputs[i].name,
                                  shape_str(&g->inputs[i].shape, &g->syms, sh, sizeof sh),
                                  g->inputs[i].dtype == DT_INT ? " : int" : "");
        }
        if (!g->ninputs && n < BPRT_ERRLEN) snprintf(err + n, BPRT_ERRLEN - n, " no inputs");
        return -1;
    }
    *in_bytes = ids[0];
    *in_next = ids[1];
    *bsym = a->d[0].sym;
    *T = a->d[1].c;
    return 0;
}

/* Finds which inputs take images and labels (the first real and the first ': int' input
 * without a default; with one if all have it), and checks their shapes against the data. */
static int plan_feed(const Graph *g, const BprtSplit *s, Feed *f, const char *dir, char *err) {
    f->img = f->lab = -1;
    for (int any = 0; any < 2; any++)
        for (int i = 0; i < g->ninputs; i++) {
            if (g->inputs[i].has_default && !any) continue;
            if (g->inputs[i].dtype == DT_REAL && f->img < 0) f->img = i;
            if (g->inputs[i].dtype == DT_INT && f->lab < 0) f->lab = i;
        }
    if (f->img < 0 || f->lab < 0) {
        snprintf(err, BPRT_ERRLEN, "--data needs a program with a real input for images and a ': int' input for labels");
        return -1;
    }
    const Shape *si = &g->inputs[f->img].shape, *sl = &g->inputs[f->lab].shape;
    f->bsym = si->rank ? si->d[0].sym : -1;
    int64_t per = 1;
    int sized = 1; /* no size but the batch is symbolic: --data sets no other (two of them, x[B, H, W, 5],
                      made a -1 each that cancelled, and H = W = 0 left x empty: it trained on no pixel) */
    for (int k = 1; k < si->rank; k++)
        if (si->d[k].sym >= 0) sized = 0;
        else per *= si->d[k].c;
    char s1[160], s2[160];
    if (f->bsym < 0 || si->d[0].c != 1 || !sized || per != s->pixels || sl->rank != 1 || sl->d[0].sym != f->bsym || sl->d[0].c != 1) {
        snprintf(err, BPRT_ERRLEN, "%s: images of %lld pixels and labels do not fit the inputs '%s' %s and '%s' %s "
                 "(expected [B, %lld] or [B, 1, rows, cols], and [B])", dir, (long long)s->pixels, g->inputs[f->img].name,
                 shape_str(si, &g->syms, s1, sizeof s1), g->inputs[f->lab].name, shape_str(sl, &g->syms, s2, sizeof s2),
                 (long long)s->pixels);
        return -1;
    }
    /* an input that keeps the images' layout ([B, 1, rows, cols], [B, rows, cols]) takes them
       at their rows and columns, right-aligned (the pixel count makes the other sizes 1), when
       the file has them (a file of count x pixels is taken as it is): 784
       pixels of 14x56 were fed to [B, 1, 28, 28] as 28 rows of 28 */
    for (int k = 1; si->rank > 2 && s->images.ndim > 2 && k < si->rank && k < s->images.ndim; k++) {
        const int64_t want = s->images.dims[s->images.ndim - k], have = si->d[si->rank - k].c;
        if (want == have) continue;
        char dims[96] = "";
        for (int j = 1, n = 0; j < s->images.ndim && n < (int)sizeof dims; j++)
            n += snprintf(dims + n, sizeof dims - (size_t)n, "%s%lld", j > 1 ? "x" : "", (long long)s->images.dims[j]);
        snprintf(err, BPRT_ERRLEN, "%.300s: images of %s pixels do not fit the input '%s' %s, which keeps their "
                 "rows and columns (declare it [B, %lld] to take them flattened)", s->ip, dims, g->inputs[f->img].name,
                 shape_str(si, &g->syms, s1, sizeof s1), (long long)s->pixels);
        return -1;
    }
    f->per = per;
    return 0;
}

/* Every label of an IDX split is one of the classes of the loss it feeds (PyTorch raises
 * for one outside them; the kernels would give a loss of NaN). */
static int check_labels(const Graph *g, const BprtSplit *s, const Feed *f, char *err) {
    const char *what;
    int64_t classes = drv_label_classes(g, f->lab, &what);
    for (int64_t i = 0; classes && i < s->n; i++)
        if (s->labels.data[i] >= classes) {
            snprintf(err, BPRT_ERRLEN, "%.300s: label %lld is %d, outside the %lld %s (0 to %lld)", s->lp, (long long)i,
                     s->labels.data[i], (long long)classes, what, (long long)classes - 1);
            return -1;
        }
    return 0;
}

/* The most rows a batch of --batch holds, what the buffers are allocated for: bpc eval's
 * --batch beyond the test split's samples is one batch of them all, as PyTorch's DataLoader
 * makes, and needs their count (--batch 100000 of fashion_cnn, on 10000 test images, wanted a
 * 31 GB workspace and was refused). Training keeps its --batch: its size checks stand. */
static int batch_rows(const Feed *f, const BprtSplit *te, int eval_only, int batch) {
    return eval_only && !f->text && te->n < batch ? (int)te->n : batch;
}

/* The inputs --data does not fill take their defaults, made once at the full batch (a
 * smaller last batch reads their start). One without a default, or with a symbolic size
 * other than the batch, is an error naming it. (Text data has no others: see
 * train_text_inputs.) */
static int plan_fixed(const Model *m, Feed *f, int batch, const char *data, char *err) {
    const Graph *g = m->g;
    BP_ASSERT(g->ninputs <= BP_MAX_RUN_INPUTS); /* refused first: drv_check_run_inputs */
    for (int i = 0; i < g->ninputs; i++) {
        const Input *ip = &g->inputs[i];
        if (i == f->img || i == f->lab) continue;
        if (!ip->has_default) {
            snprintf(err, BPRT_ERRLEN, "--data %s: input '%s' has no value: --data fills only '%s' (images) and '%s' "
                     "(labels); give it a default (input %s = VALUE)", data, ip->name, g->inputs[f->img].name,
                     g->inputs[f->lab].name, ip->name);
            return -1;
        }
        for (int k = 0; k < ip->shape.rank; k++) {
            Dim d = ip->shape.d[k];
            if (d.sym >= 0 && d.sym != f->bsym) {
                char sh[160];
                snprintf(err, BPRT_ERRLEN, "--data %s: input '%s' %s has the size '%s', which --data does not set (only "
                         "the batch '%s')", data, ip->name, shape_str(&ip->shape, &g->syms, sh, sizeof sh),
                         g->syms.names[d.sym], g->syms.names[f->bsym]);
                return -1;
            }
        }
        char sizes[160], what[480];
        int dims[BP_MAXSYMS] = {0};
        dims[f->bsym] = batch;
        /* (saturating: [B, 2^36] at --batch 2^28 wrapped to 0 elements) */
        const size_t count = drv_numel_at(&ip->shape, dims, ip->dtype == DT_INT ? "ints" : m->f64 ? "doubles" : "floats",
                                          sizes, sizeof sizes);
        snprintf(what, sizeof what, "batch buffer for input '%.200s' (%s, its default)", ip->name, sizes);
        if (count > (size_t)INT64_MAX) {
            snprintf(err, BPRT_ERRLEN, "--data %.150s: cannot hold the %.280s: more than 2^63 elements", data, what);
            return -1;
        }
        const int64_t n = (int64_t)count;
        f->fixed[i] = drv_alloc_reals((size_t)(n ? n : 1), ip->dtype == DT_INT ? sizeof(int32_t) : m->real_size, what, err);
        if (!f->fixed[i]) return -1;
        for (int64_t k = 0; k < n; k++) {
            if (ip->dtype == DT_INT) ((int32_t *)f->fixed[i])[k] = (int32_t)ip->def;
            else drv_set(m, f->fixed[i], k, ip->def);
        }
    }
    return 0;
}

static void free_fixed(Feed *f) {
    for (int i = 0; i < BP_MAX_RUN_INPUTS; i++) {
        free(f->fixed[i]);
        f->fixed[i] = NULL;
    }
}

/* The model's input pointers: the batch's images (bytes) and labels, the rest fixed. */
static void feed_inputs(const Feed *f, const void *in[BP_MAX_RUN_INPUTS], void *x, int32_t *y) {
    for (int i = 0; i < BP_MAX_RUN_INPUTS; i++) in[i] = f->fixed[i];
    in[f->img] = x;
    in[f->lab] = y;
}

/* On a machine whose other jobs already keep every core busy (1-minute load average above
 * the core count + 0.5: more than this process's own threads can cause), several threads
 * share the cores with them and run slower than one (10x measured at load 9 on 2 cores
 * before the pool's caller ran the shares of descheduled workers, 1.1x beside one busy loop
 * since it runs whole regions alone while they keep missing): say so, and how to choose (on
 * a terminal only: scripts and tests get the same output whatever the load). */
static void busy_machine_note(void) {
    int nth = bprt_threads();
    double load = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    int got = fscanf(f, "%lf", &load);
    fclose(f);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (got == 1 && nth > 1 && cores > 0 && load > (double)cores + 0.5)
        fprintf(stderr, "note: this machine is busy (load average %.1f on %ld cores): %d threads share the cores with "
                        "other jobs; --threads 1 may well be faster\n", load, cores, nth);
}

/* Whether output node o ranks the classes as scores node s does (the same argmax on the last
 * axis): o is s, or a softmax or log_softmax of s over that axis, or s is one of o. */
static int same_argmax(const Graph *g, int o, int s) {
    const Node *a = &g->nodes[o], *b = &g->nodes[s];
    const int a_of_b = (a->op == OP_SOFTMAX || a->op == OP_LOG_SOFTMAX) && a->in[0] == s && a->axis == a->shape.rank - 1;
    const int b_of_a = (b->op == OP_SOFTMAX || b->op == OP_LOG_SOFTMAX) && b->in[0] == o && b->axis == b->shape.rank - 1;
    return o == s || a_of_b || b_of_a;
}

/* Whether output i is [B, C] with C a number (C == want unless want is 0) */
static int batch_by_classes(const Graph *g, const Feed *f, int i, int64_t want) {
    const Shape *s = &g->nodes[g->outputs[i]].shape;
    return s->rank == 2 && s->d[0].sym == f->bsym && s->d[0].c == 1 && s->d[1].sym < 0 && (!want || s->d[1].c == want);
}

/* The output accuracy is measured on, -1 if none (then no accuracy is printed: the program
 * is not a classifier): the first [B, C] output that ranks the classes as the scores of a
 * cross_entropy or nll the labels feed (those scores, or their softmax), else the first
 * [B, C] output with C the classes of the loss the labels feed, else the first output if it
 * is [B, C] (`output h, logits` with h of [B, 3] as well measured h, which the loss does
 * not classify with). *classes = C. */
static int scores_output(const Graph *g, const Feed *f, int64_t *classes) {
    const char *what;
    const int64_t want = drv_label_classes(g, f->lab, &what);
    int found = -1;
    for (int i = 0; i < g->noutputs && found < 0; i++)
        for (int k = 0; k < g->n && found < 0 && batch_by_classes(g, f, i, 0); k++) {
            const Node *n = &g->nodes[k], *l = &g->nodes[n->in[1]];
            if ((n->op == OP_CROSS_ENTROPY || n->op == OP_NLL) && l->op == OP_INPUT && l->ival == f->lab &&
                same_argmax(g, g->outputs[i], n->in[0]))
                found = i;
        }
    for (int i = 0; i < g->noutputs && found < 0 && want; i++)
        if (batch_by_classes(g, f, i, want)) found = i;
    if (found < 0 && g->noutputs && batch_by_classes(g, f, 0, 0)) found = 0;
    *classes = found >= 0 ? g->nodes[g->outputs[found]].shape.d[1].c : 0;
    return found;
}

/* Mean loss and accuracy over a split, in batches; with several ranks, each takes its share
 * of the rows and the sums are reduced. outs: a buffer for every output at the batch. The
 * loss is NAME_loss_eval's, as accuracy is NAME_forward's: at inference, every dropout the
 * identity (NAME_loss draws seed 0's masks, at the rows' positions in the batch). Returns
 * the rows evaluated: fewer than the split's when *stop (if stop is set) became non-zero
 * between two batches (Ctrl-C: a test set can take long, and the user wants the prompt
 * back); then *loss and *acc are NaN. A single process only: ranks stopping apart would
 * leave the reduction unmatched, so with several the caller passes no stop. */
static int64_t evaluate(const Model *m, const BprtSplit *s, const Feed *f, const void *params, int batch, void *ws, void *x,
                        int32_t *y, void **outs, int64_t *idx, volatile int *stop, double *loss, double *acc) {
    const Graph *g = m->g;
    double tl = 0;
    int64_t correct = 0, classes = 0;
    int so = f->text ? -1 : scores_output(g, f, &classes);
    const void *out = so >= 0 ? outs[so] : NULL;
    int64_t lo = s->n * dist_rank() / dist_size(), hi = s->n * (dist_rank() + 1) / dist_size();
    int64_t start;
    for (start = lo; start < hi && !(stop && *stop); start += batch) {
        int n = (int)(hi - start < batch ? hi - start : batch);
        for (int b = 0; b < n; b++) idx[b] = f->text ? (start + b) * f->per : start + b; /* text: window offsets */
        bprt_split_batch(s, idx, n, m->f64, x, y);
        const void *in[BP_MAX_RUN_INPUTS];
        feed_inputs(f, in, x, y);
        int dims[BP_MAXSYMS] = {0};
        dims[f->bsym] = n;
        tl += m->loss_eval(params, in, dims, ws) * n;
        if (m->forward && out) {
            m->forward(params, in, outs, dims, ws);
            for (int b = 0; b < n; b++) {
                int best = 0;
                for (int c = 1; c < classes; c++)
                    if (drv_get(m, out, (int64_t)b * classes + c) > drv_get(m, out, (int64_t)b * classes + best)) best = c;
                correct += best == y[b];
            }
        }
    }
    if (start < hi) {
        *loss = *acc = NAN;
        return start - lo;
    }
    double sums[2] = {tl, (double)correct};
    if (dist_allreduce_sum(sums, 2, 1) != 0) sums[0] = sums[1] = NAN;
    tl = sums[0];
    correct = (int64_t)sums[1];
    *loss = tl / (double)s->n;
    *acc = classes > 0 ? (double)correct / (double)s->n : (double)NAN;
    return s->n;
}

/* Where checkpoints go: --save, else MODEL.ckpt.safetensors. */
static const char *ckpt_path(const Graph *g, const TrainOptions *o, char *buf, size_t size) {
    if (o->save) return o->save;
    snprintf(buf, size, "%s.ckpt.safetensors", g->model);
    return buf;
}

/* Writes the checkpoint to path; when that fails (a full disk, its directory removed during
 * the run, path a file drv_check_tensor_output keeps: a run stopped without --save, whose
 * MODEL.ckpt.safetensors is not a safetensors file) the trained parameters would be lost with the process, so they go to
 * MODEL.rescue-PID.safetensors in the working directory, else in $TMPDIR or /tmp, and err
 * (the failure) says where, or that no place could be written. -1 either way. */
static int save_or_rescue(const Model *m, const char *path, const void *params, const void *opt, size_t osz,
                          const int64_t progress[4], char *err) {
    if (drv_check_tensor_output(path, err) == 0 && drv_save_checkpoint(m, path, params, opt, osz, progress, err) == 0)
        return 0;
    const char *tmpdir = getenv("TMPDIR");
    const char *dirs[] = {".", tmpdir && *tmpdir ? tmpdir : "/tmp", "/tmp"};
    char rescue[4200], err2[BPRT_ERRLEN];
    size_t n = strlen(err);
    for (int k = 0; k < 3; k++) {
        if (k == 2 && strcmp(dirs[1], "/tmp") == 0) break; /* without $TMPDIR: tried already */
        snprintf(rescue, sizeof rescue, "%s/%s.rescue-%ld.safetensors", dirs[k], m->g->model, (long)getpid());
        if (drv_save_checkpoint(m, rescue, params, opt, osz, progress, err2) == 0) {
            snprintf(err + n, BPRT_ERRLEN - n, "; the parameters were saved to %s instead (resume with --params %s)",
                     rescue, rescue);
            return -1;
        }
    }
    snprintf(err + n, BPRT_ERRLEN - n, "; no other place could be written either (%s)", err2);
    return -1;
}

static int save_ckpt(const Model *m, const TrainOptions *o, const void *params, const void *opt, size_t osz,
                     const int64_t progress[4]) {
    char buf[4096], err[BPRT_ERRLEN];
    if (dist_rank() != 0) return 0; /* rank 0 writes for the job */
    const char *path = ckpt_path(m->g, o, buf, sizeof buf);
    if (save_or_rescue(m, path, params, opt, osz, progress, err) != 0) {
        diag_tool_error("%s", err);
        return -1;
    }
    return 0;
}

typedef struct Run {
    Model *m;
    const TrainOptions *o;
    void *params, *opt_state;
    size_t opt_bytes;
    double lr;
    int64_t progress[4]; /* epoch (1-based), steps done in it, steps in all, seed */
    int64_t start_steps; /* progress[2] when this run started */
    /* several ranks (dist.h): */
    void *grad;               /* NPARAMS + 2 reals: gradient, loss, stop request */
    volatile int *raw_stop;   /* this rank's signal flag (o->stop is then the agreed one) */
    int lost;                 /* lost contact with the other ranks */
    const char *refused;      /* the last step changed nothing: why (train_refusal), else NULL */
    /* the learning-rate schedule (o->sched): */
    double lr_now;            /* the rate of the next step */
    int64_t sched_end;        /* steps done where it ends */
    int64_t sched_epoch0;     /* the epoch it starts in */
} Run;

int train_parse_schedule(const char *text, Schedule *s, char *err, size_t size) {
    s->every = 0;
    s->gamma = 1;
    if (strcmp(text, "constant") == 0) s->kind = SCHED_CONSTANT;
    else if (strcmp(text, "cosine") == 0) s->kind = SCHED_COSINE;
    else if (strncmp(text, "step:", 5) == 0) {
        /* N and G are read as every number of the command line is (drv_parse_count, _real),
           and a G of the right form that a double cannot hold is said to be so, as --lr's */
        char n[16], g_why[64] = "";
        const char *colon = strchr(text + 5, ':'), *why = NULL;
        const size_t len = colon ? (size_t)(colon - (text + 5)) : 0;
        if (len < sizeof n) memcpy(n, text + 5, len), n[len] = 0;
        const int g_ok = colon && drv_parse_real(colon + 1, &s->gamma, &why) == 0 && s->gamma > 0;
        if (!g_ok || len >= sizeof n || drv_parse_count(n, 1, &s->every) != 0) {
            s->every = 0;
            s->gamma = 1;
            if (why) snprintf(g_why, sizeof g_why, "G %s; ", why);
            snprintf(err, size, "--lr-schedule %.100s: %sstep:N:G takes N, a whole number of epochs (steps without "
                     "--data) of at least 1, and G, a factor above 0 (e.g. step:10:0.1)", text, g_why);
            return -1;
        }
        s->kind = SCHED_STEP;
    } else {
        snprintf(err, size, "--lr-schedule takes constant, cosine or step:N:G, not '%.100s'", text);
        return -1;
    }
    return 0;
}

/* Has the run a schedule (the rate is said at each epoch or step)? */
static int scheduled(const Run *r) { return r->o->sched.kind != SCHED_CONSTANT || r->o->sched.warmup; }

/* Steps done where the schedule starts: 0, or in the REPL where this :train started. */
static int64_t sched_origin(const Run *r) { return r->o->state ? r->start_steps : 0; }

/* The rate of the step after `done` steps, in epoch `epoch` (1-based; 0 without --data). */
static double scheduled_lr(const Run *r, int64_t done, int64_t epoch) {
    const Schedule *s = &r->o->sched;
    const int64_t t = done - sched_origin(r), w = s->warmup;
    double f = 1;
    if (t < w) f = (double)(t + 1) / (double)w;
    else if (s->kind == SCHED_COSINE) {
        const int64_t n = r->sched_end - sched_origin(r) - w;
        f = n > 0 ? 0.5 * (1 + cos(3.14159265358979323846 * (double)(t - w) / (double)n)) : 1;
    } else if (s->kind == SCHED_STEP)
        f = pow(s->gamma, (double)((epoch ? epoch - r->sched_epoch0 : t) / s->every));
    return r->lr * f;
}

/* " (cosine over 9380 steps, warmup 100)": the schedule as the run's first line says it. */
static void describe_schedule(const Run *r, char *buf, size_t size) {
    const Schedule *s = &r->o->sched;
    size_t n = 0;
    buf[0] = 0;
    if (s->kind == SCHED_COSINE)
        n = (size_t)snprintf(buf, size, " (cosine to 0 over %lld steps", (long long)(r->sched_end - sched_origin(r)));
    else if (s->kind == SCHED_STEP)
        n = (size_t)snprintf(buf, size, " (times %g every %d %s", s->gamma, s->every, r->o->data ? "epochs" : "steps");
    if (s->warmup && n < size)
        n += (size_t)snprintf(buf + n, size - n, "%swarmup %d steps", n ? ", " : " (", s->warmup);
    if (n && n < size) snprintf(buf + n, size - n, ")");
}

/* The dropout seed of rank rk's gradient in this step: the optimizer's step count (what
 * train_step seeds with: one process draws the masks it would) plus rk * 2^32, so that the
 * masks change at every step and differ between ranks (as PyTorch DDP's per-process RNG). */
static uint64_t step_dropout_seed(const Run *r, int rk) {
    return (uint64_t)drv_opt_steps(r->opt_state) + ((uint64_t)rk << 32);
}

/* A run that stops before its end (a step that is not finite, or Ctrl-C) keeps its
 * parameters in the checkpoint ckpt_path names, but in the REPL without --save, which
 * keeps them itself, and not when it trained no step: the file (an earlier run's --save,
 * say) would lose what it holds for parameters that --params or --seed give again.
 * Writes it (rank 0 for the job) and returns its path (in buf), or NULL when nothing was
 * written: err then says why, or is empty (see trained_nothing). */
static int trained_nothing(const Run *r) { return r->progress[2] == r->start_steps; }
static int repl_keeps_params(const Run *r) { return r->o->params_io && !r->o->save; }
static const char *save_stopped(const Run *r, char *buf, size_t size, char *err) {
    err[0] = 0;
    if (repl_keeps_params(r) || trained_nothing(r)) return NULL;
    const char *path = ckpt_path(r->m->g, r->o, buf, size);
    if (dist_rank() != 0) return path;
    return save_or_rescue(r->m, path, r->params, r->opt_state, r->opt_bytes, r->progress, err) == 0 ? path : NULL;
}

/* A step that is not finite (at `where`: "epoch E, step S" or "step S"; `why` as
 * train_refusal says it) stops the run with the parameters from before it: saved by
 * save_stopped, and the message names the file. */
static void stop_not_finite(const Run *r, const char *where, const char *why, double loss, const char *hint) {
    char buf[4096], err[BPRT_ERRLEN], saved[4200] = "";
    if (r->grad) dist_stop_together(); /* data-parallel: every rank refused the same summed step */
    const char *path = save_stopped(r, buf, sizeof buf, err);
    if (dist_rank() != 0) return;
    if (path) snprintf(saved, sizeof saved, ", saved to %s", path);
    else if (!*err && trained_nothing(r) && !repl_keeps_params(r))
        snprintf(saved, sizeof saved, "; as no step was trained, nothing was saved");
    diag_tool_error("%s at %s (loss %g); stopping with the parameters from before that step%s%s", why, where,
                    drv_printable(loss), saved, hint);
    if (*err) diag_tool_error("%s", err);
}

/* what a stopped run and a refused step say, wherever they are found out */
static const char before_any_step[] = "before any step; the parameters are unchanged";
static const char not_finite[] = "the loss or its gradient is not finite";

/* Ctrl-C or SIGTERM stopped the run after `where` ("epoch E after N steps", "step S"): its
 * parameters go to save_stopped's checkpoint, named; returns the exit status (130, as a
 * shell gives an interrupted command; 0 in the REPL, whose session goes on). */
static int stop_interrupted(const Run *r, const char *where) {
    char buf[4096], err[BPRT_ERRLEN];
    if (r->grad) dist_stop_together(); /* data-parallel: the stop was agreed in a step's sum */
    const char *path = save_stopped(r, buf, sizeof buf, err);
    if (path) printf("interrupted %s; checkpoint saved to %s (resume with --params %s)\n", where, path, path);
    else printf("interrupted %s\n", where);
    if (*err) diag_tool_error("%s", err);
    return r->o->params_io ? 0 : 130;
}

/* Why an update refused the finite loss's gradient grad: an element that is not finite, or
 * a sum of squares that overflows (NAME_update's test). */
static const char *gradient_problem(const Model *m, const void *grad) {
    for (int64_t i = 0; i < m->g->nparam_reals; i++)
        if (!isfinite(drv_get(m, grad, i))) return "the gradient is not finite";
    return "the gradient norm overflows"; /* (every element finite, the sum of their squares not) */
}

double train_refusal(const Model *m, const void *params, const void *opt_state, const void *const *in, const int *dims,
                     void *ws, const char **why) {
    char err[BPRT_ERRLEN];
    double steps = drv_opt_steps(opt_state); /* it seeds the step's masks */
    *why = not_finite;
    void *grad = drv_alloc_reals((size_t)m->g->nparam_reals + 1, m->real_size, "gradients", err);
    if (!grad) return (double)NAN; /* not told apart */
    double loss = m->grad_seeded(params, grad, in, dims, (uint64_t)steps, ws);
    if (isfinite(loss)) *why = gradient_problem(m, grad);
    free(grad);
    return loss;
}

double train_step_explained(const Model *m, void *params, void *opt_state, const void *const *in, const int *dims,
                            double lr, void *ws, int explain, const char **why) {
    double loss = m->train_step(params, opt_state, in, dims, lr, ws);
    *why = NULL;
    if (isfinite(loss)) return loss;
    *why = not_finite;
    return explain ? train_refusal(m, params, opt_state, in, dims, ws, why) : loss;
}

/* One optimizer step on the global batch idx[0..n); returns its mean loss. r->refused says
 * why, when the step changed nothing (as train_refusal; alone with explain 0 it is not
 * worked out, and the loss is train_step's NaN). Alone, the fused train_step. Across N
 * ranks, rank r takes rows [r*n/N, (r+1)*n/N), computes the gradient of their mean loss
 * (dropout masks of its own: step_dropout_seed) and weights it (and the loss) by its share of the rows; one in-place
 * sum over [gradient, loss, stop request] leaves every rank the gradient of the global
 * batch's mean loss, and every rank applies the identical update. A stop request on any
 * rank stops all of them after this step. */
static double run_step(Run *r, const BprtSplit *s, const Feed *f, const int64_t *idx, int n, void *x, int32_t *y, void *ws,
                       int explain) {
    Model *m = r->m;
    const void *in[BP_MAX_RUN_INPUTS];
    feed_inputs(f, in, x, y);
    int d[BP_MAXSYMS] = {0};
    int nr = dist_size(), rk = dist_rank();
    r->refused = NULL;
    if (nr == 1) {
        bprt_split_batch(s, idx, n, m->f64, x, y);
        d[f->bsym] = n;
        return train_step_explained(m, r->params, r->opt_state, in, d, r->lr_now, ws, explain, &r->refused);
    }
    int lo = (int)((int64_t)n * rk / nr), hi = (int)((int64_t)n * (rk + 1) / nr);
    size_t np = (size_t)m->g->nparam_reals;
    double loss = 0, w = (double)(hi - lo) / n, stop = r->raw_stop && *r->raw_stop;
    if (hi > lo) {
        bprt_split_batch(s, idx + lo, hi - lo, m->f64, x, y);
        d[f->bsym] = hi - lo;
        loss = m->grad_seeded(r->params, r->grad, in, d, step_dropout_seed(r, rk), ws) * w;
        if (m->f64) for (size_t k = 0; k < np; k++) ((double *)r->grad)[k] *= w;
        else for (size_t k = 0; k < np; k++) ((float *)r->grad)[k] *= (float)w;
    } else
        memset(r->grad, 0, np * m->real_size);
    if (m->f64) {
        ((double *)r->grad)[np] = loss;
        ((double *)r->grad)[np + 1] = stop;
    } else {
        ((float *)r->grad)[np] = (float)loss;
        ((float *)r->grad)[np + 1] = (float)stop;
    }
    if (dist_allreduce_sum(r->grad, np + 2, m->f64) != 0) {
        /* the parameters are those from before this step: kept as a stopped run's are, not
           when it trained no step (they were the initial ones, written over --save's file) */
        char buf[4096], err[BPRT_ERRLEN];
        r->lost = 1;
        const char *path = save_stopped(r, buf, sizeof buf, err);
        if (rk == 0 && path) fprintf(stderr, "bpc: rank 0 saved a checkpoint to %s (resume with --params)\n", path);
        else if (rk == 0 && *err) diag_tool_error("%s", err);
        else if (rk == 0) diag_tool_note("no step was trained, so no checkpoint was saved");
        return NAN;
    }
    loss = drv_get(m, r->grad, (int64_t)np);
    if (drv_get(m, r->grad, (int64_t)np + 1) > 0 && r->o->stop) *r->o->stop = 1;
    if (!isfinite(loss)) r->refused = not_finite;
    else if (m->update(r->params, r->opt_state, r->grad, r->lr_now) != 0) r->refused = gradient_problem(m, r->grad);
    return loss;
}

/* The facts every rank of a run must share (dist_agree): the same command on the same files.
 * Ranks that differed summed gradient vectors of different lengths or types (a heap
 * corruption in MPI_Allreduce, or MPI_ERR_TRUNCATE said as a lost contact), or trained
 * different models silently (each rank its own --seed's parameters and data order, its own
 * --batch's rows, and rank 0 saved its own). */
enum { FACT_F64, FACT_JIT, FACT_CODE, FACT_EVAL, FACT_BATCH, FACT_STEPS, FACT_EPOCHS, FACT_LR, FACT_SCHEDULE,
       FACT_ON_NAN, FACT_POSITION, FACT_SEED, FACT_PARAMS, FACT_OPT_STATE, FACT_DATA, FACT_COUNT };
static const char *const fact_what[FACT_COUNT][2] = { /* the fact (its verb: "differs", or "differ" after an s), a hint */
    {"--f64", ""}, {"--jit", ""}, {"the program", " (is the .bp file the same on every node?)"},
    {"the command", " (train on some ranks, eval on others)"}, {"--batch", ""}, {"--steps", ""}, {"--epochs", ""},
    {"--lr", ""}, {"--lr-schedule", ""}, {"--on-nan", ""},
    {"the training position", " (--params: is the checkpoint the same on every node?)"},
    {"the seed", " (--seed, or a --params checkpoint's)"},
    {"the parameters", " (--params: is the checkpoint the same on every node?)"},
    {"the optimizer's state", " (--params: is the checkpoint the same on every node?)"},
    {"the data", " (is --data the same on every node?)"}};

static uint64_t split_hash(uint64_t h, const BprtSplit *s) {
    const int64_t n[3] = {s->n, s->len, s->window};
    h = dist_hash(h, n, sizeof n);
    if (s->images.data) h = dist_hash(h, s->images.data, (size_t)s->images.count);
    if (s->labels.data) h = dist_hash(h, s->labels.data, (size_t)s->labels.count);
    if (s->text) h = dist_hash(h, s->text, (size_t)s->len);
    return h;
}

/* Every rank is ready and was started alike (dist_agree): 0; else 1, said by rank 0 (a rank
 * that failed said why itself). tr and te: --data's splits, or NULL. One rank: 0 at once. */
static int agree_start(const Run *r, const BprtSplit *tr, const BprtSplit *te) {
    if (dist_size() == 1) return 0;
    const Model *m = r->m;
    const TrainOptions *o = r->o;
    const Schedule *sc = &o->sched;
    uint64_t f[FACT_COUNT], h = 0xcbf29ce484222325ULL;
    f[FACT_F64] = (uint64_t)m->f64;
    f[FACT_JIT] = (uint64_t)o->jit;
    f[FACT_CODE] = m->code_hash;
    f[FACT_EVAL] = (uint64_t)o->eval_only;
    f[FACT_BATCH] = (uint64_t)o->batch;
    f[FACT_STEPS] = (uint64_t)o->steps;
    f[FACT_EPOCHS] = (uint64_t)o->epochs;
    memcpy(&f[FACT_LR], &r->lr, sizeof r->lr);
    const double sched[4] = {(double)sc->kind, (double)sc->every, sc->gamma, (double)sc->warmup};
    f[FACT_SCHEDULE] = dist_hash(h, sched, sizeof sched);
    f[FACT_ON_NAN] = (uint64_t)o->on_nan_skip;
    f[FACT_SEED] = (uint64_t)r->progress[3];
    f[FACT_POSITION] = dist_hash(h, r->progress, 3 * sizeof r->progress[0]);
    f[FACT_PARAMS] = dist_hash(h, r->params, (size_t)m->g->nparam_reals * m->real_size);
    f[FACT_OPT_STATE] = dist_hash(h, r->opt_state, r->opt_bytes);
    f[FACT_DATA] = tr && te ? split_hash(split_hash(h, tr), te) : h;
    DistAgreement a;
    if (dist_agree(1, f, FACT_COUNT, &a) == 0) return 0;
    if (dist_rank() != 0 || a.failed == 0) return 1;
    if (a.failed > 0)
        diag_tool_error("rank %d could not start (its error is above); no rank %s", a.failed,
                        o->eval_only ? "evaluated" : "trained");
    else if (a.differs >= 0) {
        char range[128] = "";
        const int k = a.differs;
        if (k == FACT_LR) {
            double lo, hi;
            memcpy(&lo, &a.lo, sizeof lo);
            memcpy(&hi, &a.hi, sizeof hi);
            snprintf(range, sizeof range, ": %g on one rank, %g on another", lo, hi);
        } else if (k == FACT_F64 || k == FACT_BATCH || k == FACT_STEPS || k == FACT_EPOCHS || k == FACT_SEED)
            snprintf(range, sizeof range, ": %llu on one rank, %llu on another", (unsigned long long)a.lo,
                     (unsigned long long)a.hi);
        const char *name = fact_what[k][0];
        diag_tool_error("the ranks were not started alike: %s %s%s%s; every rank must run the same command on the same "
                        "files", name, name[strlen(name) - 1] == 's' ? "differ" : "differs",
                        k == FACT_F64 ? ": given on some ranks only" : range, fact_what[k][1]);
    }
    return 1;
}

/* --epochs and --steps count from the start of training, so that a checkpoint resumed with
 * the command that wrote it finishes that command's run. True, with a note saying so, when
 * the checkpoint has done the steps (if steps > 0) or the epochs (if epochs > 0) asked for. */
static int already_trained(const Run *r, int64_t steps, int64_t epochs) {
    const char *ck = r->o->params;
    if (steps > 0 && r->progress[2] >= steps)
        printf("nothing to train: %s has %lld steps done and this run asks for %lld in all (--steps and --epochs count "
               "from the start of training: --steps %lld trains %lld more)\n", ck, (long long)r->progress[2],
               (long long)steps, (long long)(r->progress[2] + steps), (long long)steps);
    else if (epochs > 0 && r->progress[0] > epochs)
        printf("nothing to train: %s has finished %lld epochs and this run asks for %lld in all (--epochs counts from the "
               "start of training: --epochs %lld trains one more)\n", ck, (long long)r->progress[0] - 1, (long long)epochs,
               (long long)r->progress[0]);
    else
        return 0;
    return 1;
}

/* After a run, with --data or fixed inputs: how many of its steps --on-nan skip skipped. */
static void say_skipped(int64_t skipped) {
    if (skipped)
        printf("%lld step%s skipped for non-finite values (--on-nan skip)\n", (long long)skipped, skipped == 1 ? "" : "s");
}

/* The run starts: its data is loaded and checked, its first step is next. */
static void say_notes(const TrainOptions *o) {
    if (o->notes) fputs(o->notes, stdout);
}

/* --data's splits and feed, read and checked against the program (and the other inputs'
 * batch buffers made) before the parameters are: a data set that does not fit is said at
 * once, not after parameters of gigabytes are initialised. Returns 0, or 1 (said). */
typedef struct Data {
    BprtSplit tr, te;
    Feed f;
    double t_load;
} Data;

static int load_data(const Model *m, const TrainOptions *o, Data *d) {
    const Graph *g = m->g;
    char err[BPRT_ERRLEN];
    BprtSplit tr, te;
    Feed f;
    double t_load = now();
    memset(&f, 0, sizeof f);
    f.text = is_text_data(o->data);
    struct stat st;
    char terr[BPRT_ERRLEN];
    if (!f.text && train_text_inputs(g, &f.img, &f.lab, &f.bsym, &f.per, terr) == 0) {
        /* a text program: a missing path is a missing text file; a directory (IDX files) is an
           error (it looked for DIR/train-images-idx3-ubyte, "cannot open", or, where they were,
           said that the program needs a real input for images) */
        if (stat(o->data, &st) == 0) {
            diag_tool_error("--data %s: is a directory (of IDX files), but program '%s' takes text (its ': int' inputs "
                            "'%s' and '%s' of shape [%s, %lld]: the bytes and the bytes after them): give --data a "
                            "text file", o->data, g->model, g->inputs[f.img].name, g->inputs[f.lab].name,
                            g->syms.names[f.bsym], (long long)f.per);
            return 1;
        }
        f.text = 1;
    }
    if (f.text) { /* the program's inputs first: their T sets the windows */
        if (train_text_inputs(g, &f.img, &f.lab, &f.bsym, &f.per, err) != 0) {
            diag_tool_error("--data %s: %s", o->data, err);
            return 1;
        }
        /* a byte is an id of the first input and a label of the second: the fewer values */
        const char *what, *what_ids;
        int64_t classes = drv_label_classes(g, f.lab, &what), ids = drv_label_classes(g, f.img, &what_ids);
        if (ids && (!classes || ids < classes)) classes = ids, what = what_ids;
        if (bprt_split_text(o->data, f.per, classes, what, &tr, &te, err) != 0) {
            diag_tool_error("%s", err);
            return 1;
        }
    } else if (o->eval_only) /* the test split alone: bpc eval asked for the training files too */
        memset(&tr, 0, sizeof tr);
    else if (bprt_split_idx(o->data, "train", &tr, err) != 0) {
        diag_tool_error("%s", err);
        return 1;
    }
    if (!f.text && bprt_split_idx(o->data, "t10k", &te, err) != 0) {
        diag_tool_error("%s", err);
        bprt_split_free(&tr);
        return 1;
    }
    if (!f.text && ((!o->eval_only && check_not_empty(&tr, err) != 0) || check_not_empty(&te, err) != 0 ||
                    plan_feed(g, o->eval_only ? &te : &tr, &f, o->data, err) != 0 ||
                    (!o->eval_only && bprt_split_same_pixels(&tr, &te, err) != 0) ||
                    (!o->eval_only && check_labels(g, &tr, &f, err) != 0) || check_labels(g, &te, &f, err) != 0)) {
        diag_tool_error("%s", err);
        bprt_split_free(&tr);
        bprt_split_free(&te);
        return 1;
    }
    t_load = now() - t_load;
    if (plan_fixed(m, &f, batch_rows(&f, &te, o->eval_only, o->batch), o->data, err) != 0) {
        diag_tool_error("%s", err);
        free_fixed(&f);
        bprt_split_free(&tr);
        bprt_split_free(&te);
        return 1;
    }
    d->tr = tr;
    d->te = te;
    d->f = f;
    d->t_load = t_load;
    return 0;
}

static void free_data(Data *d) {
    free_fixed(&d->f);
    bprt_split_free(&d->tr);
    bprt_split_free(&d->te);
}

/* The epoch in which --steps (counted from the start of training) ends, from the position
 * r->progress at per_epoch steps an epoch. (It was a cap of 1000000 epochs: at one step an
 * epoch, --steps 1000002 trained 1000000 steps, saved them and said nothing.) */
static int last_epoch(const Run *r, int64_t steps, int64_t per_epoch) {
    int64_t last = r->progress[0], left = steps - r->progress[2] - (per_epoch - r->progress[1]);
    if (per_epoch > 0 && left > 0) last += (left + per_epoch - 1) / per_epoch;
    return last < INT_MAX - 1 ? (int)last : INT_MAX - 1; /* (the epoch loop's ep + 1 stays an int) */
}

/* A step of an epoch of --data (bprt_train_epoch's): its batch, the schedule's rate, the
 * position, a checkpoint every --checkpoint-every steps; a step that is not finite stops the
 * run (said, with a checkpoint) or, with --on-nan skip, is skipped. */
typedef struct EpochStep {
    Run *r;
    const BprtSplit *tr;
    const Feed *f;
    void *x;
    int32_t *y;
    void *ws;
    int epoch, tty;
    int64_t per_epoch;             /* steps of an epoch */
    int64_t skipped, skipped_here; /* steps --on-nan skip skipped: in the run, in this epoch */
    double ckpt_s;                 /* seconds this epoch spent writing checkpoints (not compute) */
} EpochStep;

static int epoch_step(void *ctx, int64_t s, const int64_t *rows, int n, double *loss) {
    EpochStep *es = ctx;
    Run *r = es->r;
    const TrainOptions *o = r->o;
    const int ep = es->epoch;
    r->lr_now = scheduled_lr(r, r->progress[2], ep);
    *loss = run_step(r, es->tr, es->f, rows, n, es->x, es->y, es->ws, !o->on_nan_skip);
    if (r->lost) return BPRT_STEP_FAIL;
    int rc = BPRT_STEP_COUNT;
    if (r->refused) { /* skipped, as on fixed inputs: a step done, not in the train loss */
        if (!o->on_nan_skip) {
            if (es->tty) fputc('\n', stderr);
            r->progress[0] = ep;
            r->progress[1] = s;
            char where[64];
            snprintf(where, sizeof where, "epoch %d, step %lld", ep, (long long)s + 1);
            /* the REPL's :train takes no --on-nan */
            stop_not_finite(r, where, r->refused, *loss, o->params_io ? " (try a smaller --lr)"
                                                                      : " (try a smaller --lr, or --on-nan skip)");
            return BPRT_STEP_FAIL;
        }
        es->skipped++;
        es->skipped_here++;
        rc = BPRT_STEP_SKIPPED;
    }
    r->progress[1] = s + 1;
    r->progress[2]++;
    if (o->checkpoint_every && r->progress[2] % o->checkpoint_every == 0) {
        int64_t pr[4] = {ep, s + 1, r->progress[2], r->progress[3]};
        if (s + 1 == es->per_epoch) pr[0] = ep + 1, pr[1] = 0;
        const double t0 = now();
        const int saved = save_ckpt(r->m, o, r->params, r->opt_state, r->opt_bytes, pr);
        es->ckpt_s += now() - t0;
        if (saved != 0) return BPRT_STEP_FAIL;
    }
    if ((o->steps && r->progress[2] >= o->steps) || (o->stop && *o->stop)) rc |= BPRT_STEP_STOP;
    return rc;
}

/* Whether the workspace and the batch's buffers at dims (rows rows, an epoch of n samples)
 * fit together in the memory bpc may use; else an error for the batch and 0. One that does
 * not fit alone is left to its own check where it is allocated, whose message names it;
 * this is for the sum, which
 * those checks missed: at --batch 10000000 fashion_mlp's 20 GB workspace fitted in 24 GB, was
 * allocated and zeroed (48 s), and only then was the input's buffer refused. */
static int batch_memory_fits(const Model *m, const Feed *f, const int *dims, int rows, int64_t n, const char *context) {
    const Graph *g = m->g;
    const size_t ws = m->ws_size(dims);
    char over[128], sizes[8];
    if (ws >= SIZE_MAX / 2 || !bpc_memory_fits((double)ws, over, sizeof over)) return 1; /* the workspace's own */
    double bytes = (double)ws;
    for (int i = -3; i < g->noutputs; i++) { /* the input's rows, the labels' (text: ints), the order, the outputs */
        const double part =
            i == -3 ? (double)rows * (double)f->per * (f->text ? (double)sizeof(int32_t) : (double)m->real_size)
            : i == -2 ? (double)rows * (double)(f->text ? f->per : 1) * (double)sizeof(int32_t)
            : i == -1 ? ((double)n + 1 + rows) * (double)sizeof(int64_t)
                      : (double)drv_numel_at(&g->nodes[g->outputs[i]].shape, dims, "", sizes, sizeof sizes) *
                            (double)m->real_size;
        if (!bpc_memory_fits(part, over, sizeof over)) return 1; /* said where it is allocated, named */
        bytes += part;
    }
    if (bpc_memory_fits(bytes, over, sizeof over)) return 1;
    diag_tool_error("%s: the workspace (%zu bytes) and the batch's buffers need %.0f bytes together, more than %s; use a "
                    "smaller batch", context, ws, bytes, over);
    return 0;
}

/* Training (or bpc eval) on d, which load_data made; frees it. */
static int train_data(Run *r, Data *d) {
    Model *m = r->m;
    const TrainOptions *o = r->o;
    const Graph *g = m->g;
    char err[BPRT_ERRLEN];
    BprtSplit tr = d->tr, te = d->te;
    Feed f = d->f;
    double t_load = d->t_load;
    int batch = o->batch;
    const int rows = batch_rows(&f, &te, o->eval_only, batch);
    int dims[BP_MAXSYMS] = {0};
    dims[f.bsym] = rows;
    char context[64];
    if (rows < batch) snprintf(context, sizeof context, "batch %d (all %d test samples)", batch, rows);
    else snprintf(context, sizeof context, "batch %d", batch);
    void *ws = drv_check_sizes(g, dims) == 0 && batch_memory_fits(m, &f, dims, rows, tr.n, context)
                   ? drv_model_workspace(m, dims, context)
                   : NULL;
    if (!ws) {
        free_fixed(&f);
        bprt_split_free(&tr);
        bprt_split_free(&te);
        return 1;
    }
    /* the batch's inputs, every output at the batch, the epoch's order and a batch's rows:
       each a message naming it when it cannot be allocated (a --batch too large for the
       address space aborted here) */
    char what[400];
    const char *elem = f.text ? "ints" : m->f64 ? "doubles" : "floats";
    snprintf(what, sizeof what, "batch buffer for input '%.200s' (%d x %lld %s)", g->inputs[f.img].name, rows,
             (long long)f.per, elem);
    void *x = drv_alloc_reals((size_t)rows * (size_t)f.per, f.text ? sizeof(int32_t) : m->real_size, what, err);
    int32_t *y = NULL;
    void **outs = NULL;
    int64_t *perm = NULL, *idx = NULL;
    if (x) {
        if (f.text) snprintf(what, sizeof what, "batch buffer for input '%.200s' (%d x %lld ints)", g->inputs[f.lab].name,
                             rows, (long long)f.per);
        else snprintf(what, sizeof what, "batch buffer for input '%.200s' (%d ints)", g->inputs[f.lab].name, rows);
        y = drv_alloc_reals((size_t)rows * (size_t)(f.text ? f.per : 1), sizeof *y, what, err);
    }
    if (y) outs = drv_alloc_outputs(m, dims, err);
    if (f.text) /* an epoch of text: len / (batch T) full batches of windows at random offsets */
        tr.n = (tr.n / batch > 0 ? tr.n / batch : 1) * batch;
    if (outs) {
        snprintf(what, sizeof what, "order of an epoch's %lld samples", (long long)tr.n);
        perm = drv_alloc_reals((size_t)tr.n + 1, sizeof *perm, what, err); /* (none for bpc eval) */
    }
    if (perm) {
        snprintf(what, sizeof what, "rows of a batch (%d indices)", rows);
        idx = drv_alloc_reals((size_t)rows, sizeof *idx, what, err);
    }
    int tty = isatty(2) && dist_rank() == 0, rc = 0;
    if (!idx) {
        diag_tool_error("batch %d: %s", batch, err);
        rc = 1;
        goto done;
    }
    int64_t per_epoch = bprt_epoch_steps(&tr, batch);
    int epochs = o->epochs ? o->epochs : (o->steps ? last_epoch(r, o->steps, per_epoch) : 1);
    if (!o->eval_only && r->progress[1] >= per_epoch) { /* a resumed epoch's step: from --params or a state */
        const char *from = o->params ? o->params : o->state && o->state->from ? o->state->from : "the training position";
        diag_tool_error("%s: invalid checkpoint progress: step %lld is not below the %lld steps of an epoch "
                        "here (%lld %s at batch %d); was it saved with another --batch or data set?", from,
                        (long long)r->progress[1], (long long)per_epoch, (long long)(f.text ? tr.len : tr.n),
                        f.text ? "bytes of text" : "samples", batch);
        rc = 1;
        goto done;
    }
    if (agree_start(r, &tr, &te) != 0) { /* (before any rank can leave: none waits for it) */
        rc = 1;
        goto done;
    }
    uint64_t seed = (uint64_t)r->progress[3];
    if (!o->eval_only && already_trained(r, o->steps, epochs)) goto done;
    char resumed[128] = "";
    if (r->progress[2] && o->state) /* the REPL's session going on */
        snprintf(resumed, sizeof resumed, " (going on at epoch %lld, step %lld; %lld steps done)", (long long)r->progress[0],
                 (long long)r->progress[1] + 1, (long long)r->progress[2]);
    else if (r->progress[2])
        snprintf(resumed, sizeof resumed, " (resumed)");
    if (!o->eval_only) say_notes(o);
    /* the schedule: to the end of the last epoch asked for, or to --steps */
    r->sched_epoch0 = o->state ? r->progress[0] : 1;
    r->sched_end = o->steps ? o->steps : r->progress[2] + (epochs - r->progress[0]) * per_epoch + (per_epoch - r->progress[1]);
    char sched[128];
    describe_schedule(r, sched, sizeof sched);
    /* a Ctrl-C while the data loaded (or the model compiled) stops before the first step, not
       after it, and before the line saying it starts, which callers wait for (with several ranks o->stop is the agreed request, which only a step sets) */
    if (!o->eval_only && o->stop && *o->stop) {
        rc = stop_interrupted(r, before_any_step);
        goto done;
    }
    if (!o->eval_only && f.text)
        printf("training %s on %s: %lld bytes of text (%lld held out), windows of %lld bytes, batch %d, %lld step%s an epoch, "
               "%s, lr %g%s%s\n", g->model, o->data, (long long)tr.len, (long long)te.len, (long long)f.per, batch,
               (long long)per_epoch, per_epoch == 1 ? "" : "s", o->jit == JIT_CC ? "cc JIT" : "tcc JIT", r->lr, sched,
               resumed);
    else if (!o->eval_only)
        printf("training %s on %s: %lld samples, batch %d, %s, lr %g%s, data loaded in %.2f s%s\n", g->model, o->data,
               (long long)tr.n, batch, o->jit == JIT_CC ? "cc JIT" : "tcc JIT", r->lr, sched, t_load, resumed);
    if (!o->eval_only && dist_rank() == 0 && isatty(2)) busy_machine_note();
    EpochStep es = {r, &tr, &f, x, y, ws, 0, tty, per_epoch, 0, 0, 0};
    BprtEpoch e = {0};
    e.split = &tr;
    e.batch = batch;
    e.epochs = epochs;
    e.seed = seed;
    e.order = perm;
    e.progress = tty;
    e.step = epoch_step;
    e.ctx = &es;
    for (int ep = (int)r->progress[0]; ep <= epochs && !o->eval_only; ep++) {
        es.epoch = e.epoch = ep;
        e.first = r->progress[1];
        es.skipped_here = 0;
        es.ckpt_s = 0;
        if (bprt_train_epoch(&e) != 0) {
            rc = 1;
            goto done;
        }
        const int64_t seen = e.seen, skipped_here = es.skipped_here;
        const double sum_loss = e.sum_loss, compute = e.compute - es.ckpt_s, wall = e.wall;
        int finished = r->progress[1] == per_epoch;
        if (finished) {
            r->progress[0] = ep + 1;
            r->progress[1] = 0;
        }
        double tl, ta, trl = drv_printable(seen ? sum_loss / (double)seen : (double)NAN);
        /* a Ctrl-C (or SIGTERM) skips the test set, or stops its evaluation: the prompt (or the
           checkpoint) comes after the current step, not after a pass over the test set */
        char test[96] = "", lrs[48] = ""; /* the test loss and accuracy; a schedule's rate at the epoch's last step */
        if (o->stop && *o->stop)
            snprintf(test, sizeof test, "test set not evaluated (interrupted)");
        else if (evaluate(m, &te, &f, r->params, batch, ws, x, y, outs, idx, dist_size() == 1 ? o->stop : NULL, &tl, &ta) < te.n)
            snprintf(test, sizeof test, "test set evaluation interrupted");
        else if (f.text)
            snprintf(test, sizeof test, "test loss %.4f nats/byte", drv_printable(tl));
        else if (isnan(ta))
            snprintf(test, sizeof test, "test loss %.4f", drv_printable(tl));
        else
            snprintf(test, sizeof test, "test loss %.4f, test accuracy %.2f%%", drv_printable(tl), 100 * ta);
        if (scheduled(r)) snprintf(lrs, sizeof lrs, ", lr %.4g", r->lr_now);
        char skips[80] = ""; /* the steps of this epoch that --on-nan skip skipped */
        if (skipped_here)
            snprintf(skips, sizeof skips, " [%lld step%s skipped for non-finite values]", (long long)skipped_here,
                     skipped_here == 1 ? "" : "s");
        printf("epoch %d%s: train loss %.4f, %s%s, %.2f s (%.2f s compute, %.0f %s/s)%s\n", ep, finished ? "" : " (partial)",
               trl, test, lrs, wall, compute, (double)(f.text ? seen * f.per : seen) / wall, f.text ? "bytes" : "samples",
               skips);
        fflush(stdout);
        if (o->stop && *o->stop) {
            char where[64];
            snprintf(where, sizeof where, "at epoch %d after %lld step%s", ep, (long long)r->progress[2],
                     r->progress[2] == 1 ? "" : "s");
            rc = stop_interrupted(r, where);
            break;
        }
        if (o->steps && r->progress[2] >= o->steps) break;
    }
    say_skipped(es.skipped);
    if (o->eval_only) {
        double tl, ta;
        int64_t done = evaluate(m, &te, &f, r->params, batch, ws, x, y, outs, idx, dist_size() == 1 ? o->stop : NULL, &tl, &ta);
        if (done < te.n) {
            printf("interrupted after %lld of the %lld test %s\n", (long long)done, (long long)te.n,
                   f.text ? "windows" : "samples");
            rc = o->params_io ? 0 : 130;
        } else if (f.text)
            printf("test loss %.4f nats/byte (%lld windows of %lld bytes)\n", drv_printable(tl), (long long)te.n, (long long)f.per);
        else if (isnan(ta))
            printf("test loss %.4f (%lld samples)\n", drv_printable(tl), (long long)te.n);
        else
            printf("test loss %.4f, test accuracy %.2f%% (%lld samples)\n", drv_printable(tl), 100 * ta, (long long)te.n);
    }
done:
    free_fixed(&f);
    free(ws);
    free(x);
    free(y);
    drv_free_outputs(m, outs);
    free(perm);
    free(idx);
    bprt_split_free(&tr);
    bprt_split_free(&te);
    return rc;
}

/* Fixed inputs (--inputs or defaults): `steps` optimizer steps on one batch. */
static int train_fixed(Run *r) {
    Model *m = r->m;
    const TrainOptions *o = r->o;
    void *params = r->params, *opt_state = r->opt_state;
    Inputs in = *o->fixed; /* borrowed: the REPL's, or loaded by train_run */
    void *ws = drv_model_workspace(m, in.dims, NULL);
    if (!ws) return 1;
    const void *const *inp = (const void *const *)in.data;
    int steps = o->steps ? o->steps : (o->epochs ? o->epochs : 1);
    int rc = 0;
    if (agree_start(r, NULL, NULL) != 0) {
        rc = 1;
        goto out;
    }
    if (o->eval_only) {
        printf("loss %.9g\n", drv_printable(m->loss_eval(params, inp, in.dims, ws))); /* at inference, as with --data */
        goto out;
    }
    /* progress: steps done in [2] (the step within an epoch stays 0: there are no epochs);
       checkpoints as with --data, and one of the parameters from before a step that is not
       finite (they were neither written nor counted here) */
    if (already_trained(r, steps, 0)) goto out;
    say_notes(o);
    /* a Ctrl-C (or SIGTERM) while the model compiled or the inputs loaded stops here, as
       with --data: one step ran first, and the message said "after step 1" */
    if (o->stop && *o->stop) {
        rc = stop_interrupted(r, before_any_step);
        goto out;
    }
    int64_t skipped = 0;
    const int first = (int)r->progress[2] + 1, nrun = steps - first + 1; /* steps are numbered from the start */
    r->sched_end = steps;
    for (int s = first; s <= steps; s++) {
        r->lr_now = scheduled_lr(r, r->progress[2], 0);
        const int say = s == steps || nrun <= 20 || (s - first + 1) % (nrun / 10) == 0;
        const char *why; /* the step changed nothing: why (worked out for a line that says it) */
        double loss = train_step_explained(m, params, opt_state, inp, in.dims, r->lr_now, ws, say || !o->on_nan_skip, &why);
        if (why && !o->on_nan_skip) {
            char where[32];
            snprintf(where, sizeof where, "step %d", s);
            stop_not_finite(r, where, why, loss, "");
            rc = 1;
            goto out;
        }
        skipped += why != NULL; /* a step done, as with --data (it was not counted: resumed, it ran again) */
        r->progress[2]++;
        if (o->checkpoint_every && r->progress[2] % o->checkpoint_every == 0 &&
            save_ckpt(m, o, params, opt_state, r->opt_bytes, r->progress) != 0) {
            rc = 1;
            goto out;
        }
        if (say) {
            char lrs[48] = "", skip[200] = "";
            if (scheduled(r)) snprintf(lrs, sizeof lrs, ", lr %.9g", r->lr_now);
            if (why) snprintf(skip, sizeof skip, ", skipped: %s", why);
            printf("step %d: loss %.9g%s%s\n", s, drv_printable(loss), lrs, skip);
        }
        if (o->stop && *o->stop) { /* as with --data: the checkpoint, named, and status 130 */
            char where[32];
            snprintf(where, sizeof where, "after step %d", s);
            rc = stop_interrupted(r, where);
            goto out;
        }
    }
    say_skipped(skipped);
    printf("final loss %.9g\n", drv_printable(m->loss(params, inp, in.dims, ws)));
out:
    free(ws);
    return rc;
}

static volatile int interrupted;
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

int train_set_optimizer(OptConfig *opt, const char *name) {
    OptKind k = strcmp(name, "sgd") == 0 ? OPT_SGD : strcmp(name, "adam") == 0 ? OPT_ADAM
                : strcmp(name, "adamw") == 0 ? OPT_ADAMW : OPT_NONE;
    if (k == OPT_NONE) return -1;
    if (k != opt->kind) {
        /* the program's written lr (0 included), else the new optimizer's default: sgd() was
           adam(lr = 0.01) under --opt adam, as sgd's default lr was taken for the program's */
        const double clip = opt->clip, lr = opt->lr;
        const int lr_given = opt->lr_given;
        memset(opt, 0, sizeof *opt);
        opt->kind = k;
        opt->clip = clip;
        opt->lr_given = lr_given;
        opt->lr = lr_given ? lr : (k == OPT_SGD ? 0.01 : 0.001);
        opt->beta1 = 0.9;
        opt->beta2 = 0.999;
        opt->eps = 1e-8;
        opt->weight_decay = k == OPT_ADAMW ? 0.01 : 0;
    }
    return 0;
}

int train_check_optimizer(const Graph *g, int lr_given, int f64) {
    const OptConfig trained = ir_opt_trained(&g->opt), *c = &trained;
    const int adam = c->kind == OPT_ADAM || c->kind == OPT_ADAMW;
    const char *opt = c->kind == OPT_SGD ? "sgd" : c->kind == OPT_ADAM ? "adam" : "adamw";
    const struct { const char *name; double v; int used; } args[] = {
        {"lr", c->lr, !lr_given},      {"momentum", c->momentum, !adam}, {"weight_decay", c->weight_decay, 1},
        {"beta1", c->beta1, adam},     {"beta2", c->beta2, adam},        {"eps", c->eps, adam}};
    for (size_t k = 0; k < sizeof args / sizeof args[0]; k++) {
        const char *why;
        if (!args[k].used || drv_real_fits(args[k].v, f64, &why) == 0) continue;
        if (c->loc.line) diag_error(g->diag, c->loc, "argument '%s' of '%s' %s, got %g", args[k].name, opt, why, args[k].v);
        else diag_tool_error("argument '%s' of '%s' %s, got %g", args[k].name, opt, why, args[k].v);
        return -1;
    }
    return 0;
}

/* With a TrainState, --steps N and --epochs N count from its position: N more steps, and
 * the epochs to the end of the N-th from the current one (a partial one counts); neither:
 * the rest of the current epoch (--data) or one step. -1 if the count does not fit an int. */
static int counts_from_state(TrainOptions *o) {
    const int64_t *pr = o->state->progress;
    int64_t steps, epochs = 0;
    if (o->data) {
        steps = o->steps ? pr[2] + o->steps : 0;
        epochs = o->epochs ? pr[0] - 1 + o->epochs : o->steps ? 0 : pr[0];
    } else
        steps = pr[2] + (o->steps ? o->steps : o->epochs ? o->epochs : 1);
    if (steps > INT_MAX || epochs > INT_MAX) return -1;
    o->steps = (int)steps;
    o->epochs = (int)epochs;
    return 0;
}

int train_state_keep(TrainState *t, const Model *m, const void *opt_state, char *err) {
    OptLayout l = drv_opt_layout(m);
    free(t->opt);
    t->opt = drv_alloc_reals((size_t)(1 + l.moments * l.n), sizeof(double), "optimizer's state kept as doubles", err);
    if (!t->opt) return -1;
    drv_opt_to_f64(l, opt_state, t->opt);
    t->kind = m->g->opt.kind;
    t->moments = l.moments;
    return 0;
}

int train_run(Graph *g, const TrainOptions *o_in) {
    TrainOptions opts = *o_in;
    const TrainOptions *o = &opts;
    struct sigaction sa, old_int, old_term, old_hup;
    int own_signals = !opts.stop, own_hup = 0;
    if (own_signals) {
        interrupted = 0;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        /* no SA_RESTART: a signal cuts short the open of a FIFO --data names; writes to
           stdout and stderr are taken up again (main.c) */
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        /* a closed terminal (or ssh session) stops the run as Ctrl-C does, with its checkpoint
           (it killed the run, and the steps since the last checkpoint were lost); under nohup,
           which ignores the hangup, the run goes on */
        own_hup = sigaction(SIGHUP, NULL, &old_hup) == 0 && old_hup.sa_handler != SIG_IGN;
        if (own_hup) sigaction(SIGHUP, &sa, NULL);
        opts.stop = &interrupted;
    }
    char err[BPRT_ERRLEN];
    /* (a program without a loss never gets here: bpc train/eval and the REPL refuse it) */
    if (o->opt && train_set_optimizer(&g->opt, o->opt) != 0) {
        diag_tool_error("--opt must be sgd, adam or adamw, not '%s'", o->opt);
        return 2;
    }
    if (o->state && !o->eval_only && counts_from_state(&opts) != 0) {
        diag_tool_error("more than %d steps or epochs in all", INT_MAX);
        return 1;
    }
    /* the files training will write (--save, and --checkpoint-every's checkpoints): tried
     * now, so that a path that cannot be written does not lose the training at its end, nor
     * one that must not be (drv_check_tensor_output: MODEL.ckpt.safetensors a file of other
     * data; bpc train and the REPL check --save before) a file the user has */
    if (!o->eval_only && dist_rank() == 0 && (o->save || o->checkpoint_every)) {
        char buf[4096];
        const char *path = ckpt_path(g, o, buf, sizeof buf);
        if (drv_check_tensor_output(path, err) != 0 || bprt_st_writable(path, err) != 0) {
            diag_tool_error("%s%s", o->save ? "--save " : "--checkpoint-every: ", err);
            return 1;
        }
    }
    g->opt = ir_opt_trained(&g->opt);
    if (!o->eval_only && train_check_optimizer(g, o->lr >= 0, o->f64) != 0) return 1;
    double lr = o->lr >= 0 ? o->lr : g->opt.lr;
    Model m;
    double t0 = now();
    if (bpc_model_jit(&m, g, o->f64, o->jit, err, sizeof err) != 0) {
        if (*o->stop) { /* a Ctrl-C killed cc (jit.c passes it on to bpc): an interruption */
            printf("interrupted %s\n", before_any_step);
            return o->params_io ? 0 : 130;
        }
        diag_tool_error("JIT compilation failed:\n%s", err);
        return 1;
    }
    double tjit = now() - t0;
    /* the data (load_data), or without --data the inputs, are loaded before the parameters are
       made: a missing input or data that does not fit is said at once, not after parameters of
       gigabytes are initialised */
    Inputs fixed;
    memset(&fixed, 0, sizeof fixed);
    Data data;
    memset(&data, 0, sizeof data);
    if (o->data && load_data(&m, o, &data) != 0) {
        bpc_model_free(&m);
        return 1;
    }
    if (!o->data && !o->fixed) {
        if (drv_load_inputs(&m, o->inputs, &fixed, err) != 0) {
            int ib, in, bs;
            int64_t T;
            char terr[BPRT_ERRLEN];
            /* a text program: the data it is made for is a text file (it named --inputs alone) */
            const char *hint = " (give inputs with --inputs FILE.safetensors)";
            const size_t n = strlen(err), h = strlen(hint);
            if (!o->inputs && n >= h && strcmp(err + n - h, hint) == 0 &&
                train_text_inputs(g, &ib, &in, &bs, &T, terr) == 0)
                snprintf(err + n - 1, BPRT_ERRLEN - (n - 1), ", or text with --data FILE.txt)");
            diag_tool_error("%s", err);
            bpc_model_free(&m);
            return 1;
        }
        opts.fixed = &fixed;
    }
    void *params = o->params_io ? o->params_io
                                : drv_alloc_reals((size_t)g->nparam_reals + 1, m.real_size, "parameters", err);
    size_t osz = m.opt_size();
    void *opt_state = params ? drv_alloc_reals(osz, 1, "optimizer's state", err) : NULL;
    if (!params || !opt_state) {
        diag_tool_error("%s", err);
        if (!o->params_io) free(params);
        drv_free_inputs(&fixed);
        free_data(&data);
        bpc_model_free(&m);
        return 1;
    }
    if (!o->params_io) m.init(params, o->seed);
    int rc = 0, narrowed = 0;
    if (o->params && drv_load_params_narrowing(&m, o->params, params, &narrowed, err) != 0) {
        diag_tool_error("%s", err);
        rc = 1;
    }
    /* a double checkpoint (--f64, the REPL's :save) goes on in float unless --f64 is given,
     * and what this run saves is float: said, not done silently */
    if (!rc && narrowed && !o->eval_only && dist_rank() == 0)
        diag_tool_note("%s holds double (F64) parameters; this run trains in float and saves float "
                       "(give --f64 to go on in double)",
                       o->params);
    Run run = {&m, o, params, opt_state, osz, lr, {1, 0, 0, (int64_t)o->seed}, 0, NULL, NULL, 0, NULL, lr, 0, 1};
    OptLayout layout = drv_opt_layout(&m);
    if (o->state && !o->eval_only) { /* the optimizer and the position go on */
        if (o->state->opt) {
            BP_ASSERT(o->state->moments == layout.moments);
            drv_opt_from_f64(layout, o->state->opt, opt_state);
        }
        memcpy(run.progress, o->state->progress, sizeof run.progress);
    }
    volatile int agreed_stop = 0;
    if (dist_size() > 1 && o->data) { /* data-parallel: stop only when all ranks agree to */
        run.grad = drv_alloc_reals((size_t)g->nparam_reals + 2, m.real_size, "gradients exchanged between ranks", err);
        if (!run.grad) {
            diag_tool_error("%s", err);
            rc = 1;
        }
        run.raw_stop = opts.stop;
        opts.stop = &agreed_stop;
        dist_watch(run.raw_stop);
    }
    if (!rc && o->params && !o->params_io && !o->eval_only) {
        int ex = drv_load_checkpoint_extras(&m, o->params, opt_state, run.progress, err);
        if (ex < 0 || ex >= 2) { /* 2: another optimizer's state, which --params does not resume; 3: one of
                                    a precision the file does not tell */
            diag_tool_error("%s", err);
            rc = 1;
        } else if (ex == 1 && o->data)
            printf("resuming from %s: epoch %lld, step %lld (%lld steps done)\n", o->params, (long long)run.progress[0],
                   (long long)run.progress[1] + 1, (long long)run.progress[2]);
        else if (ex == 1) /* fixed inputs have no epochs (it said "epoch 1, step 1" at any step) */
            printf("resuming from %s: step %lld (%lld steps done)\n", o->params, (long long)run.progress[2] + 1,
                   (long long)run.progress[2]);
        if (ex == 1 && o->seed_given && (uint64_t)run.progress[3] != o->seed && dist_rank() == 0) {
            if (o->data)
                diag_tool_warning("--seed %llu is not used: %s goes on with the seed it was trained with (%llu), so that "
                                  "the order of its data continues where it stopped", (unsigned long long)o->seed,
                                  o->params, (unsigned long long)run.progress[3]);
            else /* (a step's dropout masks are drawn from its number) */
                diag_tool_warning("--seed %llu is not used: the parameters come from %s, and on fixed inputs the seed "
                                  "draws only the initial parameters", (unsigned long long)o->seed, o->params);
        }
    }
    run.start_steps = run.progress[2];
    if (!rc) {
        if (getenv("BPC_VERBOSE")) fprintf(stderr, "JIT compiled in %.1f ms\n", 1e3 * tjit);
        rc = o->data ? train_data(&run, &data) : train_fixed(&run);
    } else
        free_data(&data);
    if (!rc && o->save && !o->eval_only && dist_rank() == 0) {
        if (save_or_rescue(&m, o->save, params, opt_state, osz, run.progress, err) != 0) {
            diag_tool_error("%s", err);
            rc = 1;
        } else
            printf("saved parameters to %s\n", o->save);
    } else if (!rc && o->checkpoint_every && !o->params_io && !o->eval_only && dist_rank() == 0 &&
               run.progress[2] % o->checkpoint_every != 0) { /* the steps since the last checkpoint were lost */
        char buf[4096];
        rc = save_ckpt(&m, o, params, opt_state, osz, run.progress) != 0;
        if (!rc) printf("checkpoint saved to %s\n", ckpt_path(g, o, buf, sizeof buf));
    }
    if (o->state && !o->eval_only && (o->state->opt || run.progress[2] > o->state->progress[2]) &&
        train_state_keep(o->state, &m, opt_state, err) != 0) {
        diag_tool_error("%s (the next training starts a fresh optimizer)", err);
        rc = 1;
    }
    if (o->state && !o->eval_only) memcpy(o->state->progress, run.progress, sizeof run.progress);
    if (own_signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (own_hup) sigaction(SIGHUP, &old_hup, NULL);
    }
    if (!o->params_io) free(params);
    free(opt_state);
    free(run.grad);
    drv_free_inputs(&fixed);
    dist_watch(NULL);
    bpc_model_free(&m);
    return rc;
}
