#!/bin/sh
# Every example's generated C compiles warning-free as C99 under gcc, clang and tcc, in
# f32 and f64, and carries #line directives back to the .bp source. For examples/, the
# --emit=test self-check program (every API function, NAME_grad against finite
# differences, NAME_hvp symmetric and against differences of NAME_grad, train_step
# lowering the loss) is linked with libbprt and run under each (tests/torch's under gcc);
# so is a program calling the seed example's NAME_hvp. tests/c_names/ holds programs whose
# names meet C's (keywords, the API's own parameter names, a model named bprt, no
# parameters, a constant loss, no loss, neither a loss nor outputs, dropout and an input named dropout_seed,
# names spelt like the header's prefixed ones: in_double, out0_v, dim_ws, a model bp_gelu whose
# NAME_grad was an emitted helper's name): compiled
# and self-checked the same way, and compiled as --standalone output by each compiler. The
# torch programs with softplus, sigmoid, bce, bce_logits, leaky_relu and GELU (which
# --standalone computes with its own functions) self-checked as --standalone output too.
# Several models in one program: seed, fashion_mlp and fashion_mlp3 (standalone and libbprt,
# float and double), and models `net` and `Net`.
# usage: emit_compilers.sh BPC SOURCE_DIR
set -eu
bpc=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
lib=$(dirname "$bpc")
# link_run WHAT CC EXE SRC...: the sources compiled by CC as C99 without a warning, linked with
# libbprt into EXE and run (its output in $tmp/out); a failure says so, naming WHAT, sets fail
# and returns 1. BP_SAN_PRELOAD: the sanitizer runtime an instrumented libbprt needs (BPC_SANITIZE).
link_run() {
  what=$1 lcc=$2 exe=$3
  shift 3
  n=$((n + 1))
  if ! $lcc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -I"$tmp" "$@" -L"$lib" -lbprt -lm -o "$exe" \
       2>"$tmp/err"; then
    echo "FAIL: linking $what with $lcc"; cat "$tmp/err"; fail=1; return 1
  fi
  if ! LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$exe" > "$tmp/out" 2>&1; then
    echo "FAIL: $what under $lcc"; cat "$tmp/out"; fail=1; return 1
  fi
}
# Each program's C, in float and double, under each compiler: with its self-check (linked with
# libbprt and run: link_run compiles both warning-free) where it has one under that compiler,
# else compiled alone. Self-checked: examples/ and tests/c_names/ under all three compilers,
# tests/torch/programs (zero-initialised parameters, relu, abs, maximum: the self-check moves
# the parameters off their kinks) under gcc; not bce_saturated, whose gradient at saturated
# probabilities is PyTorch's, not the clamped loss's derivative (README: bce); and labels for
# an embedding of one row (its ids must be 0: the self-check's 0, 1, 0, ... made the loss NaN
# and said FAILED)
printf 'input ids[B] : int\ninput y[B] : int\nparam E[1, 3] = normal(0.5)\nparam W[3, 4] = normal(0.5)\nloss cross_entropy(embedding(E, ids) @ W, y)\n' >"$tmp/one_row.bp"
for bp in "$src"/examples/*.bp "$src"/tests/torch/programs/*.bp "$src"/tests/c_names/*.bp "$tmp/one_row.bp"; do
  [ -f "$bp" ] || continue
  base=$(basename "$bp" .bp)
  checked="gcc clang tcc"
  case $bp in */torch/programs/*) checked=gcc;; esac
  [ "$base" = bce_saturated ] && checked=
  verdict='^ok$' # the self-check's last line; a program without a loss has nothing to check
  grep -q '^loss' "$bp" || verdict='^no loss: nothing to check$'
  for prec in "" "--f64"; do
    "$bpc" "$bp" -o "$tmp/$base.c" $prec
    # (a program with neither a loss nor outputs has no statement to point back to)
    if grep -q '^loss\|^output' "$bp"; then
      grep -q "^#line [0-9]* \".*$base.bp\"" "$tmp/$base.c" || { echo "FAIL: no #line in $base.c"; fail=1; }
    fi
    [ -n "$checked" ] && "$bpc" --emit=test "$bp" $prec > "$tmp/${base}_check.c"
    for cc in gcc clang tcc; do
      case " $checked " in
      *" $cc "*)
        link_run "the self-check of $base $prec" "$cc" "$tmp/check.$cc" "$tmp/$base.c" "$tmp/${base}_check.c" || continue
        grep -q "$verdict" "$tmp/out" || { echo "FAIL: self-check of $base under $cc $prec"; cat "$tmp/out"; fail=1; } ;;
      *)
        if ! $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -c "$tmp/$base.c" -o "$tmp/$base.$cc.o" 2>"$tmp/err"; then
          echo "FAIL: $cc $prec $bp"; cat "$tmp/err"; fail=1
        fi
        n=$((n + 1)) ;;
      esac
    done
  done
done
# NAME_hvp: declared for every tests/torch program (all have second-order rules), and the
# seed example's, compiled by each compiler, gives H (1, 1) = (11, 46) (tests/test_hvp.c)
for bp in "$src"/tests/torch/programs/*.bp; do
  base=$(basename "$bp" .bp)
  "$bpc" "$bp" -o "$tmp/$base.c"
  grep -q "^float ${base}_hvp(const float \*params, const float \*v, float \*hv" "$tmp/$base.h" || { echo "FAIL: $base.h has no ${base}_hvp"; fail=1; }
done
cat > "$tmp/hvp_main.c" <<'EOF_C'
#include <stdio.h>
#include <stdlib.h>
#include "seed.h"
int main(void) {
    real p[SEED_NPARAMS], v[SEED_NPARAMS] = {1, 1}, hv[SEED_NPARAMS], x = 2, y = 1;
    void *ws = malloc(seed_workspace_size() + 1);
    real loss;
    seed_init(p, 0);
    loss = seed_hvp(p, v, hv, &x, &y, ws);
    free(ws);
    printf("loss %g hv %g %g\n", (double)loss, (double)hv[0], (double)hv[1]);
    return !(loss == 2 && hv[0] == 11 && hv[1] == 46);
}
EOF_C
for prec in "" "--f64"; do
  "$bpc" "$src/examples/seed.bp" -o "$tmp/seed.c" $prec
  for cc in gcc clang tcc; do
    link_run "seed_hvp $prec" "$cc" "$tmp/hvp.$cc" "$tmp/seed.c" "$tmp/hvp_main.c" || true
  done
done
for bp in "$src"/tests/c_names/*.bp; do
  base=$(basename "$bp" .bp)
  "$bpc" "$bp" -o "$tmp/${base}_sa.c" --standalone
  for cc in gcc clang tcc; do
    if ! $cc -std=c99 -Wall -Wextra -Werror -pedantic -c "$tmp/${base}_sa.c" -o "$tmp/${base}_sa.$cc.o" 2>"$tmp/err"; then
      echo "FAIL: $cc --standalone $bp"; cat "$tmp/err"; fail=1
    fi
    n=$((n + 1))
  done
done
# --standalone output computes softplus, sigmoid, bce, bce_logits, leaky_relu and GELU with the
# preamble's own bp_ functions (the JIT and libbprt builds evaluate them through bprt_ew), so
# the tests/torch programs that use them run their self-check as --standalone too, in double,
# under gcc
for base in mlp_softplus_nll mlp_sigmoid_bce mlp_gelu_bce_logits mlp_leaky_ce_probs; do
  "$bpc" "$src/tests/torch/programs/$base.bp" -o "$tmp/${base}_sa.c" --standalone --f64
  "$bpc" --emit=test "$src/tests/torch/programs/$base.bp" --f64 | sed "s/^#include \"$base.h\"/#include \"${base}_sa.h\"/" \
    > "$tmp/${base}_sa_check.c"
  if ! gcc -std=c99 -Wall -Wextra -Werror -pedantic -I"$tmp" "$tmp/${base}_sa.c" "$tmp/${base}_sa_check.c" -lm \
       -o "$tmp/sa_check" 2>"$tmp/err"; then
    echo "FAIL: linking the --standalone self-check of $base"; cat "$tmp/err"; fail=1; continue
  fi
  if ! "$tmp/sa_check" > "$tmp/out" 2>&1 || ! grep -q '^ok$' "$tmp/out"; then
    echo "FAIL: --standalone self-check of $base"; cat "$tmp/out"; fail=1
  fi
  n=$((n + 1))
done
# Three models in one program: seed --standalone in double, fashion_mlp --standalone in float,
# fashion_mlp3 through libbprt. Their headers are included together (each names its own real
# type), their runtimes do not clash (a --standalone object exports only NAME_*), and each
# computes: seed's H v is (11, 46); at x = 0 both perceptrons' logits are their zero biases,
# so both losses are log 10. fashion_mlp's forward and train_step run in workspaces of
# NAME_forward_workspace_size and NAME_train_workspace_size bytes, followed by 256 bytes
# that must stay untouched; forward's is the smaller, and NAME_workspace_size (which also
# covers NAME_hvp) is at least train's.
cat > "$tmp/three.c" <<'EOF_C'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "seed.h"
#include "fashion_mlp.h"
#include "fashion_mlp3.h"
int main(void) {
    double p[SEED_NPARAMS], v[SEED_NPARAMS] = {1, 1}, hv[SEED_NPARAMS], x = 2, y = 1;
    void *ws = malloc(seed_workspace_size() + 1);
    double sl = seed_hvp(p, v, hv, &x, &y, (seed_init(p, 0), ws));
    float *q = calloc(FASHION_MLP3_NPARAMS, sizeof *q), *img = calloc(2 * 784, sizeof *img);
    int32_t lab[2] = {3, 7};
    void *w1 = malloc(fashion_mlp_workspace_size(2)), *w3 = malloc(fashion_mlp3_workspace_size(2));
    float l1, l3, logits[20], *opt = calloc(1, fashion_mlp_opt_state_size());
    const size_t fw = fashion_mlp_forward_workspace_size(2), tw = fashion_mlp_train_workspace_size(2);
    unsigned char *wf = malloc(fw + 256), *wt = malloc(tw + 256);
    int canary = 0;
    fashion_mlp_init(q, 5);
    l1 = fashion_mlp_loss(q, img, lab, 2, w1);
    memset(wf + fw, 0xA5, 256), memset(wt + tw, 0xA5, 256);
    fashion_mlp_forward(q, img, logits, 2, wf);
    fashion_mlp_train_step(q, opt, img, lab, 2, 0.001f, wt);
    for (int i = 0; i < 256; i++) canary |= (wf[fw + i] != 0xA5) | (wt[tw + i] != 0xA5);
    printf("workspaces: forward %zu, train %zu, all %zu bytes%s\n", fw, tw, fashion_mlp_workspace_size(2),
           canary ? ": written past" : "");
    if (canary || !(fw < tw && tw <= fashion_mlp_workspace_size(2)) || logits[0] != 0) return 1;
    { /* B = 0 (README): forward writes nothing, the loss is NaN, train_step changes nothing */
        float q0 = q[FASHION_MLP_OFF_b2], l0;
        logits[0] = 7;
        fashion_mlp_forward(q, img, logits, 0, wt);
        l0 = fashion_mlp_train_step(q, opt, img, lab, 0, 0.001f, wt);
        printf("B = 0: loss %g\n", (double)l0);
        if (logits[0] != 7 || l0 == l0 || q[FASHION_MLP_OFF_b2] != q0) return 1;
    }
    free(wf), free(wt), free(opt);
    fashion_mlp3_init(q, 5);
    l3 = fashion_mlp3_loss(q, img, lab, 2, w3);
    printf("seed %g (%g, %g), fashion_mlp %.7g, fashion_mlp3 %.7g\n", sl, hv[0], hv[1], (double)l1, (double)l3);
    free(ws), free(q), free(img), free(w1), free(w3);
    return !(sl == 2 && hv[0] == 11 && hv[1] == 46 && fabs(l1 - log(10.0)) < 1e-6 && fabs(l3 - log(10.0)) < 1e-6);
}
EOF_C
"$bpc" "$src/examples/seed.bp" -o "$tmp/seed.c" --standalone --f64
"$bpc" "$src/examples/fashion_mlp.bp" -o "$tmp/fashion_mlp.c" --standalone
"$bpc" "$src/examples/fashion_mlp3.bp" -o "$tmp/fashion_mlp3.c"
for cc in gcc clang tcc; do
  for m in seed fashion_mlp fashion_mlp3; do
    $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -c "$tmp/$m.c" -o "$tmp/$m.o" 2>"$tmp/err" || { echo "FAIL: $cc $m.c"; cat "$tmp/err"; fail=1; }
  done
  for m in seed fashion_mlp; do
    other=$(nm -g --defined-only "$tmp/$m.o" | awk '$3 !~ /^'"$m"'_/ { print $3 }')
    [ -z "$other" ] || { echo "FAIL: $cc: standalone $m.o exports names not prefixed ${m}_:"; echo "$other" | head; fail=1; }
  done
  if ! $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$tmp" "$tmp/three.c" "$tmp/seed.o" "$tmp/fashion_mlp.o" "$tmp/fashion_mlp3.o" \
       -L"$lib" -lbprt -lm -o "$tmp/three.$cc" 2>"$tmp/err"; then
    echo "FAIL: linking three models with $cc"; cat "$tmp/err"; fail=1; continue
  fi
  if ! LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$tmp/three.$cc" > "$tmp/out" 2>&1; then
    echo "FAIL: three models under $cc"; cat "$tmp/out"; fail=1
  fi
  n=$((n + 1))
