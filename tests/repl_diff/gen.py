#!/usr/bin/env python3
"""gen.py: writes the random sessions that tests/repl_diff.sh replays (run it from
tests/repl_diff/; the files are committed, so the test needs no Python).

Each case NN is a REPL session NN.bpr and the program NN.bp it should amount to. The session
enters the statements of a random program (inputs, parameters, a def, intermediate names,
a loss) in a random order that defines every name before it is read, then redefines some
of them: other expressions (reading names defined later in the session, so that the REPL
has to reorder), parameters and inputs with other shapes ([] and [3] mix by broadcasting)
and initialisers, and tries redefinitions that would make a cycle or read an unknown name
(refused, changing nothing). It ends with the loss as a bare expression and :grad. Its first line
(a comment) says how many lines the REPL must refuse. NN.bp
holds the final definitions in the session's order of first entry, each moved after
what it reads (as the REPL orders them); `bpc grad NN.bp --f64` must
print what the session's :grad prints (`bpc repl --f64`), and its loss what the bare expression prints."""
import random

N = 40


def expr(rng, names, depth=0):
    """A random real expression over names (each [] or [3])."""
    r = rng.random()
    if depth > 2 or r < 0.3:
        return rng.choice(names) if names and rng.random() < 0.8 else repr(rng.choice([0.5, 1.5, 2.0, -0.75]))
    if r < 0.6:
        op = rng.choice(["+", "-", "*"])
        return "(%s %s %s)" % (expr(rng, names, depth + 1), op, expr(rng, names, depth + 1))
    if r < 0.7:
        return "f(%s)" % expr(rng, names, depth + 1)
    fn = rng.choice(["tanh", "sin", "sigmoid", "sum", "cos"])
    return "%s(%s)" % (fn, expr(rng, names, depth + 1))


def refs(e, names):
    import re
    return {t for t in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", e) if t in names}


def shape(rng):
    return rng.choice(["", "[3]"])


def main():
    for case in range(N):
        rng = random.Random(case)
        defs = {}   # name -> statement text
        deps = {}   # name -> names it reads
        order = []  # first-definition order
        def put(name, text, reads):
            defs[name] = text
            deps[name] = set(reads)
            if name not in order:
                order.append(name)
        put("x", "input x%s = %s" % (shape(rng), rng.choice([1, 2, -1])), [])
        put("w", "param w%s = %s" % (shape(rng), rng.choice([0.5, -0.25, 1])), [])
        put("b", "param b%s = %s" % (shape(rng), rng.choice([0.1, 2])), [])
        put("f", "def f(t) = t * %s + tanh(t)" % rng.choice([0.5, 2]), [])
        inter = ["a%d" % i for i in range(rng.randint(2, 5))]
        for i, a in enumerate(inter):
            avail = ["x", "w", "b"] + inter[:i]
            e = expr(rng, avail)
            put(a, "%s = %s" % (a, e), refs(e, avail) | ({"f"} if "f(" in e else set()))
        le = "sum(%s^2) + sum(%s) + sum(w * b * x)" % (inter[-1], rng.choice(inter))
        put(":loss", "loss " + le, refs(le, order))

        def closure(n):  # n and every name reading n, directly or not
            out, todo = {n}, [n]
            while todo:
                m = todo.pop()
                for k, d in deps.items():
                    if m in d and k not in out:
                        out.add(k)
                        todo.append(k)
            return out

        # the first entry: a random order with each name after what it reads
        lines, placed, pending, refused, entered = [], set(), list(order), 0, []
        while pending:
            ready = [n for n in pending if deps[n] <= placed]
            n = rng.choice(ready)
            lines.append(defs[n])
            placed.add(n)
            pending.remove(n)
            entered.append(n)
        # redefinitions
        for _ in range(rng.randint(3, 8)):
            r = rng.random()
            if r < 0.5:
                a = rng.choice(inter)
                ok = [n for n in ["x", "w", "b"] + inter if n not in closure(a)]
                e = expr(rng, ok)
                put(a, "%s = %s" % (a, e), refs(e, ok) | ({"f"} if "f(" in e else set()))
                lines.append(defs[a])
            elif r < 0.65:
                put("w", "param w%s = %s" % (shape(rng), rng.choice([0.5, -0.25, 1, 3])), [])
                lines.append(defs["w"])
            elif r < 0.75:
                put("x", "input x%s = %s" % (shape(rng), rng.choice([1, 2, -1, 0.5])), [])
                lines.append(defs["x"])
            elif r < 0.85:
                put("f", "def f(t) = t * %s - sin(t)" % rng.choice([0.5, 2, -1]), [])
                lines.append(defs["f"])
            elif r < 0.93:  # a cycle: refused
                a = rng.choice(inter)
                users = [n for n in closure(a) if n in inter and n != a]
                if users:
                    lines.append("%s = %s * 2" % (a, rng.choice(users)))
                    refused += 1
            else:  # an unknown name: refused
                lines.append("%s = nosuch + 1" % rng.choice(inter))
                refused += 1
        lines.append(le)
        lines.append(":grad")
        with open("%02d.bpr" % case, "w") as f:
            f.write("# refused: %d\n" % refused + "\n".join(lines) + "\n")
        # in the session's order of first entry, each name after what it reads (as the REPL)
        prog, placed, pending = [], set(), list(entered)
        while pending:
            n = next(n for n in pending if deps[n] <= placed)
            prog.append(defs[n])
            placed.add(n)
            pending.remove(n)
        with open("%02d.bp" % case, "w") as f:
            f.write("\n".join(prog) + "\n")


main()
