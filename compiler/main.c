/* main.c — the bpc command line: a thin layer over libbpc (compile.h, driver.h).
 * Only this file exits. Program errors exit 1, usage errors exit 2. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile.h"
#include "dist.h"
#include "driver.h"
#include "repl.h"
#include "sample.h"
#include "suggest.h"
#include "train.h"

#ifndef BPC_VERSION
#define BPC_VERSION "0"
#endif

static const char *usage_text =
    "usage: bpc FILE.bp -o OUT.c [--f64] [--standalone] [--stats]  write OUT.c and OUT.h (--standalone: with the runtime parts)\n"
    "       bpc --emit=c|h|ir|dot|test FILE.bp [--f64] [--standalone] [--stats]  print one artefact\n"
    "       bpc --stats FILE.bp [--batch N] [--f64]  workspace bytes with and without checkpoint (also with -o, --emit)\n"
    "       bpc grad FILE.bp [--params P.safetensors] [--inputs I.safetensors] [-o G.safetensors] [--f64] [--seed N]\n"
    "       bpc check FILE.bp [--params P] [--inputs I] [--seed N]\n"
    "       bpc hvp FILE.bp [--params P] --vector V.safetensors [--inputs I] [-o H.safetensors] [--f64] [--seed N]\n"
    "       bpc train FILE.bp [--data DIR|FILE.txt] [--inputs I] [--epochs N | --steps N] [--batch N] [--lr X]\n"
    "                 [--opt sgd|adam|adamw] [--seed N] [--params P] [--save P] [--f64] [--jit tcc|cc] [--threads N]\n"
    "                 [--checkpoint-every N] [--on-nan stop|skip] [--lr-schedule cosine|step:N:G] [--warmup N]\n"
    "       bpc eval FILE.bp --params P.safetensors [--data DIR|FILE.txt | --inputs I] [--batch N] [--f64] [--jit tcc|cc]\n"
    "       bpc sample FILE.bp --params P [--prompt TEXT] [-n N] [--temperature X] [--seed N] [--f64] [--jit tcc|cc]\n"
    "       bpc repl [FILE.bp] [--f32 | --f64] [--seed N] [--jit tcc|cc]  the interactive session (also: bpc alone on a terminal)\n"
    "       bpc --help | --version\n"
    "  all of the above but repl: [-O0] (no optimisation of the graph)\n"
    "  grad, check, hvp, train, eval, sample: [--jit tcc|cc] [--threads N]\n"
    "  (an option a command does not read is a usage error; one that several share, a warning)\n";

static void usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "bpc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    exit(2);
}


typedef struct Args {
    const char *cmd, *file, *out, *params, *inputs, *emit, *data, *save, *opt, *jit;
    const char *vector; /* bpc hvp --vector */
    int f64, optimize, threads, epochs, steps, batch, standalone, checkpoint_every, on_nan_skip;
    int stats; /* --stats */
    double lr;
    const char *lr_text; /* --lr as given, for drv_real_fits's message */
    Schedule sched; /* --lr-schedule, --warmup */
    uint64_t seed;
    int seed_given;
    const char *prompt;  /* bpc sample */
    int nbytes;
    double temperature;
    const char **given; /* the options given, as spelt (--flag of --flag=value): every one, argc
                           entries (parse_args; main frees them once warn_unused_options read
                           them). 64 were kept: a 65th escaped check_given_options */
    int ngiven;
} Args;

/* "bad value for --lr: '-1' (it takes a number >= 0)": the value given and what is wanted
 * (it said only "bad value for --lr"); why: what is wrong with a number of the right form
 * ("is below the smallest normal double, 2.2e-308": drv_parse_real's), or NULL. */
static void bad_value_why(const char *flag, const char *value, const char *why, const char *wanted) {
    char msg[400];
    drv_bad_value(msg, sizeof msg, flag, value, why, wanted);
    usage_error("%s", msg);
}

static void bad_value(const char *flag, const char *value, const char *wanted) {
    bad_value_why(flag, value, NULL, wanted);
}

/* The commands, and the three ways of compiling without one (-o OUT.c, --emit, --stats),
 * each a bit in an option's READERS below. X(ID, LABEL): LABEL is what messages call it. */
#define BPC_COMMANDS(X)                                                                                           \
    X(WRITE, "-o OUT.c")                                                                                          \
    X(EMIT, "--emit")                                                                                             \
    X(STATS, "--stats")                                                                                           \
    X(GRAD, "grad")                                                                                               \
    X(CHECK, "check")                                                                                             \
    X(HVP, "hvp")                                                                                                 \
    X(TRAIN, "train")                                                                                             \
    X(EVAL, "eval")                                                                                               \
    X(SAMPLE, "sample")

#define X_ID(id, label) CMD_##id,
typedef enum { BPC_COMMANDS(X_ID) CMD_COUNT } CommandId;
#undef X_ID
#define X_BIT(id, label) C_##id = 1u << CMD_##id,
enum { BPC_COMMANDS(X_BIT) C_RUN = C_GRAD | C_CHECK | C_HVP | C_TRAIN | C_EVAL | C_SAMPLE /* run the model */ };
#undef X_BIT
#define X_LABEL(id, label) label,
static const char *const command_labels[CMD_COUNT] = {BPC_COMMANDS(X_LABEL)};
#undef X_LABEL

/* Every option parse_args takes: its spelling, what follows it, which commands read it and
 * what one that does not is told. The one list that parsing, "did you mean", the usage
 * errors of check_given_options and the warnings of warn_unused_options read, so an option
 * cannot be parsed and left out of the suggestions, nor read by a command the checks think
 * ignores it. X(ID, SPELLING, VALUE, READERS, ELSE): VALUE is OV_NONE, OV_TEXT or OV_FILE (a
 * file name, not ""); READERS the C_* bits of the commands that read it; ELSE one of
 *   UN_FILE    a usage error naming the files the command takes (in this table's order),
 *   UN_REFUSE  a usage error naming the commands that read it (an option of another),
 *   UN_WARN    a warning that it has no effect (a shared option; the command runs),
 *   UN_MODE    none here: it chooses what bpc does (--emit=, --stats; main's own checks) or
 *              is answered by main before parse_args (--help, --version: listed only to be
 *              suggested).
 * The warnings come in this table's order. --emit= carries its value after the '='. -o is
 * --stats's too: `--stats -o OUT.c` writes OUT.c as well. */
