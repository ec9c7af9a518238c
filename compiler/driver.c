/* driver.c — see driver.h. */
#include "driver.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

double drv_get(const Model *m, const void *vec, int64_t i) {
    return m->f64 ? ((const double *)vec)[i] : (double)((const float *)vec)[i];
}

void drv_set(const Model *m, void *vec, int64_t i, double v) {
    if (m->f64) ((double *)vec)[i] = v;
    else ((float *)vec)[i] = (float)v;
}

int drv_init_params(const Model *m, void *params, uint64_t seed) {
    m->init(params, seed);
    return 0;
}

static void shape_of_tensor(const BprtTensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++) n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

static int is_float_dtype(BprtDtype d) { return d == BPRT_F32 || d == BPRT_F64 || d == BPRT_F16 || d == BPRT_BF16; }

/* Reads a params-shaped vector keyed by parameter name; `what` opens the mismatch message. */
static int load_param_shaped(const Model *m, const char *path, void *params, const char *what, int *narrowed,
                             char *err) {
    BprtSafetensors st;
    if (bprt_st_read(path, &st, err) != 0) return -1;
    const Graph *g = m->g;
    size_t len = 0;
    int bad = 0, left_out = 0;
    char msg[BPRT_ERRLEN], item[400];
    msg[0] = 0;
    /* whole items while they fit in the message (a PyTorch state_dict's 50 names were cut off
     * mid-word: "...; unexpected 'm2' (not a param"); the rest are counted */
#define ADD(...)                                                                                   \
    do {                                                                                           \
        size_t n_ = (size_t)snprintf(item, sizeof item, __VA_ARGS__);                             \
        if (len + n_ < 230) len += (size_t)snprintf(msg + len, sizeof msg - len, "%s", item);     \
        else left_out++;                                                                           \
        bad++;                                                                                     \
    } while (0)
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        const BprtTensor *t = bprt_st_find(&st, pa->name);
        char s1[160], s2[160];
        if (!t) {
            ADD("%smissing '%s'", bad ? "; " : "", pa->name);
            continue;
        }
        int ok = t->ndim == pa->shape.rank;
        for (int i = 0; ok && i < t->ndim; i++) ok = t->shape[i] == pa->shape.d[i].c;
        if (!ok) {
            shape_of_tensor(t, s1, sizeof s1);
            ADD("%s'%s' has shape %s, the program declares %s", bad ? "; " : "", pa->name, s1,
                shape_str(&pa->shape, &g->syms, s2, sizeof s2));
            continue;
        }
        if (!is_float_dtype(t->dtype)) {
            ADD("%s'%s' has dtype %s, expected a float type", bad ? "; " : "", pa->name, bprt_dtype_name(t->dtype));
            continue;
        }
    }
    for (int i = 0; i < st.count; i++) {
        int found = 0;
        for (int p = 0; p < g->nparams; p++) found |= strcmp(g->params[p].name, st.tensors[i].name) == 0;
        found |= strncmp(st.tensors[i].name, "__bpc.", 6) == 0; /* checkpoint extras */
        if (!found) ADD("%sunexpected '%s' (not a parameter of the program)", bad ? "; " : "", st.tensors[i].name);
    }
#undef ADD
    if (bad) {
        if (left_out) snprintf(msg + len, sizeof msg - len, "; and %d more", left_out);
        snprintf(err, BPRT_ERRLEN, "%.200s: %s: %.250s", path, what, msg);
        bprt_st_free(&st);
        return -1;
    }
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        const BprtTensor *t = bprt_st_find(&st, pa->name);
        char name[300];
        snprintf(name, sizeof name, "parameter '%.200s' read as doubles (%lld values)", pa->name, (long long)t->count);
        double *tmp = drv_alloc_reals((size_t)(t->count ? t->count : 1), sizeof(double), name, err);
        if (!tmp) {
            bprt_st_free(&st);
            return -1;
        }
        bprt_st_to_f64(t, tmp);
        for (int64_t i = 0; i < t->count; i++) drv_set(m, params, pa->offset + i, tmp[i]);
        if (narrowed && t->dtype == BPRT_F64 && !m->f64) *narrowed = 1;
        free(tmp);
    }
    bprt_st_free(&st);
    return 0;
}

int drv_load_params(const Model *m, const char *path, void *params, char *err) {
    return load_param_shaped(m, path, params, "parameters do not match the program", NULL, err);
}

int drv_load_params_narrowing(const Model *m, const char *path, void *params, int *narrowed, char *err) {
    *narrowed = 0;
    return load_param_shaped(m, path, params, "parameters do not match the program", narrowed, err);
}

int drv_load_vector(const Model *m, const char *path, void *v, char *err) {
    return load_param_shaped(m, path, v, "the vector does not match the program's parameters", NULL, err);
}

int drv_random_label_span(const Graph *g, int input) {
    const char *what;
    return drv_label_classes(g, input, &what) == 1 ? 1 : 2;
}

int64_t drv_label_classes(const Graph *g, int input, const char **what) {
    int64_t classes = 0;
    *what = "classes of the loss";
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_CROSS_ENTROPY && n->op != OP_NLL && n->op != OP_EMBEDDING) continue;
        const Node *l = &g->nodes[n->in[1]]; /* integer values are inputs: no op makes one */
        const Shape *z = &g->nodes[n->in[0]].shape;
        if (l->op != OP_INPUT || l->ival != input || z->rank < 1) continue;
        const Dim *d = n->op == OP_EMBEDDING ? &z->d[0] : &z->d[z->rank - 1]; /* rows of the table, or classes */
        if (d->sym >= 0) continue;
        if (!classes || d->c < classes) {
            classes = d->c;
            *what = n->op == OP_EMBEDDING ? "rows of the embedding table" : "classes of the loss";
        }
    }
    return classes;
}

int drv_check_int_value(const Input *ip, int64_t classes, const char *what, const char *fname, int64_t k, double v,
                        char *err) {
    if (v != floor(v) || !IR_FITS_INT32(v)) {
        snprintf(err, BPRT_ERRLEN, "%s: input '%s' element %lld (%.0f) is not a 32-bit integer", fname, ip->name,
                 (long long)k, v);
        return -1;
    }
    if (classes && (v < 0 || v >= (double)classes)) {
        snprintf(err, BPRT_ERRLEN, "%s: input '%s' element %lld is %lld, outside the %lld %s (0 to %lld)", fname,
                 ip->name, (long long)k, (long long)v, (long long)classes, what, (long long)classes - 1);
        return -1;
    }
    return 0;
}

int drv_check_input_dtype(const Input *ip, BprtDtype dt, const char *fname, char *err) {
    if (ip->dtype != DT_INT || !is_float_dtype(dt)) return 0;
    snprintf(err, BPRT_ERRLEN, "%s: input '%s' is declared ': int' but has dtype %s", fname, ip->name, bprt_dtype_name(dt));
    return -1;
}

size_t drv_numel_at(const Shape *s, const int *dims, const char *elem, char *buf, size_t size) {
    size_t n = 1, len = 0;
    buf[0] = 0;
    for (int k = 0; k < s->rank; k++) {
        const size_t d = (size_t)s->d[k].c * (s->d[k].sym >= 0 && dims[s->d[k].sym] > 0 ? (size_t)dims[s->d[k].sym] : 1);
        n = d && n > SIZE_MAX / d ? SIZE_MAX : n * d;
        if (len < size) len += (size_t)snprintf(buf + len, size - len, "%s%zu", k ? " x " : "", d);
    }
    const int one = !s->rank && *elem; /* "1 float" */
    if (len < size) snprintf(buf + len, size - len, "%s%.*s", one ? "1 " : " ", (int)strlen(elem) - one, elem);
    return n;
}

