#!/bin/sh
# Training-step benchmark: bpc (tcc and cc JIT) against PyTorch, same thread count, in one
# run. Installs Debian's python3-torch if missing (not needed by the tests).
# usage: bench/run.sh [BUILD_DIR] [MODEL] [OPT]     e.g. bench/run.sh build fashion_mlp adam
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:-fashion_mlp}
opt=${3:-adam}
batches=${BATCHES:-1,16,64,256}
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q python3-torch >/dev/null
fi
[ -x "$build/bench_step" ] || cmake --build "$build" --target bench_step -j2
src=examples/$model.bp
tmp=$(mktemp)
sed "s/^optimizer .*/optimizer $opt(lr = 1e-4)/" "$src" > "$tmp.bp"
for t in 1 2; do
  echo "== $model, $opt, $t thread(s)"
  # PyTorch in its fastest setup here: OpenMP OpenBLAS with its own CPU detection
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$t /usr/bin/python3 bench/torch_step.py "$model" "$t" "$batches" "$opt" > "$tmp.torch"
  BPRT_NUM_THREADS=$t "$build/bench_step" "$tmp.bp" --jit tcc --batches "$batches" > "$tmp.tcc"
  BPRT_NUM_THREADS=$t "$build/bench_step" "$tmp.bp" --jit cc --batches "$batches" > "$tmp.cc"
  printf '%6s %12s %12s %12s %9s %9s %10s\n' batch "torch s/s" "bpc-tcc s/s" "bpc-cc s/s" "tcc/torch" "cc/torch" "grad/fwd"
  for f in torch tcc cc; do awk '{ print $3, $6, $NF }' "$tmp.$f" > "$tmp.$f.col"; done
  paste -d' ' "$tmp.torch.col" "$tmp.tcc.col" "$tmp.cc.col" |
    awk '{ r = $9; sub(/\)/, "", r); printf "%6d %12.0f %12.0f %12.0f %8.2fx %8.2fx %10s\n", $1, $2, $5, $8, $5/$2, $8/$2, r }'
done
rm -f "$tmp" "$tmp".*
