#!/bin/sh
# Data-parallel training under MPI (compiler/dist.c), on this machine over loopback.
# usage: mpi.sh BPC SOURCE_DIR ST_COMPARE MPI_FOUND same|dropout|kill|alike|start|interrupt|die ST_DUMP
#   same: `mpirun -n 2 bpc train` with a global batch of 64 gives the parameters of one
#         process with batch 64 and the same seed, to 1e-5 after 50 steps (and eval agrees);
#   dropout: each rank draws its own dropout masks at every step (rank 0 those of one
#         process), so that every element of a parameter behind dropout(., 0.5) is updated
#         (every rank drawing seed 0's masks at every step left about half never updated);
#   kill: kill -9 one rank of a long run; the other exits non-zero within 30 s, saying
#         that it lost contact (no hang);
#   alike: rank 1 started with another program, --batch, --seed, --f64 or --params: the job
#         stops before the first step, saying what differs (no crash, nothing saved);
#   start: rank 1 cannot start (--data missing on it), or rank 0 (--save unwritable): every
#         rank stops before the first step, the rank's message saying which it is;
#   interrupt: a step that is not finite, and Ctrl-C on mpirun, stop every rank without
#         MPI_Abort, rank 0 saving the checkpoint, which resumes;
#   die: rank 1 dies in a given step (a shim over MPI_Allreduce): rank 0 saves the steps
#         done, and nothing over --save's file when none was.
# MPI_FOUND is what CMake found. Without MPI the test checks that bpc says so (--help, and
# an error instead of N independent trainings when started by a launcher); if CMake found
# MPI, bpc must have it built in and mpirun must work, or the test fails.
set -u
bpc=$1
src=$2
st_compare=$3
mpi_found=$4
mode=$5
st_dump=${6:-}
data=/usr/share/datasets/fashion-mnist
model=$src/examples/fashion_mlp.bp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# waits up to 30 s for the line "training ..." in $tmp/out (the run's output); else kills the
# run (pid $1) and fails
wait_training() {
  i=0
  until grep -q '^training ' "$tmp/out"; do
    i=$((i + 1))
    [ $i -lt 300 ] || { kill -9 "$1"; cat "$tmp/out"; fail "training did not start within 30 s"; }
    sleep 0.1
  done
}

case $mpi_found in
  1|ON|TRUE|YES|Y|on|true|yes) mpi_found=1 ;;
  *) mpi_found=0 ;;
esac
help=$("$bpc" --help)
if [ "$mpi_found" = 0 ]; then
  echo "$help" | grep -q "MPI: not built in (install libopenmpi-dev" || fail "--help does not say how to get MPI: $help"
  OMPI_COMM_WORLD_SIZE=2 "$bpc" train "$model" --data "$data" --steps 1 >"$tmp/out" 2>"$tmp/err" &&
    fail "started as one of 2 MPI ranks without MPI built in, bpc trained anyway"
  grep -q "built without MPI" "$tmp/err" || fail "no clear message: $(cat "$tmp/err")"
  echo "ok: built without MPI (CMake did not find it) and bpc says so"
  exit 0
fi
echo "$help" | grep -q "MPI: built in" || fail "CMake found MPI but bpc --help says: $help"
command -v mpirun >/dev/null || fail "CMake found MPI but there is no mpirun (apt-get install openmpi-bin)"
[ -d "$data" ] || fail "no data set at $data (apt-get install dataset-fashion-mnist)"

# Open MPI refuses to run as root without these; shared memory between the ranks; no
# binding (ctest runs other tests alongside).
mpi_opts="--allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader"
# Sanitizer builds: Open MPI keeps allocations until exit, in plugins LeakSanitizer cannot
# name (so no suppression file matches them): no leak check in the ranks (ASan and UBSan
# still check them; the single-process runs check bpc's leaks).
lsan_ranks="${LSAN_OPTIONS:+$LSAN_OPTIONS:}detect_leaks=0"
opts="--steps 50 --batch 64 --seed 1 --threads 1"

