/* test_gen_c.c - the C binding generator (codegen/gen_c*.c), end to end.
 *
 * Each test generates a binding into a temporary directory, compiles it with the
 * machine's C compiler and runs it, because what matters is what the generated code
 * does:
 * - it compiles without a warning (-std=c11 -Wall -Wextra -Werror), Kafka helpers too;
 * - ../shared/vectors/avro_binary_encoding.jsonl passes through roundtrip.sh both ways
 *   (all 179 rows), and so do the datums of data/gen_c/all_types.avsc;
 * - Avro C (the reference library) decodes every encoding the binding writes, to a value
 *   it re-encodes to the same bytes;
 * - the canonical-entity layer (update builder, envelope) works (data/gen_c/entity_check.c),
 *   and its update bytes are what Avro C reads with the derived update schema;
 * - corrupt bytes never crash the decoder under ASan+UBSan (data/gen_c/fuzz_decode.c);
 * - arrays and maps in many blocks decode in memory linear in the input, and items that
 *   encode to no bytes are limited per array, in the decoder and the resolver
 *   (data/gen_c/blocks_check.c);
 * - the runtime the generator embeds is the one in codegen/c_runtime/.
 */
#define _GNU_SOURCE /* vasprintf */
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <avro.h>
#include <cmocka.h>
#include <jansson.h>

#include "codegen/gen.h"
#include "codegen/gen_c_internal.h"
#include "registry/canon_derive.h"
#include "registry/schema.h"

/* ---- helpers ------------------------------------------------------------------------ */

static char tmp_root[64];

static const char *data_dir(void)
{
    const char *d = getenv("CANON_TESTDATA_DIR");
    return d ? d : "tests/unit/data";
}

static char *path_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *path_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    assert_true(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    return s;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs a shell command; returns its exit status. Output goes to the test log. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    va_list ap;
    char *cmd = NULL;
    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    free(cmd);
    return rc;
}

/* Generates the C binding of schema_text into a new directory; returns its path. */
static char *generate(const char *schema_text, const char *name, int harness)
{
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(schema_text, strlen(schema_text), NULL, 0, &s);
    if (err)
        fail_msg("schema %s: %s", name, cg_err_msg(err));
    gen_files *files = gen_files_new();
    gen_opts o = {0};
    o.origin = name;
    o.harness = harness;
    err = gen_c(s, schema_text, &o, files);
    if (err)
        fail_msg("gen_c %s: %s", name, cg_err_msg(err));
    char *dir = path_fmt("%s/%s", tmp_root, name);
    err = gen_files_write_dir(files, dir);
    if (err)
        fail_msg("write %s: %s", dir, cg_err_msg(err));
    gen_files_free(files);
    reg_schema_free(s);
    return dir;
}

/* Splits text into lines in place (empty lines kept: the encoding of null is empty). */
static char **lines_of(char *text, size_t *n)
{
    size_t cap = 16;
    char **v = malloc(cap * sizeof *v);
    *n = 0;
    for (char *l = text; *l;) {
        char *nl = strchr(l, '\n');
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = l;
        if (!nl)
            break;
        *nl = 0;
        l = nl + 1;
    }
    return v;
}

/* Runs DIR/roundtrip.sh [--decode] over input lines; returns the output lines (text
 * owned by *buf). */
static char **roundtrip(const char *dir, int decode, const char *input, char **buf, size_t *n)
{
    char *in = path_fmt("%s/in.txt", dir), *out = path_fmt("%s/out.txt", dir);
    spit(in, input);
    assert_int_equal(sh("sh %s/roundtrip.sh %s < %s > %s", dir, decode ? "--decode" : "", in, out),
                     0);
    *buf = slurp(out, NULL);
    assert_non_null(*buf);
    free(in);
    free(out);
    return lines_of(*buf, n);
}

/* JSON equality where numbers compare by value (1 equals 1.0) and "NaN" is a string. */
static int json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (!w || !json_same(v, w))
                return 0;
        }
        return 1;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        sscanf(hex + 2 * i, "%2x", &x);
        out[i] = (uint8_t)x;
    }
    return n;
}

