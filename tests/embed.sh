#!/bin/sh
# Installs bpc into a temporary DESTDIR and builds examples/embed against it three times: with
# its plain Makefile and pkg-config only, with CMake's find_package(bprt), and statically
# (libbprt.a and pkg-config --static). Then runs it on
# a slice of Fashion-MNIST; and the --standalone output of fashion_mlp with only cc and libm
# (and tcc), and of tests/text/tiny_lm.bp's causal attention.
# usage: embed.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
. "$(dirname "$0")/lib.sh"
data=/usr/share/datasets/fashion-mnist

# staged as a package build does it: DESTDIR=... under the prefix /usr/local (the .pc and
# CMake files find the rest relative to themselves)
DESTDIR="$tmp/stage" cmake --install "$build" --prefix /usr/local >"$tmp/install.log" 2>&1 && ok || { bad "cmake --install"; cat "$tmp/install.log"; }
ln -s "$tmp/stage/usr/local" "$tmp/prefix"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1); libdir=${libdir%/pkgconfig}
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export LD_LIBRARY_PATH="$libdir"
[ -x "$tmp/prefix/bin/bpc" ] && [ -f "$libdir/libbprt.a" ] && [ -f "$libdir/libbprt.so" ] && [ -f "$tmp/prefix/include/bprt.h" ] && ok || bad "install is missing files"

# 1. plain Makefile + pkg-config
cp -r "$src/examples/embed" "$tmp/mk" && cp "$src/examples/fashion_mlp.bp" "$tmp/"
if make -s -C "$tmp/mk" BPC="$tmp/prefix/bin/bpc" MODEL="$tmp/fashion_mlp.bp" >"$tmp/mk.log" 2>&1; then ok; else bad "make with pkg-config"; cat "$tmp/mk.log"; fi
if [ -x "$tmp/mk/embed" ]; then
  "$tmp/mk/embed" "$data" 1 >"$tmp/run.log" 2>&1 && ok || { bad "embed run"; cat "$tmp/run.log"; }
  acc=$(sed -n 's/^test accuracy \([0-9.]*\)%.*/\1/p' "$tmp/run.log")
  [ -n "$acc" ] && awk "BEGIN { exit !($acc >= 80) }" && ok || bad "embed accuracy '$acc' below 80% after one epoch"
  # its epochs are bpc train's (libbprt's bprt_train_epoch: the same order from the seed, the
  # same batches, the last one smaller): the same training loss and test accuracy, digit for digit
  "$tmp/prefix/bin/bpc" train "$tmp/fashion_mlp.bp" --data "$data" --epochs 1 --seed 42 --jit cc >"$tmp/train.log" 2>&1
  want=$(sed -n 's/^epoch 1: train loss \([0-9.]*\),.*test accuracy \([0-9.]*\)%.*/\1 \2/p' "$tmp/train.log")
  got=$(sed -n 's/^epoch 1: mean training loss \([0-9.]*\) .*/\1/p' "$tmp/run.log")" $acc"
  [ -n "$want" ] && [ "$got" = "$want" ] && ok || { bad "embed's epoch (loss, accuracy: '$got') is not bpc train's ('$want')"; cat "$tmp/train.log"; }
fi

# 2. CMake find_package(bprt)
if cmake -S "$tmp/mk" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cm.log" 2>&1 &&
   cmake --build "$tmp/cm" >>"$tmp/cm.log" 2>&1; then ok; else bad "cmake find_package(bprt)"; cat "$tmp/cm.log"; fi

# 2b. statically: libbprt.a with what `pkg-config --static --libs bprt` adds (OpenMP, cJSON,
#     zlib), its -lbprt spelt as the archive (else the linker may take libbprt.so for what the
#     archive leaves: a sanitized build's does); the program needs no libbprt.so (it starts
#     and reports a missing data directory)
if [ -f "$tmp/mk/fashion_mlp.c" ] &&
   cc -O2 -std=c99 $(pkg-config --cflags bprt) -I"$tmp/mk" "$tmp/mk/main.c" "$tmp/mk/fashion_mlp.c" \
     $(pkg-config --static --libs bprt | sed "s#-lbprt\\b#$libdir/libbprt.a#") -o "$tmp/static" >"$tmp/static.log" 2>&1; then ok; else bad "static link with pkg-config --static"; cat "$tmp/static.log"; fi