#define BPC_OPTIONS(X)                                                                                            \
    X(OUT, "-o", OV_FILE, C_WRITE | C_STATS | C_GRAD | C_HVP, UN_FILE)                                            \
    X(PARAMS, "--params", OV_FILE, C_RUN, UN_FILE)                                                                \
    X(VECTOR, "--vector", OV_FILE, C_HVP, UN_FILE)                                                                \
    X(INPUTS, "--inputs", OV_FILE, C_RUN & ~C_SAMPLE, UN_FILE)                                                    \
    X(DATA, "--data", OV_FILE, C_TRAIN | C_EVAL, UN_FILE)                                                         \
    X(SAVE, "--save", OV_FILE, C_TRAIN, UN_FILE)                                                                  \
    X(SEED, "--seed", OV_TEXT, C_RUN & ~C_EVAL, UN_WARN)                                                          \
    X(JIT, "--jit", OV_TEXT, C_RUN, UN_WARN)                                                                      \
    X(THREADS, "--threads", OV_TEXT, C_RUN, UN_WARN)                                                              \
    X(BATCH, "--batch", OV_TEXT, C_TRAIN | C_EVAL | C_STATS, UN_WARN)                                             \
    X(F64, "--f64", OV_NONE, C_ALL & ~C_CHECK, UN_WARN) /* check works in double always */                        \
    X(O0, "-O0", OV_NONE, C_ALL, UN_WARN)                                                                         \
    X(STANDALONE, "--standalone", OV_NONE, C_WRITE | C_EMIT, UN_REFUSE)                                           \
    X(STATS, "--stats", OV_NONE, C_STATS, UN_MODE)                                                                \
    X(EMIT, "--emit=", OV_NONE, C_EMIT, UN_MODE)                                                                  \
    X(OPT, "--opt", OV_TEXT, C_TRAIN, UN_REFUSE)                                                                  \
    X(EPOCHS, "--epochs", OV_TEXT, C_TRAIN, UN_REFUSE)                                                            \
    X(STEPS, "--steps", OV_TEXT, C_TRAIN, UN_REFUSE)                                                              \
    X(CHECKPOINT_EVERY, "--checkpoint-every", OV_TEXT, C_TRAIN, UN_REFUSE)                                        \
    X(WARMUP, "--warmup", OV_TEXT, C_TRAIN, UN_REFUSE)                                                            \
    X(LR_SCHEDULE, "--lr-schedule", OV_TEXT, C_TRAIN, UN_REFUSE)                                                  \
    X(ON_NAN, "--on-nan", OV_TEXT, C_TRAIN, UN_REFUSE)                                                            \
    X(PROMPT, "--prompt", OV_TEXT, C_SAMPLE, UN_REFUSE)                                                           \
    X(NBYTES, "-n", OV_TEXT, C_SAMPLE, UN_REFUSE)                                                                 \
    X(TEMPERATURE, "--temperature", OV_TEXT, C_SAMPLE, UN_REFUSE)                                                 \
    X(LR, "--lr", OV_TEXT, C_TRAIN, UN_REFUSE)                                                                    \
    X(HELP, "--help", OV_NONE, 0, UN_MODE)                                                                        \
    X(VERSION, "--version", OV_NONE, 0, UN_MODE)

enum { OV_NONE, OV_TEXT, OV_FILE };                  /* what follows an option */
enum { UN_FILE, UN_REFUSE, UN_WARN, UN_MODE };       /* what a command that does not read it is told */
enum { C_ALL = (1u << CMD_COUNT) - 1 };              /* every command */
#define X_ID(id, name, value, readers, unread) OPT_##id,
typedef enum { BPC_OPTIONS(X_ID) OPT_COUNT } OptionId;
#undef X_ID
#define X_ROW(id, name, value, readers, unread) {name, value, readers, unread},
static const struct {
    const char *name;  /* as spelt */
    int value;         /* OV_* */
    unsigned readers;  /* C_* */
    int unread;        /* UN_* */
} options[OPT_COUNT] = {BPC_OPTIONS(X_ROW)};
#undef X_ROW

/* The option spelt s (--emit=... by its prefix), or OPT_COUNT */
static OptionId find_option(const char *s) {
    for (int k = 0; k < OPT_COUNT; k++)
        if (k == OPT_EMIT ? strncmp(s, options[k].name, 7) == 0 : strcmp(s, options[k].name) == 0) return (OptionId)k;
    return OPT_COUNT;
}

static void unknown_option(const char *s) {
    static const struct { const char *word, *ours; } aliases[] = {
        {"--learning-rate", "--lr"}, {"--learning_rate", "--lr"}, {"--batch-size", "--batch"},
        {"--batch_size", "--batch"}, {"--optimizer", "--opt"},    {"--num-epochs", "--epochs"},
        {"--double", "--f64"},
    };
    const char *best = NULL;
    for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++)
        if (strcmp(s, aliases[k].word) == 0) best = aliases[k].ours;
    if (!best) {
        Suggest sg;
        suggest_init(&sg, s);
        for (int k = 0; k < OPT_COUNT; k++) suggest_offer(&sg, options[k].name);
        best = sg.best;
    }
    char msg[200];
    if (best) snprintf(msg, sizeof msg, "unknown option '%.80s'; did you mean '%s'?", s, best);
    else snprintf(msg, sizeof msg, "unknown option '%.80s'", s);
    usage_error("%s", msg);
}

static int parse_int_from(const char *s, const char *flag, int lo) {
    int v = 0;
    if (drv_parse_count(s, lo, &v) != 0)
        bad_value(flag, s, lo ? "a whole number from 1 to 2000000000" : "a whole number from 0 to 2000000000");
    return v;
}

/* a real number >= 0 (--lr, --temperature) */
static double parse_real(const char *s, const char *flag) {
    double v = 0;
    const char *why;
    if (drv_parse_real(s, &v, &why) != 0) bad_value_why(flag, s, why, "a number >= 0");
    return v;
}

static int parse_int(const char *s, const char *flag) { return parse_int_from(s, flag, 0); }

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* a count that must be at least 1 (0 would stand for "not given") */
static int parse_positive(const char *s, const char *flag) {
    int v = parse_int_from(s, flag, strcmp(s, "0") != 0); /* 0 itself: "must be at least 1" */
    if (v < 1) usage_error("%s must be at least 1", flag);
    return v;
}

static const char *nonempty(const char *v, const char *flag) {
    if (!*v) usage_error("%s needs a file name, not an empty string", flag);
    return v;
}

/* What a usage error calls the command: its name, or the compiling option given */
static const char *command_label(const Args *a) {
    return a->cmd ? a->cmd : a->emit ? "--emit" : a->out ? "-o OUT.c" : "--stats";
}

/* The C_* bits of what a run does: its command's, or those of compiling (--emit prints
 * instead of writing -o's file; --stats goes with either or stands alone); 0 for nothing */
static unsigned given_commands(const Args *a) {
    for (int k = CMD_GRAD; a->cmd && k < CMD_COUNT; k++)
        if (strcmp(a->cmd, command_labels[k]) == 0) return 1u << k;
    return (a->emit ? C_EMIT : a->out ? C_WRITE : 0u) | (a->stats ? C_STATS : 0u);
}