done
# A symbolic size of 0 under reductions: max and logsumexp over an empty axis are -inf (they read
# src[0] of their empty column: a NaN there, or the caller's input, made them NaN), and a softmax
# over an empty axis, emitted or the runtime's rows, reads nothing. x points to a NaN and t to a
# byte that the call at B = 0 must not read, the workspace is filled with NaN bytes: the loss is
# 0 + 0 + 0 + 0 + 0 + sum(w) = 3, each gradient 1. Through libbprt, and as --standalone output
# built with AddressSanitizer where gcc has it (the empty column of an input was read past its end).
printf 'input x[B, 3]\ninput t[3, B]\nparam w[3] = 1\nloss sum(exp(logsumexp(x, axis = 0)) * w) + exp(max(x)) + exp(logsumexp(x * w)) + sum(softmax(x * w, axis = 0)) + sum(softmax(t)) + sum(w)\n' > "$tmp/empty.bp"
cat > "$tmp/empty_main.c" <<'EOF_C'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "empty.h"
int main(void) {
    float p[EMPTY_NPARAMS], g[EMPTY_NPARAMS];
    float *x = malloc(sizeof(float)), *t = malloc(1); /* t: too short for a float */
    size_t n = empty_workspace_size(0);
    void *ws = malloc(n ? n : 1);
    int bad = 0;
    x[0] = NAN;
    empty_init(p, 1);
    memset(ws, 0xff, n);
    float l = empty_loss(p, x, t, 0, ws);
    memset(ws, 0xff, n);
    float lg = empty_grad(p, g, x, t, 0, ws);
    for (int i = 0; i < EMPTY_NPARAMS; i++) bad |= g[i] != 1;
    printf("B = 0: loss %g, grad's loss %g, gradient %g %g %g\n", (double)l, (double)lg, (double)g[0], (double)g[1], (double)g[2]);
    free(x), free(t), free(ws);
    return bad || l != 3 || lg != 3;
}
EOF_C
"$bpc" "$tmp/empty.bp" -o "$tmp/empty.c"
if gcc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -I"$tmp" "$tmp/empty_main.c" "$tmp/empty.c" -L"$lib" -lbprt -lm \
     -o "$tmp/empty" 2>"$tmp/err"; then
  LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$tmp/empty" > "$tmp/out" 2>&1 || { echo "FAIL: reductions over a size of 0 (libbprt)"; cat "$tmp/out"; fail=1; }
