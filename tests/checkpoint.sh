#!/bin/sh
# Activation checkpointing from the command line: bpc --stats (alone, with --emit, with -o, and
# its line on --standalone's attention scratch),
# gradients of a checkpointed chain equal to the plain chain's (bpc grad --f64, files
# compared byte for byte), bpc check on it, and --stats misused.
# usage: checkpoint.sh BPC
set -u
bpc=$1
. "$(dirname "$0")/lib.sh"
expect_status() { # want cmd...
  want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "'$*' exited $got, expected $want"; cat "$tmp/err"; fi
}
value() { # key file
  awk -v k="$1" '$1 == k { print $2 }' "$2"
}

# chain WIDTH MARK > file: six tanh layers; MARK=1 puts `checkpoint` on h2 and h4. The data
# is a parameter (x0) so that bpc grad needs no input file.
chain() {
  echo "param x0[8, $1] = normal(1)"
  echo "param y0[8, $1] = normal(0.5)"
  for l in 1 2 3 4 5 6; do echo "param W$l[$1, $1] = xavier"; echo "param b$l[$1] = normal(0.1)"; done
  prev=x0
  for l in 1 2 3 4 5 6; do
    mark=""
    if [ "$2" = 1 ] && { [ $l = 2 ] || [ $l = 4 ]; }; then mark="checkpoint "; fi
    echo "${mark}h$l = tanh($prev @ W$l + b$l)"
    prev=h$l
  done
  echo "loss mse(h6, y0)"
}
chain 512 1 > "$tmp/marked.bp"
chain 512 0 > "$tmp/plain.bp"

# --stats: the marked chain plans two [8, 512] floats (16 KiB each) less than the plain one
expect_status 0 "$bpc" --stats "$tmp/marked.bp"
cp "$tmp/out" "$tmp/marked.stats"
expect_status 0 "$bpc" --stats "$tmp/plain.bp"
cp "$tmp/out" "$tmp/plain.stats"
with=$(value workspace_bytes "$tmp/marked.stats")
without=$(value workspace_bytes_without_checkpoint "$tmp/marked.stats")
plain=$(value workspace_bytes "$tmp/plain.stats")
[ -n "$with" ] && [ "$with" -lt "$without" ] && ok || bad "checkpoint did not shrink the workspace: $with vs $without"
[ "$without" = "$plain" ] && ok || bad "without checkpoint ($without) differs from the plain program ($plain)"
[ "$(value grad_workspace_bytes_without_checkpoint "$tmp/marked.stats")" = \
  "$(value grad_workspace_bytes "$tmp/marked.stats")" ] && bad "grad workspace did not shrink" || ok
[ "$(value recomputed_nodes "$tmp/marked.stats")" = 6 ] && ok || bad "expected 6 recomputed nodes"
[ "$(value recomputed_nodes "$tmp/plain.stats")" = 0 ] && ok || bad "plain program recomputes"
grep -q "^dims none$" "$tmp/marked.stats" && ok || bad "dims line"
grep -q "^real float$" "$tmp/marked.stats" && ok || bad "real line"
# 16 KiB less at any batch: the chain has no symbolic size
[ $((without - with)) -eq $((2 * 8 * 512 * 4)) ] && ok || bad "expected 32768 bytes less, got $((without - with))"

# symbolic sizes take --batch (64 by default) and are named
printf 'input x[B, 16]\nparam W[16, 16]\ncheckpoint h = tanh(x @ W)\nloss mean(h @ W)\n' > "$tmp/b.bp"
expect_status 0 "$bpc" --stats "$tmp/b.bp"
grep -q "^dims B=64$" "$tmp/out" && ok || bad "default batch is not 64"
expect_status 0 "$bpc" --stats "$tmp/b.bp" --batch 7 --f64
grep -q "^dims B=7$" "$tmp/out" && grep -q "^real double$" "$tmp/out" && ok || bad "--batch 7 --f64 not reported"

# --standalone output makes an attention chain's products in a scratch of their own when it
# writes their softmax gradient over the weights: one [16, 16] product, 1 KiB in float and 2
# in double at any batch, said on a line of its own; a program without one has no such line
grep -q "^standalone_scratch_bytes" "$tmp/marked.stats" && bad "standalone scratch for a chain without attention" || ok
printf 'input x[B, 16, 8]\nparam W[8, 8]\nparam V[8, 8]\nloss sum(softmax(causal_mask(x @ W @ x.T * 0.5)) @ (x @ V))\n' > "$tmp/att.bp"
expect_status 0 "$bpc" --stats "$tmp/att.bp"
[ "$(value standalone_scratch_bytes "$tmp/out")" = 1024 ] && ok || bad "attention's standalone scratch: $(value standalone_scratch_bytes "$tmp/out"), expected 1024"
expect_status 0 "$bpc" --stats "$tmp/att.bp" --f64 --batch 3
[ "$(value standalone_scratch_bytes "$tmp/out")" = 2048 ] && ok || bad "attention's standalone scratch in double: $(value standalone_scratch_bytes "$tmp/out"), expected 2048"

# with --emit the artefact stays alone on stdout and the stats go to stderr
expect_status 0 "$bpc" --stats --emit=ir "$tmp/marked.bp"
grep -q "= adj recompute tanh " "$tmp/out" && ok || bad "IR shows no recomputed tanh"
grep -q "^workspace_bytes " "$tmp/out" && bad "stats mixed into the IR" || ok
grep -q "^workspace_bytes $with$" "$tmp/err" && ok || bad "stats not on stderr with --emit"
expect_status 0 "$bpc" --stats "$tmp/marked.bp" -o "$tmp/net.c"
[ -s "$tmp/net.c" ] && [ -s "$tmp/net.h" ] && grep -q "^workspace_bytes $with$" "$tmp/out" && ok || bad "--stats -o"

# the Graphviz view draws the recomputed values apart (and says so in its legend)
expect_status 0 "$bpc" --emit=dot "$tmp/marked.bp"
[ "$(grep -c 'fillcolor="#ffd8a8"' "$tmp/out")" = 7 ] && ok || bad "dot: expected the legend and 6 recomputed nodes in orange"
expect_status 0 "$bpc" --emit=dot "$tmp/plain.bp"
grep -q "recomputed" "$tmp/out" && bad "dot: plain program shows recomputation" || ok

# the gradients are the plain program's, to the last bit (double and float)
for prec in --f64 ""; do
  expect_status 0 "$bpc" grad "$tmp/marked.bp" $prec -o "$tmp/gm.safetensors"
  cp "$tmp/out" "$tmp/gm.txt"
  expect_status 0 "$bpc" grad "$tmp/plain.bp" $prec -o "$tmp/gp.safetensors"
  cmp -s "$tmp/gm.safetensors" "$tmp/gp.safetensors" && cmp -s "$tmp/gm.txt" "$tmp/out" && ok || bad "gradients differ ($prec)"
done

# finite differences pass on a narrow checkpointed chain
chain 6 1 > "$tmp/narrow.bp"
expect_status 0 "$bpc" check "$tmp/narrow.bp"
grep -q "^ok: worst relative error" "$tmp/out" && ok || bad "check did not report ok"

# --stats is for compiling, not for the commands
expect_status 2 "$bpc" grad "$tmp/marked.bp" --stats

finish
