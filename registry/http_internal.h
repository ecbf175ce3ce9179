/* http_internal.h - what http.c (server, framing, logging) and routes.c (the API's
 * routes) share. Not for other modules. */
#ifndef REG_HTTP_INTERNAL_H
#define REG_HTTP_INTERNAL_H

#include <stddef.h>

#include "../common/err.h"
#include "../common/hex.h"
#include "auth.h"
#include "canon_bindings.h"
#include "http.h"
#include "metrics.h"
#include "registry.h"

/* Route templates, for metrics and logs. */
enum reg_route {
    RT_UNKNOWN,
    RT_ROOT,
    RT_HEALTH,
    RT_METRICS,
    RT_SUBJECTS,
    RT_SUBJECT,
    RT_VERSIONS,
    RT_VERSION,
    RT_VERSION_SCHEMA,
    RT_VERSION_REFERENCEDBY,
    RT_SCHEMAS,
    RT_SCHEMA_ID,
    RT_SCHEMA_ID_SCHEMA,
    RT_SCHEMA_ID_SUBJECTS,
    RT_SCHEMA_ID_VERSIONS,
    RT_SCHEMA_TYPES,
    RT_CONFIG,
    RT_CONFIG_SUBJECT,
    RT_MODE,
    RT_MODE_SUBJECT,
    RT_COMPAT_VERSION,
    RT_COMPAT_VERSIONS,
    RT_CONTEXTS,
    RT_CANON_ENTITIES,
    RT_CANON_ENTITY,
    RT_CANON_BINDINGS, /* canon_bindings.c */
    RT_SUBJECT_METADATA,
    RT_COUNT
};

extern const char *const reg_route_names[RT_COUNT];

#define REG_MAX_META 8 /* metadata key/value pairs a request may give */

/* A request as routes.c sees it: path segments already URL-decoded. */
typedef struct reg_http_req {
    const char *method;
    char **seg;
    size_t nseg;
    reg_opts opts;
    const char *body;
    size_t body_len;
    const char *content_type; /* NULL when absent */
    /* Confluent's pagination of list answers (?offset=, ?limit=): offset 0 and limit <= 0
     * when absent (no limit). bad_paging: a value that is not a 32-bit integer, which
     * Confluent's JAX-RS layer answers with 404. */
    long long offset, limit;
    int bad_paging;
    const char *version; /* ?version= (GET /canon/bindings); NULL when absent */
    /* ?key=&value= of GET /subjects/{s}/metadata, in request order (the i-th key pairs
     * with the i-th value); strings live as long as the request. meta_overflow: more
     * than REG_MAX_META of either. */
    const char *meta_key[REG_MAX_META], *meta_value[REG_MAX_META];
    size_t n_meta_key, n_meta_value;
    int meta_overflow;
} reg_http_req;

typedef enum reg_body_kind {
    RB_JSON,   /* negotiated JSON type */
    RB_TEXT,   /* text/plain (metrics) */
    RB_BINARY, /* content_type below (bindings archives) */
} reg_body_kind;

typedef struct reg_http_resp {
    int status;
    reg_body body; /* owned and handed to libmicrohttpd, unless borrowed */
    int borrowed;  /* body.data lives as long as the registry: sent without a copy */
    reg_body_kind kind;
    const char *content_type; /* RB_BINARY: the Content-Type; static string */
    char *disposition;        /* RB_BINARY: Content-Disposition or NULL; owned */
    int auth_challenge;       /* a 401: send WWW-Authenticate (Basic and Bearer) */
} reg_http_resp;

/* Context the routes need. */
typedef struct reg_route_ctx {
    reg_registry *reg;
    reg_metrics *metrics;
    const reg_bindings_hook *bindings; /* GET /canon/bindings; may be NULL */
    const reg_server_config *server;   /* metrics_extra for GET /metrics; may be NULL */
    /* The authenticated caller (belongs to the server's current reg_auth, held for the
     * request); NULL when access control is off: everything is allowed, nothing filtered. */
    const reg_auth_principal *who;
} reg_route_ctx;

/* Matches the route (sets *route). Returns 1 if the path exists, 0 if not. *methods
 * gets a bit set of the methods the path allows (RM_*). */
enum { RM_GET = 1, RM_POST = 2, RM_PUT = 4, RM_DELETE = 8 };
int reg_route_match(const reg_http_req *q, int *route, unsigned *methods);

/* Splits a raw URL path into percent-decoded segments (empty ones dropped) written into
 * buf (at least strlen(url) + 1 bytes), pointers in seg (max_seg of them): no allocation
 * per segment. Returns -1 when there are more than max_seg segments, or when a segment
 * holds %00 (a decoded NUL would cut it short). */
int reg_route_split_path(const char *url, char *buf, char **seg, size_t max_seg, size_t *nseg);

/* Runs a matched route. On error fills resp with the error status and body. */
void reg_route_run(const reg_route_ctx *ctx, int route, const reg_http_req *q, reg_http_resp *resp);

/* Access control of a matched route for ctx->who (not NULL): NULL when allowed, else
 * an error with code REG_AUTH_E_FORBIDDEN (40301) naming the subject and the permission
 * missing. A body's schema references (register, lookup, compatibility test) need the
 * read permission on their subjects too. Lists are not refused but filtered by
 * reg_route_run(). */
cg_err *reg_route_authorize(const reg_route_ctx *ctx, int route, const reg_http_req *q);

/* NULL when who (not NULL) has perm on subject, else the 40301 error that
 * reg_route_authorize() gives, naming the subject and the permission missing. For a route
 * that reads more subjects than its path names (GET /canon/bindings: the references). */
cg_err *reg_route_need(const reg_auth_principal *who, reg_auth_perm perm, const char *subject);

/* Fills resp with a Confluent-style error {"error_code": code, "message": msg}. */
void reg_http_error(reg_http_resp *resp, int code, const char *msg);
/* The same from an error object; frees e. */
void reg_http_error_from(reg_http_resp *resp, cg_err *e);

/* GET /canon/bindings/{lang} (canon_bindings.c). */
void reg_canon_bindings_route(const reg_route_ctx *ctx, const reg_http_req *q, reg_http_resp *resp);

#endif
