/* test_auth.c - the registry's access control (registry/auth.h): the auth file's checks,
 * password and key hashes, subject patterns, authentication results and the role matrix.
 *
 * The stored forms below were computed independently of this code (Python's
 * hashlib.pbkdf2_hmac and hashlib.sha256), so a wrong PBKDF2 or digest call fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry/auth.h"

/* PBKDF2-HMAC-SHA256("correct horse", salt 00..0f, 1000 iterations), by hashlib. */
#define ALICE_HASH                                                                                 \
    "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ="
/* base64("alice:correct horse") */
#define ALICE_BASIC "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="
/* SHA-256("cgk_test-key-1"), by hashlib. */
#define KEY1_STORED "sha256$32Or69sKGgDGdzTKLVCjFqBcW9l7hQrZl6hy2wgMW/I="

static const char roles_json[] =
    "{\"users\": ["
    " {\"name\": \"alice\", \"password\": \"" ALICE_HASH "\", \"role\": \"admin\"},"
    " {\"name\": \"owner\", \"password\": \"" ALICE_HASH "\", \"role\": \"owner\","
    "  \"entities\": [\"person\"]},"
    " {\"name\": \"crm\", \"password\": \"" ALICE_HASH "\", \"role\": \"domain\","
    "  \"domain\": \"crm\", \"entities\": [\"person\", \"account\"], \"write\": [\"crm.*\"],"
    "  \"read\": [\"crm.*\", \"shared-*\"]},"
    " {\"name\": \"bi\", \"password\": \"" ALICE_HASH "\", \"role\": \"reader\","
    "  \"read\": [\"canon.*\"]},"
    " {\"name\": \"all\", \"password\": \"" ALICE_HASH "\", \"role\": \"reader\"}"
    "],"
    " \"keys\": [{\"name\": \"ci\", \"key\": \"" KEY1_STORED "\", \"role\": \"domain\","
    "  \"domain\": \"hr\", \"entities\": [\"person\"]}]}";

static reg_auth *load_ok(const char *text)
{
    reg_auth *a = NULL;
    cg_err *err = reg_auth_parse(text, strlen(text), "test", &a);
    if (err)
        fail_msg("unexpected error: %s", cg_err_msg(err));
    return a;
}

/* Parses text expecting an error whose message holds each of the NULL-terminated needles. */
static void load_fails(const char *text, ...)
{
    reg_auth *a = NULL;
    cg_err *err = reg_auth_parse(text, strlen(text), "test", &a);
    if (!err)
        fail_msg("accepted: %s", text);
    assert_null(a);
    va_list ap;
    va_start(ap, text);
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *))
        if (!strstr(cg_err_msg(err), n))
            fail_msg("message '%s' lacks '%s'", cg_err_msg(err), n);
    va_end(ap);
    cg_err_free(err);
}

static const reg_auth_principal *login(reg_auth *a, const char *header)
{
    const reg_auth_principal *who = NULL;
    reg_auth_result r = reg_auth_authenticate(a, header, &who, NULL);
    if (r != REG_AUTH_OK)
        fail_msg("'%s': %s", header, reg_auth_result_name(r));
    return who;
}

