#!/bin/sh
# Byte-level language models: `bpc train --data FILE.txt` lowers the held-out loss of
# tests/text/tiny_lm.bp on tests/text/corpus.txt, a run stopped (after --steps, or by
# SIGTERM) and resumed ends with the parameters of an uninterrupted one, `bpc sample` is deterministic at temperature 0
# (PyTorch's greedy decoding of tests/text/greedy_lm.bp, from gen_greedy.py), draws its bytes from
# softmax(logits / X) (a chi-square test at four temperatures), is
# reproducible from --seed, and malformed uses give exact errors.
# usage: text.sh BPC SOURCE_DIR ST_DUMP     (runs in about ten seconds, --threads 1)
set -u
bpc=$1
src=$2
st_dump=$3
model=$src/tests/text/tiny_lm.bp
corpus=$src/tests/text/corpus.txt
. "$(dirname "$0")/lib.sh"
bgpid=
trap 'if [ -n "$bgpid" ]; then kill "$bgpid" 2>/dev/null; fi; rm -rf "$tmp"' EXIT
same() { # file expected-text what
  if [ "$(cat "$1")" = "$2" ]; then ok; else bad "$3: got"; cat "$1"; echo "expected"; echo "$2"; fi
}
# the held-out loss of the last epoch line in $tmp/out
test_loss() { sed -n 's/^epoch .*test loss \([0-9.]*\) nats\/byte.*/\1/p' "$tmp/out" | tail -1; }

cd "$tmp" || exit 1
args="--data $corpus --batch 8 --threads 1 --seed 1"

# ---- a. training lowers the held-out loss: from ln 256 = 5.55 to below 3.2 in 60 steps ------
run 0 "$bpc" train "$model" $args --steps 1
first=$(test_loss)
if grep -q "^training tiny_lm on .*corpus.txt: 1732 bytes of text (192 held out), windows of 16 bytes, batch 8, 13 steps an epoch" "$tmp/out"
then ok; else bad "training header"; cat "$tmp/out"; fi
# an epoch of one batch is "1 step an epoch" (it said "1 steps")
run 0 "$bpc" train "$model" --data "$corpus" --batch 200 --threads 1 --steps 1
if grep -q "^training tiny_lm on .*corpus.txt: 1732 bytes of text (192 held out), windows of 16 bytes, batch 200, 1 step an epoch," "$tmp/out"
then ok; else bad "training header of a one-step epoch"; cat "$tmp/out"; fi
run 0 "$bpc" train "$model" $args --steps 60 --save a.safetensors
last=$(test_loss)
if awk -v f="$first" -v l="$last" 'BEGIN { exit !(f > 5.0 && l != "" && l < 3.2) }'; then ok
else bad "held-out loss after 1 step '$first' (expected > 5), after 60 steps '$last' (expected < 3.2)"; cat "$tmp/out"; fi
run 0 "$bpc" eval "$model" --params a.safetensors --data "$corpus" --batch 8 --threads 1
same "$tmp/out" "test loss $last nats/byte (11 windows of 16 bytes)" "bpc eval on text"

# ---- b. 25 steps, then the rest of 60 from the checkpoint (across epochs): the same ----------
# parameters (--steps counts from the start of training, so the same command finishes the run)
run 0 "$bpc" train "$model" $args --steps 25 --save b.safetensors
run 0 "$bpc" train "$model" $args --steps 60 --params b.safetensors --save b.safetensors
if grep -q "^resuming from b.safetensors: epoch 2, step 13 (25 steps done)" "$tmp/out"; then ok
else bad "resumed run"; cat "$tmp/out"; fi
"$st_dump" a.safetensors >a.txt
"$st_dump" b.safetensors >b.txt
if [ -s a.txt ] && cmp -s a.txt b.txt; then ok
else bad "resumed and uninterrupted runs end with different parameters or state:"; diff a.txt b.txt | cut -c1-200 | head -8; fi