/* The flag of a given option as spelt ("--lr" of "--lr=0.1"), and its row (or OPT_COUNT) */
static OptionId given_option(const char *given, char *flag, size_t size) {
    snprintf(flag, size, "%.*s", (int)strcspn(given, "="), given);
    return find_option(flag);
}

/* Appends to buf (size bytes, holding n characters) as snprintf would; returns the new
 * length, at most size - 1 (a longer text is cut). */
static size_t append(char *buf, size_t size, size_t n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t size, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (n < size - 1) {
        int w = vsnprintf(buf + n, size - n, fmt, ap);
        n = w < 0 ? n : n + (size_t)w < size - 1 ? n + (size_t)w : size - 1;
    }
    va_end(ap);
    return n;
}

/* A file option the command does not read, or an option of another command, is a usage
 * error. Each was ignored: `bpc train -o w.safetensors` trained and saved nothing, `bpc grad
 * --data DIR` differentiated at the inputs' defaults, `--emit=c -o net.c` wrote no file,
 * 'bpc eval --steps 3 --lr 0.1' evaluated without a word about either. (Options that several
 * commands share are warned about where they have no effect: warn_unused_options.) */
static void check_given_options(const Args *a) {
    const unsigned run = given_commands(a);
    if (!run) return; /* "nothing to do" says more */
    const char *what = command_label(a);
    if (a->emit && !a->cmd && a->out)
        usage_error("%s", "--emit prints to standard output and takes no -o (redirect it: > FILE)");
    if (run == C_TRAIN && a->out) usage_error("%s", "train takes no -o: it saves the parameters with --save P.safetensors");
    for (int k = 0; k < a->ngiven; k++) {
        char flag[64], msg[300], list[200] = "";
        OptionId o = given_option(a->given[k], flag, sizeof flag);
        if (o == OPT_COUNT || (options[o].readers & run) || options[o].unread == UN_WARN || options[o].unread == UN_MODE)
            continue;
        size_t n = 0;
        for (int f = 0; options[o].unread == UN_FILE && f < OPT_COUNT; f++) /* the files the command takes */
            if (options[f].unread == UN_FILE && (options[f].readers & run))
                n = append(list, sizeof list, n, "%s%s", n ? " " : "", options[f].name);
        for (int c = 0; options[o].unread == UN_REFUSE && c < CMD_COUNT; c++) /* the commands that take o */
            if (options[o].readers & (1u << c))
                n = append(list, sizeof list, n, "%s%s%s", n ? " and " : "", c >= CMD_GRAD ? "bpc " : "", command_labels[c]);
        if (options[o].unread == UN_FILE)
            snprintf(msg, sizeof msg, "%s takes no %s (%s%s)", what, flag, n ? "its files: " : "it reads and writes no file",
                     list);
        else snprintf(msg, sizeof msg, "%s takes no %s (an option of %s)", what, flag, list);
        usage_error("%s", msg);
    }
}

/* Why an option the command reads has no effect in this run: " without --data", say, or
 * NULL when it has one. */
static const char *unused_here(const Args *a, OptionId o, unsigned run) {
    if (o == OPT_BATCH && (run & (C_TRAIN | C_EVAL)) && !a->data) return " without --data"; /* fixed inputs: one batch */
    if (o == OPT_SEED && (run & (C_GRAD | C_HVP)) && a->params) return " with --params"; /* it draws the parameters */
    if (o == OPT_SEED && run == C_SAMPLE && a->temperature == 0) return " with --temperature 0"; /* the likeliest byte */
    /* --emit=ir and =dot print the graph, =test a program that includes OUT.h, =h the header
       (which --f64 changes, --standalone not) */
    if ((run & C_EMIT) && !(options[o].readers & run & ~C_EMIT) && (o == OPT_F64 || o == OPT_STANDALONE)) {
        if (!strcmp(a->emit, "ir")) return "=ir";
        if (!strcmp(a->emit, "dot")) return "=dot";
        if (o == OPT_STANDALONE && !strcmp(a->emit, "test")) return "=test";
        if (o == OPT_STANDALONE && !strcmp(a->emit, "h")) return "=h";
    }
    return NULL;
}

/* Options that several commands share, given to one that does not use them or in a run
 * where they do nothing, are warned about, as gcc warns about an option that has no effect
 * (a script may pass one set to every command, so not a usage error): `bpc sample --batch 4`
 * sampled without a word, and so did train and eval on fixed inputs, one batch of their own
 * size. One line per option, however often it is given, in the option table's order. */
static void warn_unused_options(const Args *a) {
    const unsigned run = given_commands(a);
    for (int o = 0; o < OPT_COUNT; o++) {
        const char *why = options[o].readers & run ? unused_here(a, (OptionId)o, run) : "";
        if (!why || (!*why && options[o].unread != UN_WARN)) continue;
        for (int k = 0; k < a->ngiven; k++) {
            char flag[64];
            if (given_option(a->given[k], flag, sizeof flag) != (OptionId)o) continue;
            diag_tool_warning("%s has no effect on %s%s", flag, command_label(a), why);
            break;
        }
    }
}

/* An output that is the program, the --data text, one of the IDX files of a --data
 * directory or the --inputs (the same file, by device and inode: links included) is a
 * usage error, as in gcc ("input file is the same as output file"): `grad x.bp -o x.bp`
 * overwrote the program, `train --data c.txt --save c.txt` the corpus, and `train --data d
 * --save d/train-labels-idx1-ubyte` a file of the data set. Parameter-shaped files may be
 * the output (--params and --save: resuming into one checkpoint; hvp --vector v -o v: a
 * power iteration): each is read whole first. A file of tensors is refused too where
 * drv_check_tensor_output refuses it (a name ending in .bp, an existing file that is not a
 * safetensors file), as the REPL's :save is. All before anything is compiled or run. */
