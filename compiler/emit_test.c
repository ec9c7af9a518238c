/* emit_test.c — `bpc --emit=test`: a self-check program for the generated code.
 *
 * The program includes the generated header, initialises the parameters and moves each by a
 * fixed pseudo-random amount (parameters initialised to zero sit where relu, abs and maximum
 * have kinks and ties, and where many gradients are 0: the check wants a generic point),
 * fills the inputs with fixed pseudo-random values (symbolic sizes = 4, labels in range), checks that
 * NAME_grad_seeded with seed 0 is NAME_grad and that NAME_loss_eval is finite (without
 * dropout: NAME_loss), compares NAME_grad with central finite differences of NAME_loss on
 * a sample of elements of every parameter, NAME_hvp (when the code has it) with central
 * differences of NAME_grad along v, then runs a few NAME_train_steps and checks that the
 * loss went down. It prints what it checked and exits 0 or 1.
 * Build: cc OUT.c OUT_test.c $(pkg-config --cflags --libs bprt). */
#include <string.h>

#include "driver.h"
#include "emit.h"

static void args(FILE *out, const Graph *g) {
    for (int i = 0; i < g->ninputs; i++) fprintf(out, ", in%d", i);
    for (int s = 0; s < g->syms.n; s++) fprintf(out, ", 4");
}

/* Frees what main allocated (so that the program runs clean under LeakSanitizer). */
static void free_all(FILE *out, const Graph *g) {
    fprintf(out, "    free(params);\n    free(grad);\n    free(ws);\n    free(opt);\n");
    for (int i = 0; i < g->ninputs; i++) fprintf(out, "    free(in%d);\n", i);
}

