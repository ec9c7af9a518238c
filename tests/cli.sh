#!/bin/sh
# The command line as README and LANGUAGE.md show it: outputs, exit statuses, files.
# usage: cli.sh BPC SOURCE_DIR
set -u
bpc=$1
src=$2
. "$(dirname "$0")/lib.sh"
expect_status() { # want cmd...
  want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "'$*' exited $got, expected $want"; cat "$tmp/err"; fi
}
expect_out() { # file expected-text
  if [ "$(cat "$1")" = "$2" ]; then ok; else bad "output differs:"; echo "--- got"; cat "$1"; echo "--- expected"; echo "$2"; fi
}

# bpc grad on the seed example (README shows this)
expect_status 0 "$bpc" grad "$src/examples/seed.bp"
expect_out "$tmp/out" "loss = 2
dL/dm1 = 2
dL/dm2 = 12"
expect_status 0 "$bpc" grad "$src/examples/seed.bp" --f64
expect_out "$tmp/out" "loss = 2
dL/dm1 = 2
dL/dm2 = 12"

# bpc grad asks only for the inputs the loss uses: z (with a size of its own) is left out. It
# said "input 'z' has no value and no default". x = (2, 2, 2) is the gradient of sum(x^2)/2.
printf 'param x[3] = 2\nloss sum(x * x) / 2\n' > "$tmp/xs.bp"
expect_status 0 "$bpc" grad "$tmp/xs.bp" -o "$tmp/xs.safetensors"
printf 'input x[3]\ninput z[T]\nparam w[3]\nloss sum(w * x)\noutput z\n' > "$tmp/unused.bp"
expect_status 0 "$bpc" grad "$tmp/unused.bp" --inputs "$tmp/xs.safetensors"
expect_out "$tmp/out" "loss = 0
dL/dw [3] =
  [2, 2, 2]"
expect_status 0 "$bpc" check "$tmp/unused.bp" --inputs "$tmp/xs.safetensors"
# an input the loss uses is still needed
printf 'input x[3]\ninput q[3]\nparam w[3]\nloss sum(w * q)\n' > "$tmp/used.bp"
expect_status 1 "$bpc" grad "$tmp/used.bp" --inputs "$tmp/xs.safetensors"
grep -q "input 'q' has no value and no default" "$tmp/err" && ok || bad "a missing input the loss uses was not named"
# so is the size of one whose values the loss does not read but whose size it does (x ^ 0 is
# ones of x's shape, B the size itself): the loss was 2 and 1, at B = 1
printf 'input x[B, 2]\nparam p[2] = 1\nloss sum(p * x ^ 0)\n' > "$tmp/size_only.bp"
printf 'input x[B, 2]\nparam p = 1\nloss p * B\n' > "$tmp/size_b.bp"
for f in size_only size_b; do
  expect_status 1 "$bpc" grad "$tmp/$f.bp"
  grep -q "input 'x' is not given, so its size B is unknown" "$tmp/err" && ok || bad "$f: B taken as 1"
done

# several axes at once (a tuple or a list), by hand: W = 2 everywhere, the loss is 24 + 4 and
# each gradient 1 + 2 W / 12 = 4/3
printf 'param W[3, 4] = 2\nloss sum(W, axis = (0, 1)) + mean(W * W, axis = [1, 0])\n' > "$tmp/axes.bp"
expect_status 0 "$bpc" grad "$tmp/axes.bp"
expect_out "$tmp/out" "loss = 28
dL/dW [3, 4] =
  [[1.3333334, 1.3333334, 1.3333334, 1.3333334],
   [1.3333334, 1.3333334, 1.3333334, 1.3333334],
   [1.3333334, 1.3333334, 1.3333334, 1.3333334]]"

# max over adjacent axes shares the gradient among all tied maxima, as torch.amax: in row 0
# of x the maximum 5 is there 3 times (1/3 each, times x = 5), in row 1 the 2 six times
printf 'param W[2, 2, 3] = 1\ninput x[2, 2, 3]\nloss sum(max(W * x, axis = (1, 2)))\n' > "$tmp/tie.bp"
cat > "$tmp/tie_in.c" <<'EOF_C'
#include <stdio.h>
#include <string.h>
int main(void) { /* a safetensors file: x = [[[5, 5, 1], [5, 3, 1]], [[2, 2, 2], [2, 2, 2]]] */
    const char *h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2,3],\"data_offsets\":[0,48]}}";
    unsigned long long n = strlen(h);
    float v[12] = {5, 5, 1, 5, 3, 1, 2, 2, 2, 2, 2, 2};
    fwrite(&n, 8, 1, stdout);
    fputs(h, stdout);
    fwrite(v, 4, 12, stdout);
    return 0;
}
EOF_C
cc -o "$tmp/tie_in" "$tmp/tie_in.c" && "$tmp/tie_in" > "$tmp/tie.safetensors"
expect_status 0 "$bpc" grad "$tmp/tie.bp" --inputs "$tmp/tie.safetensors"
expect_out "$tmp/out" "loss = 7
dL/dW [2, 2, 3] =
  [[[1.6666667, 1.6666667, 0],
    [1.6666667, 0, 0]],
   [[0.33333334, 0.33333334, 0.33333334],
    [0.33333334, 0.33333334, 0.33333334]]]"

# bpc hvp: H v of the seed example, H = [[1, 10], [10, 36]] (see tests/test_hvp.c); the
# gradient file (2, 12) is the direction: H v = (122, 452), written with -o and used again:
# H (122, 452) = (4642, 17492)
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/g.safetensors"
expect_status 0 "$bpc" hvp "$src/examples/seed.bp" --vector "$tmp/g.safetensors" -o "$tmp/hv.safetensors"
expect_out "$tmp/out" "loss = 2
Hv.m1 = 122
Hv.m2 = 452"
expect_status 0 "$bpc" hvp "$src/examples/seed.bp" --vector "$tmp/hv.safetensors" --f64
expect_out "$tmp/out" "loss = 2
Hv.m1 = 4642
Hv.m2 = 17492"
printf 'param m1[2]\nparam m3\nloss sum(m1) + m3\n' > "$tmp/other.bp"
expect_status 0 "$bpc" grad "$tmp/other.bp" -o "$tmp/other.safetensors"
expect_status 1 "$bpc" hvp "$src/examples/seed.bp" --vector "$tmp/other.safetensors"
expect_out "$tmp/err" "bpc: error: $tmp/other.safetensors: the vector does not match the program's parameters: 'm1' has shape [2], the program declares []; missing 'm2'; unexpected 'm3' (not a parameter of the program)"
expect_status 2 "$bpc" hvp "$src/examples/seed.bp"
printf 'param x[1, 1, 4, 4] = normal(1)\nloss sum(maxpool2d(x, 3, stride = 1) ^ 2)\n' > "$tmp/pool.bp"
expect_status 1 "$bpc" hvp "$tmp/pool.bp" --vector "$tmp/g.safetensors"
expect_out "$tmp/err" "$tmp/pool.bp:2:10: error: hvp: op 'maxpool2d_grad' has no second-order rule for overlapping windows (stride 1 < window 3)
  loss sum(maxpool2d(x, 3, stride = 1) ^ 2)
           ^"
expect_status 0 "$bpc" "$tmp/pool.bp" -o "$tmp/pool.c"
grep -q "_hvp" "$tmp/pool.h" && bad "pool.h declares an hvp it cannot have" || ok
expect_status 0 "$bpc" "$src/examples/seed.bp" -o "$tmp/seed.c"
grep -q "^float seed_hvp(const float \*params, const float \*v, float \*hv, const float \*x, const float \*y, void \*ws);" "$tmp/seed.h" && ok || bad "seed.h lacks seed_hvp"

# The header names an input, output or size as the program does unless another of them has
# that name (counted once per header, emit_c.c's header_names): x is an input and an output,
# so in_x and out1_x; NAME_forward takes only the inputs its outputs read (z is the loss's)
printf 'model m\ninput x[B, 3]\ninput y[B, 3]\ninput z[B, 3]\nparam w[3]\ns = x * w + y\noutput s, x\nloss sum(z * w)\n' > "$tmp/m.bp"
expect_status 0 "$bpc" "$tmp/m.bp" -o "$tmp/m.c"
grep -q "^void m_forward(const float \*params, const float \*in_x, const float \*y, float \*s, float \*out1_x, int B, void \*ws);$" "$tmp/m.h" && ok || bad "m.h: $(grep m_forward "$tmp/m.h")"
grep -q "^float m_loss(const float \*params, const float \*in_x, const float \*y, const float \*z, int B, void \*ws);$" "$tmp/m.h" && ok || bad "m.h: $(grep 'm_loss(' "$tmp/m.h")"

# bpc check passes on the examples with defaults
expect_status 0 "$bpc" check "$src/examples/seed.bp"
grep -q "^ok: worst relative error" "$tmp/out" && ok || bad "check did not report ok"

# without --inputs, check draws random inputs; elements at relu kinks are skipped, not failed
expect_status 0 "$bpc" check "$src/examples/fashion_mlp.bp" --seed 1
grep -q "^inputs: random" "$tmp/out" && ok || bad "check did not say its inputs are random"

# a curved but smooth loss is compared at a smaller step (sin(3000 a): every element was
# taken for a kink and skipped, and the verdict was "ok" on nothing); relu exactly at 0 is a
# kink at the point, skipped (central differences give 1/2, the gradient PyTorch's 0: it was
# FAILED); when every element is at a kink the verdict is inconclusive, exit 1 (it was "ok")
printf 'param a = 0.1\nparam b = 0.2\nparam c = 0.35\nloss sin(3000 * a) + sin(3000 * b) + sin(3000 * c)\n' > "$tmp/curved.bp"
expect_status 0 "$bpc" check "$tmp/curved.bp"
grep -q "at kinks skipped" "$tmp/out" && bad "check skipped smooth elements: $(grep kinks "$tmp/out" | head -n 1)" || ok
printf 'param a[3] = 0\nparam b[3] = 1\nloss sum(relu(a)) + sum(b * b)\n' > "$tmp/relu0.bp"
expect_status 0 "$bpc" check "$tmp/relu0.bp"
grep -q "(0 of 3 elements, 3 at kinks skipped)" "$tmp/out" && ok || bad "relu at 0: $(grep ' a ' "$tmp/out")"
printf 'param a[3] = 1\nloss sum(abs(a - 1))\n' > "$tmp/allkinks.bp"
expect_status 1 "$bpc" check "$tmp/allkinks.bp"
grep -q "^inconclusive: every element checked lies at a kink" "$tmp/out" && ok || bad "all at kinks: $(tail -n 1 "$tmp/out")"
# a program without parameters has no gradient to check: said, exit 0 (it printed "ok: worst
# relative error 0.00e+00 <= 1e-6" having compared nothing), with random inputs too
printf 'input x = 2\nloss x * x\n' > "$tmp/noparams.bp"
printf 'input x[B]\nloss sum(x * x)\n' > "$tmp/noparams_rnd.bp"
for f in noparams noparams_rnd; do
  expect_status 0 "$bpc" check "$tmp/$f.bp"
  [ "$(tail -n 1 "$tmp/out")" = "no parameters: nothing to check (the check compares the loss's gradient with respect to the parameters against finite differences)" ] &&
    ! grep -q "^ok" "$tmp/out" && ok || { bad "check of $f.bp:"; cat "$tmp/out"; }
done
# more inputs than the drivers hold (BP_MAX_RUN_INPUTS, 64): refused at the 65th input, with
# its line and caret, by every command that runs the program (the 65th input was left without
# data and bpc check crashed in the model's code; then "bpc: error: too many inputs (limit
# 64)" said neither where nor which commands); 64 are taken
i=0; : > "$tmp/in65.bp"
while [ $i -lt 65 ]; do printf 'input x%d[B]\n' $i >> "$tmp/in65.bp"; i=$((i + 1)); done
printf 'param w = 1\nloss sum(x63 * w)\n' >> "$tmp/in65.bp"
for c in check grad train; do
  expect_status 1 "$bpc" $c "$tmp/in65.bp"
  expect_out "$tmp/err" "$tmp/in65.bp:65:7: error: too many inputs for 'bpc $c': bpc grad, check, hvp, train and eval take at most 64 inputs, and this program has 65 (bpc FILE.bp -o OUT.c takes more)
  input x64[B]
        ^"
