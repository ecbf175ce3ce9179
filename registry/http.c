/* http.c - the registry's HTTP server on libmicrohttpd (see http.h).
 *
 * Request path: libmicrohttpd calls handle() once with the headers, then with each
 * chunk of the body, then once more when the body is complete; we accumulate the body
 * (up to max_body, answering 413 past it), route on the raw URL (we install a no-op
 * unescape callback so %2F in a subject is not turned into a path separator before we
 * split), negotiate the content type as Confluent does, run the route and queue the
 * answer. GET /schemas/ids/{id} sends the registry's pre-rendered bytes without a copy
 * (they live as long as the registry, which outlives the daemon); other reads hand one
 * malloc'd copy to libmicrohttpd.
 *
 * Access log: lines are appended to a buffer under a mutex and written to stderr by a
 * flusher thread every 100 ms (or by the appender when the buffer is full), so serving
 * never waits on a write per request. What the client chose (method, path; in the auth
 * lines also the user name and the subject) is logged escaped, so it cannot forge lines.
 *
 * Access control (cfg.auth_file, auth.h): once the route is known and the method allowed,
 * the request is authenticated (401) and authorized (403, routes.c) before anything else;
 * /health and / stay open. The loaded file is reference counted: each request holds the
 * configuration it started with, so reg_server_reload_auth() swaps a new one in while
 * serving and the old one is freed by its last user.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/file.h"
#include "../common/pct.h"
#include "http_internal.h"

#define LOG_BUF_SIZE (64 * 1024)
#define MAX_SEGMENTS 16

/* ---- access log ---- */

typedef struct access_log {
    pthread_mutex_t mu; /* guards buf, len, stop, time cache */
    pthread_cond_t cv;
    char *buf;
    size_t len;
    int stop;
    pthread_t thread;
    int started;
    time_t cached_sec;
    char cached_time[40];
} access_log;

static void log_write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void *log_flusher(void *arg)
{
    access_log *l = arg;
    char *out = malloc(LOG_BUF_SIZE);
    if (!out)
        return NULL;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!l->stop)
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        size_t n = l->len;
        if (n) {
            memcpy(out, l->buf, n);
            l->len = 0;
        }
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (n)
            log_write_all(out, n);
        pthread_mutex_lock(&l->mu);
        if (stop && !l->len)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    free(out);
    return NULL;
}

static int log_start(access_log *l)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->buf = malloc(LOG_BUF_SIZE);
    if (!l->buf)
        return -1;
    if (pthread_create(&l->thread, NULL, log_flusher, l))
        return -1;
    l->started = 1;
    return 0;
}

static void log_stop(access_log *l)
{
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        l->started = 0;
    }
    free(l->buf);
    l->buf = NULL;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

/* Tiny appenders: the access line is built without printf, whose formatting showed up
 * as a few percent of the hot path. Each stops at the end of the buffer. */
static char *put_str(char *p, char *end, const char *s, size_t max)
{
    while (*s && max-- && p < end)
        *p++ = *s++;
    return p;
}

/* put_str() for what a client chose (a path, a user name, a subject in a message): a
 * control byte, DEL, a byte of 0x80 or more and the backslash are written as \xNN, so a
 * log line stays one line of printable ASCII that reads back unambiguously ("\n" in a
 * user name would otherwise start a forged line; ESC would drive the terminal). Stops
 * before an escape that does not fit. */
static char *put_escaped(char *p, char *end, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s && max-- && p < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        if (end - p < 4)
            break;
        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 15];
    }
    return p;
}

static char *put_uint(char *p, char *end, unsigned long long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && p < end)
        *p++ = tmp[--n];
    return p;
}