static char *basic(const char *user, const char *pw)
{
    /* A tiny base64 for the test itself, independent of auth.c's. */
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char plain[256];
    snprintf(plain, sizeof(plain), "%s:%s", user, pw);
    size_t n = strlen(plain);
    char *out = malloc(16 + 4 * (n / 3 + 1));
    char *o = out + sprintf(out, "Basic ");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)plain[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)plain[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)plain[i + 2];
        *o++ = t[v >> 18 & 63];
        *o++ = t[v >> 12 & 63];
        *o++ = i + 1 < n ? t[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? t[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* ---- patterns ---- */

static void test_glob_star_matches_any_run_and_nothing_else_is_special(void **state)
{
    (void)state;
    assert_true(reg_auth_glob_match("*", ""));
    assert_true(reg_auth_glob_match("*", "anything at all"));
    assert_true(reg_auth_glob_match("canon.*", "canon.person-value"));
    assert_false(reg_auth_glob_match("canon.*", "xcanon.person-value"));
    assert_true(reg_auth_glob_match("canon.*-value", "canon.person-value"));
    assert_false(reg_auth_glob_match("canon.*-value", "canon.person.entity"));
    assert_true(reg_auth_glob_match("a*b*c", "aXXbYYbZc"));
    assert_false(reg_auth_glob_match("a*b*c", "aXXbYYbZ"));
    assert_true(reg_auth_glob_match("exact", "exact"));
    assert_false(reg_auth_glob_match("exact", "exact2"));
    assert_false(reg_auth_glob_match("exact", "exac"));
    assert_true(reg_auth_glob_match("**x", "x"));
    /* a long hostile subject with many partial matches still ends (no recursion) */
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_false(reg_auth_glob_match("*a*a*a*a*a*b", big));
}

/* ---- hashes ---- */

static void test_password_hash_round_trips_with_random_salt(void **state)
{
    (void)state;
    char *h1 = NULL, *h2 = NULL;
    assert_null(reg_auth_hash_password("s3cret", 6, 2000, &h1));
    assert_null(reg_auth_hash_password("s3cret", 6, 2000, &h2));
    assert_true(!strncmp(h1, "pbkdf2-sha256$2000$", 19));
    assert_string_not_equal(h1, h2); /* salted */
    assert_int_equal(reg_auth_verify_password(h1, "s3cret", 6), 1);
    assert_int_equal(reg_auth_verify_password(h2, "s3cret", 6), 1);
    assert_int_equal(reg_auth_verify_password(h1, "s3creT", 6), 0);
    assert_int_equal(reg_auth_verify_password(h1, "s3cret", 5), 0);
    free(h1);
    free(h2);
    cg_err *err = reg_auth_hash_password("x", 1, 10, &h1);
    assert_non_null(err); /* below the minimum */
    cg_err_free(err);
}

static void test_password_verify_matches_an_independent_pbkdf2(void **state)
{
    (void)state;
    assert_int_equal(reg_auth_verify_password(ALICE_HASH, "correct horse", 13), 1);
    assert_int_equal(reg_auth_verify_password(ALICE_HASH, "correct horsf", 13), 0);
    assert_int_equal(reg_auth_verify_password("md5$abc", "x", 1), -1);
    assert_int_equal(reg_auth_verify_password("pbkdf2-sha256$1000$AAAA$AAAA", "x", 1), -1);
    assert_int_equal(reg_auth_verify_password("pbkdf2-sha256$99$AAECAwQFBgcICQoLDA0ODw==$"
                                              "yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ=",
                                              "correct horse", 13),
                     -1);
}

static void test_key_is_stored_as_its_sha256(void **state)
{
    (void)state;
    char *stored = NULL;
    assert_null(reg_auth_hash_key("cgk_test-key-1", &stored));
    assert_string_equal(stored, KEY1_STORED);
    free(stored);
    char *key = NULL, *key2 = NULL, *st2 = NULL;
    assert_null(reg_auth_new_key(&key, &stored));
    assert_null(reg_auth_new_key(&key2, &st2));
    assert_true(!strncmp(key, "cgk_", 4));
    assert_int_equal(strlen(key), 4 + 43);
    assert_string_not_equal(key, key2);
    assert_null(strstr(stored, key + 4)); /* the key itself is not in the stored form */
    char *again = NULL;
    assert_null(reg_auth_hash_key(key, &again));
    assert_string_equal(again, stored);
    free(again);
    free(key);
    free(key2);
    free(stored);
    free(st2);
}

/* ---- the file ---- */

static void test_file_errors_name_the_principal_and_field(void **state)
{
    (void)state;
    load_fails("{\"users\": [", "line", NULL);
    load_fails("[]", "top level", NULL);
    load_fails("{\"users\": [], \"groups\": []}", "'groups'", "unknown", NULL);
    load_fails("{\"users\": []}", "no principals", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"admin\", \"writes\": [\"*\"]}]}",
               "users[0] 'x'", "'writes'", "unknown", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"root\"}]}",
               "users[0] 'x'", "'role'", "root", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"owner\"}]}",
               "'x'", "'entities' is required", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"reader\", \"write\": [\"a\"]}]}",
               "'x'", "'write' is not allowed for role reader", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"reader\", \"read\": [\"a?b\"]}]}",
               "'x'", "'read'", "a?b", "only '*'", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"reader\", \"read\": [\"\"]}]}",
               "'x'", "'read'", "empty", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"reader\", \"read\": []}]}",
               "'x'", "'read'", "non-empty array", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"owner\", \"entities\": [\"Person\"]}]}",
               "'x'", "'entities'", "Person", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"domain\", \"entities\": [\"person\"]}]}",
               "'x'", "'domain' is required", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"domain\", \"domain\": \"C R M\", \"entities\": [\"person\"]}]}",
               "'x'", "'domain'", "C R M", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"admin\", \"read\": [\"*\"]}]}",
               "'x'", "'read' has no meaning for role admin", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"plain\", \"role\": \"admin\"}]}",
               "'x'", "'password'", "pbkdf2-sha256$", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"role\": \"admin\"}]}", "'x'", "'password'",
               "missing", NULL);
    load_fails("{\"keys\": [{\"name\": \"k\", \"key\": \"cgk_plaintext\", \"role\": \"admin\"}]}",
               "keys[0] 'k'", "'key'", "sha256$", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"admin\"}], \"keys\": [{\"name\": \"x\", \"key\": \"" KEY1_STORED
               "\", \"role\": \"reader\"}]}",
               "keys[0] 'x'", "repeats users[0]", NULL);
    load_fails("{\"users\": [{\"password\": \"" ALICE_HASH "\", \"role\": \"admin\"}]}", "users[0]",
               "'name'", NULL);
    load_fails("{\"users\": [{\"name\": \"a:b\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"admin\"}]}",
               "'a:b'", "':'", NULL);
    load_fails("{\"users\": [{\"name\": \"x\", \"name\": \"y\", \"password\": \"" ALICE_HASH
               "\", \"role\": \"admin\"}]}",
               "duplicate", NULL);
}

static void test_file_loads_from_disk_and_reports_a_missing_one(void **state)
{
    (void)state;
    char path[] = "/tmp/test_auth_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(roles_json, f);
    fclose(f);
    reg_auth *a = NULL;
    assert_null(reg_auth_load(path, &a));
    assert_int_equal(reg_auth_count(a), 6);
    reg_auth_free(a);
    remove(path);
    cg_err *err = reg_auth_load(path, &a);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), path));
    cg_err_free(err);
}

