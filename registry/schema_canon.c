/* schema_canon.c - the textual forms of a parsed schema and their fingerprints.
 *
 * Parsing Canonical Form follows the Avro specification ("Parsing Canonical Form for
 * Schemas"): primitives as bare strings, full names, only the attributes that matter to
 * parsing (name, type, fields, symbols, items, values, size) in that order, no
 * whitespace. A record declared as "error" is written as "record", as Apache Avro Java
 * does: canonical form is about how data is read, and an error record reads like a record.
 *
 * The normalized form is the registry's identity of a schema. Canonical form is too
 * coarse for that (two schemas differing in a default or a logical type read the same
 * bytes but are not the same schema to a registry user), and the text as written is too
 * fine (whitespace, key order, doc). So it is canonical form plus: aliases (sorted),
 * logicalType and its parameters, field defaults (normalized against the type), field
 * order when not ascending, enum default, custom properties (sorted by key, recursively),
 * in this fixed key order:
 *   named:  name, type, aliases, fields | symbols, default | size, logicalType,
 *           precision, scale, then properties
 *   field:  name, type, default, order, aliases, then properties
 *   others: type, items | values, logicalType, precision, scale, then properties
 * A type with neither logical type nor properties is written as its bare name.
 *
 * Named types are written in full at their first occurrence in a depth-first walk and by
 * full name after; that is also what makes the output of a schema with references stand
 * alone.
 */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC-64-AVRO ---------------------------------------------------------------- */

#define RABIN_EMPTY 0xc15d213aa4d7a795ULL

uint64_t reg_fingerprint64(const void *buf, size_t len)
{
    /* The table is rebuilt per call (2 KiB, a few microseconds) rather than kept in a
     * global: fingerprints are computed once per parsed schema, never on a hot path. */
    uint64_t table[256];
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (RABIN_EMPTY & (0 - (fp & 1)));
        table[i] = fp;
    }
    const unsigned char *p = buf;
    uint64_t fp = RABIN_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ---- a growable string ---------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

/* A JSON string literal: only '"', '\\' and control characters are escaped; other
 * characters are written as UTF-8, as the specification's [STRINGS] rule asks. */
static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, "\"");
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_addn(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sb_add(b, esc);
        } else {
            sb_addn(b, p, 1);
        }
    }
    sb_add(b, "\"");
}

/* ---- the set of named types already written ------------------------------------- */

typedef struct seen {
    const reg_node **v;
    size_t n, cap;
} seen;

/* Returns 1 if n was already in the set; else adds it and returns 0 (or -1 on OOM). */
static int seen_add(seen *s, const reg_node *n)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i] == n)
            return 1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        const reg_node **nv = realloc(s->v, cap * sizeof(*nv));
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = n;
    return 0;
}

/* ---- Parsing Canonical Form ----------------------------------------------------- */

static void pcf(sbuf *b, seen *sn, const reg_node *n)
{
    if (n->fullname) {
        int r = seen_add(sn, n);
        if (r < 0) {
            b->failed = 1;
            return;
        }
        if (r == 1) {
            sb_str(b, n->fullname);
            return;
        }
        sb_add(b, "{\"name\":");
        sb_str(b, n->fullname);
        sb_add(b, ",\"type\":");
        sb_str(b, reg_type_name(n->type));
        if (n->type == REG_RECORD) {
            sb_add(b, ",\"fields\":[");
            for (size_t i = 0; i < n->n_fields; i++) {
                sb_add(b, i ? ",{\"name\":" : "{\"name\":");
                sb_str(b, n->fields[i].name);
                sb_add(b, ",\"type\":");
                pcf(b, sn, n->fields[i].type);
                sb_add(b, "}");
            }
            sb_add(b, "]}");
        } else if (n->type == REG_ENUM) {
            sb_add(b, ",\"symbols\":[");
            for (size_t i = 0; i < n->n_symbols; i++) {
                if (i)
                    sb_add(b, ",");
                sb_str(b, n->symbols[i]);
            }
            sb_add(b, "]}");
        } else {
            char num[32];
            snprintf(num, sizeof(num), ",\"size\":%zu}", n->size);
            sb_add(b, num);
        }
        return;
    }
    switch (n->type) {
    case REG_ARRAY:
        sb_add(b, "{\"type\":\"array\",\"items\":");
        pcf(b, sn, n->items);
        sb_add(b, "}");
        break;
    case REG_MAP:
        sb_add(b, "{\"type\":\"map\",\"values\":");
        pcf(b, sn, n->items);
        sb_add(b, "}");
        break;
    case REG_UNION:
        sb_add(b, "[");
        for (size_t i = 0; i < n->n_branches; i++) {
            if (i)
                sb_add(b, ",");
            pcf(b, sn, n->branches[i]);
        }
        sb_add(b, "]");
        break;
    default:
        sb_str(b, reg_type_name(n->type));
        break;
    }
}

