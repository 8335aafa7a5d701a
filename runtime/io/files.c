/* files.c: replacing a file so that a crash never leaves a broken one, and the one-line
 * error messages that name the file (see files.h); used by every reader and writer of
 * libmtlrt: checkpoints, data files, plots. */
#define _POSIX_C_SOURCE 200809L

#include "files.h"

#include <stdarg.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

FILE *mtlrt_atomic_create(const char *path, char *tmp, size_t tmplen, const char **why) {
  int fd = -1;
  for (int k = 0; k < 100 && fd < 0; k++) {
    int len = snprintf(tmp, tmplen, "%s.%ld.%d.tmp", path, (long)getpid(), k);
    if (len < 0 || (size_t)len >= tmplen) {
      *why = "the file name is too long";
      return NULL;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) {
      *why = strerror(errno);
      return NULL;
    }
  }
  if (fd < 0) {
    *why = "every temporary name is taken";
    return NULL;
  }
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    *why = strerror(errno);
    close(fd);
    remove(tmp);
  }
  return f;
}

/* Makes the rename durable; a failure here loses nothing the rename did not already do. */
static void sync_dir(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  size_t len = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
  if (len >= sizeof dir)
    return;
  memcpy(dir, slash ? path : ".", len);
  dir[len] = '\0';
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

int mtlrt_atomic_commit(FILE *f, int write_failed, const char *tmp, const char *path, const char **why) {
  int e = write_failed ? (errno ? errno : EIO) : 0;
  errno = 0;
  if (!e && (fflush(f) != 0 || ferror(f)))
    e = errno ? errno : EIO;
  else if (!e && fsync(fileno(f)) != 0)
    e = errno;
  if (fclose(f) != 0 && !e)
    e = errno ? errno : EIO;
  if (!e && rename(tmp, path) != 0)
    e = errno;
  if (e) {
    remove(tmp);
    *why = strerror(e);
    return -1;
  }
  sync_dir(path);
  return 0;
}

void mtlrt_atomic_discard(FILE *f, const char *tmp) {
  if (f)
    fclose(f);
  remove(tmp);
}

int mtlrt_file_error(char *err, size_t errlen, const char *file, const char *fmt, ...) {
  if (err && errlen > 0) {
    int k = snprintf(err, errlen, "%s: ", file);
    if (k >= 0 && (size_t)k < errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return -1;
}
