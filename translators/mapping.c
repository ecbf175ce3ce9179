/* mapping.c - the declarative translator's mapping: parse, bind, apply.
 *
 * A mapping file is parsed into a list of field mappings (tr_fmap), key and event-time
 * sources and delete conditions, remembering each option's line (mapping_util.c's line
 * table) for error messages. Binding resolves every target against the canonical schema
 * (names, canon.writers, types) and then compiles an encoding plan from the update
 * schema: one slot per field of the update's `values` record, in schema order, each
 * either unmapped (null), mapped (a converter with its union branch index) or a nested
 * record of slots; constants and defaults are encoded once, here. Applying a record then
 * walks the plan: JSON lookups by precompiled paths, conversion straight into Avro binary
 * in reusable buffers, no schema access and, in steady state, no allocation.
 *
 * Why a plan rather than walking the schema per record: the translator must sustain
 * 200,000 records/s on one core including Kafka, which leaves about a microsecond for
 * the mapping itself (docs/translators.md, "Performance").
 */
#include "mapping.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../canon/avro_json.h"
#include "mapping_internal.h"

/* ---- the parsed mapping ------------------------------------------------------------- */

/* How a value is converted, decided at bind from the target's Avro type. */
typedef enum tr_conv {
    CV_NONE = 0,
    CV_STRING,
    CV_UUID,
    CV_BYTES,
    CV_INT,
    CV_LONG,
    CV_FLOAT,
    CV_DOUBLE,
    CV_BOOL,
    CV_DATE,    /* int days */
    CV_TIME_MS, /* int */
    CV_TIME_US, /* long */
    CV_TS_MS,   /* long */
    CV_TS_US,   /* long */
    CV_TS_NS,   /* long */
    CV_ENUM,
    CV_ARRAY,
    CV_RECORD, /* only through sub-fields */
} tr_conv;

typedef enum tr_unit { U_DEFAULT = 0, U_DAYS, U_S, U_MS, U_US } tr_unit;

/* Where a value comes from: one path, or several joined as text. */
typedef struct tr_src {
    tr_path *paths;
    size_t n_paths;
    char *sep;
    char *label; /* "dob" or "first+last", for messages */
} tr_src;

typedef struct tr_fmap {
    char *target;  /* canonical field, "address.city" */
    char ptr[512]; /* JSON pointer of the mapping, for lines */
    int line;
    tr_src src;
    json_t *constant; /* or NULL */
    uint8_t norm[TR_NORM_MAX];
    size_t n_norm;
    int clear_when_empty, required;
    char *format; /* NULL: iso8601 */
    tr_unit unit;
    char **enum_from, **enum_to; /* domain value -> symbol */
    size_t n_enum;
    char *enum_default;
    char **true_vals, **false_vals;
    size_t n_true, n_false;
    char *branch;

    /* bound */
    tr_conv conv, item_conv;
    char **symbols; /* enum symbols (copied) */
    size_t n_symbols;
    int *enum_idx;         /* per enum_from entry */
    int enum_default_idx;  /* -1: none */
    const char *type_name; /* static, for messages */
} tr_fmap;

typedef enum tr_cond_kind { C_EQUALS, C_IN, C_PRESENT, C_ABSENT } tr_cond_kind;

typedef struct tr_cond {
    tr_path path;
    tr_cond_kind kind;
    json_t *values; /* array for C_EQUALS (one item) and C_IN */
} tr_cond;

/* One slot of the encoding plan: a field of the update's values record (or of a nested
 * record below it). */
typedef struct tr_slot {
    char *name;
    int is_union;         /* the field's type is a union: a branch index precedes the value */
    int null_idx;         /* branch of null, -1 if none */
    int val_idx;          /* branch written for a value */
    tr_fmap *map;         /* mapped directly */
    struct tr_slot *subs; /* a record with mapped sub-fields */
    size_t n_subs;
    uint8_t *fixed; /* pre-encoded bytes (branch included): constant, default or null */
    size_t fixed_len;
    int fixed_kind;    /* 0 none, 1 set (constant / default), 2 cleared (null constant) */
    uint8_t *name_enc; /* the name as an Avro string, for `provided` */
    size_t name_enc_len;
} tr_slot;

typedef enum tr_role { R_KEY, R_SOURCE, R_EVENT_TIME, R_SEQ, R_OP, R_PROVIDED, R_VALUES } tr_role;

struct tr_mapping {
    char *name;
    tr_lines *lines;
    char *topic, *entity, *domain, *dlq;
    tr_format format;

    /* key */
    tr_src key;
    uint8_t key_norm[TR_NORM_MAX];
    size_t n_key_norm;
    int key_uuid_opt; /* as written: -1 default, 0 none, 1 v5 */
    int has_ns;
    uint8_t ns_opt[16];

    /* event time */
    tr_src et;
    char *et_format;
    tr_unit et_unit;
    int et_fallback; /* 1: record timestamp when missing */

    tr_cond *conds;
    size_t n_conds;

    tr_fmap *maps;
    size_t n_maps;

    tr_trie trie;
    size_t n_nodes;

    /* bound */
    int bound;
    char *key_field;
    int key_is_uuid;
    int key_uuid; /* 1: the key is uuid5(ns, text) */
    uint8_t ns[16];
    tr_role roles[8];
    size_t n_roles;
    int op_upsert, op_delete;
    int32_t schema_id;
    uint8_t *source_enc;
    size_t source_enc_len;
    tr_slot *slots;
    size_t n_slots;
    uint8_t *null_values; /* the values record with every field null, for DELETEs */
    size_t null_values_len;
};

/* ---- small things ---------------------------------------------------------------------- */

static cg_err *oom(void)
{
    return cg_err_new(CG_ENOMEM, "out of memory");
}

static int line_of(const tr_mapping *m, const char *ptr)
{
    return tr_lines_find(m->lines, ptr);
}

/* "<file>:<line>: " + message */
static cg_err *at(const tr_mapping *m, const char *ptr, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cg_err *at(const tr_mapping *m, const char *ptr, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cg_err_new(code, "%s:%d: %s", m->name, line_of(m, ptr), msg);
}

static void ptr_child(char *dst, size_t cap, const char *parent, const char *key)
{
    snprintf(dst, cap, "%s", parent);
    tr_pointer_append(dst, cap, key);
}

static void src_clear(tr_src *s)
{
    for (size_t i = 0; i < s->n_paths; i++)
        tr_path_clear(&s->paths[i]);
    free(s->paths);
    free(s->sep);
    free(s->label);
    memset(s, 0, sizeof *s);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void fmap_clear(tr_fmap *f)
{
    free(f->target);
    src_clear(&f->src);
    json_decref(f->constant);
    free(f->format);
    strv_free(f->enum_from, f->n_enum);
    strv_free(f->enum_to, f->n_enum);
    free(f->enum_default);
    strv_free(f->true_vals, f->n_true);
    strv_free(f->false_vals, f->n_false);
    free(f->branch);
    strv_free(f->symbols, f->n_symbols);
    free(f->enum_idx);
}

static void slots_free(tr_slot *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].name);
        slots_free(s[i].subs, s[i].n_subs);
        free(s[i].fixed);
        free(s[i].name_enc);
    }
    free(s);
}

static void trie_clear(tr_trie *t)
{
    for (size_t i = 0; i < t->n_kids; i++)
        trie_clear(&t->kids[i]);
    free(t->kids);
    free(t->key);
}

void tr_mapping_free(tr_mapping *m)
{
    if (!m)
        return;
    trie_clear(&m->trie);
    free(m->name);
    tr_lines_free(m->lines);
    free(m->topic);
    free(m->entity);
    free(m->domain);
    free(m->dlq);
    src_clear(&m->key);
    src_clear(&m->et);
    free(m->et_format);
    for (size_t i = 0; i < m->n_conds; i++) {
        tr_path_clear(&m->conds[i].path);
        json_decref(m->conds[i].values);
    }
    free(m->conds);
    for (size_t i = 0; i < m->n_maps; i++)
        fmap_clear(&m->maps[i]);
    free(m->maps);
    free(m->key_field);
    free(m->source_enc);
    slots_free(m->slots, m->n_slots);
    free(m->null_values);
    free(m);
}

const char *tr_mapping_name(const tr_mapping *m)
{
    return m->name;
}
const char *tr_mapping_source_topic(const tr_mapping *m)
{
    return m->topic;
}
tr_format tr_mapping_format(const tr_mapping *m)
{
    return m->format;
}
const char *tr_mapping_entity(const tr_mapping *m)
{
    return m->entity;
}
const char *tr_mapping_domain(const tr_mapping *m)
{
    return m->domain;
}
const char *tr_mapping_dlq_topic(const tr_mapping *m)
{
    return m->dlq;
}
const char *tr_mapping_key_field(const tr_mapping *m)
{
    return m->key_field;
}

/* ---- parsing ------------------------------------------------------------------------- */

/* Refuses members of obj not in allowed (NULL-terminated), suggesting the nearest. */
static cg_err *check_options(const tr_mapping *m, const json_t *obj, const char *ptr,
                             const char *where, const char *const *allowed)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    while (allowed[n])
        n++;
    json_object_foreach((json_t *)obj, k, v)
    {
        int ok = 0;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (ok)
            continue;
        char p[600];
        ptr_child(p, sizeof p, ptr, k);
        const char *s = tr_suggest(k, allowed, n);
        if (s)
            return at(m, p, CG_EINVAL, "unknown option '%s' in %s; did you mean '%s'?", k, where,
                      s);
        return at(m, p, CG_EINVAL, "unknown option '%s' in %s", k, where);
    }
    (void)v;
    return NULL;
}

static cg_err *get_string(const tr_mapping *m, const json_t *obj, const char *ptr, const char *key,
                          int required, char **out)
{
    json_t *v = json_object_get(obj, key);
    char p[600];
    ptr_child(p, sizeof p, ptr, key);
    if (!v) {
        if (required)
            return at(m, ptr, CG_EINVAL, "missing required option '%s'", key);
        return NULL;
    }
    if (!json_is_string(v))
        return at(m, p, CG_EINVAL, "option '%s' must be a string", key);
    *out = strdup(json_string_value(v));
    return *out ? NULL : oom();
}

static cg_err *get_bool(const tr_mapping *m, const json_t *obj, const char *ptr, const char *key,
                        int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    if (!json_is_boolean(v)) {
        char p[600];
        ptr_child(p, sizeof p, ptr, key);
        return at(m, p, CG_EINVAL, "option '%s' must be true or false", key);
    }
    *out = json_is_true(v);
    return NULL;
}

static cg_err *parse_norm(const tr_mapping *m, const json_t *obj, const char *ptr, uint8_t *ops,
                          size_t *n)
{
    json_t *v = json_object_get(obj, "normalize");
    char p[600];
    ptr_child(p, sizeof p, ptr, "normalize");
    *n = 0;
    if (!v)
        return NULL;
    if (json_is_string(v)) { /* one normalisation may be given bare */
        int op = tr_norm_parse(json_string_value(v));
        if (!op)
            goto bad_name;
        ops[(*n)++] = (uint8_t)op;
        return NULL;
    }
    if (!json_is_array(v))
        return at(m, p, CG_EINVAL,
                  "'normalize' must be a list of trim, lower, upper, collapse_spaces");
    if (json_array_size(v) > TR_NORM_MAX)
        return at(m, p, CG_EINVAL, "'normalize' has more than %d steps", TR_NORM_MAX);
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        int op = json_is_string(it) ? tr_norm_parse(json_string_value(it)) : 0;
        if (!op) {
            char q[700];
            snprintf(q, sizeof q, "%s/%zu", p, i);
            return at(m, q, CG_EINVAL,
                      "unknown normalisation %s%s%s (known: trim, lower, upper, collapse_spaces)",
                      json_is_string(it) ? "'" : "",
                      json_is_string(it) ? json_string_value(it) : "(not a string)",
                      json_is_string(it) ? "'" : "");
        }
        ops[(*n)++] = (uint8_t)op;
    }
    return NULL;
