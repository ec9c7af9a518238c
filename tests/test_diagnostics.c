/* test_diagnostics.c — semantic and shape errors, as the user sees them.
 *
 * A table of bad programs, each with the exact text bpc prints for it (message, quoted
 * line, caret), compiled through the whole pipeline (th_build). Syntax errors live in
 * test_parser.c, except other languages' habits (strings, //, +=, import, if, for, lambda,
 * ==, :=, a, b = ..., x[0], 0x10, 1_000, 1e, 2.0f, a bracket left open, a Python block's
 * body, with, @decorators, and/or/not, def annotations, W.T(), x[?, 784]); this file covers
 * names, defs, calls, axes, shapes, losses, optimizers, initialisers and declarations. Also: independent errors in one program are all
 * reported, an error in a def's expansion has a note per call (not counted as errors),
 * and a list of hostile programs (deep def chains, huge dimensions, thousands of
 * statements, deep call nesting, random bytes) returns without crashing, with an
 * "error:" line whenever it fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

typedef struct DiagCase {
    const char *what;
    const char *program;
    const char *expected; /* every line bpc prints */
} DiagCase;

static const DiagCase cases[] = {
    {"unknown name",
     "y = x + 1\n",
     "t.bp:1:5: error: unknown name 'x'\n"
     "  y = x + 1\n"
     "      ^\n"},
    {"unknown function",
     "y = foo(1)\n",
     "t.bp:1:5: error: unknown function 'foo'\n"
     "  y = foo(1)\n"
     "      ^\n"},
    /* "did you mean": the nearest name visible there (bindings, inputs, parameters, a
       def's parameters and locals, dimension names), function (built-ins, defs) or keyword
       argument, and PyTorch's spellings; nothing for a name near none (above) */
    {"a misspelled name",
     "param h[3]\n"
     "loss sum(hh)\n",
     "t.bp:2:10: error: unknown name 'hh'; did you mean 'h'?\n"
     "  loss sum(hh)\n"
     "           ^\n"},
    {"a name in the wrong case",
     "input x[3]\n"
     "param W[3]\n"
     "loss sum(x * w)\n",
     "t.bp:3:14: error: unknown name 'w'; did you mean 'W'?\n"
     "  loss sum(x * w)\n"
     "               ^\n"},
    {"a misspelled dimension name",
     "input x[Batch, 3]\n"
     "param W[3]\n"
     "loss sum(x @ W) / batch\n",
     "t.bp:3:19: error: unknown name 'batch'; did you mean 'Batch'?\n"
     "  loss sum(x @ W) / batch\n"
     "                    ^\n"},
    {"a misspelled local in a def body",
     "def f(x) {\n"
     "  hidden = relu(x)\n"
     "  return hiden * 2\n"
     "}\n"
     "y = f(1)\n",
     "t.bp:3:10: error: unknown name 'hiden'; did you mean 'hidden'?\n"
     "    return hiden * 2\n"
     "           ^\n"
     "t.bp:5:5: note: in this call of 'f'\n"
     "  y = f(1)\n"
     "      ^\n"},
    {"a misspelled built-in",
     "param W[3]\n"
     "loss sum(rleu(W))\n",
     "t.bp:2:10: error: unknown function 'rleu'; did you mean 'relu'?\n"
     "  loss sum(rleu(W))\n"
     "           ^\n"},
    {"a misspelled def, in a def body",
     "def layer(h) = relu(h)\n"
     "def net(x) = layr(layer(x))\n",
     "t.bp:2:14: error: unknown function 'layr'; did you mean 'layer'?\n"
     "  def net(x) = layr(layer(x))\n"
     "               ^\n"},
    {"PyTorch's pow",
     "param W[3]\n"
     "loss sum(pow(W, 2))\n",
     "t.bp:2:10: error: unknown function 'pow'; write a ^ b\n"
     "  loss sum(pow(W, 2))\n"
     "           ^\n"},
    {"PyTorch's matmul",
     "param W[3, 3]\n"
     "loss sum(matmul(W, W))\n",
     "t.bp:2:10: error: unknown function 'matmul'; write a @ b\n"
     "  loss sum(matmul(W, W))\n"
     "           ^\n"},
    {"PyTorch's mse_loss",
     "param W[3]\n"
     "loss mse_loss(W, 0)\n",
     "t.bp:2:6: error: unknown function 'mse_loss'; did you mean 'mse'?\n"
     "  loss mse_loss(W, 0)\n"
     "       ^\n"},
    {"PyTorch's CrossEntropyLoss (too far from 'cross_entropy' for a \"did you mean\")",
     "input x[B, 4]\n"
     "input y[B] : int\n"
     "param W[4, 3]\n"
     "loss CrossEntropyLoss(x @ W, y)\n",
     "t.bp:4:6: error: unknown function 'CrossEntropyLoss'; did you mean 'cross_entropy'?\n"
     "  loss CrossEntropyLoss(x @ W, y)\n"
     "       ^\n"},
    {"PyTorch's cross_entropy_loss",
     "input x[B, 4]\n"
     "input y[B] : int\n"
     "param W[4, 3]\n"
     "loss cross_entropy_loss(x @ W, y)\n",
     "t.bp:4:6: error: unknown function 'cross_entropy_loss'; did you mean 'cross_entropy'?\n"
     "  loss cross_entropy_loss(x @ W, y)\n"
     "       ^\n"},
    {"PyTorch's MSELoss",
     "param W[3]\n"
     "loss MSELoss(W, 0)\n",
     "t.bp:2:6: error: unknown function 'MSELoss'; did you mean 'mse'?\n"
     "  loss MSELoss(W, 0)\n"
     "       ^\n"},
    {"Keras's mean_squared_error",
     "param W[3]\n"
     "loss mean_squared_error(W, 0)\n",
     "t.bp:2:6: error: unknown function 'mean_squared_error'; did you mean 'mse'?\n"
     "  loss mean_squared_error(W, 0)\n"
     "       ^\n"},
    {"PyTorch's l1_loss",
     "param W[3]\n"
     "loss l1_loss(W, 0)\n",
     "t.bp:2:6: error: unknown function 'l1_loss'; write mean(abs(pred - target))\n"
     "  loss l1_loss(W, 0)\n"
     "       ^\n"},
    {"swish",
     "param W[3]\n"
     "loss sum(swish(W))\n",
     "t.bp:2:10: error: unknown function 'swish'; write x * sigmoid(x)\n"
     "  loss sum(swish(W))\n"
     "           ^\n"},
    {"PyTorch's F.linear, called bare",
     "input x[B, 4]\n"
     "param W[4, 3]\n"
     "loss sum(linear(x, W))\n",
     "t.bp:3:10: error: unknown function 'linear'; write x @ W + b (W of shape [in, out])\n"
     "  loss sum(linear(x, W))\n"
     "           ^\n"},
    /* names whose nearest built-in is another function ('elu' is not 'relu', nor 'tan'
       'tanh', nor 'mish' 'mse'), or too far from bpc's ('bce_with_logits'): said how */
    {"PyTorch's bce_with_logits (it said nothing)",
     "param W[3]\n"
     "loss bce_with_logits(W, 1)\n",
     "t.bp:2:6: error: unknown function 'bce_with_logits'; did you mean 'bce_logits'?\n"
     "  loss bce_with_logits(W, 1)\n"
     "       ^\n"},
    {"elu (it said \"did you mean 'relu'?\")",
     "param W[3]\n"
     "loss sum(elu(W))\n",
     "t.bp:2:10: error: unknown function 'elu'; write relu(x) + exp(minimum(x, 0)) - 1\n"
     "  loss sum(elu(W))\n"
     "           ^\n"},
    {"tan (it said \"did you mean 'tanh'?\")",
     "param W[3]\n"
     "loss sum(tan(W))\n",
     "t.bp:2:10: error: unknown function 'tan'; write sin(x) / cos(x)\n"
     "  loss sum(tan(W))\n"
     "           ^\n"},
    {"huber (it said nothing)",
     "param W[3]\n"
     "loss huber_loss(W, 0)\n",
     "t.bp:2:6: error: unknown function 'huber_loss'; write mean(0.5 * q ^ 2 + abs(d) - q) with d = pred - target, q = minimum(abs(d), 1)\n"
     "  loss huber_loss(W, 0)\n"
     "       ^\n"},
    {"var (it said nothing)",
     "param W[3]\n"
     "loss var(W)\n",
     "t.bp:2:6: error: unknown function 'var'; write mean((x - mean(x)) ^ 2) (NumPy's var; PyTorch's divides by N - 1)\n"
     "  loss var(W)\n"
     "       ^\n"},
    {"unsqueeze (it said nothing)",
     "param W[3]\n"
     "loss sum(unsqueeze(W, 0))\n",
     "t.bp:2:10: error: unknown function 'unsqueeze'; write reshape(x, [...]) with the new axis of size 1\n"
     "  loss sum(unsqueeze(W, 0))\n"
     "           ^\n"},
    {"one_hot (it said nothing)",
     "input y[B] : int\n"
     "input x[B, 3]\n"
     "loss mse(x, one_hot(y, 3))\n",
     "t.bp:3:13: error: unknown function 'one_hot'; cross_entropy and nll take the integer labels themselves\n"
     "  loss mse(x, one_hot(y, 3))\n"
     "              ^\n"},
    {"a min reduction",
     "param W[3]\n"
     "loss min(W)\n",
     "t.bp:2:6: error: unknown function 'min'; there is no 'min' reduction: write -max(-x) (or minimum(a, b) for two tensors)\n"
     "  loss min(W)\n"
     "       ^\n"},
    {"PyTorch's dim",
     "param W[3]\n"
     "loss sum(W, dim = 0)\n",
     "t.bp:2:13: error: 'sum' has no argument named 'dim' (it takes x, axis, keepdims); did you mean 'axis'?\n"
     "  loss sum(W, dim = 0)\n"
     "              ^\n"},
    {"PyTorch's keepdim",
     "param W[3]\n"
     "loss sum(mean(W, axis = 0, keepdim = 1))\n",
     "t.bp:2:28: error: 'mean' has no argument named 'keepdim' (it takes x, axis, keepdims); did you mean 'keepdims'?\n"
     "  loss sum(mean(W, axis = 0, keepdim = 1))\n"
     "                             ^\n"},
    {"PyTorch's negative_slope",
     "param W[3]\n"
     "loss sum(leaky_relu(W, negative_slope = 0.1))\n",
     "t.bp:2:24: error: 'leaky_relu' has no argument named 'negative_slope' (it takes x, alpha); did you mean 'alpha'?\n"
     "  loss sum(leaky_relu(W, negative_slope = 0.1))\n"
     "                         ^\n"},
    {"PyTorch's betas",
     "optimizer adam(lr = 1e-3, betas = [0.9, 0.99])\n",
     "t.bp:1:27: error: 'adam' has no argument named 'betas' (it takes lr, beta1, beta2, eps); write beta1 = 0.9, beta2 = 0.99\n"
     "  optimizer adam(lr = 1e-3, betas = [0.9, 0.99])\n"
     "                            ^\n"},
    {"weight decay on adam",
     "optimizer adam(weight_decay = 0.01)\n",
     "t.bp:1:16: error: 'adam' has no argument named 'weight_decay' (it takes lr, beta1, beta2, eps); for weight decay, use adamw(weight_decay=...)\n"
     "  optimizer adam(weight_decay = 0.01)\n"
     "                 ^\n"},
    {"a misspelled keyword of a def",
     "def f(scale, shift) = scale + shift\n"
     "y = f(1, shfit = 2)\n",
     "t.bp:2:10: error: 'f' has no argument named 'shfit' (it takes scale, shift); did you mean 'shift'?\n"
     "  y = f(1, shfit = 2)\n"
     "           ^\n"},
    {"name used before its definition",
     "a = b\n"
     "b = 1\n",
     "t.bp:1:5: error: 'b' is used before its definition (at 2:1)\n"
     "  a = b\n"
     "      ^\n"},
    {"def used before its definition",
     "y = f(1)\n"
     "def f(x) = x\n",
     "t.bp:1:5: error: 'f' is used before its definition (at 2:5)\n"
     "  y = f(1)\n"
     "      ^\n"},
    {"rebinding a name",
     "a = 1\n"
     "a = 2\n",
     "t.bp:2:1: error: 'a' is already defined (at 1:1)\n"
     "  a = 2\n"
     "  ^\n"},
    {"an input rebound as a value",
     "input x[3]\n"
     "x = 2\n",
     "t.bp:2:1: error: 'x' is already defined (at 1:7)\n"
     "  x = 2\n"
     "  ^\n"},
    {"def redefined",
     "def f(x) = x\n"
     "def f(y) = y\n",
     "t.bp:2:5: error: 'f' is already defined (at 1:5)\n"
     "  def f(y) = y\n"
     "      ^\n"},
    {"redefining a built-in with def",
     "def relu(x) = x\n",
     "t.bp:1:5: error: 'relu' is a built-in function and cannot be redefined\n"
     "  def relu(x) = x\n"
     "      ^\n"},
    {"direct recursion",
     "def f(x) = f(x)\n"
     "y = f(1)\n",
     "t.bp:1:12: error: 'f' calls itself; defs are inlined and cannot be recursive\n"
     "  def f(x) = f(x)\n"
     "             ^\n"},
    {"mutual recursion",
     "def f(x) = g(x)\n"
     "def g(x) = f(x)\n"
     "y = f(1)\n",
     "t.bp:2:12: error: 'f' calls itself through 'g'; defs are inlined and cannot be recursive\n"
     "  def g(x) = f(x)\n"
     "             ^\n"},
    {"recursion through three other defs",
     "def a(x) = b(x)\n"
     "def b(x) = c(x)\n"
     "def c(x) = d(x)\n"
     "def d(x) = a(x)\n"
     "y = a(1)\n",
     "t.bp:4:12: error: 'a' calls itself through 'b', 'c', 'd'; defs are inlined and cannot be recursive\n"
     "  def d(x) = a(x)\n"
     "             ^\n"},
    /* of more than 10 defs in between, the first and the last 5 are named (a cycle through
       30000 defs made a message of 30000 names, in 27 s and 4.2 GB) */
    {"recursion through twelve other defs",
     "def f0(x) = f1(x)\ndef f1(x) = f2(x)\ndef f2(x) = f3(x)\ndef f3(x) = f4(x)\ndef f4(x) = f5(x)\n"
     "def f5(x) = f6(x)\ndef f6(x) = f7(x)\ndef f7(x) = f8(x)\ndef f8(x) = f9(x)\ndef f9(x) = f10(x)\n"
     "def f10(x) = f11(x)\ndef f11(x) = f12(x)\ndef f12(x) = f0(x)\n",
     "t.bp:13:14: error: 'f0' calls itself through 'f1', 'f2', 'f3', 'f4', 'f5', ... 2 more ..., 'f8', "
     "'f9', 'f10', 'f11', 'f12'; defs are inlined and cannot be recursive\n"
     "  def f12(x) = f0(x)\n"
     "               ^\n"},
    /* The search for a cycle runs only when a def's name was called before it was bound
       (sema.c's calls_itself); these take it through defs reached more than once */
    {"recursion found through two paths to the def that closes it",
     "def f(x) = g(x) + h(x)\n"
     "def g(x) = k(x)\n"
     "def h(x) = k(x)\n"
     "def k(x) = f(x)\n",
     "t.bp:4:12: error: 'f' calls itself through 'g', 'k'; defs are inlined and cannot be recursive\n"
     "  def k(x) = f(x)\n"
     "             ^\n"},
    {"defs reaching one def by many paths, called before they are bound, with no cycle",
     "def k(x) = x\n"
     "def f(x) = g(x) + h(x) + later(x)\n"
     "def g(x) = k(x) + h(x)\n"
     "def h(x) = k(x) * k(x)\n"
     "def later(x) = g(x) + h(x) + k(x)\n"
     "y = f(1)\n"
     "z = w\n",
     "t.bp:7:5: error: unknown name 'w'\n"
     "  z = w\n"
     "      ^\n"},
    /* a def further down is the first statement of its name (sema.c's named_stmts) */
    {"a def called before two defs of its name",
     "def f(x) = g(x, 1)\n"
     "def g(x) = x\n"
     "def g(x, y) = x + y\n",
     "t.bp:1:17: error: 'g' takes 1 argument, got 2\n"
     "  def f(x) = g(x, 1)\n"
     "                  ^\n"
     "t.bp:3:5: error: 'g' is already defined (at 2:5)\n"
     "  def g(x, y) = x + y\n"
     "      ^\n"},
    {"a name used before the first of two definitions",
     "a = b\n"
     "b = 1\n"
     "b = 2\n",
     "t.bp:1:5: error: 'b' is used before its definition (at 2:1)\n"
     "  a = b\n"
     "      ^\n"
     "t.bp:3:1: error: 'b' is already defined (at 2:1)\n"
     "  b = 2\n"
     "  ^\n"},
    {"a def calling an unknown function, never called",
     "def g(a) = h2(a)\n",
     "t.bp:1:12: error: unknown function 'h2'\n"
     "  def g(a) = h2(a)\n"
     "             ^\n"},
    {"a broken def's uses report nothing more",
     "def g(a) = h2(a)\n"
     "param p = 1\n"
     "loss g(p) + g(p)\n",
     "t.bp:1:12: error: unknown function 'h2'\n"
     "  def g(a) = h2(a)\n"
     "             ^\n"},
    {"direct recursion, never called",
     "def f(x) = 1 + f(x)\n",
     "t.bp:1:16: error: 'f' calls itself; defs are inlined and cannot be recursive\n"
     "  def f(x) = 1 + f(x)\n"
     "                 ^\n"},
    {"mutual recursion through a block def, never called",
     "def f(x) {\n"
     "  y = g(x)\n"
     "  return y\n"
     "}\n"
     "def g(x) = f(x)\n",
     "t.bp:5:12: error: 'f' calls itself through 'g'; defs are inlined and cannot be recursive\n"
     "  def g(x) = f(x)\n"
     "             ^\n"},
    {"a def calling a def defined later with too many arguments",
     "def f(x) = g(x, 1)\n"
     "def g(x) = x\n",
     "t.bp:1:17: error: 'g' takes 1 argument, got 2\n"
     "  def f(x) = g(x, 1)\n"
     "                  ^\n"},
    {"a def calling a built-in without an argument",
     "def f(x) = maximum(x)\n",
     "t.bp:1:12: error: 'maximum' needs argument 'b'\n"
     "  def f(x) = maximum(x)\n"
     "             ^\n"},
    {"a def calling its parameter",
     "def f(x) = x(1)\n",
     "t.bp:1:12: error: 'x' is a value, not a function\n"
     "  def f(x) = x(1)\n"
     "             ^\n"},
    {"a def calling a value defined later",
     "def f(x) = v(x)\n"
     "v = 2\n",
     "t.bp:1:12: error: 'v' is a value, not a function\n"
     "  def f(x) = v(x)\n"
     "             ^\n"},
    {"a def with a parameter named twice",
     "def k6(a, a) = a\n",
     "t.bp:1:11: error: parameter 'a' of 'k6' is declared twice\n"
     "  def k6(a, a) = a\n"
     "            ^\n"},
    {"a local rebound inside a def never called",
     "def f(x) {\n"
     "  x = 2\n"
     "  return x\n"
     "}\n",
     "t.bp:2:3: error: 'x' is already defined in 'f'\n"
     "    x = 2\n"
     "    ^\n"},
    {"built-in given too many arguments",
     "y = relu(1, 2)\n",
     "t.bp:1:13: error: 'relu' takes 1 argument, got 2\n"
     "  y = relu(1, 2)\n"
     "              ^\n"},
    {"built-in missing its argument",
     "y = relu()\n",
     "t.bp:1:5: error: 'relu' needs argument 'x'\n"
     "  y = relu()\n"
     "      ^\n"},
    {"built-in with an unknown keyword",
     "y = relu(1, beta = 2)\n",
     "t.bp:1:13: error: 'relu' has no argument named 'beta' (it takes x)\n"
     "  y = relu(1, beta = 2)\n"
     "              ^\n"},
    {"built-in with a duplicate keyword",
     "y = leaky_relu(1, alpha = 0.1, alpha = 0.2)\n",
     "t.bp:1:32: error: argument 'alpha' of 'leaky_relu' is given twice\n"
     "  y = leaky_relu(1, alpha = 0.1, alpha = 0.2)\n"
     "                                 ^\n"},
    {"def missing an argument",
     "def f(a, b) = a + b\n"
     "y = f(1)\n",
     "t.bp:2:5: error: 'f' needs argument 'b'\n"
     "  y = f(1)\n"
     "      ^\n"},
    {"def given too many arguments",
     "def f(a, b) = a + b\n"
     "y = f(1, 2, 3)\n",
     "t.bp:2:13: error: 'f' takes 2 arguments, got 3\n"
     "  y = f(1, 2, 3)\n"
     "              ^\n"},
    {"def with an unknown keyword",
     "def f(a, b) = a + b\n"
     "y = f(1, c = 2)\n",
     "t.bp:2:10: error: 'f' has no argument named 'c' (it takes a, b)\n"
     "  y = f(1, c = 2)\n"
     "           ^\n"},
    {"def with a duplicate keyword",
     "def f(a, b) = a + b\n"
     "y = f(1, b = 2, b = 3)\n",
     "t.bp:2:17: error: argument 'b' of 'f' is given twice\n"
     "  y = f(1, b = 2, b = 3)\n"
     "                  ^\n"},
    {"a local rebound inside a def",
     "def f(x) {\n"
     "  a = x\n"
     "  a = 2\n"
     "  return a\n"
     "}\n"
     "y = f(1)\n",
     "t.bp:3:3: error: 'a' is already defined in 'f'\n"
     "    a = 2\n"
     "    ^\n"},
    {"unknown name inside a def body",
     "def f(x) = x + q\n"
     "y = f(1)\n",
     "t.bp:1:16: error: unknown name 'q'\n"
     "  def f(x) = x + q\n"
     "                 ^\n"
     "t.bp:2:5: note: in this call of 'f'\n"
     "  y = f(1)\n"
     "      ^\n"},
    {"a shape error in a def's body names the call that caused it",
     "input x[B, 3]\n"
     "param W1[3, 4]\n"
     "param W2[5, 2]\n"
     "def layer(h, W) = relu(h @ W)\n"
     "h1 = layer(x, W1)\n"
     "h2 = layer(h1, W2)\n"
     "loss sum(h2)\n",
     "t.bp:4:26: error: matmul shapes [B, 4] and [5, 2] do not match: 4 != 5\n"
     "  def layer(h, W) = relu(h @ W)\n"
     "                           ^\n"
     "t.bp:6:6: note: in this call of 'layer'\n"
     "  h2 = layer(h1, W2)\n"
     "       ^\n"},
    {"nested defs: a note per call, innermost first",
     "input x[B, 3]\n"
     "param W1[3, 4]\n"
     "param W2[5, 2]\n"
     "def g(h, W) = relu(h @ W)\n"
     "def f(h) {\n"
     "  a = g(h, W1)\n"
     "  return g(a, W2)\n"
     "}\n"
     "loss sum(f(x))\n",
     "t.bp:4:22: error: matmul shapes [B, 4] and [5, 2] do not match: 4 != 5\n"
     "  def g(h, W) = relu(h @ W)\n"
     "                       ^\n"
     "t.bp:7:10: note: in this call of 'g'\n"
     "    return g(a, W2)\n"
     "           ^\n"
     "t.bp:9:10: note: in this call of 'f'\n"
     "  loss sum(f(x))\n"
     "           ^\n"},
    {"an error in a def's argument is the caller's: no note",
     "def f(x) = x\n"
     "y = f(q)\n",
     "t.bp:2:7: error: unknown name 'q'\n"
     "  y = f(q)\n"
     "        ^\n"},
    {"defs nested deeper than 10 calls: the 5 innermost and 5 outermost notes",
     "param W[2, 3]\n"
     "def f1(x) = x @ W\n"
     "def f2(x) = f1(x)\n"
     "def f3(x) = f2(x)\n"
     "def f4(x) = f3(x)\n"
     "def f5(x) = f4(x)\n"
     "def f6(x) = f5(x)\n"
     "def f7(x) = f6(x)\n"
     "def f8(x) = f7(x)\n"
     "def f9(x) = f8(x)\n"
     "def f10(x) = f9(x)\n"
     "def f11(x) = f10(x)\n"
     "def f12(x) = f11(x)\n"
     "loss sum(f12(W))\n",
     "t.bp:2:15: error: matmul shapes [2, 3] and [2, 3] do not match: 3 != 2; the right side transposed would fit: write W.T\n"
     "  def f1(x) = x @ W\n"
     "                ^\n"
     "t.bp:3:13: note: in this call of 'f1'\n"
     "  def f2(x) = f1(x)\n"
     "              ^\n"
     "t.bp:4:13: note: in this call of 'f2'\n"
     "  def f3(x) = f2(x)\n"
     "              ^\n"
     "t.bp:5:13: note: in this call of 'f3'\n"
     "  def f4(x) = f3(x)\n"
     "              ^\n"
     "t.bp:6:13: note: in this call of 'f4'\n"
     "  def f5(x) = f4(x)\n"
     "              ^\n"
     "t.bp:7:13: note: in this call of 'f5'\n"
     "  def f6(x) = f5(x)\n"
     "              ^\n"
     "t.bp: note: 2 more calls in between left out\n"
     "t.bp:10:13: note: in this call of 'f8'\n"
     "  def f9(x) = f8(x)\n"
     "              ^\n"
     "t.bp:11:14: note: in this call of 'f9'\n"
     "  def f10(x) = f9(x)\n"
     "               ^\n"
     "t.bp:12:14: note: in this call of 'f10'\n"
     "  def f11(x) = f10(x)\n"
     "               ^\n"
     "t.bp:13:14: note: in this call of 'f11'\n"
     "  def f12(x) = f11(x)\n"
     "               ^\n"
     "t.bp:14:10: note: in this call of 'f12'\n"
     "  loss sum(f12(W))\n"
     "           ^\n"},
    {"calling a value",
     "a = 1\n"
     "y = a(2)\n",
     "t.bp:2:5: error: 'a' is a value, not a function\n"
     "  y = a(2)\n"
     "      ^\n"},
    {"a def used as a value",
     "def f(x) = x\n"
     "y = f\n",
     "t.bp:2:5: error: 'f' is a function; call it with arguments\n"
     "  y = f\n"
     "      ^\n"},
    {"a built-in used as a value",
     "y = relu\n",
     "t.bp:1:5: error: 'relu' is a built-in function; call it with arguments\n"
     "  y = relu\n"
     "      ^\n"},
    {"non-constant axis",
     "input x[3, 4]\n"
     "k = 1\n"
     "y = sum(x, axis = k)\n",
     "t.bp:3:19: error: argument 'axis' of 'sum' must be an integer constant\n"
     "  y = sum(x, axis = k)\n"
     "                    ^\n"},
    {"non-integer axis",
     "input x[3, 4]\n"
     "y = mean(x, axis = 0.5)\n",
     "t.bp:2:20: error: argument 'axis' of 'mean' must be an integer constant\n"
     "  y = mean(x, axis = 0.5)\n"
     "                     ^\n"},
    {"number above double's range",
     "param W[2]\n"
     "loss sum(W) * 1e400\n",
     "t.bp:2:15: error: number '1e400' is out of range: above the largest double, 1.8e308\n"
     "  loss sum(W) * 1e400\n"
     "                ^\n"},
    {"number that underflows to 0 (0e-400 is 0 itself)",
     "param W[2]\n"
     "loss sum(W) * 2.5e-400 + 0e-400 + 0.0e-999\n",
     "t.bp:2:15: error: number '2.5e-400' is out of range: too small for a double, it would be 0 (the smallest is 4.9e-324)\n"
     "  loss sum(W) * 2.5e-400 + 0e-400 + 0.0e-999\n"
     "                ^\n"},
    {"axis out of range",
     "input x[3, 4]\n"
     "y = sum(x, axis = 2)\n",
     "t.bp:2:19: error: axis 2 is out of range for shape [3, 4]\n"
     "  y = sum(x, axis = 2)\n"
     "                    ^\n"},
    {"negative axis out of range",
     "input x[3, 4]\n"
     "y = softmax(x, axis = -3)\n",
     "t.bp:2:23: error: axis -3 is out of range for shape [3, 4]\n"
     "  y = softmax(x, axis = -3)\n"
     "                        ^\n"},
    {"broadcasting mismatch",
     "input x[3, 4]\n"
     "input z[5]\n"
     "y = x + z\n",
     "t.bp:3:7: error: cannot broadcast shapes [3, 4] and [5] in '+' (axis 1: 4 against 5)\n"
     "  y = x + z\n"
     "        ^\n"},
    {"broadcasting mismatch with a symbolic dimension",
     "input x[B, 4]\n"
     "input z[T, 4]\n"
     "y = x * z\n",
     "t.bp:3:7: error: cannot broadcast shapes [B, 4] and [T, 4] in '*' (axis 0: B against T)\n"
     "  y = x * z\n"
     "        ^\n"},
    {"mse's operands that do not broadcast: named as 'mse', not its '-'",
     "input x[B, 3]\n"
     "input t[N, 4]\n"
     "param W[3, 4]\n"
     "loss mse(x @ W, t)\n",
     "t.bp:4:6: error: cannot broadcast shapes [B, 4] and [N, 4] in 'mse' (axis 0: B against N)\n"
     "  loss mse(x @ W, t)\n"
     "       ^\n"},
    {"bce_logits's operands that do not broadcast: named as 'bce_logits', in their order, not its '*'",
     "input x[B, 3]\n"
     "input t[B, 2]\n"
     "param W[3, 4]\n"
     "loss bce_logits(x @ W, t)\n",
     "t.bp:4:6: error: cannot broadcast shapes [B, 4] and [B, 2] in 'bce_logits' (axis 1: 4 against 2)\n"
     "  loss bce_logits(x @ W, t)\n"
     "       ^\n"},
    {"maximum's operands that do not broadcast",
     "param a[3]\n"
     "param b[4]\n"
     "loss sum(maximum(a, b))\n",
     "t.bp:3:10: error: cannot broadcast shapes [3] and [4] in 'maximum' (axis 0: 3 against 4)\n"
     "  loss sum(maximum(a, b))\n"
     "           ^\n"},
    {"layernorm's gamma that does not broadcast with x: said so, at gamma, not '*'",
     "input x[B, 3]\n"
     "param W[3, 4]\n"
     "loss sum(layernorm(x, W, 0))\n",
     "t.bp:3:23: error: layernorm's gamma [3, 4] does not broadcast with x [B, 3] (axis 1: 4 against 3)\n"
     "  loss sum(layernorm(x, W, 0))\n"
     "                        ^\n"},
    {"layernorm's beta that does not broadcast with x * gamma: said so, at beta, not '+'",
     "input x[B, 3]\n"
     "param g[2, 1, 3]\n"
     "param b[5, 1, 1]\n"
     "loss sum(layernorm(x, g, b))\n",
     "t.bp:4:26: error: layernorm's beta [5, 1, 1] does not broadcast with x * gamma [2, B, 3] (axis 0: 5 against 2)\n"
     "  loss sum(layernorm(x, g, b))\n"
     "                           ^\n"},
    {"matmul inner dimension mismatch",
     "input x[3, 4]\n"
     "input z[5, 2]\n"
     "y = x @ z\n",
     "t.bp:3:7: error: matmul shapes [3, 4] and [5, 2] do not match: 4 != 5\n"
     "  y = x @ z\n"
     "        ^\n"},
    {"a weight in PyTorch's [out, in] layout (it did not say .T)",
     "input x[B, 784]\n"
     "param W[256, 784]\n"
     "h = x @ W\n",
     "t.bp:3:7: error: matmul shapes [B, 784] and [256, 784] do not match: 784 != 256; the right side transposed would fit: write W.T\n"
     "  h = x @ W\n"
     "        ^\n"},
    {"a matrix that should be transposed on the left",
     "param W[3, 4]\n"
     "param v[3]\n"
     "y = W @ v\n",
     "t.bp:3:7: error: matmul shapes [3, 4] and [3] do not match: 4 != 3; the left side transposed would fit: write W.T\n"
     "  y = W @ v\n"
     "        ^\n"},
    {"a side that is not a name, transposable",
     "input x[B, 4]\n"
     "param W[3, 4]\n"
     "y = x @ (2 * W)\n",
     "t.bp:3:7: error: matmul shapes [B, 4] and [3, 4] do not match: 4 != 3; the right side transposed (.T) would fit\n"
     "  y = x @ (2 * W)\n"
     "        ^\n"},
    {"matmul of two vectors of different lengths",
     "input v[4]\n"
     "input z[5]\n"
     "y = v @ z\n",
     "t.bp:3:7: error: matmul shapes [4] and [5] do not match: 4 != 5\n"
     "  y = v @ z\n"
     "        ^\n"},
    {"matmul batch dimensions that do not broadcast",
     "input x[2, 3, 4]\n"
     "input z[5, 4, 2]\n"
     "y = x @ z\n",
     "t.bp:3:7: error: matmul batch dimensions of [2, 3, 4] and [5, 4, 2] do not broadcast\n"
     "  y = x @ z\n"
     "        ^\n"},
    {"'@' on scalars",
     "y = 2 @ 3\n",
     "t.bp:1:7: error: '@' needs tensors, not scalars (use '*' for scalars)\n"
     "  y = 2 @ 3\n"
     "        ^\n"},
    {"'@' with a scalar operand",
     "input x[3, 4]\n"
     "y = x @ 2\n",
     "t.bp:2:7: error: '@' needs tensors, not scalars (use '*' for scalars)\n"
     "  y = x @ 2\n"
     "        ^\n"},
    {"integer input used in '@'",
     "input x[3, 4]\n"
     "input i[4, 2] : int\n"
     "y = x @ i\n",
     "t.bp:3:9: error: integer value cannot be used in '@'; 'i' is declared ': int' (labels and ids): declare it without ': int' to compute with it\n"
     "  y = x @ i\n"
     "          ^\n"},
    {"integer input in an elementwise function",
     "input i[3] : int\n"
     "y = exp(i)\n",
     "t.bp:2:5: error: integer value cannot be used in 'exp'; 'i' is declared ': int' (labels and ids): declare it without ': int' to compute with it\n"
     "  y = exp(i)\n"
     "      ^\n"},
    {"integer input in arithmetic (its int32 bits were read as reals: 2 * 3 gave 8e-45)",
     "input i : int = 2\n"
     "param p = 3\n"
     "loss p * i\n",
     "t.bp:3:10: error: integer value cannot be used in '*'; 'i' is declared ': int' (labels and ids): declare it without ': int' to compute with it\n"
     "  loss p * i\n"
     "           ^\n"},
    {"integer input negated",
     "input i[3] : int\n"
     "y = -i\n",
     "t.bp:2:6: error: integer value cannot be used in '-'; 'i' is declared ': int' (labels and ids): declare it without ': int' to compute with it\n"
     "  y = -i\n"
     "       ^\n"},
    {"integer input in a loss's target",
     "input i[3] : int\n"
     "param p[3]\n"
     "loss mse(p, i)\n",
     "t.bp:3:13: error: integer value cannot be used in 'mse'; 'i' is declared ': int' (labels and ids): declare it without ': int' to compute with it\n"
     "  loss mse(p, i)\n"
     "              ^\n"},
    {"a rejected declaration, then its uses (each said \"unknown name 'W'\" too)",
     "param W[0, 3]\n"
     "input x[B] : int = 1.5\n"
     "loss sum(W) + sum(x)\n",
     "t.bp:1:9: error: dimension must be positive, got 0\n"
     "  param W[0, 3]\n"
     "          ^\n"
     "t.bp:2:20: error: the default of integer input 'x' must be an integer\n"
     "  input x[B] : int = 1.5\n"
     "                     ^\n"},
    {"keepdims other than 0 or 1 (2 was taken as 1)",
     "input x[2, 3]\n"
     "loss sum(sum(x, axis = 1, keepdims = 2))\n",
     "t.bp:2:38: error: argument 'keepdims' of 'sum' must be 0 or 1, got 2\n"
     "  loss sum(sum(x, axis = 1, keepdims = 2))\n"
     "                                       ^\n"},
    {"keepdims=True",
     "param W[3, 2]\n"
     "loss sum(sum(W, axis = 0, keepdims = True))\n",
     "t.bp:2:38: error: argument 'keepdims' of 'sum' must be 0 or 1 (True is written 1)\n"
     "  loss sum(sum(W, axis = 0, keepdims = True))\n"
     "                                       ^\n"},
    {"keepdims of a fraction (it said \"must be an integer constant\")",
     "param W[3, 2]\n"
     "loss sum(max(W, axis = 0, keepdims = 0.5))\n",
     "t.bp:2:38: error: argument 'keepdims' of 'max' must be 0 or 1, got 0.5\n"
     "  loss sum(max(W, axis = 0, keepdims = 0.5))\n"
     "                                       ^\n"},
    {"axis=None",
     "param W[3, 2]\n"
     "loss mean(W, axis = None)\n",
     "t.bp:2:21: error: there is no None: omit axis to reduce over every axis\n"
     "  loss mean(W, axis = None)\n"
     "                      ^\n"},
    {"concat along an axis whose sizes cannot be added (the message did not say why)",
     "input x[B, 3]\n"
     "input y[1, 3]\n"
     "z = concat(x, y)\n",
     "t.bp:3:5: error: cannot concatenate shapes [B, 3] and [1, 3] along axis 0: their sizes B and 1 along it do not "
     "add up to a size bpc can hold (a number, or a number times one symbolic size)\n"
     "  z = concat(x, y)\n"
     "      ^\n"},
    {"an integer argument out of range",
     "input x[2, 3]\n"
     "y = sum(x, axis = 2147483648)\n",
     "t.bp:2:19: error: argument 'axis' of 'sum' is 2147483648; it must be at most 1000000 in magnitude\n"
     "  y = sum(x, axis = 2147483648)\n"
     "                    ^\n"},
    {"an axis given twice among several",
     "param W[3, 4]\n"
     "loss sum(W, axis = (1, 1))\n",
     "t.bp:2:24: error: axis 1 is given twice\n"
     "  loss sum(W, axis = (1, 1))\n"
     "                         ^\n"},
    {"an axis given twice, counted from the end once",
     "param W[3, 4]\n"
     "loss mean(W, axis = [0, -2])\n",
     "t.bp:2:25: error: axis -2 is axis 0 again (of 2 axes)\n"
     "  loss mean(W, axis = [0, -2])\n"
     "                          ^\n"},
    {"an empty axis list",
     "param W[3, 4]\n"
     "loss max(W, axis = ())\n",
     "t.bp:2:20: error: axis () names no axis; omit axis to reduce over every axis\n"
     "  loss max(W, axis = ())\n"
     "                     ^\n"},
    {"one of several axes out of range",
     "param W[3, 4]\n"
     "loss logsumexp(W, axis = (0, 2))\n",
     "t.bp:2:30: error: axis 2 is out of range for shape [3, 4]\n"
     "  loss logsumexp(W, axis = (0, 2))\n"
     "                               ^\n"},
    {"a tuple as a value",
     "param W[3, 4]\n"
     "y = (1, 2)\n",
     "t.bp:2:5: error: a tuple (...) is only allowed as the shape of 'reshape' or the axes of a reduction\n"
     "  y = (1, 2)\n"
     "      ^\n"},
    {"PyTorch's betas, written out",
     "param W[3, 4]\n"
     "loss sum(W * W)\n"
     "optimizer adam(lr = 1e-3, betas = (0.9, 0.99))\n",
     "t.bp:3:27: error: 'adam' has no argument named 'betas' (it takes lr, beta1, beta2, eps); write beta1 = 0.9, beta2 = 0.99\n"
     "  optimizer adam(lr = 1e-3, betas = (0.9, 0.99))\n"
     "                            ^\n"},
    {"transpose of a vector (NumPy's .T returns it)",
     "input x[3]\n"
     "y = x.T\n",
     "t.bp:2:6: error: transpose needs rank 2 or more, got [3]: a vector has nothing to transpose (NumPy's .T "
     "leaves it as it is; reshape(x, [-1, 1]) makes a column)\n"
     "  y = x.T\n"
     "       ^\n"},
    {"softmax of a scalar",
     "y = softmax(3)\n",
     "t.bp:1:5: error: 'softmax' needs a tensor, not a scalar\n"
     "  y = softmax(3)\n"
     "      ^\n"},
    {"concat with mismatched shapes",
     "input x[3, 4]\n"
     "input z[5, 4]\n"
     "y = concat(x, z, axis = 1)\n",
     "t.bp:3:5: error: cannot concatenate shapes [3, 4] and [5, 4] along axis 1\n"
     "  y = concat(x, z, axis = 1)\n"
     "      ^\n"},
    {"torch.max(a, b), elementwise (it said only that the axis must be an integer constant)",
     "param W[3]\n"
     "param V[3]\n"
     "loss sum(max(W, V))\n",
     "t.bp:3:17: error: argument 'axis' of 'max' must be an integer constant; for the larger of two tensors at each element write maximum(a, b)\n"
     "  loss sum(max(W, V))\n"
     "                  ^\n"},
    {"NumPy's concatenate([a, b]) (it said \"'concat' needs argument 'b'\")",
     "param W[3]\n"
     "loss sum(concat([W, W]))\n",
     "t.bp:2:17: error: 'concat' takes the two tensors as arguments of their own, not a list: concat(a, b, axis = 0)\n"
     "  loss sum(concat([W, W]))\n"
     "                  ^\n"},
    {"concat((a, b), axis = 1)",
     "param W[3, 2]\n"
     "loss sum(concat((W, W), axis = 1))\n",
     "t.bp:2:17: error: 'concat' takes the two tensors as arguments of their own, not a tuple: concat(a, b, axis = 0)\n"
     "  loss sum(concat((W, W), axis = 1))\n"
     "                  ^\n"},
    {"embedding(ids, table) (it said \"needs a table [V, D] ..., got [B] and real [10, 4]\")",
     "input ids[B] : int\n"
     "param E[10, 4]\n"
     "loss sum(embedding(ids, E))\n",
     "t.bp:3:10: error: 'embedding' takes (table, ids): the first is integer and the second real; are the two swapped?\n"
     "  loss sum(embedding(ids, E))\n"
     "           ^\n"},
    {"PyTorch's stride=(2, 2) (it said \"must be an integer constant\")",
     "input x[B, 1, 8, 8]\n"
     "loss sum(maxpool2d(x, 2, stride = (2, 2)))\n",
     "t.bp:2:35: error: argument 'stride' of 'maxpool2d' is one integer, the same along both axes: write stride = 2\n"
     "  loss sum(maxpool2d(x, 2, stride = (2, 2)))\n"
     "                                    ^\n"},
    {"padding of two different sizes",
     "input x[B, 1, 8, 8]\n"
     "param K[4, 1, 3, 3]\n"
     "loss sum(conv2d(x, K, padding = [1, 2]))\n",
     "t.bp:3:33: error: argument 'padding' of 'conv2d' is one integer, the same along both axes\n"
     "  loss sum(conv2d(x, K, padding = [1, 2]))\n"
     "                                  ^\n"},
    {"reshape(x, 4, 3), view's sizes (it said \"'reshape' takes 2 arguments, got 3\")",
     "param W[3, 4]\n"
     "loss sum(reshape(W, 4, 3))\n",
     "t.bp:2:21: error: the shape of 'reshape' is one list: reshape(x, [D1, D2, ...])\n"
     "  loss sum(reshape(W, 4, 3))\n"
     "                      ^\n"},
    {"torch.transpose(x, 0, 1) (it said only \"takes 1 argument, got 3\")",
     "param W[3, 4]\n"
     "loss sum(transpose(W, 0, 1))\n",
     "t.bp:2:23: error: 'transpose' takes 1 argument, got 3: it swaps the last two axes, as x.T does\n"
     "  loss sum(transpose(W, 0, 1))\n"
     "                        ^\n"},
    {"loss not scalar",
     "input x[3]\n"
     "loss x * 2\n",
     "t.bp:2:8: error: the loss must be a scalar, got shape [3]; reduce it with sum(...) or mean(...)\n"
     "  loss x * 2\n"
     "         ^\n"},
    {"loss not scalar, symbolic shape",
     "input x[B, 10]\n"
     "param W[10, 2]\n"
     "loss x @ W\n",
     "t.bp:3:8: error: the loss must be a scalar, got shape [B, 2]; reduce it with sum(...) or mean(...)\n"
     "  loss x @ W\n"
     "         ^\n"},
    {"two loss statements",
     "loss 1\n"
     "loss 2\n",
     "t.bp:2:1: error: the loss is already given (at 1:1)\n"
     "  loss 2\n"
     "  ^\n"},
    /* bprt_sgemm_batch_softmax's NAME_grad was a function of the runtime's (bprt.h): C that no
       compiler took */
    {"a model name in the runtime's names",
     "model bprt_sgemm_batch_softmax\n",
     "t.bp:1:7: error: model names beginning with 'bprt_' are the runtime's (its functions are named bprt_...); "
     "choose another\n"
     "  model bprt_sgemm_batch_softmax\n"
     "        ^\n"},
    /* model __x named its functions __x_init, ..., and model _X _X_init: identifiers C
       reserves (every name beginning with '_' at file scope) */
    {"a model name C reserves",
     "model __x\n",
     "t.bp:1:7: error: model name '__x' would make reserved C identifiers ('__x_init': C reserves names beginning "
     "with '_' at file scope); choose one beginning with a letter\n"
     "  model __x\n"
     "        ^\n"},
    {"a model name C reserves, a capital after '_'",
     "model _X\n",
     "t.bp:1:7: error: model name '_X' would make reserved C identifiers ('_X_init': C reserves names beginning "
     "with '_' at file scope); choose one beginning with a letter\n"
     "  model _X\n"
     "        ^\n"},
    {"a model name C reserves at file scope",
     "model _x\n",
     "t.bp:1:7: error: model name '_x' would make reserved C identifiers ('_x_init': C reserves names beginning "
     "with '_' at file scope); choose one beginning with a letter\n"
     "  model _x\n"
     "        ^\n"},
    {"two model statements",
     "model a\n"
     "model b\n",
     "t.bp:2:1: error: the model name is already given (at 1:1)\n"
     "  model b\n"
     "  ^\n"},
    {"unknown optimizer",
     "optimizer rmsprop(lr = 0.1)\n",
     "t.bp:1:11: error: unknown optimizer 'rmsprop'; use sgd, adam or adamw\n"
     "  optimizer rmsprop(lr = 0.1)\n"
     "            ^\n"},
    {"PyTorch's Adam, capitalised (it said \"use sgd, adam or adamw\")",
     "optimizer Adam(lr = 0.1)\n",
     "t.bp:1:11: error: unknown optimizer 'Adam'; did you mean 'adam'?\n"
     "  optimizer Adam(lr = 0.1)\n"
     "            ^\n"},
    {"Keras's learning_rate (it said nothing)",
     "optimizer sgd(learning_rate = 0.1)\n",
     "t.bp:1:15: error: 'sgd' has no argument named 'learning_rate' (it takes lr, momentum, weight_decay); did you mean 'lr'?\n"
     "  optimizer sgd(learning_rate = 0.1)\n"
     "                ^\n"},
    {"Keras's epsilon",
     "optimizer adam(epsilon = 1e-7)\n",
     "t.bp:1:16: error: 'adam' has no argument named 'epsilon' (it takes lr, beta1, beta2, eps); did you mean 'eps'?\n"
     "  optimizer adam(epsilon = 1e-7)\n"
     "                 ^\n"},
    {"torch.optim's Adam (it said \"('.Adam')\")",
     "optimizer optim.Adam(lr = 0.1)\n",
     "t.bp:1:16: error: methods and modules are not part of the language: write optimizer adam(...)\n"
     "  optimizer optim.Adam(lr = 0.1)\n"
     "                 ^\n"},
    {"torch.optim.Adam (it said \"('.optim')\")",
     "optimizer torch.optim.Adam(lr = 0.1)\n",
     "t.bp:1:16: error: methods and modules are not part of the language: write optimizer sgd(...), adam(...) or adamw(...)\n"
     "  optimizer torch.optim.Adam(lr = 0.1)\n"
     "                 ^\n"},
    {"the user's own def is nearer than PyTorch's name (step said what bpc train does)",
     "param W[3]\n"
     "def steps(x) { return x * 2 }\n"
     "loss sum(step(W))\n",
     "t.bp:3:10: error: unknown function 'step'; did you mean 'steps'?\n"
     "  loss sum(step(W))\n"
     "           ^\n"},
    {"PyTorch's name before a def two letters away (add with a def adder)",
     "param W[3]\n"
     "def adder(x, y) { return x + y }\n"
     "loss sum(add(W, W))\n",
     "t.bp:3:10: error: unknown function 'add'; write a + b\n"
     "  loss sum(add(W, W))\n"
     "           ^\n"},
    {"pi and inf as names (they said only \"unknown name\")",
     "param W[3]\n"
     "y = W * pi\n",
     "t.bp:2:9: error: unknown name 'pi'; write 3.141592653589793\n"
     "  y = W * pi\n"
     "          ^\n"},
    {"inf",
     "param W[3]\n"
     "y = maximum(W, -inf)\n",
     "t.bp:2:17: error: unknown name 'inf'; write 1 / 0 (or a large number such as 1e30)\n"
     "  y = maximum(W, -inf)\n"
     "                  ^\n"},
    {"negative optimizer argument",
     "optimizer sgd(lr = -0.1)\n",
     "t.bp:1:20: error: argument 'lr' of 'sgd' must not be negative, got -0.1\n"
     "  optimizer sgd(lr = -0.1)\n"
     "                     ^\n"},
    /* beta 1 divided by zero in the first update's bias correction (the parameters became NaN
       and were saved); PyTorch refuses beta outside [0, 1) */
    {"adam's beta1 of 1",
     "optimizer adam(beta1 = 1)\n",
     "t.bp:1:24: error: argument 'beta1' of 'adam' must be below 1, got 1\n"
     "  optimizer adam(beta1 = 1)\n"
     "                         ^\n"},
    {"adamw's beta2 above 1",
     "optimizer adamw(lr = 0.1, beta2 = 1.5)\n",
     "t.bp:1:35: error: argument 'beta2' of 'adamw' must be below 1, got 1.5\n"
     "  optimizer adamw(lr = 0.1, beta2 = 1.5)\n"
     "                                    ^\n"},
    {"unknown optimizer argument",
     "optimizer sgd(rate = 0.1)\n",
     "t.bp:1:15: error: 'sgd' has no argument named 'rate' (it takes lr, momentum, weight_decay)\n"
     "  optimizer sgd(rate = 0.1)\n"
     "                ^\n"},
    {"optimizer argument that is not a number",
     "optimizer adam(lr = x)\n",
     "t.bp:1:21: error: argument 'lr' of 'adam' must be a number\n"
     "  optimizer adam(lr = x)\n"
     "                      ^\n"},
    {"two optimizers",
     "optimizer sgd(lr = 0.1)\n"
     "optimizer adam(lr = 0.1)\n",
     "t.bp:2:1: error: the optimizer is already given (at 1:1)\n"
     "  optimizer adam(lr = 0.1)\n"
     "  ^\n"},
    {"two clip_grad_norm statements",
     "clip_grad_norm 1\n"
     "clip_grad_norm 2\n",
     "t.bp:2:1: error: clip_grad_norm is already given (at 1:1)\n"
     "  clip_grad_norm 2\n"
     "  ^\n"},
    {"clip_grad_norm not positive",
     "clip_grad_norm -1\n",
     "t.bp:1:16: error: clip_grad_norm needs a positive number\n"
     "  clip_grad_norm -1\n"
     "                 ^\n"},
    {"unknown initialiser",
     "param W[3, 4] = lecun\n",
     "t.bp:1:17: error: unknown initialiser 'lecun'; use a number, zeros, ones, he, xavier, normal(STD) or uniform(LO, HI)\n"
     "  param W[3, 4] = lecun\n"
     "                  ^\n"},
    /* other libraries' initialisers (it said "unknown initialiser" without naming it or bpc's) */
    {"Keras's glorot",
     "param W[3, 4] = glorot\n",
     "t.bp:1:17: error: unknown initialiser 'glorot'; did you mean 'xavier'?\n"
     "  param W[3, 4] = glorot\n"
     "                  ^\n"},
    {"PyTorch's kaiming_normal",
     "param W[3, 4] = kaiming_normal\n",
     "t.bp:1:17: error: unknown initialiser 'kaiming_normal'; did you mean 'he'?\n"
     "  param W[3, 4] = kaiming_normal\n"
     "                  ^\n"},
    {"randn as an initialiser",
     "param W[3, 4] = randn\n",
     "t.bp:1:17: error: unknown initialiser 'randn'; write normal(STD)\n"
     "  param W[3, 4] = randn\n"
     "                  ^\n"},
    {"an unknown initialiser called",
     "param W[3, 4] = truncated_normal(0.02)\n",
     "t.bp:1:17: error: unknown initialiser 'truncated_normal'; use a number, zeros, ones, he, xavier, normal(STD) or uniform(LO, HI)\n"
     "  param W[3, 4] = truncated_normal(0.02)\n"
     "                  ^\n"},
    {"PyTorch's in-place kaiming_uniform_ (it gave the list, not 'he')",
     "param W[3, 4] = kaiming_uniform_\n",
     "t.bp:1:17: error: unknown initialiser 'kaiming_uniform_'; did you mean 'he'?\n"
     "  param W[3, 4] = kaiming_uniform_\n"
     "                  ^\n"},
    {"PyTorch's in-place zeros_",
     "param W[3, 4] = zeros_\n",
     "t.bp:1:17: error: unknown initialiser 'zeros_'; did you mean 'zeros'?\n"
     "  param W[3, 4] = zeros_\n"
     "                  ^\n"},
    {"zeros called (it said \"unknown initialiser 'zeros'; use ... zeros ...\")",
     "param W[3, 4] = zeros(3, 4)\n",
     "t.bp:1:17: error: 'zeros' takes no arguments (the shape is the parameter's): write = zeros\n"
     "  param W[3, 4] = zeros(3, 4)\n"
     "                  ^\n"},
    {"a scaled randn (it said \"unknown initialiser\" at the '*')",
     "param W[3, 4] = randn(3, 4) * 0.01\n",
     "t.bp:1:17: error: an initialiser is one word or call, not an expression: write normal(0.01)\n"
     "  param W[3, 4] = randn(3, 4) * 0.01\n"
     "                  ^\n"},
    {"an expression of initialisers (it said \"unknown initialiser\" at the '+')",
     "param W[3, 4] = kaiming_normal_ + 1\n",
     "t.bp:1:17: error: unknown initialiser 'kaiming_normal_'; did you mean 'he'?\n"
     "  param W[3, 4] = kaiming_normal_ + 1\n"
     "                  ^\n"},
    {"torch.normal's mean and std (it said \"'normal' takes 1 argument, got 2\")",
     "param W[3, 4] = normal(0, 0.02)\n",
     "t.bp:1:27: error: 'normal' takes the standard deviation alone (its mean is 0): write normal(0.02)\n"
     "  param W[3, 4] = normal(0, 0.02)\n"
     "                            ^\n"},
    {"a shape after '=' (taken for an initialiser)",
     "param W = [3, 4]\n",
     "t.bp:1:11: error: a parameter's shape goes in brackets after its name: param W[...]\n"
     "  param W = [3, 4]\n"
     "            ^\n"},
    {"negative std for normal",
     "param W[3] = normal(-1)\n",
     "t.bp:1:21: error: the std of 'normal' must not be negative, got -1\n"
     "  param W[3] = normal(-1)\n"
     "                      ^\n"},
    {"uniform with lo > hi",
     "param W[3] = uniform(1, 0)\n",
     "t.bp:1:14: error: 'uniform' needs lo <= hi, got 1 and 0\n"
     "  param W[3] = uniform(1, 0)\n"
     "               ^\n"},
    {"symbolic dimension in a param",
     "param W[B, 4]\n",
     "t.bp:1:9: error: parameter 'W' has symbolic dimension 'B'; parameter shapes must be integers\n"
     "  param W[B, 4]\n"
     "          ^\n"},
    {"negative dimension",
     "param W[-3, 4]\n",
     "t.bp:1:9: error: dimension must be positive, got -3\n"
     "  param W[-3, 4]\n"
     "          ^\n"},
    {"zero dimension",
     "param W[0, 4]\n",
     "t.bp:1:9: error: dimension must be positive, got 0\n"
     "  param W[0, 4]\n"
     "          ^\n"},
    {"non-integer dimension",
     "param W[2.5, 4]\n",
     "t.bp:1:9: error: dimension must be an integer, got 2.5\n"
     "  param W[2.5, 4]\n"
     "          ^\n"},
    {"huge dimension",
     "param W[99999999999, 4]\n",
     "t.bp:1:9: error: dimension 99999999999 is too large (limit 2147483647)\n"
     "  param W[99999999999, 4]\n"
     "          ^\n"},
    {"dimension past the range of integers",
     "param W[1e300]\n",
     "t.bp:1:9: error: dimension 1e300 is too large (limit 2147483647)\n"
     "  param W[1e300]\n"
     "          ^\n"},
    /* dimensions are said as written, not as doubles: %g wrote 9.22337203685478e+18, -1e+20 */
    {"dimension of 2^63 - 1",
     "param W[9223372036854775807, 2]\n",
     "t.bp:1:9: error: dimension 9223372036854775807 is too large (limit 2147483647)\n"
     "  param W[9223372036854775807, 2]\n"
     "          ^\n"},
    {"large negative dimension",
     "input x[-99999999999999999999]\n",
     "t.bp:1:9: error: dimension must be positive, got -99999999999999999999\n"
     "  input x[-99999999999999999999]\n"
     "          ^\n"},
    {"reshape to a dimension of 2^63 - 1",
     "input x[B, 3]\n"
     "y = reshape(x, [B, 9223372036854775807])\n",
     "t.bp:2:20: error: dimension 9223372036854775807 is too large (limit 2147483647)\n"
     "  y = reshape(x, [B, 9223372036854775807])\n"
     "                     ^\n"},
    {"an integer argument far out of range",
     "input x[2, 3]\n"
     "y = maxpool2d(x, 100000000000000000000)\n",
     "t.bp:2:18: error: argument 'k' of 'maxpool2d' is 100000000000000000000; it must be at most 1000000 in magnitude\n"
     "  y = maxpool2d(x, 100000000000000000000)\n"
     "                   ^\n"},
    {"too many elements",
     "param W[100000, 100000, 100]\n",
     "t.bp:1:7: error: 'W' has too many elements (limit 68719476736)\n"
     "  param W[100000, 100000, 100]\n"
     "        ^\n"},
    {"too many elements from the largest dimensions",
     "input x[2147483647, 2147483647]\n",
     "t.bp:1:7: error: 'x' has too many elements (limit 68719476736)\n"
     "  input x[2147483647, 2147483647]\n"
     "        ^\n"},
    /* 2^64 elements: the workspace check's size_t product wrapped to 0, and the program compiled */
    {"too many elements in a computed value",
     "input a[65536, 65536, 1, 1]\n"
     "input b[65536, 65536]\n"
     "param w\n"
     "loss sum(a * b * w)\n",
     "t.bp:4:12: error: the result of '*' has shape [65536, 65536, 65536, 65536]: too many elements (limit 68719476736)\n"
     "  loss sum(a * b * w)\n"
     "             ^\n"},
    {"too many elements in an outer product",
     "param a[1000000]\n"
     "y = reshape(a, [-1, 1]) @ reshape(a, [1, -1])\n",
     "t.bp:2:25: error: the result of 'matmul' has shape [1000000, 1000000]: too many elements (limit 68719476736)\n"
     "  y = reshape(a, [-1, 1]) @ reshape(a, [1, -1])\n"
     "                          ^\n"},
    /* the generated C's products of sizes are texts of bounded length (tests/c_names/long_dims.bp) */
    {"dimension name too long",
     "input x[BATCH_SIZE_OF_EVERY_STEP_IN_TRAINING, 3]\n",
     "t.bp:1:9: error: dimension name 'BATCH_SIZE_OF_EVERY_STEP_IN_TRAINING' is too long (limit 32 characters)\n"
     "  input x[BATCH_SIZE_OF_EVERY_STEP_IN_TRAINING, 3]\n"
     "          ^\n"},
    /* a size of 4000000000 went to GEMM as an int: the generated C did not compile (-Werror=overflow) */
    {"concatenation past the largest size",
     "input a[2000000000]\n"
     "input b[2000000000]\n"
     "y = concat(a, b)\n",
     "t.bp:3:5: error: cannot concatenate shapes [2000000000] and [2000000000] along axis 0: the size along it would be "
     "4000000000 (limit 2147483647)\n"
     "  y = concat(a, b)\n"
     "      ^\n"},
    {"reshape's -1 past the largest size",
     "input x[2000000000, 2]\n"
     "y = reshape(x, [-1])\n",
     "t.bp:2:5: error: cannot reshape [2000000000, 2] to [-1]: the -1 would be 4000000000, more than the largest size "
     "(2147483647)\n"
     "  y = reshape(x, [-1])\n"
     "      ^\n"},
    {"too many dimensions",
     "input x[1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
     "t.bp:1:33: error: too many dimensions (limit 8)\n"
     "  input x[1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
     "                                  ^\n"},
    {"a value used as a dimension",
     "a = 1\n"
     "input x[a]\n",
     "t.bp:2:9: error: 'a' is a value, not a dimension name\n"
     "  input x[a]\n"
     "          ^\n"},
    {"a dimension name reused as a param",
     "input x[B]\n"
     "param B\n",
     "t.bp:2:7: error: 'B' is already a dimension name\n"
     "  param B\n"
     "        ^\n"},
    {"a dimension name reused as a param, then used (it added \"'@' needs tensors, not scalars\")",
     "input x[B, 3]\n"
     "param B[3]\n"
     "loss sum(x @ B)\n",
     "t.bp:2:7: error: 'B' is already a dimension name\n"
     "  param B[3]\n"
     "        ^\n"},
    {"integer input with a default beyond 32 bits (an error only when the program ran: \"(defaults): input 'ids' element 0 (10000000000) is not a 32-bit integer\")",
     "input ids[2] : int = 1e10\n",
     "t.bp:1:22: error: the default of integer input 'ids' must be a 32-bit integer (-2147483648 to 2147483647), got 10000000000\n"
     "  input ids[2] : int = 1e10\n"
     "                       ^\n"},
    {"integer input with a fractional default",
     "input n : int = 1.5\n",
     "t.bp:1:17: error: the default of integer input 'n' must be an integer\n"
     "  input n : int = 1.5\n"
     "                  ^\n"},
    {"reshape with a different element count",
     "input x[3, 4]\n"
     "y = reshape(x, [5, 2])\n",
     "t.bp:2:5: error: cannot reshape [3, 4] to [5, 2]: element counts differ\n"
     "  y = reshape(x, [5, 2])\n"
     "      ^\n"},
    /* the running product of the sizes overflowed int64_t (UBSan: signed integer overflow) */
    {"reshape to sizes whose product overflows",
     "input x[6]\n"
     "y = reshape(x, [2147483647, 2147483647, 2147483647, -1])\n",
     "t.bp:2:5: error: cannot reshape [6] to [2147483647, 2147483647, 2147483647, -1]\n"
     "  y = reshape(x, [2147483647, 2147483647, 2147483647, -1])\n"
     "      ^\n"},
    {"reshape whose -1 cannot be inferred",
     "input x[3, 4]\n"
     "y = reshape(x, [-1, 5])\n",
     "t.bp:2:5: error: cannot reshape [3, 4] to [-1, 5]\n"
     "  y = reshape(x, [-1, 5])\n"
     "      ^\n"},
    /* it said only "cannot reshape" */
    {"reshape whose -1 would be B T",
     "input x[B, T, 4]\n"
     "y = reshape(x, [-1, 4])\n",
     "t.bp:2:5: error: cannot reshape [B, T, 4] to [-1, 4]: the -1 would stand for a product of symbolic sizes, and a "
     "size is a number times at most one of them (keep all but one symbolic size as an axis of its own)\n"
     "  y = reshape(x, [-1, 4])\n"
     "      ^\n"},
    {"two -1 in reshape",
     "input x[3, 4]\n"
     "y = reshape(x, [-1, -1])\n",
     "t.bp:2:21: error: only one -1 is allowed in a reshape\n"
     "  y = reshape(x, [-1, -1])\n"
     "                      ^\n"},
    {"reshape with a zero dimension",
     "input x[3, 4]\n"
     "y = reshape(x, [0, 12])\n",
     "t.bp:2:17: error: reshape dimensions must be positive integers, names or -1\n"
     "  y = reshape(x, [0, 12])\n"
     "                  ^\n"},
    {"reshape shape that is not a list",
     "input x[3, 4]\n"
     "y = reshape(x, 12)\n",
     "t.bp:2:16: error: the shape of 'reshape' must be a list like [B, -1]\n"
     "  y = reshape(x, 12)\n"
     "                 ^\n"},
    {"cross_entropy with integer labels of the wrong shape",
     "input x[B, 10]\n"
     "input y[B, 3] : int\n"
     "loss cross_entropy(x, y)\n",
     "t.bp:3:6: error: 'cross_entropy' needs logits [..., C] and integer labels [...] with the same leading dimensions, got [B, 10] and [B, 3]\n"
     "  loss cross_entropy(x, y)\n"
     "       ^\n"},
    {"cross_entropy's arguments swapped (it said \"integer value cannot be used in 'cross_entropy'\")",
     "input x[B, 4]\n"
     "input y[B] : int\n"
     "param W[4, 3]\n"
     "loss cross_entropy(y, x @ W)\n",
     "t.bp:4:6: error: 'cross_entropy' takes (logits, labels): the first is integer and the second real; are the two swapped?\n"
     "  loss cross_entropy(y, x @ W)\n"
     "       ^\n"},
    {"cross_entropy with targets of the wrong shape",
     "input x[B, 10]\n"
     "input t[B, 3]\n"
     "loss cross_entropy(x, t)\n",
     "t.bp:3:6: error: 'cross_entropy' needs integer labels or targets of the logits' shape [B, 10], got [B, 3]\n"
     "  loss cross_entropy(x, t)\n"
     "       ^\n"},
    {"bce_logits with a target [B] against a prediction [B, 1]",
     "input x[B, 3]\n"
     "input y[B]\n"
     "param W[3, 1]\n"
     "loss bce_logits(x @ W, y)\n",
     "t.bp:4:6: error: 'bce_logits': the target [B] and the prediction [B, 1] would broadcast to [B, B]; give them "
     "the same shape (a target [B, 1], or a prediction [B])\n"
     "  loss bce_logits(x @ W, y)\n"
     "       ^\n"},
    {"bce with a target [B] against a prediction [B, 1]",
     "input x[B, 3]\n"
     "input y[B]\n"
     "param W[3, 1]\n"
     "loss bce(sigmoid(x @ W), y)\n",
     "t.bp:4:6: error: 'bce': the target [B] and the prediction [B, 1] would broadcast to [B, B]; give them "
     "the same shape (a target [B, 1], or a prediction [B])\n"
     "  loss bce(sigmoid(x @ W), y)\n"
     "       ^\n"},
    {"mse with a target [B, 1] against a prediction [B]",
     "input x[B, 3]\n"
     "input t[B, 1]\n"
     "param w[3]\n"
     "loss mse(x @ w, t)\n",
     "t.bp:4:6: error: 'mse': the target [B, 1] and the prediction [B] would broadcast to [B, B]; give them "
     "the same shape (a target [B], or a prediction [B, 1])\n"
     "  loss mse(x @ w, t)\n"
     "       ^\n"},
    {"mse with a target that has more rows than the prediction",
     "input t[B, 3]\n"
     "param p[3]\n"
     "loss mse(p, t)\n",
     "t.bp:3:6: error: 'mse': the target [B, 3] and the prediction [3] would broadcast to [B, 3]; give them "
     "the same shape (a target [3], or a prediction [B, 3])\n"
     "  loss mse(p, t)\n"
     "       ^\n"},
    {"output of an unknown name",
     "input x[3]\n"
     "output x, q\n",
     "t.bp:2:11: error: unknown name 'q'\n"
     "  output x, q\n"
     "            ^\n"},
    {"output of a misspelled name",
     "input logits[3]\n"
     "output logit\n",
     "t.bp:2:8: error: unknown name 'logit'; did you mean 'logits'?\n"
     "  output logit\n"
     "         ^\n"},
    {"output of a def",
     "def f(x) = x\n"
     "output f\n",
     "t.bp:2:8: error: 'f' is a function, not a value\n"
     "  output f\n"
     "         ^\n"},
    {"return outside a def",
     "return 1\n",
     "t.bp:1:1: error: 'return' outside a def\n"
     "  return 1\n"
     "  ^\n"},
    {"a bare expression statement",
     "1 + 2\n",
     "t.bp:1:1: error: an expression alone does nothing here; bind it with 'NAME = ...' or use 'loss ...'\n"
     "  1 + 2\n"
     "  ^\n"},
    {"conv2d(W, x) (it said only that the kernel must have integer sizes)",
     "input x[B, 1, 8, 8]\n"
     "param K[4, 1, 3, 3]\n"
     "loss sum(conv2d(K, x))\n",
     "t.bp:3:10: error: conv2d's kernel W [O, C, KH, KW] must have integer sizes, got [B, 1, 8, 8]; conv2d takes (x, W): are the two swapped?\n"
     "  loss sum(conv2d(K, x))\n"
     "           ^\n"},
    {"channels-last images, TensorFlow's and Flax's (it said only that the channels differ)",
     "input x[B, 8, 8, 1]\n"
     "param K[4, 1, 3, 3]\n"
     "loss sum(conv2d(x, K))\n",
     "t.bp:3:10: error: conv2d's channels differ: x [B, 8, 8, 1] has C = 8, the kernel W [4, 1, 3, 3] has C = 1; x is [B, C, H, W] (channels first, as PyTorch's), and its last axis, not its second, has the kernel's C\n"
     "  loss sum(conv2d(x, K))\n"
     "           ^\n"},
    {"conv2d with mismatched channels",
     "input x[1, 1, 28, 28]\n"
     "param W[8, 3, 3, 3]\n"
     "y = conv2d(x, W)\n",
     "t.bp:3:5: error: conv2d's channels differ: x [1, 1, 28, 28] has C = 1, the kernel W [8, 3, 3, 3] has C = 3\n"
     "  y = conv2d(x, W)\n"
     "      ^\n"},
    {"a broadcast names the axis where the sizes differ",
     "param a[2, 3, 4, 5]\n"
     "param b[2, 7, 4, 5]\n"
     "loss sum(a * b)\n",
     "t.bp:3:12: error: cannot broadcast shapes [2, 3, 4, 5] and [2, 7, 4, 5] in '*' (axis 1: 3 against 7)\n"
     "  loss sum(a * b)\n"
     "             ^\n"},
    {"a per-channel bias [C] against conv2d's [B, C, H, W]: the hint [C, 1, 1]",
     "input x[B, 1, 28, 28]\n"
     "param K[8, 1, 3, 3]\n"
     "param b[8]\n"
     "loss sum(conv2d(x, K) + b)\n",
     "t.bp:4:23: error: cannot broadcast shapes [B, 8, 26, 26] and [8] in '+' (axis 3: 26 against 8); a per-channel "
     "bias is [8, 1, 1]\n"
     "  loss sum(conv2d(x, K) + b)\n"
     "                        ^\n"},
    {"conv2d with a 3-D kernel",
     "input x[B, 1, 28, 28]\n"
     "param K[8, 1, 3]\n"
     "loss sum(conv2d(x, K))\n",
     "t.bp:3:10: error: conv2d's kernel W must be 4-D [O, C, KH, KW], got [8, 1, 3]\n"
     "  loss sum(conv2d(x, K))\n"
     "           ^\n"},
    {"conv2d with a 2-D x",
     "input x[B, 784]\n"
     "param K[8, 1, 3, 3]\n"
     "loss sum(conv2d(x, K))\n",
     "t.bp:3:10: error: conv2d's x must be 4-D [B, C, H, W], got [B, 784]\n"
     "  loss sum(conv2d(x, K))\n"
     "           ^\n"},
    {"conv2d with a symbolic height",
     "input x[B, 1, H, 28]\n"
     "param K[8, 1, 3, 3]\n"
     "loss sum(conv2d(x, K))\n",
     "t.bp:3:10: error: conv2d's x [B, C, H, W] must have integer C, H and W, got [B, 1, H, 28]\n"
     "  loss sum(conv2d(x, K))\n"
     "           ^\n"},
    {"conv2d with a kernel of symbolic size",
     "input x[B, 1, 28, 28]\n"
     "input K[O, 1, 3, 3]\n"
     "loss sum(conv2d(x, K))\n",
     "t.bp:3:10: error: conv2d's kernel W [O, C, KH, KW] must have integer sizes, got [O, 1, 3, 3]\n"
     "  loss sum(conv2d(x, K))\n"
     "           ^\n"},
    {"a pooling window larger than the image",
     "input x[1, 2, 3, 3]\n"
     "y = maxpool2d(x, 4)\n",
     "t.bp:2:5: error: maxpool2d: a 4x4 window with stride 4 does not fit x [1, 2, 3, 3]\n"
     "  y = maxpool2d(x, 4)\n"
     "      ^\n"},
    {"a convolution window larger than the image: named as the pooling's is (it was not)",
     "input x[1, 2, 3, 3]\n"
     "param K[4, 2, 5, 5]\n"
     "y = conv2d(x, K, stride = 2)\n",
     "t.bp:3:5: error: conv2d: a 5x5 window with stride 2 and padding 0 does not fit x [1, 2, 3, 3]\n"
     "  y = conv2d(x, K, stride = 2)\n"
     "      ^\n"},
    {"a padding that makes the bordered image too large names that image, not the small unfolded one",
     "input x[B, 3, 3, 3]\n"
     "param K[2, 3, 4, 4]\n"
     "loss sum(conv2d(x, K, stride = 1000000, padding = 1000000))\n",
     "t.bp:3:10: error: conv2d's zero-bordered image [3, 2000003, 2000003] is too large (limit 2147483647 elements)\n"
     "  loss sum(conv2d(x, K, stride = 1000000, padding = 1000000))\n"
     "           ^\n"},
    {"embedding with real ids",
     "param tab[10, 4]\n"
     "input ids[3]\n"
     "y = embedding(tab, ids)\n",
     "t.bp:3:5: error: embedding needs a table [V, D] and integer ids [...], got [10, 4] and real [3]\n"
     "  y = embedding(tab, ids)\n"
     "      ^\n"},
    {"dropout probability out of range",
     "input x[4]\n"
     "y = dropout(x, 1.5)\n",
     "t.bp:2:16: error: the probability of 'dropout' must be in [0, 1), got 1.5\n"
     "  y = dropout(x, 1.5)\n"
     "                 ^\n"},
    {"checkpoint on a parameter",
     "checkpoint param W[3]\n"
     "loss sum(W)\n",
     "t.bp:1:1: error: 'checkpoint' cannot mark a parameter: only a binding's value is recomputed (checkpoint NAME = EXPR)\n"
     "  checkpoint param W[3]\n"
     "  ^\n"},
    {"checkpoint on an input",
     "checkpoint input x[3]\n"
     "param w[3]\n"
     "loss sum(x * w)\n",
     "t.bp:1:1: error: 'checkpoint' cannot mark an input: only a binding's value is recomputed (checkpoint NAME = EXPR)\n"
     "  checkpoint input x[3]\n"
     "  ^\n"},
    {"checkpoint on a binding that is an input",
     "input x[3]\n"
     "param w[3]\n"
     "checkpoint h = x\n"
     "loss sum(h * w)\n",
     "t.bp:3:1: error: 'checkpoint' on 'h' recomputes nothing: its value is the input 'x', which is stored\n"
     "  checkpoint h = x\n"
     "  ^\n"},
    {"checkpoint on another binding's value",
     "param w[3]\n"
     "h = w * 2\n"
     "checkpoint g = h\n"
     "loss sum(g)\n",
     "t.bp:3:1: error: 'checkpoint' on 'g' recomputes nothing: its value is computed before it (by 'h')\n"
     "  checkpoint g = h\n"
     "  ^\n"},
    {"a word other than checkpoint before a binding",
     "param w[3]\n"
     "chekpoint h = w * 2\n"
     "loss sum(h)\n",
     "t.bp:2:1: error: unexpected name 'chekpoint' before the binding of 'h' (only 'checkpoint' may come there)\n"
     "  chekpoint h = w * 2\n"
     "  ^\n"},
    {"a word other than checkpoint before a def",
     "param w[3]\n"
     "inline def f(a) = sin(a)\n"
     "loss sum(f(w))\n",
     "t.bp:2:1: error: unexpected name 'inline' before def 'f' (only 'checkpoint' may come there)\n"
     "  inline def f(a) = sin(a)\n"
     "  ^\n"},
    /* other languages' habits, each said in the language's terms: these were "unexpected
       character" once per quote, "unexpected '='", "unexpected '/'", "expected '='" */
    {"a string (one error, not one per quote)",
     "param W[3]\n"
     "loss mse(W, 0, reduction = 'sum')\n",
     "t.bp:2:28: error: strings are not part of the language\n"
     "  loss mse(W, 0, reduction = 'sum')\n"
     "                             ^\n"},
    {"an unterminated string",
     "param W[3]\n"
     "loss sum(W) * \"2\n",
     "t.bp:2:15: error: strings are not part of the language\n"
     "  loss sum(W) * \"2\n"
     "                ^\n"},
    {"a model name in quotes",
     "model \"net\"\n"
     "param W\n"
     "loss W\n",
     "t.bp:1:7: error: strings are not part of the language: write the model's name without quotes\n"
     "  model \"net\"\n"
     "        ^\n"},
    {"a // comment",
     "param W[3]\n"
     "// the loss\n"
     "loss sum(W)\n",
     "t.bp:2:1: error: '//' is not an operator: comments start with '#', and '/' divides\n"
     "  // the loss\n"
     "  ^\n"},
    {"Python's // division",
     "param W\n"
     "loss W // 2\n",
     "t.bp:2:8: error: '//' is not an operator: comments start with '#', and '/' divides\n"
     "  loss W // 2\n"
     "         ^\n"},
    {"+= on a bound name",
     "param W[3]\n"
     "h = W * 2\n"
     "h += 1\n"
     "loss sum(h)\n",
     "t.bp:3:3: error: '+=' is not an operator: a name is bound once, so bind a new one: h2 = h + ...\n"
     "  h += 1\n"
     "    ^\n"},
    {"a '\\' continuing a line: one error, the next line skipped with it",
     "param W[3]\n"
     "loss sum(W) \\\n"
     "  + 1\n",
     "t.bp:2:13: error: a line needs no '\\' to go on: one that ends in an operator, or inside ( ) or [ ], "
     "continues on the next\n"
     "  loss sum(W) \\\n"
     "              ^\n"},
    {"import",
     "import torch\n"
     "param W\n"
     "loss W\n",
     "t.bp:1:1: error: there is nothing to import: relu, softmax, cross_entropy and the other functions are built in\n"
     "  import torch\n"
     "  ^\n"},
    {"import of a dotted module (it said \"methods and modules ... ('.nn')\")",
     "import torch.nn as nn\n"
     "param W\n"
     "loss W\n",
     "t.bp:1:1: error: there is nothing to import: relu, softmax, cross_entropy and the other functions are built in\n"
     "  import torch.nn as nn\n"
     "  ^\n"},
    {"from ... import",
     "from torch import nn\n"
     "param W\n"
     "loss W\n",
     "t.bp:1:1: error: there is nothing to import: relu, softmax, cross_entropy and the other functions are built in\n"
     "  from torch import nn\n"
     "  ^\n"},
    {"a class (it said \"did you mean 'loss'?\", then \"('.Module')\")",
     "class Net(nn.Module):\n"
     "param W\n"
     "loss W\n",
     "t.bp:1:1: error: there are no classes: declare param and input at the top level, and write a reusable "
     "layer as a def\n"
     "  class Net(nn.Module):\n"
     "  ^\n"},
    /* Python's control flow, comparisons, bindings and number forms, each said with what
       to write instead (they were "unexpected ..." at a token after the real cause) */
    {"Python's lambda (it said \"unexpected name 'x', expected an operator\")",
     "param W[3]\n"
     "f = lambda x: x * 2\n"
     "loss sum(W)\n",
     "t.bp:2:5: error: 'lambda' is not part of the language: write a def: def f(x) = EXPR\n"
     "  f = lambda x: x * 2\n"
     "      ^\n"},
    {"an if statement (it said \"unexpected character '>'\")",
     "param W[3]\n"
     "if W > 0:\n"
     "  loss sum(W)\n",
     "t.bp:2:1: error: there are no if statements (a model computes the same for every input): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  if W > 0:\n"
     "  ^\n"},
    {"a for loop (it said \"unexpected name 'in', expected '='\")",
     "param W[3]\n"
     "for i in range(3):\n"
     "  h = W\n"
     "loss sum(W)\n",
     "t.bp:2:1: error: there are no loops: write each layer out, or once as a def called for each\n"
     "  for i in range(3):\n"
     "  ^\n"},
    {"a while loop",
     "param W[3]\n"
     "while True:\n"
     "  h = W\n"
     "loss sum(W)\n",
     "t.bp:2:1: error: there are no loops: write each layer out, or once as a def called for each\n"
     "  while True:\n"
     "  ^\n"},
    {"Python's def f(x): (it said \"unexpected ':', expected '=' or '{'\")",
     "def f(x):\n"
     "  x * 2\n"
     "param W[3]\n"
     "loss sum(W)\n",
     "t.bp:1:9: error: a def is written def f(x) = EXPR, or def f(x) { ... return EXPR }, not with ':'\n"
     "  def f(x):\n"
     "          ^\n"},
    {"Python's def body, indented, with its return (it said \"'return' outside a def\" too)",
     "param W[3]\n"
     "def f(x):\n"
     "    h = relu(x)\n"
     "\n"
     "    return h * 'a'\n"
     "g = W ** 2\n",
     "t.bp:2:9: error: a def is written def f(x) = EXPR, or def f(x) { ... return EXPR }, not with ':'\n"
     "  def f(x):\n"
     "          ^\n"
     "t.bp:6:7: error: '**' is not an operator: write a power as x ^ 2\n"
     "  g = W ** 2\n"
     "        ^\n"},
    {"Python's if and else blocks: one error, the next statement read",
     "param W[3]\n"
     "if W > 0:\n"
     "    h = W\n"
     "else:\n"
     "    h = -W\n"
     "loss sum(W) ** 2\n",
     "t.bp:2:1: error: there are no if statements (a model computes the same for every input): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  if W > 0:\n"
     "  ^\n"
     "t.bp:6:13: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(W) ** 2\n"
     "              ^\n"},
    {"x[..., 0] (it said \"expected 'T' after '.'\" three times more)",
     "input x[B, 3]\n"
     "loss sum(x[..., 0])\n",
     "t.bp:2:11: error: indexing and slicing are not part of the language: declare the parts as parameters or inputs of their own, or select with a product (x @ P)\n"
     "  loss sum(x[..., 0])\n"
     "            ^\n"},
    {"W.T() (it said \"unexpected '('\")",
     "param W[3, 4]\n"
     "loss sum(W.T() @ W)\n",
     "t.bp:2:13: error: the transpose is written x.T, without ()\n"
     "  loss sum(W.T() @ W)\n"
     "              ^\n"},
    {"a shape in parentheses (it said \"unexpected '(', expected end of line, '=' or '['\")",
     "param W(3, 4)\n"
     "input x(B, 3)\n",
     "t.bp:1:8: error: a parameter's shape goes in brackets after its name: param W[...]\n"
     "  param W(3, 4)\n"
     "         ^\n"
     "t.bp:2:8: error: an input's shape goes in brackets after its name: input x[...]\n"
     "  input x(B, 3)\n"
     "         ^\n"},
    {"clip_grad_norm max_norm = 1 (it said \"unexpected '='\")",
     "clip_grad_norm max_norm = 1.0\n",
     "t.bp:1:25: error: 'clip_grad_norm' takes its value alone, without 'max_norm =': clip_grad_norm MAX\n"
     "  clip_grad_norm max_norm = 1.0\n"
     "                          ^\n"},
    {"types PyTorch names (it said \"expected 'int'\", and \"unexpected ':'\" of a param)",
     "input x[B, 3] : float32\n"
     "input y[B] : torch.long\n"
     "input z[B] : int64\n"
     "param W[3] : float\n",
     "t.bp:1:15: error: an input is real unless declared ': int': leave out ': float32'\n"
     "  input x[B, 3] : float32\n"
     "                ^\n"
     "t.bp:2:14: error: unknown type 'torch': an input is real (no type) or ': int' (labels and ids)\n"
     "  input y[B] : torch.long\n"
     "               ^\n"
     "t.bp:3:14: error: an integer input is declared ': int', whatever its width: write ': int'\n"
     "  input z[B] : int64\n"
     "               ^\n"
     "t.bp:4:12: error: a parameter is real and takes no type (': int' is for inputs: labels and ids)\n"
     "  param W[3] : float\n"
     "             ^\n"},
    {"Python's and, not, if-else (it said \"unexpected name\", of 'W' after 'not')",
     "param W[3]\n"
     "a = W and W\n"
     "b = not W\n"
     "c = W if W else 0\n",
     "t.bp:2:7: error: there are no booleans or conditions ('and'): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  a = W and W\n"
     "        ^\n"
     "t.bp:3:5: error: there are no booleans or conditions ('not'): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  b = not W\n"
     "      ^\n"
     "t.bp:4:7: error: there are no booleans or conditions ('if'): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  c = W if W else 0\n"
     "        ^\n"},
    {"an expression in output (it said \"unexpected '.T'\")",
     "param W[3, 4]\n"
     "output W, W.T\n",
     "t.bp:2:12: error: 'output' takes names of values: bind the expression first (NAME = EXPR) and output NAME\n"
     "  output W, W.T\n"
     "             ^\n"},
    {"a def body ending in an expression (it said \"unexpected '*', expected a name or '='\")",
     "def f(x) {\n"
     "  h = relu(x)\n"
     "  h * 2\n"
     "}\n",
     "t.bp:3:3: error: an expression alone does nothing in a def body: bind it with 'NAME = ...', or end the body with 'return ...'\n"
     "    h * 2\n"
     "    ^\n"},
    {"a def body ending in a call",
     "def f(x) {\n"
     "  relu(x)\n"
     "}\n",
     "t.bp:2:3: error: an expression alone does nothing in a def body: bind it with 'NAME = ...', or end the body with 'return ...'\n"
     "    relu(x)\n"
     "    ^\n"},
    {"a def's return type (it said \"unexpected '-'\" and \"there are no comparisons ('>')\")",
     "def f(x) -> float = x * 2\n",
     "t.bp:1:10: error: a def has no return type: def f(x) = EXPR\n"
     "  def f(x) -> float = x * 2\n"
     "           ^\n"},
    {"a def's parameter with a type (it said \"... not with ':'\", of a def's own colon)",
     "def f(x: float) = x * 2\n",
     "t.bp:1:8: error: a def's parameters are names alone (no types): def f(x, s) = EXPR\n"
     "  def f(x: float) = x * 2\n"
     "         ^\n"},
    {"a def's parameter with a default (it said \"unexpected '='\")",
     "def f(x, s = 2) = x * s\n",
     "t.bp:1:12: error: a def's parameters are names alone (no default values: pass every argument at the call): def f(x, s) = EXPR\n"
     "  def f(x, s = 2) = x * s\n"
     "             ^\n"},
    {"C's dimensions W[784][256] (it said \"indexing and slicing ...\")",
     "param W[784][256]\n",
     "t.bp:1:13: error: a shape is one list of sizes separated by commas: param NAME[D1, D2], not NAME[D1][D2]\n"
     "  param W[784][256]\n"
     "              ^\n"},
    {"loss: EXPR (it said \"unexpected ':', expected an expression\")",
     "param W[3]\n"
     "loss: sum(W)\n",
     "t.bp:2:1: error: 'loss' takes its expression without ':': loss EXPR\n"
     "  loss: sum(W)\n"
     "  ^\n"},
    {"a decorator (it said \"unexpected '@'\", then \"('.jit')\")",
     "@jax.jit\n"
     "def f(x) = x * 2\n",
     "t.bp:1:1: error: decorators are not part of the language: a def is inlined where it is called, and the whole program is compiled\n"
     "  @jax.jit\n"
     "  ^\n"},
    {"with torch.no_grad(): and its body (it said \"('.no_grad')\", and bound h)",
     "param W[3]\n"
     "with torch.no_grad():\n"
     "    h = W ** 2\n"
     "loss sum(W) ** 2\n",
     "t.bp:2:1: error: there are no with blocks: only the loss is differentiated, and inference (forward) computes no gradient\n"
     "  with torch.no_grad():\n"
     "  ^\n"
     "t.bp:4:13: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(W) ** 2\n"
     "              ^\n"},
    {"a Python block in a def body ends at its header's depth (the lines after it were skipped to the '}', their errors hidden)",
     "param W[3]\n"
     "def g(x) {\n"
     "    for i in range(3):\n"
     "        h = x\n"
     "    return sum(x ** 2)\n"
     "    }\n"
     "loss g(W) ** 2\n",
     "t.bp:3:5: error: there are no loops: write each layer out, or once as a def called for each\n"
     "      for i in range(3):\n"
     "      ^\n"
     "t.bp:5:18: error: '**' is not an operator: write a power as x ^ 2\n"
     "      return sum(x ** 2)\n"
     "                   ^\n"
     "t.bp:7:11: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss g(W) ** 2\n"
     "            ^\n"},
    {"an unclosed '(' in a Python block's body (it swallowed the rest of the file)",
     "param W[3]\n"
     "def f(x):\n"
     "    h = relu(x\n"
     "    return h\n"
     "loss sum(W ** 2)\n",
     "t.bp:2:9: error: a def is written def f(x) = EXPR, or def f(x) { ... return EXPR }, not with ':'\n"
     "  def f(x):\n"
     "          ^\n"
     "t.bp:5:12: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(W ** 2)\n"
     "             ^\n"},
    {"with open(f) as fh: (it was told about no_grad), its string unsaid, and with autocast():",
     "param W[3]\n"
     "with open(\"w.txt\") as fh:\n"
     "    W = fh\n"
     "with autocast():\n"
     "    h = W\n"
     "loss sum(W) ** 2\n",
     "t.bp:2:1: error: there are no with blocks, and a program opens no files: bpc train reads the data (--data DIR or --inputs FILE) and the parameters (--params FILE)\n"
     "  with open(\"w.txt\") as fh:\n"
     "  ^\n"
     "t.bp:4:1: error: there are no with blocks: write the statements of its body at the top level\n"
     "  with autocast():\n"
     "  ^\n"
     "t.bp:6:13: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(W) ** 2\n"
     "              ^\n"},
    {"a size left open after the first (it said \"unexpected '*', expected an expression\")",
     "input x[B, *]\n"
     "input y[B, 3, *]\n",
     "t.bp:1:12: error: '*' is not a size: a size bound when the code runs is a name: [B, ...]\n"
     "  input x[B, *]\n"
     "             ^\n"
     "t.bp:2:15: error: '*' is not a size: a size bound when the code runs is a name: [B, ...]\n"
     "  input y[B, 3, *]\n"
     "                ^\n"},
    {"a size left open as Keras and NumPy write it (they said \"unexpected character '?'\", \"unexpected '*'\", \"must be positive\")",
     "input x[?, 784]\n"
     "input y[*, 10]\n",
     "t.bp:1:9: error: '?' is not a size: a size bound when the code runs is a name: [B, ...]\n"
     "  input x[?, 784]\n"
     "          ^\n"
     "t.bp:2:9: error: '*' is not a size: a size bound when the code runs is a name: [B, ...]\n"
     "  input y[*, 10]\n"
     "          ^\n"},
    {"a size of -1, NumPy's",
     "input z[-1, 3]\n",
     "t.bp:1:9: error: dimension must be positive, got -1; a size bound when the code runs is a name: [B, ...]\n"
     "  input z[-1, 3]\n"
     "          ^\n"},
    {"Python's % and & (they said \"unexpected character\")",
     "param W[3]\n"
     "a = W % 2\n"
     "b = W & W\n",
     "t.bp:2:7: error: '%' is not an operator: there is no remainder\n"
     "  a = W % 2\n"
     "        ^\n"
     "t.bp:3:7: error: '&' is not an operator: there are no booleans or bits: for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  b = W & W\n"
     "        ^\n"},
    {"a training loop's l.backward() (it said only \"('.backward')\")",
     "param W[3]\n"
     "l = sum(W)\n"
     "l.backward()\n",
     "t.bp:3:2: error: methods and modules are not part of the language ('.backward'); bpc differentiates the loss itself: bpc grad prints the gradients, bpc train trains\n"
     "  l.backward()\n"
     "   ^\n"},
    {"x.detach() (it said only \"('.detach')\")",
     "param W[3]\n"
     "loss sum(W.detach() * W)\n",
     "t.bp:2:11: error: methods and modules are not part of the language ('.detach'); there is no detach: every path to the loss is differentiated\n"
     "  loss sum(W.detach() * W)\n"
     "            ^\n"},
    {"'==' for '=' (it said \"unexpected '=', expected an expression\")",
     "param W[3]\n"
     "h == W * 2\n"
     "loss sum(W)\n",
     "t.bp:2:3: error: '==' is not an operator: a binding has one '=': h = ...\n"
     "  h == W * 2\n"
     "    ^\n"},
    {"a comparison",
     "param W[3]\n"
     "h = W == 2\n"
     "loss sum(W)\n",
     "t.bp:2:7: error: there are no comparisons ('=='): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  h = W == 2\n"
     "        ^\n"},
    {"a comparison with '<'",
     "param W[3]\n"
     "loss sum(W < 1)\n",
     "t.bp:2:12: error: there are no comparisons ('<'): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  loss sum(W < 1)\n"
     "             ^\n"},
    {"a comparison with '!='",
     "param W[3]\n"
     "loss sum(W != 1)\n",
     "t.bp:2:12: error: there are no comparisons ('!='): for a choice per element write maximum(a, b), minimum(a, b) or relu(x)\n"
     "  loss sum(W != 1)\n"
     "             ^\n"},
    {"Python's ':=' (it said \"unexpected ':'\")",
     "param W[3]\n"
     "h := W * 2\n"
     "loss sum(W)\n",
     "t.bp:2:3: error: ':=' is not an operator: bind the name on a line of its own: NAME = EXPR\n"
     "  h := W * 2\n"
     "    ^\n"},
    {"Python's ':=' in an expression",
     "param W[3]\n"
     "loss sum((h := W) * 2)\n",
     "t.bp:2:13: error: ':=' is not an operator: bind the name on a line of its own: NAME = EXPR\n"
     "  loss sum((h := W) * 2)\n"
     "              ^\n"},
    {"a tuple assignment (it said \"unexpected ','\")",
     "param W[3]\n"
     "a, b = W, W\n"
     "loss sum(W)\n",
     "t.bp:2:2: error: a binding names one value: bind each name on a line of its own (a = ...)\n"
     "  a, b = W, W\n"
     "   ^\n"},
    {"indexing (it said \"unexpected '[', expected an operator, '=', ')' or ','\")",
     "param W[3, 2]\n"
     "loss sum(W[0])\n",
     "t.bp:2:11: error: indexing and slicing are not part of the language: declare the parts as parameters or inputs of their own, or select with a product (x @ P)\n"
     "  loss sum(W[0])\n"
     "            ^\n"},
    {"slicing a transpose",
     "param W[3, 2]\n"
     "loss sum(W.T[:, 0])\n",
     "t.bp:2:13: error: indexing and slicing are not part of the language: declare the parts as parameters or inputs of their own, or select with a product (x @ P)\n"
     "  loss sum(W.T[:, 0])\n"
     "              ^\n"},
    {"a hexadecimal number (it said \"unexpected name 'x10'\")",
     "param W[3]\n"
     "loss sum(W) * 0x10\n",
     "t.bp:2:15: error: hexadecimal numbers are not part of the language: write 16\n"
     "  loss sum(W) * 0x10\n"
     "                ^\n"},
    {"an octal number",
     "param W[3]\n"
     "loss sum(W) * 0o17\n",
     "t.bp:2:15: error: octal numbers are not part of the language: write 15\n"
     "  loss sum(W) * 0o17\n"
     "                ^\n"},
    {"a binary number",
     "param W[3]\n"
     "loss sum(W) * 0b101\n",
     "t.bp:2:15: error: binary numbers are not part of the language: write 5\n"
     "  loss sum(W) * 0b101\n"
     "                ^\n"},
    {"a hexadecimal prefix without digits",
     "param W[3]\n"
     "loss sum(W) * 0x\n",
     "t.bp:2:15: error: hexadecimal numbers are not part of the language ('0x'): write the number in decimal\n"
     "  loss sum(W) * 0x\n"
     "                ^\n"},
    {"digits grouped by '_' (it said \"unexpected name '_000'\")",
     "param W[3]\n"
     "loss sum(W) * 1_000.5\n",
     "t.bp:2:15: error: '_' cannot separate a number's digits: write 1000.5\n"
     "  loss sum(W) * 1_000.5\n"
     "                ^\n"},
    {"an exponent without digits (it said \"unexpected name 'e'\")",
     "param W[3]\n"
     "loss sum(W) * 1e\n",
     "t.bp:2:15: error: the exponent of '1e' has no digits: write 1e3 or 1e-3 (or 1 alone)\n"
     "  loss sum(W) * 1e\n"
     "                ^\n"},
    {"an exponent with a sign and no digits",
     "param W[3]\n"
     "loss sum(W) * 2.5e-\n",
     "t.bp:2:15: error: the exponent of '2.5e-' has no digits: write 2.5e3 or 2.5e-3 (or 2.5 alone)\n"
     "  loss sum(W) * 2.5e-\n"
     "                ^\n"},
    {"C's float suffix",
     "param W[3]\n"
     "loss sum(W) * 2.0f\n",
     "t.bp:2:15: error: a number takes no suffix ('f'): write 2.0\n"
     "  loss sum(W) * 2.0f\n"
     "                ^\n"},
    {"Python's imaginary number",
     "param W[3]\n"
     "loss sum(W) * 2j\n",
     "t.bp:2:15: error: complex numbers are not part of the language ('2j')\n"
     "  loss sum(W) * 2j\n"
     "                ^\n"},
    {"a number run into a name",
     "param W[3]\n"
     "loss sum(2W)\n",
     "t.bp:2:10: error: the number 2 runs into the name 'W': write 2 * W\n"
     "  loss sum(2W)\n"
     "           ^\n"},
    {"Python's True (it said \"unknown name 'True'\" alone)",
     "param W[3]\n"
     "loss sum(W) * True\n",
     "t.bp:2:15: error: unknown name 'True'; there are no booleans: write 1\n"
     "  loss sum(W) * True\n"
     "                ^\n"},
    {"Python's False",
     "param W[3]\n"
     "loss sum(W) * False\n",
     "t.bp:2:15: error: unknown name 'False'; there are no booleans: write 0\n"
     "  loss sum(W) * False\n"
     "                ^\n"},
    {"Python's None",
     "param W[3]\n"
     "h = None\n"
     "loss sum(W)\n",
     "t.bp:2:5: error: unknown name 'None'; there is no None: every value is a number or a tensor\n"
     "  h = None\n"
     "      ^\n"},
    /* a bracket left open runs into the next statement: said at the bracket when the next
       line begins with a statement's keyword, which then begins the next statement (it said
       "unexpected 'optimizer' inside the '(' opened at 2:9", and that statement went unread) */
    {"a '(' left open at the end of a line",
     "param W[3]\n"
     "loss sum(W\n"
     "optimizer sgd(lr = 0.1, 'nesterov')\n",
     "t.bp:2:9: error: unclosed '(': the next line begins a new statement ('optimizer')\n"
     "  loss sum(W\n"
     "          ^\n"
     "t.bp:3:25: error: strings are not part of the language\n"
     "  optimizer sgd(lr = 0.1, 'nesterov')\n"
     "                          ^\n"},
    {"a '[' left open at the end of a line",
     "param W[3\n"
     "loss sum(W) ** 2\n",
     "t.bp:1:8: error: unclosed '[': the next line begins a new statement ('loss')\n"
     "  param W[3\n"
     "         ^\n"
     "t.bp:2:13: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(W) ** 2\n"
     "              ^\n"},
    {"a line ending in an operator or ',' before a statement's keyword (it said \"'loss' is a keyword, not a name\", and "
     "that statement went unread)",
     "param W[3]\n"
     "h = W +\n"
     "loss sum(h) ** 2\n"
     "output h,\n"
     "optimizer sgd(lr = 0.1, 'nesterov')\n",
     "t.bp:2:7: error: unexpected end of line after '+': the next line begins a new statement ('loss')\n"
     "  h = W +\n"
     "        ^\n"
     "t.bp:3:13: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(h) ** 2\n"
     "              ^\n"
     "t.bp:4:9: error: unexpected end of line after ',': the next line begins a new statement ('optimizer')\n"
     "  output h,\n"
     "          ^\n"
     "t.bp:5:25: error: strings are not part of the language\n"
     "  optimizer sgd(lr = 0.1, 'nesterov')\n"
     "                          ^\n"},
    {"a '(' left open before the '}' that ends a def's body (it said \"unexpected '}', expected an operator, ')' or ','\")",
     "param W[3]\n"
     "def f(x) {\n"
     "  h = relu(x)\n"
     "  return sum(h\n"
     "}\n"
     "def g(x) { return relu(x }\n"
     "loss f(W) + g(W) ** 2\n",
     "t.bp:4:13: error: unclosed '(': the '}' at 5:1 ends the def's body\n"
     "    return sum(h\n"
     "              ^\n"
     "t.bp:6:23: error: unclosed '(': the '}' at 6:26 ends the def's body\n"
     "  def g(x) { return relu(x }\n"
     "                        ^\n"
     "t.bp:7:18: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss f(W) + g(W) ** 2\n"
     "                   ^\n"},
    {"a line ending in an operator before a binding (it said \"unexpected '='\" on the binding's line)",
     "param W[3]\n"
     "h1 = W +\n"
     "h2 = h1\n"
     "loss sum(W) ** 2\n",
     "t.bp:2:8: error: unexpected end of line after '+': the next line begins a new statement ('h2 = ...')\n"
     "  h1 = W +\n"
     "         ^\n"
     "t.bp:4:13: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(W) ** 2\n"
     "              ^\n"},
    {"a def's body left open before the program's next statement (it said \"'loss' is a keyword, not a name\", and the "
     "loss went unread)",
     "param W[3]\n"
     "def f(x) {\n"
     "  h = relu(x)\n"
     "  return h\n"
     "loss sum(f(W)) ** 2\n"
     "def g(x) {\n"
     "  h = relu(x)\n"
     "output W\n",
     "t.bp:2:10: error: unclosed '{': the def's body has no '}' before 'loss', which begins a statement of the program\n"
     "  def f(x) {\n"
     "           ^\n"
     "t.bp:5:16: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss sum(f(W)) ** 2\n"
     "                 ^\n"
     "t.bp:6:10: error: unclosed '{': the def's body has no '}' before 'output', which begins a statement of the program\n"
     "  def g(x) {\n"
     "           ^\n"},
    {"a def whose header has an error: its return and '}' are not errors of their own (they said \"'return' outside a "
     "def\" and \"unexpected '}'\")",
     "def f(x y) {\n"
     "  h = x\n"
     "  return h\n"
     "}\n"
     "loss f(1) ** 2\n"
     "def g(x y) {\n"
     "  return x\n"
     "loss g(1)\n",
     "t.bp:1:9: error: unexpected name 'y', expected ')' or ','\n"
     "  def f(x y) {\n"
     "          ^\n"
     "t.bp:5:11: error: '**' is not an operator: write a power as x ^ 2\n"
     "  loss f(1) ** 2\n"
     "            ^\n"
     "t.bp:6:9: error: unexpected name 'y', expected ')' or ','\n"
     "  def g(x y) {\n"
     "          ^\n"},
    {"a def whose header has an error of the scanner's alone (a name too long: it parses on) is a def: its '}' ends "
     "the body, and the body's own error is said (the '{' was taken for one after a syntax error: the '}' was dropped, "
     "and 'loss' said to be a keyword inside the body)",
     "param W[4] = 1\n"
     "def f(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa) {\n"
     "  return sum(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)\n"
     "}\n"
     "loss f(W)\n",
     "t.bp:2:7: error: name is too long (limit 64 characters)\n"
     "  def f(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa) {\n"
     "        ^\n"
     "t.bp:3:14: error: name is too long (limit 64 characters)\n"
     "    return sum(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)\n"
     "               ^\n"},
    {"a def whose header has a syntax error, its body left open: the program's next statement is outside it (a "
     "later top-level return went unsaid, and input x[B, *] said \"unexpected '*'\")",
     "def f(a y) {\n"
     "  return a\n"
     "loss 1\n"
     "input x[B, *]\n"
     "return 3\n",
     "t.bp:1:9: error: unexpected name 'y', expected ')' or ','\n"
     "  def f(a y) {\n"
     "          ^\n"
     "t.bp:4:12: error: '*' is not a size: a size bound when the code runs is a name: [B, ...]\n"
     "  input x[B, *]\n"
     "             ^\n"
     "t.bp:5:1: error: 'return' outside a def\n"
     "  return 3\n"
     "  ^\n"},
    {"'**' ending a line: one error (the '**''s; the end of line after its second '*' was said too)",
     "param W[4] = 1\n"
     "h = W **\n"
     "loss sum(h)\n",
     "t.bp:2:7: error: '**' is not an operator: write a power as x ^ 2\n"
     "  h = W **\n"
     "        ^\n"},
    {"a '(' left open in a def body before its return (it said \"unexpected 'return' inside the '(' ...\", and the "
     "return went unread)",
     "def f(x) {\n"
     "  a = relu(x\n"
     "  return a ** 2\n"
     "}\n"
     "h = relu(f(1)\n"
     "output h\n",
     "t.bp:2:11: error: unclosed '(': the next line begins a new statement ('return')\n"
     "    a = relu(x\n"
     "            ^\n"
     "t.bp:3:12: error: '**' is not an operator: write a power as x ^ 2\n"
     "    return a ** 2\n"
     "             ^\n"
     "t.bp:5:9: error: unclosed '(': the next line begins a new statement ('output')\n"
     "  h = relu(f(1)\n"
     "          ^\n"},
    {"the same inside a def: the call it was made in follows, as sema's errors in a def",
     "def big(x, w) = tanh(x * w)\n"
     "input x[200000, 100000]\n"
     "param w[100000]\n"
     "loss sum(big(x, w) * 2)\n",
     "t.bp:1:24: error: the program needs a workspace of at least 160000400064 bytes (every symbolic dimension 1), "
     "more than this machine's memory; the largest value it computes is here\n"
     "  def big(x, w) = tanh(x * w)\n"
     "                         ^\n"
     "t.bp:4:10: note: in this call of 'big'\n"
     "  loss sum(big(x, w) * 2)\n"
     "           ^\n"},
    {"... and at a product the folding remade (k.T into the product's flag): its def call kept",
     "def scores(q, k) = q @ k.T\n"
     "input x[200000, 8]\n"
     "param w[8, 8]\n"
     "loss sum(scores(x @ w, x))\n",
     "t.bp:1:22: error: the program needs a workspace of at least 160006400320 bytes (every symbolic dimension 1), "
     "more than this machine's memory; the largest value it computes is here\n"
     "  def scores(q, k) = q @ k.T\n"
     "                       ^\n"
     "t.bp:4:10: note: in this call of 'scores'\n"
     "  loss sum(scores(x @ w, x))\n"
     "           ^\n"},
    {"a workspace no machine has (160 GB even at the smallest sizes)",
     "input x[200000, 100000]\n"
     "param w[100000]\n"
     "h = tanh(x * w)\n"
     "loss sum(h * h)\n",
     "t.bp:3:12: error: the program needs a workspace of at least 160000400064 bytes (every symbolic dimension 1), "
     "more than this machine's memory; the largest value it computes is here\n"
     "  h = tanh(x * w)\n"
     "             ^\n"},
};

