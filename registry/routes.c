/* routes.c - the REST API's routes: path templates to registry operations.
 *
 * Paths are matched on URL-decoded segments, so a subject may contain any character,
 * '/' included when sent as %2F. Errors carry Confluent's error codes; the HTTP status is
 * derived from the code (40401 -> 404, 42201 -> 422, 409 -> 409, 50001 -> 500).
 * With access control on (auth.h), reg_route_authorize() says per route which permission
 * a request needs (a lookup is a read; settings and deletes are the admin's), and
 * reg_route_run() filters list answers to what the caller may read, before paging. */
#include <jansson.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canon_contract.h"
#include "canon_derive.h"
#include "http_internal.h"

const char *const reg_route_names[RT_COUNT] = {
    [RT_UNKNOWN] = "unknown",
    [RT_ROOT] = "/",
    [RT_HEALTH] = "/health",
    [RT_METRICS] = "/metrics",
    [RT_SUBJECTS] = "/subjects",
    [RT_SUBJECT] = "/subjects/{subject}",
    [RT_VERSIONS] = "/subjects/{subject}/versions",
    [RT_VERSION] = "/subjects/{subject}/versions/{version}",
    [RT_VERSION_SCHEMA] = "/subjects/{subject}/versions/{version}/schema",
    [RT_VERSION_REFERENCEDBY] = "/subjects/{subject}/versions/{version}/referencedby",
    [RT_SCHEMAS] = "/schemas",
    [RT_SCHEMA_ID] = "/schemas/ids/{id}",
    [RT_SCHEMA_ID_SCHEMA] = "/schemas/ids/{id}/schema",
    [RT_SCHEMA_ID_SUBJECTS] = "/schemas/ids/{id}/subjects",
    [RT_SCHEMA_ID_VERSIONS] = "/schemas/ids/{id}/versions",
    [RT_SCHEMA_TYPES] = "/schemas/types",
    [RT_CONFIG] = "/config",
    [RT_CONFIG_SUBJECT] = "/config/{subject}",
    [RT_MODE] = "/mode",
    [RT_MODE_SUBJECT] = "/mode/{subject}",
    [RT_COMPAT_VERSION] = "/compatibility/subjects/{subject}/versions/{version}",
    [RT_COMPAT_VERSIONS] = "/compatibility/subjects/{subject}/versions",
    [RT_CONTEXTS] = "/contexts",
    [RT_CANON_ENTITIES] = "/canon/entities",
    [RT_CANON_ENTITY] = "/canon/entities/{entity}",
    [RT_CANON_BINDINGS] = "/canon/bindings/{lang}",
    [RT_SUBJECT_METADATA] = "/subjects/{subject}/metadata",
};

static int seg_is(const reg_http_req *q, size_t i, const char *s)
{
    return i < q->nseg && !strcmp(q->seg[i], s);
}

