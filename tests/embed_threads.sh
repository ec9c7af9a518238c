#!/bin/sh
# Generated code used from two threads of the embedding program (tests/embed_threads.c: two
# jobs, each with its own parameters, optimizer state and workspace, run at once give the
# bits they give one after the other).
# 1. Linked with libbprt, on the runtime's thread pool (BPRT_NUM_THREADS=3: one caller gets
#    the pool, the other runs its kernels alone): fashion_mlp (GEMMs with epilogues, Adam),
#    fashion_cnn (convolutions, pooling) and tests/text/tiny_lm.bp (causal attention,
#    layernorm, embedding). After a first run, steps allocate nothing (README: embed_threads.c's
#    COUNT_ALLOCS).
# 2. The --standalone output of the same models built by gcc -fsanitize=thread: no report;
#    and built plainly, its steps allocate nothing, the first one included (2b).
#    (Its runtime's kernel clones made such a program crash before main: the loader runs
#    their dispatchers before ThreadSanitizer is set up.)
# 3. A -fsanitize=thread program with the ordinary libbprt: with BPRT_NUM_THREADS=2 the false
#    report README describes (a race in libbprt's pool worker; status 66), with 1 none.
# usage: embed_threads.sh BPC SOURCE_DIR
set -u
bpc=$1
src=$2
. "$(dirname "$0")/lib.sh"
lib=$(dirname "$bpc")
driver=$src/tests/embed_threads.c

# model BP: sets $name and $defs, embed_threads.c's -D flags for that model (model.h includes
# its header)
model() {
  name=$(basename "$1" .bp)
  up=$(echo "$name" | tr a-z A-Z)
  case $name in
    fashion_mlp) io="-DXT=float -DXN=784 -DYN=1 -DXSCALE=256 -DNOUT=10 -DYMOD=10" ;;
    fashion_cnn) io="-DXT=float -DXN=784 -DYN=1 -DXSCALE=256 -DNOUT=10 -DYMOD=10" ;;
    tiny_lm) io="-DXT=int32_t -DXN=16 -DYN=16 -DXSCALE=1 -DNOUT=16*256 -DYMOD=256" ;;
  esac
  defs="-DMODEL=$name -DNPARAMS=${up}_NPARAMS $io"
}

models="$src/examples/fashion_mlp.bp $src/examples/fashion_cnn.bp $src/tests/text/tiny_lm.bp"

# 1. libbprt and its pool; the allocator counted by the program, or by the sanitizer's hook
# when libbprt is built with AddressSanitizer
count=1
cpu=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//; s/[-,].*//') # the first core this test may use
[ -n "${BP_SAN_PRELOAD:-}" ] && count=2
for bp in $models; do
  model "$bp"
  case $name in fashion_mlp) batch=64;; fashion_cnn) batch=8;; *) batch=16;; esac
  d=$tmp/lib_$name
  mkdir -p "$d"
  "$bpc" "$bp" -o "$d/$name.c" || { bad "bpc $name"; continue; }
  echo "#include \"$name.h\"" >"$d/model.h"
  if ! gcc -std=c99 -O2 -Wall -Wextra -Werror -I"$d" -I"$src/runtime" $defs -DBATCH=$batch -DSTEPS=3 -DROUNDS=3 -DCOUNT_ALLOCS=$count \
       "$driver" "$d/$name.c" -L"$lib" -lbprt -lm -lpthread -o "$d/run" 2>"$d/err"; then
    bad "building the two-thread program of $name with libbprt"; cat "$d/err"; continue
  fi
  if BPRT_NUM_THREADS=3 LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" "$d/run" >"$d/out" 2>&1; then ok
  else bad "$name on two threads with libbprt"; cat "$d/out"; fi
  # every thread on one core: the pool's workers seldom get it, and their callers run the
  # members they did not start (runtime/pool.c), on the members' buffers: the same bits,
  # and nothing allocated once a step has run (fashion_cnn left out: its run takes minutes
  # on one core, and its kernels share the pool's mechanism with the two others')
  [ "$name" = fashion_cnn ] && continue
  if [ -z "$cpu" ]; then bad "no core to pin to (taskset -p, of util-linux)"; continue; fi
  if BPRT_NUM_THREADS=3 LD_PRELOAD="${BP_SAN_PRELOAD:-}" LD_LIBRARY_PATH="$lib" taskset -c "$cpu" "$d/run" >"$d/out" 2>&1
  then ok
  else bad "$name on two threads with libbprt, on one core"; cat "$d/out"; fi
