/* make_multifashion: builds the Multi-Fashion data set (Sener & Koltun 2018, Lin et al.
 * 2019) from Debian's dataset-fashion-mnist, as NPY files for examples that train on it
 * (spec/examples/multifashion.mtl and fashion_cls_seg.mtl).
 *
 * Each sample puts two 28x28 Fashion-MNIST items into a 36x36 image, the left one at
 * offset (0, 0) and the right one at offset (8, 8); where they overlap the image takes the
 * pixel-wise maximum, as the reference generation does (Sener & Koltun's
 * multi_mnist_loader.py: new_im[6:28,6:28] = np.maximum(lim[6:28,6:28], rim[0:22,0:22])).
 * The targets are both items' classes and a per-pixel mask: 1 where the left item is the
 * brighter of the two and brighter than a threshold, 2 where the right one is, 0 elsewhere;
 * so the mask is non-zero exactly where the image is above the threshold.
 *
 * Items come from the matching source split (train for train, t10k for test). Left items
 * run through the split in shuffled passes, so each is used as often as the others; each
 * right item is drawn uniformly from the split, never the same item as its left one. One
 * seeded generator per split makes the output a function of (seed, split, size) alone: the
 * same seed gives byte-identical files, a smaller size gives a prefix of the larger set,
 * and the test set does not depend on --train-size.
 *
 * It writes OUT/{train,test}/{image,left_label,right_label,mask}.npy with libmtlrt's NPY
 * writer, a chunk of samples at a time. */
#include "idx.h"
#include "mtlrt_io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

enum {
  SRC = 28,        /* the side of a Fashion-MNIST item */
  SIDE = 36,       /* the side of a Multi-Fashion image */
  SHIFT = 8,       /* the right item's offset, down and right: SIDE - SRC */
  CLASSES = 10,    /* Fashion-MNIST classes */
  CHUNK = 4096,    /* samples generated per append */
};
_Static_assert(SHIFT == SIDE - SRC, "the right item touches the bottom-right corner");

#define DEFAULT_SOURCE "/usr/share/datasets/fashion-mnist"
#define DEFAULT_THRESHOLD 10 /* about 0.04 * 255, see README.md */

static const char *prog = "make_multifashion";

static void error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: error: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- random numbers: splitmix64 seeds xoshiro256** ------------------------------------ */

typedef struct Rng {
  uint64_t s[4]; /* xoshiro256** state, never all zero */
} Rng;

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void rng_seed(Rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xd1342543de82ef95u);
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(Rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* A uniform integer in [0, n), n > 0, without modulo bias. */
static uint32_t rng_below(Rng *r, uint32_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do
    x = rng_next(r);
  while (x >= limit);
  return (uint32_t)(x % n);
}

/* ---- the source: IDX files in gzip ---------------------------------------------------- */

typedef struct Split {
  uint32_t n;              /* items */
  unsigned char *images;   /* n x 28 x 28 */
  unsigned char *labels;   /* n, each < CLASSES */
} Split;

/* Opens path and reads it with idx_read(); errors are reported. */
static unsigned char *read_idx(const char *path, int ndims, uint32_t *dims) {
  gzFile f = gzopen(path, "rb");
  if (!f) {
    if (errno == ENOENT)
      error("%s: no such file (install the Debian package dataset-fashion-mnist, or give "
            "--source DIR with the four Fashion-MNIST .gz files)", path);
    else
      error("%s: %s", path, errno ? strerror(errno) : "cannot open");
    return NULL;
  }
  char err[4096 + 256];
  size_t len;
  unsigned char *data = idx_read(f, path, ndims, dims, &len, err, sizeof err);
  gzclose(f);
  if (!data)
    error("%s", err);
  return data;
}

static int load_split(const char *dir, const char *name, Split *s) {
  char path[4096];
  uint32_t idims[3], ldims[1];
  s->images = s->labels = NULL;
  snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, name);
  if (!(s->images = read_idx(path, 3, idims)))
    return -1;
  if (idims[1] != SRC || idims[2] != SRC) {
    error("%s: items are %" PRIu32 "x%" PRIu32 ", expected %dx%d", path, idims[1], idims[2],
          SRC, SRC);
    return -1;
  }
  snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, name);
  if (!(s->labels = read_idx(path, 1, ldims)))
    return -1;
  if (ldims[0] != idims[0]) {
    error("%s: %" PRIu32 " labels for %" PRIu32 " images", path, ldims[0], idims[0]);
    return -1;
  }
  s->n = idims[0];
  if (s->n < 2) {
    error("%s: a split needs at least 2 items", path);
    return -1;
  }
  for (uint32_t i = 0; i < s->n; i++) {
    if (s->labels[i] >= CLASSES) {
      error("%s: item %" PRIu32 " has label %d, expected 0 to %d", path, i, s->labels[i],
            CLASSES - 1);
      return -1;
    }
  }
  return 0;
}