int reg_route_match(const reg_http_req *q, int *route, unsigned *methods)
{
    size_t n = q->nseg;
    *route = RT_UNKNOWN;
    *methods = 0;
    if (n == 0) {
        *route = RT_ROOT;
        *methods = RM_GET;
    } else if (seg_is(q, 0, "health") && n == 1) {
        *route = RT_HEALTH;
        *methods = RM_GET;
    } else if (seg_is(q, 0, "metrics") && n == 1) {
        *route = RT_METRICS;
        *methods = RM_GET;
    } else if (seg_is(q, 0, "contexts") && n == 1) {
        *route = RT_CONTEXTS;
        *methods = RM_GET;
    } else if (seg_is(q, 0, "subjects")) {
        if (n == 1) {
            *route = RT_SUBJECTS;
            *methods = RM_GET;
        } else if (n == 2) {
            *route = RT_SUBJECT;
            *methods = RM_POST | RM_DELETE;
        } else if (n == 3 && seg_is(q, 2, "versions")) {
            *route = RT_VERSIONS;
            *methods = RM_GET | RM_POST;
        } else if (n == 3 && seg_is(q, 2, "metadata")) {
            *route = RT_SUBJECT_METADATA;
            *methods = RM_GET;
        } else if (n == 4 && seg_is(q, 2, "versions")) {
            *route = RT_VERSION;
            *methods = RM_GET | RM_DELETE;
        } else if (n == 5 && seg_is(q, 2, "versions") && seg_is(q, 4, "schema")) {
            *route = RT_VERSION_SCHEMA;
            *methods = RM_GET;
        } else if (n == 5 && seg_is(q, 2, "versions") && seg_is(q, 4, "referencedby")) {
            *route = RT_VERSION_REFERENCEDBY;
            *methods = RM_GET;
        }
    } else if (seg_is(q, 0, "schemas")) {
        if (n == 1) {
            *route = RT_SCHEMAS;
            *methods = RM_GET;
        } else if (n == 2 && seg_is(q, 1, "types")) {
            *route = RT_SCHEMA_TYPES;
            *methods = RM_GET;
        } else if (n == 3 && seg_is(q, 1, "ids")) {
            *route = RT_SCHEMA_ID;
            *methods = RM_GET;
        } else if (n == 4 && seg_is(q, 1, "ids")) {
            if (seg_is(q, 3, "schema"))
                *route = RT_SCHEMA_ID_SCHEMA;
            else if (seg_is(q, 3, "subjects"))
                *route = RT_SCHEMA_ID_SUBJECTS;
            else if (seg_is(q, 3, "versions"))
                *route = RT_SCHEMA_ID_VERSIONS;
            if (*route != RT_UNKNOWN)
                *methods = RM_GET;
        }
    } else if (seg_is(q, 0, "config")) {
        if (n == 1)
            *route = RT_CONFIG;
        else if (n == 2)
            *route = RT_CONFIG_SUBJECT;
        if (*route != RT_UNKNOWN)
            *methods = RM_GET | RM_PUT | RM_DELETE;
    } else if (seg_is(q, 0, "mode")) {
        if (n == 1)
            *route = RT_MODE;
        else if (n == 2)
            *route = RT_MODE_SUBJECT;
        if (*route != RT_UNKNOWN)
            *methods = RM_GET | RM_PUT | RM_DELETE;
    } else if (seg_is(q, 0, "compatibility") && seg_is(q, 1, "subjects") && n >= 4 &&
               seg_is(q, 3, "versions")) {
        if (n == 4)
            *route = RT_COMPAT_VERSIONS;
        else if (n == 5)
            *route = RT_COMPAT_VERSION;
        if (*route != RT_UNKNOWN)
            *methods = RM_POST;
    } else if (seg_is(q, 0, "canon") && seg_is(q, 1, "entities")) {
        if (n == 2)
            *route = RT_CANON_ENTITIES;
        else if (n == 3)
            *route = RT_CANON_ENTITY;
        if (*route != RT_UNKNOWN)
            *methods = RM_GET;
    } else if (seg_is(q, 0, "canon") && seg_is(q, 1, "bindings") && n == 3) {
        *route = RT_CANON_BINDINGS;
        *methods = RM_GET;
    }
    return *route != RT_UNKNOWN;
}

static int http_status_of(int code)
{
    if (code >= 10000)
        return code / 100;
    if (code >= 100 && code <= 599)
        return code;
    if (code == CG_EPARSE)
        return 400;
    return 500;
}

void reg_http_error(reg_http_resp *resp, int code, const char *msg)
{
    int status = http_status_of(code);
    if (code < 100 && code != CG_EPARSE)
        code = CG_ESTORE; /* generic failure: Confluent's 50001 */
    else if (code == CG_EPARSE)
        code = 400;
    json_t *o = json_object();
    json_object_set_new(o, "error_code", json_integer(code));
    json_t *m = json_string(msg ? msg : "");
    if (!m && msg) {
        /* A message quoting bytes that are not UTF-8 (a subject from the URL): replace
         * them rather than lose the message. */
        char *copy = strdup(msg);
        for (char *p = copy; p && *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        m = json_string(copy ? copy : "");
        free(copy);
    }
    json_object_set_new(o, "message", m);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!resp->borrowed)
        free(resp->body.data);
    resp->borrowed = 0;
    resp->body.data = s;
    resp->body.len = s ? strlen(s) : 0;
    resp->status = status;
    resp->kind = RB_JSON;
}

void reg_http_error_from(reg_http_resp *resp, cg_err *e)
{
    reg_http_error(resp, cg_err_code(e), cg_err_msg(e));
    cg_err_free(e);
}

