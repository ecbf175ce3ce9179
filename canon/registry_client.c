/* registry_client.c - HTTP/1.1 (or HTTPS) to the schema registry, with a schema cache.
 *
 * Why not libcurl: the tools make a handful of small requests to a registry on the
 * machine or the network, and a new dependency for that is not worth it; GnuTLS, which
 * the registry already links, gives HTTPS. One connection per request ("Connection:
 * close"), the answer read to EOF or to the end its Content-Length or last chunk marks,
 * both body forms understood. Schemas are cached per id forever: the registry never
 * reuses an id for another schema, so a cached parse is never stale.
 *
 * Credentials (user:password in the URL, or a token) become one Authorization
 * header built at _new; the URL kept for messages has its userinfo removed, so no error,
 * log line or generated file can carry a password. The token and TLS files come from a
 * canon_registry_opts: `canon serve` passes its own, the tools take the environment's.
 */
#define _GNU_SOURCE
#include "registry_client.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../common/pct.h"

/* Schemas are small; a larger answer is not a registry talking. */
#define MAX_RESPONSE (64u * 1024 * 1024)
/* Schema references nest; a chain deeper than this is a cycle or an attack. */
#define MAX_REF_DEPTH 16

typedef struct cached {
    int32_t id;
    reg_schema *schema;
} cached;

struct canon_registry {
    char *url;  /* as given without userinfo and trailing '/': safe to print */
    char *host; /* for connect, the Host header and the certificate's name */
    char *port;
    char *base; /* path prefix, "" for none */
    int timeout_ms;
    char *auth; /* "Authorization: ...\r\n" or "" (holds a secret: never printed) */
    gnutls_certificate_credentials_t tls; /* https only: trust (system + CANON_REGISTRY_CA) */
    cached *cache;                        /* schemas by id (linear: the tools see few ids) */
    size_t n_cache, cap_cache;
    reg_schema **extra; /* referenced schemas, kept alive for the schemas using them */
    size_t n_extra, cap_extra;
};