static void test_messages(void **state) {
    (void)state;
    size_t n = sizeof cases / sizeof cases[0];
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        TestModel t;
        th_build(&t, cases[i].program, 0, NULL);
        const char *got = th_diag_text(&t);
        if (t.ok || strcmp(got, cases[i].expected) != 0)
            fprintf(stderr, "case '%s' (ok=%d):\n%s--- expected:\n%s--- got:\n%s", cases[i].what, t.ok,
                    cases[i].program, cases[i].expected, got);
        assert_int_equal(t.ok, 0);
        assert_string_equal(got, cases[i].expected);
        th_free(&t);
    }
}

/* A line longer than 200 bytes is quoted as a window of 200 around the caret, "..." on each
 * side that is cut (the whole line was echoed: 400 KB for a deeply nested loss), the
 * caret under its byte; a cut falls between UTF-8 characters. */
static void test_long_line(void **state) {
    (void)state;
    char text[2048], expected[2048];
    const char *msg = "error: unknown name 'q'\n";
    /* near the start: the window's end is cut */
    int n = snprintf(text, sizeof text, "y = q");
    for (int i = 0; i < 150; i++) n += snprintf(text + n, sizeof text - (size_t)n, " + 1");
    snprintf(text + n, sizeof text - (size_t)n, "\n");
    snprintf(expected, sizeof expected, "t.bp:1:5: %s  %.200s...\n      ^\n", msg, text);
    TestModel t;
    th_build(&t, text, 0, NULL);
    assert_string_equal(th_diag_text(&t), expected);
    th_free(&t);
    /* in the middle: both ends cut, 100 bytes before the caret */
    n = snprintf(text, sizeof text, "y = 1");
    for (int i = 0; i < 100; i++) n += snprintf(text + n, sizeof text - (size_t)n, " + 1");
    int col = n + 4;
    n += snprintf(text + n, sizeof text - (size_t)n, " + q");
    for (int i = 0; i < 100; i++) n += snprintf(text + n, sizeof text - (size_t)n, " + 1");
    snprintf(text + n, sizeof text - (size_t)n, "\n");
    snprintf(expected, sizeof expected, "t.bp:1:%d: %s  ...%.200s...\n     %100s^\n", col, msg, text + col - 101, "");
    th_build(&t, text, 0, NULL);
    assert_string_equal(th_diag_text(&t), expected);
    th_free(&t);
    /* near the end: the window's start is cut */
    n = snprintf(text, sizeof text, "y = 1");
    for (int i = 0; i < 150; i++) n += snprintf(text + n, sizeof text - (size_t)n, " + 1");
    col = n + 4;
    n += snprintf(text + n, sizeof text - (size_t)n, " + q");
    snprintf(expected, sizeof expected, "t.bp:1:%d: %s  ...%s\n     %*s^\n", col, msg, text + n - 200, 199, "");
    snprintf(text + n, sizeof text - (size_t)n, "\n");
    th_build(&t, text, 0, NULL);
    assert_string_equal(th_diag_text(&t), expected);
    th_free(&t);
    /* a two-byte character across the 200th byte is left out whole */
    n = snprintf(text, sizeof text, "y = q + 1  # ");
    for (int i = 0; i < 150; i++) n += snprintf(text + n, sizeof text - (size_t)n, "\xc3\xa9");
    snprintf(text + n, sizeof text - (size_t)n, "\n");
    snprintf(expected, sizeof expected, "t.bp:1:5: %s  %.199s...\n      ^\n", msg, text);
    th_build(&t, text, 0, NULL);
    assert_string_equal(th_diag_text(&t), expected);
    th_free(&t);
}

