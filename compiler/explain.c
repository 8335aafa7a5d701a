/* explain.c: what `--emit shapes` and `--emit dot` print about a checked model. The shapes
 * table lists every node in topological order with its op, per-sample output shape,
 * trainable parameter count and forward FLOPs per sample, then the totals and each task's
 * loss. The dot graph draws shared blocks and tasks as Graphviz clusters, with edges labelled
 * by the shape that flows along them. */
#include "mtlc.h"

#include <string.h>

static int64_t trainable_params(const Node *n) {
  int64_t total = 0;
  for (int i = 0; i < n->nparams; i++)
    if (n->params[i].trainable)
      total += shape_elems(n->params[i].shape);
  return total;
}

static const char *op_name(const Node *n) { return n->kind == NODE_INPUT ? "input" : n->op->name; }

static const char *target_str(Arena *a, const Target *t) {
  const char *sh = t->shape.rank ? shape_str(a, t->shape) : "";
  switch (t->kind) {
  case TYPE_CLASS: return arena_printf(a, "class(%d)%s", t->classes, sh);
  case TYPE_BINARY: return arena_printf(a, "binary%s", sh);
  default: return arena_printf(a, "f32%s", sh);
  }
}

static int max_int(int a, int b) { return a > b ? a : b; }

void emit_shapes(FILE *out, const Checked *c) {
  Arena *a = arena_new();
  int wname = 5, wop = 2, wshape = 5;
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    wname = max_int(wname, (int)strlen(n->name));
    wop = max_int(wop, (int)strlen(op_name(n)));
    wshape = max_int(wshape, (int)strlen(shape_str(a, n->shape)));
  }
  fprintf(out, "model %s (per sample; batch = %lld)\n\n", c->name, c->batch);
  fprintf(out, "%-*s  %-*s  %-*s  %12s  %14s\n", wname, "node", wop, "op", wshape, "shape", "params",
          "FLOPs");
  int64_t params = 0, flops = 0;
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    int64_t p = trainable_params(n);
    params += p;
    flops += n->flops;
    fprintf(out, "%-*s  %-*s  %-*s  %12lld  %14lld\n", wname, n->name, wop, op_name(n), wshape,
            shape_str(a, n->shape), (long long)p, (long long)n->flops);
  }
  fprintf(out, "%-*s  %12lld  %14lld\n", wname + wop + wshape + 4, "total", (long long)params,
          (long long)flops);

  int wtask = 4, wloss = 4, wout = 6;
  for (int t = 0; t < c->ntasks; t++) {
    const Task *task = &c->tasks[t];
    wtask = max_int(wtask, (int)strlen(task->name));
    wloss = max_int(wloss, (int)strlen(op_table[task->loss].name));
    wout = max_int(wout, (int)strlen(task->output->name));
  }
  fprintf(out, "\n%-*s  %-*s  %-*s  %s\n", wtask, "task", wloss, "loss", wout, "output", "target, metrics");
  for (int t = 0; t < c->ntasks; t++) {
    const Task *task = &c->tasks[t];
    const char *metrics = "";
    for (int m = 0; m < task->nmetrics; m++)
      metrics = arena_printf(a, "%s%s%s", metrics, m ? ", " : "", task->metrics[m]);
    fprintf(out, "%-*s  %-*s  %-*s  %s : %s; %s\n", wtask, task->name, wloss, op_table[task->loss].name, wout,
            task->output->name, task->target->name, target_str(a, task->target), metrics);
  }
  arena_free(a);
}

static void draw_op(FILE *out, const Node *n) {
  fprintf(out, "    \"%s\" [label=\"%s\\n%s\"];\n", n->name, n->op->name, n->name);
}

void emit_dot(FILE *out, const Checked *c) {
  Arena *a = arena_new();
  fprintf(out, "digraph \"%s\" {\n", c->name);
  fputs("  rankdir=TB;\n  graph [fontname=\"Helvetica\"];\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, "
        "fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
        out);
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    if (n->kind == NODE_INPUT)
      fprintf(out, "  \"%s\" [label=\"%s\\n%s\", shape=ellipse, fillcolor=\"#dde8f7\"];\n", n->name,
              n->name, shape_str(a, n->shape));
  }
  /* A cluster per shared block, in order of appearance, then one per task. */
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    bool first = n->kind == NODE_OP && n->task < 0;
    for (int j = 0; first && j < i; j++)
      first = c->nodes[j]->kind == NODE_INPUT || strcmp(c->nodes[j]->block, n->block);
    if (!first)
      continue;
    fprintf(out, "  subgraph \"cluster_shared_%s\" {\n    label=\"shared %s\"; style=\"rounded,filled\"; "
            "fillcolor=\"#e4f3e4\";\n", n->block, n->block);
    for (int j = i; j < c->nnodes; j++)
      if (c->nodes[j]->kind == NODE_OP && c->nodes[j]->task < 0 && !strcmp(c->nodes[j]->block, n->block))
        draw_op(out, c->nodes[j]);
    fputs("  }\n", out);
  }
  for (int t = 0; t < c->ntasks; t++) {
    const Task *task = &c->tasks[t];
    fprintf(out, "  subgraph \"cluster_task_%s\" {\n    label=\"task %s\"; style=\"rounded,filled\"; "
            "fillcolor=\"#fdf1dc\";\n", task->name, task->name);
    for (int j = 0; j < c->nnodes; j++)
      if (c->nodes[j]->kind == NODE_OP && c->nodes[j]->task == t)
        draw_op(out, c->nodes[j]);
    fprintf(out, "    \"%s.loss\" [label=\"%s\\n%s %s\", shape=octagon, fillcolor=\"#f7dddd\"];\n",
            task->name, op_table[task->loss].name, task->target->name, target_str(a, task->target));
    fputs("  }\n", out);
  }
  for (int i = 0; i < c->nnodes; i++) {
    const Node *n = c->nodes[i];
    for (int k = 0; k < n->ninputs; k++)
      fprintf(out, "  \"%s\" -> \"%s\" [label=\"%s\"];\n", n->inputs[k]->name, n->name,
              shape_str(a, n->inputs[k]->shape));
  }
  for (int t = 0; t < c->ntasks; t++)
    fprintf(out, "  \"%s\" -> \"%s.loss\" [label=\"%s\"];\n", c->tasks[t].output->name, c->tasks[t].name,
            shape_str(a, c->tasks[t].output->shape));
  fputs("}\n", out);
  arena_free(a);
}
