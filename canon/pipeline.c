/* pipeline.c - the aggregator's Kafka pipeline (see pipeline.h and docs/aggregator.md).
 *
 * Exactly once rests on three things done together:
 * - every batch is one Kafka transaction holding the canon records, the dead letters and
 *   the consumed offsets (send_offsets_to_transaction), consumed read_committed;
 * - a partition's state is rebuilt from canon.<entity> (same partition) whenever it is
 *   assigned, so state and committed offset always describe the same point;
 * - when a transaction must be aborted, the touched partitions are rewound to their batch
 *   start and their state is rebuilt from the canon topic (the aborted records are
 *   invisible to read_committed), so memory never keeps a merge whose record was lost.
 *
 * Commit cadence adapts to load: a batch is committed as soon as the consumer's queue is
 * drained (low load: a few updates per transaction, low latency), or when it reaches
 * commit_interval_ms or batch_max (high load: large transactions, high throughput). Under
 * backlog a drained queue does not commit (the fetcher is behind, see input_waiting()),
 * and slow commits stretch the interval (see canon_pipeline_run()).
 *
 * The commit is pipelined (transactions only): the loop hands a closed batch to the
 * commit thread, which flushes its records, then runs send_offsets_to_transaction and
 * commit_transaction while the loop goes on consuming and merging the next batch. Two
 * transactional producers take the batches in turn (kafka_begin()), so the next batch's
 * transaction begins as soon as the flying batch's records are written (FL_FLUSHED), not
 * after its commit and its markers; until then the next batch's canon records and dead
 * letters are held in memory (`held`). Commits stay serial. A commit that fails rewinds
 * and restores both batches. Anything that needs committed state (a rebalance, a new
 * canonical version, a checkpoint, the stop) first waits for the commit thread and
 * commits synchronously (commit_txn()).
 *
 * Threads: everything but the commit calls runs on the thread of canon_pipeline_run(),
 * which never touches the producer the commit thread has (prod[fl_idx] while `flying`).
 * Counters are atomics read by the metrics endpoint's threads, and the entity table is
 * guarded by `lock` for them. */
#define _GNU_SOURCE
#include "pipeline.h"

#include <stddef.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "checkpoint.h"
#include "merge.h"
#include "registry_client.h"
#include "state.h"
#include "topic_config.h"
#include "walk.h"

#define N_REASONS (CANON_R_LAST + 1)

/* Messages taken from the consumer queue per call, and how far ahead of the update being
 * merged its state is prefetched: the blob of its key PF_AHEAD updates ahead, the hash slot
 * twice as far (see next_message()). */
#define IN_BATCH 64
/* Least time between two reads of the topics' limits after a batch was refused for its
 * size (abort_and_rewind()). */
#define LIMITS_REREAD_MS 10000
#define PF_AHEAD         4

typedef struct ent_counts {
    uint64_t updates_in, published, noops, rejected, stale_fields, records_out, dlq_out;
    uint64_t restores, restored_records, ignored_fields;
    uint64_t by_reason[N_REASONS];
} ent_counts;

/* One entity served. Partition arrays have n_parts entries. */
typedef struct entity {
    char *name;
    char *updates_topic, *canon_topic, *dlq_topic;
    int32_t canonical_id, updates_id, envelope_id;
    canon_engine *engine;
    int32_t n_parts;
    int32_t dlq_parts;     /* canon.E.dlq's partition count: its own when it existed before */
    size_t canon_max;      /* the largest record canon.E takes, 0: not known (fit_producers()) */
    size_t dlq_max;        /* the same for canon.E.dlq */
    canon_state **states;  /* NULL: partition not assigned here */
    int64_t *batch_start;  /* first offset consumed in the open transaction, -1: none */
    int64_t *next_offset;  /* offset to commit (last consumed + 1), -1: none this batch */
    int64_t *flight_start; /* first offset consumed in the batch the commit thread is
                              committing, -1: none (the rewind point if it fails) */
    int64_t *lag;          /* atomic: consumer lag per partition (see update_lag); -1: not
                              assigned or unknown */
    int64_t *committed;    /* group's committed offset at assignment, -1: none; the lag's
                              position until the first update of the partition is consumed */
    int32_t *known_ids;    /* update and envelope schema ids added to the engine */
    size_t n_known, cap_known;
    ent_counts c; /* atomics */
} entity;

struct canon_pipeline {
    canon_pipeline_config cfg;
    char *bootstrap, *registry_url, *group_id, *txn_id, *txn_id2;
    char **props;
    size_t n_props;
    char **want; /* entities asked for (NULL: all) */
    size_t n_want;
    canon_registry *reg;
    rd_kafka_t *consumer, *restorer;
    /* Asks for the canon topics' high watermarks (read_uncommitted): the restorer, being
     * read_committed, would be told the last stable offset, which is short of the end while
     * a transaction's markers are not written yet (restore_partition()). */
    rd_kafka_t *marks;
    /* Transactional producers used in turn, one transaction each (prod[1] NULL without
     * transactions): a transaction can begin on one while the other's commit finishes,
     * without waiting for that commit's markers (see kafka_begin()). */
    rd_kafka_t *prod[2];
    int cur;              /* prod[cur] makes the open batch's transaction */
    rd_kafka_t *draining; /* (atomic) the producer drain_stale() is serving */
    pthread_mutex_t lock; /* guards ents/n_ents against the metrics readers */
    entity **ents;
    size_t n_ents;
    int stop;    /* atomic */
    int running; /* canon_pipeline_run() has subscribed */
    int in_txn;
    int64_t batch_started_ms;
    size_t batch_n;
    int64_t last_commit_ms; /* how long the last commit took (sets the span under load) */
    int64_t last_refresh_ms;
    cg_err *cb_err; /* an error raised inside the rebalance callback */
    canon_result res;
    uint64_t txns, aborts; /* atomics */
    uint64_t txn_us_total; /* atomic: time spent committing */
    uint64_t txn_hist[8];  /* atomic: commit time buckets (see metrics) */
    canon_cp *cp;          /* the checkpoint (--checkpoint), NULL: none */
    int64_t cp_last_ms;
    int64_t outage_ms;      /* atomic: when a broker outage began (now_ms()), 0: none */
    size_t max_record;      /* the producers' message.max.bytes (canon_msg.max_record) */
    char batch_set[24];     /* batch.size the producers are made with ("": as configured) */
    int txn_ready;          /* the producers' transactions are initialised */
    int64_t limits_read_ms; /* when topic_configs() last read (now_ms()) */
    json_t *unserved;       /* entity name -> why it is not served, as last said (refresh) */
    /* The pipelined commit (see the top of the file). fl_* are shared with the commit
     * thread under fl_lock; the rest belongs to the loop thread. */
    int pipelined; /* transactions on: commits run on the commit thread */
    int kbegun;    /* the open batch's Kafka transaction has begun (else: held) */
    int flying;    /* a batch is with the commit thread (posted, maybe done) */
    pthread_t committer;
    int committer_up;
    pthread_mutex_t fl_lock;
    pthread_cond_t fl_cond;
    int fl_state; /* FL_IDLE, FL_POSTED, FL_DONE */
    int fl_quit;
    rd_kafka_topic_partition_list_t *fl_offs; /* the batch's offsets, owned while flying */
    size_t fl_n;                              /* its updates */
    int64_t fl_open_ms, fl_t0_ms;             /* how long it was open; when its commit began */
    int64_t fl_offsets_ms, fl_us;             /* (commit thread) offsets sent; call time */
    int64_t fl_flushed_ms;                    /* (commit thread) its records written */
    int fl_abort;                             /* (commit thread) must be aborted: fl_why */
    int fl_idx;                               /* prod[fl_idx] is the commit thread's */
    char fl_why[512];
    cg_err *fl_err;        /* (commit thread) fatal */
    struct held_rec *held; /* records of the open batch waiting for its transaction */
    size_t n_held, cap_held;
    canon_wbuf harena; /* their keys and values */
    /* Consumed messages taken from the consumer queue in one call and not handled yet:
     * in_buf[in_at..in_n) (see next_message()). */
    rd_kafka_queue_t *cq;
    rd_kafka_message_t *in_buf[IN_BATCH];
    uint32_t in_hash[IN_BATCH]; /* their keys' hashes (canon_state_prefetch_slot()) */
    size_t in_at, in_n;
    uint64_t rebalances;     /* rebalance callbacks served (loop thread) */
    uint64_t n_calls;        /* consume calls that returned messages (test_replay_every) */
    uint64_t n_sync_commits; /* commit_txn() calls with a batch (test_abort_every) */
    /* --no-transactions: records of the open batch whose delivery failed, and the first
     * one's error (delivered(), on the loop thread; commit_txn() refuses the batch). */
    uint64_t dr_failed;
    char dr_why[256];
    /* The partitions the last abort_and_rewind() sought back (NULL: none yet): handle()
     * looks there to know whether the message it holds comes again. */
    rd_kafka_topic_partition_list_t *rewound;
    struct topic_ref *trefs; /* the producers' topic handles (topic_handle()) */
    size_t n_trefs, cap_trefs;
    /* -v: where the loop's wall time went since the last report (microseconds) */
    int64_t t_idle_us, t_merge_us, t_commit_us, t_report_ms;
    uint64_t n_polls_empty;
};

