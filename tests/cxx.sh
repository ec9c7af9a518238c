#!/bin/sh
# --standalone output compiles as C++: g++ and clang++ with -std=c++11 -Wall -Wextra -Werror
# -pedantic build it for every example and tests/text/tiny_lm.bp (causal attention), f32
# and f64. For seed, fashion_mlp and tiny_lm, g++'s object (-O2) links with the model's C
# self-check (--emit=test, built by gcc) and passes it: the C++ build's functions have C
# linkage and compute what the C build does. A C++ program including seed.h runs seed_hvp (H v = (11, 46), as in
# emit_compilers.sh) against the C++ build of bpc -o seed.c --standalone, and of
# --emit=c --standalone with the header --emit=h prints. The libbprt output of fashion_mlp
# and tiny_lm built by g++ passes its C self-check too.
# usage: cxx.sh BPC SOURCE_DIR
set -u
bpc=$1
src=$2
. "$(dirname "$0")/lib.sh"
cxxflags="-std=c++11 -Wall -Wextra -Werror -pedantic"

for bp in "$src"/examples/*.bp "$src"/tests/text/tiny_lm.bp; do
  base=$(basename "$bp" .bp)
  for prec in "" "--f64"; do
    d="$tmp/$base$prec"
    mkdir -p "$d"
    "$bpc" "$bp" -o "$d/$base.c" --standalone $prec && "$bpc" --emit=test "$bp" $prec >"$d/check.c" || { bad "bpc $base $prec"; continue; }
    gcc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -I"$d" -c "$d/check.c" -o "$d/check.o" 2>"$d/err" || { bad "the self-check of $base $prec with gcc"; cat "$d/err"; continue; }
    clang++ $cxxflags -x c++ -c "$d/$base.c" -o "$d/$base.o" 2>"$d/err" && ok || { bad "clang++ --standalone $base $prec"; cat "$d/err"; }
    case $base in seed|fashion_mlp|tiny_lm) ;; *) # compiled only: their self-checks take minutes on a loaded machine
      g++ $cxxflags -x c++ -c "$d/$base.c" -o "$d/$base.o" 2>"$d/err" && ok || { bad "g++ --standalone $base $prec"; cat "$d/err"; }
      continue ;;
    esac
    if g++ $cxxflags -O2 -x c++ -c "$d/$base.c" -o "$d/$base.o" 2>"$d/err" &&
       g++ "$d/check.o" "$d/$base.o" -lm -o "$d/check" 2>>"$d/err"; then ok; else bad "g++ --standalone $base $prec"; cat "$d/err"; continue; fi
    "$d/check" >"$d/out" 2>&1 && grep -q '^ok$' "$d/out" && ok || { bad "self-check of $base $prec built by g++"; cat "$d/out"; }
  done
done

# The libbprt output (not --standalone) as C++ too: fashion_mlp's and tiny_lm's g++ objects
# pass their C self-checks linked with libbprt
lib=$(dirname "$bpc")
for bp in "$src/examples/fashion_mlp.bp" "$src/tests/text/tiny_lm.bp"; do
  base=$(basename "$bp" .bp)
  d="$tmp/lib_$base"
  mkdir -p "$d"
  "$bpc" "$bp" -o "$d/$base.c" && "$bpc" --emit=test "$bp" >"$d/check.c" || { bad "bpc $base"; continue; }
  if g++ $cxxflags -O2 -I"$src/runtime" -x c++ -c "$d/$base.c" -o "$d/$base.o" 2>"$d/err" &&
     gcc -std=c99 -O2 -I"$d" -c "$d/check.c" -o "$d/check.o" 2>>"$d/err" &&
     g++ "$d/check.o" "$d/$base.o" -L"$lib" -lbprt -lm -o "$d/check" 2>>"$d/err"; then ok
  else bad "g++ $base (libbprt output)"; cat "$d/err"; continue; fi
  LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$d/check" >"$d/out" 2>&1 && grep -q '^ok$' "$d/out" && ok ||
    { bad "self-check of $base (libbprt output) built by g++"; cat "$d/out"; }
done

cat >"$tmp/hvp_main.cc" <<'EOF_CC'
#include <cstdio>
#include <vector>
#include "seed.h"
int main() {
    std::vector<real> p(SEED_NPARAMS), v(SEED_NPARAMS, 1), hv(SEED_NPARAMS);
    std::vector<unsigned char> ws(seed_workspace_size() + 1);
    real x = 2, y = 1;
    seed_init(p.data(), 0);
    const real loss = seed_hvp(p.data(), v.data(), hv.data(), &x, &y, ws.data());
    std::printf("loss %g hv %g %g\n", (double)loss, (double)hv[0], (double)hv[1]);
    return !(loss == 2 && hv[0] == 11 && hv[1] == 46);
}
EOF_CC
for prec in "" "--f64"; do
  mkdir -p "$tmp/o$prec" "$tmp/e$prec"
  "$bpc" "$src/examples/seed.bp" -o "$tmp/o$prec/seed.c" --standalone $prec
  "$bpc" --emit=c --standalone "$src/examples/seed.bp" $prec >"$tmp/e$prec/seed.c"
  "$bpc" --emit=h "$src/examples/seed.bp" $prec >"$tmp/e$prec/seed.h"
  for d in "$tmp/o$prec" "$tmp/e$prec"; do
    for cxx in g++ clang++; do
      if $cxx $cxxflags -I"$d" -x c++ "$d/seed.c" -x c++ "$tmp/hvp_main.cc" -lm -o "$d/hvp" 2>"$d/err" &&
         "$d/hvp" >"$d/out" 2>&1; then ok; else bad "seed_hvp from C++ with $cxx $prec (${d##*/})"; cat "$d/err" "$d/out" 2>/dev/null; fi
    done
  done
done

finish
