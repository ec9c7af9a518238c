/* data.c — data sets for training and the loop of an epoch over one: what `bpc train` runs,
 * and what a program that embeds generated code can run the same way.
 *
 * A split is the training or the test part of a data set:
 *   - IDX (the MNIST family): DIR/PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte,
 *     gzipped (.gz, tried first) or not; one sample is one image (its bytes scaled to
 *     [0, 1]) and its label;
 *   - text: the bytes of a file (gunzipped when it is gzip), cut into windows of T bytes;
 *     one sample is a window and the window one byte further on (the targets). The last
 *     10% of the file (rounded down) is the test split.
 * An epoch visits a split in an order drawn from the seed (bprt_epoch_order: the same on
 * every machine) in batches of a given size, the last one smaller when the size does not
 * divide the samples. bprt_train_epoch runs such an epoch: it draws the order, fills each
 * batch (or leaves that to the step), calls the step, adds up the loss of the steps that
 * count, and draws a progress bar on stderr.
 * Every message names the file. What it leaves out: data sets in other formats (a caller
 * fills its own batches and calls its step in its own loop). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bprt.h"

int bprt_split_idx(const char *dir, const char *prefix, BprtSplit *s, char err[BPRT_ERRLEN]) {
    memset(s, 0, sizeof *s);
    char *ip = s->ip, *lp = s->lp;
    for (int gz = 1; gz >= 0; gz--) {
        snprintf(ip, sizeof s->ip, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
        if (access(ip, R_OK) == 0) break;
    }
    for (int gz = 1; gz >= 0; gz--) {
        snprintf(lp, sizeof s->lp, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
        if (access(lp, R_OK) == 0) break;
    }
    if (bprt_idx_read(ip, &s->images, err) != 0) return -1;
    if (bprt_idx_read(lp, &s->labels, err) != 0) {
        bprt_idx_free(&s->images);
        return -1;
    }
    /* the counts are compared once each file has its shape (swapped files, or labels of
     * shape [N, 1], said "100 images but ... holds 100 labels") */
    const char *bad = s->images.ndim < 2 ? "images" : s->labels.ndim != 1 ? "labels" : NULL;
    if (bad) {
        const BprtIdx *x = bad[0] == 'i' ? &s->images : &s->labels;
        char dims[96] = "";
        for (int k = 0, n = 0; k < x->ndim && n < (int)sizeof dims; k++)
            n += snprintf(dims + n, sizeof dims - (size_t)n, "%s%lld", k ? " x " : "", (long long)x->dims[k]);
        const int swapped = s->images.ndim < 2 && s->labels.ndim >= 2;
        snprintf(err, BPRT_ERRLEN, "%.300s: dims %s, but %s%s", bad[0] == 'i' ? ip : lp, dims,
                 bad[0] == 'i' ? "images have 2 or more dimensions (count x rows x columns)" : "labels have 1 dimension (one label per image)",
                 swapped ? " (are the images and labels files swapped?)" : "");
        bprt_idx_free(&s->images);
        bprt_idx_free(&s->labels);
        return -1;
    }
    if (s->images.dims[0] != s->labels.dims[0]) {
        snprintf(err, BPRT_ERRLEN, "%.200s: %lld images but %.200s holds %lld labels", ip, (long long)s->images.dims[0], lp,
                 (long long)s->labels.dims[0]);
        bprt_idx_free(&s->images);
        bprt_idx_free(&s->labels);
        return -1;
    }
    s->n = s->images.dims[0];
    s->pixels = s->images.count / (s->n ? s->n : 1);
    return 0;
}

int bprt_split_same_pixels(const BprtSplit *tr, const BprtSplit *te, char err[BPRT_ERRLEN]) {
    int same = tr->images.ndim == te->images.ndim;
    for (int k = 1; same && k < tr->images.ndim; k++) same = tr->images.dims[k] == te->images.dims[k];
    if (same) return 0;
    char d[2][96];
    const BprtSplit *sp[2] = {te, tr};
    for (int i = 0; i < 2; i++) {
        d[i][0] = 0;
        for (int j = 1, n = 0; j < sp[i]->images.ndim && n < (int)sizeof d[i]; j++)
            n += snprintf(d[i] + n, sizeof d[i] - (size_t)n, "%s%lld", j > 1 ? "x" : "", (long long)sp[i]->images.dims[j]);
    }
    snprintf(err, BPRT_ERRLEN, "%.120s: images of %s pixels, but the training images (%.120s) are %s", te->ip, d[0],
             tr->ip, d[1]);
    return -1;
}

/* The bytes of path, gunzipped when it is gzip (zlib reads a plain file as it is; a
 * corpus.txt.gz was trained on as its compressed bytes): 0 or -1 (err set: among the
 * reasons, more than max bytes, which a plain file's size, st (the caller's stat of path, or
 * NULL), tells before anything is read). */
