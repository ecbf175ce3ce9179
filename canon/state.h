/* state.h - the aggregator's per-partition state store: key -> entity state.
 *
 * One canon_state holds every key of one partition of one entity: per key, the canon
 * version counter, the version of the last DELETE, and per field that an update decided
 * (set or cleared) its version (event_time, source, seq) and the canonical Avro encoding
 * of its value. Issue 5 asks for 1,000,000 person keys with provenance in well under
 * 600 MB, so nothing is kept as parsed values: each entity is one compact blob of varints
 * and raw Avro bytes (format in state.c), allocated from size-class slabs, and found
 * through an open-addressing hash table of 16-byte slots. Versions shared by several
 * fields (one update usually sets many) are stored once per entity; sources are interned
 * per state (a small id instead of the name).
 *
 * To read or change an entity, unpack it into a canon_entity (pointers into the blob,
 * no copy), change that, and canon_state_put() it back (the blob is rewritten).
 *
 * Threads: a canon_state belongs to one partition and is used by one thread at a time
 * (the thread that consumes that partition); it has no lock. Pointers obtained from it
 * (entity views, source names) stay valid until the next put into the same state, or
 * canon_state_free().
 */
#ifndef CANON_STATE_H
#define CANON_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* A version (event_time, source, seq). source is an interned id of the state (1, 2, ...;
 * 0 means "no version"). Versions compare by event_time, then by source NAME (bytewise,
 * a shorter name that is a prefix first), then by seq: never by id, which depends on
 * arrival order.
 *
 * partition and offset say which update message carried the version (its place in
 * canon.<entity>.updates; -1 when unknown, as in envelopes written before they were
 * kept). They are provenance only: canon_version_cmp() ignores them. */
typedef struct canon_version {
    int64_t event_time;
    int64_t seq;
    int64_t offset;
    uint32_t source;
    int32_t partition;
} canon_version;

/* One field of an entity as stored. */
typedef struct canon_field_state {
    uint8_t present; /* an update (or the restore) decided this field: ver is valid */
    uint8_t cleared; /* present and cleared: the value is the canonical default */
    canon_version ver;
    const uint8_t *val; /* canonical Avro encoding of the value (present && !cleared) */
    uint32_t len;
} canon_field_state;

/* An entity unpacked. fields has one entry per canonical field (the caller provides the
 * array, n_fields entries as given to canon_state_new()); the key field's entry is unused
 * (the key is the key). */
typedef struct canon_entity {
    const uint8_t *key;
    size_t key_len;
    uint64_t version; /* canon version of the last published envelope; 0 when none */
    int has_deleted;
    canon_version deleted; /* the latest DELETE applied, when has_deleted */
    canon_field_state *fields;
} canon_entity;

typedef struct canon_state canon_state;

/* The longest key the state keeps (its length is stored in 16 bits). */
#define CANON_KEY_MAX 65535

/* A state for entities of n_fields canonical fields (at most 65535). *out is owned by the
 * caller (canon_state_free()). CG_ENOMEM when memory is short. */
cg_err *canon_state_new(uint32_t n_fields, canon_state **out);
void canon_state_free(canon_state *st); /* NULL is fine; frees every entity */

uint32_t canon_state_n_fields(const canon_state *st);
size_t canon_state_count(const canon_state *st); /* number of keys */

/* Bytes of memory the state holds (slab chunks, large blobs, hash table, sources), as
 * allocated from malloc (not counting malloc's own overhead per call, which is small:
 * slabs are 256 KB each). */
size_t canon_state_bytes(const canon_state *st);
/* Bytes of the entity blobs themselves (what the slabs hand out, rounded to classes). */
size_t canon_state_blob_bytes(const canon_state *st);

/* ---- sources ------------------------------------------------------------------------- */

/* The id of a source name, interned on first use. 0 when memory is short. */
uint32_t canon_state_source(canon_state *st, const char *name, size_t len);
/* Forgets source id if it is the last one interned (else does nothing): for a caller that
 * interned a name for an update it then did not keep, before any version of the state
 * refers to the id. The id is given to the next new name. */
void canon_state_source_drop_last(canon_state *st, uint32_t id);
/* The name of id (not NUL-terminated; *len its length), or NULL for an unknown id. The
 * name belongs to st and lives until canon_state_free(). */
