/* registry.c - the schema registry core (see registry.h).
 *
 * State: subjects (name -> subject_ent with its versions in ascending order), schemas by
 * id, schemas by identity and by exact registered text (the text index lets a lookup or
 * registration of the text a client registered skip parsing). Schema entries and
 * subject entries are never freed while the registry lives, so version entries, parsed
 * references and the lookup cache can point at them freely.
 *
 * Parsed schemas (reg_schema) are made lazily, under the write lock, when a compatibility
 * check or the canon endpoints need them; the read paths never need them.
 *
 * Write order: validate, then persist in one SQLite transaction, then change memory. A
 * store failure leaves memory as it was, so memory never holds what disk does not.
 *
 * Memory layout (issue 3 asks for < 50 MB with 10,000 schemas). A schema's text is held
 * twice, in two forms that the hot paths need: raw (schema_ent.text: parsing, the
 * .../schema endpoints, the text index) and as a JSON string inside the pre-rendered
 * GET /schemas/ids/{id} body (schema_ent.body, sent without a copy). Nothing else
 * repeats it:
 *   - the identity (type, normalized form, references, metadata, ruleSet) lives on disk;
 *     memory keeps its SHA-256 (ident), the key of by_identity, borrowed by the map;
 *   - by_text is keyed by a 64-bit hash of the text (kept in the map's slot) and chains
 *     the entries that share it (text_next); a hit is verified against the one stored
 *     text, references, metadata and ruleSet, byte for byte;
 *   - a version object ({"subject","version","id",extras,"schema"}) is not kept per
 *     version: version_body() assembles it on demand from the subject's name as JSON and
 *     the pieces of the schema's body (its JSON string and its extras, located by
 *     esc_len), the same bytes jansson gave when they were stored;
 *   - the subjects map borrows the subject's name; ids and text hashes sit in the slots.
 * With 10,000 schemas of ~600 bytes, one per subject, that is about 2 KB of resident
 * memory per schema and its subject, where it was 5 KB.
 *
 * The lookup cache (POST /subjects/{s}). Clients look up the same schema with the same
 * bytes again and again, and parsing that body (a JSON document whose one string holds
 * the escaped schema) was most of a lookup's cost. So before any parsing, reg_lookup()
 * hashes (subject, the options the answer depends on: deleted and normalize, the raw
 * body) with reg_hash64 and looks in a table of LOOKUP_SLOTS entries, in sets of
 * LOOKUP_WAYS chosen by the hash (least recently used goes first), so that two busy
 * requests whose hashes meet do not keep evicting each other. An entry holds the
 * request body byte for byte, the subject entry and the index of the version that
 * answered; it answers only if hash, options, length, body bytes and subject name all
 * match (so a hash collision can never answer wrongly) and both generations it recorded
 * are still current:
 *   - subject_ent.gen, bumped by subject_put_version() and subject_remove_version(),
 *     i.e. by every registration, IMPORT write and hard delete of a version in that
 *     subject (new versions change which version a lookup finds);
 *   - reg_registry.gen, bumped by write_unlock(), i.e. by every soft or hard delete of a
 *     version or subject, and by config and mode changes: anything done under the full
 *     write lock forgets every remembered answer. Deletes are rare, so this costs little,
 *     and it stays right whatever such a change touches (another subject's references
 *     included).
 * Both are read and written under `lock` (writers hold it for writing), so an entry
 * stored under the read lock with the generations of that moment cannot outlive a
 * change. Only answers are remembered, never errors. The version index stays valid
 * while the subject's gen is unchanged. Memory is bounded: bodies over LOOKUP_MAX_BODY
 * are not remembered, and the bodies held stay under LOOKUP_BUDGET (a sweep round the
 * table drops entries when a store would pass it). The table has its own mutex
 * (cache_mu), taken inside `lock`.
 */
#include "registry.h"

#include <gnutls/crypto.h>
#include <jansson.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "canon_contract.h"
#include "canon_derive.h"
#include "compat.h"
#include "hmap.h"
#include "schema.h"
#include "store.h"

#define ERR_BAD_REQUEST 400 /* malformed JSON body, as Confluent's rest layer answers */
#define MAX_REF_DEPTH   32

#define IDENT_LEN 32 /* SHA-256 of a schema's identity string */

/* The GET /schemas/ids/{id} body starts with this; the JSON string of the text follows. */
#define SCHEMA_PREFIX     "{\"schema\":"
#define SCHEMA_PREFIX_LEN (sizeof(SCHEMA_PREFIX) - 1)

typedef struct schema_ent schema_ent;
struct schema_ent {
    int32_t id;
    uint32_t esc_len; /* length of the JSON string of text in body, quotes included */
    char *type;
    char *text;          /* exactly as registered: the one raw copy */
    char *refs_json;     /* compact JSON array or NULL when none */
    char *metadata_json; /* compact JSON or NULL */
    char *ruleset_json;
    /* The identity text, only on a new entry until persist_and_apply() has stored it and
     * set ident from it; NULL on every entry of the registry. */
    char *identity;
    reg_schema *parsed; /* lazily, under the write lock */
    char *body;         /* GET /schemas/ids/{id} answer: SCHEMA_PREFIX, text as JSON, extras */
    size_t body_len;
    size_t n_rows;                  /* version rows (soft-deleted included) pointing here */
    schema_ent *text_next;          /* next entry in by_text whose text has the same hash */
    unsigned char ident[IDENT_LEN]; /* the by_identity key; the identity text is on disk */
};

typedef struct version_ent {
    int32_t version;
    int deleted;
    schema_ent *schema;
} version_ent;

/* Every change to a subject's versions (added, soft-deleted, removed) goes through
 * subject_put_version(), subject_remove_version() or happens between write_lock() and
 * write_unlock(): the first two bump gen, the last bumps the registry's gen, and the
 * lookup cache checks both (see the comment at the top). */
typedef struct subject_ent {
    char *name;      /* also the subjects map's key (borrowed) */
    char *name_json; /* name as a JSON string, for rendering version objects; NULL: use jansson */
    version_ent *v;  /* ascending by version */
    size_t n, cap;
    uint64_t gen; /* bumped on every change to v (write lock held) */
    int level;    /* reg_compat_level, -1 when not set */
    int mode;     /* reg mode, -1 when not set */
    /* A canonical subject's entity_json() answer (owned), valid while the generations it
     * was made at hold: the registry's, this subject's, and the derived subjects' (each
     * NULL while it does not exist). write_mu held. */
    json_t *ej;
    uint64_t ej_gen, ej_sgen, ej_dgen[2];
    const struct subject_ent *ej_ds[2];
} subject_ent;

/* One remembered lookup (POST /subjects/{s}): the exact request body and flags that got
 * version vi of subject s while s->gen was sgen and the registry's gen was gen. */
typedef struct lookup_ent {
    uint64_t hash; /* lookup_hash(subject, flags, body) */
    char *body;    /* the request body, byte for byte; NULL: slot empty */
    size_t len;
    subject_ent *s; /* subjects are never freed while the registry lives */
    size_t vi;
    uint64_t sgen, gen;
    uint64_t used; /* cache_tick of the last hit or store: the least recently used goes */
    unsigned flags;
} lookup_ent;

#define LOOKUP_WAYS     4                 /* entries per set; a set is chosen by hash */
#define LOOKUP_SLOTS    4096              /* entries in all, a multiple of LOOKUP_WAYS */
#define LOOKUP_MAX_BODY (64 * 1024)       /* larger bodies are not remembered */
#define LOOKUP_BUDGET   (8 * 1024 * 1024) /* request bytes held at most */

enum { MODE_READWRITE, MODE_READONLY, MODE_READONLY_OVERRIDE, MODE_IMPORT };
static const char *const mode_names[] = {"READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"};

/* Locking: every change takes write_mu first (so changes are serialised and a writer
 * may read the state without `lock`), then `lock` for writing only while it changes what
 * readers see. Readers take `lock` for reading and never wait on SQLite: a registration
 * computes and fsyncs under write_mu alone. Lazily parsed schemas (schema_ent.parsed) are
 * touched only under write_mu; readers never look at them. */
struct reg_registry {
    pthread_mutex_t write_mu;
    pthread_rwlock_t lock; /* guards everything below */
    reg_store *store;      /* used only under the write lock */
    reg_hmap *subjects;    /* name -> subject_ent */
    reg_hmap *by_id;       /* id -> schema_ent */
    reg_hmap *by_identity; /* SHA-256 of identity -> schema_ent (key borrowed from it) */
    reg_hmap *by_text;     /* reg_hash64(text) -> schema_ent, chained by text_next */
    int64_t next_id;       /* past INT32_MAX once the last id is taken: see ids_left() */
    int global_level;
    int global_mode;
    uint64_t gen; /* bumped by write_unlock(): deletes, config and mode changes */
    /* The lookup cache. cache_mu is taken with `lock` held (for reading is enough),
     * never the other way round. */
    pthread_mutex_t cache_mu;
    lookup_ent *cache; /* LOOKUP_SLOTS, set after set */
    size_t cache_bytes;
    uint64_t cache_tick;
    size_t cache_hand; /* where the sweep that keeps cache_bytes in budget goes on */
};

/* ---- small helpers ---- */

static void write_lock(reg_registry *r)
{
    pthread_mutex_lock(&r->write_mu);
    pthread_rwlock_wrlock(&r->lock);
}

static void write_unlock(reg_registry *r)
{
    /* Whatever changed under the lock (a delete, a mode), no remembered lookup answer
     * survives it: cheap, since such changes are rare, and safe whatever they touched. */
    r->gen++;
    pthread_rwlock_unlock(&r->lock);
    pthread_mutex_unlock(&r->write_mu);
}

static cg_err *oom(void)
{
    return cg_err_new(CG_ENOMEM, "out of memory");
}

static int body_from_json(json_t *j, reg_body *out)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s)
        return -1;
    out->data = s;
    out->len = strlen(s);
    return 0;
}

static cg_err *reply_json(json_t *j, reg_body *out)
{
    if (!j || body_from_json(j, out))
        return oom();
    return NULL;
}

static cg_err *reply_copy(const char *data, size_t len, reg_body *out)
{
    out->data = malloc(len + 1);
    if (!out->data)
        return oom();
    memcpy(out->data, data, len);
    out->data[len] = '\0';
    out->len = len;
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Parses "latest", "-1" or a version number. *v = -1 for latest. As Confluent's VersionId
 * reads it (clients that send what Confluent takes must get the same version): spaces and
 * control bytes around it are trimmed (Java's trim()), "latest" is in any case, and the
 * number may carry a sign (Integer.parseInt()); nothing else. */
static cg_err *parse_version(const char *s, int32_t *v)
{
    char t[64];
    size_t a = 0, b = strlen(s);
    while (a < b && (unsigned char)s[a] <= ' ')
        a++;
    while (b > a && (unsigned char)s[b - 1] <= ' ')
        b--;
    if (b - a < sizeof(t)) {
        memcpy(t, s + a, b - a);
        t[b - a] = 0;
        if (!strcasecmp(t, "latest")) {
            *v = -1;
            return NULL;
        }
        const char *d = t + (t[0] == '+' || t[0] == '-');
        errno = 0;
        long long n = *d && strspn(d, "0123456789") == strlen(d) ? strtoll(t, NULL, 10) : 0;
        if (errno == 0 && (n == -1 || (n >= 1 && n <= INT32_MAX))) {
            *v = (int32_t)n;
            return NULL;
        }
    }
    return cg_err_new(CG_EINVALID_VERSION,
                      "The specified version '%s' is not a valid version id. Allowed values "
                      "are between [1, 2^31-1] and the string \"latest\"",
                      s);
}

static cg_err *subject_not_found(const char *subject)
{
    return cg_err_new(CG_ESUBJECT_NOT_FOUND, "Subject '%s' not found.", subject);
}

static size_t live_count(const subject_ent *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += !s->v[i].deleted;
    return n;
}

/* The subject if it has versions visible under `deleted`, else NULL. */
static subject_ent *visible_subject(reg_registry *r, const char *name, int deleted)
{
    subject_ent *s = reg_hmap_gets(r->subjects, name);
    if (!s || !s->n)
        return NULL;
    if (!deleted && !live_count(s))
        return NULL;
    return s;
}

static version_ent *find_version(subject_ent *s, int32_t v, int deleted)
{
    if (v == -1) {
        for (size_t i = s->n; i-- > 0;)
            if (deleted || !s->v[i].deleted)
                return &s->v[i];
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].version == v)
            return (deleted || !s->v[i].deleted) ? &s->v[i] : NULL;
    return NULL;
}

static int is_canon_subject(const char *subject)
{
    char entity[256];
    return reg_canon_subject_entity(subject, entity, sizeof(entity));
}

static reg_compat_level effective_level(reg_registry *r, const subject_ent *s, const char *name)
{
    if (s && s->level >= 0)
        return (reg_compat_level)s->level;
    if (is_canon_subject(name))
        return REG_COMPAT_FULL_TRANSITIVE;
    return (reg_compat_level)r->global_level;
}

static int effective_mode(reg_registry *r, const subject_ent *s)
{
    if (s && s->mode >= 0)
        return s->mode;
    return r->global_mode;
}

static int mode_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
        if (!strcasecmp(name, mode_names[i]))
            return (int)i;
    return -1;
}

