/* test_checkpoint.c — activation checkpointing (`checkpoint NAME = EXPR`, pass_remat.c).
 *
 * A chain of six tanh layers on [B, 512] activations, with h2 and h4 marked: the planned
 * workspace of the training step shrinks (emit_stats at B = 64, and the JIT's
 * NAME_workspace_size agrees with it), the gradients are bit for bit those of the same
 * program without the marks (float and double), the marked values are recomputed in the
 * backward section of the IR, and a narrow version passes the finite-difference check.
 * The same for `checkpoint def`: three two-layer blocks whose insides are recomputed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

/* The chain with width W, and `checkpoint` before h2 and h4 when marked. */
static char *chain(int width, int marked) {
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    fprintf(f, "input x[B, %d]\ninput y[B, %d]\n", width, width);
    for (int l = 1; l <= 6; l++) fprintf(f, "param W%d[%d, %d] = xavier\nparam b%d[%d] = normal(0.1)\n", l, width, width, l, width);
    for (int l = 1; l <= 6; l++) {
        char prev[8] = "x";
        if (l > 1) snprintf(prev, sizeof prev, "h%d", l - 1);
        fprintf(f, "%sh%d = tanh(%s @ W%d + b%d)\n", marked && (l == 2 || l == 4) ? "checkpoint " : "", l, prev, l, l);
    }
    fprintf(f, "loss mse(h6, y)\n");
    fclose(f);
    return s;
}

/* Three blocks of two tanh layers on [B, 512]; `checkpoint def` when marked. */
static char *blocks(int marked) {
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    fprintf(f, "input x[B, 512]\ninput y[B, 512]\n");
    for (int l = 1; l <= 6; l++) fprintf(f, "param W%d[512, 512] = xavier\nparam b%d[512] = normal(0.1)\n", l, l);
    fprintf(f, "%sdef block(h, A, a, C, c) {\n    t = tanh(h @ A + a)\n    return tanh(t @ C + c)\n}\n",
            marked ? "checkpoint " : "");
    fprintf(f, "h1 = block(x, W1, b1, W2, b2)\nh2 = block(h1, W3, b3, W4, b4)\nh3 = block(h2, W5, b5, W6, b6)\n");
    fprintf(f, "loss mse(h3, y)\n");
    fclose(f);
    return s;
}

typedef struct Compiled {
    Arena *arena;
    Diag diag;
    Graph *g;
} Compiled;

static void compile_text(Compiled *c, const char *text, int no_checkpoint) {
    c->arena = arena_new();
    diag_init(&c->diag, stderr);
    const char *name = diag_add_source(&c->diag, "t.bp", text);
    CompileOptions co = {.optimize = 1, .no_checkpoint = no_checkpoint};
    c->g = bpc_compile(c->arena, &c->diag, name, text, &co);
    assert_non_null(c->g);
}

static void compiled_free(Compiled *c) {
    diag_free(&c->diag);
    arena_free(c->arena);
}

static void test_workspace_shrinks(void **state) {
    (void)state;
    char *marked = chain(512, 1), *plain = chain(512, 0);
    int64_t dims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = 64;
    Compiled cm, cm0, cp;
    compile_text(&cm, marked, 0);
    compile_text(&cm0, marked, 1); /* the marks ignored */
    compile_text(&cp, plain, 0);
    EmitStats with, ignored, without;
    emit_stats(cm.g, dims, 0, &with);
    emit_stats(cm0.g, dims, 0, &ignored);
    emit_stats(cp.g, dims, 0, &without);
    /* two [64, 512] floats (128 KiB each) fewer buffers, everything else as planned */
    assert_int_equal(without.workspace - with.workspace, 2 * 64 * 512 * 4);
    assert_int_equal(without.grad_workspace - with.grad_workspace, 2 * 64 * 512 * 4);
    assert_int_equal(with.grad_buffers + 2, without.grad_buffers);
    /* with the marks ignored (what --stats compares against) it is the plain program */
    assert_memory_equal(&ignored, &without, sizeof ignored);
    /* matmul, bias add and tanh of h2 and of h4, once each */
    assert_int_equal(with.recomputed_nodes, 6);
    assert_int_equal(without.recomputed_nodes, 0);
    assert_int_equal(with.forward_nodes, without.forward_nodes);
    assert_int_equal(with.backward_nodes, without.backward_nodes + 6);
    /* the generated NAME_workspace_size says the same */
    for (int k = 0; k < 2; k++) {
        Model m;
        char err[4096];
        assert_int_equal(bpc_model_jit(&m, k ? cp.g : cm.g, 0, JIT_TCC, err, sizeof err), 0);
        int idims[BP_MAXSYMS] = {64};
        assert_int_equal(m.ws_size(idims), k ? without.workspace : with.workspace);
        bpc_model_free(&m);
    }
    compiled_free(&cm);
    compiled_free(&cm0);
    compiled_free(&cp);
    free(marked);
    free(plain);
}