/* Base64 (RFC 4648, padded) of s into a new string. */
static char *base64(const char *s)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    const unsigned char *u = (const unsigned char *)s;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0) |
                     (i + 2 < n ? u[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* The Authorization header: basic from the URL's userinfo [ui, ui+n) when there is one,
 * else a bearer token (CANON_REGISTRY_TOKEN), else none (""). */
static cg_err *make_auth(const char *shown, const char *token, const char *ui, size_t n, char **out)
{
    char *plain = NULL, *b64 = NULL;
    int rc;
    if (ui) {
        const char *colon = memchr(ui, ':', n);
        char *user = cg_pct_decode(ui, colon ? (size_t)(colon - ui) : n, 0);
        char *pass = colon ? cg_pct_decode(colon + 1, n - (size_t)(colon + 1 - ui), 0) : strdup("");
        if (user && pass && strchr(user, ':')) {
            free(user);
            free(pass);
            return cg_err_new(CG_EINVAL, "registry URL '%s': the user name may not contain ':'",
                              shown);
        }
        if (user && pass && asprintf(&plain, "%s:%s", user, pass) < 0)
            plain = NULL;
        if (pass)
            explicit_bzero(pass, strlen(pass));
        free(user);
        free(pass);
        b64 = plain ? base64(plain) : NULL;
        if (plain)
            explicit_bzero(plain, strlen(plain));
        free(plain);
        rc = b64 ? asprintf(out, "Authorization: Basic %s\r\n", b64) : -1;
        if (b64)
            explicit_bzero(b64, strlen(b64));
        free(b64);
    } else if (token && *token) {
        if (strpbrk(token, "\r\n"))
            return cg_err_new(CG_EINVAL, "CANON_REGISTRY_TOKEN holds a line break");
        rc = asprintf(out, "Authorization: Bearer %s\r\n", token);
    } else {
        *out = strdup("");
        rc = *out ? 0 : -1;
    }
    if (rc < 0) {
        *out = NULL;
        return cg_err_new(CG_ENOMEM, "out of memory");
    }
    return NULL;
}

/* Credentials for https: the system's trusted CAs plus o's CA file (CANON_REGISTRY_CA),
 * and a client certificate (CANON_REGISTRY_CERT / CANON_REGISTRY_KEY) for a registry
 * asking for one (mutual TLS). */
static cg_err *make_tls(const char *shown, const canon_registry_opts *o,
                        gnutls_certificate_credentials_t *out)
{
    gnutls_certificate_credentials_t c = NULL;
    const char *ca = o->ca_file;
    const char *cert = o->cert_file;
    const char *key = o->key_file;
    cg_err *err = NULL;
    int rc = gnutls_certificate_allocate_credentials(&c);
    if (rc < 0)
        return cg_err_new(CG_ENOMEM, "registry %s: TLS: %s", shown, gnutls_strerror(rc));
    /* No system store is not an error: CANON_REGISTRY_CA may be all the trust needed. */
    gnutls_certificate_set_x509_system_trust(c);
    if (ca && *ca) {
        rc = gnutls_certificate_set_x509_trust_file(c, ca, GNUTLS_X509_FMT_PEM);
        if (rc <= 0) {
            err = cg_err_new(CG_EINVAL, "CANON_REGISTRY_CA '%s': %s", ca,
                             rc < 0 ? gnutls_strerror(rc) : "no PEM certificate in it");
            goto done;
        }
    }
    if ((cert && *cert) != (key && *key)) {
        err = cg_err_new(CG_EINVAL, "CANON_REGISTRY_CERT and CANON_REGISTRY_KEY go together "
                                    "(a client certificate needs its key)");
        goto done;
    }
    if (cert && *cert) {
        rc = gnutls_certificate_set_x509_key_file(c, cert, key, GNUTLS_X509_FMT_PEM);
        if (rc < 0) {
            err = cg_err_new(CG_EINVAL, "CANON_REGISTRY_CERT '%s' / CANON_REGISTRY_KEY '%s': %s",
                             cert, key, gnutls_strerror(rc));
            goto done;
        }
    }
    *out = c;
    c = NULL;
done:
    if (c)
        gnutls_certificate_free_credentials(c);
    return err;
}

void canon_registry_opts_from_env(canon_registry_opts *o)
{
    o->token = getenv("CANON_REGISTRY_TOKEN");
    o->ca_file = getenv("CANON_REGISTRY_CA");
    o->cert_file = getenv("CANON_REGISTRY_CERT");
    o->key_file = getenv("CANON_REGISTRY_KEY");
}

cg_err *canon_registry_new(const char *url, int timeout_ms, canon_registry **out)
{
    return canon_registry_new_opts(url, timeout_ms, NULL, out);
}

cg_err *canon_registry_new_opts(const char *url, int timeout_ms, const canon_registry_opts *o,
                                canon_registry **out)
{
    canon_registry_opts env;
    if (!o) {
        canon_registry_opts_from_env(&env);
        o = &env;
    }
    int tls = url && !strncmp(url, "https://", 8);
    if (!url || (strncmp(url, "http://", 7) && !tls))
        return cg_err_new(CG_EINVAL, "registry URL '%s' must start with http:// or https://",
                          url ? url : "(none)");
    const char *auth_start = url + (tls ? 8 : 7);
    const char *slash = strchr(auth_start, '/');
    const char *aend = slash ? slash : auth_start + strlen(auth_start);
    /* userinfo: up to the last '@' of the authority (a password may hold '@' unescaped) */
    const char *at = NULL;
    for (const char *p = auth_start; p < aend; p++)
        if (*p == '@')
            at = p;
    const char *h = at ? at + 1 : auth_start;
    /* The URL without its userinfo, for every message from here on. */
    char *shown = NULL;
    if (asprintf(&shown, "%s%s", tls ? "https://" : "http://", h) < 0)
        return cg_err_new(CG_ENOMEM, "out of memory");
    cg_err *err = NULL;
    canon_registry *r = NULL;
    const char *hend = aend;
    const char *colon = NULL;
    const char *hs = h, *he;
    if (*h == '[') { /* [v6]:port */
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (!rb) {
            err = cg_err_new(CG_EINVAL, "registry URL '%s': unclosed '['", shown);
            goto fail;
        }
        hs = h + 1;
        he = rb;
        if (rb + 1 < hend && rb[1] == ':')
            colon = rb + 1;
    } else {
        colon = memchr(h, ':', (size_t)(hend - h));
        he = colon ? colon : hend;
    }
    if (he == hs) {
        err = cg_err_new(CG_EINVAL, "registry URL '%s': no host", shown);
        goto fail;
    }
    if (colon) {
        if (colon + 1 == hend) {
            err = cg_err_new(CG_EINVAL, "registry URL '%s': empty port", shown);
            goto fail;
        }
        for (const char *p = colon + 1; p < hend; p++)
            if (*p < '0' || *p > '9') {
                err = cg_err_new(CG_EINVAL, "registry URL '%s': bad port", shown);
                goto fail;
            }
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto fail;
    }
    r->url = shown;
    shown = NULL;
    r->host = strndup(hs, (size_t)(he - hs));
    r->port = colon ? strndup(colon + 1, (size_t)(hend - colon - 1)) : strdup(tls ? "443" : "80");
    r->base = strdup(slash ? slash : "");
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    if (!r->url || !r->host || !r->port || !r->base) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto fail;
    }
    size_t scheme_len = tls ? 8 : 7;
    for (size_t n = strlen(r->url); n > scheme_len && r->url[n - 1] == '/'; n--)
        r->url[n - 1] = '\0';
    for (size_t n = strlen(r->base); n && r->base[n - 1] == '/'; n--)
        r->base[n - 1] = '\0';
    if ((err = make_auth(r->url, o->token, at ? auth_start : NULL,
                         at ? (size_t)(at - auth_start) : 0, &r->auth)))
        goto fail;
    if (tls && (err = make_tls(r->url, o, &r->tls)))
        goto fail;
    *out = r;
    return NULL;
fail:
    free(shown);
    canon_registry_free(r);
    return err;
}

void canon_registry_free(canon_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_cache; i++)
        reg_schema_free(r->cache[i].schema);
    /* referenced schemas after their users */
    for (size_t i = r->n_extra; i > 0; i--)
        reg_schema_free(r->extra[i - 1]);
    free(r->cache);
    free(r->extra);
    free(r->url);
    free(r->host);
    free(r->port);
    free(r->base);
    if (r->auth)
        explicit_bzero(r->auth, strlen(r->auth));
    free(r->auth);
    if (r->tls)
        gnutls_certificate_free_credentials(r->tls);
    free(r);
}

