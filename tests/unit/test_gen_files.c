/* test_gen_files.c - the generated file set and its two writers (directory, tar.gz).
 *
 * The archive is checked by the system's tar, not by our own reader: listing (names,
 * modes, owner, mtime 0) and extraction (contents byte for byte), so a header our writer
 * gets wrong in a way a reader of our own would share still fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "codegen/gen.h"

/* A path of 140 bytes: longer than ustar's 100-byte name field, so it needs the prefix. */
#define LONG_DIR                                                                                   \
    "deep/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG_PATH LONG_DIR "/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.txt"

static gen_files *sample(void)
{
    gen_files *f = gen_files_new();
    assert_non_null(f);
    gen_files_printf(f, "README.md", "# hello %d\n", 42);
    gen_files_printf(f, "src/person/person.c", "int x = %s;\n", "1");
    gen_files_printf(f, "roundtrip.sh", "#!/bin/sh\necho ok\n");
    gen_files_printf(f, "README.md", "second line\n"); /* appends to the first file */
    gen_files_append(f, "empty.txt", "", 0);
    char big[3000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7 + 1); /* binary, with bytes >= 0x80 */
    gen_files_append(f, "src/blob.bin", big, sizeof(big));
    gen_files_printf(f, LONG_PATH, "long\n");
    return f;
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/test_gen_files.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, 1 << 16, fp);
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void test_set_basics(void **state)
{
    (void)state;
    gen_files *f = sample();
    assert_int_equal(gen_files_count(f), 6);
    assert_string_equal(gen_files_path(f, 0), "README.md");
    size_t len;
    const char *d = gen_files_data(f, 0, &len);
    assert_string_equal(d, "# hello 42\nsecond line\n");
    assert_int_equal(len, strlen(d));
    assert_string_equal(gen_files_path(f, 3), "empty.txt");
    assert_string_equal(gen_files_data(f, 3, &len), "");
    assert_int_equal(len, 0);
    gen_files_free(f);
    gen_files_free(NULL);
}

static void test_lang_names(void **state)
{
    (void)state;
    gen_lang l;
    assert_int_equal(gen_lang_parse("c", &l), 0);
    assert_int_equal(l, GEN_LANG_C);
    assert_int_equal(gen_lang_parse("java", &l), 0);
    assert_int_equal(l, GEN_LANG_JAVA);
    assert_int_equal(gen_lang_parse("python", &l), 0);
    assert_string_equal(gen_lang_name(l), "python");
    assert_int_equal(gen_lang_parse("cobol", &l), -1);
    assert_int_equal(gen_lang_parse("", &l), -1);
}

/* Writes the archive to dir/out.tar.gz and returns its path (static buffer). */
static const char *write_archive(const char *dir, const unsigned char *tgz, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/out.tar.gz", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(tgz, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static void test_tar_gz_listing_and_extract(void **state)
{
    (void)state;
    gen_files *f = sample();
    unsigned char *tgz = NULL;
    size_t len = 0;
    assert_null(gen_files_tar_gz(f, "person-c", &tgz, &len));
    assert_non_null(tgz);
    /* gzip magic, deflate, and an mtime of 0 in the gzip header. */
    assert_true(len > 18);
    assert_int_equal(tgz[0], 0x1f);
    assert_int_equal(tgz[1], 0x8b);
    assert_int_equal(tgz[2], 8);
    assert_int_equal(tgz[4] | tgz[5] | tgz[6] | tgz[7], 0);

    char *dir = make_tmpdir();
    const char *arch = write_archive(dir, tgz, len);

    /* Listing by GNU tar: LC_ALL=C and UTC for a stable date format. */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "LC_ALL=C TZ=UTC tar -tzvf '%s'", arch);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    int saw_sh = 0, saw_readme = 0, saw_long = 0, saw_dir = 0, lines = 0;
    while (fgets(line, sizeof(line), p)) {
        lines++;
        /* Every entry: owner root/root, mtime the epoch. */
        assert_non_null(strstr(line, "root/root"));
        assert_non_null(strstr(line, "1970-01-01 00:00"));
        if (strstr(line, "person-c/roundtrip.sh")) {
            saw_sh = 1;
            assert_memory_equal(line, "-rwxr-xr-x", 10);
        } else if (strstr(line, "person-c/README.md")) {
            saw_readme = 1;
            assert_memory_equal(line, "-rw-r--r--", 10);
            assert_non_null(strstr(line, " 23 ")); /* size */
        } else if (strstr(line, LONG_PATH)) {
            saw_long = 1;
        } else if (strstr(line, "person-c/src/person/\n")) {
            saw_dir = 1;
            assert_memory_equal(line, "drwxr-xr-x", 10);
        }
    }
    assert_int_equal(pclose(p), 0);
    assert_true(saw_sh && saw_readme && saw_long && saw_dir);
    /* 6 files + directories person-c, src, src/person, deep, LONG_DIR. */
    assert_int_equal(lines, 11);

    snprintf(cmd, sizeof(cmd), "tar -xzf '%s' -C '%s'", arch, dir);
    assert_int_equal(system(cmd), 0);
    for (size_t i = 0; i < gen_files_count(f); i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/person-c/%s", dir, gen_files_path(f, i));
        size_t want_len, got_len = 0;
        const char *want = gen_files_data(f, i, &want_len);
        char *got = slurp(path, &got_len);
        assert_non_null(got);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
        free(got);
    }
    rm_rf(dir);
    free(dir);
    free(tgz);
    gen_files_free(f);
}

