# lib.sh — what the test scripts share, sourced once they have read their arguments
# (. "$(dirname "$0")/lib.sh"): a temporary directory $tmp, removed at exit; the counts of
# checks passed and failed, ok and bad to count one (bad prints why); and finish, the
# script's last command, which prints the counts and fails if any check failed.
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