static void log_append(access_log *l, const char *client, const char *method, const char *url,
                       int status, size_t bytes, double seconds)
{
    char line[1024];
    char *p = line, *end = line + sizeof(line) - 1;
    p = put_str(p, end, " ", 1);
    p = put_str(p, end, client, 64);
    p = put_str(p, end, " \"", 2);
    p = put_escaped(p, end, method, 16);
    p = put_str(p, end, " ", 1);
    p = put_escaped(p, end, url, 700);
    p = put_str(p, end, "\" ", 2);
    p = put_uint(p, end, (unsigned long long)(status > 0 ? status : 0));
    p = put_str(p, end, " ", 1);
    p = put_uint(p, end, bytes);
    p = put_str(p, end, " ", 1);
    p = put_uint(p, end, (unsigned long long)(seconds * 1e6));
    p = put_str(p, end, "us", 2);
    *p++ = '\n';
    size_t n = (size_t)(p - line);

    pthread_mutex_lock(&l->mu);
    time_t now = time(NULL);
    if (now != l->cached_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(l->cached_time, sizeof(l->cached_time), "%Y-%m-%dT%H:%M:%SZ", &tm);
        l->cached_sec = now;
    }
    size_t tn = strlen(l->cached_time);
    if (l->len + tn + n > LOG_BUF_SIZE) {
        /* Full: write it out here rather than drop lines. */
        log_write_all(l->buf, l->len);
        l->len = 0;
    }
    memcpy(l->buf + l->len, l->cached_time, tn);
    memcpy(l->buf + l->len + tn, line, n);
    l->len += tn + n;
    pthread_mutex_unlock(&l->mu);
}

/* ---- server ---- */

struct reg_server {
    reg_server_config cfg;
    char *host;
    char *db_path;
    reg_registry *reg;
    reg_metrics *metrics;
    struct MHD_Daemon *daemon;
    uint16_t port;
    access_log log;
    int log_on;
    _Atomic long in_flight; /* requests between first callback and completion */
    _Atomic int stopping;   /* set by reg_server_stop: refuse requests not yet begun */
    /* PEM texts read at _new (NULL: no TLS / no client CA); tls_key is wiped at _free */
    char *tls_cert, *tls_key, *tls_ca;
    /* Access control: auth_file NULL means off. auth_mu guards the pointer only; each
     * request takes a reference (reg_auth_ref) and drops it when answered, so a reload
     * swaps the pointer and the old configuration is freed by its last user. */
    char *auth_file;
    pthread_mutex_t auth_mu;
    reg_auth *auth;
    char *internal_key; /* stored form of reg_server_internal_key()'s key, or NULL */
};

typedef struct req_state {
    struct timespec t0;
    char *body;
    size_t len, cap;
    int too_large;
    size_t declared; /* Content-Length, 0 when absent */
} req_state;

static int tls_client_verified(struct MHD_Connection *conn);