# SIGTERM mid-run saves a checkpoint; resuming it ends where an uninterrupted run does
targs="--data $corpus --batch 32 --threads 1 --seed 3 --epochs 100"
"$bpc" train "$model" $targs --checkpoint-every 30 --save k.safetensors >k.out 2>k.err &
bgpid=$!
wait_for_file k.safetensors "$bgpid"
kill -TERM "$bgpid" 2>/dev/null
wait "$bgpid"; st=$?
bgpid=
if [ "$st" -eq 130 ] && grep -q "^interrupted at epoch [0-9]* after [0-9]* steps; checkpoint saved to k.safetensors" k.out
then ok; else bad "interrupted text run exited $st, expected 130 and a checkpoint"; cat k.out k.err | tail -3; fi
run 0 "$bpc" train "$model" $targs --params k.safetensors --save k.safetensors
run 0 "$bpc" train "$model" $targs --save u.safetensors
"$st_dump" k.safetensors >k.txt
"$st_dump" u.safetensors >u.txt
if [ -s k.txt ] && cmp -s k.txt u.txt; then ok
else bad "interrupted+resumed and uninterrupted text runs differ:"; diff k.txt u.txt | cut -c1-200 | head -8; fi

# ---- c. sampling: the prompt and -n bytes; temperature 0 deterministic, --seed reproducible --
run 0 "$bpc" sample "$model" --params a.safetensors --prompt "The fox " -n 40 --temperature 0
cp "$tmp/out" t0.txt
n=$(wc -c <t0.txt)   # a newline is added unless the last byte is one
if [ "$(head -c 8 t0.txt)" = "The fox " ] && [ "$n" -ge 48 ] && [ "$n" -le 49 ]; then ok
else bad "sample: expected the prompt, 40 bytes and a newline, got"; od -c t0.txt | head; fi
run 0 "$bpc" sample "$model" --params a.safetensors --prompt "The fox " -n 40 --temperature 0 --seed 9
if cmp -s t0.txt "$tmp/out"; then ok; else bad "temperature 0 depends on the seed"; fi
for s in 5 5 6; do
  run 0 "$bpc" sample "$model" --params a.safetensors --prompt "The" -n 60 --seed $s
  cp "$tmp/out" s$s.$pass.txt
done
set -- s5.*.txt
if cmp -s "$1" "$2"; then ok; else bad "two samples with --seed 5 differ"; fi
if cmp -s "$1" s6.*.txt; then bad "samples with --seed 5 and 6 are the same"; else ok; fi
# an empty prompt, more bytes than the window holds
run 0 "$bpc" sample "$model" --params a.safetensors -n 50
if [ "$(wc -c <"$tmp/out")" -ge 50 ]; then ok; else bad "sample without a prompt"; cat "$tmp/out"; fi

# the context kept is the model's window, not every byte: -n 2000000000 allocated the
# prompt and all of them at the start and aborted (SIGABRT, no byte written) where they did
# not fit (AddressSanitizer cannot start under ulimit -v: its allocator refuses instead)
if grep -q -a __asan_init "$bpc"; then
  limit_memory() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=1000" "$@"; }
else
  limit_memory() { (ulimit -v 1000000; "$@"); }
fi
limit_memory "$bpc" sample "$model" --params a.safetensors --prompt "The fox " -n 2000000000 --temperature 0 2>big.err | head -c 48 >big.txt
head -c 48 t0.txt >t0_48.txt
if [ -s big.txt ] && cmp -s big.txt t0_48.txt; then ok; else bad "sample -n 2000000000 under a memory limit: got"; od -c big.txt | head -3; cat big.err; fi

# a write that fails stops the sampling: to /dev/full, or to a closed pipe with SIGPIPE ignored,
# it went on for all -n bytes (2000000000 forward passes) and only then said the write failed
if [ -c /dev/full ]; then
  timeout 60 "$bpc" sample "$model" --params a.safetensors -n 2000000000 --temperature 0 >/dev/full 2>full.err; st=$?
  [ "$st" -eq 1 ] && ok || bad "sample -n 2000000000 > /dev/full exited $st (124: it did not stop)"
  same full.err "bpc: error: cannot write to standard output: No space left on device" "sample > /dev/full"