char *reg_node_canonical(const reg_node *n)
{
    sbuf b = {0};
    seen sn = {0};
    pcf(&b, &sn, n);
    free(sn.v);
    if (b.failed || !b.p) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the full JSON (normalized form, derived schemas) --------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of v with every object's keys in sorted order, so that dumping it without
 * JSON_SORT_KEYS (needed for our fixed key order elsewhere) is still deterministic. */
static json_t *sorted_copy(const json_t *v)
{
    if (json_is_object(v)) {
        size_t n = json_object_size(v);
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        json_t *out = json_object();
        if (!keys || !out)
            goto fail_obj;
        size_t i = 0;
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), cmp_str);
        for (i = 0; i < n; i++) {
            json_t *c = sorted_copy(json_object_get(v, keys[i]));
            if (!c || json_object_set_new(out, keys[i], c) != 0)
                goto fail_obj;
        }
        free(keys);
        return out;
    fail_obj:
        free(keys);
        json_decref(out);
        return NULL;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        if (!out)
            return NULL;
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *c = sorted_copy(json_array_get(v, i));
            if (!c || json_array_append_new(out, c) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_deep_copy(v);
}

/* Adds the props of `props` to obj in key order. Returns 0 on success. */
static int add_props(json_t *obj, const json_t *props)
{
    if (!props)
        return 0;
    json_t *s = sorted_copy(props);
    if (!s)
        return -1;
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(s, k, v)
    {
        /* A property never overrides a reserved attribute already written. */
        if (json_object_get(obj, k))
            continue;
        if (json_object_set(obj, k, v) != 0)
            rc = -1;
    }
    json_decref(s);
    return rc;
}

static json_t *strv_json(char **v, size_t n, int sort)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    char **tmp = NULL;
    if (sort && n) {
        tmp = malloc(n * sizeof(*tmp));
        if (!tmp) {
            json_decref(a);
            return NULL;
        }
        memcpy(tmp, v, n * sizeof(*tmp));
        qsort(tmp, n, sizeof(*tmp), cmp_str);
        v = tmp;
    }
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            a = NULL;
            break;
        }
    }
    free(tmp);
    return a;
}

static int add_logical(json_t *o, const reg_node *n)
{
    const char *lt = reg_logical_name(n->logical);
    if (!lt)
        return 0;
    int rc = json_object_set_new(o, "logicalType", json_string(lt));
    if (n->logical == REG_LT_DECIMAL) {
        rc |= json_object_set_new(o, "precision", json_integer(n->precision));
        rc |= json_object_set_new(o, "scale", json_integer(n->scale));
    }
    return rc;
}

typedef struct jctx {
    seen sn;
    int flags;
    int failed;
} jctx;

static json_t *to_json(jctx *c, const reg_node *n);