if [ "$mode" = same ]; then
  # shellcheck disable=SC2086
  "$bpc" train "$model" --data "$data" $opts --save "$tmp/one.safetensors" >"$tmp/one.out" 2>&1 ||
    { cat "$tmp/one.out"; fail "single-process training failed"; }
  # shellcheck disable=SC2086
  env LSAN_OPTIONS="$lsan_ranks" mpirun $mpi_opts -n 2 "$bpc" train "$model" --data "$data" $opts --save "$tmp/two.safetensors" >"$tmp/two.out" 2>&1 ||
    { cat "$tmp/two.out"; fail "mpirun -n 2 bpc train failed"; }
  cat "$tmp/two.out"
  [ "$(grep -c '^epoch 1' "$tmp/two.out")" = 1 ] || fail "expected one progress report (rank 0 alone)"
  "$st_compare" "$tmp/two.safetensors" "$tmp/one.safetensors" 1e-5 __bpc.opt_state ||
    fail "2 ranks and 1 process disagree after 50 steps"
  # the reported losses are those of the global batch: the same to 4 digits
  l1=$(sed -n 's/^epoch 1 (partial): train loss \([0-9.]*\), test loss \([0-9.]*\),.*/\1 \2/p' "$tmp/one.out")
  l2=$(sed -n 's/^epoch 1 (partial): train loss \([0-9.]*\), test loss \([0-9.]*\),.*/\1 \2/p' "$tmp/two.out")
  [ -n "$l1" ] && [ "$l1" = "$l2" ] || fail "losses differ: one process '$l1', two ranks '$l2'"
  # evaluation split over the ranks and reduced
  "$bpc" eval "$model" --data "$data" --params "$tmp/one.safetensors" >"$tmp/e1" 2>&1 || fail "eval failed"
  # shellcheck disable=SC2086
  env LSAN_OPTIONS="$lsan_ranks" mpirun $mpi_opts -n 2 "$bpc" eval "$model" --data "$data" --params "$tmp/one.safetensors" >"$tmp/e2" 2>&1 ||
    { cat "$tmp/e2"; fail "mpirun -n 2 bpc eval failed"; }
  cmp -s "$tmp/e1" "$tmp/e2" || fail "eval differs: $(cat "$tmp/e1") vs $(cat "$tmp/e2")"
  echo "ok: 2 ranks = 1 process (parameters to 1e-5, losses, eval)"
  exit 0
fi

if [ "$mode" = dropout ]; then
  # c's masks do not depend on the rows: its elements updated in a step are those its masks
  # kept on some rank. Adam moves every element whose gradient was ever non-zero.
  printf '%s\n' 'input x[B, 784]' 'input y[B] : int' 'param W[784, 10] = xavier' 'param c[8, 10]' \
    'logits = x @ W + sum(dropout(c, 0.5), axis = 0)' 'loss cross_entropy(logits, y)' 'output logits' >"$tmp/drop.bp"
  # updated FILE: one character per element of c, 1 where it moved from its initial 0
  updated() {
    "$st_dump" "$1" | awk '$1 == "c" { s = ""; for (i = 1; i <= NF; i++) if (v) s = s ($i == "0" ? 0 : 1); else v = $i == "="; print s }'
  }
  # train RANKS STEPS NAME
  train() {
    # shellcheck disable=SC2086
    if [ "$1" = 1 ]; then set -- "$2" "$3" "$bpc"
    else set -- "$2" "$3" env LSAN_OPTIONS="$lsan_ranks" mpirun $mpi_opts -n "$1" "$bpc"; fi
    s=$1 name=$2; shift 2
    "$@" train "$tmp/drop.bp" --data "$data" --steps "$s" --batch 64 --seed 1 --threads 1 --save "$tmp/$name.safetensors" \
      >"$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out"; fail "training $name failed"; }
    updated "$tmp/$name.safetensors"
  }
  one=$(train 1 1 one)
  two=$(train 2 1 two)
  many=$(train 2 20 many)
  [ ${#one} = 80 ] && [ ${#two} = 80 ] && [ ${#many} = 80 ] || fail "c's 80 elements not found: '$one' '$two' '$many'"
  # after one step: rank 0's masks are one process's (seed 0), rank 1's others
  n1=$(echo "$one" | tr -cd 1 | wc -c) n2=$(echo "$two" | tr -cd 1 | wc -c)
  echo "one step: one process updated $n1 of c's 80 elements, 2 ranks $n2"
  awk -v a="$one" -v b="$two" 'BEGIN { for (i = 1; i <= 80; i++) if (substr(a, i, 1) == 1 && substr(b, i, 1) == 0) exit 1 }' ||
    fail "one step on 2 ranks left elements that one process updated: rank 0 did not draw train_step's masks ($one, $two)"
  [ "$n2" -gt "$n1" ] || fail "one step on 2 ranks updated no more elements than one process: both ranks drew the same masks"
  case $many in *0*) fail "20 steps on 2 ranks left $(echo "$many" | tr -cd 0 | wc -c) of c's 80 elements never updated ($many)" ;; esac
  echo "ok: dropout under 2 ranks: masks per rank and per step (20 steps updated all 80 elements)"
  exit 0
fi

# r1 OUT ARGS...: `mpirun -n 2 ARGS` under timeout (a hang: status 124), output to OUT, where
# rank 1 reads the program $R1_FILE instead of the one in ARGS (bpc CMD FILE ...), or has
# $R1_OPTS added
cat >"$tmp/r1" <<'EOF'
#!/bin/sh
if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then
  if [ -n "${R1_FILE:-}" ]; then b=$1 c=$2; shift 3; set -- "$b" "$c" "$R1_FILE" "$@"; fi
  # shellcheck disable=SC2086
  [ -z "${R1_OPTS:-}" ] || set -- "$@" $R1_OPTS
fi
exec "$@"
EOF
r1() {
  out=$1; shift
  # shellcheck disable=SC2086
  env LSAN_OPTIONS="$lsan_ranks" R1_FILE="${R1_FILE:-}" R1_OPTS="${R1_OPTS:-}" timeout 60 mpirun $mpi_opts -x R1_FILE -x R1_OPTS \
    -n 2 sh "$tmp/r1" "$@" >"$out" 2>&1
}
# expect_stop OUT STATUS WHAT MESSAGE: the job stopped (not a hang, not a crash) with MESSAGE
expect_stop() {
  [ "$2" -ne 0 ] || { cat "$1"; fail "$3: mpirun exited 0"; }
  [ "$2" -ne 124 ] || { cat "$1"; fail "$3: still running after 60 s (a hang)"; }
  grep -qF -- "$4" "$1" || { cat "$1"; fail "$3: no message '$4'"; }
  ! grep -qE 'Signal:|lost contact|MPI_ABORT|truncated' "$1" || { cat "$1"; fail "$3: a crash, an abort or a lost contact instead of a message"; }
}
if [ "$mode" = alike ] || [ "$mode" = start ]; then
  "$bpc" train "$model" --data "$data" --steps 3 --threads 1 --save "$tmp/ck.safetensors" >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "training a checkpoint for the test"; }