const char *canon_registry_url(const canon_registry *r)
{
    return r->url;
}

char *canon_registry_escape(const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    char *out = malloc(3 * strlen(s) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hexd[c >> 4];
            out[o++] = hexd[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- HTTP ------------------------------------------------------------------------- */

static cg_err *connect_to(canon_registry *r, int *out)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(r->host, r->port, &hints, &ai);
    if (rc)
        return cg_err_new(CG_EIO, "registry %s: cannot resolve %s: %s", r->url, r->host,
                          gai_strerror(rc));
    int fd = -1, last_errno = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        /* A registry that accepts but never answers must not hang a tool. */
        struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return cg_err_new(CG_EIO,
                          "registry %s: cannot connect to %s:%s: %s (is the registry running?)",
                          r->url, r->host, r->port, strerror(last_errno));
    *out = fd;
    return NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next recv (plain or under TLS) waits at most ms; -1 when it cannot be set. */
static int set_recv_timeout(int fd, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* One request's connection: the socket, and the TLS session on it for https. */
typedef struct conn {
    int fd;
    gnutls_session_t tls;
} conn;

static void conn_close(conn *c)
{
    if (c->tls)
        gnutls_deinit(c->tls);
    if (c->fd >= 0)
        close(c->fd);
}

/* 1 when host is an IP address literal: those get no SNI (RFC 6066) but are still
 * checked against the certificate's IP subjectAltNames. */
static int is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* TLS handshake on c->fd, checking the certificate chain and that it names r->host. */
static cg_err *tls_start(canon_registry *r, conn *c)
{
    int rc = gnutls_init(&c->tls, GNUTLS_CLIENT);
    if (rc < 0) {
        c->tls = NULL;
        return cg_err_new(CG_ENOMEM, "registry %s: TLS: %s", r->url, gnutls_strerror(rc));
    }
    if ((rc = gnutls_set_default_priority(c->tls)) < 0 ||
        (rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, r->tls)) < 0 ||
        (!is_ip_literal(r->host) &&
         (rc = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, r->host, strlen(r->host))) < 0))
        return cg_err_new(CG_EIO, "registry %s: TLS: %s", r->url, gnutls_strerror(rc));
    gnutls_session_set_verify_cert(c->tls, r->host, 0);
    gnutls_transport_set_int(c->tls, c->fd);
    gnutls_handshake_set_timeout(c->tls, (unsigned)r->timeout_ms);
    do
        rc = gnutls_handshake(c->tls);
    while (rc == GNUTLS_E_INTERRUPTED || rc == GNUTLS_E_WARNING_ALERT_RECEIVED);
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t why = {0};
        unsigned status = gnutls_session_get_verify_cert_status(c->tls);
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
        size_t wl = why.data ? strlen((const char *)why.data) : 0;
        while (wl && why.data[wl - 1] == ' ')
            why.data[--wl] = '\0';
        /* The hint names the fix for the usual cause: an unknown CA, or a name mismatch. */
        cg_err *err = cg_err_new(
            CG_EIO, "registry %s: TLS certificate verification failed: %s (%s%s)", r->url,
            wl ? (const char *)why.data : gnutls_strerror(rc),
            status == (GNUTLS_CERT_INVALID | GNUTLS_CERT_UNEXPECTED_OWNER)
                ? "the certificate does not name the host "
                : "set CANON_REGISTRY_CA to the PEM file of the CA that signed the "
                  "registry's certificate",
            status == (GNUTLS_CERT_INVALID | GNUTLS_CERT_UNEXPECTED_OWNER) ? r->host : "");
        gnutls_free(why.data);
        return err;
    }
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_TIMEDOUT)
        return cg_err_new(CG_EIO, "registry %s: TLS handshake timed out", r->url);
    if (rc < 0)
        return cg_err_new(CG_EIO, "registry %s: TLS handshake failed: %s (does it serve https?)",
                          r->url, gnutls_strerror(rc));
    return NULL;
}

