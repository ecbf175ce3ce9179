/* canon_derive.c - the update and envelope schemas derived from a canonical schema.
 *
 * docs/wire.md is the specification; this file is its only implementation, so the
 * registry (which registers the derived schemas), the aggregator and the code generators
 * all see the same bytes. The schemas are assembled as JSON: the fixed parts (framework
 * types, bookkeeping fields) by hand, the canonical parts through one reg_json_writer per
 * derived schema, which writes each named type of the canonical schema in full where it
 * first appears and by full name after. That keeps recursive and shared types valid
 * without this file knowing about them.
 *
 * Every result is parsed again before it is returned and its named types are compared
 * with the canonical schema's: a derived schema the registry cannot parse, or in which a
 * canonical type changed its full name, would break every consumer at once, so it is
 * better refused at registration with a message saying why.
 */
#include "canon_derive.h"

#include <stdlib.h>
#include <string.h>

#include "canon_contract.h"

/* How much deeper the derived schemas nest the canonical types: the envelope's
 * before/after are ["null", <record>] fields of the envelope record; the update's values
 * are optional(<field type>) fields of <N>Values, a field of the update record. */
#define DERIVED_DEPTH 2

/* Names of the update record's own fields: the key field may not take one of them. */
static const char *const update_fields[] = {"source",   "op",     "seq", "event_time",
                                            "provided", "values", NULL};

/* ---- walking the canonical schema ---------------------------------------------- */

typedef struct named_set {
    const reg_node **v;
    size_t n, cap;
    /* The first type in the null namespace defined inside a type with a namespace, and
     * that enclosing type (the writer would put it in the enclosing namespace). */
    const reg_node *null_ns, *null_ns_in;
    int depth; /* the deepest level, counted as the parser does (REG_SCHEMA_MAX_DEPTH) */
} named_set;

static int has_ns(const reg_node *n)
{
    return n && n->namespace_ && n->namespace_[0];
}

/* Collects every named type reachable from n once (the graph may be recursive), in the
 * order of their definitions; in is the named type whose definition encloses n's (NULL
 * at the root), depth n's level in a text that defines each named type where it first
 * appears, as the derived schemas do. Returns 0, or -1 when memory is short. */
static int collect_named(const reg_node *n, const reg_node *in, int depth, named_set *set)
{
    if (depth > set->depth)
        set->depth = depth;
    if (n->fullname) {
        for (size_t i = 0; i < set->n; i++) {
            if (set->v[i] == n)
                return 0;
        }
        if (!set->null_ns && !has_ns(n) && has_ns(in)) {
            set->null_ns = n;
            set->null_ns_in = in;
        }
        if (set->n == set->cap) {
            size_t cap = set->cap ? set->cap * 2 : 16;
            const reg_node **nv = realloc(set->v, cap * sizeof(*nv));
            if (!nv)
                return -1;
            set->v = nv;
            set->cap = cap;
        }
        set->v[set->n++] = n;
    }
    switch (n->type) {
    case REG_RECORD:
        for (size_t k = 0; k < n->n_fields; k++) {
            if (collect_named(n->fields[k].type, n, depth + 1, set) < 0)
                return -1;
        }
        return 0;
    case REG_ARRAY:
    case REG_MAP:
        return collect_named(n->items, in, depth + 1, set);
    case REG_UNION:
        for (size_t k = 0; k < n->n_branches; k++) {
            if (collect_named(n->branches[k], in, depth + 1, set) < 0)
                return -1;
        }
        return 0;
    default:
        return 0;
    }
}

static int in_framework_ns(const reg_node *n)
{
    const char *ns = n->namespace_;
    size_t l = strlen(REG_CANON_FRAMEWORK_NS);
    return ns && strncmp(ns, REG_CANON_FRAMEWORK_NS, l) == 0 && (ns[l] == '\0' || ns[l] == '.');
}

/* The full name a derived record takes: the canonical record's namespace, its name plus
 * suffix. Caller frees. */
