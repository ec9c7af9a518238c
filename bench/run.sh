#!/bin/sh
# Every performance target of issue 8 in one run: bpc's training step (tcc and cc JIT) against
# PyTorch and against the hand-written C + OpenBLAS baseline (bench/openblas_step.c), at the
# same thread count, interleaved, each figure the median of REPS runs; % of the measured FP32
# FMA peak (bench/peak.c), and the memory floor of a batch-1 step (bench/peak.c traffic=N);
# .bp to first training step through libtcc; tcc/cc; the gradient overhead; the fashion_cnn
# and tiny_gpt steps against PyTorch; peak resident memory of a training run.
# bench/report.py prints the table and marks each target ok or MISS.
#
# Installs what the benchmark needs and the tests do not: Debian's python3-torch and the
# OpenMP OpenBLAS (libopenblas0-openmp, libopenblas-openmp-dev for cblas.h). PyTorch and the
# baseline run in their fastest setup here: OpenBLAS from /usr/lib/<arch>/openblas-openmp
# with its own CPU detection (OPENBLAS_CORETYPE unset: AVX-512 kernels), and, for PyTorch,
# glibc malloc told to keep freed memory (without it every step of PyTorch maps and faults
# in fresh pages for its gradients, which costs several times the step itself here) and to
# use transparent huge pages (glibc.malloc.hugetlb=1: bpc's runtime and the baseline put
# their big arrays on huge pages; for PyTorch it measured no different). bpc runs with the
# machine's environment as it is.
#
# usage: bench/run.sh [BUILD_DIR]            (default build; bpc and bench_step are built there)
# env (each a space-separated list or a value; defaults give the full run, 10-15 minutes):
#   MODELS="fashion_mlp fashion_mlp3"  OPTS="sgd adam"  THREADS="1 2"  BATCHES=1,16,64,256
#   REPS=3 (runs of everything, interleaved)  SECONDS_PER=0.3 (per figure in each tool)
#   SECTIONS="peak check step blas images cnn gpt busy rss"  e.g. MODELS=fashion_mlp OPTS=sgd THREADS=1 SECTIONS=step REPS=1
#   (images: the MLPs' batch-1 steps fed Fashion-MNIST images instead of uniform random inputs;
#   blas: the step, cnn and gpt sections also time bpc built with -DBPC_OPENBLAS=ON in
#   BUILD_DIR-openblas, the same generated code with OpenBLAS's GEMMs instead of bpc's, through tcc;
#   busy: fashion_mlp3's Adam steps at batches 16 and 64, PyTorch and bpc on 1 and 2 threads, beside
#   one busy loop of another program, for information: no target)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
models=${MODELS:-fashion_mlp fashion_mlp3}
opts=${OPTS:-sgd adam}
threads=${THREADS:-1 2}
batches=${BATCHES:-1,16,64,256}
reps=${REPS:-3}
secs=${SECONDS_PER:-0.3}
sections=${SECTIONS:-peak check step blas images cnn gpt busy rss}
data=/usr/share/datasets/fashion-mnist
has() { case " $sections " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- dependencies: PyTorch, OpenMP OpenBLAS, /usr/bin/time ---------------------------------
# (scripts/install-deps.sh: the project's packages, which the build installed, and these)
sh scripts/install-deps.sh python3-torch libopenblas0-openmp libopenblas-openmp-dev time >/dev/null
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
oblas=/usr/lib/$arch/openblas-openmp
tunables=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824:glibc.malloc.hugetlb=1
# PyTorch: the OpenMP OpenBLAS whatever the alternatives system says, its own CPU detection
torch_env="env -u OPENBLAS_CORETYPE LD_LIBRARY_PATH=$oblas GLIBC_TUNABLES=$tunables"

# ---- builds: bpc and bench_step in BUILD_DIR; the baseline and the peak loop with cc directly
if ! cmake --build "$build" --target bpc bench_step -j2 >"$build/bench-build.log" 2>&1; then
  [ -x "$build/bench_step" ] && [ -x "$build/bpc" ] || { cat "$build/bench-build.log"; exit 1; }
  echo "bench/run.sh: warning: rebuilding bpc and bench_step failed ($build/bench-build.log); using the existing ones"
fi
# bpc with OpenBLAS's GEMMs (-DBPC_OPENBLAS=ON), side by side with its own kernels
oblas_build=$build-openblas
if has blas; then
  if ! { cmake -S . -B "$oblas_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBPC_OPENBLAS=ON &&
         cmake --build "$oblas_build" --target bench_step -j2; } >"$build/bench-openblas-build.log" 2>&1; then
    cat "$build/bench-openblas-build.log"
    exit 1
  fi
fi
# bench_step of that build through tcc, its lines as tool bpc+openblas (OpenBLAS with its own
# CPU detection and the thread count bpc's runtime is given, as PyTorch and the baseline run)
oblas_step() {
  t=$1
  shift
  env -u OPENBLAS_CORETYPE BPRT_NUM_THREADS="$t" OMP_NUM_THREADS="$t" "$oblas_build/bench_step" "$@" --jit tcc \
    --seconds "$secs" 2>/dev/null | sed 's/^bpc-tcc /bpc+openblas /'
}
bin=$build/bench-bin
mkdir -p "$bin"
cc -std=c11 -O3 -march=native -fno-math-errno -fopenmp -I/usr/include/$arch/openblas-openmp bench/openblas_step.c \
  -o "$bin/openblas_step" -L"$oblas" -Wl,-rpath,"$oblas" -lopenblas -lm
cc -std=c11 -O2 -fopenmp bench/peak.c -o "$bin/peak"

out=$(mktemp -d)
busy=
trap 'rm -rf "$out"; [ -z "$busy" ] || kill $busy' EXIT
rec=$out/records
: > "$rec"
echo "bench/run.sh: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M) UTC"
$torch_env /usr/bin/python3 -c "import torch; torch.mm(torch.ones(2, 2), torch.ones(2, 2))
print('PyTorch', torch.__version__, 'BLAS:', ' '.join(sorted({l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l})))"
env -u OPENBLAS_CORETYPE /usr/bin/python3 -c "import ctypes; l = ctypes.CDLL('$oblas/libopenblas.so.0')
l.openblas_get_corename.restype = ctypes.c_char_p
print('OpenBLAS kernels (OPENBLAS_CORETYPE unset):', l.openblas_get_corename().decode(), '; machine sets OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-}')"

# ---- same step in bpc and the baseline: identical losses over 3 steps from one init ---------
if has check; then
  for m in $models; do
    for o in $opts; do
      lr=0.05
      [ "$o" = sgd ] || lr=0.001
      "$bin/openblas_step" --check "$out" --model "$m" --opt "$o" --lr $lr --steps 3 --batch 64 > "$out/check.ob"
      "$build/bpc" train "examples/$m.bp" --params "$out/params.safetensors" --inputs "$out/inputs.safetensors" \
        --steps 3 --opt "$o" --lr $lr | grep loss > "$out/check.bpc"
      paste -d' ' "$out/check.ob" "$out/check.bpc" | awk -v what="$m $o" '
        { a = $NF; b = $(NF / 2); d = (a > b ? a - b : b - a) / (b < 0 ? -b : b); if (d > worst) worst = d; n++ }
        END { ok = n == 4 && worst <= 1e-5
              printf "check %-22s bpc and openblas_step: losses of 3 steps and after, max relative difference %.1e %s\n",
                     what, worst, ok ? "ok" : "MISMATCH"
              exit !ok }' || { echo "bench/run.sh: the baseline and bpc disagree:"; paste "$out/check.ob" "$out/check.bpc"; exit 1; }
    done
  done
fi

# ---- the interleaved runs -----------------------------------------------------------------
# bench/peak's memory floor of a batch-1 step, over each model's parameters (traffic=N)
traffic=$(for m in $models; do /usr/bin/python3 -c "import sys; sys.path.insert(0, 'bench'); import report; print('traffic=%d' % report.params('$m'))" 2>/dev/null; done)
tag() { sed "s/^/$1 /" >> "$rec"; }
for r in $(seq "$reps"); do
  echo "run $r of $reps ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
  if has peak; then "$bin/peak" $threads $traffic | tag "- - - $r"; fi
  if has step; then
    for m in $models; do
      for o in $opts; do
        sed "s/^optimizer .*/optimizer $o(lr = 1e-4)/" "examples/$m.bp" > "$out/$m-$o.bp"
        for t in $threads; do
          key="$m $o $t $r"
          $torch_env OMP_NUM_THREADS=$t /usr/bin/python3 bench/torch_step.py "$m" "$t" "$batches" "$o" "$secs" 2>/dev/null | tag "$key"
          env -u OPENBLAS_CORETYPE OMP_NUM_THREADS=$t "$bin/openblas_step" --model "$m" --opt "$o" --threads "$t" \
            --batches "$batches" --seconds "$secs" 2>/dev/null | tag "$key"
          for j in tcc cc; do
            BPRT_NUM_THREADS=$t "$build/bench_step" "$out/$m-$o.bp" --jit $j --batches "$batches" --seconds "$secs" \
              2> "$out/err" | tag "$key"
            sed -n 's/^# .*: \.bp to first training step \([0-9.]*\) ms (compile + \([a-z]*\) JIT \([0-9.]*\) ms.*/first \2 \1 \3/p' \
              "$out/err" | tag "$key"
          done
          if has blas; then oblas_step "$t" "$out/$m-$o.bp" --batches "$batches" | tag "$key"; fi
        done
      done
    done
  fi
  if has images && [ -f "$data/train-images-idx3-ubyte.gz" ]; then # batch 1 on the dataset's images
    for m in $models; do
      for o in $opts; do
        sed "s/^optimizer .*/optimizer $o(lr = 1e-4)/" "examples/$m.bp" > "$out/$m-$o.bp"
        for t in $threads; do
          key="$m+images $o $t $r"
          $torch_env OMP_NUM_THREADS=$t /usr/bin/python3 bench/torch_step.py "$m" "$t" 1 "$o" "$secs" "$data" 2>/dev/null |
            tag "$key"
          for j in tcc cc; do
            BPRT_NUM_THREADS=$t "$build/bench_step" "$out/$m-$o.bp" --jit $j --batches 1 --seconds "$secs" \
              --images "$data" 2>/dev/null | tag "$key"
          done
        done
      done
    done
  fi
  for spec in cnn:fashion_cnn:64 gpt:tiny_gpt:32; do # section:model:batch (tiny_gpt: README's training batch)
    sec=${spec%%:*} rest=${spec#*:}
    m=${rest%%:*} b=${rest#*:}
    has "$sec" || continue
    for t in $threads; do
      key="$m adam $t $r"
      $torch_env OMP_NUM_THREADS=$t /usr/bin/python3 bench/torch_step.py "$m" "$t" "$b" adam "$secs" 2>/dev/null | tag "$key"
      for j in tcc cc; do
        BPRT_NUM_THREADS=$t "$build/bench_step" "examples/$m.bp" --jit $j --batches "$b" --seconds "$secs" 2>/dev/null | tag "$key"
      done
      if has blas; then oblas_step "$t" "examples/$m.bp" --batches "$b" | tag "$key"; fi
    done
  done
  # beside one busy loop of another program (a machine in use): 1 and 2 threads
  if has busy; then
    sed "s/^optimizer .*/optimizer adam(lr = 1e-4)/" examples/fashion_mlp3.bp > "$out/busy.bp" # (as the step section's)
    sh -c 'while :; do :; done' &
    busy=$!
    for t in 1 2; do
      key="fashion_mlp3+busy adam $t $r"
      $torch_env OMP_NUM_THREADS=$t /usr/bin/python3 bench/torch_step.py fashion_mlp3 "$t" 16,64 adam 1 2>/dev/null | tag "$key"
      BPRT_NUM_THREADS=$t "$build/bench_step" "$out/busy.bp" --jit tcc --batches 16,64 --seconds 1 2>/dev/null | tag "$key"
    done
    kill $busy
    busy=
  fi
done

# ---- peak resident memory of one training epoch (1 thread each) -----------------------------
if has rss; then
  echo "rss: bpc train and PyTorch, fashion_mlp, 1 epoch ($(date -u +%H:%M:%S))"
  maxrss() { sed -n 's/.*Maximum resident set size (kbytes): //p'; }
  /usr/bin/time -v "$build/bpc" train examples/fashion_mlp.bp --data $data --epochs 1 --threads 1 2>&1 >/dev/null |
    maxrss | tag "rss bpc - -"
  $torch_env /usr/bin/time -v /usr/bin/python3 bench/torch_train.py $data 1 1 2>&1 >/dev/null | maxrss | tag "rss torch - -"
fi

cp "$rec" "$build/bench-records.txt"
echo "(records in $build/bench-records.txt: bench/report.py prints this table again from them; with --markdown, README's tables too)"
echo
/usr/bin/python3 bench/report.py "$rec"
