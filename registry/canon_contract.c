/* canon_contract.c - the canon contract on canonical subjects (see canon_contract.h),
 * and the names of an entity's subjects.
 *
 * A canonical schema is what every domain writes into and every consumer reads, so the
 * registry refuses, at registration, what would break the aggregator later: a missing or
 * dangling canon.key, a key that could be absent (nullable) or is not text, writer lists
 * that cannot be matched against a domain name, a non-key field with neither a default nor
 * null among its types (the aggregator could not tell an entity that lacks it from one
 * whose creating update has not come yet, and its results would depend on arrival
 * order). The rules for names are in the header.
 */
#include "canon_contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTITY_MAX 64
#define DOMAIN_MAX 64

static int entity_char(char c, int first)
{
    if (c >= 'a' && c <= 'z')
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '_');
}

int reg_canon_entity_valid(const char *entity, size_t len)
{
    if (len == 0 || len > ENTITY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!entity_char(entity[i], i == 0))
            return 0;
    }
    return 1;
}

int reg_canon_domain_valid(const char *domain)
{
    size_t len = domain ? strlen(domain) : 0;
    if (len == 0 || len > DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = domain[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return 0;
    }
    return 1;
}

static const struct {
    reg_canon_subject_kind kind;
    const char *suffix;
} subject_suffixes[] = {
    {REG_CANON_SUBJECT_ENTITY, ".entity"},
    {REG_CANON_SUBJECT_UPDATES, ".updates-value"},
    {REG_CANON_SUBJECT_ENVELOPE, "-value"},
};

reg_canon_subject_kind reg_canon_subject_parse(const char *subject, char *entity, size_t cap)
{
    static const char prefix[] = "canon.";
    size_t pl = sizeof(prefix) - 1;
    if (!subject || strncmp(subject, prefix, pl) != 0)
        return REG_CANON_SUBJECT_NONE;
    size_t len = strlen(subject);
    for (size_t k = 0; k < sizeof(subject_suffixes) / sizeof(subject_suffixes[0]); k++) {
        size_t sl = strlen(subject_suffixes[k].suffix);
        if (len <= pl + sl || strcmp(subject + len - sl, subject_suffixes[k].suffix) != 0)
            continue;
        const char *e = subject + pl;
        size_t el = len - pl - sl;
        /* The entity name has no '.' or '-', so at most one suffix can leave a valid
         * name ("canon.person.updates-value" is not the envelope of "person.updates"). */
        if (!reg_canon_entity_valid(e, el))
            continue;
        if (entity || cap) {
            if (!entity || el + 1 > cap)
                return REG_CANON_SUBJECT_NONE;
            memcpy(entity, e, el);
            entity[el] = '\0';
        }
        return subject_suffixes[k].kind;
    }
    return REG_CANON_SUBJECT_NONE;
}

int reg_canon_subject_name(reg_canon_subject_kind kind, const char *entity, char *buf, size_t cap)
{
    if (!entity || !reg_canon_entity_valid(entity, strlen(entity)))
        return -1;
    for (size_t k = 0; k < sizeof(subject_suffixes) / sizeof(subject_suffixes[0]); k++) {
        if (subject_suffixes[k].kind != kind)
            continue;
        int n = snprintf(buf, cap, "canon.%s%s", entity, subject_suffixes[k].suffix);
        return n < 0 || (size_t)n >= cap ? -1 : 0;
    }
    return -1;
}

int reg_canon_subject_entity(const char *subject, char *entity, size_t cap)
{
    return reg_canon_subject_parse(subject, entity, cap) != REG_CANON_SUBJECT_NONE;
}

int reg_canon_has_key(const reg_schema *s)
{
    const reg_node *r = s ? reg_schema_root(s) : NULL;
    return r && r->type == REG_RECORD && r->props && json_object_get(r->props, "canon.key");
}

static const reg_field *find_field(const reg_node *rec, const char *name)
{
    for (size_t i = 0; i < rec->n_fields; i++) {
        if (strcmp(rec->fields[i].name, name) == 0)
            return &rec->fields[i];
    }
    return NULL;
}

/* Checks one field's canon.writers property, if any. */
static cg_err *check_writers(const reg_node *rec, const reg_field *f)
{
    json_t *w = f->props ? json_object_get(f->props, "canon.writers") : NULL;
    if (!w)
        return NULL;
    if (!json_is_array(w) || json_array_size(w) == 0)
        return cg_err_new(CG_EINVALID_SCHEMA,
                          "field '%s.%s': canon.writers must be a non-empty array of domain names "
                          "(leave it out to let any domain write the field)",
                          rec->fullname, f->name);
    for (size_t i = 0; i < json_array_size(w); i++) {
        json_t *d = json_array_get(w, i);
        if (!json_is_string(d) || !reg_canon_domain_valid(json_string_value(d))) {
            char *v = json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT);
            cg_err *e = cg_err_new(CG_EINVALID_SCHEMA,
                                   "field '%s.%s': canon.writers entry %s is not a domain name "
                                   "(lower-case letters and digits, then also '_', '.', '-'; at "
                                   "most %d characters)",
                                   rec->fullname, f->name, v ? v : "?", DOMAIN_MAX);
            free(v);
            return e;
        }
        for (size_t k = 0; k < i; k++) {
            if (json_equal(d, json_array_get(w, k)))
                return cg_err_new(CG_EINVALID_SCHEMA,
                                  "field '%s.%s': canon.writers names '%s' twice", rec->fullname,
                                  f->name, json_string_value(d));
        }
    }
    return NULL;
}

