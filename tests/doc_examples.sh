#!/bin/sh
# The documentation's examples, run as shown: what README.md (and LANGUAGE.md, when the
# contract sits beside the repository as README's link ../shared/LANGUAGE.md has it, or at
# $BPC_LANGUAGE_MD) shows must work exactly as shown.
#
# Each fenced block of README.md is taken by its form:
#   - lines "$ COMMAND" followed by output: a session. Every command is run (in a directory
#     holding copies of examples/, with `bpc` and `build/bpc` the bpc under test) and must
#     exit 0 and print exactly the lines that follow it, less the "  # ..." comments the
#     README adds for explanation. Sessions of commands other than bpc, sed and cat (mpirun)
#     are skipped, and so are those naming files the README does not make (datasets, a
#     trained model).
#   - "$ bpc repl" with "bp> " lines: the lines are fed to the REPL through a pipe, which
#     prints no banner and no prompts; the output must be the block's other lines. A
#     session that trains (`:train`) prints timings and is skipped.
#   - an `sh` block of plain command lines: each `build/bpc ...` line that needs no dataset,
#     text, trained file or pipe must exit 0.
#   - a block with a `loss` statement: a whole program, which must compile (--emit=ir).
#   - a `c` block: prototypes of the generated API for fashion_mlp, which its header must
#     declare so (the block compiles after the header).
#     Blocks without one are fragments of a program and are skipped.
# LANGUAGE.md's programs must compile to C that builds with -std=c99 -Wall -Wextra -Werror
# -pedantic, and its C API block must be fashion_mlp's header, line for line.
# usage: doc_examples.sh BPC SOURCE_DIR
set -u
bpc=$1
src=$2
. "$(dirname "$0")/lib.sh"