fi

if [ "$mode" = alike ]; then
  # ranks started differently stop before the first step, saying what differs (they summed
  # gradients of different lengths or types: a heap corruption in MPI_Allreduce, or
  # MPI_ERR_TRUNCATE; or trained different models silently, rank 0 saving its own)
  printf '%s\n' 'input x[B, 784]' 'input y[B] : int' 'param W[784, 10] = xavier' 'logits = x @ W' \
    'loss cross_entropy(logits, y)' 'output logits' >"$tmp/small.bp"
  set -- "program|$tmp/small.bp||the program differs (is the .bp file the same on every node?)" \
    "batch||--batch 32|--batch differs: 32 on one rank, 64 on another" \
    "seed||--seed 5|the seed differs: 1 on one rank, 5 on another (--seed, or a --params checkpoint's)" \
    "f64||--f64|--f64 differs: given on some ranks only" \
    "params||--params $tmp/ck.safetensors|the training position differs (--params: is the checkpoint the same on every node?)"
  for c in "$@"; do
    what=${c%%|*} rest=${c#*|}
    R1_FILE=${rest%%|*} rest=${rest#*|}
    R1_OPTS=${rest%%|*} msg=${rest#*|}
    rm -f "$tmp/w.safetensors"
    # shellcheck disable=SC2086
    r1 "$tmp/out" "$bpc" train "$model" --data "$data" $opts --save "$tmp/w.safetensors"
    expect_stop "$tmp/out" $? "$what differs on rank 1" \
      "bpc: error: the ranks were not started alike: $msg; every rank must run the same command on the same files"
    [ ! -e "$tmp/w.safetensors" ] || fail "$what differs on rank 1: --save was written"
    echo "ok: $what differs on rank 1: $msg"
  done
  exit 0
fi

if [ "$mode" = start ]; then
  # a rank that cannot start (a file missing on its node) stops the others before the first
  # step, and says which rank it is (the others said that they lost contact, and MPI_Abort's
  # banner followed)
  R1_FILE='' R1_OPTS="--data $tmp/none"
  # shellcheck disable=SC2086
  r1 "$tmp/out" "$bpc" train "$model" --data "$data" $opts --save "$tmp/w.safetensors"
  expect_stop "$tmp/out" $? "--data missing on rank 1" "bpc: rank 1: error: $tmp/none/train-images-idx3-ubyte: cannot open"
  grep -qF "bpc: error: rank 1 could not start (its error is above); no rank trained" "$tmp/out" ||
    { cat "$tmp/out"; fail "rank 0 did not say that rank 1 could not start"; }
  [ ! -e "$tmp/w.safetensors" ] || fail "--data missing on rank 1: --save was written"
  r1 "$tmp/out" "$bpc" eval "$model" --data "$data" --threads 1 --params "$tmp/ck.safetensors"
  expect_stop "$tmp/out" $? "eval, --data missing on rank 1" "bpc: error: rank 1 could not start (its error is above); no rank evaluated"
  R1_OPTS=
  # shellcheck disable=SC2086
  r1 "$tmp/out" "$bpc" train "$model" --data "$data" $opts --save "$tmp/none/w.safetensors"
  expect_stop "$tmp/out" $? "--save unwritable (rank 0 checks it)" "bpc: error: --save $tmp/none/w.safetensors: cannot create"
  echo "ok: a rank that cannot start stops every rank before the first step, with its message"
  exit 0
fi

if [ "$mode" = interrupt ]; then
  # stops every rank agrees on leave MPI normally, rank 0 having saved the checkpoint: a
  # step that is not finite (the sum's loss, the same on every rank), and Ctrl-C on mpirun
  # (SIGINT; mpirun sends the ranks SIGTERM, whose stop request is summed with a step).
  # Every rank called MPI_Abort with its status 1 or 130: its banner said a rank aborted.
  # shellcheck disable=SC2086
  env LSAN_OPTIONS="$lsan_ranks" timeout 60 mpirun $mpi_opts -n 2 "$bpc" train "$model" --data "$data" $opts --lr 1e30 \
    --save "$tmp/nan.safetensors" >"$tmp/out" 2>&1
  expect_stop "$tmp/out" $? "a step that is not finite" "bpc: error: the loss or its gradient is not finite at epoch 1, step 2"
  "$st_dump" "$tmp/nan.safetensors" | grep -q '^__bpc.progress I64 \[4\] = 1 1 1 1$' ||
    fail "the checkpoint of the step before is not there: $("$st_dump" "$tmp/nan.safetensors" 2>&1 | grep progress)"
  # shellcheck disable=SC2086
  env LSAN_OPTIONS="$lsan_ranks" timeout 60 mpirun $mpi_opts -n 2 "$bpc" train "$model" --data "$data" --steps 100000000 \
    --batch 64 --threads 1 --save "$tmp/i.safetensors" >"$tmp/out" 2>&1 &
  mp=$!
  wait_training $mp
  sleep 1
  for p in $(pgrep -P $mp); do mpirun_pid=$p; done # timeout's child
  kill -INT "$mpirun_pid"
  wait $mp
  expect_stop "$tmp/out" $? "Ctrl-C on mpirun" "checkpoint saved to $tmp/i.safetensors (resume with --params $tmp/i.safetensors)"
  n=$(sed -n 's/^interrupted at epoch [0-9]* after \([0-9]*\) steps;.*/\1/p' "$tmp/out")
  [ -n "$n" ] || { cat "$tmp/out"; fail "Ctrl-C on mpirun: no 'interrupted at epoch E after N steps'"; }
  "$st_dump" "$tmp/i.safetensors" | awk -v n="$n" '$1 == "__bpc.progress" { ok = $7 == n } END { exit !ok }' ||
    fail "the checkpoint does not hold the $n steps: $("$st_dump" "$tmp/i.safetensors" 2>&1 | grep progress)"
  # shellcheck disable=SC2086
  env LSAN_OPTIONS="$lsan_ranks" timeout 60 mpirun $mpi_opts -n 2 "$bpc" train "$model" --data "$data" --steps $((n + 2)) \
    --batch 64 --threads 1 --params "$tmp/i.safetensors" --save "$tmp/i.safetensors" >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "resuming the interrupted run failed"; }
  "$st_dump" "$tmp/i.safetensors" | awk -v n=$((n + 2)) '$1 == "__bpc.progress" { ok = $7 == n } END { exit !ok }' ||
    fail "the resumed run did not go on: $("$st_dump" "$tmp/i.safetensors" 2>&1 | grep progress)"
  echo "ok: a step that is not finite and Ctrl-C stop every rank without MPI_Abort; Ctrl-C's checkpoint ($n steps) resumes"
  exit 0
fi

if [ "$mode" = die ]; then
  # rank 1 dies (SIGKILL) in the gradient sum of a given step, by a shim over MPI_Allreduce
  # (MPI's profiling interface): rank 0 keeps the steps done, and when no step was done it
  # leaves --save's file alone (it wrote the initial parameters over it, with no step done)
  command -v mpicc >/dev/null || fail "CMake found MPI but there is no mpicc (apt-get install libopenmpi-dev)"
  cat >"$tmp/die.c" <<'EOF'
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
/* rank 1 dies at its DIE_AT-th MPI_Allreduce (the first is the ranks' agreement) */
int MPI_Allreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
    static int calls;
    const char *rank = getenv("OMPI_COMM_WORLD_RANK"), *at = getenv("DIE_AT");
    if (rank && strcmp(rank, "1") == 0 && at && ++calls == atoi(at)) raise(SIGKILL);
    return PMPI_Allreduce(s, r, n, t, op, c);
}
EOF
  mpicc -shared -fPIC -o "$tmp/die.so" "$tmp/die.c" || fail "mpicc could not build the shim"
  "$bpc" train "$model" --data "$data" --steps 3 --threads 1 --save "$tmp/w.safetensors" >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "training a checkpoint for the test"; }
  cp "$tmp/w.safetensors" "$tmp/before.safetensors"
  # at_die STEP: rank 1 dies in the gradient sum of step STEP (its STEP+1-th MPI_Allreduce)
  at_die() {
    # shellcheck disable=SC2086
    env LSAN_OPTIONS="$lsan_ranks" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" DIE_AT=$(($1 + 1)) \
      timeout 60 mpirun $mpi_opts -x DIE_AT -x LD_PRELOAD="$tmp/die.so" -n 2 "$bpc" train "$model" --data "$data" $opts \
      --save "$tmp/w.safetensors" >"$tmp/out" 2>&1
  }
  at_die 1
  rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat "$tmp/out"; fail "rank 1 died in step 1: mpirun's status $rc"; }
  grep -q "rank 0 lost contact" "$tmp/out" && grep -q "bpc: note: no step was trained, so no checkpoint was saved" "$tmp/out" ||
    { cat "$tmp/out"; fail "rank 1 died in step 1: no message that nothing was saved"; }
  cmp -s "$tmp/w.safetensors" "$tmp/before.safetensors" || fail "rank 1 died in step 1: --save's file was written over"
  at_die 4
  grep -q "rank 0 saved a checkpoint to $tmp/w.safetensors" "$tmp/out" || { cat "$tmp/out"; fail "rank 1 died in step 4: no checkpoint said"; }
  "$st_dump" "$tmp/w.safetensors" | grep -q '^__bpc.progress I64 \[4\] = 1 3 3 1$' ||
    fail "rank 1 died in step 4: the checkpoint does not hold steps 1-3: $("$st_dump" "$tmp/w.safetensors" 2>&1 | grep progress)"
  echo "ok: rank 1 dying in step 1 leaves --save's file alone; in step 4, rank 0 saves the 3 steps done"
  exit 0
