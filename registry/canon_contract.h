/* canon_contract.h - the canon contract on canonical subjects.
 *
 * Each entity has three subjects (docs/wire.md): "canon.<entity>.entity" holds the
 * canonical schema, "canon.<entity>.updates-value" the update schema and
 * "canon.<entity>-value" the envelope schema, both derived by the registry
 * (canon_derive.h). The canonical schema is an Avro record whose
 * record property "canon.key" names its universal-identifier field (a string, or a string
 * with logicalType uuid), and whose fields may carry "canon.writers": a non-empty array of
 * distinct domain names allowed to set or clear that field (absent: any domain). See
 * ../shared/DESIGN.md, "The canon contract".
 *
 * Names (decided here; every part that names entities or domains uses these checks):
 * - entity: [a-z][a-z0-9_]*, at most 64 characters. No '.', which separates derived
 *   topics and subjects (canon.person.updates); no '-', which ends the entity part of a
 *   subject (-value) and is not an identifier in generated C, Python or Java code.
 * - domain (an entry of canon.writers, the `source` of an update): [a-z0-9][a-z0-9_.-]*,
 *   at most 64 characters: safe in Kafka topic names, headers and file names.
 * - canon.key names a top-level field whose type is string (with or without logicalType
 *   uuid): not a union (the key may never be null), not a number (keys are UTF-8 bytes on
 *   the wire). The key field carries no canon.writers (every update carries the key).
 * - canon.writers is allowed only on the canonical record's own fields; on a nested
 *   record's field it would restrict nothing, so it is refused.
 * - No field of the canonical record has type "null": it could hold no value, and the
 *   update schema's optional("null") would be ["null", "null"], no valid union.
 */
#ifndef REG_CANON_CONTRACT_H
#define REG_CANON_CONTRACT_H

#include <stddef.h>

#include <jansson.h>

#include "../common/err.h"
#include "schema.h"

/* The subjects of an entity. */
typedef enum reg_canon_subject_kind {
    REG_CANON_SUBJECT_NONE = 0, /* not a canon subject */
    REG_CANON_SUBJECT_ENTITY,   /* canon.<entity>.entity: the canonical schema */
    REG_CANON_SUBJECT_UPDATES,  /* canon.<entity>.updates-value: the update schema */
    REG_CANON_SUBJECT_ENVELOPE, /* canon.<entity>-value: the envelope schema */
} reg_canon_subject_kind;

/* Which of an entity's subjects subject is, for a well-formed entity name; copies the
 * entity name into entity (NUL-terminated; may be NULL when cap is 0). Returns
 * REG_CANON_SUBJECT_NONE for any other subject, or when the name does not fit in cap. */
reg_canon_subject_kind reg_canon_subject_parse(const char *subject, char *entity, size_t cap);

/* Writes the name of an entity's subject of kind into buf (NUL-terminated). Returns 0, or
 * -1 when it does not fit, kind is NONE or entity is not a well-formed entity name. */
int reg_canon_subject_name(reg_canon_subject_kind kind, const char *entity, char *buf, size_t cap);

/* 1 if subject is one of an entity's three subjects (see reg_canon_subject_parse(),
 * which also says which), copying the entity name as it does; else 0. All three default
 * to FULL_TRANSITIVE and use the strict logical-type rule of the compatibility check. */
int reg_canon_subject_entity(const char *subject, char *entity, size_t cap);

/* 1 if entity[0..len) is a well-formed entity name / domain is a well-formed domain name
 * (rules above), else 0. Additions to the lead's header. */
int reg_canon_entity_valid(const char *entity, size_t len);
int reg_canon_domain_valid(const char *domain);

/* 1 if s looks like a canonical schema, i.e. its root is a record with a "canon.key"
 * property (whether or not the rest of the contract holds): what tells a canonical schema
 * posted to canon.<entity>-value (accepted as a convenience) from an envelope. */
int reg_canon_has_key(const reg_schema *s);

/* 1 if field f has a default or null among its types (null itself, or a union with a null
 * branch), else 0: what the contract wants of every field of a canonical record but its
 * key, and what lets a field be cleared (back to its default, or null). */
int reg_canon_field_clearable(const reg_field *f);

/* Checks the contract on a schema registered under a canonical subject. Returns NULL when
 * it holds, else an error with code CG_EINVALID_SCHEMA naming what is wrong ("canon.key
 * 'id' names no field of record 'Person'"). */
cg_err *reg_canon_validate(const reg_schema *s);

/* Describes a canonical schema for GET /canon/entities/{entity}:
 *   {"entity": E, "record": fullname, "keyField": name,
 *    "fields": [{"name": n, "type": <Avro type JSON as written>, "writers": [..] or null}]}
 * Returns a new reference (caller decrefs), or NULL if s does not satisfy the contract. */
json_t *reg_canon_entity_json(const char *entity, const reg_schema *s);

#endif
