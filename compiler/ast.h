/* ast.h — the syntax tree the parser builds and sema reads.
 *
 * Everything lives in the compilation's Arena. The tree is a faithful record of what was
 * written: no names are resolved and no shapes are known here (that is sema's job).
 * Dimensions in declarations are kept as expressions (EX_NUM or EX_NAME, or EX_NEG of a
 * number for a user's mistake) so that sema can report bad ones with their location. */
#ifndef BP_AST_H
#define BP_AST_H

#include "arena.h"
#include "diag.h"

typedef enum ExprKind {
    EX_NUM,       /* number literal: num */
    EX_NAME,      /* identifier: name */
    EX_BINARY,    /* lhs op rhs; op is one of '+' '-' '*' '/' '@' '^' */
    EX_NEG,       /* -lhs */
    EX_CALL,      /* name(args...) with positional and keyword arguments */
    EX_TRANSPOSE, /* lhs.T */
    EX_LIST,      /* [items...] (the shape argument of reshape) */
} ExprKind;

typedef struct Expr Expr;

#define AST_MAX_DEPTH 256 /* deepest expression the parser returns (later passes recurse) */
#define AST_MAX_OPEN 256  /* brackets open at once (each holds a slot of the parser's stack) */
/* characters of a name: the generated C spells inputs', outputs' and the model's names in
   texts of bounded length (emit_c.c); names of about 90 characters were cut there, and the C
   did not compile */
#define BP_NAME_MAX 64

typedef struct Arg {
    const char *name; /* keyword name, or NULL for a positional argument */
    Loc loc;          /* of the keyword (or of the value when positional) */
    Expr *value;
} Arg;

struct Expr {
    ExprKind kind;
    Loc loc;          /* of the first token; for EX_BINARY and EX_TRANSPOSE, of the operator */
    int depth;        /* 1 + the deepest child's depth; the parser keeps it <= AST_MAX_DEPTH */
    double num;       /* EX_NUM */
    int is_integer;   /* EX_NUM written without '.', 'e' or 'E' */
    const char *text; /* EX_NUM as written (NULL for one the parser made) */
    const char *name; /* EX_NAME, EX_CALL */
    int op;           /* EX_BINARY */
    Expr *lhs, *rhs;  /* EX_BINARY (both), EX_NEG and EX_TRANSPOSE (lhs) */
    Arg *args;        /* EX_CALL */
    int nargs;
    Expr **items;     /* EX_LIST */
    int nitems;
    int tuple;        /* EX_LIST written (a, b) rather than [a, b] */
};

typedef enum StmtKind {
    ST_MODEL,     /* model NAME */
    ST_INPUT,     /* input NAME[dims] [: int] [= value] */
    ST_PARAM,     /* param NAME[dims] [= value (initialiser expression)] */
    ST_BIND,      /* [checkpoint] NAME = value */
    ST_DEF,       /* [checkpoint] def NAME(params) = value  |  ... def NAME(params) { body; return value } */
    ST_LOSS,      /* loss value */
    ST_OUTPUT,    /* output names... */
    ST_OPTIMIZER, /* optimizer NAME(args) */
    ST_CLIP,      /* clip_grad_norm value */
    ST_RETURN,    /* return value (only inside a def body) */
    ST_EXPR,      /* a bare expression (the REPL evaluates it; files reject it) */
} StmtKind;

typedef struct Stmt Stmt;
struct Stmt {
    StmtKind kind;
    Loc loc;            /* of the statement's first token */
    const char *name;   /* declared/bound/def/optimizer name */
    Loc name_loc;
    int has_dims;       /* brackets were written (even if empty) */
    Expr **dims;        /* ST_INPUT, ST_PARAM */
    int ndims;
    int is_int;         /* ST_INPUT with ': int' */
    Expr *value;        /* see StmtKind; NULL when absent */
    int checkpoint;     /* ST_BIND `checkpoint NAME = ...`, ST_DEF `checkpoint def ...`: recomputed
                           for the backward pass (a def: its body, not its result) */
    Loc checkpoint_loc; /* of the word `checkpoint` */
    const char **params; /* ST_DEF parameter names */
    Loc *param_locs;
    int nparams;
    Stmt **body;        /* ST_DEF block form: local statements (ST_BIND), ending with ST_RETURN;
                           value is then that return's value too */
    int nbody;
    int is_block;       /* ST_DEF written with { } */
    const char **names; /* ST_OUTPUT */
    Loc *name_locs;
    int nnames;
    Arg *args;          /* ST_OPTIMIZER */
    int nargs;
};

typedef struct Program {
    Stmt **stmts;
    int nstmts;
    int cap;
    int py_block; /* the text ended after a Python block's header (def f(x):, if ...:), reported:
                     the REPL skips the indented lines that follow as its body */
} Program;

/* Parses text (registered in diag under the name `file`) into a Program allocated in
 * arena. Syntax errors are reported to diag (several per run: the parser recovers at the
 * next statement); the returned Program holds the statements that parsed. Never NULL. */
Program *parse_program(Arena *arena, Diag *diag, const char *file, const char *text);
/* The same for a text whose first line is line first_line of `file` (a REPL input, registered
 * with diag_add_source_at): its locations carry the lines so numbered. */
Program *parse_program_at(Arena *arena, Diag *diag, const char *file, const char *text, int first_line);

/* 1 if text stops in the middle of a statement: inside an open ( [ or {, or right after a
 * binary operator, '=' or ','. The REPL keeps reading lines while this holds. */
int parse_is_incomplete(const char *text);

/* Prints the tree in a stable S-expression form (for tests and --emit=ast). */
void ast_dump(FILE *out, const Program *p);

#endif
