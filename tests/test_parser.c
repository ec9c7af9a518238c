/* test_parser.c — the front end: lexer.l + parser.y + ast_dump.
 *
 * Programs are compared through ast_dump's S-expressions; diagnostics are compared as the
 * exact text diag prints (message, quoted line, caret). Also: several errors in one run,
 * the error limit, nesting far past the depth limit, random bytes and token soup (nothing
 * may crash, every returned tree stays within the depth limit), parse_is_incomplete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"

/* One parse: the dump of what parsed, the diagnostics printed, the error count. */
typedef struct Parsed {
    char *dump;
    char *errors;
    int nerrors;
    int max_depth; /* deepest Expr found by walking the tree */
} Parsed;

static int walk_depth(const Expr *e) {
    if (!e) return 0;
    int d = 0, c;
    if ((c = walk_depth(e->lhs)) > d) d = c;
    if ((c = walk_depth(e->rhs)) > d) d = c;
    for (int i = 0; i < e->nargs; i++)
        if ((c = walk_depth(e->args[i].value)) > d) d = c;
    for (int i = 0; i < e->nitems; i++)
        if ((c = walk_depth(e->items[i])) > d) d = c;
    assert_int_equal(e->depth, d + 1);
    return d + 1;
}

static int stmt_depth(const Stmt *s) {
    int d = walk_depth(s->value), c;
    for (int i = 0; i < s->ndims; i++)
        if ((c = walk_depth(s->dims[i])) > d) d = c;
    for (int i = 0; i < s->nargs; i++)
        if ((c = walk_depth(s->args[i].value)) > d) d = c;
    for (int i = 0; i < s->nbody; i++)
        if ((c = stmt_depth(s->body[i])) > d) d = c;
    return d;
}

static Parsed parse(const char *text) {
    Parsed r = {0};
    size_t elen = 0, dlen = 0;
    FILE *err = open_memstream(&r.errors, &elen);
    FILE *dump = open_memstream(&r.dump, &dlen);
    assert_non_null(err);
    assert_non_null(dump);
    Diag d;
    diag_init(&d, err);
    Arena *arena = arena_new();
    const char *file = diag_add_source(&d, "t.bp", text);
    Program *p = parse_program(arena, &d, file, text);
    assert_non_null(p);
    for (int i = 0; i < p->nstmts; i++) {
        int sd = stmt_depth(p->stmts[i]);
        if (sd > r.max_depth) r.max_depth = sd;
        assert_ptr_equal(p->stmts[i]->loc.file, file);
    }
    ast_dump(dump, p);
    r.nerrors = d.nerrors;
    fclose(err);
    fclose(dump);
    arena_free(arena);
    diag_free(&d);
    return r;
}

static void parsed_free(Parsed *r) {
    free(r->dump);
    free(r->errors);
}

/* Parses text that must be correct and compares its dump. */
static void expect_dump(const char *text, const char *dump) {
    Parsed r = parse(text);
    if (r.nerrors) fprintf(stderr, "unexpected errors for:\n%s\n%s", text, r.errors);
    assert_int_equal(r.nerrors, 0);
    assert_string_equal(r.dump, dump);
    parsed_free(&r);
}

/* ---- whole programs ------------------------------------------------------------------- */

static const char fashion_mlp[] =
    "# examples/fashion_mlp.bp — 2-layer perceptron for 28x28 images\n"
    "model fashion_mlp                 # optional; default: the file's stem. Prefix of the generated C API.\n"
    "\n"
    "input  x[B, 784]                  # B is symbolic: bound when the code runs (batch size)\n"
    "input  y[B] : int                 # integer class labels\n"
    "\n"
    "param  W1[784, 256] = he          # trainable parameter with its initialiser\n"
    "param  b1[256]                    # default initialiser: zeros\n"
    "param  W2[256, 10]  = xavier\n"
    "param  b2[10]\n"
    "\n"
    "h      = relu(x @ W1 + b1)\n"
    "logits = h @ W2 + b2\n"
    "\n"
    "loss   cross_entropy(logits, y)   # the scalar objective\n"
    "output logits                     # what inference returns\n"
    "optimizer adam(lr = 1e-3)\n";

static void test_fashion_mlp(void **state) {
    (void)state;
    expect_dump(fashion_mlp,
                "(model fashion_mlp)\n"
                "(input x [B 784])\n"
                "(input y [B] int)\n"
                "(param W1 [784 256] = he)\n"
                "(param b1 [256])\n"
                "(param W2 [256 10] = xavier)\n"
                "(param b2 [10])\n"
                "(bind h (call relu (+ (@ x W1) b1)))\n"
                "(bind logits (+ (@ h W2) b2))\n"
                "(loss (call cross_entropy logits y))\n"
                "(output logits)\n"
                "(optimizer adam lr=0.001)\n");
}