fi
(trap '' PIPE; timeout 60 "$bpc" sample "$model" --params a.safetensors -n 2000000000 --temperature 0 2>pipe.err; echo $? >pipe.st) | head -c 48 >pipe.txt
[ "$(cat pipe.st)" = 1 ] && ok || bad "sample -n 2000000000 into a closed pipe, SIGPIPE ignored, exited $(cat pipe.st) (124: it did not stop)"
same pipe.err "bpc: error: cannot write to standard output: Broken pipe" "sample into a closed pipe"

# temperature 0 is PyTorch's greedy decoding (tests/text/gen_greedy.py, float64) of a model of
# random parameters: empty, short and longer-than-window prompts, and more bytes than the
# window holds (the window slides over the context)
while IFS='|' read -r prompt n hex; do
  "$bpc" sample "$src/tests/text/greedy_lm.bp" --params "$src/tests/text/greedy_lm.safetensors" --f64 \
    --prompt "$prompt" -n "$n" --temperature 0 >greedy.out 2>&1
  got=$(od -An -tx1 greedy.out | tr -d ' \n')
  if [ "$got" = "$hex" ]; then ok; else bad "greedy decoding of '$prompt': got $got, PyTorch $hex"; fi
done <"$src/tests/text/greedy_lm.expected"

# the bytes are drawn from softmax(logits / X): a model whose logits are c = (0, 1, 2, -1, 0.5, 3)
# whatever the context (a safetensors file written here, c as float32 bits), 20000 bytes at a
# fixed seed, counted against the probabilities awk works out: Pearson's chi-square below 20.5
# (5 degrees of freedom, p = 0.001; about 5 at these seeds), classes expected fewer than 5 times
# pooled; at X = 0.05 every byte is 5 (the others' share is below 1e-8), as at X = 0
printf 'input x[B, 2] : int\ninput y[B, 2] : int\nparam E[6, 1]\nparam c[6]\nz = embedding(E, x) * 0 + c\nloss cross_entropy(z, y)\noutput z\n' >c6.bp
hdr='{"E":{"dtype":"F32","shape":[6,1],"data_offsets":[0,24]},"c":{"dtype":"F32","shape":[6],"data_offsets":[24,48]}}'
{ printf '\160\0\0\0\0\0\0\0%s' "$hdr"; head -c 24 /dev/zero
  printf '\000\000\000\000\000\000\200\077\000\000\000\100\000\000\200\277\000\000\000\077\000\000\100\100'; } >c6.safetensors
for x in 0.5 1 4 1000 0.05 0; do
  run 0 "$bpc" sample c6.bp --params c6.safetensors --prompt "$(printf '\001')" -n 20000 --temperature $x --seed 1
  if od -An -v -tu1 -w1 "$tmp/out" | awk -v x=$x '
      NR == 1 { next }                      # the prompt
      NR <= 20001 { n[$1]++; next }
      END {
        split("0 1 2 -1 0.5 3", c, " ")
        for (k = 1; k <= 6; k++) { p[k - 1] = x > 0 ? exp((c[k] - 3) / x) : k == 6; s += p[k - 1] }
        if (x <= 0.05) { exit !(n[5] == 20000) }
        for (k = 0; k < 6; k++) { e = 20000 * p[k] / s; if (e < 5) { pe += e; pn += n[k] } else chi += (n[k] - e) ^ 2 / e }
        if (pe > 0) chi += (pn - pe) ^ 2 / pe
        printf "temperature %s: chi-square %.2f\n", x, chi > "/dev/stderr"
        exit !(chi < 20.5) }'
  then ok; else bad "sample at temperature $x: the bytes do not follow softmax(c / $x)"; od -An -v -tu1 -w1 "$tmp/out" | sort -n | uniq -c; fi
done

# examples/tiny_gpt.bp (windows of 64) takes a step on the corpus and can be sampled
run 0 "$bpc" train "$src/examples/tiny_gpt.bp" --data "$corpus" --batch 2 --steps 1 --threads 1 --save g.safetensors
run 0 "$bpc" sample "$src/examples/tiny_gpt.bp" --params g.safetensors -n 5 --temperature 0