static char *derived_fullname(const reg_node *root, const char *suffix)
{
    const char *ns = root->namespace_ && root->namespace_[0] ? root->namespace_ : NULL;
    size_t len = (ns ? strlen(ns) + 1 : 0) + strlen(root->name) + strlen(suffix) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    if (ns) {
        strcat(s, ns);
        strcat(s, ".");
    }
    strcat(s, root->name);
    strcat(s, suffix);
    return s;
}

/* Checks what the derived schemas need of the canonical one beyond the contract: no type
 * in the framework namespace, no type with a derived record's full name (suffixes is a
 * NULL-terminated list such as {"Update", "Values", NULL}), no null-namespace type
 * defined inside a namespaced type, the root or a nested one (the writer names a type by
 * its full name, which for such a type is its bare name, read in the enclosing
 * namespace: it would silently change its full name). */
static cg_err *check_canonical(const reg_schema *canonical, const char *const *suffixes)
{
    cg_err *err = reg_canon_validate(canonical);
    if (err)
        return err;
    const reg_node *root = reg_schema_root(canonical);
    named_set set = {0};
    if (collect_named(root, NULL, 1, &set) < 0) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < set.n; i++) {
        const reg_node *n = set.v[i];
        if (in_framework_ns(n)) {
            err = cg_err_new(CG_EINVALID_SCHEMA,
                             "type '%s': namespace '%s' is reserved for the framework types "
                             "(UpdateOp, ChangeOp, FieldVersion, Cause); a canonical schema may "
                             "not define or use a type in it",
                             n->fullname, REG_CANON_FRAMEWORK_NS);
            goto done;
        }
    }
    if (set.depth + DERIVED_DEPTH > REG_SCHEMA_MAX_DEPTH) {
        err = cg_err_new(CG_EINVALID_SCHEMA,
                         "record '%s' nests types %d levels deep (referenced types inlined): the "
                         "derived schemas put it %d levels deeper, and a schema may nest at most "
                         "%d levels, so a canonical schema at most %d",
                         root->fullname, set.depth, DERIVED_DEPTH, REG_SCHEMA_MAX_DEPTH,
                         REG_SCHEMA_MAX_DEPTH - DERIVED_DEPTH);
        goto done;
    }
    if (set.null_ns) {
        err = cg_err_new(CG_EINVALID_SCHEMA,
                         "type '%s' is in the null namespace inside %s '%s' (namespace '%s'): "
                         "the derived schemas cannot express that; give it a namespace",
                         set.null_ns->fullname, reg_type_name(set.null_ns_in->type),
                         set.null_ns_in->fullname, set.null_ns_in->namespace_);
        goto done;
    }
    for (size_t k = 0; suffixes[k]; k++) {
        char *fn = derived_fullname(root, suffixes[k]);
        if (!fn) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; !err && i < set.n; i++) {
            if (strcmp(set.v[i]->fullname, fn) == 0)
                err = cg_err_new(CG_EINVALID_SCHEMA,
                                 "type '%s' of the canonical schema clashes with the derived "
                                 "record '%s' (docs/wire.md): rename it",
                                 fn, fn);
        }
        free(fn);
        if (err)
            goto done;
    }
done:
    free(set.v);
    return err;
}

static const reg_field *key_field(const reg_node *root)
{
    const char *key = json_string_value(json_object_get(root->props, "canon.key"));
    for (size_t i = 0; key && i < root->n_fields; i++) {
        if (strcmp(root->fields[i].name, key) == 0)
            return &root->fields[i];
    }
    return NULL;
}

/* ---- JSON building blocks --------------------------------------------------------- */

/* A record or enum header: {"type": t, "name": name, "namespace": ns} (namespace left
 * out when the canonical record has none), to which the caller adds fields/symbols. */