static int read_text(const char *path, const struct stat *st, size_t max, char **text, size_t *len, char *err) {
    *text = NULL;
    *len = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        snprintf(err, BPRT_ERRLEN, "cannot open %.300s: %s", path, errno ? strerror(errno) : "out of memory");
        return -1;
    }
    const int plain = gzdirect(gz);
    if (plain && st && S_ISREG(st->st_mode) && (uintmax_t)st->st_size > max) {
        snprintf(err, BPRT_ERRLEN, "%.300s: %ju bytes, more than the %zu bytes of text a data set may have", path,
                 (uintmax_t)st->st_size, max);
        gzclose(gz);
        return -1;
    }
    size_t cap = (size_t)1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    int rc = 0;
    for (;;) {
        char *grown = n == cap ? realloc(buf, 2 * cap + 1) : buf;
        if (!buf || !grown) { /* the text, as the file's size allows, beyond the address space */
            snprintf(err, BPRT_ERRLEN, "cannot hold the text of %.300s: allocating %zu bytes failed (out of memory)", path,
                     buf ? 2 * cap + 1 : cap + 1);
            rc = -1;
            break;
        }
        if (n == cap) cap *= 2;
        buf = grown;
        size_t want = cap - n < ((size_t)1 << 30) ? cap - n : (size_t)1 << 30;
        int r = gzread(gz, buf + n, (unsigned)want);
        int code;
        const char *msg = gzerror(gz, &code);
        if (r < 0 || (r == 0 && code != Z_OK && code != Z_STREAM_END)) { /* a directory; a cut or corrupt .gz */
            size_t k = strlen(path);
            if (msg && strncmp(msg, path, k) == 0 && msg[k] == ':' && msg[k + 1] == ' ') msg += k + 2;
            snprintf(err, BPRT_ERRLEN, "cannot read %.300s: %s", path, msg ? msg : "read error");
            rc = -1;
            break;
        }
        if (r == 0) break;
        if ((n += (size_t)r) > max) { /* a pipe without end, or a large text gzipped */
            if (!plain)
                snprintf(err, BPRT_ERRLEN, "%.300s: more than %zu bytes of text once decompressed", path, max);
            else
                snprintf(err, BPRT_ERRLEN, "%.300s: more than %zu bytes of text (a stream without end?)", path, max);
            rc = -1;
            break;
        }
    }
    gzclose(gz);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

int bprt_split_text(const char *path, int64_t T, int64_t classes, const char *what, BprtSplit *tr, BprtSplit *te,
                    char err[BPRT_ERRLEN]) {
    memset(tr, 0, sizeof *tr);
    memset(te, 0, sizeof *te);
    if (T < 1 || T > (int64_t)BPRT_TEXT_MAX_BYTES) {
        snprintf(err, BPRT_ERRLEN, "%.300s: windows of %lld bytes: T must be 1 to %zu", path, (long long)T,
                 (size_t)BPRT_TEXT_MAX_BYTES);
        return -1;
    }
    if (!what)
        what = "classes";
    struct stat st;
    const int known = stat(path, &st) == 0;
    if (known && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
        snprintf(err, BPRT_ERRLEN, "%.300s: is a device, not a text file", path);
        return -1;
    }
    char *text;
    size_t len;
    if (read_text(path, known ? &st : NULL, BPRT_TEXT_MAX_BYTES, &text, &len, err)) return -1;
    unsigned char *buf = (unsigned char *)text;
    int64_t ntest = (int64_t)len / 10, ntrain = (int64_t)len - ntest, bad = -1;
    for (size_t k = 0; classes && k < len && bad < 0; k++)
        if (buf[k] >= classes) bad = (int64_t)k;
    if (bad >= 0)
        snprintf(err, BPRT_ERRLEN, "%.300s: byte %lld is %d, outside the %lld %s (0 to %lld)", path, (long long)bad,
                 buf[bad], (long long)classes, what, (long long)classes - 1);
    else if (ntest < T + 1)
        snprintf(err, BPRT_ERRLEN, "%.300s: %lld bytes of text is too short: windows of T = %lld bytes need at least %lld "
                 "(T + 1 bytes for training and T + 1 in the held-out last 10%%)", path, (long long)len, (long long)T,
                 (long long)(10 * (T + 1)));
    if (bad >= 0 || ntest < T + 1) {
        free(buf);
        return -1;
    }
    tr->own = buf;
    tr->text = buf;
    tr->len = ntrain;
    tr->window = T;
    tr->n = ntrain / T;
    te->text = buf + ntrain;
    te->len = ntest;
    te->window = T;
    te->n = (ntest - 1) / T;
    return 0;
}

