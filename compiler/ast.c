/* ast.c: the syntax tree that grammar/mtl.y builds, and parse_model(), which runs the
 * reentrant scanner and parser over a source buffer. The tree keeps every location so that
 * sema.c can point at the exact token of each mistake. */
#include "mtlc.h"
#include "mtl.tab.h"
#include "mtl.lex.h"

Value *new_value(Arena *a, ValueKind kind, Loc loc) {
  Value *v = arena_alloc(a, sizeof *v);
  v->kind = kind;
  v->loc = loc;
  return v;
}

Decl *new_decl(Arena *a, DeclKind kind, Loc loc) {
  Decl *d = arena_alloc(a, sizeof *d);
  d->kind = kind;
  d->loc = loc;
  return d;
}

const char *value_str(Arena *a, const Value *v) {
  switch (v->kind) {
  case VAL_INT:
    return arena_printf(a, "%lld", v->i);
  case VAL_REAL:
    return arena_printf(a, "%g", v->num);
  case VAL_IDENT:
    return v->name;
  case VAL_LIST:
    break;
  }
  const char *s = "[";
  for (const Value *it = v->items; it; it = it->next)
    s = arena_printf(a, "%s%s%s", s, value_str(a, it), it->next ? ", " : "]");
  return s;
}

Model *parse_model(Arena *a, Diag *d) {
  ParseCtx ctx = {.arena = a, .diag = d, .line = 1, .col = 1};
  yyscan_t scanner;
  if (yylex_init_extra(&ctx, &scanner))
    return NULL;
  YY_BUFFER_STATE buf = yy_scan_bytes(d->src, (int)d->src_len, scanner);
  yyparse(scanner, &ctx);
  yy_delete_buffer(buf, scanner);
  yylex_destroy(scanner);
  return ctx.model;
}