void **drv_alloc_outputs(const Model *m, const int *dims, char *err) {
    const Graph *g = m->g;
    void **outs = calloc((size_t)g->noutputs + 1, sizeof *outs);
    if (!outs) abort();
    for (int i = 0; i < g->noutputs; i++) {
        char sizes[160], what[400];
        size_t n = drv_numel_at(&g->nodes[g->outputs[i]].shape, dims, m->f64 ? "doubles" : "floats", sizes, sizeof sizes);
        snprintf(what, sizeof what, "output '%.200s' (%s)", g->output_names[i], sizes);
        if (!(outs[i] = drv_alloc_reals(n < SIZE_MAX ? n + 1 : n, m->real_size, what, err))) {
            drv_free_outputs(m, outs);
            return NULL;
        }
    }
    return outs;
}

void drv_free_outputs(const Model *m, void **outs) {
    for (int i = 0; outs && i < m->g->noutputs; i++) free(outs[i]);
    free(outs);
}

void drv_free_inputs(Inputs *in) {
    for (int i = 0; i < BP_MAX_RUN_INPUTS; i++) {
        free(in->data[i]);
        in->data[i] = NULL;
    }
}

int drv_load_inputs(const Model *m, const char *path, Inputs *in, char *err) {
    memset(in, 0, sizeof *in);
    BprtSafetensors st;
    if (!path) return drv_inputs_from(m, NULL, NULL, in, err);
    if (bprt_st_read(path, &st, err) != 0) return -1;
    int rc = drv_inputs_from(m, &st, path, in, err);
    bprt_st_free(&st);
    return rc;
}

int drv_inputs_from(const Model *m, const BprtSafetensors *st, const char *fname, Inputs *in,
                    char *err) {
    const Graph *g = m->g;
    const int given = st != NULL; /* else every input takes its default */
    memset(in, 0, sizeof *in);
    for (int s = 0; s < BP_MAXSYMS; s++) in->dims[s] = -1;
    BP_ASSERT(g->ninputs <= BP_MAX_RUN_INPUTS); /* refused first: drv_check_run_inputs */
    if (!given) fname = "(defaults)";
    int rc = -1;
    /* a file of parameters or a checkpoint given for inputs: said as such, before any
       complaint about the inputs it lacks */
    for (int pass = 0; given && pass < 2; pass++)
        for (int i = 0; i < st->count; i++) {
            const char *name = st->tensors[i].name;
            int input = 0, param = 0;
            for (int k = 0; k < g->ninputs; k++) input |= strcmp(g->inputs[k].name, name) == 0;
            for (int k = 0; k < g->nparams; k++) param |= strcmp(g->params[k].name, name) == 0;
            if (input) continue;
            if (pass == 0 && strncmp(name, "__bpc.", 6) == 0) {
                snprintf(err, BPRT_ERRLEN, "%s is a checkpoint (it holds '%s'), not a file of inputs: parameters and "
                         "checkpoints are read with --params (in the REPL, :restore)", fname,
                         bprt_st_find(st, "__bpc.opt_state") ? "__bpc.opt_state" : name);
                goto out;
            }
            if (pass == 1 && param) {
                snprintf(err, BPRT_ERRLEN, "%s: '%s' is a parameter of the program, not an input: parameters are read "
                         "with --params (in the REPL, :restore)", fname, name);
                goto out;
            }
        }
    /* first pass: bind symbolic sizes from the file's shapes */
    for (int i = 0; i < g->ninputs; i++) {
        const Input *ip = &g->inputs[i];
        const BprtTensor *t = given ? bprt_st_find(st, ip->name) : NULL;
        if (!t) continue;
        char s1[160], s2[160];
        int ok = t->ndim == ip->shape.rank, empty = -1;
        for (int k = 0; ok && k < t->ndim; k++) {
            Dim d = ip->shape.d[k];
            if (d.sym >= 0 && t->shape[k] == 0) ok = 0, empty = d.sym;
            else if (d.sym < 0) ok = t->shape[k] == d.c;
            else if (t->shape[k] % d.c != 0 || t->shape[k] / d.c > 0x7fffffff) ok = 0;
            else {
                int v = (int)(t->shape[k] / d.c);
                if (in->dims[d.sym] < 0) in->dims[d.sym] = v;
                else if (in->dims[d.sym] != v) {
                    snprintf(err, BPRT_ERRLEN, "%s: input '%s' gives %s = %d, but another input gave %d", fname, ip->name,
                             g->syms.names[d.sym], v, in->dims[d.sym]);
                    goto out;
                }
            }
        }
        if (!ok) {
            shape_of_tensor(t, s1, sizeof s1);
            snprintf(err, BPRT_ERRLEN, "%s: input '%s' has shape %s, the program declares %s%s%s%s", fname, ip->name, s1,
                     shape_str(&ip->shape, &g->syms, s2, sizeof s2), empty >= 0 ? ": " : "",
                     empty >= 0 ? g->syms.names[empty] : "", empty >= 0 ? " would be 0, and a size is at least 1" : "");
            goto out;
        }
        if (drv_check_input_dtype(ip, t->dtype, fname, err) != 0) goto out;
    }
    /* the inputs in use first, then the optional ones: a size an input in use needs is never
     * taken from these (1) */
    int used[BP_MAX_RUN_INPUTS], syms[BP_MAXSYMS] = {0};
    emit_loss_inputs((Graph *)g, used);
    emit_loss_syms((Graph *)g, syms);
    for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < g->ninputs; i++) {
        const Input *ip = &g->inputs[i];
        const BprtTensor *t = given ? bprt_st_find(st, ip->name) : NULL;
        /* PyTorch asks for nothing the loss does not use, nor does bpc grad */
        const int optional = !t && !ip->has_default && !used[i];
        if (optional != pass) continue;
        for (int k = 0; k < ip->shape.rank; k++) {
            Dim d = ip->shape.d[k];
            if (d.sym >= 0 && in->dims[d.sym] < 0 && optional && !syms[d.sym]) in->dims[d.sym] = 1;
            if (d.sym >= 0 && in->dims[d.sym] < 0) {
                snprintf(err, BPRT_ERRLEN, "%s: input '%s' is not given, so its size %s is unknown%s", fname, ip->name,
                         g->syms.names[d.sym], given ? "" : " (give inputs with --inputs FILE.safetensors)");
                goto out;
            }
        }
        if (!t && !ip->has_default && !optional) {
            snprintf(err, BPRT_ERRLEN, "%s: input '%s' has no value and no default%s", fname, ip->name,
                     given ? "" : " (give inputs with --inputs FILE.safetensors)");
            goto out;
        }
        size_t esz = ip->dtype == DT_INT ? sizeof(int32_t) : m->real_size;
        char sizes[160], named[400];
        const size_t count = drv_numel_at(&ip->shape, in->dims, ip->dtype == DT_INT ? "ints" : m->f64 ? "doubles" : "floats",
                                          sizes, sizeof sizes);
        snprintf(named, sizeof named, "input '%.200s' (%s)", ip->name, sizes);
        /* a size from the file can make another input's product overflow: [N, N, N] at N =
           2^22 wrapped to 0 elements, and the model read 2^66 of them (a crash) */
        if (count > (size_t)INT64_MAX) {
            snprintf(err, BPRT_ERRLEN, "%s: cannot hold the %s: more than 2^63 elements", fname, named);
            goto out;
        }
        const int64_t n = (int64_t)count;
        if (!(in->data[i] = drv_alloc_reals((size_t)(n ? n : 1), esz, named, err))) goto out;
        in->count[i] = (size_t)n;
        snprintf(named, sizeof named, "input '%.200s' read as doubles (%lld values)", ip->name, (long long)n);
        double *tmp = drv_alloc_reals((size_t)(n ? n : 1), sizeof(double), named, err);
        if (!tmp) goto out;
        if (t) bprt_st_to_f64(t, tmp);
        else
            for (int64_t k = 0; k < n; k++) tmp[k] = optional ? 0 : ip->def;
        const char *what = NULL;
        const int64_t classes = ip->dtype == DT_INT ? drv_label_classes(g, i, &what) : 0;
        for (int64_t k = 0; k < n; k++) {
            if (ip->dtype == DT_INT) {
                if (drv_check_int_value(ip, classes, what, fname, k, tmp[k], err) != 0) {
                    free(tmp);
                    goto out;
                }
                ((int32_t *)in->data[i])[k] = (int32_t)tmp[k];
            } else
                drv_set(m, in->data[i], k, tmp[k]);
        }
        free(tmp);
    }
    if (given)
        for (int i = 0; i < st->count; i++) {
            int found = 0;
            for (int k = 0; k < g->ninputs; k++) found |= strcmp(g->inputs[k].name, st->tensors[i].name) == 0;
            if (!found) {
                snprintf(err, BPRT_ERRLEN, "%s: '%s' is not an input of the program", fname, st->tensors[i].name);
                goto out;
            }
        }
    rc = 0;