static void test_scalar_program(void **state) {
    (void)state;
    expect_dump("input  x = 2                      # an input with a default value\n"
                "input  y = 1\n"
                "param  m1 = 3                     # a scalar parameter initialised to 3\n"
                "param  m2 = 0.5\n"
                "a1   = m1 * x\n"
                "yhat = relu(a1 * m2)\n"
                "loss 0.5 * (yhat - y)^2\n"
                "optimizer sgd(lr = 0.1)\n",
                "(input x = 2)\n"
                "(input y = 1)\n"
                "(param m1 = 3)\n"
                "(param m2 = 0.5)\n"
                "(bind a1 (* m1 x))\n"
                "(bind yhat (call relu (* a1 m2)))\n"
                "(loss (* 0.5 (^ (- yhat y) 2)))\n"
                "(optimizer sgd lr=0.10000000000000001)\n");
}

/* `checkpoint` before a binding (top level or in a def body) or a def marks it; alone it is
 * a name. */
static void test_checkpoint_binding(void **state) {
    (void)state;
    expect_dump("checkpoint h = tanh(x)\n"
                "checkpoint = 2\n"
                "def f(a) {\n  checkpoint t = sin(a)\n  return t * checkpoint\n}\n"
                "checkpoint def g(a) = sin(a)\n"
                "checkpoint def k(a) {\n  u = cos(a)\n  return u\n}\n",
                "(checkpoint h (call tanh x))\n"
                "(bind checkpoint 2)\n"
                "(def f (a) (block (checkpoint t (call sin a)) (return (* t checkpoint))))\n"
                "(checkpoint def g (a) (call sin a))\n"
                "(checkpoint def k (a) (block (bind u (call cos a)) (return u)))\n");
}

/* ---- expressions ---------------------------------------------------------------------- */

static void test_precedence(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"-x^2", "(expr (neg (^ x 2)))\n"},
        {"a-b-c", "(expr (- (- a b) c))\n"},
        {"2^3^2", "(expr (^ 2 (^ 3 2)))\n"},
        {"a@b*c", "(expr (* (@ a b) c))\n"},
        {"a*b@c", "(expr (@ (* a b) c))\n"},
        {"x.T@y", "(expr (@ (.T x) y))\n"},
        {"a+b*c", "(expr (+ a (* b c)))\n"},
        {"a/b/c", "(expr (/ (/ a b) c))\n"},
        {"-a*b", "(expr (* (neg a) b))\n"},
        {"--a", "(expr (neg (neg a)))\n"},
        {"2^-x", "(expr (^ 2 (neg x)))\n"},
        {"-x.T^2", "(expr (neg (^ (.T x) 2)))\n"},
        {"f(x).T.T", "(expr (.T (.T (call f x))))\n"},
        {"(a+b)*c", "(expr (* (+ a b) c))\n"},
        {"a - -b", "(expr (- a (neg b)))\n"},
        {"leaky_relu(x, alpha = 0.01)", "(expr (call leaky_relu x alpha=0.01))\n"},
        {"f()", "(expr (call f))\n"},
        {"reshape(x, [-1, 28, 28])", "(expr (call reshape x [(neg 1) 28 28]))\n"},
        {"[]", "(expr [])\n"},
        /* Python's tuples: (a, b), (a, b,) and (a,); (a) is a itself */
        {"sum(x, axis = (0, 1))", "(expr (call sum x axis=(tuple 0 1)))\n"},
        {"(a, b + c,)", "(expr (tuple a (+ b c)))\n"},
        {"(-1,)", "(expr (tuple (neg 1)))\n"},
        {"((a))", "(expr a)\n"},
        {"()", "(expr (tuple))\n"},
        {"1e-3 + .5 + 2. + 3 + 1E2", "(expr (+ (+ (+ (+ 0.001 0.5) 2) 3) 100))\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_dump(cases[i][0], cases[i][1]);
}

static void test_number_kinds(void **state) {
    (void)state;
    Diag d;
    diag_init(&d, stderr);
    Arena *a = arena_new();
    const char *text = "x = 3 + 3.0 + 1e2 + .5 + 7";
    const char *file = diag_add_source(&d, "n.bp", text);
    Program *p = parse_program(a, &d, file, text);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(p->nstmts, 1);
    /* ((((3 + 3.0) + 1e2) + .5) + 7) */
    Expr *e = p->stmts[0]->value;
    assert_int_equal(e->rhs->is_integer, 1);
    assert_int_equal(e->lhs->rhs->is_integer, 0);
    assert_int_equal(e->lhs->lhs->rhs->is_integer, 0);
    assert_int_equal(e->lhs->lhs->lhs->rhs->is_integer, 0);
    assert_int_equal(e->lhs->lhs->lhs->lhs->is_integer, 1);
    /* locations: the bind at its name, a binary node at its operator */
    assert_int_equal(p->stmts[0]->loc.line, 1);
    assert_int_equal(p->stmts[0]->loc.col, 1);
    assert_int_equal(e->loc.col, 24);
    assert_int_equal(e->rhs->loc.col, 26);
    arena_free(a);
    diag_free(&d);
}

