/* canon_contract.h - the canon contract on canonical subjects.
 *
 * A subject named "canon.<entity>-value" holds a canonical schema: an Avro record whose
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
 */
#ifndef REG_CANON_CONTRACT_H
#define REG_CANON_CONTRACT_H

#include <stddef.h>

#include <jansson.h>

#include "../common/err.h"
#include "schema.h"

/* If subject is "canon.<entity>-value" with a well-formed entity name, copies the entity
 * name into entity (NUL-terminated, at most cap bytes) and returns 1; else returns 0.
 * Subjects such as "canon.person.updates-value" are derived ones and return 0. */
int reg_canon_subject_entity(const char *subject, char *entity, size_t cap);

/* 1 if entity[0..len) is a well-formed entity name / domain is a well-formed domain name
 * (rules above), else 0. Additions to the lead's header. */
int reg_canon_entity_valid(const char *entity, size_t len);
int reg_canon_domain_valid(const char *domain);

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