/* NAME_workspace_size of g's --standalone output (compiled by libtcc) at sizes dims */
static size_t standalone_ws(Graph *g, const int *dims) {
    const EmitOptions eo = {0, 0, 0, NULL, 1, 1, 0}; /* float, entry points, standalone */
    char *code = bpc_emit_string(g, &eo, 0), err[4096] = "";
    Jit *j = jit_compile(code, JIT_TCC, err, sizeof err);
    free(code);
    if (!j) fail_msg("standalone: %s", err);
    EntryWs ws = (EntryWs)jit_symbol(j, "bp_ws_entry");
    assert_non_null(ws);
    const size_t n = ws(dims);
    jit_free(j);
    return n;
}

/* Compiles text into c and works out its --stats at every size 64 into st; the JIT-compiled
 * NAME_workspace_size at those sizes must say the same bytes. */
static void stats_at_64(Compiled *c, const char *text, EmitStats *st) {
    int64_t dims[BP_MAXSYMS];
    int idims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = idims[s] = 64;
    compile_text(c, text, 0);
    emit_stats(c->g, dims, 0, st);
    Model m;
    char err[4096];
    assert_int_equal(bpc_model_jit(&m, c->g, 0, JIT_TCC, err, sizeof err), 0);
    assert_int_equal(m.ws_size(idims), st->workspace);
    bpc_model_free(&m);
}

/* --stats's standalone_scratch_bytes (EmitStats.standalone_workspace): --standalone output
 * writes an attention chain's softmax gradient over y and makes each product in a scratch of
 * its own (plan.h's product_temp), which its NAME_workspace_size counts and libbprt's does
 * not: tiny_gpt at B = 64 plans one [64, 64] float product (16 KiB) more; the checkpointed
 * chain, without attention, the same. Both against the generated functions. fashion_cnn's
 * convolutions have scratch buffers of their own (im2col: plan.h), which both count too (they
 * were most of its workspace: without them --stats said 26,126,464 bytes at B = 64 against
 * the generated 36,650,624, before buffers of different sizes were merged). */
static void test_standalone_workspace(void **state) {
    (void)state;
    char *gpt = th_read_text("examples/tiny_gpt.bp"), *marked = chain(512, 1),
         *cnn = th_read_text("examples/fashion_cnn.bp");
    assert_non_null(gpt);
    assert_non_null(cnn);
    const char *texts[] = {gpt, marked, cnn};
    int idims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) idims[s] = 64;
    for (int k = 0; k < 3; k++) {
        Compiled c;
        EmitStats st;
        stats_at_64(&c, texts[k], &st);
        assert_int_equal(st.standalone_workspace - st.workspace, k ? 0 : 64 * 64 * 4);
        assert_int_equal(standalone_ws(c.g, idims), st.standalone_workspace);
        compiled_free(&c);
    }
    free(gpt);
    free(marked);
    free(cnn);
}

/* Buffers of different sizes never in use at once are one buffer (plan.c's merging). In
 * tanh(tanh(x @ W1) @ W2) on [B, 256] -> [B, 1024] -> [B, 64], NAME_grad's plan at B = 64 holds
 * h = tanh(x @ W1) and the gradient g @ W2ᵀ [B, 1024] of it, the second tanh's result t and its
 * gradient [B, 64], and two scalars; the [B, 1024] gradient is written where t was (t is read
 * last by the loss's gradient before it): one [B, 64] buffer fewer than the 573,568 bytes of a
 * plan with one buffer per size. The examples' training steps, as --stats and the generated
 * NAME_train_workspace_size give them: fashion_cnn 31,804,608 bytes (36,656,896 with one
 * buffer per size), tiny_gpt 55,612,992 (59,807,296), the same generated calls. */
