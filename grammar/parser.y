/* parser.y — the grammar of .bp programs: statements and expressions to an AST.
 *
 * A pure, located bison parser fed by lexer.l. Every action is one constructor call; the
 * constructors below the grammar build nodes in the compilation's arena and do the few
 * checks that are not context-free (keyword arguments last, `return` only at the end of a
 * def body, expression depth). Syntax errors are reported with the unexpected token quoted
 * and what was expected, then the parser skips to the end of the statement (the next end
 * of line or ';', or the end of the def body line) and goes on, so one run reports them
 * all (up to the Diag's error limit, where scanning stops).
 *
 * Invariants of the returned tree: every Expr has depth <= AST_MAX_DEPTH (a deeper
 * subtree is reported once and replaced by the number 0; a statement with more than
 * AST_MAX_OPEN brackets open at once is reported once, by lexer.l, and skipped); a block
 * def's body ends with its ST_RETURN unless an error was reported. Left out: name resolution, shapes, the meaning
 * of dimensions and initialisers (sema's job).
 *
 * Precedence, tightest first: calls and postfix '.T'; '^' (right); unary '-'; '@' '*' '/'
 * (left); '+' '-' (left). So -x^2 = -(x^2), 2^3^2 = 2^(3^2), a-b-c = (a-b)-c. */

%require "3.6"
%define api.pure full
%define api.token.prefix {TOK_}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {Parser *p}

%code requires {
#include "ast.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* Token and node locations carry the registered file name (see diag_add_source). */
typedef struct YYLTYPE {
    int first_line, first_column, last_line, last_column;
    const char *file;
} YYLTYPE;
#define YYLTYPE_IS_DECLARED 1
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                                        \
    do {                                                                                   \
        if (N) {                                                                           \
            (Cur) = YYRHSLOC(Rhs, 1);                                                      \
            (Cur).last_line = YYRHSLOC(Rhs, N).last_line;                                  \
            (Cur).last_column = YYRHSLOC(Rhs, N).last_column;                              \
        } else {                                                                           \
            (Cur) = YYRHSLOC(Rhs, 0);                                                      \
            (Cur).first_line = (Cur).last_line;                                            \
            (Cur).first_column = (Cur).last_column;                                        \
        }                                                                                  \
    } while (0)

typedef struct NumTok {
    double value;
    int is_integer;   /* written without '.', 'e' or 'E' */
    const char *text; /* as written */
} NumTok;

/* Growable lists built while parsing (arena storage). */
typedef struct ExprList { Expr **items; int n, cap; } ExprList;
typedef struct ArgList { Arg *items; int n, cap; } ArgList;
typedef struct Ident { const char *name; Loc loc; } Ident;
typedef struct NameList { Ident *items; int n, cap; } NameList;
typedef struct StmtList {
    Stmt **items;
    int n, cap;
    int broken; /* a statement in it had a syntax error */
} StmtList;

typedef struct Opener {
    char c;  /* '(' '[' or '{' */
    Loc loc;
    int broken; /* a '{' of a statement with a syntax error: the parser is not in its body */
} Opener;

/* State shared by the scanner (as its extra) and the parser. */
typedef struct Parser {
    Arena *arena;
    Diag *diag;          /* NULL: scan silently (parse_is_incomplete) */
    const char *file;
    Program *prog;
    int line, col;       /* scanner position (1-based; columns in bytes) */
    int first_line;      /* the line number of the text's first line */
    Loc last_newline;    /* of the last '\n' scanned */
    Opener *open;        /* open brackets, innermost last */
    int nopen, capopen;
    int last_tok;        /* kind of the last token returned */
    const char *tok_text; /* the last token's text (for messages) */
    int tok_len;
    int eof_state;       /* 0; 1 = the closing end of line sent; 2 = end of file sent */
    int nerrors, max_errors;
    int depth_reported;  /* "nested too deeply" already said */
    /* The statement being read (since the last end of line, ';' or '{'), for messages
     * that look back at how it began: */
    int stmt_ntok;         /* its tokens so far */
    int stmt_names;        /* how many of them, from its first, are names */
    int stmt_first;        /* the kind of its first token */
    const char *stmt_word; /* its first token's name, when that is a name */
    Loc stmt_loc;          /* where its first token stands */
    int method_reported;   /* it has had its "methods ... are not part of the language" */
    int stmt_quiet;        /* it was said to be Python's (import, with, if ...:): its later errors are unsaid */
    int before_tok;        /* the kind of the token before the last one */
    Loc before_loc, last_loc; /* where those two tokens stand */
    Loc last_end;          /* just past the last token */
    const char *last_name; /* the last token's name, when that is a name */
    const char *before_name; /* the name of the token before the last one, when that is a name */
    int stmt_nerrors;      /* errors reported before the statement began */
    int nsyntax;           /* syntax errors so far: the parser's, and the scanner's TOK_YYerror */
    int stmt_nsyntax;      /* those before the statement began (a name too long is no syntax error:
                              its statement parses on, and a '{' in it opens a def's body) */
    int join_line;         /* a '\\' ended the line: its '\n' does not end the statement */
    int py_block;          /* a Python block's header (def f(x):, if, for, class) was reported:
                              the lines after it indented deeper are its body, skipped silently */
    int py_indent;         /* the column of the header's first token */
    int py_nopen;          /* the brackets open around the header (a def's '{'): kept */
    int skipping;          /* such a line is being skipped (its errors unsaid) */
    int line_begun;        /* a token (not a blank or a comment) was scanned on this line */
    int tok_starts_line;   /* the last token scanned is its line's first */
    int pending[3];        /* tokens yylex sends before scanning on, last first: a keyword that */
    int npending;          /* came inside an earlier line's bracket or def body, after the end */
    YYLTYPE pending_loc;   /* of line (and '}') that end what it came inside; where it stands */
    int body_cut;          /* such a '}' ended a def's body (said): its missing return goes unsaid */
    Opener unclosed;       /* the ( or [ that the '}' just scanned closed over (c 0: none) */
    int closed_broken;     /* the '}' just scanned closed a broken '{' (Opener.broken) */
    int join_tok;          /* the operator, '=' or ',' that last ended a line going on to the next, */
    Loc join_loc, join_at; /* where it stands, and the next line's first token */
} Parser;
}

