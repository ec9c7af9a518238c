#!/bin/sh
# The REPL's session trains one trajectory: :train and :step share one optimizer state and
# one position in the data, so that training in pieces ends with the bytes that one run of
# `bpc train` ends with. Small IDX files made here (20 images, batch 4: 5 steps an epoch),
# Adam, one thread; files compared with st_compare at tolerance 0 (every tensor: the
# parameters, __bpc.opt_state's bytes and __bpc.progress).
#   a. :train --steps 7 twice = bpc train --steps 14 (--f32: the session in float as bpc
#      train is; and in double, its default: resumed by bpc train from the :save file);
#   b. :step and :train on fixed inputs go on with each other's optimizer state;
#   c. :restore of a checkpoint goes on from it; of parameters alone, with a fresh optimizer;
#   d. other data restarts the position and keeps the optimizer; --epochs N finishes the
#      current epoch; editing the program keeps the state unless the parameters change;
#   e. a step that is not finite: the session keeps its parameters, and a file is written
#      only to --save (a MODEL.ckpt.safetensors was written without a word);
#   f. fixed inputs are the session's, as :inputs read them;
#   g. Ctrl-C (SIGINT) stops :train after the current step without a pass over the test set,
#      or stops that pass (both ran the whole test set first), and bpc eval's pass too.
# usage: repl_train.sh BPC ST_COMPARE ST_DUMP
set -u
bpc=$1
st_compare=$2
st_dump=$3
. "$(dirname "$0")/lib.sh"
export BPRT_NUM_THREADS=1
cd "$tmp" || exit 1

dataset good "0 1 2 0 1 2 0 1 2 0 1 2 0 1 2 0 1 2 0 1" "2 1 0 2 1 0"
cat >net.bp <<'EOF'
input x[B, 4]
input y[B] : int
param W[4, 3] = normal(0.5)
param b[3]
logits = x @ W + b
loss cross_entropy(logits, y)
output logits
optimizer adam(lr = 0.05)
EOF
cat >lin.bp <<'EOF'
input x = 2
input y = 1
param w = 0.5
param c = 0
loss (w * x + c - y)^2 + 0.1 * w^2
optimizer adam(lr = 0.1)
EOF

# repl ARGS...: the REPL on the script on stdin (output in $tmp/out); fails the check if it fails
repl() {
  if "$bpc" repl "$@" >out 2>&1; then ok; else bad "bpc repl $* failed:"; cat out; fi
}
# same A B WHAT: the two files hold the same tensors, bit for bit
same() {
  if "$st_compare" "$1" "$2" 0 >cmp.txt 2>&1; then ok; else bad "$3: $1 and $2 differ:"; cat cmp.txt; fi
}
# progress FILE: the four values of __bpc.progress
progress() { "$st_dump" "$1" | awk '$1 == "__bpc.progress" { print $5, $6, $7, $8 }'; }
train() { # bpc train on the small data, quietly
  "$bpc" train "$@" >train.out 2>&1 || { bad "bpc train $* failed:"; cat train.out; }
}

D="--data good --batch 4"
train net.bp $D --steps 14 --save t14.safetensors
train net.bp $D --steps 21 --save t21.safetensors
train net.bp $D --steps 7 --save t7.safetensors

# ---- a. two :train --steps 7 are one run of 14 steps ---------------------------------------
printf ':train %s --steps 7\n:train %s --steps 7\n:save r14.safetensors\n' "$D" "$D" | repl net.bp --f32
same r14.safetensors t14.safetensors ":train --steps 7 twice (--f32)"
has out "^training net on good: 20 samples, batch 4, .* (going on at epoch 2, step 3; 7 steps done)" "the second :train"
has out "^saved 2 parameters to r14.safetensors, with the optimizer state and the position: 14 steps done, next epoch 3, step 5" ":save"
[ "$(progress r14.safetensors)" = "3 4 14 0" ] && ok || bad "progress after 14 steps: $(progress r14.safetensors)"
# in double (the session's default), :save writes F64 parameters and a double optimizer
# state; bpc train (float) resumes it where one run would be
printf ':train %s --steps 7\n:train %s --steps 7\n:save d14.safetensors\n' "$D" "$D" | repl net.bp
train net.bp $D --steps 21 --params d14.safetensors --save d21.safetensors
same d21.safetensors t21.safetensors "bpc train resuming the double session's :save"
# the position's seed orders the data: a :train after one with --seed 3 goes on in its order
# (bpc train --seed 3 from the session's initial parameters, made with its seed 0)
printf ':save init.safetensors\n:train %s --steps 4 --seed 3\n:train %s --steps 6\n:save rs10.safetensors\n' "$D" "$D" |
  repl net.bp --f32
train net.bp $D --steps 10 --seed 3 --params init.safetensors --save s10.safetensors
same rs10.safetensors s10.safetensors ":train --seed 3, then without --seed"

