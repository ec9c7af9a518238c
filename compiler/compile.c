/* compile.c — see compile.h. The pipeline, in order. */
#include "compile.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autodiff.h"
#include "dist.h"
#include "passes.h"
#include "sema.h"

#define PROGRAM_MAX_BYTES ((size_t)64 << 20)

int bpc_read_file(const char *path, size_t max, char **text, size_t *len, char *err, size_t errlen) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %.300s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n;
    char *buf = malloc(cap);
    if (!buf) abort();
    while ((n = fread(buf + *len, 1, cap - *len - 1, f)) > 0) {
        *len += n;
        if (*len > max) { /* /dev/zero, or a pipe without end */
            fclose(f);
            free(buf);
            return -2;
        }
        if (*len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
    }
    int rd = ferror(f) ? errno : 0; /* a directory opens, then reads fail (EISDIR) */
    fclose(f);
    if (rd) {
        snprintf(err, errlen, "cannot read %.300s: %s", path, strerror(rd));
        free(buf);
        return -1;
    }
    buf[*len] = 0;
    *text = buf;
    return 0;
}

char *bpc_read_program(const char *path, char *err, size_t errlen) {
    char *buf;
    size_t len;
    int rc = bpc_read_file(path, PROGRAM_MAX_BYTES, &buf, &len, err, errlen);
    if (rc == -2) snprintf(err, errlen, "%s: program is larger than %zu MiB", path, PROGRAM_MAX_BYTES >> 20);
    if (rc) return NULL;
    if (strlen(buf) != len) { /* NUL bytes: the lexer would stop at the first */
        snprintf(err, errlen, "%s contains NUL bytes (is it a binary file?)", path);
        free(buf);
        return NULL;
    }
    return buf;
}

Graph *bpc_compile(Arena *a, Diag *d, const char *file, const char *text, const CompileOptions *o) {
    int errors = d->nerrors;
    Program *prog = parse_program(a, d, file, text);
    if (d->nerrors > errors) return NULL;
    return bpc_compile_program(a, d, prog, sema_model_name_from_path(a, file), o);
}

/* Reverse over reverse (ad_hvp), then simplified like the gradient. With o->hvp == 2 an op
 * without a second-order rule leaves the graph without hvps and reports nothing. */
static Graph *build_hvp(Graph *g, const CompileOptions *o) {
    Diag *d = g->diag, quiet;
    char *text = NULL;
    size_t len = 0;
    FILE *sink = NULL;
    if (o->hvp == 2) {
        sink = open_memstream(&text, &len);
        if (!sink) abort();
        diag_init(&quiet, sink);
        g->diag = &quiet;
    }
    int rc = ad_hvp(g);
    g->diag = d;
    if (sink) {
        fclose(sink);
        free(text);
    }
    if (rc != 0) {
        g->hvps = NULL;
        return g;
    }
    ir_verify(g);
    if (o->optimize) {
        g = pass_fold(g);
        ir_verify(g);
        g = pass_cse(g);
        ir_verify(g);
    }
    return g;
}

size_t bpc_memory_limit(int *from_env) {
    const char *lim = getenv("BPC_MEMORY_LIMIT");
    *from_env = 0;
    if (lim && *lim) { /* bytes, or with K, M, G or T: binary multiples (3G = 3 * 2^30) */
        char *end;
        errno = 0;
        unsigned long long v = lim[0] >= '0' && lim[0] <= '9' ? strtoull(lim, &end, 10) : 0;
        int shift = 0;
        if (v && errno == 0 && end[0] && !end[1]) switch (end[0]) {
            case 'K': case 'k': shift = 10, end++; break;
            case 'M': case 'm': shift = 20, end++; break;
            case 'G': case 'g': shift = 30, end++; break;
            case 'T': case 't': shift = 40, end++; break;
            default: break;
            }
        if (v && errno == 0 && !*end && v <= (SIZE_MAX >> shift)) {
            *from_env = 1;
            return (size_t)v << shift;
        }
        static int warned;
        if (!warned)
            diag_tool_warning("BPC_MEMORY_LIMIT='%s' is not a number of bytes (such as 3000000000 or 3G); "
                              "the machine's limits apply", lim);
        warned = 1;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

/* The first number after `key` at the start of a line of the file at path (a line of
 * /proc/meminfo, "MemAvailable:   24199500 kB", or of a cgroup's memory.stat,
 * "inactive_file 93331456"), times `unit`; -1 if the file or the key is not there. */
static double file_number(const char *path, const char *key, double unit) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    const size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && (line[n] == ' ' || line[n] == ':' || line[n] == '\t')) {
            char *end;
            const double x = strtod(line + n + (line[n] == ':'), &end);
            if (end != line + n + (line[n] == ':') && x >= 0) v = x * unit;
            break;
        }
    fclose(f);
    return v;
}

/* The number a cgroup file holds (memory.max: "max" is no limit, -1 as for no file). */
static double cgroup_number(const char *dir, const char *file) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[64] = "";
    double v = -1;
    if (fgets(buf, sizeof buf, f) && buf[0] >= '0' && buf[0] <= '9') v = strtod(buf, NULL);
    fclose(f);
    return v;
}

