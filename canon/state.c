/* state.c - the per-partition state store (see state.h).
 *
 * Layout. The hash table is an array of 16-byte slots {blob pointer, 32 bits of the key's
 * hash, blob size and dirty bit}, open addressing with linear probing, kept at most 3/4
 * full. Keys are never removed (a deleted entity stays as a tombstone: it must go on
 * refusing older updates), so probing needs no tombstone slots.
 *
 * A merge looks a key up (get) and then stores it (put): the state remembers the last
 * get's hash and slot, so the put neither hashes nor probes again unless something was
 * stored or the table grew in between (the key is compared, so a put of another key
 * just takes the long way).
 *
 * Dirty tracking (for the incremental checkpoint, canon/checkpoint.c) is the top bit of
 * the slot's size word: a put sets it (one OR on a slot the put writes anyway), so the
 * merge path pays nothing measurable; blobs are limited to 2 GB for it. The checkpoint
 * finds dirty keys by scanning the slots (16 bytes each, about 5 ms per million keys),
 * which keeps the table free of a side list that would need fixing up when it grows.
 *
 * An entity blob is a byte string (varints are unsigned LEB128, zz are zigzag varints):
 *
 *   varint key_len, key bytes
 *   varint canon version
 *   byte   flags (bit 0: a DELETE version follows)
 *   [version]                                                   the last DELETE
 *   varint n_versions, n_versions x version
 *   (version = zz event_time, varint source id, zz seq, varint partition + 1,
 *              varint offset + 1: an unknown -1 takes one byte)
 *   varint n_present, n_present x (varint field index,
 *                                  varint (version index << 1 | cleared),
 *                                  [varint len, len bytes of canonical Avro] unless cleared)
 *
 * Checkpoints store these blobs as they are (state.h "raw blobs"): a change to this
 * format must bump CANON_STATE_BLOB_FORMAT, so that older checkpoints are ignored.
 *
 * Blobs come from size classes of 8 bytes up to 2 KB, carved from 256 KB slabs, with a
 * free list per class; bigger blobs are malloc'ed. A person with every field set is about
 * 150 bytes of blob, so the slab rounding (4 bytes on average) and the table (32 bytes
 * per key at the worst load) are the only overheads.
 */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#define SLAB_BYTES (256u * 1024u)
#define CLASS_STEP 8u
#define CLASS_MAX  2048u
#define N_CLASSES  (CLASS_MAX / CLASS_STEP)
#define SIZE_DIRTY 0x80000000u /* slot.size: changed since the last canon_state_clear_dirty() */
#define SIZE_MASK  0x7fffffffu

typedef struct slot {
    uint8_t *blob;
    uint32_t hash;
    uint32_t size; /* blob bytes | SIZE_DIRTY */
} slot;

typedef struct slab {
    struct slab *next;
    /* data follows */
} slab;

typedef struct source {
    char *name;
    size_t len;
    uint32_t rank; /* position of the name in byte order among all sources of the state */
} source;

struct canon_state {
    uint32_t n_fields;
    slot *slots;
    size_t cap, count; /* cap is a power of two */
    size_t n_dirty;    /* slots with SIZE_DIRTY */
    int dirty_all;     /* never cleared: no copy elsewhere matches the clean keys */

    void *free_list[N_CLASSES]; /* freed chunks, linked through their first 8 bytes */
    uint8_t *bump;              /* unused part of the newest slab */
    size_t bump_left;
    slab *slabs;
    size_t slab_bytes, big_bytes, blob_bytes;

    source *sources; /* id i+1 is sources[i] */
    uint32_t n_sources, cap_sources;
    size_t source_bytes;

    canon_version *vtab; /* unpack scratch: versions of one blob */
    uint32_t vtab_cap;
    uint8_t *scratch; /* pack scratch */
    size_t scratch_cap;
    uint32_t *vidx; /* pack scratch: version table index of each field */

