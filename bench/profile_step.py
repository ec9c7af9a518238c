#!/usr/bin/env python3
"""profile_step.py -- where a model's training step spends its time, node by node.

usage: bench/profile_step.py FILE.bp [--build build] [--batch 32] [--threads 1] [--steps 20]
                             [--runs 3] [--int-max 10] [--top 40] [--c FILE] [--fn step|grad|loss]

Emits the model's C with bpc (--emit=c), puts a timer before each node of the generated
NAME_step_ (at the `/* %N = op ... */` comments the emitter writes), one before its checks
and one before each call of the update, compiles it with cc -O3 -march=native against BUILD/libbprt.a, runs STEPS training
steps RUNS times, and prints each node's milliseconds per step (the minimum over the runs,
which sheds the other tenants' noise of a shared machine), largest first, with the step's
total. A GEMM with an epilogue shows under the epilogue's node ("..., on each finished
block of the product"); a node computed inline by its user is not listed. Inputs are random:
reals uniform in [0, 1), `: int` inputs in [0, INT_MAX). The timers cost ~50 ns each.
--fn grad times NAME_grad (forward + backward into a gradient buffer, what the benchmark's
gradient overhead measures) and --fn loss NAME_loss (the forward) instead of the step.
A program of fixed shapes (no symbolic dimension; --batch then does nothing) works too;
its step is NAME_grad and the update, so profile it with --fn grad.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_inputs(bp):
    """[(name, dims, is_int)] of the program's `input` lines, in order."""
    out = []
    for line in open(bp):
        m = re.match(r'\s*input\s+(\w+)\s*\[([^\]]*)\]\s*(:\s*int)?', line)
        if m:
            out.append((m.group(1), [d.strip() for d in m.group(2).split(',')], bool(m.group(3))))
    return out


def instrument(c, model, fn='step'):
    """The C with timers at each node of MODEL_step_ (or MODEL_grad, MODEL_loss), and the nodes' labels."""
    out, labels, inside = [], [], False
    head_re = r'^static real %s_step_\(' if fn == 'step' else r'^real %s_' + fn + r'\('
    for ln in c.split('\n'):
        if re.match(head_re % re.escape(model), ln):
            inside = True
        elif inside:
            m = re.match(r'^    /\* (%\d+ = .*?) \*/$', ln)
            if m:
                labels.append(m.group(1))
                out.append('    prof_mark_(%d);' % (len(labels) - 1))
            elif re.match(r'^        const real loss_ = ', ln):
                labels.append('(checks)')
                out.append('        prof_mark_(%d);' % (len(labels) - 1))
            elif re.match(r'^            bprt_\w+\(', ln):  # each update call, named by its parameter
                name = re.search(r'/\* (\w+) \*/', ln)
                labels.append('(update %s)' % (name.group(1) if name else ln.strip().split('(')[0]))
                out.append('            prof_mark_(%d);' % (len(labels) - 1))
            elif re.match(r'^        return loss_;', ln) or (fn != 'step' and re.match(r'^    return ', ln)):
                out.append(ln[:len(ln) - len(ln.lstrip())] + 'prof_mark_(-1);')
            elif ln == '}':
                inside = False
        out.append(ln)
    head = ('#include <time.h>\n'
            'static double prof_t_[%d]; static int prof_cur_ = -1; static double prof_last_;\n'
            'static double prof_now_(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);'
            ' return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec; }\n'
            'static void prof_mark_(int k) { double n = prof_now_(); if (prof_cur_ >= 0)'
            ' prof_t_[prof_cur_] += n - prof_last_; prof_cur_ = k; prof_last_ = prof_now_(); }\n'
            % max(1, len(labels)))
    text = '\n'.join(out)
    i = text.index('\n', text.index('#include "bprt.h"')) + 1
    return text[:i] + head + text[i:], labels


