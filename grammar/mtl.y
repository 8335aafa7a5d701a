/* mtl.y: the grammar of spec §3. A pure parser with locations; the actions only build AST
 * nodes (ast.c); every check beyond the syntax is sema.c's. `error` rules resynchronise at
 * ';' and '}' so that one run reports several independent mistakes. */
%code requires {
#include "mtlc.h"
typedef void *yyscan_t;
}

%code {
#include "mtl.lex.h"

#include <string.h>

#define APPEND(list, item)                                                     \
  do {                                                                         \
    if ((list).tail)                                                           \
      (list).tail->next = (item);                                              \
    else                                                                       \
      (list).head = (item);                                                    \
    (list).tail = (item);                                                      \
  } while (0)

YY_DECL;
static int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner, ParseCtx *ctx);
static void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *ctx, const char *msg);
static Call *new_call(ParseCtx *ctx, const char *name, Loc loc, Arg *args, Loc all);
}

%define api.pure full
%define api.location.type {Loc}
%define parse.error custom
%define parse.lac full
%locations
%param {yyscan_t scanner} {ParseCtx *ctx}
%expect 0

%union {
  const char *str;
  Value *value;
  Call *call;
  Decl *decl;
  Type type;
  Chain chain;
  Term *term;
  Arg *arg;
  struct { Decl *head, *tail; } decls;
  struct { Arg *head, *tail; } args;
  struct { Layer *head, *tail; } layers;
  struct { Term *head, *tail; } terms;
  struct { Metric *head, *tail; } metrics;
  struct { Value *head, *tail; } values;
}

%token MODEL "model" INPUT "input" SHARED "shared" TASK "task" TARGET "target"
%token LOSS "loss" METRICS "metrics" OBJECTIVE "objective" OPTIMIZER "optimizer"
%token SCHEDULE "schedule" BATCH "batch" SEED "seed" CLIP_NORM "clip_norm"
%token F32 "f32" INDEX "index" CLASS "class" BINARY "binary" IGNORE "ignore"
%token ARROW "->"
%token <str> IDENT "name"
%token <value> INT "integer" REAL "number"

%type <decls> decls tdecls
%type <decl> decl tdecl
%type <type> type ttype
%type <values> dims values opt_shape
%type <value> value number int_value opt_ignore
%type <chain> chain
%type <call> source call layer
%type <layers> layers
%type <args> args
%type <arg> arg
%type <terms> terms
%type <term> term
%type <metrics> metric_list

%%

file:
  MODEL IDENT '{' decls '}' {
      Model *m = arena_alloc(ctx->arena, sizeof *m);
      m->name = $2;
      m->loc = @2;
      m->decls = $4.head;
      ctx->model = m;
    }
  ;

decls:
  %empty        { $$.head = $$.tail = NULL; }
  | decls decl  { $$ = $1; if ($2) APPEND($$, $2); }
  ;

decl:
  INPUT IDENT ':' type semi {
      $$ = new_decl(ctx->arena, DECL_INPUT, @1);
      $$->name = $2; $$->name_loc = @2; $$->type = $4;
    }
  | SHARED IDENT '=' chain semi {
      $$ = new_decl(ctx->arena, DECL_SHARED, @1);
      $$->name = $2; $$->name_loc = @2; $$->chain = $4;
    }
  | TASK IDENT '{' tdecls '}' {
      $$ = new_decl(ctx->arena, DECL_TASK, @1);
      $$->name = $2; $$->name_loc = @2; $$->body = $4.head;
    }
  | OBJECTIVE '=' terms semi {
      $$ = new_decl(ctx->arena, DECL_OBJECTIVE, @1); $$->terms = $3.head;
    }
  | OBJECTIVE '=' call semi {
      $$ = new_decl(ctx->arena, DECL_OBJECTIVE, @1); $$->call = $3;
    }
  | OPTIMIZER '=' layer semi { $$ = new_decl(ctx->arena, DECL_OPTIMIZER, @1); $$->call = $3; }
  | SCHEDULE '=' layer semi  { $$ = new_decl(ctx->arena, DECL_SCHEDULE, @1); $$->call = $3; }
  | BATCH '=' INT semi       { $$ = new_decl(ctx->arena, DECL_BATCH, @1); $$->number = $3; }
  | SEED '=' INT semi        { $$ = new_decl(ctx->arena, DECL_SEED, @1); $$->number = $3; }
  | CLIP_NORM '=' number semi { $$ = new_decl(ctx->arena, DECL_CLIP_NORM, @1); $$->number = $3; }
  | TASK IDENT '{' tdecls error '}' { $$ = NULL; yyerrok; } /* a task body that ends mid-statement */
  /* An error after a declaration's start ends that declaration, so a missing ';' before
   * the next one costs one message, not a skip into the next ';'. */
  | INPUT IDENT ':' error   { $$ = NULL; }
  | SHARED IDENT '=' error  { $$ = NULL; }
  | OBJECTIVE '=' error     { $$ = NULL; }
  | OPTIMIZER '=' error     { $$ = NULL; }
  | SCHEDULE '=' error      { $$ = NULL; }
  | error ';'               { $$ = NULL; yyerrok; }
  ;