typedef struct visited {
    const reg_node **v;
    size_t n, cap;
} visited;

/* canon.writers only has a meaning on the canonical record's own fields; anywhere else
 * it would look like a restriction while restricting nothing. Walks every type reachable
 * from n once (the graph may be recursive). */
static cg_err *no_nested_writers(const reg_node *root, const reg_node *n, visited *vis, int depth)
{
    if (depth > 512)
        return NULL;
    if (n->fullname) {
        for (size_t i = 0; i < vis->n; i++) {
            if (vis->v[i] == n)
                return NULL;
        }
        if (vis->n == vis->cap) {
            size_t cap = vis->cap ? vis->cap * 2 : 16;
            const reg_node **nv = realloc(vis->v, cap * sizeof(*nv));
            if (!nv)
                return cg_err_new(CG_ENOMEM, "out of memory");
            vis->v = nv;
            vis->cap = cap;
        }
        vis->v[vis->n++] = n;
    }
    cg_err *e = NULL;
    switch (n->type) {
    case REG_RECORD:
        for (size_t k = 0; !e && k < n->n_fields; k++) {
            if (n != root && n->fields[k].props &&
                json_object_get(n->fields[k].props, "canon.writers"))
                return cg_err_new(CG_EINVALID_SCHEMA,
                                  "field '%s.%s': canon.writers is only allowed on the fields of "
                                  "the canonical record '%s'",
                                  n->fullname, n->fields[k].name, root->fullname);
            e = no_nested_writers(root, n->fields[k].type, vis, depth + 1);
        }
        break;
    case REG_ARRAY:
    case REG_MAP:
        e = no_nested_writers(root, n->items, vis, depth + 1);
        break;
    case REG_UNION:
        for (size_t k = 0; !e && k < n->n_branches; k++)
            e = no_nested_writers(root, n->branches[k], vis, depth + 1);
        break;
    default:
        break;
    }
    return e;
}

int reg_canon_field_clearable(const reg_field *f)
{
    const reg_node *t = f->type;
    if (f->default_json || t->type == REG_NULL)
        return 1;
    for (size_t i = 0; t->type == REG_UNION && i < t->n_branches; i++)
        if (t->branches[i]->type == REG_NULL)
            return 1;
    return 0;
}