double bpc_meminfo_available(const char *meminfo) {
    return file_number(meminfo ? meminfo : "/proc/meminfo", "MemAvailable", 1024);
}

double bpc_cgroup_room(const char *proc_cgroup, const char *root) {
    if (!proc_cgroup) proc_cgroup = "/proc/self/cgroup";
    if (!root) root = "/sys/fs/cgroup";
    FILE *f = fopen(proc_cgroup, "r");
    if (!f) return -1;
    double room = -1;
    char line[PATH_MAX + 64];
    while (fgets(line, sizeof line, f)) { /* ID:CONTROLLERS:PATH */
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/') continue;
        *c1 = *c2 = 0; /* line: the ID */
        const char *ctrl = c1 + 1, *path = c2 + 1;
        int v1 = 0; /* the memory controller of cgroup v1 (in a list: "cpu,memory"), or v2's hierarchy */
        for (const char *p = ctrl; *p && !v1; p += strcspn(p, ","), p += *p == ',')
            v1 = strncmp(p, "memory", 6) == 0 && (p[6] == ',' || !p[6]);
        if (!v1 && !(strcmp(line, "0") == 0 && !*ctrl)) continue;
        char top[PATH_MAX], dir[PATH_MAX + 8];
        snprintf(top, sizeof top, "%s%s", root, v1 ? "/memory" : "");
        if (snprintf(dir, sizeof dir, "%s%s", top, strcmp(path, "/") == 0 ? "" : path) >= (int)sizeof dir) continue;
        for (;;) { /* this cgroup and each one above it: the least room any of them leaves */
            const double max = cgroup_number(dir, v1 ? "memory.limit_in_bytes" : "memory.max");
            const double used = cgroup_number(dir, v1 ? "memory.usage_in_bytes" : "memory.current");
            if (max >= 0 && max < 0x1p62 && used >= 0) { /* v1 says no limit with 2^63 less a page */
                char stat[PATH_MAX + 64];
                snprintf(stat, sizeof stat, "%s/memory.stat", dir);
                /* its page cache, which the kernel drops before it kills (as MemAvailable counts it) */
                const double inactive = file_number(stat, v1 ? "total_inactive_file" : "inactive_file", 1);
                const double active = file_number(stat, v1 ? "total_active_file" : "active_file", 1);
                const double r = (max > used ? max - used : 0) + (inactive > 0 ? inactive : 0) + (active > 0 ? active : 0);
                if (room < 0 || r < room) room = r;
            }
            if (strlen(dir) <= strlen(top)) break;
            *strrchr(dir, '/') = 0; /* the one above (PATH began with '/') */
        }
    }
    fclose(f);
    return room;
}

int bpc_memory_fits(double bytes, char *over, size_t len) {
    snprintf(over, len, "the bytes a size_t counts"); /* what remains when nothing else is known */
    int from_env;
    const size_t limit = bpc_memory_limit(&from_env);
    if (from_env) { /* the user's limit, in place of the machine's (which swap may pass) */
        if (bytes <= (double)limit) return 1;
        snprintf(over, len, "BPC_MEMORY_LIMIT (%zu bytes)", limit);
        return 0;
    }
    if (limit != SIZE_MAX && bytes > (double)limit) { /* the machine's memory (SIZE_MAX: unknown) */
        snprintf(over, len, "this machine's memory (%zu bytes)", limit);
        return 0;
    }
    /* what the kernel says can still be had without swapping, less a sixteenth kept for
       what bpc allocates unchecked besides (the JIT's code, small buffers) and the rest of
       the machine: past it, the memory touched was the OOM killer's (the process killed,
       a REPL's session lost) */
    const double avail = bpc_meminfo_available(NULL);
    if (avail >= 0 && bytes > avail - avail / 16) {
        snprintf(over, len, "the memory free on this machine (%.0f bytes)", avail - avail / 16);
        return 0;
    }
    const double room = bpc_cgroup_room(NULL, NULL);
    if (room >= 0 && bytes > room - room / 16) {
        snprintf(over, len, "the memory its control group leaves (%.0f bytes)", room - room / 16);
        return 0;
    }
    return 1;
}

/* Resource limit: the workspace of the largest function (the training step) with every
 * symbolic dimension 1 is the least any run can need; more than the machine's memory (or
 * BPC_MEMORY_LIMIT) is refused here, at the largest value the program computes, rather
 * than at run time. */
