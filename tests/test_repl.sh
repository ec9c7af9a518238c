#!/bin/sh
# The REPL driven through a pipe: every script tests/repl/*.bpr is fed to `bpc repl` and
# its output (stdout and stderr together) compared with what the script's comments expect.
#
# A script is REPL input annotated with comments (the REPL ignores them):
#   #> TEXT      the next output line is exactly TEXT
#   #~ GLOB      the next output line matches GLOB (* matches anything)
#   #...        any number of lines, up to the one the next expectation matches
#   # status: N  the exit status (default 0)
#   # args: ...  arguments after `bpc repl` (FILE.bp, --seed N, ...)
#   # needs: DIR skip the script unless DIR exists
# Output lines must be matched in order and none may be left over. Scripts run in a fresh
# directory holding copies of examples/*.bp, so they name files relatively.
# usage: test_repl.sh BPC SOURCE_DIR
set -u
bpc=$1
src=$2
. "$(dirname "$0")/lib.sh"

# match.awk EXPECTED ACTUAL: 0 if ACTUAL meets EXPECTED (lines "= text", "~ glob", "...")
cat >"$tmp/match.awk" <<'EOF'
function glob2re(g,   r, i, c) {
    r = "^"
    for (i = 1; i <= length(g); i++) {
        c = substr(g, i, 1)
        if (c == "*") r = r ".*"
        else if (index("\\^$.[]|()+?{}/", c)) r = r "\\" c
        else r = r c
    }
    return r "$"
}
function meets(e, a) {
    if (substr(e, 1, 2) == "= ") return a == substr(e, 3)
    if (substr(e, 1, 2) == "~ ") return a ~ glob2re(substr(e, 3))
    return 0
}
FNR == NR { ex[ne++] = $0; next }
{ act[na++] = $0 }
END {
    i = 0; j = 0
    while (i < ne) {
        if (ex[i] == "...") {
            i++
            if (i == ne) { j = na; break }
            while (j < na && !meets(ex[i], act[j])) j++
            if (j == na) { printf "expected (after skipped lines): %s\n", substr(ex[i], 3); exit 1 }
            continue
        }
        if (j >= na) { printf "output ended; expected: %s\n", substr(ex[i], 3); exit 1 }
        if (!meets(ex[i], act[j])) {
            printf "output line %d: %s\n        expected: %s\n", j + 1, act[j], substr(ex[i], 3)
            exit 1
        }
        i++; j++
    }
    if (j < na) { printf "unexpected output line %d: %s\n", j + 1, act[j]; exit 1 }
}
EOF

run_script() { # script
    s=$1
    name=$(basename "$s" .bpr)
    dir="$tmp/$name"
    mkdir -p "$dir"
    cp "$src"/examples/*.bp "$dir"/
    status=$(sed -n 's/^# status: *//p' "$s")
    args=$(sed -n 's/^# args: *//p' "$s")
    needs=$(sed -n 's/^# needs: *//p' "$s")
    if [ -n "$needs" ] && [ ! -e "$needs" ]; then
        echo "skip: $name ($needs not found)"
        return
    fi
    sed -n -e 's/^#> \{0,1\}/= /p' -e 's/^#~ /~ /p' -e 's/^#\.\.\.$/.../p' "$s" >"$dir/expected"
    # shellcheck disable=SC2086
    (cd "$dir" && BPC_HISTORY="$dir/history" "$bpc" repl $args <"$s" >"$dir/actual" 2>&1)
    got=$?
    if [ "$got" -ne "${status:-0}" ]; then
        echo "FAIL: $name: exit status $got, expected ${status:-0}"
        fail=$((fail + 1))
        sed 's/^/  | /' "$dir/actual"
        return
    fi
    if awk -f "$tmp/match.awk" "$dir/expected" "$dir/actual" >"$dir/why"; then
        pass=$((pass + 1))
    else
        echo "FAIL: $name: $(cat "$dir/why")"
        fail=$((fail + 1))
        sed 's/^/  | /' "$dir/actual"
    fi
}