%code provides {
/* Said for Python's `import torch` and `from torch import nn`. */
#define PARSE_NO_IMPORT \
    "there is nothing to import: relu, softmax, cross_entropy and the other functions are built in"
/* Said for Python's `with torch.no_grad():` (its indented body is skipped as a block's). */
#define PARSE_NO_WITH \
    "there are no with blocks: only the loss is differentiated, and inference (forward) computes no gradient"
/* What Python's `if`, `elif`, `else`, `for`, `while` and `lambda` are in this language, as
 * a message, or NULL for any other word. */
const char *parse_python_keyword(const char *word);
/* Marks the statement being read as a Python block's header (reported): the lines after it
 * indented deeper than it are its body, skipped silently (lexer.l). */
void parse_python_block(Parser *p);
/* Reports a user error at loc (counted; silent when p->diag is NULL). */
void parse_error(Parser *p, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Converts a token location to an AST location (its first character). */
Loc parse_loc(YYLTYPE y);
int yylex(YYSTYPE *yylval_param, YYLTYPE *yylloc_param, yyscan_t yyscanner);
/* 1 if a statement cannot end after token kind tok (a binary operator, '=' or ','): a
 * newline after it continues the statement. Defined in lexer.l. */
int lex_continues(int tok);
}

%code {
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lexer.h"
#include "suggest.h"

static void yyerror(YYLTYPE *loc, yyscan_t scanner, Parser *p, const char *msg);

static Expr *ex_num(Parser *p, NumTok n, YYLTYPE loc);
static Expr *ex_name(Parser *p, const char *name, YYLTYPE loc);
static Expr *ex_binary(Parser *p, int op, Expr *lhs, Expr *rhs, YYLTYPE oploc);
static Expr *ex_neg(Parser *p, Expr *e, YYLTYPE loc);
static Expr *ex_transpose(Parser *p, Expr *e, YYLTYPE loc);
static Expr *ex_call(Parser *p, const char *name, YYLTYPE loc, ArgList *args);
static Expr *ex_list(Parser *p, ExprList *items, YYLTYPE loc);
static Expr *ex_tuple(Parser *p, ExprList *items, YYLTYPE loc);
static ExprList *exprs_add(Parser *p, ExprList *l, Expr *e);
static ArgList *args_add(Parser *p, ArgList *l, Arg a);
static Arg arg_positional(Expr *e);
static Arg arg_keyword(const char *name, YYLTYPE loc, Expr *e);
static NameList *names_add(Parser *p, NameList *l, const char *name, YYLTYPE loc);
static StmtList *body_add(Parser *p, StmtList *l, Stmt *s);
static Stmt *st_broken(void);
static Stmt *st_model(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc);
static Stmt *st_input(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, ExprList *dims,
                      int is_int, Expr *value);
static Stmt *st_param(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, ExprList *dims,
                      Expr *value);
static Stmt *st_bind(Parser *p, const char *name, YYLTYPE nloc, Expr *value);
static Stmt *st_checkpoint(Parser *p, const char *word, YYLTYPE wloc, Stmt *s);
static Stmt *st_not_checkpoint(Parser *p, const char *word, YYLTYPE wloc, Stmt *s, const char *what);
static Stmt *st_def(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, NameList *params,
                    Expr *value);
static Stmt *st_def_block(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc,
                          NameList *params, StmtList *body);
static Stmt *st_value(Parser *p, StmtKind kind, YYLTYPE loc, Expr *value);
static Stmt *st_output(Parser *p, YYLTYPE loc, NameList *names);
static Stmt *st_optimizer(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, ArgList *args);
static Stmt *st_return_outside(Parser *p, YYLTYPE loc);
static void program_add(Parser *p, Stmt *s);
}

%union {
    NumTok num;
    const char *name;
    Expr *expr;
    ExprList *exprs;
    Arg arg;
    ArgList *args;
    NameList *names;
    Stmt *stmt;
    StmtList *stmts;
    int flag;
}

/* Token names are what users read in "unexpected X, expected Y". */
%token END 0 "end of file"
%token NEWLINE "end of line"
%token <name> NAME "name"
%token <num> NUMBER "number"
%token TRANSPOSE "'.T'"
%token MODEL "'model'" INPUT "'input'" PARAM "'param'" DEF "'def'" LOSS "'loss'"
%token OUTPUT "'output'" OPTIMIZER "'optimizer'" CLIP "'clip_grad_norm'" RETURN "'return'"
%token INT "'int'"

%left '+' '-'
%left '*' '/' '@'
%precedence NEG
%right '^'

%type <expr> expr postfix primary init
%type <exprs> dims items exprlist tuple
%type <args> args arglist
%type <arg> arg
%type <names> params names
%type <stmt> stmt bstmt bstmt_opt
%type <stmts> body block
%type <flag> int_opt

%%

program:
  %empty
| program line
;

/* One statement and its terminator; an error skips to the terminator. */
line:
  sep
| stmt sep             { program_add(p, $1); }
| error sep            { yyerrok; }
;

sep: NEWLINE | ';' ;

stmt:
  MODEL NAME                               { $$ = st_model(p, @1, $2, @2); }
| INPUT NAME dims int_opt init             { $$ = st_input(p, @1, $2, @2, $3, $4, $5); }
| PARAM NAME dims init                     { $$ = st_param(p, @1, $2, @2, $3, $4); }
| NAME '=' expr                            { $$ = st_bind(p, $1, @1, $3); }
| NAME NAME '=' expr                       { $$ = st_checkpoint(p, $1, @1, st_bind(p, $2, @2, $4)); }
| NAME INPUT NAME dims int_opt init        { $$ = st_not_checkpoint(p, $1, @1, st_input(p, @2, $3, @3, $4, $5, $6), "an input"); }
| NAME PARAM NAME dims init                { $$ = st_not_checkpoint(p, $1, @1, st_param(p, @2, $3, @3, $4, $5), "a parameter"); }
| DEF NAME '(' params ')' '=' expr         { $$ = st_def(p, @1, $2, @2, $4, $7); }
| DEF NAME '(' params ')' block            { $$ = st_def_block(p, @1, $2, @2, $4, $6); }
| NAME DEF NAME '(' params ')' '=' expr    { $$ = st_checkpoint(p, $1, @1, st_def(p, @2, $3, @3, $5, $8)); }
| NAME DEF NAME '(' params ')' block       { $$ = st_checkpoint(p, $1, @1, st_def_block(p, @2, $3, @3, $5, $7)); }
| LOSS expr                                { $$ = st_value(p, ST_LOSS, @1, $2); }
| OUTPUT names                             { $$ = st_output(p, @1, $2); }
| OPTIMIZER NAME                           { $$ = st_optimizer(p, @1, $2, @2, NULL); }
| OPTIMIZER NAME '(' args ')'              { $$ = st_optimizer(p, @1, $2, @2, $4); }
| CLIP expr                                { $$ = st_value(p, ST_CLIP, @1, $2); }
| RETURN expr                              { $$ = st_return_outside(p, @1); }
| expr                                     { $$ = st_value(p, ST_EXPR, @1, $1); }
;

/* Dimensions: brackets optional (none: a scalar); any expression, sema checks them. */
dims:
  %empty                { $$ = NULL; }
| '[' items ']'         { $$ = $2; }
;

int_opt:
  %empty                { $$ = 0; }
| ':' INT               { $$ = 1; }
;

init:
  %empty                { $$ = NULL; }
| '=' expr              { $$ = $2; }
;

params:
  %empty                { $$ = names_add(p, NULL, NULL, @$); }
| names
;

names:
  NAME                  { $$ = names_add(p, NULL, $1, @1); }
| names ',' NAME        { $$ = names_add(p, $1, $3, @3); }
;

/* def body: statements separated by ends of line or ';', the last one `return EXPR`. */
block:
  '{' body '}'          { $$ = $2; }
;

body:
  bstmt_opt             { $$ = body_add(p, NULL, $1); }
| body sep bstmt_opt    { $$ = body_add(p, $1, $3); }
;

bstmt_opt:
  %empty                { $$ = NULL; }
| bstmt
;

bstmt:
  NAME '=' expr         { $$ = st_bind(p, $1, @1, $3); }
| NAME NAME '=' expr    { $$ = st_checkpoint(p, $1, @1, st_bind(p, $2, @2, $4)); }
| RETURN expr           { $$ = st_value(p, ST_RETURN, @1, $2); }
| error                 { $$ = st_broken(); }
;

expr:
  expr '+' expr         { $$ = ex_binary(p, '+', $1, $3, @2); }
| expr '-' expr         { $$ = ex_binary(p, '-', $1, $3, @2); }
| expr '*' expr         { $$ = ex_binary(p, '*', $1, $3, @2); }
| expr '/' expr         { $$ = ex_binary(p, '/', $1, $3, @2); }
| expr '@' expr         { $$ = ex_binary(p, '@', $1, $3, @2); }
| expr '^' expr         { $$ = ex_binary(p, '^', $1, $3, @2); }
| '-' expr %prec NEG    { $$ = ex_neg(p, $2, @1); }
| postfix
;

postfix:
  primary
| postfix TRANSPOSE     { $$ = ex_transpose(p, $1, @2); }
;

primary:
  NUMBER                { $$ = ex_num(p, $1, @1); }
| NAME                  { $$ = ex_name(p, $1, @1); }
| NAME '(' args ')'     { $$ = ex_call(p, $1, @1, $3); }
| '(' expr ')'          { $$ = $2; }
| '[' items ']'         { $$ = ex_list(p, $2, @1); }
| '(' ')'              { $$ = ex_tuple(p, exprs_add(p, NULL, NULL), @1); }
| '(' expr ',' ')'      { $$ = ex_tuple(p, exprs_add(p, NULL, $2), @1); }
| '(' tuple ')'         { $$ = ex_tuple(p, $2, @1); }
| '(' tuple ',' ')'     { $$ = ex_tuple(p, $2, @1); }
;

/* (a, b, ...), (a,) and (): Python's tuples, where a list [a, b, ...] may stand (axis=, reshape's shape) */
tuple:
  expr ',' expr         { $$ = exprs_add(p, exprs_add(p, NULL, $1), $3); }
| tuple ',' expr        { $$ = exprs_add(p, $1, $3); }
;

items:
  %empty                { $$ = exprs_add(p, NULL, NULL); }
| exprlist
;

exprlist:
  expr                  { $$ = exprs_add(p, NULL, $1); }
| exprlist ',' expr     { $$ = exprs_add(p, $1, $3); }
;

args:
  %empty                { $$ = args_add(p, NULL, (Arg){0}); }
| arglist
;

arglist:
  arg                   { $$ = args_add(p, NULL, $1); }
| arglist ',' arg       { $$ = args_add(p, $1, $3); }
;

arg:
  expr                  { $$ = arg_positional($1); }
| NAME '=' expr         { $$ = arg_keyword($1, @1, $3); }
;

%%

/* ---- errors -------------------------------------------------------------------------- */

void parse_error(Parser *p, Loc loc, const char *fmt, ...) {
    if (p->skipping || p->stmt_quiet) return;
    p->nerrors++;
    if (!p->diag || p->nerrors > p->max_errors) return;
    va_list ap;
    va_start(ap, fmt);
    diag_verror(p->diag, loc, fmt, ap);
    va_end(ap);
}

Loc parse_loc(YYLTYPE y) { return (Loc){y.file, y.first_line, y.first_column}; }

/* The message for a tree deeper than AST_MAX_DEPTH: every operator of a chain is a level too,
 * which a flat sum of 257 terms meets (the message said only "nested too deeply") */
#define TOO_DEEP "expression is nested too deeply (limit %d levels; each operator or call adds one, " \
                 "a chain such as a + b + ... too: give parts of it names)"

/* Bison calls this only when its stack is full (YYMAXDEPTH entries). Brackets are limited
 * before that (lex_open), so what fills it is a run of operators waiting for their right
 * operands (- - - ... x, 2^2^...), more than AST_MAX_DEPTH levels; the message says so at
 * the token where the stack ran out, not as though the limit of levels were met there. */
static void yyerror(YYLTYPE *loc, yyscan_t scanner, Parser *p, const char *msg) {
    (void)scanner;
    if (strcmp(msg, "memory exhausted") != 0) {
        parse_error(p, parse_loc(*loc), "%s", msg);
        return;
    }
    if (!p->depth_reported)
        parse_error(p, parse_loc(*loc),
                    "expression is nested too deeply: the parser's stack of operators waiting for their "
                    "operands (%d entries) is full here (the limit is %d levels: give parts of it names)",
                    YYMAXDEPTH, AST_MAX_DEPTH);
    p->depth_reported = 1;
}

static int in_parens(const Parser *p) {
    return p->nopen > 0 && p->open[p->nopen - 1].c != '{';
}

/* How an expected token reads after "expected". */
static const char *expected_name(yysymbol_kind_t s) {
    switch (s) {
    case YYSYMBOL_NAME: return "a name";
    case YYSYMBOL_NUMBER: return "a number";
    default: return yysymbol_name(s);
    }
}

/* Turns the expected tokens into at most 4 phrases; 0 if there are more (then none is
 * named). Whole groups read as one: every expression start is "an expression", every
 * binary operator (with the postfix ones) "an operator"; ';' goes without saying next to
 * "end of line". */
static int expected_phrases(const yypcontext_t *ctx, const char *out[4]) {
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n <= 0) return 0;
    char want[YYNTOKENS] = {0};
    for (int i = 0; i < n; i++) want[exp[i]] = 1;
    const char *phrase[YYNTOKENS + 2];
    int np = 0;
    static const int ops[] = {'+', '-', '*', '/', '@', '^'};
    int all_ops = 1;
    for (int i = 0; i < 6; i++) all_ops &= want[YYTRANSLATE(ops[i])];
    if (all_ops) {
        for (int i = 0; i < 6; i++) want[YYTRANSLATE(ops[i])] = 0;
        want[YYSYMBOL_TRANSPOSE] = want[YYTRANSLATE('(')] = 0;
        phrase[np++] = "an operator";
    }
    yysymbol_kind_t starts[] = {YYSYMBOL_NAME, YYSYMBOL_NUMBER, YYTRANSLATE('('),
                                YYTRANSLATE('['), YYTRANSLATE('-')};
    int all_starts = 1;
    for (int i = 0; i < 5; i++) all_starts &= want[starts[i]];
    if (all_starts) {
        for (int i = 0; i < 5; i++) want[starts[i]] = 0;
        phrase[np++] = "an expression";
    }
    if (want[YYSYMBOL_NEWLINE]) want[YYTRANSLATE(';')] = 0;
    for (int s = 0; s < YYNTOKENS; s++)
        if (want[s]) phrase[np++] = expected_name((yysymbol_kind_t)s);
    if (np > 4) return 0;
    for (int i = 0; i < np; i++) out[i] = phrase[i];
    return np;
}

