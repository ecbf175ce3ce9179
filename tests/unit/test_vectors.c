/* test_vectors.c - conformance of the schema model against the Apache Avro vectors.
 *
 * The expectations in ../shared/vectors come from the Apache Avro project (see its
 * README); nobody on this project wrote them. Every row is checked; a failing row is
 * printed with its name and source, and the test fails if any row did.
 *
 *   avro_canonical_form.jsonl   Parsing Canonical Form, Rabin fingerprint, MD5, SHA-256
 *   avro_fingerprints.jsonl     canonical form, CRC-64-AVRO little-endian, MD5, SHA-256
 *   avro_schema_validity.jsonl  valid schemas parse, invalid ones are refused, warnings
 *                               where the row names them
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/crypto.h>

#include "registry/schema.h"

/* Rows where we knowingly follow the specification and Apache Avro Java rather than the
 * row. Each names why and what we produce instead; the row's own digests are still
 * checked against its canonical text, so our hash functions are proven on it too. */
static const struct {
    const char *schema;
    const char *why;
    const char *our_canonical;
} divergences[] = {
    {"{\"type\": \"record\", \"name\": \"HandshakeRequest\", \"namespace\": "
     "\"org.apache.avro.ipc\", "
     "\"fields\": [{\"name\": \"clientHash\", \"type\": {\"type\": \"fixed\", \"name\": \"MD5\", "
     "\"size\": 16}}, {\"name\": \"clientProtocol\", \"type\": [\"null\", \"string\"]}, {\"name\": "
     "\"serverHash\", \"type\": \"MD5\"}, {\"name\": \"meta\", \"type\": [\"null\", {\"type\": "
     "\"map\", \"values\": \"bytes\"}]}]}",
     "Apache Avro Python writes the second use of the named type MD5 in full; Java and the "
     "specification write a named type in full once and by full name after (the Python "
     "output is not even a valid schema: it defines MD5 twice)",
     "{\"name\":\"org.apache.avro.ipc.HandshakeRequest\",\"type\":\"record\",\"fields\":[{"
     "\"name\":\"clientHash\",\"type\":{\"name\":\"org.apache.avro.ipc.MD5\",\"type\":"
     "\"fixed\",\"size\":16}},{\"name\":\"clientProtocol\",\"type\":[\"null\",\"string\"]},{"
     "\"name\":\"serverHash\",\"type\":\"org.apache.avro.ipc.MD5\"},{\"name\":\"meta\","
     "\"type\":[\"null\",{\"type\":\"map\",\"values\":\"bytes\"}]}]}"},
};

static int divergence_of(const char *schema)
{
    for (size_t i = 0; i < sizeof(divergences) / sizeof(divergences[0]); i++) {
        if (strcmp(schema, divergences[i].schema) == 0)
            return (int)i;
    }
    return -1;
}

typedef struct rows {
    json_t **v;
    size_t n;
} rows;

static void load_rows(const char *file, rows *out)
{
    /* ctest sets CANON_VECTORS_DIR; by hand, from the checkout or its build dir. */
    const char *dir = getenv("CANON_VECTORS_DIR");
    char path[1024];
    FILE *f = NULL;
    if (dir && *dir) {
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        f = fopen(path, "r");
    } else {
        snprintf(path, sizeof(path), "../../shared/vectors/%s", file);
        f = fopen(path, "r");
        if (!f) {
            snprintf(path, sizeof(path), "../shared/vectors/%s", file);
            f = fopen(path, "r");
        }
    }
    if (!f)
        fail_msg("cannot open %s (set CANON_VECTORS_DIR)", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    out->v = NULL;
    out->n = 0;
    size_t lineno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (len <= 1)
            continue;
        json_error_t jerr;
        /* Fingerprints above 2^63 do not fit jansson's integers; the tests use the
         * hex strings, so numbers are read as reals. */
        json_t *row = json_loadb(line, (size_t)len, JSON_DECODE_INT_AS_REAL, &jerr);
        if (!row)
            fail_msg("%s:%zu: bad JSON: %s", path, lineno, jerr.text);
        out->v = realloc(out->v, (out->n + 1) * sizeof(*out->v));
        assert_non_null(out->v);
        out->v[out->n++] = row;
    }
    free(line);
    fclose(f);
    assert_true(out->n > 0);
}

static void free_rows(rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->v[i]);
    free(r->v);
}

static const char *str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