static double elapsed(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static int truthy(const char *v)
{
    return v && (!strcasecmp(v, "true") || !strcmp(v, "1") || !*v);
}

struct query_ctx {
    reg_http_req *q;
    char **owned; /* decoded strings to free */
    size_t n_owned;
};

/* ?offset= / ?limit=: a decimal 32-bit integer, as JAX-RS parses an int parameter; an
 * empty value counts as absent. Anything else marks the request (404, as Confluent). */
static void paging_arg(reg_http_req *q, const char *v, long long *out)
{
    if (!v || !*v)
        return;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*end || errno || n < INT32_MIN || n > INT32_MAX || isspace((unsigned char)*v))
        q->bad_paging = 1;
    else
        *out = n;
}

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    struct query_ctx *qc = cls;
    (void)kind;
    if (qc->n_owned >= 2 * 16)
        return MHD_NO;
    char *k = cg_pct_decode(key, strlen(key), CG_PCT_PLUS_SPACE);
    char *v = value ? cg_pct_decode(value, strlen(value), CG_PCT_PLUS_SPACE) : NULL;
    if (!k) {
        free(v);
        return MHD_YES;
    }
    reg_opts *o = &qc->q->opts;
    int keep_v = 0;
    if (!strcmp(k, "deleted"))
        o->deleted = truthy(v);
    else if (!strcmp(k, "deletedOnly"))
        o->deleted_only = truthy(v);
    else if (!strcmp(k, "permanent"))
        o->permanent = truthy(v);
    else if (!strcmp(k, "normalize"))
        o->normalize = truthy(v);
    else if (!strcmp(k, "verbose"))
        o->verbose = truthy(v);
    else if (!strcmp(k, "defaultToGlobal"))
        o->default_to_global = truthy(v);
    else if (!strcmp(k, "fetchMaxId"))
        o->fetch_max_id = truthy(v);
    else if (!strcmp(k, "force"))
        o->force = truthy(v);
    else if (!strcmp(k, "latestOnly"))
        o->latest_only = truthy(v);
    else if (!strcmp(k, "offset"))
        paging_arg(qc->q, v, &qc->q->offset);
    else if (!strcmp(k, "limit"))
        paging_arg(qc->q, v, &qc->q->limit);
    else if (!strcmp(k, "subjectPrefix") && v) {
        o->subject_prefix = v;
        keep_v = 1;
    } else if (!strcmp(k, "subject") && v) {
        o->subject = v;
        keep_v = 1;
    } else if (!strcmp(k, "version") && v) {
        qc->q->version = v;
        keep_v = 1;
    } else if ((!strcmp(k, "key") || !strcmp(k, "value")) && v) {
        reg_http_req *q = qc->q;
        int is_key = k[0] == 'k';
        size_t *n = is_key ? &q->n_meta_key : &q->n_meta_value;
        if (*n < REG_MAX_META) {
            (is_key ? q->meta_key : q->meta_value)[(*n)++] = v;
            keep_v = 1;
        } else {
            q->meta_overflow = 1;
        }
    }
    free(k);
    if (keep_v)
        qc->owned[qc->n_owned++] = v;
    else
        free(v);
    return MHD_YES;
}

/* Content negotiation as Confluent's resources declare it: the server prefers
 * v1+json (qs 1.0), then vnd.schemaregistry+json (0.9), then application/json (0.5);
 * the client's q values multiply. NULL when nothing acceptable. */