out:
    if (rc != 0) drv_free_inputs(in);
    return rc;
}

int drv_save_params(const Model *m, const char *path, const void *vec, char *err) {
    const Graph *g = m->g;
    BprtTensorOut *t = calloc((size_t)g->nparams + 1, sizeof *t);
    if (!t) abort();
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        t[p].name = pa->name;
        t[p].dtype = m->f64 ? BPRT_F64 : BPRT_F32;
        t[p].ndim = pa->shape.rank;
        for (int k = 0; k < pa->shape.rank; k++) t[p].shape[k] = pa->shape.d[k].c;
        t[p].data = (const char *)vec + (size_t)pa->offset * m->real_size;
    }
    int rc = bprt_st_write(path, t, g->nparams, err);
    free(t);
    return rc;
}

int drv_save_checkpoint(const Model *m, const char *path, const void *params, const void *opt_state, size_t opt_bytes,
                        const int64_t progress[4], char *err) {
    const Graph *g = m->g;
    BprtTensorOut *t = calloc((size_t)g->nparams + 4, sizeof *t);
    size_t names = 0;
    for (int p = 0; p < g->nparams; p++) names += strlen(g->params[p].name) + 1;
    char *order = malloc(names + 1), *o = order; /* (+ 1: no parameters) */
    if (!t || !order) abort();
    for (int p = 0; p < g->nparams; p++) { /* the parameters' names, each ended by '\n' */
        const size_t len = strlen(g->params[p].name);
        memcpy(o, g->params[p].name, len);
        o[len] = '\n';
        o += len + 1;
    }
    int n = 0;
    for (int p = 0; p < g->nparams; p++, n++) {
        const Param *pa = &g->params[p];
        t[n].name = pa->name;
        t[n].dtype = m->f64 ? BPRT_F64 : BPRT_F32;
        t[n].ndim = pa->shape.rank;
        for (int k = 0; k < pa->shape.rank; k++) t[n].shape[k] = pa->shape.d[k].c;
        t[n].data = (const char *)params + (size_t)pa->offset * m->real_size;
    }
    t[n] = (BprtTensorOut){"__bpc.opt_order", BPRT_U8, 1, {(int64_t)names}, order};
    n++;
    t[n] = (BprtTensorOut){"__bpc.opt_state", BPRT_U8, 1, {(int64_t)opt_bytes}, opt_state};
    n++;
    t[n] = (BprtTensorOut){"__bpc.progress", BPRT_I64, 1, {4}, progress};
    n++;
    int rc = bprt_st_write(path, t, n, err);
    free(order);
    free(t);
    return rc;
}

static size_t padded(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

size_t drv_opt_bytes(OptLayout l) { return 64 + padded(l.real_size * (size_t)l.n) * (size_t)l.moments; }

OptLayout drv_opt_layout(const Model *m) {
    OptLayout l = {m->g->nparam_reals, ir_opt_moments(&m->g->opt), m->real_size};
    BP_ASSERT(drv_opt_bytes(l) == m->opt_size());
    return l;
}

double drv_opt_steps(const void *opt) {
    double steps;
    memcpy(&steps, opt, sizeof steps);
    return steps;
}

void drv_opt_to_f64(OptLayout l, const void *opt, double *out) {
    out[0] = drv_opt_steps(opt);
    for (int k = 0; k < l.moments; k++) {
        const char *v = (const char *)opt + 64 + padded(l.real_size * (size_t)l.n) * (size_t)k;
        double *o = out + 1 + (int64_t)k * l.n;
        if (l.real_size == sizeof(double)) memcpy(o, v, sizeof(double) * (size_t)l.n);
        else
            for (int64_t i = 0; i < l.n; i++) { /* (a checkpoint's bytes need not be aligned) */
                float f;
                memcpy(&f, v + sizeof f * (size_t)i, sizeof f);
                o[i] = (double)f;
            }
    }
}

void drv_opt_from_f64(OptLayout l, const double *in, void *opt) {
    memset(opt, 0, drv_opt_bytes(l));
    memcpy(opt, in, sizeof(double));
    for (int k = 0; k < l.moments; k++) {
        char *v = (char *)opt + 64 + padded(l.real_size * (size_t)l.n) * (size_t)k;
        const double *i0 = in + 1 + (int64_t)k * l.n;
        if (l.real_size == sizeof(double)) memcpy(v, i0, sizeof(double) * (size_t)l.n);
        else
            for (int64_t i = 0; i < l.n; i++) {
                float f = (float)i0[i];
                memcpy(v + sizeof f * (size_t)i, &f, sizeof f);
            }
    }
}

/* Whether an optimizer state read from a checkpoint (in m's layout l) can be trained on:
 * its step count a whole number from 0 to 2^53, every moment finite, and Adam's second
 * moments (v, under a square root) not negative. A damaged state (a NaN step count, bytes
 * of 0xff) was taken in: the first step made every parameter NaN, and bpc train then saved
 * those over the checkpoint. to_f32: the run keeps its state in float (a double state is
 * converted), so every moment must also be within float's range, or its conversion would be
 * infinite. 0, or -1 with err naming the parameter and element. */
static int check_opt_state(const Model *m, OptLayout l, const void *opt, int to_f32, const char *path, char *err) {
    static const char *const which[2][2] = {{"momentum", ""}, {"first moment", "second moment"}};
    const double t = drv_opt_steps(opt);
    if (!(t >= 0 && t <= 0x1p53 && t == floor(t))) {
        snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint: the optimizer state's step count is %g, not a whole number "
                 "from 0 to 2^53 (a damaged file?)", path, drv_printable(t));
        return -1;
    }
    const Graph *g = m->g;
    for (int k = 0; k < l.moments; k++) {
        const char *v = (const char *)opt + 64 + padded(l.real_size * (size_t)l.n) * (size_t)k;
        for (int p = 0; p < g->nparams; p++)
            for (int64_t i = 0; i < g->params[p].numel; i++) {
                const int64_t at = g->params[p].offset + i;
                double x;
                if (l.real_size == sizeof(double)) memcpy(&x, v + sizeof x * (size_t)at, sizeof x);
                else {
                    float f;
                    memcpy(&f, v + sizeof f * (size_t)at, sizeof f);
                    x = (double)f;
                }
                const int beyond = to_f32 && isfinite(x) && fabs(x) > (double)FLT_MAX;
                if (isfinite(x) && !(k == 1 && x < 0) && !beyond) continue;
                snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint: the optimizer state's %s of '%s' is %g at element "
                         "%lld%s (a damaged file?)", path, which[l.moments - 1][k], g->params[p].name, drv_printable(x), (long long)i,
                         beyond ? ", beyond float's range (this run keeps its state in float)"
                         : isfinite(x) ? ", and cannot be negative" : "");
                return -1;
            }
    }
    return 0;
}

