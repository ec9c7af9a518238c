/* openblas_step.c — the hand-written baseline of issue 8: one training step (forward +
 * backward + update) of an MLP with ReLU and mean softmax cross-entropy, in plain C around
 * OpenBLAS's cblas_sgemm, written the way a careful engineer would, with nothing from bpc.
 *
 * Models: "mlp" 784-256-10 (examples/fashion_mlp.bp), "mlp3" 784-512-256-10
 * (examples/fashion_mlp3.bp); optimizers SGD (no momentum) and Adam (PyTorch's: b1 0.9,
 * b2 0.999, eps 1e-8, bias-corrected). Row-major throughout, as the .bp files: layer l
 * computes A[l+1] = act(A[l] @ W[l] + b[l]), W[l] is [in, out].
 *
 * Per layer, B rows, shapes [rows, cols]:
 *   forward   A1[B,out] = A0[B,in] @ W[in,out]          sgemm NN, beta 0
 *             A1 = relu(A1 + b)                         one pass (no relu on the logits)
 *   loss      G[B,10] = (softmax(Z) - onehot(y)) / B    one pass per row, with the loss
 *   backward  dA0[B,in] = G @ Wᵀ                        sgemm NT, before W changes
 *             dA0 *= (A0 > 0)                           one pass (not for the data)
 *   SGD       W -= lr A0ᵀ @ G                           sgemm TN, alpha -lr, beta 1: the
 *                                                       update is fused into the GEMM
 *             b -= lr colsum(G)                         one pass
 *   Adam      dW = A0ᵀ @ G, db = colsum(G), then one pass over W (and b) updating m, v, W
 * Elementwise passes run on the same threads as OpenBLAS (OpenMP) when they are large.
 *
 * usage: openblas_step [--model mlp|mlp3] [--opt sgd|adam] [--batches 1,16,64,256]
 *                      [--threads N] [--seconds S]
 *   prints "openblas B <batch> <ms/step> ms <samples/s> samples/s" per batch size, each the
 *   median of 5 timed repetitions (threads: --threads, else OPENBLAS_NUM_THREADS, else 1);
 * openblas_step --check DIR [--model M] [--opt O] [--lr X] [--steps K] [--batch B]
 *   writes DIR/params.safetensors (initial parameters) and DIR/inputs.safetensors (x, y),
 *   runs K steps on that batch and prints "step s: loss L" and "final loss L" as
 *   `bpc train --params DIR/params.safetensors --inputs DIR/inputs.safetensors` does, so
 *   bench/run.sh can check that both compute the same training step. */
#define _DEFAULT_SOURCE /* strdup, clock_gettime, madvise */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <xmmintrin.h>

void openblas_set_num_threads(int num_threads); /* OpenBLAS's own, also in its cblas.h */

enum { MAXL = 3 };

typedef struct Net {
    int nlayers;         /* number of dense layers */
    int n[MAXL + 1];     /* widths: n[0] = 784 inputs ... n[nlayers] = 10 classes */
    int adam;            /* optimizer: 0 SGD, 1 Adam */
    int threads;         /* for the elementwise passes (OpenBLAS has its own setting) */
    size_t nparams;      /* floats in params (and in grad, m, v) */
    float *params;       /* all parameters, one buffer: W0 b0 W1 b1 ... */
    float *W[MAXL];      /* W[l] [n[l], n[l+1]], into params */
    float *b[MAXL];      /* b[l] [n[l+1]], into params */
    float *grad, *m, *v; /* Adam: gradient and moments, laid out as params */
    long t;              /* Adam: steps taken */
    int batch;           /* rows the workspace is sized for */
    float *A[MAXL + 1];  /* A[l] [batch, n[l]] activations; A[0] is the caller's x */
    float *G[2];         /* [batch, max n] gradients w.r.t. activations, ping-pong */
} Net;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Zeroed, 64-byte aligned; big arrays on huge pages, as bpc's runtime allocates its own
 * (bprt_alloc): on this VM 4 KiB pages cost both first-touch faults and TLB misses. */