static cg_err *send_all(canon_registry *r, conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = c->tls ? gnutls_record_send(c->tls, p, n) : send(c->fd, p, n, MSG_NOSIGNAL);
        if ((c->tls && w == GNUTLS_E_INTERRUPTED) || (!c->tls && w < 0 && errno == EINTR))
            continue;
        if (w <= 0)
            return cg_err_new(CG_EIO, "registry %s: send failed: %s", r->url,
                              c->tls ? gnutls_strerror((int)w) : strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return NULL;
}

/* Like recv(): >0 bytes, 0 at the end of the stream, -1 with *why set (a static string). */
static ssize_t conn_recv(conn *c, char *buf, size_t n, const char **why)
{
    for (;;) {
        if (!c->tls) {
            ssize_t got = recv(c->fd, buf, n, 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                *why = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno);
            return got;
        }
        ssize_t got = gnutls_record_recv(c->tls, buf, n);
        if (got == GNUTLS_E_INTERRUPTED)
            continue;
        /* A server that closes without close_notify has still sent its whole answer,
         * which the caller checks against Content-Length. */
        if (got == GNUTLS_E_PREMATURE_TERMINATION)
            return 0;
        if (got < 0) {
            *why = got == GNUTLS_E_AGAIN ? "timed out" : gnutls_strerror((int)got);
            return -1;
        }
        return got;
    }
}

/* Decodes a chunked body in place; returns the new length or -1 when malformed. */
static long dechunk(char *b, size_t len)
{
    size_t rd = 0, wr = 0;
    for (;;) {
        size_t line_end = rd;
        while (line_end + 1 < len && !(b[line_end] == '\r' && b[line_end + 1] == '\n'))
            line_end++;
        if (line_end + 1 >= len)
            return -1;
        char *end = NULL;
        unsigned long n = strtoul(b + rd, &end, 16);
        if (end == b + rd)
            return -1;
        rd = line_end + 2;
        if (n == 0)
            return (long)wr;
        if (n > len - rd)
            return -1;
        memmove(b + wr, b + rd, n);
        wr += n;
        rd += n + 2;
    }
}

/* 1 when buf (len bytes, with room for a NUL) holds a whole answer: the headers and a
 * body of its Content-Length, or a chunked body up to its last chunk. Reading to EOF is
 * not enough: proxies and some registries keep the connection open despite
 * "Connection: close", and the client would wait for its timeout. */
static int answer_complete(char *buf, size_t len)
{
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return 0;
    size_t body = len - (size_t)(end + 4 - buf);
    for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "Content-Length:", 15)) {
            long cl = strtol(line + 17, NULL, 10);
            return cl >= 0 && body >= (size_t)cl;
        }
        if (!strncasecmp(line + 2, "Transfer-Encoding:", 18)) {
            static const char last[] = "0\r\n\r\n";
            return body >= sizeof(last) - 1 &&
                   !memcmp(buf + len - (sizeof(last) - 1), last, sizeof(last) - 1) &&
                   (body == sizeof(last) - 1 || buf[len - sizeof(last)] == '\n');
        }
    }
    return 0;
}

