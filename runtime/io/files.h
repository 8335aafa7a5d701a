/* files.h: how libmtlrt writes files and reports on them (internal). A file is replaced
 * atomically: the new contents go to a temporary file beside the target, which is flushed,
 * synced and renamed over it, so a crash at any moment leaves either the old file or the new
 * one. Errors are one line in the caller's buffer, starting with the file's name. */
#ifndef MTLRT_FILES_H
#define MTLRT_FILES_H

#include <stddef.h>
#include <stdio.h>

/* Creates a new temporary file beside path, "<path>.<pid>.<k>.tmp" (created exclusively),
 * and writes its name into tmp. Returns the stream, or NULL with a reason in *why (a static
 * string or strerror(errno)). */
FILE *mtlrt_atomic_create(const char *path, char *tmp, size_t tmplen, const char **why);

/* Flushes, syncs and closes f, renames tmp over path and syncs the directory. write_failed
 * says that an earlier write to f failed. On failure tmp is removed and -1 returned with a
 * reason in *why; path is untouched. */
int mtlrt_atomic_commit(FILE *f, int write_failed, const char *tmp, const char *path, const char **why);

/* Gives up: closes f (if not NULL) and removes tmp. */
void mtlrt_atomic_discard(FILE *f, const char *tmp);

/* Writes "FILE: message" into err (at most errlen bytes, NUL-terminated; err may be NULL)
 * and returns -1. */
int mtlrt_file_error(char *err, size_t errlen, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