static void *xalloc(size_t bytes) {
    const size_t huge = 2u << 20;
    size_t r = bytes >= huge / 2 ? (bytes + huge - 1) & ~(huge - 1) : (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(bytes >= huge / 2 ? huge : 64, r);
    if (!p) abort();
    if (bytes >= huge / 2) madvise(p, r, MADV_HUGEPAGE);
    memset(p, 0, r);
    return p;
}

/* splitmix64: the baseline's own random numbers, uniform in [0, 1) */
static double uniform(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

/* Hidden layers He-uniform, the last Xavier-uniform, biases zero (the .bp files' choice of
 * initialisers; the exact values only matter for --check, which hands them to bpc). */
static void net_init(Net *net, const int *widths, int nlayers, int adam, int threads, uint64_t seed) {
    memset(net, 0, sizeof *net);
    net->nlayers = nlayers;
    net->adam = adam;
    net->threads = threads;
    for (int l = 0; l <= nlayers; l++) net->n[l] = widths[l];
    for (int l = 0; l < nlayers; l++) net->nparams += (size_t)widths[l] * widths[l + 1] + widths[l + 1];
    net->params = xalloc(net->nparams * sizeof(float));
    if (adam) {
        net->grad = xalloc(net->nparams * sizeof(float));
        net->m = xalloc(net->nparams * sizeof(float));
        net->v = xalloc(net->nparams * sizeof(float));
    }
    float *p = net->params;
    for (int l = 0; l < nlayers; l++) {
        int in = widths[l], out = widths[l + 1];
        net->W[l] = p;
        p += (size_t)in * out;
        net->b[l] = p;
        p += out;
        double bound = l + 1 < nlayers ? sqrt(6.0 / in) : sqrt(6.0 / (in + out));
        for (size_t i = 0; i < (size_t)in * out; i++) net->W[l][i] = (float)((2 * uniform(&seed) - 1) * bound);
    }
}

static void net_workspace(Net *net, int batch) {
    for (int l = 1; l <= net->nlayers; l++) {
        free(net->A[l]);
        net->A[l] = xalloc((size_t)batch * net->n[l] * sizeof(float));
    }
    int widest = 0;
    for (int l = 0; l <= net->nlayers; l++) widest = net->n[l] > widest ? net->n[l] : widest;
    for (int k = 0; k < 2; k++) {
        free(net->G[k]);
        net->G[k] = xalloc((size_t)batch * widest * sizeof(float));
    }
    net->batch = batch;
}

static void net_free(Net *net) {
    free(net->params);
    free(net->grad);
    free(net->m);
    free(net->v);
    for (int l = 1; l <= net->nlayers; l++) free(net->A[l]);
    free(net->G[0]);
    free(net->G[1]);
}

/* Z[B,N] = relu(Z + b) (relu = 1) or Z + b, one pass over the GEMM output. */
static void bias_act(float *restrict Z, const float *restrict b, int B, int N, int relu, int threads) {
#pragma omp parallel for num_threads(threads) if ((long)B * N >= 65536) schedule(static)
    for (int i = 0; i < B; i++) {
        float *restrict z = Z + (size_t)i * N;
        if (relu)
            for (int j = 0; j < N; j++) z[j] = fmaxf(z[j] + b[j], 0.0f);
        else
            for (int j = 0; j < N; j++) z[j] += b[j];
    }
}

/* Mean softmax cross-entropy of logits Z[B,N] against labels y, and its gradient
 * G = (softmax(Z) - onehot(y)) / B, row by row (N is small: the row stays in L1). */
static double softmax_xent(const float *restrict Z, const int32_t *restrict y, int B, int N, float *restrict G) {
    double loss = 0;
    const float inv_b = 1.0f / (float)B;
    for (int i = 0; i < B; i++) {
        const float *z = Z + (size_t)i * N;
        float *g = G + (size_t)i * N;
        float mx = z[0];
        for (int j = 1; j < N; j++) mx = fmaxf(mx, z[j]);
        float s = 0;
        for (int j = 0; j < N; j++) {
            g[j] = expf(z[j] - mx);
            s += g[j];
        }
        loss += (double)(logf(s) + mx - z[y[i]]);
        const float r = inv_b / s;
        for (int j = 0; j < N; j++) g[j] *= r;
        g[y[i]] -= inv_b;
    }
    return loss / B;
}

/* dA[B,N] *= (A > 0): the ReLU's derivative, where A is the ReLU's output. */
static void relu_back(float *restrict dA, const float *restrict A, size_t n, int threads) {
#pragma omp parallel for num_threads(threads) if (n >= 65536) schedule(static)
    for (size_t i = 0; i < n; i++) dA[i] = A[i] > 0 ? dA[i] : 0.0f;
}

/* db[N] = alpha colsum(G[B,N]) + beta db: the bias gradient (alpha -lr, beta 1: SGD's update). */
static void colsum(float *restrict db, const float *restrict G, int B, int N, float alpha, float beta) {
    float acc[1024];
    memset(acc, 0, sizeof(float) * (size_t)N);
    for (int i = 0; i < B; i++) {
        const float *g = G + (size_t)i * N;
        for (int j = 0; j < N; j++) acc[j] += g[j];
    }
    for (int j = 0; j < N; j++) db[j] = alpha * acc[j] + beta * db[j];
}

/* PyTorch's Adam over n floats: m, v moments, bias corrections of step t. Where gradients
 * are zero (ReLU, small batches) the moments decay geometrically into subnormals, ~100x
 * slower per operation on x86, so the loop runs with flush-to-zero, as bpc's runtime does. */
static void adam_update(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                        float lr, long t, int threads) {
    const double b1 = 0.9, b2 = 0.999;
    const float step_size = (float)((double)lr / (1 - pow(b1, (double)t)));
    const float inv_sqrt_bc2 = (float)(1 / sqrt(1 - pow(b2, (double)t)));
    const float eps = 1e-8f, c1 = 0.1f, c2 = 0.001f;
#pragma omp parallel num_threads(threads) if (n >= 65536)
    {
        const unsigned csr = _mm_getcsr();
        _mm_setcsr(csr | 0x8040u); /* FTZ | DAZ: the moments decay into subnormals */
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++) {
            m[i] = 0.9f * m[i] + c1 * g[i];
            v[i] = 0.999f * v[i] + c2 * g[i] * g[i];
            p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
        }
        _mm_setcsr(csr);
    }
}

/* The loss at the current parameters (forward only); x [B, n0], y [B]. */
static double net_loss(Net *net, const float *x, const int32_t *y, int B) {
    const int L = net->nlayers;
    const int *n = net->n;
    net->A[0] = (float *)x;
    for (int l = 0; l < L; l++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, n[l + 1], n[l], 1.0f, net->A[l], n[l], net->W[l],
                    n[l + 1], 0.0f, net->A[l + 1], n[l + 1]);
        bias_act(net->A[l + 1], net->b[l], B, n[l + 1], l + 1 < L, net->threads);
    }
    return softmax_xent(net->A[L], y, B, n[L], net->G[0]);
}

