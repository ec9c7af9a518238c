/* driver.h — what the CLI and the REPL share: binding safetensors files to a model's
 * parameters and inputs (with checks that name the file and the mismatch), symbolic sizes
 * from the data, printing tensors, gradient checking.
 * Functions return 0, or -1 with a message in err (BPRT_ERRLEN bytes). */
#ifndef BP_DRIVER_H
#define BP_DRIVER_H

#include <stdio.h>

#include "bprt.h"
#include "compile.h"

typedef struct Inputs {
    void *data[BP_MAX_RUN_INPUTS];   /* per program input: real or int32 array (malloc'd) */
    size_t count[BP_MAX_RUN_INPUTS]; /* elements */
    int dims[BP_MAXSYMS];
    int ndims_bound;
} Inputs;

/* Parameters: init from seed, or load from a safetensors file (names and shapes must match
 * the program; every mismatch is listed). params holds NPARAMS reals of the model's type. */
int drv_init_params(const Model *m, void *params, uint64_t seed);
/* A 64-byte aligned workspace of `bytes` (free with free()), or NULL with err naming the
 * bytes wanted and the limit (drv_model_workspace adds the advice): more than the machine's
 * memory or BPC_MEMORY_LIMIT (bpc_memory_limit) is refused before anything is allocated,
 * so a too-large batch fails at once instead of swapping. */
void *drv_workspace(size_t bytes, char *err);
/* Can the generated code run at these sizes (dims of the symbols)? No size, and no M or K of
 * a matrix product with batch axes folded in, past 2147483647 (GEMM's ints; they were cast
 * and wrapped): 0; else -1 with the error reported to g->diag at the value, its line quoted
 * with a caret (FILE:LINE:COL: error: at these sizes (B = ...) this value has a size of ...),
 * its number and the sizes said. */
int drv_check_sizes(const Graph *g, const int *dims);
/* drv_workspace(m->ws_size(dims)) after drv_check_sizes, or NULL with the error reported:
 * drv_check_sizes's, or drv_workspace's after "CONTEXT: " if context is not NULL ("batch
 * 60000"), located as the compile-time check is, at the largest value the program computes
 * at these sizes (its line and a caret; a tool error if no value has a location). */
void *drv_model_workspace(const Model *m, const int *dims, const char *context);
/* n zeroed values of `size` bytes, 64-byte aligned (free with free()), or NULL with err
 * naming what they are for (`what`: "parameters", "gradients", ...) and the bytes: more
 * than the machine's memory or BPC_MEMORY_LIMIT is refused before anything is allocated,
 * and an allocation that fails (ulimit -v) is said, not an abort. */
void *drv_alloc_reals(size_t n, size_t size, const char *what, char *err);
int drv_load_params(const Model *m, const char *path, void *params, char *err);
/* The same; *narrowed = 1 when a float model read F64 tensors (rounded to float). */
int drv_load_params_narrowing(const Model *m, const char *path, void *params, int *narrowed, char *err);
/* A direction for NAME_hvp: like the parameters, one tensor per parameter name and shape. */
int drv_load_vector(const Model *m, const char *path, void *v, char *err);
/* Inputs for the loss (grad, check, hvp, train on fixed inputs) from a safetensors file (or
 * NULL: defaults). Binds symbolic sizes. An input the loss does not use may be left out: it
 * is zeros, and a size that only such inputs have is 1. */
int drv_load_inputs(const Model *m, const char *path, Inputs *in, char *err);
/* The same from a file already read (st, named fname in messages; NULL: defaults): bpc grad
 * --inputs, and the REPL's :inputs, which checks a file as bpc grad does (an input only an
 * output reads may be left out: a command that reads it says it has no value). */
int drv_inputs_from(const Model *m, const BprtSafetensors *st, const char *fname, Inputs *in, char *err);
void drv_free_inputs(Inputs *in);
/* The elements of shape s at these sizes (dims of the symbols; -1 counts as 1; SIZE_MAX
 * if they overflow), and in buf the shape as messages give it: "64 x 784 floats" (elem
 * names the elements in the plural; a scalar is "1 float"). */
size_t drv_numel_at(const Shape *s, const int *dims, const char *elem, char *buf, size_t size);
/* A buffer for every output of NAME_forward at these sizes (dims of the symbols; -1 counts
 * as 1), zero-filled: forward writes each output through its pointer, read or not.
 * drv_free_outputs frees them. NULL, with err naming the output and its size, when one
 * cannot be allocated (drv_alloc_reals). */