static void check_outputs(const Args *a) {
    char hpath[4096] = "";
    size_t n = a->out ? strlen(a->out) : 0;
    if (!a->cmd && n > 2 && n < sizeof hpath && strcmp(a->out + n - 2, ".c") == 0) { /* and OUT.h */
        memcpy(hpath, a->out, n + 1);
        hpath[n - 1] = 'h';
    }
    const struct { const char *flag, *path; } outs[] = {{"-o", a->out}, {"-o's header", hpath}, {"--save", a->save}};
    enum { NIDX = 8 }; /* the files bprt_split_idx may read in a --data directory */
    static const char *const idx_names[NIDX] = {
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz"};
    char idx[NIDX][4200];
    struct { const char *what, *path; } ins[3 + NIDX] = {
        {"the program", a->file}, {"--data", a->data}, {"--inputs", a->inputs}};
    struct stat sd;
    const int dir = a->data && stat(a->data, &sd) == 0 && S_ISDIR(sd.st_mode);
    const size_t dn = a->data ? strlen(a->data) : 0;
    for (int k = 0; k < NIDX; k++) {
        snprintf(idx[k], sizeof idx[k], "%.4000s%s%s", a->data ? a->data : "", dn && a->data[dn - 1] == '/' ? "" : "/",
                 idx_names[k]);
        ins[3 + k].path = dir ? idx[k] : NULL;
    }
    for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
        struct stat so;
        if (!outs[o].path || stat(outs[o].path, &so) != 0 || !S_ISREG(so.st_mode)) continue;
        for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
            if (!drv_same_file(outs[o].path, ins[i].path)) continue;
            char msg[600];
            if (i >= 3) /* a file of the --data directory */
                snprintf(msg, sizeof msg, "%s %.180s is %.180s of --data %.180s: writing it would destroy it", outs[o].flag,
                         outs[o].path, ins[i].path, a->data);
            else
                snprintf(msg, sizeof msg, "%s %.250s is %s%s%.250s: writing it would destroy it", outs[o].flag,
                         outs[o].path, ins[i].what, i ? " " : "", i ? ins[i].path : "");
            usage_error("%s", msg);
        }
    }
    /* and a file of tensors (grad's and hvp's -o, --save) goes only where one was, as the
       REPL's :save: `grad m.bp -o notes.txt` and `train m.bp --save other.bp` replaced them */
    const struct { const char *flag, *path; } tensors[] = {{"-o", a->cmd ? a->out : NULL}, {"--save", a->save}};
    for (size_t o = 0; o < sizeof tensors / sizeof tensors[0]; o++) {
        char err[BPRT_ERRLEN], msg[BPRT_ERRLEN + 20];
        if (!tensors[o].path || drv_check_tensor_output(tensors[o].path, err) == 0) continue;
        snprintf(msg, sizeof msg, "%s %s", tensors[o].flag, err);
        usage_error("%s", msg);
    }
}

/* `bpc tran m.bp`, `bpc compile m.bp`, `bpc compile -o x.c`: word, the first that is neither
 * an option nor an option's value (the parse took those: `bpc --f64 tran m.bp`, `bpc -o x.c
 * tran m.bp` too), stands in the command's place and names none. Followed by a file (alone
 * 0), it was taken for the file: a word near a command is that command misspelt, and one
 * near none with neither a dot nor a slash (no file name) a command bpc does not have. The
 * only word (alone 1) may be the program: it is said to be neither only when it has neither
 * a dot nor a slash and no such file exists (`bpc compile -o x.c` said "cannot open
 * compile"). Returns when it may be a file; else a usage error. */
static void check_command_word(const char *word, int alone) {
    struct stat st;
    const int name = strpbrk(word, "./") != NULL;
    if (alone && (name || stat(word, &st) == 0)) return;
    char msg[300];
    size_t n = alone ? append(msg, sizeof msg, 0, "'%.80s' is not a command nor a file", word)
                     : append(msg, sizeof msg, 0, "unknown command '%.80s'", word);
    Suggest sg;
    suggest_init(&sg, word);
    for (int k = CMD_GRAD; k < CMD_COUNT; k++) suggest_offer(&sg, command_labels[k]);
    if (sg.best) {
        append(msg, sizeof msg, n, "; did you mean '%s'?", sg.best);
        usage_error("%s", msg);
    }
    if (name) return;
    n = append(msg, sizeof msg, n, "; the commands are");
    for (int k = CMD_GRAD; k < CMD_COUNT; k++)
        n = append(msg, sizeof msg, n, "%s %s", k > CMD_GRAD ? "," : "", command_labels[k]);
    append(msg, sizeof msg, n, " and repl (bpc FILE.bp -o OUT.c compiles)");
    usage_error("%s", msg);
}

