/* bench_canon_merge.c - the merge engine's own speed and memory, without Kafka.
 *
 * Issue 5 asks the aggregator for at least half the physical ceiling of a transactional
 * copy (about 900,000 records/s here) and under 600 MB resident for 1,000,000 person keys
 * with provenance. This measures the part the merge engine contributes, on one core:
 *
 *  1. throughput: N person updates (Confluent-framed, as a domain writes them) over K
 *     keys, each decoded, merged and (when it changes something) encoded as an envelope;
 *     a realistic mix: 2 to 4 fields per update from three sources, 10% of them late
 *     (older than what the state holds), 2% DELETEs;
 *  2. memory: M keys (1,000,000 by default) with every person field set by three
 *     sources (hr, crm, support), then state bytes per key (the store's own count) and
 *     the growth of the process's resident set while filling it.
 *
 * Usage: bench_canon_merge [updates=1000000] [keys=100000] [memory_keys=1000000]
 *
 * With CANON_BENCH_DIGEST=1 in the environment, each part also prints a SHA-256 of
 * everything the engine produced (verdicts, reasons, envelopes; after the restore, every
 * restored key's record). The workload is seeded, so a change meant to make the engine
 * faster without changing its output must leave these digests as they were. (Hashing
 * costs time, so figures printed with it on are not the engine's speed.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "canon/merge.h"
#include "registry/canon_derive.h"

#define UPD_ID 1
#define ENV_ID 2

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: the machine may be shared, and "one core" is what we measure. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void digest_result(gnutls_hash_hd_t h, const canon_result *r)
{
    uint8_t v[2] = {(uint8_t)r->verdict, (uint8_t)r->reason};
    gnutls_hash(h, v, sizeof(v));
    if (r->verdict == CANON_PUBLISH)
        gnutls_hash(h, r->envelope.p, r->envelope.len);
}

static void digest_print(const char *what, gnutls_hash_hd_t h)
{
    uint8_t d[32];
    gnutls_hash_deinit(h, d);
    printf("  %s sha256: ", what);
    for (int i = 0; i < 32; i++)
        printf("%02x", d[i]);
    printf("\n");
}

static void str(canon_wbuf *b, const char *s)
{
    canon_wbuf_str(b, s, strlen(s));
}

/* values fields of person.avsc, in order */
enum { GIVEN, FAMILY, EMAIL, PHONE, BIRTH, STATUS, ADDRESS, TAGS, TIER, NV };
static const char *const vname[NV] = {"given_name", "family_name", "email",
                                      "phone",      "birth_date",  "employment_status",
                                      "address",    "tags",        "support_tier"};

/* Encodes one update that sets the fields in mask (bit i = values field i). */
static void encode(canon_wbuf *b, const char *key, const char *source, int64_t t, int64_t seq,
                   int del, unsigned mask, uint32_t salt)
{
    static const char *const names[] = {"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"};
    static const char *const fam[] = {"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov"};
    char tmp[64];
    b->len = 0;
    uint8_t hdr[5] = {0, 0, 0, 0, UPD_ID};
    canon_wbuf_put(b, hdr, 5);
    str(b, key);
    str(b, source);
    canon_wbuf_long(b, t);
    canon_wbuf_long(b, seq);
    canon_wbuf_long(b, del);
    int n = 0;
    for (int i = 0; i < NV; i++)
        n += !del && (mask >> i & 1);
    if (n) {
        canon_wbuf_long(b, n);
        for (int i = 0; i < NV; i++) {
            if (mask >> i & 1)
                str(b, vname[i]);
        }
    }
    canon_wbuf_byte(b, 0);
    for (int i = 0; i < NV; i++) {
        if (del || !(mask >> i & 1)) {
            canon_wbuf_byte(b, 0);
            continue;
        }
        canon_wbuf_byte(b, 2);
        switch (i) {
        case GIVEN:
            str(b, names[salt % 6]);
            break;
        case FAMILY:
            str(b, fam[salt % 5]);
            break;
        case EMAIL:
            snprintf(tmp, sizeof(tmp), "%s.%u@example.org", names[salt % 6], salt % 10000);
            str(b, tmp);
            break;
        case PHONE:
            snprintf(tmp, sizeof(tmp), "+44 20 7946 %04u", salt % 10000);
            str(b, tmp);
            break;
        case BIRTH:
            canon_wbuf_long(b, 3000 + salt % 20000);
            break;
        case STATUS:
            canon_wbuf_long(b, salt % 4);
            break;
        case ADDRESS:
            canon_wbuf_byte(b, 2);
            snprintf(tmp, sizeof(tmp), "%u Canongate", salt % 300);
            str(b, tmp);
            canon_wbuf_byte(b, 2);
            str(b, "Edinburgh");
            canon_wbuf_byte(b, 2);
            str(b, "EH8 8DD");
            canon_wbuf_byte(b, 2);
            str(b, "GB");
            break;
        case TAGS:
            canon_wbuf_long(b, 2);
            str(b, "customer");
            str(b, salt % 2 ? "vip" : "newsletter");
            canon_wbuf_byte(b, 0);
            break;
        case TIER:
            str(b, salt % 3 ? "gold" : "silver");
            break;
        }
    }
}