cg_err *canon_registry_request(canon_registry *r, const char *method, const char *path,
                               const json_t *body, int *status, json_t **out)
{
    cg_err *err = NULL;
    conn c = {-1, NULL};
    char *payload = NULL, *req = NULL, *resp = NULL;
    size_t len = 0, cap = 0;

    *out = NULL;
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (!payload)
            return cg_err_new(CG_ENOMEM, "out of memory");
    }
    int v6 = strchr(r->host, ':') != NULL; /* an IPv6 literal, its brackets stripped */
    char extra[160] = "";
    if (payload)
        snprintf(extra, sizeof(extra),
                 "Content-Type: application/vnd.schemaregistry.v1+json\r\n"
                 "Content-Length: %zu\r\n",
                 strlen(payload));
    int n = asprintf(&req,
                     "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                     "Accept: application/vnd.schemaregistry.v1+json, application/json\r\n"
                     "User-Agent: canon-tools\r\nConnection: close\r\n%s%s\r\n%s",
                     method, r->base, path, v6 ? "[" : "", r->host, v6 ? "]" : "", r->port, r->auth,
                     extra, payload ? payload : "");
    if (n < 0) {
        req = NULL;
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    err = connect_to(r, &c.fd);
    if (err)
        goto done;
    if (r->tls && (err = tls_start(r, &c)))
        goto done;
    err = send_all(r, &c, req, (size_t)n);
    if (err)
        goto done;
    /* The timeout bounds the whole answer: per recv, a server sending a byte now and then
     * would hold the caller (the aggregator's loop) forever. */
    int64_t deadline = now_ms() + r->timeout_ms;
    for (;;) {
        if (len + 8192 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(resp, cap);
            if (!nb) {
                err = cg_err_new(CG_ENOMEM, "out of memory");
                goto done;
            }
            resp = nb;
        }
        const char *why = "timed out";
        int64_t left = deadline - now_ms();
        ssize_t got = left > 0 && !set_recv_timeout(c.fd, left)
                          ? conn_recv(&c, resp + len, cap - len - 1, &why)
                          : -1;
        if (got < 0) {
            err =
                cg_err_new(CG_EIO, "registry %s: %s %s: no answer: %s", r->url, method, path, why);
            goto done;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len > MAX_RESPONSE) {
            err = cg_err_new(CG_EIO, "registry %s: answer larger than %u bytes", r->url,
                             MAX_RESPONSE);
            goto done;
        }
        if (answer_complete(resp, len))
            break;
    }
    if (!resp || !len) {
        err = cg_err_new(CG_EIO, "registry %s: %s %s: connection closed without an answer", r->url,
                         method, path);
        goto done;
    }
    resp[len] = '\0';
    int major, minor, code;
    char *hdr_end = strstr(resp, "\r\n\r\n");
    if (sscanf(resp, "HTTP/%d.%d %d", &major, &minor, &code) != 3 || !hdr_end) {
        err = cg_err_new(CG_EIO, "registry %s: not an HTTP answer", r->url);
        goto done;
    }
    char *b = hdr_end + 4;
    size_t blen = len - (size_t)(b - resp);
    /* headers: chunked and Content-Length, case-insensitively */
    int chunked = 0;
    long clen = -1;
    for (char *line = strstr(resp, "\r\n") + 2; line < hdr_end;) {
        char *eol = strstr(line, "\r\n");
        if (!strncasecmp(line, "transfer-encoding:", 18) && strcasestr(line, "chunked") &&
            strcasestr(line, "chunked") < eol)
            chunked = 1;
        else if (!strncasecmp(line, "content-length:", 15))
            clen = strtol(line + 15, NULL, 10);
        line = eol + 2;
    }
    if (chunked) {
        long dl = dechunk(b, blen);
        if (dl < 0) {
            err = cg_err_new(CG_EIO, "registry %s: malformed chunked answer", r->url);
            goto done;
        }
        blen = (size_t)dl;
    } else if (clen >= 0 && (size_t)clen < blen) {
        blen = (size_t)clen;
    } else if (clen >= 0 && (size_t)clen > blen) {
        /* A cut answer can still parse (a number, a list cut after an element). */
        err = cg_err_new(CG_EIO, "registry %s: %s %s: answer cut short (%zu of %ld bytes)", r->url,
                         method, path, blen, clen);
        goto done;
    }
    *status = code;
    if (blen)
        *out = json_loadb(b, blen, JSON_DECODE_ANY, NULL);
done:
    conn_close(&c);
    free(payload);
    if (req)
        explicit_bzero(req, (size_t)n); /* holds the Authorization header */
    free(req);
    free(resp);
    return err;
}