else
  echo "FAIL: building the size-0 reductions with libbprt"; cat "$tmp/err"; fail=1
fi
"$bpc" "$tmp/empty.bp" -o "$tmp/empty.c" --standalone
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
echo 'int main(void) { return 0; }' > "$tmp/san.c"
gcc $san "$tmp/san.c" -o "$tmp/san" 2>/dev/null && "$tmp/san" 2>/dev/null || san=""
if gcc -std=c99 -O1 -g $san -Wall -Wextra -Werror -pedantic -I"$tmp" "$tmp/empty_main.c" "$tmp/empty.c" -lm -o "$tmp/empty_sa" 2>"$tmp/err"; then
  ASAN_OPTIONS=detect_leaks=0 "$tmp/empty_sa" > "$tmp/out" 2>&1 || { echo "FAIL: reductions over a size of 0 (--standalone${san:+, $san})"; cat "$tmp/out"; fail=1; }
else
  echo "FAIL: building the size-0 reductions --standalone"; cat "$tmp/err"; fail=1
fi
n=$((n + 2))
# Sizes past GEMM's ints are refused by the generated functions (README): here the rows of
# x @ W (16*B) and of u @ V (B*T) must stay within 2147483647. At B = 134217728 (16*B = 2^31)
# or B*T = 2^31, or a negative size, every workspace size is SIZE_MAX / 2, forward writes
# nothing, loss, grad, hvp and train_step return NaN and write nothing (their buffers here
# are far too small: a call that ran would write past them); the largest sizes allowed
# (B = 134217727 at T = 1; B*T = 2147418112) are still taken by the size functions (not
# allocated), and a call at B = 2 computes. Under libbprt with each compiler, and as
# --standalone output.
printf 'input x[B, 16, 8]\ninput u[B, T, 2]\nparam W[8, 4] = 1\nparam V[2, 3] = 1\nh = x @ W\nloss sum(h) + sum(u @ V)\noutput h\n' > "$tmp/sizes.bp"
cat > "$tmp/sizes_main.c" <<'EOF_C'
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sizes.h"
static int bad;
static void check(int ok, const char *what) {
    if (!ok) printf("FAIL: %s\n", what), bad = 1;
}
/* every size function refuses (B, T) */
static void refused(int B, int T) {
    char what[96];
    snprintf(what, sizeof what, "the sizes at B = %d, T = %d are SIZE_MAX / 2", B, T);
    check(sizes_workspace_size(B, T) == SIZE_MAX / 2 && sizes_train_workspace_size(B, T) == SIZE_MAX / 2 &&
          sizes_forward_workspace_size(B, T) == SIZE_MAX / 2, what);
}
static void taken(int B, int T) {
    char what[96];
    snprintf(what, sizeof what, "the sizes at B = %d, T = %d are taken", B, T);
    check(sizes_workspace_size(B, T) < SIZE_MAX / 4 && sizes_train_workspace_size(B, T) < SIZE_MAX / 4 &&
          sizes_forward_workspace_size(B, T) < SIZE_MAX / 4, what);
}
int main(void) {
    static float p[SIZES_NPARAMS], p0[SIZES_NPARAMS], g[SIZES_NPARAMS], hv[SIZES_NPARAMS], v[SIZES_NPARAMS];
    static float x[2 * 16 * 8], u[2 * 2], h[2 * 16 * 4], ws[1 << 16];
    static double opt[1 << 10];
    static const int bt[][2] = {{134217728, 1}, {65536, 32768}, {-1, 1}, {1, -1}, {INT32_MAX, INT32_MAX}};
    check(sizeof opt >= sizes_opt_state_size() && sizeof ws >= sizes_workspace_size(2, 1), "the buffers hold B = 2");
    sizes_init(p, 1);
    memcpy(p0, p, sizeof p);
    for (size_t i = 0; i < sizeof bt / sizeof bt[0]; i++) {
        const int B = bt[i][0], T = bt[i][1];
        refused(B, T);
        for (size_t k = 0; k < sizeof h / sizeof h[0]; k++) h[k] = 7, g[k % SIZES_NPARAMS] = 7, hv[k % SIZES_NPARAMS] = 7;
        sizes_forward(p, x, h, B, T, ws);
        check(h[0] == 7 && h[sizeof h / sizeof h[0] - 1] == 7, "forward wrote nothing");
        check(isnan(sizes_loss(p, x, u, B, T, ws)) && isnan(sizes_loss_eval(p, x, u, B, T, ws)), "the loss is NaN");
        check(isnan(sizes_grad(p, g, x, u, B, T, ws)) && isnan(sizes_grad_seeded(p, g, x, u, B, T, 3, ws)) && g[0] == 7,
              "grad is NaN and writes nothing");
        check(isnan(sizes_hvp(p, v, hv, x, u, B, T, ws)) && hv[0] == 7, "hvp is NaN and writes nothing");
        check(isnan(sizes_train_step(p, opt, x, u, B, T, 0.1f, ws)) && memcmp(p, p0, sizeof p) == 0 && opt[0] == 0,
              "train_step is NaN and changes nothing");
    }
    taken(134217727, 1);
    taken(65536, 32767);
    taken(0, 0);
    for (size_t k = 0; k < sizeof x / sizeof x[0]; k++) x[k] = 1;
    u[0] = u[1] = u[2] = u[3] = 1;
    { /* 2 * 16 rows of 4 sums of 8 ones, and 2 rows of 3 sums of 2 ones */
        const float l = sizes_train_step(p, opt, x, u, 2, 1, 0.1f, ws);
        printf("loss at B = 2, T = 1: %g\n", (double)l);
        check(l == 2 * 16 * 4 * 8 + 2 * 3 * 2 && opt[0] == 1, "a step at B = 2");
    }
    return bad;
}
EOF_C
for mode in "" --standalone; do
  "$bpc" "$tmp/sizes.bp" -o "$tmp/sizes.c" $mode || { echo "FAIL: bpc sizes.bp $mode"; fail=1; continue; }
  compilers="gcc clang tcc"
  [ -n "$mode" ] && compilers=gcc
  for cc in $compilers; do
    link_run "the sizes program (sizes refused) $mode" "$cc" "$tmp/sizes.$cc" "$tmp/sizes_main.c" "$tmp/sizes.c" || true
  done