static const char *negotiate(const char *accept)
{
    static const char *const types[] = {"application/vnd.schemaregistry.v1+json",
                                        "application/vnd.schemaregistry+json", "application/json"};
    static const double qs[] = {1.0, 0.9, 0.5};
    if (!accept || !*accept)
        return types[0];
    double best = 0;
    const char *chosen = NULL;
    const char *p = accept;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[256];
        if (n >= sizeof(item))
            n = sizeof(item) - 1;
        memcpy(item, p, n);
        item[n] = '\0';
        double q = 1.0;
        char *semi = strchr(item, ';');
        if (semi) {
            *semi = '\0';
            char *qp = strstr(semi + 1, "q=");
            if (qp)
                q = strtod(qp + 2, NULL);
        }
        char *t = item;
        while (*t == ' ' || *t == '\t')
            t++;
        size_t tl = strlen(t);
        while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
            t[--tl] = '\0';
        for (size_t i = 0; i < 3; i++) {
            int match =
                !strcasecmp(t, types[i]) || !strcmp(t, "*/*") || !strcasecmp(t, "application/*");
            if (match && q > 0 && q * qs[i] > best) {
                best = q * qs[i];
                chosen = types[i];
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return chosen;
}

static int content_type_ok(const char *ct)
{
    static const char *const ok[] = {"application/vnd.schemaregistry.v1+json",
                                     "application/vnd.schemaregistry+json", "application/json",
                                     "application/octet-stream"};
    if (!ct || !*ct)
        return 1;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strlen(ok[i]) == n && !strncasecmp(ct, ok[i], n))
            return 1;
    return 0;
}

static unsigned method_bit(const char *m)
{
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
        return RM_GET;
    if (!strcmp(m, "POST"))
        return RM_POST;
    if (!strcmp(m, "PUT"))
        return RM_PUT;
    if (!strcmp(m, "DELETE"))
        return RM_DELETE;
    return 0;
}

static enum MHD_Result respond(reg_server *srv, struct MHD_Connection *conn, req_state *st,
                               const char *method, const char *url, int route, reg_http_resp *resp,
                               const char *ctype)
{
    size_t len = resp->body.len;
    /* A borrowed body outlives the daemon (the registry is freed after it stops). */
    enum MHD_ResponseMemoryMode mode =
        (resp->body.data && !resp->borrowed) ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, resp->body.data ? resp->body.data : (void *)"", mode);
    if (!r) {
        if (!resp->borrowed)
            free(resp->body.data);
        free(resp->disposition);
        return MHD_NO;
    }
    resp->body.data = NULL;
    if (resp->kind == RB_TEXT)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; version=0.0.4; charset=utf-8");
    else if (resp->kind == RB_BINARY) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
        if (resp->disposition)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, resp->disposition);
        free(resp->disposition); /* libmicrohttpd copied it */
        resp->disposition = NULL;
    } else
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                ctype ? ctype : "application/vnd.schemaregistry.v1+json");
    if (resp->auth_challenge) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"canon\"");
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"canon\"");
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);

    double secs = elapsed(&st->t0);
    reg_metrics_observe(srv->metrics, (size_t)route, resp->status, secs);
    if (srv->log_on) {
        char client[INET6_ADDRSTRLEN] = "-";
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET) {
                /* By hand: glibc's inet_ntop formats IPv4 with sprintf. */
                const unsigned char *b =
                    (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)
                        ->sin_addr;
                char *p = client, *end = client + sizeof(client) - 1;
                for (int i = 0; i < 4; i++) {
                    if (i)
                        *p++ = '.';
                    p = put_uint(p, end, b[i]);
                }
                *p = '\0';
            } else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                          client, sizeof(client));
        }
        log_append(&srv->log, client, method, url, resp->status, len, secs);
    }
    return ret;
}

/* ---- access control (auth.h) ---- */

/* The current configuration, with a reference the caller drops (reg_auth_free). */
static reg_auth *auth_acquire(reg_server *srv)
{
    pthread_mutex_lock(&srv->auth_mu);
    reg_auth *a = reg_auth_ref(srv->auth);
    pthread_mutex_unlock(&srv->auth_mu);
    return a;
}

/* Security events go to stderr even with --quiet, one write() per line. The message
 * quotes what the client sent (path, user name, subject), escaped as in the access log. */
static void auth_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void auth_log(const char *fmt, ...)
{
    char msg[1024], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ auth: ", &tm);
    char *p = put_escaped(line + n, line + sizeof(line) - 1, msg, sizeof(msg));
    *p++ = '\n';
    log_write_all(line, (size_t)(p - line));
}

/* Logs a 403 a route answered, with the message of its error body. */
static void log_forbidden(const char *method, const char *url, const reg_body *b)
{
    json_t *doc = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "message"));
    auth_log("403 %s %s: %s", method, url, msg ? msg : "forbidden");
    json_decref(doc);
}

/* Authenticates and authorizes a matched request. Returns 0 to go on (*who set), or -1
 * with resp filled (401 or 403). /health and / stay open: liveness probes carry no
 * credentials and learn nothing from them. */