/* One training step on x [B, n0], y [B]; returns the loss before the update. */
static double net_step(Net *net, const float *x, const int32_t *y, int B, float lr) {
    const int L = net->nlayers;
    const int *n = net->n;
    double loss = net_loss(net, x, y, B); /* leaves dZ of the logits in G[0] */
    if (net->adam) net->t++;
    int cur = 0;
    for (int l = L - 1; l >= 0; l--) {
        const float *G = net->G[cur];  /* [B, n[l+1]] gradient w.r.t. layer l's output */
        float *dA = net->G[cur ^ 1];   /* [B, n[l]] gradient w.r.t. its input */
        if (l > 0) {                   /* W[l] still holds the forward's values here */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n[l], n[l + 1], 1.0f, G, n[l + 1], net->W[l],
                        n[l + 1], 0.0f, dA, n[l]);
            relu_back(dA, net->A[l], (size_t)B * n[l], net->threads);
        }
        if (!net->adam) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n[l], n[l + 1], B, -lr, net->A[l], n[l], G,
                        n[l + 1], 1.0f, net->W[l], n[l + 1]);
            colsum(net->b[l], G, B, n[l + 1], -lr, 1.0f);
        } else {
            size_t off = (size_t)(net->W[l] - net->params), nw = (size_t)n[l] * n[l + 1];
            float *dW = net->grad + off, *db = dW + nw;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n[l], n[l + 1], B, 1.0f, net->A[l], n[l], G,
                        n[l + 1], 0.0f, dW, n[l + 1]);
            colsum(db, G, B, n[l + 1], 1.0f, 0.0f);
            adam_update(net->W[l], dW, net->m + off, net->v + off, nw + (size_t)n[l + 1], lr, net->t, net->threads);
        }
        cur ^= 1;
    }
    return loss;
}