done
# Models `net` and `Net` link together (their functions differ). Their macros are the same
# upper-cased names (NET_NPARAMS), so one file cannot include both headers cleanly; it must
# say so (macro redefined) and still see both models' functions: the guards were both
# BPC_NET_H, the second header was silently empty and Net_init "implicitly declared".
printf 'model net\nparam W[2] = 1\ninput x[2]\nloss sum(W * x)\n' > "$tmp/net_lower.bp"
printf 'model Net\nparam W[3] = 2\ninput x[3]\nloss sum(W * x)\n' > "$tmp/net_upper.bp"
"$bpc" "$tmp/net_lower.bp" -o "$tmp/net_lower.c" && "$bpc" "$tmp/net_upper.bp" -o "$tmp/net_upper.c"
cat > "$tmp/nets.c" <<'EOF_C'
#include "net_lower.h"
#include "net_upper.h"
int main(void) {
    float p[2], q[3], x[3] = {1, 1, 1}, ws[64];
    net_init(p, 0), Net_init(q, 0);
    return !(net_workspace_size() <= sizeof ws && Net_workspace_size() <= sizeof ws &&
             net_loss(p, x, ws) == 2 && Net_loss(q, x, ws) == 6);
}
EOF_C
for cc in gcc clang; do # (tcc: a redefined macro is an error)
  if ! $cc -std=c99 -Werror=implicit-function-declaration -I"$src/runtime" -I"$tmp" "$tmp/nets.c" "$tmp/net_lower.c" \
       "$tmp/net_upper.c" -L"$lib" -lbprt -lm -o "$tmp/nets.$cc" 2>"$tmp/err" || ! grep -q "NET_NPARAMS.*redefined" "$tmp/err"; then
    echo "FAIL: models net and Net in one file with $cc"; cat "$tmp/err"; fail=1; continue
  fi
  LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$tmp/nets.$cc" || { echo "FAIL: models net and Net under $cc"; fail=1; }
  n=$((n + 1))