static int auth_check(reg_server *srv, struct MHD_Connection *conn, reg_auth *a, int route,
                      const reg_http_req *q, const char *url, reg_http_resp *resp,
                      const reg_auth_principal **who)
{
    *who = NULL;
    if (route == RT_HEALTH || route == RT_ROOT)
        return 0;
    char *user = NULL;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    reg_auth_result r = reg_auth_authenticate(a, h, who, &user);
    if (r != REG_AUTH_OK) {
        /* The log says which of user and password was wrong; the client is not told.
         * A request without credentials is logged too, as every other 401: a scan of the
         * port or a client that lost its settings is a security event like a bad key. */
        auth_log("401 %s %s: %s%s%s%s", q->method, url, reg_auth_result_name(r),
                 user ? " (user '" : "", user ? user : "", user ? "')" : "");
        free(user);
        reg_http_error(resp, REG_AUTH_E_UNAUTHORIZED, reg_auth_result_message(r));
        resp->auth_challenge = 1;
        return -1;
    }
    free(user);
    reg_route_ctx ctx = {srv->reg, srv->metrics, &srv->cfg.bindings, &srv->cfg, *who};
    cg_err *e = reg_route_authorize(&ctx, route, q);
    if (e) {
        auth_log("403 %s %s: %s", q->method, url, cg_err_msg(e));
        reg_http_error_from(resp, e);
        return -1;
    }
    return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    reg_server *srv = cls;
    req_state *st = *con_cls;
    (void)version;

    if (!st) {
        /* Shutting down: close the connection rather than start a request we may not
         * be able to finish (clients retry on a fresh connection). */
        if (atomic_load(&srv->stopping))
            return MHD_NO;
        /* Mutual TLS: libmicrohttpd only asks for a client certificate; refusing a
         * connection whose certificate is absent or not from the client CA is ours. */
        if (srv->tls_ca && !tls_client_verified(conn))
            return MHD_NO;
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &st->t0);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            unsigned long long v = strtoull(cl, NULL, 10);
            st->declared = (size_t)v;
            if (v > srv->cfg.max_body)
                st->too_large = 1;
        }
        atomic_fetch_add(&srv->in_flight, 1);
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large || st->len + n > srv->cfg.max_body) {
            st->too_large = 1;
            free(st->body);
            st->body = NULL;
            st->len = st->cap = 0;
            return MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            size_t nc = st->cap ? st->cap : 1024;
            while (nc < st->len + n + 1)
                nc *= 2;
            char *nb = realloc(st->body, nc);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            st->cap = nc;
        }
        memcpy(st->body + st->len, upload_data, n);
        st->len += n;
        st->body[st->len] = '\0';
        return MHD_YES;
    }

    /* Whole request read: route it. */
    reg_http_resp resp = {0};
    reg_http_req q = {0};
    char *seg[MAX_SEGMENTS];
    char *owned[32];
    char stackbuf[512];
    char *pathbuf = NULL;
    size_t nseg = 0;
    int route = RT_UNKNOWN;
    const char *ctype = NULL;
    reg_auth *auth = NULL;
    const reg_auth_principal *who = NULL;
    q.method = method;
    q.seg = seg;
    q.body = st->body;
    q.body_len = st->len;
    q.content_type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

    struct query_ctx qc = {&q, owned, 0};
    const char *qmark = strchr(url, '?'); /* defensive: MHD strips the query */
    char *path = qmark ? strndup(url, (size_t)(qmark - url)) : NULL;

    const char *raw = path ? path : url;
    size_t rawlen = strlen(raw);
    pathbuf = rawlen < sizeof(stackbuf) ? stackbuf : malloc(rawlen + 1);
    if (!pathbuf || reg_route_split_path(raw, pathbuf, seg, MAX_SEGMENTS, &nseg)) {
        reg_http_error(&resp, 404, "HTTP 404 Not Found");
        goto send;
    }
    q.nseg = nseg;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, on_arg, &qc);

    unsigned allowed;
    if (!reg_route_match(&q, &route, &allowed)) {
        reg_http_error(&resp, 404, "HTTP 404 Not Found");
        goto send;
    }
    if (!(allowed & method_bit(method))) {
        reg_http_error(&resp, 405, "HTTP 405 Method Not Allowed");
        goto send;
    }
    if (srv->auth_file) {
        auth = auth_acquire(srv);
        if (auth_check(srv, conn, auth, route, &q, path ? path : url, &resp, &who))
            goto send;
    }
    if (st->too_large) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Request body exceeds the limit of %zu bytes",
                 srv->cfg.max_body);
        reg_http_error(&resp, 413, msg);
        goto send;
    }
    if ((!strcmp(method, "POST") || !strcmp(method, "PUT")) && !content_type_ok(q.content_type)) {
        reg_http_error(&resp, 415, "HTTP 415 Unsupported Media Type");
        goto send;
    }
    /* The bindings archive is not JSON: a client asks for application/gzip. */
    if (route != RT_METRICS && route != RT_HEALTH && route != RT_CANON_BINDINGS) {
        ctype =
            negotiate(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
        if (!ctype) {
            reg_http_error(&resp, 406, "HTTP 406 Not Acceptable");
            goto send;
        }
    } else {
        ctype = "application/json";
    }
    reg_route_ctx ctx = {srv->reg, srv->metrics, &srv->cfg.bindings, &srv->cfg, who};
    reg_route_run(&ctx, route, &q, &resp);
    /* A route can refuse past reg_route_authorize() (a bindings archive's referenced
     * subjects): that is a security event too. */
    if (who && resp.status == 403)
        log_forbidden(q.method, path ? path : url, &resp.body);

send:;
    enum MHD_Result ret = respond(srv, conn, st, method, path ? path : url, route, &resp, ctype);
    reg_auth_free(auth); /* who is not used past here */
    if (pathbuf && pathbuf != stackbuf)
        free(pathbuf);
    for (size_t i = 0; i < qc.n_owned; i++)
        free(owned[i]);
    free(path);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    reg_server *srv = cls;
    (void)conn;
    (void)toe;
    req_state *st = *con_cls;
    if (!st)
        return;
    free(st->body);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* ---- TLS ---- */

/* Reads one PEM file for the server, naming the file and its role in the error. */
static cg_err *tls_read(const char *role, const char *path, char **out)
{
    size_t len = 0;
    cg_err *err = cg_read_file(path, 1024 * 1024, out, &len);
    if (err)
        return cg_err_wrap(err, "TLS %s: ", role);
    return NULL;
}

/* Loads and checks the certificate, key and client CA files here, at start-up, so a bad
 * file is reported by name and reason: libmicrohttpd would only fail to start, saying
 * nothing about which file or why. */
static cg_err *tls_load(reg_server *s)
{
    const reg_server_config *c = &s->cfg;
    cg_err *err = NULL;
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_x509_crt_t *crts = NULL;
    unsigned n_crts = 0;
    gnutls_x509_privkey_t key = NULL;
    int rc;
    if (!c->tls_cert_file && !c->tls_key_file && !c->tls_client_ca_file)
        return NULL;
    if (!c->tls_cert_file || !c->tls_key_file)
        return cg_err_new(CG_EINVAL, "TLS needs both a certificate file and a key file (%s)",
                          c->tls_cert_file  ? "no key file given"
                          : c->tls_key_file ? "no certificate file given"
                                            : "a client CA file alone does not enable TLS");
    if ((err = tls_read("certificate", c->tls_cert_file, &s->tls_cert)) ||
        (err = tls_read("key", c->tls_key_file, &s->tls_key)))
        return err;
    if (c->tls_client_ca_file && (err = tls_read("client CA", c->tls_client_ca_file, &s->tls_ca)))
        return err;
    gnutls_datum_t cd = {(unsigned char *)s->tls_cert, (unsigned)strlen(s->tls_cert)};
    gnutls_datum_t kd = {(unsigned char *)s->tls_key, (unsigned)strlen(s->tls_key)};
    rc = gnutls_x509_crt_list_import2(&crts, &n_crts, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || !n_crts) {
        err = cg_err_new(CG_EINVAL, "TLS certificate '%s': not a PEM certificate: %s",
                         c->tls_cert_file, rc < 0 ? gnutls_strerror(rc) : "none found");
        goto done;
    }
    if ((rc = gnutls_x509_privkey_init(&key)) ||
        (rc = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0))) {
        err = cg_err_new(CG_EINVAL, "TLS key '%s': not an unencrypted PEM private key: %s",
                         c->tls_key_file, gnutls_strerror(rc));
        goto done;
    }
    if ((rc = gnutls_certificate_allocate_credentials(&cred))) {
        err = cg_err_new(CG_ENOMEM, "TLS: %s", gnutls_strerror(rc));
        goto done;
    }
    rc = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        err = cg_err_new(CG_EINVAL, "TLS certificate '%s' and key '%s': %s", c->tls_cert_file,
                         c->tls_key_file, gnutls_strerror(rc));
        goto done;
    }
    if (s->tls_ca) {
        gnutls_datum_t ad = {(unsigned char *)s->tls_ca, (unsigned)strlen(s->tls_ca)};
        rc = gnutls_certificate_set_x509_trust_mem(cred, &ad, GNUTLS_X509_FMT_PEM);
        if (rc <= 0) {
            err = cg_err_new(CG_EINVAL, "TLS client CA '%s': no PEM certificate in it%s%s",
                             c->tls_client_ca_file, rc < 0 ? ": " : "",
                             rc < 0 ? gnutls_strerror(rc) : "");
            goto done;
        }
    }