done
# hvp and eval too, before their files are read (the file named is no safetensors)
for c in "hvp --vector" "eval --params"; do
  expect_status 1 "$bpc" ${c%% *} "$tmp/in65.bp" ${c#* } "$tmp/in65.bp"
  expect_out "$tmp/err" "$tmp/in65.bp:65:7: error: too many inputs for 'bpc ${c%% *}': bpc grad, check, hvp, train and eval take at most 64 inputs, and this program has 65 (bpc FILE.bp -o OUT.c takes more)
  input x64[B]
        ^"
done
grep -v '^input x64' "$tmp/in65.bp" > "$tmp/in64.bp"
expect_status 0 "$bpc" check "$tmp/in64.bp"
# models named so that their API meets the JIT's entry points: bp_entry_loss, bp_entry_init,
# ... were both model bp_entry's functions and the JIT's wrappers (tcc refused the code: "JIT
# compilation failed"); the wrappers are bp_loss_entry, ... (bp_entry_train: its static
# bp_entry_train_step_ would meet wrappers named bp_entry_X_; tests/c_names/helper_names.bp)
for m in bp_entry bp_entry_train; do
  printf 'model %s\ninput x[B, 3]\ninput y[B] : int\nparam W[3, 4] = normal(0.5)\nh = x @ W\nloss cross_entropy(h, y)\noutput h\n' $m > "$tmp/$m.bp"
  expect_status 0 "$bpc" check "$tmp/$m.bp"
  grep -q "^ok: worst relative error" "$tmp/out" && ok || { bad "check of model $m:"; cat "$tmp/out" "$tmp/err"; }
done
# a gradient that is not the loss's derivative is FAILED, exit 1 (no test saw check fail): bce's
# gradient is PyTorch's, (p - t) / max(p(1 - p), 1e-12), which at p = sigmoid(-30) = 9.4e-14 is
# not that of -log p (README): dL/da = -0.0936 (torch.autograd) where the loss falls as -1 * a
printf 'param a = -30\ninput t = 1\nloss bce(sigmoid(a), t)\n' > "$tmp/wronggrad.bp"
expect_status 1 "$bpc" check "$tmp/wronggrad.bp"
cp "$tmp/out" "$tmp/wronggrad.out"
grep -q "^  a  .*max relative error 9.06e-01 (1 of 1 elements)$" "$tmp/out" && grep -q "^FAILED: worst relative error 9.06e-01 > 1e-6$" "$tmp/out" &&
  ok || bad "a wrong gradient: $(cat "$tmp/out")"
# a tie on a flat stretch: the loss does not change, the gradient is PyTorch's share (0.25,
# torch.autograd.gradcheck fails too): FAILED with a note saying why (it said FAILED alone)
printf 'param a = 1\nloss maximum(minimum(a, 1), 1)\n' > "$tmp/flat.bp"
expect_status 1 "$bpc" check "$tmp/flat.bp"
grep -q "^FAILED: worst relative error 1.00e+00 > 1e-6$" "$tmp/out" &&
  grep -q "^note: 1 element FAILED where the loss does not change at any step: a tie on a flat stretch" "$tmp/out" &&
  ok || bad "a tie on a flat stretch: $(cat "$tmp/out")"
grep -q "^note:" "$tmp/wronggrad.out" && bad "a wrong gradient called a flat tie" || ok
# a loss that is not finite at the parameters is named as such, exit 1 (it was blamed on
# kinks: "inconclusive: every element checked lies at a kink")
printf 'param W[3] = -1\nloss sum(log(W))\n' > "$tmp/nanloss.bp"
expect_status 1 "$bpc" check "$tmp/nanloss.bp"
grep -q "^the loss is nan at these parameters: nothing to compare" "$tmp/out" && ok || bad "nan loss: $(tail -n 1 "$tmp/out")"
printf 'param W[2, 2] = 1\nloss sum(causal_mask(W))\n' > "$tmp/infloss.bp"
expect_status 1 "$bpc" check "$tmp/infloss.bp"
grep -q "^the loss is -inf at these parameters: nothing to compare" "$tmp/out" && ok || bad "-inf loss: $(tail -n 1 "$tmp/out")"
grep -q "kink" "$tmp/out" && bad "a -inf loss blamed on kinks" || ok

# a loss with a large term beside small ones: a difference from the gradient within the
# rounding of the losses is no evidence, and the element is skipped, said so (a's right
# gradient, 0.01 cos a beside a loss of 12000, was FAILED at 4.7e-06; sin(a) beside 1e10
# was called a kink)
printf 'param a[3] = 0.3\nparam b = 2\nloss 3000 * b^2 + sum(sin(a)) * 1e-2\n' > "$tmp/bigterm.bp"
expect_status 0 "$bpc" check "$tmp/bigterm.bp"
grep -q "^  a  .*(0 of 3 elements, 3 below the loss's rounding skipped)$" "$tmp/out" && ok || bad "large loss, small gradient: $(cat "$tmp/out")"
printf 'param a[3] = 0.3\nparam b = 2\nloss 1e10 * b^2 + sum(sin(a))\n' > "$tmp/bigterm2.bp"
expect_status 0 "$bpc" check "$tmp/bigterm2.bp"
grep -q "kink" "$tmp/out" && bad "rounding taken for a kink: $(cat "$tmp/out")" || ok

# a loss summed over many terms rounds at several ulps (7-8 here, measured by check):
# with two ulps a loss assumed, this right gradient was FAILED at 1.0e-6 to 4.5e-6 for 27 of
# seeds 1-30; each seed below was one of them. A wrong gradient beside the same loss (bce's at
# sigmoid(-30), above) is still FAILED with its error
noisy='param W1[16, 5] = normal(0.7)
param W2[16, 5] = normal(0.7)
param W3[16, 16, 6, 15] = normal(0.7)
param W4[5] = normal(0.7)
loss sum(sin(layernorm(sum(avgpool2d(softplus(W3), 3), axis = (1, -2)) + W2 * softmax(W1, axis = -2), W4, W4)))'
printf '%s\n' "$noisy" > "$tmp/noisy.bp"
for s in 1 10 25; do
  expect_status 0 "$bpc" check "$tmp/noisy.bp" --seed "$s"
  grep -q "^ok: worst relative error" "$tmp/out" && ok || bad "a noisy loss's right gradient, seed $s: $(cat "$tmp/out")"
  grep -q "^the loss rounds at about [0-9.e-]* here (measured; [0-9]* ulps of [-0-9.]*): a difference within 6 times that, over the step, counts as rounding$" "$tmp/out" &&
    ok || bad "a noisy loss's measured rounding not said, seed $s: $(cat "$tmp/out")"
done
# a kink at the parameters themselves (relu at 0: zero biases and a row of zero inputs) is not
# taken for rounding noise: the noise is measured on one side of the point (measured across
# it, it came to about 10^6 ulps, which would have hidden a gradient wrong by 1e-4)
h='{"x":{"dtype":"F32","shape":[4,8],"data_offsets":[0,128]}}'
{ bytes ${#h} 0 0 0 0 0 0 0; printf '%s' "$h"; bytes 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
  for v in 1 2 3 4 5 6; do bytes 0 0 128 63 0 0 128 191 0 0 0 63 0 0 0 64; done; } > "$tmp/kinkzero.safetensors"
printf 'input x[4, 8]\nparam W[8, 16] = normal(0.5)\nparam b[16]\nparam V[16] = normal(1)\nloss sum(relu(x @ W + b) * V)\n' > "$tmp/kinkzero.bp"
expect_status 0 "$bpc" check "$tmp/kinkzero.bp" --inputs "$tmp/kinkzero.safetensors"
grep -q "^ok: worst relative error" "$tmp/out" && ! grep -q "rounds at" "$tmp/out" && grep -q "^  W .*(128 of 128 elements)$" "$tmp/out" &&
  ok || bad "a kink at the parameters taken for rounding: $(cat "$tmp/out")"
printf 'param a = -30\ninput t = 1\n%s + bce(sigmoid(a), t)\n' "$noisy" > "$tmp/noisywrong.bp"
expect_status 1 "$bpc" check "$tmp/noisywrong.bp" --seed 1
grep -q "^  a  .*max relative error 9.06e-01 (1 of 1 elements)$" "$tmp/out" && grep -q "^FAILED: worst relative error 9.06e-01 > 1e-6$" "$tmp/out" &&
  ok || bad "a wrong gradient beside a noisy loss: $(cat "$tmp/out")"

# -o writes OUT.c and OUT.h; --emit prints each artefact
expect_status 0 "$bpc" "$src/examples/fashion_mlp.bp" -o "$tmp/net.c"
[ -s "$tmp/net.c" ] && [ -s "$tmp/net.h" ] && ok || bad "-o did not write net.c and net.h"
# LANGUAGE.md's prototypes, with real spelled float (and double under --f64: see emit_compilers.sh)
grep -q "^float fashion_mlp_train_step(float \*params, void \*opt_state, const float \*x, const int32_t \*y, int B, float lr, void \*ws);" "$tmp/net.h" && ok || bad "header lacks the train_step prototype of LANGUAGE.md"
grep -q "^typedef float real;" "$tmp/net.h" && ok || bad "header does not define real"
expect_status 0 "$bpc" "$src/examples/fashion_mlp.bp" -o "$tmp/net64.c" --f64
grep -q "^double fashion_mlp_train_step(double \*params, void \*opt_state, const double \*x, const int32_t \*y, int B, double lr, void \*ws);" "$tmp/net64.h" && ok || bad "--f64 header lacks the train_step prototype in double"
grep -q "#define FASHION_MLP_OFF_W1 0" "$tmp/net.h" && ok || bad "header lacks FASHION_MLP_OFF_W1"
for e in c h ir dot; do expect_status 0 "$bpc" --emit=$e "$src/examples/fashion_mlp.bp"; done
expect_status 0 "$bpc" --emit=dot "$src/examples/fashion_mlp.bp"
grep -q "backward (adjoint)" "$tmp/out" && ok || bad "dot output has no legend"

# errors: located, exit 1; usage errors exit 2
printf 'param w[3]\nloss sum(w) + q\n' > "$tmp/bad.bp"
expect_status 1 "$bpc" grad "$tmp/bad.bp"
expect_out "$tmp/err" "$tmp/bad.bp:2:15: error: unknown name 'q'
  loss sum(w) + q
                ^"
# an error in a def's body: a note at the call that expanded it, and still exit 1 (a note is no error)
printf 'param W[2, 3]\ndef f(x) = x @ W\nloss sum(f(W))\n' > "$tmp/defbad.bp"
expect_status 1 "$bpc" check "$tmp/defbad.bp"
expect_out "$tmp/err" "$tmp/defbad.bp:2:14: error: matmul shapes [2, 3] and [2, 3] do not match: 3 != 2; the right side transposed would fit: write W.T
  def f(x) = x @ W
               ^
$tmp/defbad.bp:3:10: note: in this call of 'f'
  loss sum(f(W))
           ^"
expect_status 2 "$bpc" grad
expect_status 2 "$bpc" --emit=nonsense "$src/examples/seed.bp"
expect_status 2 "$bpc" grad "$src/examples/seed.bp" --no-such-flag
expect_status 1 "$bpc" grad "$tmp/does-not-exist.bp"
expect_status 0 "$bpc" --help
expect_status 0 "$bpc" --version
# its second line: whose GEMM libbprt runs (this build's own kernels; build-openblas's is
# checked by .ci/run)
sed -n 2p "$tmp/out" | grep -q "^GEMM: bpc's own kernels (\(avx512\|avx2\|generic\))$" && ok || bad "bpc --version: $(cat "$tmp/out")"
# --help after a command, and bpc help, print the usage (they were usage errors, exit 2);
# --option=value is --option value (--steps=3 was an unknown option)
for h in "grad --help" "train -h" "help"; do
  expect_status 0 "$bpc" $h
  grep -q "^usage: bpc FILE.bp -o OUT.c" "$tmp/out" && ok || bad "bpc $h printed no usage"
done
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps=2 --lr=0.1 --seed=1
[ "$(grep -c '^step ' "$tmp/out")" = 2 ] && ok || bad "--steps=2: $(cat "$tmp/out")"
expect_status 2 "$bpc" train "$src/examples/seed.bp" --f64=1
head -n 1 "$tmp/err" | grep -q "^bpc: --f64 takes no value$" && ok || bad "--f64=1: $(head -n 1 "$tmp/err")"
# a usage error names what is wrong in the user's terms: the value given and what is wanted
# (it said only "bad value for --lr"), the option meant, the command meant (`bpc tran m.bp`
# said "unexpected argument 'm.bp'")
for c in "--lr -1:bad value for --lr: '-1' (it takes a number >= 0)" \
         "--seed -1:bad value for --seed: '-1' (it takes a whole number from 0 to 2000000000)" \
         "--steps -5:bad value for --steps: '-5' (it takes a whole number from 1 to 2000000000)" \
         "--steps 0:--steps must be at least 1" \
         "--lr 1e-400:bad value for --lr: '1e-400' (it is below the smallest normal double, 2.2e-308; it takes a number >= 0)" \
         "--lr 1e-310:bad value for --lr: '1e-310' (it is below the smallest normal double, 2.2e-308; it takes a number >= 0)" \
         "--lr 1e400:bad value for --lr: '1e400' (it is above the largest double, 1.8e308; it takes a number >= 0)" \
         "--lr 0x10:bad value for --lr: '0x10' (it takes a number >= 0)" \
         "--lr nan:bad value for --lr: 'nan' (it takes a number >= 0)" \
         "--lr 1e-50:bad value for --lr: '1e-50' (it is below the smallest normal float, 1.2e-38, and the run is in float without --f64; it takes a number >= 0)" \
         "--lr 1e-40:bad value for --lr: '1e-40' (it is below the smallest normal float, 1.2e-38, and the run is in float without --f64; it takes a number >= 0)" \
         "--lr 1e39:bad value for --lr: '1e39' (it is above the largest float, 3.4e38, and the run is in float without --f64; it takes a number >= 0)" \
         "--lr +0.1:bad value for --lr: '+0.1' (it takes a number >= 0)" \
         "--lr infinity:bad value for --lr: 'infinity' (it takes a number >= 0)" \
         "--seed +3:bad value for --seed: '+3' (it takes a whole number from 0 to 2000000000)" \
         "--seed -0:bad value for --seed: '-0' (it takes a whole number from 0 to 2000000000)" \
         "--threads +1:bad value for --threads: '+1' (it takes a whole number from 1 to 2000000000)" \
         "--jit gcc:bad value for --jit: 'gcc' (it takes tcc or cc)" \
         "--versoin:unknown option '--versoin'; did you mean '--version'?" \
         "-lr 0.1:unknown option '-lr'; did you mean '--lr'?" \
         "--learning-rate 0.1:unknown option '--learning-rate'; did you mean '--lr'?" \
         "--batch-size 8:unknown option '--batch-size'; did you mean '--batch'?" \
         "--bogus:unknown option '--bogus'"; do
  expect_status 2 "$bpc" train "$src/examples/seed.bp" ${c%%:*}
  head -n 1 "$tmp/err" | grep -qxF "bpc: ${c#*:}" && ok || bad "train ${c%%:*}: $(head -n 1 "$tmp/err")"
done
# numbers are read alike everywhere: decimal, as a program's (--lr-schedule's step:+1:0x1 took
# the sign and the hex, --temperature 0x1 read 1)
for sch in step:+1:0.5 "step: 1:0.5" step:1:0x1 step:1:inf; do
  expect_status 2 "$bpc" train "$src/examples/seed.bp" --lr-schedule "$sch"
  head -n 1 "$tmp/err" | grep -qxF "bpc: --lr-schedule $sch: step:N:G takes N, a whole number of epochs (steps without --data) of at least 1, and G, a factor above 0 (e.g. step:10:0.1)" && ok || bad "--lr-schedule $sch: $(head -n 1 "$tmp/err")"
done
# a G of the right form that a double cannot hold says why, as --lr does (it gave only the
# general message)
for c in "step:1:1e-400:G is below the smallest normal double, 2.2e-308" "step:2:1e-310:G is below the smallest normal double, 2.2e-308" \
         "step:1:1e400:G is above the largest double, 1.8e308" "step:0:1e-400:G is below the smallest normal double, 2.2e-308"; do
  sch=${c%:G is*}
  expect_status 2 "$bpc" train "$src/examples/seed.bp" --lr-schedule "$sch"
  head -n 1 "$tmp/err" | grep -qxF "bpc: --lr-schedule $sch: ${c#$sch:}; step:N:G takes N, a whole number of epochs (steps without --data) of at least 1, and G, a factor above 0 (e.g. step:10:0.1)" && ok || bad "--lr-schedule $sch: $(head -n 1 "$tmp/err")"
done
for t in 0x1 -1 nan inf; do
  expect_status 2 "$bpc" sample "$src/examples/seed.bp" --temperature $t
  head -n 1 "$tmp/err" | grep -qxF "bpc: bad value for --temperature: '$t' (it takes a number >= 0)" && ok || bad "--temperature $t: $(head -n 1 "$tmp/err")"
done
# a rate the run's reals hold is taken: in double (--f64, before or after --lr) 1e-50 and 1e39
# (in float they became 0 and inf: the float refusals are in the list above)
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 1 --lr 1e-50 --f64
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 1 --f64 --lr 1e39
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 1 --lr 1.2e-38
# and so are the program's optimizer arguments, said at the `optimizer` statement as sema says
# a bad one (eps = 1e-50 trained dividing by sqrt(v) + 0, lr = 1e-45 at 0, weight_decay = 1e39
# at inf); an lr that --lr replaces is not used, and --f64 holds them all
for c in "adam(lr = 0.1, eps = 1e-50):eps:adam:below the smallest normal float, 1.2e-38:1e-50" \
         "sgd(lr = 1e-45):lr:sgd:below the smallest normal float, 1.2e-38:1e-45" \
         "adamw(weight_decay = 1e39):weight_decay:adamw:above the largest float, 3.4e38:1e+39"; do
  opt=${c%%:*}; rest=${c#*:}; arg=${rest%%:*}; rest=${rest#*:}; name=${rest%%:*}; rest=${rest#*:}
  printf 'param w = 1\nloss w * w\noptimizer %s\n' "$opt" >"$tmp/fopt.bp"
  expect_status 1 "$bpc" train "$tmp/fopt.bp" --steps 1
  want="$tmp/fopt.bp:3:1: error: argument '$arg' of '$name' is ${rest%:*}, and the run is in float without --f64, got ${rest##*:}"
  [ "$(head -n 1 "$tmp/err")" = "$want" ] && ok || bad "optimizer $opt: $(head -n 1 "$tmp/err")"
  [ -s "$tmp/out" ] && bad "train with optimizer $opt trained: $(cat "$tmp/out")" || ok
  expect_status 0 "$bpc" train "$tmp/fopt.bp" --steps 1 --f64
done
expect_status 0 "$bpc" train "$tmp/fopt.bp" --steps 1 --lr 0.1 --f64
printf 'param w = 1\nloss w * w\noptimizer sgd(lr = 1e-45)\n' >"$tmp/fopt.bp"
expect_status 0 "$bpc" train "$tmp/fopt.bp" --steps 1 --lr 0.1
expect_status 2 "$bpc" sample "$src/examples/seed.bp" -n " 5"
head -n 1 "$tmp/err" | grep -qxF "bpc: bad value for -n: ' 5' (it takes a whole number from 0 to 2000000000)" && ok || bad "-n ' 5': $(head -n 1 "$tmp/err")"
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 1 --lr .5e-1 --seed 007
grep -q "^step 1: " "$tmp/out" && ok || bad "--lr .5e-1 --seed 007: $(cat "$tmp/out" "$tmp/err")"
# every option the usage text shows (but bpc repl's, parsed apart) is suggested for a
# misspelling of it: the options parse_args takes and the "did you mean" list are one table
opts=$("$bpc" --help | grep -v '^ *bpc repl' | grep -o -- '[ [|]--*[A-Za-z0-9][-A-Za-z0-9]*' | cut -c2- | sort -u)
[ "$(echo "$opts" | wc -l)" -ge 25 ] && ok || bad "too few options read from --help: $opts"
for o in $opts; do
  case $o in --help|--version) continue ;; --emit) meant=--emit= ;; *) meant=$o ;; esac
  expect_status 2 "$bpc" train "$src/examples/seed.bp" "${o}x"
  head -n 1 "$tmp/err" | grep -qxF "bpc: unknown option '${o}x'; did you mean '$meant'?" && ok || bad "${o}x: $(head -n 1 "$tmp/err")"
