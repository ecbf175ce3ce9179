/* compat.h - Avro schema compatibility (reader/writer resolution) and the registry's
 * compatibility levels.
 *
 * Implements the resolution rules of the Avro specification, section "Schema
 * Resolution", and the registry's levels on top of them. A check walks both schemas
 * together and reports every difference it finds, each with the field path and the rule,
 * in the style of Confluent's verbose messages.
 */
#ifndef REG_COMPAT_H
#define REG_COMPAT_H

#include <stddef.h>

#include "../common/err.h"
#include "schema.h"

typedef enum reg_compat_level {
    REG_COMPAT_NONE,
    REG_COMPAT_BACKWARD,
    REG_COMPAT_BACKWARD_TRANSITIVE,
    REG_COMPAT_FORWARD,
    REG_COMPAT_FORWARD_TRANSITIVE,
    REG_COMPAT_FULL,
    REG_COMPAT_FULL_TRANSITIVE,
} reg_compat_level;
/* The levels are 0 .. REG_COMPAT_LEVEL_COUNT - 1, in the order above, so tools and tests
 * can go through all of them. Not a level itself, and kept out of the enum so a switch
 * over the levels needs no case for it; it follows the last level above. */
enum { REG_COMPAT_LEVEL_COUNT = REG_COMPAT_FULL_TRANSITIVE + 1 };

/* "BACKWARD" etc. Static string. */
const char *reg_compat_level_name(reg_compat_level l);
/* Parses a level name (case-insensitive). Returns 0 on success, -1 if unknown. */
int reg_compat_level_parse(const char *name, reg_compat_level *out);

/* The list of incompatibilities a check found; empty means compatible. */
typedef struct reg_compat_result reg_compat_result;

reg_compat_result *reg_compat_result_new(void);
void reg_compat_result_free(reg_compat_result *r); /* NULL is fine */
size_t reg_compat_result_count(const reg_compat_result *r);
/* One message per incompatibility, e.g.
 * "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at
 * path '/fields/2' in the new schema has no default value and is missing in the old
 * schema', additionalInfo:'email', version: 3, ...}". Belongs to r. */
const char *reg_compat_result_message(const reg_compat_result *r, size_t i);

/* Can data written with `writer` be read with `reader`? Appends each problem to r,
 * tagged with version (the registered version of the other schema, for messages; 0 when
 * not applicable). Returns the number of problems appended. */
size_t reg_compat_can_read(const reg_schema *reader, const reg_schema *writer, int version,
                           reg_compat_result *r);

/* Checks a new schema against existing ones under a level. existing[] is in version
 * order (oldest first), versions[] gives their version numbers. Non-transitive levels
 * check against the last one only. Appends problems to r; returns r's count. */
size_t reg_compat_check(reg_compat_level level, const reg_schema *candidate,
                        const reg_schema *const *existing, const int *versions, size_t n,
                        reg_compat_result *r);

/* Flags for the _ex forms.
 *   REG_COMPAT_STRICT_LOGICAL: two different logical types on the two sides (e.g.
 *     timestamp-millis vs timestamp-micros, time-millis vs timestamp-millis) are a
 *     TYPE_MISMATCH. Off by default: the specification resolves on the underlying types
 *     and compares only decimal precision and scale (always checked). See compat.c.
 *   REG_COMPAT_READER_IS_OLD: wording only; the reader is called the "old" schema and
 *     the writer the "new" one in messages (a FORWARD check). reg_compat_check_ex sets
 *     it itself per direction. */
enum {
    REG_COMPAT_STRICT_LOGICAL = 1u << 0,
    REG_COMPAT_READER_IS_OLD = 1u << 1,
};

/* reg_compat_can_read with flags. Messages call the reader "new" unless
 * REG_COMPAT_READER_IS_OLD. r may be NULL to get only the count (no messages built).
 * At most 100 problems are listed per pair; more are counted in one last message with
 * errorType 'MORE_PROBLEMS' (the return value counts messages appended, so it is > 0
 * exactly when the schemas are incompatible). */
size_t reg_compat_can_read_ex(const reg_schema *reader, const reg_schema *writer, int version,
                              unsigned flags, reg_compat_result *r);

/* reg_compat_check with flags (REG_COMPAT_STRICT_LOGICAL). versions may be NULL (then
 * 1..n). Transitive levels check every existing version, oldest first, and report the
 * problems of each (each message names its version: "version: 2").
 * r may be NULL: then nothing is formatted and the number of problems is returned (this
 * holds for reg_compat_check too). */
size_t reg_compat_check_ex(reg_compat_level level, const reg_schema *candidate,
                           const reg_schema *const *existing, const int *versions, size_t n,
                           unsigned flags, reg_compat_result *r);

#endif
