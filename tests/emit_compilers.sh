#!/bin/sh
# Every example's generated C compiles warning-free as C99 under gcc, clang and tcc, in
# f32 and f64, and carries #line directives back to the .bp source. For examples/, the
# --emit=test self-check program (every API function, NAME_grad against finite
# differences, train_step lowering the loss) is linked with libbprt and run under each.
# usage: emit_compilers.sh BPC SOURCE_DIR
set -eu
bpc=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
for bp in "$src"/examples/*.bp "$src"/tests/torch/programs/*.bp; do
  [ -f "$bp" ] || continue
  for prec in "" "--f64"; do
    base=$(basename "$bp" .bp)
    "$bpc" "$bp" -o "$tmp/$base.c" $prec
    grep -q "^#line [0-9]* \".*$base.bp\"" "$tmp/$base.c" || { echo "FAIL: no #line in $base.c"; fail=1; }
    for cc in gcc clang tcc; do
      if ! $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -c "$tmp/$base.c" -o "$tmp/$base.$cc.o" 2>"$tmp/err"; then
        echo "FAIL: $cc $prec $bp"; cat "$tmp/err"; fail=1
      fi
      n=$((n + 1))
    done
  done
done
lib=$(dirname "$bpc")
for bp in "$src"/examples/*.bp; do
  base=$(basename "$bp" .bp)
  for prec in "" "--f64"; do
    "$bpc" "$bp" -o "$tmp/$base.c" $prec
    "$bpc" --emit=test "$bp" $prec > "$tmp/${base}_check.c"
    for cc in gcc clang tcc; do
      if ! $cc -std=c99 -Wall -Wextra -Werror -pedantic -I"$src/runtime" -I"$tmp" "$tmp/$base.c" "$tmp/${base}_check.c" \
           -L"$lib" -lbprt -lm -o "$tmp/check.$cc" 2>"$tmp/err"; then
        echo "FAIL: linking the self-check of $base with $cc $prec"; cat "$tmp/err"; fail=1; continue
      fi
      # BP_SAN_PRELOAD: the sanitizer runtime an instrumented libbprt needs (BPC_SANITIZE)
      if ! LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$tmp/check.$cc" > "$tmp/out" 2>&1 || ! grep -q '^ok$' "$tmp/out"; then
        echo "FAIL: self-check of $base under $cc $prec"; cat "$tmp/out"; fail=1
      fi
      n=$((n + 1))
    done
  done
done
[ "$n" -gt 0 ] || { echo "FAIL: no examples compiled"; exit 1; }
if [ $fail -ne 0 ]; then echo "0 passed, 1 failed"; exit 1; fi
echo "compiled $n example/compiler/precision combinations"