done
expect_status 2 "$bpc" tran "$src/examples/seed.bp"
head -n 1 "$tmp/err" | grep -qxF "bpc: unknown command 'tran'; did you mean 'train'?" && ok || bad "tran: $(head -n 1 "$tmp/err")"
# a word near no command, in the command's place, is said to be no command, with the list
# (`bpc compile m.bp` said "unexpected argument 'm.bp'")
for c in compile fit; do
  expect_status 2 "$bpc" $c "$src/examples/seed.bp"
  head -n 1 "$tmp/err" | grep -qxF "bpc: unknown command '$c'; the commands are grad, check, hvp, train, eval, sample and repl (bpc FILE.bp -o OUT.c compiles)" && ok || bad "$c: $(head -n 1 "$tmp/err")"
done
# so is one after options and their values, which the option table says an option takes
# (only the word right after bpc was checked: `bpc --f64 compile m.bp` said "unexpected
# argument 'm.bp'", and `bpc --f64 tran m.bp` suggested nothing)
for pre in --f64 "-O0 --standalone" "-o x.c" "--lr 0.1" --lr=0.1 "--seed 3 --f64" --emit=c "-n 5" "--data d"; do
  # shellcheck disable=SC2086
  expect_status 2 "$bpc" $pre compile "$src/examples/seed.bp"
  head -n 1 "$tmp/err" | grep -qxF "bpc: unknown command 'compile'; the commands are grad, check, hvp, train, eval, sample and repl (bpc FILE.bp -o OUT.c compiles)" && ok || bad "$pre compile: $(head -n 1 "$tmp/err")"
  # shellcheck disable=SC2086
  expect_status 2 "$bpc" $pre tran "$src/examples/seed.bp"
  head -n 1 "$tmp/err" | grep -qxF "bpc: unknown command 'tran'; did you mean 'train'?" && ok || bad "$pre tran: $(head -n 1 "$tmp/err")"
done
# a word in the command's place with no file after it: when it has neither a dot nor a slash
# and no such file exists it is neither a command nor a file, said with the list or the
# command meant (`bpc compile -o x.c` said "cannot open compile"); a file of that name is
# compiled, and a name with a dot or a slash is a file that cannot be opened
lst="the commands are grad, check, hvp, train, eval, sample and repl (bpc FILE.bp -o OUT.c compiles)"
for c in "compile -o $tmp/w.c:'compile' is not a command nor a file; $lst" "compile:'compile' is not a command nor a file; $lst" \
         "--f64 compile --emit=c:'compile' is not a command nor a file; $lst" "fit --stats:'fit' is not a command nor a file; $lst" \
         "tran -o $tmp/w.c:'tran' is not a command nor a file; did you mean 'train'?"; do
  # shellcheck disable=SC2086
  (cd "$tmp" && "$bpc" ${c%%:*} >"$tmp/out" 2>"$tmp/err"); st=$?
  [ $st -eq 2 ] && [ "$(head -n 1 "$tmp/err")" = "bpc: ${c#*:}" ] && ok || bad "${c%%:*} (status $st): $(head -n 1 "$tmp/err")"
done
[ ! -e "$tmp/w.c" ] && ok || bad "bpc compile -o w.c wrote w.c"
mkdir -p "$tmp/word" && cp "$src/examples/seed.bp" "$tmp/word/compile"
(cd "$tmp/word" && "$bpc" compile -o w.c >"$tmp/out" 2>"$tmp/err") && [ -s "$tmp/word/w.c" ] && ok ||
  bad "a program named compile was not compiled: $(cat "$tmp/err")"
(cd "$tmp" && "$bpc" nosuch.bp -o "$tmp/w.c" >"$tmp/out" 2>"$tmp/err"); st=$?
[ $st -eq 1 ] && [ "$(head -n 1 "$tmp/err")" = "bpc: error: cannot open nosuch.bp: No such file or directory" ] && ok ||
  bad "nosuch.bp (status $st): $(head -n 1 "$tmp/err")"
# an option's value is not in the command's place, and a file first stays the file
expect_status 2 "$bpc" --jit compile "$src/examples/seed.bp" --emit=c
head -n 1 "$tmp/err" | grep -qxF "bpc: bad value for --jit: 'compile' (it takes tcc or cc)" && ok || bad "--jit compile: $(head -n 1 "$tmp/err")"
expect_status 2 "$bpc" --f64 "$src/examples/seed.bp" compile
head -n 1 "$tmp/err" | grep -qxF "bpc: unexpected argument 'compile'" && ok || bad "--f64 FILE compile: $(head -n 1 "$tmp/err")"
# a command after an option or the file: said so (it was "unexpected argument 'seed.bp'")
expect_status 2 "$bpc" --f64 grad "$src/examples/seed.bp"
head -n 1 "$tmp/err" | grep -qxF "bpc: 'grad' is a command and comes first: bpc grad FILE.bp [options]" && ok || bad "--f64 grad: $(head -n 1 "$tmp/err")"
expect_status 2 "$bpc" "$src/examples/seed.bp" train --steps 1
head -n 1 "$tmp/err" | grep -qxF "bpc: 'train' is a command and comes first: bpc train FILE.bp [options]" && ok || bad "FILE train: $(head -n 1 "$tmp/err")"
expect_status 2 "$bpc" --f64 repl "$src/examples/seed.bp"
head -n 1 "$tmp/err" | grep -qxF "bpc: 'repl' is a command and comes first: bpc repl FILE.bp [options]" && ok || bad "--f64 repl: $(head -n 1 "$tmp/err")"
expect_status 2 "$bpc" "$src/examples/seed.bp" "$src/examples/seed.bp"
head -n 1 "$tmp/err" | grep -qxF "bpc: unexpected argument '$src/examples/seed.bp'" && ok || bad "two files: $(head -n 1 "$tmp/err")"
# an error of the run itself says 'error:' (--opt's did not)
expect_status 2 "$bpc" train "$src/examples/seed.bp" --opt foo
[ "$(cat "$tmp/err")" = "bpc: error: --opt must be sgd, adam or adamw, not 'foo'" ] && ok || bad "--opt foo: $(cat "$tmp/err")"
head -c 3000 /dev/urandom > "$tmp/garbage.bp"
"$bpc" grad "$tmp/garbage.bp" >/dev/null 2>&1; st=$?
[ "$st" -eq 1 ] && ok || bad "binary garbage exited $st, expected 1"

# safetensors outputs are written atomically (a temporary renamed over the path), but a
# device or a pipe is written in place: renaming over /dev/null would replace the device
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o /dev/null
[ -c /dev/null ] && ok || bad "bpc grad -o /dev/null replaced /dev/null with a file"
ls /dev/null.tmp.* >/dev/null 2>&1 && bad "a temporary was left in /dev" || ok
mkfifo "$tmp/fifo"
timeout 20 cat "$tmp/fifo" > "$tmp/from_fifo" &  # a writer that never opens the FIFO fails, not hangs
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/fifo"
wait
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/grad.safetensors"
[ -p "$tmp/fifo" ] && cmp -s "$tmp/from_fifo" "$tmp/grad.safetensors" && ok || bad "writing to a FIFO: not a FIFO any more, or other bytes"

mkdir -p "$tmp/rt"
# a directory given as the program: an error, nothing written (it compiled an empty program)
expect_status 1 "$bpc" "$tmp/rt" -o "$tmp/dir.c"
expect_out "$tmp/err" "bpc: error: cannot read $tmp/rt: Is a directory"
[ -e "$tmp/dir.c" ] && bad "a directory as the program wrote $tmp/dir.c" || ok
expect_status 1 "$bpc" grad "$tmp/rt"
# bpc and the REPL's :load read programs through one reader, with one set of messages (the
# REPL's read /dev/zero until memory ran out; tests/repl/load.bpr)
expect_status 1 "$bpc" grad /dev/zero
expect_out "$tmp/err" "bpc: error: /dev/zero: program is larger than 64 MiB"
printf 'param p\n\0loss p\n' > "$tmp/nul.bp"
expect_status 1 "$bpc" grad "$tmp/nul.bp"
expect_out "$tmp/err" "bpc: error: $tmp/nul.bp contains NUL bytes (is it a binary file?)"

# bpc train on fixed inputs: a step that is not finite stops with the parameters from before
# it saved to --save, --checkpoint-every writes checkpoints, and the steps done are counted
# (none of the three happened without --data)
expect_status 1 "$bpc" train "$src/examples/seed.bp" --steps 3 --lr 1e30 --save "$tmp/nan.safetensors"
[ -f "$tmp/nan.safetensors" ] && ok || bad "a step that is not finite saved nothing to --save"
# and the message names the file it wrote, --save's or MODEL.ckpt.safetensors (it wrote
# either without a word); a run that stops at its first step writes nothing (a fresh run's
# --save could hold an earlier run's parameters), and says so. sqrt(p) from p = 1 at lr 1:
# p = 0.5, then -0.21, whose step 3 is NaN
printf 'param p = 1\nloss sqrt(p)\noptimizer sgd(lr = 1)\n' > "$tmp/sq3.bp"
expect_status 1 "$bpc" train "$tmp/sq3.bp" --steps 5 --save "$tmp/sq3.safetensors"
expect_out "$tmp/err" "bpc: error: the loss or its gradient is not finite at step 3 (loss nan); stopping with the parameters from before that step, saved to $tmp/sq3.safetensors"
cp "$tmp/sq3.safetensors" "$tmp/sq3-first.safetensors"
expect_status 1 "$bpc" train "$tmp/sq3.bp" --steps 5 --params "$tmp/sq3.safetensors" --save "$tmp/sq3.safetensors"
grep -q "(2 steps done)" "$tmp/out" && ok || bad "resuming a NaN stop: $(cat "$tmp/out")"
expect_out "$tmp/err" "bpc: error: the loss or its gradient is not finite at step 3 (loss nan); stopping with the parameters from before that step; as no step was trained, nothing was saved"
cmp -s "$tmp/sq3.safetensors" "$tmp/sq3-first.safetensors" && ok || bad "a resumed run stopped at its first step changed its checkpoint"
mkdir -p "$tmp/nanck"
(cd "$tmp/nanck" && "$bpc" train "$tmp/sq3.bp" --steps 5 >"$tmp/out" 2>"$tmp/err")
expect_out "$tmp/err" "bpc: error: the loss or its gradient is not finite at step 3 (loss nan); stopping with the parameters from before that step, saved to sq3.ckpt.safetensors"
cmp -s "$tmp/nanck/sq3.ckpt.safetensors" "$tmp/sq3-first.safetensors" && ok || bad "the NaN stop's MODEL.ckpt.safetensors"
mkdir -p "$tmp/ck"
(cd "$tmp/ck" && "$bpc" train "$src/examples/seed.bp" --steps 4 --checkpoint-every 2 >/dev/null 2>&1)
[ -f "$tmp/ck/seed.ckpt.safetensors" ] && ok || bad "--checkpoint-every without --data wrote no checkpoint"
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 5 --params "$tmp/ck/seed.ckpt.safetensors"
grep -q "(4 steps done)" "$tmp/out" && ok || bad "resuming fixed-input training: $(head -n 1 "$tmp/out")"
# --steps counts from the start of training: step 5 only (it trained 5 more)
[ "$(grep -c '^step ' "$tmp/out")" = 1 ] && grep -q "^step 5: loss" "$tmp/out" && ok ||
  bad "resuming 4 steps with --steps 5: $(grep '^step ' "$tmp/out" | head -n 3 | tr '\n' ' ')"
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 4 --params "$tmp/ck/seed.ckpt.safetensors"
grep -q "^nothing to train: $tmp/ck/seed.ckpt.safetensors has 4 steps done and this run asks for 4 in all" "$tmp/out" &&
  ! grep -q "^step " "$tmp/out" && ok || bad "resuming 4 steps with --steps 4: $(tail -n 1 "$tmp/out")"
# --on-nan skip on fixed inputs says how many steps it skipped (it said nothing)
printf 'param w = 0\nloss sqrt(w) + 1\n' > "$tmp/sq.bp"
expect_status 0 "$bpc" train "$tmp/sq.bp" --steps 3 --on-nan skip
grep -q "^3 steps skipped for non-finite values (--on-nan skip)$" "$tmp/out" && ok || bad "--on-nan skip: $(head -n 1 "$tmp/out")"
# a step that changes nothing says its loss and why: sqrt(w) + 1 at w = 0 has the loss 1 and
# the gradient inf; p * 3e19 the loss 3e19 (3.0000001e19 in float) and the gradient 3e19,
# finite, whose square is beyond the float range (these said "loss nan", and a skipped step
# said nothing)
grep -q "^step 1: loss 1, skipped: the gradient is not finite$" "$tmp/out" && ok || bad "a skipped step's line: $(head -n 1 "$tmp/out")"
expect_status 1 "$bpc" train "$tmp/sq.bp" --steps 3
expect_out "$tmp/err" "bpc: error: the gradient is not finite at step 1 (loss 1); stopping with the parameters from before that step; as no step was trained, nothing was saved"
printf 'param p = 1\nloss p * 3e19\noptimizer sgd(lr = 1e-20)\n' > "$tmp/gnorm.bp"
expect_status 1 "$bpc" train "$tmp/gnorm.bp" --steps 3
expect_out "$tmp/err" "bpc: error: the gradient norm overflows at step 1 (loss 3e+19); stopping with the parameters from before that step; as no step was trained, nothing was saved"
# a skipped step is a step done, as with --data: resumed, a run of --steps 3 that skipped all
# three goes on at step 4 (it had 0 steps done and ran the three again); --checkpoint-every
# counts it
expect_status 0 "$bpc" train "$tmp/gnorm.bp" --steps 3 --on-nan skip --save "$tmp/gnorm.safetensors"
grep -q "^step 3: loss 3.0000001e+19, skipped: the gradient norm overflows$" "$tmp/out" && ok || bad "a step skipped for its gradient norm: $(cat "$tmp/out")"
expect_status 0 "$bpc" train "$tmp/gnorm.bp" --steps 4 --on-nan skip --params "$tmp/gnorm.safetensors"
grep -q "(3 steps done)" "$tmp/out" && [ "$(grep -c '^step ' "$tmp/out")" = 1 ] && grep -q "^1 step skipped for non-finite values (--on-nan skip)$" "$tmp/out" &&
  ok || bad "resuming 3 skipped steps: $(cat "$tmp/out")"