/* Where each parameter's reals start in the order the file stores the parameters (at[i] for
 * the program's parameter i: the reals of the parameters stored before it), or -1 if a
 * parameter of the program is not in st with its count, or not stored before the optimizer
 * state o. */
static int stored_order(const Graph *g, const BprtSafetensors *st, const BprtTensor *o, int64_t *at) {
    const char **data = malloc(sizeof *data * (size_t)g->nparams);
    if (!data) return -1;
    int rc = 0;
    for (int i = 0; i < g->nparams && rc == 0; i++) {
        const BprtTensor *u = bprt_st_find(st, g->params[i].name);
        if (!u || u->count != g->params[i].numel || (const char *)u->data >= (const char *)o->data) rc = -1;
        else data[i] = u->data;
    }
    for (int i = 0; i < g->nparams && rc == 0; i++) {
        at[i] = 0;
        for (int j = 0; j < g->nparams; j++)
            if (data[j] < data[i]) at[i] += g->params[j].numel;
    }
    free(data);
    return rc;
}

/* Where each parameter's moments start in a state whose order ord ('__bpc.opt_order': the
 * parameters' names, each ended by '\n') gives (at[i] for the program's parameter i). 0, or
 * -1 with err naming the problem: ord is not U8 bytes, names a parameter twice or one this
 * program does not have, or leaves one of its parameters out. */
static int named_order(const Graph *g, const BprtTensor *ord, int64_t *at, const char *path, char *err) {
    if (ord->dtype != BPRT_U8 || ord->ndim != 1) {
        char sh[160];
        shape_of_tensor(ord, sh, sizeof sh);
        snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint: '__bpc.opt_order' is %s %s, expected U8 bytes (the "
                 "parameters' names in the order of the optimizer state)", path, bprt_dtype_name(ord->dtype), sh);
        return -1;
    }
    for (int i = 0; i < g->nparams; i++) at[i] = -1;
    const char *s = ord->data, *end = s + ord->count;
    int64_t reals = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        int i = 0, shown = len <= 64;
        while (i < g->nparams && !(strlen(g->params[i].name) == len && memcmp(g->params[i].name, s, len) == 0)) i++;
        for (size_t k = 0; k < len && shown; k++) shown = s[k] >= 0x20 && s[k] < 0x7f;
        if (!nl || i == g->nparams || at[i] >= 0) {
            snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint: '__bpc.opt_order' %s '%.*s'%s (a damaged file, or "
                     "another program's?)", path, !nl ? "does not end with a newline after" : "names",
                     shown ? (int)len : 3, shown ? s : "...", !nl ? "" : i == g->nparams ? ", not a parameter of this "
                     "program" : " twice");
            return -1;
        }
        at[i] = reals;
        reals += g->params[i].numel;
        s = nl + 1;
    }
    for (int i = 0; i < g->nparams; i++)
        if (at[i] < 0) {
            snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint: '__bpc.opt_order' does not name the parameter '%s' "
                     "(a damaged file, or another program's?)", path, g->params[i].name);
            return -1;
        }
    return 0;
}

/* A checkpoint's optimizer state keeps the moments of its parameters in the order of the
 * program that trained them, which '__bpc.opt_order' names. A program whose declarations
 * were reordered since (the same names and shapes) keeps them in another order: the state
 * was read in this program's order, each parameter's moments from another's place (Adam
 * moved W by b's moments without a word). Returns the state (o's bytes, in the layout l) in
 * this program's order: o's own bytes when the orders agree, else a copy in *copy (to
 * free), or NULL with err set when it cannot be allocated or the order is invalid. A
 * checkpoint without '__bpc.opt_order' (bpc before 2026-12-07, or a tool that dropped it)
 * is read in the order of its parameters' data when bpc's layout shows (the parameters,
 * then '__bpc.opt_state', then '__bpc.progress'), else in the program's. */
static const void *state_in_program_order(const Graph *g, const BprtSafetensors *st, const BprtTensor *o,
                                          const BprtTensor *p, OptLayout l, void **copy, const char *path, char *err) {
    *copy = NULL;
    const BprtTensor *ord = bprt_st_find(st, "__bpc.opt_order");
    if (!ord && (const char *)p->data < (const char *)o->data) return o->data;
    int64_t *at = drv_alloc_reals((size_t)g->nparams, sizeof *at, "parameters' order in the checkpoint", err);
    if (!at) return NULL;
    int same = 1; /* an order the file does not tell is the program's */
    if (ord && named_order(g, ord, at, path, err) != 0) {
        free(at);
        return NULL;
    }
    if (ord || stored_order(g, st, o, at) == 0)
        for (int i = 0; i < g->nparams && same; i++) same = at[i] == g->params[i].offset;
    if (same) {
        free(at);
        return o->data;
    }
    const size_t bytes = drv_opt_bytes(l), block = padded(l.real_size * (size_t)l.n);
    char *c = drv_alloc_reals(bytes, 1, "optimizer's state in the program's order of the parameters", err);
    if (!c) {
        free(at);
        return NULL;
    }
    memset(c, 0, bytes);
    memcpy(c, o->data, 64); /* the step count */
    for (int k = 0; k < l.moments; k++)
        for (int i = 0; i < g->nparams; i++)
            memcpy(c + 64 + block * (size_t)k + l.real_size * (size_t)g->params[i].offset,
                   (const char *)o->data + 64 + block * (size_t)k + l.real_size * (size_t)at[i],
                   l.real_size * (size_t)g->params[i].numel);
    free(at);
    *copy = c;
    return c;
}