void bprt_split_free(BprtSplit *s) {
    bprt_idx_free(&s->images);
    bprt_idx_free(&s->labels);
    free(s->own);
    s->own = NULL;
}

void bprt_epoch_order(const BprtSplit *s, uint64_t seed, int epoch, int64_t *order) {
    if (s->text) {
        for (int64_t i = 0; i < s->n; i++)
            order[i] = (int64_t)(bprt_rng_u64(seed, 0x7e470000ULL + (uint64_t)epoch, (uint64_t)i) %
                                 (uint64_t)(s->len - s->window));
        return;
    }
    for (int64_t i = 0; i < s->n; i++) order[i] = i;
    for (int64_t i = s->n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)(bprt_rng_u64(seed, 0x5eed0000ULL + (uint64_t)epoch, (uint64_t)i) % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

void bprt_split_batch(const BprtSplit *s, const int64_t *rows, int n, int f64, void *x, int32_t *y) {
    if (s->text) { /* row b: bytes rows[b] .. rows[b] + T - 1 and the bytes one further */
        const int64_t T = s->window;
        for (int b = 0; b < n; b++)
            for (int64_t t = 0; t < T; t++) {
                ((int32_t *)x)[b * T + t] = s->text[rows[b] + t];
                y[b * T + t] = s->text[rows[b] + t + 1];
            }
        return;
    }
    /* a byte v becomes v / 255 correctly rounded, as torchvision's ToTensor divides (times
       the rounded 1/255, 126 of the 256 floats and 24 of the doubles were an ulp off) */
    const int64_t per = s->pixels;
    for (int b = 0; b < n; b++) {
        const unsigned char *src = s->images.data + rows[b] * per;
        if (f64)
            for (int64_t k = 0; k < per; k++) ((double *)x)[b * per + k] = src[k] / 255.0;
        else
            for (int64_t k = 0; k < per; k++) ((float *)x)[b * per + k] = (float)src[k] / 255.0f;
        y[b] = s->labels.data[rows[b]];
    }
}

void bprt_progress(int epoch, int epochs, int64_t step, int64_t steps, double loss, double rate, double eta) {
    int width = 24, filled = steps ? (int)(width * step / steps) : width;
    fprintf(stderr, "\r  epoch %d/%d [", epoch, epochs);
    for (int i = 0; i < width; i++) fputc(i < filled ? '=' : (i == filled ? '>' : ' '), stderr);
    fprintf(stderr, "] %lld/%lld loss %.4f %.0f samples/s ETA %.1fs   ", (long long)step, (long long)steps,
            isnan(loss) ? fabs(loss) : loss, rate, eta); /* "nan", not "-nan" */
    fflush(stderr);
}

int64_t bprt_epoch_steps(const BprtSplit *s, int batch) { return batch > 0 ? (s->n + batch - 1) / batch : 0; }

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int bprt_train_epoch(BprtEpoch *e) {
    e->next = e->first;
    e->seen = 0;
    e->sum_loss = e->compute = e->wall = 0;
    if (!e->split || e->batch < 1 || !e->order || !e->step || (e->x && !e->y) || e->first < 0)
        return -1; /* (nothing to run, or nowhere to put it) */
    const BprtSplit *s = e->split;
    const int64_t batch = e->batch, steps = bprt_epoch_steps(s, e->batch);
    bprt_epoch_order(s, e->seed, e->epoch, e->order);
    const double t0 = seconds();
    int rc = BPRT_STEP_COUNT;
    for (int64_t k = e->first; k < steps && rc != BPRT_STEP_STOP; k++) {
        const int n = (int)(s->n - k * batch < batch ? s->n - k * batch : batch);
        const int64_t *rows = e->order + k * batch;
        const double tc = seconds();
        if (e->x) bprt_split_batch(s, rows, n, e->f64, e->x, e->y);
        double loss = 0;
        rc = e->step(e->ctx, k, rows, n, &loss);
        e->compute += seconds() - tc;
        if (rc < 0) { /* BPRT_STEP_FAIL: the step's message stands below the bar */
            e->wall = seconds() - t0;
            return -1;
        }
        if (!(rc & BPRT_STEP_SKIPPED)) {
            e->sum_loss += loss * n;
            e->seen += n;
        }
        e->next = k + 1;
        if (e->progress && (k % 20 == 0 || k + 1 == steps)) {
            double el = seconds() - t0;
            bprt_progress(e->epoch, e->epochs, k + 1, steps, e->seen ? e->sum_loss / (double)e->seen : 0,
                          (double)(e->seen ? e->seen : 1) / el, el / (double)(k + 1) * (double)(steps - k - 1));
        }
        rc &= BPRT_STEP_STOP;
    }
    e->wall = seconds() - t0;
    if (e->progress) fprintf(stderr, "\r%*s\r", 110, "");
    return 0;
}