mkdir -p "$tmp/gck"
(cd "$tmp/gck" && "$bpc" train "$tmp/gnorm.bp" --steps 2 --on-nan skip --checkpoint-every 2 >"$tmp/out" 2>&1)
expect_status 0 "$bpc" train "$tmp/gnorm.bp" --steps 2 --params "$tmp/gck/gnorm.ckpt.safetensors"
grep -q "^nothing to train: .* has 2 steps done" "$tmp/out" && ok || bad "--checkpoint-every and skipped steps: $(cat "$tmp/out")"
# --checkpoint-every without --save: the steps after the last checkpoint go to it at the end
# (steps 5 to 7 were lost)
(cd "$tmp/ck" && "$bpc" train "$src/examples/seed.bp" --steps 7 --checkpoint-every 4 >/dev/null 2>&1)
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 8 --params "$tmp/ck/seed.ckpt.safetensors"
grep -q "(7 steps done)" "$tmp/out" && ok || bad "--checkpoint-every 4 after 7 steps: $(head -n 1 "$tmp/out")"

# a workspace beyond BPC_MEMORY_LIMIT is refused at compile time naming the limit (it was
# called this machine's memory; tests/test_diagnostics.c has the machine's own)
printf 'input x[200000, 100]\nparam w[100]\nloss sum(tanh(x * w))\n' > "$tmp/big.bp"
export BPC_MEMORY_LIMIT=1000000
expect_status 1 "$bpc" grad "$tmp/big.bp"
unset BPC_MEMORY_LIMIT
expect_out "$tmp/err" "$tmp/big.bp:3:17: error: the program needs a workspace of at least 80000512 bytes (every symbolic dimension 1), more than BPC_MEMORY_LIMIT (1000000 bytes); the largest value it computes is here
  loss sum(tanh(x * w))
                  ^"
# the limit in binary multiples (3G), and a value that is not one is named, not ignored
BPC_MEMORY_LIMIT=1M "$bpc" grad "$tmp/big.bp" > "$tmp/out" 2>&1
grep -q "more than BPC_MEMORY_LIMIT (1048576 bytes)" "$tmp/out" && ok || bad "BPC_MEMORY_LIMIT=1M: $(head -n 1 "$tmp/out")"
for v in abc 0 1.5G; do
  BPC_MEMORY_LIMIT=$v "$bpc" grad "$src/examples/seed.bp" > "$tmp/out" 2>&1
  grep -q "^bpc: warning: BPC_MEMORY_LIMIT='$v' is not a number of bytes (such as 3000000000 or 3G); the machine's limits apply$" "$tmp/out" &&
    grep -q "^dL/dm1 = 2$" "$tmp/out" && ok || bad "BPC_MEMORY_LIMIT=$v: $(head -n 1 "$tmp/out")"
done

# names are looked up by hash: 30000 bindings took 17 s (each lookup compared every name
# bound before it); now well under a second
awk 'BEGIN { print "input x[4]"; print "h0 = x"; for (i = 1; i < 30000; i++) print "h" i " = h" i - 1 " + x"; print "output h29999" }' >"$tmp/many_bind.bp"
expect_status 0 timeout 10 "$bpc" --emit=ir -O0 "$tmp/many_bind.bp"

# parameters that fit the machine but not the address space (ulimit -v) are an error naming
# them, in every command that makes them: grad, check, hvp and train aborted (SIGABRT).
# AddressSanitizer cannot start under ulimit -v (its shadow memory): in a sanitized build
# its allocator refuses allocations above 2000 MB instead, and calloc returns NULL as well
if grep -q -a __asan_init "$bpc"; then
  limit_memory() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=2000" "$@"; }
  # the allocator says so on stderr before returning NULL; bpc's own message is what is checked
  drop_asan_warnings() { sed -i '/^==[0-9]*==WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]* bytes$/d' "$1"; }
else
  limit_memory() { (ulimit -v 2000000; "$@"); }
  drop_asan_warnings() { :; }
fi
printf 'param V[1000000000]\nloss mean(V)\n' > "$tmp/bigp.bp"
for c in grad check "train --steps 1"; do
  limit_memory "$bpc" $c "$tmp/bigp.bp" >/dev/null 2>"$tmp/err"; st=$?
  [ "$st" -eq 1 ] && grep -q "^bpc: error: cannot hold the parameters: " "$tmp/err" && ok ||
    bad "$c with parameters beyond ulimit -v exited $st: $(cat "$tmp/err")"
done
# an input that is missing is said before the parameters are made: grad and train
# allocated and initialised them first (8 GB took 17-108 s before the message), so here
# they said they could not hold them
printf 'input x[4]\nparam V[1000000000]\nloss mean(V) + sum(x * x)\n' > "$tmp/bigx.bp"
for c in grad "train --steps 1"; do
  limit_memory "$bpc" $c "$tmp/bigx.bp" >/dev/null 2>"$tmp/err"; st=$?
  [ "$st" -eq 1 ] && [ "$(cat "$tmp/err")" = "bpc: error: (defaults): input 'x' has no value and no default (give inputs with --inputs FILE.safetensors)" ] && ok ||
    bad "$c with parameters beyond ulimit -v and a missing input exited $st: $(cat "$tmp/err")"
done
# so are the other buffers whose size the program, the data or the command line sets, each
# named with its shape (they aborted): a batch of --data (one image of 100x100 pixels, at
# --batch 60000: 2.4 GB of floats, and a workspace of 0.8 MB), an output of bpc eval at its
# batch (1000 x 600000 floats), an input's default in bpc grad
mkdir -p "$tmp/wide"
for s in train t10k; do
  { bytes 0 0 8 3; be32 1; be32 100; be32 100; head -c 10000 /dev/zero; } >"$tmp/wide/$s-images-idx3-ubyte"
  labels "$tmp/wide/$s-labels-idx1-ubyte" 1
done
printf 'input x[B, 10000]\ninput y[B] : int\nparam W[10000, 3]\nloss cross_entropy(x @ W, y)\n' >"$tmp/wide.bp"
# data that does not fit the program is said before the parameters are made (train --data
# allocated and initialised them first, so with 4 GB of them beyond ulimit -v it said it
# could not hold them): images of 10000 pixels for an input of 5, a missing data directory,
# an input --data does not fill without a default
printf 'input x[B, 5]\ninput y[B] : int\nparam V[1000000000]\nparam W[5, 3]\nloss cross_entropy(x @ W, y) + mean(V)\n' >"$tmp/bigd.bp"
printf 'input x[B, 10000]\ninput y[B] : int\ninput z[B]\nparam V[1000000000]\nparam W[10000, 3]\nloss cross_entropy(x @ W, y) + mean(V) + sum(z)\n' >"$tmp/bigz.bp"
for c in "bigd.bp wide:images of 10000 pixels and labels do not fit the inputs 'x'" \
         "bigd.bp nowhere:nowhere/train-images-idx3-ubyte" \
         "bigz.bp wide:input 'z' has no value: --data fills only 'x' (images) and 'y' (labels)"; do
  set -- ${c%%:*}
  limit_memory "$bpc" train "$tmp/$1" --data "$tmp/$2" --steps 1 >/dev/null 2>"$tmp/err"; st=$?
  [ "$st" -eq 1 ] && grep -qF "${c#*:}" "$tmp/err" && ! grep -q "cannot hold the parameters" "$tmp/err" && ok ||
    bad "train --data $2 on $1 with parameters beyond ulimit -v exited $st: $(cat "$tmp/err")"
done
limit_memory "$bpc" train "$tmp/wide.bp" --data "$tmp/wide" --steps 1 --batch 60000 >/dev/null 2>"$tmp/err"; st=$?
drop_asan_warnings "$tmp/err"
[ "$st" -eq 1 ] && expect_out "$tmp/err" "bpc: error: batch 60000: cannot hold the batch buffer for input 'x' (60000 x 10000 floats): allocating 2400000000 bytes failed (out of memory)" ||
  bad "a batch beyond ulimit -v exited $st: $(cat "$tmp/err")"
printf 'input x[B, 10000]\ninput y[B] : int\ninput z[1, 600000] = 1\nparam W[10000, 3]\nparam u[10000, 1]\nwide = (x @ u) * z\nloss cross_entropy(x @ W, y)\noutput wide\n' >"$tmp/wideout.bp"
expect_status 0 "$bpc" train "$tmp/wideout.bp" --data "$tmp/wide" --steps 1 --batch 1 --save "$tmp/wideout.safetensors"
# (a test split of 1000 images: bpc eval's batch is at most the test samples)
mkdir -p "$tmp/wide1k"
{ bytes 0 0 8 3; be32 1000; be32 100; be32 100; head -c 10000000 /dev/zero; } | gzip -1 >"$tmp/wide1k/t10k-images-idx3-ubyte.gz"
labels "$tmp/wide1k/t10k-labels-idx1-ubyte" $(yes 1 | head -n 1000)
limit_memory "$bpc" eval "$tmp/wideout.bp" --data "$tmp/wide1k" --params "$tmp/wideout.safetensors" --batch 1000 >/dev/null 2>"$tmp/err"; st=$?
drop_asan_warnings "$tmp/err"
[ "$st" -eq 1 ] && expect_out "$tmp/err" "bpc: error: batch 1000: cannot hold the output 'wide' (1000 x 600000 floats): allocating 2400000004 bytes failed (out of memory)" ||
  bad "an output beyond ulimit -v exited $st: $(cat "$tmp/err")"
printf 'input X[600000000] = 1\nparam w\nloss mean(X) * w\n' >"$tmp/bigin.bp"
limit_memory "$bpc" grad "$tmp/bigin.bp" >/dev/null 2>"$tmp/err"; st=$?
drop_asan_warnings "$tmp/err"
[ "$st" -eq 1 ] && expect_out "$tmp/err" "bpc: error: cannot hold the input 'X' (600000000 floats): allocating 2400000000 bytes failed (out of memory)" ||
  bad "an input beyond ulimit -v exited $st: $(cat "$tmp/err")"
# and the REPL says so and goes on: a value (20000 x 20000 doubles from two small inputs),
# an input's default (300000000 doubles)
printf 'input u[20000, 1] = 1\ninput v[1, 20000] = 2\nu * v\n1+1\ninput X[300000000] = 1\nsum(X)\n2+2\n' |
  limit_memory "$bpc" repl >"$tmp/out" 2>&1; st=$?
drop_asan_warnings "$tmp/out"
[ "$st" -eq 1 ] && expect_out "$tmp/out" "error: cannot hold the value (400000000 doubles): allocating 3200000000 bytes failed (out of memory)
1+1 = 2
error: cannot hold the input 'X' (300000000 values): allocating 2400000000 bytes failed (out of memory)
2+2 = 4" || bad "the REPL beyond ulimit -v exited $st: $(cat "$tmp/out")"