done

# 2. --standalone under ThreadSanitizer
for bp in $models; do
  model "$bp"
  case $name in fashion_cnn) batch=1;; *) batch=4;; esac # (slow under the sanitizer: 40 s at 8)
  d=$tmp/sa_$name
  mkdir -p "$d"
  "$bpc" "$bp" -o "$d/$name.c" --standalone || { bad "bpc --standalone $name"; continue; }
  echo "#include \"$name.h\"" >"$d/model.h"
  if ! gcc -std=c99 -O1 -g -fsanitize=thread -Wall -Wextra -Werror -I"$d" $defs -DBATCH=$batch -DSTEPS=1 -DROUNDS=1 \
       "$driver" "$d/$name.c" -lm -lpthread -o "$d/run" 2>"$d/err"; then
    bad "building the two-thread program of $name --standalone with -fsanitize=thread"; cat "$d/err"; continue
  fi
  if TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$d/run" >"$d/out" 2>&1; then ok
  else bad "$name --standalone on two threads under ThreadSanitizer (status $?)"; cat "$d/out"; fi
done

# 2b. --standalone steps allocate nothing either, not even on their first run (README: the
#    kernels' temporaries are the workspace's): counted as in 1, by this program's allocator
#    or, in the sanitizer build, under AddressSanitizer by its hook (which also checks that
#    no kernel reaches past the workspace's end)
for bp in $models; do
  model "$bp"
  case $name in fashion_mlp) batch=64;; fashion_cnn) batch=8;; *) batch=16;; esac
  d=$tmp/sa_$name
  if [ -n "${BP_SAN_PRELOAD:-}" ]; then cflags="-O1 -g -fsanitize=address -DCOUNT_ALLOCS=2"; else cflags="-O2 -DCOUNT_ALLOCS=1"; fi
  cflags="$cflags -DCOUNT_FIRST"
  if ! gcc -std=c99 $cflags -Wall -Wextra -Werror -I"$d" $defs -DBATCH=$batch -DSTEPS=2 -DROUNDS=1 \
       "$driver" "$d/$name.c" -lm -lpthread -o "$d/run_count" 2>"$d/err"; then
    bad "building the counting program of $name --standalone"; cat "$d/err"; continue
  fi
  if "$d/run_count" >"$d/out" 2>&1; then ok
  else bad "$name --standalone: steps allocate (status $?)"; cat "$d/out"; fi
done

# 3. A program under ThreadSanitizer linked with the ordinary libbprt: the pool synchronises in
#    code TSan does not see, so its workers' reads of the caller's data look like races
#    (sgemm_pack_b), as README says (checked: a report naming libbprt, with two threads);
#    README's advice, BPRT_NUM_THREADS=1, gives a clean run. (Not under BPC_SANITIZE, whose
#    libbprt carries AddressSanitizer.)
if [ -z "${BP_SAN_PRELOAD:-}" ]; then
  model "$src/examples/fashion_mlp.bp"
  d=$tmp/lib_$name
  if gcc -std=c99 -O1 -g -fsanitize=thread -I"$d" -I"$src/runtime" $defs -DBATCH=32 -DSTEPS=1 -DROUNDS=1 \
       "$driver" "$d/$name.c" -L"$lib" -lbprt -lm -lpthread -o "$d/run_tsan" 2>"$d/err"; then
    BPRT_NUM_THREADS=2 TSAN_OPTIONS="halt_on_error=1 exitcode=66" LD_LIBRARY_PATH="$lib" "$d/run_tsan" >"$d/out2" 2>&1
    st=$?
    if [ $st -eq 66 ] && grep -q "ThreadSanitizer: data race" "$d/out2" && grep -q "(libbprt" "$d/out2"; then ok
    else bad "$name with libbprt under ThreadSanitizer and BPRT_NUM_THREADS=2: no report of the pool's (status $st)"; cat "$d/out2"; fi
    if BPRT_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66" LD_LIBRARY_PATH="$lib" "$d/run_tsan" >"$d/out" 2>&1; then ok
    else bad "$name with libbprt under ThreadSanitizer and BPRT_NUM_THREADS=1 (status $?)"; cat "$d/out"; fi
  else bad "building $name with libbprt and -fsanitize=thread"; cat "$d/err"; fi
fi

finish