/* ---- composition ---------------------------------------------------------------------- */

/* Draws the next (left, right) pair of items: left from shuffled passes over the split,
 * right uniformly among the other items. */
typedef struct Sampler {
  Rng rng;
  uint32_t n;
  uint32_t *perm; /* the current pass over the split */
  uint32_t pos;   /* the next index into perm; n when a new pass is due */
} Sampler;

static void next_pair(Sampler *sm, uint32_t *left, uint32_t *right) {
  if (sm->pos == sm->n) {
    for (uint32_t i = 0; i < sm->n; i++)
      sm->perm[i] = i;
    for (uint32_t i = sm->n - 1; i > 0; i--) {
      uint32_t j = rng_below(&sm->rng, i + 1);
      uint32_t t = sm->perm[i];
      sm->perm[i] = sm->perm[j];
      sm->perm[j] = t;
    }
    sm->pos = 0;
  }
  *left = sm->perm[sm->pos++];
  uint32_t r = rng_below(&sm->rng, sm->n - 1);
  *right = r >= *left ? r + 1 : r;
}

/* Composes one sample: image = max(left at (0,0), right at (8,8)); mask as described above,
 * ties going to the left item. */
static void compose(const unsigned char *l, const unsigned char *r, int threshold,
                    unsigned char *image, unsigned char *mask) {
  for (int y = 0; y < SIDE; y++) {
    for (int x = 0; x < SIDE; x++) {
      int a = y < SRC && x < SRC ? l[y * SRC + x] : 0;
      int b = y >= SHIFT && x >= SHIFT ? r[(y - SHIFT) * SRC + (x - SHIFT)] : 0;
      int v = a >= b ? a : b;
      image[y * SIDE + x] = (unsigned char)v;
      mask[y * SIDE + x] = v <= threshold ? 0 : a >= b ? 1 : 2;
    }
  }
}

/* ---- output ---------------------------------------------------------------------------- */

enum { OUT_IMAGE, OUT_LEFT, OUT_RIGHT, OUT_MASK, OUT_COUNT };
static const char *const out_names[OUT_COUNT] = {"image", "left_label", "right_label", "mask"};

static int make_dir(const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
      return 0;
    error("%s: exists and is not a directory", path);
    return -1;
  }
  error("%s: cannot create the directory: %s", path, strerror(errno));
  return -1;
}

/* Writes `count` samples of split `name` to OUT/name/. Returns 0 or -1 (reported). */
static int write_split(const char *out, const char *name, const Split *src, uint64_t seed,
                       uint64_t stream, int64_t count, int threshold) {
  char dir[4096], path[4096 + 32], err[512];
  if ((size_t)snprintf(dir, sizeof dir, "%s/%s", out, name) >= sizeof dir) {
    error("%s: the path is too long", out);
    return -1;
  }
  if (make_dir(dir) < 0)
    return -1;

  mtlrt_npy_writer w[OUT_COUNT];
  int live[OUT_COUNT] = {0}; /* created and neither committed nor aborted */
  int rc = -1;
  Sampler sm = {.n = src->n, .pos = src->n, .perm = malloc(src->n * sizeof(uint32_t))};
  unsigned char *image = malloc((size_t)CHUNK * SIDE * SIDE);
  unsigned char *mask = malloc((size_t)CHUNK * SIDE * SIDE);
  unsigned char *left = malloc(CHUNK), *right = malloc(CHUNK);
  if (!sm.perm || !image || !mask || !left || !right) {
    error("out of memory");
    goto done;
  }
  rng_seed(&sm.rng, seed, stream);

  const int64_t shapes[OUT_COUNT][4] = {
      {count, 1, SIDE, SIDE}, {count}, {count}, {count, SIDE, SIDE}};
  const int ranks[OUT_COUNT] = {4, 1, 1, 3};
  for (int k = 0; k < OUT_COUNT; k++) {
    snprintf(path, sizeof path, "%s/%s.npy", dir, out_names[k]);
    if (mtlrt_npy_create(&w[k], path, MTLRT_NPY_U1, ranks[k], shapes[k], err, sizeof err) < 0) {
      error("%s", err);
      goto done;
    }
    live[k] = 1;
  }

  for (int64_t made = 0; made < count;) {
    int n = count - made < CHUNK ? (int)(count - made) : CHUNK;
    for (int i = 0; i < n; i++) {
      uint32_t a, b;
      next_pair(&sm, &a, &b);
      left[i] = src->labels[a];
      right[i] = src->labels[b];
      compose(src->images + (size_t)a * SRC * SRC, src->images + (size_t)b * SRC * SRC,
              threshold, image + (size_t)i * SIDE * SIDE, mask + (size_t)i * SIDE * SIDE);
    }
    const void *data[OUT_COUNT] = {image, left, right, mask};
    const int64_t elems[OUT_COUNT] = {(int64_t)n * SIDE * SIDE, n, n, (int64_t)n * SIDE * SIDE};
    for (int k = 0; k < OUT_COUNT; k++) {
      if (mtlrt_npy_append(&w[k], data[k], elems[k], err, sizeof err) < 0) {
        error("%s", err);
        goto done;
      }
    }
    made += n;
  }
  for (int k = 0; k < OUT_COUNT; k++) {
    live[k] = 0; /* commit() cleans up after itself when it fails */
    if (mtlrt_npy_commit(&w[k], err, sizeof err) < 0) {
      error("%s", err);
      goto done;
    }
  }
  rc = 0;
done:
  for (int k = 0; k < OUT_COUNT; k++)
    if (live[k])
      mtlrt_npy_abort(&w[k]);
  free(sm.perm);
  free(image);
  free(mask);
  free(left);
  free(right);
  return rc;
}

