/* cmd_gen.c - `canon gen`: write a C, Python or Java binding for an Avro schema.
 *
 * The schema comes from a file (with its references given as files, like `canon check`)
 * or from a registry (GET /subjects/S/versions/V, references fetched the same way). It
 * is parsed exactly as the registry parses it, then handed to the language's generator
 * (codegen/gen.h), whose files are written under --out only once generation succeeded,
 * so a failure never leaves a half-written binding.
 *
 * The registry is read with the same client the aggregator and the tools use
 * (canon/registry_client.h): one GET per schema and per reference.
 *
 * Exit status: 0 written, 1 failure (schema, registry, generator, file system), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../canon/registry_client.h"
#include "../common/file.h"
#include "cmds.h"
#include "codegen/gen.h"
#include "registry/schema.h"

#define MAX_SCHEMA_BYTES (16u << 20)
#define MAX_REFS         64

static void usage(FILE *out)
{
    fprintf(out, "usage: canon gen --lang c|python|java --out DIR --schema FILE.avsc [options]\n"
                 "       canon gen --lang c|python|java --out DIR --registry URL --subject S\n"
                 "                 [--version V] [options]\n"
                 "\n"
                 "Writes a binding for an Avro schema into DIR: the types, Avro binary encode and\n"
                 "decode, Confluent framing, Avro JSON conversion and, for a canonical entity\n"
                 "(a record with canon.key), the update builder, the envelope decoder and the\n"
                 "Kafka producer/consumer helpers. See docs/bindings.md.\n"
                 "\n"
                 "options:\n"
                 "  --lang L            c, python or java\n"
                 "  --out DIR           output directory (created; files in it are replaced)\n"
                 "  --schema FILE       the schema, from a file ('-' reads stdin)\n"
                 "  -r, --ref FILE      a schema FILE references (repeatable; each may use the\n"
                 "                      ones before it)\n"
                 "  --registry URL      fetch the schema from a registry: http://HOST:PORT or\n"
                 "                      https://HOST:PORT (TLS and credentials: docs/security.md)\n"
                 "  --subject S         the subject to fetch (with --registry)\n"
                 "  --version V         the version to fetch: a number or latest (default latest)\n"
                 "  --root-name N       name of the generated type when the root schema is not a\n"
                 "                      named type, e.g. \"int\" or a union (default Root)\n"
                 "  --harness           also write roundtrip.sh, the program the cross-language\n"
                 "                      tests drive (tests/bindings/roundtrip)\n"
                 "  -h, --help          this help\n"
                 "\n"
                 "exit status: 0 written, 1 failure, 2 usage error\n"
                 "\n"
                 "examples:\n"
                 "  canon gen --lang c --schema schemas/person.avsc --out gen/person-c\n"
                 "  canon gen --lang java --registry http://127.0.0.1:8081 \\\n"
                 "            --subject canon.person.entity --out gen/person-java\n");
}

/* ---- a minimal HTTP/1.1 GET ------------------------------------------------------ */

/* ---- schemas from the registry --------------------------------------------------- */

/* What one fetch adds: the parsed schemas in dependency order (references first). */
typedef struct fetched {
    reg_schema *refs[MAX_REFS];
    size_t n_refs;
} fetched;