static cg_err *writable(reg_registry *r, const subject_ent *s, const char *subject)
{
    int m = effective_mode(r, s);
    if (m == MODE_READONLY || m == MODE_READONLY_OVERRIDE)
        return cg_err_new(CG_EOPERATION_NOT_PERMITTED, "Subject %s is in read-only mode", subject);
    return NULL;
}

/* ---- rendering ---- */

static void add_extras(json_t *o, const schema_ent *e)
{
    if (e->type && strcmp(e->type, "AVRO"))
        json_object_set_new(o, "schemaType", json_string(e->type));
    if (e->refs_json) {
        json_t *j = json_loads(e->refs_json, 0, NULL);
        if (j)
            json_object_set_new(o, "references", j);
    }
    if (e->metadata_json) {
        json_t *j = json_loads(e->metadata_json, 0, NULL);
        if (j)
            json_object_set_new(o, "metadata", j);
    }
    if (e->ruleset_json) {
        json_t *j = json_loads(e->ruleset_json, 0, NULL);
        if (j)
            json_object_set_new(o, "ruleSet", j);
    }
}

static json_t *schema_object(const schema_ent *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "schema", json_string(e->text));
    add_extras(o, e);
    return o;
}

static json_t *version_object(const char *subject, const version_ent *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "subject", json_string(subject));
    json_object_set_new(o, "version", json_integer(v->version));
    json_object_set_new(o, "id", json_integer(v->schema->id));
    add_extras(o, v->schema);
    json_object_set_new(o, "schema", json_string(v->schema->text));
    return o;
}

/* Renders e->body, the GET /schemas/ids/{id} answer, as SCHEMA_PREFIX, the text as a
 * JSON string, then the extras: the bytes json_dumps(schema_object(e)) gives, laid out
 * so that version_body() can take the JSON string and the extras from it. */
static int render_schema(schema_ent *e)
{
    int rc = -1;
    json_t *js = json_string(e->text);
    json_t *x = json_object();
    char *esc = js ? json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *xs = NULL;
    if (!esc || !x)
        goto done;
    add_extras(x, e);
    xs = json_dumps(x, JSON_COMPACT);
    if (!xs)
        goto done;
    size_t el = strlen(esc), xl = strlen(xs) - 2; /* extras without their braces */
    size_t n = SCHEMA_PREFIX_LEN + el + (xl ? 1 + xl : 0) + 1;
    char *b = malloc(n + 1);
    if (!b || el > UINT32_MAX) {
        free(b);
        goto done;
    }
    char *p = b;
    memcpy(p, SCHEMA_PREFIX, SCHEMA_PREFIX_LEN);
    p += SCHEMA_PREFIX_LEN;
    memcpy(p, esc, el);
    p += el;
    if (xl) {
        *p++ = ',';
        memcpy(p, xs + 1, xl);
        p += xl;
    }
    *p++ = '}';
    *p = '\0';
    free(e->body);
    e->body = b;
    e->body_len = n;
    e->esc_len = (uint32_t)el;
    rc = 0;
done:
    json_decref(js);
    json_decref(x);
    free(esc);
    free(xs);
    return rc;
}

static char *put_int(char *p, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* The version object of v (GET /subjects/{s}/versions/{v}, lookup):
 * {"subject":S,"version":N,"id":I<extras>,"schema":T}, the bytes
 * json_dumps(version_object()) gives, assembled from the subject's name as JSON and the
 * pieces of the schema's rendered body instead of being kept per version. Lock held. */
static cg_err *version_body(const subject_ent *s, const version_ent *v, reg_body *out)
{
    static const char head[] = "{\"subject\":", ver[] = ",\"version\":", idk[] = ",\"id\":",
                      sch[] = ",\"schema\":";
    const schema_ent *e = v->schema;
    if (!s->name_json)
        return reply_json(version_object(s->name, v), out);
    const char *esc = e->body + SCHEMA_PREFIX_LEN;
    const char *extras = esc + e->esc_len; /* "" or ",..." up to the closing brace */
    size_t xl = e->body_len - SCHEMA_PREFIX_LEN - e->esc_len - 1;
    size_t nl = strlen(s->name_json);
    size_t cap =
        sizeof(head) + nl + sizeof(ver) + sizeof(idk) + 48 + xl + sizeof(sch) + e->esc_len + 2;
    char *b = malloc(cap), *p = b;
    if (!b)
        return oom();
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    memcpy(p, s->name_json, nl);
    p += nl;
    memcpy(p, ver, sizeof(ver) - 1);
    p = put_int(p + sizeof(ver) - 1, v->version);
    memcpy(p, idk, sizeof(idk) - 1);
    p = put_int(p + sizeof(idk) - 1, e->id);
    memcpy(p, extras, xl);
    p += xl;
    memcpy(p, sch, sizeof(sch) - 1);
    p += sizeof(sch) - 1;
    memcpy(p, esc, e->esc_len);
    p += e->esc_len;
    *p++ = '}';
    *p = '\0';
    out->data = b;
    out->len = (size_t)(p - b);
    return NULL;
}

/* ---- entries ---- */

static void schema_ent_free(schema_ent *e)
{
    if (!e)
        return;
    free(e->type);
    free(e->text);
    free(e->identity);
    free(e->refs_json);
    free(e->metadata_json);
    free(e->ruleset_json);
    reg_schema_free(e->parsed);
    free(e->body);
    free(e);
}

static subject_ent *subject_get_or_add(reg_registry *r, const char *name)
{
    subject_ent *s = reg_hmap_gets(r->subjects, name);
    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->name = strdup(name);
    s->level = -1;
    s->mode = -1;
    json_t *js = json_string(name); /* NULL for a name that is not UTF-8 */
    s->name_json = js ? json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    if (!s->name || reg_hmap_put_ref(r->subjects, s->name, strlen(s->name), s)) {
        free(s->name);
        free(s->name_json);
        free(s);
        return NULL;
    }
    return s;
}

/* Inserts a version keeping ascending order; replaces an existing one. */
static version_ent *subject_put_version(subject_ent *s, int32_t version, schema_ent *e, int deleted)
{
    size_t i = 0;
    while (i < s->n && s->v[i].version < version)
        i++;
    if (i < s->n && s->v[i].version == version) {
        s->v[i].schema->n_rows--;
    } else {
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 4;
            version_ent *nv = realloc(s->v, nc * sizeof(*nv));
            if (!nv)
                return NULL;
            s->v = nv;
            s->cap = nc;
        }
        memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
        s->n++;
    }
    s->v[i].version = version;
    s->v[i].schema = e;
    s->v[i].deleted = deleted;
    e->n_rows++;
    s->gen++;
    return &s->v[i];
}

static void subject_remove_version(subject_ent *s, version_ent *v)
{
    size_t i = (size_t)(v - s->v);
    v->schema->n_rows--;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
    s->gen++;
}

static int32_t max_version(const subject_ent *s)
{
    return s && s->n ? s->v[s->n - 1].version : 0;
}

/* The version after the subject's last, or 0 when that one is INT32_MAX (an IMPORT can
 * give it): versions are Java ints in Confluent's clients, and a wrapped one would sort
 * first and be overwritten by the next. */
static int32_t next_version(const subject_ent *s)
{
    int32_t v = max_version(s);
    return v == INT32_MAX ? 0 : v + 1;
}

static cg_err *no_version_left(const char *subject)
{
    return cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                      "Subject %s has version %d, the largest a version may be; no version can "
                      "follow it",
                      subject, (int)INT32_MAX);
}

/* Ids are Java ints too; after an IMPORT of id INT32_MAX none is left to hand out, and a
 * wrapped id would repeat a negative one after a restart. */
static cg_err *ids_left(const reg_registry *r, int64_t need)
{
    if (r->next_id + need - 1 <= INT32_MAX)
        return NULL;
    return cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                      "No schema id is left to assign: ids end at %d and %lld would be next",
                      (int)INT32_MAX, (long long)r->next_id);
}

/* Identity key: type, normalized form, refs, metadata, ruleSet, separated by bytes JSON
 * never holds unescaped. Stored on disk; in memory only its SHA-256 (by_identity). */
static char *make_key(const char *type, const char *form, const char *refs, const char *meta,
                      const char *rules)
{
    size_t n = strlen(type) + strlen(form) + (refs ? strlen(refs) : 0) + (meta ? strlen(meta) : 0) +
               (rules ? strlen(rules) : 0) + 8;
    char *k = malloc(n);
    if (!k)
        return NULL;
    snprintf(k, n, "%s\x01%s\x01%s\x01%s\x01%s", type, form, refs ? refs : "", meta ? meta : "",
             rules ? rules : "");
    return k;
}

static cg_err *identity_digest(const char *identity, unsigned char out[IDENT_LEN])
{
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, identity, strlen(identity), out))
        return cg_err_new(CG_EINVAL, "gnutls_hash_fast failed");
    return NULL;
}

static schema_ent *by_identity(reg_registry *r, const unsigned char digest[IDENT_LEN])
{
    return reg_hmap_get(r->by_identity, digest, IDENT_LEN);
}

/* The entry with this identity (make_key() of the normalized form), or *out = NULL.
 * Lock held. */
static cg_err *find_identity(reg_registry *r, const char *identity, schema_ent **out)
{
    unsigned char d[IDENT_LEN];
    cg_err *err = identity_digest(identity, d);
    *out = err ? NULL : by_identity(r, d);
    return err;
}

static uint64_t text_hash(const char *text)
{
    return reg_hash64(text, strlen(text), 0x7465787400ULL);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* The entry registered with exactly this text, type, references, metadata and ruleSet
 * (the same five an identity is made of, text instead of normalized form). Lock held. */
static schema_ent *find_text(reg_registry *r, const char *type, const char *text, const char *refs,
                             const char *meta, const char *rules)
{
    for (schema_ent *e = reg_hmap_getu64(r->by_text, text_hash(text)); e; e = e->text_next)
        if (!strcmp(e->text, text) && !strcmp(e->type, type) &&
            !strcmp(nz(e->refs_json), nz(refs)) && !strcmp(nz(e->metadata_json), nz(meta)) &&
            !strcmp(nz(e->ruleset_json), nz(rules)))
            return e;
    return NULL;
}

static int index_schema(reg_registry *r, schema_ent *e)
{
    int rc = reg_hmap_puti(r->by_id, e->id, e);
    if (!rc && !by_identity(r, e->ident))
        rc = reg_hmap_put_ref(r->by_identity, e->ident, IDENT_LEN, e);
    if (!rc && !find_text(r, e->type, e->text, e->refs_json, e->metadata_json, e->ruleset_json)) {
        uint64_t h = text_hash(e->text);
        schema_ent *head = reg_hmap_getu64(r->by_text, h);
        e->text_next = head;
        rc = reg_hmap_putu64(r->by_text, h, e);
        if (rc)
            e->text_next = NULL;
    }
    return rc;
}

/* ---- parsing with references ---- */

static cg_err *ensure_parsed(reg_registry *r, schema_ent *e, int depth);

/* Resolves a references array to parsed schemas. refs_out gets n entries (caller frees
 * the array, not the schemas, which belong to their entries). */
static cg_err *resolve_refs(reg_registry *r, json_t *refs, int depth, const reg_schema ***out,
                            size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!refs || !json_array_size(refs))
        return NULL;
    if (depth > MAX_REF_DEPTH)
        return cg_err_new(CG_EINVALID_SCHEMA, "Invalid schema: references nested too deeply");
    size_t n = json_array_size(refs);
    const reg_schema **arr = calloc(n, sizeof(*arr));
    if (!arr)
        return oom();
    for (size_t i = 0; i < n; i++) {
        json_t *ref = json_array_get(refs, i);
        const char *subj = json_string_value(json_object_get(ref, "subject"));
        json_t *jv = json_object_get(ref, "version");
        if (!json_is_object(ref) || !subj || !json_is_string(json_object_get(ref, "name")) ||
            !json_is_integer(jv)) {
            free(arr);
            return cg_err_new(CG_EINVALID_SCHEMA,
                              "Invalid schema: a reference needs \"name\", \"subject\" and "
                              "\"version\"");
        }
        subject_ent *s = reg_hmap_gets(r->subjects, subj);
        json_int_t want = json_integer_value(jv);
        version_ent *v = s ? find_version(s, want == -1 ? -1 : (int32_t)want, 1) : NULL;
        if (!v || want == 0 || want < -1 || want > INT32_MAX) {
            free(arr);
            return cg_err_new(CG_EINVALID_SCHEMA,
                              "Invalid schema: reference '%s' names subject '%s' version %lld, "
                              "which does not exist",
                              json_string_value(json_object_get(ref, "name")), subj,
                              (long long)want);
        }
        cg_err *err = ensure_parsed(r, v->schema, depth + 1);
        if (err) {
            free(arr);
            return err;
        }
        arr[i] = v->schema->parsed;
    }
    *out = arr;
    *n_out = n;
    return NULL;
}

static cg_err *parse_with_refs(reg_registry *r, const char *text, json_t *refs, int depth,
                               reg_schema **out)
{
    const reg_schema **arr = NULL;
    size_t n = 0;
    cg_err *err = resolve_refs(r, refs, depth, &arr, &n);
    if (err)
        return err;
    err = reg_schema_parse(text, strlen(text), arr, n, out);
    free(arr);
    if (err && cg_err_code(err) != CG_EINVALID_SCHEMA && cg_err_code(err) != CG_ENOMEM) {
        /* Any parse failure is the client's schema being invalid. */
        cg_err *e2 = cg_err_new(CG_EINVALID_SCHEMA, "Invalid schema: %s", cg_err_msg(err));
        cg_err_free(err);
        err = e2;
    }
    return err;
}