done:
    for (unsigned i = 0; i < n_crts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    if (key)
        gnutls_x509_privkey_deinit(key);
    if (cred)
        gnutls_certificate_free_credentials(cred);
    return err;
}

/* 1 when the connection's client presented a certificate that verifies against the
 * client CA (libmicrohttpd put it in the session's credentials). Pool thread. */
static int tls_client_verified(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned status = 0;
    if (!ci || !ci->tls_session)
        return 0;
    gnutls_session_t sess = (gnutls_session_t)ci->tls_session;
    return gnutls_certificate_verify_peers2(sess, &status) == 0 && status == 0;
}

cg_err *reg_server_new(const reg_server_config *cfg, reg_server **out)
{
    cg_err *err = NULL;
    reg_server *s = calloc(1, sizeof(*s));
    if (!s)
        return cg_err_new(CG_ENOMEM, "out of memory");
    s->cfg = *cfg;
    pthread_mutex_init(&s->auth_mu, NULL);
    s->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->db_path = strdup(cfg->db_path ? cfg->db_path : "canon.db");
    if (!s->host || !s->db_path) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    s->cfg.host = s->host;
    s->cfg.db_path = s->db_path;
    if (!s->cfg.max_body)
        s->cfg.max_body = REG_DEFAULT_MAX_BODY;
    if (!s->cfg.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->cfg.threads = n > 0 ? (unsigned)n : 1;
    }
    s->metrics = reg_metrics_new(reg_route_names, RT_COUNT);
    if (!s->metrics) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    err = tls_load(s);
    if (err)
        goto done;
    if (cfg->auth_file) {
        s->auth_file = strdup(cfg->auth_file);
        if (!s->auth_file) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
        s->cfg.auth_file = s->auth_file;
        err = reg_auth_load(s->auth_file, &s->auth);
        if (err)
            goto done;
    }
    err = reg_registry_open(s->db_path, &s->reg);
    if (err)
        goto done;
    *out = s;
    s = NULL;
done:
    reg_server_free(s);
    return err;
}

