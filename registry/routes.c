/* routes.c - the REST API's routes: path templates to registry operations.
 *
 * Paths are matched on URL-decoded segments, so a subject may contain any character,
 * '/' included when sent as %2F. Errors carry Confluent's error codes; the HTTP status is
 * derived from the code (40401 -> 404, 42201 -> 422, 409 -> 409, 50001 -> 500). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

static cg_err *parse_id(const char *s, int64_t *id)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0 || v > INT32_MAX)
        return cg_err_new(CG_ESCHEMA_NOT_FOUND, "Schema %s not found", s);
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

void reg_route_run(const reg_route_ctx *ctx, int route, const reg_http_req *q, reg_http_resp *resp)
{
    reg_registry *r = ctx->reg;
    const reg_opts *o = &q->opts;
    const char *m = q->method;
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), put = !strcmp(m, "PUT");
    int del = !strcmp(m, "DELETE");
    cg_err *err = NULL;
    int64_t id = 0;
    char *const *s = q->seg;

    resp->status = 200;
    resp->kind = RB_JSON;
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
        if (!resp->body.data)
            err = cg_err_new(CG_ENOMEM, "out of memory");
        break;
    }
    case RT_CONTEXTS:
        err = text_body("[\".\"]", &resp->body);
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
        break;
    case RT_CONFIG:
    case RT_CONFIG_SUBJECT: {
        const char *subj = route == RT_CONFIG ? NULL : s[1];
        if (get)
            err = reg_config_get(r, subj, o, &resp->body);
        else if (put)
            err = reg_config_put(r, subj, q->body, q->body_len, &resp->body);
        else if (del)
            err = reg_config_delete(r, subj, &resp->body);
        break;
    }
    case RT_MODE:
    case RT_MODE_SUBJECT: {
        const char *subj = route == RT_MODE ? NULL : s[1];
        if (get)
            err = reg_mode_get(r, subj, o, &resp->body);
        else if (put)
            err = reg_mode_put(r, subj, q->body, q->body_len, o, &resp->body);
        else if (del)
            err = reg_mode_delete(r, subj, &resp->body);
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
    default:
        reg_http_error(resp, 404, "HTTP 404 Not Found");
        return;
    }
    if (err)
        reg_http_error_from(resp, err);
}