static cg_err *ensure_parsed(reg_registry *r, schema_ent *e, int depth)
{
    if (e->parsed)
        return NULL;
    json_t *refs = e->refs_json ? json_loads(e->refs_json, 0, NULL) : NULL;
    cg_err *err = parse_with_refs(r, e->text, refs, depth, &e->parsed);
    json_decref(refs);
    if (err)
        err = cg_err_wrap(err, "stored schema %d: ", (int)e->id);
    return err;
}

/* A subject is stored and echoed in JSON, so it must be non-empty UTF-8 without control
 * characters. */
static int subject_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!*p)
        return 0;
    while (*p) {
        unsigned c = *p;
        size_t n;
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80)
            n = 0;
        else if ((c & 0xe0) == 0xc0 && c >= 0xc2)
            n = 1;
        else if ((c & 0xf0) == 0xe0)
            n = 2;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
            n = 3;
        else
            return 0;
        p++;
        for (size_t i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return 0;
    }
    /* jansson's own check also refuses overlong forms and surrogates. */
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

/* ---- request bodies ---- */

typedef struct schema_req {
    json_t *root;
    const char *text;
    const char *type;
    json_t *refs; /* borrowed from root; NULL when none */
    char *refs_json, *metadata_json, *ruleset_json;
    int64_t id;      /* 0 when absent */
    int64_t version; /* 0 when absent */
} schema_req;

static void schema_req_clear(schema_req *q)
{
    json_decref(q->root);
    free(q->refs_json);
    free(q->metadata_json);
    free(q->ruleset_json);
    memset(q, 0, sizeof(*q));
}

static char *compact(json_t *j)
{
    if (!j || json_is_null(j))
        return NULL;
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static cg_err *body_root(const char *body, size_t len, json_t **out)
{
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, JSON_DECODE_ANY, &je);
    if (!root)
        return cg_err_new(ERR_BAD_REQUEST,
                          "Unexpected character in request body: %s (line %d, "
                          "column %d)",
                          je.text, je.line, je.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return cg_err_new(CG_EHTTP_UNPROCESSABLE, "The request body must be a JSON object");
    }
    *out = root;
    return NULL;
}

static cg_err *parse_schema_req(const char *body, size_t len, schema_req *q)
{
    memset(q, 0, sizeof(*q));
    cg_err *err = body_root(body, len, &q->root);
    if (err)
        return err;
    json_t *js = json_object_get(q->root, "schema");
    if (!js || json_is_null(js)) {
        err = cg_err_new(CG_EINVALID_SCHEMA, "Empty schema");
        goto fail;
    }
    if (!json_is_string(js)) {
        err = cg_err_new(CG_EHTTP_UNPROCESSABLE, "\"schema\" must be a string");
        goto fail;
    }
    q->text = json_string_value(js);
    json_t *jt = json_object_get(q->root, "schemaType");
    if (jt && !json_is_null(jt)) {
        if (!json_is_string(jt)) {
            err = cg_err_new(CG_EHTTP_UNPROCESSABLE, "\"schemaType\" must be a string");
            goto fail;
        }
        q->type = json_string_value(jt);
    } else {
        q->type = "AVRO";
    }
    if (strcmp(q->type, "AVRO")) {
        if (!strcmp(q->type, "JSON") || !strcmp(q->type, "PROTOBUF"))
            err = cg_err_new(CG_EINVALID_SCHEMA,
                             "Invalid schema type %s: this registry supports AVRO only", q->type);
        else
            err = cg_err_new(CG_EINVALID_SCHEMA, "Invalid schema type %s", q->type);
        goto fail;
    }
    json_t *jr = json_object_get(q->root, "references");
    if (jr && !json_is_null(jr)) {
        if (!json_is_array(jr)) {
            err = cg_err_new(CG_EHTTP_UNPROCESSABLE, "\"references\" must be an array");
            goto fail;
        }
        if (json_array_size(jr)) {
            q->refs = jr;
            q->refs_json = json_dumps(jr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        }
    }
    json_t *jm = json_object_get(q->root, "metadata");
    if (jm && !json_is_null(jm) && !json_is_object(jm)) {
        err = cg_err_new(CG_EHTTP_UNPROCESSABLE, "\"metadata\" must be an object");
        goto fail;
    }
    q->metadata_json = compact(jm);
    json_t *jrs = json_object_get(q->root, "ruleSet");
    if (jrs && !json_is_null(jrs) && !json_is_object(jrs)) {
        err = cg_err_new(CG_EHTTP_UNPROCESSABLE, "\"ruleSet\" must be an object");
        goto fail;
    }
    q->ruleset_json = compact(jrs);
    json_t *jid = json_object_get(q->root, "id");
    if (jid && json_is_integer(jid) && json_integer_value(jid) > 0)
        q->id = json_integer_value(jid);
    json_t *jv = json_object_get(q->root, "version");
    if (jv && json_is_integer(jv) && json_integer_value(jv) > 0)
        q->version = json_integer_value(jv);
    if (q->id > INT32_MAX || q->version > INT32_MAX) {
        err = cg_err_new(CG_EHTTP_UNPROCESSABLE, "\"id\" and \"version\" must fit in 31 bits");
        goto fail;
    }
    return NULL;
fail:
    schema_req_clear(q);
    return err;
}

/* Replaces each reference to version -1 ("latest", as Confluent's clients send when no
 * version is given) with the number of that version now, in q->refs and q->refs_json.
 * Stored as -1, the reference would mean another schema once the subject moves on, and
 * the referenced version could be deleted under its user (referrers() matches numbers).
 * A subject that does not exist is left for resolve_refs() to report. *pinned (may be
 * NULL) tells whether any was replaced. Lock held (read or write); q is the caller's. */
static cg_err *pin_latest_refs(reg_registry *r, schema_req *q, int *pinned)
{
    int changed = 0;
    for (size_t i = 0; i < json_array_size(q->refs); i++) {
        json_t *ref = json_array_get(q->refs, i);
        json_t *jv = json_object_get(ref, "version");
        const char *subj = json_string_value(json_object_get(ref, "subject"));
        if (!json_is_integer(jv) || json_integer_value(jv) != -1 || !subj)
            continue;
        subject_ent *s = reg_hmap_gets(r->subjects, subj);
        version_ent *v = s ? find_version(s, -1, 0) : NULL;
        if (!v && s)
            v = find_version(s, -1, 1); /* as resolve_refs() would resolve it */
        if (!v)
            continue;
        if (json_object_set_new(ref, "version", json_integer(v->version)))
            return oom();
        changed = 1;
    }
    if (pinned)
        *pinned = changed;
    if (!changed)
        return NULL;
    char *js = json_dumps(q->refs, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!js)
        return oom();
    free(q->refs_json);
    q->refs_json = js;
    return NULL;
}

/* The entry whose exact text matches the request, if any (no parse needed). Other
 * spellings of a schema are not indexed: a lookup remembers them in the lookup cache,
 * and a registration of one parses it (as a new version would be). */
static schema_ent *by_text(reg_registry *r, const schema_req *q)
{
    return find_text(r, q->type, q->text, q->refs_json, q->metadata_json, q->ruleset_json);
}

static version_ent *subject_version_of(subject_ent *s, int32_t id, int deleted)
{
    if (!s)
        return NULL;
    for (size_t i = s->n; i-- > 0;)
        if (s->v[i].schema->id == id && (deleted || !s->v[i].deleted))
            return &s->v[i];
    return NULL;
}

/* Parses the request's schema and computes its identity. Write lock held. */
static cg_err *parse_candidate(reg_registry *r, const schema_req *q, reg_schema **parsed,
                               char **identity)
{
    cg_err *err = parse_with_refs(r, q->text, q->refs, 0, parsed);
    if (err)
        return err;
    *identity = make_key(q->type, reg_schema_normalized(*parsed), q->refs_json, q->metadata_json,
                         q->ruleset_json);
    if (!*identity) {
        reg_schema_free(*parsed);
        *parsed = NULL;
        return oom();
    }
    return NULL;
}

/* ---- compatibility ---- */

static void append_detail(json_t *msgs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append_detail(json_t *msgs, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(msgs, json_string(buf));
}

static reg_compat_level direction_of(reg_compat_level level)
{
    switch (level) {
    case REG_COMPAT_BACKWARD_TRANSITIVE:
        return REG_COMPAT_BACKWARD;
    case REG_COMPAT_FORWARD_TRANSITIVE:
        return REG_COMPAT_FORWARD;
    case REG_COMPAT_FULL_TRANSITIVE:
        return REG_COMPAT_FULL;
    default:
        return level;
    }
}

/* Checks candidate against the subject's live versions under level: the latest one for a
 * non-transitive level, all of them (newest first) for a transitive one, or only `only`
 * when given (a version named in the request: the level's direction, not its
 * transitivity, as Confluent does). Stops at the first version that fails, like
 * Confluent, and names it: *msgs gets the problems, then "{oldSchemaVersion: N}",
 * "{oldSchema: '...'}" and "{compatibility: 'LEVEL'}"; it is empty when compatible.
 * Write lock held (existing versions may need parsing). */
static cg_err *check_compat(reg_registry *r, subject_ent *s, reg_compat_level level,
                            const reg_schema *candidate, version_ent *only, json_t **msgs)
{
    cg_err *err = NULL;
    reg_compat_result *res = NULL;

    *msgs = json_array();
    if (!*msgs)
        return oom();
    if (level == REG_COMPAT_NONE || !s)
        return NULL;
    reg_compat_level dir = direction_of(level);
    int transitive = dir != level && !only;
    for (size_t i = s->n; i-- > 0;) {
        version_ent *v = &s->v[i];
        if (v->deleted || (only && v != only))
            continue;
        err = ensure_parsed(r, v->schema, 0);
        if (err)
            goto done;
        reg_compat_result_free(res);
        res = reg_compat_result_new();
        if (!res) {
            err = oom();
            goto done;
        }
        const reg_schema *prev = v->schema->parsed;
        int ver = v->version;
        /* On canonical subjects a change of logical type (timestamp-millis to -micros)
         * changes what every consumer reads, so it counts as incompatible there. */
        unsigned flags = is_canon_subject(s->name) ? REG_COMPAT_STRICT_LOGICAL : 0;
        size_t count = reg_compat_check_ex(dir, candidate, &prev, &ver, 1, flags, res);
        if (count) {
            for (size_t k = 0; k < count; k++)
                json_array_append_new(*msgs, json_string(reg_compat_result_message(res, k)));
            append_detail(*msgs, "{oldSchemaVersion: %d}", ver);
            char *old = malloc(strlen(v->schema->text) + 32);
            if (old) {
                sprintf(old, "{oldSchema: '%s'}", v->schema->text);
                json_array_append_new(*msgs, json_string(old));
                free(old);
            }
            append_detail(*msgs, "{compatibility: '%s'}", reg_compat_level_name(level));
            break;
        }
        if (!transitive && !only)
            break; /* non-transitive: the latest live version only */
    }
done:
    reg_compat_result_free(res);
    if (err) {
        json_decref(*msgs);
        *msgs = NULL;
    }
    return err;
}

static cg_err *incompatible_error(const char *subject, json_t *msgs)
{
    char *details = json_dumps(msgs, JSON_COMPACT);
    cg_err *e = cg_err_new(CG_EINCOMPATIBLE,
                           "Schema being registered is incompatible with an earlier schema for "
                           "subject \"%s\", details: %s",
                           subject, details ? details : "[]");
    free(details);
    return e;
}

/* ---- loading ---- */

static cg_err *load_schema(void *ctx, const reg_store_schema *row)
{
    reg_registry *r = ctx;
    schema_ent *e = calloc(1, sizeof(*e));
    if (!e)
        return oom();
    e->id = row->id;
    e->type = strdup(row->type ? row->type : "AVRO");
    e->text = strdup(row->text ? row->text : "");
    e->refs_json = dup_or_null(row->refs);
    e->metadata_json = dup_or_null(row->metadata);
    e->ruleset_json = dup_or_null(row->ruleset);
    cg_err *err = identity_digest(row->identity ? row->identity : "", e->ident);
    if (err) {
        schema_ent_free(e);
        return err;
    }
    if (!e->type || !e->text || render_schema(e) || index_schema(r, e)) {
        reg_hmap_del(r->by_id, &e->id, sizeof(e->id));
        schema_ent_free(e);
        return oom();
    }
    return NULL;
}

static cg_err *load_version(void *ctx, const char *subject, int32_t version, int32_t id,
                            int deleted)
{
    reg_registry *r = ctx;
    schema_ent *e = reg_hmap_geti(r->by_id, id);
    if (!e)
        return cg_err_new(CG_ESTORE, "store: %s version %d names unknown schema id %d", subject,
                          (int)version, (int)id);
    subject_ent *s = subject_get_or_add(r, subject);
    if (!s || !subject_put_version(s, version, e, deleted))
        return oom();
    return NULL;
}

static cg_err *load_config(void *ctx, const char *subject, const char *level)
{
    reg_registry *r = ctx;
    reg_compat_level l;
    if (reg_compat_level_parse(level, &l))
        return NULL; /* an unknown stored value is ignored rather than fatal */
    if (!subject) {
        r->global_level = (int)l;
        return NULL;
    }
    subject_ent *s = subject_get_or_add(r, subject);
    if (!s)
        return oom();
    s->level = (int)l;
    return NULL;
}

static cg_err *load_mode(void *ctx, const char *subject, const char *mode)
{
    reg_registry *r = ctx;
    int m = mode_parse(mode);
    if (m < 0)
        return NULL;
    if (!subject) {
        r->global_mode = m;
        return NULL;
    }
    subject_ent *s = subject_get_or_add(r, subject);
    if (!s)
        return oom();
    s->mode = m;
    return NULL;
}

cg_err *reg_registry_open(const char *db_path, reg_registry **out)
{
    cg_err *err = NULL;
    reg_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return oom();
    pthread_mutex_init(&r->write_mu, NULL);
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->cache_mu, NULL);
    r->global_level = REG_COMPAT_BACKWARD;
    r->global_mode = MODE_READWRITE;
    r->subjects = reg_hmap_new();
    r->by_id = reg_hmap_new();
    r->by_identity = reg_hmap_new();
    r->by_text = reg_hmap_new();
    r->cache = calloc(LOOKUP_SLOTS, sizeof(*r->cache));
    if (!r->subjects || !r->by_id || !r->by_identity || !r->by_text || !r->cache) {
        err = oom();
        goto done;
    }
    err = reg_store_open(db_path, &r->store);
    if (err)
        goto done;
    reg_store_loader l = {r, load_schema, load_version, load_config, load_mode};
    err = reg_store_load(r->store, &l, &r->next_id);
    if (err)
        goto done;
    *out = r;
    r = NULL;
done:
    reg_registry_free(r);
    return err;
}

void reg_registry_free(reg_registry *r)
{
    if (!r)
        return;
    void *v;
    if (r->subjects) {
        for (size_t pos = 0; reg_hmap_next(r->subjects, &pos, NULL, NULL, &v);) {
            subject_ent *s = v;
            json_decref(s->ej);
            free(s->v);
            free(s->name_json);
            free(s->name);
            free(s);
        }
    }
    /* Free referrers before what they reference does not matter: parsed schemas only
     * borrow references, and all are freed here together. */
    if (r->by_id)
        for (size_t pos = 0; reg_hmap_next(r->by_id, &pos, NULL, NULL, &v);)
            schema_ent_free(v);
    reg_hmap_free(r->subjects);
    reg_hmap_free(r->by_id);
    reg_hmap_free(r->by_identity);
    reg_hmap_free(r->by_text);
    if (r->cache)
        for (size_t i = 0; i < LOOKUP_SLOTS; i++)
            free(r->cache[i].body);
    free(r->cache);
    pthread_mutex_destroy(&r->cache_mu);
    reg_store_close(r->store);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->write_mu);
    free(r);
}