if [ -x "$tmp/static" ]; then
  ! ldd "$tmp/static" | grep -q libbprt && ok || bad "the static build loads libbprt.so"
  env -u LD_LIBRARY_PATH "$tmp/static" "$tmp/no-data" 1 >"$tmp/static.run" 2>&1
  grep -q "embed: .*no-data" "$tmp/static.run" && ok || { bad "the static build does not run"; cat "$tmp/static.run"; }
fi

# 3. --standalone: nothing but a C compiler and libm
mkdir -p "$tmp/sa"
"$tmp/prefix/bin/bpc" "$src/examples/fashion_mlp.bp" -o "$tmp/sa/fashion_mlp.c" --standalone && ok || bad "bpc --standalone"
"$tmp/prefix/bin/bpc" --emit=test "$src/examples/fashion_mlp.bp" > "$tmp/sa/check.c"
if cc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -I"$tmp/sa" "$tmp/sa/fashion_mlp.c" "$tmp/sa/check.c" -lm -o "$tmp/sa/check" 2>"$tmp/sa.log"; then ok; else bad "standalone build"; cat "$tmp/sa.log"; fi
[ -x "$tmp/sa/check" ] && "$tmp/sa/check" > "$tmp/sa.run" && grep -q '^ok$' "$tmp/sa.run" && ok || { bad "standalone self-check"; cat "$tmp/sa.run"; }
# the same file with tcc, f32 and f64 (tcc has no __builtin_sqrtf: the runtime must not need it)
for prec in f32 f64; do
  flag=; [ $prec = f64 ] && flag=--f64
  mkdir -p "$tmp/sat$prec"
  "$tmp/prefix/bin/bpc" "$src/examples/fashion_mlp.bp" -o "$tmp/sat$prec/fashion_mlp.c" --standalone $flag
  "$tmp/prefix/bin/bpc" --emit=test "$src/examples/fashion_mlp.bp" $flag > "$tmp/sat$prec/check.c"
  if tcc -std=c99 -Wall -Werror -I"$tmp/sat$prec" "$tmp/sat$prec/fashion_mlp.c" "$tmp/sat$prec/check.c" -lm -o "$tmp/sat$prec/check" 2>"$tmp/sat.log" &&
     "$tmp/sat$prec/check" > "$tmp/sat.run" && grep -q '^ok$' "$tmp/sat.run"; then ok; else bad "standalone $prec with tcc"; cat "$tmp/sat.log" "$tmp/sat.run"; fi
done

# 4. --standalone of a causal attention model (tests/text/tiny_lm.bp): the reference GEMM's
#    triangles and the attention's softmax calls, gradients against finite differences in
#    f64, built with cc -pedantic and with tcc
mkdir -p "$tmp/lm"
"$tmp/prefix/bin/bpc" "$src/tests/text/tiny_lm.bp" -o "$tmp/lm/tiny_lm.c" --standalone --f64
"$tmp/prefix/bin/bpc" --emit=test "$src/tests/text/tiny_lm.bp" --f64 > "$tmp/lm/check.c"
grep -q "bprt_dgemm_batch_softmax(" "$tmp/lm/tiny_lm.c" && ok || bad "tiny_lm --standalone without the attention calls"
for comp in "cc -std=c99 -Wall -Wextra -Werror -pedantic -O2" "tcc -std=c99 -Wall -Werror"; do
  if $comp -I"$tmp/lm" "$tmp/lm/tiny_lm.c" "$tmp/lm/check.c" -lm -o "$tmp/lm/check" 2>"$tmp/lm.log" &&
     "$tmp/lm/check" > "$tmp/lm.run" && grep -q '^ok$' "$tmp/lm.run"; then ok; else bad "standalone tiny_lm with ${comp%% *}"; cat "$tmp/lm.log" "$tmp/lm.run"; fi
done

finish
