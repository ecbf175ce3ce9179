/* merge.h - the aggregator's merge engine: one update in, one envelope (or nothing) out.
 *
 * This is the core of the single producer (../shared/DESIGN.md, "Merge semantics"), as a
 * pure library with no Kafka in it: the Kafka pipeline hands it each consumed message
 * value with its key, topic, partition and offset, and gets back a verdict:
 *
 *   CANON_PUBLISH  produce result.envelope (Confluent-framed, envelope schema id) with
 *                  the message key to the canon topic, same partition;
 *   CANON_NOOP     the update changes nothing (no provided field is newer than what
 *                  the state holds, or a DELETE not newer than the last one): count it;
 *   CANON_REJECT   send the message, byte for byte, to the DLQ with result.reason
 *                  (canon_reason_name() for header canon.error.code) and result.message.
 *
 * The rules, decisions where the design leaves things open, and the state layout are in
 * docs/aggregator.md (first section). In short: per-field last-writer-wins on
 * (event_time, source, seq), on an equal version the larger value; a provided null
 * clears; DELETE clears every field of its version or older and is remembered; writers
 * (canon.writers) are enforced on every provided field; a body key that differs from the
 * message key is rejected; updates written with any registered update schema are mapped
 * by field name onto the current canonical schema (fields the canonical schema no longer
 * has are ignored and counted).
 *
 * Objects:
 * - canon_engine: one per entity and canonical schema version: the compiled canonical
 *   schema, envelope encoder, and the compiled update (and envelope) writer schemas by
 *   schema id. Built and extended (canon_engine_add_*) by one thread; once no thread
 *   adds schemas any more, it is read-only and may be shared by the partition threads.
 *   (A pipeline that learns new schema ids while running serialises adds with merges, or
 *   builds a new engine and swaps it in.)
 * - canon_state (state.h): one per assigned partition, used by one thread.
 * - canon_result: one per thread; reused from call to call (buffers grow once).
 */
#ifndef CANON_MERGE_H
#define CANON_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "registry/schema.h"
#include "state.h"
#include "walk.h"

/* Why an update was rejected. Stable: names go into DLQ headers and metrics. */
typedef enum canon_reason {
    CANON_OK = 0,
    CANON_R_FRAMING,         /* not Confluent framing (magic byte 0, 4-byte id) */
    CANON_R_UNKNOWN_SCHEMA,  /* writer schema id not known to the engine (result.schema_id) */
    CANON_R_DECODE,          /* bytes do not decode against the writer schema */
    CANON_R_KEY_MISMATCH,    /* body key differs from the message key */
    CANON_R_WRITER,          /* source may not write (set or clear) a provided field */
    CANON_R_FIELD,           /* provided names no field of the writer schema, or the key */
    CANON_R_TYPE,            /* a value's writer type cannot be translated (see aggregator.md) */
    CANON_R_REQUIRED,        /* a field without default would be left without a value */
    CANON_R_SOURCE,          /* source empty or longer than 255 bytes */
    CANON_R_UNLISTED_SOURCE, /* canon_msg.source_ok refused the source (auth file: not a
                                domain writer listed for the entity) */
    CANON_R_KEY_TOO_LONG,    /* key longer than the state holds (CANON_KEY_MAX bytes) */
    CANON_R_TOO_LARGE,       /* the canon record would exceed canon_msg.max_record */
} canon_reason;
/* The last reason, for loops over them all (the DLQ metrics, `canon replay --reason`). */
#define CANON_R_LAST CANON_R_TOO_LARGE

/* "FRAMING", "UNKNOWN_SCHEMA", ... ("OK" for CANON_OK). Static string. */
const char *canon_reason_name(canon_reason r);

typedef enum canon_verdict { CANON_PUBLISH, CANON_NOOP, CANON_REJECT } canon_verdict;

/* Values of canongate.ChangeOp (symbol order of docs/wire.md). */
typedef enum canon_change_op {
    CANON_CREATE = 0,
    CANON_UPDATE = 1,
    CANON_DELETE = 2
} canon_change_op;