/* A missing ';' is reported once, and parsing goes on with the next declaration. */
semi:
  ';'
  | error
  ;

tdecls:
  %empty          { $$.head = $$.tail = NULL; }
  | tdecls tdecl  { $$ = $1; if ($2) APPEND($$, $2); }
  ;

tdecl:
  TARGET IDENT ':' ttype semi {
      $$ = new_decl(ctx->arena, DECL_TARGET, @1);
      $$->name = $2; $$->name_loc = @2; $$->type = $4;
    }
  | IDENT '=' chain semi {
      $$ = new_decl(ctx->arena, DECL_NODE, @1);
      $$->name = $1; $$->name_loc = @1; $$->chain = $3;
    }
  | LOSS '=' call semi            { $$ = new_decl(ctx->arena, DECL_LOSS, @1); $$->call = $3; }
  | METRICS '=' metric_list semi  { $$ = new_decl(ctx->arena, DECL_METRICS, @1); $$->metrics = $3.head; }
  | TARGET IDENT ':' error       { $$ = NULL; }
  | IDENT '=' error              { $$ = NULL; }
  | LOSS '=' error               { $$ = NULL; }
  | METRICS '=' error            { $$ = NULL; }
  | error ';'                    { $$ = NULL; yyerrok; }
  ;

type:
  F32 '[' dims ']' {
      memset(&$$, 0, sizeof $$);
      $$.kind = TYPE_F32; $$.loc = @1; $$.dims = $3.head; $$.shape_loc = @2;
      $$.shape_loc.last_line = @4.last_line; $$.shape_loc.last_column = @4.last_column;
    }
  | INDEX '(' INT ')' opt_shape {
      memset(&$$, 0, sizeof $$);
      $$.kind = TYPE_INDEX; $$.loc = @1; $$.n = $3; $$.dims = $5.head; $$.shape_loc = @5;
    }
  ;

ttype:
  CLASS '(' INT ')' opt_shape opt_ignore {
      memset(&$$, 0, sizeof $$);
      $$.kind = TYPE_CLASS; $$.loc = @1; $$.n = $3; $$.dims = $5.head; $$.shape_loc = @5;
      $$.ignore = $6;
    }
  | F32 '[' dims ']' {
      memset(&$$, 0, sizeof $$);
      $$.kind = TYPE_F32; $$.loc = @1; $$.dims = $3.head; $$.shape_loc = @2;
      $$.shape_loc.last_line = @4.last_line; $$.shape_loc.last_column = @4.last_column;
    }
  | BINARY '[' dims ']' {
      memset(&$$, 0, sizeof $$);
      $$.kind = TYPE_BINARY; $$.loc = @1; $$.dims = $3.head; $$.shape_loc = @2;
      $$.shape_loc.last_line = @4.last_line; $$.shape_loc.last_column = @4.last_column;
    }
  ;

opt_shape:
  %empty          { $$.head = $$.tail = NULL; }
  | '[' dims ']'  { $$ = $2; }
  ;

dims:
  INT             { $$.head = $$.tail = NULL; APPEND($$, $1); }
  | dims ',' INT  { $$ = $1; APPEND($$, $3); }
  ;

opt_ignore:
  %empty                          { $$ = NULL; }
  | '(' IGNORE '=' int_value ')'  { $$ = $4; }
  ;

int_value:
  INT           { $$ = $1; }
  | '-' INT     { $$ = $2; $$->i = -$$->i; $$->num = -$$->num; $$->loc.first_column = @1.first_column; }
  ;

chain:
  source layers {
      memset(&$$, 0, sizeof $$);
      $$.src_call = $1; $$.layers = $2.head;
    }
  ;

source:
  layer   { $$ = $1; }
  ;

layers:
  %empty                { $$.head = $$.tail = NULL; }
  | layers ARROW layer  {
      $$ = $1;
      Layer *l = arena_alloc(ctx->arena, sizeof *l);
      l->call = *$3;
      APPEND($$, l);
    }
  ;

/* `relu` or `conv2d(32, kernel = 3)`; a bare name is a call with no arguments. */
layer:
  IDENT   { $$ = new_call(ctx, $1, @1, NULL, @1); $$->bare = true; }
  | call  { $$ = $1; }
  ;