/* Avro C decodes the hex encoding against schema_text and writes the same bytes back
 * (so it also consumed every byte). Returns NULL, or what went wrong (static text). */
static const char *avro_c_agrees(const char *schema_text, const char *hex)
{
    avro_schema_t schema;
    const char *why = NULL;
    if (avro_schema_from_json_length(schema_text, strlen(schema_text), &schema))
        return "Avro C cannot parse the schema";
    size_t cap = strlen(hex) / 2 + 1;
    uint8_t *in = malloc(cap), *out = malloc(cap + 64);
    size_t n = unhex(hex, in);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v;
    avro_generic_value_new(iface, &v);
    avro_reader_t r = avro_reader_memory((const char *)in, (int64_t)n);
    avro_writer_t w = avro_writer_memory((char *)out, (int64_t)cap + 64);
    if (avro_value_read(r, &v) != 0)
        why = "Avro C cannot decode the bytes";
    else if (avro_value_write(w, &v) != 0)
        why = "Avro C cannot re-encode the value";
    else if ((size_t)avro_writer_tell(w) != n || memcmp(in, out, n) != 0)
        why = "Avro C re-encodes to other bytes";
    avro_reader_free(r);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    free(in);
    free(out);
    return why;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_embedded_runtime_is_codegen_c_runtime(void **state)
{
    (void)state;
    const char *schema =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}";
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(schema, strlen(schema), NULL, 0, &s));
    gen_files *files = gen_files_new();
    gen_opts o = {0};
    assert_null(gen_c(s, schema, &o, files));
    for (size_t i = 0; i < gen_files_count(files); i++) {
        const char *p = gen_files_path(files, i);
        if (strncmp(p, "canon_", 6) != 0) /* the runtime, not canongate.* */
            continue;
        size_t len, want_len;
        const char *got = gen_files_data(files, i, &len);
        char *path = path_fmt("%s/../../../codegen/c_runtime/%s", data_dir(), p);
        char *want = slurp(path, &want_len);
        assert_non_null(want);
        if (len != want_len || memcmp(got, want, len) != 0)
            fail_msg("%s differs from the embedded copy: run codegen/c_runtime/embed.py", path);
        free(want);
        free(path);
    }
    gen_files_free(files);
    reg_schema_free(s);
}

static void test_generated_code_compiles_without_warnings(void **state)
{
    (void)state;
    char *all = path_fmt("%s/gen_c/all_types.avsc", data_dir());
    char *person = path_fmt("%s/../../../schemas/person.avsc", data_dir());
    char *all_text = slurp(all, NULL), *person_text = slurp(person, NULL);
    assert_non_null(all_text);
    assert_non_null(person_text);
    char *d1 = generate(all_text, "warn_all_types", 0);
    char *d2 = generate(person_text, "warn_person", 0);
    const char *flags = "-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes";
    /* -O2: flow analysis (uninitialised use, ...) only warns when optimising */
    assert_int_equal(sh("cd %s && cc %s -O2 -c *.c", d1, flags), 0);
    assert_int_equal(sh("cd %s && cc %s -O2 -c *.c", d2, flags), 0);
    /* an entity binding: canonical, update, envelope, framework types and Kafka helpers */
    const char *expect[] = {"person.h",        "person.c",          "person_update.h",
                            "person_update.c", "person_envelope.h", "person_envelope.c",
                            "canongate.h",     "canongate.c",       "person_kafka.h",
                            "person_kafka.c",  "canon_rt.h",        "canon_rt.c",
                            "canon_resolve.h", "canon_resolve.c",   "canon_registry.c"};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        char *p = path_fmt("%s/%s", d2, expect[i]);
        assert_int_equal(access(p, R_OK), 0);
        free(p);
    }
    free(d1);
    free(d2);
    free(all);
    free(person);
    free(all_text);
    free(person_text);
}

/* One schema of the vectors with its rows. */
typedef struct group {
    const char *schema;
    json_t *rows[200];
    size_t n;
} group;

