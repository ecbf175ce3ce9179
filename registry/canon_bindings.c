/* canon_bindings.c - the route GET /canon/bindings/{lang}?subject=S&version=V.
 *
 * Looks the version up exactly as GET /subjects/S/versions/V does (so the errors are
 * the same: 40401 unknown subject, 40402 unknown version, 42202 a bad version), parses
 * it with its references (with access control on, the caller must be able to read each
 * referenced subject too, else 40301: their text goes into the archive), and hands it to
 * the generator hook (canon_bindings.h), whose tar.gz is the answer: application/gzip,
 * with a Content-Disposition naming the file
 * "<subject>-v<version>-<lang>.tar.gz" whose entries sit in the directory of that name.
 * The route answers the same bytes as `canon gen --registry` writes, because both run
 * the same generator on the same schema text.
 */
#define _GNU_SOURCE /* asprintf */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon_bindings.h"
#include "http_internal.h"

#define MAX_REFS 64

/* The referenced schemas loaded so far, each once however often it is referenced: a
 * schema referenced from several places (a diamond) is fetched and parsed once. */
typedef struct refs {
    reg_schema *s[MAX_REFS];
    char *key[MAX_REFS]; /* "<subject>\n<version>" as referenced; owned */
    size_t n;
} refs;

static reg_schema *refs_find(const refs *rf, const char *key)
{
    for (size_t i = 0; i < rf->n; i++)
        if (!strcmp(rf->key[i], key))
            return rf->s[i];
    return NULL;
}

static void refs_clear(refs *rf)
{
    for (size_t i = rf->n; i-- > 0;) {
        reg_schema_free(rf->s[i]);
        free(rf->key[i]);
    }
    rf->n = 0;
}

/* Fetches subject/version as the registry renders it, with its references loaded into
 * rf first (dependencies before dependants). Each schema is parsed with its own direct
 * references only, as the registry parses it: those see theirs in turn, so a lookup
 * walks the reference graph once (reg_schema_parse()); parsing each against all the
 * schemas loaded before it made lookups exponential in the number of references. The
 * bindings carry the referenced schemas' text, so who (NULL: access control off) must be
 * able to read each referenced subject, not only the one the route names
 * (reg_route_authorize() checked that one). */
static cg_err *load_version(reg_registry *r, const reg_auth_principal *who, const char *subject,
                            const char *version, refs *rf, int depth, reg_schema **out,
                            char **text_out, int *version_out)
{
    cg_err *err = NULL;
    reg_body body = {0};
    json_t *doc = NULL;
    const reg_schema **own = NULL; /* this schema's direct references, borrowed from rf */
    reg_opts o;
    memset(&o, 0, sizeof(o));
    if (depth > 16)
        return cg_err_new(CG_EINVALID_SCHEMA, "schema references nested deeper than 16 levels");
    err = reg_version_get(r, subject, version, &o, 0, &body);
    if (err)
        return err;
    doc = json_loadb(body.data, body.len, 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "schema"));
    if (!text) {
        err = cg_err_new(CG_ESTORE, "subject '%s' version %s: stored version has no schema",
                         subject, version);
        goto done;
    }
    const char *type = json_string_value(json_object_get(doc, "schemaType"));
    if (type && strcmp(type, "AVRO")) {
        err = cg_err_new(CG_EINVALID_SCHEMA, "subject '%s' holds a %s schema, not Avro", subject,
                         type);
        goto done;
    }
    json_t *refs_doc = json_object_get(doc, "references");
    size_t n_own = json_array_size(refs_doc);
    if (n_own) {
        own = calloc(n_own, sizeof(*own));
        if (!own) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
    }
    size_t i;
    json_t *ref;
    json_array_foreach(refs_doc, i, ref)
    {
        const char *rs = json_string_value(json_object_get(ref, "subject"));
        json_t *rv = json_object_get(ref, "version");
        char vbuf[32];
        if (!rs || !json_is_integer(rv)) {
            err = cg_err_new(CG_ESTORE, "subject '%s': malformed reference", subject);
            goto done;
        }
        if (who) {
            /* Checked before the lookup, so a refusal says nothing of whether it exists. */
            err = reg_route_need(who, REG_PERM_READ, rs);
            if (err) {
                err = cg_err_wrap(err, "subject '%s' version %s references subject '%s': ", subject,
                                  version, rs);
                goto done;
            }
        }
        snprintf(vbuf, sizeof(vbuf), "%lld", (long long)json_integer_value(rv));
        char *key = NULL;
        if (asprintf(&key, "%s\n%s", rs, vbuf) < 0) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
        own[i] = refs_find(rf, key);
        if (own[i]) {
            free(key);
            continue;
        }
        reg_schema *rs_parsed = NULL;
        err = load_version(r, who, rs, vbuf, rf, depth + 1, &rs_parsed, NULL, NULL);
        /* Checked here, after the nested loads appended theirs. */
        if (!err && rf->n == MAX_REFS)
            err = cg_err_new(CG_EINVALID_SCHEMA, "more than %d schema references", MAX_REFS);
        if (err) {
            reg_schema_free(rs_parsed);
            free(key);
            goto done;
        }
        rf->s[rf->n] = rs_parsed;
        rf->key[rf->n++] = key;
        own[i] = rs_parsed;
    }
    err = reg_schema_parse(text, strlen(text), own, n_own, out);
    if (err) {
        err = cg_err_wrap(err, "subject '%s' version %s: ", subject, version);
        goto done;
    }
    if (text_out) {
        *text_out = strdup(text);
        if (!*text_out) {
            reg_schema_free(*out);
            *out = NULL;
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (version_out)
        *version_out = (int)json_integer_value(json_object_get(doc, "version"));
done:
    free(own);
    json_decref(doc);
    free(body.data);
    return err;
}

/* A name safe in a file name and a header value: subjects may hold anything. */
static void safe_name(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 1 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        out[o++] = ok ? (char)c : '_';
    }
    out[o] = '\0';
    if (o == 0 || out[0] == '.') { /* no empty or hidden names */
        out[0] = '_';
        if (o == 0)
            out[1] = '\0';
    }
}

