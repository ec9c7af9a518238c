#!/bin/sh
# The REPL against the compiler on whole programs: each random session tests/repl_diff/NN.bpr
# (made by tests/repl_diff/gen.py: statements entered in a random order, then redefined,
# parameters and inputs with other shapes and initialisers, defs replaced, and redefinitions
# that must be refused) must amount to the program NN.bp: under `bpc repl --f64` its :grad
# prints what `bpc grad NN.bp --f64` prints, the loss typed as a bare expression prints bpc
# grad's loss, and it refuses exactly the lines its first comment counts (one error each).
# usage: repl_diff.sh BPC SOURCE_DIR
set -u
bpc=$1
src=$2
. "$(dirname "$0")/lib.sh"
cd "$tmp" || exit 1
n=0
for s in "$src"/tests/repl_diff/*.bpr; do
  case=$(basename "$s" .bpr)
  n=$((n + 1))
  "$bpc" grad "$src/tests/repl_diff/$case.bp" --f64 >want 2>werr || { bad "$case: bpc grad failed:"; cat werr; continue; }
  "$bpc" repl --f64 <"$s" >got 2>err
  refused=$(sed -n 's/^# refused: //p' "$s")
  errors=$(grep -c "error:" err)
  [ "$errors" -eq "$refused" ] && ok || { bad "$case: $errors errors, expected $refused:"; cat err; }
  # got: "EXPR = LOSS", then the lines of :grad
  loss=$(sed -n '1s/.* = //p' got)
  [ "loss = $loss" = "$(sed -n 1p want)" ] && ok || bad "$case: the bare loss printed $loss; bpc grad: $(sed -n 1p want)"
  if sed 1d got | cmp -s - want; then ok; else
    bad "$case: :grad differs from bpc grad:"
    sed 1d got | diff - want
  fi
done
[ "$n" -ge 40 ] && ok || bad "only $n sessions"
finish
