#!/usr/bin/python3
"""The table of bench/run.sh: reads its records (one line per figure, prefixed with
"model opt threads run") and prints, per model, optimizer and thread count, the medians over
the runs and every issue-8 target with its required value, marked ok or MISS. With the blas
section, "bpc+oblas" is the same step with OpenBLAS's GEMMs (-DBPC_OPENBLAS=ON, through tcc)
and "own GEMM" its time over bpc-tcc's: how much faster bpc's own kernels make the step (for
information; no target).

Speedups are ratios of samples/s (the other's ms per step over bpc's). FLOPs of a step, for
% of peak: every layer's forward GEMM and weight-gradient GEMM, and the input-gradient GEMM of
every layer but the first (2·B·in·out each); the elementwise work is not counted.

Floor of a batch-1 step (bench/peak's traffic=N): at batch 1 a step is bound by the bytes
it moves, not by its GEMM FLOPs: the forward product reads every weight, the update reads
and writes what it keeps per parameter (SGD 8 bytes, Adam 24), and Adam's update takes a
square root and a division per weight. bench/peak times the simplest loop that does that
over the model's parameters; a missed batch-1 speedup is reported with the share of that
floor's speed it would take (above 100 %, no exact step keeping float parameters and
moments can meet it here)."""
import statistics, sys
from collections import defaultdict

LAYERS = {"fashion_mlp": [784, 256, 10], "fashion_mlp3": [784, 512, 256, 10]}
NEED_TORCH = {1: {1: 8.0, 16: 2.2, 64: 1.6, 256: 1.25}, 2: {1: 10.0, 16: 2.5, 64: 1.7, 256: 1.3}}
NEED_OPENBLAS, NEED_PEAK, NEED_TCC_CC, NEED_GRAD, NEED_FIRST = 1.0, 0.75, 1.3, 3.0, 20.0
NEED_CNN, NEED_RSS = 1.5, 0.5  # NEED_CNN: fashion_cnn and tiny_gpt against PyTorch
misses = []
beyond = []  # (cell, share of the FMA peak a missed speedup over PyTorch needs, bpc's share now)
beyond1 = []  # batch 1: (cell, floor ms, ms the target allows, bpc's ms)

def params(model):
    n = LAYERS[model]
    return sum(n[i] * n[i + 1] + n[i + 1] for i in range(len(n) - 1))

def step_flops(model, b):
    n = LAYERS[model]
    pairs = [n[i] * n[i + 1] for i in range(len(n) - 1)]
    return 2.0 * b * (2 * sum(pairs) + sum(pairs[1:]))

def mark(ok, what):
    if not ok:
        misses.append(what)
    return "ok  " if ok else "MISS"

def med(xs):
    return statistics.median(xs) if xs else None