/* ---- the command line ------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s [--seed N] [--train-size N] [--test-size N] [--threshold T] "
          "[--source DIR] OUT\n"
          "\n"
          "Builds Multi-Fashion: two Fashion-MNIST items in a 36x36 image, one at the top "
          "left,\none at the bottom right, overlapping (pixel-wise maximum). Writes\n"
          "OUT/{train,test}/{image,left_label,right_label,mask}.npy (all uint8): image "
          "[N, 1, 36, 36],\nthe two items' classes [N], and a mask [N, 36, 36] of 0 "
          "(background), 1 (left item),\n2 (right item).\n"
          "\n"
          "  --seed N        the generator's seed (default 1); the same seed gives the same "
          "files\n"
          "  --train-size N  training samples, drawn from the train split (default 120000)\n"
          "  --test-size N   test samples, drawn from the t10k split (default 20000)\n"
          "  --threshold T   mask pixels brighter than T (0-254) belong to an item (default "
          "%d)\n"
          "  --source DIR    the directory of the Fashion-MNIST .gz files (default\n"
          "                  " DEFAULT_SOURCE ", from the Debian\n"
          "                  package dataset-fashion-mnist)\n"
          "  --help          print this and exit\n",
          prog, DEFAULT_THRESHOLD);
}

/* Parses a decimal integer in [lo, hi]; returns 0 or -1. */
static int parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *v) {
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (!*s || *end || errno || x < lo || x > hi) {
    fprintf(stderr, "%s: error: %s expects an integer from %" PRId64 " to %" PRId64
                    ", got '%s'\n", prog, opt, lo, hi, s);
    return -1;
  }
  *v = x;
  return 0;
}

int main(int argc, char **argv) {
  int64_t seed = 1, train_size = 120000, test_size = 20000, threshold = DEFAULT_THRESHOLD;
  const char *source = DEFAULT_SOURCE, *out = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    int64_t *num = !strcmp(a, "--seed")         ? &seed
                   : !strcmp(a, "--train-size") ? &train_size
                   : !strcmp(a, "--test-size")  ? &test_size
                   : !strcmp(a, "--threshold")  ? &threshold
                                                : NULL;
    if (num || !strcmp(a, "--source")) {
      if (i + 1 == argc) {
        fprintf(stderr, "%s: error: %s needs a value\n", prog, a);
        return 2;
      }
      const char *v = argv[++i];
      if (!num)
        source = v;
      else if (num == &seed ? parse_int(a, v, 0, INT64_MAX, num) < 0
               : num == &threshold ? parse_int(a, v, 0, 254, num) < 0
                                   : parse_int(a, v, 1, 100000000, num) < 0)
        return 2;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "%s: error: unknown option '%s'\n", prog, a);
      usage(stderr);
      return 2;
    } else if (out) {
      fprintf(stderr, "%s: error: one output directory expected, got '%s' and '%s'\n", prog,
              out, a);
      return 2;
    } else {
      out = a;
    }
  }
  if (!out) {
    usage(stderr);
    return 2;
  }

  Split train = {0}, test = {0};
  int rc = 1;
  if (load_split(source, "train", &train) < 0)
    goto done;
  if (load_split(source, "t10k", &test) < 0)
    goto done;
  if (make_dir(out) < 0)
    goto done;
  if (write_split(out, "train", &train, (uint64_t)seed, 1, train_size, (int)threshold) < 0)
    goto done;
  if (write_split(out, "test", &test, (uint64_t)seed, 2, test_size, (int)threshold) < 0)
    goto done;
  rc = 0;
done:
  free(train.images);
  free(train.labels);
  free(test.images);
  free(test.labels);
  return rc;
}
