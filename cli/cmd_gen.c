/* cmd_gen.c - `canon gen`: write a C, Python or Java binding for an Avro schema.
 *
 * The schema comes from a file (with its references given as files, like `canon check`)
 * or from a registry (GET /subjects/S/versions/V, references fetched the same way). It
 * is parsed exactly as the registry parses it, then handed to the language's generator
 * (codegen/gen.h), whose files are written under --out only once generation succeeded,
 * so a failure never leaves a half-written binding.
 *
 * The registry client is a few lines of HTTP/1.1 over a socket rather than a library:
 * one GET per schema, on 127.0.0.1 or a LAN, plain HTTP (the registries here serve no
 * TLS), and it keeps the canon binary free of a new dependency.
 *
 * Exit status: 0 written, 1 failure (schema, registry, generator, file system), 2 usage.
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmds.h"
#include "codegen/gen.h"
#include "registry/schema.h"

#define MAX_SCHEMA_BYTES (16u << 20)
#define MAX_REFS         64
#define MAX_RESPONSE     (64u << 20)

static void usage(FILE *out)
{
    fprintf(out, "usage: canon gen --lang c|python|java --out DIR --schema FILE.avsc [options]\n"
                 "       canon gen --lang c|python|java --out DIR --registry URL --subject S\n"
                 "                 [--version V] [options]\n"
                 "\n"
                 "Writes a binding for an Avro schema into DIR: the types, Avro binary encode and\n"
                 "decode, Confluent framing, Avro JSON conversion and, for a canonical entity\n"
                 "(a record with canon.key), the update builder, the envelope decoder and the\n"
                 "Kafka producer/consumer helpers. See docs/bindings.md.\n"
                 "\n"
                 "options:\n"
                 "  --lang L            c, python or java\n"
                 "  --out DIR           output directory (created; files in it are replaced)\n"
                 "  --schema FILE       the schema, from a file ('-' reads stdin)\n"
                 "  -r, --ref FILE      a schema FILE references (repeatable; each may use the\n"
                 "                      ones before it)\n"
                 "  --registry URL      fetch the schema from a registry (http://HOST:PORT)\n"
                 "  --subject S         the subject to fetch (with --registry)\n"
                 "  --version V         the version to fetch: a number or latest (default latest)\n"
                 "  --root-name N       name of the generated type when the root schema is not a\n"
                 "                      named type, e.g. \"int\" or a union (default Root)\n"
                 "  --harness           also write roundtrip.sh, the program the cross-language\n"
                 "                      tests drive (tests/bindings/roundtrip)\n"
                 "  -h, --help          this help\n"
                 "\n"
                 "exit status: 0 written, 1 failure, 2 usage error\n"
                 "\n"
                 "examples:\n"
                 "  canon gen --lang c --schema schemas/person.avsc --out gen/person-c\n"
                 "  canon gen --lang java --registry http://127.0.0.1:8081 \\\n"
                 "            --subject canon.person.entity --out gen/person-java\n");
}

/* Reads a whole file (or stdin for "-") into a new NUL-terminated buffer. */
static cg_err *read_all(const char *path, char **out, size_t *len)
{
    cg_err *err = NULL;
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return cg_err_new(CG_EIO, "cannot read schema file '%s': %s", path, strerror(errno));
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                err = cg_err_new(CG_ENOMEM, "out of memory");
                goto done;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > MAX_SCHEMA_BYTES) {
            err = cg_err_new(CG_EINVAL, "%s: larger than %u bytes", path, MAX_SCHEMA_BYTES);
            goto done;
        }
        if (got == 0) {
            if (ferror(f))
                err = cg_err_new(CG_EIO, "cannot read schema file '%s': %s", path, strerror(errno));
            break;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
done:
    free(buf);
    if (!is_stdin)
        fclose(f);
    return err;
}

/* ---- a minimal HTTP/1.1 GET ------------------------------------------------------ */