void reg_canon_bindings_route(const reg_route_ctx *ctx, const reg_http_req *q, reg_http_resp *resp)
{
    cg_err *err = NULL;
    refs rf = {{0}, {0}, 0};
    reg_schema *s = NULL;
    char *text = NULL;
    unsigned char *tgz = NULL;
    size_t tgz_len = 0;
    const reg_bindings_hook *hook = ctx->bindings;
    const char *lang = q->seg[2];
    const char *subject = q->opts.subject;
    const char *version = q->version ? q->version : "latest";

    if (!hook || !hook->generate || !hook->lang_known) {
        reg_http_error(resp, 404, "binding generation is not available in this server");
        return;
    }
    if (!hook->lang_known(hook->ctx, lang)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "unknown language '%.64s': want c, python or java", lang);
        reg_http_error(resp, CG_EHTTP_UNPROCESSABLE, msg);
        return;
    }
    if (!subject || !*subject) {
        reg_http_error(resp, CG_EHTTP_UNPROCESSABLE, "query parameter 'subject' is required");
        return;
    }
    int got_version = 0;
    err = load_version(ctx->reg, ctx->who, subject, version, &rf, 0, &s, &text, &got_version);
    if (err)
        goto done;

    char sname[128], prefix[200], origin[400];
    safe_name(subject, sname, sizeof(sname));
    snprintf(prefix, sizeof(prefix), "%s-v%d-%s", sname, got_version, lang);
    snprintf(origin, sizeof(origin), "registry subject %.200s version %d", subject, got_version);
    err = hook->generate(hook->ctx, lang, s, text, origin, prefix, &tgz, &tgz_len);
    if (err)
        goto done;
    size_t dl = strlen(prefix) + 64;
    char *disp = malloc(dl);
    if (!disp) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(disp, dl, "attachment; filename=\"%s.tar.gz\"", prefix);
    resp->status = 200;
    resp->kind = RB_BINARY;
    resp->content_type = "application/gzip";
    resp->disposition = disp;
    resp->body.data = (char *)tgz;
    resp->body.len = tgz_len;
    tgz = NULL;
done:
    if (err)
        reg_http_error_from(resp, err);
    free(tgz);
    free(text);
    reg_schema_free(s);
    refs_clear(&rf);
}