static void test_locations(void **state) {
    (void)state;
    Diag d;
    diag_init(&d, stderr);
    Arena *a = arena_new();
    const char *text = "\n  input\tx[B, 784] : int\ny = f(x,\n      k = x.T)\n";
    const char *file = diag_add_source(&d, "l.bp", text);
    Program *p = parse_program(a, &d, file, text);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(p->nstmts, 2);
    Stmt *in = p->stmts[0];
    assert_int_equal(in->loc.line, 2);
    assert_int_equal(in->loc.col, 3);
    assert_int_equal(in->name_loc.col, 9);
    assert_int_equal(in->dims[1]->loc.col, 14);
    Expr *call = p->stmts[1]->value;
    assert_int_equal(call->loc.line, 3);
    assert_int_equal(call->loc.col, 5);
    assert_int_equal(call->args[1].loc.line, 4);
    assert_int_equal(call->args[1].loc.col, 7);
    assert_int_equal(call->args[1].value->kind, EX_TRANSPOSE);
    assert_int_equal(call->args[1].value->loc.col, 12);
    assert_ptr_equal(call->loc.file, file);
    arena_free(a);
    diag_free(&d);
}

/* ---- statements ----------------------------------------------------------------------- */

static void test_newlines(void **state) {
    (void)state;
    /* a newline inside ( ) or [ ] continues; so does one after an operator, '=' or ',' */
    expect_dump("h = relu(x @ W1\n"
                "         + b1)\n"
                "param W[784,\n"
                "        256] = he\n"
                "z = a +\n"
                "    # a comment line\n"
                "\n"
                "    b\n"
                "output a,\n"
                "       b\n"
                "w =\n"
                "  1\n",
                "(bind h (call relu (+ (@ x W1) b1)))\n"
                "(param W [784 256] = he)\n"
                "(bind z (+ a b))\n"
                "(output a b)\n"
                "(bind w 1)\n");
    /* ';' separates; empty statements, CRLF line ends, no final newline */
    expect_dump(";;\n\n  ; a = 1; b = 2;;\r\nc = 3\r\n\r\n# end\nd = 4",
                "(bind a 1)\n(bind b 2)\n(bind c 3)\n(bind d 4)\n");
    expect_dump("", "");
    expect_dump("# only a comment", "");
}

static void test_statements(void **state) {
    (void)state;
    expect_dump("model m\n"
                "input x\n"
                "input ids[B, T] : int\n"
                "input k[] = 3\n"
                "input s : int = -1\n"
                "param W[C, 10] = normal(0.01)\n"
                "param u = uniform(-1, 1)\n"
                "loss mse(a, b)\n"
                "output a, b, c\n"
                "optimizer sgd\n"
                "optimizer adamw(lr = 3e-4, weight_decay = 0.1)\n"
                "clip_grad_norm 1.0\n"
                "x + 1\n"
                "f\n",
                "(model m)\n"
                "(input x)\n"
                "(input ids [B T] int)\n"
                "(input k [] = 3)\n"
                "(input s int = (neg 1))\n"
                "(param W [C 10] = (call normal 0.01))\n"
                "(param u = (call uniform (neg 1) 1))\n"
                "(loss (call mse a b))\n"
                "(output a b c)\n"
                "(optimizer sgd)\n"
                "(optimizer adamw lr=0.00029999999999999997 weight_decay=0.10000000000000001)\n"
                "(clip_grad_norm 1)\n"
                "(expr (+ x 1))\n"
                "(expr f)\n");
}