static void check_workspace(Graph *g, Diag *d) {
    if (g->loss < 0 && !g->noutputs) return;
    int64_t dims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = 1;
    EmitStats st;
    emit_stats(g, dims, 0, &st);
    int from_env;
    size_t limit = bpc_memory_limit(&from_env);
    if (st.workspace <= limit) return;
    int big = -1;
    int64_t most = -1;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        int over = 0;
        int64_t k = shape_const_numel(&n->shape, &over);
        if (op_info[n->op].kind != OK_LEAF && !n->adjoint && (over || k > most)) {
            most = over ? INT64_MAX : k;
            big = i;
        }
    }
    const Node *at = &g->nodes[big >= 0 ? big : g->loss >= 0 ? g->loss : g->outputs[0]];
    char over[64] = "this machine's memory";
    if (from_env) snprintf(over, sizeof over, "BPC_MEMORY_LIMIT (%zu bytes)", limit);
    ir_node_error(d, at,
               "the program needs a workspace of at least %zu bytes (every symbolic dimension 1), more than %s; "
               "the largest value it computes is here",
               st.workspace, over);
}

/* The REPL's Ctrl-C came: the pipeline stops at the end of the stage it is in. */
static int stopped(const CompileOptions *o) { return o->stop && *o->stop; }

Graph *bpc_compile_program(Arena *a, Diag *d, const Program *prog, const char *default_model, const CompileOptions *o) {
    CompileOptions defaults = {.optimize = 1};
    if (!o) o = &defaults;
    int errors = d->nerrors;
    SemaOptions so = {default_model, o->allow_expr_stmts, o->no_checkpoint};
    Graph *g = sema_program(a, d, prog, &so);
    if (d->nerrors > errors || stopped(o)) return NULL;
    ir_verify(g);
    if (o->optimize) {
        g = pass_fold(g); /* before reverse mode, so that fused forms get fused gradients */
        ir_verify(g);
        g = pass_cse(g); /* and shared values one adjoint: a def called twice on the same */
        ir_verify(g);    /* arguments is differentiated once, not once per call */
    }
    if (stopped(o)) return NULL;
    if (g->loss >= 0 && !o->no_grad) {
        if (ad_gradients(g, g->loss) != 0 || d->nerrors > errors || stopped(o)) return NULL;
        ir_verify(g);
    }
    if (o->optimize) {
        g = pass_fold(g);
        ir_verify(g);
        g = pass_cse(g);
        ir_verify(g);
    }
    if (stopped(o)) return NULL;
    if (o->hvp && g->loss >= 0 && !o->no_grad) {
        g = build_hvp(g, o);
        if (d->nerrors > errors || stopped(o)) return NULL;
    }
    if (!o->no_checkpoint) {
        if (o->optimize) remat_mark_layernorms(g);
        g = pass_remat(g); /* last: CSE would merge the recomputed copies back */
        ir_verify(g);
    }
    if (o->optimize) {
        g = pass_msum(g); /* after reverse mode: no rule differentiates its summed products */
        ir_verify(g);
        g->pair_gelu = 1; /* pass_gelu_pairs, on each generated function's own graph */
    }
    if (stopped(o)) return NULL;
    g = pass_dce(g, 1, 1, 1, 1);
    ir_verify(g);
    check_workspace(g, d);
    if (d->nerrors > errors) return NULL;
    return g;
}

char *bpc_emit_string(Graph *g, const EmitOptions *o, int header) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) abort();
    if (header) emit_c_header(f, g, o);
    else emit_c_source(f, g, o);
    fclose(f);
    return buf;
}

int bpc_model_jit(Model *m, Graph *g, int f64, JitKind kind, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    EmitOptions eo = {f64, 1, 0, NULL, 1, 0, kind == JIT_TCC};
    char *code = bpc_emit_string(g, &eo, 0);
    m->jit = jit_compile(code, kind, err, errlen);
    m->code_hash = dist_hash(0xcbf29ce484222325ULL, code, strlen(code));
    free(code);
    if (!m->jit) return -1;
    m->g = g;
    m->f64 = f64;
    m->real_size = f64 ? sizeof(double) : sizeof(float);
    m->ws_size = (EntryWs)jit_symbol(m->jit, "bp_ws_entry");
    m->opt_size = (EntryOptSize)jit_symbol(m->jit, "bp_opt_size_entry");
    m->init = (EntryInit)jit_symbol(m->jit, "bp_init_entry");
    m->forward = (EntryForward)jit_symbol(m->jit, "bp_forward_entry");
    m->loss = (EntryLoss)jit_symbol(m->jit, "bp_loss_entry");
    m->loss_eval = (EntryLoss)jit_symbol(m->jit, "bp_loss_eval_entry");
    m->grad = (EntryGrad)jit_symbol(m->jit, "bp_grad_entry");
    m->grad_seeded = (EntryGradSeeded)jit_symbol(m->jit, "bp_grad_seeded_entry");
    m->hvp = (EntryHvp)jit_symbol(m->jit, "bp_hvp_entry");
    m->train_step = (EntryStep)jit_symbol(m->jit, "bp_train_step_entry");
    m->update = (EntryUpdate)jit_symbol(m->jit, "bp_update_entry");
    if (!m->ws_size || !m->init || !m->update) {
        snprintf(err, errlen, "JIT: generated entry points not found");
        jit_free(m->jit);
        m->jit = NULL;
        return -1;
    }
    return 0;
}

void bpc_model_free(Model *m) {
    jit_free(m->jit);
    m->jit = NULL;
}