typedef struct http_url {
    char host[256];
    char port[8];
    char base[512]; /* path prefix without the trailing '/', "" for none */
} http_url;

static cg_err *parse_url(const char *url, http_url *u)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(url, "http://", 7)) {
        if (!strncmp(url, "https://", 8))
            return cg_err_new(CG_EINVAL, "registry URL '%s': https is not supported, use http",
                              url);
        return cg_err_new(CG_EINVAL, "registry URL '%s' must start with http://", url);
    }
    const char *h = url + 7, *hend;
    const char *path = strchr(h, '/');
    if (!path)
        path = h + strlen(h);
    const char *portp = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(path - h));
        if (!rb)
            return cg_err_new(CG_EINVAL, "registry URL '%s': unclosed '['", url);
        hend = rb;
        h++;
        if (rb[1] == ':')
            portp = rb + 2;
    } else {
        const char *colon = memchr(h, ':', (size_t)(path - h));
        hend = colon ? colon : path;
        if (colon)
            portp = colon + 1;
    }
    size_t hl = (size_t)(hend - h);
    size_t pl = portp ? (size_t)(path - portp) : 0;
    if (hl == 0 || hl >= sizeof(u->host) || (portp && (pl == 0 || pl >= sizeof(u->port))))
        return cg_err_new(CG_EINVAL, "registry URL '%s': bad host or port", url);
    memcpy(u->host, h, hl);
    if (portp)
        memcpy(u->port, portp, pl);
    else
        strcpy(u->port, "80");
    for (const char *c = u->port; *c; c++)
        if (*c < '0' || *c > '9')
            return cg_err_new(CG_EINVAL, "registry URL '%s': bad port", url);
    size_t bl = strlen(path);
    while (bl && path[bl - 1] == '/')
        bl--;
    if (bl >= sizeof(u->base))
        return cg_err_new(CG_EINVAL, "registry URL '%s': path too long", url);
    memcpy(u->base, path, bl);
    return NULL;
}

/* Percent-encodes a path segment (subjects may hold ':' or '/'). */
static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
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
}

/* Decodes a chunked body in place; returns the new length or -1 when malformed. */
static long dechunk(char *b, size_t len)
{
    size_t r = 0, w = 0;
    for (;;) {
        char *end = NULL;
        if (r >= len)
            return -1;
        unsigned long n = strtoul(b + r, &end, 16);
        char *crlf = strstr(b + r, "\r\n");
        if (!crlf || end == b + r)
            return -1;
        r = (size_t)(crlf - b) + 2;
        if (n == 0)
            return (long)w;
        if (n > len - r)
            return -1;
        memmove(b + w, b + r, n);
        w += n;
        r += n + 2;
    }
}

/* 1 when buf holds a whole answer: headers and a body of its Content-Length, or a chunked
 * body up to its last chunk. */
static int answer_complete(char *buf, size_t len)
{
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return 0;
    for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "Content-Length:", 15)) {
            long cl = strtol(line + 17, NULL, 10);
            return cl >= 0 && len - (size_t)(end + 4 - buf) >= (size_t)cl;
        }
        if (!strncasecmp(line + 2, "Transfer-Encoding:", 18)) {
            static const char last[] = "0\r\n\r\n";
            size_t body = len - (size_t)(end + 4 - buf);
            return body >= sizeof(last) - 1 &&
                   !memcmp(buf + len - (sizeof(last) - 1), last, sizeof(last) - 1) &&
                   (body == sizeof(last) - 1 || buf[len - sizeof(last)] == '\n');
        }
    }
    return 0;
}

/* GET url.base + path. On success *status is the HTTP status and *body the body
 * (malloc'ed, NUL-terminated). Connection failures name the registry. */