static void test_defs(void **state) {
    (void)state;
    expect_dump("def f(a, b) = a * b\n"
                "def g() = 1\n"
                "def attn(q, k, v) {\n"
                "  s = softmax(q @ k.T, axis = -1)\n"
                "\n"
                "  o = s @ v   # comment\n"
                "  return o + 1\n"
                "}\n"
                "def h(a) { t = a * 2; return t }\n"
                "def id(a) {\n return a }\n"
                "y = attn(x, x, x)\n",
                "(def f (a b) (* a b))\n"
                "(def g () 1)\n"
                "(def attn (q k v) (block (bind s (call softmax (@ q (.T k)) axis=(neg 1))) "
                "(bind o (@ s v)) (return (+ o 1))))\n"
                "(def h (a) (block (bind t (* a 2)) (return t)))\n"
                "(def id (a) (block (return a)))\n"
                "(bind y (call attn x x x))\n");

    /* the block form's value is its return's value */
    Diag d;
    diag_init(&d, stderr);
    Arena *a = arena_new();
    const char *text = "def h(a) { t = a * 2; return t }";
    Program *p = parse_program(a, &d, diag_add_source(&d, "d.bp", text), text);
    assert_int_equal(p->nstmts, 1);
    Stmt *s = p->stmts[0];
    assert_int_equal(s->is_block, 1);
    assert_int_equal(s->nbody, 2);
    assert_int_equal(s->body[1]->kind, ST_RETURN);
    assert_ptr_equal(s->value, s->body[1]->value);
    assert_int_equal(s->nparams, 1);
    assert_string_equal(s->params[0], "a");
    assert_int_equal(s->param_locs[0].col, 7);
    arena_free(a);
    diag_free(&d);
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_bad_inputs(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"x = )\n",
         "t.bp:1:5: error: unexpected ')', expected an expression\n"
         "  x = )\n"
         "      ^\n"},
        {"x = a b\n",
         "t.bp:1:7: error: unexpected name 'b', expected an operator or end of line\n"
         "  x = a b\n"
         "        ^\n"},
        {"y = f(a b)\n",
         "t.bp:1:9: error: unexpected name 'b', expected an operator, '=', ')' or ','\n"
         "  y = f(a b)\n"
         "          ^\n"},
        {"model 3\n",
         "t.bp:1:7: error: unexpected number '3', expected a name\n"
         "  model 3\n"
         "        ^\n"},
        {"input x[B] int\n",
         "t.bp:1:12: error: unexpected 'int', expected end of line, '=' or ':'\n"
         "  input x[B] int\n"
         "             ^\n"},
        {"input y[B] : float\n", /* (it said "unexpected name 'float', expected 'int'") */
         "t.bp:1:12: error: an input is real unless declared ': int': leave out ': float'\n"
         "  input y[B] : float\n"
         "             ^\n"},
        {"loss\n",
         "t.bp:1:5: error: unexpected end of line, expected an expression\n"
         "  loss\n"
         "      ^\n"},
        {"def f(a)\n",
         "t.bp:1:9: error: unexpected end of line, expected '=' or '{'\n"
         "  def f(a)\n"
         "          ^\n"},
        {"x = a +",
         "t.bp:1:8: error: unexpected end of file, expected an expression\n"
         "  x = a +\n"
         "         ^\n"},
        {"x = 2 ** 3\n",
         "t.bp:1:7: error: '**' is not an operator: write a power as x ^ 2\n"
         "  x = 2 ** 3\n"
         "        ^\n"},
        {"output a b\n",
         "t.bp:1:10: error: unexpected name 'b', expected end of line or ','\n"
         "  output a b\n"
         "           ^\n"},
        {"}\n",
         "t.bp:1:1: error: unexpected '}'\n"
         "  }\n"
         "  ^\n"},
        {"x = (a + b\n",
         "t.bp:1:11: error: unclosed '(' (opened at 1:5)\n"
         "  x = (a + b\n"
         "            ^\n"},
        {"r = reshape(x, [1, 2)\n",
         "t.bp:1:21: error: unexpected ')', expected an operator, ']' or ','\n"
         "  r = reshape(x, [1, 2)\n"
         "                      ^\n"},
        {"def f(a) {\n  t = a\n",
         "t.bp:2:8: error: unclosed '{' (opened at 1:10)\n"
         "    t = a\n"
         "         ^\n"},
        {"def f(a) { t = a }\n",
         "t.bp:1:5: error: def 'f' has no return\n"
         "  def f(a) { t = a }\n"
         "      ^\n"},
        {"def f(a) {\n  return a\n  t = 1\n}\n",
         "t.bp:2:3: error: 'return' must be the last statement of def 'f'\n"
         "    return a\n"
         "    ^\n"},
        {"return x\n",
         "t.bp:1:1: error: 'return' outside a def\n"
         "  return x\n"
         "  ^\n"},
        {"x = f(a = 1, b)\n",
         "t.bp:1:14: error: positional argument after keyword argument\n"
         "  x = f(a = 1, b)\n"
         "               ^\n"},
        {"x = 1e999\n",
         "t.bp:1:5: error: number '1e999' is out of range: above the largest double, 1.8e308\n"
         "  x = 1e999\n"
         "      ^\n"},
        {"y = a $ b\n",
         "t.bp:1:7: error: unexpected character '$'\n"
         "  y = a $ b\n"
         "        ^\n"},
        {"y = a \x01 b\n",
         "t.bp:1:7: error: unexpected byte 0x01\n"
         "  y = a ? b\n"
         "        ^\n"},
        {"y = \xc3\xa9\n",
         "t.bp:1:5: error: non-ASCII character '\xc3\xa9' (U+00E9): names are ASCII letters, digits and _, "
         "and other characters may appear only in comments\n"
         "  y = \xc3\xa9\n"
         "      ^\n"},
        {"param W\xc3\xa9[3, 4]\n",
         "t.bp:1:8: error: non-ASCII character '\xc3\xa9' (U+00E9): names are ASCII letters, digits and _, "
         "and other characters may appear only in comments\n"
         "  param W\xc3\xa9[3, 4]\n"
         "         ^\n"},
        {"loss mean(h) + \xf0\x9f\x98\x80\xc2\xbf\n", /* a run of characters: reported once, by its first */
         "t.bp:1:16: error: non-ASCII character '\xf0\x9f\x98\x80' (U+1F600): names are ASCII letters, digits and _, "
         "and other characters may appear only in comments\n"
         "  loss mean(h) + \xf0\x9f\x98\x80\xc2\xbf\n"
         "                 ^\n"},
        {"y = \xff\n", /* not UTF-8 */
         "t.bp:1:5: error: unexpected byte 0xff\n"
         "  y = \xff\n"
         "      ^\n"},
        {"y = \xed\xa0\x80\n", /* a surrogate, not a character */
         "t.bp:1:5: error: unexpected byte 0xed\n"
         "  y = \xed\xa0\x80\n"
         "      ^\n"},
        {"y = \xc0\xa9\n", /* an overlong ')' */
         "t.bp:1:5: error: unexpected byte 0xc0\n"
         "  y = \xc0\xa9\n"
         "      ^\n"},
        {"\xef\xbb\xbfy = a $ b\n", /* a leading byte order mark is skipped, in the columns and the quote */
         "t.bp:1:7: error: unexpected character '$'\n"
         "  y = a $ b\n"
         "        ^\n"},
        {"y = 1\n\xef\xbb\xbfz = 2\n", /* elsewhere it is a character */
         "t.bp:2:1: error: non-ASCII character '\xef\xbb\xbf' (U+FEFF): names are ASCII letters, digits and _, "
         "and other characters may appear only in comments\n"
         "  \xef\xbb\xbfz = 2\n"
         "  ^\n"},
        {"y = x.t\n", /* PyTorch's W.t() */
         "t.bp:1:6: error: expected 'T' after '.': the transpose is written x.T, without ()\n"
         "  y = x.t\n"
         "       ^\n"},
        {"optimizer adam(lr = 1e-3,)\n",
         "t.bp:1:26: error: unexpected ')', expected an expression\n"
         "  optimizer adam(lr = 1e-3,)\n"
         "                           ^\n"},
        {"input int\n",
         "t.bp:1:7: error: 'int' is a keyword, not a name\n"
         "  input int\n"
         "        ^\n"},
        {"x = y = 2\n",
         "t.bp:1:7: error: unexpected '=', expected an operator or end of line\n"
         "  x = y = 2\n"
         "        ^\n"},
        /* a misspelled statement keyword read as a binding's name said "expected '='" */
        {"parm W[3]\n",
         "t.bp:1:1: error: unknown statement 'parm'; did you mean 'param'?\n"
         "  parm W[3]\n"
         "  ^\n"},
        {"Loss sum(W)\n",
         "t.bp:1:1: error: unknown statement 'Loss'; did you mean 'loss'?\n"
         "  Loss sum(W)\n"
         "  ^\n"},
        {"ouput W\n",
         "t.bp:1:1: error: unknown statement 'ouput'; did you mean 'output'?\n"
         "  ouput W\n"
         "  ^\n"},
        {"optimiser adam(lr=1e-3)\n",
         "t.bp:1:1: error: unknown statement 'optimiser'; did you mean 'optimizer'?\n"
         "  optimiser adam(lr=1e-3)\n"
         "  ^\n"},
        {"x = 1; inputs x[3]\n",
         "t.bp:1:8: error: unknown statement 'inputs'; did you mean 'input'?\n"
         "  x = 1; inputs x[3]\n"
         "         ^\n"},
        {"def f(a) {\n  retrun a\n}\n",
         "t.bp:2:3: error: unknown statement 'retrun'; did you mean 'return'?\n"
         "    retrun a\n"
         "    ^\n"},
        {"parameter W[3] = he\n",
         "t.bp:1:1: error: unknown statement 'parameter'; did you mean 'param'?\n"
         "  parameter W[3] = he\n"
         "  ^\n"},
        /* what Python and PyTorch users write */
        {"x = 2 * * 3\n",
         "t.bp:1:9: error: unexpected '*', expected an expression\n"
         "  x = 2 * * 3\n"
         "          ^\n"},
        {"loss = mean(h)\n",
         "t.bp:1:1: error: 'loss' takes its expression without '=': loss EXPR\n"
         "  loss = mean(h)\n"
         "  ^\n"},
        {"output = h\n",
         "t.bp:1:1: error: 'output' takes its names without '=': output NAME, ...\n"
         "  output = h\n"
         "  ^\n"},
        {"param = 3\n",
         "t.bp:1:1: error: 'param' is a keyword, not a name\n"
         "  param = 3\n"
         "  ^\n"},
        {"input loss[3]\n",
         "t.bp:1:7: error: 'loss' is a keyword, not a name\n"
         "  input loss[3]\n"
         "        ^\n"},
        {"y = model + 1\n",
         "t.bp:1:5: error: 'model' is a keyword, not a name\n"
         "  y = model + 1\n"
         "      ^\n"},
        {"loss W.sum()\n",
         "t.bp:1:7: error: methods and modules are not part of the language: write sum(W)\n"
         "  loss W.sum()\n"
         "        ^\n"},
        {"loss torch.sum(W)\n",
         "t.bp:1:11: error: methods and modules are not part of the language: write sum(...)\n"
         "  loss torch.sum(W)\n"
         "            ^\n"},
        {"y = torch.nn.functional.relu(x) + np.exp(x)\n",
         "t.bp:1:10: error: methods and modules are not part of the language ('.nn')\n"
         "  y = torch.nn.functional.relu(x) + np.exp(x)\n"
         "           ^\n"},
        {"y = x.pow(2)\n",
         "t.bp:1:6: error: methods and modules are not part of the language ('.pow'); write a ^ b\n"
         "  y = x.pow(2)\n"
         "       ^\n"},
        {"y = x.shape\n", /* (it said nothing of the declaration) */
         "t.bp:1:6: error: methods and modules are not part of the language ('.shape'); a size is written as its declaration names it (input x[B, 784]: B)\n"
         "  y = x.shape\n"
         "       ^\n"},
        /* a word near no keyword keeps the parser's message */
        {"using torch\n", /* (import has its own message: test_diagnostics.c) */
         "t.bp:1:12: error: unexpected end of line, expected '='\n"
         "  using torch\n"
         "             ^\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Parsed r = parse(cases[i][0]);
        if (strcmp(r.errors, cases[i][1]) != 0)
            fprintf(stderr, "case %zu: %s", i, cases[i][0]);
        assert_string_equal(r.errors, cases[i][1]);
        assert_int_equal(r.nerrors, 1);
        parsed_free(&r);
    }
}

