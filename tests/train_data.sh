#!/bin/sh
# `bpc train` and `bpc eval` on small IDX files made here (2x2-pixel images, 3 classes; no
# Fashion-MNIST needed, a few seconds): the errors that stop a run before it starts, each
# with its exit status and message.
#   a. inputs --data does not fill: a default is taken, none is an error (not a crash);
#   b. a checkpoint whose progress is invalid (negative, beyond the epoch, wrong dtype), or
#      whose optimizer state is another optimizer's (one of the other precision is read);
#   c. labels outside the classes of the loss, in IDX files and in --inputs;
#   d. splits of 0 images, labels files of 2 dimensions, images and labels swapped;
#   e. a --save or checkpoint path that cannot be written, found before training;
#   f. test losses at inference: a program with dropout is evaluated as without it;
#   g. a loss that is not finite: printed as nan (sqrt(-1)'s NaN printed as -nan); the stop
#      saves the parameters from before the step and names the file (it said nothing);
#   h. a program that is not a classifier prints no accuracy;
#   i. what an epoch is: every sample once, the last batch smaller, the train loss the mean
#      over samples;
#   j. a Ctrl-C while the data loads stops before the first step (one step ran);
#   k. so does a signal while the model compiles, with or without --data;
#   l. a BPRT_NUM_THREADS that is not a thread count: one warning, and the run uses the cores;
#   m. a BPRT_ISA that names no ISA, or one the CPU cannot run: one warning, and the run uses
#      the CPU's own;
#   n. what bpc eval measures: the mean loss over the samples at any --batch, and the
#      accuracy of the loss's scores (not of another output of their shape), ties to the first.
# usage: train_data.sh BPC ST_DUMP
set -u
bpc=$1
st_dump=$2
st_rewrite=$3
. "$(dirname "$0")/lib.sh"
run() { # want-status cmd... (stdout in $tmp/out, stderr in $tmp/err); 60 s at most
  want=$1; shift
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "'$*' exited $got, expected $want"; head -c 2000 "$tmp/out" "$tmp/err"; fi
}

cd "$tmp" || exit 1

dataset good "0 1 2 0 1 2 0 1 2 0 1 2 0 1 2 0 1 2 0 1" "2 1 0 2 1 0"

net='input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nlogits = x @ W\n'
printf "${net}loss cross_entropy(logits, y)\noutput logits\n" >net.bp
run 0 "$bpc" train net.bp --data good --steps 3 --batch 4
has out "^epoch 1 (partial): train loss [0-9]" "training on the small data"

# ---- a. an input --data does not fill takes its default; one without is an error ---------
printf "${net}input z = 3\nloss cross_entropy(logits, y) * z\noutput logits\n" >z3.bp
run 0 "$bpc" train z3.bp --data good --steps 2 --batch 4 --save z3.safetensors
run 0 "$bpc" eval z3.bp --data good --params z3.safetensors
has out "^test loss [0-9.]*, test accuracy [0-9.]*% (6 samples)" "eval with a defaulted input"
# the default counts: three times the loss of the same parameters without z
l3=$(sed -n 's/^test loss \([0-9.]*\),.*/\1/p' out)
run 0 "$bpc" eval net.bp --data good --params z3.safetensors
l1=$(sed -n 's/^test loss \([0-9.]*\),.*/\1/p' out)
if awk -v a="$l3" -v b="$l1" 'BEGIN { d = a - 3 * b; exit !(a != "" && b > 0 && d < 1e-3 && d > -1e-3) }'; then ok
else bad "test loss with z = 3 is '$l3', expected 3 x '$l1'"; fi
# several outputs (the test split's evaluation gave NAME_forward one buffer: a segfault in
# train, eval and :eval); accuracy is read from the output that has the loss's 3 classes
run 0 "$bpc" eval net.bp --data good --params z3.safetensors
cp out one.out
for outs in "h, logits" "logits, h"; do
  printf "${net}h = x * 2\nloss cross_entropy(logits, y)\noutput $outs\n" >two.bp
  run 0 "$bpc" train two.bp --data good --steps 2 --batch 4 --save two.safetensors
  has out "^saved parameters to two.safetensors" "train with output $outs"
  run 0 "$bpc" eval two.bp --data good --params z3.safetensors
  cmp -s out one.out && ok || bad "eval with output $outs: '$(cat out)', expected '$(cat one.out)'"
done
# a defaulted [B] input, and a default declared before the images
printf 'input s = 2\ninput x[B, 4]\ninput w[B] = 0.5\ninput y[B] : int\nparam W[4, 3]\nlogits = (x * s) @ W\nloss cross_entropy(logits, y) * mean(w)\noutput logits\n' >zb.bp
run 0 "$bpc" train zb.bp --data good --steps 2 --batch 4
for decl in "z" "z[B]" "z[B] : int"; do
  printf "${net}input $decl\nloss cross_entropy(logits, y)\noutput logits\n" >z.bp
  run 1 "$bpc" train z.bp --data good --steps 2 --batch 4
  has err "^bpc: error: --data good: input 'z' has no value: --data fills only 'x' (images) and 'y' (labels); give it a default (input z = VALUE)$" "input $decl without a default"
  run 1 "$bpc" eval z.bp --data good --params z3.safetensors
  has err "input 'z' has no value" "eval, input $decl without a default"
done
printf 'input x[B, 4]\ninput x2[B, 4]\ninput y[B] : int\nparam W[4, 3]\nloss cross_entropy((x + x2) @ W, y)\n' >x2.bp
run 1 "$bpc" train x2.bp --data good --steps 2 --batch 4
has err "input 'x2' has no value: --data fills only 'x' (images)" "a second image input"
printf "${net}input n[N] = 1\nloss cross_entropy(logits, y) * sum(n)\noutput logits\n" >zn.bp
run 1 "$bpc" train zn.bp --data good --steps 2 --batch 4
has err "^bpc: error: --data good: input 'n' \[N\] has the size 'N', which --data does not set (only the batch 'B')$" "another size"
# a default's batch buffer of more than 2^63 elements: [B, 65536, 65536, 16] at --batch 2^28
# is 2^64; the count wrapped to 0 (signed overflow), and only a later allocation's limit
# stopped the run (BPC_MEMORY_LIMIT keeps a regression from allocating gigabytes)
printf "${net}input z[B, 65536, 65536, 16] = 0\nloss cross_entropy(logits, y) + mean(z)\n" >zbig.bp
run 1 env BPC_MEMORY_LIMIT=100000000 "$bpc" train zbig.bp --data good --steps 1 --batch 268435456
has err "^bpc: error: --data good: cannot hold the batch buffer for input 'z' (268435456 x 65536 x 65536 x 16 floats, its default): more than 2^63 elements$" "a default of more than 2^63 elements at the batch"

# ---- b. checkpoint progress: I64 [epoch, step, steps done, seed], validated on load ------
# 20 samples at batch 4: 5 steps an epoch. The progress is the checkpoint's last 32 bytes.
run 0 "$bpc" train net.bp --data good --steps 2 --batch 4 --seed 7 --save c.safetensors
# progress FILE EPOCH STEP DONE SEED: c.safetensors with that progress (values >= -1)
i64() { if [ "$1" -lt 0 ]; then bytes 255 255 255 255 255 255 255 255; else bytes $(($1 & 255)) $(($1 >> 8 & 255)) 0 0 0 0 0 0; fi; }
progress() {
  f=$1; shift
  size=$(wc -c <c.safetensors)
  { head -c $((size - 32)) c.safetensors; for v in "$@"; do i64 "$v"; done; } >"$f"
}
progress p.safetensors 1 4 4 7
run 0 "$bpc" train net.bp --data good --steps 5 --batch 4 --params p.safetensors
has out "^resuming from p.safetensors: epoch 1, step 5 (4 steps done)" "a valid progress"
# resuming with another batch is allowed while the step lies within the epoch
progress p.safetensors 1 1 1 7
run 0 "$bpc" train net.bp --data good --steps 2 --batch 10 --params p.safetensors
has out "^epoch 1: train loss" "resumed with another batch"
for p in "0 1 1 7:epoch 0 is not in \[1, 2147483646\]" "-1 1 1 7:epoch -1 is not in" \
         "1 -1 1 7:step -1 is negative" "1 2 -1 7:steps done -1 is less than the step in the epoch (2)" \
         "1 3 2 7:steps done 2 is less than the step in the epoch (3)" \
         "1 5 5 7:step 5 is not below the 5 steps of an epoch here (20 samples at batch 4); was it saved with another --batch or data set?" \
         "1 300 300 7:step 300 is not below the 5 steps"; do
  progress p.safetensors ${p%%:*}
  run 1 "$bpc" train net.bp --data good --steps 1 --batch 4 --params p.safetensors
  has err "^bpc: error: p.safetensors: invalid checkpoint progress: ${p#*:}" "progress ${p%%:*}"
  hasnt out "^epoch" "progress ${p%%:*}"
