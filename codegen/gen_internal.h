/* gen_internal.h - what the files of codegen/ share beyond the public gen.h.
 * Not for other modules. */
#ifndef GEN_INTERNAL_H
#define GEN_INTERNAL_H

#include <stddef.h>

#include "gen.h"

/* 1 when an append to f failed for lack of memory (the set is then incomplete). */
int gen_files_failed(const gen_files *f);

/* 1 when path is one a file set may hold: relative, non-empty, no empty, "." or ".."
 * component, so writing it under a directory cannot escape that directory. */
int gen_files_path_ok(const char *path);

/* The fewest bytes a value of type n encodes to in Avro binary: 0 for null, a record of
 * such fields (and, past depth 8, any record: recursion) and fixed(0), which is what
 * bounds the item count of an array block by the bytes left (docs/bindings-c.md). Call
 * with depth 0. */
size_t gen_min_size(const reg_node *n, int depth);

#endif
