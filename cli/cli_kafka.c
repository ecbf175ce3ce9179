/* cli_kafka.c - the option parsing, client setup and messages the Kafka subcommands share.
 *
 * See cli_kafka.h. Kept apart from the commands so produce, tail, state and translate
 * accept the same options and word the same failures the same way; the .properties reader
 * (--kafka-config) is here once for every command that talks to Kafka, aggregate and serve
 * included. */
#define _GNU_SOURCE /* asprintf, explicit_bzero */
#include "cli_kafka.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/file.h"

rd_kafka_conf_t *cli_kafka_conf_new(void)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    return conf;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "canon %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

int cli_parse_number(const char *cmd, const char *opt, const char *text, long long min,
                     long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long n = text[0] >= '0' && text[0] <= '9' ? strtoll(text, &end, 10) : -1;
    /* Too large for the option, or for a long long: the bound is named even when the
     * option has none of its own, since ">= MIN" alone is what such a value meets. */
    int too_large = end && !*end && (errno == ERANGE || n > max);
    if (!end || *end || too_large || n < min) {
        if (max == LLONG_MAX && !too_large)
            return cli_usage_error(cmd, "%s wants a number >= %lld, got '%s'", opt, min, text);
        return cli_usage_error(cmd, "%s wants a number >= %lld and <= %lld, got '%s'", opt, min,
                               max, text);
    }
    *out = n;
    return 0;
}

/* 1, after printing "A needs a value", when a is one of opts (NULL-terminated) and val is
 * NULL; else 0. */
static int missing_value(const char *cmd, const char *a, const char *val, const char *const *opts)
{
    if (val)
        return 0;
    for (size_t i = 0; opts[i]; i++)
        if (!strcmp(a, opts[i])) {
            fprintf(stderr, "canon %s: %s needs a value\n", cmd, a);
            return 1;
        }
    return 0;
}

/* ---- --kafka-config: Java .properties ---- */