done
# a checkpoint from a larger batch: its step is past this batch's epoch
progress p.safetensors 1 3 3 7
run 1 "$bpc" train net.bp --data good --steps 1 --batch 8 --params p.safetensors
has err "step 3 is not below the 3 steps of an epoch here (20 samples at batch 8)" "another batch"
# the wrong dtype (I32 [8]: the same bytes)
LC_ALL=C sed 's/"__bpc.progress":{"dtype":"I64","shape":\[4\]/"__bpc.progress":{"dtype":"I32","shape":[8]/' c.safetensors >p.safetensors
run 1 "$bpc" train net.bp --data good --steps 1 --batch 4 --params p.safetensors
has err "^bpc: error: p.safetensors: invalid checkpoint progress: '__bpc.progress' is I32 \[8\], expected I64 \[4\]" "progress dtype"
# the optimizer state of another dtype (I8: the same bytes) is named as such; it said "has N
# bytes, this program's optimizer needs N" as if its element count were its bytes
LC_ALL=C sed 's/"__bpc.opt_state":{"dtype":"U8"/"__bpc.opt_state":{"dtype":"I8"/' c.safetensors >p.safetensors
run 1 "$bpc" train net.bp --data good --steps 1 --batch 4 --params p.safetensors
has err "^bpc: error: p.safetensors: invalid checkpoint: '__bpc.opt_state' is I8 \[[0-9]*\], expected U8 (the optimizer state's [0-9]* bytes)$" "optimizer state dtype"
# an optimizer state whose bytes are damaged (8 bytes of 0xff: a NaN) is refused, naming what
# is wrong, and --save leaves the checkpoint as it was; it was read, the first step made every
# parameter NaN, and the stop at the next step saved those over the checkpoint
# (Adam's: a step count, then its two moments, each of the 12 floats of W padded to 64 bytes)
printf "${net}loss cross_entropy(logits, y)\noptimizer adam(lr=0.01)\n" >adam.bp
run 0 "$bpc" train adam.bp --data good --steps 2 --batch 4 --save ca.safetensors
n=$(LC_ALL=C sed -n 's/.*"__bpc.opt_state":{"dtype":"U8","shape":\[\([0-9]*\)\].*/\1/p' ca.safetensors)
damage() { # FILE OFFSET: ca.safetensors with 8 bytes of 0xff at OFFSET into the optimizer state
  size=$(wc -c <ca.safetensors)
  { head -c $((size - 32 - n + $2)) ca.safetensors; bytes 255 255 255 255 255 255 255 255
    tail -c $((32 + n - $2 - 8)) ca.safetensors; } >"$1"
}
for d in "0:the optimizer state's step count is nan, not a whole number from 0 to 2^53 (a damaged file?)" \
         "64:the optimizer state's first moment of 'W' is nan at element 0 (a damaged file?)" \
         "132:the optimizer state's second moment of 'W' is nan at element 1 (a damaged file?)"; do
  damage p.safetensors ${d%%:*}
  cp p.safetensors p0.safetensors
  run 1 "$bpc" train adam.bp --data good --steps 4 --batch 4 --params p.safetensors --save p.safetensors
  has err "^bpc: error: p.safetensors: invalid checkpoint: ${d#*:}$" "damaged optimizer state at ${d%%:*}"
  hasnt out "^epoch" "damaged optimizer state at ${d%%:*}"
  if cmp -s p.safetensors p0.safetensors; then ok; else bad "damaged optimizer state at ${d%%:*}: the checkpoint was written"; fi
done
# a double state resumed in float: a moment beyond float's range (1e300) is refused, not
# converted to inf
run 0 "$bpc" train adam.bp --data good --steps 2 --batch 4 --f64 --save c64.safetensors
n64=$(LC_ALL=C sed -n 's/.*"__bpc.opt_state":{"dtype":"U8","shape":\[\([0-9]*\)\].*/\1/p' c64.safetensors)
size=$(wc -c <c64.safetensors)
{ head -c $((size - 32 - n64 + 64)) c64.safetensors; bytes 156 117 0 136 60 228 55 126
  tail -c $((32 + n64 - 64 - 8)) c64.safetensors; } >p.safetensors
run 1 "$bpc" train adam.bp --data good --steps 4 --batch 4 --params p.safetensors
has err "^bpc: error: p.safetensors: invalid checkpoint: the optimizer state's first moment of 'W' is 1e+300 at element 0, beyond float's range (this run keeps its state in float) (a damaged file?)$" "double moment beyond float"
# --steps and --epochs count from the start of training (--steps counted the steps of this
# run, --epochs the total): a checkpoint that has done them trains nothing and says so
run 0 "$bpc" train net.bp --data good --steps 2 --batch 4 --params c.safetensors
has out "^nothing to train: c.safetensors has 2 steps done and this run asks for 2 in all" "--steps done"
hasnt out "^epoch" "--steps done"
progress p.safetensors 3 0 10 7
run 0 "$bpc" train net.bp --data good --epochs 2 --batch 4 --params p.safetensors
has out "^nothing to train: p.safetensors has finished 2 epochs and this run asks for 2 in all" "--epochs done"
run 0 "$bpc" train net.bp --data good --epochs 3 --batch 4 --params p.safetensors
has out "^epoch 3: train loss" "--epochs 3 after 2"
# --steps ends in the epoch of its last step, however many epochs that is: a cap of 1000000
# epochs stopped the run at the end of epoch 1000000 (1000001 steps done of 1000003 asked,
# exit 0, not a word). Resumed at epoch 1000000's last step (of 5 at batch 4): that step,
# then two of epoch 1000001
i64w() { bytes $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)) 0 0 0 0; }
size=$(wc -c <c.safetensors)
{ head -c $((size - 32)) c.safetensors; for v in 1000000 4 1000000 7; do i64w $v; done; } >pm.safetensors
run 0 "$bpc" train net.bp --data good --steps 1000003 --batch 4 --params pm.safetensors --save pm2.safetensors
has out "^epoch 1000000: train loss" "the last step of epoch 1000000"
has out "^epoch 1000001 (partial): train loss" "--steps past epoch 1000000"
# --seed other than the checkpoint's is not used, and a warning says so (it was silent)
run 0 "$bpc" train net.bp --data good --steps 3 --batch 4 --seed 9 --params c.safetensors
has err "^bpc: warning: --seed 9 is not used: c.safetensors goes on with the seed it was trained with (7)" "--seed on resume"
has out "^epoch 1 (partial): train loss" "--seed on resume"
run 0 "$bpc" train net.bp --data good --steps 3 --batch 4 --seed 7 --params c.safetensors
hasnt err "warning" "the checkpoint's own --seed"
# an optimizer state written in double (--f64) resumes in float and the other way round (it
# was refused as a state of another size); one of another optimizer still is
run 0 "$bpc" train net.bp --data good --steps 2 --batch 4 --opt adam --f64 --save a64.safetensors
run 0 "$bpc" train net.bp --data good --steps 4 --batch 4 --opt adam --params a64.safetensors --save a32.safetensors
has out "^resuming from a64.safetensors: epoch 1, step 3 (2 steps done)" "a double optimizer state resumed in float"
run 0 "$bpc" train net.bp --data good --steps 6 --batch 4 --opt adam --f64 --params a32.safetensors
has out "^resuming from a32.safetensors: epoch 1, step 5 (4 steps done)" "a float optimizer state resumed in double"
# a model of 8 reals or fewer, whose state has as many bytes in either precision: the
# precision is the saved parameters' (the byte count was taken to tell: doubles read as
# floats gave a loss of NaN at step 5), and the resumed runs end as uninterrupted ones do
printf 'input x = 2\ninput y = 1\nparam w = 0.5\nparam c = 0\nloss (w * x + c - y)^2 + 0.1 * w^2\noptimizer adam(lr = 0.1)\n' >lin.bp
final_loss() { sed -n 's/^final loss //p' out; }
for p in "--f64:" ":--f64"; do
  run 0 "$bpc" train lin.bp --steps 3 ${p%%:*} --save l3.safetensors
  run 0 "$bpc" train lin.bp --steps 6 ${p#*:} --params l3.safetensors
  resumed=$(final_loss)
  run 0 "$bpc" train lin.bp --steps 6 ${p#*:}
  awk -v a="$resumed" -v b="$(final_loss)" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-6 && d > -1e-6) }' && ok ||
    bad "lin.bp: 3 steps (${p%%:*}) resumed to 6 (${p#*:}) end at loss '$resumed', 6 steps at '$(final_loss)'"