/* ---- reads ---- */

static int prefix_ok(const char *name, const reg_opts *o)
{
    /* ":*:" is Confluent's "all contexts" default prefix: no filter here. */
    if (!o->subject_prefix || !strcmp(o->subject_prefix, ":*:"))
        return 1;
    return !strncmp(name, o->subject_prefix, strlen(o->subject_prefix));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

cg_err *reg_subjects(reg_registry *r, const reg_opts *o, reg_body *out)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t cap = reg_hmap_count(r->subjects), n = 0;
    const char **names = calloc(cap + 1, sizeof(*names));
    if (!names) {
        pthread_rwlock_unlock(&r->lock);
        return oom();
    }
    void *v;
    for (size_t pos = 0; reg_hmap_next(r->subjects, &pos, NULL, NULL, &v);) {
        subject_ent *s = v;
        if (!s->n || !prefix_ok(s->name, o))
            continue;
        size_t live = live_count(s);
        int show = o->deleted_only ? live < s->n && !live : (o->deleted ? 1 : live > 0);
        if (show)
            names[n++] = s->name;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    pthread_rwlock_unlock(&r->lock);
    free(names);
    return reply_json(arr, out);
}

cg_err *reg_versions(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out)
{
    pthread_rwlock_rdlock(&r->lock);
    subject_ent *s = visible_subject(r, subject, o->deleted || o->deleted_only);
    if (!s) {
        pthread_rwlock_unlock(&r->lock);
        return subject_not_found(subject);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < s->n; i++) {
        int d = s->v[i].deleted;
        if (o->deleted_only ? d : (o->deleted || !d))
            json_array_append_new(arr, json_integer(s->v[i].version));
    }
    pthread_rwlock_unlock(&r->lock);
    return reply_json(arr, out);
}

/* Looks up subject/version for a read. Read lock held. */
static cg_err *locate(reg_registry *r, const char *subject, const char *version, int deleted,
                      subject_ent **so, version_ent **vo)
{
    int32_t v;
    cg_err *err = parse_version(version, &v);
    if (err)
        return err;
    subject_ent *s = visible_subject(r, subject, deleted);
    if (!s)
        return subject_not_found(subject);
    version_ent *ve = find_version(s, v, deleted);
    if (!ve)
        return cg_err_new(CG_EVERSION_NOT_FOUND, "Version %s not found.", version);
    *so = s;
    *vo = ve;
    return NULL;
}

cg_err *reg_version_get(reg_registry *r, const char *subject, const char *version,
                        const reg_opts *o, int raw, reg_body *out)
{
    subject_ent *s;
    version_ent *v;
    pthread_rwlock_rdlock(&r->lock);
    cg_err *err = locate(r, subject, version, o->deleted, &s, &v);
    if (!err) {
        if (raw)
            err = reply_copy(v->schema->text, strlen(v->schema->text), out);
        else
            err = version_body(s, v, out);
    }
    pthread_rwlock_unlock(&r->lock);
    return err;
}

/* Ids of schemas whose references name subject/version. live_only: only referrers with
 * a live (not soft-deleted) version. Lock held. */
static json_t *referrers(reg_registry *r, const char *subject, int32_t version, int live_only)
{
    json_t *ids = json_array();
    void *val;
    for (size_t pos = 0; reg_hmap_next(r->by_id, &pos, NULL, NULL, &val);) {
        schema_ent *e = val;
        if (!e->refs_json || !e->n_rows)
            continue;
        json_t *refs = json_loads(e->refs_json, 0, NULL);
        size_t i;
        json_t *ref;
        int hit = 0;
        json_array_foreach(refs, i, ref)
        {
            const char *rs = json_string_value(json_object_get(ref, "subject"));
            json_int_t rv = json_integer_value(json_object_get(ref, "version"));
            if (rs && !strcmp(rs, subject) && rv == version)
                hit = 1;
        }
        json_decref(refs);
        if (!hit)
            continue;
        if (live_only) {
            int live = 0;
            void *sv;
            for (size_t p2 = 0; !live && reg_hmap_next(r->subjects, &p2, NULL, NULL, &sv);)
                live = subject_version_of(sv, e->id, 0) != NULL;
            if (!live)
                continue;
        }
        json_array_append_new(ids, json_integer(e->id));
    }
    /* Ascending ids for a stable answer. */
    size_t n = json_array_size(ids);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && json_integer_value(json_array_get(ids, b - 1)) >
                                        json_integer_value(json_array_get(ids, b));
             b--) {
            json_t *x = json_incref(json_array_get(ids, b - 1));
            json_array_set(ids, b - 1, json_array_get(ids, b));
            json_array_set_new(ids, b, x);
        }
    return ids;
}

cg_err *reg_referenced_by(reg_registry *r, const char *subject, const char *version, reg_body *out)
{
    subject_ent *s;
    version_ent *v;
    pthread_rwlock_rdlock(&r->lock);
    cg_err *err = locate(r, subject, version, 0, &s, &v);
    json_t *ids = err ? NULL : referrers(r, s->name, v->version, 0);
    pthread_rwlock_unlock(&r->lock);
    if (err)
        return err;
    return reply_json(ids, out);
}

static schema_ent *visible_schema(reg_registry *r, int64_t id)
{
    if (id < 0 || id > INT32_MAX)
        return NULL;
    schema_ent *e = reg_hmap_geti(r->by_id, (int32_t)id);
    return e && e->n_rows ? e : NULL;
}

cg_err *reg_schema_get(reg_registry *r, int64_t id, const reg_opts *o, int raw, reg_body *out)
{
    cg_err *err = NULL;
    pthread_rwlock_rdlock(&r->lock);
    schema_ent *e = visible_schema(r, id);
    if (!e) {
        err = cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema %lld not found", (long long)id);
    } else if (raw) {
        err = reply_copy(e->text, strlen(e->text), out);
    } else if (o && o->fetch_max_id) {
        json_t *obj = schema_object(e);
        json_object_set_new(obj, "maxId", json_integer(r->next_id - 1));
        err = reply_json(obj, out);
    } else {
        err = reply_copy(e->body, e->body_len, out);
    }
    pthread_rwlock_unlock(&r->lock);
    return err;
}

cg_err *reg_schema_body_ref(reg_registry *r, int64_t id, const char **data, size_t *len)
{
    cg_err *err = NULL;
    pthread_rwlock_rdlock(&r->lock);
    schema_ent *e = visible_schema(r, id);
    if (!e) {
        err = cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema %lld not found", (long long)id);
    } else {
        /* e->body is rendered once when the entry is made and never changed. */
        *data = e->body;
        *len = e->body_len;
    }
    pthread_rwlock_unlock(&r->lock);
    return err;
}

static cg_err *schema_usage(reg_registry *r, int64_t id, const reg_opts *o, int with_versions,
                            reg_body *out)
{
    pthread_rwlock_rdlock(&r->lock);
    schema_ent *e = visible_schema(r, id);
    if (!e) {
        pthread_rwlock_unlock(&r->lock);
        return cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema %lld not found", (long long)id);
    }
    size_t cap = reg_hmap_count(r->subjects), n = 0;
    const char **names = calloc(cap + 1, sizeof(*names));
    void *val;
    for (size_t pos = 0; names && reg_hmap_next(r->subjects, &pos, NULL, NULL, &val);) {
        subject_ent *s = val;
        if (subject_version_of(s, e->id, o->deleted) && prefix_ok(s->name, o))
            names[n++] = s->name;
    }
    if (!names) {
        pthread_rwlock_unlock(&r->lock);
        return oom();
    }
    qsort(names, n, sizeof(*names), cmp_str);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!with_versions) {
            json_array_append_new(arr, json_string(names[i]));
            continue;
        }
        subject_ent *s = reg_hmap_gets(r->subjects, names[i]);
        for (size_t k = 0; k < s->n; k++) {
            if (s->v[k].schema != e || (s->v[k].deleted && !o->deleted))
                continue;
            json_t *pair = json_object();
            json_object_set_new(pair, "subject", json_string(s->name));
            json_object_set_new(pair, "version", json_integer(s->v[k].version));
            json_array_append_new(arr, pair);
        }
    }
    pthread_rwlock_unlock(&r->lock);
    free(names);
    return reply_json(arr, out);
}

cg_err *reg_schema_subjects(reg_registry *r, int64_t id, const reg_opts *o, reg_body *out)
{
    return schema_usage(r, id, o, 0, out);
}

cg_err *reg_schema_versions(reg_registry *r, int64_t id, const reg_opts *o, reg_body *out)
{
    return schema_usage(r, id, o, 1, out);
}

cg_err *reg_schemas_list(reg_registry *r, const reg_opts *o, reg_body *out)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t cap = reg_hmap_count(r->subjects), n = 0;
    const char **names = calloc(cap + 1, sizeof(*names));
    void *val;
    for (size_t pos = 0; names && reg_hmap_next(r->subjects, &pos, NULL, NULL, &val);) {
        subject_ent *s = val;
        if (s->n && prefix_ok(s->name, o))
            names[n++] = s->name;
    }
    if (!names) {
        pthread_rwlock_unlock(&r->lock);
        return oom();
    }
    qsort(names, n, sizeof(*names), cmp_str);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        subject_ent *s = reg_hmap_gets(r->subjects, names[i]);
        if (o->latest_only) {
            version_ent *v = find_version(s, -1, o->deleted);
            if (v)
                json_array_append_new(arr, version_object(s->name, v));
            continue;
        }
        for (size_t k = 0; k < s->n; k++)
            if (!s->v[k].deleted || o->deleted)
                json_array_append_new(arr, version_object(s->name, &s->v[k]));
    }
    pthread_rwlock_unlock(&r->lock);
    free(names);
    return reply_json(arr, out);
}

cg_err *reg_schema_types(reg_registry *r, reg_body *out)
{
    (void)r;
    static const char types[] = "[\"AVRO\"]";
    return reply_copy(types, sizeof(types) - 1, out);
}

/* ---- registration and lookup ---- */