static const char *const sources[] = {"hr", "crm", "support"};
/* fields each source may write (canon.writers of person.avsc; email, address, tags: any) */
static const unsigned may[3] = {
    1u << GIVEN | 1u << FAMILY | 1u << EMAIL | 1u << BIRTH | 1u << STATUS | 1u << ADDRESS,
    1u << GIVEN | 1u << FAMILY | 1u << EMAIL | 1u << PHONE | 1u << ADDRESS | 1u << TAGS,
    1u << EMAIL | 1u << PHONE | 1u << TIER | 1u << TAGS};

int main(int argc, char **argv)
{
    long n_upd = argc > 1 ? atol(argv[1]) : 1000000;
    long n_keys = argc > 2 ? atol(argv[2]) : 100000;
    long n_mem = argc > 3 ? atol(argv[3]) : 1000000;
    cg_err *err = NULL;
    char path[1024];
    snprintf(path, sizeof(path), "%s/person.avsc", CANON_SCHEMAS_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    char text[8192];
    size_t tl = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[tl] = '\0';
    reg_schema *canonical = NULL, *upd = NULL;
    char *upd_text = NULL;
    canon_engine *e = NULL;
    if ((err = reg_schema_parse(text, tl, NULL, 0, &canonical)) ||
        (err = reg_canon_derive_update(canonical, &upd_text)) ||
        (err = reg_schema_parse(upd_text, strlen(upd_text), NULL, 0, &upd)) ||
        (err = canon_engine_new(canonical, ENV_ID, &e)) ||
        (err = canon_engine_add_update_schema(e, UPD_ID, upd))) {
        fprintf(stderr, "setup: %s\n", cg_err_msg(err));
        return 1;
    }

    /* ---- 1. throughput -------------------------------------------------------------- */
    printf("canon_merge bench: person.avsc, one core\n");
    printf("generating %ld updates over %ld keys...\n", n_upd, n_keys);
    canon_wbuf all = {0}, one = {0};
    size_t *off = malloc(((size_t)n_upd + 1) * sizeof(size_t));
    char(*keys)[48] = malloc((size_t)n_keys * 48);
    int64_t *clock_of = calloc((size_t)n_keys, sizeof(int64_t));
    uint32_t *key_of = malloc((size_t)n_upd * sizeof(uint32_t));
    if (!off || !keys || !clock_of || !key_of)
        return 1;
    for (long k = 0; k < n_keys; k++)
        snprintf(keys[k], 48, "%08lx-0000-4000-8000-%012lx", k * 2654435761ul % 0xffffffff, k);
    for (long i = 0; i < n_upd; i++) {
        uint32_t k = rnd((uint32_t)n_keys);
        int s = (int)rnd(3);
        unsigned mask = 0;
        int want = 2 + (int)rnd(3);
        for (int tries = 0; tries < 40 && __builtin_popcount(mask) < want; tries++) {
            unsigned bit = 1u << rnd(NV);
            if (may[s] & bit)
                mask |= bit;
        }
        int64_t t = 1700000000000LL + clock_of[k] * 1000 + rnd(500);
        clock_of[k]++;
        if (rnd(10) == 0)
            t -= 5000; /* late */
        int del = rnd(50) == 0;
        off[i] = all.len;
        key_of[i] = k;
        encode(&one, keys[k], sources[s], t, i, del, mask, rnd(1u << 30));
        canon_wbuf_put(&all, one.p, one.len);
    }
    off[n_upd] = all.len;
    if (!canon_wbuf_ok(&all))
        return 1;

    canon_state *st = NULL;
    canon_result r;
    canon_result_init(&r);
    if ((err = canon_state_new(canon_engine_n_fields(e), &st))) {
        fprintf(stderr, "%s\n", cg_err_msg(err));
        return 1;
    }
    long pub = 0, noop = 0, rej = 0;
    size_t env_bytes = 0;
    const char *dg = getenv("CANON_BENCH_DIGEST");
    int dig = dg && *dg && strcmp(dg, "0");
    gnutls_hash_hd_t hd = NULL;
    if (dig && gnutls_hash_init(&hd, GNUTLS_DIG_SHA256) < 0)
        return 1;
    double t0 = now(), c0 = cpu();
    /* As the pipeline does (next_message() in canon/pipeline.c): the state of the update
     * pf ahead is prefetched, its slot 2 pf ahead. CANON_BENCH_PREFETCH=0 turns it off. */
    const char *pfd = getenv("CANON_BENCH_PREFETCH");
    long pf = pfd ? atol(pfd) : 4;
    if (pf < 0 || pf > 30)
        pf = 4;
    uint32_t hs[64] = {0}; /* hashes of the next 2 pf keys, by index modulo 64 */
    for (long i = 0; i < n_upd; i++) {
        if (pf) {
            if (i + 2 * pf < n_upd)
                hs[(i + 2 * pf) % 64] = canon_state_prefetch_slot(st, keys[key_of[i + 2 * pf]], 36);
            if (i + pf < n_upd)
                canon_state_prefetch_blob(st, hs[(i + pf) % 64]);
        }
        canon_msg m = {.topic = "canon.person.updates",
                       .partition = 0,
                       .offset = i,
                       .key = keys[key_of[i]],
                       .key_len = 36,
                       .value = all.p + off[i],
                       .value_len = off[i + 1] - off[i]};
        if ((err = canon_merge(e, st, &m, &r))) {
            fprintf(stderr, "%s\n", cg_err_msg(err));
            return 1;
        }
        if (dig)
            digest_result(hd, &r);
        if (r.verdict == CANON_PUBLISH) {
            pub++;
            env_bytes += r.envelope.len;
        } else if (r.verdict == CANON_NOOP) {
            noop++;
        } else {
            if (rej == 0)
                fprintf(stderr, "first rejection: %s: %s\n", canon_reason_name(r.reason),
                        r.message);
            rej++;
        }
    }
    double dt = now() - t0, dc = cpu() - c0;
    printf("throughput: %ld updates, %.3f s of CPU = %.0f updates/s per core "
           "(decode+merge+encode; wall %.3f s = %.0f/s; state prefetched %ld ahead)\n",
           n_upd, dc, (double)n_upd / dc, dt, (double)n_upd / dt, pf);
    printf("  published %ld (avg envelope %.0f bytes), no-op %ld, rejected %ld; input avg %.0f "
           "bytes\n",
           pub, pub ? (double)env_bytes / (double)pub : 0.0, noop, rej,
           (double)all.len / (double)n_upd);
    printf("  state: %zu keys, %.0f bytes/key\n", canon_state_count(st),
           (double)canon_state_bytes(st) / (double)canon_state_count(st));
    if (dig)
        digest_print("verdicts and envelopes", hd);
    canon_state_free(st);
    canon_wbuf_free(&all);
    free(off);
    free(keys);
    free(clock_of);
    free(key_of);

    /* ---- 2. memory -------------------------------------------------------------------- */
    long rss0 = rss_kb();
    if ((err = canon_state_new(canon_engine_n_fields(e), &st))) {
        fprintf(stderr, "%s\n", cg_err_msg(err));
        return 1;
    }
    /* the last envelope of the first keys, for the restore figure */
    long n_restore = n_mem < 200000 ? n_mem : 200000;
    canon_wbuf envs = {0};
    size_t *env_off = malloc(((size_t)n_restore + 1) * sizeof(size_t));
    if (!env_off)
        return 1;
    static const unsigned all_of[3] = {1u << GIVEN | 1u << FAMILY | 1u << BIRTH | 1u << STATUS |
                                           1u << ADDRESS,
                                       1u << PHONE | 1u << EMAIL | 1u << TAGS, 1u << TIER};
    if (dig && gnutls_hash_init(&hd, GNUTLS_DIG_SHA256) < 0)
        return 1;
    c0 = cpu();
    for (long k = 0; k < n_mem; k++) {
        char key[48];
        snprintf(key, sizeof(key), "%08lx-0000-4000-8000-%012lx", k * 2654435761ul % 0xffffffff, k);
        for (int s = 0; s < 3; s++) {
            encode(&one, key, sources[s], 1700000000000LL + k + s * 1000, k, 0, all_of[s],
                   (uint32_t)k * 7 + (uint32_t)s);
            canon_msg m = {.topic = "canon.person.updates",
                           .offset = k,
                           .key = key,
                           .key_len = 36,
                           .value = one.p,
                           .value_len = one.len};
            if ((err = canon_merge(e, st, &m, &r)) || r.verdict != CANON_PUBLISH) {
                fprintf(stderr, "fill: %s\n", err ? cg_err_msg(err) : r.message);
                return 1;
            }
            if (dig)
                digest_result(hd, &r);
        }
        if (k < n_restore) {
            env_off[k] = envs.len;
            canon_wbuf_put(&envs, r.envelope.p, r.envelope.len);
        }
    }
    env_off[n_restore] = envs.len;
    dc = cpu() - c0;
    /* the saved envelopes are not state */
    long rss1 = rss_kb() - (long)(envs.len / 1024);
    size_t keys_n = canon_state_count(st);
    printf("memory: %zu keys, every field set by 3 sources (%.0f merges/s while filling)\n", keys_n,
           3.0 * (double)keys_n / dc);
    printf("  state bytes (store's count): %.1f MB = %.0f bytes/key (blobs %.0f bytes/key)\n",
           (double)canon_state_bytes(st) / 1e6, (double)canon_state_bytes(st) / (double)keys_n,
           (double)canon_state_blob_bytes(st) / (double)keys_n);
    printf("  resident set growth: %.1f MB = %.0f bytes/key (process RSS now %.1f MB)\n",
           (double)(rss1 - rss0) / 1024.0, (double)(rss1 - rss0) * 1024.0 / (double)keys_n,
           (double)rss1 / 1024.0);
    printf("  last envelope: %zu bytes\n", r.envelope.len);
    if (dig)
        digest_print("fill envelopes", hd);

    canon_state_free(st);

    /* ---- 3. restore ------------------------------------------------------------------ */
    if ((err = canon_state_new(canon_engine_n_fields(e), &st))) {
        fprintf(stderr, "%s\n", cg_err_msg(err));
        return 1;
    }
    c0 = cpu();
    for (long k = 0; k < n_restore; k++) {
        if ((err = canon_restore(e, st, NULL, 0, envs.p + env_off[k], env_off[k + 1] - env_off[k],
                                 &r))) {
            fprintf(stderr, "restore: %s\n", cg_err_msg(err));
            return 1;
        }
    }
    dc = cpu() - c0;
    printf("restore: %ld envelopes (avg %.0f bytes) in %.3f s of CPU = %.0f records/s "
           "(1,000,000 keys: %.1f s)\n",
           n_restore, n_restore ? (double)envs.len / (double)n_restore : 0.0, dc,
           (double)n_restore / dc, 1e6 * dc / (double)(n_restore ? n_restore : 1));
    if (dig) {
        /* what was restored: each key's record, and the envelope of one more no-op-free
         * update on it (provenance, deleted, version come back through it) */
        canon_wbuf rec = {0};
        if (gnutls_hash_init(&hd, GNUTLS_DIG_SHA256) < 0)
            return 1;
        for (long k = 0; k < n_restore; k++) {
            char key[48];
            snprintf(key, sizeof(key), "%08lx-0000-4000-8000-%012lx", k * 2654435761ul % 0xffffffff,
                     k);
            rec.len = 0;
            int alive = canon_entity_record(e, st, key, 36, &r, &rec);
            gnutls_hash(hd, &alive, sizeof(alive));
            gnutls_hash(hd, rec.p, rec.len);
            encode(&one, key, sources[0], 1800000000000LL, k, 0, 1u << GIVEN, (uint32_t)k);
            canon_msg m = {.topic = "canon.person.updates",
                           .offset = k,
                           .key = key,
                           .key_len = 36,
                           .value = one.p,
                           .value_len = one.len};
            if ((err = canon_merge(e, st, &m, &r))) {
                fprintf(stderr, "after restore: %s\n", cg_err_msg(err));
                return 1;
            }
            digest_result(hd, &r);
        }
        digest_print("restored records", hd);
        canon_wbuf_free(&rec);
    }
    canon_state_free(st);
    canon_wbuf_free(&envs);
    free(env_off);
    canon_result_clear(&r);
    canon_wbuf_free(&one);
    canon_engine_free(e);
    reg_schema_free(upd);
    reg_schema_free(canonical);
    free(upd_text);
    return 0;
}