# a workspace between the memory free now and the machine's (31/32 of MemTotal, its rows
# chosen from /proc/meminfo: 32768 bytes of workspace a row of w in double, 4 values of
# [rows, 1024], each under 2^31 elements up to 66 GB; above 15/16 of any MemAvailable,
# whatever the other tests free meanwhile) passed the check against the machine's memory,
# and touching it was the OOM killer's (exit 137). Now refused before anything is
# allocated; ulimit -v keeps a failing check from reaching the OOM killer.
total=$(awk '/^MemTotal:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)
rows=$(( total / 32 * 31 / 32768 ))
printf 'input x[1024] = 0.5\nparam w[%s, 1]\nh = tanh(w * x)\ng = sigmoid(w * x)\nloss sum(h * g * exp(-h))\n' "$rows" >"$tmp/free.bp"
ws=$("$bpc" --stats "$tmp/free.bp" --f64 | awk '$1 == "workspace_bytes" { print $2 }')
if [ "$ws" -gt $(( total / 16 * 15 )) ] && [ "$ws" -lt "$total" ]; then ok; else bad "free.bp's workspace $ws is not between $total * 15/16 and $total"; fi
limit_memory "$bpc" grad "$tmp/free.bp" --f64 >/dev/null 2>"$tmp/err"; st=$?
drop_asan_warnings "$tmp/err"
[ "$st" -eq 1 ] && grep -q "^$tmp/free.bp:3:12: error: the workspace at these sizes needs $ws bytes, more than the memory free on this machine ([0-9]* bytes); the largest value it computes is here" "$tmp/err" && ok ||
  bad "a workspace beyond the free memory exited $st: $(cat "$tmp/err")"
[ "$(sed -n 2,3p "$tmp/err")" = "  h = tanh(w * x)
             ^" ] && ok || bad "a workspace beyond the free memory: no line and caret in: $(cat "$tmp/err")"

# nll with real targets of the scores' shape (README): the mean over rows of -sum(p log q),
# here 2 rows of 3 targets 0.2 against log(1/3): 3 * 0.2 * ln 3 = 0.659167
printf 'param p[3] = 0.5\ninput t[2, 3] = 0.2\nloss nll(log_softmax(p + t * 0, axis = 1), t)\n' > "$tmp/nllp.bp"
"$bpc" grad "$tmp/nllp.bp" > "$tmp/out" 2>&1
head -n 1 "$tmp/out" | grep -q "^loss = 0.659167" && ok || bad "nll with probability targets: $(head -n 1 "$tmp/out")"

# relu, maximum and minimum keep a NaN, as PyTorch's do (relu(NaN) was 0, which hid a
# diverged value from the loss and from --on-nan)
# (and so do they folded: relu(0/0) + maximum(0/0, 0) + p gave 0)
for e in "relu(log(p - 1))" "maximum(log(p - 1), 0)" "maximum(0, log(p - 1))" "minimum(log(p - 1), 5)" "minimum(5, log(p - 1))" \
         "relu(0/0) + maximum(0/0, 0) + p" "maximum(0, 0/0) + p" "minimum(0/0, 0) + p"; do
  printf 'param p = 0\nloss %s\n' "$e" > "$tmp/nan.bp"
  "$bpc" grad "$tmp/nan.bp" > "$tmp/out" 2>&1
  head -n 1 "$tmp/out" | grep -q "^loss = nan$" && ok || bad "$e: $(head -n 1 "$tmp/out"), expected loss = nan"
done
# abs's gradient at a NaN is NaN, as torch.sign(nan) is (sign gave 0, so dL/dp was 0), for a
# scalar and for a tensor (the runtime's elementwise kernel)
printf 'param p = 0\nloss abs(log(p - 1))\n' > "$tmp/absn.bp"
printf 'param p[3] = 0\ninput x[2, 3] = 1\nloss sum(abs(log(x * p - 1)))\n' > "$tmp/absn2.bp"
"$bpc" grad "$tmp/absn.bp" > "$tmp/out" 2>&1
grep -q "^dL/dp = nan$" "$tmp/out" && ok || bad "abs at NaN: $(cat "$tmp/out")"
"$bpc" grad "$tmp/absn2.bp" > "$tmp/out" 2>&1
grep -q "^  \[nan, nan, nan\]$" "$tmp/out" && ok || bad "abs at NaN, [3]: $(cat "$tmp/out")"
# x^p with a zero base has PyTorch's gradient: 0 for p where p >= 0 (0^p is 0 for p > 0; the
# rule's y log x was 0 (-inf), NaN), and 0 for x where p = 0 (p x^(p-1) was 0 inf): per
# element over a tensor, and 2 rows of (0 + 2)^2 ln 2 = 8 ln 2 beside them
printf 'param q[3] = 2\ninput x[2, 3] = 0\nloss sum(x^q) + sum((x + 2)^q)\n' > "$tmp/pow0.bp"
"$bpc" grad "$tmp/pow0.bp" > "$tmp/out" 2>&1
grep -q "^  \[5.5451775, 5.5451775, 5.5451775\]$" "$tmp/out" && ok || bad "x^q at x = 0: $(cat "$tmp/out")"
printf 'param p = 0\nloss 0^p + p^p\n' > "$tmp/pow00.bp"
"$bpc" grad "$tmp/pow00.bp" > "$tmp/out" 2>&1
expect_out "$tmp/out" "loss = 2
dL/dp = 0"
# bpc train and eval print a NaN as bpc grad does (sqrt(-1)'s, whose sign bit is set, was -nan)
printf 'param p = -1\nloss sqrt(p)\n' > "$tmp/neg.bp"
cp "$tmp/sq3-first.safetensors" "$tmp/neg.safetensors" # an earlier run's --save: kept
expect_status 1 "$bpc" train "$tmp/neg.bp" --steps 3 --save "$tmp/neg.safetensors"
expect_out "$tmp/err" "bpc: error: the loss or its gradient is not finite at step 1 (loss nan); stopping with the parameters from before that step; as no step was trained, nothing was saved"
cmp -s "$tmp/neg.safetensors" "$tmp/sq3-first.safetensors" && ok || bad "a NaN at the first step overwrote --save's file"
expect_status 0 "$bpc" train "$tmp/neg.bp" --steps 3 --on-nan skip --save "$tmp/neg2.safetensors"
grep -q "^final loss nan$" "$tmp/out" && ok || bad "final loss of NaN: $(tail -n 2 "$tmp/out")"
expect_status 0 "$bpc" eval "$tmp/neg.bp" --params "$tmp/neg2.safetensors"
expect_out "$tmp/out" "loss nan"

# the default model name is the file's stem made a C identifier (README): my-net.2.bp gave
# my_net (the stem cut at its first dot), 2net.bp _2net (reserved in C: a leading _);
# bprt_sgemm_batch_softmax.bp takes bp_ too (its NAME_grad was a function of the runtime's);
# a stem's leading underscores are dropped (__x.bp: x, _Xy.bp: Xy), so no stem makes a
# reserved name (`model __x` is an error: test_diagnostics)
mkdir -p "$tmp/names"
for case in "my-net.2.bp my_net_2 MY_NET_2" "2net.bp bp_2net BP_2NET" \
            "bprt_sgemm_batch_softmax.bp bp_bprt_sgemm_batch_softmax BP_BPRT_SGEMM_BATCH_SOFTMAX" "-x--y_.bp x_y X_Y" ".hidden.bp hidden HIDDEN" \
            "__.bp model MODEL" "__x.bp x X" "_Xy.bp Xy XY" \
            "$(printf 'n%.0s' $(seq 150)).bp $(printf 'n%.0s' $(seq 64)) $(printf 'N%.0s' $(seq 64))" \
            "$(printf 'n%.0s' $(seq 63))-x.bp $(printf 'n%.0s' $(seq 63)) $(printf 'N%.0s' $(seq 63))"; do
  set -- $case
  printf 'param w = 1\nloss w * w\n' > "$tmp/names/$1"
  "$bpc" --emit=h "$tmp/names/$1" > "$tmp/out" 2>&1
  grep -q "^void $2_init(float \*params, uint64_t seed);" "$tmp/out" && grep -q "^#define $3_NPARAMS 1" "$tmp/out" && ok ||
    bad "$1: expected $2_init and $3_NPARAMS, got $(grep -o '[A-Za-z0-9_]*_init(' "$tmp/out")"
done

# bpc eval on one batch of --inputs (README): x = 2, y = 1 are the gradient of
# x^2/2 + y^2/2 at (2, 1); after one SGD step of seed.bp, m1 = 2.8, m2 = -0.7, relu(-3.92) = 0,
# and the loss is (0 - 1)^2 / 2 = 0.5; at y = 3 it is 4.5, so the file's inputs are the ones read
printf 'param x = 2\nparam y = 1\nloss x^2 / 2 + y^2 / 2\n' > "$tmp/xy.bp"
expect_status 0 "$bpc" grad "$tmp/xy.bp" -o "$tmp/xy_in.safetensors"
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 1 --save "$tmp/seed1.safetensors"
expect_status 0 "$bpc" eval "$src/examples/seed.bp" --params "$tmp/seed1.safetensors" --inputs "$tmp/xy_in.safetensors"
expect_out "$tmp/out" "loss 0.5"
printf 'param x = 2\nparam y = 3\nloss x^2 / 2 + y^2 / 2\n' > "$tmp/xy.bp"
expect_status 0 "$bpc" grad "$tmp/xy.bp" -o "$tmp/xy_in.safetensors"
expect_status 0 "$bpc" eval "$src/examples/seed.bp" --params "$tmp/seed1.safetensors" --inputs "$tmp/xy_in.safetensors"
expect_out "$tmp/out" "loss 4.5"

# counts that must be at least 1 and a rate that must be finite are usage errors (0 stood for
# "not given": --steps 0 ran a step, --batch 0 took 64, --checkpoint-every 0 wrote nothing);
# bpc eval needs its parameters
for opt in "--steps 0" "--epochs 0" "--batch 0" "--lr inf" "--threads 0" "--threads 100000" "--checkpoint-every 0"; do
  # shellcheck disable=SC2086
  expect_status 2 "$bpc" train "$src/examples/seed.bp" $opt
done
head -n 1 "$tmp/err" | grep -q "^bpc: --checkpoint-every must be at least 1$" && ok ||
  bad "--checkpoint-every 0: $(head -n 1 "$tmp/err")"
expect_status 2 "$bpc" eval "$src/examples/fashion_mlp.bp" --data "$tmp"
grep -q "eval needs --params" "$tmp/err" && ok || bad "bpc eval without --params: $(cat "$tmp/err")"
# --epochs and --steps are alternatives (--steps won without a word)
expect_status 2 "$bpc" train "$src/examples/seed.bp" --epochs 2 --steps 3
grep -q "^bpc: --epochs and --steps both say how long to train; use one" "$tmp/err" && ok || bad "--epochs with --steps: $(head -n 1 "$tmp/err")"

# -o writes OUT.c and OUT.h or neither: with OUT.h a directory, or a file size limit met
# while writing, no OUT.c is left, an older one stays as it was, and no temporary remains
mkdir -p "$tmp/pair/x.h"
expect_status 1 "$bpc" "$src/examples/seed.bp" -o "$tmp/pair/x.c"
[ -e "$tmp/pair/x.c" ] && bad "-o with OUT.h a directory wrote OUT.c" || ok
echo "old" > "$tmp/pair/y.c"
(trap '' XFSZ; ulimit -f 8; "$bpc" "$src/examples/seed.bp" -o "$tmp/pair/y.c") 2>"$tmp/err" && bad "-o beyond the file size limit succeeded" || ok
[ "$(cat "$tmp/pair/y.c")" = "old" ] && ok || bad "a failed -o changed the older y.c"
ls "$tmp/pair" | grep -q "tmp" && bad "a failed -o left a temporary: $(ls "$tmp/pair")" || ok
# the error names the file asked for, not the temporary beside it
expect_status 1 "$bpc" "$src/examples/seed.bp" -o "$tmp/nodir/x.c"
expect_out "$tmp/err" "bpc: error: cannot write $tmp/nodir/x.c: No such file or directory"

# -o bprt.c: its header would be bprt.h and hide the runtime's from the .c (a usage error,
# nothing written); --standalone output includes no runtime header, so it may
expect_status 2 "$bpc" "$src/examples/seed.bp" -o "$tmp/rt/bprt.c"
grep -q "its header would be bprt.h and hide the runtime's bprt.h" "$tmp/err" && ok || bad "-o bprt.c: no message naming the clash"
[ -e "$tmp/rt/bprt.c" ] || [ -e "$tmp/rt/bprt.h" ] && bad "-o bprt.c wrote files" || ok
expect_status 0 "$bpc" "$src/examples/seed.bp" -o "$tmp/rt/bprt.c" --standalone
# --emit=test includes the header bpc FILE.bp -o FILE.c writes: the name less its last
# extension only (it included "my.h" for my.net.bp, whose -o my.net.c writes my.net.h)
cp "$src/examples/seed.bp" "$tmp/my.net.bp"
expect_status 0 "$bpc" "$tmp/my.net.bp" -o "$tmp/my.net.c"
expect_status 0 "$bpc" --emit=test "$tmp/my.net.bp"
[ -f "$tmp/my.net.h" ] && grep -q '^#include "my.net.h"$' "$tmp/out" && ok || bad "--emit=test of my.net.bp: $(grep '^#include "' "$tmp/out")"
# -o 'a"b.c': the .c's #include "a"b.h" would not compile (no escapes in #include): a usage error
expect_status 2 "$bpc" "$src/examples/seed.bp" -o "$tmp/rt/a\"b.c"
grep -q "cannot spell a '\"' or a line break" "$tmp/err" && [ ! -e "$tmp/rt/a\"b.c" ] && ok || bad "-o with a quote: $(head -n 1 "$tmp/err")"
# --emit=test of 'q"t.bp': its #include "q"t.h" would not compile either (it printed it)
cp "$src/examples/seed.bp" "$tmp/rt/q\"t.bp"
expect_status 2 "$bpc" --emit=test "$tmp/rt/q\"t.bp"
grep -q "includes its header by name.*cannot spell a '\"'" "$tmp/err" && [ ! -s "$tmp/out" ] && ok || bad "--emit=test with a quote: $(head -n 1 "$tmp/err")"

# SIGTERM on fixed inputs stops as with --data: the checkpoint named, exit status 130, and it
# resumes (it printed "interrupted after step N", exited 0 and wrote no checkpoint)
printf 'param p = 3\nloss p * p * 1e-9\noptimizer sgd(lr = 1e-9)\n' > "$tmp/long.bp"
(cd "$tmp" && exec "$bpc" train long.bp --steps 2000000000 > long.out 2> long.err) &
bgpid=$!
i=0
while ! grep -q "^step" "$tmp/long.out" 2>/dev/null && kill -0 "$bgpid" 2>/dev/null && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
kill -TERM "$bgpid" 2>/dev/null
wait "$bgpid"; st=$?
if [ "$st" -eq 130 ] && grep -q "^interrupted after step [0-9]*; checkpoint saved to long.ckpt.safetensors (resume with --params long.ckpt.safetensors)$" "$tmp/long.out" &&
   [ -s "$tmp/long.ckpt.safetensors" ]; then ok; else bad "SIGTERM on fixed inputs exited $st, expected 130 and a checkpoint"; cat "$tmp/long.err"; tail -n 3 "$tmp/long.out"; fi
expect_status 0 "$bpc" train "$tmp/long.bp" --steps 3 --params "$tmp/long.ckpt.safetensors"
grep -q "nothing to train" "$tmp/out" && ok || bad "the interrupted run's checkpoint did not resume"
# a checkpoint that cannot be written where asked (its directory removed during the run) goes
# to MODEL.rescue-PID.safetensors in the working directory, named in the error; the run
# was lost with the process before
mkdir -p "$tmp/rescue/gone"
(cd "$tmp/rescue" && exec "$bpc" train ../long.bp --steps 2000000000 --save gone/w.safetensors > out 2> err) &
bgpid=$!
i=0
while ! grep -q "^step" "$tmp/rescue/out" 2>/dev/null && kill -0 "$bgpid" 2>/dev/null && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
rm -rf "$tmp/rescue/gone"
kill -TERM "$bgpid" 2>/dev/null
wait "$bgpid"; st=$?
rescued=$(ls "$tmp/rescue/" | grep '^long\.rescue-[0-9]*\.safetensors$')
if [ "$st" -eq 130 ] && [ -n "$rescued" ] &&
   grep -q "gone/w.safetensors.*; the parameters were saved to \./$rescued instead (resume with --params \./$rescued)$" "$tmp/rescue/err"; then
  ok; else bad "a failed save exited $st and rescued '$rescued'"; cat "$tmp/rescue/err"; fi
expect_status 0 "$bpc" train "$tmp/long.bp" --steps 3 --params "$tmp/rescue/$rescued"
grep -q "nothing to train" "$tmp/out" && ok || bad "the rescued checkpoint did not resume"

# an empty file name is a usage error at once: --save "" trained, then failed to write
# ('cannot rename .tmp.PID over it') and lost the training
expect_status 2 "$bpc" train "$src/examples/seed.bp" --steps 2 --save ""
[ "$(head -n 1 "$tmp/err")" = "bpc: --save needs a file name, not an empty string" ] && ok || bad "--save \"\": $(head -n 1 "$tmp/err")"
[ -s "$tmp/out" ] && bad "--save \"\" trained before refusing" || ok
expect_status 2 "$bpc" grad "$src/examples/seed.bp" -o ""
[ "$(head -n 1 "$tmp/err")" = "bpc: -o needs a file name, not an empty string" ] && ok || bad "-o \"\": $(head -n 1 "$tmp/err")"
expect_status 2 "$bpc" grad "$src/examples/seed.bp" --params=

# a file option the command does not take is a usage error (exit 2), not ignored: train -o
# trained and saved nothing, grad --data differentiated at the inputs' defaults, --emit -o
# printed to stdout and wrote no file
first_err() { # expected first line of $tmp/err
  [ "$(head -n 1 "$tmp/err")" = "$1" ] && ok || bad "expected '$1', got '$(head -n 1 "$tmp/err")'"
}
expect_status 2 "$bpc" train "$src/examples/seed.bp" --steps 1 -o "$tmp/w.safetensors"
first_err "bpc: train takes no -o: it saves the parameters with --save P.safetensors"
[ -s "$tmp/out" ] && bad "train -o trained" || ok
expect_status 2 "$bpc" grad "$src/examples/seed.bp" --data "$tmp"
first_err "bpc: grad takes no --data (its files: -o --params --inputs)"
expect_status 2 "$bpc" --emit=ir "$src/examples/seed.bp" -o "$tmp/x.c"
first_err "bpc: --emit prints to standard output and takes no -o (redirect it: > FILE)"
expect_status 2 "$bpc" check "$src/examples/seed.bp" --save "$tmp/c.safetensors"
first_err "bpc: check takes no --save (its files: --params --inputs)"
expect_status 2 "$bpc" "$src/examples/seed.bp" -o "$tmp/seed.c" --params "$tmp/g.safetensors"
first_err "bpc: -o OUT.c takes no --params (its files: -o)"
expect_status 0 "$bpc" --stats "$src/examples/seed.bp" -o "$tmp/seed.c"
# a file of another kind is named as such: PyTorch's torch.save zip said "header length
# 3112316307483992184 exceeds the limit of 104857600 bytes"
printf 'PK\003\004\024\000\000\000\010\000 zip' > "$tmp/m.pt"
expect_status 1 "$bpc" grad "$src/examples/seed.bp" --params "$tmp/m.pt"
first_err "bpc: error: $tmp/m.pt: not a safetensors file (one starts with an 8-byte header length and a '{'); this is a zip archive, as torch.save writes: save with safetensors.torch.save_file"
# so is an option of another command: bpc eval --steps 3 --lr 0.1 evaluated without a word
expect_status 2 "$bpc" eval "$src/examples/seed.bp" --params "$tmp/g.safetensors" --data "$tmp" --steps 3
first_err "bpc: eval takes no --steps (an option of bpc train)"
expect_status 2 "$bpc" grad "$src/examples/seed.bp" --lr=0.1
first_err "bpc: grad takes no --lr (an option of bpc train)"
expect_status 2 "$bpc" train "$src/examples/seed.bp" --steps 1 --temperature 2
first_err "bpc: train takes no --temperature (an option of bpc sample)"
expect_status 2 "$bpc" "$src/examples/seed.bp" -o "$tmp/seed.c" --opt sgd
first_err "bpc: -o OUT.c takes no --opt (an option of bpc train)"
expect_status 2 "$bpc" hvp "$src/examples/seed.bp" --vector "$tmp/g.safetensors" --standalone
first_err "bpc: hvp takes no --standalone (an option of -o OUT.c and --emit)"
expect_status 0 "$bpc" --emit=h "$src/examples/seed.bp" --standalone
# --emit with a command was ignored: bpc grad --emit=c differentiated and printed no C
expect_status 2 "$bpc" grad "$src/examples/seed.bp" --emit=c
first_err "bpc: --emit prints an artefact of compiling and goes with no command, not with 'grad'"
[ -s "$tmp/out" ] && bad "grad --emit=c ran" || ok
# the options several commands share, given to one that does not use them, are warned about
# (gcc's way; `bpc sample --batch 4` said nothing): each command with all five, the warnings
# it must print (hand-derived from what each command reads: --batch sizes --data's batches
# and --stats's symbolic sizes, check works in double always, eval's parameters are given).
# The program does not exist: the warnings come first, and nothing runs.
shared="--seed 1 --jit tcc --threads 1 --batch 2 --f64"
p="$tmp/missing.bp" P="--params $tmp/p.safetensors"
for c in "grad $p:--batch has no effect on grad" \
         "check $p:--batch has no effect on check|--f64 has no effect on check" \
         "hvp $p --vector $tmp/v.safetensors:--batch has no effect on hvp" \
         "train $p --data $tmp:" \
         "train $p:--batch has no effect on train without --data" \
         "eval $p $P --data $tmp:--seed has no effect on eval" \
         "eval $p $P --inputs $tmp/i.safetensors:--seed has no effect on eval|--batch has no effect on eval without --data" \
         "sample $p $P:--batch has no effect on sample" \
         "$p -o $tmp/w.c:--seed has no effect on -o OUT.c|--jit has no effect on -o OUT.c|--threads has no effect on -o OUT.c|--batch has no effect on -o OUT.c" \
         "--emit=c $p:--seed has no effect on --emit|--jit has no effect on --emit|--threads has no effect on --emit|--batch has no effect on --emit" \
         "--stats $p:--seed has no effect on --stats|--jit has no effect on --stats|--threads has no effect on --stats"; do
  # shellcheck disable=SC2086
  "$bpc" ${c%%:*} $shared --seed=2 >"$tmp/out" 2>"$tmp/err"
  got=$(sed -n 's/^bpc: warning: //p' "$tmp/err" | paste -sd'|')
  [ "$got" = "${c#*:}" ] && ok || bad "bpc ${c%%:*} $shared: warnings '$got', expected '${c#*:}'"
done

# Every option with every command: read (r), warned about as having no effect (w) or refused
# as a usage error (x); '-' where the base command line gives it already. Hand-derived from
# what each command does with it (README, "Training"), not from the option table; every
# option of that table must have a row, so that a new one is classified for every command.
# The program does not exist: what is read fails at compiling (exit 1), after the checks.
#               -o.c emit stats grad check hvp train eval sample
matrix='-o               - x r r x r x x x
--params         x x x r r r r - -
--vector         x x x x x - x x x
--inputs         x x x r r r r r x
--data           x x x x x x - - x
--save           x x x x x x r x x
--seed           w w w r r r r w r
--jit            w w w r r r r r r
--threads        w w w r r r r r r
--batch          w w r w w w r r w
--f64            r r r r w r r r r
-O0              r r r r r r r r r
--standalone     r r x x x x x x x
--stats          r r - x x x x x x
--emit=          x - r x x x x x x
--opt            x x x x x x r x x
--epochs         x x x x x x r x x
--steps          x x x x x x r x x
--checkpoint-every x x x x x x r x x
--warmup         x x x x x x r x x
--lr-schedule    x x x x x x r x x
--on-nan         x x x x x x r x x
--prompt         x x x x x x x x r
-n               x x x x x x x x r
--temperature    x x x x x x x x r
--lr             x x x x x x r x x'
for o in $(sed -n '/^#define BPC_OPTIONS/,/^$/s/^ *X([A-Z_0-9]*, "\([^"]*\)".*/\1/p' "$src/compiler/main.c"); do
  case $o in --help|--version) continue ;; esac # answered before the options are read
  echo "$matrix" | grep -q -- "^$o " && ok || bad "option $o of the option table has no row in the matrix"
done
while read -r o want; do
  # shellcheck disable=SC2086
  set -- $want
  for base in "$p -o $tmp/w.c" "--emit=c $p" "--stats $p" "grad $p" "check $p" "hvp $p --vector $tmp/v.safetensors" \
              "train $p --data $tmp" "eval $p $P --data $tmp" "sample $p $P"; do
    w=$1; shift
    [ "$w" = - ] && continue
    case $o in
      -o) v="$tmp/o.c" ;; --emit=) o=--emit=c v= ;; --params|--vector|--inputs|--save) v="$tmp/f.safetensors" ;;
      --data) v=$tmp ;; --jit) v=tcc ;; --opt) v=sgd ;; --lr-schedule) v=cosine ;; --on-nan) v=skip ;;
      --prompt) v=a ;; --seed|--threads|--batch|--epochs|--steps|--checkpoint-every|--warmup|-n|--temperature|--lr) v=1 ;;
      *) v= ;;
    esac
    [ "$o" = --inputs ] && base=$(echo "$base" | sed "s| --data $tmp||") # the two give the inputs: one or the other
    # shellcheck disable=SC2086
    "$bpc" $base $o $v >"$tmp/out" 2>"$tmp/err"; st=$?
    if [ $st -eq 2 ]; then got=x
    elif [ $st -eq 1 ] && grep -q -- "^bpc: warning: $o has no effect" "$tmp/err"; then got=w
    elif [ $st -eq 1 ] && ! grep -q "^bpc: warning" "$tmp/err"; then got=r
    else got="exit $st"; fi
    [ "$got" = "$w" ] && ok || bad "bpc $base $o $v: expected $w, got $got: $(head -n 1 "$tmp/err")"
  done
