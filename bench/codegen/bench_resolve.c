/* bench_resolve.c - reading an older version of a schema through the C binding's resolver
 * (canon_resolve.h), against reading the binding's own version.
 *
 * The record is bench_c.c's customer (bench_common.h: customer.avsc, 20 fields, every one
 * set), with its last two fields at their defaults. The "older version" is customer.avsc
 * without those two (account_manager_id and region, both with defaults): the evolution
 * every canonical change makes. Its bytes are the binding's encoding without those two
 * fields' bytes, and the resolver must give back the same record with the two defaults,
 * which is checked before timing. Rows, CPU time on one core, best of ROUNDS interleaved
 * rounds:
 *   decode, own version          customer_decode alone (the baseline)
 *   resolver, own version        canon_resolver_convert (identity: the input passes
 *                                through) + customer_decode
 *   resolver, older version      canon_resolver_convert (rewritten with the defaults) +
 *                                customer_decode
 * and whether Avro C can do the last (its resolved writer refuses a reader field with a
 * default that the writer lacks; the row says so with Avro C's own message, on the
 * smallest such pair: on this one Avro C frees a block twice, see below).
 * Usage: bench_codegen_resolve [SECONDS per round, 1] [ROUNDS, 3] [DUMP]: with DUMP, also
 * writes the older version's schema (first line) and records (hex, one a line) there, for
 * bench/codegen/python_resolve.py, which resolve.sh runs next to this: fastavro doing the
 * same resolution on the same bytes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <avro.h>
#include <jansson.h>

#define BENCH_NAME "bench_resolve"
#include "bench_common.h"
#include "canon_resolve.h"

/* customer.avsc without its last two fields, as JSON text (caller frees). */
static char *older_schema(void)
{
    json_error_t je;
    json_t *s = json_loads(customer_schema, 0, &je);
    if (!s)
        die("schema", je.text);
    json_t *f = json_object_get(s, "fields");
    size_t n = json_array_size(f);
    if (n < 3 ||
        strcmp(json_string_value(json_object_get(json_array_get(f, n - 1), "name")), "region") != 0)
        die("schema", "customer.avsc no longer ends with account_manager_id, region");
    json_array_remove(f, n - 1);
    json_array_remove(f, n - 2);
    char *text = json_dumps(s, JSON_COMPACT);
    json_decref(s);
    return text;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (rounds < 1)
        rounds = 1;
    canon_arena *build = canon_arena_new(1 << 20), *scratch = canon_arena_new(0);
    canon_error err = {0};
    static canon_buf own[N_RECORDS];
    static const uint8_t *old[N_RECORDS];
    static size_t old_len[N_RECORDS];
    char *old_text = older_schema();

    /* The older version's bytes: the last two fields of this record encode as 0x00 (null
     * account_manager_id) and 0x04 'e' 'u' (region "eu"), four bytes in all. */
    for (int i = 0; i < N_RECORDS; i++) {
        customer_t c;
        make_record(&c, i, build);
        /* the two fields the older version lacks, at their defaults: the record it
         * resolves to */
        c.account_manager_id.has = false;
        c.region = canon_str_c("eu");
        canon_buf_init(&own[i]);
        if (customer_encode(&c, &own[i], &err) != 0)
            die("encode", err.msg);
        if (own[i].len < 4 || memcmp(own[i].data + own[i].len - 4,
                                     "\x00\x04"
                                     "eu",
                                     4) != 0)
            die("encode", "the record does not end as expected");
        old[i] = own[i].data;
        old_len[i] = own[i].len - 4;
    }

    if (argc > 3) {
        FILE *f = fopen(argv[3], "w");
        if (!f)
            die("dump", argv[3]);
        fprintf(f, "%s\n", old_text);
        for (int i = 0; i < N_RECORDS; i++) {
            for (size_t k = 0; k < old_len[i]; k++)
                fprintf(f, "%02x", old[i][k]);
            fputc('\n', f);
        }
        if (fclose(f) != 0)
            die("dump", argv[3]);
    }

    canon_resolver *r = canon_resolver_new(customer_schema, NULL, NULL, &err);
    if (!r || canon_resolver_add(r, 1, customer_schema, &err) ||
        canon_resolver_add(r, 2, old_text, &err))
        die("resolver", err.msg);
    for (int i = 0; i < N_RECORDS; i++) {
        const void *out;
        size_t n;
        if (canon_resolver_convert(r, 2, old[i], old_len[i], &out, &n, &err) != 0)
            die("convert", err.msg);
        if (n != own[i].len || memcmp(out, own[i].data, n) != 0)
            die("check", "the older version does not resolve to the record with its defaults");
        if (canon_resolver_convert(r, 1, own[i].data, own[i].len, &out, &n, &err) != 0 ||
            out != own[i].data)
            die("check", "the own version does not pass through");
    }

    /* Avro C's resolved writer cannot be the reference: it refuses a reader field with a
     * default that the writer lacks, and on this very pair (the older customer read as
     * customer.avsc) its error path frees a block twice (AddressSanitizer: double-free
     * inside avro_resolved_writer_new, Avro C 1.11.1). Its refusal is shown on the
     * smallest such pair instead. */
    char avroc[200];
    avro_schema_t ws, rs;
    if (avro_schema_from_json_literal(
            "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}]}",
            &ws) ||
        avro_schema_from_json_literal("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                                      "{\"name\":\"a\",\"type\":\"long\"},"
                                      "{\"name\":\"b\",\"type\":\"long\",\"default\":0}]}",
                                      &rs))
        die("avro schema", avro_strerror());
    avro_value_iface_t *res = avro_resolved_writer_new(ws, rs);
    snprintf(avroc, sizeof avroc, "%s", res ? "resolves it (not timed)" : avro_strerror());
    if (res)
        avro_value_iface_decref(res);
    avro_schema_decref(ws);
    avro_schema_decref(rs);

    double plain = 0, ident = 0, conv = 0;
    customer_t v;
    for (int round = 0; round < rounds; round++) {
        long n;
        double t0, t = 0;
        const void *out;
        size_t len;

        t0 = cpu_now();
        for (n = 0;; n++) {
            if ((n & 1023) == 0 && (t = cpu_now() - t0) >= seconds)
                break;
            canon_arena_reset(scratch);
            const canon_buf *e = &own[n % N_RECORDS];
            if (customer_decode(&v, e->data, e->len, scratch, &err) != 0)
                die("decode", err.msg);
        }
        best(&plain, (double)n / t);

        t0 = cpu_now();
        for (n = 0;; n++) {
            if ((n & 1023) == 0 && (t = cpu_now() - t0) >= seconds)
                break;
            canon_arena_reset(scratch);
            const canon_buf *e = &own[n % N_RECORDS];
            if (canon_resolver_convert(r, 1, e->data, e->len, &out, &len, &err) != 0 ||
                customer_decode(&v, out, len, scratch, &err) != 0)
                die("resolve own", err.msg);
        }
        best(&ident, (double)n / t);

        t0 = cpu_now();
        for (n = 0;; n++) {
            if ((n & 1023) == 0 && (t = cpu_now() - t0) >= seconds)
                break;
            canon_arena_reset(scratch);
            int i = (int)(n % N_RECORDS);
            if (canon_resolver_convert(r, 2, old[i], old_len[i], &out, &len, &err) != 0 ||
                customer_decode(&v, out, len, scratch, &err) != 0)
                die("resolve older", err.msg);
        }
        best(&conv, (double)n / t);
    }
    printf("%-34s %14s %10s\n", "C (customer.avsc, one core)", "decodes/s", "vs plain");
    printf("%-34s %14.0f %9.2fx\n", "decode, own version", plain, 1.0);
    printf("%-34s %14.0f %9.2fx\n", "resolver + decode, own version", ident, ident / plain);
    printf("%-34s %14.0f %9.2fx\n", "resolver + decode, older version", conv, conv / plain);
    printf("%-34s %s\n", "Avro C resolved writer", avroc);

    canon_resolver_free(r);
    for (int i = 0; i < N_RECORDS; i++)
        canon_buf_free(&own[i]);
    canon_arena_free(build);
    canon_arena_free(scratch);
    free(old_text);
    return 0;
}