/* The unexpected token as users read it: "name 'x'", "number '3'", "')'", "end of line". */
static void describe_token(const Parser *p, yysymbol_kind_t tok, char *buf, size_t size) {
    int len = p->tok_len > 40 ? 40 : p->tok_len;
    const char *more = p->tok_len > 40 ? "..." : "";
    switch (tok) {
    case YYSYMBOL_NAME: snprintf(buf, size, "name '%.*s%s'", len, p->tok_text, more); break;
    case YYSYMBOL_NUMBER: snprintf(buf, size, "number '%.*s%s'", len, p->tok_text, more); break;
    case YYSYMBOL_NEWLINE:
        snprintf(buf, size, "%s", p->eof_state ? "end of file" : "end of line");
        break;
    default: snprintf(buf, size, "%s", yysymbol_name(tok)); break;
    }
}

/* The words that begin a statement, and other spellings of them that users reach for. */
static const char *const statement_words[] = {
    "model", "input", "param", "def", "loss", "output", "optimizer", "clip_grad_norm", "return", "checkpoint",
};

static const struct {
    const char *word, *keyword;
} statement_aliases[] = {
    {"optimiser", "optimizer"}, {"optim", "optimizer"}, {"parameter", "param"}, {"parameters", "param"},
    {"define", "def"},          {"function", "def"},    {"func", "def"},        {"fn", "def"},
    {"criterion", "loss"},
};