done
# A program with a `real` of its own defines BPC_REAL_DEFINED before a bpc header (README)
cat > "$tmp/own_real.c" <<'EOF_C'
typedef long double real;
#define BPC_REAL_DEFINED
#include "net_lower.h"
int main(void) {
    real r = 1;
    float p[2];
    net_init(p, 0);
    return !(r == 1 && p[0] == 1 && p[1] == 1);
}
EOF_C
for cc in gcc clang tcc; do
  if ! $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$tmp" "$tmp/own_real.c" "$tmp/net_lower.c" -I"$src/runtime" \
       -L"$lib" -lbprt -lm -o "$tmp/own_real.$cc" 2>"$tmp/err" || ! LD_LIBRARY_PATH="$lib" LD_PRELOAD="${BP_SAN_PRELOAD:-}" "$tmp/own_real.$cc"; then
    echo "FAIL: a program with its own real and BPC_REAL_DEFINED with $cc"; cat "$tmp/err"; fail=1
  fi
  n=$((n + 1))
done
# A loss that is NaN at the self-check's parameters: it fails, says why, and prints nan as bpc
# does (it printed -nan, and "NAME_grad_seeded with seed 0 differs from NAME_grad")
printf 'param W[3] = -1\nloss sum(log(W))\n' > "$tmp/nanloss.bp"
"$bpc" "$tmp/nanloss.bp" -o "$tmp/nanloss.c"
"$bpc" --emit=test "$tmp/nanloss.bp" > "$tmp/nanloss_check.c"
for cc in gcc clang tcc; do
  $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -I"$tmp" "$tmp/nanloss.c" "$tmp/nanloss_check.c" \
    -L"$lib" -lbprt -lm -o "$tmp/nanloss.$cc" 2>"$tmp/err" || { echo "FAIL: nanloss with $cc"; cat "$tmp/err"; fail=1; continue; }
  if LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$tmp/nanloss.$cc" > "$tmp/out" 2>&1 ||
     ! grep -q '^the loss is nan at these parameters' "$tmp/out" || ! grep -q '^FAILED$' "$tmp/out" ||
     grep -q -- '-nan\|differs' "$tmp/out"; then
    echo "FAIL: the self-check of a NaN loss under $cc"; cat "$tmp/out"; fail=1
  fi
  n=$((n + 1))