done <<EOF
$matrix
EOF
# bpc --help shows what each command reads, as the matrix says: the options on its line
# (the usage's continuation lines joined), with those of the lines for all and for the
# commands that run the model, are exactly those it reads ('-': its base gives it)
"$bpc" --help | awk '/^(usage: |       )bpc /{if (l) print l; l=$0; next} /^                 /{l=l $0; next} {if (l) print l; l=""; print}' \
  >"$tmp/help"
opts_of() { grep -o -- '[ [|(]--*[A-Za-z0-9][-A-Za-z0-9]*' | cut -c2- | sed 's/^--emit$/--emit=/'; }
all=$(grep '^  all of the above' "$tmp/help" | opts_of)
run=$(grep '^  grad, check, hvp, train, eval, sample:' "$tmp/help" | opts_of)
[ -n "$all" ] && [ -n "$run" ] && ok || bad "--help has no line of the options all commands take"
col=0
for c in "FILE.bp -o" "--emit=" "--stats" grad check hvp train eval sample; do
  col=$((col + 1))
  case $c in grad|check|hvp|train|eval|sample) shared="$all $run" ;; *) shared=$all ;; esac
  shown=$( (grep -E -- "^(usage:)? *bpc $c" "$tmp/help" | opts_of; echo "$shared" | tr ' ' '\n') | grep . | sort -u | paste -sd' ')
  read_=$(echo "$matrix" | awk -v k=$((col + 1)) '$k == "r" || $k == "-" {print $1}' | sort -u | paste -sd' ')
  [ "$shown" = "$read_" ] && ok || bad "--help shows for '$c': $shown; it reads: $read_"
done

# an option a command reads, in a run where it does nothing, is warned about as well: the
# parameters of --params replace those --seed draws (grad and hvp draw nothing else; check
# draws its directions), temperature 0 takes the likeliest byte, and --emit=ir and =dot
# print the graph (no C: no --f64, no runtime), =test a program that includes OUT.h, =h the
# header (the same with --standalone: compared below)
for c in "grad $p $P --seed 3:--seed has no effect on grad with --params" \
         "hvp $p $P --vector $tmp/v.safetensors --seed 3:--seed has no effect on hvp with --params" \
         "check $p $P --seed 3:" "grad $p --seed 3:" \
         "sample $p $P --temperature 0 --seed 3:--seed has no effect on sample with --temperature 0" \
         "sample $p $P --temperature 0.5 --seed 3:" \
         "--emit=ir $p --f64 --standalone:--f64 has no effect on --emit=ir|--standalone has no effect on --emit=ir" \
         "--emit=dot $p --f64 --standalone:--f64 has no effect on --emit=dot|--standalone has no effect on --emit=dot" \
         "--emit=test $p --f64 --standalone:--standalone has no effect on --emit=test" \
         "--emit=h $p --standalone:--standalone has no effect on --emit=h" "--emit=h $p --f64:" \
         "--emit=c $p --f64 --standalone:" "--stats --emit=ir $p --f64:" \
         "--stats --emit=dot $p --standalone:--standalone has no effect on --emit=dot"; do
  # shellcheck disable=SC2086
  "$bpc" ${c%%:*} >"$tmp/out" 2>"$tmp/err"
  got=$(sed -n 's/^bpc: warning: //p' "$tmp/err" | paste -sd'|')
  [ "$got" = "${c#*:}" ] && ok || bad "bpc ${c%%:*}: warnings '$got', expected '${c#*:}'"
done
# --stats's --batch sizes the symbolic sizes: a program without any is warned about once
# compiled (its statistics are the same with any --batch)
expect_status 0 "$bpc" --stats "$src/examples/seed.bp" --batch 4
[ "$(cat "$tmp/err")" = "bpc: warning: --batch has no effect on --stats of a program without symbolic sizes" ] && ok ||
  bad "--stats --batch without sizes: $(cat "$tmp/err")"
grep -qx "dims none" "$tmp/out" && ok || bad "seed.bp has symbolic sizes: $(cat "$tmp/out")"
expect_status 0 "$bpc" --stats "$src/examples/fashion_mlp.bp" --batch 4
[ -s "$tmp/err" ] && bad "--stats --batch with sizes warned: $(cat "$tmp/err")" || ok
"$bpc" --emit=h "$src/examples/fashion_mlp.bp" >"$tmp/h1" 2>/dev/null
"$bpc" --emit=h "$src/examples/fashion_mlp.bp" --standalone >"$tmp/h2" 2>/dev/null
[ -s "$tmp/h1" ] && cmp -s "$tmp/h1" "$tmp/h2" && ok || bad "--standalone changed --emit=h's header"
# and has indeed none: grad with --params gives the same with any seed
printf 'param w[2] = 1\ninput x[2] = 3\nloss sum(w * w * x)\n' > "$tmp/wp.bp"
expect_status 0 "$bpc" grad "$tmp/wp.bp" -o "$tmp/wp.safetensors"
"$bpc" grad "$tmp/wp.bp" --params "$tmp/wp.safetensors" --seed 1 >"$tmp/s1" 2>/dev/null
"$bpc" grad "$tmp/wp.bp" --params "$tmp/wp.safetensors" --seed 2 >"$tmp/s2" 2>/dev/null
[ -s "$tmp/s1" ] && cmp -s "$tmp/s1" "$tmp/s2" && ok || bad "grad --params gave another gradient with another --seed"

# -o through symbolic links: the files they name are replaced and the links stay (the links
# were replaced by regular files)
mkdir -p "$tmp/gen" && (cd "$tmp" && ln -sf gen/s.c s.c && ln -sf gen/s.h s.h && ln -sf gen/g.safetensors g.safetensors)
expect_status 0 "$bpc" "$src/examples/seed.bp" -o "$tmp/s.c"
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/g.safetensors"
[ -L "$tmp/s.c" ] && [ -L "$tmp/s.h" ] && [ -L "$tmp/g.safetensors" ] && [ -s "$tmp/gen/s.c" ] && [ -s "$tmp/gen/s.h" ] &&
  [ -s "$tmp/gen/g.safetensors" ] && ok || bad "-o through symbolic links replaced the links"

# -o keeps the permissions of the files it replaces (they became the umask's 0644)
chmod 600 "$tmp/gen/s.c" "$tmp/gen/g.safetensors"
expect_status 0 "$bpc" "$src/examples/seed.bp" -o "$tmp/s.c"
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/g.safetensors"
[ "$(stat -c %a "$tmp/gen/s.c") $(stat -c %a "$tmp/gen/g.safetensors")" = "600 600" ] && ok ||
  bad "-o changed the modes to $(stat -c %a "$tmp/gen/s.c") $(stat -c %a "$tmp/gen/g.safetensors")"

# an output that is the program or the --data text is a usage error, as in gcc: grad -o
# overwrote the program with the gradient, train --save the corpus with the parameters
cp "$src/examples/seed.bp" "$tmp/same.bp"
expect_status 2 "$bpc" grad "$tmp/same.bp" -o "$tmp/same.bp"
first_err "bpc: -o $tmp/same.bp is the program: writing it would destroy it"
cmp -s "$src/examples/seed.bp" "$tmp/same.bp" && ok || bad "grad -o overwrote the program"
cp "$src/tests/text/corpus.txt" "$tmp/corpus.txt"
expect_status 2 "$bpc" train "$src/tests/text/tiny_lm.bp" --data "$tmp/corpus.txt" --steps 1 --save "$tmp/corpus.txt"
first_err "bpc: --save $tmp/corpus.txt is --data $tmp/corpus.txt: writing it would destroy it"
cmp -s "$src/tests/text/corpus.txt" "$tmp/corpus.txt" && ok || bad "train --save overwrote the corpus"
# so is one that is a file of a --data directory (by any name: a link to it too); train
# --save d/train-labels-idx1-ubyte wrote the parameters over the labels
dataset "$tmp/idx" "0 1 2 0 1 2 0 1" "0 1 2"
cp "$tmp/idx/train-labels-idx1-ubyte" "$tmp/labels.orig"
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nloss cross_entropy(x @ W, y)\n' >"$tmp/idx.bp"
expect_status 2 "$bpc" train "$tmp/idx.bp" --data "$tmp/idx" --steps 1 --batch 4 --save "$tmp/idx/train-labels-idx1-ubyte"
first_err "bpc: --save $tmp/idx/train-labels-idx1-ubyte is $tmp/idx/train-labels-idx1-ubyte of --data $tmp/idx: writing it would destroy it"
ln -s "$tmp/idx/t10k-images-idx3-ubyte" "$tmp/idx-link"
expect_status 2 "$bpc" train "$tmp/idx.bp" --data "$tmp/idx/" --steps 1 --batch 4 --save "$tmp/idx-link"
first_err "bpc: --save $tmp/idx-link is $tmp/idx/t10k-images-idx3-ubyte of --data $tmp/idx/: writing it would destroy it"
cmp -s "$tmp/labels.orig" "$tmp/idx/train-labels-idx1-ubyte" && ok || bad "train --save overwrote a file of --data"
printf 'input x = 2\nparam w = 1\nloss w * x\n' >"$tmp/wx.bp"
expect_status 0 "$bpc" grad "$tmp/wx.bp" -o "$tmp/in.safetensors"
sed 's/"w"/"x"/' "$tmp/in.safetensors" >"$tmp/x.safetensors"
expect_status 0 "$bpc" grad "$tmp/wx.bp" --inputs "$tmp/x.safetensors"
expect_status 2 "$bpc" grad "$tmp/wx.bp" --inputs "$tmp/x.safetensors" -o "$tmp/x.safetensors"
first_err "bpc: -o $tmp/x.safetensors is --inputs $tmp/x.safetensors: writing it would destroy it"
# a file of tensors (grad's and hvp's -o, train's --save) is written only where one was, as the
# REPL's :save: not over an existing file that is not a safetensors file, nor to a name ending
# in .bp; refused before anything runs, the file left as it was (`grad -o notes.txt` and
# `train --save` over an IDX file elsewhere replaced them with tensors, `--save other.bp` wrote
# tensors under a program's name)
not_st="the file exists and is not a safetensors file; bpc replaces only an earlier safetensors file (a checkpoint, parameters, gradients) or an empty one (remove it, or give another name)"
printf 'my notes\n' >"$tmp/notes.txt"
expect_status 2 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/notes.txt"
first_err "bpc: -o $tmp/notes.txt: $not_st"
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/v.safetensors"
expect_status 2 "$bpc" hvp "$src/examples/seed.bp" --vector "$tmp/v.safetensors" -o "$tmp/notes.txt"
first_err "bpc: -o $tmp/notes.txt: $not_st"
cp "$tmp/labels.orig" "$tmp/labels-copy"
expect_status 2 "$bpc" train "$tmp/idx.bp" --data "$tmp/idx" --steps 1 --batch 4 --save "$tmp/labels-copy"
first_err "bpc: --save $tmp/labels-copy: $not_st"
[ -s "$tmp/out" ] && bad "train --save over a file that is not a checkpoint trained" || ok
# C whose ninth byte is '{' (eight bytes of text: a header length past any bprt_st_read takes)
printf 'int f() {\n    return 0;\n}\n' >"$tmp/f.c"
expect_status 2 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/f.c"
first_err "bpc: -o $tmp/f.c: $not_st"
[ "$(cat "$tmp/notes.txt")" = "my notes" ] && cmp -s "$tmp/labels.orig" "$tmp/labels-copy" &&
  [ "$(head -c 9 "$tmp/f.c")" = "int f() {" ] && ok ||
  bad "-o or --save replaced a file that is not a safetensors file"
