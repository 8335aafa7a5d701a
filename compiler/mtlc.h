/* mtlc.h: the one internal header of the compiler. One banner section per .c file. */
#ifndef MTLC_H
#define MTLC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MAX_RANK 8              /* per-sample rank limit of every tensor */
#define MAX_ELEMS 2147483647LL  /* element limit of one tensor (per sample) */

/* Sizes and FLOP counts are computed saturated: INT64_MAX stands for "too many" and is
 * refused where a limit is checked, never wrapped. Both take non-negative operands. */
static inline int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}
static inline int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}
#define MAX_ERRORS 20           /* a run stops reporting after this many errors */

typedef struct Loc {
  int first_line;   /* 1-based */
  int first_column; /* 1-based, in bytes */
  int last_line;
  int last_column;  /* one past the last byte of the range */
} Loc;

/* ---------------------------------------------------------------- arena.c */

typedef struct Arena Arena;
Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size); /* zeroed; aborts only on out-of-memory */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable array in the arena: vec_push(a, &items, &n, &cap, sizeof *items). */
void vec_grow(Arena *a, void **items, int n, int *cap, size_t elem);
#define VEC_PUSH(arena, items, n, cap, value)                                  \
  do {                                                                         \
    if ((n) == (cap))                                                          \
      vec_grow((arena), (void **)&(items), (n), &(cap), sizeof *(items));      \
    (items)[(n)++] = (value);                                                  \
  } while (0)

/* ----------------------------------------------------------------- diag.c */

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

typedef struct Diag {
  const char *filename;   /* as given on the command line ("<stdin>" for -) */
  const char *src;        /* the whole source, NUL-terminated */
  size_t src_len;
  FILE *out;              /* NULL: count only (the fuzzer) */
  bool color;
  bool werror;            /* warnings count as errors */
  int errors;             /* errors reported so far */
  int warnings;
  bool suppressed;        /* the error cap was hit: nothing more is printed */
  int cached_line;        /* diag.c: the line last printed, and where it starts */
  size_t cached_offset;
} Diag;