static void test_long_name(void **state) {
    (void)state;
    char text[400];
    memset(text, 'a', 300);
    memcpy(text + 300, " = 1\n", 6);
    Parsed r = parse(text);
    assert_int_equal(r.nerrors, 1);
    assert_non_null(strstr(r.errors, "t.bp:1:1: error: name is too long (limit 64 characters)\n"));
    parsed_free(&r);
    memset(text, 'a', 65); /* 100 made C that did not compile (tests/c_names/long_names.bp) */
    memcpy(text + 65, " = 1\n", 6);
    r = parse(text);
    assert_int_equal(r.nerrors, 1);
    parsed_free(&r);
    memset(text, 'a', 64);
    memcpy(text + 64, " = 1\n", 6);
    r = parse(text);
    assert_int_equal(r.nerrors, 0);
    parsed_free(&r);
}

static void test_multiple_errors(void **state) {
    (void)state;
    Parsed r = parse("x = )\n"
                     "ok1 = 1\n"
                     "y = f(a\n"            /* missing ')': recovery stops at line 4's end */
                     "z = 2\n"
                     "ok2 = 2\n"
                     "w = 3 3; ok3 = 3\n"
                     "def f(a) {\n"
                     "  t = )\n"
                     "  return t\n"
                     "}\n"
                     "v = $\n"
                     "ok4 = 4\n");
    assert_int_equal(r.nerrors, 5);
    assert_string_equal(r.errors,
                        "t.bp:1:5: error: unexpected ')', expected an expression\n"
                        "  x = )\n"
                        "      ^\n"
                        "t.bp:4:1: error: unexpected name 'z' inside the '(' opened at 3:6, expected an operator, "
                        "'=', ')' or ','\n"
                        "  z = 2\n"
                        "  ^\n"
                        "t.bp:6:7: error: unexpected number '3', expected an operator or end of line\n"
                        "  w = 3 3; ok3 = 3\n"
                        "        ^\n"
                        "t.bp:8:7: error: unexpected ')', expected an expression\n"
                        "    t = )\n"
                        "        ^\n"
                        "t.bp:11:5: error: unexpected character '$'\n"
                        "  v = $\n"
                        "      ^\n");
    /* the statements around the errors are kept (the def, with its broken body) */
    assert_string_equal(r.dump, "(bind ok1 1)\n"
                                "(bind ok2 2)\n"
                                "(bind ok3 3)\n"
                                "(def f (a) (block (return t)))\n"
                                "(bind ok4 4)\n");
    parsed_free(&r);
}