cg_err *reg_canon_validate(const reg_schema *s)
{
    const reg_node *r = s ? reg_schema_root(s) : NULL;
    if (!r || r->type != REG_RECORD)
        return cg_err_new(CG_EINVALID_SCHEMA, "a canonical schema must be a record, not %s",
                          r ? reg_type_name(r->type) : "nothing");
    json_t *kj = r->props ? json_object_get(r->props, "canon.key") : NULL;
    if (!kj)
        return cg_err_new(CG_EINVALID_SCHEMA,
                          "record '%s' has no \"canon.key\" property naming its universal "
                          "identifier field",
                          r->fullname);
    if (!json_is_string(kj))
        return cg_err_new(CG_EINVALID_SCHEMA,
                          "record '%s': canon.key must be a string (a field name)", r->fullname);
    const char *key = json_string_value(kj);
    const reg_field *kf = find_field(r, key);
    if (!kf)
        return cg_err_new(CG_EINVALID_SCHEMA, "canon.key '%s' names no field of record '%s'", key,
                          r->fullname);
    if (kf->type->type != REG_STRING) {
        const char *why = kf->type->type == REG_UNION
                              ? ": a union would let the key be null or of another type"
                              : "";
        return cg_err_new(CG_EINVALID_SCHEMA,
                          "canon.key field '%s.%s' must be a string (or a string with logicalType "
                          "uuid), not %s%s",
                          r->fullname, key,
                          kf->type->fullname ? kf->type->fullname : reg_type_name(kf->type->type),
                          why);
    }
    if (kf->props && json_object_get(kf->props, "canon.writers"))
        return cg_err_new(
            CG_EINVALID_SCHEMA,
            "canon.key field '%s.%s' may not have canon.writers: every update carries "
            "the key",
            r->fullname, key);
    for (size_t i = 0; i < r->n_fields; i++) {
        cg_err *e = check_writers(r, &r->fields[i]);
        if (e)
            return e;
        /* optional("null") would be ["null", "null"] (docs/wire.md): no valid union. */
        if (r->fields[i].type->type == REG_NULL)
            return cg_err_new(
                CG_EINVALID_SCHEMA,
                "field '%s.%s' has type \"null\": it can hold no value, so no update could "
                "ever set it, and the update schema cannot make it optional (remove the field, "
                "or give it a type such as [\"null\", \"string\"])",
                r->fullname, r->fields[i].name);
        if (&r->fields[i] != kf && !reg_canon_field_clearable(&r->fields[i]))
            return cg_err_new(
                CG_EINVALID_SCHEMA,
                "field '%s.%s' has no default and is not nullable: every field of a canonical "
                "record but its key must be one or the other, because updates of an entity may "
                "come before the one that sets the field (add \"default\", or make the type a "
                "union with \"null\")",
                r->fullname, r->fields[i].name);
    }
    visited vis = {0};
    cg_err *e = no_nested_writers(r, r, &vis, 0);
    free(vis.v);
    return e;
}

json_t *reg_canon_entity_json(const char *entity, const reg_schema *s)
{
    cg_err *e = reg_canon_validate(s);
    if (e) {
        cg_err_free(e);
        return NULL;
    }
    const reg_node *r = reg_schema_root(s);
    const char *key = json_string_value(json_object_get(r->props, "canon.key"));
    json_t *out = json_object();
    json_t *fields = json_array();
    int rc = !out || !fields;
    if (!rc) {
        rc |= json_object_set_new(out, "entity", json_string(entity ? entity : ""));
        rc |= json_object_set_new(out, "record", json_string(r->fullname));
        rc |= json_object_set_new(out, "keyField", json_string(key));
    }
    for (size_t i = 0; !rc && i < r->n_fields; i++) {
        const reg_field *f = &r->fields[i];
        json_t *fo = json_object();
        json_t *t = reg_node_json(f->type, REG_JSON_DOC);
        json_t *w = f->props ? json_object_get(f->props, "canon.writers") : NULL;
        if (!fo || !t) {
            json_decref(fo);
            json_decref(t);
            rc = 1;
            break;
        }
        rc |= json_object_set_new(fo, "name", json_string(f->name));
        rc |= json_object_set_new(fo, "type", t);
        rc |= json_object_set_new(fo, "writers", w ? json_deep_copy(w) : json_null());
        rc |= json_array_append_new(fields, fo);
    }
    if (!rc)
        rc |= json_object_set(out, "fields", fields);
    json_decref(fields);
    if (rc) {
        json_decref(out);
        return NULL;
    }
    return out;
}