cg_err *reg_server_start(reg_server *s)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)s->cfg.port);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(s->host, portstr, &hints, &ai);
    if (rc || !ai)
        return cg_err_new(CG_EINVAL, "cannot resolve listen address '%s': %s", s->host,
                          gai_strerror(rc));
    if (!s->cfg.quiet) {
        if (log_start(&s->log)) {
            freeaddrinfo(ai);
            return cg_err_new(CG_ENOMEM, "cannot start the access log");
        }
        s->log_on = 1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
                     MHD_USE_ERROR_LOG;
    /* TLS 1.2 and 1.3 only; the options are passed as an array so one call serves both. */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {s->tls_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, s->tls_ca},
        {MHD_OPTION_END, 0, NULL},
    };
    if (s->tls_cert)
        flags |= MHD_USE_TLS;
    else
        tls_opts[0].option = MHD_OPTION_END;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, s->cfg.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->cfg.threads,
        /* libmicrohttpd clears a connection's whole memory pool between keep-alive
         * requests; 16 KiB (half the default) still holds any sane header block, while
         * bodies are streamed to us, so the pool size does not limit them. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)10000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024, MHD_OPTION_UNESCAPE_CALLBACK,
        no_unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        if (s->log_on) {
            log_stop(&s->log);
            s->log_on = 0;
        }
        return cg_err_new(CG_EIO, "cannot listen on %s:%u (address in use or not available)",
                          s->host, (unsigned)s->cfg.port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    return NULL;
}

uint16_t reg_server_port(const reg_server *s)
{
    return s->port;
}

reg_registry *reg_server_registry(reg_server *s)
{
    return s->reg;
}

void reg_server_stop(reg_server *s)
{
    if (!s || !s->daemon)
        return;
    /* Not MHD_quiesce_daemon: with an epoll thread pool, libmicrohttpd 0.9.75 marks the
     * workers quiesced before removing the listen socket from their epoll sets, so a worker
     * that wakes in between removes it first and the quiesce call aborts the process
     * ("Failed to remove listen FD from epoll set"). A flag checked by the handler gives
     * the same effect without that race. */
    atomic_store(&s->stopping, 1);
    /* Let requests already being read or answered finish. */
    for (int i = 0; i < 500 && atomic_load(&s->in_flight) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->log_on) {
        log_stop(&s->log);
        s->log_on = 0;
    }
}

