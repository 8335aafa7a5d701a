/* check.h: the small harness the runtime's C tests share: CHECK() counts and reports,
 * a scratch directory `dir` (created by the test's main), and file helpers. Include it once,
 * from the test's .c file, after <dirent.h>, <stdio.h>, <stdlib.h> and <string.h>. */
#ifndef MTLRT_TEST_CHECK_H
#define MTLRT_TEST_CHECK_H

static int failures, checks;
static char dir[256];
static char err[1024];

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    checks++;                                                                                      \
    if (!(cond)) {                                                                                 \
      failures++;                                                                                  \
      fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

static inline const char *in_dir(const char *name) {
  static char paths[4][512];
  static int next;
  char *p = paths[next++ % 4];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

static inline long read_file(const char *path, unsigned char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return (long)n;
}

static inline void write_file(const char *path, const void *buf, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(buf, 1, n, f) != n)) {
    perror(path);
    exit(2);
  }
  fclose(f);
}

static inline int count_dir_entries(const char *path) {
  DIR *d = opendir(path);
  int n = 0;
  if (!d)
    return -1;
  for (struct dirent *e; (e = readdir(d));)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

#endif
