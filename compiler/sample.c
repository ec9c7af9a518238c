/* sample.c — see sample.h. */
#include "sample.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bprt.h"
#include "compile.h"
#include "driver.h"
#include "train.h"

/* The first output must be [B, T, V]: the batch dimension and T of the inputs, 2 <= V <= 256.
 * Returns V, or 0 with a message in err. */
static int64_t logits_width(const Graph *g, int bsym, int64_t T, char *err) {
    const Shape *s = g->noutputs ? &g->nodes[g->outputs[0]].shape : NULL;
    if (s && s->rank == 3 && s->d[0].sym == bsym && s->d[0].c == 1 && s->d[1].sym < 0 && s->d[1].c == T &&
        s->d[2].sym < 0 && s->d[2].c >= 2 && s->d[2].c <= 256)
        return s->d[2].c;
    char sh[160];
    snprintf(err, BPRT_ERRLEN, "program '%s' cannot be sampled: its first 'output' must be the logits, of shape "
             "[%s, %lld, V] with 2 <= V <= 256 (one score per byte value), but %s%s", g->model, g->syms.names[bsym],
             (long long)T, s ? "it is " : "it has no 'output'", s ? shape_str(s, &g->syms, sh, sizeof sh) : "");
    return 0;
}

/* The next byte from logits z[0..V): softmax(z / temperature) sampled with uniform u in
 * [0, 1); temperature 0: the first largest. -1 when the logits give no distribution, with
 * *bad the first that is NaN or +inf, or V when every one is -inf (torch.multinomial raises
 * there; NaN was never the largest, so parameters holding a NaN wrote byte 0 at every step). */
static int pick(const Model *m, const void *z, int64_t V, double temperature, double u, int64_t *bad) {
    int best = 0;
    for (int64_t k = 0; k < V; k++) {
        const double zk = drv_get(m, z, k);
        if (zk != zk || zk == HUGE_VAL) {
            *bad = k;
            return -1;
        }
        if (zk > drv_get(m, z, best)) best = (int)k;
    }
    if (drv_get(m, z, best) == -HUGE_VAL) {
        *bad = V;
        return -1;
    }
    if (temperature <= 0) return best;
    double top = drv_get(m, z, best), sum = 0, p[256];
    for (int64_t k = 0; k < V; k++) sum += p[k] = exp((drv_get(m, z, k) - top) / temperature);
    double target = u * sum;
    for (int64_t k = 0; k < V; k++) {
        target -= p[k];
        if (target < 0) return (int)k;
    }
    return best; /* rounding left target >= 0 */
}