/* A UTF-8 byte order mark at the start (Windows editors write one) is skipped: the program
 * parses as without it (it was "unexpected byte 0xef"). The caret goes under its character:
 * one space for each character before it, not each byte, and the column says the same (it
 * counted bytes: 1:10 for the 9th character after an 'é', 1:17 for the 14th after "é" and αβ). */
static void test_byte_order_mark(void **state) {
    (void)state;
    expect_dump("\xef\xbb\xbfparam W[3]\nloss sum(W)\n", "(param W [3])\n(loss (call sum W))\n");
    expect_dump("\xef\xbb\xbf", "");
    assert_int_equal(parse_is_incomplete("\xef\xbb\xbfx = (1 +"), 1);
    Parsed r = parse("y = \xc3\xa9 + \xe2\x9c\x93\n");
    assert_int_equal(r.nerrors, 2);
    assert_non_null(strstr(r.errors, "t.bp:1:9: error: non-ASCII character '\xe2\x9c\x93' (U+2713)"));
    assert_non_null(strstr(r.errors, "  y = \xc3\xa9 + \xe2\x9c\x93\n"
                                     "          ^\n"));
    parsed_free(&r);
    r = parse("h = \"\xc3\xa9\" + \xce\xb1\xce\xb2 $ 1\n"); /* a string, a run of two, then '$' */
    assert_int_equal(r.nerrors, 3);
    assert_non_null(strstr(r.errors, "t.bp:1:11: error: non-ASCII character '\xce\xb1' (U+03B1)"));
    assert_non_null(strstr(r.errors, "t.bp:1:14: error: unexpected character '$'\n"
                                     "  h = \"\xc3\xa9\" + \xce\xb1\xce\xb2 $ 1\n"
                                     "               ^\n"));
    parsed_free(&r);
}

/* CRLF line ends: "\r\n" is one end of line, at the '\r' (the column a file without the
 * '\r's gives), comments and trailing blanks included; the quoted line leaves the '\r' out
 * (it ended in a '?'). fashion_mlp, its comments and blank lines in CRLF, parses the same. */