/* As Confluent's Integer path parameter: an optional sign and digits, no spaces (strtoll
 * alone would also take leading white space). A number out of range reads as an id
 * nobody has ("Schema -1 not found"); any other text is quoted and called what it is,
 * since "Schema  1 not found" (a leading space) looks like id 1 went missing. */
static cg_err *parse_id(const char *s, int64_t *id)
{
    const char *d = s + (*s == '+' || *s == '-');
    char *end = NULL;
    errno = 0;
    long long v = *d >= '0' && *d <= '9' ? strtoll(s, &end, 10) : -1;
    if (end && !*end && (v < 0 || errno || v > INT32_MAX))
        return cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema %s not found", s);
    if (v < 0 || !end || *end)
        return cg_err_new(CG_ESCHEMA_NOT_FOUND,
                          "Schema '%.64s' not found: a schema id is a decimal number (no "
                          "spaces or other characters)",
                          s);
    *id = v;
    return NULL;
}

static cg_err *text_body(const char *text, reg_body *out)
{
    out->data = strdup(text);
    if (!out->data)
        return cg_err_new(CG_ENOMEM, "out of memory");
    out->len = strlen(text);
    return NULL;
}

/* ---- pagination ---- */

/* Renders j (consumed) as the answer body; out's old data is freed. */
static cg_err *json_body(json_t *j, reg_body *out)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return cg_err_new(CG_ENOMEM, "out of memory");
    free(out->data);
    out->data = s;
    out->len = strlen(s);
    return NULL;
}

/* Confluent's ?offset=&limit= on list answers: skip offset entries, then keep at most
 * limit (limit <= 0: no limit; a negative offset counts as 0). Applied to the rendered
 * array, so the registry's list functions stay unaware of it. */
static cg_err *page_body(reg_body *b, long long offset, long long limit)
{
    if (offset <= 0 && limit <= 0)
        return NULL;
    json_t *arr = json_loadb(b->data, b->len, 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return cg_err_new(CG_ENOMEM, "out of memory");
    }
    size_t n = json_array_size(arr);
    size_t from = offset > 0 ? (size_t)offset : 0;
    size_t to = limit > 0 && from + (size_t)limit < n ? from + (size_t)limit : n;
    json_t *page = json_array();
    for (size_t i = from; page && i < to; i++)
        json_array_append(page, json_array_get(arr, i));
    json_decref(arr);
    return json_body(page, b);
}

/* ---- contexts ---- */

/* Confluent qualifies a subject with a context as ":.ctx:name" (the default context is
 * "."; ":.:name" is the plain name). Returns the length of the ":.ctx:" prefix when
 * subject names a context other than the default, else 0. */
static size_t context_prefix_len(const char *subject)
{
    if (strncmp(subject, ":.", 2) != 0)
        return 0;
    const char *end = strchr(subject + 2, ':');
    if (!end || end == subject + 2)
        return 0;
    return (size_t)(end - subject) + 1;
}

