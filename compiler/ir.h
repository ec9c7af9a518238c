/* ir.h — the graph IR: forward and adjoint computations in one SSA graph.
 *
 * A Graph is an array of Nodes in topological order (inputs always have smaller ids).
 * Nodes are immutable once added; passes build a new Graph (ir_rebuild). Every node has a
 * Shape known at compile time (up to symbolic dims), a dtype, the source location it came
 * from, and whether it belongs to the adjoint (backward) computation.
 *
 * Nodes are made only through the builder functions below, which check shapes (reporting
 * located errors that name both shapes) and, when the Graph's flags say so, fold constants,
 * simplify algebraically and merge common subexpressions as they add. A builder returns
 * the node id, or -1 after reporting an error; any -1 input gives -1 silently, so callers
 * just pass ids through. */
#ifndef BP_IR_H
#define BP_IR_H

#include "arena.h"
#include "diag.h"
#include "shape.h"

typedef enum Op {
#define OP(e, name, arity, kind, cfun) OP_##e,
#include "ops.def"
#undef OP
    OP_COUNT
} Op;

typedef enum OpKind {
    OK_LEAF,   /* no inputs */
    OK_UNARY,  /* elementwise, one input */
    OK_BINARY, /* elementwise, two inputs, broadcast */
    OK_REDUCE, /* reduce along an axis or all */
    OK_AXIS,   /* shape-preserving along an axis */
    OK_MATMUL, /* batched matrix product */
    OK_SHAPE,  /* data movement */
    OK_LOSS,   /* fused loss kernels */
    OK_LAYER,  /* network layers (conv windows, pools, norms, embeddings, masks) */
} OpKind;

typedef enum DType {
    DT_REAL, /* float or double, chosen at emission */
    DT_INT,  /* int32 labels */
} DType;
/* x (a whole number) fits a DT_INT value */
#define IR_FITS_INT32(x) ((x) >= -2147483648.0 && (x) <= 2147483647.0)

#define AXIS_ALL (-100) /* reduce over every axis */
#define BP_MAXIN 3

/* The calls of defs a node was made in (sema inlines them): where each call is and its
 * note ("in this call of 'mlp'"), innermost first; NULL outside any def. Errors found
 * after sema (the run-time size and memory checks) follow theirs with these notes, as
 * sema's own do (diag_push_context). Arena-allocated. */
typedef struct CallSite {
    Loc loc;
    const char *note;
    const struct CallSite *up;
} CallSite;

typedef struct Node {
    Op op;
    int in[BP_MAXIN];
    Shape shape;
    DType dtype;
    double value;  /* CONST: the value; LEAKY_RELU, LEAKY_STEP: alpha */
    int ival;      /* POWI: exponent; INPUT/PARAM/VECTOR: index into Graph's inputs/params */
    int axis;      /* reductions, softmax, concat, slice (normalised, or AXIS_ALL) */
    int keepdims;  /* reductions */
    int ta, tb;    /* MATMUL: transpose flags of a and b */
    int bsum;      /* MATMUL: bit f set = axis f of the full batch shape (both operands' batch
                      dims broadcast) is summed: dropped if leading, else kept as 1 (pass_msum.c) */
    Dim start;     /* SLICE: first index along axis */
    Dim dim;       /* DIMVAL: the value */
    int win[4];    /* CONV2D and its gradients, pools: kh, kw, stride, padding */
    Loc loc;
    int adjoint;   /* 1 if made by reverse mode */
    int remat;     /* REMAT_*: `checkpoint` marks (forward) and their backward recomputations */
    const char *name; /* user name bound to this value, if any (dumps) */
    const CallSite *calls; /* the def calls it was made in (sema), innermost first */
} Node;

/* Activation checkpointing (pass_remat.c). CSE never merges nodes whose marks differ. */
enum {
    REMAT_NONE = 0,    /* an ordinary node */
    REMAT_MARKED = 1,  /* forward node of a `checkpoint` binding: recomputed for the backward pass */
    REMAT_COPY = 2,    /* that recomputation: a copy placed in the backward pass */
};

typedef enum InitKind { INIT_ZEROS, INIT_CONST, INIT_HE, INIT_XAVIER, INIT_NORMAL, INIT_UNIFORM } InitKind;

typedef struct Param {
    const char *name;
    Shape shape;        /* constant shape */
    int64_t offset;     /* into the parameter vector */
    int64_t numel;
    InitKind init;
    double a, b;        /* INIT_CONST: a; INIT_NORMAL: std a; INIT_UNIFORM: [a, b) */
    int node;
    Loc loc;
} Param;

/* The most inputs a program may have for the commands that run it (bpc grad, check, hvp,
 * train, eval; the REPL's :grad, :check, :step, :train, ...): their drivers hold inputs in
 * arrays of this many. The generated C takes more (245 with one size: sema's MAX_API_ARGS);
 * past this the CLI says so at the first input too many (drv_check_run_inputs). */