done
# a double checkpoint resumed without --f64 goes on in float and saves float: a note says so
# (it was done silently); with --f64, or a float checkpoint, there is none
run 0 "$bpc" train lin.bp --steps 3 --f64 --save l64.safetensors
run 0 "$bpc" train lin.bp --steps 6 --params l64.safetensors --save l6.safetensors
has err "^bpc: note: l64.safetensors holds double (F64) parameters; this run trains in float and saves float (give --f64 to go on in double)$" \
  "a double checkpoint resumed in float"
grep -q '"dtype":"F32"' l6.safetensors && ok || bad "the float run's checkpoint is not float"
run 0 "$bpc" train lin.bp --steps 6 --params l64.safetensors --f64
hasnt err "note" "a double checkpoint resumed with --f64"
run 0 "$bpc" train lin.bp --steps 9 --params l6.safetensors
hasnt err "note" "a float checkpoint resumed in float"
run 0 "$bpc" eval lin.bp --params l64.safetensors
hasnt err "note" "bpc eval of a double checkpoint (it saves nothing)"
run 1 "$bpc" train net.bp --data good --steps 6 --batch 4 --opt sgd --params a32.safetensors
has err "^bpc: error: a32.safetensors: checkpoint's optimizer state has [0-9]* bytes, this program's optimizer needs 64" \
  "an optimizer state of another optimizer"