/* A statement that begins with one or two names and then has something no binding has
 * (`parm W[3]`, `ouput W`): the parser took the first word for a binding's name, or for
 * the word before one (`checkpoint NAME = ...`), and "expected '='" would tell the user
 * to add one. Returns the statement keyword the first word is near (suggest.h) or stands
 * for, or NULL. */
static const char *misspelled_statement(const Parser *p) {
    if (!p->stmt_word || p->stmt_ntok < 2 || p->stmt_ntok > 3 || p->stmt_names < p->stmt_ntok - 1)
        return NULL;
    for (size_t i = 0; i < sizeof statement_aliases / sizeof statement_aliases[0]; i++)
        if (strcasecmp(p->stmt_word, statement_aliases[i].word) == 0) return statement_aliases[i].keyword;
    Suggest s;
    suggest_init(&s, p->stmt_word);
    for (size_t i = 0; i < sizeof statement_words / sizeof statement_words[0]; i++)
        suggest_offer(&s, statement_words[i]);
    return s.best;
}

/* The keywords that open a statement with something other than a name, and how. */
static const struct {
    yysymbol_kind_t tok;
    const char *what, *form;
} keyword_forms[] = {
    {YYSYMBOL_LOSS, "its expression", "loss EXPR"},
    {YYSYMBOL_OUTPUT, "its names", "output NAME, ..."},
    {YYSYMBOL_OPTIMIZER, "its name", "optimizer NAME(ARGS)"},
    {YYSYMBOL_CLIP, "its value", "clip_grad_norm MAX"},
    {YYSYMBOL_MODEL, "its name", "model NAME"},
    {YYSYMBOL_RETURN, "its expression", "return EXPR"},
};

static int is_keyword(yysymbol_kind_t tok) {
    switch (tok) {
    case YYSYMBOL_MODEL: case YYSYMBOL_INPUT: case YYSYMBOL_PARAM: case YYSYMBOL_DEF:
    case YYSYMBOL_LOSS: case YYSYMBOL_OUTPUT: case YYSYMBOL_OPTIMIZER: case YYSYMBOL_CLIP:
    case YYSYMBOL_RETURN: case YYSYMBOL_INT:
        return 1;
    default:
        return 0;
    }
}

/* 1 for Python's words of booleans and conditions within an expression. */
static int python_boolean(const char *word) {
    static const char *const words[] = {"and", "or", "not", "if", "else", "is", "in"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(word, words[i]) == 0) return 1;
    return 0;
}

/* Messages for what Python and PyTorch users write: `x ** 2`, `loss = EXPR`, a keyword
 * as a name (`input loss[3]`). Returns 1 if one was reported. */