static void parse_args(int argc, char **argv, Args *a) {
    memset(a, 0, sizeof *a);
    a->optimize = 1;
    a->lr = -1;
    a->nbytes = 200;
    a->temperature = 0.8;
    a->jit = "tcc";
    a->given = malloc((size_t)argc * sizeof *a->given);
    if (!a->given) abort();
    int i = 1;
    if (i < argc)
        for (int k = CMD_GRAD; k < CMD_COUNT; k++)
            if (strcmp(argv[i], command_labels[k]) == 0) {
                a->cmd = argv[i++];
                break;
            }
    for (; i < argc; i++) {
        const char *s = argv[i];
        /* --flag=value as well as --flag value (GNU style; --emit= is one option of its own) */
        char name[64];
        const char *inline_value = NULL;
        int inline_used = 0;
        const char *eq = strchr(s, '=');
        if (s[0] == '-' && s[1] == '-' && eq && strncmp(s, "--emit=", 7) != 0 && (size_t)(eq - s) < sizeof name) {
            memcpy(name, s, (size_t)(eq - s));
            name[eq - s] = 0;
            inline_value = eq + 1;
            s = name;
        }
        if (s[0] == '-' && s[1]) a->given[a->ngiven++] = s == name ? argv[i] : s;
        const OptionId o = s[0] == '-' && s[1] ? find_option(s) : OPT_COUNT;
        const char *v = NULL; /* the option's value */
        if (o < OPT_COUNT && options[o].value != OV_NONE) {
            inline_used = inline_value != NULL;
            v = inline_value ? inline_value : i + 1 < argc ? argv[++i] : (usage_error("%s needs a value", s), "");
            /* a file name: "" is refused now (--save "" failed only when training had ended) */
            if (options[o].value == OV_FILE) nonempty(v, s);
        }
        switch (o) {
        case OPT_OUT: a->out = v; break;
        case OPT_F64: a->f64 = 1; break;
        case OPT_STANDALONE: a->standalone = 1; break;
        case OPT_STATS: a->stats = 1; break;
        case OPT_O0: a->optimize = 0; break;
        case OPT_EMIT: a->emit = s + 7; break;
        case OPT_PARAMS: a->params = v; break;
        case OPT_VECTOR: a->vector = v; break;
        case OPT_INPUTS: a->inputs = v; break;
        case OPT_DATA: a->data = v; break;
        case OPT_SAVE: a->save = v; break;
        case OPT_OPT: a->opt = v; break;
        case OPT_JIT: a->jit = v; break;
        case OPT_SEED:
            a->seed = (uint64_t)parse_int(v, "--seed");
            a->seed_given = 1;
            break;
        case OPT_THREADS:
            a->threads = parse_positive(v, "--threads");
            if (a->threads > BPRT_MAX_THREADS)
                usage_error("%s must be at most " STRINGIFY(BPRT_MAX_THREADS) " (as BPRT_NUM_THREADS)", "--threads");
            break;
        case OPT_EPOCHS: a->epochs = parse_positive(v, "--epochs"); break;
        case OPT_STEPS: a->steps = parse_positive(v, "--steps"); break;
        case OPT_BATCH: a->batch = parse_positive(v, "--batch"); break;
        case OPT_CHECKPOINT_EVERY: a->checkpoint_every = parse_positive(v, "--checkpoint-every"); break;
        case OPT_WARMUP: a->sched.warmup = parse_positive(v, "--warmup"); break;
        case OPT_LR_SCHEDULE: {
            char err[400];
            if (train_parse_schedule(v, &a->sched, err, sizeof err) != 0) usage_error("%s", err);
            break;
        }
        case OPT_ON_NAN:
            if (strcmp(v, "skip") == 0) a->on_nan_skip = 1;
            else if (strcmp(v, "stop") != 0) usage_error("--on-nan takes stop or skip, not '%s'", v);
            break;
        case OPT_PROMPT: a->prompt = v; break;
        case OPT_NBYTES: a->nbytes = parse_int(v, "-n"); break;
        case OPT_TEMPERATURE: a->temperature = parse_real(v, "--temperature"); break;
        case OPT_LR:
            a->lr = parse_real(v, "--lr");
            a->lr_text = v;
            break;
        case OPT_HELP: /* main answered --help before parse_args; --version is taken only first */
        case OPT_VERSION: unknown_option(s); break;
        case OPT_COUNT:
            if (s[0] == '-' && s[1]) unknown_option(s);
            else if (!a->file) a->file = s;
            else {
                /* `bpc --f64 grad m.bp`, `bpc m.bp grad`: a command after the first argument
                   was taken for the file, or is one file too many */
                for (int k = CMD_GRAD; !a->cmd && k <= CMD_COUNT; k++) {
                    const char *c = k < CMD_COUNT ? command_labels[k] : "repl";
                    if (strcmp(a->file, c) == 0 || strcmp(s, c) == 0) {
                        char msg[120];
                        snprintf(msg, sizeof msg, "'%s' is a command and comes first: bpc %s FILE.bp [options]", c, c);
                        usage_error("%s", msg);
                    }
                }
                if (!a->cmd) check_command_word(a->file, 0);
                usage_error("unexpected argument '%s'", s);
            }
            break;
        }
        if (inline_value && !inline_used) usage_error("%s takes no value", s);
    }
    if (a->file && !a->cmd) check_command_word(a->file, 1);
    if (strcmp(a->jit, "tcc") != 0 && strcmp(a->jit, "cc") != 0) bad_value("--jit", a->jit, "tcc or cc");
    if (a->batch == 0 && a->cmd && strcmp(a->cmd, "train") == 0) a->batch = TRAIN_BATCH;
    if (a->data && a->inputs) /* --data won and --inputs was not read */
        usage_error("%s and --inputs both give the inputs; use one", "--data");
    if (a->epochs && a->steps) /* --steps won without a word */
        usage_error("%s and --steps both say how long to train; use one", "--epochs");
    check_given_options(a);
    /* a rate the run's reals do not hold (--f64 may come after --lr): `--lr 1e-50` trained at
       0 in float, `--lr 1e39` at inf. (--temperature and --lr-schedule's G are used in
       double, whatever the run's reals.) */
    const char *why;
    if (a->lr_text && drv_real_fits(a->lr, a->f64, &why) != 0) bad_value_why("--lr", a->lr_text, why, "a number >= 0");
    check_outputs(a);
    if (a->cmd && strcmp(a->cmd, "eval") == 0 && !a->params) /* else it evaluated the initial parameters */
        usage_error("%s needs --params P.safetensors (the parameters to evaluate)", "eval");
}

/* hvp: CompileOptions.hvp (NAME_hvp: 1 required, 2 when every op allows it). */
static Graph *compile_file(Arena *ar, Diag *d, const char *path, int optimize, int hvp) {
    char err[512];
    char *text = bpc_read_program(path, err, sizeof err);
    if (!text) {
        fprintf(stderr, "bpc: error: %s\n", err);
        return NULL;
    }
    const char *name = diag_add_source(d, path, text);
    free(text);
    const char *stored = NULL;
    for (DiagSource *s = d->sources; s; s = s->next)
        if (s->name == name) stored = s->text;
    CompileOptions co = {.optimize = optimize, .hvp = hvp};
    return bpc_compile(ar, d, name, stored, &co);
}

/* Writes text into the file an atomic write of path goes to (bprt_temp_name: a temporary
 * beside it, or path itself when that is a device, pipe or directory, *special). */