/* Fetches a registry list (a JSON array) into a jansson array; NULL err on success. */
static cg_err *list_json(cg_err *err, reg_body *b, json_t **out)
{
    *out = NULL;
    if (!err) {
        *out = json_loadb(b->data, b->len, 0, NULL);
        if (!json_is_array(*out))
            err = cg_err_new(CG_ENOMEM, "out of memory");
    }
    free(b->data);
    *b = (reg_body){0};
    return err;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* GET /contexts: this registry keeps no contexts of its own, but a client that
 * registers Confluent-qualified subject names (":.ctx:name") sees their contexts
 * listed after the default one, sorted by name, as Confluent lists the contexts it
 * holds. */
static cg_err *contexts_body(reg_registry *r, const reg_auth_principal *who, reg_body *out)
{
    reg_opts all = {.deleted = 1};
    reg_body b = {0};
    json_t *subjects = NULL, *v;
    cg_err *err = list_json(reg_subjects(r, &all, &b), &b, &subjects);
    if (err)
        return err;
    size_t n = 0, i;
    char **ctx = calloc(json_array_size(subjects) + 1, sizeof *ctx);
    json_t *arr = json_array();
    if (!ctx || !arr)
        err = cg_err_new(CG_ENOMEM, "out of memory");
    json_array_foreach(subjects, i, v)
    {
        const char *name = json_string_value(v);
        size_t len = err || !name ? 0 : context_prefix_len(name);
        if (len && who && !reg_auth_allows(who, REG_PERM_READ, name))
            len = 0; /* a context the caller sees no subject of stays hidden */
        if (len && !(ctx[n++] = strndup(name + 1, len - 2)))
            err = cg_err_new(CG_ENOMEM, "out of memory");
    }
    json_decref(subjects);
    if (!err) {
        qsort(ctx, n, sizeof *ctx, cmp_cstr);
        json_array_append_new(arr, json_string("."));
        for (i = 0; i < n; i++)
            if (ctx[i] && (!i || !ctx[i - 1] || strcmp(ctx[i], ctx[i - 1])))
                json_array_append_new(arr, json_string(ctx[i]));
    }
    for (i = 0; ctx && i < n; i++)
        free(ctx[i]);
    free(ctx);
    if (err) {
        json_decref(arr);
        return err;
    }
    return json_body(arr, out);
}

/* The subject of an element of /schemas/ids/{id}/subjects or .../versions. */
static const char *usage_subject(json_t *e)
{
    return json_is_string(e) ? json_string_value(e)
                             : json_string_value(json_object_get(e, "subject"));
}

/* ?subject= on /schemas/ids/{id}[/schema|/subjects|/versions]. In Confluent it names
 * the context to look the id up in, not a filter: an unqualified subject (every
 * subject of this registry is in the default context) changes nothing, even when it
 * does not hold the id. A subject qualified with another context (":.ctx:name") finds
 * the id only if that subject holds it (":.ctx:" alone: any subject of the context),
 * else 40403; the lists then hold only that context's subjects, as Confluent lists a
 * schema's subject-versions within one context. *filter_len gets the prefix length to
 * keep in lists (0: no filtering). */
static cg_err *check_subject_context(reg_registry *r, int64_t id, const reg_opts *o,
                                     size_t *filter_len)
{
    *filter_len = 0;
    size_t n = o->subject ? context_prefix_len(o->subject) : 0;
    if (!n)
        return NULL;
    reg_opts all = {.deleted = 1};
    reg_body b = {0};
    json_t *uses = NULL;
    cg_err *err = list_json(reg_schema_versions(r, id, &all, &b), &b, &uses);
    if (err)
        return err;
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(uses, i, e)
    {
        const char *name = usage_subject(e);
        if (name && (o->subject[n] ? !strcmp(name, o->subject) : !strncmp(name, o->subject, n)))
            found = 1;
    }
    json_decref(uses);
    if (!found)
        return cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema %lld not found", (long long)id);
    *filter_len = n;
    return NULL;
}

/* Keeps the elements of a usage list whose subject starts with prefix[0..n). */
static cg_err *filter_usage(reg_body *b, const char *prefix, size_t n)
{
    json_t *arr = NULL;
    cg_err *err = list_json(NULL, b, &arr);
    if (err)
        return err;
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *name = usage_subject(json_array_get(arr, i));
        if (!name || strncmp(name, prefix, n))
            json_array_remove(arr, i);
    }
    return json_body(arr, b);
}

/* ---- latest version with metadata ---- */

/* Does version object v carry metadata.properties with every key/value of the request?
 * As Confluent: the i-th key pairs with the i-th value, a later pair wins for a repeated
 * key, and a version without metadata properties matches nothing, even with no pairs. */
static int metadata_matches(json_t *v, const reg_http_req *q)
{
    json_t *props = json_object_get(json_object_get(v, "metadata"), "properties");
    if (!json_is_object(props))
        return 0;
    size_t n = q->n_meta_key < q->n_meta_value ? q->n_meta_key : q->n_meta_value;
    for (size_t i = 0; i < n; i++) {
        size_t last = i; /* the pair that wins for this key */
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(q->meta_key[j], q->meta_key[i]))
                last = j;
        const char *have = json_string_value(json_object_get(props, q->meta_key[i]));
        if (!have || strcmp(have, q->meta_value[last]))
            return 0;
    }
    return 1;
}