static const double txn_buckets_s[7] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void logf_(const canon_pipeline *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(const canon_pipeline *p, const char *fmt, ...)
{
    (void)p;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "canon aggregate: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *fmt_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_str(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* ---- librdkafka configuration ------------------------------------------------------- */

static cg_err *conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return cg_err_new(CG_EINVAL, "librdkafka setting %s=%s: %s", k, v, errstr);
    return NULL;
}

/* make_client()'s kinds: KIND_MARKS is the restorer's configuration, read_uncommitted */
enum { KIND_PRODUCER, KIND_CONSUMER, KIND_RESTORER, KIND_PRODUCER2, KIND_MARKS };

/* Base settings, then the user's -X settings (which win, but for KIND_MARKS's isolation
 * level). consumer: 0 a producer, 1 the group consumer, 2 the restore consumer and the
 * watermark client (no group use, partition EOF events). */
static cg_err *make_conf(canon_pipeline *p, int kind, rd_kafka_conf_t **out)
{
    cg_err *err = NULL;
    int consumer = kind == KIND_CONSUMER ? 1 : kind == KIND_RESTORER || kind == KIND_MARKS ? 2 : 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if ((err = conf_set(conf, "bootstrap.servers", p->bootstrap)))
        goto fail;
    for (size_t i = 0; i < p->n_props; i++) {
        const char *eq = strchr(p->props[i], '=');
        if (!eq) {
            err = cg_err_new(CG_EINVAL, "-X %s: expected key=value", p->props[i]);
            goto fail;
        }
        if ((size_t)(eq - p->props[i]) >= 256) {
            err = cg_err_new(CG_EINVAL, "-X %s: key too long", p->props[i]);
            goto fail;
        }
    }
    if (consumer) {
        const char *kv[][2] = {
            {"group.id", consumer == 1 ? p->group_id : "canon-aggregator-restore"},
            {"isolation.level", "read_committed"},
            {"enable.auto.commit", "false"},
            {"enable.auto.offset.store", "false"},
            {"auto.offset.reset", "earliest"},
            {"partition.assignment.strategy", "cooperative-sticky"},
            /* DESIGN "librdkafka 2.0.2 traps": the fetcher stalls for about a second each
             * time the local queue passes these, which caps the loop at ~200k/s with the
             * defaults (100,000 records). The group consumer's queue holds more than a
             * second of input at the fastest merge rate measured (about 350,000 person
             * updates/s), and no more: a queue of 256 MB held the whole backlog, and
             * faulting in that memory cost the aggregator 7 to 15% more CPU per update
             * (docs/performance-journal.md). The restore consumer reads whole canon
             * records (3 to 4 times larger) as fast as it can: it keeps the large queue. */
            {"queued.min.messages", consumer == 1 ? "400000" : "1000000"},
            {"queued.max.messages.kbytes", consumer == 1 ? "65536" : "262144"},
            /* An idle group consumer's fetches return after this long: at 10 ms an idle
             * aggregator kept 7 to 8% of a core of the broker busy (100 read_committed
             * fetches a second), at 100 ms about 1%. Latency does not suffer: a fetch
             * returns as soon as records arrive (fetch.min.bytes 1), and p99 at 10,000
             * updates/s was the same (docs/performance-journal.md). The restore consumer
             * keeps 10 ms: the end of each partition is seen by an empty fetch, which
             * waits this long, and restores run one partition after the other. */
            {"fetch.wait.max.ms", consumer == 1 ? "100" : "10"},
            {"socket.nagle.disable", "true"}, /* see the producer's */
            {"enable.partition.eof", consumer == 2 ? "true" : "false"},
        };
        for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
            if ((err = conf_set(conf, kv[i][0], kv[i][1])))
                goto fail;
    } else {
        const char *kv[][2] = {
            {"enable.idempotence", "true"},
            {"partitioner", "murmur2_random"},
            /* A commit flushes at once whatever linger.ms says (librdkafka ignores it while
             * flushing), and a batch is committed as soon as the input queue is drained, so
             * a long linger costs no latency; under load it makes fewer, fuller produce
             * requests and fewer wake-ups of librdkafka's threads (docs/aggregator.md,
             * "Performance": 2 ms took about 20% more CPU per update than 20 ms, and 100 ms,
             * the default commit interval, left the broker less to do than 20 ms: a batch
             * then leaves when batch.size is full or its commit flushes it). */
            {"linger.ms", "100"},
            /* The broker answers the next transaction's AddPartitionsToTxn and
             * AddOffsetsToTxn with CONCURRENT_TRANSACTIONS until it has written the last
             * commit's markers; librdkafka retries after retry.backoff.ms (100 ms by
             * default), which alone made most commits take 100 ms and more. Nagle held every
             * small transactional request back too (2.0.2 leaves it on). */
            {"retry.backoff.ms", "5"},
            {"socket.nagle.disable", "true"},
            {"queue.buffering.max.messages", "1000000"},
            {"queue.buffering.max.kbytes", "1048576"},
            {"transaction.timeout.ms", "10000"},
        };
        for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
            if ((err = conf_set(conf, kv[i][0], kv[i][1])))
                goto fail;
        if (!p->cfg.no_transactions &&
            (err = conf_set(conf, "transactional.id",
                            kind == KIND_PRODUCER2 ? p->txn_id2 : p->txn_id)))
            goto fail;
    }
    for (size_t i = 0; i < p->n_props; i++) {
        char key[256];
        const char *eq = strchr(p->props[i], '=');
        size_t kl = (size_t)(eq - p->props[i]);
        /* Producer-only and consumer-only keys are accepted by both conf objects, but the
         * other client warns: each gets its own. */
        memcpy(key, p->props[i], kl);
        key[kl] = 0;
        int cons_only = !strncmp(key, "queued.", 7) || !strncmp(key, "fetch.", 6) ||
                        !strcmp(key, "isolation.level") || !strcmp(key, "group.id") ||
                        !strncmp(key, "session.", 8) || !strncmp(key, "max.poll", 8) ||
                        !strncmp(key, "auto.", 5) || !strcmp(key, "partition.assignment.strategy");
        int prod_only = !strncmp(key, "transaction", 11) || !strncmp(key, "linger", 6) ||
                        !strncmp(key, "batch.", 6) || !strncmp(key, "queue.buffering", 15) ||
                        !strcmp(key, "enable.idempotence") || !strcmp(key, "partitioner") ||
                        !strncmp(key, "compression", 11) || !strcmp(key, "acks");
        if ((consumer && prod_only) || (!consumer && cons_only) ||
            (consumer == 2 && !strcmp(key, "group.id")))
            continue;
        if ((err = conf_set(conf, key, eq + 1)))
            goto fail;
    }
    if (kind == KIND_MARKS && (err = conf_set(conf, "isolation.level", "read_uncommitted")))
        goto fail;
    /* (after -X: fit_producers() only ever lowers what the user set) */
    if (!consumer && *p->batch_set && (err = conf_set(conf, "batch.size", p->batch_set)))
        goto fail;
    *out = conf;
    return NULL;
fail:
    rd_kafka_conf_destroy(conf);
    return err;
}

static cg_err *kerr(const char *what, rd_kafka_error_t *e)
{
    cg_err *err = cg_err_new(CG_EKAFKA, "%s: %s", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return err;
}

/* ---- broker outages ------------------------------------------------------------------ *
 * A broker that is restarted or away for a while is no reason to exit (issue 7): the
 * calls that need it (commit, abort, the restore's watermarks) are retried until it is
 * back, the open transaction's records time out and the transaction is aborted and
 * rewound as after any failed commit, and nothing is lost. The wait is logged once per
 * outage, not once per retry, and its end once. A stop request (SIGTERM) ends the waiting
 * after a bounded number of retries, leaving the open transaction to be aborted by the
 * fencing of the next start. */

/* The bound of one transactional call (send offsets, commit, abort). With -1 (the rest of
 * transaction.timeout.ms) a call can sit out much of an outage and then succeed or fail
 * for another reason, so the outage went unsaid; bounded, it returns a retriable timeout,
 * the outage is said, and the call is made again (librdkafka allows that after a
 * timeout: the operation goes on in the background). */
#define TXN_CALL_MS 5000
/* How often the registry is asked for new entities and canonical versions. */
#define REFRESH_MS 5000

/* canon_pipeline.fl_state: nothing flying; posted to the commit thread; its records all
 * written (two producers only); committed or failed */
enum { FL_IDLE, FL_POSTED, FL_FLUSHED, FL_DONE };

static int stopping(const canon_pipeline *p)
{
    return __atomic_load_n(&p->stop, __ATOMIC_RELAXED);
}

static void outage_begin(canon_pipeline *p, const char *what, const char *why)
{
    int64_t none = 0;
    if (!__atomic_compare_exchange_n(&p->outage_ms, &none, now_ms(), 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    /* At start nothing is running yet to resume: the start waits for its requests' own
     * timeouts and fails with them if the broker stays away. */
    if (!p->running)
        logf_(p, "broker unreachable while starting (%s: %s)", what, why);
    else
        logf_(p,
              "broker unreachable, waiting for it (%s: %s); nothing is lost, the stream resumes "
              "when it is back",
              what, why);
}

static void outage_end(canon_pipeline *p)
{
    int64_t began = __atomic_exchange_n(&p->outage_ms, 0, __ATOMIC_RELAXED);
    if (began)
        logf_(p, "broker reachable again after %lld ms: resumed", (long long)(now_ms() - began));
}

/* librdkafka's error events of all three clients, served on the thread that polls them:
 * always the pipeline's (consumer_poll, rd_kafka_poll, the rebalance callback). Without a
 * callback librdkafka logs each; with it, an outage is said once (the connection failures
 * themselves are in librdkafka's own log lines). */
static void error_cb(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    canon_pipeline *p = opaque;
    /* Each client raises ALL_BROKERS_DOWN once per outage, but the consumers' events may
     * be served late (after a commit already said the broker is back): the producers',
     * polled on every turn of the loop and drained after each landed commit (see
     * drain_stale()), alone mark an outage. */
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if ((rk == p->prod[0] || rk == p->prod[1]) &&
            rk != __atomic_load_n(&p->draining, __ATOMIC_ACQUIRE))
            outage_begin(p, "producer", reason);
    } else if (code != RD_KAFKA_RESP_ERR__TRANSPORT) {
        logf_(p, "%s: %s", rd_kafka_name(rk), reason);
    }
}

/* A commit that landed proves the broker reachable. An ALL_BROKERS_DOWN event still queued
 * on its producer dates from before (nobody polls a producer while it blocks in
 * commit_transaction), and served later it would announce a second, imaginary outage:
 * served here, it is dropped. Called by whoever made the commit (commit thread or loop);
 * the other thread may poll the other producer meanwhile, hence the per-call marker. */
static void drain_stale(canon_pipeline *p, rd_kafka_t *rk)
{
    __atomic_store_n(&p->draining, rk, __ATOMIC_RELEASE);
    rd_kafka_poll(rk, 0);
    __atomic_store_n(&p->draining, NULL, __ATOMIC_RELEASE);
}

/* Errors of a broker that is away, restarting or still loading its state. */
static int transient(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
        return 1;
    default:
        return 0;
    }
}

/* ---- registry ------------------------------------------------------------------------ */

static int json_id(json_t *obj, const char *member)
{
    json_t *o = json_object_get(obj, member);
    json_t *id = json_is_object(o) ? json_object_get(o, "id") : NULL;
    return json_is_integer(id) ? (int)json_integer_value(id) : -1;
}

/* The schema ids of one entity object of /canon/entities (where: the path it came from). */
static cg_err *entity_ids(json_t *obj, const char *name, const char *where, int32_t *canonical,
                          int32_t *updates, int32_t *envelope)
{
    json_t *id = json_object_get(obj, "id");
    *canonical = json_is_integer(id) ? (int32_t)json_integer_value(id) : -1;
    *updates = json_id(obj, "updates");
    *envelope = json_id(obj, "envelope");
    if (*canonical < 0 || *updates < 0 || *envelope < 0)
        return cg_err_new(
            CG_EIO, "entity '%s': registry %s lacks the canonical, update or envelope schema id",
            name, where);
    return NULL;
}

/* GET /canon/entities/{name}: ids of the latest canonical, update and envelope schemas. */
static cg_err *entity_info(canon_pipeline *p, const char *name, int32_t *canonical,
                           int32_t *updates, int32_t *envelope)
{
    char *esc = canon_registry_escape(name);
    char path[512];
    json_t *body = NULL;
    int status = 0;
    cg_err *err = NULL;
    if (!esc)
        return cg_err_new(CG_ENOMEM, "out of memory");
    snprintf(path, sizeof(path), "/canon/entities/%s", esc);
    free(esc);
    if ((err = canon_registry_request(p->reg, "GET", path, NULL, &status, &body)))
        return err;
    if (status != 200) {
        json_t *m = json_object_get(body, "message");
        err = cg_err_new(status == 404 ? CG_ESUBJECT_NOT_FOUND : CG_EIO,
                         "entity '%s': registry %s: %s (HTTP %d)", name, path,
                         json_is_string(m) ? json_string_value(m) : "error", status);
        goto done;
    }
    err = entity_ids(body, name, path, canonical, updates, envelope);
done:
    json_decref(body);
    return err;
}

/* Is schema `id` a registered version of `subject`? (GET /schemas/ids/{id}/versions)
 * Only a 404 or a list without the subject says no: any other answer (5xx, 401, 403, a
 * body that is not a list) is CG_EIO, so that the caller stops instead of dead-lettering
 * good updates as of an unknown schema while the registry is down or refuses us. */
static cg_err *id_in_subject(canon_pipeline *p, int32_t id, const char *subject, int *yes)
{
    char path[128];
    json_t *body = NULL;
    int status = 0;
    *yes = 0;
    snprintf(path, sizeof(path), "/schemas/ids/%d/versions", (int)id);
    cg_err *err = canon_registry_request(p->reg, "GET", path, NULL, &status, &body);
    if (err)
        return err;
    if (status != 404 && (status != 200 || !json_is_array(body))) {
        json_t *m = json_object_get(body, "message");
        err = cg_err_new(CG_EIO, "registry %s: %s (HTTP %d)", path,
                         json_is_string(m) ? json_string_value(m)
                         : status == 200   ? "the answer is not a list"
                                           : "error",
                         status);
    } else if (status == 200) {
        size_t i;
        json_t *v;
        json_array_foreach(body, i, v)
        {
            json_t *s = json_object_get(v, "subject");
            if (json_is_string(s) && !strcmp(json_string_value(s), subject))
                *yes = 1;
        }
    }
    json_decref(body);
    return err;
}

static cg_err *remember_id(entity *e, int32_t id)
{
    if (e->n_known == e->cap_known) {
        size_t cap = e->cap_known ? e->cap_known * 2 : 8;
        int32_t *k = realloc(e->known_ids, cap * sizeof(*k));
        if (!k)
            return cg_err_new(CG_ENOMEM, "out of memory");
        e->known_ids = k;
        e->cap_known = cap;
    }
    e->known_ids[e->n_known++] = id;
    return NULL;
}

/* Adds schema `id` to e's engine as an update (kind 0) or envelope (kind 1) schema, after
 * checking that the registry has it under the entity's subject of that kind. *added 0:
 * the id is not one of ours (the caller dead-letters the update). */
static cg_err *learn_schema(canon_pipeline *p, entity *e, canon_engine *eng, int32_t id, int kind,
                            int *added)
{
    char subject[300];
    const reg_schema *s = NULL;
    int yes = 0;
    *added = 0;
    snprintf(subject, sizeof(subject), kind ? "canon.%s-value" : "canon.%s.updates-value", e->name);
    cg_err *err = id_in_subject(p, id, subject, &yes);
    if (err || !yes)
        return err;
    if ((err = canon_registry_schema(p->reg, id, &s)))
        return err;
    err = kind ? canon_engine_add_envelope_schema(eng, id, s)
               : canon_engine_add_update_schema(eng, id, s);
    if (err)
        return cg_err_wrap(err, "schema id %d of %s: ", (int)id, subject);
    *added = 1;
    return remember_id(e, id * 2 + kind) ? cg_err_new(CG_ENOMEM, "out of memory") : NULL;
}

/* Adds the registry's schema `id` to eng as an update (kind 0) or envelope (kind 1)
 * schema. */
static cg_err *add_schema(canon_pipeline *p, canon_engine *eng, int32_t id, int kind)
{
    const reg_schema *s = NULL;
    cg_err *err = canon_registry_schema(p->reg, id, &s);
    if (err)
        return err;
    return kind ? canon_engine_add_envelope_schema(eng, id, s)
                : canon_engine_add_update_schema(eng, id, s);
}

/* A new engine for the entity's latest canonical schema, knowing every schema id the old
 * one knew (so older writers keep working). */
static cg_err *build_engine(canon_pipeline *p, entity *e, int32_t canonical, int32_t updates,
                            int32_t envelope, canon_engine **out)
{
    const reg_schema *cs = NULL;
    canon_engine *eng = NULL;
    cg_err *err = canon_registry_schema(p->reg, canonical, &cs);
    if (err)
        goto fail;
    if ((err = canon_engine_new(cs, envelope, &eng)))
        goto fail;
    /* The registry's text of the envelope id replaces the engine's own derivation: an
     * entity registered by an older registry has an older FieldVersion (docs/wire.md). */
    if ((err = add_schema(p, eng, envelope, 1)) || (err = add_schema(p, eng, updates, 0)))
        goto fail;
    for (size_t i = 0; i < e->n_known; i++) {
        int32_t id = e->known_ids[i] / 2;
        if (!canon_engine_has_schema(eng, id) &&
            (err = add_schema(p, eng, id, e->known_ids[i] % 2)))
            goto fail;
    }
    /* The envelope id the previous engine wrote with: records of the canon topic carry it. */
    if (e->envelope_id > 0 && !canon_engine_has_schema(eng, e->envelope_id)) {
        if ((err = add_schema(p, eng, e->envelope_id, 1)) ||
            (err = remember_id(e, e->envelope_id * 2 + 1)))
            goto fail;
    }
    if (e->updates_id > 0 && !canon_engine_has_schema(eng, e->updates_id)) {
        if ((err = add_schema(p, eng, e->updates_id, 0)) ||
            (err = remember_id(e, e->updates_id * 2)))
            goto fail;
    }
    *out = eng;
    return NULL;
fail:
    canon_engine_free(eng);
    return cg_err_wrap(err, "entity '%s': ", e->name);
}

/* ---- topics -------------------------------------------------------------------------- */

/* Partition count of topic, 0 when it does not exist. */
static cg_err *topic_partitions(rd_kafka_t *rk, const char *topic, int32_t *n)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    *n = 0;
    if (!t)
        return cg_err_new(CG_EKAFKA, "topic %s: %s", topic,
                          rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_resp_err_t ke = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    if (ke)
        return cg_err_new(CG_EKAFKA, "metadata of topic %s: %s%s", topic, rd_kafka_err2str(ke),
                          transient(ke) ? " (is Kafka at --bootstrap-servers reachable?)" : "");
    if (md->topic_cnt == 1 && !md->topics[0].err)
        *n = md->topics[0].partition_cnt;
    else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
             md->topics[0].err != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        cg_err *err = cg_err_new(CG_EKAFKA, "metadata of topic %s: %s", topic,
                                 rd_kafka_err2str(md->topics[0].err));
        rd_kafka_metadata_destroy(md);
        return err;
    }
    rd_kafka_metadata_destroy(md);
    return NULL;
}

static cg_err *create_topic(rd_kafka_t *rk, const char *topic, int32_t parts, int compact)
{
    char errstr[512];
    cg_err *err = NULL;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, -1, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;
    if (!nt) {
        err = cg_err_new(CG_EKAFKA, "create topic %s: %s", topic, errstr);
        goto done;
    }
    if (compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        err = cg_err_new(CG_EKAFKA, "create topic %s: no answer in 30 s", topic);
        goto done;
    }
    if (rd_kafka_event_error(ev)) {
        err = cg_err_new(CG_EKAFKA, "create topic %s: %s", topic, rd_kafka_event_error_string(ev));
        goto done;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    if (n == 1 && rd_kafka_topic_result_error(tr[0]) &&
        rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        err = cg_err_new(CG_EKAFKA, "create topic %s (%d partitions): %s", topic, (int)parts,
                         rd_kafka_topic_result_error_string(tr[0]));
done:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return err;
}

/* Waits until topic shows `parts` partitions in the metadata (a created topic takes a
 * moment to appear), so that the first produce does not stall (DESIGN trap). */
static cg_err *wait_topic(rd_kafka_t *rk, const char *topic, int32_t parts)
{
    int64_t deadline = now_ms() + 30000;
    for (;;) {
        int32_t n = 0;
        cg_err *err = topic_partitions(rk, topic, &n);
        if (err)
            return err;
        if (n == parts)
            return NULL;
        if (now_ms() > deadline)
            return cg_err_new(CG_EKAFKA, "topic %s: %d partitions after 30 s, expected %d", topic,
                              (int)n, (int)parts);
        usleep(100 * 1000);
    }
}

/* Makes rk fetch the metadata of e's output topics now. librdkafka asks for the metadata
 * of a topic it has not seen only on its one-second timer, so a producer's first records
 * to it (the first transaction after a start, or after replace_producer()) would wait up
 * to a second: measured, a first commit of 700 ms where the next ones took 20. */
static void learn_topics(canon_pipeline *p, rd_kafka_t *rk, const entity *e)
{
    const char *topics[2] = {e->canon_topic, e->dlq_topic};
    for (int i = 0; i < 2; i++) {
        int32_t n = 0;
        cg_err *err = topic_partitions(rk, topics[i], &n);
        if (err) { /* only a delay follows: not worth stopping for */
            logf_(p, "%s (the first records to it may wait up to a second)", cg_err_msg(err));
            cg_err_free(err);
        }
    }
}

/* Reads canon.E's and canon.E.dlq's settings (one DescribeConfigs request): the largest
 * record each takes (e->canon_max, e->dlq_max: max.message.bytes less batch framing, 0 when
 * not known; fit_producers()) and, with check_retention, whether canon.E keeps every key:
 * the state is restored from it, so a key the broker deleted for its age or the topic's
 * size would come back at version 1 with only its later fields, silently. Refused then,
 * as Confluent's registry refuses a schemas topic that is not compacted. Settings the
 * broker does not give (no DescribeConfigs permission) are said once and not checked. */
static cg_err *topic_configs(canon_pipeline *p, entity *e, int check_retention)
{
    if (p->cfg.no_topic_configs)
        return NULL;
    const char *topics[2] = {e->canon_topic, e->dlq_topic};
    canon_topic_config tc[2];
    p->limits_read_ms = now_ms();
    canon_topic_config_read(p->prod[0], topics, 2, tc, 10000);
    for (int i = 0; i < 2; i++) {
        size_t *max = i ? &e->dlq_max : &e->canon_max;
        long long lim = tc[i].max_message_bytes;
        *max = 0;
        if (!lim) {
            logf_(p,
                  "could not read the settings of %s (%s): records to it are held to the "
                  "producers' own limits only%s",
                  topics[i], tc[i].why, i ? "" : ", and its retention is not checked");
        } else if (lim <= CANON_BATCH_FRAMING + 1000) {
            /* Nothing useful fits (an envelope takes hundreds of bytes): not a limit to fit
             * to but a topic refusing records, as tests/aggregator/test_pipelined_commit.py
             * makes one on purpose: its transactions fail until the limit is raised. */
            logf_(p,
                  "%s takes record batches of at most %lld bytes (max.message.bytes): too few "
                  "to produce to; commits will fail until it is raised",
                  topics[i], lim);
        } else {
            *max = (size_t)lim - CANON_BATCH_FRAMING;
        }
    }
    const canon_topic_config *c = &tc[0];
    if (!check_retention || !*c->cleanup_policy || !strstr(c->cleanup_policy, "delete") ||
        (c->retention_ms < 0 && c->retention_bytes < 0))
        return NULL;
    return cg_err_new(CG_EKAFKA,
                      "topic %s has cleanup.policy=%s with retention.ms=%lld and "
                      "retention.bytes=%lld: the broker would delete keys from it, and the "
                      "aggregator restores its state from it (a deleted key would start again "
                      "at version 1 with only its later fields). Make it compacted "
                      "(kafka-configs.sh --alter --entity-type topics --entity-name %s "
                      "--add-config cleanup.policy=compact), or keep its records forever "
                      "(retention.ms=-1 and retention.bytes=-1)",
                      e->canon_topic, c->cleanup_policy, c->retention_ms, c->retention_bytes,
                      e->canon_topic);
}

static cg_err *check_topics(canon_pipeline *p, entity *e, int create_updates)
{
    int32_t nu = 0, nc = 0, nd = 0;
    cg_err *err = topic_partitions(p->prod[p->cur], e->updates_topic, &nu);
    if (err)
        return err;
    if (nu == 0) {
        if (!create_updates)
            return cg_err_new(CG_EKAFKA,
                              "topic %s does not exist: create it (its partition count decides the "
                              "canon topic's) before starting the aggregator",
                              e->updates_topic);
        nu = p->cfg.create_partitions > 0 ? p->cfg.create_partitions : 6;
        if ((err = create_topic(p->prod[p->cur], e->updates_topic, nu, 0)) ||
            (err = wait_topic(p->prod[p->cur], e->updates_topic, nu)))
            return err;
        logf_(p, "created topic %s (%d partitions)", e->updates_topic, (int)nu);
    }
    if ((err = topic_partitions(p->prod[p->cur], e->canon_topic, &nc)))
        return err;
    if (nc == 0) {
        if ((err = create_topic(p->prod[p->cur], e->canon_topic, nu, 1)) ||
            (err = wait_topic(p->prod[p->cur], e->canon_topic, nu)))
            return err;
        logf_(p, "created topic %s (%d partitions, compacted)", e->canon_topic, (int)nu);
        nc = nu;
    }
    if (nc != nu)
        return cg_err_new(CG_EKAFKA,
                          "topic %s has %d partitions but %s has %d: they must have the same count "
                          "(a key's state lives in the canon partition of its update partition)",
                          e->canon_topic, (int)nc, e->updates_topic, (int)nu);
    if ((err = topic_partitions(p->prod[p->cur], e->dlq_topic, &nd)))
        return err;
    if (nd == 0) {
        if ((err = create_topic(p->prod[p->cur], e->dlq_topic, nu, 0)) ||
            (err = wait_topic(p->prod[p->cur], e->dlq_topic, nu)))
            return err;
        logf_(p, "created topic %s (%d partitions)", e->dlq_topic, (int)nu);
        nd = nu;
    }
    e->n_parts = nu;
    e->dlq_parts = nd;
    for (int i = 0; i < 2; i++)
        if (p->prod[i])
            learn_topics(p, p->prod[i], e);
    return topic_configs(p, e, 1);
}

/* ---- entities ------------------------------------------------------------------------ */

static void entity_free(entity *e)
{
    if (!e)
        return;
    for (int32_t i = 0; e->states && i < e->n_parts; i++)
        canon_state_free(e->states[i]);
    free(e->states);
    free(e->batch_start);
    free(e->next_offset);
    free(e->flight_start);
    free(e->lag);
    free(e->committed);
    free(e->known_ids);
    canon_engine_free(e->engine);
    free(e->name);
    free(e->updates_topic);
    free(e->canon_topic);
    free(e->dlq_topic);
    free(e);
}

static cg_err *entity_load(canon_pipeline *p, const char *name, int create_updates, entity **out)
{
    cg_err *err = NULL;
    entity *e = calloc(1, sizeof(*e));
    if (!e)
        return cg_err_new(CG_ENOMEM, "out of memory");
    e->name = strdup(name);
    e->updates_topic = fmt_str("canon.%s.updates", name);
    e->canon_topic = fmt_str("canon.%s", name);
    e->dlq_topic = fmt_str("canon.%s.dlq", name);
    if (!e->name || !e->updates_topic || !e->canon_topic || !e->dlq_topic) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto fail;
    }
    int32_t cid, uid, eid;
    if ((err = entity_info(p, name, &cid, &uid, &eid)))
        goto fail;
    if ((err = build_engine(p, e, cid, uid, eid, &e->engine)))
        goto fail;
    e->canonical_id = cid;
    e->updates_id = uid;
    e->envelope_id = eid;
    if ((err = remember_id(e, uid * 2)) || (err = remember_id(e, eid * 2 + 1)))
        goto fail;
    if ((err = check_topics(p, e, create_updates)))
        goto fail;
    e->states = calloc((size_t)e->n_parts, sizeof(*e->states));
    e->batch_start = malloc((size_t)e->n_parts * sizeof(int64_t));
    e->next_offset = malloc((size_t)e->n_parts * sizeof(int64_t));
    e->flight_start = malloc((size_t)e->n_parts * sizeof(int64_t));
    e->lag = malloc((size_t)e->n_parts * sizeof(int64_t));
    e->committed = malloc((size_t)e->n_parts * sizeof(int64_t));
    if (!e->states || !e->batch_start || !e->next_offset || !e->flight_start || !e->lag ||
        !e->committed) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < e->n_parts; i++)
        e->batch_start[i] = e->next_offset[i] = e->flight_start[i] = e->lag[i] = e->committed[i] =
            -1;
    *out = e;
    return NULL;
fail:
    entity_free(e);
    return err;
}

static entity *find_entity(canon_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->n_ents; i++)
        if (!strcmp(p->ents[i]->name, name))
            return p->ents[i];
    return NULL;
}