static int python_idiom(const yypcontext_t *ctx, Parser *p, yysymbol_kind_t tok, Loc loc) {
    if (tok == YYTRANSLATE('*') && p->before_tok == '*' && p->before_loc.line == loc.line &&
        p->before_loc.col + 1 == loc.col) {
        parse_error(p, p->before_loc, "'**' is not an operator: write a power as x ^ 2");
        return 1;
    }
    if ((tok == YYTRANSLATE('=') || tok == YYTRANSLATE(':')) && p->stmt_ntok == 2 && p->stmt_first != TOK_NAME) {
        yysymbol_kind_t first = YYTRANSLATE(p->stmt_first);
        for (size_t i = 0; i < sizeof keyword_forms / sizeof keyword_forms[0]; i++)
            if (keyword_forms[i].tok == first) {
                parse_error(p, p->stmt_loc, "%s takes %s without '%c': %s", yysymbol_name(first),
                            keyword_forms[i].what, tok == YYTRANSLATE(':') ? ':' : '=', keyword_forms[i].form);
                return 1;
            }
        if (is_keyword(first) && tok == YYTRANSLATE('=')) {
            parse_error(p, p->stmt_loc, "%s is a keyword, not a name", yysymbol_name(first));
            return 1;
        }
    }
    /* Python's `a, b = f(x)` (it was "unexpected ','") */
    if (tok == YYTRANSLATE(',') && p->stmt_ntok == 2 && p->stmt_first == TOK_NAME) {
        parse_error(p, loc, "a binding names one value: bind each name on a line of its own (%s = ...)", p->stmt_word);
        return 1;
    }
    /* param W[784][256]: C's and Java's dimensions (it said "indexing and slicing ...") */
    if (tok == YYTRANSLATE('[') && p->before_tok == ']' && (p->stmt_first == TOK_PARAM || p->stmt_first == TOK_INPUT)) {
        parse_error(p, loc, "a shape is one list of sizes separated by commas: %s NAME[D1, D2], not NAME[D1][D2]",
                    p->stmt_first == TOK_PARAM ? "param" : "input");
        return 1;
    }
    /* x[0], h[:, 1], f(x)[0] (not `W[3] = ...`, a statement's second token) */
    if (tok == YYTRANSLATE('[') && p->stmt_ntok > 2 &&
        (p->before_tok == TOK_NAME || p->before_tok == ')' || p->before_tok == ']' || p->before_tok == TOK_TRANSPOSE)) {
        parse_error(p, loc, "indexing and slicing are not part of the language: declare the parts as parameters or "
                            "inputs of their own, or select with a product (x @ P)");
        return 1;
    }
    /* @jax.jit, @torch.compile before a def (it said "unexpected '@'", then the method) */
    if (tok == YYTRANSLATE('@') && p->stmt_ntok == 1) {
        parse_error(p, loc, "decorators are not part of the language: a def is inlined where it is called, and the "
                            "whole program is compiled");
        p->method_reported = 1;
        return 1;
    }
    /* input x[*, 784], x[None, ...]'s relative (it said "unexpected '*', expected an expression or ']'"),
       and input x[B, *] (it said that still: only the first size was looked at) */
    if (tok == YYTRANSLATE('*') && (p->before_tok == '[' || p->before_tok == ',') && p->nopen == 1 &&
        p->open[0].c == '[' && (p->stmt_first == TOK_INPUT || p->stmt_first == TOK_PARAM)) {
        parse_error(p, loc, "'*' is not a size: a size bound when the code runs is a name: [B, ...]");
        return 1;
    }
    /* W.T() (it said "unexpected '('") */
    if (tok == YYTRANSLATE('(') && p->before_tok == TOK_TRANSPOSE && p->before_loc.line == loc.line) {
        parse_error(p, loc, "the transpose is written x.T, without ()");
        return 1;
    }
    /* param W(3, 4), input x(B, 784): a shape in parentheses (it said "unexpected '('") */
    if (tok == YYTRANSLATE('(') && p->stmt_ntok == 3 && p->before_tok == TOK_NAME && p->before_name &&
        (p->stmt_first == TOK_PARAM || p->stmt_first == TOK_INPUT)) {
        int param = p->stmt_first == TOK_PARAM;
        parse_error(p, loc, "%s shape goes in brackets after its name: %s %s[...]", param ? "a parameter's" : "an input's",
                    param ? "param" : "input", p->before_name);
        return 1;
    }
    /* clip_grad_norm max_norm = 1 (it said "unexpected '='") */
    if (tok == YYTRANSLATE('=') && p->stmt_first == TOK_CLIP && p->stmt_ntok == 3 && p->before_tok == TOK_NAME) {
        parse_error(p, loc, "'clip_grad_norm' takes its value alone, without '%s =': clip_grad_norm MAX",
                    p->before_name ? p->before_name : "");
        return 1;
    }
    /* input x[B, 3] : float, : long, param W[3] : int (it said "expected 'int'", or "unexpected ':'") */
    if (p->before_tok == ':' && tok == YYSYMBOL_NAME && p->stmt_first == TOK_INPUT && p->last_name) {
        static const char *const reals[] = {"float", "float32", "float64", "double", "real", "f32", "f64", "half"};
        static const char *const ints[] = {"long", "int32", "int64", "int16", "int8", "uint8", "short", "integer",
                                           "i32", "i64"};
        int real = 0, integer = 0;
        for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) real |= strcmp(p->last_name, reals[i]) == 0;
        for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) integer |= strcmp(p->last_name, ints[i]) == 0;
        if (real)
            parse_error(p, p->before_loc, "an input is real unless declared ': int': leave out ': %s'", p->last_name);
        else if (integer)
            parse_error(p, loc, "an integer input is declared ': int', whatever its width: write ': int'");
        else
            parse_error(p, loc, "unknown type '%s': an input is real (no type) or ': int' (labels and ids)", p->last_name);
        p->method_reported = 1; /* : torch.long is one error */
        return 1;
    }
    if (tok == YYTRANSLATE(':') && p->stmt_first == TOK_PARAM && p->stmt_ntok >= 3) {
        parse_error(p, loc, "a parameter is real and takes no type (': int' is for inputs: labels and ids)");
        return 1;
    }
    /* Python's and, or, not, x if c else y (it said "unexpected name 'and'") */
    if ((tok == YYSYMBOL_NAME && p->last_name && p->stmt_ntok > 1 && python_boolean(p->last_name)) ||
        (p->before_tok == TOK_NAME && p->before_name && strcmp(p->before_name, "not") == 0 &&
         p->before_loc.line == loc.line)) {
        const char *word = tok == YYSYMBOL_NAME && p->last_name && python_boolean(p->last_name) ? p->last_name : "not";
        parse_error(p, word == p->last_name ? loc : p->before_loc, "there are no booleans or conditions ('%s'): for a "
                    "choice per element write maximum(a, b), minimum(a, b) or relu(x)", word);
        return 1;
    }
    /* output h, W.T (it said "unexpected '.T'") */
    if (p->stmt_first == TOK_OUTPUT && tok != YYSYMBOL_NAME && tok != YYTRANSLATE(',') && !is_keyword(tok) &&
        p->before_tok == TOK_NAME) {
        parse_error(p, loc, "'output' takes names of values: bind the expression first (NAME = EXPR) and output NAME");
        return 1;
    }
    /* an expression as a statement of a def body, its last one meant as the value (it said
       "unexpected '*', expected a name or '='") */
    int below = p->nopen - (tok == YYTRANSLATE('(') || tok == YYTRANSLATE('[')); /* the lookahead's own bracket is open */
    if (below > 0 && p->open[below - 1].c == '{' &&
        ((p->stmt_ntok == 1 && (tok == YYSYMBOL_NUMBER || tok == YYTRANSLATE('(') || tok == YYTRANSLATE('-'))) ||
         (p->stmt_ntok == 2 && p->stmt_first == TOK_NAME && tok != YYSYMBOL_NAME && tok != YYTRANSLATE('=') &&
          tok != YYTRANSLATE(',') && tok != YYTRANSLATE('[')))) {
        parse_error(p, p->stmt_loc, "an expression alone does nothing in a def body: bind it with 'NAME = ...', or "
                    "end the body with 'return ...'");
        return 1;
    }
    /* def f(x: float), def f(x, s=2), def f(x) -> float (Python's annotations and defaults) */
    if (p->stmt_first == TOK_DEF && in_parens(p) && (tok == YYTRANSLATE(':') || tok == YYTRANSLATE('='))) {
        parse_error(p, loc, "a def's parameters are names alone (%s): def f(x, s) = EXPR",
                    tok == YYTRANSLATE(':') ? "no types" : "no default values: pass every argument at the call");
        return 1;
    }
    if (p->stmt_first == TOK_DEF && tok == YYTRANSLATE('-') && p->before_tok == ')' && !in_parens(p)) {
        parse_error(p, loc, "a def has no return type: def f(x) = EXPR");
        return 1;
    }
    /* def f(x): (Python's) */
    if (tok == YYTRANSLATE(':') && p->stmt_first == TOK_DEF) {
        parse_error(p, loc, "a def is written def f(x) = EXPR, or def f(x) { ... return EXPR }, not with ':'");
        parse_python_block(p); /* its indented body is not reported line by line */
        return 1;
    }
    if (is_keyword(tok)) {
        yysymbol_kind_t exp[YYNTOKENS];
        int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
        for (int i = 0; i < n; i++)
            if (exp[i] == YYSYMBOL_NAME) {
                parse_error(p, loc, "%s is a keyword, not a name", yysymbol_name(tok));
                return 1;
            }
    }
    return 0;
}