/* ---- safetensors writer (F32 and I32 tensors), for --check --------------------------- */
typedef struct Tensor {
    const char *name;
    const char *dtype; /* "F32" or "I32" */
    int rank;
    long shape[2];
    const void *data;
} Tensor;

static int st_write(const char *path, const Tensor *t, int count) {
    char hdr[4096];
    size_t len = 0, off = 0;
    len += (size_t)snprintf(hdr + len, sizeof hdr - len, "{");
    for (int i = 0; i < count; i++) {
        size_t bytes = 4;
        for (int k = 0; k < t[i].rank; k++) bytes *= (size_t)t[i].shape[k];
        len += (size_t)snprintf(hdr + len, sizeof hdr - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                                t[i].name, t[i].dtype);
        for (int k = 0; k < t[i].rank; k++)
            len += (size_t)snprintf(hdr + len, sizeof hdr - len, "%s%ld", k ? "," : "", t[i].shape[k]);
        len += (size_t)snprintf(hdr + len, sizeof hdr - len, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    len += (size_t)snprintf(hdr + len, sizeof hdr - len, "}");
    while (len % 8) hdr[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t n = len;
    unsigned char le[8];
    for (int k = 0; k < 8; k++) le[k] = (unsigned char)(n >> (8 * k));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(hdr, 1, len, f) == len;
    for (int i = 0; i < count; i++) {
        size_t bytes = 4;
        for (int k = 0; k < t[i].rank; k++) bytes *= (size_t)t[i].shape[k];
        ok = ok && fwrite(t[i].data, 1, bytes, f) == bytes;
    }
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- driver ----------------------------------------------------------------------------- */
static void make_batch(float *x, int32_t *y, int B, int n0, int classes, uint64_t seed) {
    for (size_t i = 0; i < (size_t)B * n0; i++) x[i] = (float)uniform(&seed);
    for (int i = 0; i < B; i++) y[i] = (int32_t)(uniform(&seed) * classes);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int check(Net *net, const char *dir, int B, int steps, float lr) {
    const int L = net->nlayers;
    float *x = xalloc((size_t)B * net->n[0] * sizeof(float));
    int32_t *y = xalloc((size_t)B * sizeof(int32_t));
    make_batch(x, y, B, net->n[0], net->n[L], 7);
    static const char *const wname[MAXL] = {"W1", "W2", "W3"}, *const bname[MAXL] = {"b1", "b2", "b3"};
    Tensor p[2 * MAXL];
    for (int l = 0; l < L; l++) {
        p[2 * l] = (Tensor){wname[l], "F32", 2, {net->n[l], net->n[l + 1]}, net->W[l]};
        p[2 * l + 1] = (Tensor){bname[l], "F32", 1, {net->n[l + 1], 0}, net->b[l]};
    }
    Tensor in[2] = {{"x", "F32", 2, {B, net->n[0]}, x}, {"y", "I32", 1, {B, 0}, y}};
    char path[4096];
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    int rc = st_write(path, p, 2 * L);
    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    rc |= st_write(path, in, 2);
    if (rc != 0) {
        fprintf(stderr, "openblas_step: cannot write the safetensors files in %s\n", dir);
        return 1;
    }
    net_workspace(net, B);
    for (int s = 1; s <= steps; s++) printf("step %d: loss %.9g\n", s, net_step(net, x, y, B, lr));
    printf("final loss %.9g\n", net_loss(net, x, y, B));
    free(x);
    free(y);
    return 0;
}

int main(int argc, char **argv) {
    const char *model = "mlp", *opt = "sgd", *batches = "1,16,64,256", *check_dir = NULL;
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    int threads = env && atoi(env) > 0 ? atoi(env) : 1, steps = 3, check_batch = 64;
    double seconds = 2, lr = 1e-4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "openblas_step: '%s' needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--opt") == 0) opt = v;
        else if (strcmp(a, "--batches") == 0) batches = v;
        else if (strcmp(a, "--threads") == 0) threads = atoi(v);
        else if (strcmp(a, "--seconds") == 0) seconds = atof(v);
        else if (strcmp(a, "--check") == 0) check_dir = v;
        else if (strcmp(a, "--lr") == 0) lr = atof(v);
        else if (strcmp(a, "--steps") == 0) steps = atoi(v);
        else if (strcmp(a, "--batch") == 0) check_batch = atoi(v);
        else {
            fprintf(stderr, "openblas_step: unknown option '%s'\n", a);
            return 2;
        }
        i++;
    }
    static const int mlp[] = {784, 256, 10}, mlp3[] = {784, 512, 256, 10};
    int is3 = strcmp(model, "mlp3") == 0 || strcmp(model, "fashion_mlp3") == 0;
    if (!is3 && strcmp(model, "mlp") != 0 && strcmp(model, "fashion_mlp") != 0) {
        fprintf(stderr, "openblas_step: unknown model '%s' (mlp or mlp3)\n", model);
        return 2;
    }
    if (threads < 1) threads = 1;
    openblas_set_num_threads(threads);
    Net net;
    net_init(&net, is3 ? mlp3 : mlp, is3 ? 3 : 2, strcmp(opt, "adam") == 0, threads, 1);
    if (check_dir) {
        int rc = check(&net, check_dir, check_batch, steps, (float)lr);
        net_free(&net);
        return rc;
    }
    fprintf(stderr, "# openblas_step %s %s: %s, %d threads\n", model, opt, openblas_get_config(), threads);
    char *list = strdup(batches);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int B = atoi(tok);
        float *x = xalloc((size_t)B * net.n[0] * sizeof(float));
        int32_t *y = xalloc((size_t)B * sizeof(int32_t));
        make_batch(x, y, B, net.n[0], net.n[net.nlayers], 3);
        net_workspace(&net, B);
        long reps = 1;
        for (;;) { /* calibrate: reps that fill seconds/25 */
            double t0 = now();
            for (long k = 0; k < reps; k++) net_step(&net, x, y, B, (float)lr);
            if (now() - t0 > seconds / 25 || reps > (1L << 24)) break;
            reps *= 2;
        }
        reps *= 5;
        double t[5];
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            for (long k = 0; k < reps; k++) net_step(&net, x, y, B, (float)lr);
            t[r] = (now() - t0) / (double)reps;
        }
        qsort(t, 5, sizeof t[0], cmp);
        printf("openblas B %d %.4f ms %.0f samples/s\n", B, 1e3 * t[2], B / t[2]);
        fflush(stdout);
        free(x);
        free(y);
    }
    free(list);
    net_free(&net);
    return 0;
}