def main_c(model, inputs, batch, steps, int_max, fn='step'):
    """A main() that runs the step (or grad, loss) and prints each timer's seconds per call."""
    decls, args = [], []
    for k, (name, dims, is_int) in enumerate(inputs):
        n = ' * '.join('(size_t)%s' % (str(batch) if not d.isdigit() else d) for d in dims) or '1'
        if is_int:
            decls.append('    int32_t *in%d = malloc(sizeof(int32_t) * (%s));\n'
                         '    for (size_t i = 0; i < %s; i++) in%d[i] = (int32_t)(rand() %% %d);' % (k, n, n, k, int_max))
        else:
            decls.append('    real *in%d = bprt_alloc(sizeof(real) * (%s));\n'
                         '    for (size_t i = 0; i < %s; i++) in%d[i] = (real)rand() / (real)RAND_MAX;' % (k, n, n, k))
        args.append('in%d' % k)
    up = model.upper()
    # a program of fixed shapes has no dimension argument
    sym = any(not d.isdigit() for _, dims, _ in inputs for d in dims)
    b = ', B' if sym else ''
    call = {'step': '%s_train_step(p, opt, %s' + b + ', (real)1e-4, ws)',
            'grad': '%s_grad(p, g, %s' + b + ', ws)', 'loss': '%s_loss(p, %s' + b + ', ws)'}[fn] % (model, ', '.join(args))
    return '''
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    const int B = %d, steps = %d;
    real *p = bprt_alloc(sizeof(real) * %s_NPARAMS);
    void *opt = bprt_alloc(%s_opt_state_size() + 64);
    void *ws = bprt_alloc(%s_workspace_size(%s) + 64);
    real *g = bprt_alloc(sizeof(real) * %s_NPARAMS);
    %s_init(p, 1);
%s
    (void)g;
    (void)B;
    for (int s = 0; s < 3; s++) %s;
    for (size_t k = 0; k < sizeof prof_t_ / sizeof prof_t_[0]; k++) prof_t_[k] = 0;
    const double t0 = prof_now_();
    for (int s = 0; s < steps; s++) %s;
    printf("step %%.9f\\n", (prof_now_() - t0) / steps);
    for (size_t k = 0; k < sizeof prof_t_ / sizeof prof_t_[0]; k++) printf("%%zu %%.9f\\n", k, prof_t_[k] / steps);
    return 0;
}
''' % (batch, steps, up, model, model, 'B' if sym else '', up, model, '\n'.join(decls), call, call)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('bp')
    ap.add_argument('--build', default=os.path.join(HERE, '..', 'build'))
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--int-max', type=int, default=10)
    ap.add_argument('--top', type=int, default=40)
    ap.add_argument('--c', metavar='FILE', help="time this C (bpc --emit=c's, edited by hand) "
                    'instead of what bpc emits for the program')
    ap.add_argument('--fn', choices=('step', 'grad', 'loss'), default='step',
                    help='the function to time: the training step (default), the gradient, or the loss')
    o = ap.parse_args()
    text = open(o.bp).read()
    m = re.search(r'^\s*model\s+(\w+)', text, re.M)
    if not m:
        sys.exit('%s: no `model NAME` line' % o.bp)
    model = m.group(1)
    if not re.search(r'^\s*optimizer\s', text, re.M):
        sys.exit('%s: no optimizer: the program has no training step to profile' % o.bp)
    bpc = os.path.join(o.build, 'bpc')
    if o.c:
        c = open(o.c).read()
    else:
        c = subprocess.run([bpc, '--emit=c', o.bp], check=True, capture_output=True, text=True).stdout
    c, labels = instrument(c, model, o.fn)
    if not labels:
        sys.exit('found no nodes in %s_%s of the generated C' % (model, o.fn))
    src = c + main_c(model, parse_inputs(o.bp), o.batch, o.steps, o.int_max, o.fn)
    with tempfile.TemporaryDirectory() as d:
        cfile, exe = os.path.join(d, 'prof.c'), os.path.join(d, 'prof')
        open(cfile, 'w').write(src)
        runtime = os.path.join(HERE, '..', 'runtime')
        subprocess.run(['cc', '-std=gnu99', '-O3', '-march=native', '-I', runtime, cfile,
                        os.path.join(o.build, 'libbprt.a'), '-fopenmp', '-lm', '-lpthread', '-o', exe], check=True)
        best, step = {}, None
        env = dict(os.environ, BPRT_NUM_THREADS=str(o.threads))
        for _ in range(o.runs):
            res = subprocess.run([exe], check=True, capture_output=True, text=True, env=env).stdout.split('\n')
            for line in res:
                f = line.split()
                if len(f) != 2:
                    continue
                if f[0] == 'step':
                    step = float(f[1]) if step is None else min(step, float(f[1]))
                else:
                    k, t = int(f[0]), float(f[1])
                    best[k] = t if k not in best else min(best[k], t)
    print('%s, batch %d, %d thread(s): %s %.3f ms (minimum over %d runs of %d calls); per node, ms:'
          % (model, o.batch, o.threads, o.fn, step * 1e3, o.runs, o.steps))
    rows = sorted(((t, labels[k]) for k, t in best.items() if k < len(labels)), reverse=True)
    for t, lab in rows[:o.top]:
        print('%9.3f  %s' % (t * 1e3, lab))
    print('%9.3f  (the %d nodes listed; %d more)' % (sum(t for t, _ in rows[:o.top]) * 1e3, min(o.top, len(rows)),
                                                    max(0, len(rows) - o.top)))


if __name__ == '__main__':
    main()