const char *parse_python_keyword(const char *word) {
    static const struct { const char *word, *message; } words[] = {
        {"if", "there are no if statements (a model computes the same for every input): for a choice per "
               "element write maximum(a, b), minimum(a, b) or relu(x)"},
        {"for", "there are no loops: write each layer out, or once as a def called for each"},
        {"lambda", "'lambda' is not part of the language: write a def: def f(x) = EXPR"},
    };
    if (!word) return NULL;
    const char *w = strcmp(word, "elif") == 0 || strcmp(word, "else") == 0 ? "if" : strcmp(word, "while") == 0 ? "for" : word;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(w, words[i].word) == 0) return words[i].message;
    return NULL;
}

/* A statement that Python opens with a word the language does not have: `import torch`,
 * `from torch import nn`, `class Net(nn.Module):` (it said "expected '='", or "did you
 * mean 'loss'?" for class). Returns 1 if one was reported. */
static int python_statement(Parser *p) {
    if (p->stmt_first != TOK_NAME || !p->stmt_word) return 0;
    const char *w = p->stmt_word;
    if (strcmp(w, "import") == 0 || strcmp(w, "from") == 0)
        parse_error(p, p->stmt_loc, PARSE_NO_IMPORT);
    else if (strcmp(w, "with") == 0) { /* with no_grad():, with open(f) as fh: (said as no_grad's), with autocast(): */
        const char *what = p->stmt_ntok == 3 && p->before_name ? p->before_name : "";
        if (strcmp(what, "open") == 0)
            parse_error(p, p->stmt_loc, "there are no with blocks, and a program opens no files: bpc train reads "
                                        "the data (--data DIR or --inputs FILE) and the parameters (--params FILE)");
        else if (strcmp(what, "no_grad") == 0 || strcmp(what, "inference_mode") == 0)
            parse_error(p, p->stmt_loc, PARSE_NO_WITH);
        else
            parse_error(p, p->stmt_loc, "there are no with blocks: write the statements of its body at the top level");
        parse_python_block(p);
    }
    else if (strcmp(w, "class") == 0) {
        parse_error(p, p->stmt_loc, "there are no classes: declare param and input at the top level, and "
                                    "write a reusable layer as a def");
        parse_python_block(p);
    } else if (parse_python_keyword(w) && strcmp(w, "lambda") != 0) { /* if x:, for i in ...:, while ...: */
        parse_error(p, p->stmt_loc, "%s", parse_python_keyword(w));
        parse_python_block(p);
    } else
        return 0;
    p->method_reported = 1; /* nn.Module, skipped with the statement, is not said too */
    p->stmt_quiet = 1;      /* nor with open("f")'s string */
    return 1;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, Parser *p) {
    (void)scanner;
    p->nsyntax++;
    yysymbol_kind_t tok = yypcontext_token(ctx);
    Loc loc = parse_loc(*yypcontext_location(ctx));
    if (tok == YYSYMBOL_YYEOF && p->nopen > 0) {
        const Opener *o = &p->open[p->nopen - 1];
        parse_error(p, loc, "unclosed '%c' (opened at %d:%d)", o->c, o->loc.line, o->loc.col);
        return 0;
    }
    /* h1 = h0 +, then logits = h1 @ head: the '+' took the next line, whose binding is
       unexpected at its '=' (it said "unexpected '='" there, of the line after the mistake) */
    if (tok == YYTRANSLATE('=') && p->before_tok == TOK_NAME && p->before_name && !in_parens(p) &&
        p->join_tok && p->before_loc.line == p->join_at.line && p->before_loc.col == p->join_at.col) {
        parse_error(p, p->join_loc, "unexpected end of line after '%c': the next line begins a new statement "
                    "('%s = ...')", p->join_tok, p->before_name);
        return 0;
    }
    if (python_statement(p)) {
        while (in_parens(p)) p->nopen--;
        return 0;
    }
    const char *keyword = misspelled_statement(p);
    if (keyword || python_idiom(ctx, p, tok, loc)) {
        if (keyword)
            parse_error(p, p->stmt_loc, "unknown statement '%s'; did you mean '%s'?", p->stmt_word, keyword);
        while (in_parens(p)) p->nopen--;
        return 0;
    }
    if (tok == YYTRANSLATE('{') && p->nopen > 0) p->open[p->nopen - 1].broken = 1; /* def f(x) = { */
    char what[192];
    describe_token(p, tok, what, sizeof what);
    /* a bracket left open on an earlier line: the token is most likely the next
       statement's, and the ')' is what is missing (it said only "expected an operator") */
    if (in_parens(p) && p->open[p->nopen - 1].loc.line < loc.line) {
        const Opener *o = &p->open[p->nopen - 1];
        size_t len = strlen(what);
        snprintf(what + len, sizeof what - len, " inside the '%c' opened at %d:%d", o->c, o->loc.line,
                 o->loc.col);
    }
    const char *exp[4];
    int n = expected_phrases(ctx, exp);
    switch (n) {
    case 0: parse_error(p, loc, "unexpected %s", what); break;
    case 1: parse_error(p, loc, "unexpected %s, expected %s", what, exp[0]); break;
    case 2: parse_error(p, loc, "unexpected %s, expected %s or %s", what, exp[0], exp[1]); break;
    case 3:
        parse_error(p, loc, "unexpected %s, expected %s, %s or %s", what, exp[0], exp[1], exp[2]);
        break;
    default:
        parse_error(p, loc, "unexpected %s, expected %s, %s, %s or %s", what, exp[0], exp[1],
                    exp[2], exp[3]);
        break;
    }
    /* Forget the open ( and [ so that recovery stops at the end of this line: a bracket
     * left open must not swallow the rest of the file. */
    while (in_parens(p)) p->nopen--;
    return 0;
}