static json_t *field_json(jctx *c, const reg_field *f)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int rc = json_object_set_new(o, "name", json_string(f->name));
    json_t *t = to_json(c, f->type);
    rc |= t ? json_object_set_new(o, "type", t) : -1;
    if (f->default_json) {
        json_t *d = reg_default_normalize(f->type, f->default_json);
        rc |= d ? json_object_set_new(o, "default", d) : -1;
    }
    if (f->order != 1)
        rc |= json_object_set_new(o, "order", json_string(f->order < 0 ? "descending" : "ignore"));
    if (f->n_aliases)
        rc |= json_object_set_new(o, "aliases", strv_json(f->aliases, f->n_aliases, 1));
    if ((c->flags & REG_JSON_DOC) && f->doc)
        rc |= json_object_set_new(o, "doc", json_string(f->doc));
    rc |= add_props(o, f->props);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *to_json(jctx *c, const reg_node *n)
{
    int rc = 0;
    json_t *o = NULL;
    if (n->fullname) {
        int r = seen_add(&c->sn, n);
        if (r < 0)
            return NULL;
        if (r == 1)
            return json_string(n->fullname);
        o = json_object();
        if (!o)
            return NULL;
        rc |= json_object_set_new(o, "name", json_string(n->fullname));
        rc |= json_object_set_new(o, "type",
                                  json_string(n->is_error ? "error" : reg_type_name(n->type)));
        if (n->n_aliases)
            rc |= json_object_set_new(o, "aliases", strv_json(n->aliases, n->n_aliases, 1));
        if ((c->flags & REG_JSON_DOC) && n->doc)
            rc |= json_object_set_new(o, "doc", json_string(n->doc));
        if (n->type == REG_RECORD) {
            json_t *fa = json_array();
            rc |= fa ? 0 : -1;
            for (size_t i = 0; fa && i < n->n_fields; i++) {
                json_t *f = field_json(c, &n->fields[i]);
                rc |= f ? json_array_append_new(fa, f) : -1;
            }
            if (fa)
                rc |= json_object_set_new(o, "fields", fa);
        } else if (n->type == REG_ENUM) {
            rc |= json_object_set_new(o, "symbols", strv_json(n->symbols, n->n_symbols, 0));
            if (n->enum_default)
                rc |= json_object_set_new(o, "default", json_string(n->enum_default));
        } else {
            rc |= json_object_set_new(o, "size", json_integer((json_int_t)n->size));
        }
    } else if (n->type == REG_UNION) {
        o = json_array();
        if (!o)
            return NULL;
        for (size_t i = 0; i < n->n_branches; i++) {
            json_t *b = to_json(c, n->branches[i]);
            rc |= b ? json_array_append_new(o, b) : -1;
        }
        if (rc) {
            json_decref(o);
            return NULL;
        }
        return o;
    } else if (n->type == REG_ARRAY || n->type == REG_MAP) {
        o = json_object();
        if (!o)
            return NULL;
        rc |= json_object_set_new(o, "type", json_string(reg_type_name(n->type)));
        json_t *it = to_json(c, n->items);
        rc |= it ? json_object_set_new(o, n->type == REG_ARRAY ? "items" : "values", it) : -1;
    } else {
        if (n->logical == REG_LT_NONE && !n->props)
            return json_string(reg_type_name(n->type));
        o = json_object();
        if (!o)
            return NULL;
        rc |= json_object_set_new(o, "type", json_string(reg_type_name(n->type)));
    }
    rc |= add_logical(o, n);
    rc |= add_props(o, n->props);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *reg_node_json(const reg_node *n, int flags)
{
    jctx c = {.flags = flags};
    json_t *j = to_json(&c, n);
    free(c.sn.v);
    return j;
}

struct reg_json_writer {
    jctx c;
};

reg_json_writer *reg_json_writer_new(int flags)
{
    reg_json_writer *w = calloc(1, sizeof(*w));
    if (w)
        w->c.flags = flags;
    return w;
}

json_t *reg_json_writer_type(reg_json_writer *w, const reg_node *n)
{
    return to_json(&w->c, n);
}

json_t *reg_json_writer_field(reg_json_writer *w, const reg_field *f)
{
    return field_json(&w->c, f);
}

int reg_json_writer_mark(reg_json_writer *w, const reg_node *n)
{
    return n->fullname && seen_add(&w->c.sn, n) < 0 ? -1 : 0;
}

void reg_json_writer_free(reg_json_writer *w)
{
    if (!w)
        return;
    free(w->c.sn.v);
    free(w);
}

char *reg_node_normalized(const reg_node *n)
{
    json_t *j = reg_node_json(n, 0);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}