/* 1 for an answer about the registry or the client's standing (5xx, 401, 403, 408, 429)
 * rather than about what was asked: retrying later may succeed. */
static int registry_side(int status)
{
    return status >= 500 || status == 401 || status == 403 || status == 408 || status == 429;
}

/* Turns a non-2xx answer into an error. An answer about the request keeps the registry's
 * own code (40403 for an unknown id), which callers act on; a registry-side answer is
 * CG_EIO whatever code its body gives (a 500 carries 50001), because that is what tells
 * the aggregator to stop instead of dead-lettering good updates. */
static cg_err *http_error(canon_registry *r, const char *method, const char *path, int status,
                          const json_t *body)
{
    int body_code = 0;
    const char *msg = "(no message)";
    if (json_is_object(body)) {
        json_t *ec = json_object_get(body, "error_code");
        json_t *m = json_object_get(body, "message");
        if (json_is_integer(ec))
            body_code = (int)json_integer_value(ec);
        if (json_is_string(m))
            msg = json_string_value(m);
    }
    int code = registry_side(status) ? CG_EIO
               : body_code           ? body_code
               : status == 404       ? CG_EHTTP_NOT_FOUND
                                     : CG_EIO;
    return cg_err_new(code, "registry %s: %s %s: %s (HTTP %d, %d)", r->url, method, path, msg,
                      status, body_code ? body_code : code);
}

/* GET path, expecting 200 and a JSON object. */
static cg_err *get_object(canon_registry *r, const char *path, json_t **out)
{
    int status = 0;
    json_t *body = NULL;
    cg_err *err = canon_registry_request(r, "GET", path, NULL, &status, &body);
    if (err)
        return err;
    if (status != 200) {
        err = http_error(r, "GET", path, status, body);
        json_decref(body);
        return err;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        return cg_err_new(CG_EIO, "registry %s: GET %s: answer is not a JSON object", r->url, path);
    }
    *out = body;
    return NULL;
}

/* ---- schemas ------------------------------------------------------------------------ */

