/* mapping.h - the declarative translator's mapping: file format, validation, and the
 * function that turns one domain record into one encoded canonical update (prefix tr_).
 *
 * A mapping file (JSON; docs/translators.md is the reference, docs/mapping.schema.json
 * its JSON Schema) says which domain topic to read, which canonical entity it feeds, as
 * which domain, how to build the universal identifier, and how each canonical field is
 * computed from a domain record. The declarative translator (`canon translate`,
 * translators/run.c) loads it, binds it to the registered schemas, then calls
 * tr_mapping_apply() once per consumed record and produces the result.
 *
 * Life cycle:
 *   tr_mapping_load() / _parse()  syntax and structure of the file (errors name
 *                                 file:line and the option)
 *   tr_mapping_bind()             every mapping checked against the canonical schema and
 *                                 the update schema; plans precomputed (errors name
 *                                 file:line and the field)
 *   tr_mapping_apply()            per record; no schema lookups, no allocation once the
 *                                 tr_output buffers have grown
 *
 * API as agreed with the runner: unchanged. Additions: tr_mapping_name(),
 * tr_mapping_key_field(), tr_mapping_apply_text() (JSON text in: faster than jansson +
 * apply), tr_uuid_v5(), tr_uuid_parse(); tr_output has private scratch members (use
 * tr_output_init()/_free(), never a struct copy).
 *
 * Input records are JSON (jansson). A runner reading Avro input should decode it with
 * canon_avro_json_decode(..., CANON_AVRO_JSON_PLAIN, ...) (canon/avro_json.h) so that union
 * values are bare ("email": "x", not {"string": "x"}) and paths read as in JSON input.
 *
 * Universal identifier as a UUID (name-based, RFC 4122 version 5, SHA-1): when the
 * canonical key field has logicalType uuid (person_id), the key is by default
 *   uuid5(namespace, normalised id)   namespace = uuid5(NAMESPACE_URL, "canongate:<entity>")
 * NAMESPACE_URL = 6ba7b811-9dad-11d1-80b4-00c04fd430c8; "namespace" in the mapping's key
 * section overrides it. In Python: uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL,
 * "canongate:person"), "alice@example.com"); in Java: a v5 UUID the same way (Java's
 * nameUUIDFromBytes is v3/MD5: do not use it). Every domain that derives the id the same
 * way from the same normalised text gets the same key.
 *
 * Thread-safety: a bound mapping is immutable; tr_mapping_apply() may run on several
 * threads at once on one mapping, each with its own tr_output.
 */
#ifndef TR_MAPPING_H
#define TR_MAPPING_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../codegen/c_runtime/canon_rt.h"
#include "../common/err.h"
#include "../registry/schema.h"

typedef struct tr_mapping tr_mapping;

typedef enum tr_format { TR_FORMAT_JSON, TR_FORMAT_AVRO } tr_format;

/* ---- loading ------------------------------------------------------------------- */

/* Reads the file at path and parses it as tr_mapping_parse() with name = path.
 * Errors: CG_EIO (cannot read), else as tr_mapping_parse(). On success *out is a new
 * mapping the caller owns (tr_mapping_free()). */
cg_err *tr_mapping_load(const char *path, tr_mapping **out);

/* Parses mapping text (len bytes; need not be NUL-terminated). name is used in error
 * messages ("hr.json:14: ...") and copied. Checks JSON syntax (duplicate keys refused),
 * the structure of the format (unknown options are refused with a suggestion: "hr.json:9:
 * unknown option 'form' in field 'email'; did you mean 'from'?"), paths, normalisations,
 * date/time formats. Errors: CG_EPARSE (JSON syntax), CG_EINVAL (structure), CG_ENOMEM.
 * On success *out is a new mapping, not yet bound. */
cg_err *tr_mapping_parse(const char *text, size_t len, const char *name, tr_mapping **out);

void tr_mapping_free(tr_mapping *m); /* NULL is fine */

/* ---- what the mapping says (strings belong to m, valid until tr_mapping_free) ----- */

