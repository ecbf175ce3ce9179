/* checkpoint.h - the aggregator's optional local checkpoint (SQLite): per partition, the
 * state of every key and the canon topic offset that state reflects.
 *
 * A restore (pipeline.c) loads a partition from here, then reads canon.<entity> only from
 * the stored offset on, instead of from the beginning. Saving is incremental: only the
 * keys put into the state since its last save or load (canon_state dirty tracking,
 * state.h) are written, together with the new offset, in one SQLite transaction, so a
 * crash at any moment leaves the previous consistent checkpoint of the partition. A state
 * that was not loaded from here (canon_state_dirty_all()) replaces the partition whole.
 * The checkpoint is an optimisation: whatever is wrong with it (missing, another schema,
 * an offset outside the topic, malformed) makes the restore read the whole topic.
 *
 * File format (tables, body encoding, versioning): checkpoint.c and docs/aggregator.md.
 *
 * Threads: one canon_cp belongs to one pipeline and is used by the thread that runs it
 * (canon_pipeline_run(), which also restores partitions); it has no lock. Several
 * processes must not share a file: each aggregator instance has its own.
 */
#ifndef CANON_CHECKPOINT_H
#define CANON_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "state.h"

typedef struct canon_cp canon_cp;

/* Opens (creating it when missing) the checkpoint file at path. A file written by an older
 * format is emptied (it is only a cache of the canon topic). *out is owned by the caller
 * (canon_cp_close()). Errors: CG_EIO (the message names the file and SQLite's reason). */
cg_err *canon_cp_open(const char *path, canon_cp **out);
void canon_cp_close(canon_cp *cp); /* NULL is fine */

/* What one canon_cp_save() did. */
typedef struct canon_cp_stats {
    size_t written; /* keys written (the dirty ones, or all when full) */
    size_t keys;    /* keys of the state */
    int full;       /* 1: the partition was replaced whole */
} canon_cp_stats;

/* Saves partition `part` of `entity` (the entity's name): the keys of st that changed
 * since its last save or load, and `offset`, the canon partition offset that st reflects
 * (every canon record below it is in st, none above), with the canonical schema id the
 * entity's fields are numbered by. Replaces the partition whole when st was never saved
 * or loaded (canon_state_dirty_all()) or when the stored canonical id differs. On success
 * st's dirty marks are cleared; on error nothing changed, in the file or in st (the next
 * save writes the same keys again). st is borrowed. stats may be NULL. Errors: CG_EIO,
 * CG_ENOMEM. */
cg_err *canon_cp_save(canon_cp *cp, const char *entity, int32_t part, int32_t canonical_id,
                      int64_t offset, canon_state *st, canon_cp_stats *stats);

/* Loads partition `part` of `entity` into st, which must be empty, when the stored copy is
 * usable: same canonical schema id, offset within [lo, hi] (the canon partition's
 * watermarks now). On success *from is the canon offset to read on from, *keys the keys
 * loaded, and st's keys are clean (canon_state_clear_dirty()). Otherwise returns an error
 * saying why (CG_ESTATE: nothing stored for the partition, or stored for another schema or
 * offset; CG_EINVAL: a malformed key; CG_EIO, CG_ENOMEM); st may then hold part of the
 * keys: the caller starts over with a fresh state. */
cg_err *canon_cp_load(canon_cp *cp, const char *entity, int32_t part, int32_t canonical_id,
                      int64_t lo, int64_t hi, canon_state *st, int64_t *from, size_t *keys);

#endif
