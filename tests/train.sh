#!/bin/sh
# `bpc train` end to end: the seed example's SGD step, Fashion-MNIST accuracy, killing a run
# and resuming it to the same parameters, and the errors for malformed data, mismatched
# parameters and a diverging run.
# usage: train.sh BPC SOURCE_DIR ST_DUMP
# Fashion-MNIST comes from Debian's dataset-fashion-mnist (scripts/install-deps.sh); the
# runs use --threads 1, which makes them deterministic (and immune to oversubscribed cores).
set -u
bpc=$1
src=$2
st_dump=$3
data=${BP_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
. "$(dirname "$0")/lib.sh"
bgpid=
trap 'if [ -n "$bgpid" ]; then kill "$bgpid" 2>/dev/null; fi; rm -rf "$tmp"' EXIT
# value of a scalar tensor in a safetensors file
value() { "$st_dump" "$1" | awk -v n="$2" '$1 == n { print $NF }'; }
near() { # got want what
  if awk -v g="$1" -v w="$2" 'BEGIN { d = g - w; exit !(g != "" && d < 1e-6 && d > -1e-6) }'; then ok
  else bad "$3 = '$1', expected $2"; fi
}

cd "$tmp" || exit 1

# ---- a. the seed example: one SGD step leaves m1 = 2.8, m2 = -0.7 (float and double) -----
for prec in "" --f64; do
  run 0 "$bpc" train "$src/examples/seed.bp" --steps 1 --save s.safetensors $prec
  near "$(value s.safetensors m1)" 2.8 "m1 after one step $prec"
  near "$(value s.safetensors m2)" -0.7 "m2 after one step $prec"
done

if [ ! -r "$data/train-images-idx3-ubyte.gz" ] && [ ! -r "$data/train-images-idx3-ubyte" ]; then
  bad "no Fashion-MNIST in $data (install the dataset-fashion-mnist package: scripts/install-deps.sh)"
  echo "$pass passed, $fail failed"
  exit 1
fi

# ---- b. Fashion-MNIST: 5 epochs of examples/fashion_mlp.bp reach 87% test accuracy --------
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --epochs 5 --threads 1
acc=$(sed -n 's/^epoch 5: .*test accuracy \([0-9.]*\)%.*/\1/p' "$tmp/out")
if awk -v a="$acc" 'BEGIN { exit !(a != "" && a + 0 >= 87.0) }'; then ok; echo "fashion_mlp: ${acc}% after 5 epochs"
else bad "fashion_mlp test accuracy after 5 epochs '$acc', expected >= 87.0"; cat "$tmp/out"; fi

# ---- c. SIGTERM mid-run saves a checkpoint; resuming it, or the periodic checkpoint before
# ---- it, ends where an uninterrupted run does
args="--data $data --epochs 2 --seed 3 --threads 1"
"$bpc" train "$src/examples/fashion_mlp.bp" $args --checkpoint-every 200 --save a.safetensors >a.out 2>a.err &
bgpid=$!
wait_for_file a.safetensors "$bgpid"
cp a.safetensors p.safetensors # a --checkpoint-every checkpoint (renamed into place whole)
sleep 0.2
kill -TERM "$bgpid" 2>/dev/null
wait "$bgpid"; st=$?
bgpid=
if [ "$st" -eq 130 ]; then ok; else bad "interrupted bpc train exited $st, expected 130"; cat a.out a.err; fi
has a.out "^interrupted at epoch 1 after [0-9]* steps; checkpoint saved to a.safetensors" "interrupted run"
# the checkpoint is mid-epoch: [epoch 1, step s, s steps, seed 3] with 200 <= s < 938
prog=$("$st_dump" a.safetensors | awk '$1 == "__bpc.progress" { print $5, $6, $7, $8 }')
if echo "$prog" | awk '{ exit !($1 == 1 && $2 == $3 && $2 >= 200 && $2 < 938 && $4 == 3) }'; then ok
else bad "checkpoint progress '$prog', expected epoch 1, a step in [200, 938), seed 3"; fi
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" $args --params a.safetensors --save a.safetensors
has "$tmp/out" "^resuming from a.safetensors: epoch 1, step " "resumed run"
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" $args --save b.safetensors
"$st_dump" a.safetensors >a.txt
"$st_dump" b.safetensors >b.txt
if [ -s a.txt ] && cmp -s a.txt b.txt; then ok
else bad "resumed and uninterrupted runs end with different parameters or state:"; diff a.txt b.txt | cut -c1-200 | head -8; fi
# a periodic checkpoint (--checkpoint-every 200) holds the steps done at that point, [epoch 1,
# step s, s steps, seed 3] with s a multiple of 200 (s - 1 there would make the resumed run do
# step s twice), and resuming it also ends where the uninterrupted run does
prog=$("$st_dump" p.safetensors | awk '$1 == "__bpc.progress" { print $5, $6, $7, $8 }')
if echo "$prog" | awk '{ exit !($1 == 1 && $2 == $3 && $2 >= 200 && $2 % 200 == 0 && $4 == 3) }'; then ok
else bad "periodic checkpoint progress '$prog', expected epoch 1, a multiple of 200 steps, seed 3"; fi
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" $args --params p.safetensors --save p.safetensors
"$st_dump" p.safetensors >p.txt
if [ -s p.txt ] && cmp -s p.txt b.txt; then ok
else bad "a run resumed from a periodic checkpoint and the uninterrupted run differ:"; diff p.txt b.txt | cut -c1-200 | head -8; fi

# a hangup (the terminal or ssh session closed) stops the run as SIGTERM does, with its
# checkpoint (it killed the run: the steps since the last checkpoint were lost); under nohup,
# which ignores the hangup, the run goes on to its end
# (a runner that ignores SIGHUP itself, as under nohup, passes that on: bpc then goes on, rightly)
hup_ignored=$(awk '/^SigIgn:/ { print (index("13579bdfBDF", substr($2, length($2), 1)) > 0) }' /proc/$$/status 2>/dev/null)
for how in hup nohup; do
  [ "$how" = hup ] && [ "$hup_ignored" = 1 ] && how=hup-ignored
  rm -f h.safetensors
  if [ $how != nohup ]; then "$bpc" train "$src/examples/fashion_mlp.bp" $args --checkpoint-every 200 --save h.safetensors >h.out 2>h.err &
  else (trap '' HUP; exec "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --epochs 1 --seed 3 --threads 1 --checkpoint-every 200 --save h.safetensors >h.out 2>h.err) & fi
  bgpid=$!
  wait_for_file h.safetensors "$bgpid"
  kill -HUP "$bgpid" 2>/dev/null
  wait "$bgpid"; st=$?
  bgpid=
  if [ $how = hup ]; then
    if [ "$st" -eq 130 ]; then ok; else bad "bpc train after a hangup exited $st, expected 130"; cat h.out h.err; fi
    has h.out "^interrupted at epoch 1 after [0-9]* steps; checkpoint saved to h.safetensors" "a hangup"
    prog=$("$st_dump" h.safetensors | awk '$1 == "__bpc.progress" { print $5, $6, $7, $8 }')
    if echo "$prog" | awk '{ exit !($1 == 1 && $2 == $3 && $2 >= 200 && $2 < 938 && $4 == 3) }'; then ok
    else bad "checkpoint progress after a hangup '$prog', expected epoch 1, a step in [200, 938), seed 3"; fi
  else
    if [ "$st" -eq 0 ]; then ok; else bad "bpc train under nohup after a hangup exited $st, expected 0"; cat h.out h.err; fi
    has h.out "^epoch 1: " "a hangup under nohup"
    hasnt h.out "^interrupted" "a hangup under nohup"
  fi
done

# ---- d. malformed data, mismatched parameters, a diverging run -----------------------------
mkdir trunc trgz
for f in train-labels-idx1 t10k-images-idx3 t10k-labels-idx1; do
  for d in trunc trgz; do
    if [ -r "$data/$f-ubyte.gz" ]; then ln -s "$data/$f-ubyte.gz" $d/; else ln -s "$data/$f-ubyte" $d/; fi
  done
done
if [ -r "$data/train-images-idx3-ubyte.gz" ]; then
  gzip -dc "$data/train-images-idx3-ubyte.gz" | head -c 100000 >trunc/train-images-idx3-ubyte
  head -c 50000 "$data/train-images-idx3-ubyte.gz" >trgz/train-images-idx3-ubyte.gz
else
  head -c 100000 "$data/train-images-idx3-ubyte" >trunc/train-images-idx3-ubyte
  head -c 50000 "$data/train-images-idx3-ubyte" | gzip >trgz/train-images-idx3-ubyte.gz
fi
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data trunc --epochs 1
has "$tmp/err" "trunc/train-images-idx3-ubyte: .*truncated" "truncated IDX file"
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data trgz --epochs 1
has "$tmp/err" "trgz/train-images-idx3-ubyte.gz: " "truncated gzip file"
# a wrong magic number
printf '\001\002\010\003\000\000\000\001\000\000\000\034\000\000\000\034' >trunc/train-images-idx3-ubyte
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data trunc --epochs 1
has "$tmp/err" "trunc/train-images-idx3-ubyte: bad IDX magic" "IDX file with a wrong magic number"

# parameters of another shape (hidden layer 128, not 256): every mismatch listed
sed 's/256/128/g' "$src/examples/fashion_mlp.bp" >small.bp
run 1 "$bpc" train small.bp --data "$data" --params a.safetensors --epochs 1
has "$tmp/err" "a.safetensors: parameters do not match" "mismatched parameters"
has "$tmp/err" "'W1' has shape \[784, 256\], the program declares \[784, 128\]" "mismatched W1"
has "$tmp/err" "'b1' has shape \[256\]" "mismatched b1"
has "$tmp/err" "'W2' has shape \[256, 10\]" "mismatched W2"
# parameters of another program: the missing names listed
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --params s.safetensors --epochs 1
has "$tmp/err" "s.safetensors: parameters do not match the program: missing 'W1'" "parameters of another program"
has "$tmp/err" "unexpected 'm1'" "parameters of another program"

# --on-nan stop: an exploding lr stops with the step named, keeping the last good parameters
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --opt sgd --lr 1e30 --on-nan stop --threads 1 \
  --save n.safetensors
has "$tmp/err" "not finite at epoch 1, step [0-9]" "diverging run"
if [ -f n.safetensors ] && "$st_dump" n.safetensors >n.txt && ! grep -qi "nan\|inf" n.txt; then ok
else bad "the checkpoint after a diverging run is missing or holds non-finite values"; fi
run 1 "$bpc" train "$src/examples/seed.bp" --steps 5 --lr 1e30 --on-nan stop
has "$tmp/err" "not finite at step [0-9]" "diverging run on fixed inputs"

# results do not depend on the thread count: 1 and 2 threads give the same bytes
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --steps 40 --threads 1 --save t1.safetensors
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --steps 40 --threads 2 --save t2.safetensors
if cmp -s t1.safetensors t2.safetensors; then ok; else bad "1 and 2 threads trained different parameters"; fi
# plain SGD: the update fused into the weight-gradient GEMMs
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --steps 40 --opt sgd --threads 1 --save s1.safetensors
run 0 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --steps 40 --opt sgd --threads 2 --save s2.safetensors
if cmp -s s1.safetensors s2.safetensors; then ok; else bad "1 and 2 threads trained different parameters with SGD"; fi
# the same for convolutions (images split between threads, and gw's columns); with the training
# set and the test set's first 1000 images (the parameters compared are the training's: its
# evaluation of all 10,000 took 95% of these runs under the sanitizers)
mkdir cnn
unz() { if [ -r "$data/$1.gz" ]; then gzip -dc "$data/$1.gz"; else cat "$data/$1"; fi; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte; do
  if [ -r "$data/$f.gz" ]; then ln -s "$data/$f.gz" cnn/; else ln -s "$data/$f" cnn/; fi
done
{ bytes 0 0 8 3; be32 1000; be32 28; be32 28; unz t10k-images-idx3-ubyte | tail -c +17 | head -c 784000; } >cnn/t10k-images-idx3-ubyte
{ bytes 0 0 8 1; be32 1000; unz t10k-labels-idx1-ubyte | tail -c +9 | head -c 1000; } >cnn/t10k-labels-idx1-ubyte
run 0 "$bpc" train "$src/examples/fashion_cnn.bp" --data cnn --steps 4 --threads 1 --save c1.safetensors
has "$tmp/out" "^training fashion_cnn on cnn: 60000 samples" "a training set of 60000"
has "$tmp/out" "^epoch 1 (partial): .*test accuracy" "the test set's first 1000 images"
run 0 "$bpc" train "$src/examples/fashion_cnn.bp" --data cnn --steps 4 --threads 2 --save c2.safetensors
if cmp -s c1.safetensors c2.safetensors; then ok; else bad "1 and 2 threads trained different convolution parameters"; fi

# a batch whose workspace exceeds the machine's memory (BPC_MEMORY_LIMIT stands in for a
# small machine) is refused before anything is allocated, with the bytes it wanted and the
# limit named (BPC_MEMORY_LIMIT's was called this machine's memory), at the largest value at
# that batch with its line and caret, as the compile-time check (it named no place)
export BPC_MEMORY_LIMIT=100000000
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --steps 1 --batch 60000
unset BPC_MEMORY_LIMIT
has "$tmp/err" "^$src/examples/fashion_mlp.bp:12:17: error: batch 60000: the workspace at these sizes needs [0-9]* bytes, more than BPC_MEMORY_LIMIT (100000000 bytes); the largest value it computes is here; use a smaller batch$" "workspace too large"
[ "$(sed -n 2,3p "$tmp/err")" = "  h      = relu(x @ W1 + b1)
                  ^" ] && ok || bad "workspace too large: no line and caret at x @ W1 in: $(cat "$tmp/err")"
# 4 TB at batch 2e9: more than the machine has
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$data" --steps 1 --batch 2000000000
has "$tmp/err" "^$src/examples/fashion_mlp.bp:12:17: error: batch 2000000000: the workspace at these sizes needs [0-9]* bytes, more than this machine's memory ([0-9]* bytes); the largest value it computes is here; use a smaller batch$" "workspace larger than the machine"

finish
