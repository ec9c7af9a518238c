/* test_ops.c — every op's vector-Jacobian rule against finite differences in double.
 *
 * Each case is a small program whose loss runs through one op (with broadcasting, axes
 * and keepdims variants); parameters and inputs are random. The last test walks the op
 * table: every op that has a derivative must have appeared in some case's graph, so a
 * new op fails this test until it is given a case.
 *
 * Each case is also built at -O0 (no folding, simplification or CSE) and checked the
 * same way: reverse mode's graph as it is made, with the nodes folding removes (x^1).
 *
 * Each case is also built with NAME_hvp (reverse over reverse) and its Hessian-vector
 * product checked against central differences of the gradient (th_hvp_check, <= 1e-6):
 * that exercises the vector-Jacobian rules of the ops the backward pass makes (step,
 * ce_grad, slice, layernorm_grad, ...), and the walk requires every op to appear in some
 * checked second-order graph. A case whose hvp is refused must say so with the located
 * "hvp: op ... has no second-order rule" message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static const char *header =
    "input w[3, 4]\ninput u[4]\ninput lab[3] : int\ninput xs[B, 4]\n"
    "param a[3, 4] = normal(1)\nparam b[4] = normal(1)\nparam c = 0.7\nparam m[4, 5] = normal(1)\n"
    "param t3[2, 3, 4] = normal(1)\n";

static const char *cases[] = {
    "loss sum(exp(a) * w)",
    "loss sum(log(a*a + 1) * w) + log(c*c + 0.5)",
    "loss sum(sqrt(a*a + 1) * w)",
    "loss sum(abs(a) * w)",
    "loss sum(sin(a) * w + cos(a) * w)",
    "loss sum(tanh(a) * w)",
    "loss sum(sigmoid(a) * w)",
    "loss sum(relu(a) * w)",
    "loss sum(leaky_relu(a, alpha = 0.2) * w) + sum(leaky_relu(b))",
    "loss sum(gelu(a) * w)",
    "loss sum(softplus(a * 3) * w)",
    "loss sum(a^3 * w) + sum((b*b + 1)^-2) + sum(-a^2)",
    "loss sum((a*a + 1)^c * w) + sum((c*c + 1) ^ (b * 0.1))",
    "loss sum((a + b) * (a - b) / (b*b + 1) * w) + sum(1 / (c + 2) - c * b)",
    "loss sum(maximum(a, b) * w + minimum(a, u) * w)",
    "loss sum(sum(a * w, axis = 0) * b) + sum(sum(a, axis = 1, keepdims = 1) * w)",
    "loss mean(a * w) + sum(mean(a * w, axis = 0) * b) + sum(mean(a, axis = -1, keepdims = 1) * w)",
    "loss sum(max(a * w, axis = 1)) + max(a) + sum(max(a, axis = 0, keepdims = 1) * w)",
    "loss sum(logsumexp(a * w, axis = 0) * b) + logsumexp(a)",
    /* several axes at once, as (0, 2) or [2, 0] (NumPy's and PyTorch's tuples) */
    "loss sum(sum(t3 * t3, axis = (0, 2)) * sum(a, axis = 1)) + sum(mean(t3, axis = [-1, 0], keepdims = 1) * t3)",
    "loss sum(max(t3 * t3, axis = (0, 1)) * b) + sum(logsumexp(t3, axis = (2, 1))) + logsumexp(a, axis = (0, 1))",
    "loss sum(mean(t3, axis = (1, 2), keepdims = 1) * t3) + sum(logsumexp(reshape(xs * b, [B, 2, 2]), axis = (0, 1)))",
    "loss sum(softmax(a, axis = 1) * w) + sum(softmax(a, axis = 0) * w)",
    "loss sum(log_softmax(a) * w) + sum(log_softmax(a, axis = 0) * w)",
    "loss sum((a @ m) ^ 2) * 0.1",
    "loss sum(b @ m) + sum(a @ b) + b @ b",
    "loss sum((t3 @ m) ^ 2) * 0.1 + sum(t3 @ t3.T * 0.1)",
    "loss sum(a.T @ a * 0.1) + sum(transpose(a) * w.T)",
    "loss sum(reshape(a, [4, 3]) @ a) + sum(reshape(a, [-1]) * reshape(w, [12]))",
    "loss sum(concat(a, w, axis = 0)^2) + sum(concat(a, a, axis = 1) * concat(w, w, axis = 1))",
    "loss mse(a, w) + mse(b, u)",
    "loss bce(sigmoid(a), sigmoid(w))",
    /* a target that has a gradient, and broadcasts */
    "loss bce(sigmoid(a), sigmoid(b * w)) + bce(sigmoid(a * w), sigmoid(b))",
    "loss bce_logits(a, sigmoid(w))",
    "loss cross_entropy(a, lab)",
    "loss cross_entropy(a, softmax(w))",
    /* the gradient written over the logits (plan.c), and not where they are read afterwards */
    "loss cross_entropy(a * w + 0.5, lab)",
    "z = a * w + 0.5\nloss cross_entropy(z, lab) + sum(sin(z))",
    "loss nll(log_softmax(a), lab) + nll(a * 0.5, lab)",
    "loss mean((xs @ m)^2) + mean(sum(xs * b, axis = 1))",
    /* batch sums in the products (pass_msum.c): accumulated over a broadcast batch axis, kept
       as 1 or dropped, and folded into K */
    "param x4[2, 1, 3, 4] = normal(1)\nparam hk[2, 4, 3] = normal(1)\n"
    "loss sum((x4 @ hk) ^ 2) * 0.1 + sum((reshape(a, [1, 3, 4]) @ hk) * 0.3) + sum(sin(t3 @ hk))",
    /* GELU's derivative as the epilogue of the input gradient's GEMM, the weight gradient's
       GEMM that reads the activations emitted before it (emit_c.c's products_hoist_before) */
    "param m2[5, 3] = normal(1)\nparam m0[4, 4] = normal(1)\nh = gelu((xs @ m0) @ m + 0.1)\n"
    "loss sum((h @ m2) ^ 2) * 0.1",
    /* a sum over an interior batch axis (attention's heads: sum(att @ v @ o, axis = 1)), and
       its gradient's broadcast over the heads read by the products with stride 0 */
    "param hs[2, 2, 3, 4] = normal(1)\nparam ho[2, 4, 3] = normal(1)\n"
    "loss sum(sin(sum(hs @ ho, axis = 1) + 0.5) * 0.7)",
    "def sq(v) = v * v\ndef f(p, q) {\n  s = sq(p) + q\n  return s * 0.5\n}\nloss sum(f(a, b) * w)",
    "h = a * b\nloss sum(h * h * w + h * w)",
    /* layers */
    "param im[2, 2, 6, 5] = normal(1)\nparam k[3, 2, 3, 2] = normal(1)\n"
    "loss mean(conv2d(im, k, stride = 2, padding = 1) ^ 2) + mean(conv2d(im * 0.5, k) * 0.3)",
    "param im[2, 2, 6, 5] = normal(1)\nparam k1[3, 2, 1, 1] = normal(1)\nparam k3[2, 2, 3, 3] = normal(1)\n"
    "loss mean(tanh(conv2d(im, k1)) ^ 2) + mean(conv2d(im, k3, stride = 3, padding = 2) ^ 3)",
    /* a CNN block: bias + relu as the convolution's epilogue, the pooling gradient times the
       relu's step as the pooling gradient's (emit_c.c's layer epilogues) */
    "param im[3, 2, 8, 6] = normal(1)\nparam kc[4, 2, 3, 3] = normal(1)\nparam cb[4, 1, 1] = normal(1)\n"
    "loss sum(maxpool2d(relu(conv2d(im, kc, padding = 1) + cb), 2) ^ 2) * 0.1",
    /* a first layer's (an input's) bias gradient made with its weight gradient's call
       (emit_c.c's plan_conv_bias), the bias [O, 1, 1] and [1, O, 1, 1] */
    "input xim[3, 2, 7, 9]\nparam kf[5, 2, 3, 3] = normal(1)\nparam cf[5, 1, 1] = normal(1)\n"
    "param cg[1, 5, 1, 1] = normal(1)\n"
    "loss sum(tanh(conv2d(xim, kf, padding = 1) + cf) ^ 2) + sum(sin(conv2d(xim * 0.5, kf) + cg))",
    "param pim[2, 3, 6, 5] = normal(1)\n"
    "loss sum(maxpool2d(pim, 2) * maxpool2d(pim, 2)) + sum(maxpool2d(pim, 3, stride = 1) * 0.7)",
    "param pim[2, 3, 6, 5] = normal(1)\nloss sum(avgpool2d(pim, 2, stride = 1) ^ 2) + sum(avgpool2d(pim, 3) * 0.7)",
    "param g4[4] = normal(1)\nloss sum(layernorm(a, g4, b) * w) + sum(layernorm(t3, b, u, eps = 0.1) ^ 3) * 0.1",
    "param tab[6, 4] = normal(1)\ninput ids[5, 2] : int\nloss sum(embedding(tab, ids) ^ 2 * u) + sum(embedding(tab, lab) * w)",
    "loss sum(softmax(causal_mask(a), axis = -1) * w) + sum(softmax(causal_mask(t3 @ t3.T * 0.5)) ^ 2)",
    /* attention: the weights from the scaled scores and their gradient each in one call per
       product (emit_c.c's plan_sm), the products with the masked triangle skipped (plan_tri);
       causal and not, queries and keys of different lengths, a causal weight times dropout
       (one case each: their sum's finite differences are less accurate than 1e-6) */
    "param tv[2, 5, 4] = normal(1)\nloss sum(sin(softmax(causal_mask(t3 @ t3.T * 0.5)) @ t3))",
    "param tv[2, 5, 4] = normal(1)\nloss sum((softmax(tv @ t3.T * 0.3) @ t3) ^ 2) * 0.2",
    "param tv[2, 5, 4] = normal(1)\nloss sum(cos(softmax(causal_mask(t3 @ tv.T)) @ tv))",
    "param tv[2, 5, 4] = normal(1)\nloss sum((dropout(softmax(causal_mask(tv @ tv.T * 0.7)), 0) @ tv) * 0.1)",
    /* softmax's gradient (not with a product: g is a sum) written over the weights */
    "param tv[2, 5, 4] = normal(1)\natt = softmax(causal_mask(tv @ t3.T * 0.5))\n"
    "loss sum(sin(att @ t3)) + sum(att * att * 0.3)",
    "loss sum(dropout(a, 0.5) * w) + sum(dropout(a * b, 0.25) ^ 2) + sum(dropout(a, 0) * w)",
    /* second order through non-overlapping max pooling (the overlapping case above has none) */
    "param pim[2, 3, 6, 5] = normal(1)\nloss sum(maxpool2d(pim, 2) ^ 3) + sum(maxpool2d(pim * pim, 3) * 0.7)",
    "loss sum(concat(a * a, w, axis = 0)^3) + sum(concat(w, a, axis = 1) ^ 2 * concat(a, w, axis = 1))",
    /* nll of a log_softmax along the first axis, which is not cross_entropy (its value is
       checked against PyTorch in tests/torch/programs/nll_axes.bp) */
    "loss nll(log_softmax(a, axis = 0), lab) + nll(log_softmax(a * w, axis = -1), lab)",
    /* a product's gradient read through a broadcast of [1, 3, 5] over the batch of 2 when
       the other operand has no batch axes (pass_msum.c reads the broadcast itself only where
       the batch shapes agree) */
    "loss sum(sin(sum(t3 @ m, axis = 0, keepdims = 1)))",
    /* batch sums chained: a gradient summed over a dropped leading axis, then kept as 1 (the
       second sum is over the full batch's axis 1); and a sum over an inner batch axis, then
       the first kept as 1 */
    "param x5[2, 3, 4, 5] = normal(1)\nparam b5[1, 5, 2] = normal(1)\nloss sum(sin(x5 @ b5))",
    "param y5[2, 3, 2, 4, 5] = normal(1)\nparam z5[2, 3, 2, 5, 3] = normal(1)\n"
    "loss sum(sin(sum(sum(y5 @ z5, axis = 2), axis = 0, keepdims = 1)))",
    /* bce_logits with a target that has a gradient (dt = -g z) */
    "loss bce_logits(a * w, sigmoid(a * 0.5 + b)) + bce_logits(b, sigmoid(b * u))",
    /* a cross-entropy and an nll whose adjoint depends on the parameters: the second-order
       rules of ce_grad and nll_grad in their scale s (constant 1 in a plain loss) */
    "loss cross_entropy(a * w, lab) ^ 2 + nll(a * 0.5, lab) * c",
    /* x^1 and x^0, which only -O0 keeps (the run below) */
    "loss sum(a^1 * w) + sum(b^1 * b^0 * u)",
    /* ties: maximum and minimum of equal operands split g between their sides (1/2 each,
       PyTorch's), a max along an axis shares it among the equal entries (here the two copies
       of a's rows); finite differences move both copies together, so a rule that gives each
       side all of g (or none) is off by a factor 2 */
    "loss sum(maximum(a, a) * w) + sum(minimum(b, b) * u) + sum(max(concat(a, a, axis = 0), axis = 0) * b)",
    /* second order through a slice that starts after 0 (a's part of the second operand of
       concat: its adjoint is a slice of g at offset 4, whose own rule puts zeros before it) */
    "loss sum(logsumexp(concat(w, sin(a), axis = 1), axis = 1)) + sum(softmax(concat(u, b)) * concat(b, u))",
    /* a constant exponent that is not an integer: pow by a scalar (ir_pow_scalar), not powi */
    "loss sum((a*a + 1)^1.5 * w) + sum((b*b + 0.5)^-0.5)",
};
#define NCASES (sizeof cases / sizeof cases[0])

