/* bench_mapping.c - the declarative mapping's own cost per record, without Kafka.
 *
 * Issue 6 asks the declarative translator for 200,000 domain records/s, JSON in to
 * produced update out, on one core including Kafka: 5 us per record for everything.
 * This measures the part the mapping contributes, on a typical HR record (about 400
 * bytes, 12 members, nested name and address, ISO timestamps), with the person schema
 * of schemas/: (1) jansson parse of the record text + tr_mapping_apply, (2)
 * tr_mapping_apply alone on a parsed record, and (3) tr_mapping_apply_text, the text
 * fast path (same result as (1), no jansson tree): what the runner should call. Records differ
 * (distinct e-mails, so distinct UUID v5 keys). CPU time of this thread is reported, as
 * the machine may be shared; give /proc/loadavg with any figure.
 *
 * Usage: bench_mapping [records=500000] [apply|text]   (one phase only, for profiling)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/canon_derive.h"
#include "translators/mapping.h"

static const char *MAPPING =
    "{\"source\": {\"topic\": \"hr.employees\", \"format\": \"json\"},\n"
    " \"entity\": \"person\", \"domain\": \"hr\",\n"
    " \"key\": {\"from\": \"work_email\", \"normalize\": [\"trim\", \"lower\"]},\n"
    " \"event_time\": {\"from\": \"updated_at\"},\n"
    " \"delete\": [{\"path\": \"status\", \"equals\": \"deleted\"}],\n"
    " \"fields\": {\n"
    "  \"given_name\": {\"from\": \"name.first\", \"normalize\": [\"trim\"]},\n"
    "  \"family_name\": {\"from\": \"name.last\", \"normalize\": [\"trim\"], \"clear_when_empty\": "
    "true},\n"
    "  \"email\": {\"from\": \"work_email\", \"normalize\": [\"trim\", \"lower\"]},\n"
    "  \"birth_date\": {\"from\": \"dob\", \"format\": \"%d/%m/%Y\"},\n"
    "  \"employment_status\": {\"from\": \"status\", \"enum\": {\"active\": \"ACTIVE\", \"leave\": "
    "\"ON_LEAVE\", \"left\": \"TERMINATED\"}, \"enum_default\": \"UNKNOWN\"},\n"
    "  \"address.street\": \"home.street\",\n"
    "  \"address.city\": \"home.city\",\n"
    "  \"address.postal_code\": \"home.zip\",\n"
    "  \"address.country\": {\"from\": \"home.country\", \"normalize\": [\"upper\"]},\n"
    "  \"tags\": {\"const\": [\"employee\"]}\n"
    " }}\n";

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int die(cg_err *e)
{
    fprintf(stderr, "bench_mapping: %s\n", cg_err_msg(e));
    cg_err_free(e);
    return 1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 500000;
    if (n <= 0)
        n = 500000;
    char *text = slurp(CANON_SCHEMAS_DIR "/person.avsc");
    if (!text) {
        fprintf(stderr, "bench_mapping: cannot read person.avsc\n");
        return 1;
    }
    reg_schema *canon = NULL, *upd = NULL;
    char *ut = NULL;
    tr_mapping *m = NULL;
    cg_err *e = reg_schema_parse(text, strlen(text), NULL, 0, &canon);
    if (!e)
        e = reg_canon_derive_update(canon, &ut);
    if (!e)
        e = reg_schema_parse(ut, strlen(ut), NULL, 0, &upd);
    if (!e)
        e = tr_mapping_parse(MAPPING, strlen(MAPPING), "bench.json", &m);
    if (!e)
        e = tr_mapping_bind(m, canon, upd, 7);
    if (e)
        return die(e);

    /* a ring of distinct records, as text (what Kafka hands the runner) */
    enum { RING = 1024 };
    char **recs = calloc(RING, sizeof *recs);
    size_t *lens = calloc(RING, sizeof *lens);
    json_t **parsed = calloc(RING, sizeof *parsed);
    static const char *status[] = {"active", "active", "leave", "left"};
    for (int i = 0; i < RING; i++) {
        char buf[1024];
        int len = snprintf(buf, sizeof buf,
                           "{\"employee_no\": %d, \"work_email\": \" Employee.%d@Example.com\","
                           " \"name\": {\"first\": \"Alice%d\", \"last\": \"Smith \"},"
                           " \"dob\": \"%02d/%02d/19%02d\", \"status\": \"%s\","
                           " \"home\": {\"street\": \"%d Long Street\", \"city\": \"Leeds\","
                           " \"zip\": \"LS1 %dAB\", \"country\": \"gb\"},"
                           " \"department\": \"Finance\", \"manager\": \"bob@example.com\","
                           " \"updated_at\": \"2024-03-%02dT09:%02d:%02d.%03dZ\"}",
                           i, i, i, 1 + i % 28, 1 + i % 12, 50 + i % 40, status[i % 4], i, i % 10,
                           1 + i % 28, i % 60, (i * 7) % 60, i % 1000);
        recs[i] = strdup(buf);
        lens[i] = (size_t)len;
        parsed[i] = json_loadb(buf, (size_t)len, 0, NULL);
    }

    tr_output o;
    tr_output_init(&o);
    size_t bytes = 0;
    /* warm-up: buffers grow to their steady size */
    for (int i = 0; i < RING; i++)
        if ((e = tr_mapping_apply(m, parsed[i], 0, i, &o)))
            return die(e);

    int apply_only = argc > 2 && (strcmp(argv[2], "apply") == 0 || strcmp(argv[2], "text") == 0);
    double t0 = cpu();
    for (long i = 0; i < n && !apply_only; i++) {
        json_t *r = json_loadb(recs[i % RING], lens[i % RING], 0, NULL);
        if (!r) {
            fprintf(stderr, "bench_mapping: bad record\n");
            return 1;
        }
        if ((e = tr_mapping_apply(m, r, 0, i, &o)))
            return die(e);
        bytes += o.value.len;
        json_decref(r);
    }
    double t1 = cpu();
    int text_only = argc > 2 && strcmp(argv[2], "text") == 0;
    for (long i = 0; i < n && !text_only; i++) {
        if ((e = tr_mapping_apply(m, parsed[i % RING], 0, i, &o)))
            return die(e);
        bytes += o.value.len;
    }
    double t2 = cpu();
    for (long i = 0; i < n && !(argc > 2 && strcmp(argv[2], "apply") == 0); i++) {
        if ((e = tr_mapping_apply_text(m, recs[i % RING], lens[i % RING], 0, i, &o)))
            return die(e);
        bytes += o.value.len;
    }
    double t3 = cpu();

    double la = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &la) != 1)
            la = 0;
        fclose(f);
    }
    printf("records: %ld (typical HR record, %zu bytes of JSON; update %zu bytes)\n", n, lens[0],
           o.value.len);
    if (!apply_only)
        printf("parse JSON + apply: %.0f records/s (%.2f us/record CPU)\n", n / (t1 - t0),
               (t1 - t0) * 1e6 / n);
    if (!text_only)
        printf("apply alone:        %.0f records/s (%.2f us/record CPU)\n", n / (t2 - t1),
               (t2 - t1) * 1e6 / n);
    printf("apply_text (JSON text -> update): %.0f records/s (%.2f us/record CPU)\n", n / (t3 - t2),
           (t3 - t2) * 1e6 / n);
    printf("load average (1 min): %.2f   [checksum %zu]\n", la, bytes);

    tr_output_free(&o);
    for (int i = 0; i < RING; i++) {
        free(recs[i]);
        json_decref(parsed[i]);
    }
    free(recs);
    free(lens);
    free(parsed);
    tr_mapping_free(m);
    reg_schema_free(canon);
    reg_schema_free(upd);
    free(ut);
    return 0;
}