static entity *find_entity_topic(canon_pipeline *p, const char *topic)
{
    for (size_t i = 0; i < p->n_ents; i++)
        if (!strcmp(p->ents[i]->updates_topic, topic))
            return p->ents[i];
    return NULL;
}

/* ---- consuming: batches from the consumer queue ------------------------------------ */

/* The entity of message m when m's partition is assigned to us (its state exists); NULL
 * for an event, or a partition not ours (never, or revoked meanwhile). */
static entity *owner_of(canon_pipeline *p, const rd_kafka_message_t *m)
{
    if (m->err || !m->rkt)
        return NULL;
    entity *e = find_entity_topic(p, rd_kafka_topic_name(m->rkt));
    if (!e || m->partition < 0 || m->partition >= e->n_parts || !e->states[m->partition])
        return NULL;
    return e;
}

/* Cache hints for in_buf[i] (see next_message()): stage 1, its hash slot; stage 0, its
 * blob. The state is looked up at each stage, not kept: a new canonical version or a
 * rewind replaces a partition's state in between. */
static void prefetch_in(canon_pipeline *p, size_t i, int stage)
{
    const rd_kafka_message_t *m = p->in_buf[i];
    entity *e = m->key ? owner_of(p, m) : NULL;
    if (!e)
        return;
    const canon_state *st = e->states[m->partition];
    if (stage == 1)
        p->in_hash[i] = canon_state_prefetch_slot(st, m->key, m->key_len);
    else
        canon_state_prefetch_blob(st, p->in_hash[i]);
}

static void in_discard(canon_pipeline *p)
{
    while (p->in_at < p->in_n)
        rd_kafka_message_destroy(p->in_buf[p->in_at++]);
    p->in_at = p->in_n = 0;
}

/* After a seek of the partitions in l: their buffered messages come again from the
 * consumer (librdkafka drops what it had queued for them), so they are destroyed here;
 * those of other partitions stay, in order. */
static void in_drop_seeked(canon_pipeline *p, const rd_kafka_topic_partition_list_t *l)
{
    size_t w = p->in_at;
    for (size_t i = p->in_at; i < p->in_n; i++) {
        rd_kafka_message_t *m = p->in_buf[i];
        const rd_kafka_topic_partition_t *tp =
            m->err || !m->rkt
                ? NULL
                : rd_kafka_topic_partition_list_find(l, rd_kafka_topic_name(m->rkt), m->partition);
        if (tp) {
            rd_kafka_message_destroy(m);
        } else {
            p->in_hash[w] = p->in_hash[i];
            p->in_buf[w++] = m;
        }
    }
    p->in_n = w;
}

/* A rebalance was served inside the call that returned in_buf[0..n): messages taken
 * before it may belong to a partition that was revoked and assigned again in the same
 * call, which will deliver them again. So none of them is handled: each partition still
 * ours is sought back to its first message in the buffer, and all are dropped. Rare (a
 * rebalance), and correct whatever happened inside the call. */
static cg_err *in_replay_after_rebalance(canon_pipeline *p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = p->in_at; i < p->in_n; i++) {
        const rd_kafka_message_t *m = p->in_buf[i];
        entity *e = owner_of(p, m);
        if (!e || rd_kafka_topic_partition_list_find(l, e->updates_topic, m->partition))
            continue;
        rd_kafka_topic_partition_list_add(l, e->updates_topic, m->partition)->offset = m->offset;
    }
    if (p->cfg.verbose)
        logf_(p,
              "a rebalance inside a consume call: %zu messages taken meanwhile come again (%d "
              "partitions sought back)",
              p->in_n - p->in_at, l->cnt);
    in_discard(p);
    rd_kafka_error_t *ke = l->cnt ? rd_kafka_seek_partitions(p->consumer, l, 0) : NULL;
    rd_kafka_topic_partition_list_destroy(l);
    return ke ? kerr("seek after a rebalance", ke) : NULL;
}

/* The next consumed message or event, NULL when none came within timeout ms. Messages
 * are taken from the consumer queue up to IN_BATCH per call: one call costs librdkafka's
 * poll bookkeeping (locks, clock reads) once, not per message, and the buffer shows the
 * next updates, whose state is prefetched while the current one merges: with 100,000
 * keys the hash slot and the blob of a key are each a cache miss, and the blob's address
 * is in the slot, hence the two distances. (Prefetching the messages' own bytes as a third
 * stage made no difference measurable here.) The rebalance callback runs inside the
 * call. */
static rd_kafka_message_t *next_message(canon_pipeline *p, int timeout, cg_err **err)
{
    *err = NULL;
    if (p->in_at == p->in_n) {
        p->in_at = p->in_n = 0;
        uint64_t rb = p->rebalances;
        /* librdkafka's batch call waits until the whole array is filled or the timeout
         * has passed: a wait is for the first message only, the rest is what is there. */
        ssize_t n = rd_kafka_consume_batch_queue(p->cq, timeout, p->in_buf, timeout ? 1 : IN_BATCH);
        if (n == 1 && timeout) {
            ssize_t more = rd_kafka_consume_batch_queue(p->cq, 0, p->in_buf + 1, IN_BATCH - 1);
            if (more > 0)
                n += more;
        }
        if (n <= 0)
            return NULL;
        p->in_n = (size_t)n;
        p->n_calls++;
        if (p->rebalances != rb || (p->cfg.test_replay_every > 1 &&
                                    p->n_calls % (uint64_t)p->cfg.test_replay_every == 0)) {
            *err = in_replay_after_rebalance(p);
            return NULL;
        }
        for (size_t i = 0; i < p->in_n && i < 2 * PF_AHEAD; i++)
            prefetch_in(p, i, 1);
        for (size_t i = 0; i < p->in_n && i < PF_AHEAD; i++)
            prefetch_in(p, i, 0);
    }
    size_t i = p->in_at++;
    if (i + 2 * PF_AHEAD < p->in_n)
        prefetch_in(p, i + 2 * PF_AHEAD, 1);
    if (i + PF_AHEAD < p->in_n)
        prefetch_in(p, i + PF_AHEAD, 0);
    return p->in_buf[i];
}