bad_name:
    return at(m, p, CG_EINVAL,
              "unknown normalisation '%s' (known: trim, lower, upper, collapse_spaces)",
              json_string_value(v));
}

/* `from`: a path or a list of paths. */
static cg_err *parse_src(const tr_mapping *m, const json_t *v, const char *ptr,
                         const char *sep_default, const json_t *sep, tr_src *out)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !(json_is_array(v) && n > 0))
        return at(m, ptr, CG_EINVAL, "'from' must be a path or a non-empty list of paths");
    out->paths = calloc(n, sizeof *out->paths);
    if (!out->paths)
        return oom();
    size_t label_len = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *pv = json_is_array(v) ? json_array_get(v, i) : v;
        char p[620];
        if (json_is_array(v))
            snprintf(p, sizeof p, "%s/%zu", ptr, i);
        else
            snprintf(p, sizeof p, "%s", ptr);
        if (!json_is_string(pv))
            return at(m, p, CG_EINVAL, "a path must be a string");
        cg_err *e = tr_path_parse(json_string_value(pv), &out->paths[i]);
        if (e) {
            cg_err *r = at(m, p, cg_err_code(e), "%s", cg_err_msg(e));
            cg_err_free(e);
            return r;
        }
        out->n_paths++;
        label_len += strlen(json_string_value(pv)) + 1;
    }
    out->label = malloc(label_len + 1);
    if (!out->label)
        return oom();
    out->label[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out->label, "+");
        strcat(out->label, out->paths[i].text);
    }
    if (sep && !json_is_string(sep))
        return at(m, ptr, CG_EINVAL, "'separator' must be a string");
    out->sep = strdup(sep ? json_string_value(sep) : sep_default);
    return out->sep ? NULL : oom();
}

static cg_err *parse_unit(const tr_mapping *m, const json_t *obj, const char *ptr, tr_unit *out)
{
    json_t *v = json_object_get(obj, "unit");
    *out = U_DEFAULT;
    if (!v)
        return NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, "days") == 0)
        *out = U_DAYS;
    else if (strcmp(s, "s") == 0)
        *out = U_S;
    else if (strcmp(s, "ms") == 0)
        *out = U_MS;
    else if (strcmp(s, "us") == 0)
        *out = U_US;
    else {
        char p[600];
        ptr_child(p, sizeof p, ptr, "unit");
        return at(m, p, CG_EINVAL, "'unit' must be one of days, s, ms, us");
    }
    return NULL;
}

static cg_err *parse_format(const tr_mapping *m, const json_t *obj, const char *ptr, char **out)
{
    cg_err *e = get_string(m, obj, ptr, "format", 0, out);
    if (e || !*out)
        return e;
    const char *why = tr_time_format_check(*out);
    if (why) {
        char p[600];
        ptr_child(p, sizeof p, ptr, "format");
        return at(m, p, CG_EINVAL, "date/time format '%s': %s", *out, why);
    }
    return NULL;
}

static cg_err *parse_strv(const tr_mapping *m, const json_t *obj, const char *ptr, const char *key,
                          char ***out, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    char p[600];
    ptr_child(p, sizeof p, ptr, key);
    if (!json_is_array(v))
        return at(m, p, CG_EINVAL, "'%s' must be a list of strings", key);
    *out = calloc(json_array_size(v) + 1, sizeof **out);
    if (!*out)
        return oom();
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it))
            return at(m, p, CG_EINVAL, "'%s' must be a list of strings", key);
        (*out)[i] = strdup(json_string_value(it));
        if (!(*out)[i])
            return oom();
        (*n)++;
    }
    return NULL;
}

static const char *const field_options[] = {
    "from",        "const",        "separator", "normalize",   "clear_when_empty",
    "required",    "format",       "unit",      "enum",        "enum_default",
    "true_values", "false_values", "branch",    "description", NULL};

static cg_err *parse_field(tr_mapping *m, const char *target, const json_t *v, tr_fmap *f)
{
    cg_err *e = NULL;
    f->target = strdup(target);
    if (!f->target)
        return oom();
    snprintf(f->ptr, sizeof f->ptr, "/fields");
    tr_pointer_append(f->ptr, sizeof f->ptr, target);
    f->line = line_of(m, f->ptr);
    f->enum_default_idx = -1;
    if (json_is_string(v)) { /* shorthand: "email": "work_email" */
        return parse_src(m, v, f->ptr, " ", NULL, &f->src);
    }
    if (!json_is_object(v))
        return at(m, f->ptr, CG_EINVAL, "field '%s': a mapping must be a path or an object",
                  target);
    char where[300];
    snprintf(where, sizeof where, "field '%s'", target);
    if ((e = check_options(m, v, f->ptr, where, field_options)))
        return e;
    json_t *from = json_object_get(v, "from"), *cst = json_object_get(v, "const");
    char p[600];
    if (from && cst)
        return at(m, f->ptr, CG_EINVAL, "field '%s': give 'from' or 'const', not both", target);
    if (!from && !cst)
        return at(m, f->ptr, CG_EINVAL, "field '%s': needs 'from' (a path) or 'const' (a value)",
                  target);
    if (from) {
        ptr_child(p, sizeof p, f->ptr, "from");
        if ((e = parse_src(m, from, p, " ", json_object_get(v, "separator"), &f->src)))
            return e;
    } else {
        f->constant = json_incref(cst);
    }
    if ((e = parse_norm(m, v, f->ptr, f->norm, &f->n_norm)) ||
        (e = get_bool(m, v, f->ptr, "clear_when_empty", &f->clear_when_empty)) ||
        (e = get_bool(m, v, f->ptr, "required", &f->required)) ||
        (e = parse_format(m, v, f->ptr, &f->format)) || (e = parse_unit(m, v, f->ptr, &f->unit)) ||
        (e = get_string(m, v, f->ptr, "enum_default", 0, &f->enum_default)) ||
        (e = get_string(m, v, f->ptr, "branch", 0, &f->branch)) ||
        (e = parse_strv(m, v, f->ptr, "true_values", &f->true_vals, &f->n_true)) ||
        (e = parse_strv(m, v, f->ptr, "false_values", &f->false_vals, &f->n_false)))
        return e;
    json_t *en = json_object_get(v, "enum");
    if (en) {
        ptr_child(p, sizeof p, f->ptr, "enum");
        if (!json_is_object(en))
            return at(m, p, CG_EINVAL, "'enum' must be an object: domain value -> symbol");
        size_t n = json_object_size(en);
        f->enum_from = calloc(n + 1, sizeof *f->enum_from);
        f->enum_to = calloc(n + 1, sizeof *f->enum_to);
        if (!f->enum_from || !f->enum_to)
            return oom();
        const char *k;
        json_t *sym;
        json_object_foreach(en, k, sym)
        {
            if (!json_is_string(sym)) {
                char q[700];
                ptr_child(q, sizeof q, p, k);
                return at(m, q, CG_EINVAL, "enum value '%s' must map to a symbol (a string)", k);
            }
            f->enum_from[f->n_enum] = strdup(k);
            f->enum_to[f->n_enum] = strdup(json_string_value(sym));
            f->n_enum++;
            if (!f->enum_from[f->n_enum - 1] || !f->enum_to[f->n_enum - 1])
                return oom();
        }
    }
    return NULL;
}

static const char *const cond_options[] = {"path", "equals", "in", "present", NULL};

static cg_err *parse_cond(tr_mapping *m, const json_t *v, const char *ptr, tr_cond *c)
{
    cg_err *e;
    if (!json_is_object(v))
        return at(m, ptr, CG_EINVAL, "a delete condition must be an object");
    if ((e = check_options(m, v, ptr, "delete condition", cond_options)))
        return e;
    json_t *path = json_object_get(v, "path");
    char p[600];
    ptr_child(p, sizeof p, ptr, "path");
    if (!json_is_string(path))
        return at(m, ptr, CG_EINVAL, "delete condition needs 'path' (a string)");
    if ((e = tr_path_parse(json_string_value(path), &c->path))) {
        cg_err *r = at(m, p, cg_err_code(e), "%s", cg_err_msg(e));
        cg_err_free(e);
        return r;
    }
    json_t *eq = json_object_get(v, "equals"), *in = json_object_get(v, "in"),
           *pr = json_object_get(v, "present");
    int n = (eq != NULL) + (in != NULL) + (pr != NULL);
    if (n != 1)
        return at(m, ptr, CG_EINVAL,
                  "delete condition needs exactly one of 'equals', 'in', 'present'");
    if (eq) {
        c->kind = C_EQUALS;
        c->values = json_array();
        if (!c->values || json_array_append(c->values, eq) != 0)
            return oom();
    } else if (in) {
        ptr_child(p, sizeof p, ptr, "in");
        if (!json_is_array(in))
            return at(m, p, CG_EINVAL, "'in' must be a list of values");
        c->kind = C_IN;
        c->values = json_incref(in);
    } else {
        ptr_child(p, sizeof p, ptr, "present");
        if (!json_is_boolean(pr))
            return at(m, p, CG_EINVAL, "'present' must be true or false");
        c->kind = json_is_true(pr) ? C_PRESENT : C_ABSENT;
    }
    return NULL;
}

static const char *const top_options[] = {"source",     "entity", "domain", "dlq_topic",   "key",
                                          "event_time", "delete", "fields", "description", NULL};
static const char *const source_options[] = {"topic", "format", NULL};
static const char *const key_options[] = {"from", "separator", "normalize",
                                          "uuid", "namespace", NULL};
static const char *const et_options[] = {"from", "format", "unit", "if_missing", NULL};

/* 1 when topic is canon.<the mapping's entity><suffix>. */
static int entity_topic(const tr_mapping *m, const char *topic, const char *suffix)
{
    size_t el = strlen(m->entity);
    return !strncmp(topic, "canon.", 6) && !strncmp(topic + 6, m->entity, el) &&
           !strcmp(topic + 6 + el, suffix);
}

/* A dead-letter topic named in the mapping must be neither the source topic (a dead letter
 * would be read again and dead-lettered again, for ever) nor the canonical updates topic
 * (the aggregator would read domain records as updates). */
static cg_err *check_dlq(tr_mapping *m)
{
    if (!*m->dlq)
        return at(m, "/dlq_topic", CG_EINVAL, "'dlq_topic' is empty");
    if (!strcmp(m->dlq, m->topic))
        return at(m, "/dlq_topic", CG_EINVAL,
                  "'dlq_topic' is the source topic '%s': dead letters would be read again, for "
                  "ever",
                  m->topic);
    if (entity_topic(m, m->dlq, ".updates"))
        return at(m, "/dlq_topic", CG_EINVAL,
                  "'dlq_topic' is '%s', the canonical updates topic: dead letters would be read "
                  "as updates",
                  m->dlq);
    return NULL;
}