    /* The last lookup (canon_state_get()), for the put that usually follows it for the
     * same key: its hash, and its slot while no store or table growth has happened since
     * (hint_slot_ok). The key is copied: the caller's may not outlive the get. */
    uint8_t *hint_key;
    size_t hint_len, hint_cap;
    uint32_t hint_hash;
    size_t hint_slot;
    int hint_ok, hint_slot_ok;
};

/* ---- small helpers ---------------------------------------------------------------- */

static uint64_t hash_key(const uint8_t *k, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, k, 8);
        h = (h ^ (v * 0xff51afd7ed558ccdull)) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
        k += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)k[i] << (8 * i);
    h = (h ^ (t * 0xff51afd7ed558ccdull)) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static inline size_t put_uv(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        *p = (uint8_t)v;
        return 1;
    }
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_zz(uint8_t *p, int64_t v)
{
    return put_uv(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* Our own blobs: trusted, so no bounds checks. Most varints of a blob are one byte
 * (field indexes, lengths, source ids); event times take six. */
static inline uint64_t get_uv(const uint8_t **p)
{
    const uint8_t *q = *p;
    uint64_t c = *q++;
    if (c < 0x80) {
        *p = q;
        return c;
    }
    uint64_t v = c & 0x7f;
    for (int shift = 7;; shift += 7) {
        c = *q++;
        v |= (c & 0x7f) << shift;
        if (c < 0x80)
            break;
    }
    *p = q;
    return v;
}

static int64_t get_zz(const uint8_t **p)
{
    uint64_t z = get_uv(p);
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* ---- slabs ------------------------------------------------------------------------- */

static size_t class_size(size_t n)
{
    return (n + CLASS_STEP - 1) / CLASS_STEP * CLASS_STEP;
}

static uint8_t *blob_alloc(canon_state *st, size_t n)
{
    size_t sz = class_size(n);
    if (sz > CLASS_MAX) {
        uint8_t *p = malloc(sz);
        if (p)
            st->big_bytes += sz;
        return p;
    }
    size_t c = sz / CLASS_STEP - 1;
    if (st->free_list[c]) {
        uint8_t *p = st->free_list[c];
        memcpy(&st->free_list[c], p, sizeof(void *));
        st->blob_bytes += sz;
        return p;
    }
    if (st->bump_left < sz) {
        /* The rest of the old slab goes to the free list of its class, if any. */
        if (st->bump_left >= CLASS_STEP) {
            size_t rc = st->bump_left / CLASS_STEP - 1;
            memcpy(st->bump, &st->free_list[rc], sizeof(void *));
            st->free_list[rc] = st->bump;
        }
        slab *s = malloc(sizeof(slab) + SLAB_BYTES);
        if (!s)
            return NULL;
        s->next = st->slabs;
        st->slabs = s;
        st->slab_bytes += sizeof(slab) + SLAB_BYTES;
        st->bump = (uint8_t *)(s + 1);
        st->bump_left = SLAB_BYTES;
    }
    uint8_t *p = st->bump;
    st->bump += sz;
    st->bump_left -= sz;
    st->blob_bytes += sz;
    return p;
}

static void blob_free(canon_state *st, uint8_t *p, size_t n)
{
    if (!p)
        return;
    size_t sz = class_size(n);
    if (sz > CLASS_MAX) {
        free(p);
        st->big_bytes -= sz;
        return;
    }
    size_t c = sz / CLASS_STEP - 1;
    memcpy(p, &st->free_list[c], sizeof(void *));
    st->free_list[c] = p;
    st->blob_bytes -= sz;
}

/* ---- lifecycle --------------------------------------------------------------------- */

cg_err *canon_state_new(uint32_t n_fields, canon_state **out)
{
    if (n_fields == 0 || n_fields > 65535)
        return cg_err_new(CG_EINVAL, "state: %u fields is out of range", n_fields);
    canon_state *st = calloc(1, sizeof(*st));
    if (!st)
        goto oom;
    st->n_fields = n_fields;
    st->dirty_all = 1;
    st->cap = 1024;
    st->slots = calloc(st->cap, sizeof(slot));
    st->vtab_cap = n_fields + 1;
    st->vtab = calloc(st->vtab_cap, sizeof(canon_version));
    st->vidx = calloc(n_fields, sizeof(uint32_t));
    if (!st->slots || !st->vtab || !st->vidx)
        goto oom;
    *out = st;
    return NULL;
oom:
    canon_state_free(st);
    return cg_err_new(CG_ENOMEM, "out of memory creating a state");
}

void canon_state_free(canon_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->cap && st->slots; i++) {
        if (st->slots[i].blob && class_size(st->slots[i].size & SIZE_MASK) > CLASS_MAX)
            free(st->slots[i].blob);
    }
    while (st->slabs) {
        slab *s = st->slabs;
        st->slabs = s->next;
        free(s);
    }
    for (uint32_t i = 0; i < st->n_sources; i++)
        free(st->sources[i].name);
    free(st->sources);
    free(st->slots);
    free(st->vtab);
    free(st->vidx);
    free(st->scratch);
    free(st->hint_key);
    free(st);
}

uint32_t canon_state_n_fields(const canon_state *st)
{
    return st->n_fields;
}

size_t canon_state_count(const canon_state *st)
{
    return st->count;
}

size_t canon_state_bytes(const canon_state *st)
{
    return sizeof(*st) + st->slab_bytes + st->big_bytes + st->cap * sizeof(slot) +
           st->source_bytes + st->cap_sources * sizeof(source) +
           st->vtab_cap * sizeof(canon_version) + st->scratch_cap + st->hint_cap +
           st->n_fields * sizeof(uint32_t);
}

size_t canon_state_blob_bytes(const canon_state *st)
{
    return st->blob_bytes + st->big_bytes;
}

/* ---- sources ----------------------------------------------------------------------- */

static int name_cmp(const source *x, const source *y)
{
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

uint32_t canon_state_source(canon_state *st, const char *name, size_t len)
{
    for (uint32_t i = 0; i < st->n_sources; i++) {
        if (st->sources[i].len == len && !memcmp(st->sources[i].name, name, len))
            return i + 1;
    }
    if (st->n_sources == st->cap_sources) {
        uint32_t c = st->cap_sources ? st->cap_sources * 2 : 8;
        source *s = realloc(st->sources, c * sizeof(*s));
        if (!s)
            return 0;
        st->sources = s;
        st->cap_sources = c;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return 0;
    memcpy(copy, name, len);
    copy[len] = '\0';
    source *ns = &st->sources[st->n_sources];
    ns->name = copy;
    ns->len = len;
    st->source_bytes += len + 1;
    /* Ranks make comparisons one integer compare; sources are few and rarely new, so
     * the rare renumbering is cheap. */
    ns->rank = 0;
    for (uint32_t i = 0; i < st->n_sources; i++) {
        source *o = &st->sources[i];
        if (name_cmp(o, ns) < 0)
            ns->rank++;
        else
            o->rank++;
    }
    return ++st->n_sources;
}

void canon_state_source_drop_last(canon_state *st, uint32_t id)
{
    if (id == 0 || id != st->n_sources)
        return;
    source *d = &st->sources[id - 1];
    for (uint32_t i = 0; i + 1 < st->n_sources; i++) {
        if (st->sources[i].rank > d->rank)
            st->sources[i].rank--;
    }
    st->source_bytes -= d->len + 1;
    free(d->name);
    st->n_sources--;
}

const char *canon_state_source_name(const canon_state *st, uint32_t id, size_t *len)
{
    if (id == 0 || id > st->n_sources)
        return NULL;
    *len = st->sources[id - 1].len;
    return st->sources[id - 1].name;
}

int canon_version_cmp(const canon_state *st, const canon_version *a, const canon_version *b)
{
    if (a->source == 0 || b->source == 0)
        return (a->source != 0) - (b->source != 0);
    if (a->event_time != b->event_time)
        return a->event_time < b->event_time ? -1 : 1;
    if (a->source != b->source) {
        uint32_t x = st->sources[a->source - 1].rank, y = st->sources[b->source - 1].rank;
        return x < y ? -1 : 1;
    }
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

/* ---- table ------------------------------------------------------------------------- */

static int blob_key_eq(const uint8_t *blob, const void *key, size_t key_len)
{
    const uint8_t *p = blob;
    uint64_t n = get_uv(&p);
    return n == key_len && !memcmp(p, key, key_len);
}

/* The slot of key, or the empty slot where it would go. */
static size_t find_slot(const canon_state *st, const void *key, size_t key_len, uint32_t h)
{
    size_t mask = st->cap - 1;
    size_t i = h & mask;
    for (;;) {
        const slot *s = &st->slots[i];
        if (!s->blob || (s->hash == h && blob_key_eq(s->blob, key, key_len)))
            return i;
        i = (i + 1) & mask;
    }
}

static int table_grow(canon_state *st)
{
    size_t cap = st->cap * 2;
    slot *ns = calloc(cap, sizeof(slot));
    if (!ns)
        return -1;
    for (size_t i = 0; i < st->cap; i++) {
        slot *s = &st->slots[i];
        if (!s->blob)
            continue;
        size_t j = s->hash & (cap - 1);
        while (ns[j].blob)
            j = (j + 1) & (cap - 1);
        ns[j] = *s;
    }
    free(st->slots);
    st->slots = ns;
    st->cap = cap;
    st->hint_slot_ok = 0;
    return 0;
}

static void get_version(const uint8_t **p, canon_version *v)
{
    v->event_time = get_zz(p);
    v->source = (uint32_t)get_uv(p);
    v->seq = get_zz(p);
    v->partition = (int32_t)(get_uv(p) - 1);
    v->offset = (int64_t)(get_uv(p) - 1);
}

static size_t put_version(uint8_t *p, const canon_version *v)
{
    size_t n = put_zz(p, v->event_time);
    n += put_uv(p + n, v->source);
    n += put_zz(p + n, v->seq);
    n += put_uv(p + n, (uint64_t)((int64_t)v->partition + 1));
    n += put_uv(p + n, (uint64_t)(v->offset + 1));
    return n;
}

/* A blob's head: the key's length, the key and the version; returns what follows. */
static const uint8_t *blob_head(const uint8_t *blob, const uint8_t **key, size_t *key_len,
                                uint64_t *version)
{
    const uint8_t *p = blob;
    *key_len = (size_t)get_uv(&p);
    *key = p;
    p += *key_len;
    *version = get_uv(&p);
    return p;
}

static void unpack(canon_state *st, const uint8_t *blob, canon_entity *e)
{
    const uint8_t *p = blob_head(blob, &e->key, &e->key_len, &e->version);
    uint8_t flags = *p++;
    e->has_deleted = flags & 1;
    memset(&e->deleted, 0, sizeof(e->deleted));
    if (e->has_deleted) {
        get_version(&p, &e->deleted);
    }
    uint32_t nv = (uint32_t)get_uv(&p);
    for (uint32_t i = 0; i < nv; i++)
        get_version(&p, &st->vtab[i]);
    memset(e->fields, 0, st->n_fields * sizeof(*e->fields));
    uint32_t np = (uint32_t)get_uv(&p);
    for (uint32_t i = 0; i < np; i++) {
        uint32_t idx = (uint32_t)get_uv(&p);
        uint64_t vc = get_uv(&p);
        canon_field_state *f = &e->fields[idx];
        f->present = 1;
        f->cleared = vc & 1;
        f->ver = st->vtab[vc >> 1];
        if (!f->cleared) {
            f->len = (uint32_t)get_uv(&p);
            f->val = p;
            p += f->len;
        }
    }
}

/* Remembers the lookup of key (hash h, slot i) for the next put. */
static void set_hint(canon_state *st, const void *key, size_t key_len, uint32_t h, size_t i)
{
    st->hint_ok = st->hint_slot_ok = 0;
    if (key_len > st->hint_cap) {
        size_t c = key_len < 64 ? 64 : key_len;
        uint8_t *k = realloc(st->hint_key, c);
        if (!k)
            return; /* no hint: the put hashes again */
        st->hint_key = k;
        st->hint_cap = c;
    }
    if (key_len)
        memcpy(st->hint_key, key, key_len);
    st->hint_len = key_len;
    st->hint_hash = h;
    st->hint_slot = i;
    st->hint_ok = st->hint_slot_ok = 1;
}

int canon_state_get(canon_state *st, const void *key, size_t key_len, canon_entity *e)
{
    uint32_t h = (uint32_t)hash_key(key, key_len);
    size_t i = find_slot(st, key, key_len, h);
    set_hint(st, key, key_len, h, i);
    if (!st->slots[i].blob) {
        e->key = key;
        e->key_len = key_len;
        e->version = 0;
        e->has_deleted = 0;
        memset(&e->deleted, 0, sizeof(e->deleted));
        memset(e->fields, 0, st->n_fields * sizeof(*e->fields));
        return 0;
    }
    unpack(st, st->slots[i].blob, e);
    return 1;
}

uint64_t canon_state_version(const canon_state *st, const void *key, size_t key_len)
{
    size_t i = find_slot(st, key, key_len, (uint32_t)hash_key(key, key_len));
    const uint8_t *blob = st->slots[i].blob, *stored;
    size_t stored_len;
    uint64_t version = 0;
    if (blob)
        blob_head(blob, &stored, &stored_len, &version);
    return version;
}

uint32_t canon_state_prefetch_slot(const canon_state *st, const void *key, size_t key_len)
{
    uint32_t h = (uint32_t)hash_key(key, key_len);
    __builtin_prefetch(&st->slots[h & (st->cap - 1)], 0, 3);
    return h;
}

void canon_state_prefetch_blob(const canon_state *st, uint32_t h)
{
    /* The first probe only: a key further along its run is rare at 3/4 full at most. */
    const slot *s = &st->slots[h & (st->cap - 1)];
    if (!s->blob || s->hash != h)
        return;
    uintptr_t a = (uintptr_t)s->blob & ~(uintptr_t)63,
              end = (uintptr_t)s->blob + (s->size & SIZE_MASK);
    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a, 1, 3);
}

/* Equal versions from different messages (a source that reuses a version) each keep
 * their own origin, so the version table tells them apart. */
static int version_eq(const canon_version *a, const canon_version *b)
{
    return a->event_time == b->event_time && a->source == b->source && a->seq == b->seq &&
           a->offset == b->offset && a->partition == b->partition;
}

/* Puts blob (size bytes, owned by st from here on) in key's slot, freeing the blob it
 * replaces, and marks the slot dirty for the checkpoint (counted once until cleared). */
static void store_blob(canon_state *st, const void *key, size_t klen, uint8_t *blob, size_t size)
{
    uint32_t h;
    size_t i;
    if (st->hint_ok && klen == st->hint_len && (!klen || !memcmp(key, st->hint_key, klen))) {
        h = st->hint_hash;
        i = st->hint_slot_ok ? st->hint_slot : find_slot(st, key, klen, h);
    } else {
        h = (uint32_t)hash_key(key, klen);
        i = find_slot(st, key, klen, h);
    }
    /* Stored: an empty slot of the hint may be taken now, and blob pointers change. */
    st->hint_ok = st->hint_slot_ok = 0;
    slot *s = &st->slots[i];
    if (s->blob)
        blob_free(st, s->blob, s->size & SIZE_MASK);
    else
        st->count++;
    if (!s->blob || !(s->size & SIZE_DIRTY))
        st->n_dirty++;
    s->blob = blob;
    s->hash = h;
    s->size = (uint32_t)size | SIZE_DIRTY;
}

cg_err *canon_state_put(canon_state *st, const canon_entity *e)
{
    if (e->key_len > CANON_KEY_MAX)
        return cg_err_new(CG_EINVAL, "state: key of %zu bytes is too long", e->key_len);
    /* Upper bound of the blob: varints take at most 10 bytes. */
    size_t need = 10 + e->key_len + 10 + 1 + 50 + 10 + 10;
    uint32_t nv = 0, np = 0;
    /* The version table: one entry per distinct version among the fields (vidx: each
     * field's entry). */
    for (uint32_t i = 0; i < st->n_fields; i++) {
        const canon_field_state *f = &e->fields[i];
        if (!f->present)
            continue;
        np++;
        need += 50 + 10 + 10 + 10 + (f->cleared ? 0 : f->len);
        uint32_t k;
        for (k = 0; k < nv && !version_eq(&st->vtab[k], &f->ver); k++)
            ;
        if (k == nv)
            st->vtab[nv++] = f->ver;
        st->vidx[i] = k;
    }
    if (need > SIZE_MASK)
        return cg_err_new(CG_EINVAL, "state: entity of %zu bytes is too large", need);
    if (need > st->scratch_cap) {
        size_t c = st->scratch_cap ? st->scratch_cap : 1024;
        while (c < need)
            c *= 2;
        uint8_t *s = realloc(st->scratch, c);
        if (!s)
            return cg_err_new(CG_ENOMEM, "out of memory storing an entity");
        st->scratch = s;
        st->scratch_cap = c;
    }

    uint8_t *p = st->scratch;
    p += put_uv(p, e->key_len);
    memcpy(p, e->key, e->key_len);
    p += e->key_len;
    p += put_uv(p, e->version);
    *p++ = e->has_deleted ? 1 : 0;
    if (e->has_deleted)
        p += put_version(p, &e->deleted);
    p += put_uv(p, nv);
    for (uint32_t k = 0; k < nv; k++)
        p += put_version(p, &st->vtab[k]);
    p += put_uv(p, np);
    for (uint32_t i = 0; i < st->n_fields; i++) {
        const canon_field_state *f = &e->fields[i];
        if (!f->present)
            continue;
        p += put_uv(p, i);
        p += put_uv(p, (uint64_t)st->vidx[i] << 1 | (f->cleared ? 1u : 0u));
        if (!f->cleared) {
            p += put_uv(p, f->len);
            memcpy(p, f->val, f->len);
            p += f->len;
        }
    }
    size_t size = (size_t)(p - st->scratch);

    if ((st->count + 1) * 4 > st->cap * 3 && table_grow(st))
        return cg_err_new(CG_ENOMEM, "out of memory growing the state table");
    uint8_t *blob = blob_alloc(st, size);
    if (!blob)
        return cg_err_new(CG_ENOMEM, "out of memory storing an entity");
    memcpy(blob, st->scratch, size);

    /* Look the key up in the scratch copy: e->key may point into the old blob, which is
     * still intact here, but the scratch copy is what we keep. */
    const uint8_t *kp = st->scratch;
    size_t klen = (size_t)get_uv(&kp);
    store_blob(st, kp, klen, blob, size);
    return NULL;
}

int canon_state_next(canon_state *st, size_t *cursor, canon_entity *e)
{
    while (*cursor < st->cap) {
        slot *s = &st->slots[(*cursor)++];
        if (s->blob) {
            unpack(st, s->blob, e);
            return 1;
        }
    }
    return 0;
}

/* ---- dirty tracking ---------------------------------------------------------------- */

size_t canon_state_dirty_count(const canon_state *st)
{
    return st->n_dirty;
}

int canon_state_dirty_all(const canon_state *st)
{
    return st->dirty_all;
}

int canon_state_next_dirty(canon_state *st, size_t *cursor, canon_entity *e)
{
    while (*cursor < st->cap) {
        slot *s = &st->slots[(*cursor)++];
        if (s->blob && (s->size & SIZE_DIRTY)) {
            unpack(st, s->blob, e);
            return 1;
        }
    }
    return 0;
}

void canon_state_clear_dirty(canon_state *st)
{
    for (size_t i = 0; i < st->cap && st->n_dirty; i++) {
        if (st->slots[i].size & SIZE_DIRTY) {
            st->slots[i].size &= SIZE_MASK;
            st->n_dirty--;
        }
    }
    st->n_dirty = 0;
    st->dirty_all = 0;
}

/* ---- raw blobs ----------------------------------------------------------------------- */

uint32_t canon_state_n_sources(const canon_state *st)
{
    return st->n_sources;
}

int canon_state_next_raw(const canon_state *st, size_t *cursor, int dirty_only, const uint8_t **key,
                         size_t *key_len, const uint8_t **blob, size_t *len)
{
    while (*cursor < st->cap) {
        const slot *s = &st->slots[(*cursor)++];
        if (!s->blob || (dirty_only && !(s->size & SIZE_DIRTY)))
            continue;
        const uint8_t *p = s->blob;
        *key_len = (size_t)get_uv(&p);
        *key = p;
        *blob = s->blob;
        *len = s->size & SIZE_MASK;
        return 1;
    }
    return 0;
}

/* Bounded readers for untrusted blobs: -1 past the end or on a varint over 10 bytes. */
static int chk_uv(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t c = *(*p)++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static int chk_version(const canon_state *st, const uint8_t **p, const uint8_t *end)
{
    uint64_t t, src, seq, part, off;
    if (chk_uv(p, end, &t) || chk_uv(p, end, &src) || chk_uv(p, end, &seq) ||
        chk_uv(p, end, &part) || chk_uv(p, end, &off))
        return -1;
    return src > st->n_sources ? -1 : 0;
}

cg_err *canon_state_put_raw(canon_state *st, const uint8_t *blob, size_t len)
{
    const uint8_t *p = blob, *end = blob + len;
    uint64_t klen, ver, nv, np, prev = 0;
    if (len > SIZE_MASK || chk_uv(&p, end, &klen) || klen > CANON_KEY_MAX ||
        klen > (uint64_t)(end - p))
        goto bad;
    const uint8_t *key = p;
    p += klen;
    if (chk_uv(&p, end, &ver) || p >= end || (*p & ~1u))
        goto bad;
    if ((*p++ & 1) && chk_version(st, &p, end))
        goto bad;
    if (chk_uv(&p, end, &nv) || nv > st->n_fields)
        goto bad;
    for (uint64_t i = 0; i < nv; i++) {
        if (chk_version(st, &p, end))
            goto bad;
    }
    if (chk_uv(&p, end, &np) || np > st->n_fields)
        goto bad;
    for (uint64_t i = 0; i < np; i++) {
        uint64_t idx, vc, vlen;
        /* field indexes strictly increase, as put writes them: no field twice */
        if (chk_uv(&p, end, &idx) || idx >= st->n_fields || (i && idx <= prev) ||
            chk_uv(&p, end, &vc) || (vc >> 1) >= nv)
            goto bad;
        prev = idx;
        if (!(vc & 1)) {
            if (chk_uv(&p, end, &vlen) || vlen > (uint64_t)(end - p))
                goto bad;
            p += vlen;
        }
    }
    if (p != end)
        goto bad;

    if ((st->count + 1) * 4 > st->cap * 3 && table_grow(st))
        return cg_err_new(CG_ENOMEM, "out of memory growing the state table");
    uint8_t *copy = blob_alloc(st, len);
    if (!copy)
        return cg_err_new(CG_ENOMEM, "out of memory storing an entity");
    memcpy(copy, blob, len);
    store_blob(st, key, (size_t)klen, copy, len);
    return NULL;
bad:
    return cg_err_new(CG_EINVAL, "state: a malformed entity blob of %zu bytes", len);
}