call:
  IDENT '(' ')'       { $$ = new_call(ctx, $1, @1, NULL, @$); }
  | IDENT '(' args ')' { $$ = new_call(ctx, $1, @1, $3.head, @$); }
  ;

args:
  arg             { $$.head = $$.tail = NULL; APPEND($$, $1); }
  | args ',' arg  { $$ = $1; APPEND($$, $3); }
  ;

arg:
  TARGET '=' value { /* the loss argument named like the keyword */
      $$ = arena_alloc(ctx->arena, sizeof *$$);
      $$->name = "target"; $$->name_loc = @1; $$->value = $3; $$->loc = @$;
    }
  | value {
      $$ = arena_alloc(ctx->arena, sizeof *$$);
      $$->value = $1; $$->loc = @1;
    }
  | IDENT '=' value {
      $$ = arena_alloc(ctx->arena, sizeof *$$);
      $$->name = $1; $$->name_loc = @1; $$->value = $3; $$->loc = @$;
    }
  ;

value:
  number          { $$ = $1; }
  | '-' number    {
      $$ = $2; $$->i = -$$->i; $$->num = -$$->num;
      $$->loc.first_column = @1.first_column; $$->loc.first_line = @1.first_line;
    }
  | IDENT         { $$ = new_value(ctx->arena, VAL_IDENT, @1); $$->name = $1; }
  | '[' values ']' { $$ = new_value(ctx->arena, VAL_LIST, @$); $$->items = $2.head; }
  ;

values:
  value               { $$.head = $$.tail = NULL; APPEND($$, $1); }
  | values ',' value  { $$ = $1; APPEND($$, $3); }
  ;

number:
  INT     { $$ = $1; }
  | REAL  { $$ = $1; }
  ;

terms:
  term              { $$.head = $$.tail = NULL; APPEND($$, $1); }
  | terms '+' term  { $$ = $1; APPEND($$, $3); }
  ;

term:
  IDENT {
      $$ = arena_alloc(ctx->arena, sizeof *$$);
      $$->task = $1; $$->loc = @1;
    }
  | number '*' IDENT {
      $$ = arena_alloc(ctx->arena, sizeof *$$);
      $$->has_weight = true; $$->weight = $1->num; $$->weight_loc = @1;
      $$->task = $3; $$->loc = @3;
    }
  ;

metric_list:
  IDENT {
      $$.head = $$.tail = NULL;
      Metric *m = arena_alloc(ctx->arena, sizeof *m);
      m->name = $1; m->loc = @1;
      APPEND($$, m);
    }
  | metric_list ',' IDENT {
      $$ = $1;
      Metric *m = arena_alloc(ctx->arena, sizeof *m);
      m->name = $3; m->loc = @3;
      APPEND($$, m);
    }
  ;

%%

static Call *new_call(ParseCtx *ctx, const char *name, Loc loc, Arg *args, Loc all) {
  Call *c = arena_alloc(ctx->arena, sizeof *c);
  c->name = name;
  c->loc = loc;
  c->args = args;
  c->args_loc = all;
  for (Arg *a = args; a; a = a->next)
    c->nargs++;
  return c;
}

/* The scanner behind a wrapper that remembers the last two tokens for syntax errors and
 * ends the input once the error cap is reached. */
static int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner, ParseCtx *ctx) {
  if (diag_full(ctx->diag))
    return YYEOF;
  ctx->prev_loc = ctx->cur_loc;
  ctx->prev_tok = ctx->cur_tok;
  memcpy(ctx->prev_text, ctx->cur_text, sizeof ctx->cur_text);
  int tok = mtl_scan(lval, lloc, scanner);
  ctx->cur_loc = *lloc;
  ctx->cur_tok = tok;
  if (tok == YYEOF) {
    strcpy(ctx->cur_text, "end of file");
  } else {
    size_t n = (size_t)yyget_leng(scanner);
    if (n >= sizeof ctx->cur_text - 4) {
      memcpy(ctx->cur_text, yyget_text(scanner), sizeof ctx->cur_text - 4);
      strcpy(ctx->cur_text + sizeof ctx->cur_text - 4, "...");
    } else {
      memcpy(ctx->cur_text, yyget_text(scanner), n);
      ctx->cur_text[n] = '\0';
    }
  }
  return tok;
}

static void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *ctx, const char *msg) {
  (void)scanner; /* Bison calls this only when its stack is full */
  error_at(ctx->diag, *loc, "%s", strcmp(msg, "memory exhausted") ? msg : "the input nests too deeply");
}