static const char *row_label(const json_t *row, char *buf, size_t cap)
{
    const char *name = str(row, "name");
    if (!name)
        name = str(row, "id");
    snprintf(buf, cap, "[%s] %s", name ? name : "-", str(row, "source") ? str(row, "source") : "?");
    return buf;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* Checks canonical text, md5 and sha256 of a parsed schema against a row; prints and
 * counts mismatches. */
static int check_digests(const reg_schema *s, const json_t *row, const char *label)
{
    int bad = 0;
    const char *want = str(row, "canonical");
    int dv = divergence_of(str(row, "schema"));
    if (dv >= 0) {
        printf("KNOWN DIVERGENCE %s\n  %s\n", label, divergences[dv].why);
        if (strcmp(reg_schema_canonical(s), divergences[dv].our_canonical) != 0) {
            printf("FAIL %s\n  canonical: got %s\n", label, reg_schema_canonical(s));
            return 1;
        }
        /* The row's digests must still be those of the row's canonical text. */
        unsigned char md5[16];
        char h[33];
        gnutls_hash_fast(GNUTLS_DIG_MD5, want, strlen(want), md5);
        hex(md5, 16, h);
        return strcmp(h, str(row, "md5_hex")) != 0;
    }
    if (want && strcmp(reg_schema_canonical(s), want) != 0) {
        printf("FAIL %s\n  canonical: got  %s\n             want %s\n", label,
               reg_schema_canonical(s), want);
        bad++;
    }
    unsigned char md5[16], sha[32];
    char h[65];
    reg_schema_md5(s, md5);
    hex(md5, 16, h);
    if (str(row, "md5_hex") && strcmp(h, str(row, "md5_hex")) != 0) {
        printf("FAIL %s\n  md5: got %s want %s\n", label, h, str(row, "md5_hex"));
        bad++;
    }
    reg_schema_sha256(s, sha);
    hex(sha, 32, h);
    if (str(row, "sha256_hex") && strcmp(h, str(row, "sha256_hex")) != 0) {
        printf("FAIL %s\n  sha256: got %s want %s\n", label, h, str(row, "sha256_hex"));
        bad++;
    }
    return bad;
}

static void test_every_canonical_form_row_matches(void **state)
{
    (void)state;
    rows r;
    load_rows("avro_canonical_form.jsonl", &r);
    int failures = 0;
    for (size_t i = 0; i < r.n; i++) {
        char label[512];
        row_label(r.v[i], label, sizeof(label));
        const char *text = str(r.v[i], "schema");
        reg_schema *s = NULL;
        cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
        if (err) {
            printf("FAIL %s\n  parse: %s\n", label, cg_err_msg(err));
            cg_err_free(err);
            failures++;
            continue;
        }
        int bad = check_digests(s, r.v[i], label);
        char fp[17];
        snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)reg_schema_fingerprint(s));
        if (strcmp(fp, str(r.v[i], "fingerprint_hex")) != 0) {
            printf("FAIL %s\n  fingerprint: got %s want %s\n", label, fp,
                   str(r.v[i], "fingerprint_hex"));
            bad++;
        }
        /* The fingerprint is of the canonical text, so the raw function must agree. */
        const char *canon = reg_schema_canonical(s);
        if (reg_fingerprint64(canon, strlen(canon)) != reg_schema_fingerprint(s))
            bad++;
        failures += bad != 0;
        reg_schema_free(s);
    }
    printf("avro_canonical_form.jsonl: %zu rows, %d failed\n", r.n, failures);
    free_rows(&r);
    assert_int_equal(failures, 0);
}

static void test_every_fingerprint_row_matches(void **state)
{
    (void)state;
    rows r;
    load_rows("avro_fingerprints.jsonl", &r);
    int failures = 0;
    for (size_t i = 0; i < r.n; i++) {
        char label[512];
        row_label(r.v[i], label, sizeof(label));
        const char *text = str(r.v[i], "schema");
        reg_schema *s = NULL;
        cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
        if (err) {
            printf("FAIL %s\n  parse: %s\n", label, cg_err_msg(err));
            cg_err_free(err);
            failures++;
            continue;
        }
        int bad = check_digests(s, r.v[i], label);
        /* Fingerprint the row's own canonical text, so a divergence in canonical form
         * does not hide a fingerprint bug. */
        const char *canon = str(r.v[i], "canonical");
        uint64_t fp = reg_fingerprint64(canon, strlen(canon));
        unsigned char le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)(fp >> (8 * k));
        char h[17];
        hex(le, 8, h);
        if (strcmp(h, str(r.v[i], "crc64_avro_le_hex")) != 0) {
            printf("FAIL %s\n  crc64 LE: got %s want %s\n", label, h,
                   str(r.v[i], "crc64_avro_le_hex"));
            bad++;
        }
        failures += bad != 0;
        reg_schema_free(s);
    }
    printf("avro_fingerprints.jsonl: %zu rows, %d failed\n", r.n, failures);
    free_rows(&r);
    assert_int_equal(failures, 0);
}

