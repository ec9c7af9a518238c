#!/bin/sh
# Writes the text corpus examples/tiny_gpt.bp trains on: every fortune of Debian's
# `fortunes` and `fortunes-min` packages (/usr/share/games/fortunes), the files in
# alphabetical order, without the index files (*.dat), the *.u8 links and the lines of one
# '%' that separate the fortunes. About 2.5 MB of English.
# Usage: scripts/fortunes-corpus.sh [OUT.txt]   (default: fortunes.txt)
set -e
out=${1:-fortunes.txt}
dir=/usr/share/games/fortunes
if [ ! -r "$dir/fortunes" ]; then
  echo "fortunes-corpus.sh: no $dir/fortunes: install the fortunes package (scripts/install-deps.sh)" >&2
  exit 1
fi
for f in "$dir"/*; do
  case $f in *.dat | *.u8) continue ;; esac
  [ -f "$f" ] && grep -v '^%$' "$f"
done >"$out"
echo "wrote $out: $(wc -c <"$out") bytes"