static cg_err *http_get(const char *url, const char *path, int *status, char **body)
{
    cg_err *err = NULL;
    http_url u;
    struct addrinfo hints = {0}, *ai = NULL;
    int fd = -1;
    char *resp = NULL;
    size_t len = 0, cap = 0;
    char req[4096];

    err = parse_url(url, &u);
    if (err)
        return err;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u.host, u.port, &hints, &ai);
    if (rc)
        return cg_err_new(CG_EIO, "registry %s unreachable: %s", url, gai_strerror(rc));
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        /* A registry that accepts but never answers must not hang the build. */
        struct timeval tv = {30, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        err = cg_err_new(CG_EIO, "registry %s unreachable: %s", url, strerror(errno));
        goto done;
    }
    int n = snprintf(req, sizeof(req),
                     "GET %s%s HTTP/1.1\r\nHost: %s:%s\r\n"
                     "Accept: application/vnd.schemaregistry.v1+json, application/json\r\n"
                     "User-Agent: canon-gen\r\nConnection: close\r\n\r\n",
                     u.base, path, u.host, u.port);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        err = cg_err_new(CG_EINVAL, "request path too long");
        goto done;
    }
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w <= 0) {
            err = cg_err_new(CG_EIO, "registry %s: send failed: %s", url, strerror(errno));
            goto done;
        }
        off += (size_t)w;
    }
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
        ssize_t r = recv(fd, resp + len, cap - len - 1, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            err = cg_err_new(CG_EIO, "registry %s: read failed: %s", url, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > MAX_RESPONSE) {
            err = cg_err_new(CG_EIO, "registry %s: answer larger than %u bytes", url, MAX_RESPONSE);
            goto done;
        }
        if (answer_complete(resp, len))
            break; /* a server that keeps the connection open despite Connection: close */
    }
    if (!resp) {
        err = cg_err_new(CG_EIO, "registry %s closed the connection without answering", url);
        goto done;
    }
    resp[len] = '\0';
    int major, minor, code;
    char *hdr_end = strstr(resp, "\r\n\r\n");
    if (sscanf(resp, "HTTP/%d.%d %d", &major, &minor, &code) != 3 || !hdr_end) {
        err = cg_err_new(CG_EIO, "registry %s: not an HTTP answer", url);
        goto done;
    }
    *hdr_end = '\0';
    char *b = hdr_end + 4;
    size_t blen = len - (size_t)(b - resp);
    int chunked = 0;
    long content_len = -1;
    for (char *line = strstr(resp, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (!strncasecmp(line, "Transfer-Encoding:", 18) && strcasestr(line, "chunked"))
            chunked = 1;
        else if (!strncasecmp(line, "Content-Length:", 15))
            content_len = strtol(line + 15, NULL, 10);
    }
    if (chunked) {
        long nl = dechunk(b, blen);
        if (nl < 0) {
            err = cg_err_new(CG_EIO, "registry %s: malformed chunked answer", url);
            goto done;
        }
        blen = (size_t)nl;
    } else if (content_len >= 0) {
        if ((size_t)content_len > blen) {
            err = cg_err_new(CG_EIO, "registry %s: answer cut short", url);
            goto done;
        }
        blen = (size_t)content_len;
    }
    char *out = malloc(blen + 1);
    if (!out) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(out, b, blen);
    out[blen] = '\0';
    *status = code;
    *body = out;
done:
    if (fd >= 0)
        close(fd);
    if (ai)
        freeaddrinfo(ai);
    free(resp);
    return err;
}

/* ---- schemas from the registry --------------------------------------------------- */

/* What one fetch adds: the parsed schemas in dependency order (references first). */
typedef struct fetched {
    reg_schema *refs[MAX_REFS];
    size_t n_refs;
} fetched;