int drv_load_checkpoint_extras(const Model *m, const char *path, void *opt_state, int64_t progress[4], char *err) {
    BprtSafetensors st;
    if (bprt_st_read(path, &st, err) != 0) return -1;
    const BprtTensor *o = bprt_st_find(&st, "__bpc.opt_state"), *p = bprt_st_find(&st, "__bpc.progress");
    /* the state is in the precision of the parameters saved with it (its byte count does not
       always tell: a moment of 8 reals or fewer is 64 bytes either way). Parameters converted
       to F16 or BF16 by hand (or of both F32 and F64) do not tell: then its byte count must,
       else the error names the tensor (it said "another optimizer" or read a float state as
       double) */
    OptLayout mine = drv_opt_layout(m), other = mine;
    const BprtTensor *odd = NULL, *first = NULL; /* the first parameter whose dtype does not tell, if
                                                    any; the first parameter */
    size_t real_size = 0;
    for (int i = 0; i < st.count && !odd; i++)
        if (strncmp(st.tensors[i].name, "__bpc.", 6) != 0) {
            const BprtDtype dt = st.tensors[i].dtype;
            const size_t rs = dt == BPRT_F64 ? sizeof(double) : dt == BPRT_F32 ? sizeof(float) : 0;
            if (!first) first = &st.tensors[i];
            if (!rs || (real_size && rs != real_size)) odd = &st.tensors[i];
            else real_size = rs;
        }
    OptLayout f32 = mine, f64 = mine;
    f32.real_size = sizeof(float);
    f64.real_size = sizeof(double);
    const size_t bytes32 = drv_opt_bytes(f32), bytes64 = drv_opt_bytes(f64);
    if (!odd && real_size) other.real_size = real_size;
    else if (odd && o && (o->count == (int64_t)bytes32) != (o->count == (int64_t)bytes64))
        other.real_size = o->count == (int64_t)bytes32 ? sizeof(float) : sizeof(double), odd = NULL; /* its size tells */
    size_t opt_bytes = drv_opt_bytes(other);
    int rc = 0, other_opt = 0;
    int64_t v[4];
    const void *state = NULL; /* the state in this program's order of the parameters */
    void *copy = NULL;
    if (!o != !p) {
        snprintf(err, BPRT_ERRLEN, "%s: the checkpoint has '%s' but no '%s'", path, o ? "__bpc.opt_state" : "__bpc.progress",
                 o ? "__bpc.progress" : "__bpc.opt_state");
        rc = -1;
    } else if (!o) {
        rc = 0;
    } else if (o->dtype != BPRT_U8) { /* (its element count is not its bytes: said as it is) */
        char sh[160];
        shape_of_tensor(o, sh, sizeof sh);
        snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint: '__bpc.opt_state' is %s %s, expected U8 (the optimizer "
                 "state's %zu bytes)", path, bprt_dtype_name(o->dtype), sh, opt_bytes);
        rc = -1;
    } else if (p->dtype != BPRT_I64 || p->ndim != 1 || p->shape[0] != 4) {
        char sh[160];
        shape_of_tensor(p, sh, sizeof sh);
        snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint progress: '__bpc.progress' is %s %s, expected I64 [4] (epoch, "
                 "step, steps done, seed)", path, bprt_dtype_name(p->dtype), sh);
        rc = -1;
    } else {
        memcpy(v, p->data, sizeof v); /* exactly: the seed may need all 64 bits */
        rc = -1;
        if (v[0] < 1 || v[0] >= INT_MAX)
            snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint progress: epoch %lld is not in [1, %d]", path, (long long)v[0],
                     INT_MAX - 1);
        else if (v[1] < 0)
            snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint progress: step %lld is negative", path, (long long)v[1]);
        else if (v[2] < v[1])
            snprintf(err, BPRT_ERRLEN, "%s: invalid checkpoint progress: steps done %lld is less than the step in the "
                     "epoch (%lld)", path, (long long)v[2], (long long)v[1]);
        else
            rc = 1;
    }
    if (rc == 1 && odd) { /* parameters whose dtype does not tell the state's precision, nor its size */
        if (odd->dtype == BPRT_F32 || odd->dtype == BPRT_F64) /* first is of the other */
            snprintf(err, BPRT_ERRLEN, "%s: tensor '%s' is %s but '%s' is %s: a checkpoint's parameters have the "
                     "precision of the optimizer state saved with them, so the precision of its state cannot be told",
                     path, odd->name,
                     bprt_dtype_name(odd->dtype), first->name, bprt_dtype_name(first->dtype));
        else if (o->count == (int64_t)bytes32)
            snprintf(err, BPRT_ERRLEN, "%s: tensor '%s' is %s: a checkpoint's optimizer state is in the precision of its "
                     "parameters, F32 or F64, and its %lld bytes fit both here: save the parameters as F32 or F64 to "
                     "resume (or without the '__bpc.' tensors, to start the optimizer afresh)",
                     path, odd->name, bprt_dtype_name(odd->dtype), (long long)o->count);
        else if (bytes32 == bytes64)
            snprintf(err, BPRT_ERRLEN, "%s: tensor '%s' is %s, and the optimizer state saved with it has %lld bytes, not "
                     "the %zu of this program's optimizer (was it saved with another optimizer or program?)", path,
                     odd->name, bprt_dtype_name(odd->dtype), (long long)o->count, bytes32);
        else
            snprintf(err, BPRT_ERRLEN, "%s: tensor '%s' is %s, and the optimizer state saved with it has %lld bytes, "
                     "neither the %zu of this program's optimizer over F32 parameters nor the %zu over F64 (was it "
                     "saved with another optimizer or program?)", path, odd->name, bprt_dtype_name(odd->dtype),
                     (long long)o->count, bytes32, bytes64);
        other_opt = 2;
    } else if (rc == 1 && o->count != (int64_t)opt_bytes) { /* another optimizer's */
        snprintf(err, BPRT_ERRLEN, "%s: checkpoint's optimizer state has %lld bytes, this program's optimizer needs %zu "
                 "(was it saved with another optimizer or program?)", path, (long long)o->count, opt_bytes);
        other_opt = 1;
    } else if (rc == 1 && !(state = state_in_program_order(m->g, &st, o, p, other, &copy, path, err)))
        rc = -1;
    else if (rc == 1 && check_opt_state(m, other, state, mine.real_size == sizeof(float), path, err) != 0) /* as the file holds it */
        rc = -1;
    else if (rc == 1 && other.real_size == mine.real_size) memcpy(opt_state, state, opt_bytes);
    else if (rc == 1) { /* written in the other precision */
        double *d = drv_alloc_reals((size_t)(1 + other.moments * other.n), sizeof(double),
                                    "optimizer's state converted to this precision", err);
        if (!d) rc = -1;
        else {
            drv_opt_to_f64(other, state, d);
            drv_opt_from_f64(mine, d, opt_state);
            free(d);
        }
    }
    if (rc == 1) memcpy(progress, v, sizeof v);
    free(copy);
    bprt_st_free(&st);
    return rc == 1 && other_opt ? 1 + other_opt : rc;
}

int drv_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int drv_check_tensor_output(const char *path, char *err) {
    const size_t n = strlen(path);
    if (n >= 3 && strcmp(path + n - 3, ".bp") == 0) {
        snprintf(err, BPRT_ERRLEN,
                 "%.400s: a name ending in .bp is a program's; name the file of tensors otherwise (FILE.safetensors)",
                 path);
        return -1;
    }
    struct stat so;
    FILE *f = stat(path, &so) == 0 && S_ISREG(so.st_mode) && so.st_size > 0 ? fopen(path, "rb") : NULL;
    if (!f) return 0;
    unsigned char head[9];
    const size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    uint64_t hlen = 0;
    if (got == sizeof head) memcpy(&hlen, head, 8);
    if (bprt_st_begins(head, got) && hlen <= BPRT_ST_HEADER_MAX) return 0; /* not `int f() {` */
    snprintf(err, BPRT_ERRLEN,
             "%.300s: the file exists and is not a safetensors file; bpc replaces only an earlier safetensors file "
             "(a checkpoint, parameters, gradients) or an empty one (remove it, or give another name)", path);
    return -1;
}

int drv_parse_count(const char *s, int lo, int *out) {
    long long v = 0; /* at most 2e9 before a step: 2e10 + 9 after it, past a 32-bit long */
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((v = v * 10 + (*p - '0')) > 2000000000) return -1; /* no overflow on the way */
    if (p == s || *p || v < lo) return -1;
    *out = (int)v;
    return 0;
}

/* The end of a run of decimal digits from p, *n counting them. */
static const char *skip_digits(const char *p, int *n) {
    for (; *p >= '0' && *p <= '9'; p++) ++*n;
    return p;
}

void drv_bad_value(char *buf, size_t size, const char *option, const char *value, const char *why, const char *wanted) {
    snprintf(buf, size, "bad value for %s: '%.100s' (%s%s%sit takes %s)", option, value, why ? "it " : "",
             why ? why : "", why ? "; " : "", wanted);
}

