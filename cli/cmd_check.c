/* cmd_check.c - `canon check`: validate an Avro schema file the way the registry will.
 *
 * Runs exactly the registry's parse (specification rules, defaults against types, Avro C
 * as a second gate) and, for a canonical schema (one with canon.key), the canon contract,
 * so a schema that passes here is accepted at registration. Prints what a person needs to
 * compare schemas (canonical form, fingerprints) or, with --json, one JSON object a script
 * can read. Exit status: 0 valid, 1 invalid (schema or contract), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/file.h"
#include "cmds.h"
#include "registry/canon_contract.h"
#include "registry/schema.h"

#define MAX_SCHEMA_BYTES (16u << 20)
#define MAX_REFS         64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: canon check [options] FILE.avsc\n"
            "       canon check [options] -          (read the schema from stdin)\n"
            "\n"
            "Validates an Avro schema as the registry does: the Avro specification's rules\n"
            "(names, namespaces, unions, fixed sizes, logical types), field and enum defaults\n"
            "against their types (a union's default must match its first branch), and Avro C.\n"
            "Prints the Parsing Canonical Form, its CRC-64-AVRO (Rabin) fingerprint, MD5 and\n"
            "SHA-256, and any warnings (e.g. an ignored logical type). A schema with a\n"
            "\"canon.key\" property is also checked against the canon contract.\n"
            "\n"
            "options:\n"
            "  --json              print one JSON object instead of text\n"
            "  --normalized        also print the normalized form (the registry's identity)\n"
            "  -r, --ref FILE      a referenced schema whose named types FILE.avsc may use\n"
            "                      (repeatable; each may use the ones before it)\n"
            "  -h, --help          this help\n"
            "\n"
            "exit status: 0 valid, 1 invalid schema or broken contract, 2 usage error\n"
            "\n"
            "examples:\n"
            "  canon check schemas/person.avsc\n"
            "  canon check --json - < person.avsc | jq -r .fingerprint\n");
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* Parses the references in order, each seeing the ones before it. */
static cg_err *load_refs(char **paths, size_t n, reg_schema **refs)
{
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        cg_err *err = cg_read_file(paths[i], MAX_SCHEMA_BYTES, &text, &len);
        if (!err)
            err = reg_schema_parse(text, len, (const reg_schema *const *)refs, i, &refs[i]);
        free(text);
        if (err)
            return cg_err_wrap(err, "reference %s: ", paths[i]);
    }
    return NULL;
}

typedef struct report {
    const char *file;
    const reg_schema *s;
    cg_err *contract; /* NULL when the contract holds or does not apply */
    int canonical;    /* has canon.key */
    int normalized;
} report;

static int print_json(const report *r, const cg_err *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(r->file));
    if (err) {
        json_object_set_new(o, "valid", json_false());
        json_object_set_new(o, "error_code", json_integer(cg_err_code(err)));
        json_object_set_new(o, "message", json_string(cg_err_msg(err)));
    } else {
        const reg_node *root = reg_schema_root(r->s);
        unsigned char md5[16], sha[32];
        char fp[17], fple[17], h[65];
        uint64_t f = reg_schema_fingerprint(r->s);
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)(f >> (8 * i));
        snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)f);
        hex(le, 8, fple);
        json_object_set_new(o, "valid", json_boolean(!r->contract));
        json_object_set_new(o, "type", json_string(reg_type_name(root->type)));
        json_object_set_new(o, "name", root->fullname ? json_string(root->fullname) : json_null());
        json_object_set_new(o, "canonical", json_string(reg_schema_canonical(r->s)));
        json_object_set_new(o, "fingerprint", json_string(fp));
        json_object_set_new(o, "fingerprint_le", json_string(fple));
        reg_schema_md5(r->s, md5);
        hex(md5, 16, h);
        json_object_set_new(o, "md5", json_string(h));
        reg_schema_sha256(r->s, sha);
        hex(sha, 32, h);
        json_object_set_new(o, "sha256", json_string(h));
        if (r->normalized)
            json_object_set_new(o, "normalized", json_string(reg_schema_normalized(r->s)));
        json_t *w = json_array();
        const char *const *ws = reg_schema_warnings(r->s);
        for (size_t i = 0; ws && ws[i]; i++)
            json_array_append_new(w, json_string(ws[i]));
        json_object_set_new(o, "warnings", w);
        if (r->canonical) {
            json_t *c = json_object();
            json_object_set_new(c, "key",
                                json_deep_copy(json_object_get(root->props, "canon.key")));
            json_object_set_new(c, "valid", json_boolean(!r->contract));
            json_object_set_new(c, "message",
                                r->contract ? json_string(cg_err_msg(r->contract)) : json_null());
            json_object_set_new(o, "contract", c);
        } else {
            json_object_set_new(o, "contract", json_null());
        }
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text) {
        fprintf(stderr, "canon check: out of memory\n");
        return 1;
    }
    puts(text);
    free(text);
    return err || r->contract ? 1 : 0;
}