static void test_sizes_merged(void **state) {
    (void)state;
    char *gpt = th_read_text("examples/tiny_gpt.bp"), *cnn = th_read_text("examples/fashion_cnn.bp");
    assert_non_null(gpt);
    assert_non_null(cnn);
    const char *texts[] = {"input x[B, 256]\ninput y[B, 64]\nparam W1[256, 1024] = xavier\nparam W2[1024, 64] = xavier\n"
                           "h = tanh(x @ W1)\nloss mse(tanh(h @ W2), y)\n",
                           cnn, gpt};
    const size_t want[] = {2 * 64 * 1024 * 4 + 2 * 64 * 64 * 4 + 2 * 64, 31804608, 55612992};
    for (int k = 0; k < 3; k++) {
        Compiled c;
        EmitStats st;
        stats_at_64(&c, texts[k], &st);
        assert_int_equal(k ? st.workspace : st.grad_workspace, want[k]);
        compiled_free(&c);
    }
    free(gpt);
    free(cnn);
}

/* A def called twice with the same weights A, C (shared) or with its own second pair A2, C2 */
static const char *const shared_mlp = "input x[B, 64]\ninput y[B, 64]\nparam A[64, 256] = xavier\nparam C[256, 64] = xavier\n"
                                      "def mlp(h, P, Q) = h + tanh(gelu(h @ P) @ Q)\n"
                                      "loss mse(mlp(mlp(x, A, C), A, C), y)\n";
static const char *const unshared_mlp =
    "input x[B, 64]\ninput y[B, 64]\nparam A[64, 256] = xavier\nparam C[256, 64] = xavier\n"
    "param A2[64, 256] = xavier\nparam C2[256, 64] = xavier\ndef mlp(h, P, Q) = h + tanh(gelu(h @ P) @ Q)\n"
    "loss mse(mlp(mlp(x, A, C), A2, C2), y)\n";

/* a and b built from the programs pa and pb (f64: in double) at size 16, both compiled */
static void build_twins(TestModel *a, TestModel *b, const char *pa, const char *pb, int f64) {
    int sizes[1] = {16};
    th_build(a, pa, f64, sizes);
    th_build(b, pb, f64, sizes);
    assert_true(a->ok && b->ok);
}

/* build_twins' models freed, and their gradients' and workspaces' buffers */
static void free_twins(TestModel *a, TestModel *b, void *ga, void *gb, void *wa, void *wb) {
    free(ga);
    free(gb);
    free(wa);
    free(wb);
    th_free(a);
    th_free(b);
}

/* A weight's gradient is the sum of its uses' terms; the first (the second call's, made
 * first) is written straight to the gradient's place, and the other's product added there,
 * rather than kept in a workspace buffer of the weight's size until the sum (emit_c.c's
 * pin_first_terms). NAME_grad's plan at B = 64: five [64, 256] values (the products before
 * gelu and after it, of both calls, and the backward pass's), four [64, 64], the loss, and one
 * [64, 256] for the second term's product, which its GEMM adds to the first: 458,816 bytes
 * (with each first term in a buffer of its own, two of [64, 256] and [256, 64] more:
 * 589,888). The gradients are the unshared program's two terms added, bit for bit. */
static void test_shared_weight_terms(void **state) {
    (void)state;
    int64_t dims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = 64;
    Compiled c;
    compile_text(&c, shared_mlp, 0);
    EmitStats st;
    emit_stats(c.g, dims, 0, &st);
    assert_int_equal(st.grad_workspace, 5 * 64 * 256 * 4 + 4 * 64 * 64 * 4 + 64 + 256 * 64 * 4);
    compiled_free(&c);
    for (int f64 = 0; f64 <= 1; f64++) {
        TestModel a, b;
        build_twins(&a, &b, shared_mlp, unshared_mlp, f64);
        th_randomize(&a, 11, 2);
        const size_t rs = a.m.real_size, half = (size_t)a.g->nparam_reals * rs; /* A and C */
        memcpy(b.params, a.params, half);
        memcpy((char *)b.params + half, a.params, half); /* A2 = A, C2 = C */
        for (int i = 0; i < 2; i++) memcpy(b.inputs[i], a.inputs[i], (size_t)16 * 64 * rs);
        void *ga = calloc(1, half), *gb = calloc(1, 2 * half);
        void *wa = malloc(a.m.ws_size(a.dims) + 64), *wb = malloc(b.m.ws_size(b.dims) + 64);
        assert_true(ga && gb && wa && wb);
        double la = a.m.grad(a.params, ga, (const void *const *)a.inputs, a.dims, wa);
        double lb = b.m.grad(b.params, gb, (const void *const *)b.inputs, b.dims, wb);
        assert_memory_equal(&la, &lb, sizeof la);
        for (size_t k = 0; k < (size_t)a.g->nparam_reals; k++)
            if (f64) {
                const double *x = ga, *y = gb;
                const double sum = y[k] + y[k + (size_t)a.g->nparam_reals];
                assert_memory_equal(&x[k], &sum, sizeof sum);
            } else {
                const float *x = ga, *y = gb;
                const float sum = y[k] + y[k + (size_t)a.g->nparam_reals];
                assert_memory_equal(&x[k], &sum, sizeof sum);
            }
        free_twins(&a, &b, ga, gb, wa, wb);
    }
}

