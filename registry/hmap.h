/* hmap.h - a small open-addressing hash map from byte keys to pointers.
 *
 * The registry indexes subjects by name, schemas by id, by identity digest and by text
 * hash; a map that stores one pointer per entry is all it needs, and keeps the project
 * free of another dependency. Keys of up to 8 bytes (ids, 64-bit hashes) are stored in
 * the slot itself; longer keys are copied (reg_hmap_put) or borrowed from the value
 * (reg_hmap_put_ref), so that an index over 10,000 schemas does not hold 10,000 more
 * copies of what the entries already hold. Not thread-safe: the registry guards it with
 * its rwlock (lookups only under the read lock, changes only under the write lock).
 */
#ifndef REG_HMAP_H
#define REG_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct reg_hmap reg_hmap;

reg_hmap *reg_hmap_new(void);    /* NULL when out of memory */
void reg_hmap_free(reg_hmap *m); /* frees copied keys, not values; NULL is fine */

/* Returns the value for key, or NULL. */
void *reg_hmap_get(const reg_hmap *m, const void *key, size_t len);
/* Inserts or replaces; the map copies the key. Returns 0, or -1 when out of memory. */
int reg_hmap_put(reg_hmap *m, const void *key, size_t len, void *value);
/* Inserts or replaces without copying the key: the caller keeps the key's bytes valid
 * and unchanged for as long as the entry is in the map (typically the key is a field of
 * the value). When the key is already present, the map keeps the key memory it had. */
int reg_hmap_put_ref(reg_hmap *m, const void *key, size_t len, void *value);
/* Removes key if present; returns the old value or NULL. */
void *reg_hmap_del(reg_hmap *m, const void *key, size_t len);
size_t reg_hmap_count(const reg_hmap *m);

/* Convenience for NUL-terminated string keys and int32/uint64 keys. */
void *reg_hmap_gets(const reg_hmap *m, const char *key);
int reg_hmap_puts(reg_hmap *m, const char *key, void *value);
void *reg_hmap_geti(const reg_hmap *m, int32_t key);
int reg_hmap_puti(reg_hmap *m, int32_t key, void *value);
void *reg_hmap_getu64(const reg_hmap *m, uint64_t key);
int reg_hmap_putu64(reg_hmap *m, uint64_t key, void *value);

/* Iteration: for (size_t i = 0; reg_hmap_next(m, &i, &k, &kl, &v);) ... Order is
 * unspecified; the map must not change during the walk. *key points into the map (or at
 * the borrowed key) and is valid until the next change. */
int reg_hmap_next(const reg_hmap *m, size_t *pos, const void **key, size_t *len, void **value);

/* A fast 64-bit hash of len bytes (8 bytes a step), for hash tables: not cryptographic,
 * so whoever keys anything by it must verify the bytes on a hit. The same input and
 * seed give the same value within one process. */
uint64_t reg_hash64(const void *data, size_t len, uint64_t seed);

#endif