/* Inputs, outputs and symbolic sizes are arguments of the generated functions, 252 at most
 * in one (tcc refuses a call of 255 arguments: 300 inputs made C it did not compile and the
 * JIT could not run, "memory full (vstack)"): 245 inputs and B (the training step's helper
 * takes 252) are taken, a 246th input is refused where it is declared; one input, B and 248
 * outputs (NAME_forward takes 252) are taken, a 249th output is refused at its name (all
 * compiled by the JIT, tcc). */
static void test_api_args(void **state) {
    (void)state;
    static char text[16384];
    TestModel t;
    for (int extra = 0; extra < 2; extra++) {
        int n = 0;
        for (int i = 0; i < 245 + extra; i++) n += snprintf(text + n, sizeof text - (size_t)n, "input x%d[B]\n", i);
        snprintf(text + n, sizeof text - (size_t)n, "loss sum(x0)\n");
        th_build(&t, text, 0, NULL); /* (the harness holds 64 inputs: compiled and JIT-compiled is taken) */
        if (!extra) assert_string_equal(th_diag_text(&t), "test harness: more inputs than it holds\n");
        else
            assert_string_equal(th_diag_text(&t), "t.bp:246:7: error: too many inputs, outputs and symbolic sizes: the "
                                                  "generated functions would take 253 arguments (limit 252)\n"
                                                  "  input x245[B]\n        ^\n");
        th_free(&t);
    }
    for (int extra = 0; extra < 2; extra++) {
        int n = snprintf(text, sizeof text, "input x[B]\nloss sum(x)\noutput x");
        for (int i = 1; i < 248 + extra; i++) n += snprintf(text + n, sizeof text - (size_t)n, ", x");
        snprintf(text + n, sizeof text - (size_t)n, "\n");
        th_build(&t, text, 0, NULL);
        if (!extra) assert_true(t.ok);
        else
            assert_non_null(strstr(th_diag_text(&t), "t.bp:3:752: error: too many inputs, outputs and symbolic sizes: "
                                                     "the generated functions would take 253 arguments (limit 252)\n"));
        th_free(&t);
    }
}