/* One consumed message. topic must be NUL-terminated; key and value are as consumed
 * (value still framed). */
typedef struct canon_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    /* Optional (NULL: any source): 0 refuses the update's source (source[0..len), not
     * NUL-terminated) with CANON_R_UNLISTED_SOURCE, checked before the writers. */
    int (*source_ok)(void *opaque, const uint8_t *source, size_t len);
    void *source_opaque;
    /* Optional (0: no limit): the largest record the canon topic takes through its producer
     * (the producer's message.max.bytes, or the topic's max.message.bytes less batch
     * framing when smaller). An update whose canon record (envelope, key and Kafka's record
     * framing) would be larger is rejected with CANON_R_TOO_LARGE and the state is left as
     * it was: librdkafka, or the broker, would refuse the record at every restart. */
    size_t max_record;
} canon_msg;

/* The most bytes a v2 Kafka record adds to its key and value, headers aside (length,
 * attributes, timestamp and offset deltas, key and value lengths, header count, as
 * varints): what a record counts against message.max.bytes beyond them. */
#define CANON_RECORD_FRAMING 36

typedef struct canon_result {
    canon_verdict verdict;
    canon_reason reason; /* CANON_OK unless rejected */
    char message[512];   /* why, for a person: names the field path ("values.email: ...") */
    int32_t schema_id;   /* writer schema id of the update, -1 when framing failed */
    canon_change_op op;  /* when published */
    uint64_t version;    /* canon version of the published envelope */
    uint32_t n_changed;  /* fields whose value changed (canonical field indices) */
    uint32_t *changed;   /* n_changed entries; canon_engine_field_name() names them */
    uint32_t n_applied;  /* provided fields whose version won */
    uint32_t n_stale;    /* provided fields not newer than what the state holds */
    uint32_t n_ignored;  /* provided fields unknown to the current canonical schema */
    canon_wbuf envelope; /* when published: 0x00, envelope schema id, Avro body */
    /* private scratch, reused between calls */
    canon_wbuf vals_;
    const uint8_t **spans_;
    uint32_t cap_spans_, cap_changed_;
    canon_field_state *fields_;
    canon_field_state *old_;
    uint32_t *voff_, *vlen_;
    const uint8_t **vptr_; /* canon_merge(): where each provided value's encoding is */
    uint8_t *prov_;
    uint8_t *seen_;
    uint32_t cap_fields_, cap_seen_;
} canon_result;

void canon_result_init(canon_result *r);
void canon_result_clear(canon_result *r); /* frees the buffers; r may be init'ed again */

typedef struct canon_engine canon_engine;

/* An engine for canonical schema `canonical` (a valid canonical schema: record with
 * canon.key). envelope_id is the registry id of its envelope schema (the derived
 * canon.<entity>-value schema), which published envelopes carry; the engine derives and
 * compiles that schema itself (reg_canon_derive_envelope()) and registers it for
 * canon_restore() under envelope_id. The engine copies what it needs: canonical may be
 * freed afterwards. Errors: CG_EINVALID_SCHEMA (not canonical), CG_ENOMEM. */
cg_err *canon_engine_new(const reg_schema *canonical, int32_t envelope_id, canon_engine **out);
void canon_engine_free(canon_engine *e); /* NULL is fine */

/* Registers a writer update schema (any registered version of canon.<entity>.updates-value)
 * under its id: compiles it and maps its fields by name (or the canonical field's aliases)
 * onto the current canonical schema. Fields the canonical schema lacks are ignored at
 * merge time; a field whose writer type cannot be translated makes updates that provide it
 * rejected (CANON_R_TYPE) rather than the whole schema refused. Adding an id again
 * replaces it. Errors: CG_EINVALID_SCHEMA when the schema is not an update schema
 * (framework fields missing or of the wrong type), CG_ENOMEM. `update` may be freed
 * afterwards. */