static cg_err *subscribe(canon_pipeline *p)
{
    if (p->n_ents == 0)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)p->n_ents);
    for (size_t i = 0; i < p->n_ents; i++)
        rd_kafka_topic_partition_list_add(l, p->ents[i]->updates_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(p->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (ke)
        return cg_err_new(CG_EKAFKA, "subscribe: %s", rd_kafka_err2str(ke));
    return NULL;
}

static cg_err *add_entity(canon_pipeline *p, entity *e)
{
    pthread_mutex_lock(&p->lock);
    entity **n = realloc(p->ents, (p->n_ents + 1) * sizeof(*n));
    if (!n) {
        pthread_mutex_unlock(&p->lock);
        return cg_err_new(CG_ENOMEM, "out of memory");
    }
    p->ents = n;
    p->ents[p->n_ents++] = e;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- checkpoint (SQLite, canon/checkpoint.h) --------------------------------------- */

/* Called after a committed transaction: checkpoints every assigned partition when the
 * interval has passed, writing only the keys changed since its last checkpoint. The offset
 * is the canon partition's end as the broker reports it now: with no transaction of ours
 * open and one writer per partition, everything below it is reflected in the state (a
 * commit marker not yet written is below or at it, and a restore skips it). Failures are
 * logged, never fatal: the checkpoint is an optimisation, and a failed save leaves the
 * keys dirty for the next one.
 *
 * A partition restored from the topic (not from the checkpoint) is written whole, which
 * takes seconds for hundreds of thousands of keys (docs/aggregator.md has figures) and
 * holds up the pipeline meanwhile: while running, at most one such full save is made per
 * interval, so the pause is one partition's, not all of them at once. A clean stop saves
 * everything. */
static int cp_due(const canon_pipeline *p, int64_t now)
{
    int interval = p->cfg.checkpoint_interval_s > 0 ? p->cfg.checkpoint_interval_s : 10;
    return p->cp && now - p->cp_last_ms >= (int64_t)interval * 1000;
}

/* (with nothing open or flying: the state must be the committed one) */
static void cp_maybe_save(canon_pipeline *p)
{
    int stopping = __atomic_load_n(&p->stop, __ATOMIC_RELAXED), full_saves = 0;
    if (!cp_due(p, now_ms()) || p->in_txn || p->flying)
        return;
    p->cp_last_ms = now_ms();
    for (size_t i = 0; i < p->n_ents; i++) {
        entity *e = p->ents[i];
        for (int32_t k = 0; k < e->n_parts; k++) {
            int64_t lo = 0, hi = 0, t0 = now_ms();
            canon_cp_stats cs = {0};
            if (!e->states[k])
                continue;
            if (canon_state_dirty_all(e->states[k]) && full_saves++ && !stopping)
                continue;
            rd_kafka_resp_err_t ke =
                rd_kafka_query_watermark_offsets(p->marks, e->canon_topic, k, &lo, &hi, 5000);
            cg_err *err =
                ke ? cg_err_new(CG_EKAFKA, "checkpoint %s [%d]: watermarks: %s", e->canon_topic,
                                (int)k, rd_kafka_err2str(ke))
                   : canon_cp_save(p->cp, e->name, k, e->canonical_id, hi, e->states[k], &cs);
            if (err) {
                logf_(p, "%s", cg_err_msg(err));
                cg_err_free(err);
            } else if (p->cfg.verbose) {
                logf_(p, "checkpoint %s [%d]: %zu of %zu keys written (%s), offset %lld, %lld ms",
                      e->canon_topic, (int)k, cs.written, cs.keys, cs.full ? "full" : "changed",
                      (long long)hi, (long long)(now_ms() - t0));
            }
        }
    }
}

/* Loads partition `part` of e from the checkpoint into st (empty) when it is usable.
 * Returns the offset to read the canon topic from, or -1 (the full restore), logging why
 * the checkpoint was not used; *reset then tells the caller to start over with an empty
 * state (the load may have filled part of it). */
static int64_t cp_load(canon_pipeline *p, entity *e, int32_t part, canon_state *st, int64_t lo,
                       int64_t hi, uint64_t *keys, int *reset)
{
    int64_t from = -1;
    size_t n = 0;
    *keys = 0;
    *reset = 0;
    if (!p->cp)
        return -1;
    cg_err *err = canon_cp_load(p->cp, e->name, part, e->canonical_id, lo, hi, st, &from, &n);
    if (err) {
        logf_(p, "checkpoint %s [%d]: %s, full restore", e->canon_topic, (int)part,
              cg_err_msg(err));
        cg_err_free(err);
        *reset = 1;
        return -1;
    }
    *keys = n;
    return from;
}

/* ---- restore ------------------------------------------------------------------------- */

/* Replaces *st (maybe NULL) by an empty state of e's fields: dirty-all, so the next
 * checkpoint save replaces the partition. */
static cg_err *state_renew(const entity *e, canon_state **st)
{
    canon_state_free(*st);
    *st = NULL;
    return canon_state_new(canon_engine_n_fields(e->engine), st);
}

/* Rebuilds the state of partition `part` of e from canon.<entity>, from the beginning up to
 * its high watermark, read_committed. Must be called with no transaction of ours open on
 * that partition. Replaces e->states[part].
 *
 * The end is the high watermark, not the last stable offset that a read_committed client
 * is told: the LSO stops short of a transaction that is committed but whose markers the
 * broker has not written yet (our own commit just before a restore) or that is still open
 * (the previous owner's last one, in a rebalance). A restore that ended there would miss
 * those records, and the next update of their keys would repeat a version. Reading on to
 * the high watermark waits for such a transaction to end, as the loop below does for a
 * crashed instance's. */
static cg_err *restore_partition(canon_pipeline *p, entity *e, int32_t part)
{
    cg_err *err = NULL;
    canon_state *st = NULL;
    int64_t lo = 0, hi = 0, t0 = now_ms();
    uint64_t n = 0, cp_keys = 0;
    int assigned = 0;
    rd_kafka_resp_err_t ke;
    if ((err = state_renew(e, &st)))
        goto done;
    for (int attempt = 0;; attempt++) {
        ke = rd_kafka_query_watermark_offsets(p->marks, e->canon_topic, part, &lo, &hi, 10000);
        if (!ke || !transient(ke) || (stopping(p) && attempt >= 3))
            break;
        outage_begin(p, "restore", rd_kafka_err2str(ke));
        usleep(200000); /* the query may fail at once (connection refused) */
    }
    if (ke) {
        err = cg_err_new(CG_EKAFKA, "restore %s [%d]: watermarks: %s", e->canon_topic, (int)part,
                         rd_kafka_err2str(ke));
        goto done;
    }
    int reset = 0;
    int64_t from = cp_load(p, e, part, st, lo, hi, &cp_keys, &reset);
    if (reset) {
        if ((err = state_renew(e, &st)))
            goto done;
        cp_keys = 0;
    }
read:
    if (from < 0 ? hi > lo : hi > from) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, e->canon_topic, part)->offset =
            from < 0 ? RD_KAFKA_OFFSET_BEGINNING : from;
        ke = rd_kafka_assign(p->restorer, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (ke) {
            err = cg_err_new(CG_EKAFKA, "restore %s [%d]: assign: %s", e->canon_topic, (int)part,
                             rd_kafka_err2str(ke));
            goto done;
        }
        assigned = 1;
        /* An open transaction of another (crashed) instance holds the last stable offset
         * back until it times out: wait that long, plus margin. */
        int64_t deadline = now_ms() + 120000;
        int done_ = 0;
        while (!done_) {
            if (now_ms() > deadline) {
                err = cg_err_new(CG_EKAFKA,
                                 "restore %s [%d]: not at the high watermark %lld after 120 s",
                                 e->canon_topic, (int)part, (long long)hi);
                goto done;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(p->restorer, 200);
            if (!m) {
                /* a restore that waits for an absent broker says so (the producer's
                 * error_cb announces outages) */
                if (p->prod[p->cur])
                    rd_kafka_poll(p->prod[p->cur], 0);
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->offset >= hi)
                    done_ = 1;
                rd_kafka_message_destroy(m);
                continue;
            }
            if (m->err) {
                cg_err *e2 = cg_err_new(CG_EKAFKA, "restore %s [%d]: %s", e->canon_topic, (int)part,
                                        rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                if (rd_kafka_fatal_error(p->restorer, NULL, 0)) {
                    err = e2;
                    goto done;
                }
                logf_(p, "%s", cg_err_msg(e2));
                cg_err_free(e2);
                continue;
            }
            if (m->payload) {
                /* The checkpoint's offset lies within the topic's watermarks, but the topic
                 * may be a new one (deleted and recreated) that has grown past it: its tail
                 * would then be applied on top of another history's state. A tail that
                 * continues the checkpoint's state gives each key its next version, as
                 * versions are gapless per key (1 for a key the state lacks); the first
                 * record that does not discards the state for a full restore. Compaction
                 * of the canon topic can remove records inside a correct tail, so a jump
                 * there also causes a full restore: slower, but correct. */
                uint64_t before = from >= 0 ? canon_state_version(st, m->key, m->key_len) : 0;
                for (int attempt = 0; attempt < 2; attempt++) {
                    err = canon_restore(e->engine, st, m->key, m->key_len, m->payload, m->len,
                                        &p->res);
                    if (!err || cg_err_code(err) != CG_ESCHEMA_NOT_FOUND || attempt)
                        break;
                    /* an envelope written with an older canonical version */
                    const uint8_t *b = m->payload;
                    int32_t id = m->len >= 5
                                     ? (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                                                 (uint32_t)b[3] << 8 | b[4])
                                     : -1;
                    int added = 0;
                    cg_err_free(err);
                    err = learn_schema(p, e, e->engine, id, 1, &added);
                    if (err)
                        break;
                    if (!added) {
                        err = cg_err_new(CG_ESCHEMA_NOT_FOUND,
                                         "schema id %d is not a version of canon.%s-value", (int)id,
                                         e->name);
                        break;
                    }
                }
                if (err) {
                    err = cg_err_wrap(err, "restore %s [%d] offset %lld: ", e->canon_topic,
                                      (int)part, (long long)m->offset);
                    rd_kafka_message_destroy(m);
                    goto done;
                }
                n++;
                uint64_t found = from >= 0 ? canon_state_version(st, m->key, m->key_len) : 0;
                if (from >= 0 && found != before + 1) {
                    logf_(p,
                          "restore %s [%d] offset %lld: version %llu of a key whose checkpoint "
                          "version is %llu (expected %llu): the checkpoint does not match the "
                          "topic, full restore",
                          e->canon_topic, (int)part, (long long)m->offset,
                          (unsigned long long)found, (unsigned long long)before,
                          (unsigned long long)(before + 1));
                    rd_kafka_message_destroy(m);
                    rd_kafka_assign(p->restorer, NULL);
                    assigned = 0;
                    if ((err = state_renew(e, &st)))
                        goto done;
                    from = -1;
                    n = 0;
                    cp_keys = 0;
                    goto read;
                }
            }
            if (m->offset + 1 >= hi)
                done_ = 1;
            rd_kafka_message_destroy(m);
        }
    }
    canon_state_free(e->states[part]);
    e->states[part] = st;
    st = NULL;
    add(&e->c.restores, 1);
    add(&e->c.restored_records, n);
    if (p->cfg.verbose)
        logf_(p, "restored %s [%d]: %llu records, %zu keys, %lld ms (checkpoint: %llu keys)",
              e->canon_topic, (int)part, (unsigned long long)n, canon_state_count(e->states[part]),
              (long long)(now_ms() - t0), (unsigned long long)cp_keys);
done:
    if (assigned)
        rd_kafka_assign(p->restorer, NULL);
    canon_state_free(st);
    return err;
}

/* ---- transactions -------------------------------------------------------------------- */

static void txn_observe(canon_pipeline *p, int64_t us)
{
    add(&p->txn_us_total, (uint64_t)us);
    size_t b = 0;
    while (b < 7 && (double)us / 1e6 > txn_buckets_s[b])
        b++;
    add(&p->txn_hist[b], 1);
}

/* Begins the open batch's Kafka transaction, on the producer that did not make the
 * previous one: the broker answers a producer's next transaction with
 * CONCURRENT_TRANSACTIONS until it has written the previous commit's markers, which is
 * most of a commit's time at low load, and the other producer does not wait for those.
 * The other producer is idle here: commits are serial, and the commit thread's producer
 * is prod[cur] (launch()). */
static cg_err *kafka_begin(canon_pipeline *p)
{
    if (!p->cfg.no_transactions) {
        if (p->prod[1])
            p->cur ^= 1;
        rd_kafka_error_t *ke = rd_kafka_begin_transaction(p->prod[p->cur]);
        if (ke)
            return kerr("begin transaction", ke);
    }
    p->kbegun = 1;
    return NULL;
}

/* Opens a batch. Its Kafka transaction begins now, or when the commit thread's batch has
 * landed (collect()): meanwhile its records are held. */
static cg_err *begin_txn(canon_pipeline *p)
{
    cg_err *err = NULL;
    if (p->in_txn)
        return NULL;
    if (!p->flying && (err = kafka_begin(p)))
        return err;
    p->in_txn = 1;
    p->batch_started_ms = now_ms();
    p->batch_n = 0;
    return NULL;
}

static rd_kafka_topic_partition_list_t *batch_offsets(canon_pipeline *p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < p->n_ents; i++) {
        entity *e = p->ents[i];
        for (int32_t k = 0; k < e->n_parts; k++)
            if (e->next_offset[k] >= 0)
                rd_kafka_topic_partition_list_add(l, e->updates_topic, k)->offset =
                    e->next_offset[k];
    }
    return l;
}

static void batch_reset(canon_pipeline *p)
{
    for (size_t i = 0; i < p->n_ents; i++)
        for (int32_t k = 0; k < p->ents[i]->n_parts; k++)
            p->ents[i]->batch_start[k] = p->ents[i]->next_offset[k] = -1;
    p->in_txn = 0;
    p->kbegun = 0;
    p->batch_n = 0;
    p->dr_failed = 0;
}

/* ---- held records: the open batch's output while the previous batch commits ---------- */

typedef struct held_rec {
    const char *topic; /* the entity's (entities outlive the pipeline's batches) */
    int32_t part;
    int key_null, val_null;
    size_t key_len, val_len, off; /* key then value at harena + off */
    rd_kafka_headers_t *hdrs;     /* owned; NULL: none */
} held_rec;

static cg_err *hold(canon_pipeline *p, const char *topic, int32_t part, const void *key,
                    size_t key_len, const void *val, size_t len, rd_kafka_headers_t *hdrs)
{
    if (p->n_held == p->cap_held) {
        size_t cap = p->cap_held ? 2 * p->cap_held : 1024;
        held_rec *h = realloc(p->held, cap * sizeof(*h));
        if (!h)
            goto nomem;
        p->held = h;
        p->cap_held = cap;
    }
    size_t off = p->harena.len;
    if (key_len)
        canon_wbuf_put(&p->harena, key, key_len);
    if (len)
        canon_wbuf_put(&p->harena, val, len);
    if (!canon_wbuf_ok(&p->harena)) {
        p->harena.oom = 0; /* (what it held before is intact) */
        p->harena.len = off;
        goto nomem;
    }
    p->held[p->n_held++] =
        (held_rec){topic, part, key == NULL, val == NULL, key_len, len, off, hdrs};
    return NULL;
nomem:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    return cg_err_new(CG_ENOMEM, "out of memory holding the next batch's records");
}

static void held_discard(canon_pipeline *p)
{
    for (size_t i = 0; i < p->n_held; i++)
        if (p->held[i].hdrs)
            rd_kafka_headers_destroy(p->held[i].hdrs);
    p->n_held = 0;
    p->harena.len = 0;
}

static cg_err *make_client(canon_pipeline *p, int kind, rd_kafka_t **out);

/* Whether the producer's fatal error says that another instance took our transactional
 * id: then we must stop, not take it back. */
static int fenced(rd_kafka_t *rk)
{
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, NULL, 0);
    return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
}

/* Whether a producer's fatal error can be recovered from by replacing the producer: any
 * but fencing, and fencing too while a broker outage is on. When a transaction outlives
 * transaction.timeout.ms because the broker was away, the coordinator aborts it itself
 * once back and bumps the producer epoch (KIP-360), and librdkafka reports that as being
 * fenced by a newer instance; with two producers, both may have had a transaction open.
 * Fencing with no outage is another instance with our transactional id: stop. */
static int recoverable(canon_pipeline *p, rd_kafka_t *rk)
{
    return !fenced(rk) || __atomic_load_n(&p->outage_ms, __ATOMIC_RELAXED) != 0;
}

/* A producer's handle of a topic, kept while the producer lives: producev() given a topic
 * name looks it up under the client's write lock and takes a reference, on every record.
 * NULL when out of memory. */
typedef struct topic_ref {
    const rd_kafka_t *rk;
    char *name;
    rd_kafka_topic_t *rkt;
} topic_ref;