/* The limits of defs (README): 64 parameters, 32 calls deep, 100000 operations made by
 * inlining; each the most that compiles, then one more, an error at its place */
static void test_def_limits(void **state) {
    (void)state;
    enum { SIZE = 1 << 20 };
    char *text = malloc(SIZE);
    assert_non_null(text);
    TestModel t;
    for (int extra = 0; extra < 2; extra++) { /* f(a0, ..., a63), one more */
        int n = snprintf(text, SIZE, "param p = 0.5\ndef f(a0");
        for (int i = 1; i < 64 + extra; i++) n += snprintf(text + n, SIZE - (size_t)n, ", a%d", i);
        n += snprintf(text + n, SIZE - (size_t)n, ") = a0 * p\nloss f(p");
        for (int i = 1; i < 64 + extra; i++) n += snprintf(text + n, SIZE - (size_t)n, ", p");
        snprintf(text + n, SIZE - (size_t)n, ")\n");
        th_build(&t, text, 0, NULL);
        if (!extra) assert_true(t.ok);
        else assert_non_null(strstr(th_diag_text(&t), "t.bp:2:5: error: 'f' has 65 parameters (limit 64)\n"));
        th_free(&t);
    }
    for (int extra = 0; extra < 2; extra++) { /* f31(f30(... f0)), 32 calls deep, one more */
        int n = snprintf(text, SIZE, "param p = 0.5\ndef f0(a) = a * p\n");
        for (int i = 1; i < 32 + extra; i++) n += snprintf(text + n, SIZE - (size_t)n, "def f%d(a) = f%d(a)\n", i, i - 1);
        snprintf(text + n, SIZE - (size_t)n, "loss f%d(p)\n", 31 + extra);
        th_build(&t, text, 0, NULL);
        if (!extra) assert_true(t.ok);
        else
            assert_non_null(strstr(th_diag_text(&t), "t.bp:3:13: error: defs nested more than 32 calls deep\n"
                                                     "  def f1(a) = f0(a)\n              ^\n"
                                                     "t.bp:4:13: note: in this call of 'f1'\n"));
        th_free(&t);
    }
    { /* a def of 3 operations called 40000 times: the call that passes 100000 is refused */
        int n = snprintf(text, SIZE, "input x = 0.5\nparam p = 0.5\ndef f(a) { t = a * p; return tanh(t) + 0.1 }\nh0 = x\n");
        for (int i = 0; i < 40000; i++) n += snprintf(text + n, SIZE - (size_t)n, "h%d = f(h%d)\n", i + 1, i);
        snprintf(text + n, SIZE - (size_t)n, "loss h40000\n");
        th_build(&t, text, 0, NULL);
        assert_non_null(strstr(th_diag_text(&t), "error: the program passes 100000 operations as its defs are inlined"));
        assert_int_equal(strncmp(th_diag_text(&t), "t.bp:", 5), 0);
        th_free(&t);
    }
    free(text);
}

