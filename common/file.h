/* file.h - reading a whole file into memory, for the commands and loaders that take
 * schema, mapping or data files.
 *
 * One function so that every command reports a missing, unreadable or oversized file the
 * same way ("cannot read 'x.avsc': No such file or directory"), and so that no caller can
 * be made to read an unbounded stream into memory. */
#ifndef CG_FILE_H
#define CG_FILE_H

#include <stddef.h>

#include "err.h"

/* Reads all of path ("-" means stdin) into a new NUL-terminated buffer the caller frees;
 * *len excludes the NUL. Files larger than max_bytes are refused (CG_EINVAL) without
 * reading further. Errors: CG_EIO (open/read, with strerror), CG_EINVAL, CG_ENOMEM; on
 * error *out and *len are untouched. */
cg_err *cg_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

#endif