/* ---- authentication ---- */

static void test_authentication_results(void **state)
{
    (void)state;
    reg_auth *a = load_ok(roles_json);
    const reg_auth_principal *who = NULL;
    char *user = NULL;
    assert_int_equal(reg_auth_authenticate(a, NULL, &who, &user), REG_AUTH_NO_CREDENTIALS);
    assert_int_equal(reg_auth_authenticate(a, "  ", &who, &user), REG_AUTH_NO_CREDENTIALS);
    assert_int_equal(reg_auth_authenticate(a, "Digest x", &who, &user), REG_AUTH_MALFORMED);
    assert_int_equal(reg_auth_authenticate(a, "Basic !!!!", &who, &user), REG_AUTH_MALFORMED);
    assert_int_equal(reg_auth_authenticate(a, "Basic bm9jb2xvbg==", &who, &user),
                     REG_AUTH_MALFORMED); /* "nocolon" */

    char *h = basic("mallory", "correct horse");
    assert_int_equal(reg_auth_authenticate(a, h, &who, &user), REG_AUTH_UNKNOWN_USER);
    assert_null(who);
    assert_string_equal(user, "mallory"); /* for the server's log */
    free(user);
    free(h);

    h = basic("alice", "wrong");
    assert_int_equal(reg_auth_authenticate(a, h, &who, &user), REG_AUTH_BAD_PASSWORD);
    assert_null(who);
    free(user);
    free(h);
    /* the client's message is the same for both */
    assert_string_equal(reg_auth_result_message(REG_AUTH_UNKNOWN_USER),
                        reg_auth_result_message(REG_AUTH_BAD_PASSWORD));

    who = login(a, ALICE_BASIC);
    assert_string_equal(reg_auth_principal_name(who), "alice");
    assert_int_equal(reg_auth_principal_role(who), REG_ROLE_ADMIN);
    assert_string_equal(reg_auth_principal_kind(who), "user");
    /* again: from the cache, same answer; the scheme is case-insensitive */
    assert_ptr_equal(login(a, "basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="), who);
    /* the cache does not let a wrong password in after a right one */
    h = basic("alice", "correct horsE");
    assert_int_equal(reg_auth_authenticate(a, h, &who, NULL), REG_AUTH_BAD_PASSWORD);
    free(h);

    who = login(a, "Bearer cgk_test-key-1");
    assert_string_equal(reg_auth_principal_name(who), "ci");
    assert_string_equal(reg_auth_principal_kind(who), "key");
    assert_int_equal(reg_auth_authenticate(a, "Bearer cgk_test-key-2", &who, NULL),
                     REG_AUTH_UNKNOWN_KEY);
    /* a key's stored form is not a key */
    assert_int_equal(reg_auth_authenticate(a, "Bearer " KEY1_STORED, &who, NULL),
                     REG_AUTH_UNKNOWN_KEY);
    reg_auth_free(a);
}