/* Our warnings carry a location ("IgnoredLogicalType: field 'R.f': Unknown x, using
 * int."); the vectors' text is Apache Avro Python's, without one. A row's warning is
 * matched when ours has the same kind (the part before ':') and ends with the same
 * explanation. */
static int warning_matches(const char *ours, const char *want)
{
    const char *colon = strchr(want, ':');
    if (!colon)
        return strstr(ours, want) != NULL;
    size_t kind = (size_t)(colon - want);
    if (strncmp(ours, want, kind) != 0)
        return 0;
    const char *tail = colon + 1;
    while (*tail == ' ')
        tail++;
    size_t ol = strlen(ours), tl = strlen(tail);
    return ol >= tl && strcmp(ours + ol - tl, tail) == 0;
}

static void test_every_validity_row_is_judged_as_the_spec_says(void **state)
{
    (void)state;
    rows r;
    load_rows("avro_schema_validity.jsonl", &r);
    int failures = 0;
    for (size_t i = 0; i < r.n; i++) {
        char label[512];
        row_label(r.v[i], label, sizeof(label));
        const char *text = str(r.v[i], "schema");
        int valid = json_is_true(json_object_get(r.v[i], "valid"));
        json_t *want_w = json_object_get(r.v[i], "warnings");
        reg_schema *s = NULL;
        cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
        if (valid && err) {
            printf("FAIL %s\n  valid schema refused: %s\n", label, cg_err_msg(err));
            failures++;
        } else if (!valid && !err) {
            printf("FAIL %s\n  invalid schema accepted: %s\n", label, text);
            failures++;
        } else if (err && cg_err_code(err) != CG_EINVALID_SCHEMA) {
            printf("FAIL %s\n  refused with code %d, not 42201\n", label, cg_err_code(err));
            failures++;
        } else if (s) {
            const char *const *w = reg_schema_warnings(s);
            size_t n_ours = 0, n_logical = 0;
            for (; w && w[n_ours]; n_ours++)
                n_logical += strncmp(w[n_ours], "IgnoredLogicalType", 18) == 0;
            int bad = 0;
            for (size_t k = 0; k < json_array_size(want_w); k++) {
                const char *ww = json_string_value(json_array_get(want_w, k));
                int found = 0;
                for (size_t m = 0; m < n_ours; m++)
                    found |= warning_matches(w[m], ww);
                if (!found) {
                    printf("FAIL %s\n  expected warning \"%s\"; got %zu warning(s)%s%s\n", label,
                           ww, n_ours, n_ours ? ", first: " : "", n_ours ? w[0] : "");
                    bad = 1;
                }
            }
            if (json_array_size(want_w) == 0 && n_logical) {
                printf("FAIL %s\n  unexpected warning: %s\n", label, w[0]);
                bad = 1;
            }
            failures += bad;
        }
        cg_err_free(err);
        reg_schema_free(s);
    }
    printf("avro_schema_validity.jsonl: %zu rows, %d failed\n", r.n, failures);
    free_rows(&r);
    assert_int_equal(failures, 0);
}

/* The encoding vectors (codegen's) use schemas of their own; each must be accepted, as
 * the registry will be asked to register them. */
static void test_every_encoding_vector_schema_is_accepted(void **state)
{
    (void)state;
    rows r;
    load_rows("avro_binary_encoding.jsonl", &r);
    int failures = 0;
    for (size_t i = 0; i < r.n; i++) {
        json_t *sj = json_object_get(r.v[i], "schema");
        char *text = json_is_string(sj) ? strdup(json_string_value(sj))
                                        : json_dumps(sj, JSON_ENCODE_ANY | JSON_COMPACT);
        assert_non_null(text);
        reg_schema *s = NULL;
        cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
        if (err) {
            char label[512];
            printf("FAIL %s\n  refused: %s\n", row_label(r.v[i], label, sizeof(label)),
                   cg_err_msg(err));
            failures++;
        }
        cg_err_free(err);
        reg_schema_free(s);
        free(text);
    }
    printf("avro_binary_encoding.jsonl: %zu rows, %d schemas refused\n", r.n, failures);
    free_rows(&r);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_canonical_form_row_matches),
        cmocka_unit_test(test_every_fingerprint_row_matches),
        cmocka_unit_test(test_every_validity_row_is_judged_as_the_spec_says),
        cmocka_unit_test(test_every_encoding_vector_schema_is_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