done
# At the limit of 252 arguments to a generated function (README): 245 inputs and B (the
# training step's helper takes 252), and one input, B and 248 outputs (NAME_forward takes
# 252) compile under each compiler (300 inputs made C that tcc refused: "memory full (vstack)")
for k in 245 1; do
  i=0; : > "$tmp/wide$k.bp"
  while [ $i -lt $k ]; do printf 'input x%d[B]\n' $i >> "$tmp/wide$k.bp"; i=$((i + 1)); done
  printf 'param w = 1\nh = x0 * w + x%d\nloss sum(h)\n' $((k - 1)) >> "$tmp/wide$k.bp"
  if [ $k = 1 ]; then
    printf 'output h' >> "$tmp/wide$k.bp"; i=1
    while [ $i -lt 248 ]; do printf ', h' >> "$tmp/wide$k.bp"; i=$((i + 1)); done
    echo >> "$tmp/wide$k.bp"
  fi
  for prec in "" "--f64"; do
    "$bpc" "$tmp/wide$k.bp" -o "$tmp/wide$k.c" $prec || { echo "FAIL: bpc wide$k.bp $prec"; fail=1; continue; }
    for cc in gcc clang tcc; do
      $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -c "$tmp/wide$k.c" -o "$tmp/wide$k.o" 2>"$tmp/err" ||
        { echo "FAIL: $cc $prec: wide$k.bp"; head -n 5 "$tmp/err"; fail=1; }
      n=$((n + 1))
    done
  done
done
[ "$n" -gt 0 ] || { echo "FAIL: no examples compiled"; exit 1; }
if [ $fail -ne 0 ]; then echo "0 passed, 1 failed"; exit 1; fi
echo "compiled $n example/compiler/precision combinations"
