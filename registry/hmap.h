/* hmap.h - a small open-addressing hash map from byte keys to pointers.
 *
 * The registry indexes subjects by name, schemas by id and by identity; a map that
 * copies its keys and stores one pointer per entry is all it needs, and keeps the
 * project free of another dependency. Not thread-safe: the registry guards it with its
 * rwlock (lookups only under the read lock, changes only under the write lock).
 */
#ifndef REG_HMAP_H
#define REG_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct reg_hmap reg_hmap;

reg_hmap *reg_hmap_new(void);    /* NULL when out of memory */
void reg_hmap_free(reg_hmap *m); /* frees keys, not values; NULL is fine */

/* Returns the value for key, or NULL. */
void *reg_hmap_get(const reg_hmap *m, const void *key, size_t len);
/* Inserts or replaces; the map copies the key. Returns 0, or -1 when out of memory. */
int reg_hmap_put(reg_hmap *m, const void *key, size_t len, void *value);
/* Removes key if present; returns the old value or NULL. */
void *reg_hmap_del(reg_hmap *m, const void *key, size_t len);
size_t reg_hmap_count(const reg_hmap *m);

/* Convenience for NUL-terminated string keys and int32 keys. */
void *reg_hmap_gets(const reg_hmap *m, const char *key);
int reg_hmap_puts(reg_hmap *m, const char *key, void *value);
void *reg_hmap_geti(const reg_hmap *m, int32_t key);
int reg_hmap_puti(reg_hmap *m, int32_t key, void *value);

/* Iteration: for (size_t i = 0; reg_hmap_next(m, &i, &k, &kl, &v);) ... Order is
 * unspecified; the map must not change during the walk. */
int reg_hmap_next(const reg_hmap *m, size_t *pos, const void **key, size_t *len, void **value);

#endif