/* GET /subjects/{s}/metadata?key=K&value=V...: the newest version (soft-deleted ones
 * with ?deleted) whose metadata properties hold every pair. 40401 when the subject has
 * no such version at all, 40403 when none matches (Confluent's SubjectsResource). */
static cg_err *latest_with_metadata(reg_registry *r, const char *subject, const reg_http_req *q,
                                    reg_body *out)
{
    if (q->meta_overflow)
        return cg_err_new(400, "At most %d metadata key/value pairs are accepted", REG_MAX_META);
    reg_opts o = {.deleted = q->opts.deleted};
    reg_body b = {0};
    json_t *versions = NULL;
    cg_err *err = list_json(reg_versions(r, subject, &o, &b), &b, &versions);
    if (err)
        return err;
    for (size_t i = json_array_size(versions); i-- > 0;) {
        char num[24];
        snprintf(num, sizeof num, "%lld",
                 (long long)json_integer_value(json_array_get(versions, i)));
        cg_err *e = reg_version_get(r, subject, num, &o, 0, &b);
        if (e) { /* deleted meanwhile */
            cg_err_free(e);
            continue;
        }
        json_t *v = json_loadb(b.data, b.len, 0, NULL);
        int hit = metadata_matches(v, q);
        json_decref(v);
        if (hit) {
            *out = b;
            json_decref(versions);
            return NULL;
        }
        free(b.data);
        b = (reg_body){0};
    }
    json_decref(versions);
    return cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema not found");
}

/* ---- access control ---- */

/* The subject a list element stands for: a subject name (/subjects, /schemas/ids/{id}/
 * subjects), an object with "subject" (/schemas, .../versions) or an entity object
 * (/canon/entities), whose canonical subject decides. buf holds a built name. */
static const char *element_subject(int route, json_t *e, char *buf, size_t cap)
{
    if (route == RT_CANON_ENTITIES) {
        const char *entity = json_string_value(json_object_get(e, "entity"));
        if (!entity || reg_canon_subject_name(REG_CANON_SUBJECT_ENTITY, entity, buf, cap))
            return NULL;
        return buf;
    }
    return usage_subject(e);
}

/* Keeps, in a list answer, only what who may read. */
static cg_err *filter_readable(const reg_auth_principal *who, int route, reg_body *b)
{
    if (route != RT_SUBJECTS && route != RT_SCHEMAS && route != RT_SCHEMA_ID_SUBJECTS &&
        route != RT_SCHEMA_ID_VERSIONS && route != RT_CANON_ENTITIES)
        return NULL;
    json_t *arr = NULL;
    cg_err *err = list_json(NULL, b, &arr);
    if (err)
        return err;
    char buf[REG_CANON_SUBJECT_MAX];
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *name = element_subject(route, json_array_get(arr, i), buf, sizeof(buf));
        if (!name || !reg_auth_allows(who, REG_PERM_READ, name))
            json_array_remove(arr, i);
    }
    return json_body(arr, b);
}

static cg_err *forbidden(const reg_auth_principal *who, const char *what, const char *subject,
                         const char *why)
{
    return cg_err_new(
        REG_AUTH_E_FORBIDDEN, "%s '%s' (role %s) may not %s%s%s%s%s", reg_auth_principal_kind(who),
        reg_auth_principal_name(who), reg_auth_role_name(reg_auth_principal_role(who)), what,
        subject ? " subject '" : "", subject ? subject : "", subject ? "'" : "", why ? why : "");
}

cg_err *reg_route_need(const reg_auth_principal *who, reg_auth_perm perm, const char *subject)
{
    if (reg_auth_allows(who, perm, subject))
        return NULL;
    return forbidden(who, perm == REG_PERM_READ ? "read" : "write", subject,
                     perm == REG_PERM_READ ? ": it lacks the read permission on it"
                                           : ": it lacks the write permission on it");
}

/* A body's schema references are read by the registry on the caller's behalf (their text
 * is parsed with the schema, and an answer tells whether they exist): so a caller may
 * reference only subjects it may read. A body that is not JSON passes here and gets its
 * usual error from the route. */