#define BP_MAX_RUN_INPUTS 64

typedef struct Input {
    const char *name;
    Shape shape;
    DType dtype;
    int has_default;
    double def;         /* default value (scalar inputs) */
    int node;
    Loc loc;
} Input;

typedef enum OptKind { OPT_NONE, OPT_SGD, OPT_ADAM, OPT_ADAMW } OptKind;
typedef struct OptConfig {
    OptKind kind;
    double lr, momentum, weight_decay, beta1, beta2, eps;
    double clip; /* clip_grad_norm; 0 = none */
    int lr_given; /* lr written in the program (else the optimizer's default): --opt keeps it */
    Loc loc;
} OptConfig;

/* The vectors of NPARAMS reals an optimizer keeps besides its step count: Adam's two
 * moments, SGD's momentum buffer when momentum > 0, else none. NAME_opt_state_size and
 * the checkpoints' optimizer state follow from it (driver.h, drv_opt_layout). */
int ir_opt_moments(const OptConfig *o);
/* The optimizer o trains with (bpc train, the REPL): o, or without an `optimizer`
 * statement (OPT_NONE) plain SGD at lr 0.01. */
OptConfig ir_opt_trained(const OptConfig *o);

typedef struct Graph {
    Arena *arena;
    Diag *diag;
    Node *nodes;
    int n, cap;
    SymTab syms;
    Param *params;
    int nparams, params_cap;
    int64_t nparam_reals;
    Input *inputs;
    int ninputs, inputs_cap;
    int loss;           /* node id or -1 */
    int *outputs;       /* node ids */
    const char **output_names;
    int noutputs;
    int *grads;         /* per param: adjoint node id (-1: none yet) */
    int *hvps;          /* per param: node of (Hessian of the loss) v (-1: zero); NULL unless ad_hvp ran */
    OptConfig opt;
    const char *model;  /* C prefix */
    /* builder behaviour */
    int fold;           /* constant folding + algebraic simplification on add */
    int cse;            /* hash-consing on add */
    int *hash;          /* CSE table (open addressing over node ids, -1 empty) */
    int hash_cap;
    int adjoint_mode;   /* nodes added now are marked adjoint */
    int remat_mode;     /* REMAT_*: computed (non-leaf) nodes added now carry this mark */
    const CallSite *call_mode; /* computed nodes added now without calls of their own get these */
    int pair_gelu;      /* optimised: each function's graph gets pass_gelu_pairs (emit_c.c) */
    /* emit_c's memo (emit_c.c): which gradient GEMMs its V_STEP variant fuses with the update
       (mark_fused), with the nodes and roots it was worked out on, so that it is worked out
       anew once they change; NULL until first asked */
    struct StepMemo *step_memo;
} Graph;

typedef struct OpInfo {
    const char *name;
    int arity;
    OpKind kind;
    const char *cfun;
} OpInfo;
extern const OpInfo op_info[OP_COUNT];

Graph *ir_new(Arena *a, Diag *d);
Node *ir_node(Graph *g, int id);

/* ---- builders ---- */
int ir_input(Graph *g, int index);
int ir_param(Graph *g, int index);
/* The slice of the Hessian-vector product's direction v that goes with parameter index. */
int ir_vector(Graph *g, int index);
int ir_const(Graph *g, double v, Loc loc);
int ir_dimval(Graph *g, Dim d, Loc loc);
int ir_unary(Graph *g, Op op, int a, Loc loc);
int ir_unary_attr(Graph *g, Op op, int a, double value, int ival, Loc loc);
int ir_binary(Graph *g, Op op, int a, int b, Loc loc);
/* a^e for a constant e as PyTorch's pow with a scalar exponent computes it: sqrt(a) for
 * e = 0.5, 1/sqrt(a) for e = -0.5 (its rsqrt: NaN at -inf, -inf at -0, where pow gives +inf
 * or +0, and +inf), pow(a, e) otherwise. */
int ir_pow_scalar(Graph *g, int a, double e, Loc loc);
/* 1 if nodes a and b broadcast; else reports "cannot broadcast shapes A and B in 'IN'" and
 * returns 0. IN names what the user wrote: an operator ("+"), or the call whose expansion
 * combines them ("mse"), checked before the ops it expands to, which the user never wrote. */