/* ---- constructors --------------------------------------------------------------------- */

static Expr *ex_new(Parser *p, ExprKind kind, YYLTYPE loc) {
    Expr *e = arena_alloc(p->arena, sizeof *e);
    e->kind = kind;
    e->loc = parse_loc(loc);
    e->depth = 1;
    return e;
}

static int max_int(int a, int b) { return a > b ? a : b; }

/* Sets e's depth from its children's; a tree deeper than the limit is reported (once per
 * parse) and replaced by the number 0 so that later passes may recurse safely. */
static Expr *ex_finish(Parser *p, Expr *e) {
    int d = 0;
    if (e->lhs) d = max_int(d, e->lhs->depth);
    if (e->rhs) d = max_int(d, e->rhs->depth);
    for (int i = 0; i < e->nargs; i++) d = max_int(d, e->args[i].value->depth);
    for (int i = 0; i < e->nitems; i++) d = max_int(d, e->items[i]->depth);
    e->depth = d + 1;
    if (e->depth <= AST_MAX_DEPTH) return e;
    if (!p->depth_reported)
        parse_error(p, e->loc, TOO_DEEP, AST_MAX_DEPTH);
    p->depth_reported = 1;
    Expr *zero = arena_alloc(p->arena, sizeof *zero);
    zero->kind = EX_NUM;
    zero->loc = e->loc;
    zero->is_integer = 1;
    zero->depth = 1;
    return zero;
}

static Expr *ex_num(Parser *p, NumTok n, YYLTYPE loc) {
    Expr *e = ex_new(p, EX_NUM, loc);
    e->num = n.value;
    e->is_integer = n.is_integer;
    e->text = n.text;
    return e;
}

static Expr *ex_name(Parser *p, const char *name, YYLTYPE loc) {
    Expr *e = ex_new(p, EX_NAME, loc);
    e->name = name;
    return e;
}

static Expr *ex_binary(Parser *p, int op, Expr *lhs, Expr *rhs, YYLTYPE oploc) {
    Expr *e = ex_new(p, EX_BINARY, oploc);
    e->op = op;
    e->lhs = lhs;
    e->rhs = rhs;
    return ex_finish(p, e);
}

static Expr *ex_neg(Parser *p, Expr *x, YYLTYPE loc) {
    Expr *e = ex_new(p, EX_NEG, loc);
    e->lhs = x;
    return ex_finish(p, e);
}

static Expr *ex_transpose(Parser *p, Expr *x, YYLTYPE loc) {
    Expr *e = ex_new(p, EX_TRANSPOSE, loc);
    e->lhs = x;
    return ex_finish(p, e);
}

static Expr *ex_call(Parser *p, const char *name, YYLTYPE loc, ArgList *args) {
    Expr *e = ex_new(p, EX_CALL, loc);
    e->name = name;
    e->args = args->items;
    e->nargs = args->n;
    return ex_finish(p, e);
}

static Expr *ex_list(Parser *p, ExprList *items, YYLTYPE loc) {
    Expr *e = ex_new(p, EX_LIST, loc);
    e->items = items->items;
    e->nitems = items->n;
    return ex_finish(p, e);
}

static Expr *ex_tuple(Parser *p, ExprList *items, YYLTYPE loc) {
    Expr *e = ex_list(p, items, loc);
    e->tuple = 1;
    return e;
}

/* Appends e (if any) to l, a new list when l is NULL. */
static ExprList *exprs_add(Parser *p, ExprList *l, Expr *e) {
    if (!l) l = arena_alloc(p->arena, sizeof *l);
    if (e) ARENA_PUSH(p->arena, l->items, l->n, l->cap, e);
    return l;
}

/* Appends a (unless it has no value) to l; keyword arguments must come last. */
static ArgList *args_add(Parser *p, ArgList *l, Arg a) {
    if (!l) l = arena_alloc(p->arena, sizeof *l);
    if (!a.value) return l;
    if (!a.name && l->n > 0 && l->items[l->n - 1].name)
        parse_error(p, a.loc, "positional argument after keyword argument");
    ARENA_PUSH(p->arena, l->items, l->n, l->cap, a);
    return l;
}

static Arg arg_positional(Expr *e) { return (Arg){NULL, e->loc, e}; }

static Arg arg_keyword(const char *name, YYLTYPE loc, Expr *e) {
    return (Arg){name, parse_loc(loc), e};
}

/* Appends name (if any) to l, a new list when l is NULL. */
static NameList *names_add(Parser *p, NameList *l, const char *name, YYLTYPE loc) {
    if (!l) l = arena_alloc(p->arena, sizeof *l);
    if (name) ARENA_PUSH(p->arena, l->items, l->n, l->cap, ((Ident){name, parse_loc(loc)}));
    return l;
}

/* Stands for a def body statement with a syntax error (already reported). */
static Stmt broken_stmt;

static Stmt *st_broken(void) { return &broken_stmt; }

/* Appends a def body statement (NULL: an empty one) to l, a new list when l is NULL. */
static StmtList *body_add(Parser *p, StmtList *l, Stmt *s) {
    if (!l) l = arena_alloc(p->arena, sizeof *l);
    if (s == &broken_stmt)
        l->broken = 1;
    else if (s)
        ARENA_PUSH(p->arena, l->items, l->n, l->cap, s);
    return l;
}

static Stmt *st_new(Parser *p, StmtKind kind, YYLTYPE loc) {
    Stmt *s = arena_alloc(p->arena, sizeof *s);
    s->kind = kind;
    s->loc = parse_loc(loc);
    return s;
}

static Stmt *st_named(Parser *p, StmtKind kind, YYLTYPE loc, const char *name, YYLTYPE nloc) {
    Stmt *s = st_new(p, kind, loc);
    s->name = name;
    s->name_loc = parse_loc(nloc);
    return s;
}

static Stmt *st_model(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc) {
    return st_named(p, ST_MODEL, loc, name, nloc);
}

static void st_set_dims(Stmt *s, ExprList *dims) {
    s->has_dims = dims != NULL;
    if (!dims) return;
    s->dims = dims->items;
    s->ndims = dims->n;
}

static Stmt *st_input(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, ExprList *dims,
                      int is_int, Expr *value) {
    Stmt *s = st_named(p, ST_INPUT, loc, name, nloc);
    st_set_dims(s, dims);
    s->is_int = is_int;
    s->value = value;
    return s;
}

static Stmt *st_param(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, ExprList *dims,
                      Expr *value) {
    Stmt *s = st_named(p, ST_PARAM, loc, name, nloc);
    st_set_dims(s, dims);
    s->value = value;
    return s;
}

static Stmt *st_bind(Parser *p, const char *name, YYLTYPE nloc, Expr *value) {
    Stmt *s = st_named(p, ST_BIND, nloc, name, nloc);
    s->value = value;
    return s;
}