/* Lines that start a diagnostic ("t.bp:L:C: ..."), as "L:C" joined by spaces. */
static void diag_positions(const char *text, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = 0;
    for (const char *p = text; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        int line, col;
        if (strncmp(p, "t.bp:", 5) == 0 && sscanf(p + 5, "%d:%d:", &line, &col) == 2 && n < size)
            n += (size_t)snprintf(buf + n, size - n, "%s%d:%d", n ? " " : "", line, col);
    }
}

/* Independent errors are all reported, in source order, and the first does not hide
 * the rest (nor does a failed binding cascade into errors at its uses). */
static void test_several_errors(void **state) {
    (void)state;
    const char *text = "input x[3, 4]\n"
                       "y = q + 1\n"                /* unknown name */
                       "def relu(a) = a\n"          /* redefines a built-in */
                       "z = sum(x, axis = 5)\n"     /* axis out of range */
                       "w = y * 2\n"                /* y failed: no second error */
                       "param W[B, 2]\n"            /* symbolic dim in a param */
                       "loss x\n"                   /* not a scalar */
                       "optimizer nadam(lr = 1)\n"  /* unknown optimizer */
                       "output nothing\n"           /* unknown name */
                       "v = x @ x\n";               /* inner dimensions differ */
    TestModel t;
    th_build(&t, text, 0, NULL);
    assert_int_equal(t.ok, 0);
    const char *got = th_diag_text(&t);
    char pos[256];
    diag_positions(got, pos, sizeof pos);
    if (strcmp(pos, "2:5 3:5 4:19 6:9 7:6 8:11 9:8 10:7") != 0) fprintf(stderr, "%s", got);
    assert_string_equal(pos, "2:5 3:5 4:19 6:9 7:6 8:11 9:8 10:7");
    assert_int_equal(t.diag.nerrors, 8);
    assert_non_null(strstr(got, "t.bp:10:7: error: matmul shapes [3, 4] and [3, 4] do not match: 4 != 3; the right side transposed would fit: write x.T\n"));
    th_free(&t);
}