static cg_err *parse_doc(tr_mapping *m, const json_t *root)
{
    cg_err *e;
    char p[600];
    if (!json_is_object(root))
        return at(m, "", CG_EINVAL, "a mapping must be a JSON object");
    if ((e = check_options(m, root, "", "the mapping", top_options)))
        return e;

    /* source */
    json_t *src = json_object_get(root, "source");
    if (!src)
        return at(m, "", CG_EINVAL,
                  "missing required option 'source' ({\"topic\": ..., \"format\": \"json\"})");
    if (!json_is_object(src))
        return at(m, "/source", CG_EINVAL, "'source' must be an object with 'topic' and 'format'");
    if ((e = check_options(m, src, "/source", "'source'", source_options)) ||
        (e = get_string(m, src, "/source", "topic", 1, &m->topic)))
        return e;
    if (!*m->topic)
        return at(m, "/source/topic", CG_EINVAL, "'topic' is empty");
    char *fmt = NULL;
    if ((e = get_string(m, src, "/source", "format", 0, &fmt)))
        return e;
    m->format = TR_FORMAT_JSON;
    if (fmt && strcmp(fmt, "avro") == 0)
        m->format = TR_FORMAT_AVRO;
    else if (fmt && strcmp(fmt, "json") != 0) {
        e = at(m, "/source/format", CG_EINVAL, "format '%s' is not json or avro", fmt);
        free(fmt);
        return e;
    }
    free(fmt);

    if ((e = get_string(m, root, "", "entity", 1, &m->entity)) ||
        (e = get_string(m, root, "", "domain", 1, &m->domain)) ||
        (e = get_string(m, root, "", "dlq_topic", 0, &m->dlq)))
        return e;
    if (!*m->entity)
        return at(m, "/entity", CG_EINVAL, "'entity' is empty");
    if (!*m->domain)
        return at(m, "/domain", CG_EINVAL, "'domain' is empty");
    /* The translator writes canon.<entity>.updates, and the aggregator writes canon.<entity>
     * from it: reading either back would turn the translator's own output into input, for
     * ever. */
    const char *own = entity_topic(m, m->topic, "")           ? "canonical topic"
                      : entity_topic(m, m->topic, ".updates") ? "updates topic"
                                                              : NULL;
    if (own)
        return at(m, "/source/topic", CG_EINVAL,
                  "the source topic '%s' is the %s of entity '%s': the translator would "
                  "read its own output as domain events",
                  m->topic, own, m->entity);
    if (m->dlq) {
        if ((e = check_dlq(m)))
            return e;
    } else {
        size_t n = strlen(m->topic) + 5;
        m->dlq = malloc(n);
        if (!m->dlq)
            return oom();
        snprintf(m->dlq, n, "%s.dlq", m->topic);
    }

    /* key */
    json_t *key = json_object_get(root, "key");
    if (!key)
        return at(m, "", CG_EINVAL,
                  "missing required option 'key' (how to build the universal identifier)");
    m->key_uuid_opt = -1;
    if (json_is_string(key) || json_is_array(key)) {
        if ((e = parse_src(m, key, "/key", "", NULL, &m->key)))
            return e;
    } else if (json_is_object(key)) {
        if ((e = check_options(m, key, "/key", "'key'", key_options)))
            return e;
        json_t *from = json_object_get(key, "from");
        if (!from)
            return at(m, "/key", CG_EINVAL, "'key' needs 'from' (a path or a list of paths)");
        if ((e = parse_src(m, from, "/key/from", "", json_object_get(key, "separator"), &m->key)) ||
            (e = parse_norm(m, key, "/key", m->key_norm, &m->n_key_norm)))
            return e;
        json_t *u = json_object_get(key, "uuid");
        if (u) {
            const char *s = json_is_string(u) ? json_string_value(u) : "";
            if (strcmp(s, "v5") == 0)
                m->key_uuid_opt = 1;
            else if (strcmp(s, "none") == 0)
                m->key_uuid_opt = 0;
            else
                return at(m, "/key/uuid", CG_EINVAL, "'uuid' must be \"v5\" or \"none\"");
        }
        json_t *ns = json_object_get(key, "namespace");
        if (ns) {
            if (!json_is_string(ns) ||
                tr_uuid_parse(json_string_value(ns), strlen(json_string_value(ns)), m->ns_opt) != 0)
                return at(m, "/key/namespace", CG_EINVAL,
                          "'namespace' must be a UUID (8-4-4-4-12 hex digits)");
            m->has_ns = 1;
        }
    } else {
        return at(m, "/key", CG_EINVAL, "'key' must be a path, a list of paths or an object");
    }

    /* event time */
    json_t *et = json_object_get(root, "event_time");
    if (et && json_is_string(et)) {
        if (strcmp(json_string_value(et), "record_timestamp") != 0)
            return at(m, "/event_time", CG_EINVAL,
                      "'event_time' must be \"record_timestamp\" or an object with 'from'");
    } else if (et) {
        if (!json_is_object(et))
            return at(m, "/event_time", CG_EINVAL,
                      "'event_time' must be \"record_timestamp\" or an object");
        if ((e = check_options(m, et, "/event_time", "'event_time'", et_options)) ||
            (e = parse_format(m, et, "/event_time", &m->et_format)) ||
            (e = parse_unit(m, et, "/event_time", &m->et_unit)))
            return e;
        if (m->et_unit == U_DAYS)
            return at(m, "/event_time/unit", CG_EINVAL, "event time 'unit' must be s, ms or us");
        json_t *from = json_object_get(et, "from");
        if (from) {
            if (!json_is_string(from))
                return at(m, "/event_time/from", CG_EINVAL, "event time 'from' must be one path");
            if ((e = parse_src(m, from, "/event_time/from", "", NULL, &m->et)))
                return e;
        }
        json_t *im = json_object_get(et, "if_missing");
        if (im) {
            const char *s = json_is_string(im) ? json_string_value(im) : "";
            if (strcmp(s, "record_timestamp") == 0)
                m->et_fallback = 1;
            else if (strcmp(s, "error") != 0)
                return at(m, "/event_time/if_missing", CG_EINVAL,
                          "'if_missing' must be \"error\" or \"record_timestamp\"");
        }
    }

    /* delete */
    json_t *del = json_object_get(root, "delete");
    if (del) {
        size_t n = json_is_array(del) ? json_array_size(del) : 1;
        m->conds = calloc(n ? n : 1, sizeof *m->conds);
        if (!m->conds)
            return oom();
        for (size_t i = 0; i < n; i++) {
            if (json_is_array(del))
                snprintf(p, sizeof p, "/delete/%zu", i);
            else
                snprintf(p, sizeof p, "/delete");
            m->n_conds++;
            if ((e = parse_cond(m, json_is_array(del) ? json_array_get(del, i) : del, p,
                                &m->conds[i])))
                return e;
        }
    }

    /* fields */
    json_t *fields = json_object_get(root, "fields");
    if (!fields)
        return at(m, "", CG_EINVAL,
                  "missing required option 'fields' (canonical field -> mapping)");
    if (!json_is_object(fields))
        return at(m, "/fields", CG_EINVAL,
                  "'fields' must be an object: canonical field -> mapping");
    m->maps = calloc(json_object_size(fields) + 1, sizeof *m->maps);
    if (!m->maps)
        return oom();
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v)
    {
        m->n_maps++;
        if ((e = parse_field(m, k, v, &m->maps[m->n_maps - 1])))
            return e;
    }
    return NULL;
}

/* Adds p to the trie; sets p->id. 0, or -1 when memory is short. */
static int trie_add(tr_mapping *m, tr_path *p)
{
    tr_trie *t = &m->trie;
    for (size_t i = 0; i < p->n_steps; i++) {
        const tr_step *st = &p->steps[i];
        tr_trie *next = NULL;
        for (size_t k = 0; k < t->n_kids && !next; k++) {
            tr_trie *c = &t->kids[k];
            if (st->key ? c->key && strcmp(c->key, st->key) == 0 : !c->key && c->index == st->index)
                next = c;
        }
        if (!next) {
            tr_trie *kids = realloc(t->kids, (t->n_kids + 1) * sizeof *kids);
            if (!kids)
                return -1;
            t->kids = kids;
            next = &kids[t->n_kids];
            memset(next, 0, sizeof *next);
            if (st->key) {
                next->key = strdup(st->key);
                if (!next->key)
                    return -1;
                next->klen = strlen(st->key);
                t->has_key_kids = 1;
            } else {
                next->index = st->index;
                t->has_index_kids = 1;
            }
            next->id = ++m->n_nodes;
            t->n_kids++;
        }
        t = next;
    }
    p->id = t->id;
    t->terminal = 1;
    return 0;
}

static int trie_build(tr_mapping *m)
{
    for (size_t i = 0; i < m->key.n_paths; i++)
        if (trie_add(m, &m->key.paths[i]) != 0)
            return -1;
    for (size_t i = 0; i < m->et.n_paths; i++)
        if (trie_add(m, &m->et.paths[i]) != 0)
            return -1;
    for (size_t i = 0; i < m->n_conds; i++)
        if (trie_add(m, &m->conds[i].path) != 0)
            return -1;
    for (size_t f = 0; f < m->n_maps; f++)
        for (size_t i = 0; i < m->maps[f].src.n_paths; i++)
            if (trie_add(m, &m->maps[f].src.paths[i]) != 0)
                return -1;
    m->n_nodes++; /* node 0, the record */
    return 0;
}

cg_err *tr_mapping_parse(const char *text, size_t len, const char *name, tr_mapping **out)
{
    cg_err *e = NULL;
    json_error_t je;
    tr_mapping *m = calloc(1, sizeof *m);
    json_t *root = NULL;
    if (!m)
        return oom();
    m->name = strdup(name ? name : "mapping");
    if (!m->name) {
        e = oom();
        goto done;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        e = cg_err_new(CG_EPARSE, "%s:%d:%d: %s", m->name, je.line, je.column, je.text);
        goto done;
    }
    m->lines = tr_lines_scan(text, len);
    if (!m->lines) {
        e = oom();
        goto done;
    }
    e = parse_doc(m, root);
    if (e)
        goto done;
    if (trie_build(m) != 0) {
        e = oom();
        goto done;
    }
    *out = m;
    m = NULL;
done:
    json_decref(root);
    tr_mapping_free(m);
    return e;
}

