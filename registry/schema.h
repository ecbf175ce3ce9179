/* schema.h - the registry's model of an Avro schema.
 *
 * A reg_schema is a parsed, validated Avro schema: a graph of reg_node (named types may
 * be referenced many times and may be recursive, so it is a graph, not a tree). The
 * parser keeps everything the registry needs and Avro C throws away: field defaults,
 * aliases, doc, logical types, enum defaults and custom properties (canon.key,
 * canon.writers). Schema text is checked by Avro C as well as by our own rules, so that
 * what we accept the reference library also accepts, except where Avro C 1.11.1
 * contradicts the specification (schema.c, avroc_known_bug(): such a schema is accepted
 * with a warning saying so).
 *
 * Ownership: every reg_node belongs to the reg_schema that parsed it (or to a schema it
 * references, see reg_schema_parse()); nodes live until reg_schema_free(). A parsed
 * schema is immutable and may be read from any thread.
 */
#ifndef REG_SCHEMA_H
#define REG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/err.h"

typedef enum reg_type {
    REG_NULL,
    REG_BOOLEAN,
    REG_INT,
    REG_LONG,
    REG_FLOAT,
    REG_DOUBLE,
    REG_BYTES,
    REG_STRING,
    REG_RECORD, /* also "error" */
    REG_ENUM,
    REG_ARRAY,
    REG_MAP,
    REG_UNION,
    REG_FIXED,
} reg_type;

/* Logical types the registry understands. An unknown or invalid logicalType annotation
 * is ignored (REG_LT_NONE) as the specification says, with a warning. */
typedef enum reg_logical {
    REG_LT_NONE,
    REG_LT_DECIMAL, /* bytes or fixed; precision, scale */
    REG_LT_UUID,    /* string (or fixed 16) */
    REG_LT_DATE,
    REG_LT_TIME_MILLIS,
    REG_LT_TIME_MICROS,
    REG_LT_TIMESTAMP_MILLIS,
    REG_LT_TIMESTAMP_MICROS,
    REG_LT_TIMESTAMP_NANOS,
    REG_LT_LOCAL_TIMESTAMP_MILLIS,
    REG_LT_LOCAL_TIMESTAMP_MICROS,
    REG_LT_LOCAL_TIMESTAMP_NANOS,
    REG_LT_DURATION, /* fixed 12 */
} reg_logical;

typedef struct reg_node reg_node;

typedef struct reg_field {
    char *name;
    char **aliases; /* NULL-terminated; NULL when none */
    size_t n_aliases;
    char *doc; /* NULL when absent */
    reg_node *type;
    json_t *default_json; /* NULL when the field has no default; owned */
    int order;            /* 1 ascending (default), -1 descending, 0 ignore */
    json_t *props;        /* custom properties (e.g. canon.writers); owned; may be NULL */
    size_t index;         /* position in the record */
} reg_field;

struct reg_node {
    reg_type type;
    reg_logical logical;
    int precision, scale; /* decimal */

    /* named types (record, enum, fixed) */
    char *name;       /* short name */
    char *namespace_; /* NULL or "" when none */
    char *fullname;   /* namespace.name, or name */
    char **aliases;   /* fullnames, NULL-terminated; NULL when none */
    size_t n_aliases;
    char *doc;

    /* record */
    reg_field *fields;
    size_t n_fields;

    /* enum */
    char **symbols;
    size_t n_symbols;
    char *enum_default; /* NULL when none */

    /* array items, map values */
    reg_node *items;

    /* union */
    reg_node **branches;
    size_t n_branches;

    /* fixed */
    size_t size;

    json_t *props; /* custom properties of this type (e.g. canon.key); owned; may be NULL */

    int is_error; /* record declared as "error" (Avro protocols); kept for canonical form */
};

typedef struct reg_schema reg_schema;

/* How deep a schema's text may nest types: the top-level type is level 1, and each
 * record field's type, union branch, array item and map value one more. A named type
 * used by name is one level, wherever it is defined. */
#define REG_SCHEMA_MAX_DEPTH 128

/* Parses and validates Avro schema text.
 *
 * refs: schemas this one references (Confluent schema references); their named types
 * are visible to the parse as if defined before it. They must outlive the result. May be
 * NULL when n_refs is 0.
 *
 * Checks: JSON syntax, the specification's rules (names, namespaces, duplicate names,
 * symbols, fixed size, unions without nested unions or duplicate unnamed branches,
 * decimal precision/scale), and field and enum defaults against their types (a union
 * default must match the first branch). Returns an error with code CG_EINVALID_SCHEMA
 * whose message names what is wrong and where ("field 'person.email': default 1 does not
 * match type string").
 *
 * Where the specification is silent or other implementations differ (duplicate JSON
 * keys: refused; a short name resolves only in the enclosing namespace, without Java's
 * fallback to the null namespace; ...), the choices are listed at the top of schema.c.
 * Thread-safe: may be called from several threads at once.
 *
 * On success *out is a new schema the caller owns (reg_schema_free()). */