static void test_tar_gz_deterministic(void **state)
{
    (void)state;
    gen_files *a = sample(), *b = sample();
    unsigned char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    assert_null(gen_files_tar_gz(a, "x", &ta, &la));
    assert_null(gen_files_tar_gz(b, "x", &tb, &lb));
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    free(tb);
    /* A one-byte change changes the archive. */
    gen_files_printf(b, "README.md", "!");
    assert_null(gen_files_tar_gz(b, "x", &tb, &lb));
    assert_true(la != lb || memcmp(ta, tb, la) != 0);
    free(ta);
    free(tb);
    gen_files_free(a);
    gen_files_free(b);
}

static void test_tar_gz_no_prefix(void **state)
{
    (void)state;
    gen_files *f = gen_files_new();
    gen_files_printf(f, "a/b.txt", "b");
    unsigned char *t = NULL;
    size_t l = 0;
    assert_null(gen_files_tar_gz(f, "", &t, &l));
    char *dir = make_tmpdir();
    const char *arch = write_archive(dir, t, l);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "tar -tzf '%s'", arch);
    FILE *p = popen(cmd, "r");
    char out[256] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_string_equal(out, "a/\na/b.txt\n");
    rm_rf(dir);
    free(dir);
    free(t);
    gen_files_free(f);
}

static void test_bad_paths_refused(void **state)
{
    (void)state;
    const char *bad[] = {"../evil", "a/../../b", "/abs", "a//b", "./x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gen_files *f = gen_files_new();
        gen_files_printf(f, bad[i], "x");
        unsigned char *t = NULL;
        size_t l = 0;
        cg_err *e = gen_files_tar_gz(f, "p", &t, &l);
        assert_non_null(e);
        assert_int_equal(cg_err_code(e), CG_EINVAL);
        cg_err_free(e);
        assert_null(t);
        char *dir = make_tmpdir();
        e = gen_files_write_dir(f, dir);
        assert_non_null(e);
        cg_err_free(e);
        rm_rf(dir);
        free(dir);
        gen_files_free(f);
    }
    /* ".." inside a name is fine. */
    gen_files *f = gen_files_new();
    gen_files_printf(f, "a..b/c...txt", "x");
    unsigned char *t = NULL;
    size_t l = 0;
    assert_null(gen_files_tar_gz(f, "p", &t, &l));
    free(t);
    gen_files_free(f);
}

static void test_write_dir(void **state)
{
    (void)state;
    gen_files *f = sample();
    char *dir = make_tmpdir();
    char out[600];
    snprintf(out, sizeof(out), "%s/new/out", dir); /* parents created */
    assert_null(gen_files_write_dir(f, out));
    for (size_t i = 0; i < gen_files_count(f); i++) {
        char path[800];
        snprintf(path, sizeof(path), "%s/%s", out, gen_files_path(f, i));
        size_t want_len, got_len = 0;
        const char *want = gen_files_data(f, i, &want_len);
        char *got = slurp(path, &got_len);
        assert_non_null(got);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
        free(got);
    }
    char sh[700];
    snprintf(sh, sizeof(sh), "%s/roundtrip.sh", out);
    struct stat st;
    assert_int_equal(stat(sh, &st), 0);
    assert_true(st.st_mode & S_IXUSR);
    /* Writing again replaces, not appends. */
    assert_null(gen_files_write_dir(f, out));
    snprintf(sh, sizeof(sh), "%s/README.md", out);
    size_t n = 0;
    char *again = slurp(sh, &n);
    assert_string_equal(again, "# hello 42\nsecond line\n");
    free(again);
    rm_rf(dir);
    free(dir);
    gen_files_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_basics),
        cmocka_unit_test(test_lang_names),
        cmocka_unit_test(test_tar_gz_listing_and_extract),
        cmocka_unit_test(test_tar_gz_deterministic),
        cmocka_unit_test(test_tar_gz_no_prefix),
        cmocka_unit_test(test_bad_paths_refused),
        cmocka_unit_test(test_write_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