/* What base64 a Basic header may hold: padding is optional and unused low bits of the
 * last letter are ignored, but only the 64 letters count (GnuTLS's PEM decoder, which
 * auth.c calls, would skip a vertical tab and stop at a '-'). */
static void test_basic_credentials_base64_padding_optional_letters_only(void **state)
{
    (void)state;
    reg_auth *a = load_ok(roles_json);
    const reg_auth_principal *who = login(a, ALICE_BASIC);
    assert_ptr_equal(login(a, "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ"), who);
    assert_ptr_equal(login(a, "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ="), who);
    assert_ptr_equal(login(a, "Basic YWxpY2U6Y29ycmVjdCBob3JzZR=="), who); /* 'R': 'Q' + 1 */
    assert_int_equal(reg_auth_authenticate(a, "Basic YWxpY2U6-Y29ycmVjdCBob3JzZQ==", &who, NULL),
                     REG_AUTH_MALFORMED);
    assert_int_equal(reg_auth_authenticate(a, "Basic YWxpY2U6\vY29ycmVjdCBob3JzZQ==", &who, NULL),
                     REG_AUTH_MALFORMED);
    assert_int_equal(reg_auth_authenticate(a, "Basic YWxpY2U6Y29ycmVjdCBob3JzZ", &who, NULL),
                     REG_AUTH_MALFORMED); /* one letter past a whole group: not base64 */
    reg_auth_free(a);
}

/* ---- authorization ---- */