static cg_err *need_references(const reg_auth_principal *who, const reg_http_req *q)
{
    if (reg_auth_reads_all(who) || !q->body || !q->body_len)
        return NULL;
    json_t *doc = json_loadb(q->body, q->body_len, 0, NULL);
    cg_err *err = NULL;
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(doc, "references"), i, ref)
    {
        const char *rs = json_string_value(json_object_get(ref, "subject"));
        if (rs && !reg_auth_allows(who, REG_PERM_READ, rs)) {
            err = forbidden(who, "reference", rs, ": it lacks the read permission on it");
            break;
        }
    }
    json_decref(doc);
    return err;
}

/* A schema id may be read by whoever may read one of the subjects holding it (live or
 * soft-deleted): ids are global, permissions are per subject. An unknown id passes, so
 * the route answers its usual 40403. */
static cg_err *need_id(const reg_route_ctx *ctx, const char *id_text)
{
    if (reg_auth_reads_all(ctx->who))
        return NULL; /* the deserializers' hot path: no list to render */
    int64_t id;
    cg_err *err = parse_id(id_text, &id);
    if (err) {
        cg_err_free(err);
        return NULL;
    }
    reg_opts all = {.deleted = 1};
    reg_body b = {0};
    json_t *uses = NULL;
    err = list_json(reg_schema_versions(ctx->reg, id, &all, &b), &b, &uses);
    if (err) {
        cg_err_free(err);
        return NULL;
    }
    size_t i, n = json_array_size(uses);
    json_t *e;
    int ok = 0;
    json_array_foreach(uses, i, e)
    {
        const char *name = usage_subject(e);
        if (name && reg_auth_allows(ctx->who, REG_PERM_READ, name))
            ok = 1;
    }
    json_decref(uses);
    if (ok || !n)
        return NULL;
    return cg_err_new(REG_AUTH_E_FORBIDDEN,
                      "%s '%s' (role %s) may not read schema %s: it lacks the read permission "
                      "on every subject that holds it",
                      reg_auth_principal_kind(ctx->who), reg_auth_principal_name(ctx->who),
                      reg_auth_role_name(reg_auth_principal_role(ctx->who)), id_text);
}

cg_err *reg_route_authorize(const reg_route_ctx *ctx, int route, const reg_http_req *q)
{
    const reg_auth_principal *who = ctx->who;
    const char *m = q->method;
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    char *const *s = q->seg;
    int admin = reg_auth_principal_role(who) == REG_ROLE_ADMIN;
    cg_err *err;
    if (admin)
        return NULL;
    switch (route) {
    case RT_SUBJECT: /* POST: lookup, a read; DELETE: admin */
        if (!post)
            return forbidden(who, "delete", s[1], ": deletes need the admin role");
        err = reg_route_need(who, REG_PERM_READ, s[1]);
        return err ? err : need_references(who, q);
    case RT_VERSIONS:
        err = reg_route_need(who, post ? REG_PERM_WRITE : REG_PERM_READ, s[1]);
        return err || !post ? err : need_references(who, q);
    case RT_VERSION:
        return get ? reg_route_need(who, REG_PERM_READ, s[1])
                   : forbidden(who, "delete a version of", s[1], ": deletes need the admin role");
    case RT_SUBJECT_METADATA:
    case RT_VERSION_SCHEMA:
    case RT_VERSION_REFERENCEDBY:
        return reg_route_need(who, REG_PERM_READ, s[1]);
    case RT_SCHEMA_ID:
    case RT_SCHEMA_ID_SCHEMA:
    case RT_SCHEMA_ID_SUBJECTS:
    case RT_SCHEMA_ID_VERSIONS:
        return need_id(ctx, s[2]);
    case RT_CONFIG:
    case RT_MODE:
        if (get)
            return NULL;
        return forbidden(who, route == RT_CONFIG ? "change /config" : "change /mode", NULL,
                         ": it needs the admin role");
    case RT_CONFIG_SUBJECT:
    case RT_MODE_SUBJECT:
        if (get)
            return reg_route_need(who, REG_PERM_READ, s[1]);
        return forbidden(
            who, route == RT_CONFIG_SUBJECT ? "change the compatibility of" : "change the mode of",
            s[1], ": it needs the admin role");
    case RT_COMPAT_VERSION:
    case RT_COMPAT_VERSIONS:
        err = reg_route_need(who, REG_PERM_READ, s[2]);
        return err ? err : need_references(who, q);
    case RT_CANON_ENTITY: {
        char subject[REG_CANON_SUBJECT_MAX];
        if (reg_canon_subject_name(REG_CANON_SUBJECT_ENTITY, s[2], subject, sizeof(subject)))
            return NULL; /* not an entity name: the route answers 40401 */
        return reg_route_need(who, REG_PERM_READ, subject);
    }
    case RT_CANON_BINDINGS:
        return q->opts.subject ? reg_route_need(who, REG_PERM_READ, q->opts.subject) : NULL;
    default: /* lists (filtered), /metrics, /schemas/types: any authenticated caller */
        return NULL;
    }
}

