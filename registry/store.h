/* store.h - durable storage of the registry in SQLite.
 *
 * The store is the registry's write-ahead truth: every change is written here, in one
 * transaction, before the in-memory registry (registry.c) applies it, and the whole
 * state is read back from here at start. Reads on the serving path never touch it.
 *
 * Durability: WAL journal with synchronous=FULL, so a committed transaction (an
 * acknowledged registration) survives kill -9 and power loss.
 *
 * Ids: the store keeps a counter of the next schema id that only grows; schema rows are
 * never deleted, so an id is never handed out twice, even after hard deletes.
 *
 * One process per file: the connection holds an exclusive lock for its life
 * (locking_mode=EXCLUSIVE), so a second registry on the file fails to open it with an
 * error saying so, and SQLite keeps the WAL index in heap memory (no mmapped -shm file,
 * whose pages fault with SIGBUS when the file turns immutable). No other program can
 * read the file while the registry runs; read it through the API.
 *
 * Threads: a reg_store is used by one thread at a time; the registry calls it only
 * under its write lock.
 */
#ifndef REG_STORE_H
#define REG_STORE_H

#include <stdint.h>

#include "../common/err.h"

typedef struct reg_store reg_store;

/* Opens (creating if needed) the database at path. On success *out is a new store the
 * caller owns (reg_store_close()). */
cg_err *reg_store_open(const char *path, reg_store **out);
void reg_store_close(reg_store *s); /* NULL is fine */

/* One stored schema, as handed to the loader. Strings belong to the store and are valid
 * only during the callback. refs, metadata and ruleset are JSON text or NULL. */
typedef struct reg_store_schema {
    int32_t id;
    const char *type; /* "AVRO" */
    const char *text; /* exactly as registered */
    const char *identity;
    const char *refs;
    const char *metadata;
    const char *ruleset;
} reg_store_schema;

/* Callbacks for reg_store_load(), called in order: all schemas (by id), all versions
 * (by subject, version), configs, modes. subject is NULL for the global setting. A
 * callback returning an error stops the load with that error. */
typedef struct reg_store_loader {
    void *ctx;
    cg_err *(*schema)(void *ctx, const reg_store_schema *row);
    cg_err *(*version)(void *ctx, const char *subject, int32_t version, int32_t id, int deleted);
    cg_err *(*config)(void *ctx, const char *subject, const char *level);
    cg_err *(*mode)(void *ctx, const char *subject, const char *mode);
} reg_store_loader;

/* Reads everything. *next_id receives the next id to hand out (>= 1; INT32_MAX + 1 when
 * the last id is taken). */
cg_err *reg_store_load(reg_store *s, const reg_store_loader *l, int64_t *next_id);

/* Transactions: every change between begin and commit is atomic and, once commit
 * returns NULL, durable. On an error, call reg_store_rollback(). */
cg_err *reg_store_begin(reg_store *s);
cg_err *reg_store_commit(reg_store *s);
void reg_store_rollback(reg_store *s);

/* Changes (inside a transaction). All return NULL or an error with code CG_ESTORE. */
cg_err *reg_store_put_schema(reg_store *s, const reg_store_schema *row);
/* Inserts or replaces the version row. */
cg_err *reg_store_put_version(reg_store *s, const char *subject, int32_t version, int32_t id,
                              int deleted);
cg_err *reg_store_delete_version(reg_store *s, const char *subject, int32_t version);
/* Raises the id counter to at least next (never lowers it). */
cg_err *reg_store_bump_next_id(reg_store *s, int64_t next);
/* subject NULL: global. value NULL: delete the setting. */
cg_err *reg_store_set_config(reg_store *s, const char *subject, const char *level);
cg_err *reg_store_set_mode(reg_store *s, const char *subject, const char *mode);

#endif