int ir_check_broadcast(Graph *g, int a, int b, const char *in, Loc loc);
int ir_reduce(Graph *g, Op op, int a, int axis, int keepdims, Loc loc);
int ir_axis_op(Graph *g, Op op, int a, int axis, Loc loc);
int ir_matmul(Graph *g, int a, int b, int ta, int tb, Loc loc);
int ir_transpose(Graph *g, int a, Loc loc);
int ir_reshape(Graph *g, int a, const Shape *s, Loc loc);
int ir_broadcast(Graph *g, int a, const Shape *s, Loc loc);
int ir_concat(Graph *g, int a, int b, int axis, Loc loc);
int ir_slice(Graph *g, int a, int axis, Dim start, Dim len, Loc loc);
int ir_loss_op(Graph *g, Op op, int a, int b, int c, Loc loc);
/* ---- layers (NCHW; shape rules in ir.c, kernels in runtime/layers.c) ---- */
/* CONV2D(x[B,C,H,W], w[O,C,KH,KW]) -> y[B,O,OH,OW], OH = (H + 2 pad - KH) / stride + 1,
 * zero padding (runtime/conv.c). Its gradients, bilinear like it:
 * CONV2D_GRAD_X(gy, w) -> gx of x's shape s; CONV2D_GRAD_W(x, gy) -> gw of w's shape s;
 * win = {kh, kw, stride, pad}. Each needs ir_conv2d_scratch reals of workspace. */
#define BP_CONV_SLOTS 8 /* = BPRT_CONV_SLOTS */
int ir_conv2d(Graph *g, int x, int w, int stride, int pad, Loc loc);
int ir_conv2d_grad(Graph *g, Op op, int a, int b, const Shape *s, const int win[4], Loc loc);
int64_t ir_conv2d_scratch(const Graph *g, const Node *n);
/* MAXPOOL2D / AVGPOOL2D: x[B,C,H,W] -> [B,C,(H-k)/stride+1,(W-k)/stride+1], no padding. */
int ir_pool(Graph *g, Op op, int x, int k, int stride, Loc loc);
/* MAXPOOL2D_GRAD(x, gy) / AVGPOOL2D_GRAD(gy) (x = -1): the gradient, of x's shape xs. */
int ir_pool_grad(Graph *g, Op op, int x, int gy, const Shape *xs, int k, int stride, Loc loc);
int ir_layernorm(Graph *g, int x, double eps, Loc loc);
int ir_layernorm_grad(Graph *g, int x, int gy, double eps, Loc loc);
/* softmax's vector-Jacobian product along the last axis: y (gy - sum(gy y)) per row, y a
 * softmax's result, gy of y's shape */
int ir_softmax_grad(Graph *g, int y, int gy, Loc loc);
/* table[V, D], ids (int)[...] -> [..., D]; the gradient is [V, D] (ts: the table's shape). */
int ir_embedding(Graph *g, int table, int ids, Loc loc);
int ir_embedding_grad(Graph *g, int gy, int ids, const Shape *ts, Loc loc);
int ir_causal_mask(Graph *g, int x, double fill, Loc loc);
int ir_dropout(Graph *g, int x, double p, int stream, Loc loc);
/* Adds a fully specified node (shape already set): used by passes that copy nodes. */
int ir_add_raw(Graph *g, const Node *proto);
/* Re-adds every node reachable from the graph's roots into a new graph with the given
 * builder flags: folding/simplification and CSE happen here; unreachable nodes vanish. */
Graph *ir_rebuild(Graph *old, int fold, int cse);
/* The same with the nodes added in order[0..old->n) (a permutation of old's ids in which
 * every node comes after its inputs; NULL: old's order). */
Graph *ir_rebuild_ordered(Graph *old, int fold, int cse, const int *order);
/* Gives g, a graph just rebuilt from another, its own copy of the parameter and input tables
 * (they were the other's), each entry's node pointing at g's: building a variant must not
 * move the nodes of the graph it was built from. */
void ir_own_leaves(Graph *g);

/* Dumps the graph in the stable text form used by --emit=ir and the tests. */
void ir_dump(FILE *out, const Graph *g);
/* An error at node n's location, followed by a note for each def call it was made in
 * (n->calls), as sema's errors inside a def are: for the checks that run after sema. */
void ir_node_error(Diag *d, const Node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks invariants (topological order, arity, shapes of elementwise ops); returns 0. */
int ir_verify(const Graph *g);

/* Number of uses of each node among live nodes and roots (caller frees with free()). */
int *ir_use_counts(const Graph *g);
/* Is id the loss, an output, a gradient or a Hessian-vector product (a value the caller gets)? */
int ir_is_root(const Graph *g, int id);
/* Who reads each node, worked out in one walk for the passes that ask it of many nodes (a
 * scan of the later nodes per question made them quadratic: 800 attention blocks took 106 s
 * to emit). Node v is read by user[first[v]] .. user[first[v + 1] - 1], in node order, once
 * per operand (slot[...] the operand's index in the reader, OP(k)); root[v] is ir_is_root's
 * answer. Made in the graph's arena; valid while the graph is not changed. */
typedef struct Readers {
    int *first, *user, *slot;
    char *root;
} Readers;
Readers *ir_readers(const Graph *g);
/* Is node w gelu_grad(z) right after gelu(z) (pass_pair.c), a pair the emitter makes in one
 * pass? fuse.c computes it in no user's loop. */
int ir_gelu_paired(const Graph *g, int w);
/* Is n a causal mask filling with -inf, whose softmax is then exactly 0 right of the diagonal? */
int ir_masks_future(const Node *n);

#endif