static cg_err *fetch_version(canon_registry *reg, const char *subject, const char *version,
                             fetched *fx, int depth, reg_schema **out, char **text_out,
                             int *version_out)
{
    cg_err *err = NULL;
    const char *url = canon_registry_url(reg);
    char *path = NULL, *subj_enc = NULL, *ver_enc = NULL;
    json_t *doc = NULL;
    int status = 0;
    reg_schema *s = NULL;

    if (depth > 16)
        return cg_err_new(CG_EINVAL, "schema references nested deeper than 16 levels");
    subj_enc = canon_registry_escape(subject);
    ver_enc = canon_registry_escape(version);
    if (subj_enc && ver_enc) {
        size_t n = strlen(subj_enc) + strlen(ver_enc) + 32;
        path = malloc(n);
        if (path)
            snprintf(path, n, "/subjects/%s/versions/%s", subj_enc, ver_enc);
    }
    if (!path) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    err = canon_registry_request(reg, "GET", path, NULL, &status, &doc);
    if (err)
        goto done;
    if (status != 200) {
        json_t *code = doc ? json_object_get(doc, "error_code") : NULL;
        json_t *msg = doc ? json_object_get(doc, "message") : NULL;
        int c = json_is_integer(code) ? (int)json_integer_value(code) : status;
        err = cg_err_new(c, "registry %s: subject '%s' version %s: %s (error %d)", url, subject,
                         version, json_is_string(msg) ? json_string_value(msg) : "HTTP error", c);
        goto done;
    }
    const char *text = doc ? json_string_value(json_object_get(doc, "schema")) : NULL;
    if (!text) {
        err = cg_err_new(CG_EPARSE, "registry %s: answer for subject '%s' has no schema", url,
                         subject);
        goto done;
    }
    const char *type = json_string_value(json_object_get(doc, "schemaType"));
    if (type && strcmp(type, "AVRO")) {
        err = cg_err_new(CG_EINVALID_SCHEMA, "subject '%s' holds a %s schema, not Avro", subject,
                         type);
        goto done;
    }
    /* References first, in the order given, each parsed with the ones fetched so far. */
    json_t *refs = json_object_get(doc, "references");
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *rs = json_string_value(json_object_get(r, "subject"));
        json_t *rv = json_object_get(r, "version");
        char vbuf[32];
        if (!rs || !json_is_integer(rv)) {
            err = cg_err_new(CG_EPARSE, "subject '%s': malformed reference", subject);
            goto done;
        }
        snprintf(vbuf, sizeof(vbuf), "%lld", (long long)json_integer_value(rv));
        reg_schema *rsch = NULL;
        err = fetch_version(reg, rs, vbuf, fx, depth + 1, &rsch, NULL, NULL);
        if (err)
            goto done;
        if (fx->n_refs == MAX_REFS) {
            reg_schema_free(rsch);
            err = cg_err_new(CG_EINVAL, "more than %d schema references", MAX_REFS);
            goto done;
        }
        fx->refs[fx->n_refs++] = rsch;
    }
    err = reg_schema_parse(text, strlen(text), (const reg_schema *const *)fx->refs, fx->n_refs, &s);
    if (err) {
        err = cg_err_wrap(err, "subject '%s' version %s: ", subject, version);
        goto done;
    }
    if (text_out) {
        *text_out = strdup(text);
        if (!*text_out) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (version_out) {
        json_t *v = json_object_get(doc, "version");
        *version_out = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    }
    *out = s;
    s = NULL;
done:
    reg_schema_free(s);
    json_decref(doc);
    free(path);
    free(subj_enc);
    free(ver_enc);
    return err;
}

/* ---- the command ----------------------------------------------------------------- */