cg_err *tr_mapping_load(const char *path, tr_mapping **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cg_err_new(CG_EIO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (64u << 20)) {
                fclose(f);
                free(buf);
                return cg_err_new(CG_EINVAL, "%s: larger than 64 MiB; not a mapping", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                fclose(f);
                free(buf);
                return oom();
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cg_err_new(CG_EIO, "%s: read error", path);
    }
    cg_err *e = tr_mapping_parse(buf, len, path, out);
    free(buf);
    return e;
}

/* ---- binding: types ----------------------------------------------------------------- */

/* The value type of a field: T for T, ["null", T] or [T, "null"]; for a union of several
 * non-null types, the branch named by `branch`. */
static const reg_node *value_type(const reg_node *t, const char *branch, int *is_union,
                                  int *null_idx, int *val_idx, const char **why)
{
    *is_union = 0;
    *null_idx = -1;
    *val_idx = -1;
    if (t->type != REG_UNION)
        return t;
    *is_union = 1;
    const reg_node *only = NULL;
    size_t n_nonnull = 0;
    for (size_t i = 0; i < t->n_branches; i++) {
        const reg_node *b = t->branches[i];
        if (b->type == REG_NULL) {
            *null_idx = (int)i;
            continue;
        }
        n_nonnull++;
        if (branch) {
            const char *nm = b->fullname ? b->fullname : reg_type_name(b->type);
            if (strcmp(nm, branch) == 0 || (b->name && strcmp(b->name, branch) == 0)) {
                only = b;
                *val_idx = (int)i;
            }
        } else if (n_nonnull == 1) {
            only = b;
            *val_idx = (int)i;
        }
    }
    if (branch && !only) {
        *why = "'branch' names no type of the union";
        return NULL;
    }
    if (!branch && n_nonnull != 1) {
        *why = n_nonnull ? "the field is a union of several types: say which with 'branch'"
                         : "the field can only be null";
        return NULL;
    }
    return only;
}

static tr_conv conv_of(const reg_node *t)
{
    switch (t->type) {
    case REG_STRING:
        return t->logical == REG_LT_UUID ? CV_UUID : CV_STRING;
    case REG_BYTES:
        return t->logical == REG_LT_DECIMAL ? CV_NONE : CV_BYTES;
    case REG_INT:
        if (t->logical == REG_LT_DATE)
            return CV_DATE;
        if (t->logical == REG_LT_TIME_MILLIS)
            return CV_TIME_MS;
        return CV_INT;
    case REG_LONG:
        switch (t->logical) {
        case REG_LT_TIMESTAMP_MILLIS:
        case REG_LT_LOCAL_TIMESTAMP_MILLIS:
            return CV_TS_MS;
        case REG_LT_TIMESTAMP_MICROS:
        case REG_LT_LOCAL_TIMESTAMP_MICROS:
            return CV_TS_US;
        case REG_LT_TIMESTAMP_NANOS:
        case REG_LT_LOCAL_TIMESTAMP_NANOS:
            return CV_TS_NS;
        case REG_LT_TIME_MICROS:
            return CV_TIME_US;
        default:
            return CV_LONG;
        }
    case REG_FLOAT:
        return CV_FLOAT;
    case REG_DOUBLE:
        return CV_DOUBLE;
    case REG_BOOLEAN:
        return CV_BOOL;
    case REG_ENUM:
        return CV_ENUM;
    case REG_ARRAY:
        return CV_ARRAY;
    case REG_RECORD:
        return CV_RECORD;
    default:
        return CV_NONE;
    }
}

static const char *type_label(const reg_node *t)
{
    const char *l = reg_logical_name(t->logical);
    if (l && t->logical != REG_LT_DECIMAL)
        return l;
    if (t->type == REG_ENUM || t->type == REG_RECORD || t->type == REG_FIXED)
        return t->name ? t->name : reg_type_name(t->type);
    return l ? l : reg_type_name(t->type);
}

static int is_time_conv(tr_conv c)
{
    return c == CV_DATE || c == CV_TIME_MS || c == CV_TIME_US || c == CV_TS_MS || c == CV_TS_US ||
           c == CV_TS_NS;
}

/* ---- apply-time conversion ------------------------------------------------------------ */

/* A value being converted: JSON, or text (a string of the record read in place, or text
 * joined or normalised in a scratch buffer): the same struct as a record's value. */
typedef tr_val tval;

/* The bytes of v when it is a string (JSON or text), else NULL. */
static const char *val_str(const tr_val *v, size_t *n)
{
    if (!v->j) {
        *n = v->n;
        return v->s;
    }
    if (!json_is_string(v->j))
        return NULL;
    *n = json_string_length(v->j);
    return json_string_value(v->j);
}

static int val_missing(const tr_val *v)
{
    return !v->j && !v->s;
}

static int val_null(const tr_val *v)
{
    return v->j && json_is_null(v->j);
}

/* Outcome of evaluating one mapping for one record. */
enum { EV_SKIP = 0, EV_SET = 1, EV_CLEAR = 2, EV_ERR = -1 };

static size_t scalar_text(const json_t *j, char *buf, size_t cap);

static cg_err *fail_value(const tr_fmap *f, const tval *v, const char *what)
{
    char shown[96];
    size_t rn;
    if (v->j && json_is_real(v->j) && (rn = scalar_text(v->j, shown, sizeof shown - 2))) {
        /* the shortest text of the double (1e+300, not 1.0000000000000001e+300), with a
         * point when it has neither point nor exponent, so that it reads as a real */
        if (!strpbrk(shown, ".e"))
            memcpy(shown + rn, ".0", 3);
    } else if (!v->j || json_is_string(v->j)) {
        const char *s = v->j ? json_string_value(v->j) : v->s;
        size_t len = v->j ? json_string_length(v->j) : v->n;
        snprintf(shown, sizeof shown, "'%.*s'%s", (int)tr_utf8_cut(s, len, 60), s,
                 len > 60 ? "..." : "");
    } else {
        char *d = json_dumps(v->j, JSON_ENCODE_ANY | JSON_COMPACT);
        size_t len = d ? strlen(d) : 0;
        snprintf(shown, sizeof shown, "%.*s%s", d ? (int)tr_utf8_cut(d, len, 60) : 1, d ? d : "?",
                 len > 60 ? "..." : "");
        free(d);
    }
    const char *label = f->src.label ? f->src.label : "(const)";
    return cg_err_new(CG_EINVAL, "field '%s' (-> %s): %s %s", label, f->target, shown, what);
}

static int parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == n)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_C(9223372036854775808) - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (!neg && v > INT64_MAX)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Whether s[0..n) is a decimal number: an optional sign, digits with at most one point
 * (one digit at least), an optional exponent. strtod also reads hexadecimal ("0x1p3"),
 * "inf" and "nan", which are not numbers a domain writes as text: a string holding them
 * is more likely a bug upstream than a value, so they are refused. */
