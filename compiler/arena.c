/* arena.c: the compiler's one allocator. Every allocation of a compilation comes from one
 * arena and is released by one arena_free(), so a run (or a fuzzer iteration) leaks
 * nothing and no stage frees piecemeal. */
#include "mtlc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Block Block;
struct Block {
  Block *next;
  size_t used, size;
  _Alignas(max_align_t) unsigned char data[];
};

struct Arena {
  Block *head;
};

Arena *arena_new(void) {
  Arena *a = calloc(1, sizeof *a);
  if (!a) {
    fputs("mtlc: out of memory\n", stderr);
    abort();
  }
  return a;
}

void arena_free(Arena *a) {
  if (!a)
    return;
  for (Block *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(a);
}

void *arena_alloc(Arena *a, size_t size) {
  size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
  Block *b = a->head;
  if (!b || b->size - b->used < size) {
    size_t cap = size > 65536 ? size : 65536;
    b = malloc(sizeof *b + cap);
    if (!b) {
      fputs("mtlc: out of memory\n", stderr);
      abort();
    }
    b->used = 0;
    b->size = cap;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  memset(p, 0, size);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  return p;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void vec_grow(Arena *a, void **items, int n, int *cap, size_t elem) {
  int ncap = *cap ? *cap * 2 : 8;
  void *p = arena_alloc(a, (size_t)ncap * elem);
  if (n)
    memcpy(p, *items, (size_t)n * elem);
  *items = p;
  *cap = ncap;
}
