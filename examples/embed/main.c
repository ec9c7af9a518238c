/* main.c — bpc's generated API embedded in a plain C program.
 *
 * Trains examples/fashion_mlp.bp on Fashion-MNIST through fashion_mlp_train_step, in the
 * epochs `bpc train --data` runs (libbprt's bprt_train_epoch: the samples in the order
 * drawn from the seed, batches of 64, the last one smaller), then classifies test images
 * with fashion_mlp_forward. Everything is caller-owned memory; the only library is libbprt
 * (kernels, IDX reader, the epoch loop). Build: see Makefile / CMakeLists.txt.
 * usage: embed [DATA_DIR] [EPOCHS] [SEED] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bprt.h"
#include "fashion_mlp.h"

static const char *const classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

enum { B = 64 };

/* What a step needs besides its batch, which bprt_train_epoch has filled in x and y. */
typedef struct Trainer {
    real *params, *x;
    int32_t *y;
    void *opt, *ws;
} Trainer;

static int step(void *ctx, int64_t k, const int64_t *rows, int n, double *loss) {
    Trainer *t = ctx;
    (void)k;
    (void)rows;
    *loss = fashion_mlp_train_step(t->params, t->opt, t->x, t->y, n, (real)1e-3, t->ws);
    return *loss == *loss ? BPRT_STEP_COUNT : BPRT_STEP_SKIPPED; /* NaN: the step changed nothing */
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    int epochs = argc > 2 ? atoi(argv[2]) : 1;
    unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 42;
    char err[BPRT_ERRLEN];
    BprtSplit tr, te;
    if (bprt_split_idx(dir, "train", &tr, err) != 0) {
        fprintf(stderr, "embed: %s\n", err);
        return 1;
    }
    if (bprt_split_idx(dir, "t10k", &te, err) != 0) {
        fprintf(stderr, "embed: %s\n", err);
        bprt_split_free(&tr);
        return 1;
    }
    if (tr.pixels != 784 || te.pixels != 784) {
        const BprtSplit *s = tr.pixels != 784 ? &tr : &te;
        fprintf(stderr, "embed: %s: images of %lld pixels, but fashion_mlp takes 784 (28x28)\n", s->ip,
                (long long)s->pixels);
        bprt_split_free(&tr);
        bprt_split_free(&te);
        return 1;
    }
    Trainer t;
    t.params = malloc(sizeof(real) * FASHION_MLP_NPARAMS);
    t.opt = calloc(1, fashion_mlp_opt_state_size()); /* zero-filled: a fresh optimizer */
    t.ws = malloc(fashion_mlp_workspace_size(B));
    t.x = malloc(sizeof(real) * B * 784);
    t.y = malloc(sizeof(int32_t) * B);
    real *logits = malloc(sizeof(real) * B * 10);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(tr.n > te.n ? tr.n : te.n));
    int rc = 1;
    if (!t.params || !t.opt || !t.ws || !t.x || !t.y || !logits || !order) {
        fprintf(stderr, "embed: out of memory\n");
        goto out;
    }
    fashion_mlp_init(t.params, seed);
    BprtEpoch e;
    memset(&e, 0, sizeof e);
    e.split = &tr;
    e.batch = B;
    e.epochs = epochs;
    e.seed = seed;
    e.order = order;
    e.x = t.x;
    e.y = t.y;
    e.f64 = sizeof(real) == sizeof(double);
    e.progress = isatty(2);
    e.step = step;
    e.ctx = &t;
    for (int ep = 1; ep <= epochs; ep++) {
        e.epoch = ep;
        if (bprt_train_epoch(&e) != 0) {
            fprintf(stderr, "embed: epoch %d did not run\n", ep);
            goto out;
        }
        printf("epoch %d: mean training loss %.4f (%lld steps, %.2f s)\n", ep,
               e.seen ? e.sum_loss / (double)e.seen : 0.0, (long long)e.next, e.wall);
    }
    long correct = 0;
    for (int64_t i = 0; i < te.n; i++) order[i] = i;
    for (int64_t s = 0; s < te.n; s += B) {
        int n = (int)(te.n - s < B ? te.n - s : B);
        bprt_split_batch(&te, order + s, n, e.f64, t.x, t.y);
        fashion_mlp_forward(t.params, t.x, logits, n, t.ws);
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < 10; c++)
                if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
            correct += best == t.y[i];
            if (s == 0 && i < 5) printf("test image %d: predicted %-12s (truly %s)\n", i, classes[best], classes[t.y[i]]);
        }
    }
    printf("test accuracy %.2f%% on %lld images\n", te.n ? 100.0 * (double)correct / (double)te.n : 0.0,
           (long long)te.n);
    rc = 0;
out:
    free(t.params);
    free(t.opt);
    free(t.ws);
    free(t.x);
    free(t.y);
    free(logits);
    free(order);
    bprt_split_free(&tr);
    bprt_split_free(&te);
    return rc;
}
