/* avro_json.h - Avro's JSON encoding <-> Avro binary, driven by a parsed schema.
 *
 * The CLI tools (canon produce, tail, state) let people and scripts read and write Kafka
 * records as JSON. This module converts between the Avro specification's JSON encoding
 * (a jansson json_t) and the Avro binary encoding, walking the registry's reg_node graph
 * (registry/schema.h), so it handles every type the registry accepts: recursive records,
 * unions, maps, fixed, enums and logical types (which use their underlying type's JSON).
 *
 * The JSON encoding (docs/wire.md, "Avro JSON encoding"):
 * - a union value is {"<branch name>": value}, null bare; the branch name is the type
 *   name for unnamed types ("string", "int", "array", "map") and the full name for named
 *   types ("org.example.Address"; the short name is also accepted on input);
 * - bytes and fixed are strings of code points 0-255 (one code point per byte);
 * - float and double accept JSON numbers and the strings "NaN", "Infinity", "-Infinity";
 *   they are written as JSON reals, non-finite values as those strings;
 * - enums are their symbol strings; a record field absent from the JSON takes its default.
 *
 * Plain mode (CANON_AVRO_JSON_PLAIN), for people writing updates by hand:
 * - input: a union value may be given bare ({"email": "x"} instead of
 *   {"email": {"string": "x"}}). A one-member object whose key names a branch is still
 *   read as the wrapped form. A bare value goes to the branch it fits: exact fits first
 *   (null->null, true/false->boolean, integer->int/long, real->float/double,
 *   string->string or an enum having that symbol, array->array, object->record/map),
 *   then loose fits (integer->float/double, string->bytes/fixed). When two branches fit
 *   equally well (["int","long"] and 5) the value is refused as ambiguous, naming the
 *   branches so the writer can wrap it.
 * - output: union values are written bare (readable; not always reversible).
 *
 * Untrusted bytes: the decoder checks every length, count and index against the bytes
 * left and the schema, bounds its recursion, and never reads past the buffer; bad input
 * gives an error (CG_EDECODE) naming the field path and byte offset.
 *
 * Errors name the field path: "values.email: expected string or null, got 12",
 * "address.city: ...", "tags[2]: ...", "attrs[\"k\"]: ...". All functions are reentrant
 * (no shared state) and may be used from several threads on one schema at once.
 */
#ifndef CANON_AVRO_JSON_H
#define CANON_AVRO_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "../common/err.h"
#include "../registry/schema.h"

/* Flags */
#define CANON_AVRO_JSON_PLAIN 1 /* plain mode, see above (input and output) */

/* Encodes value (JSON encoding of a datum of type) to Avro binary, validating it.
 *
 * On success *out is a malloc'd buffer of *out_len bytes the caller frees (*out is never
 * NULL on success, even for a zero-length encoding). On error (CG_EINVAL, message naming
 * the field path) *out is untouched. */
cg_err *canon_avro_json_encode(const reg_node *type, const json_t *value, int flags,
                               unsigned char **out, size_t *out_len);

/* Decodes len bytes of Avro binary of type to its JSON encoding. The bytes must hold
 * exactly one datum (bytes left over are an error). On success *out is a new reference
 * (caller decrefs). Errors: CG_EDECODE (bad bytes, with path and offset), CG_ENOMEM. */
cg_err *canon_avro_json_decode(const reg_node *type, const void *buf, size_t len, int flags,
                               json_t **out);

/* The name of type as a union branch in the JSON encoding ("string", "map",
 * "org.example.Address"). Static or belongs to the schema. */
const char *canon_avro_json_branch_name(const reg_node *type);

#endif
