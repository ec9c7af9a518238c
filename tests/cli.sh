#!/bin/sh
# The command line as README and LANGUAGE.md show it: outputs, exit statuses, files.
# usage: cli.sh BPC SOURCE_DIR
set -u
bpc=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
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

# bpc check passes on the examples with defaults
expect_status 0 "$bpc" check "$src/examples/seed.bp"
grep -q "^ok: worst relative error" "$tmp/out" && ok || bad "check did not report ok"

# without --inputs, check draws random inputs; elements at relu kinks are skipped, not failed
expect_status 0 "$bpc" check "$src/examples/fashion_mlp.bp" --seed 1
grep -q "^inputs: random" "$tmp/out" && ok || bad "check did not say its inputs are random"

# -o writes OUT.c and OUT.h; --emit prints each artefact
expect_status 0 "$bpc" "$src/examples/fashion_mlp.bp" -o "$tmp/net.c"
[ -s "$tmp/net.c" ] && [ -s "$tmp/net.h" ] && ok || bad "-o did not write net.c and net.h"
grep -q "real fashion_mlp_train_step(real \*params, void \*opt_state, const real \*x, const int32_t \*y, int B, real lr, void \*ws);" "$tmp/net.h" && ok || bad "header lacks the train_step prototype of LANGUAGE.md"
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
expect_status 2 "$bpc" grad
expect_status 2 "$bpc" --emit=nonsense "$src/examples/seed.bp"
expect_status 2 "$bpc" grad "$src/examples/seed.bp" --no-such-flag
expect_status 1 "$bpc" grad "$tmp/does-not-exist.bp"
expect_status 0 "$bpc" --help
expect_status 0 "$bpc" --version
head -c 3000 /dev/urandom > "$tmp/garbage.bp"
"$bpc" grad "$tmp/garbage.bp" >/dev/null 2>&1; st=$?
[ "$st" -eq 1 ] && ok || bad "binary garbage exited $st, expected 1"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