void emit_test_program(FILE *out, Graph *g, const EmitOptions *o, const char *header) {
    const char *m = g->model;
    fprintf(out, "/* Self-check of the code bpc generated for '%s'. */\n", m);
    fprintf(out, "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"%s\"\n\n", header);
    fprintf(out, "static double rnd(unsigned *s) { *s = *s * 1103515245u + 12345u; return ((*s >> 8) & 0xffff) / 65536.0 - 0.5; }\n");
    /* a NaN prints as nan, never -nan, as bpc prints it */
    fprintf(out, "static double shown(double v) { return v == v ? v : fabs(v); }\n\n");
    fprintf(out, "int main(void) {\n    unsigned seed = 12345;\n    int failed = 0;\n    (void)rnd(&seed);\n");
    char up[256];
    size_t k = 0;
    for (; m[k] && k + 1 < sizeof up; k++) up[k] = (char)(m[k] >= 'a' && m[k] <= 'z' ? m[k] - 32 : m[k]);
    up[k] = 0;
    fprintf(out, "    const size_t np = %s_NPARAMS;\n", up);
    fprintf(out, "    real *params = malloc(sizeof(real) * np + 1), *grad = malloc(sizeof(real) * np + 1);\n");
    fprintf(out, "    size_t wsz = %s_workspace_size(", m);
    for (int s = 0; s < g->syms.n; s++) fprintf(out, "%s4", s ? ", " : "");
    fprintf(out, ");\n    void *ws = malloc(wsz + 64), *opt = calloc(1, %s_opt_state_size() + 64);\n", m);
    for (int i = 0; i < g->ninputs; i++) {
        const Input *in = &g->inputs[i];
        long long n = 1;
        for (int d = 0; d < in->shape.rank; d++) n *= (long long)in->shape.d[d].c * (in->shape.d[d].sym >= 0 ? 4 : 1);
        if (in->dtype == DT_INT) {
            /* labels index the last axis of whatever they are compared with: kept small */
            const long long classes = drv_random_label_span(g, i);
            fprintf(out, "    int32_t *in%d = malloc(sizeof(int32_t) * %lld);\n", i, n);
            fprintf(out, "    for (long i = 0; i < %lld; i++) in%d[i] = (int32_t)(i %% %lld);\n", n, i, classes);
        } else {
            fprintf(out, "    real *in%d = malloc(sizeof(real) * %lld);\n", i, n);
            if (in->has_default) fprintf(out, "    for (long i = 0; i < %lld; i++) in%d[i] = (real)%.17g;\n", n, i, in->def);
            else fprintf(out, "    for (long i = 0; i < %lld; i++) in%d[i] = (real)rnd(&seed);\n", n, i);
        }
    }
    if (g->loss < 0) {
        fprintf(out, "    (void)failed;\n    (void)shown;\n    puts(\"no loss: nothing to check\");\n");
        free_all(out, g);
        fprintf(out, "    return 0;\n}\n");
        return;
    }
    fprintf(out, "    %s_init(params, 1);\n    for (size_t i = 0; i < np; i++) params[i] += (real)(0.2 * rnd(&seed));\n", m);
    fprintf(out, "    real loss0 = %s_grad(params, grad", m);
    args(out, g);
    fprintf(out, ", ws);\n    if (!(loss0 - loss0 == 0)) {\n"
                 "        printf(\"the loss is %%g at these parameters: the gradient check shows nothing\\n\", shown(loss0));\n"
                 "        failed = 1;\n    }\n");
    /* NAME_grad is NAME_grad_seeded with seed 0; NAME_loss_eval (dropout the identity) is
       finite, and NAME_loss itself for a program without dropout */
    fprintf(out, "    {\n        real *gs = malloc(sizeof(real) * np + 1);\n        real ls = %s_grad_seeded(params, gs", m);
    args(out, g);
    fprintf(out, ", 0, ws);\n        if (!(ls == loss0 || (ls != ls && loss0 != loss0)) || (np && memcmp(gs, grad, sizeof(real) * np) != 0)) {\n"
                 "            puts(\"%s_grad_seeded with seed 0 differs from %s_grad\");\n            failed = 1;\n        }\n"
                 "        free(gs);\n        real le = %s_loss_eval(params", m, m, m);
    args(out, g);
    fprintf(out, ", ws), l = %s_loss(params", m);
    args(out, g);
    const int drop = emit_has_dropout(g);
    fprintf(out, ", ws);\n        printf(\"%s_loss %%g, %s_loss_eval %%g%s\\n\", shown(l), shown(le));\n"
                 "        if (!(le - le == 0)%s) failed = 1;\n    }\n",
            m, m, drop ? " (dropout the identity)" : "", drop ? "" : " || !(le == l)");
    fprintf(out, "    double worst = 0;\n    size_t checked = 0;\n");
    /* double: 4th-order central differences, (8(f(+h) - f(-h)) - (f(+2h) - f(-2h))) / 12h, at
     * h and h/2; where the two disagree a kink (relu, max) lies within 2h and the element is
     * skipped, as bpc check does. float: 2nd order with a large step, at h and h/2 likewise
     * (to 1e-2). With every element skipped the check has shown nothing: that fails. */
    fprintf(out, "    size_t kinks = 0;\n    for (size_t i = 0; i < np; i += np / 50 + 1) {\n"
                 "        real x0 = params[i];\n        double h = %s * (fabs((double)x0) > 1 ? fabs((double)x0) : 1);\n"
                 "        double f[6];\n        const double step[6] = {1, -1, 2, -2, 0.5, -0.5};\n"
                 "        for (int k = 0; k < %d; k++) {\n"
                 "            params[i] = (real)(x0 + step[k] * h);\n            f[k] = %s_loss(params",
            o->f64 ? "1e-4" : "1e-2", 6, m);
    args(out, g);
    fprintf(out, ", ws);\n        }\n        params[i] = x0;\n        double an = grad[i];\n");
    if (o->f64)
        fprintf(out, "        double fd = (8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * h);\n"
                     "        double fd2 = (8 * (f[4] - f[5]) - (f[0] - f[1])) / (6 * h);\n"
                     "        if (fabs(fd - fd2) / fmax(fmax(fabs(fd), fabs(an)), 1e-3) > 1e-5) { kinks++; continue; }\n");
    else
        fprintf(out, "        double fd = (f[0] - f[1]) / (2 * h), fd2 = (f[4] - f[5]) / h;\n"
                     "        if (fabs(fd - fd2) / fmax(fmax(fabs(fd), fabs(an)), 1e-1) > 1e-2) { kinks++; continue; }\n");
    fprintf(out, "        double err = fabs(an - fd) / fmax(fmax(fabs(an), fabs(fd)), %s);\n"
                 "        if (!(err <= worst)) worst = err;\n        checked++;\n    }\n",
            o->f64 ? "1e-4" : "1e-1");
    fprintf(out, "    printf(\"%s_grad against finite differences: %%zu elements, worst relative error %%.2e%%s\\n\", checked, shown(worst),\n"
                 "           kinks ? \" (elements next to a kink skipped)\" : \"\");\n", m);
    fprintf(out, "    if (!(worst <= %s) || (kinks && !checked)) failed = 1;\n", o->f64 ? "1e-5" : "5e-2");
    if (g->hvps) {
        /* NAME_hvp: the Hessian is symmetric, <u, H v> = <v, H u>, in either precision; in
         * double also H v against (grad(p + h v) - grad(p - h v)) / 2h in the 2-norm, with h
         * small enough that relu kinks and maxpool ties are rarely crossed */
        fprintf(out, "    {\n        real *v = malloc(sizeof(real) * np + 1), *u = malloc(sizeof(real) * np + 1);\n"
                     "        real *hv = malloc(sizeof(real) * np + 1), *hu = malloc(sizeof(real) * np + 1);\n"
                     "        double uhv = 0, vhu = 0, nu = 0, nv = 0, nhv = 0, nhu = 0;\n"
                     "        for (size_t i = 0; i < np; i++) { v[i] = (real)rnd(&seed); u[i] = (real)rnd(&seed); }\n"
                     "        %s_hvp(params, v, hv", m);
        args(out, g);
        fprintf(out, ", ws);\n        %s_hvp(params, u, hu", m);
        args(out, g);
        fprintf(out, ", ws);\n        for (size_t i = 0; i < np; i++) {\n"
                     "            uhv += (double)u[i] * hv[i];\n            vhu += (double)v[i] * hu[i];\n"
                     "            nu += (double)u[i] * u[i];\n            nv += (double)v[i] * v[i];\n"
                     "            nhv += (double)hv[i] * hv[i];\n            nhu += (double)hu[i] * hu[i];\n        }\n"
                     "        double sym = fabs(uhv - vhu) / (sqrt(nu * nhv) + sqrt(nv * nhu) + 1e-30);\n"
                     "        printf(\"%s_hvp: <u, H v> - <v, H u> relative %%.2e\\n\", shown(sym));\n"
                     "        if (!(sym <= %s)) failed = 1;\n", m, o->f64 ? "1e-9" : "1e-5");
        if (o->f64) {
            fprintf(out, "        real *p0 = malloc(sizeof(real) * np + 1), *gp = malloc(sizeof(real) * np + 1);\n"
                         "        const double h = 1e-8;\n        double num = 0, den = 0;\n"
                         "        memcpy(p0, params, sizeof(real) * np);\n"
                         "        for (size_t i = 0; i < np; i++) params[i] = p0[i] + h * v[i];\n        %s_grad(params, gp", m);
            args(out, g);
            fprintf(out, ", ws);\n        for (size_t i = 0; i < np; i++) params[i] = p0[i] - h * v[i];\n        %s_grad(params, grad", m);
            args(out, g);
            fprintf(out, ", ws);\n        memcpy(params, p0, sizeof(real) * np);\n"
                         "        for (size_t i = 0; i < np; i++) {\n"
                         "            double fd = (gp[i] - grad[i]) / (2 * h), d = hv[i] - fd;\n"
                         "            num += d * d;\n            den += fd * fd > hv[i] * hv[i] ? fd * fd : hv[i] * hv[i];\n"
                         "        }\n        worst = sqrt(num / (den > 1e-24 ? den : 1e-24));\n"
                         "        printf(\"%s_hvp against differences of %s_grad: relative error (2-norm) %%.2e\\n\", shown(worst));\n"
                         "        if (!(worst <= 1e-5)) failed = 1;\n        free(p0);\n        free(gp);\n", m, m);
        }
        fprintf(out, "        free(v);\n        free(u);\n        free(hv);\n        free(hu);\n    }\n");
    }
    /* a loss whose gradient is zero everywhere (no parameter changes it) stays as it is */
    fprintf(out, "    double gnorm = 0;\n    for (size_t i = 0; i < np; i++) gnorm += (double)grad[i] * grad[i];\n");
    fprintf(out, "    real loss = loss0;\n    for (int s = 0; s < 20; s++) loss = %s_train_step(params, opt", m);
    args(out, g);
    fprintf(out, ", (real)%.17g, ws);\n", g->opt.lr > 0 ? g->opt.lr : 0.01);
    fprintf(out, "    loss = %s_loss(params", m);
    args(out, g);
    fprintf(out, ", ws);\n    printf(\"%s_train_step x20: loss %%g -> %%g%%s\\n\", shown(loss0), shown(loss),\n"
                 "           gnorm == 0 ? \" (its gradient is 0: it stays)\" : \"\");\n", m);
    fprintf(out, "    if (gnorm == 0 ? !(loss == loss0) : !(loss < loss0)) failed = 1;\n");
    /* NAME_update on its own: it must refuse a non-finite gradient, changing nothing */
    fprintf(out, "    if (np) {\n        grad[0] = (real)NAN;\n"
                 "        if (%s_update(params, opt, grad, (real)0.1) != -1) { puts(\"%s_update accepted a NaN gradient\"); failed = 1; }\n    }\n",
            m, m);
    if (g->noutputs) {
        fprintf(out, "    {\n");
        for (int i = 0; i < g->noutputs; i++) {
            const Shape *sh = &g->nodes[g->outputs[i]].shape;
            long long n = 1;
            for (int d = 0; d < sh->rank; d++) n *= (long long)sh->d[d].c * (sh->d[d].sym >= 0 ? 4 : 1);
            fprintf(out, "        real *out%d = malloc(sizeof(real) * %lld);\n", i, n);
        }
        fprintf(out, "        %s_forward(params", m);
        const char *used = emit_forward_inputs(g);
        for (int i = 0; i < g->ninputs; i++)
            if (used[i]) fprintf(out, ", in%d", i);
        for (int i = 0; i < g->noutputs; i++) fprintf(out, ", out%d", i);
        for (int s = 0; s < g->syms.n; s++) fprintf(out, ", 4");
        fprintf(out, ", ws);\n");
        for (int i = 0; i < g->noutputs; i++) fprintf(out, "        if (!(out%d[0] == out%d[0])) { puts(\"forward output is NaN\"); failed = 1; }\n        free(out%d);\n", i, i, i);
        fprintf(out, "        puts(\"%s_forward: outputs finite\");\n    }\n", m);
    }
    free_all(out, g);
    fprintf(out, "    puts(failed ? \"FAILED\" : \"ok\");\n    return failed;\n}\n");
}