/* The notes after an error in a def's expansion are not errors: one error is counted, and
 * a program that calls the def correctly after the failing call has no more. */
static void test_def_call_notes(void **state) {
    (void)state;
    TestModel t;
    th_build(&t,
             "input x[B, 3]\n"
             "param W1[3, 4]\n"
             "param W2[5, 2]\n"
             "def layer(h, W) = relu(h @ W)\n"
             "h2 = layer(layer(x, W1), W2)\n"
             "h3 = layer(x, W1)\n"
             "loss sum(h3)\n",
             0, NULL);
    assert_int_equal(t.ok, 0);
    assert_int_equal(t.diag.nerrors, 1);
    assert_int_equal(t.diag.ncontext, 0);
    const char *got = th_diag_text(&t);
    assert_string_equal(got, "t.bp:4:26: error: matmul shapes [B, 4] and [5, 2] do not match: 4 != 5\n"
                             "  def layer(h, W) = relu(h @ W)\n"
                             "                           ^\n"
                             "t.bp:5:6: note: in this call of 'layer'\n"
                             "  h2 = layer(layer(x, W1), W2)\n"
                             "       ^\n");
    th_free(&t);
}

/* ---- hostile programs: each must return; a failure must say "error:" ---- */
typedef struct Buf {
    char *s;
    size_t n, cap;
} Buf;