/* `checkpoint def`: t of every call recomputed (3 copies of matmul, add, tanh), the results kept */
static void test_checkpoint_def(void **state) {
    (void)state;
    char *marked = blocks(1), *plain = blocks(0);
    int64_t dims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = 64;
    Compiled cm, cm0, cp;
    compile_text(&cm, marked, 0);
    compile_text(&cm0, marked, 1);
    compile_text(&cp, plain, 0);
    EmitStats with, ignored, without;
    emit_stats(cm.g, dims, 0, &with);
    emit_stats(cm0.g, dims, 0, &ignored);
    emit_stats(cp.g, dims, 0, &without);
    assert_memory_equal(&ignored, &without, sizeof ignored);
    assert_true(with.workspace < without.workspace);
    assert_true(with.grad_workspace < without.grad_workspace);
    assert_int_equal(with.recomputed_nodes, 9);
    compiled_free(&cm);
    compiled_free(&cm0);
    compiled_free(&cp);
    free(marked);
    free(plain);
}

/* the chain and the blocks, each against its unmarked twin, float and double */
static void test_gradients_unchanged(void **state) {
    (void)state;
    for (int program = 0; program < 2; program++) {
        char *marked = program ? blocks(1) : chain(512, 1), *plain = program ? blocks(0) : chain(512, 0);
        for (int f64 = 0; f64 <= 1; f64++) {
            TestModel a, b;
            build_twins(&a, &b, marked, plain, f64);
            th_randomize(&a, 7, 2);
            th_randomize(&b, 7, 2);
            size_t bytes = (size_t)a.g->nparam_reals * a.m.real_size;
            void *ga = calloc(1, bytes), *gb = calloc(1, bytes);
            void *wa = malloc(a.m.ws_size(a.dims) + 64), *wb = malloc(b.m.ws_size(b.dims) + 64);
            assert_true(ga && gb && wa && wb);
            double la = a.m.grad(a.params, ga, (const void *const *)a.inputs, a.dims, wa);
            double lb = b.m.grad(b.params, gb, (const void *const *)b.inputs, b.dims, wb);
            assert_memory_equal(&la, &lb, sizeof la);
            assert_memory_equal(ga, gb, bytes);
            free_twins(&a, &b, ga, gb, wa, wb);
        }
        free(marked);
        free(plain);
    }
}

static void test_recomputed_in_backward(void **state) {
    (void)state;
    char *marked = chain(512, 1);
    Compiled c;
    compile_text(&c, marked, 0);
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    ir_dump(f, c.g);
    fclose(f);
    assert_non_null(strstr(txt, "= adj recompute tanh "));
    /* every recomputed node is an adjoint one after the last forward node; the marked
     * originals stay in the forward section, three per marked binding */
    int line = 0, last_forward = -1, first_recompute = -1, recomputed = 0, marked_nodes = 0;
    for (char *p = txt; *p; line++) {
        char *end = strchr(p, '\n');
        *end = 0;
        if (p[0] == '%') {
            const char *op = strstr(p, " = ") + 3;
            int adj = strncmp(op, "adj ", 4) == 0;
            if (!adj && strstr(op, "input ") != op && strstr(op, "param ") != op && strstr(op, "const ") != op)
                last_forward = line;
            if (strstr(op, "adj recompute ") == op) {
                recomputed++;
                if (first_recompute < 0) first_recompute = line;
            }
            if (strstr(p, " checkpoint @")) {
                assert_false(adj);
                marked_nodes++;
            }
        }
        p = end + 1;
    }
    assert_int_equal(recomputed, 6);
    assert_int_equal(marked_nodes, 6);
    assert_true(first_recompute > last_forward);
    free(txt);
    compiled_free(&c);
    free(marked);
}

static void test_finite_differences(void **state) {
    (void)state;
    char *marked = chain(5, 1);
    assert_true(th_fd_error(marked, NULL, 3, 2) < 1e-6);
    free(marked);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workspace_shrinks),
        cmocka_unit_test(test_standalone_workspace),
        cmocka_unit_test(test_sizes_merged),
        cmocka_unit_test(test_shared_weight_terms),
        cmocka_unit_test(test_checkpoint_def),
        cmocka_unit_test(test_gradients_unchanged),
        cmocka_unit_test(test_recomputed_in_backward),
        cmocka_unit_test(test_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