fi

[ "$mode" = kill ] || fail "unknown mode '$mode'"
# shellcheck disable=SC2086
env LSAN_OPTIONS="$lsan_ranks" mpirun $mpi_opts -n 2 "$bpc" train "$model" --data "$data" --steps 100000000 --batch 64 --threads 1 \
  --save "$tmp/k.safetensors" >"$tmp/out" 2>&1 &
mp=$! # mpirun itself: the ranks are its children
wait_training $mp
sleep 2
victim=
for p in $(pgrep -P $mp); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=1$' && victim=$p
done
[ -n "$victim" ] || { kill -9 $mp; fail "cannot find rank 1 among mpirun's children"; }
kill -9 "$victim"
start=$(date +%s)
while kill -0 $mp 2>/dev/null; do
  if [ $(($(date +%s) - start)) -gt 30 ]; then
    cat "$tmp/out"
    for p in $(pgrep -P $mp); do kill -9 "$p"; done
    kill -9 $mp
    fail "still running 30 s after rank 1 was killed"
  fi
  sleep 0.1
done
wait $mp
rc=$?
cat "$tmp/out"
[ $rc -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
grep -q "bpc: error: rank 0 lost contact with the other ranks" "$tmp/out" || fail "rank 0 did not say it lost contact"
echo "ok: rank 0 stopped $(($(date +%s) - start)) s after rank 1 was killed (mpirun exit status $rc)"