static void test_conformance_vectors_pass_both_directions(void **state)
{
    (void)state;
    const char *vdir = getenv("CANON_VECTORS_DIR");
    char *path = path_fmt("%s/avro_binary_encoding.jsonl", vdir ? vdir : "../shared/vectors");
    char *text = slurp(path, NULL);
    assert_non_null(text);
    size_t n_lines;
    char **lines = lines_of(text, &n_lines);
    assert_int_equal(n_lines, 179);
    group *groups = calloc(64, sizeof *groups);
    size_t n_groups = 0, checked = 0, avro_checked = 0;
    json_t **all = calloc(n_lines, sizeof *all);
    for (size_t i = 0; i < n_lines; i++) {
        all[i] = json_loads(lines[i], 0, NULL);
        assert_non_null(all[i]);
        const char *schema = json_string_value(json_object_get(all[i], "schema"));
        size_t g;
        for (g = 0; g < n_groups && strcmp(groups[g].schema, schema) != 0; g++)
            ;
        if (g == n_groups) {
            assert_true(n_groups < 64);
            groups[n_groups++].schema = schema;
        }
        groups[g].rows[groups[g].n++] = all[i];
    }
    for (size_t g = 0; g < n_groups; g++) {
        group *gr = &groups[g];
        char name[32];
        snprintf(name, sizeof name, "vectors_%zu", g);
        char *dir = generate(gr->schema, name, 1);
        /* encode: datum -> hex */
        size_t cap = 1 << 16, len = 0;
        char *in = malloc(cap);
        in[0] = 0;
        for (size_t i = 0; i < gr->n; i++) {
            char *d =
                json_dumps(json_object_get(gr->rows[i], "datum"), JSON_COMPACT | JSON_ENCODE_ANY);
            len += (size_t)snprintf(in + len, cap - len, "%s\n", d);
            free(d);
        }
        char *obuf;
        size_t n_out;
        char **out = roundtrip(dir, 0, in, &obuf, &n_out);
        assert_int_equal(n_out, gr->n);
        for (size_t i = 0; i < gr->n; i++) {
            const char *want = json_string_value(json_object_get(gr->rows[i], "hex"));
            if (strcmp(out[i], want) != 0)
                fail_msg("schema %s datum %zu: encoded %s, want %s", gr->schema, i, out[i], want);
            const char *why = avro_c_agrees(gr->schema, want);
            if (why)
                fail_msg("schema %s hex %s: %s", gr->schema, want, why);
            avro_checked++;
        }
        /* decode: hex -> datum */
        len = 0;
        for (size_t i = 0; i < gr->n; i++)
            len += (size_t)snprintf(in + len, cap - len, "%s\n",
                                    json_string_value(json_object_get(gr->rows[i], "hex")));
        char *dbuf;
        size_t n_dec;
        char **dec = roundtrip(dir, 1, in, &dbuf, &n_dec);
        assert_int_equal(n_dec, gr->n);
        for (size_t i = 0; i < gr->n; i++) {
            json_t *got = json_loads(dec[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            const json_t *want = json_object_get(gr->rows[i], "datum");
            const char *note = json_string_value(json_object_get(gr->rows[i], "note"));
            if (!got)
                fail_msg("schema %s: decode gave %s", gr->schema, dec[i]);
            if (!json_same(got, want)) {
                /* rows whose datum gives unions as plain values (note says so): the
                 * binding prints Avro's union form; the two must encode alike */
                if (!note || !strstr(note, "plain"))
                    fail_msg("schema %s: decoded %s", gr->schema, dec[i]);
                char *rbuf;
                size_t n_re;
                char *line = path_fmt("%s\n", dec[i]);
                char **re = roundtrip(dir, 0, line, &rbuf, &n_re);
                assert_int_equal(n_re, 1);
                assert_string_equal(re[0], json_string_value(json_object_get(gr->rows[i], "hex")));
                free(re);
                free(rbuf);
                free(line);
            }
            json_decref(got);
            checked++;
        }
        free(dec);
        free(dbuf);
        free(out);
        free(obuf);
        free(in);
        free(dir);
    }
    assert_int_equal(checked, 179);
    assert_int_equal(avro_checked, 179);
    for (size_t i = 0; i < n_lines; i++)
        json_decref(all[i]);
    free(all);
    free(groups);
    free(lines);
    free(text);
    free(path);
}

static void test_all_types_round_trip_and_avro_c_agrees(void **state)
{
    (void)state;
    char *path = path_fmt("%s/gen_c/all_types.avsc", data_dir());
    char *datums_path = path_fmt("%s/gen_c/all_types.jsonl", data_dir());
    char *schema = slurp(path, NULL), *datums = slurp(datums_path, NULL);
    assert_non_null(schema);
    assert_non_null(datums);
    char *dir = generate(schema, "all_types", 1);
    char *hbuf, *dbuf, *rbuf;
    size_t n_hex, n_dec, n_re, n_in;
    char *datums_copy = strdup(datums);
    char **in = lines_of(datums_copy, &n_in);
    char **hex = roundtrip(dir, 0, datums, &hbuf, &n_hex);
    assert_int_equal(n_hex, n_in);
    size_t cap = 1 << 16, len = 0;
    char *hex_text = malloc(cap);
    for (size_t i = 0; i < n_hex; i++) {
        if (strncmp(hex[i], "error", 5) == 0)
            fail_msg("datum %zu: %s", i, hex[i]);
        const char *why = avro_c_agrees(schema, hex[i]);
        if (why)
            fail_msg("datum %zu (%s): %s", i, hex[i], why);
        len += (size_t)snprintf(hex_text + len, cap - len, "%s\n", hex[i]);
    }
    /* decode, then encode the decoded JSON again: the same bytes */
    char **dec = roundtrip(dir, 1, hex_text, &dbuf, &n_dec);
    assert_int_equal(n_dec, n_hex);
    len = 0;
    char *dec_text = malloc(cap);
    for (size_t i = 0; i < n_dec; i++)
        len += (size_t)snprintf(dec_text + len, cap - len, "%s\n", dec[i]);
    char **re = roundtrip(dir, 0, dec_text, &rbuf, &n_re);
    assert_int_equal(n_re, n_hex);
    for (size_t i = 0; i < n_re; i++)
        assert_string_equal(re[i], hex[i]);
    /* the first datum is in full Avro JSON form: decoding gives it back */
    json_t *want = json_loads(in[0], JSON_ALLOW_NUL, NULL),
           *got = json_loads(dec[0], JSON_ALLOW_NUL, NULL);
    assert_true(json_same(got, want));
    json_decref(want);
    json_decref(got);

    free(re);
    free(rbuf);

    /* bad input lines give "error: <what>", and the run carries on */
    char **bad = roundtrip(dir, 1, "00\nzz\n0\n", &rbuf, &n_re);
    assert_int_equal(n_re, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(strncmp(bad[i], "error: ", 7), 0);
    assert_non_null(strstr(bad[0], "AllTypes."));
    free(bad);
    free(rbuf);
    char **bad2 = roundtrip(dir, 0, "{\"flag\": 3}\n", &rbuf, &n_re);
    assert_int_equal(n_re, 1);
    assert_non_null(strstr(bad2[0], "error: AllTypes.n: missing field"));
    free(bad2);
    free(rbuf);

    free(dec);
    free(hex);
    free(in);
    free(datums_copy);
    free(hex_text);
    free(dec_text);
    free(hbuf);
    free(dbuf);
    free(dir);
    free(schema);
    free(datums);
    free(path);
    free(datums_path);
}

static void test_entity_builder_envelope_and_kafka_helpers(void **state)
{
    (void)state;
    char *path = path_fmt("%s/../../../schemas/person.avsc", data_dir());
    char *schema = slurp(path, NULL);
    assert_non_null(schema);
    char *dir = generate(schema, "entity", 0);
    const char *srcs = "person.c person_update.c person_envelope.c canongate.c canon_rt.c "
                       "canon_resolve.c";
    assert_int_equal(
        sh("cd %s && cc -std=c11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined "
           "-fno-sanitize-recover=undefined -I. -o entity_check "
           "%s/gen_c/entity_check.c %s -ljansson -lm",
           dir, data_dir(), srcs),
        0);
    assert_int_equal(sh("cd %s && ./entity_check > entity.out", dir), 0);

    /* the two update bodies and the envelope body it printed are what Avro C reads with
     * the registry's derived schemas */
    reg_schema *s = NULL;
    char *update_schema = NULL, *envelope_schema = NULL;
    assert_null(reg_schema_parse(schema, strlen(schema), NULL, 0, &s));
    assert_null(reg_canon_derive_update(s, &update_schema));
    assert_null(reg_canon_derive_envelope(s, &envelope_schema));
    char *out_path = path_fmt("%s/entity.out", dir);
    char *out = slurp(out_path, NULL);
    size_t n;
    char **lines = lines_of(out, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 2; i++) {
        const char *why = avro_c_agrees(update_schema, lines[i]);
        if (why)
            fail_msg("update %zu: %s", i, why);
    }
    const char *why = avro_c_agrees(envelope_schema, lines[2]);
    if (why)
        fail_msg("envelope: %s", why);

    /* the Kafka helpers build and run against librdkafka (no broker needed here) */
    assert_int_equal(sh("cd %s && cc -std=c11 -Wall -Wextra -Werror -I. -o kafka_check "
                        "%s/gen_c/kafka_check.c %s person_kafka.c -ljansson -lrdkafka -lm",
                        dir, data_dir(), srcs),
                     0);
    assert_int_equal(sh("cd %s && ./kafka_check > /dev/null 2>&1", dir), 0);

    free(lines);
    free(out);
    free(out_path);
    free(update_schema);
    free(envelope_schema);
    reg_schema_free(s);
    free(dir);
    free(schema);
    free(path);
}

static void test_decoder_survives_corrupt_bytes_under_sanitizers(void **state)
{
    (void)state;
    char *path = path_fmt("%s/gen_c/all_types.avsc", data_dir());
    char *datums_path = path_fmt("%s/gen_c/all_types.jsonl", data_dir());
    char *schema = slurp(path, NULL);
    assert_non_null(schema);
    char *dir = generate(schema, "fuzz", 1);
    assert_int_equal(sh("sh %s/roundtrip.sh < %s > %s/seeds.hex", dir, datums_path, dir), 0);
    const char *cc = sh("command -v clang > /dev/null") == 0 ? "clang" : "cc";
    const char *san = "-fsanitize=address,undefined -fno-sanitize-recover=undefined";
    assert_int_equal(sh("cd %s && %s -std=c11 -O1 -g %s -I. -o fuzz_decode %s/gen_c/fuzz_decode.c "
                        "all_types.c canon_rt.c -ljansson -lm",
                        dir, cc, san, data_dir()),
                     0);
    assert_int_equal(sh("cd %s && ./fuzz_decode seeds.hex 40000", dir), 0);
    /* libFuzzer, when clang has it: coverage-guided, seeded with the valid encodings */
    if (strcmp(cc, "clang") == 0 &&
        sh("cd %s && clang -std=c11 -O1 -g -DCANON_LIBFUZZER -fsanitize=fuzzer,address,undefined "
           "-fno-sanitize-recover=undefined -I. -o fuzz_lf %s/gen_c/fuzz_decode.c all_types.c "
           "canon_rt.c -ljansson -lm 2> /dev/null",
           dir, data_dir()) == 0) {
        assert_int_equal(
            sh("cd %s && mkdir -p corpus && i=0 && while read h; do i=$((i+1)); "
               "printf \"$(echo $h | sed 's/../\\\\x&/g')\" > corpus/seed$i; done < seeds.hex",
               dir),
            0);
        assert_int_equal(
            sh("cd %s && ./fuzz_lf -seed=1 -max_total_time=5 -print_final_stats=0 corpus "
               "> fuzz_lf.log 2>&1 || { tail -40 fuzz_lf.log; exit 1; }",
               dir),
            0);
    }
    free(dir);
    free(schema);
    free(path);
    free(datums_path);
}

/* Generates the binding of data/gen_c/<name>.avsc, builds data/gen_c/<name>_check.c
 * against it under ASan+UBSan and runs it, bounded in time: it must exit 0. */
static void run_check_program(const char *name)
{
    char *path = path_fmt("%s/gen_c/%s.avsc", data_dir(), name);
    char *schema = slurp(path, NULL);
    assert_non_null(schema);
    char *dir = generate(schema, name, 0);
    assert_int_equal(
        sh("cd %s && cc -std=c11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined "
           "-fno-sanitize-recover=undefined -I. -o %s_check %s/gen_c/%s_check.c "
           "%s.c canon_rt.c canon_resolve.c -ljansson -lm",
           dir, name, data_dir(), name, name),
        0);
    assert_int_equal(sh("cd %s && timeout 60 ./%s_check", dir, name), 0);
    free(dir);
    free(schema);
    free(path);
}

/* data/gen_c/nested_check.c says what it checks: with a limit per array only, 70 bytes of
 * array<array<null>> decoded to 1,114,112 items and a thousand inner arrays (4 KB) to 65
 * million. */
static void test_nested_arrays_of_empty_items_have_a_budget_per_decode(void **state)
{
    (void)state;
    run_check_program("nested");
}

/* data/gen_c/blocks_check.c says what it checks: a decoder that kept a copy of the array
 * per block held 64 MB in its arena there, where 200 KB is allowed, and one that bounded
 * empty items per block took 65,538 nulls. */
static void test_arrays_in_many_blocks_decode_in_linear_memory(void **state)
{
    (void)state;
    run_check_program("blocks");
}

static void test_keywords_are_escaped_and_unnamed_roots_are_wrapped(void **state)
{
    (void)state;
    const char *schema =
        "[\"null\", \"long\", {\"type\": \"record\", \"name\": \"switch\", \"fields\": "
        "[{\"name\": \"default\", \"type\": \"int\"}, {\"name\": \"while\", "
        "\"type\": {\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"if\"]}}]}]";
    char *dir = generate(schema, "keywords", 1);
    char *h = path_fmt("%s/root.h", dir);
    char *text = slurp(h, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "int32_t default_;"));
    assert_non_null(strstr(text, "root_e_t while_;"));
    assert_non_null(strstr(text, "struct root {"));
    char *buf;
    size_t n;
    char **out = roundtrip(
        dir, 0, "null\n{\"long\": 5}\n{\"switch\": {\"default\": -1, \"while\": \"if\"}}\n", &buf,
        &n);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "00");
    assert_string_equal(out[1], "020a");
    assert_string_equal(out[2], "040100");
    free(out);
    free(buf);
    free(text);
    free(h);
    free(dir);
}

static void test_schema_without_finite_values_is_refused(void **state)
{
    (void)state;
    const char *schema = "{\"type\":\"record\",\"name\":\"Loop\",\"fields\":[{\"name\":\"self\","
                         "\"type\":\"Loop\"}]}";
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(schema, strlen(schema), NULL, 0, &s);
    if (err) { /* the parser may refuse it already, which is as good */
        cg_err_free(err);
        return;
    }
    gen_files *files = gen_files_new();
    gen_opts o = {0};
    err = gen_c(s, schema, &o, files);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EINVALID_SCHEMA);
    assert_non_null(strstr(cg_err_msg(err), "Loop"));
    cg_err_free(err);
    gen_files_free(files);
    reg_schema_free(s);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/test_gen_c.XXXXXX");
    /* roundtrip.sh compiles with $CFLAGS: -O0 keeps this test quick; code is the same */
    setenv("CFLAGS", "-O0", 1);
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (!getenv("KEEP_GEN_C"))
        nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_runtime_is_codegen_c_runtime),
        cmocka_unit_test(test_generated_code_compiles_without_warnings),
        cmocka_unit_test(test_conformance_vectors_pass_both_directions),
        cmocka_unit_test(test_all_types_round_trip_and_avro_c_agrees),
        cmocka_unit_test(test_entity_builder_envelope_and_kafka_helpers),
        cmocka_unit_test(test_decoder_survives_corrupt_bytes_under_sanitizers),
        cmocka_unit_test(test_arrays_in_many_blocks_decode_in_linear_memory),
        cmocka_unit_test(test_nested_arrays_of_empty_items_have_a_budget_per_decode),
        cmocka_unit_test(test_keywords_are_escaped_and_unnamed_roots_are_wrapped),
        cmocka_unit_test(test_schema_without_finite_values_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