static cg_err *fetch_version(const char *url, const char *subject, const char *version, fetched *fx,
                             int depth, reg_schema **out, char **text_out, int *version_out)
{
    cg_err *err = NULL;
    char path[2048], subj_enc[1536], ver_enc[64];
    char *body = NULL;
    json_t *doc = NULL;
    int status = 0;
    reg_schema *s = NULL;

    if (depth > 16)
        return cg_err_new(CG_EINVAL, "schema references nested deeper than 16 levels");
    url_encode(subject, subj_enc, sizeof(subj_enc));
    url_encode(version, ver_enc, sizeof(ver_enc));
    snprintf(path, sizeof(path), "/subjects/%s/versions/%s", subj_enc, ver_enc);
    err = http_get(url, path, &status, &body);
    if (err)
        return err;
    json_error_t je;
    doc = json_loads(body, 0, &je);
    if (status != 200) {
        json_t *code = doc ? json_object_get(doc, "error_code") : NULL;
        json_t *msg = doc ? json_object_get(doc, "message") : NULL;
        int c = json_is_integer(code) ? (int)json_integer_value(code) : status;
        err = cg_err_new(c, "registry %s: subject '%s' version %s: %s (error %d)", url, subject,
                         version, json_is_string(msg) ? json_string_value(msg) : "HTTP error", c);
        goto done;
    }
    const char *text = doc ? json_string_value(json_object_get(doc, "schema")) : NULL;
    if (!text) {
        err = cg_err_new(CG_EPARSE, "registry %s: answer for subject '%s' has no schema", url,
                         subject);
        goto done;
    }
    const char *type = json_string_value(json_object_get(doc, "schemaType"));
    if (type && strcmp(type, "AVRO")) {
        err = cg_err_new(CG_EINVALID_SCHEMA, "subject '%s' holds a %s schema, not Avro", subject,
                         type);
        goto done;
    }
    /* References first, in the order given, each parsed with the ones fetched so far. */
    json_t *refs = json_object_get(doc, "references");
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *rs = json_string_value(json_object_get(r, "subject"));
        json_t *rv = json_object_get(r, "version");
        char vbuf[32];
        if (!rs || !json_is_integer(rv)) {
            err = cg_err_new(CG_EPARSE, "subject '%s': malformed reference", subject);
            goto done;
        }
        snprintf(vbuf, sizeof(vbuf), "%lld", (long long)json_integer_value(rv));
        reg_schema *rsch = NULL;
        err = fetch_version(url, rs, vbuf, fx, depth + 1, &rsch, NULL, NULL);
        if (err)
            goto done;
        if (fx->n_refs == MAX_REFS) {
            reg_schema_free(rsch);
            err = cg_err_new(CG_EINVAL, "more than %d schema references", MAX_REFS);
            goto done;
        }
        fx->refs[fx->n_refs++] = rsch;
    }
    err = reg_schema_parse(text, strlen(text), (const reg_schema *const *)fx->refs, fx->n_refs, &s);
    if (err) {
        err = cg_err_wrap(err, "subject '%s' version %s: ", subject, version);
        goto done;
    }
    if (text_out) {
        *text_out = strdup(text);
        if (!*text_out) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (version_out) {
        json_t *v = json_object_get(doc, "version");
        *version_out = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    }
    *out = s;
    s = NULL;
done:
    reg_schema_free(s);
    json_decref(doc);
    free(body);
    return err;
}

/* ---- the command ----------------------------------------------------------------- */

