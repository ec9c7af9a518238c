/* main.c — bpc's generated API embedded in a plain C program.
 *
 * Trains examples/fashion_mlp.bp on Fashion-MNIST through fashion_mlp_train_step, then
 * classifies test images with fashion_mlp_forward. Everything is caller-owned memory; the
 * only library is libbprt (kernels, IDX reader). Build: see Makefile / CMakeLists.txt.
 * usage: embed [DATA_DIR] [EPOCHS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#include "fashion_mlp.h"

static const char *const classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

static int load(const char *dir, const char *name, BprtIdx *idx) {
    char path[1024], err[BPRT_ERRLEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (bprt_idx_read(path, idx, err) != 0) {
        fprintf(stderr, "embed: %s\n", err);
        return -1;
    }
    return 0;
}

/* Images n0..n0+b as reals in [0, 1], labels as int32. */
static void batch(const BprtIdx *img, const BprtIdx *lab, long n0, int b, real *x, int32_t *y) {
    for (int i = 0; i < b; i++) {
        for (int k = 0; k < 784; k++) x[i * 784 + k] = (real)img->data[(n0 + i) * 784 + k] / 255;
        y[i] = lab->data[n0 + i];
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    int epochs = argc > 2 ? atoi(argv[2]) : 1;
    BprtIdx tri, trl, tei, tel;
    if (load(dir, "train-images-idx3-ubyte.gz", &tri) || load(dir, "train-labels-idx1-ubyte.gz", &trl) ||
        load(dir, "t10k-images-idx3-ubyte.gz", &tei) || load(dir, "t10k-labels-idx1-ubyte.gz", &tel))
        return 1;
    enum { B = 64 };
    real *params = malloc(sizeof(real) * FASHION_MLP_NPARAMS);
    void *opt = calloc(1, fashion_mlp_opt_state_size()); /* zero-filled: a fresh optimizer */
    void *ws = malloc(fashion_mlp_workspace_size(B));
    real *x = malloc(sizeof(real) * B * 784), *logits = malloc(sizeof(real) * B * 10);
    int32_t *y = malloc(sizeof(int32_t) * B);
    if (!params || !opt || !ws || !x || !logits || !y) return 1;
    fashion_mlp_init(params, 42);
    long n = (long)tri.dims[0];
    for (int e = 0; e < epochs; e++) {
        double sum = 0;
        long steps = 0;
        for (long s = 0; s + B <= n; s += B, steps++) {
            batch(&tri, &trl, s, B, x, y);
            sum += fashion_mlp_train_step(params, opt, x, y, B, (real)1e-3, ws);
        }
        printf("epoch %d: mean training loss %.4f\n", e + 1, sum / (double)steps);
    }
    long correct = 0, total = 0;
    for (long s = 0; s + B <= (long)tei.dims[0]; s += B) {
        batch(&tei, &tel, s, B, x, y);
        fashion_mlp_forward(params, x, logits, B, ws);
        for (int i = 0; i < B; i++, total++) {
            int best = 0;
            for (int c = 1; c < 10; c++)
                if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
            correct += best == y[i];
            if (s == 0 && i < 5) printf("test image %d: predicted %-12s (truly %s)\n", i, classes[best], classes[y[i]]);
        }
    }
    printf("test accuracy %.2f%% on %ld images\n", 100.0 * (double)correct / (double)total, total);
    free(params);
    free(opt);
    free(ws);
    free(x);
    free(logits);
    free(y);
    bprt_idx_free(&tri);
    bprt_idx_free(&trl);
    bprt_idx_free(&tei);
    bprt_idx_free(&tel);
    return 0;
}
