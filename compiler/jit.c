/* jit.c — see jit.h. */

#include "jit.h"

#include <dlfcn.h>
#include <libtcc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bprt.h"

struct Jit {
    JitKind kind;
    TCCState *tcc;
    void *mem;
    void *dl;
};

typedef struct ErrBuf {
    char *buf;
    size_t len, cap;
} ErrBuf;

static void tcc_err(void *opaque, const char *msg) {
    ErrBuf *e = opaque;
    if (!e->buf || e->len + 2 >= e->cap) return;
    int n = snprintf(e->buf + e->len, e->cap - e->len, "%s%s", e->len ? "\n" : "", msg);
    if (n > 0) e->len += (size_t)n < e->cap - e->len ? (size_t)n : e->cap - e->len - 1;
}

/* The runtime functions generated code may call. */
static const struct {
    const char *name;
    void *addr;
} runtime_syms[] = {
    {"bprt_sgemm", (void *)bprt_sgemm},
    {"bprt_dgemm", (void *)bprt_dgemm},
    {"bprt_fill_normal_f32", (void *)bprt_fill_normal_f32},
    {"bprt_fill_normal_f64", (void *)bprt_fill_normal_f64},
    {"bprt_fill_uniform_f32", (void *)bprt_fill_uniform_f32},
    {"bprt_fill_uniform_f64", (void *)bprt_fill_uniform_f64},
    {"bprt_sumsq_f32", (void *)bprt_sumsq_f32},
    {"bprt_sumsq_f64", (void *)bprt_sumsq_f64},
    {"bprt_maxabs_f32", (void *)bprt_maxabs_f32},
    {"bprt_gemm_sgd_f32", (void *)bprt_gemm_sgd_f32},
    {"bprt_gemm_sgd_f64", (void *)bprt_gemm_sgd_f64},
    {"bprt_gemm_adam_f32", (void *)bprt_gemm_adam_f32},
    {"bprt_gemm_adam_f64", (void *)bprt_gemm_adam_f64},
    {"bprt_maxabs_f64", (void *)bprt_maxabs_f64},
    {"bprt_sgd_f32", (void *)bprt_sgd_f32},
    {"bprt_sgd_f64", (void *)bprt_sgd_f64},
    {"bprt_adam_f32", (void *)bprt_adam_f32},
    {"bprt_adam_f64", (void *)bprt_adam_f64},
    {"bprt_sum_axis_f32", (void *)bprt_sum_axis_f32},
    {"bprt_sgemm_batch", (void *)bprt_sgemm_batch},
    {"bprt_sgemm_batch_tri", (void *)bprt_sgemm_batch_tri},
    {"bprt_dgemm_batch", (void *)bprt_dgemm_batch},
    {"bprt_dgemm_batch_tri", (void *)bprt_dgemm_batch_tri},
    {"bprt_sgemm_batch_softmax", (void *)bprt_sgemm_batch_softmax},
    {"bprt_dgemm_batch_softmax", (void *)bprt_dgemm_batch_softmax},
    {"bprt_sgemm_batch_softmax_grad", (void *)bprt_sgemm_batch_softmax_grad},
    {"bprt_dgemm_batch_softmax_grad", (void *)bprt_dgemm_batch_softmax_grad},
    {"bprt_exp_f32", (void *)bprt_exp_f32},
    {"bprt_exp_f64", (void *)bprt_exp_f64},
    {"bprt_erf_f32", (void *)bprt_erf_f32},
    {"bprt_erf_f64", (void *)bprt_erf_f64},
    {"bprt_tanh_f32", (void *)bprt_tanh_f32},
    {"bprt_tanh_f64", (void *)bprt_tanh_f64},
    {"bprt_ew_threads", (void *)bprt_ew_threads},
    {"bprt_ew_rows_par_f32", (void *)bprt_ew_rows_par_f32},
    {"bprt_ew_rows_par_f64", (void *)bprt_ew_rows_par_f64},
    {"bprt_gelu_f32", (void *)bprt_gelu_f32},
    {"bprt_gelu_f64", (void *)bprt_gelu_f64},
    {"bprt_gelu_grad_f32", (void *)bprt_gelu_grad_f32},
    {"bprt_gelu_grad_f64", (void *)bprt_gelu_grad_f64},
    {"bprt_ew_gelu_pair_f32", (void *)bprt_ew_gelu_pair_f32},
    {"bprt_ew_gelu_pair_f64", (void *)bprt_ew_gelu_pair_f64},
    {"bprt_softmax_f32", (void *)bprt_softmax_f32},
    {"bprt_softmax_f64", (void *)bprt_softmax_f64},
    {"bprt_log_softmax_f32", (void *)bprt_log_softmax_f32},
    {"bprt_log_softmax_f64", (void *)bprt_log_softmax_f64},
    {"bprt_cross_entropy_f32", (void *)bprt_cross_entropy_f32},
    {"bprt_cross_entropy_f64", (void *)bprt_cross_entropy_f64},
    {"bprt_ce_grad_f32", (void *)bprt_ce_grad_f32},
    {"bprt_cross_entropy_grad_f32", (void *)bprt_cross_entropy_grad_f32},
    {"bprt_cross_entropy_grad_f64", (void *)bprt_cross_entropy_grad_f64},
    {"bprt_ce_grad_f64", (void *)bprt_ce_grad_f64},
    {"bprt_sum_axis_f64", (void *)bprt_sum_axis_f64},
    {"bprt_transpose_f32", (void *)bprt_transpose_f32},
    {"bprt_transpose_f64", (void *)bprt_transpose_f64},
    {"bprt_max_axis_f32", (void *)bprt_max_axis_f32},
    {"bprt_max_axis_f64", (void *)bprt_max_axis_f64},
    {"bprt_logsumexp_axis_f32", (void *)bprt_logsumexp_axis_f32},
    {"bprt_logsumexp_axis_f64", (void *)bprt_logsumexp_axis_f64},
    {"bprt_softmax_axis_f32", (void *)bprt_softmax_axis_f32},
    {"bprt_softmax_axis_f64", (void *)bprt_softmax_axis_f64},
    {"bprt_log_softmax_axis_f32", (void *)bprt_log_softmax_axis_f32},
    {"bprt_log_softmax_axis_f64", (void *)bprt_log_softmax_axis_f64},
    {"bprt_sgemm_ew", (void *)bprt_sgemm_ew},
    {"bprt_dgemm_ew", (void *)bprt_dgemm_ew},
    {"bprt_sgemm_ew_sum", (void *)bprt_sgemm_ew_sum},
    {"bprt_dgemm_ew_sum", (void *)bprt_dgemm_ew_sum},
    {"bprt_ew_f32", (void *)bprt_ew_f32},
    {"bprt_ew_f64", (void *)bprt_ew_f64},
#define LAYER_SYMS(S)                                                                              \
    {"bprt_conv2d_" #S, (void *)bprt_conv2d_##S},                                                  \
    {"bprt_conv2d_grad_x_" #S, (void *)bprt_conv2d_grad_x_##S},                                    \
    {"bprt_conv2d_grad_w_" #S, (void *)bprt_conv2d_grad_w_##S},                                    \
    {"bprt_maxpool2d_" #S, (void *)bprt_maxpool2d_##S},                                            \
    {"bprt_maxpool2d_grad_" #S, (void *)bprt_maxpool2d_grad_##S},                                  \
    {"bprt_conv2d_ew_" #S, (void *)bprt_conv2d_ew_##S},                                            \
    {"bprt_conv2d_grads_" #S, (void *)bprt_conv2d_grads_##S},                                      \
    {"bprt_conv2d_grad_wb_" #S, (void *)bprt_conv2d_grad_wb_##S},                                  \
    {"bprt_conv2d_grads_b_" #S, (void *)bprt_conv2d_grads_b_##S},                                  \
    {"bprt_maxpool2d_grad_ew_" #S, (void *)bprt_maxpool2d_grad_ew_##S},                            \
    {"bprt_avgpool2d_" #S, (void *)bprt_avgpool2d_##S},                                            \
    {"bprt_avgpool2d_grad_" #S, (void *)bprt_avgpool2d_grad_##S},                                  \
    {"bprt_layernorm_" #S, (void *)bprt_layernorm_##S},                                            \
    {"bprt_layernorm_grad_" #S, (void *)bprt_layernorm_grad_##S},                                  \
    {"bprt_layernorm_affine_grad_" #S, (void *)bprt_layernorm_affine_grad_##S},                    \
    {"bprt_softmax_grad_" #S, (void *)bprt_softmax_grad_##S},                                      \
    {"bprt_embedding_" #S, (void *)bprt_embedding_##S},                                            \
    {"bprt_embedding_grad_" #S, (void *)bprt_embedding_grad_##S},                                  \
    {"bprt_causal_mask_" #S, (void *)bprt_causal_mask_##S},                                        \
    {"bprt_dropout_" #S, (void *)bprt_dropout_##S},
    LAYER_SYMS(f32) LAYER_SYMS(f64)
#undef LAYER_SYMS
};

int jit_runtime_symbol_known(const char *name) {
    for (size_t i = 0; i < sizeof runtime_syms / sizeof runtime_syms[0]; i++)
        if (!strcmp(runtime_syms[i].name, name)) return 1;
    return 0;
}

static Jit *compile_tcc(const char *code, char *err, size_t errlen) {
    ErrBuf eb = {err, 0, errlen};
    if (err && errlen) err[0] = 0;
    TCCState *s = tcc_new();
    if (!s) {
        snprintf(err, errlen, "libtcc: cannot create a compiler state");
        return NULL;
    }
    tcc_set_error_func(s, &eb, tcc_err);
    tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
    if (tcc_compile_string(s, code) != 0) {
        tcc_delete(s);
        return NULL;
    }
    for (size_t i = 0; i < sizeof runtime_syms / sizeof runtime_syms[0]; i++)
        tcc_add_symbol(s, runtime_syms[i].name, runtime_syms[i].addr);
    tcc_add_library(s, "m");
    int size = tcc_relocate(s, NULL);
    if (size <= 0) {
        if (!eb.len) snprintf(err, errlen, "libtcc: relocation failed");
        tcc_delete(s);
        return NULL;
    }
    void *mem = malloc((size_t)size);
    if (!mem || tcc_relocate(s, mem) < 0) {
        free(mem);
        if (!eb.len) snprintf(err, errlen, "libtcc: relocation failed");
        tcc_delete(s);
        return NULL;
    }
    Jit *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->kind = JIT_TCC;
    j->tcc = s;
    j->mem = mem;
    return j;
}

/* The cc JIT's scratch directory: under $TMPDIR (as cc's own temporaries are), else /tmp.
   A $TMPDIR holding a quote (the shell command quotes the paths in '...') or too long for
   the buffer is passed over for /tmp. */
static int make_jit_dir(char *dir, size_t size) {
    const char *t = getenv("TMPDIR");
    if (t && *t && !strchr(t, '\'') && (size_t)snprintf(dir, size, "%s/bpc-jit-XXXXXX", t) < size && mkdtemp(dir))
        return 0;
    snprintf(dir, size, "/tmp/bpc-jit-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static Jit *compile_cc(const char *code, char *err, size_t errlen) {
    char dir[1024];
    if (make_jit_dir(dir, sizeof dir) != 0) {
        snprintf(err, errlen, "cannot create a temporary directory for the cc JIT");
        return NULL;
    }
    char src[1100], so[1100], log[1100];
    snprintf(src, sizeof src, "%s/m.c", dir);
    snprintf(so, sizeof so, "%s/m.so", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    FILE *f = fopen(src, "w");
    Jit *j = NULL;
    char *cmd = NULL;
    if (!f || fputs(code, f) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s", src);
        goto out;
    }
    const char *cc = getenv("CC");
    if (!cc || !*cc) cc = "cc";
    const char *fmt = "%s -std=c99 -O3 -march=native -fPIC -shared -o '%s' '%s' >'%s' 2>&1";
    size_t need = strlen(fmt) + strlen(cc) + strlen(so) + strlen(src) + strlen(log) + 1;
    if (!(cmd = malloc(need))) abort();
    snprintf(cmd, need, fmt, cc, so, src, log);
    int rc = system(cmd);
    /* system() ignores SIGINT in bpc while cc runs: a Ctrl-C killed only cc (or the shell).
       It is passed on to bpc, as POSIX advises, so that it interrupts bpc as anywhere else
       (the REPL's handler, train's, or the default action) */
    if (rc != -1 && ((WIFSIGNALED(rc) && WTERMSIG(rc) == SIGINT) || (WIFEXITED(rc) && WEXITSTATUS(rc) == 128 + SIGINT))) {
        snprintf(err, errlen, "'%s' was interrupted (Ctrl-C)", cc);
        raise(SIGINT);
        goto out;
    }
    if (rc != 0) {
        FILE *lf = fopen(log, "r");
        size_t n = lf ? fread(err, 1, errlen - 1, lf) : 0;
        err[n] = 0;
        if (lf) fclose(lf);
        if (!n && rc != -1 && WIFEXITED(rc)) snprintf(err, errlen, "'%s' failed (exit status %d)", cc, WEXITSTATUS(rc));
        else if (!n && rc != -1 && WIFSIGNALED(rc)) snprintf(err, errlen, "'%s' was killed by signal %d", cc, WTERMSIG(rc));
        else if (!n) snprintf(err, errlen, "'%s' could not be run", cc);
        goto out;
    }
    void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(err, errlen, "dlopen: %s", dlerror());
        goto out;
    }
    j = calloc(1, sizeof *j);
    if (!j) abort();
    j->kind = JIT_CC;
    j->dl = dl;
out:
    free(cmd);
    unlink(src);
    unlink(so);
    unlink(log);
    rmdir(dir);
    return j;
}

Jit *jit_compile(const char *code, JitKind kind, char *err, size_t errlen) {
    return kind == JIT_TCC ? compile_tcc(code, err, errlen) : compile_cc(code, err, errlen);
}

void *jit_symbol(Jit *j, const char *name) {
    if (!j) return NULL;
    if (j->kind == JIT_TCC) return tcc_get_symbol(j->tcc, name);
    return dlsym(j->dl, name);
}

void jit_free(Jit *j) {
    if (!j) return;
    if (j->tcc) tcc_delete(j->tcc);
    free(j->mem);
    if (j->dl) dlclose(j->dl);
    free(j);
}