# the optimizer state follows the parameters by name: a program whose declarations were
# reordered since the checkpoint resumes it as the program that wrote it does (the state was
# read in the new order: b's Adam moments went to W and W's to b, without a word). In double
# and in float, and from a double checkpoint into a float run.
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3] = normal(0.5)\nparam b[3] = normal(0.5)\nloss cross_entropy(x @ W + b, y)\noptimizer adam(lr = 0.05)\n' >wb.bp
printf 'input x[B, 4]\ninput y[B] : int\nparam b[3] = normal(0.5)\nparam W[4, 3] = normal(0.5)\nloss cross_entropy(x @ W + b, y)\noptimizer adam(lr = 0.05)\n' >bw.bp
params_of() { "$st_dump" "$1" | grep -v '^__bpc.opt_' | sort; }
for p in "--f64:--f64" ":" "--f64:"; do
  run 0 "$bpc" train wb.bp --data good --steps 2 --batch 4 ${p%%:*} --save wb2.safetensors
  run 0 "$bpc" train wb.bp --data good --steps 5 --batch 4 ${p#*:} --params wb2.safetensors --save wb5.safetensors
  run 0 "$bpc" train bw.bp --data good --steps 5 --batch 4 ${p#*:} --params wb2.safetensors --save bw5.safetensors
  params_of wb5.safetensors >wb5.txt
  params_of bw5.safetensors >bw5.txt
  [ -s wb5.txt ] && cmp -s wb5.txt bw5.txt && ok ||
    { bad "a checkpoint resumed by its program with the parameters declared in another order (${p%%:*} to ${p#*:}):"; diff wb5.txt bw5.txt; }
done
# and the REPL's :restore, in its program's order: bw.bp's session goes on as wb.bp's run
run 0 "$bpc" train wb.bp --data good --steps 5 --batch 4 --f64 --save wb5.safetensors
printf ':restore wb2.safetensors\n:train --data good --batch 4 --steps 3 --f64\n:save bw5.safetensors\n' >bw.bpr
run 0 "$bpc" repl bw.bp <bw.bpr
params_of wb5.safetensors >wb5.txt
params_of bw5.safetensors >bw5.txt
[ -s wb5.txt ] && cmp -s wb5.txt bw5.txt && ok || { bad ":restore into a program of another order:"; diff wb5.txt bw5.txt; }
# The order is the file's '__bpc.opt_order' (the parameters' names in the state's order), not
# its data's: rewritten by a tool that lays the tensors out by name (V before W, both before
# the '__bpc.' ones, as bpc lays them out), a checkpoint of a program declaring W, then V,
# resumes as the file bpc wrote (the state was read in V, W's order: W's Adam moments went to
# V and V's to W, without a word). Without '__bpc.opt_order' (bpc's checkpoints before it, or
# a tool that dropped it) the data's order is all there is: bpc's layout still resumes exactly.
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3] = normal(0.5)\nparam V[3, 3] = normal(0.5)\nloss cross_entropy(tanh(x @ W) @ V, y)\noptimizer adam(lr = 0.05)\n' >wv.bp
for p in "" "--f64"; do
  run 0 "$bpc" train wv.bp --data good --steps 2 --batch 4 $p --save wv2.safetensors
  run 0 "$bpc" train wv.bp --data good --steps 5 --batch 4 $p --params wv2.safetensors --save wv5.safetensors
  "$st_dump" wv5.safetensors >wv5.txt
  for how in "--sort" "--drop __bpc.opt_order"; do
    "$st_rewrite" wv2.safetensors re2.safetensors $how || bad "st_rewrite $how"
    run 0 "$bpc" train wv.bp --data good --steps 5 --batch 4 $p --params re2.safetensors --save re5.safetensors
    "$st_dump" re5.safetensors >re5.txt
    [ -s wv5.txt ] && cmp -s wv5.txt re5.txt && ok ||
      { bad "a checkpoint rewritten ($how $p) resumes otherwise:"; diff wv5.txt re5.txt; }
  done
done
"$st_rewrite" wv2.safetensors re2.safetensors --sort
"$st_dump" re2.safetensors | awk '{ printf "%s ", $1 }' | grep -q '^V W __bpc.opt_order __bpc.opt_state __bpc.progress $' &&
  ok || bad "st_rewrite --sort's order: $("$st_dump" re2.safetensors | awk '{ printf "%s ", $1 }')"
# a damaged '__bpc.opt_order' is an error naming the file and the problem (in the REPL too)
for c in "W\\nW\\n:names 'W' twice" "W\\nU\\n:names 'U', not a parameter of this program" \
         "W\\n:does not name the parameter 'V'" "W\\nV:does not end with a newline after 'V'"; do
  "$st_rewrite" wv2.safetensors re2.safetensors --bytes __bpc.opt_order "${c%%:*}" || bad "st_rewrite --bytes"
  run 1 "$bpc" train wv.bp --data good --steps 5 --batch 4 --params re2.safetensors
  has err "^bpc: error: re2.safetensors: invalid checkpoint: '__bpc.opt_order' ${c#*:} (a damaged file, or another program's?)$" \
    "opt_order ${c%%:*}"
done
printf ':restore re2.safetensors\n' >re.bpr
run 1 "$bpc" repl wv.bp <re.bpr
has err "re2.safetensors: invalid checkpoint: '__bpc.opt_order' does not end with a newline" ":restore of a damaged opt_order"
# not U8 bytes: said so
"$st_rewrite" wv2.safetensors re2.safetensors --sort
LC_ALL=C sed 's/"__bpc.opt_order":{"dtype":"U8"/"__bpc.opt_order":{"dtype":"I8"/' re2.safetensors >re3.safetensors
run 1 "$bpc" train wv.bp --data good --steps 5 --batch 4 --params re3.safetensors
has err "^bpc: error: re3.safetensors: invalid checkpoint: '__bpc.opt_order' is I8 \[[0-9]*\], expected U8 bytes (the parameters' names in the order of the optimizer state)$" \
  "opt_order of I8"
# without '__bpc.opt_order', a checkpoint as bpc lays it out is still read in its data's
# order: wb.bp's, without the list, resumed by bw.bp goes on as wb.bp's run
run 0 "$bpc" train wb.bp --data good --steps 2 --batch 4 --save wb2.safetensors
run 0 "$bpc" train wb.bp --data good --steps 5 --batch 4 --params wb2.safetensors --save wb5.safetensors
"$st_rewrite" wb2.safetensors old2.safetensors --drop __bpc.opt_order || bad "st_rewrite --drop"
run 0 "$bpc" train bw.bp --data good --steps 5 --batch 4 --params old2.safetensors --save bw5.safetensors
params_of wb5.safetensors >wb5.txt
params_of bw5.safetensors >bw5.txt
[ -s wb5.txt ] && cmp -s wb5.txt bw5.txt && ok || { bad "a checkpoint without its order, resumed in another order:"; diff wb5.txt bw5.txt; }

# ---- c. labels outside the classes: an error naming the file, the label and the classes ---
dataset badtrain "0 1 2 0 1 2 0 1 2 0 1 2 0 7 2 0 1 2 0 1" "2 1 0 2 1 0"
# a checkpoint whose parameter (W, alone) was converted to F16 or BF16 by hand: its optimizer
# state is in the precision it was trained in, which W's dtype no longer tells. Its size tells
# for W[4, 3] (192 bytes: Adam over F32; --f64 said "192 bytes, this program's optimizer needs
# 320 (another optimizer?)"); for W[2] it fits both (--f64 read the float state as double
# without a word), and for SGD neither: the errors name the file, the tensor and its dtype
half() { # IN OUT DTYPE: IN's W (F32, N reals) as N zeros of DTYPE, the rest as they are
  hdr=$(dd if="$1" bs=1 skip=8 count=$(($(od -An -tu2 -N2 "$1") + 0)) 2>/dev/null)
  sh=$(printf '%s' "$hdr" | sed 's/.*"W":{"dtype":"F32","shape":\(\[[0-9,]*\]\),"data_offsets":\[0,\([0-9]*\)\].*/\1 \2/')
  n=$((${sh#* } / 4)) k=$(printf '%s' "$hdr" | sed 's/.*"__bpc.opt_state":{"dtype":"U8","shape":\[\([0-9]*\)\].*/\1/')
  h='{"W":{"dtype":"'$3'","shape":'${sh% *}',"data_offsets":[0,'$((2 * n))']},"__bpc.opt_state":{"dtype":"U8","shape":['$k'],"data_offsets":['$((2 * n))','$((2 * n + k))']},"__bpc.progress":{"dtype":"I64","shape":[4],"data_offsets":['$((2 * n + k))','$((2 * n + k + 32))']}}'
  while [ $((${#h} % 8)) -ne 0 ]; do h="$h "; done
  size=$(wc -c <"$1")
  { bytes $((${#h} & 255)) $((${#h} >> 8)) 0 0 0 0 0 0; printf '%s' "$h"; head -c $((2 * n)) /dev/zero
    tail -c $((k + 32)) "$1"; } >"$2"
}
printf 'input x = 1\nparam W[4, 3] = normal(1)\nloss sum(W * W) * x\n' >sq.bp
printf 'input x = 1\nparam W[2] = normal(1)\nloss sum(W * W) * x\n' >sq2.bp
run 0 "$bpc" train sq.bp --steps 2 --opt adam --save sq.safetensors
run 0 "$bpc" train sq2.bp --steps 2 --opt adam --save sq2.safetensors
half sq.safetensors sqh.safetensors F16
half sq2.safetensors sq2h.safetensors BF16
run 0 "$bpc" train sq.bp --steps 3 --opt adam --f64 --params sqh.safetensors
has out "^resuming from sqh.safetensors: step 3 (2 steps done)$" "an F16 checkpoint's float state resumed in double"
# on fixed inputs: no epochs in the resume line (it said "epoch 1, step 1"), and --seed's
# warning does not speak of a data order
run 0 "$bpc" train sq.bp --steps 3 --opt adam --f64 --seed 9 --params sq.safetensors
has err "^bpc: warning: --seed 9 is not used: the parameters come from sq.safetensors, and on fixed inputs the seed draws only the initial parameters$" "--seed on a resume on fixed inputs"
run 1 "$bpc" train sq2.bp --steps 3 --opt adam --f64 --params sq2h.safetensors
has err "^bpc: error: sq2h.safetensors: tensor 'W' is BF16: a checkpoint's optimizer state is in the precision of its parameters, F32 or F64, and its 192 bytes fit both here" "a BF16 checkpoint whose state fits both precisions"
# the REPL's :restore keeps the parameters and position and says why the optimizer starts afresh
printf ':restore sq2h.safetensors\n' >restore.bpr
run 0 "$bpc" repl sq2.bp --f64 <restore.bpr
has out "^restored 1 parameter from sq2h.safetensors, with the position: 2 steps done (the optimizer starts afresh: sq2h.safetensors: tensor 'W' is BF16" ":restore of a BF16 checkpoint"
run 1 "$bpc" train sq.bp --steps 3 --opt sgd --params sqh.safetensors
has err "^bpc: error: sqh.safetensors: tensor 'W' is F16, and the optimizer state saved with it has 192 bytes, not the 64 of this program's optimizer (was it saved with another optimizer or program?)$" "an F16 checkpoint of another optimizer"
run 1 "$bpc" train net.bp --data badtrain --steps 1 --batch 4
has err "^bpc: error: badtrain/train-labels-idx1-ubyte: label 13 is 7, outside the 3 classes of the loss (0 to 2)$" "a training label out of range"
dataset badtest "0 1 2 0 1 2 0 1 2 0 1 2 0 1 2 0 1 2 0 1" "2 1 0 3 1 0"
run 1 "$bpc" eval net.bp --data badtest --params z3.safetensors
has err "^bpc: error: badtest/t10k-labels-idx1-ubyte: label 3 is 3, outside the 3 classes of the loss (0 to 2)$" "a test label out of range"
# nll's labels, the scores not an output
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nloss nll(log_softmax(x @ W, axis = 1), y)\n' >nll.bp
run 1 "$bpc" train nll.bp --data badtrain --steps 1 --batch 4
has err "label 13 is 7, outside the 3 classes of the loss (0 to 2)" "nll's labels"
# --inputs: x [2, 4] F32 zeros and y [2] I32 (bpc grad and bpc train)
st_inputs() { # FILE Y0 Y1
  h='{"x":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"y":{"dtype":"I32","shape":[2],"data_offsets":[32,40]}}'
  while [ $((${#h} % 8)) -ne 0 ]; do h="$h "; done
  { bytes $((${#h} & 255)) $((${#h} >> 8)) 0 0 0 0 0 0; printf '%s' "$h"; head -c 32 /dev/zero
    for v in "$2" "$3"; do if [ "$v" -lt 0 ]; then bytes 255 255 255 255; else bytes "$v" 0 0 0; fi; done; } >"$1"
}
# with_labels Y0 Y1 STATUS FILE TEXT WHAT CMD...: CMD on those labels exits STATUS, TEXT in FILE
with_labels() {
  st_inputs in.safetensors "$1" "$2"; want=$3 f=$4 text=$5 what=$6; shift 6
  run "$want" "$@" --inputs in.safetensors
  has "$f" "$text" "$what"
}
with_labels 1 2 0 out "^loss = 1.09861" "bpc grad with valid labels" "$bpc" grad net.bp
with_labels 1 3 1 err "^bpc: error: in.safetensors: input 'y' element 1 is 3, outside the 3 classes of the loss (0 to 2)$" \
  "bpc grad, a label of 3" "$bpc" grad net.bp
with_labels -1 0 1 err "^bpc: error: in.safetensors: input 'y' element 0 is -1, outside the 3 classes of the loss (0 to 2)$" \
  "bpc train, a label of -1" "$bpc" train net.bp --steps 2
# ids of an embedding: its table's rows bound them, here fewer than the loss's classes (an id
# past them read a row of NaN: the loss was NaN)
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nparam E[2, 3]\nloss cross_entropy(x @ W + embedding(E, y), y)\n' >emb.bp
with_labels 1 2 1 err "^bpc: error: in.safetensors: input 'y' element 1 is 2, outside the 2 rows of the embedding table (0 to 1)$" \
  "an id past the table" "$bpc" grad emb.bp
with_labels 1 0 0 out "^loss = " "ids within the table" "$bpc" grad emb.bp
# a batch of 0 rows: the message says why ("has shape [0, 4], the program declares [B, 4]")
h='{"x":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"y":{"dtype":"I32","shape":[0],"data_offsets":[0,0]}}'
while [ $((${#h} % 8)) -ne 0 ]; do h="$h "; done
{ bytes $((${#h} & 255)) $((${#h} >> 8)) 0 0 0 0 0 0; printf '%s' "$h"; } >empty.safetensors
run 1 "$bpc" grad net.bp --inputs empty.safetensors
has err "^bpc: error: empty.safetensors: input 'x' has shape \[0, 4\], the program declares \[B, 4\]: B would be 0, and a size is at least 1$" "a batch of 0"

# ---- d. a split of 0 images ----------------------------------------------------------------
dataset notest "0 1 2 0" ""
run 1 "$bpc" eval net.bp --data notest --params z3.safetensors
has err "^bpc: error: notest/t10k-images-idx3-ubyte: holds 0 images" "an empty test split"
run 1 "$bpc" train net.bp --data notest --steps 1
has err "^bpc: error: notest/t10k-images-idx3-ubyte: holds 0 images" "training with an empty test split"
dataset notrain "" "0 1 2"
run 1 "$bpc" train net.bp --data notrain --epochs 2
has err "^bpc: error: notrain/train-images-idx3-ubyte: holds 0 images" "an empty training split"
hasnt out "^epoch" "an empty training split"
# the files' shapes before their counts: labels of shape [N, 1], or the two files swapped,
# were "4 images but ... holds 4 labels"
dataset shapes "0 1 2 0" "0 1 2"
{ bytes 0 0 8 2; be32 4; be32 1; bytes 0 1 2 0; } >shapes/train-labels-idx1-ubyte
run 1 "$bpc" train net.bp --data shapes --steps 1
has err "^bpc: error: shapes/train-labels-idx1-ubyte: dims 4 x 1, but labels have 1 dimension (one label per image)$" "labels of 2 dimensions"
dataset swapped "0 1 2 0" "0 1 2"
mv swapped/t10k-images-idx3-ubyte swapped/x && mv swapped/t10k-labels-idx1-ubyte swapped/t10k-images-idx3-ubyte &&
  mv swapped/x swapped/t10k-labels-idx1-ubyte
run 1 "$bpc" train net.bp --data swapped --steps 1
has err "^bpc: error: swapped/t10k-images-idx3-ubyte: dims 3, but images have 2 or more dimensions (count x rows x columns) (are the images and labels files swapped?)$" "swapped files"
dataset fewer "0 1 2 0" "0 1 2"
labels fewer/t10k-labels-idx1-ubyte 0 1
run 1 "$bpc" train net.bp --data fewer --steps 1
has err "^bpc: error: fewer/t10k-images-idx3-ubyte: 3 images but fewer/t10k-labels-idx1-ubyte holds 2 labels$" "fewer labels than images"
# test images of another size than the training ones: an error naming both (3x3 test images
# beside 2x2 training ones were read 4 bytes each, past the end of their buffer)
dataset sizes "0 1 2 0" "0 1 2"
{ bytes 0 0 8 3; be32 3; be32 3; be32 3; i=0; while [ $i -lt 27 ]; do bytes $i; i=$((i + 1)); done; } >sizes/t10k-images-idx3-ubyte
run 1 "$bpc" train net.bp --data sizes --steps 1
has err "^bpc: error: sizes/t10k-images-idx3-ubyte: images of 3x3 pixels, but the training images (sizes/train-images-idx3-ubyte) are 2x2$" "test images of another size"
# an input that keeps the images' rows and columns takes images of those only (2x2 images were
# fed to [B, 1, 1, 4] as one row of 4); flattened, any layout of 4 pixels does
printf 'input x[B, 1, 1, 4]\ninput y[B] : int\nparam W[4, 3]\nloss cross_entropy(reshape(x, [-1, 4]) @ W, y)\n' >row.bp
run 1 "$bpc" train row.bp --data good --steps 1
has err "^bpc: error: good/train-images-idx3-ubyte: images of 2x2 pixels do not fit the input 'x' \[B, 1, 1, 4\], which keeps their rows and columns (declare it \[B, 4\] to take them flattened)$" "2x2 images for [B, 1, 1, 4]"
sed 's/1, 1, 4/1, 2, 2/' row.bp >square.bp
run 0 "$bpc" train square.bp --data good --steps 1
# an images input with a symbolic size besides the batch: --data sets none, and two of them
# (x [B, H, C, 2, 2]) passed the pixel count; H = C = 0 left x empty and it trained on no pixel
# (train loss ln 3 = 1.0986 at every step)
printf 'input x[B, H, C, 2, 2]\ninput y[B] : int\nparam W[4, 3]\nloss cross_entropy(reshape(sum(sum(x, axis=1), axis=1), [-1, 4]) @ W, y)\n' >hc.bp
run 1 "$bpc" train hc.bp --data good --steps 1
has err "^bpc: error: good: images of 4 pixels and labels do not fit the inputs 'x' \[B, H, C, 2, 2\] and 'y' \[B\]" "an images input of sizes --data does not set"
# test images of other rows and columns than the training ones, of as many pixels
dataset rows "0 1 2 0" "0 1 2"
{ bytes 0 0 8 3; be32 3; be32 1; be32 4; i=0; while [ $i -lt 12 ]; do bytes $i; i=$((i + 1)); done; } >rows/t10k-images-idx3-ubyte
run 1 "$bpc" train square.bp --data rows --steps 1
has err "^bpc: error: rows/t10k-images-idx3-ubyte: images of 1x4 pixels, but the training images (rows/train-images-idx3-ubyte) are 2x2$" "test images of other rows and columns"
# bpc eval reads the test split alone (it stopped at the training files' absence)
mkdir -p testonly && cp good/t10k-* testonly/
run 0 "$bpc" eval net.bp --data testonly --params z3.safetensors
cmp -s out one.out && ok || { bad "eval on the test files alone:"; cat out one.out; }
run 1 "$bpc" eval net.bp --data sizes --params z3.safetensors
has err "^bpc: error: sizes: images of 9 pixels and labels do not fit the inputs 'x' \[B, 4\] and 'y' \[B\]" "eval of test images of another size"

# ---- e. --save and checkpoint paths are tried before training -------------------------------
run 1 "$bpc" train net.bp --data good --epochs 1 --batch 4 --save nodir/w.safetensors
has err "^bpc: error: --save nodir/w.safetensors: cannot create nodir/w.safetensors.tmp.[0-9]*: No such file or directory$" "--save in a missing directory"
hasnt out "^epoch" "--save in a missing directory"
mkdir adir
run 1 "$bpc" train net.bp --data good --epochs 1 --batch 4 --save adir
has err "^bpc: error: --save adir: is a directory$" "--save to a directory"
hasnt out "^epoch" "--save to a directory"
run 1 "$bpc" train "$PWD/z3.bp" --steps 1 --save adir
has err "^bpc: error: --save adir: is a directory$" "--save to a directory, fixed inputs"
mkdir net.ckpt.safetensors
run 1 "$bpc" train net.bp --data good --epochs 1 --batch 4 --checkpoint-every 2
has err "^bpc: error: --checkpoint-every: net.ckpt.safetensors: is a directory$" "checkpoints into a directory"
rmdir net.ckpt.safetensors
# a path that can be written: nothing left behind by the trial, an existing file kept until the end
cp c.safetensors keep.safetensors
run 0 "$bpc" train net.bp --data good --steps 1 --batch 4 --save keep.safetensors
if ls | grep -q '\.tmp\.'; then bad "a temporary file was left behind: $(ls)"; else ok; fi
if cmp -s c.safetensors keep.safetensors; then bad "--save was not written"; else ok; fi
# a write that fails part-way (a file size limit: EFBIG, as a full disk's ENOSPC) leaves the
# old file as it was and no temporary
cp c.safetensors keep.safetensors
# (through a pipe: the limit holds for the files the output is redirected to as well)
(trap '' XFSZ; ulimit -f 0; exec "$bpc" train net.bp --data good --steps 1 --batch 4 --save keep.safetensors) 2>&1 | cat >err
# (nor can the rescue file be written, under that limit: the message says so)
has err "^bpc: error: keep.safetensors: cannot write keep.safetensors.tmp.[0-9]*: File too large; no other place could be written either (.*File too large)$" "a failed --save"
cmp -s c.safetensors keep.safetensors && ok || bad "a failed --save changed the old file"
if ls | grep -q '\.tmp\.'; then bad "a failed --save left a temporary: $(ls)"; else ok; fi

# ---- f. test losses at inference: dropout the identity (NAME_loss_eval) ---------------------
# The epoch summary's test loss, bpc eval's (--data and --inputs) are those of the program
# without its dropout, at any --batch (they were NAME_loss's: seed 0's masks at each row's
# position in the batch, so that they changed with --batch)
hid='input x[B, 4]\ninput y[B] : int\nparam W1[4, 8] = normal(1)\nparam W2[8, 3] = normal(1)\n'
printf "${hid}h = dropout(relu(x @ W1), 0.5)\nlogits = h @ W2\nloss cross_entropy(logits, y)\noutput logits\n" >drop.bp
printf "${hid}h = relu(x @ W1)\nlogits = h @ W2\nloss cross_entropy(logits, y)\noutput logits\n" >nodrop.bp
run 0 "$bpc" train drop.bp --data good --steps 2 --batch 4 --save drop.safetensors
sed -n 's/^epoch 1 (partial): train loss [0-9.]*, \(test loss [0-9.]*, test accuracy [0-9.]*%\).*/\1/p' out >train.line
run 0 "$bpc" eval nodrop.bp --data good --params drop.safetensors
sed -n 's/^\(test loss [0-9.]*, test accuracy [0-9.]*%\).*/\1/p' out >want.line
if [ -s want.line ] && cmp -s train.line want.line; then ok
else bad "bpc train's test figures with dropout: '$(cat train.line)', without: '$(cat want.line)'"; fi
cp out want.out
for b in 1 4 64; do
  run 0 "$bpc" eval drop.bp --data good --params drop.safetensors --batch $b
  cmp -s out want.out && ok || bad "bpc eval --batch $b with dropout: '$(cat out)', without: '$(cat want.out)'"
done
# --inputs: x [2, 4] F32 (1, 2, 3, 4 twice: no row of zeros, which dropout would not change)
h='{"x":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"y":{"dtype":"I32","shape":[2],"data_offsets":[32,40]}}'
while [ $((${#h} % 8)) -ne 0 ]; do h="$h "; done
{ bytes $((${#h} & 255)) $((${#h} >> 8)) 0 0 0 0 0 0; printf '%s' "$h"
  for r in 1 2; do bytes 0 0 128 63 0 0 0 64 0 0 64 64 0 0 128 64; done; bytes 1 0 0 0 2 0 0 0; } >xy.safetensors
run 0 "$bpc" eval nodrop.bp --inputs xy.safetensors --params drop.safetensors
cp out want.out
run 0 "$bpc" eval drop.bp --inputs xy.safetensors --params drop.safetensors
if grep -q '^loss [0-9]' out && cmp -s out want.out; then ok
else bad "bpc eval --inputs with dropout: '$(cat out)', without: '$(cat want.out)'"; fi

# ---- g. a loss that is not finite ---------------------------------------------------------------
# every NaN prints as nan, as bpc grad prints it (glibc printed sqrt(-1)'s, whose sign bit is
# set, as -nan: in the stop's message, the epoch's test loss and bpc eval's)
# A stop saves the parameters from before the step, to the file it names; at the first step
# it saves nothing (--save may hold an earlier run's parameters) and says so. late.bp's q
# goes from 1 to -99 in its first step (Adam at --lr 100), and its second is NaN.
printf "${net}param q = -1\nloss cross_entropy(logits, y) + sqrt(q)\noutput logits\n" >neg.bp
printf "${net}param q = 1\nloss cross_entropy(logits, y) + sqrt(q)\noutput logits\noptimizer adam(lr = 100)\n" >late.bp
printf '\002\000\000\000\000\000\000\000{}' >earlier.safetensors # an earlier file of no tensors
cp earlier.safetensors neg.safetensors
run 1 "$bpc" train neg.bp --data good --steps 2 --batch 4 --save neg.safetensors
has err "^bpc: error: the loss or its gradient is not finite at epoch 1, step 1 (loss nan); stopping with the parameters from before that step; as no step was trained, nothing was saved (try a smaller --lr, or --on-nan skip)$" \
  "a NaN stop at the first step"
cmp -s neg.safetensors earlier.safetensors && ok || bad "a NaN stop at the first step overwrote --save's file"
run 1 "$bpc" train late.bp --data good --steps 3 --batch 4 --save neg.safetensors
has err "^bpc: error: the loss or its gradient is not finite at epoch 1, step 2 (loss nan); stopping with the parameters from before that step, saved to neg.safetensors (try a smaller --lr, or --on-nan skip)$" \
  "a NaN stop names --save"
cmp -s neg.safetensors earlier.safetensors && bad "a NaN stop wrote no neg.safetensors" || ok
run 1 "$bpc" train late.bp --data good --steps 3 --batch 4
has err "; stopping with the parameters from before that step, saved to late.ckpt.safetensors (try a smaller --lr, or --on-nan skip)$" \
  "a NaN stop names MODEL.ckpt.safetensors"
[ -f late.ckpt.safetensors ] && ok || bad "a NaN stop wrote no late.ckpt.safetensors"
run 0 "$bpc" train neg.bp --data good --steps 2 --batch 4 --on-nan skip
has out "^epoch 1 (partial): train loss nan, test loss nan, test accuracy [0-9.]*%, " "an epoch of NaN"
# the steps skipped are counted and said as on fixed inputs: in the epoch's line, and for the
# run (the epoch said "[batches skipped ...]", with no count, and every later epoch too)
has out "^epoch 1 (partial): .* \[2 steps skipped for non-finite values\]$" "the epoch's skipped steps"
has out "^2 steps skipped for non-finite values (--on-nan skip)$" "the run's skipped steps"
# a finite loss whose gradient norm overflows (q * 3e19: the square of q's gradient is beyond
# the float range) stops with that loss and the reason (it said "loss nan")
printf "${net}param q = 1\nloss cross_entropy(logits, y) + q * 3e19\noutput logits\noptimizer sgd(lr = 1e-20)\n" >gnorm.bp
run 1 "$bpc" train gnorm.bp --data good --steps 2 --batch 4
has err "^bpc: error: the gradient norm overflows at epoch 1, step 1 (loss 3e+19); stopping with the parameters from before that step; as no step was trained, nothing was saved (try a smaller --lr, or --on-nan skip)$" \
  "a stop for the gradient norm"
run 0 "$bpc" eval neg.bp --data good --params neg.safetensors
has out "^test loss nan, test accuracy [0-9.]*% (6 samples)$" "bpc eval's loss of NaN"
hasnt out "-nan" "bpc eval's loss of NaN"

# ---- h. a program that is not a classifier ------------------------------------------------------
# no output of the labels' classes: the epochs and bpc eval print no accuracy (they printed
# "test accuracy 0.00%", read from an output the program does not have)
printf 'input x[B, 4]\ninput y[B] : int\nparam w[4] = 0.5\nloss mean((x @ w)^2)\n' >reg.bp
run 0 "$bpc" train reg.bp --data good --steps 2 --batch 4 --save reg.safetensors
has out "^epoch 1 (partial): train loss [0-9.]*, test loss [0-9.]*, [0-9.]* s (" "a regression's epoch line"
hasnt out "accuracy" "a regression's epoch line"
run 0 "$bpc" eval reg.bp --data good --params reg.safetensors
has out "^test loss [0-9.]* (6 samples)$" "a regression's bpc eval"

# ---- n. what bpc eval measures: the loss's scores, every sample once --------------------------
# Test images of 2x2 pixels: image j < 3 lights pixel j alone (255: 1.0 exactly), label j;
# images 3 and 4 are black, labels 0 and 2. W is the identity on the first 3 pixels, so
# logits = x @ W is one-hot at the label (loss log(e + 2) - 1) or zero (a 3-way tie: loss
# ln 3, and the argmax, as numpy's and torch's, the first class): 4 of 5 right, a mean loss
# of (3 (log(e + 2) - 1) + 2 ln 3) / 5 = 0.7703 at every --batch (a mean over the batches of 2
# would be 0.8250). h = x @ V, V moving each pixel's 1 to the next class, ranks another class
# first: 1 of 5 right (a black image). Accuracy is the loss's scores' (logits, or their
# softmax), whatever other [B, 3] output comes first: `output h, logits` measured h (20%).
mkdir -p ev
{ bytes 0 0 8 3; be32 5; be32 2; be32 2
  bytes 255 0 0 0  0 255 0 0  0 0 255 0  0 0 0 0  0 0 0 0; } >ev/t10k-images-idx3-ubyte
labels ev/t10k-labels-idx1-ubyte 0 1 2 0 2
# st01 FILE NAME:BITS...: F32 tensors [4, 3] of the 12 0s and 1s BITS (row-major)
st01() {
  f=$1; shift; hdr= off=0
  for t in "$@"; do
    hdr="$hdr${hdr:+,}\"${t%%:*}\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[$off,$((off + 48))]}"
    off=$((off + 48))
  done
  hdr="{$hdr}"
  while [ $((${#hdr} % 8)) -ne 0 ]; do hdr="$hdr "; done
  { bytes $((${#hdr} & 255)) $((${#hdr} >> 8)) 0 0 0 0 0 0; printf '%s' "$hdr"
    for t in "$@"; do
      for b in $(echo "${t#*:}" | sed 's/./& /g'); do if [ "$b" = 1 ]; then bytes 0 0 128 63; else bytes 0 0 0 0; fi; done
    done; } >"$f"
}
st01 ev.safetensors W:100010001000 V:010001100000
evloss=$(awk 'BEGIN { printf "%.4f", (3 * (log(exp(1) + 2) - 1) + 2 * log(3)) / 5 }')
for outs in "h, logits" "logits, h" "h, p" "p"; do
  printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nparam V[4, 3]\nlogits = x @ W\nh = x @ V\np = softmax(logits)\nloss cross_entropy(logits, y)\noutput %s\n' "$outs" >ev.bp
  for b in 1 2 64; do
    run 0 "$bpc" eval ev.bp --data ev --params ev.safetensors --batch $b
    has out "^test loss $evloss, test accuracy 80.00% (5 samples)$" "eval of output $outs at batch $b"
  done
done
# bpc eval's --batch beyond the samples is one batch of them all, allocated at their count:
# at 10^9 (a 12 GB workspace, more than BPC_MEMORY_LIMIT) it was refused
run 0 env BPC_MEMORY_LIMIT=10M "$bpc" eval ev.bp --data ev --params ev.safetensors --batch 1000000000
has out "^test loss $evloss, test accuracy 80.00% (5 samples)$" "eval at a batch beyond the samples"
# a [B, 3] output unrelated to the loss is measured only when none is the loss's scores
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nparam V[4, 3]\nh = x @ V\nloss cross_entropy(x @ W, y)\noutput h\n' >ev.bp
run 0 "$bpc" eval ev.bp --data ev --params ev.safetensors --batch 2
has out "^test loss $evloss, test accuracy 20.00% (5 samples)$" "eval of output h alone"

# ---- a learning-rate schedule by epochs: step:1:0.5 halves the rate at each epoch -------
run 0 "$bpc" train net.bp --data good --epochs 3 --batch 4 --lr 0.2 --lr-schedule step:1:0.5
has out "batch 4, tcc JIT, lr 0.2 (times 0.5 every 1 epochs), data loaded" "the schedule in the first line"
[ "$(sed -n 's/^epoch [0-9]: .*, lr \([0-9.]*\), .*/\1/p' out | tr '\n' ' ')" = "0.2 0.1 0.05 " ] && ok ||
  { bad "step:1:0.5 by epochs:"; cat out; }
run 0 "$bpc" train net.bp --data good --epochs 2 --batch 4 --lr-schedule cosine --warmup 2
has out "lr 0.01 (cosine to 0 over 10 steps, warmup 2 steps)" "cosine over two epochs of 5 steps"
# ---- i. what an epoch is ----------------------------------------------------------------------
# Sample i lights pixel i alone, every label is 0, and loss nll(x @ W, y) is linear in W, so
# one SGD step of lr 1 adds 1/n to W[i, 0] for each of the batch's n rows: the parameters show
# each batch. 10 samples at batch 4: an epoch is 3 steps, 4 + 4 + 2 rows, each sample once
# (8 values 0.25, 2 of 0.5: the last batch the mean over its own 2 rows). In epoch 2 a batch's
# loss before its update is minus the mean of its rows' epoch-1 values: the train loss, a mean
# over the samples, is -(8 x 0.25 + 2 x 0.5) / 10 = -0.3 whatever the order (a mean over the 3
# batches is not: -0.2917 or -0.3333); the test loss after it -0.6.
mkdir -p onehot
{ bytes 0 0 8 3; be32 10; be32 1; be32 10; i=0
  while [ $i -lt 100 ]; do if [ $((i % 11)) -eq 0 ]; then bytes 255; else bytes 0; fi; i=$((i + 1)); done; } >onehot/train-images-idx3-ubyte
cp onehot/train-images-idx3-ubyte onehot/t10k-images-idx3-ubyte
labels onehot/train-labels-idx1-ubyte 0 0 0 0 0 0 0 0 0 0
cp onehot/train-labels-idx1-ubyte onehot/t10k-labels-idx1-ubyte
printf 'input x[B, 10]\ninput y[B] : int\nparam W[10, 2]\nloss nll(x @ W, y)\noptimizer sgd(lr = 1)\n' >lin.bp
run 0 "$bpc" train lin.bp --data onehot --batch 4 --epochs 1 --f64 --save e1.safetensors
"$st_dump" e1.safetensors >e1.txt
w=$(sed -n 's/^W F64 \[10, 2\] = //p' e1.txt | tr ' ' '\n')
[ "$(echo "$w" | awk 'NR % 2 == 1' | sort | uniq -c | tr -s ' ' | tr '\n' ';')" = " 8 0.25; 2 0.5;" ] && ok ||
  bad "one epoch of 10 samples at batch 4 is not batches of 4, 4 and 2 taking each sample once: W = $(echo $w)"
[ "$(echo "$w" | awk 'NR % 2 == 0' | sort -u)" = 0 ] && ok || bad "W[:, 1] moved: W = $(echo $w)"
run 0 "$bpc" train lin.bp --data onehot --batch 4 --epochs 2 --f64
has out "^epoch 2: train loss -0.3000, test loss -0.6000, " "an epoch's train loss: the mean over its samples"
# --seed orders the epochs: the same seed the same batches, another seed others
run 0 "$bpc" train lin.bp --data onehot --batch 4 --steps 1 --f64 --seed 0 --save s0.safetensors
run 0 "$bpc" train lin.bp --data onehot --batch 4 --steps 1 --f64 --seed 0 --save s0b.safetensors
run 0 "$bpc" train lin.bp --data onehot --batch 4 --steps 1 --f64 --seed 5 --save s5.safetensors
cmp -s s0.safetensors s0b.safetensors && ok || bad "--seed 0 twice: other first batches"
"$st_dump" s0.safetensors | grep "^W" >s0.txt
"$st_dump" s5.safetensors | grep "^W" >s5.txt
cmp -s s0.txt s5.txt && bad "--seed 0 and --seed 5: the same first batch" || ok

# ---- j. SIGINT while the data loads: no step ----------------------------------------------
# 300000 images of 1000 zero pixels (300 MB gunzipped, 30 gzip members of 10 MB, which zlib
# reads one after the other): bpc is stopped (SIGSTOP) once it has a file of the data open,
# and if it still has one then (it is loading), sent SIGINT and continued. It trained one
# step before stopping ('interrupted at epoch 1 after 1 step'). Tried up to 5 times in case
# the stop lands after the loading.
mkdir -p slow
{ bytes 0 0 8 2; be32 300000; be32 1000; } | gzip >slow/train-images-idx3-ubyte.gz
head -c 10000000 /dev/zero | gzip -1 >zeros.gz
i=0
while [ $i -lt 30 ]; do cat zeros.gz; i=$((i + 1)); done >>slow/train-images-idx3-ubyte.gz
{ bytes 0 0 8 1; be32 300000; head -c 300000 /dev/zero; } >slow/train-labels-idx1-ubyte
{ bytes 0 0 8 2; be32 1; be32 1000; head -c 1000 /dev/zero; } >slow/t10k-images-idx3-ubyte
labels slow/t10k-labels-idx1-ubyte 0
printf 'input x[B, 1000]\ninput y[B] : int\nparam W[1000, 3]\nloss cross_entropy(x @ W, y)\n' >slow.bp
# loading PID: PID has a file of the data open (a link in /proc/PID/fd points into slow/)
loading() { [ -n "$(find "/proc/$1/fd" -lname '*/slow/*' -print -quit 2>/dev/null)" ]; }
tries=0 caught=0
while [ $tries -lt 5 ] && [ $caught -eq 0 ]; do
  tries=$((tries + 1))
  "$bpc" train slow.bp --data slow --steps 3 >out 2>err &
  pid=$!
  while kill -0 $pid 2>/dev/null && ! loading $pid; do :; done
  kill -STOP $pid 2>/dev/null
  if loading $pid; then kill -INT $pid; caught=1; fi
  kill -CONT $pid 2>/dev/null
  wait $pid; st=$?
done
if [ $caught -eq 1 ]; then
  [ $st -eq 130 ] && ok || bad "SIGINT while loading: exit $st, expected 130"
  has out "^interrupted before any step; the parameters are unchanged$" "SIGINT while loading"
  hasnt out "^epoch 1" "SIGINT while loading"
else bad "SIGINT while loading: bpc was never stopped while loading in $tries tries"; fi

# ---- k. a signal while the model compiles: no step, with or without --data -------------
# Deterministic: the JIT is cc, through $CC, a script that signals bpc (its pid read from a
# file written before exec) and then compiles. SIGTERM, which train handles as SIGINT:
# system() ignores SIGINT in bpc while the compiler runs. Without --data one step ran first
# ('interrupted after step 1'); with --data it stopped before any step, as now both do.
printf '#!/bin/sh\nkill -TERM $(cat "%s/bpc.pid")\nexec cc "$@"\n' "$tmp" >signalcc.sh
chmod +x signalcc.sh
printf 'param W[4, 3]\nloss sum(W * W)\n' >fixed.bp
for how in "fixed.bp" "net.bp --data good"; do
  # shellcheck disable=SC2086
  CC="$tmp/signalcc.sh" timeout 60 sh -c 'echo $$ >"$0/bpc.pid"; exec "$@"' "$tmp" \
    "$bpc" train $how --steps 3 --batch 4 --jit cc >out 2>err; st=$?
  [ $st -eq 130 ] && ok || { bad "SIGTERM while compiling ($how): exit $st, expected 130"; cat err; }
  has out "^interrupted before any step; the parameters are unchanged" "SIGTERM while compiling ($how)"
  hasnt out "^step 1\|^epoch 1" "SIGTERM while compiling ($how)"
done
# A Ctrl-C at a terminal reaches the compiler too, which dies of it: the cc JIT failed, and
# train said 'JIT compilation failed: ... interrupted' with status 1. Here cc kills itself.
printf '#!/bin/sh\nkill -INT $$\nsleep 5\n' >intcc.sh
chmod +x intcc.sh
CC="$tmp/intcc.sh" timeout 60 "$bpc" train fixed.bp --steps 3 --jit cc >out 2>err; st=$?
[ $st -eq 130 ] && ok || { bad "cc killed by SIGINT: exit $st, expected 130"; cat err; }
has out "^interrupted before any step; the parameters are unchanged" "cc killed by SIGINT"
hasnt err "JIT compilation failed" "cc killed by SIGINT"


# ---- l. BPRT_NUM_THREADS: digits alone, 1 to 4096; anything else is warned about -------------
# (strtol took " 4" and "+4", and "4x", "0", "99999999999" were ignored without a word). The
# run goes on with every core and trains the same bytes (float: any thread count does).
run 0 "$bpc" train net.bp --data good --steps 3 --batch 4 --save nt.safetensors
for v in 4x abc 0 -2 " 4" +4 4097 99999999999 0x4 4.0; do
  run 0 env BPRT_NUM_THREADS="$v" "$bpc" train net.bp --data good --steps 3 --batch 4 --save ntv.safetensors
  [ "$(grep -c "^bprt: warning: ignoring BPRT_NUM_THREADS='$v' (not a whole number from 1 to 4096); using [1-9][0-9]* threads\?$" err)" -eq 1 ] &&
    [ "$(wc -l <err)" -eq 1 ] && ok || { bad "train with BPRT_NUM_THREADS='$v': not one warning line:"; cat err; }
  cmp -s nt.safetensors ntv.safetensors && ok || bad "train with BPRT_NUM_THREADS='$v' trained other parameters"
  run 0 env BPRT_NUM_THREADS="$v" "$bpc" eval net.bp --data good --params ntv.safetensors
  has out "^test loss [0-9.]*, test accuracy [0-9.]*% (6 samples)$" "eval with BPRT_NUM_THREADS='$v'"
  has err "^bprt: warning: ignoring BPRT_NUM_THREADS='$v' " "eval with BPRT_NUM_THREADS='$v'"
done
# a thread count, an empty value (as unset) and --threads (which the variable does not override)
for v in 1 2 02 4096 ""; do
  run 0 env BPRT_NUM_THREADS="$v" "$bpc" train net.bp --data good --steps 3 --batch 4 --save ntv.safetensors
  [ -s err ] && { bad "train with BPRT_NUM_THREADS='$v' wrote to stderr:"; cat err; } || ok
  cmp -s nt.safetensors ntv.safetensors && ok || bad "train with BPRT_NUM_THREADS='$v' trained other parameters"
done
run 0 env BPRT_NUM_THREADS=4x "$bpc" train net.bp --data good --steps 3 --batch 4 --threads 1
hasnt err "warning" "BPRT_NUM_THREADS=4x with --threads 1"
# the REPL reads it as the session starts: the warning comes first
printf ':quit\n' | BPRT_NUM_THREADS=4x "$bpc" repl >out 2>err
head -n 1 err | grep -qx "bprt: warning: ignoring BPRT_NUM_THREADS='4x' (not a whole number from 1 to 4096); using [1-9][0-9]* threads\?" &&
  ok || { bad "bpc repl with BPRT_NUM_THREADS=4x:"; cat err; }

# ---- m. BPRT_ISA: avx512, avx2 or generic, in any case; anything else is warned about ------
# (an unknown value, one with a space, and an ISA this CPU cannot run were ignored without a
# word). The run goes on with the CPU's own ISA, and trains the bytes a run without it does.
isa_warning() { # value reason: the one line of stderr, and nothing else there
  n=$(grep -c "^bprt: warning: ignoring BPRT_ISA='$1' ($2); using \(avx512\|avx2\|generic\)$" err)
  [ "$n" -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] && ok || { bad "BPRT_ISA='$1': not one warning line ($2):"; cat err; }
}
run 0 env -u BPRT_ISA "$bpc" train net.bp --data good --steps 3 --batch 4 --save is.safetensors
for v in avx9 sse4 avx-512 avx "avx512 " " avx2" "avx2,avx512" native 0; do
  run 0 env BPRT_ISA="$v" "$bpc" train net.bp --data good --steps 3 --batch 4 --save isv.safetensors
  isa_warning "$v" "not avx512, avx2 or generic"
  cmp -s is.safetensors isv.safetensors && ok || bad "train with BPRT_ISA='$v' trained other parameters"
done
# the CPU's own ISA, as the warning names it: used without a word, in any case
own=$(sed -n "s/^bprt: warning: ignoring BPRT_ISA='0' (.*); using \(.*\)$/\1/p" err)
for v in "$own" "$(echo "$own" | tr a-z A-Z)" ""; do
  run 0 env BPRT_ISA="$v" "$bpc" train net.bp --data good --steps 3 --batch 4 --save isv.safetensors
  [ -s err ] && { bad "train with BPRT_ISA='$v' wrote to stderr:"; cat err; } || ok
  cmp -s is.safetensors isv.safetensors && ok || bad "train with BPRT_ISA='$v' trained other parameters"
done
# a weaker ISA, named in any case, is the one used: --version names it (but for OpenBLAS's GEMM)
for v in generic GENERIC Generic; do
  run 0 env BPRT_ISA="$v" "$bpc" --version
  if grep -qx "GEMM: bpc's own kernels (generic)" out || grep -q "^GEMM: OpenBLAS" out; then ok
  else bad "BPRT_ISA='$v': generic not in use:"; cat out; fi
  [ -s err ] && { bad "BPRT_ISA='$v' wrote to stderr:"; cat err; } || ok
done
# avx512 and avx2: used if the CPU's own is as strong, else the warning says the CPU cannot run it
for v in avx512 AVX2; do
  run 0 env BPRT_ISA="$v" "$bpc" eval net.bp --data good --params is.safetensors
  has out "^test loss [0-9.]*, test accuracy [0-9.]*% (6 samples)$" "eval with BPRT_ISA='$v'"
  case "$own:$v" in
  avx512:* | avx2:AVX2) [ -s err ] && { bad "eval with BPRT_ISA='$v' on $own wrote to stderr:"; cat err; } || ok ;;
  *) isa_warning "$v" "this CPU cannot run it" ;;
  esac
done
# once per process, also where the cc JIT's code calls the runtime; the REPL says it first
run 0 env BPRT_ISA=avx9 "$bpc" train net.bp --data good --steps 3 --batch 4 --jit cc
isa_warning avx9 "not avx512, avx2 or generic"
printf ':quit\n' | BPRT_ISA=avx9 "$bpc" repl >out 2>err
head -n 1 err | grep -qx "bprt: warning: ignoring BPRT_ISA='avx9' (not avx512, avx2 or generic); using $own" &&
  ok || { bad "bpc repl with BPRT_ISA=avx9:"; cat err; }

finish
