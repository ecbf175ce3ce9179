/* canon_derive.h - the schemas the registry derives from a canonical schema.
 *
 * For each canonical schema (the bare entity record with canon.key, subject
 * canon.<entity>.entity) the registry registers two more, exactly as docs/wire.md
 * specifies: the update schema (what domains write to canon.<entity>.updates, subject
 * canon.<entity>.updates-value) and the envelope schema (what the aggregator writes to
 * the canon topic, subject canon.<entity>-value). The aggregator, the translators and
 * every generated binding rely on these definitions, so they are built here, in one
 * place, and nowhere else.
 *
 * Output: compact JSON (no whitespace), object members in the order docs/wire.md shows
 * them. The same canonical schema always gives the same bytes (a re-registration then
 * finds the existing version), and the text always parses with reg_schema_parse() (it is
 * checked before it is returned). Named types of the canonical schema keep their full
 * names; each is written in full where it first appears and by full name after, so
 * recursive types stay valid. Types of referenced schemas (Confluent schema references)
 * are inlined: a derived schema stands alone.
 *
 * Thread-safe: no shared state; the canonical schema is only read.
 */
#ifndef REG_CANON_DERIVE_H
#define REG_CANON_DERIVE_H

#include "../common/err.h"
#include "canon_contract.h"
#include "schema.h"

/* Namespace of the framework types (UpdateOp, ChangeOp, FieldVersion, Cause). A canonical
 * schema may not define or use a type in it (or below it: "canongate.x"). */
#define REG_CANON_FRAMEWORK_NS "canongate"

/* Builds the update schema "<N>Update" (docs/wire.md, "The update schema").
 *
 * canonical: a schema that satisfies the canon contract (reg_canon_validate(); checked
 * again here). On success *json_out is a new NUL-terminated string the caller frees with
 * free(). Errors (CG_EINVALID_SCHEMA, message names the clash): the canonical schema is
 * not a valid canonical schema; it defines or uses a type in namespace canongate; a named
 * type of it has the full name of <N>Update or <N>Values; the key field is named like a
 * field of the update record (source, event_time, seq, op, provided, values). CG_ENOMEM
 * when memory is short. *json_out is untouched on error. */
cg_err *reg_canon_derive_update(const reg_schema *canonical, char **json_out);

/* Builds the envelope schema "<N>Envelope" (docs/wire.md, "The envelope schema").
 * Same contract as reg_canon_derive_update(); the clash checked is <N>Envelope (and the
 * canongate namespace). */
cg_err *reg_canon_derive_envelope(const reg_schema *canonical, char **json_out);

/* ---- registration at an entity's subjects -------------------------------------- */

/* What a registration at one of an entity's subjects amounts to (docs/wire.md):
 * - derived == 1: register the posted canonical schema at subject[0]
 *   (canon.<entity>.entity), text[1] at subject[1] (canon.<entity>.updates-value) and
 *   text[2] at subject[2] (canon.<entity>-value), each checked against its own subject's
 *   history under that subject's level, in one store transaction, all or nothing; the
 *   answer is the canonical schema's id.
 * - derived == 0: register the posted schema at the posted subject, as for any subject
 *   (IMPORT mode, which copies registries subject by subject).
 * role[i] names the schema for messages ("canonical", "update", "envelope"). */
#define REG_CANON_SUBJECT_MAX 96 /* "canon." + 64-byte entity + ".updates-value" + NUL fits */
typedef struct reg_canon_plan {
    int derived;
    char entity[65];
    char subject[3][REG_CANON_SUBJECT_MAX];
    char *text[3]; /* [0] is NULL (the posted text); [1] and [2] owned, NULL unless derived */
    const char *role[3];
} reg_canon_plan;

/* Decides what registering schema s at subject (one of an entity's subjects, see
 * reg_canon_subject_parse()) means; import is 1 when the subject is in IMPORT mode.
 * Refusals (CG_EINVALID_SCHEMA, message says what to do): outside IMPORT mode, any
 * schema at canon.<entity>.updates-value (a derived subject), a schema without canon.key
 * at canon.<entity>-value; in any mode, a schema at canon.<entity>.entity that breaks the
 * contract; outside IMPORT mode, a canonical schema whose derived schemas cannot be built
 * (name clashes, see above). CG_EINVAL when subject is not an entity's subject.
 * On success *out is filled (release it with reg_canon_plan_clear()); on error it is
 * cleared. */
cg_err *reg_canon_plan_make(const char *subject, const reg_schema *s, int import,
                            reg_canon_plan *out);
void reg_canon_plan_clear(reg_canon_plan *p); /* frees the texts; keeps nothing */

#endif