static cg_err *persist_and_apply(reg_registry *r, const char *subject, schema_ent **newp,
                                 int32_t version, schema_ent *e)
{
    schema_ent *newe = *newp;
    if (newe && render_schema(newe))
        return oom();
    cg_err *err = newe ? identity_digest(nz(newe->identity), newe->ident) : NULL;
    if (err)
        return err;
    /* Disk first, with only write_mu held: readers go on during the fsync. */
    err = reg_store_begin(r->store);
    if (err)
        return err;
    if (newe) {
        reg_store_schema row = {newe->id,          newe->type,      newe->text,
                                newe->identity,    newe->refs_json, newe->metadata_json,
                                newe->ruleset_json};
        err = reg_store_put_schema(r->store, &row);
        if (!err && r->next_id <= newe->id)
            err = reg_store_bump_next_id(r->store, (int64_t)newe->id + 1);
    }
    if (!err)
        err = reg_store_put_version(r->store, subject, version, e->id, 0);
    if (!err)
        err = reg_store_commit(r->store);
    if (err) {
        reg_store_rollback(r->store);
        return err;
    }
    /* Durable now; memory follows under the write lock. The registry owns newe from here,
     * even if indexing fails for lack of memory (memory would then lag disk until a
     * restart, which loses nothing). */
    *newp = NULL;
    if (newe) {
        free(newe->identity); /* on disk now; memory keys it by ident */
        newe->identity = NULL;
    }
    pthread_rwlock_wrlock(&r->lock);
    if (newe) {
        if (index_schema(r, newe))
            err = oom();
        else if (r->next_id <= newe->id)
            r->next_id = (int64_t)newe->id + 1;
    }
    if (!err) {
        subject_ent *s = subject_get_or_add(r, subject);
        if (!s || !subject_put_version(s, version, e, 0))
            err = oom();
    }
    pthread_rwlock_unlock(&r->lock);
    return err;
}

static cg_err *canon_route(reg_registry *r, const char *subject, const schema_req *q,
                           const reg_schema *parsed, const char *identity, int import, int *handled,
                           int32_t *id);
static cg_err *canon_check_derived(reg_registry *r, const char *subject, const reg_schema *parsed,
                                   json_t **msgs);

cg_err *reg_register(reg_registry *r, const char *subject, const char *body, size_t len,
                     const reg_opts *o, reg_body *out)
{
    schema_req q;
    cg_err *err = parse_schema_req(body, len, &q);
    if (err)
        return err;
    reg_schema *parsed = NULL;
    char *identity = NULL;
    schema_ent *newe = NULL;
    json_t *msgs = NULL;
    int32_t id = 0;

    if (!subject_valid(subject)) {
        schema_req_clear(&q);
        return cg_err_new(CG_EINVALID_SUBJECT,
                          "Invalid subject: a subject is non-empty UTF-8 without control "
                          "characters");
    }
    pthread_mutex_lock(&r->write_mu);
    subject_ent *s = reg_hmap_gets(r->subjects, subject);
    err = writable(r, s, subject);
    if (!err)
        err = pin_latest_refs(r, &q, NULL);
    if (err)
        goto done;
    int mode = effective_mode(r, s);
    if (mode == MODE_IMPORT && !q.id) {
        /* As Confluent: IMPORT takes registrations that say their id, nothing else. */
        err = cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                         "Subject %s is not in read-write mode; in IMPORT mode a registration "
                         "must give its \"id\"",
                         subject);
        goto done;
    }

    /* Already in the subject (same text): its id, no check (CSR#2430). */
    schema_ent *e = by_text(r, &q);
    version_ent *have = e ? subject_version_of(s, e->id, 0) : NULL;
    if (have && (!q.id || q.id == e->id)) {
        id = e->id;
        /* The latest canonical version registered again also brings the derived
         * subjects' latest versions to its derivation: a registry whose derivation gained
         * something (FieldVersion's partition and offset, docs/wire.md) lets an existing
         * entity take it up without a new canonical version, and after a soft delete of
         * the canonical latest the derived subjects follow the new latest. When the
         * derivation is refused, the answer is still the id, as before. */
        if (mode == MODE_READWRITE && !q.id && have == find_version(s, -1, 0) &&
            reg_canon_subject_parse(subject, NULL, 0) == REG_CANON_SUBJECT_ENTITY) {
            int handled = 0;
            int32_t same = 0;
            cg_err *e2 = parse_candidate(r, &q, &parsed, &identity);
            if (!e2)
                e2 = canon_route(r, subject, &q, parsed, identity, 0, &handled, &same);
            cg_err_free(e2);
        }
        goto done;
    }
    err = parse_candidate(r, &q, &parsed, &identity);
    if (err)
        goto done;
    if (is_canon_subject(subject)) {
        /* An entity's subjects (docs/wire.md): a canonical schema is registered with the
         * schemas derived from it, all or nothing; see canon_route(). */
        int handled = 0;
        err = canon_route(r, subject, &q, parsed, identity, mode == MODE_IMPORT, &handled, &id);
        if (err || handled)
            goto done;
    }
    unsigned char digest[IDENT_LEN];
    err = identity_digest(identity, digest);
    if (err)
        goto done;
    e = by_identity(r, digest);
    have = e ? subject_version_of(s, e->id, 0) : NULL;
    if (have && (!q.id || q.id == e->id)) {
        id = e->id;
        goto done;
    }

    int32_t version = next_version(s);
    if (mode == MODE_IMPORT) {
        if (q.id) {
            schema_ent *at = reg_hmap_geti(r->by_id, (int32_t)q.id);
            if (at && memcmp(at->ident, digest, IDENT_LEN)) {
                err = cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                                 "Overwrite new schema with id %lld is not permitted: the id "
                                 "is already used by a different schema",
                                 (long long)q.id);
                goto done;
            }
            if (e && e->id != q.id) {
                err = cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                                 "This schema is already registered with id %d, not %lld",
                                 (int)e->id, (long long)q.id);
                goto done;
            }
            e = at ? at : e;
        }
        if (q.version) {
            version_ent *vv = s ? find_version(s, (int32_t)q.version, 1) : NULL;
            if (vv) {
                if (e && vv->schema == e && !vv->deleted) {
                    id = e->id;
                    goto done;
                }
                err = cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                                 "Version %lld of subject %s already exists with another schema",
                                 (long long)q.version, subject);
                goto done;
            }
            version = (int32_t)q.version;
        } else if (!version) {
            err = no_version_left(subject);
            goto done;
        }
    } else {
        if (q.id && (!e || e->id != q.id)) {
            err = cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                             "Subject %s is not in import mode; a schema id may not be given",
                             subject);
            goto done;
        }
        if (!version) {
            err = no_version_left(subject);
            goto done;
        }
        if (q.version && q.version != version) {
            /* Outside IMPORT an explicit version may only be the next one (Confluent). */
            err = cg_err_new(CG_EINVALID_SCHEMA, "Version is not one more than previous version");
            goto done;
        }
        err = check_compat(r, s, effective_level(r, s, subject), parsed, NULL, &msgs);
        if (err)
            goto done;
        if (json_array_size(msgs)) {
            err = incompatible_error(subject, msgs);
            goto done;
        }
    }

    if (!e && !q.id) {
        err = ids_left(r, 1);
        if (err)
            goto done;
    }
    if (!e) {
        newe = calloc(1, sizeof(*newe));
        if (!newe) {
            err = oom();
            goto done;
        }
        newe->id = q.id ? (int32_t)q.id : (int32_t)r->next_id;
        newe->type = strdup(q.type);
        newe->text = strdup(q.text);
        newe->identity = identity;
        identity = NULL;
        newe->refs_json = dup_or_null(q.refs_json);
        newe->metadata_json = dup_or_null(q.metadata_json);
        newe->ruleset_json = dup_or_null(q.ruleset_json);
        /* The parse is not kept: with many subjects, keeping every schema parsed would
         * dominate memory, and the next check that needs it parses it again (once; then
         * it stays cached, see ensure_parsed()). Nothing can reference it yet, so
         * dropping it is safe. */
        if (!newe->type || !newe->text) {
            err = oom();
            goto done;
        }
        e = newe;
    }
    err = persist_and_apply(r, subject, &newe, version, e);
    if (err)
        goto done;
    id = e->id;
done:
    pthread_mutex_unlock(&r->write_mu);
    schema_ent_free(newe);
    reg_schema_free(parsed);
    free(identity);
    json_decref(msgs);
    schema_req_clear(&q);
    if (err)
        return err;
    json_t *ans = json_object();
    json_object_set_new(ans, "id", json_integer(id));
    return reply_json(ans, out);
}

/* ---- the lookup cache (see the comment at the top) ---- */

/* The options a lookup answer depends on. Add here any option reg_lookup() comes to
 * read, or the cache would answer one option's request with another's answer. */
static unsigned lookup_flags(const reg_opts *o)
{
    return (o->deleted ? 1u : 0u) | (o->normalize ? 2u : 0u);
}

static uint64_t lookup_hash(const char *subject, unsigned flags, const char *body, size_t len)
{
    uint64_t h = reg_hash64(subject, strlen(subject), 0x6c6f6f6b7570ULL + flags);
    return reg_hash64(body ? body : "", len, h);
}

static lookup_ent *lookup_set(reg_registry *r, uint64_t h)
{
    return &r->cache[(h % (LOOKUP_SLOTS / LOOKUP_WAYS)) * LOOKUP_WAYS];
}

/* An entry that a change since it was stored may have made wrong. Lock held. */
static int lookup_stale(const reg_registry *r, const lookup_ent *c)
{
    return c->gen != r->gen || c->sgen != c->s->gen;
}

static void lookup_drop(reg_registry *r, lookup_ent *c)
{
    if (!c->body)
        return;
    r->cache_bytes -= c->len;
    free(c->body);
    c->body = NULL;
}

/* The remembered answer to this exact request, if it is still right: *out is filled
 * and 1 returned. Lock held (reading is enough). */
static int lookup_cached(reg_registry *r, uint64_t h, const char *subject, unsigned flags,
                         const char *body, size_t len, reg_body *out, cg_err **err)
{
    subject_ent *s = NULL;
    size_t vi = 0;
    pthread_mutex_lock(&r->cache_mu);
    lookup_ent *set = lookup_set(r, h);
    for (size_t w = 0; w < LOOKUP_WAYS && !s; w++) {
        lookup_ent *c = &set[w];
        /* The bytes are compared, not just the hash: a collision cannot answer wrongly. */
        if (c->body && c->hash == h && c->flags == flags && c->len == len && !lookup_stale(r, c) &&
            c->vi < c->s->n && !memcmp(c->body, body, len) && !strcmp(c->s->name, subject)) {
            s = c->s;
            vi = c->vi;
            c->used = ++r->cache_tick;
        }
    }
    pthread_mutex_unlock(&r->cache_mu);
    if (!s)
        return 0;
    *err = version_body(s, &s->v[vi], out);
    return 1;
}

/* Remembers that this request got version v of s. Lock held (reading is enough), the
 * same hold in which v was found, so the generations stored match what v was found in.
 * Out of memory: just not remembered. */
static void lookup_remember(reg_registry *r, uint64_t h, unsigned flags, const char *body,
                            size_t len, subject_ent *s, const version_ent *v)
{
    if (len > LOOKUP_MAX_BODY)
        return;
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    if (len)
        memcpy(copy, body, len);
    pthread_mutex_lock(&r->cache_mu);
    /* The way to use: the one holding this very request (two threads may both have
     * missed it), else an empty one, else one that can no longer answer, else the least
     * recently used. */
    lookup_ent *set = lookup_set(r, h), *c = NULL;
    for (size_t w = 0; w < LOOKUP_WAYS && !c; w++)
        if (set[w].body && set[w].hash == h && set[w].flags == flags && set[w].len == len &&
            set[w].s == s && !memcmp(set[w].body, body, len))
            c = &set[w];
    for (size_t w = 0; w < LOOKUP_WAYS && !c; w++)
        if (!set[w].body || lookup_stale(r, &set[w]))
            c = &set[w];
    for (size_t w = 0; w < LOOKUP_WAYS; w++)
        if (!c || set[w].used < c->used)
            c = &set[w];
    lookup_drop(r, c);
    /* Over budget: sweep round the table dropping entries, whatever their age (the hand
     * moves on only as far as each store needs, so this is cheap on average). */
    while (r->cache_bytes && r->cache_bytes + len > LOOKUP_BUDGET) {
        lookup_drop(r, &r->cache[r->cache_hand]);
        r->cache_hand = (r->cache_hand + 1) % LOOKUP_SLOTS;
    }
    c->used = ++r->cache_tick;
    c->hash = h;
    c->body = copy;
    c->len = len;
    c->s = s;
    c->vi = (size_t)(v - s->v);
    c->sgen = s->gen;
    c->gen = r->gen;
    c->flags = flags;
    r->cache_bytes += len;
    pthread_mutex_unlock(&r->cache_mu);
}