work=$tmp/work
mkdir -p "$work/build" "$work/bin" "$work/examples"
cp "$src"/examples/*.bp "$work/examples/"
ln -s "$bpc" "$work/build/bpc"
ln -s "$bpc" "$work/bin/bpc"
PATH=$work/bin:$PATH
export PATH

# blocks DOC DIR: each fenced block of DOC as DIR/N (its first line "LINE LANG")
blocks() {
  mkdir -p "$2"
  awk -v dir="$2" '
    /^[ \t]*```/ {
      if (!inb) { inb = 1; n++; f = dir "/" n; lang = $0; sub(/^[ \t]*```/, "", lang); print NR + 1, lang > f }
      else { inb = 0; close(f) }
      next
    }
    inb { print > f }' "$1"
}

# session FILE LINE: a "$ " block run command by command
session() {
  sed 1d "$1" >"$tmp/blk"
  # skipped: another program than bpc/sed/cat, or a file the README does not make
  if grep '^\$ ' "$tmp/blk" | grep -v -q -E '^\$ (build/)?bpc |^\$ sed |^\$ cat '; then skipped=$((skipped + 1)); return; fi
  if grep -q -E '/usr/share/datasets|fortunes|gpt\.safetensors|:train' "$tmp/blk"; then skipped=$((skipped + 1)); return; fi
  if grep -q '^bp> ' "$tmp/blk"; then
    sed -n 's/^bp> //p' "$tmp/blk" >"$tmp/in"
    grep -v -e '^bp> ' -e '^\$ ' -e '^bpc [0-9.]*: .*Ctrl-D leaves$' "$tmp/blk" >"$tmp/want"
    (cd "$work" && $(sed -n 's/^\$ //p' "$tmp/blk" | sed 's/#.*//') <"$tmp/in" >"$tmp/got" 2>&1)
    if cmp -s "$tmp/want" "$tmp/got"; then ok; else bad "README.md:$2: the REPL session differs:"; diff "$tmp/want" "$tmp/got"; fi
    return
  fi
  # one file per command: CMD, then its expected output
  awk -v dir="$tmp/cmd" '
    /^\$ / { n++; f = dir "." n; c = substr($0, 3); sub(/[ \t]+#.*$/, "", c); print c > f; next }
    { sub(/[ \t]+#.*$/, ""); print > f }' "$tmp/blk"
  for c in "$tmp"/cmd.*; do
    cmd=$(head -n 1 "$c")
    sed 1d "$c" >"$tmp/want"
    (cd "$work" && sh -c "$cmd" >"$tmp/got" 2>&1); st=$?
    if [ "$st" -eq 0 ] && cmp -s "$tmp/want" "$tmp/got"; then ok
    else bad "README.md:$2: '$cmd' exited $st; output (expected, got):"; diff "$tmp/want" "$tmp/got"; fi
  done
  rm -f "$tmp"/cmd.*
}

skipped=0
blocks "$src/README.md" "$tmp/readme"
for b in "$tmp"/readme/*; do
  line=$(head -n 1 "$b" | cut -d' ' -f1)
  lang=$(head -n 1 "$b" | cut -d' ' -f2-)
  if sed -n 2p "$b" | grep -q '^\$ '; then
    session "$b" "$line"
  elif [ "$lang" = sh ]; then
    sed 1d "$b" | sed 's/[ \t]#.*//' | grep '^build/bpc ' | grep -v -E '/usr/share|\$|\||\.txt|\.safetensors' >"$tmp/cmds"
    while IFS= read -r cmd; do
      (cd "$work" && sh -c "$cmd" >"$tmp/got" 2>&1); st=$?
      if [ "$st" -eq 0 ]; then ok; else bad "README.md:$line: '$cmd' exited $st"; cat "$tmp/got"; fi
    done <"$tmp/cmds"
  elif [ "$lang" = c ]; then
    # C API prototypes, shown for fashion_mlp: each function is in its header, and the block
    # (NAME -> fashion_mlp, real -> float) compiles after it (a differing prototype is an error)
    [ -f "$work/fashion_mlp.h" ] || "$bpc" "$src/examples/fashion_mlp.bp" -o "$work/fashion_mlp.c"
    { echo '#include "fashion_mlp.h"'; sed 1d "$b" | sed -e 's/NAME_/fashion_mlp_/g' -e 's/\<real\>/float/g'; } >"$work/doc_$line.c"
    if ${CC:-cc} -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$work" "$work/doc_$line.c" >"$tmp/got" 2>&1; then ok
    else bad "README.md:$line: the C API block does not match fashion_mlp.h"; cat "$tmp/got"; fi
    for f in $(sed 1d "$b" | grep -o 'NAME_[a-z_]*(' | tr -d '('); do
      grep -q "[ *]fashion_mlp_${f#NAME_}(" "$work/fashion_mlp.h" && ok || bad "README.md:$line: fashion_mlp.h has no $f"
    done
  elif [ -z "$lang" ] && sed 1d "$b" | grep -q -E '^loss[ \t]'; then
    sed 1d "$b" >"$work/doc_$line.bp"
    if "$bpc" --emit=ir "$work/doc_$line.bp" >"$tmp/got" 2>&1; then ok; else bad "README.md:$line: the program does not compile"; cat "$tmp/got"; fi
  else
    skipped=$((skipped + 1))
  fi
done
echo "README.md: $skipped blocks skipped (fragments, datasets, timings, other programs)"

lang_md=${BPC_LANGUAGE_MD:-$src/../shared/LANGUAGE.md}
if [ -f "$lang_md" ]; then
  blocks "$lang_md" "$tmp/lang"
  for b in "$tmp"/lang/*; do
    line=$(head -n 1 "$b" | cut -d' ' -f1)
    lang=$(head -n 1 "$b" | cut -d' ' -f2-)
    if [ -z "$lang" ]; then
      sed 1d "$b" >"$work/lang_$line.bp"
      if "$bpc" "$work/lang_$line.bp" -o "$work/lang_$line.c" >"$tmp/got" 2>&1 &&
         ${CC:-cc} -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$src/runtime" "$work/lang_$line.c" >>"$tmp/got" 2>&1; then ok
      else bad "LANGUAGE.md:$line: the program does not compile to warning-free C"; cat "$tmp/got"; fi
      grep -q '^model fashion_mlp' "$work/lang_$line.bp" && header=$work/lang_$line.h
    elif [ "$lang" = c ] && [ -n "${header:-}" ]; then
      # NAME -> fashion_mlp, real -> float; the header's spacing and comments may differ
      sed 1d "$b" | sed -e 's/NAME_OFF_<param> <offset>/FASHION_MLP_OFF_W1 0/' -e 's/NAME_NPARAMS <count>/FASHION_MLP_NPARAMS/' \
        -e 's/NAME_/fashion_mlp_/g' -e 's/\<real\>/float/g' -e 's:/\*.*::' -e 's/  */ /g' -e 's/ *$//' >"$tmp/api"
      sed -e 's:/\*.*::' -e 's/  */ /g' -e 's/ *$//' "$header" >"$tmp/h"
      while IFS= read -r l; do
        if grep -q -F -x -e "$l" "$tmp/h" || { case $l in "#define FASHION_MLP_NPARAMS") grep -q '^#define FASHION_MLP_NPARAMS [0-9]*$' "$tmp/h";; *) false;; esac; }; then ok
        else bad "LANGUAGE.md:$line: fashion_mlp.h lacks '$l'"; fi
      done <"$tmp/api"
    fi
  done
else
  echo "LANGUAGE.md not found at $lang_md: its examples are not checked"
fi
finish