# a gzipped corpus is read as its text, as IDX .gz files are (it was trained on as its
# compressed bytes); a cut one is an error
gzip -c "$corpus" >corpus.txt.gz
run 0 "$bpc" train "$model" --data corpus.txt.gz --batch 8 --threads 1 --seed 1 --steps 1
sed 's/corpus.txt.gz/corpus.txt/; s/, [0-9.]* s (.*//' "$tmp/out" >gz.out
cp "$corpus" corpus.txt
run 0 "$bpc" train "$model" --data corpus.txt --batch 8 --threads 1 --seed 1 --steps 1
sed 's/, [0-9.]* s (.*//' "$tmp/out" >plain.out
if cmp -s gz.out plain.out; then ok; else bad "the gzipped corpus trains otherwise:"; cat gz.out plain.out; fi
head -c 300 corpus.txt.gz >cut.txt.gz
run 1 "$bpc" train "$model" --data cut.txt.gz --steps 1
same "$tmp/err" "bpc: error: cannot read cut.txt.gz: unexpected end of file" "a cut .gz corpus"

# ---- d. errors -------------------------------------------------------------------------------
head -c 150 "$corpus" >short.txt
run 1 "$bpc" train "$model" --data short.txt --steps 1
same "$tmp/err" "bpc: error: short.txt: 150 bytes of text is too short: windows of T = 16 bytes need at least 170 (T + 1 bytes for training and T + 1 in the held-out last 10%)" "text too short"
run 1 "$bpc" train "$src/examples/fashion_mlp.bp" --data "$corpus" --steps 1
same "$tmp/err" "bpc: error: --data $corpus: program 'fashion_mlp' does not fit text data: it needs exactly two inputs, ': int' of shape [B, T] (B a name, T a number): the bytes and the bytes after them; it has 'x' [B, 784], 'y' [B] : int" "program without two int [B, T] inputs"
run 1 "$bpc" train "$model" --data missing.txt --steps 1
same "$tmp/err" "bpc: error: cannot open missing.txt: No such file or directory" "missing text file"
# a directory for a text program says so (it looked for DIR/train-images-idx3-ubyte: "cannot
# open"; with the IDX files there, "--data needs a program with a real input for images"), and
# a missing file without .txt is a missing text file (it was DIR/train-images-idx3-ubyte too)
mkdir idx
: >idx/train-images-idx3-ubyte
for cmd in "train $model --data idx --steps 1" "eval $model --params a.safetensors --data idx" "train $model --data . --steps 1"; do
  run 1 "$bpc" $cmd
  d=${cmd#*--data }; d=${d%% *}
  same "$tmp/err" "bpc: error: --data $d: is a directory (of IDX files), but program 'tiny_lm' takes text (its ': int' inputs 'x' and 'y' of shape [B, 16]: the bytes and the bytes after them): give --data a text file" "bpc $cmd"
done
# neither --data nor --inputs: a text program's message names the text it takes too
for cmd in "train $model --steps 1" "eval $model --params a.safetensors"; do
  run 1 "$bpc" $cmd
  same "$tmp/err" "bpc: error: (defaults): input 'x' is not given, so its size B is unknown (give inputs with --inputs FILE.safetensors, or text with --data FILE.txt)" "bpc $cmd without data"
done
run 1 "$bpc" train "$model" --data fortunes --steps 1
same "$tmp/err" "bpc: error: cannot open fortunes: No such file or directory" "a missing text file without .txt"
run 2 "$bpc" sample "$model"
head -1 "$tmp/err" >first.txt
same first.txt "bpc: sample needs --params P.safetensors (the trained parameters, e.g. from bpc train --save)" "sample without --params"
run 1 "$bpc" sample "$src/examples/fashion_mlp.bp" --params a.safetensors
same "$tmp/err" "bpc: error: program 'fashion_mlp' does not fit text data: it needs exactly two inputs, ': int' of shape [B, T] (B a name, T a number): the bytes and the bytes after them; it has 'x' [B, 784], 'y' [B] : int" "sample of a program without text inputs"
grep -v '^output' "$model" >noout.bp
run 1 "$bpc" sample noout.bp --params a.safetensors
same "$tmp/err" "bpc: error: program 'noout' cannot be sampled: its first 'output' must be the logits, of shape [B, 16, V] with 2 <= V <= 256 (one score per byte value), but it has no 'output'" "sample without logits"
run 1 "$bpc" sample "$model" --params short.txt
if grep -q "^bpc: error: short.txt: " "$tmp/err"; then ok; else bad "sample with a bad --params file"; cat "$tmp/err"; fi
run 2 "$bpc" sample "$model" --params a.safetensors --temperature -1
if grep -q "^bpc: bad value for --temperature" "$tmp/err"; then ok; else bad "negative temperature"; cat "$tmp/err"; fi

# a program with another output after the logits samples (NAME_forward wrote it through NULL)
sed 's/^output logits.*/output logits, h2/' "$model" >twoout.bp
grep -q "^output logits, h2" twoout.bp || bad "twoout.bp: no second output (tiny_lm.bp changed?)"
run 0 "$bpc" sample twoout.bp --params a.safetensors --prompt "ab" -n 5 --temperature 0
# logits that give no distribution (a NaN or +inf among them, or every one -inf) are an error
# at that byte, as torch.multinomial raises (a NaN was never the largest: byte 0 was written
# at every step, at any temperature). abs(sum(wpe)) * 0 is +0: sum(wpe) * 0 is computed, not
# folded to +0 (it could be NaN), and is -0 where the sum is negative
for e in 'sqrt(sum(wpe) * 0 - 1)|logit 0 is nan, so there is no distribution to sample from (are the parameters in a.safetensors finite?)' \
         '1 / (abs(sum(wpe)) * 0)|logit 0 is inf, so there is no distribution to sample from (are the parameters in a.safetensors finite?)' \
         '-1 / (abs(sum(wpe)) * 0)|every logit is -inf, so there is no distribution to sample from'; do
  sed "s|^logits = h2 @ Wout\$|logits = h2 @ Wout * 0 + ${e%%|*}|" "$model" >nanout.bp
  grep -q "^logits = h2 @ Wout \* 0" nanout.bp || bad "nanout.bp: no logits line (tiny_lm.bp changed?)"
  for t in 0 0.8; do
    run 1 "$bpc" sample nanout.bp --params a.safetensors --prompt "ab" -n 5 --temperature $t
    same "$tmp/err" "bpc: error: byte 0: ${e#*|}" "sample from logits ${e%%|*} at temperature $t"
    same "$tmp/out" "ab" "the output before logits ${e%%|*}"
  done
done
# bytes the model has no class for: the text's and the prompt's (they gave a loss of NaN or
# sampled from NaN logits); a device is not read as text (/dev/zero filled the memory)
sed 's/256/128/g' "$model" >v128.bp
printf 'some text \310 and more of it, long enough for windows of sixteen bytes: %0200d\n' 0 >high.txt
run 1 "$bpc" train v128.bp --data high.txt --steps 1
same "$tmp/err" "bpc: error: high.txt: byte 10 is 200, outside the 128 classes of the loss (0 to 127)" "a byte outside the classes"
run 1 "$bpc" sample v128.bp --params a.safetensors --prompt "$(printf 'a\310')"
same "$tmp/err" "bpc: error: --prompt: byte 1 is 200, outside the model's 128 byte values (0 to 127)" "a prompt byte outside the values"
# an embedding table with fewer rows than the loss has classes: its rows bound the bytes
# (a byte past them read a row of NaN: the loss was NaN)
sed 's/wte\[256, 32\]/wte[128, 32]/' "$model" >e128.bp
grep -q "wte\[128, 32\]" e128.bp || bad "e128.bp: no wte[128, 32] (tiny_lm.bp changed?)"
run 1 "$bpc" train e128.bp --data high.txt --steps 1
same "$tmp/err" "bpc: error: high.txt: byte 10 is 200, outside the 128 rows of the embedding table (0 to 127)" "a byte outside the table"
run 0 "$bpc" train e128.bp --data "$corpus" --steps 1 --threads 1 --save e128.safetensors
run 1 "$bpc" sample e128.bp --params e128.safetensors --prompt "$(printf 'a\310')"
same "$tmp/err" "bpc: error: --prompt: byte 1 is 200, outside the model's 128 byte values (0 to 127)" "a prompt byte outside the table"
# and sampling draws among those 128: a byte of 128 or more (its 256-wide head allows them)
# had no row, and the next step's logits were NaN, blamed on the parameters
run 0 "$bpc" sample e128.bp --params e128.safetensors --prompt a -n 100 --temperature 1
high=$(LC_ALL=C tr -d '\000-\177' <"$tmp/out" | wc -c)
[ "$high" -eq 0 ] && ok || bad "sampling e128.bp wrote $high bytes of 128 or more"
# a model of fewer than 11 byte values has no newline for an empty prompt to start from (it
# sampled from NaN logits and blamed the parameters: "logit 0 is nan ... finite?")
printf 'input x[B, 3] : int\ninput y[B, 3] : int\nparam E[4, 4] = normal(0.5)\nz = embedding(E, x)\nloss cross_entropy(z, y)\noutput z\n' >v4.bp
printf '\001\002\003\000%.0s' 1 2 3 4 5 6 7 8 9 10 11 12 >v4.txt
run 0 "$bpc" train v4.bp --data v4.txt --steps 1 --threads 1 --save v4.safetensors
run 1 "$bpc" sample v4.bp --params v4.safetensors -n 3
same "$tmp/err" "bpc: error: without --prompt, sampling starts from a newline (byte 10), outside the model's 4 byte values (0 to 3): give a --prompt" "an empty prompt for 4 byte values"
run 0 "$bpc" sample v4.bp --params v4.safetensors -n 3 --prompt "$(printf '\001')"
run 1 "$bpc" train "$model" --data /dev/zero --steps 1
same "$tmp/err" "bpc: error: /dev/zero: is a device, not a text file" "a device as text"
# a text file over the 1 GiB limit is refused for its size, before it is read (it was "more than
# 1073741824 bytes of text (is it a device or a stream?)", after reading a GiB); a sparse file
truncate -s 1073741825 big.txt
run 1 "$bpc" train "$model" --data big.txt --steps 1
same "$tmp/err" "bpc: error: big.txt: 1073741825 bytes, more than the 1073741824 bytes of text a data set may have" "a text file over the limit"
rm -f big.txt
run 2 "$bpc" train "$model" --data "$corpus" --inputs a.safetensors --steps 1
if grep -q "^bpc: --data and --inputs both give the inputs; use one" "$tmp/err"; then ok; else bad "--data with --inputs"; cat "$tmp/err"; fi
# a step that is not finite stops with the parameters from before it, saved to the file the
# message names (it wrote MODEL.ckpt.safetensors without a word)
# (q from 1 to below 0 in the first step, at --lr 100: the second is NaN)
sed 's/^loss cross_entropy(logits, y)$/param q = 1\nloss cross_entropy(logits, y) + sqrt(q)/' "$model" >nan_lm.bp
grep -q "sqrt(q)" nan_lm.bp || bad "nan_lm.bp: no sqrt(q) (tiny_lm.bp changed?)"
run 1 "$bpc" train nan_lm.bp $args --steps 3 --lr 100
same "$tmp/err" "bpc: error: the loss or its gradient is not finite at epoch 1, step 2 (loss nan); stopping with the parameters from before that step, saved to nan_lm.ckpt.safetensors (try a smaller --lr, or --on-nan skip)" "a NaN stop on text"
[ -f nan_lm.ckpt.safetensors ] && ok || bad "a NaN stop on text wrote no nan_lm.ckpt.safetensors"

finish