static int is_decimal(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        if (i == n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

/* A decimal number (is_decimal) between blanks: 0; -1 when the text is not one; -2 when
 * it is past the double range (a value too small rounds to 0, as in a JSON number). */
static int parse_f64(const char *s, size_t n, double *out)
{
    char buf[80];
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf || !is_decimal(s, n))
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    double d = strtod(buf, NULL);
    if (errno == ERANGE && isinf(d))
        return -2;
    *out = d;
    return 0;
}

/* Writes d to a float or double target: a value past float's range is refused (it would
 * become Infinity), as `canon produce` refuses it. */
static cg_err *write_real(const tr_fmap *f, tr_conv c, const tval *v, double d, canon_buf *b)
{
    if (c == CV_DOUBLE) {
        canon_write_double(b, d);
        return NULL;
    }
    if (fabs(d) > FLT_MAX)
        return fail_value(f, v, "is out of range for float");
    canon_write_float(b, (float)d);
    return NULL;
}

static int strv_has_ci(char *const *v, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(v[i]) == len && strncasecmp(v[i], s, len) == 0)
            return 1;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Multiplies with overflow check. */
static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* 0 when v fits the target: date is an Avro int; time-millis and time-micros are a time
 * of day (the Avro specification: after midnight), which Java's LocalTime and Python's
 * datetime.time cannot hold past 24 hours or before midnight; the others are longs. */
static int time_in_range(tr_conv c, int64_t v)
{
    switch (c) {
    case CV_DATE:
        return v < INT32_MIN || v > INT32_MAX ? -1 : 0;
    case CV_TIME_MS:
        return v < 0 || v >= 86400000LL ? -1 : 0;
    case CV_TIME_US:
        return v < 0 || v >= 86400000000LL ? -1 : 0;
    default:
        return 0;
    }
}

/* Why time_in_range() refused a value of target c. */
static const char *time_range_why(tr_conv c)
{
    return c == CV_TIME_MS || c == CV_TIME_US
               ? "is not a time of day (from midnight, under 24 hours)"
               : "is out of range for the field";
}

/* An integer in `unit` (default: the target's own) to the target's unit; -1 when the
 * result does not fit the target. */
static int int_to_time(tr_conv c, tr_unit unit, int64_t v, int64_t *out)
{
    /* everything through microseconds, except days */
    int64_t us;
    if (c == CV_DATE && (unit == U_DEFAULT || unit == U_DAYS)) {
        *out = v;
        return time_in_range(c, v);
    }
    tr_unit u = unit;
    if (u == U_DEFAULT)
        u = c == CV_TS_MS || c == CV_TIME_MS ? U_MS : U_US;
    if (c == CV_TS_NS && unit == U_DEFAULT) {
        *out = v;
        return 0;
    }
    switch (u) {
    case U_DAYS:
        if (mul_ok(v, 86400000000LL, &us))
            return -1;
        break;
    case U_S:
        if (mul_ok(v, 1000000, &us))
            return -1;
        break;
    case U_MS:
        if (mul_ok(v, 1000, &us))
            return -1;
        break;
    default:
        us = v;
        break;
    }
    switch (c) {
    case CV_DATE:
        *out = floor_div(us, 86400000000LL);
        return time_in_range(c, *out);
    case CV_TS_MS:
    case CV_TIME_MS:
        *out = floor_div(us, 1000);
        return time_in_range(c, *out);
    case CV_TS_NS:
        return mul_ok(us, 1000, out);
    default:
        *out = us;
        return time_in_range(c, us);
    }
}

/* Text to the time target through the mapping's format; -1 when it does not parse or
 * does not fit the target. */
static int text_to_time(tr_conv c, const char *fmt, const char *s, size_t n, int64_t *out)
{
    tr_instant t;
    if (tr_time_parse(fmt ? fmt : "iso8601", s, n, &t) != 0)
        return -1;
    switch (c) {
    case CV_DATE:
        *out = floor_div(t.epoch_us, 86400000000LL);
        return time_in_range(c, *out);
    case CV_TS_MS:
        *out = floor_div(t.epoch_us, 1000);
        return 0;
    case CV_TS_US:
        *out = t.epoch_us;
        return 0;
    case CV_TS_NS:
        return mul_ok(t.epoch_us, 1000, out);
    case CV_TIME_MS:
        *out = t.time_of_day_us / 1000;
        return 0;
    case CV_TIME_US:
        *out = t.time_of_day_us;
        return 0;
    default:
        return -1;
    }
}

static void write_time(canon_buf *b, tr_conv c, int64_t v)
{
    if (c == CV_DATE || c == CV_TIME_MS)
        canon_write_int(b, (int32_t)v);
    else
        canon_write_long(b, v);
}

/* Number / boolean as text for string targets and enum / boolean lookups. */
static size_t scalar_text(const json_t *j, char *buf, size_t cap)
{
    int n = 0;
    if (json_is_integer(j))
        n = snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    else if (json_is_real(j)) {
        /* the shortest text that reads back as the same double (0.1, not 0.1000...01) */
        double d = json_real_value(j);
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(buf, cap, "%.*g", prec, d);
            if (n > 0 && (size_t)n < cap && strtod(buf, NULL) == d)
                break;
        }
    } else if (json_is_true(j))
        n = snprintf(buf, cap, "true");
    else if (json_is_false(j))
        n = snprintf(buf, cap, "false");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static cg_err *convert(const tr_fmap *f, tr_conv c, const tval *v, canon_buf *b);

static cg_err *convert_text(const tr_fmap *f, tr_conv c, const tval *v, const char *s, size_t n,
                            canon_buf *b)
{
    int64_t i;
    double d;
    switch (c) {
    case CV_STRING:
    case CV_BYTES: {
        canon_str cs = {s, n};
        canon_write_str(b, cs);
        return NULL;
    }
    case CV_UUID: {
        uint8_t u[16];
        char txt[37];
        if (tr_uuid_parse(s, n, u) != 0)
            return fail_value(f, v, "is not a UUID (8-4-4-4-12 hex digits)");
        tr_uuid_format(u, txt);
        canon_str cs = {txt, 36};
        canon_write_str(b, cs);
        return NULL;
    }
    case CV_INT:
        if (parse_i64(s, n, &i) != 0 || i < INT32_MIN || i > INT32_MAX)
            return fail_value(f, v, "is not an integer in the int range");
        canon_write_int(b, (int32_t)i);
        return NULL;
    case CV_LONG:
        if (parse_i64(s, n, &i) != 0)
            return fail_value(f, v, "is not an integer in the long range");
        canon_write_long(b, i);
        return NULL;
    case CV_FLOAT:
    case CV_DOUBLE: {
        int r = parse_f64(s, n, &d);
        if (r == -2)
            return fail_value(
                f, v, c == CV_FLOAT ? "is out of range for float" : "is out of range for double");
        if (r != 0)
            return fail_value(f, v, "is not a decimal number");
        return write_real(f, c, v, d, b);
    }
    case CV_BOOL: {
        static char *const dt[] = {"true", "yes", "y", "1", "on"};
        static char *const df[] = {"false", "no", "n", "0", "off"};
        int t =
            f->true_vals ? strv_has_ci(f->true_vals, f->n_true, s, n) : strv_has_ci(dt, 5, s, n);
        int fl =
            f->false_vals ? strv_has_ci(f->false_vals, f->n_false, s, n) : strv_has_ci(df, 5, s, n);
        if (!t && !fl)
            return fail_value(f, v, "is not a boolean (see true_values / false_values)");
        canon_write_bool(b, t);
        return NULL;
    }
    case CV_DATE:
    case CV_TIME_MS:
    case CV_TIME_US:
    case CV_TS_MS:
    case CV_TS_US:
    case CV_TS_NS:
        if (text_to_time(c, f->format, s, n, &i) != 0) {
            char what[160];
            snprintf(what, sizeof what, "is not a valid %s for format '%s'",
                     c == CV_DATE                         ? "date"
                     : c == CV_TIME_MS || c == CV_TIME_US ? "time"
                                                          : "date/time",
                     f->format ? f->format : "iso8601");
            return fail_value(f, v, what);
        }
        write_time(b, c, i);
        return NULL;
    case CV_ENUM: {
        for (size_t k = 0; k < f->n_enum; k++)
            if (strlen(f->enum_from[k]) == n && memcmp(f->enum_from[k], s, n) == 0) {
                canon_write_long(b, f->enum_idx[k]);
                return NULL;
            }
        if (!f->enum_from) /* no map: the value names a symbol */
            for (size_t k = 0; k < f->n_symbols; k++)
                if (strlen(f->symbols[k]) == n && memcmp(f->symbols[k], s, n) == 0) {
                    canon_write_long(b, (int64_t)k);
                    return NULL;
                }
        if (f->enum_default_idx >= 0) {
            canon_write_long(b, f->enum_default_idx);
            return NULL;
        }
        return fail_value(f, v,
                          f->enum_from ? "is not in the mapping's 'enum' (and no enum_default)"
                                       : "is not a symbol of the enum (and no enum_default)");
    }
    case CV_ARRAY:
        return fail_value(f, v, "is not an array");
    default:
        return fail_value(f, v, "cannot be converted");
    }
}

static cg_err *convert(const tr_fmap *f, tr_conv c, const tval *v, canon_buf *b)
{
    if (!v->j)
        return convert_text(f, c, v, v->s, v->n, b);
    const json_t *j = v->j;
    switch (json_typeof(j)) {
    case JSON_STRING:
        return convert_text(f, c, v, json_string_value(j), json_string_length(j), b);
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(j);
        int64_t t;
        switch (c) {
        case CV_INT:
            if (i < INT32_MIN || i > INT32_MAX)
                return fail_value(f, v, "is out of the int range");
            canon_write_int(b, (int32_t)i);
            return NULL;
        case CV_LONG:
            canon_write_long(b, i);
            return NULL;
        case CV_FLOAT:
        case CV_DOUBLE:
            return write_real(f, c, v, (double)i, b);
        case CV_DATE:
        case CV_TIME_MS:
        case CV_TIME_US:
        case CV_TS_MS:
        case CV_TS_US:
        case CV_TS_NS:
            if (int_to_time(c, f->unit, i, &t) != 0)
                return fail_value(f, v, time_range_why(c));
            write_time(b, c, t);
            return NULL;
        case CV_ARRAY:
            return fail_value(f, v, "is not an array");
        default:
            break;
        }
        break;
    }
    case JSON_REAL: {
        double d = json_real_value(j);
        switch (c) {
        case CV_FLOAT:
        case CV_DOUBLE:
            return write_real(f, c, v, d, b);
        case CV_INT:
        case CV_LONG:
            if (d != floor(d) || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18 ||
                (c == CV_INT && (d < INT32_MIN || d > INT32_MAX)))
                return fail_value(f, v, "is not a whole number in range");
            canon_write_long(b, (int64_t)d);
            return NULL;
        case CV_ARRAY:
            return fail_value(f, v, "is not an array");
        default:
            if (is_time_conv(c)) {
                if (d != floor(d) || fabs(d) > 9e15)
                    return fail_value(f, v, "is not a whole number of the unit");
                int64_t t;
                if (int_to_time(c, f->unit, (int64_t)d, &t) != 0)
                    return fail_value(f, v, time_range_why(c));
                write_time(b, c, t);
                return NULL;
            }
            break;
        }
        break;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        switch (c) {
        case CV_BOOL:
            canon_write_bool(b, json_is_true(j));
            return NULL;
        case CV_INT:
        case CV_LONG:
            canon_write_long(b, json_is_true(j));
            return NULL;
        default:
            break;
        }
        break;
    case JSON_ARRAY: {
        if (c != CV_ARRAY)
            return fail_value(f, v, "is an array, not a single value");
        size_t n = json_array_size(j);
        if (n) {
            canon_write_long(b, (int64_t)n);
            for (size_t k = 0; k < n; k++) {
                const json_t *it = json_array_get(j, k);
                if (json_is_null(it) || json_is_object(it) || json_is_array(it)) {
                    tval iv = {it, NULL, 0};
                    return fail_value(f, &iv, "is not a valid array item");
                }
                tval iv = {it, NULL, 0};
                cg_err *e = convert(f, f->item_conv, &iv, b);
                if (e)
                    return e;
            }
        }
        canon_write_long(b, 0);
        return NULL;
    }
    case JSON_OBJECT:
        return fail_value(f, v, "is an object, not a value");
    default:
        break;
    }
    /* numbers and booleans as text: strings, uuids, enums, booleans from numbers */
    if (c == CV_STRING || c == CV_ENUM || c == CV_BOOL || c == CV_BYTES) {
        char buf[64];
        size_t n = scalar_text(j, buf, sizeof buf);
        if (n)
            return convert_text(f, c, v, buf, n, b);
    }
    return fail_value(f, v, "has the wrong type for the field");
}

/* ---- binding ---------------------------------------------------------------------------- */

static const reg_field *find_field(const reg_node *rec, const char *name, size_t len)
{
    for (size_t i = 0; i < rec->n_fields; i++)
        if (strlen(rec->fields[i].name) == len && memcmp(rec->fields[i].name, name, len) == 0)
            return &rec->fields[i];
    return NULL;
}

static cg_err *no_such_field(const tr_mapping *m, const tr_fmap *f, const reg_node *rec,
                             const char *name, size_t len, const char *in)
{
    const char **cands = calloc(rec->n_fields + 1, sizeof *cands);
    char nm[256];
    snprintf(nm, sizeof nm, "%.*s", (int)len, name);
    const char *s = NULL;
    if (cands) {
        for (size_t i = 0; i < rec->n_fields; i++)
            cands[i] = rec->fields[i].name;
        s = tr_suggest(nm, cands, rec->n_fields);
    }
    cg_err *e =
        s ? at(m, f->ptr, CG_EINVAL, "field '%s' is not in %s; did you mean '%s'?", nm, in, s)
          : at(m, f->ptr, CG_EINVAL, "field '%s' is not in %s", nm, in);
    free(cands);
    return e;
}

/* Checks canon.writers of a canonical top-level field for the mapping's domain. */
static cg_err *check_writers(const tr_mapping *m, const tr_fmap *f, const reg_field *fld)
{
    json_t *w = fld->props ? json_object_get(fld->props, "canon.writers") : NULL;
    if (!w || !json_is_array(w))
        return NULL;
    size_t i;
    json_t *it;
    char list[512] = "";
    json_array_foreach(w, i, it)
    {
        if (json_is_string(it) && strcmp(json_string_value(it), m->domain) == 0)
            return NULL;
        if (json_is_string(it)) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", json_string_value(it));
        }
    }
    return at(m, f->ptr, CG_EINVAL, "domain '%s' may not write '%s' (canon.writers: %s)", m->domain,
              fld->name, list);
}

/* Binds one field mapping to its value type t (already stripped of null). */
static cg_err *bind_fmap(tr_mapping *m, tr_fmap *f, const reg_node *t)
{
    char p[600];
    f->conv = conv_of(t);
    f->type_name = type_label(t);
    if (f->conv == CV_RECORD)
        return at(m, f->ptr, CG_EINVAL,
                  "field '%s' is a record (%s): map its fields one by one ('%s.<field>')",
                  f->target, f->type_name, f->target);
    if (f->conv == CV_NONE)
        return at(m, f->ptr, CG_EINVAL,
                  "field '%s' has type %s, which a declarative mapping cannot set (use a binding)",
                  f->target, f->type_name);
    if (f->conv == CV_ARRAY) {
        const reg_node *it = t->items;
        f->item_conv = conv_of(it);
        if (f->item_conv == CV_NONE || f->item_conv == CV_ARRAY || f->item_conv == CV_RECORD)
            return at(m, f->ptr, CG_EINVAL,
                      "field '%s' is an array of %s: only arrays of simple values can be mapped",
                      f->target, type_label(it));
        t = it; /* enums and formats apply to the items */
    }
    tr_conv c = f->conv == CV_ARRAY ? f->item_conv : f->conv;
    if ((f->enum_from || f->enum_default) && c != CV_ENUM) {
        ptr_child(p, sizeof p, f->ptr, f->enum_from ? "enum" : "enum_default");
        return at(m, p, CG_EINVAL, "field '%s' is a %s, not an enum: 'enum' does not apply",
                  f->target, f->type_name);
    }
    if (f->format && !is_time_conv(c)) {
        ptr_child(p, sizeof p, f->ptr, "format");
        return at(m, p, CG_EINVAL,
                  "field '%s' is a %s, not a date or time: 'format' does not apply", f->target,
                  f->type_name);
    }
    if (f->unit != U_DEFAULT && !is_time_conv(c)) {
        ptr_child(p, sizeof p, f->ptr, "unit");
        return at(m, p, CG_EINVAL, "field '%s' is a %s, not a date or time: 'unit' does not apply",
                  f->target, f->type_name);
    }
    if (f->unit == U_DAYS && c != CV_DATE) {
        ptr_child(p, sizeof p, f->ptr, "unit");
        return at(m, p, CG_EINVAL, "field '%s': unit 'days' applies to date fields only",
                  f->target);
    }
    if ((f->true_vals || f->false_vals) && c != CV_BOOL) {
        ptr_child(p, sizeof p, f->ptr, f->true_vals ? "true_values" : "false_values");
        return at(m, p, CG_EINVAL, "field '%s' is a %s, not a boolean", f->target, f->type_name);
    }
    if (c == CV_ENUM) {
        f->symbols = calloc(t->n_symbols + 1, sizeof *f->symbols);
        f->enum_idx = calloc(f->n_enum + 1, sizeof *f->enum_idx);
        if (!f->symbols || !f->enum_idx)
            return oom();
        for (size_t i = 0; i < t->n_symbols; i++) {
            f->symbols[i] = strdup(t->symbols[i]);
            if (!f->symbols[i])
                return oom();
            f->n_symbols++;
        }
        for (size_t k = 0; k < f->n_enum + (f->enum_default ? 1 : 0); k++) {
            const char *sym = k < f->n_enum ? f->enum_to[k] : f->enum_default;
            int idx = -1;
            for (size_t i = 0; i < t->n_symbols && idx < 0; i++)
                if (strcmp(t->symbols[i], sym) == 0)
                    idx = (int)i;
            if (idx < 0) {
                char q[700];
                if (k < f->n_enum) {
                    ptr_child(p, sizeof p, f->ptr, "enum");
                    ptr_child(q, sizeof q, p, f->enum_from[k]);
                } else {
                    ptr_child(q, sizeof q, f->ptr, "enum_default");
                }
                const char *s = tr_suggest(sym, (const char *const *)f->symbols, f->n_symbols);
                return at(m, q, CG_EINVAL, "field '%s': '%s' is not a symbol of enum %s%s%s%s",
                          f->target, sym, t->name, s ? "; did you mean '" : "", s ? s : "",
                          s ? "'?" : "");
            }
            if (k < f->n_enum)
                f->enum_idx[k] = idx;
            else
                f->enum_default_idx = idx;
        }
    }
    if (f->src.n_paths > 1 && c != CV_STRING && c != CV_ENUM && c != CV_BYTES && !is_time_conv(c) &&
        c != CV_UUID) {
        ptr_child(p, sizeof p, f->ptr, "from");
        return at(m, p, CG_EINVAL,
                  "field '%s' is a %s: a list of paths (joined as text) needs a text, enum or "
                  "date/time field",
                  f->target, f->type_name);
    }
    return NULL;
}