for s in "$src"/tests/repl/*.bpr; do
    run_script "$s"
done

# the session is not a file: nothing is left behind but what was asked for
[ ! -e "$tmp/seed/repl.ckpt.safetensors" ] && pass=$((pass + 1)) || { echo "FAIL: a checkpoint was left behind"; fail=$((fail + 1)); }

# :save over an existing file that is not a safetensors file (notes, data) is refused and the
# file is left as it was; over an empty one, or an earlier checkpoint, it writes
mkdir -p "$tmp/save_other" && cp "$src/examples/seed.bp" "$tmp/save_other/"
printf 'my notes\n' >"$tmp/save_other/notes.txt"
: >"$tmp/save_other/empty.safetensors"
(cd "$tmp/save_other" && printf ':save notes.txt\n:save empty.safetensors\n' | "$bpc" repl seed.bp >out 2>&1)
got=$?
if [ $got -eq 1 ] && [ "$(cat "$tmp/save_other/notes.txt")" = "my notes" ] &&
   grep -qx "error: :save notes.txt: the file exists and is not a safetensors file; bpc replaces only an earlier safetensors file (a checkpoint, parameters, gradients) or an empty one (remove it, or give another name)" "$tmp/save_other/out" &&
   grep -qx "saved 2 parameters to empty.safetensors" "$tmp/save_other/out"; then pass=$((pass + 1))
else echo "FAIL: :save over a file that is not a checkpoint (status $got):"; cat "$tmp/save_other/out"; fail=$((fail + 1)); fi
# a checkpoint cut short (its header's length runs past the end: an interrupted copy) is a
# checkpoint to replace, not "not a safetensors file"
(cd "$tmp/save_other" && printf ':save whole.safetensors\n' | "$bpc" repl seed.bp >/dev/null 2>&1 &&
 head -c 40 whole.safetensors >cut.safetensors && printf ':save cut.safetensors\n' | "$bpc" repl seed.bp >out 2>&1)
got=$?
if [ $got -eq 0 ] && [ "$(cat "$tmp/save_other/out")" = "saved 2 parameters to cut.safetensors" ] &&
   cmp -s "$tmp/save_other/cut.safetensors" "$tmp/save_other/whole.safetensors"; then pass=$((pass + 1))
else echo "FAIL: :save over a checkpoint cut short (status $got):"; cat "$tmp/save_other/out"; fail=$((fail + 1)); fi
# standard input that cannot be read (a directory, a closed descriptor) is an error, exit
# status 1: it was taken for the end of the input, status 0, as if a script had run through
"$bpc" repl <"$tmp" >"$tmp/out" 2>&1
got=$?
if [ $got -eq 1 ] && [ "$(cat "$tmp/out")" = "error: cannot read standard input: Is a directory" ]; then pass=$((pass + 1))
else echo "FAIL: bpc repl < DIR (status $got):"; cat "$tmp/out"; fail=$((fail + 1)); fi
"$bpc" repl <&- >"$tmp/out" 2>&1
got=$?
if [ $got -eq 1 ] && [ "$(cat "$tmp/out")" = "error: cannot read standard input: Bad file descriptor" ]; then pass=$((pass + 1))
else echo "FAIL: bpc repl <&- (status $got):"; cat "$tmp/out"; fail=$((fail + 1)); fi
# output that cannot be written (a full disk) is an error too, with its reason, as for bpc's
# other commands: the session's printed values were lost with status 0
if [ -c /dev/full ]; then
  printf 'x = 1\nx\n' | "$bpc" repl >/dev/full 2>"$tmp/err"
  got=$?
  if [ $got -eq 1 ] && [ "$(cat "$tmp/err")" = "bpc: error: cannot write to standard output: No space left on device" ]; then pass=$((pass + 1))
  else echo "FAIL: bpc repl >/dev/full (status $got):"; cat "$tmp/err"; fail=$((fail + 1)); fi
fi
# a usage error is reported as one
"$bpc" repl --bogus </dev/null >"$tmp/out" 2>&1
if [ $? -eq 2 ] && grep -q "usage: bpc repl" "$tmp/out"; then pass=$((pass + 1)); else echo "FAIL: bpc repl --bogus"; fail=$((fail + 1)); fi
# --help and -h print the usage and succeed, as after every other command (README; they were
# "unknown option", exit 2)
for h in --help -h; do
    "$bpc" repl $h </dev/null >"$tmp/out" 2>"$tmp/err"
    if [ $? -eq 0 ] && [ "$(cat "$tmp/out")" = "usage: bpc repl [FILE.bp] [--f32 | --f64] [--seed N] [--jit tcc|cc]" ] && [ ! -s "$tmp/err" ]; then
        pass=$((pass + 1)); else echo "FAIL: bpc repl $h:"; cat "$tmp/out" "$tmp/err"; fail=$((fail + 1)); fi
done
# and says what is wrong (it printed the usage alone)
# in the words of bpc's command line (it said "bad value for --seed" alone, "no value for --seed")
for a in "--bogus:bpc: unknown option '--bogus'" "--seed:bpc: --seed needs a value" \
         "--seed x:bpc: bad value for --seed: 'x' (it takes a whole number from 0 to 2000000000)" \
         "--seed +3:bpc: bad value for --seed: '+3' (it takes a whole number from 0 to 2000000000)" \
         "--jit gcc:bpc: bad value for --jit: 'gcc' (it takes tcc or cc)" \
         "a.bp b.bp:bpc: repl takes one FILE.bp ('b.bp' is a second)" \
         "--f32 --f64:bpc: --f32 and --f64 both say the precision; use one" \
         "--f64 --f32:bpc: --f32 and --f64 both say the precision; use one"; do
    # shellcheck disable=SC2086
    "$bpc" repl ${a%%:*} </dev/null >"$tmp/out" 2>&1
    if [ $? -eq 2 ] && [ "$(head -n 1 "$tmp/out")" = "${a#*:}" ]; then pass=$((pass + 1)); else echo "FAIL: bpc repl ${a%%:*}: $(head -n 1 "$tmp/out")"; fail=$((fail + 1)); fi
done

# a NUL byte refuses its line, with its column (the line's text ended there: 'z = 1<NUL> + 2'
# made z 1, with no error)
printf 'z = 1\000 + 2\nz\nz = 5\nz\n' | "$bpc" repl >"$tmp/out" 2>&1
if [ $? -eq 1 ] && [ "$(head -n 1 "$tmp/out")" = "<repl>:1:6: error: unexpected byte 0x00 (a NUL): the line is not read" ] &&
   ! grep -q "^z = 1" "$tmp/out" && grep -q "^z = 5" "$tmp/out"; then pass=$((pass + 1)); else echo "FAIL: a NUL byte in a line:"; cat "$tmp/out"; fail=$((fail + 1)); fi
# its column counts characters, as the caret does ('Ã©' is one; it said 1:9 here)
printf 'z = "\303\251"\000\n' | "$bpc" repl >"$tmp/out" 2>&1
if [ "$(head -n 1 "$tmp/out")" = "<repl>:1:8: error: unexpected byte 0x00 (a NUL): the line is not read" ]; then
    pass=$((pass + 1)); else echo "FAIL: a NUL byte after an 'é':"; cat "$tmp/out"; fail=$((fail + 1)); fi

# parameters larger than the memory (here BPC_MEMORY_LIMIT) are refused where declared, and
# the session goes on (the REPL aborted when it allocated them)
printf 'param v = 1\nparam W[1000, 1000]\n:print v\n' | BPC_MEMORY_LIMIT=1M "$bpc" repl >"$tmp/out" 2>&1
if [ $? -eq 1 ] && [ "$(head -n 1 "$tmp/out")" = "<repl>:2:7: error: the parameters need 16000016 bytes in the session (1000001 values, as doubles and as a vector of the model's type), more than BPC_MEMORY_LIMIT (1048576 bytes); the largest is 'W'" ] &&
   grep -q "^v = 1$" "$tmp/out"; then pass=$((pass + 1)); else echo "FAIL: parameters larger than the memory:"; cat "$tmp/out"; fail=$((fail + 1)); fi

# the doubles of parameters the session holds are not counted again when a statement is
# entered (they were: with 8 MB held under a limit of 20 MB, a parameter of 2.4 MB more was
# "16 + 4.8 > 20": refused); a new one still counts, values and vector
printf 'param W[1000000]\nsum(W)\nparam V[300000]\nsum(V)\nparam U[2000000]\n' | BPC_MEMORY_LIMIT=20000000 "$bpc" repl >"$tmp/out" 2>&1
if [ $? -eq 1 ] && [ "$(sed -n 1,2p "$tmp/out")" = "sum(W) = 0
sum(V) = 0" ] && [ "$(sed -n 3p "$tmp/out")" = "<repl>:5:7: error: the parameters need 42400000 bytes in the session (3300000 values, as doubles and as a vector of the model's type), more than BPC_MEMORY_LIMIT (20000000 bytes); the largest is 'U'" ]; then
    pass=$((pass + 1)); else echo "FAIL: parameters held counted again:"; cat "$tmp/out"; fail=$((fail + 1)); fi

# so are inputs larger than the memory, at each command that would allocate them (:check
# made random ones instead, and crashed when those did not fit either)
printf 'input X[1000, 1000] = 1\nsum(X)\nloss sum(X)\n:grad\n:check\n:step\n1+1\n' | BPC_MEMORY_LIMIT=1M "$bpc" repl >"$tmp/out" 2>&1
if [ $? -eq 1 ] && [ "$(grep -c "^error: input 'X' needs 8000000 bytes, more than BPC_MEMORY_LIMIT (1048576 bytes)$" "$tmp/out")" -eq 4 ] &&
   grep -q "^1+1 = 2$" "$tmp/out"; then pass=$((pass + 1)); else echo "FAIL: inputs larger than the memory:"; cat "$tmp/out"; fail=$((fail + 1)); fi

# a session of 30000 statements, written last to first: each is ordered after the one it
# reads, and each expression typed is compiled with them all. The ordering searched the
# statements for every name read, and picked each next statement from the start: the :load
# and each expression took seconds (21 s of CPU time in all); now under 1 s. CPU time
# (ulimit -t), not wall-clock time, so that a loaded machine does not fail it
awk 'BEGIN { print "input x = 1"; for (i = 29999; i > 0; i--) print "h" i " = h" i - 1 " + x"; print "h0 = x" }' >"$tmp/many.bp"
printf ':load %s\nh29999\nh100 * 2\nh0 + 1\nx + h1\nh29998 - 1\n' "$tmp/many.bp" | (ulimit -t 10; "$bpc" repl) >"$tmp/out" 2>&1
st=$?
printf 'h29999 = 30000\nh100 * 2 = 202\nh0 + 1 = 2\nx + h1 = 3\nh29998 - 1 = 29998\n' >"$tmp/want"
if [ $st -eq 0 ] && cmp -s "$tmp/want" "$tmp/out"; then pass=$((pass + 1)); else echo "FAIL: 30000 statements (status $st):"; head -n 5 "$tmp/out"; fail=$((fail + 1)); fi

# a session of 20000 lines piped in, each a statement: each input was registered padded with
# a newline for every line before it (to carry its line number), so the memory and the time
# to scan the text grew with the square of the session's length (10000 lines took 10 s, 30000
# took 87 s and 1.1 GB); now a second. An error on the last line is still located and quoted
awk 'BEGIN { print "input x = 1"; for (i = 1; i <= 20000; i++) print "a = x + " i % 7; print "a * 2"; print "b = a + nosuch" }' |
    (ulimit -t 10; "$bpc" repl) >"$tmp/out" 2>&1
st=$?
printf 'a * 2 = 4\n<repl>:20003:9: error: unknown name '"'nosuch'"'\n  b = a + nosuch\n          ^\n' >"$tmp/want"
if [ $st -eq 1 ] && cmp -s "$tmp/want" "$tmp/out"; then pass=$((pass + 1)); else echo "FAIL: 20000 lines (status $st):"; head -n 5 "$tmp/out"; fail=$((fail + 1)); fi

# and the inputs whose statements are all replaced are freed: each was kept to the end of the
# session, and 30000 lines each replacing the last held 785 MB; now under 10 MB (the limit
# here, 200 MB, leaves room for the sanitizers' own memory). The peak (VmHWM) is read while
# the session waits for more input
rm -f "$tmp/mem.fifo"
mkfifo "$tmp/mem.fifo"
(ASAN_OPTIONS="quarantine_size_mb=16:${ASAN_OPTIONS:-}" exec "$bpc" repl <"$tmp/mem.fifo" >"$tmp/mem.out" 2>&1) &
pid=$!
exec 3>"$tmp/mem.fifo"
awk 'BEGIN { print "input x = 1"; for (i = 1; i <= 30000; i++) print "a = x + " i % 7; print "a * 2" }' >&3
n=0
while ! grep -q "^a \* 2 = 12$" "$tmp/mem.out" && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
peak=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
exec 3>&-
wait $pid
if grep -q "^a \* 2 = 12$" "$tmp/mem.out" && [ "${peak:-999999999}" -lt 200000 ]; then pass=$((pass + 1)); else echo "FAIL: 30000 lines held ${peak:-?} KB:"; head -n 5 "$tmp/mem.out"; fail=$((fail + 1)); fi

# :train --batch N at sizes the generated code does not take: the value refused at its line in
# the session, with a caret, as every error in a program (it said "the value at <repl>:4:5"
# alone); the session goes on and trains at a batch that fits
dataset "$tmp/bidx" "0 1 2 0" "0 1"
printf 'input x[B, 4]\ninput y[B] : int\nparam W[4, 3]\nf = reshape(x, [-1])\nloss cross_entropy(x @ W, y) + mean(f)\n:train --data bidx --steps 1 --batch 536870912\n:train --data bidx --steps 1 --batch 2\n' |
  (cd "$tmp" && "$bpc" repl >"$tmp/bigb.out" 2>"$tmp/bigb.err")
st=$?
printf '<repl>:4:5: error: at these sizes (B = 536870912) this value has a size of 2147483648, more than 2147483647; use a smaller batch\n  f = reshape(x, [-1])\n      ^\n' >"$tmp/want"
if [ $st -eq 1 ] && cmp -s "$tmp/want" "$tmp/bigb.err" && grep -q "^training repl on bidx: 4 samples, batch 2" "$tmp/bigb.out"; then ok
else bad ":train --batch 536870912 (status $st):"; cat "$tmp/bigb.err" "$tmp/bigb.out"; fi

# a parameter's initial value is the one a fresh process gives it on the program as it is when
# a command first needs it (its initialiser draws from the seed and its place among the
# parameters), kept through edits that leave its name and shape: a parameter before w that
# becomes a binding moves w to the first place, but not once a command has needed w
printf 'param a = normal(1)\nparam w[2] = normal(1)\na = 2\n:print sum(w)\n' | "$bpc" repl --f64 >"$tmp/init.out" 2>&1
printf 'param a = normal(1)\nparam w[2] = normal(1)\n:print sum(w)\na = 2\n:print sum(w)\n' |
  "$bpc" repl --f64 >"$tmp/init2.out" 2>&1
printf 'a = 2\nparam w[2] = normal(1)\nloss sum(w)\n' >"$tmp/init1.bp"
printf 'param a = normal(1)\nparam w[2] = normal(1)\nloss sum(w)\n' >"$tmp/init2.bp"
first=$("$bpc" grad "$tmp/init1.bp" --f64 | sed -n 's/^loss = //p')
second=$("$bpc" grad "$tmp/init2.bp" --f64 | sed -n 's/^loss = //p')
if [ -n "$first" ] && [ "$first" != "$second" ] && [ "$(cat "$tmp/init.out")" = "sum(w) = $first" ] &&
   [ "$(cat "$tmp/init2.out")" = "$(printf 'sum(w) = %s\nsum(w) = %s' "$second" "$second")" ]; then ok
else bad "initial values after an edit (bpc grad: sum(w) = $first at the first place, $second at the second):"; cat "$tmp/init.out" "$tmp/init2.out"; fi

# Ctrl-C (SIGINT) during :check stops it after the element it is at, and the session goes on:
# tiny_gpt's check takes many minutes, and the Ctrl-C was ignored. The REPL reads a FIFO; the
# signal goes once the check has said it started
repl_fifo "$tmp" check.out "$src/examples/tiny_gpt.bp"
printf ':check\n' >&3
wait_for "$tmp/check.out" "^finite-difference check"
kill -INT $pid
printf '1 + 1\n' >&3
exec 3>&-
wait_for "$tmp/check.out" "^1 + 1 = 2$"
kill $pid 2>/dev/null
wait $pid
if grep -q "^interrupted at [a-z0-9_]*, after [0-9]* of its [0-9]* elements checked: no verdict$" "$tmp/check.out" &&
   grep -q "^1 + 1 = 2$" "$tmp/check.out"; then ok; else bad "Ctrl-C during :check:"; cat "$tmp/check.out"; fi

finish
