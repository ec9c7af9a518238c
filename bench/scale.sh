#!/bin/sh
# The compiler on big programs: writes programs of N statements of each kind below and prints
# the CPU seconds (user + sys) of `bpc --emit=c` on each, with a timeout. Not a test: the
# numbers depend on the machine (the commits that made these linear quote them).
#   inputs   N inputs summed in a chain, a parameter and a loss (the header's names)
#   outputs  N outputs x * w * k, a loss (CSE's hash of constants)
#   defs     N defs, each calling the one before; f29 called (the def check)
#   tanh     N layers tanh(h @ W) sharing W, with a loss (the memory plan)
#   tanhw    N/10 layers tanh(h @ Wi), a W each (the fused step compares a plan per parameter)
#
# usage: bench/scale.sh [BPC] [N...]          (default build/bpc; N: 1000 3000 10000)
#        bench/scale.sh --programs DIR N...   writes the programs to DIR alone (bench/same_c.sh)
set -u
if [ "${1:-}" = --programs ]; then
  dir=$2
  shift 2
  sizes=$*
else
  bpc=${1:-build/bpc}
  [ $# -gt 0 ] && shift
  sizes=${*:-1000 3000 10000}
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
for n in $sizes; do
  awk -v n="$n" 'BEGIN { print "param w[4]"; for (i = 0; i < n; i++) print "input x" i "[B, 4]"; print "h0 = x0 * w";
    for (i = 1; i < n; i++) print "h" i " = h" i - 1 " + x" i; print "output h" n - 1; print "loss sum(h" n - 1 ")" }' >"$dir/inputs$n.bp"
  awk -v n="$n" 'BEGIN { print "input x[B, 4]"; print "param w[4]";
    for (i = 0; i < n; i++) { print "y" i " = x * w * " i + 1; print "output y" i } print "loss sum(y0)" }' >"$dir/outputs$n.bp"
  awk -v n="$n" 'BEGIN { print "input x[4]"; print "def f0(a) = a + 1";
    for (i = 1; i < n; i++) print "def f" i "(a) = f" i - 1 "(a) + 1"; print "y = f29(x)"; print "output y" }' >"$dir/defs$n.bp"
  awk -v n="$n" 'BEGIN { print "input x[B, 16]"; print "param W[16, 16] = xavier"; print "h0 = x";
    for (i = 1; i <= n; i++) print "h" i " = tanh(h" i - 1 " @ W)"; print "output h" n; print "loss sum(h" n " * h" n ")" }' >"$dir/tanh$n.bp"
  awk -v n="$((n / 10))" 'BEGIN { print "input x[B, 16]"; print "h0 = x";
    for (i = 1; i <= n; i++) { print "param W" i "[16, 16] = xavier"; print "h" i " = tanh(h" i - 1 " @ W" i ")" }
    print "output h" n; print "loss sum(h" n " * h" n ")" }' >"$dir/tanhw$n.bp"
done
[ -n "${bpc:-}" ] || exit 0
for kind in inputs outputs defs tanh tanhw; do
  for n in $sizes; do
    /usr/bin/time -f '%U %S' -o "$dir/time" timeout 120 "$bpc" --emit=c "$dir/$kind$n.bp" >"$dir/out.c" 2>"$dir/err"
    st=$?
    if [ "$st" -eq 0 ]; then printf '%-8s %6d  %s s\n' "$kind" "$n" "$(awk 'END { print $1 + $2 }' "$dir/time")"
    else printf '%-8s %6d  exit %d %s\n' "$kind" "$n" "$st" "$(head -c 100 "$dir/err")"; fi
  done
done
