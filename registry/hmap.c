/* hmap.c - open-addressing hash map with linear probing (see hmap.h).
 *
 * The table doubles at 70% load and deletion uses backward-shift, so no tombstones
 * accumulate. The stored hash is compared before the key, so a miss rarely touches key
 * memory. A slot is 32 bytes: keys of up to 8 bytes live in it, which spares the
 * registry one allocation per id and per text hash.
 *
 * reg_hash64 reads the input 16 bytes at a time and folds each pair of words with one
 * 64x64->128-bit multiply (the high and low halves xor-ed together), the construction of
 * the "mum" family of hashes: several times faster than a byte-at-a-time FNV on the
 * kilobyte-sized request bodies the registry's lookup cache hashes on every request. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t hash; /* 0 means empty */
    union {
        const void *ptr;        /* len > 8: copied (owned) or borrowed */
        unsigned char bytes[8]; /* len <= 8: the key itself */
    } key;
    uint32_t len;
    uint32_t owned; /* key.ptr was allocated by the map */
    void *value;
};

struct reg_hmap {
    struct slot *slots;
    size_t cap; /* power of two */
    size_t count;
};

__extension__ typedef unsigned __int128 u128;

#define HP0 0xa0761d6478bd642fULL
#define HP1 0xe7037ed1a0b428dbULL
#define HP2 0x8ebc6af09c88c6e3ULL
#define HP3 0x589965cc75374cc3ULL

static uint64_t mum(uint64_t a, uint64_t b)
{
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

uint64_t reg_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    size_t n = len;
    uint64_t h = seed ^ HP0;
    while (n > 16) {
        h = mum(rd64(p) ^ HP1, rd64(p + 8) ^ h);
        p += 16;
        n -= 16;
    }
    uint64_t a = 0, b = 0;
    if (n > 8) {
        a = rd64(p);
        b = rd64(p + n - 8); /* overlaps a when n < 16: fine for a hash */
    } else if (n >= 4) {
        a = rd32(p);
        b = rd32(p + n - 4);
    } else if (n) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n / 2] << 8) | p[n - 1];
    }
    h = mum(a ^ HP1, b ^ h ^ HP2);
    return mum(h ^ (uint64_t)len ^ HP3, HP1 ^ seed);
}

static uint64_t hash_key(const void *key, size_t len)
{
    uint64_t h = reg_hash64(key, len, 0);
    return h ? h : 1;
}

static const void *slot_key(const struct slot *s)
{
    return s->len <= sizeof(s->key.bytes) ? (const void *)s->key.bytes : s->key.ptr;
}

static void slot_release(struct slot *s)
{
    if (s->owned)
        free((void *)s->key.ptr);
    s->owned = 0;
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
            slot_release(&m->slots[i]);
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
        if (s->hash == h && s->len == len && !memcmp(slot_key(s), key, len))
            return i;
        i = (i + 1) & mask;
    }
}

void *reg_hmap_get(const reg_hmap *m, const void *key, size_t len)
{
    uint64_t h = hash_key(key, len);
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

static int put(reg_hmap *m, const void *key, size_t len, void *value, int copy)
{
    if (len > UINT32_MAX)
        return -1;
    if ((m->count + 1) * 10 > m->cap * 7 && grow(m))
        return -1;
    uint64_t h = hash_key(key, len);
    size_t i = find_slot(m, h, key, len);
    struct slot *s = &m->slots[i];
    if (s->hash) {
        s->value = value;
        return 0;
    }
    if (len <= sizeof(s->key.bytes)) {
        memset(s->key.bytes, 0, sizeof(s->key.bytes));
        if (len)
            memcpy(s->key.bytes, key, len);
        s->owned = 0;
    } else if (copy) {
        void *k = malloc(len);
        if (!k)
            return -1;
        memcpy(k, key, len);
        s->key.ptr = k;
        s->owned = 1;
    } else {
        s->key.ptr = key;
        s->owned = 0;
    }
    s->hash = h;
    s->len = (uint32_t)len;
    s->value = value;
    m->count++;
    return 0;
}

int reg_hmap_put(reg_hmap *m, const void *key, size_t len, void *value)
{
    return put(m, key, len, value, 1);
}

int reg_hmap_put_ref(reg_hmap *m, const void *key, size_t len, void *value)
{
    return put(m, key, len, value, 0);
}

void *reg_hmap_del(reg_hmap *m, const void *key, size_t len)
{
    uint64_t h = hash_key(key, len);
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, h, key, len);
    if (!m->slots[i].hash)
        return NULL;
    void *old = m->slots[i].value;
    slot_release(&m->slots[i]);
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
            s->owned = 0;
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

void *reg_hmap_getu64(const reg_hmap *m, uint64_t key)
{
    return reg_hmap_get(m, &key, sizeof(key));
}

int reg_hmap_putu64(reg_hmap *m, uint64_t key, void *value)
{
    return reg_hmap_put(m, &key, sizeof(key), value);
}

int reg_hmap_next(const reg_hmap *m, size_t *pos, const void **key, size_t *len, void **value)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->slots[i].hash) {
            if (key)
                *key = slot_key(&m->slots[i]);
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
