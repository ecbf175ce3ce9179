/* test_schema_cli.c - `canon check` (cli/cmd_check.c) as a user runs it: exit codes,
 * the text and JSON reports, errors on stderr.
 *
 * Tests link the libraries, not the canon binary, so the command's source is compiled
 * into this test; its output is captured by pointing stdout/stderr at temporary files. */
#define _GNU_SOURCE /* asprintf, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../cli/cmd_check.c"

typedef struct captured {
    int rc;
    char *out;
    char *err;
} captured;

static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    rewind(f);
    if (n > 0)
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    return buf;
}

/* Runs cmd_check(argv) with stdout and stderr captured (and stdin from `in` if given). */
static captured run(const char *in, int argc, char **argv)
{
    captured c;
    FILE *o = tmpfile(), *e = tmpfile(), *i = NULL;
    assert_non_null(o);
    assert_non_null(e);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2), si = -1;
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    if (in) {
        i = tmpfile();
        fputs(in, i);
        rewind(i);
        si = dup(0);
        dup2(fileno(i), 0);
        clearerr(stdin);
    }
    c.rc = cmd_check(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    if (in) {
        dup2(si, 0);
        close(si);
        fclose(i);
        clearerr(stdin);
    }
    fseek(o, 0, SEEK_END);
    fseek(e, 0, SEEK_END);
    c.out = slurp(o);
    c.err = slurp(e);
    fclose(o);
    fclose(e);
    return c;
}

static void done(captured *c)
{
    free(c->out);
    free(c->err);
}

static char *data_path(const char *name)
{
    const char *dir = getenv("CANON_TESTDATA_DIR");
    char *p = NULL;
    if (asprintf(&p, "%s/schema/%s", dir && *dir ? dir : "../tests/unit/data", name) < 0)
        return NULL;
    return p;
}

static void test_valid_canonical_schema_prints_forms_and_contract(void **state)
{
    (void)state;
    char *path = data_path("person.avsc");
    char *argv[] = {"check", path};
    captured c = run(NULL, 2, argv);
    assert_int_equal(c.rc, 0);
    assert_non_null(strstr(c.out, "valid Avro schema (record canon.example.Person)"));
    assert_non_null(strstr(c.out, "canonical:   {\"name\":\"canon.example.Person\""));
    assert_non_null(strstr(c.out, "fingerprint: "));
    assert_non_null(strstr(c.out, "contract:    ok (canon.key 'id')"));
    assert_string_equal(c.err, "");
    done(&c);
    free(path);
}

static void test_json_report_matches_the_library(void **state)
{
    (void)state;
    const char *text = "{\"type\": \"int\", \"logicalType\": \"date1\"}";
    char *argv[] = {"check", "--json", "--normalized", "-"};
    captured c = run(text, 4, argv);
    assert_int_equal(c.rc, 0);
    json_t *j = json_loads(c.out, 0, NULL);
    assert_non_null(j);
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &s));
    char fp[17];
    snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)reg_schema_fingerprint(s));
    assert_true(json_is_true(json_object_get(j, "valid")));
    assert_string_equal(json_string_value(json_object_get(j, "file")), "<stdin>");
    assert_string_equal(json_string_value(json_object_get(j, "canonical")), "\"int\"");
    assert_string_equal(json_string_value(json_object_get(j, "fingerprint")), fp);
    assert_string_equal(json_string_value(json_object_get(j, "normalized")),
                        reg_schema_normalized(s));
    assert_int_equal(json_array_size(json_object_get(j, "warnings")), 1);
    assert_true(json_is_null(json_object_get(j, "contract")));
    json_decref(j);
    reg_schema_free(s);
    done(&c);
}

static void test_invalid_schema_exits_1_with_the_reason(void **state)
{
    (void)state;
    char *path = data_path("bad_default.avsc");
    char *argv[] = {"check", path};
    captured c = run(NULL, 2, argv);
    assert_int_equal(c.rc, 1);
    assert_string_equal(c.out, "");
    assert_non_null(
        strstr(c.err, "invalid: field 'Person.email': default 1 does not match type string"));
    done(&c);

    char *argv2[] = {"check", "--json", path};
    c = run(NULL, 3, argv2);
    assert_int_equal(c.rc, 1);
    json_t *j = json_loads(c.out, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "valid")));
    assert_int_equal(json_integer_value(json_object_get(j, "error_code")), 42201);
    json_decref(j);
    done(&c);
    free(path);
}

static void test_broken_contract_exits_1(void **state)
{
    (void)state;
    char *path = data_path("nullable_key.avsc");
    char *argv[] = {"check", path};
    captured c = run(NULL, 2, argv);
    assert_int_equal(c.rc, 1);
    assert_non_null(strstr(c.out, "contract:    BROKEN: canon.key field 'Account.id'"));
    done(&c);
    free(path);
}

static void test_references_and_usage_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/canon_check_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ref[300], main_[300];
    snprintf(ref, sizeof(ref), "%s/addr.avsc", dir);
    snprintf(main_, sizeof(main_), "%s/p.avsc", dir);
    FILE *f = fopen(ref, "w");
    fputs("{\"type\": \"record\", \"name\": \"ex.Address\", \"fields\": []}", f);
    fclose(f);
    f = fopen(main_, "w");
    fputs("{\"type\": \"record\", \"name\": \"ex.P\", \"fields\": [{\"name\": \"a\", \"type\": "
          "\"Address\"}]}",
          f);
    fclose(f);

    char *argv[] = {"check", main_};
    captured c = run(NULL, 2, argv);
    assert_int_equal(c.rc, 1);
    assert_non_null(strstr(c.err, "unknown type 'Address'"));
    done(&c);

    char *argv2[] = {"check", "--ref", ref, main_};
    c = run(NULL, 4, argv2);
    assert_int_equal(c.rc, 0);
    assert_non_null(strstr(c.out, "\"name\":\"ex.Address\""));
    done(&c);

    char *argv3[] = {"check"};
    c = run(NULL, 1, argv3);
    assert_int_equal(c.rc, 2);
    done(&c);
    char *argv4[] = {"check", "--bogus", main_};
    c = run(NULL, 3, argv4);
    assert_int_equal(c.rc, 2);
    assert_non_null(strstr(c.err, "unknown option '--bogus'"));
    done(&c);
    char *argv5[] = {"check", "--help"};
    c = run(NULL, 2, argv5);
    assert_int_equal(c.rc, 0);
    assert_non_null(strstr(c.out, "usage: canon check"));
    done(&c);
    char *argv6[] = {"check", "/nonexistent/x.avsc"};
    c = run(NULL, 2, argv6);
    assert_int_equal(c.rc, 1);
    assert_non_null(strstr(c.err, "No such file"));
    done(&c);

    unlink(ref);
    unlink(main_);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_canonical_schema_prints_forms_and_contract),
        cmocka_unit_test(test_json_report_matches_the_library),
        cmocka_unit_test(test_invalid_schema_exits_1_with_the_reason),
        cmocka_unit_test(test_broken_contract_exits_1),
        cmocka_unit_test(test_references_and_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