static rd_kafka_topic_t *topic_handle(canon_pipeline *p, rd_kafka_t *rk, const char *name)
{
    for (size_t i = 0; i < p->n_trefs; i++) {
        topic_ref *t = &p->trefs[i];
        if (t->rk == rk && !strcmp(t->name, name))
            return t->rkt;
    }
    if (p->n_trefs == p->cap_trefs) {
        size_t cap = p->cap_trefs ? 2 * p->cap_trefs : 8;
        topic_ref *n = realloc(p->trefs, cap * sizeof(*n));
        if (!n)
            return NULL;
        p->trefs = n;
        p->cap_trefs = cap;
    }
    char *copy = strdup(name);
    rd_kafka_topic_t *rkt = copy ? rd_kafka_topic_new(rk, name, NULL) : NULL;
    if (!rkt) {
        free(copy);
        return NULL;
    }
    p->trefs[p->n_trefs++] = (topic_ref){rk, copy, rkt};
    return rkt;
}

/* Before rk is destroyed: its topic handles go first. */
static void topic_handles_drop(canon_pipeline *p, const rd_kafka_t *rk)
{
    size_t w = 0;
    for (size_t i = 0; i < p->n_trefs; i++) {
        topic_ref *t = &p->trefs[i];
        if (t->rk == rk) {
            rd_kafka_topic_destroy(t->rkt);
            free(t->name);
        } else {
            p->trefs[w++] = *t;
        }
    }
    p->n_trefs = w;
}

static cg_err *renew_producer(canon_pipeline *p, int idx);

/* Replaces a producer that hit a fatal error other than fencing. Seen after a broker
 * outage longer than transaction.timeout.ms: the coordinator aborts the timed-out
 * transaction itself when it is back, and our own abort of it then fails with
 * INVALID_TXN_STATE, which librdkafka makes fatal. A new producer with the same
 * transactional id fences the old epoch and aborts whatever it left open
 * (init_transactions), so the caller's rewind and restore start from committed data only. */
