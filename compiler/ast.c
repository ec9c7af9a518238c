/* ast.c — printing the syntax tree (see ast.h; the parser that builds it is grammar/parser.y).
 *
 * ast_dump writes one statement per line as an S-expression. The form is stable (tests
 * compare it as text):
 *   (model m)  (input x [B 784] int = 2)  (param W [784 256] = he)  (bind h EXPR)
 *   (def f (a b) EXPR)  (def f (a) (block (bind t EXPR) (return EXPR)))
 *   (loss EXPR)  (output a b)  (optimizer adam lr=0.001)  (clip_grad_norm EXPR)  (expr EXPR)
 * and expressions as
 *   3  x  (+ a b)  (neg x)  (.T x)  (call f a k=v)  [a b]
 * Numbers are printed with %.17g (exact round trip). Recursion depth is bounded by the
 * parser's expression depth limit. */
#include "ast.h"

static void dump_expr(FILE *out, const Expr *e);

static void dump_args(FILE *out, const Arg *args, int nargs) {
    for (int i = 0; i < nargs; i++) {
        fputc(' ', out);
        if (args[i].name) fprintf(out, "%s=", args[i].name);
        dump_expr(out, args[i].value);
    }
}

static void dump_expr(FILE *out, const Expr *e) {
    if (!e) {
        fputs("<null>", out);
        return;
    }
    switch (e->kind) {
    case EX_NUM: fprintf(out, "%.17g", e->num); break;
    case EX_NAME: fputs(e->name, out); break;
    case EX_BINARY:
        fprintf(out, "(%c ", e->op);
        dump_expr(out, e->lhs);
        fputc(' ', out);
        dump_expr(out, e->rhs);
        fputc(')', out);
        break;
    case EX_NEG:
        fputs("(neg ", out);
        dump_expr(out, e->lhs);
        fputc(')', out);
        break;
    case EX_TRANSPOSE:
        fputs("(.T ", out);
        dump_expr(out, e->lhs);
        fputc(')', out);
        break;
    case EX_CALL:
        fprintf(out, "(call %s", e->name);
        dump_args(out, e->args, e->nargs);
        fputc(')', out);
        break;
    case EX_LIST:
        fputs(e->tuple ? "(tuple" : "[", out);
        for (int i = 0; i < e->nitems; i++) {
            if (i || e->tuple) fputc(' ', out);
            dump_expr(out, e->items[i]);
        }
        fputc(e->tuple ? ')' : ']', out);
        break;
    }
}

/* " [d1 d2]" when brackets were written. */
static void dump_dims(FILE *out, const Stmt *s) {
    if (!s->has_dims) return;
    fputs(" [", out);
    for (int i = 0; i < s->ndims; i++) {
        if (i) fputc(' ', out);
        dump_expr(out, s->dims[i]);
    }
    fputc(']', out);
}

static void dump_stmt(FILE *out, const Stmt *s) {
    switch (s->kind) {
    case ST_MODEL: fprintf(out, "(model %s)", s->name); return;
    case ST_INPUT:
    case ST_PARAM:
        fprintf(out, "(%s %s", s->kind == ST_INPUT ? "input" : "param", s->name);
        dump_dims(out, s);
        if (s->is_int) fputs(" int", out);
        if (s->value) {
            fputs(" = ", out);
            dump_expr(out, s->value);
        }
        fputc(')', out);
        return;
    case ST_BIND: fprintf(out, "(%s %s ", s->checkpoint ? "checkpoint" : "bind", s->name); break;
    case ST_DEF:
        fprintf(out, "(%sdef %s (", s->checkpoint ? "checkpoint " : "", s->name);
        for (int i = 0; i < s->nparams; i++) fprintf(out, i ? " %s" : "%s", s->params[i]);
        fputs(") ", out);
        if (s->is_block) {
            fputs("(block", out);
            for (int i = 0; i < s->nbody; i++) {
                fputc(' ', out);
                dump_stmt(out, s->body[i]);
            }
            fputs("))", out);
            return;
        }
        break;
    case ST_LOSS: fputs("(loss ", out); break;
    case ST_OUTPUT:
        fputs("(output", out);
        for (int i = 0; i < s->nnames; i++) fprintf(out, " %s", s->names[i]);
        fputc(')', out);
        return;
    case ST_OPTIMIZER:
        fprintf(out, "(optimizer %s", s->name);
        dump_args(out, s->args, s->nargs);
        fputc(')', out);
        return;
    case ST_CLIP: fputs("(clip_grad_norm ", out); break;
    case ST_RETURN: fputs("(return ", out); break;
    case ST_EXPR: fputs("(expr ", out); break;
    }
    dump_expr(out, s->value);
    fputc(')', out);
}

void ast_dump(FILE *out, const Program *p) {
    for (int i = 0; i < p->nstmts; i++) {
        dump_stmt(out, p->stmts[i]);
        fputc('\n', out);
    }
}