for c in "grad $src/examples/seed.bp -o" "train $src/examples/seed.bp --steps 1 --save"; do
  expect_status 2 "$bpc" $c "$tmp/g-out.bp"
  first_err "bpc: ${c##* } $tmp/g-out.bp: a name ending in .bp is a program's; name the file of tensors otherwise (FILE.safetensors)"
done
[ ! -e "$tmp/g-out.bp" ] && ok || bad "tensors were written to a name ending in .bp"
# an earlier safetensors file, one cut short (an interrupted copy) and an empty file are replaced
head -c 40 "$tmp/v.safetensors" >"$tmp/cut.safetensors" && : >"$tmp/empty.safetensors"
expect_status 0 "$bpc" grad "$src/examples/seed.bp" -o "$tmp/v.safetensors"
expect_status 0 "$bpc" hvp "$src/examples/seed.bp" --vector "$tmp/v.safetensors" -o "$tmp/cut.safetensors"
expect_status 0 "$bpc" train "$src/examples/seed.bp" --steps 1 --save "$tmp/empty.safetensors"
"$bpc" grad "$src/examples/seed.bp" --params "$tmp/empty.safetensors" >/dev/null 2>&1 &&
  "$bpc" grad "$src/examples/seed.bp" --params "$tmp/cut.safetensors" >/dev/null 2>&1 && ok ||
  bad "a cut or empty safetensors file was not replaced by a readable one"
# the checkpoints a run writes without --save, MODEL.ckpt.safetensors in the working directory,
# follow the same rule: --checkpoint-every is refused before training, and a run stopped by a
# loss that is not finite saves to the rescue file instead (both replaced the file)
mkdir -p "$tmp/ckdir" && printf 'model blow\nparam w = 1\nloss exp(w * w * 10)\n' >"$tmp/ckdir/blow.bp"
printf 'mine\n' >"$tmp/ckdir/blow.ckpt.safetensors"
(cd "$tmp/ckdir" && "$bpc" train blow.bp --steps 3 --lr 0.01 --checkpoint-every 1 >"$tmp/out" 2>"$tmp/err"); st=$?
[ $st -eq 1 ] && [ ! -s "$tmp/out" ] && ok || bad "--checkpoint-every over a file that is not a checkpoint exited $st"
first_err "bpc: error: --checkpoint-every: blow.ckpt.safetensors: $not_st"
(cd "$tmp/ckdir" && "$bpc" train blow.bp --steps 5 --lr 1 >"$tmp/out" 2>"$tmp/err"); st=$?
[ $st -eq 1 ] && grep -q "^bpc: error: blow.ckpt.safetensors: $not_st; the parameters were saved to ./blow.rescue-[0-9]*.safetensors instead" "$tmp/err" &&
  [ "$(cat "$tmp/ckdir/blow.ckpt.safetensors")" = "mine" ] && ok ||
  bad "a stopped run over a MODEL.ckpt.safetensors that is not a checkpoint (status $st): $(cat "$tmp/err")"

# a parameters file of many names that do not match lists the whole items that fit and
# counts the rest (the message was cut off mid-word: "...; unexpected 'p17' (not a param")
{ i=1; while [ $i -le 30 ]; do echo "param parameter_$i = 1"; i=$((i + 1)); done; echo "loss parameter_1"; } >"$tmp/many.bp"
expect_status 0 "$bpc" grad "$tmp/many.bp" -o "$tmp/many.safetensors"
expect_status 1 "$bpc" grad "$src/examples/seed.bp" --params "$tmp/many.safetensors"
grep -q "^bpc: error: $tmp/many.safetensors: parameters do not match the program: missing 'm1'; missing 'm2'; unexpected 'parameter_1' (not a parameter of the program); .*(not a parameter of the program); and [0-9]* more$" "$tmp/err" &&
  ok || bad "many mismatches: $(cat "$tmp/err")"

# output that cannot be written is an error, as in gcc: `--emit=c > out.c` on a full disk
# exited 0 with a truncated artefact (/dev/full: every write fails with ENOSPC)
if [ -c /dev/full ]; then
  "$bpc" --emit=c "$src/examples/fashion_mlp.bp" >/dev/full 2>"$tmp/err"; st=$?
  [ "$st" -eq 1 ] && grep -q "^bpc: error: cannot write to standard output: No space left on device$" "$tmp/err" && ok ||
    bad "--emit=c > /dev/full exited $st: $(cat "$tmp/err")"
  "$bpc" grad "$src/examples/seed.bp" >/dev/full 2>"$tmp/err"; st=$?
  [ "$st" -eq 1 ] && ok || bad "grad > /dev/full exited $st"
  "$bpc" --help >/dev/full 2>/dev/null; st=$?
  [ "$st" -eq 1 ] && ok || bad "--help > /dev/full exited $st"
fi

# --lr-schedule and --warmup on fixed inputs: p = 1, loss p^2 / 2, SGD: p becomes p (1 - lr_t).
# Warmup over 2 steps (0.05, 0.1), then cosine over the other 4 (0.1 (1 + cos(pi k / 4)) / 2);
# each step's rate and loss (printed to 9 digits) against these values computed here; a run stopped after 3 steps
# and resumed with the same command goes on with the same rates and losses
printf 'param p = 1\nloss 0.5 * p * p\noptimizer sgd(lr = 0.1)\n' >"$tmp/sched.bp"
sched_ok() { # file first-step: the steps' lines against the schedule by hand
  awk -v first="$2" 'BEGIN { p = 1; pi = atan2(0, -1)
      for (t = 0; t < 6; t++) { lr[t] = t < 2 ? 0.1 * (t + 1) / 2 : 0.05 * (1 + cos(pi * (t - 2) / 4)); L[t] = p * p / 2; p *= 1 - lr[t] } }
    /^step / { t = $2 + 0 - 1; sub(",", "", $4); n++
      if (t < first - 1 || (($4 - L[t]) ^ 2) > 1e-16 * L[t] ^ 2 || (($6 - lr[t]) ^ 2) > 1e-16 * lr[t] ^ 2) bad = 1 }
    END { exit bad || n != 7 - first }' "$1"
}
expect_status 0 "$bpc" train "$tmp/sched.bp" --f64 --steps 6 --lr-schedule cosine --warmup 2
sched_ok "$tmp/out" 1 && ok || { bad "--lr-schedule cosine --warmup 2:"; cat "$tmp/out"; }
expect_status 0 "$bpc" train "$tmp/sched.bp" --f64 --steps 3 --lr-schedule cosine --warmup 2 --save "$tmp/sched.safetensors"
expect_status 0 "$bpc" train "$tmp/sched.bp" --f64 --steps 6 --lr-schedule cosine --warmup 2 --params "$tmp/sched.safetensors"
sched_ok "$tmp/out" 4 && ok || { bad "a resumed schedule:"; cat "$tmp/out"; }
# step:N:G halves the rate every 2 steps without --data: 0.1, 0.1, 0.05, 0.05, 0.025
expect_status 0 "$bpc" train "$tmp/sched.bp" --steps 5 --lr-schedule step:2:0.5
[ "$(sed -n 's/^step [0-9]*: loss [0-9.e-]*, lr //p' "$tmp/out" | tr '\n' ' ')" = "0.1 0.1 0.05 0.05 0.025 " ] &&
  ok || { bad "--lr-schedule step:2:0.5:"; cat "$tmp/out"; }
expect_status 2 "$bpc" train "$tmp/sched.bp" --lr-schedule step:0:0.5
first_err "bpc: --lr-schedule step:0:0.5: step:N:G takes N, a whole number of epochs (steps without --data) of at least 1, and G, a factor above 0 (e.g. step:10:0.1)"
expect_status 2 "$bpc" train "$tmp/sched.bp" --lr-schedule linear
first_err "bpc: --lr-schedule takes constant, cosine or step:N:G, not 'linear'"
expect_status 2 "$bpc" grad "$tmp/sched.bp" --warmup 3
first_err "bpc: grad takes no --warmup (an option of bpc train)"

# --opt NAME, another optimizer than the program's, keeps the lr the program writes and
# takes NAME's own default where it writes none: p = 1, loss p^2 / 2 (gradient p), one step
# in double. Adam's first step moves p by lr (m / sqrt(v) = 1, eps 1e-8 aside), AdamW's
# first shrinks it by 1 - lr 0.01, SGD's by lr. So `sgd()` under --opt adam is adam(lr =
# 1e-3): p = 0.999 (it took sgd's default 0.01 for the program's: 0.99); `adam()` under
# --opt sgd is sgd(lr = 0.01): p = 0.99 (it was 0.999); a written lr = 0 is kept: p = 1
# (it was taken for no lr: 0.999). The final loss printed is p^2 / 2.
for c in "sgd():adam:0.999" "sgd(momentum = 0.9):adamw:0.99899" "adam():sgd:0.99" "adamw(beta1 = 0.5):sgd:0.99" \
         "sgd(lr = 0):adam:1" "adam(lr = 0.1):sgd:0.9" "sgd(0.1):adam:0.9" ":adam:0.999"; do
  decl=${c%%:*} rest=${c#*:}
  printf 'param p = 1\nloss 0.5 * p * p\n%s\n' "${decl:+optimizer $decl}" >"$tmp/optlr.bp"
  expect_status 0 "$bpc" train "$tmp/optlr.bp" --f64 --steps 1 --opt "${rest%%:*}"
  sed -n 's/^final loss //p' "$tmp/out" | awk -v p="${rest#*:}" '{ v = $1; n++ } END { w = p * p / 2; d = v - w; exit !(n == 1 && d * d <= 1e-14 * w * w) }' &&
    ok || bad "optimizer $decl with --opt ${rest%%:*}: $(cat "$tmp/out"), expected final loss $(awk -v p="${rest#*:}" 'BEGIN { print p * p / 2 }')"
done

# --jit cc: a compiler that fails silently is reported by its exit status (it said 'failed
# (status 256)', system()'s raw value for exit 1), and the compiler works under $TMPDIR, as
# cc's own temporaries do (it was always /tmp), with paths quoted for the shell (a space).
printf 'param w = 3\nloss w * w\n' >"$tmp/jit.bp"
expect_status 1 env CC=false "$bpc" train "$tmp/jit.bp" --steps 1 --jit cc
grep -q "^'false' failed (exit status 1)$" "$tmp/err" && ok || { bad "CC=false:"; cat "$tmp/err"; }
mkdir -p "$tmp/tmp dir"
printf '#!/bin/sh\nfor a; do case $a in *.c) echo "$a" >"%s/jit.src";; esac; done\nexec cc "$@"\n' "$tmp" >"$tmp/logcc.sh"
chmod +x "$tmp/logcc.sh"
expect_status 0 env TMPDIR="$tmp/tmp dir" CC="$tmp/logcc.sh" "$bpc" train "$tmp/jit.bp" --steps 1 --jit cc
case $(cat "$tmp/jit.src" 2>/dev/null) in "$tmp/tmp dir/bpc-jit-"*/m.c) ok ;; *) bad "--jit cc under TMPDIR: $(cat "$tmp/jit.src" 2>&1)" ;; esac
[ -z "$(ls "$tmp/tmp dir")" ] && ok || bad "--jit cc left files in TMPDIR: $(ls "$tmp/tmp dir")"

# --jit cc computes what the tcc JIT does: cc compiles the fused loops over broadcast operands
# as C (the tcc JIT runs them as bprt_ew programs), where each operand's row offset and whether
# it steps along the inner loop are the emitter's index arithmetic; every value of bpc grad
# --f64 agrees to 1e-10 relative (FMA contraction aside, the same arithmetic)
printf '%s\n' 'param a[3, 4] = normal(1)' 'param b[3, 1] = normal(1)' 'param c[4] = normal(1)' \
  'param d[2, 1, 4] = normal(1)' 'param e[2, 3, 1] = normal(1)' \
  'loss sum(sin(a * b + c) * a) + sum(tanh(b * c)) + sum(sin(d * a + e) * (e - d))' >"$tmp/bcast.bp"
expect_status 0 "$bpc" grad "$tmp/bcast.bp" --f64 --jit tcc
cp "$tmp/out" "$tmp/bcast_tcc.txt"
expect_status 0 "$bpc" grad "$tmp/bcast.bp" --f64 --jit cc
tr -s '[],= ' '\n' <"$tmp/bcast_tcc.txt" | grep -E '^-?[0-9]' >"$tmp/bcast_a.txt"
tr -s '[],= ' '\n' <"$tmp/out" | grep -E '^-?[0-9]' >"$tmp/bcast_b.txt"
if [ "$(wc -l <"$tmp/bcast_a.txt")" -gt 40 ] && paste "$tmp/bcast_a.txt" "$tmp/bcast_b.txt" |
   awk '{ d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (d > 1e-10 * (m > 1e-3 ? m : 1e-3)) bad = 1 } END { exit bad }'
then ok; else bad "--jit cc and --jit tcc differ on broadcasts:"; paste "$tmp/bcast_tcc.txt" "$tmp/out" | head -20; fi

# --jit cc, in double, of the gradient of max over a middle axis: the mask's product, whose
# gradient operand was read only where the mask is not 0 (an inline ?:), became masked gathers
# under GCC 12 -O3 -march=native on AVX-512VL that lost lanes, and check said FAILED (1.00e+00:
# maxima's gradients 0); the emitted loop calls bp_mask_mul there, whose arguments are both read
printf '%s\n' 'param A[4, 3, 3] = normal(1)' 'param W[4, 3, 1, 4] = normal(0.7)' 'param K[3, 2, 3, 3] = normal(0.7)' \
  'param X[4, 2, 3, 4] = normal(0.7)' 'loss sum(max(A, axis = 1)) + sum(max(W @ (conv2d(X, K, padding = 1)).T, axis = 1))' >"$tmp/maxcc.bp"
for j in cc tcc; do
  expect_status 0 "$bpc" check "$tmp/maxcc.bp" --jit $j
  grep -q "^ok: worst relative error" "$tmp/out" && ok || { bad "check --jit $j of max over a middle axis:"; cat "$tmp/out"; }
done

# train and eval of a program without a loss name the file, as grad, check and hvp do (they
# said 'bpc: error: ... nothing to train', eval too)
printf 'param w = 2\ny = w * 2\noutput y\n' >"$tmp/noloss.bp"
expect_status 1 "$bpc" train "$tmp/noloss.bp" --steps 1
first_err "$tmp/noloss.bp: error: the program has no 'loss' statement, so there is nothing to train"
expect_status 1 "$bpc" eval "$tmp/noloss.bp" --params "$tmp/none.safetensors"
first_err "$tmp/noloss.bp: error: the program has no 'loss' statement, so there is nothing to evaluate"