static cg_err *encode_default(const reg_node *type, const json_t *value, unsigned char **out,
                              size_t *len)
{
    return canon_avro_json_encode(type, value, 0, out, len);
}

static cg_err *encode_const(tr_mapping *m, tr_fmap *f, tr_slot *s)
{
    canon_buf b;
    canon_buf_init(&b);
    cg_err *e = NULL;
    if (json_is_null(f->constant)) {
        if (s->null_idx < 0) {
            e = at(m, f->ptr, CG_EINVAL, "field '%s' is not nullable: const null cannot clear it",
                   f->target);
            goto done;
        }
        canon_write_long(&b, s->null_idx);
        s->fixed_kind = 2;
    } else {
        if (s->is_union)
            canon_write_long(&b, s->val_idx);
        tval v = {f->constant, NULL, 0};
        e = convert(f, f->conv, &v, &b);
        if (e) {
            cg_err *r = at(m, f->ptr, CG_EINVAL, "const: %s", cg_err_msg(e));
            cg_err_free(e);
            e = r;
            goto done;
        }
        s->fixed_kind = 1;
    }
    if (b.failed) {
        e = oom();
        goto done;
    }
    s->fixed = b.data;
    s->fixed_len = b.len;
    b.data = NULL;
done:
    canon_buf_free(&b);
    return e;
}

/* Builds the slots of record rec (update schema) at depth `depth` of the targets, for the
 * mappings whose target starts with prefix (e.g. "address."). canon_rec is the matching
 * canonical record, for names, suggestions and writers. */
static cg_err *bind_record(tr_mapping *m, const reg_node *rec, const reg_node *canon_rec,
                           const char *prefix, int top, tr_slot **out, size_t *n_out);

static cg_err *bind_slot(tr_mapping *m, const reg_field *fld, const reg_field *cfld,
                         const char *prefix, int top, tr_slot *s)
{
    cg_err *e = NULL;
    size_t plen = strlen(prefix);
    size_t nlen = strlen(fld->name);
    s->name = strdup(fld->name);
    if (!s->name)
        return oom();
    if (top) {
        canon_buf b;
        canon_buf_init(&b);
        canon_write_str(&b, canon_str_c(fld->name));
        if (b.failed) {
            canon_buf_free(&b);
            return oom();
        }
        s->name_enc = b.data;
        s->name_enc_len = b.len;
    }
    /* the mappings for this field: exact, or nested below it */
    tr_fmap *direct = NULL;
    int nested = 0;
    for (size_t i = 0; i < m->n_maps; i++) {
        tr_fmap *f = &m->maps[i];
        if (strncmp(f->target, prefix, plen) != 0 ||
            strncmp(f->target + plen, fld->name, nlen) != 0)
            continue;
        char after = f->target[plen + nlen];
        if (after == 0)
            direct = f;
        else if (after == '.')
            nested = 1;
    }
    if (direct && nested) {
        return at(m, direct->ptr, CG_EINVAL,
                  "field '%s' is mapped as a whole and by its fields; map one or the other",
                  direct->target);
    }
    if (top && (direct || nested) && cfld) {
        tr_fmap *any = direct;
        for (size_t i = 0; !any && i < m->n_maps; i++)
            if (strncmp(m->maps[i].target, fld->name, nlen) == 0 && m->maps[i].target[nlen] == '.')
                any = &m->maps[i];
        if ((e = check_writers(m, any, cfld)))
            return e;
    }
    const char *why = NULL;
    tr_fmap *first = direct;
    const char *branch = direct ? direct->branch : NULL;
    const reg_node *t =
        value_type(fld->type, branch, &s->is_union, &s->null_idx, &s->val_idx, &why);
    if (!direct && !nested) {
        /* unmapped: null at the top; inside a record, null or the field's default */
        canon_buf b;
        canon_buf_init(&b);
        if (s->null_idx >= 0 && (top || !fld->default_json || json_is_null(fld->default_json))) {
            canon_write_long(&b, s->null_idx);
        } else if (fld->default_json) {
            unsigned char *enc = NULL;
            size_t len = 0;
            /* defaults are rare and bind-time only: the generic JSON encoder writes
             * them, in the union branch a default belongs to (the first) */
            json_t *dj = json_deep_copy(fld->default_json);
            json_t *wrapped = dj;
            if (dj && fld->type->type == REG_UNION && !json_is_null(dj)) {
                wrapped = json_object();
                if (wrapped &&
                    json_object_set_new(
                        wrapped, canon_avro_json_branch_name(fld->type->branches[0]), dj) != 0)
                    wrapped = NULL;
            }
            if (!wrapped) {
                canon_buf_free(&b);
                return oom();
            }
            canon_buf_free(&b);
            e = encode_default(fld->type, wrapped, &enc, &len);
            json_decref(wrapped);
            if (e) {
                cg_err *r =
                    cg_err_new(CG_EINVAL, "%s: default of field '%s%s' cannot be encoded: %s",
                               m->name, prefix, fld->name, cg_err_msg(e));
                cg_err_free(e);
                return r;
            }
            s->fixed = enc;
            s->fixed_len = len;
            s->fixed_kind = 1;
            return NULL;
        } else {
            canon_buf_free(&b);
            /* name the mapping of a sibling so the message has a line */
            const tr_fmap *sib = NULL;
            for (size_t i = 0; !sib && i < m->n_maps; i++)
                if (strncmp(m->maps[i].target, prefix, plen) == 0)
                    sib = &m->maps[i];
            return at(m, sib ? sib->ptr : "/fields", CG_EINVAL,
                      "field '%s%s' is neither nullable nor defaulted: it must be mapped", prefix,
                      fld->name);
        }
        if (b.failed) {
            canon_buf_free(&b);
            return oom();
        }
        s->fixed = b.data;
        s->fixed_len = b.len;
        s->fixed_kind = 2;
        return NULL;
    }
    if (!t) {
        if (!first)
            for (size_t i = 0; !first && i < m->n_maps; i++)
                if (strncmp(m->maps[i].target, prefix, plen) == 0 &&
                    strncmp(m->maps[i].target + plen, fld->name, nlen) == 0)
                    first = &m->maps[i];
        return at(m, first->ptr, CG_EINVAL, "field '%s%s': %s", prefix, fld->name, why);
    }
    if (direct) {
        s->map = direct;
        if ((e = bind_fmap(m, direct, t)))
            return e;
        if (!s->is_union && (direct->clear_when_empty)) {
            char p[600];
            ptr_child(p, sizeof p, direct->ptr, "clear_when_empty");
            return at(m, p, CG_EINVAL, "field '%s' is not nullable: it cannot be cleared",
                      direct->target);
        }
        if (direct->constant)
            return encode_const(m, direct, s);
        return NULL;
    }
    /* nested: the field must be a record */
    if (t->type != REG_RECORD) {
        for (size_t i = 0; i < m->n_maps; i++)
            if (strncmp(m->maps[i].target, prefix, plen) == 0 &&
                strncmp(m->maps[i].target + plen, fld->name, nlen) == 0) {
                return at(m, m->maps[i].ptr, CG_EINVAL,
                          "field '%s%s' is a %s, not a record: '%s' does not exist", prefix,
                          fld->name, type_label(t), m->maps[i].target);
            }
    }
    const reg_node *ct = t;
    if (cfld) {
        int u, ni, vi;
        const char *w2 = NULL;
        const reg_node *c2 = value_type(cfld->type, NULL, &u, &ni, &vi, &w2);
        if (c2 && c2->type == REG_RECORD)
            ct = c2;
    }
    char sub[600];
    snprintf(sub, sizeof sub, "%s%s.", prefix, fld->name);
    return bind_record(m, t, ct, sub, 0, &s->subs, &s->n_subs);
}

static cg_err *bind_record(tr_mapping *m, const reg_node *rec, const reg_node *canon_rec,
                           const char *prefix, int top, tr_slot **out, size_t *n_out)
{
    cg_err *e;
    size_t plen = strlen(prefix);
    /* every mapping below prefix must name a field of this record */
    for (size_t i = 0; i < m->n_maps; i++) {
        tr_fmap *f = &m->maps[i];
        if (strncmp(f->target, prefix, plen) != 0)
            continue;
        const char *name = f->target + plen;
        size_t len = strcspn(name, ".");
        if (len == 0)
            return at(m, f->ptr, CG_EINVAL, "field '%s': empty name", f->target);
        if (!find_field(canon_rec, name, len)) {
            char in[300];
            if (top)
                snprintf(in, sizeof in, "canonical %s", m->entity);
            else
                snprintf(in, sizeof in, "record %.*s (%s)", (int)(plen - 1), prefix,
                         canon_rec->name);
            return no_such_field(m, f, canon_rec, name, len, in);
        }
        if (top && strlen(m->key_field) == len && memcmp(name, m->key_field, len) == 0)
            return at(m, f->ptr, CG_EINVAL,
                      "field '%s' is the universal identifier (canon.key): build it in \"key\"",
                      m->key_field);
        if (!find_field(rec, name, len))
            return at(m, f->ptr, CG_EINVAL,
                      "field '%.*s' is in the canonical schema but not in the update schema: "
                      "the registry's update schema is older than the canonical one",
                      (int)len, name);
    }
    tr_slot *slots = calloc(rec->n_fields + 1, sizeof *slots);
    if (!slots)
        return oom();
    *out = slots;
    *n_out = rec->n_fields;
    for (size_t i = 0; i < rec->n_fields; i++) {
        const reg_field *fld = &rec->fields[i];
        const reg_field *cfld = find_field(canon_rec, fld->name, strlen(fld->name));
        if ((e = bind_slot(m, fld, cfld, prefix, top, &slots[i])))
            return e;
    }
    return NULL;
}