const char *tr_mapping_name(const tr_mapping *m);         /* name given at parse */
const char *tr_mapping_source_topic(const tr_mapping *m); /* the domain topic */
tr_format tr_mapping_format(const tr_mapping *m);
const char *tr_mapping_entity(const tr_mapping *m);    /* canonical entity, e.g. "person" */
const char *tr_mapping_domain(const tr_mapping *m);    /* the update's `source` */
const char *tr_mapping_dlq_topic(const tr_mapping *m); /* default "<source topic>.dlq" */
/* The canonical key field's name (e.g. "person_id"); NULL before tr_mapping_bind(). */
const char *tr_mapping_key_field(const tr_mapping *m);

/* ---- binding ------------------------------------------------------------------- */

/* Checks every mapping against the entity's canonical schema (registry subject
 * canon.<entity>.entity: field names, types, canon.writers for this domain, canon.key)
 * and the update schema (canon.<entity>.updates-value, whose id frames the output), and
 * prepares apply. Errors (CG_EINVAL) name the mapping file's line and the field:
 *   "hr.json:14: field 'emial' is not in canonical person; did you mean 'email'?"
 *   "support.json:9: domain 'support' may not write 'birth_date' (canon.writers: hr)"
 * Both schemas are only read during the call; m keeps no pointer into them. A mapping is
 * bound once; binding again returns CG_ESTATE. */
cg_err *tr_mapping_bind(tr_mapping *m, const reg_schema *canonical, const reg_schema *update,
                        int32_t update_schema_id);

/* ---- applying ------------------------------------------------------------------ */

typedef struct tr_output { /* reused between calls; owned by the caller */
    canon_buf key;         /* the universal identifier, UTF-8 (Kafka key) */
    canon_buf value;       /* Confluent-framed Avro binary of the update */
    int is_delete;
    /* private: scratch space reused between calls */
    canon_buf values_, provided_, text_;
    struct tr_val *vals_; /* the record's value at each path the mapping reads */
    size_t vals_cap_;
    json_t **made_; /* values tr_mapping_apply_text() built; released by the next call */
    size_t n_made_, made_cap_;
} tr_output;

void tr_output_init(tr_output *o);
void tr_output_free(tr_output *o); /* frees the buffers; o may be initialised again */

/* One domain record (JSON; Avro input is decoded to JSON by the runner) -> one update.
 * record_ts_ms: the Kafka record timestamp (event time when the mapping says so); seq: the
 * update's seq (the runner passes the source offset). m must be bound (else CG_ESTATE).
 * On success out->key and out->value hold the update (out->is_delete says whether it is a
 * DELETE). Errors (CG_EINVAL) name the domain field and what was wrong, for the DLQ
 * reason: "field 'dob' (-> birth_date): '31/02/1990' is not a valid date for format
 * '%d/%m/%Y'"; out's contents are then unspecified. Reentrant for distinct tr_output. */
cg_err *tr_mapping_apply(const tr_mapping *m, const json_t *record, int64_t record_ts_ms,
                         int64_t seq, tr_output *out);

/* The same as json_loadb(text, len, 0, ...) followed by tr_mapping_apply(), with the
 * same result (bytes, or error) for every input, but faster: the record's text is
 * scanned once, fully validated as JSON (jansson's rules: UTF-8, escapes, no NUL, number
 * ranges, nesting), and only the values the mapping reads are built, instead of a whole
 * jansson tree. Errors: CG_EPARSE for text that is not JSON ("record is not valid JSON:
 * <reason> at byte N"), else as tr_mapping_apply(). For JSON input this is what the
 * runner should call. */
cg_err *tr_mapping_apply_text(const tr_mapping *m, const char *text, size_t len,
                              int64_t record_ts_ms, int64_t seq, tr_output *out);

/* ---- helpers ------------------------------------------------------------------- */

/* RFC 4122 name-based UUID, version 5 (SHA-1 via GnuTLS), in its 36-character text form
 * (lower-case hex) plus NUL into out. Returns 0, or -1 if hashing failed. */
int tr_uuid_v5(const uint8_t ns[16], const char *name, size_t len, char out[37]);

/* Parses a UUID's text form (any case) into 16 bytes: 0, or -1 if s is not one. */
int tr_uuid_parse(const char *s, size_t len, uint8_t out[16]);

#endif