void **drv_alloc_outputs(const Model *m, const int *dims, char *err);
void drv_free_outputs(const Model *m, void **outs);
/* The classes an ': int' input's values must lie in: if input `input` is the labels of a
 * cross_entropy or nll, the last dimension of its scores, or the ids of an embedding, the
 * rows of its table (the fewest, if several; *what says which, for messages); otherwise 0.
 * The kernels give a loss of NaN for a value outside [0, classes): drv_load_inputs, the
 * IDX data and text data refuse one instead. */
int64_t drv_label_classes(const Graph *g, int input, const char **what);
/* Whether v can be element k of ': int' input ip (its values read from fname): a 32-bit
 * integer inside its classes (drv_label_classes' count and what; 0: no bound). 0, or -1 with
 * err saying why in bpc grad's words. drv_inputs_from and the REPL's inputs (a file read
 * before an edit, or a default) check with it. */
int drv_check_int_value(const Input *ip, int64_t classes, const char *what, const char *fname, int64_t k, double v,
                        char *err);
/* Whether a tensor of dtype dt (from fname) can be input ip's values: not a float tensor for
 * an ': int' input. 0, or -1 with err. */
int drv_check_input_dtype(const Input *ip, BprtDtype dt, const char *fname, char *err);
/* How many values (from 0) random ': int' inputs take (bpc check, --emit=test's self-check):
 * 2, or 1 where input `input` indexes one class (an embedding of one row): 1 is out of range
 * there, and the loss NaN. */
int drv_random_label_span(const Graph *g, int input);
/* The text of the rule above, for the lines that say what the inputs are */
#define DRV_RANDOM_LABELS "integer inputs in {0, 1}, 0 where they index one class"
/* Refuses, at the first input past BP_MAX_RUN_INPUTS, a program with more inputs than the
 * commands that run it hold: 0, or -1 with the error reported to d, located at that input's
 * name (a program's line, or the REPL's input that declared it). repl 0: bpc CMD (grad,
 * check, hvp, train, eval); repl 1: the REPL's command CMD (":grad", ...), or a bare
 * expression (CMD NULL). The functions that fill Inputs (drv_inputs_from, drv_random_inputs,
 * the REPL's and train's) rely on it: both front ends call it before them. */
int drv_check_run_inputs(Diag *d, const Graph *g, const char *cmd, int repl);
/* Random inputs for checking: symbolic sizes = size, reals N(0, 1) (or their defaults),
 * integer inputs in {0, 1}. -1 with err (naming the input) when one cannot be held; the
 * caller frees in either way. */
int drv_random_inputs(const Model *m, Inputs *in, int size, uint64_t seed, char *err);
/* Writes params-shaped reals (gradients, parameters) keyed by parameter name. */
int drv_save_params(const Model *m, const char *path, const void *vec, char *err);

/* An optimizer state's layout (the bytes NAME_opt_state_size counts): the step count, a
 * double, in a header of 64 bytes, then `moments` vectors (ir_opt_moments) of n reals of
 * real_size bytes, each padded to a multiple of 64 bytes. */
typedef struct OptLayout {
    int64_t n;        /* NPARAMS */
    int moments;
    size_t real_size;
} OptLayout;

/* m's optimizer's (asserted to agree with m->opt_size()). */
OptLayout drv_opt_layout(const Model *m);
size_t drv_opt_bytes(OptLayout l);
/* The step count in an optimizer state (its first 8 bytes; need not be aligned). */
double drv_opt_steps(const void *opt);
/* The state as 1 + moments * n doubles whatever the real type: the step count, then each
 * moment's n values. The REPL keeps it so between runs in float and in double; float ->
 * double -> float gives back the same bytes. from_f64 writes every byte (padding zero). */
void drv_opt_to_f64(OptLayout l, const void *opt, double *out);
void drv_opt_from_f64(OptLayout l, const double *in, void *opt);

/* A training checkpoint: the parameters (keyed by name, so --params reads it) plus
 * "__bpc.opt_order" (U8: the parameters' names in the state's order, each ended by '\n'),
 * "__bpc.opt_state" (the optimizer state's bytes) and "__bpc.progress" (epoch, step within
 * the epoch, steps in all, seed). Written atomically. */
int drv_save_checkpoint(const Model *m, const char *path, const void *params, const void *opt_state, size_t opt_bytes,
                        const int64_t progress[4], char *err);
/* Reads the extras of a checkpoint into m's optimizer state (m->opt_size() bytes) and
 * progress: 1 if present (a state written in the other precision is converted, and one
 * written by a program that declared the parameters in another order is put in m's), 0 if the
 * file holds parameters only, 2 if the progress is read but the optimizer state is of
 * another size than m's optimizer keeps in float or in double (another optimizer's:
 * opt_state is left as it was and err says so), 3 if the progress is read but the state's
 * precision cannot be told (parameters of F16 or BF16, or of both F32 and F64, and a state
 * whose size fits both precisions or neither: left as it was, err names the tensor and its
 * dtype), -1 on error: one extra without the other,
 * a state not of U8, or an invalid progress
 * ("FILE: invalid checkpoint progress: ..."): not I64 [4], an epoch outside [1, INT_MAX), a
 * negative step, or fewer steps done than the step within the epoch. Whether the step lies
 * within an epoch depends on the data and the batch: the caller checks that. */