static cg_err *replace_producer(canon_pipeline *p, int idx, const char *why)
{
    logf_(p, "producer %d: fatal error (%s): replacing it", idx, why);
    rd_kafka_purge(p->prod[idx], RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    return renew_producer(p, idx);
}

/* Makes prod[idx] again (make_conf()'s settings now), with its transactions initialised
 * when the old one's were. Nothing of the old one's may be queued or open: a fatal one's
 * was purged, or the caller committed. */
static cg_err *renew_producer(canon_pipeline *p, int idx)
{
    topic_handles_drop(p, p->prod[idx]);
    rd_kafka_destroy(p->prod[idx]);
    p->prod[idx] = NULL;
    cg_err *err = make_client(p, idx ? KIND_PRODUCER2 : KIND_PRODUCER, &p->prod[idx]);
    for (int attempt = 0; !err && p->txn_ready; attempt++) {
        rd_kafka_error_t *ke = rd_kafka_init_transactions(p->prod[idx], 30000);
        if (!ke)
            break;
        if (!rd_kafka_error_is_retriable(ke) || (stopping(p) && attempt >= 3))
            err = kerr("init transactions", ke);
        else {
            outage_begin(p, "init transactions", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
        }
    }
    for (size_t i = 0; !err && i < p->n_ents; i++)
        learn_topics(p, p->prod[idx], p->ents[i]);
    return err;
}

/* Aborts the transaction of prod[idx], retried through an outage; a producer left in a
 * fatal state (other than fencing) is replaced, which aborts what it left open. */
static cg_err *abort_producer(canon_pipeline *p, int idx)
{
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *ke = rd_kafka_abort_transaction(p->prod[idx], TXN_CALL_MS);
        if (!ke)
            return NULL;
        if (rd_kafka_error_is_fatal(ke) && recoverable(p, p->prod[idx])) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
            return replace_producer(p, idx, msg);
        }
        if (!rd_kafka_error_is_retriable(ke) || (stopping(p) && attempt >= 10))
            return kerr("abort transaction", ke);
        outage_begin(p, "abort", rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        rd_kafka_poll(p->prod[idx], 100);
    }
}

static void commit_finished(canon_pipeline *p, size_t n, int64_t open_ms, int64_t t0_ms,
                            int64_t t_flushed_ms, int64_t t_offsets_ms, int64_t us);

/* Waits for the commit thread's result. Returns its fatal error, or NULL with *failed
 * telling whether the flying transaction must be aborted (why in p->fl_why); a commit
 * that landed is booked. Loop thread, with a batch flying. */
static cg_err *flight_wait(canon_pipeline *p, int *failed)
{
    pthread_mutex_lock(&p->fl_lock);
    while (p->fl_state != FL_DONE)
        pthread_cond_wait(&p->fl_cond, &p->fl_lock);
    p->fl_state = FL_IDLE;
    cg_err *err = p->fl_err;
    p->fl_err = NULL;
    *failed = p->fl_abort;
    pthread_mutex_unlock(&p->fl_lock);
    p->flying = 0;
    rd_kafka_topic_partition_list_destroy(p->fl_offs);
    p->fl_offs = NULL;
    if (!err && !*failed) {
        commit_finished(p, p->fl_n, p->fl_open_ms, p->fl_t0_ms, p->fl_flushed_ms, p->fl_offsets_ms,
                        p->fl_us);
        for (size_t i = 0; i < p->n_ents; i++)
            for (int32_t k = 0; k < p->ents[i]->n_parts; k++)
                p->ents[i]->flight_start[k] = -1;
    }
    return err;
}

static cg_err *fit_producers(canon_pipeline *p);

/* Aborts the open transaction, rewinds every partition it consumed from to its batch
 * start, and rebuilds those partitions' state from the canon topic (where the aborted
 * records are invisible). A batch still flying settles first: if its commit landed it
 * stays; if it failed (flight_failed: the caller already knows) it is aborted too, with
 * the open batch merged on top of it, and a partition is rewound to the start of the
 * earlier of the two batches it has updates in. */
static cg_err *abort_and_rewind(canon_pipeline *p, const char *why, int flight_failed)
{
    cg_err *err = NULL;
    if (p->flying) {
        int failed = 0;
        if ((err = flight_wait(p, &failed)))
            return err;
        if (failed)
            logf_(p, "the transaction being committed failed too (%s)", p->fl_why);
        flight_failed |= failed;
    }
    logf_(p, "aborting transaction (%s): rewinding and restoring the affected partitions", why);
    add(&p->aborts, 1);
    if (!p->cfg.no_transactions) {
        if (flight_failed)
            err = abort_producer(p, p->fl_idx);
        /* (a sync commit that failed leaves kbegun set: its transaction is prod[cur]) */
        if (!err && p->kbegun && !(flight_failed && p->cur == p->fl_idx))
            err = abort_producer(p, p->cur);
        if (err)
            return err;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < p->n_ents; i++) {
        entity *e = p->ents[i];
        for (int32_t k = 0; k < e->n_parts; k++) {
            int64_t from = e->flight_start[k] >= 0 ? e->flight_start[k] : e->batch_start[k];
            e->flight_start[k] = -1;
            if (from >= 0 && e->states[k])
                rd_kafka_topic_partition_list_add(l, e->updates_topic, k)->offset = from;
        }
    }
    held_discard(p);
    if (l->cnt > 0) {
        rd_kafka_error_t *ke = rd_kafka_seek_partitions(p->consumer, l, 0);
        if (ke) {
            rd_kafka_topic_partition_list_destroy(l);
            return kerr("rewind after abort", ke);
        }
        in_drop_seeked(p, l);
    }
    for (int i = 0; i < l->cnt && !err; i++) {
        entity *e = find_entity_topic(p, l->elems[i].topic);
        if (e)
            err = restore_partition(p, e, l->elems[i].partition);
    }
    if (p->rewound)
        rd_kafka_topic_partition_list_destroy(p->rewound);
    p->rewound = l;
    batch_reset(p);
    /* A topic's max.message.bytes lowered while running: its limits are read again (at
     * most every 10 s: a topic too small to fit keeps failing) so that the batch tried
     * again fits them. */
    if (!err && strstr(why, "Message size too large") &&
        now_ms() - p->limits_read_ms >= LIMITS_REREAD_MS) {
        logf_(p, "reading the topics' max.message.bytes again");
        for (size_t i = 0; i < p->n_ents && !err; i++)
            err = topic_configs(p, p->ents[i], 0);
        if (!err)
            err = fit_producers(p);
    }
    return err;
}

/* send_offsets_to_transaction and commit_transaction of the open Kafka transaction,
 * retried through a broker outage. NULL and *abort_needed 0: committed; NULL and
 * *abort_needed 1: the transaction must be aborted (why says why); an error: fatal.
 * *t_offsets_ms: when the offsets were sent. rk: the transaction's producer. Runs on the
 * commit thread when pipelined (the loop does not touch that producer meanwhile), else on
 * the loop thread. */
static cg_err *commit_calls(canon_pipeline *p, rd_kafka_t *rk,
                            const rd_kafka_topic_partition_list_t *offs, int *abort_needed,
                            char *why, size_t why_len, int64_t *t_offsets_ms)
{
    int offsets_sent = 0; /* a retried commit must not send them again (a state error) */
    *abort_needed = 0;
    *t_offsets_ms = now_ms();
    for (int attempt = 0;; attempt++) {
        rd_kafka_error_t *ke = NULL;
        if (offs->cnt > 0 && !offsets_sent) {
            rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(p->consumer);
            ke = rd_kafka_send_offsets_to_transaction(rk, offs, md, TXN_CALL_MS);
            rd_kafka_consumer_group_metadata_destroy(md);
            offsets_sent = !ke;
        }
        *t_offsets_ms = now_ms();
        if (!ke)
            ke = rd_kafka_commit_transaction(rk, TXN_CALL_MS);
        if (!ke) {
            drain_stale(p, rk);
            return NULL;
        }
        if (rd_kafka_error_txn_requires_abort(ke) ||
            (rd_kafka_error_is_fatal(ke) && recoverable(p, rk))) {
            snprintf(why, why_len, "%s", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
            *abort_needed = 1;
            return NULL;
        }
        if (rd_kafka_error_is_retriable(ke) && (!stopping(p) || attempt < 10)) {
            /* Retried until the broker is back; meanwhile the transaction's records may
             * time out, which makes it abortable: the next attempt aborts and rewinds. */
            outage_begin(p, "commit", rd_kafka_error_string(ke));
            rd_kafka_error_destroy(ke);
            rd_kafka_poll(rk, 100);
            continue;
        }
        return kerr("commit transaction", ke);
    }
}

/* Bookkeeping of a committed batch of n updates, open for open_ms, whose commit started
 * at t0_ms, had its records written by t_flushed_ms (t0_ms: flushed by commit_transaction
 * itself), sent its offsets by t_offsets_ms and took us microseconds. */
static void commit_finished(canon_pipeline *p, size_t n, int64_t open_ms, int64_t t0_ms,
                            int64_t t_flushed_ms, int64_t t_offsets_ms, int64_t us)
{
    txn_observe(p, us);
    add(&p->txns, 1);
    p->last_commit_ms = us / 1000;
    outage_end(p);
    /* The phases are whole milliseconds of separate clock readings and the total is
     * truncated microseconds, so the remainder can come out at -1: it is 0 then. */
    int64_t commit_ms = t0_ms + us / 1000 - t_offsets_ms;
    if (p->cfg.verbose)
        logf_(p,
              "committed %zu updates in %lld ms (open %lld ms; flush %lld ms, offsets %lld ms, "
              "commit %lld ms)",
              n, (long long)(us / 1000), (long long)open_ms, (long long)(t_flushed_ms - t0_ms),
              (long long)(t_offsets_ms - t_flushed_ms), (long long)(commit_ms > 0 ? commit_ms : 0));
}

static cg_err *produce(canon_pipeline *p, const char *topic, int32_t part, const void *key,
                       size_t key_len, const void *val, size_t len, rd_kafka_headers_t *hdrs);

/* Begins the open batch's transaction and sends what it held: once the commit thread's
 * batch is flushed (its records are all written, so the held ones cannot overtake them in
 * any partition) or has landed. */
static cg_err *start_held(canon_pipeline *p)
{
    cg_err *err = kafka_begin(p);
    for (size_t i = 0; i < p->n_held && !err; i++) {
        held_rec *h = &p->held[i];
        const uint8_t *key = p->harena.p + h->off;
        rd_kafka_headers_t *hdrs = h->hdrs;
        h->hdrs = NULL; /* produce() owns them now, also on failure */
        err = produce(p, h->topic, h->part, h->key_null ? NULL : key, h->key_len,
                      h->val_null ? NULL : key + h->key_len, h->val_len, hdrs);
    }
    held_discard(p);
    if (err && cg_err_code(err) == CG_ESTATE) {
        char why[512];
        snprintf(why, sizeof(why), "%s", cg_err_msg(err));
        cg_err_free(err);
        return abort_and_rewind(p, why, 0);
    }
    return err;
}

/* Progress of the commit thread's batch (or wait: until it has landed). Flushed: the open
 * batch's transaction can begin on the other producer. Landed: booked; a failed one is
 * aborted with the open batch merged meanwhile, both rewound and their partitions
 * restored. No-op when nothing is flying. Loop thread. */
static cg_err *collect(canon_pipeline *p, int wait)
{
    if (!p->flying)
        return NULL;
    int st = __atomic_load_n(&p->fl_state, __ATOMIC_ACQUIRE);
    if (st == FL_FLUSHED && p->in_txn && !p->kbegun) {
        cg_err *err = start_held(p);
        if (err || !p->flying) /* (an abort settled the flight) */
            return err;
    }
    if (!wait && st != FL_DONE)
        return NULL;
    int failed = 0;
    cg_err *err = flight_wait(p, &failed);
    if (err)
        return err;
    if (failed) {
        char why[sizeof(p->fl_why) + 96];
        if (p->in_txn)
            snprintf(why, sizeof(why), "%s; with the next batch's %zu updates, merged meanwhile",
                     p->fl_why, p->batch_n);
        else
            snprintf(why, sizeof(why), "%s", p->fl_why);
        return abort_and_rewind(p, why, 1);
    }
    if (p->in_txn && !p->kbegun)
        return start_held(p);
    return NULL;
}

static void *committer_main(void *arg)
{
    canon_pipeline *p = arg;
    pthread_mutex_lock(&p->fl_lock);
    for (;;) {
        while (p->fl_state != FL_POSTED && !p->fl_quit)
            pthread_cond_wait(&p->fl_cond, &p->fl_lock);
        if (p->fl_state != FL_POSTED)
            break;
        rd_kafka_t *rk = p->prod[p->fl_idx];
        pthread_mutex_unlock(&p->fl_lock);
        int abort_needed = 0;
        int64_t t_offsets = 0, t0 = now_us();
        char why[512] = "";
        /* With two producers the loop may begin the next transaction on the other one as
         * soon as this one's records are written (not before: a partition's records must
         * stay in order). commit_transaction flushes too, but says so only at the end. */
        if (p->prod[1] && rd_kafka_flush(rk, TXN_CALL_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            pthread_mutex_lock(&p->fl_lock);
            __atomic_store_n(&p->fl_state, FL_FLUSHED, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&p->fl_lock);
        }
        int64_t t_flushed = now_ms();
        cg_err *err = commit_calls(p, rk, p->fl_offs, &abort_needed, why, sizeof(why), &t_offsets);
        int64_t us = now_us() - t0;
        pthread_mutex_lock(&p->fl_lock);
        p->fl_err = err;
        p->fl_abort = abort_needed;
        memcpy(p->fl_why, why, sizeof(why));
        p->fl_offsets_ms = t_offsets;
        p->fl_flushed_ms = t_flushed;
        p->fl_t0_ms = t0 / 1000; /* the commit's own start: the log splits from it */
        p->fl_us = us;
        __atomic_store_n(&p->fl_state, FL_DONE, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&p->fl_cond);
    }
    pthread_mutex_unlock(&p->fl_lock);
    return NULL;
}

/* Hands the open batch (its Kafka transaction begun, nothing flying) to the commit thread
 * and closes it: the next update opens a new batch, held until this one lands. */
static void launch(canon_pipeline *p)
{
    p->fl_offs = batch_offsets(p);
    for (size_t i = 0; i < p->n_ents; i++)
        for (int32_t k = 0; k < p->ents[i]->n_parts; k++)
            p->ents[i]->flight_start[k] = p->ents[i]->batch_start[k];
    p->fl_n = p->batch_n;
    p->fl_idx = p->cur;
    p->fl_open_ms = now_ms() - p->batch_started_ms; /* fl_t0_ms: set by the commit thread */
    batch_reset(p);
    p->flying = 1;
    pthread_mutex_lock(&p->fl_lock);
    p->fl_state = FL_POSTED;
    pthread_cond_broadcast(&p->fl_cond);
    pthread_mutex_unlock(&p->fl_lock);
}

/* Commits everything: waits for the commit thread's batch, then commits the open batch on
 * this thread. After it, nothing is open or flying (unless it fails). */
static cg_err *commit_txn(canon_pipeline *p)
{
    cg_err *err = collect(p, 1);
    if (err || !p->in_txn)
        return err;
    int64_t t0 = now_ms(), t_offsets = t0, us0 = now_us();
    rd_kafka_topic_partition_list_t *offs = batch_offsets(p);
    if (p->cfg.no_transactions) {
        /* A flush returns once no record is waiting, delivered or not: the delivery
         * reports say which. Offsets past a lost record are not committed; the stop makes
         * the next start consume the batch again (at least once). */
        rd_kafka_resp_err_t fe = rd_kafka_flush(p->prod[p->cur], 30000);
        if (!fe && p->dr_failed) {
            rd_kafka_topic_partition_list_destroy(offs);
            return cg_err_new(CG_EKAFKA,
                              "commit: %llu record(s) of the batch were not delivered (the "
                              "first: %s): its offsets are not committed",
                              (unsigned long long)p->dr_failed, p->dr_why);
        }
        if (!fe && offs->cnt > 0)
            fe = rd_kafka_commit(p->consumer, offs, 0);
        rd_kafka_topic_partition_list_destroy(offs);
        if (fe)
            return cg_err_new(CG_EKAFKA, "commit: %s", rd_kafka_err2str(fe));
    } else {
        int abort_needed = 0;
        char why[512] = "";
        p->n_sync_commits++;
        if (p->cfg.test_abort_every > 0 &&
            p->n_sync_commits % (uint64_t)p->cfg.test_abort_every == 0) {
            /* the test hook: as if the broker had refused the commit */
            abort_needed = 1;
            snprintf(why, sizeof(why), "CANON_TEST_ABORT_EVERY=%d", p->cfg.test_abort_every);
        } else {
            err =
                commit_calls(p, p->prod[p->cur], offs, &abort_needed, why, sizeof(why), &t_offsets);
        }
        rd_kafka_topic_partition_list_destroy(offs);
        if (err)
            return err;
        if (abort_needed)
            return abort_and_rewind(p, why, 0);
    }
    commit_finished(p, p->batch_n, t0 - p->batch_started_ms, t0, t0, t_offsets, now_us() - us0);
    batch_reset(p);
    return NULL;
}

/* ---- rebalancing --------------------------------------------------------------------- */

/* Remembers the group's committed offsets of newly assigned partitions: the lag of a
 * partition we have not consumed from yet is measured from there. One OffsetFetch per
 * assignment, inside the callback that already waits for the restores; a failure only
 * leaves the lag unknown until the first update arrives. */
static void note_committed(canon_pipeline *p, rd_kafka_t *rk,
                           const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(parts);
    if (!l)
        return;
    if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < l->cnt; i++) {
            entity *e = find_entity_topic(p, l->elems[i].topic);
            int32_t k = l->elems[i].partition;
            if (e && k < e->n_parts && !l->elems[i].err)
                e->committed[k] = l->elems[i].offset >= 0 ? l->elems[i].offset : -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Consumer lag of every assigned partition, for the metrics: the end offset librdkafka
 * learnt from its last fetch response (rd_kafka_get_watermark_offsets: cached, no broker
 * round trip, so the loop never waits for it) minus our consume position
 * (rd_kafka_position: local too), or the committed offset at assignment before the first
 * update is consumed. Called at most once a second. */
static void update_lag(canon_pipeline *p)
{
    for (size_t i = 0; i < p->n_ents; i++) {
        entity *e = p->ents[i];
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(e->n_parts);
        if (!l)
            return;
        for (int32_t k = 0; k < e->n_parts; k++)
            if (e->states[k])
                rd_kafka_topic_partition_list_add(l, e->updates_topic, k);
        if (l->cnt && rd_kafka_position(p->consumer, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int j = 0; j < l->cnt; j++) {
                int32_t k = l->elems[j].partition;
                int64_t lo = -1, hi = -1, pos = l->elems[j].offset, lag = -1;
                if (pos < 0)
                    pos = e->committed[k];
                if (rd_kafka_get_watermark_offsets(p->consumer, e->updates_topic, k, &lo, &hi) ==
                        RD_KAFKA_RESP_ERR_NO_ERROR &&
                    hi >= 0) {
                    if (pos < 0 && lo >= 0)
                        pos = lo; /* nothing committed: auto.offset.reset=earliest */
                    if (pos >= 0)
                        lag = hi > pos ? hi - pos : 0;
                }
                __atomic_store_n(&e->lag[k], lag, __ATOMIC_RELAXED);
            }
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
}

/* Whether an assigned partition has more than one record on the broker that we have not
 * consumed yet, by the lags update_lag() just computed. One is allowed: a transactional
 * producer's commit marker at the end counts in the end offset but is never consumed. */
static int input_waiting(canon_pipeline *p)
{
    for (size_t i = 0; i < p->n_ents; i++)
        for (int32_t k = 0; k < p->ents[i]->n_parts; k++)
            if (__atomic_load_n(&p->ents[i]->lag[k], __ATOMIC_RELAXED) > 1)
                return 1;
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t ke,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    canon_pipeline *p = opaque;
    cg_err *err = NULL;
    p->rebalances++;
    /* Whatever moves, the open batch is committed first: its offsets belong to partitions
     * that may leave, and a restore must not race our own open transaction. */
    if (!p->cb_err)
        err = commit_txn(p);
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (ke == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt && !err; i++) {
            entity *e = find_entity_topic(p, parts->elems[i].topic);
            int32_t k = parts->elems[i].partition;
            if (e && k < e->n_parts)
                err = restore_partition(p, e, k);
        }
        if (!err)
            note_committed(p, rk, parts);
        rd_kafka_error_t *ae = NULL;
        if (cooperative)
            ae = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (ae && !err)
            err = kerr("assign", ae);
        else if (ae)
            rd_kafka_error_destroy(ae);
    } else {
        for (int i = 0; i < parts->cnt; i++) {
            entity *e = find_entity_topic(p, parts->elems[i].topic);
            int32_t k = parts->elems[i].partition;
            if (e && k < e->n_parts) {
                canon_state_free(e->states[k]);
                e->states[k] = NULL;
                e->batch_start[k] = e->next_offset[k] = e->flight_start[k] = e->committed[k] = -1;
                __atomic_store_n(&e->lag[k], -1, __ATOMIC_RELAXED);
            }
        }
        if (cooperative) {
            rd_kafka_error_t *ae = rd_kafka_incremental_unassign(rk, parts);
            if (ae && !err)
                err = kerr("unassign", ae);
            else if (ae)
                rd_kafka_error_destroy(ae);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
    if (err) {
        if (!p->cb_err)
            p->cb_err = err;
        else
            cg_err_free(err);
    }
}

/* ---- record size limits -------------------------------------------------------------- */

/* A producer setting (prod[0]'s) as a number, 0 when unknown. */
static size_t producer_setting(canon_pipeline *p, const char *name)
{
    char v[32];
    size_t vl = sizeof(v);
    if (rd_kafka_conf_get(rd_kafka_conf(p->prod[0]), name, v, &vl) != RD_KAFKA_CONF_OK)
        return 0;
    return (size_t)strtoull(v, NULL, 10);
}

/* The smaller of two limits, 0 meaning none. */
static size_t limit_min(size_t a, size_t b)
{
    return a && (!b || a < b) ? a : b;
}

/* librdkafka fills a record batch up to batch.size and message.max.bytes (1,000,000 by
 * default), and the broker refuses a batch past its topic's max.message.bytes only after
 * it was sent: the transaction fails, is aborted and rewound, and fails again, forever
 * (measured: a canon topic of 8,000 bytes and a burst of small updates). So the producers
 * are made again with a batch.size below the smallest limit of every served topic (read by
 * topic_configs()) when entities are served (at start, or added while running) and after a
 * batch was refused for its size. Only batch.size: a batch takes its first record whatever
 * its size, so each record is held to its own topic's limit before it is sent (canon_max,
 * dlq_max): a canon record past it is a TOO_LARGE dead letter, a dead letter past it stops
 * the aggregator saying what to raise (dead_letter()). Loop thread, between batches (or
 * before the run). */
static cg_err *fit_producers(canon_pipeline *p)
{
    size_t want = 0;
    const char *which = NULL;
    for (size_t i = 0; i < p->n_ents; i++) {
        const entity *e = p->ents[i];
        if (e->canon_max && (!want || e->canon_max < want)) {
            want = e->canon_max;
            which = e->canon_topic;
        }
        if (e->dlq_max && (!want || e->dlq_max < want)) {
            want = e->dlq_max;
            which = e->dlq_topic;
        }
    }
    /* what the producers put in one batch now: batch.size, or message.max.bytes if less */
    size_t have = limit_min(producer_setting(p, "batch.size"), p->max_record);
    if (!want || (have && have <= want))
        return NULL;
    logf_(p,
          "%s takes record batches of at most %zu bytes (max.message.bytes): the producers "
          "are made with batch.size %zu (was %zu)",
          which, want + CANON_BATCH_FRAMING, want, have);
    /* the open batch's records are the old producers' */
    cg_err *err = commit_txn(p);
    snprintf(p->batch_set, sizeof(p->batch_set), "%zu", want);
    for (int k = 0; k < 2 && !err; k++)
        if (p->prod[k])
            err = renew_producer(p, k);
    return err;
}

/* ---- the loop ------------------------------------------------------------------------ */

static cg_err *produce(canon_pipeline *p, const char *topic, int32_t part, const void *key,
                       size_t key_len, const void *val, size_t len, rd_kafka_headers_t *hdrs)
{
    rd_kafka_topic_t *rkt = topic_handle(p, p->prod[p->cur], topic);
    if (!rkt) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return cg_err_new(CG_ENOMEM, "produce to %s: out of memory for a topic handle", topic);
    }
    for (;;) {
        rd_kafka_resp_err_t ke;
        if (hdrs)
            ke = rd_kafka_producev(p->prod[p->cur], RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(part),
                                   RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, len),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        else
            ke = rd_kafka_producev(p->prod[p->cur], RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(part),
                                   RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, len),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!ke)
            return NULL;
        if (ke == RD_KAFKA_RESP_ERR__QUEUE_FULL && !stopping(p)) {
            rd_kafka_poll(p->prod[p->cur], 10);
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        /* Asked to stop while the queue is full (a broker outage): the batch cannot be
         * completed, so it is aborted and rewound like a failed transaction (run_loop()),
         * never committed without this record; the next start takes it up again. */
        if (ke == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return cg_err_new(CG_ESTATE,
                              "produce to %s [%d]: stopped while the local queue was full", topic,
                              (int)part);
        /* __STATE: the open transaction failed meanwhile (e.g. its records timed out
         * during a broker outage, or the broker lost their sequence); __FATAL other than
         * fencing: see replace_producer(). canon_pipeline_run() aborts and rewinds the
         * transaction, as commit_txn() does. */
        int abortable = !p->cfg.no_transactions &&
                        (ke == RD_KAFKA_RESP_ERR__STATE ||
                         (ke == RD_KAFKA_RESP_ERR__FATAL && recoverable(p, p->prod[p->cur])));
        return cg_err_new(abortable ? CG_ESTATE : CG_EKAFKA, "produce to %s [%d]: %s", topic,
                          (int)part, rd_kafka_err2str(ke));
    }
}

/* A record of the open batch: produced at once, or held while the previous batch commits
 * (its transaction has not begun yet). Takes hdrs. */
static cg_err *emit(canon_pipeline *p, const char *topic, int32_t part, const void *key,
                    size_t key_len, const void *val, size_t len, rd_kafka_headers_t *hdrs)
{
    if (p->kbegun)
        return produce(p, topic, part, key, key_len, val, len, hdrs);
    return hold(p, topic, part, key, key_len, val, len, hdrs);
}

static cg_err *dead_letter(canon_pipeline *p, entity *e, const rd_kafka_message_t *m,
                           const canon_result *r)
{
    char buf[32];
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    const char *code = canon_reason_name(r->reason);
    rd_kafka_header_add(h, "canon.error.code", -1, code, -1);
    rd_kafka_header_add(h, "canon.error.message", -1, r->message, -1);
    rd_kafka_header_add(h, "canon.source.topic", -1, e->updates_topic, -1);
    snprintf(buf, sizeof(buf), "%d", (int)m->partition);
    rd_kafka_header_add(h, "canon.source.partition", -1, buf, -1);
    snprintf(buf, sizeof(buf), "%lld", (long long)m->offset);
    rd_kafka_header_add(h, "canon.source.offset", -1, buf, -1);
    /* A dead letter `canon replay` sent back and rejected again keeps the headers naming
     * its earlier dead letter, so its history can be followed. */
    rd_kafka_headers_t *in = NULL;
    if (!rd_kafka_message_headers(m, &in)) {
        const char *name;
        const void *v;
        size_t n;
        for (size_t i = 0; !rd_kafka_header_get_all(in, i, &name, &v, &n); i++)
            if (!strncmp(name, "canon.replay.", 13))
                rd_kafka_header_add(h, name, -1, v, (ssize_t)n);
    }
    /* The update's own partition; a DLQ made with fewer partitions (by hand) takes the
     * producers' partitioner (murmur2 of the key) instead of failing the produce. */
    int32_t part = m->partition;
    if (part >= e->dlq_parts)
        part = RD_KAFKA_PARTITION_UA;
    /* Held to the DLQ's limit here, not by the broker after the batch was sent (which
     * would fail the transaction at every attempt): it cannot be written whole, and it is
     * not written cut, so the aggregator stops before committing past it. As in merge.c,
     * the value, the key and the record's framing, plus each header's. */
    size_t wire = m->len + m->key_len + CANON_RECORD_FRAMING,
           cap = limit_min(p->max_record, e->dlq_max);
    {
        const char *name;
        const void *v;
        size_t n;
        for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &n); i++)
            wire += strlen(name) + n + 10;
    }
    if (cap && wire > cap) {
        rd_kafka_headers_destroy(h);
        return cg_err_new(CG_EKAFKA,
                          "the dead letter of %s [%d] offset %lld (%s) would be %zu bytes, more "
                          "than %s takes (%zu: its max.message.bytes less batch framing, or the "
                          "producers' message.max.bytes): raise both, and start again; nothing "
                          "past this update was committed",
                          e->updates_topic, (int)m->partition, (long long)m->offset, code, wire,
                          e->dlq_topic, cap);
    }
    add(&e->c.rejected, 1);
    if ((size_t)r->reason < N_REASONS)
        add(&e->c.by_reason[r->reason], 1);
    add(&e->c.dlq_out, 1);
    return emit(p, e->dlq_topic, part, m->key, m->key_len, m->payload, m->len, h);
}

static cg_err *refresh_entity(canon_pipeline *p, entity *e);

/* canon_msg.source_ok for the pipeline's source_allowed hook (opaque: a source_check). */
typedef struct source_check {
    canon_pipeline *p;
    const entity *e;
} source_check;
static int check_source(void *opaque, const uint8_t *source, size_t len)
{
    const source_check *sc = opaque;
    return sc->p->cfg.source_allowed(sc->p->cfg.source_opaque, sc->e->name, source, len);
}

static cg_err *handle(canon_pipeline *p, rd_kafka_message_t *m)
{
    entity *e = owner_of(p, m);
    cg_err *err = NULL;
    if (!e)
        return NULL; /* not ours any more (revoked meanwhile) */
    int32_t k = m->partition;
    canon_msg cm = {.topic = e->updates_topic,
                    .partition = k,
                    .offset = m->offset,
                    .key = m->key,
                    .key_len = m->key_len,
                    .value = m->payload,
                    .value_len = m->len,
                    .max_record = limit_min(p->max_record, e->canon_max)};
    source_check sc = {p, e};
    if (p->cfg.source_allowed) {
        cm.source_ok = check_source;
        cm.source_opaque = &sc;
    }
    canon_result *r = &p->res;
    if ((err = canon_merge(e->engine, e->states[k], &cm, r)))
        return err;
    if (r->verdict == CANON_REJECT && r->reason == CANON_R_UNKNOWN_SCHEMA && r->schema_id >= 0) {
        /* Schema evolution: a writer schema registered after we started, maybe with a new
         * canonical version. The open batch is committed first, because a new canonical
         * version rebuilds the state from the canon topic. */
        uint64_t aborts = get(&p->aborts);
        if ((err = commit_txn(p)))
            return err;
        if (get(&p->aborts) != aborts) {
            /* The batch was aborted: m comes again if its partition was rewound, else it
             * must be sought back to. Whether it was is known only after the abort: the
             * flying batch may have landed just before it (a partition that was only in
             * that batch is then not rewound). */
            if (!p->rewound ||
                !rd_kafka_topic_partition_list_find(p->rewound, e->updates_topic, k)) {
                if (p->cfg.verbose)
                    logf_(p, "%s [%d] was not rewound by the abort: seeking back to %lld",
                          e->updates_topic, (int)k, (long long)m->offset);
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(l, e->updates_topic, k)->offset = m->offset;
                rd_kafka_error_t *ke = rd_kafka_seek_partitions(p->consumer, l, 0);
                if (!ke)
                    in_drop_seeked(p, l);
                rd_kafka_topic_partition_list_destroy(l);
                if (ke)
                    return kerr("rewind", ke);
            }
            return NULL;
        }
        if ((err = refresh_entity(p, e)))
            return err;
        int added = canon_engine_has_schema(e->engine, r->schema_id);
        if (!added) {
            err = learn_schema(p, e, e->engine, r->schema_id, 0, &added);
            if (err) {
                logf_(p, "schema id %d: %s", (int)r->schema_id, cg_err_msg(err));
                if (cg_err_code(err) == CG_EIO) /* registry unreachable: do not dead-letter */
                    return err;
                cg_err_free(err);
                err = NULL;
            }
        }
        if (!e->states[k])
            return NULL;
        if (added && (err = canon_merge(e->engine, e->states[k], &cm, r)))
            return err;
    }
    if ((err = begin_txn(p)))
        return err;
    if (e->batch_start[k] < 0)
        e->batch_start[k] = m->offset;
    e->next_offset[k] = m->offset + 1;
    p->batch_n++;
    add(&e->c.updates_in, 1);
    switch (r->verdict) {
    case CANON_PUBLISH:
        add(&e->c.published, 1);
        add(&e->c.records_out, 1);
        add(&e->c.stale_fields, r->n_stale);
        add(&e->c.ignored_fields, r->n_ignored);
        return emit(p, e->canon_topic, k, m->key, m->key_len, r->envelope.p, r->envelope.len, NULL);
    case CANON_NOOP:
        add(&e->c.noops, 1);
        add(&e->c.stale_fields, r->n_stale);
        return NULL;
    case CANON_REJECT:
    default:
        return dead_letter(p, e, m, r);
    }
}

static cg_err *refresh_entity_to(canon_pipeline *p, entity *e, int32_t cid, int32_t uid,
                                 int32_t eid);

/* Picks up a new canonical version of e: a new engine (the state layout follows the field
 * count), then the assigned partitions are restored with it from the canon topic. Called
 * with no transaction open. */
static cg_err *refresh_entity(canon_pipeline *p, entity *e)
{
    int32_t cid, uid, eid;
    cg_err *err = entity_info(p, e->name, &cid, &uid, &eid);
    if (err) {
        logf_(p, "%s", cg_err_msg(err));
        cg_err_free(err);
        return NULL;
    }
    return refresh_entity_to(p, e, cid, uid, eid);
}

/* Takes e to the canonical schema cid (update schema uid, envelope eid) when it is not
 * there yet. Between batches. */
static cg_err *refresh_entity_to(canon_pipeline *p, entity *e, int32_t cid, int32_t uid,
                                 int32_t eid)
{
    cg_err *err = NULL;
    if (cid == e->canonical_id && uid == e->updates_id && eid == e->envelope_id)
        return NULL;
    /* the restore below reads committed data only, and the state it rebuilds must not
     * have merges of an open batch */
    if ((err = commit_txn(p)))
        return err;
    canon_engine *eng = NULL;
    if ((err = build_engine(p, e, cid, uid, eid, &eng)))
        return err;
    if ((err = remember_id(e, uid * 2)) || (err = remember_id(e, eid * 2 + 1))) {
        canon_engine_free(eng);
        return err;
    }
    canon_engine_free(e->engine);
    e->engine = eng;
    logf_(
        p,
        "entity '%s': canonical schema id %d -> %d (update id %d, envelope id %d); restoring state",
        e->name, (int)e->canonical_id, (int)cid, (int)uid, (int)eid);
    e->canonical_id = cid;
    e->updates_id = uid;
    e->envelope_id = eid;
    for (int32_t k = 0; k < e->n_parts; k++)
        if (e->states[k] && (err = restore_partition(p, e, k)))
            return err;
    return NULL;
}

/* Picks up entities registered since the start (when serving every entity) and new
 * canonical versions of the served ones. Called between batches only. */
static cg_err *refresh(canon_pipeline *p)
{
    cg_err *err = NULL;
    json_t *body = NULL;
    int status = 0;
    p->last_refresh_ms = now_ms();
    if (!p->n_want &&
        (err = canon_registry_request(p->reg, "GET", "/canon/entities", NULL, &status, &body)))
        return err;
    if (status != 200 || !json_is_array(body)) {
        /* New canonical versions of the served entities, asked one by one (--entity, or
         * a list that did not come). */
        json_decref(body);
        for (size_t i = 0; i < p->n_ents && !err; i++)
            err = refresh_entity(p, p->ents[i]);
        return err;
    }
    /* Serving every entity: the list says both which entities are new and, in each
     * entity's object, its current schema ids (one request, not one per entity). */
    size_t n0 = p->n_ents, i;
    json_t *v;
    json_array_foreach(body, i, v)
    {
        json_t *n = json_is_object(v) ? json_object_get(v, "entity") : v;
        if (!json_is_string(n))
            continue;
        const char *name = json_string_value(n);
        entity *e = find_entity(p, name);
        if (e && !json_is_object(v)) { /* a list of names only */
            if ((err = refresh_entity(p, e)))
                break;
            continue;
        }
        if (e) {
            int32_t cid, uid, eid;
            cg_err *bad = entity_ids(v, name, "/canon/entities", &cid, &uid, &eid);
            if (bad) {
                logf_(p, "%s", cg_err_msg(bad));
                cg_err_free(bad);
            } else if ((err = refresh_entity_to(p, e, cid, uid, eid))) {
                break;
            }
            continue;
        }
        if ((err = entity_load(p, name, p->cfg.create_updates, &e))) {
            /* tried again at each refresh; said again only when the reason changes */
            json_t *said = json_object_get(p->unserved, name);
            if (!said || strcmp(json_string_value(said), cg_err_msg(err))) {
                logf_(p, "entity '%s' not served yet (tried again every %d s): %s", name,
                      REFRESH_MS / 1000, cg_err_msg(err));
                json_object_set_new(p->unserved, name, json_string(cg_err_msg(err)));
            }
            cg_err_free(err);
            err = NULL;
            continue;
        }
        json_object_del(p->unserved, name);
        if ((err = add_entity(p, e))) {
            entity_free(e);
            break;
        }
        logf_(p, "serving entity '%s' (%s -> %s, %d partitions)", name, e->updates_topic,
              e->canon_topic, (int)e->n_parts);
    }
    json_decref(body);
    int added = p->n_ents > n0;
    if (!err && added)
        err = fit_producers(p);
    /* (before canon_pipeline_run(), which subscribes once: a second subscribe would leave
     * and rejoin the group) */
    if (!err && added && p->running)
        err = subscribe(p);
    return err;
}

/* Stops the commit thread (after its batch, whose outcome is dropped: the caller is
 * failing anyway, and an unfinished transaction is aborted by the next start's fencing). */
static void committer_stop(canon_pipeline *p)
{
    if (!p->committer_up)
        return;
    pthread_mutex_lock(&p->fl_lock);
    while (p->fl_state == FL_POSTED || p->fl_state == FL_FLUSHED)
        pthread_cond_wait(&p->fl_cond, &p->fl_lock);
    p->fl_quit = 1;
    pthread_cond_broadcast(&p->fl_cond);
    pthread_mutex_unlock(&p->fl_lock);
    pthread_join(p->committer, NULL);
    p->committer_up = 0;
    if (p->flying) {
        p->flying = 0;
        p->fl_state = FL_IDLE;
        cg_err_free(p->fl_err);
        p->fl_err = NULL;
        rd_kafka_topic_partition_list_destroy(p->fl_offs);
        p->fl_offs = NULL;
    }
}

static cg_err *run_loop(canon_pipeline *p)
{
    cg_err *err = NULL;
    int interval = p->cfg.commit_interval_ms > 0 ? p->cfg.commit_interval_ms : 100;
    size_t batch_max = p->cfg.batch_max > 0 ? (size_t)p->cfg.batch_max : 100000;
    int64_t last_lag_ms = 0, last_poll_ms = 0;
    int behind = 0; /* the queue ran dry while the broker has more for us: wait, not commit */
    /* The clock is read once per turn (a turn is one update under load, and clock_gettime
     * showed up at several percent of the loop's profile when read at every step). */
    int64_t now = now_ms(), t_us = p->cfg.verbose ? now_us() : 0;
    while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
        /* Block only when no batch is open; with one open, a drained queue commits. While
         * a batch is flying, wake often enough to start the next one when it lands. */
        int timeout = p->flying ? 1 : p->in_txn ? (behind ? 5 : 0) : 100;
        rd_kafka_message_t *m = next_message(p, timeout, &err);
        if (err)
            break;
        if (p->cb_err) {
            err = p->cb_err;
            p->cb_err = NULL;
            break;
        }
        if (m && m->err) {
            /* (an outage is logged once, by the producer's error_cb) */
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                logf_(p, "consume: %s", rd_kafka_message_errstr(m));
            if (rd_kafka_fatal_error(p->consumer, NULL, 0)) {
                err = cg_err_new(CG_EKAFKA, "consumer: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                break;
            }
            rd_kafka_message_destroy(m);
            m = NULL;
        }
        if (m) {
            err = handle(p, m);
            rd_kafka_message_destroy(m);
            if (err && cg_err_code(err) == CG_ESTATE && p->in_txn) {
                /* the transaction became abortable: m's partition is in it (handle() marks
                 * it before producing), so the rewind brings m again */
                char why[512];
                snprintf(why, sizeof(why), "%s", cg_err_msg(err));
                cg_err_free(err);
                err = abort_and_rewind(p, why, 0);
            }
            /* A produce that librdkafka refuses locally (other than a full queue, which
             * produce() waits out) is a configuration or state error that a retry would
             * repeat: stop, and let the open transaction be aborted (by the fencing of the
             * next start, or canon_pipeline_free()). Broker-side failures surface at commit,
             * which aborts and rewinds. */
            if (err)
                break;
        }
        if (p->cfg.verbose) { /* where the loop's time goes (logged every 5 s) */
            int64_t t = now_us();
            if (m)
                p->t_merge_us += t - t_us;
            else {
                p->t_idle_us += t - t_us;
                p->n_polls_empty++;
            }
            t_us = t;
            now = t / 1000;
        } else
            now = now_ms();
        if (p->flying && (err = collect(p, 0)))
            break;
        /* Both producers are polled (but the commit thread's: see drain_stale()), so an
         * outage event of the one not in use is served while the outage lasts, not when
         * that producer's turn comes after it. Once per millisecond, not per update: what
         * waits there (errors, logs, and delivery reports, which only free their records:
         * see delivered()) can wait. */
        if (now != last_poll_ms) {
            last_poll_ms = now;
            for (int i = 0; i < 2; i++)
                if (p->prod[i] && (!p->flying || i != p->fl_idx))
                    rd_kafka_poll(p->prod[i], 0);
        }
        if (now - last_lag_ms >= 1000) {
            update_lag(p);
            last_lag_ms = now;
        }
        /* Under load the span of a transaction is the interval, stretched to twice the last
         * commit's duration: a commit costs a few broker round trips whatever its size, so
         * a slow broker (a loaded machine: 100 ms and more per commit) would otherwise make
         * many small transactions. Bounded well below transaction.timeout.ms. A quick
         * commit (a few ms) leaves the interval as it is, and a drained queue still
         * commits at once (low load: latency). */
        int64_t span = interval;
        if (2 * p->last_commit_ms > span)
            span = 2 * p->last_commit_ms < 2000 ? 2 * p->last_commit_ms : 2000;
        /* A queue that runs dry under backlog (the fetcher is behind, not the producers)
         * is no reason to commit: the end offsets of the last fetch responses say whether
         * more is waiting on the broker. */
        behind = 0;
        if (!m && p->in_txn) {
            update_lag(p);
            last_lag_ms = now;
            behind = input_waiting(p);
        }
        if (p->in_txn &&
            ((!m && !behind) || p->batch_n >= batch_max || now - p->batch_started_ms >= span)) {
            if (!p->pipelined)
                err = commit_txn(p);
            else if (!p->flying)
                launch(p);
            else if (p->batch_n >= batch_max)
                err = collect(p, 1); /* the next turn launches */
            if (err)
                break;
            if (p->cfg.verbose) {
                int64_t t = now_us();
                p->t_commit_us += t - t_us;
                t_us = t;
            }
        }
        if (cp_due(p, now)) {
            if ((err = commit_txn(p)))
                break;
            cp_maybe_save(p);
        }
        if (p->cfg.verbose && now - p->t_report_ms >= 5000) {
            if (p->t_report_ms)
                logf_(p,
                      "loop time: %.2f s waiting for input (%llu empty polls), %.2f s consuming "
                      "and merging, %.2f s committing",
                      p->t_idle_us / 1e6, (unsigned long long)p->n_polls_empty, p->t_merge_us / 1e6,
                      p->t_commit_us / 1e6);
            p->t_idle_us = p->t_merge_us = p->t_commit_us = 0;
            p->n_polls_empty = 0;
            p->t_report_ms = now;
        }
        /* (refresh() commits first when it finds a new canonical version) */
        if (now - p->last_refresh_ms >= REFRESH_MS && (err = refresh(p))) {
            logf_(p, "registry refresh: %s", cg_err_msg(err));
            cg_err_free(err);
            err = NULL;
        }
    }
    if (!err)
        err = commit_txn(p);
    if (!err && p->cp) {
        p->cp_last_ms = 0; /* a clean stop leaves a fresh checkpoint */
        cp_maybe_save(p);
    }
    return err;
}

cg_err *canon_pipeline_run(canon_pipeline *p)
{
    cg_err *err = NULL;
    if ((err = subscribe(p)))
        return err;
    p->running = 1;
    p->pipelined = !p->cfg.no_transactions;
    if (p->pipelined) {
        int rc = pthread_create(&p->committer, NULL, committer_main, p);
        if (rc)
            return cg_err_new(CG_EIO, "cannot start the commit thread: %s", strerror(rc));
        p->committer_up = 1;
    }
    err = run_loop(p);
    in_discard(p); /* not handled, not committed: they come again */
    committer_stop(p);
    held_discard(p);
    if (err) {
        /* The open batch failed: nothing may commit it later (closing the consumer runs
         * rebalance_cb(), which commits what is open). */
        if (p->kbegun && !p->cfg.no_transactions) {
            rd_kafka_error_t *ke = rd_kafka_abort_transaction(p->prod[p->cur], 10000);
            if (ke)
                rd_kafka_error_destroy(ke);
        }
        batch_reset(p);
    }
    return err;
}

void canon_pipeline_stop(canon_pipeline *p)
{
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
}

/* ---- setup --------------------------------------------------------------------------- */

/* With transactions, delivery reports carry nothing we need (a failed delivery makes the
 * transaction abortable, and the commit says so), but without a callback librdkafka 2.0.2
 * posts no report, and rd_kafka_flush() then sees its records written only by polling in
 * steps of 10 ms: at 10,000 updates/s the flush of a batch took 10 ms at the median and 20
 * at p99 (-v). A report wakes the flush at once. Without transactions a failed delivery is
 * counted here: nothing else would say that a record was lost. Called from
 * rd_kafka_poll()/rd_kafka_flush() on the thread serving the producer (the loop, or the
 * commit thread for its batch; without transactions always the loop). */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    canon_pipeline *p = opaque;
    (void)rk;
    if (!m->err || !p->cfg.no_transactions)
        return;
    if (!p->dr_failed++)
        snprintf(p->dr_why, sizeof(p->dr_why), "%s [%d]: %s", rd_kafka_topic_name(m->rkt),
                 (int)m->partition, rd_kafka_err2str(m->err));
}

static cg_err *make_client(canon_pipeline *p, int kind, rd_kafka_t **out)
{
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];
    int consumer = kind == KIND_CONSUMER || kind == KIND_RESTORER || kind == KIND_MARKS;
    cg_err *err = make_conf(p, kind, &conf);
    if (err)
        return err;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (kind == KIND_CONSUMER)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    if (!consumer)
        rd_kafka_conf_set_dr_msg_cb(conf, delivered);
    rd_kafka_t *rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                                  sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return cg_err_new(CG_EKAFKA, "%s: %s", consumer ? "consumer" : "producer", errstr);
    }
    if (consumer)
        rd_kafka_poll_set_consumer(rk);
    *out = rk;
    return NULL;
}

cg_err *canon_pipeline_new(const canon_pipeline_config *cfg, canon_pipeline **out)
{
    cg_err *err = NULL;
    if (!cfg->bootstrap || !*cfg->bootstrap)
        return cg_err_new(CG_EINVAL, "no bootstrap servers given");
    if (!cfg->registry_url || !*cfg->registry_url)
        return cg_err_new(CG_EINVAL, "no registry URL given");
    canon_pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return cg_err_new(CG_ENOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->fl_lock, NULL);
    pthread_cond_init(&p->fl_cond, NULL);
    canon_result_init(&p->res);
    p->cfg = *cfg;
    p->bootstrap = strdup(cfg->bootstrap);
    p->registry_url = strdup(cfg->registry_url);
    p->group_id = strdup(cfg->group_id ? cfg->group_id : "canon-aggregator");
    if (cfg->transactional_id) {
        p->txn_id = strdup(cfg->transactional_id);
    } else {
        char host[128] = "localhost";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = 0;
        p->txn_id = fmt_str("%s-%s", p->group_id, host);
    }
    p->props = calloc(cfg->n_props + 1, sizeof(char *));
    p->want = calloc(cfg->n_entities + 1, sizeof(char *));
    /* the second producer's id follows from the first, so both are fenced by a restart */
    p->txn_id2 = p->txn_id ? fmt_str("%s.1", p->txn_id) : NULL;
    p->unserved = json_object();
    if (!p->bootstrap || !p->registry_url || !p->group_id || !p->txn_id || !p->txn_id2 ||
        !p->props || !p->want || !p->unserved) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_props; i++)
        if (!(p->props[p->n_props++] = xstrdup(cfg->props[i]))) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto fail;
        }
    for (size_t i = 0; i < cfg->n_entities; i++)
        if (!(p->want[p->n_want++] = xstrdup(cfg->entities[i]))) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto fail;
        }
    p->cfg.entities = NULL;
    p->cfg.props = NULL;
    p->cfg.bootstrap = p->bootstrap;
    p->cfg.registry_url = p->registry_url;
    p->cfg.group_id = p->group_id;
    p->cfg.transactional_id = p->txn_id;
    p->cfg.checkpoint_path = NULL; /* not kept: opened here */
    if (cfg->checkpoint_path && (err = canon_cp_open(cfg->checkpoint_path, &p->cp)))
        goto fail;
    p->cp_last_ms = now_ms();
    if ((err = canon_registry_new_opts(p->registry_url, 10000, cfg->registry_opts, &p->reg)))
        goto fail;
    if ((err = make_client(p, KIND_PRODUCER, &p->prod[0])) ||
        (!cfg->no_transactions && (err = make_client(p, KIND_PRODUCER2, &p->prod[1]))) ||
        (err = make_client(p, KIND_CONSUMER, &p->consumer)) ||
        (err = make_client(p, KIND_RESTORER, &p->restorer)) ||
        (err = make_client(p, KIND_MARKS, &p->marks)))
        goto fail;
    {
        /* A canon record librdkafka would refuse locally is a dead letter (TOO_LARGE), not
         * an error at every restart: the merge checks the limit (-X message.max.bytes). */
        p->max_record = producer_setting(p, "message.max.bytes");
    }
    if (!(p->cq = rd_kafka_queue_get_consumer(p->consumer))) {
        err = cg_err_new(CG_EKAFKA, "the consumer has no queue");
        goto fail;
    }
    for (size_t i = 0; i < p->n_want; i++) {
        entity *e = NULL;
        if ((err = entity_load(p, p->want[i], 0, &e)))
            goto fail;
        if ((err = add_entity(p, e))) {
            entity_free(e);
            goto fail;
        }
    }
    if (p->n_want && (err = fit_producers(p)))
        goto fail;
    if (!p->n_want) {
        if ((err = refresh(p)))
            goto fail;
    }
    p->last_refresh_ms = now_ms();
    if (!p->cfg.no_transactions) {
        /* Fences an earlier incarnation with our transactional ids and aborts its open
         * transactions, so restores below see every committed record and nothing else. */
        for (int i = 0; i < 2; i++) {
            rd_kafka_error_t *ke = rd_kafka_init_transactions(p->prod[i], 30000);
            if (ke) {
                err = kerr("init transactions (does the cluster support transactions?)", ke);
                goto fail;
            }
        }
        p->txn_ready = 1;
    }
    *out = p;
    return NULL;