cg_err *canon_engine_add_update_schema(canon_engine *e, int32_t id, const reg_schema *update);
/* Same for an older envelope schema (for canon_restore() of records written before the
 * canonical schema changed). Adding the engine's own envelope_id replaces the schema the
 * engine derived with the one given, normally the registry's schema of that id: the
 * envelopes written then follow its FieldVersion, with or without partition and offset
 * (docs/wire.md; a registry may hold an envelope derived before they existed). */
cg_err *canon_engine_add_envelope_schema(canon_engine *e, int32_t id, const reg_schema *env);
int canon_engine_has_schema(const canon_engine *e, int32_t id);

uint32_t canon_engine_n_fields(const canon_engine *e); /* canonical fields, key included */
const char *canon_engine_field_name(const canon_engine *e, uint32_t i); /* belongs to e */
uint32_t canon_engine_key_field(const canon_engine *e);                 /* index of the key field */

/* Decodes and merges one update message into st (a state made with
 * canon_state_new(canon_engine_n_fields(e))) and fills *r (see the file comment). The
 * state changes only when the verdict is CANON_PUBLISH. Returns NULL, or an error
 * (CG_ENOMEM) when memory is short, in which case neither st nor the verdict are to be
 * used. result.envelope stays valid until the next call with r. */
cg_err *canon_merge(const canon_engine *e, canon_state *st, const canon_msg *m, canon_result *r);

/* One update, decoded and translated to the current canonical schema (what canon_merge()
 * works from; also for tools such as `canon tail` on an updates topic). Pointers point
 * into the message value or into the canon_result used to decode; valid until that
 * result is used again. */
typedef struct canon_update {
    int32_t schema_id;
    const uint8_t *key; /* body key */
    size_t key_len;
    const uint8_t *source;
    size_t source_len;
    int64_t event_time, seq;
    int is_delete;
    uint32_t n_fields;       /* canonical fields (canon_engine_n_fields()) */
    const uint8_t *provided; /* per canonical field: 0 not provided, 1 set, 2 clear */
    const uint8_t *vals;     /* set field i: canonical Avro encoding at vals + val_off[i], */
    const uint32_t *val_off; /*   val_len[i] bytes (a canonical union's branch index first) */
    const uint32_t *val_len;
    uint32_t n_ignored; /* provided fields the current canonical schema does not have */
} canon_update;

/* Decodes one framed update value with the writer schema its id names. Returns 0; or -1
 * when it is to be rejected (r->reason, r->message: FRAMING, UNKNOWN_SCHEMA, DECODE,
 * FIELD, TYPE); or -2 when memory is short. Checks nothing that needs the message key or
 * the state (key match, writers, versions: canon_merge() does). */
int canon_update_decode(const canon_engine *e, const void *value, size_t value_len, canon_update *u,
                        canon_result *r);

/* Restore: loads the state of one key from a canon topic record (its framed value, written
 * by canon_merge() with any envelope schema registered with the engine): after (the
 * fields named in provenance, translated to the current canonical schema), provenance,
 * deleted and version replace whatever st held for that key. Reading the canon topic from
 * the beginning in order and restoring every record rebuilds the state. A NULL value (a
 * compaction tombstone) is ignored. Errors: CG_EDECODE (bytes, framing, key differs from
 * the message key), CG_ESCHEMA_NOT_FOUND (unknown envelope schema id), CG_ENOMEM. */
cg_err *canon_restore(const canon_engine *e, canon_state *st, const void *key, size_t key_len,
                      const void *value, size_t value_len, canon_result *scratch);

/* The canonical Avro encoding of a key's current record (what `after` would hold), and its
 * provenance, for tools (`canon state`) and tests: appends the record's encoding to out.
 * Returns 1 if the entity exists (has a value for every required field and at least one
 * decided field), 0 if it does not (nothing appended). */
int canon_entity_record(const canon_engine *e, canon_state *st, const void *key, size_t key_len,
                        canon_result *scratch, canon_wbuf *out);

#endif