int drv_load_checkpoint_extras(const Model *m, const char *path, void *opt_state, int64_t progress[4], char *err);

/* Finite-difference check of m's gradient at params (m is double precision: f64 = 1), one
 * line per parameter and a verdict on out; inputs as from drv_load_inputs. Returns 1 if
 * the worst relative error is <= 1e-6. params is restored. If stop is set and becomes
 * non-zero (the REPL's Ctrl-C: a large model's check takes minutes), the check stops after
 * the element it is at, says so, and returns -1. */
int drv_check_gradients(FILE *out, const Model *m, void *params, const Inputs *in, uint64_t seed, volatile int *stop);

/* Prints `name [shape] = values` NumPy-style (large tensors summarised). */
void drv_print_tensor(FILE *out, const char *name, const Graph *g, const Shape *s, const double *v, int64_t n, int f64);
/* Shortest decimal that reads back as the same float (f64 = 0) or double; a double that
 * float cannot hold (beyond its range, or nonzero below its least subnormal) as a double. */
void drv_format_real(char *buf, size_t size, double v, int f64);
/* v as printf is to see it: a NaN without its sign bit, so that every NaN bpc prints reads
 * `nan`, as drv_format_real writes it (glibc prints a NaN with the bit set, as 0/0 and
 * sqrt(-1) give on x86, as -nan). Every %g, %f and %e of a loss or other computed value. */
double drv_printable(double v);

/* Whether paths a and b both name one existing file (the same device and inode: a link, a
 * hard link or another spelling of the path included). An output is checked against the
 * files a run reads with it (bpc's check_outputs, the REPL's :save). */
int drv_same_file(const char *a, const char *b);

/* Whether a file of tensors (bpc grad's and hvp's -o, train's --save and checkpoints, the
 * REPL's :save) may be written to path without losing a file the user has: not to a name
 * ending in .bp, which is a program's, and over an existing regular file only when it is
 * empty or begins as a safetensors file does (bprt_st_begins: an earlier checkpoint, file of
 * parameters or gradient, one cut short included; one that cannot be read is not judged).
 * Whether it is a file the run reads is the caller's check (drv_same_file). 0, or -1 with
 * err (BPRT_ERRLEN bytes) starting with path and saying what to do ("notes.txt: the file
 * exists and is not a safetensors file; ..."). */
int drv_check_tensor_output(const char *path, char *err);

/* The numbers of the command line's options and the REPL's commands, read alike and, as a
 * program's, in decimal. drv_parse_count: digits alone ("64"; not " 64", "+64", "0x40",
 * "64.0") for a value from lo to 2000000000. drv_parse_real: a decimal number without a
 * sign ("0.5", ".5", "5.", "1e-3"; not "0x10", "inf", "nan", " 1", "1 ") that a double
 * holds: a nonzero one below the smallest normal double (1e-400, which read as 0, and
 * 1e-310) or above the largest (1e400) is refused with *why saying so, a predicate of the
 * number ("is above the largest double, 1.8e308"). Both return 0, or -1 (*why NULL: it is
 * not such a number at all). */
int drv_parse_count(const char *s, int lo, int *out);
int drv_parse_real(const char *s, double *out, const char **why);
/* Whether a run in float (f64 0; in double every value drv_parse_real takes is held) holds
 * v >= 0 as it is: a nonzero v below the smallest normal float (1e-50 became 0, 1e-40 a
 * subnormal of fewer digits) or above the largest (1e39 became inf) is not. 0, or -1 with
 * *why saying so as drv_parse_real's why does ("is below the smallest normal float, 1.2e-38,
 * and the run is in float without --f64"). --lr on the command line and in the REPL, and the
 * program's optimizer arguments (train_run), each of which the run rounds to float. */
int drv_real_fits(double v, int f64, const char **why);
/* "bad value for --lr: '-1' (it takes a number >= 0)" into buf: the option, the value given
 * (its first 100 bytes), why it is wrong (drv_parse_real's why, said of "it"; or NULL) and what is wanted,
 * as the command line and the REPL both say it. */
void drv_bad_value(char *buf, size_t size, const char *option, const char *value, const char *why, const char *wanted);

/* Value of element i of a real vector of the model's type. */
double drv_get(const Model *m, const void *vec, int64_t i);
void drv_set(const Model *m, void *vec, int64_t i, double v);

#endif