void reg_server_free(reg_server *s)
{
    if (!s)
        return;
    reg_server_stop(s);
    reg_registry_free(s->reg);
    reg_metrics_free(s->metrics);
    reg_auth_free(s->auth);
    free(s->auth_file);
    free(s->internal_key);
    pthread_mutex_destroy(&s->auth_mu);
    free(s->tls_cert);
    if (s->tls_key) /* the private key does not outlive the server in memory */
        explicit_bzero(s->tls_key, strlen(s->tls_key));
    free(s->tls_key);
    free(s->tls_ca);
    free(s->host);
    free(s->db_path);
    free(s);
}

cg_err *reg_server_reload_auth(reg_server *s)
{
    if (!s->auth_file)
        return cg_err_new(CG_ESTATE, "no auth file configured: nothing to reload");
    reg_auth *fresh = NULL;
    cg_err *err = reg_auth_load(s->auth_file, &fresh);
    if (!err && s->internal_key)
        err = reg_auth_add_reader_key(fresh, "canon-internal", s->internal_key);
    if (err) {
        reg_auth_free(fresh);
        return err;
    }
    pthread_mutex_lock(&s->auth_mu);
    reg_auth *old = s->auth;
    s->auth = fresh;
    pthread_mutex_unlock(&s->auth_mu);
    reg_auth_free(old); /* requests still holding it keep it alive */
    return NULL;
}

cg_err *reg_server_internal_key(reg_server *s, char **key)
{
    if (!s->auth_file)
        return cg_err_new(CG_ESTATE, "no auth file configured: no key needed");
    char *k = NULL, *stored = NULL;
    cg_err *err = reg_auth_new_key(&k, &stored);
    if (err)
        return err;
    free(s->internal_key);
    s->internal_key = stored;
    err = reg_server_reload_auth(s); /* the new key joins a fresh copy, swapped in */
    if (err) {
        free(k);
        return err;
    }
    *key = k;
    return NULL;
}

int reg_server_source_allowed(reg_server *s, const char *entity, const char *source, size_t len)
{
    if (!s->auth_file)
        return 1;
    reg_auth *a = auth_acquire(s);
    int ok = reg_auth_domain_may_write(a, source, len, entity);
    reg_auth_free(a);
    return ok;
}