static int is_paged(int route)
{
    return route == RT_SUBJECTS || route == RT_SCHEMAS || route == RT_CONTEXTS;
}

void reg_route_run(const reg_route_ctx *ctx, int route, const reg_http_req *q, reg_http_resp *resp)
{
    reg_registry *r = ctx->reg;
    const reg_opts *o = &q->opts;
    const char *m = q->method;
    /* HEAD is a GET without the body (libmicrohttpd drops it): it must never reach a
     * delete branch. */
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST"),
        put = !strcmp(m, "PUT");
    int del = !strcmp(m, "DELETE");
    cg_err *err = NULL;
    int64_t id = 0;
    size_t ctx_len = 0;
    char *const *s = q->seg;

    resp->status = 200;
    resp->kind = RB_JSON;
    if (q->bad_paging && is_paged(route)) {
        /* JAX-RS cannot convert the int parameter: Confluent answers 404. */
        reg_http_error(resp, 404, "HTTP 404 Not Found");
        return;
    }
    switch (route) {
    case RT_ROOT:
        err = text_body("{}", &resp->body);
        break;
    case RT_HEALTH: {
        size_t ns, nsub;
        reg_registry_stats(r, &ns, &nsub);
        char buf[128];
        snprintf(buf, sizeof(buf), "{\"status\":\"UP\",\"schemas\":%zu,\"subjects\":%zu}", ns,
                 nsub);
        err = text_body(buf, &resp->body);
        break;
    }
    case RT_METRICS: {
        size_t ns, nsub, len = 0;
        reg_registry_stats(r, &ns, &nsub);
        resp->body.data = reg_metrics_render(ctx->metrics, ns, nsub, &len);
        resp->body.len = len;
        resp->kind = RB_TEXT;
        if (!resp->body.data) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            break;
        }
        if (ctx->server && ctx->server->metrics_extra) {
            size_t xlen = 0;
            char *x = ctx->server->metrics_extra(ctx->server->metrics_opaque, &xlen);
            char *both = x ? realloc(resp->body.data, len + xlen + 1) : NULL;
            if (both) {
                memcpy(both + len, x, xlen);
                both[len + xlen] = 0;
                resp->body.data = both;
                resp->body.len = len + xlen;
            }
            free(x);
        }
        break;
    }
    case RT_CONTEXTS:
        err = contexts_body(r, ctx->who, &resp->body);
        break;
    case RT_SUBJECTS:
        err = reg_subjects(r, o, &resp->body);
        break;
    case RT_SUBJECT:
        if (post)
            err = reg_lookup(r, s[1], q->body, q->body_len, o, &resp->body);
        else
            err = reg_delete_subject(r, s[1], o, &resp->body);
        break;
    case RT_VERSIONS:
        if (post)
            err = reg_register(r, s[1], q->body, q->body_len, o, &resp->body);
        else
            err = reg_versions(r, s[1], o, &resp->body);
        break;
    case RT_SUBJECT_METADATA:
        err = latest_with_metadata(r, s[1], q, &resp->body);
        break;
    case RT_VERSION:
        if (get)
            err = reg_version_get(r, s[1], s[3], o, 0, &resp->body);
        else
            err = reg_delete_version(r, s[1], s[3], o, &resp->body);
        break;
    case RT_VERSION_SCHEMA:
        err = reg_version_get(r, s[1], s[3], o, 1, &resp->body);
        break;
    case RT_VERSION_REFERENCEDBY:
        err = reg_referenced_by(r, s[1], s[3], &resp->body);
        break;
    case RT_SCHEMAS:
        err = reg_schemas_list(r, o, &resp->body);
        break;
    case RT_SCHEMA_TYPES:
        err = reg_schema_types(r, &resp->body);
        break;
    case RT_SCHEMA_ID:
    case RT_SCHEMA_ID_SCHEMA:
    case RT_SCHEMA_ID_SUBJECTS:
    case RT_SCHEMA_ID_VERSIONS:
        err = parse_id(s[2], &id);
        if (!err)
            err = check_subject_context(r, id, o, &ctx_len);
        if (err)
            break;
        if (route == RT_SCHEMA_ID && !o->fetch_max_id) {
            const char *data = NULL;
            size_t len = 0;
            err = reg_schema_body_ref(r, id, &data, &len);
            if (!err) {
                resp->body.data = (char *)data;
                resp->body.len = len;
                resp->borrowed = 1;
            }
        } else if (route == RT_SCHEMA_ID)
            err = reg_schema_get(r, id, o, 0, &resp->body);
        else if (route == RT_SCHEMA_ID_SCHEMA)
            err = reg_schema_get(r, id, o, 1, &resp->body);
        else if (route == RT_SCHEMA_ID_SUBJECTS)
            err = reg_schema_subjects(r, id, o, &resp->body);
        else
            err = reg_schema_versions(r, id, o, &resp->body);
        if (!err && ctx_len && (route == RT_SCHEMA_ID_SUBJECTS || route == RT_SCHEMA_ID_VERSIONS))
            err = filter_usage(&resp->body, o->subject, ctx_len);
        break;
    case RT_CONFIG:
    case RT_CONFIG_SUBJECT:
    case RT_MODE:
    case RT_MODE_SUBJECT: {
        reg_setting which = route == RT_CONFIG || route == RT_CONFIG_SUBJECT ? REG_SETTING_COMPAT
                                                                             : REG_SETTING_MODE;
        const char *subj = route == RT_CONFIG || route == RT_MODE ? NULL : s[1];
        if (get)
            err = reg_setting_get(r, which, subj, o, &resp->body);
        else if (put)
            err = reg_setting_put(r, which, subj, q->body, q->body_len, o, &resp->body);
        else if (del)
            err = reg_setting_delete(r, which, subj, &resp->body);
        break;
    }
    case RT_COMPAT_VERSION:
        err = reg_compat_test(r, s[2], s[4], q->body, q->body_len, o, &resp->body);
        break;
    case RT_COMPAT_VERSIONS:
        err = reg_compat_test(r, s[2], NULL, q->body, q->body_len, o, &resp->body);
        break;
    case RT_CANON_ENTITIES:
        err = reg_canon_entities(r, &resp->body);
        break;
    case RT_CANON_ENTITY:
        err = reg_canon_entity(r, s[2], &resp->body);
        break;
    case RT_CANON_BINDINGS:
        reg_canon_bindings_route(ctx, q, resp); /* answers errors itself */
        return;
    default:
        reg_http_error(resp, 404, "HTTP 404 Not Found");
        return;
    }
    if (!err && ctx->who && !reg_auth_reads_all(ctx->who))
        err = filter_readable(ctx->who, route, &resp->body);
    if (!err && is_paged(route))
        err = page_body(&resp->body, q->offset, q->limit);
    if (err)
        reg_http_error_from(resp, err);
}

int reg_route_split_path(const char *url, char *buf, char **seg, size_t max_seg, size_t *nseg)
{
    *nseg = 0;
    const char *p = url;
    char *o = buf;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        if (*nseg == max_seg)
            return -1;
        seg[(*nseg)++] = o;
        for (; *p && *p != '/'; p++) {
            if (*p == '%' && cg_hex_digit(p[1]) >= 0 && cg_hex_digit(p[2]) >= 0) {
                int c = cg_hex_digit(p[1]) * 16 + cg_hex_digit(p[2]);
                /* A decoded NUL would silently cut the segment (a subject "ab%00cd"
                 * registered as "ab"): refuse the path instead. */
                if (c == 0)
                    return -1;
                *o++ = (char)c;
                p += 2;
            } else {
                *o++ = *p;
            }
        }
        *o++ = '\0';
    }
    return 0;
}
