/* check_multifashion: reads make_multifashion's output back with libmtlrt's NPY reader and
 * checks it: the types and shapes, labels in 0..9 with several classes present, mask values
 * in 0..2 with all three present, and a mask that agrees with the image (non-zero exactly
 * where the image is above the threshold, 1 only inside the left item's square, 2 only
 * inside the right item's).
 *
 * usage: check_multifashion OUT TRAIN_SIZE TEST_SIZE THRESHOLD */
#include "mtlrt_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SIDE = 36, SRC = 28, SHIFT = 8 };

static int failures;

static void fail(const char *path, const char *what) {
  fprintf(stderr, "check_multifashion: %s: %s\n", path, what);
  failures++;
}

static int open_checked(const char *dir, const char *name, int rank, const int64_t *shape,
                        mtlrt_npy *a) {
  char path[4096], err[512];
  snprintf(path, sizeof path, "%s/%s.npy", dir, name);
  if (mtlrt_npy_open(path, a, err, sizeof err) < 0) {
    fail(path, err);
    return -1;
  }
  if (a->type != MTLRT_NPY_U1)
    fail(path, "the type is not |u1");
  int same = a->rank == rank;
  for (int i = 0; same && i < rank; i++)
    same = a->shape[i] == shape[i];
  if (!same) {
    fail(path, "unexpected shape");
    mtlrt_npy_close(a);
    return -1;
  }
  return 0;
}

static void check_split(const char *out, const char *split, int64_t n, int threshold) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", out, split);
  const int64_t ishape[] = {n, 1, SIDE, SIDE}, lshape[] = {n}, mshape[] = {n, SIDE, SIDE};
  mtlrt_npy image, left, right, mask;
  int ok = open_checked(dir, "image", 4, ishape, &image) == 0;
  ok &= open_checked(dir, "left_label", 1, lshape, &left) == 0;
  ok &= open_checked(dir, "right_label", 1, lshape, &right) == 0;
  ok &= open_checked(dir, "mask", 3, mshape, &mask) == 0;
  if (!ok) {
    fprintf(stderr, "check_multifashion: %s: cannot check the contents\n", dir);
    exit(1);
  }

  int64_t classes[2][10] = {{0}}, pixels[3] = {0}, bad_label = 0, bad_mask = 0;
  for (int64_t s = 0; s < n; s++) {
    const unsigned char *lab[2] = {left.data + s, right.data + s};
    for (int k = 0; k < 2; k++) {
      if (*lab[k] < 10)
        classes[k][*lab[k]]++;
      else
        bad_label++;
    }
    const unsigned char *im = image.data + s * SIDE * SIDE, *m = mask.data + s * SIDE * SIDE;
    for (int y = 0; y < SIDE; y++) {
      for (int x = 0; x < SIDE; x++) {
        int v = im[y * SIDE + x], c = m[y * SIDE + x];
        int in_left = y < SRC && x < SRC, in_right = y >= SHIFT && x >= SHIFT;
        if (c > 2 || (c != 0) != (v > threshold) || (c == 1 && !in_left) ||
            (c == 2 && !in_right) || (!in_left && !in_right && v != 0))
          bad_mask++;
        else
          pixels[c]++;
      }
    }
  }
  int present[2] = {0, 0};
  for (int k = 0; k < 2; k++)
    for (int c = 0; c < 10; c++)
      present[k] += classes[k][c] > 0;
  if (bad_label)
    fail(dir, "a label is outside 0..9");
  if (present[0] < 5 || present[1] < 5)
    fail(dir, "fewer than 5 classes among the left or the right labels");
  if (bad_mask)
    fail(dir, "the mask disagrees with the image");
  if (!pixels[0] || !pixels[1] || !pixels[2])
    fail(dir, "a mask class never occurs");
  double all = (double)n * SIDE * SIDE;
  printf("%s: %" PRId64 " samples, %d/%d classes left/right, mask %.1f%% background, %.1f%% "
         "left, %.1f%% right\n", dir, n, present[0], present[1], 100.0 * pixels[0] / all,
         100.0 * pixels[1] / all, 100.0 * pixels[2] / all);
  mtlrt_npy_close(&image);
  mtlrt_npy_close(&left);
  mtlrt_npy_close(&right);
  mtlrt_npy_close(&mask);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: check_multifashion OUT TRAIN_SIZE TEST_SIZE THRESHOLD\n");
    return 2;
  }
  check_split(argv[1], "train", strtoll(argv[2], NULL, 10), atoi(argv[4]));
  check_split(argv[1], "test", strtoll(argv[3], NULL, 10), atoi(argv[4]));
  return failures ? 1 : 0;
}