static int seen[OP_COUNT], seen_hvp[OP_COUNT];

/* The case again with NAME_hvp, checked against differences of the gradient. */
static int run_hvp_case(const char *text, const char *body) {
    TestModel t;
    int sizes[] = {5};
    CompileOptions o = {.optimize = 1, .hvp = 1};
    th_build_with(&t, text, 1, sizes, &o);
    if (!t.ok) {
        int refused = strstr(th_diag_text(&t), "has no second-order rule") != NULL;
        if (refused) print_message("hvp refused (as it should say): %s", th_diag_text(&t));
        else print_error("case '%s' did not compile with hvp:\n%s\n", body, th_diag_text(&t));
        th_free(&t);
        return refused;
    }
    th_randomize(&t, 7, 4);
    for (int i = 0; i < t.g->n; i++) seen_hvp[t.g->nodes[i].op] = 1;
    double err = th_hvp_check(&t, 3);
    th_free(&t);
    if (!(err <= 1e-6)) {
        print_error("case '%s': hvp relative error %.3g > 1e-6\n", body, err);
        return 0;
    }
    return 1;
}

static int run_case(const char *body) {
    char text[4096];
    snprintf(text, sizeof text, "%s%s\n", header, body);
    TestModel t;
    int sizes[] = {5};
    th_build(&t, text, 1, sizes);
    if (!t.ok) {
        print_error("case '%s' did not compile:\n%s\n", body, th_diag_text(&t));
        th_free(&t);
        return 0;
    }
    th_randomize(&t, 7, 4);
    for (int i = 0; i < t.g->n; i++) seen[t.g->nodes[i].op] = 1;
    double err = th_fd_check(&t);
    th_free(&t);
    if (!(err <= 1e-6)) {
        print_error("case '%s': relative error %.3g > 1e-6\n", body, err);
        return 0;
    }
    /* -O0: the graph as reverse mode makes it, nothing folded (x^1 stays a power with its own
       rule, zeros stay symbolic products) */
    CompileOptions o0 = {.optimize = 0};
    th_build_with(&t, text, 1, sizes, &o0);
    if (!t.ok) {
        print_error("case '%s' did not compile at -O0:\n%s\n", body, th_diag_text(&t));
        th_free(&t);
        return 0;
    }
    th_randomize(&t, 7, 4);
    err = th_fd_check(&t);
    th_free(&t);
    if (!(err <= 1e-6)) {
        print_error("case '%s' at -O0: relative error %.3g > 1e-6\n", body, err);
        return 0;
    }
    return run_hvp_case(text, body);
}