# ---- b. :step and :train on fixed inputs (the inputs' defaults) ----------------------------
train lin.bp --steps 7 --save l7.safetensors
train lin.bp --steps 9 --save l9.safetensors
printf ':step 3\n:train --steps 4\n:save rl7.safetensors\n:step 2\n:save rl9.safetensors\n' | repl lin.bp --f32
same rl7.safetensors l7.safetensors ":step 3, :train --steps 4"
same rl9.safetensors l9.safetensors ":step 3, :train --steps 4, :step 2"
has out "^step 9: loss" ":step numbers its steps from the start"
# and the printed losses are those of one run
printf ':train --steps 5\n:train --steps 5\n' | repl lin.bp
grep '^step' out >two.txt
"$bpc" train lin.bp --steps 10 | grep '^step' >one.txt
if cmp -s one.txt two.txt; then ok; else bad ":train --steps 5 twice printed other losses than --steps 10:"; diff one.txt two.txt; fi

# ---- c. :restore: a checkpoint goes on; parameters alone start a fresh optimizer -----------
printf ':restore t7.safetensors\n:train %s --steps 7\n:save c14.safetensors\n' "$D" | repl net.bp --f32
same c14.safetensors t14.safetensors ":restore of a 7-step checkpoint, then 7 steps"
has out "^restored 2 parameters from t7.safetensors, with the optimizer state and the position: 7 steps done, next epoch 2, step 3" ":restore's message"
printf ':save p0.safetensors\n:train %s --steps 5\n:restore p0.safetensors\n:train %s --steps 14\n:save p14.safetensors\n' \
  "$D" "$D" | repl net.bp --f32
same p14.safetensors t14.safetensors ":restore of the initial parameters, then 14 steps"
has out "^restored 2 parameters from p0.safetensors (it holds no optimizer state: the optimizer starts afresh, at the start of the data)" \
  ":restore of parameters alone"

# ---- d. other data, --epochs, redefinitions -------------------------------------------------
printf ':train %s --steps 3\n:train --data good --batch 5 --steps 2\n:save b5.safetensors\n' "$D" | repl net.bp --f32
has out "^note: other data than before (--data good --batch 5): from its epoch 1, step 1, with the optimizer state kept" "--batch 5"
[ "$(progress b5.safetensors)" = "1 2 2 0" ] && ok || bad "progress after --batch 5 --steps 2: $(progress b5.safetensors)"
# Adam's step count (the state's first double) is 5: 3 steps, then 2
"$st_dump" b5.safetensors | grep -q '^__bpc.opt_state U8 \[[0-9]*\] = 0 0 0 0 0 0 20 64 ' && ok ||
  bad "Adam's step count after 3 + 2 steps is not 5: $("$st_dump" b5.safetensors | grep opt_state | cut -c1-80)"
# --epochs 1 after 3 steps finishes epoch 1
printf ':train %s --steps 3\n:train %s --epochs 1\n:save e1.safetensors\n' "$D" "$D" | repl net.bp --f32
[ "$(progress e1.safetensors)" = "2 0 5 0" ] && ok || bad "progress after --steps 3 then --epochs 1: $(progress e1.safetensors)"
# a statement entered again (the parameters unchanged) keeps the state; a parameter declared
# again starts it afresh
printf ':train %s --steps 7\nloss cross_entropy(logits, y)\nlogits = x @ W + b\n:train %s --steps 7\n:save k14.safetensors\n' \
  "$D" "$D" | repl net.bp --f32
same k14.safetensors t14.safetensors "statements entered again between two :train"
printf ':train %s --steps 7\nparam b[3]\n:save k.safetensors\n' "$D" | repl net.bp --f32
has out "^note: a parameter is declared again, so the optimizer state and the position in the data start afresh" "param declared again"
"$st_dump" k.safetensors | grep -q __bpc && bad "a parameter declared again: :save still wrote a training state" || ok

# ---- e. a step that is not finite ------------------------------------------------------------
# (the REPL's status is 1: its input had errors)
printf 'param q = -1\nloss cross_entropy(logits, y) + sqrt(q)\n:train %s --steps 2\n:print q\n' "$D" |
  "$bpc" repl net.bp >out 2>&1
has out "^error: the loss or its gradient is not finite at epoch 1, step 1 (loss nan); stopping with the parameters from before that step (try a smaller --lr)$" \
  ":train --data stopped at a NaN"
has out "^q = -1$" "the parameters after a NaN stop"
printf 'param q = -1\nloss (w * x + c - y)^2 + sqrt(q)\n:train --steps 2\n:print q\n' | "$bpc" repl lin.bp >out 2>&1
has out "^error: the loss or its gradient is not finite at step 1 (loss nan); stopping with the parameters from before that step$" \
  ":train stopped at a NaN"