fail:
    canon_pipeline_free(p);
    return err;
}

void canon_pipeline_free(canon_pipeline *p)
{
    if (!p)
        return;
    committer_stop(p);
    if (p->kbegun && p->prod[p->cur] && !p->cfg.no_transactions) {
        rd_kafka_error_t *ke = rd_kafka_abort_transaction(p->prod[p->cur], 10000);
        if (ke)
            rd_kafka_error_destroy(ke);
    }
    in_discard(p);
    if (p->cq)
        rd_kafka_queue_destroy(p->cq);
    if (p->consumer) {
        rd_kafka_consumer_close(p->consumer);
        rd_kafka_destroy(p->consumer);
    }
    if (p->restorer) {
        rd_kafka_consumer_close(p->restorer);
        rd_kafka_destroy(p->restorer);
    }
    if (p->marks) {
        rd_kafka_consumer_close(p->marks);
        rd_kafka_destroy(p->marks);
    }
    for (int i = 0; i < 2; i++)
        if (p->prod[i]) {
            rd_kafka_flush(p->prod[i], 10000);
            topic_handles_drop(p, p->prod[i]);
            rd_kafka_destroy(p->prod[i]);
        }
    free(p->trefs);
    for (size_t i = 0; i < p->n_ents; i++)
        entity_free(p->ents[i]);
    free(p->ents);
    canon_cp_close(p->cp);
    p->cp = NULL;
    canon_registry_free(p->reg);
    canon_result_clear(&p->res);
    cg_err_free(p->cb_err);
    for (size_t i = 0; i < p->n_props; i++)
        free(p->props[i]);
    free(p->props);
    for (size_t i = 0; i < p->n_want; i++)
        free(p->want[i]);
    free(p->want);
    free(p->bootstrap);
    free(p->registry_url);
    json_decref(p->unserved);
    free(p->group_id);
    free(p->txn_id);
    free(p->txn_id2);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->fl_lock);
    pthread_cond_destroy(&p->fl_cond);
    held_discard(p);
    free(p->held);
    canon_wbuf_free(&p->harena);
    if (p->rewound)
        rd_kafka_topic_partition_list_destroy(p->rewound);
    free(p);
}