static cg_err *bind_update_fields(tr_mapping *m, const reg_node *uroot, const reg_node **values)
{
    char who[64];
    snprintf(who, sizeof who, "update schema %s", uroot->fullname ? uroot->fullname : "?");
    if (uroot->type != REG_RECORD)
        return cg_err_new(CG_EINVAL, "%s: the update schema is not a record", m->name);
    if (uroot->n_fields > sizeof m->roles / sizeof m->roles[0])
        return cg_err_new(CG_EINVAL, "%s: %s has unexpected fields (docs/wire.md)", m->name, who);
    unsigned seen = 0;
    *values = NULL;
    for (size_t i = 0; i < uroot->n_fields; i++) {
        const reg_field *f = &uroot->fields[i];
        const reg_node *t = f->type;
        tr_role r;
        int ok;
        if (strcmp(f->name, m->key_field) == 0) {
            r = R_KEY;
            ok = t->type == REG_STRING;
        } else if (strcmp(f->name, "source") == 0) {
            r = R_SOURCE;
            ok = t->type == REG_STRING;
        } else if (strcmp(f->name, "event_time") == 0) {
            r = R_EVENT_TIME;
            ok = t->type == REG_LONG;
        } else if (strcmp(f->name, "seq") == 0) {
            r = R_SEQ;
            ok = t->type == REG_LONG;
        } else if (strcmp(f->name, "op") == 0) {
            r = R_OP;
            ok = t->type == REG_ENUM;
            m->op_upsert = m->op_delete = -1;
            for (size_t k = 0; ok && k < t->n_symbols; k++) {
                if (strcmp(t->symbols[k], "UPSERT") == 0)
                    m->op_upsert = (int)k;
                if (strcmp(t->symbols[k], "DELETE") == 0)
                    m->op_delete = (int)k;
            }
            ok = ok && m->op_upsert >= 0 && m->op_delete >= 0;
        } else if (strcmp(f->name, "provided") == 0) {
            r = R_PROVIDED;
            ok = t->type == REG_ARRAY && t->items->type == REG_STRING;
        } else if (strcmp(f->name, "values") == 0) {
            r = R_VALUES;
            ok = t->type == REG_RECORD;
            *values = t;
        } else {
            return cg_err_new(
                CG_EINVAL, "%s: %s has a field '%s' this translator does not know (docs/wire.md)",
                m->name, who, f->name);
        }
        if (!ok)
            return cg_err_new(CG_EINVAL,
                              "%s: %s: field '%s' does not have the type docs/wire.md gives it",
                              m->name, who, f->name);
        if (seen & (1u << r))
            return cg_err_new(CG_EINVAL, "%s: %s: field '%s' twice", m->name, who, f->name);
        seen |= 1u << r;
        m->roles[m->n_roles++] = r;
    }
    if (seen != 0x7f)
        return cg_err_new(CG_EINVAL,
                          "%s: %s lacks fields of an update (key '%s', source, event_time, seq, "
                          "op, provided, values)",
                          m->name, who, m->key_field);
    return NULL;
}

cg_err *tr_mapping_bind(tr_mapping *m, const reg_schema *canonical, const reg_schema *update,
                        int32_t update_schema_id)
{
    cg_err *e = NULL;
    if (m->bound)
        return cg_err_new(CG_ESTATE, "%s: mapping is already bound", m->name);
    const reg_node *croot = reg_schema_root(canonical);
    const reg_node *uroot = reg_schema_root(update);
    json_t *kp = croot->type == REG_RECORD && croot->props
                     ? json_object_get(croot->props, "canon.key")
                     : NULL;
    if (!json_is_string(kp))
        return cg_err_new(CG_EINVAL,
                          "%s: the canonical schema of '%s' is not a record with canon.key",
                          m->name, m->entity);
    const reg_field *kf = find_field(croot, json_string_value(kp), strlen(json_string_value(kp)));
    if (!kf || kf->type->type != REG_STRING)
        return cg_err_new(CG_EINVAL, "%s: canonical %s: canon.key '%s' is not a string field",
                          m->name, m->entity, json_string_value(kp));
    m->key_field = strdup(kf->name);
    if (!m->key_field)
        return oom();
    m->key_is_uuid = kf->type->logical == REG_LT_UUID;
    m->key_uuid = m->key_uuid_opt < 0 ? m->key_is_uuid : m->key_uuid_opt;
    memcpy(m->ns, m->ns_opt, sizeof m->ns);
    if (m->key_uuid && !m->has_ns) {
        static const uint8_t ns_url[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                           0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
        char name[300], txt[37];
        int n = snprintf(name, sizeof name, "canongate:%s", m->entity);
        if (n < 0 || (size_t)n >= sizeof name || tr_uuid_v5(ns_url, name, (size_t)n, txt) != 0 ||
            tr_uuid_parse(txt, 36, m->ns) != 0)
            return cg_err_new(CG_EINVAL, "%s: cannot derive the key namespace", m->name);
    }

    const reg_node *values = NULL;
    if ((e = bind_update_fields(m, uroot, &values)))
        goto fail;
    if ((e = bind_record(m, values, croot, "", 1, &m->slots, &m->n_slots)))
        goto fail;

    /* the values record of a DELETE: every field null */
    canon_buf b;
    canon_buf_init(&b);
    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].null_idx < 0) {
            canon_buf_free(&b);
            e = cg_err_new(CG_EINVAL, "%s: update schema: values.%s is not optional (docs/wire.md)",
                           m->name, m->slots[i].name);
            goto fail;
        }
        canon_write_long(&b, m->slots[i].null_idx);
    }
    size_t null_len = b.len;
    canon_write_str(&b, canon_str_c(m->domain));
    if (b.failed) {
        canon_buf_free(&b);
        e = oom();
        goto fail;
    }
    m->null_values_len = null_len;
    m->source_enc_len = b.len - m->null_values_len;
    m->null_values = malloc(m->null_values_len + 1);
    m->source_enc = malloc(m->source_enc_len + 1);
    if (!m->null_values || !m->source_enc) {
        canon_buf_free(&b);
        e = oom();
        goto fail;
    }
    memcpy(m->null_values, b.data, m->null_values_len);
    memcpy(m->source_enc, b.data + m->null_values_len, m->source_enc_len);
    canon_buf_free(&b);
    m->schema_id = update_schema_id;
    m->bound = 1;
    return NULL;
fail:
    /* leave m as parsed, so a caller may bind again with other schemas */
    slots_free(m->slots, m->n_slots);
    m->slots = NULL;
    m->n_slots = 0;
    m->n_roles = 0;
    for (size_t i = 0; i < m->n_maps; i++) {
        tr_fmap *f = &m->maps[i];
        strv_free(f->symbols, f->n_symbols);
        f->symbols = NULL;
        f->n_symbols = 0;
        free(f->enum_idx);
        f->enum_idx = NULL;
        f->enum_default_idx = -1;
    }
    free(m->key_field);
    m->key_field = NULL;
    return e;
}

/* ---- applying --------------------------------------------------------------------------- */

void tr_output_init(tr_output *o)
{
    memset(o, 0, sizeof *o);
    canon_buf_init(&o->key);
    canon_buf_init(&o->value);
    canon_buf_init(&o->values_);
    canon_buf_init(&o->provided_);
    canon_buf_init(&o->text_);
}

void tr_output_free(tr_output *o)
{
    canon_buf_free(&o->key);
    canon_buf_free(&o->value);
    canon_buf_free(&o->values_);
    canon_buf_free(&o->provided_);
    canon_buf_free(&o->text_);
    free(o->vals_);
    o->vals_ = NULL;
    o->vals_cap_ = 0;
    for (size_t i = 0; i < o->n_made_; i++)
        json_decref(o->made_[i]);
    free(o->made_);
    o->made_ = NULL;
    o->n_made_ = o->made_cap_ = 0;
}

/* Records in vals the value at every trie node below t, walking v once. */
void tr_trie_walk(const tr_trie *t, const json_t *v, tr_val *vals)
{
    if (t->has_key_kids && json_is_object(v)) {
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            const char *k = json_object_iter_key(it);
            size_t kl = json_object_iter_key_len(it);
            for (size_t i = 0; i < t->n_kids; i++) {
                const tr_trie *c = &t->kids[i];
                if (c->key && c->klen == kl && memcmp(c->key, k, kl) == 0) {
                    const json_t *cv = json_object_iter_value(it);
                    vals[c->id] = (tr_val){cv, NULL, 0};
                    if (c->n_kids)
                        tr_trie_walk(c, cv, vals);
                    break;
                }
            }
        }
    } else if (t->has_index_kids && json_is_array(v)) {
        for (size_t i = 0; i < t->n_kids; i++) {
            const tr_trie *c = &t->kids[i];
            const json_t *cv = c->key ? NULL : json_array_get(v, c->index);
            if (!cv)
                continue;
            vals[c->id] = (tr_val){cv, NULL, 0};
            if (c->n_kids)
                tr_trie_walk(c, cv, vals);
        }
    }
}

/* Appends the text of a scalar to b; -1 for objects and arrays. */
static int append_text(canon_buf *b, const tr_val *v)
{
    size_t sn;
    const char *s = val_str(v, &sn);
    if (s) {
        canon_write_raw(b, s, sn);
        return 0;
    }
    char buf[64];
    size_t n = scalar_text(v->j, buf, sizeof buf);
    if (!n)
        return -1;
    canon_write_raw(b, buf, n);
    return 0;
}

enum { GV_MISSING = 0, GV_NULL = 1, GV_VALUE = 2, GV_ERR = -1 };

/* The value of a source in record: text joined/normalised into o->text_, or JSON. */
static int get_value(const tr_src *src, const uint8_t *norm, size_t n_norm, tr_output *o, tval *v,
                     const char **bad_path)
{
    canon_buf *text = &o->text_;
    if (src->n_paths == 1) {
        const tr_val *x = &o->vals_[src->paths[0].id];
        if (val_missing(x))
            return GV_MISSING;
        if (val_null(x))
            return GV_NULL;
        size_t sn;
        const char *s = n_norm ? val_str(x, &sn) : NULL;
        if (s) {
            canon_buf_clear(text);
            canon_write_raw(text, s, sn);
            if (text->failed)
                return GV_ERR;
            v->j = NULL;
            v->s = (const char *)text->data;
            v->n = tr_normalize((char *)text->data, text->len, norm, n_norm);
            return GV_VALUE;
        }
        *v = *x;
        return GV_VALUE;
    }
    canon_buf_clear(text);
    size_t parts = 0, seplen = strlen(src->sep);
    int any_null = 0;
    for (size_t i = 0; i < src->n_paths; i++) {
        const tr_val *x = &o->vals_[src->paths[i].id];
        if (val_missing(x) || val_null(x)) {
            any_null |= val_null(x);
            continue;
        }
        if (parts++ && seplen)
            canon_write_raw(text, src->sep, seplen);
        if (append_text(text, x) != 0) {
            *bad_path = src->paths[i].text;
            return GV_ERR;
        }
    }
    if (!parts)
        return any_null ? GV_NULL : GV_MISSING;
    if (text->failed)
        return GV_ERR;
    v->j = NULL;
    v->s = (const char *)text->data;
    v->n = tr_normalize((char *)text->data, text->len, norm, n_norm);
    return GV_VALUE;
}

static cg_err *value_error(const tr_src *src, const char *what_for, const char *bad_path, int gv)
{
    if (gv == GV_ERR && bad_path)
        return cg_err_new(CG_EINVAL, "%s: field '%s' is an object or array, not a value", what_for,
                          bad_path);
    if (gv == GV_ERR)
        return oom();
    return cg_err_new(CG_EINVAL, "%s: field '%s' is %s", what_for, src->label,
                      gv == GV_NULL ? "null" : "missing");
}

static int eval_slot(const tr_slot *s, const json_t *rec, tr_output *o, canon_buf *b, cg_err **err);