void diag_at(Diag *d, DiagLevel level, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define error_at(d, loc, ...) diag_at((d), DIAG_ERROR, (loc), __VA_ARGS__)
#define warn_at(d, loc, ...) diag_at((d), DIAG_WARNING, (loc), __VA_ARGS__)
#define note_at(d, loc, ...) diag_at((d), DIAG_NOTE, (loc), __VA_ARGS__)
bool diag_full(const Diag *d); /* the error cap is reached */
/* The closest of `n` candidates to `name` by edit distance, or NULL. */
const char *closest_name(const char *name, const char *const *candidates, int n);

/* ------------------------------------------------------------------ ast.c */

typedef enum {
  VAL_INT,   /* 42, -3 */
  VAL_REAL,  /* 0.5, 1e-3 */
  VAL_IDENT, /* same, true, trunk */
  VAL_LIST,  /* [3, 5] */
} ValueKind;

typedef struct Value Value;
struct Value {
  ValueKind kind;
  Loc loc;
  long long i;      /* VAL_INT */
  double num;       /* VAL_INT and VAL_REAL */
  const char *name; /* VAL_IDENT */
  Value *items;     /* VAL_LIST: linked through next */
  Value *next;      /* next item of a list */
};

typedef struct Arg Arg;
struct Arg {
  const char *name; /* NULL for a positional argument */
  Loc name_loc;
  Value *value;
  Loc loc;          /* the whole argument */
  Arg *next;
};

/* `name`, `name(args)`: a layer, a merge, a loss, a strategy, an optimizer. */
typedef struct Call {
  const char *name;
  Loc loc;          /* of the name */
  Arg *args;
  int nargs;
  Loc args_loc;     /* from the name to the closing parenthesis */
  bool bare;        /* written without parentheses: `relu`, or a node name */
} Call;

typedef struct Layer Layer;
struct Layer {
  Call call;
  Layer *next;
};

typedef struct Chain {
  Call *src_call;   /* a node name (bare) or a merge: concat(a, b) */
  Layer *layers;
} Chain;

typedef enum { TYPE_F32, TYPE_INDEX, TYPE_CLASS, TYPE_BINARY } TypeKind;

typedef struct Shape {
  int rank;
  int dim[MAX_RANK];
} Shape;

typedef struct Type {
  TypeKind kind;
  Loc loc;           /* of the keyword */
  Value *n;          /* classes of class(N), vocabulary of index(N) */
  Value *dims;       /* the shape's integers; NULL when there is none */
  Loc shape_loc;
  Value *ignore;     /* class(N)(ignore = K) */
} Type;

typedef enum {
  DECL_INPUT,     /* input x : f32[64]; */
  DECL_SHARED,    /* shared trunk = x -> dense(8); */
  DECL_TASK,      /* task t { ... } */
  DECL_TARGET,    /* target y : class(10);   (in a task) */
  DECL_NODE,      /* out = trunk -> dense(10);   (in a task) */
  DECL_LOSS,      /* loss = cross_entropy(out, y);   (in a task) */
  DECL_METRICS,   /* metrics = accuracy, miou;   (in a task) */
  DECL_OBJECTIVE, /* objective = 1.0 * a + b;  or  objective = pcgrad(a, b); */
  DECL_OPTIMIZER,
  DECL_SCHEDULE,
  DECL_BATCH,
  DECL_SEED,
  DECL_CLIP_NORM,
} DeclKind;

typedef struct Term Term; /* one `weight * task` of a weighted-sum objective */
struct Term {
  bool has_weight;
  double weight;
  Loc weight_loc;
  const char *task;
  Loc loc;
  Term *next;
};

typedef struct Metric Metric;
struct Metric {
  const char *name;
  Loc loc;
  Metric *next;
};

typedef struct Decl Decl;
struct Decl {
  DeclKind kind;
  Loc loc;            /* of the keyword */
  const char *name;   /* input, shared, task, target, node */
  Loc name_loc;
  Type type;          /* input, target */
  Chain chain;        /* shared, node */
  Call *call;         /* loss, optimizer, schedule, strategy objective */
  Term *terms;        /* weighted-sum objective */
  Metric *metrics;
  Decl *body;         /* the declarations of a task */
  Value *number;      /* batch, seed, clip_norm */
  Decl *next;
};

typedef struct Model {
  const char *name;
  Loc loc;
  Decl *decls;
} Model;

Value *new_value(Arena *a, ValueKind kind, Loc loc);
Decl *new_decl(Arena *a, DeclKind kind, Loc loc);
const char *value_str(Arena *a, const Value *v); /* as written in the source */

/* Parses `d->src`; returns NULL when nothing usable was read. Errors go to `d`. */
Model *parse_model(Arena *a, Diag *d);

/* --------------------------------------------------- grammar/mtl.l, grammar/mtl.y */

/* What the scanner and the parser share: the flex extra data and Bison's parse-param. */
typedef struct ParseCtx {
  Arena *arena;
  Diag *diag;
  Model *model;         /* the result */
  int line, col;        /* where the scanner stands */
  Loc comment;          /* start of the open block comment */
  Loc cur_loc, prev_loc; /* the last two tokens, for syntax errors */
  char cur_text[40], prev_text[40];
  int cur_tok, prev_tok;  /* their token codes */
  bool quiet_eof;         /* the scanner has said why the input ends */
} ParseCtx;

/* The flex scanner's name: `yylex` is the parser's wrapper around it (mtl.y). */
#define YY_DECL int mtl_scan(YYSTYPE *yylval_param, YYLTYPE *yylloc_param, yyscan_t yyscanner)

/* ------------------------------------------------------------------ ops.c */

/* How an argument of a call is written and checked. */
typedef enum {
  ARG_INT,    /* 42 */
  ARG_REAL,   /* 0.5 or 42 */
  ARG_BOOL,   /* true | false */
  ARG_PAIR,   /* 3 or [3, 5] */
  ARG_PAD,    /* 1, [1, 2] or same */
  ARG_CHOICE, /* one identifier of `choices` */
  ARG_INTS,   /* every positional integer: reshape(4, -1) */
  ARG_NODE,   /* the name of a node */
  ARG_TARGET, /* the name of a target of the task */
  ARG_NAMES,  /* every positional argument, each a name: merge inputs, strategy tasks */
} ArgType;

typedef enum {
  R_ANY,     /* no range */
  R_POS,     /* > 0 */
  R_NONNEG,  /* >= 0 */
  R_ONE_UP,  /* >= 1 */
  R_TWO_UP,  /* >= 2 */
  R_PROB,    /* [0, 1) */
  R_UNIT,    /* [0, 1] */
} Range;

typedef struct ArgSpec {
  const char *name;
  ArgType type;
  bool required;
  double def;                 /* default (ARG_CHOICE: index, ARG_PAD: -1 = same) */
  Range range;
  const char *const *choices; /* ARG_CHOICE */
} ArgSpec;

#define MAX_ARGS 12

/* An argument after binding: the given value or the default. */
typedef struct Bound {
  bool given;
  Loc loc;            /* of the value, or of the call when defaulted */
  const Value *value; /* NULL when defaulted */
  double num;         /* ARG_INT, ARG_REAL, ARG_BOOL (0/1), ARG_CHOICE (index) */
  int pair[2];        /* ARG_PAIR, ARG_PAD */
  bool same;          /* ARG_PAD: `same` */
  int nints;          /* ARG_INTS */
  long long ints[MAX_RANK];
} Bound;

typedef enum {
  KIND_LAYER,
  KIND_MERGE,
  KIND_LOSS,
  KIND_STRATEGY,
  KIND_OPTIMIZER,
  KIND_SCHEDULE,
  KIND_METRIC,
} CallKind;

typedef struct Node Node;
typedef struct Sema Sema;
typedef bool ShapeRule(Sema *s, Node *n); /* fills shape, params and FLOPs */

typedef struct OpInfo {
  const char *name;
  CallKind kind;
  bool tier3;           /* parsed, then rejected as not supported yet */
  ShapeRule *rule;      /* layers and merges */
  const struct OpGen *gen; /* layers and merges: code generation (opgen.c) */
  const ArgSpec *args;  /* terminated by a NULL name */
} OpInfo;

typedef enum {
#define OP(id, ...) OP_##id,
#include "ops.def"
#undef OP
  OP_COUNT
} OpId;

extern const OpInfo op_table[OP_COUNT];
/* The op called `name` of one of the kinds in `kinds` (a bit set of 1 << CallKind). */
const OpInfo *find_op(const char *name, unsigned kinds);
int op_names(unsigned kinds, const char **out); /* names of those kinds; returns count */
const char *call_kind_name(CallKind k);
/* The bound value of the argument `name` of op (an internal error if it has none). */
double op_arg(OpId op, const Bound *args, const char *name);

/* ----------------------------------------------------------------- sema.c */

#define MAX_PARAMS 4

typedef struct Param {
  const char *name;   /* weight, bias, running_mean, ... (the §5 suffix) */
  Shape shape;
  bool trainable;     /* false for batchnorm's running statistics */
  bool is_i64;        /* num_batches_tracked */
} Param;

typedef enum { NODE_INPUT, NODE_OP } NodeKind;

struct Node {
  NodeKind kind;
  int id;               /* its index in Checked.nodes */
  const OpInfo *op;     /* NODE_OP */
  OpId op_id;
  const char *name;     /* "image", "trunk.0", "cls.out.1", "seg.up.concat" */
  const char *key;      /* prefix of the §5 parameter keys: "trunk.0" */
  const char *label;    /* the name a chain gave it ("trunk"), or NULL: see node_label() */
  Loc loc;              /* the call in the source */
  Node **inputs;
  int ninputs;
  Bound *args;          /* bound arguments, one per entry of op->args */
  Shape shape;          /* per-sample output shape */
  Param params[MAX_PARAMS];
  int nparams;
  int64_t flops;        /* per sample, forward */
  int task;             /* owning task index, or -1 for inputs and shared blocks */
  const char *block;    /* shared block or task-local chain this node belongs to */
};

typedef enum { OBJ_SUM, OBJ_STRATEGY } ObjectiveKind;

typedef struct Target {
  const char *name;
  Loc loc;
  TypeKind kind;         /* TYPE_CLASS, TYPE_F32 or TYPE_BINARY */
  int classes;           /* class(N) */
  Shape shape;           /* per-sample; for class targets the per-element axes (rank 0: one id) */
  bool has_ignore;
  long long ignore;      /* class(N)(ignore = K) */
  int task;              /* the task that declares it */
  bool used;
} Target;

typedef struct Task {
  const char *name;
  Loc loc;
  Node *output;          /* first argument of the loss */
  Target *target;        /* second argument of the loss */
  OpId loss;
  Loc loss_loc;          /* the loss call */
  Bound loss_args[MAX_ARGS];
  const char *metrics[8];
  int nmetrics;
  double weight;         /* OBJ_SUM */
} Task;

typedef struct Checked {
  const char *name;
  Node **nodes;          /* topological (source) order, inputs first */
  int nnodes;
  Task *tasks;
  int ntasks;
  Target *targets;
  int ntargets;
  ObjectiveKind objective;
  OpId strategy;
  Loc strategy_loc;
  Bound strategy_args[MAX_ARGS];
  OpId optimizer;
  Bound optimizer_args[MAX_ARGS];
  OpId schedule;
  Bound schedule_args[MAX_ARGS];
  long long batch;
  Loc batch_loc;         /* the batch setting's value, or the model's name */
  long long seed;
  double clip_norm;      /* 0: off */
} Checked;

struct Sema {
  Arena *arena;
  Diag *diag;
};

/* Checks the model and infers shapes. Returns NULL if errors were reported. */
Checked *check_model(Arena *a, Diag *d, Model *m);
/* For shape rules: report an error at the node's call. */
void node_error(Sema *s, Node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool set_elems(Sema *s, Node *n, Shape sh); /* sets n->shape; false if too large */
bool add_param(Sema *s, Node *n, const char *name, Shape sh, bool trainable);
/* The bound argument `name` of the node's op. */
const Bound *node_arg(const Node *n, const char *name);
const char *node_label(const Node *n); /* the user's name for it: "trunk", else "trunk.3" */
const char *shape_str(Arena *a, Shape sh); /* "[3, 32, 32]" */
int64_t shape_elems(Shape sh);
Shape shape_of(int rank, ...);

/* -------------------------------------------------------------- explain.c */

void emit_shapes(FILE *out, const Checked *c);
void emit_dot(FILE *out, const Checked *c);

/* ------------------------------------------------------------------- ir.c */

/* A tensor of the generated code: an activation, a gradient, saved statistics, scratch,
 * or one of the caller's arrays (inputs, targets). */
typedef struct Buf Buf;
struct Buf {
  const char *name;   /* C identifier of its offset in the generated code: "trunk_0", "d_trunk_0" */
  int64_t per_sample; /* elements per sample: the buffer holds batch * per_sample + fixed */
  int64_t fixed;      /* elements independent of the batch (scratch, per-channel statistics) */
  bool is_int;        /* int32 (maxpool's argmax): lives in the int arena */
  const char *ext;    /* the caller's array: the C parameter name; not in an arena */
  int64_t offset;     /* memplan.c: in elements, in its arena */
  int first, last;    /* memplan.c: the instructions of the train step that use it */
};

typedef enum {
  INS_FWD,   /* node's forward: y = op(x...) */
  INS_LOSS,  /* task's loss and the gradient of its output: dst = dloss/dout */
  INS_BWD,   /* node's backward: dx... and the parameter gradients from dy */
  INS_ACCUM, /* dst += src: a second consumer's share of a gradient */
  /* Gradient strategies (spec §7), which combine per-task gradients: */
  INS_ZERO_SHARED, /* before task `task`'s backward pass: the shared parameters' gradients = 0 */
  INS_SAVE_SHARED, /* after it: those gradients copied to the task's row of task_grad[] */
  INS_COMBINE,     /* the strategy's coefficients from the Gram matrix of the per-task gradients
                      (of the shared parameters, or of the representation in `reps`), and the
                      combined gradient: into grad[], or into `combined` for the trunk's pass */
} InsKind;

typedef struct Ins {
  InsKind kind;
  const Node *node;  /* FWD, BWD */
  Buf **x;           /* FWD, BWD: the forward inputs, node->ninputs of them */
  Buf *y;            /* FWD, BWD: the forward output */
  Buf *aux[2];       /* saved by the forward for the backward: statistics, argmax */
  Buf *scratch;      /* used within the instruction only */
  Buf *dy;           /* BWD: the output's gradient */
  Buf **dx;          /* BWD: each input's gradient, NULL where none is needed */
  bool param_grads;  /* BWD: the node's trainable parameters get gradients */
  int task;          /* LOSS */
  Buf *src, *dst;    /* ACCUM; LOSS: src = output, dst = its gradient */
  int64_t counter;   /* FWD, BWD of dropout: the first random-number counter of its mask */
  /* FWD, BWD of a conv2d fused with the maxpool2d `pool` after it (and a relu between them
   * when `relu`): y and aux[0] are the pool's output and argmax, dy the pool's gradient. */
  const Node *pool;
  bool relu;
  bool fused;        /* FWD: done by such a conv2d; no code, its gradient passes through */
  /* COMBINE on the representation: the shared nodes `rep` that the heads read, each task's
   * gradient of each (reps[t * nrep + r], NULL where task t does not read rep[r]) and the
   * combination of those gradients (combined[r]), where the trunk's backward pass starts.
   * With GRADS_PER_TASK_LAYER, reps[t] is task t's seed (the gradient of its output). */
  const Node **rep;
  Buf **reps, **combined;
  int nrep;
} Ins;

/* Where a parameter lives in the model struct. */
typedef enum {
  SLOT_PARAM,  /* trainable: param[], grad[] and the optimizer state */
  SLOT_BUFFER, /* running statistics: buffer[] */
  SLOT_COUNT,  /* num_batches_tracked: count[] (int64) */
} SlotKind;

typedef struct Slot {
  const char *key;    /* the §5 name: "trunk.0.weight" */
  const char *cname;  /* its offset's C identifier: "trunk_0_weight" */
  Shape shape;
  SlotKind kind;
  int64_t offset;     /* in its array */
  const Node *node;   /* NULL for the objective's parameters */
  int index;          /* which parameter of the node */
} Slot;

typedef struct Program {
  const Checked *c;
  Arena *arena;
  bool f64;             /* --real double */
  Ins *ins;             /* forward [0, nfwd), then the losses, then the backward */
  int nins, capins, nfwd, nloss;
  Buf **bufs;
  int nbufs, capbufs;
  Buf **value;          /* per node (by index in c->nodes): its forward value */
  Buf **grad;           /* per node: its gradient, or NULL */
  Buf **targets;        /* per target (by index in c->targets): the caller's array */
  const char **out_names; /* per task: forward()'s output parameter */
  bool *live;           /* per node: computed (reaches a task's output) */
  Slot *slots;
  int nslots;
  int64_t nparam, nbuffer, ncount;  /* elements of each slot array */
  int64_t log_var;      /* uncertainty: offset of objective.log_var in param[], or -1 */
  int64_t nshared;      /* gradient strategies on parameters: the shared parameters' elements */
  int64_t dropout_elems; /* per step, at full batch: the dropout counter stride */
  int64_t arena_elems, iarena_elems; /* memplan.c */
  const char **names;   /* C identifiers handed out, to keep them unique */
  int nnames, capnames;
} Program;

Buf *new_buf(Program *p, const char *name, int64_t per_sample, int64_t fixed);
Ins *add_ins(Program *p, InsKind kind);
const char *c_ident(Program *p, const char *name); /* unique, not a C keyword */
/* Lowers the checked model: parameter slots and forward instructions. Returns NULL, with
 * the reason reported, for what code generation does not support yet. */
Program *lower(Arena *a, const Checked *c, bool f64, Diag *d);

/* ------------------------------------------------------------- autodiff.c */

/* Appends the backward pass to the program: gradients of the objective w.r.t. every
 * node that leads to a trainable parameter, accumulated over consumers. */
void autodiff(Program *p);

/* -------------------------------------------------------------- memplan.c */

/* Gives every buffer an offset in its arena, sharing memory between buffers whose live
 * ranges over the train step do not overlap. Returns false, with an error at the batch
 * setting and a note at the largest buffers, when the model struct would need more than
 * `budget` bytes, or more elements in an arena than the generated code can address. */
#define DEFAULT_MEMORY_BUDGET (4LL << 30)
bool memplan(Program *p, Diag *d, int64_t budget);
/* The model struct's static memory in bytes, by part (saturated), once memplan has run. */
typedef struct StaticMemory {
  int64_t params;      /* parameters; the gradients take as much */
  int64_t state;       /* the optimizer's state */
  int64_t buffers;     /* running statistics and counters */
  int64_t activations; /* the arenas: activations, their gradients, scratch */
  int64_t total;       /* all of it, with rollback()'s copy of the buffers and the strategies'
                          per-task gradients; the few reals per task left out */
} StaticMemory;
StaticMemory static_memory(const Program *p);
/* The optimizer's state arrays, each the size of the parameters: 0, 1 or 2. */
int64_t optimizer_states(const Checked *c);

/* ---------------------------------------------------------------- opgen.c */

typedef struct Emit {
  FILE *out;
  const Program *p;
  const char *real;  /* "float" or "double" */
  const char *sfx;   /* kernel suffix: "f32" or "f64" */
  int indent;        /* open blocks */
} Emit;

enum { SAVE_X = 1, SAVE_Y = 2 }; /* what a backward rule reads of the forward */

/* How an op becomes code: its backward rule and its calls into libmtlrt. */
typedef struct OpGen {
  unsigned saves;      /* SAVE_X | SAVE_Y: forward values the backward reads */
  bool view;           /* the output is the input's storage, reshaped: no code either way */
  void (*plan)(Program *p, Ins *ins);     /* adds saved and scratch buffers; may be NULL */
  void (*fwd)(Emit *e, const Ins *ins);
  void (*bwd)(Emit *e, const Ins *ins);
} OpGen;

#define OP(id, nm, kind, tier, rule, gen, ...) extern const OpGen gen;
#include "ops.def"
#undef OP

/* The C expression for a buffer (`m->a + trunk_0`) and for a parameter's storage. */
const char *buf_expr(const Emit *e, const Buf *b);
const char *param_expr(const Emit *e, const Node *n, const char *name);
const char *grad_expr(const Emit *e, const Node *n, const char *name);
const Slot *find_slot(const Program *p, const Node *n, const char *name);
const char *real_str(Arena *a, double v); /* the shortest text that reads back as v */
const char *real_lit(const Emit *e, double v); /* v as a literal of the model's real type */

/* Fuses each conv2d whose output only a maxpool2d reads, directly or through a relu that only
 * it reads, with them (Ins.pool), where that takes no more memory than the convolution's
 * output: its forward instructions must be in place, memplan not yet run. */
void fuse_conv_pool(Program *p);

/* ------------------------------------------------------------ objective.c */

/* How the backward pass serves the objective: one pass for the objectives that weight the
 * losses; for gradient strategies, one per task through the whole model (the strategy sees
 * the shared parameters' gradients) or one per task through its head and then one through
 * the shared trunk (it sees the gradients of the representation the heads read). */
typedef enum { GRADS_JOINT, GRADS_PER_TASK_PARAMS, GRADS_PER_TASK_REP, GRADS_PER_TASK_LAYER } GradPlan;
GradPlan objective_grad_plan(const Checked *c);
/* The elements of each task's row of task_grad[] (the shared parameters' gradient), or 0
 * when the objective keeps none. */
int64_t objective_task_grad_elems(const Program *p);
/* GRADS_PER_TASK_LAYER (gradnorm): the last shared layer with a weight matrix that every task
 * depends on, whose per-task gradients the strategy reads, or NULL; then one joint walk from
 * the weighted seeds. */
const Node *strategy_layer(const Program *p);
/* Reports what keeps the objective from working with this model; returns false then. */
bool objective_check(const Program *p, Diag *d);

/* The strategies that keep per-task arrays take at most this many tasks (libmtlrt's
 * MTLRT_MAX_TASKS). */
#define MAX_STRATEGY_TASKS 64

/* The objective's code: emit.c places each piece. */
bool objective_supported(const Checked *c);
const char *objective_doc(const Checked *c);
const char *objective_state_size(const Program *p); /* objective_state[]'s size, or NULL */
const char *objective_param(const Program *p);      /* uncertainty: objective.log_var's offset */
void emit_objective_weights(const Emit *e);         /* w[] of a step, before the losses */
/* After task t's loss call (which set `count`): its term of the objective and the scaling
 * of its output's gradient `seed` (NULL: none) of seed_elems per sample. */
void emit_objective_task(const Emit *e, int t, const char *seed, int64_t seed_elems);
void emit_objective_step(const Emit *e);            /* after an optimizer step */
void emit_objective_init(const Emit *e);            /* its parameters' initial values */
void emit_objective_fields(FILE *f, const Program *p, const char *real); /* its struct fields */
void emit_strategy_ins(const Emit *e, const Ins *ins); /* ZERO_SHARED, SAVE_SHARED, COMBINE */
void emit_objective_epoch(const Emit *e);           /* as an epoch starts */

/* ----------------------------------------------------------------- emit.c */

/* Writes the generated C file or its header. `source` is the .mtl path for comments. */
typedef struct EmitOptions {
  const char *source;      /* the .mtl path, for comments */
  const char *src;         /* its text, for the code each block comes from */
  const char *file_name;   /* the .c file's base name */
  const char *header_name; /* the header's base name, as the .c file includes it */
  bool with_main;          /* the trainer's main() */
} EmitOptions;
void emit_c(FILE *out, const Program *p, const EmitOptions *o);
void emit_header(FILE *out, const Program *p, const EmitOptions *o);

/* Template texts embedded at build time (templates/, see compiler/CMakeLists.txt). */
extern const char tmpl_model_c[];
extern const char tmpl_model_h[];

#endif
