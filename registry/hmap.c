/* hmap.c - open-addressing hash map with linear probing (see hmap.h).
 *
 * FNV-1a hashes; the table doubles at 70% load and deletion uses backward-shift so no
 * tombstones accumulate. The stored hash is compared before the key, so a miss rarely
 * touches key memory. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t hash; /* 0 means empty */
    void *key;
    size_t len;
    void *value;
};

struct reg_hmap {
    struct slot *slots;
    size_t cap; /* power of two */
    size_t count;
};

static uint64_t hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

reg_hmap *reg_hmap_new(void)
{
    reg_hmap *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->cap = 16;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void reg_hmap_free(reg_hmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash)
            free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static size_t find_slot(const reg_hmap *m, uint64_t h, const void *key, size_t len)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    for (;;) {
        const struct slot *s = &m->slots[i];
        if (!s->hash)
            return i;
        if (s->hash == h && s->len == len && !memcmp(s->key, key, len))
            return i;
        i = (i + 1) & mask;
    }
}

void *reg_hmap_get(const reg_hmap *m, const void *key, size_t len)
{
    uint64_t h = hash_bytes(key, len);
    size_t i = find_slot(m, h, key, len);
    return m->slots[i].hash ? m->slots[i].value : NULL;
}

static int grow(reg_hmap *m)
{
    size_t ncap = m->cap * 2;
    struct slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct slot *s = &m->slots[i];
        if (!s->hash)
            continue;
        size_t j = (size_t)s->hash & (ncap - 1);
        while (ns[j].hash)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int reg_hmap_put(reg_hmap *m, const void *key, size_t len, void *value)
{
    if ((m->count + 1) * 10 > m->cap * 7 && grow(m))
        return -1;
    uint64_t h = hash_bytes(key, len);
    size_t i = find_slot(m, h, key, len);
    struct slot *s = &m->slots[i];
    if (s->hash) {
        s->value = value;
        return 0;
    }
    void *k = malloc(len ? len : 1);
    if (!k)
        return -1;
    memcpy(k, key, len);
    s->hash = h;
    s->key = k;
    s->len = len;
    s->value = value;
    m->count++;
    return 0;
}

void *reg_hmap_del(reg_hmap *m, const void *key, size_t len)
{
    uint64_t h = hash_bytes(key, len);
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, h, key, len);
    if (!m->slots[i].hash)
        return NULL;
    void *old = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].hash = 0;
    m->count--;
    /* Backward-shift: move later members of the probe run into the hole so lookups
     * never stop early at it. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct slot *s = &m->slots[j];
        if (!s->hash)
            break;
        size_t home = (size_t)s->hash & mask;
        /* s may move to hole iff home is not cyclically in (hole, j]. */
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            m->slots[hole] = *s;
            s->hash = 0;
            hole = j;
        }
    }
    return old;
}

size_t reg_hmap_count(const reg_hmap *m)
{
    return m->count;
}

void *reg_hmap_gets(const reg_hmap *m, const char *key)
{
    return reg_hmap_get(m, key, strlen(key));
}

int reg_hmap_puts(reg_hmap *m, const char *key, void *value)
{
    return reg_hmap_put(m, key, strlen(key), value);
}

void *reg_hmap_geti(const reg_hmap *m, int32_t key)
{
    return reg_hmap_get(m, &key, sizeof(key));
}

int reg_hmap_puti(reg_hmap *m, int32_t key, void *value)
{
    return reg_hmap_put(m, &key, sizeof(key), value);
}

int reg_hmap_next(const reg_hmap *m, size_t *pos, const void **key, size_t *len, void **value)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->slots[i].hash) {
            if (key)
                *key = m->slots[i].key;
            if (len)
                *len = m->slots[i].len;
            if (value)
                *value = m->slots[i].value;
            *pos = i + 1;
            return 1;
        }
    }
    *pos = m->cap;
    return 0;
}