# an I64 label beyond 32 bits is named with its value (it was printed %g: 1.09951e+12)
printf 'input y[1] : int\nparam z[1, 3]\nloss cross_entropy(z, y)\n' >"$tmp/i64.bp"
hdr='{"y":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}'
{ bytes ${#hdr} 0 0 0 0 0 0 0; printf '%s' "$hdr"; bytes 0 0 0 0 0 1 0 0; } >"$tmp/i64.safetensors"
expect_status 1 "$bpc" grad "$tmp/i64.bp" --inputs "$tmp/i64.safetensors"
first_err "bpc: error: $tmp/i64.safetensors: input 'y' element 0 (1099511627776) is not a 32-bit integer"
# an input whose size comes from another input's shape: b [N, N, N, N, N] at N = 8192 from
# an 8 KiB file has 2^65 elements; the count wrapped to 0, b was one element and the model
# read past it (a segmentation fault)
printf 'input a[N]\ninput b[N, N, N, N, N] = 0\nparam w[1]\nloss mean(a * w) + mean(b + a)\n' >"$tmp/wrap.bp"
hdr='{"a":{"dtype":"U8","shape":[8192],"data_offsets":[0,8192]}}'
{ bytes ${#hdr} 0 0 0 0 0 0 0; printf '%s' "$hdr"; head -c 8192 /dev/zero; } >"$tmp/wrap.safetensors"
expect_status 1 "$bpc" grad "$tmp/wrap.bp" --inputs "$tmp/wrap.safetensors"
first_err "bpc: error: $tmp/wrap.safetensors: cannot hold the input 'b' (8192 x 8192 x 8192 x 8192 x 8192 floats): more than 2^63 elements"
# the workspace's bytes past 2^64: [B, T, U] at B = T = 2^21, U = 2^20 - 1 (a 5 MiB file)
# is 2^64 - 2^44 bytes, and with the [B, T] buffer the total wrapped to 64 bytes: the
# generated NAME_workspace_size says SIZE_MAX / 2 past 2^62 bytes (a segmentation fault).
# Refused at the largest value at these sizes, with its line and caret, as the compile-time
# check is (it named no place)
printf 'input a[B, 1, 1]\ninput b[T, 1]\ninput c[U]\nd = a * b * c\nloss sum(d) + max(d)\n' >"$tmp/wswrap.bp"
hdr='{"a":{"dtype":"U8","shape":[2097152,1,1],"data_offsets":[0,2097152]},"b":{"dtype":"U8","shape":[2097152,1],"data_offsets":[2097152,4194304]},"c":{"dtype":"U8","shape":[1048575],"data_offsets":[4194304,5242879]}}'
{ bytes $((${#hdr} & 255)) $((${#hdr} >> 8)) 0 0 0 0 0 0; printf '%s' "$hdr"; head -c 5242879 /dev/zero; } >"$tmp/wswrap.safetensors"
expect_status 1 env BPC_MEMORY_LIMIT=1G "$bpc" grad "$tmp/wswrap.bp" --inputs "$tmp/wswrap.safetensors"
expect_out "$tmp/err" "$tmp/wswrap.bp:4:11: error: the workspace at these sizes needs more than 2^62 bytes, more than BPC_MEMORY_LIMIT (1073741824 bytes); the largest value it computes is here; use a smaller batch
  d = a * b * c
            ^"
# GEMM takes int sizes: [B, T, 1] @ w at B = T = 46341 (two 46 KB inputs) has 2147488281 rows,
# which the generated code cast to a negative M; a reshape to [65536 * B] at B = 32768 is a
# size the generated code multiplies as ints. Both are refused, located, before the workspace
# (with more memory than BPC_MEMORY_LIMIT they ran: a wrong product, a signed overflow), with
# the line and a caret as every error in a program (they said "the value at FILE:3:5" alone)
printf 'input a[B, 1, 1]\ninput b[T, 1]\nparam w[1, 1] = 1\nx = a * b\nloss sum(x @ w)\n' >"$tmp/rows.bp"
hdr='{"a":{"dtype":"U8","shape":[46341,1,1],"data_offsets":[0,46341]},"b":{"dtype":"U8","shape":[46341,1],"data_offsets":[46341,92682]}}'
{ bytes ${#hdr} 0 0 0 0 0 0 0; printf '%s' "$hdr"; head -c 92682 /dev/zero; } >"$tmp/rows.safetensors"
expect_status 1 env BPC_MEMORY_LIMIT=1G "$bpc" grad "$tmp/rows.bp" --inputs "$tmp/rows.safetensors"
expect_out "$tmp/err" "$tmp/rows.bp:5:12: error: at these sizes (B = 46341, T = 46341) this matrix product has 2147488281 rows, more than a matrix product takes (2147483647); use a smaller batch
  loss sum(x @ w)
             ^"
# --stats --batch N: the same sizes are refused the same way (it printed the bytes of sizes the
# generated functions do not take); one less is planned
expect_status 1 "$bpc" --stats "$tmp/rows.bp" --batch 46341
expect_out "$tmp/err" "$tmp/rows.bp:5:12: error: at these sizes (B = 46341, T = 46341) this matrix product has 2147488281 rows, more than a matrix product takes (2147483647); use a smaller batch
  loss sum(x @ w)
             ^"
expect_status 0 "$bpc" --stats "$tmp/rows.bp" --batch 46340
grep -q "^dims B=46340 T=46340$" "$tmp/out" && ok || bad "--stats --batch 46340: $(cat "$tmp/out")"
printf 'input a[B, 1]\nparam w[65536]\nx = reshape(a * w, [-1])\nloss sum(x)\n' >"$tmp/dimint.bp"
hdr='{"a":{"dtype":"U8","shape":[32768,1],"data_offsets":[0,32768]}}'
{ bytes ${#hdr} 0 0 0 0 0 0 0; printf '%s' "$hdr"; head -c 32768 /dev/zero; } >"$tmp/dimint.safetensors"
expect_status 1 env BPC_MEMORY_LIMIT=1G "$bpc" check "$tmp/dimint.bp" --inputs "$tmp/dimint.safetensors"
expect_out "$tmp/err" "$tmp/dimint.bp:3:5: error: at these sizes (B = 32768) this value has a size of 2147483648, more than 2147483647; use a smaller batch
  x = reshape(a * w, [-1])
      ^"
# bpc train --batch N and bpc eval --batch N: the batch's size, said so, at the value
dataset "$tmp/bidx" "0 1 2 0" "0 1"
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nf = reshape(x, [-1])\nloss cross_entropy(x @ W, y) + mean(f)\n' >"$tmp/bigb.bp"
expect_status 0 "$bpc" train "$tmp/bigb.bp" --data "$tmp/bidx" --steps 1 --batch 2 --save "$tmp/bigb.safetensors"
expect_status 1 "$bpc" train "$tmp/bigb.bp" --data "$tmp/bidx" --batch 536870912 --steps 1
expect_out "$tmp/err" "$tmp/bigb.bp:4:5: error: at these sizes (B = 536870912) this value has a size of 2147483648, more than 2147483647; use a smaller batch
  f = reshape(x, [-1])
      ^"
# (bpc eval's is at most the test split's 2 samples: one batch of them all)
expect_status 0 "$bpc" eval "$tmp/bigb.bp" --data "$tmp/bidx" --batch 536870912 --params "$tmp/bigb.safetensors"
cp "$tmp/out" "$tmp/bigb.out"
expect_status 0 "$bpc" eval "$tmp/bigb.bp" --data "$tmp/bidx" --batch 2 --params "$tmp/bigb.safetensors"
expect_out "$tmp/bigb.out" "$(cat "$tmp/out")"
# and a batch whose workspace is more than the memory: at the largest value at that batch
expect_status 1 env BPC_MEMORY_LIMIT=1M "$bpc" train "$tmp/bigb.bp" --data "$tmp/bidx" --steps 1 --batch 100000
expect_out "$tmp/err" "$tmp/bigb.bp:4:5: error: batch 100000: the workspace at these sizes needs 2800192 bytes, more than BPC_MEMORY_LIMIT (1048576 bytes); the largest value it computes is here; use a smaller batch
  f = reshape(x, [-1])
      ^"
# and a batch whose workspace and input buffers fit one at a time but not together: refused
# before any is allocated (the workspace was allocated and zeroed, and the run went on: at
# --batch 10000000 fashion_mlp's 20 GB workspace took 48 s before its input's buffer was
# refused); 2800192 bytes of workspace, 100000 x 4 floats (1600000) and 100000 labels (400000),
# and 8 bytes for each of the 4 samples of the epoch's order (+ 1) and each of the rows
expect_status 1 env BPC_MEMORY_LIMIT=3M "$bpc" train "$tmp/bigb.bp" --data "$tmp/bidx" --steps 1 --batch 100000
expect_out "$tmp/err" "bpc: error: batch 100000: the workspace (2800192 bytes) and the batch's buffers need 5600232 bytes together, more than BPC_MEMORY_LIMIT (3145728 bytes); use a smaller batch"
expect_status 0 env BPC_MEMORY_LIMIT=6M "$bpc" train "$tmp/bigb.bp" --data "$tmp/bidx" --steps 1 --batch 100000
# inside a def, each refusal is followed by the call it was made in, as sema's errors are
# (these named the line in the def alone)
printf 'def proj(x, w) = x @ w\ninput x[B, 64, 8]\nparam w[8, 4]\nloss sum(proj(x, w))\n' >"$tmp/defrows.bp"
expect_status 1 "$bpc" --stats "$tmp/defrows.bp" --batch 40000000
expect_out "$tmp/err" "$tmp/defrows.bp:1:20: error: at these sizes (B = 40000000) this matrix product has 2560000000 rows, more than a matrix product takes (2147483647); use a smaller batch
  def proj(x, w) = x @ w
                     ^
$tmp/defrows.bp:4:10: note: in this call of 'proj'
  loss sum(proj(x, w))
           ^"
expect_status 1 env BPC_MEMORY_LIMIT=100M "$bpc" train "$src/examples/tiny_gpt.bp" --data "$src/README.md" --steps 1 --batch 4096
sed -i 's/needs [0-9]* bytes/needs N bytes/' "$tmp/err" # (the plan's)
expect_out "$tmp/err" "$src/examples/tiny_gpt.bp:44:60: error: batch 4096: the workspace at these sizes needs N bytes, more than BPC_MEMORY_LIMIT (104857600 bytes); the largest value it computes is here; use a smaller batch
  def mlp(h, g, b, W1, b1, W2, b2) = gelu(layernorm(h, g, b) @ W1 + b1) @ W2 + b2
                                                             ^
$src/examples/tiny_gpt.bp:48:11: note: in this call of 'mlp'
  h2 = h1 + mlp(h1, m1g, m1b, f1, c1, p1, d1)
            ^"
# and the least 32-bit integer is one, as a default (sema) and as the value the run takes
# (the driver): both said it was not
printf 'input n : int = -2147483648\nparam w = 1\nloss w * w\n' >"$tmp/i32min.bp"
expect_status 0 "$bpc" grad "$tmp/i32min.bp"
printf 'input y[1] : int = -2147483648\nparam z[1, 3]\nloss cross_entropy(z, y)\n' >"$tmp/i32min.bp"
expect_status 1 "$bpc" grad "$tmp/i32min.bp"
first_err "bpc: error: (defaults): input 'y' element 0 is -2147483648, outside the 3 classes of the loss (0 to 2)"

# --emit=test includes the header named for the file's stem (README), whatever the model name:
# the self-check builds beside 'bpc dir/my-net.bp -o my-net.c --standalone' and passes
mkdir -p "$tmp/et/dir"
printf 'model other_name\nparam w = 3\nloss w * w\n' >"$tmp/et/dir/my-net.bp"
(cd "$tmp/et" && "$bpc" --emit=test dir/my-net.bp >check.c && "$bpc" dir/my-net.bp -o my-net.c --standalone &&
  cc -std=c99 -o check check.c my-net.c -lm -lpthread && ./check) >"$tmp/out" 2>&1
[ "$(tail -n 1 "$tmp/out")" = ok ] && ok || { bad "--emit=test beside -o STEM.c:"; cat "$tmp/out"; }

# bpc check without --inputs (README): an input with no default is drawn at random, and the
# first line says so
printf 'input s = 2\ninput x[B]\nparam w = 1\nloss s * w * w + sum(x * w)\n' >"$tmp/rnd.bp"
expect_status 0 "$bpc" check "$tmp/rnd.bp"
[ "$(head -n 1 "$tmp/out")" = "inputs: random (normal; integer inputs in {0, 1}, 0 where they index one class; symbolic sizes = 3), seed 0" ] && ok ||
  { bad "check without --inputs:"; cat "$tmp/out"; }
# and an integer input of one class (an embedding of one row) is drawn as 0: 1 was out of
# range and the check said "the loss is nan at these parameters"
printf 'input ids[B] : int\nparam E[1, 3] = normal(0.5)\nloss sum(embedding(E, ids))\n' >"$tmp/one_row.bp"
expect_status 0 "$bpc" check "$tmp/one_row.bp"
tail -n 1 "$tmp/out" | grep -q "^ok: worst relative error" && ok || { bad "check of a one-row embedding:"; cat "$tmp/out"; }
# random inputs that cannot be held are an error that says so (bpc check exited 1 without a
# word; the REPL's :check said only that they need more memory)
printf 'input x[B, 16, 1000000000]\nparam w\nloss mean(x) * w\n' >"$tmp/rndbig.bp"
expect_status 1 env BPC_MEMORY_LIMIT=1000000 "$bpc" check "$tmp/rndbig.bp"
first_err "bpc: error: cannot hold the random input 'x' (3 x 16 x 1000000000 doubles): 384000000000 bytes, more than BPC_MEMORY_LIMIT (1000000 bytes)"

# The shapes in the generated comments (--emit=c's node lines, the header's outputs, --emit=dot)
# are whole at rank 8 with 31-character size names: they were cut at 159 characters
N=ABCDEFGHIJKLMNOPQRSTUVWXYZabcd
printf 'input x[%sa1, %sa2, %sa3, %sa4, %sa5, %sa6, %sa7, %sa8]\nparam w = 1\ny = x * w\noutput y\nloss sum(y)\n' $N $N $N $N $N $N $N $N >"$tmp/longdims.bp"
for art in c h dot; do
  expect_status 0 "$bpc" --emit=$art "$tmp/longdims.bp"
  case $art in
    c) want="/\\* %2 = mul \\[.*${N}a8\\] y \\*/" ;;     # the node's comment
    h) want="writes each output y\\[.*${N}a8\\]\\. \\*/" ;; # the forward function's
    dot) want="n2 \\[label=\"mul\\\\n\\[.*${N}a8\\]\"" ;; # the node's label
  esac
  grep -q "$want" "$tmp/out" && ok || { bad "--emit=$art of rank-8 long size names: a shape cut short"; grep -n "${N}a4" "$tmp/out" | head -3; }
done

# every option is checked however many come before it: main kept the first 64, so a 65th
# escaped "takes no" (grad --data was ignored) and the no-effect warning (grad --batch)
many=$(i=0; while [ $i -lt 64 ]; do printf -- '--seed 1 '; i=$((i + 1)); done)
expect_status 2 "$bpc" grad "$src/examples/seed.bp" $many --data "$tmp"
grep -q "^bpc: grad takes no --data" "$tmp/err" && ok || { bad "65th option not checked:"; head -n 2 "$tmp/err"; }
expect_status 0 "$bpc" grad "$src/examples/seed.bp" $many --batch 4
grep -q "^bpc: warning: --batch has no effect on grad" "$tmp/err" && ok || { bad "65th option not warned about:"; head -n 2 "$tmp/err"; }

finish