/* How a syntax error names an expected token: 'input', ';', '->', a name, end of file. */
static void quote_token(char *out, size_t size, yysymbol_kind_t k) {
  switch (k) {
  case YYSYMBOL_IDENT: snprintf(out, size, "a name"); break;
  case YYSYMBOL_INT: snprintf(out, size, "an integer"); break;
  case YYSYMBOL_REAL: snprintf(out, size, "a number"); break;
  case YYSYMBOL_YYEOF: snprintf(out, size, "end of file"); break;
  default: {
    const char *name = yysymbol_name(k);
    snprintf(out, size, name[0] == '\'' ? "%s" : "'%s'", name);
  }
  }
}

static bool is_keyword(yysymbol_kind_t k) { return k >= YYSYMBOL_MODEL && k <= YYSYMBOL_IGNORE; }

static bool expects(const yysymbol_kind_t *expected, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(yysymbol_name(expected[i]), name))
      return true;
  return false;
}

/* Syntax errors, phrased for the mistakes people make: a misspelt or misused keyword, a
 * missing ';' or '}', else what was expected. */
static int yyreport_syntax_error(const yypcontext_t *yy, yyscan_t scanner, ParseCtx *ctx) {
  (void)scanner;
  Diag *d = ctx->diag;
  yysymbol_kind_t expected[YYNTOKENS];
  int n = yypcontext_expected_tokens(yy, expected, YYNTOKENS);
  yysymbol_kind_t got = yypcontext_token(yy);
  Loc loc = *yypcontext_location(yy);
  if (got == YYSYMBOL_YYEOF && ctx->quiet_eof)
    return 0;
  char got_text[64];
  if (got == YYSYMBOL_YYEOF)
    snprintf(got_text, sizeof got_text, "end of file");
  else
    snprintf(got_text, sizeof got_text, "'%s'", ctx->cur_text);

  const char *keywords[YYNTOKENS], *all_keywords[YYNTOKENS];
  int nk = 0, nall = 0;
  for (int i = 0; i < n; i++)
    if (is_keyword(expected[i]))
      keywords[nk++] = yysymbol_name(expected[i]);
  for (int k = YYSYMBOL_MODEL; k <= YYSYMBOL_IGNORE; k++)
    all_keywords[nall++] = yysymbol_name((yysymbol_kind_t)k);
  const char *guess;
  if (got == YYSYMBOL_IDENT && (guess = closest_name(ctx->cur_text, keywords, nk))) {
    error_at(d, loc, "unexpected name %s; did you mean '%s'?", got_text, guess);
    return 0;
  }
  if (got == YYSYMBOL_IDENT && ctx->prev_tok == IDENT &&
      (guess = closest_name(ctx->prev_text, all_keywords, nall))) { /* "taget y : class(3);" */
    error_at(d, ctx->prev_loc, "unexpected name '%s'; did you mean '%s'?", ctx->prev_text, guess);
    return 0;
  }
  if (got >= YYSYMBOL_OBJECTIVE && got <= YYSYMBOL_CLIP_NORM && expects(expected, n, "'}'")) {
    error_at(d, loc, "'%s' is set at model level, outside the tasks", ctx->cur_text);
    return 0;
  }
  if (expects(expected, n, "'}'") && (got == YYSYMBOL_YYEOF || got == YYSYMBOL_TASK ||
                                      got == YYSYMBOL_INPUT || got == YYSYMBOL_SHARED)) {
    error_at(d, loc, "expected '}' %s%s", got == YYSYMBOL_YYEOF ? "at " : "before ", got_text);
    return 0;
  }
  if (is_keyword(got) && expects(expected, n, "name")) {
    error_at(d, loc, "'%s' is a keyword and cannot be used as a name", ctx->cur_text);
    return 0;
  }

  char list[256] = "";
  size_t len = 0;
  for (int i = 0; i < n && n <= 4; i++) {
    char tok[32];
    quote_token(tok, sizeof tok, expected[i]);
    const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", sep, tok);
  }
  if (n == 0 || n > 4) {
    error_at(d, loc, "unexpected %s", got_text);
  } else if (expects(expected, n, "';'") && ctx->prev_loc.first_line > 0 &&
             loc.first_line > ctx->prev_loc.last_line) {
    /* The missing ';' belongs at the end of the previous line: point there. */
    Loc at = {ctx->prev_loc.last_line, ctx->prev_loc.last_column, ctx->prev_loc.last_line,
              ctx->prev_loc.last_column};
    error_at(d, at, "expected %s after '%s'", list, ctx->prev_text);
  } else {
    error_at(d, loc, "expected %s before %s", list, got_text);
  }
  return 0;
}