cg_err *reg_schema_parse(const char *text, size_t len, const reg_schema *const *refs, size_t n_refs,
                         reg_schema **out);

void reg_schema_free(reg_schema *s); /* NULL is fine */

/* The top-level node. Belongs to s. */
const reg_node *reg_schema_root(const reg_schema *s);

/* Looks up a named type by full name, in s and the schemas it references. NULL if none. */
const reg_node *reg_schema_find(const reg_schema *s, const char *fullname);

/* Parsing Canonical Form (Avro specification), NUL-terminated. Belongs to s and lives
 * until reg_schema_free(). Computed once at parse time. */
const char *reg_schema_canonical(const reg_schema *s);

/* CRC-64-AVRO (Rabin) fingerprint of the canonical form. */
uint64_t reg_schema_fingerprint(const reg_schema *s);

/* Rabin fingerprint of arbitrary bytes (exposed for tests and for other parts). */
uint64_t reg_fingerprint64(const void *buf, size_t len);

/* MD5 (16 bytes) and SHA-256 (32 bytes) of the canonical form. */
void reg_schema_md5(const reg_schema *s, unsigned char out[16]);
void reg_schema_sha256(const reg_schema *s, unsigned char out[32]);

/* The normalized form used by Confluent's `normalize=true`: canonical form plus the
 * attributes canonical form drops but that matter (defaults, aliases, logical types,
 * order, custom properties), with keys in a fixed order and no whitespace. Two schemas
 * that differ only in whitespace, key order or doc have the same normalized form. This
 * is what the registry uses as a schema's identity. Belongs to s. */
const char *reg_schema_normalized(const reg_schema *s);

/* Warnings the parse produced (e.g. an ignored unknown logical type), NULL-terminated
 * array of strings; NULL when none. Belongs to s. */
const char *const *reg_schema_warnings(const reg_schema *s);

/* The name of a type as Avro writes it ("int", "record", ...). Static string. */
const char *reg_type_name(reg_type t);

/* Checks a JSON default value against a type (as for a field default). Returns NULL when
 * it matches; else an error (CG_EINVALID_SCHEMA) naming path. */
cg_err *reg_default_check(const reg_node *type, const json_t *value, const char *path);

/* ---- additions (schema engineer) ----------------------------------------------- */

/* Node identity: within one schema every attribute-less primitive ("string" or
 * {"type": "string"}) is one shared node (memory: thousands of schemas are held), so a
 * node pointer identifies a type, not a position; named types are one node each, as
 * always. Nodes are never shared between schemas, except a referenced schema's. */

/* The logicalType name ("decimal", "timestamp-millis", ...), or NULL for REG_LT_NONE.
 * Static string. */
const char *reg_logical_name(reg_logical l);

/* 1 if name is a valid Avro name ([A-Za-z_][A-Za-z0-9_]*), else 0. */
int reg_name_valid(const char *name);

/* Named types defined by s itself (not its references), in order of definition. */
size_t reg_schema_named_count(const reg_schema *s);
const reg_node *reg_schema_named_at(const reg_schema *s, size_t i); /* belongs to s */

/* The Parsing Canonical Form / normalized form of the type rooted at n, as a new
 * NUL-terminated string the caller frees; NULL when memory is short. */
char *reg_node_canonical(const reg_node *n);
char *reg_node_normalized(const reg_node *n);

/* The Avro JSON of the type rooted at n: every named type written in full at its first
 * occurrence (with its full name as "name", no "namespace") and by full name after;
 * with defaults, aliases, order, logical types and custom properties; with doc when
 * flags has REG_JSON_DOC. A standalone schema (references inlined) that any Avro parser
 * accepts; useful to build derived schemas. Returns a new reference (caller decrefs), or
 * NULL when memory is short. */
#define REG_JSON_DOC 1
json_t *reg_node_json(const reg_node *n, int flags);

/* A writer of several types or fields that end up in one schema (e.g. a derived record
 * whose fields are a canonical record's): a named type is written in full the first
 * time the writer meets it and by full name after, so the pieces assemble into a valid
 * schema. Same output as reg_node_json() otherwise. One writer per thread; _new returns
 * NULL when memory is short; the json_t results are new references (caller decrefs),
 * NULL when memory is short. _mark records a named type as already written (e.g. the
 * record being built, so that a recursive field refers to it by name): 0, or -1 when
 * memory is short. */
typedef struct reg_json_writer reg_json_writer;
reg_json_writer *reg_json_writer_new(int flags);
json_t *reg_json_writer_type(reg_json_writer *w, const reg_node *n);
json_t *reg_json_writer_field(reg_json_writer *w, const reg_field *f);
int reg_json_writer_mark(reg_json_writer *w, const reg_node *n);
void reg_json_writer_free(reg_json_writer *w); /* NULL is fine */

/* The default of a field as JSON normalized against its type (numbers of float/double
 * as reals, record defaults with keys in field order and missing fields filled from
 * their defaults). Returns a new reference, or NULL if value does not match type. */
json_t *reg_default_normalize(const reg_node *type, const json_t *value);

#endif
