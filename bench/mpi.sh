#!/bin/sh
# Data-parallel training throughput: samples/s of `bpc train examples/fashion_mlp.bp` (Adam,
# tcc JIT) with 1 process and with N ranks under mpirun, for a few global batch sizes.
# The figure is bpc's own "samples/s" of the training loop (forward, backward, gradient sum,
# update; not the data loading or the evaluation).
# usage: bench/mpi.sh [BUILD_DIR] [STEPS]        e.g. bench/mpi.sh build 1000
# env: BATCHES (default "64 256 1024"), RANKS (default 2), MPIRUN_OPTS (extra mpirun options,
# e.g. "--hostfile hosts" on a cluster)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-1000}
batches=${BATCHES:-64 256 1024}
ranks=${RANKS:-2}
data=/usr/share/datasets/fashion-mnist
bpc=$build/bpc
"$bpc" --help | grep -q "MPI: built in" || { echo "bench/mpi.sh: $bpc is built without MPI (scripts/install-deps.sh, rebuild)"; exit 1; }
root=
[ "$(id -u)" -ne 0 ] || root=--allow-run-as-root
rate() { sed -n 's/^epoch .* \([0-9][0-9]*\) samples\/s.*/\1/p' | tail -1; }
echo "fashion_mlp, Adam, $steps steps per run, $(nproc) cores; samples/s (higher is better)"
printf '%8s %16s %16s %22s %9s\n' batch "1 proc, 1 thr" "1 proc, $ranks thr" "$ranks ranks x 1 thr" speedup
for b in $batches; do
  # shellcheck disable=SC2086
  one=$("$bpc" train examples/fashion_mlp.bp --data $data --steps "$steps" --batch "$b" --threads 1 | rate)
  # shellcheck disable=SC2086
  thr=$("$bpc" train examples/fashion_mlp.bp --data $data --steps "$steps" --batch "$b" --threads "$ranks" | rate)
  # shellcheck disable=SC2086
  dist=$(mpirun $root --oversubscribe ${MPIRUN_OPTS:-} -n "$ranks" "$bpc" train examples/fashion_mlp.bp --data $data \
    --steps "$steps" --batch "$b" --threads 1 | rate)
  printf '%8d %16d %16d %22d %8.2fx\n' "$b" "$one" "$thr" "$dist" "$(echo "$dist / $one" | bc -l)"
done
