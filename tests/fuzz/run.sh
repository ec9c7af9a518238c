#!/bin/sh
# Runs each libFuzzer harness deterministically and bounded: a fixed seed and a fixed number
# of runs (sized for ~30-60 s each on a 2-core machine), inputs up to 4 KiB, 10 s per input,
# starting from a temporary copy of its seed corpus (the repository is never written).
# Any crash, leak, timeout or out-of-memory fails the run; the input is printed (base64)
# and kept in the temporary directory, which is then named. A harness's dictionary
# (tests/fuzz/NAME.dict) is used if there is one; the harnesses' own output (the REPL's) is
# dropped (-close_fd_mask=3: libFuzzer's and the sanitizers' reports still show). .ci/run calls this.
# usage: tests/fuzz/run.sh BUILD_DIR   (a build with -DBPC_FUZZ=ON, clang)
# FUZZ_SCALE=k multiplies every run count (e.g. FUZZ_SCALE=10 for a long local session).
set -u
build=$1
src=$(cd "$(dirname "$0")" && pwd)
scale=${FUZZ_SCALE:-1}
fail=0
for spec in frontend:60000 safetensors:250000 idx:150000 repl:500; do
  name=${spec%%:*}
  runs=$((${spec#*:} * scale))
  tmp=$(mktemp -d)
  mkdir "$tmp/corpus" "$tmp/artifacts"
  cp "$src/corpus/$name"/* "$tmp/corpus/"
  dict=
  [ -f "$src/$name.dict" ] && dict=-dict=$src/$name.dict
  start=$(date +%s)
  # shellcheck disable=SC2086
  if "$build/fuzz_$name" $dict -seed=1 -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -close_fd_mask=3 -artifact_prefix="$tmp/artifacts/" "$tmp/corpus" >"$tmp/log" 2>&1; then
    echo "fuzz_$name: $runs runs in $(( $(date +%s) - start )) s, no findings ($(ls "$tmp/corpus" | wc -l) corpus inputs)"
    rm -rf "$tmp"
  else
    echo "FAIL: fuzz_$name found a problem (log and input kept in $tmp):"
    grep -E "ERROR|runtime error|internal error|SUMMARY|Test unit written|Base64" "$tmp/log" | head -20
    fail=1
  fi
done
exit $fail