/* Appends the UTF-8 encoding of code point c at *o. */
static void put_utf8(char **o, unsigned c)
{
    char *p = *o;
    if (c < 0x80) {
        *p++ = (char)c;
    } else if (c < 0x800) {
        *p++ = (char)(0xC0 | c >> 6);
        *p++ = (char)(0x80 | (c & 63));
    } else {
        *p++ = (char)(0xE0 | c >> 12);
        *p++ = (char)(0x80 | (c >> 6 & 63));
        *p++ = (char)(0x80 | (c & 63));
    }
    *o = p;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

/* Unescapes one Java .properties element from *pp into *o, stopping (for a key) at an
 * unescaped separator ('=', ':' or blank) or (for a value) at the end of the line. */
static void prop_element(const char **pp, char **o, int is_key)
{
    const char *p = *pp;
    while (*p) {
        if (is_key && (*p == '=' || *p == ':' || is_blank(*p)))
            break;
        if (*p != '\\') {
            *(*o)++ = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case 't':
            *(*o)++ = '\t';
            p++;
            break;
        case 'n':
            *(*o)++ = '\n';
            p++;
            break;
        case 'r':
            *(*o)++ = '\r';
            p++;
            break;
        case 'f':
            *(*o)++ = '\f';
            p++;
            break;
        case 'u': {
            unsigned c = 0;
            int k = 1;
            for (; k <= 4; k++) {
                char h = p[k];
                int v = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (v < 0)
                    break;
                c = c * 16 + (unsigned)v;
            }
            if (k == 5) {
                put_utf8(o, c);
                p += 5;
            } else {
                *(*o)++ = 'u';
                p++;
            }
            break;
        }
        case '\0':
            break;
        default:
            *(*o)++ = *p++;
            break;
        }
    }
    **o = '\0';
    *pp = p;
}

int cli_kafka_props_read(const char *cmd, const char *path,
                         int (*set)(void *opaque, const char *key, const char *value, int line),
                         void *opaque)
{
    char *text = NULL, *logical = NULL, *key = NULL, *val = NULL;
    size_t len = 0;
    int rc = -1;
    cg_err *err = cg_read_file(path, 1024 * 1024, &text, &len);
    if (err) {
        fprintf(stderr, "canon %s: --kafka-config: %s\n", cmd, cg_err_msg(err));
        cg_err_free(err);
        return -1;
    }
    /* Every output is no longer than the file, so buffers of its size suffice. */
    logical = malloc(len + 1);
    key = malloc(len + 4);
    val = malloc(len + 4);
    if (!logical || !key || !val) {
        fprintf(stderr, "canon %s: out of memory\n", cmd);
        goto done;
    }
    int lineno = 0;
    const char *p = text;
    while (*p) {
        /* Join a logical line: a physical line ending in an odd number of backslashes
         * continues, the next one's leading blanks dropped. */
        size_t n = 0;
        int first = ++lineno;
        for (;;) {
            const char *eol = p + strcspn(p, "\r\n");
            const char *b = eol;
            while (b > p && b[-1] == '\\')
                b--;
            size_t bs = (size_t)(eol - b);
            size_t take = (size_t)(eol - p) - (bs % 2);
            memcpy(logical + n, p, take);
            n += take;
            p = eol;
            if (*p == '\r' && p[1] == '\n')
                p++;
            if (*p)
                p++;
            if (!(bs % 2) || !*p)
                break;
            lineno++;
            while (is_blank(*p))
                p++;
        }
        logical[n] = '\0';
        const char *q = logical;
        while (is_blank(*q))
            q++;
        if (!*q || *q == '#' || *q == '!')
            continue;
        char *o = key;
        prop_element(&q, &o, 1);
        while (is_blank(*q))
            q++;
        if (*q == '=' || *q == ':')
            q++;
        while (is_blank(*q))
            q++;
        o = val;
        prop_element(&q, &o, 0);
        if (!*key) {
            fprintf(stderr, "canon %s: --kafka-config %s line %d: no key before the value\n", cmd,
                    path, first);
            goto done;
        }
        if (set(opaque, key, val, first))
            goto done;
    }
    rc = 0;
done:
    /* The file may hold passwords: do not leave them in freed memory. */
    if (text)
        explicit_bzero(text, len);
    if (logical)
        explicit_bzero(logical, len + 1);
    if (val)
        explicit_bzero(val, len + 4);
    free(text);
    free(logical);
    free(key);
    free(val);
    return rc;
}

struct conf_ctx {
    const char *cmd, *path;
    rd_kafka_conf_t *conf;
};

static int set_conf(void *opaque, const char *key, const char *value, int line)
{
    struct conf_ctx *c = opaque;
    char errstr[512];
    if (rd_kafka_conf_set(c->conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    fprintf(stderr, "canon %s: --kafka-config %s line %d: %s: %s\n", c->cmd, c->path, line, key,
            errstr);
    return -1;
}

struct props_ctx {
    const char *cmd, *path;
    cli_props *out;
    size_t cap;
    rd_kafka_conf_t *check; /* scratch: a bad key is reported here, by file and line, and
                               never later with its value (which may be a password) */
};

static int add_prop(void *opaque, const char *key, const char *value, int line)
{
    struct props_ctx *c = opaque;
    cli_props *p = c->out;
    char errstr[512];
    if (rd_kafka_conf_set(c->check, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "canon %s: --kafka-config %s line %d: %s: %s\n", c->cmd, c->path, line, key,
                errstr);
        return -1;
    }
    if (p->n_owned == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        char **v = realloc(p->owned, cap * sizeof(*v));
        if (!v)
            goto oom;
        p->owned = v;
        c->cap = cap;
    }
    if (asprintf(&p->owned[p->n_owned], "%s=%s", key, value) < 0)
        goto oom;
    p->n_owned++;
    return 0;
oom:
    fprintf(stderr, "canon %s: out of memory\n", c->cmd);
    return -1;
}

int cli_props_merge(const char *cmd, const char *path, const char *const *xs, size_t n,
                    cli_props *out)
{
    struct props_ctx c = {cmd, path, out, 0, NULL};
    memset(out, 0, sizeof(*out));
    if (path) {
        c.check = rd_kafka_conf_new();
        int rc = cli_kafka_props_read(cmd, path, add_prop, &c);
        rd_kafka_conf_destroy(c.check);
        if (rc)
            goto fail;
    }
    out->v = calloc(out->n_owned + n + 1, sizeof(*out->v));
    if (!out->v) {
        fprintf(stderr, "canon %s: out of memory\n", cmd);
        goto fail;
    }
    for (size_t i = 0; i < out->n_owned; i++)
        out->v[out->n++] = out->owned[i];
    for (size_t i = 0; i < n; i++)
        out->v[out->n++] = xs[i];
    return 0;
fail:
    cli_props_free(out);
    return -1;
}

void cli_props_free(cli_props *p)
{
    for (size_t i = 0; i < p->n_owned; i++) {
        explicit_bzero(p->owned[i], strlen(p->owned[i]));
        free(p->owned[i]);
    }
    free(p->owned);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

/* cli_kafka_option but for -h: CLI_OPT_EXIT means a usage error (printed). */
static cli_opt take_option(const char *cmd, int argc, char **argv, int *i,
                           const char *const *value_opts, cli_kafka *k)
{
    static const char *const opts[] = {"--bootstrap-servers", "--registry", "-X", "--kafka-config",
                                       NULL};
    const char *a = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    int shared =
        !strcmp(a, opts[0]) || !strcmp(a, opts[1]) || !strcmp(a, opts[2]) || !strcmp(a, opts[3]);
    if (missing_value(cmd, a, val, shared ? opts : value_opts))
        return CLI_OPT_EXIT;
    if (!shared)
        return CLI_OPT_OWN;
    ++*i;
    if (!strcmp(a, "--bootstrap-servers")) {
        k->bootstrap = argv[*i];
        return CLI_OPT_TAKEN;
    }
    if (!strcmp(a, "--registry")) {
        k->registry_url = argv[*i];
        return CLI_OPT_TAKEN;
    }
    char errstr[512];
    if (!strcmp(a, "--kafka-config")) {
        struct conf_ctx c = {cmd, argv[*i], k->conf};
        if (cli_kafka_props_read(cmd, argv[*i], set_conf, &c))
            return CLI_OPT_EXIT;
        /* -X given before the file still wins over it */
        for (size_t j = 0; j < k->n_x; j++) {
            const char *key = k->x_seen[j];
            rd_kafka_conf_set(k->conf, key, key + strlen(key) + 1, errstr, sizeof(errstr));
        }
        return CLI_OPT_TAKEN;
    }
    char *kv = argv[*i], *eq = strchr(kv, '=');
    if (!eq) {
        fprintf(stderr, "canon %s: -X wants KEY=VALUE, got '%s'\n", cmd, kv);
        return CLI_OPT_EXIT;
    }
    *eq = '\0';
    if (rd_kafka_conf_set(k->conf, kv, eq + 1, errstr, sizeof(errstr))) {
        fprintf(stderr, "canon %s: -X %s: %s\n", cmd, kv, errstr);
        return CLI_OPT_EXIT;
    }
    char **seen = realloc(k->x_seen, (k->n_x + 1) * sizeof(*seen));
    if (!seen) {
        fprintf(stderr, "canon %s: out of memory\n", cmd);
        return CLI_OPT_EXIT;
    }
    k->x_seen = seen;
    k->x_seen[k->n_x++] = kv;
    return CLI_OPT_TAKEN;
}

cli_opt cli_kafka_option(const char *cmd, int argc, char **argv, int *i,
                         const char *const *value_opts, void (*usage)(FILE *out), cli_kafka *k,
                         int *rc)
{
    if (!strcmp(argv[*i], "-h") || !strcmp(argv[*i], "--help")) {
        usage(stdout);
        *rc = 0;
        return CLI_OPT_EXIT;
    }
    cli_opt o = take_option(cmd, argc, argv, i, value_opts, k);
    if (o == CLI_OPT_EXIT)
        *rc = 2;
    return o;
}

int cli_registry_open(const char *cmd, cli_kafka *k)
{
    cg_err *err = canon_registry_new(k->registry_url, 0, &k->reg);
    if (!err)
        return 0;
    fprintf(stderr, "canon %s: %s\n", cmd, cg_err_msg(err));
    /* CG_EINVAL: the URL (or a CANON_REGISTRY_* setting) is malformed, which no retry
     * fixes: the caller's input is wrong, a usage error like a bad number. */
    int rc = cg_err_code(err) == CG_EINVAL ? 2 : 1;
    cg_err_free(err);
    return rc;
}

int cli_kafka_consumer_conf(const char *cmd, cli_kafka *k, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = k->conf;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", k->bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr))) {
        fprintf(stderr, "canon %s: %s\n", cmd, errstr);
        return -1;
    }
    return 0;
}

void cli_kafka_new(const char *cmd, rd_kafka_type_t type, cli_kafka *k)
{
    char errstr[512];
    k->rk = rd_kafka_new(type, k->conf, errstr, sizeof(errstr));
    if (!k->rk) {
        fprintf(stderr, "canon %s: %s\n", cmd, errstr);
        return;
    }
    k->conf = NULL;
}

int cli_kafka_topic_metadata(const char *cmd, cli_kafka *k, const char *topic, const char *hint,
                             int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    /* the command's --timeout-ms bounds an unreachable broker too, within the usual 10 s */
    if (timeout_ms < 0 || timeout_ms > 10000)
        timeout_ms = 10000;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, rkt, &k->md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        fprintf(stderr, "canon %s: Kafka at %s: cannot read metadata of %s: %s\n", cmd,
                k->bootstrap, topic, rd_kafka_err2str(e));
        return -1;
    }
    const struct rd_kafka_metadata *m = k->md;
    if (m->topic_cnt != 1 || m->topics[0].err || m->topics[0].partition_cnt <= 0) {
        fprintf(stderr, "canon %s: topic %s: %s%s\n", cmd, topic,
                m->topic_cnt && m->topics[0].err ? rd_kafka_err2str(m->topics[0].err)
                                                 : "no partitions",
                hint);
        return -1;
    }
    return 0;
}

int cli_kafka_fatal(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED;
}

long long cli_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void cli_kafka_release(cli_kafka *k)
{
    if (k->parts)
        rd_kafka_topic_partition_list_destroy(k->parts);
    if (k->md)
        rd_kafka_metadata_destroy(k->md);
    if (k->rk) {
        if (rd_kafka_type(k->rk) == RD_KAFKA_CONSUMER)
            rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    if (k->conf)
        rd_kafka_conf_destroy(k->conf);
    canon_registry_free(k->reg);
    free(k->x_seen);
}