int drv_parse_real(const char *s, double *out, const char **why) {
    int digits = 0, exp_digits = 0;
    const char *p = skip_digits(s, &digits);
    if (*p == '.') p = skip_digits(p + 1, &digits);
    if (digits && (*p == 'e' || *p == 'E')) {
        p += p[1] == '+' || p[1] == '-' ? 2 : 1;
        p = skip_digits(p, &exp_digits);
        if (!exp_digits) digits = 0;
    }
    *why = NULL;
    if (!digits || *p) return -1; /* strtod would take hex, inf, nan, a sign, spaces */
    const size_t mantissa = strcspn(s, "eE");
    const int nonzero = strcspn(s, "123456789") < mantissa;
    const double v = strtod(s, NULL); /* all of s: its form is strtod's decimal one */
    if (isinf(v)) *why = "is above the largest double, 1.8e308";
    else if (nonzero && v < DBL_MIN) *why = "is below the smallest normal double, 2.2e-308";
    if (*why) return -1;
    *out = v;
    return 0;
}

int drv_real_fits(double v, int f64, const char **why) {
    *why = NULL;
    if (f64 || v == 0) return 0;
    if (v < (double)FLT_MIN) *why = "is below the smallest normal float, 1.2e-38, and the run is in float without --f64";
    else if (v > (double)FLT_MAX) *why = "is above the largest float, 3.4e38, and the run is in float without --f64";
    return *why ? -1 : 0;
}

double drv_printable(double v) {
    return isnan(v) ? fabs(v) : v;
}

/* x rounded to float as IEEE does (to nearest), without the undefined behaviour of
 * converting a double beyond float's range: from FLT_MAX plus half its ulp (2^103) it is inf. */
static float to_float(double x) {
    const double top = (double)FLT_MAX + 0x1p103;
    if (fabs(x) >= top) return x > 0 ? HUGE_VALF : -HUGE_VALF;
    if (fabs(x) > (double)FLT_MAX) return x > 0 ? FLT_MAX : -FLT_MAX;
    return (float)x;
}

void drv_format_real(char *buf, size_t size, double v, int f64) {
    /* a double that float cannot hold (beyond its range, or nonzero below its least
       subnormal) is printed as the double it is: as a float, 1.234e300 printed 1e+300 and
       1.5e-50 printed 1e-50 (each read back overflows to inf, or is 0, as the value does) */
    if (!f64 && isfinite(v) && (isinf(to_float(v)) || (v != 0 && to_float(v) == 0))) f64 = 1;
    if (v != v) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (f64 ? back == v : to_float(back) == to_float(v)) break;
    }
    /* %g writes 120 as 1.2e+02: plain digits read better where they are not too many */
    if (strchr(buf, 'e') && fabs(v) >= 1e-4 && fabs(v) < 1e15)
        for (int prec = 0; prec <= 20; prec++) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.*f", prec, v);
            double back = strtod(tmp, NULL);
            if (f64 ? back == v : to_float(back) == to_float(v)) {
                snprintf(buf, size, "%s", tmp);
                return;
            }
        }
}

static void print_rec(FILE *out, const double *v, const int64_t *dims, int rank, int axis, int64_t base, int f64,
                      int summarise, int indent) {
    int64_t n = dims[axis];
    int64_t stride = 1;
    for (int k = axis + 1; k < rank; k++) stride *= dims[k];
    fputc('[', out);
    for (int64_t i = 0; i < n; i++) {
        if (summarise && n > 6 && i == 3) {
            fprintf(out, axis == rank - 1 ? "..., " : "...,\n%*s", axis == rank - 1 ? 0 : indent + axis + 1, "");
            i = n - 3;
        }
        if (axis == rank - 1) {
            char b[40];
            drv_format_real(b, sizeof b, v[base + i], f64);
            fprintf(out, "%s%s", b, i + 1 < n ? ", " : "");
        } else {
            print_rec(out, v, dims, rank, axis + 1, base + i * stride, f64, summarise, indent);
            if (i + 1 < n) fprintf(out, ",\n%*s", indent + axis + 1, "");
        }
    }
    fputc(']', out);
}

void drv_print_tensor(FILE *out, const char *name, const Graph *g, const Shape *s, const double *v, int64_t n, int f64) {
    char sh[160];
    if (s->rank == 0) {
        char b[40];
        drv_format_real(b, sizeof b, v[0], f64);
        fprintf(out, "%s = %s\n", name, b);
        return;
    }
    int64_t dims[BP_MAXRANK];
    for (int k = 0; k < s->rank; k++) dims[k] = s->d[k].c;
    fprintf(out, "%s %s =\n  ", name, shape_str(s, &g->syms, sh, sizeof sh));
    print_rec(out, v, dims, s->rank, 0, 0, f64, n > 1000, 2);
    fputc('\n', out);
}

int drv_check_run_inputs(Diag *d, const Graph *g, const char *cmd, int repl) {
    if (g->ninputs <= BP_MAX_RUN_INPUTS) return 0;
    const Loc at = g->inputs[BP_MAX_RUN_INPUTS].loc;
    if (!repl)
        diag_error(d, at, "too many inputs for 'bpc %s': bpc grad, check, hvp, train and eval take at most %d inputs, "
                   "and this program has %d (bpc FILE.bp -o OUT.c takes more)", cmd, BP_MAX_RUN_INPUTS, g->ninputs);
    else
        diag_error(d, at, "too many inputs for %s%s%s: the REPL's expressions, :print, :grad, :check, :step, :train, "
                   ":eval and :inputs take at most %d inputs, and the session's program has %d (:emit c takes more)",
                   cmd ? "'" : "", cmd ? cmd : "an expression", cmd ? "'" : "", BP_MAX_RUN_INPUTS, g->ninputs);
    return -1;
}

int drv_random_inputs(const Model *m, Inputs *in, int size, uint64_t seed, char *err) {
    const Graph *g = m->g;
    memset(in, 0, sizeof *in);
    for (int s = 0; s < BP_MAXSYMS; s++) in->dims[s] = size;
    /* refused first (drv_check_run_inputs): the 65th was left NULL, and bpc check crashed in the model's code */
    BP_ASSERT(g->ninputs <= BP_MAX_RUN_INPUTS);
    for (int i = 0; i < g->ninputs; i++) {
        const Input *ip = &g->inputs[i];
        char sizes[160], what[400];
        const size_t n = drv_numel_at(&ip->shape, in->dims, ip->dtype == DT_INT ? "ints" : m->f64 ? "doubles" : "floats",
                                      sizes, sizeof sizes);
        snprintf(what, sizeof what, "random input '%.200s' (%s)", ip->name, sizes);
        /* (it returned -1 with no message: bpc check exited 1 without a word) */
        in->data[i] = drv_alloc_reals(n, ip->dtype == DT_INT ? sizeof(int32_t) : m->real_size, what, err);
        if (!in->data[i]) return -1;
        in->count[i] = n;
        const uint64_t span = ip->dtype == DT_INT ? (uint64_t)drv_random_label_span(g, i) : 2;
        for (size_t k = 0; k < n; k++) {
            if (ip->dtype == DT_INT) ((int32_t *)in->data[i])[k] = (int32_t)(bprt_rng_u64(seed, 500 + (uint64_t)i, k) % span);
            else drv_set(m, in->data[i], (int64_t)k, ip->has_default ? ip->def : bprt_rng_normal(seed, 500 + (uint64_t)i, k));
        }
    }
    return 0;
}