int sample_run(FILE *out, Graph *g, const SampleOptions *o) {
    char err[BPRT_ERRLEN];
    int in_bytes, in_next, bsym;
    int64_t T, V;
    if (train_text_inputs(g, &in_bytes, &in_next, &bsym, &T, err) != 0 || !(V = logits_width(g, bsym, T, err))) {
        fprintf(stderr, "bpc: error: %s\n", err);
        return 1;
    }
    /* the bytes the model takes: its logits' width, or its embedding's rows if fewer */
    const char *what;
    const int64_t rows = drv_label_classes(g, in_bytes, &what), values = rows && rows < V ? rows : V;
    for (const unsigned char *p = (const unsigned char *)(o->prompt ? o->prompt : ""); *p; p++)
        if (*p >= values) { /* its row of the embedding would be NaN, and so would every logit */
            fprintf(stderr, "bpc: error: --prompt: byte %td is %d, outside the model's %lld byte values (0 to %lld)\n",
                    p - (const unsigned char *)o->prompt, *p, (long long)values, (long long)values - 1);
            return 1;
        }
    if (!(o->prompt && *o->prompt) && '\n' >= values) { /* its logits were NaN, said as parameters not finite */
        fprintf(stderr, "bpc: error: without --prompt, sampling starts from a newline (byte 10), outside the model's %lld "
                "byte values (0 to %lld): give a --prompt\n", (long long)values, (long long)values - 1);
        return 1;
    }
    Model m;
    if (bpc_model_jit(&m, g, o->f64, o->jit, err, sizeof err) != 0) {
        fprintf(stderr, "bpc: error: JIT compilation failed:\n%s\n", err);
        return 1;
    }
    void *params = drv_alloc_reals((size_t)g->nparam_reals + 1, m.real_size, "parameters", err);
    if (!params) {
        fprintf(stderr, "bpc: error: %s\n", err);
        bpc_model_free(&m);
        return 1;
    }
    if (drv_load_params(&m, o->params, params, err) != 0) {
        fprintf(stderr, "bpc: error: %s\n", err);
        free(params);
        bpc_model_free(&m);
        return 1;
    }
    int dims[BP_MAXSYMS] = {0};
    dims[bsym] = 1;
    /* the workspace, the window's ids and next bytes, every output (written by NAME_forward:
       the logits first, the others not read; they were NULL: a segfault) and the context:
       each an error naming it when it cannot be allocated */
    char named[300];
    void *ws = drv_model_workspace(&m, dims, NULL); /* its errors reported */
    snprintf(named, sizeof named, "window of %lld ids and next bytes", (long long)T);
    int32_t *ids = ws ? drv_alloc_reals((size_t)T, sizeof *ids, named, err) : NULL;
    int32_t *next = ids ? drv_alloc_reals((size_t)T, sizeof *next, named, err) : NULL;
    void **outs = next ? drv_alloc_outputs(&m, dims, err) : NULL;
    /* the context: its last T bytes are all the model sees, so that is all that is kept (it
       held the prompt and every byte, and -n 2000000000 aborted where that did not fit) */
    snprintf(named, sizeof named, "context of %lld bytes", (long long)T);
    unsigned char *ctx = outs ? drv_alloc_reals((size_t)T, 1, named, err) : NULL;
    if (!ctx) {
        if (ws) fprintf(stderr, "bpc: error: %s\n", err);
        drv_free_outputs(&m, outs);
        free(next);
        free(ids);
        free(ws);
        free(params);
        bpc_model_free(&m);
        return 1;
    }
    void *logits = outs[0];
    const char *prompt = o->prompt ? o->prompt : "";
    const size_t plen = strlen(prompt);
    size_t w = plen < (size_t)T ? plen : (size_t)T; /* bytes in ctx */
    if (plen) memcpy(ctx, prompt + plen - w, w);
    else ctx[w++] = '\n';
    int last = plen ? (unsigned char)prompt[plen - 1] : '\n'; /* the last byte written */
    fputs(prompt, out);
    const void *in[BP_MAX_RUN_INPUTS] = {0};
    int rc = 0, werr = 0; /* werr: errno of the write out failed at */
    in[in_bytes] = ids;
    in[in_next] = next;
    for (int i = 0; i < o->n; i++) {
        for (size_t t = 0; t < (size_t)T; t++) ids[t] = t < w ? ctx[t] : 0;
        m.forward(params, in, outs, dims, ws);
        const char *z = (const char *)logits + (w - 1) * (size_t)V * m.real_size;
        int64_t k;
        /* among the bytes the model reads: one past its embedding's rows (drawn from a 256-wide head
           over a 128-row table) made the next step's logits NaN, and the error blamed the parameters */
        int c = pick(&m, z, values, o->temperature, bprt_rng_uniform(o->seed, 0x5a3e0000ULL, (uint64_t)i), &k);
        if (c < 0) {
            if (last != '\n') fputc('\n', out);
            fflush(out);
            char v[40];
            if (k < values) drv_format_real(v, sizeof v, drv_get(&m, z, k), m.f64);
            if (k < values)
                fprintf(stderr, "bpc: error: byte %d: logit %lld is %s, so there is no distribution to sample from (are "
                        "the parameters in %s finite?)\n", i, (long long)k, v, o->params);
            else
                fprintf(stderr, "bpc: error: byte %d: every logit is -inf, so there is no distribution to sample from\n", i);
            rc = 1;
            break;
        }
        if (w == (size_t)T) memmove(ctx, ctx + 1, --w);
        ctx[w++] = (unsigned char)c;
        last = c;
        errno = 0; /* this byte's write error, not an earlier call's */
        fputc(c, out);
        fflush(out);
        if (ferror(out)) { /* a full disk, a pipe closed with SIGPIPE ignored: the caller reports it (it went on
                              for all -n bytes, up to 2000000000 forward passes, writing nothing) */
            werr = errno ? errno : EIO;
            break;
        }
    }
    if (!rc && last != '\n') fputc('\n', out);
    free(ctx);
    drv_free_outputs(&m, outs); /* logits too */
    free(ids);
    free(next);
    free(ws);
    free(params);
    bpc_model_free(&m);
    if (werr) errno = werr; /* for the caller's message, past the frees */
    return rc;
}