static void test_every_case(void **state) {
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < NCASES; i++) failed += !run_case(cases[i]);
    assert_int_equal(failed, 0);
}

/* Every differentiable op of the table appeared in some case. */
static void test_op_table_covered(void **state) {
    (void)state;
    for (int op = 0; op < OP_COUNT; op++) {
        if (op_info[op].kind == OK_LEAF) continue;
        /* ops that only reverse mode creates: their own derivative is exercised by hvp */
        if (op == OP_SIGN || op == OP_STEP || op == OP_LEAKY_STEP || op == OP_GELU_GRAD || op == OP_GT || op == OP_EQ ||
            op == OP_CE_GRAD || op == OP_NLL_GRAD || op == OP_SLICE || op == OP_BROADCAST || op == OP_MAXPOOL2D_GRAD ||
            op == OP_LAYERNORM_GRAD || op == OP_CONV2D_GRAD_X || op == OP_CONV2D_GRAD_W)
            continue;
        if (!seen[op]) fail_msg("op '%s' has no finite-difference case in test_ops.c", op_info[op].name);
    }
    /* second order: every op, those reverse mode makes included, was in a checked hvp graph */
    for (int op = 0; op < OP_COUNT; op++)
        if (op_info[op].kind != OK_LEAF && !seen_hvp[op])
            fail_msg("op '%s' is in no Hessian-vector product checked by test_ops.c", op_info[op].name);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_case),
        cmocka_unit_test(test_op_table_covered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