/* Central differences of 4th order in double: (8(f(+h) - f(-h)) - (f(+2h) - f(-2h))) / 12h,
 * at step sizes h, h/8, h/64, h/512 until two in a row agree (a curved function, sin(3000 a),
 * needs a small h); where none do, a kink (relu, abs, max) lies within 2h and the element
 * is skipped, and so is one whose one-sided slopes at the last step differ (a kink at the
 * point itself, relu(0): the central difference gives 1/2 at every step, and the gradient
 * PyTorch's 0); their second differences at h and 2h tell (2x apart for a kink, 4x for a
 * smooth function). Large parameters are sampled (200 elements chosen from the seed).
 * Each estimate carries the rounding of the losses it differences, 1.5 (2 eps max|f|) / h
 * (two ulps of each loss): two estimates agree within 1e-5 plus both roundings, the second
 * differences must exceed theirs (8 eps max|f|) to call a point a kink, and an element
 * whose difference from the gradient is above 1e-6 but within its estimate's rounding is
 * skipped as below the loss's rounding: a large loss with a small element (a term of 1e10
 * beside one of 0.2) had h/64's and h/512's differences both exactly 0, which agreed, and
 * the check reported FAILED for a right gradient. */
void *drv_workspace(size_t bytes, char *err) {
    char over[128];
    if (bytes >= SIZE_MAX / 2) { /* the generated NAME_workspace_size's "past 2^62 bytes" */
        bpc_memory_fits(0x1p62, over, sizeof over);
        snprintf(err, BPRT_ERRLEN, "the workspace at these sizes needs more than 2^62 bytes, more than %s", over);
        return NULL;
    }
    if (!bpc_memory_fits((double)bytes, over, sizeof over)) {
        snprintf(err, BPRT_ERRLEN, "the workspace at these sizes needs %zu bytes, more than %s", bytes, over);
        return NULL;
    }
    void *ws = bprt_alloc(bytes + 64);
    if (!ws) snprintf(err, BPRT_ERRLEN, "cannot allocate the workspace (%zu bytes)", bytes);
    return ws;
}

int drv_check_sizes(const Graph *g, const int *dims) {
    int64_t v;
    const char *what;
    const int at = emit_int_overflow(g, dims, &v, &what);
    if (at < 0) return 0;
    char sizes[400];
    size_t len = 0;
    sizes[0] = 0;
    for (int s = 0; s < g->syms.n && len < sizeof sizes; s++)
        len += (size_t)snprintf(sizes + len, sizeof sizes - len, "%s%s = %d", s ? ", " : "", g->syms.names[s], dims[s]);
    char msg[600];
    if (strcmp(what, "size") == 0)
        snprintf(msg, sizeof msg, "at these sizes (%s) this value has a size of %lld, more than 2147483647; use a smaller "
                 "batch", sizes, (long long)v);
    else
        snprintf(msg, sizeof msg, "at these sizes (%s) this matrix product %s %lld %s, more than a matrix product takes "
                 "(2147483647); use a smaller batch", sizes, strcmp(what, "rows") == 0 ? "has" : "sums", (long long)v,
                 what);
    const Loc l = g->nodes[at].loc;
    if (g->diag && l.file && l.line > 0) { /* the line and a caret, as every error in a program */
        fflush(stdout);
        ir_node_error(g->diag, &g->nodes[at], "%s", msg);
    } else
        diag_tool_error("%s", msg);
    return -1;
}

/* The largest value g computes at these sizes (of its forward values: what its program
 * writes), as bpc_compile's resource check finds it at sizes 1; -1 if none has a location. */
static int largest_value(const Graph *g, const int *dims) {
    int big = -1;
    size_t most = 0;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        char shape[8];
        const size_t k = drv_numel_at(&n->shape, dims, "", shape, sizeof shape);
        if (op_info[n->op].kind != OK_LEAF && !n->adjoint && n->loc.file && n->loc.line > 0 && (big < 0 || k > most)) {
            most = k;
            big = i;
        }
    }
    return big;
}

void *drv_model_workspace(const Model *m, const int *dims, const char *context) {
    const Graph *g = m->g;
    if (drv_check_sizes(g, dims) != 0) return NULL;
    char err[BPRT_ERRLEN];
    void *ws = drv_workspace(m->ws_size(dims), err);
    if (ws) return ws;
    const int big = g->diag ? largest_value(g, dims) : -1;
    if (big < 0) {
        diag_tool_error("%s%s%s; use a smaller batch", context ? context : "", context ? ": " : "", err);
        return NULL;
    }
    fflush(stdout); /* located as every error in a program: at the value that takes the most */
    ir_node_error(g->diag, &g->nodes[big], "%s%s%s; the largest value it computes is here; use a smaller batch",
               context ? context : "", context ? ": " : "", err);
    return NULL;
}

void *drv_alloc_reals(size_t n, size_t size, const char *what, char *err) {
    char over[128];
    if (n > (SIZE_MAX - 128) / (size ? size : 1) || !bpc_memory_fits((double)n * (double)size, over, sizeof over)) {
        if (n > (SIZE_MAX - 128) / (size ? size : 1)) bpc_memory_fits(0x1p64, over, sizeof over);
        snprintf(err, BPRT_ERRLEN, "cannot hold the %s: %.0f bytes, more than %s", what, (double)n * (double)size, over);
        return NULL;
    }
    void *p = bprt_alloc(n * size + 64);
    if (!p) snprintf(err, BPRT_ERRLEN, "cannot hold the %s: allocating %zu bytes failed (out of memory)", what, n * size);
    return p;
}

/* The rounding noise of the loss at p, measured as Moré and Wild's ECnoise does: the loss at
 * p and NOISE_POINTS - 1 points t apart on one side of it, along +d and along -d for
 * NOISE_DIRS / 2 random directions d of every parameter (each element's share t * 1e-8
 * max(1, |p|) z / sqrt(n), z normal, far above its ulp and far below any step check takes),
 * whose 6th differences hold the noise and, at this spacing, none of the loss's smooth part:
 * sigma^2 = (6!)^2 / 12! * their mean square. One-sided, so that a kink at p itself (relu at
 * 0: zero biases, black pixels; a tie) lies at an end of every line and not inside it, where
 * it would be taken for noise (10^6 ulps, hiding a wrong gradient). A loss summed over many
 * terms (batched products, convolutions, layer norms of layer norms) rounds at tens of ulps
 * or more, which the fixed model of two ulps a loss took for a wrong gradient. The
 * parameters are put back as they were: p is unchanged on return; 0 when a copy of them
 * does not fit in memory, or when *stop is set (Ctrl-C: the caller stops at once). */
enum { NOISE_DIRS = 2, NOISE_POINTS = 17, NOISE_ORDER = 6 };

static double loss_noise(const Model *m, double *p, const void *const *inp, const int *dims, void *ws, double f0,
                         uint64_t seed, volatile int *stop) {
    const Graph *g = m->g;
    const int64_t n = g->nparam_reals;
    char err[BPRT_ERRLEN];
    double *saved = drv_alloc_reals((size_t)n, sizeof(double), "parameters' copy", err);
    if (!saved) return 0; /* the model of two ulps a loss alone */
    memcpy(saved, p, (size_t)n * sizeof *p);
    double sum = 0;
    int count = 0;
    for (int d = 0; d < NOISE_DIRS && !(stop && *stop); d++) {
        double f[NOISE_POINTS];
        f[0] = f0;
        for (int j = 1; j < NOISE_POINTS && !(stop && *stop); j++) {
            const double t = d % 2 ? -j : j; /* along -d for the odd lines, d drawn for each pair */
            for (int64_t e = 0; e < n; e++)
                p[e] = saved[e] + t * 1e-8 * fmax(1, fabs(saved[e])) *
                                      bprt_rng_normal(seed, 3000 + (uint64_t)(d / 2), (uint64_t)e) / sqrt((double)n);
            f[j] = m->loss(p, inp, dims, ws);
        }
        for (int k = 0; k < NOISE_ORDER; k++) /* differences in place: f[0 .. POINTS-1-k-1] */
            for (int j = 0; j + k + 1 < NOISE_POINTS; j++) f[j] = f[j + 1] - f[j];
        for (int j = 0; j + NOISE_ORDER < NOISE_POINTS; j++, count++) sum += f[j] * f[j];
    }
    memcpy(p, saved, (size_t)n * sizeof *p);
    free(saved);
    if (stop && *stop) return 0;
    const double gamma = 720.0 * 720.0 / 479001600.0; /* (6!)^2 / 12! */
    const double s = sqrt(gamma * sum / count);
    return isfinite(s) ? s : 0;
}

