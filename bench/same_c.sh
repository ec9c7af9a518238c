#!/bin/sh
# Two builds of bpc, the same output? For a change meant to leave the generated code alone (a
# faster pass): compares OLD's and NEW's stdout, stderr and exit status for --emit=c (float,
# --f64, -O0, -O0 --f64) and --stats on every .bp under examples/ and tests/, bench/scale.sh's
# programs at N=1000 and 3000, and COUNT random programs (training programs of 1 to 12 matmul
# layers: weights of varied shapes, some shared between layers, biases, activations, skip
# terms, outputs, each optimizer; the fused step's choices vary among them). Not a test: it
# needs two builds. Prints each difference and a count; exits 1 if any.
#
# usage: bench/same_c.sh OLD_BPC NEW_BPC [COUNT]      (COUNT default 300; run from the source tree)
set -u
old=$1 new=$2 count=${3:-300}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sh "$(dirname "$0")/scale.sh" --programs "$dir" 1000 3000
i=0
while [ "$i" -lt "$count" ]; do
  awk -v seed="$i" 'function pick(s,  a, k) { k = split(s, a, " "); return a[int(rand() * k) + 1] }
  BEGIN { srand(seed + 1); bt = pick("B B 8 3"); for (k = 1; k <= 6; k++) dim[k] = pick("2 3 4 8 16")
    np = 0; nv = 1; vn[1] = "x"; vd[1] = dim[int(rand() * 6) + 1]; print "input x[" bt ", " vd[1] "]"
    layers = int(rand() * 12) + 1
    for (l = 0; l < layers; l++) {
      v = rand() < 0.3 ? int(rand() * nv) + 1 : nv; din = vd[v]; dout = dim[int(rand() * 6) + 1]
      w = ""; ns = 0
      for (p = 1; p <= np; p++) if (pi[p] == din && po[p] == dout) same[++ns] = p
      if (ns && rand() < 0.4) w = pn[same[int(rand() * ns) + 1]]
      else { np++; pn[np] = "W" np; pi[np] = din; po[np] = dout; w = pn[np]; print "param " w "[" din ", " dout "] = xavier" }
      e = vn[v] " @ " w
      if (rand() < 0.3) { print "param b" l "[" dout "]"; e = e " + b" l }
      a = pick("tanh relu sigmoid none scaled")
      if (a == "scaled") e = "tanh(" e ") * " pick("2 0.5"); else if (a != "none") e = a "(" e ")"
      ns = 0
      for (k = 1; k <= nv; k++) if (vd[k] == dout) same[++ns] = k
      if (ns && rand() < 0.3) e = e " " pick("+ * -") " " vn[same[int(rand() * ns) + 1]]
      nv++; vn[nv] = "h" l; vd[nv] = dout; print vn[nv] " = " e }
    if (rand() < 0.3) print "output " vn[nv]
    if (rand() < 0.2 && nv > 2) print "output " vn[int(rand() * (nv - 2)) + 2]
    if (rand() < 0.7) print "loss sum(" vn[nv] " * " vn[nv] ")"; else print "loss mean((" vn[nv] " - 1) * (" vn[nv] " - 1))"
    o = int(rand() * 4)
    if (o == 0) print "optimizer sgd(lr = 0.1)"; else if (o == 1) print "optimizer adam(lr = 1e-3)"
    else if (o == 2) print "optimizer sgd(lr = 0.1, momentum = 0.9)" }' >"$dir/random$i.bp"
  i=$((i + 1))
done
n=0 bad=0
for f in $(find examples tests -name '*.bp' | sort) "$dir"/*.bp; do
  for opts in "" "--f64" "-O0" "-O0 --f64" "--stats"; do
    case $opts in --stats) args="--stats $f" ;; *) args="--emit=c $f $opts" ;; esac
    "$old" $args >"$dir/o" 2>"$dir/oe"; so=$?
    "$new" $args >"$dir/n" 2>"$dir/ne"; sn=$?
    n=$((n + 1))
    if [ "$so" -ne "$sn" ] || ! cmp -s "$dir/o" "$dir/n" || ! cmp -s "$dir/oe" "$dir/ne"; then
      echo "differs: $f $opts"
      bad=$((bad + 1))
    fi
  done
done
echo "$n compared, $bad differ"
[ "$bad" -eq 0 ]