static const reg_schema *cache_get(const canon_registry *r, int32_t id)
{
    for (size_t i = 0; i < r->n_cache; i++)
        if (r->cache[i].id == id)
            return r->cache[i].schema;
    return NULL;
}

static int keep_extra(canon_registry *r, reg_schema *s)
{
    if (r->n_extra == r->cap_extra) {
        size_t cap = r->cap_extra ? 2 * r->cap_extra : 8;
        reg_schema **e = realloc(r->extra, cap * sizeof(*e));
        if (!e)
            return -1;
        r->extra = e;
        r->cap_extra = cap;
    }
    r->extra[r->n_extra++] = s;
    return 0;
}

/* Frees the referenced schemas kept since mark, users before what they reference. */
static void drop_extra(canon_registry *r, size_t mark)
{
    while (r->n_extra > mark)
        reg_schema_free(r->extra[--r->n_extra]);
}

/* Parses the "schema" of a registry answer (GET /schemas/ids/N or a subject version),
 * fetching its references first. *out is owned by the caller. */
static cg_err *parse_answer(canon_registry *r, const json_t *ans, const char *what, int depth,
                            reg_schema **out)
{
    if (depth > MAX_REF_DEPTH)
        return cg_err_new(CG_EINVAL, "%s: schema references nest deeper than %d", what,
                          MAX_REF_DEPTH);
    json_t *type = json_object_get(ans, "schemaType");
    if (json_is_string(type) && strcmp(json_string_value(type), "AVRO"))
        return cg_err_new(CG_EINVAL, "%s is a %s schema: only Avro is supported", what,
                          json_string_value(type));
    json_t *text = json_object_get(ans, "schema");
    if (!json_is_string(text))
        return cg_err_new(CG_EIO, "registry %s: %s: answer has no \"schema\"", r->url, what);
    json_t *refs = json_object_get(ans, "references");
    size_t n_refs = json_is_array(refs) ? json_array_size(refs) : 0;
    const reg_schema **parsed = calloc(n_refs ? n_refs : 1, sizeof(*parsed));
    if (!parsed)
        return cg_err_new(CG_ENOMEM, "out of memory");
    cg_err *err = NULL;
    for (size_t i = 0; i < n_refs && !err; i++) {
        json_t *ref = json_array_get(refs, i);
        json_t *subj = json_object_get(ref, "subject");
        json_t *ver = json_object_get(ref, "version");
        if (!json_is_string(subj) || !json_is_integer(ver)) {
            err = cg_err_new(CG_EIO, "registry %s: %s: malformed reference", r->url, what);
            break;
        }
        char *esc = canon_registry_escape(json_string_value(subj));
        char path[1024];
        json_t *rans = NULL;
        if (!esc) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            break;
        }
        snprintf(path, sizeof(path), "/subjects/%s/versions/%lld", esc,
                 (long long)json_integer_value(ver));
        free(esc);
        err = get_object(r, path, &rans);
        if (err)
            break;
        reg_schema *rs = NULL;
        char rwhat[600];
        snprintf(rwhat, sizeof(rwhat), "reference %s version %lld of %s", json_string_value(subj),
                 (long long)json_integer_value(ver), what);
        err = parse_answer(r, rans, rwhat, depth + 1, &rs);
        json_decref(rans);
        if (err)
            break;
        if (keep_extra(r, rs)) {
            reg_schema_free(rs);
            err = cg_err_new(CG_ENOMEM, "out of memory");
            break;
        }
        parsed[i] = rs;
    }
    if (!err) {
        err = reg_schema_parse(json_string_value(text), json_string_length(text),
                               (const reg_schema *const *)parsed, n_refs, out);
        if (err)
            err = cg_err_wrap(err, "%s: ", what);
    }
    free(parsed);
    return err;
}

static cg_err *cache_put(canon_registry *r, int32_t id, reg_schema *s)
{
    if (r->n_cache == r->cap_cache) {
        size_t cap = r->cap_cache ? 2 * r->cap_cache : 16;
        cached *c = realloc(r->cache, cap * sizeof(*c));
        if (!c)
            return cg_err_new(CG_ENOMEM, "out of memory");
        r->cache = c;
        r->cap_cache = cap;
    }
    r->cache[r->n_cache].id = id;
    r->cache[r->n_cache].schema = s;
    r->n_cache++;
    return NULL;
}