cg_err *reg_lookup(reg_registry *r, const char *subject, const char *body, size_t len,
                   const reg_opts *o, reg_body *out)
{
    /* Clients send the same bytes again and again: answer those before any parsing. */
    if (!body) {
        body = "";
        len = 0;
    }
    unsigned flags = lookup_flags(o);
    uint64_t h = lookup_hash(subject, flags, body, len);
    cg_err *err = NULL;
    pthread_rwlock_rdlock(&r->lock);
    int hit = lookup_cached(r, h, subject, flags, body, len, out, &err);
    pthread_rwlock_unlock(&r->lock);
    if (hit)
        return err;

    schema_req q;
    err = parse_schema_req(body, len, &q);
    if (err)
        return err;
    reg_schema *parsed = NULL;
    char *identity = NULL;

    /* Fast path: the exact text a client registered, under the read lock. */
    pthread_rwlock_rdlock(&r->lock);
    subject_ent *s = visible_subject(r, subject, o->deleted);
    /* A body naming "latest" of another subject is not remembered: that subject's next
     * version changes the answer without touching the generations the cache checks. */
    int pinned = 0;
    if (!s || (err = pin_latest_refs(r, &q, &pinned))) {
        pthread_rwlock_unlock(&r->lock);
        schema_req_clear(&q);
        return err ? err : subject_not_found(subject);
    }
    schema_ent *e = by_text(r, &q);
    version_ent *v = e ? subject_version_of(s, e->id, o->deleted) : NULL;
    if (v) {
        err = version_body(s, v, out);
        if (!err && !pinned)
            lookup_remember(r, h, flags, body, len, s, v);
        pthread_rwlock_unlock(&r->lock);
        schema_req_clear(&q);
        return err;
    }
    pthread_rwlock_unlock(&r->lock);

    /* Slow path: parse. A schema without references parses without any registry state;
     * one with references may need them parsed (a cache only writers touch). */
    if (q.refs)
        pthread_mutex_lock(&r->write_mu);
    err = parse_candidate(r, &q, &parsed, &identity);
    if (q.refs)
        pthread_mutex_unlock(&r->write_mu);
    if (err)
        goto done;
    pthread_rwlock_rdlock(&r->lock);
    s = visible_subject(r, subject, o->deleted);
    err = find_identity(r, identity, &e);
    v = s && e ? subject_version_of(s, e->id, o->deleted) : NULL;
    if (!err && !s)
        err = subject_not_found(subject);
    else if (!err && !v)
        err = cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema not found");
    else if (!err)
        err = version_body(s, v, out);
    if (!err && !pinned)
        lookup_remember(r, h, flags, body, len, s, v); /* this spelling will come again */
    pthread_rwlock_unlock(&r->lock);
done:
    reg_schema_free(parsed);
    free(identity);
    schema_req_clear(&q);
    return err;
}

/* ---- deletes ---- */

static cg_err *reference_exists(const char *subject, int32_t version)
{
    return cg_err_new(CG_EREFERENCE_EXISTS,
                      "One or more references exist to the schema {subject=%s,version=%d}", subject,
                      (int)version);
}

cg_err *reg_delete_version(reg_registry *r, const char *subject, const char *version,
                           const reg_opts *o, reg_body *out)
{
    int32_t vn;
    cg_err *err = parse_version(version, &vn);
    if (err)
        return err;
    write_lock(r);
    subject_ent *s = reg_hmap_gets(r->subjects, subject);
    err = writable(r, s, subject);
    if (err)
        goto done;
    if (!s || !s->n) {
        err = subject_not_found(subject);
        goto done;
    }
    /* As Confluent: a subject with only soft-deleted versions still exists here, so a
     * second soft delete of a numbered version is 40406 even when it was the last one;
     * "latest" is always the latest live version (40402 when there is none). */
    version_ent *v = find_version(s, vn, vn != -1);
    if (!v) {
        err = cg_err_new(CG_EVERSION_NOT_FOUND, "Version %s not found.", version);
        goto done;
    }
    int32_t number = v->version;
    json_t *refs = referrers(r, s->name, number, !o->permanent);
    size_t nrefs = json_array_size(refs);
    json_decref(refs);
    if (o->permanent && nrefs) {
        /* Confluent checks references before the soft-delete state. */
        err = reference_exists(subject, number);
        goto done;
    }
    if (!o->permanent) {
        if (v->deleted) {
            /* Confluent's text, missing space included: clients match on it. */
            err = cg_err_new(CG_EVERSION_SOFT_DELETED,
                             "Subject '%s' Version %d was soft deleted.Set permanent=true to "
                             "delete permanently",
                             subject, (int)number);
            goto done;
        }
        if (nrefs) {
            err = reference_exists(subject, number);
            goto done;
        }
        /* Deleting the last live version deletes the subject, and with it (as Confluent
         * does) its subject-level config and mode. */
        int last = live_count(s) == 1;
        err = reg_store_begin(r->store);
        if (!err)
            err = reg_store_put_version(r->store, subject, number, v->schema->id, 1);
        if (!err && last)
            err = reg_store_set_config(r->store, subject, NULL);
        if (!err && last)
            err = reg_store_set_mode(r->store, subject, NULL);
        if (!err)
            err = reg_store_commit(r->store);
        if (err) {
            reg_store_rollback(r->store);
            goto done;
        }
        v->deleted = 1;
        if (last) {
            s->level = -1;
            s->mode = -1;
        }
    } else {
        if (!v->deleted) {
            err = cg_err_new(CG_EVERSION_NOT_SOFT_DELETED,
                             "Subject '%s' Version %d was not deleted first before being "
                             "permanently deleted",
                             subject, (int)number);
            goto done;
        }
        err = reg_store_begin(r->store);
        if (!err)
            err = reg_store_delete_version(r->store, subject, number);
        if (!err)
            err = reg_store_commit(r->store);
        if (err) {
            reg_store_rollback(r->store);
            goto done;
        }
        subject_remove_version(s, v);
    }
    json_t *ans = json_integer(number);
    err = reply_json(ans, out);
done:
    write_unlock(r);
    return err;
}

cg_err *reg_delete_subject(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out)
{
    cg_err *err = NULL;
    json_t *arr = NULL;
    write_lock(r);
    subject_ent *s = reg_hmap_gets(r->subjects, subject);
    err = writable(r, s, subject);
    if (err)
        goto done;
    if (!s || !s->n) {
        err = subject_not_found(subject);
        goto done;
    }
    size_t live = live_count(s);
    if (!o->permanent && !live) {
        err = cg_err_new(CG_ESUBJECT_SOFT_DELETED,
                         "Subject '%s' was soft deleted.Set permanent=true to delete "
                         "permanently",
                         subject);
        goto done;
    }
    if (o->permanent && live) {
        err = cg_err_new(CG_ESUBJECT_NOT_SOFT_DELETED,
                         "Subject '%s' was not deleted first before being permanently deleted",
                         subject);
        goto done;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (!o->permanent && s->v[i].deleted)
            continue;
        json_t *refs = referrers(r, s->name, s->v[i].version, !o->permanent);
        size_t nrefs = json_array_size(refs);
        json_decref(refs);
        if (nrefs) {
            err = reference_exists(subject, s->v[i].version);
            goto done;
        }
    }
    arr = json_array();
    err = reg_store_begin(r->store);
    for (size_t i = 0; !err && i < s->n; i++) {
        if (o->permanent)
            err = reg_store_delete_version(r->store, subject, s->v[i].version);
        else if (!s->v[i].deleted)
            err = reg_store_put_version(r->store, subject, s->v[i].version, s->v[i].schema->id, 1);
    }
    if (!err) {
        /* Confluent drops the subject-level config and mode with the subject. */
        err = reg_store_set_config(r->store, subject, NULL);
        if (!err)
            err = reg_store_set_mode(r->store, subject, NULL);
    }
    if (!err)
        err = reg_store_commit(r->store);
    if (err) {
        reg_store_rollback(r->store);
        goto done;
    }
    if (o->permanent) {
        while (s->n) {
            json_array_insert_new(arr, 0, json_integer(s->v[s->n - 1].version));
            subject_remove_version(s, &s->v[s->n - 1]);
        }
    } else {
        for (size_t i = 0; i < s->n; i++) {
            if (!s->v[i].deleted) {
                s->v[i].deleted = 1;
                json_array_append_new(arr, json_integer(s->v[i].version));
            }
        }
    }
    s->level = -1;
    s->mode = -1;
    err = reply_json(arr, out);
    arr = NULL;
done:
    write_unlock(r);
    json_decref(arr);
    return err;
}

/* ---- config and mode ----
 *
 * The compatibility level and the mode are one kind of setting: a global value and an
 * optional value per subject (-1 when not set), persisted by reg_store, read by GET
 * (40408 / 40409 when the subject has none, unless ?defaultToGlobal), set by PUT and
 * removed by DELETE. One descriptor per setting holds what differs; the three operations
 * are shared, so the two endpoints cannot drift apart. */

/* Writes one setting (NULL value: remove it). */
typedef cg_err *(*setting_writer)(reg_store *, const char *, const char *);

typedef struct setting_kind {
    const char *what;           /* in the 40408 / 40409 message */
    const char *get_field;      /* the answer's field for GET and DELETE */
    const char *put_field;      /* the answer's field for PUT */
    const char *body_fields[2]; /* PUT body fields, tried in order; NULL ends */
    setting_writer store;
    size_t subject_off, global_off; /* the int in subject_ent and in reg_registry */
    int global_default;             /* the global value after DELETE */
    int not_configured;             /* error code: the subject has no value */
    int invalid;                    /* error code: PUT of an unknown value */
    const char *invalid_msg;
    int (*parse)(const char *name); /* -1 when unknown */
    const char *(*name)(int value);
    /* The value a subject has without its own (canon subjects' level), or -1. NULL: none. */
    int (*subject_default)(const char *subject);
    /* Checked under the write lock before a PUT changes anything. NULL: none. */
    cg_err *(*put_check)(reg_registry *r, const char *subject, int value, const reg_opts *o);
} setting_kind;

static int *setting_slot(const setting_kind *k, reg_registry *r, subject_ent *s)
{
    return s ? (int *)(void *)((char *)s + k->subject_off)
             : (int *)(void *)((char *)r + k->global_off);
}

static cg_err *setting_body(const char *field, const char *value, reg_body *out)
{
    json_t *o = json_object();
    json_object_set_new(o, field, json_string(value));
    return reply_json(o, out);
}

/* Stores one setting in its own store transaction. Write lock held. */
static cg_err *store_setting(reg_registry *r, setting_writer set, const char *subject,
                             const char *value)
{
    cg_err *err = reg_store_begin(r->store);
    if (!err)
        err = set(r->store, subject, value);
    if (!err)
        err = reg_store_commit(r->store);
    if (err)
        reg_store_rollback(r->store);
    return err;
}

static cg_err *setting_get(reg_registry *r, const setting_kind *k, const char *subject,
                           const reg_opts *o, reg_body *out)
{
    cg_err *err = NULL;
    pthread_rwlock_rdlock(&r->lock);
    int v = *setting_slot(k, r, NULL), d;
    if (subject) {
        subject_ent *s = reg_hmap_gets(r->subjects, subject);
        if (s && *setting_slot(k, r, s) >= 0)
            v = *setting_slot(k, r, s);
        else if (k->subject_default && (d = k->subject_default(subject)) >= 0)
            v = d;
        else if (!o->default_to_global)
            err = cg_err_new(k->not_configured,
                             "Subject '%s' does not have subject-level %s configured", subject,
                             k->what);
    }
    pthread_rwlock_unlock(&r->lock);
    return err ? err : setting_body(k->get_field, k->name(v), out);
}

static cg_err *setting_put(reg_registry *r, const setting_kind *k, const char *subject,
                           const char *body, size_t len, const reg_opts *o, reg_body *out)
{
    if (subject && !subject_valid(subject))
        return cg_err_new(CG_EINVALID_SUBJECT, "Invalid subject: a subject is non-empty UTF-8 "
                                               "without control characters");
    json_t *root = NULL;
    cg_err *err = body_root(body, len, &root);
    if (err)
        return err;
    const char *name = NULL;
    for (size_t i = 0; !name && i < 2 && k->body_fields[i]; i++)
        name = json_string_value(json_object_get(root, k->body_fields[i]));
    int v = name ? k->parse(name) : -1;
    json_decref(root);
    if (v < 0)
        return cg_err_new(k->invalid, "%s", k->invalid_msg);
    subject_ent *s = NULL;
    write_lock(r);
    if (k->put_check) {
        err = k->put_check(r, subject, v, o);
        if (err)
            goto done;
    }
    err = store_setting(r, k->store, subject, k->name(v));
    if (err)
        goto done;
    if (subject && !(s = subject_get_or_add(r, subject))) {
        err = oom();
        goto done;
    }
    *setting_slot(k, r, s) = v;
    err = setting_body(k->put_field, k->name(v), out);
done:
    write_unlock(r);
    return err;
}

static cg_err *setting_delete(reg_registry *r, const setting_kind *k, const char *subject,
                              reg_body *out)
{
    cg_err *err = NULL;
    int *slot, old;
    write_lock(r);
    subject_ent *s = subject ? reg_hmap_gets(r->subjects, subject) : NULL;
    if (subject && (!s || *setting_slot(k, r, s) < 0)) {
        /* Confluent answers "subject not found" here, not 40408 / 40409. */
        err = subject_not_found(subject);
        goto done;
    }
    slot = setting_slot(k, r, s);
    old = *slot;
    err = store_setting(r, k->store, subject, NULL);
    if (err)
        goto done;
    *slot = subject ? -1 : k->global_default;
    err = setting_body(k->get_field, k->name(old), out);
done:
    write_unlock(r);
    return err;
}

static int level_parse(const char *name)
{
    reg_compat_level l;
    return reg_compat_level_parse(name, &l) ? -1 : (int)l;
}

static const char *level_name(int v)
{
    return reg_compat_level_name((reg_compat_level)v);
}

static int canon_default_level(const char *subject)
{
    return is_canon_subject(subject) ? REG_COMPAT_FULL_TRANSITIVE : -1;
}

static const char *mode_name(int v)
{
    return mode_names[v];
}

/* Importing into a non-empty registry or subject could collide with live ids: IMPORT
 * needs ?force=true there, as Confluent. */
