# lib.sh — what the test scripts share, sourced once they have read their arguments
# (. "$(dirname "$0")/lib.sh"): a temporary directory $tmp, removed at exit; the counts of
# checks passed and failed, ok and bad to count one (bad prints why), has and hasnt to look
# for a pattern in a file; run, a command's exit status; and finish, the
# script's last command, which prints the counts and fails if any check failed; a REPL fed
# through a FIFO while the script waits for its output (repl_fifo, wait_for); a file a
# background run writes (wait_for_file); and small IDX
# data sets made on the spot (dataset).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
# has FILE PATTERN WHAT: a line of FILE matches PATTERN (grep); hasnt: none does
has() { # file text what
  if grep -q -- "$2" "$1"; then ok; else bad "$3: no '$2' in:"; cat "$1"; fi
}
hasnt() { # file text what
  if grep -q -- "$2" "$1"; then bad "$3: '$2' in:"; cat "$1"; else ok; fi
}

# run STATUS CMD...: CMD exits with STATUS (stdout in $tmp/out, stderr in $tmp/err, both
# printed when it does not)
run() {
  want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" -eq "$want" ]; then ok; else bad "'$*' exited $got, expected $want"; cat "$tmp/out" "$tmp/err"; fi
}
# wait_for_file FILE PID: until FILE exists (a run's first checkpoint) or PID has ended, 60 s
# at most
wait_for_file() {
  n=0
  while [ ! -f "$1" ] && kill -0 "$2" 2>/dev/null && [ $n -lt 3000 ]; do sleep 0.02; n=$((n + 1)); done
}

# repl_fifo DIR OUT ARGS...: `$bpc repl ARGS` in DIR, in the background ($pid), its input
# the FIFO DIR/in.fifo that fd 3 writes to (exec 3>&- ends it), its output in DIR/OUT
repl_fifo() {
  fifo_dir=$1 fifo_out=$2
  shift 2
  rm -f "$fifo_dir/in.fifo"
  mkfifo "$fifo_dir/in.fifo"
  (cd "$fifo_dir" && exec "$bpc" repl "$@" <in.fifo >"$fifo_out" 2>&1) &
  pid=$!
  exec 3>"$fifo_dir/in.fifo"
}
# wait_for FILE PATTERN [N]: until FILE has N lines (1) matching PATTERN, 60 s at most
wait_for() {
  n=0
  while [ "$(cat "$1" 2>/dev/null | grep -c -- "$2")" -lt "${3:-1}" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
}

# bytes V...: the bytes of values V (0-255); be32 N: N as 4 big-endian bytes
bytes() { for v in "$@"; do printf "\\$(printf %03o "$v")"; done; }
be32() { bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
# images FILE N: N images of 2x2 pixels; labels FILE L...: one label each
images() {
  { bytes 0 0 8 3; be32 "$2"; be32 2; be32 2; i=0
    while [ $i -lt $(($2 * 4)) ]; do bytes $((i * 37 % 256)); i=$((i + 1)); done; } >"$1"
}
labels() {
  f=$1; shift
  { bytes 0 0 8 1; be32 $#; bytes "$@"; } >"$f"
}
# dataset DIR TRAIN-LABELS TEST-LABELS: a data directory (labels as "0 1 2 ...")
dataset() {
  mkdir -p "$1"
  images "$1/train-images-idx3-ubyte" $(echo $2 | wc -w)
  labels "$1/train-labels-idx1-ubyte" $2
  images "$1/t10k-images-idx3-ubyte" $(echo $3 | wc -w)
  labels "$1/t10k-labels-idx1-ubyte" $3
}