static void test_role_matrix(void **state)
{
    (void)state;
    reg_auth *a = load_ok(roles_json);
    const reg_auth_principal *admin = login(a, ALICE_BASIC);
    char *h = basic("owner", "correct horse");
    const reg_auth_principal *owner = login(a, h);
    free(h);
    h = basic("crm", "correct horse");
    const reg_auth_principal *crm = login(a, h);
    free(h);
    h = basic("bi", "correct horse");
    const reg_auth_principal *bi = login(a, h);
    free(h);
    h = basic("all", "correct horse");
    const reg_auth_principal *all = login(a, h);
    free(h);
    const reg_auth_principal *ci = login(a, "Bearer cgk_test-key-1");

    struct row {
        const char *subject;
        /* admin, owner, crm, bi, all, ci: read then write */
        const char *expect;
    } rows[] = {
        {"canon.person.entity", "RW RW R- R- R- R-"},
        {"canon.person-value", "RW RW R- R- R- R-"},
        {"canon.person.updates-value", "RW RW RW R- R- RW"},
        /* owner and ci give no "read": they read everything (the default) */
        {"canon.account.entity", "RW R- R- R- R- R-"},
        {"canon.account.updates-value", "RW R- RW R- R- R-"},
        {"canon.order.updates-value", "RW R- -- R- R- R-"},
        {"crm.contacts-value", "RW R- RW -- R- R-"},
        {"shared-codes", "RW R- R- -- R- R-"},
        {"orders-value", "RW R- -- -- R- R-"},
    };
    const reg_auth_principal *who[] = {admin, owner, crm, bi, all, ci};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (size_t k = 0; k < 6; k++) {
            int r = reg_auth_allows(who[k], REG_PERM_READ, rows[i].subject);
            int w = reg_auth_allows(who[k], REG_PERM_WRITE, rows[i].subject);
            char got[3] = {r ? 'R' : '-', w ? 'W' : '-', 0};
            char want[3] = {rows[i].expect[3 * k], rows[i].expect[3 * k + 1], 0};
            if (strcmp(got, want))
                fail_msg("%s on %s: got %s, want %s", reg_auth_principal_name(who[k]),
                         rows[i].subject, got, want);
        }
    }
    assert_true(reg_auth_reads_all(admin));
    assert_true(reg_auth_reads_all(all));
    assert_false(reg_auth_reads_all(bi));
    assert_true(reg_auth_reads_all(owner));
    assert_false(reg_auth_reads_all(crm));
    assert_false(reg_auth_allows(NULL, REG_PERM_READ, "x"));
    reg_auth_free(a);
}

static void test_domain_writers_are_what_the_aggregator_checks(void **state)
{
    (void)state;
    reg_auth *a = load_ok(roles_json);
    assert_true(reg_auth_domain_may_write(a, "crm", 3, "person"));
    assert_true(reg_auth_domain_may_write(a, "crm", 3, "account"));
    assert_true(reg_auth_domain_may_write(a, "hr", 2, "person"));
    assert_false(reg_auth_domain_may_write(a, "hr", 2, "account"));
    assert_false(reg_auth_domain_may_write(a, "cr", 2, "person"));
    assert_false(reg_auth_domain_may_write(a, "crmx", 4, "person"));
    /* an owner is not a domain writer: its name is not a source */
    assert_false(reg_auth_domain_may_write(a, "owner", 5, "person"));
    reg_auth_free(a);
}

static void test_reader_key_added_for_an_internal_client(void **state)
{
    (void)state;
    reg_auth *a = load_ok(roles_json);
    char *key = NULL, *stored = NULL;
    assert_null(reg_auth_new_key(&key, &stored));
    assert_null(reg_auth_add_reader_key(a, "canon-internal", stored));
    char header[128];
    snprintf(header, sizeof(header), "Bearer %s", key);
    const reg_auth_principal *who = login(a, header);
    assert_string_equal(reg_auth_principal_name(who), "canon-internal");
    assert_true(reg_auth_allows(who, REG_PERM_READ, "anything"));
    assert_false(reg_auth_allows(who, REG_PERM_WRITE, "anything"));
    cg_err *err = reg_auth_add_reader_key(a, "canon-internal", stored);
    assert_non_null(err);
    cg_err_free(err);
    /* the references keep it alive until the last one goes */
    reg_auth_ref(a);
    reg_auth_free(a);
    assert_string_equal(reg_auth_principal_name(login(a, header)), "canon-internal");
    reg_auth_free(a);
    free(key);
    free(stored);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_star_matches_any_run_and_nothing_else_is_special),
        cmocka_unit_test(test_password_hash_round_trips_with_random_salt),
        cmocka_unit_test(test_password_verify_matches_an_independent_pbkdf2),
        cmocka_unit_test(test_key_is_stored_as_its_sha256),
        cmocka_unit_test(test_file_errors_name_the_principal_and_field),
        cmocka_unit_test(test_file_loads_from_disk_and_reports_a_missing_one),
        cmocka_unit_test(test_authentication_results),
        cmocka_unit_test(test_basic_credentials_base64_padding_optional_letters_only),
        cmocka_unit_test(test_role_matrix),
        cmocka_unit_test(test_domain_writers_are_what_the_aggregator_checks),
        cmocka_unit_test(test_reader_key_added_for_an_internal_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
