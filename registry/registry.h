/* registry.h - the schema registry core: all state in memory, persisted in a reg_store.
 *
 * The registry implements the semantics of the Confluent Schema Registry API for Avro
 * (subjects, versions, ids, soft and hard deletes, compatibility levels, modes,
 * references) independent of HTTP: each operation takes the decoded path parameters,
 * the query options and the request body, and returns the JSON body of the answer or an
 * error whose code is the Confluent error code (40401, 42201, 409, ...). The HTTP layer
 * (http.c) only routes and frames.
 *
 * Concurrency: one pthread_rwlock guards the whole state. Reads take the read lock and
 * never touch SQLite; GET /schemas/ids/{id} is rendered once at write time and version
 * objects are assembled from pre-rendered pieces, so a read is a hash lookup and a copy;
 * a lookup of bytes seen before is answered from a cache before any parsing (registry.c
 * explains both). Writes are serialised by a writer mutex: a registration computes and
 * persists in one SQLite transaction holding only that mutex (readers go on during the
 * fsync), then takes the write lock briefly to apply the change in memory: concurrent
 * registrations of one schema yield one id. All functions may be called from any thread.
 *
 * Identity: a schema's identity is its type, its normalized form (reg_schema_normalized),
 * its references, metadata and ruleSet; the same identity under any subject gets the same
 * id, and the text stored and returned is the text first registered.
 */
#ifndef REG_REGISTRY_H
#define REG_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

typedef struct reg_registry reg_registry;

/* Opens the database at db_path and loads it. On success *out is a registry the caller
 * owns (reg_registry_free()). */
cg_err *reg_registry_open(const char *db_path, reg_registry **out);
void reg_registry_free(reg_registry *r); /* closes the store; NULL is fine */

/* Query options of a request. Zero-initialise and set what the request carries. */
typedef struct reg_opts {
    int deleted;                /* ?deleted=true */
    int deleted_only;           /* ?deletedOnly=true */
    int permanent;              /* ?permanent=true */
    int normalize;              /* ?normalize=true */
    int verbose;                /* ?verbose=true */
    int default_to_global;      /* ?defaultToGlobal=true */
    int fetch_max_id;           /* ?fetchMaxId=true */
    int force;                  /* ?force=true (mode changes) */
    int latest_only;            /* ?latestOnly=true (GET /schemas) */
    const char *subject_prefix; /* ?subjectPrefix= ; NULL when absent */
    const char *subject;        /* ?subject= ; NULL when absent */
} reg_opts;

/* An answer body: malloc'd JSON (or raw schema text), owned by the caller (free()). */
typedef struct reg_body {
    char *data;
    size_t len;
} reg_body;

/* Every operation returns NULL and fills *out, or returns an error (Confluent code) and
 * leaves *out empty. subject and version strings are already URL-decoded. version is
 * "latest", "-1" or a decimal number; anything else is error 42202. */

/* GET /subjects */
cg_err *reg_subjects(reg_registry *r, const reg_opts *o, reg_body *out);
/* GET /subjects/{s}/versions */
cg_err *reg_versions(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out);
/* GET /subjects/{s}/versions/{v} (raw=0) and .../schema (raw=1: the schema text only) */
cg_err *reg_version_get(reg_registry *r, const char *subject, const char *version,
                        const reg_opts *o, int raw, reg_body *out);
/* GET /subjects/{s}/versions/{v}/referencedby */
cg_err *reg_referenced_by(reg_registry *r, const char *subject, const char *version, reg_body *out);
/* POST /subjects/{s}/versions: {"id": N} */
cg_err *reg_register(reg_registry *r, const char *subject, const char *body, size_t len,
                     const reg_opts *o, reg_body *out);
/* POST /subjects/{s}: the version object of the matching version */
cg_err *reg_lookup(reg_registry *r, const char *subject, const char *body, size_t len,
                   const reg_opts *o, reg_body *out);
/* DELETE /subjects/{s}/versions/{v}: the version number */
cg_err *reg_delete_version(reg_registry *r, const char *subject, const char *version,
                           const reg_opts *o, reg_body *out);
/* DELETE /subjects/{s}: the list of versions deleted */
cg_err *reg_delete_subject(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out);
/* GET /schemas/ids/{id} (raw=0) and .../schema (raw=1) */
cg_err *reg_schema_get(reg_registry *r, int64_t id, const reg_opts *o, int raw, reg_body *out);
/* The hot path of GET /schemas/ids/{id} without options: no copy. On success *data points
 * at the rendered answer, which is immutable and stays valid until reg_registry_free()
 * (schema entries are never freed while the registry lives). */
cg_err *reg_schema_body_ref(reg_registry *r, int64_t id, const char **data, size_t *len);
/* GET /schemas/ids/{id}/subjects and .../versions */
cg_err *reg_schema_subjects(reg_registry *r, int64_t id, const reg_opts *o, reg_body *out);
cg_err *reg_schema_versions(reg_registry *r, int64_t id, const reg_opts *o, reg_body *out);
/* GET /schemas */
cg_err *reg_schemas_list(reg_registry *r, const reg_opts *o, reg_body *out);
/* GET /schemas/types */
cg_err *reg_schema_types(reg_registry *r, reg_body *out);

/* /config and /config/{s}: subject NULL means the global setting. */
cg_err *reg_config_get(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out);
cg_err *reg_config_put(reg_registry *r, const char *subject, const char *body, size_t len,
                       reg_body *out);
cg_err *reg_config_delete(reg_registry *r, const char *subject, reg_body *out);
/* /mode and /mode/{s}: subject NULL means the global setting. */
cg_err *reg_mode_get(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out);
cg_err *reg_mode_put(reg_registry *r, const char *subject, const char *body, size_t len,
                     const reg_opts *o, reg_body *out);
cg_err *reg_mode_delete(reg_registry *r, const char *subject, reg_body *out);
/* The same six operations through one entry point per method (the HTTP routes use these):
 * `which` picks the setting; ?force applies to the mode only. */
typedef enum reg_setting { REG_SETTING_COMPAT, REG_SETTING_MODE } reg_setting;
cg_err *reg_setting_get(reg_registry *r, reg_setting which, const char *subject, const reg_opts *o,
                        reg_body *out);
cg_err *reg_setting_put(reg_registry *r, reg_setting which, const char *subject, const char *body,
                        size_t len, const reg_opts *o, reg_body *out);
cg_err *reg_setting_delete(reg_registry *r, reg_setting which, const char *subject, reg_body *out);

/* POST /compatibility/subjects/{s}/versions/{v} (version "latest" or a number) and
 * /compatibility/subjects/{s}/versions (version NULL: every version the level names).
 * NULL and "latest" give exactly the verdict registration would give (the subject's
 * level, transitive included: CSR#1681); a version number checks that one version in the
 * level's direction. */
cg_err *reg_compat_test(reg_registry *r, const char *subject, const char *version, const char *body,
                        size_t len, const reg_opts *o, reg_body *out);

/* GET /canon/entities and /canon/entities/{entity} */
cg_err *reg_canon_entities(reg_registry *r, reg_body *out);
cg_err *reg_canon_entity(reg_registry *r, const char *entity, reg_body *out);

/* Gauges for /metrics: schemas with at least one version, subjects with at least one
 * live version. */
void reg_registry_stats(reg_registry *r, size_t *n_schemas, size_t *n_subjects);

#endif