def main():
    ms = defaultdict(list)     # (model, opt, threads, tool, batch) -> [ms]
    ratio = defaultdict(list)  # (model, opt, threads, tool, batch) -> [(fwd+bwd)/fwd]
    first = defaultdict(list)  # (model, jit) -> [ms from .bp to the first step]
    peak = defaultdict(list)   # threads -> [GFLOP/s]
    floor = defaultdict(list)  # (threads, parameters, opt) -> [ms of bench/peak's traffic loop]
    rss = {}
    runs = set()
    args = [a for a in sys.argv[1:] if a != "--markdown"]
    if len(args) != 1:
        sys.exit("usage: bench/report.py [--markdown] RECORDS (build/bench-records.txt, written by bench/run.sh)")
    md = defaultdict(list)  # model -> README's rows (--markdown)
    for line in open(args[0]):
        f = line.split()
        if len(f) < 5:
            continue
        model, opt, thr, run, tool = f[:5]
        runs.add(run)
        if tool == "peak":
            peak[int(f[5])].append(float(f[6]))
        elif tool == "traffic" and len(f) > 8:
            floor[(int(f[5]), int(f[6]), f[7])].append(float(f[8]))
        elif model == "rss":
            rss[opt] = int(tool)
        elif tool == "first":
            first[(model, f[5])].append((float(f[6]), float(f[7])))
        elif len(f) > 7 and f[5] == "B":
            key = (model, opt, int(thr), tool, int(f[6]))
            ms[key].append(float(f[7]))
            if "ratio" in f:
                ratio[key].append(float(f[f.index("ratio") + 1].rstrip(")")))
    nruns = len(runs - {"-"})
    pk = {t: max(v) for t, v in peak.items()}
    if pk:
        print("FP32 FMA peak (bench/peak, best loop of each run, then the best run): "
              + ", ".join(f"{t} thread{'s' if t > 1 else ''} {g:.1f} GFLOP/s" for t, g in sorted(pk.items())))
    combos = sorted({k[:3] for k in ms if k[0] in LAYERS}, key=lambda k: (list(LAYERS).index(k[0]), k[1] != "sgd", k[2]))
    for model, opt, t in combos:
        batches = sorted({k[4] for k in ms if k[:3] == (model, opt, t)})
        print(f"\n== {model}, {opt}, {t} thread{'s' if t > 1 else ''}: ms per step (median of {nruns} runs); "
              "speedups in samples/s, required value in brackets")
        print(f"{'batch':>5} {'torch':>8} {'openblas':>8} {'bpc-tcc':>8} {'bpc-cc':>8} {'bpc+oblas':>9} | {'tcc:torch':>15} "
              f"{'cc:torch':>10} {'need':>6} | {'tcc:oblas':>10} {'cc:oblas':>10} [1.0] | "
              f"{'tcc/cc':>6} [1.3] | {'grad/fwd tcc cc':>15} [3.0] | {'%peak tcc cc':>12} [75%] | {'own GEMM':>8}")
        for b in batches:
            g = {tool: med(ms[(model, opt, t, tool, b)]) for tool in ("torch", "openblas", "bpc-tcc", "bpc-cc")}
            ob = med(ms[(model, opt, t, "bpc+openblas", b)])
            cells = [f"{b:>5}"] + [f"{g[k]:8.4f}" if g[k] else f"{'-':>8}" for k in g] + [f"{ob:9.4f}" if ob else f"{'-':>9}"]
            line = " ".join(cells) + " |"
            where = f"{model} {opt} {t}T B={b}"
            need = NEED_TORCH.get(t, {}).get(b)
            for j in ("bpc-tcc", "bpc-cc"):
                if g["torch"] and g[j]:
                    s = g["torch"] / g[j]
                    line += f" {s:5.2f}x {mark(s >= need, f'{where} {j} vs torch {s:.2f}x < {need}x') if need else '    '}"
                else:
                    line += f" {'-':>10}"
            line += f" {f'[{need}x]' if need else '':>6} |"
            bpc = [g[j] for j in ("bpc-tcc", "bpc-cc") if g[j]]
            if need and b > 1 and t in pk and g["torch"] and bpc and g["torch"] / min(bpc) < need:
                fl = step_flops(model, b) * 1e-6  # MFLOP, over ms: GFLOP/s
                beyond.append((where, fl / (g["torch"] / need) / pk[t], fl / min(bpc) / pk[t]))
            fk = (t, params(model), opt)
            if need and b == 1 and floor[fk] and g["torch"] and bpc and g["torch"] / min(bpc) < need:
                beyond1.append((where, min(floor[fk]), g["torch"] / need, min(bpc)))
            for j in ("bpc-tcc", "bpc-cc"):
                if g["openblas"] and g[j]:
                    s = g["openblas"] / g[j]
                    line += f" {s:5.2f}x {mark(s >= NEED_OPENBLAS, f'{where} {j} vs openblas {s:.2f}x')}"
                else:
                    line += f" {'-':>10}"
            line += "       |"
            if g["bpc-tcc"] and g["bpc-cc"]:
                s = g["bpc-tcc"] / g["bpc-cc"]
                line += f" {s:5.2f} {mark(s <= NEED_TCC_CC, f'{where} tcc/cc {s:.2f}')} |"
            else:
                line += f" {'-':>10}       |"
            rs = [med(ratio[(model, opt, t, j, b)]) for j in ("bpc-tcc", "bpc-cc")]
            if all(rs):
                worst = max(rs)
                line += f" {rs[0]:6.2f} {rs[1]:5.2f} {mark(worst <= NEED_GRAD, f'{where} grad/fwd {worst:.2f}')}       |"
            else:
                line += f" {'-':>15}       |"
            if b == 256 and t in pk:
                fl = step_flops(model, b)
                p = [fl / (g[j] * 1e-3) * 1e-9 / pk[t] if g[j] else 0 for j in ("bpc-tcc", "bpc-cc")]
                line += f" {100 * p[0]:4.0f}% {100 * p[1]:3.0f}% {mark(max(p) >= NEED_PEAK, f'{where} {100 * max(p):.0f}% of peak')}"
            else:
                line += f" {'':>16}"
            line += f" | {ob / g['bpc-tcc']:7.2f}x" if ob and g["bpc-tcc"] else " |"
            print(line)
            if all(g.values()) and ob:
                s_t, s_o = g["torch"] / g["bpc-tcc"], g["openblas"] / g["bpc-tcc"]
                cell = f"{s_t:.2f}x ({need}x)" if need else f"{s_t:.2f}x"
                md[model].append((opt, t, b, g["torch"], g["openblas"], g["bpc-tcc"], g["bpc-cc"], ob,
                                  cell if not need or s_t >= need else f"**{cell}**",
                                  f"{s_o:.2f}x" if s_o >= NEED_OPENBLAS else f"**{s_o:.2f}x**",
                                  f"{ob / g['bpc-tcc']:.2f}x"))
    if beyond:
        print("\nWhat the missed speedups over PyTorch at batches 16-256 would take: bpc's step at this share of "
              "the FMA peak\n(its GEMMs' FLOPs over PyTorch's time divided by the target; above 100 % no step "
              "can meet it here), and its share now:")
        for where, need_share, now_share in beyond:
            print(f"  {where}: needs {100 * need_share:.0f}% of the peak, runs at {100 * now_share:.0f}%"
                  + (" (beyond the FLOP floor)" if need_share > 1 else ""))
    if beyond1:
        print("\nWhat the missed speedups over PyTorch at batch 1 would take: bpc's step within the time the "
              "target allows\n(PyTorch's over the target), against the step's floor (bench/peak's loop doing what "
              "every batch-1 step\nmust: the weights read, the update's state read and written, Adam's "
              "square root and division;\nabove 100 % no step can meet it here), and bpc's step now:")
        for where, fl, allowed, now in beyond1:
            print(f"  {where}: {allowed:.4f} ms allowed, floor {fl:.4f} ms: needs {100 * fl / allowed:.0f}% of "
                  f"the floor's speed, runs at {100 * fl / now:.0f}% ({now:.4f} ms)"
                  + (" (beyond the floor)" if fl > allowed else ""))
    imgs = sorted({k[:3] for k in ms if k[0].endswith("+images")})
    if imgs:
        print("\nBatch 1 fed Fashion-MNIST images (the next of the first 4096 each step; about half of an "
              "image's pixels are 0,\nwhose weight rows a batch-1 product and SGD update skip). For information: "
              "the targets are the tables'\nabove, on uniform random inputs.")
        for model, opt, t in imgs:
            g = {tool: med(ms[(model, opt, t, tool, 1)]) for tool in ("torch", "bpc-tcc", "bpc-cc")}
            if not all(g.values()):
                continue
            rs = [med(ratio[(model, opt, t, j, 1)]) for j in ("bpc-tcc", "bpc-cc")]
            print(f"  {model.split('+')[0]}, {opt}, {t} thread{'s' if t > 1 else ''}: torch {g['torch']:.4f} ms, "
                  f"bpc-tcc {g['bpc-tcc']:.4f}, bpc-cc {g['bpc-cc']:.4f}: {g['torch'] / g['bpc-tcc']:.2f}x / "
                  f"{g['torch'] / g['bpc-cc']:.2f}x [{NEED_TORCH[t][1]}x]; grad/fwd "
                  + " / ".join(f"{r:.2f}" for r in rs if r))
    busy = sorted({k[4] for k in ms if k[0] == "fashion_mlp3+busy"})
    if busy:
        print("\nBeside one busy loop of another program (a machine in use), fashion_mlp3's Adam step, ms "
              "(median of the runs); for information, no target:")
        for b in busy:
            g = {(tool, t): med(ms[("fashion_mlp3+busy", "adam", t, tool, b)]) for tool in ("torch", "bpc-tcc")
                 for t in (1, 2)}
            if not all(g.values()):
                continue
            print(f"  batch {b}: PyTorch {g['torch', 1]:.3f} on 1 thread, {g['torch', 2]:.3f} on 2 "
                  f"({g['torch', 1] / g['torch', 2]:.2f}x the speed of 1); bpc {g['bpc-tcc', 1]:.3f} on 1, {g['bpc-tcc', 2]:.3f} on 2 "
                  f"({g['bpc-tcc', 1] / g['bpc-tcc', 2]:.2f}x the speed of 1); bpc against PyTorch on 2 threads "
                  f"{g['torch', 2] / g['bpc-tcc', 2]:.2f}x")
    if first:
        print()
        for (model, jit), v in sorted(first.items()):
            if jit != "tcc":
                continue
            m, c = med([x[0] for x in v]), med([x[1] for x in v])
            print(f".bp to first training step through libtcc, {model}: {m:.1f} ms (median of {len(v)}; of which "
                  f"parse to JIT {c:.1f} ms, then the first step at the first batch size) [<= {NEED_FIRST:.0f} ms] "
                  + (mark(m <= NEED_FIRST, f"{model} .bp to first step {m:.1f} ms") if model == "fashion_mlp" else "(target set for fashion_mlp)"))
    for name, batch in (("fashion_cnn", 64), ("tiny_gpt", 32)):
        one = {(t, tool): med(v) for (model, _, t, tool, b), v in ms.items() if model == name}
        for t in sorted({k[0] for k in one}):
            tm = one.get((t, "torch"))
            ob = one.get((t, "bpc+openblas"))
            if ob and one.get((t, "bpc-tcc")):
                print(f"{name}, Adam, batch {batch}, {t} thread{'s' if t > 1 else ''}: with OpenBLAS's GEMMs "
                      f"(-DBPC_OPENBLAS=ON, tcc) {ob:.2f} ms: bpc's own kernels {ob / one[(t, 'bpc-tcc')]:.2f}x as fast")
            for j in ("bpc-tcc", "bpc-cc"):
                if tm and one.get((t, j)):
                    s = tm / one[(t, j)]
                    rs = [x for (model, _, tt, tool, b), v in ratio.items() if model == name and tt == t and tool == j
                          for x in v]
                    gr = (f"; grad/fwd {med(rs):.2f} [{NEED_GRAD}] "
                          + mark(med(rs) <= NEED_GRAD, f"{name} {t}T {j} grad/fwd {med(rs):.2f}")) if rs else ""
                    print(f"{name}, Adam, batch {batch}, {t} thread{'s' if t > 1 else ''}: torch {tm:.2f} ms, {j} "
                          f"{one[(t, j)]:.2f} ms: {s:.2f}x [>= {NEED_CNN}x] {mark(s >= NEED_CNN, f'{name} {t}T {j} {s:.2f}x')}"
                          + gr)
    if "bpc" in rss and "torch" in rss:
        s = rss["bpc"] / rss["torch"]
        print(f"peak RSS, fashion_mlp 1 epoch: bpc train {rss['bpc'] / 1024:.0f} MB, PyTorch {rss['torch'] / 1024:.0f} MB: "
              f"{s:.2f}x [<= {NEED_RSS}x] {mark(s <= NEED_RSS, f'peak RSS {s:.2f}x')}")
    print(f"\n{len(misses)} target{'s' if len(misses) != 1 else ''} missed" + (":" if misses else ""))
    for m in misses:
        print("  " + m)
    if "--markdown" in sys.argv[1:]:  # README's tables (its Performance section), the misses in bold
        for model, rows in md.items():
            print(f"\n| {model} | batch | PyTorch | C + OpenBLAS | bpc tcc | bpc cc | bpc tcc, OpenBLAS GEMM | "
                  "tcc vs PyTorch (target) | tcc vs OpenBLAS | own GEMM vs OpenBLAS GEMM |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            last = None
            for opt, t, b, *cells in rows:
                label = f"{'SGD' if opt == 'sgd' else 'Adam'}, {t} thread{'s' if t > 1 else ''}" if (opt, t) != last else ""
                last = (opt, t)
                print(f"| {label} | {b} | " + " | ".join(f"{c:.3f}" if isinstance(c, float) else c for c in cells) + " |")

if __name__ == "__main__":
    main()