static cg_err *import_check(reg_registry *r, const char *subject, int mode, const reg_opts *o)
{
    if (mode != MODE_IMPORT || o->force)
        return NULL;
    int busy = 0;
    if (subject) {
        subject_ent *s = reg_hmap_gets(r->subjects, subject);
        busy = s && s->n && effective_mode(r, s) != MODE_IMPORT;
    } else if (r->global_mode != MODE_IMPORT) {
        void *val;
        for (size_t pos = 0; !busy && reg_hmap_next(r->subjects, &pos, NULL, NULL, &val);)
            busy = ((subject_ent *)val)->n > 0;
    }
    return busy ? cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                             "Cannot import since found existing subjects")
                : NULL;
}

static const setting_kind compat_setting = {
    .what = "compatibility",
    .get_field = "compatibilityLevel",
    .put_field = "compatibility",
    .body_fields = {"compatibility", "compatibilityLevel"},
    .store = reg_store_set_config,
    .subject_off = offsetof(subject_ent, level),
    .global_off = offsetof(reg_registry, global_level),
    .global_default = REG_COMPAT_BACKWARD,
    .not_configured = CG_ESUBJECT_COMPAT_NOT_CONFIGURED,
    .invalid = CG_EINVALID_COMPAT,
    .invalid_msg = "Invalid compatibility level. Valid values are none, backward, forward, full, "
                   "backward_transitive, forward_transitive, and full_transitive",
    .parse = level_parse,
    .name = level_name,
    .subject_default = canon_default_level,
};

static const setting_kind mode_setting = {
    .what = "mode",
    .get_field = "mode",
    .put_field = "mode",
    .body_fields = {"mode", NULL},
    .store = reg_store_set_mode,
    .subject_off = offsetof(subject_ent, mode),
    .global_off = offsetof(reg_registry, global_mode),
    .global_default = MODE_READWRITE,
    .not_configured = CG_ESUBJECT_MODE_NOT_CONFIGURED,
    .invalid = CG_EINVALID_MODE,
    /* Every mode PUT /mode accepts (mode_names), as Confluent's newer releases word it. */
    .invalid_msg = "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, and "
                   "IMPORT.",
    .parse = mode_parse,
    .name = mode_name,
    .put_check = import_check,
};

static const setting_kind *setting_of(reg_setting which)
{
    return which == REG_SETTING_MODE ? &mode_setting : &compat_setting;
}

cg_err *reg_setting_get(reg_registry *r, reg_setting which, const char *subject, const reg_opts *o,
                        reg_body *out)
{
    return setting_get(r, setting_of(which), subject, o, out);
}

cg_err *reg_setting_put(reg_registry *r, reg_setting which, const char *subject, const char *body,
                        size_t len, const reg_opts *o, reg_body *out)
{
    return setting_put(r, setting_of(which), subject, body, len, o, out);
}

cg_err *reg_setting_delete(reg_registry *r, reg_setting which, const char *subject, reg_body *out)
{
    return setting_delete(r, setting_of(which), subject, out);
}

cg_err *reg_config_get(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out)
{
    return setting_get(r, &compat_setting, subject, o, out);
}

cg_err *reg_config_put(reg_registry *r, const char *subject, const char *body, size_t len,
                       reg_body *out)
{
    static const reg_opts no_opts;
    return setting_put(r, &compat_setting, subject, body, len, &no_opts, out);
}

cg_err *reg_config_delete(reg_registry *r, const char *subject, reg_body *out)
{
    return setting_delete(r, &compat_setting, subject, out);
}

cg_err *reg_mode_get(reg_registry *r, const char *subject, const reg_opts *o, reg_body *out)
{
    return setting_get(r, &mode_setting, subject, o, out);
}

cg_err *reg_mode_put(reg_registry *r, const char *subject, const char *body, size_t len,
                     const reg_opts *o, reg_body *out)
{
    return setting_put(r, &mode_setting, subject, body, len, o, out);
}

cg_err *reg_mode_delete(reg_registry *r, const char *subject, reg_body *out)
{
    return setting_delete(r, &mode_setting, subject, out);
}

/* ---- compatibility test ---- */

/* 1 when registering parsed at subject would register it at canon.<entity>.entity
 * instead (a canonical schema posted to canon.<entity>-value outside IMPORT mode,
 * reg_canon_plan_make()); that subject's name is then in entity_subject
 * (REG_CANON_SUBJECT_MAX bytes). Write lock held. */
static int canon_redirect(reg_registry *r, const char *subject, const reg_schema *parsed,
                          char *entity_subject)
{
    char entity[REG_CANON_SUBJECT_MAX];
    if (reg_canon_subject_parse(subject, entity, sizeof(entity)) != REG_CANON_SUBJECT_ENVELOPE ||
        effective_mode(r, reg_hmap_gets(r->subjects, subject)) == MODE_IMPORT ||
        !reg_canon_has_key(parsed))
        return 0;
    return reg_canon_subject_name(REG_CANON_SUBJECT_ENTITY, entity, entity_subject,
                                  REG_CANON_SUBJECT_MAX) == 0;
}

cg_err *reg_compat_test(reg_registry *r, const char *subject, const char *version, const char *body,
                        size_t len, const reg_opts *o, reg_body *out)
{
    int32_t vn = -1;
    cg_err *err = NULL;
    if (version) {
        err = parse_version(version, &vn);
        if (err)
            return err;
    }
    schema_req q;
    err = parse_schema_req(body, len, &q);
    if (err)
        return err;
    reg_schema *parsed = NULL;
    char *identity = NULL;
    json_t *msgs = NULL;
    char entity_subject[REG_CANON_SUBJECT_MAX];
    pthread_mutex_lock(&r->write_mu);
    subject_ent *s = visible_subject(r, subject, 0);
    version_ent *only = NULL;
    err = pin_latest_refs(r, &q, NULL);
    if (!err)
        err = parse_candidate(r, &q, &parsed, &identity);
    if (err)
        goto done;
    if (canon_redirect(r, subject, parsed, entity_subject)) {
        /* Registration takes it at canon.<e>.entity (canon_route()): so does the check. */
        subject = entity_subject;
        s = visible_subject(r, subject, 0);
    }
    if (version) {
        if (!s && vn == -1) {
            /* "latest" of a subject with no schema: nothing to be incompatible with. */
            msgs = json_array();
            goto done;
        }
        if (!s) {
            err = subject_not_found(subject);
            goto done;
        }
        if (vn != -1) {
            only = find_version(s, vn, 0);
            if (!only) {
                err = cg_err_new(CG_EVERSION_NOT_FOUND, "Version %s not found.", version);
                goto done;
            }
        }
    }
    schema_ent *e = NULL;
    err = find_identity(r, identity, &e);
    if (err)
        goto done;
    if (!only && e && subject_version_of(s, e->id, 0)) {
        /* Registration would return the existing id without a check. */
        msgs = json_array();
    } else {
        err = check_compat(r, s, effective_level(r, s, subject), parsed, only, &msgs);
        if (err)
            goto done;
        /* At canon.<e>.entity, registration also checks the derived schemas. */
        if (!only && !json_array_size(msgs) && is_canon_subject(subject))
            err = canon_check_derived(r, subject, parsed, &msgs);
    }
done:
    pthread_mutex_unlock(&r->write_mu);
    reg_schema_free(parsed);
    free(identity);
    schema_req_clear(&q);
    if (err) {
        json_decref(msgs);
        return err;
    }
    json_t *ans = json_object();
    json_object_set_new(ans, "is_compatible", json_boolean(json_array_size(msgs) == 0));
    if (o->verbose)
        json_object_set(ans, "messages", msgs);
    json_decref(msgs);
    return reply_json(ans, out);
}

/* ---- canon entities ---- */

/* A canonical change registers up to three versions (docs/wire.md): the canonical schema
 * at canon.<e>.entity, the update and envelope schemas derived from it at their subjects
 * (reg_canon_plan_make() in canon_derive.c decides what and where). Each is checked
 * against its own subject's history under that subject's level, then all are written in
 * one store transaction, so a refused or failed change leaves all three subjects as they
 * were. Item i is plan subject i; 0 is the canonical schema. */
typedef struct canon_item {
    subject_ent *s;
    const reg_schema *parsed;
    reg_schema *own_parsed; /* the derived schemas' parse */
    char *identity;         /* make_key() of the schema; owned */
    schema_ent *e;          /* the entry this becomes a version of: existing, or newe */
    schema_ent *newe;       /* a new entry, owned until persisted */
    int32_t version;
    int skip; /* nothing to write: the canonical schema is a live version of its subject;
               * a derived schema is its subject's latest version, or the canonical one is
               * not the latest */
} canon_item;

static void canon_items_clear(canon_item *it)
{
    for (size_t i = 0; i < 3; i++) {
        schema_ent_free(it[i].newe);
        reg_schema_free(it[i].own_parsed);
        free(it[i].identity);
    }
    memset(it, 0, 3 * sizeof(*it));
}

/* Fills it[] for plan p: subjects, parses, identities, existing entries. Write lock held. */
static cg_err *canon_items_make(reg_registry *r, const reg_canon_plan *p, const reg_schema *parsed,
                                const char *identity, canon_item *it)
{
    cg_err *err = NULL;
    int older = 0; /* the canonical schema is a live version other than the latest */
    memset(it, 0, 3 * sizeof(*it));
    for (size_t i = 0; !err && i < 3; i++) {
        it[i].s = reg_hmap_gets(r->subjects, p->subject[i]);
        if (i == 0) {
            it[i].parsed = parsed;
            it[i].identity = strdup(identity);
        } else {
            err = reg_schema_parse(p->text[i], strlen(p->text[i]), NULL, 0, &it[i].own_parsed);
            if (err)
                break;
            it[i].parsed = it[i].own_parsed;
            it[i].identity =
                make_key("AVRO", reg_schema_normalized(it[i].own_parsed), NULL, NULL, NULL);
        }
        if (!it[i].identity) {
            err = oom();
            break;
        }
        err = find_identity(r, it[i].identity, &it[i].e);
        version_ent *have = it[i].e ? subject_version_of(it[i].s, it[i].e->id, 0) : NULL;
        version_ent *latest = it[i].s ? find_version(it[i].s, -1, 0) : NULL;
        if (i == 0) {
            /* An older canonical version posted again answers its id and changes nothing:
             * the derived subjects follow the canonical latest, not this one. */
            it[i].skip = have != NULL;
            older = have && have != latest;
        } else {
            /* A derived subject's latest must be the canonical latest's derivation, even
             * when an older version holds it already (a canonical change back to an
             * earlier shape; the canonical latest soft-deleted, then posted again). */
            it[i].skip = older || (have && have == latest);
        }
        it[i].version = next_version(it[i].s);
        if (!it[i].version && !it[i].skip) {
            err = no_version_left(p->subject[i]);
            break;
        }
    }
    return err;
}

/* Checks items from..2 that are not already in their subjects, each against its
 * subject's history under that subject's level; the first incompatible one leaves its
 * messages in *msgs (non-empty) and its index in *bad. */
static cg_err *canon_items_check(reg_registry *r, const reg_canon_plan *p, canon_item *it,
                                 size_t from, json_t **msgs, size_t *bad)
{
    for (size_t i = from; i < 3; i++) {
        if (it[i].skip)
            continue;
        json_decref(*msgs);
        *msgs = NULL;
        cg_err *err = check_compat(r, it[i].s, effective_level(r, it[i].s, p->subject[i]),
                                   it[i].parsed, NULL, msgs);
        if (err)
            return err;
        if (json_array_size(*msgs)) {
            *bad = i;
            return NULL;
        }
    }
    return NULL;
}

/* Writes the items in one transaction, then applies them to memory (as
 * persist_and_apply() does for one). Write lock held. */