static int print_text(const report *r)
{
    const reg_node *root = reg_schema_root(r->s);
    unsigned char md5[16], sha[32];
    char h[65];
    printf("%s: valid Avro schema (%s%s%s)\n", r->file, reg_type_name(root->type),
           root->fullname ? " " : "", root->fullname ? root->fullname : "");
    printf("canonical:   %s\n", reg_schema_canonical(r->s));
    printf("fingerprint: %016llx (CRC-64-AVRO)\n",
           (unsigned long long)reg_schema_fingerprint(r->s));
    reg_schema_md5(r->s, md5);
    hex(md5, 16, h);
    printf("md5:         %s\n", h);
    reg_schema_sha256(r->s, sha);
    hex(sha, 32, h);
    printf("sha256:      %s\n", h);
    if (r->normalized)
        printf("normalized:  %s\n", reg_schema_normalized(r->s));
    const char *const *ws = reg_schema_warnings(r->s);
    for (size_t i = 0; ws && ws[i]; i++)
        printf("warning:     %s\n", ws[i]);
    if (!r->canonical)
        printf("contract:    not a canonical schema (no canon.key)\n");
    else if (r->contract)
        printf("contract:    BROKEN: %s\n", cg_err_msg(r->contract));
    else
        printf("contract:    ok (canon.key '%s')\n",
               json_string_value(json_object_get(root->props, "canon.key")));
    return r->contract ? 1 : 0;
}

int cmd_check(int argc, char **argv)
{
    int json = 0, normalized = 0, rc = 1;
    const char *file = NULL;
    char *ref_paths[MAX_REFS];
    reg_schema *refs[MAX_REFS] = {0};
    size_t n_refs = 0;
    char *text = NULL;
    size_t len = 0;
    reg_schema *s = NULL;
    cg_err *err = NULL;
    report r = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--normalized")) {
            normalized = 1;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--ref")) {
            if (i + 1 >= argc || n_refs == MAX_REFS) {
                fprintf(stderr, "canon check: %s needs a FILE (at most %d)\n", a, MAX_REFS);
                return 2;
            }
            ref_paths[n_refs++] = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "canon check: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else if (file) {
            fprintf(stderr, "canon check: one schema file at a time ('%s' and '%s')\n", file, a);
            return 2;
        } else {
            file = a;
        }
    }
    if (!file) {
        usage(stderr);
        return 2;
    }
    r.file = strcmp(file, "-") == 0 ? "<stdin>" : file;
    r.normalized = normalized;

    err = load_refs(ref_paths, n_refs, refs);
    if (!err)
        err = cg_read_file(file, MAX_SCHEMA_BYTES, &text, &len);
    if (!err)
        err = reg_schema_parse(text, len, (const reg_schema *const *)refs, n_refs, &s);
    if (err) {
        if (json)
            print_json(&r, err);
        else
            fprintf(stderr, "%s: invalid: %s\n", r.file, cg_err_msg(err));
        rc = 1;
        goto done;
    }
    r.s = s;
    const reg_node *root = reg_schema_root(s);
    r.canonical = root->props && json_object_get(root->props, "canon.key") != NULL;
    if (r.canonical)
        r.contract = reg_canon_validate(s);
    rc = json ? print_json(&r, NULL) : print_text(&r);
done:
    cg_err_free(err);
    cg_err_free(r.contract);
    reg_schema_free(s);
    /* References are freed after the schema that uses them, last first. */
    for (size_t i = n_refs; i > 0; i--)
        reg_schema_free(refs[i - 1]);
    free(text);
    return rc;
}