static void test_crlf(void **state) {
    (void)state;
    char crlf[2 * sizeof fashion_mlp];
    size_t n = 0;
    for (const char *q = fashion_mlp; *q; q++) {
        if (*q == '\n') crlf[n++] = '\r';
        crlf[n++] = *q;
    }
    crlf[n] = 0;
    Parsed lf = parse(fashion_mlp), r = parse(crlf);
    assert_int_equal(r.nerrors, 0);
    assert_string_equal(r.dump, lf.dump);
    parsed_free(&lf);
    parsed_free(&r);
    static const char *const cases[][2] = {
        {"y = a $ b\r\n",
         "t.bp:1:7: error: unexpected character '$'\n"
         "  y = a $ b\n"
         "        ^\n"},
        {"param W[3]\r\ndef f(a)\r\n",
         "t.bp:2:9: error: unexpected end of line, expected '=' or '{'\n"
         "  def f(a)\n"
         "          ^\n"},
        {"def f(a)  \r\n",
         "t.bp:1:11: error: unexpected end of line, expected '=' or '{'\n"
         "  def f(a)  \n"
         "            ^\n"},
        {"def f(a) # c\r\n",
         "t.bp:1:13: error: unexpected end of line, expected '=' or '{'\n"
         "  def f(a) # c\n"
         "              ^\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = parse(cases[i][0]);
        assert_string_equal(r.errors, cases[i][1]);
        assert_int_equal(r.nerrors, 1);
        parsed_free(&r);
    }
}

static void test_error_limit(void **state) {
    (void)state;
    size_t n = 0;
    char *text = NULL;
    FILE *f = open_memstream(&text, &n);
    for (int i = 0; i < 200; i++) fputs("x = )\n", f);
    fclose(f);
    Parsed r = parse(text);
    assert_int_equal(r.nerrors, 50);
    assert_non_null(strstr(r.errors, "bpc: too many errors; stopping here\n"));
    parsed_free(&r);
    free(text);
}

/* ---- robustness ----------------------------------------------------------------------- */

static char *repeat(const char *prefix, const char *unit, int n, const char *suffix) {
    size_t lp = strlen(prefix), lu = strlen(unit), ls = strlen(suffix);
    char *s = malloc(lp + lu * (size_t)n + ls + 1);
    assert_non_null(s);
    memcpy(s, prefix, lp);
    for (int i = 0; i < n; i++) memcpy(s + lp + lu * (size_t)i, unit, lu);
    memcpy(s + lp + lu * (size_t)n, suffix, ls + 1);
    return s;
}

/* Parses text (freed here), which must fail with `message` once and nothing deeper than
 * the limit. */
static void expect_error_once(char *text, const char *message) {
    Parsed r = parse(text);
    assert_true(r.nerrors >= 1);
    if (!strstr(r.errors, message)) fprintf(stderr, "expected '%s', got:\n%.400s\n", message, r.errors);
    assert_non_null(strstr(r.errors, message));
    assert_null(strstr(strstr(r.errors, message) + 1, message));
    assert_true(r.max_depth <= AST_MAX_DEPTH);
    parsed_free(&r);
    free(text);
}

static void expect_too_deep(char *text) {
    expect_error_once(text, "error: expression is nested too deeply (limit 256 levels; each operator or call "
                            "adds one, a chain such as a + b + ... too: give parts of it names)\n");
}

static void expect_too_many_brackets(char *text) {
    expect_error_once(text, "error: brackets are nested too deeply (limit 256 open at once)\n");
}

static void expect_stack_full(char *text) {
    expect_error_once(text, "error: expression is nested too deeply: the parser's stack of operators waiting for "
                            "their operands (10000 entries) is full here (the limit is 256 levels: give parts of "
                            "it names)\n");
}

/* Nesting past each limit is one located error, and the tree stays within AST_MAX_DEPTH.
 * Brackets: the 257th open at once is reported where it stands (100000 parentheses said
 * "limit 256 levels", which parentheses do not add, 10000 in where the parser's stack ran
 * out, and quoted the whole 200 KB line); the quote is a window around the caret. */
static void test_deep_nesting(void **state) {
    (void)state;
    enum { N = 100000 };
    char *open = repeat("x = ", "(", N, "a");
    char *both = repeat(open, ")", N, "\n");
    free(open);
    Parsed r = parse(both);
    char expected[1024], *q = expected;
    q += sprintf(q, "t.bp:1:261: error: brackets are nested too deeply (limit 256 open at once)\n  ...");
    for (int i = 0; i < 200; i++) *q++ = '(';
    q += sprintf(q, "...\n     %*s^\n", 100, "");
    assert_string_equal(r.errors, expected);
    assert_int_equal(r.nerrors, 1);
    assert_string_equal(r.dump, "");
    parsed_free(&r);
    free(both);
    expect_too_many_brackets(repeat("x = ", "f(", N, "x\n"));
    expect_too_many_brackets(repeat("x = ", "[", N, "\n"));
    expect_too_many_brackets(repeat("x = ", "-(", N, "x\n"));
    expect_too_deep(repeat("x = ", "a+", N, "a\n"));
    expect_stack_full(repeat("x = ", "-", N, "x\n"));
    expect_stack_full(repeat("x = ", "2^", N, "x\n"));
    expect_too_deep(repeat("x = a", ".T", N, "\n"));
    expect_too_deep(repeat("def f(a) {\n return ", "-", 300, "a\n}\n"));
    expect_too_deep(repeat("x = ", "-", 9000, "x\n")); /* past the levels, within the stack */

    /* at the limit: fine; parentheses add no depth */
    r = parse("x = ((((((((((a))))))))))\n");
    assert_int_equal(r.nerrors, 0);
    assert_string_equal(r.dump, "(bind x a)\n");
    parsed_free(&r);
    char *ok = repeat("x = ", "-", AST_MAX_DEPTH - 1, "a\n");
    r = parse(ok);
    assert_int_equal(r.nerrors, 0);
    assert_int_equal(r.max_depth, AST_MAX_DEPTH);
    parsed_free(&r);
    free(ok);
    expect_too_deep(repeat("x = ", "-", AST_MAX_DEPTH, "a\n"));
    open = repeat("x = ", "(", AST_MAX_OPEN, "a");
    ok = repeat(open, ")", AST_MAX_OPEN, "\ny = 1\n");
    free(open);
    r = parse(ok);
    assert_int_equal(r.nerrors, 0);
    assert_string_equal(r.dump, "(bind x a)\n(bind y 1)\n");
    parsed_free(&r);
    free(ok);
    /* one bracket more: the statement is skipped to where its brackets close, and the next
       one parses */
    open = repeat("x = ", "(", AST_MAX_OPEN + 1, "a");
    both = repeat(open, ")", AST_MAX_OPEN + 1, "\ny = 1\n");
    free(open);
    r = parse(both);
    assert_int_equal(r.nerrors, 1);
    assert_string_equal(r.dump, "(bind y 1)\n");
    parsed_free(&r);
    free(both);
}

/* A small fixed-seed generator, so that failures reproduce. */
static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void test_random_bytes(void **state) {
    (void)state;
    uint32_t seed = 12345;
    char buf[4097];
    for (int iter = 0; iter < 300; iter++) {
        int n = (int)(rng_next(&seed) % 4096);
        for (int i = 0; i < n; i++) buf[i] = (char)(1 + rng_next(&seed) % 255);
        buf[n] = 0;
        Parsed r = parse(buf);
        assert_true(r.max_depth <= AST_MAX_DEPTH);
        parsed_free(&r);
        (void)parse_is_incomplete(buf);
    }
}

static void test_token_soup(void **state) {
    (void)state;
    static const char *const toks[] = {
        "x", "y", "(", ")", "[", "]", "{", "}", ",", "=", ":", "int", "def", "return",
        "input", "param", "loss", "output", "optimizer", "model", "clip_grad_norm", "+", "-",
        "*", "/", "@", "^", ".T", ".", "1", "2.5", "1e400", "\n", ";", "f", "#c\n", "$", "\xff",
    };
    enum { NT = sizeof toks / sizeof toks[0] };
    uint32_t seed = 777;
    char buf[8192];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = 0;
        int n = (int)(rng_next(&seed) % 300);
        for (int i = 0; i < n; i++) {
            const char *t = toks[rng_next(&seed) % NT];
            size_t l = strlen(t);
            memcpy(buf + len, t, l);
            len += l;
            buf[len++] = rng_next(&seed) % 3 ? ' ' : '\n';
        }
        buf[len] = 0;
        Parsed r = parse(buf);
        assert_true(r.max_depth <= AST_MAX_DEPTH);
        parsed_free(&r);
        (void)parse_is_incomplete(buf);
    }
}