static int eval_map(const tr_slot *s, const tr_fmap *f, const json_t *rec, tr_output *o,
                    canon_buf *b, cg_err **err)
{
    if (s->fixed_kind) { /* constant */
        canon_write_raw(b, s->fixed, s->fixed_len);
        return s->fixed_kind == 1 ? EV_SET : EV_CLEAR;
    }
    tval v;
    const char *bad = NULL;
    int gv = get_value(&f->src, f->norm, f->n_norm, o, &v, &bad);
    int r;
    if (gv == GV_ERR) {
        char w[300];
        snprintf(w, sizeof w, "field '%s' (-> %s)", f->src.label, f->target);
        *err = value_error(&f->src, w, bad, gv);
        return EV_ERR;
    }
    if (gv != GV_VALUE) {
        if (f->required) {
            *err = cg_err_new(CG_EINVAL, "field '%s' (-> %s) is %s, and the mapping requires it",
                              f->src.label, f->target, gv == GV_NULL ? "null" : "missing");
            return EV_ERR;
        }
        r = gv == GV_NULL && f->clear_when_empty ? EV_CLEAR : EV_SKIP;
    } else if (f->clear_when_empty &&
               (v.j ? json_is_string(v.j) && json_string_length(v.j) == 0 : v.n == 0)) {
        r = EV_CLEAR;
    } else {
        if (s->is_union)
            canon_write_long(b, s->val_idx);
        *err = convert(f, f->conv, &v, b);
        return *err ? EV_ERR : EV_SET;
    }
    if (s->null_idx < 0) {
        *err = cg_err_new(CG_EINVAL, "field '%s' (-> %s) is %s, and %s cannot be null",
                          f->src.label, f->target,
                          gv == GV_VALUE  ? "empty"
                          : gv == GV_NULL ? "null"
                                          : "missing",
                          f->target);
        return EV_ERR;
    }
    canon_write_long(b, s->null_idx);
    return r;
}

static int eval_slot(const tr_slot *s, const json_t *rec, tr_output *o, canon_buf *b, cg_err **err)
{
    if (s->map)
        return eval_map(s, s->map, rec, o, b, err);
    if (!s->subs) { /* unmapped: null or the default */
        canon_write_raw(b, s->fixed, s->fixed_len);
        return EV_SKIP;
    }
    size_t start = b->len;
    if (s->is_union)
        canon_write_long(b, s->val_idx);
    int any_set = 0, any_clear = 0;
    for (size_t i = 0; i < s->n_subs; i++) {
        int r = eval_slot(&s->subs[i], rec, o, b, err);
        if (r == EV_ERR)
            return EV_ERR;
        any_set |= r == EV_SET;
        any_clear |= r == EV_CLEAR;
    }
    if (any_set || s->null_idx < 0)
        return any_set ? EV_SET : EV_SKIP;
    b->len = start; /* nothing set: the record is cleared or left alone */
    canon_write_long(b, s->null_idx);
    return any_clear ? EV_CLEAR : EV_SKIP;
}

/* Whether the key part t->data[start..t->len) is empty after the key's normalisations,
 * applied to a copy of it: a key of several parts is refused when one is empty, as a key
 * of one part is (otherwise {"id": "", "k2": ""} joined by "|" would give the key "|", and
 * every such record the same entity). The copy goes past t->len and is dropped. */
static int key_part_empty(const tr_mapping *m, canon_buf *t, size_t start)
{
    size_t n = t->len - start;
    if (n == 0 || !m->n_key_norm)
        return n == 0;
    uint8_t *p = canon_buf_reserve(t, n);
    if (!p)
        return 0; /* t->failed: the caller reports it */
    memcpy(p, t->data + start, n);
    return tr_normalize((char *)p, n, m->key_norm, m->n_key_norm) == 0;
}

static cg_err *build_key(const tr_mapping *m, const json_t *rec, tr_output *o)
{
    canon_buf *t = &o->text_;
    canon_buf_clear(t);
    canon_buf_clear(&o->key);
    size_t seplen = strlen(m->key.sep);
    for (size_t i = 0; i < m->key.n_paths; i++) {
        const tr_val *x = &o->vals_[m->key.paths[i].id];
        if (val_missing(x) || val_null(x))
            return cg_err_new(CG_EINVAL, "key: field '%s' is %s", m->key.paths[i].text,
                              val_null(x) ? "null" : "missing");
        if (i && seplen)
            canon_write_raw(t, m->key.sep, seplen);
        size_t start = t->len;
        if (append_text(t, x) != 0)
            return cg_err_new(CG_EINVAL, "key: field '%s' is an object or array, not a value",
                              m->key.paths[i].text);
        if (m->key.n_paths > 1 && key_part_empty(m, t, start))
            return cg_err_new(CG_EINVAL, "key: field '%s' is empty%s", m->key.paths[i].text,
                              m->n_key_norm ? " after normalisation" : "");
    }
    if (t->failed)
        return oom();
    size_t n = tr_normalize((char *)t->data, t->len, m->key_norm, m->n_key_norm);
    if (n == 0)
        return cg_err_new(CG_EINVAL, "key: '%s' is empty%s", m->key.label,
                          m->n_key_norm ? " after normalisation" : "");
    if (m->key_uuid) {
        uint8_t *p = canon_buf_reserve(&o->key, 37);
        if (!p || tr_uuid_v5(m->ns, (const char *)t->data, n, (char *)p) != 0)
            return oom();
        o->key.len = 36;
        return NULL;
    }
    if (m->key_is_uuid) {
        uint8_t u[16];
        if (tr_uuid_parse((const char *)t->data, n, u) != 0)
            return cg_err_new(
                CG_EINVAL,
                "key: '%.*s' (from '%s') is not a UUID, and the mapping says uuid \"none\"",
                (int)tr_utf8_cut((const char *)t->data, n, 60), (const char *)t->data,
                m->key.label);
        uint8_t *p = canon_buf_reserve(&o->key, 37);
        if (!p)
            return oom();
        tr_uuid_format(u, (char *)p);
        o->key.len = 36;
        return NULL;
    }
    canon_write_raw(&o->key, t->data, n);
    return o->key.failed ? oom() : NULL;
}

static int cond_holds(const tr_cond *c, const tr_val *vals)
{
    const tr_val *x = &vals[c->path.id];
    switch (c->kind) {
    case C_PRESENT:
        return !val_missing(x) && !val_null(x);
    case C_ABSENT:
        return val_missing(x) || val_null(x);
    default:
        break;
    }
    if (val_missing(x))
        return 0;
    size_t i;
    json_t *v;
    json_array_foreach(c->values, i, v)
    {
        /* a string read in place equals a JSON string of the same bytes, as json_equal
         * says of two JSON strings */
        if (x->j ? json_equal((json_t *)x->j, v)
                 : json_is_string(v) && json_string_length(v) == x->n &&
                       memcmp(json_string_value(v), x->s, x->n) == 0)
            return 1;
    }
    return 0;
}

static cg_err *event_time(const tr_mapping *m, const tr_val *vals, int64_t ts, int64_t *out)
{
    *out = ts;
    if (!m->et.n_paths)
        return NULL;
    const tr_val *x = &vals[m->et.paths[0].id];
    if (val_missing(x) || val_null(x)) {
        if (m->et_fallback)
            return NULL;
        return cg_err_new(CG_EINVAL, "event time: field '%s' is %s", m->et.label,
                          val_null(x) ? "null" : "missing");
    }
    size_t sn;
    const char *s = val_str(x, &sn);
    if (s) {
        tr_instant t;
        const char *fmt = m->et_format ? m->et_format : "iso8601";
        if (tr_time_parse(fmt, s, sn, &t) != 0)
            return cg_err_new(
                CG_EINVAL,
                "event time: field '%s': '%.*s' is not a valid date/time for format '%s'",
                m->et.label, (int)tr_utf8_cut(s, sn, 60), s, fmt);
        *out = floor_div(t.epoch_us, 1000);
        return NULL;
    }
    const json_t *j = x->j;
    if (json_is_integer(j) || (json_is_real(j) && json_real_value(j) == floor(json_real_value(j)) &&
                               fabs(json_real_value(j)) < 9e15)) {
        int64_t v = json_is_integer(j) ? json_integer_value(j) : (int64_t)json_real_value(j);
        int64_t r = v;
        if ((m->et_unit == U_S && mul_ok(v, 1000, &r) != 0))
            return cg_err_new(CG_EINVAL, "event time: field '%s' is out of range", m->et.label);
        if (m->et_unit == U_US)
            r = floor_div(v, 1000);
        *out = r;
        return NULL;
    }
    return cg_err_new(CG_EINVAL, "event time: field '%s' is not a date/time string or a number",
                      m->et.label);
}

const tr_trie *tr_mapping_trie(const tr_mapping *m, size_t *n_nodes)
{
    *n_nodes = m->n_nodes;
    return &m->trie;
}

cg_err *tr_output_vals_reserve(tr_output *out, size_t n)
{
    if (out->vals_cap_ < n) {
        tr_val *v = realloc(out->vals_, n * sizeof *v);
        if (!v)
            return oom();
        out->vals_ = v;
        out->vals_cap_ = n;
    }
    memset(out->vals_, 0, n * sizeof *out->vals_);
    return NULL;
}

cg_err *tr_mapping_apply(const tr_mapping *m, const json_t *record, int64_t record_ts_ms,
                         int64_t seq, tr_output *out)
{
    cg_err *e = NULL;
    if (!m->bound)
        return cg_err_new(CG_ESTATE, "%s: mapping not bound to its schemas", m->name);
    if (!json_is_object(record))
        return cg_err_new(CG_EINVAL, "record is not a JSON object");
    if ((e = tr_output_vals_reserve(out, m->n_nodes)))
        return e;
    out->vals_[0] = (tr_val){record, NULL, 0};
    tr_trie_walk(&m->trie, record, out->vals_);
    return tr_mapping_apply_vals(m, record_ts_ms, seq, out);
}

cg_err *tr_mapping_apply_vals(const tr_mapping *m, int64_t record_ts_ms, int64_t seq,
                              tr_output *out)
{
    cg_err *e = NULL;
    const json_t *record = out->vals_[0].j;
    if (!m->bound)
        return cg_err_new(CG_ESTATE, "%s: mapping not bound to its schemas", m->name);
    if ((e = build_key(m, record, out)))
        return e;
    int del = 0;
    for (size_t i = 0; i < m->n_conds && !del; i++)
        del = cond_holds(&m->conds[i], out->vals_);
    int64_t et;
    if ((e = event_time(m, out->vals_, record_ts_ms, &et)))
        return e;
    out->is_delete = del;

    size_t n_prov = 0;
    canon_buf_clear(&out->values_);
    canon_buf_clear(&out->provided_);
    if (!del) {
        for (size_t i = 0; i < m->n_slots; i++) {
            const tr_slot *s = &m->slots[i];
            int r = eval_slot(s, record, out, &out->values_, &e);
            if (r == EV_ERR)
                return e;
            if (r == EV_SET || r == EV_CLEAR) {
                canon_write_raw(&out->provided_, s->name_enc, s->name_enc_len);
                n_prov++;
            }
        }
    }

    canon_buf *b = &out->value;
    canon_buf_clear(b);
    canon_write_frame(b, m->schema_id);
    for (size_t i = 0; i < m->n_roles; i++) {
        switch (m->roles[i]) {
        case R_KEY: {
            canon_str k = {(const char *)out->key.data, out->key.len};
            canon_write_str(b, k);
            break;
        }
        case R_SOURCE:
            canon_write_raw(b, m->source_enc, m->source_enc_len);
            break;
        case R_EVENT_TIME:
            canon_write_long(b, et);
            break;
        case R_SEQ:
            canon_write_long(b, seq);
            break;
        case R_OP:
            canon_write_long(b, del ? m->op_delete : m->op_upsert);
            break;
        case R_PROVIDED:
            if (n_prov) {
                canon_write_long(b, (int64_t)n_prov);
                canon_write_raw(b, out->provided_.data, out->provided_.len);
            }
            canon_write_long(b, 0);
            break;
        case R_VALUES:
            if (del)
                canon_write_raw(b, m->null_values, m->null_values_len);
            else
                canon_write_raw(b, out->values_.data, out->values_.len);
            break;
        }
    }
    if (b->failed || out->values_.failed || out->provided_.failed || out->key.failed)
        return oom();
    return NULL;
}
