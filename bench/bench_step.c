/* bench_step.c — samples/s of a model's fused training step through bpc's JIT paths.
 *
 * usage: bench_step FILE.bp [--jit tcc|cc] [--batches 1,16,64,256] [--threads N] [--seconds S]
 *                   [--images DIR] [--f64]
 * Prints one line per batch size: "bpc-<jit> B <batch> <ms/step> <samples/s>". Inputs are
 * random (labels in [0, classes)), parameters from the program's initialisers (seed 0).
 * With --images, a model of x (784 floats a sample) and y[B] is fed the first IMAGES_RING
 * images of DIR's Fashion-MNIST training set (pixels / 255) and their labels, each step the
 * next B of them, as training reads a dataset (not the same few images every step).
 * Each figure is the median of 5 timed repetitions of enough steps to fill S/5 seconds.
 * On stderr: the time from the .bp text to the end of the first training step (parse,
 * differentiate, optimise, emit, JIT, and that step at the first batch size). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compile.h"
#include "driver.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { IMAGES_RING = 4096 };

/* the first IMAGES_RING images of DIR's training set as floats / 255 and their labels */
static int read_images(const char *dir, float **x, int32_t **y) {
    char path[4096], err[BPRT_ERRLEN];
    BprtIdx im, lb;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    if (bprt_idx_read(path, &im, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    if (bprt_idx_read(path, &lb, err) != 0) {
        fprintf(stderr, "%s\n", err);
        bprt_idx_free(&im);
        return -1;
    }
    if (im.ndim != 3 || im.dims[1] * im.dims[2] != 784 || im.dims[0] < IMAGES_RING || lb.count < IMAGES_RING) {
        fprintf(stderr, "%s: not %d images of 28 x 28 with labels\n", dir, IMAGES_RING);
        bprt_idx_free(&im);
        bprt_idx_free(&lb);
        return -1;
    }
    *x = malloc(sizeof(float) * 784 * IMAGES_RING);
    *y = malloc(sizeof(int32_t) * IMAGES_RING);
    for (size_t k = 0; k < (size_t)784 * IMAGES_RING; k++) (*x)[k] = (float)im.data[k] / 255.0f;
    for (int k = 0; k < IMAGES_RING; k++) (*y)[k] = lb.data[k];
    bprt_idx_free(&im);
    bprt_idx_free(&lb);
    return 0;
}

/* with images: point in[] at the step's batch of the ring (x, then y) */
static void next_batch(void **in, const float *ix, const int32_t *iy, int batch, long *at) {
    if (!ix) return;
    if (*at + batch > IMAGES_RING) *at = 0;
    in[0] = (void *)(ix + (size_t)*at * 784);
    in[1] = (void *)(iy + *at);
    *at += batch;
}

/* elements of one sample of an input: its shape with the batch dimension's size 1 */
static size_t per_sample(const Input *ip) {
    size_t n = 1;
    for (int k = 0; k < ip->shape.rank; k++) n *= (size_t)ip->shape.d[k].c;
    return n;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    s[n] = 0;
    fclose(f);
    return s;
}

int main(int argc, char **argv) {
    const char *file = NULL, *jit = "tcc", *batches = "1,16,64,256", *images = NULL;
    double seconds = 2;
    int f64 = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--jit") == 0 && i + 1 < argc) jit = argv[++i];
        else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc) batches = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) bprt_set_threads(atoi(argv[++i]));
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--images") == 0 && i + 1 < argc) images = argv[++i];
        else if (strcmp(argv[i], "--f64") == 0) f64 = 1;
        else file = argv[i];
    }
    if (!file) {
        fprintf(stderr, "usage: bench_step FILE.bp [--jit tcc|cc] [--batches LIST] [--threads N] [--seconds S] [--f64]\n");
        return 2;
    }
    char *text = read_text(file);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", file);
        return 1;
    }
    Arena *a = arena_new();
    Diag d;
    diag_init(&d, stderr);
    const char *name = diag_add_source(&d, file, text);
    double t0 = now();
    Graph *g = bpc_compile(a, &d, name, text, NULL);
    if (!g) return 1;
    Model m;
    char err[4096];
    if (bpc_model_jit(&m, g, f64, strcmp(jit, "cc") == 0 ? JIT_CC : JIT_TCC, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double tcompile = now() - t0;
    fprintf(stderr, "# %s: compile + %s JIT %.1f ms, %d threads\n", file, jit, 1e3 * tcompile, bprt_threads());
    void *params = bprt_alloc((size_t)g->nparam_reals * m.real_size); /* as bpc train allocates */
    void *opt = bprt_alloc(m.opt_size());
    m.init(params, 0);
    float *ix = NULL;
    int32_t *iy = NULL;
    if (images) {
        if (g->ninputs != 2 || g->inputs[0].dtype == DT_INT || g->inputs[1].dtype != DT_INT || m.real_size != sizeof(float) ||
            per_sample(&g->inputs[0]) != 784 || per_sample(&g->inputs[1]) != 1) {
            fprintf(stderr, "%s: --images needs inputs x of 784 floats a sample (28 x 28 pixels) and y[B] (int)\n", file);
            return 1;
        }
        if (read_images(images, &ix, &iy) != 0) return 1;
    }
    long at = 0;
    char *list = strdup(batches);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int batch = atoi(tok);
        int dims[BP_MAXSYMS];
        for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = batch;
        void *in[64] = {0};
        for (int i = 0; i < g->ninputs; i++) {
            const Input *ip = &g->inputs[i];
            size_t n = 1;
            for (int k = 0; k < ip->shape.rank; k++) n *= (size_t)ip->shape.d[k].c * (ip->shape.d[k].sym >= 0 ? (size_t)batch : 1);
            in[i] = calloc(n, 8);
            for (size_t k = 0; k < n; k++) {
                if (ip->dtype == DT_INT) ((int32_t *)in[i])[k] = (int32_t)(bprt_rng_u64(1, 2, k) % 10);
                else drv_set(&m, in[i], (int64_t)k, bprt_rng_uniform(1, 3 + (uint64_t)i, k));
            }
        }
        void *own[64]; /* in[] may point into the images afterwards */
        memcpy(own, in, sizeof own);
        void *ws = bprt_alloc(m.ws_size(dims) + 64);
        if (tcompile >= 0) { /* .bp to the first training step: compile + JIT + that step */
            double s0 = now();
            m.train_step(params, opt, (const void *const *)in, dims, 1e-4, ws);
            double tstep = now() - s0;
            fprintf(stderr, "# %s: .bp to first training step %.1f ms (compile + %s JIT %.1f ms, first step at batch %d %.2f ms)\n",
                    file, 1e3 * (tcompile + tstep), jit, 1e3 * tcompile, batch, 1e3 * tstep);
            tcompile = -1;
        }
        /* calibrate */
        int steps = 1;
        for (;;) {
            double s0 = now();
            for (int k = 0; k < steps; k++) {
                next_batch(in, ix, iy, batch, &at);
                m.train_step(params, opt, (const void *const *)in, dims, 1e-4, ws);
            }
            if (now() - s0 > seconds / 25 || steps > (1 << 24)) break;
            steps *= 2;
        }
        steps *= 5;
        double t[5];
        for (int r = 0; r < 5; r++) {
            double s0 = now();
            for (int k = 0; k < steps; k++) {
                next_batch(in, ix, iy, batch, &at);
                m.train_step(params, opt, (const void *const *)in, dims, 1e-4, ws);
            }
            t[r] = (now() - s0) / steps;
        }
        qsort(t, 5, sizeof t[0], cmp);
        /* gradient overhead: (forward + backward) / forward, as NAME_grad / NAME_loss */
        void *grad = calloc((size_t)g->nparam_reals, m.real_size);
        double tl[5], tg[5];
        for (int r = 0; r < 5; r++) {
            double s0 = now();
            for (int k = 0; k < steps; k++) {
                next_batch(in, ix, iy, batch, &at);
                m.loss(params, (const void *const *)in, dims, ws);
            }
            tl[r] = (now() - s0) / steps;
            s0 = now();
            for (int k = 0; k < steps; k++) {
                next_batch(in, ix, iy, batch, &at);
                m.grad(params, grad, (const void *const *)in, dims, ws);
            }
            tg[r] = (now() - s0) / steps;
        }
        qsort(tl, 5, sizeof tl[0], cmp);
        qsort(tg, 5, sizeof tg[0], cmp);
        free(grad);
        printf("bpc-%s B %d %.4f ms %.0f samples/s (forward %.4f ms, forward+backward %.4f ms, ratio %.2f)\n", jit, batch,
               1e3 * t[2], batch / t[2], 1e3 * tl[2], 1e3 * tg[2], tg[2] / tl[2]);
        fflush(stdout);
        free(ws);
        for (int i = 0; i < g->ninputs; i++) free(own[i]);
    }
    free(list);
    free(ix);
    free(iy);
    free(params);
    free(opt);
    bpc_model_free(&m);
    diag_free(&d);
    arena_free(a);
    free(text);
    return 0;
}