has out "^q = -1$" "the parameters after a NaN stop"
[ -e net.ckpt.safetensors ] || [ -e lin.ckpt.safetensors ] && bad ":train's NaN stop wrote a MODEL.ckpt.safetensors" || ok
# with --save, the parameters from before the step (q from 1 to -99 in the first: Adam at lr 100)
printf 'param q = 1\nloss cross_entropy(logits, y) + sqrt(q)\noptimizer adam(lr = 100)\n:train %s --steps 3 --save nq.safetensors\n' "$D" |
  "$bpc" repl net.bp >out 2>&1
has out "step 2 (loss nan); stopping with the parameters from before that step, saved to nq.safetensors (try a smaller --lr)$" ":train --save at a NaN"
[ -f nq.safetensors ] && ok || bad ":train --save stopped at a NaN wrote no nq.safetensors"

# ---- f. fixed inputs: :train and :eval use the session's, as :inputs read them ---------------
# (they read the file again: changed since :inputs, :train trained on other inputs than :step
# and :grad used; removed, it failed). The session below replaces the file once :inputs has
# read it; its output must be that of the same lines with the file left alone.
printf 'param x = 3\n:save xin.safetensors\nparam x = 5\n:save x5.safetensors\n' | "$bpc" repl >out 2>&1
printf ':inputs xin.safetensors\n:train --steps 2\n:eval\n:step\n:grad\n' | "$bpc" repl lin.bp >ref.out 2>&1
repl_fifo . out lin.bp
printf ':inputs xin.safetensors\n' >&3
wait_for out "^inputs from"
cp x5.safetensors xin.safetensors
printf ':train --steps 2\n:eval\n:step\n:grad\n' >&3
exec 3>&-
wait $pid
if cmp -s ref.out out; then ok; else bad ":train after the file of :inputs changed:"; diff ref.out out; fi

# ---- g. Ctrl-C: the prompt comes back after the current step, not after the test set -------
# bigset DIR NTRAIN NTEST: images of random pixels, every label 0
bigset() {
  mkdir -p "$1"
  { bytes 0 0 8 3; be32 "$2"; be32 2; be32 2; head -c $(($2 * 4)) /dev/urandom; } >"$1/train-images-idx3-ubyte"
  { bytes 0 0 8 1; be32 "$2"; head -c "$2" /dev/zero; } >"$1/train-labels-idx1-ubyte"
  { bytes 0 0 8 3; be32 "$3"; be32 2; be32 2; head -c $(($3 * 4)) /dev/urandom; } >"$1/t10k-images-idx3-ubyte"
  { bytes 0 0 8 1; be32 "$3"; head -c "$3" /dev/zero; } >"$1/t10k-labels-idx1-ubyte"
}
bigset longtrain 2000000 6 # an epoch of 2000000 steps at batch 1: seconds
bigset longtest 20 2000000 # 5 steps an epoch, then 500000 batches of test set
repl_fifo . out net.bp
# each SIGINT is sent once the run has said it started: it lands in the run (1000 epochs)
printf ':train --data longtrain --batch 1 --epochs 1000\n' >&3
wait_for out "^training net on longtrain"
kill -INT $pid
printf ':train --data longtest --batch 4 --epochs 1000\n' >&3
wait_for out "^training net on longtest"
kill -INT $pid
printf ':print b\n' >&3
exec 3>&-
wait $pid
st=$?
[ $st -eq 0 ] && ok || bad "the REPL interrupted twice exited $st"
# the epoch line before each 'interrupted' has the train loss and no test loss
grep -B1 "^interrupted at epoch [0-9]* after [0-9]* steps\?$" out | grep "^epoch" >last.txt
if [ "$(grep -c "^epoch [0-9]*\( (partial)\)\?: train loss [0-9.]*, test set \(not evaluated (interrupted)\|evaluation interrupted\), " last.txt)" -eq 2 ]
then ok; else bad "Ctrl-C during :train: the epochs' last lines are not those of runs stopped before the test set:"; cat out; fi
# the first lands in an epoch's steps, 2000000 of them; the second most likely in the test set
grep -q "^epoch [0-9]* (partial): train loss [0-9.]*, test set not evaluated (interrupted), " out && ok ||
  bad "Ctrl-C during :train's steps:"
has out "^b \[3\] =$" "the session after two interrupted :train"
[ -e net.ckpt.safetensors ] && bad "an interrupted :train wrote net.ckpt.safetensors" || ok
# bpc eval (BPC_VERBOSE says when its signal handler is in place): status 130, and the rows done
printf ':save p.safetensors\n' | "$bpc" repl net.bp >/dev/null 2>&1
BPC_VERBOSE=1 "$bpc" eval net.bp --params p.safetensors --data longtest --batch 4 >out 2>err &
pid=$!
wait_for err "JIT compiled"
kill -INT $pid
wait $pid
st=$?
if [ $st -eq 130 ] && grep -q "^interrupted after [0-9]* of the 2000000 test samples$" out && ! grep -q "test loss" out
then ok; else bad "bpc eval under SIGINT exited $st:"; cat out err; fi

finish