const char *canon_state_source_name(const canon_state *st, uint32_t id, size_t *len);
/* <0, 0, >0 as a is older, equal, newer than b (see canon_version). A version with
 * source 0 is older than any other. */
int canon_version_cmp(const canon_state *st, const canon_version *a, const canon_version *b);

/* ---- entities ------------------------------------------------------------------------- */

/* Looks key up. Returns 1 and fills *e (e->fields must hold n_fields entries) when the
 * key is known, else 0 (and *e is cleared to an empty entity with that key, every field
 * absent). Pointers in *e point into the state (see the file comment for how long). */
int canon_state_get(canon_state *st, const void *key, size_t key_len, canon_entity *e);
/* The canon version of key (canon_entity.version), 0 when the key is absent. Read-only and
 * cheaper than canon_state_get(): it decodes no fields (the restore's consistency check of
 * a checkpoint's tail, canon/pipeline.c, calls it twice per record). */
uint64_t canon_state_version(const canon_state *st, const void *key, size_t key_len);

/* Cache hints for a key that a canon_state_get() will look up soon: with a stream of
 * updates to many keys, the slot and the blob are each a cache miss, which a caller that
 * sees its next updates ahead of time overlaps with the current one's work. Call
 * canon_state_prefetch_slot() well ahead (it returns the key's hash, which depends on the
 * key alone), then canon_state_prefetch_blob() with that hash a little later. They change
 * nothing and read nothing beyond the table and the blob; any key is fine. */
uint32_t canon_state_prefetch_slot(const canon_state *st, const void *key, size_t key_len);
void canon_state_prefetch_blob(const canon_state *st, uint32_t hash);

/* Stores e under e->key (replacing what was there). e's pointers may point into the
 * current blob of that key: the new blob is built before the old one is freed. CG_ENOMEM
 * when memory is short (the old state is then kept); CG_EINVAL when the entity is larger
 * than 2 GB or the key larger than 64 KB. Marks the key dirty (see below). */
cg_err *canon_state_put(canon_state *st, const canon_entity *e);

/* Iteration in table order: start with *cursor = 0; returns 1 and fills *e while there
 * are keys, then 0. The state must not change during an iteration. */
int canon_state_next(canon_state *st, size_t *cursor, canon_entity *e);

/* ---- dirty tracking (for the incremental checkpoint, canon/checkpoint.h) -------------
 *
 * Every put marks its key dirty. canon_state_clear_dirty() marks every key clean: call it
 * once a copy of the whole state has been stored (a checkpoint written, or the state
 * loaded from one). Until the first clear, canon_state_dirty_all() is 1: the state was
 * built from something else (the canon topic), so its clean keys match no stored copy
 * and a store must take the state whole. Keys are never removed (a DELETE is a put of a
 * tombstone), so dirty keys are the only difference from the last stored copy. */

size_t canon_state_dirty_count(const canon_state *st); /* keys put since the last clear */
int canon_state_dirty_all(const canon_state *st);      /* 1 until the first clear */
/* Like canon_state_next(), over the dirty keys only. */
int canon_state_next_dirty(canon_state *st, size_t *cursor, canon_entity *e);
void canon_state_clear_dirty(canon_state *st);

/* ---- raw blobs (for the checkpoint) --------------------------------------------------
 *
 * A checkpoint stores each key's blob as the state holds it (format in state.c, tagged
 * CANON_STATE_BLOB_FORMAT) with the state's source names in id order, so saving needs no
 * encoding and loading no unpack / pack. Source ids in a blob are the state's: a loader
 * interns the stored sources, in id order, into an empty state first, which gives them the
 * same ids. */

#define CANON_STATE_BLOB_FORMAT 2

uint32_t canon_state_n_sources(const canon_state *st); /* ids are 1..n */

/* Like canon_state_next() (dirty_only: canon_state_next_dirty()), giving the key and the
 * raw blob. Pointers into the state, valid until the next put or canon_state_free(). */
int canon_state_next_raw(const canon_state *st, size_t *cursor, int dirty_only, const uint8_t **key,
                         size_t *key_len, const uint8_t **blob, size_t *len);

/* Stores a raw blob (copied) under the key it holds, after checking it completely: it
 * comes from a file, and the state trusts its blobs. CG_EINVAL when it is malformed or
 * names a field or source the state does not have; CG_ENOMEM. Marks the key dirty. */
cg_err *canon_state_put_raw(canon_state *st, const uint8_t *blob, size_t len);

#endif