static cg_err *canon_items_persist(reg_registry *r, const reg_canon_plan *p, canon_item *it)
{
    cg_err *err = NULL;
    for (size_t i = 0; !err && i < 3; i++) {
        schema_ent *n = it[i].newe;
        if (n && render_schema(n))
            err = oom();
        if (!err && n)
            err = identity_digest(n->identity, n->ident);
    }
    if (!err)
        err = reg_store_begin(r->store);
    if (err)
        return err;
    int64_t next = r->next_id;
    for (size_t i = 0; !err && i < 3; i++) {
        schema_ent *n = it[i].newe;
        if (it[i].skip)
            continue;
        if (n) {
            reg_store_schema row = {n->id,        n->type,          n->text,        n->identity,
                                    n->refs_json, n->metadata_json, n->ruleset_json};
            err = reg_store_put_schema(r->store, &row);
            if (!err && next <= n->id) {
                next = (int64_t)n->id + 1;
                err = reg_store_bump_next_id(r->store, next);
            }
        }
        if (!err)
            err = reg_store_put_version(r->store, p->subject[i], it[i].version, it[i].e->id, 0);
    }
    if (!err)
        err = reg_store_commit(r->store);
    if (err) {
        reg_store_rollback(r->store);
        return err;
    }
    /* Durable; the registry owns the new entries from here (see persist_and_apply()). */
    pthread_rwlock_wrlock(&r->lock);
    for (size_t i = 0; i < 3; i++) {
        schema_ent *n = it[i].newe;
        it[i].newe = NULL;
        if (it[i].skip || err)
            continue;
        if (n) {
            free(n->identity); /* on disk now; memory keys it by ident */
            n->identity = NULL;
            if (index_schema(r, n))
                err = oom();
            else if (r->next_id <= n->id)
                r->next_id = (int64_t)n->id + 1;
        }
        if (!err) {
            subject_ent *s = subject_get_or_add(r, p->subject[i]);
            if (!s || !subject_put_version(s, it[i].version, it[i].e, 0))
                err = oom();
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return err;
}

static cg_err *canon_register(reg_registry *r, const reg_canon_plan *p, const schema_req *q,
                              const reg_schema *parsed, const char *identity, int32_t *id)
{
    canon_item it[3];
    json_t *msgs = NULL;
    size_t bad = 0;
    cg_err *err = canon_items_make(r, p, parsed, identity, it);
    for (size_t i = 0; !err && i < 3; i++) {
        err = writable(r, it[i].s, p->subject[i]);
        if (!err && effective_mode(r, it[i].s) == MODE_IMPORT)
            err = cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                             "Subject %s is in IMPORT mode: a canonical schema of entity '%s' "
                             "cannot be registered with its derived schemas; in IMPORT mode "
                             "register each of the entity's subjects as exported, with ids",
                             p->subject[i], p->entity);
    }
    if (err)
        goto done;
    /* An explicit id or version applies to the canonical schema, with the usual rules. */
    if (q->id && (!it[0].e || it[0].e->id != q->id)) {
        err = cg_err_new(CG_EOPERATION_NOT_PERMITTED,
                         "Subject %s is not in import mode; a schema id may not be given",
                         p->subject[0]);
        goto done;
    }
    if (q->version && !it[0].skip && q->version != it[0].version) {
        err = cg_err_new(CG_EINVALID_SCHEMA, "Version is not one more than previous version");
        goto done;
    }
    err = canon_items_check(r, p, it, 0, &msgs, &bad);
    if (err)
        goto done;
    if (json_array_size(msgs)) {
        err = incompatible_error(p->subject[bad], msgs);
        if (bad > 0)
            err = cg_err_wrap(err,
                              "The %s schema derived from this canonical schema (docs/wire.md) "
                              "is incompatible with subject %s, so nothing was registered: ",
                              p->role[bad], p->subject[bad]);
        goto done;
    }
    int64_t need = 0;
    for (size_t i = 0; i < 3; i++)
        need += !it[i].skip && !it[i].e;
    err = ids_left(r, need);
    if (err)
        goto done;
    int32_t next = (int32_t)r->next_id;
    int writes = 0;
    for (size_t i = 0; i < 3; i++) {
        if (it[i].skip)
            continue;
        writes++;
        if (it[i].e)
            continue;
        schema_ent *n = calloc(1, sizeof(*n));
        if (!n) {
            err = oom();
            goto done;
        }
        it[i].newe = it[i].e = n;
        n->id = next++;
        n->type = strdup(i == 0 ? q->type : "AVRO");
        n->text = strdup(i == 0 ? q->text : p->text[i]);
        n->identity = it[i].identity;
        it[i].identity = NULL;
        if (i == 0) {
            n->refs_json = dup_or_null(q->refs_json);
            n->metadata_json = dup_or_null(q->metadata_json);
            n->ruleset_json = dup_or_null(q->ruleset_json);
        }
        if (!n->type || !n->text) {
            err = oom();
            goto done;
        }
    }
    if (writes)
        err = canon_items_persist(r, p, it);
    if (!err)
        *id = it[0].e->id;
done:
    canon_items_clear(it);
    json_decref(msgs);
    return err;
}

/* Registration at one of an entity's subjects (docs/wire.md). Write lock held. Sets
 * *handled when it registered (or refused) everything itself; else the caller goes on
 * as for any subject (IMPORT mode). */
static cg_err *canon_route(reg_registry *r, const char *subject, const schema_req *q,
                           const reg_schema *parsed, const char *identity, int import, int *handled,
                           int32_t *id)
{
    *handled = 0;
    if (!import && reg_canon_subject_parse(subject, NULL, 0) != REG_CANON_SUBJECT_ENTITY) {
        /* A serializer that auto-registers posts the schema it writes with: a derived
         * schema the subject already has answers with its id, as on any subject. */
        schema_ent *e = NULL;
        cg_err *err = find_identity(r, identity, &e);
        if (err)
            return err;
        if (e && subject_version_of(reg_hmap_gets(r->subjects, subject), e->id, 0) &&
            (!q->id || q->id == e->id)) {
            *handled = 1;
            *id = e->id;
            return NULL;
        }
    }
    reg_canon_plan plan;
    cg_err *err = reg_canon_plan_make(subject, parsed, import, &plan);
    if (err)
        return err;
    if (plan.derived) {
        *handled = 1;
        err = canon_register(r, &plan, q, parsed, identity, id);
    }
    reg_canon_plan_clear(&plan);
    return err;
}

/* The check endpoint's part of the above: for a canonical schema posted to
 * canon.<e>.entity, checks the derived schemas against their subjects too, as
 * registration does, so that both give the same verdict. Appends to *msgs (left as is
 * when compatible, or when the schema is no valid canonical schema: registration would
 * say why). */
static cg_err *canon_check_derived(reg_registry *r, const char *subject, const reg_schema *parsed,
                                   json_t **msgs)
{
    if (reg_canon_subject_parse(subject, NULL, 0) != REG_CANON_SUBJECT_ENTITY)
        return NULL;
    reg_canon_plan plan;
    cg_err *err = reg_canon_plan_make(subject, parsed, 0, &plan);
    if (err) {
        cg_err_free(err);
        return NULL;
    }
    canon_item it[3];
    json_t *dm = NULL;
    size_t bad = 0;
    /* Item 0 (the canonical schema) was checked by the caller. */
    err = canon_items_make(r, &plan, parsed, "", it);
    if (!err)
        err = canon_items_check(r, &plan, it, 1, &dm, &bad);
    if (!err && json_array_size(dm)) {
        append_detail(dm, "{derivedSubject: '%s', derivedSchema: '%s'}", plan.subject[bad],
                      plan.role[bad]);
        json_array_extend(*msgs, dm);
    }
    json_decref(dm);
    canon_items_clear(it);
    reg_canon_plan_clear(&plan);
    return err;
}

static json_t *entity_json_make(reg_registry *r, const char *entity, subject_ent *s);

/* entity_json_make()'s answer, remembered: the aggregator asks for every entity every few
 * seconds, and each answer derives the update and envelope schemas again (about 2 ms per
 * entity: 370 ms for /canon/entities with 200 entities, under write_mu). What it depends
 * on changes only with the subject's versions (s->gen), its derived subjects' (their
 * gen, and their existence), or a delete, config or mode change anywhere (r->gen). The
 * caller owns the answer (a copy). Write lock held. */
static json_t *entity_json(reg_registry *r, const char *entity, subject_ent *s)
{
    static const reg_canon_subject_kind kinds[2] = {REG_CANON_SUBJECT_UPDATES,
                                                    REG_CANON_SUBJECT_ENVELOPE};
    const subject_ent *ds[2];
    uint64_t dgen[2];
    for (int k = 0; k < 2; k++) {
        char name[REG_CANON_SUBJECT_MAX];
        ds[k] = reg_canon_subject_name(kinds[k], entity, name, sizeof(name))
                    ? NULL
                    : reg_hmap_gets(r->subjects, name);
        dgen[k] = ds[k] ? ds[k]->gen : 0;
    }
    if (s->ej && s->ej_gen == r->gen && s->ej_sgen == s->gen && s->ej_ds[0] == ds[0] &&
        s->ej_ds[1] == ds[1] && s->ej_dgen[0] == dgen[0] && s->ej_dgen[1] == dgen[1])
        return json_deep_copy(s->ej);
    json_t *j = entity_json_make(r, entity, s);
    json_decref(s->ej);
    s->ej = j ? json_deep_copy(j) : NULL;
    s->ej_gen = r->gen;
    s->ej_sgen = s->gen;
    for (int k = 0; k < 2; k++) {
        s->ej_ds[k] = ds[k];
        s->ej_dgen[k] = dgen[k];
    }
    return j;
}

/* Entity description with versions; write lock held (parsing is lazy). NULL if the
 * subject has no live version or its latest does not hold the contract. */
static json_t *entity_json_make(reg_registry *r, const char *entity, subject_ent *s)
{
    version_ent *latest = find_version(s, -1, 0);
    if (!latest)
        return NULL;
    cg_err *err = ensure_parsed(r, latest->schema, 0);
    if (err) {
        cg_err_free(err);
        return NULL;
    }
    json_t *j = reg_canon_entity_json(entity, latest->schema->parsed);
    if (!j)
        return NULL;
    json_object_set_new(j, "subject", json_string(s->name));
    json_object_set_new(j, "id", json_integer(latest->schema->id));
    json_object_set_new(j, "version", json_integer(latest->version));
    json_t *vs = json_array();
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].deleted)
            json_array_append_new(vs, json_integer(s->v[i].version));
    json_object_set_new(j, "versions", vs);
    /* The derived subjects' versions that hold the latest canonical version's own
     * derivation (the newest such live version), so that a reader never gets a derived
     * schema of another canonical version. A registry whose derivation changed since
     * (docs/wire.md) finds none until the canonical latest is posted again: then, and
     * while a derived subject has no version of it, its latest; null while there is
     * none. */
    reg_canon_plan plan;
    canon_item it[3];
    memset(it, 0, sizeof(it));
    int found = 0;
    err = reg_canon_plan_make(s->name, latest->schema->parsed, 0, &plan);
    if (!err && plan.derived) {
        err = canon_items_make(r, &plan, latest->schema->parsed, "", it);
        found = !err;
    }
    cg_err_free(err);
    static const struct {
        const char *key;
        reg_canon_subject_kind kind;
    } derived[] = {{"updates", REG_CANON_SUBJECT_UPDATES},
                   {"envelope", REG_CANON_SUBJECT_ENVELOPE}};
    for (size_t k = 0; k < sizeof(derived) / sizeof(derived[0]); k++) {
        char name[REG_CANON_SUBJECT_MAX];
        subject_ent *ds = reg_canon_subject_name(derived[k].kind, entity, name, sizeof(name))
                              ? NULL
                              : reg_hmap_gets(r->subjects, name);
        const schema_ent *own = found ? it[k + 1].e : NULL;
        version_ent *dv = own ? subject_version_of(ds, own->id, 0) : NULL;
        if (!dv && ds)
            dv = find_version(ds, -1, 0);
        json_t *o = dv ? json_pack("{s:s, s:i, s:i}", "subject", name, "id", (int)dv->schema->id,
                                   "version", (int)dv->version)
                       : json_null();
        json_object_set_new(j, derived[k].key, o);
    }
    canon_items_clear(it);
    reg_canon_plan_clear(&plan);
    return j;
}

cg_err *reg_canon_entities(reg_registry *r, reg_body *out)
{
    pthread_mutex_lock(&r->write_mu);
    size_t cap = reg_hmap_count(r->subjects), n = 0;
    const char **names = calloc(cap + 1, sizeof(*names));
    void *val;
    char entity[256];
    for (size_t pos = 0; names && reg_hmap_next(r->subjects, &pos, NULL, NULL, &val);) {
        subject_ent *s = val;
        if (s->n &&
            reg_canon_subject_parse(s->name, entity, sizeof(entity)) == REG_CANON_SUBJECT_ENTITY)
            names[n++] = s->name;
    }
    if (!names) {
        pthread_mutex_unlock(&r->write_mu);
        return oom();
    }
    qsort(names, n, sizeof(*names), cmp_str);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        reg_canon_subject_entity(names[i], entity, sizeof(entity));
        json_t *j = entity_json(r, entity, reg_hmap_gets(r->subjects, names[i]));
        if (j)
            json_array_append_new(arr, j);
    }
    pthread_mutex_unlock(&r->write_mu);
    free(names);
    return reply_json(arr, out);
}

cg_err *reg_canon_entity(reg_registry *r, const char *entity, reg_body *out)
{
    char subject[REG_CANON_SUBJECT_MAX];
    if (reg_canon_subject_name(REG_CANON_SUBJECT_ENTITY, entity, subject, sizeof(subject)))
        return cg_err_new(CG_ESUBJECT_NOT_FOUND, "Canonical entity '%s' not found.", entity);
    pthread_mutex_lock(&r->write_mu);
    subject_ent *s = reg_hmap_gets(r->subjects, subject);
    json_t *j = s ? entity_json(r, entity, s) : NULL;
    pthread_mutex_unlock(&r->write_mu);
    if (!j)
        return cg_err_new(CG_ESUBJECT_NOT_FOUND, "Canonical entity '%s' not found.", entity);
    return reply_json(j, out);
}

void reg_registry_stats(reg_registry *r, size_t *n_schemas, size_t *n_subjects)
{
    size_t ns = 0, nsub = 0;
    void *val;
    pthread_rwlock_rdlock(&r->lock);
    for (size_t pos = 0; reg_hmap_next(r->by_id, &pos, NULL, NULL, &val);)
        ns += ((schema_ent *)val)->n_rows > 0;
    for (size_t pos = 0; reg_hmap_next(r->subjects, &pos, NULL, NULL, &val);)
        nsub += live_count(val) > 0;
    pthread_rwlock_unlock(&r->lock);
    *n_schemas = ns;
    *n_subjects = nsub;
}