/* WORD NAME = EXPR, WORD def ...: `checkpoint` is the one word that may come before a
 * binding or a def. It is not reserved (LANGUAGE.md does not list it), so it stays usable
 * as a name. */
static Stmt *st_checkpoint(Parser *p, const char *word, YYLTYPE wloc, Stmt *s) {
    if (strcmp(word, "checkpoint") != 0) {
        parse_error(p, parse_loc(wloc), "unexpected name '%s' before %s '%s' (only 'checkpoint' may come there)", word,
                    s->kind == ST_DEF ? "def" : "the binding of", s->name);
        return s;
    }
    s->checkpoint = 1;
    s->checkpoint_loc = s->loc = parse_loc(wloc);
    return s;
}

/* WORD input ... / WORD param ...: an error either way; the declaration still counts, so
 * that its uses raise no further errors. */
static Stmt *st_not_checkpoint(Parser *p, const char *word, YYLTYPE wloc, Stmt *s, const char *what) {
    if (strcmp(word, "checkpoint") == 0)
        parse_error(p, parse_loc(wloc), "'checkpoint' cannot mark %s: only a binding's value is recomputed "
                    "(checkpoint NAME = EXPR)", what);
    else
        parse_error(p, parse_loc(wloc), "unexpected name '%s' before '%s'", word,
                    s->kind == ST_INPUT ? "input" : "param");
    return s;
}

static void st_set_params(Parser *p, Stmt *s, NameList *params) {
    s->nparams = params->n;
    s->params = arena_alloc(p->arena, sizeof *s->params * (size_t)(params->n + 1));
    s->param_locs = arena_alloc(p->arena, sizeof *s->param_locs * (size_t)(params->n + 1));
    for (int i = 0; i < params->n; i++) {
        s->params[i] = params->items[i].name;
        s->param_locs[i] = params->items[i].loc;
    }
}

static Stmt *st_def(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, NameList *params,
                    Expr *value) {
    Stmt *s = st_named(p, ST_DEF, loc, name, nloc);
    st_set_params(p, s, params);
    s->value = value;
    return s;
}

/* def NAME(params) { bindings; return EXPR }: the return must come last, and only there. */
static Stmt *st_def_block(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc,
                          NameList *params, StmtList *body) {
    Stmt *s = st_named(p, ST_DEF, loc, name, nloc);
    st_set_params(p, s, params);
    s->is_block = 1;
    s->body = body->items;
    s->nbody = body->n;
    int nreturns = 0;
    for (int i = 0; i < body->n; i++) {
        if (body->items[i]->kind != ST_RETURN) continue;
        nreturns++;
        if (i + 1 < body->n)
            parse_error(p, body->items[i]->loc, "'return' must be the last statement of def '%s'",
                        name);
    }
    Stmt *last = body->n ? body->items[body->n - 1] : NULL;
    if (last && last->kind == ST_RETURN)
        s->value = last->value;
    else if (!body->broken && nreturns == 0 && !p->body_cut)
        parse_error(p, s->name_loc, "def '%s' has no return", name);
    p->body_cut = 0;
    return s;
}

static Stmt *st_value(Parser *p, StmtKind kind, YYLTYPE loc, Expr *value) {
    Stmt *s = st_new(p, kind, loc);
    s->value = value;
    return s;
}

static Stmt *st_output(Parser *p, YYLTYPE loc, NameList *names) {
    Stmt *s = st_new(p, ST_OUTPUT, loc);
    s->nnames = names->n;
    s->names = arena_alloc(p->arena, sizeof *s->names * (size_t)names->n);
    s->name_locs = arena_alloc(p->arena, sizeof *s->name_locs * (size_t)names->n);
    for (int i = 0; i < names->n; i++) {
        s->names[i] = names->items[i].name;
        s->name_locs[i] = names->items[i].loc;
    }
    return s;
}

static Stmt *st_optimizer(Parser *p, YYLTYPE loc, const char *name, YYLTYPE nloc, ArgList *args) {
    Stmt *s = st_named(p, ST_OPTIMIZER, loc, name, nloc);
    if (args) {
        s->args = args->items;
        s->nargs = args->n;
    }
    return s;
}

static Stmt *st_return_outside(Parser *p, YYLTYPE loc) {
    parse_error(p, parse_loc(loc), "'return' outside a def");
    return NULL;
}

static void program_add(Parser *p, Stmt *s) {
    if (s) ARENA_PUSH(p->arena, p->prog->stmts, p->prog->nstmts, p->prog->cap, s);
}

/* ---- entry points ---------------------------------------------------------------------- */

static void parser_init(Parser *p, Arena *arena, Diag *diag, const char *file) {
    memset(p, 0, sizeof *p);
    p->arena = arena;
    p->diag = diag;
    p->file = file;
    p->line = p->col = p->first_line = 1;
    p->last_tok = TOK_NEWLINE;
    p->max_errors = diag && diag->max_errors ? diag->max_errors : 50;
}

Program *parse_program(Arena *arena, Diag *diag, const char *file, const char *text) {
    return parse_program_at(arena, diag, file, text, 1);
}

Program *parse_program_at(Arena *arena, Diag *diag, const char *file, const char *text, int first_line) {
    Parser p;
    parser_init(&p, arena, diag, file);
    p.line = p.first_line = first_line > 1 ? first_line : 1;
    p.prog = arena_alloc(arena, sizeof *p.prog);
    yyscan_t scanner;
    if (yylex_init_extra(&p, &scanner) != 0) {
        parse_error(&p, (Loc){file, 0, 0}, "out of memory");
        return p.prog;
    }
    YY_BUFFER_STATE buf = yy_scan_string(text ? diag_skip_bom(text) : "", scanner);
    yyparse(scanner, &p);
    p.prog->py_block = p.py_block;
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    return p.prog;
}

/* Scans text silently and looks at where it stops: inside brackets, or after a token that
 * cannot end a statement (the same rule that lets a newline continue one). */
int parse_is_incomplete(const char *text) {
    Arena *arena = arena_new();
    Parser p;
    parser_init(&p, arena, NULL, "<input>");
    yyscan_t scanner;
    if (yylex_init_extra(&p, &scanner) != 0) {
        arena_free(arena);
        return 0;
    }
    YY_BUFFER_STATE buf = yy_scan_string(text ? diag_skip_bom(text) : "", scanner);
    YYSTYPE value;
    YYLTYPE loc;
    int last = TOK_NEWLINE;
    for (int t; (t = yylex(&value, &loc, scanner)) != TOK_END;)
        if (t != TOK_NEWLINE) last = t;
    int incomplete = p.nopen > 0 || lex_continues(last);
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    arena_free(arena);
    return incomplete;
}