static void test_incomplete(void **state) {
    (void)state;
    static const struct {
        const char *text;
        int incomplete;
    } cases[] = {
        {"", 0},
        {"x = 1\n", 0},
        {"x = 1", 0},
        {"# comment\n", 0},
        {"x = f(a,\n", 1},
        {"x = f(a\n", 1},
        {"x = [1, 2", 1},
        {"def f(a) {\n", 1},
        {"def f(a) {\n  t = a\n", 1},
        {"def f(a) {\n  return a\n}\n", 0},
        {"x = a +\n", 1},
        {"x = a @  # comment\n", 1},
        {"x = a *", 1},
        {"x = -", 1},
        {"x =", 1},
        {"output a,", 1},
        {"x = a.T\n", 0},
        {"x = )\n", 0},
        {"x = (a]\n", 0},
        {"x = f(a)\n", 0},
        {"loss x^", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (parse_is_incomplete(cases[i].text) != cases[i].incomplete)
            fprintf(stderr, "case %zu: %s\n", i, cases[i].text);
        assert_int_equal(parse_is_incomplete(cases[i].text), cases[i].incomplete);
    }
    assert_int_equal(parse_is_incomplete(NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_mlp),
        cmocka_unit_test(test_scalar_program),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_number_kinds),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_newlines),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_defs),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_long_name),
        cmocka_unit_test(test_multiple_errors),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_error_limit),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_token_soup),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_checkpoint_binding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