int drv_check_gradients(FILE *out, const Model *m, void *params, const Inputs *in, uint64_t seed, volatile int *stop) {
    const Graph *g = m->g;
    BP_ASSERT(m->f64);
    if (g->nparams == 0) { /* said, not "ok: worst relative error 0" over nothing; not a failure */
        fprintf(out, "no parameters: nothing to check (the check compares the loss's gradient with respect to the "
                     "parameters against finite differences)\n");
        return 1;
    }
    double *p = params;
    char wserr[BPRT_ERRLEN];
    void *ws = drv_model_workspace(m, in->dims, NULL);
    if (!ws) return 0;
    double *grad = drv_alloc_reals((size_t)g->nparam_reals + 1, sizeof(double), "gradients", wserr);
    if (!grad) {
        diag_tool_error("%s", wserr);
        free(ws);
        return 0;
    }
    const void *const *inp = (const void *const *)in->data;
    m->grad(p, grad, inp, in->dims, ws);
    const double f0 = m->loss(p, inp, in->dims, ws); /* at the parameters as they are: each element goes back to them */
    if (!isfinite(f0)) { /* every difference would be NaN: no gradient to blame, nor any kink */
        fprintf(out, "the loss is %s at these parameters: nothing to compare (give other parameter values with --params)\n",
                isnan(f0) ? "nan" : f0 > 0 ? "inf" : "-inf");
        free(grad);
        free(ws);
        return 0;
    }
    const double noise = loss_noise(m, p, inp, in->dims, ws, f0, seed, stop);
    double worst_all = 0;
    int64_t compared = 0, sampled = 0, lost_all = 0, flat_all = 0;
    fprintf(out, "finite-difference check (double, 4th-order central differences, h = 1e-4 * max(1, |p|); magnitudes below 1e-3 count as 1e-3):\n");
    if (noise > 4 * DBL_EPSILON * fabs(f0)) { /* said where it is well above the two ulps of most losses */
        char ulps[64] = "";
        if (f0 != 0) snprintf(ulps, sizeof ulps, "; %.0f ulps of %.6g", noise / (DBL_EPSILON * fabs(f0)), f0);
        fprintf(out, "the loss rounds at about %.2g here (measured%s): a difference within 6 times that, over the "
                     "step, counts as rounding\n", noise, ulps);
    }
    for (int k = 0; k < g->nparams; k++) {
        const Param *pa = &g->params[k];
        int64_t n = pa->numel, samples = n <= 1000 ? n : 200;
        double worst = 0;
        int64_t kinks = 0, lost = 0;
        for (int64_t s = 0; s < samples; s++) {
            if (stop && *stop) {
                fprintf(out, "interrupted at %s, after %lld of its %lld elements checked: no verdict\n", pa->name,
                        (long long)s, (long long)samples);
                free(grad);
                free(ws);
                return -1;
            }
            int64_t i = n <= 1000 ? s : (int64_t)(bprt_rng_u64(seed, 1000 + (uint64_t)k, (uint64_t)s) % (uint64_t)n);
            double *x = &p[pa->offset + i], x0 = *x, h = 1e-4 * (fabs(x0) > 1 ? fabs(x0) : 1);
            const double an = grad[pa->offset + i];
            double fd = 0, prev = 0, f[4] = {0}, rnd = 0, prev_rnd = 0, fmag = 0;
            int agreed = 0;
            for (int r = 0; r < 4 && !agreed; r++, h /= 8) {
                const double d[4] = {h, -h, 2 * h, -2 * h};
                fmag = fabs(f0);
                for (int t = 0; t < 4; t++) {
                    *x = x0 + d[t];
                    f[t] = m->loss(p, inp, in->dims, ws);
                    fmag = fmax(fmag, fabs(f[t]));
                }
                prev = fd;
                prev_rnd = rnd;
                fd = (8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * h);
                rnd = fmax(1.5 * 2 * DBL_EPSILON * fmag, 6 * noise) / h;
                agreed = r > 0 && fabs(fd - prev) <= 1e-5 * fmax(fmax(fabs(an), fabs(fd)), 1e-3) + rnd + prev_rnd;
            }
            h *= 8; /* the last step taken */
            *x = x0;
            const double scale = fmax(fmax(fabs(an), fabs(fd)), 1e-3);
            /* second differences at h and 2h: a kink at x0 makes them grow as the step (the
               one-sided slopes differ), a smooth function as its square */
            const double d1 = f[0] - 2 * f0 + f[1], d2 = f[2] - 2 * f0 + f[3];
            const int at_point = fabs(d1) > 1e-3 * scale * h + fmax(8 * DBL_EPSILON * fmag, 15 * noise) &&
                                 fabs(d2) < 3 * fabs(d1);
            if (!agreed || at_point) {
                kinks++;
                continue;
            }
            double err = fabs(an - fd) / scale;
            if (err > 1e-6 && fabs(an - fd) <= rnd) { /* a difference the losses' rounding explains: no evidence */
                lost++;
                continue;
            }
            /* the loss the same at every step: a tie on a flat stretch, maximum(minimum(a, 1), 1)
               at a = 1, whose gradient is PyTorch's share (0.25) and derivative 0 */
            if (err > 1e-6 && f[0] == f0 && f[1] == f0 && f[2] == f0 && f[3] == f0) flat_all++;
            if (!(err <= worst)) worst = err;
        }
        char sh[160], kb[64] = "", lb[80] = "";
        if (kinks) snprintf(kb, sizeof kb, ", %lld at kinks skipped", (long long)kinks);
        if (lost) snprintf(lb, sizeof lb, ", %lld below the loss's rounding skipped", (long long)lost);
        fprintf(out, "  %-12s %-14s max relative error %.2e (%lld of %lld elements%s%s)\n", pa->name,
                shape_str(&pa->shape, &g->syms, sh, sizeof sh), drv_printable(worst), (long long)(samples - kinks - lost),
                (long long)n, kb, lb);
        if (!(worst <= worst_all)) worst_all = worst;
        compared += samples - kinks - lost;
        lost_all += lost;
        sampled += samples;
    }
    int ok = worst_all <= 1e-6;
    if (ok && sampled && !compared) { /* no evidence: not "ok" */
        fprintf(out, "inconclusive: every element checked lies at a kink%s, so no gradient was compared (give other "
                "parameter values with --params)\n", lost_all ? " or below the loss's rounding" : "");
        ok = 0;
    } else
        fprintf(out, "%s: worst relative error %.2e %s 1e-6\n", ok ? "ok" : "FAILED", drv_printable(worst_all), ok ? "<=" : ">");
    if (flat_all)
        fprintf(out, "note: %lld element%s FAILED where the loss does not change at any step: a tie on a flat stretch "
                "(maximum(minimum(a, 1), 1) at a = 1) has a derivative of 0 and, as in PyTorch, a share of the gradient "
                "(torch.autograd.gradcheck fails there too); other parameter values tell it from a wrong gradient\n",
                (long long)flat_all, flat_all == 1 ? "" : "s");
    free(grad);
    free(ws);
    return ok;
}