static int write_temp(const char *path, const char *text, char *tmp, size_t size, int *special) {
    if (bprt_temp_name(path, tmp, size, special) != 0) {
        fprintf(stderr, "bpc: error: %s: path too long\n", path);
        tmp[0] = 0;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (f && !*special) bprt_keep_mode(path, fileno(f));
    int ok = f && fputs(text, f) >= 0 && fflush(f) == 0 && (*special || fsync(fileno(f)) == 0), e = errno;
    if (f && fclose(f) != 0 && ok) ok = 0, e = errno;
    if (!ok) { /* the path asked for, not the temporary's name */
        fprintf(stderr, "bpc: error: cannot write %s: %s\n", path, strerror(e));
        if (!*special) remove(tmp);
        tmp[0] = 0;
        return -1;
    }
    return 0;
}

/* OUT.c and OUT.h as a pair: both written to temporaries first, then renamed over the
 * targets, so that a failure (a full disk, OUT.h a directory) leaves no partial file and
 * the previous ones as they were. */
static int write_pair(const char *cpath_given, const char *c, const char *hpath_given, const char *h) {
    char tc[4096] = "", th[4096] = "", cpath[4096], hpath[4096]; /* through symbolic links */
    int sc = 0, sh = 0;
    if (bprt_resolve_links(cpath_given, cpath, sizeof cpath) != 0 ||
        bprt_resolve_links(hpath_given, hpath, sizeof hpath) != 0) {
        fprintf(stderr, "bpc: error: %s: path too long, or a loop of symbolic links\n", cpath_given);
        return -1;
    }
    int rc = write_temp(cpath, c, tc, sizeof tc, &sc);
    if (!rc) rc = write_temp(hpath, h, th, sizeof th, &sh);
    if (!rc && !sh && rename(th, hpath) != 0) {
        fprintf(stderr, "bpc: error: cannot write %s: %s\n", hpath, strerror(errno));
        rc = -1;
    }
    if (!rc && !sc && rename(tc, cpath) != 0) {
        fprintf(stderr, "bpc: error: cannot write %s: %s\n", cpath, strerror(errno));
        rc = -1;
    }
    if (rc && !sc && tc[0]) remove(tc);
    if (rc && !sh && th[0]) remove(th);
    return rc;
}

static int cmd_emit(const Args *a, Graph *g) {
    EmitOptions eo = {a->f64, 0, 1, NULL, 0, a->standalone, 0};
    if (strcmp(a->emit, "ir") == 0) ir_dump(stdout, g);
    else if (strcmp(a->emit, "dot") == 0) emit_dot(stdout, g);
    else if (strcmp(a->emit, "test") == 0) {
        /* the header bpc FILE.bp -o FILE.c writes: the name without its last extension, as
         * the model's default name ("my.net.bp" -> "my.net.h"; a leading dot starts none) */
        const char *base = strrchr(a->file, '/'), *dot;
        base = base ? base + 1 : a->file;
        dot = strrchr(base, '.');
        const size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        if (memchr(base, '"', stem) || memchr(base, '\n', stem)) /* #include "FILE.h" has no escapes */
            usage_error("--emit=test %s: the program includes its header by name, and #include \"...\" cannot "
                        "spell a '\"' or a line break; rename the .bp file", a->file);
        char *hdr = malloc(stem + 3);
        if (!hdr) abort();
        snprintf(hdr, stem + 3, "%.*s.h", (int)stem, base);
        emit_test_program(stdout, g, &eo, hdr);
        free(hdr);
    }
    else if (strcmp(a->emit, "c") == 0 || strcmp(a->emit, "h") == 0) {
        char *s = bpc_emit_string(g, &eo, a->emit[0] == 'h');
        fputs(s, stdout);
        free(s);
    } else
        usage_error("--emit takes c, h, ir, dot or test, not '%s'", a->emit);
    return 0;
}

static int cmd_write(const Args *a, Graph *g) {
    size_t n = strlen(a->out);
    if (n < 3 || strcmp(a->out + n - 2, ".c") != 0) usage_error("-o needs a file name ending in .c, got '%s'", a->out);
    char *hpath = strdup(a->out);
    if (!hpath) abort();
    hpath[n - 1] = 'h';
    const char *base = strrchr(hpath, '/');
    base = base ? base + 1 : hpath;
    if (!a->standalone && strcmp(base, "bprt.h") == 0) /* the .c includes both by their names */
        usage_error("-o %s: its header would be bprt.h and hide the runtime's bprt.h from the .c; "
                    "name the output otherwise, or use --standalone", a->out);
    if (strpbrk(base, "\"\n")) /* #include "OUT.h" has no escapes */
        usage_error("-o %s: the .c includes its header by name, and #include \"...\" cannot spell a '\"' or a "
                    "line break; name the output otherwise", a->out);
    EmitOptions eo = {a->f64, 0, 1, base, 0, a->standalone, 0};
    char *c = bpc_emit_string(g, &eo, 0), *h = bpc_emit_string(g, &eo, 1);
    int rc = write_pair(a->out, c, hpath, h);
    free(c);
    free(h);
    free(hpath);
    return rc ? 1 : 0;
}

/* bpc --stats: the planned workspace of the training step, and the same program's with
 * every `checkpoint` ignored, at symbolic sizes = --batch (64). One "key value" per line,
 * on stdout, or on stderr when --emit prints an artefact there. Returns 0, or 1 on errors:
 * sizes at which the generated code cannot run are refused as a run's are (drv_check_sizes:
 * the value, its line and a caret). */
static int cmd_stats(const Args *a, Graph *g, Arena *ar, Diag *d) {
    const DiagSource *src = d->sources;
    while (src && strcmp(src->name, a->file) != 0) src = src->next;
    if (!src) return 1;
    CompileOptions co = {.optimize = a->optimize, .no_checkpoint = 1};
    Graph *plain = bpc_compile(ar, d, src->name, src->text, &co);
    if (!plain) return 1;
    if (a->batch && !g->syms.n) /* as warn_unused_options, once the program says it has no size to set */
        diag_tool_warning("--batch has no effect on --stats of a program without symbolic sizes");
    int64_t dims[BP_MAXSYMS];
    int size = a->batch ? a->batch : TRAIN_BATCH, idims[BP_MAXSYMS];
    for (int s = 0; s < BP_MAXSYMS; s++) dims[s] = idims[s] = size;
    if (drv_check_sizes(g, idims) != 0) return 1; /* sizes the generated functions do not take */
    EmitStats st, st0;
    emit_stats(g, dims, a->f64, &st);
    emit_stats(plain, dims, a->f64, &st0);
    FILE *out = a->emit ? stderr : stdout;
    fprintf(out, "model %s\nreal %s\ndims", g->model, a->f64 ? "double" : "float");
    for (int s = 0; s < g->syms.n; s++) fprintf(out, " %s=%d", g->syms.names[s], size);
    fprintf(out, "%s\n", g->syms.n ? "" : " none");
    fprintf(out, "workspace_bytes %zu\nworkspace_bytes_without_checkpoint %zu\n", st.workspace, st0.workspace);
    fprintf(out, "grad_workspace_bytes %zu\ngrad_workspace_bytes_without_checkpoint %zu\n", st.grad_workspace,
            st0.grad_workspace);
    fprintf(out, "buffers %d\nbuffers_without_checkpoint %d\n", st.grad_buffers, st0.grad_buffers);
    fprintf(out, "forward_nodes %d\nbackward_nodes %d\nrecomputed_nodes %d\n", st.forward_nodes, st.backward_nodes,
            st.recomputed_nodes);
    if (st.standalone_workspace != st.workspace) /* --standalone's plan: the attention products' scratch */
        fprintf(out, "standalone_scratch_bytes %lld\n", (long long)st.standalone_workspace - (long long)st.workspace);
    return 0;
}

static int needs_given_inputs(const Graph *g) {
    for (int i = 0; i < g->ninputs; i++)
        if (!g->inputs[i].has_default) return 1;
    return 0;
}

/* JIT-compiles g, loads or draws the inputs and initialises or loads the parameters. The
 * inputs come first: a missing one is said before parameters of gigabytes are made. On
 * failure everything it made is released again (the caller returns at once). */
static int setup_model(const Args *a, Graph *g, Model *m, int f64, void **params, Inputs *in) {
    char err[BPRT_ERRLEN];
    if (bpc_model_jit(m, g, f64, strcmp(a->jit, "cc") == 0 ? JIT_CC : JIT_TCC, err, sizeof err) != 0) {
        fprintf(stderr, "bpc: error: JIT compilation failed:\n%s\n", err);
        return -1;
    }
    int rc = 0;
    *params = NULL;
    if (in && !a->inputs && a->cmd && strcmp(a->cmd, "check") == 0 && needs_given_inputs(g)) {
        /* bpc check without --inputs: random inputs, symbolic sizes 3, labels in {0, 1} */
        printf("inputs: random (normal; " DRV_RANDOM_LABELS "; symbolic sizes = 3), seed %llu\n",
               (unsigned long long)a->seed);
        rc = drv_random_inputs(m, in, 3, a->seed, err);
        if (rc != 0) fprintf(stderr, "bpc: error: %s\n", err);
    } else if (in && drv_load_inputs(m, a->inputs, in, err) != 0) {
        fprintf(stderr, "bpc: error: %s\n", err);
        rc = -1;
    }
    if (rc == 0) {
        *params = drv_alloc_reals((size_t)g->nparam_reals + 1, m->real_size, "parameters", err);
        if (!*params) {
            fprintf(stderr, "bpc: error: %s\n", err);
            rc = -1;
        }
    }
    if (rc == 0) {
        drv_init_params(m, *params, a->seed);
        if (a->params && drv_load_params(m, a->params, *params, err) != 0) {
            fprintf(stderr, "bpc: error: %s\n", err);
            rc = -1;
        }
    }
    if (rc != 0) {
        if (in) drv_free_inputs(in);
        free(*params);
        *params = NULL;
        bpc_model_free(m);
    }
    return rc;
}

/* grad, hvp, check, train and eval need a loss: 1 if g has one, else 0 with the error printed. */
static int has_loss(const Args *a, const Graph *g, const char *what) {
    if (g->loss >= 0) return 1;
    fprintf(stderr, "%s: error: the program has no 'loss' statement, so there is nothing to %s\n", a->file, what);
    return 0;
}

/* Prints (and with -o writes) a params-shaped vector, one tensor per parameter. */
static int print_param_vector(const Args *a, const Graph *g, const Model *m, const char *prefix, const char *suffix, const void *vec) {
    char err[BPRT_ERRLEN];
    for (int p = 0; p < g->nparams; p++) {
        const Param *pa = &g->params[p];
        char name[300], what[400];
        snprintf(name, sizeof name, "%s%s%s", prefix, pa->name, suffix);
        snprintf(what, sizeof what, "values of %s to print (%lld doubles)", name, (long long)pa->numel);
        double *v = drv_alloc_reals((size_t)(pa->numel ? pa->numel : 1), sizeof(double), what, err);
        if (!v) {
            fprintf(stderr, "bpc: error: %s\n", err);
            return 1;
        }
        for (int64_t i = 0; i < pa->numel; i++) v[i] = drv_get(m, vec, pa->offset + i);
        drv_print_tensor(stdout, name, g, &pa->shape, v, pa->numel, a->f64);
        free(v);
    }
    if (a->out && drv_save_params(m, a->out, vec, err) != 0) {
        fprintf(stderr, "bpc: error: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_grad(const Args *a, Graph *g) {
    if (!has_loss(a, g, "differentiate")) return 1;
    Model m;
    void *params = NULL;
    Inputs in;
    memset(&in, 0, sizeof in);
    if (setup_model(a, g, &m, a->f64, &params, &in) != 0) return 1;
    char err[BPRT_ERRLEN];
    void *ws = drv_model_workspace(&m, in.dims, NULL);
    if (!ws) {
        free(params);
        drv_free_inputs(&in);
        bpc_model_free(&m);
        return 1;
    }
    void *grad = drv_alloc_reals((size_t)g->nparam_reals + 1, m.real_size, "gradients", err);
    if (!grad) {
        fprintf(stderr, "bpc: error: %s\n", err);
        free(ws);
        free(params);
        drv_free_inputs(&in);
        bpc_model_free(&m);
        return 1;
    }
    double loss = m.grad(params, grad, (const void *const *)in.data, in.dims, ws);
    char b[40];
    drv_format_real(b, sizeof b, loss, a->f64);
    printf("loss = %s\n", b);
    int rc = print_param_vector(a, g, &m, "dL/d", "", grad);
    free(grad);
    free(ws);
    free(params);
    drv_free_inputs(&in);
    bpc_model_free(&m);
    return rc;
}

/* bpc hvp: the loss and H v (H the loss's Hessian in all parameters, v from --vector). */
static int cmd_hvp(const Args *a, Graph *g) {
    if (!has_loss(a, g, "differentiate")) return 1;
    Model m;
    void *params = NULL;
    Inputs in;
    memset(&in, 0, sizeof in);
    if (setup_model(a, g, &m, a->f64, &params, &in) != 0) return 1;
    int rc = 1;
    char err[BPRT_ERRLEN];
    void *v = drv_alloc_reals((size_t)g->nparam_reals + 1, m.real_size, "vector and its product", err);
    void *hv = v ? drv_alloc_reals((size_t)g->nparam_reals + 1, m.real_size, "vector and its product", err) : NULL;
    void *ws = hv ? drv_model_workspace(&m, in.dims, NULL) : NULL;
    if (!hv) fprintf(stderr, "bpc: error: %s\n", err);
    else if (!ws) rc = 1; /* drv_model_workspace said why */
    else if (!m.hvp) fprintf(stderr, "bpc: error: JIT: NAME_hvp not found\n");
    else if (drv_load_vector(&m, a->vector, v, err) != 0) fprintf(stderr, "bpc: error: %s\n", err);
    else {
        double loss = m.hvp(params, v, hv, (const void *const *)in.data, in.dims, ws);
        char b[40];
        drv_format_real(b, sizeof b, loss, a->f64);
        printf("loss = %s\n", b);
        rc = print_param_vector(a, g, &m, "Hv.", "", hv);
    }
    free(v);
    free(hv);
    free(ws);
    free(params);
    drv_free_inputs(&in);
    bpc_model_free(&m);
    return rc;
}

static int cmd_check(const Args *a, Graph *g) {
    if (!has_loss(a, g, "check")) return 1;
    Model m;
    void *params = NULL;
    Inputs in;
    memset(&in, 0, sizeof in);
    if (setup_model(a, g, &m, 1, &params, &in) != 0) return 1;
    int ok = drv_check_gradients(stdout, &m, params, &in, a->seed, NULL) == 1;
    free(params);
    drv_free_inputs(&in);
    bpc_model_free(&m);
    return ok ? 0 : 1;
}

static int stdout_errno; /* why a write to stdout first failed, or 0 */

/* The write under stdout and stderr: all of buf, a write a signal cut short taken up again
 * (errno set, and fewer bytes said, on any other failure) */
static ssize_t write_fully(void *cookie, const char *buf, size_t n) {
    const int fd = (int)(intptr_t)cookie;
    size_t done = 0;
    while (done < n) {
        const ssize_t k = write(fd, buf + done, n - done);
        if (k > 0) done += (size_t)k;
        else if (k == 0 || errno != EINTR) {
            if (fd == 1 && !stdout_errno) stdout_errno = k == 0 ? EIO : errno;
            break;
        }
    }
    return (ssize_t)done;
}

/* stdout and stderr become streams whose writes a signal does not fail. bpc's SIGINT handlers
 * do not restart the call a Ctrl-C lands in, so that it cuts short a wait (the open of a FIFO
 * `:load` or `--data` names, the REPL's read of a script's next line); a write to a terminal
 * that was blocked (not read) was such a call, failed with EINTR: stdio dropped the text (an
 * 'interrupted at ...' line among them) and bpc ended with 'cannot write to standard output:
 * Interrupted system call' (the REPL with status 1). A blocked write now waits, and the Ctrl-C
 * takes effect where the command looks at it, as it did. Buffering as stdio's own: stdout by
 * line at a terminal, else by block; stderr not at all. */
static void std_streams_retry_writes(void) {
    cookie_io_functions_t io = {.write = write_fully};
    FILE *out = fopencookie((void *)(intptr_t)1, "w", io), *err = fopencookie((void *)(intptr_t)2, "w", io);
    if (out && setvbuf(out, NULL, isatty(1) ? _IOLBF : _IOFBF, BUFSIZ) == 0) stdout = out;
    else if (out) fclose(out);
    if (err && setvbuf(err, NULL, _IONBF, 0) == 0) stderr = err;
    else if (err) fclose(err);
}

/* rc, or 1 when what went to stdout did not reach it (`--emit=c > out.c` on a full disk, `>
 * /dev/full`): an error, as in gcc, since the artefact is incomplete */
static int stdout_checked(int rc) {
    int werr = ferror(stdout) ? errno : 0;
    if (fflush(stdout) != 0) werr = errno;
    if ((werr || ferror(stdout)) && stdout_errno) werr = stdout_errno; /* the first failure's (errno is a later call's) */
    if (werr || ferror(stdout)) {
        fprintf(stderr, "bpc: error: cannot write to standard output: %s\n", strerror(werr ? werr : EIO));
        if (!rc) rc = 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    std_streams_retry_writes();
    /* the REPL's output too: a session's printed values, to a full disk, were lost with status 0 */
    if (argc >= 2 && strcmp(argv[1], "repl") == 0) return stdout_checked(repl_main(argc - 1, argv + 1));
    if (argc == 1 && isatty(0)) return stdout_checked(repl_main(0, NULL));
    /* --help (or -h) anywhere, as in `bpc train --help`, and `bpc help` */
    int help = argc == 2 && strcmp(argv[1], "help") == 0;
    for (int i = 1; i < argc; i++) help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    if (help) {
        fputs(usage_text, stdout);
        fputs(dist_help(), stdout);
        return stdout_checked(0);
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("bpc %s\n", BPC_VERSION);
        if (strcmp(bprt_gemm_backend(), "bpc") == 0) printf("GEMM: bpc's own kernels (%s)\n", bprt_gemm_config());
        else printf("GEMM: OpenBLAS (built with -DBPC_OPENBLAS=ON): %s\n", bprt_gemm_config());
        return stdout_checked(0);
    }
    Args a;
    parse_args(argc, argv, &a);
    if (!a.file) usage_error("%s", "no input file");
    if (a.cmd && strcmp(a.cmd, "sample") == 0 && !a.params)
        usage_error("%s", "sample needs --params P.safetensors (the trained parameters, e.g. from bpc train --save)");
    if (!a.cmd && !a.emit && !a.out && !a.stats) usage_error("%s", "nothing to do: give -o OUT.c, --emit=..., or a command");
    if (a.cmd && a.stats) usage_error("--stats goes with -o or --emit, not with '%s'", a.cmd);
    if (a.cmd && a.emit) /* it was ignored: `bpc grad m.bp --emit=c` differentiated */
        usage_error("--emit prints an artefact of compiling and goes with no command, not with '%s'", a.cmd);
    if (a.cmd && strcmp(a.cmd, "hvp") == 0 && !a.vector) usage_error("%s", "hvp needs --vector V.safetensors (the direction v, keyed by parameter name)");
    warn_unused_options(&a);
    free((void *)a.given);
    a.given = NULL;
    if (a.threads) bprt_set_threads(a.threads);
    else if (a.cmd) (void)bprt_threads(); /* BPRT_NUM_THREADS read now: a warning about it comes first */
    if (a.cmd) (void)bprt_isa();          /* and BPRT_ISA */
    Arena *ar = arena_new();
    Diag d;
    diag_init(&d, stderr);
    int rc = 1;
    int hvp = a.cmd ? strcmp(a.cmd, "hvp") == 0 : !a.emit || strcmp(a.emit, "c") == 0 || strcmp(a.emit, "h") == 0 || strcmp(a.emit, "test") == 0 ? 2 : 0;
    Graph *g = compile_file(ar, &d, a.file, a.optimize, hvp);
    if (g && a.cmd && strcmp(a.cmd, "sample") != 0 && drv_check_run_inputs(&d, g, a.cmd, 0) != 0) g = NULL;
    if (g) {
        if (a.stats && cmd_stats(&a, g, ar, &d) != 0) rc = 1;
        else if (a.stats && !a.emit && !a.out) rc = 0;
        else if (!a.cmd && a.emit) rc = cmd_emit(&a, g);
        else if (!a.cmd) rc = cmd_write(&a, g);
        else if (strcmp(a.cmd, "grad") == 0) rc = cmd_grad(&a, g);
        else if (strcmp(a.cmd, "check") == 0) rc = cmd_check(&a, g);
        else if (strcmp(a.cmd, "hvp") == 0) rc = cmd_hvp(&a, g);
        else if (strcmp(a.cmd, "sample") == 0) {
            SampleOptions so = {a.params, a.prompt, a.nbytes, a.temperature, a.seed,
                                strcmp(a.jit, "cc") == 0 ? JIT_CC : JIT_TCC, a.f64};
            rc = sample_run(stdout, g, &so);
        } else if (strcmp(a.cmd, "train") == 0 || strcmp(a.cmd, "eval") == 0) {
            TrainOptions to;
            memset(&to, 0, sizeof to);
            to.data = a.data;
            to.inputs = a.inputs;
            to.params = a.params;
            to.save = a.save;
            to.opt = a.opt;
            to.jit = strcmp(a.jit, "cc") == 0 ? JIT_CC : JIT_TCC;
            to.epochs = a.epochs;
            to.steps = a.steps;
            to.batch = a.batch ? a.batch : TRAIN_BATCH;
            to.lr = a.lr;
            to.seed = a.seed;
            to.seed_given = a.seed_given;
            to.eval_only = strcmp(a.cmd, "eval") == 0;
            to.f64 = a.f64;
            to.checkpoint_every = a.checkpoint_every;
            to.on_nan_skip = a.on_nan_skip;
            to.sched = a.sched;
            /* under mpirun: one rank of a data-parallel job (dist.h) */
            if (!has_loss(&a, g, to.eval_only ? "evaluate" : "train")) rc = 1;
            else rc = dist_init(&argc, &argv) != 0 ? 1 : train_run(g, &to);
            dist_finalize(rc);
        }
    }
    diag_free(&d);
    arena_free(ar);
    return stdout_checked(rc);
}