int cmd_gen(int argc, char **argv)
{
    const char *lang_name = NULL, *out_dir = NULL, *schema_path = NULL, *registry = NULL;
    const char *subject = NULL, *version = "latest", *root_name = NULL;
    const char *ref_paths[MAX_REFS];
    size_t n_ref_paths = 0;
    int harness = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--harness")) {
            harness = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "canon gen: unknown option or missing value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--lang"))
            lang_name = val;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o"))
            out_dir = val;
        else if (!strcmp(a, "--schema"))
            schema_path = val;
        else if (!strcmp(a, "--registry"))
            registry = val;
        else if (!strcmp(a, "--subject"))
            subject = val;
        else if (!strcmp(a, "--version"))
            version = val;
        else if (!strcmp(a, "--root-name"))
            root_name = val;
        else if (!strcmp(a, "-r") || !strcmp(a, "--ref")) {
            if (n_ref_paths == MAX_REFS) {
                fprintf(stderr, "canon gen: at most %d --ref\n", MAX_REFS);
                return 2;
            }
            ref_paths[n_ref_paths++] = val;
        } else {
            fprintf(stderr, "canon gen: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }

    gen_lang lang;
    if (!lang_name) {
        fprintf(stderr, "canon gen: --lang is required (c, python or java)\n");
        return 2;
    }
    if (gen_lang_parse(lang_name, &lang)) {
        fprintf(stderr, "canon gen: unknown language '%s' (want c, python or java)\n", lang_name);
        return 2;
    }
    if (!out_dir) {
        fprintf(stderr, "canon gen: --out DIR is required\n");
        return 2;
    }
    if (!!schema_path == !!registry) {
        fprintf(stderr, "canon gen: give either --schema FILE or --registry URL --subject S\n");
        return 2;
    }
    if (registry && !subject) {
        fprintf(stderr, "canon gen: --registry needs --subject\n");
        return 2;
    }
    if (!registry && subject) {
        fprintf(stderr, "canon gen: --subject goes with --registry\n");
        return 2;
    }
    if (registry && n_ref_paths) {
        fprintf(stderr, "canon gen: --ref is for --schema; the registry gives references\n");
        return 2;
    }
    if (root_name && !*root_name) {
        fprintf(stderr, "canon gen: --root-name must not be empty\n");
        return 2;
    }

    cg_err *err = NULL;
    fetched fx = {0};
    reg_schema *s = NULL;
    char *text = NULL, *origin = NULL;
    gen_files *files = NULL;

    if (schema_path) {
        for (size_t i = 0; i < n_ref_paths && !err; i++) {
            char *rt = NULL;
            size_t rl = 0;
            err = read_all(ref_paths[i], &rt, &rl);
            if (!err)
                err = reg_schema_parse(rt, rl, (const reg_schema *const *)fx.refs, fx.n_refs,
                                       &fx.refs[fx.n_refs]);
            free(rt);
            if (err)
                err = cg_err_wrap(err, "reference %s: ", ref_paths[i]);
            else
                fx.n_refs++;
        }
        size_t len = 0;
        if (!err)
            err = read_all(schema_path, &text, &len);
        if (!err) {
            err = reg_schema_parse(text, len, (const reg_schema *const *)fx.refs, fx.n_refs, &s);
            if (err)
                err = cg_err_wrap(err, "invalid schema %s: ", schema_path);
        }
        if (!err)
            origin = strdup(strcmp(schema_path, "-") ? schema_path : "stdin");
    } else {
        int got_version = 0;
        err = fetch_version(registry, subject, version, &fx, 0, &s, &text, &got_version);
        if (!err) {
            size_t n = strlen(registry) + strlen(subject) + 64;
            origin = malloc(n);
            if (origin)
                snprintf(origin, n, "%s subject %s version %d", registry, subject, got_version);
        }
    }
    if (!err && !origin)
        err = cg_err_new(CG_ENOMEM, "out of memory");
    if (err)
        goto done;

    gen_opts o = {0};
    o.root_name = root_name;
    o.origin = origin;
    o.registry_url = registry;
    o.harness = harness;
    files = gen_files_new();
    if (!files) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    err = gen_run(lang, s, text, &o, files);
    if (err) {
        err = cg_err_wrap(err, "%s generator: ", gen_lang_name(lang));
        goto done;
    }
    err = gen_files_write_dir(files, out_dir);
    if (err)
        goto done;
    fprintf(stderr, "canon gen: wrote %zu files for %s to %s\n", gen_files_count(files),
            gen_lang_name(lang), out_dir);
done:
    if (err)
        fprintf(stderr, "canon gen: %s\n", cg_err_msg(err));
    int rc = err ? 1 : 0;
    cg_err_free(err);
    gen_files_free(files);
    reg_schema_free(s);
    for (size_t i = fx.n_refs; i-- > 0;)
        reg_schema_free(fx.refs[i]);
    free(text);
    free(origin);
    return rc;
}