static json_t *named_header(const char *type, const char *name, const char *ns)
{
    json_t *o = json_pack("{s:s, s:s}", "type", type, "name", name);
    if (o && ns && ns[0] && json_object_set_new(o, "namespace", json_string(ns)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A derived record of the canonical record root (name + suffix, in root's namespace),
 * with an alias for each of root's aliases (alias "ns.Old" of root gives "ns.Old" +
 * suffix), so that a rename the canonical subject accepts is one the derived subjects
 * can follow. */
static json_t *derived_record(const reg_node *root, const char *suffix)
{
    char *name = malloc(strlen(root->name) + strlen(suffix) + 1);
    if (!name)
        return NULL;
    strcpy(name, root->name);
    strcat(name, suffix);
    json_t *rec = named_header("record", name, root->namespace_);
    free(name);
    if (!rec || !root->n_aliases)
        return rec;
    json_t *a = json_array();
    int rc = !a;
    for (size_t i = 0; !rc && i < root->n_aliases; i++) {
        char *al = malloc(strlen(root->aliases[i]) + strlen(suffix) + 1);
        rc |= !al;
        if (al) {
            strcpy(al, root->aliases[i]);
            strcat(al, suffix);
            rc |= json_array_append_new(a, json_string(al));
            free(al);
        }
    }
    if (!rc && json_object_set_new(rec, "aliases", a) == 0)
        return rec;
    if (rc)
        json_decref(a);
    json_decref(rec);
    return NULL;
}

static json_t *framework_enum(const char *name, const char *const *symbols)
{
    json_t *o = named_header("enum", name, REG_CANON_FRAMEWORK_NS);
    json_t *a = json_array();
    int rc = !o || !a;
    for (size_t i = 0; !rc && symbols[i]; i++)
        rc |= json_array_append_new(a, json_string(symbols[i]));
    if (!rc && json_object_set_new(o, "symbols", a) == 0)
        return o;
    if (rc)
        json_decref(a);
    json_decref(o);
    return NULL;
}

static json_t *timestamp_millis(void)
{
    return json_pack("{s:s, s:s}", "type", "long", "logicalType", "timestamp-millis");
}

static json_t *framework_record(const char *name, json_t *fields /* stolen */)
{
    json_t *o = named_header("record", name, REG_CANON_FRAMEWORK_NS);
    if (!o || !fields || json_object_set_new(o, "fields", fields) != 0) {
        json_decref(o);
        if (!o)
            json_decref(fields);
        return NULL;
    }
    return o;
}

static json_t *field_version_type(void)
{
    /* partition and offset say which update message set the field (provenance "from which
     * offset"); they take no part in the ordering. Their defaults (-1, unknown) let readers
     * of this version read envelopes written before the two fields existed. */
    return framework_record(
        "FieldVersion",
        json_pack("[{s:s, s:s}, {s:s, s:o}, {s:s, s:s}, {s:s, s:s, s:i}, {s:s, s:s, s:i}]", "name",
                  "source", "type", "string", "name", "event_time", "type", timestamp_millis(),
                  "name", "seq", "type", "long", "name", "partition", "type", "int", "default", -1,
                  "name", "offset", "type", "long", "default", -1));
}

static json_t *cause_type(void)
{
    return framework_record("Cause", json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "name",
                                               "topic", "type", "string", "name", "partition",
                                               "type", "int", "name", "offset", "type", "long"));
}

/* {"name": name, "type": type} plus a default when dflt is not NULL. Steals type and
 * dflt (also on failure). */
static json_t *simple_field(const char *name, json_t *type, json_t *dflt)
{
    json_t *o = json_object();
    int rc = !o || !type;
    if (!rc) {
        rc |= json_object_set_new(o, "name", json_string(name));
        rc |= json_object_set(o, "type", type);
        if (dflt)
            rc |= json_object_set(o, "default", dflt);
    }
    json_decref(type);
    json_decref(dflt);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int append(json_t *array, json_t *item /* stolen */)
{
    return item ? json_array_append_new(array, item) : -1;
}

static json_t *string_array_type(void)
{
    return json_pack("{s:s, s:s}", "type", "array", "items", "string");
}

/* Adds a field's aliases (declared order) and doc of the canonical field f to o; and its
 * canon.writers when with_writers. */
static int copy_field_attrs(json_t *o, const reg_field *f, int with_writers)
{
    int rc = 0;
    if (f->n_aliases) {
        json_t *a = json_array();
        rc |= a ? 0 : -1;
        for (size_t i = 0; a && i < f->n_aliases; i++)
            rc |= json_array_append_new(a, json_string(f->aliases[i]));
        rc |= a ? json_object_set_new(o, "aliases", a) : 0;
    }
    if (f->doc)
        rc |= json_object_set_new(o, "doc", json_string(f->doc));
    json_t *w = with_writers && f->props ? json_object_get(f->props, "canon.writers") : NULL;
    if (w)
        rc |= json_object_set_new(o, "canon.writers", json_deep_copy(w));
    return rc;
}

/* optional(T) of docs/wire.md: "null" first, then T, or T's branches other than "null"
 * in their order when T is a union. Named types go through the writer so that each is
 * defined at its first appearance. */
static json_t *optional_type(reg_json_writer *w, const reg_node *t)
{
    json_t *u = json_array();
    int rc = !u || json_array_append_new(u, json_string("null")) != 0;
    if (t->type == REG_UNION) {
        for (size_t i = 0; !rc && i < t->n_branches; i++) {
            if (t->branches[i]->type != REG_NULL)
                rc |= append(u, reg_json_writer_type(w, t->branches[i]));
        }
    } else if (!rc) {
        rc |= append(u, reg_json_writer_type(w, t));
    }
    if (rc) {
        json_decref(u);
        return NULL;
    }
    return u;
}

/* ---- checking and returning a result ---------------------------------------------- */

/* Parses the derived text and checks that each named type in it is either one of the
 * derived records, a framework type, or a type of the canonical schema under the same
 * full name and kind; then hands the text to the caller. */
static cg_err *finish(const reg_schema *canonical, json_t *derived, const char *what,
                      char **json_out)
{
    cg_err *err = NULL;
    reg_schema *parsed = NULL;
    const reg_node *root = reg_schema_root(canonical);
    char *values_name = NULL;
    char *text = derived ? json_dumps(derived, JSON_COMPACT) : NULL;
    if (!text) {
        err = cg_err_new(CG_ENOMEM, "out of memory building the %s schema", what);
        goto done;
    }
    err = reg_schema_parse(text, strlen(text), NULL, 0, &parsed);
    if (err) {
        err = cg_err_wrap(err, "the derived %s schema is not valid Avro (please report): ", what);
        goto done;
    }
    const reg_node *droot = reg_schema_root(parsed);
    values_name = derived_fullname(root, "Values");
    if (!values_name) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < reg_schema_named_count(parsed); i++) {
        const reg_node *d = reg_schema_named_at(parsed, i);
        if (in_framework_ns(d) || d == droot)
            continue;
        /* NValues is the one derived record besides the root (a canonical type of that
         * name was refused before). */
        if (values_name && strcmp(d->fullname, values_name) == 0)
            continue;
        const reg_node *c = reg_schema_find(canonical, d->fullname);
        if (!c || c->type != d->type) {
            err = cg_err_new(CG_EINVALID_SCHEMA,
                             "type '%s' of the derived %s schema is not a type of the canonical "
                             "schema: a type changed its full name (please report)",
                             d->fullname, what);
            goto done;
        }
    }
    *json_out = text;
    text = NULL;
done:
    free(values_name);
    reg_schema_free(parsed);
    free(text);
    return err;
}

/* ---- the update schema ------------------------------------------------------------ */

static json_t *build_values(reg_json_writer *w, const reg_node *root, const reg_field *key)
{
    json_t *rec = NULL, *fields = json_array();
    int rc = !fields;
    if (!rc) {
        rec = derived_record(root, "Values");
        rc |= rec ? 0 : -1;
    }
    for (size_t i = 0; !rc && i < root->n_fields; i++) {
        const reg_field *f = &root->fields[i];
        if (f == key)
            continue;
        json_t *fo = simple_field(f->name, optional_type(w, f->type), json_null());
        rc |= fo ? copy_field_attrs(fo, f, 1) : -1;
        rc |= append(fields, fo);
    }
    if (!rc) {
        rc |= json_object_set_new(rec, "fields", fields);
        fields = NULL;
    }
    json_decref(fields);
    if (rc) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static json_t *build_update(const reg_node *root, const reg_field *key)
{
    static const char *const ops[] = {"UPSERT", "DELETE", NULL};
    reg_json_writer *w = reg_json_writer_new(REG_JSON_DOC);
    json_t *rec = NULL, *fields = json_array();
    int rc = !w || !fields;
    if (!rc) {
        rec = derived_record(root, "Update");
        rc |= rec ? 0 : -1;
    }
    if (!rc) {
        json_t *kf = simple_field(key->name, reg_json_writer_type(w, key->type), NULL);
        rc |= kf ? copy_field_attrs(kf, key, 0) : -1;
        rc |= append(fields, kf);
        rc |= append(fields, simple_field("source", json_string("string"), NULL));
        rc |= append(fields, simple_field("event_time", timestamp_millis(), NULL));
        rc |= append(fields, simple_field("seq", json_string("long"), json_integer(0)));
        rc |= append(fields,
                     simple_field("op", framework_enum("UpdateOp", ops), json_string("UPSERT")));
        rc |= append(fields, simple_field("provided", string_array_type(), json_array()));
        rc |= append(fields, simple_field("values", build_values(w, root, key), NULL));
    }
    if (!rc) {
        rc |= json_object_set_new(rec, "fields", fields);
        fields = NULL;
    }
    json_decref(fields);
    reg_json_writer_free(w);
    if (rc) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

cg_err *reg_canon_derive_update(const reg_schema *canonical, char **json_out)
{
    static const char *const suffixes[] = {"Update", "Values", NULL};
    cg_err *err = check_canonical(canonical, suffixes);
    if (err)
        return err;
    const reg_node *root = reg_schema_root(canonical);
    const reg_field *key = key_field(root);
    for (size_t i = 0; update_fields[i]; i++) {
        if (strcmp(key->name, update_fields[i]) == 0)
            return cg_err_new(CG_EINVALID_SCHEMA,
                              "canon.key field '%s.%s' has the name of a field of the derived "
                              "update record (source, event_time, seq, op, provided, values): "
                              "rename it",
                              root->fullname, key->name);
    }
    json_t *u = build_update(root, key);
    err = finish(canonical, u, "update", json_out);
    json_decref(u);
    return err;
}

/* ---- the envelope schema ---------------------------------------------------------- */

static json_t *nullable(json_t *t /* stolen */)
{
    if (!t)
        return NULL;
    json_t *u = json_pack("[s, o]", "null", t);
    return u;
}

static json_t *build_envelope(const reg_node *root, const reg_field *key)
{
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", NULL};
    reg_json_writer *w = reg_json_writer_new(REG_JSON_DOC);
    json_t *rec = NULL, *fields = json_array();
    int rc = !w || !fields;
    if (!rc) {
        rec = derived_record(root, "Envelope");
        rc |= rec ? 0 : -1;
    }
    if (!rc) {
        rc |= append(fields, simple_field("key", reg_json_writer_type(w, key->type), NULL));
        rc |= append(fields, simple_field("version", json_string("long"), NULL));
        rc |= append(fields, simple_field("op", framework_enum("ChangeOp", ops), NULL));
        /* The first use defines the canonical record in full, the second names it. */
        rc |= append(fields,
                     simple_field("before", nullable(reg_json_writer_type(w, root)), json_null()));
        rc |= append(fields,
                     simple_field("after", nullable(reg_json_writer_type(w, root)), json_null()));
        rc |= append(fields, simple_field("changed", string_array_type(), json_array()));
        json_t *prov = json_pack("{s:s, s:o}", "type", "map", "values", field_version_type());
        rc |= append(fields, simple_field("provenance", prov, json_object()));
        rc |= append(fields,
                     simple_field("deleted",
                                  nullable(json_string(REG_CANON_FRAMEWORK_NS ".FieldVersion")),
                                  json_null()));
        rc |= append(fields, simple_field("cause", cause_type(), NULL));
    }
    if (!rc) {
        rc |= json_object_set_new(rec, "fields", fields);
        fields = NULL;
    }
    json_decref(fields);
    reg_json_writer_free(w);
    if (rc) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

cg_err *reg_canon_derive_envelope(const reg_schema *canonical, char **json_out)
{
    static const char *const suffixes[] = {"Envelope", NULL};
    cg_err *err = check_canonical(canonical, suffixes);
    if (err)
        return err;
    const reg_node *root = reg_schema_root(canonical);
    json_t *e = build_envelope(root, key_field(root));
    err = finish(canonical, e, "envelope", json_out);
    json_decref(e);
    return err;
}

/* ---- registration plan ------------------------------------------------------------ */

void reg_canon_plan_clear(reg_canon_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < 3; i++)
        free(p->text[i]);
    memset(p, 0, sizeof(*p));
}

cg_err *reg_canon_plan_make(const char *subject, const reg_schema *s, int import,
                            reg_canon_plan *out)
{
    static const reg_canon_subject_kind kinds[3] = {
        REG_CANON_SUBJECT_ENTITY, REG_CANON_SUBJECT_UPDATES, REG_CANON_SUBJECT_ENVELOPE};
    static const char *const roles[3] = {"canonical", "update", "envelope"};
    cg_err *err = NULL;
    memset(out, 0, sizeof(*out));
    reg_canon_subject_kind kind =
        reg_canon_subject_parse(subject, out->entity, sizeof(out->entity));
    if (kind == REG_CANON_SUBJECT_NONE)
        return cg_err_new(CG_EINVAL, "subject '%s' is not a subject of a canon entity",
                          subject ? subject : "");
    for (size_t i = 0; i < 3; i++) {
        out->role[i] = roles[i];
        if (reg_canon_subject_name(kinds[i], out->entity, out->subject[i],
                                   sizeof(out->subject[i])) < 0) {
            err = cg_err_new(CG_EINVAL, "entity name '%s' too long", out->entity);
            goto done;
        }
    }
    if (import) {
        /* IMPORT copies another registry subject by subject, with its ids: what is posted
         * is what is registered; only the canonical subject keeps its contract. */
        if (kind == REG_CANON_SUBJECT_ENTITY)
            err = reg_canon_validate(s);
        goto done;
    }
    if (kind == REG_CANON_SUBJECT_UPDATES) {
        err = cg_err_new(CG_EINVALID_SCHEMA,
                         "Subject %s is a derived subject, written by the registry: register "
                         "the canonical schema (the record with canon.key) at %s and the "
                         "update schema follows (docs/wire.md)",
                         subject, out->subject[0]);
        goto done;
    }
    if (kind == REG_CANON_SUBJECT_ENVELOPE && !reg_canon_has_key(s)) {
        err = cg_err_new(CG_EINVALID_SCHEMA,
                         "Subject %s holds the envelope schema the registry derives from %s; "
                         "a schema registered here must be a canonical schema: a record with a "
                         "\"canon.key\" property naming its universal identifier field (it is "
                         "then registered at %s, with its derived schemas)",
                         subject, out->subject[0], out->subject[0]);
        goto done;
    }
    err = reg_canon_validate(s);
    if (!err)
        err = reg_canon_derive_update(s, &out->text[1]);
    if (!err)
        err = reg_canon_derive_envelope(s, &out->text[2]);
    if (!err)
        out->derived = 1;
done:
    if (err)
        reg_canon_plan_clear(out);
    return err;
}
