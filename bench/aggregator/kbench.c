/* kbench.c - helpers of the aggregator benchmark programs; see kbench.h. */
#include "kbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void kb_conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s=%s: %s\n", k, v, err);
        exit(1);
    }
}

int kb_create_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    if (!nt) {
        fprintf(stderr, "topic %s: %s\n", topic, err);
        exit(1);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        fprintf(stderr, "create topic %s: no answer in 30 s\n", topic);
        exit(1);
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "create topic %s: %s\n", topic, rd_kafka_event_error_string(ev));
        exit(1);
    }
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    int existed = 0;
    rd_kafka_resp_err_t e =
        cnt == 1 ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__BAD_MSG;
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        existed = 1;
    } else if (e) {
        fprintf(stderr, "create topic %s: %s\n", topic,
                cnt == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
        exit(1);
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    /* Ask for the topic's metadata now: librdkafka 2.0.2 stalls about a second on the
     * first produce to a topic it has not seen (DESIGN.md), which would count as time. */
    (void)kb_partition_count(rk, topic);
    return existed;
}

int kb_partition_count(rd_kafka_t *rk, const char *topic)
{
    double deadline = kb_now() + 30;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    for (;;) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
        int n = -1;
        if (!e && md->topic_cnt == 1 && !md->topics[0].err) {
            n = md->topics[0].partition_cnt;
            for (int i = 0; i < n; i++)
                if (md->topics[0].partitions[i].leader < 0)
                    n = -1; /* not ready yet */
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (n > 0) {
            rd_kafka_topic_destroy(t);
            return n;
        }
        if (kb_now() > deadline) {
            fprintf(stderr, "topic %s: no usable metadata in 30 s (%s)\n", topic,
                    rd_kafka_err2str(e));
            exit(1);
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

double kb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double kb_maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* ---- real person updates ---------------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    int n;
} kb_w;

static void w_long(kb_w *w, long long v)
{
    unsigned long long z = ((unsigned long long)v << 1) ^ (unsigned long long)(v >> 63);
    while (z >= 0x80) {
        w->p[w->n++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    w->p[w->n++] = (unsigned char)z;
}

static void w_str(kb_w *w, const char *s)
{
    size_t len = strlen(s);
    w_long(w, (long long)len);
    memcpy(w->p + w->n, s, len);
    w->n += (int)len;
}

static int w_frame(kb_w *w, int schema_id)
{
    w->p[0] = 0;
    w->p[1] = (unsigned char)(schema_id >> 24);
    w->p[2] = (unsigned char)(schema_id >> 16);
    w->p[3] = (unsigned char)(schema_id >> 8);
    w->p[4] = (unsigned char)schema_id;
    w->n = 5;
    return 0;
}

/* A deterministic stream of choices per update (splitmix64), so a run can be repeated. */
static unsigned long long mix(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int kb_person_key(char *buf, long k)
{
    return snprintf(buf, 40, "00000000-0000-4000-8000-%012ld", k);
}

/* values fields, in the update schema's order */
enum { F_GIVEN, F_FAMILY, F_EMAIL, F_PHONE, F_BIRTH, F_STATUS, F_ADDRESS, F_TAGS, F_TIER, F_N };
static const char *const field_names[F_N] = {"given_name", "family_name", "email",
                                             "phone",      "birth_date",  "employment_status",
                                             "address",    "tags",        "support_tier"};
static const char *const sources[3] = {"hr", "crm", "support"};
/* fields each source may write (canon.writers of schemas/person.avsc) */
static const int allowed[3][8] = {
    {F_GIVEN, F_FAMILY, F_EMAIL, F_BIRTH, F_STATUS, F_ADDRESS, F_TAGS, -1},
    {F_GIVEN, F_FAMILY, F_EMAIL, F_PHONE, F_ADDRESS, F_TAGS, -1, -1},
    {F_EMAIL, F_PHONE, F_ADDRESS, F_TAGS, F_TIER, -1, -1, -1}};

static void w_value(kb_w *w, int f, unsigned long long r)
{
    char s[64];
    w_long(w, 1); /* the non-null branch of ["null", T] */
    switch (f) {
    case F_BIRTH:
        w_long(w, (long long)(r % 20000));
        break;
    case F_STATUS:
        w_long(w, (long long)(r % 4));
        break;
    case F_ADDRESS: /* street, city, postal_code, country: each ["null","string"] */
        snprintf(s, sizeof s, "%llu Canon Street", r % 1000);
        w_long(w, 1);
        w_str(w, s);
        w_long(w, 1);
        w_str(w, (r >> 10) & 1 ? "Edinburgh" : "Glasgow");
        snprintf(s, sizeof s, "EH%llu", (r >> 12) % 100);
        w_long(w, 1);
        w_str(w, s);
        w_long(w, 1);
        w_str(w, "GB");
        break;
    case F_TAGS:
        w_long(w, 2);
        w_str(w, "bench");
        snprintf(s, sizeof s, "t%llu", r % 50);
        w_str(w, s);
        w_long(w, 0);
        break;
    default:
        snprintf(s, sizeof s, "%s-%llu", field_names[f], r % 100000);
        w_str(w, s);
        break;
    }
}

int kb_person_update(unsigned char *buf, int schema_id, long i, long k, long keys,
                     long long base_ms)
{
    kb_w w = {buf, 0};
    char key[40];
    unsigned long long r = mix((unsigned long long)i);
    int src = (int)(i % 3);
    long long t = base_ms + i;
    /* A key comes back every `keys` updates (ms of event time): stale by up to three
     * visits, so that a stale update meets newer fields whatever the key count. */
    if (r % 10 == 0)
        t -= (long long)((r >> 8) % (unsigned long long)(3 * keys + 1));
    int is_delete = (r >> 24) % 100 == 0;
    w_frame(&w, schema_id);
    kb_person_key(key, k);
    w_str(&w, key);
    w_str(&w, sources[src]);
    w_long(&w, t);
    w_long(&w, i);
    w_long(&w, is_delete ? 1 : 0);
    int chosen[F_N] = {0}, cleared[F_N] = {0}, n_chosen = 0;
    if (!is_delete) {
        int n_allowed = 0;
        while (n_allowed < 8 && allowed[src][n_allowed] >= 0)
            n_allowed++;
        int want = 2 + (int)((r >> 32) % 3);
        unsigned long long c = mix(r);
        for (int tries = 0; n_chosen < want && tries < 32; tries++) {
            int f = allowed[src][(c >> (tries * 2 % 60)) % (unsigned)n_allowed];
            c = mix(c + (unsigned long long)tries);
            if (chosen[f])
                continue;
            chosen[f] = 1;
            cleared[f] = c % 100 < 3;
            n_chosen++;
        }
    }
    /* provided: one array block in schema order, then values */
    if (n_chosen) {
        w_long(&w, n_chosen);
        for (int f = 0; f < F_N; f++)
            if (chosen[f])
                w_str(&w, field_names[f]);
    }
    w_long(&w, 0);
    for (int f = 0; f < F_N; f++) {
        if (chosen[f] && !cleared[f])
            w_value(&w, f, mix(r + (unsigned long long)f));
        else
            w_long(&w, 0); /* null: untouched, or cleared when provided */
    }
    return w.n;
}

int kb_person_touch(unsigned char *buf, int schema_id, long k, long long event_ms, long seq)
{
    kb_w w = {buf, 0};
    char key[40], email[64];
    w_frame(&w, schema_id);
    kb_person_key(key, k);
    w_str(&w, key);
    w_str(&w, "crm");
    w_long(&w, event_ms);
    w_long(&w, seq);
    w_long(&w, 0);
    w_long(&w, 1);
    w_str(&w, "email");
    w_long(&w, 0);
    snprintf(email, sizeof email, "p%ld-%ld@example.org", k, seq);
    for (int f = 0; f < F_N; f++) {
        if (f == F_EMAIL) {
            w_long(&w, 1);
            w_str(&w, email);
        } else {
            w_long(&w, 0);
        }
    }
    return w.n;
}

void kb_count_failed(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    long *failed = opaque;
    if (m->err) {
        if (*failed == 0)
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        (*failed)++;
    }
}

int kb_produce(rd_kafka_t *rk, const char *topic, const void *key, size_t key_len,
               const void *value, size_t value_len)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE((void *)value, value_len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!e)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "produce to %s: %s\n", topic, rd_kafka_err2str(e));
            return 1;
        }
        rd_kafka_poll(rk, 5);
    }
}

int kb_drain(rd_kafka_t *rk, double max_s)
{
    double t0 = kb_now();
    while (rd_kafka_outq_len(rk) > 0 && kb_now() - t0 < max_s)
        rd_kafka_poll(rk, 100);
    return rd_kafka_outq_len(rk);
}

long kb_key_stride(long keys)
{
    long stride = (long)((double)keys * 0.618) | 1;
    for (; stride > 1; stride--) {
        long a = stride, b = keys;
        while (b) {
            long t = a % b;
            a = b;
            b = t;
        }
        if (a == 1)
            break;
    }
    return stride < 1 ? 1 : stride;
}

rd_kafka_t *kb_bulk_producer(const char *bootstrap, long *failed)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kb_conf_set(conf, "bootstrap.servers", bootstrap);
    kb_conf_set(conf, "partitioner", "murmur2_random");
    kb_conf_set(conf, "enable.idempotence", "true");
    kb_conf_set(conf, "linger.ms", "20");
    kb_conf_set(conf, "queue.buffering.max.messages", "1000000");
    kb_conf_set(conf, "queue.buffering.max.kbytes", "1048576");
    rd_kafka_conf_set_dr_msg_cb(conf, kb_count_failed);
    rd_kafka_conf_set_opaque(conf, failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "producer: %s\n", errstr);
        exit(1);
    }
    return rk;
}