static void bprintf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)k + 1 > b->cap) {
        b->cap = (b->n + (size_t)k + 1) * 2;
        b->s = realloc(b->s, b->cap);
        assert_non_null(b->s);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Compiles text; returns t.ok. A failure must carry at least one diagnostic. */
static int survives(const char *what, const char *text) {
    TestModel t;
    th_build(&t, text, 0, NULL);
    const char *got = th_diag_text(&t);
    if (!t.ok && !strstr(got, "error:")) fprintf(stderr, "%s: failed without a diagnostic:\n%s\n", what, got);
    int ok = t.ok;
    if (!ok) assert_non_null(strstr(got, "error:"));
    th_free(&t);
    return ok;
}

/* How many errors a program is reported with. */
static int error_count(const char *text) {
    TestModel t;
    th_build(&t, text, 0, NULL);
    int n = 0;
    for (const char *p = th_diag_text(&t); (p = strstr(p, "error:")) != NULL; p++) n++;
    th_free(&t);
    return n;
}

/* Writes text into dir/name (creating dir/name's directories above it) */
static void put_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = 0;
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A tool message is one write: the ranks of an MPI job share one stderr, where the prefix,
 * the message and the newline written apart interleaved ("bpc: error: bpc: error: F: ...").
 * stderr is a datagram socket here, whose every write is one datagram. */
static void test_tool_message_one_write(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(sv[0], 2) >= 0);
    diag_tool_error("%s: cannot open: %s", "/data/train-images-idx3-ubyte", "No such file or directory");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char got[512];
    ssize_t n = recv(sv[1], got, sizeof got - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    got[n] = 0;
    assert_string_equal(got, "bpc: error: /data/train-images-idx3-ubyte: cannot open: No such file or directory\n");
    assert_true(recv(sv[1], got, sizeof got, MSG_DONTWAIT) < 0); /* nothing after: one datagram */
    close(sv[0]);
    close(sv[1]);
}

/* The room the run-time checks allow (bpc_memory_fits): /proc/meminfo's MemAvailable, and
 * the least a memory cgroup and those above it leave, read from files laid out as the
 * kernel's (v2: memory.max, memory.current, memory.stat's inactive_file and active_file; v1:
 * memory.limit_in_bytes, memory.usage_in_bytes, total_inactive_file and total_active_file).
 * A workspace between the free memory and the machine's passed the check and was the OOM
 * killer's. */
static void test_memory_room(void **state) {
    (void)state;
    char dir[] = "/tmp/bpc-mem-XXXXXX", p[600], root[600];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/meminfo", dir);
    put_file(dir, "meminfo", "MemTotal:       24683772 kB\nMemFree:          100 kB\nMemAvailable:     2048 kB\n");
    assert_true(bpc_meminfo_available(p) == 2048.0 * 1024);
    put_file(dir, "meminfo", "MemTotal:       24683772 kB\nMemAvailableX:    2048 kB\n");
    assert_true(bpc_meminfo_available(p) == -1);
    snprintf(p, sizeof p, "%s/none", dir);
    assert_true(bpc_meminfo_available(p) == -1);

    /* v2: the cgroup /a/b, and /a above it */
    snprintf(p, sizeof p, "%s/cgroup", dir);
    snprintf(root, sizeof root, "%s/fs", dir);
    put_file(dir, "cgroup", "0::/a/b\n");
    assert_true(bpc_cgroup_room(p, root) == -1); /* no files: no limit known */
    put_file(dir, "fs/a/b/memory.max", "1000000\n");
    put_file(dir, "fs/a/b/memory.current", "400000\n");
    put_file(dir, "fs/a/b/memory.stat", "anon 1\nfile 2\ninactive_file 50000\nactive_file 7\n");
    put_file(dir, "fs/a/memory.max", "max\n");
    put_file(dir, "fs/a/memory.current", "900000\n");
    assert_true(bpc_cgroup_room(p, root) == 650007); /* 1000000 - 400000 + 50000 + 7: its page cache */
    put_file(dir, "fs/a/memory.max", "500000\n"); /* the one above leaves less */
    put_file(dir, "fs/a/memory.current", "480000\n");
    put_file(dir, "fs/a/memory.stat", "inactive_file 1000\n");
    assert_true(bpc_cgroup_room(p, root) == 21000);
    put_file(dir, "fs/a/memory.current", "600000\n"); /* over its limit: its inactive pages */
    assert_true(bpc_cgroup_room(p, root) == 1000);
    put_file(dir, "fs/memory.max", "5000\n"); /* the top (a namespace's root) counts too */
    put_file(dir, "fs/memory.current", "4000\n");
    assert_true(bpc_cgroup_room(p, root) == 1000);
    put_file(dir, "fs/memory.current", "4500\n");
    assert_true(bpc_cgroup_room(p, root) == 500);
    put_file(dir, "cgroup", "0::/\n"); /* a cgroup namespace: only the top */
    assert_true(bpc_cgroup_room(p, root) == 500);

    /* v1: the memory controller's line, alone or in a list; "no limit" is 2^63 less a page */
    put_file(dir, "cgroup", "5:cpu:/\n4:memory:/x\n0::/\n");
    put_file(dir, "fs/memory/x/memory.limit_in_bytes", "9223372036854771712\n");
    put_file(dir, "fs/memory/x/memory.usage_in_bytes", "1000000\n");
    assert_true(bpc_cgroup_room(p, root) == 500); /* v2's top still read: 0::/ */
    put_file(dir, "cgroup", "5:cpu:/\n4:memory:/x\n");
    assert_true(bpc_cgroup_room(p, root) == -1);
    put_file(dir, "fs/memory/x/memory.limit_in_bytes", "3000000\n");
    put_file(dir, "fs/memory/x/memory.stat", "inactive_file 9\ntotal_inactive_file 5\nactive_file 3\ntotal_active_file 20\n");
    assert_true(bpc_cgroup_room(p, root) == 2000025);
    put_file(dir, "cgroup", "4:cpuacct,memory,pids:/x\n");
    assert_true(bpc_cgroup_room(p, root) == 2000025);
    put_file(dir, "cgroup", "4:memoryx:/x\n"); /* not the memory controller */
    assert_true(bpc_cgroup_room(p, root) == -1);
    snprintf(p, sizeof p, "%s/none", dir);
    assert_true(bpc_cgroup_room(p, root) == -1);

    /* the checks: BPC_MEMORY_LIMIT in place of the machine's; else its memory, and what is
       free on it now */
    char over[128];
    setenv("BPC_MEMORY_LIMIT", "1000", 1);
    assert_int_equal(bpc_memory_fits(1000, over, sizeof over), 1);
    assert_int_equal(bpc_memory_fits(1001, over, sizeof over), 0);
    assert_string_equal(over, "BPC_MEMORY_LIMIT (1000 bytes)");
    unsetenv("BPC_MEMORY_LIMIT");
    assert_int_equal(bpc_memory_fits(1e30, over, sizeof over), 0);
    assert_non_null(strstr(over, "this machine's memory ("));
    assert_int_equal(bpc_memory_fits(4096, over, sizeof over), 1);
    assert_true(bpc_meminfo_available(NULL) > 0); /* Linux */
    /* 31/32 of the machine: above 15/16 of any MemAvailable, whatever other processes free */
    const double total = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    assert_int_equal(bpc_memory_fits(total / 32 * 31, over, sizeof over), 0);
    assert_non_null(strstr(over, "the memory free on this machine ("));
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

static void test_hostile(void **state) {
    (void)state;
    Buf b = {0};

    /* defs that each call the one before twice make 2^N copies as they are inlined: 20 deep
       stops at the limit of operations, 40 deep at the depth limit, each with one error (the
       depth error was repeated once per path, and 20 deep took 14 GB before it was killed) */
    for (int n = 20; n <= 40; n += 20) {
        bprintf(&b, "param x = 0.5\ndef f0(a) = sin(a)\n");
        for (int i = 1; i <= n; i++) bprintf(&b, "def f%d(a) = f%d(a) + f%d(a) * 0.5\n", i, i - 1, i - 1);
        bprintf(&b, "loss f%d(x)\n", n);
        assert_int_equal(error_count(b.s), 1);
        b.n = 0;
    }

    /* 100 defs, each calling the next one (defined later): nested past the call limit */
    for (int i = 0; i < 100; i++) bprintf(&b, "def f%d(x) = f%d(x) + 1\n", i, i + 1);
    bprintf(&b, "def f100(x) = x\nparam p = 1\nloss f0(p)\n");
    assert_int_equal(survives("100 defs, forward", b.s), 0);
    b.n = 0;
    /* the same chain, each calling the one defined before it */
    bprintf(&b, "def f0(x) = x * 2\n");
    for (int i = 1; i < 100; i++) bprintf(&b, "def f%d(x) = f%d(x) + 1\n", i, i - 1);
    bprintf(&b, "param p = 1\nloss f99(p)\n");
    assert_int_equal(survives("100 defs, backward", b.s), 0);
    b.n = 0;
    /* a chain within the limit compiles */
    bprintf(&b, "def f0(x) = x * 2\n");
    for (int i = 1; i < 20; i++) bprintf(&b, "def f%d(x) = f%d(x) + 1\n", i, i - 1);
    bprintf(&b, "param p = 1\nloss f19(p)\n");
    assert_int_equal(survives("20 defs", b.s), 1);
    b.n = 0;

    assert_int_equal(survives("recursion through 3 others", "def a(x) = b(x)\ndef b(x) = c(x)\ndef c(x) = d(x)\n"
                                                            "def d(x) = a(x) + 1\nparam p\nloss a(p)\n"),
                     0);
    assert_int_equal(survives("recursion in a block def", "def f(x) {\n  y = g(x)\n  return y\n}\n"
                                                          "def g(x) = f(x)\nloss f(1)\n"),
                     0);
    assert_int_equal(survives("largest dims", "input x[2147483647, 2147483647]\nloss sum(x)\n"), 0);
    assert_int_equal(survives("largest dims, param", "param W[2147483647, 2147483647]\nloss sum(W)\n"), 0);
    assert_int_equal(survives("dims past int64", "param W[1e300, 1e300]\n"), 0);
    assert_int_equal(survives("huge reshape", "input x[3]\ny = reshape(x, [2147483647, 2147483647, -1])\n"), 0);
    assert_int_equal(survives("huge axis", "input x[3]\ny = sum(x, axis = 1e300)\n"), 0);
    assert_int_equal(survives("huge power", "param p = 1\nloss p ^ 1e300\n"), 1);

    /* 10000 statements, a chain through a parameter */
    bprintf(&b, "param p = 1\nx0 = p\n");
    for (int i = 1; i < 10000; i++) bprintf(&b, "x%d = x%d * 0.5 + p\n", i, i - 1);
    bprintf(&b, "loss x9999\n");
    assert_int_equal(survives("10000 statements", b.s), 1);
    b.n = 0;
    /* 10000 bad statements: the error limit stops the flood */
    for (int i = 0; i < 10000; i++) bprintf(&b, "y%d = q%d\n", i, i);
    assert_int_equal(survives("10000 errors", b.s), 0);
    b.n = 0;

    /* f(f(f(...))) 200 deep, and 2000 deep (past the parser's nesting limit) */
    int depths[] = {200, 2000};
    for (int k = 0; k < 2; k++) {
        bprintf(&b, "def f(x) = x * 0.5 + 1\nparam p = 1\nloss ");
        for (int i = 0; i < depths[k]; i++) bprintf(&b, "f(");
        bprintf(&b, "p");
        for (int i = 0; i < depths[k]; i++) bprintf(&b, ")");
        bprintf(&b, "\n");
        survives("nested calls", b.s);
        b.n = 0;
    }
    /* a def with too many parameters */
    bprintf(&b, "def f(");
    for (int i = 0; i < 100; i++) bprintf(&b, "%sa%d", i ? ", " : "", i);
    bprintf(&b, ") = a0\nloss f(");
    for (int i = 0; i < 100; i++) bprintf(&b, "%s1", i ? ", " : "");
    bprintf(&b, ")\n");
    assert_int_equal(survives("100 parameters", b.s), 0);
    b.n = 0;

    /* 10 KB of random bytes (no NUL), a few seeds; and random printable soup */
    for (uint64_t seed = 1; seed <= 8; seed++) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ull;
        char *junk = malloc(10241);
        assert_non_null(junk);
        for (int i = 0; i < 10240; i++) {
            unsigned c = (unsigned)(xorshift(&s) >> 56);
            if (seed > 4) c = (unsigned)" \n()[]{}=+-*/@^.,:;#xyzWB01e9defreturnlossinputparam"[c % 52];
            junk[i] = (char)(c ? c : 1);
        }
        junk[10240] = 0;
        survives("random bytes", junk);
        free(junk);
    }
    free(b.s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_several_errors),
        cmocka_unit_test(test_def_call_notes),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_api_args),
        cmocka_unit_test(test_def_limits),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_memory_room),
        cmocka_unit_test(test_tool_message_one_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