/* ---- metrics ------------------------------------------------------------------------- */

void canon_pipeline_counts_get(canon_pipeline *p, const char *entity_name,
                               canon_pipeline_counts *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n_ents; i++) {
        entity *e = p->ents[i];
        if (strcmp(e->name, entity_name))
            continue;
        out->updates_in = get(&e->c.updates_in);
        out->published = get(&e->c.published);
        out->noops = get(&e->c.noops);
        out->rejected = get(&e->c.rejected);
        out->stale_fields = get(&e->c.stale_fields);
        out->records_out = get(&e->c.records_out);
        out->dlq_out = get(&e->c.dlq_out);
        out->restores = get(&e->c.restores);
        out->restored_records = get(&e->c.restored_records);
    }
    pthread_mutex_unlock(&p->lock);
    out->transactions = get(&p->txns);
    out->aborts = get(&p->aborts);
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

char *canon_pipeline_metrics(canon_pipeline *p, size_t *len)
{
    sbuf b = {0};
    static const struct {
        const char *name, *help;
        size_t off;
    } ctr[] = {
        {"canon_updates_in_total", "Updates consumed from canon.<entity>.updates.",
         offsetof(ent_counts, updates_in)},
        {"canon_updates_applied_total", "Updates that published a canon record.",
         offsetof(ent_counts, published)},
        {"canon_updates_noop_total", "Updates that changed nothing (published nothing).",
         offsetof(ent_counts, noops)},
        {"canon_stale_fields_total", "Provided fields older than the state's (ignored).",
         offsetof(ent_counts, stale_fields)},
        {"canon_records_out_total", "Records produced to canon.<entity>.",
         offsetof(ent_counts, records_out)},
        {"canon_dlq_out_total", "Records produced to canon.<entity>.dlq.",
         offsetof(ent_counts, dlq_out)},
        {"canon_restores_total", "Partition states rebuilt from the canon topic.",
         offsetof(ent_counts, restores)},
        {"canon_restored_records_total", "Canon records read by restores.",
         offsetof(ent_counts, restored_records)},
    };
    pthread_mutex_lock(&p->lock);
    for (size_t c = 0; c < sizeof(ctr) / sizeof(ctr[0]); c++) {
        sb_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", ctr[c].name, ctr[c].help, ctr[c].name);
        for (size_t i = 0; i < p->n_ents; i++)
            sb_printf(&b, "%s{entity=\"%s\"} %llu\n", ctr[c].name, p->ents[i]->name,
                      (unsigned long long)get(
                          (const uint64_t *)((const char *)&p->ents[i]->c + ctr[c].off)));
    }
    sb_printf(&b, "# HELP canon_updates_rejected_total Updates sent to the DLQ, by reason.\n"
                  "# TYPE canon_updates_rejected_total counter\n");
    for (size_t i = 0; i < p->n_ents; i++)
        for (int r = 1; r < N_REASONS; r++)
            sb_printf(&b, "canon_updates_rejected_total{entity=\"%s\",reason=\"%s\"} %llu\n",
                      p->ents[i]->name, canon_reason_name((canon_reason)r),
                      (unsigned long long)get(&p->ents[i]->c.by_reason[r]));
    sb_printf(&b, "# HELP canon_consumer_lag Updates not yet consumed (to the last stable "
                  "offset), per assigned partition; refreshed at most once a second.\n"
                  "# TYPE canon_consumer_lag gauge\n");
    for (size_t i = 0; i < p->n_ents; i++)
        for (int32_t k = 0; k < p->ents[i]->n_parts; k++) {
            int64_t v = __atomic_load_n(&p->ents[i]->lag[k], __ATOMIC_RELAXED);
            if (v >= 0)
                sb_printf(&b, "canon_consumer_lag{entity=\"%s\",partition=\"%d\"} %lld\n",
                          p->ents[i]->name, (int)k, (long long)v);
        }
    pthread_mutex_unlock(&p->lock);
    sb_printf(&b,
              "# HELP canon_transactions_total Committed transactions.\n# TYPE "
              "canon_transactions_total counter\n"
              "canon_transactions_total %llu\n",
              (unsigned long long)get(&p->txns));
    sb_printf(
        &b,
        "# HELP canon_transaction_aborts_total Aborted transactions (rewound and restored).\n"
        "# TYPE canon_transaction_aborts_total counter\ncanon_transaction_aborts_total %llu\n",
        (unsigned long long)get(&p->aborts));
    sb_printf(&b, "# HELP canon_transaction_commit_seconds Time to commit a transaction.\n"
                  "# TYPE canon_transaction_commit_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < 7; i++) {
        cum += get(&p->txn_hist[i]);
        sb_printf(&b, "canon_transaction_commit_seconds_bucket{le=\"%g\"} %llu\n", txn_buckets_s[i],
                  (unsigned long long)cum);
    }
    cum += get(&p->txn_hist[7]);
    sb_printf(&b, "canon_transaction_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
              (unsigned long long)cum);
    sb_printf(
        &b,
        "canon_transaction_commit_seconds_sum %.6f\ncanon_transaction_commit_seconds_count %llu\n",
        (double)get(&p->txn_us_total) / 1e6, (unsigned long long)cum);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