/* Caches ans (an answer holding "schema") under id unless already cached. */
static cg_err *cache_answer(canon_registry *r, int32_t id, const json_t *ans,
                            const reg_schema **out)
{
    const reg_schema *hit = cache_get(r, id);
    if (hit) {
        *out = hit;
        return NULL;
    }
    char what[64];
    snprintf(what, sizeof(what), "schema id %d", (int)id);
    reg_schema *s = NULL;
    size_t mark = r->n_extra;
    cg_err *err = parse_answer(r, ans, what, 0, &s);
    if (!err && (err = cache_put(r, id, s)))
        reg_schema_free(s);
    if (err) {
        drop_extra(r, mark); /* else each retry of a broken schema keeps its references */
        return err;
    }
    *out = s;
    return NULL;
}

cg_err *canon_registry_schema(canon_registry *r, int32_t id, const reg_schema **out)
{
    const reg_schema *hit = cache_get(r, id);
    if (hit) {
        *out = hit;
        return NULL;
    }
    char path[64];
    snprintf(path, sizeof(path), "/schemas/ids/%d", (int)id);
    json_t *ans = NULL;
    cg_err *err = get_object(r, path, &ans);
    if (err)
        return err;
    err = cache_answer(r, id, ans, out);
    json_decref(ans);
    return err;
}

cg_err *canon_registry_latest(canon_registry *r, const char *subject, int32_t *id, int32_t *version,
                              const reg_schema **schema)
{
    char *esc = canon_registry_escape(subject);
    if (!esc)
        return cg_err_new(CG_ENOMEM, "out of memory");
    char *path = NULL;
    if (asprintf(&path, "/subjects/%s/versions/latest", esc) < 0)
        path = NULL;
    free(esc);
    if (!path)
        return cg_err_new(CG_ENOMEM, "out of memory");
    json_t *ans = NULL;
    cg_err *err = get_object(r, path, &ans);
    free(path);
    if (err)
        return err;
    json_t *jid = json_object_get(ans, "id");
    json_t *jver = json_object_get(ans, "version");
    if (!json_is_integer(jid) || !json_is_integer(jver)) {
        err = cg_err_new(CG_EIO, "registry %s: latest version of '%s' has no id or version", r->url,
                         subject);
        goto done;
    }
    if (schema) {
        err = cache_answer(r, (int32_t)json_integer_value(jid), ans, schema);
        if (err)
            goto done;
    }
    if (id)
        *id = (int32_t)json_integer_value(jid);
    if (version)
        *version = (int32_t)json_integer_value(jver);
done:
    json_decref(ans);
    return err;
}

cg_err *canon_registry_lookup(canon_registry *r, const char *subject, const char *schema_text,
                              int32_t *id, int32_t *version)
{
    char *esc = canon_registry_escape(subject);
    if (!esc)
        return cg_err_new(CG_ENOMEM, "out of memory");
    char *path = NULL;
    if (asprintf(&path, "/subjects/%s", esc) < 0)
        path = NULL;
    free(esc);
    json_t *body = json_pack("{s:s}", "schema", schema_text);
    cg_err *err = NULL;
    json_t *ans = NULL;
    int status = 0;
    if (!path || !body) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    err = canon_registry_request(r, "POST", path, body, &status, &ans);
    if (err)
        goto done;
    if (status != 200) {
        err = http_error(r, "POST", path, status, ans);
        goto done;
    }
    json_t *jid = json_object_get(ans, "id");
    json_t *jver = json_object_get(ans, "version");
    if (!json_is_integer(jid)) {
        err = cg_err_new(CG_EIO, "registry %s: POST %s: answer has no id", r->url, path);
        goto done;
    }
    if (id)
        *id = (int32_t)json_integer_value(jid);
    if (version)
        *version = json_is_integer(jver) ? (int32_t)json_integer_value(jver) : 0;
done:
    json_decref(ans);
    json_decref(body);
    free(path);
    return err;
}