int cmd_gen(int argc, char **argv)
{
    const char *lang_name = NULL, *out_dir = NULL, *schema_path = NULL, *registry = NULL;
    const char *subject = NULL, *version = "latest", *root_name = NULL;
    const char *ref_paths[MAX_REFS];
    size_t n_ref_paths = 0;
    int harness = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--harness")) {
            harness = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "canon gen: unknown option or missing value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--lang"))
            lang_name = val;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o"))
            out_dir = val;
        else if (!strcmp(a, "--schema"))
            schema_path = val;
        else if (!strcmp(a, "--registry"))
            registry = val;
        else if (!strcmp(a, "--subject"))
            subject = val;
        else if (!strcmp(a, "--version"))
            version = val;
        else if (!strcmp(a, "--root-name"))
            root_name = val;
        else if (!strcmp(a, "-r") || !strcmp(a, "--ref")) {
            if (n_ref_paths == MAX_REFS) {
                fprintf(stderr, "canon gen: at most %d --ref\n", MAX_REFS);
                return 2;
            }
            ref_paths[n_ref_paths++] = val;
        } else {
            fprintf(stderr, "canon gen: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }

    gen_lang lang;
    if (!lang_name) {
        fprintf(stderr, "canon gen: --lang is required (c, python or java)\n");
        return 2;
    }
    if (gen_lang_parse(lang_name, &lang)) {
        fprintf(stderr, "canon gen: unknown language '%s' (want c, python or java)\n", lang_name);
        return 2;
    }
    if (!out_dir) {
        fprintf(stderr, "canon gen: --out DIR is required\n");
        return 2;
    }
    if (!!schema_path == !!registry) {
        fprintf(stderr, "canon gen: give either --schema FILE or --registry URL --subject S\n");
        return 2;
    }
    if (registry && !subject) {
        fprintf(stderr, "canon gen: --registry needs --subject\n");
        return 2;
    }
    if (!registry && subject) {
        fprintf(stderr, "canon gen: --subject goes with --registry\n");
        return 2;
    }
    if (registry && n_ref_paths) {
        fprintf(stderr, "canon gen: --ref is for --schema; the registry gives references\n");
        return 2;
    }
    if (root_name && !*root_name) {
        fprintf(stderr, "canon gen: --root-name must not be empty\n");
        return 2;
    }

    cg_err *err = NULL;
    fetched fx = {0};
    reg_schema *s = NULL;
    char *text = NULL, *origin = NULL;
    gen_files *files = NULL;
    canon_registry *reg = NULL;

    if (schema_path) {
        for (size_t i = 0; i < n_ref_paths && !err; i++) {
            char *rt = NULL;
            size_t rl = 0;
            err = cg_read_file(ref_paths[i], MAX_SCHEMA_BYTES, &rt, &rl);
            if (!err)
                err = reg_schema_parse(rt, rl, (const reg_schema *const *)fx.refs, fx.n_refs,
                                       &fx.refs[fx.n_refs]);
            free(rt);
            if (err)
                err = cg_err_wrap(err, "reference %s: ", ref_paths[i]);
            else
                fx.n_refs++;
        }
        size_t len = 0;
        if (!err)
            err = cg_read_file(schema_path, MAX_SCHEMA_BYTES, &text, &len);
        if (!err) {
            err = reg_schema_parse(text, len, (const reg_schema *const *)fx.refs, fx.n_refs, &s);
            if (err)
                err = cg_err_wrap(err, "invalid schema %s: ", schema_path);
        }
        if (!err)
            origin = strdup(strcmp(schema_path, "-") ? schema_path : "stdin");
    } else {
        int got_version = 0;
        err = canon_registry_new(registry, 30000, &reg);
        if (!err) /* the URL without credentials: it goes into the generated files */
            registry = canon_registry_url(reg);
        if (!err)
            err = fetch_version(reg, subject, version, &fx, 0, &s, &text, &got_version);
        if (!err) {
            size_t n = strlen(registry) + strlen(subject) + 64;
            origin = malloc(n);
            if (origin)
                snprintf(origin, n, "%s subject %s version %d", registry, subject, got_version);
        }
    }
    if (!err && !origin)
        err = cg_err_new(CG_ENOMEM, "out of memory");
    if (err)
        goto done;

    gen_opts o = {0};
    o.root_name = root_name;
    o.origin = origin;
    o.registry_url = registry;
    o.harness = harness;
    files = gen_files_new();
    if (!files) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    err = gen_run(lang, s, text, &o, files);
    if (err) {
        err = cg_err_wrap(err, "%s generator: ", gen_lang_name(lang));
        goto done;
    }
    err = gen_files_write_dir(files, out_dir);
    if (err)
        goto done;
    fprintf(stderr, "canon gen: wrote %zu files for %s to %s\n", gen_files_count(files),
            gen_lang_name(lang), out_dir);
done:
    if (err)
        fprintf(stderr, "canon gen: %s\n", cg_err_msg(err));
    int rc = err ? 1 : 0;
    cg_err_free(err);
    gen_files_free(files);
    canon_registry_free(reg);
    reg_schema_free(s);
    for (size_t i = fx.n_refs; i-- > 0;)
        reg_schema_free(fx.refs[i]);
    free(text);
    free(origin);
    return rc;
}
